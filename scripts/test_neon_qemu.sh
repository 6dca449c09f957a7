#!/usr/bin/env bash
# test_neon_qemu.sh — run the matmul and attention kernel tests (tests/test_kernels.c,
# tests/test_attention.c) on the NEON kernels from an x86-64 machine: cross-compiles
# them statically for AArch64, once for baseline ARMv8-A (the widening-multiply
# fallbacks) and once with the dotprod extension (SDOT), and runs both under
# qemu-aarch64 user emulation.
#   scripts/test_neon_qemu.sh          (needs gcc-aarch64-linux-gnu and qemu-user)
# Not part of CI (which builds for the machine it runs on). Every check should pass
# except the one that re-runs the test in a child process with MG_ISA=scalar: that
# child is an AArch64 binary the host cannot exec without binfmt_misc.
set -uo pipefail
cd "$(dirname "$0")/.."
cc=aarch64-linux-gnu-gcc
command -v "$cc" >/dev/null && command -v qemu-aarch64 >/dev/null || {
  echo "needs $cc and qemu-aarch64 (Debian: gcc-aarch64-linux-gnu qemu-user)" >&2
  exit 2
}
out="$(mktemp -d /tmp/mg_neon.XXXXXX)"
trap 'rm -rf "$out"' EXIT
srcs="$(ls src/tensor/*.c | grep -v avx) $(ls src/base/*.c) tests/test_kernels.c tests/support/test.c"
status=0
for arch in armv8-a armv8.2-a+dotprod; do
  # Unused parts of the test support library (checkpoint helpers) are dropped at link time.
  "$cc" -std=c11 -D_GNU_SOURCE -O2 -march="$arch" -static -ffunction-sections -fdata-sections \
    -Wl,--gc-sections -Isrc -Iinclude -Itests/support $srcs -lm -lpthread -o "$out/test_kernels" || exit 1
  echo "== $arch"
  qemu-aarch64 "$out/test_kernels" 2>&1 | grep -v "Exec format error" | tee "$out/log" | grep -E "neon|FAIL|checks"
  # The one expected failure: the MG_ISA=scalar child process.
  fails=$(grep -c '^FAIL' "$out/log")
  if [ "$fails" -gt 1 ] || ! grep -q "best ISA neon" "$out/log" || { [ "$fails" = 1 ] && ! grep -q "child with MG_ISA=scalar" "$out/log"; }; then
    status=1
  fi
  "$cc" -std=c11 -D_GNU_SOURCE -O2 -march="$arch" -static -ffunction-sections -fdata-sections \
    -Wl,--gc-sections -Isrc -Iinclude -Itests/support $(ls src/tensor/*.c | grep -v avx) $(ls src/base/*.c) \
    src/lm/attention.c src/lm/attention_neon.c tests/test_attention.c tests/support/test.c -lm -lpthread \
    -o "$out/test_attention" || exit 1
  qemu-aarch64 "$out/test_attention" 2>&1 | tee "$out/log" | grep -E "FAIL|checks"
  grep -q "test_attention: all .* checks passed" "$out/log" || status=1
done
exit $status
