/*
 * errors.c -- every bad input of the C API gets its documented status and a message from
 * ts_errmsg() that names the function, and nothing crashes (DESIGN.md section 3,
 * tsdb.h CONVENTIONS). Runs a list of named tests, as regex-capi's ctest/test.c.
 */
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

static char g_root[] = "/tmp/tsdb-errors-XXXXXX"; /* every database of this run lives here */

/* A fresh, empty database in its own directory under g_root. */
static ts_db *fresh_db(uint32_t partition_points) {
    static int n;
    char path[128];
    snprintf(path, sizeof path, "%s/db%d", g_root, n++);
    ts_options *opts = ts_options_new();
    CHECK(opts != NULL);
    E(ts_options_set_partition_points(opts, partition_points));
    ts_db *db = NULL;
    E(ts_open(path, opts, &db));
    ts_options_free(opts); /* copied by ts_open */
    CHECK(db != NULL);
    return db;
}

/* The number of points of metric `id` in a new snapshot (checks every call). */
static size_t count_points(ts_db *db, uint64_t id) {
    ts_txn *txn;
    ts_cursor *c;
    int64_t ts[64];
    size_t n, total = 0;
    E(ts_txn_begin(db, &txn));
    E(ts_scan_range(txn, id, INT64_MIN, INT64_MAX, &c));
    ts_status rc;
    while ((rc = ts_cursor_next_batch(c, ts, NULL, 64, &n)) == TS_OK)
        total += n;
    EXPECT(rc, TS_DONE);
    ts_cursor_free(c);
    ts_txn_release(txn);
    return total;
}

/* ts_errmsg() contains `what` (e.g. the NULL parameter's name). */
#define CHECK_MSG_HAS(what)                                                              \
    do {                                                                                 \
        if (strstr(ts_errmsg(), (what)) == NULL) {                                       \
            fprintf(stderr, "%s:%d: ts_errmsg() \"%s\" does not mention \"%s\"\n",       \
                    __FILE__, __LINE__, ts_errmsg(), (what));                            \
            exit(EXIT_FAILURE);                                                          \
        }                                                                                \
    } while (0)

/* A call that must fail with TS_INVALID_ARGUMENT because parameter `param` is NULL. */
#define EXPECT_NULL_ARG(call, func, param)                                               \
    do {                                                                                 \
        EXPECT_ERR(call, TS_INVALID_ARGUMENT, func);                                     \
        CHECK_MSG_HAS(param);                                                            \
    } while (0)

static void test_status_str(void) {
    static const char *const names[] = {
        "TS_OK",           "TS_DONE", "TS_NOT_FOUND",  "TS_EXISTS",  "TS_INVALID_ARGUMENT",
        "TS_BUSY",         "TS_IO_ERROR", "TS_CORRUPTION", "TS_CLOSED", "TS_INTERNAL",
    };
    for (uint32_t s = 0; s < sizeof names / sizeof names[0]; s++)
        CHECK(strcmp(ts_status_str(s), names[s]) == 0);
    CHECK(TS_OK == 0 && TS_DONE == 1 && TS_NOT_FOUND == 2 && TS_EXISTS == 3 &&
          TS_INVALID_ARGUMENT == 4 && TS_BUSY == 5 && TS_IO_ERROR == 6 && TS_CORRUPTION == 7 &&
          TS_CLOSED == 8 && TS_INTERNAL == 9); /* numbers are fixed forever */
    CHECK(strcmp(ts_status_str(10), "TS_UNKNOWN_STATUS") == 0);
    CHECK(strcmp(ts_status_str(999), "TS_UNKNOWN_STATUS") == 0);
    CHECK(strcmp(ts_status_str(UINT32_MAX), "TS_UNKNOWN_STATUS") == 0);
    CHECK(ts_version() != NULL && ts_errmsg() != NULL);
}

static void test_null_everywhere(void) {
    ts_db *db = fresh_db(4096);
    uint64_t id;
    E(ts_metric_create(db, "m", &id));
    E(ts_insert(db, id, 1, 1.0));
    ts_txn *txn;
    E(ts_txn_begin(db, &txn));
    ts_cursor *c;
    E(ts_scan_range(txn, id, 0, 10, &c));
    ts_batch *b = ts_batch_new();
    CHECK(b != NULL);
    int64_t t = 0, ts[1] = {1};
    double v = 0, vals[1] = {1.0};
    size_t n = 0;
    uint64_t u = 0;
    char path[128];
    snprintf(path, sizeof path, "%s/null", g_root);

    EXPECT_NULL_ARG(ts_options_set_create_if_missing(NULL, true), "ts_options_set_create_if_missing", "opts");
    EXPECT_NULL_ARG(ts_options_set_partition_points(NULL, 64), "ts_options_set_partition_points", "opts");
    ts_db *out = (ts_db *)&u; /* a sentinel: out-params are written only on TS_OK */
    EXPECT_NULL_ARG(ts_open(NULL, NULL, &out), "ts_open", "path");
    EXPECT_NULL_ARG(ts_open(path, NULL, NULL), "ts_open", "out");
    CHECK(out == (ts_db *)&u);
    EXPECT_NULL_ARG(ts_metric_create(NULL, "x", &u), "ts_metric_create", "db");
    EXPECT_NULL_ARG(ts_metric_create(db, NULL, &u), "ts_metric_create", "name");
    EXPECT_NULL_ARG(ts_metric_create(db, "x", NULL), "ts_metric_create", "id_out");
    EXPECT_NULL_ARG(ts_metric_drop(NULL, id), "ts_metric_drop", "db");
    EXPECT_NULL_ARG(ts_insert(NULL, id, 1, 1.0), "ts_insert", "db");
    EXPECT_NULL_ARG(ts_insert_batch(NULL, id, ts, vals, 1), "ts_insert_batch", "db");
    EXPECT_NULL_ARG(ts_insert_batch(db, id, NULL, vals, 1), "ts_insert_batch", "ts");
    EXPECT_NULL_ARG(ts_insert_batch(db, id, ts, NULL, 1), "ts_insert_batch", "values");
    EXPECT_NULL_ARG(ts_batch_add(NULL, id, 1, 1.0), "ts_batch_add", "batch");
    EXPECT_NULL_ARG(ts_batch_clear(NULL), "ts_batch_clear", "batch");
    E(ts_batch_add(b, id, 1, 1.0));
    EXPECT_NULL_ARG(ts_batch_commit(NULL, b), "ts_batch_commit", "db");
    EXPECT_NULL_ARG(ts_batch_commit(db, NULL), "ts_batch_commit", "batch");
    EXPECT_NULL_ARG(ts_txn_begin(NULL, &txn), "ts_txn_begin", "db");
    EXPECT_NULL_ARG(ts_txn_begin(db, NULL), "ts_txn_begin", "out");
    EXPECT_NULL_ARG(ts_metric_lookup(NULL, "m", &u), "ts_metric_lookup", "txn");
    EXPECT_NULL_ARG(ts_metric_lookup(txn, NULL, &u), "ts_metric_lookup", "name");
    EXPECT_NULL_ARG(ts_metric_lookup(txn, "m", NULL), "ts_metric_lookup", "id_out");
    EXPECT_NULL_ARG(ts_txn_metric_count(NULL, &u), "ts_txn_metric_count", "txn");
    EXPECT_NULL_ARG(ts_txn_metric_count(txn, NULL), "ts_txn_metric_count", "n_out");
    EXPECT_NULL_ARG(ts_scan_range(NULL, id, 0, 10, &c), "ts_scan_range", "txn");
    EXPECT_NULL_ARG(ts_scan_range(txn, id, 0, 10, NULL), "ts_scan_range", "out");
    EXPECT_NULL_ARG(ts_cursor_next(NULL, &t, &v), "ts_cursor_next", "c");
    EXPECT_NULL_ARG(ts_cursor_next(c, NULL, &v), "ts_cursor_next", "ts");
    EXPECT_NULL_ARG(ts_cursor_next(c, &t, NULL), "ts_cursor_next", "value");
    EXPECT_NULL_ARG(ts_cursor_next_batch(NULL, ts, vals, 1, &n), "ts_cursor_next_batch", "c");
    EXPECT_NULL_ARG(ts_cursor_next_batch(c, ts, vals, 1, NULL), "ts_cursor_next_batch", "n_out");
    EXPECT_ERR(ts_cursor_next_batch(c, NULL, NULL, 1, &n), TS_INVALID_ARGUMENT, "ts_cursor_next_batch");
    EXPECT_ERR(ts_cursor_next_batch(c, ts, vals, 0, &n), TS_INVALID_ARGUMENT, "ts_cursor_next_batch");
    CHECK(n == 0); /* untouched by the failures */

    /* Nothing above consumed the cursor or wrote the batch's point. */
    E(ts_cursor_next(c, &t, &v));
    CHECK(t == 1 && v == 1.0);
    CHECK(count_points(db, id) == 1);

    /* Either column may be skipped (not both). */
    ts_cursor *c2;
    E(ts_scan_range(txn, id, 0, 10, &c2));
    vals[0] = 0;
    E(ts_cursor_next_batch(c2, NULL, vals, 1, &n));
    CHECK(n == 1 && vals[0] == 1.0);
    ts_cursor_free(c2);

    /* Destroyers accept NULL; ts_close(NULL) is TS_OK. */
    ts_options_free(NULL);
    ts_batch_free(NULL);
    ts_txn_release(NULL);
    ts_cursor_free(NULL);
    E(ts_close(NULL));

    ts_batch_free(b);
    ts_cursor_free(c);
    ts_txn_release(txn);
    E(ts_close(db));
}

static void test_unknown_ids(void) {
    ts_db *db = fresh_db(4096);
    uint64_t id, gone;
    E(ts_metric_create(db, "live", &id));
    CHECK(id == 1); /* ids start at 1 */
    E(ts_metric_create(db, "gone", &gone));
    E(ts_metric_drop(db, gone));
    int64_t ts[1] = {5};
    double vals[1] = {5.0};
    const uint64_t bad[] = {0, 999, gone, UINT64_MAX};
    ts_txn *txn;
    E(ts_txn_begin(db, &txn));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        EXPECT_ERR(ts_insert(db, bad[i], 1, 1.0), TS_NOT_FOUND, "ts_insert");
        EXPECT_ERR(ts_insert_batch(db, bad[i], ts, vals, 1), TS_NOT_FOUND, "ts_insert_batch");
        EXPECT_ERR(ts_metric_drop(db, bad[i]), TS_NOT_FOUND, "ts_metric_drop");
        ts_cursor *c = (ts_cursor *)&id;
        EXPECT_ERR(ts_scan_range(txn, bad[i], 0, 10, &c), TS_NOT_FOUND, "ts_scan_range");
        CHECK(c == (ts_cursor *)&id);
        ts_batch *b = ts_batch_new();
        E(ts_batch_add(b, bad[i], 1, 1.0));
        EXPECT_ERR(ts_batch_commit(db, b), TS_NOT_FOUND, "ts_batch_commit");
        ts_batch_free(b);
    }
    ts_txn_release(txn);

    /* A metric created after a snapshot began is not in it. */
    E(ts_txn_begin(db, &txn));
    uint64_t later, u = 42;
    E(ts_metric_create(db, "later", &later));
    ts_cursor *c;
    EXPECT_ERR(ts_scan_range(txn, later, 0, 10, &c), TS_NOT_FOUND, "ts_scan_range");
    EXPECT_ERR(ts_metric_lookup(txn, "later", &u), TS_NOT_FOUND, "ts_metric_lookup");
    CHECK(u == 42);
    uint64_t count;
    E(ts_txn_metric_count(txn, &count));
    CHECK(count == 1);
    ts_txn_release(txn);

    /* Ids are never reused, even after a drop and a re-create of the same name. */
    uint64_t again;
    E(ts_metric_create(db, "gone", &again));
    CHECK(again > later && again != gone);
    E(ts_close(db));
}

static void test_bad_batches_and_ranges(void) {
    ts_db *db = fresh_db(4096);
    uint64_t a, b_id;
    E(ts_metric_create(db, "a", &a));
    E(ts_metric_create(db, "b", &b_id));
    int64_t ts[1] = {1};
    double vals[1] = {1.0};
    EXPECT_ERR(ts_insert_batch(db, a, ts, vals, 0), TS_INVALID_ARGUMENT, "ts_insert_batch");
    EXPECT_ERR(ts_insert_batch(db, a, NULL, NULL, 0), TS_INVALID_ARGUMENT, "ts_insert_batch");

    ts_batch *b = ts_batch_new();
    EXPECT_ERR(ts_batch_commit(db, b), TS_INVALID_ARGUMENT, "ts_batch_commit"); /* empty */

    /* One unknown id: TS_NOT_FOUND, nothing written, the batch kept. */
    E(ts_batch_add(b, a, 1, 1.0));
    E(ts_batch_add(b, b_id, 2, 2.0));
    E(ts_batch_add(b, 777, 3, 3.0));
    E(ts_batch_add(b, a, 4, 4.0));
    EXPECT_ERR(ts_batch_commit(db, b), TS_NOT_FOUND, "ts_batch_commit");
    CHECK_MSG_HAS("777");
    CHECK(count_points(db, a) == 0 && count_points(db, b_id) == 0);
    EXPECT_ERR(ts_batch_commit(db, b), TS_NOT_FOUND, "ts_batch_commit"); /* still there */
    E(ts_batch_clear(b));
    EXPECT_ERR(ts_batch_commit(db, b), TS_INVALID_ARGUMENT, "ts_batch_commit");
    E(ts_batch_add(b, a, 1, 1.0));
    E(ts_batch_add(b, b_id, 2, 2.0));
    E(ts_batch_commit(db, b));
    CHECK(count_points(db, a) == 1 && count_points(db, b_id) == 1);
    EXPECT_ERR(ts_batch_commit(db, b), TS_INVALID_ARGUMENT, "ts_batch_commit"); /* emptied */
    ts_batch_free(b);

    /* from > until; from == until is an empty cursor. */
    ts_txn *txn;
    E(ts_txn_begin(db, &txn));
    ts_cursor *c = NULL;
    EXPECT_ERR(ts_scan_range(txn, a, 20, 10, &c), TS_INVALID_ARGUMENT, "ts_scan_range");
    CHECK_MSG_HAS("from > until");
    CHECK(c == NULL);
    EXPECT_ERR(ts_scan_range(txn, a, INT64_MAX, INT64_MIN, &c), TS_INVALID_ARGUMENT, "ts_scan_range");
    E(ts_scan_range(txn, a, 1, 1, &c));
    int64_t t = -7;
    double v = -7.0;
    size_t n = 99;
    EXPECT(ts_cursor_next(c, &t, &v), TS_DONE);
    CHECK(t == -7 && v == -7.0);
    EXPECT(ts_cursor_next_batch(c, ts, vals, 1, &n), TS_DONE);
    CHECK(n == 0);
    ts_cursor_free(c);
    ts_txn_release(txn);
    E(ts_close(db));
}

static void test_names(void) {
    ts_db *db = fresh_db(4096);
    char name[TS_MAX_NAME_LEN + 2];
    uint64_t id = 42, id2 = 43;

    EXPECT_ERR(ts_metric_create(db, "", &id), TS_INVALID_ARGUMENT, "ts_metric_create");
    memset(name, 'x', TS_MAX_NAME_LEN + 1);
    name[TS_MAX_NAME_LEN + 1] = '\0'; /* 1025 bytes */
    EXPECT_ERR(ts_metric_create(db, name, &id), TS_INVALID_ARGUMENT, "ts_metric_create");
    EXPECT_ERR(ts_metric_create(db, "\xff\xfe", &id), TS_INVALID_ARGUMENT, "ts_metric_create");
    EXPECT_ERR(ts_metric_create(db, "ok.\xc3", &id), TS_INVALID_ARGUMENT, "ts_metric_create");
    CHECK(id == 42); /* not written on failure */

    name[TS_MAX_NAME_LEN] = '\0'; /* 1024 bytes: the longest allowed */
    E(ts_metric_create(db, name, &id));
    E(ts_metric_create(db, "temp\xc3\xa9rature \xe2\x84\x83", &id2)); /* UTF-8 */

    /* TS_EXISTS writes the existing id too, and says so. */
    uint64_t dup = 0;
    EXPECT_ERR(ts_metric_create(db, name, &dup), TS_EXISTS, "ts_metric_create");
    CHECK(dup == id);
    dup = 0;
    EXPECT_ERR(ts_metric_create(db, "temp\xc3\xa9rature \xe2\x84\x83", &dup), TS_EXISTS, "ts_metric_create");
    CHECK(dup == id2);

    ts_txn *txn;
    uint64_t got = 0;
    E(ts_txn_begin(db, &txn));
    E(ts_metric_lookup(txn, name, &got));
    CHECK(got == id);
    EXPECT_ERR(ts_metric_lookup(txn, "", &got), TS_INVALID_ARGUMENT, "ts_metric_lookup");
    EXPECT_ERR(ts_metric_lookup(txn, "\xff\xfe", &got), TS_INVALID_ARGUMENT, "ts_metric_lookup");
    name[TS_MAX_NAME_LEN] = 'x';
    EXPECT_ERR(ts_metric_lookup(txn, name, &got), TS_INVALID_ARGUMENT, "ts_metric_lookup");
    EXPECT_ERR(ts_metric_lookup(txn, "nope", &got), TS_NOT_FOUND, "ts_metric_lookup");
    CHECK(got == id);
    ts_txn_release(txn);
    E(ts_close(db));
}

static void test_options(void) {
    ts_options *o = ts_options_new();
    CHECK(o != NULL);
    EXPECT_ERR(ts_options_set_partition_points(o, 0), TS_INVALID_ARGUMENT, "ts_options_set_partition_points");
    EXPECT_ERR(ts_options_set_partition_points(o, 1), TS_INVALID_ARGUMENT, "ts_options_set_partition_points");
    EXPECT_ERR(ts_options_set_partition_points(o, TS_MAX_PARTITION_POINTS + 1), TS_INVALID_ARGUMENT,
               "ts_options_set_partition_points");
    EXPECT_ERR(ts_options_set_partition_points(o, UINT32_MAX), TS_INVALID_ARGUMENT, "ts_options_set_partition_points");
    E(ts_options_set_partition_points(o, 2));
    E(ts_options_set_partition_points(o, TS_MAX_PARTITION_POINTS));
    E(ts_options_set_create_if_missing(o, false));
    E(ts_options_set_create_if_missing(o, true));
    ts_options_free(o);
}

static void test_open(void) {
    char path[256];
    struct stat st;
    ts_db *db = NULL;
    ts_options *o = ts_options_new();
    E(ts_options_set_create_if_missing(o, false));

    /* create_if_missing off, missing directory: TS_NOT_FOUND, and nothing is created. */
    snprintf(path, sizeof path, "%s/missing", g_root);
    EXPECT_ERR(ts_open(path, o, &db), TS_NOT_FOUND, "ts_open");
    CHECK_MSG_HAS(path);
    CHECK(db == NULL && stat(path, &st) != 0);

    /* The parent does not exist: an error, not a crash (with and without create). */
    snprintf(path, sizeof path, "%s/no/such/parent", g_root);
    EXPECT_ERR(ts_open(path, NULL, &db), TS_IO_ERROR, "ts_open");
    EXPECT_ERR(ts_open(path, o, &db), TS_NOT_FOUND, "ts_open");
    CHECK(db == NULL);

    /* A regular file is not a database directory. */
    snprintf(path, sizeof path, "%s/file", g_root);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL && fclose(f) == 0);
    EXPECT_ERR(ts_open(path, NULL, &db), TS_INVALID_ARGUMENT, "ts_open");
    CHECK_MSG_HAS(path);

    /* A path that is not UTF-8. */
    snprintf(path, sizeof path, "%s/\xff\xfe", g_root);
    EXPECT_ERR(ts_open(path, NULL, &db), TS_INVALID_ARGUMENT, "ts_open");
    CHECK(db == NULL);

    /* An existing directory opens with create_if_missing off. */
    snprintf(path, sizeof path, "%s/exists", g_root);
    CHECK(mkdir(path, 0700) == 0);
    E(ts_open(path, o, &db));
    ts_options_free(o);
    E(ts_close(db));
}

static void test_close_busy(void) {
    ts_db *db = fresh_db(4096);
    uint64_t id;
    E(ts_metric_create(db, "m", &id));
    E(ts_insert(db, id, 1, 1.0));

    /* A live snapshot: TS_BUSY, and the database keeps working. */
    ts_txn *txn;
    E(ts_txn_begin(db, &txn));
    EXPECT_ERR(ts_close(db), TS_BUSY, "ts_close");
    E(ts_insert(db, id, 2, 2.0));
    uint64_t id2;
    E(ts_metric_create(db, "m2", &id2));
    CHECK(count_points(db, id) == 2);
    ts_txn_release(txn);

    /* A live cursor keeps its snapshot alive after ts_txn_release. */
    ts_cursor *c;
    E(ts_txn_begin(db, &txn));
    E(ts_scan_range(txn, id, INT64_MIN, INT64_MAX, &c));
    ts_txn_release(txn);
    EXPECT_ERR(ts_close(db), TS_BUSY, "ts_close");
    int64_t t;
    double v;
    E(ts_cursor_next(c, &t, &v)); /* still readable */
    CHECK(t == 1 && v == 1.0);
    ts_cursor_free(c);
    E(ts_close(db));
}

static void test_done_is_sticky(void) {
    ts_db *db = fresh_db(4);
    uint64_t id;
    E(ts_metric_create(db, "m", &id));
    for (int64_t t = 0; t < 10; t++) /* seals at 4 points: sealed parts and a head */
        E(ts_insert(db, id, t, (double)t));
    ts_txn *txn;
    ts_cursor *c;
    E(ts_txn_begin(db, &txn));
    E(ts_scan_range(txn, id, 0, 10, &c));
    int64_t ts[16];
    double vals[16];
    size_t n, total = 0;
    ts_status rc;
    while ((rc = ts_cursor_next_batch(c, ts, vals, 3, &n)) == TS_OK) {
        CHECK(n >= 1 && n <= 3);
        total += n;
    }
    EXPECT(rc, TS_DONE);
    CHECK(total == 10 && n == 0);
    for (int i = 0; i < 3; i++) {
        int64_t t = -1;
        double v = -1;
        n = 5;
        EXPECT(ts_cursor_next(c, &t, &v), TS_DONE);
        CHECK(t == -1 && v == -1); /* not written on TS_DONE */
        EXPECT(ts_cursor_next_batch(c, ts, vals, 16, &n), TS_DONE);
        CHECK(n == 0);
    }
    ts_cursor_free(c);
    ts_txn_release(txn);
    E(ts_close(db));
}

static uint64_t bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double from_bits(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void test_bit_exact_values(void) {
    const uint64_t patterns[] = {
        0x7ff8000000000001u, /* quiet NaN with a payload */
        0x7ff4000000000123u, /* signalling NaN with a payload */
        0xfff8dead0000beefu, /* negative NaN */
        0x7ff0000000000000u, /* +inf */
        0xfff0000000000000u, /* -inf */
        0x8000000000000000u, /* -0.0 */
        0x0000000000000000u, /* +0.0 */
        0x0000000000000001u, /* smallest subnormal */
        0x7fefffffffffffffu, /* DBL_MAX */
    };
    enum { K = sizeof patterns / sizeof patterns[0] };
    CHECK(isnan(from_bits(patterns[0])) && isinf(from_bits(patterns[3])));
    ts_db *db = fresh_db(4); /* small partitions: values go through seals too */
    uint64_t single, batch, atomic;
    E(ts_metric_create(db, "single", &single));
    E(ts_metric_create(db, "batch", &batch));
    E(ts_metric_create(db, "atomic", &atomic));
    int64_t ts[K];
    double vals[K];
    ts_batch *b = ts_batch_new();
    for (int i = 0; i < K; i++) {
        ts[i] = i == 0 ? INT64_MIN : (int64_t)i * 1000; /* extreme timestamps too */
        vals[i] = from_bits(patterns[i]);
        E(ts_insert(db, single, ts[i], vals[i]));
        E(ts_batch_add(b, atomic, ts[i], vals[i]));
    }
    E(ts_insert_batch(db, batch, ts, vals, K));
    E(ts_batch_commit(db, b));
    ts_batch_free(b);

    ts_txn *txn;
    E(ts_txn_begin(db, &txn));
    const uint64_t ids[] = {single, batch, atomic};
    for (int m = 0; m < 3; m++) {
        ts_cursor *c;
        int64_t got_ts[K + 1];
        double got_vals[K + 1];
        size_t n;
        E(ts_scan_range(txn, ids[m], INT64_MIN, INT64_MAX, &c));
        E(ts_cursor_next_batch(c, got_ts, got_vals, K + 1, &n));
        size_t total = n;
        while (total < K) { /* a call may return fewer than cap points */
            E(ts_cursor_next_batch(c, got_ts + total, got_vals + total, K + 1 - total, &n));
            total += n;
        }
        EXPECT(ts_cursor_next_batch(c, got_ts, got_vals, 1, &n), TS_DONE);
        CHECK(total == K);
        CHECK(memcmp(got_ts, ts, sizeof ts) == 0);
        CHECK(memcmp(got_vals, vals, sizeof vals) == 0);
        ts_cursor_free(c);

        E(ts_scan_range(txn, ids[m], INT64_MIN, INT64_MAX, &c)); /* and one by one */
        for (int i = 0; i < K; i++) {
            int64_t t;
            double v;
            E(ts_cursor_next(c, &t, &v));
            CHECK(t == ts[i] && bits(v) == patterns[i]);
        }
        ts_cursor_free(c);
    }
    ts_txn_release(txn);
    E(ts_close(db));
}

/* Each thread has its own ts_errmsg(); successful calls leave it unchanged. */
static void *errmsg_thread(void *arg) {
    ts_db *db = arg;
    CHECK(ts_errmsg() != NULL && ts_errmsg()[0] == '\0'); /* nothing failed on this thread */
    EXPECT_ERR(ts_insert(db, 4242, 1, 1.0), TS_NOT_FOUND, "ts_insert");
    CHECK_MSG_HAS("4242");
    return NULL;
}

static void test_errmsg_per_thread(void) {
    ts_db *db = fresh_db(4096);
    ts_txn *txn;
    ts_cursor *c;
    E(ts_txn_begin(db, &txn));
    EXPECT_ERR(ts_scan_range(txn, 1, 20, 10, &c), TS_INVALID_ARGUMENT, "ts_scan_range");
    char mine[256];
    snprintf(mine, sizeof mine, "%s", ts_errmsg());
    pthread_t th;
    CHECK(pthread_create(&th, NULL, errmsg_thread, db) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(strcmp(ts_errmsg(), mine) == 0);
    uint64_t id;
    E(ts_metric_create(db, "ok", &id)); /* a success leaves the message */
    CHECK(strcmp(ts_errmsg(), mine) == 0);
    ts_txn_release(txn);
    E(ts_close(db));
}

/* A second open of an open database is TS_BUSY (the lock file), also from this process. */
static void test_second_open_busy(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/locked", g_root);
    ts_db *db, *other = NULL;
    E(ts_open(path, NULL, &db));
    EXPECT_ERR(ts_open(path, NULL, &other), TS_BUSY, "ts_open");
    CHECK(other == NULL);
    E(ts_close(db));
    E(ts_open(path, NULL, &db)); /* closed: the lock is free again */
    E(ts_close(db));
}

/* INT64_MAX could never be read back (until is exclusive): writes of it are refused whole. */
static void test_int64_max_timestamp(void) {
    ts_db *db = fresh_db(4);
    uint64_t id;
    E(ts_metric_create(db, "m", &id));
    EXPECT_ERR(ts_insert(db, id, INT64_MAX, 1.0), TS_INVALID_ARGUMENT, "ts_insert");
    int64_t ts[] = {1, INT64_MAX};
    double v[] = {1.0, 2.0};
    EXPECT_ERR(ts_insert_batch(db, id, ts, v, 2), TS_INVALID_ARGUMENT, "ts_insert_batch");
    ts_batch *b = ts_batch_new();
    E(ts_batch_add(b, id, 2, 2.0));
    E(ts_batch_add(b, id, INT64_MAX, 2.0));
    EXPECT_ERR(ts_batch_commit(db, b), TS_INVALID_ARGUMENT, "ts_batch_commit");
    ts_batch_free(b);
    E(ts_insert(db, id, TS_MAX_TIMESTAMP, 3.0)); /* the largest storable timestamp */
    ts_txn *txn;
    ts_cursor *c;
    int64_t t;
    double x;
    E(ts_txn_begin(db, &txn));
    E(ts_scan_range(txn, id, INT64_MIN, INT64_MAX, &c));
    E(ts_cursor_next(c, &t, &x));
    CHECK(t == TS_MAX_TIMESTAMP && x == 3.0);
    CHECK(ts_cursor_next(c, &t, &x) == TS_DONE); /* nothing of the refused writes */
    ts_cursor_free(c);
    ts_txn_release(txn);
    E(ts_close(db));
}

static void run_test(void (*test)(void), const char *name) {
    test(); /* a failing check exits with its file and line */
    printf("ok %s\n", name);
}

#define RUN(test) run_test(test, #test)

int main(void) {
    CHECK(mkdtemp(g_root) != NULL);
    RUN(test_status_str);
    RUN(test_null_everywhere);
    RUN(test_unknown_ids);
    RUN(test_bad_batches_and_ranges);
    RUN(test_names);
    RUN(test_options);
    RUN(test_open);
    RUN(test_close_busy);
    RUN(test_done_is_sticky);
    RUN(test_bit_exact_values);
    RUN(test_errmsg_per_thread);
    RUN(test_second_open_busy);
    RUN(test_int64_max_timestamp);
    remove_tree(g_root);
    printf("errors: all tests passed\n");
    return 0;
}
