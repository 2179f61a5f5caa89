#!/bin/bash
# shmelectd: the crash reaper breaks a dead holder's lease long before it
# expires, but never a stopped (live) holder's; kill -9 of the daemon leaves
# elections working and a restart re-attaches; with thousands of idle
# elections the daemon never wakes up (no polling).
# Exit 0 pass, 1 fail, 77 skip.

srcdir=${srcdir:-$(dirname "$0")/..}
. "$srcdir/tests/daemon-lib.sh"

# every lease here lasts an hour: anything that ends one sooner is the
# reaper, a resign or a follower, never expiry
start_daemon
watch all "{\"verb\":\"watch\",\"segment\":\"$SEG\"}"

metric() { req '{"verb":"metrics"}' | jq -r .metrics | sed -n "s/^$1 //p"; }

# --- SIGKILL of a sole holder: the daemon breaks its lease ------------------------------
candidate S solo
wait_until grep -q started "$TMP/S.out"
wait_until has_event all '.event == "leader" and .election == "solo" and .holder == "S"'
kill -9 "$PID_S"
wait "$PID_S" 2>/dev/null
wait_until has_event all '.event == "no_leader" and .election == "solo"'
wait_until has_event all '.event == "left" and .election == "solo" and .identity == "S"'
r=$(req "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"solo\"}")
echo "$r" | jq -e '.status.has_holder == false and .status.holder == null and .status.members == []' \
	>/dev/null || fail "status after the holder's death: $r"
[ "$(metric "shmelect_lease_breaks_total{segment=\"$SEG\"}")" = 1 ] || fail "lease_breaks_total is not 1"
[ "$(metric "shmelect_reaps_total{segment=\"$SEG\"}")" = 1 ] || fail "reaps_total is not 1"
grep -q "holder S (pid $PID_S) died" "$TMP/daemon.log" || fail "no log of the break"
ok "SIGKILLed holder (1 h lease): lease broken, slot freed, no_leader"

# --- SIGKILL of a holder with a follower: the follower leads ---------------------------------
candidate A duo
wait_until grep -q started "$TMP/A.out"
candidate B duo
wait_until has_event all '.event == "joined" and .election == "duo" and .identity == "B"'
kill -9 "$PID_A"
wait "$PID_A" 2>/dev/null
wait_until has_event all '.event == "leader" and .election == "duo" and .holder == "B"'
wait_until grep -q started "$TMP/B.out"
ok "SIGKILLed holder with a follower: the follower leads"

# --- SIGSTOP: alive, so never reaped -------------------------------------------------------
candidate T frozen
wait_until grep -q started "$TMP/T.out"
breaks=$(metric "shmelect_lease_breaks_total{segment=\"$SEG\"}")
kill -STOP "$PID_T"
# make the daemon look at the election again while T is stopped: a member
# joins, and the daemon reports it only after observing the election
"$HELPER" member "$SEG" frozen M >"$TMP/M.out" &
PID_M=$!
track $PID_M
wait_until has_event all '.event == "joined" and .election == "frozen" and .identity == "M"'
r=$(req "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"frozen\"}")
echo "$r" | jq -e '.status.has_holder and .status.holder == "T" and .status.expired == false
	and (.status.members | length == 2)' >/dev/null || fail "stopped holder lost its lease: $r"
[ "$(metric "shmelect_lease_breaks_total{segment=\"$SEG\"}")" = "$breaks" ] ||
	fail "a lease was broken while its holder was only stopped"
has_event all '.election == "frozen" and .event == "no_leader"' && fail "no_leader for a stopped holder"
kill -CONT "$PID_T"
r=$(req "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"frozen\"}")
echo "$r" | jq -e '.status.holder == "T"' >/dev/null || fail "holder after SIGCONT: $r"
grep -q stopped "$TMP/T.out" && fail "the stopped holder was made to step down"
ok "SIGSTOPped holder keeps its lease (alive: never reaped)"

# --- kill -9 of the daemon: elections go on; a restart re-attaches ----------------------
candidate X duo
wait_until has_event all '.event == "joined" and .election == "duo" and .identity == "X"'
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=""
# without the daemon: B leads; kill it, X takes over through the library alone
"$HELPER" observe "$SEG" duo | grep -q "holder=B " || fail "B does not lead after the daemon died"
kill -9 "$PID_B"
wait "$PID_B" 2>/dev/null
observed_x() { "$HELPER" observe "$SEG" duo | grep -q "has_holder=1 holder=X "; }
wait_until observed_x
wait_until grep -q started "$TMP/X.out"
# a member that dies while the daemon is away
"$HELPER" member "$SEG" duo Y >"$TMP/Y.out" &
PID_Y=$!
wait_until grep -q joined "$TMP/Y.out"
kill -9 "$PID_Y"
wait "$PID_Y" 2>/dev/null
start_daemon
r=$(req "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"duo\"}")
echo "$r" | jq -e '.status.has_holder and .status.holder == "X"' >/dev/null ||
	fail "restarted daemon does not report X: $r"
members_are_x() {
	req "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"duo\"}" |
		jq -e '.status.members | map(.identity) == ["X"]'
}
wait_until members_are_x
r=$(req '{"verb":"list"}')
echo "$r" | jq -e '.elections | map(.election) | sort == ["duo","frozen","solo"]' >/dev/null ||
	fail "list after restart: $r"
ok "kill -9 of the daemon: failover without it, restart reports X and frees Y's slot"

# --- no polling: 4096 idle elections, the daemon does not wake up ----------------------
stop_daemon
for p in $PIDS; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
wait 2>/dev/null
PIDS=""
printf '[segment %s-big]\nelections = 8192\ncandidates = 4\n' "$SEG" >"$TMP/big.conf"
start_daemon --config "$TMP/big.conf"
"$HELPER" mkelections "$SEG-big" 4096 >/dev/null || fail "cannot create 4096 elections"
n=$(req '{"verb":"list"}' | jq "[.elections[] | select(.segment == \"$SEG-big\")] | length")
[ "$n" = 4096 ] || fail "the daemon tracks $n elections, not 4096"
# "segment" filters the list: the other segment's only, and none of these
n=$(req "{\"verb\":\"list\",\"segment\":\"$SEG-big\"}" |
	jq "([.elections[] | select(.segment == \"$SEG-big\")] | length), (.elections | length)" | sort -u)
[ "$n" = 4096 ] || fail "list of segment $SEG-big: $n"
n=$(req "{\"verb\":\"list\",\"segment\":\"$SEG\"}" | jq "[.elections[] | select(.segment != \"$SEG\")] | length")
[ "$n" = 0 ] || fail "list of segment $SEG has $n elections of other segments"
switches() {
	cat /proc/"$DPID"/task/*/status | awk '/ctxt_switches/ { s += $2 } END { print s }'
}
cpu() { awk '{ print $14 + $15 }' /proc/"$DPID"/stat; }
sleep 1 # let the daemon finish with the list connection and go to sleep
s1=$(switches) c1=$(cpu)
sleep 2
s2=$(switches) c2=$(cpu)
# any timer, poll or spurious wake-up would count a context switch (not
# under ThreadSanitizer, whose runtime has a thread of its own that wakes)
[ "$s1" = "$s2" ] || [ -n "${SHMELECT_TSAN:-}" ] ||
	fail "the idle daemon woke up: $s1 -> $s2 context switches"
ok "4096 idle elections: no wake-up ($s1 context switches before and after; cpu ticks $c1 -> $c2)"

stop_daemon || fail "daemon did not exit cleanly on SIGTERM"
rm -f /dev/shm/"$SEG"-big
echo "PASS"
exit 0
