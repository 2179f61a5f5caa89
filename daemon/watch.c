/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Watch subscriptions and the fan-out of events.
 *
 * The tracker produces each event once; the hub hands it to every
 * subscription whose segment (and election, if one was named) matches, in
 * the order produced, so every client sees the same sequence.  Each
 * subscription numbers its events from 1 without gaps.  A client whose
 * unread output would exceed SHMELECTD_OUTPUT_MAX gets instead
 *
 *   {"event":"overflow","seq":N}
 *
 * where N is the number the undelivered event would have had (it and all
 * later events are lost to it), and is disconnected.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
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

struct sub {
	struct hub *h;
	struct conn *c;
	char *segment;
	char *election;   /* NULL: every election of the segment */
	uint64_t seq;     /* of the last event sent */
	struct sub *prev, *next;
};

struct hub {
	struct sub *subs;
	size_t n;
};

int hub_new(struct hub **ret)
{
	struct hub *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	*ret = h;
	return 0;
}

struct hub *hub_free(struct hub *h)
{
	if (!h)
		return NULL;
	while (h->subs) {
		conn_set_sub(h->subs->c, NULL);
		hub_unsubscribe(h->subs);
	}
	free(h);
	return NULL;
}

size_t hub_count(const struct hub *h)
{
	return h ? h->n : 0;
}

struct sub *hub_subscribe(struct hub *h, struct conn *c, const char *segment, const char *election)
{
	struct sub *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->h = h;
	s->c = c;
	s->segment = strdup(segment);
	s->election = election ? strdup(election) : NULL;
	if (!s->segment || (election && !s->election)) {
		free(s->segment);
		free(s->election);
		free(s);
		return NULL;
	}
	s->next = h->subs;
	if (s->next)
		s->next->prev = s;
	h->subs = s;
	h->n++;
	return s;
}

void hub_unsubscribe(struct sub *s)
{
	struct hub *h;

	if (!s)
		return;
	h = s->h;
	if (s->prev)
		s->prev->next = s->next;
	else
		h->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	h->n--;
	free(s->segment);
	free(s->election);
	free(s);
}

/* The event's fields after "event" and "seq", as a JSON object text. */
static char *event_body(const struct event *ev)
{
	json_object *o = json_object_new_object();
	char buf[4 * (SHMELECT_IDENTITY_MAX + 1)];
	char *s;

	utf8_sanitize(buf, sizeof(buf), ev->segment);
	jadd(o, "segment", json_object_new_string(buf));
	utf8_sanitize(buf, sizeof(buf), ev->election);
	jadd(o, "election", json_object_new_string(buf));
	if (ev->holder) {
		utf8_sanitize(buf, sizeof(buf), ev->holder);
		jadd(o, "holder", json_object_new_string(buf));
	} else {
		jadd(o, "holder", NULL);
	}
	jadd(o, "token", json_object_new_uint64(ev->token));
	jadd(o, "term", json_object_new_uint64(ev->term));
	if (ev->identity) {
		utf8_sanitize(buf, sizeof(buf), ev->identity);
		jadd(o, "identity", json_object_new_string(buf));
	}
	jadd(o, "time_ns", json_object_new_uint64(ev->time_ns));
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

void hub_emit(struct hub *h, const struct event *ev)
{
	struct sub *s, *next;
	char *body = NULL;

	for (s = h->subs; s; s = next) {
		char *line;
		int len, r;

		next = s->next;
		if (strcmp(s->segment, ev->segment) || (s->election && strcmp(s->election, ev->election)))
			continue;
		if (conn_closing(s->c))
			continue;
		if (!body) {
			body = event_body(ev);
			if (!body)
				return;
		}
		/* body is "{...}": splice "event" and "seq" in front */
		len = asprintf(&line, "{\"event\":\"%s\",\"seq\":%" PRIu64 "%s%s", ev->type, s->seq + 1,
			       body[1] == '}' ? "" : ",", body + 1);
		if (len < 0)
			continue;
		r = conn_send(s->c, line, (size_t)len, true);
		free(line);
		if (r == 0) {
			s->seq++;
		} else if (r == -ENOBUFS) {
			char buf[96];
			int n = snprintf(buf, sizeof(buf), "{\"event\":\"overflow\",\"seq\":%" PRIu64 "}",
					 s->seq + 1);
			log_notice("watcher (pid %d) does not keep up; disconnecting it",
				   (int)conn_peer(s->c)->pid);
			conn_send_last(s->c, buf, (size_t)n);
			conn_set_sub(s->c, NULL);
			hub_unsubscribe(s);
		}
	}
	free(body);
}
