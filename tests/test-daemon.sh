#!/bin/bash
# shmelectd: every verb over the socket (socat + jq), the watch stream
# across failovers, handover/resign/evict, authorization, reload,
# segment mode and group, and the persisted token floor.
# Exit 0 pass, 1 fail, 77 skip.

srcdir=${srcdir:-$(dirname "$0")/..}
. "$srcdir/tests/daemon-lib.sh"

E=e1

start_daemon
ok "daemon up on $SOCK, segment $SEG"

# --- version, list ------------------------------------------------------------
r=$(req '{"verb":"version","id":"v1"}')
echo "$r" | jq -e '.id == "v1" and .ok == true and .protocol == 1 and (.version | type == "string")' \
	>/dev/null || fail "version: $r"
r=$(req '{"verb":"list"}')
echo "$r" | jq -e '.ok and .elections == []' >/dev/null || fail "empty list: $r"
ok "version, empty list"

# --- watch, two candidates --------------------------------------------------------
watch all "{\"verb\":\"watch\",\"segment\":\"$SEG\",\"id\":1}"
jq -e -s '.[0] == {"id":1,"ok":true,"watching":null,"seq":0}' "$TMP/all.out" >/dev/null ||
	fail "watch reply: $(head -1 "$TMP/all.out")"
watch only "{\"verb\":\"watch\",\"segment\":\"$SEG\",\"election\":\"other\"}"
jq -e -s '.[0].watching == "other"' "$TMP/only.out" >/dev/null || fail "watch reply for one election"

candidate A $E
wait_until grep -q started "$TMP/A.out"
candidate B $E
wait_until has_event all '.event == "joined" and .identity == "B"'
wait_until has_event all '.event == "leader" and .holder == "A"'
ok "watch: A joined and leads, B joined"

r=$(req "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"$E\"}")
echo "$r" | jq -e --argjson pa "$PID_A" --argjson pb "$PID_B" '.ok and .status as $s
	| $s.segment != null and $s.election == "e1" and $s.has_holder and $s.holder == "A"
	and $s.holder_pid == $pa and ($s.holder_slot | type == "number") and $s.term == 1
	and $s.transitions == 1 and $s.expired == false and $s.lease_ns == 3600000000000
	and $s.acquire_ns > 0 and $s.renew_ns >= $s.acquire_ns and $s.expiry_ns > $s.observed_ns
	and $s.locked_until_ns == 0 and ($s.advert | type == "string")
	and ($s.members | length == 2)
	and ($s.members | map(.identity) | sort == ["A","B"])
	and ($s.members[] | select(.identity == "A") | .is_holder and .pid == $pa)
	and ($s.members[] | select(.identity == "B") | (.is_holder | not) and .pid == $pb
	     and .priority == 0 and .joined_ns > 0 and .lease_ns == 3600000000000)' >/dev/null ||
	fail "status: $r"
# the exact token, compared as text (jq rounds numbers above 2^53)
tok=$(token $E)
echo "$r" | grep -q "\"token\":$tok," || fail "status token is not $tok: $r"
ok "status"

r=$(req '{"verb":"list"}')
echo "$r" | jq -e --arg seg "$SEG" '.ok and (.elections | length == 1) and .elections[0] as $e
	| $e.segment == $seg and $e.election == "e1" and $e.has_holder and $e.holder == "A"
	and ($e.holder_pid | type == "number") and $e.term == 1 and $e.transitions == 1
	and $e.expired == false and $e.members == 2 and ($e.token | type == "number")' >/dev/null ||
	fail "list: $r"
ok "list"

r=$(req '{"verb":"metrics"}')
m=$(echo "$r" | jq -r .metrics)
for want in \
	"shmelect_is_leader{segment=\"$SEG\",election=\"$E\",identity=\"A\"} 1" \
	"shmelect_is_leader{segment=\"$SEG\",election=\"$E\",identity=\"B\"} 0" \
	"shmelect_token{segment=\"$SEG\",election=\"$E\"} $tok" \
	"shmelect_transitions_total{segment=\"$SEG\",election=\"$E\"} 1" \
	"shmelect_members{segment=\"$SEG\",election=\"$E\"} 2" \
	"shmelect_reaps_total{segment=\"$SEG\"} 0" \
	"# TYPE shmelect_is_leader gauge" \
	"# TYPE shmelect_transitions_total counter" \
	"# TYPE shmelect_failovers_total counter" \
	"# TYPE shmelect_reaps_total counter" \
	"# HELP shmelect_lease_age_seconds"; do
	grep -qxF "$want" <<<"$m" || grep -qF "$want" <<<"$m" || fail "metrics lack: $want
$m"
done
grep -qE "^shmelect_lease_age_seconds\{segment=\"$SEG\",election=\"$E\"\} [0-9.]+$" <<<"$m" ||
	fail "metrics: no lease age"
ok "metrics"

# --- failover: A stops gracefully, B takes over -------------------------------------
kill -TERM "$PID_A"
wait_until has_event all '.event == "leader" and .holder == "B" and .term == 2'
wait_until has_event all '.event == "left" and .identity == "A"'
[ "$(status $E holder)" = B ] || fail "after failover, holder is not B"
r=$(req '{"verb":"metrics"}' | jq -r .metrics)
grep -qF "shmelect_failovers_total{segment=\"$SEG\",election=\"$E\"} 1" <<<"$r" ||
	fail "failovers_total after one failover: $r"
ok "failover A -> B in the watch stream"

# --- operator verbs ------------------------------------------------------------------
# An elector that just lost waits a retry period (20 min with these 1 h
# leases) before contending again, so each step brings a fresh follower.
candidate A2 $E
wait_until has_event all '.event == "joined" and .identity == "A2" and .holder == "B"'
r=$(req "{\"verb\":\"handover\",\"segment\":\"$SEG\",\"election\":\"$E\",\"to\":\"A2\",\"id\":2}")
echo "$r" | jq -e '.id == 2 and .ok and .done == false' >/dev/null || fail "handover: $r"
wait_until has_event all '.event == "leader" and .holder == "A2" and .term == 3'
wait_until grep -q started "$TMP/A2.out"
ok "handover (a request, carried out by B's elector)"

candidate C $E
wait_until has_event all '.event == "joined" and .identity == "C"'
r=$(req "{\"verb\":\"handover\",\"segment\":\"$SEG\",\"election\":\"$E\",\"to\":\"C\",\"force\":true}")
echo "$r" | jq -e '.ok and .done == true' >/dev/null || fail "forced handover: $r"
wait_until has_event all '.event == "leader" and .holder == "C" and .term == 4'
wait_until grep -q started "$TMP/C.out"
ok "forced handover"

r=$(req "{\"verb\":\"handover\",\"segment\":\"$SEG\",\"election\":\"$E\",\"to\":\"nobody\"}")
echo "$r" | jq -e '.ok == false and .error == "ESRCH" and .errno == 3 and (.message | type == "string")' \
	>/dev/null || fail "handover to a non-member: $r"
r=$(req "{\"verb\":\"handover\",\"segment\":\"$SEG\",\"election\":\"$E\"}")
echo "$r" | jq -e '.error == "EINVAL"' >/dev/null || fail "handover without to: $r"

candidate D $E
wait_until has_event all '.event == "joined" and .identity == "D"'
r=$(req "{\"verb\":\"resign\",\"segment\":\"$SEG\",\"election\":\"$E\"}")
echo "$r" | jq -e '.ok == true' >/dev/null || fail "resign: $r"
wait_until has_event all '.event == "leader" and .holder == "D" and .term == 5'
wait_until grep -q "^stopped" "$TMP/C.out"
ok "resign: C stepped down, D leads"

candidate F $E
wait_until has_event all '.event == "joined" and .identity == "F"'
r=$(req "{\"verb\":\"evict\",\"segment\":\"$SEG\",\"election\":\"$E\"}")
echo "$r" | jq -e '.ok and .evicted == true' >/dev/null || fail "evict: $r"
wait_until has_event all '.event == "leader" and .holder == "F" and .term == 6'
ok "evict: a new term"

r=$(req "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"nope\"}")
echo "$r" | jq -e '.ok == false and .error == "ENOENT" and .errno == 2' >/dev/null ||
	fail "status of an unknown election: $r"
r=$(req '{"verb":"list","segment":"nope"}')
echo "$r" | jq -e '.ok == false and .error == "ENOENT"' >/dev/null || fail "list of an unknown segment: $r"
all=$(req '{"verb":"list"}' | jq -c .elections)
# the same filter through both readers: a flat request, and one with blanks
# (which the daemon hands to json-c)
for q in "{\"verb\":\"list\",\"segment\":\"$SEG\"}" "{ \"verb\": \"list\", \"segment\": \"$SEG\" }"; do
	r=$(req "$q" | jq -c .elections)
	[ "$r" = "$all" ] && [ "$r" != "[]" ] || fail "list of segment $SEG ($q): $r, all: $all"
done
r=$(req '{"verb":"watch","segment":"nope"}')
echo "$r" | jq -e '.error == "ENOENT"' >/dev/null || fail "watch of an unknown segment: $r"
ok "errors: ENOENT, ESRCH, EINVAL"

# --- one election only ------------------------------------------------------------
"$HELPER" member "$SEG" other X >"$TMP/X.out" &
track $!
wait_until grep -q joined "$TMP/X.out"
wait_until has_event only '.event == "joined" and .identity == "X"'
jq -e -s 'map(select(has("event"))) | all(.election == "other")' "$TMP/only.out" >/dev/null ||
	fail "a watch of one election got others' events"
ok "watch of one election"

seq_ok all || fail "watch seq has gaps: $(jq -c -s 'map(.seq)' "$TMP/all.out")"
seq_ok only || fail "watch seq has gaps (one election)"
ok "seq 1, 2, 3, ... without gaps"

# --- authorization ---------------------------------------------------------------
if ! setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
	echo "note: cannot switch to nobody here; authorization not tested"
else
	for v in handover resign evict; do
		r=$(req_nobody "{\"verb\":\"$v\",\"segment\":\"$SEG\",\"election\":\"$E\",\"to\":\"A\",\"id\":9}")
		echo "$r" | jq -e '.id == 9 and .ok == false and .error == "EPERM" and .errno == 1' \
			>/dev/null || fail "$v as nobody: $r"
	done
	for v in version list metrics; do
		req_nobody "{\"verb\":\"$v\"}" | jq -e .ok >/dev/null || fail "$v as nobody refused"
	done
	req_nobody "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"$E\"}" | jq -e .ok \
		>/dev/null || fail "status as nobody refused"
	ok "nobody may read, not operate"

	# operator-group, set through a reload (SIGHUP) of a configuration file
	printf 'operator-group = daemon\n' >"$TMP/shmelectd.conf"
	stop_daemon || fail "daemon did not exit cleanly on SIGTERM"
	start_daemon --config "$TMP/shmelectd.conf"
	r=$(printf '{"verb":"evict","segment":"%s","election":"%s"}\n' "$SEG" "$E" |
		setpriv --reuid=nobody --regid=nogroup --groups=daemon socat -t 30 - UNIX-CONNECT:"$SOCK")
	echo "$r" | jq -e '.ok' >/dev/null || fail "evict by a member of operator-group: $r"
	printf 'operator-group = root\n' >"$TMP/shmelectd.conf"
	kill -HUP "$DPID"
	refused() {
		printf '{"verb":"evict","segment":"%s","election":"%s"}\n' "$SEG" "$E" |
			setpriv --reuid=nobody --regid=nogroup --groups=daemon \
				socat -t 30 - UNIX-CONNECT:"$SOCK" | grep -q EPERM
	}
	wait_until refused
	ok "operator-group, and its change on SIGHUP"
fi

# --- token floor --------------------------------------------------------------------
tok=$(token $E)
[ -f "$STATE/$SEG.token" ] || fail "no state file $STATE/$SEG.token"
saved=$(cat "$STATE/$SEG.token")
[ "$saved" -ge "$tok" ] 2>/dev/null || fail "state file has $saved, below the token $tok"
stop_daemon || fail "daemon did not exit cleanly on SIGTERM"
[ -e "$SOCK" ] && fail "socket left behind after exit"
for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
wait 2>/dev/null
PIDS=""
rm -f /dev/shm/"$SEG"
# as if the wall clock had gone back: a floor far above any clock-based token
floor=9000000000000000000
echo $floor >"$STATE/$SEG.token"
start_daemon
candidate C $E
wait_until grep -q started "$TMP/C.out"
tok=$(token $E)
[ "$tok" -gt "$floor" ] 2>/dev/null || fail "token $tok of a re-created segment is not above the floor $floor"
ok "re-created segment continues above the persisted floor"

# --- mode and group ---------------------------------------------------------------
stop_daemon
printf '[segment %s-g]\nmode = 0660\ngroup = daemon\nelections = 16\ncandidates = 4\n' "$SEG" \
	>"$TMP/seg.conf"
start_daemon --config "$TMP/seg.conf"
[ "$(stat -c '%a %G' /dev/shm/"$SEG"-g)" = "660 daemon" ] ||
	fail "segment mode/group: $(stat -c '%a %G' /dev/shm/"$SEG"-g)"
r=$(req '{"verb":"metrics"}' | jq -r .metrics)
grep -qF "shmelect_reaps_total{segment=\"$SEG-g\"} 0" <<<"$r" || fail "second segment not owned"
ok "configured segment: mode 0660, group daemon"

stop_daemon || fail "daemon did not exit cleanly on SIGTERM"
echo "PASS"
exit 0
