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
  if (st == TS_OK && o->retention != 0) {
    st = ts_options_set_retention(opts, o->retention);
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

tsgo_result tsgo_db_stats(ts_db *db, ts_stats *out) { return result(ts_db_stats(db, out)); }

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

tsgo_result tsgo_delete_range(ts_db *db, uint64_t id, int64_t from, int64_t until) {
  return result(ts_delete_range(db, id, from, until));
}

tsgo_result tsgo_metric_set_retention(ts_db *db, uint64_t id, int64_t span) {
  return result(ts_metric_set_retention(db, id, span));
}

tsgo_result tsgo_enforce_retention(ts_db *db, uint64_t *dropped_out) {
  return result(ts_enforce_retention(db, dropped_out));
}

tsgo_result tsgo_batch_commit(ts_db *db, const uint64_t *run_ids, const uint64_t *run_lens,
                              size_t runs, const int64_t *ts, const double *values) {
  ts_batch *b = ts_batch_new();
  if (b == NULL) {
    tsgo_result r = {TS_INTERNAL, strdup(oom_msg)};
    return r;
  }
  ts_status st = TS_OK;
  size_t at = 0;
  for (size_t r = 0; r < runs && st == TS_OK; r++) {
    st = ts_batch_add_many(b, run_ids[r], ts + at, values + at, (size_t)run_lens[r]);
    at += (size_t)run_lens[r];
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

tsgo_result tsgo_aggregate(const ts_txn *txn, uint64_t id, int64_t from, int64_t until,
                           int64_t bucket, ts_agg *out, size_t cap, size_t *n_out) {
  return result(ts_aggregate(txn, id, from, until, bucket, out, cap, n_out));
}

tsgo_result tsgo_metric_list_open(const ts_txn *txn, const char *prefix, ts_metric_list **out) {
  return result(ts_metric_list_open(txn, prefix, out));
}

tsgo_result tsgo_metric_list_next(ts_metric_list *list, uint64_t *ids, const char **names,
                                  size_t cap, size_t *n_out) {
  return result(ts_metric_list_next(list, ids, names, cap, n_out));
}
