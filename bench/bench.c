/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelect-bench: shmelect against the alternatives, side by side, in one
 * run on one machine.  Every figure in the table is measured in this run;
 * ratios compare rows of the same run.
 *
 *   shmelect-bench [--quick] [--out DIR] [--only SECTION,...]
 *
 * Sections: hotpath handover crash hang contention scale socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

bool opt_quick;
const char *opt_outdir = ".";

#define MAX_RESULTS 128
static struct result results[MAX_RESULTS];
static size_t n_results;

int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

uint64_t now_ns(void)
{
	return shmelect_now_ns();
}

void result_add(const struct result *r)
{
	if (n_results < MAX_RESULTS)
		results[n_results++] = *r;
	printf("  %-46s median %12.1f  p99 %12.1f %s%s%s\n", r->name, r->median_ns, r->p99_ns,
	       r->unit ? r->unit : "ns", r->note[0] ? "  " : "", r->note);
	fflush(stdout);
}

void result_from_samples(struct result *r, uint64_t *samples, size_t n)
{
	if (n == 0) {
		r->median_ns = r->p99_ns = 0;
		return;
	}
	qsort(samples, n, sizeof(*samples), cmp_u64);
	r->median_ns = (double)samples[n / 2];
	r->p99_ns = (double)samples[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
}

void bench_segment_name(char *buf, size_t size, const char *what)
{
	snprintf(buf, size, "shmelect-bench-%d-%s", (int)getpid(), what);
}

void *shared_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

void pin_cpu(int cpu)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n <= 1)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu % n, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

void write_samples(const char *file, const uint64_t *samples, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", opt_outdir, file);
	f = fopen(path, "we");
	if (!f)
		return;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%.3f %.5f\n", samples[i] / 1e3, (double)(i + 1) / (double)n);
	fclose(f);
}

static const struct result *find(const char *name)
{
	for (size_t i = 0; i < n_results; i++)
		if (!strcmp(results[i].name, name))
			return &results[i];
	return NULL;
}

static void ratio_line(const char *what, const char *a, const char *b, const char *target)
{
	const struct result *x = find(a), *y = find(b);

	if (!x || !y || y->median_ns <= 0)
		return;
	printf("  %-58s %8.2fx   (target %s)\n", what, x->median_ns / y->median_ns, target);
}

static void print_table(void)
{
	const char *section = NULL;

	printf("\n| section | measurement | median | p99 | syscalls/op | note |\n");
	printf("| --- | --- | ---: | ---: | ---: | --- |\n");
	for (size_t i = 0; i < n_results; i++) {
		const struct result *r = &results[i];
		char sc[32] = "";
		if (r->syscalls >= 0)
			snprintf(sc, sizeof(sc), "%.2f", r->syscalls);
		printf("| %s | %s | %.1f %s | %.1f %s | %s | %s |\n",
		       section && !strcmp(section, r->section) ? "" : r->section, r->name,
		       r->median_ns, r->unit ? r->unit : "ns", r->p99_ns, r->unit ? r->unit : "ns", sc,
		       r->note);
		section = r->section;
	}

	printf("\nRatios (medians, this run):\n");
	ratio_line("is_leader / floor (clock + load)", "is_leader", "floor: vDSO clock + load", "<= 1.2");
	ratio_line("is_leader's sequence, bare / floor", "floor: is_leader's sequence, bare",
		   "floor: vDSO clock + load", "-");
	ratio_line("renew / floor (clock + 16-byte CAS)", "renew", "floor: vDSO clock + 16-byte CAS", "<= 1.3");
	ratio_line("flock lock+unlock / renew", "flock lock+unlock", "renew", ">= 25");
	ratio_line("OFD lock+unlock / renew", "OFD lock+unlock", "renew", "-");
	ratio_line("robust mutex trylock+unlock / renew", "robust mutex trylock+unlock", "renew", "-");
	ratio_line("SysV semop (SEM_UNDO) / renew", "SysV semop P+V (SEM_UNDO)", "renew", "-");
	ratio_line("handover / raw futex wake-to-run", "handover: resign -> follower leads",
		   "raw futex wake-to-run", "<= 1.5");
	ratio_line("crash failover (small) / robust mutex (small)", "crash: shmelect, small leader",
		   "crash: robust mutex EOWNERDEAD, small", "<= 1.5");
	ratio_line("crash failover (256 MiB) / robust mutex (256 MiB)", "crash: shmelect, 256 MiB leader",
		   "crash: robust mutex EOWNERDEAD, 256 MiB", "<= 1.5");
	ratio_line("pidfd (256 MiB) / shmelect (256 MiB)", "crash: pidfd readable, 256 MiB",
		   "crash: shmelect, 256 MiB leader", "-");
	ratio_line("flock (256 MiB) / shmelect (256 MiB)", "crash: blocked flock granted, 256 MiB",
		   "crash: shmelect, 256 MiB leader", "-");
	ratio_line("socket status / bare socket round trip", "status over shmelectd socket",
		   "bare Unix-socket round trip", "<= 1.3");
}

static void print_machine(void)
{
	struct utsname u;
	char model[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[512];

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "model name", 10)) {
				char *p = strchr(line, ':');
				if (p) {
					snprintf(model, sizeof(model), "%s", p + 2);
					model[strcspn(model, "\n")] = 0;
				}
				break;
			}
		fclose(f);
	}
	uname(&u);
	printf("machine: %s, %ld CPUs, Linux %s %s\n", model, sysconf(_SC_NPROCESSORS_ONLN), u.release, u.machine);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "out", required_argument, NULL, 'o' },
		{ "only", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	const char *only = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "qo:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'q': opt_quick = true; break;
		case 'o': opt_outdir = optarg; break;
		case 's': only = optarg; break;
		default:
			printf("usage: %s [--quick] [--out DIR] [--only hotpath,handover,crash,hang,contention,scale,socket]\n",
			       argv[0]);
			return c == 'h' ? 0 : 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	print_machine();

#define RUN(name, fn) do { if (!only || strstr(only, name)) { printf("\n== %s\n", name); fn(); } } while (0)
	RUN("hotpath", bench_hotpath);
	RUN("handover", bench_handover);
	RUN("crash", bench_crash);
	RUN("hang", bench_hang);
	RUN("contention", bench_contention);
	RUN("scale", bench_scale);
	RUN("socket", bench_socket);
	print_table();
	return 0;
}
