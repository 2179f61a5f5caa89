#!/bin/bash
# The test command: install dependencies, build, run every test, summarise.
#
#   ./scripts/test.sh          build in build/ and run make check
#   ./scripts/test.sh --asan   same with ASan + UBSan, in build-asan/
#
# The last line of output is always "N passed, N failed[, N skipped]",
# counted per test case from automake's .trs files (each Criterion test case
# is one TAP result).  Exits non-zero if anything failed or nothing ran.
set -uo pipefail

usage() { echo "usage: $0 [--asan]" >&2; exit 2; }

builddir=build
configure_flags=()
while [ $# -gt 0 ]; do
	case $1 in
	--asan)
		builddir=build-asan
		configure_flags+=(--enable-asan --enable-ubsan)
		;;
	-h|--help) usage ;;
	*) usage ;;
	esac
	shift
done

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cd "$srcdir" || exit 1

passed=0 failed=0 skipped=0

summary() {
	local line="$passed passed, $failed failed"
	[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
	echo "$line"
}

die() {
	echo "test.sh: $*" >&2
	summary
	exit 1
}

./scripts/install-deps.sh || die "installing dependencies failed"

if [ -f config.status ]; then
	die "the source tree is configured in-tree; run 'make distclean' there first (test.sh builds in $builddir/)"
fi

./autogen.sh || die "autogen.sh failed"

{ mkdir -p "$builddir" && cd "$builddir"; } || die "cannot create $builddir/"

# Sanitizer reports must fail the test that triggered them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

"$srcdir/configure" "${configure_flags[@]}" || die "configure failed (see $builddir/config.log)"
make -j2 || die "build failed"

# Count only this run's results.
find . -name '*.trs' -delete
make -j2 check
check_status=$?

trs_files=()
while IFS= read -r -d '' f; do
	trs_files+=("$f")
done < <(find . -name '*.trs' -print0)

if [ ${#trs_files[@]} -gt 0 ]; then
	results=$(sed -n 's/^:test-result: *\([A-Z]*\).*/\1/p' "${trs_files[@]}")
	passed=$(grep -cxE 'PASS|XFAIL' <<<"$results")
	failed=$(grep -cxE 'FAIL|ERROR|XPASS' <<<"$results")
	skipped=$(grep -cx 'SKIP' <<<"$results")
fi

# Report failures: the logs of the tests that failed, not of those that
# merely skipped (automake's test-suite.log holds both).
if [ "$failed" -gt 0 ] || [ "$check_status" -ne 0 ]; then
	echo
	echo "=== failures (full report: $builddir/test-suite.log) ==="
	if [ ${#trs_files[@]} -eq 0 ]; then
		echo "(no test results: make check failed before running tests)"
	fi
	for trs in "${trs_files[@]}"; do
		grep -qE '^:test-result: *(FAIL|ERROR|XPASS)' "$trs" || continue
		log=${trs%.trs}.log
		echo
		echo "--- ${log#./} ---"
		cat "$log"
	done
	echo
	grep -hE '^(FAIL|ERROR|XPASS): ' "${trs_files[@]/%.trs/.log}" 2>/dev/null
	echo "=== end of failures ==="
fi

status=0
if [ "$failed" -gt 0 ]; then
	status=1
elif [ $((passed + failed)) -eq 0 ]; then
	echo "test.sh: no tests ran" >&2
	status=1
elif [ "$check_status" -ne 0 ]; then
	echo "test.sh: make check failed (exit $check_status)" >&2
	status=1
fi

summary
exit "$status"
