#!/usr/bin/env bash
# ThreadSanitizer build of the concurrency tests (every test labelled "concurrency").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSAVEPOINT_SANITIZE=thread -DSAVEPOINT_WERROR=ON >/dev/null
cmake --build build-tsan -j"$(nproc)"
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
ctest --test-dir build-tsan --output-on-failure -L concurrency "$@"
