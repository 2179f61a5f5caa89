/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The elector: client-go's LeaderElector over a shmelect lease.
 *
 *   lease_ns > renew_deadline_ns > retry_period_ns > 0
 *
 * Leading, it renews every retry period; if a round comes later than the
 * renew deadline after the last successful renew (the process was paused or
 * starved), it steps down on its own, releasing the lease, even though
 * nobody took it.  Following, it sleeps in the kernel until the lease
 * changes, its holder dies or it expires, then contends.  Unlike client-go
 * it re-contends after a loss (unless ONCE) and releases on a graceful stop
 * (unless NO_RELEASE).
 *
 * Callback order: on winning, new_leader(us) then started_leading(token);
 * on losing, stopped_leading(token) then new_leader(the other, or NULL).
 * Callbacks run in the thread that runs step()/run() and may call
 * anything in this API except free() on the same elector.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

struct shmelect_elector {
	struct shmelect_election *election;
	struct shmelect_candidate *cand;
	struct shmelect_elector_callbacks cb;
	void *userdata;
	uint64_t lease_ns, renew_deadline_ns, retry_period_ns;
	int32_t priority;
	uint32_t flags;

	bool leading;
	bool done;         /* ONCE and lost, or shut down */
	bool shut;
	uint64_t token;
	uint64_t last_renew_ns;
	uint64_t stepped_down_ns;
	uint64_t takeable_since; /* when we first saw the lease takeable */
	uint64_t reported_lo;    /* lease lo last reported to new_leader */
	bool reported;

	uint32_t stop;     /* futex word (private) */
	pthread_t thread;
	int thread_state;           /* enum thread_state, atomic */
	int thread_result;
	char advert[SHMELECT_ADVERT_MAX + 1];
};

_public_ int shmelect_elector_new(struct shmelect_election *e, const struct shmelect_elector_config *cfg,
				  const struct shmelect_elector_callbacks *cb, void *userdata,
				  struct shmelect_elector **ret)
{
	struct shmelect_elector *el;
	int r;

	if (!e || !cfg || !ret)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(cfg->reserved) / sizeof(cfg->reserved[0]); i++)
		if (cfg->reserved[i])
			return -EINVAL;
	if (cfg->flags & ~(uint32_t)(SHMELECT_ELECTOR_PREEMPT | SHMELECT_ELECTOR_NO_RELEASE |
				     SHMELECT_ELECTOR_ONCE))
		return -EINVAL;
	/* lease > renew deadline > retry period > 0, as client-go demands */
	if (cfg->retry_period_ns == 0 || cfg->renew_deadline_ns <= cfg->retry_period_ns ||
	    cfg->lease_ns <= cfg->renew_deadline_ns)
		return -EINVAL;
	if (cfg->lease_ns < SHMELECT_LEASE_MIN_NS || cfg->lease_ns > SHMELECT_LEASE_MAX_NS ||
	    cfg->lock_delay_ns > SHMELECT_LEASE_MAX_NS)
		return -EINVAL;
	if (cfg->advert && strnlen(cfg->advert, SHMELECT_ADVERT_MAX + 1) > SHMELECT_ADVERT_MAX)
		return -EMSGSIZE;

	el = calloc(1, sizeof(*el));
	if (!el)
		return -ENOMEM;
	if (cb)
		el->cb = *cb;
	el->userdata = userdata;
	el->lease_ns = cfg->lease_ns;
	el->renew_deadline_ns = cfg->renew_deadline_ns;
	el->retry_period_ns = cfg->retry_period_ns;
	el->priority = cfg->priority;
	el->flags = cfg->flags;
	if (cfg->advert)
		snprintf(el->advert, sizeof(el->advert), "%s", cfg->advert);

	r = election_dup(e, &el->election);
	if (r < 0)
		goto fail;
	r = shmelect_candidate_join(e, cfg->identity, cfg->lease_ns, 0, &el->cand);
	if (r < 0)
		goto fail;
	shmelect_candidate_set_priority(el->cand, cfg->priority);
	shmelect_candidate_set_lock_delay(el->cand, cfg->lock_delay_ns);
	if (el->advert[0])
		shmelect_candidate_set_advert(el->cand, el->advert);
	__atomic_store_n(&el->cand->slot->waiting, 1, __ATOMIC_RELAXED);
	*ret = el;
	return 0;
fail:
	shmelect_election_close(el->election);
	free(el);
	return r;
}

/* Tell new_leader about the holder if it changed since we last said. */
static void report_leader(struct shmelect_elector *el)
{
	struct shm_election *rec = el->election->rec;
	struct lease l = lease_read(&rec->lease);
	uint64_t now = clock_host_ns();
	uint32_t holder = lease_holder(l.lo);
	uint64_t lo = l.lo;

	if (holder > el->election->seg->max_candidates)
		return;
	/* an expired lease has no leader, whatever it names */
	if (holder && now >= l.hi)
		lo = 0;
	if (!holder)
		lo = 0;
	if (el->reported && lo == el->reported_lo)
		return;
	el->reported = true;
	el->reported_lo = lo;
	if (!el->cb.new_leader)
		return;
	if (lo == 0) {
		el->cb.new_leader(el, NULL, 0, el->userdata);
	} else {
		char id[SHMELECT_IDENTITY_MAX + 1];
		copy_bounded(id, election_slot(rec, holder - 1)->identity, sizeof(id));
		el->cb.new_leader(el, id, el->election->token_base + lease_term(lo), el->userdata);
	}
}

static void lost(struct shmelect_elector *el, uint64_t now)
{
	el->leading = false;
	el->stepped_down_ns = now;
	el->takeable_since = 0;
	if (!el->shut)
		__atomic_store_n(&el->cand->slot->waiting, 1, __ATOMIC_RELAXED);
	if (el->cb.stopped_leading)
		el->cb.stopped_leading(el, el->token, el->userdata);
	if (el->flags & SHMELECT_ELECTOR_ONCE) {
		el->done = true;
		__atomic_store_n(&el->cand->slot->waiting, 0, __ATOMIC_RELAXED);
	}
}

/* Carry out a pending handover request naming another live member. */
static void leader_handover(struct shmelect_elector *el)
{
	struct shm_election *rec = el->election->rec;
	uint64_t hw = __atomic_load_n(&rec->handover, __ATOMIC_ACQUIRE);
	uint32_t idx;

	if (!hw)
		return;
	if (hw == HANDOVER_RESIGN) {
		if (__atomic_compare_exchange_n(&rec->handover, &hw, 0, false, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED))
			shmelect_candidate_resign(el->cand); /* renew then fails: lost() */
		return;
	}
	idx = (uint32_t)(hw & 0xffff);
	if (idx == 0 || idx > el->election->seg->max_candidates || idx - 1 == el->cand->index) {
		__atomic_compare_exchange_n(&rec->handover, &hw, 0, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		return;
	}
	uint64_t owner = __atomic_load_n(&election_slot(rec, idx - 1)->owner, __ATOMIC_ACQUIRE);
	/* consume the request whether or not its member is still there */
	if (!__atomic_compare_exchange_n(&rec->handover, &hw, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return;
	if (slot_state(owner) != SLOT_ACTIVE || handover_word(idx - 1, owner) != hw)
		return;
	lease_transfer(el->election, idx - 1, owner,
		       lease_lo(__atomic_load_n(&el->cand->term, __ATOMIC_RELAXED), el->cand->index + 1));
}

/* What others see, which shmelect_candidate_set_priority() may change. */
static int32_t my_priority(struct shmelect_elector *el)
{
	return __atomic_load_n(&el->cand->slot->priority, __ATOMIC_RELAXED);
}

/* Should a follower hold back because a better candidate waits? */
static bool defer_to_better(struct shmelect_elector *el, uint64_t now)
{
	struct shm_election *rec = el->election->rec;

	if (!el->takeable_since)
		el->takeable_since = now;
	if (now - el->takeable_since >= el->retry_period_ns)
		return false; /* they had their chance */
	for (uint32_t i = 0; i < el->election->seg->max_candidates; i++) {
		struct shm_slot *slot = election_slot(rec, i);

		if (i == el->cand->index)
			continue;
		if (slot_state(__atomic_load_n(&slot->owner, __ATOMIC_ACQUIRE)) != SLOT_ACTIVE)
			continue;
		if (__atomic_load_n(&slot->waiting, __ATOMIC_RELAXED) &&
		    __atomic_load_n(&slot->priority, __ATOMIC_RELAXED) > my_priority(el))
			return true;
	}
	return false;
}

static void maybe_preempt(struct shmelect_elector *el, struct lease l)
{
	struct shm_election *rec = el->election->rec;
	uint32_t holder = lease_holder(l.lo);
	uint64_t zero = 0;

	if (!(el->flags & SHMELECT_ELECTOR_PREEMPT) || !holder ||
	    holder > el->election->seg->max_candidates)
		return;
	if (__atomic_load_n(&election_slot(rec, holder - 1)->priority, __ATOMIC_RELAXED) >= my_priority(el))
		return;
	if (__atomic_compare_exchange_n(&rec->handover, &zero,
					handover_word(el->cand->index, el->cand->owner), false,
					__ATOMIC_RELEASE, __ATOMIC_RELAXED))
		election_bump(el->election);
}

_public_ int shmelect_elector_step(struct shmelect_elector *el, uint64_t now, uint64_t *ret_next_ns)
{
	struct shm_election *rec;
	uint64_t next;
	int r;

	if (!el)
		return -EINVAL;
	if (el->cand->incarnation != process_incarnation())
		return -ESTALE;
	rec = el->election->rec;
	if (el->done) {
		if (ret_next_ns)
			*ret_next_ns = UINT64_MAX;
		return 0;
	}

	if (el->leading) {
		if (now - el->last_renew_ns >= el->renew_deadline_ns) {
			/* Could not renew in time (we were paused or starved):
			 * step down on our own.  Unclean: whatever we were doing
			 * may be half done, so the lease stays locked for our
			 * lock-delay, as after a crash. */
			candidate_release(el->cand, clock_host_ns() +
				__atomic_load_n(&el->cand->slot->lock_delay_ns, __ATOMIC_RELAXED));
			lost(el, now);
		} else {
			leader_handover(el);
			r = shmelect_candidate_renew(el->cand);
			if (r < 0)
				return r;
			if (r == 1)
				el->last_renew_ns = now;
			else
				lost(el, now);
		}
		report_leader(el);
	}

	if (!el->leading && !el->done &&
	    (now - el->stepped_down_ns >= el->retry_period_ns ||
	     lease_holder(lease_read(&rec->lease).lo) == el->cand->index + 1)) {
		/* after a loss we hold back one retry period, unless the lease
		 * was handed to us meanwhile: that we take up at once */
		struct lease l = lease_read(&rec->lease);
		uint32_t holder = lease_holder(l.lo);
		bool takeable;

		if (holder > el->election->seg->max_candidates)
			return -EBADMSG;
		if (!holder)
			takeable = now >= l.hi; /* vacant; hi > now: locked */
		else if (holder == el->cand->index + 1)
			takeable = true;        /* ours, or handed to us */
		else                            /* expired, and past its lock-delay */
			takeable = now >= l.hi &&
				   now - l.hi >= __atomic_load_n(&election_slot(rec, holder - 1)->lock_delay_ns,
								 __ATOMIC_RELAXED);

		if (takeable && !(holder == el->cand->index + 1) && defer_to_better(el, now)) {
			/* a higher-priority member waits: give it a retry period */
		} else if (takeable || holder == el->cand->index + 1) {
			uint64_t tok;
			r = shmelect_candidate_try_acquire(el->cand, &tok);
			if (r < 0)
				return r;
			if (r == 1) {
				el->leading = true;
				el->token = tok;
				el->last_renew_ns = now;
				el->takeable_since = 0;
				__atomic_store_n(&el->cand->slot->waiting, 0, __ATOMIC_RELAXED);
				report_leader(el);
				if (el->cb.started_leading)
					el->cb.started_leading(el, tok, el->userdata);
			} else {
				el->takeable_since = 0; /* someone else was faster */
			}
		} else {
			el->takeable_since = 0;
			maybe_preempt(el, l);
		}
	}
	/* also while holding back after a loss: a follower must hear of every
	 * new leader, and run() sleeps only once it has */
	if (!el->leading && !el->done)
		report_leader(el);

	/* when to come back at the latest */
	if (el->done) {
		next = UINT64_MAX;
	} else if (el->leading) {
		next = el->last_renew_ns + el->retry_period_ns;
	} else {
		struct lease l = lease_read(&rec->lease);
		uint32_t holder = lease_holder(l.lo);

		next = now + el->retry_period_ns;
		if (el->takeable_since && el->takeable_since + el->retry_period_ns > now)
			next = el->takeable_since + el->retry_period_ns;
		else if (holder && holder <= el->election->seg->max_candidates)
			next = l.hi + __atomic_load_n(&election_slot(rec, holder - 1)->lock_delay_ns,
						      __ATOMIC_RELAXED);
		else if (!holder && l.hi > now)
			next = l.hi;
		if (now - el->stepped_down_ns < el->retry_period_ns &&
		    el->stepped_down_ns + el->retry_period_ns > next)
			next = el->stepped_down_ns + el->retry_period_ns;
		if (next < now)
			next = now;
	}
	if (ret_next_ns)
		*ret_next_ns = next;
	return 0;
}

/* follower_sleep check: 1 if the lease is takeable right now */
static int follower_check(void *ud, struct lease *seen)
{
	struct shmelect_elector *el = ud;
	struct lease l = lease_read(&el->election->rec->lease);
	uint64_t now = clock_host_ns();
	uint32_t holder = lease_holder(l.lo);

	*seen = l;
	if (__atomic_load_n(&el->stop, __ATOMIC_ACQUIRE))
		return 1;
	if (holder == el->cand->index + 1)
		return 1; /* handed to us */
	if (el->reported && (holder && now < l.hi ? l.lo : 0) != el->reported_lo)
		return 1; /* a new leader to report */
	return 0;
}

static void elector_shutdown(struct shmelect_elector *el)
{
	if (el->shut)
		return;
	el->shut = true;
	if (el->cand->incarnation != process_incarnation())
		return; /* a forked child: the lease is the parent's */
	__atomic_store_n(&el->cand->slot->waiting, 0, __ATOMIC_RELAXED);
	if (el->leading) {
		/* NO_RELEASE: the lease stays ours and runs out */
		if (!(el->flags & SHMELECT_ELECTOR_NO_RELEASE))
			shmelect_candidate_resign(el->cand);
		lost(el, clock_host_ns());
	}
	el->done = true;
}

_public_ int shmelect_elector_run(struct shmelect_elector *el)
{
	struct shm_election *rec;
	int r = 0;

	if (!el)
		return -EINVAL;
	rec = el->election->rec;
	while (!__atomic_load_n(&el->stop, __ATOMIC_ACQUIRE)) {
		uint64_t next, now = clock_host_ns();

		r = shmelect_elector_step(el, now, &next);
		if (r < 0 || el->done)
			break;
		if (el->leading) {
			/* woken early by evict/handover requests (change word)
			 * or stop; else at the next renew */
			uint32_t ch;
			waiters_enter(el->election, el->cand);
			ch = __atomic_load_n(&rec->change, __ATOMIC_SEQ_CST);
			if (!__atomic_load_n(&rec->handover, __ATOMIC_ACQUIRE) &&
			    shmelect_candidate_is_leader(el->cand) == 1)
				sleep_on(&rec->change, ch, NULL, 0, &el->stop, 0, next);
			waiters_leave(el->election, el->cand);
		} else {
			follower_sleep(el->election, el->cand, follower_check, el, &el->stop, 0, next);
		}
	}
	elector_shutdown(el);
	return r < 0 ? r : 0;
}

/* The thread of shmelect_elector_start(): none yet, running (or ended,
 * not yet joined), joined (by shmelect_elector_wait(), or being joined). */
enum thread_state { THREAD_NONE, THREAD_STARTED, THREAD_JOINED };

/* The elector whose rounds this thread runs in shmelect_elector_start()'s
 * thread, so that wait() from one of its callbacks is refused rather than
 * waiting for itself. */
static __thread struct shmelect_elector *runner_of_this_thread;

static void *elector_thread(void *arg)
{
	struct shmelect_elector *el = arg;

	runner_of_this_thread = el;
	el->thread_result = shmelect_elector_run(el);
	return NULL;
}

_public_ int shmelect_elector_start(struct shmelect_elector *el)
{
	int expected = THREAD_NONE, r;

	if (!el)
		return -EINVAL;
	/* published before the thread exists: its callbacks may see it */
	if (!__atomic_compare_exchange_n(&el->thread_state, &expected, THREAD_STARTED, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -EBUSY;
	r = pthread_create(&el->thread, NULL, elector_thread, el);
	if (r) {
		__atomic_store_n(&el->thread_state, THREAD_NONE, __ATOMIC_RELEASE);
		return -r;
	}
	return 0;
}

_public_ int shmelect_elector_stop(struct shmelect_elector *el)
{
	if (!el)
		return -EINVAL;
	/* async-signal-safe: an atomic store and a futex wake */
	__atomic_store_n(&el->stop, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &el->stop, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	/* for kernels without futex_waitv, which sleep on the change word */
	election_bump(el->election);
	return 0;
}

_public_ int shmelect_elector_wait(struct shmelect_elector *el)
{
	int expected = THREAD_STARTED, r;

	if (!el)
		return -EINVAL;
	/* a forked child has no thread of ours (and must not join its
	 * parent's thread id) */
	if (el->cand->incarnation != process_incarnation())
		return -ESTALE;
	if (runner_of_this_thread == el)
		return -EDEADLK; /* from a callback: the thread would wait for itself */
	/* one waiter joins; a second one, or a wait without a thread, is told */
	if (!__atomic_compare_exchange_n(&el->thread_state, &expected, THREAD_JOINED, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -ECHILD;
	r = pthread_join(el->thread, NULL);
	if (r)
		return -r; /* not for a joinable thread of ours and another caller */
	/* pthread_join orders the thread's store of its result before us */
	return el->thread_result;
}

_public_ struct shmelect_elector *shmelect_elector_free(struct shmelect_elector *el)
{
	if (!el)
		return NULL;
	if (el->cand->incarnation == process_incarnation()) {
		shmelect_elector_stop(el);
		if (__atomic_load_n(&el->thread_state, __ATOMIC_ACQUIRE) == THREAD_STARTED)
			pthread_join(el->thread, NULL);
		elector_shutdown(el);
		uint64_t expiry = 0;
		/* NO_RELEASE, and about to leave: keep the lease's protection
		 * without keeping the slot (leave() frees it, and lo must never
		 * name a free slot): vacant, but nobody acquires before it
		 * would have expired. */
		if ((el->flags & SHMELECT_ELECTOR_NO_RELEASE) &&
		    shmelect_candidate_leadership(el->cand, NULL, &expiry) == 1)
			candidate_release(el->cand, expiry);
	} /* else a forked child: no thread of ours to join, no lease to give */
	shmelect_candidate_leave(el->cand);
	shmelect_election_close(el->election);
	free(el);
	return NULL;
}

_public_ int shmelect_elector_is_leader(struct shmelect_elector *el)
{
	if (!el)
		return -EINVAL;
	return shmelect_candidate_is_leader(el->cand);
}

_public_ int shmelect_elector_handover(struct shmelect_elector *el, const char *identity)
{
	uint64_t owner;
	int i, r;

	if (!el || !identity)
		return -EINVAL;
	r = check_name(identity, SHMELECT_IDENTITY_MAX);
	if (r < 0)
		return r;
	if (el->cand->incarnation != process_incarnation())
		return -ESTALE;
	if (shmelect_candidate_is_leader(el->cand) != 1)
		return -EPERM;
	i = slot_find_identity(el->election, identity, &owner);
	if (i < 0)
		return i;
	if ((uint32_t)i == el->cand->index)
		return 0;
	/* the runner notices at its next renew (lo changed) and calls
	 * stopped_leading; the target adopts the term at its next round */
	return lease_transfer(el->election, (uint32_t)i, owner,
			      lease_lo(__atomic_load_n(&el->cand->term, __ATOMIC_RELAXED), el->cand->index + 1));
}

_public_ struct shmelect_candidate *shmelect_elector_candidate(struct shmelect_elector *el)
{
	return el ? el->cand : NULL;
}
