/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A command for "shmelectctl run" tests that logs when it runs.
 *
 *   overlap-child LOG             run: append "start", then a "beat" every
 *                                 millisecond, and "end" on SIGTERM
 *   overlap-child --check LOG     check the log: exit 0 if no two commands
 *                                 ever ran at once and tokens only grew
 *
 * Each line is "KIND PID TOKEN TIME_NS IDENTITY": TOKEN and IDENTITY from
 * $SHMELECT_TOKEN and $SHMELECT_IDENTITY, TIME_NS from shmelect_now_ns().
 * Lines are appended under an exclusive
 * flock(2) and the time is read while holding it, so the order of lines is
 * the order of times.  Two commands overlap iff, after the first line of a
 * command, a line of an earlier command follows: the check needs no clock
 * comparison and no threshold.  A SIGKILLed command leaves no "end"; its
 * last "beat" is the last moment it is known to have run.
 *
 * Environment for tests: OVERLAP_IGNORE_TERM=1 ignores SIGTERM (so only
 * SIGKILL stops it); OVERLAP_EXIT_AFTER_MS=N and OVERLAP_EXIT_STATUS=S make
 * it exit by itself; OVERLAP_INTERVAL_US sets the beat period.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <shmelect.h>

static int log_fd = -1;
static uint64_t token;
static const char *identity = "-";
static volatile sig_atomic_t term;

static void append(const char *kind)
{
	char line[256];
	int n;

	while (flock(log_fd, LOCK_EX) < 0 && errno == EINTR)
		;
	n = snprintf(line, sizeof(line), "%s %d %" PRIu64 " %" PRIu64 " %s\n", kind, (int)getpid(), token,
		     shmelect_now_ns(), identity);
	if (write(log_fd, line, (size_t)n) != n)
		_exit(3);
	flock(log_fd, LOCK_UN);
}

static void on_term(int sig)
{
	term = 1;
}

static int run(const char *path)
{
	const char *s;
	uint64_t interval_us = 1000, exit_after_ms = 0, start;
	int exit_status = 0;
	struct sigaction sa = { .sa_handler = on_term };

	log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		perror(path);
		return 2;
	}
	s = getenv("SHMELECT_IDENTITY");
	if (s && *s && !strchr(s, ' '))
		identity = s;
	s = getenv("SHMELECT_TOKEN");
	token = s ? strtoull(s, NULL, 10) : 0;
	if ((s = getenv("OVERLAP_INTERVAL_US")))
		interval_us = strtoull(s, NULL, 10);
	if ((s = getenv("OVERLAP_EXIT_AFTER_MS")))
		exit_after_ms = strtoull(s, NULL, 10);
	if ((s = getenv("OVERLAP_EXIT_STATUS")))
		exit_status = atoi(s);
	if ((s = getenv("OVERLAP_IGNORE_TERM")) && !strcmp(s, "1"))
		sa.sa_handler = SIG_IGN;
	sigaction(SIGTERM, &sa, NULL);

	start = shmelect_now_ns();
	append("start");
	while (!term) {
		struct timespec ts = { 0, (long)(interval_us * 1000) };

		nanosleep(&ts, NULL);
		if (term)
			break;
		append("beat");
		if (exit_after_ms && shmelect_now_ns() - start >= exit_after_ms * 1000000) {
			append("exit");
			return exit_status;
		}
	}
	append("end");
	return 0;
}

static int check(const char *path)
{
	FILE *f = fopen(path, "re");
	char kind[16];
	int pid, cur = 0, n_cmds = 0, lineno = 0;
	uint64_t tok, t, cur_token = 0;
	int *done = NULL;
	size_t n_done = 0;

	if (!f) {
		perror(path);
		return 2;
	}
	char *buf = NULL;
	size_t bufsize = 0;

	while (getline(&buf, &bufsize, f) > 0) {
		lineno++;
		if (sscanf(buf, "%15s %d %" SCNu64 " %" SCNu64, kind, &pid, &tok, &t) != 4) {
			fprintf(stderr, "overlap: line %d is malformed\n", lineno);
			return 1;
		}
		for (size_t i = 0; i < n_done; i++)
			if (done[i] == pid) {
				fprintf(stderr, "overlap: line %d: %s of pid %d (token %" PRIu64 ") after pid %d "
					"(token %" PRIu64 ") had started\n", lineno, kind, pid, tok, cur, cur_token);
				return 1;
			}
		if (pid == cur)
			continue;
		if (strcmp(kind, "start")) {
			fprintf(stderr, "overlap: line %d: %s of pid %d before its start\n", lineno, kind, pid);
			return 1;
		}
		if (cur && tok <= cur_token) {
			fprintf(stderr, "overlap: line %d: token %" PRIu64 " of pid %d is not above %" PRIu64 "\n",
				lineno, tok, pid, cur_token);
			return 1;
		}
		if (cur) {
			int *nd = realloc(done, (n_done + 1) * sizeof(*nd));
			if (!nd)
				return 2;
			done = nd;
			done[n_done++] = cur;
		}
		cur = pid;
		cur_token = tok;
		n_cmds++;
	}
	printf("%d commands, %d lines, no overlap, tokens grew\n", n_cmds, lineno);
	free(buf);
	free(done);
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--check"))
		return check(argv[2]);
	if (argc == 2)
		return run(argv[1]);
	fprintf(stderr, "usage: overlap-child LOG | overlap-child --check LOG\n");
	return 2;
}
