/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Hot path: is_leader, renew and observe against their floor (a vDSO clock
 * read plus a load, or plus a 16-byte CAS) and against the kernel locks a
 * single-host election could otherwise be built on.
 *
 * Each sample times a batch of BATCH operations and divides, so the cost of
 * reading the clock around the batch vanishes; median and p99 are over the
 * batches.  The syscall count per operation is exact (ptrace, syscount.c).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "internal.h" /* load_after(): the same instructions as is_leader */

#define BATCH 1000

struct hot {
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	struct shmelect_candidate *c;
	struct shmelect_record rec;
	struct shmelect_member members[4];
	struct shmelect_fence *fence;
	uint64_t token;
	int fd_flock, fd_ofd, semid;
	pthread_mutex_t *robust;
	unsigned __int128 *word128;
	volatile uint64_t *word64;
	volatile uint64_t sink;
};

static void op_floor_load(void *ud)
{
	struct hot *h = ud;
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	h->sink += (uint64_t)ts.tv_nsec + __atomic_load_n(h->word64, __ATOMIC_ACQUIRE);
}

/* is_leader's own sequence, bare (no call into the library, no fork or
 * term check): load lo and hi, read the clock, load lo again with its
 * address made to depend on the clock value (the library's own
 * header-only load_after()).  What is_leader costs above this is the
 * library call and its checks; what this costs above the floor is what
 * invariant 1 needs. */
static void op_floor_sequence(void *ud)
{
	struct hot *h = ud;
	const uint64_t *w = (const uint64_t *)h->word128;
	struct timespec ts;
	uint64_t lo, hi, now;

	lo = __atomic_load_n(&w[0], __ATOMIC_ACQUIRE);
	hi = __atomic_load_n(&w[1], __ATOMIC_ACQUIRE);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	h->sink += (now < hi) + (load_after(&w[0], now) == lo);
}

static void op_floor_cas(void *ud)
{
	struct hot *h = ud;
	struct timespec ts;
	unsigned __int128 old = *h->word128;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	__sync_bool_compare_and_swap(h->word128, old, old + (uint64_t)ts.tv_nsec);
}

static void op_is_leader(void *ud)
{
	struct hot *h = ud;
	h->sink += (uint64_t)shmelect_candidate_is_leader(h->c);
}

static void op_renew(void *ud)
{
	struct hot *h = ud;
	h->sink += (uint64_t)shmelect_candidate_renew(h->c);
}

static void op_try_acquire(void *ud)
{
	struct hot *h = ud;
	h->sink += (uint64_t)shmelect_candidate_try_acquire(h->c, NULL);
}

static void op_observe(void *ud)
{
	struct hot *h = ud;
	h->sink += (uint64_t)shmelect_election_observe(h->e, &h->rec, h->members, 4);
}

static void op_fence(void *ud)
{
	struct hot *h = ud;
	h->sink += (uint64_t)shmelect_fence_check(h->fence, h->token);
}

static void op_flock(void *ud)
{
	struct hot *h = ud;
	flock(h->fd_flock, LOCK_EX);
	flock(h->fd_flock, LOCK_UN);
}

static void op_ofd(void *ud)
{
	struct hot *h = ud;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	fcntl(h->fd_ofd, F_OFD_SETLK, &fl);
	fl.l_type = F_UNLCK;
	fcntl(h->fd_ofd, F_OFD_SETLK, &fl);
}

static void op_robust(void *ud)
{
	struct hot *h = ud;
	if (pthread_mutex_trylock(h->robust) == 0)
		pthread_mutex_unlock(h->robust);
}

static void op_semop(void *ud)
{
	struct hot *h = ud;
	struct sembuf p = { 0, -1, SEM_UNDO }, v = { 0, 1, SEM_UNDO };

	semop(h->semid, &p, 1);
	semop(h->semid, &v, 1);
}

static void measure(const char *name, void (*op)(void *), struct hot *h, const char *note)
{
	unsigned batches = opt_quick ? 200 : 2000;
	uint64_t *s = calloc(batches, sizeof(*s));
	struct result r = { .section = "hot path", .name = name };

	for (unsigned i = 0; i < 50; i++)
		op(h); /* warm */
	for (unsigned b = 0; b < batches; b++) {
		uint64_t t0 = now_ns();
		for (unsigned i = 0; i < BATCH; i++)
			op(h);
		s[b] = (now_ns() - t0);
	}
	result_from_samples(&r, s, batches);
	r.median_ns /= BATCH;
	r.p99_ns /= BATCH;
	r.syscalls = count_syscalls(op, h, 1000);
	if (note)
		snprintf(r.note, sizeof(r.note), "%s", note);
	result_add(&r);
	free(s);
}

void bench_hotpath(void)
{
	struct hot h = { 0 };
	char name[96], path[] = "/tmp/shmelect-bench-lockXXXXXX";
	pthread_mutexattr_t a;
	int r;

	pin_cpu(0);
	bench_segment_name(name, sizeof(name), "hot");
	r = shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, NULL, &h.seg);
	if (r >= 0)
		r = shmelect_election_open(h.seg, "hot", SHMELECT_ELECTION_CREATE, &h.e);
	if (r >= 0)
		r = shmelect_candidate_join(h.e, "bench", SHMELECT_LEASE_MAX_NS, 0, &h.c);
	if (r >= 0)
		r = shmelect_candidate_try_acquire(h.c, &h.token);
	if (r >= 0)
		r = shmelect_election_fence(h.e, &h.fence);
	if (r < 0) {
		fprintf(stderr, "hotpath: setup failed: %s\n", strerror(-r));
		return;
	}

	h.word128 = shared_alloc(4096);
	h.word64 = (volatile uint64_t *)h.word128;
	h.fd_flock = mkstemp(path);
	h.fd_ofd = open(path, O_RDWR | O_CLOEXEC);
	unlink(path);
	h.robust = shared_alloc(4096);
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(h.robust, &a);
	h.semid = semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
	if (h.semid >= 0)
		semctl(h.semid, 0, SETVAL, 1);

	measure("floor: vDSO clock + load", op_floor_load, &h, NULL);
	measure("floor: is_leader's sequence, bare", op_floor_sequence, &h,
		"load lo, hi; clock; load lo after it");
	measure("is_leader", op_is_leader, &h, "lo, hi, clock, lo again; fork and term checks");
	measure("floor: vDSO clock + 16-byte CAS", op_floor_cas, &h, NULL);
	measure("renew", op_renew, &h, "lease read + clock + cmpxchg16b");
	measure("try_acquire (held: renew path)", op_try_acquire, &h, NULL);
	measure("observe (2 of 32 slots used)", op_observe, &h, "validated snapshot");
	measure("fence check (same token)", op_fence, &h, NULL);
	measure("flock lock+unlock", op_flock, &h, NULL);
	measure("OFD lock+unlock", op_ofd, &h, NULL);
	measure("robust mutex trylock+unlock", op_robust, &h, "pshared, robust");
	if (h.semid >= 0)
		measure("SysV semop P+V (SEM_UNDO)", op_semop, &h, NULL);

	if (h.semid >= 0)
		semctl(h.semid, 0, IPC_RMID);
	close(h.fd_flock);
	close(h.fd_ofd);
	shmelect_candidate_leave(h.c);
	shmelect_election_close(h.e);
	shmelect_segment_close(h.seg);
	shmelect_segment_unlink(name, 0);
}
