/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Several processes, each opening the segment itself: takeover only after
 * expiry, a stopped (SIGSTOP) leader that wakes up to find it lost, resign
 * handing over at once, a killed leader, and a randomised no-overlap check
 * of invariant 1 with 5 ms leases.
 *
 * The parent never asserts timing; it waits with generous deadlines only so
 * that a broken library fails instead of hanging.  Children report through
 * MAP_SHARED memory and their exit status.
 */
#include "helpers.h"

TestSuite(multiproc, .fini = teardown);

#define LEADER_LEASE (2 * SEC)   /* never expires while its holder renews */
#define DEADLINE     (20 * SEC)  /* only against hangs */

static char seg_name[NAME_MAX + 1];

/* Each child opens the segment and the election itself. */
static int child_open(struct shmelect_segment **s, struct shmelect_election **e)
{
	struct shmelect_segment_params p = { .max_elections = 4, .max_candidates = 8 };

	if (shmelect_segment_open(seg_name, SHMELECT_SEGMENT_CREATE, &p, s) < 0)
		return -1;
	if (shmelect_election_open(*s, "svc", SHMELECT_ELECTION_CREATE, e) < 0)
		return -1;
	return 0;
}

static void child_close(struct shmelect_segment *s, struct shmelect_election *e)
{
	shmelect_election_close(e);
	shmelect_segment_close(s);
}

static void make_segment(const char *tag)
{
	const char *name = shm_name(tag);
	struct shmelect_segment *s = open_seg(name, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, 4, 8);
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);

	snprintf(seg_name, sizeof(seg_name), "%s", name);
	shmelect_election_close(e);
	shmelect_segment_close(s);
}

/* ------------------------------------------------------------------ */
/* Takeover only after expiry; SIGSTOP / SIGCONT                        */
/* ------------------------------------------------------------------ */

#define N_FOLLOWERS 2

struct stop_test {
	int leader_ready;
	uint64_t leader_token;
	uint64_t leader_expiry;     /* expiry after its last successful renew */
	uint64_t leader_renews;
	int leader_lost;            /* renew returned 0 */
	int leader_lost_is_leader;  /* is_leader right after that */
	int leader_lost_acquire;    /* try_acquire right after that */
	int phase;                  /* 2: leader stopped, take over; 3: finish */
	int polled[N_FOLLOWERS];    /* phase 1 done */
	int phase1_wins[N_FOLLOWERS];
	int phase1_not_leader[N_FOLLOWERS]; /* observe showed another holder */
	int won[N_FOLLOWERS];
	uint64_t token[N_FOLLOWERS];
	uint64_t acquire_ns[N_FOLLOWERS];
	uint64_t term[N_FOLLOWERS];
	int winner;
	int late_wins[N_FOLLOWERS]; /* won while another follower held it */
};

static struct stop_test *st;
static int follower_index;

static int stop_leader(void *arg)
{
	struct shmelect_segment *s;
	struct shmelect_election *e;
	struct shmelect_candidate *c = NULL;
	uint64_t end = shmelect_now_ns() + 2 * DEADLINE, exp;

	(void)arg;
	CHILD_CHECK(child_open(&s, &e) == 0);
	CHILD_CHECK(shmelect_candidate_join(e, "leader", LEADER_LEASE, 0, &c) == 0);
	CHILD_CHECK(shmelect_candidate_try_acquire(c, &st->leader_token) == 1);
	CHILD_CHECK(shmelect_candidate_leadership(c, NULL, &exp) == 1);
	__atomic_store_n(&st->leader_expiry, exp, __ATOMIC_RELEASE);
	set_flag(&st->leader_ready, 1);
	/* renew every 10 ms until a renew fails (after SIGSTOP + SIGCONT) */
	while (shmelect_now_ns() < end) {
		if (shmelect_candidate_renew(c) != 1) {
			st->leader_lost = 1;
			st->leader_lost_is_leader = shmelect_candidate_is_leader(c);
			st->leader_lost_acquire = shmelect_candidate_try_acquire(c, NULL);
			break;
		}
		CHILD_CHECK(shmelect_candidate_leadership(c, NULL, &exp) == 1);
		__atomic_store_n(&st->leader_expiry, exp, __ATOMIC_RELEASE);
		st->leader_renews++;
		sleep_ns(10 * MS);
	}
	shmelect_candidate_leave(c);
	child_close(s, e);
	return st->leader_lost ? 0 : 2;
}

static int stop_follower(void *arg)
{
	struct shmelect_segment *s;
	struct shmelect_election *e;
	struct shmelect_candidate *c = NULL;
	struct shmelect_record rec;
	int i = follower_index;
	char id[16];
	uint64_t tok, end;

	(void)arg;
	CHILD_CHECK(child_open(&s, &e) == 0);
	snprintf(id, sizeof(id), "follower-%d", i);
	CHILD_CHECK(shmelect_candidate_join(e, id, LEADER_LEASE, 0, &c) == 0);

	/* phase 1: the leader is running and renewing: never ours */
	for (int k = 0; k < 200; k++) {
		if (shmelect_candidate_try_acquire(c, &tok) == 1)
			st->phase1_wins[i]++;
		CHILD_CHECK(shmelect_election_observe(e, &rec, NULL, 0) >= 0);
		if (rec.has_holder && !strcmp(rec.holder, "leader"))
			st->phase1_not_leader[i]++;
		sleep_ns(2 * MS);
	}
	set_flag(&st->polled[i], 1);

	/* phase 2: the leader is stopped; poll until one of us has it */
	end = shmelect_now_ns() + DEADLINE;
	while (__atomic_load_n(&st->phase, __ATOMIC_ACQUIRE) < 2 && shmelect_now_ns() < end)
		sleep_ns(MS);
	while (!__atomic_load_n(&st->winner, __ATOMIC_ACQUIRE) && shmelect_now_ns() < end) {
		if (shmelect_candidate_try_acquire(c, &tok) == 1) {
			int zero = 0;
			CHILD_CHECK(shmelect_election_observe(e, &rec, NULL, 0) >= 0);
			st->token[i] = tok;
			st->acquire_ns[i] = rec.acquire_ns;
			st->term[i] = rec.term;
			st->won[i] = 1;
			if (!__atomic_compare_exchange_n(&st->winner, &zero, i + 1, false, __ATOMIC_ACQ_REL,
							 __ATOMIC_ACQUIRE))
				st->late_wins[i]++;
			break;
		}
		sleep_ns(MS);
	}
	/* phase 3: the winner keeps leading until the parent is done; the
	 * other keeps trying and must not get it */
	while (__atomic_load_n(&st->phase, __ATOMIC_ACQUIRE) < 3 && shmelect_now_ns() < end + DEADLINE) {
		if (st->won[i])
			shmelect_candidate_renew(c);
		else if (shmelect_candidate_try_acquire(c, &tok) == 1)
			st->late_wins[i]++;
		sleep_ns(10 * MS);
	}
	shmelect_candidate_leave(c);
	child_close(s, e);
	return 0;
}

Test(multiproc, takeover_only_after_expiry_and_sigstop, .timeout = 60)
{
	pid_t leader, followers[N_FOLLOWERS];
	uint64_t leader_token;
	int all_polled;

	make_segment("stop");
	st = shared_alloc(sizeof(*st));
	leader = spawn(stop_leader, NULL);
	cr_assert(wait_flag(&st->leader_ready, DEADLINE), "the leader never acquired");
	leader_token = st->leader_token;
	for (int i = 0; i < N_FOLLOWERS; i++) {
		follower_index = i;
		followers[i] = spawn(stop_follower, NULL);
	}
	all_polled = 1;
	for (int i = 0; i < N_FOLLOWERS; i++)
		all_polled &= wait_flag(&st->polled[i], 2 * DEADLINE);

	/* stop the leader: it holds a lease it cannot renew */
	cr_assert_eq(kill(leader, SIGSTOP), 0);
	set_flag(&st->phase, 2);
	int winner = wait_flag(&st->winner, 2 * DEADLINE);
	/* wake the old leader: its next renew must fail */
	kill(leader, SIGCONT);
	int leader_status = reap(leader);
	set_flag(&st->phase, 3);
	for (int i = 0; i < N_FOLLOWERS; i++)
		expect_child_ok(followers[i], "follower");

	cr_expect(all_polled, "followers did not finish phase 1");
	for (int i = 0; i < N_FOLLOWERS; i++) {
		cr_expect_eq(st->phase1_wins[i], 0, "follower %d acquired while the leader was renewing", i);
		cr_expect_eq(st->phase1_not_leader[i], 200, "follower %d saw another holder than the leader", i);
		cr_expect_eq(st->late_wins[i], 0, "follower %d acquired while the other follower held it", i);
	}
	cr_assert_neq(winner, 0, "no follower took over from the stopped leader");
	int w = winner - 1;
	cr_expect_eq(st->won[1 - w], 0, "both followers won");
	cr_expect_gt(st->token[w], leader_token, "the new term's token is larger");
	cr_expect_gt(st->term[w], 1);
	cr_expect_geq(st->acquire_ns[w], st->leader_expiry,
		      "taken at %" PRIu64 ", before the stopped leader's expiry %" PRIu64, st->acquire_ns[w],
		      st->leader_expiry);

	cr_expect_eq(leader_status, 0, "the old leader never saw its renew fail (status %d)", leader_status);
	cr_expect_eq(st->leader_lost, 1);
	cr_expect_eq(st->leader_lost_is_leader, 0, "the old leader still thinks it leads");
	cr_expect_eq(st->leader_lost_acquire, 0, "the old leader took the lease back from a valid holder");
	cr_expect_gt(st->leader_renews, 0);
}

/* ------------------------------------------------------------------ */
/* Resign hands over at once                                            */
/* ------------------------------------------------------------------ */

struct resign_test {
	int leader_ready, polling, resigned, done;
	uint64_t leader_token, leader_term;
	int resign_result, leader_after;
	int won, saw_leader, saw_other;
	uint64_t token, term, transitions, leader_transitions;
	char holder[SHMELECT_IDENTITY_MAX + 1];
	int holder_alive_pid;
};

static struct resign_test *rt;

static int resign_leader(void *arg)
{
	struct shmelect_segment *s;
	struct shmelect_election *e;
	struct shmelect_candidate *c = NULL;
	struct shmelect_record rec;

	(void)arg;
	CHILD_CHECK(child_open(&s, &e) == 0);
	/* a one-hour lease: the follower cannot get it by expiry */
	CHILD_CHECK(shmelect_candidate_join(e, "leader", SHMELECT_LEASE_MAX_NS, 0, &c) == 0);
	CHILD_CHECK(shmelect_candidate_try_acquire(c, &rt->leader_token) == 1);
	CHILD_CHECK(shmelect_election_observe(e, &rec, NULL, 0) >= 0);
	rt->leader_term = rec.term;
	rt->leader_transitions = rec.transitions;
	set_flag(&rt->leader_ready, 1);
	CHILD_CHECK(wait_flag(&rt->polling, DEADLINE));
	rt->resign_result = shmelect_candidate_resign(c);
	rt->leader_after = shmelect_candidate_is_leader(c);
	set_flag(&rt->resigned, 1);
	/* stay alive (and a member) until the follower is done: the handover
	 * must come from the resign, not from our death */
	CHILD_CHECK(wait_flag(&rt->done, DEADLINE));
	shmelect_candidate_leave(c);
	child_close(s, e);
	return 0;
}

static int resign_follower(void *arg)
{
	struct shmelect_segment *s;
	struct shmelect_election *e;
	struct shmelect_candidate *c = NULL;
	struct shmelect_record rec;
	uint64_t tok, end = shmelect_now_ns() + DEADLINE;

	(void)arg;
	CHILD_CHECK(child_open(&s, &e) == 0);
	CHILD_CHECK(shmelect_candidate_join(e, "follower", LEADER_LEASE, 0, &c) == 0);
	while (shmelect_now_ns() < end) {
		CHILD_CHECK(shmelect_election_observe(e, &rec, NULL, 0) >= 0);
		if (rec.has_holder && !strcmp(rec.holder, "leader"))
			rt->saw_leader = 1;
		else if (rec.has_holder)
			rt->saw_other = 1;
		int r = shmelect_candidate_try_acquire(c, &tok);
		if (r == 1) {
			rt->won = 1;
			rt->token = tok;
			CHILD_CHECK(shmelect_election_observe(e, &rec, NULL, 0) >= 0);
			rt->term = rec.term;
			rt->transitions = rec.transitions;
			memcpy(rt->holder, rec.holder, sizeof(rt->holder));
			break;
		}
		CHILD_CHECK(r == 0);
		set_flag(&rt->polling, 1);
		sleep_ns(MS);
	}
	set_flag(&rt->done, 1);
	shmelect_candidate_leave(c);
	child_close(s, e);
	return 0;
}

Test(multiproc, resign_hands_over_at_once, .timeout = 60)
{
	pid_t leader, follower;

	make_segment("resign");
	rt = shared_alloc(sizeof(*rt));
	leader = spawn(resign_leader, NULL);
	cr_assert(wait_flag(&rt->leader_ready, DEADLINE), "the leader never acquired");
	follower = spawn(resign_follower, NULL);
	expect_child_ok(follower, "follower");
	expect_child_ok(leader, "leader");

	cr_expect_eq(rt->resign_result, 1);
	cr_expect_eq(rt->leader_after, 0);
	cr_expect_eq(rt->saw_leader, 1, "the follower never saw the leader hold the lease");
	cr_expect_eq(rt->saw_other, 0);
	cr_assert_eq(rt->won, 1, "the follower did not get a one-hour lease after its holder resigned");
	cr_expect_str_eq(rt->holder, "follower", "the follower's own observation names it");
	cr_expect_gt(rt->token, rt->leader_token);
	cr_expect_eq(rt->term, rt->leader_term + 1);
	cr_expect_eq(rt->transitions, rt->leader_transitions + 1);
}

/* ------------------------------------------------------------------ */
/* A killed leader                                                      */
/* ------------------------------------------------------------------ */

struct kill_test {
	int ready, won;
	uint64_t leader_token, token, expiry, acquire_ns;
};

static struct kill_test *kt;

static int kill_leader(void *arg)
{
	struct shmelect_segment *s;
	struct shmelect_election *e;
	struct shmelect_candidate *c = NULL;

	(void)arg;
	CHILD_CHECK(child_open(&s, &e) == 0);
	CHILD_CHECK(shmelect_candidate_join(e, "leader", 200 * MS, 0, &c) == 0);
	CHILD_CHECK(shmelect_candidate_try_acquire(c, &kt->leader_token) == 1);
	CHILD_CHECK(shmelect_candidate_leadership(c, NULL, &kt->expiry) == 1);
	set_flag(&kt->ready, 1);
	for (;;) /* renew until killed */
		if (shmelect_candidate_renew(c) == 1) {
			uint64_t x;
			if (shmelect_candidate_leadership(c, NULL, &x) == 1)
				__atomic_store_n(&kt->expiry, x, __ATOMIC_RELEASE);
			sleep_ns(5 * MS);
		}
}

Test(multiproc, killed_leader_replaced, .timeout = 60)
{
	struct shmelect_segment *s;
	struct shmelect_election *e;
	struct shmelect_candidate *c;
	struct shmelect_record rec;
	uint64_t tok = 0, end;
	pid_t leader;
	int r = 0;

	make_segment("kill");
	kt = shared_alloc(sizeof(*kt));
	s = open_seg(seg_name, 0, 0, 0);
	e = open_election(s, "svc", 0);
	c = join(e, "follower", LEADER_LEASE);
	leader = spawn(kill_leader, NULL);
	cr_assert(wait_flag(&kt->ready, DEADLINE));
	cr_expect_eq(shmelect_candidate_try_acquire(c, &tok), 0);
	kill(leader, SIGKILL);
	cr_expect_eq(reap(leader), 128 + SIGKILL);
	end = shmelect_now_ns() + DEADLINE;
	while ((r = shmelect_candidate_try_acquire(c, &tok)) == 0 && shmelect_now_ns() < end)
		sleep_ns(MS);
	cr_assert_eq(r, 1, "no takeover after the leader was killed");
	cr_expect_gt(tok, kt->leader_token);
	rec = observe(e);
	cr_expect_str_eq(rec.holder, "follower");
	cr_expect_geq(rec.acquire_ns, kt->expiry, "taken before the dead leader's lease expired");
	shmelect_candidate_leave(c);
	shmelect_election_close(e);
	shmelect_segment_close(s);
}

/* ------------------------------------------------------------------ */
/* No overlap (invariant 1), randomised                                 */
/* ------------------------------------------------------------------ */

#define N_RACERS   4
#define RACE_LEASE (5 * MS)
#define RACE_TIME  (2 * SEC)
#define LOG_MAX    (1 << 17)

enum { END_LOST = 1, END_RESIGNED = 2, END_DEADLINE = 3 };

/*
 * One interval of leadership of one process, in one term.  The process
 * samples shmelect_candidate_leadership() in a loop, reading the clock
 * just before (a) and just after (b) each call.  start = b of the first
 * true sample, end = a of the last: every instant in [start, end] lies
 * between two true reports of the same term, so no other term can exist
 * then.  acq_before/after bracket the try_acquire that began the interval;
 * max_expiry is the largest expiry a true sample reported; resign_at is a
 * clock value read before the resign that ended it.
 */
struct interval {
	uint64_t token;
	uint64_t start, end;
	uint64_t acq_before, acq_after;
	uint64_t max_expiry;
	uint64_t resign_at;
	int32_t pid;
	int32_t end_kind;
};

struct race_log {
	int go;
	uint64_t n;
	int overflow;
	struct {
		uint64_t acquired, resigned, lost, samples;
		uint64_t renew_revived;   /* renew() == 1 after is_leader() == 0 */
		uint64_t token_changed;   /* leadership() reported another token mid-interval */
		uint64_t errors;
	} p[N_RACERS];
	struct interval iv[LOG_MAX];
};

static struct race_log *rl;
static int racer_index;

static void log_interval(const struct interval *iv)
{
	uint64_t k = __atomic_fetch_add(&rl->n, 1, __ATOMIC_RELAXED);

	if (k >= LOG_MAX) {
		rl->overflow = 1;
		return;
	}
	rl->iv[k] = *iv;
}

static int racer(void *arg)
{
	struct shmelect_segment *s;
	struct shmelect_election *e;
	struct shmelect_candidate *c = NULL;
	int i = racer_index;
	unsigned seed = (unsigned)getpid() * 2654435761u;
	char id[16];
	uint64_t end, tok;

	(void)arg;
	CHILD_CHECK(child_open(&s, &e) == 0);
	snprintf(id, sizeof(id), "racer-%d", i);
	CHILD_CHECK(shmelect_candidate_join(e, id, RACE_LEASE, 0, &c) == 0);
	while (!__atomic_load_n(&rl->go, __ATOMIC_ACQUIRE))
		sleep_ns(100000);
	end = shmelect_now_ns() + RACE_TIME;

	while (shmelect_now_ns() < end) {
		struct interval iv = { 0 };
		uint64_t t, x;
		int r;

		iv.acq_before = shmelect_now_ns();
		r = shmelect_candidate_try_acquire(c, &tok);
		iv.acq_after = shmelect_now_ns();
		if (r < 0) {
			rl->p[i].errors++;
			break;
		}
		if (r == 0) {
			/* a follower: spin or nap */
			if (rand_r(&seed) % 2)
				sched_yield();
			else
				sleep_ns(50000 + rand_r(&seed) % 400000);
			continue;
		}
		rl->p[i].acquired++;
		iv.token = tok;
		iv.pid = getpid();

		/* how this leadership ends */
		unsigned mode = rand_r(&seed) % 100;
		uint64_t stop_renew = mode < 30 ? (uint64_t)(rand_r(&seed) % 50) : UINT64_MAX; /* then run out */
		uint64_t resign_after = mode >= 30 && mode < 50 ? (uint64_t)(1 + rand_r(&seed) % 200) : UINT64_MAX;
		uint64_t k = 0;
		int have = 0;

		for (;;) {
			uint64_t a = shmelect_now_ns();
			int lr = shmelect_candidate_leadership(c, &t, &x);
			uint64_t b = shmelect_now_ns();

			if (lr != 1) {
				iv.end_kind = END_LOST;
				rl->p[i].lost++;
				break;
			}
			rl->p[i].samples++;
			if (t != tok)
				rl->p[i].token_changed++;
			if (!have) {
				iv.start = b;
				have = 1;
			}
			iv.end = a;
			if (x > iv.max_expiry)
				iv.max_expiry = x;
			k++;
			if (k == resign_after || b >= end) {
				iv.resign_at = shmelect_now_ns();
				shmelect_candidate_resign(c);
				iv.end_kind = k == resign_after ? END_RESIGNED : END_DEADLINE;
				rl->p[i].resigned++;
				break;
			}
			if (k < stop_renew && rand_r(&seed) % 4 == 0)
				shmelect_candidate_renew(c);
			if (rand_r(&seed) % 500 == 0) /* a stall, sometimes past the lease */
				sleep_ns(rand_r(&seed) % (2 * RACE_LEASE));
		}
		/* renew never revives a lost, expired or resigned lease */
		if (shmelect_candidate_renew(c) == 1)
			rl->p[i].renew_revived++;
		if (have)
			log_interval(&iv);
	}
	shmelect_candidate_leave(c);
	child_close(s, e);
	return 0;
}

static int cmp_start(const void *pa, const void *pb)
{
	const struct interval *a = pa, *b = pb;

	return a->start < b->start ? -1 : a->start > b->start;
}

static int cmp_token(const void *pa, const void *pb)
{
	const struct interval *a = pa, *b = pb;

	if (a->token != b->token)
		return a->token < b->token ? -1 : 1;
	return a->start < b->start ? -1 : a->start > b->start;
}

Test(multiproc, no_overlap, .timeout = 120)
{
	pid_t pids[N_RACERS];
	struct interval *iv;
	size_t n;

	make_segment("overlap");
	rl = shared_alloc(sizeof(*rl));
	for (int i = 0; i < N_RACERS; i++) {
		racer_index = i;
		pids[i] = spawn(racer, NULL);
	}
	set_flag(&rl->go, 1);
	for (int i = 0; i < N_RACERS; i++)
		expect_child_ok(pids[i], "racer");

	cr_assert_eq(rl->overflow, 0, "interval log overflowed (test harness limit)");
	n = rl->n;
	for (int i = 0; i < N_RACERS; i++) {
		cr_expect_eq(rl->p[i].errors, 0, "racer %d: an operation failed", i);
		cr_expect_eq(rl->p[i].renew_revived, 0, "racer %d: renew revived a lost lease %" PRIu64 " times", i,
			     rl->p[i].renew_revived);
		cr_expect_eq(rl->p[i].token_changed, 0, "racer %d: token changed within a leadership", i);
	}
	iv = malloc(n * sizeof(*iv) + 1);
	cr_assert_not_null(iv);
	memcpy(iv, rl->iv, n * sizeof(*iv));

	/* a token belongs to one process */
	qsort(iv, n, sizeof(*iv), cmp_token);
	size_t distinct = 0;
	for (size_t k = 0; k < n; k++) {
		if (k == 0 || iv[k].token != iv[k - 1].token)
			distinct++;
		else
			cr_expect_eq(iv[k].pid, iv[k - 1].pid, "token %" PRIu64 " held by two processes", iv[k].token);
	}
	uint64_t acquired = 0, resigned = 0, lost = 0, samples = 0;
	for (int i = 0; i < N_RACERS; i++) {
		acquired += rl->p[i].acquired;
		resigned += rl->p[i].resigned;
		lost += rl->p[i].lost;
		samples += rl->p[i].samples;
	}
	cr_log_info("no_overlap: %zu intervals, %zu terms, %" PRIu64 " acquisitions, %" PRIu64 " resigns, %" PRIu64
		    " losses, %" PRIu64 " samples", n, distinct, acquired, resigned, lost, samples);
	cr_assert_geq(distinct, 2, "only %zu terms in %d ms: the check proved nothing", distinct,
		      (int)(RACE_TIME / MS));

	/*
	 * A new term is decided at a clock value >= the old term's expiry (or
	 * its resign): the taker's try_acquire returned (acq_after) after that
	 * decision.  So acq_after of a term's first interval must not precede
	 * the expiry the previous term reported while leading (or, if it
	 * resigned, the clock read before its resign).
	 */
	size_t early = 0;
	for (size_t k = 1; k < n; k++) {
		if (iv[k].token == iv[k - 1].token)
			continue;
		const struct interval *prev = &iv[k - 1]; /* last interval of the previous recorded term */
		uint64_t prev_end = prev->end_kind == END_LOST ? prev->max_expiry : prev->resign_at;
		if (iv[k].acq_after < prev_end) {
			if (early++ < 5)
				cr_expect_fail("token %" PRIu64 " acquired by %d by %" PRIu64
					       ", before token %" PRIu64 " of %d ended at %" PRIu64 " (%s)",
					       iv[k].token, iv[k].pid, iv[k].acq_after, prev->token, prev->pid, prev_end,
					       prev->end_kind == END_LOST ? "expiry it reported" : "its resign");
		}
	}
	cr_expect_eq(early, 0, "%zu terms began before the previous one ended", early);

	/* intervals of different tokens never overlap, and by start time the
	 * tokens never go back */
	qsort(iv, n, sizeof(*iv), cmp_start);
	size_t overlaps = 0, backwards = 0;
	uint64_t max_end = 0, max_end_token = 0;
	for (size_t k = 0; k < n; k++) {
		if (k && iv[k].token < iv[k - 1].token && backwards++ < 5)
			cr_expect_fail("token %" PRIu64 " started at %" PRIu64 " after token %" PRIu64 " at %" PRIu64,
				       iv[k].token, iv[k].start, iv[k - 1].token, iv[k - 1].start);
		if (k && max_end_token != iv[k].token && max_end >= iv[k].start && overlaps++ < 5)
			cr_expect_fail("token %" PRIu64 " (pid %d) led from %" PRIu64 " while token %" PRIu64
				       " led until %" PRIu64,
				       iv[k].token, iv[k].pid, iv[k].start, max_end_token, max_end);
		if (iv[k].end > max_end) {
			max_end = iv[k].end;
			max_end_token = iv[k].token;
		}
	}
	cr_expect_eq(overlaps, 0, "%zu overlapping leaderships", overlaps);
	cr_expect_eq(backwards, 0, "%zu times a later leadership had a smaller token", backwards);
	free(iv);
}
