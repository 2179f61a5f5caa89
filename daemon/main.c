/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelectd: options, the sd-event loop, and the wiring of the parts.
 * See shmelectd(8).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmelectd.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.1.0"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: shmelectd [OPTION]...\n"
		"Own shmelect segments, reap dead members, serve the socket API.\n\n"
		"  -c, --config=FILE          configuration file (default %s)\n"
		"  -s, --socket=PATH          socket to listen on, without socket activation\n"
		"                             (default $SHMELECT_SOCKET, config, %s)\n"
		"      --state-dir=DIR        where the token floors are kept (default %s)\n"
		"      --segment=NAME         own this segment too (repeatable)\n"
		"      --operator-group=GROUP members may use handover, resign, evict\n"
		"      --max-connections=N    at most N clients at once (default %u)\n"
		"  -v, --verbose              log debug messages\n"
		"  -h, --help                 show this help\n"
		"  -V, --version              show the version\n",
		SHMELECTD_DEFAULT_CONFIG, SHMELECTD_DEFAULT_SOCKET, SHMELECTD_DEFAULT_STATE,
		SHMELECTD_MAX_CONNECTIONS);
}

/* The configuration file plus options, with defaults filled in. */
static int load_config(struct daemon *d, struct config *ret)
{
	struct config c = { 0 };
	int r;

	r = config_parse_file(d->config_path, &c);
	if (r == -ENOENT && !d->config_explicit) {
		memset(&c, 0, sizeof(c));
	} else if (r < 0) {
		if (r != -EINVAL)
			log_error("%s: %s", d->config_path, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < d->n_opt_segments; i++) {
		r = config_add_segment(&c, d->opt_segments[i]);
		if (r == -EINVAL) {
			log_error("--segment=%s: invalid segment name", d->opt_segments[i]);
			config_free(&c);
			return r;
		}
	}
	if (c.n_segs == 0 && config_add_segment(&c, SHMELECT_DEFAULT_SEGMENT) < 0) {
		config_free(&c);
		return -ENOMEM;
	}
	if (d->opt_operator_group) {
		free(c.operator_group);
		c.operator_group = strdup(d->opt_operator_group);
	}
	*ret = c;
	return 0;
}

static void resolve_operator_group(struct daemon *d)
{
	struct group gr, *res = NULL;
	char buf[4096];

	d->have_operator_gid = false;
	if (!d->cfg.operator_group)
		return;
	if (getgrnam_r(d->cfg.operator_group, &gr, buf, sizeof(buf), &res) != 0 || !res) {
		log_warning("operator-group \"%s\" does not exist; only root and uid %d may operate",
			    d->cfg.operator_group, (int)d->uid);
		return;
	}
	d->operator_gid = res->gr_gid;
	d->have_operator_gid = true;
}

static int add_segment(struct daemon *d, const struct seg_conf *conf)
{
	struct segment *s, **n;
	int r;

	r = segment_open(d, conf, &s);
	if (r < 0)
		return r;
	n = realloc(d->segs, (d->n_segs + 1) * sizeof(*n));
	if (!n) {
		segment_close(s);
		return -ENOMEM;
	}
	d->segs = n;
	d->segs[d->n_segs++] = s;
	/* the first look, before READY=1: status works at once */
	tracker_scan(s);
	return 0;
}

static void remove_segment(struct daemon *d, size_t i)
{
	segment_close(d->segs[i]);
	memmove(&d->segs[i], &d->segs[i + 1], (d->n_segs - i - 1) * sizeof(d->segs[0]));
	d->n_segs--;
}

void daemon_proc_died(struct daemon *d, struct proc *p)
{
	for (size_t i = 0; i < d->n_segs; i++)
		for (size_t j = 0; j < d->segs[i]->n_els; j++)
			if (tracker_has_proc(d->segs[i]->els[j], p))
				tracker_proc_died(d->segs[i]->els[j], p);
	notify_status(d);
}

static void reload(struct daemon *d)
{
	struct config c;

	notify_reloading(d);
	log_info("reloading %s", d->config_path);
	if (load_config(d, &c) < 0) {
		log_error("keeping the previous configuration");
		notify_ready(d);
		return;
	}
	/* segments dropped from the configuration, or whose file was
	 * replaced by another (deleted and re-created behind our back) */
	for (size_t i = d->n_segs; i-- > 0;) {
		struct segment *s = d->segs[i];
		const struct seg_conf *n = config_find_segment(&c, s->conf.name);
		bool moved = n && (!!n->path != !!s->conf.path || (n->path && strcmp(n->path, s->conf.path)));

		if (!n || moved || segment_replaced(s)) {
			log_info("segment %s: %s", s->conf.name,
				 !n ? "no longer configured" : moved ? "moved" : "file replaced; re-opening");
			remove_segment(d, i);
		}
	}
	for (size_t i = 0; i < c.n_segs; i++) {
		struct segment *s = daemon_find_segment(d, c.segs[i].name);

		if (s)
			segment_apply(s, &c.segs[i]);
		else
			add_segment(d, &c.segs[i]);
	}
	if (c.socket_path && (!d->cfg.socket_path || strcmp(c.socket_path, d->cfg.socket_path)))
		log_warning("a new socket path takes effect at the next start");
	config_free(&d->cfg);
	d->cfg = c;
	resolve_operator_group(d);
	notify_ready(d);
}

static int on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata)
{
	struct daemon *d = userdata;

	if (si->ssi_signo == SIGHUP) {
		reload(d);
		return 0;
	}
	log_info("%s: shutting down", strsignal((int)si->ssi_signo));
	d->stopping = true;
	notify_stopping(d);
	return sd_event_exit(d->event, 0);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	/* one pidfd per member process and one fd per client */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static char *first_dir(const char *list)
{
	const char *colon;

	if (!list || !*list)
		return NULL;
	colon = strchr(list, ':');
	return colon ? strndup(list, (size_t)(colon - list)) : strdup(list);
}

static int setup_paths(struct daemon *d)
{
	const char *env = getenv("SHMELECT_SOCKET");
	char *dir;

	/* --socket, $SHMELECT_SOCKET, socket =, $RUNTIME_DIRECTORY, default */
	if (d->opt_socket)
		d->socket_path = strdup(d->opt_socket);
	else if (env && *env)
		d->socket_path = strdup(env);
	else if (d->cfg.socket_path)
		d->socket_path = strdup(d->cfg.socket_path);
	else if ((dir = first_dir(getenv("RUNTIME_DIRECTORY")))) {
		if (asprintf(&d->socket_path, "%s/shmelectd.sock", dir) < 0)
			d->socket_path = NULL;
		free(dir);
	} else
		d->socket_path = strdup(SHMELECTD_DEFAULT_SOCKET);

	/* --state-dir, state-dir =, $STATE_DIRECTORY (StateDirectory=), default */
	if (d->opt_state_dir)
		d->state_dir = strdup(d->opt_state_dir);
	else if (d->cfg.state_dir)
		d->state_dir = strdup(d->cfg.state_dir);
	else if (!(d->state_dir = first_dir(getenv("STATE_DIRECTORY"))))
		d->state_dir = strdup(SHMELECTD_DEFAULT_STATE);
	if (!d->socket_path || !d->state_dir)
		return -ENOMEM;
	if (mkdir(d->state_dir, 0755) < 0 && errno != EEXIST)
		log_warning("cannot create the state directory %s: %m; token floors are not kept",
			    d->state_dir);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "segment", required_argument, NULL, 'g' },
		{ "operator-group", required_argument, NULL, 'o' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct daemon d = { .config_path = SHMELECTD_DEFAULT_CONFIG };
	unsigned max_conns = 0;
	sigset_t mask;
	int c, r;

	while ((c = getopt_long(argc, argv, "c:s:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			d.config_explicit = true;
			break;
		case 's':
			d.opt_socket = optarg;
			break;
		case 'S':
			d.opt_state_dir = optarg;
			break;
		case 'g': {
			char **n = realloc(d.opt_segments, (d.n_opt_segments + 1) * sizeof(*n));
			if (!n)
				return EXIT_FAILURE;
			d.opt_segments = n;
			d.opt_segments[d.n_opt_segments++] = optarg;
			break;
		}
		case 'o':
			d.opt_operator_group = optarg;
			break;
		case 'm': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || v < 1 || v > 65536) {
				fprintf(stderr, "shmelectd: invalid --max-connections=%s\n", optarg);
				return EXIT_FAILURE;
			}
			max_conns = (unsigned)v;
			break;
		}
		case 'v':
			log_set_max_level(7);
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("shmelectd %s (protocol %d)\n", PACKAGE_VERSION, SHMELECTD_PROTOCOL);
			return EXIT_SUCCESS;
		default:
			usage(stderr);
			return EXIT_FAILURE;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return EXIT_FAILURE;
	}

	d.uid = geteuid();
	if (load_config(&d, &d.cfg) < 0)
		return EXIT_FAILURE;
	if (!max_conns)
		max_conns = d.cfg.max_connections ? d.cfg.max_connections : SHMELECTD_MAX_CONNECTIONS;
	resolve_operator_group(&d);
	if (setup_paths(&d) < 0)
		return EXIT_FAILURE;
	r = read_self_pidns(&d.pidns);
	if (r < 0)
		log_warning("cannot read our PID namespace (%s): dead members are left to lease expiry",
			    strerror(-r));
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);

	/* signals come through the loop (signalfd); block them first, also
	 * for the monitor threads created later */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	/* a loop of our own, not sd_event_default(): that one checks at
	 * every iteration, with a gettid() system call, that it runs in the
	 * thread that created it */
	r = sd_event_new(&d.event);
	if (r < 0)
		goto fail;
	r = sd_event_add_signal(d.event, NULL, SIGTERM, on_signal, &d);
	if (r >= 0)
		r = sd_event_add_signal(d.event, NULL, SIGINT, on_signal, &d);
	if (r >= 0)
		r = sd_event_add_signal(d.event, NULL, SIGHUP, on_signal, &d);
	if (r >= 0)
		r = hub_new(&d.hub);
	if (r >= 0)
		r = reaper_new(&d, &d.reaper);
	if (r < 0)
		goto fail;

	for (size_t i = 0; i < d.cfg.n_segs; i++)
		add_segment(&d, &d.cfg.segs[i]); /* a failure is logged; others go on */
	if (d.n_segs == 0)
		log_warning("no segment could be opened; serving the socket anyway");

	r = server_new(&d, d.socket_path, max_conns, &d.server);
	if (r < 0)
		goto fail;
	r = notify_init(&d);
	if (r < 0)
		log_warning("watchdog: %s", strerror(-r));
	notify_ready(&d);
	log_info("shmelectd %s ready: %s", PACKAGE_VERSION, d.status ? d.status : "");

	r = sd_event_loop(d.event);
	if (r < 0)
		log_error("event loop: %s", strerror(-r));

fail:
	if (r < 0 && !d.event)
		log_error("cannot start: %s", strerror(-r));
	d.server = server_free(d.server);
	while (d.n_segs)
		remove_segment(&d, d.n_segs - 1);
	free(d.segs);
	d.reaper = reaper_free(d.reaper);
	d.hub = hub_free(d.hub);
	notify_done(&d);
	protocol_done();
	sd_event_unref(d.event);
	config_free(&d.cfg);
	free(d.opt_segments);
	free(d.socket_path);
	free(d.state_dir);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
