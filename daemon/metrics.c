/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Metrics in the Prometheus text exposition format (version 0.0.4),
 * computed from fresh observations at each request.  Label values are
 * made valid UTF-8 and escaped (backslash, double quote, newline).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmelectd.h"

struct obs {
	struct segment *s;
	struct tracked *t;
	struct shmelect_record rec;
	struct shmelect_member *members;
	size_t n_members;
};

static void label(FILE *f, const char *key, const char *value, bool first)
{
	char buf[4 * (SHMELECT_ADVERT_MAX + 1)];

	utf8_sanitize(buf, sizeof(buf), value);
	fprintf(f, "%s%s=\"", first ? "" : ",", key);
	for (const char *p = buf; *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void labels(FILE *f, const struct obs *o, const char *identity)
{
	fputc('{', f);
	label(f, "segment", o->s->conf.name, true);
	label(f, "election", o->t->name, false);
	if (identity)
		label(f, "identity", identity, false);
	fputc('}', f);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static size_t observe_all(struct daemon *d, struct obs **ret)
{
	struct obs *v = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < d->n_segs; i++) {
		struct segment *s = d->segs[i];

		tracker_scan(s); /* elections created since the last change */
		for (size_t j = 0; j < s->n_els; j++) {
			struct obs *o;
			int r;

			if (n == cap) {
				struct obs *nv;
				cap = cap ? cap * 2 : 64;
				nv = realloc(v, cap * sizeof(*v));
				if (!nv)
					goto out;
				v = nv;
			}
			o = &v[n];
			memset(o, 0, sizeof(*o));
			o->s = s;
			o->t = s->els[j];
			r = shmelect_election_observe(o->t->e, &o->rec, s->scratch, s->max_candidates);
			if (r < 0)
				continue;
			o->n_members = (size_t)r < s->max_candidates ? (size_t)r : s->max_candidates;
			if (o->n_members) {
				o->members = malloc(o->n_members * sizeof(*o->members));
				if (!o->members)
					continue;
				memcpy(o->members, s->scratch, o->n_members * sizeof(*o->members));
			}
			n++;
		}
	}
out:
	*ret = v;
	return n;
}

char *metrics_render(struct daemon *d)
{
	struct obs *v = NULL;
	size_t n, size = 0;
	char *text = NULL;
	uint64_t now = shmelect_now_ns();
	FILE *f;

	f = open_memstream(&text, &size);
	if (!f)
		return NULL;
	n = observe_all(d, &v);

	family(f, "shmelect_is_leader", "gauge",
	       "1 if the member holds the election's lease and it has not expired, else 0.");
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < v[i].n_members; j++) {
			const struct shmelect_member *m = &v[i].members[j];
			fputs("shmelect_is_leader", f);
			labels(f, &v[i], m->identity);
			fprintf(f, " %d\n", m->is_holder && v[i].rec.has_holder && !v[i].rec.expired);
		}
	family(f, "shmelect_has_leader", "gauge", "1 if the election has a leader with an unexpired lease.");
	for (size_t i = 0; i < n; i++) {
		fputs("shmelect_has_leader", f);
		labels(f, &v[i], NULL);
		fprintf(f, " %d\n", v[i].rec.has_holder && !v[i].rec.expired);
	}
	family(f, "shmelect_token", "gauge", "Fencing token of the current or last term (0: never held).");
	for (size_t i = 0; i < n; i++) {
		fputs("shmelect_token", f);
		labels(f, &v[i], NULL);
		fprintf(f, " %" PRIu64 "\n", v[i].rec.token);
	}
	family(f, "shmelect_transitions_total", "counter",
	       "Leadership transitions recorded in the lease (Kubernetes leaseTransitions).");
	for (size_t i = 0; i < n; i++) {
		fputs("shmelect_transitions_total", f);
		labels(f, &v[i], NULL);
		fprintf(f, " %" PRIu64 "\n", v[i].rec.transitions);
	}
	family(f, "shmelect_lease_age_seconds", "gauge",
	       "Seconds since the holder last renewed its lease; absent without a holder.");
	for (size_t i = 0; i < n; i++) {
		if (!v[i].rec.has_holder)
			continue;
		fputs("shmelect_lease_age_seconds", f);
		labels(f, &v[i], NULL);
		fprintf(f, " %.6f\n",
			now > v[i].rec.renew_ns ? (double)(now - v[i].rec.renew_ns) / 1e9 : 0.0);
	}
	family(f, "shmelect_failovers_total", "counter",
	       "Leader changes (new leader or term) seen by this daemon since it started.");
	for (size_t i = 0; i < n; i++) {
		fputs("shmelect_failovers_total", f);
		labels(f, &v[i], NULL);
		fprintf(f, " %" PRIu64 "\n", v[i].t->failovers);
	}
	family(f, "shmelect_members", "gauge", "Members (candidates) of the election.");
	for (size_t i = 0; i < n; i++) {
		fputs("shmelect_members", f);
		labels(f, &v[i], NULL);
		fprintf(f, " %" PRIu32 "\n", v[i].rec.n_members);
	}
	family(f, "shmelect_reaps_total", "counter",
	       "Slots of dead members freed by this daemon since it started.");
	for (size_t i = 0; i < d->n_segs; i++) {
		fputs("shmelect_reaps_total{", f);
		label(f, "segment", d->segs[i]->conf.name, true);
		fprintf(f, "} %" PRIu64 "\n", d->segs[i]->reaps);
	}
	family(f, "shmelect_lease_breaks_total", "counter",
	       "Leases of dead holders broken by this daemon since it started.");
	for (size_t i = 0; i < d->n_segs; i++) {
		fputs("shmelect_lease_breaks_total{", f);
		label(f, "segment", d->segs[i]->conf.name, true);
		fprintf(f, "} %" PRIu64 "\n", d->segs[i]->breaks);
	}
	family(f, "shmelectd_connections", "gauge", "Open client connections.");
	fprintf(f, "shmelectd_connections %u\n", server_connections(d->server));
	family(f, "shmelectd_watchers", "gauge", "Clients watching events.");
	fprintf(f, "shmelectd_watchers %zu\n", hub_count(d->hub));

	for (size_t i = 0; i < n; i++)
		free(v[i].members);
	free(v);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
