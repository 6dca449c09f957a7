#!/usr/bin/env bash
# build.sh — configure and build musicgen.c into ./build (Release, warnings as errors).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMG_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
