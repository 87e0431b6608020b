"""The README's example runs as written and prints what the README says."""
import os
import re
import subprocess
import sys

PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blocks(lang):
    with open(os.path.join(PKG_ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_readme_example_runs_and_prints_what_it_says(tmp_path):
    code = blocks("python")[0]
    expected = blocks("text")[0]
    env = dict(os.environ, PYTHONPATH=PKG_ROOT, TMPDIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-X", "dev", "-c", code], capture_output=True,
                          text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # -X dev: no ResourceWarning, nothing left unclosed
    assert proc.stdout == expected
