#!/bin/sh
# The fuzz smoke test of `make check`: every libFuzzer target built in
# tests/fuzz/bin/ (by build.sh) runs for a fixed budget from its corpus,
# then replays every file in its crashers directory.  Exit 0 pass, 1 fail
# (a crash, a sanitizer report or a contract violation: see the log), 77
# skip (no clang libFuzzer toolchain).
#
# Environment: FUZZ_SMOKE_RUNS (runs per target; by default 20000 for
# segment and 1000 for request, whose every run serves a connection and
# costs more: a few seconds each), FUZZ_SEED (default 1, so that a run can
# be repeated), FUZZ_BINDIR (default tests/fuzz/bin, relative to the build
# directory).
set -u

srcdir=${srcdir:-.}
here=$srcdir/tests/fuzz
bindir=${FUZZ_BINDIR:-tests/fuzz/bin}
seed=${FUZZ_SEED:-1}

targets=
skips=
for f in "$bindir"/fuzz-*; do
	case $f in
	*.skip) skips="$skips $f" ;;
	*.tmp | *-cov) ;;
	*) [ -x "$f" ] && targets="$targets $f" ;;
	esac
done
if [ -z "$targets" ]; then
	if [ -n "$skips" ]; then
		for s in $skips; do echo "SKIP: ${s##*/}: $(cat "$s")"; done
		exit 77
	fi
	echo "FAIL: no fuzz targets in $bindir (build.sh did not run?)"
	exit 1
fi

work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
status=0
for bin in $targets; do
	name=${bin##*/fuzz-}
	corpus=$here/corpus/$name
	crashers=$here/crashers/$name
	mkdir -p "$work/$name/new" "$work/$name/artifacts"
	case $name in
	request) runs=${FUZZ_SMOKE_RUNS:-1000} ;;
	*) runs=${FUZZ_SMOKE_RUNS:-20000} ;;
	esac

	# New inputs go to the first (scratch) directory; the corpus in the
	# source tree is only read.
	echo "=== fuzz-$name: $runs runs, seed $seed, from $corpus"
	"$bin" -runs="$runs" -seed="$seed" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/$name/artifacts/" \
		"$work/$name/new" "$corpus" >"$work/$name/log" 2>&1
	rc=$?
	# the progress lines are many; the rest (and any report) is kept
	grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$work/$name/log"
	if ls "$work/$name/artifacts/"* >/dev/null 2>&1; then
		mkdir -p "tests/fuzz/artifacts/$name"
		cp "$work/$name/artifacts/"* "tests/fuzz/artifacts/$name/"
		echo "FAIL: fuzz-$name found a crash; inputs saved in $(pwd)/tests/fuzz/artifacts/$name/:"
		ls "tests/fuzz/artifacts/$name/"
		echo "  replay: $bin FILE   (keep it in $crashers/ as a regression test)"
		status=1
	elif [ "$rc" -ne 0 ]; then
		echo "FAIL: fuzz-$name exited with $rc"
		status=1
	fi

	set --
	for f in "$crashers"/*; do
		[ -f "$f" ] && set -- "$@" "$f"
	done
	if [ $# -gt 0 ]; then
		echo "=== fuzz-$name: replaying $# crashers from $crashers"
		"$bin" "$@" >"$work/$name/replay.log" 2>&1
		rc=$?
		tail -n 40 "$work/$name/replay.log"
		if [ "$rc" -ne 0 ]; then
			echo "FAIL: fuzz-$name: a crasher crashes again (exit $rc)"
			status=1
		fi
	fi
done
[ "$status" -eq 0 ] && echo "PASS: fuzz smoke run clean"
exit "$status"
