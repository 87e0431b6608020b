// cxx_api.cpp -- libtsdb from C++17: RAII handles (std::unique_ptr with the library's
// destroyers as deleters), statuses turned into exceptions, a small insert and scan.
#include "tsdb.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace tsdb {

// A failed call: its status and ts_errmsg().
class error : public std::runtime_error {
  public:
    error(ts_status status, const std::string &call)
        : std::runtime_error(call + ": " + ts_status_str(status) + ": " + ts_errmsg()), status_(status) {}
    ts_status status() const noexcept { return status_; }

  private:
    ts_status status_;
};

// Throw unless `status` is one of the accepted ones (TS_OK by default).
inline ts_status check(ts_status status, const char *call, ts_status also_ok = TS_OK) {
    if (status != TS_OK && status != also_ok)
        throw error(status, call);
    return status;
}
#define TSDB_CHECK(call) ::tsdb::check((call), #call)
#define TSDB_CHECK_OR(call, also_ok) ::tsdb::check((call), #call, (also_ok))

// One deleter per handle type, each calling that handle's destroyer (all accept NULL).
struct db_closer {
    void operator()(ts_db *db) const noexcept {
        // Cursors and snapshots are declared after the database, so they are gone by now.
        if (ts_status rc = ts_close(db); rc != TS_OK)
            std::fprintf(stderr, "ts_close: %s: %s\n", ts_status_str(rc), ts_errmsg());
    }
};
struct txn_releaser {
    void operator()(ts_txn *t) const noexcept { ts_txn_release(t); }
};
struct cursor_freer {
    void operator()(ts_cursor *c) const noexcept { ts_cursor_free(c); }
};
struct batch_freer {
    void operator()(ts_batch *b) const noexcept { ts_batch_free(b); }
};
struct options_freer {
    void operator()(ts_options *o) const noexcept { ts_options_free(o); }
};
using db_ptr = std::unique_ptr<ts_db, db_closer>;
using txn_ptr = std::unique_ptr<ts_txn, txn_releaser>;
using cursor_ptr = std::unique_ptr<ts_cursor, cursor_freer>;
using batch_ptr = std::unique_ptr<ts_batch, batch_freer>;
using options_ptr = std::unique_ptr<ts_options, options_freer>;

db_ptr open(const std::string &path, uint32_t partition_points) {
    options_ptr opts(ts_options_new());
    if (!opts)
        throw std::bad_alloc();
    TSDB_CHECK(ts_options_set_partition_points(opts.get(), partition_points));
    ts_db *db = nullptr;
    TSDB_CHECK(ts_open(path.c_str(), opts.get(), &db));
    return db_ptr(db); // opts is freed here: ts_open copied it
}

txn_ptr begin(ts_db *db) {
    ts_txn *t = nullptr;
    TSDB_CHECK(ts_txn_begin(db, &t));
    return txn_ptr(t);
}

// Every point of metric `id` in [from, until) as of `txn`, read in batches.
std::vector<std::pair<int64_t, double>> scan(const ts_txn *txn, uint64_t id,
                                             int64_t from = std::numeric_limits<int64_t>::min(),
                                             int64_t until = std::numeric_limits<int64_t>::max()) {
    ts_cursor *raw = nullptr;
    TSDB_CHECK(ts_scan_range(txn, id, from, until, &raw));
    cursor_ptr cursor(raw);
    std::vector<std::pair<int64_t, double>> out;
    int64_t ts[128];
    double values[128];
    size_t n = 0;
    while (TSDB_CHECK_OR(ts_cursor_next_batch(cursor.get(), ts, values, 128, &n), TS_DONE) == TS_OK)
        for (size_t i = 0; i < n; i++)
            out.emplace_back(ts[i], values[i]);
    return out;
}

} // namespace tsdb

#define REQUIRE(cond)                                                                    \
    do {                                                                                 \
        if (!(cond))                                                                     \
            throw std::logic_error(std::string(__FILE__ ":") + std::to_string(__LINE__) + \
                                   ": REQUIRE(" #cond ") failed");                       \
    } while (0)

static void run(const std::string &dir) {
    tsdb::db_ptr db = tsdb::open(dir, 16); // small partitions, so scans cross seals
    uint64_t temp = 0, hum = 0;
    TSDB_CHECK(ts_metric_create(db.get(), "room.temp", &temp));
    TSDB_CHECK(ts_metric_create(db.get(), "room.humidity", &hum));

    // "Create or get" in one call: TS_EXISTS fills the id too.
    uint64_t again = 0;
    REQUIRE(TSDB_CHECK_OR(ts_metric_create(db.get(), "room.temp", &again), TS_EXISTS) == TS_EXISTS);
    REQUIRE(again == temp);

    std::map<int64_t, double> want_temp, want_hum;
    std::vector<int64_t> ts;
    std::vector<double> values;
    for (int64_t i = 99; i >= 0; i--) { // descending: any order is accepted
        ts.push_back(i * 60);
        values.push_back(20.0 + std::sin(static_cast<double>(i)));
        want_temp[i * 60] = values.back();
    }
    TSDB_CHECK(ts_insert_batch(db.get(), temp, ts.data(), values.data(), ts.size()));
    TSDB_CHECK(ts_insert(db.get(), temp, 30 * 60, -1.5)); // last write wins
    want_temp[30 * 60] = -1.5;

    // Both metrics at once, atomically.
    tsdb::batch_ptr batch(ts_batch_new());
    REQUIRE(batch != nullptr);
    for (int64_t i = 0; i < 50; i++) {
        TSDB_CHECK(ts_batch_add(batch.get(), hum, i * 120, 40.0 + static_cast<double>(i % 7)));
        TSDB_CHECK(ts_batch_add(batch.get(), temp, 100 * 60 + i, 25.0));
        want_hum[i * 120] = 40.0 + static_cast<double>(i % 7);
        want_temp[100 * 60 + i] = 25.0;
    }
    TSDB_CHECK(ts_batch_commit(db.get(), batch.get()));

    tsdb::txn_ptr txn = tsdb::begin(db.get());
    TSDB_CHECK(ts_insert(db.get(), temp, 999999, 0.0)); // after the snapshot: not in it
    uint64_t found = 0;
    TSDB_CHECK(ts_metric_lookup(txn.get(), "room.humidity", &found));
    REQUIRE(found == hum);

    auto got_temp = tsdb::scan(txn.get(), temp);
    auto got_hum = tsdb::scan(txn.get(), hum);
    using points = std::vector<std::pair<int64_t, double>>;
    REQUIRE(got_temp == points(want_temp.begin(), want_temp.end()));
    REQUIRE(got_hum == points(want_hum.begin(), want_hum.end()));
    auto window = tsdb::scan(txn.get(), temp, 10 * 60, 20 * 60); // [from, until)
    REQUIRE(window.size() == 10 && window.front().first == 10 * 60 && window.back().first == 19 * 60);

    // A status becomes an exception carrying it and ts_errmsg().
    try {
        tsdb::scan(txn.get(), temp, 20, 10);
        throw std::logic_error("from > until must throw");
    } catch (const tsdb::error &e) {
        REQUIRE(e.status() == TS_INVALID_ARGUMENT);
        REQUIRE(std::strstr(e.what(), "ts_scan_range: from > until") != nullptr);
    }
    try {
        tsdb::scan(txn.get(), 12345);
        throw std::logic_error("an unknown id must throw");
    } catch (const tsdb::error &e) {
        REQUIRE(e.status() == TS_NOT_FOUND);
    }

    // A cursor may outlive its ts_txn: it holds its own reference to the snapshot.
    ts_cursor *raw = nullptr;
    TSDB_CHECK(ts_scan_range(txn.get(), hum, 0, 1000000, &raw));
    tsdb::cursor_ptr cursor(raw);
    txn.reset();
    ts_status rc = ts_close(db.get()); // TS_BUSY: the cursor keeps the snapshot alive
    if (rc == TS_OK)
        db.release(); // closed after all (a bug): do not close it twice
    REQUIRE(rc == TS_BUSY);
    int64_t t = 0;
    double v = 0;
    TSDB_CHECK(ts_cursor_next(cursor.get(), &t, &v));
    REQUIRE(t == 0 && v == 40.0);
    cursor.reset();

    std::printf("cxx_api: room.temp %zu points, room.humidity %zu points, checked\n", got_temp.size(),
                got_hum.size());
} // db closes here, after every snapshot and cursor is gone

int main() {
    char dir[] = "/tmp/tsdb-cxx-XXXXXX";
    if (mkdtemp(dir) == nullptr) {
        std::perror("mkdtemp");
        return 1;
    }
    int rc = 0;
    try {
        run(dir);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cxx_api: %s\n", e.what());
        rc = 1;
    }
    std::filesystem::remove_all(dir);
    return rc;
}
