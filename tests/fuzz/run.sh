#!/bin/sh
# `make fuzz`: long fuzz runs that grow the corpus.
#
#   tests/fuzz/run.sh [TARGET...]     (from the build directory; default:
#                                      every target in tests/fuzz/bin/)
#
# Each target fuzzes for FUZZ_TIME seconds (default 600) with FUZZ_JOBS
# processes (default 1), starting from tests/fuzz/corpus/NAME in the source
# tree and a scratch corpus in tests/fuzz/work/NAME (kept between runs).
# Afterwards the inputs that add coverage are merged into the source tree's
# corpus (libFuzzer -merge=1: only new features, so it grows slowly; keep it
# under 2 MiB, and commit it).  A crash input is copied into
# tests/fuzz/crashers/NAME/, where `make check` replays it from then on:
# fix the library, keep the input.  Exits 1 if anything crashed.
#
# Environment: FUZZ_TIME, FUZZ_JOBS, FUZZ_ARGS (more libFuzzer flags),
# FUZZ_NO_MERGE=1 (leave the source tree alone), FUZZ_BINDIR.
set -u

srcdir=${srcdir:-.}
here=$srcdir/tests/fuzz
bindir=${FUZZ_BINDIR:-tests/fuzz/bin}
time=${FUZZ_TIME:-600}
jobs=${FUZZ_JOBS:-1}

if [ $# -eq 0 ]; then
	for f in "$bindir"/fuzz-*; do
		case $f in *.skip | *.tmp | *-cov) continue ;; esac
		[ -x "$f" ] && set -- "$@" "${f##*/fuzz-}"
	done
fi
if [ $# -eq 0 ]; then
	cat "$bindir"/fuzz-*.skip 2>/dev/null
	echo "run.sh: no fuzz targets built in $bindir" >&2
	exit 1
fi

status=0
for name in "$@"; do
	bin=$bindir/fuzz-$name
	corpus=$here/corpus/$name
	crashers=$here/crashers/$name
	work=tests/fuzz/work/$name
	artifacts=tests/fuzz/artifacts/$name
	mkdir -p "$work" "$artifacts" "$corpus" "$crashers" || exit 1

	echo "=== fuzz-$name: ${time}s, $jobs job(s), corpus $corpus + $work"
	if [ "$jobs" -gt 1 ]; then
		par="-fork=$jobs -ignore_crashes=1"
	else
		par=
	fi
	# shellcheck disable=SC2086 # $par and $FUZZ_ARGS are flag lists
	"$bin" -max_total_time="$time" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" $par ${FUZZ_ARGS:-} \
		"$work" "$corpus"
	rc=$?

	found=0
	for f in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
		[ -f "$f" ] || continue
		cp "$f" "$crashers/"
		echo "run.sh: fuzz-$name: ${f##*/} saved in $crashers/ (replay: $bin $crashers/${f##*/})"
		found=1
	done
	if [ "$found" -ne 0 ] || [ "$rc" -ne 0 ]; then
		echo "run.sh: fuzz-$name: crashed (exit $rc)" >&2
		status=1
	fi

	if [ "${FUZZ_NO_MERGE:-0}" != 1 ]; then
		before=$(find "$corpus" -type f | wc -l)
		"$bin" -merge=1 -max_len=16384 -timeout=10 -rss_limit_mb=2048 "$corpus" "$work" \
			>"$work.merge.log" 2>&1 || { tail -n 20 "$work.merge.log"; status=1; }
		after=$(find "$corpus" -type f | wc -l)
		kib=$(du -sk "$corpus" | cut -f1)
		echo "=== fuzz-$name: corpus $before -> $after inputs, ${kib} KiB in $corpus"
		[ "$kib" -gt 2048 ] && echo "run.sh: warning: the corpus exceeds 2 MiB; minimise it (see tests/fuzz/README)" >&2
	fi
done
exit "$status"
