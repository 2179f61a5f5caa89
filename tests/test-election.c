/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Elections: create and open by name, the table's capacity, read-only
 * segments, observe (the Kubernetes-style record and the members), evict,
 * the election's fence, and a corrupt lease word.
 */
#include "helpers.h"

TestSuite(election, .fini = teardown);

static struct shmelect_segment *new_seg(const char *tag, uint32_t elections, uint32_t candidates)
{
	return open_seg(shm_name(tag), SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, elections, candidates);
}

Test(election, create_on_first_use_then_open)
{
	struct shmelect_segment *s = new_seg("first-use", 8, 4);
	struct shmelect_election *e1, *e2, *e3 = NULL;
	struct shmelect_segment_info info;
	struct shmelect_candidate *c;

	cr_expect_eq(shmelect_election_open(s, "svc", 0, &e3), -ENOENT);
	cr_expect_null(e3);
	e1 = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	cr_expect_str_eq(shmelect_election_name(e1), "svc");
	cr_assert_eq(shmelect_segment_info(s, &info), 0);
	cr_expect_eq(info.n_elections, 1);

	/* open again, without and with CREATE: the same record */
	e2 = open_election(s, "svc", 0);
	e3 = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	cr_assert_eq(shmelect_segment_info(s, &info), 0);
	cr_expect_eq(info.n_elections, 1, "CREATE of an existing election created another");

	c = join(e1, "a", LONG_LEASE);
	cr_expect_eq(observe(e2).n_members, 1);
	cr_expect_eq(observe(e3).n_members, 1);
	cr_expect_str_eq(observe(e2).election, "svc");

	/* a fresh record: vacant, term 0, no token yet, transitions 0 */
	struct shmelect_election *f = open_election(s, "fresh", SHMELECT_ELECTION_CREATE);
	struct shmelect_record rec = observe(f);
	cr_expect_str_eq(rec.election, "fresh");
	cr_expect_eq(rec.has_holder, 0);
	cr_expect_eq(rec.expired, 0);
	cr_expect_eq(rec.term, 0);
	cr_expect_eq(rec.transitions, 0);
	cr_expect_eq(rec.token, 0);
	cr_expect_eq(rec.n_members, 0);
	cr_expect_gt(rec.observed_ns, 0);

	shmelect_candidate_leave(c);
	cr_expect_null(shmelect_election_close(f));
	cr_expect_null(shmelect_election_close(e3));
	cr_expect_null(shmelect_election_close(e2));
	cr_expect_null(shmelect_election_close(e1));
	cr_expect_null(shmelect_election_close(NULL));
	cr_expect_null(shmelect_election_name(NULL));
	shmelect_segment_close(s);
}

Test(election, missing_without_create)
{
	const char *name = shm_name("missing");
	struct shmelect_segment *s = open_seg(name, SHMELECT_SEGMENT_CREATE, 8, 4), *ro;
	struct shmelect_election *e = NULL;

	cr_expect_eq(shmelect_election_open(s, "nope", 0, &e), -ENOENT);
	struct shmelect_election *other = open_election(s, "other", SHMELECT_ELECTION_CREATE);
	cr_expect_eq(shmelect_election_open(s, "nope", 0, &e), -ENOENT);
	ro = open_seg(name, SHMELECT_SEGMENT_RDONLY, 0, 0);
	cr_expect_eq(shmelect_election_open(ro, "nope", 0, &e), -ENOENT);
	cr_expect_null(e);
	shmelect_election_close(other);
	shmelect_segment_close(ro);
	shmelect_segment_close(s);
}

Test(election, names)
{
	struct shmelect_segment *s = new_seg("names", 8, 4);
	struct shmelect_election *e = NULL, *e2 = NULL;
	char n63[SHMELECT_NAME_MAX + 1], n63b[SHMELECT_NAME_MAX + 1], n64[SHMELECT_NAME_MAX + 2];

	memset(n63, 'a', SHMELECT_NAME_MAX);
	n63[SHMELECT_NAME_MAX] = 0;
	memcpy(n63b, n63, sizeof(n63));
	n63b[SHMELECT_NAME_MAX - 1] = 'b';
	memset(n64, 'a', SHMELECT_NAME_MAX + 1);
	n64[SHMELECT_NAME_MAX + 1] = 0;

	cr_expect_eq(shmelect_election_open(s, n63, SHMELECT_ELECTION_CREATE, &e), 0, "63 bytes is fine");
	cr_expect_str_eq(shmelect_election_name(e), n63);
	cr_expect_str_eq(observe(e).election, n63);
	cr_expect_eq(shmelect_election_open(s, n63b, SHMELECT_ELECTION_CREATE, &e2), 0);
	cr_expect_eq(shmelect_segment_list(s, NULL, 0), 2, "names differing in the last byte are distinct");
	char names[2][SHMELECT_NAME_MAX + 1];
	cr_assert_eq(shmelect_segment_list(s, names, 2), 2);
	cr_expect(!strcmp(names[0], n63) || !strcmp(names[1], n63));
	shmelect_election_close(e2);
	e2 = NULL;

	cr_expect_eq(shmelect_election_open(s, n64, SHMELECT_ELECTION_CREATE, &e2), -ENAMETOOLONG);
	cr_expect_eq(shmelect_election_open(s, n64, 0, &e2), -ENAMETOOLONG);
	cr_expect_eq(shmelect_election_open(s, "", SHMELECT_ELECTION_CREATE, &e2), -EINVAL);
	cr_expect_eq(shmelect_election_open(s, NULL, SHMELECT_ELECTION_CREATE, &e2), -EINVAL);
	cr_expect_eq(shmelect_election_open(s, "x", 1u << 5, &e2), -EINVAL);
	cr_expect_eq(shmelect_election_open(NULL, "x", SHMELECT_ELECTION_CREATE, &e2), -EINVAL);
	cr_expect_eq(shmelect_election_open(s, "x", SHMELECT_ELECTION_CREATE, NULL), -EINVAL);
	cr_expect_null(e2);
	cr_expect_eq(shmelect_segment_list(s, NULL, 0), 2, "failed opens created nothing");

	shmelect_election_close(e);
	shmelect_segment_close(s);
}

Test(election, table_full)
{
	struct shmelect_segment *s = new_seg("full", 4, 2);
	struct shmelect_election *e[4], *x = NULL;
	char name[16];

	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		e[i] = open_election(s, name, SHMELECT_ELECTION_CREATE);
	}
	cr_expect_eq(shmelect_election_open(s, "fifth", SHMELECT_ELECTION_CREATE, &x), -ENOSPC);
	cr_expect_eq(shmelect_election_open(s, "fifth", 0, &x), -ENOENT);
	cr_expect_null(x);
	cr_expect_eq(shmelect_segment_list(s, NULL, 0), 4);

	/* the existing ones still open, each to its own record */
	for (int i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		x = open_election(s, name, SHMELECT_ELECTION_CREATE);
		cr_expect_str_eq(observe(x).election, name);
		shmelect_election_close(x);
	}
	struct shmelect_candidate *c = join(e[2], "only-in-e2", LONG_LEASE);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(observe(e[i]).n_members, i == 2 ? 1 : 0, "election e%d", i);
	shmelect_candidate_leave(c);

	for (int i = 0; i < 4; i++)
		shmelect_election_close(e[i]);
	shmelect_segment_close(s);
}

/* Many names in one table (open addressing with collisions): each name
 * finds its own record again, and records are independent. */
Test(election, many_names_independent)
{
	struct shmelect_segment *s = new_seg("many", 64, 1);
	struct shmelect_election *e[64];
	struct shmelect_candidate *c[64];
	char name[32];
	uint64_t tok;

	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "election-%d", i);
		e[i] = open_election(s, name, SHMELECT_ELECTION_CREATE);
	}
	cr_expect_eq(shmelect_segment_list(s, NULL, 0), 64);
	/* lead every other one, in its own election */
	for (int i = 0; i < 64; i++) {
		c[i] = join(e[i], "me", LONG_LEASE); /* one identity in each */
		if (i % 2 == 0)
			cr_expect_eq(shmelect_candidate_try_acquire(c[i], &tok), 1);
	}
	for (int i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "election-%d", i);
		struct shmelect_election *x = open_election(s, name, 0);
		struct shmelect_record rec = observe(x);
		cr_expect_str_eq(rec.election, name);
		cr_expect_eq(rec.has_holder, i % 2 == 0, "%s", name);
		cr_expect_eq(rec.n_members, 1);
		shmelect_election_close(x);
	}
	for (int i = 0; i < 64; i++) {
		shmelect_candidate_leave(c[i]);
		shmelect_election_close(e[i]);
	}
	shmelect_segment_close(s);
}

Test(election, create_on_rdonly_segment)
{
	const char *name = shm_name("rdonly");
	struct shmelect_segment *rw = open_seg(name, SHMELECT_SEGMENT_CREATE, 8, 2);
	struct shmelect_segment *ro = open_seg(name, SHMELECT_SEGMENT_RDONLY, 0, 0);
	struct shmelect_election *e = open_election(rw, "svc", SHMELECT_ELECTION_CREATE), *x = NULL;

	cr_expect_eq(shmelect_election_open(ro, "new", SHMELECT_ELECTION_CREATE, &x), -EROFS);
	cr_expect_eq(shmelect_election_open(ro, "svc", SHMELECT_ELECTION_CREATE, &x), -EROFS);
	cr_expect_null(x);
	cr_expect_eq(shmelect_segment_list(rw, NULL, 0), 1);
	x = open_election(ro, "svc", 0);
	shmelect_election_close(x);
	shmelect_election_close(e);
	shmelect_segment_close(ro);
	shmelect_segment_close(rw);
}

Test(election, observe_rdonly_while_held)
{
	const char *name = shm_name("observe");
	struct shmelect_segment *rw = open_seg(name, SHMELECT_SEGMENT_CREATE, 8, 4);
	struct shmelect_election *e = open_election(rw, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_candidate *a, *b;
	struct shmelect_segment *ro;
	struct shmelect_election *oe;
	struct shmelect_record rec;
	struct shmelect_member m[4];
	uint64_t tok, t0, t1, expiry;
	int n;

	a = join(e, "alice", LONG_LEASE);
	b = join(e, "bob", 2 * LONG_LEASE);
	/* a few terms first, so that term and transitions are not trivially 1 */
	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok), 1);
	cr_assert_eq(shmelect_candidate_resign(b), 1);
	t0 = shmelect_now_ns();
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	t1 = shmelect_now_ns();
	cr_assert_eq(shmelect_candidate_renew(a), 1);
	cr_assert_eq(shmelect_candidate_leadership(a, NULL, &expiry), 1);

	ro = open_seg(name, SHMELECT_SEGMENT_RDONLY, 0, 0);
	oe = open_election(ro, "svc", 0);
	memset(m, 0xa5, sizeof(m));
	n = shmelect_election_observe(oe, &rec, m, 4);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(rec.election, "svc");
	cr_expect_eq(rec.has_holder, 1);
	cr_expect_eq(rec.expired, 0);
	cr_expect_str_eq(rec.holder, "alice");
	cr_expect_eq(rec.holder_pid, getpid());
	cr_expect_eq(rec.token, tok);
	cr_expect_eq(rec.term, 2);
	cr_expect_eq(rec.transitions, 2);
	cr_expect_eq(rec.lease_ns, LONG_LEASE, "the holder's lease duration");
	cr_expect_eq(rec.expiry_ns, expiry);
	cr_expect_eq(rec.renew_ns, rec.expiry_ns - rec.lease_ns);
	cr_expect(rec.acquire_ns >= t0 && rec.acquire_ns <= t1, "acquire_ns %" PRIu64 " not in [%" PRIu64 ", %" PRIu64 "]",
		  rec.acquire_ns, t0, t1);
	cr_expect_leq(rec.acquire_ns, rec.renew_ns);
	cr_expect_leq(rec.renew_ns, rec.observed_ns);
	cr_expect_lt(rec.observed_ns, rec.expiry_ns);
	cr_expect_eq(rec.n_members, 2);

	int seen_a = 0, seen_b = 0;
	for (int i = 0; i < n; i++) {
		cr_expect_eq(m[i].pid, getpid());
		cr_expect_lt(m[i].slot, 4);
		cr_expect_leq(m[i].joined_ns, rec.observed_ns);
		if (!strcmp(m[i].identity, "alice")) {
			seen_a++;
			cr_expect_eq(m[i].is_holder, 1);
			cr_expect_eq(m[i].lease_ns, LONG_LEASE);
			cr_expect_eq(m[i].slot, rec.holder_slot);
		} else if (!strcmp(m[i].identity, "bob")) {
			seen_b++;
			cr_expect_eq(m[i].is_holder, 0);
			cr_expect_eq(m[i].lease_ns, 2 * LONG_LEASE);
			cr_expect_neq(m[i].slot, rec.holder_slot);
		} else
			cr_expect_fail("unknown member %s", m[i].identity);
	}
	cr_expect_eq(seen_a, 1);
	cr_expect_eq(seen_b, 1);

	/* the same through the read-write handle */
	struct shmelect_record rec2 = observe(e);
	cr_expect_str_eq(rec2.holder, rec.holder);
	cr_expect_eq(rec2.token, rec.token);
	cr_expect_eq(rec2.term, rec.term);
	cr_expect_eq(rec2.acquire_ns, rec.acquire_ns);

	/* after the holder resigns: vacant, term and token of the last term kept */
	cr_assert_eq(shmelect_candidate_resign(a), 1);
	n = shmelect_election_observe(oe, &rec, m, 4);
	cr_expect_eq(n, 2);
	cr_expect_eq(rec.has_holder, 0);
	cr_expect_eq(rec.term, 2);
	cr_expect_eq(rec.token, tok);
	for (int i = 0; i < n; i++)
		cr_expect_eq(m[i].is_holder, 0);

	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	cr_expect_eq(observe(oe).n_members, 0);
	shmelect_election_close(oe);
	shmelect_election_close(e);
	shmelect_segment_close(ro);
	shmelect_segment_close(rw);
}

Test(election, observe_expired_lease)
{
	struct shmelect_segment *s = new_seg("expired", 4, 2);
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_candidate *a = join(e, "a", SHORT_LEASE);
	uint64_t tok;

	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	outlive(SHORT_LEASE);
	struct shmelect_record rec = observe(e);
	cr_expect_eq(rec.has_holder, 1, "expired but not taken: the holder is still recorded");
	cr_expect_eq(rec.expired, 1);
	cr_expect_str_eq(rec.holder, "a");
	cr_expect_eq(rec.token, tok);
	cr_expect_leq(rec.expiry_ns, rec.observed_ns);
	shmelect_candidate_leave(a);
	shmelect_election_close(e);
	shmelect_segment_close(s);
}

Test(election, observe_fewer_slots_than_members)
{
	struct shmelect_segment *s = new_seg("truncated", 4, 8);
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_candidate *c[3];
	struct shmelect_record rec;
	struct shmelect_member m[3];
	char id[8];
	int n;

	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		c[i] = join(e, id, LONG_LEASE);
	}
	memset(m, 0x5a, sizeof(m));
	n = shmelect_election_observe(e, &rec, m, 1);
	cr_expect_eq(n, 3, "the full count");
	cr_expect_eq(rec.n_members, 3);
	cr_expect_eq(m[0].identity[0], 'm');
	cr_expect_eq(((unsigned char *)&m[1])[0], 0x5a, "wrote beyond n");
	n = shmelect_election_observe(e, &rec, NULL, 0);
	cr_expect_eq(n, 3);

	cr_expect_eq(shmelect_election_observe(NULL, &rec, NULL, 0), -EINVAL);
	cr_expect_eq(shmelect_election_observe(e, NULL, NULL, 0), -EINVAL);
	cr_expect_eq(shmelect_election_observe(e, &rec, NULL, 1), -EINVAL);

	for (int i = 0; i < 3; i++)
		shmelect_candidate_leave(c[i]);
	shmelect_election_close(e);
	shmelect_segment_close(s);
}

Test(election, evict)
{
	struct shmelect_segment *s = new_seg("evict", 4, 4);
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_candidate *a = join(e, "a", LONG_LEASE), *b = join(e, "b", LONG_LEASE);
	struct shmelect_record before, after;
	uint64_t tok_a, tok;

	cr_expect_eq(shmelect_election_evict(e), 0, "nothing to evict");
	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok_a), 1);
	before = observe(e);

	cr_expect_eq(shmelect_election_evict(e), 1);
	after = observe(e);
	cr_expect_eq(after.has_holder, 0, "vacant at once");
	cr_expect_eq(after.term, before.term);
	cr_expect_eq(after.transitions, before.transitions);
	cr_expect_eq(after.n_members, 2, "eviction ends the term, not the membership");
	cr_expect_eq(shmelect_election_evict(e), 0, "already vacant");

	/* the evicted holder learns it */
	cr_expect_eq(shmelect_candidate_is_leader(a), 0);
	cr_expect_eq(shmelect_candidate_renew(a), 0);
	cr_expect_eq(shmelect_candidate_resign(a), 0);

	/* the next acquisition, by anyone, is a new term with a larger token */
	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok), 1, "no waiting for the evicted lease");
	cr_expect_gt(tok, tok_a);
	after = observe(e);
	cr_expect_eq(after.term, before.term + 1);
	cr_expect_eq(after.transitions, before.transitions + 1);
	cr_expect_str_eq(after.holder, "b");

	/* evicting b and re-acquiring by b is again a new term */
	cr_expect_eq(shmelect_election_evict(e), 1);
	uint64_t tok2;
	cr_assert_eq(shmelect_candidate_try_acquire(b, &tok2), 1);
	cr_expect_gt(tok2, tok);
	cr_expect_eq(observe(e).term, before.term + 2);

	/* an expired holder can be evicted too */
	struct shmelect_candidate *c = join(e, "c", SHORT_LEASE);
	cr_assert_eq(shmelect_candidate_resign(b), 1);
	cr_assert_eq(shmelect_candidate_try_acquire(c, &tok), 1);
	outlive(SHORT_LEASE);
	cr_expect_eq(shmelect_election_evict(e), 1);
	cr_expect_eq(observe(e).has_holder, 0);

	cr_expect_eq(shmelect_election_evict(NULL), -EINVAL);
	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	shmelect_candidate_leave(c);
	shmelect_election_close(e);
	shmelect_segment_close(s);
}

Test(election, evict_rdonly)
{
	const char *name = shm_name("evict-ro");
	struct shmelect_segment *rw = open_seg(name, SHMELECT_SEGMENT_CREATE, 4, 2);
	struct shmelect_election *e = open_election(rw, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_candidate *a = join(e, "a", LONG_LEASE);
	struct shmelect_segment *ro = open_seg(name, SHMELECT_SEGMENT_RDONLY, 0, 0);
	struct shmelect_election *oe = open_election(ro, "svc", 0);
	uint64_t tok;

	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	cr_expect_eq(shmelect_election_evict(oe), -EROFS);
	cr_expect_eq(shmelect_candidate_is_leader(a), 1, "a refused evict changed nothing");
	cr_expect_eq(observe(oe).has_holder, 1);

	shmelect_candidate_leave(a);
	shmelect_election_close(oe);
	shmelect_election_close(e);
	shmelect_segment_close(ro);
	shmelect_segment_close(rw);
}

Test(election, election_fence)
{
	const char *name = shm_name("fence");
	struct shmelect_segment *rw = open_seg(name, SHMELECT_SEGMENT_CREATE, 4, 2);
	struct shmelect_election *e = open_election(rw, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_election *other = open_election(rw, "other", SHMELECT_ELECTION_CREATE);
	struct shmelect_segment *ro = open_seg(name, SHMELECT_SEGMENT_RDONLY, 0, 0);
	struct shmelect_election *oe = open_election(ro, "svc", 0);
	struct shmelect_fence *f = NULL, *g = NULL;

	cr_assert_eq(shmelect_election_fence(e, &f), 0);
	cr_assert_not_null(f);
	cr_expect_eq(shmelect_fence_highest(f), 0, "a new election's fence is empty");
	cr_expect_eq(shmelect_fence_check(f, 7), 1);
	cr_expect_eq(shmelect_fence_check(f, 6), 0);
	cr_expect_eq(shmelect_fence_highest(f), 7);

	/* each election has its own */
	cr_assert_eq(shmelect_election_fence(other, &g), 0);
	cr_expect_neq(f, g);
	cr_expect_eq(shmelect_fence_highest(g), 0);

	struct shmelect_fence *h = NULL;
	cr_expect_eq(shmelect_election_fence(oe, &h), -EROFS);
	cr_expect_null(h);
	cr_expect_eq(shmelect_election_fence(NULL, &h), -EINVAL);
	cr_expect_eq(shmelect_election_fence(e, NULL), -EINVAL);

	shmelect_election_close(oe);
	shmelect_election_close(other);
	shmelect_election_close(e);
	shmelect_segment_close(ro);
	shmelect_segment_close(rw);
}

/* Invariant 8: a holder index out of range in the lease word is an error,
 * never an out-of-bounds slot access. */
static void corrupt_holder(struct shmelect_election *e, uint32_t holder)
{
	struct lease l = lease_read(&e->rec->lease);
	struct lease bad = { lease_lo(lease_term(l.lo), holder), l.hi };

	cr_assert(lease_cas(&e->rec->lease, l, bad));
}

Test(election, corrupt_holder_index)
{
	const char *name = shm_name("corrupt");
	const uint32_t maxc = 3;
	struct shmelect_segment *s = open_seg(name, SHMELECT_SEGMENT_CREATE, 4, maxc);
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_candidate *a = join(e, "a", LONG_LEASE), *b = join(e, "b", LONG_LEASE);
	struct shmelect_segment *ro = open_seg(name, SHMELECT_SEGMENT_RDONLY, 0, 0);
	struct shmelect_election *oe = open_election(ro, "svc", 0);
	struct shmelect_record rec;
	struct shmelect_member m[4];
	uint64_t tok = 0;
	const uint32_t bad_holders[] = { maxc + 1, maxc + 2, 1000, (uint32_t)LEASE_HOLDER_MASK };

	cr_assert_eq(shmelect_candidate_try_acquire(a, &tok), 1);
	for (size_t i = 0; i < sizeof(bad_holders) / sizeof(bad_holders[0]); i++) {
		uint32_t hold = bad_holders[i];

		corrupt_holder(e, hold);
		cr_expect_eq(shmelect_election_observe(e, &rec, m, 4), -EBADMSG, "holder %u", hold);
		cr_expect_eq(shmelect_election_observe(oe, &rec, m, 4), -EBADMSG, "holder %u (read-only)", hold);
		cr_expect_eq(shmelect_candidate_try_acquire(b, &tok), -EBADMSG, "holder %u", hold);
		cr_expect_eq(shmelect_candidate_try_acquire(a, &tok), -EBADMSG, "holder %u", hold);
		cr_expect_eq(shmelect_election_evict(e), -EBADMSG, "holder %u", hold);
		/* no crash, and nobody leads */
		cr_expect_eq(shmelect_candidate_renew(a), 0);
		cr_expect_eq(shmelect_candidate_is_leader(a), 0);
		cr_expect_eq(shmelect_candidate_is_leader(b), 0);
		cr_expect_eq(shmelect_candidate_resign(b), 0);
	}
	/* the largest legal holder (slot max-1) is fine: a vacant slot's
	 * identity is empty, nothing read out of bounds */
	corrupt_holder(e, maxc);
	cr_expect_geq(shmelect_election_observe(e, &rec, m, 4), 0);

	shmelect_candidate_leave(a);
	shmelect_candidate_leave(b);
	shmelect_election_close(oe);
	shmelect_election_close(e);
	shmelect_segment_close(ro);
	shmelect_segment_close(s);
}

/*
 * Hazard "creation races": a creator that died half-way (its claim word
 * still says CLAIMING, with its pid) does not block the name for ever: the
 * next creator of that name takes the record over and finishes it.
 */
static int exit_at_once(void *arg)
{
	(void)arg;
	return 0;
}

Test(election, creator_died_half_way, .timeout = 10)
{
	const uint32_t max = 8;
	struct shmelect_segment *s = new_seg("dead-creator", max, 2);
	struct shmelect_election *e = NULL;
	struct shm_election *rec;
	uint64_t pidns = 0, w;
	uint32_t hash = name_hash("svc");
	pid_t dead;

	/* a pid that is provably gone */
	dead = spawn(exit_at_once, NULL);
	cr_assert_eq(reap(dead), 0);
	if (kill(dead, 0) == 0)
		cr_skip_test("pid %d was reused at once", (int)dead);
	cr_assert_eq(self_pidns(&pidns), 0);

	/* the record "svc" hashes to, left CLAIMING by the dead creator */
	rec = seg_election(s->base, s->election_size, hash % max);
	w = ((uint64_t)hash & CLAIM_FIELD_MASK) << CLAIM_HASH_SHIFT |
	    (pidns & CLAIM_FIELD_MASK) << CLAIM_PIDNS_SHIFT |
	    ((uint64_t)dead & SLOT_PID_MASK) << SLOT_PID_SHIFT | SLOT_CLAIMING;
	__atomic_store_n(&rec->claim, w, __ATOMIC_RELEASE);

	cr_assert_eq(shmelect_election_open(s, "svc", SHMELECT_ELECTION_CREATE, &e), 0,
		     "a dead creator's claim blocks the name");
	cr_expect_str_eq(observe(e).election, "svc");
	cr_expect_eq(shmelect_segment_list(s, NULL, 0), 1);
	struct shmelect_candidate *c = join(e, "a", LONG_LEASE);
	uint64_t tok;
	cr_expect_eq(shmelect_candidate_try_acquire(c, &tok), 1);
	cr_expect_gt(tok, 0);
	shmelect_candidate_leave(c);

	/* and it is found again by name */
	struct shmelect_election *e2 = open_election(s, "svc", 0);
	shmelect_election_close(e2);
	shmelect_election_close(e);
	shmelect_segment_close(s);
}

/* Handles keep what they need alive: closing the segment first is fine. */
Test(election, outlives_segment_handle)
{
	struct shmelect_segment *s = new_seg("refs", 4, 2);
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_candidate *c = join(e, "a", LONG_LEASE);
	uint64_t tok;

	shmelect_segment_close(s);
	cr_expect_eq(observe(e).n_members, 1);
	shmelect_election_close(e);
	cr_expect_eq(shmelect_candidate_try_acquire(c, &tok), 1);
	cr_expect_eq(shmelect_candidate_is_leader(c), 1);
	cr_expect_null(shmelect_candidate_leave(c));
}
