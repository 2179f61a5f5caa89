/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sleeping and waking: the life thread, holder-death detection, blocking
 * waits for leadership and for changes.
 *
 * Death detection.  Each candidate has a "life thread", a tiny thread the
 * library owns, that locks the robust, process-shared mutex in the
 * candidate's slot when it joins and holds it until it leaves.  When the
 * process dies (or execs), the kernel walks that thread's robust list while
 * the thread exits, before the address space is torn down, sets
 * FUTEX_OWNER_DIED in the mutex word and wakes one waiter if FUTEX_WAITERS
 * is set.  That takes about the same time whatever the process's size,
 * unlike pidfd or flock, which report only after teardown.
 *
 * A follower sets FUTEX_WAITERS in the holder's mutex word (what a
 * contending pthread_mutex_lock would do) and sleeps in futex_waitv(2) on
 * that word and on the election's change word at once, with the lease's
 * expiry as timeout.  So it wakes on: resign/evict/handover/join/leave
 * (change word), the holder's death (mutex word), or expiry (timeout).
 * Without futex_waitv (Linux < 5.16) it sleeps on the change word only and
 * a crash is noticed at lease expiry.
 *
 * The life thread, not the caller's thread, owns the mutex so that the
 * robust list stays correct whichever thread later leaves, and so that a
 * thread of the application exiting is not mistaken for the process dying.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

/* now + timeout, saturating: UINT64_MAX (or anything that would wrap) is
 * "no deadline". */
static uint64_t deadline_after(uint64_t timeout_ns)
{
	uint64_t now = clock_host_ns();

	return timeout_ns >= UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

struct life {
	pthread_t thread;
	struct shm_slot *slot;
	uint32_t state;   /* 0 starting, 1 holding, 2 failed */
	uint32_t stop;
};

static void futex_wait_private(uint32_t *w, uint32_t val)
{
	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake_private(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void *life_main(void *arg)
{
	struct life *L = arg;
	sigset_t all;
	int r;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	r = pthread_mutex_lock(&L->slot->life.mutex);
	if (r == EOWNERDEAD) {
		pthread_mutex_consistent(&L->slot->life.mutex);
		r = 0;
	}
	__atomic_store_n(&L->state, r == 0 ? 1 : 2, __ATOMIC_RELEASE);
	futex_wake_private(&L->state);
	if (r != 0)
		return NULL;
	while (!__atomic_load_n(&L->stop, __ATOMIC_ACQUIRE))
		futex_wait_private(&L->stop, 0);
	pthread_mutex_unlock(&L->slot->life.mutex);
	return NULL;
}

int life_start(struct shmelect_candidate *c)
{
	struct life *L = calloc(1, sizeof(*L));
	pthread_attr_t a;
	uint32_t st;
	int r;

	if (!L)
		return -ENOMEM;
	L->slot = c->slot;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	r = pthread_create(&L->thread, &a, life_main, L);
	pthread_attr_destroy(&a);
	if (r) {
		free(L);
		return -r;
	}
	while ((st = __atomic_load_n(&L->state, __ATOMIC_ACQUIRE)) == 0)
		futex_wait_private(&L->state, 0);
	if (st != 1) {
		pthread_join(L->thread, NULL);
		free(L);
		return -ENOTRECOVERABLE;
	}
	c->life = L;
	return 0;
}

void life_stop(struct shmelect_candidate *c)
{
	struct life *L = c->life;

	if (!L)
		return;
	__atomic_store_n(&L->stop, 1, __ATOMIC_RELEASE);
	futex_wake_private(&L->stop);
	pthread_join(L->thread, NULL);
	free(L);
	c->life = NULL;
}

/* The futex word of a slot's robust mutex (glibc: __data.__lock, the word
 * the kernel's robust-list handling updates). */
static uint32_t *slot_life_word(struct shm_slot *slot)
{
	return (uint32_t *)&slot->life.mutex.__data.__lock;
}

/*
 * Prepare to watch the holder's life: returns 1 and the value to wait for
 * in *ret_val if it is held (FUTEX_WAITERS now set), 0 if there is nothing
 * to watch, and -EOWNERDEAD if its owner already died.
 */
static int life_watch(struct shm_slot *slot, uint32_t *ret_val)
{
	uint32_t *w = slot_life_word(slot);
	uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);

	for (int i = 0; i < 16; i++) {
		if (v & FUTEX_OWNER_DIED)
			return -EOWNERDEAD;
		if ((v & FUTEX_TID_MASK) == 0)
			return 0;
		if (v & FUTEX_WAITERS) {
			*ret_val = v;
			return 1;
		}
		/* what a contending locker does; the owner's unlock will then
		 * wake us, and so will the kernel if the owner dies */
		if (__atomic_compare_exchange_n(w, &v, v | FUTEX_WAITERS, false, __ATOMIC_SEQ_CST,
						__ATOMIC_ACQUIRE)) {
			*ret_val = v | FUTEX_WAITERS;
			return 1;
		}
	}
	return 0;
}

static void host_deadline_to_timespec(uint64_t deadline, struct timespec *ts)
{
	uint64_t local = clock_host_to_local(deadline);

	ts->tv_sec = (time_t)(local / 1000000000u);
	ts->tv_nsec = (long)(local % 1000000000u);
}

/*
 * Sleep until *change != change_val, the watched life word changes, *extra
 * != extra_val, or the deadline (host ns; UINT64_MAX none).  Any of them
 * may be NULL.  Spurious wake-ups are possible: callers re-check.
 */
void sleep_on(uint32_t *change, uint32_t change_val, uint32_t *life, uint32_t life_val,
	      uint32_t *extra, uint32_t extra_val, uint64_t deadline)
{
	static int have_waitv = 1;
	struct futex_waitv wv[3];
	struct timespec ts, *tsp = NULL;
	unsigned n = 0;

	if (deadline != UINT64_MAX) {
		host_deadline_to_timespec(deadline, &ts);
		tsp = &ts;
	}
	if (change)
		wv[n++] = (struct futex_waitv){ .val = change_val, .uaddr = (uintptr_t)change, .flags = FUTEX_32 };
	if (life)
		wv[n++] = (struct futex_waitv){ .val = life_val, .uaddr = (uintptr_t)life, .flags = FUTEX_32 };
	if (extra)
		wv[n++] = (struct futex_waitv){ .val = extra_val, .uaddr = (uintptr_t)extra,
						.flags = FUTEX_32 | FUTEX_PRIVATE_FLAG };
	if (n == 0) {
		if (tsp)
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, tsp, NULL);
		return;
	}
	if (__atomic_load_n(&have_waitv, __ATOMIC_RELAXED)) {
		if (syscall(SYS_futex_waitv, wv, n, 0, tsp, CLOCK_MONOTONIC) >= 0 || errno != ENOSYS)
			return;
		__atomic_store_n(&have_waitv, 0, __ATOMIC_RELAXED);
	}
	/* Old kernel: one word only (the first), absolute monotonic timeout. */
	syscall(SYS_futex, (uint32_t *)(uintptr_t)wv[0].uaddr,
		FUTEX_WAIT_BITSET | ((wv[0].flags & FUTEX_PRIVATE_FLAG) ? FUTEX_PRIVATE_FLAG : 0),
		(uint32_t)wv[0].val, tsp, NULL, FUTEX_BITSET_MATCH_ANY);
}

/*
 * One follower's sleep, for candidate_wait and the elector: register as a
 * waiter, re-check with `check` (which must not sleep), then sleep on the
 * change word, the holder's life and `extra`, until `deadline`.  Returns
 * what check returned if nonzero, else 0 after sleeping.  If the holder
 * named by the lease the check saw turned out dead, its lease is broken
 * here (the CAS fails harmlessly if anything moved).
 */
/*
 * The election's waiter count, and a member's share of it.  A waker skips
 * the futex wake when the count is zero, so the count must never be lower
 * than the number of sleepers; a sleeper killed while registered leaves it
 * too high, which costs a needless wake per change until a reaper frees the
 * dead member's slot and takes its share back (sleepers_reclaim).  The
 * share is counted after the count goes up and before it goes down, so it
 * is never more than the member really added, whenever the member dies:
 * taking it back never makes the count too low.  The share is tagged with
 * the member's generation: it counts only while the tag is ours (a slot
 * given up under a waiting thread, against the rules, belongs to the next
 * member), and a reaper takes back only the dead member's.
 */
static void sleepers_add(struct shmelect_candidate *c, int64_t d)
{
	uint64_t gen = slot_gen(c->owner), v = __atomic_load_n(&c->slot->sleepers, __ATOMIC_RELAXED);

	do {
		if (sleepers_gen(v) != gen || (d < 0 && (v & SLEEPERS_COUNT_MASK) == 0) ||
		    (d > 0 && (v & SLEEPERS_COUNT_MASK) == SLEEPERS_COUNT_MASK))
			return;
	} while (!__atomic_compare_exchange_n(&c->slot->sleepers, &v, v + (uint64_t)d, false,
					      __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
}

void waiters_enter(struct shmelect_election *e, struct shmelect_candidate *c)
{
	__atomic_fetch_add(&e->rec->waiters, 1, __ATOMIC_SEQ_CST);
	if (c)
		sleepers_add(c, 1);
}

void waiters_leave(struct shmelect_election *e, struct shmelect_candidate *c)
{
	if (c)
		sleepers_add(c, -1);
	__atomic_fetch_sub(&e->rec->waiters, 1, __ATOMIC_SEQ_CST);
}

/* A reaper, for the dead member whose owner word (ACTIVE or LEAVING) is
 * `owner`: take back its share of the waiter count. */
void sleepers_reclaim(struct shmelect_election *e, struct shm_slot *slot, uint64_t owner)
{
	uint64_t gen = slot_gen(owner), v = __atomic_load_n(&slot->sleepers, __ATOMIC_ACQUIRE);

	while (sleepers_gen(v) == gen && (v & SLEEPERS_COUNT_MASK)) {
		if (__atomic_compare_exchange_n(&slot->sleepers, &v, sleepers_word(gen, 0), false,
						__ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
			__atomic_fetch_sub(&e->rec->waiters, (uint32_t)(v & SLEEPERS_COUNT_MASK),
					   __ATOMIC_SEQ_CST);
			return;
		}
	}
}

int follower_sleep(struct shmelect_election *e, struct shmelect_candidate *c,
		   int (*check)(void *ud, struct lease *seen), void *ud, uint32_t *extra,
		   uint32_t extra_val, uint64_t deadline)
{
	struct shm_election *rec = e->rec;
	uint32_t change, life_val = 0, *life = NULL;
	struct lease seen = { 0, 0 };
	uint32_t holder;
	uint64_t until = deadline;
	int r;

	/* Dekker with election_bump(): we publish that we wait, then read the
	 * change word; the waker bumps the change word, then reads waiters.
	 * Both seq_cst, so either it sees us or we see its bump. */
	waiters_enter(e, c);
	change = __atomic_load_n(&rec->change, __ATOMIC_SEQ_CST);
	r = check(ud, &seen);
	if (r != 0)
		goto out;

	holder = lease_holder(seen.lo);
	if (holder && holder <= e->seg->max_candidates) {
		struct shm_slot *slot = election_slot(rec, holder - 1);
		uint64_t delay = __atomic_load_n(&slot->lock_delay_ns, __ATOMIC_RELAXED);
		int w = life_watch(slot, &life_val);

		if (w == -EOWNERDEAD) {
			/* the holder's process died: end its term now */
			lease_break(e, seen.lo, true);
			goto out;
		}
		if (w == 1)
			life = slot_life_word(slot);
		if (seen.hi + delay < until)
			until = seen.hi + delay;
	} else if (holder == 0 && seen.hi > clock_host_ns() && seen.hi < until) {
		until = seen.hi; /* vacant but locked: wait out the lock-delay */
	}
	sleep_on(&rec->change, change, life, life_val, extra, extra_val, until);
	if (life && (__atomic_load_n(life, __ATOMIC_ACQUIRE) & FUTEX_OWNER_DIED))
		lease_break(e, seen.lo, true);
out:
	waiters_leave(e, c);
	return r;
}

struct wait_ctx {
	struct shmelect_candidate *c;
	uint64_t token;
	int err;
};

static int wait_check(void *ud, struct lease *seen)
{
	struct wait_ctx *w = ud;
	int r = shmelect_candidate_try_acquire(w->c, &w->token);

	if (r < 0) {
		w->err = r;
		return -1;
	}
	if (r == 1)
		return 1;
	*seen = lease_read(&w->c->election->rec->lease);
	return 0;
}

_public_ int shmelect_candidate_wait(struct shmelect_candidate *c, uint64_t timeout_ns,
				     uint64_t *ret_token)
{
	struct wait_ctx w = { .c = c };
	uint64_t deadline;
	int r;

	if (!c)
		return -EINVAL;
	if (c->incarnation != process_incarnation())
		return -ESTALE; /* and never mark the parent's slot as waiting */
	deadline = deadline_after(timeout_ns);
	__atomic_store_n(&c->slot->waiting, 1, __ATOMIC_RELAXED);
	for (;;) {
		r = follower_sleep(c->election, c, wait_check, &w, NULL, 0, deadline);
		if (r == 1) {
			if (ret_token)
				*ret_token = w.token;
			break;
		}
		if (r < 0) {
			r = w.err;
			break;
		}
		if (deadline != UINT64_MAX && clock_host_ns() >= deadline) {
			/* one last try: the deadline may coincide with expiry */
			r = shmelect_candidate_try_acquire(c, &w.token);
			if (r == 1 && ret_token)
				*ret_token = w.token;
			break;
		}
	}
	__atomic_store_n(&c->slot->waiting, 0, __ATOMIC_RELAXED);
	return r;
}

/* Wait for a change word to move past *seq; see shmelect_election_wait(3). */
static int change_wait(uint32_t *word, uint32_t *waiters, bool readonly, uint64_t *seq,
		       uint64_t timeout_ns)
{
	uint64_t deadline = deadline_after(timeout_ns);
	uint32_t want = (uint32_t)*seq;

	if (*seq == 0) {
		*seq = (uint64_t)__atomic_load_n(word, __ATOMIC_ACQUIRE) | UINT64_C(1) << 32;
		return 1;
	}
	for (;;) {
		uint32_t v;

		if (!readonly)
			__atomic_fetch_add(waiters, 1, __ATOMIC_SEQ_CST);
		v = __atomic_load_n(word, __ATOMIC_SEQ_CST);
		if (v == want) {
			uint64_t until = deadline;
			if (readonly) {
				/* cannot announce ourselves: poll */
				uint64_t poll = clock_host_ns() + 10000000;
				if (poll < until)
					until = poll;
				sleep_on(NULL, 0, NULL, 0, NULL, 0, until);
			} else {
				sleep_on(word, want, NULL, 0, NULL, 0, until);
			}
			v = __atomic_load_n(word, __ATOMIC_SEQ_CST);
		}
		if (!readonly)
			__atomic_fetch_sub(waiters, 1, __ATOMIC_SEQ_CST);
		if (v != want) {
			*seq = (uint64_t)v | UINT64_C(1) << 32;
			return 1;
		}
		if (deadline != UINT64_MAX && clock_host_ns() >= deadline)
			return 0;
	}
}

_public_ int shmelect_election_wait(struct shmelect_election *e, uint64_t *seq, uint64_t timeout_ns)
{
	if (!e || !seq)
		return -EINVAL;
	return change_wait(&e->rec->change, &e->rec->waiters, e->seg->readonly, seq, timeout_ns);
}

_public_ int shmelect_segment_wait(struct shmelect_segment *seg, uint64_t *seq, uint64_t timeout_ns)
{
	if (!seg || !seq)
		return -EINVAL;
	return change_wait(&seg->hdr->change, &seg->hdr->waiters, seg->readonly, seq, timeout_ns);
}
