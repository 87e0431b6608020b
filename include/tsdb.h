/*
 * tsdb.h -- libtsdb, an embeddable time-series storage engine.
 *
 * DATA MODEL
 *   A database is a directory holding metrics (series). A metric has a unique name
 *   (1..=1024 bytes of UTF-8) and a stable uint64_t id assigned at creation and never
 *   reused. A point is (int64_t timestamp, double value). Timestamps are unit-free (pick
 *   ms or ns), range over INT64_MIN..=TS_MAX_TIMESTAMP (INT64_MAX - 1, since scans end
 *   before an exclusive `until`) and may arrive in any order; a second write of the same (metric, timestamp)
 *   replaces the first (last write wins); scans return points in ascending timestamp order,
 *   one per timestamp. Values round-trip bit-exactly, NaN payloads and infinities included.
 *
 * SNAPSHOTS
 *   Reads go through a snapshot (ts_txn). ts_txn_begin is O(1), takes no lock and never
 *   waits for writers. A snapshot sees every write whose call returned before ts_txn_begin
 *   was called and nothing that started after it; repeated scans on it return identical
 *   results while writers, seals and drops run. A dropped metric stays readable in older
 *   snapshots. Writes are atomic per call: ts_insert_batch and ts_batch_commit are seen
 *   whole or not at all.
 *
 * CONVENTIONS
 *   - Every fallible function returns ts_status; TS_OK is 0. TS_DONE (cursor exhausted) is
 *     not an error. After any other status, ts_errmsg() says what failed, on this thread.
 *   - Handle first, then inputs, then outputs. Out-params are written only on TS_OK (one
 *     documented exception: ts_metric_create writes the id on TS_EXISTS too).
 *   - A caller buffer is followed by its capacity, then the count written.
 *   - Every pointer argument is checked: NULL gives TS_INVALID_ARGUMENT, never a crash.
 *   - Each handle has one creator and one destroyer: ts_options_new/ts_options_free,
 *     ts_open/ts_close, ts_txn_begin/ts_txn_release, ts_scan_range/ts_cursor_free,
 *     ts_metric_list_open/ts_metric_list_free, ts_batch_new/ts_batch_free. Destroyers
 *     accept NULL; never call one twice. ts_close must be the last call on its ts_db.
 *   - Arrays passed in or out must be aligned for their element type.
 *   - No panic of the Rust implementation ever crosses into your process: it becomes
 *     TS_INTERNAL with a message. Destroyers, which return nothing, catch it too and only
 *     record the message for ts_errmsg().
 *   - Batch calls (ts_insert_batch, ts_batch_add_many, ts_batch_commit,
 *     ts_cursor_next_batch, ts_aggregate, ts_metric_list_next) cross the boundary once per
 *     batch: they are the fast path, and what bindings should use.
 *
 * THREADS
 *   ts_db: any number of threads at once. ts_txn: may be shared by threads for reading.
 *   ts_cursor, ts_metric_list, ts_batch, ts_options: one thread at a time (they may move
 *   between threads).
 *
 * PROCESSES
 *   A ts_db belongs to the process that opened it. A child made by fork() must not use
 *   the copy it inherits: there, every call that writes, checkpoints, closes or reads the
 *   files (ts_db_stats, ts_check) returns TS_INVALID_ARGUMENT ("this database handle was
 *   opened by process N ... (a forked child)"), touching nothing; ts_close leaks the
 *   handle. Snapshots and cursors keep reading the state inherited at the fork. Open the
 *   database again in the child, after the parent has closed it. The check costs writes
 *   nothing measurable (a pthread_atfork handler bumps a counter that each write compares);
 *   checkpoints, closes, stats and checks also compare the pid, which catches a child made
 *   without fork handlers (clone(2), _Fork), whose writes are not detected.
 *
 * QUERIES
 *   Beyond range scans: ts_aggregate (count, min, max, sum, first, last per time bucket,
 *   answered from block summaries where a block lies inside a bucket), ts_delete_range
 *   (atomic, logged, copy-on-write), retention (ts_options_set_retention,
 *   ts_metric_set_retention, ts_enforce_retention), ts_metric_list_* (a snapshot's
 *   metrics, by name prefix), ts_db_stats (what a database holds and what keeps space
 *   alive) and ts_check (verifies every checksum).
 *
 * DURABILITY
 *   Every write is in the write-ahead log (DIR/wal) when its call returns, so a crash of the
 *   process, even SIGKILL, loses nothing acknowledged, and the database always reopens (a
 *   torn last log record, never acknowledged, is cleared). What a power loss may lose is
 *   ts_options_set_sync's choice: TS_SYNC_ALWAYS (nothing), TS_SYNC_INTERVAL (default: at
 *   most ~100 ms) or TS_SYNC_NONE. Checkpoints move data into segment files (DIR/data) and
 *   a manifest, in the background, on ts_checkpoint and in ts_close (which leaves no log
 *   behind). Every record and block carries a crc32: damage is TS_CORRUPTION naming file
 *   and offset, never an open with less data, and a failed open changes nothing. When
 *   background work fails (a full disk), writes are refused with the cause until a
 *   checkpoint succeeds (ts_db_health); nothing fails silently.
 *
 * CAVEATS
 *   - Avoid long-lived snapshots: a live ts_txn (or a cursor on it) keeps every partition
 *     it can see alive, in memory and on disk, until released (ts_db_stats shows how many
 *     are live, the oldest one's age and the bytes only they keep). ts_close returns
 *     TS_BUSY while any snapshot, cursor or metric listing is alive.
 *   - One process opens a database at a time: a lock (an flock on the directory and on
 *     DIR/LOCK) makes a second ts_open of the same directory, from this process or another,
 *     return TS_BUSY. The lock is an flock on open files, so a forked child holds it too
 *     until it execs (the files are close-on-exec), exits or calls ts_close on its
 *     inherited handle: a ts_open right after ts_close can see TS_BUSY while such a child
 *     is starting; retry.
 */

#ifndef TSDB_H
#define TSDB_H

/* Generated by cbindgen from src/ffi/ -- do not edit; see cbindgen.toml. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Major version of this header; `ts_version()` reports the library's.
 */
#define TS_VERSION_MAJOR 0

/**
 * Minor version of this header.
 */
#define TS_VERSION_MINOR 1

/**
 * Patch version of this header.
 */
#define TS_VERSION_PATCH 0

/**
 * Longest metric name accepted, in bytes of UTF-8 (not counting the terminating NUL).
 */
#define TS_MAX_NAME_LEN 1024

/**
 * Most points one write may carry: `ts_insert_batch`'s `n`, and the points added to a
 * `ts_batch` before `ts_batch_commit`. Each write is one log record; a larger one is
 * refused with `TS_INVALID_ARGUMENT` (split it into several writes).
 */
#define TS_MAX_BATCH_POINTS 134217728

/**
 * Largest timestamp a point may have (INT64_MAX - 1): scans end before an exclusive
 * `until`, so a point at INT64_MAX could never be read; writes of it are rejected.
 */
#define TS_MAX_TIMESTAMP 9223372036854775806

/**
 * Largest value `ts_options_set_partition_points` accepts.
 */
#define TS_MAX_PARTITION_POINTS 524288

/**
 * The result of every fallible function. `TS_OK` (0) is success; `TS_DONE` is not an error.
 *
 * The numbers are fixed forever: codes are never renumbered or reused, and new codes may
 * be added in later versions, so bindings should map an unknown code to a generic error.
 * After any status other than `TS_OK` and `TS_DONE`, `ts_errmsg()` says what exactly failed.
 */
enum ts_status
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * Success.
   */
  TS_OK = 0,
  /**
   * A cursor is exhausted; not an error. It keeps returning `TS_DONE`.
   */
  TS_DONE = 1,
  /**
   * No live metric with that id or name (in this snapshot, for reads), or a missing
   * database directory with create_if_missing off.
   */
  TS_NOT_FOUND = 2,
  /**
   * `ts_metric_create`: a metric with that name exists (its id is returned too).
   */
  TS_EXISTS = 3,
  /**
   * A NULL pointer, an empty batch, `from > until`, a bad name or option value.
   */
  TS_INVALID_ARGUMENT = 4,
  /**
   * The operation conflicts with live handles, e.g. `ts_close` with live snapshots.
   */
  TS_BUSY = 5,
  /**
   * A file operation failed; the message names the path and the operation.
   */
  TS_IO_ERROR = 6,
  /**
   * Stored data failed its checksum or structure checks; the message names file and offset.
   */
  TS_CORRUPTION = 7,
  /**
   * The database is closed (reported by bindings for calls on a closed handle; the C API
   * frees the handle in `ts_close`, after which it must not be used at all).
   */
  TS_CLOSED = 8,
  /**
   * A bug in libtsdb (the message says where); a database where one happened is in its
   * failed state (see `ts_db_health`): close and reopen it.
   */
  TS_INTERNAL = 9,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum ts_status ts_status;
#else
typedef uint32_t ts_status;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * When acknowledged writes are forced to stable storage (see `ts_options_set_sync`).
 * Every acknowledged write is in the write-ahead log when its call returns, so a crash of
 * the process loses nothing under any mode; the mode decides what a power loss may lose.
 */
enum ts_sync
#if defined(__cplusplus) || __STDC_VERSION__ >= 202311L
  : uint32_t
#endif // defined(__cplusplus) || __STDC_VERSION__ >= 202311L
 {
  /**
   * Never fsync explicitly; the OS writes back in its own time (`ts_close` still syncs).
   */
  TS_SYNC_NONE = 0,
  /**
   * fsync from a background thread at most every `interval_ms`: a power loss loses at
   * most about that much. The default, with 100 ms.
   */
  TS_SYNC_INTERVAL = 1,
  /**
   * fsync before each write returns; concurrent writers share one fsync (group commit).
   * Power-loss safe, and the slowest.
   */
  TS_SYNC_ALWAYS = 2,
};
#ifndef __cplusplus
#if __STDC_VERSION__ >= 202311L
typedef enum ts_sync ts_sync;
#else
typedef uint32_t ts_sync;
#endif // __STDC_VERSION__ >= 202311L
#endif // __cplusplus

/**
 * Points for any number of metrics, committed atomically by `ts_batch_commit`: a snapshot
 * sees all of them or none.
 *
 * Threads: not thread-safe; use from one thread at a time (it may move between threads).
 */
typedef struct ts_batch ts_batch;

/**
 * An ascending iterator over one metric's points in `[from, until)` as of a snapshot.
 *
 * Threads: one thread at a time; a cursor may move between threads. It holds a reference
 * to its snapshot, so the `ts_txn` may be released before the cursor is freed.
 */
typedef struct ts_cursor ts_cursor;

/**
 * An open database.
 *
 * Threads: a `ts_db` may be used from any number of threads at once (all functions taking
 * a `ts_db *` are thread-safe), except `ts_close`, which must be the last call on it.
 *
 * Processes: a `ts_db` belongs to the process that opened it; a `fork()`ed child must not
 * use it (see `ts_open`).
 */
typedef struct ts_db ts_db;

/**
 * A listing of the metrics of a snapshot, ascending id, optionally those whose name
 * starts with a prefix.
 *
 * Threads: one thread at a time; it may move between threads. It holds a reference to its
 * snapshot, so the `ts_txn` may be released before the listing is freed.
 */
typedef struct ts_metric_list ts_metric_list;

/**
 * Options for `ts_open`. Create with `ts_options_new`, change with the `ts_options_set_*`
 * setters, pass to `ts_open` (which copies it) and free with `ts_options_free`; it may be
 * freed right after `ts_open` returns.
 *
 * Threads: not thread-safe; use from one thread at a time.
 */
typedef struct ts_options ts_options;

/**
 * A snapshot: a consistent, read-only view of the whole database at one instant.
 *
 * It sees every write whose call returned before `ts_txn_begin` was called and nothing
 * that started after it; repeated scans on it return identical results while writers,
 * seals and drops run. A dropped metric stays readable in snapshots older than the drop.
 *
 * Threads: a `ts_txn` may be shared by any number of threads for reading at once (more
 * permissive than LMDB, whose read transactions belong to one thread).
 *
 * Caveat: a live snapshot keeps every partition it can see in memory (and, later, on
 * disk). Release snapshots promptly; avoid long-lived ones.
 */
typedef struct ts_txn ts_txn;

/**
 * What `ts_db_stats` reports. A forgotten `ts_txn` shows as a large
 * `oldest_snapshot_age_ms` and a growing `old_snapshot_bytes`: find it before the disk fills.
 */
typedef struct ts_stats {
  /**
   * Live metrics.
   */
  uint64_t metrics;
  /**
   * Points stored: in sealed partitions, plus those in heads not yet sealed (counted as
   * written: a head point that overwrites another counts twice until sealed).
   */
  uint64_t points;
  /**
   * Sealed partitions.
   */
  uint64_t partitions;
  /**
   * Bytes the database's files take on disk, as `du` counts them (allocated blocks; the
   * write-ahead log's preallocated segments included).
   */
  uint64_t disk_bytes;
  /**
   * Bytes of write-ahead log written since the last checkpoint began (at most what a
   * reopen would replay).
   */
  uint64_t wal_bytes;
  /**
   * Snapshots not yet released (a cursor or metric listing keeps its snapshot live).
   */
  uint64_t live_snapshots;
  /**
   * Age of the oldest live snapshot in milliseconds, to the second; 0 when none.
   */
  uint64_t oldest_snapshot_age_ms;
  /**
   * Bytes of data blocks kept alive only by snapshots older than the current state: the
   * disk space their release gives back (at the next checkpoints).
   */
  uint64_t old_snapshot_bytes;
  /**
   * Failures of background work (syncs of the log, checkpoints, retention) since open.
   */
  uint64_t background_errors;
  /**
   * 0 (`TS_OK`) while the database takes writes; otherwise the `ts_status` writes get
   * (see `ts_db_health`, whose message says what failed). 64 bits wide, like every field
   * here, so that bindings read the struct as an array of 64-bit words.
   */
  uint64_t failure;
} ts_stats;

/**
 * One bucket of `ts_aggregate`.
 *
 * NaN rule (the same whether a block was answered from its stored summary or decoded):
 * `count` counts every point, NaN values included; `min`, `max` and `sum` are over the
 * non-NaN values and are NaN when every value in the bucket is NaN; `first` and `last`
 * are the values at `first_ts` and `last_ts`, NaN or not. Infinities take part as IEEE
 * arithmetic says (`+inf + -inf` is NaN). `sum` adds per-block sums, so its last bits may
 * differ from a point-by-point sum in timestamp order.
 */
typedef struct ts_agg {
  /**
   * The bucket's start: `from + k * bucket`.
   */
  int64_t start;
  /**
   * Points in the bucket (at least 1).
   */
  uint64_t count;
  double min;
  double max;
  double sum;
  double first;
  double last;
  /**
   * Timestamps of the bucket's first and last points.
   */
  int64_t first_ts;
  int64_t last_ts;
} ts_agg;

/**
 * What `ts_check` verified. Every field counts something that was checked and found
 * healthy.
 */
typedef struct ts_check_report {
  /**
   * Live metrics walked (every one of the snapshot the check reads).
   */
  uint64_t metrics;
  /**
   * Sealed partitions decoded.
   */
  uint64_t partitions;
  /**
   * Head extents decoded: blocks holding a head's points as of past checkpoints.
   */
  uint64_t extents;
  /**
   * Points decoded from those blocks.
   */
  uint64_t points;
  /**
   * Bytes of those blocks.
   */
  uint64_t block_bytes;
  /**
   * Data segment files holding them (each file's header checked).
   */
  uint64_t segments;
  /**
   * Metric entries of the manifest (every blob on their paths checked).
   */
  uint64_t manifest_entries;
  /**
   * Bytes of the manifest file.
   */
  uint64_t manifest_bytes;
} ts_check_report;



#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * A static, human-readable name for `status` (e.g. "TS_NOT_FOUND"); "TS_UNKNOWN_STATUS" for
 * numbers this version does not know. Never NULL; never free it.
 *
 * Threads: safe from any thread.
 */
const char *ts_status_str(uint32_t status);

/**
 * This thread's last error message, e.g.
 * "ts_scan_range: from > until (from=20, until=10)".
 *
 * Meaningful only right after a call on this thread returned a status other than `TS_OK`
 * or `TS_DONE` (successful calls leave it unchanged). The string is owned by the library
 * and stays valid until this thread's next failing call into the library; copy it to keep
 * it. Never NULL (empty when there was no error); never free it.
 *
 * Threads: each thread has its own message.
 */
const char *ts_errmsg(void);

/**
 * The library's version as "MAJOR.MINOR.PATCH", equal to the `TS_VERSION_*` macros of the
 * header it was built with. Static; never free it.
 *
 * Threads: safe from any thread.
 */
const char *ts_version(void);

/**
 * Create an options object holding the defaults: create_if_missing = true,
 * partition_points = 4096, head_run_points = 16, raw_head_budget = 64 MiB,
 * sync = TS_SYNC_INTERVAL every 100 ms, checkpoint_bytes = 64 MiB.
 *
 * The caller owns the result and must free it with `ts_options_free`. Returns NULL only if
 * memory is exhausted.
 *
 * Threads: safe from any thread.
 */
struct ts_options *ts_options_new(void);

/**
 * Free an options object. Calling with NULL is a harmless no-op. Must not be called twice
 * with the same pointer.
 *
 * Never fails and never aborts: like every function, it runs under the library's panic
 * boundary, so a panic while freeing (a bug in libtsdb) is caught, recorded for
 * `ts_errmsg()` ("ts_options_free: internal error ..."), and the call returns normally.
 *
 * Threads: not concurrently with any other use of `opts`.
 */
void ts_options_free(struct ts_options *opts);

/**
 * Whether `ts_open` creates a missing database directory (its parent must exist).
 * Default: true. When false, opening a missing directory returns `TS_NOT_FOUND`.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL.
 *
 * Threads: not concurrently with any other use of `opts`.
 */
ts_status ts_options_set_create_if_missing(struct ts_options *opts, bool create);

/**
 * The number of points at which a metric's in-memory head partition is sealed into an
 * immutable partition; sealed partitions hold up to twice this many points, except that a
 * partition of data coding to under a quarter byte per point (a constant series) keeps
 * taking the next seals' points, up to 16 times this many. Larger values mean fewer,
 * larger partitions and more memory per actively written metric.
 * Default: 4096; allowed: 2 ..= `TS_MAX_PARTITION_POINTS` (524288).
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL or `n` is out of range.
 *
 * Threads: not concurrently with any other use of `opts`.
 */
ts_status ts_options_set_partition_points(struct ts_options *opts, uint32_t n);

/**
 * How many of a metric's newest head points stay uncompressed (24 bytes each) before they
 * are compressed into a run of a few bytes per point. A head keeps room for its next run
 * (`n` raw points, 24 bytes each) between runs, so that writes do not allocate. Lower values
 * save memory when many metrics hold partly filled heads, at some CPU per write; a head
 * about to be sealed is
 * never compressed, nor is one that fits in the raw-head budget (see
 * `ts_options_set_raw_head_budget`). Default: 16; allowed: 1 ..= `TS_MAX_PARTITION_POINTS`.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL or `n` is out of range.
 *
 * Threads: not concurrently with any other use of `opts`.
 */
ts_status ts_options_set_head_run_points(struct ts_options *opts, uint32_t n);

/**
 * Bytes of uncompressed head points (24 bytes each) the database may hold in all. Within
 * the budget, heads stay raw until sealed: no compression work on the write path, the
 * fastest ingest. Beyond it, each head compresses its newest points into runs once
 * `head_run_points` have gathered, so a million partly filled heads cost a few bytes per
 * point instead of 24. Counted in whole heads (`partition_points` x 24 bytes each).
 * Default: 67108864 (64 MiB); 0 compresses every head.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL.
 *
 * Threads: not concurrently with any other use of `opts`.
 */
ts_status ts_options_set_raw_head_budget(struct ts_options *opts, uint64_t bytes);

/**
 * Set the sync mode; `interval_ms` (1 ..= 60000) is read only for `TS_SYNC_INTERVAL`.
 * Default: `TS_SYNC_INTERVAL` with 100 ms.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL, `mode` is not a `ts_sync`
 * value, or the interval is out of range.
 *
 * Threads: not concurrently with any other use of `opts`.
 */
ts_status ts_options_set_sync(struct ts_options *opts, uint32_t mode, uint32_t interval_ms);

/**
 * Run a checkpoint (in the background) once this many bytes of write-ahead log have been
 * written since the last one. Open replays about this much log at most: smaller values
 * mean faster opens and more checkpoint work. Default: 67108864 (64 MiB); at least 4096.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL or `bytes` < 4096.
 *
 * Threads: not concurrently with any other use of `opts`.
 */
ts_status ts_options_set_checkpoint_bytes(struct ts_options *opts, uint64_t bytes);

/**
 * Keep each metric's points for `span` timestamp units (0: keep everything, the default).
 * A sealed partition whose points are all older than its metric's newest sealed timestamp
 * minus the span is dropped by background work, logged like a `ts_delete_range` (snapshots
 * begun before still read it; its space returns when they are released). A metric's own
 * setting (`ts_metric_set_retention`) overrides this default. Older sealed partitions are
 * joined into larger ones (up to 2^20 points, so memory does not grow with the points);
 * under retention a joined partition spans at most a quarter of the span, so retention
 * keeps at most about a quarter more than the span.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `opts` is NULL or `span` < 0.
 *
 * Threads: not concurrently with any other use of `opts`.
 */
ts_status ts_options_set_retention(struct ts_options *opts, int64_t span);

/**
 * Open the database in directory `path`, creating the directory when it does not exist
 * (its parent must exist) unless create_if_missing is off.
 *
 * @param[in] path  the database directory, NUL-terminated UTF-8.
 * @param[in] opts  options, or NULL for the defaults; copied, so it may be freed right after.
 * @param[out] out  receives the new handle on `TS_OK`.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `path` or `out` is NULL, `path` is not UTF-8 or
 * names a file that is not a directory, or the directory holds other files and no database
 * ("not a libtsdb database": nothing is created in it); `TS_NOT_FOUND` if the directory is
 * missing and create_if_missing is off; `TS_BUSY` if the database is already open, in this
 * process or another (the directory and DIR/LOCK are locked while it is open);
 * `TS_IO_ERROR` if the directory or one of its files cannot be created or read;
 * `TS_CORRUPTION` if a file fails its checks (the message names the file and offset).
 *
 * Opening loads the last checkpoint and replays the write-ahead log after it (open time
 * grows with the log, not with the database). It checks everything before it changes
 * anything: the manifest, the data segments it names and the whole log; a failed open
 * leaves the directory as it was. A crash never leaves a database that fails to open: a
 * torn last log record (a write that was never acknowledged) is cleared. Any other damage
 * is `TS_CORRUPTION`, never an open with less data: a missing or empty MANIFEST beside
 * data or log files, a log segment missing, cut short or damaged anywhere but at the very
 * end of the log, a gap in the log's sequence numbers (docs/format.md, "Opening").
 *
 * The caller owns `*out` and must close it with `ts_close`.
 *
 * Processes: the handle belongs to this process. A child made by `fork()` inherits a copy
 * of it but none of its threads, and must not use it: its writes would be lost, and a
 * checkpoint or close of its copy would damage the parent's database. So in a forked
 * child every function that writes, checkpoints, closes or reads the files through the
 * inherited `ts_db` (`ts_insert`, `ts_insert_batch`, `ts_batch_commit`,
 * `ts_metric_create`, `ts_metric_drop`, `ts_delete_range`, `ts_metric_set_retention`,
 * `ts_enforce_retention`, `ts_checkpoint`, `ts_db_stats`, `ts_check`, `ts_close`) returns
 * `TS_INVALID_ARGUMENT`, touching nothing, with the message "this database handle was
 * opened by process N, and this is process M (a forked child): ...". What is allowed
 * there: reading through snapshots and cursors (those begun before the fork, and new ones
 * from `ts_txn_begin`) see the state inherited at the fork, through the inherited memory
 * maps; freeing them. To use the database in the child, open it again there, after the
 * parent has closed it (`ts_close` in the child gives up its copy of the lock). As after
 * any fork of a threaded process, a child that does more than that may block: a read
 * needs a metric's lock, which another thread of the parent may have held at the fork.
 *
 * Threads: safe from any thread.
 */
ts_status ts_open(const char *path, const struct ts_options *opts, struct ts_db **out);

/**
 * Close a database and free its handle: stop the background work, write a final
 * checkpoint and delete the write-ahead log, so the directory holds just the data.
 *
 * Fails with `TS_BUSY`, leaving the database open and usable, while snapshots are live:
 * release every `ts_txn` and free every `ts_cursor` first (a cursor keeps its snapshot
 * alive). Otherwise the handle is gone when this returns, whatever the status: using it
 * again is undefined behaviour. Calling with NULL is a harmless no-op returning `TS_OK`.
 *
 * Returns `TS_OK`; `TS_BUSY` with live snapshots; `TS_IO_ERROR` if the final checkpoint
 * could not be written (the database is closed anyway and nothing is lost: the log is kept
 * and the next `ts_open` replays it); when the database is in a failed state that only a
 * reopen mends (see `ts_db_health`), the status `ts_db_health` returns, with a message
 * starting "closed without a final checkpoint": it is closed, the log is kept and the next
 * `ts_open` replays it; `TS_INVALID_ARGUMENT` in a forked child (see `ts_open`).
 *
 * In a forked child the handle is not the child's to close: `ts_close` writes no
 * checkpoint, deletes and truncates no file, and does not wait for the background thread
 * (the fork did not copy it). It closes only the child's copy of the lock file's
 * descriptor, so that the child can open the database itself once the parent has closed
 * it, and leaks the rest: the handle stays allocated, and later calls on it are refused
 * the same way.
 *
 * Threads: no other thread may be using `db` during or after this call.
 */
ts_status ts_close(struct ts_db *db);

/**
 * Write a checkpoint now: every acknowledged write is moved into the data files and the
 * manifest, and the write-ahead log before it is deleted, so the next `ts_open` replays
 * less. Writers and readers carry on meanwhile. Checkpoints also run in the background
 * (see `ts_options_set_checkpoint_bytes`) and in `ts_close`; call this to bound recovery
 * time at a moment of your choosing (e.g. after a bulk load).
 *
 * A checkpoint that succeeds also ends a failed state caused by a failed checkpoint or
 * log sync (see `ts_db_health`): once the disk has room again, this lets writes go on
 * without waiting for the background thread's retry.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `db` is NULL (or in a forked child);
 * `TS_IO_ERROR` if a file cannot be written or synced (nothing is lost: the log is kept,
 * and nothing left behind blocks the next attempt); when the database is in a failed state
 * that only a reopen mends, the status `ts_db_health` returns.
 *
 * Threads: safe from any thread.
 */
ts_status ts_checkpoint(struct ts_db *db);

/**
 * Fill `*out` with figures about `db`: what it holds and what keeps space alive.
 *
 * Walks the current state (O(metrics + partitions)); writers and readers go on meanwhile.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `db` or `out` is NULL; `TS_IO_ERROR` if the
 * directory cannot be listed.
 *
 * Threads: safe from any number of threads on the same `db`.
 */
ts_status ts_db_stats(struct ts_db *db, struct ts_stats *out);

/**
 * Whether `db` takes writes. `TS_OK` while it does; otherwise the status every write gets
 * (`TS_IO_ERROR` after a failed checkpoint or sync of the log, `TS_CORRUPTION` after damage
 * found by one, `TS_INTERNAL` after a bug), with `ts_errmsg()` saying what failed and what
 * ends it:
 *
 * - a checkpoint or log sync that failed (in the background too: a full disk, an I/O
 *   error): reads go on, writes are refused, and a checkpoint that succeeds ends it (the
 *   database retries one every second; `ts_checkpoint` tries at once);
 * - a change that stopped half way (a bug, or a range delete whose rewrite failed after it
 *   was logged): only closing and reopening helps; `ts_close` then writes no checkpoint
 *   and says so, and the next `ts_open` replays the log (nothing acknowledged is lost).
 *
 * `ts_db_stats` shows the same (`failure`), and counts background failures.
 *
 * Returns the status as above; `TS_INVALID_ARGUMENT` if `db` is NULL.
 *
 * Threads: safe from any thread.
 */
ts_status ts_db_health(struct ts_db *db);

/**
 * Create a metric called `name` and return its id in `*id_out`.
 *
 * Names are 1..=1024 bytes of UTF-8 and unique among live metrics. Ids are assigned at
 * creation, start at 1, and are never reused, even after a drop.
 *
 * Returns `TS_OK`; `TS_EXISTS` if a live metric has this name — and then, as the one
 * deliberate exception to "out-params are written only on `TS_OK`", `*id_out` receives the
 * existing metric's id, so "create or get" is one call; `TS_INVALID_ARGUMENT` if `db`,
 * `name` or `id_out` is NULL or the name is empty, longer than 1024 bytes or not UTF-8.
 *
 * Cost: O(log n) in the number of metrics (a new global version shares all but one path).
 *
 * Threads: safe from any number of threads on the same `db`; creates are serialised.
 */
ts_status ts_metric_create(struct ts_db *db, const char *name, uint64_t *id_out);

/**
 * Drop metric `id`: it disappears from new snapshots; snapshots begun before the drop still
 * read it, and its memory is freed when the last of them is released. Its name may be
 * reused by a new metric (which gets a new id).
 *
 * Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no live metric; `TS_INVALID_ARGUMENT` if
 * `db` is NULL.
 *
 * Threads: safe from any number of threads on the same `db`. A write racing with the drop
 * of its metric either lands before the drop or fails with `TS_NOT_FOUND`.
 */
ts_status ts_metric_drop(struct ts_db *db, uint64_t id);

/**
 * Set metric `id`'s own retention span, in timestamp units: its sealed partitions whose
 * points are all older than its newest sealed timestamp minus `span` are dropped by
 * background work. 0 returns it to the database's default (`ts_options_set_retention`);
 * a negative span keeps everything whatever the default. Durable like a write. When it
 * returns, no background drop chosen under the previous setting is still in progress.
 * Partitions joined from then on span at most a quarter of the span (see
 * `ts_options_set_retention`).
 *
 * Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no live metric; `TS_INVALID_ARGUMENT` if
 * `db` is NULL.
 *
 * Threads: safe from any number of threads on the same `db`.
 */
ts_status ts_metric_set_retention(struct ts_db *db, uint64_t id, int64_t span);

/**
 * Apply retention now to every metric, rather than waiting for the background work (which
 * checks a metric when it seals a partition, and every metric at open). `*dropped_out`
 * (unless NULL) receives how many partitions this call dropped (the background work's
 * drops are not counted; the two never drop the same partitions). Each metric's drop is
 * logged as a range delete below its first partition kept.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `db` is NULL; `TS_IO_ERROR` if the log cannot
 * be written.
 *
 * Threads: safe from any number of threads on the same `db`.
 */
ts_status ts_enforce_retention(struct ts_db *db, uint64_t *dropped_out);

/**
 * Insert one point `(ts, value)` into metric `id`.
 *
 * Timestamps are unit-free (pick ms or ns) and may arrive in any order. A second write of
 * the same (`id`, `ts`) replaces the first (last write wins). `value` is stored bit-exactly
 * (NaN payloads, infinities, -0.0). The point is visible to every snapshot begun after this
 * returns `TS_OK`.
 *
 * Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no live metric; `TS_INVALID_ARGUMENT` if
 * `db` is NULL or `ts` is INT64_MAX (see `TS_MAX_TIMESTAMP`); `TS_IO_ERROR` if the log
 * cannot be written or synced; while the database is in its failed state, the status
 * `ts_db_health` returns (nothing is written).
 *
 * Threads: safe from any number of threads on the same `db`.
 * Prefer `ts_insert_batch` (or a `ts_batch`) for more than a few points: each call crosses
 * the boundary and takes the metric's lock once, so batches are the fast path.
 */
ts_status ts_insert(struct ts_db *db, uint64_t id, int64_t ts, double value);

/**
 * Insert `n` points `(ts[i], values[i])` into metric `id`, atomically: a snapshot sees all
 * of them or none. Within the batch a later element wins over an earlier one with the same
 * timestamp; any order is accepted (ascending order is fastest).
 *
 * @param[in] ts      `n` timestamps; the caller keeps ownership (copied before returning).
 * @param[in] values  `n` values.
 * @param[in] n       number of points, at least 1.
 *
 * Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no live metric (nothing is written);
 * `TS_INVALID_ARGUMENT` if `db`, `ts` or `values` is NULL, `n` is 0 or more than
 * `TS_MAX_BATCH_POINTS`, or a timestamp is INT64_MAX (nothing is written); `TS_IO_ERROR` if
 * the log cannot be written or synced; while the database is in its failed state, the
 * status `ts_db_health` returns (nothing is written).
 *
 * Threads: safe from any number of threads on the same `db`.
 * This is the fast path for one metric: one boundary crossing and one lock per call.
 */
ts_status ts_insert_batch(struct ts_db *db,
                          uint64_t id,
                          const int64_t *ts,
                          const double *values,
                          size_t n);

/**
 * Delete metric `id`'s points with `from <= ts < until`, atomically (a snapshot sees all
 * of them gone or none) and durably (the delete is in the write-ahead log like a write).
 *
 * Copy-on-write: only the partitions holding points in the range are replaced (those wholly
 * inside are let go, the two across its ends rewritten). Snapshots begun before the delete
 * still read the points; their disk space returns when the last of those snapshots (and
 * their cursors) is released. Points written after the call returns are kept, whatever their
 * timestamps. `from == until` deletes nothing.
 *
 * Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no live metric; `TS_INVALID_ARGUMENT` if
 * `db` is NULL or `from > until`; `TS_IO_ERROR` if the log or a rewritten partition cannot
 * be written. When the rewrite fails after the delete was logged (a full disk), the database
 * turns failed until it is reopened: writes are refused (`ts_db_health`), reads go on, and
 * reopening applies the delete.
 *
 * Threads: safe from any number of threads on the same `db`.
 */
ts_status ts_delete_range(struct ts_db *db, uint64_t id, int64_t from, int64_t until);

/**
 * Create an empty batch. The caller owns it and must free it with `ts_batch_free`; it may
 * be committed and refilled any number of times. Returns NULL only if memory is exhausted.
 *
 * Threads: safe from any thread.
 */
struct ts_batch *ts_batch_new(void);

/**
 * Add point `(ts, value)` for metric `id` to the batch. The id is checked at commit.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `batch` is NULL.
 *
 * Threads: not concurrently with any other use of `batch`.
 */
ts_status ts_batch_add(struct ts_batch *batch, uint64_t id, int64_t ts, double value);

/**
 * Add `n` points `(ts[i], values[i])` for metric `id` to the batch in one call (the form
 * for bindings that cannot loop in C). The id is checked at commit. `n == 0` adds nothing.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `batch` is NULL, or `ts` or `values` is NULL
 * while `n > 0`.
 *
 * Threads: not concurrently with any other use of `batch`.
 */
ts_status ts_batch_add_many(struct ts_batch *batch,
                            uint64_t id,
                            const int64_t *ts,
                            const double *values,
                            size_t n);

/**
 * Remove every point from the batch (keeping its memory for reuse).
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `batch` is NULL.
 *
 * Threads: not concurrently with any other use of `batch`.
 */
ts_status ts_batch_clear(struct ts_batch *batch);

/**
 * Write every point of `batch` atomically: a snapshot sees all of them or none. Within a
 * metric, a later add wins over an earlier one with the same timestamp. On `TS_OK` the
 * batch is emptied, ready for reuse; on failure nothing is written and the batch is kept.
 *
 * Returns `TS_OK`; `TS_NOT_FOUND` if any id names no live metric (nothing is written);
 * `TS_INVALID_ARGUMENT` if `db` or `batch` is NULL, the batch is empty, holds more than
 * `TS_MAX_BATCH_POINTS` points or a timestamp of INT64_MAX (nothing is written);
 * `TS_IO_ERROR` if the log cannot be written or synced; while the database is in its
 * failed state, the status `ts_db_health` returns (nothing is written).
 *
 * Threads: safe from any number of threads on the same `db`, each with its own batch.
 * This is the fast path for writing many metrics at once.
 */
ts_status ts_batch_commit(struct ts_db *db, struct ts_batch *batch);

/**
 * Free a batch (uncommitted points are discarded). Calling with NULL is a harmless no-op.
 * Must not be called twice with the same pointer.
 *
 * Never fails and never aborts: a panic while freeing (a bug in libtsdb) is caught by the
 * library's panic boundary and recorded for `ts_errmsg()` ("ts_batch_free: internal error
 * ..."); the call returns normally.
 *
 * Threads: not concurrently with any other use of `batch`.
 */
void ts_batch_free(struct ts_batch *batch);

/**
 * Begin a snapshot of `db`.
 *
 * O(1): takes no lock and never waits for writers, whatever the number of metrics.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `db` or `out` is NULL.
 *
 * The caller owns `*out` and must release it with `ts_txn_release`. Cursors opened on it
 * hold their own reference, so releasing the snapshot while cursors are open is safe.
 * `ts_close` returns `TS_BUSY` while any snapshot or cursor is alive.
 *
 * Threads: safe from any number of threads on the same `db`.
 */
ts_status ts_txn_begin(struct ts_db *db, struct ts_txn **out);

/**
 * Release a snapshot. Its memory (and the data only it still references) is freed once its
 * last cursor is freed too. Calling with NULL is a harmless no-op. Must not be called twice
 * with the same pointer.
 *
 * Never fails and never aborts: a panic while freeing what only this snapshot kept alive
 * (a bug in libtsdb) is caught by the library's panic boundary and recorded for
 * `ts_errmsg()` ("ts_txn_release: internal error ..."); the call returns normally, the
 * snapshot is released, and whatever was not freed yet is leaked.
 *
 * Threads: safe from any thread, once no other thread uses `txn`.
 */
void ts_txn_release(struct ts_txn *txn);

/**
 * Look up the id of the metric called `name` as of snapshot `txn`.
 *
 * Returns `TS_OK`; `TS_NOT_FOUND` if no metric has that name in this snapshot (e.g. created
 * after it began); `TS_INVALID_ARGUMENT` if `txn`, `name` or `id_out` is NULL or `name` is
 * not 1..=1024 bytes of UTF-8.
 *
 * Threads: safe from any number of threads sharing `txn`.
 */
ts_status ts_metric_lookup(const struct ts_txn *txn, const char *name, uint64_t *id_out);

/**
 * The number of live metrics in snapshot `txn`, in `*n_out`.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `txn` or `n_out` is NULL.
 *
 * Threads: safe from any number of threads sharing `txn`.
 */
ts_status ts_txn_metric_count(const struct ts_txn *txn, uint64_t *n_out);

/**
 * Open a cursor over metric `id`'s points with `from <= ts < until` as of snapshot `txn`.
 * Points come in ascending timestamp order, one per timestamp (the last write wins).
 * `from == until` gives an empty cursor.
 *
 * Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no metric in this snapshot;
 * `TS_INVALID_ARGUMENT` if `txn` or `out` is NULL or `from > until`.
 *
 * The caller owns `*out` and must free it with `ts_cursor_free`.
 *
 * Threads: safe from any number of threads sharing `txn`.
 */
ts_status ts_scan_range(const struct ts_txn *txn,
                        uint64_t id,
                        int64_t from,
                        int64_t until,
                        struct ts_cursor **out);

/**
 * Read the next point into `*ts` and `*value`.
 *
 * Returns `TS_OK` with a point; `TS_DONE` when the cursor is exhausted (not an error; it
 * keeps returning `TS_DONE`, and `*ts`/`*value` are not written); `TS_INVALID_ARGUMENT` if
 * `c`, `ts` or `value` is NULL; `TS_CORRUPTION` if a block on disk fails its checksum
 * (the message names the file and offset).
 *
 * Threads: not concurrently with any other use of `c`.
 * Prefer `ts_cursor_next_batch`: it crosses the boundary once per batch.
 */
ts_status ts_cursor_next(struct ts_cursor *c, int64_t *ts, double *value);

/**
 * Read up to `cap` points into the caller's arrays `ts[0..cap)` and `values[0..cap)`;
 * `*n_out` receives how many were written.
 *
 * Either array may be NULL to skip that column (not both). The points continue where the
 * previous call stopped; a call may return fewer than `cap` points before the end.
 *
 * Returns `TS_OK` with `*n_out >= 1`; `TS_DONE` with `*n_out = 0` when the cursor is
 * exhausted (it keeps returning `TS_DONE`); `TS_INVALID_ARGUMENT` if `c` or `n_out` is
 * NULL, both arrays are NULL, or `cap` is 0; `TS_CORRUPTION` (with `*n_out = 0`) if a
 * block on disk fails its checksum: the message names the file and offset, and the
 * cursor should be freed.
 *
 * Threads: not concurrently with any other use of `c`.
 * This is the fast path for reading: one boundary crossing per batch. With buffers of at
 * least 4,096 points (and at least `partition_points`, 4096 by default), whole sealed
 * partitions, and 4,096-point windows of the large partitions older data is joined into,
 * are decoded straight into them.
 */
ts_status ts_cursor_next_batch(struct ts_cursor *c,
                               int64_t *ts,
                               double *values,
                               size_t cap,
                               size_t *n_out);

/**
 * Free a cursor (and, if it was the last reference, its snapshot). Calling with NULL is a
 * harmless no-op. Must not be called twice with the same pointer.
 *
 * Never fails and never aborts: freeing the last reference to a snapshot frees what only
 * it kept alive (partitions, space in data files), and a panic anywhere in that (a bug in
 * libtsdb) is caught by the library's panic boundary and recorded for `ts_errmsg()`
 * ("ts_cursor_free: internal error ..."); the call returns normally, and whatever was not
 * freed yet is leaked.
 *
 * Threads: not concurrently with any other use of `c`.
 */
void ts_cursor_free(struct ts_cursor *c);

/**
 * Aggregate metric `id`'s points in `[from, until)` as of snapshot `txn`, in buckets
 * `[from + k*bucket, from + (k+1)*bucket)` (the last one clipped to `until`).
 *
 * Writes only non-empty buckets, ascending, at most `cap` of them, to `out[0..*n_out)`.
 * When `*n_out == cap`, more buckets may remain: call again with `from` set to
 * `out[cap-1].start + bucket`, unless that reaches `until` or overflows INT64_MAX (then
 * none remain); the snapshot guarantees the same answer as one big call. `from == until`
 * writes nothing.
 *
 * Fast: a sealed block lying wholly inside one bucket is answered from the summary stored
 * in its header without decoding its points, and a block crossing a bucket edge from the
 * summaries of its 256-point pages; only the pages crossing an edge (and the pages whose
 * first or last value a bucket reports) are decoded.
 *
 * Returns `TS_OK`; `TS_NOT_FOUND` if `id` names no metric in this snapshot;
 * `TS_INVALID_ARGUMENT` if `txn`, `out` or `n_out` is NULL, `bucket <= 0` or
 * `from > until`; `TS_CORRUPTION` if a block fails its checksum (the message names the
 * file and offset). `*n_out` is 0 unless `TS_OK`.
 *
 * Threads: safe from any number of threads sharing `txn`.
 */
ts_status ts_aggregate(const struct ts_txn *txn,
                       uint64_t id,
                       int64_t from,
                       int64_t until,
                       int64_t bucket,
                       struct ts_agg *out,
                       size_t cap,
                       size_t *n_out);

/**
 * Start listing the metrics of snapshot `txn` whose name starts with `prefix` (NULL or
 * "" lists every metric), ascending id. Read them with `ts_metric_list_next`.
 *
 * Listing every metric takes time proportional to the number of metrics in the snapshot
 * (a prefix filters while walking them): it is for tools and bindings enumerating a
 * database, one call per batch, never per metric.
 *
 * Returns `TS_OK`; `TS_INVALID_ARGUMENT` if `txn` or `out` is NULL or `prefix` is not
 * UTF-8. The caller owns `*out` and must free it with `ts_metric_list_free`.
 *
 * Threads: safe from any number of threads sharing `txn`.
 */
ts_status ts_metric_list_open(const struct ts_txn *txn,
                              const char *prefix,
                              struct ts_metric_list **out);

/**
 * Read up to `cap` metrics: ids into `ids[0..cap)` and, unless `names` is NULL, their
 * NUL-terminated names into `names[0..cap)`. `*n_out` receives how many were written.
 *
 * The name strings belong to the listing and stay valid until its next
 * `ts_metric_list_next` or `ts_metric_list_free`; copy them to keep them.
 *
 * Returns `TS_OK` with `*n_out >= 1`; `TS_DONE` with `*n_out = 0` when every metric was
 * listed (it keeps returning `TS_DONE`); `TS_INVALID_ARGUMENT` if `list`, `ids` or `n_out`
 * is NULL or `cap` is 0.
 *
 * Threads: not concurrently with any other use of `list`.
 */
ts_status ts_metric_list_next(struct ts_metric_list *list,
                              uint64_t *ids,
                              const char **names,
                              size_t cap,
                              size_t *n_out);

/**
 * Free a listing (and, if it was the last reference, its snapshot). Calling with NULL is
 * a harmless no-op. Must not be called twice with the same pointer.
 *
 * Never fails and never aborts: a panic while freeing (a bug in libtsdb, e.g. while
 * freeing what only its snapshot kept alive) is caught by the library's panic boundary
 * and recorded for `ts_errmsg()` ("ts_metric_list_free: internal error ..."); the call
 * returns normally, and whatever was not freed yet is leaked.
 *
 * Threads: not concurrently with any other use of `list`.
 */
void ts_metric_list_free(struct ts_metric_list *list);

/**
 * Verify every checksum and structural invariant of what `db` stores, and say what was
 * checked in `*out`. Nothing is written.
 *
 * Opening a database already checks its manifest and replays (and checks) its log. This
 * reads, through one snapshot: both superblock copies of the manifest and every blob its
 * tree reaches; its block references (inside their segment files, not overlapping); every
 * data segment's header; and for every metric, that its name resolves to it and that each
 * sealed partition and head extent decodes (header and body crc32, strictly ascending
 * timestamps, counts and first/last timestamps as referenced, the block's summary as its
 * points), that partitions are ordered and hold only the timestamps of the range they own,
 * and that no two blocks overlap. It decodes every stored point: its cost is a full scan.
 *
 * @param[in]  db   the database.
 * @param[out] out  receives the counts of what was checked, on `TS_OK` only.
 *
 * Returns `TS_OK` when no damage was found; `TS_CORRUPTION` when some was: `ts_errmsg()`
 * then gives the number of problems and the first one, naming the file and offset (e.g.
 * "ts_check: 1 problem found: data/00000001.seg offset 4128: body checksum mismatch ...");
 * `TS_INVALID_ARGUMENT` if `db` or `out` is NULL; `TS_IO_ERROR` if a file cannot be read.
 *
 * Threads: safe from any thread; writers, readers and checkpoints carry on meanwhile.
 */
ts_status ts_check(struct ts_db *db, struct ts_check_report *out);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* TSDB_H */
