/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Blocking waits: shmelect_candidate_wait(), shmelect_election_wait(),
 * shmelect_segment_wait(), and the promise that a release with nobody
 * waiting makes no system call.
 *
 * Failover tests use long leases (30 s) and check that the follower's wait
 * returned before the old lease's expiry: that proves the wake-up came from
 * the mechanism under test (resign, eviction, death), not from expiry.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>

#include "elector-helpers.h"

#define TEST_OPTS .init = fx_setup, .fini = fx_teardown

#define WAIT_TIMEOUT (20 * SEC)

/*
 * A follower's wait that must be ended by an event, not by its timeout:
 * at its deadline the wait makes one last try, which would also succeed
 * once the lease is vacant, so returning 1 alone does not prove the
 * wake-up.  Returns what the wait returned; *ret_t: when it returned.
 */
static int wait_woken(struct shmelect_candidate *c, uint64_t *ret_token, uint64_t *ret_t)
{
	uint64_t t0 = shmelect_now_ns();
	int r = shmelect_candidate_wait(c, WAIT_TIMEOUT, ret_token);

	*ret_t = shmelect_now_ns();
	cr_assert_lt(*ret_t, t0 + WAIT_TIMEOUT,
		     "the wait ran into its own timeout: the wake-up was missed");
	return r;
}

/* ------------------------------------------------------------------ */
/* candidate_wait: basics                                               */
/* ------------------------------------------------------------------ */

Test(wait, vacant_returns_at_once, TEST_OPTS, .timeout = 10)
{
	struct shmelect_candidate *a = join(fx_e, "a", 10 * SEC);
	uint64_t tok = 0, tok2 = 0;
	struct shmelect_record rec;

	cr_assert_eq(shmelect_candidate_wait(a, 20 * SEC, &tok), 1);
	cr_assert_gt(tok, 0);
	cr_assert_eq(shmelect_candidate_is_leader(a), 1);
	rec = observe(fx_e);
	cr_assert_eq(rec.has_holder, 1);
	cr_assert_str_eq(rec.holder, "a");
	cr_assert_eq(rec.token, tok);

	/* already leading: returns 1 at once with the same token (a renew) */
	cr_assert_eq(shmelect_candidate_wait(a, 0, &tok2), 1);
	cr_assert_eq(tok2, tok);
	shmelect_candidate_leave(a);

	/* timeout 0 on a vacant election still acquires */
	struct shmelect_candidate *b = join(fx_e, "b", 10 * SEC);
	cr_assert_eq(shmelect_candidate_wait(b, 0, &tok2), 1);
	cr_assert_gt(tok2, tok);
	shmelect_candidate_leave(b);
}

Test(wait, timeout_while_held_by_another, TEST_OPTS, .timeout = 10)
{
	struct shmelect_candidate *a = join(fx_e, "a", 30 * SEC);
	struct shmelect_candidate *b = join(fx_e, "b", 30 * SEC);
	uint64_t ta = 0, tb = 12345;
	struct shmelect_record rec;

	cr_assert_eq(shmelect_candidate_try_acquire(a, &ta), 1);
	cr_assert_eq(shmelect_candidate_wait(b, 200 * MS, &tb), 0);
	cr_assert_eq(tb, 12345, "ret_token must be untouched on timeout");
	cr_assert_eq(shmelect_candidate_wait(b, 0, &tb), 0);
	cr_assert_eq(tb, 12345);
	cr_assert_eq(shmelect_candidate_is_leader(b), 0);
	cr_assert_eq(shmelect_candidate_is_leader(a), 1);
	rec = observe(fx_e);
	cr_assert_str_eq(rec.holder, "a");
	cr_assert_eq(rec.token, ta);
	shmelect_candidate_leave(b);
	shmelect_candidate_leave(a);
}

/* ------------------------------------------------------------------ */
/* candidate_wait: handover on resign, evict, forced handover            */
/* ------------------------------------------------------------------ */

struct resign_shared {
	int32_t ready, go, resigned, quit;
	int32_t resign_r, leave_ok;
	uint64_t token;
};

Test(wait, handover_on_resign, TEST_OPTS, .timeout = 30)
{
	struct resign_shared *sh = shared_alloc(sizeof(*sh));
	struct shmelect_record rec0, rec1;
	struct shmelect_candidate *f;
	uint64_t tf = 0, t_ret;
	pid_t pid;
	int r;

	pid = fx_fork();
	if (pid == 0) {
		struct shmelect_candidate *c = NULL;
		uint64_t tok = 0;

		CHILD_CHECK(shmelect_candidate_join(fx_e, "leader", 30 * SEC, 0, &c) == 0, 2);
		CHILD_CHECK(shmelect_candidate_try_acquire(c, &tok) == 1, 3);
		sh->token = tok;
		__atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
			sleep_ns(MS);
		/* resign only once the follower sleeps in its wait */
		while (election_waiters(fx_e) < 1)
			sleep_ns(MS);
		sh->resign_r = shmelect_candidate_resign(c);
		__atomic_store_n(&sh->resigned, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&sh->quit, __ATOMIC_ACQUIRE))
			sleep_ns(MS);
		shmelect_candidate_leave(c);
		_exit(0);
	}
	while (!__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE))
		sleep_ns(MS);

	rec0 = observe(fx_e);
	cr_assert_eq(rec0.has_holder, 1);
	cr_assert_str_eq(rec0.holder, "leader");
	cr_assert_eq(rec0.holder_pid, pid);
	cr_assert_eq(rec0.token, sh->token);

	f = join(fx_e, "follower", 30 * SEC);
	__atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
	r = wait_woken(f, &tf, &t_ret);
	cr_assert_eq(r, 1, "follower's wait returned %d", r);
	cr_assert_gt(tf, rec0.token, "new term must have a larger token");
	cr_assert_lt(t_ret, rec0.expiry_ns, "the wait must end by the resign, not by expiry");
	while (!__atomic_load_n(&sh->resigned, __ATOMIC_ACQUIRE))
		sleep_ns(MS);
	cr_assert_eq(sh->resign_r, 1);

	rec1 = observe(fx_e);
	cr_assert_str_eq(rec1.holder, "follower");
	cr_assert_eq(rec1.token, tf);
	cr_assert_eq(rec1.transitions, rec0.transitions + 1);
	cr_assert_lt(rec1.acquire_ns, rec0.expiry_ns);

	__atomic_store_n(&sh->quit, 1, __ATOMIC_RELEASE);
	cr_assert_eq(fx_reap(pid), 0);
	cr_assert_eq(shmelect_candidate_is_leader(f), 1, "the old leader's leave must not touch our term");
	shmelect_candidate_leave(f);
}

/* A thread that waits until someone sleeps in the election, then acts. */
struct actor {
	pthread_t thread;
	struct shmelect_election *e;
	int (*fn)(struct actor *);
	const char *arg;
	pid_t pid;
	int result;
	uint64_t t_act;
};

static void *actor_main(void *p)
{
	struct actor *a = p;
	uint64_t end = shmelect_now_ns() + GIVE_UP;

	while (election_waiters(a->e) < 1 && shmelect_now_ns() < end)
		sleep_ns(MS);
	a->t_act = shmelect_now_ns();
	a->result = a->fn(a);
	return NULL;
}

static void actor_start(struct actor *a)
{
	cr_assert_eq(pthread_create(&a->thread, NULL, actor_main, a), 0);
}

static int act_evict(struct actor *a)
{
	return shmelect_election_evict(a->e);
}

static int act_force_handover(struct actor *a)
{
	return shmelect_election_handover(a->e, a->arg, SHMELECT_HANDOVER_FORCE);
}

static int act_kill(struct actor *a)
{
	return kill(a->pid, SIGKILL);
}

/* A holder in this process, a follower waiting, and an actor that ends the
 * holder's term from a second election handle. */
static void wake_on_action(int (*fn)(struct actor *))
{
	struct shmelect_candidate *a = join(fx_e, "a", 30 * SEC);
	struct shmelect_candidate *b = join(fx_e, "b", 30 * SEC);
	struct shmelect_election *e2 = NULL;
	struct actor act = { .fn = fn, .arg = "b" };
	struct shmelect_record rec0, rec1;
	uint64_t ta = 0, tb = 0, t_ret;
	int r;

	cr_assert_eq(shmelect_election_open(fx_seg, "e", 0, &e2), 0);
	act.e = e2;
	cr_assert_eq(shmelect_candidate_try_acquire(a, &ta), 1);
	rec0 = observe(fx_e);
	actor_start(&act);
	r = wait_woken(b, &tb, &t_ret);
	pthread_join(act.thread, NULL);
	cr_assert_eq(act.result, 1, "the action returned %d", act.result);
	cr_assert_eq(r, 1);
	cr_assert_gt(tb, ta);
	cr_assert_lt(t_ret, rec0.expiry_ns, "the wait must end by the action, not by expiry");
	rec1 = observe(fx_e);
	cr_assert_str_eq(rec1.holder, "b");
	cr_assert_eq(rec1.token, tb);
	/* the old holder lost: its renew fails and it no longer leads */
	cr_assert_eq(shmelect_candidate_renew(a), 0);
	cr_assert_eq(shmelect_candidate_is_leader(a), 0);
	cr_assert_eq(shmelect_candidate_is_leader(b), 1);
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	shmelect_election_close(e2);
}

Test(wait, wakes_on_evict, TEST_OPTS, .timeout = 30)
{
	wake_on_action(act_evict);
}

Test(wait, wakes_on_forced_handover_to_waiter, TEST_OPTS, .timeout = 30)
{
	wake_on_action(act_force_handover);
}

/* ------------------------------------------------------------------ */
/* candidate_wait: takeover after SIGKILL (robust futex), small and large */
/* ------------------------------------------------------------------ */

struct kill_shared {
	int32_t ready, skip;
	uint64_t token;
};

static void sigkill_takeover(size_t big)
{
	struct kill_shared *sh = shared_alloc(sizeof(*sh));
	struct shmelect_record rec0, rec1;
	struct shmelect_candidate *f;
	struct actor act = { .fn = act_kill };
	uint64_t tf = 0, t_ret;
	pid_t pid;
	int r;

	pid = fx_fork();
	if (pid == 0) {
		struct shmelect_candidate *c = NULL;
		uint64_t tok = 0;

		if (big) {
			char *p = malloc(big);
			if (!p) {
				__atomic_store_n(&sh->skip, 1, __ATOMIC_RELEASE);
				__atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
				pause();
				_exit(0);
			}
			memset(p, 0x5a, big);
			__asm__ volatile("" : : "r"(p) : "memory");
		}
		CHILD_CHECK(shmelect_candidate_join(fx_e, "leader", 30 * SEC, 0, &c) == 0, 2);
		CHILD_CHECK(shmelect_candidate_try_acquire(c, &tok) == 1, 3);
		sh->token = tok;
		__atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
		for (;;)
			pause();
	}
	{
		uint64_t end = shmelect_now_ns() + GIVE_UP;
		while (!__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE)) {
			cr_assert_lt(shmelect_now_ns(), end, "leader did not start");
			sleep_ns(MS);
		}
	}
	if (sh->skip)
		fx_skip("cannot allocate %zu MiB for the large leader", big >> 20);
	if (big) {
		long kib = vm_rss_kib(pid);
		cr_assert_gt(kib, 250L * 1024, "leader's VmRSS is %ld KiB, wanted > 250 MiB", kib);
		fprintf(stderr, "large leader: VmRSS %ld MiB\n", kib / 1024);
	}

	rec0 = observe(fx_e);
	cr_assert_eq(rec0.has_holder, 1);
	cr_assert_eq(rec0.holder_pid, pid);
	cr_assert_eq(rec0.token, sh->token);

	f = join(fx_e, "follower", 30 * SEC);
	act.e = fx_e;
	act.pid = pid;
	actor_start(&act);
	r = wait_woken(f, &tf, &t_ret);
	pthread_join(act.thread, NULL);
	cr_assert_eq(act.result, 0, "kill failed");
	cr_assert_eq(r, 1, "follower's wait returned %d", r);
	cr_assert_gt(tf, rec0.token);
	cr_assert_lt(t_ret, rec0.expiry_ns, "the death must be noticed, not the lease's expiry");
	fprintf(stderr, "%s leader: takeover %.3f ms after SIGKILL\n", big ? "large" : "small",
		(double)(t_ret - act.t_act) / 1e6);

	rec1 = observe(fx_e);
	cr_assert_str_eq(rec1.holder, "follower");
	cr_assert_eq(rec1.token, tf);
	cr_assert_eq(fx_reap(pid), 128 + SIGKILL);
	shmelect_candidate_leave(f);
}

/* A child that joins and sleeps until killed: in shmelect_candidate_wait(),
 * or as an elector follower (run). */
static pid_t asleep_child(const char *id, bool elector)
{
	pid_t pid = fx_fork();

	if (pid == 0) {
		if (elector) {
			struct shmelect_elector_config cfg = elector_config(id, 60 * SEC, 30 * SEC, 10 * SEC);
			struct shmelect_elector *el = NULL;

			CHILD_CHECK(shmelect_elector_new(fx_e, &cfg, NULL, NULL, &el) == 0, 2);
			shmelect_elector_run(el);
		} else {
			struct shmelect_candidate *c = NULL;

			CHILD_CHECK(shmelect_candidate_join(fx_e, id, 60 * SEC, 0, &c) == 0, 2);
			shmelect_candidate_wait(c, 60 * SEC, NULL);
		}
		_exit(3); /* never: the holder holds for longer than the test */
	}
	return pid;
}

/* Members killed while asleep leave the waiter count raised (a needless
 * wake per change); reaping them takes exactly their share back, and not
 * the share of a member that still sleeps. */
Test(wait, reaping_a_killed_sleeper_takes_its_wait_back, TEST_OPTS, .timeout = 30)
{
	struct shmelect_candidate *h = join(fx_e, "holder", 60 * SEC);
	pid_t a, b, c;
	uint64_t tok;

	cr_assert_eq(shmelect_candidate_try_acquire(h, &tok), 1);
	a = asleep_child("a", false);
	b = asleep_child("b", true);
	c = asleep_child("c", false);
	wait_for_waiters(fx_e, 3);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	cr_assert_eq(fx_reap(a), 128 + SIGKILL);
	cr_assert_eq(fx_reap(b), 128 + SIGKILL);
	cr_expect_eq(election_waiters(fx_e), 3, "the dead still count until reaped");
	cr_assert_eq(shmelect_election_reap(fx_e), 2);
	cr_expect_eq(election_waiters(fx_e), 1, "only c, alive and asleep, still counts");
	cr_expect_eq(observe(fx_e).n_members, 2);
	cr_expect_eq(shmelect_election_reap(fx_e), 0);
	cr_expect_eq(election_waiters(fx_e), 1);
	kill(c, SIGKILL);
	cr_assert_eq(fx_reap(c), 128 + SIGKILL);
	cr_assert_eq(shmelect_election_reap(fx_e), 1);
	cr_expect_eq(election_waiters(fx_e), 0);
	cr_expect_eq(shmelect_candidate_is_leader(h), 1);
	shmelect_candidate_leave(h);
}

Test(wait, takeover_after_sigkill_small, TEST_OPTS, .timeout = 30)
{
	sigkill_takeover(0);
}

Test(wait, takeover_after_sigkill_large, TEST_OPTS, .timeout = 30)
{
	sigkill_takeover((size_t)300 << 20);
}

/* ------------------------------------------------------------------ */
/* candidate_wait: a stopped leader is taken over only at expiry         */
/* ------------------------------------------------------------------ */

struct stop_shared {
	int32_t ready, done, quit;
	int32_t renew_r, is_leader_after;
	uint64_t token;
};

Test(wait, takeover_after_sigstop_only_at_expiry, TEST_OPTS, .timeout = 30)
{
	struct stop_shared *sh = shared_alloc(sizeof(*sh));
	struct shmelect_record rec0, rec1, rec2;
	struct shmelect_candidate *f;
	uint64_t tf = 0, t_ret;
	pid_t pid;
	int r;

	pid = fx_fork();
	if (pid == 0) {
		struct shmelect_candidate *c = NULL;
		uint64_t tok = 0;

		CHILD_CHECK(shmelect_candidate_join(fx_e, "leader", 300 * MS, 0, &c) == 0, 2);
		CHILD_CHECK(shmelect_candidate_try_acquire(c, &tok) == 1, 3);
		sh->token = tok;
		__atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
		for (;;) {
			r = shmelect_candidate_renew(c);
			if (r != 1)
				break;
			sleep_ns(20 * MS);
		}
		sh->renew_r = r;
		sh->is_leader_after = shmelect_candidate_is_leader(c);
		__atomic_store_n(&sh->done, 1, __ATOMIC_RELEASE);
		while (!__atomic_load_n(&sh->quit, __ATOMIC_ACQUIRE))
			sleep_ns(MS);
		shmelect_candidate_leave(c);
		_exit(0);
	}
	while (!__atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE))
		sleep_ns(MS);
	sleep_ns(100 * MS); /* let it renew a few times */
	fx_sigstop(pid);
	if (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE))
		fx_skip("the leader lost its 300 ms lease before it was stopped "
			     "(renew returned %d): machine too loaded", sh->renew_r);

	/* stopped for sure: its lease will not move any more */
	rec0 = observe(fx_e);
	cr_assert_eq(rec0.has_holder, 1);
	cr_assert_str_eq(rec0.holder, "leader");
	cr_assert_eq(rec0.token, sh->token);

	f = join(fx_e, "follower", 10 * SEC);
	r = shmelect_candidate_wait(f, 20 * SEC, &tf);
	t_ret = shmelect_now_ns();
	cr_assert_eq(r, 1);
	cr_assert_gt(tf, rec0.token);
	cr_assert_geq(t_ret, rec0.expiry_ns, "a stopped (live) leader must be waited out");
	rec1 = observe(fx_e);
	cr_assert_str_eq(rec1.holder, "follower");
	cr_assert_eq(rec1.token, tf);
	cr_assert_geq(rec1.acquire_ns, rec0.expiry_ns,
		      "follower acquired at %" PRIu64 ", before the old expiry %" PRIu64,
		      rec1.acquire_ns, rec0.expiry_ns);

	/* wake the stale leader: it must see that it lost */
	cr_assert_eq(kill(pid, SIGCONT), 0);
	{
		uint64_t end = shmelect_now_ns() + GIVE_UP;
		while (!__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE)) {
			cr_assert_lt(shmelect_now_ns(), end, "stale leader never noticed its loss");
			sleep_ns(MS);
		}
	}
	cr_assert_eq(sh->renew_r, 0, "stale leader's renew returned %d", sh->renew_r);
	cr_assert_eq(sh->is_leader_after, 0);
	cr_assert_lt(sh->token, tf);
	rec2 = observe(fx_e);
	cr_assert_str_eq(rec2.holder, "follower", "the stale writer must not change the lease");
	cr_assert_eq(rec2.token, tf);
	cr_assert_eq(shmelect_candidate_is_leader(f), 1);

	__atomic_store_n(&sh->quit, 1, __ATOMIC_RELEASE);
	cr_assert_eq(fx_reap(pid), 0);
	cr_assert_eq(shmelect_candidate_is_leader(f), 1);
	shmelect_candidate_leave(f);
}

/* ------------------------------------------------------------------ */
/* election_wait / segment_wait                                         */
/* ------------------------------------------------------------------ */

enum { ACT_NONE, ACT_JOIN, ACT_ACQUIRE, ACT_RESIGN, ACT_LEAVE, ACT_JOIN_E2, ACT_QUIT };

struct change_shared {
	int32_t cmd, done;      /* cmd: ACT_*; done: the last cmd carried out */
	int32_t wait_first;     /* 1: act only once the parent sleeps (writable mapping) */
	int32_t result;
};

/* A child that changes the election on command. */
static pid_t change_child(struct change_shared *sh)
{
	pid_t pid = fx_fork();

	if (pid == 0) {
		struct shmelect_candidate *c = NULL, *c2 = NULL;
		struct shmelect_election *e2 = NULL;
		int32_t cmd = ACT_NONE;

		for (;;) {
			int32_t want;
			while ((want = __atomic_load_n(&sh->cmd, __ATOMIC_ACQUIRE)) == cmd)
				sleep_ns(MS);
			cmd = want;
			if (cmd == ACT_QUIT)
				break;
			if (__atomic_load_n(&sh->wait_first, __ATOMIC_ACQUIRE))
				while (election_waiters(fx_e) < 1 &&
				       __atomic_load_n(&fx_seg->hdr->waiters, __ATOMIC_SEQ_CST) < 1)
					sleep_ns(MS);
			else
				sleep_ns(50 * MS); /* the parent polls: give it time to start */
			switch (cmd) {
			case ACT_JOIN:
				sh->result = shmelect_candidate_join(fx_e, "x", 10 * SEC, 0, &c);
				break;
			case ACT_ACQUIRE:
				sh->result = shmelect_candidate_try_acquire(c, NULL);
				break;
			case ACT_RESIGN:
				sh->result = shmelect_candidate_resign(c);
				break;
			case ACT_LEAVE:
				shmelect_candidate_leave(c);
				c = NULL;
				sh->result = 0;
				break;
			case ACT_JOIN_E2:
				sh->result = shmelect_election_open(fx_seg, "e2", SHMELECT_ELECTION_CREATE, &e2);
				if (sh->result == 0)
					sh->result = shmelect_candidate_join(e2, "y", 10 * SEC, 0, &c2);
				break;
			}
			__atomic_store_n(&sh->done, cmd, __ATOMIC_RELEASE);
		}
		shmelect_candidate_leave(c);
		shmelect_candidate_leave(c2);
		shmelect_election_close(e2);
		_exit(0);
	}
	return pid;
}

static void change_cmd(struct change_shared *sh, int32_t cmd)
{
	__atomic_store_n(&sh->cmd, cmd, __ATOMIC_RELEASE);
}

static void change_done(struct change_shared *sh, int32_t cmd)
{
	uint64_t end = shmelect_now_ns() + GIVE_UP;

	while (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) != cmd) {
		cr_assert_lt(shmelect_now_ns(), end, "child did not carry out %d", cmd);
		sleep_ns(MS);
	}
}

typedef int (*wait_fn)(void *obj, uint64_t *seq, uint64_t timeout);

static int do_election_wait(void *obj, uint64_t *seq, uint64_t timeout)
{
	return shmelect_election_wait(obj, seq, timeout);
}

static int do_segment_wait(void *obj, uint64_t *seq, uint64_t timeout)
{
	return shmelect_segment_wait(obj, seq, timeout);
}

/* Wait through each change the child makes on command. */
static void wait_through_changes(wait_fn fn, void *obj, bool readonly, const int32_t *cmds, int n)
{
	struct change_shared *sh = shared_alloc(sizeof(*sh));
	uint64_t seq = 0, s0;
	pid_t pid;

	sh->wait_first = !readonly;
	pid = change_child(sh);

	cr_assert_eq(fn(obj, &seq, 20 * SEC), 1, "seq 0 must return at once");
	cr_assert_neq(seq, 0);
	s0 = seq;
	cr_assert_eq(fn(obj, &seq, 100 * MS), 0, "nothing changed: must time out");
	cr_assert_eq(seq, s0, "seq must be untouched on timeout");

	for (int i = 0; i < n; i++) {
		uint64_t before = seq;

		change_cmd(sh, cmds[i]);
		cr_assert_eq(fn(obj, &seq, 20 * SEC), 1, "change %d not seen", cmds[i]);
		cr_assert_neq(seq, before);
		change_done(sh, cmds[i]);
		cr_assert_geq(sh->result, 0, "child's action %d: %s", cmds[i], strerror(-sh->result));
		/* catch up with everything this action changed */
		seq = 0;
		cr_assert_eq(fn(obj, &seq, 0), 1);
	}
	change_cmd(sh, ACT_QUIT);
	cr_assert_eq(fx_reap(pid), 0);
}

Test(wait, election_wait_changes, TEST_OPTS, .timeout = 30)
{
	static const int32_t cmds[] = { ACT_JOIN, ACT_ACQUIRE, ACT_RESIGN, ACT_LEAVE };
	struct shmelect_record rec;

	wait_through_changes(do_election_wait, fx_e, false, cmds, 4);
	rec = observe(fx_e);
	cr_assert_eq(rec.has_holder, 0);
	cr_assert_eq(rec.n_members, 0);
}

Test(wait, election_wait_timeout_without_change, TEST_OPTS, .timeout = 10)
{
	struct shmelect_candidate *a = join(fx_e, "a", 10 * SEC);
	uint64_t seq = 0, s0;

	cr_assert_eq(shmelect_candidate_try_acquire(a, NULL), 1);
	cr_assert_eq(shmelect_election_wait(fx_e, &seq, 0), 1);
	s0 = seq;
	/* reads are not changes */
	cr_assert_eq(shmelect_candidate_is_leader(a), 1);
	observe(fx_e);
	cr_assert_eq(shmelect_election_wait(fx_e, &seq, 200 * MS), 0);
	cr_assert_eq(seq, s0);
	/* and a real change is seen without sleeping */
	cr_assert_eq(shmelect_candidate_resign(a), 1);
	cr_assert_eq(shmelect_election_wait(fx_e, &seq, 0), 1);
	cr_assert_neq(seq, s0);
	shmelect_candidate_leave(a);
}

Test(wait, election_wait_rdonly_polls, TEST_OPTS, .timeout = 30)
{
	static const int32_t cmds[] = { ACT_JOIN, ACT_ACQUIRE, ACT_RESIGN };
	struct shmelect_segment *ro = NULL;
	struct shmelect_election *ero = NULL;
	struct shmelect_record rec;
	int r;

	r = shmelect_segment_open(fx_shm, SHMELECT_SEGMENT_RDONLY, NULL, &ro);
	cr_assert_eq(r, 0, "open read-only: %s", strerror(-r));
	cr_assert_eq(shmelect_election_open(ro, "e", 0, &ero), 0);
	wait_through_changes(do_election_wait, ero, true, cmds, 3);
	cr_assert_eq(shmelect_election_observe(ero, &rec, NULL, 0), 0, "the child left at quit");
	cr_assert_eq(rec.has_holder, 0);
	cr_assert_gt(rec.term, 0);
	shmelect_election_close(ero);
	shmelect_segment_close(ro);
}

Test(wait, segment_wait_sees_any_election, TEST_OPTS, .timeout = 30)
{
	static const int32_t cmds[] = { ACT_JOIN_E2, ACT_JOIN };

	wait_through_changes(do_segment_wait, fx_seg, false, cmds, 2);
}

Test(wait, segment_wait_rdonly_polls, TEST_OPTS, .timeout = 30)
{
	static const int32_t cmds[] = { ACT_JOIN_E2 };
	struct shmelect_segment *ro = NULL;

	cr_assert_eq(shmelect_segment_open(fx_shm, SHMELECT_SEGMENT_RDONLY, NULL, &ro), 0);
	wait_through_changes(do_segment_wait, ro, true, cmds, 1);
	shmelect_segment_close(ro);
}

Test(wait, bad_arguments, TEST_OPTS, .timeout = 10)
{
	uint64_t seq = 0;

	cr_assert_eq(shmelect_candidate_wait(NULL, 0, NULL), -EINVAL);
	cr_assert_eq(shmelect_election_wait(NULL, &seq, 0), -EINVAL);
	cr_assert_eq(shmelect_election_wait(fx_e, NULL, 0), -EINVAL);
	cr_assert_eq(shmelect_segment_wait(NULL, &seq, 0), -EINVAL);
	cr_assert_eq(shmelect_segment_wait(fx_seg, NULL, 0), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* No system call on the hot paths when nobody waits                    */
/* ------------------------------------------------------------------ */

/* A sanitizer's runtime makes system calls of its own (ASan blocks
 * signals around its work), which the filter would blame on the library. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SC_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
	__has_feature(memory_sanitizer)
#define SC_SANITIZER 1
#endif
#endif
#ifndef SC_SANITIZER
#define SC_SANITIZER 0
#endif

#if defined(__x86_64__)
#define SC_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SC_ARCH AUDIT_ARCH_AARCH64
#endif

struct sc_shared {
	int32_t stage;          /* what the child was doing */
	int32_t trapped_nr;     /* syscall number caught by the filter, -1 none */
	int32_t setup_err;      /* errno of the seccomp setup, 0 ok */
	int32_t bad_check;      /* line of a failed check, 0 none */
};

static struct sc_shared *sc_sh;

/* exit_group without libc's or a sanitizer's exit work (which would make
 * system calls of its own under the filter) */
static _Noreturn void sc_exit(int code)
{
	for (;;)
		syscall(SYS_exit_group, code);
}

static void sc_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	__atomic_store_n(&sc_sh->trapped_nr, si->si_syscall, __ATOMIC_RELEASE);
	sc_exit(3);
}

/* Trap every system call but exit, exit_group and the clock reads that the
 * vDSO falls back to on clocksources it cannot read. */
static int sc_install(void)
{
#ifdef SC_ARCH
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SC_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clock_gettime, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_gettimeofday, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	struct sigaction sa = { .sa_sigaction = sc_sigsys, .sa_flags = SA_SIGINFO };
	long r;

	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return errno;
	/* The calling thread only, which runs every operation under test.
	 * Not TSYNC: the library's life thread may still be on its way into
	 * its futex sleep when join() returns, and those calls are not ours
	 * to judge (with SIGSYS blocked there, they would kill the process). */
	r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
	if (r < 0)
		return errno;
	return 0;
#else
	return ENOSYS;
#endif
}

#define SC_CHECK(cond)                                                                        \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			__atomic_store_n(&sc_sh->bad_check, __LINE__, __ATOMIC_RELEASE);      \
			sc_exit(4);                                                           \
		}                                                                             \
	} while (0)

static void sc_report(int status)
{
	switch (status) {
	case 0:
		return;
	case 2:
		fx_skip("seccomp filter unavailable: %s", strerror(sc_sh->setup_err));
		break;
	case 3:
		cr_assert_fail("system call %d made at stage %d", sc_sh->trapped_nr, sc_sh->stage);
		break;
	case 4:
		cr_assert_fail("check at line %d failed in the child (stage %d)", sc_sh->bad_check,
			       sc_sh->stage);
		break;
	default:
		cr_assert_fail("child ended with status %d", status);
	}
}

/* The filter does catch a system call: without this, a passing test below
 * could mean that the filter never worked. */
Test(wait, seccomp_control_catches_a_syscall, TEST_OPTS, .timeout = 10)
{
	pid_t pid;
	int st;

	if (SC_SANITIZER)
		fx_skip("built with a sanitizer: its runtime makes system calls of its own");

	sc_sh = shared_alloc(sizeof(*sc_sh));
	sc_sh->trapped_nr = -1;
	pid = fx_fork();
	if (pid == 0) {
		int err = sc_install();
		if (err) {
			sc_sh->setup_err = err;
			_exit(2);
		}
		sc_sh->stage = 1;
		syscall(SYS_getppid);
		sc_exit(0);
	}
	st = fx_reap(pid);
	if (st == 2)
		fx_skip("seccomp filter unavailable: %s", strerror(sc_sh->setup_err));
	cr_assert_eq(st, 3, "getppid was not trapped (status %d)", st);
	cr_assert_eq(sc_sh->trapped_nr, SYS_getppid);
}

Test(wait, no_syscall_without_waiters, TEST_OPTS, .timeout = 20)
{
	pid_t pid;

	if (SC_SANITIZER)
		fx_skip("built with a sanitizer: its runtime makes system calls of its own");

	sc_sh = shared_alloc(sizeof(*sc_sh));
	sc_sh->trapped_nr = -1;
	pid = fx_fork();
	if (pid == 0) {
		struct shmelect_election *e2 = NULL;
		struct shmelect_candidate *c = NULL;
		struct shmelect_elector *el = NULL;
		struct shmelect_elector_config cfg = elector_config("el", 10 * SEC, 5 * SEC, SEC);
		struct shmelect_fence *fence = NULL;
		struct shmelect_record rec;
		uint64_t tok = 0, tok2 = 0, exp = 0, next = 0;
		int err;

		/* everything that may make system calls, before the filter:
		 * join (life thread, /proc), first clock read (time namespace
		 * offsets), first incarnation check (mmap, madvise) */
		SC_CHECK(shmelect_candidate_join(fx_e, "solo", 10 * SEC, 0, &c) == 0);
		SC_CHECK(shmelect_candidate_is_leader(c) == 0);
		(void)shmelect_now_ns();
		SC_CHECK(shmelect_election_fence(fx_e, &fence) == 0);
		SC_CHECK(shmelect_election_open(fx_seg, "e2", SHMELECT_ELECTION_CREATE, &e2) == 0);
		SC_CHECK(shmelect_elector_new(e2, &cfg, NULL, NULL, &el) == 0);

		err = sc_install();
		if (err) {
			sc_sh->setup_err = err;
			_exit(2);
		}

		sc_sh->stage = 1; /* raw candidate: acquire, renew, read, release */
		for (int i = 0; i < 1000; i++) {
			SC_CHECK(shmelect_candidate_try_acquire(c, &tok) == 1);
			SC_CHECK(tok > tok2);
			tok2 = tok;
			SC_CHECK(shmelect_candidate_renew(c) == 1);
			SC_CHECK(shmelect_candidate_is_leader(c) == 1);
			SC_CHECK(shmelect_candidate_leadership(c, &tok, &exp) == 1);
			SC_CHECK(tok == tok2);
			SC_CHECK(shmelect_fence_check(fence, tok) == 1);
			SC_CHECK(shmelect_election_observe(fx_e, &rec, NULL, 0) == 1);
			SC_CHECK(rec.has_holder == 1);
			SC_CHECK(shmelect_candidate_resign(c) == 1);
			SC_CHECK(shmelect_candidate_is_leader(c) == 0);
		}
		sc_sh->stage = 2; /* elector steps: acquire, renew, evict, re-acquire */
		{
			uint64_t t = shmelect_now_ns();
			SC_CHECK(shmelect_elector_step(el, t, &next) == 0);
			SC_CHECK(shmelect_elector_is_leader(el) == 1);
			for (int i = 0; i < 200; i++) {
				t = shmelect_now_ns();
				SC_CHECK(shmelect_elector_step(el, t, &next) == 0);
				SC_CHECK(shmelect_elector_is_leader(el) == 1);
			}
			SC_CHECK(shmelect_election_evict(e2) == 1);
			t = shmelect_now_ns();
			SC_CHECK(shmelect_elector_step(el, t, &next) == 0);
			SC_CHECK(shmelect_elector_is_leader(el) == 0);
			SC_CHECK(shmelect_elector_step(el, t + SEC, &next) == 0);
			SC_CHECK(shmelect_elector_is_leader(el) == 1);
		}
		sc_sh->stage = 3;
		sc_exit(0);
	}
	sc_report(fx_reap(pid));
}
