/* Capability tokens for the caller (/cameras/{id}/tokens, /tokens/revoke)
 * and the audit log (/audit). */
#define CV_LOG_MODULE "api"
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "auth/token.h"
#include "base/log.h"
#include "store/audit.h"

#define TTL_DEFAULT_S 300
#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000

void cv__api_token_issue(cv__api_call *c)
{
    const cv_api_value *scope = &c->v[0], *ttl = &c->v[1];
    cv_camera_rec *r = malloc(sizeof(*r));
    if (!r) {
        cv__api_error(c, 500, "out of memory");
        return;
    }
    if (!cv__api_camera(c, c->param[0], CV_ROLE_NONE, r)) {
        free(r);
        return;
    }
    cv_id camera = r->id;
    sodium_memzero(r, sizeof(*r));
    free(r);
    uint32_t scopes = scope->present ? scope->scopes : CV_SCOPE_LIVE;
    int64_t ttl_s = ttl->present ? ttl->i : TTL_DEFAULT_S;
    char tok[CV_TOKEN_MAX], err[160] = "", hex[CV_ID_HEX_LEN + 1], suffix[CV_TOKEN_MAX + 64], url[512];
    cv_token t;
    /* Refuses (-EACCES) a caller without those scopes on the camera now,
     * admins included: tokens carry the caller's own access. */
    int rc = cv_admin_token_issue(&c->adm, &camera, &c->user.id, scopes, ttl_s * 1000000, tok, &t, err,
                                  sizeof(err));
    if (rc < 0) {
        cv__api_admin_error(c, rc, err);
        return;
    }
    cv_id_to_hex(&camera, hex);
    snprintf(suffix, sizeof(suffix), "/cam/%s?token=%s", hex, tok);
    cv__api_rtsp_url(c->api, NULL, NULL, suffix, url, sizeof(url));
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:I}", "token", tok, "rtsp_url", url, "camera", hex, "scopes",
                          cv__api_jscopes(t.scopes), "expires", (json_int_t)(t.expires_us / 1000000));
    json_t *urls = json_object();
    const char *hb = c->api->http_base;
    if (o && urls) {
        char u[600];
        json_object_set_new(urls, "rtsp", json_string(url));
        if (hb[0] && (t.scopes & CV_SCOPE_LIVE)) {
            snprintf(u, sizeof(u), "%s/cam/%s/index.m3u8?token=%s", hb, hex, tok);
            json_object_set_new(urls, "hls", json_string(u));
            snprintf(u, sizeof(u), "%s/cam/%s/live.mp4?token=%s", hb, hex, tok);
            json_object_set_new(urls, "mp4", json_string(u));
            snprintf(u, sizeof(u), "%s/cam/%s/live.mjpeg?token=%s&fps=5", hb, hex, tok);
            json_object_set_new(urls, "mjpeg", json_string(u));
        }
        if (hb[0]) {
            snprintf(u, sizeof(u), "%s/cam/%s/snapshot.jpg?token=%s", hb, hex, tok);
            json_object_set_new(urls, "snapshot", json_string(u));
        }
        sodium_memzero(u, sizeof(u));
        json_object_set_new(o, "urls", urls);
        urls = NULL;
    }
    json_decref(urls);
    cv__api_reply(c, 201, o, NULL);
    sodium_memzero(tok, sizeof(tok));
    sodium_memzero(suffix, sizeof(suffix));
    sodium_memzero(url, sizeof(url));
}

void cv__api_token_revoke(cv__api_call *c)
{
    const cv_api_value *token = &c->v[0];
    cv_token t;
    if (cv_token_decode(c->api->key, token->s, token->len, &t) != 0) {
        cv__api_error(c, 400, "token: not a token of this server");
        return;
    }
    bool allowed = c->user.admin || (t.kind == CV_PRINCIPAL_USER && cv_id_eq(&t.principal, &c->user.id));
    if (!allowed) {
        cv_camera_rec *r = malloc(sizeof(*r));
        allowed = r && cv_store_camera_get(c->api->store, &t.camera, r) == 0 &&
                  cv__api_role(c, &r->home) == CV_ROLE_OWNER;
        if (r)
            sodium_memzero(r, sizeof(*r));
        free(r);
    }
    if (!allowed) {
        cv__api_forbidden(c);
        return;
    }
    char err[160] = "";
    int rc = cv_admin_token_revoke(&c->adm, token->s, err, sizeof(err));
    if (rc == -ENOENT)
        cv__api_error(c, 400, "token: no record of that token");
    else if (rc < 0)
        cv__api_admin_error(c, rc, err);
    else
        cv__api_reply(c, 204, NULL, NULL);
}

/* A query parameter as an integer in [lo, hi]; def when absent. */
static int query_int(cv__api_call *c, const char *name, int64_t lo, int64_t hi, int64_t def, int64_t *out)
{
    char buf[24];
    int n = cv_http_req_query_param(c->req, name, buf, sizeof(buf));
    if (n == -ENOENT) {
        *out = def;
        return 0;
    }
    uint64_t v;
    if (n <= 0 || cv_str_to_u64((cv_str){buf, (size_t)n}, (uint64_t)hi, &v) != 0 || (int64_t)v < lo)
        return -EINVAL;
    *out = (int64_t)v;
    return 0;
}

void cv__api_audit(cv__api_call *c)
{
    int64_t after, limit;
    char hex[CV_ID_HEX_LEN + 8];
    if (query_int(c, "after", 0, INT64_MAX, 0, &after) < 0) {
        cv__api_error(c, 400, "after: expected a sequence number (0 or more)");
        return;
    }
    if (query_int(c, "limit", 1, AUDIT_LIMIT_MAX, AUDIT_LIMIT_DEFAULT, &limit) < 0) {
        cv__api_error(c, 400, "limit: expected 1 to 1000");
        return;
    }
    cv_audit_filter f = {.after_seq = after};
    cv_id camera, home;
    char person[CV_LOGIN_MAX + 2];
    int n = cv_http_req_query_param(c->req, "camera", hex, sizeof(hex));
    if (n != -ENOENT) {
        cv_camera_rec *r = malloc(sizeof(*r));
        /* Non-admins only for a camera in a home they own; any other id is
         * forbidden, existing or not. */
        bool ok = r && n == CV_ID_HEX_LEN && cv_id_from_hex(hex, CV_ID_HEX_LEN, &camera) == 0 &&
                  (c->user.admin || (cv_store_camera_get(c->api->store, &camera, r) == 0 &&
                                     cv__api_role(c, &r->home) == CV_ROLE_OWNER));
        if (r)
            sodium_memzero(r, sizeof(*r));
        free(r);
        if (!ok) {
            cv__api_forbidden(c);
            return;
        }
        f.camera = &camera;
    }
    n = cv_http_req_query_param(c->req, "home", hex, sizeof(hex));
    if (n != -ENOENT) {
        /* The same for a home: its owners (admins: any id). */
        bool ok = n == CV_ID_HEX_LEN && cv_id_from_hex(hex, CV_ID_HEX_LEN, &home) == 0 &&
                  (c->user.admin || cv__api_role(c, &home) == CV_ROLE_OWNER);
        if (!ok) {
            cv__api_forbidden(c);
            return;
        }
        f.home = &home;
    }
    n = cv_http_req_query_param(c->req, "person", person, sizeof(person));
    if (n != -ENOENT) {
        if (n <= 0 || n > CV_LOGIN_MAX) {
            cv__api_error(c, 400, "person: expected a login");
            return;
        }
        f.person = person;
    }
    /* Without camera= or home=, the whole log: admins only. */
    if (!f.camera && !f.home && !c->user.admin) {
        cv__api_forbidden(c);
        return;
    }
    cv_audit_rec *e = NULL;
    size_t cnt = 0;
    if (cv_store_audit_query(c->api->store, &f, (size_t)limit, &e, &cnt) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < cnt; i++) {
        json_t *o = json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o}", "seq", (json_int_t)e[i].seq, "ts",
                              (json_int_t)(e[i].ts_us / 1000000), "event", cv__api_jstr(e[i].event), "principal",
                              cv__api_jstr(e[i].principal), "camera",
                              e[i].camera[0] ? cv__api_jstr(e[i].camera) : json_null(), "address",
                              cv__api_jstr(e[i].address), "protocol", cv__api_jstr(e[i].protocol), "detail",
                              cv__api_jstr(e[i].detail));
        json_array_append_new(arr, o);
    }
    int64_t next = cnt ? e[cnt - 1].seq : after;
    free(e);
    cv__api_reply(c, 200, json_pack("{s:o,s:I}", "events", arr, "next", (json_int_t)next), NULL);
}
