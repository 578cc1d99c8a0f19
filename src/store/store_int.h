/* Internals shared by the store's files (store.c, people.c, secrets.c,
 * audit.c): the connection, the statement cache, transactions that nest,
 * binding/reading helpers and the input validators. Not for other modules. */
#ifndef CV_STORE_STORE_INT_H
#define CV_STORE_STORE_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/id.h"
#include "store/store.h"

#define CV__STMT_CAP 192

/* Longest sealed value for a small secret (ingest secret, TOTP seed, app
 * password): the cv_camera_rec / cv_apppw_rec fields minus the NUL. */
#define CV__SEALED_SMALL_MAX 255
/* Longest password hash string (CV_PW_HASH_CAP minus the NUL). */
#define CV__PW_HASH_MAX 127

struct cv_store {
    sqlite3 *db;
    int depth; /* open cv__store_begin() levels */
    size_t nst;
    struct {
        const char *sql; /* the key: a static string, compared by pointer */
        sqlite3_stmt *st;
    } st[CV__STMT_CAP];
};

/* Logs the connection's last SQLite error and returns -EIO. */
int cv__store_fail(cv_store *s, const char *what);

/* Every statement is reset after use so it holds no read transaction open
 * (which would pin the WAL and hide other connections' commits). */
void cv__store_done(sqlite3_stmt *st);

/* The cached prepared statement for sql (a static string: the cache is keyed
 * by its address), with parameters ?1, ?2... bound from fmt:
 *   'i' const cv_id *        NULL binds SQL NULL
 *   'h' const uint8_t *      32 bytes (a hash); NULL binds SQL NULL
 *   's' const char *         NUL-terminated, already validated; NULL binds NULL
 *   'I' int64_t
 *   'd' int
 *   '-' no argument: leave this parameter unbound (cv__store_insert_id fills it)
 * Arguments past the statement's last parameter are ignored (a cascade binds
 * ?1 and ?2 to statements that may use only ?1). Returns NULL (logged) on
 * failure, with nothing left bound. */
sqlite3_stmt *cv__store_prep(cv_store *s, const char *sql, const char *fmt, ...);

/* Steps a prepared write to completion and resets it. Returns the number of
 * rows changed, or -EEXIST (UNIQUE/PRIMARY KEY), -EINVAL (CHECK), -ENOENT
 * (FOREIGN KEY), -EPERM (a trigger's RAISE) or -EIO. */
int cv__store_exec(cv_store *s, sqlite3_stmt *st, const char *what);

/* Runs an INSERT whose ?1 is a fresh random id (the other parameters bound),
 * retrying on an id collision, and writes the id to *out (may be NULL).
 * An INSERT ... SELECT ... WHERE that inserts nothing means a missing parent:
 * -ENOENT. Other errors as cv__store_exec. Resets st. */
int cv__store_insert_id(cv_store *s, sqlite3_stmt *st, cv_id *out, const char *what);

/* Runs each statement in sql[] with ?1 = id and ?2 = now_us (a cascade). The
 * caller holds a transaction. Returns the number of rows the first statement
 * changed (the row the cascade starts from), or a negative errno. */
int cv__store_cascade(cv_store *s, const char *const *sql, size_t n, const cv_id *id, int64_t now_us);

/* Maps the result of a cv__store_exec that should change one row: 0, -ENOENT
 * (nothing matched) or the error. */
static inline int cv__store_changed(int res)
{
    return res < 0 ? res : res == 0 ? -ENOENT : 0;
}

/* Reads a row of st into out (a record of the caller's type). */
typedef int (*cv__store_row_fn)(cv_store *s, sqlite3_stmt *st, void *out);

/* Steps a lookup with its parameters bound: 0 with *out filled (out may be
 * NULL), -ENOENT without a row, -EIO. On failure *out is zeroed. Resets st. */
int cv__store_one(cv_store *s, sqlite3_stmt *st, cv__store_row_fn read, void *out, size_t size,
                  const char *what);

/* Steps st to the end, reading every row into a malloc'ed array of elements
 * of size bytes, at most limit rows. *out is NULL when *n is 0 or on error.
 * Resets st (st may be NULL: a failed cv__store_prep, giving -EIO). */
int cv__store_list(cv_store *s, sqlite3_stmt *st, cv__store_row_fn read, size_t size, size_t limit,
                   void **out, size_t *n, const char *what);

/* Column readers: 0, or -EIO when the value does not fit the record (the file
 * may have been edited by hand). */
int cv__col_blob(sqlite3_stmt *st, int col, void *out, size_t len);   /* exactly len bytes */
int cv__col_text(sqlite3_stmt *st, int col, char *out, size_t cap);    /* NULL reads as "" */

/* Transactions that nest: the outermost level is BEGIN IMMEDIATE, inner
 * levels are savepoints, so a public function that writes several rows is
 * atomic on its own and also inside cv_store_txn. cv__store_end commits
 * (res == 0) or rolls back this level, and returns res or the commit error. */
int cv__store_begin(cv_store *s);
int cv__store_end(cv_store *s, int res);

/* The columns cv__store_camera_row reads, in order. */
#define CV__CAM_COLS                                                                          \
    "id, home, name, model, source, pull_url, pull_secret, sub_pull_secret, ingest_secret," \
    " pull_transport, created_us"
/* The SET clause that tombstones a camera (?2 = now): it keeps its id and
 * name for the audit trail but not its sealed secrets. */
#define CV__CAM_TOMBSTONE "removed_us = ?2, pull_secret = '', sub_pull_secret = '', ingest_secret = ''"
/* Reads a CV__CAM_COLS row into a cv_camera_rec (a cv__store_row_fn). */
int cv__store_camera_row(cv_store *s, sqlite3_stmt *st, void *out);

/* ------------------------------------------------------------- validators */

/* Length of a NUL-terminated string no longer than max, for *len; -EINVAL
 * if p is NULL, shorter than min or longer than max (not terminated within
 * a field of max + 1 bytes). */
int cv__str_len(const char *p, size_t min, size_t max, size_t *len);
/* Printable UTF-8 (names, labels, model): strict UTF-8, no control or
 * invisible formatting characters. len 0 is valid; bounds are the caller's. */
bool cv__text_valid(const char *p, size_t len);
/* The next character of p (len > 0): returns its length in bytes (1 for a
 * byte that starts no valid UTF-8 sequence) and sets *ok when it is valid
 * and printable by the rules of cv__text_valid. */
size_t cv__utf8_char(const char *p, size_t len, bool *ok);
/* Printable ASCII (0x20..0x7e): password hashes and sealed values, which the
 * store does not interpret further. */
bool cv__ascii_valid(const char *p, size_t len);
/* [A-Za-z0-9._@-], 1..CV_LOGIN_MAX. */
bool cv__login_valid(const char *p, size_t len);

#endif
