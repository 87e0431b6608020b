/*
 * bench_insert.c -- the C baseline for the bindings' insert benchmarks: points per second
 * through ts_insert_batch (1,000-point batches) and through ts_insert (one point per call),
 * each into one metric of a fresh database in a temporary directory, default options
 * (sync every 100 ms). Timestamps ascend one second apart from 2023-11-14 in ms; values are
 * whole numbers. Only the insert calls are timed; ts_close (the final checkpoint) is printed
 * on its own line. Every point is read back and counted before the database is closed.
 *
 * Built by CMake (build/bench_insert) but not run by ctest: it prints figures and asserts
 * nothing about speed.
 *
 * Usage: bench_insert [BATCH_POINTS [SINGLE_POINTS]]     defaults: 10000000 1000000
 */
#include "check.h"

#include <inttypes.h>
#include <time.h>

#define BATCH 1000

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t arg(int argc, char **argv, int i, uint64_t def) {
    if (argc <= i)
        return def;
    char *end;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (*end != '\0' || v == 0) {
        fprintf(stderr, "usage: %s [BATCH_POINTS [SINGLE_POINTS]]   (positive integers)\n", argv[0]);
        exit(2);
    }
    return v;
}

static const int64_t t0 = 1700000000000; /* ms since the epoch */

static int64_t ts_of(uint64_t i) { return t0 + (int64_t)i * 1000; }
static double value_of(uint64_t i) { return (double)((i * 7) % 1000); }

/* A fresh database in a new temporary directory, with one metric. */
static ts_db *fresh_db(char *dir, uint64_t *id) {
    CHECK(mkdtemp(dir) != NULL);
    ts_db *db;
    E(ts_open(dir, NULL, &db));
    E(ts_metric_create(db, "bench.insert", id));
    return db;
}

/* Every point is there: count them with a scan. */
static void check_count(ts_db *db, uint64_t id, uint64_t want) {
    ts_txn *txn;
    E(ts_txn_begin(db, &txn));
    ts_cursor *cur;
    E(ts_scan_range(txn, id, INT64_MIN, INT64_MAX, &cur));
    static int64_t ts[4096];
    uint64_t total = 0;
    size_t n;
    for (;;) {
        ts_status rc = ts_cursor_next_batch(cur, ts, NULL, 4096, &n);
        if (rc == TS_DONE)
            break;
        E(rc);
        total += n;
    }
    ts_cursor_free(cur);
    ts_txn_release(txn);
    CHECK(total == want);
}

static void report(const char *what, uint64_t points, double seconds) {
    printf("%-38s %10" PRIu64 " points in %7.3f s = %6.2f M points/s (%6.1f ns/point)\n", what,
           points, seconds, (double)points / seconds / 1e6, seconds * 1e9 / (double)points);
}

static void close_db(ts_db *db, char *dir) {
    double start = now_s();
    E(ts_close(db));
    printf("%-38s %7.3f s\n", "  ts_close (final checkpoint)", now_s() - start);
    remove_tree(dir);
}

int main(int argc, char **argv) {
    const uint64_t batch_points = arg(argc, argv, 1, 10000000);
    const uint64_t single_points = arg(argc, argv, 2, 1000000);
    printf("libtsdb %s insert benchmark (C): one metric, fresh database per run, default options\n",
           ts_version());

    {
        char dir[] = "/tmp/tsdb-bench-insert-XXXXXX";
        uint64_t id;
        ts_db *db = fresh_db(dir, &id);
        static int64_t ts[BATCH];
        static double values[BATCH];
        double start = now_s();
        for (uint64_t done = 0; done < batch_points;) {
            size_t n = batch_points - done < BATCH ? (size_t)(batch_points - done) : BATCH;
            for (size_t i = 0; i < n; i++) {
                ts[i] = ts_of(done + i);
                values[i] = value_of(done + i);
            }
            E(ts_insert_batch(db, id, ts, values, n));
            done += n;
        }
        report("ts_insert_batch, 1000-point batches:", batch_points, now_s() - start);
        check_count(db, id, batch_points);
        close_db(db, dir);
    }

    {
        char dir[] = "/tmp/tsdb-bench-insert-XXXXXX";
        uint64_t id;
        ts_db *db = fresh_db(dir, &id);
        double start = now_s();
        for (uint64_t i = 0; i < single_points; i++)
            E(ts_insert(db, id, ts_of(i), value_of(i)));
        report("ts_insert, one point per call:", single_points, now_s() - start);
        check_count(db, id, single_points);
        close_db(db, dir);
    }
    return 0;
}
