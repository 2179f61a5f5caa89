/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The elector (shmelect_elector_*): configuration, callback order and
 * tokens, the background runner, renew-deadline discipline, pauses,
 * priority and preemption, handover, lock-delay, advert, fork.
 *
 * Callbacks are recorded in shared memory with the time and the elector's
 * is_leader() at the moment of the callback.  Tests that must show that
 * something happened through a mechanism other than lease expiry use long
 * leases and compare with the old lease's expiry.
 */
#include "elector-helpers.h"

#define TEST_OPTS .init = fx_setup, .fini = fx_teardown

static const struct ev *ev_at(const struct evlog *log, int i)
{
	cr_assert_lt(i, ev_count(log), "no event #%d", i);
	return &log->ev[i];
}

static void expect_ev(const struct evlog *log, int i, uint32_t kind, const char *who)
{
	if (i >= ev_count(log) || log->ev[i].kind != kind) {
		ev_dump(log, who);
		cr_assert_fail("%s: event #%d should be %s", who, i, ev_name(kind));
	}
}

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

Test(elector, config_validation, TEST_OPTS, .timeout = 10)
{
	struct evlog *log = evlog_new();
	struct shmelect_elector_config base = elector_config("a", SEC, 500 * MS, 100 * MS), cfg;
	struct shmelect_elector *const sentinel = (struct shmelect_elector *)(uintptr_t)0x1234;
	struct shmelect_elector *el;
	char big[SHMELECT_ADVERT_MAX + 2], longid[SHMELECT_IDENTITY_MAX + 2];
	struct shmelect_record rec;

#define BAD(mod, err)                                                                          \
	do {                                                                                   \
		cfg = base;                                                                    \
		mod;                                                                           \
		el = sentinel;                                                                 \
		int r_ = shmelect_elector_new(fx_e, &cfg, &log_callbacks, log, &el);           \
		cr_expect_eq(r_, err, "%s: got %d (%s), want %d", #mod, r_, strerror(-r_), err); \
		cr_expect_eq(el, sentinel, "%s: ret touched on failure", #mod);               \
		if (r_ == 0 && el != sentinel)                                                 \
			shmelect_elector_free(el);                                             \
	} while (0)

	BAD(cfg.lease_ns = cfg.renew_deadline_ns, -EINVAL);
	BAD(cfg.lease_ns = cfg.renew_deadline_ns - 1, -EINVAL);
	BAD(cfg.renew_deadline_ns = cfg.retry_period_ns, -EINVAL);
	BAD(cfg.renew_deadline_ns = cfg.retry_period_ns - 1, -EINVAL);
	BAD(cfg.retry_period_ns = 0, -EINVAL);
	BAD(cfg.flags = 1u << 3, -EINVAL);
	BAD(cfg.flags = SHMELECT_ELECTOR_ONCE | 1u << 31, -EINVAL);
	BAD(cfg.reserved[0] = 1, -EINVAL);
	BAD(cfg.reserved[1] = 1, -EINVAL);
	BAD(cfg.reserved[2] = 1, -EINVAL);
	BAD(cfg.reserved[3] = 1, -EINVAL);
	/* lease below 1 ms, with a consistent deadline and period */
	BAD((cfg.lease_ns = SHMELECT_LEASE_MIN_NS - 1, cfg.renew_deadline_ns = 500000,
	     cfg.retry_period_ns = 100000),
	    -EINVAL);
	BAD(cfg.lease_ns = SHMELECT_LEASE_MAX_NS + 1, -EINVAL);
	BAD(cfg.lock_delay_ns = SHMELECT_LEASE_MAX_NS + 1, -EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0; /* 256 bytes */
	BAD(cfg.advert = big, -EMSGSIZE);
	BAD(cfg.identity = "", -EINVAL);
	memset(longid, 'i', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0; /* 64 bytes */
	BAD(cfg.identity = longid, -ENAMETOOLONG);

	cfg = base;
	cr_expect_eq(shmelect_elector_new(NULL, &cfg, &log_callbacks, log, &el), -EINVAL);
	cr_expect_eq(shmelect_elector_new(fx_e, NULL, &log_callbacks, log, &el), -EINVAL);
	cr_expect_eq(shmelect_elector_new(fx_e, &cfg, &log_callbacks, log, NULL), -EINVAL);

	/* failures leave no member behind */
	cr_assert_eq(shmelect_election_observe(fx_e, &rec, NULL, 0), 0);

	/* the limits themselves are accepted */
	cfg = base;
	cfg.lease_ns = SHMELECT_LEASE_MIN_NS;
	cfg.renew_deadline_ns = 500000;
	cfg.retry_period_ns = 100000;
	big[SHMELECT_ADVERT_MAX] = 0; /* 255 bytes */
	cfg.advert = big;
	el = NULL;
	cr_assert_eq(shmelect_elector_new(fx_e, &cfg, NULL, NULL, &el), 0);
	cr_assert_not_null(el);
	/* one member per identity */
	{
		struct shmelect_elector *el2 = sentinel;
		cr_expect_eq(shmelect_elector_new(fx_e, &cfg, NULL, NULL, &el2), -EEXIST);
		cr_expect_eq(el2, sentinel);
	}
	cr_assert_eq(shmelect_elector_start(el), 0);
	cr_assert_eq(shmelect_elector_start(el), -EBUSY);
	cr_assert_null(shmelect_elector_free(el));
	cr_assert_null(shmelect_elector_free(NULL));
	cr_assert_eq(shmelect_elector_step(NULL, 0, NULL), -EINVAL);
	cr_assert_eq(shmelect_elector_is_leader(NULL), -EINVAL);
	cr_assert_eq(shmelect_elector_stop(NULL), -EINVAL);
	cr_assert_eq(shmelect_elector_start(NULL), -EINVAL);
	cr_assert_eq(shmelect_elector_run(NULL), -EINVAL);
	cr_assert_null(shmelect_elector_candidate(NULL));
#undef BAD
}

/* ------------------------------------------------------------------ */
/* The background thread's result (shmelect_elector_wait)               */
/* ------------------------------------------------------------------ */

/* Long leases: a starved runner must not lose its lease in these tests. */
static struct shmelect_elector *bg_new(const char *id, uint32_t flags,
				       const struct shmelect_elector_callbacks *cb, void *ud)
{
	struct shmelect_elector_config cfg = {
		.identity = id,
		.lease_ns = 10 * SEC,
		.renew_deadline_ns = 5 * SEC,
		.retry_period_ns = 5 * MS,
		.flags = flags,
	};
	struct shmelect_elector *el = NULL;

	cr_assert_eq(shmelect_elector_new(fx_e, &cfg, cb, ud, &el), 0);
	return el;
}

static void until_leading(struct shmelect_elector *el)
{
	uint64_t end = shmelect_now_ns() + GIVE_UP;

	while (shmelect_elector_is_leader(el) != 1) {
		cr_assert_lt(shmelect_now_ns(), end, "the elector never led");
		sleep_ns(MS);
	}
}

Test(elector, wait_joins_a_stopped_thread, TEST_OPTS, .timeout = 20)
{
	struct shmelect_elector *el = bg_new("w", 0, NULL, NULL);
	struct shmelect_record rec;

	cr_expect_eq(shmelect_elector_wait(NULL), -EINVAL);
	cr_expect_eq(shmelect_elector_wait(el), -ECHILD, "no thread started yet");
	cr_assert_eq(shmelect_elector_start(el), 0);
	until_leading(el);
	cr_assert_eq(shmelect_elector_stop(el), 0);
	cr_expect_eq(shmelect_elector_wait(el), 0, "stopped: run() returned 0");
	/* the runner resigned when it returned */
	rec = observe(fx_e);
	cr_expect_eq(rec.has_holder, 0);
	cr_expect_eq(shmelect_elector_is_leader(el), 0);
	cr_expect_eq(shmelect_elector_wait(el), -ECHILD, "already waited for");
	cr_expect_eq(shmelect_elector_start(el), -EBUSY, "a stopped elector is not started again");
	cr_assert_null(shmelect_elector_free(el));
}

struct waiter {
	struct shmelect_elector *el;
	int r;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	w->r = shmelect_elector_wait(w->el);
	return NULL;
}

/* Of two threads waiting at once, one joins and the other is told. */
Test(elector, wait_by_two_threads_joins_once, TEST_OPTS, .timeout = 20)
{
	struct shmelect_elector *el = bg_new("w2", 0, NULL, NULL);
	struct waiter w[2] = { { el, 1 }, { el, 1 } };
	pthread_t t[2];

	cr_assert_eq(shmelect_elector_start(el), 0);
	until_leading(el);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, wait_thread, &w[i]), 0);
	sleep_ns(10 * MS);
	cr_assert_eq(shmelect_elector_stop(el), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_join(t[i], NULL), 0);
	cr_expect((w[0].r == 0 && w[1].r == -ECHILD) || (w[0].r == -ECHILD && w[1].r == 0),
		  "wait results %d and %d", w[0].r, w[1].r);
	cr_assert_null(shmelect_elector_free(el));
}

/* SHMELECT_ELECTOR_ONCE: the thread ends by itself when the elector loses
 * its lease; wait returns without a stop. */
Test(elector, wait_returns_when_a_once_elector_finishes, TEST_OPTS, .timeout = 20)
{
	struct evlog *log = evlog_new();
	struct shmelect_elector *el = bg_new("once", SHMELECT_ELECTOR_ONCE, &log_callbacks, log);

	cr_assert_eq(shmelect_elector_start(el), 0);
	until_leading(el);
	cr_assert_eq(shmelect_election_evict(fx_e), 1);
	cr_expect_eq(shmelect_elector_wait(el), 0);
	cr_expect_geq(ev_find(log, 0, EV_STOPPED), 0, "stopped_leading before the thread ended");
	cr_assert_null(shmelect_elector_free(el));
}

/* A failing round ends the thread; wait reports the error.  The slot of
 * the elector's member, a follower, is taken from it (as a reaper would
 * wrongly do); when the holder resigns, its next round fails. */
Test(elector, wait_reports_a_failed_round, TEST_OPTS, .timeout = 20)
{
	struct shmelect_elector *el = bg_new("fail", 0, NULL, NULL);
	struct shmelect_candidate *c = shmelect_elector_candidate(el);
	struct shmelect_candidate *holder = join(fx_e, "holder", 10 * SEC);
	uint64_t tok;

	cr_assert_eq(shmelect_candidate_try_acquire(holder, &tok), 1);
	cr_assert_eq(shmelect_elector_start(el), 0);
	wait_for_waiters(fx_e, 1);
	__atomic_store_n(&c->slot->owner, (uint64_t)SLOT_FREE, __ATOMIC_SEQ_CST);
	cr_assert_eq(shmelect_candidate_resign(holder), 1);
	cr_expect_eq(shmelect_elector_wait(el), -EIDRM, "the round's error, from the thread");
	cr_expect_eq(shmelect_elector_is_leader(el), 0);
	cr_expect_eq(observe(fx_e).has_holder, 0, "the failed elector took nothing");
	__atomic_store_n(&c->slot->owner, c->owner, __ATOMIC_SEQ_CST); /* so that leave frees it */
	cr_assert_null(shmelect_elector_free(el));
	shmelect_candidate_leave(holder);
}

/* A forked child has no thread of the elector: it cannot join its
 * parent's thread, and its handle is stale. */
Test(elector, wait_in_a_forked_child_is_estale, TEST_OPTS, .timeout = 20)
{
	struct shmelect_elector *el = bg_new("fork", 0, NULL, NULL);
	pid_t pid;

	cr_assert_eq(shmelect_elector_start(el), 0);
	until_leading(el);
	pid = fx_fork();
	if (pid == 0) {
		CHILD_CHECK(shmelect_elector_wait(el) == -ESTALE, 2);
		_exit(0);
	}
	cr_assert_eq(fx_reap(pid), 0);
	cr_expect_eq(shmelect_elector_is_leader(el), 1, "the child changed the parent's lease");
	cr_assert_eq(shmelect_elector_stop(el), 0);
	cr_expect_eq(shmelect_elector_wait(el), 0);
	cr_assert_null(shmelect_elector_free(el));
}

struct in_callback {
	struct shmelect_elector *el;
	int r;
};

static void cb_wait_in_callback(struct shmelect_elector *el, uint64_t token, void *ud)
{
	struct in_callback *x = ud;

	(void)token;
	__atomic_store_n(&x->r, shmelect_elector_wait(el), __ATOMIC_RELEASE);
}

Test(elector, wait_from_a_callback_is_refused, TEST_OPTS, .timeout = 20)
{
	static const struct shmelect_elector_callbacks cb = { .started_leading = cb_wait_in_callback };
	struct in_callback x = { .r = 1 };
	struct shmelect_elector *el = bg_new("cb", 0, &cb, &x);
	uint64_t end = shmelect_now_ns() + GIVE_UP;

	cr_assert_eq(shmelect_elector_start(el), 0);
	while (__atomic_load_n(&x.r, __ATOMIC_ACQUIRE) == 1) {
		cr_assert_lt(shmelect_now_ns(), end, "started_leading never ran");
		sleep_ns(MS);
	}
	cr_expect_eq(x.r, -EDEADLK);
	cr_assert_eq(shmelect_elector_stop(el), 0);
	cr_expect_eq(shmelect_elector_wait(el), 0);
	cr_assert_null(shmelect_elector_free(el));
}

/* ------------------------------------------------------------------ */
/* Callback order and tokens (step-driven)                              */
/* ------------------------------------------------------------------ */

/* A time for step(): the host clock, but never before `floor`. */
static uint64_t at_least(uint64_t floor)
{
	uint64_t now = shmelect_now_ns();
	return now > floor ? now : floor;
}

static void callbacks_order(uint32_t flags)
{
	struct evlog *log = evlog_new();
	struct shmelect_elector_config cfg = elector_config("a", 10 * SEC, 5 * SEC, 100 * MS);
	struct shmelect_elector *el;
	struct shmelect_record rec;
	uint64_t t, next = 0, T1, T2;

	cfg.flags = flags;
	el = elector_new(fx_e, &cfg, log);
	t = shmelect_now_ns();
	cr_assert_eq(shmelect_elector_step(el, t, &next), 0);

	/* won a vacant election: new_leader(us) then started_leading, same token */
	cr_assert_eq(ev_count(log), 2);
	expect_ev(log, 0, EV_NEW_LEADER, "a");
	expect_ev(log, 1, EV_STARTED, "a");
	cr_assert_str_eq(log->ev[0].id, "a");
	T1 = log->ev[1].token;
	cr_assert_gt(T1, 0);
	cr_assert_eq(log->ev[0].token, T1);
	cr_assert_eq(log->ev[1].is_leader, 1, "started_leading before is_leader says so");
	cr_assert_eq(shmelect_elector_is_leader(el), 1);
	cr_assert_gt(next, t);
	cr_assert_leq(next, t + cfg.renew_deadline_ns, "must come back before the renew deadline");
	rec = observe(fx_e);
	cr_assert_str_eq(rec.holder, "a");
	cr_assert_eq(rec.token, T1);

	/* renewing: no callbacks */
	t = at_least(t);
	cr_assert_eq(shmelect_elector_step(el, t, &next), 0);
	cr_assert_eq(ev_count(log), 2);

	/* evicted: stopped_leading(same token), then new_leader(none) */
	cr_assert_eq(shmelect_election_evict(fx_e), 1);
	t = at_least(t);
	cr_assert_eq(shmelect_elector_step(el, t, &next), 0);
	cr_assert_eq(ev_count(log), 4);
	expect_ev(log, 2, EV_STOPPED, "a");
	cr_assert_eq(log->ev[2].token, T1);
	cr_assert_eq(log->ev[2].is_leader, 0);
	expect_ev(log, 3, EV_NEW_LEADER, "a");
	cr_assert_str_eq(log->ev[3].id, "", "new_leader after eviction should be none");
	cr_assert_eq(log->ev[3].token, 0);
	cr_assert_eq(shmelect_elector_is_leader(el), 0);

	if (flags & SHMELECT_ELECTOR_ONCE) {
		cr_assert_eq(next, UINT64_MAX, "ONCE: nothing more to do");
		for (int i = 1; i <= 3; i++) {
			t = at_least(t) + (uint64_t)i * cfg.retry_period_ns;
			cr_assert_eq(shmelect_elector_step(el, t, &next), 0);
		}
		t = at_least(t) + 2 * cfg.lease_ns;
		cr_assert_eq(shmelect_elector_step(el, t, &next), 0);
		cr_assert_eq(ev_count(log), 4, "ONCE must not re-contend");
		cr_assert_eq(shmelect_elector_is_leader(el), 0);
		rec = observe(fx_e);
		cr_assert_eq(rec.has_holder, 0);
	} else {
		/* re-contends after a retry period: new term, larger token */
		t = at_least(t) + cfg.retry_period_ns;
		cr_assert_eq(shmelect_elector_step(el, t, &next), 0);
		cr_assert_eq(ev_count(log), 6);
		expect_ev(log, 4, EV_NEW_LEADER, "a");
		expect_ev(log, 5, EV_STARTED, "a");
		cr_assert_str_eq(log->ev[4].id, "a");
		T2 = log->ev[5].token;
		cr_assert_gt(T2, T1);
		cr_assert_eq(log->ev[4].token, T2);
		cr_assert_eq(shmelect_elector_is_leader(el), 1);
		rec = observe(fx_e);
		cr_assert_eq(rec.token, T2);
	}
	shmelect_elector_free(el);
	/* free releases the lease (no NO_RELEASE) */
	rec = observe(fx_e);
	cr_assert_eq(rec.has_holder, 0);
	cr_assert_eq(rec.n_members, 0);
}

Test(elector, callbacks_order_and_tokens, TEST_OPTS, .timeout = 10)
{
	callbacks_order(0);
}

Test(elector, once_does_not_recontend, TEST_OPTS, .timeout = 10)
{
	callbacks_order(SHMELECT_ELECTOR_ONCE);
}

Test(elector, default_identity_reported, TEST_OPTS, .timeout = 10)
{
	struct evlog *log = evlog_new();
	struct shmelect_elector_config cfg = elector_config(NULL, 10 * SEC, 5 * SEC, 100 * MS);
	struct shmelect_elector *el = elector_new(fx_e, &cfg, log);
	const char *id = shmelect_candidate_identity(shmelect_elector_candidate(el));
	char pid[32];

	cr_assert_not_null(id);
	snprintf(pid, sizeof(pid), ":%d:", (int)getpid());
	cr_assert_not_null(strstr(id, pid), "default identity '%s' lacks the pid", id);
	cr_assert_eq(shmelect_elector_step(el, shmelect_now_ns(), NULL), 0);
	expect_ev(log, 0, EV_NEW_LEADER, "default");
	cr_assert_str_eq(log->ev[0].id, id);
	cr_assert_str_eq(observe(fx_e).holder, id);
	shmelect_elector_free(el);
}

/* ------------------------------------------------------------------ */
/* Renew deadline: step down on its own                                  */
/* ------------------------------------------------------------------ */

Test(elector, renew_deadline_self_discipline, TEST_OPTS, .timeout = 10)
{
	struct evlog *log = evlog_new();
	struct shmelect_elector_config cfg = elector_config("a", 10 * SEC, 2 * SEC, 100 * MS);
	struct shmelect_elector *el = elector_new(fx_e, &cfg, log);
	struct shmelect_record rec;
	uint64_t t0, last, T;

	t0 = shmelect_now_ns();
	cr_assert_eq(shmelect_elector_step(el, t0, NULL), 0);
	expect_ev(log, 1, EV_STARTED, "a");
	T = log->ev[1].token;

	/* a renew within the deadline moves the deadline */
	last = t0 + SEC;
	cr_assert_eq(shmelect_elector_step(el, last, NULL), 0);
	cr_assert_eq(ev_count(log), 2);

	/* nobody took over, the lease is valid for seconds yet ... */
	rec = observe(fx_e);
	cr_assert_str_eq(rec.holder, "a");
	cr_assert_eq(rec.expired, 0);
	cr_assert_eq(shmelect_candidate_is_leader(shmelect_elector_candidate(el)), 1);

	/* ... but the round comes after the renew deadline: step down */
	cr_assert_eq(shmelect_elector_step(el, last + cfg.renew_deadline_ns + 1, NULL), 0);
	expect_ev(log, 2, EV_STOPPED, "a");
	cr_assert_eq(log->ev[2].token, T);
	cr_assert_eq(log->ev[2].is_leader, 0, "stopped_leading while the lease is still ours");
	cr_assert_eq(shmelect_elector_is_leader(el), 0);
	rec = observe(fx_e);
	cr_assert_eq(rec.has_holder, 0, "the lease must be released, not kept until expiry");
	cr_assert_eq(rec.locked_until_ns, 0, "a voluntary step-down is clean: no lock-delay");
	cr_assert_eq(rec.token, T);
	shmelect_elector_free(el);
}

/* ------------------------------------------------------------------ */
/* Background runners in two processes                                  */
/* ------------------------------------------------------------------ */

/* Wait until one of two agents leads; returns its index. */
static int wait_one_leads(struct agent *ag)
{
	uint64_t end = shmelect_now_ns() + GIVE_UP;

	for (;;) {
		for (int i = 0; i < 2; i++)
			if (ev_find(&ag[i].sh->log, 0, EV_STARTED) >= 0)
				return i;
		if (shmelect_now_ns() > end) {
			ev_dump(&ag[0].sh->log, ag[0].id);
			ev_dump(&ag[1].sh->log, ag[1].id);
			cr_assert_fail("nobody leads");
		}
		sleep_ns(MS);
	}
}

static void two_agents(uint32_t flags, uint64_t lease, struct agent *ag, int *ret_leader)
{
	struct shmelect_elector_config cfg = elector_config(NULL, lease, lease / 2, 50 * MS);
	struct shmelect_record rec;
	int L;

	cfg.flags = flags;
	cfg.identity = "a";
	ag[0] = agent_spawn(&cfg, AGENT_START);
	cfg.identity = "b";
	ag[1] = agent_spawn(&cfg, AGENT_START);
	L = wait_one_leads(ag);

	/* exactly one leads, and stays the only one for a while */
	for (int k = 0; k < 20; k++) {
		int leading = ev_leading(&ag[0].sh->log) + ev_leading(&ag[1].sh->log);
		int started = ev_count_kind(&ag[0].sh->log, EV_STARTED) +
			      ev_count_kind(&ag[1].sh->log, EV_STARTED);
		cr_assert_eq(leading, 1);
		cr_assert_eq(started, 1);
		rec = observe(fx_e);
		cr_assert_str_eq(rec.holder, ag[L].id);
		cr_assert_eq(rec.n_members, 2);
		sleep_ns(10 * MS);
	}
	/* the follower knows who leads */
	{
		struct evlog *fl = &ag[1 - L].sh->log;
		int i = ev_wait(fl, 0, EV_NEW_LEADER, ag[1 - L].id);
		while (strcmp(fl->ev[i].id, ag[L].id))
			i = ev_wait(fl, i + 1, EV_NEW_LEADER, ag[1 - L].id);
		cr_assert_eq(fl->ev[i].token, ev_at(&ag[L].sh->log,
						    ev_find(&ag[L].sh->log, 0, EV_STARTED))->token);
	}
	*ret_leader = L;
}

Test(elector, background_release_on_free, TEST_OPTS, .timeout = 30)
{
	struct agent ag[2];
	struct shmelect_record rec0, rec1, rec2;
	int L, F, nf, i;
	uint64_t T0, T1;

	two_agents(0, 10 * SEC, ag, &L);
	F = 1 - L;
	rec0 = observe(fx_e);
	T0 = rec0.token;
	nf = ev_count(&ag[F].sh->log);

	cr_assert_eq(agent_quit(&ag[L]), 0, "leader's agent failed");
	cr_assert(ag[L].sh->freed);
	/* released at free: vacant, or the follower already took it */
	rec1 = observe(fx_e);
	cr_assert(rec1.has_holder == 0 || !strcmp(rec1.holder, ag[F].id),
		  "after free the old leader still holds (holder '%s')", rec1.holder);
	/* the stopped leader was told */
	{
		struct evlog *ll = &ag[L].sh->log;
		int s = ev_find(ll, 0, EV_STOPPED);
		if (s < 0)
			ev_dump(ll, ag[L].id);
		cr_assert_geq(s, 0, "graceful stop without stopped_leading");
		cr_assert_eq(ll->ev[s].token, T0);
		cr_assert_eq(ll->ev[s].is_leader, 0);
	}

	i = ev_wait(&ag[F].sh->log, nf, EV_STARTED, ag[F].id);
	T1 = ag[F].sh->log.ev[i].token;
	cr_assert_gt(T1, T0);
	cr_assert_lt(ag[F].sh->log.ev[i].t_ns, rec0.expiry_ns, "taken over by expiry, not release");
	rec2 = observe(fx_e);
	cr_assert_str_eq(rec2.holder, ag[F].id);
	cr_assert_eq(rec2.token, T1);
	cr_assert_lt(rec2.acquire_ns, rec0.expiry_ns);
	cr_assert_eq(agent_quit(&ag[F]), 0);
}

/* The follower of a NO_RELEASE leader that went away gets the lease at
 * the kept lease's expiry E, not before. */
static void expect_taken_at_expiry(struct agent *f, uint64_t T0, uint64_t E)
{
	struct shmelect_record rec;
	int i = ev_wait(&f->sh->log, 0, EV_STARTED, f->id);

	rec = observe(fx_e);
	cr_assert_str_eq(rec.holder, f->id);
	cr_assert_gt(rec.token, T0);
	cr_expect_geq(rec.acquire_ns, E,
		      "NO_RELEASE: follower acquired at %" PRIu64 ", %.3f ms before the kept "
		      "lease's expiry %" PRIu64,
		      rec.acquire_ns, ((double)E - (double)rec.acquire_ns) / 1e6, E);
	cr_expect_geq(f->sh->log.ev[i].t_ns, E);
}

/* Stop a NO_RELEASE leader (without freeing it): it calls stopped_leading
 * but keeps the lease; returns the kept lease's expiry. */
static uint64_t no_release_stop(struct agent *l, uint64_t T0)
{
	struct shmelect_record rec;
	int i;

	agent_cmd(l, 's');
	i = ev_wait(&l->sh->log, 0, EV_STOPPED, l->id);
	cr_assert_eq(l->sh->log.ev[i].token, T0);
	rec = observe(fx_e);
	cr_assert_eq(rec.has_holder, 1, "NO_RELEASE: stop released the lease");
	cr_assert_str_eq(rec.holder, l->id);
	cr_assert_eq(rec.token, T0);
	return rec.expiry_ns;
}

Test(elector, background_no_release_stop_keeps_lease, TEST_OPTS, .timeout = 30)
{
	struct agent ag[2];
	int L;
	uint64_t T0, E;

	two_agents(SHMELECT_ELECTOR_NO_RELEASE, 2 * SEC, ag, &L);
	T0 = observe(fx_e).token;
	E = no_release_stop(&ag[L], T0);
	expect_taken_at_expiry(&ag[1 - L], T0, E);
	cr_assert_eq(agent_quit(&ag[L]), 0);
	cr_assert_eq(agent_quit(&ag[1 - L]), 0);
}

/*
 * The requirement: with NO_RELEASE, free keeps the lease (observe
 * shows the old holder until expiry).  The library's free() leaves the
 * election, and leaving resigns any term naming the slot, so that a freed
 * slot is never named by the lease word; shmelect_elector_new(3) documents
 * that.  This test states the requirement; see the report for the
 * conflict.
 */
Test(elector, background_no_release_free_keeps_lease, TEST_OPTS, .timeout = 30)
{
	struct agent ag[2];
	struct shmelect_record rec;
	int L;
	uint64_t T0, E;

	two_agents(SHMELECT_ELECTOR_NO_RELEASE, 2 * SEC, ag, &L);
	T0 = observe(fx_e).token;
	E = no_release_stop(&ag[L], T0);
	cr_assert_eq(agent_quit(&ag[L]), 0);
	cr_assert(ag[L].sh->freed);
	rec = observe(fx_e);
	if (rec.observed_ns < E) {
		/* free() leaves the election, so the lease cannot keep naming
		 * the freed slot: it is vacant, but locked until it would have
		 * expired -- nobody leads before E (shmelect_elector_new(3)) */
		cr_expect_eq(rec.has_holder, 0);
		cr_expect_eq(rec.locked_until_ns, E, "NO_RELEASE: free did not keep the lease's expiry");
		cr_expect_eq(rec.term, observe(fx_e).term);
	}
	expect_taken_at_expiry(&ag[1 - L], T0, E);
	cr_assert_eq(agent_quit(&ag[1 - L]), 0);
}

/* ------------------------------------------------------------------ */
/* run() paused longer than the lease                                   */
/* ------------------------------------------------------------------ */

Test(elector, run_paused_leader_first_hears_stopped, TEST_OPTS, .timeout = 30)
{
	struct shmelect_elector_config cfg = elector_config("a", 300 * MS, 200 * MS, 50 * MS);
	struct agent A, B;
	struct shmelect_record rec0, rec1;
	int na, ia, ib, i;
	uint64_t TA, TB, t_cont;

	A = agent_spawn(&cfg, AGENT_RUN);
	ia = ev_wait(&A.sh->log, 0, EV_STARTED, "a");
	TA = A.sh->log.ev[ia].token;
	cfg.identity = "b";
	B = agent_spawn(&cfg, AGENT_START);
	ev_wait(&B.sh->log, 0, EV_NEW_LEADER, "b");

	fx_sigstop(A.pid);
	na = ev_count(&A.sh->log);
	rec0 = observe(fx_e);
	if (ev_find(&A.sh->log, 0, EV_STOPPED) >= 0 || !rec0.has_holder || strcmp(rec0.holder, "a") ||
	    rec0.token != TA)
		fx_skip("the leader lost its 300 ms lease before it was stopped: machine too loaded");

	/* B takes over once A's lease ran out (A is alive: no early break) */
	ib = ev_wait(&B.sh->log, 0, EV_STARTED, "b");
	TB = B.sh->log.ev[ib].token;
	cr_assert_gt(TB, TA);
	cr_assert_geq(B.sh->log.ev[ib].t_ns, rec0.expiry_ns);
	rec1 = observe(fx_e);
	cr_assert_str_eq(rec1.holder, "b");
	cr_assert_geq(rec1.acquire_ns, rec0.expiry_ns);
	/* keep A stopped a little longer than a lease */
	sleep_until(rec0.expiry_ns + cfg.lease_ns);
	cr_assert_eq(ev_count(&A.sh->log), na, "a stopped process wrote events");

	t_cont = shmelect_now_ns();
	cr_assert_eq(kill(A.pid, SIGCONT), 0);
	ev_wait(&A.sh->log, na, EV_STOPPED, "a");
	/* the very first thing A hears after the pause: it no longer leads */
	expect_ev(&A.sh->log, na, EV_STOPPED, "a");
	cr_assert_eq(A.sh->log.ev[na].token, TA);
	cr_assert_eq(A.sh->log.ev[na].is_leader, 0);
	cr_assert_geq(A.sh->log.ev[na].t_ns, t_cont);
	/* then it follows B */
	i = ev_wait(&A.sh->log, na + 1, EV_NEW_LEADER, "a");
	while (strcmp(A.sh->log.ev[i].id, "b"))
		i = ev_wait(&A.sh->log, i + 1, EV_NEW_LEADER, "a");
	cr_assert_eq(A.sh->log.ev[i].token, TB);
	/* B was never disturbed */
	sleep_ns(4 * cfg.retry_period_ns);
	cr_assert_eq(ev_find(&A.sh->log, na, EV_STARTED), -1, "the stale leader took over again");
	cr_assert_eq(ev_find(&B.sh->log, ib, EV_STOPPED), -1);
	cr_assert_str_eq(observe(fx_e).holder, "b");
	cr_assert_eq(agent_quit(&A), 0);
	cr_assert_eq(A.sh->run_result, 0);
	cr_assert_eq(agent_quit(&B), 0);
}

/* ------------------------------------------------------------------ */
/* Priority and preemption                                              */
/* ------------------------------------------------------------------ */

static struct shmelect_elector *start_elector(const char *id, int32_t prio, uint32_t flags,
					      struct evlog *log)
{
	struct shmelect_elector_config cfg = elector_config(id, 10 * SEC, 5 * SEC, 100 * MS);
	struct shmelect_elector *el;

	cfg.priority = prio;
	cfg.flags = flags;
	el = elector_new(fx_e, &cfg, log);
	cr_assert_eq(shmelect_elector_start(el), 0);
	return el;
}

/* Wait until the follower has reported `leader` as the leader. */
static void wait_follows(struct evlog *log, const char *who, const char *leader)
{
	int i = ev_wait(log, 0, EV_NEW_LEADER, who);

	while (strcmp(log->ev[i].id, leader))
		i = ev_wait(log, i + 1, EV_NEW_LEADER, who);
}

Test(elector, preempt_moves_leadership, TEST_OPTS, .timeout = 30)
{
	struct evlog *ll = evlog_new(), *hl = evlog_new();
	struct shmelect_elector *lo, *hi;
	struct shmelect_record rec0, rec1;
	int il, ih, is;
	uint64_t TL, TH;

	lo = start_elector("low", 1, 0, ll);
	il = ev_wait(ll, 0, EV_STARTED, "low");
	TL = ll->ev[il].token;
	rec0 = observe(fx_e);
	cr_assert_str_eq(rec0.holder, "low");

	hi = start_elector("high", 10, SHMELECT_ELECTOR_PREEMPT, hl);
	ih = ev_wait(hl, 0, EV_STARTED, "high");
	TH = hl->ev[ih].token;
	is = ev_wait(ll, il, EV_STOPPED, "low");
	cr_assert_eq(ll->ev[is].token, TL);
	cr_assert_eq(ll->ev[is].is_leader, 0);
	cr_assert_gt(TH, TL);
	cr_assert_lt(hl->ev[ih].t_ns, rec0.expiry_ns, "moved by expiry, not preemption");
	rec1 = observe(fx_e);
	cr_assert_str_eq(rec1.holder, "high");
	cr_assert_eq(rec1.token, TH);
	/* the low one now follows the high one, and stays follower */
	wait_follows(ll, "low", "high");
	sleep_ns(300 * MS);
	cr_assert_eq(ev_count_kind(ll, EV_STARTED), 1);
	cr_assert_eq(ev_count_kind(hl, EV_STOPPED), 0);
	shmelect_elector_free(hi);
	shmelect_elector_free(lo);
}

Test(elector, no_preempt_without_flag, TEST_OPTS, .timeout = 30)
{
	struct evlog *ll = evlog_new(), *hl = evlog_new();
	struct shmelect_elector *lo, *hi;
	struct shmelect_record rec;
	int il;

	lo = start_elector("low", 1, 0, ll);
	il = ev_wait(ll, 0, EV_STARTED, "low");
	hi = start_elector("high", 10, 0, hl);
	wait_follows(hl, "high", "low");
	/* many retry periods with a healthy low-priority leader */
	sleep_ns(SEC);
	cr_assert_eq(ev_count_kind(hl, EV_STARTED), 0, "leadership moved without PREEMPT");
	cr_assert_eq(ev_count_kind(ll, EV_STOPPED), 0);
	rec = observe(fx_e);
	cr_assert_str_eq(rec.holder, "low");
	cr_assert_eq(rec.token, ll->ev[il].token);
	shmelect_elector_free(hi);
	shmelect_elector_free(lo);
}

Test(elector, higher_priority_wins_vacant, TEST_OPTS, .timeout = 60)
{
	struct shmelect_candidate *holder = join(fx_e, "holder", 30 * SEC);

	for (int trial = 0; trial < 6; trial++) {
		/* alternate names, priorities and start order */
		const char *hid = trial % 2 ? "x" : "y", *lid = trial % 2 ? "y" : "x";
		struct evlog *hl = evlog_new(), *ll = evlog_new();
		struct shmelect_elector *h, *l;
		uint64_t end;

		cr_assert_eq(shmelect_candidate_try_acquire(holder, NULL), 1);
		if (trial % 3) {
			h = start_elector(hid, 5, 0, hl);
			l = start_elector(lid, -5, 0, ll);
		} else {
			l = start_elector(lid, -5, 0, ll);
			h = start_elector(hid, 5, 0, hl);
		}
		wait_follows(hl, hid, "holder");
		wait_follows(ll, lid, "holder");
		cr_assert_eq(shmelect_candidate_resign(holder), 1);

		/* whoever starts leading first must be the higher priority */
		end = shmelect_now_ns() + GIVE_UP;
		while (ev_find(hl, 0, EV_STARTED) < 0 && ev_find(ll, 0, EV_STARTED) < 0) {
			cr_assert_lt(shmelect_now_ns(), end, "trial %d: nobody took the vacant lease",
				     trial);
			sleep_ns(MS);
		}
		cr_assert_eq(ev_count_kind(ll, EV_STARTED), 0,
			     "trial %d: the lower priority won a vacant election", trial);
		cr_assert_str_eq(observe(fx_e).holder, hid);
		wait_follows(ll, lid, hid);
		cr_assert_eq(ev_count_kind(ll, EV_STARTED), 0, "trial %d", trial);
		shmelect_elector_free(l);
		shmelect_elector_free(h);
		munmap(hl, sizeof(*hl));
		munmap(ll, sizeof(*ll));
	}
	shmelect_candidate_leave(holder);
}

/* ------------------------------------------------------------------ */
/* Handover                                                             */
/* ------------------------------------------------------------------ */

static void check_moved(struct evlog *al, struct evlog *bl, int ia, uint64_t old_expiry)
{
	int ib = ev_wait(bl, 0, EV_STARTED, "b");
	int is = ev_wait(al, ia, EV_STOPPED, "a");
	uint64_t TA = al->ev[ia].token, TB = bl->ev[ib].token;
	struct shmelect_record rec;

	cr_assert_eq(al->ev[is].token, TA);
	cr_assert_eq(al->ev[is].is_leader, 0);
	cr_assert_gt(TB, TA, "handover must start a new term");
	cr_assert_lt(bl->ev[ib].t_ns, old_expiry, "moved by expiry, not handover");
	rec = observe(fx_e);
	cr_assert_str_eq(rec.holder, "b");
	cr_assert_eq(rec.token, TB);
	wait_follows(al, "a", "b");
}

Test(elector, elector_handover_named, TEST_OPTS, .timeout = 30)
{
	struct evlog *al = evlog_new(), *bl = evlog_new();
	struct shmelect_elector *a, *b;
	int ia;
	uint64_t E;

	a = start_elector("a", 0, 0, al);
	ia = ev_wait(al, 0, EV_STARTED, "a");
	b = start_elector("b", 0, 0, bl);
	wait_follows(bl, "b", "a");
	E = observe(fx_e).expiry_ns;

	cr_assert_eq(shmelect_elector_handover(a, "a"), 0, "handover to oneself is a no-op");
	cr_assert_eq(shmelect_elector_handover(a, "b"), 1);
	check_moved(al, bl, ia, E);
	cr_assert_eq(shmelect_elector_handover(a, "b"), -EPERM, "only the leader hands over");
	shmelect_elector_free(b);
	shmelect_elector_free(a);
}

Test(elector, election_handover_request, TEST_OPTS, .timeout = 30)
{
	struct evlog *al = evlog_new(), *bl = evlog_new();
	struct shmelect_elector *a, *b;
	struct shmelect_segment *s3 = NULL;
	struct shmelect_election *e3 = NULL;
	int ia;
	uint64_t E;

	a = start_elector("a", 0, 0, al);
	ia = ev_wait(al, 0, EV_STARTED, "a");
	b = start_elector("b", 0, 0, bl);
	wait_follows(bl, "b", "a");
	E = observe(fx_e).expiry_ns;

	/* a third party, with its own mapping, asks */
	cr_assert_eq(shmelect_segment_open(fx_shm, 0, NULL, &s3), 0);
	cr_assert_eq(shmelect_election_open(s3, "e", 0, &e3), 0);
	cr_assert_eq(shmelect_election_handover(e3, "b", 0), 0);
	check_moved(al, bl, ia, E);
	shmelect_election_close(e3);
	shmelect_segment_close(s3);
	shmelect_elector_free(b);
	shmelect_elector_free(a);
}

Test(elector, handover_force_from_raw_holder, TEST_OPTS, .timeout = 30)
{
	struct evlog *bl = evlog_new();
	struct shmelect_candidate *r = join(fx_e, "r", 30 * SEC);
	struct shmelect_elector *b;
	struct shmelect_record rec;
	uint64_t TR = 0, TB;
	int ib;

	cr_assert_eq(shmelect_candidate_try_acquire(r, &TR), 1);
	b = start_elector("b", 0, 0, bl);
	wait_follows(bl, "b", "r");

	cr_assert_eq(shmelect_election_handover(fx_e, "b", SHMELECT_HANDOVER_FORCE), 1);
	/* immediate: the record names b now, and r has lost */
	rec = observe(fx_e);
	cr_assert_str_eq(rec.holder, "b");
	cr_assert_gt(rec.token, TR);
	cr_assert_eq(shmelect_candidate_renew(r), 0);
	cr_assert_eq(shmelect_candidate_is_leader(r), 0);
	cr_assert_eq(shmelect_candidate_try_acquire(r, NULL), 0);

	ib = ev_wait(bl, 0, EV_STARTED, "b");
	TB = bl->ev[ib].token;
	cr_assert_eq(TB, rec.token);
	cr_assert_eq(shmelect_elector_is_leader(b), 1);
	shmelect_elector_free(b);
	shmelect_candidate_leave(r);
}

Test(elector, handover_errors, TEST_OPTS, .timeout = 30)
{
	struct evlog *al = evlog_new();
	struct shmelect_elector *a = start_elector("a", 0, 0, al);
	struct shmelect_segment *ro = NULL;
	struct shmelect_election *ero = NULL;

	ev_wait(al, 0, EV_STARTED, "a");
	cr_assert_eq(shmelect_election_handover(fx_e, "nobody", 0), -ESRCH);
	cr_assert_eq(shmelect_election_handover(fx_e, "nobody", SHMELECT_HANDOVER_FORCE), -ESRCH);
	cr_assert_eq(shmelect_elector_handover(a, "nobody"), -ESRCH);
	cr_assert_eq(shmelect_elector_handover(a, NULL), -EINVAL);
	cr_assert_eq(shmelect_election_handover(fx_e, "a", 1u << 7), -EINVAL);
	cr_assert_eq(shmelect_election_handover(NULL, "a", 0), -EINVAL);
	cr_assert_eq(shmelect_election_handover(fx_e, NULL, 0), 0, "withdrawing is always fine");
	cr_assert_eq(shmelect_segment_open(fx_shm, SHMELECT_SEGMENT_RDONLY, NULL, &ro), 0);
	cr_assert_eq(shmelect_election_open(ro, "e", 0, &ero), 0);
	cr_assert_eq(shmelect_election_handover(ero, "a", 0), -EROFS);
	shmelect_election_close(ero);
	shmelect_segment_close(ro);
	cr_assert_eq(ev_count_kind(al, EV_STOPPED), 0);
	cr_assert_str_eq(observe(fx_e).holder, "a");
	shmelect_elector_free(a);
}

/* ------------------------------------------------------------------ */
/* Lock-delay                                                           */
/* ------------------------------------------------------------------ */

Test(elector, lock_delay_after_sigkill, TEST_OPTS, .timeout = 30)
{
	struct shmelect_elector_config cfg = elector_config("l", 200 * MS, 150 * MS, 50 * MS);
	struct shmelect_record rec, locked = { 0 };
	struct agent L, F;
	uint64_t t_kill, end;
	int i;

	cfg.lock_delay_ns = 500 * MS;
	L = agent_spawn(&cfg, AGENT_RUN);
	ev_wait(&L.sh->log, 0, EV_STARTED, "l");
	cfg.identity = "f";
	cfg.lock_delay_ns = 0;
	F = agent_spawn(&cfg, AGENT_START);
	wait_follows(&F.sh->log, "f", "l");

	t_kill = shmelect_now_ns();
	cr_assert_eq(kill(L.pid, SIGKILL), 0);
	end = t_kill + GIVE_UP;
	for (;;) {
		rec = observe(fx_e);
		if (!rec.has_holder && rec.locked_until_ns && !locked.locked_until_ns)
			locked = rec;
		if (rec.has_holder && !strcmp(rec.holder, "f"))
			break;
		cr_assert_lt(shmelect_now_ns(), end, "the follower never took over");
		sleep_ns(MS / 2);
	}
	cr_assert_neq(locked.locked_until_ns, 0, "never saw the election locked after the death");
	cr_assert_geq(locked.locked_until_ns, t_kill + cfg.lock_delay_ns,
		      "lock-delay must run from the death (or break), not before the kill");
	cr_assert_geq(rec.acquire_ns, locked.locked_until_ns,
		      "follower acquired %.3f ms before the lock-delay ended",
		      ((double)locked.locked_until_ns - (double)rec.acquire_ns) / 1e6);
	i = ev_wait(&F.sh->log, 0, EV_STARTED, "f");
	cr_assert_geq(F.sh->log.ev[i].t_ns, locked.locked_until_ns);
	cr_assert_eq(fx_reap(L.pid), 128 + SIGKILL);
	cr_assert_eq(agent_quit(&F), 0);
}

Test(elector, lock_delay_after_evict, TEST_OPTS, .timeout = 30)
{
	struct evlog *log = evlog_new();
	struct shmelect_elector_config cfg = elector_config("l", 200 * MS, 150 * MS, 50 * MS);
	struct shmelect_elector *l;
	struct shmelect_candidate *f = join(fx_e, "f", 10 * SEC);
	struct shmelect_record rec, rec2, rec3;
	uint64_t t_ev, tok = 0;
	int r;

	cfg.lock_delay_ns = SEC;
	l = elector_new(fx_e, &cfg, log);
	cr_assert_eq(shmelect_elector_step(l, shmelect_now_ns(), NULL), 0);
	cr_assert_eq(shmelect_elector_is_leader(l), 1);

	t_ev = shmelect_now_ns();
	cr_assert_eq(shmelect_election_evict(fx_e), 1);
	rec = observe(fx_e);
	cr_assert_eq(rec.has_holder, 0);
	if (rec.observed_ns >= t_ev + cfg.lock_delay_ns)
		fx_skip("observe came more than the lock-delay after the eviction");
	cr_assert_geq(rec.locked_until_ns, t_ev + cfg.lock_delay_ns);

	r = shmelect_candidate_try_acquire(f, NULL);
	rec2 = observe(fx_e);
	if (rec2.observed_ns < rec.locked_until_ns)
		cr_assert_eq(r, 0, "acquired inside the lock-delay");

	/* the evicted leader hears of it and does not re-take it early */
	cr_assert_eq(shmelect_elector_step(l, shmelect_now_ns(), NULL), 0);
	expect_ev(log, 2, EV_STOPPED, "l");
	cr_assert_eq(shmelect_elector_is_leader(l), 0);

	cr_assert_eq(shmelect_candidate_wait(f, 20 * SEC, &tok), 1);
	rec3 = observe(fx_e);
	cr_assert_str_eq(rec3.holder, "f");
	cr_assert_geq(rec3.acquire_ns, rec.locked_until_ns);
	shmelect_elector_free(l);
	shmelect_candidate_leave(f);
}

/* ------------------------------------------------------------------ */
/* Advert                                                               */
/* ------------------------------------------------------------------ */

Test(elector, advert_readable_read_only, TEST_OPTS, .timeout = 10)
{
	struct shmelect_elector_config cfg = elector_config("a", 10 * SEC, 5 * SEC, 100 * MS);
	struct shmelect_segment *ro = NULL;
	struct shmelect_election *ero = NULL;
	struct shmelect_candidate *b = join(fx_e, "b", 10 * SEC), *ca;
	struct shmelect_elector *a;
	struct shmelect_record rec;
	char v255[SHMELECT_ADVERT_MAX + 1], v256[SHMELECT_ADVERT_MAX + 2];

	cfg.advert = "tcp://127.0.0.1:7000";
	a = elector_new(fx_e, &cfg, evlog_new());
	ca = shmelect_elector_candidate(a);
	cr_assert_eq(shmelect_candidate_set_advert(b, "not the leader"), 0);
	cr_assert_eq(shmelect_segment_open(fx_shm, SHMELECT_SEGMENT_RDONLY, NULL, &ro), 0);
	cr_assert_eq(shmelect_election_open(ro, "e", 0, &ero), 0);

	/* nobody leads: no advert */
	cr_assert_eq(shmelect_election_observe(ero, &rec, NULL, 0), 2);
	cr_assert_eq(rec.has_holder, 0);
	cr_assert_str_eq(rec.advert, "");

	cr_assert_eq(shmelect_elector_step(a, shmelect_now_ns(), NULL), 0);
	cr_assert_eq(shmelect_election_observe(ero, &rec, NULL, 0), 2);
	cr_assert_str_eq(rec.holder, "a");
	cr_assert_str_eq(rec.advert, "tcp://127.0.0.1:7000");

	memset(v256, 'x', sizeof(v256) - 1);
	v256[sizeof(v256) - 1] = 0;
	cr_assert_eq(shmelect_candidate_set_advert(ca, v256), -EMSGSIZE);
	cr_assert_eq(shmelect_election_observe(ero, &rec, NULL, 0), 2);
	cr_assert_str_eq(rec.advert, "tcp://127.0.0.1:7000", "a refused advert changed the value");

	memset(v255, 'y', sizeof(v255) - 1);
	v255[sizeof(v255) - 1] = 0;
	cr_assert_eq(shmelect_candidate_set_advert(ca, v255), 0);
	cr_assert_eq(shmelect_election_observe(ero, &rec, NULL, 0), 2);
	cr_assert_str_eq(rec.advert, v255);

	cr_assert_eq(shmelect_candidate_set_advert(ca, NULL), 0);
	cr_assert_eq(shmelect_election_observe(ero, &rec, NULL, 0), 2);
	cr_assert_str_eq(rec.advert, "");

	shmelect_elector_free(a);
	cr_assert_eq(shmelect_election_observe(ero, &rec, NULL, 0), 1);
	cr_assert_eq(rec.has_holder, 0);
	cr_assert_str_eq(rec.advert, "");
	shmelect_election_close(ero);
	shmelect_segment_close(ro);
	shmelect_candidate_leave(b);
}

/* ------------------------------------------------------------------ */
/* fork                                                                 */
/* ------------------------------------------------------------------ */

Test(elector, forked_child_does_not_lead, TEST_OPTS, .timeout = 10)
{
	struct evlog *log = evlog_new();
	struct shmelect_elector_config cfg = elector_config("a", 10 * SEC, 5 * SEC, 100 * MS);
	struct shmelect_elector *el = elector_new(fx_e, &cfg, log);
	struct shmelect_record rec0, rec1;
	int n;
	pid_t pid;

	cr_assert_eq(shmelect_elector_step(el, shmelect_now_ns(), NULL), 0);
	cr_assert_eq(shmelect_elector_is_leader(el), 1);
	rec0 = observe(fx_e);
	n = ev_count(log);

	pid = fx_fork();
	if (pid == 0) {
		uint64_t next = 0;
		CHILD_CHECK(shmelect_elector_is_leader(el) == 0, 2);
		CHILD_CHECK(shmelect_elector_step(el, shmelect_now_ns(), &next) == -ESTALE, 3);
		CHILD_CHECK(shmelect_candidate_renew(shmelect_elector_candidate(el)) == -ESTALE, 4);
		CHILD_CHECK(shmelect_candidate_resign(shmelect_elector_candidate(el)) == -ESTALE, 5);
		CHILD_CHECK(shmelect_elector_handover(el, "a") == -ESTALE, 6);
		CHILD_CHECK(ev_count(log) == n, 7);
		/* freeing the inherited copy must not touch the parent's lease */
		shmelect_elector_free(el);
		CHILD_CHECK(ev_count(log) == n, 8);
		_exit(0);
	}
	cr_assert_eq(fx_reap(pid), 0);
	cr_assert_eq(shmelect_elector_is_leader(el), 1);
	rec1 = observe(fx_e);
	cr_assert_str_eq(rec1.holder, "a");
	cr_assert_eq(rec1.token, rec0.token);
	cr_assert_eq(rec1.n_members, 1);
	cr_assert_eq(shmelect_elector_step(el, shmelect_now_ns(), NULL), 0);
	cr_assert_eq(ev_count(log), n, "the parent's elector saw a change");
	cr_assert_eq(shmelect_elector_is_leader(el), 1);
	shmelect_elector_free(el);
}
