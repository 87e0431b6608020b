/* queries.c -- aggregates, range delete, retention, metric listing and stats from C. */
#include "check.h" /* E(call): unless TS_OK, print file:line, call, status, ts_errmsg(); exit */

#include <inttypes.h>
#include <math.h>

enum { POINTS = 100000, BUCKET = 1000 };

int main(void) {
    char dir[] = "/tmp/tsdb-queries-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    ts_options *opts = ts_options_new();
    CHECK(opts != NULL);
    E(ts_options_set_partition_points(opts, 1024)); /* small partitions: many sealed blocks */
    ts_db *db;
    E(ts_open(dir, opts, &db));
    ts_options_free(opts);

    /* Two metrics; "cpu.user" gets 100,000 points t = 0..99,999 with value t % 100. */
    uint64_t cpu, mem;
    E(ts_metric_create(db, "cpu.user", &cpu));
    E(ts_metric_create(db, "mem.free", &mem));
    static int64_t ts[POINTS];
    static double vs[POINTS];
    for (int i = 0; i < POINTS; i++) {
        ts[i] = i;
        vs[i] = (double)(i % 100);
    }
    E(ts_insert_batch(db, cpu, ts, vs, POINTS));
    E(ts_insert(db, mem, 5, NAN)); /* a bucket of only NaN: min, max and sum are NaN */

    ts_txn *before; /* a snapshot from before the delete */
    E(ts_txn_begin(db, &before));

    /* Aggregates in buckets of 1,000, read 7 at a time, continuing as the header says. */
    ts_agg out[7];
    size_t n, buckets = 0;
    uint64_t points = 0;
    for (int64_t from = 0;;) {
        E(ts_aggregate(before, cpu, from, POINTS, BUCKET, out, 7, &n));
        for (size_t i = 0; i < n; i++) {
            CHECK(out[i].start == (int64_t)buckets * BUCKET);
            CHECK(out[i].count == BUCKET && out[i].min == 0.0 && out[i].max == 99.0);
            CHECK(out[i].sum == 10 * 4950.0 && out[i].first == 0.0 && out[i].last == 99.0);
            CHECK(out[i].first_ts == out[i].start && out[i].last_ts == out[i].start + BUCKET - 1);
            points += out[i].count;
            buckets++;
        }
        if (n < 7 || out[n - 1].start + BUCKET >= POINTS)
            break;
        from = out[n - 1].start + BUCKET;
    }
    CHECK(buckets == POINTS / BUCKET && points == POINTS);
    E(ts_aggregate(before, mem, 0, 10, 10, out, 7, &n));
    CHECK(n == 1 && out[0].count == 1 && isnan(out[0].min) && isnan(out[0].sum) && isnan(out[0].first));
    EXPECT_ERR(ts_aggregate(before, cpu, 0, 10, 0, out, 7, &n), TS_INVALID_ARGUMENT, "ts_aggregate");

    /* Delete [10,000, 60,000): a new snapshot sees 50,000 points, the old one all of them. */
    E(ts_delete_range(db, cpu, 10000, 60000));
    ts_txn *after;
    E(ts_txn_begin(db, &after));
    E(ts_aggregate(after, cpu, INT64_MIN, INT64_MAX, INT64_MAX, out, 1, &n));
    CHECK(n == 1 && out[0].count == POINTS - 50000);
    E(ts_aggregate(before, cpu, INT64_MIN, INT64_MAX, INT64_MAX, out, 1, &n));
    CHECK(n == 1 && out[0].count == POINTS);

    /* Stats: two live snapshots, and bytes only the old one keeps alive. */
    ts_stats st;
    E(ts_db_stats(db, &st));
    CHECK(st.metrics == 2 && st.live_snapshots == 2 && st.old_snapshot_bytes > 0);
    printf("metrics %" PRIu64 ", points %" PRIu64 ", partitions %" PRIu64 ", on disk %" PRIu64
           " bytes, live snapshots %" PRIu64 ", kept by old snapshots %" PRIu64 " bytes\n",
           st.metrics, st.points, st.partitions, st.disk_bytes, st.live_snapshots, st.old_snapshot_bytes);
    ts_txn_release(before);
    E(ts_db_stats(db, &st));
    CHECK(st.live_snapshots == 1 && st.old_snapshot_bytes == 0);

    /* Listing by name prefix, in batches. */
    ts_metric_list *list;
    E(ts_metric_list_open(after, "cpu.", &list));
    uint64_t ids[4];
    const char *names[4];
    E(ts_metric_list_next(list, ids, names, 4, &n));
    CHECK(n == 1 && ids[0] == cpu && strcmp(names[0], "cpu.user") == 0);
    EXPECT(ts_metric_list_next(list, ids, names, 4, &n), TS_DONE);
    ts_metric_list_free(list);
    ts_txn_release(after);

    /* Retention: keep the newest 20,000 time units of cpu.user; older partitions go, whole
     * (one joined before the setting may reach further back than the span). */
    E(ts_metric_set_retention(db, cpu, 20000));
    uint64_t dropped = 0;
    E(ts_enforce_retention(db, &dropped));
    E(ts_txn_begin(db, &after));
    E(ts_aggregate(after, cpu, INT64_MIN, INT64_MAX, INT64_MAX, out, 1, &n));
    CHECK(n == 1 && dropped > 0 && out[0].first_ts > 0 && out[0].first_ts <= POINTS - 20000 &&
          out[0].last_ts == POINTS - 1);
    printf("retention dropped %" PRIu64 " partitions; cpu.user now starts at %" PRId64 "\n", dropped,
           out[0].first_ts);
    ts_txn_release(after);

    ts_check_report report;
    E(ts_check(db, &report)); /* every checksum and structural invariant */
    E(ts_close(db));
    remove_tree(dir);
    return 0;
}
