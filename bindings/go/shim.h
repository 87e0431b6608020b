/* shim.h -- C wrappers the Go package calls instead of the ts_* functions.
 *
 * ts_errmsg() is thread-local, and a goroutine may move to another OS thread between two cgo
 * calls, so the message must be read in the same C call that failed. Every wrapper makes one
 * ts_* call (or a fixed sequence of them) and, on a status other than TS_OK and TS_DONE,
 * returns a malloc'd copy of ts_errmsg() in tsgo_result.msg, which the Go side frees. On
 * success msg is NULL and nothing is allocated. */
#ifndef TSDB_GO_SHIM_H
#define TSDB_GO_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <tsdb.h>

typedef struct {
  uint32_t status;
  char *msg; /* NULL, or a malloc'd copy of ts_errmsg(); the caller frees it */
} tsgo_result;

/* Options for tsgo_open; a zero field means "leave the library's default". */
typedef struct {
  int set_create_if_missing;
  int create_if_missing;
  uint32_t partition_points;
  uint32_t head_run_points;
  int set_raw_head_budget;
  uint64_t raw_head_budget;
  int set_sync;
  uint32_t sync_mode;
  uint32_t sync_interval_ms;
  uint64_t checkpoint_bytes;
  int64_t retention; /* 0: the default (keep everything); negative values are rejected */
} tsgo_options;

/* ts_options_new + setters + ts_open + ts_options_free; opts may be NULL for the defaults. */
tsgo_result tsgo_open(const char *path, const tsgo_options *opts, ts_db **out);
tsgo_result tsgo_close(ts_db *db);
tsgo_result tsgo_checkpoint(ts_db *db);
tsgo_result tsgo_db_stats(ts_db *db, ts_stats *out);

tsgo_result tsgo_metric_create(ts_db *db, const char *name, uint64_t *id_out);
tsgo_result tsgo_metric_drop(ts_db *db, uint64_t id);
tsgo_result tsgo_insert(ts_db *db, uint64_t id, int64_t ts, double value);
tsgo_result tsgo_insert_batch(ts_db *db, uint64_t id, const int64_t *ts, const double *values,
                              size_t n);
tsgo_result tsgo_delete_range(ts_db *db, uint64_t id, int64_t from, int64_t until);
tsgo_result tsgo_metric_set_retention(ts_db *db, uint64_t id, int64_t span);
tsgo_result tsgo_enforce_retention(ts_db *db, uint64_t *dropped_out);
/* ts_batch_new, one ts_batch_add_many per run (run r: run_lens[r] consecutive points of
 * ts/values, all for metric run_ids[r]), ts_batch_commit and ts_batch_free, in one call. */
tsgo_result tsgo_batch_commit(ts_db *db, const uint64_t *run_ids, const uint64_t *run_lens,
                              size_t runs, const int64_t *ts, const double *values);

tsgo_result tsgo_txn_begin(ts_db *db, ts_txn **out);
tsgo_result tsgo_metric_lookup(const ts_txn *txn, const char *name, uint64_t *id_out);
tsgo_result tsgo_txn_metric_count(const ts_txn *txn, uint64_t *n_out);
tsgo_result tsgo_scan_range(const ts_txn *txn, uint64_t id, int64_t from, int64_t until,
                            ts_cursor **out);
tsgo_result tsgo_cursor_next_batch(ts_cursor *c, int64_t *ts, double *values, size_t cap,
                                   size_t *n_out);
tsgo_result tsgo_aggregate(const ts_txn *txn, uint64_t id, int64_t from, int64_t until,
                           int64_t bucket, ts_agg *out, size_t cap, size_t *n_out);
tsgo_result tsgo_metric_list_open(const ts_txn *txn, const char *prefix, ts_metric_list **out);
tsgo_result tsgo_metric_list_next(ts_metric_list *list, uint64_t *ids, const char **names,
                                  size_t cap, size_t *n_out);

#endif
