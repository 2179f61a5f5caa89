/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Invariant 6: the hot paths make no system call.
 *
 * A forked child sets up a segment, an election and a candidate that holds
 * the lease, warms everything up once (the first clock read opens
 * /proc/self/timens_offsets, process_incarnation() maps its page, the
 * dynamic linker resolves each function on its first call), then installs
 * a seccomp filter that kills the whole process on every system call except
 * exit and exit_group, and runs is_leader, leadership, renew, try_acquire
 * (on the lease it holds: the renew path), fence_check and observe, through
 * a read-write and a read-only mapping, in a loop.  It ends with a raw
 * exit_group(0); any system call on the way would have killed it with
 * SIGSYS.  A negative control proves that the filter bites: the same child
 * calling getppid() must die of SIGSYS.
 *
 * Why a filter and not SECCOMP_MODE_STRICT: strict mode (which allows only
 * read, write, exit and sigreturn) also sets TIF_NOTSC on x86, so every
 * rdtsc faults with SIGSEGV, and the vDSO's clock_gettime() reads the TSC:
 * the very clock read the hot path depends on would kill the child.
 * A filter leaves the TSC alone.
 *
 * The filter is installed without SECCOMP_FILTER_FLAG_TSYNC: it must
 * govern the thread that runs the hot path, not the candidate's life thread
 * (wait.c), which sleeps in futex(2) until the candidate leaves, and which
 * exit_group takes down with the rest.
 *
 * A child that finds something wrong after the filter is installed cannot
 * print (write(2) is a system call): it records what it saw in a shared
 * page and exits with a code naming the failed check, which the parent
 * turns into a message.  If the hot path did make a system call, the test
 * runs the child again with SECCOMP_RET_TRAP instead of KILL_PROCESS and a
 * SIGSYS handler that stores siginfo's si_syscall, so the failure names the
 * system call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "shmelect.h"

#define SEC (UINT64_C(1000000000))
#define LEASE (60 * SEC) /* never runs out during a test */
#define ITERATIONS 100000

#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_RISCV64
#endif

/* What the child does after the filter is in place. */
enum scenario {
	HOT_LOOP,      /* the hot paths, ITERATIONS times */
	RENEW_EXTENDS, /* renew and try_acquire move the expiry forward */
	GETPPID,       /* negative control: one plain system call */
};

/* Child exit codes.  Below 64: set-up failed, before the filter. */
enum {
	CHILD_OK = 0,
	CHILD_SETUP = 1,         /* a library call failed during set-up */
	CHILD_NO_SECCOMP = 2,    /* the kernel refused the filter: skip */
	CHILD_CHECK = 64,        /* a check failed after the filter: see report */
	CHILD_TRAPPED = 65,      /* TRAP mode: the SIGSYS handler ran */
	CHILD_SURVIVED = 66,     /* negative control: getppid() returned */
};

/* Shared with the parent (MAP_SHARED, mapped before the fork). */
struct report {
	char setup_error[256];   /* set-up failures, before the filter */
	const char *check;       /* the failed check (a string literal) */
	long iteration;
	int64_t value;           /* what the failed call returned */
	int syscall_nr;          /* TRAP mode: the system call attempted */
	uint64_t renews_extended;
	uint64_t acquires_extended;
	uint64_t iterations_done;
};

static struct report *report;

/* The child's handles; global so that the SIGSYS handler needs no argument. */
struct child {
	struct shmelect_segment *seg, *ro_seg;
	struct shmelect_election *e, *ro_e;
	struct shmelect_candidate *c;
	struct shmelect_fence *fence;
	uint64_t token;
	char id[SHMELECT_IDENTITY_MAX + 1];
};

/*
 * Not exit() (atexit handlers, stdio flushing, LeakSanitizer's leak check
 * all make system calls) and not _exit(), which sanitizers intercept: the
 * exit_group system call itself, which the filter allows.  Deliberately
 * not declared noreturn: before every call to a noreturn function ASan
 * inserts __asan_handle_no_return(), which calls sigaltstack(2).
 */
static void raw_exit(int code)
{
	syscall(SYS_exit_group, code);
}

#define SETUP(cond, ...)                                                                            \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			snprintf(report->setup_error, sizeof(report->setup_error), __VA_ARGS__);  \
			raw_exit(CHILD_SETUP);                                                     \
		}                                                                                  \
	} while (0)

/* After the filter: record the failed check and leave. */
#define CHECK(cond, it, val)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			report->check = #cond;                                                     \
			report->iteration = (it);                                                  \
			report->value = (int64_t)(val);                                            \
			raw_exit(CHILD_CHECK);                                                     \
		}                                                                                  \
	} while (0)

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	report->syscall_nr = si->si_syscall;
	raw_exit(CHILD_TRAPPED);
}

/* Kill (or, for diagnosis, trap) on every system call but exit and
 * exit_group, and on any other architecture's calling convention (an x32
 * system call carries __X32_SYSCALL_BIT in its number and so matches
 * neither).  Returns 0, or -errno if the kernel refuses. */
static int install_filter(unsigned deny)
{
#ifdef AUDIT_ARCH_NATIVE
	struct sock_filter insns[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, deny),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit_group, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_exit, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, deny),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(insns) / sizeof(insns[0]), .filter = insns };

	/* without CAP_SYS_ADMIN a filter needs no_new_privs */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return -errno;
	return 0;
#else
	(void)deny;
	return -EOPNOTSUPP;
#endif
}

static void child_setup(struct child *ch, const char *name)
{
	struct shmelect_segment_params p = { .max_elections = 4, .max_candidates = 4 };
	struct shmelect_member members[4];
	struct shmelect_record rec;
	int r;

	snprintf(ch->id, sizeof(ch->id), "seccomp-%d", (int)getpid());
	shmelect_segment_unlink(name, 0);
	r = shmelect_segment_open(name, SHMELECT_SEGMENT_CREATE | SHMELECT_SEGMENT_EXCL, &p, &ch->seg);
	SETUP(r == 0, "segment_open(%s, CREATE): %s", name, strerror(-r));
	r = shmelect_segment_open(name, SHMELECT_SEGMENT_RDONLY, NULL, &ch->ro_seg);
	SETUP(r == 0, "segment_open(%s, RDONLY): %s", name, strerror(-r));
	/* both mappings stay; the name is not needed any more */
	shmelect_segment_unlink(name, 0);

	r = shmelect_election_open(ch->seg, "hot", SHMELECT_ELECTION_CREATE, &ch->e);
	SETUP(r == 0, "election_open: %s", strerror(-r));
	r = shmelect_election_open(ch->ro_seg, "hot", 0, &ch->ro_e);
	SETUP(r == 0, "election_open (read-only): %s", strerror(-r));
	r = shmelect_election_fence(ch->e, &ch->fence);
	SETUP(r == 0, "election_fence: %s", strerror(-r));
	r = shmelect_candidate_join(ch->e, ch->id, LEASE, 0, &ch->c);
	SETUP(r == 0, "candidate_join: %s", strerror(-r));
	r = shmelect_candidate_try_acquire(ch->c, &ch->token);
	SETUP(r == 1, "try_acquire: %d", r);

	/* Warm up: every call the child makes later, once, so that one-time
	 * work (lazy binding, the time-namespace offset, the incarnation page)
	 * happens now. */
	SETUP(shmelect_now_ns() > 0, "now_ns");
	SETUP(shmelect_candidate_is_leader(ch->c) == 1, "is_leader");
	SETUP(shmelect_candidate_leadership(ch->c, NULL, NULL) == 1, "leadership");
	SETUP(shmelect_candidate_renew(ch->c) == 1, "renew");
	SETUP(shmelect_candidate_try_acquire(ch->c, NULL) == 1, "try_acquire (renew path)");
	SETUP(shmelect_fence_check(ch->fence, ch->token) == 1, "fence_check");
	SETUP(shmelect_fence_highest(ch->fence) == ch->token, "fence_highest");
	SETUP(shmelect_election_observe(ch->e, &rec, NULL, 0) == 1, "observe");
	SETUP(shmelect_election_observe(ch->e, &rec, members, 4) == 1, "observe with members");
	SETUP(shmelect_election_observe(ch->ro_e, &rec, NULL, 0) == 1, "observe (read-only)");
	SETUP(rec.has_holder && !strcmp(rec.holder, ch->id), "read-only observer sees no holder");
}

static int enter_filter(unsigned deny)
{
	struct rlimit no_core = { 0, 0 };

	/* dying of SIGSYS is expected (negative control) or the failure
	 * itself: no core file either way */
	setrlimit(RLIMIT_CORE, &no_core);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (deny == SECCOMP_RET_TRAP) {
		struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGSYS, &sa, NULL);
	}
	return install_filter(deny);
}

/* An observer's view of leadership: our identity holds an unexpired
 * lease with our token.  Works on either mapping. */
static int observed_leading(struct child *ch, struct shmelect_election *e, struct shmelect_record *rec)
{
	int r = shmelect_election_observe(e, rec, NULL, 0);

	return r == 1 && rec->has_holder && !rec->expired && rec->token == ch->token &&
	       !strcmp(rec->holder, ch->id);
}

static void hot_loop(struct child *ch)
{
	struct shmelect_record rec, ro_rec;
	struct shmelect_member members[4];
	uint64_t token, expiry, last_expiry = 0;

	for (long i = 0; i < ITERATIONS; i++) {
		int r;

		r = shmelect_candidate_is_leader(ch->c);
		CHECK(r == 1, i, r);
		r = shmelect_candidate_leadership(ch->c, &token, &expiry);
		CHECK(r == 1 && token == ch->token, i, r);
		CHECK(expiry >= last_expiry, i, expiry);
		last_expiry = expiry;

		r = shmelect_candidate_renew(ch->c);
		CHECK(r == 1, i, r);
		r = shmelect_candidate_leadership(ch->c, NULL, &expiry);
		CHECK(r == 1 && expiry >= last_expiry, i, r);
		if (expiry > last_expiry)
			report->renews_extended++;
		last_expiry = expiry;

		r = shmelect_candidate_try_acquire(ch->c, &token);
		CHECK(r == 1 && token == ch->token, i, r);
		r = shmelect_candidate_leadership(ch->c, NULL, &expiry);
		CHECK(r == 1 && expiry >= last_expiry, i, r);
		if (expiry > last_expiry)
			report->acquires_extended++;
		last_expiry = expiry;

		r = shmelect_fence_check(ch->fence, ch->token);
		CHECK(r == 1, i, r);
		CHECK(shmelect_now_ns() > 0, i, 0);

		CHECK(observed_leading(ch, ch->e, &rec), i, rec.n_members);
		CHECK(observed_leading(ch, ch->ro_e, &ro_rec), i, ro_rec.n_members);
		/* the read-only snapshot is no older than the read-write one */
		CHECK(ro_rec.expiry_ns >= rec.expiry_ns, i, ro_rec.expiry_ns);
		r = shmelect_election_observe(ch->ro_e, &ro_rec, members, 4);
		CHECK(r == 1 && members[0].is_holder && !strcmp(members[0].identity, ch->id), i, r);
		report->iterations_done = (uint64_t)i + 1;
	}
}

/* A renew (and a try_acquire on the held lease) that really swaps the
 * lease word: the expiry moves forward, and the read-only observer sees
 * the new expiry. */
static void renew_extends(struct child *ch)
{
	struct shmelect_record rec;
	uint64_t e0, e1, e2, t;

	CHECK(shmelect_candidate_leadership(ch->c, NULL, &e0) == 1, 0, 0);
	/* e0 = (time of the last renew) + LEASE: wait until a renew must
	 * produce a later expiry */
	while ((t = shmelect_now_ns()) + LEASE <= e0 + 1000)
		;
	CHECK(shmelect_candidate_renew(ch->c) == 1, 1, 0);
	CHECK(shmelect_candidate_leadership(ch->c, NULL, &e1) == 1, 2, 0);
	CHECK(e1 > e0, 3, e1 - e0);
	CHECK(e1 >= t + LEASE, 4, e1);
	CHECK(observed_leading(ch, ch->ro_e, &rec) && rec.expiry_ns == e1, 5, rec.expiry_ns);

	while ((t = shmelect_now_ns()) + LEASE <= e1 + 1000)
		;
	CHECK(shmelect_candidate_try_acquire(ch->c, NULL) == 1, 6, 0);
	CHECK(shmelect_candidate_leadership(ch->c, NULL, &e2) == 1, 7, 0);
	CHECK(e2 > e1, 8, e2 - e1);
	CHECK(observed_leading(ch, ch->ro_e, &rec) && rec.expiry_ns == e2, 9, rec.expiry_ns);
	CHECK(rec.term == 1 && rec.transitions == 1, 10, rec.term); /* a renew, not a new term */
	report->renews_extended = 1;
	report->acquires_extended = 1;
}

static void child_main(enum scenario what, unsigned deny, const char *name)
{
	struct child ch = { 0 };
	int r;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	child_setup(&ch, name);

	r = enter_filter(deny);
	if (r < 0) {
		snprintf(report->setup_error, sizeof(report->setup_error), "seccomp filter: %s",
			 strerror(-r));
		raw_exit(CHILD_NO_SECCOMP);
		return;
	}
	/* From here on: no system call but exit_group. */
	switch (what) {
	case HOT_LOOP:
		hot_loop(&ch);
		break;
	case RENEW_EXTENDS:
		renew_extends(&ch);
		break;
	case GETPPID:
		getppid();
		raw_exit(CHILD_SURVIVED);
	}
	raw_exit(CHILD_OK);
}

/* Run a child; returns its wait status.  Skips the test if the machine
 * cannot run it. */
static int run_child(enum scenario what, unsigned deny)
{
	char name[64];
	pid_t pid;
	int st;

	memset(report, 0, sizeof(*report));
	report->syscall_nr = -1;
	snprintf(name, sizeof(name), "shmelect-test-seccomp-%d-%d", (int)getpid(), (int)what);
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		child_main(what, deny, name);
		_exit(127); /* not reached: child_main ends in exit_group */
	}
	while (waitpid(pid, &st, 0) < 0)
		cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
	shmelect_segment_unlink(name, 0); /* if the child died before it did */
	if (WIFEXITED(st) && WEXITSTATUS(st) == CHILD_NO_SECCOMP)
		cr_skip_test("cannot install a seccomp filter here: %s", report->setup_error);
	if (WIFEXITED(st) && WEXITSTATUS(st) == CHILD_SETUP)
		cr_assert_fail("child set-up failed: %s", report->setup_error);
	return st;
}

static void setup(void)
{
#ifndef AUDIT_ARCH_NATIVE
	cr_skip_test("no seccomp architecture constant for this CPU in the test");
#endif
	report = mmap(NULL, sizeof(*report), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(report, MAP_FAILED, "mmap: %s", strerror(errno));
}

/* The hot path made a system call: find out which, for the message. */
static int trapped_syscall(enum scenario what)
{
	int st = run_child(what, SECCOMP_RET_TRAP);

	if (WIFEXITED(st) && WEXITSTATUS(st) == CHILD_TRAPPED)
		return report->syscall_nr;
	return -1;
}

static void expect_clean_exit(int st, enum scenario what)
{
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
		int nr = trapped_syscall(what);
		cr_assert_fail("the hot path made a system call (number %d, see ausyscall %d, "
			       "after %" PRIu64 " iterations): killed by SIGSYS",
			       nr, nr, report->iterations_done);
	}
	cr_assert(WIFEXITED(st), "child killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	cr_assert_neq(WEXITSTATUS(st), CHILD_CHECK, "check failed after the filter: %s (iteration %ld, value %" PRId64 ")",
		      report->check ? report->check : "?", report->iteration, report->value);
	cr_assert_eq(WEXITSTATUS(st), CHILD_OK, "child exited with %d", WEXITSTATUS(st));
}

TestSuite(seccomp, .init = setup, .timeout = 120);

Test(seccomp, hot_path_makes_no_syscall)
{
	int st = run_child(HOT_LOOP, SECCOMP_RET_KILL_PROCESS);

	expect_clean_exit(st, HOT_LOOP);
	cr_expect_eq(report->iterations_done, ITERATIONS);
	/* Most renews move the expiry (the clock advanced since the last
	 * one), and those are real CASes of the lease word. */
	cr_expect_gt(report->renews_extended, 0, "no renew extended the lease");
	cr_expect_gt(report->acquires_extended, 0, "no try_acquire extended the lease");
	cr_log_info("%" PRIu64 " iterations without a system call; %" PRIu64 " renews and %" PRIu64
		    " try_acquires swapped the lease word",
		    report->iterations_done, report->renews_extended, report->acquires_extended);
}

Test(seccomp, renew_and_try_acquire_cas_without_syscall)
{
	int st = run_child(RENEW_EXTENDS, SECCOMP_RET_KILL_PROCESS);

	expect_clean_exit(st, RENEW_EXTENDS);
	cr_expect_eq(report->renews_extended, 1);
	cr_expect_eq(report->acquires_extended, 1);
}

/* The negative control: the filter does kill on a system call, so the
 * tests above would have caught one. */
Test(seccomp, filter_kills_on_getppid)
{
	int st = run_child(GETPPID, SECCOMP_RET_KILL_PROCESS);

	cr_assert(WIFSIGNALED(st), "getppid() did not kill the child (exit status %d)",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	cr_assert_eq(WTERMSIG(st), SIGSYS, "killed by %s, not SIGSYS", strsignal(WTERMSIG(st)));
}

/* ...and the diagnosis names the system call. */
Test(seccomp, trap_mode_names_the_syscall)
{
	cr_assert_eq(trapped_syscall(GETPPID), __NR_getppid);
}
