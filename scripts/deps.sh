#!/usr/bin/env bash
# deps.sh — install the Debian packages musicgen.c needs to build, run and test.
# Runtime libraries: cJSON, libsndfile, libsoxr, libcurl, libebur128, OpenSSL (sha256).
# Test-only: python3-numpy (CLI tests), libsentencepiece-dev + g++ (tokenizer oracle),
# clang + libclang-rt-dev (libFuzzer and its sanitizer runtimes, only "recommended" by
# clang, so --no-install-recommends would leave them out) for the fuzzing smoke run.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
  build-essential cmake pkg-config ca-certificates \
  libcjson-dev libsndfile1-dev libsoxr-dev libcurl4-openssl-dev libebur128-dev libssl-dev \
  python3 python3-numpy g++ libsentencepiece-dev clang libclang-rt-dev
