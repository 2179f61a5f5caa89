/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Direct mode: answer the protocol's requests from the segment itself,
 * through the library, with the daemon's response shapes.  Readers map the
 * segment read-only (invariant 7: they need no write access); handover,
 * resign and evict map it read-write and so need write permission on the
 * segment file.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmelect.h>

#include "ctl.h"

void ctl_segment_file(const struct ctl *c, char *buf, size_t size)
{
	if (c->segment_is_path)
		snprintf(buf, size, "%s", c->segment);
	else
		snprintf(buf, size, "/dev/shm/%s", c->segment + (c->segment[0] == '/'));
}

void direct_segment_error(struct ctl *c, int r, bool write, struct ctl_error *e)
{
	char file[4200];

	ctl_segment_file(c, file, sizeof(file));
	switch (-r) {
	case ENOENT:
		ctl_error_set(e, ENOENT,
			      "segment '%s' does not exist (%s): is shmelectd running? It creates the "
			      "segment, and so does 'shmelectctl run' (or use --segment NAME)",
			      c->segment, file);
		break;
	case EACCES:
	case EPERM:
		if (write)
			ctl_error_set(e, -r,
				      "permission denied opening segment '%s' (%s) for writing: this needs "
				      "root or the segment's owner, or go through shmelectd (--daemon)",
				      c->segment, file);
		else
			ctl_error_set(e, -r,
				      "permission denied reading segment '%s' (%s): this needs read "
				      "permission on the file, or go through shmelectd (--daemon)",
				      c->segment, file);
		break;
	case EPROTO:
		ctl_error_set(e, EPROTO, "'%s' (%s) is not a shmelect segment", c->segment, file);
		break;
	case EPROTONOSUPPORT:
		ctl_error_set(e, EPROTONOSUPPORT,
			      "segment '%s' (%s) has a layout version this shmelectctl does not know",
			      c->segment, file);
		break;
	case EBADMSG:
		ctl_error_set(e, EBADMSG, "segment '%s' (%s) is truncated, corrupt or not yet initialised",
			      c->segment, file);
		break;
	case EINVAL:
	case ENAMETOOLONG:
		ctl_error_set(e, -r, "invalid segment name '%s'%s", c->segment,
			      c->segment_is_path ? "" : " (a POSIX shm name: no '/' after the first character)");
		break;
	default:
		ctl_error_set(e, -r, "cannot open segment '%s' (%s): %s", c->segment, file, strerror(-r));
	}
}

static int open_segment(struct ctl *c, bool write, struct shmelect_segment **ret, struct ctl_error *e)
{
	unsigned flags = (c->segment_is_path ? SHMELECT_SEGMENT_PATH : 0) |
			 (write ? 0 : SHMELECT_SEGMENT_RDONLY);
	int r = shmelect_segment_open(c->segment, flags, NULL, ret);

	if (r < 0)
		direct_segment_error(c, r, write, e);
	return r;
}

static int open_election(struct ctl *c, struct shmelect_segment *seg, const char *name,
			 struct shmelect_election **ret, struct ctl_error *e)
{
	int r;

	if (!name) {
		ctl_error_set(e, EINVAL, "this verb needs an election name");
		return -EINVAL;
	}
	r = shmelect_election_open(seg, name, 0, ret);
	if (r == -ENOENT)
		ctl_error_set(e, ENOENT, "no election '%s' in segment '%s'", name, c->segment);
	else if (r == -EINVAL || r == -ENAMETOOLONG)
		ctl_error_set(e, -r, "invalid election name '%s' (1 to %d bytes)", name, SHMELECT_NAME_MAX);
	else if (r < 0)
		ctl_error_set(e, -r, "cannot open election '%s' in segment '%s': %s", name, c->segment,
			      strerror(-r));
	return r;
}

static json_object *str_or_null(const char *s)
{
	return s && *s ? json_object_new_string(s) : NULL;
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

/* The fields "list" and "status" share, from a record. */
static void record_common(json_object *o, const struct ctl *c, const struct shmelect_record *rec)
{
	json_object_object_add(o, "segment", json_object_new_string(c->segment));
	json_object_object_add(o, "election", json_object_new_string(rec->election));
	json_object_object_add(o, "has_holder", json_object_new_boolean(rec->has_holder));
	json_object_object_add(o, "holder", rec->has_holder ? json_object_new_string(rec->holder) : NULL);
	json_object_object_add(o, "holder_pid",
			       rec->has_holder ? json_object_new_int64(rec->holder_pid) : NULL);
}

static int observe_all(struct shmelect_segment *seg, struct shmelect_election *el,
		       struct shmelect_record *rec, struct shmelect_member **ret_members)
{
	struct shmelect_segment_info info;
	struct shmelect_member *m;
	int r;

	r = shmelect_segment_info(seg, &info);
	if (r < 0)
		return r;
	m = calloc(info.max_candidates ? info.max_candidates : 1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	r = shmelect_election_observe(el, rec, m, info.max_candidates);
	if (r < 0) {
		free(m);
		return r;
	}
	if ((uint32_t)r > info.max_candidates)
		r = (int)info.max_candidates;
	*ret_members = m;
	return r;
}

static json_object *status_object(const struct ctl *c, const struct shmelect_record *rec,
				  const struct shmelect_member *m, int n)
{
	json_object *o = json_object_new_object(), *arr = json_object_new_array();

	record_common(o, c, rec);
	json_object_object_add(o, "holder_slot",
			       rec->has_holder ? json_object_new_int64(rec->holder_slot) : NULL);
	add_u64(o, "token", rec->token);
	add_u64(o, "term", rec->term);
	add_u64(o, "transitions", rec->transitions);
	add_u64(o, "acquire_ns", rec->acquire_ns);
	add_u64(o, "renew_ns", rec->renew_ns);
	add_u64(o, "expiry_ns", rec->expiry_ns);
	add_u64(o, "lease_ns", rec->lease_ns);
	add_u64(o, "observed_ns", rec->observed_ns);
	json_object_object_add(o, "expired", json_object_new_boolean(rec->expired));
	add_u64(o, "locked_until_ns", rec->locked_until_ns);
	json_object_object_add(o, "advert", json_object_new_string(rec->has_holder ? rec->advert : ""));
	for (int i = 0; i < n; i++) {
		json_object *mo = json_object_new_object();

		json_object_object_add(mo, "identity", json_object_new_string(m[i].identity));
		json_object_object_add(mo, "pid", json_object_new_int64(m[i].pid));
		json_object_object_add(mo, "slot", json_object_new_int64(m[i].slot));
		add_u64(mo, "lease_ns", m[i].lease_ns);
		add_u64(mo, "joined_ns", m[i].joined_ns);
		json_object_object_add(mo, "priority", json_object_new_int(m[i].priority));
		json_object_object_add(mo, "is_holder", json_object_new_boolean(m[i].is_holder));
		json_object_array_add(arr, mo);
	}
	json_object_object_add(o, "members", arr);
	return o;
}

static json_object *ok_response(json_object *req)
{
	json_object *resp = json_object_new_object(), *id;

	if (json_object_object_get_ex(req, "id", &id))
		json_object_object_add(resp, "id", json_object_get(id));
	json_object_object_add(resp, "ok", json_object_new_boolean(1));
	return resp;
}

static int do_list(struct ctl *c, json_object *resp, struct ctl_error *e)
{
	struct shmelect_segment *seg;
	char (*names)[SHMELECT_NAME_MAX + 1] = NULL;
	json_object *arr;
	int n, r;

	r = open_segment(c, false, &seg, e);
	if (r < 0)
		return r;
	for (size_t cap = 64;; cap *= 2) {
		free(names);
		names = calloc(cap, sizeof(*names));
		if (!names) {
			r = -ENOMEM;
			goto out;
		}
		n = shmelect_segment_list(seg, names, cap);
		if (n < 0) {
			r = n;
			goto out;
		}
		if ((size_t)n <= cap)
			break;
	}
	arr = json_object_new_array();
	json_object_object_add(resp, "elections", arr);
	for (int i = 0; i < n; i++) {
		struct shmelect_election *el;
		struct shmelect_record rec;
		json_object *o;

		if (shmelect_election_open(seg, names[i], 0, &el) < 0)
			continue; /* being created or gone */
		r = shmelect_election_observe(el, &rec, NULL, 0);
		shmelect_election_close(el);
		if (r < 0)
			continue;
		o = json_object_new_object();
		record_common(o, c, &rec);
		add_u64(o, "token", rec.token);
		add_u64(o, "term", rec.term);
		add_u64(o, "transitions", rec.transitions);
		json_object_object_add(o, "expired", json_object_new_boolean(rec.expired));
		json_object_object_add(o, "members", json_object_new_int64(rec.n_members));
		json_object_array_add(arr, o);
	}
	r = 0;
out:
	if (r < 0)
		ctl_error_set(e, -r, "cannot list segment '%s': %s", c->segment, strerror(-r));
	free(names);
	shmelect_segment_close(seg);
	return r;
}

static int do_status(struct ctl *c, const char *name, json_object *resp, struct ctl_error *e)
{
	struct shmelect_segment *seg;
	struct shmelect_election *el = NULL;
	struct shmelect_member *m = NULL;
	struct shmelect_record rec;
	int r, n;

	r = open_segment(c, false, &seg, e);
	if (r < 0)
		return r;
	r = open_election(c, seg, name, &el, e);
	if (r < 0)
		goto out;
	n = observe_all(seg, el, &rec, &m);
	if (n < 0) {
		r = n;
		ctl_error_set(e, -r, "cannot read election '%s': %s", name, strerror(-r));
		goto out;
	}
	json_object_object_add(resp, "status", status_object(c, &rec, m, n));
	r = 0;
out:
	free(m);
	shmelect_election_close(el);
	shmelect_segment_close(seg);
	return r;
}

/* Is `who` the holder of a valid lease now? */
static bool holds(struct shmelect_election *el, const char *who)
{
	struct shmelect_record rec;

	return shmelect_election_observe(el, &rec, NULL, 0) >= 0 && rec.has_holder && !rec.expired &&
	       !strcmp(rec.holder, who);
}

static int do_write(struct ctl *c, const char *verb, json_object *req, json_object *resp,
		    struct ctl_error *e)
{
	struct shmelect_segment *seg;
	struct shmelect_election *el = NULL;
	const char *name = obj_str(req, "election");
	int r;

	r = open_segment(c, true, &seg, e);
	if (r < 0)
		return r;
	r = open_election(c, seg, name, &el, e);
	if (r < 0)
		goto out;

	if (!strcmp(verb, "evict")) {
		r = shmelect_election_evict(el);
		if (r >= 0)
			json_object_object_add(resp, "evicted", json_object_new_boolean(r == 1));
	} else if (!strcmp(verb, "resign")) {
		r = shmelect_election_handover(el, NULL, SHMELECT_HANDOVER_ANY);
	} else {
		const char *to = obj_str(req, "to");
		bool force = obj_bool(req, "force");
		struct shmelect_record rec;

		if (!to) {
			ctl_error_set(e, EINVAL, "handover needs the identity of a member (--to ID)");
			r = -EINVAL;
			goto out;
		}
		r = shmelect_election_handover(el, to, force ? SHMELECT_HANDOVER_FORCE : 0);
		if (r == -ESRCH) {
			ctl_error_set(e, ESRCH, "no member '%s' in election '%s'", to, name);
			goto out;
		}
		if (r >= 0 && !force) {
			/* A request: the holder's elector carries it out when the
			 * change wakes it.  Wait a little to say whether it did. */
			uint64_t seq = 0, deadline = shmelect_now_ns() + UINT64_C(2000000000);

			shmelect_election_wait(el, &seq, 0);
			while (!holds(el, to) && shmelect_now_ns() < deadline)
				shmelect_election_wait(el, &seq, 10000000);
		}
		if (r >= 0) {
			bool done = holds(el, to);
			json_object_object_add(resp, "done", json_object_new_boolean(done));
			if (done && shmelect_election_observe(el, &rec, NULL, 0) >= 0)
				add_u64(resp, "token", rec.token);
		}
	}
	if (r < 0 && !e->err)
		ctl_error_set(e, -r, "%s on election '%s' failed: %s", verb, name, strerror(-r));
	if (r > 0)
		r = 0;
out:
	shmelect_election_close(el);
	shmelect_segment_close(seg);
	return r;
}

int direct_call(struct ctl *c, json_object *req, json_object **ret, struct ctl_error *e)
{
	const char *verb = obj_str(req, "verb");
	json_object *resp = ok_response(req);
	int r;

	if (!verb) {
		r = -EINVAL;
		ctl_error_set(e, EINVAL, "no verb");
	} else if (!strcmp(verb, "version")) {
		json_object_object_add(resp, "version", json_object_new_string(PACKAGE_VERSION));
		json_object_object_add(resp, "protocol", json_object_new_int(CTL_PROTOCOL));
		r = 0;
	} else if (!strcmp(verb, "list")) {
		r = do_list(c, resp, e);
	} else if (!strcmp(verb, "status")) {
		r = do_status(c, obj_str(req, "election"), resp, e);
	} else if (!strcmp(verb, "handover") || !strcmp(verb, "resign") || !strcmp(verb, "evict")) {
		r = do_write(c, verb, req, resp, e);
	} else {
		r = -EOPNOTSUPP;
		ctl_error_set(e, EOPNOTSUPP, "verb '%s' needs shmelectd (--daemon)", verb);
	}
	if (r < 0) {
		json_object_put(resp);
		return r;
	}
	*ret = resp;
	return 0;
}

/* ------------------------------------------------------------------ */
/* watch: diff snapshots                                              */
/* ------------------------------------------------------------------ */

struct member_key {
	uint32_t slot;
	uint64_t joined_ns;
	char identity[SHMELECT_IDENTITY_MAX + 1];
};

struct watched {
	char name[SHMELECT_NAME_MAX + 1];
	struct shmelect_election *el;
	uint64_t leader_token;   /* token of the valid leader, 0: none */
	struct member_key *members;
	int n_members;
};

struct watch {
	struct ctl *c;
	struct shmelect_segment *seg;
	uint32_t max_candidates, max_elections;
	char (*names)[SHMELECT_NAME_MAX + 1];
	struct watched *w;
	size_t n, cap;
	uint64_t seq;
	ctl_event_fn fn;
	void *userdata;
	struct shmelect_member *buf;
};

static int emit(struct watch *W, const char *event, const struct shmelect_record *rec,
		const char *identity)
{
	json_object *o = json_object_new_object();
	bool leads = rec->has_holder && !rec->expired;
	int stop;

	json_object_object_add(o, "event", json_object_new_string(event));
	add_u64(o, "seq", ++W->seq);
	json_object_object_add(o, "segment", json_object_new_string(W->c->segment));
	json_object_object_add(o, "election", json_object_new_string(rec->election));
	json_object_object_add(o, "holder", leads ? json_object_new_string(rec->holder) : NULL);
	add_u64(o, "token", rec->token);
	add_u64(o, "term", rec->term);
	json_object_object_add(o, "identity", str_or_null(identity));
	add_u64(o, "time_ns", rec->observed_ns);
	stop = W->fn(o, W->userdata);
	json_object_put(o);
	return stop;
}

static bool member_in(const struct member_key *k, const struct member_key *set, int n)
{
	for (int i = 0; i < n; i++)
		if (set[i].slot == k->slot && set[i].joined_ns == k->joined_ns &&
		    !strcmp(set[i].identity, k->identity))
			return true;
	return false;
}

/*
 * Compare one election with what we saw last: joined, then leader or
 * no_leader, then left.  Returns the earliest expiry to wake for (or
 * UINT64_MAX), or stops (returns 0 and sets *stop).
 */
static uint64_t diff_one(struct watch *W, struct watched *w, bool quiet, int *stop)
{
	struct shmelect_record rec;
	struct member_key *keys;
	uint64_t token;
	int n;

	n = shmelect_election_observe(w->el, &rec, W->buf, W->max_candidates);
	if (n < 0)
		return UINT64_MAX;
	if ((uint32_t)n > W->max_candidates)
		n = (int)W->max_candidates;
	keys = calloc((size_t)n + 1, sizeof(*keys));
	if (!keys)
		return UINT64_MAX;
	for (int i = 0; i < n; i++) {
		keys[i].slot = W->buf[i].slot;
		keys[i].joined_ns = W->buf[i].joined_ns;
		snprintf(keys[i].identity, sizeof(keys[i].identity), "%s", W->buf[i].identity);
	}
	token = rec.has_holder && !rec.expired ? rec.token : 0;
	if (!quiet) {
		for (int i = 0; i < n && !*stop; i++)
			if (!member_in(&keys[i], w->members, w->n_members))
				*stop = emit(W, "joined", &rec, keys[i].identity);
		if (token != w->leader_token && !*stop)
			*stop = emit(W, token ? "leader" : "no_leader", &rec, NULL);
		for (int i = 0; i < w->n_members && !*stop; i++)
			if (!member_in(&w->members[i], keys, n))
				*stop = emit(W, "left", &rec, w->members[i].identity);
	}
	free(w->members);
	w->members = keys;
	w->n_members = n;
	w->leader_token = token;
	return token ? rec.expiry_ns : UINT64_MAX;
}

/* Segment-wide: pick up elections created since the last look. */
/* Watch the elections of the segment not watched yet (only the one named
 * `only`, if not NULL). */
static int add_new_elections(struct watch *W, const char *only)
{
	char (*names)[SHMELECT_NAME_MAX + 1] = W->names;
	int n;

	n = shmelect_segment_list(W->seg, names, W->max_elections);
	if (n < 0)
		return n;
	for (int i = 0; i < n && (uint32_t)i < W->max_elections; i++) {
		bool have = only && strcmp(only, names[i]);

		for (size_t j = 0; j < W->n && !have; j++)
			have = !strcmp(W->w[j].name, names[i]);
		if (have)
			continue;
		if (W->n == W->cap) {
			size_t cap = W->cap ? W->cap * 2 : 16;
			struct watched *nw = realloc(W->w, cap * sizeof(*nw));
			if (!nw)
				break;
			W->w = nw;
			W->cap = cap;
		}
		memset(&W->w[W->n], 0, sizeof(W->w[W->n]));
		if (shmelect_election_open(W->seg, names[i], 0, &W->w[W->n].el) < 0)
			continue;
		snprintf(W->w[W->n].name, sizeof(W->w[W->n].name), "%s", names[i]);
		W->n++;
	}
	return 0;
}

int direct_watch(struct ctl *c, const char *election, ctl_event_fn fn, void *userdata,
		 struct ctl_error *e)
{
	struct watch W = { .c = c, .fn = fn, .userdata = userdata };
	struct shmelect_segment_info info;
	uint64_t seq = 0;
	int r, stop = 0;
	bool first = true;

	r = open_segment(c, false, &W.seg, e);
	if (r < 0)
		return r;
	r = shmelect_segment_info(W.seg, &info);
	if (r < 0)
		goto out;
	W.max_candidates = info.max_candidates;
	W.max_elections = info.max_elections;
	W.buf = calloc(W.max_candidates, sizeof(*W.buf));
	W.names = calloc(W.max_elections, sizeof(*W.names));
	if (!W.buf || !W.names) {
		r = -ENOMEM;
		goto out;
	}
	if (election) {
		W.w = calloc(1, sizeof(*W.w));
		if (!W.w) {
			r = -ENOMEM;
			goto out;
		}
		W.cap = 1;
		r = open_election(c, W.seg, election, &W.w[0].el, e);
		if (r == -ENOENT) {
			/* not there yet: watched from when it appears, as
			 * shmelectd does */
			memset(e, 0, sizeof(*e));
		} else if (r < 0) {
			goto out;
		} else {
			snprintf(W.w[0].name, sizeof(W.w[0].name), "%s", election);
			W.n = 1;
		}
	}

	/* The state when we start is the baseline: only changes are events.
	 * Elections that appear later are diffed from nothing. */
	while (!ctl_interrupted && !stop) {
		uint64_t wake = UINT64_MAX, now, timeout;

		if (!election || W.n == 0)
			add_new_elections(&W, election);
		for (size_t i = 0; i < W.n && !stop; i++) {
			uint64_t x = diff_one(&W, &W.w[i], first, &stop);
			if (x < wake)
				wake = x;
		}
		if (first) {
			/* the baseline is taken: say so, as shmelectd does */
			json_object *h = json_object_new_object();

			json_object_object_add(h, "ok", json_object_new_boolean(1));
			json_object_object_add(h, "watching", str_or_null(election));
			add_u64(h, "seq", 0);
			stop = fn(h, userdata);
			json_object_put(h);
			first = false;
		}
		if (stop)
			break;
		/* Renewals do not signal a change, so wake at the earliest
		 * expiry to see whether it was renewed; and at least every
		 * 100 ms to notice an interrupt. */
		now = shmelect_now_ns();
		timeout = UINT64_C(100000000);
		if (wake != UINT64_MAX)
			timeout = wake > now ? (wake - now < timeout ? wake - now + 1 : timeout) : 0;
		r = election && W.n ? shmelect_election_wait(W.w[0].el, &seq, timeout)
				    : shmelect_segment_wait(W.seg, &seq, timeout);
		if (r < 0 && r != -EINTR) {
			ctl_error_set(e, -r, "waiting for changes failed: %s", strerror(-r));
			goto out;
		}
	}
	r = 0;
out:
	for (size_t i = 0; i < W.n; i++) {
		shmelect_election_close(W.w[i].el);
		free(W.w[i].members);
	}
	free(W.w);
	free(W.buf);
	free(W.names);
	shmelect_segment_close(W.seg);
	return r;
}
