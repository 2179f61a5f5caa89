/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Contention (2, 8, 32 candidates on one election), scale (4096 elections x
 * 64 candidates) and the daemon's socket against a bare Unix-socket round
 * trip.
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
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* ---- contention ------------------------------------------------------------ */

static void contention(unsigned n)
{
	uint64_t *counts = shared_alloc(sizeof(uint64_t) * 64);
	uint64_t seconds = opt_quick ? 1 : 3, t_end;
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	struct result r = { .section = "contention", .syscalls = -1, .unit = "acq/s" };
	char name[96], label[64];
	pid_t pids[64];
	double sum = 0, sumsq = 0;

	bench_segment_name(name, sizeof(name), "contention");
	shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, NULL, &seg);
	shmelect_election_open(seg, "x", SHMELECT_ELECTION_CREATE, &e);
	t_end = now_ns() + seconds * 1000000000;
	for (unsigned i = 0; i < n; i++) {
		if (!(pids[i] = fork())) {
			struct shmelect_candidate *c;
			char id[16];
			uint64_t tok;
			snprintf(id, sizeof(id), "c%u", i);
			if (shmelect_candidate_join(e, id, 1000000000, 0, &c) < 0)
				_exit(1);
			while (now_ns() < t_end) {
				if (shmelect_candidate_wait(c, 50000000, &tok) == 1) {
					counts[i]++;
					shmelect_candidate_resign(c);
				}
			}
			shmelect_candidate_leave(c);
			_exit(0);
		}
	}
	for (unsigned i = 0; i < n; i++)
		waitpid(pids[i], NULL, 0);
	for (unsigned i = 0; i < n; i++) {
		sum += (double)counts[i];
		sumsq += (double)counts[i] * (double)counts[i];
	}
	snprintf(label, sizeof(label), "%u candidates: acquisitions per second", n);
	r.name = strdup(label);
	r.median_ns = sum / (double)seconds;
	r.p99_ns = r.median_ns;
	snprintf(r.note, sizeof(r.note), "Jain fairness %.3f (1 = perfectly fair)",
		 sumsq > 0 ? sum * sum / ((double)n * sumsq) : 0.0);
	result_add(&r);
	shmelect_election_close(e);
	shmelect_segment_close(seg);
	shmelect_segment_unlink(name, 0);
}

void bench_contention(void)
{
	contention(2);
	contention(8);
	contention(32);
}

/* ---- scale ------------------------------------------------------------------ */

#define SCALE_ELECTIONS  4096
#define SCALE_CANDIDATES 64
#define SCALE_PROCS      16

static void add_row(const char *section, const char *name, double v, const char *unit, const char *note)
{
	struct result r = { .section = section, .name = name, .syscalls = -1, .unit = unit };

	r.median_ns = r.p99_ns = v;
	if (note)
		snprintf(r.note, sizeof(r.note), "%s", note);
	result_add(&r);
}

void bench_scale(void)
{
	struct shmelect_segment_params p = { .max_elections = SCALE_ELECTIONS, .max_candidates = SCALE_CANDIDATES };
	struct shmelect_segment *seg, *ro;
	struct shmelect_election **es;
	struct shmelect_member *members;
	struct shmelect_record rec;
	uint32_t *ready = shared_alloc(4096);
	char name[96], enm[32];
	pid_t pids[SCALE_PROCS];
	uint64_t t0, t1;
	int r;

	bench_segment_name(name, sizeof(name), "scale");
	t0 = now_ns();
	r = shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, &p, &seg);
	t1 = now_ns();
	if (r < 0) {
		fprintf(stderr, "scale: %s\n", strerror(-r));
		return;
	}
	add_row("scale", "create a 4096 x 64 segment", (double)(t1 - t0) / 1e3, "us", NULL);

	t0 = now_ns();
	for (unsigned i = 0; i < SCALE_ELECTIONS; i++) {
		struct shmelect_election *e;
		snprintf(enm, sizeof(enm), "election-%u", i);
		shmelect_election_open(seg, enm, SHMELECT_ELECTION_CREATE, &e);
		shmelect_election_close(e);
	}
	t1 = now_ns();
	add_row("scale", "create one election (of 4096)", (double)(t1 - t0) / SCALE_ELECTIONS, "ns", NULL);

	/* one holder per election, from 16 processes */
	for (unsigned k = 0; k < SCALE_PROCS; k++) {
		if (!(pids[k] = fork())) {
			for (unsigned i = k; i < SCALE_ELECTIONS; i += SCALE_PROCS) {
				struct shmelect_election *e;
				struct shmelect_candidate *c;
				uint64_t tok;
				snprintf(enm, sizeof(enm), "election-%u", i);
				if (shmelect_election_open(seg, enm, 0, &e) < 0 ||
				    shmelect_candidate_join(e, NULL, SHMELECT_LEASE_MAX_NS, 0, &c) < 0)
					_exit(1);
				shmelect_candidate_try_acquire(c, &tok);
			}
			__atomic_fetch_add(ready, 1, __ATOMIC_SEQ_CST);
			for (;;)
				pause();
		}
	}
	while (__atomic_load_n(ready, __ATOMIC_SEQ_CST) < SCALE_PROCS)
		usleep(10000);

	t0 = now_ns();
	r = shmelect_segment_open(name, SHMELECT_SEGMENT_RDONLY, NULL, &ro);
	t1 = now_ns();
	add_row("scale", "open it read-only", (double)(t1 - t0) / 1e3, "us", NULL);

	es = calloc(SCALE_ELECTIONS, sizeof(*es));
	members = calloc(SCALE_CANDIDATES, sizeof(*members));
	for (unsigned i = 0; i < SCALE_ELECTIONS; i++) {
		snprintf(enm, sizeof(enm), "election-%u", i);
		shmelect_election_open(ro, enm, 0, &es[i]);
	}
	unsigned held = 0;
	t0 = now_ns();
	for (unsigned i = 0; i < SCALE_ELECTIONS; i++)
		if (shmelect_election_observe(es[i], &rec, members, SCALE_CANDIDATES) >= 0 && rec.has_holder)
			held++;
	t1 = now_ns();
	char note[96];
	snprintf(note, sizeof(note), "%u of 4096 held; 64 slots scanned each", held);
	add_row("scale", "observe all 4096 elections", (double)(t1 - t0) / 1e3, "us", note);

	for (unsigned i = 0; i < SCALE_ELECTIONS; i++)
		shmelect_election_close(es[i]);
	free(es);
	free(members);
	shmelect_segment_close(ro);
	bench_socket_scale(name);
	for (unsigned k = 0; k < SCALE_PROCS; k++)
		kill(pids[k], SIGKILL);
	for (unsigned k = 0; k < SCALE_PROCS; k++)
		waitpid(pids[k], NULL, 0);
	shmelect_segment_close(seg);
	shmelect_segment_unlink(name, 0);
}
