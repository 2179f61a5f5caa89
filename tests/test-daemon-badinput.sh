#!/bin/bash
# shmelectd under bad input: malformed JSON, wrong types, unknown verbs,
# oversized lines, thousands of connections, clients that never read.
# Each gets an error or is dropped; every other client is served as before.
# Exit 0 pass, 1 fail, 77 skip.

srcdir=${srcdir:-$(dirname "$0")/..}
. "$srcdir/tests/daemon-lib.sh"

start_daemon

# A client connected all along, on which we keep asking "version".
mkfifo "$TMP/steady.in"
socat -t 100000 - UNIX-CONNECT:"$SOCK" <"$TMP/steady.in" >"$TMP/steady.out" &
track $!
exec 7>"$TMP/steady.in"
n_steady=0
steady_ok() {
	n_steady=$((n_steady + 1))
	printf '{"verb":"version","id":%d}\n' "$n_steady" >&7
	wait_until grep -q "\"id\":$n_steady,\"ok\":true" "$TMP/steady.out"
}
steady_ok

# A watcher that keeps up, all along.
watch good "{\"verb\":\"watch\",\"segment\":\"$SEG\"}"

# --- malformed requests: an error each, the connection stays open ----------------
{
	printf '{"verb":\n'
	printf 'not json at all\n'
	printf '[1,2]\n'
	printf '"verb"\n'
	printf '42\n'
	printf '{}\n'
	printf '{"verb":7}\n'
	printf '{"verb":"version"} trailing\n'
	printf '{"verb":"version"}\0hidden\n'
	printf '{"verb":"frobnicate","id":{"a":[1,null]}}\n'
	printf '{"verb":"status","segment":1,"election":"x"}\n'
	printf '{"verb":"status","election":["x"]}\n'
	printf '{"verb":"handover","segment":"%s","election":"x","to":"y","force":"yes"}\n' "$SEG"
	printf '{"verb":"status","segment":"%s"}\n' "$SEG"
	printf '{"verb":"status","segment":"%s","election":"x\\u0000y"}\n' "$SEG"
	printf '\xff\xfe{}\n'
	printf '%s\n' "$(printf '[%.0s' $(seq 1 100))"
	printf '\n'
	printf '{"verb":"version","id":"last"}\n'
} | socat -t 30 - UNIX-CONNECT:"$SOCK" >"$TMP/bad.out"
expect='["EBADMSG","EBADMSG","EINVAL","EINVAL","EINVAL","EINVAL","EINVAL","EBADMSG","EBADMSG",
	"EOPNOTSUPP","EINVAL","EINVAL","EINVAL","EINVAL","EINVAL","EBADMSG","EBADMSG",null]'
jq -e -s --argjson want "$expect" 'map(.error) == $want' "$TMP/bad.out" >/dev/null ||
	fail "errors for malformed requests: $(cat "$TMP/bad.out")"
jq -e -s '.[9].id == {"a":[1,null]} and (.[-1] | .id == "last" and .ok)
	and (.[:-1] | all(.ok == false and (.errno | type == "number") and (.message | type == "string")))' \
	"$TMP/bad.out" >/dev/null || fail "error replies: $(cat "$TMP/bad.out")"
ok "malformed JSON, not an object, missing or bad fields, unknown verb: errors, connection kept"

# --- line length: 4096 bytes pass, 4097 get EMSGSIZE and a close -----------------------
pad=$(printf '%*s' $((4096 - 18)) '')
line="{\"verb\":\"version\"}$pad"
[ ${#line} -eq 4096 ] || fail "test bug: line of ${#line} bytes"
r=$(printf '%s\n' "$line" | socat -t 30 - UNIX-CONNECT:"$SOCK")
echo "$r" | jq -e .ok >/dev/null || fail "a 4096-byte line was refused: $r"
r=$(printf '{"verb":"version","id":1}\n%s \n{"verb":"version","id":2}\n' "$line" |
	socat -t 30 - UNIX-CONNECT:"$SOCK")
echo "$r" | jq -e -s 'length == 2 and .[0].id == 1 and .[1].error == "EMSGSIZE" and .[1].errno == 90' \
	>/dev/null || fail "4097-byte line: $r"
r=$(head -c 1000000 /dev/zero | tr '\0' x | socat -t 30 - UNIX-CONNECT:"$SOCK")
echo "$r" | jq -e -s 'length == 1 and .[0].error == "EMSGSIZE"' >/dev/null || fail "1 MB line: $r"
steady_ok
ok "4096-byte line accepted; longer: EMSGSIZE and closed"

# --- thousands of connections -------------------------------------------------------------
"$HELPER" flood "$SOCK" 2000 >"$TMP/flood.out" &
FLOOD=$!
track $FLOOD
wait_until grep -q accepted= "$TMP/flood.out"
read -r acc ref oth < <(sed 's/accepted=\([0-9]*\) refused=\([0-9]*\) other=\([0-9]*\)/\1 \2 \3/' \
	"$TMP/flood.out")
# 1024 connections at most: ours (steady, good watcher) hold two
[ "$oth" = 0 ] && [ $((acc + ref)) = 2000 ] && [ "$acc" -le 1022 ] && [ "$ref" -ge 978 ] ||
	fail "flood: $(cat "$TMP/flood.out")"
r=$(req '{"verb":"version"}')
echo "$r" | jq -e '.error == "EUSERS"' >/dev/null || fail "a connection over the cap: $r"
steady_ok
"$HELPER" member "$SEG" e Z >"$TMP/Z.out" &
track $!
wait_until has_event good '.event == "joined" and .identity == "Z"'
kill -TERM "$FLOOD"
wait "$FLOOD" || fail "flood helper failed"
wait_until daemon_up
ok "2000 connections: $acc served, $ref refused with EUSERS; established clients unaffected"

# --- a client that sends requests and never reads: back-pressure ---------------------------
"$HELPER" pipeline "$SOCK" >"$TMP/pipe.out" &
PIPE=$!
track $PIPE
wait_until grep -q blocked "$TMP/pipe.out"
steady_ok
req '{"verb":"list"}' | jq -e .ok >/dev/null || fail "list while a client does not read"
kill "$PIPE"
ok "a client that never reads its answers is paused, others served"

# --- a watcher that never reads: overflow, dropped ----------------------------------------
"$HELPER" noread "$SOCK" "$SEG" >"$TMP/noread.out" &
NOREAD=$!
track $NOREAD
wait_until grep -q watching "$TMP/noread.out"
watchers() { req '{"verb":"metrics"}' | jq -r .metrics | sed -n 's/^shmelectd_watchers //p'; }
wait_until test "$(watchers)" = 2
# join/leave rounds, each awaited on the churner's own watch: none coalesce
"$HELPER" churn "$SOCK" "$SEG" churn 1000000 >"$TMP/churn.out" &
CHURN=$!
track $CHURN
wait_until grep -q "watcher (pid $NOREAD) does not keep up" "$TMP/daemon.log"
kill -USR1 "$NOREAD"
kill -TERM "$CHURN"
wait "$CHURN" || fail "churn failed: $(cat "$TMP/churn.out")"
rounds=$(sed -n 's/^churned //p' "$TMP/churn.out")
wait "$NOREAD"
line=$(cat "$TMP/noread.out" | tail -1)
echo "$line" | grep -q ' gaps=0 ' || fail "the dropped watcher saw gaps: $line"
echo "$line" | grep -q ' first_seq=1 ' || fail "the dropped watcher missed the first events: $line"
last=$(echo "$line" | sed -n 's/.* last_seq=\([0-9]*\) .*/\1/p')
echo "$line" | grep -q "last={\"event\":\"overflow\",\"seq\":$last}" ||
	fail "the dropped watcher's last line is not overflow: $line"
ok "non-reading watcher: events 1..$((last - 1)) then overflow seq $last, then disconnected"

wait_until has_event good ".event == \"left\" and .identity == \"churn-$((rounds - 1))\""
n=$(jq -s '[.[] | select(.election == "churn")] | length' "$TMP/good.out")
[ "$n" = $((2 * rounds)) ] || fail "the good watcher saw $n churn events, not $((2 * rounds))"
seq_ok good || fail "the good watcher's seq has gaps"
steady_ok
ok "a watcher that keeps up got all $n events in order; steady client still served"

stop_daemon || fail "daemon did not exit cleanly on SIGTERM"
echo "PASS"
exit 0
