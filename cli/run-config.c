/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelectctl run: options, defaults and the timing checks.
 *
 * Why renew deadline + grace < lease.  A member can take the lease only
 * once it has expired, at the earliest at last_renew + lease (as the holder
 * last renewed it; a takeover at expiry needs a clock value >= expiry).
 * The wrapper's elector steps down, and the wrapper stops COMMAND with
 * SIGTERM, once renewing has failed or has not succeeded for the renew
 * deadline: at the latest at last_renew + renew_deadline (while the wrapper
 * runs).  It sends SIGKILL grace later: at last_renew + renew_deadline +
 * grace, before last_renew + lease.  So while the wrapper runs, COMMAND is
 * stopped before anyone else can lead.  The rest of the argument (crashes,
 * operator actions, a stopped wrapper) is in run.c and shmelectctl(1).
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shmelect.h>

#include "run.h"

#define MS UINT64_C(1000000)

void run_usage(FILE *f)
{
	fprintf(f,
		"Usage: shmelectctl [-s SEGMENT] run ELECTION [OPTIONS] -- COMMAND [ARGS...]\n"
		"\n"
		"Campaign in ELECTION; while leading, run COMMAND with SHMELECT_ELECTION,\n"
		"SHMELECT_IDENTITY, SHMELECT_TOKEN and SHMELECT_SEGMENT in its environment.\n"
		"On losing the lead, stop COMMAND (SIGTERM, then SIGKILL after the grace\n"
		"period) before the lease can pass to anyone else.\n"
		"\n"
		"Options (times in milliseconds):\n"
		"  -i, --identity ID        member identity (default: host:pid:random)\n"
		"      --lease MS           lease duration (default %d)\n"
		"      --renew-deadline MS  step down if not renewed for this long (default lease/2)\n"
		"      --retry MS           renew and retry period (default min(lease/10, deadline/2))\n"
		"      --grace MS           SIGTERM to SIGKILL (default min(2/5 lease, what fits))\n"
		"      --priority N         higher is preferred (default 0)\n"
		"      --preempt            take over from lower-priority leaders\n"
		"      --lock-delay MS      after an unclean loss nobody leads for this long\n"
		"      --restart POLICY     no, on-failure (default) or always\n"
		"      --advert STR         value published while leading (an endpoint, say)\n"
		"  -s, --segment NAME       segment in /dev/shm (default $SHMELECT_SEGMENT, else shmelect)\n"
		"      --segment-path FILE  segment at a file path\n"
		"  -q, --quiet              log only errors\n"
		"  -h, --help               this help\n"
		"\n"
		"The times must satisfy retry < renew-deadline and renew-deadline + grace < lease.\n"
		"Exit status: COMMAND's with --restart=no; 0 after SIGTERM or when COMMAND\n"
		"succeeded (on-failure); 6 if leadership was lost with --restart=no; 1, 2 on errors.\n",
		RUN_DEFAULT_LEASE_MS);
}

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_ms(const char *opt, const char *arg, uint64_t *ret, char *err, size_t size)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (!arg || !*arg || *arg == '-')
		return fail(err, size, "%s needs a number of milliseconds, not '%s'", opt, arg ? arg : "");
	v = strtoull(arg, &end, 10);
	if (errno || *end || v > 3600ULL * 1000)
		return fail(err, size, "%s needs a number of milliseconds up to 3600000, not '%s'", opt, arg);
	*ret = (uint64_t)v * MS;
	return 0;
}

int run_config_finish(struct run_config *cfg, bool rd_set, bool retry_set, bool grace_set,
		      char *err, size_t size)
{
	uint64_t lease = cfg->lease_ns;

	if (lease < SHMELECT_LEASE_MIN_NS || lease > SHMELECT_LEASE_MAX_NS)
		return fail(err, size, "--lease must be 1 to 3600000 ms");
	if (!rd_set)
		cfg->renew_deadline_ns = lease / 2;
	if (!retry_set) {
		cfg->retry_ns = lease / 10;
		if (cfg->retry_ns > cfg->renew_deadline_ns / 2)
			cfg->retry_ns = cfg->renew_deadline_ns / 2;
		if (cfg->retry_ns == 0)
			cfg->retry_ns = 1;
	}
	if (!grace_set) {
		/* 2/5 of the lease, or what still leaves a tenth of it spare */
		uint64_t spare = lease / 10;
		cfg->grace_ns = lease * 2 / 5;
		if (cfg->renew_deadline_ns + spare >= lease)
			return fail(err, size,
				    "--renew-deadline %" PRIu64 " ms leaves no time to stop the command within "
				    "--lease %" PRIu64 " ms: make it shorter than %" PRIu64 " ms",
				    cfg->renew_deadline_ns / MS, lease / MS, (lease - spare) / MS);
		if (cfg->renew_deadline_ns + cfg->grace_ns + spare > lease)
			cfg->grace_ns = lease - spare - cfg->renew_deadline_ns;
	}
	if (cfg->renew_deadline_ns >= lease)
		return fail(err, size, "--renew-deadline (%" PRIu64 " ms) must be shorter than --lease (%" PRIu64 " ms)",
			    cfg->renew_deadline_ns / MS, lease / MS);
	if (cfg->retry_ns == 0 || cfg->retry_ns >= cfg->renew_deadline_ns)
		return fail(err, size, "--retry (%" PRIu64 " ms) must be above 0 and shorter than "
			    "--renew-deadline (%" PRIu64 " ms)", cfg->retry_ns / MS, cfg->renew_deadline_ns / MS);
	if (cfg->renew_deadline_ns + cfg->grace_ns >= lease)
		return fail(err, size,
			    "--renew-deadline %" PRIu64 " ms + --grace %" PRIu64 " ms must be less than --lease "
			    "%" PRIu64 " ms: the command must be stopped before the lease, as last renewed, "
			    "can pass to another member",
			    cfg->renew_deadline_ns / MS, cfg->grace_ns / MS, lease / MS);
	if (cfg->lock_delay_ns > SHMELECT_LEASE_MAX_NS)
		return fail(err, size, "--lock-delay is at most 3600000 ms");
	return 0;
}

enum {
	OPT_LEASE = 0x100,
	OPT_RENEW_DEADLINE,
	OPT_RETRY,
	OPT_GRACE,
	OPT_PRIORITY,
	OPT_PREEMPT,
	OPT_LOCK_DELAY,
	OPT_RESTART,
	OPT_ADVERT,
	OPT_SEGMENT_PATH,
};

static const struct option run_options[] = {
	{ "identity", required_argument, NULL, 'i' },
	{ "lease", required_argument, NULL, OPT_LEASE },
	{ "renew-deadline", required_argument, NULL, OPT_RENEW_DEADLINE },
	{ "retry", required_argument, NULL, OPT_RETRY },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "priority", required_argument, NULL, OPT_PRIORITY },
	{ "preempt", no_argument, NULL, OPT_PREEMPT },
	{ "lock-delay", required_argument, NULL, OPT_LOCK_DELAY },
	{ "restart", required_argument, NULL, OPT_RESTART },
	{ "advert", required_argument, NULL, OPT_ADVERT },
	{ "segment", required_argument, NULL, 's' },
	{ "segment-path", required_argument, NULL, OPT_SEGMENT_PATH },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

int run_config_parse(int argc, char **argv, struct run_config *cfg, char *err, size_t size)
{
	bool rd_set = false, retry_set = false, grace_set = false;
	int opt, r;
	long v;
	char *end;

	memset(cfg, 0, sizeof(*cfg));
	cfg->lease_ns = RUN_DEFAULT_LEASE_MS * MS;
	cfg->restart = RUN_RESTART_ON_FAILURE;

	/* "+": stop at the first non-option.  The first one is ELECTION; the
	 * next (or whatever follows "--") starts COMMAND. */
	optind = 0; /* glibc: start afresh */
	opterr = 0;
	for (;;) {
		opt = getopt_long(argc, argv, "+:i:s:qh", run_options, NULL);
		if (opt == -1) {
			bool dashdash = optind > 1 && optind <= argc && !strcmp(argv[optind - 1], "--");

			if (!cfg->election && !dashdash && optind < argc) {
				cfg->election = argv[optind];
				/* carry on after ELECTION (getopt restarts cleanly) */
				argv += optind;
				argc -= optind;
				optind = 0;
				continue;
			}
			break;
		}
		switch (opt) {
		case 'i':
			cfg->identity = optarg;
			if (!*optarg || strlen(optarg) > SHMELECT_IDENTITY_MAX)
				return fail(err, size, "--identity must be 1 to %d bytes", SHMELECT_IDENTITY_MAX);
			break;
		case OPT_LEASE:
			r = parse_ms("--lease", optarg, &cfg->lease_ns, err, size);
			if (r < 0)
				return r;
			break;
		case OPT_RENEW_DEADLINE:
			r = parse_ms("--renew-deadline", optarg, &cfg->renew_deadline_ns, err, size);
			if (r < 0)
				return r;
			rd_set = true;
			break;
		case OPT_RETRY:
			r = parse_ms("--retry", optarg, &cfg->retry_ns, err, size);
			if (r < 0)
				return r;
			retry_set = true;
			break;
		case OPT_GRACE:
			r = parse_ms("--grace", optarg, &cfg->grace_ns, err, size);
			if (r < 0)
				return r;
			grace_set = true;
			break;
		case OPT_LOCK_DELAY:
			r = parse_ms("--lock-delay", optarg, &cfg->lock_delay_ns, err, size);
			if (r < 0)
				return r;
			break;
		case OPT_PRIORITY:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || v < INT32_MIN || v > INT32_MAX)
				return fail(err, size, "--priority needs an integer, not '%s'", optarg);
			cfg->priority = (int32_t)v;
			break;
		case OPT_PREEMPT:
			cfg->preempt = true;
			break;
		case OPT_RESTART:
			if (!strcmp(optarg, "no"))
				cfg->restart = RUN_RESTART_NO;
			else if (!strcmp(optarg, "on-failure"))
				cfg->restart = RUN_RESTART_ON_FAILURE;
			else if (!strcmp(optarg, "always"))
				cfg->restart = RUN_RESTART_ALWAYS;
			else
				return fail(err, size, "--restart is no, on-failure or always, not '%s'", optarg);
			break;
		case OPT_ADVERT:
			if (strlen(optarg) > SHMELECT_ADVERT_MAX)
				return fail(err, size, "--advert is at most %d bytes", SHMELECT_ADVERT_MAX);
			cfg->advert = optarg;
			break;
		case 's':
			cfg->segment = optarg;
			cfg->segment_is_path = false;
			break;
		case OPT_SEGMENT_PATH:
			cfg->segment = optarg;
			cfg->segment_is_path = true;
			break;
		case 'q':
			cfg->quiet = true;
			break;
		case 'h':
			return 1;
		case ':':
			return fail(err, size, "option %s needs a value", argv[optind - 1]);
		default:
			return fail(err, size, "unknown option '%s' for run (put COMMAND's options after --)",
				    argv[optind - 1]);
		}
	}
	if (!cfg->election)
		return fail(err, size, "run needs an election name: run ELECTION [OPTIONS] -- COMMAND [ARGS...]");
	if (!*cfg->election || strlen(cfg->election) > SHMELECT_NAME_MAX)
		return fail(err, size, "the election name must be 1 to %d bytes", SHMELECT_NAME_MAX);
	if (optind >= argc)
		return fail(err, size, "run needs a command: run %s [OPTIONS] -- COMMAND [ARGS...]",
			    cfg->election);
	cfg->command = argv + optind;
	return run_config_finish(cfg, rd_set, retry_set, grace_set, err, size);
}
