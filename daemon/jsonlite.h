/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * JSON the quick way, for the socket's hot path; json-c stays the
 * reference.  Header-only: it is small, inlines into its users (protocol.c,
 * watch.c), and its unit test (tests/test-daemon-json.c) includes it alone
 * and compares it with json-c.
 *
 * The writer (struct jw): the daemon's replies and events, written
 * straight into a buffer instead of built as json-c object trees and
 * serialised (which, with a snprintf per number, cost more than the rest
 * of a request).  The output is what json-c writes with
 * JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, byte for byte:
 * no blanks; in strings '"' and '\\' escaped, \b \f \n \r \t as such,
 * other control characters as \u00xx (lower-case hex), everything else
 * (also '/' and DEL) as is.  Strings are made valid UTF-8 on the way, as
 * utf8_sanitize() does: an invalid byte becomes U+FFFD (json-c would pass
 * it through).  A struct jw writes into the caller's buffer (often on its
 * stack), and moves to a growing malloc'd one when that is too small.
 * After a failed allocation oom is set and nothing more is written.
 * Commas are placed by the writer: a key, a value or an opening bracket
 * gets one if a value came before it at the same level.  Keys must be
 * string literals (jw_key() makes sure), written as they are.
 *
 * The reader (jr_flat()): only the simplest requests, a flat object of
 * plain strings, small integers, true, false and null, such as
 * {"verb":"status","segment":"s","election":"e"}.  Everything else, valid
 * JSON or not, is left to json-c, which reads it as before.  What the
 * reader accepts, json-c reads to the same members and values (the unit
 * test checks it on generated lines).
 */
#ifndef SHMELECTD_JSONLITE_H
#define SHMELECTD_JSONLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct jw {
	char *buf;
	size_t len, cap;
	bool heap;     /* buf is ours (malloc'd) */
	bool oom;
	bool comma;    /* a value came before: a ',' goes before the next */
};

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static inline size_t utf8_seq(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f))
			return 0; /* overlong, or a surrogate */
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

static inline void jw_init(struct jw *w, char *buf, size_t size)
{
	w->buf = buf;
	w->cap = size;
	w->len = 0;
	w->heap = false;
	w->oom = false;
	w->comma = false;
}

static inline void jw_done(struct jw *w)
{
	if (w->heap)
		free(w->buf);
	w->buf = NULL;
	w->cap = w->len = 0;
	w->heap = false;
}

/* Move to a bigger buffer, for n more bytes and a NUL. */
static bool jw_grow(struct jw *w, size_t n)
{
	size_t cap;
	char *b;

	if (w->oom)
		return false;
	cap = w->cap ? w->cap : 256;
	while (cap < w->len + n + 1)
		cap *= 2;
	b = w->heap ? realloc(w->buf, cap) : malloc(cap);
	if (!b) {
		w->oom = true;
		return false;
	}
	if (!w->heap && w->len)
		memcpy(b, w->buf, w->len);
	w->buf = b;
	w->cap = cap;
	w->heap = true;
	return true;
}

/* Room for n more bytes and a NUL; false (and w->oom) if there is none. */
static inline bool jw_reserve(struct jw *w, size_t n)
{
	return (w->len + n + 1 <= w->cap && !w->oom) || jw_grow(w, n);
}

static inline void jw_put(struct jw *w, const char *s, size_t n)
{
	if (!jw_reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static inline void jw_sep(struct jw *w)
{
	if (w->comma)
		jw_put(w, ",", 1);
}

/* The text so far, NUL-terminated; NULL after a failed allocation. */
static inline const char *jw_str0(struct jw *w)
{
	if (w->oom || !jw_reserve(w, 0))
		return NULL;
	w->buf[w->len] = 0;
	return w->buf;
}

static inline void jw_open(struct jw *w)
{
	jw_sep(w);
	jw_put(w, "{", 1);
	w->comma = false;
}

static inline void jw_close(struct jw *w)
{
	jw_put(w, "}", 1);
	w->comma = true;
}

static inline void jw_open_array(struct jw *w)
{
	jw_sep(w);
	jw_put(w, "[", 1);
	w->comma = false;
}

static inline void jw_close_array(struct jw *w)
{
	jw_put(w, "]", 1);
	w->comma = true;
}

/* "key": for a string literal key (the macro makes sure it is one) */
#define jw_key(w, key) jw_key_text((w), "\"" key "\":", sizeof("\"" key "\":") - 1)

static inline void jw_key_text(struct jw *w, const char *text, size_t n)
{
	jw_sep(w);
	jw_put(w, text, n);
	w->comma = false;
}

static inline void jw_raw(struct jw *w, const char *json, size_t len)
{
	jw_sep(w);
	jw_put(w, json, len);
	w->comma = true;
}

static inline void jw_null(struct jw *w)
{
	jw_raw(w, "null", 4);
}

static inline void jw_bool(struct jw *w, bool v)
{
	if (v)
		jw_raw(w, "true", 4);
	else
		jw_raw(w, "false", 5);
}

/* The decimal digits of v, at the end of d[20]; returns where they start. */
static inline size_t jw_digits(char d[20], uint64_t v)
{
	static const char pairs[] =
		"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
		"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
		"8081828384858687888990919293949596979899";
	size_t i = 20;

	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		d[--i] = pairs[2 * r + 1];
		d[--i] = pairs[2 * r];
	}
	if (v >= 10) {
		d[--i] = pairs[2 * v + 1];
		d[--i] = pairs[2 * v];
	} else {
		d[--i] = (char)('0' + v);
	}
	return i;
}

static inline void jw_u64(struct jw *w, uint64_t v)
{
	char d[20];
	size_t i = jw_digits(d, v);

	jw_raw(w, d + i, sizeof(d) - i);
}

static inline void jw_i64(struct jw *w, int64_t v)
{
	char d[21];
	size_t i;

	if (v >= 0) {
		jw_u64(w, (uint64_t)v);
		return;
	}
	i = jw_digits(d + 1, -(uint64_t)v) + 1;
	d[--i] = '-';
	jw_raw(w, d + i, sizeof(d) - i);
}

static inline void jw_str(struct jw *w, const char *str)
{
	/* What a byte below 0x80 becomes in a JSON string: 0 itself, else the
	 * second character of a two-character escape, or 'u' for \u00xx. */
	static const char jw_esc[128] = {
		['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r',
		[0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u', [0x05] = 'u', [0x06] = 'u',
		[0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u', [0x10] = 'u', [0x11] = 'u',
		[0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u',
		[0x18] = 'u', [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u',
		[0x1e] = 'u', [0x1f] = 'u',
		['"'] = '"', ['\\'] = '\\',
	};
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str, *run;

	if (!str) {
		jw_null(w);
		return;
	}
	jw_sep(w);
	jw_put(w, "\"", 1);
	for (run = s;;) {
		unsigned char c = *s;
		size_t n;

		if (c && c < 0x80 && !jw_esc[c]) {
			s++;
			continue;
		}
		if (c >= 0x80 && (n = utf8_seq(s)) != 0) {
			s += n;
			continue;
		}
		/* the end, or a byte to escape or replace: flush the run */
		jw_put(w, (const char *)run, (size_t)(s - run));
		if (!c)
			break;
		if (c >= 0x80) {
			jw_put(w, "\xef\xbf\xbd", 3); /* U+FFFD */
		} else if (jw_esc[c] == 'u') {
			char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf] };
			jw_put(w, u, sizeof(u));
		} else {
			char e[2] = { '\\', jw_esc[c] };
			jw_put(w, e, sizeof(e));
		}
		run = ++s;
	}
	jw_put(w, "\"", 1);
	w->comma = true;
}

/* "key":value members, the key a string literal. */
#define jw_kv_u64(w, key, v)  do { jw_key(w, key); jw_u64((w), (v)); } while (0)
#define jw_kv_i64(w, key, v)  do { jw_key(w, key); jw_i64((w), (v)); } while (0)
#define jw_kv_bool(w, key, v) do { jw_key(w, key); jw_bool((w), (v)); } while (0)
#define jw_kv_str(w, key, v)  do { jw_key(w, key); jw_str((w), (v)); } while (0)

/* ------------------------------------------------------------------ */
/* reading                                                             */
/* ------------------------------------------------------------------ */

enum jr_type { JR_STRING, JR_NUMBER, JR_TRUE, JR_FALSE, JR_NULL };

struct jr_member {
	const char *key;      /* in the line, not NUL-terminated */
	size_t key_len;
	const char *value;    /* the value's text in the line: a string's
			       * without its quotes (value[-1] and
			       * value[value_len] are the quotes) */
	size_t value_len;
	enum jr_type type;
};

/* A plain string: at s (after the opening quote), up to its closing
 * quote, every byte printable ASCII other than '"' and '\\' (so that it
 * needs no unescaping, is valid UTF-8 and has no NUL).  Its length, or
 * -1 if the string is not plain. */
static inline ptrdiff_t jr_plain_string(const char *s, const char *end)
{
	const char *p = s;

	while (p < end && *p != '"') {
		if (*p < 0x20 || *p > 0x7e || *p == '\\')
			return -1;
		p++;
	}
	return p < end ? p - s : -1;
}

/*
 * Read the line (len bytes; blanks after the object allowed) as a flat
 * object of at most max members, each key a plain string and each value a
 * plain string, an integer of 1 to 18 digits without a sign or a leading
 * zero, true, false or null; no blanks inside, no key twice.  Returns the
 * number of members, in m[], or -1 for anything else.
 */
static inline int jr_flat(const char *line, size_t len, struct jr_member *m, int max)
{
	const char *p = line, *end = line + len;
	int n = 0;

	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (end - p < 2 || *p++ != '{' || end[-1] != '}')
		return -1;
	end--; /* at the closing brace */
	if (p == end)
		return 0;
	for (;;) {
		ptrdiff_t k;

		if (n == max || p >= end || *p++ != '"')
			return -1;
		k = jr_plain_string(p, end);
		if (k < 0)
			return -1;
		m[n].key = p;
		m[n].key_len = (size_t)k;
		p += k + 1;
		if (p >= end || *p++ != ':' || p >= end)
			return -1;
		if (*p == '"') {
			k = jr_plain_string(++p, end);
			if (k < 0)
				return -1;
			m[n].type = JR_STRING;
			m[n].value = p;
			m[n].value_len = (size_t)k;
			p += k + 1;
		} else if (*p >= '0' && *p <= '9') {
			const char *d = p;

			while (p < end && *p >= '0' && *p <= '9')
				p++;
			if ((*d == '0' && p - d > 1) || p - d > 18)
				return -1;
			m[n].type = JR_NUMBER;
			m[n].value = d;
			m[n].value_len = (size_t)(p - d);
		} else if (end - p >= 4 && !memcmp(p, "true", 4)) {
			m[n].type = JR_TRUE;
			m[n].value = p;
			m[n].value_len = 4;
			p += 4;
		} else if (end - p >= 5 && !memcmp(p, "false", 5)) {
			m[n].type = JR_FALSE;
			m[n].value = p;
			m[n].value_len = 5;
			p += 5;
		} else if (end - p >= 4 && !memcmp(p, "null", 4)) {
			m[n].type = JR_NULL;
			m[n].value = p;
			m[n].value_len = 4;
			p += 4;
		} else {
			return -1;
		}
		for (int i = 0; i < n; i++)
			if (m[i].key_len == m[n].key_len && !memcmp(m[i].key, m[n].key, m[n].key_len))
				return -1;
		n++;
		if (p == end)
			return n;
		if (*p++ != ',')
			return -1;
	}
}

#endif
