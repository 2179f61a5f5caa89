/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Failover: voluntary handover against a raw futex wake-to-run, crash
 * failover against the same death seen through a robust mutex, a pidfd and
 * a blocked flock (small leader and 256 MiB leader), and hang failover's
 * excess over the lease.
 *
 * All latencies are host monotonic clock differences between an event in
 * one process (the resign, the kill(2) call) and the moment the waiting
 * process runs again and knows.  The two processes are pinned to different
 * CPUs where there are two.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_SAMPLES 4096

struct shared {
	uint64_t t0;
	uint64_t samples[MAX_SAMPLES];
	uint32_t n;
	uint32_t turn;      /* futex word */
	uint32_t ready;
	uint32_t stop;
	pthread_mutex_t mutex;
};

static void sleep_us(unsigned us)
{
	struct timespec ts = { us / 1000000, (long)(us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

static void futex_wait(uint32_t *w, uint32_t v)
{
	syscall(SYS_futex, w, FUTEX_WAIT, v, NULL, NULL, 0);
}

static void futex_wake(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static void open_election(const char *what, struct shmelect_segment **seg, struct shmelect_election **e,
			  char *name, size_t size)
{
	bench_segment_name(name, size, what);
	if (shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, NULL, seg) < 0 ||
	    shmelect_election_open(*seg, "x", SHMELECT_ELECTION_CREATE, e) < 0) {
		fprintf(stderr, "bench: cannot create segment %s\n", name);
		exit(1);
	}
}

/* ---- handover ------------------------------------------------------------ */

/* Two processes pass leadership back and forth: the leader stamps t0 and
 * resigns; the other, blocked in shmelect_candidate_wait(), stamps t1. */
static void handover_player(struct shared *sh, const char *segname, int me, unsigned rounds)
{
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	struct shmelect_candidate *c;
	char id[16];
	uint64_t tok;

	pin_cpu(me);
	snprintf(id, sizeof(id), "p%d", me);
	shmelect_segment_open(segname, 0, NULL, &seg);
	shmelect_election_open(seg, "x", 0, &e);
	shmelect_candidate_join(e, id, SHMELECT_LEASE_MAX_NS, 0, &c);
	if (me == 0)
		shmelect_candidate_try_acquire(c, &tok);
	__atomic_fetch_add(&sh->ready, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < 2)
		sleep_us(100);
	for (;;) {
		if (shmelect_candidate_is_leader(c) == 1) {
			if (__atomic_load_n(&sh->n, __ATOMIC_SEQ_CST) >= rounds)
				break;
			uint32_t before = __atomic_load_n(&sh->n, __ATOMIC_SEQ_CST);
			sleep_us(3000); /* let the other block in the kernel */
			__atomic_store_n(&sh->t0, now_ns(), __ATOMIC_SEQ_CST);
			shmelect_candidate_resign(c);
			/* do not contend ourselves until the other has taken
			 * over: only its wake-up is the measurement */
			while (__atomic_load_n(&sh->n, __ATOMIC_SEQ_CST) == before &&
			       !__atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST))
				sleep_us(200);
		}
		if (shmelect_candidate_wait(c, 500000000, &tok) == 1) {
			uint64_t t1 = now_ns();
			uint32_t i = __atomic_fetch_add(&sh->n, 1, __ATOMIC_SEQ_CST);
			if (i < MAX_SAMPLES)
				sh->samples[i] = t1 - __atomic_load_n(&sh->t0, __ATOMIC_SEQ_CST);
		} else if (__atomic_load_n(&sh->n, __ATOMIC_SEQ_CST) >= rounds) {
			break;
		}
	}
	__atomic_store_n(&sh->stop, 1, __ATOMIC_SEQ_CST);
	shmelect_candidate_leave(c);
	_exit(0);
}

static void futex_player(struct shared *sh, int me, unsigned rounds)
{
	pin_cpu(me);
	for (;;) {
		uint32_t t = __atomic_load_n(&sh->turn, __ATOMIC_SEQ_CST);
		if (t >= 2 * rounds)
			break;
		if ((t & 1) == (uint32_t)me) {
			sleep_us(3000);
			__atomic_store_n(&sh->t0, now_ns(), __ATOMIC_SEQ_CST);
			__atomic_store_n(&sh->turn, t + 1, __ATOMIC_SEQ_CST);
			futex_wake(&sh->turn);
		} else {
			futex_wait(&sh->turn, t);
			if (__atomic_load_n(&sh->turn, __ATOMIC_SEQ_CST) != t) {
				uint64_t t1 = now_ns();
				uint32_t i = __atomic_fetch_add(&sh->n, 1, __ATOMIC_SEQ_CST);
				if (i < MAX_SAMPLES)
					sh->samples[i] = t1 - __atomic_load_n(&sh->t0, __ATOMIC_SEQ_CST);
			}
		}
	}
	_exit(0);
}

static void collect(const char *section, const char *name, struct shared *sh, const char *file,
		    const char *note)
{
	struct result r = { .section = section, .name = name, .syscalls = -1 };
	size_t n = sh->n < MAX_SAMPLES ? sh->n : MAX_SAMPLES;

	result_from_samples(&r, sh->samples, n);
	snprintf(r.note, sizeof(r.note), "%zu samples%s%s", n, note ? "; " : "", note ? note : "");
	if (file)
		write_samples(file, sh->samples, n);
	result_add(&r);
}

void bench_handover(void)
{
	unsigned rounds = opt_quick ? 100 : 500;
	struct shared *sh = shared_alloc(sizeof(*sh));
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	char name[96];
	pid_t a, b;

	open_election("handover", &seg, &e, name, sizeof(name));
	if (!(a = fork()))
		handover_player(sh, name, 0, rounds);
	if (!(b = fork()))
		handover_player(sh, name, 1, rounds);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	collect("handover", "handover: resign -> follower leads", sh, "handover.dat",
		"follower asleep in shmelect_candidate_wait");
	shmelect_election_close(e);
	shmelect_segment_close(seg);
	shmelect_segment_unlink(name, 0);

	memset(sh, 0, sizeof(*sh));
	if (!(a = fork()))
		futex_player(sh, 0, rounds);
	if (!(b = fork()))
		futex_player(sh, 1, rounds);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	collect("handover", "raw futex wake-to-run", sh, "futex.dat", "FUTEX_WAKE -> FUTEX_WAIT returns");
}

/* ---- crash --------------------------------------------------------------- */

enum crash_kind { CRASH_SHMELECT, CRASH_ROBUST, CRASH_PIDFD, CRASH_FLOCK };

struct crash_ctx {
	struct shared *sh;
	enum crash_kind kind;
	const char *segname;
	const char *lockpath;
	size_t leader_bytes;
};

static void crash_leader(struct crash_ctx *x, int ready_fd)
{
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	struct shmelect_candidate *c;
	uint64_t tok;
	int fd;

	pin_cpu(0);
	if (x->leader_bytes) {
		char *m = malloc(x->leader_bytes);
		if (m)
			memset(m, 1, x->leader_bytes); /* resident, to make teardown long */
	}
	switch (x->kind) {
	case CRASH_SHMELECT:
	case CRASH_PIDFD:
		shmelect_segment_open(x->segname, 0, NULL, &seg);
		shmelect_election_open(seg, "x", 0, &e);
		shmelect_candidate_join(e, "leader", 10 * UINT64_C(1000000000), 0, &c);
		shmelect_candidate_try_acquire(c, &tok);
		break;
	case CRASH_ROBUST:
		pthread_mutex_lock(&x->sh->mutex);
		break;
	case CRASH_FLOCK:
		fd = open(x->lockpath, O_RDWR | O_CLOEXEC);
		flock(fd, LOCK_EX);
		break;
	}
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static void crash_follower(struct crash_ctx *x, pid_t leader, int ready_fd)
{
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	struct shmelect_candidate *c = NULL;
	uint64_t tok, t1 = 0;
	int fd = -1, pidfd = -1, r;

	pin_cpu(1);
	switch (x->kind) {
	case CRASH_SHMELECT:
		shmelect_segment_open(x->segname, 0, NULL, &seg);
		shmelect_election_open(seg, "x", 0, &e);
		shmelect_candidate_join(e, "follower", 10 * UINT64_C(1000000000), 0, &c);
		break;
	case CRASH_PIDFD:
		pidfd = (int)syscall(SYS_pidfd_open, leader, 0);
		break;
	case CRASH_FLOCK:
		fd = open(x->lockpath, O_RDWR | O_CLOEXEC);
		break;
	default:
		break;
	}
	if (write(ready_fd, "f", 1) != 1)
		_exit(1);
	switch (x->kind) {
	case CRASH_SHMELECT:
		r = shmelect_candidate_wait(c, 20 * UINT64_C(1000000000), &tok);
		t1 = now_ns();
		if (r != 1)
			t1 = 0;
		shmelect_candidate_leave(c);
		break;
	case CRASH_ROBUST:
		r = pthread_mutex_lock(&x->sh->mutex);
		t1 = now_ns();
		if (r == EOWNERDEAD) {
			pthread_mutex_consistent(&x->sh->mutex);
			pthread_mutex_unlock(&x->sh->mutex);
		} else {
			t1 = 0;
		}
		break;
	case CRASH_PIDFD: {
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		if (poll(&p, 1, 20000) == 1)
			t1 = now_ns();
		break;
	}
	case CRASH_FLOCK:
		if (flock(fd, LOCK_EX) == 0)
			t1 = now_ns();
		break;
	}
	if (t1) {
		uint32_t i = __atomic_fetch_add(&x->sh->n, 1, __ATOMIC_SEQ_CST);
		if (i < MAX_SAMPLES)
			x->sh->samples[i] = t1 - __atomic_load_n(&x->sh->t0, __ATOMIC_SEQ_CST);
	}
	_exit(0);
}

static void crash_series(const char *label, enum crash_kind kind, size_t bytes, const char *file)
{
	unsigned reps = opt_quick ? 8 : 30;
	struct shared *sh = shared_alloc(sizeof(*sh));
	struct crash_ctx x = { .sh = sh, .kind = kind, .leader_bytes = bytes };
	struct shmelect_segment *seg = NULL;
	struct shmelect_election *e = NULL;
	char name[96], lockpath[] = "/tmp/shmelect-bench-flockXXXXXX";
	pthread_mutexattr_t a;
	int lfd;

	if (kind == CRASH_SHMELECT || kind == CRASH_PIDFD) {
		open_election("crash", &seg, &e, name, sizeof(name));
		x.segname = name;
	}
	lfd = mkstemp(lockpath);
	close(lfd);
	x.lockpath = lockpath;

	for (unsigned i = 0; i < reps; i++) {
		int pr[2];
		char ch;
		pid_t l, f;

		if (kind == CRASH_ROBUST) {
			pthread_mutexattr_init(&a);
			pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
			pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
			pthread_mutex_init(&sh->mutex, &a);
		}
		if (pipe(pr) < 0)
			break;
		if (!(l = fork()))
			crash_leader(&x, pr[1]);
		if (read(pr[0], &ch, 1) != 1)
			break;
		if (!(f = fork()))
			crash_follower(&x, l, pr[1]);
		if (read(pr[0], &ch, 1) != 1)
			break;
		sleep_us(20000); /* the follower is asleep in the kernel by now */
		__atomic_store_n(&sh->t0, now_ns(), __ATOMIC_SEQ_CST);
		kill(l, SIGKILL);
		waitpid(l, NULL, 0);
		waitpid(f, NULL, 0);
		close(pr[0]);
		close(pr[1]);
	}
	collect("crash", label, sh, file, bytes ? "leader 256 MiB resident" : "leader small");
	unlink(lockpath);
	if (seg) {
		shmelect_election_close(e);
		shmelect_segment_close(seg);
		shmelect_segment_unlink(name, 0);
	}
}

void bench_crash(void)
{
	size_t big = (size_t)256 << 20;

	crash_series("crash: shmelect, small leader", CRASH_SHMELECT, 0, "crash-shmelect-small.dat");
	crash_series("crash: robust mutex EOWNERDEAD, small", CRASH_ROBUST, 0, "crash-robust-small.dat");
	crash_series("crash: pidfd readable, small", CRASH_PIDFD, 0, "crash-pidfd-small.dat");
	crash_series("crash: blocked flock granted, small", CRASH_FLOCK, 0, "crash-flock-small.dat");
	crash_series("crash: shmelect, 256 MiB leader", CRASH_SHMELECT, big, "crash-shmelect-big.dat");
	crash_series("crash: robust mutex EOWNERDEAD, 256 MiB", CRASH_ROBUST, big, "crash-robust-big.dat");
	crash_series("crash: pidfd readable, 256 MiB", CRASH_PIDFD, big, "crash-pidfd-big.dat");
	crash_series("crash: blocked flock granted, 256 MiB", CRASH_FLOCK, big, "crash-flock-big.dat");
}

/* ---- hang ---------------------------------------------------------------- */

static void hang_series(uint64_t lease_ms, unsigned reps)
{
	struct shared *sh = shared_alloc(sizeof(*sh));
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	char name[96], label[96], file[64];
	uint64_t lease = lease_ms * 1000000;

	open_election("hang", &seg, &e, name, sizeof(name));
	for (unsigned i = 0; i < reps; i++) {
		struct shmelect_record rec;
		int pr[2], st;
		char ch;
		pid_t l, f;

		if (pipe(pr) < 0)
			break;
		if (!(l = fork())) {
			struct shmelect_candidate *c;
			uint64_t tok;
			pin_cpu(0);
			shmelect_candidate_join(e, "leader", lease, 0, &c);
			shmelect_candidate_try_acquire(c, &tok);
			if (write(pr[1], "r", 1) != 1)
				_exit(1);
			for (;;) {
				shmelect_candidate_renew(c);
				sleep_us((unsigned)(lease / 5000)); /* renew every lease/5 */
			}
		}
		if (read(pr[0], &ch, 1) != 1)
			break;
		if (!(f = fork())) {
			struct shmelect_candidate *c;
			uint64_t tok;
			pin_cpu(1);
			shmelect_candidate_join(e, "follower", lease, 0, &c);
			if (write(pr[1], "f", 1) != 1)
				_exit(1);
			if (shmelect_candidate_wait(c, 30 * UINT64_C(1000000000), &tok) == 1) {
				uint64_t t1 = now_ns();
				uint32_t k = __atomic_fetch_add(&sh->n, 1, __ATOMIC_SEQ_CST);
				if (k < MAX_SAMPLES)
					sh->samples[k] = t1 - __atomic_load_n(&sh->t0, __ATOMIC_SEQ_CST);
			}
			shmelect_candidate_leave(c);
			_exit(0);
		}
		if (read(pr[0], &ch, 1) != 1)
			break;
		sleep_us((unsigned)(lease / 2000));
		kill(l, SIGSTOP);
		waitpid(l, &st, WUNTRACED);
		/* the lease as the stopped leader last renewed it */
		shmelect_election_observe(e, &rec, NULL, 0);
		__atomic_store_n(&sh->t0, rec.expiry_ns, __ATOMIC_SEQ_CST);
		waitpid(f, NULL, 0);
		kill(l, SIGKILL);
		waitpid(l, NULL, 0);
		close(pr[0]);
		close(pr[1]);
	}
	snprintf(label, sizeof(label), "hang: excess over a %llu ms lease", (unsigned long long)lease_ms);
	snprintf(file, sizeof(file), "hang-%llums.dat", (unsigned long long)lease_ms);
	collect("hang", strdup(label), sh, file, "follower leads at expiry + this");
	shmelect_election_close(e);
	shmelect_segment_close(seg);
	shmelect_segment_unlink(name, 0);
}

void bench_hang(void)
{
	hang_series(10, opt_quick ? 10 : 40);
	hang_series(100, opt_quick ? 4 : 15);
	hang_series(1000, opt_quick ? 2 : 4);
}
