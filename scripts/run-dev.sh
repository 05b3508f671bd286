#!/bin/sh
# Install dependencies, build, and start nbwarden on its embedded default
# (local accounts, SQLite) with state under ./dev/. Creates an admin account on
# first run and prints how to sign in.
set -eu
cd "$(dirname "$0")/.."
top=$PWD

sh scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
ninja -C build

mkdir -p dev
cfg=dev/nbwarden.yaml
if [ ! -f "$cfg" ]; then
	cat > "$cfg" <<EOC
hub:
  bind_url: http://127.0.0.1:8000/
  state_dir: $top/dev/state
audit:
  file: $top/dev/audit.jsonl
EOC
fi
build/nbwarden check-config "$cfg"
if [ ! -f dev/admin-password ]; then
	umask 077
	head -c 18 /dev/urandom | base64 | tr '+/' '-_' > dev/admin-password
	build/nbwarden user add admin --admin --config "$cfg" < dev/admin-password
fi
echo
echo "Open http://127.0.0.1:8000/hub/login and sign in as 'admin' with the password in $top/dev/admin-password"
echo "  ($(cat dev/admin-password)). Add users with: build/nbwarden user add NAME --config $cfg"
echo
exec build/nbwarden serve --config "$cfg"
