/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lease operations: try-acquire, renew, resign, is-leader.
 *
 * The whole decision is one 128-bit word per election (see layout.h):
 *
 *   lo = term << 12 | (holder slot + 1)      hi = expiry (host monotonic ns)
 *
 * and every operation that changes leadership or extends it is a single
 * CAS of that word.  The argument, in short (shmelect(7), PROTOCOL):
 *
 * - No overlap (invariant 1).  A candidate takes the lease from another
 *   only after reading a clock value t >= hi, and then CASes.  The holder
 *   reports leadership only for a clock value read after a load that still
 *   showed its term, and only if that value is < hi.  The taker's CAS comes
 *   after its clock read (the CAS's operands depend on it), and a renew
 *   that extends hi is itself a CAS on the same word, so "holder renewed"
 *   and "taker took over" are totally ordered: the loser's CAS fails.
 *   Hence every clock value at which the old term reported leadership is
 *   below every clock value at which the new term exists.
 *
 * - No ABA.  lo never takes the same value twice: the term only grows, and
 *   within a term the holder goes from a slot to vacant once.  hi changes
 *   within a term only by the holder's own renew.  So a CAS prepared before
 *   a pause fails if anything happened in the meantime.
 *
 * - No wrap.  The term saturates: at LEASE_TERM_MAX acquisition fails with
 *   -EOVERFLOW.  2^52 terms at 2*10^7 per second is over 7 years of
 *   back-to-back takeovers.
 *
 * - Tokens (invariant 2) are token_base + term, so they follow CAS order.
 *
 * - Nothing to wedge (invariant 4).  There is no lock and no in-progress
 *   state: a process stopped or killed between any two instructions has
 *   either done its CAS or not.  A dead or paused holder delays the others
 *   until its lease expires, at most one lease duration.
 */
#define _GNU_SOURCE
#include <unistd.h>

#include "internal.h"

static inline int cand_usable(const struct shmelect_candidate *c)
{
	if (_unlikely_(!c))
		return -EINVAL;
	/* a forked child's copy of its parent's handle (see util.c) */
	if (_unlikely_(c->incarnation != process_incarnation()))
		return -ESTALE;
	return 0;
}

static inline uint32_t cand_holder(const struct shmelect_candidate *c)
{
	return c->index + 1;
}

static inline uint64_t cand_lo(const struct shmelect_candidate *c)
{
	return lease_lo(c->term, cand_holder(c));
}

/* Our membership was taken away (only if we were judged dead). */
static inline bool cand_evicted(const struct shmelect_candidate *c)
{
	return __atomic_load_n(&c->slot->owner, __ATOMIC_ACQUIRE) != c->owner;
}

_public_ int shmelect_candidate_try_acquire(struct shmelect_candidate *c, uint64_t *ret_token)
{
	struct shm_election *rec;
	int r;

	r = cand_usable(c);
	if (r < 0)
		return r;
	if (cand_evicted(c))
		return -EIDRM;
	rec = c->election->rec;

	for (;;) {
		struct lease l = lease_read(&rec->lease), n;
		uint64_t now = clock_host_ns();
		uint32_t holder = lease_holder(l.lo);
		uint64_t term = lease_term(l.lo);

		if (holder > c->election->seg->max_candidates)
			return -EBADMSG;

		if (holder == cand_holder(c) && term != 0) {
			/* Ours: our own term, or one handed to us by a transfer
			 * (shmelect_election_handover).  A term we did not make
			 * is ours only if the slot's handoff word names it and
			 * our generation: a transfer that loaded the owner word
			 * of this slot's previous member and landed after we
			 * claimed it names our slot too (it ends that term
			 * itself once it sees us; we end it first, without
			 * lock-delay: nobody led it).  Whoever frees a slot
			 * ends every term naming it first (reap, leave,
			 * reboot), and cand_evicted() above checked the slot
			 * is still ours.  Valid: a renew.  Expired but nobody
			 * took it: continue the same term (same token), as
			 * client-go does when the holder identity is
			 * unchanged. */
			if (term != c->term && !handoff_is(c->slot, term, slot_gen(c->owner))) {
				if (lease_break(c->election, l.lo, false) < 0)
					return -EBADMSG;
				continue;
			}
			n.lo = l.lo;
			n.hi = now + c->lease_ns;
			if (n.hi <= l.hi && now < l.hi && term == c->term) {
				/* nothing to extend; as in is_leader, make sure
				 * the term did not end before our clock read */
				if (load_after(&rec->lease.lo, now) != l.lo)
					continue;
				goto held;
			}
			/* full barrier; orders against a concurrent taker's CAS */
			if (!lease_cas(&rec->lease, l, n))
				continue;
			if (term != c->term) {
				/* adopted a transfer: record when it became ours */
				__atomic_store_n(&c->slot->acquire_ns, now, __ATOMIC_RELAXED);
				__atomic_store_n(&c->slot->acquire_term, term, __ATOMIC_RELEASE);
				__atomic_store_n(&c->term, term, __ATOMIC_RELAXED);
			}
			goto held;
		}
		if (holder != 0) {
			/* Held by another: takeable once expired, plus the
			 * holder's lock-delay (an expiry is an unclean loss).
			 * lo names its slot, so the slot is not reused yet. */
			uint64_t delay = __atomic_load_n(&election_slot(rec, holder - 1)->lock_delay_ns,
							 __ATOMIC_RELAXED);
			if (now < l.hi || now - l.hi < delay)
				return 0;
		} else if (now < l.hi) {
			return 0; /* vacant, but locked until hi after an unclean loss */
		}

		/* Vacant, or expired: take it, starting a new term. */
		if (term >= LEASE_TERM_MAX)
			return -EOVERFLOW;
		/* Published by the CAS below (a full barrier): whoever sees
		 * the new lo also sees our acquire time.  Only we write our
		 * slot, and lo does not name it, so no reader is using it. */
		__atomic_store_n(&c->slot->acquire_ns, now, __ATOMIC_RELAXED);
		__atomic_store_n(&c->slot->acquire_term, term + 1, __ATOMIC_RELAXED);
		n.lo = lease_lo(term + 1, cand_holder(c));
		n.hi = now + c->lease_ns;
		if (!lease_cas(&rec->lease, l, n))
			continue; /* someone else moved first: decide again */
		__atomic_store_n(&c->term, term + 1, __ATOMIC_RELAXED);
		election_bump(c->election);
	held:
		if (ret_token)
			*ret_token = c->election->token_base + c->term;
		return 1;
	}
}

_public_ int shmelect_candidate_renew(struct shmelect_candidate *c)
{
	struct lease *lease;
	int r;

	r = cand_usable(c);
	if (r < 0)
		return r;
	if (c->term == 0)
		return 0;
	lease = c->lease;
	for (;;) {
		struct lease l = lease_read(lease), n;
		uint64_t now = clock_host_ns();

		if (l.lo != cand_lo(c) || now >= l.hi)
			return 0; /* lost, or expired: renew never revives */
		n.lo = l.lo;
		n.hi = now + c->lease_ns;
		if (n.hi <= l.hi)
			return load_after(&lease->lo, now) == l.lo; /* as in is_leader */
		/* The same word a taker CASes: if it took over after our
		 * load, this fails and the next round sees lo changed. */
		if (lease_cas(lease, l, n))
			return 1;
	}
}

_public_ int shmelect_candidate_resign(struct shmelect_candidate *c)
{
	struct shm_election *rec;
	int r;

	r = cand_usable(c);
	if (r < 0)
		return r;
	if (c->term == 0)
		return 0;
	rec = c->election->rec;
	for (;;) {
		struct lease l = lease_read(&rec->lease);

		if (l.lo != cand_lo(c))
			return 0;
		/* Vacant at once, same term: the next acquirer starts term+1.
		 * hi records when it was released. */
		struct lease v = { lease_lo(c->term, 0), clock_host_ns() };
		if (lease_cas(&rec->lease, l, v)) {
			election_bump(c->election);
			return 1;
		}
	}
}

/*
 * is_leader and leadership: the hot path, inlined into both public
 * functions (a call from one public function to another would go through
 * the PLT).  No retry loop, no system call.
 *
 * Loads, in order: lo (acquire), hi (acquire), the clock, lo again.
 *  - The acquire on hi orders the second lo load after it, so if both lo
 *    loads agree, hi was written in this (term, holder): lo never returns
 *    to an old value (see PROTOCOL in shmelect(7)).  This is lease_read()'s
 *    argument with its second lo load moved after the clock.
 *  - The clock is read after the first lo load (the vDSO's rdtsc_ordered
 *    on x86-64; on arm64 the acquire orders the vDSO's seqcount loads
 *    after it, and the vDSO branches on those before isb + cntvct), and lo
 *    is loaded again after the clock read has completed (load_after: a
 *    data dependency).  hi needs no order against the clock: it only has
 *    to sit between the two lo loads, so that n < h <= the term's last
 *    expiry.  An unchanged lo means no CAS ended our term before that
 *    load, so none ended it before the clock value we read: an early end
 *    (resign from another thread, evict, transfer) or a takeover at expiry
 *    (which needs a clock value >= hi > now) can only start the next term
 *    at a later clock value.
 * A renew keeps lo and only moves hi; anything that changes lo ends our
 * term, so a changed lo is a plain "not leader", never a reason to retry.
 */
static inline __attribute__((always_inline)) int
cand_leadership(struct shmelect_candidate *c, uint64_t *ret_token, uint64_t *ret_expiry_ns)
{
	const struct lease *lease;
	uint64_t now, term, lo, hi;

	if (_unlikely_(!c))
		return -EINVAL;
	/* any thread may ask while another runs the elector: term is the
	 * only field that changes, and a stale value just fails the match */
	term = __atomic_load_n(&c->term, __ATOMIC_RELAXED);
	if (_unlikely_(c->incarnation != process_incarnation() || term == 0))
		return 0;
	lease = c->lease;
	lo = __atomic_load_n(&lease->lo, __ATOMIC_ACQUIRE);
	if (lo != lease_lo(term, cand_holder(c)))
		return 0;
	hi = __atomic_load_n(&lease->hi, __ATOMIC_ACQUIRE);
	now = clock_host_ns();
	if (now >= hi || load_after(&lease->lo, now) != lo)
		return 0;
	if (ret_token)
		*ret_token = c->election->token_base + term;
	if (ret_expiry_ns)
		*ret_expiry_ns = hi;
	return 1;
}

_public_ int shmelect_candidate_leadership(struct shmelect_candidate *c, uint64_t *ret_token,
					   uint64_t *ret_expiry_ns)
{
	return cand_leadership(c, ret_token, ret_expiry_ns);
}

_public_ int shmelect_candidate_is_leader(struct shmelect_candidate *c)
{
	return cand_leadership(c, NULL, NULL);
}

/*
 * End our own term, leaving the lease vacant and locked until `locked_until`
 * (resign is the same with "now": not locked).  Used for an unclean
 * step-down (lock-delay) and for keeping a lease's protection on a graceful
 * stop that does not release it (SHMELECT_ELECTOR_NO_RELEASE).
 */
int candidate_release(struct shmelect_candidate *c, uint64_t locked_until)
{
	struct shm_election *rec = c->election->rec;
	uint64_t term = __atomic_load_n(&c->term, __ATOMIC_RELAXED);

	if (term == 0)
		return 0;
	for (;;) {
		struct lease l = lease_read(&rec->lease);
		uint64_t now = clock_host_ns();

		if (l.lo != cand_lo(c))
			return 0;
		struct lease v = { lease_lo(term, 0), locked_until > now ? locked_until : now };
		if (lease_cas(&rec->lease, l, v)) {
			election_bump(c->election);
			return 1;
		}
	}
}
