/*
 * consumer.c -- the program every packaging test builds against libtsdb the way a user
 * would (find_package, pkg-config, add_subdirectory): it includes <tsdb.h> from wherever
 * the build found it, checks that the library it runs with is the version of that header
 * (and, given an argument, that this is the version Cargo.toml states), and writes and
 * reads back points in a fresh database. Exits non-zero on any failure.
 *
 * Usage: consumer [EXPECTED_VERSION]
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>

#include <tsdb.h>

#define N_POINTS 5000

static void fail_status(const char *call, ts_status rc) {
    fprintf(stderr, "consumer: %s: %s: %s\n", call, ts_status_str(rc), ts_errmsg());
    exit(EXIT_FAILURE);
}

#define E(call)                                                                          \
    do {                                                                                 \
        ts_status rc_ = (call);                                                          \
        if (rc_ != TS_OK)                                                                \
            fail_status(#call, rc_);                                                     \
    } while (0)

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "consumer: %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,   \
                    #cond);                                                              \
            exit(EXIT_FAILURE);                                                          \
        }                                                                                \
    } while (0)

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv) {
    char header_version[32];
    snprintf(header_version, sizeof header_version, "%d.%d.%d", TS_VERSION_MAJOR,
             TS_VERSION_MINOR, TS_VERSION_PATCH);
    if (strcmp(ts_version(), header_version) != 0) {
        fprintf(stderr, "consumer: library %s, header %s\n", ts_version(), header_version);
        return EXIT_FAILURE;
    }
    if (argc > 1 && strcmp(ts_version(), argv[1]) != 0) {
        fprintf(stderr, "consumer: library %s, expected %s\n", ts_version(), argv[1]);
        return EXIT_FAILURE;
    }

    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tsdb-consumer-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);

    ts_db *db;
    E(ts_open(dir, NULL, &db));
    uint64_t id;
    E(ts_metric_create(db, "consumer.points", &id));

    /* Half the points in one batch, the other half one call each, newest first. */
    static int64_t ts[N_POINTS / 2];
    static double values[N_POINTS / 2];
    for (int i = 0; i < N_POINTS / 2; i++) {
        ts[i] = i;
        values[i] = i * 0.5;
    }
    E(ts_insert_batch(db, id, ts, values, N_POINTS / 2));
    for (int i = N_POINTS - 1; i >= N_POINTS / 2; i--)
        E(ts_insert(db, id, i, i * 0.5));

    ts_txn *txn;
    E(ts_txn_begin(db, &txn));
    uint64_t found;
    E(ts_metric_lookup(txn, "consumer.points", &found));
    CHECK(found == id);
    ts_cursor *cur;
    E(ts_scan_range(txn, id, INT64_MIN, INT64_MAX, &cur));
    int64_t out_ts[1000];
    double out_values[1000];
    size_t n;
    int64_t next = 0;
    for (;;) {
        ts_status rc = ts_cursor_next_batch(cur, out_ts, out_values, 1000, &n);
        if (rc == TS_DONE)
            break;
        E(rc);
        for (size_t i = 0; i < n; i++, next++) {
            CHECK(out_ts[i] == next);
            CHECK(out_values[i] == next * 0.5);
        }
    }
    CHECK(next == N_POINTS);

    CHECK(ts_close(db) == TS_BUSY); /* a snapshot and a cursor are alive */
    ts_cursor_free(cur);
    ts_txn_release(txn);
    E(ts_close(db));

    CHECK(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
    printf("consumer: libtsdb %s, %d points written and read back\n", ts_version(), N_POINTS);
    return EXIT_SUCCESS;
}
