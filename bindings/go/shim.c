// shim.c -- see shim.h. Compiled by cgo together with the package's Go files.
#include "shim.h"

#include <stdlib.h>
#include <string.h>

static const char oom_msg[] = "out of memory";

static tsgo_result result(ts_status status) {
  tsgo_result r = {status, NULL};
  if (status != TS_OK && status != TS_DONE) {
    r.msg = strdup(ts_errmsg()); /* NULL if memory is exhausted: the Go side copes */
  }
  return r;
}

tsgo_result tsgo_open(const char *path, const tsgo_options *o, ts_db **out) {
  if (o == NULL) {
    return result(ts_open(path, NULL, out));
  }
  ts_options *opts = ts_options_new();
  if (opts == NULL) {
    tsgo_result r = {TS_INTERNAL, strdup(oom_msg)};
    return r;
  }
  ts_status st = TS_OK;
  if (st == TS_OK && o->set_create_if_missing) {
    st = ts_options_set_create_if_missing(opts, o->create_if_missing != 0);
  }
  if (st == TS_OK && o->partition_points != 0) {
    st = ts_options_set_partition_points(opts, o->partition_points);
  }
  if (st == TS_OK && o->head_run_points != 0) {
    st = ts_options_set_head_run_points(opts, o->head_run_points);
  }
  if (st == TS_OK && o->set_raw_head_budget) {
    st = ts_options_set_raw_head_budget(opts, o->raw_head_budget);
  }
  if (st == TS_OK && o->set_sync) {
    st = ts_options_set_sync(opts, o->sync_mode, o->sync_interval_ms);
  }
  if (st == TS_OK && o->checkpoint_bytes != 0) {
    st = ts_options_set_checkpoint_bytes(opts, o->checkpoint_bytes);
  }
  if (st == TS_OK) {
    st = ts_open(path, opts, out);
  }
  tsgo_result r = result(st); /* before ts_options_free, which cannot fail anyway */
  ts_options_free(opts);
  return r;
}

tsgo_result tsgo_close(ts_db *db) { return result(ts_close(db)); }

tsgo_result tsgo_checkpoint(ts_db *db) { return result(ts_checkpoint(db)); }

tsgo_result tsgo_metric_create(ts_db *db, const char *name, uint64_t *id_out) {
  return result(ts_metric_create(db, name, id_out));
}

tsgo_result tsgo_metric_drop(ts_db *db, uint64_t id) { return result(ts_metric_drop(db, id)); }

tsgo_result tsgo_insert(ts_db *db, uint64_t id, int64_t ts, double value) {
  return result(ts_insert(db, id, ts, value));
}

tsgo_result tsgo_insert_batch(ts_db *db, uint64_t id, const int64_t *ts, const double *values,
                              size_t n) {
  return result(ts_insert_batch(db, id, ts, values, n));
}

tsgo_result tsgo_batch_commit(ts_db *db, const uint64_t *ids, const int64_t *ts,
                              const double *values, size_t n) {
  ts_batch *b = ts_batch_new();
  if (b == NULL) {
    tsgo_result r = {TS_INTERNAL, strdup(oom_msg)};
    return r;
  }
  ts_status st = TS_OK;
  for (size_t i = 0; i < n && st == TS_OK; i++) {
    st = ts_batch_add(b, ids[i], ts[i], values[i]);
  }
  if (st == TS_OK) {
    st = ts_batch_commit(db, b);
  }
  tsgo_result r = result(st);
  ts_batch_free(b);
  return r;
}

tsgo_result tsgo_txn_begin(ts_db *db, ts_txn **out) { return result(ts_txn_begin(db, out)); }

tsgo_result tsgo_metric_lookup(const ts_txn *txn, const char *name, uint64_t *id_out) {
  return result(ts_metric_lookup(txn, name, id_out));
}

tsgo_result tsgo_txn_metric_count(const ts_txn *txn, uint64_t *n_out) {
  return result(ts_txn_metric_count(txn, n_out));
}

tsgo_result tsgo_scan_range(const ts_txn *txn, uint64_t id, int64_t from, int64_t until,
                            ts_cursor **out) {
  return result(ts_scan_range(txn, id, from, until, out));
}

tsgo_result tsgo_cursor_next_batch(ts_cursor *c, int64_t *ts, double *values, size_t cap,
                                   size_t *n_out) {
  return result(ts_cursor_next_batch(c, ts, values, cap, n_out));
}
