#!/bin/bash
# The test command: install dependencies, build, run every test, summarise.
#
#   ./scripts/test.sh          three passes, each with make check: the normal
#                              build in build/, ASan + UBSan in build-asan/,
#                              and ThreadSanitizer in build-tsan/ (there make
#                              check runs the tests of the threaded programs
#                              only; see Makefile.am)
#   ./scripts/test.sh --quick  the normal pass only
#   ./scripts/test.sh --asan   the ASan + UBSan pass only
#   ./scripts/test.sh --tsan   the ThreadSanitizer pass only
#
# The last line of output is always "N passed, N failed[, N skipped]", the
# sum over the passes that ran, counted per test case from automake's .trs
# files (each Criterion test case is one TAP result).  In the sanitizer
# passes every sanitizer report also counts as one failure: reports go to
# files (log_path), so that one from a child process whose exit status a
# test does not look at -- a forked or exec'd helper, a chaos candidate --
# is not lost.  Exits non-zero if anything failed or nothing ran.
set -uo pipefail

usage() { echo "usage: $0 [--quick | --asan | --tsan]" >&2; exit 2; }

passes=(normal asan tsan)
while [ $# -gt 0 ]; do
	case $1 in
	--quick) passes=(normal) ;;
	--asan) passes=(asan) ;;
	--tsan) passes=(tsan) ;;
	-h|--help) usage ;;
	*) usage ;;
	esac
	shift
done

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cd "$srcdir" || exit 1

passed=0 failed=0 skipped=0
status=0

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
	die "the source tree is configured in-tree; run 'make distclean' there first (test.sh builds in build/, build-asan/ and build-tsan/)"
fi

./autogen.sh || die "autogen.sh failed"

# Sanitizer reports must fail the test that triggered them (UBSan is built
# with -fno-sanitize-recover=all, see configure.ac; halt_on_error makes it
# stop on the first report even if built otherwise).
base_asan_options=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
base_ubsan_options=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# TSan: every report is counted from its file; a process with reports
# exits 66 at the end, so the test that ran it fails as well
base_tsan_options=${TSAN_OPTIONS:-halt_on_error=0:exitcode=66:second_deadlock_stack=1}
export ASAN_OPTIONS=$base_asan_options UBSAN_OPTIONS=$base_ubsan_options
export TSAN_OPTIONS=$base_tsan_options
# (the sanitizer pass adds log_path for make check only: a leak report from
# one of configure's test programs is not a test failure)

# Is this sanitizer log file a report of an error?  Not if it only says
# "Running thread N was not suspended" (LeakSanitizer, informational), or
# only reports leaks allocated by Criterion's runner itself (its frame #1 is
# in libcriterion, which has no symbols for lsan.supp to name; seen with
# Criterion 2.4.1 when several tests run in parallel).
is_sanitizer_error() {
	grep -qE 'ThreadSanitizer' "$1" && return 0 # a warning, or TSan dying
	grep -qE 'ERROR: |runtime error:|^SUMMARY: ' "$1" || return 1
	grep -qE 'ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer)|runtime error:' "$1" && return 0
	awk '/^(Direct|Indirect) leak of/ { leaks++; getline; getline; if ($0 ~ /libcriterion\.so/) crit++ }
	     END { exit !(leaks > 0 && leaks == crit) }' "$1" && return 1
	return 0
}

# run_pass NAME BUILDDIR CONFIGURE-FLAGS...: configure, build and make
# check in BUILDDIR; adds its counts to the totals.
run_pass() {
	local name=$1 builddir=$2
	shift 2
	local p=0 f=0 s=0 check_status=0 start=$SECONDS results reports=()
	local sanlogs=$srcdir/$builddir/sanitizer-logs
	local trs_files=()

	echo "=== test.sh: $name pass in $builddir/"
	if ! { mkdir -p "$builddir" && cd "$builddir"; }; then
		echo "test.sh: cannot create $builddir/" >&2
		status=1
		return
	fi
	if ! "$srcdir/configure" "$@"; then
		echo "test.sh: $name pass: configure failed (see $builddir/config.log)" >&2
		status=1
		cd "$srcdir" || exit 1
		return
	fi
	if ! make -j2; then
		echo "test.sh: $name pass: build failed" >&2
		status=1
		cd "$srcdir" || exit 1
		return
	fi

	# Count only this run's results.
	find . -name '*.trs' -delete
	if [ "$name" = asan ]; then
		rm -rf "$sanlogs"
		mkdir -p "$sanlogs"
		# the spin model check does not depend on the build (it
		# compiles its own verifier): once, in the normal pass
		ASAN_OPTIONS="$base_asan_options:log_path=$sanlogs/asan:log_exe_name=1" \
		UBSAN_OPTIONS="$base_ubsan_options:log_path=$sanlogs/ubsan:log_exe_name=1" \
		SHMELECT_MODEL_CHECK=skip \
			make -j2 check
	elif [ "$name" = tsan ]; then
		rm -rf "$sanlogs"
		mkdir -p "$sanlogs"
		TSAN_OPTIONS="$base_tsan_options:log_path=$sanlogs/tsan:log_exe_name=1" \
			make -j2 check
	else
		make -j2 check
	fi
	check_status=$?

	while IFS= read -r -d '' trs; do
		trs_files+=("$trs")
	done < <(find . -name '*.trs' -print0)
	if [ ${#trs_files[@]} -gt 0 ]; then
		results=$(sed -n 's/^:test-result: *\([A-Z]*\).*/\1/p' "${trs_files[@]}")
		p=$(grep -cxE 'PASS|XFAIL' <<<"$results")
		f=$(grep -cxE 'FAIL|ERROR|XPASS' <<<"$results")
		s=$(grep -cx 'SKIP' <<<"$results")
	fi
	if [ "$name" != normal ]; then
		while IFS= read -r -d '' r; do
			is_sanitizer_error "$r" && reports+=("$r")
		done < <(find "$sanlogs" -type f -print0 | sort -z)
		f=$((f + ${#reports[@]}))
	fi

	# Report failures: the logs of the tests that failed, not of those
	# that merely skipped (automake's test-suite.log holds both).
	if [ "$f" -gt 0 ] || [ "$check_status" -ne 0 ]; then
		echo
		echo "=== failures of the $name pass (full report: $builddir/test-suite.log) ==="
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
		for r in "${reports[@]}"; do
			echo
			echo "--- sanitizer report ${r#"$srcdir"/} ---"
			cat "$r"
		done
		echo
		grep -hE '^(FAIL|ERROR|XPASS): ' "${trs_files[@]/%.trs/.log}" 2>/dev/null
		echo "=== end of failures ==="
	fi

	if [ "$f" -gt 0 ]; then
		status=1
	elif [ $((p + f)) -eq 0 ]; then
		echo "test.sh: $name pass: no tests ran" >&2
		status=1
	elif [ "$check_status" -ne 0 ]; then
		echo "test.sh: $name pass: make check failed (exit $check_status)" >&2
		status=1
	fi
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	echo "=== test.sh: $name pass: $p passed, $f failed, $s skipped" \
		"${reports[*]:+(including ${#reports[@]} sanitizer reports) }in $((SECONDS - start)) s"
	cd "$srcdir" || exit 1
}

for pass in "${passes[@]}"; do
	case $pass in
	normal) run_pass normal build ;;
	asan) run_pass asan build-asan --enable-asan --enable-ubsan ;;
	tsan) run_pass tsan build-tsan --enable-tsan ;;
	esac
done

summary
exit "$status"
