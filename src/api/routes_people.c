/* /me (password, TOTP, app passwords), /users (admins), /homes and their
 * members. Mutations go through cv_admin_*, except the TOTP seed, which
 * admin.h does not cover: it is sealed here and audited here. */
#define CV_LOG_MODULE "api"
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "auth/password.h"
#include "auth/totp.h"
#include "base/log.h"
#include "store/audit.h"
#include "store/secrets.h"

static void audit(cv__api_call *c, const char *event, const char *detail)
{
    if (cv_store_audit(c->api->store, event, c->actor, NULL, c->peer, "http", detail) < 0)
        CV_WARN("audit log write failed (%s %s)", event, c->actor);
}

static json_t *home_json(const cv_home_rec *h, cv_role role)
{
    return json_pack("{s:o,s:o,s:s,s:I}", "id", cv__api_jid(&h->id), "name", cv__api_jstr(h->name), "role",
                     cv_role_name(role), "created", (json_int_t)(h->created_us / 1000000));
}

/* ------------------------------------------------------------------ me */

void cv__api_me(cv__api_call *c)
{
    cv_home_rec *h = NULL;
    size_t n = 0;
    if (cv_store_home_list(c->api->store, &c->user.id, &h, &n) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    json_t *homes = json_array();
    for (size_t i = 0; i < n; i++) {
        cv_role r = CV_ROLE_NONE;
        (void)cv_store_member_role(c->api->store, &h[i].id, &c->user.id, &r);
        json_array_append_new(homes, home_json(&h[i], r));
    }
    free(h);
    json_t *o = json_pack("{s:o,s:o}", "user", cv__api_user_json(&c->user), "homes", homes);
    /* A browser that reloaded its page lost the CSRF value login gave it;
     * only a same-origin script can read this answer (no CORS). */
    if (o && c->by_cookie)
        json_object_set_new(o, "csrf", json_string(c->csrf));
    cv__api_reply(c, 200, o, NULL);
}

static void new_password_hashed(cv__api_call *c, bool ok)
{
    if (!ok) {
        cv__api_error(c, 400, "new: a password must be 8 to 1024 bytes");
        return;
    }
    char err[160] = "";
    int rc = cv_admin_user_set_password_hash(&c->adm, &c->user.id, c->hash, err, sizeof(err));
    if (rc < 0) {
        cv__api_admin_error(c, rc, err);
        return;
    }
    cv__api_reply(c, 204, NULL, NULL);
}

static void password_checked(cv__api_call *c, bool ok)
{
    if (!ok) {
        cv__api_guard_failed(c);
        audit(c, "user.password.fail", "wrong old password");
        cv__api_error(c, 403, "old: wrong password");
        return;
    }
    cv_guard_succeeded(c->api->guard, "login", c->peer, c->account);
    /* The new hash is computed on the thread pool too. */
    (void)cv__api_hash(c, c->v[1].s, c->v[1].len, new_password_hashed);
}

void cv__api_me_password(cv__api_call *c)
{
    if (!cv__api_guard_check(c))
        return;
    cv_user_rec u;
    char hash[CV_PW_HASH_CAP];
    if (cv_store_user_find(c->api->store, c->user.login, &u, hash) != 0 || !cv_id_eq(&u.id, &c->user.id)) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    (void)cv__api_verify(c, hash, c->v[0].s, c->v[0].len, password_checked);
    sodium_memzero(hash, sizeof(hash));
}

/* ----------------------------------------------------------------- TOTP */

void cv__api_totp_begin(cv__api_call *c)
{
    if (c->user.totp_enabled) {
        cv__api_error(c, 409, "one-time codes are already on; turn them off first");
        return;
    }
    uint8_t seed[CV_TOTP_SECRET_BYTES];
    char ad[48], sealed[256], b32[64], uri[256];
    cv_totp_new_secret(seed);
    cv__api_totp_ad(&c->user.id, ad);
    int rc = cv_key_seal(c->api->key, ad, seed, sizeof(seed), sealed, sizeof(sealed)) < 0 ||
                     cv_totp_base32(seed, sizeof(seed), b32, sizeof(b32)) < 0 ||
                     cv_totp_uri(seed, sizeof(seed), c->user.login, uri, sizeof(uri)) < 0
                 ? -ENOSPC
                 : cv_store_user_set_totp(c->api->store, &c->user.id, sealed, false);
    sodium_memzero(seed, sizeof(seed));
    if (rc < 0) {
        cv__api_error(c, 500, "internal error");
    } else {
        audit(c, "totp.enrol", "pending seed created");
        cv__api_reply(c, 200, json_pack("{s:s,s:s}", "secret", b32, "otpauth_uri", uri), NULL);
    }
    sodium_memzero(b32, sizeof(b32));
    sodium_memzero(uri, sizeof(uri));
}

/* Checks c->v[0] (the code) with the guard; false after answering. */
static bool code_ok(cv__api_call *c)
{
    if (!cv__api_guard_check(c))
        return false;
    if (!cv__api_totp_ok(c, &c->user, c->v[0].s, c->v[0].len)) {
        cv__api_guard_failed(c);
        audit(c, "totp.fail", "wrong one-time code");
        cv__api_error(c, 400, "code: wrong or expired one-time code");
        return false;
    }
    return true;
}

void cv__api_totp_confirm(cv__api_call *c)
{
    char sealed[256];
    if (c->user.totp_enabled) {
        cv__api_error(c, 409, "one-time codes are already on");
        return;
    }
    if (cv_store_user_get_totp(c->api->store, &c->user.id, sealed, sizeof(sealed)) != 0) {
        cv__api_error(c, 409, "no enrolment pending: POST /api/v1/me/totp first");
        return;
    }
    /* The step is consumed even if enabling fails: a code is good once. */
    if (!code_ok(c))
        return;
    if (cv_store_user_set_totp(c->api->store, &c->user.id, sealed, true) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    audit(c, "totp.enable", "one-time codes on");
    cv__api_reply(c, 200, json_pack("{s:b}", "totp", 1), NULL);
}

void cv__api_totp_disable(cv__api_call *c)
{
    if (!c->user.totp_enabled) {
        cv__api_error(c, 409, "one-time codes are off");
        return;
    }
    if (!code_ok(c))
        return;
    if (cv_store_user_set_totp(c->api->store, &c->user.id, NULL, false) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    audit(c, "totp.disable", "one-time codes off");
    cv__api_reply(c, 204, NULL, NULL);
}

/* -------------------------------------------------------- app passwords */

void cv__api_apppw_list(cv__api_call *c)
{
    cv_apppw_rec *pw = NULL;
    size_t n = 0;
    if (cv_store_apppw_list(c->api->store, &c->user.id, &pw, &n) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) /* never the sealed value */
        json_array_append_new(arr, json_pack("{s:o,s:o,s:I}", "id", cv__api_jid(&pw[i].id), "label",
                                             cv__api_jstr(pw[i].label), "created",
                                             (json_int_t)(pw[i].created_us / 1000000)));
    sodium_memzero(pw, n * sizeof(*pw));
    free(pw);
    cv__api_reply(c, 200, json_pack("{s:o}", "app_passwords", arr), NULL);
}

void cv__api_apppw_add(cv__api_call *c)
{
    char secret[64], err[160] = "", url[512], usage[800];
    cv_id id;
    const char *label = c->v[0].present ? c->v[0].s : "";
    int rc = cv_admin_apppw_add(&c->adm, &c->user.id, label, secret, &id, err, sizeof(err));
    if (rc < 0) {
        cv__api_admin_error(c, rc, err);
        return;
    }
    cv__api_rtsp_url(c->api, c->user.login, secret, "/cam/<camera id>", url, sizeof(url));
    snprintf(usage, sizeof(usage),
             "RTSP clients that speak Digest (NVRs, VLC): user name %s, this password, e.g. %s. "
             "Shown once; it opens every camera you may see.",
             c->user.login, url);
    cv__api_reply(c, 201,
                  json_pack("{s:o,s:o,s:s,s:s}", "id", cv__api_jid(&id), "label", cv__api_jstr(label), "password",
                            secret, "usage", usage),
                  NULL);
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(url, sizeof(url));
    sodium_memzero(usage, sizeof(usage));
}

void cv__api_apppw_remove(cv__api_call *c)
{
    cv_id id;
    char err[160] = "";
    if (!cv__api_parse_id(c->param[0], &id)) {
        cv__api_forbidden(c);
        return;
    }
    int rc = cv_admin_apppw_remove(&c->adm, &c->user.id, &id, err, sizeof(err));
    if (rc < 0)
        cv__api_admin_error(c, rc, err);
    else
        cv__api_reply(c, 204, NULL, NULL);
}

/* ---------------------------------------------------------------- users */

void cv__api_users_list(cv__api_call *c)
{
    cv_user_rec *u = NULL;
    size_t n = 0;
    if (cv_store_user_list(c->api->store, &u, &n) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, cv__api_user_json(&u[i]));
    free(u);
    cv__api_reply(c, 200, json_pack("{s:o}", "users", arr), NULL);
}

static void user_hashed(cv__api_call *c, bool ok)
{
    char err[160] = "";
    cv_id id;
    cv_user_rec u;
    if (!ok) {
        cv__api_error(c, 400, "password: a password must be 8 to 1024 bytes");
        return;
    }
    int rc = cv_admin_user_add_hashed(&c->adm, c->v[0].s, c->hash, c->v[2].present && c->v[2].b, &id, err,
                                      sizeof(err));
    if (rc < 0) {
        cv__api_admin_error(c, rc, err);
        return;
    }
    if (cv_store_user_get(c->api->store, &id, &u) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    json_t *o = json_pack("{s:o}", "user", cv__api_user_json(&u));
    if (o && c->generated)
        json_object_set_new(o, "password", json_string(c->pw)); /* shown once */
    cv__api_reply(c, 201, o, NULL);
}

void cv__api_users_add(cv__api_call *c)
{
    if (c->v[1].present) {
        (void)cv__api_hash(c, c->v[1].s, c->v[1].len, user_hashed);
        return;
    }
    char gen[64];
    if (cv_pw_generate(gen, sizeof(gen)) < 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    c->generated = true;
    (void)cv__api_hash(c, gen, strlen(gen), user_hashed);
    sodium_memzero(gen, sizeof(gen));
}

/* The user named by the path, for an admin acting on another account. */
static bool target_user(cv__api_call *c, cv_user_rec *u)
{
    cv_id id;
    if (!cv__api_parse_id(c->param[0], &id) || cv_store_user_get(c->api->store, &id, u) != 0) {
        cv__api_error(c, 400, "no such user");
        return false;
    }
    if (cv_id_eq(&id, &c->user.id)) {
        cv__api_error(c, 400, "you cannot disable or remove your own account");
        return false;
    }
    return true;
}

static void set_disabled(cv__api_call *c, bool disabled)
{
    cv_user_rec u;
    char err[160] = "";
    if (!target_user(c, &u))
        return;
    int rc = cv_admin_user_disable(&c->adm, &u.id, disabled, err, sizeof(err));
    if (rc < 0) {
        cv__api_admin_error(c, rc, err);
        return;
    }
    u.disabled = disabled;
    cv__api_reply(c, 200, json_pack("{s:o}", "user", cv__api_user_json(&u)), NULL);
}

void cv__api_user_disable(cv__api_call *c) { set_disabled(c, true); }
void cv__api_user_enable(cv__api_call *c) { set_disabled(c, false); }

void cv__api_user_remove(cv__api_call *c)
{
    cv_user_rec u;
    char err[160] = "";
    if (!target_user(c, &u))
        return;
    int rc = cv_admin_user_remove(&c->adm, &u.id, err, sizeof(err));
    if (rc < 0)
        cv__api_admin_error(c, rc, err);
    else
        cv__api_reply(c, 204, NULL, NULL);
}

/* ---------------------------------------------------------------- homes */

void cv__api_homes_list(cv__api_call *c)
{
    cv_home_rec *h = NULL;
    size_t n = 0;
    if (cv_store_home_list(c->api->store, c->user.admin ? NULL : &c->user.id, &h, &n) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        cv_role r = CV_ROLE_NONE; /* the caller's own role, "none" for an admin outside */
        (void)cv_store_member_role(c->api->store, &h[i].id, &c->user.id, &r);
        json_array_append_new(arr, home_json(&h[i], r));
    }
    free(h);
    cv__api_reply(c, 200, json_pack("{s:o}", "homes", arr), NULL);
}

typedef struct {
    cv__api_call *c;
    cv_id id;
    char err[160];
} home_add_txn;

static int home_add(cv_store *st, void *ctx)
{
    home_add_txn *t = ctx;
    (void)st;
    return cv_admin_home_add(&t->c->adm, t->c->v[0].s, &t->c->user.id, &t->id, t->err, sizeof(t->err));
}

void cv__api_homes_add(cv__api_call *c)
{
    cv_home_rec h;
    home_add_txn t = {.c = c};
    /* The home and its owner land together or not at all. */
    int rc = cv_store_txn(c->api->store, home_add, &t);
    cv_id id = t.id;
    const char *err = t.err;
    if (rc < 0) {
        cv__api_admin_error(c, rc, err);
        return;
    }
    if (cv_store_home_get(c->api->store, &id, &h) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    cv__api_reply(c, 201, home_json(&h, CV_ROLE_OWNER), NULL);
}

void cv__api_home_remove(cv__api_call *c)
{
    cv_home_rec h;
    char err[160] = "";
    if (!cv__api_home(c, c->param[0], CV_ROLE_OWNER, &h, NULL))
        return;
    int rc = cv_admin_home_remove(&c->adm, &h.id, err, sizeof(err));
    if (rc < 0)
        cv__api_admin_error(c, rc, err);
    else
        cv__api_reply(c, 204, NULL, NULL);
}

void cv__api_members_list(cv__api_call *c)
{
    cv_home_rec h;
    cv_member_rec *m = NULL;
    size_t n = 0;
    if (!cv__api_home(c, c->param[0], CV_ROLE_VIEWER, &h, NULL))
        return;
    if (cv_store_member_list(c->api->store, &h.id, &m, &n) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:o,s:o,s:s}", "id", cv__api_jid(&m[i].user), "login",
                                             cv__api_jstr(m[i].login), "role", cv_role_name(m[i].role)));
    free(m);
    cv__api_reply(c, 200, json_pack("{s:o,s:o}", "home", cv__api_jid(&h.id), "members", arr), NULL);
}

/* Whether changing who's role in home from old leaves it without an owner. */
static bool last_owner(cv__api_call *c, const cv_id *home, cv_role old)
{
    if (old != CV_ROLE_OWNER)
        return false;
    cv_member_rec *m = NULL;
    size_t n = 0, owners = 0;
    if (cv_store_member_list(c->api->store, home, &m, &n) != 0)
        return true; /* refuse rather than guess */
    for (size_t i = 0; i < n; i++)
        owners += m[i].role == CV_ROLE_OWNER;
    free(m);
    return owners <= 1;
}

/* The home and the member login from the path; the caller must own the
 * home (or be an admin), or act on themselves when self_ok. */
static bool member_target(cv__api_call *c, bool self_ok, cv_home_rec *h, cv_user_rec *u, cv_role *old)
{
    cv_id id;
    cv_role mine;
    if (!cv__api_parse_id(c->param[0], &id) || cv_store_home_get(c->api->store, &id, h) != 0 ||
        (mine = cv__api_role(c, &id)) == CV_ROLE_NONE) {
        cv__api_forbidden(c);
        return false;
    }
    bool found = cv_store_user_find(c->api->store, c->param[1], u, NULL) == 0;
    bool self = found && cv_id_eq(&u->id, &c->user.id);
    if (mine < CV_ROLE_OWNER && !(self_ok && self)) {
        cv__api_forbidden(c);
        return false;
    }
    if (!found) {
        cv__api_error(c, 400, "no such user");
        return false;
    }
    *old = CV_ROLE_NONE;
    if (cv_store_member_role(c->api->store, &h->id, &u->id, old) != 0) {
        cv__api_error(c, 500, "internal error");
        return false;
    }
    return true;
}

void cv__api_member_set(cv__api_call *c)
{
    cv_home_rec h;
    cv_user_rec u;
    cv_role old, role;
    char err[160] = "";
    if (!member_target(c, false, &h, &u, &old))
        return;
    if (cv_role_parse(c->v[0].s, &role) != 0 || role == CV_ROLE_NONE) {
        cv__api_error(c, 400, "role: must be \"owner\", \"member\" or \"viewer\"");
        return;
    }
    if (role != CV_ROLE_OWNER && last_owner(c, &h.id, old)) {
        cv__api_error(c, 409, "a home keeps at least one owner");
        return;
    }
    int rc = cv_admin_member_set(&c->adm, &h.id, &u.id, role, err, sizeof(err));
    if (rc < 0) {
        cv__api_admin_error(c, rc, err);
        return;
    }
    cv__api_reply(c, 200,
                  json_pack("{s:o,s:o,s:o,s:s}", "home", cv__api_jid(&h.id), "id", cv__api_jid(&u.id), "login",
                            cv__api_jstr(u.login), "role", cv_role_name(role)),
                  NULL);
}

void cv__api_member_remove(cv__api_call *c)
{
    cv_home_rec h;
    cv_user_rec u;
    cv_role old;
    char err[160] = "";
    if (!member_target(c, true, &h, &u, &old))
        return;
    if (old == CV_ROLE_NONE) {
        cv__api_error(c, 400, "that user is not a member of this home");
        return;
    }
    if (last_owner(c, &h.id, old)) {
        cv__api_error(c, 409, "a home keeps at least one owner");
        return;
    }
    int rc = cv_admin_member_remove(&c->adm, &h.id, &u.id, err, sizeof(err));
    if (rc < 0)
        cv__api_admin_error(c, rc, err);
    else
        cv__api_reply(c, 204, NULL, NULL);
}
