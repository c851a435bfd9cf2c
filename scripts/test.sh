#!/usr/bin/env bash
# The whole test suite: install what is missing, build with AddressSanitizer + UndefinedBehaviorSanitizer
# (clang, so the libFuzzer targets build in the same tree), run every test with ctest, including the short
# fuzz runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSAVEPOINT_SANITIZE=address,undefined -DSAVEPOINT_FUZZ=ON -DSAVEPOINT_WERROR=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" "$@"
