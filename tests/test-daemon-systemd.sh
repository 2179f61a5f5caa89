#!/bin/bash
# shmelectd.socket and shmelectd.service under a real systemd user manager:
# socket activation, Type=notify (ActiveState=active, StatusText kept
# current), queries through the activated socket, reload (SIGHUP), the
# watchdog firing on a daemon stopped with SIGSTOP (Result=watchdog, then a
# restart), and a clean stop.
#
# The manager runs in a private mount namespace (DESIGN.md, "Running real
# systemd in tests").  The units are the real ones with ExecStart pointing
# into the build tree, a private socket path and segment, a short watchdog,
# and without the namespace-based sandboxing a user manager cannot set up;
# the seccomp and prctl-based settings (SystemCallFilter=,
# RestrictAddressFamilies=, NoNewPrivileges=, MemoryDenyWriteExecute= ...)
# are kept, so the daemon is tested under them.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

if [ -z "${SHMELECTD_TEST_IN_NS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for a private mount namespace and tmpfs on /run/systemd"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: unshare is not installed"; exit 77; }
	command -v systemctl >/dev/null || { echo "SKIP: systemctl is not installed"; exit 77; }
	[ -x /lib/systemd/systemd ] || { echo "SKIP: /lib/systemd/systemd is not installed"; exit 77; }
	unshare -m --propagation private true 2>/dev/null ||
		{ echo "SKIP: cannot create a mount namespace here (unshare -m failed)"; exit 77; }
	SHMELECTD_TEST_IN_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

srcdir=${srcdir:-$(dirname "$0")/..}
. "$srcdir/tests/daemon-lib.sh"
[ -f "$builddir/units/shmelectd.service" ] || fail "units/shmelectd.service not built"

# --- a user manager -------------------------------------------------------------------
mkdir -p /run/systemd
mount -t tmpfs tmpfs /run/systemd || skip "cannot mount a tmpfs on /run/systemd"
mkdir -p /run/systemd/system
export XDG_RUNTIME_DIR=$TMP/xdg HOME=$TMP/home
mkdir -m 0700 "$XDG_RUNTIME_DIR"
mkdir -p "$HOME"
unitdir=$XDG_RUNTIME_DIR/systemd/user
mkdir -p "$unitdir"
unset DBUS_SESSION_BUS_ADDRESS NOTIFY_SOCKET
/lib/systemd/systemd --user >"$TMP/manager.log" 2>&1 &
MANAGER=$!
track $MANAGER
manager_up() {
	case $(systemctl --user is-system-running 2>/dev/null) in
	running | degraded) return 0 ;;
	esac
	return 1
}
i=0
until manager_up; do
	i=$((i + 1))
	[ $i -gt 600 ] && { tail -n 20 "$TMP/manager.log"; skip "the systemd user manager did not come up"; }
	sleep 0.05
done

# --- the units, from the build tree ----------------------------------------------------------
SOCK=$TMP/run/shmelectd.sock
: >"$TMP/empty.conf"
sed -e "s|^ListenStream=.*|ListenStream=$SOCK|" "$srcdir/units/shmelectd.socket" \
	>"$unitdir/shmelectd.socket"
# drop what needs namespaces or capabilities a user manager does not have
sed -E \
	-e "s|^ExecStart=.*|ExecStart=$DAEMON --config $TMP/empty.conf --segment $SEG|" \
	-e 's|^WatchdogSec=.*|WatchdogSec=2s|' \
	-e 's|^RestartSec=.*|RestartSec=3s|' \
	-e '/^(CapabilityBoundingSet|ProtectSystem|ReadWritePaths|ProtectHome|PrivateTmp|PrivateDevices|PrivateNetwork|PrivateIPC|PrivateMounts|IPAddressDeny|ProtectHostname|ProtectClock|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|RestrictNamespaces|LimitNOFILE)=/d' \
	"$builddir/units/shmelectd.service" >"$TMP/service"
# our additions go into [Service], after Type=
{
	sed -n '1,/^Type=/p' "$TMP/service"
	echo "StandardError=append:$TMP/daemon.log"
	echo "LimitCORE=0"
	# under --enable-asan: LeakSanitizer needs ptrace(2), which
	# SystemCallFilter=@system-service forbids (the other tests check leaks)
	echo "Environment=ASAN_OPTIONS=detect_leaks=0"
	echo "ExecStopPost=/bin/sh -c 'echo \"\$\$SERVICE_RESULT \$\$EXIT_CODE \$\$EXIT_STATUS\" >>$TMP/results'"
	sed -n '/^Type=/,$p' "$TMP/service" | tail -n +2
} >"$unitdir/shmelectd.service"
grep -q '^Type=notify' "$unitdir/shmelectd.service" || fail "the unit is not Type=notify"
systemctl --user daemon-reload || fail "daemon-reload failed"

prop() { systemctl --user show -p "$2" --value "$1"; }
prop_is() { [ "$(prop "$1" "$2")" = "$3" ]; }
status_has() { [[ "$(prop shmelectd.service StatusText)" == *"$1"* ]]; }
diagnose() {
	systemctl --user status shmelectd.socket shmelectd.service --no-pager 2>&1 | head -30
	tail -n 20 "$TMP/manager.log"
}

# --- socket activation -----------------------------------------------------------------------
timeout 60 systemctl --user start shmelectd.socket || { diagnose; fail "shmelectd.socket did not start"; }
prop_is shmelectd.socket ActiveState active || fail "socket not active"
prop_is shmelectd.service ActiveState inactive || fail "service started before any client"
[ "$(stat -c %a "$SOCK")" = 666 ] || fail "socket mode $(stat -c %a "$SOCK"), not 666"
r=$(req '{"verb":"version"}')
echo "$r" | jq -e '.ok and .protocol == 1' >/dev/null || { diagnose; fail "version through the socket: $r"; }
wait_until prop_is shmelectd.service ActiveState active
grep -q "listening on the socket passed by systemd" "$TMP/daemon.log" ||
	fail "the daemon did not use the passed socket"
DPID=$(prop shmelectd.service MainPID)
ok "socket activation: first connection started the service (pid $DPID), Type=notify, active"

# --- StatusText follows the elections ----------------------------------------------------
wait_until status_has "0 elections in 1 segment"
candidate A app
wait_until grep -q started "$TMP/A.out"
tok=$(token app)
wait_until status_has "app: A token $tok"
echo "   StatusText=$(prop shmelectd.service StatusText)"
r=$(req "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"app\"}")
echo "$r" | jq -e '.status.holder == "A"' >/dev/null || fail "status through systemd's socket: $r"
grep -q '^<6>' "$TMP/daemon.log" || fail "no sd-daemon priority prefixes in the log"
ok "StatusText names the leader and token; status through the socket"

# --- reload --------------------------------------------------------------------------------
timeout 60 systemctl --user reload shmelectd.service || { diagnose; fail "reload failed"; }
wait_until grep -q "reloading" "$TMP/daemon.log"
wait_until prop_is shmelectd.service ActiveState active
[ "$(prop shmelectd.service MainPID)" = "$DPID" ] || fail "reload restarted the daemon"
req '{"verb":"list"}' | jq -e '.elections | length == 1' >/dev/null || fail "list after reload"
ok "reload (SIGHUP): same process, still serving"

# --- the watchdog: a stopped daemon is killed and restarted ---------------------------------
prop_is shmelectd.service WatchdogUSec 2s || fail "WatchdogUSec=$(prop shmelectd.service WatchdogUSec)"
kill -STOP "$DPID"
wait_until grep -q "^watchdog " "$TMP/results"
wait_until prop_is shmelectd.service NRestarts 1
wait_until prop_is shmelectd.service ActiveState active
new=$(prop shmelectd.service MainPID)
[ "$new" != "$DPID" ] && [ "$new" != 0 ] || fail "no new main process after the watchdog"
# the election never depended on the daemon; the new one reports it
"$HELPER" observe "$SEG" app | grep -q "holder=A " || fail "A lost its lease while the daemon hung"
r=$(req "{\"verb\":\"status\",\"segment\":\"$SEG\",\"election\":\"app\"}")
echo "$r" | jq -e '.status.holder == "A"' >/dev/null || fail "restarted daemon: $r"
wait_until status_has "app: A token $tok"
echo "   results: $(tr '\n' ',' <"$TMP/results")"
ok "SIGSTOP: watchdog fired (Result=watchdog), restarted (NRestarts=1), re-attached"
DPID=$new

# --- stop ----------------------------------------------------------------------------------
timeout 60 systemctl --user stop shmelectd.service shmelectd.socket || fail "stop failed"
prop_is shmelectd.service ActiveState inactive || fail "service still $(prop shmelectd.service ActiveState)"
grep -q "shutting down" "$TMP/daemon.log" || fail "no orderly shutdown in the log"
tail -n 1 "$TMP/results" | grep -q "^success exited 0" || fail "stop did not succeed: $(tail -n 1 "$TMP/results")"
DPID=""
"$HELPER" observe "$SEG" app | grep -q "holder=A " || fail "A lost its lease when the daemon stopped"
ok "systemctl stop: clean exit (STOPPING=1), the election goes on"

systemctl --user exit >/dev/null 2>&1
wait "$MANAGER" 2>/dev/null
echo "PASS"
exit 0
