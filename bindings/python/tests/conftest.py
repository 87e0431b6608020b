import gc
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)  # bindings/python
if PKG_ROOT not in sys.path:  # also when run without pyproject.toml's pythonpath
    sys.path.insert(0, PKG_ROOT)

import tsdb  # noqa: E402


@pytest.fixture
def path(tmp_path):
    """A database directory that does not exist yet (ts_open creates it)."""
    return str(tmp_path / "db")


@pytest.fixture
def db(path):
    """An open database, closed after the test (unless the test closed it)."""
    d = tsdb.open(path)
    yield d
    gc.collect()  # free handles a test dropped on purpose before closing
    d.close()


def scan_all(db, metric_id):
    """Every point of metric_id in a new snapshot, as a list of (ts, value)."""
    with db.snapshot() as snap, snap.scan(metric_id) as cursor:
        return list(cursor)
