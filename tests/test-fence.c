/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fences: check-and-advance on the highest token seen, alone, from threads
 * and processes at once, and the election's own fence in the segment.
 */
#include <pthread.h>

#include "helpers.h"

TestSuite(fence, .fini = teardown);

Test(fence, zero_fence_accepts)
{
	struct shmelect_fence f = SHMELECT_FENCE_INIT;
	struct shmelect_fence *z = calloc(1, sizeof(*z));

	cr_expect_eq(shmelect_fence_highest(&f), 0);
	cr_expect_eq(shmelect_fence_check(&f, 1), 1);
	cr_expect_eq(shmelect_fence_highest(&f), 1);
	/* zero-filled memory is an empty fence too */
	cr_assert_not_null(z);
	cr_expect_eq(shmelect_fence_highest(z), 0);
	cr_expect_eq(shmelect_fence_check(z, UINT64_C(1) << 62), 1);
	cr_expect_eq(shmelect_fence_highest(z), UINT64_C(1) << 62);
	free(z);
}

Test(fence, accepts_equal)
{
	struct shmelect_fence f = SHMELECT_FENCE_INIT;

	cr_expect_eq(shmelect_fence_check(&f, 5), 1);
	cr_expect_eq(shmelect_fence_check(&f, 5), 1, "the same leader passes its token many times");
	cr_expect_eq(shmelect_fence_check(&f, 5), 1);
	cr_expect_eq(shmelect_fence_highest(&f), 5);
}

Test(fence, rejects_older)
{
	struct shmelect_fence f = SHMELECT_FENCE_INIT;

	cr_expect_eq(shmelect_fence_check(&f, 10), 1);
	cr_expect_eq(shmelect_fence_check(&f, 9), 0);
	cr_expect_eq(shmelect_fence_check(&f, 1), 0);
	cr_expect_eq(shmelect_fence_highest(&f), 10, "a rejected token does not move the mark");
	cr_expect_eq(shmelect_fence_check(&f, 10), 1);
}

Test(fence, advances)
{
	struct shmelect_fence f = SHMELECT_FENCE_INIT;
	const uint64_t seq[] = { 1, 2, 5, 100, 101, UINT64_C(1) << 40, UINT64_MAX - 1 };

	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		cr_expect_eq(shmelect_fence_check(&f, seq[i]), 1, "token %" PRIu64, seq[i]);
		cr_expect_eq(shmelect_fence_highest(&f), seq[i]);
		if (i)
			cr_expect_eq(shmelect_fence_check(&f, seq[i - 1]), 0);
	}
}

Test(fence, highest)
{
	struct shmelect_fence f = SHMELECT_FENCE_INIT;

	cr_expect_eq(shmelect_fence_highest(NULL), 0);
	cr_expect_eq(shmelect_fence_check(&f, 3), 1);
	cr_expect_eq(shmelect_fence_check(&f, 8), 1);
	cr_expect_eq(shmelect_fence_check(&f, 4), 0);
	cr_expect_eq(shmelect_fence_highest(&f), 8);
	cr_expect_eq(shmelect_fence_check(&f, UINT64_MAX), 1);
	cr_expect_eq(shmelect_fence_highest(&f), UINT64_MAX);
	cr_expect_eq(shmelect_fence_check(&f, UINT64_MAX - 1), 0);
	cr_expect_eq(shmelect_fence_check(&f, UINT64_MAX), 1);
}

Test(fence, invalid)
{
	struct shmelect_fence f = SHMELECT_FENCE_INIT;

	cr_expect_eq(shmelect_fence_check(&f, 0), -EINVAL, "token 0 is never issued");
	cr_expect_eq(shmelect_fence_highest(&f), 0);
	cr_expect_eq(shmelect_fence_check(&f, 5), 1);
	cr_expect_eq(shmelect_fence_check(&f, 0), -EINVAL);
	cr_expect_eq(shmelect_fence_highest(&f), 5);
	cr_expect_eq(shmelect_fence_check(NULL, 5), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Concurrent: 4 threads and 2 processes on one MAP_SHARED fence        */
/* ------------------------------------------------------------------ */

#define N_THREADS 4
#define N_PROCS   2
#define N_CALLERS (N_THREADS + N_PROCS)
#define N_ROUNDS  200000

struct hammer {
	struct shmelect_fence fence;
	uint64_t published;            /* highest token known accepted (atomic max) */
	int go;
	struct {
		uint64_t accepted, rejected, last_accepted;
		uint64_t bad_result;       /* check() returned neither 0 nor 1 */
		uint64_t not_monotonic;    /* accepted a token <= an earlier accepted one */
		uint64_t accept_below;     /* after accepting T, highest < T */
		uint64_t own_older_ok;     /* after accepting T, T-1 was accepted */
		uint64_t reject_above;     /* rejected T while highest <= T */
		uint64_t published_older_ok; /* T published as accepted, then T-1 accepted */
		uint64_t done;
	} c[N_CALLERS];
};

static struct hammer *hm;

static uint64_t caller_token(int id, uint64_t k)
{
	/* increasing per caller; interleaved across callers, so that each is
	 * sometimes ahead of the others and sometimes behind */
	return k * N_CALLERS + (uint64_t)id + 1;
}

static void hammer_run(int id)
{
	struct shmelect_fence *f = &hm->fence;
	unsigned seed = (unsigned)id * 7919u + 1;

	while (!__atomic_load_n(&hm->go, __ATOMIC_ACQUIRE))
		sched_yield();
	for (uint64_t k = 1; k <= N_ROUNDS; k++) {
		/* callers advance at different, varying speeds */
		if (rand_r(&seed) % 8 == 0)
			k += (uint64_t)(rand_r(&seed) % 4);
		if (k > N_ROUNDS)
			k = N_ROUNDS;
		uint64_t t = caller_token(id, k);
		int r = shmelect_fence_check(f, t);

		if (r == 1) {
			hm->c[id].accepted++;
			if (t <= hm->c[id].last_accepted)
				hm->c[id].not_monotonic++;
			hm->c[id].last_accepted = t;
			if (shmelect_fence_highest(f) < t)
				hm->c[id].accept_below++;
			if (shmelect_fence_check(f, t - 1) != 0)
				hm->c[id].own_older_ok++;
			/* publish: T has been accepted */
			uint64_t p = __atomic_load_n(&hm->published, __ATOMIC_RELAXED);
			while (p < t && !__atomic_compare_exchange_n(&hm->published, &p, t, true, __ATOMIC_SEQ_CST,
								     __ATOMIC_RELAXED))
				;
		} else if (r == 0) {
			hm->c[id].rejected++;
			if (shmelect_fence_highest(f) <= t)
				hm->c[id].reject_above++;
		} else
			hm->c[id].bad_result++;

		/* any caller, later: a token below one accepted by anyone fails */
		uint64_t p = __atomic_load_n(&hm->published, __ATOMIC_SEQ_CST);
		if (p > 1 && shmelect_fence_check(f, p - 1) != 0)
			hm->c[id].published_older_ok++;
	}
	/* the last token, by construction the caller's largest */
	__atomic_store_n(&hm->c[id].done, 1, __ATOMIC_RELEASE);
}

static void *hammer_thread(void *arg)
{
	hammer_run((int)(intptr_t)arg);
	return NULL;
}

static int hammer_process(void *arg)
{
	hammer_run((int)(intptr_t)arg);
	return 0;
}

Test(fence, concurrent_threads_and_processes, .timeout = 60)
{
	pthread_t th[N_THREADS];
	pid_t pids[N_PROCS];

	hm = shared_alloc(sizeof(*hm));
	/* processes first, then threads: fork from a single-threaded process */
	for (int i = 0; i < N_PROCS; i++)
		pids[i] = spawn(hammer_process, (void *)(intptr_t)(N_THREADS + i));
	for (int i = 0; i < N_THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, hammer_thread, (void *)(intptr_t)i), 0);
	__atomic_store_n(&hm->go, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N_PROCS; i++)
		expect_child_ok(pids[i], "fence hammer");

	uint64_t max = 0, accepted = 0, rejected = 0;
	for (int id = 0; id < N_CALLERS; id++) {
		uint64_t last = caller_token(id, N_ROUNDS);
		if (last > max)
			max = last;
		cr_expect_eq(hm->c[id].done, 1, "caller %d finished", id);
		cr_expect_eq(hm->c[id].bad_result, 0, "caller %d: check() returned an error", id);
		cr_expect_eq(hm->c[id].not_monotonic, 0, "caller %d: accepted tokens went backwards", id);
		cr_expect_eq(hm->c[id].accept_below, 0, "caller %d: accepted T but highest < T", id);
		cr_expect_eq(hm->c[id].own_older_ok, 0, "caller %d: accepted T, then T-1", id);
		cr_expect_eq(hm->c[id].reject_above, 0, "caller %d: rejected T with highest <= T", id);
		cr_expect_eq(hm->c[id].published_older_ok, 0,
			     "caller %d: T-1 accepted after another caller's T was accepted", id);
		accepted += hm->c[id].accepted;
		rejected += hm->c[id].rejected;
	}
	cr_expect_eq(shmelect_fence_highest(&hm->fence), max, "highest %" PRIu64 " != max token %" PRIu64,
		     shmelect_fence_highest(&hm->fence), max);
	cr_expect_gt(accepted, 0);
	cr_expect_gt(rejected, 0, "the callers never contended: the test proves little");
}

/* ------------------------------------------------------------------ */
/* The election's fence                                                 */
/* ------------------------------------------------------------------ */

Test(fence, election_fence_shared_between_handles)
{
	const char *name = shm_name("efence");
	struct shmelect_segment *s1 = open_seg(name, SHMELECT_SEGMENT_CREATE, 4, 4);
	struct shmelect_segment *s2 = open_seg(name, 0, 0, 0);
	struct shmelect_election *e1 = open_election(s1, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_election *e2 = open_election(s2, "svc", 0);
	struct shmelect_fence *f1 = NULL, *f2 = NULL;
	uint64_t tok_a, tok_b;

	cr_assert_eq(shmelect_election_fence(e1, &f1), 0);
	cr_assert_eq(shmelect_election_fence(e2, &f2), 0);
	cr_expect_eq(shmelect_fence_highest(f1), 0);

	/* a leader of term 1 writes; a paused one of an older term is refused */
	struct shmelect_candidate *a = join(e1, "a", LONG_LEASE), *b = join(e2, "b", LONG_LEASE);
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok_a), 1);
	cr_expect_eq(shmelect_fence_check(f1, tok_a), 1);
	cr_expect_eq(shmelect_fence_highest(f2), tok_a, "the fence lives in the segment");
	cr_assert_eq(shmelect_election_evict(e2), 1);
	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok_b), 1);
	cr_expect_eq(shmelect_fence_check(f2, tok_b), 1);
	cr_expect_eq(shmelect_fence_check(f1, tok_a), 0, "the old leader's token is fenced off");
	cr_expect_eq(shmelect_fence_highest(f1), tok_b);

	/* it persists: a new handle sees the same mark */
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	shmelect_election_close(e2);
	shmelect_segment_close(s2);
	s2 = open_seg(name, 0, 0, 0);
	e2 = open_election(s2, "svc", 0);
	cr_assert_eq(shmelect_election_fence(e2, &f2), 0);
	cr_expect_eq(shmelect_fence_highest(f2), tok_b);

	shmelect_election_close(e2);
	shmelect_election_close(e1);
	shmelect_segment_close(s2);
	shmelect_segment_close(s1);
}

static struct shmelect_fence *child_fence;

static int fence_child(void *arg)
{
	uint64_t base = (uint64_t)(uintptr_t)arg;

	CHILD_CHECK(shmelect_fence_check(child_fence, base - 1) == 0);
	CHILD_CHECK(shmelect_fence_check(child_fence, base + 10) == 1);
	return 0;
}

Test(fence, election_fence_across_processes, .timeout = 10)
{
	const char *name = shm_name("efence-fork");
	struct shmelect_segment *s = open_seg(name, SHMELECT_SEGMENT_CREATE, 4, 4);
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);

	cr_assert_eq(shmelect_election_fence(e, &child_fence), 0);
	cr_assert_eq(shmelect_fence_check(child_fence, 1000), 1);
	expect_child_ok(spawn(fence_child, (void *)(uintptr_t)1000), "fence in a child");
	cr_expect_eq(shmelect_fence_highest(child_fence), 1010, "the child's advance is seen by the parent");
	shmelect_election_close(e);
	shmelect_segment_close(s);
}
