#!/usr/bin/env python3
"""bench.py -- points/s of the Python binding next to the C API, measured in one run.

    python3 bindings/python/bench.py [--quick] [--repeat R] [--batch-points N] [--single-points N]

Workloads, each on a fresh database with default options (one metric per workload):
  insert_batch_1000   DB.insert_batch with 1,000-point array('q')/array('d') batches
                      (C: ts_insert_batch)
  insert_single       DB.insert, one point per call (C: ts_insert)
  scan_read_batch     Cursor.read_batch(4096) until done (C: ts_cursor_next_batch, 4,096)
  scan_iterate        Python only: `for ts, value in cursor` (tuples, a block read at a time)
  batch_extend        Batch.extend of 1,000 points for each of 10 metrics, then commit
                      (C: ts_batch_add_many, ts_batch_commit)
  aggregate_1000      Snapshot.aggregate over the batched metric in buckets of 1,000
                      timestamps: points summarised per second, best of 3 passes (C:
                      ts_aggregate, 1,024 buckets per call)
The C figures come from bench_c.c, compiled here with gcc against the library the Python
package loaded, and run in the same process tree right after. Each figure is the best of
--repeat runs (the machine may be shared). Figures are printed, never checked.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tsdb  # noqa: E402

BATCH = 1000
READ_BLOCK = 4096
EXTEND_METRICS = 10
AGG_BUCKET = 1000
AGG_PASSES = 3  # aggregate is fast: the best of 3 passes within each run
WORKLOADS = ("insert_batch_1000", "insert_single", "scan_read_batch", "scan_iterate",
             "batch_extend", "aggregate_1000")


def compile_c(tmp):
    """Build bench_c.c against the loaded library; returns the executable's path."""
    lib_path = tsdb.library_path()
    include = os.environ.get("TSDB_INCLUDE_DIR") or os.path.join(HERE, "..", "..", "include")
    if not os.path.exists(os.path.join(include, "tsdb.h")):
        sys.exit(f"bench.py: tsdb.h not found in {include}; set TSDB_INCLUDE_DIR")
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        sys.exit(f"bench.py: {cc} not found (apt-get install gcc, or set CC)")
    exe = os.path.join(tmp, "bench_c")
    cmd = [cc, "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", include,
           os.path.join(HERE, "bench_c.c"), "-o", exe, lib_path,
           "-Wl,-rpath," + os.path.dirname(os.path.abspath(lib_path))]
    subprocess.run(cmd, check=True)
    return exe


def run_c(exe, tmp, batch_points, single_points):
    d = tempfile.mkdtemp(dir=tmp)
    try:
        out = subprocess.run([exe, os.path.join(d, "db"), str(batch_points),
                              str(single_points)], check=True, capture_output=True,
                             text=True).stdout
    finally:
        shutil.rmtree(d)
    return {name: float(rate) for name, rate in (line.split() for line in out.splitlines())}


def run_python(tmp, batch_points, single_points):
    batch_points = batch_points // BATCH * BATCH
    chunks = [(array("q", range(off, off + BATCH)),
               array("d", [(i % 1000) * 0.25 for i in range(off, off + BATCH)]))
              for off in range(0, batch_points, BATCH)]
    singles = [(i % 1000) * 0.25 for i in range(single_points)]
    d = tempfile.mkdtemp(dir=tmp)
    rates = {}
    try:
        with tsdb.open(os.path.join(d, "db")) as db:
            batched = db.create_metric("batched")
            single = db.create_metric("single")

            insert_batch = db.insert_batch
            t0 = time.perf_counter()
            for ts, vs in chunks:
                insert_batch(batched, ts, vs)
            rates["insert_batch_1000"] = batch_points / (time.perf_counter() - t0)

            insert = db.insert
            t0 = time.perf_counter()
            for i, v in zip(range(single_points), singles):
                insert(single, i, v)
            rates["insert_single"] = single_points / (time.perf_counter() - t0)

            t0 = time.perf_counter()
            total = 0
            with db.snapshot() as snap, snap.scan(batched) as cursor:
                read_batch = cursor.read_batch
                while True:
                    ts, _ = read_batch(READ_BLOCK)
                    if not ts:
                        break
                    total += len(ts)
            rates["scan_read_batch"] = total / (time.perf_counter() - t0)
            assert total == batch_points, (total, batch_points)

            t0 = time.perf_counter()
            total = 0
            with db.snapshot() as snap, snap.scan(batched) as cursor:
                for _ts, _value in cursor:
                    total += 1
            rates["scan_iterate"] = total / (time.perf_counter() - t0)
            assert total == batch_points, (total, batch_points)

            extended = [db.create_metric(f"extended.{i}") for i in range(EXTEND_METRICS)]
            rounds = len(chunks) // EXTEND_METRICS
            t0 = time.perf_counter()
            with db.batch() as batch:
                extend, commit = batch.extend, batch.commit
                for r in range(rounds):
                    for i, metric in enumerate(extended):
                        ts, vs = chunks[r * EXTEND_METRICS + i]
                        extend(metric, ts, vs)
                    commit()
            rates["batch_extend"] = rounds * EXTEND_METRICS * BATCH / (time.perf_counter() - t0)

            best_time = None
            for _ in range(AGG_PASSES):
                t0 = time.perf_counter()
                with db.snapshot() as snap:
                    buckets = snap.aggregate(batched, 0, batch_points, AGG_BUCKET)
                elapsed = time.perf_counter() - t0
                best_time = elapsed if best_time is None else min(best_time, elapsed)
                assert sum(b.count for b in buckets) == batch_points
            rates["aggregate_1000"] = batch_points / best_time
    finally:
        shutil.rmtree(d)
    return rates


def best(runs):
    out = {}
    for r in runs:
        for k, v in r.items():
            out[k] = max(out.get(k, 0.0), v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one run (smoke test)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-points", type=int, default=2_000_000)
    ap.add_argument("--single-points", type=int, default=500_000)
    args = ap.parse_args()
    if args.quick:
        args.repeat, args.batch_points, args.single_points = 1, 20_000, 5_000

    tmp = tempfile.mkdtemp(prefix="tsdb-pybench-")
    try:
        exe = compile_c(tmp)
        py_runs, c_runs = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            py_runs.append(run_python(tmp, args.batch_points, args.single_points))
            c_runs.append(run_c(exe, tmp, args.batch_points, args.single_points))
    finally:
        shutil.rmtree(tmp)
    py, c = best(py_runs), best(c_runs)

    print(f"libtsdb {tsdb.library_version()} ({tsdb.library_path()}), Python "
          f"{sys.version.split()[0]}; {args.batch_points:,} batched points, "
          f"{args.single_points:,} single inserts; best of {args.repeat}")
    print(f"{'workload':<20} {'Python pts/s':>14} {'C pts/s':>14} {'Python/C':>9}")
    for name in WORKLOADS:
        c_rate = c.get(name)
        ratio = f"{py[name] / c_rate:9.2f}" if c_rate else f"{'-':>9}"
        c_text = f"{c_rate:14,.0f}" if c_rate else f"{'-':>14}"
        print(f"{name:<20} {py[name]:14,.0f} {c_text} {ratio}")
    ratio = py["insert_batch_1000"] / c["insert_batch_1000"]
    print(f"batch insert, Python/C = {ratio:.2f} (target: at least 0.50, i.e. within 2x of C): "
          f"{'met' if ratio >= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
