#!/bin/sh
# Lint every man page with mandoc; any message at warning level or above fails.
# Exit 0 pass, 1 fail, 77 skip (automake's test-driver).
set -u

srcdir=${srcdir:-.}
command -v mandoc >/dev/null 2>&1 || { echo "SKIP: mandoc not installed"; exit 77; }

mandir=$(cd "$srcdir/man" 2>/dev/null && pwd) || { echo "FAIL: no man/ in $srcdir"; exit 1; }

# Present the pages as man3/ and man7/ so that ".so man3/x.3" stubs resolve.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
for sec in 1 3 5 7 8; do
	ln -s "$mandir" "$tmp/man$sec"
done
cd "$tmp" || exit 1

# A page that is only ".so manN/other.N" (a variant stub, STYLE.md) is not
# given to mandoc, which always warns that .so is fragile; its target must
# exist and is linted on its own.
pages='' stubs=0 bad=0
for f in "$mandir"/*.[0-9]; do
	[ -e "$f" ] || continue
	base=${f##*/}
	if [ "$(grep -cv '^\.so ' "$f")" -eq 0 ] && [ "$(grep -c . "$f")" -eq 1 ]; then
		target=$(sed -n 's/^\.so  *//p' "$f")
		if [ -e "$target" ]; then
			stubs=$((stubs + 1))
		else
			echo "$base: .so target $target does not exist"
			bad=1
		fi
		continue
	fi
	pages="$pages man${base##*.}/$base"
done
[ -n "$pages" ] || { echo "FAIL: no man pages in $mandir"; exit 1; }

# shellcheck disable=SC2086 # word splitting of the page list is intended
out=$(mandoc -T lint -W warning $pages 2>&1)
status=$?
n=$(echo "$pages" | wc -w)
if [ -n "$out" ] || [ "$status" -ne 0 ] || [ "$bad" -ne 0 ]; then
	[ -n "$out" ] && printf '%s\n' "$out"
	echo "FAIL: mandoc -T lint -W warning: problems in $n pages, $stubs .so stubs (mandoc exit $status)"
	exit 1
fi
echo "PASS: $n man pages lint clean, $stubs .so stubs resolve"
exit 0
