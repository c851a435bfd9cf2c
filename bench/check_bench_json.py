#!/usr/bin/env python3
"""Runs savepoint_bench --json and checks its output format: the exit status is 0, every stdout line is a
JSON object with the required keys and sane values, and there is one line per expected run. Speed is never
judged here: timing does not decide a test's verdict.

    check_bench_json.py --expect-runs 3 -- path/to/savepoint_bench --quick --json ...
"""
import argparse
import json
import math
import subprocess
import sys

REQUIRED = {"workload": str, "threads": int, "ops_per_sec": (int, float), "mb_per_sec": (int, float),
            "p50_us": (int, float), "p99_us": (int, float), "p999_us": (int, float)}
# Extra fields some workloads promise.
EXTRA = {"wal_append_sync": ["syncs", "commits_per_sync"], "wal_append_relaxed": ["syncs"],
         "fsync_raw": ["write_size"],
         "get": ["keys", "memory_bytes_per_key", "rss_bytes_per_key"],
         "put_relaxed": ["keys", "syncs"],
         "put_sync": ["keys", "syncs", "commits_per_sync"],
         "mixed": ["keys"],
         "recovery": ["keys", "seconds", "replayed"],
         "snapshot_write": ["keys", "seconds", "rows", "file_bytes", "rss_growth_pct"],
         "snapshot_load": ["keys", "seconds", "open_seconds"],
         "snapshot_latency": ["keys", "background_snapshot", "rss_growth_pct"],
         "pitr": ["keys", "seconds", "replayed"]}


def check_line(number, line):
    errors = []
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        return [f"line {number} is not JSON ({e}): {line!r}"]
    if not isinstance(obj, dict):
        return [f"line {number} is not a JSON object: {line!r}"]
    for key, kind in REQUIRED.items():
        if key not in obj:
            errors.append(f"line {number}: missing key {key!r}")
        elif not isinstance(obj[key], kind) or isinstance(obj[key], bool):
            errors.append(f"line {number}: {key}={obj[key]!r} has the wrong type")
    if errors:
        return errors
    for key in REQUIRED:
        if key != "workload" and (not math.isfinite(obj[key]) or obj[key] < 0):
            errors.append(f"line {number}: {key}={obj[key]} is not a finite number >= 0")
    if obj["threads"] < 1:
        errors.append(f"line {number}: threads={obj['threads']} < 1")
    if obj["ops_per_sec"] <= 0:
        errors.append(f"line {number}: no operation completed (ops_per_sec={obj['ops_per_sec']})")
    if not obj["p50_us"] <= obj["p99_us"] <= obj["p999_us"]:
        errors.append(f"line {number}: percentiles out of order: {obj['p50_us']}, {obj['p99_us']}, "
                      f"{obj['p999_us']}")
    for key in EXTRA.get(obj["workload"], []):
        if not isinstance(obj.get(key), (int, float)):
            errors.append(f"line {number}: {obj['workload']} lacks the numeric field {key!r}")
    if errors:
        return errors
    # Not speed: whether the run measured what it claims to.
    if obj["workload"] == "get" and obj["memory_bytes_per_key"] <= 0:
        errors.append(f"line {number}: get reports no memory for its {obj['keys']} keys")
    if obj["workload"] == "recovery" and obj["replayed"] < obj["keys"]:
        # The crash must leave the whole tail (one commit per key) to the WAL: open replays at least that.
        errors.append(f"line {number}: recovery replayed {obj['replayed']} records, fewer than the "
                      f"{obj['keys']}-record tail")
    return errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--expect-runs", type=int, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no benchmark command given")

    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    print(proc.stdout, end="")
    errors = []
    if proc.returncode != 0:
        errors.append(f"{command[0]} exited with status {proc.returncode}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        errors.extend(check_line(number, line))
    if len(lines) != args.expect_runs:
        errors.append(f"expected {args.expect_runs} result lines, got {len(lines)}")
    for e in errors:
        print("FAIL: " + e, file=sys.stderr)
    if errors:
        return 1
    print(f"OK: {len(lines)} result lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
