/*
 * check.h -- the checking macros and small helpers shared by the libtsdb C examples.
 *
 * Include it first (before any system header): it selects POSIX.1-2008 + XSI for
 * mkdtemp, nftw, clock_gettime and nanosleep under -std=c11.
 *
 *   E(call)            run a libtsdb call; unless it returns TS_OK, print file:line, the call,
 *                      its status name and ts_errmsg(), and exit(1)  (LMDB mtest.c's E()).
 *   CHECK(cond)        unless cond holds, print file:line and the condition, and exit(1).
 *   EXPECT(call, want) run a call; unless it returns exactly `want`, fail like E().
 *   EXPECT_ERR(call, want, func)
 *                      like EXPECT, and ts_errmsg() must start with "func: " and say more.
 *   remove_tree(dir)   delete a database directory and everything in it.
 */
#ifndef TSDB_EXAMPLES_CHECK_H
#define TSDB_EXAMPLES_CHECK_H

#if !defined(_XOPEN_SOURCE) && !defined(__cplusplus)
#define _XOPEN_SOURCE 700
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ftw.h>
#include <unistd.h>

#include "tsdb.h"

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);     \
            exit(EXIT_FAILURE);                                                          \
        }                                                                                \
    } while (0)

#define EXPECT(call, want)                                                               \
    do {                                                                                 \
        ts_status check_rc_ = (call);                                                    \
        if (check_rc_ != (want)) {                                                       \
            fprintf(stderr, "%s:%d: %s: %s (want %s): ts_errmsg: \"%s\"\n", __FILE__,    \
                    __LINE__, #call, ts_status_str(check_rc_), ts_status_str(want),      \
                    ts_errmsg());                                                        \
            exit(EXIT_FAILURE);                                                          \
        }                                                                                \
    } while (0)

#define E(call) EXPECT(call, TS_OK)

#define EXPECT_ERR(call, want, func)                                                     \
    do {                                                                                 \
        EXPECT(call, want);                                                              \
        if (!errmsg_names(func)) {                                                       \
            fprintf(stderr, "%s:%d: %s: ts_errmsg() should start with \"%s: \", got \"%s\"\n", \
                    __FILE__, __LINE__, #call, func, ts_errmsg());                       \
            exit(EXIT_FAILURE);                                                          \
        }                                                                                \
    } while (0)

/* Whether this thread's ts_errmsg() is "func: <something>". */
static inline int errmsg_names(const char *func) {
    const char *msg = ts_errmsg();
    size_t n = strlen(func);
    return msg != NULL && strncmp(msg, func, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' &&
           msg[n + 2] != '\0';
}

static inline int remove_entry_(const char *path, const struct stat *sb, int flag,
                                struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Delete `dir` and everything below it (a database directory made by mkdtemp). */
static inline void remove_tree(const char *dir) {
    if (nftw(dir, remove_entry_, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        perror(dir);
    }
}

#endif /* TSDB_EXAMPLES_CHECK_H */
