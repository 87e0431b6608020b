/*
 * bench_c.c -- the C side of bindings/python/bench.py: the same workloads as the
 * Python benchmark, through the C API directly, so bench.py can print Python/C ratios.
 *
 *   bench_c DIR BATCH_POINTS SINGLE_POINTS
 *
 * opens a fresh database in DIR (default options) and prints one line per workload:
 *   insert_batch_1000 <points/s>   ts_insert_batch, batches of 1,000 points, one metric
 *   insert_single <points/s>       ts_insert, one point per call
 *   scan_read_batch <points/s>     ts_cursor_next_batch into 4,096-point buffers
 *   batch_extend <points/s>        ts_batch_add_many of 1,000 points for each of 10 metrics,
 *                                  then ts_batch_commit
 *   aggregate_1000 <points/s>      ts_aggregate of the batched metric, buckets of 1,000
 *                                  timestamps, 1,024 buckets per call, best of 3 passes
 * The data (timestamps i, values (i % 1000) * 0.25) is generated before timing starts,
 * as bench.py does.
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tsdb.h"

#define BATCH 1000
#define READ_BLOCK 4096
#define EXTEND_METRICS 10
#define AGG_BUCKET 1000
#define AGG_CAP 1024
#define AGG_PASSES 3

static void check(ts_status rc, const char *what) {
    if (rc != TS_OK) {
        fprintf(stderr, "bench_c: %s: %s: %s\n", what, ts_status_str(rc), ts_errmsg());
        exit(1);
    }
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: bench_c DIR BATCH_POINTS SINGLE_POINTS\n");
        return 2;
    }
    const char *dir = argv[1];
    size_t batch_points = strtoull(argv[2], NULL, 10) / BATCH * BATCH;
    size_t single_points = strtoull(argv[3], NULL, 10);

    int64_t *ts = malloc(batch_points * sizeof *ts);
    double *vs = malloc(batch_points * sizeof *vs);
    if (ts == NULL || vs == NULL)
        return 1;
    for (size_t i = 0; i < batch_points; i++) {
        ts[i] = (int64_t)i;
        vs[i] = (double)(i % 1000) * 0.25;
    }

    ts_db *db;
    check(ts_open(dir, NULL, &db), "ts_open");
    uint64_t batched, single;
    check(ts_metric_create(db, "batched", &batched), "ts_metric_create");
    check(ts_metric_create(db, "single", &single), "ts_metric_create");

    double t0 = now();
    for (size_t off = 0; off < batch_points; off += BATCH)
        check(ts_insert_batch(db, batched, ts + off, vs + off, BATCH), "ts_insert_batch");
    double t1 = now();
    printf("insert_batch_1000 %.0f\n", (double)batch_points / (t1 - t0));

    t0 = now();
    for (size_t i = 0; i < single_points; i++)
        check(ts_insert(db, single, (int64_t)i, (double)(i % 1000) * 0.25), "ts_insert");
    t1 = now();
    printf("insert_single %.0f\n", (double)single_points / (t1 - t0));

    static int64_t out_ts[READ_BLOCK];
    static double out_vs[READ_BLOCK];
    ts_txn *txn;
    ts_cursor *cur;
    size_t n, total = 0;
    t0 = now();
    check(ts_txn_begin(db, &txn), "ts_txn_begin");
    check(ts_scan_range(txn, batched, INT64_MIN, INT64_MAX, &cur), "ts_scan_range");
    for (;;) {
        ts_status rc = ts_cursor_next_batch(cur, out_ts, out_vs, READ_BLOCK, &n);
        if (rc == TS_DONE)
            break;
        check(rc, "ts_cursor_next_batch");
        total += n;
    }
    ts_cursor_free(cur);
    ts_txn_release(txn);
    t1 = now();
    if (total != batch_points) {
        fprintf(stderr, "bench_c: scanned %zu points, wrote %zu\n", total, batch_points);
        return 1;
    }
    printf("scan_read_batch %.0f\n", (double)total / (t1 - t0));

    uint64_t extended[EXTEND_METRICS];
    for (int i = 0; i < EXTEND_METRICS; i++) {
        char name[32];
        snprintf(name, sizeof name, "extended.%d", i);
        check(ts_metric_create(db, name, &extended[i]), "ts_metric_create");
    }
    size_t rounds = batch_points / BATCH / EXTEND_METRICS;
    t0 = now();
    ts_batch *batch = ts_batch_new();
    if (batch == NULL)
        return 1;
    for (size_t r = 0; r < rounds; r++) {
        for (int i = 0; i < EXTEND_METRICS; i++) {
            size_t off = (r * EXTEND_METRICS + (size_t)i) * BATCH;
            check(ts_batch_add_many(batch, extended[i], ts + off, vs + off, BATCH),
                  "ts_batch_add_many");
        }
        check(ts_batch_commit(db, batch), "ts_batch_commit");
    }
    ts_batch_free(batch);
    t1 = now();
    printf("batch_extend %.0f\n", (double)(rounds * EXTEND_METRICS * BATCH) / (t1 - t0));

    static ts_agg aggs[AGG_CAP];
    double best = 0;
    for (int pass = 0; pass < AGG_PASSES; pass++) {
        uint64_t counted = 0;
        t0 = now();
        check(ts_txn_begin(db, &txn), "ts_txn_begin");
        int64_t from = 0, until = (int64_t)batch_points;
        for (;;) {
            check(ts_aggregate(txn, batched, from, until, AGG_BUCKET, aggs, AGG_CAP, &n),
                  "ts_aggregate");
            for (size_t i = 0; i < n; i++)
                counted += aggs[i].count;
            if (n < AGG_CAP)
                break;
            from = aggs[n - 1].start + AGG_BUCKET;
            if (from >= until)
                break;
        }
        ts_txn_release(txn);
        t1 = now();
        if (counted != batch_points) {
            fprintf(stderr, "bench_c: aggregated %" PRIu64 " points, wrote %zu\n", counted,
                    batch_points);
            return 1;
        }
        if (pass == 0 || t1 - t0 < best)
            best = t1 - t0;
    }
    printf("aggregate_1000 %.0f\n", (double)batch_points / best);

    check(ts_close(db), "ts_close");
    free(ts);
    free(vs);
    return 0;
}
