#!/bin/bash
# The main job: set up this machine (Debian 12), build shmelect, and run a
# live election among replicas on the default segment, with failovers you
# can watch:
#   1. three replicas of a plain shell command under "shmelectctl run"
#      (active-passive): the leader's wrapper is SIGKILLed, its command dies
#      with it, another replica takes over with a larger fencing token;
#   2. three replicas linking libshmelect's elector: SIGKILL (crash
#      failover), SIGSTOP (hang failover at lease expiry), SIGTERM (instant
#      handover), with the failover times.
# Options: --only-run / --only-lib; other arguments go to both demos.
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cd "$srcdir"

parts="run lib"
case ${1:-} in
--only-run) parts=run; shift ;;
--only-lib) parts=lib; shift ;;
esac

./scripts/install-deps.sh >&2
if [ ! -f build/Makefile ]; then
	[ -x configure ] || autoreconf -fi >&2
	mkdir -p build
	(cd build && ../configure --quiet) >&2
fi
make -C build -j"$(nproc)" --quiet examples/demo cli/shmelectctl >&2

for part in $parts; do
	case $part in
	run)
		echo "=== 1. shmelectctl run: any command, active-passive"
		SHMELECTCTL=$srcdir/build/cli/shmelectctl ./examples/run-demo.sh "$@"
		echo
		;;
	lib)
		echo "=== 2. libshmelect's elector: crash, hang and graceful failover"
		build/examples/demo "$@"
		;;
	esac
done
