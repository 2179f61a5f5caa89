/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's socket: a "status" request against a bare Unix-socket round
 * trip of the same size, the daemon's CPU use while 4096 elections sit
 * idle, and how long a "watch" event takes to reach 1000 connected
 * watchers.  Needs shmelectd: $SHMELECTD, or daemon/shmelectd under the
 * current (build) directory; the rows are skipped, and say so, without it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Send one line, read one line back; returns its length or -1. */
static ssize_t roundtrip(int fd, const char *req, char *buf, size_t size)
{
	size_t n = 0;

	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		return -1;
	while (n < size - 1) {
		ssize_t k = read(fd, buf + n, size - 1 - n);
		if (k <= 0)
			return -1;
		n += (size_t)k;
		if (memchr(buf + n - k, '\n', (size_t)k))
			break;
	}
	buf[n] = 0;
	return (ssize_t)n;
}

struct echo {
	int listen_fd;
	size_t reply_len;
};

/* A bare server: reads a line, writes a reply of the daemon's size. */
static void *echo_main(void *arg)
{
	struct echo *x = arg;
	char buf[8192], *reply = malloc(x->reply_len + 1);
	int fd = accept4(x->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	memset(reply, 'x', x->reply_len);
	reply[x->reply_len - 1] = '\n';
	while (fd >= 0) {
		ssize_t k = read(fd, buf, sizeof(buf));
		if (k <= 0)
			break;
		if (write(fd, reply, x->reply_len) < 0)
			break;
	}
	if (fd >= 0)
		close(fd);
	free(reply);
	return NULL;
}

static const char *daemon_path(void)
{
	static char buf[512];
	const char *env = getenv("SHMELECTD");

	if (env && access(env, X_OK) == 0)
		return env;
	snprintf(buf, sizeof(buf), "daemon/shmelectd");
	if (access(buf, X_OK) == 0)
		return buf;
	snprintf(buf, sizeof(buf), "../daemon/shmelectd");
	if (access(buf, X_OK) == 0)
		return buf;
	return NULL;
}

struct daemon {
	pid_t pid;
	char dir[64];
	char sock[128];
};

static int daemon_start(struct daemon *d, const char *segment)
{
	const char *bin = daemon_path();
	char conf[160];
	FILE *f;

	if (!bin)
		return -ENOENT;
	snprintf(d->dir, sizeof(d->dir), "/tmp/shmelect-bench-XXXXXX");
	if (!mkdtemp(d->dir))
		return -errno;
	snprintf(d->sock, sizeof(d->sock), "%s/s.sock", d->dir);
	snprintf(conf, sizeof(conf), "%s/shmelectd.conf", d->dir);
	f = fopen(conf, "we");
	if (!f)
		return -errno;
	fprintf(f, "[segment %s]\n", segment);
	fclose(f);
	d->pid = fork();
	if (d->pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		pin_cpu(0); /* client and server share a CPU: see below */
		dup2(null, 2);
		execl(bin, bin, "--config", conf, "--socket", d->sock, "--state-dir", d->dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		int fd = connect_unix(d->sock);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(10000);
	}
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	return -ETIMEDOUT;
}

static void daemon_stop(struct daemon *d)
{
	char path[160];

	kill(d->pid, SIGTERM);
	waitpid(d->pid, NULL, 0);
	snprintf(path, sizeof(path), "%s/s.sock", d->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/shmelectd.conf", d->dir);
	unlink(path);
	/* the state dir may hold the daemon's token floor file */
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	if (system(cmd) != 0)
		return;
}

static void skip_row(const char *name, const char *why)
{
	struct result r = { .section = "socket", .name = name, .syscalls = -1 };

	snprintf(r.note, sizeof(r.note), "skipped: %s", why);
	result_add(&r);
}

static void series(const char *name, int fd, const char *req, unsigned n, size_t *ret_len)
{
	uint64_t *s = calloc(n, sizeof(*s));
	struct result r = { .section = "socket", .name = name, .syscalls = -1 };
	char buf[65536];
	ssize_t len = 0;

	for (unsigned i = 0; i < 100; i++)
		len = roundtrip(fd, req, buf, sizeof(buf));
	for (unsigned i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		len = roundtrip(fd, req, buf, sizeof(buf));
		s[i] = now_ns() - t0;
	}
	if (ret_len)
		*ret_len = len > 0 ? (size_t)len : 64;
	result_from_samples(&r, s, n);
	snprintf(r.note, sizeof(r.note), "%u round trips, %zd-byte reply", n, len);
	result_add(&r);
	free(s);
}

void bench_socket(void)
{
	unsigned n = opt_quick ? 2000 : 20000;
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	struct shmelect_candidate *c;
	struct daemon d;
	struct echo x;
	char name[96], req[256];
	size_t reply_len = 0;
	uint64_t tok;
	int fd, r;

	/* Client and server on one CPU, both for the daemon and for the bare
	 * server: a wake-up across CPUs costs an inter-processor interrupt
	 * (tens of microseconds on a virtual machine, and noisy) that would
	 * drown what we compare, the work of each server. */
	pin_cpu(0);
	bench_segment_name(name, sizeof(name), "socket");
	shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, NULL, &seg);
	shmelect_election_open(seg, "x", SHMELECT_ELECTION_CREATE, &e);
	shmelect_candidate_join(e, "bench-holder", SHMELECT_LEASE_MAX_NS, 0, &c);
	shmelect_candidate_try_acquire(c, &tok);

	r = daemon_start(&d, name);
	if (r < 0) {
		skip_row("status over shmelectd socket", "shmelectd not built or did not start");
	} else {
		fd = connect_unix(d.sock);
		snprintf(req, sizeof(req), "{\"verb\":\"status\",\"segment\":\"%s\",\"election\":\"x\"}\n", name);
		if (fd >= 0)
			series("status over shmelectd socket", fd, req, n, &reply_len);
		if (fd >= 0)
			close(fd);
		daemon_stop(&d);
	}

	/* the bare round trip, replying as many bytes as the daemon did */
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/shmelect-bench-echoXXXXXX";
	if (mkdtemp(dir)) {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/e.sock", dir);
		x.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		x.reply_len = reply_len ? reply_len : 600;
		if (bind(x.listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(x.listen_fd, 4) == 0) {
			/* a server process, as the daemon is: a thread of our own
			 * would switch without changing address spaces */
			pid_t srv = fork();
			if (srv == 0) {
				pin_cpu(0);
				echo_main(&x);
				_exit(0);
			}
			fd = connect_unix(sa.sun_path);
			series("bare Unix-socket round trip", fd, req[0] ? req : "{}\n", n, NULL);
			close(fd);
			waitpid(srv, NULL, 0);
		}
		close(x.listen_fd);
		unlink(sa.sun_path);
		rmdir(dir);
	}
	shmelect_candidate_leave(c);
	shmelect_election_close(e);
	shmelect_segment_close(seg);
	shmelect_segment_unlink(name, 0);
}

/* With the 4096-election segment of bench_scale populated and idle. */
void bench_socket_scale(const char *segment)
{
	unsigned watchers = opt_quick ? 200 : 1000;
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	struct shmelect_candidate *c;
	struct daemon d;
	struct rusage ru0, ru1;
	int *fds;
	char buf[4096], req[256], label[96];
	uint64_t tok;
	struct rlimit rl;

	if (daemon_start(&d, segment) < 0) {
		skip_row("shmelectd CPU while 4096 elections idle", "shmelectd not built or did not start");
		skip_row("watch event latency, 1000 watchers", "shmelectd not built or did not start");
		return;
	}
	/* idle CPU over a few seconds, from /proc/PID/stat utime+stime */
	char path[64];
	unsigned long long u0 = 0, s0 = 0, u1 = 0, s1 = 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)d.pid);
	sleep(1);
	FILE *f = fopen(path, "re");
	if (f && fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u0, &s0) != 2)
		u0 = s0 = 0;
	if (f)
		fclose(f);
	unsigned secs = opt_quick ? 2 : 5;
	sleep(secs);
	f = fopen(path, "re");
	if (f && fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u1, &s1) != 2)
		u1 = s1 = 0;
	if (f)
		fclose(f);
	struct result r = { .section = "scale", .name = "shmelectd CPU while 4096 elections idle", .syscalls = -1,
			    .unit = "%" };
	r.median_ns = r.p99_ns = 100.0 * (double)((u1 + s1) - (u0 + s0)) / (double)sysconf(_SC_CLK_TCK) / secs;
	snprintf(r.note, sizeof(r.note), "over %u s, 4096 elections held", secs);
	result_add(&r);
	(void)ru0;
	(void)ru1;

	/* watch latency: N watchers of one election; a leader change */
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < watchers + 64) {
		rl.rlim_cur = rl.rlim_max < watchers + 64 ? rl.rlim_max : watchers + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	fds = calloc(watchers, sizeof(int));
	snprintf(req, sizeof(req), "{\"verb\":\"watch\",\"segment\":\"%s\",\"election\":\"election-0\"}\n", segment);
	unsigned connected = 0;
	for (unsigned i = 0; i < watchers; i++) {
		fds[i] = connect_unix(d.sock);
		if (fds[i] < 0 || roundtrip(fds[i], req, buf, sizeof(buf)) <= 0)
			break;
		connected++;
	}
	shmelect_segment_open(segment, 0, NULL, &seg);
	shmelect_election_open(seg, "election-0", 0, &e);
	shmelect_election_evict(e); /* the change every watcher must hear of */
	uint64_t t0 = now_ns();
	uint64_t *lat = calloc(watchers, sizeof(*lat));
	unsigned got = 0;
	for (unsigned i = 0; i < connected; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		if (poll(&p, 1, 5000) == 1 && read(fds[i], buf, sizeof(buf)) > 0)
			lat[got++] = now_ns() - t0;
	}
	struct result w = { .section = "scale", .syscalls = -1 };
	snprintf(label, sizeof(label), "watch event latency, %u watchers", connected);
	w.name = strdup(label);
	result_from_samples(&w, lat, got);
	snprintf(w.note, sizeof(w.note), "evict -> event read by each watcher; %u of %u heard", got, connected);
	result_add(&w);
	for (unsigned i = 0; i < connected; i++)
		close(fds[i]);
	free(fds);
	free(lat);
	if (shmelect_candidate_join(e, "bench-w", SHMELECT_LEASE_MAX_NS, 0, &c) == 0) {
		shmelect_candidate_try_acquire(c, &tok);
		shmelect_candidate_leave(c);
	}
	shmelect_election_close(e);
	shmelect_segment_close(seg);
	daemon_stop(&d);
}
