/* quickstart.c -- open a database, write points, read them back through a snapshot. */
#include "check.h" /* E(call): unless TS_OK, print file:line, call, status, ts_errmsg(); exit */

#include <inttypes.h>

int main(void) {
    char want[32]; /* the header and the library agree on the version */
    snprintf(want, sizeof want, "%d.%d.%d", TS_VERSION_MAJOR, TS_VERSION_MINOR, TS_VERSION_PATCH);
    CHECK(strcmp(ts_version(), want) == 0);

    char dir[] = "/tmp/tsdb-quickstart-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    ts_db *db;
    E(ts_open(dir, NULL, &db)); /* NULL options: the defaults */

    uint64_t cpu;
    E(ts_metric_create(db, "cpu.user", &cpu));
    E(ts_insert(db, cpu, 1000, 0.25)); /* one point: (timestamp, value) */
    int64_t ts[] = {4000, 2000, 3000}; /* any order */
    double values[] = {0.125, 0.5, 0.75};
    E(ts_insert_batch(db, cpu, ts, values, 3)); /* many points in one call: the fast path */
    E(ts_insert(db, cpu, 3000, 0.7));           /* same timestamp again: last write wins */

    ts_txn *txn; /* a snapshot: a consistent view that writers never change */
    E(ts_txn_begin(db, &txn));
    uint64_t id;
    E(ts_metric_lookup(txn, "cpu.user", &id));
    ts_cursor *cur; /* points with from <= ts < until, ascending */
    E(ts_scan_range(txn, id, INT64_MIN, INT64_MAX, &cur));

    int64_t out_ts[2]; /* small buffers, to show the loop */
    double out_values[2];
    size_t n, total = 0;
    for (;;) {
        ts_status rc = ts_cursor_next_batch(cur, out_ts, out_values, 2, &n);
        if (rc == TS_DONE) /* no more points: not an error */
            break;
        E(rc);
        for (size_t i = 0; i < n; i++)
            printf("cpu.user %" PRId64 " %g\n", out_ts[i], out_values[i]);
        total += n;
    }
    CHECK(total == 4);

    ts_cursor_free(cur);
    ts_txn_release(txn);
    E(ts_close(db)); /* TS_BUSY while a snapshot or cursor is alive */
    remove_tree(dir);
    return 0;
}
