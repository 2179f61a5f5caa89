#!/bin/sh
# Run the benchmark, keep its output and data, and draw the failover plot.
#   run.sh BENCH_BINARY OUTDIR [bench options]
set -eu
bin=$1 out=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
"$bin" --out "$out" "$@" | tee "$out/bench.txt"
if command -v gnuplot >/dev/null 2>&1; then
	(cd "$out" && gnuplot "$here/plot.gp") && echo "plot: $out/failover.png"
else
	echo "gnuplot not installed: no plot" >&2
fi
