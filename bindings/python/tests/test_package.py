"""Packaging: no numpy needed, library discovery and its errors, metadata."""
import os
import subprocess
import sys

import tsdb

PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(code, **env_changes):
    env = dict(os.environ, PYTHONPATH=PKG_ROOT)
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)


def test_works_without_numpy(tmp_path):
    """numpy is never imported, even when installed; everything works with it blocked."""
    code = f"""
import sys
sys.modules["numpy"] = None  # any `import numpy` now fails
import tsdb
with tsdb.open({str(tmp_path / "db")!r}) as db:
    m = db.create_metric("m")
    db.insert_batch(m, [1, 2], [1.0, 2.0])
    assert list(db.snapshot().scan(m)) == [(1, 1.0), (2, 2.0)]
print("ok")
"""
    proc = run(code)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr


def test_import_is_lazy_and_a_missing_library_says_what_to_set(tmp_path):
    code = f"""
import tsdb  # loads nothing yet
try:
    tsdb.open({str(tmp_path / "db")!r})
except tsdb.LibraryNotFound as e:
    print(e)
"""
    proc = run(code, TSDB_LIB=str(tmp_path / "nope.so"))
    assert proc.returncode == 0, proc.stderr
    assert "TSDB_LIB is set" in proc.stdout and "nope.so" in proc.stdout

    proc = run(code, TSDB_LIB=None, TSDB_LIB_DIR=str(tmp_path))
    assert "TSDB_LIB_DIR is set" in proc.stdout and str(tmp_path) in proc.stdout

    not_a_lib = tmp_path / "libtsdb.so"
    not_a_lib.write_text("not a library")
    proc = run(code, TSDB_LIB=str(not_a_lib))
    assert "cannot load" in proc.stdout

    assert issubclass(tsdb.LibraryNotFound, ImportError)


def test_tsdb_lib_names_the_library_file():
    path = tsdb.library_path()
    proc = run("import tsdb; print(tsdb.library_path())", TSDB_LIB=path, TSDB_LIB_DIR=None)
    assert proc.returncode == 0 and proc.stdout.strip() == path, proc.stderr


def test_without_settings_the_repository_build_then_the_system_is_used():
    repo_lib = os.path.join(PKG_ROOT, "..", "..", "target", "release", "libtsdb.so")
    code = "import tsdb\ntry:\n    print(tsdb.library_path())\nexcept tsdb.LibraryNotFound as e:\n    print('not found:', e)"
    proc = run(code, TSDB_LIB=None, TSDB_LIB_DIR=None)
    assert proc.returncode == 0, proc.stderr
    if os.path.exists(repo_lib):
        assert os.path.samefile(proc.stdout.strip(), repo_lib)
    else:
        import ctypes.util
        system = ctypes.util.find_library("tsdb")
        if system:
            assert proc.stdout.strip() == system
        else:
            assert proc.stdout.startswith("not found:") and "TSDB_LIB" in proc.stdout


def test_public_names():
    for name in tsdb.__all__:
        assert hasattr(tsdb, name), name
    assert tsdb.MAX_TIMESTAMP == (1 << 63) - 2
    assert tsdb.Status.INTERNAL == 9
