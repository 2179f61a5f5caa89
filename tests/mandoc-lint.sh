#!/bin/sh
# Lint every man page with mandoc, as `mandoc -T lint -W warning man/*` in
# the source tree; any message at warning level or above fails.  Variants
# are symbolic links to the page that documents them (mandoc warns that
# .so is fragile), so each is linted as the page it installs.
# Exit 0 pass, 1 fail, 77 skip (automake's test-driver).
set -u

srcdir=${srcdir:-.}
command -v mandoc >/dev/null 2>&1 || { echo "SKIP: mandoc not installed"; exit 77; }
cd "$srcdir" 2>/dev/null && [ -d man ] || { echo "FAIL: no man/ in $srcdir"; exit 1; }

bad=0 pages=0 links=0
for f in man/*; do
	[ -e "$f" ] || { echo "$f: dangling link to $(readlink "$f")"; bad=1; continue; }
	if [ -L "$f" ]; then
		links=$((links + 1))
	else
		pages=$((pages + 1))
	fi
	if grep -q '^\.so ' "$f"; then
		echo "$f: a .so stub (make it a symbolic link to its page)"
		bad=1
	fi
done
[ "$pages" -gt 0 ] || { echo "FAIL: no man pages in $srcdir/man"; exit 1; }

out=$(mandoc -T lint -W warning man/* 2>&1)
status=$?
if [ -n "$out" ] || [ "$status" -ne 0 ] || [ "$bad" -ne 0 ]; then
	[ -n "$out" ] && printf '%s\n' "$out"
	echo "FAIL: mandoc -T lint -W warning man/*: problems in $pages pages, $links links (mandoc exit $status)"
	exit 1
fi
echo "PASS: $pages man pages and $links variant links lint clean"
exit 0
