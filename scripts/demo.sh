#!/bin/bash
# The main job: set up this machine (Debian 12), build shmelect, and run a
# live election among replicas on the default segment, with failovers you
# can watch.  Extra arguments go to the demo (-n REPLICAS, -l LEASE_MS, ...).
set -euo pipefail

srcdir=$(cd "$(dirname "$0")/.." && pwd)
cd "$srcdir"

./scripts/install-deps.sh >&2
if [ ! -f build/Makefile ]; then
	[ -x configure ] || autoreconf -fi >&2
	mkdir -p build
	(cd build && ../configure --quiet) >&2
fi
make -C build -j"$(nproc)" --quiet examples/demo >&2
exec build/examples/demo "$@"
