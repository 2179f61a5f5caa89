/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelectd: the daemon's internal interfaces, grouped by file.
 *
 *   main.c      options, event loop, wiring
 *   log.c       stderr logging with sd-daemon priority prefixes
 *   config.c    shmelectd.conf(5)
 *   segments.c  owning segments: create/adopt, mode, group, token floor
 *   monitor.c   one thread per segment asleep on its change word
 *   tracker.c   per-election snapshots, diffs into events, expiry timers
 *   reaper.c    pidfds of members, death -> break lease, free slots
 *   socket.c    the Unix socket: listener, connections, bounded buffers
 *   protocol.c  the JSON verbs
 *   jsonlite.h  JSON the quick way: writing replies, reading simple requests
 *   watch.c     watch subscriptions and event fan-out
 *   metrics.c   Prometheus text exposition
 *   notify.c    sd_notify: READY, STATUS, WATCHDOG, RELOADING, STOPPING
 *
 * Everything runs in the sd-event loop's thread except the monitor
 * threads, which only sleep and write to an eventfd.
 */
#ifndef SHMELECTD_H
#define SHMELECTD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "shmelect.h"

#define SHMELECTD_PROTOCOL        1
#define SHMELECTD_DEFAULT_CONFIG  "/etc/shmelect/shmelectd.conf"
#define SHMELECTD_DEFAULT_SOCKET  "/run/shmelect/shmelectd.sock"
#define SHMELECTD_DEFAULT_STATE   "/var/lib/shmelect"
#define SHMELECTD_DEFAULT_MODE    0644u
#define SHMELECTD_LINE_MAX        4096u          /* request bytes, newline excluded */
#ifndef SHMELECTD_OUTPUT_MAX /* smaller in the fuzz target, to reach back-pressure cheaply */
#define SHMELECTD_OUTPUT_MAX      (1u << 20)     /* unread output per client */
#endif
#define SHMELECTD_MAX_CONNECTIONS 1024u

struct daemon;
struct segment;
struct tracked;
struct proc;
struct conn;
struct sub;

/* ------------------------------------------------------------------ */
/* log.c                                                               */
/* ------------------------------------------------------------------ */

void log_set_max_level(int level);
int log_get_max_level(void);
void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_printf(3, __VA_ARGS__)
#define log_warning(...) log_printf(4, __VA_ARGS__)
#define log_notice(...)  log_printf(5, __VA_ARGS__)
#define log_info(...)    log_printf(6, __VA_ARGS__)
#define log_debug(...)   log_printf(7, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* config.c                                                            */
/* ------------------------------------------------------------------ */

struct seg_conf {
	char *name;              /* the name clients use */
	char *path;              /* file-backed segment; NULL: POSIX shm /dev/shm/<name> */
	uint32_t elections;      /* 0: library default */
	uint32_t candidates;     /* 0: library default */
	uint32_t mode;           /* file mode */
	char *group;             /* NULL: leave the group alone */
};

struct config {
	struct seg_conf *segs;
	size_t n_segs;
	char *operator_group;
	char *socket_path;
	char *state_dir;
	unsigned max_connections; /* 0: unset */
};

/* Parse a configuration file.  -ENOENT if missing; -EINVAL with a logged
 * "file:line: reason" on a syntax error. */
int config_parse_file(const char *path, struct config *ret);
int config_parse_string(const char *text, const char *origin, struct config *ret);
int config_add_segment(struct config *c, const char *name);
const struct seg_conf *config_find_segment(const struct config *c, const char *name);
void config_free(struct config *c);

/* ------------------------------------------------------------------ */
/* segments.c                                                          */
/* ------------------------------------------------------------------ */

struct segment {
	struct daemon *d;
	struct seg_conf conf;      /* own copy */
	struct shmelect_segment *seg;
	dev_t dev;
	ino_t ino;
	uint32_t max_elections, max_candidates;
	struct monitor *mon;
	sd_event_source *mon_src;
	struct tracked **els;
	size_t n_els, cap_els;
	struct shmelect_member *scratch; /* max_candidates entries */
	uint64_t token_highest;    /* highest token seen (persisted) */
	uint64_t token_saved;
	char *state_file;
	uint64_t reaps;            /* dead members' slots freed */
	uint64_t breaks;           /* dead holders' leases broken */
};

int segment_open(struct daemon *d, const struct seg_conf *conf, struct segment **ret);
void segment_close(struct segment *s);
/* Re-apply mode/group/capacity from a new configuration. */
void segment_apply(struct segment *s, const struct seg_conf *conf);
/* 1 if the name now refers to another file than the one mapped. */
int segment_replaced(struct segment *s);
void segment_note_token(struct segment *s, uint64_t token);
struct tracked *segment_find_election(struct segment *s, const char *name);
struct segment *daemon_find_segment(struct daemon *d, const char *name);

/* ------------------------------------------------------------------ */
/* monitor.c                                                           */
/* ------------------------------------------------------------------ */

struct monitor;

/* Start a thread that sleeps in shmelect_segment_wait() on seg and
 * writes to an eventfd (returned in *ret_fd) on every change, and once
 * at the start.  The thread shares seg, which must stay open until
 * monitor_stop(). */
int monitor_start(struct shmelect_segment *seg, struct monitor **ret, int *ret_fd);
/* Hand seg over to the thread, which closes it and exits at its next
 * wake-up.  Neither m nor seg may be used afterwards. */
void monitor_stop(struct monitor *m);

/* ------------------------------------------------------------------ */
/* tracker.c                                                           */
/* ------------------------------------------------------------------ */

struct tmember {
	char identity[SHMELECT_IDENTITY_MAX + 1];
	pid_t pid;
	uint32_t slot;
	uint64_t start_time;
	uint64_t pidns;
	uint64_t joined_ns;
	struct proc *proc;         /* NULL: not watched (other namespace) */
};

struct tracked {
	struct segment *seg;
	struct shmelect_election *e;
	char name[SHMELECT_NAME_MAX + 1];
	uint64_t change;           /* election change word, as last seen */
	bool have_snap;
	bool leading;              /* a holder with an unexpired lease */
	char holder[SHMELECT_IDENTITY_MAX + 1];
	uint32_t holder_slot;
	uint64_t term;
	uint64_t token;
	struct tmember *members;
	size_t n_members;
	sd_event_source *expiry;
	uint64_t failovers;        /* leader changes seen */
};

/* Look at every election of the segment that changed since the last scan
 * (and at new ones), emitting events for what differs. */
void tracker_scan(struct segment *s);
void tracker_refresh(struct tracked *t);
void tracker_free(struct tracked *t);
/* A watched process died: break its lease if it holds one, free slots. */
void tracker_proc_died(struct tracked *t, struct proc *p);
/* 1 while some member of t is the process p */
bool tracker_has_proc(const struct tracked *t, const struct proc *p);

/* ------------------------------------------------------------------ */
/* reaper.c                                                            */
/* ------------------------------------------------------------------ */

struct reaper;

int reaper_new(struct daemon *d, struct reaper **ret);
struct reaper *reaper_free(struct reaper *r);
/* A reference to the process (pid, start_time) of our PID namespace,
 * watched through a pidfd.  NULL if it cannot be watched. */
struct proc *reaper_watch(struct reaper *r, pid_t pid, uint64_t start_time);
void reaper_unwatch(struct reaper *r, struct proc *p);
bool proc_is_dead(const struct proc *p);
pid_t proc_pid(const struct proc *p);
/* The member could not be freed yet (a zombie): try again later. */
void reaper_retry(struct reaper *r, struct proc *p);
int read_start_time(pid_t pid, uint64_t *ret);
int read_self_pidns(uint64_t *ret);

/* ------------------------------------------------------------------ */
/* socket.c                                                            */
/* ------------------------------------------------------------------ */

struct server;

/* Listen on the socket-activated fd, or bind path. */
int server_new(struct daemon *d, const char *path, unsigned max_conns, struct server **ret);
struct server *server_free(struct server *srv);
unsigned server_connections(const struct server *srv);

struct peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t *groups;             /* supplementary groups (SO_PEERGROUPS) */
	size_t n_groups;
};

/* Serve fd, a connected non-blocking stream socket, as a client: what the
 * listener does with each connection it accepts (within max_conns, which
 * this does not check).  The server owns fd from then on, unless this
 * fails.  peer: the client's credentials (copied); NULL to read them from
 * the socket (SO_PEERCRED, SO_PEERGROUPS), as for an accepted one. */
int server_add_conn(struct server *srv, int fd, const struct peer *peer);

const struct peer *conn_peer(const struct conn *c);
/* Queue a line (a newline is added).  Responses always fit; returns
 * -ENOBUFS if an event would take the unread output over the bound. */
int conn_send(struct conn *c, const char *line, size_t len, bool is_event);
/* Send a last line and close once it is written (or after a grace time). */
void conn_send_last(struct conn *c, const char *line, size_t len);
void conn_set_sub(struct conn *c, struct sub *sub);
bool conn_closing(const struct conn *c);

/* ------------------------------------------------------------------ */
/* protocol.c                                                          */
/* ------------------------------------------------------------------ */

/* Handle one request line and queue the response. */
void protocol_handle(struct daemon *d, struct conn *c, const char *line, size_t len);
/* Free what protocol_handle() keeps between requests. */
void protocol_done(void);
/* The error line for a request we refuse before reading it. */
char *protocol_error_line(const char *errname, int err, const char *message);
/* Copy s into dst as valid UTF-8 (invalid bytes become U+FFFD). */
void utf8_sanitize(char *dst, size_t size, const char *s);

/* ------------------------------------------------------------------ */
/* watch.c                                                             */
/* ------------------------------------------------------------------ */

struct event {
	const char *type;          /* leader, no_leader, joined, left */
	const char *segment;
	const char *election;
	const char *holder;        /* NULL: none */
	uint64_t token;
	uint64_t term;
	const char *identity;      /* joined/left; NULL otherwise */
	uint64_t time_ns;
};

struct hub;

int hub_new(struct hub **ret);
struct hub *hub_free(struct hub *h);
struct sub *hub_subscribe(struct hub *h, struct conn *c, const char *segment, const char *election);
void hub_unsubscribe(struct sub *s);
void hub_emit(struct hub *h, const struct event *ev);
size_t hub_count(const struct hub *h);

/* ------------------------------------------------------------------ */
/* metrics.c                                                           */
/* ------------------------------------------------------------------ */

/* The Prometheus text exposition of every owned election (malloc'd). */
char *metrics_render(struct daemon *d);

/* ------------------------------------------------------------------ */
/* notify.c                                                            */
/* ------------------------------------------------------------------ */

int notify_init(struct daemon *d);
void notify_ready(struct daemon *d);
void notify_reloading(struct daemon *d);
void notify_stopping(struct daemon *d);
/* Recompute the STATUS= line; sent only when it changed. */
void notify_status(struct daemon *d);
void notify_done(struct daemon *d);

/* ------------------------------------------------------------------ */
/* main.c: the daemon                                                  */
/* ------------------------------------------------------------------ */

struct daemon {
	sd_event *event;
	struct config cfg;            /* effective configuration */
	const char *config_path;
	bool config_explicit;
	const char *opt_socket;
	const char *opt_state_dir;
	const char *opt_operator_group;
	char **opt_segments;
	size_t n_opt_segments;
	char *socket_path;
	char *state_dir;
	gid_t operator_gid;
	bool have_operator_gid;
	uid_t uid;
	uint64_t pidns;               /* inode of our /proc/self/ns/pid */
	struct segment **segs;
	size_t n_segs;
	struct server *server;
	struct reaper *reaper;
	struct hub *hub;
	sd_event_source *watchdog;
	char *status;                 /* last STATUS= sent */
	bool stopping;
};

/* Called by the reaper when a watched process has died. */
void daemon_proc_died(struct daemon *d, struct proc *p);

#endif
