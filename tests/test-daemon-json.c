/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's JSON writer (daemon/jsonlite.h) against json-c, which wrote the
 * replies before it: for the same values, the same bytes as
 * json_object_to_json_string_ext(JSON_C_TO_STRING_PLAIN |
 * JSON_C_TO_STRING_NOSLASHESCAPE), strings made valid UTF-8 first.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <json-c/json.h>

#include "jsonlite.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/*
 * A reference for what a string becomes: each maximal well-formed UTF-8
 * sequence (Unicode 15, table 3-7) kept, each other byte replaced by
 * U+FFFD.  Written from the table, independently of utf8_seq().
 */
static size_t wellformed(const unsigned char *s)
{
	static const struct {
		unsigned char lo0, hi0, lo1, hi1;
		int n;
	} t[] = {
		{ 0x00, 0x7f, 0, 0, 1 },
		{ 0xc2, 0xdf, 0x80, 0xbf, 2 },
		{ 0xe0, 0xe0, 0xa0, 0xbf, 3 },
		{ 0xe1, 0xec, 0x80, 0xbf, 3 },
		{ 0xed, 0xed, 0x80, 0x9f, 3 },
		{ 0xee, 0xef, 0x80, 0xbf, 3 },
		{ 0xf0, 0xf0, 0x90, 0xbf, 4 },
		{ 0xf1, 0xf3, 0x80, 0xbf, 4 },
		{ 0xf4, 0xf4, 0x80, 0x8f, 4 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (s[0] < t[i].lo0 || s[0] > t[i].hi0)
			continue;
		if (t[i].n == 1)
			return 1;
		if (s[1] < t[i].lo1 || s[1] > t[i].hi1)
			return 0;
		for (int k = 2; k < t[i].n; k++)
			if (s[k] < 0x80 || s[k] > 0xbf)
				return 0;
		return (size_t)t[i].n;
	}
	return 0;
}

static char *reference_sanitize(const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	char *out = malloc(3 * strlen(src) + 1), *o = out;

	cr_assert_not_null(out);
	while (*s) {
		size_t n = wellformed(s);
		if (n) {
			memcpy(o, s, n);
			o += n;
			s += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			s++;
		}
	}
	*o = 0;
	return out;
}

/* What json-c writes for the string s, sanitized. */
static char *jsonc_string(const char *s)
{
	char *clean = reference_sanitize(s);
	json_object *o = json_object_new_string(clean);
	char *r = strdup(json_object_to_json_string_ext(o, JSON_FLAGS));

	json_object_put(o);
	free(clean);
	return r;
}

/* What the writer writes for s, starting with a buffer of `initial` bytes
 * (0: none, so that it grows from the start). */
static char *jw_string(const char *s, size_t initial)
{
	char stackbuf[64];
	struct jw w;
	char *r;

	cr_assert_leq(initial, sizeof(stackbuf));
	jw_init(&w, initial ? stackbuf : NULL, initial);
	jw_str(&w, s);
	cr_assert_not_null(jw_str0(&w));
	r = strdup(w.buf);
	jw_done(&w);
	return r;
}

static void check_string(const char *s)
{
	char *want = jsonc_string(s);

	for (size_t initial = 0; initial <= 64; initial += 8) {
		char *got = jw_string(s, initial);
		cr_assert_str_eq(got, want, "string of %zu bytes, buffer %zu", strlen(s), initial);
		free(got);
	}
	free(want);
}

Test(daemon_json, every_byte)
{
	char s[4];

	for (int c = 1; c < 256; c++) {
		snprintf(s, sizeof(s), "%c", c);
		check_string(s);
		snprintf(s, sizeof(s), "a%cb", c);
		check_string(s);
	}
}

Test(daemon_json, utf8_edges)
{
	static const char *const cases[] = {
		"", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
		"\xc0\xaf", "\xc1\xbf", "\xc2\x80", "\xdf\xbf", "\xe0\x9f\xbf", "\xe0\xa0\x80",
		"\xed\x9f\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
		"\xf0\x8f\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80",
		"\xf5\x80\x80\x80", "\xff", "\xfe\xff", "\x80", "\xbf\x80", "\xe2\x82", "\xe2",
		"\xf0\x9f\x98", "\xf0\x9f", "a\xe2\x82" "b", "\xc3", "\xc3\xc3\xa9",
		"quote\" backslash\\ slash/ del\x7f tab\t nl\n cr\r ff\f bs\b",
		"\x01\x02\x1e\x1f\x20", "we\x01ird\"\\/\xff\xc3\t\x7f\xe2\x82\xac",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_string(cases[i]);
}

Test(daemon_json, random_strings)
{
	static const unsigned char pick[] = {
		'a', 'Z', '0', ' ', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', 0x01, 0x1f, 0x7f,
		0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xdf, 0xe0, 0xe1, 0xec,
		0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xfe, 0xff,
	};
	unsigned seed = 12345;
	char s[300];

	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(rand_r(&seed) % 40);
		for (size_t i = 0; i < n; i++)
			s[i] = (char)(rand_r(&seed) % 4 ? pick[rand_r(&seed) % sizeof(pick)]
							: 1 + rand_r(&seed) % 255);
		s[n] = 0;
		check_string(s);
	}
	/* long ones, past any initial buffer */
	for (int round = 0; round < 200; round++) {
		size_t n = sizeof(s) - 1;
		for (size_t i = 0; i < n; i++)
			s[i] = (char)(1 + rand_r(&seed) % 255);
		s[n] = 0;
		check_string(s);
	}
}

static char *jsonc_text(json_object *o)
{
	char *r = strdup(json_object_to_json_string_ext(o, JSON_FLAGS));

	json_object_put(o);
	return r;
}

Test(daemon_json, numbers)
{
	static const uint64_t u[] = { 0, 1, 9, 10, 99, 100, 4294967295u, 4294967296u,
				      1795279549816661181u, INT64_MAX, (uint64_t)INT64_MAX + 1,
				      UINT64_MAX - 1, UINT64_MAX };
	static const int64_t i[] = { 0, 1, -1, 9, -9, 10, -10, INT32_MAX, INT32_MIN,
				     INT64_MAX, INT64_MIN, INT64_MIN + 1, -1234567890123 };

	for (size_t k = 0; k < sizeof(u) / sizeof(u[0]); k++) {
		char buf[8], *want = jsonc_text(json_object_new_uint64(u[k]));
		struct jw w;

		jw_init(&w, buf, sizeof(buf));
		jw_u64(&w, u[k]);
		cr_assert_str_eq(jw_str0(&w), want);
		jw_done(&w);
		free(want);
	}
	for (size_t k = 0; k < sizeof(i) / sizeof(i[0]); k++) {
		char buf[8], *want = jsonc_text(json_object_new_int64(i[k]));
		struct jw w;

		jw_init(&w, buf, sizeof(buf));
		jw_i64(&w, i[k]);
		cr_assert_str_eq(jw_str0(&w), want);
		jw_done(&w);
		free(want);
	}
}

/* The shape of a status reply: nested objects, arrays (empty, one, many),
 * null, booleans, a raw value, in json-c and in the writer. */
Test(daemon_json, structure)
{
	for (int members = 0; members < 4; members++) {
		json_object *o = json_object_new_object(), *st = json_object_new_object();
		json_object *arr = json_object_new_array();
		char small[16], *want;
		struct jw w;

		json_object_object_add(o, "id", json_tokener_parse("{\"a\":[1,null,1.50]}"));
		json_object_object_add(o, "ok", json_object_new_boolean(1));
		json_object_object_add(st, "holder", NULL);
		json_object_object_add(st, "expired", json_object_new_boolean(0));
		json_object_object_add(st, "token", json_object_new_uint64(UINT64_MAX));
		for (int m = 0; m < members; m++) {
			json_object *mo = json_object_new_object();
			json_object_object_add(mo, "identity", json_object_new_string("node\n"));
			json_object_object_add(mo, "pid", json_object_new_int(-m));
			json_object_object_add(mo, "tags", json_object_new_array());
			json_object_object_add(mo, "empty", json_object_new_object());
			json_object_array_add(arr, mo);
		}
		json_object_object_add(st, "members", arr);
		json_object_object_add(o, "status", st);
		want = jsonc_text(o);

		jw_init(&w, small, sizeof(small));
		jw_open(&w);
		jw_key(&w, "id");
		jw_raw(&w, "{\"a\":[1,null,1.50]}", strlen("{\"a\":[1,null,1.50]}"));
		jw_key(&w, "ok");
		jw_bool(&w, true);
		jw_key(&w, "status");
		jw_open(&w);
		jw_key(&w, "holder");
		jw_null(&w);
		jw_key(&w, "expired");
		jw_bool(&w, false);
		jw_key(&w, "token");
		jw_u64(&w, UINT64_MAX);
		jw_key(&w, "members");
		jw_open_array(&w);
		for (int m = 0; m < members; m++) {
			jw_open(&w);
			jw_key(&w, "identity");
			jw_str(&w, "node\n");
			jw_key(&w, "pid");
			jw_i64(&w, -m);
			jw_key(&w, "tags");
			jw_open_array(&w);
			jw_close_array(&w);
			jw_key(&w, "empty");
			jw_open(&w);
			jw_close(&w);
			jw_close(&w);
		}
		jw_close_array(&w);
		jw_close(&w);
		jw_close(&w);
		cr_assert_str_eq(jw_str0(&w), want, "%d members", members);
		cr_assert(w.heap, "grew out of the 16-byte buffer");
		jw_done(&w);
		free(want);
	}
}

Test(daemon_json, null_string_is_null)
{
	char buf[32];
	struct jw w;

	jw_init(&w, buf, sizeof(buf));
	jw_open_array(&w);
	jw_str(&w, NULL);
	jw_str(&w, "");
	jw_close_array(&w);
	cr_assert_str_eq(jw_str0(&w), "[null,\"\"]");
	cr_assert(!w.heap);
	jw_done(&w);
}

/* ------------------------------------------------------------------ */
/* the reader                                                          */
/* ------------------------------------------------------------------ */

/* json-c's reading of line, as the daemon does it; NULL if it fails. */
static json_object *jsonc_read(const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(16);
	json_object *o;

	cr_assert_not_null(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, line, (int)len + 1);
	if (o && json_tokener_get_error(tok) == json_tokener_success) {
		for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
			if (line[i] != ' ' && line[i] != '\t') {
				json_object_put(o);
				o = NULL;
				break;
			}
	} else {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* What jr_flat() read is what json-c reads: the same members, types and
 * values, and json-c writes each value as the text jr_flat() points at
 * (the daemon echoes an id that way). */
static void check_same(const char *line, size_t len, const struct jr_member *m, int n)
{
	json_object *o = jsonc_read(line, len);

	cr_assert_not_null(o, "jr_flat read what json-c refuses: %s", line);
	cr_assert(json_object_is_type(o, json_type_object), "%s", line);
	cr_assert_eq(json_object_object_length(o), n, "%s", line);
	for (int i = 0; i < n; i++) {
		char key[256], text[256];
		json_object *v;
		const char *js;

		cr_assert_lt(m[i].key_len, sizeof(key));
		memcpy(key, m[i].key, m[i].key_len);
		key[m[i].key_len] = 0;
		cr_assert(json_object_object_get_ex(o, key, &v), "%s: key %s", line, key);
		if (m[i].type == JR_NULL) {
			cr_assert_null(v, "%s: %s", line, key);
			continue;
		}
		cr_assert_not_null(v, "%s: %s", line, key);
		switch (m[i].type) {
		case JR_STRING:
			cr_assert(json_object_is_type(v, json_type_string), "%s: %s", line, key);
			cr_assert_eq((size_t)json_object_get_string_len(v), m[i].value_len, "%s", line);
			cr_assert(!memcmp(json_object_get_string(v), m[i].value, m[i].value_len), "%s", line);
			break;
		case JR_NUMBER:
			cr_assert(json_object_is_type(v, json_type_int), "%s: %s", line, key);
			break;
		case JR_TRUE:
		case JR_FALSE:
			cr_assert(json_object_is_type(v, json_type_boolean), "%s: %s", line, key);
			cr_assert_eq(json_object_get_boolean(v), m[i].type == JR_TRUE, "%s", line);
			break;
		default:
			cr_assert_fail("type %d", (int)m[i].type);
		}
		js = json_object_to_json_string_ext(v, JSON_FLAGS);
		if (m[i].type == JR_STRING)
			snprintf(text, sizeof(text), "\"%.*s\"", (int)m[i].value_len, m[i].value);
		else
			snprintf(text, sizeof(text), "%.*s", (int)m[i].value_len, m[i].value);
		cr_assert_str_eq(js, text, "%s: %s", line, key);
	}
	json_object_put(o);
}

Test(daemon_json, reader_reads_requests)
{
	static const char *const lines[] = {
		"{\"verb\":\"status\",\"segment\":\"shmelect-bench-1-socket\",\"election\":\"x\"}",
		"{\"id\":1,\"verb\":\"version\"}",
		"{\"id\":\"a/b\",\"verb\":\"watch\",\"segment\":\"s\",\"election\":null}",
		"{\"verb\":\"handover\",\"election\":\"db\",\"to\":\"node-b\",\"force\":true,\"id\":null}",
		"{\"verb\":\"list\"}  \t",
		"{}",
	};
	struct jr_member m[8];

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		int n = jr_flat(lines[i], strlen(lines[i]), m, 8);
		cr_assert_geq(n, 0, "%s", lines[i]);
		check_same(lines[i], strlen(lines[i]), m, n);
	}
}

Test(daemon_json, reader_leaves_the_rest_to_json_c)
{
	static const char *const lines[] = {
		"", "{", "}", "[]", "\"verb\"", "1", "null", " {\"verb\":\"list\"}", "{ \"verb\":\"list\"}",
		"{\"verb\" :\"list\"}", "{\"verb\": \"list\"}", "{\"verb\":\"list\" }", "{\"verb\":\"list\",}",
		"{,}", "{\"verb\":\"list\"\"x\":1}", "{\"verb\":\"li\\\"st\"}", "{\"verb\":\"list\\u0000\"}",
		"{\"verb\":\"caf\xc3\xa9\"}", "{\"verb\":\"tab\tin\"}", "{\"verb\":\"list\",\"verb\":\"list\"}",
		"{\"id\":01}", "{\"id\":00}", "{\"id\":-1}", "{\"id\":1.5}", "{\"id\":1e3}",
		"{\"id\":1234567890123456789}", "{\"id\":tru}", "{\"id\":truex}", "{\"id\":nul}",
		"{\"id\":{}}", "{\"id\":[]}", "{\"verb\":\"list\"}x", "{\"verb\":\"list\"}\n",
		"{\"verb\":\"list\"}\v", "{\"verb\":'list'}", "{verb:\"list\"}", "{\"verb\":\"list\"",
		"{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1}",
	};
	struct jr_member m[8];

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		cr_assert_eq(jr_flat(lines[i], strlen(lines[i]), m, 8), -1, "%s", lines[i]);
	/* with a NUL inside */
	cr_assert_eq(jr_flat("{\"verb\":\"list\"}\0 ", 17, m, 8), -1);
	cr_assert_eq(jr_flat("{\"verb\":\"li\0st\"}", 16, m, 8), -1);
}

/* Lines made of the pieces of requests, right and wrong: wherever the
 * reader reads one, json-c must read the same. */
Test(daemon_json, reader_agrees_with_json_c)
{
	static const char *const keys[] = {
		"\"verb\"", "\"id\"", "\"segment\"", "\"election\"", "\"to\"", "\"force\"", "\"\"",
		"\"x/y\"", "\"k\\\"\"", "\"\xc3\xa9\"", "verb", "\"a b\"",
	};
	static const char *const values[] = {
		"\"status\"", "\"\"", "\"a/b\"", "\" \"", "\"~\"", "\"\\n\"", "\"\\u0041\"", "\"\xc3\xa9\"",
		"\"\xff\"", "\"\x01\"", "\"\x7f\"", "0", "7", "00", "01", "-1", "-0", "1.5", "1e3", "1E3",
		"123456789012345678", "1234567890123456789", "99999999999999999999", "true", "false",
		"null", "tru", "nul", "falsey", "{}", "[]", "[1]", "{\"a\":1}", "\"unterminated", "",
	};
	static const char *const seps[] = { ",", ",", ",", ",", "", " ,", ", ", ",,", ":" };
	static const char *const colons[] = { ":", ":", ":", ":", " :", ": ", "", "::" };
	unsigned seed = 4242;
	int accepted = 0;

	for (int round = 0; round < 100000; round++) {
		char line[1024];
		size_t len = 0;
		int members = rand_r(&seed) % 6;
		struct jr_member m[8];
		int n;

#define ADD(str) do { \
		const char *s_ = (str); \
		size_t l_ = strlen(s_); \
		cr_assert_lt(len + l_, sizeof(line)); \
		memcpy(line + len, s_, l_); \
		len += l_; \
	} while (0)
		if (rand_r(&seed) % 20 == 0)
			ADD(" ");
		ADD(rand_r(&seed) % 30 ? "{" : "[");
		for (int i = 0; i < members; i++) {
			if (i)
				ADD(seps[rand_r(&seed) % 8 ? 0 : rand_r(&seed) % (sizeof(seps) / sizeof(seps[0]))]);
			ADD(keys[rand_r(&seed) % (sizeof(keys) / sizeof(keys[0]))]);
			ADD(colons[rand_r(&seed) % 8 ? 0 : rand_r(&seed) % (sizeof(colons) / sizeof(colons[0]))]);
			ADD(values[rand_r(&seed) % (sizeof(values) / sizeof(values[0]))]);
		}
		ADD(rand_r(&seed) % 30 ? "}" : "]");
		switch (rand_r(&seed) % 12) {
		case 0: ADD(" "); break;
		case 1: ADD("\t "); break;
		case 2: ADD("x"); break;
		case 3: ADD("\n"); break;
		case 4: ADD("}"); break;
		default: break;
		}
#undef ADD
		line[len] = 0;
		n = jr_flat(line, len, m, 8);
		if (n >= 0) {
			accepted++;
			check_same(line, len, m, n);
		}
	}
	cr_assert_gt(accepted, 1000, "the reader read %d lines: too few to tell", accepted);
}
