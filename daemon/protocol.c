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

#include "jsonlite.h"
#include "shmelectd.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define JSON_DEPTH 16

struct request {
	struct daemon *d;
	struct conn *conn;
	bool has_id;
	const char *id;         /* the id's JSON text, as json-c writes it */
	size_t id_len;
	const char *segment;    /* SHMELECT_DEFAULT_SEGMENT when absent */
	bool segment_given;     /* the request named it (list filters by it) */
	const char *election;   /* NULL: absent */
	const char *to;
	bool force;
};

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

/* A reply being written; most fit in buf, on the stack. */
struct reply {
	struct jw w;
	char buf[4096];
};

/* Start a reply: '{', the request's id if it had one, "ok". */
static struct jw *reply_open(struct reply *r, const struct request *rq, bool ok)
{
	jw_init(&r->w, r->buf, sizeof(r->buf));
	jw_open(&r->w);
	if (rq && rq->has_id) {
		jw_key(&r->w, "id");
		jw_raw(&r->w, rq->id, rq->id_len);
	}
	jw_key(&r->w, "ok");
	jw_bool(&r->w, ok);
	return &r->w;
}

/* The error reply for a failed allocation: no id, nothing to allocate. */
static const char enomem_line[] =
	"{\"ok\":false,\"error\":\"ENOMEM\",\"errno\":12,\"message\":\"Cannot allocate memory\"}";

static void reply_error(const struct request *rq, int err, const char *message);

/* Close the reply and queue it. */
static void reply_send(const struct request *rq, struct reply *r)
{
	jw_close(&r->w);
	if (r->w.oom) {
		jw_done(&r->w);
		reply_error(rq, ENOMEM, NULL);
		return;
	}
	conn_send(rq->conn, r->w.buf, r->w.len, false);
	jw_done(&r->w);
}

static void error_fields(struct jw *w, const char *name, int err, const char *message)
{
	jw_kv_str(w, "error", name);
	jw_kv_i64(w, "errno", err);
	jw_kv_str(w, "message", message);
}

char *protocol_error_line(const char *name, int err, const char *message)
{
	struct jw w;

	jw_init(&w, NULL, 0);
	jw_open(&w);
	jw_key(&w, "ok");
	jw_bool(&w, false);
	error_fields(&w, name, err, message);
	jw_close(&w);
	if (!jw_str0(&w)) {
		jw_done(&w);
		return NULL;
	}
	return w.buf; /* malloc'd: the initial buffer was none */
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
	struct reply r;

	if (err < 0)
		err = -err;
	if (!message)
		message = strerror(err);
	/* an errno we have no name for is reported as EIO, consistently */
	if (!strcmp(errno_name(err), "EIO"))
		err = EIO;
	reply_open(&r, rq, false);
	error_fields(&r.w, errno_name(err), err, message);
	jw_close(&r.w);
	if (r.w.oom)
		conn_send(rq->conn, enomem_line, sizeof(enomem_line) - 1, false);
	else
		conn_send(rq->conn, r.w.buf, r.w.len, false);
	jw_done(&r.w);
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
	char msg[128];

	if (!s) {
		/* name it: a request without "segment" means the default one */
		snprintf(msg, sizeof(msg), "no such segment \"%.64s\"%s", rq->segment,
			 rq->segment_given ? "" : " (the default: the request names none)");
		reply_error(rq, ENOENT, msg);
	}
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
	struct reply r;
	struct jw *w = reply_open(&r, rq, true);

	jw_kv_str(w, "version", PACKAGE_VERSION);
	jw_kv_i64(w, "protocol", SHMELECTD_PROTOCOL);
	/* the segments it owns: a client can tell whether to ask it at all */
	jw_key(w, "segments");
	jw_open_array(w);
	for (size_t i = 0; i < rq->d->n_segs; i++)
		jw_str(w, rq->d->segs[i]->conf.name);
	jw_close_array(w);
	reply_send(rq, &r);
}

/* A string that is there only with a holder (else null). */
static void str_if(struct jw *w, bool has, const char *s)
{
	if (has)
		jw_str(w, s);
	else
		jw_null(w);
}

static void list_entry(struct jw *w, const char *segment, const struct shmelect_record *rec)
{
	jw_open(w);
	jw_kv_str(w, "segment", segment);
	jw_kv_str(w, "election", rec->election);
	jw_kv_bool(w, "has_holder", rec->has_holder);
	jw_key(w, "holder");
	str_if(w, rec->has_holder, rec->holder);
	jw_key(w, "holder_pid");
	if (rec->has_holder)
		jw_i64(w, rec->holder_pid);
	else
		jw_null(w);
	jw_kv_u64(w, "token", rec->token);
	jw_kv_u64(w, "term", rec->term);
	jw_kv_u64(w, "transitions", rec->transitions);
	jw_kv_bool(w, "expired", rec->expired);
	jw_kv_i64(w, "members", (int)rec->n_members);
	jw_close(w);
}

static void verb_list(const struct request *rq)
{
	struct reply r;
	struct daemon *d = rq->d;
	struct jw *w;

	/* with "segment", that segment's elections only */
	if (rq->segment_given && !req_segment(rq))
		return;
	w = reply_open(&r, rq, true);
	jw_key(w, "elections");
	jw_open_array(w);

	for (size_t i = 0; i < d->n_segs; i++) {
		struct segment *s = d->segs[i];

		if (rq->segment_given && strcmp(s->conf.name, rq->segment))
			continue;

		/* creating an election does not move the change word (only
		 * what happens in it does): look for new ones now */
		tracker_scan(s);
		for (size_t j = 0; j < s->n_els; j++) {
			struct shmelect_record rec;

			if (shmelect_election_observe(s->els[j]->e, &rec, NULL, 0) < 0)
				continue;
			list_entry(w, s->conf.name, &rec);
		}
	}
	jw_close_array(w);
	reply_send(rq, &r);
}

static void verb_status(const struct request *rq)
{
	struct shmelect_election *e, *own;
	struct shmelect_record rec;
	struct segment *s = NULL;
	struct reply r;
	struct jw *w;
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

	w = reply_open(&r, rq, true);
	jw_key(w, "status");
	jw_open(w);
	jw_kv_str(w, "segment", s->conf.name);
	jw_kv_str(w, "election", rec.election);
	jw_kv_bool(w, "has_holder", rec.has_holder);
	jw_key(w, "holder");
	str_if(w, rec.has_holder, rec.holder);
	jw_key(w, "holder_pid");
	if (rec.has_holder)
		jw_i64(w, rec.holder_pid);
	else
		jw_null(w);
	jw_key(w, "holder_slot");
	if (rec.has_holder)
		jw_i64(w, (int)rec.holder_slot);
	else
		jw_null(w);
	jw_kv_u64(w, "token", rec.token);
	jw_kv_u64(w, "term", rec.term);
	jw_kv_u64(w, "transitions", rec.transitions);
	jw_kv_u64(w, "acquire_ns", rec.acquire_ns);
	jw_kv_u64(w, "renew_ns", rec.renew_ns);
	jw_kv_u64(w, "expiry_ns", rec.expiry_ns);
	jw_kv_u64(w, "lease_ns", rec.lease_ns);
	jw_kv_u64(w, "observed_ns", rec.observed_ns);
	jw_kv_bool(w, "expired", rec.expired);
	jw_kv_u64(w, "locked_until_ns", rec.locked_until_ns);
	jw_key(w, "advert");
	str_if(w, rec.has_holder, rec.advert);
	jw_key(w, "members");
	jw_open_array(w);
	for (int i = 0; i < n; i++) {
		const struct shmelect_member *m = &s->scratch[i];

		jw_open(w);
		jw_kv_str(w, "identity", m->identity);
		jw_kv_i64(w, "pid", m->pid);
		jw_kv_i64(w, "slot", (int)m->slot);
		jw_kv_u64(w, "lease_ns", m->lease_ns);
		jw_kv_u64(w, "joined_ns", m->joined_ns);
		jw_kv_i64(w, "priority", m->priority);
		jw_kv_bool(w, "is_holder", m->is_holder);
		jw_close(w);
	}
	jw_close_array(w);
	jw_close(w);
	reply_send(rq, &r);
	shmelect_election_close(own);
}

static void verb_watch(const struct request *rq)
{
	struct sub *sub;
	struct reply r;
	struct jw *w;

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
	w = reply_open(&r, rq, true);
	jw_kv_str(w, "watching", rq->election); /* NULL: null */
	jw_kv_i64(w, "seq", 0);
	reply_send(rq, &r);
	/* from now on the connection carries events only */
	conn_set_sub(rq->conn, sub);
}

static void verb_metrics(const struct request *rq)
{
	char *text = metrics_render(rq->d);
	struct reply r;
	struct jw *w;

	if (!text) {
		reply_error(rq, ENOMEM, NULL);
		return;
	}
	w = reply_open(&r, rq, true);
	jw_kv_str(w, "metrics", text);
	free(text);
	reply_send(rq, &r);
}

static void verb_handover(const struct request *rq)
{
	struct shmelect_election *e, *own;
	struct segment *s;
	struct reply re;
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
	reply_open(&re, rq, true);
	jw_key(&re.w, "done");
	jw_bool(&re.w, r == 1);
	reply_send(rq, &re);
}

static void verb_resign(const struct request *rq)
{
	struct shmelect_election *e, *own;
	struct segment *s;
	struct reply re;
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
	reply_open(&re, rq, true);
	reply_send(rq, &re);
}

static void verb_evict(const struct request *rq)
{
	struct shmelect_election *e, *own;
	struct segment *s;
	struct reply re;
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
	reply_open(&re, rq, true);
	jw_key(&re.w, "evicted");
	jw_bool(&re.w, r == 1);
	reply_send(rq, &re);
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

/* The request parser, kept from one request to the next (the daemon serves
 * requests in one thread). */
static struct json_tokener *tok;

/* Serve a request whose fields are read and checked. */
static void serve(struct request *rq, const char *verb)
{
	const struct verb *v = NULL;

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(verbs[i].name, verb))
			v = &verbs[i];
	if (!v) {
		reply_error(rq, EOPNOTSUPP, "unknown verb");
		return;
	}
	if (v->operator && !is_operator(rq->d, conn_peer(rq->conn))) {
		reply_error(rq, EPERM, "operator verbs need root, the daemon's user or the operator group");
		return;
	}
	v->fn(rq);
}

#define KEY_IS(m, k) ((m)->key_len == sizeof(k) - 1 && !memcmp((m)->key, k, sizeof(k) - 1))

/*
 * The request from a flat object that jr_flat() read, if every field the
 * verbs use has the right type (what json-c would make of the line, the
 * same request): 0 and *ret_verb set; -1 to leave the line to json-c,
 * which also words the errors.  String values are NUL-terminated in
 * place: line is a copy of ours.
 */
static int request_from_flat(struct request *rq, struct jr_member *m, int n, const char **ret_verb)
{
	const char *verb = NULL;

	for (int i = 0; i < n; i++, m++) {
		const char **field = NULL;

		if (KEY_IS(m, "id")) {
			rq->has_id = true;
			/* the text as json-c writes it: a plain string with
			 * its quotes, the digits of a small integer, a literal */
			rq->id = m->type == JR_STRING ? m->value - 1 : m->value;
			rq->id_len = m->type == JR_STRING ? m->value_len + 2 : m->value_len;
			continue;
		}
		if (KEY_IS(m, "verb"))
			field = &verb;
		else if (KEY_IS(m, "segment"))
			field = &rq->segment;
		else if (KEY_IS(m, "election"))
			field = &rq->election;
		else if (KEY_IS(m, "to"))
			field = &rq->to;
		if (field) {
			if (m->type == JR_NULL)
				continue; /* as if absent */
			if (m->type != JR_STRING)
				return -1;
			((char *)m->value)[m->value_len] = 0; /* its closing quote */
			*field = m->value;
			if (field == &rq->segment)
				rq->segment_given = true;
		} else if (KEY_IS(m, "force")) {
			if (m->type != JR_TRUE && m->type != JR_FALSE && m->type != JR_NULL)
				return -1;
			rq->force = m->type == JR_TRUE;
		}
	}
	if (!verb)
		return -1;
	*ret_verb = verb;
	return 0;
}

void protocol_handle(struct daemon *d, struct conn *c, const char *line, size_t len)
{
	struct request rq = { .d = d, .conn = c, .segment = SHMELECT_DEFAULT_SEGMENT };
	const char *verb = NULL, *segment = NULL;
	struct jr_member m[8];
	char copy[SHMELECTD_LINE_MAX + 1];
	json_object *req, *f, *id;
	char msg[128];
	int n;

	/* most requests are a flat object of plain strings: read those
	 * without building a json-c object */
	if (len < sizeof(copy)) {
		memcpy(copy, line, len);
		copy[len] = 0;
		n = jr_flat(copy, len, m, (int)(sizeof(m) / sizeof(m[0])));
		if (n >= 0 && request_from_flat(&rq, m, n, &verb) == 0) {
			serve(&rq, verb);
			return;
		}
		rq = (struct request){ .d = d, .conn = c, .segment = SHMELECT_DEFAULT_SEGMENT };
		verb = NULL;
	}

	/* one tokener for every request, reset (as new) before each */
	if (!tok) {
		tok = json_tokener_new_ex(JSON_DEPTH);
		if (!tok) {
			reply_error(&rq, ENOMEM, NULL);
			return;
		}
		json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	}
	json_tokener_reset(tok);
	/* the terminating NUL is passed too, so that a bare number ends */
	req = json_tokener_parse_ex(tok, line, (int)len + 1);
	if (!req || json_tokener_get_error(tok) != json_tokener_success) {
		enum json_tokener_error jerr = json_tokener_get_error(tok);
		snprintf(msg, sizeof(msg), "malformed JSON: %s", json_tokener_error_desc(jerr));
		json_object_put(req);
		/* json_tokener_reset() does not clear all that a failed parse
		 * leaves behind: in json-c 0.16 a high surrogate still waiting
		 * for its low half ("\ud83d\uzz") puts a U+FFFD in front of the
		 * next \u escape, in whatever request comes next, from any
		 * client.  The next request gets a new tokener. */
		protocol_done();
		reply_error(&rq, EBADMSG, msg);
		return;
	}
	/* only blanks may follow the value (a NUL would hide what follows) */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (line[i] != ' ' && line[i] != '\t') {
			json_object_put(req);
			reply_error(&rq, EBADMSG, "malformed JSON: trailing characters");
			return;
		}

	if (!json_object_is_type(req, json_type_object)) {
		reply_error(&rq, EINVAL, "a request must be a JSON object");
		goto out;
	}
	rq.has_id = json_object_object_get_ex(req, "id", &id);
	if (rq.has_id) {
		/* json-c keeps the text (and the spelling of a number) */
		rq.id = id ? json_object_to_json_string_length(id, JSON_FLAGS, &rq.id_len) : "null";
		if (!id)
			rq.id_len = 4;
		if (!rq.id) {
			rq.has_id = false;
			reply_error(&rq, ENOMEM, NULL);
			goto out;
		}
	}
	if (get_string(req, "verb", &verb) < 0 || !verb) {
		reply_error(&rq, EINVAL, "missing \"verb\" (a string)");
		goto out;
	}
	if (get_string(req, "segment", &segment) < 0) {
		reply_error(&rq, EINVAL, "\"segment\" must be a string");
		goto out;
	}
	if (segment) {
		rq.segment = segment;
		rq.segment_given = true;
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
	serve(&rq, verb);
out:
	json_object_put(req);
}

void protocol_done(void)
{
	if (tok)
		json_tokener_free(tok);
	tok = NULL;
}
