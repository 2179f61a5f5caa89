#!/bin/bash
# shmelectctl in direct mode: every verb, human and --json output, usage.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-.}/tests/ctl-lib.sh"

# --- usage ---------------------------------------------------------------------
expect_exit 0 "$ctl" --help
assert_match "$out" '^Usage: shmelectctl'
expect_exit 0 "$ctl" --version
assert_match "$out" '^shmelectctl [0-9]+\.[0-9]+\.[0-9]+ \(protocol 1\)$'
expect_exit 0 "$ctl" run --help
assert_match "$out" 'renew-deadline \+ grace < lease'
expect_exit 2 "$ctl"
assert_match "$err" 'no verb given'
expect_exit 2 "$ctl" frobnicate
assert_match "$err" "unknown verb 'frobnicate'"
expect_exit 2 "$ctl" status
assert_match "$err" "'status' needs an election name"
expect_exit 2 "$ctl" handover demo
assert_match "$err" 'needs --to ID'
expect_exit 2 "$ctl" --direct --daemon list
assert_match "$err" 'exclude each other'
expect_exit 2 "$ctl" status a b
assert_match "$err" "unexpected argument 'b'"
expect_exit 2 "$ctl" evict demo --to x
expect_exit 2 "$ctl" run demo --lease 1000 --renew-deadline 600 --grace 500 -- true
assert_match "$err" 'must be less than --lease'
expect_exit 2 "$ctl" run demo
assert_match "$err" 'run needs a command'
pass "usage and --help"

# --- two members ----------------------------------------------------------------
start_run demo a -- sleep 1000
wait_for 10 holder_is demo a || fail "a never led"
start_run demo b --priority 3 --advert "b:8080" -- sleep 1000
wait_for 10 bash -c "[ \"\$('$ctl' --json status demo | jq '.status.members | length')\" = 2 ]" ||
	fail "b never joined"

# --- list -------------------------------------------------------------------------
expect_exit 0 "$ctl" list
assert_match "$out" '^SEGMENT +ELECTION +LEADER +PID +TOKEN +TERM +TRANSITIONS +MEMBERS +STATE$'
assert_match "$out" "^$seg +demo +a +[0-9]+ +[0-9]+ +1 +1 +2 +led$"
expect_exit 0 "$ctl" --json list
assert_jq '.ok == true and (.elections | length) == 1'
assert_jq '.elections[0] | keys == ["election","expired","has_holder","holder","holder_pid","members","segment","term","token","transitions"]'
assert_jq ".elections[0] | .segment == \"$seg\" and .election == \"demo\" and .holder == \"a\" and .has_holder and (.expired | not) and .members == 2 and .term == 1"
pass "list, human and --json"

# --- status -----------------------------------------------------------------------
expect_exit 0 "$ctl" status demo
assert_match "$out" "^election +demo \\(segment $seg\\)$"
assert_match "$out" '^leader +a \(pid [0-9]+, slot [0-9]+\)$'
assert_match "$out" '^token +[0-9]+$'
assert_match "$out" '^term +1$'
assert_match "$out" '^lease +2000 ms, [0-9]+ ms left \(renewed [0-9]+ ms ago, acquired .* ago\)$'
assert_match "$out" '^members +2$'
assert_match "$out" '^  \* a +[0-9]+ +[0-9]+ +0 +2000 ms +.* ago$'
assert_match "$out" '^    b +[0-9]+ +[0-9]+ +3 +2000 ms +.* ago$'
token=$(printf '%s\n' "$out" | sed -n 's/^token *//p')
# options also after the verb
expect_exit 0 "$ctl" status demo --json
assert_jq '.ok == true'
assert_jq '.status | keys == (["acquire_ns","advert","election","expired","expiry_ns","has_holder","holder","holder_pid","holder_slot","lease_ns","locked_until_ns","members","observed_ns","renew_ns","segment","term","token","transitions"] | sort)'
assert_jq '.status.members[0] | keys == (["identity","pid","slot","lease_ns","joined_ns","priority","is_holder"] | sort)'
assert_jq '.status | .holder == "a" and .has_holder and (.expired | not) and .lease_ns == 2000000000 and .expiry_ns > .observed_ns and .renew_ns <= .observed_ns and .advert == ""'
assert_jq '[.status.members[] | select(.is_holder)] | length == 1 and .[0].identity == "a"'
assert_jq '.status.members[] | select(.identity == "b") | .priority == 3 and (.is_holder | not)'
[ "$(json_token "$out")" = "$token" ] || fail "--json token $(json_token "$out") != human token $token"
pass "status, human and --json (token $token)"

# --- watch (direct) -----------------------------------------------------------
"$ctl" --json watch demo >"$tmp/watch.json" 2>"$tmp/watch.err" &
watch_pid=$!
bg_pids+=("$watch_pid")
"$ctl" watch >"$tmp/watch.txt" 2>&1 &
watch_all_pid=$!
bg_pids+=("$watch_all_pid")
wait_for 10 grep -q '"watching"' "$tmp/watch.json" || fail "watch printed no header"
wait_for 10 grep -q '^watching every election' "$tmp/watch.txt" || fail "watch (all) printed no header"
out=$(head -n 1 "$tmp/watch.json")
assert_jq '. == {"ok": true, "watching": "demo", "seq": 0}'

# --- handover (a request, carried out by a's elector) ------------------------------
expect_exit 0 "$ctl" handover demo --to b
assert_match "$out" "^election 'demo': b leads now, token [0-9]+$"
holder_is demo b || fail "b does not lead after handover"
t2=$(token_of demo)
[ "$t2" -gt "$token" ] || fail "token did not grow on handover: $t2 <= $token"
expect_exit 0 "$ctl" --json status demo
assert_jq '.status.advert == "b:8080"'

# --- handover --force back to a ----------------------------------------------------
expect_exit 0 "$ctl" --json handover demo --to a --force
assert_jq '.ok == true and .done == true'
t3=$(json_token "$out")
[ "$t3" -gt "$t2" ] || fail "token did not grow on forced handover: $t3 <= $t2"
holder_is demo a || fail "a does not lead after handover --force"
expect_exit 3 "$ctl" handover demo --to nobody-here
assert_match "$err" "^shmelectctl: no member 'nobody-here' in election 'demo'$"
expect_exit 3 "$ctl" --json handover demo --to nobody-here
assert_jq '.ok == false and .error == "ESRCH" and .errno == 3'
pass "handover, handover --force, handover to nobody"

# --- resign --------------------------------------------------------------------------
expect_exit 0 "$ctl" resign demo
assert_match "$out" "^election 'demo': asked the leader to resign$"
wait_for 10 bash -c "t=\$('$ctl' --json status demo | grep -o '\"token\":[0-9]*' | cut -d: -f2); [ \"\$t\" -gt $t3 ] && [ -n \"\$('$ctl' --json status demo | jq -r 'select(.status.has_holder and (.status.expired|not)) | .status.holder')\" ]" ||
	fail "nobody led with a new token after resign"
t4=$(token_of demo)
pass "resign (token $t3 -> $t4)"

# --- evict -----------------------------------------------------------------------------
expect_exit 0 "$ctl" --json evict demo
assert_jq '.ok == true and .evicted == true'
wait_for 10 bash -c "[ \$('$ctl' --json status demo | grep -o '\"token\":[0-9]*' | cut -d: -f2) -gt $t4 ]" ||
	fail "no new term after evict"
expect_exit 0 "$ctl" evict demo
assert_match "$out" "^election 'demo': (evicted the leader; the next one gets a new token|there was no leader to evict)$"
pass "evict"

# --- a third member joins and leaves: the watchers see it -------------------------
start_run demo c -- sleep 1000
c_pid=$run_pid
wait_for 10 grep -q '"event":"joined".*"identity":"c"' "$tmp/watch.json" || fail "no joined event for c"
# both watchers poll a read-only mapping (shmelectctl(1): direct watch
# samples, it cannot see a state that lasts less than a poll): c stays until
# the segment-wide watcher has sampled it too
wait_for 10 grep -qE ' demo +joined +c$' "$tmp/watch.txt" || fail "watch (all) saw no joined event for c"
kill -TERM "$c_pid"
wait "$c_pid"
wait_for 10 grep -q '"event":"left".*"identity":"c"' "$tmp/watch.json" || fail "no left event for c"
kill -INT "$watch_pid"
wait "$watch_pid" || fail "watch did not exit 0 on SIGINT"

# events: seq 1, 2, 3... with no gaps; each has every key; the leader
# changes we made are there, in order
n=0
while IFS= read -r line; do
	out=$line
	if [ "$n" -eq 0 ]; then
		n=1
		continue
	fi
	assert_jq ".seq == $n"
	assert_jq 'keys == (["event","seq","segment","election","holder","token","term","identity","time_ns"] | sort)'
	assert_jq ".segment == \"$seg\" and .election == \"demo\""
	n=$((n + 1))
done <"$tmp/watch.json"
[ "$n" -gt 5 ] || fail "only $((n - 1)) events"
leaders=$(jq -r 'select(.event == "leader") | .holder' "$tmp/watch.json" | head -n 2 | tr '\n' ' ')
[ "$leaders" = "b a " ] || { cat "$tmp/watch.json"; fail "leader events: '$leaders', expected 'b a '"; }
jq -s -e 'map(select(.event == "leader")) | length > 0 and all(.token > 0)' "$tmp/watch.json" >/dev/null || fail "leader events without token"
# (a no_leader event after evict is not certain: the polling watcher may see
# the next leader first)  Leader tokens only grow:
jq -s -e '[.[] | select(.event == "leader") | .token] | . == sort and length >= 3' "$tmp/watch.json" >/dev/null ||
	fail "leader events: tokens do not grow"
pass "watch --json: $((n - 1)) events"

# --- a second election shows up in list ------------------------------------------------
# (and a watch of it, started before it exists, sees it lead)
"$ctl" --json watch other >"$tmp/watch-other.json" 2>"$tmp/watch-other.err" &
watch_other_pid=$!
bg_pids+=("$watch_other_pid")
wait_for 10 grep -q '"watching":"other"' "$tmp/watch-other.json" ||
	fail "watch of an election that does not exist yet: $(cat "$tmp/watch-other.err")"
start_run other x -- sleep 1000
wait_for 10 holder_is other x || fail "x never led 'other'"
wait_for 10 grep -q '"event":"leader".*"holder":"x"' "$tmp/watch-other.json" ||
	fail "the watch of 'other' saw no leader: $(cat "$tmp/watch-other.json")"
kill -INT "$watch_other_pid"
wait "$watch_other_pid" || fail "watch of 'other' did not exit 0 on SIGINT"
expect_exit 0 "$ctl" --json list
assert_jq '[.elections[].election] | sort == ["demo", "other"]'
expect_exit 0 "$ctl" --segment "$seg" --direct list
assert_match "$out" "^$seg +other +x "
pass "list with two elections"

# the segment-wide watch saw everything, including the election created later
wait_for 10 grep -qE ' other +leader +x, token ' "$tmp/watch.txt" || fail "watch (all) missed the new election"
kill -TERM "$watch_all_pid"
wait "$watch_all_pid" || fail "watch (all) did not exit 0 on SIGTERM"
txt=$(cat "$tmp/watch.txt")
assert_match "$txt" "^[0-9:.]+ +#[0-9]+ +demo +leader +b, token [0-9]+ \\(term [0-9]+\\)$"
assert_match "$txt" "^[0-9:.]+ +#[0-9]+ +demo +joined +c$"
assert_match "$txt" "^[0-9:.]+ +#[0-9]+ +demo +left +c$"
assert_match "$txt" "^[0-9:.]+ +#[0-9]+ +other +joined +x$"
pass "watch of the whole segment, human output, new elections included"
exit 0
