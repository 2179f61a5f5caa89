/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SHMELECT_INTERNAL_H
#define SHMELECT_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "layout.h"
#include "shmelect.h"

#define _public_ __attribute__((visibility("default")))
#define _unlikely_(x) __builtin_expect(!!(x), 0)
#define _likely_(x) __builtin_expect(!!(x), 1)

struct shmelect_segment {
	void *base;
	size_t size;
	struct shm_header *hdr;     /* == base */
	uint32_t max_elections;     /* validated copies: never re-read from shm */
	uint32_t max_candidates;
	uint32_t election_size;
	bool readonly;
	bool stale_boot;
	int fd;
	unsigned refs;              /* the segment and each election handle */
};

struct shmelect_election {
	struct shmelect_segment *seg;
	struct shm_election *rec;
	uint32_t index;
	char name[SHMELECT_NAME_MAX + 1];
	uint64_t token_base;        /* copied once READY */
};

struct shmelect_candidate {
	struct shmelect_election *election;
	struct lease *lease;        /* == &election->rec->lease (the hot path) */
	struct shm_slot *slot;
	uint32_t index;             /* slot index */
	uint64_t owner;             /* our owner word while we hold the slot */
	uint64_t lease_ns;
	uint64_t term;              /* term of the lease we (last) acquired */
	uint64_t incarnation;       /* process incarnation at join, see fork */
	pid_t pid;
	struct life *life;          /* the thread holding our robust mutex */
	char identity[SHMELECT_IDENTITY_MAX + 1];
};

/* util.c */
extern int64_t util_timens_offset_ns;
extern int util_timens_state;
void util_timens_load(void);
extern uint64_t *util_incarnation_page;
uint64_t util_incarnation_slow(void);

/*
 * CLOCK_MONOTONIC as the host's (see util.c: a time namespace's offset
 * removed).  Inline: it is on every hot path.  vDSO, no system call; on
 * x86-64 the vDSO reads the TSC with rdtsc_ordered() (lfence;rdtsc or
 * rdtscp), so the read happens after every earlier load completed:
 * shmelect_candidate_leadership() depends on that.
 */
static inline uint64_t clock_host_ns(void)
{
	struct timespec ts;

	if (_unlikely_(!__atomic_load_n(&util_timens_state, __ATOMIC_ACQUIRE)))
		util_timens_load();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - util_timens_offset_ns);
}

/* The process incarnation (see util.c): on the hot path one load of the
 * page pointer and one of the nonce. */
static inline uint64_t process_incarnation(void)
{
	uint64_t *page = __atomic_load_n(&util_incarnation_page, __ATOMIC_ACQUIRE), v;

	if (_likely_(page)) {
		v = __atomic_load_n(page, __ATOMIC_RELAXED);
		if (_likely_(v))
			return v;
	}
	return util_incarnation_slow();
}

uint64_t clock_realtime_ns(void);
uint64_t clock_host_to_local(uint64_t host_ns);
int read_boot_id(uint8_t ret[16]);
int proc_start_time(pid_t pid, uint64_t *ret);
int self_pidns(uint64_t *ret);
int random_u64(uint64_t *ret);
uint32_t name_hash(const char *name);
int check_name(const char *name, size_t max);
void copy_bounded(char *dst, const char *src, size_t size);
int pid_alive(uint32_t pid, uint64_t pidns, uint64_t start_time);

/* segment.c */
void segment_ref(struct shmelect_segment *s);
void segment_unref(struct shmelect_segment *s);

/* lease.c */
int candidate_release(struct shmelect_candidate *c, uint64_t locked_until);

/* election.c */
void segment_bump(struct shmelect_segment *seg);
void election_bump(struct shmelect_election *e);
int election_dup(struct shmelect_election *e, struct shmelect_election **ret);
int lease_break(struct shmelect_election *e, uint64_t lo_expected, bool lock_delay);
int lease_transfer(struct shmelect_election *e, uint32_t target, uint64_t owner_expected,
		   uint64_t lo_expected);
int slot_find_identity(struct shmelect_election *e, const char *identity, uint64_t *ret_owner);
uint64_t handover_word(uint32_t index, uint64_t owner);
/* a handover request that asks the holder to resign for anyone */
#define HANDOVER_RESIGN UINT64_C(0xffff)

/* wait.c */
struct life;
int life_start(struct shmelect_candidate *c);
void life_stop(struct shmelect_candidate *c);
void sleep_on(uint32_t *change, uint32_t change_val, uint32_t *life, uint32_t life_val,
	      uint32_t *extra, uint32_t extra_val, uint64_t deadline);
int follower_sleep(struct shmelect_election *e, struct shmelect_candidate *c,
		   int (*check)(void *ud, struct lease *seen), void *ud, uint32_t *extra,
		   uint32_t extra_val, uint64_t deadline);
void waiters_enter(struct shmelect_election *e, struct shmelect_candidate *c);
void waiters_leave(struct shmelect_election *e, struct shmelect_candidate *c);
void sleepers_reclaim(struct shmelect_election *e, struct shm_slot *slot, uint64_t owner);

/* candidate.c */
int slot_reap_if_dead(struct shmelect_election *e, uint32_t i);
void advert_read(const struct shm_slot *slot, char *buf, size_t size);

/*
 * The 128-bit lease word.
 *
 * lease_read(): a consistent (lo, hi) pair without writing, so it works on a
 * read-only mapping.  lo is loaded, then hi, then lo again; if lo did not
 * change, hi belongs to the same (term, holder): lo never returns to an old
 * value (see PROTOCOL in shmelect(7)), so an unchanged lo means no
 * takeover, resign or eviction happened between the loads, and the hi we
 * read is an expiry written in this term by this holder.  The acquire loads
 * order the three loads (on x86 plain loads are already ordered; on arm64
 * they become ldar).
 */
static inline struct lease lease_read(const struct lease *l)
{
	struct lease r;
	uint64_t lo2;

	for (;;) {
		r.lo = __atomic_load_n(&l->lo, __ATOMIC_ACQUIRE);
		r.hi = __atomic_load_n(&l->hi, __ATOMIC_ACQUIRE);
		lo2 = __atomic_load_n(&l->lo, __ATOMIC_ACQUIRE);
		if (r.lo == lo2)
			return r;
	}
}

/*
 * Load *p only after `after` has been computed: the address is made to
 * depend on the value through an asm the compiler cannot see into (it
 * yields zero), so the CPU cannot issue the load before the value exists.
 * Used to order a load after a clock read: the vDSO orders the TSC read
 * after earlier loads (lfence;rdtsc) but nothing orders later loads after
 * it; a data dependency does, on x86-64 and arm64 alike (neither
 * speculates values), and costs a cycle where lfence costs many.
 */
static inline uint64_t load_after(const uint64_t *p, uint64_t after)
{
	uintptr_t zero;

#if defined(__x86_64__)
	__asm__("mov %1, %0\n\txor %1, %0" : "=&r"(zero) : "r"(after));
#elif defined(__aarch64__)
	__asm__("eor %0, %1, %1" : "=r"(zero) : "r"(after));
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	zero = 0;
	(void)after;
#endif
	return __atomic_load_n((const uint64_t *)((uintptr_t)p + zero), __ATOMIC_ACQUIRE);
}

static inline u128 lease_pack(struct lease l)
{
	return (u128)l.hi << 64 | l.lo;
}

/*
 * CAS of the whole lease word: `lock cmpxchg16b` on x86-64, a full barrier.
 * It orders every store we made before it (e.g. our slot's acquire_ns)
 * before the new lease becomes visible, and every load after it after the
 * swap.  This is the only operation that changes who leads.
 */
static inline bool lease_cas(struct lease *l, struct lease old, struct lease new)
{
	return __sync_bool_compare_and_swap((u128 *)l, lease_pack(old), lease_pack(new));
}

/*
 * A slot's handoff word: written (one 16-byte CAS, a full barrier) by a
 * transfer before the lease CAS that names the slot, read by the slot's
 * member before it adopts a term it did not acquire.  Both are rare (a
 * handover), so a CAS loop and a CAS-as-load are cheap enough.
 */
static inline u128 handoff_pack(uint64_t term, uint64_t gen)
{
	return (u128)gen << 64 | term;
}

static inline void handoff_store(struct shm_slot *s, uint64_t term, uint64_t gen)
{
	u128 *p = (u128 *)&s->handoff, old = __sync_val_compare_and_swap(p, 0, 0);

	for (;;) {
		u128 seen = __sync_val_compare_and_swap(p, old, handoff_pack(term, gen));
		if (seen == old)
			return;
		old = seen;
	}
}

static inline bool handoff_is(struct shm_slot *s, uint64_t term, uint64_t gen)
{
	return __sync_val_compare_and_swap((u128 *)&s->handoff, 0, 0) == handoff_pack(term, gen);
}

static inline bool segment_writable(const struct shmelect_segment *s)
{
	return !s->readonly;
}

#endif
