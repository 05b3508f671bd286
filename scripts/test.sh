#!/bin/sh
# Install dependencies, build, and run every test: unit tests and fuzz-corpus
# replays (normal and ASan/UBSan builds), the banned-function check, and the
# end-to-end suite against the real daemon, real runc and real Jupyter.
set -u
cd "$(dirname "$0")/.."

sh scripts/install-deps.sh || exit 1

failed=0
passed=0
step() {
	name=$1
	shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: ok"
	else
		failed=$((failed + 1))
		echo "=== $name: FAILED"
	fi
}

build() { # dir, meson options...
	dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir"
}

step "banned functions" sh scripts/check-banned.sh
step "build" build build
step "unit tests" meson test -C build --print-errorlogs --no-rebuild
step "build (ASan+UBSan)" build build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
step "unit tests (ASan+UBSan)" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --print-errorlogs --no-rebuild
step "end-to-end tests" env NBWARDEN_BIN="$PWD/build/nbwarden" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e
# The same suite against the sanitizer build: any ASan/UBSan report in the
# daemon's output fails the run (the hub drops privileges, so leak checking is
# left to the unit tests).
step "end-to-end tests (ASan+UBSan daemon)" env NBWARDEN_BIN="$PWD/build-asan/nbwarden" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
