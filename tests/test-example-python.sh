#!/bin/bash
# examples/shmelect-watch.py, the Python client, against a real shmelectd:
# status (error, leader, no leader), wait-leader, watch across a failover and
# an overflow, and its errors (no daemon, daemon gone).  Tokens are compared
# as text with the segment's own, so any rounding would show.
# Exit 0 pass, 1 fail, 77 skip.

srcdir=${srcdir:-$(dirname "$0")/..}
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 is not installed"; exit 77; }
. "$srcdir/tests/daemon-lib.sh"

PY=$srcdir/examples/shmelect-watch.py
[ -f "$PY" ] || fail "no $PY"
E=e1

# the example on the private socket and segment (a command, not a function,
# so that $! of "${client[@]}" ... & is Python's pid)
client=(python3 "$PY" --socket "$SOCK" --segment "$SEG")
# watchers N: the daemon counts N watching clients
watchers() { [ "$(req '{"verb":"metrics"}' | jq -r .metrics | sed -n 's/^shmelectd_watchers //p')" = "$1" ]; }
exited() { ! kill -0 "$1" 2>/dev/null; }
# no_traceback FILE: Python said what went wrong in a line, not a traceback
no_traceback() { ! grep -q Traceback "$1" || fail "traceback in $1: $(cat "$1")"; }
# event_token FILE REGEX: the token of the last line of FILE matching REGEX
event_token() { grep -E "$2" "$1" | tail -1 | sed -n 's/.* token=\([0-9]*\) .*/\1/p'; }

start_daemon
ok "daemon up on $SOCK, segment $SEG"

# --- errors: no such election, no daemon ------------------------------------------
# the socket and the segment from the environment this time
SHMELECT_SOCKET=$SOCK SHMELECT_SEGMENT=$SEG python3 "$PY" status $E >"$TMP/st.out" 2>"$TMP/st.err"
rc=$?
[ $rc = 2 ] || fail "status of a missing election: exit $rc, not 2"
grep -q 'ENOENT' "$TMP/st.err" || fail "status of a missing election, stderr: $(cat "$TMP/st.err")"
no_traceback "$TMP/st.err"
ok "status of a missing election: exit 2, $(cat "$TMP/st.err")"

python3 "$PY" --socket "$TMP/nothere.sock" status $E >"$TMP/bad.out" 2>"$TMP/bad.err"
rc=$?
[ $rc = 2 ] || fail "bad socket path: exit $rc, not 2"
grep -qF "cannot connect to $TMP/nothere.sock" "$TMP/bad.err" ||
	fail "bad socket path, stderr: $(cat "$TMP/bad.err")"
no_traceback "$TMP/bad.err"
ok "bad socket path: exit 2, $(cat "$TMP/bad.err")"

"${client[@]}" wait-leader vacant --timeout 0.2 >"$TMP/vacant.out" 2>"$TMP/vacant.err"
rc=$?
[ $rc = 1 ] || fail "wait-leader without any candidate: exit $rc, not 1"
no_traceback "$TMP/vacant.err"
ok "wait-leader without any candidate: timeout, exit 1"

# --- wait-leader and watch, then a candidate -------------------------------------------
"${client[@]}" watch $E >"$TMP/w.out" 2>"$TMP/w.err" &
W=$!
track $W
"${client[@]}" wait-leader $E --timeout 3600 >"$TMP/wl.out" 2>"$TMP/wl.err" &
WL=$!
track $WL
wait_until watchers 2 # both subscribed, before anyone leads

candidate A $E
wait_until grep -q started "$TMP/A.out"
tok1=$(token $E)
wait_until exited $WL
wait $WL
rc=$?
[ $rc = 0 ] || fail "wait-leader: exit $rc: $(cat "$TMP/wl.err")"
[ "$(cat "$TMP/wl.out")" = "A $tok1" ] || fail "wait-leader printed '$(cat "$TMP/wl.out")', not 'A $tok1'"
ok "wait-leader returned: $(cat "$TMP/wl.out")"

wait_until grep -q "^leader $E holder=A " "$TMP/w.out"
[ "$(event_token "$TMP/w.out" "^leader $E holder=A ")" = "$tok1" ] ||
	fail "watch: leader token is not $tok1: $(cat "$TMP/w.out")"
ok "watch: $(grep "^leader $E holder=A " "$TMP/w.out")"

# --- status with a leader ---------------------------------------------------------------
candidate B $E
wait_until grep -q "^joined $E .*identity=B" "$TMP/w.out"
"${client[@]}" status $E >"$TMP/st.out" 2>"$TMP/st.err"
rc=$?
[ $rc = 0 ] || fail "status with a leader: exit $rc: $(cat "$TMP/st.err")"
[ "$(sed -n 's/^token: *//p' "$TMP/st.out")" = "$tok1" ] ||
	fail "status token is not $tok1: $(cat "$TMP/st.out")"
grep -q "^holder: *A (pid $PID_A)" "$TMP/st.out" || fail "status holder: $(cat "$TMP/st.out")"
grep -q "^members: *A\*, B$" "$TMP/st.out" || fail "status members: $(cat "$TMP/st.out")"
ok "status with a leader: exit 0, token $tok1 exactly"

# --- failover: A killed, B leads with a larger token --------------------------------------
kill -9 "$PID_A"
wait "$PID_A" 2>/dev/null
wait_until grep -q "^leader $E holder=B " "$TMP/w.out"
tok2=$(event_token "$TMP/w.out" "^leader $E holder=B ")
[ "$tok2" = "$(token $E)" ] || fail "watch: B's token $tok2 is not $(token $E)"
[ "$tok2" -gt "$tok1" ] 2>/dev/null || fail "B's token $tok2 is not above A's $tok1"
ok "watch after A's SIGKILL: $(grep "^leader $E holder=B " "$TMP/w.out")"

# --- no leader: B killed too, nobody left to lead -----------------------------------------
kill -9 "$PID_B"
wait "$PID_B" 2>/dev/null
wait_until grep -q "^no_leader $E " "$TMP/w.out"
"${client[@]}" status $E >"$TMP/st.out" 2>"$TMP/st.err"
rc=$?
[ $rc = 1 ] || fail "status without a leader: exit $rc, not 1: $(cat "$TMP/st.out" "$TMP/st.err")"
grep -q "^holder: *none$" "$TMP/st.out" || fail "status without a leader: $(cat "$TMP/st.out")"
[ "$(sed -n 's/^token: *//p' "$TMP/st.out")" = "$tok2" ] ||
	fail "status without a leader: the last token is not $tok2: $(cat "$TMP/st.out")"
ok "status without a leader: exit 1, $(grep "^no_leader $E " "$TMP/w.out")"

kill -TERM $W
wait $W
rc=$?
[ $rc = 0 ] || fail "watch on SIGTERM: exit $rc: $(cat "$TMP/w.err")"
[ -s "$TMP/w.err" ] && fail "watch wrote to stderr: $(cat "$TMP/w.err")"
ok "watch stops on SIGTERM: exit 0"
wait_until watchers 0

# --- overflow: a stopped watcher is dropped, reconnects and re-reads the state ----------------
"${client[@]}" watch >"$TMP/ov.out" 2>"$TMP/ov.err" &
OV=$!
track $OV
wait_until watchers 1
kill -STOP $OV
# join/leave rounds, each awaited on the churner's own watch: none coalesce
"$HELPER" churn "$SOCK" "$SEG" churn 1000000 >"$TMP/churn.out" &
CHURN=$!
track $CHURN
wait_until grep -q "watcher (pid $OV) does not keep up" "$TMP/daemon.log"
kill -CONT $OV
kill -TERM $CHURN
wait $CHURN || fail "churn failed: $(cat "$TMP/churn.out")"
wait_until grep -q "^overflow at seq [0-9]*: events lost, reconnecting" "$TMP/ov.err"
wait_until grep -q "^status churn holder=- " "$TMP/ov.out"
wait_until grep -q "^status $E holder=- token=$tok2 " "$TMP/ov.out"
candidate C e3
wait_until grep -q "^leader e3 holder=C token=$(token e3) " "$TMP/ov.out"
ok "overflow after $(grep -c '^joined churn' "$TMP/ov.out") joins: reconnected, state re-read, events again"

# --- the daemon goes away under a watcher -----------------------------------------------
stop_daemon || fail "daemon did not exit cleanly on SIGTERM"
wait_until exited $OV
wait $OV
rc=$?
[ $rc = 2 ] || fail "watch when the daemon exits: exit $rc, not 2"
grep -q "closed the connection" "$TMP/ov.err" || fail "watch when the daemon exits: $(cat "$TMP/ov.err")"
no_traceback "$TMP/ov.err"
ok "watch when the daemon exits: exit 2, $(tail -1 "$TMP/ov.err")"

echo "PASS"
exit 0
