#define CV_LOG_MODULE "store"

#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "store/people.h"
#include "store/secrets.h"
#include "store/store_int.h"

/* A fresh 128-bit id colliding even once is astronomically unlikely; more
 * than a handful of collisions in a row means the RNG is broken. */
#define ADD_MAX_ATTEMPTS 8

#define FIELD_MAX(type, field) (sizeof(((type *)0)->field) - 1)
#define NAME_MAX_LEN FIELD_MAX(cv_camera_rec, name)
#define MODEL_MAX_LEN FIELD_MAX(cv_camera_rec, model)
#define URL_MAX_LEN FIELD_MAX(cv_camera_rec, pull_url)
#define PULL_SECRET_MAX_LEN FIELD_MAX(cv_camera_rec, pull_secret)
#define INGEST_MAX_LEN FIELD_MAX(cv_camera_rec, ingest_secret)

/* Schema migrations. Entry i takes the database from user_version i to i+1;
 * never edit a released entry, append a new one instead. Each runs inside
 * the same IMMEDIATE transaction as the user_version bump, so a crash or a
 * concurrent opener never sees half a schema. */
static const char *const migrations[] = {
    /* 1: cameras. Rows are never deleted: removed_us marks a tombstone so the
     * id stays reserved, while the partial index frees the name for reuse. */
    "CREATE TABLE cameras ("
    "  id BLOB NOT NULL PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 127),"
    "  source INTEGER NOT NULL CHECK (source IN (1, 2)),"
    "  pull_url TEXT NOT NULL DEFAULT '' CHECK (length(CAST(pull_url AS BLOB)) <= 1023),"
    "  pull_transport INTEGER NOT NULL DEFAULT 0 CHECK (pull_transport IN (0, 1, 2)),"
    "  created_us INTEGER NOT NULL,"
    "  removed_us INTEGER NULL"
    ");"
    "CREATE UNIQUE INDEX cameras_live_name ON cameras(name) WHERE removed_us IS NULL;",

    /* 2: tenants. Homes, users and their memberships; cameras move into a
     * home (v1 cameras, tombstones included, into one named "home") and gain
     * a model and sealed secrets; guest grants, capability token records,
     * app passwords, web sessions and the append-only audit log. Every id'd
     * row is tombstoned, never deleted, so no id is ever handed out twice. */
    "CREATE TABLE homes ("
    "  id BLOB NOT NULL PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 127),"
    "  created_us INTEGER NOT NULL,"
    "  removed_us INTEGER NULL"
    ");"
    "CREATE UNIQUE INDEX homes_live_name ON homes(name) WHERE removed_us IS NULL;"

    "CREATE TABLE users ("
    "  id BLOB NOT NULL PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  login TEXT NOT NULL CHECK (length(CAST(login AS BLOB)) BETWEEN 1 AND 63),"
    "  pw_hash TEXT NOT NULL CHECK (length(CAST(pw_hash AS BLOB)) <= 127),"
    "  admin INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1)),"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),"
    "  totp_sealed TEXT NULL CHECK (length(CAST(totp_sealed AS BLOB)) BETWEEN 1 AND 255),"
    "  totp_enabled INTEGER NOT NULL DEFAULT 0 CHECK (totp_enabled IN (0, 1)),"
    "  totp_step INTEGER NOT NULL DEFAULT 0,"
    "  created_us INTEGER NOT NULL,"
    "  removed_us INTEGER NULL"
    ");"
    "CREATE UNIQUE INDEX users_live_login ON users(login COLLATE NOCASE) WHERE removed_us IS NULL;"

    "CREATE TABLE members ("
    "  home BLOB NOT NULL REFERENCES homes(id),"
    "  user BLOB NOT NULL REFERENCES users(id),"
    "  role INTEGER NOT NULL CHECK (role IN (1, 2, 3)),"
    "  created_us INTEGER NOT NULL,"
    "  PRIMARY KEY (home, user)"
    ") WITHOUT ROWID;"
    "CREATE INDEX members_user ON members(user);"

    "CREATE TABLE cameras_v2 ("
    "  id BLOB NOT NULL PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  home BLOB NOT NULL REFERENCES homes(id),"
    "  name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 127),"
    "  model TEXT NOT NULL DEFAULT '' CHECK (length(CAST(model AS BLOB)) <= 63),"
    "  source INTEGER NOT NULL CHECK (source IN (1, 2)),"
    "  pull_url TEXT NOT NULL DEFAULT '' CHECK (length(CAST(pull_url AS BLOB)) <= 1023),"
    "  pull_secret TEXT NOT NULL DEFAULT '' CHECK (length(CAST(pull_secret AS BLOB)) <= 2047),"
    "  sub_pull_secret TEXT NOT NULL DEFAULT '' CHECK (length(CAST(sub_pull_secret AS BLOB)) <= 2047),"
    "  ingest_secret TEXT NOT NULL DEFAULT '' CHECK (length(CAST(ingest_secret AS BLOB)) <= 255),"
    "  pull_transport INTEGER NOT NULL DEFAULT 0 CHECK (pull_transport IN (0, 1, 2)),"
    "  created_us INTEGER NOT NULL,"
    "  removed_us INTEGER NULL"
    ");"
    /* randomblob() is SQLite's CSPRNG, seeded from the OS. */
    "INSERT INTO homes (id, name, created_us)"
    "  SELECT randomblob(16), 'home', (SELECT min(created_us) FROM cameras)"
    "  WHERE EXISTS (SELECT 1 FROM cameras);"
    "INSERT INTO cameras_v2 (id, home, name, source, pull_url, pull_transport, created_us, removed_us)"
    "  SELECT c.id, h.id, c.name, c.source, c.pull_url, c.pull_transport, c.created_us, c.removed_us"
    "  FROM cameras AS c, homes AS h ORDER BY c.rowid;"
    "DROP TABLE cameras;"
    "ALTER TABLE cameras_v2 RENAME TO cameras;"
    "CREATE UNIQUE INDEX cameras_live_name ON cameras(home, name) WHERE removed_us IS NULL;"

    "CREATE TABLE grants ("
    "  id BLOB NOT NULL PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  camera BLOB NOT NULL REFERENCES cameras(id),"
    "  user BLOB NOT NULL REFERENCES users(id),"
    "  scopes INTEGER NOT NULL CHECK (scopes > 0),"
    "  expires_us INTEGER NOT NULL,"
    "  created_us INTEGER NOT NULL,"
    "  removed_us INTEGER NULL"
    ");"
    "CREATE INDEX grants_camera ON grants(camera) WHERE removed_us IS NULL;"
    "CREATE INDEX grants_user ON grants(user) WHERE removed_us IS NULL;"

    /* principal is a user or an integration, so it has no foreign key. */
    "CREATE TABLE tokens ("
    "  hash BLOB NOT NULL PRIMARY KEY CHECK (typeof(hash) = 'blob' AND length(hash) = 32),"
    "  camera BLOB NOT NULL REFERENCES cameras(id),"
    "  principal_kind INTEGER NOT NULL CHECK (principal_kind IN (1, 2)),"
    "  principal BLOB NOT NULL CHECK (typeof(principal) = 'blob' AND length(principal) = 16),"
    "  scopes INTEGER NOT NULL CHECK (scopes > 0),"
    "  expires_us INTEGER NOT NULL,"
    "  created_us INTEGER NOT NULL,"
    "  revoked_us INTEGER NULL"
    ");"
    "CREATE INDEX tokens_camera ON tokens(camera);"
    "CREATE INDEX tokens_principal ON tokens(principal);"
    "CREATE INDEX tokens_expires ON tokens(expires_us);"
    "CREATE INDEX tokens_revoked ON tokens(expires_us) WHERE revoked_us IS NOT NULL;"

    "CREATE TABLE app_passwords ("
    "  id BLOB NOT NULL PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  user BLOB NOT NULL REFERENCES users(id),"
    "  label TEXT NOT NULL CHECK (length(CAST(label AS BLOB)) BETWEEN 1 AND 63),"
    "  sealed TEXT NOT NULL CHECK (length(CAST(sealed AS BLOB)) <= 255),"
    "  created_us INTEGER NOT NULL,"
    "  removed_us INTEGER NULL"
    ");"
    "CREATE INDEX app_passwords_user ON app_passwords(user) WHERE removed_us IS NULL;"

    "CREATE TABLE websessions ("
    "  hash BLOB NOT NULL PRIMARY KEY CHECK (typeof(hash) = 'blob' AND length(hash) = 32),"
    "  user BLOB NOT NULL REFERENCES users(id),"
    "  created_us INTEGER NOT NULL,"
    "  expires_us INTEGER NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX websessions_user ON websessions(user);"

    /* The third trigger stops INSERT OR REPLACE from overwriting a row: the
     * REPLACE's implicit delete does not fire the DELETE trigger. */
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY,"
    "  ts_us INTEGER NOT NULL,"
    "  event TEXT NOT NULL CHECK (length(CAST(event AS BLOB)) BETWEEN 1 AND 39),"
    "  principal TEXT NOT NULL DEFAULT '' CHECK (length(CAST(principal AS BLOB)) <= 95),"
    "  camera TEXT NOT NULL DEFAULT '' CHECK (length(CAST(camera AS BLOB)) IN (0, 32)),"
    "  address TEXT NOT NULL DEFAULT '' CHECK (length(CAST(address AS BLOB)) <= 63),"
    "  protocol TEXT NOT NULL DEFAULT '' CHECK (length(CAST(protocol AS BLOB)) <= 15),"
    "  detail TEXT NOT NULL DEFAULT '' CHECK (length(CAST(detail AS BLOB)) <= 255)"
    ");"
    "CREATE INDEX audit_camera ON audit(camera, seq);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;"
    "CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit"
    "  WHEN EXISTS (SELECT 1 FROM audit WHERE seq = NEW.seq)"
    "  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;",

    /* 3: account linking (store/oauth.h). Integrations are tombstoned like
     * every id'd row (their client id stays reserved); links too. Codes and
     * tokens are keyed hashes only and are deleted, not tombstoned. Users
     * and integrations are never deleted, so the ON DELETE CASCADEs only
     * cover links; the trigger carries a user's removal (which the
     * people.c cascade does by tombstoning) over to links, codes and tokens. */
    "CREATE TABLE integrations ("
    "  id BLOB NOT NULL PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 63),"
    "  client_id TEXT NOT NULL UNIQUE CHECK (length(CAST(client_id AS BLOB)) BETWEEN 1 AND 39),"
    "  secret_hash BLOB NULL CHECK (secret_hash IS NULL OR (typeof(secret_hash) = 'blob'"
    "    AND length(secret_hash) = 32)),"
    "  redirect_uris TEXT NOT NULL CHECK (length(CAST(redirect_uris AS BLOB)) <= 4095),"
    "  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),"
    "  created_us INTEGER NOT NULL,"
    "  removed_us INTEGER NULL"
    ");"
    "CREATE UNIQUE INDEX integrations_live_name ON integrations(name) WHERE removed_us IS NULL;"

    "CREATE TABLE integration_models ("
    "  integration BLOB NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,"
    "  model TEXT NOT NULL CHECK (length(CAST(model AS BLOB)) BETWEEN 1 AND 63),"
    "  PRIMARY KEY (integration, model)"
    ") WITHOUT ROWID;"

    "CREATE TABLE oauth_links ("
    "  id BLOB NOT NULL PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  user BLOB NOT NULL REFERENCES users(id),"
    "  integration BLOB NOT NULL REFERENCES integrations(id),"
    "  created_us INTEGER NOT NULL,"
    "  revoked_us INTEGER NULL"
    ");"
    "CREATE UNIQUE INDEX oauth_links_live ON oauth_links(user, integration) WHERE revoked_us IS NULL;"
    "CREATE INDEX oauth_links_integration ON oauth_links(integration);"

    "CREATE TABLE oauth_codes ("
    "  hash BLOB NOT NULL PRIMARY KEY CHECK (typeof(hash) = 'blob' AND length(hash) = 32),"
    "  link BLOB NOT NULL REFERENCES oauth_links(id) ON DELETE CASCADE,"
    "  chain BLOB NOT NULL CHECK (typeof(chain) = 'blob' AND length(chain) = 16),"
    "  redirect_uri TEXT NOT NULL CHECK (length(CAST(redirect_uri AS BLOB)) BETWEEN 1 AND 511),"
    "  challenge TEXT NOT NULL CHECK (length(CAST(challenge AS BLOB)) = 43),"
    "  scope TEXT NOT NULL CHECK (length(CAST(scope AS BLOB)) BETWEEN 32 AND 2111),"
    "  created_us INTEGER NOT NULL,"
    "  expires_us INTEGER NOT NULL,"
    "  used_us INTEGER NULL"
    ") WITHOUT ROWID;"
    "CREATE INDEX oauth_codes_link ON oauth_codes(link);"
    "CREATE INDEX oauth_codes_chain ON oauth_codes(chain);"

    "CREATE TABLE oauth_tokens ("
    "  hash BLOB NOT NULL PRIMARY KEY CHECK (typeof(hash) = 'blob' AND length(hash) = 32),"
    "  kind INTEGER NOT NULL CHECK (kind IN (1, 2)),"  /* 1 access, 2 refresh */
    "  chain BLOB NOT NULL CHECK (typeof(chain) = 'blob' AND length(chain) = 16),"
    "  link BLOB NOT NULL REFERENCES oauth_links(id) ON DELETE CASCADE,"
    "  scope TEXT NOT NULL CHECK (length(CAST(scope AS BLOB)) BETWEEN 32 AND 2111),"
    "  created_us INTEGER NOT NULL,"
    "  expires_us INTEGER NOT NULL,"
    "  revoked_us INTEGER NULL,"
    "  rotated_us INTEGER NULL CHECK (rotated_us IS NULL OR kind = 2)"
    ") WITHOUT ROWID;"
    "CREATE INDEX oauth_tokens_chain ON oauth_tokens(chain);"
    "CREATE INDEX oauth_tokens_link ON oauth_tokens(link);"
    "CREATE INDEX oauth_tokens_expires ON oauth_tokens(expires_us);"

    "CREATE TRIGGER users_removed_oauth AFTER UPDATE OF removed_us ON users"
    "  WHEN NEW.removed_us IS NOT NULL AND OLD.removed_us IS NULL BEGIN"
    "  DELETE FROM oauth_tokens WHERE link IN (SELECT id FROM oauth_links WHERE user = NEW.id);"
    "  DELETE FROM oauth_codes WHERE link IN (SELECT id FROM oauth_links WHERE user = NEW.id);"
    "  UPDATE oauth_links SET revoked_us = NEW.removed_us WHERE user = NEW.id AND revoked_us IS NULL;"
    "  END;",
};

#define SCHEMA_VERSION ((int)CV_ARRAY_LEN(migrations))

/* ---------------------------------------------------------------- helpers */

int cv__store_fail(cv_store *s, const char *what)
{
    CV_ERROR("%p: %s: %s (%d)", (void *)s, what, sqlite3_errmsg(s->db),
             sqlite3_extended_errcode(s->db));
    return -EIO;
}

void cv__store_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static sqlite3_stmt *stmt_get(cv_store *s, const char *sql)
{
    for (size_t i = 0; i < s->nst; i++)
        if (s->st[i].sql == sql)
            return s->st[i].st;
    if (s->nst == CV__STMT_CAP) {
        CV_ERROR("%p: statement cache full (%d); raise CV__STMT_CAP", (void *)s, CV__STMT_CAP);
        return NULL;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        cv__store_fail(s, "prepare");
        sqlite3_finalize(st);
        return NULL;
    }
    s->st[s->nst].sql = sql;
    s->st[s->nst].st = st;
    s->nst++;
    return st;
}

static int bind_one(sqlite3_stmt *st, int i, char kind, va_list *ap)
{
    switch (kind) {
    case 'i': {
        const cv_id *id = va_arg(*ap, const cv_id *);
        return id ? sqlite3_bind_blob(st, i, id->b, CV_ID_BYTES, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
    }
    case 'h': {
        const uint8_t *h = va_arg(*ap, const uint8_t *);
        return h ? sqlite3_bind_blob(st, i, h, CV_HASH_BYTES, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
    }
    case 's': {
        const char *p = va_arg(*ap, const char *);
        return p ? sqlite3_bind_text(st, i, p, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
    }
    case 'I':
        return sqlite3_bind_int64(st, i, va_arg(*ap, int64_t));
    case 'd':
        return sqlite3_bind_int(st, i, va_arg(*ap, int));
    case '-':
        return SQLITE_OK;
    }
    return SQLITE_MISUSE;
}

sqlite3_stmt *cv__store_prep(cv_store *s, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = stmt_get(s, sql);
    if (!st)
        return NULL;
    cv__store_done(st);
    int np = sqlite3_bind_parameter_count(st);
    va_list ap;
    va_start(ap, fmt);
    int rc = SQLITE_OK;
    for (int i = 0; fmt[i] && i < np && rc == SQLITE_OK; i++)
        rc = bind_one(st, i + 1, fmt[i], &ap);
    va_end(ap);
    if (rc != SQLITE_OK) {
        cv__store_fail(s, "bind");
        cv__store_done(st);
        return NULL;
    }
    return st;
}

/* Maps a failed step; constraint violations are the caller's input, not an
 * I/O problem, so they are not logged. */
static int step_error(cv_store *s, int rc, const char *what)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return -EEXIST;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
        return -EINVAL;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -ENOENT;
    case SQLITE_CONSTRAINT_TRIGGER:
        return -EPERM;
    }
    return cv__store_fail(s, what);
}

int cv__store_exec(cv_store *s, sqlite3_stmt *st, const char *what)
{
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    int res = rc == SQLITE_DONE ? sqlite3_changes(s->db) : step_error(s, rc, what);
    cv__store_done(st);
    return res;
}

int cv__store_insert_id(cv_store *s, sqlite3_stmt *st, cv_id *out, const char *what)
{
    if (!st)
        return -EIO;
    for (int attempt = 0; attempt < ADD_MAX_ATTEMPTS; attempt++) {
        cv_id id;
        cv_id_random(&id);
        if (sqlite3_bind_blob(st, 1, id.b, CV_ID_BYTES, SQLITE_TRANSIENT) != SQLITE_OK) {
            int res = cv__store_fail(s, "bind id");
            cv__store_done(st);
            return res;
        }
        int rc = sqlite3_step(st);
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            sqlite3_reset(st); /* keeps the other bindings */
            CV_WARN("%p: %s: id collision, retrying", (void *)s, what);
            continue;
        }
        int res = rc == SQLITE_DONE ? (sqlite3_changes(s->db) > 0 ? 0 : -ENOENT) : step_error(s, rc, what);
        cv__store_done(st);
        if (res == 0 && out)
            *out = id;
        return res;
    }
    cv__store_done(st);
    CV_ERROR("%p: %d id collisions in a row; is the RNG broken?", (void *)s, ADD_MAX_ATTEMPTS);
    return -EIO;
}

int cv__store_cascade(cv_store *s, const char *const *sql, size_t n, const cv_id *id, int64_t now_us)
{
    int first = 0;
    for (size_t i = 0; i < n; i++) {
        int res = cv__store_exec(s, cv__store_prep(s, sql[i], "iI", id, now_us), "cascade");
        if (res < 0)
            return res;
        if (i == 0)
            first = res;
    }
    return first;
}

int cv__store_one(cv_store *s, sqlite3_stmt *st, cv__store_row_fn read, void *out, size_t size,
                  const char *what)
{
    int res;
    if (!st)
        res = -EIO;
    else {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            res = out ? read(s, st, out) : 0;
        else if (rc == SQLITE_DONE)
            res = -ENOENT;
        else
            res = cv__store_fail(s, what);
        cv__store_done(st);
    }
    if (res < 0 && out)
        memset(out, 0, size);
    return res;
}

static int grow(void **arr, size_t *cap, size_t size)
{
    size_t ncap = *cap ? *cap * 2 : 16, bytes;
    if (__builtin_mul_overflow(ncap, size, &bytes))
        return -ENOMEM;
    void *p = realloc(*arr, bytes);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int cv__store_list(cv_store *s, sqlite3_stmt *st, cv__store_row_fn read, size_t size, size_t limit,
                   void **out, size_t *n, const char *what)
{
    void *arr = NULL;
    size_t len = 0, cap = 0;
    int res = 0, rc = SQLITE_DONE;

    *out = NULL;
    *n = 0;
    if (!st)
        return -EIO;
    while (len < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap && (res = grow(&arr, &cap, size)) < 0)
            goto err;
        if ((res = read(s, st, (char *)arr + len * size)) < 0)
            goto err;
        len++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        res = cv__store_fail(s, what);
        goto err;
    }
    cv__store_done(st);
    if (len == 0) {
        free(arr);
        arr = NULL;
    }
    *out = arr;
    *n = len;
    return 0;
err:
    cv__store_done(st);
    free(arr);
    return res;
}

int cv__col_blob(sqlite3_stmt *st, int col, void *out, size_t len)
{
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (!p || n < 0 || (size_t)n != len)
        return -EIO;
    memcpy(out, p, len);
    return 0;
}

int cv__col_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
    const unsigned char *p = sqlite3_column_text(st, col);
    int n = sqlite3_column_bytes(st, col);
    if (n < 0 || (size_t)n >= cap || (n > 0 && !p))
        return -EIO;
    if (n > 0)
        memcpy(out, p, (size_t)n);
    out[n] = '\0';
    return 0;
}

/* ----------------------------------------------------------- transactions */

static int run_simple(cv_store *s, const char *sql)
{
    sqlite3_stmt *st = cv__store_prep(s, sql, "");
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    int res = rc == SQLITE_DONE ? 0 : cv__store_fail(s, sql);
    cv__store_done(st);
    return res;
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT cv";
static const char SQL_RELEASE[] = "RELEASE cv";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO cv";

int cv__store_begin(cv_store *s)
{
    bool outer = s->depth == 0;
    /* SQLite ends a transaction by itself after some errors (SQLITE_FULL,
     * IOERR...): a savepoint then would quietly start a new one. */
    if (!outer && sqlite3_get_autocommit(s->db)) {
        CV_ERROR("%p: the enclosing transaction was rolled back", (void *)s);
        return -EIO;
    }
    int res = run_simple(s, outer ? SQL_BEGIN : SQL_SAVEPOINT);
    if (res == 0)
        s->depth++;
    return res;
}

int cv__store_end(cv_store *s, int res)
{
    bool outer = --s->depth == 0;
    if (sqlite3_get_autocommit(s->db)) {
        CV_ERROR("%p: transaction rolled back by SQLite", (void *)s);
        return res ? res : -EIO;
    }
    if (res == 0) {
        if ((res = run_simple(s, outer ? SQL_COMMIT : SQL_RELEASE)) == 0)
            return 0;
        if (sqlite3_get_autocommit(s->db))
            return res;
    }
    if (outer) {
        run_simple(s, SQL_ROLLBACK);
    } else {
        run_simple(s, SQL_ROLLBACK_TO);
        run_simple(s, SQL_RELEASE);
    }
    return res;
}

int cv_store_begin(cv_store *s) { return s ? cv__store_begin(s) : -EINVAL; }
int cv_store_end(cv_store *s, int res) { return s ? cv__store_end(s, res) : -EINVAL; }

int cv_store_txn(cv_store *s, int (*fn)(cv_store *s, void *ctx), void *ctx)
{
    if (!s || !fn)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    return cv__store_end(s, fn(s, ctx));
}

/* ------------------------------------------------------------- validators */

int cv__str_len(const char *p, size_t min, size_t max, size_t *len)
{
    if (!p)
        return -EINVAL;
    size_t n = strnlen(p, max + 1);
    if (n < min || n > max)
        return -EINVAL;
    if (len)
        *len = n;
    return 0;
}

/* Names end up in CLI tables, logs and web pages: refuse the invisible
 * characters that break lines or reorder text (bidi spoofing), the BOM and
 * the U+FFFE/U+FFFF noncharacters. ZWJ/ZWNJ stay (emoji, Indic scripts). */
static bool printable_format(uint32_t cp)
{
    if (cp == 0x200e || cp == 0x200f || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff)
        return false;
    if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
        return false;
    return cp != 0xfffe && cp != 0xffff;
}

/* Decodes one strict UTF-8 sequence (no overlongs, surrogates or code points
 * past U+10FFFF); returns its length, or 0 if invalid. */
static size_t utf8_next(const uint8_t *s, const uint8_t *end, uint32_t *out)
{
    uint32_t cp;
    size_t n;
    uint8_t c = s[0];
    if (c < 0x80) {
        *out = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        cp = c & 0x1fu;
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        cp = c & 0x0fu;
        n = 3;
    } else if (c >= 0xf0 && c <= 0xf4) {
        cp = c & 0x07u;
        n = 4;
    } else {
        return 0;
    }
    if ((size_t)(end - s) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    if (cp >= 0xd800 && cp <= 0xdfff)
        return 0;
    *out = cp;
    return n;
}

size_t cv__utf8_char(const char *p, size_t len, bool *ok)
{
    const uint8_t *s = (const uint8_t *)p;
    uint32_t cp;
    size_t n = utf8_next(s, s + len, &cp);
    if (n == 0) {
        *ok = false;
        return 1;
    }
    *ok = cp >= 0x20 && !(cp >= 0x7f && cp <= 0x9f) && printable_format(cp);
    return n;
}

bool cv__text_valid(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        bool ok;
        i += cv__utf8_char(p + i, len - i, &ok);
        if (!ok)
            return false;
    }
    return true;
}

bool cv__ascii_valid(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
            return false;
    return true;
}

bool cv__login_valid(const char *p, size_t len)
{
    if (len < 1 || len > CV_LOGIN_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '@' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* ------------------------------------------------------------ open, schema */

/* Logs the connection's last SQLite error and returns -EIO. */
static int db_fail(sqlite3 *db, const void *who, const char *what)
{
    CV_ERROR("%p: %s: %s (%d)", who, what, sqlite3_errmsg(db), sqlite3_extended_errcode(db));
    return -EIO;
}

/* Runs a statement that returns at most one row and reads it as an int64. */
static int exec_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            if (out)
                *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

static int pragma_setup(sqlite3 *db, const void *who)
{
    static const char *const pragmas[] = {
        "PRAGMA foreign_keys = ON",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA trusted_schema = OFF",
        /* Erased secrets (removed cameras, users) are overwritten, not just unlinked. */
        "PRAGMA secure_delete = ON",
    };
    sqlite3_stmt *st = NULL;
    int res = 0;

    if (sqlite3_busy_timeout(db, 5000) != SQLITE_OK)
        return db_fail(db, who, "busy_timeout");
    /* journal_mode answers with the mode actually in effect. */
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        res = db_fail(db, who, "journal_mode");
        goto out;
    }
    const unsigned char *mode = sqlite3_column_text(st, 0);
    if (!mode || sqlite3_stricmp((const char *)mode, "wal") != 0) {
        CV_ERROR("%p: cannot enable WAL (journal_mode is %s)", who, mode ? (const char *)mode : "?");
        res = -EIO;
        goto out;
    }
    for (size_t i = 0; i < CV_ARRAY_LEN(pragmas); i++) {
        if (exec_int(db, pragmas[i], NULL) != SQLITE_OK) {
            res = db_fail(db, who, pragmas[i]);
            goto out;
        }
    }
out:
    sqlite3_finalize(st);
    return res;
}

static int migrate(sqlite3 *db, const void *who)
{
    int64_t ver = 0;
    int res;

    /* IMMEDIATE takes the write lock before reading the version, so two
     * processes opening a fresh file cannot both apply migration 1. */
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(db, who, "begin migration");
    if (exec_int(db, "PRAGMA user_version", &ver) != SQLITE_OK) {
        res = db_fail(db, who, "read user_version");
        goto rollback;
    }
    if (ver < 0 || ver > SCHEMA_VERSION) {
        CV_ERROR("%p: database schema version %lld is newer than this build (%d)",
                 who, (long long)ver, SCHEMA_VERSION);
        res = -EPROTONOSUPPORT;
        goto rollback;
    }
    if (ver == SCHEMA_VERSION) {
        res = 0;
        goto rollback; /* nothing to write */
    }
    for (int64_t v = ver; v < SCHEMA_VERSION; v++) {
        if (sqlite3_exec(db, migrations[v], NULL, NULL, NULL) != SQLITE_OK) {
            CV_ERROR("%p: migration to schema %lld failed", who, (long long)(v + 1));
            res = db_fail(db, who, "migrate");
            goto rollback;
        }
    }
    /* PRAGMA takes no bound parameters; the value is our own constant. */
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        res = db_fail(db, who, "set user_version");
        goto rollback;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        res = db_fail(db, who, "commit migration");
        goto rollback;
    }
    if (ver > 0)
        CV_INFO("%p: migrated schema %lld -> %d", who, (long long)ver, SCHEMA_VERSION);
    return 0;
rollback:
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return res;
}

/* The database will hold secrets, so it is created 0600 up front (SQLite
 * gives its -wal and -shm files the main file's mode) and an existing file
 * that is open to group or others is tightened. The data directory itself is
 * the caller's job. */
static int prepare_file(const char *path, const void *who)
{
    char dir[PATH_MAX];
    size_t len = strnlen(path, sizeof(dir));
    struct stat st;
    int fd, res = 0;

    if (len == 0 || len >= sizeof(dir))
        return -EINVAL;
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    if (stat(dir, &st) < 0) {
        res = -errno;
        CV_ERROR("%p: data directory %s: %s", who, dir, strerror(errno));
        return res;
    }
    if (!S_ISDIR(st.st_mode)) {
        CV_ERROR("%p: data directory %s is not a directory", who, dir);
        return -ENOTDIR;
    }

    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        res = -errno;
        CV_ERROR("%p: open %s: %s", who, path, strerror(errno));
        return res;
    }
    if (fstat(fd, &st) < 0) {
        res = -errno;
        CV_ERROR("%p: stat %s: %s", who, path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        CV_ERROR("%p: %s is not a regular file", who, path);
        res = -EINVAL;
        goto out;
    }
    if ((st.st_mode & 0777) != 0600) {
        if (st.st_mode & 0077)
            CV_WARN("%p: %s was mode %03o, setting 0600", who, path, (unsigned)(st.st_mode & 0777));
        if (fchmod(fd, 0600) < 0) {
            res = -errno;
            CV_ERROR("%p: chmod %s: %s", who, path, strerror(errno));
            goto out;
        }
    }
out:
    close(fd);
    return res;
}

/* The URL is sent on an RTSP request line later, so only visible ASCII is
 * allowed (anything else must be percent-encoded). */
static bool url_valid(const char *p, size_t len)
{
    static const char *const schemes[] = {"rtsp://", "rtsps://"};
    if (len > URL_MAX_LEN)
        return false;
    size_t skip = 0;
    for (size_t i = 0; i < CV_ARRAY_LEN(schemes); i++) {
        size_t sl = strlen(schemes[i]);
        if (len > sl && memcmp(p, schemes[i], sl) == 0) {
            skip = sl;
            break;
        }
    }
    if (skip == 0)
        return false;
    for (size_t i = skip; i < len; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return false;
    return p[skip] != '/';
}

int cv_store_open(cv_store **out, const char *path)
{
    cv_store *s;
    int res;

    if (!out || !path)
        return -EINVAL;
    if (cv_id_init() < 0) {
        CV_ERROR("libsodium initialisation failed");
        return -EIO;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if ((res = prepare_file(path, s)) < 0)
        goto err_free;

    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (s->db)
            res = db_fail(s->db, s, "open");
        else
            res = -ENOMEM;
        goto err_close;
    }
    sqlite3_extended_result_codes(s->db, 1);
    if ((res = pragma_setup(s->db, s)) < 0)
        goto err_close;
    if ((res = migrate(s->db, s)) < 0)
        goto err_close;
    *out = s;
    return 0;

err_close:
    sqlite3_close(s->db);
err_free:
    free(s);
    return res;
}

void cv_store_close(cv_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nst; i++)
        sqlite3_finalize(s->st[i].st);
    if (sqlite3_close(s->db) != SQLITE_OK)
        db_fail(s->db, s, "close");
    free(s);
}

int64_t cv_store_data_version(cv_store *s)
{
    if (!s)
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, "PRAGMA data_version", "");
    if (!st)
        return -EIO;
    int64_t v;
    /* PRAGMA data_version moves only for other connections' commits; add
     * this connection's own row changes so that a change made through it
     * (the REST API runs in the server's process) is noticed the same way. */
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0) + (int64_t)sqlite3_total_changes64(s->db);
    else
        v = cv__store_fail(s, "data_version");
    cv__store_done(st);
    return v;
}

/* ---------------------------------------------------------------- cameras */

#define CAM_COLS CV__CAM_COLS

static const char SQL_CAM_ADD[] =
    "INSERT INTO cameras (" CAM_COLS ")"
    " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11"
    " WHERE EXISTS (SELECT 1 FROM homes WHERE id = ?2 AND removed_us IS NULL)";
static const char SQL_CAM_GET[] =
    "SELECT " CAM_COLS " FROM cameras WHERE id = ?1 AND removed_us IS NULL";
static const char SQL_CAM_FIND_NAME[] =
    "SELECT " CAM_COLS " FROM cameras WHERE home = ?1 AND name = ?2 AND removed_us IS NULL";
static const char SQL_CAM_FIND_NAME_ANY[] =
    "SELECT " CAM_COLS " FROM cameras WHERE name = ?2 AND removed_us IS NULL"
    " ORDER BY created_us, rowid LIMIT 2";
static const char SQL_CAM_LIST[] =
    "SELECT " CAM_COLS " FROM cameras WHERE removed_us IS NULL AND (?1 IS NULL OR home = ?1)"
    " ORDER BY created_us, rowid";
static const char SQL_CAM_SET_INGEST[] =
    "UPDATE cameras SET ingest_secret = ?2 WHERE id = ?1 AND removed_us IS NULL AND source = 1";
static const char SQL_CAM_RENAME[] =
    "UPDATE cameras SET name = ?2 WHERE id = ?1 AND removed_us IS NULL";
static const char SQL_CAM_SET_PULL[] =
    "UPDATE cameras SET pull_url = ?2, pull_secret = ?3, sub_pull_secret = ?4"
    " WHERE id = ?1 AND removed_us IS NULL AND source = 2";

/* A removed camera takes its grants and tokens with it. */
static const char *const cam_remove_sql[] = {
    ("UPDATE cameras SET " CV__CAM_TOMBSTONE " WHERE id = ?1 AND removed_us IS NULL"),
    "UPDATE grants SET removed_us = ?2 WHERE camera = ?1 AND removed_us IS NULL",
    "UPDATE tokens SET revoked_us = ?2 WHERE camera = ?1 AND revoked_us IS NULL",
};

/* Sealed values are opaque to the store; it only bounds them to printable
 * ASCII so they cannot smuggle control bytes into anything that prints them. */
static int sealed_valid(const char *p, size_t max)
{
    size_t len;
    if (cv__str_len(p, 0, max, &len) < 0 || !cv__ascii_valid(p, len))
        return -EINVAL;
    return 0;
}

static int rec_validate(const cv_camera_rec *in)
{
    size_t name_len, model_len, url_len;
    if (cv__str_len(in->name, 1, NAME_MAX_LEN, &name_len) < 0 || !cv__text_valid(in->name, name_len) ||
        cv__str_len(in->model, 0, MODEL_MAX_LEN, &model_len) < 0 || !cv__text_valid(in->model, model_len) ||
        cv__str_len(in->pull_url, 0, URL_MAX_LEN, &url_len) < 0 ||
        sealed_valid(in->pull_secret, PULL_SECRET_MAX_LEN) < 0 ||
        sealed_valid(in->sub_pull_secret, PULL_SECRET_MAX_LEN) < 0 ||
        sealed_valid(in->ingest_secret, INGEST_MAX_LEN) < 0)
        return -EINVAL;
    if ((int)in->pull_transport < CV_PULL_AUTO || (int)in->pull_transport > CV_PULL_UDP)
        return -EINVAL;
    switch (in->source) {
    case CV_CAM_PUSH:
        /* Nothing to pull from: a stray URL or secret is a caller's mix-up. */
        return url_len == 0 && !in->pull_secret[0] && !in->sub_pull_secret[0] ? 0 : -EINVAL;
    case CV_CAM_PULL:
        return url_valid(in->pull_url, url_len) && !in->ingest_secret[0] ? 0 : -EINVAL;
    }
    return -EINVAL;
}

/* Copies a row from a CAM_COLS statement into out. The file may have been
 * edited by hand, so every column is checked against the record's bounds. */
int cv__store_camera_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_camera_rec *out = p;
    memset(out, 0, sizeof(*out));
    int64_t source = sqlite3_column_int64(st, 4);
    int64_t transport = sqlite3_column_int64(st, 9);
    if (cv__col_blob(st, 0, out->id.b, CV_ID_BYTES) < 0 || cv__col_blob(st, 1, out->home.b, CV_ID_BYTES) < 0 ||
        cv__col_text(st, 2, out->name, sizeof(out->name)) < 0 || !out->name[0] ||
        cv__col_text(st, 3, out->model, sizeof(out->model)) < 0 ||
        cv__col_text(st, 5, out->pull_url, sizeof(out->pull_url)) < 0 ||
        cv__col_text(st, 6, out->pull_secret, sizeof(out->pull_secret)) < 0 ||
        cv__col_text(st, 7, out->sub_pull_secret, sizeof(out->sub_pull_secret)) < 0 ||
        cv__col_text(st, 8, out->ingest_secret, sizeof(out->ingest_secret)) < 0 ||
        (source != CV_CAM_PUSH && source != CV_CAM_PULL) ||
        transport < CV_PULL_AUTO || transport > CV_PULL_UDP) {
        CV_ERROR("%p: malformed camera row", (void *)s);
        memset(out, 0, sizeof(*out));
        return -EIO;
    }
    out->source = (cv_cam_source)source;
    out->pull_transport = (cv_pull_transport)transport;
    out->created_us = sqlite3_column_int64(st, 10);
    return 0;
}

int cv_store_camera_add(cv_store *s, const cv_camera_rec *in, cv_id *out_id)
{
    int res;

    if (!s || !in)
        return -EINVAL;
    if ((res = rec_validate(in)) < 0)
        return res;
    bool chosen = !cv_id_is_zero(&in->id);
    sqlite3_stmt *st = cv__store_prep(s, SQL_CAM_ADD, "iissdssssdI", chosen ? &in->id : NULL, &in->home,
                                      in->name, in->model, (int)in->source, in->pull_url, in->pull_secret,
                                      in->sub_pull_secret, in->ingest_secret, (int)in->pull_transport,
                                      cv_wall_us());
    if (!chosen)
        return cv__store_insert_id(s, st, out_id, "insert camera");
    /* A chosen id that was ever used (even by a tombstone) is -EEXIST. */
    if ((res = cv__store_changed(cv__store_exec(s, st, "insert camera"))) == 0 && out_id)
        *out_id = in->id;
    return res;
}

int cv_store_camera_get(cv_store *s, const cv_id *id, cv_camera_rec *out)
{
    if (!s || !id)
        return -EINVAL;
    return cv__store_one(s, cv__store_prep(s, SQL_CAM_GET, "i", id), cv__store_camera_row, out, sizeof(*out),
                         "get camera");
}

int cv_store_camera_find_name(cv_store *s, const cv_id *home, const char *name, cv_camera_rec *out)
{
    size_t len;
    if (!s || !name)
        return -EINVAL;
    /* Anything that is not a valid name cannot match; also bounds the bind. */
    if (cv__str_len(name, 1, NAME_MAX_LEN, &len) < 0)
        return -ENOENT;
    if (home)
        return cv__store_one(s, cv__store_prep(s, SQL_CAM_FIND_NAME, "is", home, name), cv__store_camera_row, out,
                             sizeof(*out), "find camera");

    /* Any home: the name must be unambiguous. */
    cv_camera_rec *recs = NULL;
    size_t n = 0;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_CAM_FIND_NAME_ANY, "-s", name), cv__store_camera_row,
                             sizeof(*recs), 2, &arr, &n, "find camera");
    recs = arr;
    if (res == 0)
        res = n == 0 ? -ENOENT : n > 1 ? -EEXIST : 0;
    if (res == 0 && out)
        *out = recs[0];
    else if (out)
        memset(out, 0, sizeof(*out));
    free(recs);
    return res;
}

int cv_store_camera_list(cv_store *s, const cv_id *home, cv_camera_rec **out, size_t *n)
{
    if (!s || !out || !n)
        return -EINVAL;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_CAM_LIST, "i", home), cv__store_camera_row, sizeof(**out),
                             SIZE_MAX, &arr, n, "list cameras");
    *out = arr;
    return res;
}

int cv_store_camera_set_ingest(cv_store *s, const cv_id *id, const char *sealed)
{
    size_t len;
    if (!s || !id || cv__str_len(sealed, 1, INGEST_MAX_LEN, &len) < 0 || !cv__ascii_valid(sealed, len))
        return -EINVAL;
    int res = cv__store_exec(s, cv__store_prep(s, SQL_CAM_SET_INGEST, "is", id, sealed), "set ingest");
    if (res != 0)
        return res < 0 ? res : 0;
    /* Nothing changed: no such live camera, or a pull camera (no ingest). */
    res = cv_store_camera_get(s, id, NULL);
    return res == 0 ? -EINVAL : res;
}

int cv_store_camera_set_pull(cv_store *s, const cv_id *id, const char *pull_url, const char *pull_secret,
                             const char *sub_pull_secret)
{
    size_t url_len;
    if (!sub_pull_secret)
        sub_pull_secret = "";
    if (!s || !id || cv__str_len(pull_url, 1, URL_MAX_LEN, &url_len) < 0 || !url_valid(pull_url, url_len) ||
        sealed_valid(pull_secret, PULL_SECRET_MAX_LEN) < 0 || sealed_valid(sub_pull_secret, PULL_SECRET_MAX_LEN) < 0)
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_CAM_SET_PULL, "isss", id, pull_url, pull_secret, sub_pull_secret);
    int res = cv__store_exec(s, st, "set pull");
    if (res != 0)
        return res < 0 ? res : 0;
    /* Nothing changed: no such live camera, or a push camera. */
    res = cv_store_camera_get(s, id, NULL);
    return res == 0 ? -EINVAL : res;
}

int cv_store_camera_rename(cv_store *s, const cv_id *id, const char *name)
{
    size_t len;
    if (!s || !id || cv__str_len(name, 1, NAME_MAX_LEN, &len) < 0 || !cv__text_valid(name, len))
        return -EINVAL;
    /* The partial unique index (home, name) refuses a name taken in the home. */
    return cv__store_changed(cv__store_exec(s, cv__store_prep(s, SQL_CAM_RENAME, "is", id, name), "rename camera"));
}

int cv_store_camera_remove(cv_store *s, const cv_id *id)
{
    if (!s || !id)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = cv__store_cascade(s, cam_remove_sql, CV_ARRAY_LEN(cam_remove_sql), id, cv_wall_us());
    if (res == 0)
        res = -ENOENT;
    return cv__store_end(s, res < 0 ? res : 0);
}
