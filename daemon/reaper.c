/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The crash reaper: a pidfd per member process, in the sd-event loop.
 *
 * A pidfd becomes readable (EPOLLIN) when its process has exited; a
 * stopped (SIGSTOP) or merely slow process never makes it readable, so the
 * reaper can only act on processes that are gone.  When one is, the
 * tracker breaks the lease it held (exact term and slot) and frees the
 * slots of dead members.
 *
 * Identity.  Members are named by PID + start time (field 22 of
 * /proc/PID/stat), as the library records them.  Only members of our own
 * PID namespace are watched: a pid from another namespace means something
 * else here.  To avoid watching a newer process that re-used the pid, the
 * pidfd is opened first and the start time checked after: the member
 * joined before we opened it, so if the pid still shows the member's start
 * time, the pid named the member all along and the pidfd is the member's.
 * A pid that is gone, or shows another start time, is dead already.
 *
 * Processes are shared: one pidfd per process, however many elections it
 * is a member of.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shmelectd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define BUCKETS 4096u
#define RETRY_FIRST_MS 10u
#define RETRY_MAX 12u /* 10 ms doubling: about 40 s in all */

struct proc {
	struct reaper *r;
	pid_t pid;
	uint64_t start_time;
	int pidfd;
	sd_event_source *src;    /* the pidfd, or a deferred "already dead" */
	sd_event_source *retry;  /* when a dead member could not be freed yet */
	unsigned refs;
	unsigned retries;
	bool dead;
	struct proc *next;
};

struct reaper {
	struct daemon *d;
	struct proc *buckets[BUCKETS];
	bool warned;
};

int read_self_pidns(uint64_t *ret)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) < 0)
		return -errno;
	*ret = (uint64_t)st.st_ino;
	return 0;
}

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot. */
int read_start_time(pid_t pid, uint64_t *ret)
{
	char path[64], buf[1024], *p;
	unsigned long long st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = 0;
	/* comm may hold spaces and parentheses: start after the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	for (int field = 3; field <= 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	if (sscanf(p, " %llu", &st) != 1)
		return -EIO;
	*ret = st;
	return 0;
}

int reaper_new(struct daemon *d, struct reaper **ret)
{
	struct reaper *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->d = d;
	*ret = r;
	return 0;
}

static struct proc **bucket(struct reaper *r, pid_t pid)
{
	return &r->buckets[(unsigned)pid % BUCKETS];
}

static void proc_destroy(struct proc *p)
{
	sd_event_source_disable_unref(p->src);
	sd_event_source_disable_unref(p->retry);
	if (p->pidfd >= 0)
		close(p->pidfd);
	free(p);
}

struct reaper *reaper_free(struct reaper *r)
{
	if (!r)
		return NULL;
	for (unsigned i = 0; i < BUCKETS; i++)
		while (r->buckets[i]) {
			struct proc *p = r->buckets[i];
			r->buckets[i] = p->next;
			proc_destroy(p);
		}
	free(r);
	return NULL;
}

static void died(struct proc *p)
{
	p->dead = true;
	sd_event_source_set_enabled(p->src, SD_EVENT_OFF);
	log_debug("process %d exited", (int)p->pid);
	daemon_proc_died(p->r->d, p);
}

static int on_pidfd(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	died(userdata);
	return 0;
}

static int on_dead_already(sd_event_source *src, void *userdata)
{
	died(userdata);
	return 0;
}

static int on_retry(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct proc *p = userdata;

	daemon_proc_died(p->r->d, p);
	return 0;
}

struct proc *reaper_watch(struct reaper *r, pid_t pid, uint64_t start_time)
{
	struct proc **b = bucket(r, pid), *p;
	uint64_t st;
	int fd, k;

	for (p = *b; p; p = p->next)
		if (p->pid == pid && p->start_time == start_time) {
			p->refs++;
			return p;
		}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->r = r;
	p->pid = pid;
	p->start_time = start_time;
	p->refs = 1;
	p->pidfd = -1;

	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0 && errno != ESRCH) {
		if (!r->warned)
			log_warning("pidfd_open(%d): %m; dead members are left to lease expiry", (int)pid);
		r->warned = true;
		free(p);
		return NULL;
	}
	p->pidfd = fd;
	if (fd < 0) {
		p->dead = true; /* no process has the member's pid */
	} else if (poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, 0) == 1) {
		p->dead = true; /* whoever has the pid has exited: so has the member */
	} else {
		/* alive.  After opening: a pid that still shows the member's
		 * start time named the member all along. */
		k = read_start_time(pid, &st);
		if (k < 0) {
			/* hidden from us (hidepid=), or worse: we cannot tell
			 * whose pid it is, so we must not act on it */
			if (!r->warned)
				log_warning("cannot read /proc/%d/stat (%s); members whose start time cannot "
					    "be checked are left to lease expiry", (int)pid, strerror(-k));
			r->warned = true;
			close(fd);
			free(p);
			return NULL;
		}
		p->dead = st != start_time;
	}
	if (p->dead) {
		if (fd >= 0)
			close(fd);
		p->pidfd = -1;
		k = sd_event_add_defer(r->d->event, &p->src, on_dead_already, p);
	} else {
		k = sd_event_add_io(r->d->event, &p->src, fd, EPOLLIN, on_pidfd, p);
	}
	if (k < 0) {
		log_warning("cannot watch process %d: %s", (int)pid, strerror(-k));
		proc_destroy(p);
		return NULL;
	}
	p->next = *b;
	*b = p;
	return p;
}

void reaper_unwatch(struct reaper *r, struct proc *p)
{
	struct proc **pp;

	if (!p || --p->refs > 0)
		return;
	for (pp = bucket(r, p->pid); *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	proc_destroy(p);
}

void reaper_retry(struct reaper *r, struct proc *p)
{
	uint64_t now, delay;

	if (p->retries >= RETRY_MAX) {
		log_notice("process %d has exited but still shows in /proc (a zombie its parent has "
			   "not reaped?); its slots stay until the library can free them", (int)p->pid);
		return;
	}
	delay = (uint64_t)RETRY_FIRST_MS * 1000u << p->retries;
	p->retries++;
	sd_event_now(r->d->event, CLOCK_MONOTONIC, &now);
	if (!p->retry) {
		if (sd_event_add_time(r->d->event, &p->retry, CLOCK_MONOTONIC, now + delay, 1000, on_retry,
				      p) < 0)
			return;
	} else {
		sd_event_source_set_time(p->retry, now + delay);
		sd_event_source_set_enabled(p->retry, SD_EVENT_ONESHOT);
	}
}

bool proc_is_dead(const struct proc *p)
{
	return p->dead;
}

pid_t proc_pid(const struct proc *p)
{
	return p->pid;
}
