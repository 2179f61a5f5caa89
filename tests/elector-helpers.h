/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers for test-elector and test-wait.
 *
 * - A fixture: one segment named after the test worker's pid and the test's
 *   name, one election "e" in it; teardown kills the children the test
 *   forked and unlinks the segment (it runs after a failed assertion too,
 *   but not after cr_skip_test(): tests skip through fx_skip()).
 * - An event log in shared memory (MAP_SHARED|MAP_ANONYMOUS, so children
 *   forked later write into it): elector callbacks append to it with the
 *   time and the elector's is_leader() at that moment.
 * - Agents: a forked child that runs one elector (background thread, or
 *   run() in its main thread) and obeys one-byte commands on a pipe.
 * - Children never call cr_assert: they report through shared memory and
 *   their exit status, and the parent asserts.
 *
 * Diagnostics go to stderr: stdout is the TAP stream under automake.
 * Waits give up after a bound far above any normal latency, only so that a
 * failure says what did not happen; no test asserts that anything was fast.
 *
 * Only static functions: each test binary includes this once.
 */
#ifndef SHMELECT_TESTS_ELECTOR_HELPERS_H
#define SHMELECT_TESTS_ELECTOR_HELPERS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "shmelect.h"
#include "internal.h" /* election waiter count, to know a follower sleeps */

#define MS  (UINT64_C(1000000))
#define SEC (UINT64_C(1000000000))

/* How long a test waits for something that must happen before it gives up
 * and fails with a message (the .timeout of the test is larger). */
#define GIVE_UP (15 * SEC)

/* ------------------------------------------------------------------ */
/* Time                                                                 */
/* ------------------------------------------------------------------ */

static inline void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / SEC), (long)(ns % SEC) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sleep until the host clock reaches t. */
static inline void sleep_until(uint64_t t)
{
	for (uint64_t now; (now = shmelect_now_ns()) < t;)
		sleep_ns(t - now);
}

/* ------------------------------------------------------------------ */
/* Fixture                                                              */
/* ------------------------------------------------------------------ */

#define FX_MAX_CHILDREN 16

static char fx_shm[NAME_MAX + 1];
static struct shmelect_segment *fx_seg;
static struct shmelect_election *fx_e;
static pid_t fx_children[FX_MAX_CHILDREN];
static int fx_n_children;

static inline void fx_setup(void)
{
	struct shmelect_segment_params p = { .max_elections = 4, .max_candidates = 8 };
	int r;

	snprintf(fx_shm, sizeof(fx_shm), "shmelect-t-%d-%s", (int)getpid(),
		 criterion_current_test ? criterion_current_test->name : "x");
	shmelect_segment_unlink(fx_shm, 0); /* a leftover of a run with the same pid */
	r = shmelect_segment_open(fx_shm, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, &p, &fx_seg);
	cr_assert_eq(r, 0, "segment_open(%s): %s", fx_shm, strerror(-r));
	r = shmelect_election_open(fx_seg, "e", SHMELECT_ELECTION_CREATE, &fx_e);
	cr_assert_eq(r, 0, "election_open: %s", strerror(-r));
}

static inline void fx_teardown(void)
{
	for (int i = 0; i < fx_n_children; i++) {
		if (fx_children[i] <= 0)
			continue;
		kill(fx_children[i], SIGKILL);
		while (waitpid(fx_children[i], NULL, 0) < 0 && errno == EINTR)
			;
	}
	fx_n_children = 0;
	fx_e = shmelect_election_close(fx_e);
	fx_seg = shmelect_segment_close(fx_seg);
	if (fx_shm[0])
		shmelect_segment_unlink(fx_shm, 0);
	fx_shm[0] = 0;
}

/* cr_skip_test() ends the test without running .fini: clean up first. */
#define fx_skip(...)                                                                          \
	do {                                                                                  \
		fx_teardown();                                                                \
		cr_skip_test(__VA_ARGS__);                                                    \
	} while (0)

/* Memory shared with children forked after this call. */
static inline void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED, "mmap: %s", strerror(errno));
	return p;
}

/* Fork a child that dies with the test; the parent tracks it for teardown.
 * Returns 0 in the child, its pid in the parent. */
static inline pid_t fx_fork(void)
{
	pid_t parent = getpid(), pid;

	cr_assert_lt(fx_n_children, FX_MAX_CHILDREN);
	fflush(stderr);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
		return 0;
	}
	fx_children[fx_n_children++] = pid;
	return pid;
}

static inline void fx_forget(pid_t pid)
{
	for (int i = 0; i < fx_n_children; i++)
		if (fx_children[i] == pid)
			fx_children[i] = 0;
}

/* Reap a child: its exit status, or 128 + the signal that killed it. */
static inline int fx_reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	fx_forget(pid);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* Stop a child and wait until it is stopped for sure. */
static inline void fx_sigstop(pid_t pid)
{
	int st;

	cr_assert_eq(kill(pid, SIGSTOP), 0);
	cr_assert_eq(waitpid(pid, &st, WUNTRACED), pid);
	cr_assert(WIFSTOPPED(st), "child %d not stopped (status %#x)", (int)pid, st);
}

/* In a child: report a failed check through the exit status. */
#define CHILD_CHECK(cond, code)                                                               \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: child %d: check failed: %s\n", __FILE__,     \
				__LINE__, (int)getpid(), #cond);                              \
			_exit(code);                                                          \
		}                                                                             \
	} while (0)

/* Number of processes sleeping on the election's change word. */
static inline uint32_t election_waiters(struct shmelect_election *e)
{
	return __atomic_load_n(&e->rec->waiters, __ATOMIC_SEQ_CST);
}

/* Wait until at least n followers sleep in the election. */
static inline void wait_for_waiters(struct shmelect_election *e, uint32_t n)
{
	uint64_t end = shmelect_now_ns() + GIVE_UP;

	while (election_waiters(e) < n) {
		cr_assert_lt(shmelect_now_ns(), end, "nobody started waiting");
		sleep_ns(MS);
	}
}

static inline struct shmelect_record observe(struct shmelect_election *e)
{
	struct shmelect_record rec;
	int r;

	memset(&rec, 0xa5, sizeof(rec));
	r = shmelect_election_observe(e, &rec, NULL, 0);
	cr_assert_geq(r, 0, "observe: %s", strerror(-r));
	return rec;
}

static inline struct shmelect_candidate *join(struct shmelect_election *e, const char *id,
					      uint64_t lease)
{
	struct shmelect_candidate *c = NULL;
	int r = shmelect_candidate_join(e, id, lease, 0, &c);

	cr_assert_eq(r, 0, "join(%s): %s", id ? id : "(null)", strerror(-r));
	return c;
}

/* Resident set size of a process in KiB, or -1. */
static inline long vm_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* ------------------------------------------------------------------ */
/* Event log                                                            */
/* ------------------------------------------------------------------ */

enum { EV_NEW_LEADER = 1, EV_STARTED = 2, EV_STOPPED = 3 };

#define EV_MAX 1024

struct ev {
	uint32_t kind;         /* written last (release): 0 = not yet complete */
	int32_t is_leader;     /* shmelect_elector_is_leader() inside the callback */
	uint64_t token;
	uint64_t t_ns;         /* shmelect_now_ns() inside the callback */
	char id[SHMELECT_IDENTITY_MAX + 1]; /* new_leader's identity; "" for NULL */
};

struct evlog {
	uint32_t next;         /* entries reserved */
	uint32_t overflow;
	struct ev ev[EV_MAX];
};

static inline const char *ev_name(uint32_t kind)
{
	switch (kind) {
	case EV_NEW_LEADER: return "new_leader";
	case EV_STARTED:    return "started_leading";
	case EV_STOPPED:    return "stopped_leading";
	default:            return "?";
	}
}

static inline void ev_add(struct evlog *log, uint32_t kind, int is_leader, uint64_t token,
			  const char *id)
{
	uint32_t i = __atomic_fetch_add(&log->next, 1, __ATOMIC_ACQ_REL);

	if (i >= EV_MAX) {
		__atomic_store_n(&log->overflow, 1, __ATOMIC_RELEASE);
		return;
	}
	log->ev[i].is_leader = is_leader;
	log->ev[i].token = token;
	log->ev[i].t_ns = shmelect_now_ns();
	snprintf(log->ev[i].id, sizeof(log->ev[i].id), "%s", id ? id : "");
	__atomic_store_n(&log->ev[i].kind, kind, __ATOMIC_RELEASE);
}

/* Complete entries at the head of the log. */
static inline int ev_count(const struct evlog *log)
{
	int n = 0;

	while (n < EV_MAX && __atomic_load_n(&log->ev[n].kind, __ATOMIC_ACQUIRE))
		n++;
	return n;
}

static inline void ev_dump(const struct evlog *log, const char *who)
{
	int n = ev_count(log);

	fprintf(stderr, "events of %s (%d):\n", who, n);
	for (int i = 0; i < n; i++)
		fprintf(stderr, "  %2d %-16s token %" PRIu64 " id '%s' is_leader %d t %" PRIu64 "\n", i,
			ev_name(log->ev[i].kind), log->ev[i].token, log->ev[i].id, log->ev[i].is_leader,
			log->ev[i].t_ns);
}

/* Index of the first event of this kind at or after `from`, or -1. */
static inline int ev_find(const struct evlog *log, int from, uint32_t kind)
{
	int n = ev_count(log);

	for (int i = from; i < n; i++)
		if (log->ev[i].kind == kind)
			return i;
	return -1;
}

/* Wait for an event of this kind at or after `from`; fails the test (after
 * dumping the log) if it does not come. */
static inline int ev_wait(const struct evlog *log, int from, uint32_t kind, const char *who)
{
	uint64_t end = shmelect_now_ns() + GIVE_UP;
	int i;

	while ((i = ev_find(log, from, kind)) < 0) {
		if (shmelect_now_ns() > end) {
			ev_dump(log, who);
			cr_assert_fail("%s: no %s event after #%d", who, ev_name(kind), from);
		}
		sleep_ns(MS);
	}
	return i;
}

/* Count events of this kind. */
static inline int ev_count_kind(const struct evlog *log, uint32_t kind)
{
	int n = ev_count(log), k = 0;

	for (int i = 0; i < n; i++)
		k += log->ev[i].kind == kind;
	return k;
}

/* 1 if the last started/stopped event says we lead. */
static inline int ev_leading(const struct evlog *log)
{
	int n = ev_count(log);

	for (int i = n - 1; i >= 0; i--) {
		if (log->ev[i].kind == EV_STARTED)
			return 1;
		if (log->ev[i].kind == EV_STOPPED)
			return 0;
	}
	return 0;
}

static void cb_started(struct shmelect_elector *el, uint64_t token, void *ud)
{
	ev_add(ud, EV_STARTED, shmelect_elector_is_leader(el), token, NULL);
}

static void cb_stopped(struct shmelect_elector *el, uint64_t token, void *ud)
{
	ev_add(ud, EV_STOPPED, shmelect_elector_is_leader(el), token, NULL);
}

static void cb_new_leader(struct shmelect_elector *el, const char *id, uint64_t token, void *ud)
{
	ev_add(ud, EV_NEW_LEADER, shmelect_elector_is_leader(el), token, id);
}

static const struct shmelect_elector_callbacks log_callbacks = {
	.started_leading = cb_started,
	.stopped_leading = cb_stopped,
	.new_leader = cb_new_leader,
};

static inline struct evlog *evlog_new(void)
{
	return shared_alloc(sizeof(struct evlog));
}

/* A config: lease > renew deadline > retry period. */
static inline struct shmelect_elector_config elector_config(const char *id, uint64_t lease,
							    uint64_t renew_deadline, uint64_t retry)
{
	struct shmelect_elector_config c = {
		.identity = id,
		.lease_ns = lease,
		.renew_deadline_ns = renew_deadline,
		.retry_period_ns = retry,
	};
	return c;
}

static inline struct shmelect_elector *elector_new(struct shmelect_election *e,
						   const struct shmelect_elector_config *cfg,
						   struct evlog *log)
{
	struct shmelect_elector *el = NULL;
	int r = shmelect_elector_new(e, cfg, &log_callbacks, log, &el);

	cr_assert_eq(r, 0, "elector_new(%s): %s", cfg->identity ? cfg->identity : "(null)",
		     strerror(-r));
	return el;
}

/* ------------------------------------------------------------------ */
/* Agents: an elector in a child process                                */
/* ------------------------------------------------------------------ */

enum { AGENT_START = 0, AGENT_RUN = 1 };

struct agent_shared {
	struct evlog log;
	int32_t ready;          /* 1: elector created (and started) */
	int32_t new_result;     /* shmelect_elector_new's return */
	int32_t run_result;     /* run()'s return (AGENT_RUN) */
	int32_t freed;          /* 1: shmelect_elector_free returned */
};

struct agent {
	pid_t pid;
	int cmd;                /* write end of the command pipe */
	struct agent_shared *sh;
	char id[SHMELECT_IDENTITY_MAX + 1];
};

struct agent_cmd_ctx {
	int fd;
	struct shmelect_elector *el;
};

/* AGENT_RUN: a thread that turns 'q' into shmelect_elector_stop(). */
static void *agent_cmd_thread(void *arg)
{
	struct agent_cmd_ctx *ctx = arg;
	char c;

	while (read(ctx->fd, &c, 1) == 1)
		if (c == 'q')
			break;
	shmelect_elector_stop(ctx->el);
	return NULL;
}

/*
 * Fork an agent running an elector with cfg (identity copied) in the
 * fixture's election.  Commands: 'q' (stop, free the elector, exit 0);
 * 's' (AGENT_START only: shmelect_elector_stop() without freeing).
 * Waits until the elector exists.
 */
static inline struct agent agent_spawn(const struct shmelect_elector_config *cfg, int mode)
{
	struct agent a = { 0 };
	int fds[2];

	a.sh = shared_alloc(sizeof(*a.sh));
	snprintf(a.id, sizeof(a.id), "%s", cfg->identity);
	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
	a.pid = fx_fork();
	if (a.pid == 0) {
		struct shmelect_elector_config c = *cfg;
		struct shmelect_elector *el = NULL;
		char cmd;
		int r;

		close(fds[1]);
		c.identity = a.id;
		r = shmelect_elector_new(fx_e, &c, &log_callbacks, &a.sh->log, &el);
		__atomic_store_n(&a.sh->new_result, r, __ATOMIC_RELEASE);
		if (r < 0) {
			__atomic_store_n(&a.sh->ready, 1, __ATOMIC_RELEASE);
			_exit(2);
		}
		if (mode == AGENT_RUN) {
			struct agent_cmd_ctx ctx = { fds[0], el };
			pthread_t t;

			CHILD_CHECK(pthread_create(&t, NULL, agent_cmd_thread, &ctx) == 0, 3);
			__atomic_store_n(&a.sh->ready, 1, __ATOMIC_RELEASE);
			r = shmelect_elector_run(el);
			__atomic_store_n(&a.sh->run_result, r, __ATOMIC_RELEASE);
			pthread_join(t, NULL);
		} else {
			r = shmelect_elector_start(el);
			CHILD_CHECK(r == 0, 3);
			__atomic_store_n(&a.sh->ready, 1, __ATOMIC_RELEASE);
			while (read(fds[0], &cmd, 1) == 1 && cmd != 'q')
				if (cmd == 's')
					shmelect_elector_stop(el);
		}
		shmelect_elector_free(el);
		__atomic_store_n(&a.sh->freed, 1, __ATOMIC_RELEASE);
		_exit(0);
	}
	close(fds[0]);
	a.cmd = fds[1];
	{
		uint64_t end = shmelect_now_ns() + GIVE_UP;
		while (!__atomic_load_n(&a.sh->ready, __ATOMIC_ACQUIRE)) {
			cr_assert_lt(shmelect_now_ns(), end, "agent %s did not start", a.id);
			sleep_ns(MS);
		}
	}
	cr_assert_eq(a.sh->new_result, 0, "agent %s: elector_new: %s", a.id,
		     strerror(-a.sh->new_result));
	return a;
}

static inline void agent_cmd(struct agent *a, char c)
{
	cr_assert_eq(write(a->cmd, &c, 1), 1);
}

/* Tell an agent to free its elector and exit; returns its exit status. */
static inline int agent_quit(struct agent *a)
{
	int r;

	cr_assert_eq(write(a->cmd, "q", 1), 1);
	close(a->cmd);
	a->cmd = -1;
	r = fx_reap(a->pid);
	a->pid = 0;
	return r;
}

#endif
