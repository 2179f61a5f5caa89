/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Clock, process identity and small helpers.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * Time namespaces give a process its own offset for CLOCK_MONOTONIC.  We
 * read it once (the only system calls are here, on first use) and subtract
 * it, so every process compares host times.  The offset is read lazily and
 * published with a release store; racing first callers compute the same
 * value.
 */
int64_t util_timens_offset_ns;
int util_timens_state; /* 0 unknown, 1 known */

void util_timens_load(void)
{
	FILE *f;
	char line[128];
	int64_t off = 0;

	f = fopen("/proc/self/timens_offsets", "re");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			long long sec, nsec;
			if (sscanf(line, "monotonic %lld %lld", &sec, &nsec) == 2)
				off = (int64_t)sec * 1000000000 + nsec;
		}
		fclose(f);
	}
	__atomic_store_n(&util_timens_offset_ns, off, __ATOMIC_RELAXED);
	__atomic_store_n(&util_timens_state, 1, __ATOMIC_RELEASE);
}

/* A host time as this process's CLOCK_MONOTONIC, for absolute timeouts. */
uint64_t clock_host_to_local(uint64_t host_ns)
{
	if (!__atomic_load_n(&util_timens_state, __ATOMIC_ACQUIRE))
		util_timens_load();
	return (uint64_t)((int64_t)host_ns + util_timens_offset_ns);
}

uint64_t clock_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

_public_ uint64_t shmelect_now_ns(void)
{
	return clock_host_ns();
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int read_boot_id(uint8_t ret[16])
{
	char buf[64];
	uint8_t id[16];
	ssize_t n;
	int fd, k = 0;

	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 32)
		return -EIO;
	buf[n] = 0;
	for (char *p = buf; *p && k < 32; p++) {
		int v = hexval(*p);
		if (v < 0)
			continue;
		if (k % 2 == 0)
			id[k / 2] = (uint8_t)(v << 4);
		else
			id[k / 2] |= (uint8_t)v;
		k++;
	}
	if (k != 32)
		return -EIO;
	memcpy(ret, id, 16);
	return 0;
}

/* Field 22 of /proc/PID/stat: start time in clock ticks since boot.  With
 * the pid it names one process for the life of the boot. */
static int proc_stat(pid_t pid, uint64_t *ret_start, char *ret_state);

int proc_start_time(pid_t pid, uint64_t *ret)
{
	return proc_stat(pid, ret, NULL);
}

/* Field 3 (state) and field 22 (start time) of /proc/PID/stat. */
static int proc_stat(pid_t pid, uint64_t *ret_start, char *ret_state)
{
	char path[64], buf[1024];
	unsigned long long st;
	ssize_t n;
	char *p;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = 0;
	/* comm may contain spaces and parentheses: skip to the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	p++;
	if (ret_state)
		*ret_state = p[0] == ' ' ? p[1] : 0;
	/* fields 3..22 follow; field 22 is the 20th after ')' */
	for (int field = 3; field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return -EIO;
	}
	if (sscanf(p, " %llu", &st) != 1)
		return -EIO;
	*ret_start = st;
	return 0;
}

int self_pidns(uint64_t *ret)
{
	struct stat st;

	if (stat("/proc/self/ns/pid", &st) < 0)
		return -errno;
	*ret = (uint64_t)st.st_ino;
	return 0;
}

/*
 * 1: the process is alive (or we cannot tell); 0: provably dead.
 * We can only tell for processes in our own PID namespace.
 */
int pid_alive(uint32_t pid, uint64_t pidns, uint64_t start_time)
{
	uint64_t ns, st;
	int r;

	if (pid == 0)
		return 0;
	if (self_pidns(&ns) < 0 || ns != pidns)
		return 1;
	char state = 0;

	r = proc_stat((pid_t)pid, &st, &state);
	if (r == -ENOENT || r == -ESRCH)
		return 0;
	if (r < 0)
		return 1;
	/* a zombie (Z) or dying (X) process will never act again */
	return st == start_time && state != 'Z' && state != 'X';
}

/*
 * The process incarnation: a random nonce in a private page mapped with
 * MADV_WIPEONFORK, so a child created by any kind of fork (also a raw clone
 * that bypasses pthread_atfork) sees zero there and knows that handles it
 * inherited belong to its parent.  Reading it is one load.
 */
uint64_t *util_incarnation_page;
static pthread_once_t incarnation_once = PTHREAD_ONCE_INIT;

static uint64_t incarnation_fallback;

/* Without MADV_WIPEONFORK (Linux < 4.14): forks through fork(3) at least
 * are seen, through pthread_atfork. */
static void incarnation_child(void)
{
	__atomic_store_n(&incarnation_fallback, 0, __ATOMIC_RELAXED);
}

static void incarnation_init(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED && madvise(p, 4096, MADV_WIPEONFORK) == 0) {
		__atomic_store_n(&util_incarnation_page, (uint64_t *)p, __ATOMIC_RELEASE);
		return;
	}
	if (p != MAP_FAILED)
		munmap(p, 4096);
	pthread_atfork(NULL, NULL, incarnation_child);
	__atomic_store_n(&util_incarnation_page, &incarnation_fallback, __ATOMIC_RELEASE);
}

/* process_incarnation()'s first call in a process (or in a forked child) */
uint64_t util_incarnation_slow(void)
{
	uint64_t v;

	pthread_once(&incarnation_once, incarnation_init);
	v = __atomic_load_n(util_incarnation_page, __ATOMIC_RELAXED);
	if (_unlikely_(v == 0)) {
		uint64_t n = 0;
		while (n == 0 && random_u64(&n) < 0)
			n = (uint64_t)getpid() * 2654435761u + clock_host_ns();
		if (n == 0)
			n = 1;
		uint64_t zero = 0;
		/* concurrent first callers in one process agree on one value */
		if (!__atomic_compare_exchange_n(util_incarnation_page, &zero, n, false,
						 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			n = zero;
		v = n;
	}
	return v;
}

int random_u64(uint64_t *ret)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		return -EAGAIN;
	*ret = v;
	return 0;
}

/* FNV-1a */
uint32_t name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

int check_name(const char *name, size_t max)
{
	size_t n;

	if (!name)
		return -EINVAL;
	n = strnlen(name, max + 1);
	if (n == 0)
		return -EINVAL;
	if (n > max)
		return -ENAMETOOLONG;
	return 0;
}

/* Copy a string that came from shared memory: never read past size, always
 * terminate (invariant 8). */
void copy_bounded(char *dst, const char *src, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		char ch = __atomic_load_n(&src[n], __ATOMIC_RELAXED);
		if (!ch)
			break;
		dst[n++] = ch;
	}
	dst[n] = 0;
}
