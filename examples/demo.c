/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelect demo: several replicas elect a leader on the default segment,
 * and we break things so you can watch the failovers:
 *
 *   1. the leader is killed with SIGKILL     -> crash failover (robust futex)
 *   2. the new leader is frozen with SIGSTOP -> hang failover (lease expiry)
 *      and, thawed, learns that it lost before doing anything else
 *   3. the leader stops gracefully            -> instant handover (resign)
 *
 * Usage: demo [-n REPLICAS] [-s SEGMENT] [-e ELECTION] [-l LEASE_MS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <shmelect.h>

#define MAX_REPLICAS 16

static const char *segment_name = SHMELECT_DEFAULT_SEGMENT;
static const char *election_name = "demo";
static uint64_t lease_ms = 300;
static int n_replicas = 3;
static uint64_t t0;
static volatile sig_atomic_t quit;
static struct shmelect_elector *the_elector;

static double ms_since_start(void)
{
	return (double)(shmelect_now_ns() - t0) / 1e6;
}

static void say(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const char *who, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("%9.3f ms  %-10s %s\n", ms_since_start(), who, buf);
	fflush(stdout);
}

static const char *green = "", *red = "", *plain = "";

static void on_started(struct shmelect_elector *el, uint64_t token, void *ud)
{
	say(ud, "%sstarted leading%s, token %" PRIu64, green, plain, token);
}

static void on_stopped(struct shmelect_elector *el, uint64_t token, void *ud)
{
	say(ud, "%sstopped leading%s (token %" PRIu64 " is now void)", red, plain, token);
}

static void on_new_leader(struct shmelect_elector *el, const char *id, uint64_t token, void *ud)
{
	if (id && strcmp(id, ud))
		say(ud, "follows %s (token %" PRIu64 ")", id, token);
}

static void on_term(int sig)
{
	quit = 1;
	if (the_elector)
		shmelect_elector_stop(the_elector); /* async-signal-safe */
}

static int replica(const char *id)
{
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	struct shmelect_elector_config cfg = {
		.identity = id,
		.lease_ns = lease_ms * 1000000,
		.renew_deadline_ns = lease_ms * 1000000 * 2 / 3,
		.retry_period_ns = lease_ms * 1000000 / 6,
	};
	struct shmelect_elector_callbacks cb = {
		.started_leading = on_started,
		.stopped_leading = on_stopped,
		.new_leader = on_new_leader,
	};
	int r;

	r = shmelect_segment_open(segment_name, SHMELECT_SEGMENT_CREATE, NULL, &seg);
	if (r >= 0)
		r = shmelect_election_open(seg, election_name, SHMELECT_ELECTION_CREATE, &e);
	if (r >= 0)
		r = shmelect_elector_new(e, &cfg, &cb, (void *)id, &the_elector);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", id, strerror(-r));
		return 1;
	}
	signal(SIGTERM, on_term);
	r = shmelect_elector_run(the_elector);
	shmelect_elector_free(the_elector);
	say(id, "stopped%s", r < 0 ? " with an error" : "");
	return 0;
}

static pid_t spawn(int i, char ids[][24])
{
	pid_t pid;

	snprintf(ids[i], 24, "replica-%d", i + 1);
	pid = fork();
	if (pid == 0)
		_exit(replica(ids[i]));
	return pid;
}

/* Wait until someone leads (other than `not`), return its slot in ids[]. */
static int wait_leader(struct shmelect_election *e, char ids[][24], int n, const char *not,
		       struct shmelect_record *rec, uint64_t timeout_ms)
{
	uint64_t seq = 0, deadline = shmelect_now_ns() + timeout_ms * 1000000;

	shmelect_election_wait(e, &seq, 0);
	while (shmelect_now_ns() < deadline) {
		if (shmelect_election_observe(e, rec, NULL, 0) >= 0 && rec->has_holder && !rec->expired &&
		    (!not || strcmp(rec->holder, not)))
			for (int i = 0; i < n; i++)
				if (!strcmp(ids[i], rec->holder))
					return i;
		shmelect_election_wait(e, &seq, 1000000);
	}
	return -1;
}

static void pause_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	struct shmelect_record rec;
	char ids[MAX_REPLICAS][24];
	pid_t pids[MAX_REPLICAS];
	uint64_t t_event, old_token;
	int c, r, leader;

	while ((c = getopt(argc, argv, "n:s:e:l:h")) != -1) {
		switch (c) {
		case 'n': n_replicas = atoi(optarg); break;
		case 's': segment_name = optarg; break;
		case 'e': election_name = optarg; break;
		case 'l': lease_ms = strtoull(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: %s [-n replicas] [-s segment] [-e election] [-l lease_ms]\n", argv[0]);
			return c == 'h' ? 0 : 2;
		}
	}
	if (n_replicas < 2 || n_replicas > MAX_REPLICAS || lease_ms < 10 || lease_ms > 60000) {
		fprintf(stderr, "demo: need 2..%d replicas and a lease of 10..60000 ms\n", MAX_REPLICAS);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (isatty(STDOUT_FILENO)) {
		green = "\033[1;32m";
		red = "\033[1;31m";
		plain = "\033[0m";
	}
	t0 = shmelect_now_ns();

	r = shmelect_segment_open(segment_name, SHMELECT_SEGMENT_CREATE, NULL, &seg);
	if (r >= 0)
		r = shmelect_election_open(seg, election_name, SHMELECT_ELECTION_CREATE, &e);
	if (r < 0) {
		fprintf(stderr, "demo: cannot open segment %s: %s\n", segment_name, strerror(-r));
		return 1;
	}
	printf("shmelect demo: %d replicas, election \"%s\" on segment \"%s\", lease %" PRIu64 " ms\n\n",
	       n_replicas, election_name, segment_name, lease_ms);

	for (int i = 0; i < n_replicas; i++)
		pids[i] = spawn(i, ids);

	leader = wait_leader(e, ids, n_replicas, NULL, &rec, 5000);
	if (leader < 0)
		goto fail;
	pause_ms(500);

	/* 1. crash */
	old_token = rec.token;
	printf("\n--- 1. SIGKILL the leader %s (pid %d): its lease still has up to %" PRIu64 " ms to run\n",
	       ids[leader], (int)pids[leader], lease_ms);
	t_event = shmelect_now_ns();
	kill(pids[leader], SIGKILL);
	waitpid(pids[leader], NULL, 0);
	int dead = leader;
	leader = wait_leader(e, ids, n_replicas, ids[dead], &rec, 5000);
	if (leader < 0)
		goto fail;
	printf("--- %s leads %.3f ms after the kill, token %" PRIu64 " > %" PRIu64 " (crash noticed through the robust futex)\n",
	       ids[leader], (double)(rec.acquire_ns - t_event) / 1e6, rec.token, old_token);
	pids[dead] = spawn(dead, ids);
	pause_ms(500);

	/* 2. hang */
	old_token = rec.token;
	printf("\n--- 2. SIGSTOP the leader %s: it cannot renew, so its lease runs out\n", ids[leader]);
	kill(pids[leader], SIGSTOP);
	t_event = shmelect_now_ns();
	int frozen = leader;
	leader = wait_leader(e, ids, n_replicas, ids[frozen], &rec, 5000 + lease_ms * 2);
	if (leader < 0)
		goto fail;
	printf("--- %s leads %.3f ms after the stop (lease %" PRIu64 " ms), token %" PRIu64 " > %" PRIu64 "\n",
	       ids[leader], (double)(rec.acquire_ns - t_event) / 1e6, lease_ms, rec.token, old_token);
	printf("--- SIGCONT %s: it must learn it lost before anything else\n", ids[frozen]);
	kill(pids[frozen], SIGCONT);
	pause_ms(500);

	/* 3. graceful */
	old_token = rec.token;
	printf("\n--- 3. SIGTERM the leader %s: it resigns, a follower leads at once\n", ids[leader]);
	t_event = shmelect_now_ns();
	kill(pids[leader], SIGTERM);
	int gone = leader;
	leader = wait_leader(e, ids, n_replicas, ids[gone], &rec, 5000);
	if (leader < 0)
		goto fail;
	printf("--- %s leads %.3f ms after the signal, token %" PRIu64 " > %" PRIu64 "\n",
	       ids[leader], (double)(rec.acquire_ns - t_event) / 1e6, rec.token, old_token);
	waitpid(pids[gone], NULL, 0);
	pids[gone] = 0;
	pause_ms(300);

	printf("\n--- done: stopping the replicas\n");
	for (int i = 0; i < n_replicas; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGTERM);
	for (int i = 0; i < n_replicas; i++)
		if (pids[i] > 0)
			waitpid(pids[i], NULL, 0);
	shmelect_election_observe(e, &rec, NULL, 0);
	printf("\nelection \"%s\": %" PRIu64 " terms, last token %" PRIu64 ", holder %s\n", election_name,
	       rec.term, rec.token, rec.has_holder ? rec.holder : "(none)");
	shmelect_election_close(e);
	shmelect_segment_close(seg);
	return 0;
fail:
	fprintf(stderr, "demo: no leader emerged; this is a bug\n");
	for (int i = 0; i < n_replicas; i++)
		if (pids[i] > 0)
			kill(pids[i], SIGKILL);
	return 1;
}
