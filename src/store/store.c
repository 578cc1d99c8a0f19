#define CV_LOG_MODULE "store"

#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

/* A fresh 128-bit id colliding even once is astronomically unlikely; more
 * than a handful of collisions in a row means the RNG is broken. */
#define ADD_MAX_ATTEMPTS 8

#define NAME_MAX_LEN (sizeof(((cv_camera_rec *)0)->name) - 1)
#define URL_MAX_LEN (sizeof(((cv_camera_rec *)0)->pull_url) - 1)

/* Schema migrations. Entry i takes the database from user_version i to i+1;
 * never edit a released entry, append a new one instead (users, homes,
 * grants, audit...). Each runs inside the same IMMEDIATE transaction as the
 * user_version bump, so a crash or a concurrent opener never sees half a
 * schema. */
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
};

#define SCHEMA_VERSION ((int)CV_ARRAY_LEN(migrations))

enum {
    ST_CAM_ADD,
    ST_CAM_GET,
    ST_CAM_FIND_NAME,
    ST_CAM_LIST,
    ST_CAM_REMOVE,
    ST_DATA_VERSION,
    ST__COUNT,
};

#define CAM_COLS "id, name, source, pull_url, pull_transport, created_us"

static const char *const stmt_sql[ST__COUNT] = {
    [ST_CAM_ADD] = "INSERT INTO cameras (id, name, source, pull_url, pull_transport, created_us)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_CAM_GET] = "SELECT " CAM_COLS " FROM cameras WHERE id = ?1 AND removed_us IS NULL",
    [ST_CAM_FIND_NAME] = "SELECT " CAM_COLS " FROM cameras WHERE name = ?1 AND removed_us IS NULL",
    [ST_CAM_LIST] = "SELECT " CAM_COLS " FROM cameras WHERE removed_us IS NULL"
                    " ORDER BY created_us, rowid",
    [ST_CAM_REMOVE] = "UPDATE cameras SET removed_us = ?2 WHERE id = ?1 AND removed_us IS NULL",
    [ST_DATA_VERSION] = "PRAGMA data_version",
};

struct cv_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST__COUNT];
};

/* Logs the connection's last SQLite error and returns -EIO. */
static int db_fail(sqlite3 *db, const void *who, const char *what)
{
    CV_ERROR("%p: %s: %s (%d)", who, what, sqlite3_errmsg(db), sqlite3_extended_errcode(db));
    return -EIO;
}

/* Every statement is reset after use so it holds no read transaction open
 * (which would pin the WAL and hide other connections' commits). */
static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
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

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF) with
 * no C0/C1 control characters, DEL or the characters above. */
static bool name_valid(const char *p, size_t len)
{
    if (len < 1 || len > NAME_MAX_LEN)
        return false;
    const uint8_t *s = (const uint8_t *)p, *end = s + len;
    while (s < end) {
        uint32_t cp;
        size_t n;
        uint8_t c = s[0];
        if (c < 0x80) {
            cp = c;
            n = 1;
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
            return false;
        }
        if ((size_t)(end - s) < n)
            return false;
        for (size_t i = 1; i < n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i] & 0x3fu);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        if (cp >= 0xd800 && cp <= 0xdfff)
            return false;
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
            return false;
        if (!printable_format(cp))
            return false;
        s += n;
    }
    return true;
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

static int rec_validate(const cv_camera_rec *in, size_t *name_len, size_t *url_len)
{
    *name_len = strnlen(in->name, sizeof(in->name));
    *url_len = strnlen(in->pull_url, sizeof(in->pull_url));
    if (!name_valid(in->name, *name_len))
        return -EINVAL;
    if ((int)in->pull_transport < CV_PULL_AUTO || (int)in->pull_transport > CV_PULL_UDP)
        return -EINVAL;
    switch (in->source) {
    case CV_CAM_PUSH:
        return *url_len == 0 ? 0 : -EINVAL;
    case CV_CAM_PULL:
        return url_valid(in->pull_url, *url_len) ? 0 : -EINVAL;
    }
    return -EINVAL;
}

/* Copies a row from a CAM_COLS statement into out. The file may have been
 * edited by hand, so every column is checked against the record's bounds. */
static int row_read(cv_store *s, sqlite3_stmt *st, cv_camera_rec *out)
{
    memset(out, 0, sizeof(*out));
    const void *id = sqlite3_column_blob(st, 0);
    int id_len = sqlite3_column_bytes(st, 0);
    const unsigned char *name = sqlite3_column_text(st, 1);
    int name_len = sqlite3_column_bytes(st, 1);
    int64_t source = sqlite3_column_int64(st, 2);
    const unsigned char *url = sqlite3_column_text(st, 3);
    int url_len = sqlite3_column_bytes(st, 3);
    int64_t transport = sqlite3_column_int64(st, 4);

    if (!id || id_len != CV_ID_BYTES || !name || name_len < 1 ||
        (size_t)name_len > NAME_MAX_LEN || (url_len > 0 && !url) ||
        url_len < 0 || (size_t)url_len > URL_MAX_LEN ||
        (source != CV_CAM_PUSH && source != CV_CAM_PULL) ||
        transport < CV_PULL_AUTO || transport > CV_PULL_UDP) {
        CV_ERROR("%p: malformed camera row", (void *)s);
        return -EIO;
    }
    memcpy(out->id.b, id, CV_ID_BYTES);
    memcpy(out->name, name, (size_t)name_len);
    out->source = (cv_cam_source)source;
    if (url_len > 0)
        memcpy(out->pull_url, url, (size_t)url_len);
    out->pull_transport = (cv_pull_transport)transport;
    out->created_us = sqlite3_column_int64(st, 5);
    return 0;
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
    for (int i = 0; i < ST__COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                               &s->st[i], NULL) != SQLITE_OK) {
            res = db_fail(s->db, s, "prepare");
            goto err_close;
        }
    }
    *out = s;
    return 0;

err_close:
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
err_free:
    free(s);
    return res;
}

void cv_store_close(cv_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    if (sqlite3_close(s->db) != SQLITE_OK)
        db_fail(s->db, s, "close");
    free(s);
}

int cv_store_camera_add(cv_store *s, const cv_camera_rec *in, cv_id *out_id)
{
    size_t name_len, url_len;
    int res;

    if (!s || !in)
        return -EINVAL;
    if ((res = rec_validate(in, &name_len, &url_len)) < 0)
        return res;

    sqlite3_stmt *st = s->st[ST_CAM_ADD];
    for (int attempt = 0; attempt < ADD_MAX_ATTEMPTS; attempt++) {
        cv_id id;
        cv_id_random(&id);
        if (sqlite3_bind_blob(st, 1, id.b, CV_ID_BYTES, SQLITE_TRANSIENT) != SQLITE_OK ||
            sqlite3_bind_text(st, 2, in->name, (int)name_len, SQLITE_TRANSIENT) != SQLITE_OK ||
            sqlite3_bind_int(st, 3, (int)in->source) != SQLITE_OK ||
            sqlite3_bind_text(st, 4, in->pull_url, (int)url_len, SQLITE_TRANSIENT) != SQLITE_OK ||
            sqlite3_bind_int(st, 5, (int)in->pull_transport) != SQLITE_OK ||
            sqlite3_bind_int64(st, 6, cv_wall_us()) != SQLITE_OK) {
            res = db_fail(s->db, s, "bind camera");
            done(st);
            return res;
        }
        int rc = sqlite3_step(st);
        done(st);
        if (rc == SQLITE_DONE) {
            if (out_id)
                *out_id = id;
            return 0;
        }
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
            CV_WARN("%p: camera id collision, retrying", (void *)s);
            continue;
        }
        /* The only UNIQUE constraint besides the key is the live-name index. */
        if (rc == SQLITE_CONSTRAINT_UNIQUE)
            return -EEXIST;
        return db_fail(s->db, s, "insert camera");
    }
    CV_ERROR("%p: %d camera id collisions in a row; is the RNG broken?", (void *)s,
             ADD_MAX_ATTEMPTS);
    return -EIO;
}

/* Steps a single-row lookup that has its parameters bound. */
static int lookup_one(cv_store *s, sqlite3_stmt *st, cv_camera_rec *out, const char *what)
{
    int res;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        cv_camera_rec tmp;
        res = row_read(s, st, &tmp);
        if (res == 0 && out)
            *out = tmp;
    } else if (rc == SQLITE_DONE) {
        res = -ENOENT;
    } else {
        res = db_fail(s->db, s, what);
    }
    done(st);
    return res;
}

int cv_store_camera_get(cv_store *s, const cv_id *id, cv_camera_rec *out)
{
    if (!s || !id)
        return -EINVAL;
    sqlite3_stmt *st = s->st[ST_CAM_GET];
    if (sqlite3_bind_blob(st, 1, id->b, CV_ID_BYTES, SQLITE_TRANSIENT) != SQLITE_OK) {
        int res = db_fail(s->db, s, "bind id");
        done(st);
        return res;
    }
    return lookup_one(s, st, out, "get camera");
}

int cv_store_camera_find_name(cv_store *s, const char *name, cv_camera_rec *out)
{
    if (!s || !name)
        return -EINVAL;
    /* Anything longer than a valid name cannot match; also bounds the bind. */
    size_t len = strnlen(name, NAME_MAX_LEN + 1);
    if (len == 0 || len > NAME_MAX_LEN)
        return -ENOENT;
    sqlite3_stmt *st = s->st[ST_CAM_FIND_NAME];
    if (sqlite3_bind_text(st, 1, name, (int)len, SQLITE_TRANSIENT) != SQLITE_OK) {
        int res = db_fail(s->db, s, "bind name");
        done(st);
        return res;
    }
    return lookup_one(s, st, out, "find camera");
}

int cv_store_camera_list(cv_store *s, cv_camera_rec **out, size_t *n)
{
    cv_camera_rec *arr = NULL;
    size_t len = 0, cap = 0;
    int res = 0, rc;

    if (!s || !out || !n)
        return -EINVAL;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = s->st[ST_CAM_LIST];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16, bytes;
            if (__builtin_mul_overflow(ncap, sizeof(*arr), &bytes)) {
                res = -ENOMEM;
                goto err;
            }
            cv_camera_rec *p = realloc(arr, bytes);
            if (!p) {
                res = -ENOMEM;
                goto err;
            }
            arr = p;
            cap = ncap;
        }
        if ((res = row_read(s, st, &arr[len])) < 0)
            goto err;
        len++;
    }
    if (rc != SQLITE_DONE) {
        res = db_fail(s->db, s, "list cameras");
        goto err;
    }
    done(st);
    if (len == 0) {
        free(arr);
        arr = NULL;
    }
    *out = arr;
    *n = len;
    return 0;
err:
    done(st);
    free(arr);
    return res;
}

int cv_store_camera_remove(cv_store *s, const cv_id *id)
{
    int res;

    if (!s || !id)
        return -EINVAL;
    sqlite3_stmt *st = s->st[ST_CAM_REMOVE];
    if (sqlite3_bind_blob(st, 1, id->b, CV_ID_BYTES, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, cv_wall_us()) != SQLITE_OK) {
        res = db_fail(s->db, s, "bind id");
        done(st);
        return res;
    }
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        res = sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
    else
        res = db_fail(s->db, s, "remove camera");
    done(st);
    return res;
}

int64_t cv_store_data_version(cv_store *s)
{
    int64_t v;

    if (!s)
        return -EINVAL;
    sqlite3_stmt *st = s->st[ST_DATA_VERSION];
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        v = db_fail(s->db, s, "data_version");
    done(st);
    return v;
}
