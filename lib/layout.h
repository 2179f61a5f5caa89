/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The shared-memory layout of a shmelect segment, layout version 1.
 *
 *   offset 0                      4096
 *   +-----------------------------+----------------------------------------+
 *   | struct shm_header (1 page)  | election 0 | election 1 | ... | n-1    |
 *   +-----------------------------+----------------------------------------+
 *
 *   one election (election_size bytes, a multiple of 64):
 *   +--------------------------------------------------------------------+
 *   | line 0: lease (16, CAS'd as one) | change | waiters | members_seq   |
 *   | line 1: claim | name[48..]          (name continues on line 2)     |
 *   | line 2-3: name, token_base, created, fence, handover, lock_delay   |
 *   +--------------------------------------------------------------------+
 *   | slot 0 (1024 bytes)| slot 1 | ... | slot max_candidates-1          |
 *   +--------------------------------------------------------------------+
 *
 *   the 128-bit lease word (the only word whose CAS decides leadership):
 *
 *     lo:  63                          12 11          0
 *          +------------------------------+------------+
 *          |            term              | holder + 1 |   holder 0: vacant
 *          +------------------------------+------------+
 *     hi:  63                                          0
 *          +-------------------------------------------+
 *          | expiry (host CLOCK_MONOTONIC ns); when     |
 *          | vacant: the time it was released           |
 *          +-------------------------------------------+
 *
 *   a slot's owner word (64-bit, CAS'd):
 *
 *          63                 24 23            2 1   0
 *          +--------------------+---------------+-----+
 *          |    generation      |  pid (22 bit) |state|   FREE/CLAIMING/
 *          +--------------------+---------------+-----+   ACTIVE/LEAVING
 *
 *   a slot's handoff word (128-bit, written by cmpxchg16b): the term a
 *   transfer hands to the slot and the generation of the member it is for
 *
 *          +-------------------------------------------+
 *          | term            | generation               |
 *          +-------------------------------------------+
 *
 * Every field that another process reads is either written before the
 * release operation that publishes it (claim words, the lease CAS), or is
 * a single aligned 64-bit atomic.  See shmelect(7), PROTOCOL.
 */
#ifndef SHMELECT_LAYOUT_H
#define SHMELECT_LAYOUT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "shmelect.h"

#define SHM_MAGIC          UINT64_C(0x5443454c454d4853) /* "SHMELECT" LE */
#define SHM_LAYOUT_VERSION 2u /* 2: LEAVING owner state, slot handoff word */
#define SHM_HEADER_SIZE    4096u
#define SHM_SLOT_SIZE      1024u
#define SHM_ELECTION_HEAD  256u
#define SHM_ADVERT_MAX     255u

/* header.init: written last by the creator (release). */
#define SHM_INIT_READY     UINT32_C(0x52454459) /* "READY" */

/* The lease word. */
#define LEASE_HOLDER_BITS  12
#define LEASE_HOLDER_MASK  ((UINT64_C(1) << LEASE_HOLDER_BITS) - 1)
#define LEASE_TERM_MAX     ((UINT64_C(1) << (64 - LEASE_HOLDER_BITS)) - 1)
/* token = token_base + term stays below 2^63 */
#define TOKEN_BASE_MAX     ((UINT64_C(1) << 63) - (UINT64_C(1) << 52) - 1)

typedef unsigned __int128 u128;

/* lo and hi of the lease word, little-endian order inside the u128. */
struct lease {
	uint64_t lo; /* term << 12 | (holder slot + 1) */
	uint64_t hi; /* expiry ns, or release time when vacant */
};

static inline uint64_t lease_term(uint64_t lo) { return lo >> LEASE_HOLDER_BITS; }
static inline uint32_t lease_holder(uint64_t lo) { return (uint32_t)(lo & LEASE_HOLDER_MASK); }
static inline uint64_t lease_lo(uint64_t term, uint32_t holder)
{
	return term << LEASE_HOLDER_BITS | holder;
}

/* Slot owner word. */
enum {
	SLOT_FREE = 0,
	SLOT_CLAIMING = 1,
	SLOT_ACTIVE = 2,
	SLOT_LEAVING = 3, /* ACTIVE's gen and pid: ending terms naming it, then FREE */
};
#define SLOT_STATE_MASK  UINT64_C(3)
#define SLOT_PID_SHIFT   2
#define SLOT_PID_MASK    ((UINT64_C(1) << 22) - 1)
#define SLOT_GEN_SHIFT   24
static inline unsigned slot_state(uint64_t w) { return (unsigned)(w & SLOT_STATE_MASK); }
static inline uint32_t slot_pid(uint64_t w) { return (uint32_t)((w >> SLOT_PID_SHIFT) & SLOT_PID_MASK); }
static inline uint64_t slot_gen(uint64_t w) { return w >> SLOT_GEN_SHIFT; }

/* A slot's sleepers word: the member's generation and how many of the
 * election's waiters it accounts for, so that a reaper can take back those
 * of a member that died asleep (and only that member's). */
#define SLEEPERS_COUNT_BITS 24
#define SLEEPERS_COUNT_MASK ((UINT64_C(1) << SLEEPERS_COUNT_BITS) - 1)
static inline uint64_t sleepers_word(uint64_t gen, uint64_t n)
{
	return gen << SLEEPERS_COUNT_BITS | (n & SLEEPERS_COUNT_MASK);
}
static inline uint64_t sleepers_gen(uint64_t v) { return v >> SLEEPERS_COUNT_BITS; }
static inline uint64_t slot_word(uint64_t gen, uint32_t pid, unsigned st)
{
	return gen << SLOT_GEN_SHIFT | ((uint64_t)pid & SLOT_PID_MASK) << SLOT_PID_SHIFT | st;
}

/*
 * Election claim word:
 *
 *          63          44 43          24 23            2 1   0
 *          +-------------+--------------+---------------+-----+
 *          | name hash   | creator's    | creator's pid |state|
 *          | (20 bits)   | pidns (20)   | (22 bits)     |     |
 *          +-------------+--------------+---------------+-----+
 *
 * state: FREE 0, CLAIMING 1, READY 2 (same values as a slot), TOMBSTONE 3
 * (a creation an earlier boot never finished: skipped by lookups, never
 * reused, so probe chains stay intact).  The hash lets creators of other
 * names skip a record being created; the pidns lets a waiter tell a dead
 * creator from one in another PID namespace.
 */
#define CLAIM_TOMBSTONE   3u
#define CLAIM_PIDNS_SHIFT 24
#define CLAIM_HASH_SHIFT  44
#define CLAIM_FIELD_MASK  ((UINT64_C(1) << 20) - 1)

struct shm_header {
	uint64_t magic;               /* SHM_MAGIC */
	uint32_t layout_version;      /* SHM_LAYOUT_VERSION */
	uint32_t header_size;         /* SHM_HEADER_SIZE */
	uint64_t segment_size;        /* bytes, header included */
	uint32_t max_elections;
	uint32_t max_candidates;
	uint32_t election_size;       /* bytes per election, slots included */
	uint32_t slot_size;           /* SHM_SLOT_SIZE */
	uint8_t boot_id[16];          /* /proc/sys/kernel/random/boot_id */
	uint64_t created_realtime_ns;
	uint64_t token_floor;         /* tokens are above this */
	uint32_t change;              /* futex word: any election changed */
	uint32_t waiters;             /* processes sleeping on change */
	uint32_t n_elections;         /* hint; the claim words are the truth */
	uint32_t reserved0;
	uint8_t reserved[4096 - 88 - 4];
	uint32_t init;                /* SHM_INIT_READY, written last */
};

struct shm_slot {
	/* line 0: written by the claimer before publishing ACTIVE; owner is CAS'd */
	uint64_t owner;               /* slot_word(gen, pid, state) */
	uint64_t start_time;          /* /proc/<pid>/stat field 22 */
	uint64_t pidns;               /* inode of /proc/self/ns/pid */
	uint64_t lease_ns;
	uint64_t joined_ns;
	int32_t priority;
	uint32_t pid;                 /* full pid (owner word keeps 22 bits) */
	uint64_t acquire_ns;          /* set before each acquiring CAS */
	uint64_t gen_counter;         /* bumped by every claimer; ACTIVE words never repeat */
	/* lines 1-2: identity */
	char identity[SHMELECT_IDENTITY_MAX + 1];
	uint64_t advert_seq;          /* advertised value: seq & 1 picks buffer */
	uint64_t lock_delay_ns;       /* honoured by takers after an unclean loss */
	uint64_t acquire_term;        /* the term acquire_ns belongs to */
	uint64_t waiting;             /* 1 while the member waits to lead */
	struct handoff {              /* the last transfer to this slot (lease_transfer) */
		uint64_t term;        /* the term it made */
		uint64_t gen;         /* for the member of this generation */
	} handoff __attribute__((aligned(16)));
	uint64_t sleepers;            /* sleepers_word(gen, n): n of the election's
				       * waiters are this member's (wait.c) */
	uint64_t reserved1[1];
	/* lines 3-4: a robust, process-shared mutex that the member's life
	 * thread holds from join to leave; followers watch its futex word to
	 * learn of the member's death (wait.c) */
	union {
		pthread_mutex_t mutex;
		uint8_t pad[64];
	} life;
	uint64_t reserved2[32];
	/* lines 8-15: the advertised value, double-buffered, each NUL-padded */
	char advert[2][SHM_ADVERT_MAX + 1];
};

struct shm_election {
	/* line 0: the hot line */
	struct lease lease __attribute__((aligned(16)));
	uint32_t change;              /* futex word: bumped on every state change */
	uint32_t waiters;             /* followers sleeping on change */
	uint64_t members_seq;         /* bumped on every join/leave/reclaim */
	uint64_t reserved0[4];
	/* line 1..3 */
	uint64_t claim __attribute__((aligned(64)));
	char name[SHMELECT_NAME_MAX + 1];
	uint64_t token_base;          /* token = token_base + term */
	uint64_t created_ns;
	uint64_t fence;               /* the election's own fence */
	uint64_t handover;            /* pending handover request (handover_word) */
	uint64_t reserved_ld;         /* unused: lock-delay lives in the lease word */
	uint64_t reserved1[10];
	/* then max_candidates struct shm_slot */
};

_Static_assert(sizeof(struct shm_header) == SHM_HEADER_SIZE, "header is one page");
_Static_assert(offsetof(struct shm_header, init) == SHM_HEADER_SIZE - 4, "init marker last");
_Static_assert(sizeof(pthread_mutex_t) <= 64, "robust mutex fits its line");
_Static_assert(sizeof(struct shm_slot) == SHM_SLOT_SIZE, "slot size");
_Static_assert(sizeof(struct shm_election) == SHM_ELECTION_HEAD, "election head size");
_Static_assert(offsetof(struct shm_election, lease) == 0, "lease first");
_Static_assert(offsetof(struct shm_election, claim) == 64, "claim on its own line");
_Static_assert(offsetof(struct shm_slot, life) % 64 == 0, "mutex on its own line");
_Static_assert(sizeof(struct lease) == 16, "lease word is 16 bytes");
_Static_assert(offsetof(struct shm_slot, handoff) % 16 == 0, "handoff word is cmpxchg16b-aligned");
_Static_assert(SHMELECT_MAX_CANDIDATES < LEASE_HOLDER_MASK, "holder fits 12 bits");

/*
 * Atomics.  Every shared-memory atomic must be lock-free: a lock inside
 * libatomic would be private to one process and so silently wrong here.
 * 64- and 32-bit words use the __atomic builtins; the 128-bit lease word
 * uses __sync_bool_compare_and_swap, which GCC and clang inline as
 * `lock cmpxchg16b` (x86-64, needs -mcx16) or casp/ldxp-stxp (arm64),
 * never as a libatomic call.
 */
_Static_assert(__atomic_always_lock_free(8, 0), "64-bit atomics must be lock-free");
_Static_assert(__atomic_always_lock_free(4, 0), "32-bit atomics must be lock-free");
#ifndef __GCC_HAVE_SYNC_COMPARE_AND_SWAP_16
#error "shmelect needs an inline 16-byte compare-and-swap (x86-64: -mcx16)"
#endif

/* election_size is the validated copy taken at open, never the live header
 * field, which any writer of the segment could change under us. */
static inline struct shm_election *seg_election(void *base, uint32_t election_size, uint32_t i)
{
	return (struct shm_election *)((char *)base + SHM_HEADER_SIZE + (size_t)i * election_size);
}

static inline struct shm_slot *election_slot(struct shm_election *e, uint32_t i)
{
	return (struct shm_slot *)((char *)e + SHM_ELECTION_HEAD + (size_t)i * SHM_SLOT_SIZE);
}

#endif
