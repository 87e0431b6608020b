"""The plain data the query calls return: ``Bucket`` (``ts_agg``), ``Stats`` (``ts_stats``)
and ``Metric`` (an entry of a metric listing)."""

import dataclasses
from typing import NamedTuple


class Bucket(NamedTuple):
    """One non-empty bucket of ``Snapshot.aggregate`` (``struct ts_agg``).

    The bucket covers ``[start, start + bucket)`` (the last one is clipped to ``until_ts``).

    NaN rule: ``count`` counts every point, NaN values included; ``min``, ``max`` and
    ``sum`` are over the non-NaN values and are NaN when every value is NaN; ``first`` and
    ``last`` are the values at ``first_ts`` and ``last_ts``, NaN or not. Infinities follow
    IEEE arithmetic (``inf + -inf`` is NaN). ``sum`` adds per-block sums, so its last bits
    may differ from a point-by-point sum in timestamp order.
    """

    start: int
    count: int
    min: float
    max: float
    sum: float
    first: float
    last: float
    first_ts: int
    last_ts: int


class Metric(NamedTuple):
    """One entry of ``Snapshot.metrics``: a metric's id and name."""

    id: int
    name: str


@dataclasses.dataclass(frozen=True)
class Stats:
    """What ``DB.stats`` reports (``struct ts_stats``): what the database holds and what
    keeps space alive. A forgotten snapshot shows as a large ``oldest_snapshot_age_ms`` and
    a growing ``old_snapshot_bytes``."""

    #: Live metrics.
    metrics: int
    #: Points stored: in sealed partitions, plus those in heads not yet sealed (counted as
    #: written: a head point that overwrites another counts twice until sealed).
    points: int
    #: Sealed partitions.
    partitions: int
    #: Bytes the database's files take on disk, as ``du`` counts them.
    disk_bytes: int
    #: Bytes of write-ahead log written since the last checkpoint began.
    wal_bytes: int
    #: Snapshots not yet released (a cursor or metric listing keeps its snapshot live).
    live_snapshots: int
    #: Age of the oldest live snapshot in milliseconds, to the second; 0 when none.
    oldest_snapshot_age_ms: int
    #: Bytes of data blocks kept alive only by snapshots older than the current state.
    old_snapshot_bytes: int
    #: Failures of background work (syncs of the log, checkpoints, retention) since open.
    background_errors: int
    #: 0 (TS_OK) while the database takes writes; otherwise the status writes get (the
    #: next write's exception says what failed).
    failure: int
