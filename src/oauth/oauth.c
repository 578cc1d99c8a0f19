/* The /oauth/ endpoints (see oauth.h): the authorization request and its
 * consent page, the consent JSON the page uses, the token endpoint and
 * revocation. Parameters are parsed by form.h, everything durable is
 * src/store/oauth.c; this file decides, answers and never logs a secret,
 * a code or a token. */
#define CV_LOG_MODULE "oauth"

#include "oauth/oauth.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/id.h"
#include "base/log.h"
#include "base/util.h"
#include "oauth/form.h"
#include "oauth/page.h"
#include "store/audit.h"
#include "store/oauth.h"
#include "store/people.h"

#define STATE_MAX 512        /* bytes of state passed back */
#define CHALLENGE_LEN 43     /* BASE64URL(SHA-256) */
#define REDIRECT_CAP 4096    /* a redirect URL we build */
#define ERR_CAP 160
#define CLIENT_REALM "client"

#define PAGE_HEADERS                                                                                        \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "   \
    "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'none'\r\n"                   \
    "X-Frame-Options: DENY\r\n"                                                                             \
    "Referrer-Policy: no-referrer\r\n"                                                                      \
    "Cache-Control: no-store\r\n"

#define TOKEN_HEADERS "Cache-Control: no-store\r\nPragma: no-cache\r\n"
#define BASIC_CHALLENGE "WWW-Authenticate: Basic realm=\"camvault\"\r\n"

struct cv_oauth {
    cv_oauth_config cfg;
    uint8_t hkey[CV_OAUTH_HKEY_BYTES];
};

cv_oauth *cv_oauth_new(const cv_oauth_config *cfg)
{
    if (!cfg || !cfg->store || !cfg->key || !cfg->api || !cfg->guard)
        return NULL;
    cv_oauth *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->cfg = *cfg;
    cv_oauth_hkey(cv_key_sub(cfg->key, CV_KEY_TOKEN), o->hkey);
    return o;
}

void cv_oauth_free(cv_oauth *o)
{
    if (!o)
        return;
    sodium_memzero(o->hkey, sizeof(o->hkey));
    free(o);
}

static void changed(cv_oauth *o)
{
    if (o->cfg.on_change)
        o->cfg.on_change(o->cfg.on_change_ctx);
}

/* ------------------------------------------------------------- answers */

static void reply_json(cv_http_req *req, int status, json_t *obj, const char *extra)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (!text) {
        static const char oom[] = "{\"error\":\"server_error\"}";
        cv_http_respond(req, 500, "application/json", oom, sizeof(oom) - 1, NULL);
        return;
    }
    cv_http_respond(req, status, "application/json", text, strlen(text), extra);
    free(text);
}

/* {"error": msg} (the consent API's errors, read by the page). */
static void reply_error(cv_http_req *req, int status, const char *msg)
{
    reply_json(req, status, json_pack("{s:s}", "error", msg), NULL);
}

/* RFC 6749 §5.2: {"error": code, "error_description": desc}. */
static void reply_oauth_error(cv_http_req *req, int status, const char *code, const char *desc, const char *extra)
{
    char hdr[256];
    snprintf(hdr, sizeof(hdr), TOKEN_HEADERS "%s", extra ? extra : "");
    reply_json(req, status, json_pack("{s:s,s:s}", "error", code, "error_description", desc), hdr);
}

static void reply_405(cv_http_req *req, const char *allow)
{
    char hdr[96];
    snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
    reply_json(req, 405, json_pack("{s:s}", "error", "method not allowed"), hdr);
}

static void html_escape(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        const char *e = NULL;
        switch (*s) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        default: break;
        }
        if (e) {
            size_t k = strlen(e);
            memcpy(out + n, e, k);
            n += k;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
}

/* The authorization endpoint's error page: never a redirect (RFC 6749
 * §4.1.2.1), never echoing the request. */
static void reply_error_page(cv_http_req *req, int status, const char *msg)
{
    char page[1024], esc[256];
    html_escape(msg, esc, sizeof(esc));
    int n = snprintf(page, sizeof(page),
                     "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<title>Account linking failed - camvault</title></head><body><main>"
                     "<h1>Account linking failed</h1><p id=\"error\">%s</p>"
                     "<p>Go back to the app you came from and try again.</p></main></body></html>\n",
                     esc);
    cv_http_respond(req, status, "text/html; charset=utf-8", page, (size_t)n, PAGE_HEADERS);
}

static void reply_redirect(cv_http_req *req, const char *url)
{
    char hdr[REDIRECT_CAP + 64];
    snprintf(hdr, sizeof(hdr), "Location: %s\r\nReferrer-Policy: no-referrer\r\n", url);
    cv_http_respond(req, 302, "text/plain; charset=utf-8", NULL, 0, hdr);
}

/* redirect_uri + ('?' | '&') + "name=value&..." for the pairs given
 * (values NULL are skipped). Returns 0 or -ENOSPC. */
static int build_redirect(char *out, size_t cap, const char *uri, const char *const *kv, size_t nkv)
{
    size_t ul = strlen(uri);
    if (ul + 1 > cap)
        return -ENOSPC;
    memcpy(out, uri, ul + 1);
    char sep = strchr(uri, '?') ? '&' : '?';
    bool first = true;
    for (size_t i = 0; i + 1 < nkv; i += 2) {
        if (!kv[i + 1])
            continue;
        /* cv_form_append only adds sep after text: give it the first one. */
        int r = cv_form_append(out, cap, first ? sep : '&', kv[i], kv[i + 1]);
        if (r < 0)
            return r;
        first = false;
    }
    return 0;
}

/* ------------------------------------------------ authorization request */

typedef enum {
    AZ_OK = 0,
    AZ_FATAL,    /* no usable client or redirect URI: never redirect */
    AZ_REDIRECT, /* send error/desc to the redirect URI */
} az_result;

typedef struct {
    cv_integration_rec integ;
    char client_id[CV_OAUTH_CLIENT_ID_MAX];
    char redirect_uri[CV_OAUTH_URI_MAX + 1];
    char state[STATE_MAX + 1];
    bool has_state;
    char challenge[CHALLENGE_LEN + 1];
    char method[8];
    /* On failure: */
    int status;        /* AZ_FATAL: 400, or 500 for a store failure */
    const char *error; /* AZ_REDIRECT: the OAuth error code */
    const char *desc;
} authz;

/* The raw parameters (NULL: absent). */
typedef struct {
    const char *response_type; /* NULL with check_rt false: implied "code" */
    const char *client_id;
    const char *redirect_uri;
    const char *state;
    size_t state_len;
    const char *challenge;
    const char *method;
} az_params;

static bool b64url_43(const char *s)
{
    if (!s || strlen(s) != CHALLENGE_LEN)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static az_result az_fatal(authz *a, int status, const char *desc)
{
    a->status = status;
    a->desc = desc;
    return AZ_FATAL;
}

static az_result az_redirect(authz *a, const char *error, const char *desc)
{
    a->error = error;
    a->desc = desc;
    return AZ_REDIRECT;
}

/* Validates an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3) in
 * the order that decides whether errors may be redirected. */
static az_result az_check(cv_oauth *o, const az_params *p, bool check_rt, authz *a)
{
    memset(a, 0, sizeof(*a));
    if (!p->client_id)
        return az_fatal(a, 400, "The request names no client (client_id).");
    if (strlen(p->client_id) >= sizeof(a->client_id))
        return az_fatal(a, 400, "Unknown client.");
    snprintf(a->client_id, sizeof(a->client_id), "%s", p->client_id);
    int r = cv_store_integration_find_client(o->cfg.store, a->client_id, &a->integ);
    if (r == -ENOENT)
        return az_fatal(a, 400, "Unknown client.");
    if (r < 0)
        return az_fatal(a, 500, "Internal error.");
    if (!p->redirect_uri)
        return az_fatal(a, 400, "The request has no redirect_uri.");
    bool match = false;
    for (size_t i = 0; i < a->integ.nredirect && !match; i++)
        match = strcmp(a->integ.redirect_uris[i], p->redirect_uri) == 0;
    if (!match)
        return az_fatal(a, 400, "This redirect_uri is not registered for the client.");
    snprintf(a->redirect_uri, sizeof(a->redirect_uri), "%s", p->redirect_uri);

    /* From here on errors go back to the client, with its state. */
    if (p->state) {
        if (p->state_len > STATE_MAX)
            return az_redirect(a, "invalid_request", "state too long");
        memcpy(a->state, p->state, p->state_len);
        a->state[p->state_len] = '\0';
        a->has_state = true;
    }
    if (check_rt) {
        if (!p->response_type)
            return az_redirect(a, "invalid_request", "response_type required");
        if (strcmp(p->response_type, "code") != 0)
            return az_redirect(a, "unsupported_response_type", "only response_type=code is supported");
    }
    if (!p->challenge)
        return az_redirect(a, "invalid_request", "code_challenge required (PKCE S256)");
    if (!p->method)
        return az_redirect(a, "invalid_request", "code_challenge_method=S256 required");
    if (strcmp(p->method, "S256") != 0)
        return az_redirect(a, "invalid_request", "only code_challenge_method=S256 is supported");
    if (!b64url_43(p->challenge))
        return az_redirect(a, "invalid_request", "code_challenge must be 43 base64url characters");
    memcpy(a->challenge, p->challenge, CHALLENGE_LEN + 1);
    snprintf(a->method, sizeof(a->method), "S256");
    if (a->integ.disabled)
        return az_redirect(a, "access_denied", "integration disabled");
    return AZ_OK;
}

static int az_error_url(const authz *a, char *out, size_t cap)
{
    const char *kv[] = {"error", a->error, "error_description", a->desc, "state", a->has_state ? a->state : NULL};
    return build_redirect(out, cap, a->redirect_uri, kv, CV_ARRAY_LEN(kv));
}

static const char *const az_names[] = {"response_type", "client_id", "redirect_uri", "state",
                                       "code_challenge", "code_challenge_method", "scope"};

/* Parses the query of req into form and params. Returns 0 or -EINVAL with
 * err set (a duplicated or malformed parameter). */
static int az_parse_query(cv_http_req *req, cv_form *form, az_params *p, char *err, size_t errcap)
{
    cv_form_init(form, az_names, CV_ARRAY_LEN(az_names));
    cv_str q = cv_http_req_query(req);
    int r = cv_form_parse(form, q.p ? q.p : "", q.p ? q.len : 0, err, errcap);
    if (r < 0)
        return r;
    memset(p, 0, sizeof(*p));
    p->response_type = cv_form_get(form, "response_type", NULL);
    p->client_id = cv_form_get(form, "client_id", NULL);
    p->redirect_uri = cv_form_get(form, "redirect_uri", NULL);
    p->state = cv_form_get(form, "state", &p->state_len);
    p->challenge = cv_form_get(form, "code_challenge", NULL);
    p->method = cv_form_get(form, "code_challenge_method", NULL);
    return 0;
}

static void handle_authorize(cv_oauth *o, cv_http_req *req)
{
    cv_form form;
    az_params p;
    authz a;
    char err[ERR_CAP];
    if (az_parse_query(req, &form, &p, err, sizeof(err)) < 0) {
        cv_form_clear(&form);
        reply_error_page(req, 400, "The authorization request is malformed.");
        return;
    }
    az_result res = az_check(o, &p, true, &a);
    cv_form_clear(&form);
    if (res == AZ_FATAL) {
        CV_INFO("authorize refused from %s: %s", cv_http_req_peer(req), a.desc);
        reply_error_page(req, a.status, a.desc);
        return;
    }
    if (res == AZ_REDIRECT) {
        char url[REDIRECT_CAP];
        CV_INFO("authorize for %s redirected with %s (%s)", a.integ.name, a.error, a.desc);
        if (az_error_url(&a, url, sizeof(url)) < 0)
            reply_error_page(req, 400, "The authorization request is too long.");
        else
            reply_redirect(req, url);
        return;
    }
    /* The page, with the partner's name (an integration name is
     * [A-Za-z0-9._-], escaped all the same). */
    char name[6 * (CV_OAUTH_NAME_MAX + 1)];
    html_escape(a.integ.name, name, sizeof(name));
    const char *tpl = cv__oauth_page_html;
    size_t mark = strlen(CV_OAUTH_PAGE_PARTNER), nl = strlen(name), cap = strlen(tpl) + 1;
    for (const char *q = strstr(tpl, CV_OAUTH_PAGE_PARTNER); q; q = strstr(q + mark, CV_OAUTH_PAGE_PARTNER))
        cap += nl;
    char *page = malloc(cap);
    if (!page) {
        cv_http_respond(req, 500, "text/plain; charset=utf-8", "out of memory\n", 14, NULL);
        return;
    }
    size_t n = 0;
    for (const char *q = tpl;;) {
        const char *m = strstr(q, CV_OAUTH_PAGE_PARTNER);
        size_t k = m ? (size_t)(m - q) : strlen(q);
        memcpy(page + n, q, k);
        n += k;
        if (!m)
            break;
        memcpy(page + n, name, nl);
        n += nl;
        q = m + mark;
    }
    cv_http_respond(req, 200, "text/html; charset=utf-8", page, n, PAGE_HEADERS);
    free(page);
}

/* ------------------------------------------------------------- consent */

typedef struct {
    cv_camera_rec *cams; /* sorted by home, then name */
    size_t n;
} cam_set;

static int cam_cmp(const void *x, const void *y)
{
    const cv_camera_rec *a = x, *b = y;
    int r = memcmp(a->home.b, b->home.b, CV_ID_BYTES);
    return r ? r : strcmp(a->name, b->name);
}

/* The cameras the user can see now. Returns 0, or -EIO. */
static int user_cams(cv_oauth *o, const cv_user_rec *u, cam_set *out)
{
    out->cams = NULL;
    out->n = 0;
    if (cv_store_user_cameras(o->cfg.store, &u->id, cv_wall_us(), &out->cams, &out->n) != 0)
        return -EIO;
    if (out->n > 1)
        qsort(out->cams, out->n, sizeof(out->cams[0]), cam_cmp);
    return 0;
}

static bool model_blocked(const cv_integration_rec *in, const char *model)
{
    if (!model || !*model)
        return false;
    for (size_t i = 0; i < in->nmodels; i++)
        if (strcmp(in->disabled_models[i], model) == 0)
            return true;
    return false;
}

static json_t *jid(const cv_id *id)
{
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(id, hex);
    return json_string(hex);
}

/* Store text is printable UTF-8; anything else still yields a string. */
static json_t *jtext(const char *s)
{
    json_t *j = json_string(s);
    return j ? j : json_string("?");
}

/* [{"id","name","cameras":[{"id","name","model","blocked"?}]}] grouped by home,
 * homes by name. NULL on failure. */
static json_t *homes_json(cv_oauth *o, const cv_integration_rec *integ, const cam_set *cs)
{
    json_t *homes = json_array();
    json_t *cur = NULL;
    if (!homes)
        return NULL;
    for (size_t i = 0; i < cs->n; i++) {
        const cv_camera_rec *c = &cs->cams[i];
        if (i == 0 || !cv_id_eq(&c->home, &cs->cams[i - 1].home)) {
            cv_home_rec h;
            if (cv_store_home_get(o->cfg.store, &c->home, &h) != 0)
                snprintf(h.name, sizeof(h.name), "?");
            json_t *home = json_pack("{s:o,s:o,s:[]}", "id", jid(&c->home), "name", jtext(h.name), "cameras");
            if (!home || json_array_append_new(homes, home) != 0)
                goto fail;
            cur = json_object_get(home, "cameras");
        }
        json_t *cam = json_pack("{s:o,s:o,s:o}", "id", jid(&c->id), "name", jtext(c->name), "model", jtext(c->model));
        if (!cam || json_array_append_new(cur, cam) != 0)
            goto fail;
        if (model_blocked(integ, c->model) && json_object_set_new(cam, "blocked", json_true()) != 0)
            goto fail;
    }
    /* Homes by name (the store's order is by id). */
    size_t nh = json_array_size(homes);
    for (size_t i = 1; i < nh; i++)
        for (size_t j = i; j > 0; j--) {
            json_t *x = json_array_get(homes, j - 1), *y = json_array_get(homes, j);
            if (strcmp(json_string_value(json_object_get(x, "name")), json_string_value(json_object_get(y, "name"))) <= 0)
                break;
            json_incref(x);
            json_array_remove(homes, j - 1);
            json_array_insert_new(homes, j, x);
        }
    return homes;
fail:
    json_decref(homes);
    return NULL;
}

static void scope_limit_error(cv_http_req *req)
{
    char msg[160];
    snprintf(msg, sizeof(msg),
             "this account can see more than %d cameras; at most %d can be linked to a partner at once",
             CV_OAUTH_SCOPE_MAX, CV_OAUTH_SCOPE_MAX);
    reply_error(req, 400, msg);
}

static void handle_consent_get(cv_oauth *o, cv_http_req *req)
{
    cv_form form;
    az_params p;
    authz a;
    char err[ERR_CAP];
    if (az_parse_query(req, &form, &p, err, sizeof(err)) < 0) {
        cv_form_clear(&form);
        reply_error(req, 400, "malformed authorization request");
        return;
    }
    az_result res = az_check(o, &p, true, &a);
    cv_form_clear(&form);
    if (res != AZ_OK) {
        reply_error(req, res == AZ_FATAL ? a.status : 400, a.desc);
        return;
    }
    cv_user_rec u;
    char csrf[65];
    if (cv_api_session_user(o->cfg.api, req, false, &u, csrf) != 0) {
        reply_error(req, 401, "authentication required");
        return;
    }
    cam_set cs;
    if (user_cams(o, &u, &cs) < 0) {
        reply_error(req, 500, "internal error");
        return;
    }
    if (cs.n > CV_OAUTH_SCOPE_MAX) {
        free(cs.cams);
        scope_limit_error(req);
        return;
    }
    json_t *homes = homes_json(o, &a.integ, &cs);
    free(cs.cams);
    json_t *request = json_pack("{s:s,s:s,s:s,s:s}", "client_id", a.client_id, "redirect_uri", a.redirect_uri,
                                "code_challenge", a.challenge, "code_challenge_method", a.method);
    if (request && a.has_state) {
        json_t *st = json_string(a.state);
        if (!st || json_object_set_new(request, "state", st) != 0) {
            json_decref(request);
            request = NULL;
        }
    }
    json_t *ans = NULL;
    if (homes && request)
        ans = json_pack("{s:s,s:s,s:o,s:s,s:o,s:O}", "partner", a.integ.name, "client_id", a.client_id, "user",
                        jtext(u.login), "csrf", csrf, "homes", homes, "request", request);
    else
        json_decref(homes);
    json_decref(request);
    sodium_memzero(csrf, sizeof(csrf));
    reply_json(req, 200, ans, NULL); /* NULL: 500 */
}

/* A JSON string member: NULL when absent or null; *bad when present but
 * not a string without NUL bytes. */
static const char *jget(json_t *doc, const char *key, size_t *len, bool *bad)
{
    json_t *v = json_object_get(doc, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        *bad = true;
        return NULL;
    }
    if (len)
        *len = json_string_length(v);
    const char *s = json_string_value(v);
    return *s ? s : NULL; /* "" is absent, as in a query */
}

/* Whether cameras (an array of hex ids, as the page listed) is exactly cs. */
static bool same_cameras(json_t *cameras, const cam_set *cs)
{
    if (!json_is_array(cameras) || json_array_size(cameras) != cs->n)
        return false;
    for (size_t i = 0; i < cs->n; i++) {
        char hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&cs->cams[i].id, hex);
        bool found = false;
        size_t k;
        json_t *v;
        json_array_foreach(cameras, k, v) {
            if (json_is_string(v) && strcmp(json_string_value(v), hex) == 0) {
                found = true;
                break;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

static void consent_audit(cv_oauth *o, cv_http_req *req, const cv_user_rec *u, const authz *a, const char *what,
                          size_t n)
{
    char principal[96], detail[160];
    snprintf(principal, sizeof(principal), "user:%s", u->login);
    snprintf(detail, sizeof(detail), "integration %s %s %zu cameras", a->integ.name, what, n);
    if (cv_store_audit(o->cfg.store, "oauth.consent", principal, NULL, cv_http_req_peer(req), "http", detail) < 0)
        CV_WARN("audit log write failed (oauth.consent %s)", principal);
}

static void reply_redirect_json(cv_http_req *req, const char *url)
{
    reply_json(req, 200, json_pack("{s:s}", "redirect", url), NULL);
}

static void handle_consent_post(cv_oauth *o, cv_http_req *req)
{
    cv_user_rec u;
    char csrf[65];
    int r = cv_api_session_user(o->cfg.api, req, true, &u, csrf);
    sodium_memzero(csrf, sizeof(csrf));
    if (r == -EPERM) {
        reply_error(req, 403, "missing or bad CSRF token");
        return;
    }
    if (r != 0) {
        reply_error(req, 401, "authentication required");
        return;
    }
    cv_str ct = cv_http_req_header(req, "Content-Type");
    cv_str ctype = ct;
    for (size_t i = 0; ct.p && i < ct.len; i++)
        if (ct.p[i] == ';') {
            ctype.len = i;
            break;
        }
    if (!ct.p || !cv_str_ieq_c(cv_str_trim(ctype), "application/json")) {
        reply_error(req, 415, "expected Content-Type: application/json");
        return;
    }
    cv_str body = cv_http_req_body(req);
    json_error_t je;
    json_t *doc = json_loadb(body.p ? body.p : "", body.p ? body.len : 0, JSON_REJECT_DUPLICATES, &je);
    if (!doc || !json_is_object(doc)) {
        json_decref(doc);
        reply_error(req, 400, "the body must be one JSON object");
        return;
    }
    bool bad = false;
    az_params p = {0};
    p.client_id = jget(doc, "client_id", NULL, &bad);
    p.redirect_uri = jget(doc, "redirect_uri", NULL, &bad);
    p.state = jget(doc, "state", &p.state_len, &bad);
    p.challenge = jget(doc, "code_challenge", NULL, &bad);
    p.method = jget(doc, "code_challenge_method", NULL, &bad);
    const char *decision = jget(doc, "decision", NULL, &bad);
    json_t *listed = json_object_get(doc, "cameras");
    if (bad) {
        json_decref(doc);
        reply_error(req, 400, "every field must be a string");
        return;
    }
    if (!decision || (strcmp(decision, "allow") != 0 && strcmp(decision, "deny") != 0)) {
        json_decref(doc);
        reply_error(req, 400, "decision must be \"allow\" or \"deny\"");
        return;
    }
    bool allow = strcmp(decision, "allow") == 0;
    authz a;
    az_result res = az_check(o, &p, false, &a);
    bool listed_ok = true;
    cam_set cs = {0};
    if (res == AZ_OK || (res == AZ_REDIRECT && a.integ.disabled)) {
        if (user_cams(o, &u, &cs) < 0) {
            json_decref(doc);
            reply_error(req, 500, "internal error");
            return;
        }
        listed_ok = !listed || json_is_null(listed) || same_cameras(listed, &cs);
    }
    json_decref(doc);
    char url[REDIRECT_CAP];
    if (res == AZ_FATAL) {
        free(cs.cams);
        reply_error(req, a.status, a.desc);
        return;
    }
    if (res == AZ_REDIRECT && !a.integ.disabled) {
        free(cs.cams);
        reply_error(req, 400, a.desc);
        return;
    }
    if (!allow || res == AZ_REDIRECT) {
        /* A refusal, or the kill switch thrown since the page loaded. */
        if (res != AZ_REDIRECT) {
            a.error = "access_denied";
            a.desc = NULL;
        }
        consent_audit(o, req, &u, &a, "deny", cs.n);
        free(cs.cams);
        if (az_error_url(&a, url, sizeof(url)) < 0) {
            reply_error(req, 400, "request too long");
            return;
        }
        CV_INFO("user %s denied %s (%s)", u.login, a.integ.name, res == AZ_REDIRECT ? "integration disabled" : "refused");
        reply_redirect_json(req, url);
        return;
    }
    if (cs.n > CV_OAUTH_SCOPE_MAX) {
        free(cs.cams);
        scope_limit_error(req);
        return;
    }
    if (cs.n == 0) {
        free(cs.cams);
        reply_error(req, 400, "there are no cameras to share");
        return;
    }
    if (!listed_ok) {
        free(cs.cams);
        reply_error(req, 409, "your cameras changed since the page loaded; review them again");
        return;
    }
    cv_id scope[CV_OAUTH_SCOPE_MAX];
    for (size_t i = 0; i < cs.n; i++)
        scope[i] = cs.cams[i].id;
    size_t n = cs.n;
    free(cs.cams);

    char principal[96];
    snprintf(principal, sizeof(principal), "user:%s", u.login);
    const cv_store_actor by = {principal, cv_http_req_peer(req), "http"};
    int64_t now = cv_wall_us();
    cv_id link;
    r = cv_store_oauth_link_add(o->cfg.store, &u.id, &a.integ.id, now, &by, &link);
    if (r < 0) {
        CV_WARN("link of %s to %s failed: %s", u.login, a.integ.name, strerror(-r));
        reply_error(req, r == -ENOENT ? 400 : 500, r == -ENOENT ? "the account or integration is gone" : "internal error");
        return;
    }
    if (r == 0)
        changed(o);
    char code[CV_OAUTH_SECRET_MAX];
    r = cv_store_oauth_code_issue(o->cfg.store, o->hkey, &u.id, &a.integ.id, a.redirect_uri, a.challenge, scope, n,
                                  now, code, sizeof(code));
    if (r == -ENOENT) {
        /* Disabled (or unlinked) between the check and now. */
        a.error = "access_denied";
        a.desc = "integration disabled";
        consent_audit(o, req, &u, &a, "deny", n);
        if (az_error_url(&a, url, sizeof(url)) < 0)
            reply_error(req, 400, "request too long");
        else
            reply_redirect_json(req, url);
        return;
    }
    if (r < 0) {
        CV_WARN("code for %s / %s failed: %s", u.login, a.integ.name, strerror(-r));
        reply_error(req, r == -EINVAL ? 400 : 500, r == -EINVAL ? "invalid request" : "internal error");
        return;
    }
    changed(o);
    consent_audit(o, req, &u, &a, "allow", n);
    const char *kv[] = {"code", code, "state", a.has_state ? a.state : NULL};
    r = build_redirect(url, sizeof(url), a.redirect_uri, kv, CV_ARRAY_LEN(kv));
    sodium_memzero(code, sizeof(code));
    if (r < 0) {
        reply_error(req, 400, "request too long");
        return;
    }
    CV_INFO("user %s linked %s (%zu cameras)", u.login, a.integ.name, n);
    reply_redirect_json(req, url);
    sodium_memzero(url, sizeof(url));
}

/* -------------------------------------------------- client endpoints */

static const char *const token_names[] = {"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token",
                                          "client_id", "client_secret", "token", "token_type_hint", "scope"};

typedef struct {
    cv_form form;
    cv_integration_rec integ;
    char client_id[CV_OAUTH_CLIENT_ID_MAX + 8];
} client_call;

/* Parses the form body and authenticates the client (§2.3.1). Returns true
 * with c->integ filled; false after answering. */
static bool client_auth(cv_oauth *o, cv_http_req *req, client_call *c)
{
    char err[ERR_CAP], desc[ERR_CAP + 32];
    cv_form_init(&c->form, token_names, CV_ARRAY_LEN(token_names));
    if (!cv_form_ctype(cv_http_req_header(req, "Content-Type"))) {
        reply_oauth_error(req, 400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded",
                          NULL);
        return false;
    }
    cv_str body = cv_http_req_body(req);
    if (cv_form_parse(&c->form, body.p ? body.p : "", body.p ? body.len : 0, err, sizeof(err)) < 0) {
        snprintf(desc, sizeof(desc), "malformed body: %s", err);
        reply_oauth_error(req, 400, "invalid_request", desc, NULL);
        return false;
    }
    const char *peer = cv_http_req_peer(req);
    const char *body_id = cv_form_get(&c->form, "client_id", NULL);
    const char *body_secret = cv_form_get(&c->form, "client_secret", NULL);
    char secret[CV_OAUTH_SECRET_MAX + 8];
    bool basic = false;
    secret[0] = '\0';
    c->client_id[0] = '\0';
    int r = cv_form_basic_auth(cv_http_req_header(req, "Authorization"), c->client_id, sizeof(c->client_id), secret,
                               sizeof(secret));
    if (r == 0) {
        basic = true;
        if (body_secret || (body_id && strcmp(body_id, c->client_id) != 0)) {
            sodium_memzero(secret, sizeof(secret));
            reply_oauth_error(req, 400, "invalid_request", "use one client authentication method", NULL);
            return false;
        }
    } else if (r == -EINVAL) {
        /* Malformed Basic credentials: a failed authentication (below). */
        basic = true;
        c->client_id[0] = '\0';
    } else if (body_id && body_secret) {
        if (strlen(body_id) < sizeof(c->client_id) && strlen(body_secret) < sizeof(secret)) {
            snprintf(c->client_id, sizeof(c->client_id), "%s", body_id);
            snprintf(secret, sizeof(secret), "%s", body_secret);
        }
    } else {
        reply_oauth_error(req, 401, "invalid_client", "client authentication required", BASIC_CHALLENGE);
        return false;
    }
    int64_t now = cv_now_us();
    const char *account = c->client_id[0] ? c->client_id : NULL;
    int64_t wait = cv_guard_check(o->cfg.guard, CLIENT_REALM, peer, account, now);
    if (wait > 0) {
        char hdr[64];
        sodium_memzero(secret, sizeof(secret));
        snprintf(hdr, sizeof(hdr), "Retry-After: %lld\r\n", (long long)((wait + 999999) / 1000000));
        CV_WARN("client authentication from %s throttled", peer);
        reply_oauth_error(req, 429, "temporarily_unavailable", "too many failed client authentications; retry later",
                          hdr);
        return false;
    }
    r = c->client_id[0] ? cv_store_integration_verify(o->cfg.store, o->hkey, c->client_id, secret, &c->integ)
                        : -EACCES;
    sodium_memzero(secret, sizeof(secret));
    if (r == -EACCES) {
        cv_guard_failed(o->cfg.guard, CLIENT_REALM, peer, account, now);
        CV_INFO("client authentication failed from %s", peer);
        reply_oauth_error(req, 401, "invalid_client", "client authentication failed", basic ? BASIC_CHALLENGE : NULL);
        return false;
    }
    if (r < 0) {
        reply_oauth_error(req, 500, "server_error", "internal error", NULL);
        return false;
    }
    cv_guard_succeeded(o->cfg.guard, CLIENT_REALM, peer, account);
    return true;
}

static void reply_pair(cv_http_req *req, cv_oauth_pair *pair, int64_t now)
{
    char body[512];
    int64_t ttl = (pair->access_expires_us - now + 999999) / 1000000;
    int n = snprintf(body, sizeof(body),
                     "{\"access_token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":%lld,\"refresh_token\":\"%s\"}",
                     pair->access, (long long)(ttl > 0 ? ttl : 0), pair->refresh);
    /* The tokens are base64url: nothing to escape. */
    cv_http_respond(req, 200, "application/json", body, (size_t)n, TOKEN_HEADERS);
    sodium_memzero(body, sizeof(body));
    sodium_memzero(pair, sizeof(*pair));
}

static void grant_error(cv_oauth *o, cv_http_req *req, const client_call *c, int r, const char *grant)
{
    const char *desc;
    switch (r) {
    case -ENOENT: desc = "unknown, revoked or already used grant"; break;
    case -ETIMEDOUT: desc = "grant expired"; break;
    case -EACCES: desc = "grant not valid for this client, redirect_uri or code_verifier"; break;
    case -EALREADY: desc = "grant already used: every token issued from it is revoked"; break;
    case -EINVAL: desc = "malformed grant"; break;
    default:
        CV_WARN("%s for %s failed: %s", grant, c->integ.name, strerror(-r));
        reply_oauth_error(req, 500, "server_error", "internal error", NULL);
        return;
    }
    if (r == -EALREADY) {
        CV_WARN("%s reused by %s from %s: chain revoked", grant, c->integ.name, cv_http_req_peer(req));
        changed(o);
    } else {
        CV_INFO("%s refused for %s: %s", grant, c->integ.name, desc);
    }
    reply_oauth_error(req, 400, "invalid_grant", desc, NULL);
}

static void handle_token(cv_oauth *o, cv_http_req *req)
{
    client_call c;
    if (!client_auth(o, req, &c))
        goto out;
    if (c.integ.disabled) {
        reply_oauth_error(req, 400, "unauthorized_client", "integration disabled", NULL);
        goto out;
    }
    const char *gt = cv_form_get(&c.form, "grant_type", NULL);
    cv_oauth_grant grant;
    cv_oauth_pair pair;
    int64_t now = cv_wall_us();
    if (!gt) {
        reply_oauth_error(req, 400, "invalid_request", "grant_type required", NULL);
    } else if (strcmp(gt, "authorization_code") == 0) {
        const char *code = cv_form_get(&c.form, "code", NULL);
        const char *uri = cv_form_get(&c.form, "redirect_uri", NULL);
        size_t vlen = 0;
        const char *verifier = cv_form_get(&c.form, "code_verifier", &vlen);
        if (!code || !uri || !verifier) {
            reply_oauth_error(req, 400, "invalid_request",
                              !code ? "code required" : !uri ? "redirect_uri required" : "code_verifier required", NULL);
        } else if (!cv_oauth_verifier_valid(verifier, vlen)) {
            reply_oauth_error(req, 400, "invalid_grant", "malformed code_verifier", NULL);
        } else {
            int r = cv_store_oauth_code_redeem(o->cfg.store, o->hkey, code, &c.integ.id, uri, verifier, now, &grant,
                                               &pair);
            if (r == 0) {
                CV_INFO("code redeemed by %s (%zu cameras)", c.integ.name, grant.nscope);
                reply_pair(req, &pair, now);
            } else {
                grant_error(o, req, &c, r, "code");
            }
        }
    } else if (strcmp(gt, "refresh_token") == 0) {
        const char *rt = cv_form_get(&c.form, "refresh_token", NULL);
        if (!rt) {
            reply_oauth_error(req, 400, "invalid_request", "refresh_token required", NULL);
        } else {
            int r = cv_store_oauth_refresh(o->cfg.store, o->hkey, rt, &c.integ.id, now, &grant, &pair);
            if (r == 0)
                reply_pair(req, &pair, now);
            else
                grant_error(o, req, &c, r, "refresh token");
        }
    } else {
        reply_oauth_error(req, 400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token",
                          NULL);
    }
    sodium_memzero(&pair, sizeof(pair));
out:
    cv_form_clear(&c.form);
}

static void handle_revoke(cv_oauth *o, cv_http_req *req)
{
    client_call c;
    if (!client_auth(o, req, &c))
        goto out;
    /* A disabled integration may still revoke: that only takes access away. */
    const char *token = cv_form_get(&c.form, "token", NULL);
    if (!token) {
        reply_oauth_error(req, 400, "invalid_request", "token required", NULL);
        goto out;
    }
    int r = cv_store_oauth_revoke(o->cfg.store, o->hkey, token, &c.integ.id, cv_wall_us());
    if (r == 0) {
        changed(o);
        cv_http_respond(req, 200, "application/json", NULL, 0, TOKEN_HEADERS);
    } else if (r == -EACCES) {
        /* RFC 7009 §2.2: an invalid token is no error; nothing revoked. */
        CV_WARN("%s tried to revoke another client's token (from %s): ignored", c.integ.name, cv_http_req_peer(req));
        cv_http_respond(req, 200, "application/json", NULL, 0, TOKEN_HEADERS);
    } else {
        CV_WARN("revoke for %s failed: %s", c.integ.name, strerror(-r));
        reply_oauth_error(req, 503, "temporarily_unavailable", "try again later", "Retry-After: 5\r\n");
    }
out:
    cv_form_clear(&c.form);
}

/* -------------------------------------------------------------- router */

bool cv_oauth_handle(cv_oauth *o, cv_http_req *req)
{
    static const char prefix[] = "/oauth/";
    cv_str path = cv_http_req_path(req);
    if (!path.p || path.len < sizeof(prefix) - 1 || memcmp(path.p, prefix, sizeof(prefix) - 1) != 0)
        return false;
    cv_str rest = {path.p + sizeof(prefix) - 1, path.len - (sizeof(prefix) - 1)};
    const char *m = cv_http_req_method(req);
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    bool post = strcmp(m, "POST") == 0;
    if (cv_str_eq(rest, CV_STR_LIT("authorize"))) {
        if (get)
            handle_authorize(o, req);
        else
            reply_405(req, "GET, HEAD");
    } else if (cv_str_eq(rest, CV_STR_LIT("consent.js"))) {
        if (get)
            cv_http_respond(req, 200, "application/javascript; charset=utf-8", cv__oauth_consent_js,
                            cv__oauth_consent_js_len, "Cache-Control: no-cache\r\n");
        else
            reply_405(req, "GET, HEAD");
    } else if (cv_str_eq(rest, CV_STR_LIT("consent"))) {
        if (get)
            handle_consent_get(o, req);
        else if (post)
            handle_consent_post(o, req);
        else
            reply_405(req, "GET, HEAD, POST");
    } else if (cv_str_eq(rest, CV_STR_LIT("token"))) {
        if (post)
            handle_token(o, req);
        else
            reply_405(req, "POST");
    } else if (cv_str_eq(rest, CV_STR_LIT("revoke"))) {
        if (post)
            handle_revoke(o, req);
        else
            reply_405(req, "POST");
    } else {
        reply_error(req, 404, "not found");
    }
    return true;
}
