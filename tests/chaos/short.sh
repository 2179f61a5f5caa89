#!/bin/sh
# The short chaos run of `make check`: 8 candidates, a 15 s chaos phase
# with kills, stops and restarts, then the checker (tests/chaos/chaos.c).
# Exit 0: no violation; 1: a violation (the seed to replay it is printed);
# 99: the harness could not run.  CHAOS_SHORT_SECONDS and CHAOS_SEED
# override the length and the seed.
#
# automake runs tests from the build directory, where the program is.
bin=./tests/chaos/chaos
if [ ! -x "$bin" ]; then
	echo "short.sh: $bin not found (run from the build directory)" >&2
	exit 99
fi
set -- --candidates 8 --seconds "${CHAOS_SHORT_SECONDS:-15}"
if [ -n "${CHAOS_SEED:-}" ]; then
	set -- "$@" --seed "$CHAOS_SEED"
fi
exec "$bin" "$@"
