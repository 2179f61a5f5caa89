/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target: the daemon's request parser and verbs (daemon/protocol.c,
 * with jsonlite.h's reader of flat requests and its writer, and json-c for
 * every other line), behind its real line framing (daemon/socket.c), as a
 * client connected to shmelectd would drive them.  The oracle below reads
 * each line with json-c by the documented rules, so whatever the fast
 * reader accepts is checked against json-c too.
 *
 * Input (no header file: nothing else writes it):
 *
 *   byte 0      flags: bits 0-2 the peer (enum peer_kind), bits 3-4 the
 *               state the elections are in (enum start_state), bit 5 "no
 *               operator-group configured", bit 6 "small socket buffers"
 *               (4 KiB each way: input arrives in pieces, output waits),
 *               bit 7 "a watcher that does not read" (while the harness
 *               makes 64 rounds of changes, or until the daemon drops it)
 *   byte 1...   the bytes the client sends; it then shuts down its
 *               sending side, as `printf ... | socat` does
 *
 * The daemon is the real one, minus main.c and config.c: an sd-event loop,
 * two segments opened by segment_open() (segments.c, with their monitor
 * threads), the tracker, the reaper, the watch hub, metrics, and a server
 * (socket.c) bound to a socket in a temporary directory that nobody
 * connects to.  Each input is served on a fresh connection: one end of a
 * socketpair handed to server_add_conn() with the peer credentials the
 * flags choose (what on_accept() does with SO_PEERCRED), the other end is
 * the client.  The loop runs until nothing is left to do; a watcher is
 * then sent events (the harness changes the elections, up to 64 times
 * while a slow watcher does not read, until the daemon drops it), and the
 * client closes.  The target is built with SHMELECTD_OUTPUT_MAX at 16 KiB
 * (local.mk), so that back-pressure and overflows take a few requests.
 *
 * The fixture, created once per process by the public library, in files
 * that are unlinked as soon as everything has them open (so that nothing is
 * left behind, however the process ends):
 *
 *   segment "shmelect" (the default), 8 elections x 4 candidates
 *     "db"     node-a leads (advert, lock delay 1 s), node-b follows
 *     "idle"   node-c, never led
 *     "empty"  no members
 *     ODD_NAME (quotes, backslash, newline, tab, non-ASCII), led by
 *              ODD_ID (invalid UTF-8, quotes, newline) with a 255-byte
 *              advert of invalid UTF-8
 *   segment "other", 4 elections x 2 candidates
 *     "db"     node-x leads
 *     "full"   node-y and node-z (the election is full), never led
 *
 * Every member is this process, so the reaper watches a live pid.  Leaders
 * renew before each input; an input that changed the segments (operator
 * verbs do) is undone afterwards through the library (withdraw requests,
 * hand the lease back by force, evict strangers), so that every input
 * starts from the same state.  The monitor threads' event sources are
 * disabled: the harness runs the tracker itself at fixed points instead,
 * so that an input's path does not depend on thread timing.
 *
 * The contract checked on every input (PROTOCOL in shmelectd(8)); any
 * violation aborts:
 *
 *   - each request line (at most 4096 bytes, a CR before the newline
 *     dropped, blank lines ignored, a last line without a newline served)
 *     gets exactly one response line, in order; a longer line gets an
 *     EMSGSIZE error and the connection is closed; after a successful
 *     watch only events follow;
 *   - every line is a JSON object with "ok" (boolean); an error has
 *     "error" (one of the errors the man page lists for this situation),
 *     "errno" (that error's number) and "message"; a success has the
 *     verb's fields, and the segment and election asked about;
 *   - the outcome is the one the man page gives for the request: the
 *     harness parses each line by the documented rules (valid UTF-8 JSON,
 *     nested at most 16 deep, only blanks after it) and works out the
 *     errors that apply (bad JSON, not an object, missing or mistyped
 *     fields, unknown verb, an operator verb from a non-operator, no such
 *     segment, election or member); a success when an error applies, an
 *     error that does not apply, or an error when none applies, fails;
 *   - "id" is echoed, equal to the request's, whenever the request is an
 *     object with an id, and absent otherwise;
 *   - metrics are well-formed Prometheus text (escaped label values);
 *   - events are numbered from 1 without gaps, for the watched segment
 *     and election; a watcher that the daemon disconnects (one that does
 *     not read) gets an overflow event last;
 *   - a client that is not an operator changes nothing in the segments;
 *   - the connection is closed by the daemon once the client has shut
 *     down its side and read the answers (a watcher: once it closes), and
 *     the loop settles (no busy loop);
 *   - no crash, sanitizer report or leak (libFuzzer's leak check).
 *
 * Built two ways: with clang -fsanitize=fuzzer (tests/fuzz/build.sh) as a
 * libFuzzer target, and with the ordinary compiler into test-corpus-request,
 * which replays the corpus and the crashers in every `make check` (also
 * under ASan+UBSan in scripts/test.sh's sanitizer pass).
 *
 * Environment: FUZZ_REQUEST_LOG=1 lets the daemon log (to stderr; quiet by
 * default), FUZZ_REQUEST_DUMP=1 prints each exchange.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "shmelectd.h"
#include "fuzz-assert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MS UINT64_C(1000000)
#define LEASE_NS (600000 * MS)

/* ------------------------------------------------------------------ */
/* Input flags                                                         */
/* ------------------------------------------------------------------ */

enum peer_kind {
	PEER_ROOT,        /* uid 0 */
	PEER_DAEMON,      /* the daemon's own uid */
	PEER_GROUP,       /* primary group: the operator group */
	PEER_SUPPL,       /* supplementary group: the operator group */
	PEER_NOBODY,      /* no groups at all */
	PEER_OTHER,       /* other groups only */
	PEER_MANY,        /* many groups, the operator group not among them */
	PEER_UNKNOWN,     /* credentials unknown (uid/gid -1, as read_peer leaves them) */
};

enum start_state {
	START_CANONICAL,  /* as described above */
	START_EVICTED,    /* "db" vacant and locked (node-a's lock delay) */
	START_HANDED,     /* "db" transferred to node-b (not adopted yet) */
	START_PENDING,    /* requests pending: resign in "db", node-c in "idle";
			   * "idle" held by node-c by force */
};

#define FLAG_NO_OPERATOR_GROUP (1u << 5)
#define FLAG_SMALL_BUFFERS     (1u << 6)
#define FLAG_SLOW_WATCHER      (1u << 7)

#define DAEMON_UID   4201u
#define OPERATOR_GID 4242u
#define OTHER_ID     4300u

/* ------------------------------------------------------------------ */
/* The fixture                                                         */
/* ------------------------------------------------------------------ */

#define ODD_NAME "odd \"q\" \\ \n\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 /"
#define ODD_ID   "odd\xff\xc3\x28\"id\"\\\n\x01\xed\xa0\x80"

struct fx_member {
	const char *identity;
	struct shmelect_candidate *c;
};

struct fx_election {
	int seg;                     /* index in fx.segs */
	const char *name;
	int leader;                  /* index in members, -1: nobody leads */
	size_t n_members;
	struct fx_member members[2];
	struct shmelect_election *e; /* the harness's own handle */
};

struct fx_segment {
	const char *name;
	uint32_t elections, candidates;
	struct shmelect_segment *seg; /* the harness's own handle */
	struct segment *ds;           /* the daemon's */
	uint64_t baseline;            /* change word in the canonical state */
};

static struct fx_segment fx_segs[] = {
	{ SHMELECT_DEFAULT_SEGMENT, 8, 4 },
	{ "other", 4, 2 },
};
#define N_SEGS (sizeof(fx_segs) / sizeof(fx_segs[0]))

static struct fx_election fx_els[] = {
	{ 0, "db", 0, 2, { { "node-a" }, { "node-b" } } },
	{ 0, "idle", -1, 1, { { "node-c" } } },
	{ 0, "empty", -1, 0, { { NULL } } },
	{ 0, ODD_NAME, 0, 1, { { ODD_ID } } },
	{ 1, "db", 0, 1, { { "node-x" } } },
	{ 1, "full", -1, 2, { { "node-y" }, { "node-z" } } },
};
#define N_ELS (sizeof(fx_els) / sizeof(fx_els[0]))

static struct daemon d;
static bool ready;
static bool dump;

static uint64_t change_word(struct shmelect_segment *seg)
{
	uint64_t seq = 0;

	FZ_ASSERT(shmelect_segment_wait(seg, &seq, 0) == 1, "segment_wait");
	return seq;
}

static void scan_all(void)
{
	for (size_t i = 0; i < d.n_segs; i++)
		tracker_scan(d.segs[i]);
}

static void take_baseline(void)
{
	scan_all();
	for (size_t i = 0; i < N_SEGS; i++)
		fx_segs[i].baseline = change_word(fx_segs[i].seg);
}

static bool changed(void)
{
	for (size_t i = 0; i < N_SEGS; i++)
		if (change_word(fx_segs[i].seg) != fx_segs[i].baseline)
			return true;
	return false;
}

/* Leases must not run out during a long session: 1 if all were renewed
 * (renewals do not move the change word), 0 if one was lost. */
static bool renew_leaders(void)
{
	bool ok = true;

	for (size_t i = 0; i < N_ELS; i++)
		if (fx_els[i].leader >= 0 && shmelect_candidate_renew(fx_els[i].members[fx_els[i].leader].c) != 1)
			ok = false;
	return ok;
}

/* Back to the canonical state, through the library. */
static void reset(void)
{
	for (size_t i = 0; i < N_ELS; i++) {
		struct fx_election *x = &fx_els[i];
		struct shmelect_record rec;
		uint64_t token;
		int r;

		FZ_ASSERT(shmelect_election_handover(x->e, NULL, 0) == 0, "withdraw in %s", x->name);
		if (x->leader >= 0) {
			struct fx_member *m = &x->members[x->leader];

			if (shmelect_candidate_renew(m->c) == 1)
				continue;
			r = shmelect_election_handover(x->e, m->identity, SHMELECT_HANDOVER_FORCE);
			FZ_ASSERT(r >= 0, "handover back to %s: %d", m->identity, r);
			r = shmelect_candidate_try_acquire(m->c, &token);
			FZ_ASSERT(r == 1, "%s adopts: %d", m->identity, r);
		} else {
			r = shmelect_election_observe(x->e, &rec, NULL, 0);
			FZ_ASSERT(r >= 0, "observe %s: %d", x->name, r);
			if (rec.has_holder)
				FZ_ASSERT(shmelect_election_evict(x->e) == 1, "evict %s", x->name);
		}
	}
	take_baseline();
}

static void set_state(enum start_state st)
{
	struct fx_election *db = &fx_els[0], *idle = &fx_els[1];

	switch (st) {
	case START_CANONICAL:
		return;
	case START_EVICTED:
		FZ_ASSERT(shmelect_election_evict(db->e) == 1, "evict db");
		break;
	case START_HANDED:
		FZ_ASSERT(shmelect_election_handover(db->e, "node-b", SHMELECT_HANDOVER_FORCE) == 1,
			  "handover db to node-b");
		break;
	case START_PENDING:
		FZ_ASSERT(shmelect_election_handover(db->e, NULL, SHMELECT_HANDOVER_ANY) == 0, "resign request");
		FZ_ASSERT(shmelect_election_handover(idle->e, "node-c", SHMELECT_HANDOVER_FORCE) == 1,
			  "handover idle to node-c");
		FZ_ASSERT(shmelect_election_handover(idle->e, "node-c", 0) == 0, "handover request");
		break;
	}
	scan_all();
}

/* main.c's, which is not linked (it has main()).  Every member of the
 * fixture is this process: the reaper must never find one dead. */
void daemon_proc_died(struct daemon *dd, struct proc *p)
{
	(void)dd;
	FZ_ASSERT(0, "the reaper says that process %d died, and it is us", (int)proc_pid(p));
}

static char fx_dir[] = "/tmp/fuzz-request.XXXXXX";
static char fx_paths[N_SEGS + 1][sizeof(fx_dir) + 32];

static void fx_init(void)
{
	char advert[SHMELECT_ADVERT_MAX + 1];
	struct shmelect_segment_params params = { 0 };
	int r;

	dump = getenv("FUZZ_REQUEST_DUMP") != NULL;
	log_set_max_level(getenv("FUZZ_REQUEST_LOG") ? 7 : 2);
	/* nothing of the environment we run in may reach the daemon */
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("WATCHDOG_USEC");
	signal(SIGPIPE, SIG_IGN);

	FZ_ASSERT(mkdtemp(fx_dir), "mkdtemp: %m");
	d.uid = DAEMON_UID;
	FZ_ASSERT(sd_event_new(&d.event) >= 0, "sd_event_new");
	FZ_ASSERT(hub_new(&d.hub) == 0, "hub_new");
	FZ_ASSERT(reaper_new(&d, &d.reaper) == 0, "reaper_new");
	FZ_ASSERT(read_self_pidns(&d.pidns) == 0, "read_self_pidns");
	d.segs = calloc(N_SEGS, sizeof(*d.segs));
	FZ_ASSERT(d.segs, "calloc");

	for (size_t i = 0; i < N_SEGS; i++) {
		struct fx_segment *s = &fx_segs[i];
		struct seg_conf conf = {
			.name = (char *)s->name,
			.path = fx_paths[i],
			.elections = s->elections,
			.candidates = s->candidates,
			.mode = 0600,
		};

		snprintf(fx_paths[i], sizeof(fx_paths[i]), "%s/%s", fx_dir, s->name);
		r = segment_open(&d, &conf, &s->ds);
		FZ_ASSERT(r == 0, "segment_open(%s): %d", s->name, r);
		/* see above: the harness scans at fixed points instead */
		sd_event_source_set_enabled(s->ds->mon_src, SD_EVENT_OFF);
		d.segs[d.n_segs++] = s->ds;
		r = shmelect_segment_open(fx_paths[i], SHMELECT_SEGMENT_PATH, &params, &s->seg);
		FZ_ASSERT(r == 0, "shmelect_segment_open(%s): %d", fx_paths[i], r);
	}
	snprintf(fx_paths[N_SEGS], sizeof(fx_paths[N_SEGS]), "%s/sock", fx_dir);
	r = server_new(&d, fx_paths[N_SEGS], 16, &d.server);
	FZ_ASSERT(r == 0, "server_new: %d", r);

	memset(advert, 0xff, SHMELECT_ADVERT_MAX);
	advert[SHMELECT_ADVERT_MAX] = 0;
	for (size_t i = 0; i < N_ELS; i++) {
		struct fx_election *x = &fx_els[i];
		uint64_t token;

		r = shmelect_election_open(fx_segs[x->seg].seg, x->name, SHMELECT_ELECTION_CREATE, &x->e);
		FZ_ASSERT(r == 0, "election_open(%s): %d", x->name, r);
		for (size_t j = 0; j < x->n_members; j++) {
			r = shmelect_candidate_join(x->e, x->members[j].identity, LEASE_NS, 0, &x->members[j].c);
			FZ_ASSERT(r == 0, "join %s: %d", x->members[j].identity, r);
			FZ_ASSERT(shmelect_candidate_set_priority(x->members[j].c, (int32_t)(10 - j)) == 0, "priority");
		}
		if (x->leader < 0)
			continue;
		r = shmelect_candidate_try_acquire(x->members[x->leader].c, &token);
		FZ_ASSERT(r == 1, "%s leads %s: %d", x->members[x->leader].identity, x->name, r);
		r = shmelect_candidate_set_advert(x->members[x->leader].c, i == 3 ? advert : "10.0.0.1:5432");
		FZ_ASSERT(r == 0, "set_advert: %d", r);
	}
	FZ_ASSERT(shmelect_candidate_set_lock_delay(fx_els[0].members[0].c, 1000 * MS) == 0, "lock delay");

	/* everything is open: leave nothing behind */
	for (size_t i = 0; i <= N_SEGS; i++)
		unlink(fx_paths[i]);
	rmdir(fx_dir);

	take_baseline();
	ready = true;
}

/* ------------------------------------------------------------------ */
/* The client                                                          */
/* ------------------------------------------------------------------ */

static char *out;
static size_t out_len, out_cap;

/* Read what is there; returns the number of bytes read, -1 at EOF. */
static ssize_t drain(int fd)
{
	ssize_t got = 0;

	for (;;) {
		ssize_t n;

		if (out_cap - out_len < 65536) {
			out_cap = out_cap ? out_cap * 2 : 1 << 20;
			out = realloc(out, out_cap);
			FZ_ASSERT(out, "realloc");
		}
		n = recv(fd, out + out_len, out_cap - out_len, MSG_DONTWAIT);
		if (n > 0) {
			out_len += (size_t)n;
			got += n;
			continue;
		}
		if (n == 0)
			return got ? got : -1;
		FZ_ASSERT(errno == EAGAIN || errno == EINTR, "recv: %m");
		return got;
	}
}

/* Run the loop (and read the client's side, unless client is -1) until
 * nothing moves. */
static void settle(int client, const uint8_t *data, size_t size, size_t *off)
{
	for (long iter = 0;; iter++) {
		ssize_t got = 0;
		int r;

		FZ_ASSERT(iter < 1000000, "the event loop does not settle");
		if (off && *off < size) {
			ssize_t n = send(client, data + *off, size - *off, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				*off += (size_t)n;
			else
				FZ_ASSERT(errno == EAGAIN || errno == EINTR, "send: %m");
			if (*off == size)
				FZ_ASSERT(shutdown(client, SHUT_WR) == 0, "shutdown: %m");
		}
		if (client >= 0)
			got = drain(client);
		r = sd_event_run(d.event, 0);
		FZ_ASSERT(r >= 0, "sd_event_run: %d", r);
		if (r == 0 && got <= 0 && (!off || *off == size))
			return;
	}
}

/* ------------------------------------------------------------------ */
/* The oracle: what PROTOCOL in shmelectd(8) says                     */
/* ------------------------------------------------------------------ */

enum {
	A_OK = 1 << 0,
	A_EBADMSG = 1 << 1,
	A_EINVAL = 1 << 2,
	A_EOPNOTSUPP = 1 << 3,
	A_EPERM = 1 << 4,
	A_ENOENT = 1 << 5,
	A_ESRCH = 1 << 6,
	A_EMSGSIZE = 1 << 7,
};

static const struct {
	const char *name;
	int err;
	unsigned bit;
} errors[] = {
	{ "EBADMSG", EBADMSG, A_EBADMSG },
	{ "EINVAL", EINVAL, A_EINVAL },
	{ "EOPNOTSUPP", EOPNOTSUPP, A_EOPNOTSUPP },
	{ "EPERM", EPERM, A_EPERM },
	{ "ENOENT", ENOENT, A_ENOENT },
	{ "ESRCH", ESRCH, A_ESRCH },
	{ "EMSGSIZE", EMSGSIZE, A_EMSGSIZE },
};

static const char *const read_verbs[] = { "version", "list", "status", "watch", "metrics" };
static const char *const operator_verbs[] = { "handover", "resign", "evict" };

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

struct request {
	json_object *obj;            /* NULL: not valid JSON by the rules */
	bool fields_ok;              /* every field of the right type */
	const char *verb;            /* NULL: absent or not a string */
	const char *segment;         /* default applied */
	bool segment_given;          /* named (list filters by it) */
	const char *election, *to;   /* NULL: absent */
	bool force;
};

/* "A string field": absent (or null), a string without NUL, or invalid. */
static int field(json_object *o, const char *key, const char **ret)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return 0;
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return -1;
	*ret = json_object_get_string(v);
	return 0;
}

/* Parse a request line by the documented rules: one JSON value, valid
 * UTF-8, nested at most 16 deep, only blanks after it. */
static void parse_request(const char *line, size_t len, struct request *rq)
{
	struct json_tokener *tok;
	json_object *v;
	char *buf;

	memset(rq, 0, sizeof(*rq));
	rq->segment = SHMELECT_DEFAULT_SEGMENT;
	if (memchr(line, 0, len))
		return; /* NUL is neither JSON nor a blank */
	while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	buf = strndup(line, len);
	FZ_ASSERT(buf, "strndup");
	tok = json_tokener_new_ex(16);
	FZ_ASSERT(tok, "json_tokener_new_ex");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	v = json_tokener_parse_ex(tok, buf, (int)len + 1);
	if (v && json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) >= len)
		rq->obj = v;
	else
		json_object_put(v);
	json_tokener_free(tok);
	free(buf);
	if (!rq->obj || !json_object_is_type(rq->obj, json_type_object))
		return;
	rq->fields_ok = field(rq->obj, "verb", &rq->verb) == 0 && field(rq->obj, "segment", &rq->segment) == 0 &&
			field(rq->obj, "election", &rq->election) == 0 && field(rq->obj, "to", &rq->to) == 0;
	rq->segment_given = rq->segment != SHMELECT_DEFAULT_SEGMENT; /* field() set it */
	if (json_object_object_get_ex(rq->obj, "force", &v) && v) {
		if (json_object_is_type(v, json_type_boolean))
			rq->force = json_object_get_boolean(v);
		else
			rq->fields_ok = false;
	}
}

static const struct fx_election *find_election(const char *segment, const char *name)
{
	for (size_t i = 0; i < N_ELS; i++)
		if (!strcmp(fx_segs[fx_els[i].seg].name, segment) && !strcmp(fx_els[i].name, name))
			return &fx_els[i];
	return NULL;
}

static const struct fx_segment *find_segment(const char *name)
{
	for (size_t i = 0; i < N_SEGS; i++)
		if (!strcmp(fx_segs[i].name, name))
			return &fx_segs[i];
	return NULL;
}

static bool valid_name(const char *s, size_t max)
{
	return *s && strlen(s) <= max;
}

/* The outcomes the man page allows for this request (a set: where
 * several errors apply, it does not say which comes first). */
static unsigned allowed(const struct request *rq, bool op)
{
	unsigned a = 0;
	bool is_op;

	if (!rq->obj)
		return A_EBADMSG;
	if (!json_object_is_type(rq->obj, json_type_object))
		return A_EINVAL;
	if (!rq->fields_ok || !rq->verb)
		a |= A_EINVAL;
	if (!rq->verb)
		return a;
	is_op = in_list(rq->verb, operator_verbs, 3);
	if (!is_op && !in_list(rq->verb, read_verbs, 5))
		return a | A_EOPNOTSUPP;
	if (is_op && !op)
		a |= A_EPERM;
	if (a)
		return a;

	if (!strcmp(rq->verb, "list") && rq->segment_given && !find_segment(rq->segment))
		return A_ENOENT;
	if (!strcmp(rq->verb, "version") || !strcmp(rq->verb, "list") || !strcmp(rq->verb, "metrics"))
		return A_OK;
	if (!strcmp(rq->verb, "watch")) {
		if (!find_segment(rq->segment))
			a |= A_ENOENT;
		if (rq->election && !valid_name(rq->election, SHMELECT_NAME_MAX))
			a |= A_EINVAL;
		return a ? a : A_OK;
	}
	/* status, handover, resign, evict: an election; handover: a member */
	if (!strcmp(rq->verb, "handover") && (!rq->to || !valid_name(rq->to, SHMELECT_IDENTITY_MAX)))
		a |= A_EINVAL; /* missing, empty or too long */
	if (!rq->election || !valid_name(rq->election, SHMELECT_NAME_MAX))
		a |= A_EINVAL; /* missing, empty or too long */
	else if (!find_segment(rq->segment) || !find_election(rq->segment, rq->election))
		a |= A_ENOENT;
	if (!find_segment(rq->segment))
		a |= A_ENOENT;
	if (!strcmp(rq->verb, "handover") && !a) {
		const struct fx_election *x = find_election(rq->segment, rq->election);
		bool member = false;

		for (size_t i = 0; i < x->n_members; i++)
			if (!strcmp(x->members[i].identity, rq->to))
				member = true;
		if (!member)
			a |= A_ESRCH;
	}
	return a ? a : A_OK;
}

static bool is_operator(enum peer_kind k, bool have_group)
{
	switch (k) {
	case PEER_ROOT:
	case PEER_DAEMON:
		return true;
	case PEER_GROUP:
	case PEER_SUPPL:
		return have_group;
	default:
		return false;
	}
}

static struct peer make_peer(enum peer_kind k, gid_t *groups)
{
	struct peer p = { .pid = getpid(), .uid = OTHER_ID, .gid = OTHER_ID };

	switch (k) {
	case PEER_ROOT:
		p.uid = p.gid = 0;
		break;
	case PEER_DAEMON:
		p.uid = p.gid = DAEMON_UID;
		break;
	case PEER_GROUP:
		p.gid = OPERATOR_GID;
		break;
	case PEER_SUPPL:
		groups[0] = 100;
		groups[1] = OPERATOR_GID;
		p.groups = groups;
		p.n_groups = 2;
		break;
	case PEER_NOBODY:
		break;
	case PEER_OTHER:
		groups[0] = OPERATOR_GID + 1;
		p.groups = groups;
		p.n_groups = 1;
		break;
	case PEER_MANY:
		for (unsigned i = 0; i < 64; i++)
			groups[i] = 5000 + i;
		p.groups = groups;
		p.n_groups = 64;
		break;
	case PEER_UNKNOWN:
		p.uid = (uid_t)-1;
		p.gid = (gid_t)-1;
		p.pid = 0;
		break;
	}
	return p;
}

/* ------------------------------------------------------------------ */
/* Checking the responses                                              */
/* ------------------------------------------------------------------ */

/* A line the daemon wrote: one JSON object, and written as json-c writes
 * it (PLAIN | NOSLASHESCAPE), byte for byte, which jsonlite.h's writer
 * promises (so that replies did not change when it replaced json-c). */
static json_object *parse_line(const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	char *buf = strndup(s, len);
	const char *again;
	size_t again_len;
	json_object *o;

	FZ_ASSERT(tok && buf, "json_tokener_new, strndup");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	FZ_ASSERT(!memchr(s, 0, len), "a NUL in a response line: %.*s", (int)len, s);
	/* the NUL too, as in parse_request() */
	o = json_tokener_parse_ex(tok, buf, (int)len + 1);
	FZ_ASSERT(o && json_tokener_get_error(tok) == json_tokener_success &&
			  json_tokener_get_parse_end(tok) >= len,
		  "a response line is not one JSON value: %.*s", (int)len, s);
	json_tokener_free(tok);
	free(buf);
	FZ_ASSERT(json_object_is_type(o, json_type_object), "a response line is not an object: %.*s", (int)len, s);
	again = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
						  &again_len);
	FZ_ASSERT(again_len == len && !memcmp(again, s, len), "not as json-c writes it:\n  %.*s\n  %s",
		  (int)len, s, again);
	return o;
}

static json_object *get(json_object *o, const char *key, json_type type)
{
	json_object *v = NULL;

	FZ_ASSERT(json_object_object_get_ex(o, key, &v), "no \"%s\" in %s", key, json_object_to_json_string(o));
	FZ_ASSERT(json_object_is_type(v, type), "\"%s\" of type %s in %s", key,
		  json_type_to_name(json_object_get_type(v)), json_object_to_json_string(o));
	return v;
}

static bool has(json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

static void check_keys(json_object *o, const char *const *keys, size_t n)
{
	json_object_object_foreach(o, key, val)
	{
		(void)val;
		FZ_ASSERT(in_list(key, keys, n), "unexpected key \"%s\" in %s", key, json_object_to_json_string(o));
	}
}

/* A label value in Prometheus text: "..." with \\, \" and \n escapes. */
static const char *metrics_label_value(const char *p)
{
	FZ_ASSERT(*p == '"', "label value at %.20s", p);
	for (p++; *p != '"'; p++) {
		FZ_ASSERT(*p && *p != '\n', "unterminated label value");
		if (*p == '\\') {
			p++;
			FZ_ASSERT(*p == '\\' || *p == '"' || *p == 'n', "bad escape \\%c", *p);
		}
	}
	return p + 1;
}

static void check_metrics(const char *text)
{
	const char *p = text;

	FZ_ASSERT(*text && text[strlen(text) - 1] == '\n', "metrics text does not end in a newline");
	while (*p) {
		const char *eol = strchr(p, '\n');

		FZ_ASSERT(eol, "metrics: unterminated line");
		if (*p == '#') {
			FZ_ASSERT(!strncmp(p, "# HELP ", 7) || !strncmp(p, "# TYPE ", 7), "metrics: %.*s",
				  (int)(eol - p), p);
		} else {
			FZ_ASSERT(!strncmp(p, "shmelect", 8), "metrics: %.*s", (int)(eol - p), p);
			while (*p == '_' || (*p >= 'a' && *p <= 'z'))
				p++;
			if (*p == '{') {
				do {
					p++;
					while (*p == '_' || (*p >= 'a' && *p <= 'z'))
						p++;
					FZ_ASSERT(*p == '=', "metrics: label at %.20s", p);
					p = metrics_label_value(p + 1);
				} while (*p == ',');
				FZ_ASSERT(*p == '}', "metrics: labels end at %.20s", p);
				p++;
			}
			FZ_ASSERT(*p == ' ', "metrics: value at %.20s", p);
			for (p++; p < eol; p++)
				FZ_ASSERT((*p >= '0' && *p <= '9') || *p == '.', "metrics: value at %.20s", p);
		}
		p = eol + 1;
	}
}

static void check_ok(json_object *resp, const struct request *rq)
{
	static const char *const base[] = { "id", "ok" };
	const char *v = rq->verb;

	if (!strcmp(v, "version")) {
		static const char *const k[] = { "id", "ok", "version", "protocol", "segments" };
		json_object *segs = get(resp, "segments", json_type_array);

		check_keys(resp, k, 5);
		FZ_ASSERT(json_object_get_string_len(get(resp, "version", json_type_string)) > 0, "version");
		FZ_ASSERT(json_object_get_int(get(resp, "protocol", json_type_int)) == SHMELECTD_PROTOCOL, "protocol");
		FZ_ASSERT(json_object_array_length(segs) == N_SEGS, "%zu segments", json_object_array_length(segs));
		for (size_t i = 0; i < N_SEGS; i++)
			FZ_ASSERT(!strcmp(json_object_get_string(json_object_array_get_idx(segs, i)), fx_segs[i].name),
				  "segment %zu", i);
	} else if (!strcmp(v, "list")) {
		static const char *const k[] = { "id", "ok", "elections" };
		json_object *arr = get(resp, "elections", json_type_array);

		check_keys(resp, k, 3);
		size_t want = 0;

		for (size_t i = 0; i < N_ELS; i++)
			if (!rq->segment_given || !strcmp(fx_segs[fx_els[i].seg].name, rq->segment))
				want++;
		FZ_ASSERT(json_object_array_length(arr) == want, "%zu elections listed, not %zu",
			  json_object_array_length(arr), want);
		for (size_t i = 0; i < json_object_array_length(arr); i++) {
			json_object *e = json_object_array_get_idx(arr, i);

			FZ_ASSERT(json_object_is_type(e, json_type_object), "list entry");
			const char *es = json_object_get_string(get(e, "segment", json_type_string));

			FZ_ASSERT(find_segment(es), "list: segment");
			FZ_ASSERT(!rq->segment_given || !strcmp(es, rq->segment), "list of %s: %s", rq->segment, es);
			get(e, "election", json_type_string);
			get(e, "has_holder", json_type_boolean);
			get(e, "expired", json_type_boolean);
			get(e, "members", json_type_int);
		}
	} else if (!strcmp(v, "status")) {
		static const char *const k[] = { "id", "ok", "status" };
		const struct fx_election *x = find_election(rq->segment, rq->election);
		json_object *st = get(resp, "status", json_type_object), *m;
		bool holder;

		check_keys(resp, k, 3);
		FZ_ASSERT(!strcmp(json_object_get_string(get(st, "segment", json_type_string)), rq->segment),
			  "status of segment %s", json_object_to_json_string(st));
		FZ_ASSERT(!strcmp(json_object_get_string(get(st, "election", json_type_string)), rq->election),
			  "status of election %s", json_object_to_json_string(st));
		m = get(st, "members", json_type_array);
		FZ_ASSERT(json_object_array_length(m) == x->n_members, "%zu members of %s",
			  json_object_array_length(m), x->name);
		holder = json_object_get_boolean(get(st, "has_holder", json_type_boolean));
		get(st, "holder", holder ? json_type_string : json_type_null);
		get(st, "advert", holder ? json_type_string : json_type_null);
		get(st, "expired", json_type_boolean);
		for (size_t i = 0; i < json_object_array_length(m); i++) {
			json_object *mo = json_object_array_get_idx(m, i);

			FZ_ASSERT(json_object_is_type(mo, json_type_object), "member");
			get(mo, "identity", json_type_string);
			get(mo, "is_holder", json_type_boolean);
		}
	} else if (!strcmp(v, "watch")) {
		static const char *const k[] = { "id", "ok", "watching", "seq" };
		json_object *w;

		check_keys(resp, k, 4);
		w = get(resp, "watching", rq->election ? json_type_string : json_type_null);
		FZ_ASSERT(!rq->election || !strcmp(json_object_get_string(w), rq->election), "watching %s",
			  json_object_get_string(w));
		FZ_ASSERT(json_object_get_int(get(resp, "seq", json_type_int)) == 0, "watch seq");
	} else if (!strcmp(v, "metrics")) {
		static const char *const k[] = { "id", "ok", "metrics" };
		check_keys(resp, k, 3);
		check_metrics(json_object_get_string(get(resp, "metrics", json_type_string)));
	} else if (!strcmp(v, "handover")) {
		static const char *const k[] = { "id", "ok", "done" };
		check_keys(resp, k, 3);
		get(resp, "done", json_type_boolean);
	} else if (!strcmp(v, "resign")) {
		check_keys(resp, base, 2);
	} else if (!strcmp(v, "evict")) {
		static const char *const k[] = { "id", "ok", "evicted" };
		check_keys(resp, k, 3);
		get(resp, "evicted", json_type_boolean);
	} else {
		FZ_ASSERT(0, "success for verb %s", v);
	}
}

/* The error fields; returns the error's A_ bit. */
static unsigned check_error(json_object *resp)
{
	static const char *const k[] = { "id", "ok", "error", "errno", "message" };
	const char *name = json_object_get_string(get(resp, "error", json_type_string));
	int err = json_object_get_int(get(resp, "errno", json_type_int));

	check_keys(resp, k, 5);
	get(resp, "message", json_type_string);
	for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (!strcmp(errors[i].name, name)) {
			FZ_ASSERT(err == errors[i].err, "error %s with errno %d", name, err);
			return errors[i].bit;
		}
	FZ_ASSERT(0, "error %s (errno %d) is not one PROTOCOL lists for a request: %s", name, err,
		  json_object_to_json_string(resp));
	return 0;
}

struct watch {
	char *segment, *election;
};

/* One response to one request line; returns true if it starts a watch
 * (and what it watches in *w). */
static bool check_response(const char *line, size_t len, json_object *resp, bool op, struct watch *w)
{
	struct request rq;
	unsigned a, got;
	bool ok, watch = false;

	parse_request(line, len, &rq);
	a = allowed(&rq, op);
	ok = json_object_get_boolean(get(resp, "ok", json_type_boolean));
	got = ok ? A_OK : check_error(resp);
	FZ_ASSERT(got & a, "request %.*s (operator %d): got %s, allowed 0x%x", (int)len, line, op,
		  json_object_to_json_string(resp), a);

	if (rq.obj && json_object_is_type(rq.obj, json_type_object) && has(rq.obj, "id")) {
		json_object *want = NULL, *id = NULL;

		json_object_object_get_ex(rq.obj, "id", &want);
		FZ_ASSERT(json_object_object_get_ex(resp, "id", &id), "no id in %s", json_object_to_json_string(resp));
		FZ_ASSERT(json_object_equal(id, want), "id %s echoed as %s", json_object_to_json_string(want),
			  json_object_to_json_string(id));
	} else {
		FZ_ASSERT(!has(resp, "id"), "an id in %s for a request without one", json_object_to_json_string(resp));
	}
	if (ok) {
		check_ok(resp, &rq);
		if (!strcmp(rq.verb, "watch")) {
			watch = true;
			w->segment = strdup(rq.segment);
			w->election = rq.election ? strdup(rq.election) : NULL;
			FZ_ASSERT(w->segment && (!rq.election || w->election), "strdup");
		}
	}
	json_object_put(rq.obj);
	return watch;
}

/* One event; returns true for an overflow (which must be the last). */
static bool check_event(json_object *ev, uint64_t seq, const struct watch *w)
{
	static const char *const types[] = { "leader", "no_leader", "joined", "left" };
	static const char *const k[] = { "event", "seq", "segment", "election", "holder", "token",
					 "term", "identity", "time_ns" };
	const char *type = json_object_get_string(get(ev, "event", json_type_string));

	FZ_ASSERT(json_object_get_uint64(get(ev, "seq", json_type_int)) == seq, "event seq, want %llu: %s",
		  (unsigned long long)seq, json_object_to_json_string(ev));
	if (!strcmp(type, "overflow")) {
		check_keys(ev, k, 2);
		return true;
	}
	FZ_ASSERT(in_list(type, types, 4), "event %s", type);
	check_keys(ev, k, 9);
	FZ_ASSERT(!strcmp(json_object_get_string(get(ev, "segment", json_type_string)), w->segment),
		  "event of another segment: %s", json_object_to_json_string(ev));
	if (w->election)
		FZ_ASSERT(!strcmp(json_object_get_string(get(ev, "election", json_type_string)), w->election),
			  "event of another election: %s", json_object_to_json_string(ev));
	get(ev, "token", json_type_int);
	get(ev, "term", json_type_int);
	FZ_ASSERT(has(ev, "identity") == (!strcmp(type, "joined") || !strcmp(type, "left")), "identity in %s",
		  json_object_to_json_string(ev));
	return false;
}

/* Make the watched elections change, so that a watcher gets events. */
static void stir(void)
{
	for (size_t i = 0; i < N_ELS; i++)
		if (fx_els[i].leader >= 0)
			shmelect_election_evict(fx_els[i].e);
	scan_all();
	reset();
}

/* ------------------------------------------------------------------ */
/* One input                                                           */
/* ------------------------------------------------------------------ */

struct line {
	const char *s;
	size_t len;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	gid_t groups[64];
	struct peer peer;
	struct watch w = { NULL, NULL };
	struct line *resp = NULL;
	size_t n_resp = 0, k = 0, pos = 0, off = 0;
	uint64_t before[N_SEGS];
	bool op, watching = false, closed_by_error = false, overflow = false, dropped = false;
	enum peer_kind pk;
	uint8_t flags;
	int sv[2], r;

	if (!ready)
		fx_init();
	if (size < 1)
		return 0;
	flags = data[0];
	data++;
	size--;

	if (!renew_leaders())
		reset(); /* the process was stopped for longer than a lease */
	d.have_operator_gid = !(flags & FLAG_NO_OPERATOR_GROUP);
	d.operator_gid = OPERATOR_GID;
	pk = (enum peer_kind)(flags & 7);
	op = is_operator(pk, d.have_operator_gid);
	peer = make_peer(pk, groups);
	set_state((enum start_state)((flags >> 3) & 3));
	for (size_t i = 0; i < N_SEGS; i++)
		before[i] = change_word(fx_segs[i].seg);

	/* serve it */
	out_len = 0;
	FZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %m");
	if (flags & FLAG_SMALL_BUFFERS) {
		int small = 4096;

		FZ_ASSERT(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0, "SO_SNDBUF: %m");
		FZ_ASSERT(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0, "SO_SNDBUF: %m");
	}
	r = server_add_conn(d.server, sv[0], &peer);
	FZ_ASSERT(r == 0, "server_add_conn: %d", r);
	if (size == 0)
		FZ_ASSERT(shutdown(sv[1], SHUT_WR) == 0, "shutdown: %m");
	settle(sv[1], data, size, &off);
	if (!op)
		for (size_t i = 0; i < N_SEGS; i++)
			FZ_ASSERT(change_word(fx_segs[i].seg) == before[i],
				  "a client that is not an operator changed segment %s", fx_segs[i].name);
	if (server_connections(d.server) > 0) {
		/* only a watcher stays: give it events, then hang up */
		FZ_ASSERT(hub_count(d.hub) == 1, "a connection left open that is not watching (%zu watchers)",
			  hub_count(d.hub));
		if (flags & FLAG_SLOW_WATCHER) {
			/* until the daemon drops it: at most 64 x 4 events */
			for (int i = 0; i < 64 && hub_count(d.hub); i++) {
				stir();
				settle(-1, NULL, 0, NULL);
			}
		} else {
			stir();
		}
		settle(sv[1], NULL, 0, NULL);
		if (server_connections(d.server) > 0) {
			close(sv[1]);
			settle(-1, NULL, 0, NULL);
		} else {
			/* dropped (after an overflow, checked below) */
			FZ_ASSERT(drain(sv[1]) == -1, "no EOF after the daemon closed");
			close(sv[1]);
			dropped = true;
		}
	} else {
		/* the daemon closed: the client reads EOF */
		FZ_ASSERT(drain(sv[1]) == -1, "no EOF after the daemon closed");
		close(sv[1]);
	}
	FZ_ASSERT(server_connections(d.server) == 0, "the connection was not closed");
	FZ_ASSERT(hub_count(d.hub) == 0, "a watch outlived its connection");

	/* split the output into lines */
	FZ_ASSERT(out_len == 0 || out[out_len - 1] == '\n', "output does not end with a newline");
	for (size_t i = 0; i < out_len;) {
		char *nl = memchr(out + i, '\n', out_len - i);

		resp = realloc(resp, (n_resp + 1) * sizeof(*resp));
		FZ_ASSERT(resp, "realloc");
		resp[n_resp].s = out + i;
		resp[n_resp].len = (size_t)(nl - (out + i));
		n_resp++;
		i = (size_t)(nl - out) + 1;
	}
	if (dump) {
		fprintf(stderr, "--- flags 0x%02x, operator %d, %zu bytes in, %zu lines out:\n", flags, op, size,
			n_resp);
		fwrite(out, 1, out_len, stderr);
	}

	/* each request line in turn, as the framing defines them */
	while (pos < size) {
		const char *line = (const char *)data + pos;
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
		json_object *o;

		if (len > SHMELECTD_LINE_MAX) {
			FZ_ASSERT(k < n_resp, "no EMSGSIZE after a %zu-byte line", len);
			o = parse_line(resp[k].s, resp[k].len);
			FZ_ASSERT(!json_object_get_boolean(get(o, "ok", json_type_boolean)) &&
					  check_error(o) == A_EMSGSIZE && !has(o, "id"),
				  "a %zu-byte line: %s", len, json_object_to_json_string(o));
			json_object_put(o);
			k++;
			closed_by_error = true;
			break;
		}
		pos += len + 1;
		if (len && line[len - 1] == '\r')
			len--;
		if (!len || watching)
			continue;
		FZ_ASSERT(k < n_resp, "no response to line %.*s", (int)len, line);
		o = parse_line(resp[k].s, resp[k].len);
		watching = check_response(line, len, o, op, &w);
		json_object_put(o);
		k++;
	}
	/* then only events, for a watcher that was not disconnected, and
	 * nothing after an overflow */
	for (uint64_t seq = 1; k < n_resp; k++, seq++) {
		json_object *o = parse_line(resp[k].s, resp[k].len);

		FZ_ASSERT(watching && !closed_by_error && !overflow, "an extra line: %.*s", (int)resp[k].len,
			  resp[k].s);
		overflow = check_event(o, seq, &w);
		json_object_put(o);
	}
	FZ_ASSERT(!dropped || overflow, "a watcher was disconnected without an overflow event");
	free(w.segment);
	free(w.election);
	free(resp);

	if (changed())
		reset();
	return 0;
}
