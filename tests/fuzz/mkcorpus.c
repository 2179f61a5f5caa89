/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mkcorpus DIR: write the seed inputs of the segment fuzz target into DIR.
 *
 * Each seed is a small segment (2 elections of 2 candidates, 8704 bytes,
 * stored without its trailing zeros: see FUZZ_PAD in fuzz-segment.h) built
 * field by field through lib/layout.h: valid ones in every lease state, and
 * hostile ones, one fault each, so that the fuzzer starts from structures
 * it would take long to find and mutates them (claim words, lease words
 * naming slots out of range, names without a NUL, bad sizes, ...).  The
 * seeds are deterministic; one more, "real-*", is a segment written by the
 * library itself (with pids and times of the run that made it).
 *
 * `make fuzz-corpus` runs it into tests/fuzz/corpus/segment/, and writes
 * the reproducers of known library bugs into tests/fuzz/crashers/segment/.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "fuzz-segment.h"

#define NE 2
#define NC 2
#define FOREIGN_NS  UINT64_C(0xeeee0001) /* a PID namespace that is not ours */
#define DEAD_PID    4194302u             /* above any usual pid_max */
#define FOREVER     (UINT64_MAX - 1)

static const char *outdir, *crashdir;
static int written;

struct seg {
	uint8_t buf[SHM_HEADER_SIZE + 8 * (SHM_ELECTION_HEAD + 4 * SHM_SLOT_SIZE)];
	size_t size;
	uint32_t ne, nc, esz;
	uint8_t flags;
};

static struct shm_header *hdr(struct seg *s)
{
	return (struct shm_header *)s->buf;
}

static struct shm_election *el(struct seg *s, uint32_t i)
{
	return (struct shm_election *)(s->buf + SHM_HEADER_SIZE + (size_t)i * s->esz);
}

static struct shm_slot *sl(struct seg *s, uint32_t i, uint32_t j)
{
	return election_slot(el(s, i), j);
}

static void seg_init(struct seg *s, uint32_t ne, uint32_t nc)
{
	struct shm_header *h = hdr(s);

	memset(s, 0, sizeof(*s));
	s->ne = ne;
	s->nc = nc;
	s->esz = SHM_ELECTION_HEAD + nc * SHM_SLOT_SIZE;
	s->size = SHM_HEADER_SIZE + (size_t)ne * s->esz;
	if (s->size > sizeof(s->buf))
		abort();
	s->flags = FUZZ_PAD | FUZZ_THIS_BOOT | FUZZ_THIS_NS;
	h->magic = SHM_MAGIC;
	h->layout_version = SHM_LAYOUT_VERSION;
	h->header_size = SHM_HEADER_SIZE;
	h->segment_size = s->size;
	h->max_elections = ne;
	h->max_candidates = nc;
	h->election_size = s->esz;
	h->slot_size = SHM_SLOT_SIZE;
	memset(h->boot_id, 0x11, sizeof(h->boot_id)); /* an earlier boot, unless FUZZ_THIS_BOOT */
	h->created_realtime_ns = UINT64_C(1700000000000000000);
	h->token_floor = 0;
	h->init = SHM_INIT_READY;
}

/* An election claim word (election.c claim_word()); a CLAIMING one names
 * its creator's PID namespace, here ours (FUZZ_THIS_NS). */
static uint64_t claim(const char *name, uint32_t pid, unsigned state)
{
	uint64_t ns = state == SLOT_CLAIMING ? FUZZ_NS_HERE : 0;

	return ((uint64_t)name_hash(name) & CLAIM_FIELD_MASK) << CLAIM_HASH_SHIFT |
	       (ns & CLAIM_FIELD_MASK) << CLAIM_PIDNS_SHIFT | ((uint64_t)pid & SLOT_PID_MASK) << SLOT_PID_SHIFT |
	       state;
}

/* An election where election_open() finds it: its home record or the next
 * free one.  Returns its index. */
static uint32_t add_election(struct seg *s, const char *name)
{
	uint32_t home = name_hash(name) % s->ne;

	for (uint32_t p = 0; p < s->ne; p++) {
		uint32_t i = (home + p) % s->ne;
		struct shm_election *e = el(s, i);

		if (e->claim)
			continue;
		e->claim = claim(name, 0, SLOT_ACTIVE);
		snprintf(e->name, sizeof(e->name), "%s", name);
		e->token_base = UINT64_C(1700000000000000000);
		e->created_ns = 1000;
		hdr(s)->n_elections++;
		return i;
	}
	abort();
}

/* A member; local ones live in our PID namespace (FUZZ_THIS_NS) with a
 * pid that is gone, so they are provably dead. */
static struct shm_slot *add_member(struct seg *s, uint32_t i, uint32_t j, const char *identity, bool local)
{
	struct shm_slot *m = sl(s, i, j);

	m->gen_counter = 3;
	m->owner = slot_word(3, local ? DEAD_PID : 4242, SLOT_ACTIVE);
	m->pid = local ? DEAD_PID : 4242;
	m->pidns = local ? FUZZ_NS_HERE : FOREIGN_NS;
	m->start_time = 12345;
	m->lease_ns = UINT64_C(1000000000);
	m->joined_ns = 2000;
	snprintf(m->identity, sizeof(m->identity), "%s", identity);
	el(s, i)->members_seq += 2;
	return m;
}

static void lease(struct seg *s, uint32_t i, uint64_t term, uint32_t holder, uint64_t hi)
{
	el(s, i)->lease.lo = lease_lo(term, holder);
	el(s, i)->lease.hi = hi;
}

/* FUZZ_REWRITE patches: what a hostile writer changes after open */
struct patch {
	uint16_t offset;
	uint8_t len;
	uint8_t bytes[64];
};

static void write_seed(const char *dir, const char *name, struct seg *s, const struct patch *p, int n_patches)
{
	char path[4096];
	size_t n = s->size;
	uint8_t flags = s->flags | (n_patches ? FUZZ_REWRITE : 0);
	FILE *f;
	bool ok;

	if (flags & FUZZ_PAD)
		while (n > 0 && s->buf[n - 1] == 0)
			n--;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	ok = f && fputc(flags, f) != EOF;
	if (ok && n_patches)
		ok = fputc((int)(n & 0xff), f) != EOF && fputc((int)(n >> 8), f) != EOF;
	ok = ok && fwrite(s->buf, 1, n, f) == n;
	for (int i = 0; ok && i < n_patches; i++)
		ok = fputc(p[i].offset & 0xff, f) != EOF && fputc(p[i].offset >> 8, f) != EOF &&
		     fputc(p[i].len, f) != EOF && fwrite(p[i].bytes, 1, p[i].len, f) == p[i].len;
	if (!ok || fclose(f) != 0) {
		fprintf(stderr, "mkcorpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	written++;
}

/* flags byte + the file without its trailing zeros (when padded) */
static void emit(const char *name, struct seg *s)
{
	write_seed(outdir, name, s, NULL, 0);
}

static struct patch patch32(size_t offset, uint32_t v)
{
	struct patch p = { .offset = (uint16_t)offset, .len = 4 };

	memcpy(p.bytes, &v, 4);
	return p;
}

static struct patch patch64(size_t offset, uint64_t v)
{
	struct patch p = { .offset = (uint16_t)offset, .len = 8 };

	memcpy(p.bytes, &v, 8);
	return p;
}

static size_t el_offset(struct seg *s, uint32_t i)
{
	return (size_t)((uint8_t *)el(s, i) - s->buf);
}

/* alpha: a0 (local, dead) holds term 5 until hi; a1 (foreign) follows.
 * beta: b0 (foreign) and b1 (local), vacant since time 100. */
static void base(struct seg *s, uint64_t hi)
{
	uint32_t a, b;

	seg_init(s, NE, NC);
	a = add_election(s, "alpha");
	add_member(s, a, 0, "a0", true);
	add_member(s, a, 1, "a1", false);
	lease(s, a, 5, 1, hi);
	sl(s, a, 0)->acquire_ns = 50;
	sl(s, a, 0)->acquire_term = 5;
	b = add_election(s, "beta");
	add_member(s, b, 0, "b0", false);
	add_member(s, b, 1, "b1", true);
	lease(s, b, 9, 0, 100);
}

static uint32_t alpha(struct seg *s)
{
	for (uint32_t i = 0; i < s->ne; i++)
		if (!strcmp(el(s, i)->name, "alpha"))
			return i;
	abort();
}

static void valid_seeds(void)
{
	struct seg s;
	uint32_t a;

	seg_init(&s, NE, NC);
	emit("valid-empty", &s);

	seg_init(&s, NE, NC);
	add_election(&s, "alpha");
	emit("valid-one-election", &s);

	base(&s, FOREVER);
	emit("valid-held", &s);
	s.flags |= FUZZ_ELECTOR;
	emit("valid-held-elector", &s);

	base(&s, 1);
	emit("valid-expired", &s);
	s.flags |= FUZZ_ELECTOR;
	emit("valid-expired-elector", &s);

	base(&s, FOREVER);
	s.flags &= (uint8_t)~FUZZ_THIS_BOOT;
	emit("valid-stale-boot", &s);

	base(&s, FOREVER);
	a = alpha(&s);
	lease(&s, a, 5, 0, FOREVER); /* vacant, in a lock-delay that never ends */
	emit("valid-vacant-locked", &s);

	base(&s, FOREVER);
	a = alpha(&s);
	el(&s, a)->handover = (slot_gen(sl(&s, a, 1)->owner) << 16) | 2; /* to a1 */
	s.flags |= FUZZ_ELECTOR;
	emit("valid-handover-request", &s);
	el(&s, a)->handover = HANDOVER_RESIGN;
	emit("valid-handover-resign", &s);

	base(&s, 1);
	a = alpha(&s);
	sl(&s, a, 1)->priority = 100; /* a better member waits */
	sl(&s, a, 1)->waiting = 1;
	sl(&s, a, 0)->lock_delay_ns = 1000000;
	s.flags |= FUZZ_ELECTOR;
	emit("valid-priority-waiter", &s);

	base(&s, FOREVER);
	a = alpha(&s);
	sl(&s, a, 0)->advert_seq = 3;
	strcpy(sl(&s, a, 0)->advert[1], "unix:/run/a0.sock");
	emit("valid-advert", &s);

	/* more capacity: 3 elections of 1 candidate */
	seg_init(&s, 3, 1);
	add_election(&s, "alpha");
	add_election(&s, "beta");
	add_election(&s, "gamma");
	add_member(&s, 0, 0, "x", true);
	lease(&s, 0, 1, 1, FOREVER);
	emit("valid-3x1-full", &s);
}

static void hostile_seeds(void)
{
	struct seg s;
	uint32_t a;

	/* lease words */
	base(&s, FOREVER);
	a = alpha(&s);
	lease(&s, a, 5, NC + 1, FOREVER);
	emit("bad-holder-past-capacity", &s);
	lease(&s, a, 5, (uint32_t)LEASE_HOLDER_MASK, FOREVER);
	emit("bad-holder-max", &s);
	lease(&s, a, LEASE_TERM_MAX, 0, 0);
	emit("bad-term-max-vacant", &s);
	lease(&s, a, LEASE_TERM_MAX, 1, 1);
	emit("bad-term-max-expired", &s);
	lease(&s, a, 0, 2, FOREVER); /* term 0 with a holder */
	emit("bad-term-zero-held", &s);

	base(&s, FOREVER);
	a = alpha(&s);
	lease(&s, a, 5, 2, FOREVER); /* a1 holds with a lease duration of 0 */
	sl(&s, a, 1)->lease_ns = 0;
	sl(&s, a, 1)->lock_delay_ns = UINT64_MAX;
	emit("bad-holder-lease-ns", &s);

	/* claim words */
	base(&s, FOREVER);
	a = alpha(&s);
	el(&s, a)->claim = claim("alpha", 0, SLOT_CLAIMING); /* creator died */
	emit("bad-claim-claiming-dead", &s);
	el(&s, a)->claim = claim("zeta", 0, SLOT_CLAIMING);
	emit("bad-claim-claiming-other", &s);
	el(&s, a)->claim = claim("alpha", 0, CLAIM_TOMBSTONE);
	emit("bad-claim-tombstone", &s);
	el(&s, a)->claim = claim("other-name", 0, SLOT_ACTIVE); /* hash and name disagree */
	emit("bad-claim-hash", &s);

	/* names, identities and adverts without a NUL */
	base(&s, FOREVER);
	a = alpha(&s);
	memset(el(&s, a)->name, 'x', sizeof(el(&s, a)->name));
	memset(sl(&s, a, 0)->identity, 'y', sizeof(sl(&s, a, 0)->identity));
	memset(sl(&s, a, 0)->advert, 'z', sizeof(sl(&s, a, 0)->advert));
	sl(&s, a, 0)->advert_seq = 1;
	emit("bad-no-nul", &s);

	/* slot owner words */
	base(&s, FOREVER);
	a = alpha(&s);
	sl(&s, a, 0)->owner = slot_word(3, DEAD_PID, 3);
	emit("bad-slot-state-3", &s);
	sl(&s, a, 0)->owner = (FUZZ_NS_HERE << SLOT_GEN_SHIFT) | ((uint64_t)DEAD_PID << SLOT_PID_SHIFT) | SLOT_CLAIMING;
	emit("bad-slot-claiming", &s);
	sl(&s, a, 0)->owner = 0; /* the holder's slot is free */
	emit("bad-holder-slot-free", &s);

	/* handover words */
	base(&s, FOREVER);
	a = alpha(&s);
	el(&s, a)->handover = UINT64_C(0xffffffffffff0fff);
	s.flags |= FUZZ_ELECTOR;
	emit("bad-handover-index", &s);

	/* the header, one field at a time */
	base(&s, FOREVER);
	hdr(&s)->magic ^= 1;
	emit("bad-magic", &s);
	base(&s, FOREVER);
	hdr(&s)->layout_version = SHM_LAYOUT_VERSION + 1;
	emit("bad-version", &s);
	base(&s, FOREVER);
	hdr(&s)->init = 0;
	emit("bad-not-ready", &s);
	base(&s, FOREVER);
	hdr(&s)->header_size = 2048;
	emit("bad-header-size", &s);
	base(&s, FOREVER);
	hdr(&s)->slot_size = 512;
	emit("bad-slot-size", &s);
	base(&s, FOREVER);
	hdr(&s)->max_elections = 0;
	emit("bad-zero-elections", &s);
	base(&s, FOREVER);
	hdr(&s)->max_candidates = SHMELECT_MAX_CANDIDATES + 1;
	emit("bad-too-many-candidates", &s);
	base(&s, FOREVER);
	hdr(&s)->max_elections = 3; /* the file is one election short */
	hdr(&s)->segment_size += s.esz;
	emit("bad-declares-more", &s);
	base(&s, FOREVER);
	hdr(&s)->election_size += 64;
	emit("bad-election-size", &s);
	base(&s, FOREVER);
	hdr(&s)->segment_size -= 1;
	emit("bad-segment-size", &s);
	base(&s, FOREVER);
	s.flags &= (uint8_t)~FUZZ_PAD; /* cut after the header */
	s.size = SHM_HEADER_SIZE + 100;
	emit("bad-truncated", &s);
	s.size = 100;
	emit("bad-shorter-than-header", &s);
	s.size = 0;
	emit("bad-empty", &s);
}

/* A hostile writer changes the file after the library validated it. */
static void rewrite_seeds(void)
{
	struct seg s;
	struct patch p[4];
	uint32_t a;

	base(&s, FOREVER);
	a = alpha(&s);
	/* fields the library must not re-read after open */
	p[0] = patch32(offsetof(struct shm_header, max_candidates), SHMELECT_MAX_CANDIDATES);
	p[1] = patch32(offsetof(struct shm_header, slot_size), 1);
	p[2] = patch64(offsetof(struct shm_header, magic), 0);
	write_seed(outdir, "rewrite-header-fields", &s, p, 3);

	/* words that are re-read and must be checked at each use */
	p[0] = patch64(el_offset(&s, a) + offsetof(struct shm_election, lease.lo),
		       lease_lo(6, (uint32_t)LEASE_HOLDER_MASK));
	p[1] = patch64(el_offset(&s, a) + offsetof(struct shm_election, claim), claim("alpha", 0, CLAIM_TOMBSTONE));
	write_seed(outdir, "rewrite-lease-and-claim", &s, p, 2);

	memset(p[0].bytes, 'x', sizeof(p[0].bytes));
	p[0].offset = (uint16_t)(el_offset(&s, a) + offsetof(struct shm_election, name));
	p[0].len = 64;
	p[1] = patch64(el_offset(&s, a) + SHM_ELECTION_HEAD + offsetof(struct shm_slot, owner),
		       slot_word(9, DEAD_PID, 3));
	write_seed(outdir, "rewrite-name-and-owner", &s, p, 2);

	/* A library bug, fixed in 1957a2a (also found by test-segment.c
	 * header_changed_after_open): seg_election() in lib/layout.h took
	 * record addresses from the live header's election_size, not from
	 * the copy validated at open, so a writer that changed it sent
	 * segment_list, segment_info and election_open out of the mapping.
	 * Kept in crashers/ as a regression test. */
	if (crashdir) {
		p[0] = patch32(offsetof(struct shm_header, election_size), UINT32_C(0x7ffff000));
		p[1] = patch32(offsetof(struct shm_header, max_elections), SHMELECT_MAX_ELECTIONS);
		write_seed(crashdir, "rewrite-election-size", &s, p, 2);
	}
}

/* A segment the library wrote: alpha held by one member, beta with two. */
static void real_seed(void)
{
	struct shmelect_segment_params p = { .max_elections = NE, .max_candidates = NC };
	struct shmelect_segment *seg = NULL;
	struct shmelect_election *ea = NULL, *eb = NULL;
	struct shmelect_candidate *c1 = NULL, *c2 = NULL, *c3 = NULL;
	char file[] = "/tmp/shmelect-mkcorpus-XXXXXX";
	struct seg s;
	FILE *f;
	int fd, r;

	fd = mkstemp(file);
	if (fd < 0)
		return;
	close(fd);
	unlink(file);
	r = shmelect_segment_open(file, SHMELECT_SEGMENT_PATH | SHMELECT_SEGMENT_CREATE, &p, &seg);
	if (r < 0) {
		fprintf(stderr, "mkcorpus: real segment: %s\n", strerror(-r));
		return;
	}
	if (shmelect_election_open(seg, "alpha", SHMELECT_ELECTION_CREATE, &ea) == 0 &&
	    shmelect_election_open(seg, "beta", SHMELECT_ELECTION_CREATE, &eb) == 0 &&
	    shmelect_candidate_join(ea, "real-1", UINT64_C(1000000000), 0, &c1) == 0 &&
	    shmelect_candidate_join(eb, "real-2", UINT64_C(1000000000), 0, &c2) == 0 &&
	    shmelect_candidate_join(eb, "real-3", UINT64_C(1000000000), 0, &c3) == 0) {
		shmelect_candidate_try_acquire(c1, NULL);
		shmelect_candidate_set_advert(c1, "real-advert");
		shmelect_candidate_try_acquire(c2, NULL);
		shmelect_candidate_resign(c2);
		seg_init(&s, NE, NC);
		f = fopen(file, "re");
		if (f && fread(s.buf, 1, s.size, f) == s.size) {
			s.flags = FUZZ_PAD | FUZZ_THIS_BOOT;
			emit("real-held-and-resigned", &s);
		}
		if (f)
			fclose(f);
	}
	shmelect_candidate_leave(c3);
	shmelect_candidate_leave(c2);
	shmelect_candidate_leave(c1);
	shmelect_election_close(eb);
	shmelect_election_close(ea);
	shmelect_segment_close(seg);
	unlink(file);
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: mkcorpus CORPUS-DIR [CRASHERS-DIR]\n");
		return 2;
	}
	outdir = argv[1];
	crashdir = argc == 3 ? argv[2] : NULL;
	for (int i = 1; i < argc; i++)
		if (mkdir(argv[i], 0755) < 0 && errno != EEXIST) {
			fprintf(stderr, "mkcorpus: %s: %s\n", argv[i], strerror(errno));
			return 1;
		}
	valid_seeds();
	hostile_seeds();
	rewrite_seeds();
	real_seed();
	printf("mkcorpus: %d seeds in %s%s%s\n", written, outdir, crashdir ? " and " : "",
	       crashdir ? crashdir : "");
	return 0;
}
