#!/usr/bin/env bash
# build.sh — build every libFuzzer target (fuzz/fuzz_*.c) with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer (LeakSanitizer is part of ASan) into build-fuzz/.
#
#   fuzz/build.sh                 all targets
#   fuzz/build.sh npy gguf        only fuzz_npy and fuzz_gguf
#
# The parser sources (src/base, src/io, src/text and the tensor format code:
# src/tensor/{dtype,convert,isa,finite}.c) are compiled once with coverage instrumentation
# into build-fuzz/libmgfuzz.a; each harness links the objects it needs from it. Objects are rebuilt when their source or any header
# is newer. Environment: CC (default clang), MG_FUZZ_BUILD (default build-fuzz),
# JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${MG_FUZZ_BUILD:-build-fuzz}"
CC="${CC:-clang}"
JOBS="${JOBS:-$(nproc)}"
command -v "$CC" >/dev/null || { echo "fuzz/build.sh: $CC not found (Debian: apt-get install clang)" >&2; exit 1; }

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -Wall -Wextra -Wno-unused-parameter $SAN"
LIBS="-lcjson -lsndfile -lsoxr -lebur128 -lcrypto -lm -lpthread -ldl"

mkdir -p "$OUT/obj"
newest_header=$(find include src -name '*.h' -printf '%T@\n' | sort -n | tail -1)
sources=$(ls src/base/*.c src/io/*.c src/text/*.c src/tensor/dtype.c src/tensor/convert.c src/tensor/isa.c src/tensor/finite.c)

# Compile the library objects that are missing or out of date, in parallel.
stale=()
for s in $sources; do
  o="$OUT/obj/$(echo "${s#src/}" | tr / _ | sed 's/\.c$/.o/')"
  if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || \
     awk -v h="$newest_header" -v t="$(stat -c %Y "$o")" 'BEGIN{exit !(h > t)}'; then
    stale+=("$s:$o")
  fi
done
if [ "${#stale[@]}" -gt 0 ]; then
  echo "fuzz/build.sh: compiling ${#stale[@]} library sources"
  printf '%s\n' "${stale[@]}" | xargs -P "$JOBS" -I{} sh -c \
    'src="${1%%:*}"; obj="${1#*:}"; '"$CC $CFLAGS"' -fsanitize=fuzzer-no-link -c "$src" -o "$obj"' _ {}
  rm -f "$OUT/libmgfuzz.a"
fi
[ -f "$OUT/libmgfuzz.a" ] || ar rcs "$OUT/libmgfuzz.a" "$OUT"/obj/*.o

if [ "$#" -gt 0 ]; then
  targets=""
  for t in "$@"; do targets="$targets fuzz/fuzz_${t#fuzz_}.c"; done
else
  targets=$(ls fuzz/fuzz_*.c)
fi
for h in $targets; do
  [ -f "$h" ] || { echo "fuzz/build.sh: no harness $h" >&2; exit 1; }
  name=$(basename "$h" .c)
  bin="$OUT/$name"
  if [ ! -x "$bin" ] || [ "$h" -nt "$bin" ] || [ "$OUT/libmgfuzz.a" -nt "$bin" ]; then
    echo "fuzz/build.sh: linking $bin"
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer "$h" "$OUT/libmgfuzz.a" $LIBS -o "$bin"
  fi
done
echo "fuzz/build.sh: targets in $OUT/"
