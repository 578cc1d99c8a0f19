/* Web sessions: login (password on the thread pool, then TOTP), logout,
 * and authenticating every other request by Bearer or cookie + CSRF.
 *
 * Only cv_hash32(secret) is stored; the CSRF value is an HMAC of the secret,
 * so the server keeps no CSRF state. An unknown login, a wrong password and
 * a disabled account cost one Argon2id verification each and get the same
 * bytes back. */
#define CV_LOG_MODULE "api"
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "http/parse.h"
#include "auth/totp.h"
#include "base/log.h"
#include "store/audit.h"
#include "store/secrets.h"

#define SESSION_BYTES 32
#define SECRET_MAX 128
#define COOKIE "cv_session"

static const char invalid_login[] = "invalid login or password";

void cv__api_safe_login(const char *login, size_t len, char out[CV_LOGIN_MAX + 1])
{
    size_t n = CV_MIN(len, (size_t)CV_LOGIN_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = login[i];
        bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
                  ch == '_' || ch == '@' || ch == '-';
        out[i] = ok ? ch : '?';
    }
    out[n] = '\0';
}

void cv__api_totp_ad(const cv_id *user, char out[48])
{
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(user, hex);
    snprintf(out, 48, "totp:%s", hex);
}

bool cv__api_totp_ok(cv__api_call *c, const cv_user_rec *u, const char *code, size_t len)
{
    cv_store *st = c->api->store;
    char sealed[256], ad[48];
    uint8_t seed[64];
    int64_t last = 0;
    if (!code || cv_store_user_get_totp(st, &u->id, sealed, sizeof(sealed)) != 0)
        return false;
    cv__api_totp_ad(&u->id, ad);
    int n = cv_key_open(c->api->key, ad, sealed, seed, sizeof(seed));
    bool ok = false;
    if (n > 0 && cv_store_user_totp_step(st, &u->id, &last) == 0) {
        int64_t step = cv_totp_check(seed, (size_t)n, code, len, cv_wall_us() / 1000000, last);
        /* set_totp_step only moves forward: a code raced in twice wins once. */
        ok = step > 0 && cv_store_user_set_totp_step(st, &u->id, step) == 0;
    }
    sodium_memzero(seed, sizeof(seed));
    return ok;
}

static void audit(cv__api_call *c, const char *event, const char *login, const char *detail)
{
    char principal[96];
    snprintf(principal, sizeof(principal), "user:%s", login);
    if (cv_store_audit(c->api->store, event, principal, NULL, c->peer, "http", detail) < 0)
        CV_WARN("audit log write failed (%s %s)", event, principal);
}

static void csrf_hex(const cv_key *key, const char *secret, size_t len, char out[65])
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)secret, len, cv_key_sub(key, CV_KEY_CSRF));
    sodium_bin2hex(out, 65, mac, sizeof(mac));
}

static void unauthorized(cv__api_call *c)
{
    cv__api_reply(c, 401, json_pack("{s:s}", "error", "authentication required"),
                  "WWW-Authenticate: Bearer realm=\"camvault\"\r\n");
}

bool cv__api_authenticate(cv__api_call *c, bool unsafe)
{
    cv_str secret;
    bool cookie = false;
    if (!cv_http_bearer(cv_http_req_header(c->req, "Authorization"), &secret)) {
        secret = cv_http_req_cookie(c->req, COOKIE);
        cookie = true;
    }
    cv_websession_rec ws;
    if (!secret.p || secret.len == 0 || secret.len > SECRET_MAX) {
        unauthorized(c);
        return false;
    }
    cv_hash32(secret.p, secret.len, c->session);
    if (cv_store_websession_get(c->api->store, c->session, cv_wall_us(), &ws) != 0 ||
        cv_store_user_get(c->api->store, &ws.user, &c->user) != 0 || c->user.disabled) {
        unauthorized(c);
        return false;
    }
    if (cookie)
        csrf_hex(c->api->key, secret.p, secret.len, c->csrf);
    if (cookie && unsafe) {
        cv_str got = cv_http_req_header(c->req, "X-CSRF-Token");
        bool ok = got.p && got.len == 64 && sodium_memcmp(got.p, c->csrf, 64) == 0;
        if (!ok) {
            cv__api_error(c, 403, "missing or bad CSRF token");
            return false;
        }
    }
    c->authed = true;
    c->by_cookie = cookie;
    snprintf(c->actor, sizeof(c->actor), "user:%s", c->user.login);
    c->adm = (cv_admin){.store = c->api->store, .key = c->api->key, .actor = c->actor, .address = c->peer,
                        .protocol = "http"};
    return true;
}

int cv_api_session_user(cv_api *a, cv_http_req *req, bool unsafe, cv_user_rec *user, char csrf[65])
{
    cv_str secret = cv_http_req_cookie(req, COOKIE);
    uint8_t h[32];
    cv_websession_rec ws;
    if (!secret.p || secret.len == 0 || secret.len > SECRET_MAX)
        return -EACCES;
    cv_hash32(secret.p, secret.len, h);
    if (cv_store_websession_get(a->store, h, cv_wall_us(), &ws) != 0 || cv_store_user_get(a->store, &ws.user, user) != 0 ||
        user->disabled)
        return -EACCES;
    csrf_hex(a->key, secret.p, secret.len, csrf);
    if (unsafe) {
        cv_str got = cv_http_req_header(req, "X-CSRF-Token");
        if (!got.p || got.len != 64 || sodium_memcmp(got.p, csrf, 64) != 0)
            return -EPERM;
    }
    return 0;
}

/* ---------------------------------------------------------------- login */

static int64_t retry_seconds(int64_t wait_us) { return (wait_us + 999999) / 1000000; }

static void login_failed(cv__api_call *c, const char *login, const char *why, bool count)
{
    if (count)
        cv_guard_failed(c->api->guard, "login", c->peer, c->account, cv_now_us());
    audit(c, "login.fail", login, why);
    CV_INFO("login as %s from %s refused: %s", login, c->peer, why);
}

static void login_ok(cv__api_call *c, const cv_user_rec *u)
{
    char secret[64], csrf[65], hdr[160];
    cv_api *a = c->api;
    int64_t now = cv_wall_us();
    cv_websession_rec ws = {.user = u->id, .created_us = now, .expires_us = now + a->session_ttl_us};
    if (cv_random_secret(SESSION_BYTES, secret, sizeof(secret)) < 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    cv_hash32(secret, strlen(secret), ws.hash);
    if (cv_store_websession_add(a->store, &ws) != 0) {
        sodium_memzero(secret, sizeof(secret));
        cv__api_error(c, 500, "internal error");
        return;
    }
    cv_guard_succeeded(a->guard, "login", c->peer, c->account);
    audit(c, "login.ok", u->login, "web session");
    CV_INFO("%s logged in from %s", u->login, c->peer);
    csrf_hex(a->key, secret, strlen(secret), csrf);
    long long ttl_s = (long long)(a->session_ttl_us / 1000000);
    /* Over HTTPS the cookie is Secure (never sent back over plain HTTP);
     * plain HTTP is loopback only. */
    snprintf(hdr, sizeof(hdr), "Set-Cookie: " COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld%s\r\n",
             secret, ttl_s, c->req && cv_http_req_secure(c->req) ? "; Secure" : "");
    json_t *user = json_pack("{s:o,s:o,s:b}", "id", cv__api_jid(&u->id), "login", cv__api_jstr(u->login), "admin",
                             u->admin);
    cv__api_reply(c, 200,
                  json_pack("{s:o,s:s,s:s,s:I}", "user", user, "session", secret, "csrf", csrf, "expires",
                            (json_int_t)(ws.expires_us / 1000000)),
                  hdr);
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(hdr, sizeof(hdr));
}

static void login_verified(cv__api_call *c, bool ok)
{
    const cv_api_value *totp = &c->v[2];
    char typed[CV_LOGIN_MAX + 1];
    cv__api_safe_login(c->v[0].s, c->v[0].len, typed);
    cv_user_rec u;
    /* Read the account again: it may have changed during the check. */
    bool found = c->has_hash && cv_store_user_get(c->api->store, &c->user.id, &u) == 0;
    if (!ok || !found || u.disabled) {
        login_failed(c, typed, !found ? "unknown login" : !ok ? "wrong password" : "account disabled", true);
        cv__api_error(c, 401, invalid_login);
        return;
    }
    if (u.totp_enabled) {
        bool given = totp->present && totp->len > 0;
        if (!given || !cv__api_totp_ok(c, &u, totp->s, totp->len)) {
            /* Asking for the code is not a failure; a wrong code is. */
            login_failed(c, u.login, given ? "wrong one-time code" : "one-time code required", given);
            cv__api_reply(c, 401, json_pack("{s:s,s:b}", "error", "one-time code required", "totp_required", 1),
                          NULL);
            return;
        }
    }
    login_ok(c, &u);
}

/* Sets c->account (the login lowercased) and checks the guard; answers 429
 * and returns false when the attempt must wait. */
static bool guard(cv__api_call *c, const char *login, size_t len)
{
    size_t n = CV_MIN(len, (size_t)CV_LOGIN_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = login[i];
        c->account[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    c->account[n] = '\0';
    int64_t wait = cv_guard_check(c->api->guard, "login", c->peer, c->account, cv_now_us());
    if (wait <= 0)
        return true;
    char typed[CV_LOGIN_MAX + 1], hdr[48];
    cv__api_safe_login(login, len, typed);
    audit(c, "login.fail", typed, "throttled");
    long long s = (long long)retry_seconds(wait);
    snprintf(hdr, sizeof(hdr), "Retry-After: %lld\r\n", s);
    cv__api_reply(c, 429,
                  json_pack("{s:s,s:I}", "error", "too many failed attempts; retry later", "retry_after",
                            (json_int_t)s),
                  hdr);
    return false;
}

bool cv__api_guard_check(cv__api_call *c) { return guard(c, c->user.login, strlen(c->user.login)); }

void cv__api_guard_failed(cv__api_call *c)
{
    cv_guard_failed(c->api->guard, "login", c->peer, c->account, cv_now_us());
}

void cv__api_login(cv__api_call *c)
{
    const cv_api_value *login = &c->v[0], *pw = &c->v[1];
    if (!guard(c, login->s, login->len))
        return;
    char hash[CV_PW_HASH_CAP];
    bool found = login->len <= CV_LOGIN_MAX && cv_store_user_find(c->api->store, login->s, &c->user, hash) == 0;
    (void)cv__api_verify(c, found ? hash : NULL, pw->s, pw->len, login_verified);
    sodium_memzero(hash, sizeof(hash));
}

void cv__api_logout(cv__api_call *c)
{
    int rc = cv_store_websession_remove(c->api->store, c->session);
    if (rc < 0 && rc != -ENOENT) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    audit(c, "logout", c->user.login, c->by_cookie ? "cookie session" : "bearer session");
    cv__api_reply(c, 204, NULL, "Set-Cookie: " COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0\r\n");
}
