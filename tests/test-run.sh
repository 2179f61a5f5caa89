#!/bin/bash
# shmelectctl run: the command runs only while its wrapper leads, is stopped
# on every kind of leadership loss, and two commands never run at once.
#
# The commands are tests/overlap-child, which log start / beat (every ms) /
# end lines under a lock; "overlap-child --check" proves from the order of
# the lines alone that no command logged anything after another one started
# and that tokens grew.  No check depends on how long anything took.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "${srcdir:-.}/tests/ctl-lib.sh"

[ -x "$child" ] || fail "$child not built"
# the default lease (2 s): a loaded machine may starve a wrapper for a while
opts=()

# run_pair ELECTION [ENV...]: wrappers a (leading, its command started) and
# b (standby) on $tmp/ELECTION.log; sets $a_pid $b_pid $log.
run_pair() {
	local election=$1
	shift
	log=$tmp/$election.log
	: >"$log"
	env "$@" "$ctl" run "$election" --identity a "${opts[@]}" -- "$child" "$log" 2>>"$tmp/$election.a.err" &
	a_pid=$!
	bg_pids+=("$a_pid")
	wait_for 20 started "$log" a || fail "$election: a never started its command"
	env "$@" "$ctl" run "$election" --identity b "${opts[@]}" -- "$child" "$log" 2>>"$tmp/$election.b.err" &
	b_pid=$!
	bg_pids+=("$b_pid")
	wait_for 20 bash -c "grep -q 'campaigning' '$tmp/$election.b.err'" || fail "$election: b never joined"
	wait_for 20 bash -c "[ \"\$('$ctl' --direct --json status '$election' | jq '.status.members | length')\" = 2 ]" ||
		fail "$election: b is not a member"
}

# --- the environment of the command ----------------------------------------------------
log=$tmp/env.log
SHMELECT_TOKEN=bogus NOTIFY_SOCKET=/nonexistent "$ctl" run envtest --identity a "${opts[@]}" -- \
	sh -c 'env | grep -E "^(SHMELECT_|NOTIFY_SOCKET|WATCHDOG_)" | sort >"$0.env"; exec "$1" "$0"' "$log" "$child" \
	2>>"$tmp/env.err" &
bg_pids+=($!)
wait_for 20 started "$log" a || fail "the env command never started"
env_out=$(cat "$log.env")
assert_match "$env_out" '^SHMELECT_ELECTION=envtest$'
assert_match "$env_out" '^SHMELECT_IDENTITY=a$'
assert_match "$env_out" "^SHMELECT_SEGMENT=$seg\$"
assert_match "$env_out" '^SHMELECT_RUN_LOCK_FD=[0-9]+$'
assert_match "$env_out" '^SHMELECT_TOKEN=[0-9]+$'
[ "$(sed -n 's/^SHMELECT_TOKEN=//p' "$log.env")" = "$(token_of envtest)" ] ||
	fail "SHMELECT_TOKEN is not the lease's token"
if grep -q NOTIFY_SOCKET "$log.env"; then fail "NOTIFY_SOCKET leaked to the command"; fi
pass "environment: $(tr '\n' ' ' <"$log.env")"

# --- evict ----------------------------------------------------------------------------
run_pair evict
"$ctl" evict evict >/dev/null || fail "evict failed"
wait_for 20 ended "$log" a || fail "a's command was not stopped after evict"
wait_for 20 started "$log" b || fail "b never started after evict"
grep -q "lost the lead: stopping" "$tmp/evict.a.err" || fail "a did not say it lost the lead"
check_overlap "$log"
pass "evict stops the command; the next one starts after it"

# --- handover (request) ----------------------------------------------------------------
"$ctl" handover evict --to a >/dev/null || fail "handover failed"
wait_for 20 ended "$log" b || fail "b's command was not stopped after handover"
wait_for 20 started "$log" a 2 || fail "a never started again after handover"
check_overlap "$log"
pass "handover stops the command"

# --- resign --------------------------------------------------------------------------------
n_start=$(grep -c '^start' "$log")
"$ctl" resign evict >/dev/null || fail "resign failed"
wait_for 20 ended "$log" a 2 || fail "a's command was not stopped after resign"
wait_for 20 bash -c "[ \$(grep -c '^start' '$log') -gt $n_start ]" || fail "nobody started after resign"
check_overlap "$log"
pass "resign stops the command"

# --- handover --force to a member whose predecessor ignores SIGTERM --------------------------
# The lease passes at once; the old command dies only by SIGKILL after the
# grace period.  The new leader must wait for that before it starts its own.
run_pair force OVERLAP_IGNORE_TERM=1
"$ctl" handover force --to b --force >/dev/null || fail "handover --force failed"
wait_for 20 started "$log" b || fail "b never started after handover --force"
grep -q "did not stop within the grace period: SIGKILL" "$tmp/force.a.err" || fail "a did not SIGKILL its command"
if ended "$log" a; then fail "a's command logged an end though it ignores SIGTERM"; fi
check_overlap "$log"
pass "handover --force: the new command starts only after the old one is killed"

# --- kill -9 of the leading wrapper ------------------------------------------------------------
run_pair kill9
a_cmd=$(last_pid "$log" a)
kill -9 "$a_pid"
wait_for 20 pid_gone "$a_cmd" || fail "a's command $a_cmd survived its wrapper's SIGKILL"
wait_for 20 started "$log" b || fail "b never started after a was killed"
check_overlap "$log"
pass "kill -9 of the wrapper kills its command; b takes over after it"

# --- SIGSTOP of the leading wrapper: it cannot police, the lock does --------------------------
run_pair stop
a_cmd=$(last_pid "$log" a)
kill -STOP "$a_pid"
wait_for 30 holder_is stop b || fail "b never took the lease from the stopped a"
# b leads, but a's command still runs and holds the run lock: b must wait
kill -0 "$a_cmd" || fail "a's command died while its wrapper was stopped"
if started "$log" b; then fail "b started its command while a's was still running"; fi
wait_for 20 bash -c "grep -q 'waiting for the previous leader' '$tmp/stop.b.err'" ||
	fail "b does not say that it waits for the previous command"
lines_before=$(wc -l <"$tmp/stop.a.err")
kill -CONT "$a_pid"
wait_for 20 ended "$log" a || fail "a did not stop its command after SIGCONT"
wait_for 20 started "$log" b || fail "b never started after a stopped its command"
first=$(sed -n "$((lines_before + 1))p" "$tmp/stop.a.err")
assert_match "$first" "(lost the lead|not renewed within the renew deadline): stopping"
check_overlap "$log"
pass "SIGSTOP of the wrapper: on SIGCONT its first act is to stop the command; b waited"

# --- SIGTERM of the leading wrapper: graceful ---------------------------------------------------
run_pair term
kill -TERM "$a_pid"
wait "$a_pid"
st=$?
[ "$st" -eq 0 ] || fail "a exited $st after SIGTERM, expected 0"
ended "$log" a || fail "a's command logged no end after SIGTERM"
wait_for 20 started "$log" b || fail "b never started after a stopped"
check_overlap "$log"
pass "SIGTERM: command stopped, lease released, exit 0"

# --- restart policies --------------------------------------------------------------------------
log=$tmp/restart.log
OVERLAP_EXIT_AFTER_MS=20 OVERLAP_EXIT_STATUS=3 "$ctl" run r1 --identity a "${opts[@]}" -- "$child" "$log" 2>>"$tmp/r1.err" &
bg_pids+=($!)
wait_for 30 started "$log" a 3 || fail "on-failure: a failing command was not run again"
check_overlap "$log"
grep -q "exited with status 3; resigning" "$tmp/r1.err" || fail "on-failure: no resign message"
pass "--restart=on-failure runs a failing command again, each time with a new token"

OVERLAP_EXIT_AFTER_MS=20 OVERLAP_EXIT_STATUS=0 "$ctl" run r2 --identity a "${opts[@]}" -- "$child" "$tmp/r2.log" 2>>"$tmp/r2.err"
st=$?
[ "$st" -eq 0 ] || fail "on-failure: exit $st after the command succeeded"
[ "$(grep -c '^start' "$tmp/r2.log")" -eq 1 ] || fail "on-failure: a successful command ran again"
OVERLAP_EXIT_AFTER_MS=20 OVERLAP_EXIT_STATUS=7 "$ctl" run r3 --identity a --restart=no "${opts[@]}" -- "$child" "$tmp/r3.log" 2>>"$tmp/r3.err"
st=$?
[ "$st" -eq 7 ] || fail "--restart=no: exit $st, expected the command's 7"
"$ctl" run r4 --identity a --restart=no "${opts[@]}" -- sh -c 'kill -9 $$' 2>>"$tmp/r4.err"
st=$?
[ "$st" -eq 137 ] || fail "--restart=no: exit $st for a command killed by SIGKILL, expected 137"
"$ctl" run r5 --identity a --restart=no "${opts[@]}" -- /nonexistent/command 2>>"$tmp/r5.err"
st=$?
[ "$st" -eq 127 ] || fail "--restart=no: exit $st for a missing command, expected 127"
grep -q "cannot execute '/nonexistent/command': No such file or directory" "$tmp/r5.err" ||
	fail "no message for a missing command"
pass "--restart=on-failure exits 0 on success; --restart=no exits with the command's status (7, 137, 127)"

log=$tmp/r6.log
OVERLAP_EXIT_AFTER_MS=20 OVERLAP_EXIT_STATUS=0 "$ctl" run r6 --identity a --restart=always "${opts[@]}" -- "$child" "$log" 2>>"$tmp/r6.err" &
bg_pids+=($!)
wait_for 30 started "$log" a 2 || fail "--restart=always: a successful command was not run again"
check_overlap "$log"
pass "--restart=always runs it again after success"

log=$tmp/r7.log
"$ctl" run r7 --identity a --restart=no "${opts[@]}" -- "$child" "$log" 2>>"$tmp/r7.err" &
r7=$!
wait_for 20 started "$log" a || fail "r7 never started"
"$ctl" evict r7 >/dev/null
wait "$r7"
st=$?
[ "$st" -eq 6 ] || fail "--restart=no: exit $st after losing the lead, expected 6"
ended "$log" a || fail "r7's command was not stopped"
pass "--restart=no exits 6 when the lead is lost"

# --- churn: three wrappers, many disruptions, never two commands at once ----------------------------
log=$tmp/churn.log
: >"$log"
declare -A wpid
start_churn() {
	"$ctl" run churn --identity "$1" "${opts[@]}" -- "$child" "$log" 2>>"$tmp/churn.$1.err" &
	wpid[$1]=$!
	bg_pids+=($!)
}
for id in x y z; do start_churn "$id"; done
for i in $(seq 1 12); do
	n=$(grep -c '^start' "$log")
	wait_for 30 bash -c "[ -n \"\$(grep '^start' '$log')\" ]" || fail "churn: nothing ever started"
	leader=$(holder churn)
	case $((i % 6)) in
	0) "$ctl" evict churn >/dev/null ;;
	1) "$ctl" resign churn >/dev/null ;;
	2) for id in x y z; do [ "$id" != "$leader" ] && break; done
	   "$ctl" handover churn --to "$id" >/dev/null ;;
	3) for id in z y x; do [ "$id" != "$leader" ] && break; done
	   "$ctl" handover churn --to "$id" --force >/dev/null ;;
	4) if [ -n "$leader" ]; then kill -9 "${wpid[$leader]}"; wait "${wpid[$leader]}" 2>/dev/null; start_churn "$leader"; fi ;;
	5) if [ -n "$leader" ]; then kill -TERM "${wpid[$leader]}"; wait "${wpid[$leader]}"; start_churn "$leader"; fi ;;
	esac
	wait_for 30 bash -c "[ \$(grep -c '^start' '$log') -gt $n ]" || fail "churn step $i: no new command started"
done
check_overlap "$log"
pass "churn: 12 disruptions (evict, resign, handover, --force, kill -9, SIGTERM)"
exit 0
