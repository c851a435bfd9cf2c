#!/usr/bin/env bash
# The main job: install what is missing, build optimised, run the MMO demo workload (examples/mmo) on a default
# data directory. Run it again and it recovers the previous run's data and continues.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
./build/examples/mmo --data "${1:-savepoint-data}"
