/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * shmelectd.conf(5): "key = value" lines, '#' or ';' comments, a global
 * part (before any section, or under [daemon]) and one [segment NAME]
 * section per segment.  Unknown keys and malformed values are errors, so
 * that a typo is reported instead of silently ignored.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmelectd.h"

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

/* Characters allowed in a segment name (it is also a POSIX shm name). */
static bool valid_segment_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-@:+", *p))
			return false;
	return true;
}

static int parse_u32(const char *v, int base, uint32_t min, uint32_t max, uint32_t *ret)
{
	unsigned long x;
	char *end;

	if (!*v || *v == '-' || *v == '+')
		return -EINVAL;
	errno = 0;
	x = strtoul(v, &end, base);
	if (errno || *end || x < min || x > max)
		return -EINVAL;
	*ret = (uint32_t)x;
	return 0;
}

static int set_string(char **field, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*field);
	*field = s;
	return 0;
}

const struct seg_conf *config_find_segment(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_segs; i++)
		if (!strcmp(c->segs[i].name, name))
			return &c->segs[i];
	return NULL;
}

int config_add_segment(struct config *c, const char *name)
{
	struct seg_conf *n;

	if (!valid_segment_name(name))
		return -EINVAL;
	if (config_find_segment(c, name))
		return -EEXIST;
	n = realloc(c->segs, (c->n_segs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->segs = n;
	n = &c->segs[c->n_segs];
	memset(n, 0, sizeof(*n));
	n->name = strdup(name);
	if (!n->name)
		return -ENOMEM;
	n->mode = SHMELECTD_DEFAULT_MODE;
	c->n_segs++;
	return 0;
}

static int daemon_key(struct config *c, const char *k, const char *v)
{
	uint32_t x;

	if (!strcmp(k, "socket")) {
		if (v[0] != '/')
			return -EINVAL;
		return set_string(&c->socket_path, v);
	}
	if (!strcmp(k, "state-dir")) {
		if (v[0] != '/')
			return -EINVAL;
		return set_string(&c->state_dir, v);
	}
	if (!strcmp(k, "operator-group"))
		return *v ? set_string(&c->operator_group, v) : -EINVAL;
	if (!strcmp(k, "max-connections")) {
		if (parse_u32(v, 10, 1, 65536, &x) < 0)
			return -EINVAL;
		c->max_connections = x;
		return 0;
	}
	return -ENOKEY;
}

static int segment_key(struct seg_conf *s, const char *k, const char *v)
{
	if (!strcmp(k, "elections"))
		return parse_u32(v, 10, 1, SHMELECT_MAX_ELECTIONS, &s->elections);
	if (!strcmp(k, "candidates"))
		return parse_u32(v, 10, 1, SHMELECT_MAX_CANDIDATES, &s->candidates);
	if (!strcmp(k, "mode"))
		return parse_u32(v, 8, 0, 07777, &s->mode);
	if (!strcmp(k, "group"))
		return *v ? set_string(&s->group, v) : -EINVAL;
	if (!strcmp(k, "path")) {
		if (v[0] != '/' || strlen(v) >= PATH_MAX)
			return -EINVAL;
		return set_string(&s->path, v);
	}
	return -ENOKEY;
}

int config_parse_string(const char *text, const char *origin, struct config *ret)
{
	struct config c = { 0 };
	struct seg_conf *cur = NULL;
	char *copy, *line, *save = NULL;
	unsigned lineno = 0;
	int r = 0;

	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	/* strtok_r would merge empty lines and break the line count */
	for (line = copy; line; line = save) {
		char *nl = strchr(line, '\n'), *s, *eq, *k, *v;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = 0;
		lineno++;
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');
			if (!end || trim(end + 1)[0]) {
				log_error("%s:%u: malformed section header", origin, lineno);
				r = -EINVAL;
				break;
			}
			*end = 0;
			s = trim(s + 1);
			if (!strcmp(s, "daemon")) {
				cur = NULL;
				continue;
			}
			if (strncmp(s, "segment", 7) || !isspace((unsigned char)s[7])) {
				log_error("%s:%u: unknown section [%s]", origin, lineno, s);
				r = -EINVAL;
				break;
			}
			s = trim(s + 7);
			if (s[0] == '"' && strlen(s) >= 2 && s[strlen(s) - 1] == '"') {
				s[strlen(s) - 1] = 0;
				s++;
			}
			r = config_add_segment(&c, s);
			if (r < 0) {
				log_error("%s:%u: %s segment name \"%s\"", origin, lineno,
					  r == -EEXIST ? "duplicate" : "invalid", s);
				r = -EINVAL;
				break;
			}
			cur = &c.segs[c.n_segs - 1];
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			log_error("%s:%u: expected \"key = value\"", origin, lineno);
			r = -EINVAL;
			break;
		}
		*eq = 0;
		k = trim(s);
		v = trim(eq + 1);
		if (v[0] == '"' && strlen(v) >= 2 && v[strlen(v) - 1] == '"') {
			v[strlen(v) - 1] = 0;
			v++;
		}
		r = cur ? segment_key(cur, k, v) : daemon_key(&c, k, v);
		if (r == -ENOKEY) {
			log_error("%s:%u: unknown key \"%s\"%s", origin, lineno, k,
				  cur ? " in a [segment] section" : "");
			r = -EINVAL;
			break;
		}
		if (r < 0) {
			log_error("%s:%u: invalid value for \"%s\": \"%s\"", origin, lineno, k, v);
			r = -EINVAL;
			break;
		}
	}
	free(copy);
	if (r < 0) {
		config_free(&c);
		return r;
	}
	/* two segments must not name the same file */
	for (size_t i = 0; i < c.n_segs; i++)
		for (size_t j = i + 1; j < c.n_segs; j++) {
			const char *a = c.segs[i].path ? c.segs[i].path : c.segs[i].name;
			const char *b = c.segs[j].path ? c.segs[j].path : c.segs[j].name;
			if (!!c.segs[i].path == !!c.segs[j].path && !strcmp(a, b)) {
				log_error("%s: segments \"%s\" and \"%s\" name the same file", origin,
					  c.segs[i].name, c.segs[j].name);
				config_free(&c);
				return -EINVAL;
			}
		}
	*ret = c;
	return 0;
}

int config_parse_file(const char *path, struct config *ret)
{
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = getdelim(&text, &cap, '\0', f);
	if (n < 0 && ferror(f)) {
		r = -errno;
		fclose(f);
		free(text);
		return r;
	}
	fclose(f);
	if (n > 1024 * 1024) {
		log_error("%s: too large", path);
		free(text);
		return -EFBIG;
	}
	r = config_parse_string(n > 0 ? text : "", path, ret);
	free(text);
	return r;
}

void config_free(struct config *c)
{
	for (size_t i = 0; i < c->n_segs; i++) {
		free(c->segs[i].name);
		free(c->segs[i].path);
		free(c->segs[i].group);
	}
	free(c->segs);
	free(c->operator_group);
	free(c->socket_path);
	free(c->state_dir);
	memset(c, 0, sizeof(*c));
}
