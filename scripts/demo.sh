#!/usr/bin/env bash
# The main job: install what is missing, build optimised, run the demo workload on a default data directory.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
./build/examples/wal_demo "${1:-savepoint-data}"
