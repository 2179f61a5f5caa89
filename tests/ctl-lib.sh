# Shared by the shmelectctl tests (sourced by bash).  Run from the build
# directory (automake runs tests there); exit 0 pass, 1 fail, 77 skip.
#
# Every test gets a private segment, a private socket path and a private
# temporary directory; everything it starts is killed on exit.  Waits are
# for conditions, with generous limits that only bound a hung test: no
# test asserts how long anything took.

set -u

builddir=$(pwd)
srcdir=${srcdir:-.}
srcdir=$(cd "$srcdir" && pwd)
ctl=$builddir/cli/shmelectctl
child=$builddir/tests/overlap-child
name=$(basename "$0" .sh)

[ -x "$ctl" ] || { echo "FAIL: $ctl not built"; exit 1; }
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }

tmp=$(mktemp -d "/tmp/shmelect-$name.XXXXXX") || exit 1
chmod 755 "$tmp"
seg="t-$name-$$"
export SHMELECT_SEGMENT=$seg
# no daemon here unless a test starts one: the default mode reads the segment
export SHMELECT_SOCKET=$tmp/no-daemon.sock

bg_pids=()
cleanup_hooks=()

cleanup() {
	local p h
	for h in "${cleanup_hooks[@]}"; do
		$h
	done
	for p in "${bg_pids[@]}"; do
		kill -9 "$p" 2>/dev/null
	done
	for p in "${bg_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	rm -f "/dev/shm/$seg"
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*"
	exit 1
}

skip() {
	echo "SKIP: $*"
	exit 77
}

pass() {
	echo "ok - $*"
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds; 1 if it never does.
wait_for() {
	local limit=$1 end
	shift
	end=$((SECONDS + limit))
	until "$@"; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.02
	done
	return 0
}

# expect_exit CODE COMMAND...: run it, keep stdout in $out, stderr in $err.
expect_exit() {
	local want=$1 got
	shift
	out=$("$@" 2>"$tmp/stderr")
	got=$?
	err=$(cat "$tmp/stderr")
	if [ "$got" -ne "$want" ]; then
		echo "--- stdout:"; echo "$out"; echo "--- stderr:"; echo "$err"
		fail "'$*' exited $got, expected $want"
	fi
}

# assert_jq FILTER: $out passes the jq filter (which must yield true).
assert_jq() {
	local v
	v=$(printf '%s\n' "$out" | jq -e "$1" 2>&1) || {
		echo "--- json:"; echo "$out"
		fail "jq '$1' is $v"
	}
}

assert_match() {
	printf '%s\n' "$1" | grep -qE -- "$2" || { echo "--- text:"; echo "$1"; fail "no match for /$2/"; }
}

# The exact token in a JSON status (jq reads numbers as doubles).
json_token() {
	printf '%s\n' "$1" | grep -o '"token":[0-9]*' | head -n 1 | cut -d: -f2
}

# holder ELECTION: the identity leading now (valid lease), or nothing.
holder() {
	"$ctl" --direct --json status "$1" 2>/dev/null |
		jq -r 'if .status.has_holder and (.status.expired | not) then .status.holder else "" end'
}

holder_is() {
	[ "$(holder "$1")" = "$2" ]
}

token_of() {
	json_token "$("$ctl" --direct --json status "$1" 2>/dev/null)"
}

# start_run ELECTION IDENTITY LOG [RUN OPTIONS...] -- COMMAND...: a wrapper
# in the background, its stderr in $tmp/IDENTITY.err; sets $run_pid.
start_run() {
	local election=$1 id=$2
	shift 2
	"$ctl" run "$election" --identity "$id" "$@" 2>>"$tmp/$id.err" &
	run_pid=$!
	bg_pids+=("$run_pid")
}

# started LOG IDENTITY [N]: at least N (default 1) commands of IDENTITY started.
started() {
	local n
	n=$(grep -c "^start .* $2\$" "$1" 2>/dev/null)
	[ "${n:-0}" -ge "${3:-1}" ]
}

# ended LOG IDENTITY [N]: at least N of its commands logged an end (SIGTERM).
ended() {
	local n
	n=$(grep -c "^end .* $2\$" "$1" 2>/dev/null)
	[ "${n:-0}" -ge "${3:-1}" ]
}

check_overlap() {
	local r
	r=$("$child" --check "$1" 2>&1) || { echo "--- log:"; tail -n 40 "$1"; fail "$r"; }
	echo "   $r"
}

# pid_gone PID: the process does not exist (or is a zombie).
pid_gone() {
	! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# last_pid LOG IDENTITY: the pid of IDENTITY's latest command.
last_pid() {
	grep "^start .* $2\$" "$1" | tail -n 1 | cut -d' ' -f2
}
