/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelectctl: look at and steer shmelect elections, and run any command
 * active-passive.  Options, verb dispatch and mode choice; the work is in
 * direct.c (the segment), client.c (shmelectd), output.c and run.c.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <shmelect.h>

#include "ctl.h"

volatile int ctl_interrupted;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shmelectctl [OPTIONS] VERB [ARGS]\n"
		"\n"
		"Look at and steer shmelect elections; run a command active-passive.\n"
		"\n"
		"Verbs:\n"
		"  list                          elections in the segment, with their leaders\n"
		"  status ELECTION               the lease record and the members of an election\n"
		"  watch [ELECTION]              print leader/no_leader/joined/left events until ^C\n"
		"  handover ELECTION --to ID [--force]\n"
		"                                hand the lease to member ID\n"
		"  resign ELECTION               ask the leader to resign\n"
		"  evict ELECTION                end the current term now\n"
		"  run ELECTION [RUN OPTIONS] -- COMMAND [ARGS...]\n"
		"                                run COMMAND only while leading (see run --help)\n"
		"\n"
		"Options:\n"
		"  -s, --segment NAME     segment name in /dev/shm (default: $SHMELECT_SEGMENT or %s)\n"
		"      --segment-path FILE  segment at a file path instead\n"
		"  -j, --json             print JSON objects, one per line (the daemon's shapes)\n"
		"      --socket PATH      shmelectd's socket (default: $SHMELECT_SOCKET or %s)\n"
		"      --direct           read the segment with the library, never ask shmelectd\n"
		"      --daemon           ask shmelectd only (exit 5 if it cannot be reached)\n"
		"  -h, --help             this help; 'shmelectctl run --help' for run's options\n"
		"  -V, --version          version\n"
		"\n"
		"Without --direct or --daemon, shmelectctl asks shmelectd if its socket accepts\n"
		"a connection and it owns the segment, and reads the segment itself otherwise.\n"
		"\n"
		"Exit status: 0 ok, 1 failure, 2 usage, 3 no such segment, election or member,\n"
		"4 permission denied, 5 shmelectd not running (--daemon), 6 run: leadership lost.\n"
		"See shmelectctl(1).\n",
		SHMELECT_DEFAULT_SEGMENT, CTL_DEFAULT_SOCKET);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "shmelectctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'shmelectctl --help'.\n");
	return CTL_EXIT_USAGE;
}

enum {
	OPT_SEGMENT_PATH = 0x100,
	OPT_SOCKET,
	OPT_DIRECT,
	OPT_DAEMON,
	OPT_TO,
	OPT_FORCE,
};

static const struct option global_options[] = {
	{ "segment", required_argument, NULL, 's' },
	{ "segment-path", required_argument, NULL, OPT_SEGMENT_PATH },
	{ "json", no_argument, NULL, 'j' },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "daemon", no_argument, NULL, OPT_DAEMON },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ "to", required_argument, NULL, OPT_TO },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ 0 }
};

/* 1: handled; 0: not a global option; -1: conflict (message printed) */
static int ctl_global_option(struct ctl *c, int opt, const char *arg)
{
	switch (opt) {
	case 's':
		c->segment = arg;
		c->segment_is_path = false;
		return 1;
	case OPT_SEGMENT_PATH:
		c->segment = arg;
		c->segment_is_path = true;
		return 1;
	case 'j':
		c->json = true;
		return 1;
	case OPT_SOCKET:
		c->socket_path = arg;
		return 1;
	case OPT_DIRECT:
	case OPT_DAEMON: {
		enum ctl_mode m = opt == OPT_DIRECT ? CTL_MODE_DIRECT : CTL_MODE_DAEMON;
		if (c->mode != CTL_MODE_AUTO && c->mode != m) {
			usage_error("%s", "--direct and --daemon exclude each other");
			return -1;
		}
		c->mode = m;
		return 1;
	}
	}
	return 0;
}

static void on_interrupt(int sig)
{
	ctl_interrupted = 1;
}

/* Without --daemon: does the daemon we reached own our segment?  Its
 * version answer lists the segments it owns (a daemon that does not say is
 * asked anyway, as before).  If not, or if it does not answer, the segment
 * is read directly, as if no daemon ran: the answers are the same. */
static bool daemon_owns_segment(struct ctl *c)
{
	struct ctl_error ignored = { 0 };
	json_object *req = json_object_new_object(), *resp = NULL, *segs;
	bool owns = false;

	json_object_object_add(req, "verb", json_object_new_string("version"));
	json_object_object_add(req, "id", json_object_new_int64((int64_t)++c->next_id));
	json_object_object_add(req, "segment", json_object_new_string(c->segment));
	if (client_call(c, req, &resp, &ignored) == 0) {
		if (!json_object_object_get_ex(resp, "segments", &segs) ||
		    !json_object_is_type(segs, json_type_array)) {
			owns = true;
		} else {
			for (size_t i = 0; i < json_object_array_length(segs); i++) {
				const char *n = json_object_get_string(json_object_array_get_idx(segs, i));
				if (n && !c->segment_is_path && !strcmp(n, c->segment))
					owns = true;
			}
		}
	}
	json_object_put(resp);
	json_object_put(req);
	return owns;
}

/* The daemon if we may and can, else the segment. */
static int choose_mode(struct ctl *c, struct ctl_error *e)
{
	struct ctl_error ignored = { 0 };

	if (c->mode == CTL_MODE_DIRECT)
		return 0;
	if (c->mode == CTL_MODE_DAEMON)
		return client_connect(c, e);
	if (client_connect(c, &ignored) == 0 && !daemon_owns_segment(c)) {
		close(c->sock);
		c->sock = -1;
	}
	return 0;
}

static int call(struct ctl *c, json_object *req, json_object **ret, struct ctl_error *e)
{
	json_object_object_add(req, "id", json_object_new_int64((int64_t)++c->next_id));
	json_object_object_add(req, "segment", json_object_new_string(c->segment));
	return c->sock >= 0 ? client_call(c, req, ret, e) : direct_call(c, req, ret, e);
}

static int print_event(json_object *ev, void *userdata)
{
	struct ctl *c = userdata;

	if (c->json) {
		output_json(ev);
	} else if (json_object_object_get_ex(ev, "ok", NULL)) {
		const char *what = obj_str(ev, "watching");

		if (what)
			printf("watching election '%s' in segment '%s' %s; ^C to stop\n", what, c->segment,
			       c->sock >= 0 ? "through shmelectd" : "directly");
		else
			printf("watching every election in segment '%s' %s; ^C to stop\n", c->segment,
			       c->sock >= 0 ? "through shmelectd" : "directly");
		fflush(stdout);
	} else {
		output_event(ev);
	}
	return 0;
}

static void print_write_result(const char *verb, const char *election, const char *to,
			       json_object *resp)
{
	uint64_t token;

	if (!strcmp(verb, "evict")) {
		if (obj_bool(resp, "evicted"))
			printf("election '%s': evicted the leader; the next one gets a new token\n", election);
		else
			printf("election '%s': there was no leader to evict\n", election);
	} else if (!strcmp(verb, "resign")) {
		printf("election '%s': asked the leader to resign\n", election);
	} else if (obj_bool(resp, "done")) {
		if (obj_u64(resp, "token", &token))
			printf("election '%s': %s leads now, token %llu\n", election, to,
			       (unsigned long long)token);
		else
			printf("election '%s': %s leads now\n", election, to);
	} else {
		printf("election '%s': asked the leader to hand over to %s (not carried out yet: "
		       "the leader's elector does it at its next step)\n", election, to);
	}
}

/*
 * shmelectd answers a handover request at once; the leader's elector
 * carries it out when it wakes.  Wait up to 2 s for that, as direct mode
 * does, so that "done" means the same in both.
 */
static void handover_wait(struct ctl *c, const char *election, const char *to, json_object *resp)
{
	uint64_t deadline = shmelect_now_ns() + UINT64_C(2000000000);

	while (shmelect_now_ns() < deadline) {
		struct ctl_error ignored = { 0 };
		json_object *req = json_object_new_object(), *st = NULL, *s;
		struct timespec ts = { 0, 10000000 };
		uint64_t token;
		bool done = false;

		json_object_object_add(req, "verb", json_object_new_string("status"));
		json_object_object_add(req, "election", json_object_new_string(election));
		if (call(c, req, &st, &ignored) == 0 && json_object_object_get_ex(st, "status", &s)) {
			const char *h = obj_str(s, "holder");

			done = h && !strcmp(h, to) && !obj_bool(s, "expired");
			if (done) {
				json_object_object_add(resp, "done", json_object_new_boolean(1));
				if (obj_u64(s, "token", &token))
					json_object_object_add(resp, "token", json_object_new_uint64(token));
			}
		}
		json_object_put(st);
		json_object_put(req);
		if (done)
			return;
		nanosleep(&ts, NULL);
	}
}

int main(int argc, char **argv)
{
	struct ctl c = {
		.segment = SHMELECT_DEFAULT_SEGMENT,
		.socket_path = CTL_DEFAULT_SOCKET,
		.sock = -1,
	};
	struct ctl_error e = { 0 };
	const char *verb, *to = NULL, *env;
	bool force = false;
	json_object *req = NULL, *resp = NULL;
	int opt, r;

	env = getenv("SHMELECT_SEGMENT");
	if (env && *env) {
		c.segment = env;
		c.segment_is_path = strchr(env + 1, '/') != NULL;
	}
	env = getenv("SHMELECT_SOCKET");
	if (env && *env)
		c.socket_path = env;

	/* Global options before the verb. */
	while ((opt = getopt_long(argc, argv, "+s:jhV", global_options, NULL)) != -1) {
		r = ctl_global_option(&c, opt, optarg);
		if (r < 0)
			return CTL_EXIT_USAGE;
		if (r)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("shmelectctl %s (protocol %d)\n", PACKAGE_VERSION, CTL_PROTOCOL);
			return CTL_EXIT_OK;
		case OPT_TO:
		case OPT_FORCE:
			return usage_error("%s goes after 'handover ELECTION'", "--to/--force");
		default:
			fprintf(stderr, "Try 'shmelectctl --help'.\n");
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("%s", "no verb given (list, status, watch, handover, resign, evict, run)");
	verb = argv[optind];

	if (!strcmp(verb, "run"))
		return run_main(&c, argc - optind, argv + optind);

	/* The verb's own arguments and options, global ones allowed too. */
	int vargc = argc - optind;
	char **vargv = argv + optind;
	const char *positional[2] = { NULL, NULL };
	int npos = 0;

	optind = 0; /* glibc: start afresh, permuting this time */
	while ((opt = getopt_long(vargc, vargv, "s:jhV", global_options, NULL)) != -1) {
		r = ctl_global_option(&c, opt, optarg);
		if (r < 0)
			return CTL_EXIT_USAGE;
		if (r)
			continue;
		switch (opt) {
		case 'h':
			usage(stdout);
			return CTL_EXIT_OK;
		case 'V':
			printf("shmelectctl %s (protocol %d)\n", PACKAGE_VERSION, CTL_PROTOCOL);
			return CTL_EXIT_OK;
		case OPT_TO:
			to = optarg;
			break;
		case OPT_FORCE:
			force = true;
			break;
		default:
			fprintf(stderr, "Try 'shmelectctl --help'.\n");
			return CTL_EXIT_USAGE;
		}
	}
	for (int i = optind; i < vargc; i++) {
		if (npos == 2)
			return usage_error("unexpected argument '%s'", vargv[i]);
		positional[npos++] = vargv[i];
	}

	bool needs_election = !strcmp(verb, "status") || !strcmp(verb, "handover") ||
			      !strcmp(verb, "resign") || !strcmp(verb, "evict");
	bool takes_election = needs_election || !strcmp(verb, "watch");
	if (!takes_election && strcmp(verb, "list"))
		return usage_error("unknown verb '%s' (list, status, watch, handover, resign, evict, run)",
				   verb);
	if (needs_election && npos < 1)
		return usage_error("'%s' needs an election name", verb);
	if (npos > (takes_election ? 1 : 0))
		return usage_error("unexpected argument '%s'", positional[takes_election ? 1 : 0]);
	if ((to || force) && strcmp(verb, "handover"))
		return usage_error("%s only go with 'handover'", "--to and --force");
	if (!strcmp(verb, "handover") && !to)
		return usage_error("%s", "'handover' needs --to ID (the member to hand the lease to)");

	r = choose_mode(&c, &e);
	if (r < 0)
		goto fail;

	req = json_object_new_object();
	json_object_object_add(req, "verb", json_object_new_string(verb));
	if (positional[0])
		json_object_object_add(req, "election", json_object_new_string(positional[0]));
	if (to)
		json_object_object_add(req, "to", json_object_new_string(to));
	if (force)
		json_object_object_add(req, "force", json_object_new_boolean(1));

	if (!strcmp(verb, "watch")) {
		struct sigaction sa = { .sa_handler = on_interrupt };

		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		if (c.sock >= 0) {
			json_object_object_add(req, "id", json_object_new_int64((int64_t)++c.next_id));
			json_object_object_add(req, "segment", json_object_new_string(c.segment));
			r = client_watch(&c, req, print_event, &c, &e);
		} else {
			r = direct_watch(&c, positional[0], print_event, &c, &e);
		}
		if (r < 0)
			goto fail;
		json_object_put(req);
		return CTL_EXIT_OK;
	}

	r = call(&c, req, &resp, &e);
	if (r < 0)
		goto fail;
	if (!strcmp(verb, "handover") && !force && !obj_bool(resp, "done") && c.sock >= 0)
		handover_wait(&c, positional[0], to, resp);
	if (c.json)
		output_json(resp);
	else if (!strcmp(verb, "list"))
		output_list(resp);
	else if (!strcmp(verb, "status"))
		output_status(resp);
	else
		print_write_result(verb, positional[0], to, resp);
	json_object_put(resp);
	json_object_put(req);
	if (c.sock >= 0)
		close(c.sock);
	return CTL_EXIT_OK;

fail:
	if (!e.err)
		ctl_error_set(&e, -r, "%s", strerror(-r));
	output_error(&c, &e);
	json_object_put(req);
	return e.exit_code ? e.exit_code : CTL_EXIT_FAILURE;
}
