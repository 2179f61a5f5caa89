#!/bin/bash
# shmelectctl: every error has its message and its exit code, in both
# output modes: no segment, no election, no member, not a segment, no
# permission (as nobody), shmelectd not running.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-.}/tests/ctl-lib.sh"

# --- no segment: 3 -----------------------------------------------------------------
for verb in list "status demo" "watch demo" "evict demo" "resign demo" "handover demo --to x"; do
	# shellcheck disable=SC2086 # the verb's words
	expect_exit 3 "$ctl" --segment "$seg-none" $verb
	assert_match "$err" "^shmelectctl: segment '$seg-none' does not exist \\(/dev/shm/$seg-none\\): is shmelectd running\\? It creates the segment, and so does 'shmelectctl run'"
done
expect_exit 3 "$ctl" --json --segment "$seg-none" status demo
assert_jq '.ok == false and .error == "ENOENT" and .errno == 2 and (.message | test("does not exist"))'
expect_exit 3 "$ctl" --segment-path "$tmp/nothing" list
assert_match "$err" "segment '$tmp/nothing' does not exist \\($tmp/nothing\\)"
pass "no segment"

# --- a segment with one election ------------------------------------------------------
start_run demo a -- sleep 1000
wait_for 10 holder_is demo a || fail "a never led"

# --- no election: 3 ------------------------------------------------------------------
# (watch nope is no error: it watches for the election to appear, see test-ctl.sh)
for verb in "status nope" "evict nope" "resign nope" "handover nope --to a"; do
	# shellcheck disable=SC2086
	expect_exit 3 "$ctl" $verb
	assert_match "$err" "^shmelectctl: no election 'nope' in segment '$seg'$"
done
expect_exit 3 "$ctl" --json status nope
assert_jq '.ok == false and .error == "ENOENT"'
pass "no election"

# --- no member: 3 ----------------------------------------------------------------------
expect_exit 3 "$ctl" handover demo --to zed --force
assert_match "$err" "^shmelectctl: no member 'zed' in election 'demo'$"
pass "no member"

# --- bad names: 2 ------------------------------------------------------------------------
expect_exit 2 "$ctl" status "$(printf 'x%.0s' $(seq 64))"
assert_match "$err" "invalid election name"
expect_exit 2 "$ctl" --segment a/b list
assert_match "$err" "invalid segment name 'a/b'"
pass "bad names"

# --- not a segment: 1 ----------------------------------------------------------------------
head -c 8192 /dev/urandom >"/dev/shm/$seg-junk"
cleanup_junk() { rm -f "/dev/shm/$seg-junk"; }
cleanup_hooks+=(cleanup_junk)
expect_exit 1 "$ctl" --segment "$seg-junk" list
assert_match "$err" "^shmelectctl: '$seg-junk' \\(/dev/shm/$seg-junk\\) is not a shmelect segment$"
: >"/dev/shm/$seg-junk"
expect_exit 1 "$ctl" --segment "$seg-junk" list
assert_match "$err" "is truncated, corrupt or not yet initialised"
pass "not a segment"

# --- shmelectd not running: 5 with --daemon --------------------------------------------------
expect_exit 5 "$ctl" --daemon list
assert_match "$err" "^shmelectctl: shmelectd is not running: cannot connect to $tmp/no-daemon.sock: No such file or directory \\(start it with 'systemctl start shmelectd', or use --direct\\)$"
expect_exit 5 "$ctl" --daemon --json status demo
assert_jq '.ok == false and .error == "ENOENT"'
expect_exit 5 "$ctl" --daemon --socket "$tmp/other.sock" watch
assert_match "$err" "cannot connect to $tmp/other.sock"
# a socket file nobody listens on (socat killed with -9 leaves it behind)
socat -u "UNIX-LISTEN:$tmp/dead.sock" /dev/null &
socat_pid=$!
wait_for 10 test -S "$tmp/dead.sock" || fail "no dead socket"
kill -9 "$socat_pid"
wait "$socat_pid" 2>/dev/null
expect_exit 5 "$ctl" --daemon --socket "$tmp/dead.sock" list
assert_match "$err" "shmelectd is not running: cannot connect to $tmp/dead.sock: Connection refused"
# without --daemon, it falls back to the segment
expect_exit 0 "$ctl" --socket "$tmp/dead.sock" list
assert_match "$out" "^$seg +demo +a "
pass "daemon not running (5), fallback to direct"

# --- permission denied: 4 ---------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
	echo "   (permission checks skipped: they need root to run as nobody)"
elif ! command -v setpriv >/dev/null; then
	echo "   (permission checks skipped: no setpriv)"
else
	nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	# created 0644: nobody may read (invariant 7), not write
	expect_exit 0 nobody "$ctl" status demo
	assert_match "$out" '^leader +a '
	for verb in "evict demo" "resign demo" "handover demo --to a"; do
		# shellcheck disable=SC2086
		expect_exit 4 nobody "$ctl" $verb
		assert_match "$err" "^shmelectctl: permission denied opening segment '$seg' \\(/dev/shm/$seg\\) for writing: this needs root or the segment's owner, or go through shmelectd \\(--daemon\\)$"
	done
	expect_exit 4 nobody "$ctl" --json evict demo
	assert_jq '.ok == false and .error == "EACCES" and .errno == 13'
	expect_exit 4 nobody "$ctl" run demo -i n -- true
	assert_match "$err" "permission denied opening segment '$seg'.* for writing"
	chmod 600 "/dev/shm/$seg"
	expect_exit 4 nobody "$ctl" status demo
	assert_match "$err" "^shmelectctl: permission denied reading segment '$seg' \\(/dev/shm/$seg\\): this needs read permission on the file, or go through shmelectd \\(--daemon\\)$"
	expect_exit 4 nobody "$ctl" list
	expect_exit 4 nobody "$ctl" watch
	chmod 644 "/dev/shm/$seg"
	holder_is demo a || fail "a lost the lead during the permission checks"
	pass "permission denied (4), as nobody"
fi
exit 0
