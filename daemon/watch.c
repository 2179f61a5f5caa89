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

#include "jsonlite.h"
#include "shmelectd.h"

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
static void event_body(struct jw *w, const struct event *ev)
{
	jw_open(w);
	jw_kv_str(w, "segment", ev->segment);
	jw_kv_str(w, "election", ev->election);
	jw_kv_str(w, "holder", ev->holder); /* NULL: null */
	jw_kv_u64(w, "token", ev->token);
	jw_kv_u64(w, "term", ev->term);
	if (ev->identity) {
		jw_kv_str(w, "identity", ev->identity);
	}
	jw_kv_u64(w, "time_ns", ev->time_ns);
	jw_close(w);
}

void hub_emit(struct hub *h, const struct event *ev)
{
	struct sub *s, *next;
	char body_buf[1024], line_buf[1152];
	struct jw body;
	bool have_body = false;

	jw_init(&body, body_buf, sizeof(body_buf));
	for (s = h->subs; s; s = next) {
		struct jw line;
		int r;

		next = s->next;
		if (strcmp(s->segment, ev->segment) || (s->election && strcmp(s->election, ev->election)))
			continue;
		if (conn_closing(s->c))
			continue;
		if (!have_body) {
			event_body(&body, ev);
			if (body.oom)
				break;
			have_body = true;
		}
		/* body is "{...}": "event" and "seq" go in front */
		jw_init(&line, line_buf, sizeof(line_buf));
		jw_open(&line);
		jw_key(&line, "event");
		jw_str(&line, ev->type);
		jw_key(&line, "seq");
		jw_u64(&line, s->seq + 1);
		if (body.len > 2)
			jw_put(&line, ",", 1);
		jw_put(&line, body.buf + 1, body.len - 1);
		if (line.oom) {
			jw_done(&line);
			continue;
		}
		r = conn_send(s->c, line.buf, line.len, true);
		jw_done(&line);
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
	jw_done(&body);
}
