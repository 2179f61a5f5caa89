/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelectctl run: option parsing, defaults and the timing rule
 * renew_deadline + grace < lease (cli/run-config.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <shmelect.h>

#include "run.h"

#define MS UINT64_C(1000000)

static char err[512];

static int parse(struct run_config *cfg, ...)
{
	static char *argv[64]; /* cfg->command points into it */
	int argc = 0;
	va_list ap;

	va_start(ap, cfg);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = 0;
	return run_config_parse(argc, argv, cfg, err, sizeof(err));
}

Test(run_config, defaults_are_safe)
{
	struct run_config cfg;

	cr_assert_eq(parse(&cfg, "run", "demo", "--", "true", NULL), 0, "%s", err);
	cr_assert_str_eq(cfg.election, "demo");
	cr_assert_str_eq(cfg.command[0], "true");
	cr_assert_eq(cfg.lease_ns, RUN_DEFAULT_LEASE_MS * MS);
	cr_assert_eq(cfg.renew_deadline_ns, 1000 * MS);
	cr_assert_eq(cfg.retry_ns, 200 * MS);
	cr_assert_eq(cfg.grace_ns, 800 * MS);
	cr_assert_lt(cfg.renew_deadline_ns + cfg.grace_ns, cfg.lease_ns);
	cr_assert_lt(cfg.retry_ns, cfg.renew_deadline_ns);
	cr_assert_eq(cfg.restart, RUN_RESTART_ON_FAILURE);
}

Test(run_config, derived_from_lease)
{
	struct run_config cfg;

	cr_assert_eq(parse(&cfg, "run", "demo", "--lease", "300", "--", "x", NULL), 0, "%s", err);
	cr_assert_eq(cfg.renew_deadline_ns, 150 * MS);
	cr_assert_eq(cfg.retry_ns, 30 * MS);
	cr_assert_eq(cfg.grace_ns, 120 * MS);
	cr_assert_lt(cfg.renew_deadline_ns + cfg.grace_ns, cfg.lease_ns);
}

Test(run_config, grace_shrinks_to_fit_a_long_deadline)
{
	struct run_config cfg;

	cr_assert_eq(parse(&cfg, "run", "demo", "--lease", "1000", "--renew-deadline", "800", "--", "x",
			   NULL), 0, "%s", err);
	cr_assert_lt(cfg.renew_deadline_ns + cfg.grace_ns, cfg.lease_ns);
	cr_assert_eq(cfg.grace_ns, 100 * MS);
}

Test(run_config, unsafe_grace_is_refused)
{
	struct run_config cfg;

	cr_assert_eq(parse(&cfg, "run", "demo", "--lease", "1000", "--renew-deadline", "500", "--grace",
			   "500", "--", "x", NULL), -EINVAL);
	cr_assert(strstr(err, "must be less than --lease"), "%s", err);
	cr_assert_eq(parse(&cfg, "run", "demo", "--lease", "1000", "--renew-deadline", "500", "--grace",
			   "499", "--", "x", NULL), 0, "%s", err);
}

Test(run_config, deadline_without_room_is_refused)
{
	struct run_config cfg;

	cr_assert_eq(parse(&cfg, "run", "demo", "--lease", "1000", "--renew-deadline", "950", "--", "x",
			   NULL), -EINVAL);
	cr_assert(strstr(err, "leaves no time"), "%s", err);
	cr_assert_eq(parse(&cfg, "run", "demo", "--lease", "1000", "--renew-deadline", "1000", "--grace",
			   "0", "--", "x", NULL), -EINVAL);
}

Test(run_config, retry_below_deadline)
{
	struct run_config cfg;

	cr_assert_eq(parse(&cfg, "run", "demo", "--renew-deadline", "100", "--retry", "100", "--", "x",
			   NULL), -EINVAL);
	cr_assert(strstr(err, "--retry"), "%s", err);
	cr_assert_eq(parse(&cfg, "run", "demo", "--renew-deadline", "100", "--", "x", NULL), 0, "%s", err);
	cr_assert_lt(cfg.retry_ns, cfg.renew_deadline_ns);
}

Test(run_config, options_before_and_after_the_election)
{
	struct run_config cfg;

	cr_assert_eq(parse(&cfg, "run", "--priority", "5", "demo", "--preempt", "-i", "a", "--restart",
			   "always", "--advert", "x:1", "--", "cmd", "--flag", NULL), 0, "%s", err);
	cr_assert_eq(cfg.priority, 5);
	cr_assert(cfg.preempt);
	cr_assert_str_eq(cfg.identity, "a");
	cr_assert_eq(cfg.restart, RUN_RESTART_ALWAYS);
	cr_assert_str_eq(cfg.advert, "x:1");
	cr_assert_str_eq(cfg.command[0], "cmd");
	cr_assert_str_eq(cfg.command[1], "--flag");
	cr_assert_null(cfg.command[2]);
}

Test(run_config, command_without_dashdash)
{
	struct run_config cfg;

	cr_assert_eq(parse(&cfg, "run", "demo", "sleep", "1", NULL), 0, "%s", err);
	cr_assert_str_eq(cfg.command[0], "sleep");
	cr_assert_str_eq(cfg.command[1], "1");
}

Test(run_config, usage_errors)
{
	struct run_config cfg;

	cr_assert_eq(parse(&cfg, "run", NULL), -EINVAL);
	cr_assert(strstr(err, "election"), "%s", err);
	cr_assert_eq(parse(&cfg, "run", "demo", NULL), -EINVAL);
	cr_assert(strstr(err, "command"), "%s", err);
	cr_assert_eq(parse(&cfg, "run", "demo", "--", NULL), -EINVAL);
	cr_assert_eq(parse(&cfg, "run", "demo", "--lease", "abc", "--", "x", NULL), -EINVAL);
	cr_assert_eq(parse(&cfg, "run", "demo", "--lease", "-5", "--", "x", NULL), -EINVAL);
	cr_assert_eq(parse(&cfg, "run", "demo", "--restart", "sometimes", "--", "x", NULL), -EINVAL);
	cr_assert_eq(parse(&cfg, "run", "demo", "--bogus", "--", "x", NULL), -EINVAL);
	cr_assert(strstr(err, "--bogus"), "%s", err);
	cr_assert_eq(parse(&cfg, "run", "demo", "--lease", NULL), -EINVAL);
	cr_assert_eq(parse(&cfg, "run", "demo", "--help", NULL), 1);
}
