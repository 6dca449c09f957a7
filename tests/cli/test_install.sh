#!/usr/bin/env bash
# test_install.sh — `cmake --install` into a temporary prefix, then build the example
# program against the installed library with pkg-config only (as a user would), run
# it on the tiny fixture, and check the man page and the CLI were installed.
set -euo pipefail
build="${MG_BUILD_DIR:?}"
ref="${MG_REFERENCE_DIR:?}"
src="${MG_SOURCE_DIR:?}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir="$(ls -d "$tmp/prefix"/lib* | head -1)"
[ -f "$tmp/prefix/include/musicgen.h" ] || fail "header not installed"
[ -x "$tmp/prefix/bin/musicgen" ] || fail "CLI not installed"
[ -f "$tmp/prefix/share/man/man1/musicgen.1" ] || fail "man page not installed"
[ -f "$libdir/pkgconfig/musicgen.pc" ] || fail "musicgen.pc not installed"
ls "$libdir"/libmusicgen.so* >/dev/null || fail "shared library not installed"
[ -f "$libdir/libmusicgen.a" ] || fail "static library not installed"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
flags="$(pkg-config --cflags --libs musicgen)"
extra=""
if grep -q "MG_SANITIZE:BOOL=ON" "$build/CMakeCache.txt"; then extra="-fsanitize=address,undefined"; fi
if grep -q "MG_TSAN:BOOL=ON" "$build/CMakeCache.txt"; then extra="-fsanitize=thread"; fi
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror $extra "$src/examples/background_music.c" $flags -o "$tmp/example" \
  || fail "the example does not build against the installed library"
LD_LIBRARY_PATH="$libdir" "$tmp/example" -m "$ref/tiny-mono" -d 0.5 -o "$tmp/out.wav" "calm piano" >"$tmp/log" 2>&1 \
  || { cat "$tmp/log" >&2; fail "the example failed"; }
[ -s "$tmp/out.wav" ] || fail "no audio written"
grep -q "0.50 s of audio" "$tmp/log" || { cat "$tmp/log" >&2; fail "unexpected example output"; }
"$tmp/prefix/bin/musicgen" --version | grep -q "musicgen" || fail "installed CLI does not run"
echo "test_install: ok (installed, example built with pkg-config and ran)"
