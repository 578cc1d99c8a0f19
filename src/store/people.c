/* Users, homes, memberships, guest grants and the access decision. */
#define CV_LOG_MODULE "store"

#include "store/people.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "store/store_int.h"

#define HOME_NAME_MAX (sizeof(((cv_home_rec *)0)->name) - 1)

/* ------------------------------------------------------------------ roles */

const char *cv_role_name(cv_role r)
{
    switch (r) {
    case CV_ROLE_OWNER:
        return "owner";
    case CV_ROLE_MEMBER:
        return "member";
    case CV_ROLE_VIEWER:
        return "viewer";
    case CV_ROLE_NONE:
        break;
    }
    return "none";
}

int cv_role_parse(const char *name, cv_role *out)
{
    static const cv_role roles[] = {CV_ROLE_VIEWER, CV_ROLE_MEMBER, CV_ROLE_OWNER};
    if (!name || !out)
        return -EINVAL;
    for (size_t i = 0; i < CV_ARRAY_LEN(roles); i++) {
        if (strcmp(name, cv_role_name(roles[i])) == 0) {
            *out = roles[i];
            return 0;
        }
    }
    return -EINVAL;
}

/* ------------------------------------------------------------------ users */

#define USER_COLS "id, login, admin, disabled, totp_enabled, created_us"
#define USER_LIVE "id = ?1 AND removed_us IS NULL"

static const char SQL_USER_ADD[] =
    "INSERT INTO users (id, login, pw_hash, admin, created_us) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_USER_GET[] = "SELECT " USER_COLS " FROM users WHERE " USER_LIVE;
/* COLLATE NOCASE matches the unique index, which the lookup then uses. */
static const char SQL_USER_FIND[] =
    "SELECT " USER_COLS ", pw_hash FROM users WHERE login = ?1 COLLATE NOCASE AND removed_us IS NULL";
static const char SQL_USER_LIST[] =
    "SELECT " USER_COLS " FROM users WHERE removed_us IS NULL ORDER BY login COLLATE NOCASE, login";
static const char SQL_USER_SET_PW[] = "UPDATE users SET pw_hash = ?2 WHERE " USER_LIVE;
static const char SQL_USER_SET_ADMIN[] = "UPDATE users SET admin = ?2 WHERE " USER_LIVE;
static const char SQL_USER_ENABLE[] = "UPDATE users SET disabled = 0 WHERE " USER_LIVE;
static const char SQL_USER_SET_TOTP[] =
    "UPDATE users SET totp_sealed = ?2, totp_enabled = ?3 WHERE " USER_LIVE;
static const char SQL_USER_GET_TOTP[] = "SELECT totp_sealed FROM users WHERE " USER_LIVE;
static const char SQL_USER_TOTP_STEP[] = "SELECT totp_step FROM users WHERE " USER_LIVE;
static const char SQL_USER_SET_STEP[] =
    "UPDATE users SET totp_step = ?2 WHERE " USER_LIVE " AND totp_step < ?2";

#define REVOKE_USER_TOKENS \
    "UPDATE tokens SET revoked_us = ?2 WHERE principal_kind = 1 AND principal = ?1 AND revoked_us IS NULL"

static const char *const user_disable_sql[] = {
    ("UPDATE users SET disabled = 1 WHERE " USER_LIVE),
    "DELETE FROM websessions WHERE user = ?1",
    REVOKE_USER_TOKENS,
};

/* The tombstone keeps the login (audit trail) but frees it for a new user,
 * and drops the password hash and TOTP seed. */
static const char *const user_remove_sql[] = {
    ("UPDATE users SET removed_us = ?2, pw_hash = '', totp_sealed = NULL, totp_enabled = 0"
     " WHERE " USER_LIVE),
    "DELETE FROM members WHERE user = ?1",
    "UPDATE grants SET removed_us = ?2 WHERE user = ?1 AND removed_us IS NULL",
    "UPDATE app_passwords SET removed_us = ?2, sealed = '' WHERE user = ?1 AND removed_us IS NULL",
    "DELETE FROM websessions WHERE user = ?1",
    REVOKE_USER_TOKENS,
};

static int user_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_user_rec *out = p;
    memset(out, 0, sizeof(*out));
    if (cv__col_blob(st, 0, out->id.b, CV_ID_BYTES) < 0 ||
        cv__col_text(st, 1, out->login, sizeof(out->login)) < 0 || !out->login[0]) {
        CV_ERROR("%p: malformed user row", (void *)s);
        memset(out, 0, sizeof(*out));
        return -EIO;
    }
    out->admin = sqlite3_column_int(st, 2) != 0;
    out->disabled = sqlite3_column_int(st, 3) != 0;
    out->totp_enabled = sqlite3_column_int(st, 4) != 0;
    out->created_us = sqlite3_column_int64(st, 5);
    return 0;
}

typedef struct {
    cv_user_rec user;
    char pw_hash[CV_PW_HASH_CAP];
} user_with_hash;

static int user_hash_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    user_with_hash *out = p;
    int res = user_row(s, st, &out->user);
    if (res == 0 && cv__col_text(st, 6, out->pw_hash, sizeof(out->pw_hash)) < 0) {
        CV_ERROR("%p: malformed user row", (void *)s);
        res = -EIO;
    }
    return res;
}

static int pw_hash_valid(const char *pw_hash)
{
    size_t len;
    if (cv__str_len(pw_hash, 1, CV__PW_HASH_MAX, &len) < 0 || !cv__ascii_valid(pw_hash, len))
        return -EINVAL;
    return 0;
}

int cv_store_user_add(cv_store *s, const char *login, const char *pw_hash, bool admin, cv_id *out)
{
    size_t len;
    if (!s || cv__str_len(login, 1, CV_LOGIN_MAX, &len) < 0 || !cv__login_valid(login, len) ||
        pw_hash_valid(pw_hash) < 0)
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_USER_ADD, "-ssdI", login, pw_hash, admin ? 1 : 0, cv_wall_us());
    return cv__store_insert_id(s, st, out, "insert user");
}

int cv_store_user_get(cv_store *s, const cv_id *id, cv_user_rec *out)
{
    if (!s || !id)
        return -EINVAL;
    return cv__store_one(s, cv__store_prep(s, SQL_USER_GET, "i", id), user_row, out, sizeof(*out), "get user");
}

int cv_store_user_find(cv_store *s, const char *login, cv_user_rec *out, char pw_hash[CV_PW_HASH_CAP])
{
    size_t len;
    if (!s || !login)
        return -EINVAL;
    if (cv__str_len(login, 1, CV_LOGIN_MAX, &len) < 0 || !cv__login_valid(login, len))
        return -ENOENT;
    user_with_hash tmp;
    int res = cv__store_one(s, cv__store_prep(s, SQL_USER_FIND, "s", login), user_hash_row, &tmp, sizeof(tmp),
                            "find user");
    if (out)
        *out = tmp.user;
    if (pw_hash)
        memcpy(pw_hash, tmp.pw_hash, CV_PW_HASH_CAP);
    explicit_bzero(tmp.pw_hash, sizeof(tmp.pw_hash));
    return res;
}

int cv_store_user_list(cv_store *s, cv_user_rec **out, size_t *n)
{
    if (!s || !out || !n)
        return -EINVAL;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_USER_LIST, ""), user_row, sizeof(**out), SIZE_MAX, &arr,
                             n, "list users");
    *out = arr;
    return res;
}

int cv_store_user_set_password(cv_store *s, const cv_id *id, const char *pw_hash)
{
    if (!s || !id || pw_hash_valid(pw_hash) < 0)
        return -EINVAL;
    return cv__store_changed(cv__store_exec(s, cv__store_prep(s, SQL_USER_SET_PW, "is", id, pw_hash),
                                            "set password"));
}

int cv_store_user_set_admin(cv_store *s, const cv_id *id, bool admin)
{
    if (!s || !id)
        return -EINVAL;
    return cv__store_changed(cv__store_exec(s, cv__store_prep(s, SQL_USER_SET_ADMIN, "id", id, admin ? 1 : 0),
                                            "set admin"));
}

int cv_store_user_set_disabled(cv_store *s, const cv_id *id, bool disabled)
{
    if (!s || !id)
        return -EINVAL;
    if (!disabled)
        return cv__store_changed(cv__store_exec(s, cv__store_prep(s, SQL_USER_ENABLE, "i", id), "enable user"));
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = cv__store_cascade(s, user_disable_sql, CV_ARRAY_LEN(user_disable_sql), id, cv_wall_us());
    return cv__store_end(s, cv__store_changed(res));
}

int cv_store_user_set_totp(cv_store *s, const cv_id *id, const char *sealed, bool enabled)
{
    size_t len;
    if (!s || !id || (!sealed && enabled))
        return -EINVAL;
    if (sealed && (cv__str_len(sealed, 1, CV__SEALED_SMALL_MAX, &len) < 0 || !cv__ascii_valid(sealed, len)))
        return -EINVAL;
    return cv__store_changed(cv__store_exec(
        s, cv__store_prep(s, SQL_USER_SET_TOTP, "isd", id, sealed, enabled ? 1 : 0), "set totp"));
}

int cv_store_user_get_totp(cv_store *s, const cv_id *id, char *out, size_t cap)
{
    if (!s || !id || !out || cap == 0)
        return -EINVAL;
    out[0] = '\0';
    sqlite3_stmt *st = cv__store_prep(s, SQL_USER_GET_TOTP, "i", id);
    if (!st)
        return -EIO;
    int res, rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const unsigned char *p = sqlite3_column_text(st, 0);
        res = !p ? -EIO : n >= cap ? -ENOSPC : 0;
        if (res == 0)
            memcpy(out, p, n + 1);
    } else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        res = -ENOENT;
    } else {
        res = cv__store_fail(s, "get totp");
    }
    cv__store_done(st);
    return res;
}

int cv_store_user_totp_step(cv_store *s, const cv_id *id, int64_t *last_step)
{
    if (!s || !id || !last_step)
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_USER_TOTP_STEP, "i", id);
    if (!st)
        return -EIO;
    int res, rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *last_step = sqlite3_column_int64(st, 0);
        res = 0;
    } else {
        res = rc == SQLITE_DONE ? -ENOENT : cv__store_fail(s, "totp step");
    }
    cv__store_done(st);
    return res;
}

int cv_store_user_set_totp_step(cv_store *s, const cv_id *id, int64_t step)
{
    if (!s || !id)
        return -EINVAL;
    int res = cv__store_exec(s, cv__store_prep(s, SQL_USER_SET_STEP, "iI", id, step), "set totp step");
    if (res != 0)
        return res < 0 ? res : 0;
    /* Nothing changed: no such user, or the step was already used (a replay
     * racing the first use of the same code). */
    res = cv_store_user_get(s, id, NULL);
    return res == 0 ? -EALREADY : res;
}

int cv_store_user_remove(cv_store *s, const cv_id *id)
{
    if (!s || !id)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = cv__store_cascade(s, user_remove_sql, CV_ARRAY_LEN(user_remove_sql), id, cv_wall_us());
    return cv__store_end(s, cv__store_changed(res));
}

/* ------------------------------------------------------------------ homes */

#define HOME_COLS "id, name, created_us"

static const char SQL_HOME_ADD[] = "INSERT INTO homes (id, name, created_us) VALUES (?1, ?2, ?3)";
static const char SQL_HOME_GET[] = "SELECT " HOME_COLS " FROM homes WHERE id = ?1 AND removed_us IS NULL";
static const char SQL_HOME_FIND[] =
    "SELECT " HOME_COLS " FROM homes WHERE name = ?1 AND removed_us IS NULL";
static const char SQL_HOME_LIST[] =
    "SELECT " HOME_COLS " FROM homes WHERE removed_us IS NULL"
    " AND (?1 IS NULL OR id IN (SELECT home FROM members WHERE user = ?1))"
    " ORDER BY created_us, rowid";

#define HOME_CAMERAS "(SELECT id FROM cameras WHERE home = ?1)"

static const char *const home_remove_sql[] = {
    "UPDATE homes SET removed_us = ?2 WHERE id = ?1 AND removed_us IS NULL",
    ("UPDATE grants SET removed_us = ?2 WHERE removed_us IS NULL AND camera IN " HOME_CAMERAS),
    ("UPDATE tokens SET revoked_us = ?2 WHERE revoked_us IS NULL AND camera IN " HOME_CAMERAS),
    ("UPDATE cameras SET " CV__CAM_TOMBSTONE " WHERE home = ?1 AND removed_us IS NULL"),
    "DELETE FROM members WHERE home = ?1",
};

static int home_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_home_rec *out = p;
    memset(out, 0, sizeof(*out));
    if (cv__col_blob(st, 0, out->id.b, CV_ID_BYTES) < 0 || cv__col_text(st, 1, out->name, sizeof(out->name)) < 0 ||
        !out->name[0]) {
        CV_ERROR("%p: malformed home row", (void *)s);
        memset(out, 0, sizeof(*out));
        return -EIO;
    }
    out->created_us = sqlite3_column_int64(st, 2);
    return 0;
}

int cv_store_home_add(cv_store *s, const char *name, cv_id *out)
{
    size_t len;
    if (!s || cv__str_len(name, 1, HOME_NAME_MAX, &len) < 0 || !cv__text_valid(name, len))
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_HOME_ADD, "-sI", name, cv_wall_us());
    return cv__store_insert_id(s, st, out, "insert home");
}

int cv_store_home_get(cv_store *s, const cv_id *id, cv_home_rec *out)
{
    if (!s || !id)
        return -EINVAL;
    return cv__store_one(s, cv__store_prep(s, SQL_HOME_GET, "i", id), home_row, out, sizeof(*out), "get home");
}

int cv_store_home_find_name(cv_store *s, const char *name, cv_home_rec *out)
{
    if (!s || !name)
        return -EINVAL;
    if (cv__str_len(name, 1, HOME_NAME_MAX, NULL) < 0)
        return -ENOENT;
    return cv__store_one(s, cv__store_prep(s, SQL_HOME_FIND, "s", name), home_row, out, sizeof(*out),
                         "find home");
}

int cv_store_home_list(cv_store *s, const cv_id *user, cv_home_rec **out, size_t *n)
{
    if (!s || !out || !n)
        return -EINVAL;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_HOME_LIST, "i", user), home_row, sizeof(**out), SIZE_MAX,
                             &arr, n, "list homes");
    *out = arr;
    return res;
}

int cv_store_home_remove(cv_store *s, const cv_id *id)
{
    if (!s || !id)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = cv__store_cascade(s, home_remove_sql, CV_ARRAY_LEN(home_remove_sql), id, cv_wall_us());
    return cv__store_end(s, cv__store_changed(res));
}

/* ---------------------------------------------------------------- members */

/* One statement: inserts or changes the role only if both home and user are
 * live, so "nothing changed" means -ENOENT. */
static const char SQL_MEMBER_SET[] =
    "INSERT INTO members (home, user, role, created_us) SELECT ?1, ?2, ?3, ?4"
    " WHERE EXISTS (SELECT 1 FROM homes WHERE id = ?1 AND removed_us IS NULL)"
    " AND EXISTS (SELECT 1 FROM users WHERE id = ?2 AND removed_us IS NULL)"
    " ON CONFLICT (home, user) DO UPDATE SET role = excluded.role";
static const char SQL_MEMBER_DEL[] = "DELETE FROM members WHERE home = ?1 AND user = ?2";
static const char SQL_MEMBER_REVOKE[] =
    "UPDATE tokens SET revoked_us = ?3 WHERE revoked_us IS NULL AND principal_kind = 1"
    " AND principal = ?2 AND camera IN " HOME_CAMERAS;
static const char SQL_MEMBER_LIST[] =
    "SELECT m.home, m.user, u.login, m.role FROM members AS m JOIN users AS u ON u.id = m.user"
    " WHERE m.home = ?1 AND u.removed_us IS NULL ORDER BY u.login COLLATE NOCASE, u.login";
static const char SQL_MEMBER_ROLE[] = "SELECT role FROM members WHERE home = ?1 AND user = ?2";

static bool role_valid(int64_t r)
{
    return r >= CV_ROLE_VIEWER && r <= CV_ROLE_OWNER;
}

static int member_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_member_rec *out = p;
    memset(out, 0, sizeof(*out));
    int64_t role = sqlite3_column_int64(st, 3);
    if (cv__col_blob(st, 0, out->home.b, CV_ID_BYTES) < 0 || cv__col_blob(st, 1, out->user.b, CV_ID_BYTES) < 0 ||
        cv__col_text(st, 2, out->login, sizeof(out->login)) < 0 || !role_valid(role)) {
        CV_ERROR("%p: malformed member row", (void *)s);
        memset(out, 0, sizeof(*out));
        return -EIO;
    }
    out->role = (cv_role)role;
    return 0;
}

int cv_store_member_set(cv_store *s, const cv_id *home, const cv_id *user, cv_role role)
{
    if (!s || !home || !user || !role_valid(role))
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_MEMBER_SET, "iidI", home, user, (int)role, cv_wall_us());
    return cv__store_changed(cv__store_exec(s, st, "set member"));
}

int cv_store_member_remove(cv_store *s, const cv_id *home, const cv_id *user)
{
    if (!s || !home || !user)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = cv__store_changed(cv__store_exec(s, cv__store_prep(s, SQL_MEMBER_DEL, "ii", home, user), "remove member"));
    if (res == 0) {
        sqlite3_stmt *st = cv__store_prep(s, SQL_MEMBER_REVOKE, "iiI", home, user, cv_wall_us());
        res = cv__store_exec(s, st, "revoke member tokens");
    }
    return cv__store_end(s, res < 0 ? res : 0);
}

int cv_store_member_list(cv_store *s, const cv_id *home, cv_member_rec **out, size_t *n)
{
    if (!s || !home || !out || !n)
        return -EINVAL;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_MEMBER_LIST, "i", home), member_row, sizeof(**out),
                             SIZE_MAX, &arr, n, "list members");
    *out = arr;
    return res;
}

int cv_store_member_role(cv_store *s, const cv_id *home, const cv_id *user, cv_role *out)
{
    if (!s || !home || !user || !out)
        return -EINVAL;
    *out = CV_ROLE_NONE;
    sqlite3_stmt *st = cv__store_prep(s, SQL_MEMBER_ROLE, "ii", home, user);
    if (!st)
        return -EIO;
    int res = 0, rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int64_t role = sqlite3_column_int64(st, 0);
        if (role_valid(role))
            *out = (cv_role)role;
        else
            res = -EIO;
    } else if (rc != SQLITE_DONE) {
        res = cv__store_fail(s, "member role");
    }
    cv__store_done(st);
    return res;
}

/* ----------------------------------------------------------------- grants */

#define GRANT_COLS                                                                      \
    "g.id, g.camera, g.user, u.login, g.scopes, g.expires_us, g.created_us"            \
    " FROM grants AS g JOIN users AS u ON u.id = g.user"
#define GRANT_COLS_CAM                                                                  \
    "g.id, g.camera, g.user, u.login, g.scopes, g.expires_us, g.created_us, c.name"    \
    " FROM grants AS g JOIN users AS u ON u.id = g.user"

static const char SQL_GRANT_ADD[] =
    "INSERT INTO grants (id, camera, user, scopes, expires_us, created_us) SELECT ?1, ?2, ?3, ?4, ?5, ?6"
    " WHERE EXISTS (SELECT 1 FROM cameras WHERE id = ?2 AND removed_us IS NULL)"
    " AND EXISTS (SELECT 1 FROM users WHERE id = ?3 AND removed_us IS NULL)";
static const char SQL_GRANT_GET[] = "SELECT " GRANT_COLS " WHERE g.id = ?1 AND g.removed_us IS NULL";
static const char SQL_GRANT_LIST[] =
    "SELECT " GRANT_COLS " WHERE g.removed_us IS NULL AND (?1 IS NULL OR g.camera = ?1)"
    " AND (?2 IS NULL OR g.user = ?2) ORDER BY g.created_us, g.rowid";

static const char *const grant_remove_sql[] = {
    "UPDATE grants SET removed_us = ?2 WHERE id = ?1 AND removed_us IS NULL",
    ("UPDATE tokens SET revoked_us = ?2 WHERE revoked_us IS NULL AND principal_kind = 1"
     " AND EXISTS (SELECT 1 FROM grants AS g WHERE g.id = ?1"
     " AND g.user = tokens.principal AND g.camera = tokens.camera)"),
};

static bool scopes_valid(int64_t scopes)
{
    return scopes > 0 && (scopes & ~(int64_t)CV_SCOPE_ALL) == 0;
}

static int grant_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_grant_rec *out = p;
    memset(out, 0, sizeof(*out));
    int64_t scopes = sqlite3_column_int64(st, 4);
    if (cv__col_blob(st, 0, out->id.b, CV_ID_BYTES) < 0 || cv__col_blob(st, 1, out->camera.b, CV_ID_BYTES) < 0 ||
        cv__col_blob(st, 2, out->user.b, CV_ID_BYTES) < 0 ||
        cv__col_text(st, 3, out->login, sizeof(out->login)) < 0 || !scopes_valid(scopes)) {
        CV_ERROR("%p: malformed grant row", (void *)s);
        memset(out, 0, sizeof(*out));
        return -EIO;
    }
    out->scopes = (uint32_t)scopes;
    out->expires_us = sqlite3_column_int64(st, 5);
    out->created_us = sqlite3_column_int64(st, 6);
    return 0;
}

int cv_store_grant_add(cv_store *s, const cv_grant_rec *in, cv_id *out)
{
    if (!s || !in)
        return -EINVAL;
    int64_t now = cv_wall_us();
    if (!scopes_valid(in->scopes) || in->expires_us <= now)
        return -EINVAL;
    sqlite3_stmt *st = cv__store_prep(s, SQL_GRANT_ADD, "-iidII", &in->camera, &in->user, (int)in->scopes,
                                      in->expires_us, now);
    return cv__store_insert_id(s, st, out, "insert grant");
}

int cv_store_grant_get(cv_store *s, const cv_id *id, cv_grant_rec *out)
{
    if (!s || !id)
        return -EINVAL;
    return cv__store_one(s, cv__store_prep(s, SQL_GRANT_GET, "i", id), grant_row, out, sizeof(*out), "get grant");
}

int cv_store_grant_list(cv_store *s, const cv_id *camera, const cv_id *user, cv_grant_rec **out, size_t *n)
{
    if (!s || !out || !n)
        return -EINVAL;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_GRANT_LIST, "ii", camera, user), grant_row, sizeof(**out),
                             SIZE_MAX, &arr, n, "list grants");
    *out = arr;
    return res;
}

/* Grant columns, then the camera's name. */
static const char SQL_GRANT_HOME[] =
    "SELECT " GRANT_COLS_CAM " JOIN cameras AS c ON c.id = g.camera"
    " WHERE c.home = ?1 AND c.removed_us IS NULL AND g.removed_us IS NULL AND g.expires_us > ?2"
    " ORDER BY g.created_us DESC, g.rowid DESC";

static int home_grant_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_home_grant_rec *out = p;
    int res = grant_row(s, st, &out->grant);
    if (res == 0 && (cv__col_text(st, 7, out->camera_name, sizeof(out->camera_name)) < 0 || !out->camera_name[0])) {
        CV_ERROR("%p: malformed grant row", (void *)s);
        res = -EIO;
    }
    if (res < 0)
        memset(out, 0, sizeof(*out));
    return res;
}

int cv_store_home_grants(cv_store *s, const cv_id *home, int64_t now_us, cv_home_grant_rec **out, size_t *n)
{
    if (!s || !home || !out || !n)
        return -EINVAL;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_GRANT_HOME, "iI", home, now_us), home_grant_row,
                             sizeof(**out), SIZE_MAX, &arr, n, "list home grants");
    *out = arr;
    return res;
}

int cv_store_grant_remove(cv_store *s, const cv_id *id)
{
    if (!s || !id)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = cv__store_cascade(s, grant_remove_sql, CV_ARRAY_LEN(grant_remove_sql), id, cv_wall_us());
    return cv__store_end(s, cv__store_changed(res));
}

/* ----------------------------------------------------------------- access */

#define USER_OK "u.removed_us IS NULL AND u.disabled = 0"

/* One row per source of access; the caller ORs them. A grant counts while
 * now < expires_us. */
static const char SQL_ACCESS[] =
    "SELECT ?4 FROM members AS m JOIN cameras AS c ON c.home = m.home JOIN users AS u ON u.id = m.user"
    " WHERE m.user = ?1 AND c.id = ?2 AND c.removed_us IS NULL AND " USER_OK
    " UNION ALL"
    " SELECT g.scopes FROM grants AS g JOIN cameras AS c ON c.id = g.camera JOIN users AS u ON u.id = g.user"
    " WHERE g.user = ?1 AND g.camera = ?2 AND g.removed_us IS NULL AND g.expires_us > ?3"
    " AND c.removed_us IS NULL AND " USER_OK;

static const char SQL_USER_CAMERAS[] =
    "SELECT " CV__CAM_COLS " FROM cameras WHERE removed_us IS NULL"
    " AND EXISTS (SELECT 1 FROM users AS u WHERE u.id = ?1 AND " USER_OK ")"
    " AND (home IN (SELECT home FROM members WHERE user = ?1)"
    " OR id IN (SELECT camera FROM grants WHERE user = ?1 AND removed_us IS NULL AND expires_us > ?2))"
    " ORDER BY created_us, rowid";

int cv_store_access(cv_store *s, const cv_id *user, const cv_id *camera, int64_t now_us, uint32_t *scopes)
{
    if (!s || !user || !camera || !scopes)
        return -EINVAL;
    *scopes = 0;
    sqlite3_stmt *st = cv__store_prep(s, SQL_ACCESS, "iiId", user, camera, now_us, (int)CV_SCOPE_ALL);
    if (!st)
        return -EIO;
    uint32_t acc = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        acc |= (uint32_t)sqlite3_column_int64(st, 0) & CV_SCOPE_ALL;
    int res = rc == SQLITE_DONE ? 0 : cv__store_fail(s, "access");
    cv__store_done(st);
    if (res == 0)
        *scopes = acc;
    return res;
}

int cv_store_user_cameras(cv_store *s, const cv_id *user, int64_t now_us, cv_camera_rec **out, size_t *n)
{
    if (!s || !user || !out || !n)
        return -EINVAL;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_USER_CAMERAS, "iI", user, now_us), cv__store_camera_row,
                             sizeof(**out), SIZE_MAX, &arr, n, "user cameras");
    *out = arr;
    return res;
}
