/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Printing responses: as they are (--json, one object per line, the
 * daemon's shapes without the request id), or aligned for people.  Both
 * read only the protocol objects, so they print the same whether the
 * answer came from shmelectd or from the segment.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <shmelect.h>

#include "ctl.h"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

int ctl_exit_code(int err)
{
	switch (err) {
	case 0:
		return CTL_EXIT_OK;
	case ENOENT:
	case ESRCH:
		return CTL_EXIT_NOENT;
	case EACCES:
	case EPERM:
	case EROFS:
		return CTL_EXIT_PERM;
	case EINVAL:
	case ENAMETOOLONG:
		return CTL_EXIT_USAGE;
	default:
		return CTL_EXIT_FAILURE;
	}
}

void ctl_error_set(struct ctl_error *e, int err, const char *fmt, ...)
{
	va_list ap;

	e->err = err;
	e->exit_code = ctl_exit_code(err);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

const char *ctl_errno_name(int err)
{
	const char *s = strerrorname_np(err);

	return s ? s : "EUNKNOWN";
}

int ctl_errno_from_name(const char *name)
{
	for (int i = 1; i < 256; i++) {
		const char *s = strerrorname_np(i);
		if (s && !strcmp(s, name))
			return i;
	}
	return -1;
}

void output_error(const struct ctl *c, const struct ctl_error *e)
{
	fprintf(stderr, "shmelectctl: %s\n", e->message);
	if (c && c->json) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "ok", json_object_new_boolean(0));
		json_object_object_add(o, "error", json_object_new_string(ctl_errno_name(e->err)));
		json_object_object_add(o, "errno", json_object_new_int(e->err));
		json_object_object_add(o, "message", json_object_new_string(e->message));
		output_json(o);
		json_object_put(o);
	}
}

/* ------------------------------------------------------------------ */
/* Reading protocol objects                                           */
/* ------------------------------------------------------------------ */

const char *obj_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool obj_u64(json_object *o, const char *key, uint64_t *ret)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
		return false;
	*ret = json_object_get_uint64(v);
	return true;
}

static bool obj_i64(json_object *o, const char *key, int64_t *ret)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

bool obj_bool(json_object *o, const char *key)
{
	json_object *v;

	return o && json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static uint64_t u64_or(json_object *o, const char *key, uint64_t dflt)
{
	uint64_t v;

	return obj_u64(o, key, &v) ? v : dflt;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

void output_json(json_object *o)
{
	json_object *copy = NULL;

	/* the request id is ours, not the reader's */
	if (json_object_object_get_ex(o, "id", NULL) &&
	    json_object_deep_copy(o, &copy, NULL) == 0) {
		json_object_object_del(copy, "id");
		o = copy;
	}
	fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), stdout);
	fputc('\n', stdout);
	fflush(stdout);
	json_object_put(copy);
}

/* ------------------------------------------------------------------ */
/* People                                                              */
/* ------------------------------------------------------------------ */

/* "231 ms" below 10 s, "12.3 s" below 10 min, then "42 min" */
static const char *duration(uint64_t ns, char *buf, size_t size)
{
	uint64_t ms = ns / 1000000;

	if (ms < 10000)
		snprintf(buf, size, "%" PRIu64 " ms", ms);
	else if (ms < 600000)
		snprintf(buf, size, "%.1f s", (double)ms / 1000);
	else
		snprintf(buf, size, "%" PRIu64 " min", ms / 60000);
	return buf;
}

static const char *ago(uint64_t now, uint64_t then, char *buf, size_t size)
{
	char d[32];

	if (!then)
		snprintf(buf, size, "never");
	else if (then > now)
		snprintf(buf, size, "in %s", duration(then - now, d, sizeof(d)));
	else
		snprintf(buf, size, "%s ago", duration(now - then, d, sizeof(d)));
	return buf;
}

static const char *state_of(json_object *o)
{
	if (!obj_bool(o, "has_holder"))
		return "vacant";
	return obj_bool(o, "expired") ? "expired" : "led";
}

void output_list(json_object *resp)
{
	json_object *arr;
	size_t n;
	int ws = 7, we = 8, wh = 6;

	if (!json_object_object_get_ex(resp, "elections", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		printf("no elections\n");
		return;
	}
	n = json_object_array_length(arr);
	if (n == 0) {
		printf("no elections\n");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		const char *s = obj_str(o, "segment"), *el = obj_str(o, "election"),
			   *h = obj_str(o, "holder");
		if (s && (int)strlen(s) > ws)
			ws = (int)strlen(s);
		if (el && (int)strlen(el) > we)
			we = (int)strlen(el);
		if (h && (int)strlen(h) > wh)
			wh = (int)strlen(h);
	}
	printf("%-*s  %-*s  %-*s  %7s  %-20s  %5s  %11s  %7s  %s\n", ws, "SEGMENT", we, "ELECTION", wh,
	       "LEADER", "PID", "TOKEN", "TERM", "TRANSITIONS", "MEMBERS", "STATE");
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		const char *h = obj_str(o, "holder");
		int64_t pid = 0;
		char pidbuf[24] = "-";

		if (h && obj_i64(o, "holder_pid", &pid))
			snprintf(pidbuf, sizeof(pidbuf), "%" PRId64, pid);
		printf("%-*s  %-*s  %-*s  %7s  %-20" PRIu64 "  %5" PRIu64 "  %11" PRIu64 "  %7" PRIu64 "  %s\n",
		       ws, obj_str(o, "segment") ? obj_str(o, "segment") : "?", we,
		       obj_str(o, "election") ? obj_str(o, "election") : "?", wh, h ? h : "-", pidbuf,
		       u64_or(o, "token", 0), u64_or(o, "term", 0), u64_or(o, "transitions", 0),
		       u64_or(o, "members", 0), state_of(o));
	}
}

void output_status(json_object *resp)
{
	json_object *s, *members;
	uint64_t now, expiry, lease, locked;
	const char *holder, *advert;
	char b1[48], b2[48], b3[48];
	int64_t pid = 0, slot = 0;

	if (!json_object_object_get_ex(resp, "status", &s))
		return;
	now = u64_or(s, "observed_ns", shmelect_now_ns());
	expiry = u64_or(s, "expiry_ns", 0);
	lease = u64_or(s, "lease_ns", 0);
	locked = u64_or(s, "locked_until_ns", 0);
	holder = obj_str(s, "holder");
	advert = obj_str(s, "advert");
	obj_i64(s, "holder_pid", &pid);
	obj_i64(s, "holder_slot", &slot);

	printf("election     %s (segment %s)\n", obj_str(s, "election") ? obj_str(s, "election") : "?",
	       obj_str(s, "segment") ? obj_str(s, "segment") : "?");
	if (!holder)
		printf("leader       none (vacant)\n");
	else if (obj_bool(s, "expired"))
		printf("leader       none (%s's lease expired %s)\n", holder, ago(now, expiry, b1, sizeof(b1)));
	else
		printf("leader       %s (pid %" PRId64 ", slot %" PRId64 ")\n", holder, pid, slot);
	printf("token        %" PRIu64 "\n", u64_or(s, "token", 0));
	printf("term         %" PRIu64 "\n", u64_or(s, "term", 0));
	printf("transitions  %" PRIu64 "\n", u64_or(s, "transitions", 0));
	if (holder && !obj_bool(s, "expired"))
		printf("lease        %" PRIu64 " ms, %" PRIu64 " ms left (renewed %s, acquired %s)\n",
		       lease / 1000000, expiry > now ? (expiry - now) / 1000000 : 0,
		       ago(now, u64_or(s, "renew_ns", 0), b2, sizeof(b2)),
		       ago(now, u64_or(s, "acquire_ns", 0), b3, sizeof(b3)));
	if (locked > now)
		printf("locked       %" PRIu64 " ms more (lock-delay after an unclean loss)\n",
		       (locked - now) / 1000000);
	if (advert && *advert && holder)
		printf("advert       %s\n", advert);

	if (!json_object_object_get_ex(s, "members", &members) ||
	    !json_object_is_type(members, json_type_array))
		return;
	size_t n = json_object_array_length(members);
	int wi = 8;
	printf("members      %zu\n", n);
	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		const char *id = obj_str(json_object_array_get_idx(members, i), "identity");
		if (id && (int)strlen(id) > wi)
			wi = (int)strlen(id);
	}
	printf("    %-*s  %7s  %4s  %8s  %8s  %s\n", wi, "IDENTITY", "PID", "SLOT", "PRIORITY", "LEASE",
	       "JOINED");
	for (size_t i = 0; i < n; i++) {
		json_object *m = json_object_array_get_idx(members, i);
		int64_t mpid = 0, mslot = 0, prio = 0;
		const char *id = obj_str(m, "identity");

		obj_i64(m, "pid", &mpid);
		obj_i64(m, "slot", &mslot);
		obj_i64(m, "priority", &prio);
		printf("  %c %-*s  %7" PRId64 "  %4" PRId64 "  %8" PRId64 "  %5" PRIu64 " ms  %s\n",
		       obj_bool(m, "is_holder") ? '*' : ' ', wi, id ? id : "?", mpid, mslot, prio,
		       u64_or(m, "lease_ns", 0) / 1000000, ago(now, u64_or(m, "joined_ns", 0), b1, sizeof(b1)));
	}
}

void output_event(json_object *ev)
{
	const char *what = obj_str(ev, "event"), *el = obj_str(ev, "election");
	const char *holder = obj_str(ev, "holder"), *id = obj_str(ev, "identity");
	uint64_t t = u64_or(ev, "time_ns", 0), now = shmelect_now_ns();
	struct timespec rt;
	struct tm tm;
	char when[32] = "";

	/* the event's monotonic time, as wall-clock time */
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t real = (uint64_t)rt.tv_sec * 1000000000u + (uint64_t)rt.tv_nsec;
	if (t && t <= now)
		real -= now - t;
	time_t sec = (time_t)(real / 1000000000u);
	if (localtime_r(&sec, &tm))
		snprintf(when, sizeof(when), "%02d:%02d:%02d.%03u", tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (unsigned)(real % 1000000000u / 1000000u));

	printf("%s  #%-4" PRIu64 " %-16s ", when, u64_or(ev, "seq", 0), el ? el : "-");
	if (!what)
		printf("?\n");
	else if (!strcmp(what, "leader"))
		printf("leader     %s, token %" PRIu64 " (term %" PRIu64 ")\n", holder ? holder : "?",
		       u64_or(ev, "token", 0), u64_or(ev, "term", 0));
	else if (!strcmp(what, "no_leader"))
		printf("no_leader  (token %" PRIu64 " is void)\n", u64_or(ev, "token", 0));
	else if (!strcmp(what, "joined") || !strcmp(what, "left"))
		printf("%-9s  %s\n", what, id ? id : "?");
	else if (!strcmp(what, "overflow"))
		printf("overflow   events were lost; the next ones are current\n");
	else
		printf("%s\n", what);
	fflush(stdout);
}
