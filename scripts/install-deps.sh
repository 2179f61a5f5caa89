#!/bin/bash
# Install the Debian packages shmelect needs to build, test and document.
# Idempotent: apt is skipped entirely when every package is already installed.
set -euo pipefail

packages=(
	build-essential
	autoconf
	automake
	libtool
	pkg-config
	libsystemd-dev
	libcriterion-dev
	libjson-c-dev
	mandoc
	spin
	socat
	jq
	python3 # examples/shmelect-watch.py and its test
	strace
	procps
	util-linux
	systemd
	gnuplot-nox
	clang
	libclang-rt-14-dev # libFuzzer, for tests/fuzz (clang only recommends it)
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages already installed"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null 2>&1; then
	sudo=(sudo)
else
	echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends "${missing[@]}"
