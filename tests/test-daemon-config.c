/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelectd.conf(5) parsing (daemon/config.c), without running the daemon.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "shmelectd.h"

/* config.c only logs; keep its messages out of the TAP stream (stdout) */
static void quiet(void)
{
	log_set_max_level(-1);
}

TestSuite(daemon_config, .init = quiet);

Test(daemon_config, empty_file_means_defaults)
{
	struct config c;

	cr_assert_eq(config_parse_string("", "t", &c), 0);
	cr_expect_eq(c.n_segs, 0);
	cr_expect_null(c.operator_group);
	cr_expect_null(c.socket_path);
	cr_expect_eq(c.max_connections, 0);
	config_free(&c);
}

Test(daemon_config, full_file)
{
	static const char text[] =
		"# comment\n"
		"; another\n"
		"socket = /run/x/y.sock\n"
		"state-dir = \"/var/lib/x\"\n"
		"operator-group = ops\n"
		"max-connections = 10\n"
		"\n"
		"[segment shmelect]\n"
		"elections = 4096\n"
		"candidates = 8\n"
		"mode = 0660\n"
		"group = svc\n"
		"[segment \"files\"]\n"
		"path = /var/lib/x/seg\n"
		"mode = 600\n"
		"[daemon]\n"
		"max-connections = 11\n";
	const struct seg_conf *s;
	struct config c;

	cr_assert_eq(config_parse_string(text, "t", &c), 0);
	cr_expect_str_eq(c.socket_path, "/run/x/y.sock");
	cr_expect_str_eq(c.state_dir, "/var/lib/x");
	cr_expect_str_eq(c.operator_group, "ops");
	cr_expect_eq(c.max_connections, 11);
	cr_assert_eq(c.n_segs, 2);
	s = config_find_segment(&c, "shmelect");
	cr_assert_not_null(s);
	cr_expect_eq(s->elections, 4096);
	cr_expect_eq(s->candidates, 8);
	cr_expect_eq(s->mode, 0660);
	cr_expect_str_eq(s->group, "svc");
	cr_expect_null(s->path);
	s = config_find_segment(&c, "files");
	cr_assert_not_null(s);
	cr_expect_str_eq(s->path, "/var/lib/x/seg");
	cr_expect_eq(s->mode, 0600);
	cr_expect_eq(s->elections, 0, "unset capacity means the library default");
	config_free(&c);
}

Test(daemon_config, default_mode_is_0644)
{
	struct config c;

	cr_assert_eq(config_parse_string("[segment a]\n", "t", &c), 0);
	cr_expect_eq(c.segs[0].mode, 0644);
	config_free(&c);
}

Test(daemon_config, errors)
{
	static const char *bad[] = {
		"nonsense\n",
		"unknown = 1\n",
		"[segment a]\nunknown = 1\n",
		"[segment a]\nelections = 0\n",
		"[segment a]\nelections = 65537\n",
		"[segment a]\ncandidates = 1025\n",
		"[segment a]\ncandidates = -1\n",
		"[segment a]\nmode = 0800\n",
		"[segment a]\nmode = 10000\n",
		"[segment a]\npath = relative\n",
		"[segment a/b]\n",
		"[segment ..]\n",
		"[segment]\n",
		"[segments a]\n",
		"[segment a\n",
		"[segment a] trailing\n",
		"[segment a]\n[segment a]\n",
		"[segment a]\npath = /x\n[segment b]\npath = /x\n",
		"socket = relative\n",
		"max-connections = 0\n",
		"max-connections = many\n",
		"operator-group =\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config c = { 0 };
		cr_expect_eq(config_parse_string(bad[i], "t", &c), -EINVAL, "accepted: %s", bad[i]);
	}
}

Test(daemon_config, add_segment)
{
	struct config c = { 0 };

	cr_expect_eq(config_add_segment(&c, "one"), 0);
	cr_expect_eq(config_add_segment(&c, "one"), -EEXIST);
	cr_expect_eq(config_add_segment(&c, "a/b"), -EINVAL);
	cr_expect_eq(config_add_segment(&c, ""), -EINVAL);
	cr_expect_eq(c.n_segs, 1);
	config_free(&c);
}

Test(daemon_config, file_missing_and_present)
{
	char path[] = "/tmp/shmelectd-conf-XXXXXX";
	struct config c;
	int fd;

	cr_expect_eq(config_parse_file("/nonexistent/shmelectd.conf", &c), -ENOENT);
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "[segment z]\nelections = 2\n", 26), 26);
	close(fd);
	cr_expect_eq(config_parse_file(path, &c), 0);
	cr_expect_eq(c.n_segs, 1);
	cr_expect_eq(c.segs[0].elections, 2);
	config_free(&c);
	unlink(path);
}
