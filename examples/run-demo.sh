#!/bin/bash
# A live demo of "shmelectctl run": three replicas of a command that knows
# nothing of shmelect, one running at a time.  The leader's wrapper is
# killed with SIGKILL; its command dies with it and another replica takes
# over with a larger fencing token.
#
#   examples/run-demo.sh [-e ELECTION] [-s SEGMENT] [-l LEASE_MS]
#
# It uses $SHMELECTCTL, else build/cli/shmelectctl of this source tree,
# else shmelectctl from $PATH.  Needs write access to the segment
# (/dev/shm/shmelect by default; created if missing).
set -u

election=demo
segment=${SHMELECT_SEGMENT:-shmelect}
lease_ms=1000
while getopts "e:s:l:h" opt; do
	case $opt in
	e) election=$OPTARG ;;
	s) segment=$OPTARG ;;
	l) lease_ms=$OPTARG ;;
	*) echo "usage: $0 [-e ELECTION] [-s SEGMENT] [-l LEASE_MS]" >&2; exit 2 ;;
	esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
ctl=${SHMELECTCTL:-}
[ -n "$ctl" ] || { [ -x "$here/build/cli/shmelectctl" ] && ctl=$here/build/cli/shmelectctl; }
[ -n "$ctl" ] || ctl=$(command -v shmelectctl) || {
	echo "run-demo: no shmelectctl: build the tree first (./scripts/test.sh or make), or set SHMELECTCTL" >&2
	exit 1
}
export SHMELECT_SEGMENT=$segment
unset SHMELECT_SOCKET
# the demo reads the segment itself, whether or not shmelectd runs
status() { "$ctl" --direct "$@"; }

bold='' plain=''
if [ -t 1 ]; then
	bold=$(tput bold 2>/dev/null || true)
	plain=$(tput sgr0 2>/dev/null || true)
fi
say() { printf '\n%s--- %s%s\n' "$bold" "$*" "$plain"; }

tmp=$(mktemp -d /tmp/shmelect-run-demo.XXXXXX) || exit 1
created_segment=false
[ -e "/dev/shm/$segment" ] || created_segment=true
declare -A pid
cleanup() {
	local id
	for id in "${!pid[@]}"; do
		kill -TERM "${pid[$id]}" 2>/dev/null
	done
	for id in "${!pid[@]}"; do
		wait "${pid[$id]}" 2>/dev/null
	done
	$created_segment && rm -f "/dev/shm/$segment"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# holder: the identity leading now, or nothing
holder() {
	status --json status "$election" 2>/dev/null |
		jq -r 'if .status.has_holder and (.status.expired | not) then .status.holder else "" end'
}
field() { status --json status "$election" | jq -r ".status.$1"; }
# the exact token (jq reads numbers as doubles)
token() { status --json status "$election" | grep -o '"token":[0-9]*' | head -n 1 | cut -d: -f2; }
wait_until() {
	local i
	for i in $(seq 1 500); do
		"$@" && return 0
		sleep 0.02
	done
	return 1
}
leads() { [ -n "$(holder)" ] && { [ -z "${1:-}" ] || [ "$(holder)" != "$1" ]; }; }

command -v jq >/dev/null || { echo "run-demo: needs jq" >&2; exit 1; }

echo "${bold}shmelectctl run: 3 replicas of a command, one running at a time${plain}"
echo "election '$election' in segment '$segment' (/dev/shm/$segment), lease $lease_ms ms; $ctl"

say "start 3 wrappers: shmelectctl run $election --identity replica-N -- sh -c '...'"
for n in 1 2 3; do
	id=replica-$n
	"$ctl" run "$election" --identity "$id" --lease "$lease_ms" -- \
		sh -c 'while :; do echo "  [$SHMELECT_IDENTITY] I am the leader with token $SHMELECT_TOKEN"; sleep 0.5; done' \
		2> >(sed -u 's/^/  /' >&2) &
	pid[$id]=$!
	sleep 0.2
done
wait_until leads || { echo "run-demo: nobody leads" >&2; exit 1; }
sleep 1.5

leader=$(holder)
old_token=$(token)
say "shmelectctl status $election"
status status "$election"

say "kill -9 the leader's wrapper, $leader (pid ${pid[$leader]}): its command must die with it"
before=$(field observed_ns)
kill -9 "${pid[$leader]}"
wait "${pid[$leader]}" 2>/dev/null
unset "pid[$leader]"
wait_until leads "$leader" || { echo "run-demo: nobody took over" >&2; exit 1; }
new=$(holder)
new_token=$(token)
after=$(field acquire_ns)
sleep 1.5
us=$(( (after - before) / 1000 ))
say "$new took over $((us / 1000)).$(printf %03d $((us % 1000))) ms after the kill (crash noticed through the robust futex), token $new_token > $old_token"
status status "$election"
if pgrep -f "I am the leader with token $old_token" >/dev/null; then
	echo "run-demo: the killed leader's command still runs!" >&2
	exit 1
fi
echo "  (no process of $leader's command is left: its keeper was told by PR_SET_PDEATHSIG;"
echo "   $new's command started only once they were gone.  $leader stays listed as a"
echo "   member until something reaps its slot, as shmelectd does)"

say "stop the new leader $new gracefully (SIGTERM): it stops its command, then resigns"
kill -TERM "${pid[$new]}"
wait "${pid[$new]}" 2>/dev/null
unset "pid[$new]"
wait_until leads "$new" || { echo "run-demo: nobody took over" >&2; exit 1; }
sleep 1.2
say "$(holder) leads, token $(token); done, cleaning up"
