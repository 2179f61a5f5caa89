/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One thread per segment, asleep in shmelect_segment_wait() on the
 * segment's change word (a futex).  Every join, leave, acquisition,
 * resign, break, handover or advert change in any election of the segment
 * bumps that word and wakes the thread, which writes to an eventfd that
 * the sd-event loop watches.  Nothing is polled: with no change the thread
 * never runs, whatever the number of elections.
 *
 * The thread shares nothing with the loop but the eventfd and, at the
 * end, the segment handle: monitor_stop() hands the handle over, and the
 * thread closes it when it next wakes up (a change it no longer reports).
 * Until then it sleeps at no cost; the library has no call that wakes a
 * segment waiter without changing anything.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "shmelectd.h"

enum { RUNNING, STOPPED, EXITED };

struct monitor {
	struct shmelect_segment *seg;
	pthread_t thread;
	int efd;
	int state;  /* atomic: RUNNING, STOPPED (by the loop), EXITED (thread) */
	uint64_t seq;
};

static void monitor_destroy(struct monitor *m)
{
	shmelect_segment_close(m->seg);
	close(m->efd);
	free(m);
}

static void *monitor_main(void *arg)
{
	struct monitor *m = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* m->seq was taken before the thread started; the first write makes
	 * the loop scan once, so no change in between is missed. */
	(void)eventfd_write(m->efd, 1);
	for (;;) {
		int r = shmelect_segment_wait(m->seg, &m->seq, UINT64_MAX);

		if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) != RUNNING)
			break;
		if (r < 0) {
			log_error("segment monitor: %s; monitoring stops", strerror(-r));
			break;
		}
		if (r == 1)
			(void)eventfd_write(m->efd, 1);
	}
	/* whoever comes second (this thread or monitor_stop) cleans up */
	if (__atomic_exchange_n(&m->state, EXITED, __ATOMIC_ACQ_REL) == STOPPED)
		monitor_destroy(m);
	return NULL;
}

int monitor_start(struct shmelect_segment *seg, struct monitor **ret, int *ret_fd)
{
	struct monitor *m = calloc(1, sizeof(*m));
	pthread_attr_t a;
	int r;

	if (!m)
		return -ENOMEM;
	m->seg = seg;
	m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->efd < 0) {
		r = -errno;
		free(m);
		return r;
	}
	/* seq 0: returns at once with the current value of the change word */
	r = shmelect_segment_wait(seg, &m->seq, 0);
	if (r < 0)
		goto fail;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 64 * 1024);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	r = -pthread_create(&m->thread, &a, monitor_main, m);
	pthread_attr_destroy(&a);
	if (r < 0)
		goto fail;
	*ret = m;
	*ret_fd = m->efd;
	return 0;
fail:
	close(m->efd);
	free(m);
	return r;
}

void monitor_stop(struct monitor *m)
{
	if (!m)
		return;
	if (__atomic_exchange_n(&m->state, STOPPED, __ATOMIC_ACQ_REL) == EXITED)
		monitor_destroy(m);
}
