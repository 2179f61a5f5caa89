/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelectctl: what its parts share.
 *
 * Every verb but "run" is a request in the daemon's socket protocol (see
 * shmelect(7) and shmelectctl(1)): a JSON object with a "verb".  It is
 * answered either by shmelectd over its Unix socket (client.c) or, with the
 * same response shapes, by reading the segment with the library
 * (direct.c).  output.c prints a response as it is (--json) or for people.
 * So the output is the same whichever way the answer came.
 */
#ifndef SHMELECTCTL_H
#define SHMELECTCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

#define CTL_PROTOCOL 1
#define CTL_DEFAULT_SOCKET "/run/shmelect/shmelectd.sock"
#define CTL_REQUEST_MAX 4096

/* Exit codes, documented in shmelectctl(1). */
enum {
	CTL_EXIT_OK = 0,
	CTL_EXIT_FAILURE = 1,
	CTL_EXIT_USAGE = 2,
	CTL_EXIT_NOENT = 3,     /* no such segment, election or member */
	CTL_EXIT_PERM = 4,      /* permission denied */
	CTL_EXIT_NODAEMON = 5,  /* --daemon and shmelectd cannot be reached */
	CTL_EXIT_LOST = 6,      /* run --restart=no: leadership lost, command stopped */
};

enum ctl_mode {
	CTL_MODE_AUTO,    /* the daemon if its socket accepts, else direct */
	CTL_MODE_DIRECT,  /* the segment, through the library */
	CTL_MODE_DAEMON,  /* the daemon's socket only */
};

struct ctl {
	const char *segment;     /* name, or path if segment_is_path */
	bool segment_is_path;
	const char *socket_path;
	enum ctl_mode mode;
	bool json;
	int sock;                /* connected to the daemon, or -1: direct */
	uint64_t next_id;
};

/* An error to report: errno value, and a sentence for people. */
struct ctl_error {
	int err;                 /* positive errno */
	int exit_code;
	char message[512];
};

void ctl_error_set(struct ctl_error *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "ENOENT" for 2, and so on; "EUNKNOWN" if there is no name. */
const char *ctl_errno_name(int err);
int ctl_errno_from_name(const char *name);
int ctl_exit_code(int err);

/* Called with each event of a watch; return non-zero to stop. */
typedef int (*ctl_event_fn)(json_object *event, void *userdata);

/* Set by SIGINT/SIGTERM during a watch. */
extern volatile int ctl_interrupted;

/* direct.c: answer a request from the segment itself. */
int direct_call(struct ctl *c, json_object *req, json_object **ret, struct ctl_error *e);
int direct_watch(struct ctl *c, const char *election, ctl_event_fn fn, void *userdata,
		 struct ctl_error *e);
/* The segment's file: /dev/shm/NAME, or the path. */
void ctl_segment_file(const struct ctl *c, char *buf, size_t size);
/* The sentence for an error opening the segment (no such segment...). */
void direct_segment_error(struct ctl *c, int r, bool write, struct ctl_error *e);

/* client.c: ask shmelectd. */
int client_connect(struct ctl *c, struct ctl_error *e);
int client_call(struct ctl *c, json_object *req, json_object **ret, struct ctl_error *e);
int client_watch(struct ctl *c, json_object *req, ctl_event_fn fn, void *userdata,
		 struct ctl_error *e);

/* output.c */
void output_json(json_object *o);
void output_list(json_object *resp);
void output_status(json_object *resp);
void output_event(json_object *event);
void output_error(const struct ctl *c, const struct ctl_error *e);
/* Helpers to read protocol objects leniently. */
const char *obj_str(json_object *o, const char *key);      /* NULL if absent or null */
bool obj_u64(json_object *o, const char *key, uint64_t *ret);
bool obj_bool(json_object *o, const char *key);

/* run.c */
int run_main(struct ctl *c, int argc, char **argv);

#endif
