/* fork.c -- a forked child cannot use the parent's ts_db: its writes, checkpoints and
 * close are refused with TS_INVALID_ARGUMENT and touch nothing, and the parent loses
 * nothing. The child opens the database itself once the parent has closed it. */
#include "check.h" /* E(call): unless TS_OK, print file:line, call, status, ts_errmsg(); exit */

#include <sys/wait.h>
#include <time.h>

/* In the child: report and leave with _exit (no atexit handlers, no stdio flush). */
#define CHILD_CHECK(cond)                                                              \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "child: %s:%d: %s failed: %s\n", __FILE__, __LINE__, #cond, \
                    ts_errmsg());                                                      \
            _exit(1);                                                                  \
        }                                                                              \
    } while (0)

static int count_points(ts_db *db, uint64_t id) {
    ts_txn *txn;
    ts_cursor *cur;
    E(ts_txn_begin(db, &txn));
    E(ts_scan_range(txn, id, INT64_MIN, INT64_MAX, &cur));
    int64_t ts[64];
    size_t n, total = 0;
    ts_status rc;
    while ((rc = ts_cursor_next_batch(cur, ts, NULL, 64, &n)) == TS_OK)
        total += n;
    EXPECT(rc, TS_DONE);
    ts_cursor_free(cur);
    ts_txn_release(txn);
    return (int)total;
}

int main(void) {
    char dir[] = "/tmp/tsdb-fork-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    ts_db *db;
    uint64_t id;
    E(ts_open(dir, NULL, &db));
    E(ts_metric_create(db, "m", &id));
    E(ts_insert(db, id, 1, 1.0));

    int go[2]; /* the parent writes a byte once it has closed the database */
    CHECK(pipe(go) == 0);
    fflush(NULL);
    /* The sanitizers' allocator (the ASan build of this example), unlike glibc's malloc,
     * is not locked across fork(): a fork while another thread is inside malloc leaves
     * the child's allocator locked for good. The database's background thread allocates
     * as it starts (its first wait grows parking_lot's table of waiters), so give it time
     * to settle first; this example is about libtsdb in a forked child, not the allocator. */
    nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 300 * 1000 * 1000}, NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        CHILD_CHECK(ts_insert(db, id, 2, 2.0) == TS_INVALID_ARGUMENT);
        CHILD_CHECK(strstr(ts_errmsg(), "(a forked child)") != NULL);
        CHILD_CHECK(ts_checkpoint(db) == TS_INVALID_ARGUMENT);
        CHILD_CHECK(count_points(db, id) == 1); /* reads see the state as of the fork */
        /* Refused, touching nothing; gives up the inherited handle (leaked). */
        CHILD_CHECK(ts_close(db) == TS_INVALID_ARGUMENT);
        char byte;
        CHILD_CHECK(read(go[0], &byte, 1) == 1);
        ts_db *own; /* the child's own handle, now that the parent has closed */
        CHILD_CHECK(ts_open(dir, NULL, &own) == TS_OK);
        CHILD_CHECK(ts_insert(own, id, 4, 4.0) == TS_OK);
        CHILD_CHECK(ts_close(own) == TS_OK);
        _exit(0);
    }
    close(go[0]);
    E(ts_insert(db, id, 3, 3.0)); /* the parent goes on */
    E(ts_checkpoint(db));
    E(ts_close(db));
    CHECK(write(go[1], "x", 1) == 1);
    close(go[1]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    E(ts_open(dir, NULL, &db)); /* points 1 and 3 from the parent, 4 from the child */
    CHECK(count_points(db, id) == 3);
    E(ts_close(db));
    remove_tree(dir);
    printf("fork: the child was refused; the parent kept its points\n");
    return 0;
}
