/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Per-election snapshots and the events derived from them.
 *
 * A scan (after the segment's change word moved) reads each election's
 * own change word, cheaply, through shmelect_election_wait() with *seq 0,
 * and observes only the elections whose word moved.  Each observation is
 * compared with the previous snapshot:
 *
 *   - members that appeared   -> "joined" (in slot order)
 *   - members that went away  -> "left"   (in slot order)
 *   - the effective leader (a holder whose lease has not expired) changed
 *     in identity or term     -> "leader", or "no_leader" if there is none
 *
 * in that order, so every subscriber sees the same sequence.  A snapshot
 * compares whole states: changes that come and go between two scans (a
 * leader that resigns and is replaced before the daemon looks) show as
 * their net effect.
 *
 * Renewals do not move the change word (they are plain CASes, by design),
 * so the expiry of a lease that is not renewed is caught by a timer armed
 * at the observed expiry: when it fires the election is observed again and
 * the timer re-armed if the lease was renewed meanwhile.  That is one
 * wake-up per lease duration for an election that has a leader, and none
 * for an election without one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmelectd.h"

static int tracked_new(struct segment *s, const char *name, struct tracked **ret)
{
	struct tracked *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	r = shmelect_election_open(s->seg, name, 0, &t->e);
	if (r < 0) {
		free(t);
		return r;
	}
	t->seg = s;
	snprintf(t->name, sizeof(t->name), "%s", name);
	*ret = t;
	return 0;
}

/* Track elections created since the last scan. */
static void discover(struct segment *s)
{
	struct shmelect_segment_info info;
	char (*names)[SHMELECT_NAME_MAX + 1];
	int n;

	if (shmelect_segment_info(s->seg, &info) < 0 || info.n_elections == s->n_els)
		return;
	names = calloc(s->max_elections, sizeof(*names));
	if (!names)
		return;
	n = shmelect_segment_list(s->seg, names, s->max_elections);
	for (int i = 0; i < n && (uint32_t)i < s->max_elections; i++) {
		struct tracked *t;

		names[i][SHMELECT_NAME_MAX] = 0;
		if (segment_find_election(s, names[i]))
			continue;
		if (s->n_els == s->cap_els) {
			size_t cap = s->cap_els ? s->cap_els * 2 : 16;
			struct tracked **els = realloc(s->els, cap * sizeof(*els));
			if (!els)
				break;
			s->els = els;
			s->cap_els = cap;
		}
		if (tracked_new(s, names[i], &t) < 0)
			continue;
		s->els[s->n_els++] = t;
	}
	free(names);
}

void tracker_scan(struct segment *s)
{
	discover(s);
	for (size_t i = 0; i < s->n_els; i++) {
		struct tracked *t = s->els[i];
		uint64_t ch = 0;

		/* read the word before observing: a change during the
		 * observation then shows at the next scan */
		if (shmelect_election_wait(t->e, &ch, 0) < 0)
			continue;
		if (t->have_snap && ch == t->change)
			continue;
		t->change = ch;
		tracker_refresh(t);
	}
}

static uint64_t local_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int on_expiry(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct tracked *t = userdata;

	tracker_refresh(t);
	notify_status(t->seg->d);
	return 0;
}

/* Wake up when the observed lease runs out.  Times in the segment are on
 * the host's CLOCK_MONOTONIC; ours may be offset (time namespace). */
static void arm_expiry(struct tracked *t, uint64_t expiry_ns)
{
	uint64_t host = shmelect_now_ns(), local = local_monotonic_ns(), at;
	int r;

	if (!t->leading) {
		if (t->expiry)
			sd_event_source_set_enabled(t->expiry, SD_EVENT_OFF);
		return;
	}
	at = expiry_ns > host ? local + (expiry_ns - host) : local;
	at = at / 1000 + 1; /* usec, rounded up */
	if (!t->expiry) {
		r = sd_event_add_time(t->seg->d->event, &t->expiry, CLOCK_MONOTONIC, at, 1000, on_expiry, t);
		if (r < 0)
			log_warning("election %s: cannot arm the expiry timer: %s", t->name, strerror(-r));
		return;
	}
	sd_event_source_set_time(t->expiry, at);
	sd_event_source_set_enabled(t->expiry, SD_EVENT_ONESHOT);
}

static bool same_member(const struct tmember *a, const struct shmelect_member *b)
{
	return a->slot == b->slot && a->pid == b->pid && a->start_time == b->start_time &&
	       a->joined_ns == b->joined_ns && !strcmp(a->identity, b->identity);
}

static void emit(struct tracked *t, const char *type, const char *identity, uint64_t time_ns)
{
	struct event ev = {
		.type = type,
		.segment = t->seg->conf.name,
		.election = t->name,
		.holder = t->leading ? t->holder : NULL,
		.token = t->token,
		.term = t->term,
		.identity = identity,
		.time_ns = time_ns,
	};

	hub_emit(t->seg->d->hub, &ev);
}

void tracker_refresh(struct tracked *t)
{
	struct segment *s = t->seg;
	struct shmelect_record rec;
	struct tmember *nm = NULL, *old = t->members;
	size_t n_old = t->n_members, n;
	uint64_t prev_term;
	bool *kept = NULL, *known = NULL, leading, changed;
	int r;

	r = shmelect_election_observe(t->e, &rec, s->scratch, s->max_candidates);
	if (r < 0) {
		log_warning("election %s/%s: cannot observe: %s", s->conf.name, t->name, strerror(-r));
		return;
	}
	n = (size_t)r < s->max_candidates ? (size_t)r : s->max_candidates;
	if (n) {
		nm = calloc(n, sizeof(*nm));
		known = calloc(n, sizeof(*known));
		if (!nm || !known) {
			free(nm);
			free(known);
			return;
		}
	}
	if (n_old) {
		kept = calloc(n_old, sizeof(*kept));
		if (!kept) {
			free(nm);
			free(known);
			return;
		}
	}

	/* the new member list; members still there keep their pidfd */
	for (size_t i = 0; i < n; i++) {
		const struct shmelect_member *m = &s->scratch[i];
		struct tmember *x = &nm[i];

		memcpy(x->identity, m->identity, sizeof(x->identity));
		x->identity[SHMELECT_IDENTITY_MAX] = 0;
		x->pid = m->pid;
		x->slot = m->slot;
		x->start_time = m->start_time;
		x->pidns = m->pidns;
		x->joined_ns = m->joined_ns;
		for (size_t j = 0; j < n_old; j++)
			if (!kept[j] && same_member(&old[j], m)) {
				kept[j] = true;
				known[i] = true;
				x->proc = old[j].proc;
				old[j].proc = NULL;
				break;
			}
	}
	t->members = nm;
	t->n_members = n;

	prev_term = t->term;
	leading = rec.has_holder && !rec.expired;
	changed = leading != t->leading ||
		  (leading && (rec.term != t->term || strcmp(rec.holder, t->holder)));
	t->leading = leading;
	t->term = rec.term;
	t->token = rec.token;
	t->holder_slot = rec.holder_slot;
	snprintf(t->holder, sizeof(t->holder), "%s", leading ? rec.holder : "");

	/* joined, then left, then the leader: one order for every client */
	for (size_t i = 0; i < n; i++) {
		if (known[i])
			continue;
		emit(t, "joined", nm[i].identity, rec.observed_ns);
		if (nm[i].pidns == s->d->pidns && nm[i].pid > 0 && nm[i].start_time)
			nm[i].proc = reaper_watch(s->d->reaper, nm[i].pid, nm[i].start_time);
	}
	for (size_t j = 0; j < n_old; j++) {
		if (kept[j])
			continue;
		emit(t, "left", old[j].identity, rec.observed_ns);
		reaper_unwatch(s->d->reaper, old[j].proc);
	}
	if (changed) {
		emit(t, leading ? "leader" : "no_leader", NULL, rec.observed_ns);
		/* a failover: a new leader after an earlier term (the first
		 * leader of an election, or the one found at start, is not) */
		if (t->have_snap && leading && prev_term)
			t->failovers++;
		log_debug("election %s/%s: %s%s, term %" PRIu64, s->conf.name, t->name,
			  leading ? "leader " : "no leader", leading ? t->holder : "", t->term);
	}
	segment_note_token(s, rec.token);
	arm_expiry(t, rec.expiry_ns);
	t->have_snap = true;
	free(old);
	free(kept);
	free(known);
}

bool tracker_has_proc(const struct tracked *t, const struct proc *p)
{
	for (size_t i = 0; i < t->n_members; i++)
		if (t->members[i].proc == p)
			return true;
	return false;
}

/* Is the member (slot, pid, start time) still in the election? */
static int member_present(struct tracked *t, const struct tmember *m, struct shmelect_record *rec)
{
	struct segment *s = t->seg;
	int r = shmelect_election_observe(t->e, rec, s->scratch, s->max_candidates);

	if (r < 0)
		return r;
	for (int i = 0; i < r && (uint32_t)i < s->max_candidates; i++)
		if (s->scratch[i].slot == m->slot && s->scratch[i].pid == m->pid &&
		    s->scratch[i].start_time == m->start_time)
			return 1;
	return 0;
}

/*
 * A member's process died.  If it holds the lease, end its term now
 * (shmelect_election_break names the exact term and slot, so it can never
 * end a later term of another member: a new acquisition or transfer always
 * starts a new term).  Then free the slots of dead members.  A process
 * that is merely stopped is alive: its pidfd does not fire and nothing
 * here runs for it.
 */
void tracker_proc_died(struct tracked *t, struct proc *p)
{
	struct segment *s = t->seg;
	struct shmelect_record rec;
	bool pending = false;
	int r;

	for (size_t i = 0; i < t->n_members; i++) {
		struct tmember m = t->members[i];

		if (m.proc != p)
			continue;
		r = member_present(t, &m, &rec);
		if (r <= 0)
			continue;
		if (rec.has_holder && rec.holder_slot == m.slot) {
			r = shmelect_election_break(t->e, rec.term, m.slot);
			if (r == 1) {
				s->breaks++;
				log_info("election %s/%s: holder %s (pid %d) died; lease of term %" PRIu64
					 " broken", s->conf.name, t->name, m.identity, (int)m.pid, rec.term);
			} else if (r < 0) {
				log_warning("election %s/%s: cannot break the lease of dead holder %s: %s",
					    s->conf.name, t->name, m.identity, strerror(-r));
			}
		}
		r = shmelect_election_reap(t->e);
		if (r > 0) {
			s->reaps += (uint64_t)r;
			log_info("election %s/%s: freed %d slot(s) of dead members (%s, pid %d)",
				 s->conf.name, t->name, r, m.identity, (int)m.pid);
		} else if (r < 0) {
			log_warning("election %s/%s: reaping failed: %s", s->conf.name, t->name,
				    strerror(-r));
		}
		/* a zombie still shows in /proc with its start time, and the
		 * library counts it alive until its parent reaps it */
		if (member_present(t, &m, &rec) == 1)
			pending = true;
	}
	if (pending)
		reaper_retry(s->d->reaper, p);
}

void tracker_free(struct tracked *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_members; i++)
		reaper_unwatch(t->seg->d->reaper, t->members[i].proc);
	free(t->members);
	sd_event_source_disable_unref(t->expiry);
	shmelect_election_close(t->e);
	free(t);
}
