/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Segment: create, open, validate, recover after reboot, list.
 *
 * Creation is atomic: the creator builds the whole segment in an unnamed
 * file (O_TMPFILE in the target directory), writes the "initialised" marker
 * last, and only then gives it its name with linkat(2), which fails with
 * EEXIST if another creator won.  So the name never refers to a half-made
 * segment, whether creators race or die half-way.  Where O_TMPFILE is not
 * supported we use a unique temporary name and link(2), same guarantee.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define SHM_DIR "/dev/shm"
#define SEGMENT_SIZE_MAX (UINT64_C(1) << 34) /* 16 GiB of address space */

static int segment_path(const char *name, unsigned flags, char *buf, size_t size)
{
	size_t n;

	if (!name || !*name)
		return -EINVAL;
	if (flags & SHMELECT_SEGMENT_PATH) {
		n = strnlen(name, PATH_MAX);
		if (n >= PATH_MAX || n >= size)
			return -ENAMETOOLONG;
		memcpy(buf, name, n + 1);
		return 0;
	}
	/* POSIX shm name: an optional leading '/', then no '/' at all */
	if (name[0] == '/')
		name++;
	n = strnlen(name, NAME_MAX + 1);
	if (n == 0 || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (n > NAME_MAX)
		return -ENAMETOOLONG;
	if ((size_t)snprintf(buf, size, SHM_DIR "/%s", name) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static uint64_t segment_bytes(uint32_t elections, uint32_t candidates, uint32_t *ret_election_size)
{
	uint64_t esz = SHM_ELECTION_HEAD + (uint64_t)candidates * SHM_SLOT_SIZE;

	if (ret_election_size)
		*ret_election_size = (uint32_t)esz;
	return SHM_HEADER_SIZE + (uint64_t)elections * esz;
}

static int validate_params(const struct shmelect_segment_params *p)
{
	if (!p)
		return 0;
	for (size_t i = 0; i < sizeof(p->reserved) / sizeof(p->reserved[0]); i++)
		if (p->reserved[i])
			return -EINVAL;
	/* tokens are token_base + term with term < 2^52: keep the sum below
	 * 2^63 so a token never wraps (invariant 2) */
	if (p->token_floor > TOKEN_BASE_MAX)
		return -ERANGE;
	if (p->reserved0 || p->max_elections > SHMELECT_MAX_ELECTIONS ||
	    p->max_candidates > SHMELECT_MAX_CANDIDATES || (p->mode & ~07777u))
		return -EINVAL;
	return 0;
}

/* Build a complete segment in fd (already sized 0). */
static int segment_init(int fd, uint32_t elections, uint32_t candidates, uint64_t token_floor)
{
	struct shm_header *h;
	uint32_t esz;
	uint64_t size = segment_bytes(elections, candidates, &esz);
	int r;

	if (size > SEGMENT_SIZE_MAX)
		return -EFBIG;
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;
	/* Reserve every page now: a full /dev/shm must fail here with
	 * -ENOSPC, not later with SIGBUS in whoever first touches a page. */
	r = posix_fallocate(fd, 0, (off_t)size);
	if (r != 0 && r != EOPNOTSUPP && r != EINVAL)
		return -r;
	h = mmap(NULL, SHM_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED)
		return -errno;
	/* The file is new and zero-filled: every election record is FREE with
	 * a vacant lease of term 0, every slot FREE.  Only the header needs
	 * writing, and nobody else can see it yet. */
	h->magic = SHM_MAGIC;
	h->layout_version = SHM_LAYOUT_VERSION;
	h->header_size = SHM_HEADER_SIZE;
	h->segment_size = size;
	h->max_elections = elections;
	h->max_candidates = candidates;
	h->election_size = esz;
	h->slot_size = SHM_SLOT_SIZE;
	r = read_boot_id(h->boot_id);
	h->created_realtime_ns = clock_realtime_ns();
	h->token_floor = token_floor;
	/* The marker last: a reader that sees it sees the fields above.
	 * (The linkat() below orders it anyway; this keeps the rule local.) */
	__atomic_store_n(&h->init, SHM_INIT_READY, __ATOMIC_RELEASE);
	munmap(h, SHM_HEADER_SIZE);
	return r < 0 ? r : 0;
}

static int segment_create(const char *path, const struct shmelect_segment_params *p)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 64], procfd[64];
	uint32_t elections = p && p->max_elections ? p->max_elections : SHMELECT_DEFAULT_ELECTIONS;
	uint32_t candidates = p && p->max_candidates ? p->max_candidates : SHMELECT_DEFAULT_CANDIDATES;
	mode_t mode = p && p->mode ? p->mode : 0644;
	uint64_t floor = p ? p->token_floor : 0;
	char *slash;
	int fd, r;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = 0;
	else
		*slash = 0;

	tmp[0] = 0;
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		uint64_t rnd = 0;
		random_u64(&rnd);
		snprintf(tmp, sizeof(tmp), "%s.tmp-%d-%016llx", path, (int)getpid(),
			 (unsigned long long)rnd);
		fd = open(tmp, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, mode);
	}
	if (fd < 0)
		return -errno;
	/* the umask must not make the segment unusable for its group */
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		goto fail;
	}
	r = segment_init(fd, elections, candidates, floor);
	if (r < 0)
		goto fail;
	if (tmp[0]) {
		r = link(tmp, path) < 0 ? -errno : 0;
		unlink(tmp);
	} else {
		snprintf(procfd, sizeof(procfd), "/proc/self/fd/%d", fd);
		r = linkat(AT_FDCWD, procfd, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
	}
	close(fd);
	return r;
fail:
	if (tmp[0])
		unlink(tmp);
	close(fd);
	return r;
}

/*
 * Leases from an earlier boot are void: their holders are gone and the
 * clock restarted.  The first read-write opener voids them under flock(2)
 * of the file (a one-time step at open, never in a decision path), keeping
 * each election's term so tokens continue upward, and writes the new boot
 * id last.  Concurrent openers wait on the flock and then find it done.
 */
static int segment_recover_boot(struct shmelect_segment *s, const uint8_t boot[16])
{
	struct shm_header *h = s->hdr;

	if (flock(s->fd, LOCK_EX) < 0)
		return -errno;
	if (memcmp(h->boot_id, boot, 16) != 0) {
		for (uint32_t i = 0; i < s->max_elections; i++) {
			struct shm_election *e = seg_election(s->base, s->election_size, i);
			uint64_t claim = __atomic_load_n(&e->claim, __ATOMIC_ACQUIRE);

			if (slot_state(claim) == SLOT_CLAIMING) {
				/* a creation the old boot never finished: a
				 * tombstone, not FREE, which would cut the probe
				 * chains of the names stored after it */
				__atomic_store_n(&e->claim, (uint64_t)CLAIM_TOMBSTONE, __ATOMIC_RELEASE);
				continue;
			}
			if (slot_state(claim) != SLOT_ACTIVE)
				continue;
			for (;;) {
				struct lease l = lease_read(&e->lease);
				struct lease v = { lease_lo(lease_term(l.lo), 0), 0 };
				if (lease_cas(&e->lease, l, v))
					break;
			}
			for (uint32_t j = 0; j < s->max_candidates; j++)
				__atomic_store_n(&election_slot(e, j)->owner, 0, __ATOMIC_RELEASE);
			__atomic_store_n(&e->waiters, 0, __ATOMIC_RELAXED); /* sleepers of the old boot */
			__atomic_fetch_add(&e->members_seq, 1, __ATOMIC_SEQ_CST);
			__atomic_fetch_add(&e->change, 1, __ATOMIC_SEQ_CST);
		}
		__atomic_store_n(&h->waiters, 0, __ATOMIC_RELAXED);
		memcpy(h->boot_id, boot, 16);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	flock(s->fd, LOCK_UN);
	return 0;
}

static int segment_map(int fd, bool readonly, struct shmelect_segment **ret)
{
	struct shmelect_segment *s;
	struct shm_header *h;
	struct stat st;
	uint8_t boot[16];
	uint64_t want;
	uint32_t esz;
	void *base;
	int r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	if ((uint64_t)st.st_size < SHM_HEADER_SIZE)
		return -EBADMSG; /* truncated, or not a segment */
	if ((uint64_t)st.st_size > SEGMENT_SIZE_MAX)
		return -EBADMSG;
	base = mmap(NULL, (size_t)st.st_size, readonly ? PROT_READ : PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	h = base;

	/* Bad memory is never trusted (invariant 8): every size and count
	 * that later code uses is checked here once and copied out. */
	r = -EPROTO;
	if (h->magic != SHM_MAGIC)
		goto fail;
	r = -EPROTONOSUPPORT;
	if (h->layout_version != SHM_LAYOUT_VERSION)
		goto fail;
	r = -EBADMSG;
	if (__atomic_load_n(&h->init, __ATOMIC_ACQUIRE) != SHM_INIT_READY)
		goto fail;
	if (h->header_size != SHM_HEADER_SIZE || h->slot_size != SHM_SLOT_SIZE)
		goto fail;
	if (h->max_elections == 0 || h->max_elections > SHMELECT_MAX_ELECTIONS ||
	    h->max_candidates == 0 || h->max_candidates > SHMELECT_MAX_CANDIDATES)
		goto fail;
	want = segment_bytes(h->max_elections, h->max_candidates, &esz);
	if (h->election_size != esz || h->segment_size != want || (uint64_t)st.st_size < want)
		goto fail;

	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto fail;
	}
	s->base = base;
	s->hdr = h;
	s->size = (size_t)st.st_size;
	s->max_elections = h->max_elections;
	s->max_candidates = h->max_candidates;
	s->election_size = esz;
	s->readonly = readonly;
	s->fd = fd;
	s->refs = 1;

	if (read_boot_id(boot) == 0 && memcmp(h->boot_id, boot, 16) != 0) {
		if (readonly)
			s->stale_boot = true;
		else {
			r = segment_recover_boot(s, boot);
			if (r < 0) {
				free(s);
				goto fail;
			}
		}
	}
	*ret = s;
	return 0;
fail:
	munmap(base, (size_t)st.st_size);
	return r;
}

_public_ int shmelect_segment_open(const char *name, unsigned flags,
				   const struct shmelect_segment_params *params,
				   struct shmelect_segment **ret)
{
	char path[PATH_MAX];
	bool readonly = flags & SHMELECT_SEGMENT_RDONLY;
	int r, fd;

	if (!ret)
		return -EINVAL;
	if (flags & ~(unsigned)(SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL |
				SHMELECT_SEGMENT_RDONLY | SHMELECT_SEGMENT_PATH))
		return -EINVAL;
	if ((flags & SHMELECT_SEGMENT_EXCL) && !(flags & SHMELECT_SEGMENT_CREATE))
		return -EINVAL;
	if (readonly && (flags & SHMELECT_SEGMENT_CREATE))
		return -EINVAL;
	r = validate_params(params);
	if (r < 0)
		return r;
	r = segment_path(name, flags, path, sizeof(path));
	if (r < 0)
		return r;

	for (int attempt = 0; attempt < 8; attempt++) {
		/* O_NONBLOCK: a FIFO planted under the name must not block us
		 * (segment_map then rejects anything but a regular file) */
		fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd >= 0) {
			if (flags & SHMELECT_SEGMENT_EXCL) {
				close(fd);
				return -EEXIST;
			}
			r = segment_map(fd, readonly, ret);
			if (r < 0)
				close(fd);
			return r;
		}
		if (errno != ENOENT || !(flags & SHMELECT_SEGMENT_CREATE))
			return -errno;
		r = segment_create(path, params);
		if (r == -EEXIST && !(flags & SHMELECT_SEGMENT_EXCL))
			continue; /* another creator won: open theirs */
		if (r < 0)
			return r;
		flags &= ~(unsigned)SHMELECT_SEGMENT_EXCL; /* it is ours now */
	}
	return -EAGAIN;
}

void segment_unref(struct shmelect_segment *s)
{
	if (!s)
		return;
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	munmap(s->base, s->size);
	close(s->fd);
	free(s);
}

void segment_ref(struct shmelect_segment *s)
{
	__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

_public_ struct shmelect_segment *shmelect_segment_close(struct shmelect_segment *seg)
{
	segment_unref(seg);
	return NULL;
}

_public_ int shmelect_segment_unlink(const char *name, unsigned flags)
{
	char path[PATH_MAX];
	int r;

	if (flags & ~(unsigned)SHMELECT_SEGMENT_PATH)
		return -EINVAL;
	r = segment_path(name, flags, path, sizeof(path));
	if (r < 0)
		return r;
	return unlink(path) < 0 ? -errno : 0;
}

_public_ int shmelect_segment_info(struct shmelect_segment *seg, struct shmelect_segment_info *ret)
{
	struct shmelect_segment_info info = { 0 };
	const struct shm_header *h;

	if (!seg || !ret)
		return -EINVAL;
	h = seg->hdr;
	info.layout_version = SHM_LAYOUT_VERSION;
	info.max_elections = seg->max_elections;
	info.max_candidates = seg->max_candidates;
	info.size = seg->size;
	info.readonly = seg->readonly;
	info.stale_boot = seg->stale_boot;
	info.created_realtime_ns = h->created_realtime_ns;
	{
		struct stat st;
		if (fstat(seg->fd, &st) == 0) {
			info.dev = (uint64_t)st.st_dev;
			info.ino = (uint64_t)st.st_ino;
		}
	}
	for (int i = 0, o = 0; i < 16; i++) {
		o += snprintf(info.boot_id + o, sizeof(info.boot_id) - (size_t)o, "%02x", h->boot_id[i]);
		if (i == 3 || i == 5 || i == 7 || i == 9)
			info.boot_id[o++] = '-';
	}
	for (uint32_t i = 0; i < seg->max_elections; i++)
		if (slot_state(__atomic_load_n(&seg_election(seg->base, seg->election_size, i)->claim,
					       __ATOMIC_ACQUIRE)) == SLOT_ACTIVE)
			info.n_elections++;
	*ret = info;
	return 0;
}

_public_ int shmelect_segment_list(struct shmelect_segment *seg,
				   char (*names)[SHMELECT_NAME_MAX + 1], size_t n)
{
	size_t count = 0;

	if (!seg || (n && !names))
		return -EINVAL;
	for (uint32_t i = 0; i < seg->max_elections; i++) {
		struct shm_election *e = seg_election(seg->base, seg->election_size, i);

		if (slot_state(__atomic_load_n(&e->claim, __ATOMIC_ACQUIRE)) != SLOT_ACTIVE)
			continue;
		if (count < n)
			copy_bounded(names[count], e->name, sizeof(names[count]));
		count++;
	}
	return count > INT_MAX ? INT_MAX : (int)count;
}
