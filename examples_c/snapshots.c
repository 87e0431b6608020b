/*
 * snapshots.c -- snapshot isolation under concurrent writers, seals and drops.
 *
 * Two writer threads write single points, batches (out of order, with duplicate
 * timestamps) and atomic ts_batch commits that put the same points into metrics "pair.a"
 * and "pair.b"; writer 0 also drops and re-creates metric "churn" over and over. Three
 * reader threads meanwhile begin snapshots and scan every metric twice, with a pause in
 * between, and check that:
 *   - a snapshot holds every write acknowledged before ts_txn_begin and nothing from a call
 *     that started after it;
 *   - both scans of one snapshot are identical, bit for bit (also for a metric dropped
 *     between them), and a sub-range scan agrees with the full one;
 *   - points ascend with unique timestamps;
 *   - "pair.a" and "pair.b" are equal in every snapshot (atomic batches never seen in part);
 *   - "churn" is seen with none or all of its points (ts_insert_batch is atomic);
 *   - a later snapshot never has fewer points (nothing acknowledged is lost);
 *   - one snapshot shared by all readers keeps returning what it returned at the start.
 * At the end every metric must equal the writers' own model of it (last write wins).
 * Partitions are small (64 points), so seals happen all the time.
 *
 * Usage: snapshots [milliseconds of writing, default 1500]
 */
#include "check.h"

#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum {
    WRITERS = 2,
    READERS = 3,
    TS_SPACE = 1 << 15, /* timestamps are in [0, TS_SPACE) */
    BATCH = 16,         /* points per ts_insert_batch */
    PAIRS = 4,          /* points per atomic ts_batch (into both pair.a and pair.b) */
    CHURN_POINTS = 100, /* points of each incarnation of "churn" */
    CHURN_EVERY = 40,   /* writer 0 re-creates "churn" every this many rounds */
};

static ts_db *g_db;
static uint64_t g_w[WRITERS]; /* metric "w0", "w1": written by writer i only */
static uint64_t g_pa, g_pb;   /* "pair.a", "pair.b": written only together, atomically */
static uint64_t g_churn;      /* "churn" as created by main; then writer 0's */
static atomic_int g_stop;     /* readers stop when set */
static atomic_long g_dropped_reads; /* second scans that read a metric dropped meanwhile */
/* Per writer, for metric w<i>: the timestamp of its last acknowledged ts_insert (-1: none
 * yet), and the highest timestamp of any call it has started. */
static atomic_llong g_acked[WRITERS], g_started_max[WRITERS];
static long g_write_ms = 1500;

/* The writers' models: what a final scan must return. Writer i owns w_model[i] and the
 * odd (i = 1) or even (i = 0) timestamps of pair_model. */
typedef struct {
    double val[TS_SPACE];
    bool has[TS_SPACE];
} model;
static model g_w_model[WRITERS], g_pair_model;

/* The shared snapshot every reader checks against what it returned when it was taken. */
static ts_txn *g_shared_txn;

typedef struct {
    int64_t *ts;
    double *val;
    size_t n, cap;
} series;

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void pause_us(long us) {
    struct timespec t = {0, us * 1000};
    nanosleep(&t, NULL);
}

static void push(series *s, int64_t ts, double v) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->ts = realloc(s->ts, s->cap * sizeof *s->ts);
        s->val = realloc(s->val, s->cap * sizeof *s->val);
        CHECK(s->ts != NULL && s->val != NULL);
    }
    s->ts[s->n] = ts;
    s->val[s->n] = v;
    s->n++;
}

/* Scan metric `id` over [from, until) into `s`, `chunk` points per call (0: ts_cursor_next),
 * and check that timestamps strictly ascend. */
static void scan(const ts_txn *txn, uint64_t id, int64_t from, int64_t until, series *s, size_t chunk) {
    ts_cursor *c;
    int64_t ts[257];
    double val[257];
    size_t n;
    s->n = 0;
    E(ts_scan_range(txn, id, from, until, &c));
    for (;;) {
        ts_status rc = chunk ? ts_cursor_next_batch(c, ts, val, chunk, &n) : ts_cursor_next(c, ts, val);
        if (rc == TS_DONE)
            break;
        E(rc);
        if (!chunk)
            n = 1;
        CHECK(n >= 1 && n <= (chunk ? chunk : 1));
        for (size_t i = 0; i < n; i++)
            push(s, ts[i], val[i]);
    }
    ts_cursor_free(c);
    for (size_t i = 1; i < s->n; i++)
        CHECK(s->ts[i - 1] < s->ts[i]);
    for (size_t i = 0; i < s->n; i++)
        CHECK(s->ts[i] >= from && s->ts[i] < until);
}

static bool same(const series *a, const series *b) {
    if (a->n != b->n)
        return false;
    return a->n == 0 || (memcmp(a->ts, b->ts, a->n * sizeof *a->ts) == 0 &&
                         memcmp(a->val, b->val, a->n * sizeof *a->val) == 0);
}

static bool contains(const series *s, int64_t ts) {
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->ts[mid] < ts)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s->n && s->ts[lo] == ts;
}

static void series_free(series *s) {
    free(s->ts);
    free(s->val);
}

static void check_equals_model(const series *s, const model *m) {
    size_t k = 0;
    for (int64_t t = 0; t < TS_SPACE; t++) {
        if (!m->has[t])
            continue;
        CHECK(k < s->n && s->ts[k] == t);
        CHECK(memcmp(&s->val[k], &m->val[t], sizeof(double)) == 0);
        k++;
    }
    CHECK(k == s->n);
}

/* ---- writers ---------------------------------------------------------------------- */

typedef struct {
    int i;
    uint64_t rng;
    int64_t next_ts; /* the ascending part of the stream */
    double next_val;
} writer;

/* Mostly the next timestamp, sometimes one in the past (a late point or a duplicate). */
static int64_t pick_ts(writer *w) {
    uint64_t r = xorshift(&w->rng);
    if (r % 4 != 0 && w->next_ts < TS_SPACE)
        return w->next_ts++;
    return (int64_t)((r >> 8) % (uint64_t)(w->next_ts < TS_SPACE ? w->next_ts + 1 : TS_SPACE));
}

/* A value no other write uses: writer i writes i, i + 2, i + 4, ... */
static double fresh_val(writer *w) {
    double v = w->next_val;
    w->next_val += WRITERS;
    return v;
}

static void churn(uint64_t *id, int generation) {
    if (*id != 0)
        E(ts_metric_drop(g_db, *id));
    uint64_t old = *id;
    E(ts_metric_create(g_db, "churn", id));
    CHECK(*id != old); /* ids are never reused */
    int64_t ts[CHURN_POINTS];
    double val[CHURN_POINTS];
    for (int k = 0; k < CHURN_POINTS; k++) {
        ts[k] = CHURN_POINTS - 1 - k; /* descending: the slow path */
        val[k] = generation;
    }
    E(ts_insert_batch(g_db, *id, ts, val, CHURN_POINTS));
}

static void *writer_main(void *arg) {
    writer *w = arg;
    model *m = &g_w_model[w->i];
    uint64_t metric = g_w[w->i], churn_id = g_churn;
    ts_batch *b = ts_batch_new();
    CHECK(b != NULL);
    double deadline = now_ms() + (double)g_write_ms;
    for (long round = 0; now_ms() < deadline; round++) {
        /* One point. */
        int64_t t = pick_ts(w);
        double v = fresh_val(w);
        if (t > atomic_load(&g_started_max[w->i]))
            atomic_store(&g_started_max[w->i], t);
        E(ts_insert(g_db, metric, t, v));
        atomic_store(&g_acked[w->i], t);
        m->val[t] = v;
        m->has[t] = true;

        /* A batch, any order, duplicates included: the later element wins. */
        int64_t ts[BATCH];
        double val[BATCH];
        for (int k = 0; k < BATCH; k++) {
            ts[k] = k == BATCH - 1 ? ts[0] : pick_ts(w);
            val[k] = fresh_val(w);
            if (ts[k] > atomic_load(&g_started_max[w->i]))
                atomic_store(&g_started_max[w->i], ts[k]);
        }
        E(ts_insert_batch(g_db, metric, ts, val, BATCH));
        for (int k = 0; k < BATCH; k++) {
            m->val[ts[k]] = val[k];
            m->has[ts[k]] = true;
        }

        /* An atomic batch over two metrics: the same points into pair.a and pair.b. */
        for (int k = 0; k < PAIRS; k++) {
            int64_t pt = 2 * (int64_t)(xorshift(&w->rng) % (TS_SPACE / 2)) + w->i;
            double pv = fresh_val(w);
            E(ts_batch_add(b, g_pa, pt, -pv)); /* overwritten by the next add */
            E(ts_batch_add(b, g_pb, pt, pv));
            E(ts_batch_add(b, g_pa, pt, pv));
            g_pair_model.val[pt] = pv;
            g_pair_model.has[pt] = true;
        }
        E(ts_batch_commit(g_db, b)); /* empties the batch */

        if (w->i == 0 && round % CHURN_EVERY == 0)
            churn(&churn_id, (int)(round / CHURN_EVERY));
        if (round % 8 == 0)
            sched_yield();
    }
    ts_batch_free(b);
    return NULL;
}

/* ---- readers ---------------------------------------------------------------------- */

enum { M_W0, M_W1, M_PA, M_PB, M_CHURN, NMETRICS };

typedef struct {
    int i;
    uint64_t rng;
    long snapshots;
} reader;

/* Everything one snapshot shows; churn_id == 0 when "churn" is not in it. */
typedef struct {
    uint64_t churn_id;
    series s[NMETRICS];
} view;

static uint64_t metric_id(int m, uint64_t churn_id) {
    switch (m) {
    case M_W0: return g_w[0];
    case M_W1: return g_w[1];
    case M_PA: return g_pa;
    case M_PB: return g_pb;
    default: return churn_id;
    }
}

static void read_view(const ts_txn *txn, view *v, size_t chunk) {
    for (int m = 0; m < NMETRICS; m++) {
        v->s[m].n = 0;
        if (m == M_CHURN && v->churn_id == 0)
            continue;
        scan(txn, metric_id(m, v->churn_id), INT64_MIN, INT64_MAX, &v->s[m], chunk);
    }
}

static void check_view(const ts_txn *txn, const view *v) {
    /* Atomic two-metric batches: pair.a and pair.b always hold the same points. */
    CHECK(same(&v->s[M_PA], &v->s[M_PB]));
    /* "churn" holds none or all of its one batch, all of one generation. */
    const series *c = &v->s[M_CHURN];
    CHECK(c->n == 0 || c->n == CHURN_POINTS);
    for (size_t k = 0; k < c->n; k++)
        CHECK(c->ts[k] == (int64_t)k && c->val[k] == c->val[0]);
    uint64_t count;
    E(ts_txn_metric_count(txn, &count));
    CHECK(count == (v->churn_id ? 5u : 4u));
}

static void *reader_main(void *arg) {
    reader *r = arg;
    view a, b, shared_then, shared_now;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&shared_then, 0, sizeof shared_then);
    memset(&shared_now, 0, sizeof shared_now);
    size_t prev_n[NMETRICS] = {0};
    series sub = {0};

    /* What the shared snapshot shows now; it must show the same every time. */
    E(ts_metric_lookup(g_shared_txn, "churn", &shared_then.churn_id));
    read_view(g_shared_txn, &shared_then, 100);
    shared_now.churn_id = shared_then.churn_id;

    while (!atomic_load(&g_stop) || r->snapshots < 20) {
        long long acked[WRITERS], started_max[WRITERS];
        for (int i = 0; i < WRITERS; i++)
            acked[i] = atomic_load(&g_acked[i]);
        ts_txn *txn;
        E(ts_txn_begin(g_db, &txn));
        for (int i = 0; i < WRITERS; i++)
            started_max[i] = atomic_load(&g_started_max[i]);
        ts_status rc = ts_metric_lookup(txn, "churn", &a.churn_id);
        if (rc == TS_NOT_FOUND)
            a.churn_id = 0; /* between a drop and the re-create */
        else
            E(rc);
        b.churn_id = a.churn_id;

        read_view(txn, &a, 1 + xorshift(&r->rng) % 256);
        check_view(txn, &a);
        for (int i = 0; i < WRITERS; i++) {
            const series *s = &a.s[M_W0 + i];
            if (acked[i] >= 0) /* acknowledged before ts_txn_begin: must be in */
                CHECK(contains(s, acked[i]));
            if (s->n > 0) /* from calls started after ts_txn_begin: must not be */
                CHECK(s->ts[s->n - 1] <= started_max[i]);
        }
        pause_us((long)(xorshift(&r->rng) % 2000)); /* writers, seals and drops go on */
        if (a.churn_id != 0) {
            uint64_t now_id = 0;
            ts_txn *later;
            E(ts_txn_begin(g_db, &later));
            if (ts_metric_lookup(later, "churn", &now_id) != TS_OK || now_id != a.churn_id)
                atomic_fetch_add(&g_dropped_reads, 1); /* dropped since txn began */
            ts_txn_release(later);
        }
        read_view(txn, &b, r->snapshots % 5 == 0 ? 0 : 1 + xorshift(&r->rng) % 256);
        for (int m = 0; m < NMETRICS; m++)
            CHECK(same(&a.s[m], &b.s[m]));

        /* A sub-range scan returns exactly that slice of the full scan. */
        int pick = (int)(xorshift(&r->rng) % M_CHURN);
        const series *full = &a.s[pick];
        int64_t lo = (int64_t)(xorshift(&r->rng) % TS_SPACE);
        int64_t hi = lo + (int64_t)(xorshift(&r->rng) % 4096);
        scan(txn, metric_id(pick, 0), lo, hi, &sub, 1 + xorshift(&r->rng) % 64);
        size_t first = 0;
        while (first < full->n && full->ts[first] < lo)
            first++;
        size_t last = first;
        while (last < full->n && full->ts[last] < hi)
            last++;
        CHECK(sub.n == last - first);
        if (sub.n > 0) {
            CHECK(memcmp(sub.ts, full->ts + first, sub.n * sizeof(int64_t)) == 0);
            CHECK(memcmp(sub.val, full->val + first, sub.n * sizeof(double)) == 0);
        }

        /* Nothing acknowledged is ever lost: later snapshots have at least as many points. */
        for (int m = 0; m < M_CHURN; m++) {
            CHECK(a.s[m].n >= prev_n[m]);
            prev_n[m] = a.s[m].n;
        }
        ts_txn_release(txn);

        /* The shared snapshot (used by all readers at once) has not changed. */
        read_view(g_shared_txn, &shared_now, 1 + xorshift(&r->rng) % 256);
        for (int m = 0; m < NMETRICS; m++)
            CHECK(same(&shared_then.s[m], &shared_now.s[m]));
        r->snapshots++;
    }
    for (int m = 0; m < NMETRICS; m++) {
        series_free(&a.s[m]);
        series_free(&b.s[m]);
        series_free(&shared_then.s[m]);
        series_free(&shared_now.s[m]);
    }
    series_free(&sub);
    return NULL;
}

/* A snapshot still reads a metric dropped after it began; new snapshots do not see it. */
static void check_drop_keeps_old_snapshots(void) {
    ts_txn *before, *after;
    uint64_t id, again;
    series s1 = {0}, s2 = {0};
    E(ts_metric_create(g_db, "doomed", &id));
    for (int64_t t = 0; t < 1000; t++) /* several sealed partitions and a head */
        E(ts_insert(g_db, id, 999 - t, (double)t));
    E(ts_txn_begin(g_db, &before));
    scan(before, id, INT64_MIN, INT64_MAX, &s1, 100);
    CHECK(s1.n == 1000);
    E(ts_metric_drop(g_db, id));
    E(ts_txn_begin(g_db, &after));
    ts_cursor *c;
    EXPECT(ts_scan_range(after, id, INT64_MIN, INT64_MAX, &c), TS_NOT_FOUND);
    EXPECT(ts_metric_lookup(after, "doomed", &again), TS_NOT_FOUND);
    scan(before, id, INT64_MIN, INT64_MAX, &s2, 7);
    CHECK(same(&s1, &s2));
    E(ts_metric_create(g_db, "doomed", &again)); /* the name is free again; a new id */
    CHECK(again != id);
    E(ts_insert(g_db, again, 5, 5.0));
    scan(before, id, INT64_MIN, INT64_MAX, &s2, 256);
    CHECK(same(&s1, &s2));
    ts_txn_release(after);
    ts_txn_release(before);
    E(ts_metric_drop(g_db, again));
    series_free(&s1);
    series_free(&s2);
}

int main(int argc, char **argv) {
    if (argc > 1)
        g_write_ms = atol(argv[1]);
    char dir[] = "/tmp/tsdb-snapshots-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    ts_options *opts = ts_options_new();
    E(ts_options_set_partition_points(opts, 64)); /* seal constantly */
    E(ts_open(dir, opts, &g_db));
    ts_options_free(opts);
    E(ts_metric_create(g_db, "w0", &g_w[0]));
    E(ts_metric_create(g_db, "w1", &g_w[1]));
    E(ts_metric_create(g_db, "pair.a", &g_pa));
    E(ts_metric_create(g_db, "pair.b", &g_pb));
    churn(&g_churn, 999);
    E(ts_txn_begin(g_db, &g_shared_txn)); /* sees churn generation 999, then it is dropped */

    check_drop_keeps_old_snapshots();

    for (int i = 0; i < WRITERS; i++) {
        atomic_store(&g_acked[i], -1);
        atomic_store(&g_started_max[i], -1);
    }
    double start = now_ms();
    pthread_t wt[WRITERS], rt[READERS];
    writer w[WRITERS];
    reader r[READERS];
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (writer){.i = i, .rng = 0x9e3779b97f4a7c15u * (uint64_t)(i + 1), .next_val = i};
        CHECK(pthread_create(&wt[i], NULL, writer_main, &w[i]) == 0);
    }
    for (int i = 0; i < READERS; i++) {
        r[i] = (reader){.i = i, .rng = 0xd1b54a32d192ed03u * (uint64_t)(i + 1)};
        CHECK(pthread_create(&rt[i], NULL, reader_main, &r[i]) == 0);
    }
    for (int i = 0; i < WRITERS; i++)
        CHECK(pthread_join(wt[i], NULL) == 0);
    atomic_store(&g_stop, 1);
    long snapshots = 0;
    for (int i = 0; i < READERS; i++) {
        CHECK(pthread_join(rt[i], NULL) == 0);
        snapshots += r[i].snapshots;
    }
    ts_txn_release(g_shared_txn);

    /* Everything written is there, exactly as the writers' models say. */
    ts_txn *txn;
    series s = {0}, s2 = {0};
    E(ts_txn_begin(g_db, &txn));
    size_t points = 0;
    for (int i = 0; i < WRITERS; i++) {
        scan(txn, g_w[i], INT64_MIN, INT64_MAX, &s, 256);
        check_equals_model(&s, &g_w_model[i]);
        points += s.n;
    }
    scan(txn, g_pa, INT64_MIN, INT64_MAX, &s, 256);
    scan(txn, g_pb, INT64_MIN, INT64_MAX, &s2, 256);
    check_equals_model(&s, &g_pair_model);
    CHECK(same(&s, &s2));
    points += 2 * s.n;
    ts_txn_release(txn);
    series_free(&s);
    series_free(&s2);
    E(ts_close(g_db));
    remove_tree(dir);

    printf("snapshots: %ld snapshots checked by %d readers while %d writers wrote for %.0f ms; "
           "%zu distinct points; %ld second scans read a metric dropped meanwhile\n",
           snapshots, READERS, WRITERS, now_ms() - start, points, atomic_load(&g_dropped_reads));
    return 0;
}
