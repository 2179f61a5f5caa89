/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelect - leader election for processes on one host, in shared memory.
 *
 * Conventions (as in systemd's sd-* API):
 *   - functions return 0 or a non-negative count on success and -errno on
 *     failure; errno is never used to report errors;
 *   - predicates return 1 (true), 0 (false) or -errno;
 *   - the out-parameter comes last and is left untouched on failure;
 *   - destructors accept NULL and return NULL;
 *   - the library never logs and never installs signal handlers.
 *
 * See shmelect(7) for concepts and the protocol, and one man page per
 * function.
 */
#ifndef SHMELECT_H
#define SHMELECT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMELECT_VERSION_MAJOR 0
#define SHMELECT_VERSION_MINOR 1

/* Longest election name and candidate identity, not counting the NUL. */
#define SHMELECT_NAME_MAX      63
#define SHMELECT_IDENTITY_MAX  63
/* Longest advertised value (an endpoint, say), not counting the NUL. */
#define SHMELECT_ADVERT_MAX    255

/* The segment used when none is named (POSIX shm name, /dev/shm/shmelect). */
#define SHMELECT_DEFAULT_SEGMENT "shmelect"

/* Capacity of a segment created without explicit parameters. */
#define SHMELECT_DEFAULT_ELECTIONS  128
#define SHMELECT_DEFAULT_CANDIDATES 32
#define SHMELECT_MAX_ELECTIONS      65536
#define SHMELECT_MAX_CANDIDATES     1024

/* Accepted lease durations: 1 ms to 1 hour. */
#define SHMELECT_LEASE_MIN_NS  UINT64_C(1000000)
#define SHMELECT_LEASE_MAX_NS  (UINT64_C(3600) * UINT64_C(1000000000))

/* ------------------------------------------------------------------ */
/* Clock                                                               */
/* ------------------------------------------------------------------ */

/*
 * The host's CLOCK_MONOTONIC in nanoseconds, corrected for the caller's
 * time namespace, so that every process on the host reads the same value.
 * All times in this API are on this clock.  Never makes a system call
 * (vDSO).
 */
uint64_t shmelect_now_ns(void);

/* ------------------------------------------------------------------ */
/* Segment: a shared-memory file holding a table of elections         */
/* ------------------------------------------------------------------ */

struct shmelect_segment;

enum shmelect_segment_flags {
	SHMELECT_SEGMENT_CREATE = 1 << 0, /* create it if it does not exist */
	SHMELECT_SEGMENT_EXCL   = 1 << 1, /* with CREATE: fail if it exists */
	SHMELECT_SEGMENT_RDONLY = 1 << 2, /* map read-only, for observers */
	SHMELECT_SEGMENT_PATH   = 1 << 3, /* name is a file path, not a POSIX shm name */
};

struct shmelect_segment_params {
	uint32_t max_elections;  /* 0: SHMELECT_DEFAULT_ELECTIONS */
	uint32_t max_candidates; /* per election; 0: SHMELECT_DEFAULT_CANDIDATES */
	uint32_t mode;           /* file mode; 0: 0644 */
	uint32_t reserved0;
	uint64_t token_floor;    /* tokens issued will be greater than this */
	uint64_t reserved[4];    /* must be zero */
};

int shmelect_segment_open(const char *name, unsigned flags,
			  const struct shmelect_segment_params *params,
			  struct shmelect_segment **ret);
struct shmelect_segment *shmelect_segment_close(struct shmelect_segment *seg);
int shmelect_segment_unlink(const char *name, unsigned flags);

struct shmelect_segment_info {
	uint32_t layout_version;
	uint32_t max_elections;
	uint32_t max_candidates;
	uint32_t n_elections;    /* elections created so far */
	uint64_t size;           /* bytes mapped */
	char boot_id[37];        /* boot the leases belong to, as in /proc */
	uint8_t stale_boot;      /* 1: written by an earlier boot; leases void */
	uint8_t readonly;        /* 1: mapped read-only */
	uint8_t reserved0;
	uint64_t created_realtime_ns;
	uint64_t dev;            /* st_dev and st_ino of the mapped file: tell a */
	uint64_t ino;            /* segment replaced under the same name */
	uint64_t reserved[2];
};

int shmelect_segment_info(struct shmelect_segment *seg,
			  struct shmelect_segment_info *ret);

/* Names of the elections in the segment.  Returns their number, which may
 * exceed n (then only the first n are stored). */
int shmelect_segment_list(struct shmelect_segment *seg,
			  char (*names)[SHMELECT_NAME_MAX + 1], size_t n);

/* ------------------------------------------------------------------ */
/* Election: one named lease inside a segment                         */
/* ------------------------------------------------------------------ */

struct shmelect_election;

enum shmelect_election_flags {
	SHMELECT_ELECTION_CREATE = 1 << 0, /* create it if it does not exist */
};

int shmelect_election_open(struct shmelect_segment *seg, const char *name,
			   unsigned flags, struct shmelect_election **ret);
struct shmelect_election *shmelect_election_close(struct shmelect_election *e);
const char *shmelect_election_name(const struct shmelect_election *e);

/* A member of an election, as seen by an observer. */
struct shmelect_member {
	char identity[SHMELECT_IDENTITY_MAX + 1];
	pid_t pid;               /* in the member's own PID namespace */
	uint32_t slot;           /* index of its slot in the election */
	uint64_t lease_ns;       /* lease duration it asks for */
	uint64_t joined_ns;
	int32_t priority;
	uint8_t is_holder;       /* 1: it is the holder of the record */
	uint8_t reserved0[3];
	uint64_t start_time;     /* /proc/PID/stat field 22: pid + start time name it */
	uint64_t pidns;          /* inode of its /proc/self/ns/pid */
};

/* The lease record, as in a Kubernetes Lease object, plus a token. */
struct shmelect_record {
	char election[SHMELECT_NAME_MAX + 1];
	uint8_t has_holder;      /* 0: vacant (never held, released or broken) */
	uint8_t expired;         /* 1: has a holder whose lease ran out */
	uint8_t reserved0[6];
	char holder[SHMELECT_IDENTITY_MAX + 1];
	pid_t holder_pid;
	uint32_t holder_slot;
	uint64_t token;          /* fencing token of the current (or last) term */
	uint64_t term;           /* number of terms so far */
	uint64_t transitions;    /* leaseTransitions */
	uint64_t acquire_ns;     /* acquireTime of the current term */
	uint64_t renew_ns;       /* renewTime */
	uint64_t expiry_ns;      /* renewTime + leaseDuration */
	uint64_t lease_ns;       /* leaseDurationSeconds, in ns */
	uint64_t observed_ns;    /* when this snapshot was taken */
	uint32_t n_members;      /* members in the election */
	uint32_t reserved1;
	uint64_t locked_until_ns; /* vacant after an unclean loss: no acquisition before */
	char advert[SHMELECT_ADVERT_MAX + 1]; /* the holder's advertised value */
	uint64_t reserved[4];
};

/*
 * A consistent snapshot of the record and of up to n members.  Works on a
 * read-only mapping.  Returns the number of members (which may exceed n).
 */
int shmelect_election_observe(struct shmelect_election *e,
			      struct shmelect_record *ret,
			      struct shmelect_member *members, size_t n);

/* Forcibly end the current term (operator action); the next acquisition
 * starts a new term with a new token.  Returns 1 if a holder was evicted. */
int shmelect_election_evict(struct shmelect_election *e);

/* End the term only if it is still `term` held by `slot` (for a supervisor
 * that saw that holder die): 1 if broken, 0 if the lease moved on. */
int shmelect_election_break(struct shmelect_election *e, uint64_t term, uint32_t slot);

/* Reclaim the slots of members whose processes are provably dead (same PID
 * namespace, pid gone or reused), breaking their lease first.  Returns the
 * number of slots freed. */
int shmelect_election_reap(struct shmelect_election *e);

/* ------------------------------------------------------------------ */
/* Candidate: a process's membership in an election                   */
/* ------------------------------------------------------------------ */

struct shmelect_candidate;

int shmelect_candidate_join(struct shmelect_election *e, const char *identity,
			    uint64_t lease_ns, unsigned flags,
			    struct shmelect_candidate **ret);
struct shmelect_candidate *shmelect_candidate_leave(struct shmelect_candidate *c);
const char *shmelect_candidate_identity(const struct shmelect_candidate *c);

/*
 * Acquire the lease if it is vacant or expired, or renew it if the caller
 * holds it.  Returns 1 and stores the fencing token if the caller now holds
 * the lease, 0 if another candidate holds a valid lease.
 */
int shmelect_candidate_try_acquire(struct shmelect_candidate *c,
				   uint64_t *ret_token);
/* Extend the caller's lease.  1: renewed; 0: the caller does not hold a
 * valid lease (lost, expired, never held). */
int shmelect_candidate_renew(struct shmelect_candidate *c);
/* Give the lease up at once.  1: released; 0: the caller did not hold it. */
int shmelect_candidate_resign(struct shmelect_candidate *c);
/* 1 while the caller holds an unexpired lease.  No system call. */
int shmelect_candidate_is_leader(struct shmelect_candidate *c);
/* Like is_leader, and stores the token and the lease's expiry. */
int shmelect_candidate_leadership(struct shmelect_candidate *c,
				  uint64_t *ret_token, uint64_t *ret_expiry_ns);

/*
 * Block until the caller leads (returns 1, stores the token), the timeout
 * runs out (0) or an error.  Followers sleep in the kernel on the
 * election's change word and on the holder's robust futex: they wake at
 * once when the holder resigns, is evicted, hands over, or its process
 * dies, and at the latest when its lease expires.  UINT64_MAX: no timeout.
 */
int shmelect_candidate_wait(struct shmelect_candidate *c, uint64_t timeout_ns,
			    uint64_t *ret_token);

/* Per-candidate settings, published in its slot for others to honour. */
int shmelect_candidate_set_priority(struct shmelect_candidate *c, int32_t priority);
int shmelect_candidate_set_lock_delay(struct shmelect_candidate *c, uint64_t lock_delay_ns);
int shmelect_candidate_set_advert(struct shmelect_candidate *c, const char *value);

enum shmelect_handover_flags {
	SHMELECT_HANDOVER_FORCE = 1 << 0, /* transfer now, without the holder's cooperation */
	SHMELECT_HANDOVER_ANY   = 1 << 1, /* identity NULL: ask the leader to resign */
};

/*
 * Hand the lease to the member with this identity.  Without FORCE this is
 * a request that the holder's elector carries out at its next step (at
 * once, as it is woken); with FORCE the lease is transferred now, starting
 * a new term.  NULL identity withdraws a pending request, or with
 * SHMELECT_HANDOVER_ANY asks the holder's elector to resign so that any
 * follower may lead (with FORCE too: the same as shmelect_election_evict).
 */
int shmelect_election_handover(struct shmelect_election *e, const char *identity,
			       unsigned flags);

/*
 * Sleep until something in the election (or, for the segment variant, in
 * any election) changes after *seq, or timeout_ns passes.  Returns 1 and
 * updates *seq on a change, 0 on timeout.  *seq = 0 on the first call
 * returns at once with the current value.  On a read-only mapping it
 * cannot register as a waiter and polls every 10 ms instead.
 */
int shmelect_election_wait(struct shmelect_election *e, uint64_t *seq, uint64_t timeout_ns);
int shmelect_segment_wait(struct shmelect_segment *seg, uint64_t *seq, uint64_t timeout_ns);
/* Announce a change to the segment's waiters (to wake a thread blocked in
 * shmelect_segment_wait, e.g. to make it stop). */
int shmelect_segment_wake(struct shmelect_segment *seg);

/* ------------------------------------------------------------------ */
/* Elector: the leader-election loop (client-go's LeaderElector)      */
/* ------------------------------------------------------------------ */

struct shmelect_elector;

enum shmelect_elector_flags {
	SHMELECT_ELECTOR_PREEMPT    = 1 << 0, /* take over from lower-priority leaders */
	SHMELECT_ELECTOR_NO_RELEASE = 1 << 1, /* on a graceful stop the lease runs out instead of being
						 released; free() leaves it vacant but locked until then */
	SHMELECT_ELECTOR_ONCE       = 1 << 2, /* after losing, stop instead of re-contending */
};

struct shmelect_elector_config {
	const char *identity;        /* NULL: host:pid:random */
	uint64_t lease_ns;           /* > renew_deadline_ns */
	uint64_t renew_deadline_ns;  /* > retry_period_ns; step down if not renewed by then */
	uint64_t retry_period_ns;    /* > 0: renew and retry interval */
	uint64_t lock_delay_ns;      /* after an unclean loss nobody acquires for this long */
	int32_t priority;            /* higher is preferred */
	uint32_t flags;              /* enum shmelect_elector_flags */
	const char *advert;          /* published while leading; NULL: none */
	uint64_t reserved[4];        /* must be zero */
};

struct shmelect_elector_callbacks {
	/* we lead now, with this token */
	void (*started_leading)(struct shmelect_elector *el, uint64_t token, void *userdata);
	/* we no longer lead (lost, stepped down, handed over, stopped) */
	void (*stopped_leading)(struct shmelect_elector *el, uint64_t token, void *userdata);
	/* the leader changed; identity NULL and token 0: no leader */
	void (*new_leader)(struct shmelect_elector *el, const char *identity, uint64_t token,
			   void *userdata);
};

int shmelect_elector_new(struct shmelect_election *e, const struct shmelect_elector_config *cfg,
			 const struct shmelect_elector_callbacks *cb, void *userdata,
			 struct shmelect_elector **ret);
/* Stops it (releasing the lease, or with NO_RELEASE locking it until its
 * expiry), leaves, frees. */
struct shmelect_elector *shmelect_elector_free(struct shmelect_elector *el);
/* One round at time now_ns; *ret_next_ns: when to call again at the latest. */
int shmelect_elector_step(struct shmelect_elector *el, uint64_t now_ns, uint64_t *ret_next_ns);
/* Run rounds in the calling thread, sleeping in between, until stopped. */
int shmelect_elector_run(struct shmelect_elector *el);
/* Run in a background thread. */
int shmelect_elector_start(struct shmelect_elector *el);
/* Ask run() or the background thread to stop; async-signal-safe. */
int shmelect_elector_stop(struct shmelect_elector *el);
/* Join the background thread; returns what its run() returned. */
int shmelect_elector_wait(struct shmelect_elector *el);
int shmelect_elector_is_leader(struct shmelect_elector *el);
/* Leader only: hand the lease to the member with this identity, now. */
int shmelect_elector_handover(struct shmelect_elector *el, const char *identity);
struct shmelect_candidate *shmelect_elector_candidate(struct shmelect_elector *el);

/* ------------------------------------------------------------------ */
/* Fence: check-and-advance on the highest token seen                 */
/* ------------------------------------------------------------------ */

/*
 * A fence is one 64-bit word, placed in any memory the users of a resource
 * share (MAP_SHARED), or taken from an election with shmelect_election_fence().
 * Zero-initialised memory is a valid, empty fence.
 */
struct shmelect_fence {
	uint64_t highest;
};

#define SHMELECT_FENCE_INIT { 0 }

/* 1: token >= every token seen before; it is now the highest.  0: older. */
int shmelect_fence_check(struct shmelect_fence *f, uint64_t token);
uint64_t shmelect_fence_highest(const struct shmelect_fence *f);
int shmelect_election_fence(struct shmelect_election *e,
			    struct shmelect_fence **ret);

#ifdef __cplusplus
}
#endif

#endif /* SHMELECT_H */
