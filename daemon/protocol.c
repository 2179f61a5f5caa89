/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The socket protocol, version 1: one JSON object per line each way.
 * See PROTOCOL in shmelectd(8), which is the reference for clients.
 *
 * Reads (version, list, status, watch, metrics) are open to anyone who
 * can connect; operator verbs (handover, resign, evict) need SO_PEERCRED
 * uid 0, the daemon's own uid, or membership of operator-group.
 *
 * Strings that come from a segment (identities, adverts, names) are
 * untrusted bytes: they are made valid UTF-8 before they go into JSON.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "shmelectd.h"

/* Keys are string literals, each added once to an object: json-c may then
 * skip copying the key and looking for a duplicate, which is about half of
 * what building a status reply costs. */
#define jadd(o, key, v) \
	json_object_object_add_ex((o), (key), (v), JSON_C_OBJECT_ADD_KEY_IS_NEW | JSON_C_OBJECT_KEY_IS_CONSTANT)

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define JSON_DEPTH 16

struct request {
	struct daemon *d;
	struct conn *conn;
	bool has_id;
	json_object *id;        /* borrowed from the request; NULL: JSON null */
	const char *segment;
	const char *election;   /* NULL: absent */
	const char *to;
	bool force;
};

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f))
			return 0; /* overlong, or a surrogate */
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

void utf8_sanitize(char *dst, size_t size, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0;

	if (!size)
		return;
	while (*s) {
		size_t n = utf8_seq(s);
		const char *put = (const char *)s;
		size_t len = n;

		if (n == 0) {
			put = "\xef\xbf\xbd"; /* U+FFFD */
			len = 3;
			n = 1;
		}
		if (o + len >= size)
			break;
		memcpy(dst + o, put, len);
		o += len;
		s += n;
	}
	dst[o] = 0;
}

static json_object *jstr(const char *s)
{
	char buf[4 * (SHMELECT_ADVERT_MAX + 1)];

	if (!s)
		return NULL; /* JSON null */
	utf8_sanitize(buf, sizeof(buf), s);
	return json_object_new_string(buf);
}

static json_object *ju64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static json_object *response_new(const struct request *rq)
{
	json_object *o = json_object_new_object();

	if (rq && rq->has_id)
		jadd(o, "id", json_object_get(rq->id));
	jadd(o, "ok", json_object_new_boolean(1));
	return o;
}

static void send_json(struct conn *c, json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_FLAGS, &len);

	conn_send(c, s, len, false);
	json_object_put(o);
}

static json_object *error_object(bool has_id, json_object *id, const char *name, int err,
				 const char *message)
{
	json_object *o = json_object_new_object();

	if (has_id)
		jadd(o, "id", json_object_get(id));
	jadd(o, "ok", json_object_new_boolean(0));
	jadd(o, "error", json_object_new_string(name));
	jadd(o, "errno", json_object_new_int(err));
	jadd(o, "message", jstr(message));
	return o;
}

char *protocol_error_line(const char *name, int err, const char *message)
{
	json_object *o = error_object(false, NULL, name, err, message);
	char *s = strdup(json_object_to_json_string_ext(o, JSON_FLAGS));

	json_object_put(o);
	return s;
}

static const char *errno_name(int err)
{
	switch (err) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EIO: return "EIO";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case EBADMSG: return "EBADMSG";
	case EOVERFLOW: return "EOVERFLOW";
	case EPROTO: return "EPROTO";
	case EMSGSIZE: return "EMSGSIZE";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EAGAIN: return "EAGAIN";
	case ESTALE: return "ESTALE";
	case EUSERS: return "EUSERS";
	case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
	default: return "EIO";
	}
}

static void reply_error(const struct request *rq, int err, const char *message)
{
	if (err < 0)
		err = -err;
	if (!message)
		message = strerror(err);
	/* an errno we have no name for is reported as EIO, consistently */
	if (!strcmp(errno_name(err), "EIO"))
		err = EIO;
	send_json(rq->conn, error_object(rq->has_id, rq->id, errno_name(err), err, message));
}

static bool is_operator(const struct daemon *d, const struct peer *p)
{
	if (p->uid == 0 || p->uid == d->uid)
		return true;
	if (!d->have_operator_gid)
		return false;
	if (p->gid == d->operator_gid)
		return true;
	for (size_t i = 0; i < p->n_groups; i++)
		if (p->groups[i] == d->operator_gid)
			return true;
	return false;
}

/* The segment a request names, or an error sent. */
static struct segment *req_segment(const struct request *rq)
{
	struct segment *s = daemon_find_segment(rq->d, rq->segment);

	if (!s)
		reply_error(rq, ENOENT, "no such segment");
	return s;
}

/*
 * The election a request names: the tracked handle, or (for an election
 * created since the last scan) a handle of our own in *ret_own, which the
 * caller closes.  NULL with an error sent.
 */
static struct shmelect_election *req_election(const struct request *rq, struct segment **ret_seg,
					      struct shmelect_election **ret_own)
{
	struct segment *s;
	struct tracked *t;
	int r;

	*ret_own = NULL;
	if (!rq->election) {
		reply_error(rq, EINVAL, "missing \"election\"");
		return NULL;
	}
	/* as in watch: not a name any election can have (the library would
	 * say ENAMETOOLONG, which is not an error of the protocol) */
	if (!*rq->election || strlen(rq->election) > SHMELECT_NAME_MAX) {
		reply_error(rq, EINVAL, "invalid \"election\"");
		return NULL;
	}
	s = req_segment(rq);
	if (!s)
		return NULL;
	*ret_seg = s;
	t = segment_find_election(s, rq->election);
	if (t)
		return t->e;
	r = shmelect_election_open(s->seg, rq->election, 0, ret_own);
	if (r < 0) {
		reply_error(rq, r, r == -ENOENT ? "no such election" : NULL);
		return NULL;
	}
	return *ret_own;
}

static void verb_version(const struct request *rq)
{
	json_object *o = response_new(rq);

	jadd(o, "version", json_object_new_string(PACKAGE_VERSION));
	jadd(o, "protocol", json_object_new_int(SHMELECTD_PROTOCOL));
	send_json(rq->conn, o);
}

static json_object *list_entry(const char *segment, const struct shmelect_record *rec)
{
	json_object *o = json_object_new_object();

	jadd(o, "segment", jstr(segment));
	jadd(o, "election", jstr(rec->election));
	jadd(o, "has_holder", json_object_new_boolean(rec->has_holder));
	jadd(o, "holder", rec->has_holder ? jstr(rec->holder) : NULL);
	json_object_object_add(o, "holder_pid",
			       rec->has_holder ? json_object_new_int(rec->holder_pid) : NULL);
	jadd(o, "token", ju64(rec->token));
	jadd(o, "term", ju64(rec->term));
	jadd(o, "transitions", ju64(rec->transitions));
	jadd(o, "expired", json_object_new_boolean(rec->expired));
	jadd(o, "members", json_object_new_int((int)rec->n_members));
	return o;
}

static void verb_list(const struct request *rq)
{
	json_object *o = response_new(rq), *arr = json_object_new_array();
	struct daemon *d = rq->d;

	for (size_t i = 0; i < d->n_segs; i++) {
		struct segment *s = d->segs[i];

		/* creating an election does not move the change word (only
		 * what happens in it does): look for new ones now */
		tracker_scan(s);
		for (size_t j = 0; j < s->n_els; j++) {
			struct shmelect_record rec;

			if (shmelect_election_observe(s->els[j]->e, &rec, NULL, 0) < 0)
				continue;
			json_object_array_add(arr, list_entry(s->conf.name, &rec));
		}
	}
	jadd(o, "elections", arr);
	send_json(rq->conn, o);
}

static void verb_status(const struct request *rq)
{
	struct shmelect_election *e, *own;
	struct shmelect_record rec;
	struct segment *s = NULL;
	json_object *o, *st, *members;
	int n;

	e = req_election(rq, &s, &own);
	if (!e)
		return;
	n = shmelect_election_observe(e, &rec, s->scratch, s->max_candidates);
	if (n < 0) {
		reply_error(rq, n, NULL);
		shmelect_election_close(own);
		return;
	}
	if ((uint32_t)n > s->max_candidates)
		n = (int)s->max_candidates;

	st = json_object_new_object();
	jadd(st, "segment", jstr(s->conf.name));
	jadd(st, "election", jstr(rec.election));
	jadd(st, "has_holder", json_object_new_boolean(rec.has_holder));
	jadd(st, "holder", rec.has_holder ? jstr(rec.holder) : NULL);
	jadd(st, "holder_pid", rec.has_holder ? json_object_new_int(rec.holder_pid) : NULL);
	json_object_object_add(st, "holder_slot",
			       rec.has_holder ? json_object_new_int((int)rec.holder_slot) : NULL);
	jadd(st, "token", ju64(rec.token));
	jadd(st, "term", ju64(rec.term));
	jadd(st, "transitions", ju64(rec.transitions));
	jadd(st, "acquire_ns", ju64(rec.acquire_ns));
	jadd(st, "renew_ns", ju64(rec.renew_ns));
	jadd(st, "expiry_ns", ju64(rec.expiry_ns));
	jadd(st, "lease_ns", ju64(rec.lease_ns));
	jadd(st, "observed_ns", ju64(rec.observed_ns));
	jadd(st, "expired", json_object_new_boolean(rec.expired));
	jadd(st, "locked_until_ns", ju64(rec.locked_until_ns));
	jadd(st, "advert", rec.has_holder ? jstr(rec.advert) : NULL);
	members = json_object_new_array();
	for (int i = 0; i < n; i++) {
		const struct shmelect_member *m = &s->scratch[i];
		json_object *mo = json_object_new_object();

		jadd(mo, "identity", jstr(m->identity));
		jadd(mo, "pid", json_object_new_int(m->pid));
		jadd(mo, "slot", json_object_new_int((int)m->slot));
		jadd(mo, "lease_ns", ju64(m->lease_ns));
		jadd(mo, "joined_ns", ju64(m->joined_ns));
		jadd(mo, "priority", json_object_new_int(m->priority));
		jadd(mo, "is_holder", json_object_new_boolean(m->is_holder));
		json_object_array_add(members, mo);
	}
	jadd(st, "members", members);
	o = response_new(rq);
	jadd(o, "status", st);
	send_json(rq->conn, o);
	shmelect_election_close(own);
}

static void verb_watch(const struct request *rq)
{
	struct sub *sub;
	json_object *o;

	if (!req_segment(rq))
		return;
	if (rq->election && (!*rq->election || strlen(rq->election) > SHMELECT_NAME_MAX)) {
		reply_error(rq, EINVAL, "invalid \"election\"");
		return;
	}
	sub = hub_subscribe(rq->d->hub, rq->conn, rq->segment, rq->election);
	if (!sub) {
		reply_error(rq, ENOMEM, NULL);
		return;
	}
	o = response_new(rq);
	jadd(o, "watching", rq->election ? jstr(rq->election) : NULL);
	jadd(o, "seq", json_object_new_int(0));
	send_json(rq->conn, o);
	/* from now on the connection carries events only */
	conn_set_sub(rq->conn, sub);
}

static void verb_metrics(const struct request *rq)
{
	char *text = metrics_render(rq->d);
	json_object *o;

	if (!text) {
		reply_error(rq, ENOMEM, NULL);
		return;
	}
	o = response_new(rq);
	jadd(o, "metrics", json_object_new_string(text));
	free(text);
	send_json(rq->conn, o);
}

static void verb_handover(const struct request *rq)
{
	struct shmelect_election *e, *own;
	struct segment *s;
	json_object *o;
	int r;

	if (!rq->to || !*rq->to) {
		reply_error(rq, EINVAL, "missing \"to\"");
		return;
	}
	if (strlen(rq->to) > SHMELECT_IDENTITY_MAX) {
		reply_error(rq, EINVAL, "invalid \"to\"");
		return;
	}
	e = req_election(rq, &s, &own);
	if (!e)
		return;
	r = shmelect_election_handover(e, rq->to, rq->force ? SHMELECT_HANDOVER_FORCE : 0);
	shmelect_election_close(own);
	if (r < 0) {
		reply_error(rq, r, r == -ESRCH ? "no such member" : NULL);
		return;
	}
	log_info("election %s/%s: handover to %s%s requested by uid %d", rq->segment, rq->election,
		 rq->to, rq->force ? " (forced)" : "", (int)conn_peer(rq->conn)->uid);
	o = response_new(rq);
	jadd(o, "done", json_object_new_boolean(r == 1));
	send_json(rq->conn, o);
}

static void verb_resign(const struct request *rq)
{
	struct shmelect_election *e, *own;
	struct segment *s;
	int r;

	e = req_election(rq, &s, &own);
	if (!e)
		return;
	r = shmelect_election_handover(e, NULL, SHMELECT_HANDOVER_ANY);
	shmelect_election_close(own);
	if (r < 0) {
		reply_error(rq, r, NULL);
		return;
	}
	log_info("election %s/%s: resignation requested by uid %d", rq->segment, rq->election,
		 (int)conn_peer(rq->conn)->uid);
	send_json(rq->conn, response_new(rq));
}

static void verb_evict(const struct request *rq)
{
	struct shmelect_election *e, *own;
	struct segment *s;
	json_object *o;
	int r;

	e = req_election(rq, &s, &own);
	if (!e)
		return;
	r = shmelect_election_evict(e);
	shmelect_election_close(own);
	if (r < 0) {
		reply_error(rq, r, NULL);
		return;
	}
	log_info("election %s/%s: eviction by uid %d: %s", rq->segment, rq->election,
		 (int)conn_peer(rq->conn)->uid, r ? "holder evicted" : "no holder");
	o = response_new(rq);
	jadd(o, "evicted", json_object_new_boolean(r == 1));
	send_json(rq->conn, o);
}

static const struct verb {
	const char *name;
	void (*fn)(const struct request *rq);
	bool operator;
} verbs[] = {
	{ "version", verb_version, false },
	{ "list", verb_list, false },
	{ "status", verb_status, false },
	{ "watch", verb_watch, false },
	{ "metrics", verb_metrics, false },
	{ "handover", verb_handover, true },
	{ "resign", verb_resign, true },
	{ "evict", verb_evict, true },
};

/* A string field: 0 and *ret set (or untouched if absent), or -EINVAL. */
static int get_string(json_object *req, const char *key, const char **ret)
{
	json_object *v;

	if (!json_object_object_get_ex(req, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	/* no embedded NUL: the name must mean the same to us and to C */
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return -EINVAL;
	*ret = json_object_get_string(v);
	return 0;
}

void protocol_handle(struct daemon *d, struct conn *c, const char *line, size_t len)
{
	struct request rq = { .d = d, .conn = c, .segment = SHMELECT_DEFAULT_SEGMENT };
	struct json_tokener *tok;
	const struct verb *v = NULL;
	const char *verb = NULL;
	json_object *req, *f;
	char msg[128];

	tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok) {
		reply_error(&rq, ENOMEM, NULL);
		return;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* the terminating NUL is passed too, so that a bare number ends */
	req = json_tokener_parse_ex(tok, line, (int)len + 1);
	if (!req || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error jerr = json_tokener_get_error(tok);
		snprintf(msg, sizeof(msg), "malformed JSON: %s", json_tokener_error_desc(jerr));
		json_object_put(req);
		json_tokener_free(tok);
		reply_error(&rq, EBADMSG, msg);
		return;
	}
	/* only blanks may follow the value (a NUL would hide what follows) */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (line[i] != ' ' && line[i] != '\t') {
			json_object_put(req);
			json_tokener_free(tok);
			reply_error(&rq, EBADMSG, "malformed JSON: trailing characters");
			return;
		}
	json_tokener_free(tok);

	if (!json_object_is_type(req, json_type_object)) {
		reply_error(&rq, EINVAL, "a request must be a JSON object");
		goto out;
	}
	rq.has_id = json_object_object_get_ex(req, "id", &rq.id);
	if (get_string(req, "verb", &verb) < 0 || !verb) {
		reply_error(&rq, EINVAL, "missing \"verb\" (a string)");
		goto out;
	}
	if (get_string(req, "segment", &rq.segment) < 0) {
		reply_error(&rq, EINVAL, "\"segment\" must be a string");
		goto out;
	}
	if (get_string(req, "election", &rq.election) < 0) {
		reply_error(&rq, EINVAL, "\"election\" must be a string");
		goto out;
	}
	if (get_string(req, "to", &rq.to) < 0) {
		reply_error(&rq, EINVAL, "\"to\" must be a string");
		goto out;
	}
	if (json_object_object_get_ex(req, "force", &f) && f) {
		if (!json_object_is_type(f, json_type_boolean)) {
			reply_error(&rq, EINVAL, "\"force\" must be a boolean");
			goto out;
		}
		rq.force = json_object_get_boolean(f);
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].name, verb))
			v = &verbs[i];
	if (!v) {
		reply_error(&rq, EOPNOTSUPP, "unknown verb");
		goto out;
	}
	if (v->operator && !is_operator(d, conn_peer(c))) {
		reply_error(&rq, EPERM, "operator verbs need root, the daemon's user or the operator group");
		goto out;
	}
	v->fn(&rq);
out:
	json_object_put(req);
}
