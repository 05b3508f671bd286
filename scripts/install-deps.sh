#!/bin/sh
# Install everything nbwarden needs to build, run and test on Debian 12.
# Idempotent: packages already present are skipped by apt; safe to re-run.
set -eu

PKGS="
build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
libuv1-dev node-llhttp libssl-dev libcurl4-openssl-dev libcjose-dev
libjansson-dev libfyaml-dev libsqlite3-dev libsodium-dev libseccomp-dev
libnftables-dev libmnl-dev libcmocka-dev
runc iproute2 e2fsprogs procps util-linux ca-certificates
python3-jupyter-server python3-ipykernel python3-nbclassic
python3-pytest python3-requests python3-websocket
"

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: must run as root (apt-get)" >&2
	exit 1
fi

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
