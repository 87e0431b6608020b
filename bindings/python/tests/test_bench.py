"""bench.py stays runnable: a short run that compiles bench_c.c and prints every figure."""
import os
import re
import subprocess
import sys

PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_quick_run_prints_python_and_c_figures():
    proc = subprocess.run([sys.executable, os.path.join(PKG_ROOT, "bench.py"), "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("insert_batch_1000", "insert_single", "scan_read_batch", "batch_extend",
                 "aggregate_1000"):
        assert re.search(rf"^{name}\s+[\d,]+\s+[\d,]+\s+[\d.]+$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^scan_iterate\s+[\d,]+", proc.stdout, re.M)
    assert "batch insert, Python/C = " in proc.stdout
