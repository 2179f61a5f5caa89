#!/bin/sh
# `make fuzz-coverage`: which lines of the code under test the corpus
# reaches (lib/ for the segment target; daemon/ and lib/ for request).
#
#   tests/fuzz/coverage.sh NAME     (from the build directory)
#
# Replays tests/fuzz/corpus/NAME through tests/fuzz/bin/fuzz-NAME-cov (built
# by build.sh with FUZZ_COVERAGE=1) and prints llvm-cov's per-file report
# of those sources.  Needs llvm-profdata and llvm-cov (Debian: llvm-14).
set -u

srcdir=${srcdir:-.}
name=${1:-segment}
bin=${FUZZ_BINDIR:-tests/fuzz/bin}/fuzz-$name-cov
corpus=$srcdir/tests/fuzz/corpus/$name

[ -x "$bin" ] || { echo "coverage.sh: $bin not built: $(cat "$bin.skip" 2>/dev/null)" >&2; exit 1; }
for tool in llvm-profdata llvm-cov; do
	command -v $tool >/dev/null 2>&1 || { echo "coverage.sh: no $tool" >&2; exit 1; }
done
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT

LLVM_PROFILE_FILE="$work/%p.profraw" "$bin" -runs=0 -artifact_prefix="$work/" "$corpus" >"$work/run.log" 2>&1 ||
	{ tail -n 20 "$work/run.log"; exit 1; }
llvm-profdata merge -sparse "$work"/*.profraw -o "$work/all.profdata" || exit 1
case $name in
request) dirs="daemon lib" ;;
*) dirs=lib ;;
esac
set --
for dir in $dirs; do
	set -- "$@" "$srcdir/$dir"/*.c
done
echo "=== fuzz-$name: coverage of $dirs by $(find "$corpus" -type f | wc -l) inputs in $corpus"
llvm-cov report "$bin" -instr-profile="$work/all.profdata" "$@"
