#!/bin/bash
# shmelectctl through a daemon socket: requests, responses, errors, watch
# streams, mode choice.  The daemon here is tests/fake-shmelectd.sh under
# socat, with canned answers (test-ctl-shmelectd.sh uses the real one).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-.}/tests/ctl-lib.sh"

command -v socat >/dev/null || skip "socat is not installed"

sock=$tmp/fake.sock
export FAKE_LOG=$tmp/requests.log
socat "UNIX-LISTEN:$sock,fork" "EXEC:$srcdir/tests/fake-shmelectd.sh" 2>"$tmp/socat.err" &
bg_pids+=($!)
wait_for 10 test -S "$sock" || fail "the fake daemon did not listen"
export SHMELECT_SOCKET=$sock
export SHMELECT_SEGMENT=fakeseg

# --- mode choice ----------------------------------------------------------------------
# there is no segment "fakeseg": only the daemon can answer
expect_exit 0 "$ctl" list
assert_match "$out" '^fakeseg +fake +fake-leader +4242 +9007199254740993 +7 +7 +2 +led$'
expect_exit 3 "$ctl" --direct list
assert_match "$err" "segment 'fakeseg' does not exist"
expect_exit 0 "$ctl" --daemon list
pass "the daemon answers when its socket accepts; --direct reads the segment"

# --- list and status, JSON passed through --------------------------------------------
expect_exit 0 "$ctl" --daemon --json list
assert_jq '. == {"ok": true, "elections": [{"segment": "fakeseg", "election": "fake", "has_holder": true, "holder": "fake-leader", "holder_pid": 4242, "token": 9007199254740993, "term": 7, "transitions": 7, "expired": false, "members": 2}]}'
[ "$(json_token "$out")" = 9007199254740993 ] || fail "token not passed through exactly: $out"
expect_exit 0 "$ctl" --daemon status fake
assert_match "$out" '^leader +fake-leader \(pid 4242, slot 0\)$'
assert_match "$out" '^token +9007199254740993$'
assert_match "$out" '^lease +300 ms, 200 ms left \(renewed 100 ms ago, acquired 1100 ms ago\)$'
assert_match "$out" '^advert +10.0.0.1:80$'
assert_match "$out" '^  \* fake-leader +4242 +0 +0 +300 ms +1200 ms ago$'
assert_match "$out" '^    fake-standby +4343 +1 +5 +300 ms +1150 ms ago$'
expect_exit 0 "$ctl" --daemon --json status fake
assert_jq '.ok and .status.holder == "fake-leader" and (.status.members | length) == 2 and (has("id") | not)'
pass "list and status through the daemon, human and --json"

# --- errors from the daemon -------------------------------------------------------------
expect_exit 3 "$ctl" --daemon status nope
assert_match "$err" "^shmelectctl: no election 'nope' in segment 'fakeseg' \\(from shmelectd\\)$"
expect_exit 3 "$ctl" --daemon --json status nope
assert_jq '.ok == false and .error == "ENOENT" and .errno == 2'
expect_exit 3 "$ctl" --daemon handover fake --to ghost
assert_match "$err" "no member 'ghost' in election 'fake' \\(from shmelectd\\)"
expect_exit 4 "$ctl" --daemon evict fake
assert_match "$err" "^shmelectctl: shmelectd refused 'evict': evict needs root, the daemon's user or the operator group \\(operator verbs need root, the daemon's user or its operator group\\)$"
expect_exit 4 "$ctl" --daemon --json evict fake
assert_jq '.ok == false and .error == "EPERM"'
expect_exit 1 "$ctl" --daemon status garbage
assert_match "$err" "shmelectd sent something that is not a JSON object: this is not json"
expect_exit 1 "$ctl" --daemon status hangup
assert_match "$err" "shmelectd closed the connection without answering"
expect_exit 1 "$ctl" --daemon status wrongid
assert_match "$err" "id mismatch"
pass "daemon errors: ENOENT 3, ESRCH 3, EPERM 4, garbage, hang-up, wrong id"

# --- write verbs ------------------------------------------------------------------------
expect_exit 0 "$ctl" --daemon handover fake --to fake-standby --force
assert_match "$out" "^election 'fake': fake-standby leads now$"
expect_exit 0 "$ctl" --daemon --json resign fake
assert_jq '. == {"ok": true}'
pass "handover and resign through the daemon"

# --- watch --------------------------------------------------------------------------------
"$ctl" --daemon --json watch fake >"$tmp/watch.json" 2>"$tmp/watch.err" &
w=$!
bg_pids+=("$w")
wait_for 10 grep -q '"overflow"' "$tmp/watch.json" || fail "watch: no events"
kill -INT "$w"
wait "$w" || fail "watch did not exit 0 on SIGINT: $(cat "$tmp/watch.err")"
out=$(sed -n 1p "$tmp/watch.json")
assert_jq '. == {"ok": true, "watching": "fake", "seq": 0}'
out=$(sed -n 2p "$tmp/watch.json")
assert_jq '.event == "leader" and .seq == 1 and .holder == "fake-standby" and .term == 8'
"$ctl" --daemon watch fake >"$tmp/watch.txt" 2>&1 &
w=$!
bg_pids+=("$w")
wait_for 10 grep -q 'overflow' "$tmp/watch.txt" || fail "watch (human): no events"
kill -TERM "$w"
wait "$w" || fail "watch did not exit 0 on SIGTERM"
txt=$(cat "$tmp/watch.txt")
assert_match "$txt" "^watching election 'fake' in segment 'fakeseg' through shmelectd; \\^C to stop$"
assert_match "$txt" '^[0-9:.]+ +#1 +fake +leader +fake-standby, token 9007199254740994 \(term 8\)$'
assert_match "$txt" '^[0-9:.]+ +#2 +fake +left +fake-leader$'
assert_match "$txt" '^[0-9:.]+ +#3 +fake +overflow +events were lost'
pass "watch through the daemon: header, events, SIGINT/SIGTERM exit 0"

# --- what was sent -------------------------------------------------------------------------
while IFS= read -r line; do
	[ "${#line}" -le 4096 ] || fail "request longer than 4096 bytes"
	out=$line
	assert_jq 'type == "object" and (.verb | type) == "string" and has("id") and .segment == "fakeseg"'
done <"$FAKE_LOG"
out=$(grep '"verb":"handover"' "$FAKE_LOG" | grep '"force":true' | head -n 1)
assert_jq '.election == "fake" and .to == "fake-standby" and .force == true'
out=$(grep '"verb":"watch"' "$FAKE_LOG" | head -n 1)
assert_jq '.election == "fake"'
pass "requests: one JSON object per line, with verb, id and segment"
exit 0
