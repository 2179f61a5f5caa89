/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Candidates: claim a slot in an election, leave it, reclaim the slots of
 * dead members.
 *
 * A slot's owner word moves FREE -> CLAIMING -> ACTIVE -> LEAVING -> FREE,
 * each step a CAS:
 *
 *   FREE      0
 *   CLAIMING  pidns(32) << 24 | pid << 2 | 1   the claimer is writing fields
 *   ACTIVE    gen(40)   << 24 | pid << 2 | 2   fields published (release)
 *   LEAVING   gen(40)   << 24 | pid << 2 | 3   ending every term naming it
 *
 * LEAVING (model finding F2, tests/model): whoever frees a slot must first
 * end any term a transfer may have handed to it (lease_transfer), and must
 * not end a term of the slot's NEXT member.  While the slot is LEAVING
 * nobody can claim it and no transfer targets it, so every term that names
 * it then is stale; once it is FREE, nobody ends terms naming it any more.
 * A member that dies LEAVING is reaped like an ACTIVE one.
 *
 * gen comes from the slot's own counter, incremented by every claimer, so
 * an ACTIVE word never repeats: a reaper that paused between deciding a
 * member was dead and its CAS cannot free the slot of a newer member.
 *
 * Hazard "slot reuse": a slot is reclaimed only when its owner is provably
 * dead (its pid is gone from our PID namespace or now names a process with
 * another start time).  A paused process is alive, so its slot is never
 * given away, and the only slot a stale writer can write to is its own.
 * Members in another PID namespace are never reclaimed automatically; they
 * leave, or an operator evicts them.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static uint64_t claiming_word(uint64_t pidns, uint32_t pid)
{
	return (pidns & 0xffffffffu) << SLOT_GEN_SHIFT | ((uint64_t)pid & SLOT_PID_MASK) << SLOT_PID_SHIFT |
	       SLOT_CLAIMING;
}

static int slot_free_recheck(struct shmelect_election *e, uint32_t i, uint64_t w);
static bool slot_free(struct shmelect_election *e, uint32_t i, uint64_t w);

static bool claimer_dead(uint64_t w)
{
	uint64_t ns;
	pid_t pid = (pid_t)slot_pid(w);

	if (self_pidns(&ns) < 0 || (ns & 0xffffffffu) != slot_gen(w))
		return false;
	return pid == 0 || (kill(pid, 0) < 0 && errno == ESRCH);
}

/*
 * Free slot i of e if its owner is provably dead.  Returns 1 if freed.
 * If the dead member holds the lease, the lease is broken first (a CAS that
 * ends the term; the next acquisition gets a new token), so lo never names a
 * free slot.
 */
int slot_reap_if_dead(struct shmelect_election *e, uint32_t i)
{
	struct shm_slot *slot = election_slot(e->rec, i);
	uint64_t w = __atomic_load_n(&slot->owner, __ATOMIC_ACQUIRE);

	switch (slot_state(w)) {
	case SLOT_FREE:
		return 0;
	case SLOT_CLAIMING:
		/* never published: no transfer targets it, no term of its own */
		if (!claimer_dead(w))
			return 0;
		return slot_free(e, i, w) ? 1 : 0;
	case SLOT_ACTIVE:
	case SLOT_LEAVING:
		if (pid_alive(__atomic_load_n(&slot->pid, __ATOMIC_RELAXED),
			      __atomic_load_n(&slot->pidns, __ATOMIC_RELAXED),
			      __atomic_load_n(&slot->start_time, __ATOMIC_RELAXED)))
			return 0;
		break;
	default:
		return -EBADMSG;
	}

	if (slot_state(w) == SLOT_ACTIVE) {
		for (;;) {
			struct lease l = lease_read(&e->rec->lease);
			/* Still the dead member's slot after that read?  Then
			 * the term lo names is the dead member's (lo names an
			 * ACTIVE slot only for terms of its current member),
			 * and breaking exactly that lo cannot hit a newer
			 * member: if the slot was freed and reused since, the
			 * term changed and the CAS fails.  Without this
			 * re-check a reaper paused here could end a live
			 * successor's term. */
			if (__atomic_load_n(&slot->owner, __ATOMIC_ACQUIRE) != w)
				return 0;
			if (lease_holder(l.lo) != i + 1)
				break;
			/* an unclean loss: the dead holder's lock-delay applies */
			if (lease_break(e, l.lo, true) != 0)
				break;
		}
		uint64_t leaving = w | SLOT_LEAVING;
		if (!__atomic_compare_exchange_n(&slot->owner, &w, leaving, false, __ATOMIC_SEQ_CST,
						 __ATOMIC_RELAXED))
			return 0; /* it changed: another reaper won */
		w = leaving;
	}
	/* LEAVING: ours, or left by a leaver or a reaper that died */
	if (slot_free_recheck(e, i, w) < 0)
		return -EBADMSG;
	/* the dead member's share of the waiter count (killed asleep) */
	sleepers_reclaim(e, slot, w);
	return slot_free(e, i, w) ? 1 : 0;
}

static int default_identity(char *buf, size_t size)
{
	char host[HOST_NAME_MAX + 1] = "localhost";
	uint64_t rnd = 0;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = 0;
	if (random_u64(&rnd) < 0)
		rnd = clock_host_ns();
	/* host:pid:random, host cut so that the whole fits in 63 bytes */
	snprintf(buf, size, "%.36s:%d:%08x", host, (int)getpid(), (unsigned)rnd);
	return 0;
}

static void slot_mutex_init(struct shm_slot *slot)
{
	pthread_mutexattr_t a;

	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&slot->life.mutex, &a);
	pthread_mutexattr_destroy(&a);
}

/* 1 if a live ACTIVE member other than slot `except` has this identity,
 * reaping dead ones met. */
static int identity_taken(struct shmelect_election *e, const char *identity, uint32_t except)
{
	for (uint32_t i = 0; i < e->seg->max_candidates; i++) {
		struct shm_slot *slot = election_slot(e->rec, i);
		char have[SHMELECT_IDENTITY_MAX + 1];

		if (i == except)
			continue;
		if (slot_state(__atomic_load_n(&slot->owner, __ATOMIC_SEQ_CST)) != SLOT_ACTIVE)
			continue;
		copy_bounded(have, slot->identity, sizeof(have));
		if (strcmp(have, identity))
			continue;
		if (slot_reap_if_dead(e, i) == 1)
			continue;
		return 1;
	}
	return 0;
}

/*
 * Slot i is LEAVING (owner word w): end every term that names it.  Such a
 * term is stale: its member resigned or died, or it was handed to the
 * member by a transfer that raced with the leave (see lease_transfer); no
 * new one can appear (a transfer that lands now sees LEAVING and ends its
 * own).  Stops as soon as the slot is no longer w: someone else finished,
 * and a term naming the slot may then be its next member's.  The first
 * load of lo comes after the seq_cst CAS that made the slot LEAVING (the
 * fence makes the Dekker pair with lease_transfer formal in C11, too).
 */
static int slot_free_recheck(struct shmelect_election *e, uint32_t i, uint64_t w)
{
	struct shm_slot *slot = election_slot(e->rec, i);

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	for (;;) {
		struct lease l = lease_read(&e->rec->lease);
		if (lease_holder(l.lo) != i + 1)
			return 0;
		/* lo names us, and we are still LEAVING after that load: the
		 * term is stale (and never recurs: an exact break) */
		if (__atomic_load_n(&slot->owner, __ATOMIC_SEQ_CST) != w)
			return 0;
		if (lease_break(e, l.lo, false) < 0)
			return -EBADMSG;
	}
}

/* LEAVING or CLAIMING -> FREE, announced to observers; true if we did. */
static bool slot_free(struct shmelect_election *e, uint32_t i, uint64_t w)
{
	struct shm_slot *slot = election_slot(e->rec, i);

	/* Observers validate against members_seq: announce before freeing. */
	__atomic_fetch_add(&e->rec->members_seq, 1, __ATOMIC_SEQ_CST);
	/* release: FREE publishes the slot to the next claimer's acquire */
	if (!__atomic_compare_exchange_n(&slot->owner, &w, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
		return false; /* another reaper won */
	__atomic_fetch_add(&e->rec->members_seq, 1, __ATOMIC_SEQ_CST);
	election_bump(e);
	return true;
}

/*
 * Give back our own slot: ACTIVE -> LEAVING, end every term naming it (one
 * handed to us that we never adopted: a transfer may target us as soon as
 * we are ACTIVE), stop the life thread, LEAVING -> FREE.  LEAVING: no
 * transfer targets us from then on, and nobody can claim the slot until no
 * term names it, so its next member never inherits one, and we never end
 * one of that member's.  Used by leave and by a join that backs off.
 */
static void slot_depart(struct shmelect_candidate *c)
{
	uint64_t w = c->owner, leaving = w | SLOT_LEAVING;

	__atomic_fetch_add(&c->election->rec->members_seq, 1, __ATOMIC_SEQ_CST);
	if (__atomic_compare_exchange_n(&c->slot->owner, &w, leaving, false, __ATOMIC_SEQ_CST,
					__ATOMIC_RELAXED)) {
		slot_free_recheck(c->election, c->index, leaving);
		/* unlock our robust mutex before the slot can be reused and
		 * its mutex re-initialised by the next member */
		life_stop(c);
		slot_free(c->election, c->index, leaving);
	}
	/* else a reaper judged us dead (another PID namespace) and the slot
	 * may be a new member's already, its mutex re-initialised: our life
	 * thread must not touch it, so it is left running */
}

static int slot_claim(struct shmelect_election *e, struct shmelect_candidate *c, uint64_t pidns,
		      uint64_t start_time)
{
	uint32_t max = e->seg->max_candidates;
	uint32_t pid = (uint32_t)getpid();

	for (uint32_t i = 0; i < max; i++) {
		struct shm_slot *slot = election_slot(e->rec, i);
		uint64_t w = __atomic_load_n(&slot->owner, __ATOMIC_ACQUIRE);
		uint64_t claiming = claiming_word(pidns, pid), gen, active;

		if (w != 0)
			continue;
		/* acquire: pairs with the release of the previous owner's FREE */
		if (!__atomic_compare_exchange_n(&slot->owner, &w, claiming, false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		/* The slot is ours alone until we publish it. */
		gen = __atomic_add_fetch(&slot->gen_counter, 1, __ATOMIC_RELAXED) & ((UINT64_C(1) << 40) - 1);
		if (gen == 0)
			gen = __atomic_add_fetch(&slot->gen_counter, 1, __ATOMIC_RELAXED) & ((UINT64_C(1) << 40) - 1);
		slot->pid = pid;
		slot->pidns = pidns;
		slot->start_time = start_time;
		slot->lease_ns = c->lease_ns;
		slot->joined_ns = clock_host_ns();
		slot->priority = 0;
		slot->acquire_ns = 0;
		memset(slot->identity, 0, sizeof(slot->identity));
		memcpy(slot->identity, c->identity, strlen(c->identity));
		slot->advert_seq = 0;
		memset(slot->advert, 0, sizeof(slot->advert));
		slot->lock_delay_ns = 0;
		slot->acquire_term = 0;
		slot->waiting = 0;
		/* atomic: a reaper of the slot's previous member may still
		 * compare it with that member's tag */
		__atomic_store_n(&slot->sleepers, sleepers_word(gen, 0), __ATOMIC_RELAXED);
		slot_mutex_init(slot);
		c->slot = slot;
		c->index = i;
		/* the life thread locks the robust mutex before anyone can see
		 * us, so a follower never watches an unlocked one of ours */
		int r = life_start(c);
		if (r < 0) {
			__atomic_store_n(&slot->owner, 0, __ATOMIC_RELEASE);
			return r;
		}
		active = gen << SLOT_GEN_SHIFT | ((uint64_t)pid & SLOT_PID_MASK) << SLOT_PID_SHIFT | SLOT_ACTIVE;
		/* release: every field above is visible to whoever sees ACTIVE.
		 * A CAS, because a reaper may have judged us dead (only if we
		 * were in another PID namespace and it could not tell). */
		if (!__atomic_compare_exchange_n(&slot->owner, &claiming, active, false, __ATOMIC_SEQ_CST,
						 __ATOMIC_RELAXED)) {
			life_stop(c);
			continue;
		}
		c->owner = active;
		return 0;
	}
	return -ENOSPC;
}

_public_ int shmelect_candidate_join(struct shmelect_election *e, const char *identity,
				     uint64_t lease_ns, unsigned flags, struct shmelect_candidate **ret)
{
	struct shmelect_candidate *c;
	uint64_t pidns = 0, start_time = 0;
	int r;

	if (!e || !ret || flags)
		return -EINVAL;
	if (lease_ns < SHMELECT_LEASE_MIN_NS || lease_ns > SHMELECT_LEASE_MAX_NS)
		return -EINVAL;
	if (identity) {
		r = check_name(identity, SHMELECT_IDENTITY_MAX);
		if (r < 0)
			return r;
	}
	if (e->seg->readonly)
		return -EROFS;
	if (e->seg->stale_boot)
		return -ESTALE;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = election_dup(e, &c->election);
	if (r < 0) {
		free(c);
		return r;
	}
	c->lease = &c->election->rec->lease;
	c->lease_ns = lease_ns;
	c->pid = getpid();
	c->incarnation = process_incarnation();
	if (identity)
		snprintf(c->identity, sizeof(c->identity), "%s", identity);
	else
		default_identity(c->identity, sizeof(c->identity));

	r = self_pidns(&pidns);
	if (r >= 0)
		r = proc_start_time(c->pid, &start_time);
	if (r < 0)
		goto fail;

	for (int attempt = 0;; attempt++) {
		if (identity_taken(e, c->identity, UINT32_MAX)) {
			r = -EEXIST;
			goto fail;
		}
		r = slot_claim(e, c, pidns, start_time);
		if (r == -ENOSPC) {
			/* full: reclaim the slots of dead members, then again */
			int freed = 0;
			for (uint32_t i = 0; i < e->seg->max_candidates; i++)
				if (slot_reap_if_dead(e, i) == 1)
					freed++;
			if (freed)
				r = slot_claim(e, c, pidns, start_time);
		}
		if (r < 0)
			goto fail;
		/* Two joins of one identity at once can both pass the check
		 * above.  Now that ours is published (a seq_cst CAS), look
		 * again (seq_cst loads): of two racing joins at least one sees
		 * the other, and whoever sees a twin backs off, so no twins
		 * remain.  Both may back off; a random pause then breaks the
		 * symmetry, and a real twin is refused by the check above. */
		if (!identity_taken(e, c->identity, c->index))
			break;
		slot_depart(c);
		if (attempt >= 3) {
			r = -EEXIST;
			goto fail;
		}
		uint64_t rnd = 0;
		random_u64(&rnd);
		struct timespec ts = { 0, (long)(rnd % 1000000) };
		nanosleep(&ts, NULL);
	}
	__atomic_fetch_add(&e->rec->members_seq, 1, __ATOMIC_SEQ_CST);
	election_bump(e);
	*ret = c;
	return 0;
fail:
	shmelect_election_close(c->election);
	free(c);
	return r;
}

_public_ struct shmelect_candidate *shmelect_candidate_leave(struct shmelect_candidate *c)
{
	if (!c)
		return NULL;
	/* A forked child must not resign or free its parent's membership, and
	 * a handle whose slot was taken away (reaped, or voided by reboot
	 * recovery) must not touch what is now another member's. */
	if (c->incarnation == process_incarnation() &&
	    __atomic_load_n(&c->slot->owner, __ATOMIC_ACQUIRE) == c->owner) {
		shmelect_candidate_resign(c);
		slot_depart(c);
	}
	shmelect_election_close(c->election);
	free(c);
	return NULL;
}

_public_ const char *shmelect_candidate_identity(const struct shmelect_candidate *c)
{
	return c ? c->identity : NULL;
}

static int cand_own(const struct shmelect_candidate *c)
{
	if (!c)
		return -EINVAL;
	if (c->incarnation != process_incarnation())
		return -ESTALE;
	if (__atomic_load_n(&c->slot->owner, __ATOMIC_ACQUIRE) != c->owner)
		return -EIDRM; /* the slot is another member's now */
	return 0;
}

_public_ int shmelect_candidate_set_priority(struct shmelect_candidate *c, int32_t priority)
{
	int r = cand_own(c);

	if (r < 0)
		return r;
	__atomic_store_n(&c->slot->priority, priority, __ATOMIC_RELAXED);
	election_bump(c->election);
	return 0;
}

_public_ int shmelect_candidate_set_lock_delay(struct shmelect_candidate *c, uint64_t lock_delay_ns)
{
	int r = cand_own(c);

	if (r < 0)
		return r;
	if (lock_delay_ns > SHMELECT_LEASE_MAX_NS)
		return -EINVAL;
	__atomic_store_n(&c->slot->lock_delay_ns, lock_delay_ns, __ATOMIC_RELAXED);
	return 0;
}

/*
 * The advertised value is double-buffered: the owner writes the buffer
 * that readers are not directed to, then publishes it by bumping
 * advert_seq (release).  A reader copies buffer[seq & 1] and accepts the
 * copy if seq did not move.  A writer that dies mid-write leaves seq as it
 * was and readers read the previous value: nothing is left "in progress".
 */
_public_ int shmelect_candidate_set_advert(struct shmelect_candidate *c, const char *value)
{
	uint64_t seq;
	size_t n;
	int r = cand_own(c);

	if (r < 0)
		return r;
	n = value ? strnlen(value, SHMELECT_ADVERT_MAX + 1) : 0;
	if (n > SHMELECT_ADVERT_MAX)
		return -EMSGSIZE;
	seq = __atomic_load_n(&c->slot->advert_seq, __ATOMIC_RELAXED) + 1;
	char *buf = c->slot->advert[seq & 1];
	memset(buf, 0, SHM_ADVERT_MAX + 1);
	if (n)
		memcpy(buf, value, n);
	__atomic_store_n(&c->slot->advert_seq, seq, __ATOMIC_RELEASE);
	election_bump(c->election);
	return 0;
}

void advert_read(const struct shm_slot *slot, char *buf, size_t size)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		uint64_t s1 = __atomic_load_n(&slot->advert_seq, __ATOMIC_ACQUIRE);
		copy_bounded(buf, slot->advert[s1 & 1], size < SHM_ADVERT_MAX + 1 ? size : SHM_ADVERT_MAX + 1);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&slot->advert_seq, __ATOMIC_RELAXED) == s1)
			return;
	}
	buf[0] = 0; /* rewritten continuously: report none rather than spin */
}
