/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lease operations, one Kubernetes rule at a time (DESIGN.md, "Semantics to
 * match"): try-acquire, renew, resign, transitions, tokens; then candidates:
 * join validation, identities, capacity, dead members, leave, fork().
 *
 * Some tests inject faults by interposing libc functions that the library
 * calls (the tests link a private static copy of the library, so the
 * executable's definitions win):
 *   - madvise(MADV_WIPEONFORK) failing, as on kernels before 4.14;
 *   - open() of /proc/PID/stat and clock_gettime() running a callback, to
 *     place "another process" deterministically inside a window of an
 *     operation (the callback does what that other process would do).
 * Unarmed, the interposers only pass the call on.
 */
#include "helpers.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <sys/syscall.h>

TestSuite(lease, .fini = teardown);

/* ------------------------------------------------------------------ */
/* Interposers                                                          */
/* ------------------------------------------------------------------ */

static volatile int fail_wipeonfork;

int madvise(void *addr, size_t len, int advice)
{
	if (fail_wipeonfork && advice == MADV_WIPEONFORK) {
		errno = EINVAL; /* what a kernel before 4.14 says */
		return -1;
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

/* One-shot hooks: disarmed before they run, so they may call the library.
 * They fire only in the thread that armed them (the library has threads
 * of its own). */
static char open_hook_path[64];
static void (*open_hook)(void);
static void (*clock_hook)(void);
static pid_t hook_tid;

static void arm_open_hook(const char *path, void (*fn)(void))
{
	snprintf(open_hook_path, sizeof(open_hook_path), "%s", path);
	hook_tid = gettid();
	open_hook = fn;
}

static int open_common(const char *path, int flags, mode_t mode)
{
	if (open_hook && path && gettid() == hook_tid && !strcmp(path, open_hook_path)) {
		void (*fn)(void) = open_hook;
		open_hook = NULL;
		fn();
	}
	return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open_common(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;

	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	return open_common(path, flags, mode);
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);

	if (clock_hook && gettid() == hook_tid) {
		void (*fn)(void) = clock_hook;
		clock_hook = NULL;
		fn();
	}
	if (!real)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	if (real)
		return real(id, ts);
	return (int)syscall(SYS_clock_gettime, id, ts);
}

/* ------------------------------------------------------------------ */
/* Fixture                                                              */
/* ------------------------------------------------------------------ */

struct fx {
	const char *name;
	struct shmelect_segment *seg;
	struct shmelect_election *e;
};

static struct fx setup(const char *tag, uint32_t candidates)
{
	struct fx f;

	f.name = shm_name(tag);
	f.seg = open_seg(f.name, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, 4, candidates);
	f.e = open_election(f.seg, "svc", SHMELECT_ELECTION_CREATE);
	return f;
}

static void done(struct fx *f)
{
	shmelect_election_close(f->e);
	shmelect_segment_close(f->seg);
}

/* ------------------------------------------------------------------ */
/* Kubernetes semantics                                                 */
/* ------------------------------------------------------------------ */

Test(lease, acquire_vacant)
{
	struct fx f = setup("vacant", 4);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE);
	uint64_t tok = 0, tok2 = 0, expiry = 0, t0, t1;

	cr_expect_eq(shmelect_candidate_is_leader(a), 0, "not before acquiring");
	t0 = shmelect_now_ns();
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	t1 = shmelect_now_ns();
	cr_expect_neq(tok, 0, "a token is never 0 (fences refuse 0)");
	cr_expect_eq(shmelect_candidate_leadership(a, &tok2, &expiry), 1);
	cr_expect_eq(tok2, tok);
	cr_expect(expiry >= t0 + LONG_LEASE && expiry <= t1 + LONG_LEASE, "expiry = acquire time + lease");

	struct shmelect_record rec = observe(f.e);
	cr_expect_eq(rec.has_holder, 1);
	cr_expect_str_eq(rec.holder, "a");
	cr_expect_eq(rec.token, tok);
	cr_expect_eq(rec.term, 1);
	cr_expect_eq(rec.transitions, 1, "taking a vacant lease is a transition");

	/* NULL ret_token is allowed */
	cr_expect_eq(shmelect_candidate_try_acquire(a, NULL), 1);
	shmelect_candidate_leave(a);
	done(&f);
}

Test(lease, held_valid_refuses_others)
{
	struct fx f = setup("held", 4);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE), *b = join(f.e, "b", LONG_LEASE);
	uint64_t tok = 0, tokb = 12345;

	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_expect_eq(shmelect_candidate_try_acquire(b, &tokb), 0);
	cr_expect_eq(tokb, 12345, "ret_token untouched when not acquired");
	cr_expect_eq(shmelect_candidate_is_leader(b), 0);
	cr_expect_eq(shmelect_candidate_is_leader(a), 1);
	cr_expect_str_eq(observe(f.e).holder, "a");
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	done(&f);
}

Test(lease, held_by_self_is_a_renew)
{
	struct fx f = setup("self", 4);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE);
	uint64_t tok1, tok2, exp1, exp2;
	struct shmelect_record r1, r2;

	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok1), 1);
	cr_assert_eq(shmelect_candidate_leadership(a, NULL, &exp1), 1);
	r1 = observe(f.e);
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok2), 1);
	cr_assert_eq(shmelect_candidate_leadership(a, NULL, &exp2), 1);
	r2 = observe(f.e);
	cr_expect_eq(tok2, tok1, "same term, same token");
	cr_expect_eq(r2.term, r1.term);
	cr_expect_eq(r2.transitions, r1.transitions, "a renew is not a transition");
	cr_expect_eq(r2.acquire_ns, r1.acquire_ns, "acquireTime is the term's");
	cr_expect_geq(exp2, exp1, "a renew never shortens the lease");
	cr_expect_geq(r2.renew_ns, r1.renew_ns);
	shmelect_candidate_leave(a);
	done(&f);
}

Test(lease, renew_by_non_holder)
{
	struct fx f = setup("renew-nonholder", 4);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE), *b = join(f.e, "b", LONG_LEASE);
	uint64_t tok;

	cr_expect_eq(shmelect_candidate_renew(a), 0, "never held, vacant");
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_expect_eq(shmelect_candidate_renew(b), 0, "never held, held by another");
	cr_expect_eq(shmelect_candidate_renew(a), 1);
	/* b held once, lost it: still not the holder */
	cr_assert_eq(shmelect_candidate_resign(a), 1);
	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok), 1);
	cr_assert_eq(shmelect_candidate_resign(b), 1);
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_expect_eq(shmelect_candidate_renew(b), 0, "held an earlier term");
	cr_expect_str_eq(observe(f.e).holder, "a");
	cr_expect_eq(shmelect_candidate_is_leader(a), 1);
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	done(&f);
}

Test(lease, renew_after_expiry_fails)
{
	struct fx f = setup("renew-expired", 4);
	struct shmelect_candidate *a = join(f.e, "a", SHORT_LEASE);
	uint64_t tok, t = 1, x = 1;

	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	outlive(SHORT_LEASE);
	cr_expect_eq(shmelect_candidate_renew(a), 0, "renew never revives an expired lease");
	cr_expect_eq(shmelect_candidate_is_leader(a), 0);
	cr_expect_eq(shmelect_candidate_leadership(a, &t, &x), 0);
	cr_expect_eq(t, 1, "ret_token untouched when not leader");
	cr_expect_eq(x, 1);
	cr_expect_eq(observe(f.e).expired, 1);
	shmelect_candidate_leave(a);
	done(&f);
}

Test(lease, takeover_after_expiry)
{
	struct fx f = setup("takeover", 4);
	struct shmelect_candidate *a = join(f.e, "a", SHORT_LEASE), *b = join(f.e, "b", LONG_LEASE);
	uint64_t tok_a, tok_b;
	struct shmelect_record before, after;

	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok_a), 1);
	before = observe(f.e);
	outlive(SHORT_LEASE);
	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok_b), 1);
	after = observe(f.e);
	cr_expect_gt(tok_b, tok_a, "a new term's token is strictly larger");
	cr_expect_eq(after.term, before.term + 1);
	cr_expect_eq(after.transitions, before.transitions + 1);
	cr_expect_str_eq(after.holder, "b");
	cr_expect_geq(after.acquire_ns, before.expiry_ns, "taken only after the old lease expired");

	/* the old holder learns it lost */
	cr_expect_eq(shmelect_candidate_is_leader(a), 0);
	cr_expect_eq(shmelect_candidate_renew(a), 0);
	cr_expect_eq(shmelect_candidate_resign(a), 0);
	cr_expect_eq(shmelect_candidate_try_acquire(a, &tok_a), 0, "b's lease is valid");
	cr_expect_eq(shmelect_candidate_is_leader(b), 1);
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	done(&f);
}

Test(lease, self_reacquire_expired_untaken)
{
	struct fx f = setup("reacquire", 4);
	struct shmelect_candidate *a = join(f.e, "a", SHORT_LEASE), *b = join(f.e, "b", LONG_LEASE);
	uint64_t tok1, tok2;
	struct shmelect_record r1, r2;

	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok1), 1);
	r1 = observe(f.e);
	outlive(SHORT_LEASE);
	cr_expect_eq(shmelect_candidate_is_leader(a), 0);
	cr_expect_eq(shmelect_candidate_renew(a), 0);
	cr_expect_eq(shmelect_candidate_try_acquire(a, &tok2), 1, "nobody took it");
	r2 = observe(f.e);
	cr_expect_eq(tok2, tok1, "same holder, same term: same token");
	cr_expect_eq(r2.term, r1.term);
	cr_expect_eq(r2.transitions, r1.transitions, "the holder did not change");
	cr_expect_str_eq(r2.holder, "a");
	cr_expect_gt(r2.expiry_ns, r1.expiry_ns, "the lease was extended");
	(void)b;
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	done(&f);
}

Test(lease, resign_frees_at_once)
{
	struct fx f = setup("resign", 4);
	/* a one-hour lease: b can only get it through the resign */
	struct shmelect_candidate *a = join(f.e, "a", SHMELECT_LEASE_MAX_NS), *b = join(f.e, "b", LONG_LEASE);
	uint64_t tok_a, tok_b;
	struct shmelect_record rec;

	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok_a), 1);
	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok_b), 0);
	cr_expect_eq(shmelect_candidate_resign(a), 1);
	rec = observe(f.e);
	cr_expect_eq(rec.has_holder, 0, "vacant at once");
	cr_expect_eq(rec.term, 1);
	cr_expect_eq(rec.transitions, 1, "resign is not a transition");
	cr_expect_eq(shmelect_candidate_is_leader(a), 0);
	cr_expect_eq(shmelect_candidate_renew(a), 0);
	cr_expect_eq(shmelect_candidate_resign(a), 0, "already resigned");

	cr_expect_eq(shmelect_candidate_try_acquire(b, &tok_b), 1, "no waiting out the lease");
	cr_expect_gt(tok_b, tok_a);
	rec = observe(f.e);
	cr_expect_eq(rec.term, 2, "a new term");
	cr_expect_eq(rec.transitions, 2);
	cr_expect_str_eq(rec.holder, "b");
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	done(&f);
}

Test(lease, resign_by_non_holder)
{
	struct fx f = setup("resign-nonholder", 4);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE), *b = join(f.e, "b", LONG_LEASE);
	uint64_t tok;

	cr_expect_eq(shmelect_candidate_resign(b), 0, "never held, vacant");
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_expect_eq(shmelect_candidate_resign(b), 0);
	cr_expect_eq(shmelect_candidate_is_leader(a), 1, "a non-holder's resign changed nothing");
	cr_expect_str_eq(observe(f.e).holder, "a");
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	done(&f);
}

Test(lease, transitions_count_takeovers)
{
	struct fx f = setup("transitions", 4);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE), *b = join(f.e, "b", LONG_LEASE);
	struct shmelect_candidate *s = join(f.e, "short", SHORT_LEASE);
	uint64_t tok;

	cr_expect_eq(observe(f.e).transitions, 0, "0 at creation");
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_expect_eq(observe(f.e).transitions, 1, "took a vacant lease");
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_assert_eq(shmelect_candidate_renew(a), 1);
	cr_expect_eq(observe(f.e).transitions, 1, "renews");
	cr_assert_eq(shmelect_candidate_resign(a), 1);
	cr_expect_eq(observe(f.e).transitions, 1, "resign");
	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok), 1);
	cr_expect_eq(observe(f.e).transitions, 2, "took a released lease");
	cr_assert_eq(shmelect_election_evict(f.e), 1);
	cr_expect_eq(observe(f.e).transitions, 2, "evict");
	cr_assert_eq(shmelect_candidate_try_acquire(s, &tok), 1);
	cr_expect_eq(observe(f.e).transitions, 3, "took an evicted lease");
	outlive(SHORT_LEASE);
	cr_assert_eq(shmelect_candidate_try_acquire(s, &tok), 1);
	cr_expect_eq(observe(f.e).transitions, 3, "own expired lease re-acquired");
	outlive(SHORT_LEASE);
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_expect_eq(observe(f.e).transitions, 4, "took an expired lease");
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	shmelect_candidate_leave(s);
	done(&f);
}

Test(lease, tokens_increase_over_100_terms)
{
	struct fx f = setup("tokens", 4);
	struct shmelect_candidate *c[2] = { join(f.e, "a", LONG_LEASE), join(f.e, "b", LONG_LEASE) };
	uint64_t prev = 0, tok;

	for (int term = 1; term <= 100; term++) {
		struct shmelect_candidate *me = c[term % 2];
		cr_assert_eq(shmelect_candidate_try_acquire(me, &tok), 1, "term %d", term);
		cr_assert_gt(tok, prev, "term %d: token %" PRIu64 " after %" PRIu64, term, tok, prev);
		struct shmelect_record rec = observe(f.e);
		cr_assert_eq(rec.term, (uint64_t)term);
		cr_assert_eq(rec.transitions, (uint64_t)term);
		cr_assert_eq(rec.token, tok);
		prev = tok;
		/* end the term three ways in turn */
		if (term % 3 == 0)
			cr_assert_eq(shmelect_election_evict(f.e), 1);
		else
			cr_assert_eq(shmelect_candidate_resign(me), 1);
	}
	shmelect_candidate_leave(c[0]);
	shmelect_candidate_leave(c[1]);
	done(&f);
}

/* Invariant 2: deleting and re-creating the segment never sends tokens back. */
Test(lease, tokens_increase_across_recreation)
{
	const char *name = shm_name("recreate");
	uint64_t max_old = 0, tok;

	for (int round = 0; round < 3; round++) {
		struct shmelect_segment *s = open_seg(name, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, 4, 4);
		struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
		struct shmelect_candidate *a = join(e, "a", LONG_LEASE), *b = join(e, "b", LONG_LEASE);

		cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
		cr_expect_gt(tok, max_old, "round %d: first token %" PRIu64 " <= old %" PRIu64, round, tok, max_old);
		/* many terms, so that the old election's tokens run ahead */
		for (int i = 0; i < 1000; i++) {
			struct shmelect_candidate *me = i % 2 ? a : b;
			cr_assert_eq(shmelect_candidate_resign(i % 2 ? b : a), 1);
			cr_assert_eq(shmelect_candidate_try_acquire(me, &tok), 1);
			cr_assert_gt(tok, max_old);
			max_old = tok;
		}
		shmelect_candidate_leave(a);
		shmelect_candidate_leave(b);
		shmelect_election_close(e);
		shmelect_segment_close(s);
		cr_assert_eq(shmelect_segment_unlink(name, 0), 0);
	}
}

Test(lease, token_floor_honored)
{
	const char *name = shm_name("floor");
	struct shmelect_segment_params p = { .max_elections = 4, .max_candidates = 2 };
	struct shmelect_segment *s = NULL;
	struct timespec ts;
	uint64_t tok;

	clock_gettime(CLOCK_REALTIME, &ts);
	/* far above anything derived from the clock */
	p.token_floor = ((uint64_t)ts.tv_sec + 1000000000ull) * SEC;
	cr_assert_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &p, &s), 0);
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_candidate *a = join(e, "a", LONG_LEASE);
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_expect_gt(tok, p.token_floor);
	shmelect_candidate_leave(a);
	shmelect_election_close(e);
	shmelect_segment_close(s);
}

/*
 * A floor so high that token_base + term no longer fits in 64 bits.  The
 * library may refuse the floor or refuse to acquire (-EOVERFLOW), but it
 * must never issue a token that is not larger than the previous one (or a
 * token 0, which fences reject).
 */
Test(lease, token_floor_near_overflow)
{
	const char *name = shm_name("floor-overflow");
	struct shmelect_segment_params p = { .max_elections = 4, .max_candidates = 2,
					     .token_floor = UINT64_MAX - 10 };
	struct shmelect_segment *s = NULL;
	uint64_t prev = p.token_floor, tok;
	int r;

	r = shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &p, &s);
	if (r < 0) {
		cr_expect(r == -EINVAL || r == -ERANGE || r == -EOVERFLOW, "refused with %s", strerror(-r));
		return;
	}
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_candidate *a = join(e, "a", LONG_LEASE);
	for (int term = 1; term <= 20; term++) {
		r = shmelect_candidate_try_acquire(a, &tok);
		if (r < 0) {
			cr_expect_eq(r, -EOVERFLOW, "term %d: %s", term, strerror(-r));
			break;
		}
		cr_assert_eq(r, 1);
		cr_expect_gt(tok, prev, "term %d: token %" PRIu64 " does not exceed %" PRIu64 " (wrapped)", term, tok,
			     prev);
		if (tok <= prev)
			break;
		prev = tok;
		cr_assert_eq(shmelect_candidate_resign(a), 1);
	}
	shmelect_candidate_leave(a);
	shmelect_election_close(e);
	shmelect_segment_close(s);
}

/* ------------------------------------------------------------------ */
/* Joining                                                              */
/* ------------------------------------------------------------------ */

Test(lease, join_validation)
{
	struct fx f = setup("join", 8);
	struct shmelect_candidate *c = NULL, *ok;
	char id63[SHMELECT_IDENTITY_MAX + 1], id64[SHMELECT_IDENTITY_MAX + 2];

	cr_expect_eq(shmelect_candidate_join(f.e, "x", SHMELECT_LEASE_MIN_NS - 1, 0, &c), -EINVAL);
	cr_expect_eq(shmelect_candidate_join(f.e, "x", 0, 0, &c), -EINVAL);
	cr_expect_eq(shmelect_candidate_join(f.e, "x", SHMELECT_LEASE_MAX_NS + 1, 0, &c), -EINVAL);
	cr_expect_eq(shmelect_candidate_join(f.e, "x", UINT64_MAX, 0, &c), -EINVAL);
	cr_expect_eq(shmelect_candidate_join(f.e, "x", LONG_LEASE, 1, &c), -EINVAL);
	cr_expect_eq(shmelect_candidate_join(f.e, "x", LONG_LEASE, 1u << 31, &c), -EINVAL);
	cr_expect_eq(shmelect_candidate_join(NULL, "x", LONG_LEASE, 0, &c), -EINVAL);
	cr_expect_eq(shmelect_candidate_join(f.e, "x", LONG_LEASE, 0, NULL), -EINVAL);
	cr_expect_eq(shmelect_candidate_join(f.e, "", LONG_LEASE, 0, &c), -EINVAL);

	memset(id64, 'i', SHMELECT_IDENTITY_MAX + 1);
	id64[SHMELECT_IDENTITY_MAX + 1] = 0;
	cr_expect_eq(shmelect_candidate_join(f.e, id64, LONG_LEASE, 0, &c), -ENAMETOOLONG);
	cr_expect_null(c);
	cr_expect_eq(observe(f.e).n_members, 0, "refused joins took no slot");

	/* the limits themselves are accepted */
	ok = join(f.e, "min", SHMELECT_LEASE_MIN_NS);
	shmelect_candidate_leave(ok);
	ok = join(f.e, "max", SHMELECT_LEASE_MAX_NS);
	shmelect_candidate_leave(ok);
	memcpy(id63, id64, SHMELECT_IDENTITY_MAX);
	id63[SHMELECT_IDENTITY_MAX] = 0;
	ok = join(f.e, id63, LONG_LEASE);
	cr_expect_str_eq(shmelect_candidate_identity(ok), id63);
	uint64_t tok;
	cr_assert_eq(shmelect_candidate_try_acquire(ok, &tok), 1);
	cr_expect_str_eq(observe(f.e).holder, id63);
	shmelect_candidate_leave(ok);
	cr_expect_null(shmelect_candidate_identity(NULL));
	done(&f);
}

Test(lease, duplicate_identity)
{
	struct fx f = setup("dup", 8);
	struct shmelect_candidate *a = join(f.e, "same", LONG_LEASE), *c = NULL;

	cr_expect_eq(shmelect_candidate_join(f.e, "same", LONG_LEASE, 0, &c), -EEXIST);
	cr_expect_null(c);
	cr_expect_eq(observe(f.e).n_members, 1);
	/* identities are per election */
	struct shmelect_election *other = open_election(f.seg, "other", SHMELECT_ELECTION_CREATE);
	c = join(other, "same", LONG_LEASE);
	shmelect_candidate_leave(c);
	shmelect_election_close(other);
	shmelect_candidate_leave(a);
	done(&f);
}

Test(lease, default_identity)
{
	struct fx f = setup("default-id", 8);
	struct shmelect_candidate *a = join(f.e, NULL, LONG_LEASE), *b = join(f.e, NULL, LONG_LEASE);
	const char *id = shmelect_candidate_identity(a);
	char host[256] = "", want[64];
	const char *colon1, *colon2;

	cr_assert_not_null(id);
	cr_expect_leq(strlen(id), SHMELECT_IDENTITY_MAX);
	cr_expect_gt(strlen(id), 0);
	colon2 = strrchr(id, ':');
	cr_assert_not_null(colon2, "identity %s: no ':'", id);
	cr_expect_eq(strlen(colon2 + 1), 8, "identity %s: 8 hex digits at the end", id);
	for (const char *p = colon2 + 1; *p; p++)
		cr_expect(strchr("0123456789abcdef", *p), "identity %s: not hex", id);
	colon1 = colon2 - 1;
	while (colon1 > id && *colon1 != ':')
		colon1--;
	cr_assert_eq(*colon1, ':', "identity %s: no host:pid:", id);
	snprintf(want, sizeof(want), ":%d:", (int)getpid());
	cr_expect_eq(strncmp(colon1, want, strlen(want)), 0, "identity %s: pid", id);
	gethostname(host, sizeof(host) - 1);
	cr_expect_eq(strncmp(id, host, (size_t)(colon1 - id)), 0, "identity %s: host %s", id, host);

	cr_expect_str_neq(shmelect_candidate_identity(b), id, "two default identities collide");
	uint64_t tok;
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_expect_str_eq(observe(f.e).holder, id);
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	done(&f);
}

Test(lease, candidate_table_full)
{
	struct fx f = setup("full", 2);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE), *b = join(f.e, "b", LONG_LEASE), *c = NULL;

	cr_expect_eq(shmelect_candidate_join(f.e, "c", LONG_LEASE, 0, &c), -ENOSPC);
	cr_expect_null(c);
	shmelect_candidate_leave(b);
	c = join(f.e, "c", LONG_LEASE);
	cr_expect_eq(observe(f.e).n_members, 2);
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(c);
	done(&f);
}

Test(lease, leave_frees_slot)
{
	struct fx f = setup("leave", 1);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE), *b = NULL;
	uint64_t tok_a, tok;

	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok_a), 1);
	cr_expect_eq(shmelect_candidate_join(f.e, "b", LONG_LEASE, 0, &b), -ENOSPC);
	cr_expect_null(shmelect_candidate_leave(a));
	struct shmelect_record rec = observe(f.e);
	cr_expect_eq(rec.n_members, 0);
	cr_expect_eq(rec.has_holder, 0, "leaving resigns");

	/* rejoin with the same identity, in the same (only) slot */
	a = join(f.e, "a", LONG_LEASE);
	cr_expect_eq(shmelect_candidate_try_acquire(a, &tok), 1, "no waiting: the lease was released");
	cr_expect_gt(tok, tok_a);
	shmelect_candidate_leave(a);
	cr_expect_null(shmelect_candidate_leave(NULL));
	done(&f);
}

/* ------------------------------------------------------------------ */
/* Dead members                                                         */
/* ------------------------------------------------------------------ */

struct dead {
	struct shmelect_election *e;
	const char *identity;
	int acquire;
	uint64_t token;
	int ok;
};

/* Join (and maybe acquire) and die without leaving. */
static int die_member(void *arg)
{
	struct dead *d = arg;
	struct shmelect_candidate *c = NULL;

	CHILD_CHECK(shmelect_candidate_join(d->e, d->identity, LONG_LEASE, 0, &c) == 0);
	if (d->acquire)
		CHILD_CHECK(shmelect_candidate_try_acquire(c, &d->token) == 1);
	d->ok = 1;
	_exit(0);
}

static struct dead *spawn_dead(struct shmelect_election *e, const char *identity, int acquire)
{
	struct dead *d = shared_alloc(sizeof(*d));

	d->e = e;
	d->identity = identity;
	d->acquire = acquire;
	/* reap it: a zombie still has its /proc entry and counts as alive */
	cr_assert_eq(reap(spawn(die_member, d)), 0);
	cr_assert_eq(d->ok, 1);
	return d;
}

Test(lease, dead_member_slot_reclaimed_when_full, .timeout = 10)
{
	struct fx f = setup("dead", 2);
	struct shmelect_candidate *p = join(f.e, "parent", LONG_LEASE), *q;

	spawn_dead(f.e, "child", 0);
	cr_expect_eq(observe(f.e).n_members, 2, "a dead member is listed until reclaimed");
	q = join(f.e, "q", LONG_LEASE);
	struct shmelect_record rec = observe(f.e);
	cr_expect_eq(rec.n_members, 2);
	struct shmelect_member m[2];
	cr_assert_eq(shmelect_election_observe(f.e, &rec, m, 2), 2);
	for (int i = 0; i < 2; i++)
		cr_expect_str_neq(m[i].identity, "child");
	shmelect_candidate_leave(p);
	shmelect_candidate_leave(q);
	done(&f);
}

Test(lease, dead_holder_lease_broken_on_reclaim, .timeout = 10)
{
	struct fx f = setup("dead-holder", 2);
	struct shmelect_candidate *p = join(f.e, "parent", LONG_LEASE), *q;
	struct dead *d;
	uint64_t tok;

	d = spawn_dead(f.e, "child", 1);
	struct shmelect_record before = observe(f.e);
	cr_expect_eq(before.has_holder, 1);
	cr_expect_str_eq(before.holder, "child");
	cr_expect_eq(shmelect_candidate_try_acquire(p, &tok), 0, "the dead holder's lease is still valid");

	/* the table is full: joining reclaims the dead holder's slot and
	 * breaks its lease, so nobody waits out the 10 s */
	q = join(f.e, "q", LONG_LEASE);
	struct shmelect_record after = observe(f.e);
	cr_expect_eq(after.has_holder, 0, "the lease is broken on reclaim");
	cr_expect_eq(after.term, before.term);
	cr_expect_eq(shmelect_candidate_try_acquire(q, &tok), 1);
	cr_expect_gt(tok, d->token, "the next term's token is larger");
	after = observe(f.e);
	cr_expect_eq(after.term, before.term + 1);
	cr_expect_str_eq(after.holder, "q");
	shmelect_candidate_leave(p);
	shmelect_candidate_leave(q);
	done(&f);
}

Test(lease, dead_member_identity_reusable, .timeout = 10)
{
	struct fx f = setup("dead-id", 4);
	struct shmelect_candidate *c;

	spawn_dead(f.e, "worker", 0);
	c = join(f.e, "worker", LONG_LEASE);
	cr_expect_eq(observe(f.e).n_members, 1, "the dead member's slot was reclaimed");
	shmelect_candidate_leave(c);
	done(&f);
}

/*
 * Invariant 5 / hazard "slot reuse": a reaper that decided a member was
 * dead, and is paused before acting, must not harm whoever owns the slot
 * when it resumes.
 *
 * Setup: one slot, held by a dead member X.  P joins: the table is full,
 * so P reaps slot 0; inside pid_alive(), while reading /proc/X/stat, P is
 * "paused" (the open() hook) and meanwhile Y joins (reaping X's slot
 * itself and taking it) and acquires the lease.  Then P resumes, having
 * already judged slot 0's owner dead.  Y must still lead.
 */
static struct fx race_fx;
static struct shmelect_candidate *race_y;
static uint64_t race_y_token;
static int race_y_join, race_y_acquire;

static void race_other_process(void)
{
	race_y_join = shmelect_candidate_join(race_fx.e, "y", LONG_LEASE, 0, &race_y);
	if (race_y_join == 0)
		race_y_acquire = shmelect_candidate_try_acquire(race_y, &race_y_token);
}

Test(lease, stale_reaper_does_not_break_new_members_lease, .timeout = 10)
{
	struct shmelect_candidate *p = NULL;
	struct dead *x;
	int r;

	race_fx = setup("reap-race", 1);
	x = spawn_dead(race_fx.e, "x", 0);
	(void)x;

	struct shmelect_member m;
	struct shmelect_record rec;
	cr_assert_eq(shmelect_election_observe(race_fx.e, &rec, &m, 1), 1);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)m.pid);
	arm_open_hook(path, race_other_process);

	r = shmelect_candidate_join(race_fx.e, "p", LONG_LEASE, 0, &p);
	cr_assert_null(open_hook, "the hook did not run: the test no longer reaches the window");
	cr_assert_eq(race_y_join, 0, "y joined: %s", strerror(-race_y_join));
	cr_assert_eq(race_y_acquire, 1);
	cr_expect_eq(r, -ENOSPC, "p found the table full (y owns the only slot): %d", r);

	rec = observe(race_fx.e);
	cr_expect_eq(rec.has_holder, 1, "y's lease was broken by a stale reaper");
	cr_expect_str_eq(rec.holder, "y");
	cr_expect_eq(shmelect_candidate_is_leader(race_y), 1, "y no longer leads");
	cr_expect_eq(rec.n_members, 1);

	if (r == 0)
		shmelect_candidate_leave(p);
	shmelect_candidate_leave(race_y);
	done(&race_fx);
}

/*
 * Identities are unique among live members, also when two processes join
 * with the same identity at the same time.  The second join is placed
 * (clock_gettime hook) after the first has checked the identity and
 * claimed a slot, but before it published the slot.
 */
static struct fx dup_fx;
static struct shmelect_candidate *dup_second;
static int dup_second_r = 1;

static void dup_other_process(void)
{
	dup_second_r = shmelect_candidate_join(dup_fx.e, "same", LONG_LEASE, 0, &dup_second);
}

static void dup_arm_clock(void)
{
	clock_hook = dup_other_process;
}

Test(lease, concurrent_duplicate_identity, .timeout = 10)
{
	struct shmelect_candidate *first = NULL;
	int r;

	dup_fx = setup("dup-race", 4);
	/* the first join reads its own /proc/self/stat, then checks the
	 * identity, then claims a slot and stamps joined_ns: the clock hook
	 * fires there */
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)getpid());
	arm_open_hook(path, dup_arm_clock);
	r = shmelect_candidate_join(dup_fx.e, "same", LONG_LEASE, 0, &first);
	clock_hook = NULL;
	cr_assert_null(open_hook, "the hook did not run");
	cr_assert_neq(dup_second_r, 1, "the second join did not run inside the first");

	int successes = (r == 0) + (dup_second_r == 0);
	cr_expect_eq(successes, 1, "two live members with the same identity (first %d, second %d)", r, dup_second_r);
	cr_expect(r == -EEXIST || dup_second_r == -EEXIST, "the loser gets -EEXIST");
	struct shmelect_member m[4];
	struct shmelect_record rec;
	int n = shmelect_election_observe(dup_fx.e, &rec, m, 4);
	cr_expect_eq(n, 1, "members listed: %d", n);

	if (r == 0)
		shmelect_candidate_leave(first);
	if (dup_second_r == 0)
		shmelect_candidate_leave(dup_second);
	done(&dup_fx);
}

/* ------------------------------------------------------------------ */
/* fork()                                                               */
/* ------------------------------------------------------------------ */

struct forked {
	struct shmelect_candidate *c;
	struct shmelect_election *e;
};

static int inherited_child(void *arg)
{
	struct forked *fk = arg;
	uint64_t tok = 7, exp = 7;
	struct shmelect_candidate *own = NULL;

	CHILD_CHECK(shmelect_candidate_is_leader(fk->c) == 0);
	CHILD_CHECK(shmelect_candidate_leadership(fk->c, &tok, &exp) == 0);
	CHILD_CHECK(tok == 7 && exp == 7);
	CHILD_CHECK(shmelect_candidate_try_acquire(fk->c, &tok) == -ESTALE);
	CHILD_CHECK(shmelect_candidate_renew(fk->c) == -ESTALE);
	CHILD_CHECK(shmelect_candidate_resign(fk->c) == -ESTALE);
	/* leaving the inherited handle frees only the child's memory */
	CHILD_CHECK(shmelect_candidate_leave(fk->c) == NULL);
	/* the child can join on its own, as a follower */
	CHILD_CHECK(shmelect_candidate_join(fk->e, "child", LONG_LEASE, 0, &own) == 0);
	CHILD_CHECK(shmelect_candidate_try_acquire(own, &tok) == 0);
	shmelect_candidate_leave(own);
	return 0;
}

Test(lease, fork_child_does_not_lead, .timeout = 10)
{
	struct fx f = setup("fork", 4);
	struct forked *fk = shared_alloc(sizeof(*fk));
	uint64_t tok, tok2;

	fk->e = f.e;
	fk->c = join(f.e, "parent", LONG_LEASE);
	cr_assert_eq(shmelect_candidate_try_acquire(fk->c, &tok), 1);
	expect_child_ok(spawn(inherited_child, fk), "inherited handle");

	cr_expect_eq(shmelect_candidate_is_leader(fk->c), 1, "the parent still leads");
	cr_expect_eq(shmelect_candidate_try_acquire(fk->c, &tok2), 1);
	cr_expect_eq(tok2, tok);
	struct shmelect_record rec = observe(f.e);
	cr_expect_str_eq(rec.holder, "parent");
	cr_expect_eq(rec.n_members, 1, "the parent's membership survives the child");
	shmelect_candidate_leave(fk->c);
	done(&f);
}

/*
 * The same where MADV_WIPEONFORK is unavailable (kernels before 4.14):
 * util.c then returns a constant incarnation and says it falls back "to the
 * pid check in callers".  A forked child must still not lead or act on its
 * parent's lease.
 */
static int inherited_child_resign(void *arg)
{
	struct forked *fk = arg;
	uint64_t tok;
	int bad = 0, r;

	/* every step runs, so that the parent sees what the child's calls did */
	if ((r = shmelect_candidate_is_leader(fk->c)) != 0) {
		fprintf(stderr, "child: is_leader on the inherited handle = %d\n", r);
		bad = 1;
	}
	if ((r = shmelect_candidate_renew(fk->c)) == 1) {
		fprintf(stderr, "child: renew on the inherited handle = %d\n", r);
		bad = 1;
	}
	if ((r = shmelect_candidate_try_acquire(fk->c, &tok)) == 1) {
		fprintf(stderr, "child: try_acquire on the inherited handle = %d\n", r);
		bad = 1;
	}
	if ((r = shmelect_candidate_resign(fk->c)) == 1) {
		fprintf(stderr, "child: resign on the inherited handle = %d (the parent's lease)\n", r);
		bad = 1;
	}
	return bad;
}

Test(lease, fork_child_does_not_lead_without_wipeonfork, .timeout = 10)
{
	struct forked *fk = shared_alloc(sizeof(*fk));
	struct fx f;
	uint64_t tok;

	/* before the library's first look at the incarnation */
	fail_wipeonfork = 1;
	f = setup("fork-nowipe", 4);
	fk->e = f.e;
	fk->c = join(f.e, "parent", LONG_LEASE);
	cr_assert_eq(shmelect_candidate_try_acquire(fk->c, &tok), 1);
	expect_child_ok(spawn(inherited_child_resign, fk), "inherited handle, no WIPEONFORK");
	cr_expect_eq(shmelect_candidate_is_leader(fk->c), 1, "the child resigned the parent's lease");
	cr_expect_str_eq(observe(f.e).holder, "parent");
	shmelect_candidate_leave(fk->c);
	done(&f);
}

/* ------------------------------------------------------------------ */
/* is_leader, leadership, NULL                                          */
/* ------------------------------------------------------------------ */

Test(lease, leadership_reports_token_and_expiry)
{
	struct fx f = setup("leadership", 4);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE), *b = join(f.e, "b", LONG_LEASE);
	uint64_t tok, t = 0, x = 0, t0;

	cr_expect_eq(shmelect_candidate_leadership(a, &t, &x), 0);
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	t0 = shmelect_now_ns();
	cr_expect_eq(shmelect_candidate_leadership(a, &t, &x), 1);
	cr_expect_eq(t, tok);
	cr_expect_gt(x, t0);
	cr_expect_eq(x, observe(f.e).expiry_ns);
	cr_expect_eq(shmelect_candidate_leadership(a, NULL, NULL), 1);
	cr_expect_eq(shmelect_candidate_is_leader(a), 1);
	cr_expect_eq(shmelect_candidate_is_leader(b), 0);
	t = x = 5;
	cr_expect_eq(shmelect_candidate_leadership(b, &t, &x), 0);
	cr_expect(t == 5 && x == 5, "untouched when not leader");

	/* renew moves the expiry forward (never back) */
	uint64_t x2;
	cr_assert_eq(shmelect_candidate_renew(a), 1);
	cr_assert_eq(shmelect_candidate_leadership(a, NULL, &x2), 1);
	cr_expect_geq(x2, x);
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	done(&f);
}

Test(lease, null_arguments)
{
	uint64_t t, x;

	cr_expect_eq(shmelect_candidate_try_acquire(NULL, &t), -EINVAL);
	cr_expect_eq(shmelect_candidate_renew(NULL), -EINVAL);
	cr_expect_eq(shmelect_candidate_resign(NULL), -EINVAL);
	cr_expect_eq(shmelect_candidate_is_leader(NULL), -EINVAL);
	cr_expect_eq(shmelect_candidate_leadership(NULL, &t, &x), -EINVAL);
	cr_expect_null(shmelect_candidate_leave(NULL));
	cr_expect_null(shmelect_candidate_identity(NULL));
}

/* A candidate keeps its election and segment alive. */
Test(lease, candidate_outlives_handles)
{
	struct fx f = setup("outlive", 4);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE);
	uint64_t tok;

	done(&f);
	cr_expect_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_expect_eq(shmelect_candidate_renew(a), 1);
	cr_expect_eq(shmelect_candidate_is_leader(a), 1);
	cr_expect_eq(shmelect_candidate_resign(a), 1);
	cr_expect_null(shmelect_candidate_leave(a));
}

/* ------------------------------------------------------------------ */
/* Handover vs leave and reap (model findings F1, F2: tests/model)       */
/* ------------------------------------------------------------------ */

/* What a transfer to (slot, gen) does, as one step: write the slot's
 * handoff word, then CAS the lease to (term + 1, slot).  Returns the new lo. */
static uint64_t land_transfer(struct shmelect_election *e, uint32_t slot, uint64_t gen)
{
	for (;;) {
		struct lease l = lease_read(&e->rec->lease);
		struct lease n = { lease_lo(lease_term(l.lo) + 1, slot + 1), clock_host_ns() + LONG_LEASE };

		handoff_store(election_slot(e->rec, slot), lease_term(n.lo), gen);
		if (lease_cas(&e->rec->lease, l, n))
			return n.lo;
	}
}

/*
 * A transfer that loaded the owner word of a member that has left since,
 * and lands after a new member claimed the same slot, names the new
 * member's slot.  The new member must not adopt it (it was handed to its
 * predecessor): it ends it, without lock-delay, and takes a term of its own.
 */
Test(lease, stale_transfer_not_adopted_by_next_member)
{
	struct fx f = setup("stale-xfer", 2);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE);
	struct shmelect_candidate *b = join(f.e, "b", LONG_LEASE), *c;
	uint64_t tok, gen_a = slot_gen(a->owner), xfer;
	uint32_t ia = a->index;

	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok), 1);
	shmelect_candidate_leave(a);
	c = join(f.e, "c", LONG_LEASE);
	cr_assert_eq(c->index, ia, "c reuses a's slot");
	cr_assert_neq(slot_gen(c->owner), gen_a, "generations never repeat");

	xfer = land_transfer(f.e, ia, gen_a); /* for a, landing now */
	cr_expect_eq(shmelect_candidate_is_leader(c), 0, "not adopted yet");
	cr_expect_eq(shmelect_candidate_renew(b), 0, "b lost to the transfer");
	cr_expect_eq(shmelect_candidate_try_acquire(c, &tok), 1, "c takes a term of its own at once");
	cr_expect_eq(tok, f.e->token_base + lease_term(xfer) + 1, "a new term, not the one handed to a");
	struct shmelect_record r = observe(f.e);
	cr_expect_str_eq(r.holder, "c");
	cr_expect_eq(r.term, lease_term(xfer) + 1);
	cr_expect_eq(shmelect_candidate_is_leader(c), 1);
	shmelect_candidate_leave(b);
	shmelect_candidate_leave(c);
	done(&f);
}

/* The same transfer made for the slot's current member is adopted. */
Test(lease, transfer_adopted_by_its_target)
{
	struct fx f = setup("own-xfer", 2);
	struct shmelect_candidate *b = join(f.e, "b", LONG_LEASE);
	struct shmelect_candidate *c = join(f.e, "c", LONG_LEASE);
	uint64_t tok, xfer;

	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok), 1);
	xfer = land_transfer(f.e, c->index, slot_gen(c->owner));
	cr_expect_eq(shmelect_candidate_try_acquire(c, &tok), 1);
	cr_expect_eq(tok, f.e->token_base + lease_term(xfer), "the handed term, adopted");
	cr_expect_eq(shmelect_candidate_is_leader(c), 1);
	shmelect_candidate_leave(b);
	shmelect_candidate_leave(c);
	done(&f);
}

/* A member that is leaving (LEAVING) is no handover target, and is not
 * reaped while it lives. */
Test(lease, leaving_member_is_no_target_and_not_reaped)
{
	struct fx f = setup("leaving", 2);
	struct shmelect_candidate *a = join(f.e, "a", LONG_LEASE);
	struct shmelect_candidate *b = join(f.e, "b", LONG_LEASE);
	uint64_t tok, active = a->owner;

	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok), 1);
	__atomic_store_n(&a->slot->owner, active | SLOT_LEAVING, __ATOMIC_SEQ_CST);
	cr_expect_eq(lease_transfer(f.e, a->index, 0, 0), -ESRCH);
	cr_expect_eq(shmelect_election_handover(f.e, "a", SHMELECT_HANDOVER_FORCE), -ESRCH,
		     "a leaving member is not found by identity");
	cr_expect_eq(shmelect_election_reap(f.e), 0, "a live leaver is not reaped");
	cr_expect_eq(__atomic_load_n(&a->slot->owner, __ATOMIC_SEQ_CST), active | SLOT_LEAVING);
	cr_expect_eq(shmelect_candidate_is_leader(b), 1);
	__atomic_store_n(&a->slot->owner, active, __ATOMIC_SEQ_CST);
	/* and a transfer expecting another member of the slot is refused */
	cr_expect_eq(lease_transfer(f.e, a->index, active + (UINT64_C(1) << SLOT_GEN_SHIFT), 0), -ESRCH);
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	done(&f);
}

/*
 * A member that died while leaving (LEAVING, pid gone), with a transfer
 * that raced its leave still naming its slot: a reaper ends that term
 * without lock-delay (nobody led it) and frees the slot.
 */
Test(lease, dead_leaver_reaped_and_its_handoff_ended, .timeout = 10)
{
	struct fx f = setup("dead-leaver", 2);
	struct shmelect_candidate *b = join(f.e, "b", LONG_LEASE);
	struct shmelect_member m[2];
	struct shmelect_record r;
	uint64_t tok, w;
	uint32_t ix = UINT32_MAX;

	spawn_dead(f.e, "x", 0);
	cr_assert_eq(shmelect_election_observe(f.e, &r, m, 2), 2);
	for (int i = 0; i < 2; i++)
		if (!strcmp(m[i].identity, "x"))
			ix = m[i].slot;
	cr_assert_neq(ix, UINT32_MAX);
	struct shm_slot *slot = election_slot(f.e->rec, ix);
	w = __atomic_load_n(&slot->owner, __ATOMIC_SEQ_CST);
	cr_assert_eq(slot_state(w), SLOT_ACTIVE);
	slot->lock_delay_ns = LONG_LEASE; /* x's: must not apply */
	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok), 1);
	land_transfer(f.e, ix, slot_gen(w));
	__atomic_store_n(&slot->owner, w | SLOT_LEAVING, __ATOMIC_SEQ_CST); /* died leaving */

	cr_expect_eq(shmelect_election_reap(f.e), 1);
	cr_expect_eq(__atomic_load_n(&slot->owner, __ATOMIC_SEQ_CST), 0, "the slot is free");
	r = observe(f.e);
	cr_expect_eq(r.has_holder, 0, "the term handed to the dead leaver ended");
	cr_expect_eq(r.locked_until_ns, 0, "without lock-delay");
	cr_expect_eq(r.n_members, 1);
	cr_expect_eq(shmelect_candidate_try_acquire(b, &tok), 1, "free at once");
	shmelect_candidate_leave(b);
	done(&f);
}
