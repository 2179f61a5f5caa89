/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Daemon mode: requests to shmelectd over its Unix socket, protocol 1
 * (shmelect(7)): one JSON object per line each way, at most 4096 bytes per
 * request; responses echo the request's "id" and say "ok".
 */
#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

#define RESPONSE_MAX (16u << 20)
#define ANSWER_TIMEOUT_MS 10000

/* One connection per process: a buffered line reader over it. */
static struct {
	char *buf;
	size_t len, cap;
} rd;

int client_connect(struct ctl *c, struct ctl_error *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(c->socket_path) >= sizeof(sa.sun_path)) {
		ctl_error_set(e, ENAMETOOLONG, "socket path '%s' is too long", c->socket_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, c->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ctl_error_set(e, errno, "socket: %m");
		return -errno;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(fd);
		if (err == EACCES || err == EPERM) {
			ctl_error_set(e, err, "permission denied connecting to shmelectd at %s", c->socket_path);
		} else {
			ctl_error_set(e, err,
				      "shmelectd is not running: cannot connect to %s: %s (start it with "
				      "'systemctl start shmelectd', or use --direct)",
				      c->socket_path, strerror(err));
			e->exit_code = CTL_EXIT_NODAEMON;
		}
		return -err;
	}
	c->sock = fd;
	return 0;
}

static int send_request(struct ctl *c, json_object *req, struct ctl_error *e)
{
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t n = strlen(s), off = 0;
	char *line;

	if (n + 1 > CTL_REQUEST_MAX) {
		ctl_error_set(e, EMSGSIZE, "request longer than %d bytes", CTL_REQUEST_MAX);
		return -EMSGSIZE;
	}
	line = malloc(n + 2);
	if (!line)
		return -ENOMEM;
	memcpy(line, s, n);
	line[n++] = '\n';
	while (off < n) {
		ssize_t w = send(c->sock, line + off, n - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int err = errno;
			free(line);
			ctl_error_set(e, err, "sending to shmelectd at %s: %s", c->socket_path, strerror(err));
			return -err;
		}
		off += (size_t)w;
	}
	free(line);
	return 0;
}

/*
 * Read one line into *ret (NUL-terminated, owned by the reader until the
 * next call).  timeout_ms < 0: wait as long as it takes, but return
 * -EINTR once ctl_interrupted is set.  0 at end of stream.
 */
static int read_line(struct ctl *c, int timeout_ms, char **ret, struct ctl_error *e)
{
	int waited = 0;

	for (;;) {
		char *nl = rd.len ? memchr(rd.buf, '\n', rd.len) : NULL;

		if (nl) {
			size_t used = (size_t)(nl - rd.buf) + 1;
			static char *line;

			free(line);
			line = strndup(rd.buf, used - 1);
			memmove(rd.buf, rd.buf + used, rd.len - used);
			rd.len -= used;
			if (!line)
				return -ENOMEM;
			*ret = line;
			return 1;
		}
		if (rd.len == rd.cap) {
			size_t cap = rd.cap ? rd.cap * 2 : 65536;
			char *nb;

			if (cap > RESPONSE_MAX) {
				ctl_error_set(e, EMSGSIZE, "shmelectd sent a line longer than %u bytes",
					      RESPONSE_MAX);
				return -EMSGSIZE;
			}
			nb = realloc(rd.buf, cap);
			if (!nb)
				return -ENOMEM;
			rd.buf = nb;
			rd.cap = cap;
		}

		struct pollfd p = { .fd = c->sock, .events = POLLIN };
		int pr = poll(&p, 1, 100);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (ctl_interrupted)
			return -EINTR;
		if (pr <= 0) {
			waited += 100;
			if (timeout_ms >= 0 && waited >= timeout_ms) {
				ctl_error_set(e, ETIMEDOUT, "shmelectd at %s did not answer within %d ms",
					      c->socket_path, timeout_ms);
				return -ETIMEDOUT;
			}
			continue;
		}
		ssize_t n = recv(c->sock, rd.buf + rd.len, rd.cap - rd.len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			int err = errno;
			ctl_error_set(e, err, "reading from shmelectd: %s", strerror(err));
			return -err;
		}
		if (n == 0)
			return 0;
		rd.len += (size_t)n;
	}
}

static int parse_line(const char *line, json_object **ret, struct ctl_error *e)
{
	json_object *o = json_tokener_parse(line);

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		ctl_error_set(e, EBADMSG, "shmelectd sent something that is not a JSON object: %.80s", line);
		return -EBADMSG;
	}
	*ret = o;
	return 0;
}

/* A response with "ok": false becomes an error, with the daemon's words. */
static int check_ok(json_object *resp, const char *verb, struct ctl_error *e)
{
	const char *name, *msg;
	uint64_t num = 0;
	int err;

	if (obj_bool(resp, "ok"))
		return 0;
	name = obj_str(resp, "error");
	msg = obj_str(resp, "message");
	err = name ? ctl_errno_from_name(name) : 0;
	if (err <= 0 && obj_u64(resp, "errno", &num) && num > 0 && num < 4096)
		err = (int)num;
	if (err <= 0)
		err = EIO;
	if (err == EPERM || err == EACCES)
		ctl_error_set(e, err, "shmelectd refused '%s': %s (operator verbs need root, the daemon's "
			      "user or its operator group)", verb, msg ? msg : strerror(err));
	else
		ctl_error_set(e, err, "%s (from shmelectd)", msg ? msg : strerror(err));
	return -err;
}

int client_call(struct ctl *c, json_object *req, json_object **ret, struct ctl_error *e)
{
	const char *verb = obj_str(req, "verb");
	json_object *resp, *id;
	char *line;
	int r;

	r = send_request(c, req, e);
	if (r < 0)
		return r;
	r = read_line(c, ANSWER_TIMEOUT_MS, &line, e);
	if (r == 0) {
		ctl_error_set(e, ECONNRESET, "shmelectd closed the connection without answering");
		return -ECONNRESET;
	}
	if (r < 0) {
		if (!e->err)
			ctl_error_set(e, -r, "reading from shmelectd: %s", strerror(-r));
		return r;
	}
	r = parse_line(line, &resp, e);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(req, "id", &id)) {
		json_object *rid;
		if (!json_object_object_get_ex(resp, "id", &rid) || !json_object_equal(id, rid)) {
			json_object_put(resp);
			ctl_error_set(e, EBADMSG, "shmelectd answered another request (id mismatch)");
			return -EBADMSG;
		}
	}
	r = check_ok(resp, verb ? verb : "?", e);
	if (r < 0) {
		json_object_put(resp);
		return r;
	}
	*ret = resp;
	return 0;
}

int client_watch(struct ctl *c, json_object *req, ctl_event_fn fn, void *userdata,
		 struct ctl_error *e)
{
	json_object *resp;
	char *line;
	int r;

	r = client_call(c, req, &resp, e);
	if (r < 0)
		return r;
	r = fn(resp, userdata); /* {"ok":true,"watching":...,"seq":0} */
	json_object_put(resp);
	if (r)
		return 0;
	for (;;) {
		json_object *ev;

		r = read_line(c, -1, &line, e);
		if (r == -EINTR)
			return 0;
		if (r == 0) {
			ctl_error_set(e, ECONNRESET, "shmelectd closed the watch");
			return -ECONNRESET;
		}
		if (r < 0) {
			if (!e->err)
				ctl_error_set(e, -r, "reading from shmelectd: %s", strerror(-r));
			return r;
		}
		if (parse_line(line, &ev, e) < 0)
			return -EBADMSG;
		if (json_object_object_get_ex(ev, "ok", NULL)) {
			r = check_ok(ev, "watch", e);
			json_object_put(ev);
			if (r < 0)
				return r;
			continue;
		}
		r = fn(ev, userdata);
		json_object_put(ev);
		if (r)
			return 0;
	}
}
