/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target: open a segment file made of arbitrary bytes (invariant 8,
 * "bad memory is never trusted") and use it as an observer and as a
 * member would.
 *
 * The input (fuzz-segment.h) becomes the contents of a memfd, which the
 * library opens by path, SHMELECT_SEGMENT_PATH "/proc/self/fd/N": a fresh
 * open file description of the same memory file each time, with no file
 * system in between.  With FUZZ_REWRITE, a "hostile writer" then patches
 * the file under the library's mapping, right after the open validated
 * it.  Then:
 *
 *   read-only   segment_info, segment_list, election_open of every listed
 *               name (and of one absent name), observe with members,
 *               election_wait/segment_wait with seq 0 (no sleep);
 *   read-write  the same, and in each listed election: join a candidate,
 *               try_acquire, renew, leadership, set_advert/_priority/
 *               _lock_delay, the election's fence, handover requests,
 *               evict, break, reap, resign, leave; with FUZZ_ELECTOR an
 *               elector (join, three steps, free); finally create one new
 *               election and lead it.
 *
 * Any crash, sanitizer report or leak is a library bug.  So is a violated
 * contract, which aborts here: an error code the man pages do not list, a
 * count beyond the segment's capacity, a string without its NUL, or a
 * candidate that try_acquire says leads but is_leader denies.
 *
 * One thing the harness avoids on purpose: election_open() waits up to 2 s
 * (CREATE_WAIT_NS in election.c) for a record with the same name hash that
 * is being created, unless it creates and the creator is provably dead.
 * An input can ask for that wait; it is bounded and documented, not a bug,
 * but it would slow the fuzzer to a crawl, so the harness skips opens that
 * would wait (open_would_wait(), which mirrors the probe).
 *
 * Built two ways: with clang -fsanitize=fuzzer (tests/fuzz/build.sh) as a
 * libFuzzer target, and with the ordinary compiler into test-corpus, which
 * replays the corpus and the crashers in every `make check` (also under
 * ASan+UBSan in scripts/test.sh's sanitizer pass).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "fuzz-segment.h"
#include "fuzz-assert.h"

#define ONE_OF2(r, a, b) ((r) == (a) || (r) == (b))
#define ONE_OF3(r, a, b, c) (ONE_OF2(r, a, b) || (r) == (c))

#define MAX_NAMES 8     /* elections used per input */
#define LEASE_NS  (UINT64_C(1000000000))
#define MS        (UINT64_C(1000000))

static int memfd = -1;
static char path[64];
static uint8_t boot_here[16];
static uint64_t pidns_here;
static uint8_t *buf;
static size_t buf_len;
/* FUZZ_REWRITE: the patches, applied after each open */
static const uint8_t *patches;
static size_t patches_len;
/* FUZZ_SEGMENT_NO_REWRITE_HEADER=1 in the environment drops the patches
 * that fall into the header page, to explore past a known bug of that kind
 * while it is being fixed (as crashers/segment/rewrite-election-size was) */
static bool no_rewrite_header;

static void fuzz_init(void)
{
	memfd = memfd_create("shmelect-fuzz", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("fuzz-segment: memfd_create");
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	if (read_boot_id(boot_here) < 0)
		memset(boot_here, 0, sizeof(boot_here));
	if (self_pidns(&pidns_here) < 0)
		pidns_here = 0;
	buf = malloc(FUZZ_PAD_MAX);
	if (!buf)
		abort();
	no_rewrite_header = getenv("FUZZ_SEGMENT_NO_REWRITE_HEADER") &&
			    !strcmp(getenv("FUZZ_SEGMENT_NO_REWRITE_HEADER"), "1");
}

/* The segment file for this input: padding and the two substitutions. */
static size_t make_file(uint8_t flags, const uint8_t *data, size_t n)
{
	const struct shm_header *h = (const struct shm_header *)buf;
	size_t len = n < FUZZ_PAD_MAX ? n : FUZZ_PAD_MAX;

	memcpy(buf, data, len);
	if (len < sizeof(*h))
		return len;
	if ((flags & FUZZ_PAD) && h->segment_size > len && h->segment_size <= FUZZ_PAD_MAX) {
		memset(buf + len, 0, h->segment_size - len);
		len = h->segment_size;
	}
	if (flags & FUZZ_THIS_BOOT)
		memcpy(((struct shm_header *)buf)->boot_id, boot_here, 16);
	if ((flags & FUZZ_THIS_NS) && h->slot_size == SHM_SLOT_SIZE && h->election_size >= SHM_ELECTION_HEAD &&
	    h->election_size <= FUZZ_PAD_MAX && h->election_size % 64 == 0) {
		for (size_t e = SHM_HEADER_SIZE; e + h->election_size <= len; e += h->election_size) {
			struct shm_election *rec = (struct shm_election *)(buf + e);
			uint64_t w = rec->claim;

			if (slot_state(w) == SLOT_CLAIMING &&
			    ((w >> CLAIM_PIDNS_SHIFT) & CLAIM_FIELD_MASK) == FUZZ_NS_HERE)
				rec->claim = (w & ~(CLAIM_FIELD_MASK << CLAIM_PIDNS_SHIFT)) |
					     (pidns_here & CLAIM_FIELD_MASK) << CLAIM_PIDNS_SHIFT;
			for (size_t s = e + SHM_ELECTION_HEAD; s + SHM_SLOT_SIZE <= e + h->election_size;
			     s += SHM_SLOT_SIZE) {
				struct shm_slot *slot = (struct shm_slot *)(buf + s);

				if (slot->pidns == FUZZ_NS_HERE)
					slot->pidns = pidns_here;
				w = slot->owner;
				if (slot_state(w) == SLOT_CLAIMING && slot_gen(w) == FUZZ_NS_HERE)
					slot->owner = (w & ((UINT64_C(1) << SLOT_GEN_SHIFT) - 1)) |
						      (pidns_here & 0xffffffffu) << SLOT_GEN_SHIFT;
			}
		}
	}
	return len;
}

/* (Re)write the file: before each open, since the library mapped the last
 * one MAP_SHARED and may have written to it. */
static void load_file(void)
{
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, buf, buf_len, 0) != (ssize_t)buf_len) {
		perror("fuzz-segment: writing the memfd");
		abort();
	}
}

/* FUZZ_REWRITE: change the file under the library's mapping. */
static void hostile_writer(void)
{
	const uint8_t *p = patches, *end;
	struct fuzz_patch_head ph;

	if (!patches)
		return;
	end = patches + patches_len;
	while ((size_t)(end - p) >= sizeof(ph)) {
		size_t off, len;

		memcpy(&ph, p, sizeof(ph));
		p += sizeof(ph);
		off = (size_t)ph.offset[0] | (size_t)ph.offset[1] << 8;
		len = ph.len;
		if (len > (size_t)(end - p))
			len = (size_t)(end - p);
		if (off < buf_len && len > buf_len - off)
			len = buf_len - off;
		if (off < buf_len && !(no_rewrite_header && off < SHM_HEADER_SIZE) &&
		    pwrite(memfd, p, len, (off_t)off) != (ssize_t)len)
			abort();
		p += len;
	}
}

/* Would shmelect_election_open(seg, name, create) sleep, waiting for a
 * creator?  The same probe as election.c (keep the two in step), read
 * through the mapping at the size validated at open. */
static bool open_would_wait(struct shmelect_segment *seg, const char *name, bool create)
{
	uint32_t hash = name_hash(name), max = seg->max_elections;

	for (uint32_t probe = 0; probe < max; probe++) {
		struct shm_election *rec = seg_election(seg->base, seg->election_size, (hash % max + probe) % max);
		uint64_t w = __atomic_load_n(&rec->claim, __ATOMIC_ACQUIRE);
		char have[SHMELECT_NAME_MAX + 1];
		pid_t pid;

		switch (slot_state(w)) {
		case SLOT_ACTIVE:
			copy_bounded(have, rec->name, sizeof(have));
			if (!strcmp(have, name))
				return false;
			continue;
		case SLOT_FREE:
			return false;
		case CLAIM_TOMBSTONE:
			continue;
		default: /* SLOT_CLAIMING */
			if (((w >> CLAIM_HASH_SHIFT) & CLAIM_FIELD_MASK) != (hash & CLAIM_FIELD_MASK))
				continue;
			/* a creator provably dead (in our PID namespace, pid
			 * gone) is taken over at once by a creating opener */
			pid = (pid_t)slot_pid(w);
			if (create && ((w >> CLAIM_PIDNS_SHIFT) & CLAIM_FIELD_MASK) == (pidns_here & CLAIM_FIELD_MASK) &&
			    (pid == 0 || (kill(pid, 0) < 0 && errno == ESRCH)))
				return false;
			return true;
		}
	}
	return false;
}

static void check_string(const char *s, size_t size, const char *what)
{
	FZ_ASSERT(strnlen(s, size) < size, "%s is not NUL-terminated", what);
}

static void check_info(struct shmelect_segment *seg, bool readonly)
{
	struct shmelect_segment_info info;
	int r = shmelect_segment_info(seg, &info);

	FZ_ASSERT(r == 0, "segment_info: %d", r);
	FZ_ASSERT(info.max_elections >= 1 && info.max_elections <= SHMELECT_MAX_ELECTIONS, "%u",
		  info.max_elections);
	FZ_ASSERT(info.max_candidates >= 1 && info.max_candidates <= SHMELECT_MAX_CANDIDATES, "%u",
		  info.max_candidates);
	FZ_ASSERT(info.n_elections <= info.max_elections, "%u > %u", info.n_elections, info.max_elections);
	FZ_ASSERT(strlen(info.boot_id) == 36, "boot id \"%s\"", info.boot_id);
	FZ_ASSERT(info.readonly == readonly, "readonly %u", info.readonly);
}

static void check_record(struct shmelect_election *e, const struct shmelect_record *rec,
			 const struct shmelect_member *m, int n, size_t cap)
{
	uint32_t max_c = e->seg->max_candidates;

	FZ_ASSERT((uint32_t)n == rec->n_members, "observe returned %d, n_members %u", n, rec->n_members);
	FZ_ASSERT(rec->n_members <= max_c, "%u members, capacity %u", rec->n_members, max_c);
	check_string(rec->election, sizeof(rec->election), "record.election");
	check_string(rec->holder, sizeof(rec->holder), "record.holder");
	check_string(rec->advert, sizeof(rec->advert), "record.advert");
	FZ_ASSERT(!strcmp(rec->election, shmelect_election_name(e)), "election \"%s\"", rec->election);
	if (rec->has_holder)
		FZ_ASSERT(rec->holder_slot < max_c, "holder slot %u of %u", rec->holder_slot, max_c);
	for (int i = 0; i < n && (size_t)i < cap; i++) {
		check_string(m[i].identity, sizeof(m[i].identity), "member.identity");
		FZ_ASSERT(m[i].slot < max_c, "member slot %u of %u", m[i].slot, max_c);
		FZ_ASSERT(!m[i].is_holder || (rec->has_holder && rec->holder_slot == m[i].slot),
			  "member %u is_holder, record holder %u/%u", m[i].slot, rec->has_holder,
			  rec->holder_slot);
	}
}

static void observe(struct shmelect_election *e, struct shmelect_record *rec,
		    struct shmelect_member *m, size_t cap)
{
	int n = shmelect_election_observe(e, rec, m, cap);

	FZ_ASSERT(n >= 0 || n == -EBADMSG, "observe: %d", n);
	if (n >= 0)
		check_record(e, rec, m, n, cap);
}

static int list(struct shmelect_segment *seg, char (*names)[SHMELECT_NAME_MAX + 1])
{
	int n = shmelect_segment_list(seg, names, MAX_NAMES);

	FZ_ASSERT(n >= 0 && (uint32_t)n <= seg->max_elections, "segment_list: %d", n);
	for (int i = 0; i < n && i < MAX_NAMES; i++)
		check_string(names[i], SHMELECT_NAME_MAX + 1, "listed name");
	return n < MAX_NAMES ? n : MAX_NAMES;
}

static void wait_seq0(struct shmelect_segment *seg, struct shmelect_election *e)
{
	uint64_t seq = 0;

	/* seq 0 returns the current value at once, without sleeping */
	if (e)
		FZ_ASSERT(shmelect_election_wait(e, &seq, 0) == 1 && seq != 0, "election_wait");
	seq = 0;
	FZ_ASSERT(shmelect_segment_wait(seg, &seq, 0) == 1 && seq != 0, "segment_wait");
}

static void use_readonly(void)
{
	struct shmelect_segment *seg = NULL;
	struct shmelect_election *e = NULL;
	struct shmelect_record rec;
	struct shmelect_member members[4];
	char names[MAX_NAMES][SHMELECT_NAME_MAX + 1];
	int n, r;

	load_file();
	r = shmelect_segment_open(path, SHMELECT_SEGMENT_PATH | SHMELECT_SEGMENT_RDONLY, NULL, &seg);
	FZ_ASSERT(r == 0 || ONE_OF3(r, -EBADMSG, -EPROTO, -EPROTONOSUPPORT), "segment_open(RDONLY): %d", r);
	if (r < 0)
		return;
	hostile_writer();
	check_info(seg, true);
	FZ_ASSERT(shmelect_election_open(seg, "fuzz-new", SHMELECT_ELECTION_CREATE, &e) == -EROFS, "create on RDONLY");

	n = list(seg, names);
	for (int i = 0; i < n; i++) {
		if (open_would_wait(seg, names[i], false))
			continue;
		r = shmelect_election_open(seg, names[i], 0, &e);
		/* a listed name may be empty (a hostile record), or sit beyond
		 * a FREE record in its probe sequence, or beyond a record in a
		 * bad state */
		if (!names[i][0])
			FZ_ASSERT(r == -EINVAL, "election_open(\"\"): %d", r);
		FZ_ASSERT(r == 0 || ONE_OF3(r, -ENOENT, -EBADMSG, -EINVAL), "election_open(%s): %d", names[i], r);
		if (r < 0)
			continue;
		observe(e, &rec, members, 4);
		observe(e, &rec, NULL, 0);
		FZ_ASSERT(shmelect_election_evict(e) == -EROFS, "evict on RDONLY");
		wait_seq0(seg, e);
		e = shmelect_election_close(e);
	}
	if (!open_would_wait(seg, "fuzz-absent", false)) {
		r = shmelect_election_open(seg, "fuzz-absent", 0, &e);
		FZ_ASSERT(ONE_OF2(r, -ENOENT, -EBADMSG), "election_open(absent): %d", r);
	}
	wait_seq0(seg, NULL);
	shmelect_segment_close(seg);
}

static void use_elector(struct shmelect_election *e)
{
	struct shmelect_elector_config cfg = {
		.identity = "fuzz-el",
		.lease_ns = 10 * MS,
		.renew_deadline_ns = 5 * MS,
		.retry_period_ns = 1 * MS,
		.lock_delay_ns = 1 * MS,
		.priority = 1,
		.flags = SHMELECT_ELECTOR_PREEMPT,
		.advert = "fuzz-el-advert",
	};
	struct shmelect_elector *el = NULL;
	uint64_t now, next;
	int r;

	r = shmelect_elector_new(e, &cfg, NULL, NULL, &el);
	FZ_ASSERT(r == 0 || ONE_OF2(r, -EEXIST, -ENOSPC), "elector_new: %d", r);
	if (r < 0)
		return;
	now = shmelect_now_ns();
	for (int i = 0; i < 3; i++) {
		r = shmelect_elector_step(el, now, &next);
		FZ_ASSERT(r == 0 || ONE_OF3(r, -EBADMSG, -EOVERFLOW, -EIDRM), "elector_step: %d", r);
		now += 2 * MS;
	}
	r = shmelect_elector_is_leader(el);
	FZ_ASSERT(r == 0 || r == 1, "elector_is_leader: %d", r);
	if (r == 1) {
		r = shmelect_elector_handover(el, "fuzz-a");
		FZ_ASSERT(r >= 0 || ONE_OF2(r, -ESRCH, -EBADMSG), "elector_handover: %d", r);
	}
	shmelect_elector_free(el);
}

/* One member's life in election e of a read-write mapping. */
static void use_member(struct shmelect_election *e, const struct shmelect_record *seen,
		       const struct shmelect_member *members, int n_members, uint8_t flags)
{
	struct shmelect_candidate *c = NULL;
	struct shmelect_record rec;
	struct shmelect_fence *fence;
	uint64_t token = 0, t2, expiry;
	int r, held;

	r = shmelect_candidate_join(e, "fuzz-a", LEASE_NS, 0, &c);
	FZ_ASSERT(r == 0 || ONE_OF2(r, -EEXIST, -ENOSPC), "candidate_join: %d", r);
	if (r < 0)
		return;

	held = shmelect_candidate_try_acquire(c, &token);
	FZ_ASSERT(held == 0 || held == 1 || ONE_OF3(held, -EBADMSG, -EOVERFLOW, -EIDRM), "try_acquire: %d", held);
	if (held == 1) {
		/* what try_acquire says, is_leader and observers agree with */
		r = shmelect_candidate_leadership(c, &t2, &expiry);
		FZ_ASSERT(r == 1 && t2 == token, "leadership after try_acquire: %d, token %llu vs %llu", r,
			  (unsigned long long)t2, (unsigned long long)token);
		r = shmelect_candidate_renew(c);
		FZ_ASSERT(r == 1, "renew of a fresh lease: %d", r);
		observe(e, &rec, NULL, 0);
		FZ_ASSERT(rec.has_holder && !rec.expired && rec.token == token && !strcmp(rec.holder, "fuzz-a"),
			  "observer disagrees: holder %u \"%s\", token %llu vs %llu", rec.has_holder, rec.holder,
			  (unsigned long long)rec.token, (unsigned long long)token);
		r = shmelect_election_fence(e, &fence);
		FZ_ASSERT(r == 0, "election_fence: %d", r);
		/* never token 0, never a wrapped one: election_open refuses a
		 * record whose token_base could wrap (TOKEN_BASE_MAX) */
		FZ_ASSERT(token > e->token_base, "token %llu, token base %llu", (unsigned long long)token,
			  (unsigned long long)e->token_base);
		r = shmelect_fence_check(fence, token);
		FZ_ASSERT(r == 0 || r == 1, "fence_check(%llu): %d", (unsigned long long)token, r);
	} else {
		r = shmelect_candidate_renew(c);
		FZ_ASSERT(r == 0 || r == -EBADMSG, "renew without the lease: %d", r);
		FZ_ASSERT(shmelect_candidate_is_leader(c) == 0, "is_leader without the lease");
	}
	FZ_ASSERT(shmelect_candidate_set_advert(c, "fuzz-advert") == 0, "set_advert");
	FZ_ASSERT(shmelect_candidate_set_priority(c, 7) == 0, "set_priority");
	FZ_ASSERT(shmelect_candidate_set_lock_delay(c, MS) == 0, "set_lock_delay");

	/* handover requests, to an existing member and to ourselves */
	for (int i = 0; i < n_members && i < 4; i++) {
		r = shmelect_election_handover(e, members[i].identity, 0);
		FZ_ASSERT(r == 0 || ONE_OF3(r, -ESRCH, -EINVAL, -ENAMETOOLONG), "handover request: %d", r);
	}
	r = shmelect_election_handover(e, "fuzz-a", SHMELECT_HANDOVER_FORCE);
	FZ_ASSERT(r >= 0 || ONE_OF3(r, -EBADMSG, -EOVERFLOW, -ESRCH), "handover FORCE: %d", r);
	if (r == 1) {
		/* handed to us: adopted at the next try_acquire */
		r = shmelect_candidate_try_acquire(c, &token);
		FZ_ASSERT(r == 1, "try_acquire after a forced handover to us: %d", r);
	}
	FZ_ASSERT(shmelect_election_handover(e, NULL, SHMELECT_HANDOVER_ANY) == 0, "handover ANY");
	FZ_ASSERT(shmelect_election_handover(e, NULL, 0) == 0, "handover withdraw");

	if (flags & FUZZ_ELECTOR)
		use_elector(e);

	if (seen->has_holder) {
		r = shmelect_election_break(e, seen->term, seen->holder_slot);
		FZ_ASSERT(r >= 0 || ONE_OF2(r, -EINVAL, -EBADMSG), "election_break: %d", r);
	}
	r = shmelect_election_evict(e);
	FZ_ASSERT(r == 0 || r == 1 || r == -EBADMSG, "evict: %d", r);
	if (r == 1 || r == 0)
		FZ_ASSERT(shmelect_candidate_is_leader(c) == 0, "still leading after evict returned %d", r);
	r = shmelect_election_reap(e);
	FZ_ASSERT(r >= 0 || r == -EBADMSG, "reap: %d", r);
	r = shmelect_candidate_resign(c);
	FZ_ASSERT(r == 0 || r == 1, "resign: %d", r);
	shmelect_candidate_leave(c);
}

static void use_readwrite(uint8_t flags)
{
	struct shmelect_segment *seg = NULL;
	struct shmelect_election *e = NULL;
	struct shmelect_record rec;
	struct shmelect_member members[4];
	char names[MAX_NAMES][SHMELECT_NAME_MAX + 1];
	int n, r;

	load_file();
	r = shmelect_segment_open(path, SHMELECT_SEGMENT_PATH, NULL, &seg);
	FZ_ASSERT(r == 0 || ONE_OF3(r, -EBADMSG, -EPROTO, -EPROTONOSUPPORT), "segment_open: %d", r);
	if (r < 0)
		return;
	hostile_writer();
	check_info(seg, false);

	n = list(seg, names);
	for (int i = 0; i < n; i++) {
		if (open_would_wait(seg, names[i], false))
			continue;
		r = shmelect_election_open(seg, names[i], 0, &e);
		if (!names[i][0])
			FZ_ASSERT(r == -EINVAL, "election_open(\"\"): %d", r);
		FZ_ASSERT(r == 0 || ONE_OF3(r, -ENOENT, -EBADMSG, -EINVAL), "election_open(%s): %d", names[i], r);
		if (r < 0)
			continue;
		memset(&rec, 0, sizeof(rec));
		r = shmelect_election_observe(e, &rec, members, 4);
		FZ_ASSERT(r >= 0 || r == -EBADMSG, "observe: %d", r);
		if (r >= 0)
			check_record(e, &rec, members, r, 4);
		use_member(e, &rec, members, r < 0 ? 0 : r < 4 ? r : 4, flags);
		observe(e, &rec, members, 4);
		wait_seq0(seg, e);
		e = shmelect_election_close(e);
	}

	if (!open_would_wait(seg, "fuzz-new", true)) {
		r = shmelect_election_open(seg, "fuzz-new", SHMELECT_ELECTION_CREATE, &e);
		FZ_ASSERT(r == 0 || ONE_OF3(r, -ENOSPC, -EBADMSG, -EAGAIN), "election_open(CREATE): %d", r);
		if (r == 0) {
			memset(&rec, 0, sizeof(rec));
			r = shmelect_election_observe(e, &rec, members, 4);
			FZ_ASSERT(r >= 0 || r == -EBADMSG, "observe: %d", r);
			use_member(e, &rec, members, r < 0 ? 0 : r < 4 ? r : 4, flags);
			e = shmelect_election_close(e);
		}
	}
	wait_seq0(seg, NULL);
	shmelect_segment_close(seg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t flags;
	size_t n;

	if (memfd < 0)
		fuzz_init();
	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;
	n = size;
	patches = NULL;
	patches_len = 0;
	if ((flags & FUZZ_REWRITE) && size >= 2) {
		n = (size_t)data[0] | (size_t)data[1] << 8;
		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		patches = data + n;
		patches_len = size - n;
	}
	buf_len = make_file(flags, data, n);

	if (buf_len < SHM_HEADER_SIZE) {
		load_file();
		struct shmelect_segment *seg = NULL;
		int r = shmelect_segment_open(path, SHMELECT_SEGMENT_PATH | SHMELECT_SEGMENT_RDONLY, NULL, &seg);
		FZ_ASSERT(r == -EBADMSG, "a file shorter than a header: %d", r);
		return 0;
	}
	use_readonly();
	use_readwrite(flags);
	return 0;
}
