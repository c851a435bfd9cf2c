#!/usr/bin/env python3
"""bench/compare_test.py: runs `bench/compare --quick` end to end and checks what it produced, never timings.

    bench/compare_test.py [--bench-bin=PATH] [--compare=PATH]

Checks: compare exits 0; its markdown table (stdout and --markdown-out) has every expected row, with a figure in
each cell that has an anchor (n/a is allowed only in the savepoint column, and only for a workload that
`savepoint_bench --list` does not have); the JSON parses and says the same rows; the bulky work dir is gone; and
no redis-server that compare started is still running (its pids are in the JSON; /proc/<pid> must be gone or
belong to some other program).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# Row label -> (the savepoint_bench workload behind its savepoint cell or None for a machine figure,
#               has a redis figure, has a db_bench figure).
EXPECTED = {
    "fsync_raw t=1": ("fsync_raw", False, False),
    "sequential write (dd)": (None, False, False),
    "lz4 compress": (None, False, False),
    "lz4 decompress": (None, False, False),
    "memory latency (dependent random loads)": ("memory_latency", False, False),
    "wal_append_relaxed t=1": ("wal_append_relaxed", False, False),
    "wal_append_sync t=1": ("wal_append_sync", False, False),
    "wal_append_sync t=4": ("wal_append_sync", False, False),
    "put_relaxed t=1": ("put_relaxed", True, True),
    "put_relaxed t=1, redis pipelined": ("put_relaxed", True, False),
    "put_sync t=1": ("put_sync", True, True),
    "put_sync t=4": ("put_sync", True, True),
    "group commit t=1": ("put_sync", False, True),
    "group commit t=4": ("put_sync", False, True),
    "get t=1": ("get", True, True),
    "get t=1, redis pipelined": ("get", True, False),
    "get t=1, redis pipelined, 50 clients": ("get", True, False),
    "get_many t=1 (32 keys per call), redis pipelined": ("get_many", True, False),
    "mixed t=1": ("mixed", False, True),
    "zincrby t=1": ("zincrby", True, False),
    "zincrby t=1, redis pipelined": ("zincrby", True, False),
    "zrank t=1, redis pipelined": ("zrank", True, False),
    "stream t=1, redis pipelined XADD": ("stream", True, False),
    "stream t=1, redis pipelined XREADGROUP": ("stream", True, False),
    "memory per key": ("get", True, False),
    "recovery": ("recovery", True, False),
}
HEADER = "| workload | savepoint (ops/s, p50/p99 µs) | redis (config) | ratio | db_bench | ratio | notes |"


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed.append(what)
            print(f"FAIL: {what}", flush=True)
        return ok


def table_rows(markdown):
    """{first cell: [cells]} of the table's body rows."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and line != HEADER:
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[0]] = cells
    return rows


def redis_server_running(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False  # gone
    return b"redis-server" in cmdline and state != "Z"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench-bin", help="savepoint_bench to pass to compare (default: compare's own default)")
    ap.add_argument("--compare", default=os.path.join(HERE, "compare"))
    args = ap.parse_args()
    c = Checker()
    out_dir = tempfile.mkdtemp(prefix="compare_test.")
    try:
        cmd = [sys.executable, args.compare, "--quick", f"--out-dir={out_dir}"]
        if args.bench_bin:
            cmd.append(f"--bench-bin={args.bench_bin}")
        print("$ " + " ".join(cmd), flush=True)
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=600)
        stdout = p.stdout.decode(errors="replace")
        sys.stdout.write(stdout)
        if not c.check(p.returncode == 0, f"compare exits 0 (got {p.returncode})"):
            sys.stdout.write(p.stderr.decode(errors="replace")[-4000:])

        # What savepoint_bench has: n/a in its column is fine only for what it lacks.
        bench_bin = args.bench_bin
        available = None
        json_path = os.path.join(out_dir, "compare.json")
        doc = None
        try:
            with open(json_path) as f:
                doc = json.load(f)
            c.check(True, "the JSON parses")
        except (OSError, json.JSONDecodeError) as e:
            c.check(False, f"the JSON parses ({json_path}: {e})")
        if doc is not None:
            bench_bin = bench_bin or doc.get("config", {}).get("bench_bin")
        if bench_bin and os.path.exists(bench_bin):
            lp = subprocess.run([bench_bin, "--list"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                timeout=60)
            if lp.returncode == 0:
                available = {line.split()[0] for line in lp.stdout.decode().splitlines() if line.strip()}

        md_path = os.path.join(out_dir, "compare.md")
        markdown = open(md_path).read() if os.path.exists(md_path) else ""
        c.check(HEADER in stdout, "stdout has the table header")
        c.check(markdown and markdown in stdout, "--markdown-out holds the table printed on stdout")
        c.check("- command: `" in stdout and "--quick" in stdout, "the command line is printed")
        c.check("- machine: nproc " in stdout, "the machine is printed")
        rows = table_rows(stdout)
        for label, (workload, has_redis, has_db_bench) in EXPECTED.items():
            cells = rows.get(label)
            if not c.check(cells is not None and len(cells) == 7, f"row '{label}' is in the table"):
                continue
            sp, redis, r_ratio, db, d_ratio = cells[1:6]
            if available is not None:
                sp_missing = workload is not None and workload not in available
            else:  # a savepoint_bench without --list: compare ran it and it said "unknown workload"
                sp_missing = "not in this savepoint_bench" in sp
            if sp.startswith("n/a"):
                c.check(sp_missing, f"'{label}': savepoint n/a only when savepoint_bench lacks {workload} ({sp})")
            else:
                c.check(not sp.startswith("error") and sp[:1].isdigit(), f"'{label}': a savepoint figure ({sp})")
            for name, has, cell, r in (("redis", has_redis, redis, r_ratio), ("db_bench", has_db_bench, db, d_ratio)):
                if has:
                    c.check(cell[:1].isdigit(), f"'{label}': a {name} figure ({cell})")
                    if not sp.startswith("n/a"):
                        c.check(r.endswith("×"), f"'{label}': a ratio to {name} ({r})")
                else:
                    c.check(cell == "—" and r == "—", f"'{label}': no {name} anchor ({cell}, {r})")

        if doc is not None:
            labels = [r.get("workload") for r in doc.get("rows", [])]
            c.check(labels == list(rows.keys()), "the JSON has the table's rows, in order")
            for r in doc.get("rows", []):
                for side in ("savepoint", "redis", "db_bench"):
                    c.check(isinstance(r.get(side), dict) and "status" in r[side], f"JSON {r.get('workload')}: {side}")
            pids = doc.get("redis_pids") or []
            c.check(len(pids) >= 2, f"the JSON names the redis-servers compare started ({pids})")
            for pid in pids:
                c.check(not redis_server_running(pid), f"redis-server pid {pid} is no longer running")
        c.check(not os.path.exists(os.path.join(out_dir, "work")), "the work dir is removed")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)

    print(f"compare_test: {c.passed} passed, {len(c.failed)} failed")
    return 0 if not c.failed else 1


if __name__ == "__main__":
    sys.exit(main())
