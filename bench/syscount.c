/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Count the system calls an operation makes, with ptrace: a child runs the
 * operation `iterations` times between two markers, and the tracer counts
 * syscall-entry stops between the markers.  Exact, whatever the machine's
 * load, and needs no perf or tracepoint access.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define MARK_BEGIN 0x5eb1
#define MARK_END   0x5eb2

double count_syscalls(void (*op)(void *), void *ud, unsigned iterations)
{
	pid_t pid;
	int status;
	long count = 0;
	bool counting = false, entry = true;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		op(ud); /* warm up: one-time setup is not the operation's cost */
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		syscall(SYS_getppid, MARK_BEGIN);
		for (unsigned i = 0; i < iterations; i++)
			op(ud);
		syscall(SYS_getppid, MARK_END);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) < 0 || !WIFSTOPPED(status))
		return -1;
	ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD);
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL) < 0)
			break;
		if (waitpid(pid, &status, 0) < 0 || WIFEXITED(status) || WIFSIGNALED(status))
			break;
		if (!(WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80)))
			continue;
		if (entry) {
			struct user_regs_struct regs;
			ptrace(PTRACE_GETREGS, pid, NULL, &regs);
#if defined(__x86_64__)
			long nr = (long)regs.orig_rax, arg = (long)regs.rdi;
#else
			long nr = -1, arg = 0;
#endif
			if (nr == SYS_getppid && arg == MARK_BEGIN)
				counting = true;
			else if (nr == SYS_getppid && arg == MARK_END)
				counting = false;
			else if (counting)
				count++;
		}
		entry = !entry;
	}
	waitpid(pid, &status, 0);
	return (double)count / iterations;
}
