#!/bin/sh
# build.sh OUT SOURCE...: compile a libFuzzer target with clang, straight
# from the library's sources and the target's (headers among SOURCE are
# ignored), with ASan and UBSan (fatal).  The build directory's compiler and
# flags are not used: libFuzzer needs clang, the rest of the tree need not.
#
# If the toolchain cannot build libFuzzer targets (no clang, or no
# libclang-rt-14-dev with its libFuzzer runtime), writes the reason to
# OUT.skip and exits 0, so that the fuzz tests skip (exit 77) rather than
# fail.  A compile error in the sources fails.
#
# Environment: FUZZ_CC (default clang), FUZZ_CFLAGS (extra flags),
# FUZZ_CPPFLAGS and FUZZ_LIBS (what a target needs beyond the library, set
# by local.mk: the daemon's sd-event and json-c for fuzz-request),
# FUZZ_COVERAGE=1 (instead of the sanitizers, clang's source-based coverage
# instrumentation, for coverage.sh).
set -u

[ $# -ge 2 ] || { echo "usage: $0 OUT SOURCE..." >&2; exit 2; }
out=$1
shift
top=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cc=${FUZZ_CC:-clang}
sanitize='-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all'
[ "${FUZZ_COVERAGE:-0}" = 1 ] && sanitize='-fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping'

mkdir -p "$(dirname "$out")" || exit 1
rm -f "$out" "$out.skip"

skip() {
	echo "$*" >"$out.skip"
	echo "fuzz: not building ${out##*/}: $*" >&2
	exit 0
}

command -v "$cc" >/dev/null 2>&1 || skip "no $cc (the fuzz targets need clang with libFuzzer)"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
	>"$tmp/probe.c"
# shellcheck disable=SC2086 # $sanitize is a list of flags
"$cc" $sanitize "$tmp/probe.c" -o "$tmp/probe" >"$tmp/probe.log" 2>&1 ||
	skip "$cc cannot link -fsanitize=fuzzer (is libclang-rt-14-dev installed?): $(head -n 3 "$tmp/probe.log" | tr '\n' ' ')"

arch=
case $("$cc" -dumpmachine) in
x86_64*) arch=-mcx16 ;; # the 16-byte lease CAS, inline (lib/layout.h)
esac

srcs=
for f in "$@"; do
	case $f in
	*.c) srcs="$srcs $f" ;;
	esac
done

# shellcheck disable=SC2086 # flag and source lists
"$cc" -std=gnu11 -g -O1 -fno-omit-frame-pointer -pthread $arch $sanitize \
	-I"$top/include" -I"$top/lib" -I"$top/daemon" -I"$top/tests/fuzz" ${FUZZ_CPPFLAGS:-} ${FUZZ_CFLAGS:-} \
	$srcs ${FUZZ_LIBS:-} -o "$out.tmp" || { rm -f "$out.tmp"; exit 1; }
mv "$out.tmp" "$out"
