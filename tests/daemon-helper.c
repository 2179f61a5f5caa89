/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A helper that the shmelectd shell tests drive.  Not a test itself.
 *
 *   daemon-helper candidate SEG ELECTION IDENTITY LEASE_MS
 *       Run an elector; print "leader IDENTITY TOKEN" / "leader - 0",
 *       "started TOKEN" and "stopped TOKEN" lines (flushed) as they happen.
 *       SIGTERM or SIGINT: stop (releasing the lease) and exit 0.
 *   daemon-helper member SEG ELECTION IDENTITY
 *       Join without campaigning; print "joined"; leave on SIGTERM.
 *   daemon-helper observe SEG ELECTION
 *       Print "has_holder=B holder=ID token=N term=N members=N expired=B"
 *       straight from the segment, without the daemon.
 *   daemon-helper churn SOCKET SEG ELECTION N
 *       N times: join as churn-I, wait until the daemon's watch stream
 *       shows it joined, leave, wait until it shows it left.  2N events,
 *       none coalesced.  SIGTERM ends it after the current round.  Prints
 *       "churned ROUNDS".
 *   daemon-helper flood SOCKET N
 *       Open N connections at once, send "version" on each, read one line
 *       from each; print "accepted=A refused=R other=O", then hold them
 *       all open until SIGTERM.
 *   daemon-helper noread SOCKET SEG
 *       Send a watch request and read nothing until SIGUSR1; then read
 *       everything until EOF and print "lines=N first_seq=A last_seq=B
 *       last=<last line>".
 *   daemon-helper pipeline SOCKET
 *       Write "list" requests without reading, until the socket is full;
 *       print "blocked" and sleep until killed.
 *   daemon-helper mkelections SEG N
 *       Create elections e0 ... e(N-1), without members.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shmelect.h"

static volatile sig_atomic_t got_signal;
static struct shmelect_elector *the_elector;

static void on_stop(int sig)
{
	got_signal = sig;
	if (the_elector)
		shmelect_elector_stop(the_elector);
}

static void die(const char *what, int r)
{
	fprintf(stderr, "daemon-helper: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static struct shmelect_election *open_election(const char *seg_name, const char *name, bool create)
{
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	unsigned flags = seg_name[0] == '/' ? SHMELECT_SEGMENT_PATH : 0;
	int r;

	r = shmelect_segment_open(seg_name, flags, NULL, &seg);
	if (r < 0)
		die("segment_open", r);
	r = shmelect_election_open(seg, name, create ? SHMELECT_ELECTION_CREATE : 0, &e);
	if (r < 0)
		die("election_open", r);
	shmelect_segment_close(seg); /* the election keeps it mapped */
	return e;
}

static void cb_started(struct shmelect_elector *el, uint64_t token, void *ud)
{
	printf("started %" PRIu64 "\n", token);
	fflush(stdout);
}

static void cb_stopped(struct shmelect_elector *el, uint64_t token, void *ud)
{
	printf("stopped %" PRIu64 "\n", token);
	fflush(stdout);
}

static void cb_leader(struct shmelect_elector *el, const char *id, uint64_t token, void *ud)
{
	printf("leader %s %" PRIu64 "\n", id ? id : "-", token);
	fflush(stdout);
}

static int cmd_candidate(char **argv)
{
	struct shmelect_election *e = open_election(argv[0], argv[1], true);
	uint64_t lease = strtoull(argv[3], NULL, 10) * 1000000u;
	struct shmelect_elector_config cfg = {
		.identity = argv[2],
		.lease_ns = lease,
		.renew_deadline_ns = lease / 3 * 2,
		.retry_period_ns = lease / 3,
	};
	struct shmelect_elector_callbacks cb = {
		.started_leading = cb_started,
		.stopped_leading = cb_stopped,
		.new_leader = cb_leader,
	};
	int r;

	r = shmelect_elector_new(e, &cfg, &cb, NULL, &the_elector);
	if (r < 0)
		die("elector_new", r);
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	printf("joined\n");
	fflush(stdout);
	r = shmelect_elector_run(the_elector);
	the_elector = shmelect_elector_free(the_elector);
	shmelect_election_close(e);
	if (r < 0)
		die("elector_run", r);
	return 0;
}

static int cmd_member(char **argv)
{
	struct shmelect_election *e = open_election(argv[0], argv[1], true);
	struct shmelect_candidate *c;
	sigset_t set;
	int r, sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	r = shmelect_candidate_join(e, argv[2], 1000000000, 0, &c);
	if (r < 0)
		die("candidate_join", r);
	printf("joined\n");
	fflush(stdout);
	sigwait(&set, &sig);
	shmelect_candidate_leave(c);
	shmelect_election_close(e);
	return 0;
}

static int cmd_observe(char **argv)
{
	struct shmelect_election *e = open_election(argv[0], argv[1], false);
	struct shmelect_record rec;
	int r;

	r = shmelect_election_observe(e, &rec, NULL, 0);
	if (r < 0)
		die("observe", r);
	printf("has_holder=%d holder=%s token=%" PRIu64 " term=%" PRIu64 " members=%u expired=%d\n",
	       rec.has_holder, rec.has_holder ? rec.holder : "-", rec.token, rec.term, rec.n_members,
	       rec.expired);
	shmelect_election_close(e);
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket", errno);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect", errno);
	return fd;
}

static void send_all(int fd, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t k = write(fd, s, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			die("write", errno);
		}
		s += k;
		n -= (size_t)k;
	}
}

static void on_usr1(int sig)
{
	got_signal = sig;
}

/* One line from fd (blocking, buffered per call site). */
struct reader {
	int fd;
	char buf[65536];
	size_t len;
};

static int read_line(struct reader *rd, char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(rd->buf, '\n', rd->len);
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - rd->buf);
			size_t c = l < size - 1 ? l : size - 1;
			memcpy(line, rd->buf, c);
			line[c] = 0;
			memmove(rd->buf, nl + 1, rd->len - l - 1);
			rd->len -= l + 1;
			return 1;
		}
		if (rd->len == sizeof(rd->buf))
			rd->len = 0; /* overlong: drop */
		n = read(rd->fd, rd->buf + rd->len, sizeof(rd->buf) - rd->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		rd->len += (size_t)n;
	}
}

/* Wait for an event of `type` naming `identity` on the watch stream. */
static void await_event(struct reader *rd, const char *type, const char *identity)
{
	char line[8192], want_type[64], want_id[128];

	snprintf(want_type, sizeof(want_type), "\"event\":\"%s\"", type);
	snprintf(want_id, sizeof(want_id), "\"identity\":\"%s\"", identity);
	while (read_line(rd, line, sizeof(line)))
		if (strstr(line, want_type) && strstr(line, want_id))
			return;
	fprintf(stderr, "daemon-helper: watch stream ended before %s %s\n", type, identity);
	exit(1);
}

static int cmd_churn(char **argv)
{
	struct shmelect_election *e = open_election(argv[1], argv[2], true);
	struct reader *rd = calloc(1, sizeof(*rd));
	long n = strtol(argv[3], NULL, 10), i;
	char req[512], line[8192];

	rd->fd = connect_to(argv[0]);
	snprintf(req, sizeof(req), "{\"verb\":\"watch\",\"segment\":\"%s\",\"election\":\"%s\"}\n",
		 argv[1], argv[2]);
	send_all(rd->fd, req);
	if (!read_line(rd, line, sizeof(line)) || !strstr(line, "\"ok\":true"))
		die("watch refused", EPROTO);
	signal(SIGTERM, on_usr1);
	for (i = 0; i < n && !got_signal; i++) {
		struct shmelect_candidate *c;
		char id[64];
		int r;

		snprintf(id, sizeof(id), "churn-%ld", i);
		r = shmelect_candidate_join(e, id, 1000000000, 0, &c);
		if (r < 0)
			die("candidate_join", r);
		await_event(rd, "joined", id);
		shmelect_candidate_leave(c);
		await_event(rd, "left", id);
	}
	printf("churned %ld\n", i);
	close(rd->fd);
	free(rd);
	shmelect_election_close(e);
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int cmd_flood(char **argv)
{
	long n = strtol(argv[1], NULL, 10);
	int *fds = calloc((size_t)n, sizeof(int));
	long accepted = 0, refused = 0, other = 0;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	raise_nofile();
	for (long i = 0; i < n; i++)
		fds[i] = connect_to(argv[0]);
	for (long i = 0; i < n; i++) {
		struct reader rd = { .fd = fds[i] };
		char line[4096];

		/* a refused connection may be closed already: ignore EPIPE */
		(void)!send(fds[i], "{\"verb\":\"version\"}\n", 19, MSG_NOSIGNAL);
		if (!read_line(&rd, line, sizeof(line)))
			other++;
		else if (strstr(line, "\"ok\":true"))
			accepted++;
		else if (strstr(line, "\"EUSERS\""))
			refused++;
		else
			other++;
	}
	printf("accepted=%ld refused=%ld other=%ld\n", accepted, refused, other);
	fflush(stdout);
	sigwait(&set, &sig);
	for (long i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	return 0;
}


static int cmd_noread(char **argv)
{
	struct reader *rd = calloc(1, sizeof(*rd));
	char req[512], line[8192], last[8192] = "";
	long lines = 0, first = -1, prev = 0, gaps = 0;
	sigset_t set, old;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	signal(SIGUSR1, on_usr1);
	rd->fd = connect_to(argv[0]);
	snprintf(req, sizeof(req), "{\"verb\":\"watch\",\"segment\":\"%s\"}\n", argv[1]);
	send_all(rd->fd, req);
	printf("watching\n");
	fflush(stdout);
	while (!got_signal)
		sigsuspend(&old);
	while (read_line(rd, line, sizeof(line))) {
		char *p = strstr(line, "\"seq\":");
		long seq = p ? strtol(p + 6, NULL, 10) : -1;

		lines++;
		if (seq > 0) {
			if (first < 0)
				first = seq;
			else if (seq != prev + 1)
				gaps++;
			prev = seq;
		}
		snprintf(last, sizeof(last), "%s", line);
	}
	printf("lines=%ld first_seq=%ld last_seq=%ld gaps=%ld last=%s\n", lines, first, prev, gaps, last);
	free(rd);
	return 0;
}

static int cmd_pipeline(char **argv)
{
	int fd = connect_to(argv[0]);
	const char *req = "{\"verb\":\"list\"}\n";
	size_t n = strlen(req);

	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t k = write(fd, req, n);
		if (k < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			/* full, and the daemon stopped reading: that is the point */
			if (poll(&p, 1, 2000) == 0)
				break;
			continue;
		}
		if (k < 0)
			die("write", errno);
		if ((size_t)k != n)
			break; /* a partial line: stop here, the socket is full */
	}
	printf("blocked\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

static int cmd_mkelections(char **argv)
{
	struct shmelect_segment *seg;
	long n = strtol(argv[1], NULL, 10);
	int r;

	r = shmelect_segment_open(argv[0], 0, NULL, &seg);
	if (r < 0)
		die("segment_open", r);
	for (long i = 0; i < n; i++) {
		struct shmelect_election *e;
		char name[32];

		snprintf(name, sizeof(name), "e%ld", i);
		r = shmelect_election_open(seg, name, SHMELECT_ELECTION_CREATE, &e);
		if (r < 0)
			die("election_open", r);
		shmelect_election_close(e);
	}
	shmelect_segment_close(seg);
	printf("created %ld\n", n);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
		int (*fn)(char **argv);
	} cmds[] = {
		{ "candidate", 4, cmd_candidate }, { "member", 3, cmd_member },
		{ "observe", 2, cmd_observe },     { "churn", 4, cmd_churn },
		{ "flood", 2, cmd_flood },         { "noread", 2, cmd_noread },
		{ "pipeline", 1, cmd_pipeline },   { "mkelections", 2, cmd_mkelections },
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2)
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (!strcmp(argv[1], cmds[i].name) && argc - 2 == cmds[i].nargs)
				return cmds[i].fn(argv + 2);
	fprintf(stderr, "usage: daemon-helper candidate|member|observe|churn|flood|noread|pipeline|mkelections ...\n");
	return 2;
}
