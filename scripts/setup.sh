#!/usr/bin/env bash
# Installs, from Debian's packages only, whatever the build, the tests and the benchmarks need and is missing.
# Safe to run again: it does nothing when everything is present.
set -euo pipefail
packages=(build-essential cmake ninja-build clang libclang-rt-14-dev
          librocksdb-dev liblz4-dev nlohmann-json3-dev uuid-dev libspdlog-dev libxxhash-dev libabsl-dev
          libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libhiredis-dev
          redis-server redis-tools rocksdb-tools lz4 python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || echo "setup: apt-get update reported an error; trying the install anyway" >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
