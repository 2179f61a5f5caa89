/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Elections: find or create a named record, observe it, evict its holder.
 *
 * Records are found by open addressing: the name's hash picks the first
 * record to probe, and probing stops at the first FREE record.  Records are
 * never deleted (only a whole segment is), so a name that is absent from
 * the probe sequence up to the first FREE record is absent everywhere.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* How long to wait for a live process that is creating a record with the
 * same name hash, before giving up with -EAGAIN. */
#define CREATE_WAIT_NS  (UINT64_C(2) * 1000000000)

static uint64_t claim_word(uint32_t hash, uint64_t pidns, uint32_t pid, unsigned state)
{
	return ((uint64_t)hash & CLAIM_FIELD_MASK) << CLAIM_HASH_SHIFT |
	       (pidns & CLAIM_FIELD_MASK) << CLAIM_PIDNS_SHIFT |
	       ((uint64_t)pid & SLOT_PID_MASK) << SLOT_PID_SHIFT | state;
}

static uint32_t claim_hash(uint64_t w)
{
	return (uint32_t)((w >> CLAIM_HASH_SHIFT) & CLAIM_FIELD_MASK);
}

static uint64_t my_pidns(void)
{
	uint64_t ns = 0;

	self_pidns(&ns);
	return ns;
}

static void futex_wake_all(uint32_t *word)
{
	/* not FUTEX_PRIVATE: the word is shared between processes */
	syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * Announce a change that waiters may care about (a lease became vacant or
 * changed hands, a member joined or left).
 *
 * Ordering: the seq_cst increment of `change` and the seq_cst load of
 * `waiters` pair with a waiter's seq_cst increment of `waiters` followed by
 * its load of `change` (Dekker): either we see its waiters count and wake
 * it, or it sees the new `change` value and does not sleep.  With nobody
 * waiting this is two atomic operations and no system call.
 */
void segment_bump(struct shmelect_segment *seg)
{
	struct shm_header *h = seg->hdr;

	__atomic_fetch_add(&h->change, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&h->waiters, __ATOMIC_SEQ_CST))
		futex_wake_all(&h->change);
}

void election_bump(struct shmelect_election *e)
{
	__atomic_fetch_add(&e->rec->change, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&e->rec->waiters, __ATOMIC_SEQ_CST))
		futex_wake_all(&e->rec->change);
	segment_bump(e->seg);
}

_public_ int shmelect_segment_wake(struct shmelect_segment *seg)
{
	if (!seg)
		return -EINVAL;
	if (seg->readonly)
		return -EROFS;
	segment_bump(seg);
	return 0;
}

static int election_new(struct shmelect_segment *seg, uint32_t index, const char *name,
			struct shmelect_election **ret)
{
	struct shmelect_election *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->seg = seg;
	e->rec = seg_election(seg->base, seg->election_size, index);
	e->index = index;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->token_base = __atomic_load_n(&e->rec->token_base, __ATOMIC_RELAXED);
	if (e->token_base == 0 || e->token_base > TOKEN_BASE_MAX) {
		free(e);
		return -EBADMSG; /* tokens from this record could wrap */
	}
	segment_ref(seg);
	*ret = e;
	return 0;
}

/* A private copy for a candidate, so it outlives the caller's handle. */
int election_dup(struct shmelect_election *e, struct shmelect_election **ret)
{
	return election_new(e->seg, e->index, e->name, ret);
}

static bool creator_dead(uint64_t claim)
{
	pid_t pid = (pid_t)slot_pid(claim);

	/* Only a creator in our PID namespace whose pid provably does not
	 * exist counts as dead; a live or foreign creator is waited for. */
	if (((claim >> CLAIM_PIDNS_SHIFT) & CLAIM_FIELD_MASK) != (my_pidns() & CLAIM_FIELD_MASK))
		return false;
	return pid == 0 || (kill(pid, 0) < 0 && errno == ESRCH);
}

/* Fill a record we hold in CLAIMING state, then publish it READY. */
static void election_fill(struct shmelect_segment *seg, struct shm_election *rec,
			  const char *name, uint64_t claimed)
{
	uint64_t base = clock_realtime_ns();
	uint64_t floor = __atomic_load_n(&seg->hdr->token_floor, __ATOMIC_RELAXED);

	if (base <= floor)
		base = floor + 1;
	if (base > TOKEN_BASE_MAX)
		base = TOKEN_BASE_MAX; /* a hostile floor; the open that follows refuses nothing */
	memset(rec->name, 0, sizeof(rec->name));
	strncpy(rec->name, name, SHMELECT_NAME_MAX);
	rec->token_base = base;
	rec->created_ns = clock_host_ns();
	rec->fence = 0;
	rec->handover = 0;
	/* release: the name and token base are visible to anyone who sees
	 * READY.  A CAS (not a store): if a waiter decided we were dead and
	 * took the claim over, our late writes were identical in kind and it
	 * rewrites them before its own publication. */
	uint64_t ready = claim_word(name_hash(name), 0, 0, SLOT_ACTIVE);
	if (__atomic_compare_exchange_n(&rec->claim, &claimed, ready, false,
					__ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
		__atomic_fetch_add(&seg->hdr->n_elections, 1, __ATOMIC_RELAXED);
		segment_bump(seg); /* a new election is a change watchers see */
	}
}

_public_ int shmelect_election_open(struct shmelect_segment *seg, const char *name,
				    unsigned flags, struct shmelect_election **ret)
{
	uint32_t hash, start, max;
	bool create = flags & SHMELECT_ELECTION_CREATE;
	uint64_t deadline = 0;
	int r;

	if (!seg || !ret || (flags & ~(unsigned)SHMELECT_ELECTION_CREATE))
		return -EINVAL;
	r = check_name(name, SHMELECT_NAME_MAX);
	if (r < 0)
		return r;
	if (create && seg->readonly)
		return -EROFS;

	hash = name_hash(name);
	max = seg->max_elections;
	start = hash % max;
	for (uint32_t probe = 0; probe < max; probe++) {
		uint32_t idx = (start + probe) % max;
		struct shm_election *rec = seg_election(seg->base, seg->election_size, idx);

		for (;;) {
			uint64_t w = __atomic_load_n(&rec->claim, __ATOMIC_ACQUIRE);
			unsigned st = slot_state(w);

			if (st == SLOT_ACTIVE) {
				char have[SHMELECT_NAME_MAX + 1];
				copy_bounded(have, rec->name, sizeof(have));
				if (!strcmp(have, name))
					return election_new(seg, idx, name, ret);
				break; /* another name: next record */
			}
			if (st == SLOT_FREE) {
				if (!create)
					return -ENOENT;
				uint64_t mine = claim_word(hash, my_pidns(), (uint32_t)getpid(), SLOT_CLAIMING);
				/* acquire: pairs with the release that freed it */
				if (!__atomic_compare_exchange_n(&rec->claim, &w, mine, false,
								 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
					continue; /* someone else claimed it: look again */
				election_fill(seg, rec, name, mine);
				continue; /* re-read: now READY with our name */
			}
			if (st == CLAIM_TOMBSTONE)
				break; /* skip, as another name */
			/* Being created.  A different hash is a different name:
			 * skip it.  The same hash: wait for it to be READY. */
			if (claim_hash(w) != (hash & CLAIM_FIELD_MASK))
				break;
			if (creator_dead(w) && create) {
				uint64_t mine = claim_word(hash, my_pidns(), (uint32_t)getpid(), SLOT_CLAIMING);
				if (__atomic_compare_exchange_n(&rec->claim, &w, mine, false,
								__ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
					/* the dead creator's name is unknown;
					 * its hash equals ours, and we finish
					 * the record with our name only if the
					 * claim is now ours */
					election_fill(seg, rec, name, mine);
				}
				continue;
			}
			uint64_t now = clock_host_ns();
			if (!deadline)
				deadline = now + CREATE_WAIT_NS;
			else if (now > deadline)
				return -EAGAIN;
			struct timespec ts = { 0, 50000 };
			nanosleep(&ts, NULL);
		}
	}
	return create ? -ENOSPC : -ENOENT;
}

_public_ struct shmelect_election *shmelect_election_close(struct shmelect_election *e)
{
	if (!e)
		return NULL;
	segment_unref(e->seg);
	free(e);
	return NULL;
}

_public_ const char *shmelect_election_name(const struct shmelect_election *e)
{
	return e ? e->name : NULL;
}

static void member_fill(struct shmelect_member *m, const struct shm_slot *slot, uint32_t i,
			uint32_t holder)
{
	memset(m, 0, sizeof(*m));
	copy_bounded(m->identity, slot->identity, sizeof(m->identity));
	m->pid = (pid_t)__atomic_load_n(&slot->pid, __ATOMIC_RELAXED);
	m->slot = i;
	m->lease_ns = __atomic_load_n(&slot->lease_ns, __ATOMIC_RELAXED);
	m->joined_ns = __atomic_load_n(&slot->joined_ns, __ATOMIC_RELAXED);
	m->priority = __atomic_load_n(&slot->priority, __ATOMIC_RELAXED);
	m->is_holder = holder == i + 1;
	m->start_time = __atomic_load_n(&slot->start_time, __ATOMIC_RELAXED);
	m->pidns = __atomic_load_n(&slot->pidns, __ATOMIC_RELAXED);
}

/*
 * A consistent snapshot from a possibly read-only mapping (invariant 7):
 * read members_seq and the lease, then everything else, then check that
 * neither the lease's lo nor members_seq moved; otherwise retry.  The lease
 * holder's slot cannot be freed or reused while lo still names it, because
 * a reaper breaks the lease (changing lo) before freeing the slot.
 */
_public_ int shmelect_election_observe(struct shmelect_election *e, struct shmelect_record *ret,
				       struct shmelect_member *members, size_t n)
{
	struct shmelect_segment *seg;
	struct shm_election *rec;

	if (!e || !ret || (n && !members))
		return -EINVAL;
	seg = e->seg;
	rec = e->rec;

	for (int attempt = 0; attempt < 10000; attempt++) {
		struct shmelect_record r = { 0 };
		uint64_t ms1, ms2, lo2;
		uint32_t count = 0, holder;
		struct lease l;

		ms1 = __atomic_load_n(&rec->members_seq, __ATOMIC_ACQUIRE);
		l = lease_read(&rec->lease);
		r.observed_ns = clock_host_ns();
		holder = lease_holder(l.lo);
		if (holder > seg->max_candidates)
			return -EBADMSG;
		if (seg->stale_boot)
			holder = 0; /* leases of an earlier boot are void */

		snprintf(r.election, sizeof(r.election), "%s", e->name);
		r.term = lease_term(l.lo);
		r.transitions = r.term;
		r.token = r.term ? e->token_base + r.term : 0;
		if (holder) {
			const struct shm_slot *slot = election_slot(rec, holder - 1);
			r.has_holder = 1;
			r.holder_slot = holder - 1;
			copy_bounded(r.holder, slot->identity, sizeof(r.holder));
			r.holder_pid = (pid_t)__atomic_load_n(&slot->pid, __ATOMIC_RELAXED);
			r.lease_ns = __atomic_load_n(&slot->lease_ns, __ATOMIC_RELAXED);
			r.expiry_ns = l.hi;
			r.renew_ns = l.hi > r.lease_ns ? l.hi - r.lease_ns : 0;
			/* a transferred term not yet adopted has no acquire time
			 * of its own yet: it began at its first expiry - lease */
			if (__atomic_load_n(&slot->acquire_term, __ATOMIC_ACQUIRE) == r.term)
				r.acquire_ns = __atomic_load_n(&slot->acquire_ns, __ATOMIC_RELAXED);
			else
				r.acquire_ns = r.renew_ns;
			advert_read(slot, r.advert, sizeof(r.advert));
			r.expired = r.observed_ns >= l.hi;
		} else if (l.hi > r.observed_ns) {
			r.locked_until_ns = l.hi; /* vacant, in its lock-delay */
		} else {
			r.renew_ns = l.hi; /* when it was released */
		}
		for (uint32_t i = 0; i < seg->max_candidates; i++) {
			const struct shm_slot *slot = election_slot(rec, i);
			uint64_t w = __atomic_load_n(&slot->owner, __ATOMIC_ACQUIRE);

			if (slot_state(w) != SLOT_ACTIVE || seg->stale_boot)
				continue;
			if (count < n) {
				member_fill(&members[count], slot, i, holder);
				/* the same member throughout the copy? (a slot
				 * freed and re-claimed meanwhile changes the
				 * word: generations never repeat) */
				__atomic_thread_fence(__ATOMIC_ACQUIRE);
				if (__atomic_load_n(&slot->owner, __ATOMIC_RELAXED) != w) {
					count = UINT32_MAX;
					break;
				}
			}
			count++;
		}
		if (count == UINT32_MAX)
			continue; /* a member changed under us: again */
		r.n_members = count;

		/* order the loads above before the validating loads */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		lo2 = __atomic_load_n(&rec->lease.lo, __ATOMIC_ACQUIRE);
		ms2 = __atomic_load_n(&rec->members_seq, __ATOMIC_ACQUIRE);
		if (lo2 == l.lo && ms1 == ms2) {
			*ret = r;
			return (int)count;
		}
	}
	return -EAGAIN;
}

/*
 * End the current term without a successor: CAS (term, holder, E) ->
 * (term, vacant, now + delay).  A vacant lease whose hi lies in the future
 * is locked until then: that is how the lock-delay after an unclean loss is
 * carried, in the same CAS.  lock_delay: the holder's lock-delay applies
 * (reap, death, evict: its holder may still think it leads); without, the
 * lease is free at once (a term nobody adopted: lease_transfer's undo,
 * slot_free_recheck, a handoff meant for another member).  With lo_expected
 * != 0 only that exact term/holder is broken (a death we saw belongs to
 * it); with 0 whatever holder there is.  Returns 1 if broken.
 */
int lease_break(struct shmelect_election *e, uint64_t lo_expected, bool lock_delay)
{
	for (;;) {
		struct lease l = lease_read(&e->rec->lease);
		uint32_t holder = lease_holder(l.lo);
		uint64_t delay = 0;

		if (holder == 0 || (lo_expected && l.lo != lo_expected))
			return 0;
		if (holder > e->seg->max_candidates)
			return -EBADMSG;
		if (lock_delay)
			delay = __atomic_load_n(&election_slot(e->rec, holder - 1)->lock_delay_ns,
						__ATOMIC_RELAXED);
		struct lease v = { lease_lo(lease_term(l.lo), 0), clock_host_ns() + delay };
		/* fails if the holder renewed, resigned or lost meanwhile */
		if (lease_cas(&e->rec->lease, l, v)) {
			election_bump(e);
			return 1;
		}
	}
}

/*
 * Give the lease to slot `target` as a new term: CAS (term, any, E) ->
 * (term + 1, target, now + target's lease).  The old holder's next renew
 * fails because lo changed; the target adopts the term at its next
 * try-acquire (lo names its slot, and the slot's handoff word names the
 * term and the target's generation).  owner_expected != 0: only if the
 * slot's member is still that one (the one a request or a lookup named).
 * Returns 1 if transferred, 0 if not needed or the lease moved on, -ESRCH
 * if the target is not (or no longer) a member.
 *
 * Two hazards, both found by the model (tests/model, findings F1 and F2):
 *
 * - The target may be leaving, or being reaped, while we hand it the term.
 *   Its member moves ACTIVE -> LEAVING (seq_cst) and then ends every term
 *   naming its slot (slot_free_recheck) before the slot is FREE.  Dekker
 *   pair: our CAS (a full barrier) then our load of the owner word, against
 *   its CAS to LEAVING then its load of lo: one of the two sees the other
 *   and ends exactly this term, so lo never keeps naming a free slot.
 *
 * - We may have loaded the owner word long before our CAS (paused), and
 *   the slot may have been freed and claimed by a new member meanwhile.
 *   That member must not adopt a term handed to its predecessor: the
 *   handoff word carries the generation, and try_acquire adopts only a term
 *   whose handoff names its own.  (Our re-check below then ends the term.)
 */
int lease_transfer(struct shmelect_election *e, uint32_t target, uint64_t owner_expected,
		   uint64_t lo_expected)
{
	struct shm_slot *slot = election_slot(e->rec, target);
	uint64_t owner = __atomic_load_n(&slot->owner, __ATOMIC_SEQ_CST);

	if (slot_state(owner) != SLOT_ACTIVE || (owner_expected && owner != owner_expected))
		return -ESRCH;
	for (;;) {
		struct lease l = lease_read(&e->rec->lease);
		uint64_t term = lease_term(l.lo);

		if (lo_expected && l.lo != lo_expected)
			return 0;
		if (lease_holder(l.lo) == target + 1)
			return 0;
		if (term >= LEASE_TERM_MAX)
			return -EOVERFLOW;
		uint64_t lease_ns = __atomic_load_n(&slot->lease_ns, __ATOMIC_RELAXED);
		if (lease_ns < SHMELECT_LEASE_MIN_NS || lease_ns > SHMELECT_LEASE_MAX_NS)
			return -EBADMSG;
		/* published by the lease CAS below: whoever sees the new lo
		 * sees this handoff (or a later one) */
		handoff_store(slot, term + 1, slot_gen(owner));
		struct lease n = { lease_lo(term + 1, target + 1), clock_host_ns() + lease_ns };
		if (lease_cas(&e->rec->lease, l, n)) {
			if (__atomic_load_n(&slot->owner, __ATOMIC_SEQ_CST) != owner)
				lease_break(e, n.lo, false);
			election_bump(e);
			return 1;
		}
	}
}

/* Index of the live member with this identity, and its owner word. */
int slot_find_identity(struct shmelect_election *e, const char *identity, uint64_t *ret_owner)
{
	for (uint32_t i = 0; i < e->seg->max_candidates; i++) {
		struct shm_slot *slot = election_slot(e->rec, i);
		uint64_t w = __atomic_load_n(&slot->owner, __ATOMIC_ACQUIRE);
		char have[SHMELECT_IDENTITY_MAX + 1];

		if (slot_state(w) != SLOT_ACTIVE)
			continue;
		copy_bounded(have, slot->identity, sizeof(have));
		if (strcmp(have, identity))
			continue;
		/* still the same member after we read its identity? */
		if (__atomic_load_n(&slot->owner, __ATOMIC_ACQUIRE) != w)
			continue;
		if (ret_owner)
			*ret_owner = w;
		return (int)i;
	}
	return -ESRCH;
}

/* A handover request names a slot and the generation of its member, so a
 * request for a member that left is never carried out for its successor. */
uint64_t handover_word(uint32_t index, uint64_t owner)
{
	return slot_gen(owner) << 16 | (uint64_t)(index + 1);
}

_public_ int shmelect_election_evict(struct shmelect_election *e)
{
	if (!e)
		return -EINVAL;
	if (e->seg->readonly)
		return -EROFS;
	/* same term, vacant: the next acquisition is term+1 with a new token */
	return lease_break(e, 0, true);
}

_public_ int shmelect_election_break(struct shmelect_election *e, uint64_t term, uint32_t slot)
{
	if (!e || term == 0 || term > LEASE_TERM_MAX || slot >= e->seg->max_candidates)
		return -EINVAL;
	if (e->seg->readonly)
		return -EROFS;
	return lease_break(e, lease_lo(term, slot + 1), true);
}

_public_ int shmelect_election_reap(struct shmelect_election *e)
{
	int n = 0;

	if (!e)
		return -EINVAL;
	if (e->seg->readonly)
		return -EROFS;
	int err = 0;

	for (uint32_t i = 0; i < e->seg->max_candidates; i++) {
		int r = slot_reap_if_dead(e, i);
		if (r < 0)
			err = r; /* a corrupt slot: go on with the others */
		else
			n += r;
	}
	return n > 0 || err == 0 ? n : err;
}

_public_ int shmelect_election_handover(struct shmelect_election *e, const char *identity,
					unsigned flags)
{
	uint64_t owner;
	int r, i;

	if (!e || (flags & ~(unsigned)(SHMELECT_HANDOVER_FORCE | SHMELECT_HANDOVER_ANY)))
		return -EINVAL;
	if (e->seg->readonly)
		return -EROFS;
	if (flags & SHMELECT_HANDOVER_ANY) {
		if (identity)
			return -EINVAL;
		if (flags & SHMELECT_HANDOVER_FORCE)
			return lease_break(e, 0, true);
		__atomic_store_n(&e->rec->handover, HANDOVER_RESIGN, __ATOMIC_RELEASE);
		election_bump(e);
		return 0;
	}
	if (!identity) {
		if (flags & SHMELECT_HANDOVER_FORCE)
			return -EINVAL; /* force what, to whom? */
		__atomic_store_n(&e->rec->handover, 0, __ATOMIC_RELEASE);
		election_bump(e);
		return 0;
	}
	r = check_name(identity, SHMELECT_IDENTITY_MAX);
	if (r < 0)
		return r;
	i = slot_find_identity(e, identity, &owner);
	if (i < 0)
		return i;
	if (flags & SHMELECT_HANDOVER_FORCE)
		return lease_transfer(e, (uint32_t)i, owner, 0);
	/* a request: the holder's elector sees it when the bump wakes it */
	__atomic_store_n(&e->rec->handover, handover_word((uint32_t)i, owner), __ATOMIC_RELEASE);
	election_bump(e);
	return 0;
}

_public_ int shmelect_election_fence(struct shmelect_election *e, struct shmelect_fence **ret)
{
	if (!e || !ret)
		return -EINVAL;
	if (e->seg->readonly)
		return -EROFS;
	_Static_assert(sizeof(struct shmelect_fence) == sizeof(uint64_t), "fence is one word");
	*ret = (struct shmelect_fence *)&e->rec->fence;
	return 0;
}
