/* Capability token records, app passwords and web sessions: stored only as
 * hashes or sealed strings that the store never interprets. */
#define CV_LOG_MODULE "store"

#include "store/secrets.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "store/people.h"
#include "store/store_int.h"

#define LABEL_MAX (sizeof(((cv_apppw_rec *)0)->label) - 1)
#define APPPW_SEALED_MAX (sizeof(((cv_apppw_rec *)0)->sealed) - 1)

/* ----------------------------------------------------------------- tokens */

#define TOKEN_COLS \
    "hash, camera, principal_kind, principal, scopes, expires_us, created_us, revoked_us IS NOT NULL"

/* A token is recorded only while what it depends on still stands: a live
 * camera and, for a user, a live enabled account. Together with the
 * cascades, a token can never be recorded just after its revocation. */
static const char SQL_TOKEN_ADD[] =
    "INSERT INTO tokens (hash, camera, principal_kind, principal, scopes, expires_us, created_us)"
    " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7"
    " WHERE EXISTS (SELECT 1 FROM cameras WHERE id = ?2 AND removed_us IS NULL)"
    " AND (?3 <> 1 OR ?4 = zeroblob(16)"  /* the all-zero user is the local administrator (CLI) */
    "      OR EXISTS (SELECT 1 FROM users WHERE id = ?4 AND removed_us IS NULL AND disabled = 0))";
static const char SQL_TOKEN_REVOKE[] =
    "UPDATE tokens SET revoked_us = coalesce(revoked_us, ?2) WHERE hash = ?1";
static const char SQL_TOKEN_REVOKE_FOR[] =
    "UPDATE tokens SET revoked_us = ?3 WHERE principal = ?1 AND (?2 IS NULL OR camera = ?2)"
    " AND revoked_us IS NULL AND expires_us > ?3";
static const char SQL_TOKEN_GET[] = "SELECT " TOKEN_COLS " FROM tokens WHERE hash = ?1";
static const char SQL_TOKEN_LIST[] =
    "SELECT " TOKEN_COLS " FROM tokens WHERE expires_us > ?3 AND (?1 IS NULL OR camera = ?1)"
    " AND (?2 IS NULL OR principal = ?2) ORDER BY created_us DESC, rowid DESC";
static const char SQL_TOKEN_REVOKED[] =
    "SELECT hash FROM tokens WHERE revoked_us IS NOT NULL AND expires_us > ?1 ORDER BY hash";
static const char SQL_TOKEN_PRUNE[] = "DELETE FROM tokens WHERE expires_us < ?1";

static bool scopes_valid(int64_t scopes)
{
    return scopes > 0 && (scopes & ~(int64_t)CV_SCOPE_ALL) == 0;
}

static int token_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_token_rec *out = p;
    memset(out, 0, sizeof(*out));
    int64_t kind = sqlite3_column_int64(st, 2), scopes = sqlite3_column_int64(st, 4);
    if (cv__col_blob(st, 0, out->hash, CV_HASH_BYTES) < 0 || cv__col_blob(st, 1, out->camera.b, CV_ID_BYTES) < 0 ||
        cv__col_blob(st, 3, out->principal.b, CV_ID_BYTES) < 0 || (kind != 1 && kind != 2) ||
        !scopes_valid(scopes)) {
        CV_ERROR("%p: malformed token row", (void *)s);
        memset(out, 0, sizeof(*out));
        return -EIO;
    }
    out->principal_kind = (uint8_t)kind;
    out->scopes = (uint32_t)scopes;
    out->expires_us = sqlite3_column_int64(st, 5);
    out->created_us = sqlite3_column_int64(st, 6);
    out->revoked = sqlite3_column_int(st, 7) != 0;
    return 0;
}

static int hash_row(cv_store *s, sqlite3_stmt *st, void *out)
{
    if (cv__col_blob(st, 0, out, CV_HASH_BYTES) < 0) {
        CV_ERROR("%p: malformed token hash", (void *)s);
        return -EIO;
    }
    return 0;
}

int cv_store_token_add(cv_store *s, const cv_token_rec *in)
{
    if (!s || !in || (in->principal_kind != 1 && in->principal_kind != 2) || !scopes_valid(in->scopes))
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_TOKEN_ADD, "hidiIII", in->hash, &in->camera, (int)in->principal_kind,
                                      &in->principal, (int64_t)in->scopes, in->expires_us, cv_wall_us());
    return cv__store_changed(cv__store_exec(s, st, "add token"));
}

int cv_store_token_revoke(cv_store *s, const uint8_t hash[CV_HASH_BYTES])
{
    if (!s || !hash)
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_TOKEN_REVOKE, "hI", hash, cv_wall_us());
    return cv__store_changed(cv__store_exec(s, st, "revoke token"));
}

int cv_store_token_revoke_for(cv_store *s, const cv_id *principal, const cv_id *camera)
{
    if (!s || !principal)
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_TOKEN_REVOKE_FOR, "iiI", principal, camera, cv_wall_us());
    int res = cv__store_exec(s, st, "revoke tokens");
    return res < 0 ? res : 0;
}

int cv_store_token_get(cv_store *s, const uint8_t hash[CV_HASH_BYTES], cv_token_rec *out)
{
    if (!s || !hash)
        return -EINVAL;
    return cv__store_one(s, cv__store_prep(s, SQL_TOKEN_GET, "h", hash), token_row, out, sizeof(*out),
                         "get token");
}

int cv_store_token_list(cv_store *s, const cv_id *camera, const cv_id *principal, int64_t now_us,
                        cv_token_rec **out, size_t *n)
{
    if (!s || !out || !n)
        return -EINVAL;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_TOKEN_LIST, "iiI", camera, principal, now_us), token_row,
                             sizeof(**out), SIZE_MAX, &arr, n, "list tokens");
    *out = arr;
    return res;
}

int cv_store_token_revoked(cv_store *s, int64_t now_us, uint8_t **out, size_t *n)
{
    if (!s || !out || !n)
        return -EINVAL;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_TOKEN_REVOKED, "I", now_us), hash_row, CV_HASH_BYTES,
                             SIZE_MAX, &arr, n, "revoked tokens");
    *out = arr;
    return res;
}

int cv_store_token_prune(cv_store *s, int64_t before_us)
{
    if (!s)
        return -EINVAL;
    int res = cv__store_exec(s, cv__store_prep(s, SQL_TOKEN_PRUNE, "I", before_us), "prune tokens");
    return res < 0 ? res : 0;
}

/* ---------------------------------------------------------- app passwords */

static const char SQL_APPPW_ADD[] =
    "INSERT INTO app_passwords (id, user, label, sealed, created_us) SELECT ?1, ?2, ?3, ?4, ?5"
    " WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2 AND removed_us IS NULL)";
static const char SQL_APPPW_LIST[] =
    "SELECT id, user, label, sealed, created_us FROM app_passwords"
    " WHERE user = ?1 AND removed_us IS NULL ORDER BY created_us, rowid";
/* The tombstone keeps the id reserved but not the sealed password. */
static const char SQL_APPPW_REMOVE[] =
    "UPDATE app_passwords SET removed_us = ?3, sealed = '' WHERE user = ?1 AND id = ?2 AND removed_us IS NULL";

static int apppw_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_apppw_rec *out = p;
    memset(out, 0, sizeof(*out));
    if (cv__col_blob(st, 0, out->id.b, CV_ID_BYTES) < 0 || cv__col_blob(st, 1, out->user.b, CV_ID_BYTES) < 0 ||
        cv__col_text(st, 2, out->label, sizeof(out->label)) < 0 ||
        cv__col_text(st, 3, out->sealed, sizeof(out->sealed)) < 0) {
        CV_ERROR("%p: malformed app password row", (void *)s);
        memset(out, 0, sizeof(*out));
        return -EIO;
    }
    out->created_us = sqlite3_column_int64(st, 4);
    return 0;
}

int cv_store_apppw_add(cv_store *s, const cv_id *user, const char *label, const char *sealed, cv_id *out)
{
    size_t label_len, sealed_len;
    if (!s || !user || cv__str_len(label, 1, LABEL_MAX, &label_len) < 0 || !cv__text_valid(label, label_len) ||
        cv__str_len(sealed, 1, APPPW_SEALED_MAX, &sealed_len) < 0 || !cv__ascii_valid(sealed, sealed_len))
        return -EINVAL;
    bool chosen = out && !cv_id_is_zero(out);
    if (!chosen)
        return cv__store_insert_id(s, cv__store_prep(s, SQL_APPPW_ADD, "-issI", user, label, sealed, cv_wall_us()),
                                   out, "insert app password");
    sqlite3_stmt *st = cv__store_prep(s, SQL_APPPW_ADD, "iissI", out, user, label, sealed, cv_wall_us());
    /* A chosen id (the sealed value is bound to it) that was ever used is -EEXIST. */
    return cv__store_changed(cv__store_exec(s, st, "insert app password"));
}

int cv_store_apppw_list(cv_store *s, const cv_id *user, cv_apppw_rec **out, size_t *n)
{
    if (!s || !user || !out || !n)
        return -EINVAL;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_APPPW_LIST, "i", user), apppw_row, sizeof(**out), SIZE_MAX,
                             &arr, n, "list app passwords");
    *out = arr;
    return res;
}

int cv_store_apppw_remove(cv_store *s, const cv_id *user, const cv_id *id)
{
    if (!s || !user || !id)
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_APPPW_REMOVE, "iiI", user, id, cv_wall_us());
    return cv__store_changed(cv__store_exec(s, st, "remove app password"));
}

/* ----------------------------------------------------- web / API sessions */

static const char SQL_WS_ADD[] =
    "INSERT INTO websessions (hash, user, created_us, expires_us) SELECT ?1, ?2, ?3, ?4"
    " WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2 AND removed_us IS NULL AND disabled = 0)";
static const char SQL_WS_GET[] =
    "SELECT w.hash, w.user, w.created_us, w.expires_us FROM websessions AS w JOIN users AS u ON u.id = w.user"
    " WHERE w.hash = ?1 AND w.expires_us > ?2 AND u.removed_us IS NULL AND u.disabled = 0";
static const char SQL_WS_REMOVE[] = "DELETE FROM websessions WHERE hash = ?1";
static const char SQL_WS_PRUNE[] = "DELETE FROM websessions WHERE expires_us < ?1";
static const char SQL_WS_REMOVE_USER[] = "DELETE FROM websessions WHERE user = ?1";

static int ws_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_websession_rec *out = p;
    memset(out, 0, sizeof(*out));
    if (cv__col_blob(st, 0, out->hash, CV_HASH_BYTES) < 0 || cv__col_blob(st, 1, out->user.b, CV_ID_BYTES) < 0) {
        CV_ERROR("%p: malformed web session row", (void *)s);
        memset(out, 0, sizeof(*out));
        return -EIO;
    }
    out->created_us = sqlite3_column_int64(st, 2);
    out->expires_us = sqlite3_column_int64(st, 3);
    return 0;
}

int cv_store_websession_add(cv_store *s, const cv_websession_rec *in)
{
    if (!s || !in)
        return -EINVAL;
    int64_t now = cv_wall_us();
    if (in->expires_us <= now)
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_WS_ADD, "hiII", in->hash, &in->user, now, in->expires_us);
    return cv__store_changed(cv__store_exec(s, st, "add web session"));
}

int cv_store_websession_get(cv_store *s, const uint8_t hash[CV_HASH_BYTES], int64_t now_us, cv_websession_rec *out)
{
    if (!s || !hash)
        return -EINVAL;
    return cv__store_one(s, cv__store_prep(s, SQL_WS_GET, "hI", hash, now_us), ws_row, out, sizeof(*out),
                         "get web session");
}

int cv_store_websession_remove_user(cv_store *s, const cv_id *user)
{
    if (!s || !user)
        return -EINVAL;
    int res = cv__store_exec(s, cv__store_prep(s, SQL_WS_REMOVE_USER, "i", user), "end a user's web sessions");
    return res < 0 ? res : 0;
}

int cv_store_websession_remove(cv_store *s, const uint8_t hash[CV_HASH_BYTES])
{
    if (!s || !hash)
        return -EINVAL;
    return cv__store_changed(cv__store_exec(s, cv__store_prep(s, SQL_WS_REMOVE, "h", hash), "remove web session"));
}

int cv_store_websession_prune(cv_store *s, int64_t before_us)
{
    if (!s)
        return -EINVAL;
    int res = cv__store_exec(s, cv__store_prep(s, SQL_WS_PRUNE, "I", before_us), "prune web sessions");
    return res < 0 ? res : 0;
}
