#define CV_LOG_MODULE "admin"
#include "admin/admin.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "base/log.h"
#include "base/util.h"

#define INGEST_SECRET_BYTES 24 /* 192 bits, 32 base64url characters */
#define APPPW_BYTES 18         /* 144 bits, 24 characters */

static int fail(char *err, size_t cap, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t cap, int rc, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static const char *store_msg(int rc, const char *what)
{
    switch (rc) {
    case -EINVAL: return "invalid value";
    case -ENOENT: return what;
    case -EEXIST: return "that name is taken";
    default: return "store error (see the log)";
    }
}

static void audit(const cv_admin *a, const char *event, const cv_id *camera, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void audit(const cv_admin *a, const char *event, const cv_id *camera, const char *fmt, ...)
{
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (cv_store_audit(a->store, event, a->actor, camera, a->address, a->protocol, detail) < 0)
        CV_WARN("audit log write failed: %s %s", event, detail);
}

static void ad_for(const char *kind, const cv_id *id, char *out, size_t cap)
{
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(id, hex);
    snprintf(out, cap, "%s:%s", kind, hex);
}

/* ------------------------------------------------------------------ users */

/* The store writes of user_add and user_set_password, given the hash: what
 * runs inside the transaction (hashing takes ~0.1 s and stays outside). */
static int user_add_hashed_txn(const cv_admin *a, const char *login, const char *pw_hash, bool admin, cv_id *out,
                               char *err, size_t errcap)
{
    int rc = cv_store_user_add(a->store, login, pw_hash, admin, out);
    if (rc < 0)
        return fail(err, errcap, rc, "%s",
                    rc == -EINVAL ? "a login is 1 to 63 of A-Z a-z 0-9 . _ @ -" : store_msg(rc, "no such user"));
    audit(a, "user.add", NULL, "login %s%s", login, admin ? " (admin)" : "");
    return 0;
}

static int user_set_password_hash_txn(const cv_admin *a, const cv_id *user, const char *pw_hash, char *err,
                                      size_t errcap)
{
    cv_user_rec u;
    int rc = cv_store_user_get(a->store, user, &u);
    if (rc == 0)
        rc = cv_store_user_set_password(a->store, user, pw_hash);
    if (rc == 0)
        rc = cv_store_websession_remove_user(a->store, user); /* logged out everywhere */
    if (rc < 0)
        return fail(err, errcap, rc, "%s", store_msg(rc, "no such user"));
    audit(a, "user.password", NULL, "login %s: password changed, web sessions ended", u.login);
    return 0;
}

static int hash_password(const char *password, char hash[CV_PW_HASH_MAX], char *err, size_t errcap)
{
    size_t len = strlen(password);
    if (len < CV_PW_MIN || len > CV_PW_MAX)
        return fail(err, errcap, -EINVAL, "a password must be %d to %d bytes", CV_PW_MIN, CV_PW_MAX);
    if (cv_pw_hash(password, len, hash) < 0)
        return fail(err, errcap, -ENOMEM, "cannot hash the password");
    return 0;
}

int cv_admin_user_add(const cv_admin *a, const char *login, const char *password, bool admin, char *gen,
                      cv_id *out, char *err, size_t errcap)
{
    char pwbuf[64], hash[CV_PW_HASH_MAX];
    if (!password) {
        if (cv_pw_generate(pwbuf, sizeof(pwbuf)) < 0)
            return fail(err, errcap, -EIO, "cannot generate a password");
        password = pwbuf;
    }
    int rc = hash_password(password, hash, err, errcap);
    if (rc == 0)
        rc = cv_admin_user_add_hashed(a, login, hash, admin, out, err, errcap);
    if (rc == 0 && gen && password == pwbuf)
        memcpy(gen, pwbuf, strlen(pwbuf) + 1); /* 24 characters + NUL: fits the documented 32 */
    sodium_memzero(pwbuf, sizeof(pwbuf));
    return rc;
}

int cv_admin_user_set_password(const cv_admin *a, const cv_id *user, const char *password, char *err,
                               size_t errcap)
{
    char hash[CV_PW_HASH_MAX];
    int rc = hash_password(password, hash, err, errcap);
    return rc < 0 ? rc : cv_admin_user_set_password_hash(a, user, hash, err, errcap);
}

static int user_disable_txn(const cv_admin *a, const cv_id *user, bool disabled, char *err, size_t errcap)
{
    cv_user_rec u;
    int rc = cv_store_user_get(a->store, user, &u);
    if (rc == 0)
        rc = cv_store_user_set_disabled(a->store, user, disabled);
    if (rc < 0)
        return fail(err, errcap, rc, "%s", store_msg(rc, "no such user"));
    audit(a, disabled ? "user.disable" : "user.enable", NULL, "login %s", u.login);
    return 0;
}

static int user_remove_txn(const cv_admin *a, const cv_id *user, char *err, size_t errcap)
{
    cv_user_rec u;
    int rc = cv_store_user_get(a->store, user, &u);
    if (rc == 0)
        rc = cv_store_user_remove(a->store, user);
    if (rc < 0)
        return fail(err, errcap, rc, "%s", store_msg(rc, "no such user"));
    audit(a, "user.remove", NULL, "login %s", u.login);
    return 0;
}

int cv_admin_user_resolve(const cv_admin *a, const char *what, cv_user_rec *out)
{
    cv_id id;
    if (strlen(what) == CV_ID_HEX_LEN && cv_id_from_hex(what, CV_ID_HEX_LEN, &id) == 0 &&
        cv_store_user_get(a->store, &id, out) == 0)
        return 0;
    return cv_store_user_find(a->store, what, out, NULL);
}

/* ------------------------------------------------------------------ homes */

static int home_add_txn(const cv_admin *a, const char *name, const cv_id *owner, cv_id *out, char *err,
                        size_t errcap)
{
    int rc = cv_store_home_add(a->store, name, out);
    if (rc < 0)
        return fail(err, errcap, rc, "%s",
                    rc == -EINVAL ? "a home name is 1 to 127 bytes of printable UTF-8" : store_msg(rc, "?"));
    audit(a, "home.add", NULL, "home %s", name);
    if (owner)
        return cv_admin_member_set(a, out, owner, CV_ROLE_OWNER, err, errcap);
    return 0;
}

static int home_remove_txn(const cv_admin *a, const cv_id *home, char *err, size_t errcap)
{
    cv_home_rec h;
    int rc = cv_store_home_get(a->store, home, &h);
    if (rc == 0)
        rc = cv_store_home_remove(a->store, home);
    if (rc < 0)
        return fail(err, errcap, rc, "%s", store_msg(rc, "no such home"));
    audit(a, "home.remove", NULL, "home %s", h.name);
    return 0;
}

int cv_admin_home_resolve(const cv_admin *a, const char *what, cv_home_rec *out)
{
    cv_id id;
    if (strlen(what) == CV_ID_HEX_LEN && cv_id_from_hex(what, CV_ID_HEX_LEN, &id) == 0 &&
        cv_store_home_get(a->store, &id, out) == 0)
        return 0;
    return cv_store_home_find_name(a->store, what, out);
}

static int member_set_txn(const cv_admin *a, const cv_id *home, const cv_id *user, cv_role role, char *err,
                          size_t errcap)
{
    cv_home_rec h;
    cv_user_rec u;
    cv_role old = CV_ROLE_NONE;
    if (cv_store_home_get(a->store, home, &h) != 0)
        return fail(err, errcap, -ENOENT, "no such home");
    if (cv_store_user_get(a->store, user, &u) != 0)
        return fail(err, errcap, -ENOENT, "no such user");
    (void)cv_store_member_role(a->store, home, user, &old);
    int rc = cv_store_member_set(a->store, home, user, role);
    if (rc < 0)
        return fail(err, errcap, rc, "%s", store_msg(rc, "no such home or user"));
    audit(a, old == CV_ROLE_NONE ? "member.add" : "member.role", NULL, "home %s user %s role %s (was %s)", h.name,
          u.login, cv_role_name(role), cv_role_name(old));
    return 0;
}

static int member_remove_txn(const cv_admin *a, const cv_id *home, const cv_id *user, char *err, size_t errcap)
{
    cv_home_rec h;
    cv_user_rec u;
    if (cv_store_home_get(a->store, home, &h) != 0)
        return fail(err, errcap, -ENOENT, "no such home");
    if (cv_store_user_get(a->store, user, &u) != 0)
        return fail(err, errcap, -ENOENT, "no such user");
    int rc = cv_store_member_remove(a->store, home, user);
    if (rc < 0)
        return fail(err, errcap, rc, "%s", store_msg(rc, "that user is not a member of that home"));
    audit(a, "member.remove", NULL, "home %s user %s", h.name, u.login);
    return 0;
}

/* ---------------------------------------------------------------- cameras */

static int new_ingest(const cv_admin *a, const cv_id *camera, char *secret, char *sealed, size_t sealed_cap)
{
    if (cv_random_secret(INGEST_SECRET_BYTES, secret, 48) < 0)
        return -EIO;
    char ad[64];
    ad_for("ingest", camera, ad, sizeof(ad));
    return cv_key_seal(a->key, ad, secret, strlen(secret), sealed, sealed_cap) < 0 ? -ENOSPC : 0;
}

/* "rtsp://user:pass@host/x" -> "rtsp://user:***@host/x" for display. */
static void mask_url(const char *url, char *out, size_t cap)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (!at || (slash && slash < at)) {
        snprintf(out, cap, "%s", url);
        return;
    }
    const char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));
    const char *user_end = colon ? colon : at;
    snprintf(out, cap, "%.*s:***%s", (int)(user_end - url), url, at);
}

static int camera_add_txn(const cv_admin *a, const cv_admin_camera_spec *spec, cv_id *out, char *ingest_secret,
                          char *err, size_t errcap)
{
    cv_camera_rec *r = calloc(1, sizeof(*r));
    if (!r)
        return fail(err, errcap, -ENOMEM, "out of memory");
    int rc = 0;
    if (!spec->home || !spec->name) {
        rc = fail(err, errcap, -EINVAL, "a camera needs a home and a name");
        goto out;
    }
    r->home = *spec->home;
    snprintf(r->name, sizeof(r->name), "%s", spec->name);
    snprintf(r->model, sizeof(r->model), "%s", spec->model ? spec->model : "");
    if (strlen(spec->name) >= sizeof(r->name) || (spec->model && strlen(spec->model) >= sizeof(r->model))) {
        rc = fail(err, errcap, -EINVAL, "name or model too long");
        goto out;
    }
    r->source = spec->pull_url ? CV_CAM_PULL : CV_CAM_PUSH;
    r->pull_transport = spec->transport;
    /* Sealed values are bound to the camera's id, so the id is chosen here
     * and the store takes it (refusing one ever used before). */
    cv_id id;
    cv_id_random(&id);
    r->id = id;
    char ad[64];
    if (r->source == CV_CAM_PULL) {
        if (strncmp(spec->pull_url, "rtsp://", 7) != 0 || strlen(spec->pull_url) >= 1024) {
            rc = fail(err, errcap, -EINVAL, "a pull URL is rtsp://[user:pass@]host[:port]/path, under 1024 bytes");
            goto out;
        }
        mask_url(spec->pull_url, r->pull_url, sizeof(r->pull_url));
        ad_for("pull", &id, ad, sizeof(ad));
        if (cv_key_seal(a->key, ad, spec->pull_url, strlen(spec->pull_url), r->pull_secret,
                        sizeof(r->pull_secret)) < 0) {
            rc = fail(err, errcap, -EINVAL, "pull URL too long");
            goto out;
        }
        if (spec->sub_url) {
            ad_for("subpull", &id, ad, sizeof(ad));
            if (strncmp(spec->sub_url, "rtsp://", 7) != 0 ||
                cv_key_seal(a->key, ad, spec->sub_url, strlen(spec->sub_url), r->sub_pull_secret,
                            sizeof(r->sub_pull_secret)) < 0) {
                rc = fail(err, errcap, -EINVAL, "bad substream URL");
                goto out;
            }
        }
    } else if ((rc = new_ingest(a, &id, ingest_secret, r->ingest_secret, sizeof(r->ingest_secret))) < 0) {
        rc = fail(err, errcap, rc, "cannot create the ingest secret");
        goto out;
    }
    rc = cv_store_camera_add(a->store, r, out);
    if (rc < 0) {
        rc = fail(err, errcap, rc, "%s",
                  rc == -EEXIST   ? "a camera with that name exists in that home"
                  : rc == -ENOENT ? "no such home"
                  : rc == -EINVAL ? "invalid camera name (1 to 127 bytes of printable UTF-8) or model"
                                  : "store error (see the log)");
        goto out;
    }
    audit(a, "camera.add", out, "camera %s (%s)", spec->name, r->source == CV_CAM_PULL ? "pull" : "push");
out:
    sodium_memzero(r, sizeof(*r));
    free(r);
    return rc;
}

static int camera_rotate_txn(const cv_admin *a, const cv_id *camera, char *ingest_secret, char *err, size_t errcap)
{
    cv_camera_rec *r = calloc(1, sizeof(*r));
    if (!r)
        return fail(err, errcap, -ENOMEM, "out of memory");
    int rc = cv_store_camera_get(a->store, camera, r);
    if (rc < 0 || r->source != CV_CAM_PUSH) {
        rc = fail(err, errcap, -ENOENT, "no such push camera");
        goto out;
    }
    char sealed[256];
    if ((rc = new_ingest(a, camera, ingest_secret, sealed, sizeof(sealed))) < 0 ||
        (rc = cv_store_camera_set_ingest(a->store, camera, sealed)) < 0) {
        rc = fail(err, errcap, rc, "cannot store the new secret");
        goto out;
    }
    audit(a, "camera.rotate", camera, "camera %s: new ingest secret", r->name);
out:
    free(r);
    return rc;
}

static int camera_remove_txn(const cv_admin *a, const cv_id *camera, char *err, size_t errcap)
{
    cv_camera_rec *r = calloc(1, sizeof(*r));
    if (!r)
        return fail(err, errcap, -ENOMEM, "out of memory");
    int rc = cv_store_camera_get(a->store, camera, r);
    if (rc == 0)
        rc = cv_store_camera_remove(a->store, camera);
    if (rc < 0)
        rc = fail(err, errcap, rc, "%s", store_msg(rc, "no such camera"));
    else
        audit(a, "camera.remove", camera, "camera %s", r->name);
    free(r);
    return rc;
}

static int camera_rename_txn(const cv_admin *a, const cv_id *camera, const char *name, char *err, size_t errcap)
{
    cv_camera_rec *r = calloc(1, sizeof(*r));
    if (!r)
        return fail(err, errcap, -ENOMEM, "out of memory");
    int rc = cv_store_camera_get(a->store, camera, r);
    if (rc == 0)
        rc = cv_store_camera_rename(a->store, camera, name);
    if (rc < 0)
        rc = fail(err, errcap, rc, "%s",
                  rc == -EEXIST   ? "a camera with that name exists in that home"
                  : rc == -ENOENT ? "no such camera"
                  : rc == -EINVAL ? "invalid camera name (1 to 127 bytes of printable UTF-8)"
                                  : "store error (see the log)");
    else
        audit(a, "camera.rename", camera, "camera %s renamed to %s", r->name, name);
    sodium_memzero(r, sizeof(*r));
    free(r);
    return rc;
}

int cv_admin_camera_resolve(const cv_admin *a, const cv_id *home, const char *what, cv_camera_rec *out)
{
    cv_id id;
    if (strlen(what) == CV_ID_HEX_LEN && cv_id_from_hex(what, CV_ID_HEX_LEN, &id) == 0 &&
        cv_store_camera_get(a->store, &id, out) == 0 && (!home || cv_id_eq(&out->home, home)))
        return 0;
    return cv_store_camera_find_name(a->store, home, what, out);
}

/* ----------------------------------------------------------------- grants */

static int grant_add_txn(const cv_admin *a, const cv_id *camera, const cv_id *user, uint32_t scopes,
                         int64_t expires_us, cv_id *out, char *err, size_t errcap)
{
    cv_grant_rec g;
    memset(&g, 0, sizeof(g));
    g.camera = *camera;
    g.user = *user;
    g.scopes = scopes;
    g.expires_us = expires_us;
    if (!scopes || (scopes & ~CV_SCOPE_ALL))
        return fail(err, errcap, -EINVAL, "scopes are live and/or snapshot");
    if (expires_us <= cv_wall_us())
        return fail(err, errcap, -EINVAL, "a grant must expire in the future");
    int rc = cv_store_grant_add(a->store, &g, out);
    if (rc < 0)
        return fail(err, errcap, rc, "%s", store_msg(rc, "no such camera or user"));
    cv_user_rec u;
    char login[CV_LOGIN_MAX + 1] = "?";
    if (cv_store_user_get(a->store, user, &u) == 0)
        snprintf(login, sizeof(login), "%s", u.login);
    audit(a, "grant.add", camera, "guest %s scopes %u until %lld", login, scopes, (long long)(expires_us / 1000000));
    return 0;
}

static int grant_remove_txn(const cv_admin *a, const cv_id *grant, char *err, size_t errcap)
{
    cv_grant_rec g;
    int rc = cv_store_grant_get(a->store, grant, &g);
    if (rc == 0)
        rc = cv_store_grant_remove(a->store, grant);
    if (rc < 0)
        return fail(err, errcap, rc, "%s", store_msg(rc, "no such grant"));
    audit(a, "grant.remove", &g.camera, "guest %s", g.login);
    return 0;
}

/* ----------------------------------------------------------------- tokens */

/* How long the user's access to the camera lasts: forever for a home role,
 * else until the last of the unexpired grants that cover scopes. A guest's
 * token never outlives the guest's grant. */
static int64_t access_until(cv_store *st, const cv_id *camera, const cv_id *user, uint32_t scopes, int64_t now)
{
    cv_camera_rec *cam = malloc(sizeof(*cam));
    cv_role role = CV_ROLE_NONE;
    if (cam && cv_store_camera_get(st, camera, cam) == 0)
        (void)cv_store_member_role(st, &cam->home, user, &role);
    free(cam);
    if (role != CV_ROLE_NONE)
        return INT64_MAX;
    cv_grant_rec *g = NULL;
    size_t n = 0;
    int64_t until = 0;
    if (cv_store_grant_list(st, camera, user, &g, &n) == 0)
        for (size_t i = 0; i < n; i++)
            if (g[i].expires_us > now && (g[i].scopes & scopes) == scopes)
                until = CV_MAX(until, g[i].expires_us);
    free(g);
    return until;
}

typedef struct {
    const cv_id *user;
    const cv_id *camera;
    uint32_t scopes;
    int64_t now;
    const cv_token_rec *rec;
} issue_ctx;

static int issue_txn(cv_store *st, void *vctx)
{
    issue_ctx *x = vctx;
    if (x->user) {
        uint32_t have = 0;
        if (cv_store_access(st, x->user, x->camera, x->now, &have) != 0 || (have & x->scopes) != x->scopes)
            return -EACCES;
    }
    int rc = cv_store_token_add(st, x->rec);
    return rc == -ENOENT ? -EACCES : rc;
}

static int token_issue_txn(const cv_admin *a, const cv_id *camera, const cv_id *user, uint32_t scopes,
                           int64_t ttl_us, char *out, cv_token *tok, char *err, size_t errcap)
{
    if (ttl_us < 1000000 || ttl_us > CV_TOKEN_TTL_MAX_US)
        return fail(err, errcap, -EINVAL, "a token lives 1 s to 24 h");
    if (!scopes || (scopes & ~CV_SCOPE_ALL))
        return fail(err, errcap, -EINVAL, "scopes are live and/or snapshot");
    cv_camera_rec *r = malloc(sizeof(*r));
    int rc = r ? cv_store_camera_get(a->store, camera, r) : -ENOMEM;
    free(r);
    if (rc < 0)
        return fail(err, errcap, -ENOENT, "no such camera");
    int64_t now = cv_wall_us();
    int64_t until = now + ttl_us;
    if (user)
        until = CV_MIN(until, access_until(a->store, camera, user, scopes, now));
    if (until <= now)
        return fail(err, errcap, -EACCES, "that user may not see that camera");
    cv_token t;
    memset(&t, 0, sizeof(t));
    cv_id_random(&t.id);
    t.camera = *camera;
    if (user)
        t.principal = *user;
    t.kind = CV_PRINCIPAL_USER;
    t.scopes = (uint8_t)scopes;
    t.expires_us = until;
    if (cv_token_encode(a->key, &t, out, CV_TOKEN_MAX) < 0)
        return fail(err, errcap, -EIO, "cannot encode the token");
    cv_token_rec rec;
    memset(&rec, 0, sizeof(rec));
    cv_token_hash(&t, rec.hash);
    rec.camera = t.camera;
    rec.principal_kind = t.kind;
    rec.principal = t.principal;
    rec.scopes = scopes;
    rec.expires_us = t.expires_us;
    rec.created_us = now;
    /* The access check and the record land together: a grant or membership
     * removed in between cannot leave a token that its cascade missed. */
    issue_ctx x = {user, camera, scopes, now, &rec};
    if ((rc = cv_store_txn(a->store, issue_txn, &x)) < 0)
        return fail(err, errcap, rc,
                    rc == -EACCES ? "that user may not see that camera" : "store error (see the log)");
    char h8[9];
    cv_hex_encode(rec.hash, 4, h8, sizeof(h8));
    audit(a, "token.issue", camera, "token %s scopes %u ttl %llds%s", h8, scopes, (long long)(ttl_us / 1000000),
          user ? "" : " (local administrator)");
    if (tok)
        *tok = t;
    return 0;
}

static int token_revoke_txn(const cv_admin *a, const char *token, char *err, size_t errcap)
{
    cv_token t;
    if (cv_token_decode(a->key, token, strlen(token), &t) != 0)
        return fail(err, errcap, -EINVAL, "not a token of this server");
    uint8_t h[32];
    cv_token_hash(&t, h);
    int rc = cv_store_token_revoke(a->store, h);
    if (rc < 0)
        return fail(err, errcap, rc, "%s", store_msg(rc, "no record of that token"));
    char h8[9];
    cv_hex_encode(h, 4, h8, sizeof(h8));
    audit(a, "token.revoke", &t.camera, "token %s", h8);
    return 0;
}

/* ---------------------------------------------------------- app passwords */

static int apppw_add_txn(const cv_admin *a, const cv_id *user, const char *label, char *secret, cv_id *out,
                         char *err, size_t errcap)
{
    cv_user_rec u;
    if (cv_store_user_get(a->store, user, &u) != 0)
        return fail(err, errcap, -ENOENT, "no such user");
    if (cv_random_secret(APPPW_BYTES, secret, 32) < 0)
        return fail(err, errcap, -EIO, "cannot generate a secret");
    /* Sealed under its own id, which we choose: pick it first. */
    cv_id id;
    cv_id_random(&id);
    char ad[64], sealed[256];
    ad_for("apppw", &id, ad, sizeof(ad));
    if (cv_key_seal(a->key, ad, secret, strlen(secret), sealed, sizeof(sealed)) < 0)
        return fail(err, errcap, -EIO, "cannot seal the secret");
    *out = id;
    if (!label || !*label)
        label = "app password";
    int rc = cv_store_apppw_add(a->store, user, label, sealed, out);
    if (rc < 0)
        return fail(err, errcap, rc, "%s", rc == -EINVAL ? "label too long" : store_msg(rc, "no such user"));
    if (!cv_id_eq(out, &id))
        return fail(err, errcap, -EIO, "store did not keep the app password id");
    audit(a, "apppw.add", NULL, "user %s label %s", u.login, label);
    return 0;
}

static int apppw_remove_txn(const cv_admin *a, const cv_id *user, const cv_id *id, char *err, size_t errcap)
{
    int rc = cv_store_apppw_remove(a->store, user, id);
    if (rc < 0)
        return fail(err, errcap, rc, "%s", store_msg(rc, "no such app password"));
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(id, hex);
    audit(a, "apppw.remove", NULL, "app password %.8s", hex);
    return 0;
}

int cv_admin_seal_legacy(const cv_admin *a)
{
    cv_camera_rec *recs = NULL;
    size_t n = 0;
    int sealed = 0, rc = cv_store_camera_list(a->store, NULL, &recs, &n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        cv_camera_rec *r = &recs[i];
        if (r->source != CV_CAM_PULL || r->pull_secret[0])
            continue;
        char ad[64], masked[sizeof(r->pull_url)], sealed_url[sizeof(r->pull_secret)];
        ad_for("pull", &r->id, ad, sizeof(ad));
        mask_url(r->pull_url, masked, sizeof(masked));
        if (cv_key_seal(a->key, ad, r->pull_url, strlen(r->pull_url), sealed_url, sizeof(sealed_url)) < 0)
            rc = -ENOSPC;
        else if ((rc = cv_store_camera_set_pull(a->store, &r->id, masked, sealed_url, NULL)) == 0) {
            audit(a, "camera.seal", &r->id, "camera %s: pull URL sealed with the server key", r->name);
            sealed++;
        }
    }
    sodium_memzero(recs, n * sizeof(*recs));
    free(recs);
    return rc < 0 ? rc : sealed;
}

/* ------------------------------------------------------- public entries */

/* Each operation runs in one transaction, so a change and its audit record
 * land together or not at all (store calls nest as savepoints). */
int cv_admin_user_add_hashed(const cv_admin *a, const char *login, const char *pw_hash, bool admin, cv_id *out,
                             char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, user_add_hashed_txn(a, login, pw_hash, admin, out, err, errcap));
}

int cv_admin_user_set_password_hash(const cv_admin *a, const cv_id *user, const char *pw_hash, char *err,
                                    size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, user_set_password_hash_txn(a, user, pw_hash, err, errcap));
}

int cv_admin_user_disable(const cv_admin *a, const cv_id *user, bool disabled, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, user_disable_txn(a, user, disabled, err, errcap));
}

int cv_admin_user_remove(const cv_admin *a, const cv_id *user, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, user_remove_txn(a, user, err, errcap));
}

int cv_admin_home_add(const cv_admin *a, const char *name, const cv_id *owner, cv_id *out, char *err,
                      size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, home_add_txn(a, name, owner, out, err, errcap));
}

int cv_admin_home_remove(const cv_admin *a, const cv_id *home, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, home_remove_txn(a, home, err, errcap));
}

int cv_admin_member_set(const cv_admin *a, const cv_id *home, const cv_id *user, cv_role role, char *err,
                        size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, member_set_txn(a, home, user, role, err, errcap));
}

int cv_admin_member_remove(const cv_admin *a, const cv_id *home, const cv_id *user, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, member_remove_txn(a, home, user, err, errcap));
}

int cv_admin_camera_add(const cv_admin *a, const cv_admin_camera_spec *spec, cv_id *out, char *ingest_secret,
                        char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, camera_add_txn(a, spec, out, ingest_secret, err, errcap));
}

int cv_admin_camera_rotate(const cv_admin *a, const cv_id *camera, char *ingest_secret, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, camera_rotate_txn(a, camera, ingest_secret, err, errcap));
}

int cv_admin_camera_remove(const cv_admin *a, const cv_id *camera, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, camera_remove_txn(a, camera, err, errcap));
}

int cv_admin_camera_rename(const cv_admin *a, const cv_id *camera, const char *name, char *err, size_t errcap)
{
    if (!name)
        return fail(err, errcap, -EINVAL, "a camera needs a name");
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, camera_rename_txn(a, camera, name, err, errcap));
}

int cv_admin_grant_add(const cv_admin *a, const cv_id *camera, const cv_id *user, uint32_t scopes,
                       int64_t expires_us, cv_id *out, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, grant_add_txn(a, camera, user, scopes, expires_us, out, err, errcap));
}

int cv_admin_grant_remove(const cv_admin *a, const cv_id *grant, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, grant_remove_txn(a, grant, err, errcap));
}

int cv_admin_token_issue(const cv_admin *a, const cv_id *camera, const cv_id *user, uint32_t scopes,
                         int64_t ttl_us, char *out, cv_token *tok, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, token_issue_txn(a, camera, user, scopes, ttl_us, out, tok, err, errcap));
}

int cv_admin_token_revoke(const cv_admin *a, const char *token, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, token_revoke_txn(a, token, err, errcap));
}

int cv_admin_apppw_add(const cv_admin *a, const cv_id *user, const char *label, char *secret, cv_id *out,
                       char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, apppw_add_txn(a, user, label, secret, out, err, errcap));
}

int cv_admin_apppw_remove(const cv_admin *a, const cv_id *user, const cv_id *id, char *err, size_t errcap)
{
    int rc = cv_store_begin(a->store);
    if (rc < 0)
        return fail(err, errcap, rc, "store error (see the log)");
    return cv_store_end(a->store, apppw_remove_txn(a, user, id, err, errcap));
}

/* ------------------------------------------------------------------ parse */

int cv_admin_parse_duration(const char *s, int64_t *out_us)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    int64_t mul = 1;
    if (end == s)
        return -EINVAL;
    if (*end) {
        switch (*end) {
        case 's': mul = 1; break;
        case 'm': mul = 60; break;
        case 'h': mul = 3600; break;
        case 'd': mul = 86400; break;
        default: return -EINVAL;
        }
        if (end[1])
            return -EINVAL;
    }
    if (v == 0 || v > (unsigned long long)(INT64_MAX / 1000000 / mul))
        return -EINVAL;
    *out_us = (int64_t)v * mul * 1000000;
    return 0;
}

int cv_admin_parse_scopes(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    const char *p = s;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 4 && strncmp(p, "live", 4) == 0)
            v |= CV_SCOPE_LIVE;
        else if (n == 8 && strncmp(p, "snapshot", 8) == 0)
            v |= CV_SCOPE_SNAPSHOT;
        else if (n == 3 && strncmp(p, "all", 3) == 0)
            v |= CV_SCOPE_ALL;
        else
            return -EINVAL;
        p = comma ? comma + 1 : NULL;
    }
    if (!v)
        return -EINVAL;
    *out = v;
    return 0;
}
