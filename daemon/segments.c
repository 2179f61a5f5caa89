/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The segments shmelectd owns: create them if missing (or adopt them),
 * apply their file mode and group, start their monitor thread, and keep
 * the token floor.
 *
 * Token floor.  A token is the election's token_base + term, and a new
 * election's token_base is the wall clock at its creation, raised above the
 * segment's token_floor.  Without a floor, tokens of a re-created segment
 * (deleted, or lost in a reboot because /dev/shm is a tmpfs) grow only if
 * the wall clock moved forward.  shmelectd persists the highest token it
 * has seen per segment in <state-dir>/<segment>.token and passes it as
 * token_floor whenever it creates the segment, so re-created segments
 * continue above every token it saw, whatever the clock says.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmelectd.h"

static const char *seg_file(const struct seg_conf *c, char *buf, size_t size)
{
	if (c->path)
		return c->path;
	snprintf(buf, size, "/dev/shm/%s", c->name);
	return buf;
}

static int seg_conf_copy(struct seg_conf *dst, const struct seg_conf *src)
{
	*dst = *src;
	dst->name = strdup(src->name);
	dst->path = src->path ? strdup(src->path) : NULL;
	dst->group = src->group ? strdup(src->group) : NULL;
	if (!dst->name || (src->path && !dst->path) || (src->group && !dst->group)) {
		free(dst->name);
		free(dst->path);
		free(dst->group);
		return -ENOMEM;
	}
	return 0;
}

static uint64_t token_floor_read(const char *file)
{
	unsigned long long v = 0;
	FILE *f = fopen(file, "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

/* Write the floor durably: temporary file, fsync, rename, fsync dir. */
static int token_floor_write(const char *file, uint64_t v)
{
	char tmp[4096], buf[32];
	int fd, r = 0, n;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", file) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", v);
	if (write(fd, buf, (size_t)n) != n || fsync(fd) < 0)
		r = errno ? -errno : -EIO;
	close(fd);
	if (r == 0 && rename(tmp, file) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	char *dir = strdup(file), *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash) {
		*slash = 0;
		fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	free(dir);
	return 0;
}

void segment_note_token(struct segment *s, uint64_t token)
{
	int r;

	if (token <= s->token_highest)
		return;
	s->token_highest = token;
	if (!s->state_file)
		return;
	r = token_floor_write(s->state_file, token);
	if (r < 0) {
		/* say it once per segment, not at every leader change */
		if (s->token_saved != UINT64_MAX)
			log_warning("segment %s: cannot save the token floor to %s: %s", s->conf.name,
				    s->state_file, strerror(-r));
		s->token_saved = UINT64_MAX;
		return;
	}
	s->token_saved = token;
}

/* Mode and group of the segment file, on the file we mapped only. */
static void apply_perms(struct segment *s)
{
	char buf[4096];
	const char *file = seg_file(&s->conf, buf, sizeof(buf));
	struct stat st;
	int fd;

	fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		log_warning("segment %s: cannot open %s to set its mode: %m", s->conf.name, file);
		return;
	}
	if (fstat(fd, &st) < 0 || st.st_dev != s->dev || st.st_ino != s->ino) {
		log_warning("segment %s: %s was replaced meanwhile; not changing it", s->conf.name, file);
		close(fd);
		return;
	}
	if (s->conf.group) {
		struct group gr, *res = NULL;
		char gbuf[4096];
		int r = getgrnam_r(s->conf.group, &gr, gbuf, sizeof(gbuf), &res);

		if (r != 0 || !res)
			log_warning("segment %s: unknown group \"%s\"", s->conf.name, s->conf.group);
		else if (st.st_gid != res->gr_gid && fchown(fd, (uid_t)-1, res->gr_gid) < 0)
			log_warning("segment %s: cannot give %s to group %s: %m", s->conf.name, file,
				    s->conf.group);
	}
	if ((st.st_mode & 07777) != s->conf.mode && fchmod(fd, s->conf.mode) < 0)
		log_warning("segment %s: cannot set mode %04o on %s: %m", s->conf.name, s->conf.mode, file);
	close(fd);
}

static int on_monitor(sd_event_source *src, int fd, uint32_t revents, void *userdata)
{
	struct segment *s = userdata;
	eventfd_t v;

	/* many changes collapse into one scan */
	(void)eventfd_read(fd, &v);
	tracker_scan(s);
	notify_status(s->d);
	return 0;
}

int segment_open(struct daemon *d, const struct seg_conf *conf, struct segment **ret)
{
	struct shmelect_segment_params params = { 0 };
	struct shmelect_segment_info info;
	struct segment *s;
	char buf[4096];
	struct stat st;
	int r, efd;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->d = d;
	r = seg_conf_copy(&s->conf, conf);
	if (r < 0) {
		free(s);
		return r;
	}
	if (d->state_dir && asprintf(&s->state_file, "%s/%s.token", d->state_dir, conf->name) < 0) {
		s->state_file = NULL;
		r = -ENOMEM;
		goto fail;
	}

	params.max_elections = conf->elections;
	params.max_candidates = conf->candidates;
	params.mode = conf->mode;
	params.token_floor = s->state_file ? token_floor_read(s->state_file) : 0;
	s->token_highest = s->token_saved = params.token_floor;

	r = shmelect_segment_open(conf->path ? conf->path : conf->name,
				  SHMELECT_SEGMENT_CREATE | (conf->path ? SHMELECT_SEGMENT_PATH : 0), &params,
				  &s->seg);
	if (r == -ERANGE)
		log_error("segment %s: the token floor %" PRIu64 " in %s leaves no room for new tokens; "
			  "not creating the segment (check that file)", conf->name, params.token_floor,
			  s->state_file);
	if (r < 0) {
		log_error("segment %s: cannot open or create %s: %s", conf->name,
			  seg_file(conf, buf, sizeof(buf)), strerror(-r));
		goto fail;
	}
	/* the file we mapped, to tell later whether the name was re-used */
	if (stat(seg_file(conf, buf, sizeof(buf)), &st) == 0) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	r = shmelect_segment_info(s->seg, &info);
	if (r < 0)
		goto fail;
	s->max_elections = info.max_elections;
	s->max_candidates = info.max_candidates;
	if ((conf->elections && conf->elections != info.max_elections) ||
	    (conf->candidates && conf->candidates != info.max_candidates))
		log_warning("segment %s exists with capacity %u elections x %u candidates, not the "
			    "configured %u x %u; delete it to re-create it",
			    conf->name, info.max_elections, info.max_candidates,
			    conf->elections ? conf->elections : info.max_elections,
			    conf->candidates ? conf->candidates : info.max_candidates);
	apply_perms(s);

	s->scratch = calloc(s->max_candidates, sizeof(*s->scratch));
	if (!s->scratch) {
		r = -ENOMEM;
		goto fail;
	}
	r = monitor_start(s->seg, &s->mon, &efd);
	if (r < 0) {
		log_error("segment %s: cannot start its monitor: %s", conf->name, strerror(-r));
		goto fail;
	}
	r = sd_event_add_io(d->event, &s->mon_src, efd, EPOLLIN, on_monitor, s);
	if (r < 0)
		goto fail;
	log_info("segment %s: %s, %u elections x %u candidates, %u in use", conf->name,
		 seg_file(conf, buf, sizeof(buf)), info.max_elections, info.max_candidates,
		 info.n_elections);
	*ret = s;
	return 0;
fail:
	segment_close(s);
	return r;
}

void segment_apply(struct segment *s, const struct seg_conf *conf)
{
	struct seg_conf n;

	if (seg_conf_copy(&n, conf) < 0)
		return;
	free(s->conf.name);
	free(s->conf.path);
	free(s->conf.group);
	s->conf = n;
	apply_perms(s);
}

int segment_replaced(struct segment *s)
{
	char buf[4096];
	struct stat st;

	if (stat(seg_file(&s->conf, buf, sizeof(buf)), &st) < 0)
		return 1;
	return st.st_dev != s->dev || st.st_ino != s->ino;
}

struct tracked *segment_find_election(struct segment *s, const char *name)
{
	for (size_t i = 0; i < s->n_els; i++)
		if (!strcmp(s->els[i]->name, name))
			return s->els[i];
	return NULL;
}

struct segment *daemon_find_segment(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->n_segs; i++)
		if (!strcmp(d->segs[i]->conf.name, name))
			return d->segs[i];
	return NULL;
}

void segment_close(struct segment *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_els; i++)
		tracker_free(s->els[i]);
	free(s->els);
	sd_event_source_unref(s->mon_src);
	if (s->mon)
		monitor_stop(s->mon); /* the thread closes s->seg */
	else
		shmelect_segment_close(s->seg);
	free(s->scratch);
	free(s->state_file);
	free(s->conf.name);
	free(s->conf.path);
	free(s->conf.group);
	free(s);
}
