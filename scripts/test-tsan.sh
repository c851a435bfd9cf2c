#!/usr/bin/env bash
# ThreadSanitizer build of the concurrency tests (every test labelled "concurrency"), then a short torture run
# (savepoint_crashtest: the workload threads, crash recovery and, in its power-cut cycles, engines abandoned
# mid-flight, all under TSan; a race in a child process fails the run too).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSAVEPOINT_SANITIZE=thread -DSAVEPOINT_WERROR=ON >/dev/null
cmake --build build-tsan -j"$(nproc)"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp"
ctest --test-dir build-tsan --output-on-failure -L concurrency "$@"
# The workload children die at crash points by _exit, where TSan would report as leaked a thread that had
# finished and was to be joined later (a background save's): not a race, and at a crash not a leak either.
TSAN_OPTIONS="$TSAN_OPTIONS:report_thread_leaks=0" build-tsan/tools/savepoint_crashtest --duration=30
