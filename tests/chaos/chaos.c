/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * chaos: candidate processes campaign in one election while a driver
 * SIGKILLs, SIGSTOPs and SIGCONTs them at random; then a checker reads what
 * they recorded and asserts the invariants of DESIGN.md that a run can
 * show: 1 (no overlap), 2 (tokens, fencing), 3 (liveness), 4 (nothing
 * wedges) and 5 (a stopped leader's stale writes are refused).
 *
 *   chaos [--candidates N] [--seconds S | --ops N] [--seed X] ...   (--help)
 *
 * Exit status: 0 no violation, 1 violations, 99 could not run.
 *
 * THE PARTS
 *
 * Driver.  Creates a private segment (unique name, removed at the end) and
 * a shared log (a memfd mapped MAP_SHARED before any fork, so every
 * candidate, restarted ones included, writes into the same pages).  Forks N
 * candidates, alternating two kinds:
 *
 *   elector  shmelect_elector_start() runs the elector in a background
 *            thread; the main thread is the worker that checks leadership;
 *   raw      one thread: shmelect_candidate_wait() with a timeout, or
 *            try_acquire() polling, renew() every retry period, resign()
 *            at random.
 *
 * Then, at random intervals (seeded), it picks a candidate (half of the time
 * the current holder) and SIGKILLs it (and forks a replacement, with the
 * same identity or a new one), SIGSTOPs it for 1-4 leases (then SIGCONTs
 * it), or leaves it.  It never stops or kills the last candidate that is
 * available (ready and not stopped).  Every signal is logged with its time.
 *
 * Leaders.  Both kinds, while they lead, loop:
 *
 *     t1 = now; r = shmelect_candidate_leadership(c, &token); t2 = now;
 *
 * r == 1 means the candidate believed it led at some clock value in
 * [t1, t2].  A tenure entry records start = t2 of its first true check (an
 * upper bound of the first belief) and end = t1 of its last true check (a
 * lower bound of the last belief), updated in place after every check, so
 * a SIGKILL mid-tenure leaves the last end.  Those bounds are sound: a
 * violation found with them is a real one, never an artefact of sampling.
 * After each true check the leader writes its token to a fenced resource,
 * and once more after its pause, without checking again, as a leader that
 * did some work under its token would: a SIGSTOP during the pause makes
 * that second write stale, and the fence must refuse it.
 *
 * Fenced resource.  write(token) = shmelect_fence_check() on a fence in the
 * shared log, then (if it said yes) an append to a log whose head is one
 * 128-bit word {highest token, count} swapped by cmpxchg16b, so that the
 * append itself is atomic and totally ordered.  Every fence call is logged
 * with the clock before and after it.
 *
 * Canary.  Threads of the driver sleep 1 ms in a loop and record how late
 * they wake (see "S" below); the candidates' own timed sleeps are recorded
 * the same way.
 *
 * THE CHECKS (after the run, on the shared log)
 *
 * 1. No overlap.  Entries are grouped by token (one token = one term).  A
 *    term's interval [min start, max end] lies inside the span between its
 *    first and its last belief, and the lease word's lo never returns to an
 *    old value, so the term held the lease word throughout: no other term
 *    can have believed in it.  Two terms whose intervals touch or overlap
 *    are a violation.
 * 2. Tokens.  Each token belongs to one process, and for tokens a < b every
 *    belief of a precedes every belief of b: max end(a) < start(b).  (With
 *    sound bounds this is the only ordering one can assert: sorting by start
 *    alone would flag a slow first check of an older term.)
 * 3. Fence.  The fence is a max-register and must be linearizable: an
 *    accepted call must not have begun after another call with a larger
 *    token had been accepted and returned; a rejected call must overlap or
 *    follow some call with a larger token.  The resource's appends, in count
 *    order, have non-decreasing tokens.
 * 4. Liveness.  A gap runs from the last recorded belief of one tenure to
 *    the first of the next (of another term, or of the same term revived
 *    after it lapsed).  If some candidate was available (ready, not
 *    stopped, not killed) for the whole gap, the gap must not exceed
 *
 *        lease + retry + sample + S
 *
 *    lease:  a stopped or killed leader's lease runs out at most one lease
 *            after its last renew;
 *    retry:  an elector that just stepped down, or a raw candidate polling
 *            with try_acquire, contends again within one retry period;
 *    sample: the gap is measured from the old leader's last recorded check,
 *            which can precede its last renew by one sampling period;
 *    S:      scheduling.  Measured, not assumed: see below.
 *    The lock-delay is 0 here.  A crash is usually noticed at once (robust
 *    futex), but the kernel wakes one waiter only, which may be stopped, so
 *    the bound is still the lease one.  The summary gives the gaps by what
 *    ended the term before: crash (SIGKILL), expiry (SIGSTOP or starved),
 *    resign.
 * 5. Nothing wedged.  After the chaos phase every candidate is continued
 *    and the driver stops signalling: someone must lead within 2 s + S and
 *    keep the election led (every later gap within the bound of 4, and the
 *    last one up to the end too); then every candidate is told to quit and
 *    must leave and exit 0 within 2 s + S, and the election must then have
 *    no members and no holder (after shmelect_election_reap() removed the
 *    slots of the killed).
 *
 * S.  A gap can only exceed lease + retry + sample if a process that had to
 * act was runnable but not running: the old leader's worker was late for
 * its last check, or the taker was late to wake at the expiry.  Those are
 * two scheduling delays in series, so S = 2 x the longest scheduling delay
 * measured during the run.  The canary threads measure exactly that: a
 * thread that asked to run 1 ms from now and ran d later was refused a CPU
 * for d - 1 ms.  The candidates' own timed sleeps are measured too (they are
 * the threads that matter), except sleeps that overlap a SIGSTOP of that
 * process, which are not scheduling delays.  On a quiet machine S is well
 * under a millisecond; on a busy one it grows, and so does the bound: the
 * test asserts the protocol's liveness, not the machine's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmelect.h"

#ifndef __GCC_HAVE_SYNC_COMPARE_AND_SWAP_16
#error "the fenced resource needs an inline 16-byte compare-and-swap (x86-64: -mcx16)"
#endif

#define US  UINT64_C(1000)
#define MS  UINT64_C(1000000)
#define SEC UINT64_C(1000000000)

typedef unsigned __int128 u128;

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

static struct {
	unsigned candidates;
	double seconds;          /* chaos phase length; 0: none */
	uint64_t ops;            /* or until this many lease operations; 0: none */
	uint64_t lease_ns, renew_ns, retry_ns;
	uint64_t sample_ns;      /* a leader's pause between checks */
	uint64_t interval_ns;    /* mean time between chaos actions */
	uint64_t hold_ns;        /* calm phase: how long leadership is watched */
	uint64_t resign_ns;      /* raw leaders resign after U(0, 2x) of this */
	uint64_t seed;
	unsigned canaries;
	unsigned kill_pct, stop_pct;
	const char *dump;
	bool verbose;
	int inject;              /* a deliberate bug, to show the checker finds it */
} cfg = {
	.candidates = 8,
	.lease_ns = 20 * MS,
	.renew_ns = 14 * MS,
	.retry_ns = 4 * MS,
	.sample_ns = 100 * US,
	.interval_ns = 40 * MS,
	.hold_ns = 500 * MS,
	.resign_ns = 100 * MS,
	.canaries = 2,
	.kill_pct = 30,
	.stop_pct = 40,
};

/*
 * --inject: break the harness on purpose, the way a protocol bug would, to
 * see that the checker catches it (each must make the run fail):
 *   overlap  a raw leader keeps believing it leads for one lease after its
 *            check says no (a stale is_leader): checks 1 and 2;
 *   fence    writes bypass the fence and the resource's token check: 3;
 *   gap      every candidate is raw and polls only every 3 leases: 4;
 *   wedge    one candidate ignores the request to quit: 5.
 */
enum { INJ_NONE, INJ_OVERLAP, INJ_FENCE, INJ_GAP, INJ_WEDGE };
static const char *const inject_name[] = { "none", "overlap", "fence", "gap", "wedge" };

/* ------------------------------------------------------------------ */
/* The shared log                                                       */
/* ------------------------------------------------------------------ */

enum { KIND_ELECTOR, KIND_RAW };
static const char *const kind_name[] = { "elector", "raw" };

/* One candidate process.  The driver fills kind, pos, identity before the
 * fork; the child fills the rest. */
struct inst {
	uint64_t ready_ns;        /* joined and contending from now on */
	uint64_t left_ns;         /* left the election, about to exit 0 */
	int32_t pid;
	uint32_t kind;
	uint32_t pos;             /* which of the N places it fills */
	int32_t err;              /* -errno of a library call that failed */
	char identity[24];
	char what[24];            /* that call */
};

/* How a tenure entry ended. */
enum { HOW_OPEN, HOW_LOST, HOW_RESIGNED, HOW_QUIT, HOW_CALLBACK, HOW_NEWTERM };
static const char *const how_name[] = { "open", "lost", "resigned", "quit", "first-check", "new-term" };

struct tenure {
	uint64_t token;
	uint64_t start;           /* t2 of the first true check */
	uint64_t end;             /* t1 of the last true check, updated in place */
	uint64_t expiry;          /* lease expiry reported by the last true check */
	uint64_t checks;
	uint32_t inst;
	uint32_t valid;           /* 1 once token, start, inst are written */
	uint32_t how;
	uint32_t pad[3];
};

enum { F_NONE, F_PENDING, F_ACCEPTED, F_SUPERSEDED, F_REJECTED };

struct fence_rec {
	uint64_t token;
	uint64_t t_a, t_b;        /* clock before and after shmelect_fence_check */
	uint64_t seq;             /* position in the resource (1-based), 0 none */
	uint32_t inst;
	uint32_t state;
};

struct res_rec {
	uint64_t token;
	uint64_t fidx;            /* fence record + 1 */
};

/* A candidate's timed sleep that woke late by more than STALL_MIN. */
struct stall {
	uint64_t from, to;        /* the sleep began, it returned */
	uint64_t over;            /* how late */
	uint32_t inst, pad;
};
#define STALL_MIN (200 * US)

struct shared {
	u128 res_word __attribute__((aligned(64)));    /* hi: highest token, lo: count */
	struct shmelect_fence fence __attribute__((aligned(64)));
	uint64_t ops __attribute__((aligned(64)));     /* lease operations, all processes */
	uint64_t n_tenures __attribute__((aligned(64)));
	uint64_t n_fences __attribute__((aligned(64)));
	uint64_t n_stalls __attribute__((aligned(64)));
	uint32_t quit __attribute__((aligned(64)));
	uint32_t calm;
	uint64_t inst_cap, ten_cap, fence_cap, stall_cap;
};

static struct shared *sh;
static struct inst *INST;
static struct tenure *TEN;
static struct fence_rec *FEN;
static struct res_rec *RES;
static struct stall *STALL;

#define INST_CAP  (UINT64_C(1) << 16)
#define TEN_CAP   (UINT64_C(1) << 20)
#define FENCE_CAP (UINT64_C(1) << 23)
#define STALL_CAP (UINT64_C(1) << 20)

static size_t align_up(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

static int shared_map(void)
{
	size_t o_inst = align_up(sizeof(struct shared));
	size_t o_ten = o_inst + align_up(INST_CAP * sizeof(struct inst));
	size_t o_fen = o_ten + align_up(TEN_CAP * sizeof(struct tenure));
	size_t o_res = o_fen + align_up(FENCE_CAP * sizeof(struct fence_rec));
	size_t o_stall = o_res + align_up(FENCE_CAP * sizeof(struct res_rec));
	size_t size = o_stall + align_up(STALL_CAP * sizeof(struct stall));
	int fd = memfd_create("shmelect-chaos-log", MFD_CLOEXEC);
	char *p;

	if (fd < 0)
		return -errno;
	/* sparse: only the pages written are allocated */
	if (ftruncate(fd, (off_t)size) < 0) {
		close(fd);
		return -errno;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	sh = (struct shared *)p;
	INST = (struct inst *)(p + o_inst);
	TEN = (struct tenure *)(p + o_ten);
	FEN = (struct fence_rec *)(p + o_fen);
	RES = (struct res_rec *)(p + o_res);
	STALL = (struct stall *)(p + o_stall);
	sh->inst_cap = INST_CAP;
	sh->ten_cap = TEN_CAP;
	sh->fence_cap = FENCE_CAP;
	sh->stall_cap = STALL_CAP;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static inline uint64_t now_ns(void)
{
	return shmelect_now_ns();
}

static inline void ops_inc(void)
{
	__atomic_fetch_add(&sh->ops, 1, __ATOMIC_RELAXED);
}

static inline uint64_t ops_now(void)
{
	return __atomic_load_n(&sh->ops, __ATOMIC_RELAXED);
}

static inline bool quitting(void)
{
	return __atomic_load_n(&sh->quit, __ATOMIC_ACQUIRE) != 0;
}

static inline bool calm(void)
{
	return __atomic_load_n(&sh->calm, __ATOMIC_ACQUIRE) != 0;
}

static void sleep_rel(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / SEC), (long)(ns % SEC) };

	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		;
}

static void atomic_max(uint64_t *p, uint64_t v)
{
	uint64_t cur = __atomic_load_n(p, __ATOMIC_RELAXED);

	while (v > cur && !__atomic_compare_exchange_n(p, &cur, v, false, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* splitmix64: small, seedable, good enough to pick victims */
struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rng_below(struct rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

/* uniform in [lo, hi] */
static uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	return hi <= lo ? lo : lo + rng_below(r, hi - lo + 1);
}

/* ------------------------------------------------------------------ */
/* Candidate side                                                       */
/* ------------------------------------------------------------------ */

static char seg_name[64];
static const char *const election_name = "chaos";
static pid_t driver_pid;

static _Noreturn void child_fail(uint32_t idx, const char *what, int r)
{
	struct inst *in = &INST[idx];

	snprintf(in->what, sizeof(in->what), "%s", what);
	__atomic_store_n(&in->err, r, __ATOMIC_RELEASE);
	fprintf(stderr, "chaos: candidate %s (pid %d): %s: %s\n", in->identity, (int)getpid(), what,
		strerror(-r));
	_exit(2);
}

/* Log a sleep of `asked` ns, from t0 to t1, if it woke late by STALL_MIN. */
static void stall_log(uint32_t idx, uint64_t t0, uint64_t t1, uint64_t asked)
{
	uint64_t over = t1 - t0 > asked ? t1 - t0 - asked : 0;

	if (over >= STALL_MIN) {
		uint64_t i = __atomic_fetch_add(&sh->n_stalls, 1, __ATOMIC_RELAXED);
		if (i < sh->stall_cap)
			STALL[i] = (struct stall){ .from = t0, .to = t1, .over = over, .inst = idx };
	}
}

/* A sleep whose lateness is logged: the candidates are canaries too. */
static void nap(uint32_t idx, uint64_t ns)
{
	uint64_t t0 = now_ns();

	sleep_rel(ns);
	stall_log(idx, t0, now_ns(), ns);
}

/* One thread's view of its current tenure entry. */
struct recorder {
	int64_t cur;              /* entry index, -1 none */
	uint64_t token;
	uint32_t inst;
};

static void rec_close(struct recorder *rc, uint32_t how)
{
	if (rc->cur >= 0) {
		__atomic_store_n(&TEN[rc->cur].how, how, __ATOMIC_RELEASE);
		rc->cur = -1;
	}
}

/*
 * One leadership check.  Returns 1 (and the token) if the candidate led at
 * some clock value in [t1, t2], 0 if not.  The entry is updated in place:
 * a SIGKILL between two checks leaves the last end.
 */
static int rec_check(struct recorder *rc, struct shmelect_candidate *c, uint64_t *ret_token)
{
	uint64_t t1, t2, tok = 0, expiry = 0;
	int r;

	t1 = now_ns();
	r = shmelect_candidate_leadership(c, &tok, &expiry);
	t2 = now_ns();
	ops_inc();
	if (r < 0)
		child_fail(rc->inst, "leadership", r);
	if (r == 0 && cfg.inject == INJ_OVERLAP && INST[rc->inst].kind == KIND_RAW && rc->cur >= 0 &&
	    t1 < TEN[rc->cur].expiry + cfg.lease_ns) {
		tok = rc->token;
		r = 1;
	}
	if (r == 0) {
		rec_close(rc, HOW_LOST);
		return 0;
	}
	if (rc->cur >= 0 && rc->token == tok) {
		struct tenure *t = &TEN[rc->cur];
		__atomic_store_n(&t->end, t1, __ATOMIC_RELEASE);
		__atomic_store_n(&t->expiry, expiry, __ATOMIC_RELAXED);
		__atomic_store_n(&t->checks, t->checks + 1, __ATOMIC_RELAXED);
	} else {
		uint64_t i;

		rec_close(rc, HOW_NEWTERM);
		i = __atomic_fetch_add(&sh->n_tenures, 1, __ATOMIC_RELAXED);
		if (i < sh->ten_cap) {
			struct tenure *t = &TEN[i];
			t->token = tok;
			t->start = t2;
			t->end = t1;
			t->expiry = expiry;
			t->checks = 1;
			t->inst = rc->inst;
			t->how = HOW_OPEN;
			__atomic_store_n(&t->valid, 1, __ATOMIC_RELEASE);
			rc->cur = (int64_t)i;
			rc->token = tok;
		}
	}
	*ret_token = tok;
	return 1;
}

/*
 * Pass the token through the fence into the resource.  The fence call is
 * logged before (pending) and after, so a SIGKILL in between leaves a
 * pending record that the checker treats as "may have been accepted".
 */
static void fenced_write(uint32_t idx, uint64_t tok)
{
	uint64_t i, seq = 0;
	struct fence_rec *f;
	int r;

	i = __atomic_fetch_add(&sh->n_fences, 1, __ATOMIC_RELAXED);
	if (i >= sh->fence_cap)
		return; /* log full: stop writing rather than write unlogged */
	f = &FEN[i];
	f->token = tok;
	f->inst = idx;
	f->t_a = now_ns();
	__atomic_store_n(&f->state, F_PENDING, __ATOMIC_RELEASE);
	r = cfg.inject == INJ_FENCE ? 1 : shmelect_fence_check(&sh->fence, tok);
	f->t_b = now_ns();
	if (r < 0)
		child_fail(idx, "fence_check", r);
	if (r == 1) {
		/* the resource: check-and-append as one 128-bit CAS */
		u128 w = __sync_val_compare_and_swap(&sh->res_word, (u128)0, (u128)0);
		for (;;) {
			uint64_t highest = (uint64_t)(w >> 64), count = (uint64_t)w;
			u128 n, prev;

			if (tok < highest && cfg.inject != INJ_FENCE)
				break; /* a newer token got in after our fence check */
			n = (u128)(tok > highest ? tok : highest) << 64 | (u128)(count + 1);
			prev = __sync_val_compare_and_swap(&sh->res_word, w, n);
			if (prev == w) {
				seq = count + 1;
				if (count < sh->fence_cap) {
					RES[count].fidx = i + 1;
					__atomic_store_n(&RES[count].token, tok, __ATOMIC_RELEASE);
				}
				break;
			}
			w = prev;
		}
	}
	f->seq = seq;
	__atomic_store_n(&f->state, r == 0 ? F_REJECTED : seq ? F_ACCEPTED : F_SUPERSEDED,
			 __ATOMIC_RELEASE);
}

static void futex_wait_private(uint32_t *w, uint32_t val, uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / SEC), (long)(ns % SEC) };

	syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, &ts, NULL, 0);
}

static void futex_wake_private(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* --- elector kind ---------------------------------------------------- */

struct el_ctx {
	uint32_t inst;
	uint32_t wake;            /* bumped by started_leading */
};

static void el_started(struct shmelect_elector *el, uint64_t token, void *ud)
{
	struct el_ctx *x = ud;
	struct recorder rc = { .cur = -1, .inst = x->inst };
	uint64_t tok;

	ops_inc();
	/* The term's first check, in the thread that just won it: waking the
	 * worker first would add a scheduling delay to every measured gap. */
	if (rec_check(&rc, shmelect_elector_candidate(el), &tok) == 1)
		rec_close(&rc, HOW_CALLBACK);
	__atomic_fetch_add(&x->wake, 1, __ATOMIC_RELEASE);
	futex_wake_private(&x->wake);
}

static void el_stopped(struct shmelect_elector *el, uint64_t token, void *ud)
{
	ops_inc();
}

static void el_new_leader(struct shmelect_elector *el, const char *id, uint64_t token, void *ud)
{
	ops_inc();
}

static int elector_main(uint32_t idx, struct shmelect_election *e)
{
	struct inst *in = &INST[idx];
	struct el_ctx x = { .inst = idx };
	struct shmelect_elector_config ec = {
		.identity = in->identity,
		.lease_ns = cfg.lease_ns,
		.renew_deadline_ns = cfg.renew_ns,
		.retry_period_ns = cfg.retry_ns,
	};
	struct shmelect_elector_callbacks cb = {
		.started_leading = el_started,
		.stopped_leading = el_stopped,
		.new_leader = el_new_leader,
	};
	struct recorder rc = { .cur = -1, .inst = idx };
	struct shmelect_elector *el = NULL;
	struct shmelect_candidate *c;
	int r;

	for (int attempt = 0;; attempt++) {
		r = shmelect_elector_new(e, &ec, &cb, &x, &el);
		/* same identity as a killed predecessor whose slot is not
		 * reclaimed yet: the driver waited for it, so it is gone */
		if (r != -EEXIST || attempt >= 100)
			break;
		sleep_rel(MS);
	}
	if (r < 0)
		child_fail(idx, "elector_new", r);
	c = shmelect_elector_candidate(el);
	r = shmelect_elector_start(el);
	if (r < 0)
		child_fail(idx, "elector_start", r);
	__atomic_store_n(&in->ready_ns, now_ns(), __ATOMIC_RELEASE);

	while (!quitting()) {
		uint32_t w = __atomic_load_n(&x.wake, __ATOMIC_ACQUIRE);
		uint64_t tok;

		if (rec_check(&rc, c, &tok) == 1) {
			fenced_write(idx, tok);
			nap(idx, cfg.sample_ns);
			/* work done under that token, committed without looking
			 * again: after a SIGSTOP here the token is stale */
			fenced_write(idx, tok);
		} else {
			uint64_t t0 = now_ns();
			futex_wait_private(&x.wake, w, 10 * MS);
			if (__atomic_load_n(&x.wake, __ATOMIC_ACQUIRE) == w)
				stall_log(idx, t0, now_ns(), 10 * MS);
		}
	}
	rec_close(&rc, HOW_QUIT);
	shmelect_elector_free(el); /* stops the thread, resigns, leaves */
	__atomic_store_n(&in->left_ns, now_ns(), __ATOMIC_RELEASE);
	return 0;
}

/* --- raw kind -------------------------------------------------------- */

static int raw_main(uint32_t idx, struct shmelect_election *e, struct rng *rng)
{
	struct inst *in = &INST[idx];
	struct recorder rc = { .cur = -1, .inst = idx };
	struct shmelect_candidate *c = NULL;
	uint64_t last_renew = 0, resign_at = 0, tok;
	bool leading = false;
	int r;

	for (int attempt = 0;; attempt++) {
		r = shmelect_candidate_join(e, in->identity, cfg.lease_ns, 0, &c);
		if (r != -EEXIST || attempt >= 100)
			break;
		sleep_rel(MS);
	}
	if (r < 0)
		child_fail(idx, "candidate_join", r);
	__atomic_store_n(&in->ready_ns, now_ns(), __ATOMIC_RELEASE);

	while (!quitting() || (cfg.inject == INJ_WEDGE && in->pos == 1)) {
		if (!leading) {
			if (cfg.inject == INJ_GAP) {
				r = shmelect_candidate_try_acquire(c, &tok);
				ops_inc();
				if (r < 0)
					child_fail(idx, "try_acquire", r);
				if (r == 0)
					nap(idx, 3 * cfg.lease_ns);
			} else if (rng_below(rng, 2)) {
				uint64_t timeout = rng_range(rng, 2, 12) * cfg.retry_ns, t0 = now_ns();
				r = shmelect_candidate_wait(c, timeout, &tok);
				ops_inc();
				if (r < 0)
					child_fail(idx, "candidate_wait", r);
				if (r == 0)
					stall_log(idx, t0, now_ns(), timeout);
			} else {
				r = shmelect_candidate_try_acquire(c, &tok);
				ops_inc();
				if (r < 0)
					child_fail(idx, "try_acquire", r);
				if (r == 0)
					nap(idx, cfg.retry_ns);
			}
			if (r == 0)
				continue;
			leading = true;
			last_renew = now_ns();
			resign_at = last_renew + rng_range(rng, 0, 2 * cfg.resign_ns);
		}
		if (rec_check(&rc, c, &tok) == 0) {
			leading = false;
			continue;
		}
		fenced_write(idx, tok);
		if (!calm() && now_ns() >= resign_at) {
			r = shmelect_candidate_resign(c);
			ops_inc();
			if (r < 0)
				child_fail(idx, "resign", r);
			rec_close(&rc, HOW_RESIGNED);
			leading = false;
			/* give the others a chance before contending again */
			nap(idx, rng_range(rng, 0, cfg.retry_ns));
			continue;
		}
		nap(idx, cfg.sample_ns);
		fenced_write(idx, tok); /* as in elector_main: maybe stale */
		if (now_ns() - last_renew >= cfg.retry_ns) {
			uint64_t t = now_ns();
			r = shmelect_candidate_renew(c);
			ops_inc();
			if (r < 0)
				child_fail(idx, "renew", r);
			if (r == 1)
				last_renew = t;
			/* 0: lost or expired; the next check says so */
		}
	}
	rec_close(&rc, HOW_QUIT);
	if (leading) {
		r = shmelect_candidate_resign(c);
		ops_inc();
		if (r < 0)
			child_fail(idx, "resign", r);
	}
	shmelect_candidate_leave(c);
	__atomic_store_n(&in->left_ns, now_ns(), __ATOMIC_RELEASE);
	return 0;
}

static int child_main(uint32_t idx)
{
	struct inst *in = &INST[idx];
	struct shmelect_segment *seg = NULL;
	struct shmelect_election *e = NULL;
	struct rng rng = { cfg.seed ^ ((uint64_t)(idx + 1) * UINT64_C(0x9e3779b97f4a7c15)) };
	sigset_t none;
	int r;

	/* die with the driver, whatever happens to it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != driver_pid)
		_exit(3);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	__atomic_store_n(&in->pid, (int32_t)getpid(), __ATOMIC_RELEASE);

	r = shmelect_segment_open(seg_name, 0, NULL, &seg);
	if (r < 0)
		child_fail(idx, "segment_open", r);
	r = shmelect_election_open(seg, election_name, 0, &e);
	if (r < 0)
		child_fail(idx, "election_open", r);
	if (in->kind == KIND_ELECTOR)
		r = elector_main(idx, e);
	else
		r = raw_main(idx, e, &rng);
	shmelect_election_close(e);
	shmelect_segment_close(seg);
	return r;
}

/* ------------------------------------------------------------------ */
/* Canary                                                               */
/* ------------------------------------------------------------------ */

#define BUCKET_NS (10 * MS)
#define N_BUCKETS (UINT64_C(1) << 21) /* 10 ms each: about 5.8 hours */

static struct {
	uint64_t t0;              /* bucket 0 starts here */
	uint32_t *bucket_us;      /* max oversleep per bucket, any source */
	uint64_t max_ns;          /* canary threads */
	uint64_t driver_max_ns;   /* the driver's own sleeps */
	uint64_t samples;
	uint32_t stop;
	pthread_t threads[8];
} canary;

static void bucket_note(uint64_t when, uint64_t over)
{
	uint64_t b;
	uint32_t us = over / US > UINT32_MAX ? UINT32_MAX : (uint32_t)(over / US), cur;

	if (when < canary.t0)
		return;
	b = (when - canary.t0) / BUCKET_NS;
	if (b >= N_BUCKETS)
		return;
	cur = __atomic_load_n(&canary.bucket_us[b], __ATOMIC_RELAXED);
	while (us > cur && !__atomic_compare_exchange_n(&canary.bucket_us[b], &cur, us, false,
							__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static uint64_t bucket_max(uint64_t from, uint64_t to)
{
	uint64_t m = 0;

	if (to < canary.t0)
		return 0;
	for (uint64_t b = from < canary.t0 ? 0 : (from - canary.t0) / BUCKET_NS;
	     b <= (to - canary.t0) / BUCKET_NS && b < N_BUCKETS; b++)
		if (canary.bucket_us[b] > m)
			m = canary.bucket_us[b];
	return m * US;
}

/*
 * Sleep 1 ms, see how late we woke, again.  A thread that asked to run at t
 * and ran at t + d was runnable but refused a CPU (or the whole machine was
 * not running) for d: that is the scheduling latency S is made of.
 */
static void *canary_main(void *arg)
{
	while (!__atomic_load_n(&canary.stop, __ATOMIC_ACQUIRE)) {
		uint64_t t0 = now_ns(), t1, over;

		sleep_rel(MS);
		t1 = now_ns();
		over = t1 - t0 > MS ? t1 - t0 - MS : 0;
		atomic_max(&canary.max_ns, over);
		__atomic_fetch_add(&canary.samples, 1, __ATOMIC_RELAXED);
		bucket_note(t1, over);
	}
	return NULL;
}

static int canary_start(void)
{
	sigset_t all, old;

	canary.t0 = now_ns();
	canary.bucket_us = mmap(NULL, N_BUCKETS * sizeof(uint32_t), PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (canary.bucket_us == MAP_FAILED)
		return -errno;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned i = 0; i < cfg.canaries; i++) {
		int r = pthread_create(&canary.threads[i], NULL, canary_main, NULL);
		if (r) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			return -r;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

static void canary_stop(void)
{
	__atomic_store_n(&canary.stop, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < cfg.canaries; i++)
		pthread_join(canary.threads[i], NULL);
}

/* The driver's own sleeps count too: it is never stopped. */
static void driver_sleep_until(uint64_t t)
{
	uint64_t t0 = now_ns(), t1;

	if (t <= t0)
		return;
	sleep_rel(t - t0);
	t1 = now_ns();
	if (t1 > t) {
		atomic_max(&canary.driver_max_ns, t1 - t);
		bucket_note(t1, t1 - t);
	}
}

/* ------------------------------------------------------------------ */
/* Driver                                                               */
/* ------------------------------------------------------------------ */

enum { D_RUNNING, D_STOPPED, D_DEAD };

struct dinst {
	int state;
	uint64_t cont_at;
	bool reaped;
	int status;
};

enum { EV_SPAWN, EV_STOP, EV_CONT, EV_KILL, EV_QUIT, EV_DIED };
static const char *const ev_name[] = { "spawn", "stop", "cont", "kill", "quit", "died" };

struct ev {
	uint64_t t;
	uint32_t inst;
	uint32_t type;
};

static struct dinst *DI;
static uint32_t n_insts;
static uint32_t *pos_inst;
static struct ev *evs;
static size_t n_evs, cap_evs;
static struct rng drng;
static struct shmelect_segment *dseg;
static struct shmelect_election *delect;
static char seg_path[128];

static struct {
	uint64_t kills, restarts_same, stops, conts, spared, actions, died;
	uint64_t start_ns, chaos_end_ns, calm_ns, lead_ns, quit_ns, exit_ns;
	uint64_t chaos_ops;
	uint64_t max_exit_ns;
	int members_after, holder_after;
	uint64_t term_after, token_base;
} st;

static void ev_add(uint64_t t, uint32_t inst, uint32_t type)
{
	if (n_evs == cap_evs) {
		cap_evs = cap_evs ? 2 * cap_evs : 4096;
		evs = realloc(evs, cap_evs * sizeof(*evs));
		if (!evs) {
			fprintf(stderr, "chaos: out of memory\n");
			exit(99);
		}
	}
	evs[n_evs++] = (struct ev){ t, inst, type };
}

/* --- violations ------------------------------------------------------ */

enum {
	V_OVERLAP, V_TOKEN_ORDER, V_TOKEN_OWNER, V_FENCE_ACCEPT, V_FENCE_REJECT, V_RESOURCE,
	V_GAP, V_WEDGE_LEAD, V_WEDGE_HOLD, V_WEDGE_EXIT, V_MEMBERS, V_CANDIDATE, V_COUNT
};
static const char *const v_name[] = {
	"overlap (1)", "token order (2)", "token owner (2)", "fence accepted older (3)",
	"fence rejected newest (3)", "resource order (3)", "gap over bound (4)",
	"no leader after chaos (5)", "leadership not kept (5)", "exit wedged (5)",
	"members left (5)", "candidate failed",
};
static unsigned violations[V_COUNT];

static void violation(int cat, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(int cat, const char *fmt, ...)
{
	va_list ap;

	if (violations[cat]++ >= 10)
		return;
	printf("chaos: VIOLATION %s: ", v_name[cat]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static unsigned total_violations(void)
{
	unsigned n = 0;

	for (int i = 0; i < V_COUNT; i++)
		n += violations[i];
	return n;
}

/* --- processes ------------------------------------------------------- */

static void cleanup_segment(void)
{
	if (seg_path[0])
		unlink(seg_path);
}

static void on_fatal_signal(int sig)
{
	/* children die with us (PR_SET_PDEATHSIG); the segment must go */
	cleanup_segment();
	signal(sig, SIG_DFL);
	raise(sig);
}

static uint32_t spawn(uint32_t pos, const char *identity)
{
	uint32_t idx = n_insts;
	struct inst *in;
	pid_t pid;

	if (idx >= sh->inst_cap) {
		fprintf(stderr, "chaos: too many candidate processes\n");
		exit(99);
	}
	in = &INST[idx];
	memset(in, 0, sizeof(*in));
	in->kind = pos % 2 == 0 && cfg.inject != INJ_GAP ? KIND_ELECTOR : KIND_RAW;
	in->pos = pos;
	snprintf(in->identity, sizeof(in->identity), "%s", identity);
	n_insts++;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "chaos: fork: %s\n", strerror(errno));
		exit(99);
	}
	if (pid == 0)
		_exit(child_main(idx));
	in->pid = pid;
	DI[idx] = (struct dinst){ .state = D_RUNNING };
	pos_inst[pos] = idx;
	ev_add(now_ns(), idx, EV_SPAWN);
	return idx;
}

static uint32_t inst_by_pid(pid_t pid)
{
	for (uint32_t i = n_insts; i-- > 0;)
		if (INST[i].pid == pid && !DI[i].reaped)
			return i;
	return UINT32_MAX;
}

/* Is this candidate available: ready, running, not stopped? */
static bool available(uint32_t idx)
{
	return DI[idx].state == D_RUNNING && __atomic_load_n(&INST[idx].ready_ns, __ATOMIC_ACQUIRE);
}

static unsigned count_available(void)
{
	unsigned n = 0;

	for (unsigned p = 0; p < cfg.candidates; p++)
		n += available(pos_inst[p]);
	return n;
}

static void describe_exit(uint32_t idx, int status, char *buf, size_t size)
{
	struct inst *in = &INST[idx];

	if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else if (WEXITSTATUS(status) == 2)
		snprintf(buf, size, "exit 2 (%s: %s)", in->what, strerror(-in->err));
	else
		snprintf(buf, size, "exit %d", WEXITSTATUS(status));
}

/* Collect children that exited on their own (during chaos: failures). */
static void reap_unexpected(bool restart)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		uint32_t idx;
		char why[128];

		if (pid <= 0)
			return;
		idx = inst_by_pid(pid);
		if (idx == UINT32_MAX)
			continue;
		DI[idx].reaped = true;
		DI[idx].status = status;
		DI[idx].state = D_DEAD;
		ev_add(now_ns(), idx, EV_DIED);
		st.died++;
		describe_exit(idx, status, why, sizeof(why));
		violation(V_CANDIDATE, "%s candidate %s (pid %d) %s during the chaos phase",
			  kind_name[INST[idx].kind], INST[idx].identity, (int)pid, why);
		if (restart && pos_inst[INST[idx].pos] == idx) {
			char id[24];
			snprintf(id, sizeof(id), "c%u.%u", INST[idx].pos, n_insts);
			spawn(INST[idx].pos, id);
		}
	}
}

static void do_cont(uint32_t idx)
{
	kill(INST[idx].pid, SIGCONT);
	/* after the signal: available from here on, never earlier */
	ev_add(now_ns(), idx, EV_CONT);
	DI[idx].state = D_RUNNING;
	st.conts++;
}

/* The instance holding the lease, if any of ours does. */
static uint32_t current_holder(void)
{
	struct shmelect_record rec;

	if (shmelect_election_observe(delect, &rec, NULL, 0) < 0 || !rec.has_holder || rec.expired)
		return UINT32_MAX;
	for (unsigned p = 0; p < cfg.candidates; p++)
		if (INST[pos_inst[p]].pid == rec.holder_pid)
			return pos_inst[p];
	return UINT32_MAX;
}

static void chaos_action(void)
{
	uint32_t holder = current_holder(), victim, pos;
	/* the same draws every time, so that a replay's stream of choices
	 * stays aligned whatever happened in between */
	uint64_t u = rng_below(&drng, 100);
	bool pick_holder = rng_below(&drng, 2);
	uint32_t any = (uint32_t)rng_below(&drng, cfg.candidates);
	bool same_identity = rng_below(&drng, 2);
	uint64_t stop_ns = rng_range(&drng, cfg.lease_ns, 4 * cfg.lease_ns);
	bool avail;

	st.actions++;
	victim = holder != UINT32_MAX && pick_holder ? holder : pos_inst[any];
	pos = INST[victim].pos;
	avail = available(victim);

	if (u < cfg.kill_pct) {
		char id[24];
		int status;

		/* keep one candidate that can take over */
		if (avail && count_available() <= 1) {
			st.spared++;
			return;
		}
		/* before the signal: unavailable from here on, never later */
		ev_add(now_ns(), victim, EV_KILL);
		kill(INST[victim].pid, SIGKILL);
		while (waitpid(INST[victim].pid, &status, 0) < 0 && errno == EINTR)
			;
		DI[victim].state = D_DEAD;
		DI[victim].reaped = true;
		DI[victim].status = status;
		st.kills++;
		if (same_identity) {
			snprintf(id, sizeof(id), "%s", INST[victim].identity);
			st.restarts_same++;
		} else {
			snprintf(id, sizeof(id), "c%u.%u", pos, n_insts);
		}
		spawn(pos, id);
	} else if (u < cfg.kill_pct + cfg.stop_pct) {
		if (DI[victim].state != D_RUNNING)
			return;
		if (avail && count_available() <= 1) {
			st.spared++;
			return;
		}
		ev_add(now_ns(), victim, EV_STOP);
		kill(INST[victim].pid, SIGSTOP);
		DI[victim].state = D_STOPPED;
		DI[victim].cont_at = now_ns() + stop_ns;
		st.stops++;
	}
}

static int driver_setup(void)
{
	struct shmelect_segment_params params = { 0 };
	unsigned slots = 2 * cfg.candidates + 16;
	int r;

	snprintf(seg_name, sizeof(seg_name), "shmelect-chaos-%d-%08" PRIx64, (int)getpid(),
		 cfg.seed & 0xffffffffu);
	snprintf(seg_path, sizeof(seg_path), "/dev/shm/%s", seg_name);
	params.max_elections = 4;
	params.max_candidates = slots > SHMELECT_MAX_CANDIDATES ? SHMELECT_MAX_CANDIDATES : slots;
	r = shmelect_segment_open(seg_name, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, &params,
				  &dseg);
	if (r < 0) {
		seg_path[0] = 0;
		fprintf(stderr, "chaos: cannot create segment %s: %s\n", seg_name, strerror(-r));
		return r;
	}
	r = shmelect_election_open(dseg, election_name, SHMELECT_ELECTION_CREATE, &delect);
	if (r < 0) {
		fprintf(stderr, "chaos: cannot create election: %s\n", strerror(-r));
		return r;
	}
	return 0;
}

static void run(void)
{
	uint64_t end_ns = cfg.seconds > 0 ? now_ns() + (uint64_t)(cfg.seconds * 1e9) : UINT64_MAX;
	uint64_t next_action, deadline, t, next_progress = now_ns() + 10 * SEC;

	st.start_ns = now_ns();
	for (unsigned p = 0; p < cfg.candidates; p++) {
		char id[24];
		snprintf(id, sizeof(id), "c%u", p);
		spawn(p, id);
	}

	/* chaos */
	next_action = now_ns() + rng_range(&drng, 0, 2 * cfg.interval_ns);
	for (;;) {
		uint64_t now = now_ns(), wake;

		if (now >= end_ns || (cfg.ops && ops_now() >= cfg.ops))
			break;
		if (cfg.verbose && now >= next_progress) {
			printf("chaos: %.0f s: %" PRIu64 " ops, %" PRIu64 " kills, %" PRIu64 " stops, "
			       "%" PRIu64 " tenure entries, canary max %.3f ms\n",
			       ms(now - st.start_ns) / 1e3, ops_now(), st.kills, st.stops,
			       __atomic_load_n(&sh->n_tenures, __ATOMIC_RELAXED), ms(canary.max_ns));
			next_progress += 10 * SEC;
		}
		reap_unexpected(true);
		for (unsigned p = 0; p < cfg.candidates; p++) {
			uint32_t i = pos_inst[p];
			if (DI[i].state == D_STOPPED && DI[i].cont_at <= now)
				do_cont(i);
		}
		if (now >= next_action) {
			chaos_action();
			next_action = now_ns() + rng_range(&drng, 0, 2 * cfg.interval_ns);
		}
		wake = next_action;
		for (unsigned p = 0; p < cfg.candidates; p++) {
			uint32_t i = pos_inst[p];
			if (DI[i].state == D_STOPPED && DI[i].cont_at < wake)
				wake = DI[i].cont_at;
		}
		if (wake > now + 5 * MS)
			wake = now + 5 * MS;
		driver_sleep_until(wake);
	}
	st.chaos_end_ns = now_ns();
	st.chaos_ops = ops_now();

	/* calm: everyone continued, no more signals, no voluntary resigns */
	reap_unexpected(true);
	for (unsigned p = 0; p < cfg.candidates; p++)
		if (DI[pos_inst[p]].state == D_STOPPED)
			do_cont(pos_inst[p]);
	__atomic_store_n(&sh->calm, 1, __ATOMIC_RELEASE);
	st.calm_ns = now_ns();

	/* someone must lead within 2 s + S; watch it live (the checker
	 * decides afterwards, from the log, with the final S) */
	deadline = st.calm_ns + 2 * SEC + 2 * canary.max_ns + cfg.hold_ns;
	while ((t = now_ns()) < deadline) {
		if (current_holder() != UINT32_MAX) {
			st.lead_ns = t;
			break;
		}
		reap_unexpected(false);
		driver_sleep_until(t + 100 * US);
	}
	/* and keep leading: watch for hold_ns */
	t = (st.lead_ns ? st.lead_ns : now_ns()) + cfg.hold_ns;
	while (now_ns() < t) {
		reap_unexpected(false);
		driver_sleep_until(now_ns() + MS < t ? now_ns() + MS : t);
	}

	/* quit: everyone leaves */
	st.quit_ns = now_ns();
	for (unsigned p = 0; p < cfg.candidates; p++)
		ev_add(st.quit_ns, pos_inst[p], EV_QUIT);
	__atomic_store_n(&sh->quit, 1, __ATOMIC_RELEASE);
	for (;;) {
		unsigned left = 0;
		uint64_t now = now_ns();

		for (unsigned p = 0; p < cfg.candidates; p++) {
			uint32_t i = pos_inst[p];
			int status;

			if (DI[i].reaped)
				continue;
			if (waitpid(INST[i].pid, &status, WNOHANG) == INST[i].pid) {
				DI[i].reaped = true;
				DI[i].status = status;
				DI[i].state = D_DEAD;
				if (now - st.quit_ns > st.max_exit_ns)
					st.max_exit_ns = now - st.quit_ns;
				if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
					char why[128];
					describe_exit(i, status, why, sizeof(why));
					violation(V_CANDIDATE, "%s candidate %s (pid %d) %s on quit",
						  kind_name[INST[i].kind], INST[i].identity,
						  (int)INST[i].pid, why);
				}
				continue;
			}
			left++;
		}
		if (!left)
			break;
		if (now - st.quit_ns > 2 * SEC + 2 * canary.max_ns) {
			for (unsigned p = 0; p < cfg.candidates; p++) {
				uint32_t i = pos_inst[p];
				int status;
				if (DI[i].reaped)
					continue;
				violation(V_WEDGE_EXIT,
					  "%s candidate %s (pid %d) did not exit %.1f ms after quit",
					  kind_name[INST[i].kind], INST[i].identity, (int)INST[i].pid,
					  ms(now - st.quit_ns));
				kill(INST[i].pid, SIGKILL);
				waitpid(INST[i].pid, &status, 0);
				DI[i].reaped = true;
				DI[i].state = D_DEAD;
			}
			break;
		}
		driver_sleep_until(now + MS);
	}
	st.exit_ns = now_ns();
	reap_unexpected(false);

	/* the election must be empty once the dead are reaped */
	{
		struct shmelect_record rec;
		int r = shmelect_election_reap(delect);

		if (r < 0) {
			violation(V_MEMBERS, "election_reap: %s", strerror(-r));
		} else if ((r = shmelect_election_observe(delect, &rec, NULL, 0)) < 0) {
			violation(V_MEMBERS, "election_observe: %s", strerror(-r));
		} else {
			st.members_after = (int)rec.n_members;
			st.holder_after = rec.has_holder;
			st.term_after = rec.term;
			st.token_base = rec.token - rec.term;
			if (rec.n_members)
				violation(V_MEMBERS, "%u members left after every candidate exited",
					  rec.n_members);
			if (rec.has_holder)
				violation(V_MEMBERS, "the lease is still held by %s (pid %d)", rec.holder,
					  (int)rec.holder_pid);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Checker                                                              */
/* ------------------------------------------------------------------ */

struct group {
	uint64_t token;
	uint64_t start, end;      /* min start, max end: sound belief bounds */
	uint64_t lo, hi;          /* coverage, for gaps */
	uint64_t expiry;          /* latest expiry a check reported */
	uint64_t checks;
	uint32_t inst, how;       /* first entry's process; how the last one ended */
	uint32_t other_inst;      /* a second process with the same token */
	bool multi;
};

static struct group *groups;
static size_t n_groups;
static struct tenure *ents;      /* the valid entries, sorted by token */
static size_t n_ents;

static int cmp_u64(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int cmp_tenure_token(const void *a, const void *b)
{
	const struct tenure *x = a, *y = b;
	int c = cmp_u64(x->token, y->token);
	return c ? c : cmp_u64(x->start, y->start);
}

static int cmp_group_start(const void *a, const void *b)
{
	const struct group *x = *(struct group *const *)a, *y = *(struct group *const *)b;
	return cmp_u64(x->start, y->start);
}

static int cmp_group_lo(const void *a, const void *b)
{
	const struct group *x = *(struct group *const *)a, *y = *(struct group *const *)b;
	return cmp_u64(x->lo, y->lo);
}

static const char *inst_desc(uint32_t idx, char *buf, size_t size)
{
	const struct inst *in = &INST[idx];

	snprintf(buf, size, "%s %s pid %d", kind_name[in->kind], in->identity, (int)in->pid);
	return buf;
}

/* Time relative to the start of the run, for messages. */
static double rel(uint64_t t)
{
	return t >= st.start_ns ? ms(t - st.start_ns) : -ms(st.start_ns - t);
}

/* What the driver did to this process, around t. */
static void inst_events(uint32_t idx, uint64_t from, uint64_t to, char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n_evs && n < size; i++) {
		if (evs[i].inst != idx || evs[i].t < from || evs[i].t > to)
			continue;
		n += (size_t)snprintf(buf + n, size - n, "%s%s@%.3f", n ? " " : "", ev_name[evs[i].type],
				      rel(evs[i].t));
	}
	if (!buf[0])
		snprintf(buf, size, "none");
}

static void build_groups(void)
{
	uint64_t n = __atomic_load_n(&sh->n_tenures, __ATOMIC_ACQUIRE);
	struct tenure *t;
	size_t m = 0;

	if (n > sh->ten_cap)
		n = sh->ten_cap;
	t = malloc((n ? n : 1) * sizeof(*t));
	groups = malloc((n ? n : 1) * sizeof(*groups));
	if (!t || !groups) {
		fprintf(stderr, "chaos: out of memory\n");
		exit(99);
	}
	for (uint64_t i = 0; i < n; i++)
		if (__atomic_load_n(&TEN[i].valid, __ATOMIC_ACQUIRE))
			t[m++] = TEN[i];
	qsort(t, m, sizeof(*t), cmp_tenure_token);
	n_groups = 0;
	for (size_t i = 0; i < m; i++) {
		struct group *g = n_groups ? &groups[n_groups - 1] : NULL;
		uint64_t lo = t[i].start < t[i].end ? t[i].start : t[i].end;
		uint64_t hi = t[i].start < t[i].end ? t[i].end : t[i].start;

		if (!g || g->token != t[i].token) {
			g = &groups[n_groups++];
			*g = (struct group){
				.token = t[i].token, .start = t[i].start, .end = t[i].end, .lo = lo,
				.hi = hi, .expiry = t[i].expiry, .checks = t[i].checks,
				.inst = t[i].inst, .how = t[i].how,
			};
			continue;
		}
		if (t[i].inst != g->inst) {
			g->multi = true;
			g->other_inst = t[i].inst;
		}
		if (t[i].start < g->start)
			g->start = t[i].start;
		if (t[i].end >= g->end) {
			g->end = t[i].end;
			g->how = t[i].how;
		}
		if (lo < g->lo)
			g->lo = lo;
		if (hi > g->hi)
			g->hi = hi;
		if (t[i].expiry > g->expiry)
			g->expiry = t[i].expiry;
		g->checks += t[i].checks;
	}
	ents = t;
	n_ents = m;
}

/* 1 and 2: terms never overlap, tokens follow time. */
static void check_terms(void)
{
	struct group **by = malloc((n_groups ? n_groups : 1) * sizeof(*by));
	struct group *best = NULL;
	uint64_t best_end = 0;
	size_t k = 0;
	char a[96], b[96];

	if (!by)
		exit(99);
	for (size_t i = 0; i < n_groups; i++)
		if (groups[i].start <= groups[i].end)
			by[k++] = &groups[i];
	qsort(by, k, sizeof(*by), cmp_group_start);
	for (size_t i = 0; i < k; i++) {
		struct group *g = by[i];
		if (best && g->start <= best_end)
			violation(V_OVERLAP,
				  "token %" PRIu64 " (%s) believed it led until at least %.6f ms; "
				  "token %" PRIu64 " (%s) believed it led from at most %.6f ms "
				  "(overlap %.6f ms)",
				  best->token, inst_desc(best->inst, a, sizeof(a)), rel(best_end), g->token,
				  inst_desc(g->inst, b, sizeof(b)), rel(g->start), ms(best_end - g->start));
		if (!best || g->end > best_end) {
			best = g;
			best_end = g->end;
		}
	}
	free(by);

	/* groups[] is sorted by token */
	best = NULL;
	best_end = 0;
	for (size_t i = 0; i < n_groups; i++) {
		struct group *g = &groups[i];
		/* token = token base + term, and the term is one the election
		 * went through */
		if (g->token <= st.token_base || g->token - st.token_base > st.term_after)
			violation(V_TOKEN_ORDER, "token %" PRIu64 " (%s) is not base %" PRIu64
				  " + a term in 1..%" PRIu64, g->token, inst_desc(g->inst, a, sizeof(a)),
				  st.token_base, st.term_after);
		if (g->multi)
			violation(V_TOKEN_OWNER, "token %" PRIu64 " was held by %s and by %s", g->token,
				  inst_desc(g->inst, a, sizeof(a)), inst_desc(g->other_inst, b, sizeof(b)));
		if (i && g->token == groups[i - 1].token)
			continue;
		if (best && best_end >= g->start)
			violation(V_TOKEN_ORDER,
				  "older token %" PRIu64 " (%s) believed it led at %.6f ms or later, "
				  "newer token %" PRIu64 " (%s) from %.6f ms or earlier",
				  best->token, inst_desc(best->inst, a, sizeof(a)), rel(best_end), g->token,
				  inst_desc(g->inst, b, sizeof(b)), rel(g->start));
		if (!best || g->end > best_end) {
			best = g;
			best_end = g->end;
		}
	}
}

/* 3: the fence is a linearizable max-register; the resource is ordered. */
struct fpt {
	uint64_t t, token;
};

static int cmp_fpt(const void *a, const void *b)
{
	return cmp_u64(((const struct fpt *)a)->t, ((const struct fpt *)b)->t);
}

static struct {
	uint64_t calls, accepted, rejected, superseded, pending, appends;
	bool full;
} fst;

static void check_fence(void)
{
	uint64_t n = __atomic_load_n(&sh->n_fences, __ATOMIC_ACQUIRE);
	struct fpt *acc_end, *acc_start, *rej_end, *may_start;
	size_t na = 0, nr = 0, nm = 0;
	uint64_t count;

	if (n > sh->fence_cap) {
		fst.full = true;
		n = sh->fence_cap;
	}
	acc_end = malloc((n + 1) * sizeof(struct fpt));
	acc_start = malloc((n + 1) * sizeof(struct fpt));
	rej_end = malloc((n + 1) * sizeof(struct fpt));
	may_start = malloc((n + 1) * sizeof(struct fpt));
	if (!acc_end || !acc_start || !rej_end || !may_start)
		exit(99);
	for (uint64_t i = 0; i < n; i++) {
		struct fence_rec *f = &FEN[i];
		switch (__atomic_load_n(&f->state, __ATOMIC_ACQUIRE)) {
		case F_ACCEPTED:
		case F_SUPERSEDED:
			if (f->state == F_ACCEPTED)
				fst.accepted++;
			else
				fst.superseded++;
			acc_end[na] = (struct fpt){ f->t_b, f->token };
			acc_start[na++] = (struct fpt){ f->t_a, f->token };
			may_start[nm++] = (struct fpt){ f->t_a, f->token };
			break;
		case F_PENDING: /* killed inside: may or may not have raised it */
			fst.pending++;
			may_start[nm++] = (struct fpt){ f->t_a, f->token };
			break;
		case F_REJECTED:
			fst.rejected++;
			rej_end[nr++] = (struct fpt){ f->t_b, f->token };
			break;
		default: /* killed before it began */
			break;
		}
	}
	fst.calls = n;
	qsort(acc_end, na, sizeof(struct fpt), cmp_fpt);
	qsort(acc_start, na, sizeof(struct fpt), cmp_fpt);
	qsort(rej_end, nr, sizeof(struct fpt), cmp_fpt);
	qsort(may_start, nm, sizeof(struct fpt), cmp_fpt);

	/* an accepted call that began after a larger token was accepted and
	 * returned: the fence accepted an older token after a newer one */
	{
		uint64_t maxtok = 0, maxat = 0;
		size_t j = 0;
		for (size_t i = 0; i < na; i++) {
			while (j < na && acc_end[j].t < acc_start[i].t) {
				if (acc_end[j].token > maxtok) {
					maxtok = acc_end[j].token;
					maxat = acc_end[j].t;
				}
				j++;
			}
			if (maxtok > acc_start[i].token)
				violation(V_FENCE_ACCEPT,
					  "token %" PRIu64 " accepted in a call begun at %.6f ms, after token "
					  "%" PRIu64 " had been accepted (returned at %.6f ms)",
					  acc_start[i].token, rel(acc_start[i].t), maxtok, rel(maxat));
		}
	}
	/* a rejected call that no larger token could have preceded */
	{
		uint64_t maxtok = 0;
		size_t j = 0;
		for (size_t i = 0; i < nr; i++) {
			while (j < nm && may_start[j].t < rej_end[i].t) {
				if (may_start[j].token > maxtok)
					maxtok = may_start[j].token;
				j++;
			}
			if (maxtok <= rej_end[i].token)
				violation(V_FENCE_REJECT,
					  "token %" PRIu64 " rejected (returned at %.6f ms) though no larger "
					  "token had been offered",
					  rej_end[i].token, rel(rej_end[i].t));
		}
	}
	/* the resource, in append order */
	count = (uint64_t)__sync_val_compare_and_swap(&sh->res_word, (u128)0, (u128)0);
	fst.appends = count;
	{
		uint64_t prev = 0, prev_i = 0;
		for (uint64_t i = 0; i < count && i < sh->fence_cap; i++) {
			uint64_t tok = __atomic_load_n(&RES[i].token, __ATOMIC_ACQUIRE);
			if (!tok)
				continue; /* writer killed between its CAS and this */
			if (tok < prev)
				violation(V_RESOURCE,
					  "append %" PRIu64 " has token %" PRIu64 " after append %" PRIu64
					  " with token %" PRIu64,
					  i + 1, tok, prev_i + 1, prev);
			prev = tok;
			prev_i = i;
		}
	}
	if (count < fst.accepted || count > fst.accepted + fst.pending)
		violation(V_RESOURCE, "%" PRIu64 " appends for %" PRIu64 " accepted and %" PRIu64
			  " pending writes", count, fst.accepted, fst.pending);
	free(acc_end);
	free(acc_start);
	free(rej_end);
	free(may_start);
}

/* --- availability and S ---------------------------------------------- */

struct ival {
	uint64_t from, to;
	uint32_t inst;
};

static struct ival *avail;
static size_t n_avail;

static void avail_add(uint64_t from, uint64_t to, uint32_t inst)
{
	static size_t cap;

	if (from >= to)
		return;
	if (n_avail == cap) {
		cap = cap ? 2 * cap : 1024;
		avail = realloc(avail, cap * sizeof(*avail));
		if (!avail)
			exit(99);
	}
	avail[n_avail++] = (struct ival){ from, to, inst };
}

static int cmp_ival(const void *a, const void *b)
{
	return cmp_u64(((const struct ival *)a)->from, ((const struct ival *)b)->from);
}

/*
 * When was each process available: ready (its own timestamp), not stopped
 * (the driver's timestamps, taken before SIGSTOP/SIGKILL and after SIGCONT,
 * so that availability is never overstated), until quit.
 */
static void build_avail(void)
{
	for (uint32_t i = 0; i < n_insts; i++) {
		uint64_t ready = __atomic_load_n(&INST[i].ready_ns, __ATOMIC_ACQUIRE);
		uint64_t from = ready;
		bool running = true, alive = true;

		if (!ready)
			continue;
		for (size_t k = 0; k < n_evs && alive; k++) {
			if (evs[k].inst != i)
				continue;
			switch (evs[k].type) {
			case EV_STOP:
				if (running && evs[k].t > ready)
					avail_add(from, evs[k].t, i);
				running = false;
				break;
			case EV_CONT:
				running = true;
				from = evs[k].t > ready ? evs[k].t : ready;
				break;
			case EV_KILL:
			case EV_QUIT:
			case EV_DIED:
				if (running)
					avail_add(from > ready ? from : ready, evs[k].t, i);
				alive = false;
				break;
			default:
				break;
			}
		}
		if (alive && running)
			avail_add(from, st.exit_ns, i);
	}
	qsort(avail, n_avail, sizeof(*avail), cmp_ival);
}

/* Stop intervals per process, to excuse the late wake-ups they explain. */
static struct ival *stops;
static size_t n_stops;
static size_t *stops_at; /* first interval of process i; n_insts + 1 entries */

static int cmp_ival_inst(const void *a, const void *b)
{
	const struct ival *x = a, *y = b;
	int c = cmp_u64(x->inst, y->inst);
	return c ? c : cmp_u64(x->from, y->from);
}

static void build_stops(void)
{
	uint64_t *open = calloc(n_insts + 1, sizeof(*open));
	size_t cap = 0;

	stops_at = calloc(n_insts + 2, sizeof(*stops_at));
	if (!open || !stops_at)
		exit(99);
	for (size_t k = 0; k < n_evs; k++) {
		uint32_t i = evs[k].inst;
		if (evs[k].type == EV_STOP) {
			open[i] = evs[k].t;
		} else if (open[i] && evs[k].type != EV_SPAWN) {
			/* cont, or kill/quit/died while stopped */
			if (n_stops == cap) {
				cap = cap ? 2 * cap : 1024;
				stops = realloc(stops, cap * sizeof(*stops));
				if (!stops)
					exit(99);
			}
			stops[n_stops++] = (struct ival){ open[i], evs[k].t, i };
			open[i] = 0;
		}
	}
	for (uint32_t i = 0; i < n_insts; i++)
		if (open[i]) {
			if (n_stops == cap) {
				cap = cap ? 2 * cap : 1024;
				stops = realloc(stops, cap * sizeof(*stops));
				if (!stops)
					exit(99);
			}
			stops[n_stops++] = (struct ival){ open[i], UINT64_MAX, i };
		}
	free(open);
	if (n_stops)
		qsort(stops, n_stops, sizeof(*stops), cmp_ival_inst);
	for (size_t k = 0, i = 0; i <= n_insts; i++) {
		while (k < n_stops && stops[k].inst < i)
			k++;
		stops_at[i] = k;
	}
	stops_at[n_insts + 1] = n_stops;
}

/* The candidates' own late wake-ups, minus those that a SIGSTOP explains. */
static uint64_t stalls_max(uint64_t *ret_n, uint64_t *ret_excused)
{
	uint64_t n = __atomic_load_n(&sh->n_stalls, __ATOMIC_ACQUIRE), m = 0, excused = 0;

	if (n > sh->stall_cap)
		n = sh->stall_cap;
	build_stops();
	for (uint64_t i = 0; i < n; i++) {
		struct stall *s = &STALL[i];
		bool stopped = false;

		if (!s->to || s->inst >= n_insts)
			continue;
		for (size_t k = stops_at[s->inst]; k < stops_at[s->inst + 1] && !stopped; k++)
			if (stops[k].from < s->to && stops[k].to > s->from)
				stopped = true;
		if (stopped) {
			excused++;
			continue;
		}
		bucket_note(s->to, s->over);
		if (s->over > m)
			m = s->over;
	}
	*ret_n = n;
	*ret_excused = excused;
	return m;
}

/* --- 4 and 5 --------------------------------------------------------- */

static FILE *dumpf; /* --dump, open during the checks */

struct gap {
	uint64_t from, to;
	struct group *prev, *next;
	bool checked;
};

static int cmp_u64p(const void *a, const void *b)
{
	return cmp_u64(*(const uint64_t *)a, *(const uint64_t *)b);
}

static struct {
	uint64_t n, checked, over_canary_only, initial_ns;
	uint64_t *by_cause[4];
	size_t n_cause[4];
	uint64_t max_ns, max_checked_ns, p50_ns, p99_ns;
	uint64_t calm_terms, lead_after_ns;
} gst;

/* What ended the term before a gap, as far as its own log tells. */
enum { CAUSE_CRASH, CAUSE_EXPIRY, CAUSE_RESIGN, CAUSE_OTHER };
static const char *const cause_name[] = { "crash", "expiry", "resign", "other" };

static int gap_cause(const struct group *prev)
{
	switch (prev->how) {
	case HOW_OPEN:
	case HOW_CALLBACK: /* an elector's first check, its worker never checked */
		/* still open: its process was stopped or killed while it led;
		 * whichever the driver did first around its last check (the
		 * driver's time is taken just before the signal, so a last
		 * check can follow it by a little) */
		for (size_t k = 0; k < n_evs; k++) {
			if (evs[k].inst != prev->inst || evs[k].t + MS < prev->end)
				continue;
			if (evs[k].type == EV_STOP)
				return CAUSE_EXPIRY;
			if (evs[k].type == EV_KILL)
				return CAUSE_CRASH;
		}
		return CAUSE_OTHER;
	case HOW_LOST:
		return CAUSE_EXPIRY; /* stopped or starved past its lease */
	case HOW_NEWTERM:
		return CAUSE_OTHER;
	case HOW_RESIGNED:
		return CAUSE_RESIGN;
	default:
		return CAUSE_OTHER;
	}
}

static void check_gaps(uint64_t bound, uint64_t S, uint64_t bound_canary_only)
{
	size_t n = n_ents ? n_ents : 1;
	struct group *pieces = malloc(n * sizeof(*pieces));
	struct group **by = malloc(n * sizeof(*by));
	struct gap *gaps = malloc(n * sizeof(*gaps));
	uint64_t *lens = malloc(n * sizeof(*lens));
	size_t ng = 0, nl = 0;
	uint64_t covered = 0, first_lo = 0;
	struct group *cover = NULL;
	char a[96], b[96], e1[256], e2[256];

	if (!pieces || !by || !gaps || !lens)
		exit(99);
	for (int k = 0; k < 4; k++)
		if (!(gst.by_cause[k] = malloc(n * sizeof(uint64_t))))
			exit(99);
	/*
	 * Coverage is taken per entry, not per term: a term can lapse and be
	 * revived (its holder renews too late, nobody took it, it acquires
	 * again with the same token), and that lapse is a leaderless gap.
	 * Entries of one term are joined only when the earlier one did not
	 * end with a false check: an elector's first check (in its callback)
	 * and its worker's checks are one tenure seen by two threads.
	 */
	for (size_t i = 0; i < n_ents; i++) {
		struct tenure *t = &ents[i];
		pieces[i] = (struct group){
			.token = t->token, .start = t->start, .end = t->end,
			.lo = t->start < t->end ? t->start : t->end,
			.hi = t->start < t->end ? t->end : t->start,
			.expiry = t->expiry, .checks = t->checks, .inst = t->inst, .how = t->how,
		};
		by[i] = &pieces[i];
	}
	qsort(by, n_ents, sizeof(*by), cmp_group_lo);
	for (size_t i = 0; i < n_ents; i++) {
		struct group *g = by[i];
		if (g->lo > st.quit_ns)
			break; /* after quit: nobody is asked to lead any more */
		if (!cover) {
			first_lo = g->lo;
		} else if (g->lo > covered && (g->token != cover->token || cover->how == HOW_LOST)) {
			gaps[ng++] = (struct gap){ covered, g->lo, cover, g, false };
		}
		if (!cover || g->hi > covered) {
			covered = g->hi;
			cover = g;
		}
	}
	gst.initial_ns = first_lo ? first_lo - st.start_ns : 0;

	/* a gap is checked if one process was available throughout it */
	{
		size_t j = 0;
		uint64_t reach = 0;
		struct gap **gp = malloc((ng ? ng : 1) * sizeof(*gp));
		if (!gp)
			exit(99);
		for (size_t i = 0; i < ng; i++)
			gp[i] = &gaps[i];
		/* gaps are already in order of from */
		for (size_t i = 0; i < ng; i++) {
			while (j < n_avail && avail[j].from <= gp[i]->from) {
				if (avail[j].to > reach)
					reach = avail[j].to;
				j++;
			}
			gp[i]->checked = reach >= gp[i]->to;
		}
		free(gp);
	}

	for (size_t i = 0; i < ng; i++) {
		struct gap *g = &gaps[i];
		uint64_t len = g->to - g->from;

		gst.n++;
		if (len > gst.max_ns)
			gst.max_ns = len;
		if (dumpf)
			fprintf(dumpf, "gap %.6f %.6f %.6f %s term %" PRIu64 " inst %u -> term %" PRIu64
				" inst %u %s\n", rel(g->from), rel(g->to), ms(len),
				cause_name[gap_cause(g->prev)], g->prev->token - st.token_base,
				g->prev->inst, g->next->token - st.token_base, g->next->inst,
				g->checked ? "checked" : "unchecked");
		if (!g->checked)
			continue;
		gst.checked++;
		lens[nl++] = len;
		{
			int cause = gap_cause(g->prev);
			gst.by_cause[cause][gst.n_cause[cause]++] = len;
		}
		if (len > gst.max_checked_ns)
			gst.max_checked_ns = len;
		if (len > bound_canary_only)
			gst.over_canary_only++;
		if (len > bound && violations[V_GAP] >= 10) {
			violations[V_GAP]++;
		} else if (len > bound) {
			uint64_t c = bucket_max(g->from > cfg.lease_ns ? g->from - cfg.lease_ns : 0, g->to);
			inst_events(g->prev->inst, g->prev->lo > SEC ? g->prev->lo - SEC : 0, g->to, e1,
				    sizeof(e1));
			inst_events(g->next->inst, g->from > SEC ? g->from - SEC : 0, g->to, e2, sizeof(e2));
			violation(V_GAP,
				  "no leader for %.3f ms (bound %.3f ms, S %.3f ms) from %.3f to %.3f ms: "
				  "before, token %" PRIu64 " (%s, %s, last check at %.3f ms, lease "
				  "expiry then %.3f ms; driver: %s); after, token %" PRIu64
				  " (%s, first check by %.3f ms; driver: %s); worst wake-up near the gap "
				  "%.3f ms",
				  ms(len), ms(bound), ms(S), rel(g->from), rel(g->to), g->prev->token,
				  inst_desc(g->prev->inst, a, sizeof(a)), how_name[g->prev->how],
				  rel(g->prev->end), rel(g->prev->expiry), e1, g->next->token,
				  inst_desc(g->next->inst, b, sizeof(b)), rel(g->next->start), e2, ms(c));
		}
	}
	qsort(lens, nl, sizeof(*lens), cmp_u64p);
	for (int k = 0; k < 4; k++)
		qsort(gst.by_cause[k], gst.n_cause[k], sizeof(uint64_t), cmp_u64p);
	if (nl) {
		gst.p50_ns = lens[(nl - 1) / 2];
		gst.p99_ns = lens[(nl - 1) * 99 / 100];
	}

	/* 5: after the chaos, someone leads within 2 s + S ... */
	{
		uint64_t lead_at = UINT64_MAX, last_hi = 0;
		for (size_t i = 0; i < n_ents; i++) {
			struct group *g = by[i];
			if (g->lo > st.quit_ns)
				break;
			if (g->hi >= st.calm_ns && lead_at == UINT64_MAX)
				lead_at = g->lo < st.calm_ns ? st.calm_ns : g->lo;
			if (g->hi > last_hi)
				last_hi = g->hi;
		}
		for (size_t i = 0; i < n_groups; i++)
			if (groups[i].start >= st.calm_ns && groups[i].start <= st.quit_ns)
				gst.calm_terms++;
		if (lead_at == UINT64_MAX) {
			violation(V_WEDGE_LEAD, "nobody led between the end of the chaos (%.3f ms) and "
				  "quit (%.3f ms)", rel(st.calm_ns), rel(st.quit_ns));
		} else {
			gst.lead_after_ns = lead_at - st.calm_ns;
			if (gst.lead_after_ns > 2 * SEC + S)
				violation(V_WEDGE_LEAD, "first leader %.3f ms after the chaos ended "
					  "(bound 2 s + S = %.3f ms)", ms(gst.lead_after_ns),
					  ms(2 * SEC + S));
			/* ... and keeps leading: later gaps are checked by 4
			 * (everyone is available), the last one here */
			if (last_hi < st.quit_ns && st.quit_ns - last_hi > bound)
				violation(V_WEDGE_HOLD, "no leader for the last %.3f ms before quit "
					  "(bound %.3f ms)", ms(st.quit_ns - last_hi), ms(bound));
		}
	}
	free(pieces);
	free(by);
	free(gaps);
	free(lens);
}

/* --- dump ------------------------------------------------------------ */

static void dump(void)
{
	FILE *f = dumpf;

	if (!f)
		return;
	fprintf(f, "# processes: inst pid kind identity pos ready left\n");
	for (uint32_t i = 0; i < n_insts; i++)
		fprintf(f, "proc %u %d %s %s %u %.6f %.6f\n", i, (int)INST[i].pid,
			kind_name[INST[i].kind], INST[i].identity, INST[i].pos,
			INST[i].ready_ns ? rel(INST[i].ready_ns) : -1.0,
			INST[i].left_ns ? rel(INST[i].left_ns) : -1.0);
	fprintf(f, "# driver events: time inst what\n");
	for (size_t i = 0; i < n_evs; i++)
		fprintf(f, "event %.6f %u %s\n", rel(evs[i].t), evs[i].inst, ev_name[evs[i].type]);
	fprintf(f, "# terms: term token inst start end lo hi expiry checks how\n");
	for (size_t i = 0; i < n_groups; i++) {
		struct group *g = &groups[i];
		fprintf(f, "term %" PRIu64 " %" PRIu64 " %u %.6f %.6f %.6f %.6f %.6f %" PRIu64 " %s\n",
			g->token - st.token_base, g->token, g->inst, rel(g->start), rel(g->end),
			rel(g->lo), rel(g->hi), rel(g->expiry), g->checks, how_name[g->how]);
	}
	fprintf(f, "# tenure entries: term inst start end expiry checks how\n");
	for (size_t i = 0; i < n_ents; i++) {
		struct tenure *t = &ents[i];
		fprintf(f, "entry %" PRIu64 " %u %.6f %.6f %.6f %" PRIu64 " %s\n",
			t->token - st.token_base, t->inst, rel(t->start), rel(t->end), rel(t->expiry),
			t->checks, how_name[t->how]);
	}
	fclose(f);
	dumpf = NULL;
}

/* ------------------------------------------------------------------ */
/* main                                                                 */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: chaos [options]\n"
		"  --candidates N     candidate processes (default 8; even ones elector, odd raw)\n"
		"  --seconds S        length of the chaos phase (default 15 unless --ops)\n"
		"  --ops N            or until N lease operations were made\n"
		"  --seed X           seed of the driver and of the candidates (default: random)\n"
		"  --lease-ms MS      lease duration (default 20)\n"
		"  --renew-ms MS      elector renew deadline (default 14)\n"
		"  --retry-ms MS      retry period (default 4)\n"
		"  --sample-us US     a leader's pause between checks (default 100)\n"
		"  --interval-ms MS   mean time between chaos actions (default 40)\n"
		"  --kill-pct P       share of actions that SIGKILL (default 30)\n"
		"  --stop-pct P       share of actions that SIGSTOP (default 40; the rest: nothing)\n"
		"  --resign-ms MS     raw leaders resign after U(0, 2 MS) (default 100)\n"
		"  --hold-ms MS       calm phase: watch leadership this long (default 500)\n"
		"  --canaries N       canary threads (default 2)\n"
		"  --dump FILE        write processes, signals and terms to FILE\n"
		"  --inject BUG       overlap, fence, gap or wedge: a deliberate bug the\n"
		"                     checker must report (to test the checker)\n"
		"  --verbose          progress every 10 s\n");
}

static uint64_t parse_ms(const char *s, double unit)
{
	char *end;
	double v = strtod(s, &end);

	if (*end || v <= 0) {
		fprintf(stderr, "chaos: bad value '%s'\n", s);
		exit(99);
	}
	return (uint64_t)(v * unit);
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "candidates", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "ops", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 'S' },
		{ "lease-ms", required_argument, NULL, 'l' },
		{ "renew-ms", required_argument, NULL, 'r' },
		{ "retry-ms", required_argument, NULL, 'R' },
		{ "sample-us", required_argument, NULL, 'u' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "kill-pct", required_argument, NULL, 'k' },
		{ "stop-pct", required_argument, NULL, 'p' },
		{ "resign-ms", required_argument, NULL, 'x' },
		{ "hold-ms", required_argument, NULL, 'H' },
		{ "canaries", required_argument, NULL, 'c' },
		{ "dump", required_argument, NULL, 'd' },
		{ "inject", required_argument, NULL, 'I' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool seeded = false;
	int o;

	while ((o = getopt_long(argc, argv, "n:s:o:S:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'n': cfg.candidates = (unsigned)strtoul(optarg, NULL, 0); break;
		case 's': cfg.seconds = strtod(optarg, NULL); break;
		case 'o': cfg.ops = strtoull(optarg, NULL, 0); break;
		case 'S': cfg.seed = strtoull(optarg, NULL, 0); seeded = true; break;
		case 'l': cfg.lease_ns = parse_ms(optarg, 1e6); break;
		case 'r': cfg.renew_ns = parse_ms(optarg, 1e6); break;
		case 'R': cfg.retry_ns = parse_ms(optarg, 1e6); break;
		case 'u': cfg.sample_ns = parse_ms(optarg, 1e3); break;
		case 'i': cfg.interval_ns = parse_ms(optarg, 1e6); break;
		case 'k': cfg.kill_pct = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'p': cfg.stop_pct = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'x': cfg.resign_ns = parse_ms(optarg, 1e6); break;
		case 'H': cfg.hold_ns = parse_ms(optarg, 1e6); break;
		case 'c': cfg.canaries = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'd': cfg.dump = optarg; break;
		case 'I':
			for (cfg.inject = INJ_WEDGE; cfg.inject > 0; cfg.inject--)
				if (!strcmp(optarg, inject_name[cfg.inject]))
					break;
			if (!cfg.inject) {
				fprintf(stderr, "chaos: --inject: overlap, fence, gap or wedge\n");
				exit(99);
			}
			break;
		case 'v': cfg.verbose = true; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(99);
		}
	}
	if (optind < argc) {
		usage(stderr);
		exit(99);
	}
	if (cfg.candidates < 2 || cfg.candidates > 256) {
		fprintf(stderr, "chaos: --candidates must be 2..256\n");
		exit(99);
	}
	if (!(cfg.lease_ns > cfg.renew_ns && cfg.renew_ns > cfg.retry_ns && cfg.retry_ns > 0) ||
	    cfg.lease_ns < SHMELECT_LEASE_MIN_NS) {
		fprintf(stderr, "chaos: need lease > renew deadline > retry period > 0, lease >= 1 ms\n");
		exit(99);
	}
	if (cfg.kill_pct + cfg.stop_pct > 100 || cfg.canaries < 1 || cfg.canaries > 8) {
		fprintf(stderr, "chaos: bad --kill-pct/--stop-pct/--canaries\n");
		exit(99);
	}
	if (cfg.seconds <= 0 && !cfg.ops)
		cfg.seconds = 15;
	if (!seeded) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		cfg.seed = ((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid() << 40) &
			   UINT64_C(0xffffffffffff);
	}
}

int main(int argc, char **argv)
{
	uint64_t S, S_canary, sched_max, stall_m, n_stalls, excused, bound, bound_canary_only;
	unsigned nv;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
	drng.s = cfg.seed;
	driver_pid = getpid();

	printf("chaos: seed %" PRIu64 " (replay: chaos --seed %" PRIu64 " --candidates %u", cfg.seed,
	       cfg.seed, cfg.candidates);
	if (cfg.ops)
		printf(" --ops %" PRIu64, cfg.ops);
	if (cfg.seconds > 0)
		printf(" --seconds %g", cfg.seconds);
	printf(" --lease-ms %g --renew-ms %g --retry-ms %g --sample-us %g --interval-ms %g)\n",
	       ms(cfg.lease_ns), ms(cfg.renew_ns), ms(cfg.retry_ns), (double)cfg.sample_ns / 1e3,
	       ms(cfg.interval_ns));
	if (cfg.inject)
		printf("chaos: injecting a deliberate bug: %s (this run must fail)\n",
		       inject_name[cfg.inject]);

	r = shared_map();
	if (r < 0) {
		fprintf(stderr, "chaos: shared log: %s\n", strerror(-r));
		return 99;
	}
	DI = calloc(sh->inst_cap, sizeof(*DI));
	pos_inst = calloc(cfg.candidates, sizeof(*pos_inst));
	if (!DI || !pos_inst)
		return 99;
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGHUP, on_fatal_signal);
	atexit(cleanup_segment);
	if (driver_setup() < 0)
		return 99;
	r = canary_start();
	if (r < 0) {
		fprintf(stderr, "chaos: canary: %s\n", strerror(-r));
		return 99;
	}

	run();

	canary_stop();
	shmelect_election_close(delect);
	shmelect_segment_close(dseg);
	shmelect_segment_unlink(seg_name, 0);
	seg_path[0] = 0;

	/* S: twice the longest scheduling delay anybody measured */
	stall_m = stalls_max(&n_stalls, &excused);
	sched_max = canary.max_ns;
	if (canary.driver_max_ns > sched_max)
		sched_max = canary.driver_max_ns;
	S_canary = 2 * sched_max;
	if (stall_m > sched_max)
		sched_max = stall_m;
	S = 2 * sched_max;
	bound = cfg.lease_ns + cfg.retry_ns + cfg.sample_ns + S;
	bound_canary_only = cfg.lease_ns + cfg.retry_ns + cfg.sample_ns + S_canary;

	build_groups();
	build_avail();
	check_terms();
	check_fence();
	if (cfg.dump) {
		dumpf = fopen(cfg.dump, "we");
		if (!dumpf)
			fprintf(stderr, "chaos: %s: %s\n", cfg.dump, strerror(errno));
		else
			fprintf(dumpf, "# times in ms since the start of the run\n"
				"# gaps: from to length cause before -> after\n");
	}
	check_gaps(bound, S, bound_canary_only);
	dump();

	nv = total_violations();
	printf("chaos: ops %" PRIu64 " lease operations (%" PRIu64 " in the chaos phase of %.1f s), "
	       "%u candidates, %u processes\n",
	       ops_now(), st.chaos_ops, ms(st.chaos_end_ns - st.start_ns) / 1e3, cfg.candidates,
	       n_insts);
	printf("chaos: terms %" PRIu64 " (election term %" PRIu64 "), tenures %" PRIu64
	       ", kills %" PRIu64 " (restarted %" PRIu64 " with the same identity), stops %" PRIu64
	       ", spared %" PRIu64 ", actions %" PRIu64 "\n",
	       (uint64_t)n_groups, st.term_after, __atomic_load_n(&sh->n_tenures, __ATOMIC_RELAXED),
	       st.kills, st.restarts_same, st.stops, st.spared, st.actions);
	printf("chaos: fence: %" PRIu64 " calls, %" PRIu64 " appended, %" PRIu64
	       " rejected (stale token), %" PRIu64 " passed the fence but found a newer append, %" PRIu64
	       " cut by SIGKILL%s\n",
	       fst.calls, fst.appends, fst.rejected, fst.superseded, fst.pending,
	       fst.full ? " (log full: later writes skipped)" : "");
	printf("chaos: gaps: %" PRIu64 " (%" PRIu64 " checked), max %.3f ms (checked %.3f ms), "
	       "p50 %.3f ms, p99 %.3f ms; first leader after %.3f ms\n",
	       gst.n, gst.checked, ms(gst.max_ns), ms(gst.max_checked_ns), ms(gst.p50_ns),
	       ms(gst.p99_ns), ms(gst.initial_ns));
	printf("chaos: gaps after:");
	for (int k = 0; k < 4; k++) {
		size_t c = gst.n_cause[k];
		printf(" %s %zu", cause_name[k], c);
		if (c)
			printf(" (p50 %.3f, max %.3f ms)", ms(gst.by_cause[k][(c - 1) / 2]),
			       ms(gst.by_cause[k][c - 1]));
		printf(k < 3 ? "," : "\n");
	}
	printf("chaos: bound = lease %.3f + retry %.3f + sample %.3f + S %.3f = %.3f ms\n",
	       ms(cfg.lease_ns), ms(cfg.retry_ns), ms(cfg.sample_ns), ms(S), ms(bound));
	printf("chaos: S = 2 x %.3f ms: canary max %.3f ms (%" PRIu64 " sleeps of 1 ms), driver %.3f ms, "
	       "candidates %.3f ms (%" PRIu64 " late wake-ups, %" PRIu64 " excused by SIGSTOP); "
	       "gaps over the canary-only bound %.3f ms: %" PRIu64 "\n",
	       ms(sched_max), ms(canary.max_ns), canary.samples, ms(canary.driver_max_ns), ms(stall_m),
	       n_stalls, excused, ms(bound_canary_only), gst.over_canary_only);
	printf("chaos: calm: leader %.3f ms after the chaos, %" PRIu64 " new terms in %.0f ms; "
	       "quit: all exited in %.3f ms; members after %d, holder after %d\n",
	       ms(gst.lead_after_ns), gst.calm_terms, ms(st.quit_ns - st.calm_ns), ms(st.max_exit_ns),
	       st.members_after, st.holder_after);
	if (fst.full || __atomic_load_n(&sh->n_tenures, __ATOMIC_RELAXED) > sh->ten_cap)
		printf("chaos: warning: a log filled up; the checks cover what was logged\n");
	for (int i = 0; i < V_COUNT; i++)
		if (violations[i])
			printf("chaos: %u x %s\n", violations[i], v_name[i]);
	printf("chaos: violations: %u\n", nv);
	if (nv)
		printf("chaos: FAILED; replay with --seed %" PRIu64 " (and the same options)\n", cfg.seed);
	return nv ? 1 : 0;
}
