/* Integrations, account links, authorization codes and OAuth tokens
 * (store/oauth.h). Only keyed hashes of secrets, codes and tokens reach the
 * database; the plaintext exists in the caller's buffers alone. */
#define CV_LOG_MODULE "store"

#include "store/oauth.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/log.h"
#include "base/util.h"
#include "store/audit.h"
#include "store/store_int.h"

#define HASH_BYTES 32
#define RAND_BYTES 32 /* secrets, codes and tokens: 256 bits */
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define CHALLENGE_LEN 43 /* base64url of a SHA-256, unpadded */
#define SCOPE_TEXT_MAX (CV_OAUTH_SCOPE_MAX * (CV_ID_HEX_LEN + 1))
#define URIS_TEXT_MAX 4095

/* The prefixes name what a string is (and keep one kind from being hashed
 * into another's namespace). */
#define P_CLIENT "cvc_"
#define P_SECRET "cvs_"
#define P_CODE "cvo_"
#define P_ACCESS "cva_"
#define P_REFRESH "cvr_"

enum { KIND_ACCESS = 1, KIND_REFRESH = 2 };

_Static_assert(sizeof(P_SECRET) - 1 + 43 + 1 <= CV_OAUTH_SECRET_MAX, "secret size");
_Static_assert(sizeof(P_CLIENT) - 1 + 22 + 1 <= CV_OAUTH_CLIENT_ID_MAX, "client id size");

/* ---------------------------------------------------------------- helpers */

void cv_oauth_hkey(const uint8_t subkey[32], uint8_t out[CV_OAUTH_HKEY_BYTES])
{
    static const char ctx[] = "camvault oauth hash v1";
    crypto_generichash(out, CV_OAUTH_HKEY_BYTES, (const unsigned char *)ctx, sizeof(ctx) - 1, subkey, 32);
}

static void khash(const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *s, uint8_t out[HASH_BYTES])
{
    crypto_generichash(out, HASH_BYTES, (const unsigned char *)s, strlen(s), hkey, CV_OAUTH_HKEY_BYTES);
}

/* prefix + base64url(n random bytes). Returns 0 or -ENOSPC. */
static int random_string(const char *prefix, size_t n, char *out, size_t cap)
{
    uint8_t b[RAND_BYTES];
    size_t pl = strlen(prefix);
    if (n > sizeof(b) || cap < pl + sodium_base64_ENCODED_LEN(n, B64))
        return -ENOSPC;
    randombytes_buf(b, n);
    memcpy(out, prefix, pl);
    sodium_bin2base64(out + pl, cap - pl, b, n, B64);
    sodium_memzero(b, sizeof(b));
    return 0;
}

static const char *str_or(const char *s, const char *dflt) { return s ? s : dflt; }

static int audit(cv_store *s, const cv_store_actor *by, const char *event, const char *detail)
{
    return cv_store_audit(s, event, by ? str_or(by->principal, "") : "", NULL, by ? by->address : NULL,
                          by ? by->protocol : NULL, detail);
}

static bool name_valid(const char *p)
{
    size_t len;
    if (cv__str_len(p, 1, CV_OAUTH_NAME_MAX, &len) < 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool model_valid(const char *p)
{
    size_t len;
    return cv__str_len(p, 1, CV_OAUTH_MODEL_MAX, &len) == 0 && cv__text_valid(p, len);
}

/* The authority of a loopback http:// URI: exactly the host, then :PORT. */
static bool loopback_authority(const char *a, size_t len)
{
    static const char *const hosts[] = {"127.0.0.1", "localhost"};
    for (size_t i = 0; i < CV_ARRAY_LEN(hosts); i++) {
        size_t hl = strlen(hosts[i]);
        if (len < hl || memcmp(a, hosts[i], hl) != 0)
            continue;
        if (len == hl)
            return true;
        if (a[hl] != ':' || len == hl + 1 || len - hl - 1 > 5)
            return false;
        for (size_t j = hl + 1; j < len; j++)
            if (a[j] < '0' || a[j] > '9')
                return false;
        return true;
    }
    return false;
}

bool cv_oauth_redirect_uri_valid(const char *uri)
{
    size_t len;
    if (cv__str_len(uri, 1, CV_OAUTH_URI_MAX, &len) < 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (uri[i] <= 0x20 || uri[i] >= 0x7f || uri[i] == '#')
            return false;
    bool https = strncmp(uri, "https://", 8) == 0;
    if (!https && strncmp(uri, "http://", 7) != 0)
        return false;
    const char *a = uri + (https ? 8 : 7);
    size_t alen = strcspn(a, "/?");
    if (alen == 0)
        return false;
    return https || loopback_authority(a, alen);
}

bool cv_oauth_verifier_valid(const char *v, size_t len)
{
    if (!v || len < 43 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '.' || c == '_' || c == '~'))
            return false;
    }
    return true;
}

static bool challenge_valid(const char *c)
{
    size_t len;
    if (cv__str_len(c, CHALLENGE_LEN, CHALLENGE_LEN, &len) < 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= '0' && c[i] <= '9') ||
              c[i] == '-' || c[i] == '_'))
            return false;
    return true;
}

bool cv_oauth_pkce_s256_ok(const char *verifier, size_t len, const char *challenge)
{
    if (!cv_oauth_verifier_valid(verifier, len) || !challenge_valid(challenge))
        return false;
    uint8_t d[crypto_hash_sha256_BYTES];
    char enc[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, B64)];
    crypto_hash_sha256(d, (const unsigned char *)verifier, len);
    sodium_bin2base64(enc, sizeof(enc), d, sizeof(d), B64);
    _Static_assert(sizeof(enc) == CHALLENGE_LEN + 1, "challenge length");
    return sodium_memcmp(enc, challenge, CHALLENGE_LEN) == 0;
}

/* Camera ids as space-separated hex, the form scopes are stored in. */
static int scope_text(const cv_id *scope, size_t n, char *out, size_t cap)
{
    if (!scope || n == 0 || n > CV_OAUTH_SCOPE_MAX || cap < n * (CV_ID_HEX_LEN + 1))
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        cv_id_to_hex(&scope[i], out + i * (CV_ID_HEX_LEN + 1));
        if (i + 1 < n)
            out[i * (CV_ID_HEX_LEN + 1) + CV_ID_HEX_LEN] = ' ';
    }
    return 0;
}

static int scope_parse(const char *t, cv_id *scope, size_t *n)
{
    size_t len = t ? strlen(t) : 0;
    *n = 0;
    if ((len + 1) % (CV_ID_HEX_LEN + 1) != 0)
        return -EIO;
    size_t cnt = (len + 1) / (CV_ID_HEX_LEN + 1);
    if (cnt == 0 || cnt > CV_OAUTH_SCOPE_MAX)
        return -EIO;
    for (size_t i = 0; i < cnt; i++) {
        const char *p = t + i * (CV_ID_HEX_LEN + 1);
        if (cv_id_from_hex(p, CV_ID_HEX_LEN, &scope[i]) != 0 || (i + 1 < cnt && p[CV_ID_HEX_LEN] != ' '))
            return -EIO;
    }
    *n = cnt;
    return 0;
}

/* ----------------------------------------------------------- integrations */

#define INT_COLS "id, name, client_id, redirect_uris, disabled, created_us"

static const char SQL_INT_ADD[] =
    "INSERT INTO integrations (id, name, client_id, secret_hash, redirect_uris, created_us)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_INT_GET[] = "SELECT " INT_COLS " FROM integrations WHERE id = ?1 AND removed_us IS NULL";
static const char SQL_INT_NAME[] =
    "SELECT " INT_COLS " FROM integrations WHERE name = ?1 AND removed_us IS NULL";
static const char SQL_INT_CLIENT[] =
    "SELECT " INT_COLS " FROM integrations WHERE client_id = ?1 AND removed_us IS NULL";
static const char SQL_INT_LIST[] =
    "SELECT " INT_COLS " FROM integrations WHERE removed_us IS NULL ORDER BY name";
static const char SQL_INT_SECRET[] =
    "SELECT secret_hash FROM integrations WHERE client_id = ?1 AND removed_us IS NULL";
static const char SQL_INT_MODELS[] =
    "SELECT model FROM integration_models WHERE integration = ?1 ORDER BY model LIMIT 16";
static const char SQL_INT_SET_DISABLED[] =
    "UPDATE integrations SET disabled = ?2 WHERE id = ?1 AND removed_us IS NULL";
static const char SQL_INT_MODEL_ADD[] =
    "INSERT OR IGNORE INTO integration_models (integration, model) VALUES (?1, ?2)";
static const char SQL_INT_MODEL_DEL[] = "DELETE FROM integration_models WHERE integration = ?1 AND model = ?2";
static const char SQL_INT_MODEL_CLEAR[] = "DELETE FROM integration_models WHERE integration = ?1";
static const char SQL_INT_MODEL_COUNT[] = "SELECT count(*) FROM integration_models WHERE integration = ?1";

/* Removal: ?1 = integration, ?2 = now. Tokens and codes first, while the
 * links still name the integration. */
static const char *const int_remove_sql[] = {
    ("UPDATE integrations SET removed_us = ?2, secret_hash = NULL, disabled = 1"
     " WHERE id = ?1 AND removed_us IS NULL"),
    "DELETE FROM oauth_tokens WHERE link IN (SELECT id FROM oauth_links WHERE integration = ?1)",
    "DELETE FROM oauth_codes WHERE link IN (SELECT id FROM oauth_links WHERE integration = ?1)",
    "UPDATE oauth_links SET revoked_us = ?2 WHERE integration = ?1 AND revoked_us IS NULL",
    "DELETE FROM integration_models WHERE integration = ?1",
};

static int int_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_integration_rec *out = p;
    char uris[URIS_TEXT_MAX + 1];
    memset(out, 0, sizeof(*out));
    if (cv__col_blob(st, 0, out->id.b, CV_ID_BYTES) < 0 || cv__col_text(st, 1, out->name, sizeof(out->name)) < 0 ||
        cv__col_text(st, 2, out->client_id, sizeof(out->client_id)) < 0 ||
        cv__col_text(st, 3, uris, sizeof(uris)) < 0)
        goto bad;
    out->disabled = sqlite3_column_int(st, 4) != 0;
    out->created_us = sqlite3_column_int64(st, 5);
    for (char *save = NULL, *u = strtok_r(uris, "\n", &save); u; u = strtok_r(NULL, "\n", &save)) {
        if (out->nredirect == CV_OAUTH_REDIRECTS_MAX || strlen(u) > CV_OAUTH_URI_MAX)
            goto bad;
        memcpy(out->redirect_uris[out->nredirect++], u, strlen(u) + 1);
    }
    return 0;
bad:
    CV_ERROR("%p: malformed integration row", (void *)s);
    return -EIO;
}

/* Fills rec's disabled models (a second query: rows of their own table). */
static int int_models(cv_store *s, cv_integration_rec *rec)
{
    sqlite3_stmt *st = cv__store_prep(s, SQL_INT_MODELS, "i", &rec->id);
    if (!st)
        return -EIO;
    int rc, res = 0;
    rec->nmodels = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && rec->nmodels < CV_OAUTH_MODELS_MAX) {
        if (cv__col_text(st, 0, rec->disabled_models[rec->nmodels], CV_OAUTH_MODEL_MAX + 1) < 0) {
            res = -EIO;
            break;
        }
        rec->nmodels++;
    }
    if (res == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        res = cv__store_fail(s, "integration models");
    cv__store_done(st);
    return res;
}

static int int_one(cv_store *s, sqlite3_stmt *st, cv_integration_rec *out)
{
    cv_integration_rec scratch;
    cv_integration_rec *r = out ? out : &scratch;
    int res = cv__store_one(s, st, int_row, r, sizeof(*r), "get integration");
    if (res == 0 && (res = int_models(s, r)) < 0)
        memset(r, 0, sizeof(*r));
    return res;
}

int cv_store_integration_add(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *name,
                             const char *const *redirect_uris, size_t nredirect, int64_t now_us,
                             const cv_store_actor *by, cv_id *out_id, char *client_id, size_t client_cap,
                             char *secret, size_t secret_cap)
{
    char uris[URIS_TEXT_MAX + 1] = "", client[CV_OAUTH_CLIENT_ID_MAX], sec[CV_OAUTH_SECRET_MAX];
    uint8_t h[HASH_BYTES];
    size_t ul = 0;
    int res;

    if (!s || !hkey || !name_valid(name) || !redirect_uris || nredirect == 0 || nredirect > CV_OAUTH_REDIRECTS_MAX)
        return -EINVAL;
    if (!client_id || client_cap < CV_OAUTH_CLIENT_ID_MAX || !secret || secret_cap < CV_OAUTH_SECRET_MAX)
        return -ENOSPC;
    for (size_t i = 0; i < nredirect; i++) {
        if (!cv_oauth_redirect_uri_valid(redirect_uris[i]))
            return -EINVAL;
        ul += (size_t)snprintf(uris + ul, sizeof(uris) - ul, "%s%s", i ? "\n" : "", redirect_uris[i]);
    }
    if ((res = random_string(P_CLIENT, 16, client, sizeof(client))) < 0 ||
        (res = random_string(P_SECRET, RAND_BYTES, sec, sizeof(sec))) < 0)
        return res;
    khash(hkey, sec, h);

    cv_id id;
    char detail[160];
    snprintf(detail, sizeof(detail), "name=%s client_id=%s redirect_uris=%zu", name, client, nredirect);
    if ((res = cv__store_begin(s)) < 0)
        goto out;
    res = cv__store_insert_id(s, cv__store_prep(s, SQL_INT_ADD, "-sshsI", name, client, h, uris, now_us), &id,
                              "add integration");
    if (res == 0)
        res = audit(s, by, "integration.add", detail);
    if ((res = cv__store_end(s, res)) < 0)
        goto out;
    if (out_id)
        *out_id = id;
    memcpy(client_id, client, sizeof(client));
    memcpy(secret, sec, sizeof(sec));
out:
    sodium_memzero(sec, sizeof(sec));
    return res;
}

int cv_store_integration_list(cv_store *s, cv_integration_rec **out, size_t *n)
{
    void *arr = NULL;
    if (!s || !out || !n)
        return -EINVAL;
    int res = cv__store_list(s, cv__store_prep(s, SQL_INT_LIST, ""), int_row, sizeof(**out), SIZE_MAX, &arr, n,
                             "list integrations");
    cv_integration_rec *r = arr;
    for (size_t i = 0; res == 0 && i < *n; i++)
        res = int_models(s, &r[i]);
    if (res < 0) {
        free(arr);
        arr = NULL;
        *n = 0;
    }
    *out = arr;
    return res;
}

int cv_store_integration_get(cv_store *s, const cv_id *id, cv_integration_rec *out)
{
    if (!s || !id)
        return -EINVAL;
    return int_one(s, cv__store_prep(s, SQL_INT_GET, "i", id), out);
}

int cv_store_integration_find_name(cv_store *s, const char *name, cv_integration_rec *out)
{
    if (!s || !name_valid(name))
        return -ENOENT;
    return int_one(s, cv__store_prep(s, SQL_INT_NAME, "s", name), out);
}

int cv_store_integration_find_client(cv_store *s, const char *client_id, cv_integration_rec *out)
{
    size_t len;
    if (!s || cv__str_len(client_id, 1, CV_OAUTH_CLIENT_ID_MAX - 1, &len) < 0)
        return -ENOENT;
    return int_one(s, cv__store_prep(s, SQL_INT_CLIENT, "s", client_id), out);
}

static int hash_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    (void)s;
    return cv__col_blob(st, 0, p, HASH_BYTES);
}

int cv_store_integration_verify(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *client_id,
                                const char *secret, cv_integration_rec *out)
{
    uint8_t want[HASH_BYTES], got[HASH_BYTES];
    size_t len;
    if (out)
        memset(out, 0, sizeof(*out));
    if (!s || !hkey || !secret || cv__str_len(client_id, 1, CV_OAUTH_CLIENT_ID_MAX - 1, &len) < 0)
        return -EACCES;
    khash(hkey, secret, got);
    int res = cv__store_one(s, cv__store_prep(s, SQL_INT_SECRET, "s", client_id), hash_row, want, sizeof(want),
                            "verify client");
    if (res == -EIO)
        return res;
    /* An unknown client compares against zeroes: the same work either way. */
    bool ok = sodium_memcmp(want, got, HASH_BYTES) == 0 && res == 0;
    sodium_memzero(got, sizeof(got));
    if (!ok)
        return -EACCES;
    res = cv_store_integration_find_client(s, client_id, out);
    return res == -ENOENT ? -EACCES : res;
}

int cv_store_integration_remove(cv_store *s, const cv_id *id, int64_t now_us, const cv_store_actor *by)
{
    cv_integration_rec *r = malloc(sizeof(*r));
    int res;
    if (!r)
        return -ENOMEM;
    if (!s || !id) {
        res = -EINVAL;
        goto out;
    }
    if ((res = cv__store_begin(s)) < 0)
        goto out;
    if ((res = cv_store_integration_get(s, id, r)) == 0 &&
        (res = cv__store_changed(cv__store_cascade(s, int_remove_sql, CV_ARRAY_LEN(int_remove_sql), id, now_us))) ==
            0) {
        char detail[96];
        snprintf(detail, sizeof(detail), "name=%s", r->name);
        res = audit(s, by, "integration.remove", detail);
    }
    res = cv__store_end(s, res);
out:
    free(r);
    return res;
}

static int64_t count_models(cv_store *s, const cv_id *id)
{
    sqlite3_stmt *st = cv__store_prep(s, SQL_INT_MODEL_COUNT, "i", id);
    if (!st)
        return -EIO;
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : cv__store_fail(s, "count models");
    cv__store_done(st);
    return n;
}

int cv_store_integration_set_disabled(cv_store *s, const cv_id *id, bool disabled, const char *model,
                                      int64_t now_us, const cv_store_actor *by)
{
    cv_integration_rec *r = malloc(sizeof(*r));
    int res;
    (void)now_us; /* the audit log keeps its own wall clock */
    if (!r)
        return -ENOMEM;
    if (!s || !id || (model && !model_valid(model))) {
        res = -EINVAL;
        goto out;
    }
    if ((res = cv__store_begin(s)) < 0)
        goto out;
    if ((res = cv_store_integration_get(s, id, r)) < 0)
        goto end;
    if (!model) {
        res = cv__store_exec(s, cv__store_prep(s, SQL_INT_SET_DISABLED, "id", id, disabled ? 1 : 0),
                             "disable integration");
        if (res >= 0 && !disabled)
            res = cv__store_exec(s, cv__store_prep(s, SQL_INT_MODEL_CLEAR, "i", id), "enable integration");
    } else if (disabled) {
        res = cv__store_exec(s, cv__store_prep(s, SQL_INT_MODEL_ADD, "is", id, model), "disable model");
        int64_t n = res < 0 ? res : count_models(s, id);
        if (n < 0)
            res = (int)n;
        else if (n > CV_OAUTH_MODELS_MAX)
            res = -ENOSPC;
    } else {
        res = cv__store_exec(s, cv__store_prep(s, SQL_INT_MODEL_DEL, "is", id, model), "enable model");
    }
    if (res >= 0) {
        char detail[192];
        if (model)
            snprintf(detail, sizeof(detail), "name=%s camera_model=%s", r->name, model);
        else
            snprintf(detail, sizeof(detail), "name=%s%s", r->name, disabled ? "" : " (all camera models too)");
        res = audit(s, by, disabled ? "integration.disable" : "integration.enable", detail);
    }
end:
    res = cv__store_end(s, res < 0 ? res : 0);
out:
    free(r);
    return res;
}

/* ------------------------------------------------------------------ links */

#define LINK_COLS "id, user, integration, created_us"

static const char SQL_LINK_ADD[] =
    "INSERT INTO oauth_links (id, user, integration, created_us) SELECT ?1, ?2, ?3, ?4"
    " WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2 AND removed_us IS NULL)"
    " AND EXISTS (SELECT 1 FROM integrations WHERE id = ?3 AND removed_us IS NULL)";
static const char SQL_LINK_FIND[] =
    "SELECT " LINK_COLS " FROM oauth_links WHERE user = ?1 AND integration = ?2 AND revoked_us IS NULL";
static const char SQL_LINK_GET[] = "SELECT " LINK_COLS " FROM oauth_links WHERE id = ?1 AND revoked_us IS NULL";
static const char SQL_LINK_LIST[] =
    "SELECT " LINK_COLS " FROM oauth_links WHERE user = ?1 AND revoked_us IS NULL ORDER BY created_us, rowid";
static const char *const link_revoke_sql[] = {
    "UPDATE oauth_links SET revoked_us = ?2 WHERE id = ?1 AND revoked_us IS NULL",
    "UPDATE oauth_tokens SET revoked_us = ?2 WHERE link = ?1 AND revoked_us IS NULL",
    "UPDATE oauth_codes SET used_us = ?2 WHERE link = ?1 AND used_us IS NULL",
};

static int link_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_oauth_link_rec *out = p;
    memset(out, 0, sizeof(*out));
    if (cv__col_blob(st, 0, out->id.b, CV_ID_BYTES) < 0 || cv__col_blob(st, 1, out->user.b, CV_ID_BYTES) < 0 ||
        cv__col_blob(st, 2, out->integration.b, CV_ID_BYTES) < 0) {
        CV_ERROR("%p: malformed link row", (void *)s);
        return -EIO;
    }
    out->created_us = sqlite3_column_int64(st, 3);
    return 0;
}

/* "name=<integration> user=<hex>" for the audit log. */
static void link_detail(cv_store *s, const cv_id *user, const cv_id *integration, char *out, size_t cap)
{
    cv_integration_rec *r = malloc(sizeof(*r));
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(user, hex);
    snprintf(out, cap, "name=%s user=%s", r && cv_store_integration_get(s, integration, r) == 0 ? r->name : "?",
             hex);
    free(r);
}

int cv_store_oauth_link_add(cv_store *s, const cv_id *user, const cv_id *integration, int64_t now_us,
                            const cv_store_actor *by, cv_id *out_id)
{
    cv_oauth_link_rec l;
    char detail[160];
    if (!s || !user || !integration)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = cv__store_one(s, cv__store_prep(s, SQL_LINK_FIND, "ii", user, integration), link_row, &l, sizeof(l),
                        "find link");
    if (res == 0) {
        if (out_id)
            *out_id = l.id;
        return cv__store_end(s, 0) < 0 ? -EIO : 1;
    }
    if (res == -ENOENT) {
        cv_id id;
        res = cv__store_insert_id(s, cv__store_prep(s, SQL_LINK_ADD, "-iiI", user, integration, now_us), &id,
                                  "add link");
        if (res == 0) {
            link_detail(s, user, integration, detail, sizeof(detail));
            res = audit(s, by, "link.add", detail);
        }
        if (res == 0 && out_id)
            *out_id = id;
    }
    return cv__store_end(s, res);
}

int cv_store_oauth_link_list(cv_store *s, const cv_id *user, cv_oauth_link_rec **out, size_t *n)
{
    void *arr = NULL;
    if (!s || !user || !out || !n)
        return -EINVAL;
    int res = cv__store_list(s, cv__store_prep(s, SQL_LINK_LIST, "i", user), link_row, sizeof(**out), SIZE_MAX,
                             &arr, n, "list links");
    *out = arr;
    return res;
}

int cv_store_oauth_link_revoke(cv_store *s, const cv_id *link, int64_t now_us, const cv_store_actor *by)
{
    cv_oauth_link_rec l;
    char detail[160];
    if (!s || !link)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = cv__store_one(s, cv__store_prep(s, SQL_LINK_GET, "i", link), link_row, &l, sizeof(l), "get link");
    if (res == 0)
        res = cv__store_changed(cv__store_cascade(s, link_revoke_sql, CV_ARRAY_LEN(link_revoke_sql), link, now_us));
    if (res == 0) {
        link_detail(s, &l.user, &l.integration, detail, sizeof(detail));
        res = audit(s, by, "link.revoke", detail);
    }
    return cv__store_end(s, res);
}

static const char SQL_LINK_GET_ANY[] = "SELECT " LINK_COLS ", revoked_us FROM oauth_links WHERE id = ?1";
static const char SQL_LINK_CHECK[] =
    "SELECT l.user, l.integration, i.disabled FROM oauth_links AS l JOIN users AS u ON u.id = l.user"
    " JOIN integrations AS i ON i.id = l.integration WHERE l.id = ?1 AND l.revoked_us IS NULL"
    " AND u.removed_us IS NULL AND u.disabled = 0 AND i.removed_us IS NULL";

typedef struct {
    cv_oauth_link_rec rec;
    int64_t revoked_us;
} link_any_t;

static int link_any_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    link_any_t *out = p;
    int res = link_row(s, st, &out->rec);
    out->revoked_us = sqlite3_column_type(st, 4) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 4);
    return res;
}

int cv_store_oauth_link_get(cv_store *s, const cv_id *link, cv_oauth_link_rec *out, int64_t *revoked_us)
{
    link_any_t l;
    if (!s || !link || !out)
        return -EINVAL;
    int res = cv__store_one(s, cv__store_prep(s, SQL_LINK_GET_ANY, "i", link), link_any_row, &l, sizeof(l),
                            "get link");
    if (res == 0) {
        *out = l.rec;
        if (revoked_us)
            *revoked_us = l.revoked_us;
    }
    return res;
}

typedef struct {
    cv_id user, integration;
    bool disabled;
} link_check_t;

static int link_check_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    link_check_t *out = p;
    if (cv__col_blob(st, 0, out->user.b, CV_ID_BYTES) < 0 || cv__col_blob(st, 1, out->integration.b, CV_ID_BYTES) < 0) {
        CV_ERROR("%p: malformed link row", (void *)s);
        return -EIO;
    }
    out->disabled = sqlite3_column_int(st, 2) != 0;
    return 0;
}

static int model_disabled(cv_store *s, const cv_id *integration, const char *model);

int cv_store_oauth_link_check(cv_store *s, const cv_id *link, const char *camera_model, cv_id *user,
                              cv_id *integration)
{
    link_check_t c;
    if (!s || !link)
        return -EINVAL;
    int res = cv__store_one(s, cv__store_prep(s, SQL_LINK_CHECK, "i", link), link_check_row, &c, sizeof(c),
                            "check link");
    if (res < 0)
        return res;
    if (c.disabled)
        return -EACCES;
    if (camera_model && camera_model[0]) {
        if ((res = model_disabled(s, &c.integration, camera_model)) < 0)
            return res;
        if (res > 0)
            return -EACCES;
    }
    if (user)
        *user = c.user;
    if (integration)
        *integration = c.integration;
    return 0;
}

/* ------------------------------------------------------- codes and tokens */

static int id_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    (void)s;
    return cv__col_blob(st, 0, p, CV_ID_BYTES);
}

static const char SQL_CODE_ADD[] =
    "INSERT INTO oauth_codes (hash, link, chain, redirect_uri, challenge, scope, created_us, expires_us)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_CODE_GET[] =
    "SELECT c.link, c.chain, c.redirect_uri, c.challenge, c.scope, c.expires_us, c.used_us IS NOT NULL,"
    " l.user, l.integration, l.revoked_us IS NULL"
    " FROM oauth_codes AS c JOIN oauth_links AS l ON l.id = c.link WHERE c.hash = ?1";
static const char SQL_CODE_USE[] = "UPDATE oauth_codes SET used_us = ?2 WHERE hash = ?1 AND used_us IS NULL";
static const char SQL_CHAIN_REVOKE[] =
    "UPDATE oauth_tokens SET revoked_us = ?2 WHERE chain = ?1 AND revoked_us IS NULL";
static const char SQL_TOKEN_ADD[] =
    "INSERT INTO oauth_tokens (hash, kind, chain, link, scope, created_us, expires_us)"
    " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE "
    "EXISTS (SELECT 1 FROM oauth_links AS l JOIN users AS u ON u.id = l.user"
    " JOIN integrations AS i ON i.id = l.integration WHERE l.id = ?4 AND l.revoked_us IS NULL"
    " AND u.removed_us IS NULL AND u.disabled = 0 AND i.removed_us IS NULL)";
static const char SQL_TOKEN_GET[] =
    "SELECT t.kind, t.chain, t.link, t.scope, t.expires_us, t.revoked_us IS NOT NULL, t.rotated_us IS NOT NULL,"
    " l.user, l.integration, l.revoked_us IS NULL AND u.removed_us IS NULL AND u.disabled = 0"
    " AND i.removed_us IS NULL, i.disabled"
    " FROM oauth_tokens AS t JOIN oauth_links AS l ON l.id = t.link JOIN users AS u ON u.id = l.user"
    " JOIN integrations AS i ON i.id = l.integration WHERE t.hash = ?1";
static const char SQL_TOKEN_ROTATE[] =
    "UPDATE oauth_tokens SET rotated_us = ?2 WHERE hash = ?1 AND rotated_us IS NULL AND revoked_us IS NULL";
static const char SQL_TOKEN_REVOKE[] =
    "UPDATE oauth_tokens SET revoked_us = ?2 WHERE hash = ?1 AND revoked_us IS NULL";
static const char SQL_MODEL_DISABLED[] =
    "SELECT 1 FROM integration_models WHERE integration = ?1 AND model = ?2";
static const char SQL_LINK_OK[] =
    "SELECT l.id FROM oauth_links AS l JOIN users AS u ON u.id = l.user"
    " JOIN integrations AS i ON i.id = l.integration WHERE l.user = ?1 AND l.integration = ?2"
    " AND l.revoked_us IS NULL AND u.removed_us IS NULL AND u.disabled = 0 AND i.removed_us IS NULL"
    " AND i.disabled = 0";
static const char *const prune_sql[] = {
    "DELETE FROM oauth_codes WHERE expires_us < ?2",
    "DELETE FROM oauth_tokens WHERE expires_us < ?2",
};

typedef struct {
    cv_id link, chain, user, integration;
    char redirect_uri[CV_OAUTH_URI_MAX + 1];
    char challenge[CHALLENGE_LEN + 1];
    char scope[SCOPE_TEXT_MAX];
    int64_t expires_us;
    bool used, link_live;
} code_row_t;

static int code_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    code_row_t *c = p;
    memset(c, 0, sizeof(*c));
    if (cv__col_blob(st, 0, c->link.b, CV_ID_BYTES) < 0 || cv__col_blob(st, 1, c->chain.b, CV_ID_BYTES) < 0 ||
        cv__col_text(st, 2, c->redirect_uri, sizeof(c->redirect_uri)) < 0 ||
        cv__col_text(st, 3, c->challenge, sizeof(c->challenge)) < 0 ||
        cv__col_text(st, 4, c->scope, sizeof(c->scope)) < 0 || cv__col_blob(st, 7, c->user.b, CV_ID_BYTES) < 0 ||
        cv__col_blob(st, 8, c->integration.b, CV_ID_BYTES) < 0) {
        CV_ERROR("%p: malformed code row", (void *)s);
        return -EIO;
    }
    c->expires_us = sqlite3_column_int64(st, 5);
    c->used = sqlite3_column_int(st, 6) != 0;
    c->link_live = sqlite3_column_int(st, 9) != 0;
    return 0;
}

typedef struct {
    int kind;
    cv_id chain, link, user, integration;
    char scope[SCOPE_TEXT_MAX];
    int64_t expires_us;
    bool revoked, rotated, live, int_disabled;
} token_row_t;

static int token_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    token_row_t *t = p;
    memset(t, 0, sizeof(*t));
    t->kind = sqlite3_column_int(st, 0);
    if (cv__col_blob(st, 1, t->chain.b, CV_ID_BYTES) < 0 || cv__col_blob(st, 2, t->link.b, CV_ID_BYTES) < 0 ||
        cv__col_text(st, 3, t->scope, sizeof(t->scope)) < 0 || cv__col_blob(st, 7, t->user.b, CV_ID_BYTES) < 0 ||
        cv__col_blob(st, 8, t->integration.b, CV_ID_BYTES) < 0) {
        CV_ERROR("%p: malformed oauth token row", (void *)s);
        return -EIO;
    }
    t->expires_us = sqlite3_column_int64(st, 4);
    t->revoked = sqlite3_column_int(st, 5) != 0;
    t->rotated = sqlite3_column_int(st, 6) != 0;
    t->live = sqlite3_column_int(st, 9) != 0;
    t->int_disabled = sqlite3_column_int(st, 10) != 0;
    return 0;
}

static int token_find(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *token, uint8_t h[HASH_BYTES],
                      token_row_t *t)
{
    size_t len;
    if (cv__str_len(token, 1, CV_OAUTH_SECRET_MAX - 1, &len) < 0) {
        memset(t, 0, sizeof(*t));
        return -ENOENT;
    }
    khash(hkey, token, h);
    return cv__store_one(s, cv__store_prep(s, SQL_TOKEN_GET, "h", h), token_row, t, sizeof(*t), "get oauth token");
}

static int grant_fill(cv_oauth_grant *g, const token_row_t *t)
{
    memset(g, 0, sizeof(*g));
    g->user = t->user;
    g->integration = t->integration;
    g->link = t->link;
    g->chain = t->chain;
    g->expires_us = t->expires_us;
    return scope_parse(t->scope, g->scope, &g->nscope);
}

int cv_store_oauth_code_issue(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const cv_id *user,
                              const cv_id *integration, const char *redirect_uri, const char *challenge,
                              const cv_id *scope, size_t nscope, int64_t now_us, char *code, size_t cap)
{
    char sc[SCOPE_TEXT_MAX], c[CV_OAUTH_SECRET_MAX];
    uint8_t h[HASH_BYTES];
    cv_integration_rec *r = NULL;
    int res;

    if (!s || !hkey || !user || !integration || !cv_oauth_redirect_uri_valid(redirect_uri) ||
        !challenge_valid(challenge) || scope_text(scope, nscope, sc, sizeof(sc)) < 0)
        return -EINVAL;
    if (!code || cap < CV_OAUTH_SECRET_MAX)
        return -ENOSPC;
    if (!(r = malloc(sizeof(*r))))
        return -ENOMEM;
    if ((res = cv__store_begin(s)) < 0)
        goto out;
    cv_id link;
    res = cv__store_one(s, cv__store_prep(s, SQL_LINK_OK, "ii", user, integration), id_row, &link, sizeof(link),
                        "find link");
    if (res == 0 && (res = cv_store_integration_get(s, integration, r)) == 0) {
        bool known = false;
        for (size_t i = 0; i < r->nredirect; i++)
            known |= strcmp(r->redirect_uris[i], redirect_uri) == 0;
        if (!known)
            res = -EINVAL;
    }
    if (res == 0 && (res = random_string(P_CODE, RAND_BYTES, c, sizeof(c))) == 0) {
        cv_id chain;
        cv_id_random(&chain);
        khash(hkey, c, h);
        res = cv__store_exec(s,
                             cv__store_prep(s, SQL_CODE_ADD, "hiisssII", h, &link, &chain, redirect_uri, challenge,
                                            sc, now_us, now_us + CV_OAUTH_CODE_TTL_US),
                             "issue code");
        res = res < 0 ? res : 0;
    }
    if ((res = cv__store_end(s, res)) == 0)
        memcpy(code, c, sizeof(c));
out:
    sodium_memzero(c, sizeof(c));
    free(r);
    return res;
}

int cv_store_oauth_pair_issue(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const cv_oauth_grant *grant,
                              int64_t now_us, cv_oauth_pair *pair)
{
    char sc[SCOPE_TEXT_MAX];
    cv_oauth_pair p;
    uint8_t ha[HASH_BYTES], hr[HASH_BYTES];
    int res;

    if (!s || !hkey || !grant || !pair || scope_text(grant->scope, grant->nscope, sc, sizeof(sc)) < 0)
        return -EINVAL;
    memset(&p, 0, sizeof(p));
    p.chain = grant->chain;
    if (cv_id_is_zero(&p.chain))
        cv_id_random(&p.chain);
    p.access_expires_us = now_us + CV_OAUTH_ACCESS_TTL_US;
    p.refresh_expires_us = now_us + CV_OAUTH_REFRESH_TTL_US;
    if ((res = random_string(P_ACCESS, RAND_BYTES, p.access, sizeof(p.access))) < 0 ||
        (res = random_string(P_REFRESH, RAND_BYTES, p.refresh, sizeof(p.refresh))) < 0)
        goto out;
    khash(hkey, p.access, ha);
    khash(hkey, p.refresh, hr);
    if ((res = cv__store_begin(s)) < 0)
        goto out;
    res = cv__store_exec(s,
                         cv__store_prep(s, SQL_TOKEN_ADD, "hdiisII", ha, KIND_ACCESS, &p.chain, &grant->link, sc,
                                        now_us, p.access_expires_us),
                         "issue access token");
    if (res >= 0)
        res = cv__store_changed(res);
    if (res == 0)
        res = cv__store_changed(cv__store_exec(s,
                                               cv__store_prep(s, SQL_TOKEN_ADD, "hdiisII", hr, KIND_REFRESH, &p.chain,
                                                              &grant->link, sc, now_us, p.refresh_expires_us),
                                               "issue refresh token"));
    if ((res = cv__store_end(s, res)) == 0)
        *pair = p;
out:
    sodium_memzero(&p, sizeof(p));
    return res;
}

int cv_store_oauth_code_redeem(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *code,
                               const cv_id *integration, const char *redirect_uri, const char *verifier,
                               int64_t now_us, cv_oauth_grant *grant, cv_oauth_pair *pair)
{
    code_row_t *c = malloc(sizeof(*c));
    uint8_t h[HASH_BYTES];
    size_t len;
    int res;

    if (grant)
        memset(grant, 0, sizeof(*grant));
    if (pair)
        memset(pair, 0, sizeof(*pair));
    if (!c)
        return -ENOMEM;
    if (!s || !hkey || !integration || !grant || !pair || !redirect_uri || !verifier) {
        res = -EINVAL;
        goto out;
    }
    if (cv__str_len(code, 1, CV_OAUTH_SECRET_MAX - 1, &len) < 0) {
        res = -ENOENT;
        goto out;
    }
    if (!cv_oauth_verifier_valid(verifier, strlen(verifier))) {
        res = -EINVAL;
        goto out;
    }
    khash(hkey, code, h);
    if ((res = cv__store_begin(s)) < 0)
        goto out;
    res = cv__store_one(s, cv__store_prep(s, SQL_CODE_GET, "h", h), code_row, c, sizeof(*c), "get code");
    if (res == 0 && c->used) {
        /* RFC 6749 §4.1.2: a code used twice means it leaked; revoke what it
         * gave. The revocation is committed, the call still fails. */
        int r = cv__store_exec(s, cv__store_prep(s, SQL_CHAIN_REVOKE, "iI", &c->chain, now_us), "revoke chain");
        CV_WARN("%p: authorization code reused; token chain revoked", (void *)s);
        res = cv__store_end(s, r < 0 ? r : 0);
        res = res < 0 ? res : -EALREADY;
        goto out;
    }
    if (res == 0 && !cv_id_eq(&c->integration, integration))
        res = -EACCES;
    else if (res == 0 && c->expires_us <= now_us)
        res = -ETIMEDOUT;
    else if (res == 0 && !c->link_live)
        res = -ENOENT;
    else if (res == 0 && (strcmp(c->redirect_uri, redirect_uri) != 0 ||
                          !cv_oauth_pkce_s256_ok(verifier, strlen(verifier), c->challenge)))
        res = -EACCES;
    if (res == 0) {
        cv_integration_rec *ir = malloc(sizeof(*ir));
        res = !ir ? -ENOMEM : cv_store_integration_get(s, integration, ir);
        if (res == 0 && ir->disabled)
            res = -EACCES;
        free(ir);
    }
    if (res == 0)
        res = cv__store_changed(cv__store_exec(s, cv__store_prep(s, SQL_CODE_USE, "hI", h, now_us), "use code"));
    if (res == 0) {
        grant->user = c->user;
        grant->integration = c->integration;
        grant->link = c->link;
        grant->chain = c->chain;
        if ((res = scope_parse(c->scope, grant->scope, &grant->nscope)) == 0)
            res = cv_store_oauth_pair_issue(s, hkey, grant, now_us, pair);
        grant->expires_us = pair->access_expires_us;
    }
    if ((res = cv__store_end(s, res)) < 0) {
        memset(grant, 0, sizeof(*grant));
        sodium_memzero(pair, sizeof(*pair));
    }
out:
    free(c);
    return res;
}

static int model_disabled(cv_store *s, const cv_id *integration, const char *model)
{
    sqlite3_stmt *st = cv__store_prep(s, SQL_MODEL_DISABLED, "is", integration, model);
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    int res = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : cv__store_fail(s, "disabled model");
    cv__store_done(st);
    return res;
}

int cv_store_oauth_access_get(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *token,
                              const char *camera_model, int64_t now_us, cv_oauth_grant *out)
{
    token_row_t t;
    uint8_t h[HASH_BYTES];
    if (out)
        memset(out, 0, sizeof(*out));
    if (!s || !hkey || !out)
        return -EINVAL;
    int res = token_find(s, hkey, token, h, &t);
    if (res < 0)
        return res;
    if (t.kind != KIND_ACCESS || t.revoked || t.expires_us <= now_us || !t.live)
        return -ENOENT;
    bool off = t.int_disabled;
    if (!off && camera_model && camera_model[0]) {
        if ((res = model_disabled(s, &t.integration, camera_model)) < 0)
            return res;
        off = res > 0;
    }
    /* Filled for -EACCES too: a partner may still unlink while switched off. */
    if ((res = grant_fill(out, &t)) < 0) {
        memset(out, 0, sizeof(*out));
        return res;
    }
    return off ? -EACCES : 0;
}

int cv_store_oauth_refresh(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *refresh,
                           const cv_id *integration, int64_t now_us, cv_oauth_grant *grant, cv_oauth_pair *pair)
{
    token_row_t t;
    uint8_t h[HASH_BYTES];
    if (grant)
        memset(grant, 0, sizeof(*grant));
    if (pair)
        memset(pair, 0, sizeof(*pair));
    if (!s || !hkey || !integration || !grant || !pair)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = token_find(s, hkey, refresh, h, &t);
    if (res == 0 && t.kind != KIND_REFRESH)
        res = -ENOENT;
    else if (res == 0 && !cv_id_eq(&t.integration, integration))
        res = -EACCES;
    else if (res == 0 && t.rotated && !t.revoked) {
        /* A rotated refresh token presented again: one of the two holders
         * is a thief. End the whole chain (committed) and refuse. */
        int r = cv__store_exec(s, cv__store_prep(s, SQL_CHAIN_REVOKE, "iI", &t.chain, now_us), "revoke chain");
        CV_WARN("%p: refresh token reused; token chain revoked", (void *)s);
        res = cv__store_end(s, r < 0 ? r : 0);
        return res < 0 ? res : -EALREADY;
    } else if (res == 0 && (t.revoked || t.rotated || !t.live))
        res = -ENOENT;
    else if (res == 0 && t.expires_us <= now_us)
        res = -ETIMEDOUT;
    else if (res == 0 && t.int_disabled)
        res = -EACCES;
    if (res == 0)
        res = cv__store_changed(
            cv__store_exec(s, cv__store_prep(s, SQL_TOKEN_ROTATE, "hI", h, now_us), "rotate refresh token"));
    if (res == 0 && (res = grant_fill(grant, &t)) == 0) {
        res = cv_store_oauth_pair_issue(s, hkey, grant, now_us, pair);
        grant->expires_us = pair->access_expires_us;
    }
    if ((res = cv__store_end(s, res)) < 0) {
        memset(grant, 0, sizeof(*grant));
        sodium_memzero(pair, sizeof(*pair));
    }
    return res;
}

int cv_store_oauth_revoke(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *token,
                          const cv_id *integration, int64_t now_us)
{
    token_row_t t;
    uint8_t h[HASH_BYTES];
    if (!s || !hkey)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = token_find(s, hkey, token, h, &t);
    if (res == -ENOENT)
        res = 0; /* RFC 7009 §2.2: an invalid token is not an error */
    else if (res == 0 && integration && !cv_id_eq(&t.integration, integration))
        res = -EACCES;
    else if (res == 0 && t.kind == KIND_REFRESH)
        res = cv__store_exec(s, cv__store_prep(s, SQL_CHAIN_REVOKE, "iI", &t.chain, now_us), "revoke chain");
    else if (res == 0)
        res = cv__store_exec(s, cv__store_prep(s, SQL_TOKEN_REVOKE, "hI", h, now_us), "revoke token");
    return cv__store_end(s, res < 0 ? res : 0);
}

int cv_store_oauth_prune(cv_store *s, int64_t before_us)
{
    if (!s)
        return -EINVAL;
    int res = cv__store_begin(s);
    if (res < 0)
        return res;
    res = cv__store_cascade(s, prune_sql, CV_ARRAY_LEN(prune_sql), NULL, before_us);
    return cv__store_end(s, res < 0 ? res : 0);
}
