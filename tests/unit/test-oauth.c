/* Tests for the /oauth/ endpoints (src/oauth/oauth.c) through a real
 * cv_http server on 127.0.0.1 with a scratch store. Everything runs on the
 * test thread: each request is written on a blocking-connected socket, then
 * the loop is turned (UV_RUN_NOWAIT) until the whole answer has arrived, so
 * the store is only ever touched by one thread and the test may set codes,
 * sessions and switches up directly between requests. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <uv.h>

#include "http-fixture.h"
#include "tmpdir-fixture.h"

#include "api/api.h"
#include "auth/guard.h"
#include "auth/key.h"
#include "base/id.h"
#include "base/log.h"
#include "base/util.h"
#include "http/server.h"
#include "oauth/oauth.h"
#include "store/audit.h"
#include "store/oauth.h"
#include "store/people.h"
#include "store/secrets.h"
#include "store/store.h"

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA"
#define REDIR "https://example.com/cb"
#define REDIR_Q "https://example.com/cb2?x=1"
#define REDIR_Q_ENC "https%3A%2F%2Fexample.com%2Fcb2%3Fx%3D1"
#define REDIR_ENC "https%3A%2F%2Fexample.com%2Fcb"
#define REDIR_ENC_F "https%%3A%%2F%%2Fexample.com%%2Fcb" /* in a format string */
#define REDIR_Q_ENC_F "https%%3A%%2F%%2Fexample.com%%2Fcb2%%3Fx%%3D1"
#define VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
#define OTHER_VERIFIER "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define SESSION "test-session-secret-0123456789abcdef"
#define CSP                                                                                                       \
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self'; " \
    "frame-ancestors 'none'; form-action 'none'"
#define FREE_FAILURES 3

static const cv_store_actor CLI = {"cli", "", "cli"};

typedef struct {
    tmpdir t;
    uv_loop_t loop;
    cv_store *s;
    cv_key *key;
    cv_guard *guard;
    cv_api *api;
    cv_oauth *o;
    cv_http_server *srv;
    int port;
    uint8_t hkey[CV_OAUTH_HKEY_BYTES];
    cv_id user, user2, integ, integ2, homes[2], cams[3];
    char client_id[CV_OAUTH_CLIENT_ID_MAX], secret[CV_OAUTH_SECRET_MAX];
    char client_id2[CV_OAUTH_CLIENT_ID_MAX], secret2[CV_OAUTH_SECRET_MAX];
    char csrf[65];
    int changes;     /* on_change calls */
    int not_ours;    /* requests cv_oauth_handle declined */
} fixture;

typedef http_fx_resp resp;

/* ------------------------------------------------------------ server */

static void handle(void *ctx, cv_http_req *req)
{
    fixture *f = ctx;
    if (!cv_oauth_handle(f->o, req)) {
        f->not_ours++;
        cv_http_respond(req, 418, "text/plain", "not oauth", 9, NULL);
    }
}

static void on_change(void *ctx)
{
    fixture *f = ctx;
    f->changes++;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f || cv_id_init() != 0 || sodium_init() < 0)
        return -1;
    cv_log_set_level(CV_LOG_ERROR);
    if (tmpdir_make(&f->t, "oauth-http", "camvault.db") != 0)
        return -1;
    uint8_t kb[32];
    memset(kb, 0x5a, sizeof(kb));
    if (cv_key_from_bytes(&f->key, kb) != 0 || cv_store_open(&f->s, f->t.path) != 0)
        return -1;
    cv_oauth_hkey(cv_key_sub(f->key, CV_KEY_TOKEN), f->hkey);
    static const char *const uris[] = {REDIR, REDIR_Q};
    static const char *const uris2[] = {"https://other.example/cb"};
    if (cv_store_user_add(f->s, "alice", HASH, false, &f->user) != 0 ||
        cv_store_user_add(f->s, "bob", HASH, false, &f->user2) != 0 ||
        cv_store_integration_add(f->s, f->hkey, "google", uris, 2, cv_wall_us(), &CLI, &f->integ, f->client_id,
                                 sizeof(f->client_id), f->secret, sizeof(f->secret)) != 0 ||
        cv_store_integration_add(f->s, f->hkey, "alexa", uris2, 1, cv_wall_us(), &CLI, &f->integ2, f->client_id2,
                                 sizeof(f->client_id2), f->secret2, sizeof(f->secret2)) != 0 ||
        cv_store_home_add(f->s, "Zeta house", &f->homes[0]) != 0 || cv_store_home_add(f->s, "Alpha flat", &f->homes[1]) != 0 ||
        cv_store_member_set(f->s, &f->homes[0], &f->user, CV_ROLE_OWNER) != 0 ||
        cv_store_member_set(f->s, &f->homes[1], &f->user, CV_ROLE_VIEWER) != 0)
        return -1;
    f->cams[0] = fx_add_cam(f->s, &f->homes[0], "Porch", "ACME-1");
    f->cams[1] = fx_add_cam(f->s, &f->homes[0], "Garage", "");
    f->cams[2] = fx_add_cam(f->s, &f->homes[1], "Hall <main>", "BadCam");
    /* A web session for alice, and its CSRF value as session.c derives it. */
    cv_websession_rec ws;
    memset(&ws, 0, sizeof(ws));
    cv_hash32(SESSION, strlen(SESSION), ws.hash);
    ws.user = f->user;
    ws.expires_us = cv_wall_us() + 3600LL * 1000000;
    if (cv_store_websession_add(f->s, &ws) != 0)
        return -1;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256(mac, (const unsigned char *)SESSION, strlen(SESSION), cv_key_sub(f->key, CV_KEY_CSRF));
    sodium_bin2hex(f->csrf, sizeof(f->csrf), mac, sizeof(mac));

    cv_guard_policy gp = {.free_failures = FREE_FAILURES, .base_us = 60LL * 1000000};
    f->guard = cv_guard_new(&gp);
    if (!f->guard || uv_loop_init(&f->loop) != 0)
        return -1;
    cv_api_config ac = {.store = f->s, .key = f->key, .guard = f->guard, .rtsp_base = "rtsp://127.0.0.1:8554"};
    f->api = cv_api_new(&f->loop, &ac);
    cv_oauth_config oc = {.loop = &f->loop, .store = f->s, .key = f->key, .api = f->api, .guard = f->guard,
                          .on_change = on_change, .on_change_ctx = f};
    f->o = cv_oauth_new(&oc);
    if (!f->api || !f->o)
        return -1;
    cv_http_server_config hc = {.port = 0, .handle = handle, .ctx = f, .idle_timeout_s = 5};
    if (cv_http_server_start(&f->srv, &f->loop, &hc) != 0)
        return -1;
    f->port = cv_http_server_port(f->srv);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cv_http_server_stop(f->srv, NULL, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    cv_oauth_free(f->o);
    cv_api_free(f->api);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    cv_guard_free(f->guard);
    cv_store_close(f->s);
    cv_key_free(f->key);
    tmpdir_remove(&f->t);
    free(f);
    return 0;
}

/* ------------------------------------------------------------ client */

static bool header(const resp *p, const char *name, char *out, size_t cap)
{
    return http_fx_header(p->head, name, out, cap);
}

static bool has_header(const resp *p, const char *name) { char v[8]; return header(p, name, v, sizeof(v)); }

static void header_is(const resp *p, const char *name, const char *want)
{
    char v[1024];
    if (!header(p, name, v, sizeof(v)))
        fail_msg("no %s header in:\n%s", name, p->head);
    assert_string_equal(v, want);
}

/* Sends one request (extra: header lines, each ending in \r\n) and reads
 * the answer while turning the server's loop. */
static void request(fixture *f, const char *method, const char *target, const char *extra, const char *body,
                    resp *out)
{
    size_t blen = body ? strlen(body) : 0;
    size_t cap = 1024 + strlen(target) + (extra ? strlen(extra) : 0) + blen;
    char *req = malloc(cap);
    assert_non_null(req);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n%s", method,
                     target, extra ? extra : "", blen, body ? body : "");
    assert_true(n > 0 && (size_t)n < cap);
    http_fx_exchange(&f->loop, f->port, req, (size_t)n, strcmp(method, "HEAD") == 0, 5000000, out);
    free(req);
}

static void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
}

static json_t *body_json(const resp *r)
{
    json_error_t e;
    json_t *j = json_loadb(r->body, r->body_len, 0, &e);
    if (!j)
        fail_msg("not JSON (%s): %s", e.text, r->body);
    return j;
}

static void expect_json_error(const resp *r, int status, const char *error)
{
    if (r->status != status)
        fail_msg("status %d, want %d: %s", r->status, status, r->body);
    json_t *j = body_json(r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), error);
    json_decref(j);
}

/* A token-endpoint request with Basic authentication for client (NULL: none). */
static void post_form(fixture *f, const char *path, const char *id, const char *secret, const char *form, resp *r)
{
    char extra[512] = "Content-Type: application/x-www-form-urlencoded\r\n";
    if (id) {
        char cred[256], b64[400];
        int n = snprintf(cred, sizeof(cred), "%s:%s", id, secret);
        sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)cred, (size_t)n, sodium_base64_VARIANT_ORIGINAL);
        size_t l = strlen(extra);
        snprintf(extra + l, sizeof(extra) - l, "Authorization: Basic %s\r\n", b64);
    }
    request(f, "POST", path, extra, form, r);
}

static void issue_code(fixture *f, char *code)
{
    cv_id link;
    int r = cv_store_oauth_link_add(f->s, &f->user, &f->integ, cv_wall_us(), &CLI, &link);
    assert_true(r == 0 || r == 1);
    assert_int_equal(cv_store_oauth_code_issue(f->s, f->hkey, &f->user, &f->integ, REDIR, CHALLENGE, f->cams, 2,
                                               cv_wall_us(), code, CV_OAUTH_SECRET_MAX),
                     0);
}

typedef struct {
    char access[CV_OAUTH_SECRET_MAX], refresh[CV_OAUTH_SECRET_MAX];
} tokens;

static void exchange_ok(fixture *f, const char *code, tokens *t)
{
    char form[512];
    resp r;
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=" REDIR_ENC_F
             "&code_verifier=" VERIFIER, code);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    if (r.status != 200)
        fail_msg("exchange: %d %s", r.status, r.body);
    header_is(&r, "Cache-Control", "no-store");
    header_is(&r, "Pragma", "no-cache");
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "token_type")), "Bearer");
    json_int_t ttl = json_integer_value(json_object_get(j, "expires_in"));
    assert_true(ttl > 3590 && ttl <= 3600);
    snprintf(t->access, sizeof(t->access), "%s", json_string_value(json_object_get(j, "access_token")));
    snprintf(t->refresh, sizeof(t->refresh), "%s", json_string_value(json_object_get(j, "refresh_token")));
    assert_true(strlen(t->access) >= 40 && strlen(t->refresh) >= 40);
    json_decref(j);
    resp_free(&r);
}

static int access_get(fixture *f, const char *token, cv_oauth_grant *g)
{
    return cv_store_oauth_access_get(f->s, f->hkey, token, NULL, cv_wall_us(), g);
}

static char *authz_query(const fixture *f, const char *extra)
{
    static char q[4096];
    snprintf(q, sizeof(q),
             "response_type=code&client_id=%s&redirect_uri=" REDIR_ENC_F "&state=st%%20%%26x&code_challenge=" CHALLENGE
             "&code_challenge_method=S256%s",
             f->client_id, extra ? extra : "");
    return q;
}

/* ------------------------------------------------------------- cases */

static void test_oauth_authorize_never_redirects_to_unknown(void **state)
{
    fixture *f = *state;
    char t[1024];
    resp r;
    const char *bad[] = {
        "/oauth/authorize?response_type=code&client_id=cvc_nope&redirect_uri=" REDIR_ENC "&code_challenge=" CHALLENGE
        "&code_challenge_method=S256",
        NULL, NULL, NULL, NULL,
    };
    snprintf(t, sizeof(t), "/oauth/authorize?response_type=code&client_id=%s&redirect_uri=https%%3A%%2F%%2Fevil.example%%2Fcb"
             "&code_challenge=" CHALLENGE "&code_challenge_method=S256", f->client_id);
    bad[1] = strdup(t);
    snprintf(t, sizeof(t), "/oauth/authorize?response_type=code&client_id=%s&code_challenge=" CHALLENGE
             "&code_challenge_method=S256", f->client_id);
    bad[2] = strdup(t);
    /* A prefix of a registered URI, and one with an extra query, do not match. */
    snprintf(t, sizeof(t), "/oauth/authorize?response_type=token&client_id=%s&redirect_uri=" REDIR_ENC_F "%%2Fx",
             f->client_id);
    bad[3] = strdup(t);
    /* Duplicated parameters are refused before anything else. */
    snprintf(t, sizeof(t), "/oauth/authorize?client_id=%s&client_id=%s&redirect_uri=" REDIR_ENC_F, f->client_id,
             f->client_id);
    bad[4] = strdup(t);
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        request(f, "GET", bad[i], NULL, NULL, &r);
        assert_int_equal(r.status, 400);
        assert_false(has_header(&r, "Location"));
        assert_non_null(strstr(r.head, "text/html"));
        header_is(&r, "Content-Security-Policy", CSP);
        assert_non_null(strstr(r.body, "Account linking failed"));
        resp_free(&r);
        if (i)
            free((char *)bad[i]);
    }
}

static void test_oauth_authorize_page(void **state)
{
    fixture *f = *state;
    char t[4200];
    resp r;
    snprintf(t, sizeof(t), "/oauth/authorize?%s", authz_query(f, "&scope=cameras"));
    request(f, "GET", t, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    header_is(&r, "Content-Type", "text/html; charset=utf-8");
    header_is(&r, "Content-Security-Policy", CSP);
    header_is(&r, "X-Frame-Options", "DENY");
    header_is(&r, "Referrer-Policy", "no-referrer");
    header_is(&r, "Cache-Control", "no-store");
    assert_non_null(strstr(r.body, "<title>Link google to camvault</title>"));
    assert_null(strstr(r.body, "@PARTNER@"));
    static const char *const ids[] = {"login-form", "login", "password", "totp", "totp-row", "login-submit",
                                      "login-error", "consent", "partner", "homes", "allow", "deny",
                                      "consent-error"};
    for (size_t i = 0; i < CV_ARRAY_LEN(ids); i++) {
        char want[64];
        snprintf(want, sizeof(want), "id=\"%s\"", ids[i]);
        if (!strstr(r.body, want))
            fail_msg("page lacks %s", want);
    }
    assert_non_null(strstr(r.body, "<script src=\"/oauth/consent.js\"></script>"));
    assert_null(strstr(r.body, "<script>"));
    resp_free(&r);

    request(f, "GET", "/oauth/consent.js", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    header_is(&r, "Content-Type", "application/javascript; charset=utf-8");
    assert_non_null(strstr(r.body, "/oauth/consent"));
    assert_non_null(strstr(r.body, "X-CSRF-Token"));
    assert_non_null(strstr(r.body, "/api/v1/login"));
    assert_null(strstr(r.body, "innerHTML"));
    resp_free(&r);

    /* HEAD works; other methods are 405 with Allow. */
    request(f, "HEAD", t, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    request(f, "POST", t, NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    header_is(&r, "Allow", "GET, HEAD");
    resp_free(&r);
}

/* Expects a 302 to REDIR (or base) whose query is exactly want. */
static void expect_redirect(fixture *f, const char *target, const char *want)
{
    resp r;
    request(f, "GET", target, NULL, NULL, &r);
    if (r.status != 302)
        fail_msg("status %d for %s: %s", r.status, target, r.body);
    header_is(&r, "Location", want);
    resp_free(&r);
}

static void test_oauth_authorize_redirected_errors(void **state)
{
    fixture *f = *state;
    char t[4200], want[1024];
#define AZ(params) snprintf(want, sizeof(want), "/oauth/authorize?client_id=%s&redirect_uri=" REDIR_ENC_F "&state=s1&%s", \
                           f->client_id, params)

    snprintf(t, sizeof(t), "/oauth/authorize?%s", authz_query(f, NULL));
    *strstr(t, "response_type=code") = 'X'; /* "Xesponse_type": absent */
    expect_redirect(f, t, REDIR "?error=invalid_request&error_description=response_type%20required&state=st%20%26x");

    AZ("response_type=token&code_challenge=" CHALLENGE "&code_challenge_method=S256");
    expect_redirect(f, want,
                    REDIR "?error=unsupported_response_type&error_description=only%20response_type%3Dcode%20is%20"
                          "supported&state=s1");

    AZ("response_type=code&code_challenge_method=S256");
    expect_redirect(f, want,
                    REDIR "?error=invalid_request&error_description=code_challenge%20required%20%28PKCE%20S256%29"
                          "&state=s1");

    AZ("response_type=code&code_challenge=" CHALLENGE);
    expect_redirect(f, want,
                    REDIR "?error=invalid_request&error_description=code_challenge_method%3DS256%20required&state=s1");

    AZ("response_type=code&code_challenge=" CHALLENGE "&code_challenge_method=plain");
    expect_redirect(f, want,
                    REDIR "?error=invalid_request&error_description=only%20code_challenge_method%3DS256%20is%20"
                          "supported&state=s1");

    AZ("response_type=code&code_challenge=short&code_challenge_method=S256");
    expect_redirect(f, want,
                    REDIR "?error=invalid_request&error_description=code_challenge%20must%20be%2043%20base64url%20"
                          "characters&state=s1");
#undef AZ

    /* A redirect URI with a query of its own gets '&'. */
    snprintf(t, sizeof(t),
             "/oauth/authorize?client_id=%s&redirect_uri=" REDIR_Q_ENC_F "&response_type=code&code_challenge=" CHALLENGE
             "&code_challenge_method=S256&state=q",
             f->client_id);
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, NULL, cv_wall_us(), &CLI), 0);
    expect_redirect(f, t, REDIR_Q "&error=access_denied&error_description=integration%20disabled&state=q");
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, false, NULL, cv_wall_us(), &CLI), 0);

    /* state too long: refused, and not echoed. */
    char longstate[600];
    memset(longstate, 'a', sizeof(longstate) - 1);
    longstate[sizeof(longstate) - 1] = '\0';
    snprintf(t, sizeof(t), "/oauth/authorize?client_id=%s&redirect_uri=" REDIR_ENC_F "&response_type=code"
             "&code_challenge=" CHALLENGE "&code_challenge_method=S256&state=%s", f->client_id, longstate);
    expect_redirect(f, t, REDIR "?error=invalid_request&error_description=state%20too%20long");
}

static void test_oauth_consent_get(void **state)
{
    fixture *f = *state;
    char t[4200];
    resp r;
    snprintf(t, sizeof(t), "/oauth/consent?%s", authz_query(f, NULL));
    request(f, "GET", t, NULL, NULL, &r);
    expect_json_error(&r, 401, "authentication required");
    resp_free(&r);
    request(f, "GET", t, "Cookie: cv_session=wrong\r\n", NULL, &r);
    expect_json_error(&r, 401, "authentication required");
    resp_free(&r);

    /* Validation comes first, as JSON. */
    request(f, "GET", "/oauth/consent?client_id=cvc_nope&redirect_uri=" REDIR_ENC, "Cookie: cv_session=" SESSION "\r\n",
            NULL, &r);
    expect_json_error(&r, 400, "Unknown client.");
    resp_free(&r);

    request(f, "GET", t, "Cookie: cv_session=" SESSION "\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "partner")), "google");
    assert_string_equal(json_string_value(json_object_get(j, "client_id")), f->client_id);
    assert_string_equal(json_string_value(json_object_get(j, "user")), "alice");
    assert_string_equal(json_string_value(json_object_get(j, "csrf")), f->csrf);
    json_t *req = json_object_get(j, "request");
    assert_string_equal(json_string_value(json_object_get(req, "redirect_uri")), REDIR);
    assert_string_equal(json_string_value(json_object_get(req, "state")), "st &x");
    assert_string_equal(json_string_value(json_object_get(req, "code_challenge")), CHALLENGE);
    json_t *homes = json_object_get(j, "homes");
    assert_int_equal(json_array_size(homes), 2);
    /* Homes by name: "Alpha flat" (1 camera) then "Zeta house" (2). */
    char hex[CV_ID_HEX_LEN + 1];
    json_t *h0 = json_array_get(homes, 0), *h1 = json_array_get(homes, 1);
    cv_id_to_hex(&f->homes[1], hex);
    assert_string_equal(json_string_value(json_object_get(h0, "id")), hex);
    assert_string_equal(json_string_value(json_object_get(h0, "name")), "Alpha flat");
    assert_int_equal(json_array_size(json_object_get(h0, "cameras")), 1);
    json_t *c = json_array_get(json_object_get(h0, "cameras"), 0);
    cv_id_to_hex(&f->cams[2], hex);
    assert_string_equal(json_string_value(json_object_get(c, "id")), hex);
    assert_string_equal(json_string_value(json_object_get(c, "name")), "Hall <main>");
    assert_string_equal(json_string_value(json_object_get(c, "model")), "BadCam");
    assert_null(json_object_get(c, "blocked"));
    cv_id_to_hex(&f->homes[0], hex);
    assert_string_equal(json_string_value(json_object_get(h1, "id")), hex);
    json_t *cams = json_object_get(h1, "cameras");
    assert_int_equal(json_array_size(cams), 2);
    /* Cameras by name within a home. */
    assert_string_equal(json_string_value(json_object_get(json_array_get(cams, 0), "name")), "Garage");
    assert_string_equal(json_string_value(json_object_get(json_array_get(cams, 1), "name")), "Porch");
    json_decref(j);
    resp_free(&r);

    /* A model blocked by the kill switch is listed and marked. */
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, "BadCam", cv_wall_us(), &CLI), 0);
    request(f, "GET", t, "Cookie: cv_session=" SESSION "\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    c = json_array_get(json_object_get(json_array_get(json_object_get(j, "homes"), 0), "cameras"), 0);
    assert_true(json_is_true(json_object_get(c, "blocked")));
    json_decref(j);
    resp_free(&r);

    /* The integration disabled as a whole. */
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, NULL, cv_wall_us(), &CLI), 0);
    request(f, "GET", t, "Cookie: cv_session=" SESSION "\r\n", NULL, &r);
    expect_json_error(&r, 400, "integration disabled");
    resp_free(&r);
}

static void test_oauth_consent_get_limits(void **state)
{
    fixture *f = *state;
    char t[4200];
    resp r;
    snprintf(t, sizeof(t), "/oauth/consent?%s", authz_query(f, NULL));
    /* Bob sees nothing: still an answer, with no homes. */
    cv_websession_rec ws;
    memset(&ws, 0, sizeof(ws));
    cv_hash32("bob-session-secret-xyz", 22, ws.hash);
    ws.user = f->user2;
    ws.expires_us = cv_wall_us() + 3600LL * 1000000;
    assert_int_equal(cv_store_websession_add(f->s, &ws), 0);
    request(f, "GET", t, "Cookie: cv_session=bob-session-secret-xyz\r\n", NULL, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "homes")), 0);
    assert_string_equal(json_string_value(json_object_get(j, "user")), "bob");
    json_decref(j);
    resp_free(&r);

    /* More than CV_OAUTH_SCOPE_MAX cameras: refused with the limit. */
    for (int i = 0; i < CV_OAUTH_SCOPE_MAX - 2; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cam %02d", i);
        (void)fx_add_cam(f->s, &f->homes[0], name, "");
    }
    request(f, "GET", t, "Cookie: cv_session=" SESSION "\r\n", NULL, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "at most 64"));
    resp_free(&r);
}

static void consent_body(fixture *f, const char *decision, const char *cameras, char *out, size_t cap)
{
    snprintf(out, cap,
             "{\"client_id\":\"%s\",\"redirect_uri\":\"" REDIR "\",\"state\":\"st &x\",\"code_challenge\":\"" CHALLENGE
             "\",\"code_challenge_method\":\"S256\",\"decision\":\"%s\"%s%s}",
             f->client_id, decision, cameras ? ",\"cameras\":" : "", cameras ? cameras : "");
}

static void all_cameras(fixture *f, char *out, size_t cap)
{
    char a[33], b[33], c[33];
    cv_id_to_hex(&f->cams[0], a);
    cv_id_to_hex(&f->cams[1], b);
    cv_id_to_hex(&f->cams[2], c);
    snprintf(out, cap, "[\"%s\",\"%s\",\"%s\"]", c, a, b);
}

#define COOKIE_CSRF(f, hdr) snprintf(hdr, sizeof(hdr), "Cookie: cv_session=" SESSION "\r\nX-CSRF-Token: %s\r\n" \
                                     "Content-Type: application/json\r\n", (f)->csrf)

static void test_oauth_consent_post(void **state)
{
    fixture *f = *state;
    char body[2048], hdr[512], cams[128];
    resp r;
    all_cameras(f, cams, sizeof(cams));
    consent_body(f, "allow", cams, body, sizeof(body));

    request(f, "POST", "/oauth/consent", "Content-Type: application/json\r\n", body, &r);
    expect_json_error(&r, 401, "authentication required");
    resp_free(&r);
    request(f, "POST", "/oauth/consent", "Cookie: cv_session=" SESSION "\r\nContent-Type: application/json\r\n", body,
            &r);
    expect_json_error(&r, 403, "missing or bad CSRF token");
    resp_free(&r);
    snprintf(hdr, sizeof(hdr), "Cookie: cv_session=" SESSION "\r\nX-CSRF-Token: %s\r\nContent-Type: text/plain\r\n",
             f->csrf);
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    assert_int_equal(r.status, 415);
    resp_free(&r);

    COOKIE_CSRF(f, hdr);
    request(f, "POST", "/oauth/consent", hdr, "{\"decision\":\"allow\",\"decision\":\"deny\"}", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    request(f, "POST", "/oauth/consent", hdr, "{\"client_id\":1,\"decision\":\"allow\"}", &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    consent_body(f, "maybe", NULL, body, sizeof(body));
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    /* Revalidated: a redirect URI not registered is refused, never returned. */
    snprintf(body, sizeof(body),
             "{\"client_id\":\"%s\",\"redirect_uri\":\"https://evil.example/cb\",\"code_challenge\":\"" CHALLENGE
             "\",\"code_challenge_method\":\"S256\",\"decision\":\"deny\"}",
             f->client_id);
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    assert_int_equal(r.status, 400);
    assert_null(strstr(r.body, "evil"));
    resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"client_id\":\"%s\",\"redirect_uri\":\"" REDIR "\",\"code_challenge\":\"" CHALLENGE
             "\",\"code_challenge_method\":\"plain\",\"decision\":\"allow\"}",
             f->client_id);
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    assert_int_equal(fx_count_events(f->s, "oauth.consent"), 0);

    /* Deny: back to the client with access_denied and the state. */
    consent_body(f, "deny", NULL, body, sizeof(body));
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "redirect")),
                        REDIR "?error=access_denied&state=st%20%26x");
    json_decref(j);
    resp_free(&r);
    assert_int_equal(fx_count_events(f->s, "oauth.consent"), 1);
    cv_oauth_link_rec *links = NULL;
    size_t nlinks = 0;
    assert_int_equal(cv_store_oauth_link_list(f->s, &f->user, &links, &nlinks), 0);
    assert_int_equal(nlinks, 0);

    /* The cameras listed must be the ones the page showed. */
    consent_body(f, "allow", "[]", body, sizeof(body));
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    assert_int_equal(r.status, 409);
    resp_free(&r);

    /* Allow: a code for exactly the three cameras. */
    int changes = f->changes;
    consent_body(f, "allow", cams, body, sizeof(body));
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    if (r.status != 200)
        fail_msg("allow: %d %s", r.status, r.body);
    j = body_json(&r);
    const char *url = json_string_value(json_object_get(j, "redirect"));
    assert_non_null(url);
    assert_int_equal(strncmp(url, REDIR "?code=", strlen(REDIR "?code=")), 0);
    const char *st = strstr(url, "&state=st%20%26x");
    assert_non_null(st);
    assert_int_equal(strlen(st), strlen("&state=st%20%26x"));
    char code[CV_OAUTH_SECRET_MAX];
    size_t cl = (size_t)(st - url) - strlen(REDIR "?code=");
    assert_true(cl > 0 && cl < sizeof(code));
    memcpy(code, url + strlen(REDIR "?code="), cl);
    code[cl] = '\0';
    json_decref(j);
    resp_free(&r);
    assert_true(f->changes > changes);
    assert_int_equal(fx_count_events(f->s, "oauth.consent"), 2);
    assert_int_equal(fx_count_events(f->s, "link.add"), 1);
    assert_int_equal(cv_store_oauth_link_list(f->s, &f->user, &links, &nlinks), 0);
    assert_int_equal(nlinks, 1);
    free(links);

    tokens t;
    exchange_ok(f, code, &t);
    cv_oauth_grant g;
    assert_int_equal(access_get(f, t.access, &g), 0);
    assert_int_equal(g.nscope, 3);
    assert_true(cv_id_eq(&g.user, &f->user));
    for (size_t i = 0; i < 3; i++) {
        bool found = false;
        for (size_t k = 0; k < g.nscope; k++)
            found |= cv_id_eq(&g.scope[k], &f->cams[i]);
        assert_true(found);
    }

    /* Allowing again reuses the link; the page's order of cameras does not matter. */
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(fx_count_events(f->s, "link.add"), 1);

    /* Disabled since the page loaded: back to the client with access_denied. */
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, NULL, cv_wall_us(), &CLI), 0);
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "redirect")),
                        REDIR "?error=access_denied&error_description=integration%20disabled&state=st%20%26x");
    json_decref(j);
    resp_free(&r);
}

static void test_oauth_consent_post_no_cameras(void **state)
{
    fixture *f = *state;
    char body[2048], hdr[512];
    resp r;
    /* Bob: no cameras, so only deny makes sense. */
    cv_websession_rec ws;
    memset(&ws, 0, sizeof(ws));
    cv_hash32("bob-session-secret-xyz", 22, ws.hash);
    ws.user = f->user2;
    ws.expires_us = cv_wall_us() + 3600LL * 1000000;
    assert_int_equal(cv_store_websession_add(f->s, &ws), 0);
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    char csrf[65];
    crypto_auth_hmacsha256(mac, (const unsigned char *)"bob-session-secret-xyz", 22, cv_key_sub(f->key, CV_KEY_CSRF));
    sodium_bin2hex(csrf, sizeof(csrf), mac, sizeof(mac));
    snprintf(hdr, sizeof(hdr),
             "Cookie: cv_session=bob-session-secret-xyz\r\nX-CSRF-Token: %s\r\nContent-Type: application/json\r\n",
             csrf);
    consent_body(f, "allow", "[]", body, sizeof(body));
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    expect_json_error(&r, 400, "there are no cameras to share");
    resp_free(&r);
    consent_body(f, "deny", "[]", body, sizeof(body));
    request(f, "POST", "/oauth/consent", hdr, body, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_oauth_token_code_flow(void **state)
{
    fixture *f = *state;
    char code[CV_OAUTH_SECRET_MAX], form[1024];
    resp r;
    issue_code(f, code);

    /* Missing pieces: invalid_request, and the code is not spent. */
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=" REDIR_ENC_F, code);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_request");
    assert_non_null(strstr(r.body, "code_verifier required"));
    header_is(&r, "Cache-Control", "no-store");
    resp_free(&r);
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&code_verifier=" VERIFIER, code);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_request");
    resp_free(&r);
    post_form(f, "/oauth/token", f->client_id, f->secret,
              "grant_type=authorization_code&redirect_uri=" REDIR_ENC "&code_verifier=" VERIFIER, &r);
    expect_json_error(&r, 400, "invalid_request");
    resp_free(&r);
    /* A malformed verifier: invalid_grant without touching the code. */
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=" REDIR_ENC_F
             "&code_verifier=short", code);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_grant");
    resp_free(&r);
    /* A wrong (well-formed) verifier, another redirect URI. */
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=" REDIR_ENC_F
             "&code_verifier=" OTHER_VERIFIER, code);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_grant");
    resp_free(&r);
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=" REDIR_Q_ENC_F
             "&code_verifier=" VERIFIER, code);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_grant");
    resp_free(&r);
    /* Another client presenting it. */
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=" REDIR_ENC_F
             "&code_verifier=" VERIFIER, code);
    post_form(f, "/oauth/token", f->client_id2, f->secret2, form, &r);
    expect_json_error(&r, 400, "invalid_grant");
    resp_free(&r);

    /* The code still works. */
    tokens t;
    exchange_ok(f, code, &t);
    cv_oauth_grant g;
    assert_int_equal(access_get(f, t.access, &g), 0);
    assert_int_equal(g.nscope, 2);

    /* Reused: invalid_grant, and what it gave is revoked. */
    int changes = f->changes;
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_grant");
    resp_free(&r);
    assert_true(f->changes > changes);
    assert_int_equal(access_get(f, t.access, &g), -ENOENT);

    /* Unknown code. */
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=nope&redirect_uri=" REDIR_ENC_F
             "&code_verifier=" VERIFIER);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_grant");
    resp_free(&r);
}

static void test_oauth_token_client_secret_post(void **state)
{
    fixture *f = *state;
    char code[CV_OAUTH_SECRET_MAX], form[1024];
    resp r;
    issue_code(f, code);
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=" REDIR_ENC_F
             "&code_verifier=" VERIFIER "&client_id=%s&client_secret=%s", code, f->client_id, f->secret);
    /* Both methods at once. */
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_request");
    resp_free(&r);
    post_form(f, "/oauth/token", NULL, NULL, form, &r);
    assert_int_equal(r.status, 200);
    json_t *j = body_json(&r);
    assert_non_null(json_string_value(json_object_get(j, "access_token")));
    json_decref(j);
    resp_free(&r);
}

static void test_oauth_token_refresh(void **state)
{
    fixture *f = *state;
    char code[CV_OAUTH_SECRET_MAX], form[512];
    resp r;
    issue_code(f, code);
    tokens t1;
    exchange_ok(f, code, &t1);

    post_form(f, "/oauth/token", f->client_id, f->secret, "grant_type=refresh_token", &r);
    expect_json_error(&r, 400, "invalid_request");
    resp_free(&r);

    snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s", t1.refresh);
    post_form(f, "/oauth/token", f->client_id2, f->secret2, form, &r);
    expect_json_error(&r, 400, "invalid_grant");
    resp_free(&r);

    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    assert_int_equal(r.status, 200);
    header_is(&r, "Pragma", "no-cache");
    json_t *j = body_json(&r);
    tokens t2;
    snprintf(t2.access, sizeof(t2.access), "%s", json_string_value(json_object_get(j, "access_token")));
    snprintf(t2.refresh, sizeof(t2.refresh), "%s", json_string_value(json_object_get(j, "refresh_token")));
    assert_string_not_equal(t2.refresh, t1.refresh);
    assert_string_not_equal(t2.access, t1.access);
    assert_int_equal(json_integer_value(json_object_get(j, "expires_in")) > 3590, 1);
    json_decref(j);
    resp_free(&r);
    cv_oauth_grant g;
    assert_int_equal(access_get(f, t2.access, &g), 0);

    /* The old refresh token again: invalid_grant and the chain is gone. */
    int changes = f->changes;
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_grant");
    resp_free(&r);
    assert_true(f->changes > changes);
    assert_int_equal(access_get(f, t2.access, &g), -ENOENT);
    snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s", t2.refresh);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_grant");
    resp_free(&r);
}

static void test_oauth_token_request_errors(void **state)
{
    fixture *f = *state;
    resp r;
    post_form(f, "/oauth/token", f->client_id, f->secret, "grant_type=password&username=a&password=b", &r);
    expect_json_error(&r, 400, "unsupported_grant_type");
    resp_free(&r);
    post_form(f, "/oauth/token", f->client_id, f->secret, "code=x", &r);
    expect_json_error(&r, 400, "invalid_request");
    resp_free(&r);
    post_form(f, "/oauth/token", f->client_id, f->secret, "grant_type=refresh_token&grant_type=refresh_token", &r);
    expect_json_error(&r, 400, "invalid_request");
    resp_free(&r);
    post_form(f, "/oauth/token", f->client_id, f->secret, "grant_type=refresh_token&refresh_token=%zz", &r);
    expect_json_error(&r, 400, "invalid_request");
    resp_free(&r);
    request(f, "POST", "/oauth/token", "Content-Type: application/json\r\n", "{\"grant_type\":\"refresh_token\"}", &r);
    expect_json_error(&r, 400, "invalid_request");
    resp_free(&r);
    request(f, "GET", "/oauth/token", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    header_is(&r, "Allow", "POST");
    resp_free(&r);
    request(f, "GET", "/oauth/revoke", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    resp_free(&r);
    request(f, "PUT", "/oauth/consent", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    header_is(&r, "Allow", "GET, HEAD, POST");
    resp_free(&r);
    request(f, "GET", "/oauth/nothing", NULL, NULL, &r);
    expect_json_error(&r, 404, "not found");
    resp_free(&r);
    request(f, "GET", "/oauth/", NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    /* Outside /oauth/: not ours. */
    request(f, "GET", "/oauthx", NULL, NULL, &r);
    assert_int_equal(r.status, 418);
    resp_free(&r);
    request(f, "GET", "/api/v1/me", NULL, NULL, &r);
    assert_int_equal(r.status, 418);
    resp_free(&r);
    assert_int_equal(f->not_ours, 2);
}

static void test_oauth_invalid_client_and_throttle(void **state)
{
    fixture *f = *state;
    resp r;
    const char *form = "grant_type=refresh_token&refresh_token=x";
    /* No authentication at all. */
    post_form(f, "/oauth/token", NULL, NULL, form, &r);
    expect_json_error(&r, 401, "invalid_client");
    resp_free(&r);
    /* Unknown client, by Basic: 401 with the Basic challenge. */
    post_form(f, "/oauth/token", "cvc_nope", "secret", form, &r);
    expect_json_error(&r, 401, "invalid_client");
    header_is(&r, "WWW-Authenticate", "Basic realm=\"camvault\"");
    resp_free(&r);
    /* Wrong secret in the body. */
    char body[512];
    snprintf(body, sizeof(body), "%s&client_id=%s&client_secret=wrong", form, f->client_id);
    post_form(f, "/oauth/token", NULL, NULL, body, &r);
    expect_json_error(&r, 401, "invalid_client");
    resp_free(&r);
    /* Malformed Basic. */
    request(f, "POST", "/oauth/token",
            "Content-Type: application/x-www-form-urlencoded\r\nAuthorization: Basic !!!notbase64\r\n", form, &r);
    expect_json_error(&r, 401, "invalid_client");
    resp_free(&r);
    /* FREE_FAILURES used up: the next attempt from this address waits,
     * even with the right secret. */
    post_form(f, "/oauth/token", f->client_id, "wrong", form, &r);
    expect_json_error(&r, 401, "invalid_client");
    resp_free(&r);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    assert_int_equal(r.status, 429);
    char v[32];
    assert_true(header(&r, "Retry-After", v, sizeof(v)));
    assert_true(atoi(v) >= 1 && atoi(v) <= 60);
    resp_free(&r);
    post_form(f, "/oauth/revoke", f->client_id, f->secret, "token=x", &r);
    assert_int_equal(r.status, 429);
    resp_free(&r);
}

static void test_oauth_disabled_integration(void **state)
{
    fixture *f = *state;
    char code[CV_OAUTH_SECRET_MAX], form[1024];
    resp r;
    issue_code(f, code);
    tokens t;
    char code2[CV_OAUTH_SECRET_MAX];
    issue_code(f, code2);
    exchange_ok(f, code2, &t);
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, NULL, cv_wall_us(), &CLI), 0);
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=" REDIR_ENC_F
             "&code_verifier=" VERIFIER, code);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "unauthorized_client");
    assert_non_null(strstr(r.body, "integration disabled"));
    resp_free(&r);
    /* A reused code while disabled changes nothing either. */
    snprintf(form, sizeof(form), "grant_type=authorization_code&code=%s&redirect_uri=" REDIR_ENC_F
             "&code_verifier=" VERIFIER, code2);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "unauthorized_client");
    resp_free(&r);
    snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s", t.refresh);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "unauthorized_client");
    resp_free(&r);
    /* Enabled again: the code, the first pair and its refresh token all still work. */
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, false, NULL, cv_wall_us(), &CLI), 0);
    cv_oauth_grant g;
    assert_int_equal(access_get(f, t.access, &g), 0);
    tokens t2;
    exchange_ok(f, code, &t2);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_oauth_revoke(void **state)
{
    fixture *f = *state;
    char code[CV_OAUTH_SECRET_MAX], form[512];
    resp r;
    issue_code(f, code);
    tokens t;
    exchange_ok(f, code, &t);
    cv_oauth_grant g;

    post_form(f, "/oauth/revoke", f->client_id, f->secret, "token_type_hint=access_token", &r);
    expect_json_error(&r, 400, "invalid_request");
    resp_free(&r);
    post_form(f, "/oauth/revoke", f->client_id, "wrong", "token=x", &r);
    expect_json_error(&r, 401, "invalid_client");
    resp_free(&r);
    /* Unknown token: 200 (RFC 7009 §2.2). */
    post_form(f, "/oauth/revoke", f->client_id, f->secret, "token=unknown-token&token_type_hint=whatever", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    resp_free(&r);
    /* Another client's token: 200, nothing revoked. */
    snprintf(form, sizeof(form), "token=%s", t.access);
    post_form(f, "/oauth/revoke", f->client_id2, f->secret2, form, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_int_equal(access_get(f, t.access, &g), 0);
    /* The access token alone. */
    int changes = f->changes;
    snprintf(form, sizeof(form), "token=%s&token_type_hint=access_token", t.access);
    post_form(f, "/oauth/revoke", f->client_id, f->secret, form, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_true(f->changes > changes);
    assert_int_equal(access_get(f, t.access, &g), -ENOENT);
    /* The refresh token (body authentication): the chain goes. */
    snprintf(form, sizeof(form), "token=%s&client_id=%s&client_secret=%s", t.refresh, f->client_id, f->secret);
    post_form(f, "/oauth/revoke", NULL, NULL, form, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    snprintf(form, sizeof(form), "grant_type=refresh_token&refresh_token=%s", t.refresh);
    post_form(f, "/oauth/token", f->client_id, f->secret, form, &r);
    expect_json_error(&r, 400, "invalid_grant");
    resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oauth_authorize_never_redirects_to_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_authorize_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_authorize_redirected_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_consent_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_consent_get_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_consent_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_consent_post_no_cameras, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_token_code_flow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_token_client_secret_post, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_token_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_token_request_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_invalid_client_and_throttle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_disabled_integration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_revoke, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
