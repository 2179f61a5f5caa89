/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared helpers for the Criterion tests.
 *
 * - Unique segment names per test (pid of the test worker + a tag) and
 *   temporary directories, all removed by the suite's .fini (which runs
 *   also after a failed assertion).
 * - fork() helpers: a child never calls cr_assert (its result would go
 *   nowhere useful); it returns 0 or prints what failed and returns 1, and
 *   the parent asserts on the exit status.  Children die with their parent
 *   (PR_SET_PDEATHSIG), so a timed-out test leaves nothing behind.
 * - Raw access to a segment file, to corrupt it as a hostile or broken
 *   writer would (through lib/layout.h).
 *
 * Only static functions: each test binary includes this once.
 */
#ifndef SHMELECT_TESTS_HELPERS_H
#define SHMELECT_TESTS_HELPERS_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "shmelect.h"
#include "layout.h"
#include "internal.h"

#define MS (UINT64_C(1000000))
#define SEC (UINT64_C(1000000000))

/* Short leases for expiry tests, and the sleep that surely outlasts them. */
#define SHORT_LEASE (30 * MS)
#define LONG_LEASE  (10 * SEC) /* "not expired" checks: far beyond any hiccup */

/* ------------------------------------------------------------------ */
/* Names and cleanup                                                   */
/* ------------------------------------------------------------------ */

#define MAX_TRACKED 32

static char tracked_shm[MAX_TRACKED][NAME_MAX + 1];
static int n_tracked_shm;
static char tracked_path[MAX_TRACKED][PATH_MAX];
static int n_tracked_path;
static char tracked_dir[MAX_TRACKED][PATH_MAX];
static int n_tracked_dir;

/* A POSIX shm name unique to this test worker, removed in teardown. */
static inline const char *shm_name(const char *tag)
{
	cr_assert(n_tracked_shm < MAX_TRACKED, "too many names in one test");
	char *buf = tracked_shm[n_tracked_shm++];
	snprintf(buf, NAME_MAX + 1, "shmelect-test-%d-%s", (int)getpid(), tag);
	/* a leftover from an earlier run with the same pid */
	shmelect_segment_unlink(buf, 0);
	return buf;
}

/* The file behind a POSIX shm name. */
static inline void shm_file(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
}

/* A fresh temporary directory, removed (with its files) in teardown. */
static inline const char *temp_dir(void)
{
	cr_assert(n_tracked_dir < MAX_TRACKED);
	char *buf = tracked_dir[n_tracked_dir];
	snprintf(buf, PATH_MAX, "/tmp/shmelect-test-%d-XXXXXX", (int)getpid());
	cr_assert_not_null(mkdtemp(buf), "mkdtemp: %s", strerror(errno));
	n_tracked_dir++;
	return buf;
}

/* dir/file, removed in teardown. */
static inline const char *temp_path(const char *dir, const char *file)
{
	cr_assert(n_tracked_path < MAX_TRACKED);
	char *buf = tracked_path[n_tracked_path++];
	snprintf(buf, PATH_MAX, "%s/%s", dir, file);
	return buf;
}

static inline void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[PATH_MAX + 256];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static inline void teardown(void)
{
	for (int i = 0; i < n_tracked_shm; i++)
		shmelect_segment_unlink(tracked_shm[i], 0);
	for (int i = 0; i < n_tracked_path; i++)
		unlink(tracked_path[i]);
	for (int i = 0; i < n_tracked_dir; i++)
		remove_tree(tracked_dir[i]);
	n_tracked_shm = n_tracked_path = n_tracked_dir = 0;
}

/* Number of entries in dir other than . and .. */
static inline int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* ------------------------------------------------------------------ */
/* Segments, elections                                                  */
/* ------------------------------------------------------------------ */

static inline struct shmelect_segment *open_seg(const char *name, unsigned flags, uint32_t elections,
					 uint32_t candidates)
{
	struct shmelect_segment_params p = { .max_elections = elections, .max_candidates = candidates };
	struct shmelect_segment *s = NULL;
	int r = shmelect_segment_open(name, flags, &p, &s);

	cr_assert_eq(r, 0, "segment_open(%s, %#x): %s", name, flags, strerror(-r));
	cr_assert_not_null(s);
	return s;
}

static inline struct shmelect_election *open_election(struct shmelect_segment *s, const char *name,
					       unsigned flags)
{
	struct shmelect_election *e = NULL;
	int r = shmelect_election_open(s, name, flags, &e);

	cr_assert_eq(r, 0, "election_open(%s): %s", name, strerror(-r));
	cr_assert_not_null(e);
	return e;
}

static inline struct shmelect_candidate *join(struct shmelect_election *e, const char *id, uint64_t lease)
{
	struct shmelect_candidate *c = NULL;
	int r = shmelect_candidate_join(e, id, lease, 0, &c);

	cr_assert_eq(r, 0, "join(%s): %s", id ? id : "(null)", strerror(-r));
	cr_assert_not_null(c);
	return c;
}

static inline struct shmelect_record observe(struct shmelect_election *e)
{
	struct shmelect_record rec;
	int r;

	memset(&rec, 0xa5, sizeof(rec));
	r = shmelect_election_observe(e, &rec, NULL, 0);
	cr_assert_geq(r, 0, "observe: %s", strerror(-r));
	cr_assert_eq((uint32_t)r, rec.n_members);
	return rec;
}

/* Sleep for ns (only ever used to let a lease run out). */
static inline void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / SEC), (long)(ns % SEC) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Let a lease of duration `lease` run out: sleep twice its length. */
static inline void outlive(uint64_t lease)
{
	uint64_t end = shmelect_now_ns() + 2 * lease;

	for (uint64_t now; (now = shmelect_now_ns()) < end;)
		sleep_ns(end - now);
}

/* ------------------------------------------------------------------ */
/* Raw file access, for corruption                                      */
/* ------------------------------------------------------------------ */

static inline void file_write(const char *path, off_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(pwrite(fd, buf, len, off), (ssize_t)len, "pwrite %s: %s", path, strerror(errno));
	close(fd);
}

static inline void file_read(const char *path, off_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(pread(fd, buf, len, off), (ssize_t)len, "pread %s: %s", path, strerror(errno));
	close(fd);
}

#define FILE_WRITE_FIELD(path, field, value)                                                  \
	do {                                                                                  \
		__typeof__(((struct shm_header *)0)->field) v_ = (value);                     \
		file_write(path, offsetof(struct shm_header, field), &v_, sizeof(v_));        \
	} while (0)

/* ------------------------------------------------------------------ */
/* Processes                                                            */
/* ------------------------------------------------------------------ */

/* Memory shared with children forked after this call. */
static inline void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED, "mmap: %s", strerror(errno));
	return p;
}

/* In a child: report a failed check and return 1 from the child's function. */
#define CHILD_CHECK(cond)                                                                      \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "%s:%d: in child %d: check failed: %s\n", __FILE__,   \
				__LINE__, (int)getpid(), #cond);                               \
			return 1;                                                              \
		}                                                                              \
	} while (0)

/* Fork; the child runs fn(arg) and _exit()s with its result. */
static inline pid_t spawn(int (*fn)(void *), void *arg)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(99);
		_exit(fn(arg));
	}
	return pid;
}

/* Wait for a child: its exit status, or 128 + the signal that killed it. */
static inline int reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

static inline void expect_child_ok(pid_t pid, const char *what)
{
	int r = reap(pid);

	cr_expect_eq(r, 0, "child %d (%s) ended with %d%s", (int)pid, what, r,
		     r > 128 ? " (killed by a signal)" : "");
}

/* Spin (yielding) until *flag != 0 or `timeout` ns passed; returns the flag. */
static inline int wait_flag(volatile int *flag, uint64_t timeout)
{
	uint64_t end = shmelect_now_ns() + timeout;

	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
		if (shmelect_now_ns() > end)
			return 0;
		sleep_ns(200000);
	}
	return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

static inline void set_flag(volatile int *flag, int v)
{
	__atomic_store_n(flag, v, __ATOMIC_RELEASE);
}

#endif
