#!/bin/bash
# shmelect-run@.service under a real systemd user manager: two instances in
# one election, one active and one standby (StatusText); stopping the active
# unit, SIGKILLing its main process and stopping (SIGSTOP) it each make the
# other one take over, with a larger token every time, and the commands
# never overlap.
#
# The manager runs in a private mount namespace (DESIGN.md, "Running real
# systemd in tests"); the unit is the template with ExecStart pointing into
# the build tree, installed as a runtime user unit.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"

if [ -z "${SHMELECT_TEST_IN_NS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for a private mount namespace and tmpfs on /run/systemd"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: unshare is not installed"; exit 77; }
	command -v systemctl >/dev/null || { echo "SKIP: systemctl is not installed"; exit 77; }
	[ -x /lib/systemd/systemd ] || { echo "SKIP: /lib/systemd/systemd is not installed"; exit 77; }
	unshare -m --propagation private true 2>/dev/null ||
		{ echo "SKIP: cannot create a mount namespace here (unshare -m failed)"; exit 77; }
	SHMELECT_TEST_IN_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi

. "${srcdir:-.}/tests/ctl-lib.sh"
[ -x "$child" ] || fail "$child not built"

# --- a user manager ----------------------------------------------------------------------
mkdir -p /run/systemd
mount -t tmpfs tmpfs /run/systemd || skip "cannot mount a tmpfs on /run/systemd"
mkdir -p /run/systemd/system
export XDG_RUNTIME_DIR=$tmp/xdg
mkdir -m 0700 "$XDG_RUNTIME_DIR"
unitdir=$XDG_RUNTIME_DIR/systemd/user
mkdir -p "$unitdir"
unset DBUS_SESSION_BUS_ADDRESS NOTIFY_SOCKET
/lib/systemd/systemd --user >"$tmp/manager.log" 2>&1 &
manager=$!
bg_pids+=("$manager")
stop_manager() {
	systemctl --user stop 'shmelect-run@*' >/dev/null 2>&1
	kill -TERM "$manager" 2>/dev/null
	wait "$manager" 2>/dev/null
}
cleanup_hooks+=(stop_manager)
manager_up() {
	case $(systemctl --user is-system-running 2>/dev/null) in
	running | degraded) return 0 ;;
	esac
	return 1
}
wait_for 30 manager_up || { tail -n 20 "$tmp/manager.log"; skip "the systemd user manager did not come up"; }

# --- the template, pointing into the build tree; the pair's drop-in -------------------------
log=$tmp/app.log
: >"$log"
sed -e "s|@bindir@|$builddir/cli|g" "$srcdir/units/shmelect-run@.service.in" >"$unitdir/shmelect-run@.service"
mkdir -p "$unitdir/shmelect-run@app-a.service.d" "$unitdir/shmelect-run@app-b.service.d"
cat >"$unitdir/shmelect-run@app-a.service.d/command.conf" <<EOF
[Service]
Environment=SHMELECT_ELECTION=app
Environment=SHMELECT_SEGMENT=$seg
Environment="SHMELECT_COMMAND=$child $log"
Environment="SHMELECT_RUN_OPTIONS=--lease 2000"
StandardError=append:$tmp/%i.err
ExecStopPost=/bin/sh -c 'echo "\$\$SERVICE_RESULT \$\$EXIT_CODE \$\$EXIT_STATUS" >>$tmp/%i.results'
EOF
ln -s ../shmelect-run@app-a.service.d/command.conf "$unitdir/shmelect-run@app-b.service.d/"
systemctl --user daemon-reload || fail "daemon-reload failed"

unit() { echo "shmelect-run@$1.service"; }
status_text() { systemctl --user show -p StatusText --value "$(unit "$1")"; }
status_is() { [[ "$(status_text "$1")" =~ $2 ]]; }
main_pid() { systemctl --user show -p MainPID --value "$(unit "$1")"; }
leader_token() {
	local s
	s=$(status_text "$1")
	[[ $s =~ ^leader,\ token\ ([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}"
}
show() {
	local u
	for u in app-a app-b; do
		echo "   $(unit $u): $(systemctl --user show -p ActiveState --value "$(unit $u)")," \
			"StatusText=$(status_text $u)"
	done
}
diagnose() {
	show
	tail -n 30 "$tmp/manager.log" "$tmp"/app-*.err
	tail -n 20 "$log"
}

# --- one active, one standby ---------------------------------------------------------------
timeout 60 systemctl --user start "$(unit app-a)" || { diagnose; fail "app-a did not start"; }
wait_for 30 status_is app-a '^leader, token [0-9]+$' || { diagnose; fail "app-a does not lead"; }
timeout 60 systemctl --user start "$(unit app-b)" || { diagnose; fail "app-b did not start"; }
wait_for 30 status_is app-b '^standby, leader is app-a$' || { diagnose; fail "app-b is not a standby of app-a"; }
wait_for 30 started "$log" app-a || { diagnose; fail "app-a's command never started"; }
t1=$(leader_token app-a)
[ "$t1" = "$(token_of app)" ] || fail "StatusText token $t1 is not the lease's $(token_of app)"
show
pass "Type=notify: app-a active and leading (token $t1), app-b active and standby"

# --- stop the active unit -------------------------------------------------------------------
timeout 60 systemctl --user stop "$(unit app-a)" || fail "stopping app-a failed"
wait_for 30 status_is app-b '^leader, token [0-9]+$' || { diagnose; fail "app-b did not take over after app-a stopped"; }
t2=$(leader_token app-b)
[ "$t2" -gt "$t1" ] || fail "token did not grow: $t2 <= $t1"
ended "$log" app-a || fail "app-a's command was not stopped gracefully (no end line)"
wait_for 30 started "$log" app-b || { diagnose; fail "app-b's command never started"; }
timeout 60 systemctl --user start "$(unit app-a)" || fail "app-a did not start again"
wait_for 30 status_is app-a '^standby, leader is app-b$' || { diagnose; fail "app-a is not a standby of app-b"; }
show
pass "systemctl stop of the active unit: app-b took over (token $t1 -> $t2)"

# --- kill -9 the active unit's main process --------------------------------------------------
b_main=$(main_pid app-b)
b_cmd=$(last_pid "$log" app-b)
kill -9 "$b_main"
wait_for 30 status_is app-a '^leader, token [0-9]+$' || { diagnose; fail "app-a did not take over after kill -9"; }
t3=$(leader_token app-a)
[ "$t3" -gt "$t2" ] || fail "token did not grow: $t3 <= $t2"
wait_for 30 pid_gone "$b_cmd" || fail "app-b's command survived the kill -9 of its wrapper"
wait_for 30 started "$log" app-a 2 || { diagnose; fail "app-a's command never started again"; }
# Restart=always brings app-b back, as a standby
wait_for 30 bash -c "[ \"\$(systemctl --user show -p MainPID --value '$(unit app-b)')\" != '$b_main' ]" ||
	fail "app-b was not restarted"
wait_for 30 status_is app-b '^standby, leader is app-a$' || { diagnose; fail "restarted app-b is not a standby"; }
show
pass "kill -9 of the active main process: app-a took over (token $t2 -> $t3), app-b restarted as standby"

# --- the active wrapper hangs (SIGSTOP): the watchdog ends it --------------------------------------
a_main=$(main_pid app-a)
kill -STOP "$a_main"
wait_for 60 status_is app-b '^leader, token [0-9]+$' || { diagnose; fail "app-b did not take over from the stopped app-a"; }
t4=$(leader_token app-b)
[ "$t4" -gt "$t3" ] || fail "token did not grow: $t4 <= $t3"
wait_for 60 started "$log" app-b 2 || { diagnose; fail "app-b's command never started after the hang"; }
wait_for 60 bash -c "[ \"\$(systemctl --user show -p MainPID --value '$(unit app-a)')\" != '$a_main' ]" ||
	{ kill -CONT "$a_main"; fail "the watchdog did not end the stopped app-a"; }
wait_for 60 status_is app-a '^standby, leader is app-b$' || { diagnose; fail "restarted app-a is not a standby"; }
show
pass "SIGSTOP of the active wrapper: watchdog ended it, app-b took over (token $t3 -> $t4)"

check_overlap "$log"
# how each run of the units ended, as systemd saw it (ExecStopPost)
echo "   app-a: $(tr '\n' ',' <"$tmp/app-a.results")  app-b: $(tr '\n' ',' <"$tmp/app-b.results")"
grep -qx "success exited 0" "$tmp/app-a.results" || fail "app-a's stop did not end in success"
grep -qx "signal killed KILL" "$tmp/app-b.results" || fail "app-b's kill -9 is not in its results"
grep -q "^watchdog " "$tmp/app-a.results" || fail "app-a's hang did not end by the watchdog"
exit 0
