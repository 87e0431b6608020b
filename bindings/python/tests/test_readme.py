"""The README's examples run as written and print what the README says."""
import os
import re
import subprocess
import sys

import pytest

PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blocks(lang):
    with open(os.path.join(PKG_ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def examples():
    """Each ```python block followed by "prints" and the ```text block of its output."""
    with open(os.path.join(PKG_ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    return re.findall(r"```python\n(.*?)```\s*prints\s*```text\n(.*?)```", text, re.S)


def test_every_python_block_has_its_output():
    assert len(examples()) == len(blocks("python")) == 2


@pytest.mark.parametrize("index", range(2))
def test_readme_example_runs_and_prints_what_it_says(tmp_path, index):
    code, expected = examples()[index]
    env = dict(os.environ, PYTHONPATH=PKG_ROOT, TMPDIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-X", "dev", "-c", code], capture_output=True,
                          text=True, env=env, cwd=str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # -X dev: no ResourceWarning, nothing left unclosed
    assert proc.stdout == expected
