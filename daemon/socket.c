/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The Unix socket: the listener (socket-activated or our own), and the
 * connections, with bounded input and output.
 *
 *   - Input: one request per line, at most SHMELECTD_LINE_MAX bytes before
 *     the newline.  A longer line gets an EMSGSIZE error and the
 *     connection is closed (we cannot tell where the next request starts).
 *   - Output: a client that does not read makes its unread output grow.
 *     Responses to its requests pause reading from it while more than
 *     SHMELECTD_OUTPUT_MAX bytes are unread (back-pressure, nothing lost);
 *     a watcher whose next event would not fit gets an "overflow" event
 *     and is disconnected.
 *   - At most max_conns connections; one more is accepted, told EUSERS,
 *     and closed.
 * Nothing a client does blocks the loop: every socket is non-blocking and
 * every buffer is bounded, so every other client is served as before.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "shmelectd.h"

#define ACCEPT_BURST 64
#define LINGER_USEC (30u * 1000000u)   /* a closing client has this long to read its last line */
#define PAUSE_RETRY_USEC (250u * 1000u) /* accept() again after running out of fds */

struct conn {
	struct server *srv;
	int fd;
	sd_event_source *src;
	sd_event_source *linger;
	sd_event_source *kill;
	struct peer peer;
	char in[SHMELECTD_LINE_MAX + 1];
	size_t in_len;
	char *out;
	size_t out_off, out_len, out_cap;
	bool eof;       /* the client shut down its sending side */
	bool closing;   /* no more requests: discard input, close once written */
	bool shut;      /* our sending side is shut down (all written) */
	bool paused;    /* not reading: too much unread output */
	bool dead;      /* free at the next loop iteration */
	struct sub *sub;
	struct conn *prev, *next;
};

struct server {
	struct daemon *d;
	int fd;
	char *path;           /* set if we bound it ourselves (unlinked at exit) */
	dev_t dev;
	ino_t ino;
	sd_event_source *src;
	sd_event_source *resume;
	struct conn *conns;
	unsigned n_conns, max_conns;
};

static void conn_free(struct conn *c);
static void conn_update(struct conn *c);

static void conn_kill(struct conn *c);

static void conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			conn_kill(c); /* EPIPE, ECONNRESET: the client is gone */
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->closing && c->eof) {
			conn_kill(c);
			return;
		}
		if (c->closing && !c->shut) {
			/* all written: the client reads EOF after the last line;
			 * we close when it closes (or at the linger timeout),
			 * so that its pending writes do not fail with EPIPE
			 * before it could read our last line */
			shutdown(c->fd, SHUT_WR);
			c->shut = true;
		}
	} else if (c->out_off > c->out_cap / 2) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	conn_update(c);
}

static int out_append(struct conn *c, const char *line, size_t len)
{
	size_t need = c->out_len + len + 1;

	if (need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *n;
		while (cap < need)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n)
			return -ENOMEM;
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, line, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
	return 0;
}

int conn_send(struct conn *c, const char *line, size_t len, bool is_event)
{
	if (c->closing || c->dead)
		return -EPIPE;
	if (is_event && c->out_len - c->out_off + len + 1 > SHMELECTD_OUTPUT_MAX)
		return -ENOBUFS;
	if (out_append(c, line, len) < 0) {
		conn_kill(c);
		return -ENOMEM;
	}
	conn_flush(c);
	return 0;
}

static int on_linger(sd_event_source *src, uint64_t usec, void *userdata)
{
	conn_kill(userdata);
	return 0;
}

void conn_send_last(struct conn *c, const char *line, size_t len)
{
	uint64_t now;

	if (c->closing || c->dead)
		return;
	if (out_append(c, line, len) < 0) {
		conn_kill(c);
		return;
	}
	c->closing = true;
	/* a client that does not read gets LINGER_USEC to do so */
	if (sd_event_now(c->srv->d->event, CLOCK_MONOTONIC, &now) >= 0)
		sd_event_add_time(c->srv->d->event, &c->linger, CLOCK_MONOTONIC, now + LINGER_USEC, 0,
				  on_linger, c);
	conn_flush(c);
}

const struct peer *conn_peer(const struct conn *c)
{
	return &c->peer;
}

void conn_set_sub(struct conn *c, struct sub *sub)
{
	c->sub = sub;
}

bool conn_closing(const struct conn *c)
{
	return c->closing || c->dead;
}

static void conn_update(struct conn *c)
{
	uint32_t ev = 0;

	if (c->dead)
		return;
	if (!c->eof && (c->closing || !c->paused))
		ev |= EPOLLIN;
	if (c->out_off < c->out_len)
		ev |= EPOLLOUT;
	/* with no events, EPOLLHUP and EPOLLERR are still reported */
	sd_event_source_set_io_events(c->src, ev);
}

static int on_kill(sd_event_source *src, void *userdata)
{
	conn_free(userdata);
	return 0;
}

/* Free the connection at the next iteration, never from inside a call
 * that a caller up the stack may still be using it in. */
static void conn_kill(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	sd_event_source_set_enabled(c->src, SD_EVENT_OFF);
	if (sd_event_add_defer(c->srv->d->event, &c->kill, on_kill, c) < 0)
		c->kill = NULL; /* freed with the server */
}

static void handle_line(struct conn *c, char *line, size_t len)
{
	if (len && line[len - 1] == '\r')
		len--;
	line[len] = 0;
	if (!len || c->sub)
		return; /* blank line; or a watcher, which makes no more requests */
	protocol_handle(c->srv->d, c, line, len);
}

static void send_error_last(struct conn *c, const char *name, int err, const char *msg)
{
	char *line = protocol_error_line(name, err, msg);

	if (line) {
		conn_send_last(c, line, strlen(line));
		free(line);
	} else {
		conn_kill(c);
	}
}

/* Handle the complete lines in the input buffer, as far as allowed. */
static void process_input(struct conn *c)
{
	size_t start = 0;

	while (!c->dead && !c->closing) {
		char *nl;

		if (c->out_len - c->out_off > SHMELECTD_OUTPUT_MAX) {
			c->paused = true;
			break;
		}
		nl = memchr(c->in + start, '\n', c->in_len - start);
		if (!nl)
			break;
		handle_line(c, c->in + start, (size_t)(nl - (c->in + start)));
		start = (size_t)(nl - c->in) + 1;
	}
	if (start) {
		memmove(c->in, c->in + start, c->in_len - start);
		c->in_len -= start;
	}
	if (c->dead || c->closing || c->paused)
		return;
	if (c->in_len == sizeof(c->in)) {
		send_error_last(c, "EMSGSIZE", EMSGSIZE, "request line longer than 4096 bytes");
		return;
	}
	if (c->eof && c->in_len) {
		/* a last request without its newline */
		char line[SHMELECTD_LINE_MAX + 1];
		size_t n = c->in_len;
		memcpy(line, c->in, n);
		c->in_len = 0;
		handle_line(c, line, n);
	}
	if (c->eof && !c->sub && !c->closing && !c->dead) {
		/* nothing more will come: close once the answers are out */
		c->closing = true;
		conn_flush(c);
	}
}

static int on_conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct conn *c = userdata;

	if (revents & EPOLLOUT) {
		conn_flush(c);
		if (c->dead)
			return 0;
		if (c->paused && c->out_len - c->out_off <= SHMELECTD_OUTPUT_MAX / 2) {
			c->paused = false;
			process_input(c);
		}
	}
	if ((revents & EPOLLIN) && !c->dead && !c->eof && c->closing) {
		/* closing: input is read only to be discarded */
		char junk[16384];
		ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			c->eof = true;
			if (c->out_off == c->out_len || n < 0)
				conn_kill(c);
		}
	} else if ((revents & EPOLLIN) && !c->dead && !c->eof) {
		ssize_t n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		if (n == 0) {
			c->eof = true;
		} else if (n < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				conn_kill(c);
				return 0;
			}
		} else {
			c->in_len += (size_t)n;
		}
		process_input(c);
	}
	if (!c->dead && (revents & (EPOLLHUP | EPOLLERR)) && !(revents & EPOLLIN)) {
		/* the client is gone in both directions */
		conn_kill(c);
		return 0;
	}
	if (!c->dead)
		conn_update(c);
	return 0;
}

static void read_peer(struct conn *c)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[64], *g = groups;

	c->peer.uid = (uid_t)-1;
	c->peer.gid = (gid_t)-1;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->peer.pid = cred.pid;
		c->peer.uid = cred.uid;
		c->peer.gid = cred.gid;
	}
	len = sizeof(groups);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		if (errno != ERANGE || len > 65536 * sizeof(gid_t))
			return;
		g = malloc(len);
		if (!g || getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
			free(g);
			return;
		}
	}
	c->peer.n_groups = len / sizeof(gid_t);
	c->peer.groups = malloc(len ? len : 1);
	if (c->peer.groups)
		memcpy(c->peer.groups, g, len);
	else
		c->peer.n_groups = 0;
	if (g != groups)
		free(g);
}

static void refuse(int fd)
{
	char *line = protocol_error_line("EUSERS", EUSERS, "too many connections");

	if (line) {
		char buf[512];
		int n = snprintf(buf, sizeof(buf), "%s\n", line);
		/* a fresh socket's buffer is empty: this short write fits */
		if (n > 0 && (size_t)n < sizeof(buf))
			(void)!send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(line);
	}
	close(fd);
}

static int on_resume(sd_event_source *src, uint64_t usec, void *userdata)
{
	struct server *srv = userdata;

	sd_event_source_set_enabled(srv->src, SD_EVENT_ON);
	return 0;
}

static int on_accept(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct server *srv = userdata;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* out of resources: stop accepting for a moment
				 * instead of spinning on a readable listener */
				uint64_t now;
				log_warning("accept: %m; pausing new connections");
				sd_event_source_set_enabled(srv->src, SD_EVENT_OFF);
				sd_event_now(srv->d->event, CLOCK_MONOTONIC, &now);
				if (!srv->resume)
					sd_event_add_time(srv->d->event, &srv->resume, CLOCK_MONOTONIC,
							  now + PAUSE_RETRY_USEC, 0, on_resume, srv);
				else {
					sd_event_source_set_time(srv->resume, now + PAUSE_RETRY_USEC);
					sd_event_source_set_enabled(srv->resume, SD_EVENT_ONESHOT);
				}
			}
			break;
		}
		if (srv->n_conns >= srv->max_conns) {
			refuse(cfd);
			continue;
		}
		if (server_add_conn(srv, cfd, NULL) < 0)
			close(cfd);
	}
	return 0;
}

int server_add_conn(struct server *srv, int fd, const struct peer *peer)
{
	struct conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->srv = srv;
	c->fd = fd;
	if (!peer) {
		read_peer(c);
	} else {
		c->peer = *peer;
		c->peer.groups = NULL;
		c->peer.n_groups = 0;
		if (peer->n_groups) {
			c->peer.groups = malloc(peer->n_groups * sizeof(gid_t));
			if (!c->peer.groups) {
				free(c);
				return -ENOMEM;
			}
			memcpy(c->peer.groups, peer->groups, peer->n_groups * sizeof(gid_t));
			c->peer.n_groups = peer->n_groups;
		}
	}
	r = sd_event_add_io(srv->d->event, &c->src, fd, EPOLLIN, on_conn_io, c);
	if (r < 0) {
		free(c->peer.groups);
		free(c);
		return r;
	}
	c->next = srv->conns;
	if (c->next)
		c->next->prev = c;
	srv->conns = c;
	srv->n_conns++;
	log_debug("connection from pid %d uid %d", (int)c->peer.pid, (int)c->peer.uid);
	return 0;
}

static void conn_free(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->sub)
		hub_unsubscribe(c->sub);
	sd_event_source_disable_unref(c->src);
	sd_event_source_disable_unref(c->linger);
	sd_event_source_disable_unref(c->kill);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	free(c->out);
	free(c->peer.groups);
	free(c);
}

unsigned server_connections(const struct server *srv)
{
	return srv ? srv->n_conns : 0;
}

static int bind_own(struct server *srv, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	char *dir, *slash;
	mode_t old;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	/* the parent directory, if missing (one level, as RuntimeDirectory=) */
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) == 0)
			chmod(dir, 0755); /* whatever the umask: clients must reach the socket */
		else if (errno != EEXIST)
			log_warning("cannot create %s: %m", dir);
	}
	free(dir);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (lstat(path, &st) == 0) {
		int probe;

		if (!S_ISSOCK(st.st_mode)) {
			close(fd);
			log_error("%s exists and is not a socket", path);
			return -EEXIST;
		}
		/* a stale socket from an earlier run, or a live daemon? */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			close(fd);
			log_error("another daemon is listening on %s", path);
			return -EADDRINUSE;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	old = umask(0);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, 0666) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (stat(path, &st) == 0) {
		srv->dev = st.st_dev;
		srv->ino = st.st_ino;
	}
	srv->path = strdup(path);
	return fd;
}

int server_new(struct daemon *d, const char *path, unsigned max_conns, struct server **ret)
{
	struct server *srv = calloc(1, sizeof(*srv));
	int n, r;

	if (!srv)
		return -ENOMEM;
	srv->d = d;
	srv->max_conns = max_conns;
	srv->fd = -1;

	n = sd_listen_fds(1);
	if (n < 0) {
		log_error("sd_listen_fds: %s", strerror(-n));
		free(srv);
		return n;
	}
	if (n > 0) {
		if (n > 1)
			log_warning("%d sockets passed; using the first", n);
		srv->fd = SD_LISTEN_FDS_START;
		r = sd_is_socket_unix(srv->fd, SOCK_STREAM, 1, NULL, 0);
		if (r <= 0) {
			log_error("the passed socket is not a listening Unix stream socket");
			free(srv);
			return r < 0 ? r : -EINVAL;
		}
		for (int i = 1; i < n; i++)
			close(SD_LISTEN_FDS_START + i);
		fcntl(srv->fd, F_SETFL, fcntl(srv->fd, F_GETFL) | O_NONBLOCK);
		fcntl(srv->fd, F_SETFD, FD_CLOEXEC);
		log_info("listening on the socket passed by systemd");
	} else {
		r = bind_own(srv, path);
		if (r < 0) {
			log_error("cannot listen on %s: %s", path, strerror(-r));
			free(srv);
			return r;
		}
		srv->fd = r;
		log_info("listening on %s", path);
	}
	r = sd_event_add_io(d->event, &srv->src, srv->fd, EPOLLIN, on_accept, srv);
	if (r < 0) {
		server_free(srv);
		return r;
	}
	*ret = srv;
	return 0;
}

struct server *server_free(struct server *srv)
{
	struct stat st;

	if (!srv)
		return NULL;
	while (srv->conns)
		conn_free(srv->conns);
	sd_event_source_disable_unref(srv->src);
	sd_event_source_disable_unref(srv->resume);
	if (srv->fd >= 0)
		close(srv->fd);
	/* remove our socket file, unless a successor replaced it */
	if (srv->path && stat(srv->path, &st) == 0 && st.st_dev == srv->dev && st.st_ino == srv->ino)
		unlink(srv->path);
	free(srv->path);
	free(srv);
	return NULL;
}
