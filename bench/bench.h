/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SHMELECT_BENCH_H
#define SHMELECT_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <shmelect.h>

/* One measured thing: samples in ns, and how many system calls one
 * operation makes (-1: not counted). */
struct result {
	const char *section;
	const char *name;
	double median_ns;
	double p99_ns;
	double syscalls;
	const char *unit;      /* "ns" or a free-form unit for throughput rows */
	char note[160];
};

/* bench.c */
extern bool opt_quick;
extern const char *opt_outdir;
void result_add(const struct result *r);
void result_from_samples(struct result *r, uint64_t *samples, size_t n);
int cmp_u64(const void *a, const void *b);
uint64_t now_ns(void);
void bench_segment_name(char *buf, size_t size, const char *what);
void *shared_alloc(size_t size);
void pin_cpu(int cpu);
void write_samples(const char *file, const uint64_t *samples, size_t n);

/* hotpath.c */
void bench_hotpath(void);
/* syscount.c */
double count_syscalls(void (*op)(void *), void *ud, unsigned iterations);
/* failover.c */
void bench_handover(void);
void bench_crash(void);
void bench_hang(void);
/* scale.c */
void bench_contention(void);
void bench_scale(void);
void bench_socket(void);
void bench_socket_scale(const char *segment);

#endif
