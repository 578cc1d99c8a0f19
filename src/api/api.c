/* The API's front door: routing, the order of checks every request goes
 * through (route, authentication, CSRF, admin, content type, body), the
 * answer helpers and the thread-pool password check. */
#define CV_LOG_MODULE "api"
#include "api/api_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define DEFAULT_SESSION_TTL_US (12LL * 3600 * 1000000)

enum {
    R_PUBLIC = 1, /* no session needed */
    R_ADMIN = 2,  /* user.admin only */
};

typedef struct {
    const char *method;
    const char *pattern; /* segments after /api/v1/; '*' is a parameter */
    void (*fn)(cv__api_call *c);
    cv_api_body body;
    unsigned flags;
} route;

static const route routes[] = {
    {"POST", "login", cv__api_login, CV_BODY_LOGIN, R_PUBLIC},
    {"POST", "logout", cv__api_logout, CV_BODY_EMPTY, 0},
    {"GET", "me", cv__api_me, CV_BODY_EMPTY, 0},
    {"POST", "me/password", cv__api_me_password, CV_BODY_PASSWORD, 0},
    {"POST", "me/totp", cv__api_totp_begin, CV_BODY_EMPTY, 0},
    {"POST", "me/totp/confirm", cv__api_totp_confirm, CV_BODY_CODE, 0},
    {"DELETE", "me/totp", cv__api_totp_disable, CV_BODY_CODE, 0},
    {"GET", "me/app-passwords", cv__api_apppw_list, CV_BODY_EMPTY, 0},
    {"POST", "me/app-passwords", cv__api_apppw_add, CV_BODY_APPPW, 0},
    {"DELETE", "me/app-passwords/*", cv__api_apppw_remove, CV_BODY_EMPTY, 0},
    {"GET", "users", cv__api_users_list, CV_BODY_EMPTY, R_ADMIN},
    {"POST", "users", cv__api_users_add, CV_BODY_USER_ADD, R_ADMIN},
    {"POST", "users/*/disable", cv__api_user_disable, CV_BODY_EMPTY, R_ADMIN},
    {"POST", "users/*/enable", cv__api_user_enable, CV_BODY_EMPTY, R_ADMIN},
    {"DELETE", "users/*", cv__api_user_remove, CV_BODY_EMPTY, R_ADMIN},
    {"GET", "homes", cv__api_homes_list, CV_BODY_EMPTY, 0},
    {"POST", "homes", cv__api_homes_add, CV_BODY_HOME_ADD, 0},
    {"DELETE", "homes/*", cv__api_home_remove, CV_BODY_EMPTY, 0},
    {"GET", "homes/*/members", cv__api_members_list, CV_BODY_EMPTY, 0},
    {"GET", "homes/*/grants", cv__api_home_grants, CV_BODY_EMPTY, 0},
    {"POST", "homes/*/cameras/test", cv__api_camera_test, CV_BODY_CAMERA_TEST, 0},
    {"PUT", "homes/*/members/*", cv__api_member_set, CV_BODY_ROLE, 0},
    {"DELETE", "homes/*/members/*", cv__api_member_remove, CV_BODY_EMPTY, 0},
    {"POST", "homes/*/cameras", cv__api_cameras_add, CV_BODY_CAMERA_ADD, 0},
    {"GET", "cameras", cv__api_cameras_list, CV_BODY_EMPTY, 0},
    {"GET", "cameras/*", cv__api_camera_get, CV_BODY_EMPTY, 0},
    {"PATCH", "cameras/*", cv__api_camera_rename, CV_BODY_CAMERA_RENAME, 0},
    {"DELETE", "cameras/*", cv__api_camera_remove, CV_BODY_EMPTY, 0},
    {"POST", "cameras/*/rotate-secret", cv__api_camera_rotate, CV_BODY_EMPTY, 0},
    {"GET", "cameras/*/grants", cv__api_grants_list, CV_BODY_EMPTY, 0},
    {"POST", "cameras/*/grants", cv__api_grants_add, CV_BODY_GRANT_ADD, 0},
    {"DELETE", "grants/*", cv__api_grant_remove, CV_BODY_EMPTY, 0},
    {"POST", "cameras/*/tokens", cv__api_token_issue, CV_BODY_TOKEN_ISSUE, 0},
    {"POST", "tokens/revoke", cv__api_token_revoke, CV_BODY_TOKEN, 0},
    {"GET", "audit", cv__api_audit, CV_BODY_EMPTY, 0},
    {"GET", "me/links", cv__api_links_list, CV_BODY_EMPTY, 0},
    {"DELETE", "me/links/*", cv__api_link_remove, CV_BODY_EMPTY, 0},
    {"GET", "integrations", cv__api_integrations_list, CV_BODY_EMPTY, R_ADMIN},
    {"POST", "integrations/*/disable", cv__api_integration_disable, CV_BODY_KILL_SWITCH, R_ADMIN},
    {"POST", "integrations/*/enable", cv__api_integration_enable, CV_BODY_KILL_SWITCH, R_ADMIN},
};

/* ----------------------------------------------------------- lifecycle */

cv_api *cv_api_new(uv_loop_t *loop, const cv_api_config *cfg)
{
    if (!cfg || !cfg->store || !cfg->key || !cfg->guard)
        return NULL;
    cv_api *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->loop = loop;
    a->store = cfg->store;
    a->key = cfg->key;
    a->guard = cfg->guard;
    snprintf(a->rtsp_base, sizeof(a->rtsp_base), "%s", cfg->rtsp_base ? cfg->rtsp_base : "rtsp://127.0.0.1:8554");
    snprintf(a->http_base, sizeof(a->http_base), "%s", cfg->http_base ? cfg->http_base : "");
    a->session_ttl_us = cfg->session_ttl_us > 0 ? cfg->session_ttl_us : DEFAULT_SESSION_TTL_US;
    a->on_change = cfg->on_change;
    a->on_change_ctx = cfg->on_change_ctx;
    a->camera_status = cfg->camera_status;
    a->camera_status_ctx = cfg->camera_status_ctx;
    a->probe_pull = cfg->probe_pull;
    a->probe_pull_ctx = cfg->probe_pull_ctx;
    return a;
}

void cv_api_free(cv_api *a)
{
    if (!a)
        return;
    a->freed = true;
    if (a->pending == 0)
        free(a);
}

static bool unsafe_method(const char *m)
{
    return strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0 && strcmp(m, "OPTIONS") != 0;
}

void cv__api_call_free(cv__api_call *c)
{
    json_decref(c->doc);
    if (c->pw) {
        sodium_memzero(c->pw, c->pwlen);
        free(c->pw);
    }
    sodium_memzero(c, sizeof(*c));
    free(c);
}

/* ------------------------------------------------------------- answers */

void cv__api_reply(cv__api_call *c, int status, json_t *o, const char *extra_headers)
{
    if (c->answered) {
        CV_ERROR("%p: answered twice (%d)", (void *)c, status);
        json_decref(o);
        return;
    }
    c->answered = true;
    if (status >= 200 && status < 300 && unsafe_method(c->method) && c->api->on_change)
        c->api->on_change(c->api->on_change_ctx);
    if (status == 204) {
        json_decref(o);
        cv_http_respond(c->req, status, NULL, NULL, 0, extra_headers);
        return;
    }
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        cv_http_respond(c->req, 500, "application/json", oom, sizeof(oom) - 1, NULL);
        return;
    }
    cv_http_respond(c->req, status, "application/json", s, strlen(s), extra_headers);
    free(s);
}

void cv__api_error(cv__api_call *c, int status, const char *msg)
{
    cv__api_reply(c, status, json_pack("{s:o}", "error", cv__api_jstr(msg)), NULL);
}

void cv__api_forbidden(cv__api_call *c) { cv__api_error(c, 403, "forbidden"); }

void cv__api_admin_error(cv__api_call *c, int rc, const char *err)
{
    switch (rc) {
    case -EINVAL: cv__api_error(c, 400, err && *err ? err : "invalid value"); break;
    case -EEXIST: cv__api_error(c, 409, err && *err ? err : "that name is taken"); break;
    case -EACCES:
    case -ENOENT: cv__api_forbidden(c); break;
    default:
        CV_WARN("%p: %s failed: %s", (void *)c, c->method, err ? err : strerror(-rc));
        cv__api_error(c, 500, "internal error");
    }
}

json_t *cv__api_jstr(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    /* Not valid UTF-8 (a field cut in the middle of a character): keep the
     * ASCII, mark the rest. */
    size_t n = strlen(s);
    char *t = malloc(n + 1);
    if (!t)
        return json_null();
    for (size_t i = 0; i <= n; i++)
        t[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
    j = json_string(t);
    free(t);
    return j ? j : json_null();
}

json_t *cv__api_jid(const cv_id *id)
{
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(id, hex);
    return json_string(hex);
}

json_t *cv__api_jscopes(uint32_t scopes)
{
    json_t *a = json_array();
    if (scopes & CV_SCOPE_LIVE)
        json_array_append_new(a, json_string("live"));
    if (scopes & CV_SCOPE_SNAPSHOT)
        json_array_append_new(a, json_string("snapshot"));
    return a;
}

json_t *cv__api_user_json(const cv_user_rec *u)
{
    return json_pack("{s:o,s:o,s:b,s:b,s:b,s:I}", "id", cv__api_jid(&u->id), "login", cv__api_jstr(u->login),
                     "admin", u->admin, "disabled", u->disabled, "totp", u->totp_enabled, "created",
                     (json_int_t)(u->created_us / 1000000));
}

/* The caller's relation to a camera, and whether it may see who else may. */
static const char *camera_role(cv__api_call *c, const cv_camera_rec *r, bool *sees_grants)
{
    *sees_grants = true;
    if (c->user.admin)
        return "admin";
    cv_role role = cv__api_role(c, &r->home);
    *sees_grants = role >= CV_ROLE_MEMBER;
    return role == CV_ROLE_NONE ? "guest" : cv_role_name(role);
}

static json_int_t live_grants(cv__api_call *c, const cv_id *camera)
{
    cv_grant_rec *g = NULL;
    size_t n = 0;
    json_int_t live = 0;
    int64_t now = cv_wall_us();
    if (cv_store_grant_list(c->api->store, camera, NULL, &g, &n) == 0)
        for (size_t i = 0; i < n; i++)
            live += g[i].expires_us > now;
    free(g);
    return live;
}

json_t *cv__api_camera_json(cv__api_call *c, const cv_camera_rec *r)
{
    const cv_api *a = c->api;
    char hex[CV_ID_HEX_LEN + 1], url[sizeof(a->rtsp_base) + 48];
    cv_id_to_hex(&r->id, hex);
    snprintf(url, sizeof(url), "%s/cam/%s", a->rtsp_base, hex);
    json_t *o = json_pack("{s:s,s:o,s:o,s:o,s:s}", "id", hex, "home", cv__api_jid(&r->home), "name",
                          cv__api_jstr(r->name), "model", cv__api_jstr(r->model), "source",
                          r->source == CV_CAM_PULL ? "pull" : "push");
    if (!o)
        return NULL;
    if (r->source == CV_CAM_PULL) {
        /* The store keeps the display form with credentials masked. */
        json_object_set_new(o, "pull_url", cv__api_jstr(r->pull_url));
        json_object_set_new(o, "transport",
                            json_string(r->pull_transport == CV_PULL_TCP   ? "tcp"
                                        : r->pull_transport == CV_PULL_UDP ? "udp"
                                                                           : "auto"));
    }
    json_object_set_new(o, "rtsp_url", json_string(url));
    json_object_set_new(o, "created", json_integer((json_int_t)(r->created_us / 1000000)));
    int64_t last = 0;
    bool online = a->camera_status && a->camera_status(a->camera_status_ctx, &r->id, &last);
    json_object_set_new(o, "online", json_boolean(online));
    json_object_set_new(o, "last_seen", last > 0 ? json_integer((json_int_t)(last / 1000000)) : json_null());
    bool sees_grants;
    const char *role = camera_role(c, r, &sees_grants);
    json_object_set_new(o, "shared", json_integer(sees_grants ? live_grants(c, &r->id) : 0));
    json_object_set_new(o, "role", json_string(role));
    return o;
}

void cv__api_rtsp_url(const cv_api *a, const char *user, const char *pass, const char *suffix, char *out,
                      size_t cap)
{
    const char *rest = strstr(a->rtsp_base, "://");
    if (!user || !rest) {
        snprintf(out, cap, "%s%s", a->rtsp_base, suffix);
        return;
    }
    rest += 3;
    snprintf(out, cap, "%.*s%s:%s@%s%s", (int)(rest - a->rtsp_base), a->rtsp_base, user, pass, rest, suffix);
}

/* -------------------------------------------------------------- checks */

bool cv__api_parse_id(const char *s, cv_id *out)
{
    return s && strlen(s) == CV_ID_HEX_LEN && cv_id_from_hex(s, CV_ID_HEX_LEN, out) == 0;
}

cv_role cv__api_role(cv__api_call *c, const cv_id *home)
{
    if (c->user.admin)
        return CV_ROLE_OWNER;
    cv_role r = CV_ROLE_NONE;
    if (cv_store_member_role(c->api->store, home, &c->user.id, &r) != 0)
        return CV_ROLE_NONE;
    return r;
}

bool cv__api_camera(cv__api_call *c, const char *hex, cv_role need, cv_camera_rec *out)
{
    cv_id id;
    if (!cv__api_parse_id(hex, &id) || cv_store_camera_get(c->api->store, &id, out) != 0)
        goto no;
    if (c->user.admin)
        return true;
    if (need == CV_ROLE_NONE) {
        uint32_t scopes = 0;
        if (cv_store_access(c->api->store, &c->user.id, &id, cv_wall_us(), &scopes) == 0 && scopes)
            return true;
        goto no;
    }
    if (cv__api_role(c, &out->home) >= need)
        return true;
no:
    cv__api_forbidden(c);
    return false;
}

bool cv__api_home(cv__api_call *c, const char *hex, cv_role need, cv_home_rec *out, cv_role *role)
{
    cv_id id;
    if (cv__api_parse_id(hex, &id) && cv_store_home_get(c->api->store, &id, out) == 0) {
        cv_role r = cv__api_role(c, &id);
        if (r >= need && r > CV_ROLE_NONE) {
            if (role)
                *role = r;
            return true;
        }
    }
    cv__api_forbidden(c);
    return false;
}

/* ---------------------------------------------------- password checks */

static void verify_work(uv_work_t *w)
{
    cv__api_call *c = w->data;
    if (c->hashing)
        c->ok = cv_pw_hash(c->pw, c->pwlen, c->hash) == 0;
    else
        c->ok = cv_pw_verify(c->has_hash ? c->hash : NULL, c->pw, c->pwlen);
}

static void verify_done(uv_work_t *w, int status)
{
    cv__api_call *c = w->data;
    cv_api *a = c->api;
    a->pending--;
    if (a->freed) {
        /* The server has stopped: the request is gone (answering just
         * releases it) and the store may be closed. */
        cv__api_error(c, 503, "shutting down");
        cv__api_call_free(c);
        if (a->pending == 0)
            free(a);
        return;
    }
    c->queued = false;
    c->done(c, status == 0 && c->ok);
    if (c->queued)
        return; /* the callback started the next job */
    if (!c->answered) {
        CV_ERROR("%p: password check finished without an answer", (void *)c);
        cv__api_error(c, 500, "internal error");
    }
    cv__api_call_free(c);
}

static bool queue_job(cv__api_call *c, const char *pw, size_t len, cv__api_verified done);

bool cv__api_verify(cv__api_call *c, const char *hash, const char *pw, size_t len, cv__api_verified done)
{
    c->hashing = false;
    c->has_hash = hash != NULL;
    if (hash)
        snprintf(c->hash, sizeof(c->hash), "%s", hash);
    return queue_job(c, pw, len, done);
}

bool cv__api_hash(cv__api_call *c, const char *pw, size_t len, cv__api_verified done)
{
    c->hashing = true;
    c->has_hash = false;
    c->hash[0] = '\0';
    return queue_job(c, pw, len, done);
}

static bool queue_job(cv__api_call *c, const char *pw, size_t len, cv__api_verified done)
{
    if (c->pw) {
        if (c->pw == pw) { /* hashing the password already held (e.g. a generated one) */
            c->done = done;
            goto queue;
        }
        sodium_memzero(c->pw, c->pwlen);
        free(c->pw);
        c->pw = NULL;
    }
    c->pw = malloc(len + 1);
    if (!c->pw) {
        cv__api_error(c, 500, "out of memory");
        return false;
    }
    memcpy(c->pw, pw, len);
    c->pw[len] = '\0';
    c->pwlen = len;
    c->done = done;
queue:
    c->work.data = c;
    int rc = uv_queue_work(c->api->loop, &c->work, verify_work, verify_done);
    if (rc < 0) {
        CV_ERROR("cannot queue a password check: %s", uv_strerror(rc));
        cv__api_error(c, 500, "internal error");
        return false;
    }
    c->api->pending++;
    c->async = true;
    c->queued = true;
    return true;
}

/* -------------------------------------------------------------- routing */

/* Whether the path segments fit pattern; '*' segments go to c->param. */
static bool match(cv__api_call *c, const char *pattern, int nseg)
{
    const char *p = pattern;
    int i = 0, np = 0;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (i >= nseg)
            return false;
        if (len == 1 && *p == '*') {
            if (np == (int)CV_ARRAY_LEN(c->param))
                return false;
            c->param[np++] = c->seg[i];
        } else if (strlen(c->seg[i]) != len || memcmp(c->seg[i], p, len) != 0) {
            return false;
        }
        i++;
        p += len + (slash ? 1 : 0);
    }
    return i == nseg;
}

static bool same_method(const char *route_m, const char *m)
{
    return strcmp(route_m, m) == 0 || (strcmp(route_m, "GET") == 0 && strcmp(m, "HEAD") == 0);
}

static const route *find_route(cv__api_call *c, int nseg, char *allow, size_t cap)
{
    allow[0] = '\0';
    for (size_t i = 0; i < CV_ARRAY_LEN(routes); i++) {
        if (!match(c, routes[i].pattern, nseg))
            continue;
        if (same_method(routes[i].method, c->method))
            return &routes[i];
        size_t n = strlen(allow);
        snprintf(allow + n, cap - n, "%s%s", n ? ", " : "", routes[i].method);
    }
    memset(c->param, 0, sizeof(c->param));
    return NULL;
}

/* Content type and body against the route's schema. */
static bool read_body(cv__api_call *c, const route *r)
{
    if (!unsafe_method(c->method))
        return true;
    cv_str body = cv_http_req_body(c->req);
    if (body.len > 0 && !cv_api_json_ctype(cv_http_req_header(c->req, "Content-Type"))) {
        cv__api_error(c, 415, "a request body must be Content-Type: application/json");
        return false;
    }
    char err[160];
    if (cv_api_json_parse(body.p, body.len, cv_api_schema_get(r->body), &c->doc, c->v, err, sizeof(err)) < 0) {
        cv__api_error(c, 400, err);
        return false;
    }
    return true;
}

static void dispatch(cv__api_call *c)
{
    int n = cv_api_path_split(cv_http_req_path(c->req), c->seg);
    if (n == -EBADMSG) {
        cv__api_error(c, 400, "bad percent-encoding in the path");
        return;
    }
    char allow[64];
    const route *r = n > 0 ? find_route(c, n, allow, sizeof(allow)) : NULL;
    if (!r) {
        if (n > 0 && allow[0]) {
            char hdr[96];
            snprintf(hdr, sizeof(hdr), "Allow: %s%s\r\n", allow, strstr(allow, "GET") ? ", HEAD" : "");
            cv__api_reply(c, 405, json_pack("{s:s}", "error", "method not allowed"), hdr);
        } else {
            cv__api_error(c, 404, "not found");
        }
        return;
    }
    if (!(r->flags & R_PUBLIC)) {
        if (!cv__api_authenticate(c, unsafe_method(c->method)))
            return;
        if ((r->flags & R_ADMIN) && !c->user.admin) {
            cv__api_forbidden(c);
            return;
        }
    }
    if (!read_body(c, r))
        return;
    r->fn(c);
}

void cv_api_handle(void *ctx, cv_http_req *req)
{
    cv_api *a = ctx;
    cv__api_call *c = calloc(1, sizeof(*c));
    if (!c) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        cv_http_respond(req, 500, "application/json", oom, sizeof(oom) - 1, NULL);
        return;
    }
    c->api = a;
    c->req = req;
    c->method = cv_http_req_method(req);
    snprintf(c->peer, sizeof(c->peer), "%s", cv_http_req_peer(req));
    dispatch(c);
    if (c->async)
        return; /* verify_done answers and frees */
    if (!c->answered) {
        CV_ERROR("%p: %s handler did not answer", (void *)c, c->method);
        cv__api_error(c, 500, "internal error");
    }
    cv__api_call_free(c);
}
