#!/usr/bin/env python3
"""Record this machine's own /proc metrics as codec test data (data/node_metrics.csv).

What it makes
    A CSV with header ``metric,timestamp,value`` and one row per point, grouped by metric
    (all points of the first metric, then the next...), timestamps ascending within a
    metric. It is the "recorded" dataset of ``src/codec/shapes.rs`` (``recorded()`` embeds
    it with ``include_str!``): real values and real timing jitter for measuring the point
    codec, next to the synthetic shapes.

How it is made
    Every ``--interval-ms`` (100 ms) for ``--samples`` ticks (600, about a minute) the script
    reads /proc/stat, /proc/loadavg, /proc/meminfo, /proc/vmstat, /proc/net/dev,
    /proc/diskstats and /proc/sys/fs/file-nr, in that order, and takes the wall-clock time
    (``time.time_ns()``, floored to ms) just before reading each file. The ideal schedule
    starts on a 100 ms boundary; sleeps aim at the ideal tick times (no drift).

    About 70 metrics (75 on the recording machine), named with dots and in node_exporter's units:
      cpu.<mode>, cpu<N>.<mode>   /proc/stat jiffies / CLK_TCK = CPU seconds (counters, 2
                                  decimals), modes user nice system idle iowait irq
                                  softirq steal, for the total and each CPU
      stat.*                      context switches, interrupts, forks (counters),
                                  procs_running / procs_blocked (gauges)
      load.*                      load averages (2-decimal gauges), runnable and total
                                  scheduling entities, last pid
      mem.*                       selected /proc/meminfo fields in bytes (kB * 1024)
      vm.*                        selected /proc/vmstat counters and gauges (pages)
      net.<if>.*                  rx/tx bytes and packets per interface (counters)
      disk.<dev>.*                reads/writes completed, bytes read/written (sectors *
                                  512), I/Os in progress, seconds spent doing I/O
      fs.file_handles             allocated file handles (gauge)
    Interfaces: every one in /proc/net/dev except those whose counters are all zero at the
    start. Disks: whole devices that are not loop, ram or zram and have done any I/O.

Timestamps are rebased to look like a 10 s scrape
    Sample i of a file read at wall-clock ms ``r_i`` gets
        ts = t0 + i * scrape_ms + (r_i - (t0 + i * interval_ms))
    where t0 is the start of the ideal schedule (a real epoch ms) and scrape_ms = 10000.
    The second term is the real deviation of the read from its ideal tick (0..5 ms in the
    checked-in file, 0 for 88% of points): the points keep real jitter and real values but
    are spaced as if scraped every 10 s. (So counters grow 100 times less per interval than
    a real 10 s scrape would show; each value itself is a real reading.)

Values are written with Python's ``repr(float(x))``, the shortest string that round-trips,
so Rust's ``str::parse::<f64>`` gets back exactly the recorded double.

Re-run (Linux, Python 3 stdlib only, about a minute; from the repository root):
    python3 tools/record_proc.py                     # writes data/node_metrics.csv
    python3 tools/record_proc.py --samples 600 --interval-ms 100 --scrape-ms 10000 \\
        --out data/node_metrics.csv --workload CMD
``--workload CMD`` runs a shell command in the background during the recording (in its
own process group, killed at the end) so the machine has something to do.

The checked-in file was recorded on a 2-CPU Linux VM (kernel 6.18, 24 GB) with the defaults
and this workload, the machine building and testing libtsdb itself (from a copy of the
repository in /tmp/tsdb-load, made with ``git archive HEAD | tar -x -C /tmp/tsdb-load``)
while a local HTTP server is polled every 200 ms over loopback:
    --workload 'cd /tmp/tsdb-load && rm -rf target && {
        python3 -m http.server 8765 --bind 127.0.0.1 &
        while sleep 0.2; do curl -s -o /dev/null http://127.0.0.1:8765/Cargo.lock; done &
        cargo build --release --offline -q && cargo test --release --offline -q; wait; }'
Without a workload the same VM gave a much flatter file: 26 of the 75 series constant and
the network series flat. The result depends on the machine and the moment; keep the file
under about 2 MB, it is checked in.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

CPU_MODES = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]

MEMINFO = [
    "MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "Active", "Inactive",
    "AnonPages", "Mapped", "Shmem", "Slab", "SReclaimable", "SUnreclaim", "KernelStack",
    "PageTables", "Committed_AS", "Dirty",
]

VMSTAT = [
    "pgfault", "pgmajfault", "pgpgin", "pgpgout", "pgalloc_normal", "pgfree",
    "nr_free_pages", "nr_dirty",
]


def read(path):
    """(wall-clock ms just before the read, file text)."""
    t = time.time_ns() // 1_000_000
    with open(path) as f:
        return t, f.read()


def parse_stat(text):
    out = {}
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0].startswith("cpu"):
            for mode, v in zip(CPU_MODES, f[1:]):
                out[f"{f[0]}.{mode}"] = int(v) / CLK_TCK
        elif f[0] == "ctxt":
            out["stat.context_switches"] = float(f[1])
        elif f[0] == "intr":
            out["stat.interrupts"] = float(f[1])
        elif f[0] == "processes":
            out["stat.forks"] = float(f[1])
        elif f[0] == "procs_running":
            out["stat.procs_running"] = float(f[1])
        elif f[0] == "procs_blocked":
            out["stat.procs_blocked"] = float(f[1])
    return out


def parse_loadavg(text):
    f = text.split()
    running, total = f[3].split("/")
    return {
        "load.1m": float(f[0]),
        "load.5m": float(f[1]),
        "load.15m": float(f[2]),
        "load.runnable": float(running),
        "load.entities": float(total),
        "load.last_pid": float(f[4]),
    }


def parse_meminfo(text):
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in MEMINFO:
            f = rest.split()
            out[f"mem.{key}"] = float(int(f[0]) * (1024 if len(f) > 1 else 1))
    return out


def parse_vmstat(text):
    out = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) == 2 and f[0] in VMSTAT:
            out[f"vm.{f[0]}"] = float(f[1])
    return out


def parse_netdev(text):
    out = {}
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        f = rest.split()
        name = name.strip()
        out[f"net.{name}.rx_bytes"] = float(f[0])
        out[f"net.{name}.rx_packets"] = float(f[1])
        out[f"net.{name}.tx_bytes"] = float(f[8])
        out[f"net.{name}.tx_packets"] = float(f[9])
    return out


def parse_diskstats(text):
    out = {}
    for line in text.splitlines():
        f = line.split()
        name = f[2]
        out[f"disk.{name}.reads"] = float(f[3])
        out[f"disk.{name}.read_bytes"] = float(int(f[5]) * 512)
        out[f"disk.{name}.writes"] = float(f[7])
        out[f"disk.{name}.written_bytes"] = float(int(f[9]) * 512)
        out[f"disk.{name}.io_now"] = float(f[11])
        out[f"disk.{name}.io_seconds"] = int(f[12]) / 1000
    return out


def parse_file_nr(text):
    return {"fs.file_handles": float(text.split()[0])}


SOURCES = [
    ("/proc/stat", parse_stat),
    ("/proc/loadavg", parse_loadavg),
    ("/proc/meminfo", parse_meminfo),
    ("/proc/vmstat", parse_vmstat),
    ("/proc/net/dev", parse_netdev),
    ("/proc/diskstats", parse_diskstats),
    ("/proc/sys/fs/file-nr", parse_file_nr),
]


def wanted_metrics():
    """The metric names to keep, in output order, decided from one read of each source."""
    names = []
    for path, parse in SOURCES:
        vals = parse(read(path)[1])
        for name in vals:
            if name.startswith("net."):
                iface = name.split(".")[1]
                if all(v == 0 for k, v in vals.items() if k.split(".")[1] == iface):
                    continue
            if name.startswith("disk."):
                dev = name.split(".")[1]
                if dev.startswith(("loop", "ram", "zram")):
                    continue  # virtual
                if not os.path.exists(f"/sys/block/{dev}"):
                    continue  # a partition: only whole devices are in /sys/block
                if vals[f"disk.{dev}.reads"] == 0 and vals[f"disk.{dev}.writes"] == 0:
                    continue
            names.append(name)
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--samples", type=int, default=600)
    ap.add_argument("--interval-ms", type=int, default=100)
    ap.add_argument("--scrape-ms", type=int, default=10000)
    ap.add_argument("--out", default=os.path.join(root, "data", "node_metrics.csv"))
    ap.add_argument("--workload", metavar="CMD",
                    help="shell command run in the background while recording, in its own "
                         "process group, which is killed at the end")
    args = ap.parse_args()

    names = wanted_metrics()
    workload = None
    if args.workload:
        workload = subprocess.Popen(["sh", "-c", args.workload], start_new_session=True,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        points, max_jitter = record(args, names)
    finally:
        if workload is not None:
            os.killpg(workload.pid, signal.SIGTERM)
            workload.wait()

    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("metric,timestamp,value\n")
        for name in names:
            pts = points[name]
            if len(pts) != args.samples:
                sys.exit(f"{name}: {len(pts)} points, expected {args.samples}")
            for ts, v in pts:
                f.write(f"{name},{ts},{v!r}\n")
    os.replace(tmp, args.out)
    print(f"{args.out}: {len(names)} metrics x {args.samples} points, "
          f"{os.path.getsize(args.out)} bytes, max jitter {max_jitter} ms")


def record(args, names):
    """Samples every source on the ideal schedule; returns ({name: [(ts, value)]}, max jitter)."""
    points = {n: [] for n in names}
    step = args.interval_ms
    t0 = (time.time_ns() // 1_000_000 // step + 1) * step  # next interval boundary, ms
    max_jitter = 0
    for i in range(args.samples):
        ideal = t0 + i * step
        delay = ideal * 1_000_000 - time.time_ns()
        if delay > 0:
            time.sleep(delay / 1e9)
        for path, parse in SOURCES:
            r, text = read(path)
            jitter = r - ideal
            if not 0 <= jitter < args.scrape_ms:
                sys.exit(f"read of {path} at tick {i} is {jitter} ms off schedule")
            max_jitter = max(max_jitter, jitter)
            ts = t0 + i * args.scrape_ms + jitter
            for name, v in parse(text).items():
                if name in points:
                    points[name].append((ts, float(v)))
    return points, max_jitter


if __name__ == "__main__":
    main()
