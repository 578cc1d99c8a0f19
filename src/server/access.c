#define CV_LOG_MODULE "access"
#include "server/access.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "rtsp/auth.h"
#include "store/audit.h"
#include "store/oauth.h"
#include "store/people.h"
#include "store/secrets.h"

#define REALM "camvault"
#define NONCE_MAX_AGE_US (5 * 60 * 1000000LL)
#define SECRET_MAX 256

struct cv_access {
    cv_store *store;
    const cv_key *key;
    cv_guard *guard;
    uint8_t *revoked; /* sorted 32-byte hashes */
    size_t nrevoked;
    bool deep;
    cv_access_stats stats;
};

void cv_access_set_deep(cv_access *a, bool deep) { a->deep = deep; }

static int hash_cmp(const void *a, const void *b) { return memcmp(a, b, 32); }

cv_access *cv_access_new(cv_store *store, const cv_key *key, const cv_guard_policy *throttle)
{
    cv_access *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->store = store;
    a->key = key;
    a->guard = cv_guard_new(throttle);
    if (!a->guard) {
        free(a);
        return NULL;
    }
    return a;
}

void cv_access_free(cv_access *a)
{
    if (!a)
        return;
    cv_guard_free(a->guard);
    free(a->revoked);
    free(a);
}

cv_guard *cv_access_guard(cv_access *a) { return a->guard; }

int cv_access_reload(cv_access *a)
{
    uint8_t *list = NULL;
    size_t n = 0;
    int rc = cv_store_token_revoked(a->store, cv_wall_us(), &list, &n);
    if (rc < 0)
        return rc;
    if (n)
        qsort(list, n, 32, hash_cmp);
    free(a->revoked);
    a->revoked = list;
    a->nrevoked = n;
    return 0;
}

bool cv_access_token_revoked(const cv_access *a, const uint8_t hash[32])
{
    return a->nrevoked && bsearch(hash, a->revoked, a->nrevoked, 32, hash_cmp) != NULL;
}

void cv_access_get_stats(const cv_access *a, cv_access_stats *out) { *out = a->stats; }

static int64_t retry_seconds(int64_t wait_us) { return (wait_us + 999999) / 1000000; }

int cv_access_check_token(cv_access *a, const char *tok, size_t len, const cv_id *camera, uint32_t scope,
                          const char *address, cv_token *out, int64_t *retry_s)
{
    int64_t now = cv_now_us();
    int64_t wait = cv_guard_check(a->guard, "token", address, NULL, now);
    if (wait > 0) {
        a->stats.throttled++;
        *retry_s = retry_seconds(wait);
        return 429;
    }
    cv_token t;
    int rc = cv_token_decode(a->key, tok, len, &t);
    if (rc < 0) {
        /* Forged, tampered or garbage: a guess. Counted against the address. */
        cv_guard_failed(a->guard, "token", address, NULL, now);
        a->stats.tokens_refused++;
        CV_INFO("token from %s refused: %s", address, rc == -EACCES ? "bad signature" : "malformed");
        return 401;
    }
    uint8_t h[32];
    cv_token_hash(&t, h);
    if (t.expires_us <= cv_wall_us() || cv_access_token_revoked(a, h)) {
        a->stats.tokens_refused++;
        CV_INFO("token from %s refused: %s", address, t.expires_us <= cv_wall_us() ? "expired" : "revoked");
        return 401;
    }
    if (!cv_id_eq(&t.camera, camera) || !(t.scopes & scope)) {
        a->stats.tokens_refused++;
        return 403;
    }
    if (t.kind == CV_PRINCIPAL_INTEGRATION) {
        int lrc = cv_access_link_ok(a, &t.principal, camera, scope);
        if (lrc < 0) {
            a->stats.tokens_refused++;
            a->stats.link_refused++;
            CV_INFO("partner stream token from %s refused: %s", address,
                    lrc == -ESHUTDOWN ? "kill switch on"
                    : lrc == -EACCES  ? "access gone"
                    : lrc == -ENOENT  ? "link gone"
                                      : "store error");
            return lrc == -ESHUTDOWN ? 503 : lrc == -EACCES ? 403 : 401;
        }
    }
    a->stats.tokens_ok++;
    *out = t;
    return 200;
}

int cv_access_link_ok(cv_access *a, const cv_id *link, const cv_id *camera, uint32_t scope)
{
    cv_camera_rec *rec = malloc(sizeof(*rec));
    if (!rec)
        return -EIO;
    cv_id user;
    uint32_t scopes = 0;
    int rc = cv_store_camera_get(a->store, camera, rec);
    if (rc == 0) {
        rc = cv_store_oauth_link_check(a->store, link, rec->model, &user, NULL);
        if (rc == -EACCES)
            rc = -ESHUTDOWN; /* the operator's kill switch, not the user's access */
    }
    if (rc == 0) {
        rc = cv_store_access(a->store, &user, camera, cv_wall_us(), &scopes);
        if (rc == 0 && !(scopes & scope))
            rc = -EACCES;
        else if (rc == -ENOENT)
            rc = -EACCES;
    }
    free(rec);
    return rc;
}

/* ----------------------------------------------------------------- RTSP */

/* The value of name= in the URI's query, copied into out. Returns its length
 * or -1 when absent or unfit (too long, percent-encoded). */
static int query_param(cv_str uri, const char *name, char *out, size_t cap)
{
    const char *q = memchr(uri.p, '?', uri.len);
    if (!q)
        return -1;
    const char *p = q + 1, *end = uri.p + uri.len;
    size_t nl = strlen(name);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = (size_t)(stop - p) - nl - 1;
            if (vl + 1 > cap || memchr(p + nl + 1, '%', vl))
                return -1;
            memcpy(out, p + nl + 1, vl);
            out[vl] = 0;
            return (int)vl;
        }
        p = stop + 1;
    }
    return -1;
}

static int challenge(cv_access *a, cv_sbuf *out, bool stale)
{
    char nonce[CV_AUTH_NONCE_MAX + 8];
    if (cv_auth_make_nonce(cv_key_sub(a->key, CV_KEY_NONCE), cv_wall_us(), nonce, sizeof(nonce)) < 0)
        return 403;
    (void)cv_auth_make_challenge(out, REALM, nonce, stale);
    return 401;
}

static int throttled(cv_access *a, cv_sbuf *out, int64_t wait)
{
    a->stats.throttled++;
    cv_sbuf_printf(out, "%lld", (long long)retry_seconds(wait));
    return 503;
}

/* The Digest uri must be the request's, with or without its query. */
static bool uri_matches(cv_str digest_uri, cv_str req_uri)
{
    if (cv_str_eq(digest_uri, req_uri))
        return true;
    const char *q = memchr(req_uri.p, '?', req_uri.len);
    return q && cv_str_eq(digest_uri, (cv_str){req_uri.p, (size_t)(q - req_uri.p)});
}

static void audit(cv_access *a, const char *event, const char *principal, const cv_id *camera, const char *peer,
                  const char *detail)
{
    if (cv_store_audit(a->store, event, principal, camera, peer, "rtsp", detail) < 0)
        CV_WARN("audit log write failed (%s %s)", event, principal);
}

/* A push camera proving its ingest secret. A camera that does not exist (or
 * does not push) costs the same and fails the same. */
static bool ingest_ok(cv_access *a, const cv_id *camera, const cv_auth_credentials *cr, const char *method,
                      uint8_t secret_hash[32])
{
    cv_camera_rec *rec = malloc(sizeof(*rec));
    char secret[SECRET_MAX] = "not-a-camera-secret-but-costs-the-same";
    int n = -1;
    if (rec && cv_store_camera_get(a->store, camera, rec) == 0 && rec->source == CV_CAM_PUSH) {
        char ad[64], hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(camera, hex);
        snprintf(ad, sizeof(ad), "ingest:%s", hex);
        n = cv_key_open(a->key, ad, rec->ingest_secret, secret, sizeof(secret));
        /* Remembered so that rotating the secret ends this publisher too. */
        cv_hash32(rec->ingest_secret, strlen(rec->ingest_secret), secret_hash);
    }
    free(rec);
    bool ok = cv_auth_digest_ok(cr, method, secret, n > 0 ? (size_t)n : strlen(secret));
    sodium_memzero(secret, sizeof(secret));
    return ok && n > 0;
}

/* A user proving one of their app passwords. On success *apppw is the id of
 * the one that matched. */
static bool apppw_ok(cv_access *a, const cv_auth_credentials *cr, const char *method, cv_user_rec *user,
                     cv_id *apppw)
{
    char login[CV_LOGIN_MAX + 1];
    if (cr->username.len == 0 || cr->username.len > CV_LOGIN_MAX)
        return false;
    memcpy(login, cr->username.p, cr->username.len);
    login[cr->username.len] = 0;
    if (cv_store_user_find(a->store, login, user, NULL) != 0 || user->disabled) {
        (void)cv_auth_digest_ok(cr, method, "no-such-user-but-costs-the-same", 31);
        return false;
    }
    cv_apppw_rec *pw = NULL;
    size_t n = 0;
    if (cv_store_apppw_list(a->store, &user->id, &pw, &n) != 0)
        return false;
    bool ok = false;
    for (size_t i = 0; i < n && !ok; i++) {
        char ad[64], hex[CV_ID_HEX_LEN + 1], secret[SECRET_MAX];
        cv_id_to_hex(&pw[i].id, hex);
        snprintf(ad, sizeof(ad), "apppw:%s", hex);
        int len = cv_key_open(a->key, ad, pw[i].sealed, secret, sizeof(secret));
        if (len > 0 && cv_auth_digest_ok(cr, method, secret, (size_t)len)) {
            ok = true;
            *apppw = pw[i].id;
        }
        sodium_memzero(secret, sizeof(secret));
    }
    free(pw);
    return ok;
}

static void token_access(const cv_token *t, cv_rtsp_access *out);

static int by_token(cv_access *a, const cv_rtsp_auth_req *req, const char *tok, size_t len, cv_rtsp_access *out,
                    cv_sbuf *chal)
{
    cv_token t;
    int64_t retry = 0;
    int st = cv_access_check_token(a, tok, len, req->camera, CV_SCOPE_LIVE, req->peer, &t, &retry);
    if (st == 429) {
        cv_sbuf_printf(chal, "%lld", (long long)retry);
        return 503;
    }
    if (st == 503)
        return 503; /* kill switch: no Retry-After value, so not read as throttling */
    if (st != 200)
        return st == 401 && !req->authorization ? challenge(a, chal, false) : st;
    token_access(&t, out);
    return 200;
}

static void token_access(const cv_token *t, cv_rtsp_access *out)
{
    out->kind = t->kind == CV_PRINCIPAL_INTEGRATION ? CV_ACCESS_LINK : CV_ACCESS_TOKEN;
    out->principal = t->principal;
    cv_token_hash(t, out->token_hash);
    char h8[9];
    cv_hex_encode(out->token_hash, 4, h8, sizeof(h8));
    char phex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&t->principal, phex);
    snprintf(out->who, sizeof(out->who), "%s:%.8s token:%s", t->kind == CV_PRINCIPAL_USER ? "user" : "link", phex,
             h8);
}

int cv_access_http_token(cv_access *a, const char *tok, size_t len, const cv_id *camera, uint32_t scope,
                         const char *peer, cv_rtsp_access *out, int64_t *retry_s)
{
    cv_token t;
    int st = cv_access_check_token(a, tok, len, camera, scope, peer, &t, retry_s);
    if (st == 200)
        token_access(&t, out);
    return st;
}

static int by_digest(cv_access *a, const cv_rtsp_auth_req *req, cv_rtsp_access *out, cv_sbuf *chal)
{
    cv_auth_credentials cr;
    if (cv_auth_parse_credentials(*req->authorization, &cr) != 0 || !cr.digest)
        return challenge(a, chal, false);
    int nrc = cv_auth_check_nonce(cv_key_sub(a->key, CV_KEY_NONCE), cr.nonce, cv_wall_us(), NONCE_MAX_AGE_US);
    if (nrc == -ESTALE)
        return challenge(a, chal, true);
    if (nrc != 0 || !uri_matches(cr.uri, req->uri) || !cv_str_eq(cr.realm, CV_STR_LIT(REALM)))
        return challenge(a, chal, false);

    char cam_hex[CV_ID_HEX_LEN + 1], account[CV_LOGIN_MAX + 1];
    cv_id_to_hex(req->camera, cam_hex);
    snprintf(account, sizeof(account), "%.*s", (int)CV_MIN(cr.username.len, CV_LOGIN_MAX), cr.username.p);
    const char *realm = req->publish ? "ingest" : "login";
    const char *acct = req->publish ? cam_hex : account;
    int64_t now = cv_now_us();
    int64_t wait = cv_guard_check(a->guard, realm, req->peer, acct, now);
    if (wait > 0)
        return throttled(a, chal, wait);

    cv_user_rec user;
    cv_id apppw = {{0}};
    uint8_t secret_hash[32] = {0};
    bool ok = req->publish ? ingest_ok(a, req->camera, &cr, req->method, secret_hash)
                           : apppw_ok(a, &cr, req->method, &user, &apppw);
    if (!ok) {
        cv_guard_failed(a->guard, realm, req->peer, acct, now);
        a->stats.digest_refused++;
        char who[96];
        snprintf(who, sizeof(who), "%s:%s", req->publish ? "camera" : "user", acct);
        audit(a, req->publish ? "ingest.fail" : "login.fail", who, req->publish ? req->camera : NULL, req->peer,
              req->publish ? "wrong ingest secret" : "wrong app password");
        return challenge(a, chal, false);
    }
    cv_guard_succeeded(a->guard, realm, req->peer, acct);
    a->stats.digest_ok++;
    if (req->publish) {
        out->kind = CV_ACCESS_INGEST;
        out->principal = *req->camera;
        memcpy(out->token_hash, secret_hash, sizeof(secret_hash));
        snprintf(out->who, sizeof(out->who), "camera:%.8s", cam_hex);
        return 200;
    }
    uint32_t scopes = 0;
    if (cv_store_access(a->store, &user.id, req->camera, cv_wall_us(), &scopes) != 0 || !(scopes & CV_SCOPE_LIVE))
        return 403;
    out->kind = CV_ACCESS_APPPW;
    out->principal = user.id;
    memcpy(out->token_hash, apppw.b, CV_ID_BYTES);
    snprintf(out->who, sizeof(out->who), "user:%s", user.login);
    return 200;
}

int cv_access_rtsp_authorize(void *ctx, const cv_rtsp_auth_req *req, cv_rtsp_access *out, cv_sbuf *chal)
{
    cv_access *a = ctx;
    if (!req->publish) {
        char tok[CV_TOKEN_MAX];
        int n = query_param(req->uri, "token", tok, sizeof(tok));
        if (n >= 0) {
            int st = by_token(a, req, tok, (size_t)n, out, chal);
            if (st != 401 || !req->authorization)
                return st;
            cv_sbuf_reset(chal);
        }
    }
    if (!req->authorization)
        return challenge(a, chal, false);
    return by_digest(a, req, out, chal);
}

bool cv_access_rtsp_still_allowed(void *ctx, const cv_id *camera, bool publish, const cv_rtsp_access *acc)
{
    cv_access *a = ctx;
    switch (acc->kind) {
    case CV_ACCESS_TOKEN: {
        if (publish || cv_access_token_revoked(a, acc->token_hash))
            return false;
        if (!a->deep || cv_id_is_zero(&acc->principal))
            return true; /* the local administrator's tokens answer to revocation only */
        uint32_t scopes = 0;
        return cv_store_access(a->store, &acc->principal, camera, cv_wall_us(), &scopes) == 0 &&
               (scopes & CV_SCOPE_LIVE);
    }
    case CV_ACCESS_LINK:
        /* Every check reads the store, deep or not: a partner's kill switch
         * or an unlink must end its views at the next recheck. */
        return !publish && !cv_access_token_revoked(a, acc->token_hash) &&
               cv_access_link_ok(a, &acc->principal, camera, CV_SCOPE_LIVE) == 0;
    case CV_ACCESS_INGEST: {
        cv_camera_rec *rec = malloc(sizeof(*rec));
        bool ok = rec && publish && cv_id_eq(&acc->principal, camera) &&
                  cv_store_camera_get(a->store, camera, rec) == 0 && rec->source == CV_CAM_PUSH;
        if (ok) {
            uint8_t h[32];
            cv_hash32(rec->ingest_secret, strlen(rec->ingest_secret), h);
            ok = sodium_memcmp(h, acc->token_hash, sizeof(h)) == 0; /* not rotated since */
        }
        free(rec);
        return ok;
    }
    case CV_ACCESS_APPPW: {
        uint32_t scopes = 0;
        if (publish || cv_store_access(a->store, &acc->principal, camera, cv_wall_us(), &scopes) != 0 ||
            !(scopes & CV_SCOPE_LIVE))
            return false;
        cv_apppw_rec *pw = NULL;
        size_t n = 0;
        bool found = false;
        if (cv_store_apppw_list(a->store, &acc->principal, &pw, &n) == 0)
            for (size_t i = 0; i < n && !found; i++)
                found = memcmp(pw[i].id.b, acc->token_hash, CV_ID_BYTES) == 0;
        free(pw);
        return found;
    }
    default:
        return false;
    }
}

void cv_access_rtsp_event(void *ctx, const cv_rtsp_event *ev)
{
    cv_access *a = ctx;
    static const char *const names[] = {
        [CV_RTSP_EV_VIEW_START] = "view.start",         [CV_RTSP_EV_VIEW_STOP] = "view.stop",
        [CV_RTSP_EV_PUBLISH_START] = "publish.start",   [CV_RTSP_EV_PUBLISH_STOP] = "publish.stop",
        [CV_RTSP_EV_ISOLATION] = "security.isolation", [CV_RTSP_EV_REVOKED] = "view.revoked",
    };
    if ((size_t)ev->kind >= CV_ARRAY_LEN(names))
        return;
    if (ev->kind == CV_RTSP_EV_ISOLATION)
        a->stats.isolation_violations++;
    if (ev->kind == CV_RTSP_EV_REVOKED)
        a->stats.revoked_sessions++;
    char principal[160];
    snprintf(principal, sizeof(principal), "%s", ev->access->who);
    if (ev->access->kind == CV_ACCESS_TOKEN) {
        cv_user_rec u;
        const char *via = strchr(ev->access->who, ' ');
        if (via && cv_store_user_get(a->store, &ev->access->principal, &u) == 0)
            snprintf(principal, sizeof(principal), "user:%s via %s", u.login, via + 1);
    } else if (ev->access->kind == CV_ACCESS_LINK) {
        /* "user:alice via integration:google token:1a2b3c4d" */
        cv_oauth_link_rec l;
        cv_user_rec u;
        cv_integration_rec *in = malloc(sizeof(*in));
        const char *tok = strstr(ev->access->who, "token:");
        if (in && tok && cv_store_oauth_link_get(a->store, &ev->access->principal, &l, NULL) == 0 &&
            cv_store_user_get(a->store, &l.user, &u) == 0 && cv_store_integration_get(a->store, &l.integration, in) == 0)
            snprintf(principal, sizeof(principal), "user:%s via integration:%s %s", u.login, in->name, tok);
        free(in);
    }
    char detail[200];
    snprintf(detail, sizeof(detail), "%s%s%s", ev->transport ? ev->transport : "", ev->detail ? " " : "",
             ev->detail ? ev->detail : "");
    if (cv_store_audit(a->store, names[ev->kind], principal, ev->camera, ev->peer, "rtsp", detail) < 0)
        CV_WARN("audit log write failed (%s %s)", names[ev->kind], principal);
}
