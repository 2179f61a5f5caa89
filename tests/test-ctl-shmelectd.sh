#!/bin/bash
# shmelectctl against the real shmelectd: the same verbs give the same
# answers through the daemon as from the segment.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-.}/tests/ctl-lib.sh"

daemon=$builddir/daemon/shmelectd
[ -x "$daemon" ] || skip "shmelectd is not built in this tree ($daemon)"

sock=$tmp/shmelectd.sock
# two segments: list shows the elections of the one asked for (as direct
# mode does), not the other's
seg2=$seg-2
rm_seg2() { rm -f "/dev/shm/$seg2"; }
cleanup_hooks+=(rm_seg2)
"$daemon" --socket "$sock" --state-dir "$tmp/state" --segment "$seg" --segment "$seg2" \
	2>"$tmp/shmelectd.log" &
daemon_pid=$!
bg_pids+=("$daemon_pid")
wait_for 20 test -S "$sock" || { cat "$tmp/shmelectd.log"; fail "shmelectd did not listen on $sock"; }
export SHMELECT_SOCKET=$sock

start_run demo a -- sleep 1000
wait_for 20 holder_is demo a || fail "a never led"
SHMELECT_SEGMENT=$seg2 start_run elsewhere z -- sleep 1000
wait_for 20 bash -c "SHMELECT_SEGMENT='$seg2' '$ctl' --direct list | grep -q ' elsewhere  *z '" ||
	fail "z never led in $seg2"
start_run demo b --advert b:1 -- sleep 1000
wait_for 20 bash -c "[ \"\$('$ctl' --direct --json status demo | jq '.status.members | length')\" = 2 ]" ||
	fail "b never joined"

# --- the same shapes both ways ----------------------------------------------------------
for verb in list "status demo"; do
	# shellcheck disable=SC2086
	expect_exit 0 "$ctl" --daemon --json $verb
	daemon_out=$out
	# shellcheck disable=SC2086
	expect_exit 0 "$ctl" --direct --json $verb
	direct_out=$out
	shape='[paths | map(if type == "number" then 0 else . end)] | unique'
	ds=$(printf '%s\n' "$daemon_out" | jq -c "$shape")
	rs=$(printf '%s\n' "$direct_out" | jq -c "$shape")
	[ "$ds" = "$rs" ] || fail "'$verb': the daemon's keys $ds differ from direct mode's $rs"
	stable='del(.. | .observed_ns?, .renew_ns?, .expiry_ns?)'
	[ "$(printf '%s\n' "$daemon_out" | jq -cS "$stable")" = "$(printf '%s\n' "$direct_out" | jq -cS "$stable")" ] ||
		fail "'$verb': values differ: $daemon_out vs $direct_out"
done
expect_exit 0 "$ctl" list
assert_match "$out" "^$seg +demo +a "
pass "list and status: the daemon's answer has the shape and values of direct mode's"

# --- a segment the daemon does not own: read directly without --daemon ---------------
seg3=$seg-3
rm_seg3() { rm -f "/dev/shm/$seg3"; }
cleanup_hooks+=(rm_seg3)
SHMELECT_SEGMENT=$seg3 start_run third y -- sleep 1000
wait_for 20 bash -c "SHMELECT_SEGMENT='$seg3' '$ctl' --direct list | grep -q ' third  *y '" ||
	fail "y never led in $seg3"
expect_exit 0 "$ctl" -s "$seg3" list
assert_match "$out" "^$seg3 +third +y "
expect_exit 0 "$ctl" -s "$seg3" status third
expect_exit 3 "$ctl" --daemon -s "$seg3" list
assert_match "$err" "no such segment \"$seg3\""
pass "a segment shmelectd does not own is read directly, or named in --daemon's error"

# --- verbs through the daemon -------------------------------------------------------------
"$ctl" --daemon --json watch demo >"$tmp/watch.json" 2>"$tmp/watch.err" &
w=$!
bg_pids+=("$w")
wait_for 20 grep -q '"watching"' "$tmp/watch.json" || fail "watch: no header"
t1=$(token_of demo)
expect_exit 0 "$ctl" --daemon handover demo --to b
assert_match "$out" "^election 'demo': b leads now, token [0-9]+$"
holder_is demo b || fail "b does not lead after handover through the daemon"
expect_exit 0 "$ctl" --daemon --json handover demo --to a --force
assert_jq '.ok and .done'
wait_for 20 holder_is demo a || fail "a does not lead after handover --force"
expect_exit 0 "$ctl" --daemon --json evict demo
assert_jq '.ok and .evicted == true'
wait_for 20 bash -c "[ -n \"\$('$ctl' --direct --json status demo | jq -r 'select(.status.has_holder) | .status.holder')\" ]" ||
	fail "nobody led after evict"
expect_exit 0 "$ctl" --daemon resign demo
assert_match "$out" "asked the leader to resign"
wait_for 20 bash -c "[ \$('$ctl' --direct --json status demo | grep -o '\"token\":[0-9]*' | cut -d: -f2) -gt $t1 ]" ||
	fail "tokens did not grow"
expect_exit 3 "$ctl" --daemon status nope
assert_match "$err" "(from shmelectd)"
expect_exit 3 "$ctl" --daemon handover demo --to ghost
wait_for 20 bash -c "[ \$(grep -c '\"event\":\"leader\"' '$tmp/watch.json') -ge 3 ]" || fail "watch: too few leader events"
kill -INT "$w"
wait "$w" || fail "watch did not exit 0"
n=0
while IFS= read -r out; do
	if [ "$n" -gt 0 ]; then
		assert_jq ".seq == $n and .election == \"demo\" and (.event | IN(\"leader\", \"no_leader\", \"joined\", \"left\"))"
	fi
	n=$((n + 1))
done <"$tmp/watch.json"
pass "handover, --force, evict, resign, errors and watch ($((n - 1)) events) through shmelectd"

# --- operator verbs need privileges ----------------------------------------------------------
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$tmp"
	nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
	expect_exit 0 nobody "$ctl" --daemon status demo
	expect_exit 4 nobody "$ctl" --daemon evict demo
	assert_match "$err" "^shmelectctl: shmelectd refused 'evict'"
	pass "as nobody: status works, evict is refused (4)"
fi
exit 0
