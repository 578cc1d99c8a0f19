/* /fulfill/: the module shared by the Google and Alexa dialects: routing,
 * the request checks, the OAuth token, the device list, stream tokens and
 * the live stream's properties (codec, resolution from the SPS). */
#define CV_LOG_MODULE "fulfill"
#include "fulfill/fulfill_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "http/parse.h"
#include "hub/stream.h"
#include "media/sps.h"
#include "store/audit.h"
#include "store/people.h"

#define DEFAULT_TTL_US (5LL * 60 * 1000000)

cv_fulfill *cv_fulfill_new(const cv_fulfill_config *cfg)
{
    if (!cfg || !cfg->store || !cfg->key || !cfg->reg || !cfg->http_base)
        return NULL;
    cv_fulfill *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->store = cfg->store;
    f->key = cfg->key;
    f->reg = cfg->reg;
    f->ttl_us = cfg->stream_ttl_us > 0 ? cfg->stream_ttl_us : DEFAULT_TTL_US;
    if (f->ttl_us > CV_TOKEN_TTL_MAX_US)
        f->ttl_us = CV_TOKEN_TTL_MAX_US;
    f->on_change = cfg->on_change;
    f->on_change_ctx = cfg->on_change_ctx;
    /* Bases are joined with "/cam/...": drop a trailing slash. */
    f->http_base = strdup(cfg->http_base);
    if (f->http_base) {
        size_t n = strlen(f->http_base);
        while (n > 0 && f->http_base[n - 1] == '/')
            f->http_base[--n] = 0;
    }
    if (cfg->rtsps_base && cfg->rtsps_base[0]) {
        f->rtsps_base = strdup(cfg->rtsps_base);
        if (!f->rtsps_base) {
            cv_fulfill_free(f);
            return NULL;
        }
        size_t n = strlen(f->rtsps_base);
        while (n > 0 && f->rtsps_base[n - 1] == '/')
            f->rtsps_base[--n] = 0;
    }
    if (!f->http_base) {
        cv_fulfill_free(f);
        return NULL;
    }
    cv_oauth_hkey(cv_key_sub(f->key, CV_KEY_TOKEN), f->hkey);
    return f;
}

void cv_fulfill_free(cv_fulfill *f)
{
    if (!f)
        return;
    sodium_memzero(f->hkey, sizeof(f->hkey));
    free(f->http_base);
    free(f->rtsps_base);
    free(f);
}

/* ------------------------------------------------------------ plumbing */

void cv__fulfill_json(cv_http_req *req, int status, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s) {
        static const char oom[] = "{\"error\":\"internal error\"}";
        cv_http_respond(req, 500, "application/json", oom, sizeof(oom) - 1, NULL);
        return;
    }
    cv_http_respond(req, status, "application/json", s, strlen(s), NULL);
    free(s);
}

void cv__fulfill_uuid(char out[37])
{
    uint8_t b[16];
    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
             b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

bool cv__fulfill_bearer(cv_http_req *req, char *out, size_t cap)
{
    cv_str tok;
    if (!cv_http_bearer(cv_http_req_header(req, "Authorization"), &tok) || tok.len == 0 || tok.len >= cap)
        return false;
    memcpy(out, tok.p, tok.len);
    out[tok.len] = 0;
    return strlen(out) == tok.len;
}

int cv__fulfill_auth(cv__fulfill_ctx *c, const char *camera_model)
{
    if (!c->token || !c->token[0])
        return -ENOENT;
    return cv_store_oauth_access_get(c->f->store, c->f->hkey, c->token, camera_model, c->now_us, &c->grant);
}

const char *cv__fulfill_integ_name(cv__fulfill_ctx *c)
{
    if (!c->integ_name[0]) {
        cv_integration_rec *r = malloc(sizeof(*r));
        if (r && cv_store_integration_get(c->f->store, &c->grant.integration, r) == 0)
            snprintf(c->integ_name, sizeof(c->integ_name), "%s", r->name);
        else
            snprintf(c->integ_name, sizeof(c->integ_name), "?");
        free(r);
    }
    return c->integ_name;
}

/* ------------------------------------------------------------- devices */

static bool in_scope(const cv_oauth_grant *g, const cv_id *id)
{
    for (size_t i = 0; i < g->nscope && i < CV_OAUTH_SCOPE_MAX; i++)
        if (cv_id_eq(&g->scope[i], id))
            return true;
    return false;
}

/* 0 when the user may still see the camera live, -ENOENT, -EIO. */
static int visible(cv__fulfill_ctx *c, const cv_id *id, cv_camera_rec *cam)
{
    uint32_t scopes = 0;
    int rc = cv_store_access(c->f->store, &c->grant.user, id, c->now_us, &scopes);
    if (rc < 0)
        return rc;
    if (!(scopes & CV_SCOPE_LIVE))
        return -ENOENT;
    rc = cv_store_camera_get(c->f->store, id, cam);
    return rc == -ENOENT || rc == 0 ? rc : -EIO;
}

int cv__fulfill_device(cv__fulfill_ctx *c, const char *device_id, cv_camera_rec **out)
{
    cv_id id;
    *out = NULL;
    if (strlen(device_id) != CV_ID_HEX_LEN || cv_id_from_hex(device_id, CV_ID_HEX_LEN, &id) != 0)
        return -ENOENT;
    /* Only the canonical spelling names a device. */
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&id, hex);
    if (strcmp(hex, device_id) != 0 || !in_scope(&c->grant, &id))
        return -ENOENT;
    cv_camera_rec *cam = malloc(sizeof(*cam));
    if (!cam)
        return -ENOMEM;
    int rc = visible(c, &id, cam);
    if (rc < 0) {
        free(cam);
        return rc;
    }
    *out = cam;
    return 0;
}

int cv__fulfill_devices(cv__fulfill_ctx *c, cv_camera_rec **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t ns = CV_MIN(c->grant.nscope, (size_t)CV_OAUTH_SCOPE_MAX);
    if (ns == 0)
        return 0;
    cv_camera_rec *list = malloc(ns * sizeof(*list));
    if (!list)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < ns; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup = dup || cv_id_eq(&c->grant.scope[j], &c->grant.scope[i]);
        if (dup)
            continue;
        int rc = visible(c, &c->grant.scope[i], &list[k]);
        if (rc == -ENOENT)
            continue;
        if (rc < 0) {
            free(list);
            return rc;
        }
        k++;
    }
    if (k == 0) {
        free(list);
        list = NULL;
    }
    *out = list;
    *n = k;
    return 0;
}

void cv__fulfill_agent_id(const cv_fulfill *f, const cv_oauth_grant *g, char out[CV_ID_HEX_LEN + 1])
{
    static const char ctx[] = "camvault agentUserId v1";
    uint8_t h[CV_ID_BYTES];
    crypto_generichash_state st;
    crypto_generichash_init(&st, cv_key_sub(f->key, CV_KEY_TOKEN), CV_SUBKEY_BYTES, sizeof(h));
    crypto_generichash_update(&st, (const uint8_t *)ctx, sizeof(ctx));
    crypto_generichash_update(&st, g->integration.b, CV_ID_BYTES);
    crypto_generichash_update(&st, g->user.b, CV_ID_BYTES);
    crypto_generichash_final(&st, h, sizeof(h));
    cv_id id;
    memcpy(id.b, h, sizeof(id.b));
    cv_id_to_hex(&id, out);
}

/* ---------------------------------------------------- live stream info */

void cv__fulfill_live_info(const cv_fulfill *f, const cv_id *camera, cv__fulfill_live *out)
{
    memset(out, 0, sizeof(*out));
    cv_stream *s = cv_registry_find(f->reg, camera);
    if (!s)
        return;
    out->online = cv_stream_online(s);
    cv_track_info *t = out->online ? malloc(CV_MAX_TRACKS * sizeof(*t)) : NULL;
    size_t n = t ? cv_stream_tracks(s, t, CV_MAX_TRACKS) : 0;
    for (size_t i = 0; i < n && i < CV_MAX_TRACKS; i++) {
        if (t[i].kind == CV_MEDIA_VIDEO && out->video == CV_CODEC_UNKNOWN) {
            out->video = t[i].codec;
            if (t[i].sps_len > 0 && t[i].sps_len <= CV_MAX_PARAM_SET) {
                if (t[i].codec == CV_CODEC_H264 && !cv_sps_h264_size(t[i].sps, t[i].sps_len, &out->width, &out->height))
                    out->width = out->height = 0;
                if (t[i].codec == CV_CODEC_H265 && !cv_sps_h265_parse(t[i].sps, t[i].sps_len, &out->width, &out->height, NULL, 0))
                    out->width = out->height = 0;
            }
        } else if (t[i].kind == CV_MEDIA_AUDIO && out->audio == CV_CODEC_UNKNOWN) {
            out->audio = t[i].codec;
        }
    }
    free(t);
    cv_stream_unref(s);
}

/* -------------------------------------------------------- stream tokens */

int cv__fulfill_mint(cv__fulfill_ctx *c, const cv_id *camera, uint8_t scopes, char *out)
{
    cv_token t;
    memset(&t, 0, sizeof(t));
    randombytes_buf(t.id.b, sizeof(t.id.b));
    t.camera = *camera;
    t.principal = c->grant.link;
    t.kind = CV_PRINCIPAL_INTEGRATION;
    t.scopes = scopes;
    t.expires_us = c->now_us + c->f->ttl_us;
    int rc = cv_token_encode(c->f->key, &t, out, CV_TOKEN_MAX);
    sodium_memzero(&t, sizeof(t));
    return rc < 0 ? rc : 0;
}

void cv__fulfill_audit_stream(cv__fulfill_ctx *c, const cv_id *camera, const char *proto)
{
    char principal[96], detail[200], link[CV_ID_HEX_LEN + 1];
    const char *name = cv__fulfill_integ_name(c);
    cv_id_to_hex(&c->grant.link, link);
    snprintf(principal, sizeof(principal), "integration:%s", name);
    snprintf(detail, sizeof(detail), "integration=%s protocol=%s link=%s", name, proto, link);
    if (cv_store_audit(c->f->store, "link.stream", principal, camera, cv_http_req_peer(c->req), "http", detail) < 0)
        CV_WARN("audit of a partner stream failed");
}

int cv__fulfill_unlink(cv__fulfill_ctx *c)
{
    char principal[96];
    snprintf(principal, sizeof(principal), "integration:%s", cv__fulfill_integ_name(c));
    cv_store_actor by = {principal, cv_http_req_peer(c->req), "http"};
    int rc = cv_store_oauth_link_revoke(c->f->store, &c->grant.link, c->now_us, &by);
    if (rc == -ENOENT)
        rc = 0; /* already gone: unlinked either way */
    if (rc == 0 && c->f->on_change)
        c->f->on_change(c->f->on_change_ctx);
    return rc;
}

/* -------------------------------------------------------------- routing */

/* "application/json", any case, optionally with parameters. */
static bool json_ctype(cv_str ct)
{
    static const char want[] = "application/json";
    size_t n = sizeof(want) - 1;
    if (!ct.p || ct.len < n || !cv_str_ieq_c((cv_str){ct.p, n}, want))
        return false;
    cv_str rest = cv_str_trim((cv_str){ct.p + n, ct.len - n});
    return rest.len == 0 || rest.p[0] == ';';
}

static void plain_error(cv_http_req *req, int status, const char *msg, const char *extra)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    cv_http_respond(req, status, "application/json", s ? s : "{}", s ? strlen(s) : 2, extra);
    free(s);
}

bool cv_fulfill_handle(cv_fulfill *f, cv_http_req *req)
{
    cv_str path = cv_http_req_path(req);
    static const char prefix[] = "/fulfill/";
    if (!path.p || path.len < sizeof(prefix) - 1 || memcmp(path.p, prefix, sizeof(prefix) - 1) != 0) {
        if (!cv_str_eq(path, CV_STR_LIT("/fulfill")))
            return false;
    }
    bool google = cv_str_eq(path, CV_STR_LIT("/fulfill/google"));
    bool alexa = cv_str_eq(path, CV_STR_LIT("/fulfill/alexa"));
    if (!google && !alexa) {
        plain_error(req, 404, "not found", NULL);
        return true;
    }
    if (strcmp(cv_http_req_method(req), "POST") != 0) {
        plain_error(req, 405, "method not allowed", "Allow: POST\r\n");
        return true;
    }
    if (!json_ctype(cv_http_req_header(req, "Content-Type"))) {
        plain_error(req, 415, "Content-Type must be application/json", NULL);
        return true;
    }
    if (google)
        cv__fulfill_google(f, req);
    else
        cv__fulfill_alexa(f, req);
    return true;
}
