/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What systemd hears from us (sd_notify(3)): READY=1 once the segments
 * and the socket are up; STATUS= a one-line summary, sent whenever it
 * changes; WATCHDOG=1 every half watchdog interval, from a timer in the
 * event loop, so that a stuck or stopped loop stops the pings;
 * RELOADING=1 around a configuration reload; STOPPING=1 on shutdown.
 * Without $NOTIFY_SOCKET every call is a no-op.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "shmelectd.h"

#define STATUS_LEADERS 3 /* leaders named in STATUS= */

static uint64_t watchdog_usec;

static int on_watchdog(sd_event_source *src, uint64_t usec, void *userdata)
{
	sd_notify(0, "WATCHDOG=1");
	sd_event_source_set_time(src, usec + watchdog_usec / 2);
	sd_event_source_set_enabled(src, SD_EVENT_ON);
	return 0;
}

int notify_init(struct daemon *d)
{
	uint64_t now;
	int r;

	/* 0: not asked for; checks WATCHDOG_PID is us */
	r = sd_watchdog_enabled(0, &watchdog_usec);
	if (r <= 0)
		return r;
	sd_event_now(d->event, CLOCK_MONOTONIC, &now);
	r = sd_event_add_time(d->event, &d->watchdog, CLOCK_MONOTONIC, now + watchdog_usec / 2,
			      watchdog_usec / 20, on_watchdog, d);
	if (r < 0)
		return r;
	sd_event_source_set_enabled(d->watchdog, SD_EVENT_ON);
	log_info("watchdog: pinging every %" PRIu64 " ms", watchdog_usec / 2000);
	return 0;
}

static char *status_line(struct daemon *d)
{
	size_t n_els = 0, n_led = 0, n_members = 0, named = 0;
	uint64_t reaped = 0;
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return NULL;
	for (size_t i = 0; i < d->n_segs; i++) {
		struct segment *s = d->segs[i];

		reaped += s->reaps;
		for (size_t j = 0; j < s->n_els; j++) {
			n_els++;
			n_members += s->els[j]->n_members;
			if (s->els[j]->leading)
				n_led++;
		}
	}
	fprintf(f, "%zu election%s in %zu segment%s, %zu led, %zu member%s, %" PRIu64 " reaped", n_els,
		n_els == 1 ? "" : "s", d->n_segs, d->n_segs == 1 ? "" : "s", n_led, n_members,
		n_members == 1 ? "" : "s", reaped);
	for (size_t i = 0; i < d->n_segs && named < STATUS_LEADERS; i++) {
		struct segment *s = d->segs[i];

		for (size_t j = 0; j < s->n_els && named < STATUS_LEADERS; j++) {
			struct tracked *t = s->els[j];
			char holder[4 * (SHMELECT_IDENTITY_MAX + 1)], name[4 * (SHMELECT_NAME_MAX + 1)];

			if (!t->leading)
				continue;
			utf8_sanitize(holder, sizeof(holder), t->holder);
			utf8_sanitize(name, sizeof(name), t->name);
			/* STATUS= is one line: no newline may come from a name */
			for (char *p = holder; *p; p++)
				if (*p == '\n' || *p == '\r')
					*p = ' ';
			for (char *p = name; *p; p++)
				if (*p == '\n' || *p == '\r')
					*p = ' ';
			fprintf(f, "%s%s: %s token %" PRIu64, named ? ", " : "; ", name, holder, t->token);
			named++;
		}
	}
	if (named < n_led)
		fputs(", ...", f);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

void notify_status(struct daemon *d)
{
	char *s = status_line(d);

	if (!s)
		return;
	if (d->status && !strcmp(d->status, s)) {
		free(s);
		return;
	}
	sd_notifyf(0, "STATUS=%s", s);
	free(d->status);
	d->status = s;
}

void notify_ready(struct daemon *d)
{
	free(d->status);
	d->status = status_line(d);
	sd_notifyf(0, "READY=1\nSTATUS=%s", d->status ? d->status : "running");
}

void notify_reloading(struct daemon *d)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64 "\nSTATUS=Reloading the configuration",
		   (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

void notify_stopping(struct daemon *d)
{
	sd_notify(0, "STOPPING=1\nSTATUS=Shutting down");
}

void notify_done(struct daemon *d)
{
	d->watchdog = sd_event_source_disable_unref(d->watchdog);
	free(d->status);
	d->status = NULL;
}
