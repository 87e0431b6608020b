/*
 * demo.c -- the main job: ingest many series, then read all of them back.
 *
 * Creates METRICS metrics and writes POINTS points into each through ts_insert_batch, BATCH
 * points per call, round-robin over the metrics as a collector would (one point per second
 * per series). Then prints the ingest rate, the cost of a snapshot, a full scan of every
 * metric (checking every count and a checksum of the values), the memory per point, then
 * closes the database (a final checkpoint), prints its size on disk per point, reopens it
 * and checks the count again. Sealed partitions are compressed and live in data files read
 * through memory maps; each metric's newest points (up to partition_points, 4096 by
 * default) wait in its head in memory.
 *
 * Usage: demo [METRICS [POINTS [BATCH]]]      defaults: 1000 10000 1000 (10 million points)
 */
#include "check.h"

#include <inttypes.h>
#include <time.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Resident memory of this process in bytes that no file backs: the heap, where heads and
 * partition maps live (/proc/self/statm: resident minus shared, in pages). Mapped pages of
 * the log and data files are page cache, which the kernel reclaims and rereads at will. */
static double anon_bytes(void) {
    unsigned long size = 0, resident = 0, shared = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu %lu", &size, &resident, &shared) != 3)
        resident = shared = 0;
    fclose(f);
    return (double)(resident - shared) * (double)sysconf(_SC_PAGESIZE);
}

/* Bytes allocated on disk under a directory, as du counts them. */
static double disk_total;
static int add_blocks(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)path, (void)flag, (void)ftw;
    disk_total += (double)st->st_blocks * 512.0;
    return 0;
}
static double disk_bytes(const char *dir) {
    disk_total = 0;
    CHECK(nftw(dir, add_blocks, 16, FTW_PHYS) == 0);
    return disk_total;
}

/* The value of point `i` of metric `m`: whole numbers, so the checksum is exact. */
static double value_of(uint64_t m, uint64_t i) {
    return (double)((m * 31 + i * 7) % 1000);
}

static uint64_t arg(int argc, char **argv, int i, uint64_t def) {
    if (argc <= i)
        return def;
    char *end;
    unsigned long long v = strtoull(argv[i], &end, 10);
    if (*end != '\0' || v == 0) {
        fprintf(stderr, "usage: %s [METRICS [POINTS [BATCH]]]   (positive integers)\n", argv[0]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    const uint64_t metrics = arg(argc, argv, 1, 1000);
    const uint64_t points = arg(argc, argv, 2, 10000);
    const uint64_t batch = arg(argc, argv, 3, 1000);
    const uint64_t total = metrics * points;
    const int64_t t0 = 1700000000000; /* ms since the epoch */

    printf("libtsdb %s demo: %" PRIu64 " metrics x %" PRIu64 " points = %" PRIu64
           " points, %" PRIu64 " points per ts_insert_batch\n",
           ts_version(), metrics, points, total, batch);

    char dir[] = "/tmp/tsdb-demo-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    ts_db *db;
    E(ts_open(dir, NULL, &db));
    double rss0 = anon_bytes();

    uint64_t *ids = malloc(metrics * sizeof *ids);
    int64_t *ts = malloc(batch * sizeof *ts);
    double *vals = malloc(batch * sizeof *vals);
    CHECK(ids != NULL && ts != NULL && vals != NULL);
    double start = now_s();
    for (uint64_t m = 0; m < metrics; m++) {
        char name[64];
        snprintf(name, sizeof name, "host%04" PRIu64 ".cpu%02" PRIu64 ".user", m / 64, m % 64);
        E(ts_metric_create(db, name, &ids[m]));
    }
    printf("create   %" PRIu64 " metrics in %.3f s\n", metrics, now_s() - start);

    /* Ingest: round-robin over the metrics, BATCH consecutive points of one metric per call. */
    start = now_s();
    uint64_t written = 0, next_report = total / 10;
    uint64_t checksum = 0;
    for (uint64_t first = 0; first < points; first += batch) {
        uint64_t n = points - first < batch ? points - first : batch;
        for (uint64_t m = 0; m < metrics; m++) {
            for (uint64_t j = 0; j < n; j++) {
                ts[j] = t0 + (int64_t)(first + j) * 1000;
                vals[j] = value_of(m, first + j);
                checksum += (uint64_t)vals[j];
            }
            E(ts_insert_batch(db, ids[m], ts, vals, n));
            written += n;
            if (written >= next_report) {
                double s = now_s() - start;
                printf("ingest   %3.0f%%  %12" PRIu64 " points  %6.2f s  %6.2f M points/s\n",
                       100.0 * (double)written / (double)total, written, s, (double)written / s / 1e6);
                fflush(stdout);
                next_report += total / 10 ? total / 10 : 1;
            }
        }
    }
    double ingest_s = now_s() - start;
    double rss1 = anon_bytes();

    /* A snapshot costs the same whatever the database holds: begin + release. */
    enum { SNAPS = 100000 };
    start = now_s();
    for (int i = 0; i < SNAPS; i++) {
        ts_txn *t;
        E(ts_txn_begin(db, &t));
        ts_txn_release(t);
    }
    double snap_s = (now_s() - start) / SNAPS;

    /* A full scan of every metric through one snapshot. */
    ts_txn *txn;
    E(ts_txn_begin(db, &txn));
    uint64_t count;
    E(ts_txn_metric_count(txn, &count));
    CHECK(count == metrics);
    enum { CAP = 4096 };
    int64_t *rts = malloc(CAP * sizeof *rts);
    double *rvals = malloc(CAP * sizeof *rvals);
    CHECK(rts != NULL && rvals != NULL);
    uint64_t read = 0, read_sum = 0;
    start = now_s();
    for (uint64_t m = 0; m < metrics; m++) {
        ts_cursor *c;
        E(ts_scan_range(txn, ids[m], INT64_MIN, INT64_MAX, &c));
        uint64_t in_metric = 0;
        size_t n;
        ts_status rc;
        while ((rc = ts_cursor_next_batch(c, rts, rvals, CAP, &n)) == TS_OK) {
            CHECK(rts[0] == t0 + (int64_t)in_metric * 1000); /* ascending, none missing */
            for (size_t i = 0; i < n; i++)
                read_sum += (uint64_t)rvals[i];
            in_metric += n;
        }
        EXPECT(rc, TS_DONE);
        CHECK(in_metric == points);
        read += in_metric;
        ts_cursor_free(c);
    }
    double scan_s = now_s() - start;
    ts_txn_release(txn);
    CHECK(read == total && read_sum == checksum);

    printf("ingest   %" PRIu64 " points in %.3f s: %.2f M points/s (%.0f ns per point)\n",
           total, ingest_s, (double)total / ingest_s / 1e6, ingest_s / (double)total * 1e9);
    printf("snapshot ts_txn_begin + ts_txn_release: %.0f ns\n", snap_s * 1e9);
    printf("scan     %" PRIu64 " points of %" PRIu64 " metrics in %.3f s: %.2f M points/s "
           "(counts and checksum match)\n",
           read, metrics, scan_s, (double)read / scan_s / 1e6);
    printf("memory   %.1f MiB of heap for the data: %.1f bytes per point (raw: 16; the newest <= 4096\n"
           "         points of each metric wait in its head, the rest is in data files)\n",
           (rss1 - rss0) / 1048576.0, (rss1 - rss0) / (double)total);

    start = now_s();
    E(ts_close(db)); /* a final checkpoint; the write-ahead log is deleted */
    double close_s = now_s() - start;
    double disk = disk_bytes(dir);
    printf("close    %.3f s (final checkpoint); on disk %.1f MiB: %.2f bytes per point\n", close_s,
           disk / 1048576.0, disk / (double)total);

    start = now_s();
    E(ts_open(dir, NULL, &db));
    double open_s = now_s() - start;
    E(ts_txn_begin(db, &txn));
    E(ts_txn_metric_count(txn, &count));
    CHECK(count == metrics);
    ts_cursor *c;
    E(ts_scan_range(txn, ids[metrics - 1], INT64_MIN, INT64_MAX, &c));
    uint64_t again = 0;
    size_t n;
    while (ts_cursor_next_batch(c, rts, rvals, CAP, &n) == TS_OK)
        again += n;
    CHECK(again == points);
    ts_cursor_free(c);
    ts_txn_release(txn);
    printf("reopen   %.3f s; %" PRIu64 " metrics, every point of the last one read back\n", open_s, count);

    free(rts);
    free(rvals);
    free(ids);
    free(ts);
    free(vals);
    E(ts_close(db));
    remove_tree(dir);
    return 0;
}
