#!/bin/sh
# Model check of the shmelect lease protocol with spin: tests/model/shmelect.pml.
#
#   check.sh            every configuration, exhaustively (must hold), and
#                       the witnesses that show each one exercises what it
#                       is for
#   check.sh --bugs     the same, then every planted bug, which must fail
#   check.sh --only NAME[,NAME...]   only these jobs (see the tables below)
#   -j N                jobs in parallel (default: online CPUs, at most 4)
#   --keep              keep the work directory and print where it is
#
# Exit 0 pass, 1 fail, 77 skip (no spin or no C compiler): automake's
# test-driver convention.  Environment: SPIN, CC, PAN_CFLAGS (default -O2),
# MODEL_MEMLIM (MB per search, default 4096), srcdir, SHMELECT_MODEL_CHECK=skip
# (skip: scripts/test.sh's sanitizer pass, which the model does not depend on).
set -u

# ---- the jobs ------------------------------------------------------------------
# name  expect  defines  [witnesses]
# expect: pass (no violation, the search complete), or fail[:PROP] (an
# assertion is violated; of property PROP, as named in shmelect.pml).
# Witnesses (W_* numbers in shmelect.pml) must each be reached: a search
# with PML_WITNESS=n must stop at event n, or that check is vacuous.
checks() {
	cat <<EOF
takeover        pass  -DCFG_TAKEOVER         1,2,3,11
resign          pass  -DCFG_RESIGN           2,3,12
handover        pass  -DCFG_HANDOVER         2,3,8,12
operator        pass  -DCFG_OPERATOR         2,3,10,12
operator2       pass  -DCFG_OPERATOR2        1,8,10,12
reap            pass  -DCFG_REAP             6,7,17
follow          pass  -DCFG_FOLLOW           5,6
leave           pass  -DCFG_LEAVE            7,12,13
leave-handover  pass  -DCFG_LEAVE_HANDOVER   8,9,14,16
reap-handover   pass  -DCFG_REAP_HANDOVER    8,14,15
EOF
}

# Each planted bug must make the search fail; the NO_TRUTH variants switch
# off the assertion that fires first, to show that P1's clock comparison
# catches the same bug.  BUG_FREE_FIRST and BUG_NO_HANDOFF put back the code
# before the fixes of findings F2 and F1' (lib/ commit faf1b10).
# BUG_REAP_NO_BREAK alone no longer fails: the slot's next member refuses
# the dead member's term (the handoff check), so it is planted with
# BUG_NO_HANDOFF: one of the two defences must be there.  The
# clock-process jobs run with a separate clock process instead of advancing
# the clock at reads (same behaviours, more states).
bugs() {
	cat <<EOF
bug-renew-no-cas          fail     -DCFG_TAKEOVER -DBUG_RENEW_NO_CAS
bug-reap-no-break         fail:P5  -DCFG_REAP -DBUG_REAP_NO_BREAK -DBUG_NO_HANDOFF
bug-clock-before-load     fail     -DCFG_TAKEOVER -DBUG_CLOCK_BEFORE_LOAD
bug-clock-before-load/P1  fail:P1  -DCFG_TAKEOVER -DBUG_CLOCK_BEFORE_LOAD -DNO_TRUTH
bug-no-reload             fail     -DCFG_RESIGN -DBUG_NO_RELOAD
bug-no-reload/P1          fail:P1  -DCFG_RESIGN -DBUG_NO_RELOAD -DNO_TRUTH
bug-no-reload/operator    fail:P1  -DCFG_OPERATOR -DBUG_NO_RELOAD -DNO_TRUTH
bug-reap-no-recheck       fail     -DCFG_REAP -DBUG_REAP_NO_RECHECK
bug-free-first/leave      fail:P5  -DCFG_LEAVE_HANDOVER -DBUG_FREE_FIRST
bug-free-first/reap       fail:P5  -DCFG_REAP -DBUG_FREE_FIRST
bug-no-handoff            fail:P5  -DCFG_LEAVE_HANDOVER -DBUG_NO_HANDOFF
clock-process             pass     -DCFG_LEAVE -DCLOCK_PROCESS
clock-process/bug         fail     -DCFG_TAKEOVER -DBUG_RENEW_NO_CAS -DCLOCK_PROCESS
EOF
}


# The property an assertion violation broke: replay the trail, take the
# line of shmelect.pml it names, print that line's comment ("P1: truth").
violated() {
	# shellcheck disable=SC2086
	$SPIN -t -p -g $1 shmelect.pml > trail.txt 2>&1
	line=$(sed -n 's/^spin: shmelect.pml:\([0-9]*\), Error: assertion violated.*/\1/p' trail.txt | head -n 1)
	prop=''
	[ -n "$line" ] && prop=$(sed -n "${line}s|.*/\* *\(.*[^ ]\) *\*/.*|\1|p" shmelect.pml)
	echo "${prop:-assertion violated} (shmelect.pml:${line:-?})"
}

# ---- one job (run by xargs: check.sh --job NAME EXPECT DEFINES [WITNESSES]) ----
run_job() {
	name=$1 expect=$2 defs=$3 wits=${4:-}
	dir="$WORK/$(echo "$name" | tr '/' '_')"
	res="$dir.result"
	mkdir -p "$dir" && cp "$PML" "$dir/shmelect.pml" && cd "$dir" || {
		echo "FAIL $name: cannot set up $dir" > "$res"; return; }
	# shellcheck disable=SC2086
	if ! $SPIN -a $defs shmelect.pml > spin.log 2>&1; then
		echo "FAIL $name: spin -a $defs failed (see $dir/spin.log)" > "$res"; return
	fi
	# shellcheck disable=SC2086
	if ! $CC $PAN_CFLAGS -w -DSAFETY -DCOLLAPSE -DVECTORSZ=1024 -DMEMLIM="$MEMLIM" \
		-o pan pan.c > cc.log 2>&1; then
		echo "FAIL $name: cannot compile pan (see $dir/cc.log)" > "$res"; return
	fi
	t0=$(date +%s)
	./pan -m"$DEPTH" -w24 > pan.out 2>&1
	rc=$?
	t1=$(date +%s)
	states=$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' pan.out | head -n 1)
	depth=$(sed -n 's/.*depth reached \([0-9]*\),.*/\1/p' pan.out | head -n 1)
	errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | head -n 1)
	stats="states=${states:-?} depth=${depth:-?} time=$((t1 - t0))s"
	if grep -q 'max search depth too small' pan.out; then
		echo "FAIL $name: search truncated, -m$DEPTH too small ($stats)" > "$res"; return
	fi
	if grep -qi 'memlim\|out of memory\|reached -DMEMLIM' pan.out; then
		echo "FAIL $name: out of memory, MODEL_MEMLIM=$MEMLIM ($stats)" > "$res"; return
	fi
	case $expect in
	pass)
		if [ "$rc" -ne 0 ] || [ "${errors:-x}" != 0 ]; then
			if grep -q 'assertion violated' pan.out; then
				why=$(violated "$defs")
			else
				why=$(grep -m 1 'error\|invalid' pan.out)
			fi
			echo "FAIL $name: ${why:-pan exited $rc} ($stats; trail: $dir/trail.txt)" > "$res"
			return
		fi
		for w in $(echo "$wits" | tr ',' ' '); do
			PML_WITNESS=$w ./pan -m"$DEPTH" -w24 > "witness-$w.out" 2>&1
			if ! grep -q "assertion violated (wsel!=$w)" "witness-$w.out"; then
				echo "FAIL $name: witness $w never happens: a check is vacuous ($stats)" > "$res"
				return
			fi
		done
		echo "PASS $name: $stats${wits:+ witnesses=$wits}" > "$res"
		;;
	fail*)
		if [ "${errors:-0}" = 0 ] || ! grep -q 'assertion violated' pan.out; then
			echo "FAIL $name: expected an assertion violation, got none ($stats)" > "$res"
			return
		fi
		why=$(violated "$defs")
		case $expect in
		fail:*)
			case $why in
			"${expect#fail:}"*) ;;
			*)
				echo "FAIL $name: expected ${expect#fail:}, got $why ($stats; trail: $dir/trail.txt)" > "$res"
				return
				;;
			esac
			;;
		esac
		echo "PASS $name: fails as it must: $why ($stats)" > "$res"
		;;
	*)
		echo "FAIL $name: bad expectation $expect" > "$res"
		;;
	esac
}

if [ "${1:-}" = --job ]; then
	shift
	run_job "$@"
	exit 0
fi

# ---- the driver ------------------------------------------------------------------
with_bugs=0 keep=0 only='' jobs=''
while [ $# -gt 0 ]; do
	case $1 in
	--bugs) with_bugs=1 ;;
	--keep) keep=1 ;;
	--only) only=$2; shift ;;
	-j) jobs=$2; shift ;;
	-j*) jobs=${1#-j} ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	*) echo "check.sh: unknown argument $1" >&2; exit 1 ;;
	esac
	shift
done

if [ "${SHMELECT_MODEL_CHECK:-}" = skip ]; then
	echo "SKIP: SHMELECT_MODEL_CHECK=skip (scripts/test.sh: the model does not depend on the build; it runs in the normal pass)"
	exit 77
fi
SPIN=${SPIN:-spin}
CC=${CC:-cc}
command -v "$SPIN" > /dev/null 2>&1 || { echo "SKIP: spin is not installed"; exit 77; }
command -v "$CC" > /dev/null 2>&1 || { echo "SKIP: no C compiler ($CC) for pan"; exit 77; }

# The model: from automake's $srcdir (the top source directory), else next
# to this script.
PML=''
for p in "${srcdir:+$srcdir/tests/model/shmelect.pml}" "$(dirname "$0")/shmelect.pml"; do
	if [ -n "$p" ] && [ -f "$p" ]; then
		PML=$(cd "$(dirname "$p")" && pwd)/shmelect.pml
		break
	fi
done
[ -n "$PML" ] || { echo "FAIL: cannot find shmelect.pml (srcdir=${srcdir:-unset})"; exit 1; }

if [ -z "$jobs" ]; then
	jobs=$(getconf _NPROCESSORS_ONLN 2> /dev/null || echo 1)
	[ "$jobs" -gt 4 ] && jobs=4
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/shmelect-model.XXXXXX") || exit 1
[ "$keep" = 1 ] || trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM
MEMLIM=${MODEL_MEMLIM:-4096}
DEPTH=1000000
PAN_CFLAGS=${PAN_CFLAGS:--O2}
export WORK PML SPIN CC MEMLIM DEPTH PAN_CFLAGS

{
	checks
	[ "$with_bugs" = 1 ] && bugs
} | while read -r name expect rest; do
	[ -n "$name" ] || continue
	if [ -n "$only" ]; then
		case ",$only," in *",$name,"*) ;; *) continue ;; esac
	fi
	defs='' wits=''
	for word in $rest; do
		case $word in -D*) defs="$defs $word" ;; *) wits=$word ;; esac
	done
	printf '%s\n%s\n%s\n%s\n' "$name" "$expect" "${defs# }" "$wits"
done > "$WORK/jobs"

echo "spin model check: $PML"
echo "$($SPIN -V), $jobs job(s) in parallel, work directory $WORK"
start=$(date +%s)
# Four arguments a job: xargs -L would split the defines, so -n 4 on lines.
tr '\n' '\0' < "$WORK/jobs" | xargs -0 -n 4 -P "$jobs" sh "$0" --job
end=$(date +%s)

fail=0 n=0
while read -r name; do
	read -r expect; read -r defs; read -r wits
	n=$((n + 1))
	f="$WORK/$(echo "$name" | tr '/' '_').result"
	if [ -f "$f" ]; then
		line=$(cat "$f")
	else
		line="FAIL $name: no result (the job died)"
	fi
	echo "$line"
	case $line in PASS*) ;; *) fail=1 ;; esac
done < "$WORK/jobs"

echo "$n job(s) in $((end - start))s"
if [ "$fail" != 0 ]; then
	echo "FAIL: see above; rerun with --keep --only NAME to keep pan's output and the trail"
	exit 1
fi
echo "PASS"
exit 0
