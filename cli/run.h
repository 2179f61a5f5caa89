/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelectctl run: its options and their checks (run-config.c), kept apart
 * from the wrapper itself (run.c) so that tests can reach them.
 */
#ifndef SHMELECTCTL_RUN_H
#define SHMELECTCTL_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum run_restart {
	RUN_RESTART_NO,          /* run COMMAND once; exit with its status */
	RUN_RESTART_ON_FAILURE,  /* again (in a new term) if it failed; exit if it succeeded */
	RUN_RESTART_ALWAYS,      /* again, whatever its status */
};

#define RUN_DEFAULT_LEASE_MS 2000

struct run_config {
	const char *election;
	const char *identity;        /* NULL: the library's host:pid:random */
	const char *advert;
	const char *segment;         /* NULL: the caller's default */
	bool segment_is_path;
	uint64_t lease_ns;
	uint64_t renew_deadline_ns;
	uint64_t retry_ns;
	uint64_t lock_delay_ns;
	uint64_t grace_ns;
	int32_t priority;
	bool preempt;
	bool quiet;
	enum run_restart restart;
	char **command;              /* NULL-terminated, points into argv */
};

/*
 * Parse "run ELECTION [OPTIONS] -- COMMAND [ARGS...]" (argv[0] is "run"),
 * fill in the defaults and check that the times are safe:
 *
 *   retry < renew deadline,  renew deadline + grace < lease
 *
 * Returns 0, 1 if --help was asked for, or -EINVAL with a sentence in err.
 */
int run_config_parse(int argc, char **argv, struct run_config *cfg, char *err, size_t errsize);
/* Defaults and checks only (after the fields were set by hand). */
int run_config_finish(struct run_config *cfg, bool rd_set, bool retry_set, bool grace_set,
		      char *err, size_t errsize);
void run_usage(FILE *f);

#endif
