/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelectctl run: run a command active-passive.
 *
 * Threads and processes:
 *
 *   wrapper, main thread   epoll on a signalfd, an eventfd and timeouts:
 *                          starts and stops the command, polices the lease,
 *                          speaks sd_notify
 *   wrapper, elector       shmelect_elector_run(); its callbacks record
 *                          started/stopped leading and the leader and wake
 *                          the main thread through the eventfd
 *   keeper                 forked by the main thread for each term, leader
 *                          of a new process group; forks and waits for
 *                          COMMAND, exits as COMMAND did, and SIGKILLs the
 *                          whole group if the wrapper dies (PR_SET_PDEATHSIG)
 *   COMMAND                exec'd by the keeper, in the keeper's group
 *
 * Stopping the command before the lease can pass (shmelectctl(1), NOTES):
 *
 *  1. Lost while the wrapper runs: the elector steps down at once when a
 *     renew fails (evicted, handed over, broken) or when it was not renewed
 *     for the renew deadline; the main thread checks the same on its own,
 *     from the lease, waking at last_renew + renew_deadline.  Either one
 *     sends SIGTERM to the group, SIGKILL after the grace period: by
 *     last_renew + renew_deadline + grace < last_renew + lease, the earliest
 *     time at which anyone else can acquire an expired lease.
 *  2. The lease can pass earlier: on a crash of the wrapper (the robust
 *     futex reports it at once), and by operator actions (evict, forced
 *     handover).  So no command is ever started while an earlier one of the
 *     same election may still run: the keeper and COMMAND hold an OFD write
 *     lock (fcntl F_OFD_SETLK, on one byte of the segment file chosen by the
 *     election's name, far past its end), taken by the wrapper before it
 *     forks the keeper and released only when every process holding that
 *     open file description is gone.  A new leader waits for it, so it
 *     starts its command only after the previous one, its keeper and any
 *     process they left with the descriptor (SHMELECT_RUN_LOCK_FD) exited.
 *  3. A wrapper that is stopped (SIGSTOP, frozen) polices nothing; its
 *     command runs on until the wrapper continues, when its first act is to
 *     see the loss and stop it.  The lock keeps the next leader's command
 *     from starting meanwhile; under systemd WatchdogSec= kills a wrapper
 *     that stays stopped.  Commands that must also be safe against a stale
 *     leader of their own should check SHMELECT_TOKEN with a fence.
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>
#include <shmelect.h>

#include "ctl.h"
#include "run.h"

#define MS UINT64_C(1000000)
#define LOCK_RETRY_NS (1 * MS)
/* The keeper learns of the wrapper's death by this signal. */
#define KEEPER_DEATH_SIGNAL SIGRTMAX

extern char **environ;

enum child_state {
	CHILD_NONE,
	CHILD_LOCKWAIT,  /* leading; waiting for the previous command to be gone */
	CHILD_RUNNING,
	CHILD_STOPPING,  /* SIGTERM sent; SIGKILL at kill_at */
};

enum stop_reason {
	STOP_NONE,       /* it exited on its own */
	STOP_LOST,
	STOP_SHUTDOWN,
};

struct run {
	struct run_config cfg;
	struct ctl *ctl;
	char segment_file[4200];
	struct shmelect_segment *seg;
	struct shmelect_election *el;
	struct shmelect_elector *elector;
	struct shmelect_candidate *cand;
	char identity[SHMELECT_IDENTITY_MAX + 1];
	pthread_t thread;
	bool thread_started;
	int efd, sfd, epfd;

	/* written by the elector thread, under mu */
	pthread_mutex_t mu;
	bool s_leading;
	uint64_t s_token;
	bool s_ready;
	char s_leader[SHMELECT_IDENTITY_MAX + 1];
	uint64_t s_leader_token;
	bool s_elector_done;
	int s_elector_result;

	/* main thread only */
	bool leading;
	uint64_t token;
	enum child_state cs;
	pid_t child;                 /* the keeper, leader of the group */
	uint64_t child_token;
	uint64_t last_token_run;     /* never two commands in one term */
	int lock_fd;
	uint64_t lockwait_since;
	bool lockwait_logged;
	uint64_t kill_at;
	bool killed;
	enum stop_reason stop_reason;
	bool shutting_down;
	bool done;
	int exit_code;
	bool ran_once;
	char logged_leader[SHMELECT_IDENTITY_MAX + 1];
	uint64_t logged_leader_token;

	bool notify;
	uint64_t watchdog_ns, next_ping;
	char status_sent[300];
	bool ready_sent;
};

static void say(struct run *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct run *R, const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	if (R->cfg.quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "shmelectctl run[%s]: %s\n", R->identity[0] ? R->identity : "?", buf);
}

static void warn(struct run *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct run *R, const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "shmelectctl run[%s]: %s\n", R->identity[0] ? R->identity : "?", buf);
}

static void wake_main(struct run *R)
{
	uint64_t one = 1;

	if (write(R->efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow in practice; nothing to do */
	}
}

/* ------------------------------------------------------------------ */
/* Elector thread                                                      */
/* ------------------------------------------------------------------ */

static void on_started(struct shmelect_elector *el, uint64_t token, void *ud)
{
	struct run *R = ud;

	pthread_mutex_lock(&R->mu);
	R->s_leading = true;
	R->s_token = token;
	R->s_ready = true;
	pthread_mutex_unlock(&R->mu);
	wake_main(R);
}

static void on_stopped(struct shmelect_elector *el, uint64_t token, void *ud)
{
	struct run *R = ud;

	pthread_mutex_lock(&R->mu);
	R->s_leading = false;
	pthread_mutex_unlock(&R->mu);
	wake_main(R);
}

static void on_new_leader(struct shmelect_elector *el, const char *id, uint64_t token, void *ud)
{
	struct run *R = ud;

	pthread_mutex_lock(&R->mu);
	snprintf(R->s_leader, sizeof(R->s_leader), "%s", id ? id : "");
	R->s_leader_token = token;
	R->s_ready = true;
	pthread_mutex_unlock(&R->mu);
	wake_main(R);
}

static void *elector_thread(void *arg)
{
	struct run *R = arg;
	int r = shmelect_elector_run(R->elector);

	pthread_mutex_lock(&R->mu);
	R->s_elector_done = true;
	R->s_elector_result = r;
	R->s_leading = false;
	pthread_mutex_unlock(&R->mu);
	wake_main(R);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The run lock                                                        */
/* ------------------------------------------------------------------ */

/* A byte far past the end of the segment file, chosen by the name. */
static off_t lock_offset(const char *election)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (const unsigned char *p = (const unsigned char *)election; *p; p++) {
		h ^= *p;
		h *= UINT64_C(0x100000001b3);
	}
	return (off_t)((UINT64_C(1) << 62) | (h & ((UINT64_C(1) << 61) - 1)));
}

/* 1: locked (R->lock_fd holds it); 0: held by an earlier command; <0 error */
static int lock_try(struct run *R)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = lock_offset(R->cfg.election),
		.l_len = 1,
	};

	if (R->lock_fd < 0) {
		R->lock_fd = open(R->segment_file, O_RDWR | O_CLOEXEC | O_NOCTTY);
		if (R->lock_fd < 0)
			return -errno;
	}
	if (fcntl(R->lock_fd, F_OFD_SETLK, &fl) == 0)
		return 1;
	if (errno == EAGAIN || errno == EACCES)
		return 0;
	return -errno;
}

static void lock_drop(struct run *R)
{
	if (R->lock_fd >= 0)
		close(R->lock_fd);
	R->lock_fd = -1;
}

/* ------------------------------------------------------------------ */
/* The keeper and COMMAND                                              */
/* ------------------------------------------------------------------ */

static bool own_env(const char *kv)
{
	static const char *const drop[] = {
		"SHMELECT_ELECTION=", "SHMELECT_IDENTITY=", "SHMELECT_TOKEN=", "SHMELECT_SEGMENT=",
		"SHMELECT_RUN_LOCK_FD=", "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=",
	};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (!strncmp(kv, drop[i], strlen(drop[i])))
			return true;
	return false;
}

static char **child_env(struct run *R, uint64_t token, int lock_fd)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 6, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!own_env(environ[i]))
			env[k++] = environ[i];
	if (asprintf(&env[k++], "SHMELECT_ELECTION=%s", R->cfg.election) < 0 ||
	    asprintf(&env[k++], "SHMELECT_IDENTITY=%s", R->identity) < 0 ||
	    asprintf(&env[k++], "SHMELECT_TOKEN=%" PRIu64, token) < 0 ||
	    asprintf(&env[k++], "SHMELECT_SEGMENT=%s", R->cfg.segment) < 0 ||
	    asprintf(&env[k++], "SHMELECT_RUN_LOCK_FD=%d", lock_fd) < 0)
		return NULL; /* leaks a few bytes once, then we exit */
	env[k] = NULL;
	return env;
}

static void child_env_free(char **env)
{
	size_t n = 0;

	if (!env)
		return;
	while (env[n])
		n++;
	for (size_t i = n >= 5 ? n - 5 : 0; i < n; i++)
		free(env[i]);
	free(env);
}

static void write_str(const char *s)
{
	if (write(STDERR_FILENO, s, strlen(s)) < 0) {
		/* nowhere left to report it */
	}
}

/*
 * The keeper: a fork of a multithreaded process, so only async-signal-safe
 * calls until it exits.  All signals stay blocked in it; it waits for
 * SIGCHLD (COMMAND ended) and KEEPER_DEATH_SIGNAL (the wrapper died).
 */
static _Noreturn void keeper(pid_t wrapper, int lock_fd, char **argv, char **envp,
			     const char *exec_error)
{
	sigset_t wait_set, none, all;
	struct rlimit no_core = { 0, 0 };
	pid_t cmd, self = getpid();
	int status;

	/* only SIGKILL ends the keeper: a SIGTERM to the group is for COMMAND */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, KEEPER_DEATH_SIGNAL);
	if (getppid() != wrapper)
		_exit(127); /* the wrapper died before we could watch it */
	/* nothing of the wrapper's but the lock and stdio */
	if (lock_fd > 3)
		close_range(3, (unsigned)lock_fd - 1, 0);
	close_range((unsigned)lock_fd + 1, ~0U, 0);
	fcntl(lock_fd, F_SETFD, 0); /* inherited across exec by COMMAND */

	sigemptyset(&none);
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGCHLD);
	sigaddset(&wait_set, KEEPER_DEATH_SIGNAL);

	cmd = fork();
	if (cmd < 0)
		_exit(127);
	if (cmd == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != self)
			_exit(127);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvpe(argv[0], argv, envp);
		int err = errno;
		write_str(exec_error);
		write_str(strerror(err));
		write_str("\n");
		_exit(err == ENOENT ? 127 : 126);
	}

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&wait_set, &si);

		if (sig == KEEPER_DEATH_SIGNAL && getppid() != wrapper) {
			/* the wrapper is gone: nobody polices us any more */
			kill(0, SIGKILL);
			_exit(137);
		}
		if (sig != SIGCHLD)
			continue;
		if (waitpid(cmd, &status, WNOHANG) != cmd)
			continue;
		if (WIFEXITED(status))
			_exit(WEXITSTATUS(status));
		/* die as COMMAND died, without a core of ours */
		sig = WTERMSIG(status);
		setrlimit(RLIMIT_CORE, &no_core);
		signal(sig, SIG_DFL);
		sigprocmask(SIG_SETMASK, &none, NULL);
		kill(getpid(), sig);
		_exit(128 + sig);
	}
}

static int spawn(struct run *R, uint64_t token)
{
	char exec_error[300];
	char **envp;
	pid_t wrapper = getpid(), pid;

	envp = child_env(R, token, R->lock_fd);
	if (!envp)
		return -ENOMEM;
	snprintf(exec_error, sizeof(exec_error), "shmelectctl run[%s]: cannot execute '%s': ",
		 R->identity, R->cfg.command[0]);
	pid = fork();
	if (pid < 0) {
		int err = errno;
		child_env_free(envp);
		return -err;
	}
	if (pid == 0)
		keeper(wrapper, R->lock_fd, R->cfg.command, envp, exec_error);
	setpgid(pid, pid); /* as the keeper does: whichever runs first */
	child_env_free(envp);
	/* the keeper and COMMAND hold the lock now; our copy must not */
	lock_drop(R);
	R->child = pid;
	R->child_token = token;
	R->last_token_run = token;
	R->cs = CHILD_RUNNING;
	R->stop_reason = STOP_NONE;
	R->killed = false;
	R->ran_once = true;
	say(R, "leading with token %" PRIu64 ": started '%s' in process group %d (signal it with kill -- -%d)",
	    token, R->cfg.command[0], (int)pid, (int)pid);
	return 0;
}

static void stop_child(struct run *R, enum stop_reason why, uint64_t now, const char *what)
{
	if (R->cs == CHILD_LOCKWAIT) {
		lock_drop(R);
		R->cs = CHILD_NONE;
		return;
	}
	if (R->cs != CHILD_RUNNING)
		return;
	R->stop_reason = why;
	R->cs = CHILD_STOPPING;
	R->kill_at = now + R->cfg.grace_ns;
	if (R->cfg.grace_ns == 0) {
		kill(-R->child, SIGKILL);
		R->killed = true;
	} else {
		kill(-R->child, SIGTERM);
	}
	say(R, "%s: stopping '%s' (SIGTERM, SIGKILL in %" PRIu64 " ms)", what, R->cfg.command[0],
	    R->cfg.grace_ns / MS);
}

/*
 * Is the command's term still ours, renewed within the renew deadline?
 * Checked from the lease itself, independently of the elector thread.
 * *ret_deadline: when to check again.
 */
static bool term_valid(struct run *R, uint64_t now, uint64_t *ret_deadline, const char **why)
{
	uint64_t tok = 0, expiry = 0, deadline;

	*ret_deadline = UINT64_MAX;
	if (!R->leading || R->token != R->child_token) {
		*why = "lost the lead";
		return false;
	}
	if (shmelect_candidate_leadership(R->cand, &tok, &expiry) != 1 || tok != R->child_token) {
		*why = "lost the lead";
		return false;
	}
	/* expiry = the last renew's clock + our lease */
	deadline = expiry - R->cfg.lease_ns + R->cfg.renew_deadline_ns;
	if (now >= deadline) {
		*why = "not renewed within the renew deadline";
		return false;
	}
	*ret_deadline = deadline;
	return true;
}

/* ------------------------------------------------------------------ */
/* systemd                                                             */
/* ------------------------------------------------------------------ */

static void notify_status(struct run *R, uint64_t now)
{
	char status[300], leader[SHMELECT_IDENTITY_MAX + 1];
	char msg[400];

	if (!R->notify)
		return;
	pthread_mutex_lock(&R->mu);
	bool ready = R->s_ready;
	snprintf(leader, sizeof(leader), "%s", R->s_leader);
	pthread_mutex_unlock(&R->mu);

	if (R->shutting_down)
		snprintf(status, sizeof(status), "stopping");
	else if (R->leading && R->cs == CHILD_LOCKWAIT)
		snprintf(status, sizeof(status),
			 "leader, token %" PRIu64 ", waiting for the previous leader's command to exit", R->token);
	else if (R->leading)
		snprintf(status, sizeof(status), "leader, token %" PRIu64, R->token);
	else if (leader[0] && strcmp(leader, R->identity))
		snprintf(status, sizeof(status), "standby, leader is %s", leader);
	else
		snprintf(status, sizeof(status), "standby, no leader");

	if (ready && !R->ready_sent) {
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", status);
		sd_notify(0, msg);
		R->ready_sent = true;
		snprintf(R->status_sent, sizeof(R->status_sent), "%s", status);
	} else if (R->ready_sent && strcmp(status, R->status_sent)) {
		snprintf(msg, sizeof(msg), "STATUS=%s", status);
		sd_notify(0, msg);
		snprintf(R->status_sent, sizeof(R->status_sent), "%s", status);
	}
}

/* Healthy: the main loop runs and, if we lead, the lease is being renewed. */
static void notify_watchdog(struct run *R, uint64_t now)
{
	uint64_t tok, expiry;

	if (!R->watchdog_ns || now < R->next_ping)
		return;
	if (R->leading && !R->shutting_down &&
	    (shmelect_candidate_leadership(R->cand, &tok, &expiry) != 1 ||
	     now >= expiry - R->cfg.lease_ns + R->cfg.renew_deadline_ns))
		return; /* the elector is stuck: let the watchdog fire */
	sd_notify(0, "WATCHDOG=1");
	R->next_ping = now + R->watchdog_ns / 2;
}

/* ------------------------------------------------------------------ */
/* Main loop                                                           */
/* ------------------------------------------------------------------ */

static void describe_status(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "ended (status 0x%x)", (unsigned)status);
}

static int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return CTL_EXIT_FAILURE;
}

static void child_ended(struct run *R, int status)
{
	char how[128];
	uint64_t tok;

	describe_status(status, how, sizeof(how));
	R->cs = CHILD_NONE;
	R->child = 0;

	if (R->shutting_down) {
		say(R, "'%s' %s; stopping", R->cfg.command[0], how);
		R->done = true; /* with the exit code set when the shutdown began */
		return;
	}
	if (R->stop_reason == STOP_LOST) {
		say(R, "'%s' %s after the lead was lost", R->cfg.command[0], how);
		if (R->cfg.restart == RUN_RESTART_NO) {
			R->done = true;
			R->exit_code = CTL_EXIT_LOST;
		}
		return;
	}
	/* on its own: give the lease up at once, so that another member
	 * (or we, in a new term) can run it */
	say(R, "'%s' %s; resigning", R->cfg.command[0], how);
	if (shmelect_candidate_leadership(R->cand, &tok, NULL) == 1 && tok == R->child_token)
		shmelect_candidate_resign(R->cand);
	switch (R->cfg.restart) {
	case RUN_RESTART_NO:
		R->done = true;
		R->exit_code = status_code(status);
		break;
	case RUN_RESTART_ON_FAILURE:
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			R->done = true;
			R->exit_code = CTL_EXIT_OK;
		}
		break;
	case RUN_RESTART_ALWAYS:
		break;
	}
}

static void reap(struct run *R)
{
	siginfo_t si;
	int status;

	if (R->cs != CHILD_RUNNING && R->cs != CHILD_STOPPING)
		return;
	memset(&si, 0, sizeof(si));
	/* WNOWAIT: the zombie keeper keeps its pid, so the group id cannot
	 * be reused while we kill what COMMAND may have left in it */
	if (waitid(P_PID, (id_t)R->child, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid != R->child)
		return;
	kill(-R->child, SIGKILL);
	if (waitpid(R->child, &status, 0) != R->child)
		return;
	child_ended(R, status);
}

static void begin_shutdown(struct run *R, uint64_t now, int sig)
{
	if (R->shutting_down) {
		if (R->cs == CHILD_STOPPING && !R->killed) {
			kill(-R->child, SIGKILL);
			R->killed = true;
		}
		return;
	}
	R->shutting_down = true;
	if (R->notify)
		sd_notify(0, "STOPPING=1\nSTATUS=stopping");
	if (R->cs == CHILD_RUNNING || R->cs == CHILD_LOCKWAIT)
		stop_child(R, STOP_SHUTDOWN, now, sig == SIGINT ? "SIGINT" : "SIGTERM");
	else
		say(R, "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	if (R->cs == CHILD_NONE) {
		R->done = true;
		R->exit_code = CTL_EXIT_OK;
	}
}

static void handle_signals(struct run *R, uint64_t now)
{
	struct signalfd_siginfo si;

	while (read(R->sfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap(R);
			break;
		case SIGTERM:
		case SIGINT:
			begin_shutdown(R, now, (int)si.ssi_signo);
			break;
		default:
			/* SIGHUP, SIGUSR1, SIGUSR2: for COMMAND */
			if (R->cs == CHILD_RUNNING)
				kill(-R->child, (int)si.ssi_signo);
		}
	}
}

/* One pass: take in the elector's news, police, start or kill. */
static uint64_t step(struct run *R, uint64_t now)
{
	uint64_t next = UINT64_MAX, deadline;
	const char *why;
	bool elector_done;
	int elector_result;

	pthread_mutex_lock(&R->mu);
	bool was = R->leading;
	R->leading = R->s_leading;
	R->token = R->s_token;
	elector_done = R->s_elector_done;
	elector_result = R->s_elector_result;
	char leader[SHMELECT_IDENTITY_MAX + 1];
	snprintf(leader, sizeof(leader), "%s", R->s_leader);
	uint64_t leader_token = R->s_leader_token;
	pthread_mutex_unlock(&R->mu);

	if (elector_done && !R->shutting_down) {
		warn(R, "the elector stopped: %s", elector_result < 0 ? strerror(-elector_result) : "no reason");
		R->shutting_down = true;
		R->exit_code = CTL_EXIT_FAILURE;
		stop_child(R, STOP_SHUTDOWN, now, "the elector stopped");
		if (R->cs == CHILD_NONE)
			R->done = true;
	}

	/* police the running command */
	if (R->cs == CHILD_RUNNING && !R->shutting_down) {
		if (!term_valid(R, now, &deadline, &why))
			stop_child(R, STOP_LOST, now, why);
		else
			next = deadline;
	}
	/* only now, after policing, the news */
	if (was && !R->leading && R->cs == CHILD_NONE)
		say(R, "no longer leads (token %" PRIu64 ")", R->token);
	if (strcmp(leader, R->logged_leader) || leader_token != R->logged_leader_token) {
		snprintf(R->logged_leader, sizeof(R->logged_leader), "%s", leader);
		R->logged_leader_token = leader_token;
		if (!leader[0])
			say(R, "standby: no leader");
		else if (strcmp(leader, R->identity))
			say(R, "standby: %s leads with token %" PRIu64, leader, leader_token);
	}
	if (R->cs == CHILD_LOCKWAIT && (!R->leading || R->token != R->child_token || R->shutting_down)) {
		say(R, "lost the lead while waiting for the previous command");
		stop_child(R, STOP_LOST, now, "lost");
	}
	if (R->cs == CHILD_STOPPING) {
		if (!R->killed && now >= R->kill_at) {
			say(R, "'%s' did not stop within the grace period: SIGKILL", R->cfg.command[0]);
			kill(-R->child, SIGKILL);
			R->killed = true;
		}
		if (!R->killed && R->kill_at < next)
			next = R->kill_at;
	}

	/* start the command: once per term, after the previous one is gone */
	if (R->cs == CHILD_NONE && R->leading && !R->shutting_down && !R->done &&
	    R->token != R->last_token_run && !(R->cfg.restart == RUN_RESTART_NO && R->ran_once)) {
		R->cs = CHILD_LOCKWAIT;
		R->child_token = R->token;
		R->lockwait_since = now;
		R->lockwait_logged = false;
	}
	if (R->cs == CHILD_LOCKWAIT) {
		int r = lock_try(R);

		if (r < 0) {
			warn(R, "cannot lock %s: %s", R->segment_file, strerror(-r));
			R->shutting_down = true;
			R->done = true;
			R->exit_code = CTL_EXIT_FAILURE;
			lock_drop(R);
			R->cs = CHILD_NONE;
		} else if (r == 0) {
			if (!R->lockwait_logged && now - R->lockwait_since >= 100 * MS) {
				say(R, "leading with token %" PRIu64 "; waiting for the previous leader's command "
				    "to exit", R->child_token);
				R->lockwait_logged = true;
			}
			next = now + LOCK_RETRY_NS;
		} else if (!term_valid(R, now, &deadline, &why)) {
			/* lost it while we waited */
			lock_drop(R);
			R->cs = CHILD_NONE;
			R->last_token_run = R->child_token;
		} else {
			r = spawn(R, R->child_token);
			if (r < 0) {
				warn(R, "cannot start '%s': %s", R->cfg.command[0], strerror(-r));
				lock_drop(R);
				R->cs = CHILD_NONE;
				if (shmelect_candidate_resign(R->cand) < 0 || R->cfg.restart == RUN_RESTART_NO) {
					R->done = true;
					R->exit_code = CTL_EXIT_FAILURE;
				}
			} else if (deadline < next) {
				next = deadline;
			}
		}
	}
	return next;
}

static int setup(struct run *R, struct ctl_error *e)
{
	struct shmelect_elector_config cfg = {
		.identity = R->cfg.identity,
		.lease_ns = R->cfg.lease_ns,
		.renew_deadline_ns = R->cfg.renew_deadline_ns,
		.retry_period_ns = R->cfg.retry_ns,
		.lock_delay_ns = R->cfg.lock_delay_ns,
		.priority = R->cfg.priority,
		.flags = R->cfg.preempt ? SHMELECT_ELECTOR_PREEMPT : 0,
		.advert = R->cfg.advert,
	};
	struct shmelect_elector_callbacks cb = {
		.started_leading = on_started,
		.stopped_leading = on_stopped,
		.new_leader = on_new_leader,
	};
	unsigned flags = SHMELECT_SEGMENT_CREATE | (R->cfg.segment_is_path ? SHMELECT_SEGMENT_PATH : 0);
	int r;

	r = shmelect_segment_open(R->cfg.segment, flags, NULL, &R->seg);
	if (r < 0) {
		direct_segment_error(R->ctl, r, true, e);
		return r;
	}
	r = shmelect_election_open(R->seg, R->cfg.election, SHMELECT_ELECTION_CREATE, &R->el);
	if (r < 0) {
		if (r == -ENOSPC)
			ctl_error_set(e, ENOSPC, "segment '%s' has no room for another election", R->cfg.segment);
		else
			ctl_error_set(e, -r, "cannot open election '%s': %s", R->cfg.election, strerror(-r));
		return r;
	}
	r = shmelect_elector_new(R->el, &cfg, &cb, R, &R->elector);
	if (r < 0) {
		if (r == -EEXIST)
			ctl_error_set(e, EEXIST, "identity '%s' is already a member of election '%s'",
				      R->cfg.identity, R->cfg.election);
		else if (r == -ENOSPC)
			ctl_error_set(e, ENOSPC, "election '%s' has no free candidate slot", R->cfg.election);
		else if (r == -ESTALE)
			ctl_error_set(e, ESTALE, "segment '%s' was written by an earlier boot", R->cfg.segment);
		else
			ctl_error_set(e, -r, "cannot join election '%s': %s", R->cfg.election, strerror(-r));
		return r;
	}
	R->cand = shmelect_elector_candidate(R->elector);
	snprintf(R->identity, sizeof(R->identity), "%s", shmelect_candidate_identity(R->cand));
	return 0;
}

static void teardown(struct run *R)
{
	if (R->elector) {
		shmelect_elector_stop(R->elector);
		if (R->thread_started)
			pthread_join(R->thread, NULL);
		/* releases the lease if we hold it, and leaves */
		shmelect_elector_free(R->elector);
	}
	shmelect_election_close(R->el);
	shmelect_segment_close(R->seg);
	lock_drop(R);
}

static int run_inner(struct run *R, struct ctl *c, int argc, char **argv)
{
	struct ctl_error e = { 0 };
	char err[400];
	sigset_t mask;
	uint64_t usec;
	int r;

	r = run_config_parse(argc, argv, &R->cfg, err, sizeof(err));
	if (r == 1) {
		run_usage(stdout);
		return CTL_EXIT_OK;
	}
	if (r < 0) {
		fprintf(stderr, "shmelectctl: %s\nTry 'shmelectctl run --help'.\n", err);
		return CTL_EXIT_USAGE;
	}
	if (R->cfg.segment) {
		c->segment = R->cfg.segment;
		c->segment_is_path = R->cfg.segment_is_path;
	} else {
		R->cfg.segment = c->segment;
		R->cfg.segment_is_path = c->segment_is_path;
	}
	ctl_segment_file(c, R->segment_file, sizeof(R->segment_file));

	/* Before any thread exists, so that every thread blocks them and
	 * they all come through the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, KEEPER_DEATH_SIGNAL);
	/* a closed stderr must not kill the wrapper while a command runs:
	 * blocked, not ignored, so that COMMAND still gets the default */
	sigaddset(&mask, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sigdelset(&mask, KEEPER_DEATH_SIGNAL);
	sigdelset(&mask, SIGPIPE);
	R->sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	R->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	R->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (R->sfd < 0 || R->efd < 0 || R->epfd < 0) {
		fprintf(stderr, "shmelectctl: run: %m\n");
		return CTL_EXIT_FAILURE;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = R->sfd };
	epoll_ctl(R->epfd, EPOLL_CTL_ADD, R->sfd, &ev);
	ev.data.fd = R->efd;
	epoll_ctl(R->epfd, EPOLL_CTL_ADD, R->efd, &ev);

	r = setup(R, &e);
	if (r < 0) {
		output_error(NULL, &e);
		teardown(R);
		return e.exit_code ? e.exit_code : CTL_EXIT_FAILURE;
	}

	R->notify = getenv("NOTIFY_SOCKET") != NULL;
	if (sd_watchdog_enabled(0, &usec) > 0)
		R->watchdog_ns = usec * 1000;

	say(R, "campaigning in election '%s' (segment %s; lease %" PRIu64 " ms, renew deadline %" PRIu64
	    " ms, retry %" PRIu64 " ms, grace %" PRIu64 " ms)",
	    R->cfg.election, R->cfg.segment, R->cfg.lease_ns / MS, R->cfg.renew_deadline_ns / MS,
	    R->cfg.retry_ns / MS, R->cfg.grace_ns / MS);

	r = pthread_create(&R->thread, NULL, elector_thread, R);
	if (r) {
		fprintf(stderr, "shmelectctl: run: cannot start the elector thread: %s\n", strerror(r));
		teardown(R);
		return CTL_EXIT_FAILURE;
	}
	R->thread_started = true;

	while (!R->done) {
		uint64_t now = shmelect_now_ns(), next;
		struct epoll_event evs[4];
		int timeout_ms, n;

		next = step(R, now);
		if (R->done)
			break;
		notify_status(R, now);
		notify_watchdog(R, now);
		if (R->watchdog_ns && R->next_ping < next)
			next = R->next_ping > now ? R->next_ping : now + MS;
		if (next == UINT64_MAX)
			timeout_ms = -1;
		else if (next <= now)
			timeout_ms = 0;
		else
			timeout_ms = (int)((next - now + MS - 1) / MS);
		n = epoll_wait(R->epfd, evs, 4, timeout_ms);
		now = shmelect_now_ns();
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == R->sfd) {
				handle_signals(R, now);
			} else if (evs[i].data.fd == R->efd) {
				uint64_t v;
				if (read(R->efd, &v, sizeof(v)) < 0) {
					/* EAGAIN: already drained */
				}
			}
		}
	}

	/* the command is gone; now the lease may go */
	teardown(R);
	if (R->notify && !R->shutting_down)
		sd_notify(0, "STOPPING=1");
	say(R, "exiting with status %d", R->exit_code);
	return R->exit_code;
}

int run_main(struct ctl *c, int argc, char **argv)
{
	struct run *R = calloc(1, sizeof(*R));
	int r;

	if (!R)
		return CTL_EXIT_FAILURE;
	R->ctl = c;
	R->lock_fd = -1;
	R->efd = R->sfd = R->epfd = -1;
	pthread_mutex_init(&R->mu, NULL);
	r = run_inner(R, c, argc, argv);
	if (R->epfd >= 0)
		close(R->epfd);
	if (R->efd >= 0)
		close(R->efd);
	if (R->sfd >= 0)
		close(R->sfd);
	pthread_mutex_destroy(&R->mu);
	free(R);
	return r;
}
