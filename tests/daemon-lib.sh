# Shared by the shmelectd shell tests (sourced, not run).
#
# Every test gets a private segment name and a private socket in its own
# temporary directory (never the defaults), and kills everything it started
# on exit.  Waits have generous timeouts that only turn a hang into a
# failure; no test asserts how fast anything happens.

set -u

builddir=$(pwd)
DAEMON=$builddir/daemon/shmelectd
HELPER=$builddir/tests/daemon-helper
WAIT_SECS=${WAIT_SECS:-60}

skip() { echo "SKIP: $*"; exit 77; }
fail() {
	echo "FAIL: $*"
	if [ -n "${TMP:-}" ] && [ -f "$TMP/daemon.log" ]; then
		echo "--- daemon log"
		cat "$TMP/daemon.log"
	fi
	exit 1
}
ok() { echo "ok - $*"; }

for tool in socat jq; do
	command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
done
[ -x "$DAEMON" ] || skip "$DAEMON not built"
[ -x "$HELPER" ] || skip "$HELPER not built"

TMP=$(mktemp -d /tmp/shmelectd-test.XXXXXX) || exit 1
chmod 755 "$TMP" # the socket must be reachable for the "nobody" client
SEG=sdt-$$-$RANDOM
SOCK=$TMP/shmelectd.sock
STATE=$TMP/state
PIDS=""
DPID=""

cleanup() {
	for p in $PIDS $DPID; do
		kill -CONT "$p" 2>/dev/null
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -f /dev/shm/"$SEG" /dev/shm/"$SEG"-*
	rm -rf "$TMP"
}
trap cleanup EXIT

# track a background process for cleanup
track() { PIDS="$PIDS $1"; }

# wait_until CMD...: retry CMD until it succeeds, or fail after WAIT_SECS
wait_until() {
	local i=0
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ "$i" -gt $((WAIT_SECS * 20)) ] && fail "timed out waiting for: $*"
		sleep 0.05
	done
}

# req JSON: one request, its response on stdout
req() { printf '%s\n' "$1" | socat -t 30 - UNIX-CONNECT:"$SOCK"; }
# req_as_nobody JSON
req_nobody() {
	printf '%s\n' "$1" | setpriv --reuid=nobody --regid=nogroup --clear-groups \
		socat -t 30 - UNIX-CONNECT:"$SOCK"
}

daemon_up() { req '{"verb":"version"}' | grep -q '"ok":true'; }

# start_daemon [ARGS...]: run shmelectd on the private socket and segment
start_daemon() {
	"$DAEMON" --socket "$SOCK" --state-dir "$STATE" --segment "$SEG" "$@" \
		2>>"$TMP/daemon.log" &
	DPID=$!
	wait_until daemon_up
}

stop_daemon() {
	[ -n "$DPID" ] || return 0
	kill -TERM "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	local rc=$?
	DPID=""
	return $rc
}

# watch NAME JSON: a watcher writing events to $TMP/NAME.out
watch() {
	printf '%s\n' "$2" | socat -t 100000 - UNIX-CONNECT:"$SOCK" >"$TMP/$1.out" &
	track $!
	wait_until grep -q '"seq":0' "$TMP/$1.out"
}

# has_event NAME JQ-FILTER: some event in $TMP/NAME.out matches
has_event() { jq -e -s "map(select($2)) | length > 0" "$TMP/$1.out" >/dev/null; }

# seq_ok NAME: the events' seq are 1, 2, 3, ... without gaps
seq_ok() {
	jq -e -s '[.[] | select(has("event")) | .seq] as $s
		| $s == [range(1; ($s | length) + 1)]' "$TMP/$1.out" >/dev/null
}

# candidate NAME ELECTION [LEASE_MS]: an elector, output in $TMP/NAME.out
candidate() {
	"$HELPER" candidate "$SEG" "$2" "$1" "${3:-3600000}" >"$TMP/$1.out" 2>&1 &
	eval "PID_$1=$!"
	track $!
	wait_until grep -q joined "$TMP/$1.out"
}

# status ELECTION FIELD: .status.FIELD as jq prints it
status() {
	req "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"$1\"}" | jq -r ".status.$2"
}

# token ELECTION: the exact token, from the segment (jq rounds above 2^53)
token() { "$HELPER" observe "$SEG" "$1" | sed -n 's/.*token=\([0-9]*\).*/\1/p'; }
