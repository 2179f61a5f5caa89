/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Segment: create, open, flags and parameters, names, file-backed segments,
 * validation of broken and hostile files, concurrent creation, recovery
 * after a reboot, listing, unlinking.
 */
#include "helpers.h"

TestSuite(segment, .fini = teardown);

static struct shmelect_segment_info seg_info(struct shmelect_segment *s)
{
	struct shmelect_segment_info info;

	memset(&info, 0xa5, sizeof(info));
	cr_assert_eq(shmelect_segment_info(s, &info), 0);
	return info;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* This boot's id as /proc shows it (36 characters). */
static void proc_boot_id(char buf[37])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	if (!f)
		cr_skip_test("no /proc/sys/kernel/random/boot_id: %s", strerror(errno));
	cr_assert_not_null(fgets(buf, 37, f));
	fclose(f);
	buf[36] = 0;
}

static uint64_t expected_size(uint32_t elections, uint32_t candidates)
{
	return SHM_HEADER_SIZE + (uint64_t)elections * (SHM_ELECTION_HEAD + (uint64_t)candidates * SHM_SLOT_SIZE);
}

/* ------------------------------------------------------------------ */
/* Create and open                                                      */
/* ------------------------------------------------------------------ */

Test(segment, create_and_open_default_params)
{
	const char *name = shm_name("default");
	struct shmelect_segment *s = NULL, *s2 = NULL;
	struct shmelect_segment_info info, info2;
	char boot[37], file[PATH_MAX];
	struct stat st;
	uint64_t t0, t1;

	proc_boot_id(boot);
	t0 = realtime_ns();
	cr_assert_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, NULL, &s), 0);
	t1 = realtime_ns();
	cr_assert_not_null(s);

	info = seg_info(s);
	cr_expect_eq(info.layout_version, SHM_LAYOUT_VERSION);
	cr_expect_eq(info.max_elections, SHMELECT_DEFAULT_ELECTIONS);
	cr_expect_eq(info.max_candidates, SHMELECT_DEFAULT_CANDIDATES);
	cr_expect_eq(info.n_elections, 0);
	cr_expect_eq(info.size, expected_size(SHMELECT_DEFAULT_ELECTIONS, SHMELECT_DEFAULT_CANDIDATES));
	cr_expect_str_eq(info.boot_id, boot);
	cr_expect_eq(info.stale_boot, 0);
	cr_expect_eq(info.readonly, 0);
	cr_expect(info.created_realtime_ns >= t0 && info.created_realtime_ns <= t1,
		  "created_realtime_ns %" PRIu64 " not within [%" PRIu64 ", %" PRIu64 "]",
		  info.created_realtime_ns, t0, t1);

	/* the file: default mode 0644 whatever the umask, full size */
	shm_file(name, file, sizeof(file));
	cr_assert_eq(stat(file, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0644, "mode %o", (unsigned)(st.st_mode & 07777));
	cr_expect_eq((uint64_t)st.st_size, info.size);

	/* open the existing segment without CREATE: the same one */
	cr_assert_eq(shmelect_segment_open(name, 0, NULL, &s2), 0);
	info2 = seg_info(s2);
	cr_expect_eq(info2.created_realtime_ns, info.created_realtime_ns);
	cr_expect_eq(info2.size, info.size);

	/* CREATE on an existing segment opens it */
	shmelect_segment_close(s2);
	s2 = NULL;
	cr_assert_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, NULL, &s2), 0);
	cr_expect_eq(seg_info(s2).created_realtime_ns, info.created_realtime_ns);

	cr_expect_null(shmelect_segment_close(s2));
	cr_expect_null(shmelect_segment_close(s));
	cr_expect_null(shmelect_segment_close(NULL));
}

Test(segment, capacity_params_honored)
{
	const char *name = shm_name("capacity");
	struct shmelect_segment_params p = { .max_elections = 7, .max_candidates = 3, .mode = 0600 };
	struct shmelect_segment *s = NULL;
	struct shmelect_segment_info info;
	char file[PATH_MAX];
	struct stat st;
	mode_t old = umask(0077 | 0002);

	cr_assert_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, &p, &s), 0);
	umask(old);
	info = seg_info(s);
	cr_expect_eq(info.max_elections, 7);
	cr_expect_eq(info.max_candidates, 3);
	cr_expect_eq(info.size, expected_size(7, 3));

	shm_file(name, file, sizeof(file));
	cr_assert_eq(stat(file, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600, "mode %o", (unsigned)(st.st_mode & 07777));
	shmelect_segment_close(s);

	/* a group-writable mode survives a restrictive umask */
	name = shm_name("capacity-mode");
	p.mode = 0660;
	old = umask(0077);
	s = NULL;
	cr_assert_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &p, &s), 0);
	umask(old);
	shm_file(name, file, sizeof(file));
	cr_assert_eq(stat(file, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0660, "mode %o", (unsigned)(st.st_mode & 07777));
	shmelect_segment_close(s);

	/* the largest legal capacity per election, few elections */
	name = shm_name("capacity-max");
	struct shmelect_segment_params big = { .max_elections = 2, .max_candidates = SHMELECT_MAX_CANDIDATES };
	s = NULL;
	cr_assert_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &big, &s), 0);
	info = seg_info(s);
	cr_expect_eq(info.max_candidates, SHMELECT_MAX_CANDIDATES);
	cr_expect_eq(info.max_elections, 2);
	cr_expect_eq(info.size, expected_size(2, SHMELECT_MAX_CANDIDATES));
	shmelect_segment_close(s);
}

Test(segment, create_excl_on_existing)
{
	const char *name = shm_name("excl");
	struct shmelect_segment *s = NULL, *s2 = NULL;
	uint64_t created;

	cr_assert_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, NULL, &s), 0);
	created = seg_info(s).created_realtime_ns;
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, NULL, &s2),
		     -EEXIST);
	cr_expect_null(s2, "ret must be untouched on failure");
	/* the existing segment is unharmed */
	cr_assert_eq(shmelect_segment_open(name, 0, NULL, &s2), 0);
	cr_expect_eq(seg_info(s2).created_realtime_ns, created);
	shmelect_segment_close(s2);
	shmelect_segment_close(s);
}

Test(segment, open_missing_without_create)
{
	const char *name = shm_name("missing");
	struct shmelect_segment *s = NULL;
	char file[PATH_MAX];

	cr_expect_eq(shmelect_segment_open(name, 0, NULL, &s), -ENOENT);
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_RDONLY, NULL, &s), -ENOENT);
	cr_expect_null(s);
	shm_file(name, file, sizeof(file));
	cr_expect_neq(access(file, F_OK), 0, "a failed open must not create the file");
}

Test(segment, rdonly_open)
{
	const char *name = shm_name("rdonly");
	struct shmelect_segment *rw = open_seg(name, SHMELECT_SEGMENT_CREATE, 4, 2), *ro = NULL;
	struct shmelect_election *e = open_election(rw, "svc", SHMELECT_ELECTION_CREATE), *e2 = NULL;
	struct shmelect_candidate *c = NULL;
	struct shmelect_segment_info info;

	cr_assert_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_RDONLY, NULL, &ro), 0);
	info = seg_info(ro);
	cr_expect_eq(info.readonly, 1);
	cr_expect_eq(info.max_elections, 4);
	cr_expect_eq(info.max_candidates, 2);
	cr_expect_eq(info.n_elections, 1);
	cr_expect_eq(seg_info(rw).readonly, 0);

	/* existing elections can be opened and observed, nothing written */
	cr_assert_eq(shmelect_election_open(ro, "svc", 0, &e2), 0);
	cr_expect_eq(observe(e2).n_members, 0);
	cr_expect_eq(shmelect_election_open(ro, "other", SHMELECT_ELECTION_CREATE, &e2), -EROFS);
	cr_expect_eq(shmelect_candidate_join(e2, "x", LONG_LEASE, 0, &c), -EROFS);
	cr_expect_null(c);

	/* RDONLY with CREATE is contradictory */
	struct shmelect_segment *bad = NULL;
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_RDONLY | SHMELECT_SEGMENT_CREATE, NULL, &bad),
		     -EINVAL);
	cr_expect_eq(shmelect_segment_open(shm_name("rdonly-new"), SHMELECT_SEGMENT_RDONLY | SHMELECT_SEGMENT_CREATE,
					   NULL, &bad),
		     -EINVAL);
	cr_expect_null(bad);

	shmelect_election_close(e2);
	shmelect_election_close(e);
	shmelect_segment_close(ro);
	shmelect_segment_close(rw);
}

Test(segment, bad_flags)
{
	const char *name = shm_name("badflags");
	struct shmelect_segment *s = NULL;
	char file[PATH_MAX];

	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE | (1u << 4), NULL, &s), -EINVAL);
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE | (1u << 31), NULL, &s), -EINVAL);
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_EXCL, NULL, &s), -EINVAL,
		     "EXCL without CREATE");
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, NULL, NULL), -EINVAL);
	cr_expect_null(s);
	shm_file(name, file, sizeof(file));
	cr_expect_neq(access(file, F_OK), 0, "rejected flags must not create anything");

	cr_expect_eq(shmelect_segment_unlink(name, SHMELECT_SEGMENT_CREATE), -EINVAL);
	cr_expect_eq(shmelect_segment_unlink(name, 1u << 9), -EINVAL);
}

Test(segment, bad_params)
{
	const char *name = shm_name("badparams");
	struct shmelect_segment *s = NULL;
	struct shmelect_segment_params p;
	char file[PATH_MAX];

	for (int i = 0; i < 4; i++) {
		memset(&p, 0, sizeof(p));
		p.reserved[i] = 1;
		cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &p, &s), -EINVAL, "reserved[%d]", i);
	}
	memset(&p, 0, sizeof(p));
	p.reserved0 = 1;
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &p, &s), -EINVAL, "reserved0");

	memset(&p, 0, sizeof(p));
	p.max_elections = SHMELECT_MAX_ELECTIONS + 1;
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &p, &s), -EINVAL, "max_elections");
	p.max_elections = UINT32_MAX;
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &p, &s), -EINVAL, "max_elections");

	memset(&p, 0, sizeof(p));
	p.max_candidates = SHMELECT_MAX_CANDIDATES + 1;
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &p, &s), -EINVAL, "max_candidates");

	memset(&p, 0, sizeof(p));
	p.mode = 010000;
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &p, &s), -EINVAL, "mode");
	p.mode = 0100644; /* S_IFREG bits are not permission bits */
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, &p, &s), -EINVAL, "mode");

	cr_expect_null(s);
	shm_file(name, file, sizeof(file));
	cr_expect_neq(access(file, F_OK), 0, "rejected params must not create anything");
}

Test(segment, bad_names)
{
	struct shmelect_segment *s = NULL;
	char longname[NAME_MAX + 2], maxname[NAME_MAX + 1];
	int r;

	cr_expect_eq(shmelect_segment_open(NULL, SHMELECT_SEGMENT_CREATE, NULL, &s), -EINVAL);
	cr_expect_eq(shmelect_segment_open("", SHMELECT_SEGMENT_CREATE, NULL, &s), -EINVAL);
	cr_expect_eq(shmelect_segment_open("/", SHMELECT_SEGMENT_CREATE, NULL, &s), -EINVAL);
	cr_expect_eq(shmelect_segment_open("a/b", SHMELECT_SEGMENT_CREATE, NULL, &s), -EINVAL);
	cr_expect_eq(shmelect_segment_open("/a/b", SHMELECT_SEGMENT_CREATE, NULL, &s), -EINVAL);
	cr_expect_eq(shmelect_segment_open(".", SHMELECT_SEGMENT_CREATE, NULL, &s), -EINVAL);
	cr_expect_eq(shmelect_segment_open("..", SHMELECT_SEGMENT_CREATE, NULL, &s), -EINVAL);
	cr_expect_eq(shmelect_segment_open("", SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_PATH, NULL, &s), -EINVAL);

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0; /* NAME_MAX + 1 characters */
	r = shmelect_segment_open(longname, SHMELECT_SEGMENT_CREATE, NULL, &s);
	cr_expect_eq(r, -ENAMETOOLONG, "%d (%s)", r, strerror(-r));
	cr_expect_null(s);

	cr_expect_eq(shmelect_segment_unlink(NULL, 0), -EINVAL);
	cr_expect_eq(shmelect_segment_unlink("", 0), -EINVAL);
	cr_expect_eq(shmelect_segment_unlink("a/b", 0), -EINVAL);
	cr_expect_eq(shmelect_segment_unlink(longname, 0), -ENAMETOOLONG);

	/* NAME_MAX characters is fine */
	int pre = snprintf(maxname, sizeof(maxname), "shmelect-test-%d-", (int)getpid());
	memset(maxname + pre, 'm', NAME_MAX - (size_t)pre);
	maxname[NAME_MAX] = 0;
	shmelect_segment_unlink(maxname, 0);
	r = shmelect_segment_open(maxname, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, NULL, &s);
	cr_expect_eq(r, 0, "a %d-character name: %s", NAME_MAX, strerror(-r));
	shmelect_segment_close(s);
	cr_expect_eq(shmelect_segment_unlink(maxname, 0), 0);

	/* a leading '/' is the POSIX shm convention: same segment */
	const char *name = shm_name("slash");
	char slashed[NAME_MAX + 2];
	snprintf(slashed, sizeof(slashed), "/%s", name);
	s = NULL;
	cr_assert_eq(shmelect_segment_open(slashed, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, NULL, &s), 0);
	struct shmelect_segment *s2 = NULL;
	cr_expect_eq(shmelect_segment_open(name, 0, NULL, &s2), 0);
	cr_expect_eq(seg_info(s2).created_realtime_ns, seg_info(s).created_realtime_ns);
	shmelect_segment_close(s2);
	shmelect_segment_close(s);
}

/* ------------------------------------------------------------------ */
/* File-backed segments                                                 */
/* ------------------------------------------------------------------ */

Test(segment, path_segment_in_temp_dir)
{
	const char *dir = temp_dir();
	const char *path = temp_path(dir, "seg");
	struct shmelect_segment *s = NULL, *s2 = NULL;
	struct shmelect_election *e;
	struct shmelect_candidate *c;
	uint64_t tok = 0;
	struct stat st;

	/* not a shm name: without PATH a name with '/' is refused */
	cr_expect_eq(shmelect_segment_open(path, SHMELECT_SEGMENT_CREATE, NULL, &s), -EINVAL);
	cr_expect_eq(shmelect_segment_open(path, SHMELECT_SEGMENT_PATH, NULL, &s), -ENOENT);

	s = open_seg(path, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_PATH, 8, 4);
	cr_assert_eq(stat(path, &st), 0, "the segment is a file at the path");
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq((uint64_t)st.st_size, expected_size(8, 4));
	cr_expect_eq(dir_entries(dir), 1, "no temporary file left behind");

	e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	c = join(e, "a", LONG_LEASE);
	cr_expect_eq(shmelect_candidate_try_acquire(c, &tok), 1);

	/* a second opener sees the state */
	cr_assert_eq(shmelect_segment_open(path, SHMELECT_SEGMENT_PATH, NULL, &s2), 0);
	struct shmelect_election *e2 = open_election(s2, "svc", 0);
	struct shmelect_record rec = observe(e2);
	cr_expect_eq(rec.has_holder, 1);
	cr_expect_str_eq(rec.holder, "a");
	cr_expect_eq(rec.token, tok);
	cr_expect_eq(seg_info(s2).n_elections, 1);

	/* EXCL on the existing file */
	struct shmelect_segment *s3 = NULL;
	cr_expect_eq(shmelect_segment_open(path, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL |
					   SHMELECT_SEGMENT_PATH, NULL, &s3), -EEXIST);

	shmelect_candidate_leave(c);
	shmelect_election_close(e2);
	shmelect_election_close(e);
	shmelect_segment_close(s2);
	shmelect_segment_close(s);

	cr_expect_eq(shmelect_segment_unlink(path, SHMELECT_SEGMENT_PATH), 0);
	cr_expect_neq(access(path, F_OK), 0);
	cr_expect_eq(shmelect_segment_unlink(path, SHMELECT_SEGMENT_PATH), -ENOENT);

	/* a relative path (no directory part) */
	char cwd[PATH_MAX];
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	cr_assert_eq(chdir(dir), 0);
	s = NULL;
	int r = shmelect_segment_open("rel", SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_PATH, NULL, &s);
	cr_expect_eq(chdir(cwd), 0);
	cr_expect_eq(r, 0, "relative path: %s", strerror(-r));
	cr_expect_eq(access(temp_path(dir, "rel"), F_OK), 0);
	shmelect_segment_close(s);

	/* a directory that does not exist */
	char nodir[PATH_MAX];
	snprintf(nodir, sizeof(nodir), "%s/nonexistent/seg", dir);
	s = NULL;
	cr_expect_eq(shmelect_segment_open(nodir, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_PATH, NULL, &s),
		     -ENOENT);
	cr_expect_null(s);
}

/* ------------------------------------------------------------------ */
/* Validation of broken files                                           */
/* ------------------------------------------------------------------ */

/* A fresh file-backed segment, closed again; returns its path. */
static const char *make_path_segment(uint32_t elections, uint32_t candidates)
{
	const char *dir = temp_dir();
	const char *path = temp_path(dir, "seg");
	struct shmelect_segment *s = open_seg(path, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_PATH,
					      elections, candidates);

	shmelect_segment_close(s);
	return path;
}

/* Both an RW and an RDONLY open of path fail with `err`. */
static void expect_open_fails(const char *path, int err, const char *what)
{
	struct shmelect_segment *s = NULL;
	int r;

	r = shmelect_segment_open(path, SHMELECT_SEGMENT_PATH, NULL, &s);
	cr_expect_eq(r, err, "%s: RW open gave %d (%s), want %d (%s)", what, r, strerror(-r), err,
		     strerror(-err));
	r = shmelect_segment_open(path, SHMELECT_SEGMENT_PATH | SHMELECT_SEGMENT_RDONLY, NULL, &s);
	cr_expect_eq(r, err, "%s: RDONLY open gave %d (%s), want %d (%s)", what, r, strerror(-r), err,
		     strerror(-err));
	r = shmelect_segment_open(path, SHMELECT_SEGMENT_PATH | SHMELECT_SEGMENT_CREATE, NULL, &s);
	cr_expect_eq(r, err, "%s: CREATE open gave %d (%s), want %d (%s)", what, r, strerror(-r), err,
		     strerror(-err));
	cr_expect_null(s);
}

Test(segment, corrupt_magic)
{
	const char *path = make_path_segment(4, 2);

	FILE_WRITE_FIELD(path, magic, UINT64_C(0x0123456789abcdef));
	expect_open_fails(path, -EPROTO, "bad magic");
	FILE_WRITE_FIELD(path, magic, 0);
	expect_open_fails(path, -EPROTO, "zero magic");
	/* restored, it opens again */
	FILE_WRITE_FIELD(path, magic, SHM_MAGIC);
	struct shmelect_segment *s = open_seg(path, SHMELECT_SEGMENT_PATH, 0, 0);
	shmelect_segment_close(s);
}

Test(segment, wrong_layout_version)
{
	const char *path = make_path_segment(4, 2);

	FILE_WRITE_FIELD(path, layout_version, SHM_LAYOUT_VERSION + 1);
	expect_open_fails(path, -EPROTONOSUPPORT, "layout version + 1");
	FILE_WRITE_FIELD(path, layout_version, 0);
	expect_open_fails(path, -EPROTONOSUPPORT, "layout version 0");
	/* even with the init marker unset, the version is the clearer error */
	FILE_WRITE_FIELD(path, init, 0);
	FILE_WRITE_FIELD(path, layout_version, 99);
	expect_open_fails(path, -EPROTONOSUPPORT, "layout version 99, no init");
}

Test(segment, truncated_file)
{
	const char *path = make_path_segment(4, 2);
	uint64_t size = expected_size(4, 2);

	/* header intact, but the file is shorter than segment_size */
	cr_assert_eq(truncate(path, (off_t)size - 1), 0);
	expect_open_fails(path, -EBADMSG, "one byte short");
	cr_assert_eq(truncate(path, SHM_HEADER_SIZE + 100), 0);
	expect_open_fails(path, -EBADMSG, "header + 100 bytes");
	cr_assert_eq(truncate(path, SHM_HEADER_SIZE), 0);
	expect_open_fails(path, -EBADMSG, "header only");
	/* shorter than the header */
	cr_assert_eq(truncate(path, SHM_HEADER_SIZE - 1), 0);
	expect_open_fails(path, -EBADMSG, "header - 1 bytes");
	cr_assert_eq(truncate(path, 100), 0);
	expect_open_fails(path, -EBADMSG, "100 bytes");
	cr_assert_eq(truncate(path, 1), 0);
	expect_open_fails(path, -EBADMSG, "1 byte");
}

Test(segment, zero_length_file)
{
	const char *dir = temp_dir();
	const char *path = temp_path(dir, "empty");
	int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0);
	close(fd);
	expect_open_fails(path, -EBADMSG, "empty file");
	/* and the failed CREATE open did not replace it */
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_size, 0);

	/* the same through a POSIX shm name */
	const char *name = shm_name("empty");
	char file[PATH_MAX];
	struct shmelect_segment *s = NULL;
	shm_file(name, file, sizeof(file));
	fd = open(file, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_expect_eq(shmelect_segment_open(name, 0, NULL, &s), -EBADMSG);
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE, NULL, &s), -EBADMSG);
	cr_expect_eq(shmelect_segment_open(name, SHMELECT_SEGMENT_RDONLY, NULL, &s), -EBADMSG);
	cr_expect_null(s);
}

Test(segment, missing_init_marker)
{
	const char *path = make_path_segment(4, 2);

	FILE_WRITE_FIELD(path, init, 0);
	expect_open_fails(path, -EBADMSG, "init 0");
	FILE_WRITE_FIELD(path, init, SHM_INIT_READY ^ 1);
	expect_open_fails(path, -EBADMSG, "init wrong");
}

static const char *const size_cases[] = {
	"election_size + 64",
	"election_size - 1024",
	"election_size 0",
	"max_candidates + 1",
	"max_candidates - 1",
	"max_candidates 0",
	"max_candidates huge",
	"max_elections + 1",
	"max_elections 0",
	"max_elections huge",
	"segment_size + 4096",
	"segment_size - 1",
	"segment_size huge",
	"header_size",
	"slot_size",
	"max_candidates and election_size agree, segment_size not",
};

static void size_case(int i, struct shm_header *h)
{
	switch (i) {
	case 0: h->election_size += 64; break;
	case 1: h->election_size -= 1024; break;
	case 2: h->election_size = 0; break;
	case 3: h->max_candidates += 1; break;
	case 4: h->max_candidates -= 1; break;
	case 5: h->max_candidates = 0; break;
	case 6: h->max_candidates = UINT32_MAX; break;
	case 7: h->max_elections += 1; break;
	case 8: h->max_elections = 0; break;
	case 9: h->max_elections = SHMELECT_MAX_ELECTIONS + 1; break;
	case 10: h->segment_size += 4096; break;
	case 11: h->segment_size -= 1; break;
	case 12: h->segment_size = UINT64_MAX; break;
	case 13: h->header_size = 8192; break;
	case 14: h->slot_size = 512; break;
	case 15:
		h->max_candidates = 3;
		h->election_size = SHM_ELECTION_HEAD + 3 * SHM_SLOT_SIZE;
		break;
	}
}

Test(segment, inconsistent_sizes)
{
	const char *path = make_path_segment(4, 2);
	struct shm_header good, bad;

	file_read(path, 0, &good, sizeof(good));
	for (int i = 0; i < (int)(sizeof(size_cases) / sizeof(size_cases[0])); i++) {
		bad = good;
		size_case(i, &bad);
		file_write(path, 0, &bad, sizeof(bad));
		expect_open_fails(path, -EBADMSG, size_cases[i]);
	}
	/* restored, it opens again: only sizes that disagree are refused */
	file_write(path, 0, &good, sizeof(good));
	struct shmelect_segment *s = open_seg(path, SHMELECT_SEGMENT_PATH, 0, 0);
	shmelect_segment_close(s);
}

/* Random bytes: an error, never a crash. */
Test(segment, random_garbage, .timeout = 30)
{
	const char *dir = temp_dir();
	const char *path = temp_path(dir, "garbage");
	size_t size = 64 * 1024;
	uint8_t *buf = malloc(size);
	unsigned seed = (unsigned)getpid();
	int fd;

	cr_assert_not_null(buf);
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < size; i++)
			buf[i] = (uint8_t)rand_r(&seed);
		/* half the rounds: a header that passes the first checks, so
		 * that the size checks see garbage */
		if (round % 2) {
			struct shm_header *h = (struct shm_header *)buf;
			h->magic = SHM_MAGIC;
			h->layout_version = SHM_LAYOUT_VERSION;
			h->init = SHM_INIT_READY;
			if (round % 4 == 1) {
				h->header_size = SHM_HEADER_SIZE;
				h->slot_size = SHM_SLOT_SIZE;
				h->max_elections = 1 + rand_r(&seed) % 8;
				h->max_candidates = 1 + rand_r(&seed) % 8;
			}
		}
		size_t len = round < 100 ? size : (size_t)rand_r(&seed) % size;
		fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
		cr_assert_geq(fd, 0);
		cr_assert_eq(write(fd, buf, len), (ssize_t)len);
		close(fd);

		struct shmelect_segment *s = NULL;
		int r = shmelect_segment_open(path, SHMELECT_SEGMENT_PATH, NULL, &s);
		cr_expect_lt(r, 0, "round %d: garbage accepted", round);
		r = shmelect_segment_open(path, SHMELECT_SEGMENT_PATH | SHMELECT_SEGMENT_RDONLY, NULL, &s);
		cr_expect_lt(r, 0, "round %d: garbage accepted read-only", round);
		if (s) {
			shmelect_segment_close(s);
			s = NULL;
		}
	}
	free(buf);
}

Test(segment, not_a_regular_file)
{
	const char *dir = temp_dir();
	const char *sub = temp_path(dir, "subdir");
	struct shmelect_segment *s = NULL;
	int r;

	cr_assert_eq(mkdir(sub, 0755), 0);
	r = shmelect_segment_open(sub, SHMELECT_SEGMENT_PATH, NULL, &s);
	cr_expect_lt(r, 0, "a directory opened read-write");
	r = shmelect_segment_open(sub, SHMELECT_SEGMENT_PATH | SHMELECT_SEGMENT_RDONLY, NULL, &s);
	cr_expect_lt(r, 0, "a directory opened read-only");
	cr_expect_null(s);
	rmdir(sub);
}

/* An observer must not hang on a FIFO planted under the segment's name
 * (/dev/shm is world-writable): open(2) of a FIFO for reading blocks until a
 * writer appears.  The open runs in a child; if it is still blocked after a
 * generous 5 s it is reported as hung (not as slow). */
static const char *fifo_path;

static int open_fifo_child(void *arg)
{
	struct shmelect_segment *s = NULL;
	int r = shmelect_segment_open(fifo_path, (unsigned)(uintptr_t)arg, NULL, &s);

	CHILD_CHECK(r < 0);
	return 0;
}

static void expect_fifo_open_returns(unsigned flags, const char *what)
{
	pid_t pid = spawn(open_fifo_child, (void *)(uintptr_t)flags);
	uint64_t end = shmelect_now_ns() + 5 * SEC;
	int st = 0;
	pid_t w;

	while ((w = waitpid(pid, &st, WNOHANG)) == 0 && shmelect_now_ns() < end)
		sleep_ns(10 * MS);
	if (w == 0) {
		kill(pid, SIGKILL);
		reap(pid);
		cr_expect_fail("%s open of a FIFO blocked (still inside shmelect_segment_open after 5 s)", what);
		return;
	}
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s open of a FIFO: child status %#x", what, st);
}

Test(segment, fifo_instead_of_segment, .timeout = 30)
{
	const char *dir = temp_dir();

	fifo_path = temp_path(dir, "fifo");
	cr_assert_eq(mkfifo(fifo_path, 0644), 0);
	expect_fifo_open_returns(SHMELECT_SEGMENT_PATH, "read-write");
	expect_fifo_open_returns(SHMELECT_SEGMENT_PATH | SHMELECT_SEGMENT_RDONLY, "read-only");
}

/*
 * Invariant 8 holds for the whole life of a mapping, not only at open: a
 * hostile or buggy writer may change the header after we validated it.
 * The library keeps validated copies of the sizes (internal.h says "never
 * re-read from shm"), so changing election_size afterwards must not send
 * later calls out of bounds.  Run in a child so that a crash is reported as
 * a failed check rather than taking the test down.
 */
static struct shmelect_segment *hostile_seg;

static int hostile_child(void *arg)
{
	char names[8][SHMELECT_NAME_MAX + 1];
	struct shmelect_segment_info info;
	struct shmelect_election *e = NULL;
	int r;

	(void)arg;
	r = shmelect_segment_list(hostile_seg, names, 8);
	CHILD_CHECK(r == 1 || r < 0);
	r = shmelect_segment_info(hostile_seg, &info);
	CHILD_CHECK(r < 0 || info.n_elections <= 4);
	r = shmelect_election_open(hostile_seg, "other", SHMELECT_ELECTION_CREATE, &e);
	CHILD_CHECK(r == 0 || r < 0);
	shmelect_election_close(e);
	return 0;
}

Test(segment, header_changed_after_open, .timeout = 10)
{
	const char *name = shm_name("hostile");
	struct shmelect_segment *s = open_seg(name, SHMELECT_SEGMENT_CREATE, 4, 2);
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	char file[PATH_MAX];

	hostile_seg = s;
	shm_file(name, file, sizeof(file));
	/* a hostile process rewrites the sizes in the live header */
	FILE_WRITE_FIELD(file, election_size, UINT32_C(0x7ffff000));
	FILE_WRITE_FIELD(file, max_elections, SHMELECT_MAX_ELECTIONS);
	expect_child_ok(spawn(hostile_child, NULL), "list/info/election_open after header change");
	shmelect_election_close(e);
	shmelect_segment_close(s);
}

/* ------------------------------------------------------------------ */
/* Concurrent creators                                                  */
/* ------------------------------------------------------------------ */

#define N_CREATORS 8

struct creators {
	int go[2], ready[2], hold[2];
	const char *name;
	unsigned flags;
	int result[N_CREATORS];
	uint64_t created[N_CREATORS];
	int joined[N_CREATORS];
};

static int creator_index;

static int creator_child(void *arg)
{
	struct creators *c = arg;
	struct shmelect_segment_params p = { .max_elections = 16, .max_candidates = 16 };
	struct shmelect_segment *s = NULL;
	struct shmelect_segment_info info;
	struct shmelect_election *e = NULL;
	struct shmelect_candidate *cand = NULL;
	char id[32], byte;
	int i = creator_index, r;

	/* only the parent holds the write ends of go and hold */
	close(c->go[1]);
	close(c->hold[1]);
	close(c->ready[0]);
	/* wait until the parent releases everyone at once */
	while (read(c->go[0], &byte, 1) < 0 && errno == EINTR)
		;
	r = shmelect_segment_open(c->name, c->flags, &p, &s);
	c->result[i] = r;
	if (r < 0) {
		byte = 'x';
		CHILD_CHECK(write(c->ready[1], &byte, 1) == 1);
		return c->flags & SHMELECT_SEGMENT_EXCL ? 0 : 1;
	}
	CHILD_CHECK(shmelect_segment_info(s, &info) == 0);
	c->created[i] = info.created_realtime_ns;
	r = shmelect_election_open(s, "svc", SHMELECT_ELECTION_CREATE, &e);
	CHILD_CHECK(r == 0);
	snprintf(id, sizeof(id), "creator-%d", i);
	r = shmelect_candidate_join(e, id, LONG_LEASE, 0, &cand);
	CHILD_CHECK(r == 0);
	c->joined[i] = 1;
	byte = 'r';
	CHILD_CHECK(write(c->ready[1], &byte, 1) == 1);
	/* stay a live member until the parent has looked */
	while (read(c->hold[0], &byte, 1) < 0 && errno == EINTR)
		;
	shmelect_candidate_leave(cand);
	shmelect_election_close(e);
	shmelect_segment_close(s);
	return 0;
}

/* Fork N_CREATORS children that open `name` with `flags` at once. */
static void run_creators(struct creators *c, pid_t pids[N_CREATORS], int *n_ready)
{
	char byte;
	ssize_t n;

	cr_assert_eq(pipe2(c->go, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(c->ready, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(c->hold, O_CLOEXEC), 0);
	for (int i = 0; i < N_CREATORS; i++) {
		creator_index = i;
		pids[i] = spawn(creator_child, c);
	}
	close(c->go[0]);
	close(c->ready[1]);
	close(c->hold[0]);
	/* release them together */
	close(c->go[1]);
	*n_ready = 0;
	while (*n_ready < N_CREATORS && ((n = read(c->ready[0], &byte, 1)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			(*n_ready)++;
	close(c->ready[0]);
	/* the parent closes c->hold[1] to let them go */
}

Test(segment, concurrent_creators, .timeout = 30)
{
	const char *name = shm_name("creators");
	struct creators *c = shared_alloc(sizeof(*c));
	pid_t pids[N_CREATORS];
	struct shmelect_record rec;
	struct shmelect_member members[N_CREATORS + 1];
	char names[4][SHMELECT_NAME_MAX + 1];
	char prefix[NAME_MAX + 1];
	int n_ready, n_members = -1, n_list = -1, stray = 0;
	struct shmelect_segment_info info = { 0 };

	c->name = name;
	c->flags = SHMELECT_SEGMENT_CREATE;
	run_creators(c, pids, &n_ready);

	/* every child is now a live member (or failed); look before releasing */
	struct shmelect_segment *s = NULL;
	int r = shmelect_segment_open(name, 0, NULL, &s);
	if (r == 0) {
		info = seg_info(s);
		struct shmelect_election *e = NULL;
		if (shmelect_election_open(s, "svc", 0, &e) == 0) {
			n_members = shmelect_election_observe(e, &rec, members, N_CREATORS + 1);
			shmelect_election_close(e);
		} else
			n_members = -1;
		n_list = shmelect_segment_list(s, names, 4);
	}
	close(c->hold[1]);
	for (int i = 0; i < N_CREATORS; i++)
		expect_child_ok(pids[i], "creator");

	cr_assert_eq(r, 0, "the segment exists after the race: %s", strerror(-r));
	cr_expect_eq(n_ready, N_CREATORS);
	for (int i = 0; i < N_CREATORS; i++) {
		cr_expect_eq(c->result[i], 0, "creator %d: %s", i, strerror(-c->result[i]));
		cr_expect_eq(c->joined[i], 1, "creator %d joined", i);
		cr_expect_eq(c->created[i], info.created_realtime_ns, "creator %d saw another segment", i);
	}
	cr_expect_eq(info.max_elections, 16);
	cr_expect_eq(info.n_elections, 1, "one election, created once");
	cr_expect_eq(n_list, 1);
	cr_expect_eq(n_members, N_CREATORS, "all creators are members of one election");

	/* nothing but the segment in /dev/shm under our name */
	snprintf(prefix, sizeof(prefix), "%s", name);
	DIR *d = opendir("/dev/shm");
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)) && strcmp(de->d_name, prefix))
			stray++;
	if (d)
		closedir(d);
	cr_expect_eq(stray, 0, "temporary files left in /dev/shm");
	shmelect_segment_close(s);
}

Test(segment, concurrent_excl_creators, .timeout = 30)
{
	const char *name = shm_name("excl-creators");
	struct creators *c = shared_alloc(sizeof(*c));
	pid_t pids[N_CREATORS];
	int n_ready, won = 0, lost = 0;

	c->name = name;
	c->flags = SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL;
	run_creators(c, pids, &n_ready);
	close(c->hold[1]);
	for (int i = 0; i < N_CREATORS; i++)
		expect_child_ok(pids[i], "excl creator");
	cr_expect_eq(n_ready, N_CREATORS);
	for (int i = 0; i < N_CREATORS; i++) {
		if (c->result[i] == 0)
			won++;
		else if (c->result[i] == -EEXIST)
			lost++;
		else
			cr_expect_fail("creator %d: unexpected %s", i, strerror(-c->result[i]));
	}
	cr_expect_eq(won, 1, "exactly one CREATE|EXCL wins");
	cr_expect_eq(lost, N_CREATORS - 1);
}

/* ------------------------------------------------------------------ */
/* Reboot                                                               */
/* ------------------------------------------------------------------ */

/* A file-backed segment whose election "svc" has a holder in term >= 3. */
struct rebooted {
	const char *path;
	struct shmelect_segment *seg;
	struct shmelect_election *e;
	struct shmelect_candidate *a, *b;
	uint64_t max_token, term;
};

static void make_held_path_segment(struct rebooted *rb)
{
	uint64_t tok;

	rb->path = temp_path(temp_dir(), "seg");
	rb->seg = open_seg(rb->path, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_PATH, 4, 4);
	rb->e = open_election(rb->seg, "svc", SHMELECT_ELECTION_CREATE);
	rb->a = join(rb->e, "a", LONG_LEASE);
	rb->b = join(rb->e, "b", LONG_LEASE);
	cr_assert_eq(shmelect_candidate_try_acquire(rb->a, &tok), 1);
	cr_assert_eq(shmelect_candidate_resign(rb->a), 1);
	cr_assert_eq(shmelect_candidate_try_acquire(rb->b, &tok), 1);
	cr_assert_eq(shmelect_candidate_resign(rb->b), 1);
	cr_assert_eq(shmelect_candidate_try_acquire(rb->a, &tok), 1);
	rb->max_token = tok;
	struct shmelect_record rec = observe(rb->e);
	cr_assert_eq(rec.has_holder, 1);
	cr_assert_eq(rec.n_members, 2);
	cr_assert_eq(rec.token, tok);
	rb->term = rec.term;
	cr_assert_eq(rb->term, 3);
}

/* Make the file look as if written during another boot. */
static void change_boot_id(const char *path)
{
	uint8_t id[16];

	file_read(path, offsetof(struct shm_header, boot_id), id, sizeof(id));
	for (int i = 0; i < 16; i++)
		id[i] ^= 0x5a;
	file_write(path, offsetof(struct shm_header, boot_id), id, sizeof(id));
}

Test(segment, reboot_voids_leases_keeps_terms)
{
	struct rebooted rb;
	struct shmelect_segment *s2 = NULL;
	struct shmelect_election *e2;
	struct shmelect_candidate *c;
	struct shmelect_segment_info info;
	struct shmelect_record rec;
	char boot[37];
	uint64_t tok = 0;
	int r;

	proc_boot_id(boot);
	make_held_path_segment(&rb);
	change_boot_id(rb.path);

	/* the first read-write opener of this boot recovers the segment */
	s2 = open_seg(rb.path, SHMELECT_SEGMENT_PATH, 0, 0);
	info = seg_info(s2);
	cr_expect_eq(info.stale_boot, 0);
	cr_expect_str_eq(info.boot_id, boot, "the boot id is rewritten");
	cr_expect_eq(info.n_elections, 1, "elections survive a reboot");

	e2 = open_election(s2, "svc", 0);
	rec = observe(e2);
	cr_expect_eq(rec.has_holder, 0, "leases of an earlier boot are void");
	cr_expect_eq(rec.n_members, 0, "slots of an earlier boot are freed");
	cr_expect_eq(rec.term, rb.term, "the term is kept");
	cr_expect_eq(rec.transitions, rb.term);
	cr_expect_eq(rec.token, rb.max_token, "the last token is still reported");

	/* the old holder (a process of the "earlier boot") does not lead */
	cr_expect_eq(shmelect_candidate_is_leader(rb.a), 0);
	cr_expect_eq(shmelect_candidate_renew(rb.a), 0);

	/* its identity is free again, and the next term's token is larger */
	c = join(e2, "a", LONG_LEASE);
	cr_expect_eq(shmelect_candidate_try_acquire(c, &tok), 1);
	cr_expect_gt(tok, rb.max_token, "tokens continue upward after a reboot");
	rec = observe(e2);
	cr_expect_eq(rec.term, rb.term + 1);
	cr_expect_str_eq(rec.holder, "a");

	/* stale handles of the earlier boot cannot take it nor free the slot
	 * that now belongs to someone else */
	r = shmelect_candidate_try_acquire(rb.a, &tok);
	cr_expect_neq(r, 1, "a stale handle acquired the lease");
	r = shmelect_candidate_try_acquire(rb.b, &tok);
	cr_expect_neq(r, 1, "a stale handle acquired the lease");
	cr_expect_eq(shmelect_candidate_resign(rb.a), 0);
	cr_expect_eq(shmelect_candidate_renew(rb.a), 0);
	cr_expect_eq(shmelect_candidate_is_leader(c), 1, "a stale resign/renew changed the new term");
	/* a (slot 0 in the earlier boot) and c (slot 0 now) share a slot index */
	cr_expect_eq(rec.holder_slot, 0);
	shmelect_candidate_leave(rb.a);
	cr_expect_eq(shmelect_candidate_is_leader(c), 1,
		     "leave() of a stale handle (same slot index) broke the new member's lease");
	shmelect_candidate_leave(rb.b);
	rec = observe(e2);
	cr_expect_eq(rec.n_members, 1, "leave() of a stale handle freed the new member's slot");
	cr_expect_eq(rec.has_holder, 1);
	cr_expect_str_eq(rec.holder, "a");

	/* a second read-write opener finds nothing more to do */
	struct shmelect_record r1 = observe(e2);
	struct shmelect_segment *s3 = open_seg(rb.path, SHMELECT_SEGMENT_PATH, 0, 0);
	struct shmelect_record r2 = observe(e2);
	cr_expect_eq(r2.term, r1.term, "recovery ran twice");
	cr_expect_eq(r2.has_holder, r1.has_holder, "recovery ran twice");
	cr_expect_eq(r2.n_members, r1.n_members, "recovery ran twice");
	shmelect_segment_close(s3);

	shmelect_candidate_leave(c);
	shmelect_election_close(e2);
	shmelect_election_close(rb.e);
	shmelect_segment_close(s2);
	shmelect_segment_close(rb.seg);
}

Test(segment, reboot_rdonly_reports_stale)
{
	struct rebooted rb;
	struct shmelect_segment *ro = NULL;
	struct shmelect_election *e;
	struct shmelect_candidate *c = NULL;
	struct shmelect_segment_info info;
	struct shmelect_record rec;
	struct shmelect_member m[4];
	char boot[37];
	int n;

	proc_boot_id(boot);
	make_held_path_segment(&rb);
	change_boot_id(rb.path);

	cr_assert_eq(shmelect_segment_open(rb.path, SHMELECT_SEGMENT_PATH | SHMELECT_SEGMENT_RDONLY, NULL, &ro), 0);
	info = seg_info(ro);
	cr_expect_eq(info.stale_boot, 1);
	cr_expect_eq(info.readonly, 1);
	cr_expect_str_neq(info.boot_id, boot);
	cr_expect_eq(info.n_elections, 1);

	e = open_election(ro, "svc", 0);
	n = shmelect_election_observe(e, &rec, m, 4);
	cr_expect_eq(n, 0, "members of an earlier boot are not reported");
	cr_expect_eq(rec.has_holder, 0, "a lease of an earlier boot is void");
	cr_expect_eq(rec.term, rb.term);
	cr_expect_eq(shmelect_candidate_join(e, "x", LONG_LEASE, 0, &c), -EROFS);

	/* the read-only observer changed nothing: the file still has the old
	 * boot's state, which a read-write opener then recovers */
	uint8_t id_before[16], id_after[16];
	file_read(rb.path, offsetof(struct shm_header, boot_id), id_before, 16);
	shmelect_election_close(e);
	shmelect_segment_close(ro);
	file_read(rb.path, offsetof(struct shm_header, boot_id), id_after, 16);
	cr_expect_eq(memcmp(id_before, id_after, 16), 0);

	shmelect_candidate_leave(rb.a);
	shmelect_candidate_leave(rb.b);
	shmelect_election_close(rb.e);
	shmelect_segment_close(rb.seg);
}

/*
 * A creation that an earlier boot never finished must not cut the probe
 * chain of names created after it: B, whose name hashes to the same record
 * as A's and so lives one record further, stays reachable after recovery.
 */
Test(segment, reboot_keeps_probe_chains)
{
	const uint32_t max = 4;
	const char *path = temp_path(temp_dir(), "seg");
	struct shmelect_segment *s = open_seg(path, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_PATH, max, 1), *s2;
	struct shmelect_election *ea, *eb, *x = NULL;
	char a[16], b[16];
	int found = 0;

	/* two names that start probing at the same record */
	for (int i = 0; i < 1000 && !found; i++)
		for (int j = i + 1; j < 1000 && !found; j++) {
			snprintf(a, sizeof(a), "n%d", i);
			snprintf(b, sizeof(b), "n%d", j);
			found = name_hash(a) % max == name_hash(b) % max;
		}
	cr_assert(found);
	ea = open_election(s, a, SHMELECT_ELECTION_CREATE);
	eb = open_election(s, b, SHMELECT_ELECTION_CREATE);
	cr_assert_eq(eb->index, (ea->index + 1) % max, "b is one probe after a");

	/* a's creation "never finished" in the earlier boot */
	uint64_t ghost = (UINT64_C(0xabcde) & CLAIM_FIELD_MASK) << CLAIM_HASH_SHIFT | SLOT_CLAIMING;
	cr_assert_neq(name_hash(b) & CLAIM_FIELD_MASK, UINT64_C(0xabcde));
	__atomic_store_n(&ea->rec->claim, ghost, __ATOMIC_RELEASE);
	shmelect_election_close(ea);
	shmelect_election_close(eb);
	shmelect_segment_close(s);
	change_boot_id(path);

	s2 = open_seg(path, SHMELECT_SEGMENT_PATH, 0, 0);
	cr_expect_eq(shmelect_election_open(s2, b, 0, &x), 0, "%s became unreachable after recovery", b);
	shmelect_election_close(x);
	x = NULL;
	char names[4][SHMELECT_NAME_MAX + 1];
	int n = shmelect_segment_list(s2, names, 4);
	cr_expect_eq(n, 1);
	cr_expect(n >= 1 && !strcmp(names[0], b));
	cr_expect_eq(shmelect_election_open(s2, a, 0, &x), -ENOENT, "a was never finished");
	/* creating a now neither hides b nor duplicates it */
	x = open_election(s2, a, SHMELECT_ELECTION_CREATE);
	shmelect_election_close(x);
	x = open_election(s2, b, SHMELECT_ELECTION_CREATE);
	shmelect_election_close(x);
	cr_expect_eq(shmelect_segment_list(s2, NULL, 0), 2);
	shmelect_segment_close(s2);
}

/* ------------------------------------------------------------------ */
/* List, unlink                                                         */
/* ------------------------------------------------------------------ */

Test(segment, list_names)
{
	const char *name = shm_name("list");
	struct shmelect_segment *s = open_seg(name, SHMELECT_SEGMENT_CREATE, 16, 2), *ro;
	const char *want[] = { "alpha", "beta", "gamma" };
	struct shmelect_election *e[3];
	char names[8][SHMELECT_NAME_MAX + 1];
	int n, found[3] = { 0 };

	cr_expect_eq(shmelect_segment_list(s, NULL, 0), 0);
	for (int i = 0; i < 3; i++)
		e[i] = open_election(s, want[i], SHMELECT_ELECTION_CREATE);

	memset(names, 0, sizeof(names));
	n = shmelect_segment_list(s, names, 8);
	cr_expect_eq(n, 3);
	for (int i = 0; i < 3 && i < n; i++)
		for (int j = 0; j < 3; j++)
			if (!strcmp(names[i], want[j]))
				found[j]++;
	for (int j = 0; j < 3; j++)
		cr_expect_eq(found[j], 1, "%s listed %d times", want[j], found[j]);
	cr_expect_eq(seg_info(s).n_elections, 3);

	/* fewer slots than names: the count is still the full count, and
	 * only the first n are written */
	memset(names, 'z', sizeof(names));
	n = shmelect_segment_list(s, names, 1);
	cr_expect_eq(n, 3);
	cr_expect(!strcmp(names[0], "alpha") || !strcmp(names[0], "beta") || !strcmp(names[0], "gamma"));
	cr_expect_eq(names[1][0], 'z', "wrote beyond n");
	cr_expect_eq(shmelect_segment_list(s, NULL, 0), 3);

	/* read-only, the same */
	ro = open_seg(name, SHMELECT_SEGMENT_RDONLY, 0, 0);
	cr_expect_eq(shmelect_segment_list(ro, names, 8), 3);

	cr_expect_eq(shmelect_segment_list(NULL, names, 8), -EINVAL);
	cr_expect_eq(shmelect_segment_list(s, NULL, 8), -EINVAL);
	struct shmelect_segment_info info;
	cr_expect_eq(shmelect_segment_info(NULL, &info), -EINVAL);
	cr_expect_eq(shmelect_segment_info(s, NULL), -EINVAL);

	for (int i = 0; i < 3; i++)
		shmelect_election_close(e[i]);
	shmelect_segment_close(ro);
	shmelect_segment_close(s);
}

Test(segment, unlink)
{
	const char *name = shm_name("unlink");
	struct shmelect_segment *s = open_seg(name, SHMELECT_SEGMENT_CREATE, 4, 2), *s2 = NULL;
	struct shmelect_election *e = open_election(s, "svc", SHMELECT_ELECTION_CREATE);
	struct shmelect_candidate *c = join(e, "a", LONG_LEASE);
	uint64_t created = seg_info(s).created_realtime_ns, tok;
	char file[PATH_MAX];

	cr_expect_eq(shmelect_segment_unlink(name, 0), 0);
	shm_file(name, file, sizeof(file));
	cr_expect_neq(access(file, F_OK), 0);
	cr_expect_eq(shmelect_segment_open(name, 0, NULL, &s2), -ENOENT);
	cr_expect_eq(shmelect_segment_unlink(name, 0), -ENOENT);

	/* the mapping outlives the name */
	cr_expect_eq(shmelect_candidate_try_acquire(c, &tok), 1);
	cr_expect_eq(observe(e).has_holder, 1);

	/* a new segment under the same name is a different one */
	s2 = open_seg(name, SHMELECT_SEGMENT_CREATE, 4, 2);
	struct shmelect_election *e2 = open_election(s2, "svc", SHMELECT_ELECTION_CREATE);
	cr_expect_eq(observe(e2).has_holder, 0);
	cr_expect_eq(observe(e2).n_members, 0);
	cr_expect_geq(seg_info(s2).created_realtime_ns, created);

	shmelect_candidate_leave(c);
	shmelect_election_close(e2);
	shmelect_election_close(e);
	shmelect_segment_close(s2);
	shmelect_segment_close(s);
}
