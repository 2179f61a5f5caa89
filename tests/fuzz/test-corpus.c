/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Replay the fuzz corpus and the crashers through a fuzz target, built
 * with the ordinary compiler and linked like every other test, so this
 * runs without clang and, in scripts/test.sh's sanitizer pass, under
 * ASan+UBSan.  FUZZ_NAME says which target this binary is linked with:
 *
 *   test-corpus           fuzz-segment.c (the library, hostile segments)
 *   test-corpus-request   fuzz-request.c (the daemon's request parser)
 *
 *   tests/fuzz/corpus/NAME/    seeds and what fuzzing added
 *   tests/fuzz/crashers/NAME/  inputs that once crashed the target:
 *                              regression tests, kept after the fix
 *
 * Each input runs in its own child, so that one crash names its file and
 * the others still run.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#ifndef FUZZ_SRCDIR
#define FUZZ_SRCDIR "."
#endif
#ifndef FUZZ_NAME
#define FUZZ_NAME "segment"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* In a sanitizer build: LeakSanitizer's check, which a child leaving with
 * _exit() would otherwise skip.  Absent (NULL) in a plain build. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void input_dir(const char *sub, char *buf, size_t size)
{
	/* automake's test harness exports srcdir (relative to the build
	 * directory it runs in); outside it, the configured source dir */
	const char *srcdir = getenv("srcdir");

	snprintf(buf, size, "%s/tests/fuzz/%s", srcdir && *srcdir ? srcdir : FUZZ_SRCDIR, sub);
}

static int run_one(const char *file)
{
	struct stat st;
	uint8_t *data;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s\n", file, strerror(errno));
		return 2;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data || read(fd, data, (size_t)st.st_size) != st.st_size) {
		fprintf(stderr, "%s: read failed\n", file);
		return 2;
	}
	close(fd);
	LLVMFuzzerTestOneInput(data, (size_t)st.st_size);
	free(data);
	if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check())
		return 3;
	return 0;
}

/* Replay every regular file in dir; returns the number of inputs run. */
static int replay(const char *dir, bool must_exist)
{
	struct dirent **ents;
	int n, ran = 0;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		cr_assert(!must_exist, "%s: %s", dir, strerror(errno));
		return 0;
	}
	for (int i = 0; i < n; i++) {
		char file[PATH_MAX];
		struct stat st;
		pid_t pid;
		int status;

		snprintf(file, sizeof(file), "%s/%s", dir, ents[i]->d_name);
		free(ents[i]);
		if (stat(file, &st) < 0 || !S_ISREG(st.st_mode) || file[strlen(dir) + 1] == '.')
			continue;
		fflush(NULL);
		pid = fork();
		cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			/* _exit: the child must not run the test runner's
			 * atexit handlers */
			_exit(run_one(file));
		}
		while (waitpid(pid, &status, 0) < 0)
			cr_assert_eq(errno, EINTR);
		if (WIFSIGNALED(status))
			cr_expect_fail("%s: killed by signal %d (%s)", file, WTERMSIG(status),
				       strsignal(WTERMSIG(status)));
		else
			cr_expect_eq(WEXITSTATUS(status), 0, "%s: exit status %d (see the log above)", file,
				     WEXITSTATUS(status));
		ran++;
	}
	free(ents);
	return ran;
}

TestSuite(fuzz_corpus, .timeout = 300);

Test(fuzz_corpus, seeds_and_fuzzed_inputs)
{
	char dir[PATH_MAX];
	int n;

	input_dir("corpus/" FUZZ_NAME, dir, sizeof(dir));
	n = replay(dir, true);
	cr_expect_gt(n, 0, "no inputs in %s", dir);
	cr_log_info("%d inputs replayed from %s", n, dir);
}

Test(fuzz_corpus, crashers)
{
	char dir[PATH_MAX];
	int n;

	input_dir("crashers/" FUZZ_NAME, dir, sizeof(dir));
	n = replay(dir, false);
	cr_log_info("%d crashers replayed from %s", n, dir);
}
