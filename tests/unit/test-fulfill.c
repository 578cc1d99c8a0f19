/* Unit tests for src/fulfill/ (fulfill.c, google.c, alexa.c): a temporary
 * store with two homes, an integration linked by alice with a token pair,
 * a real registry and a real HTTP server on 127.0.0.1, driven by a blocking
 * client socket while the loop runs on this thread (so the store is only
 * ever touched from one thread). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "http-fixture.h"
#include "tmpdir-fixture.h"

#include "auth/key.h"
#include "auth/token.h"
#include "base/id.h"
#include "base/util.h"
#include "fulfill/fulfill.h"
#include "hub/registry.h"
#include "hub/stream.h"
#include "media/codec.h"
#include "store/audit.h"
#include "store/oauth.h"
#include "store/people.h"
#include "store/store.h"

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA"
#define SEC 1000000LL
#define TTL (300 * SEC)
#define HTTP_BASE "https://cv.example:8443"
#define RTSPS_BASE "rtsps://cv.example:8322"

static const cv_store_actor CLI = {"cli", "", "cli"};
/* High profile H.264 SPS: the hub fixtures' SPS_B (120x68 macroblocks, cut
 * short) completed with frame cropping (8 lines at the bottom) and no VUI:
 * 1920x1080. */
static const uint8_t SPS_B[] = {0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x40};
static const uint8_t PPS[] = {0x68, 0xce, 0x3c, 0x80};

typedef struct {
    tmpdir t;
    cv_store *s;
    cv_key *key;
    uint8_t hkey[CV_OAUTH_HKEY_BYTES];
    cv_registry *reg;
    cv_fulfill *ful;
    uv_loop_t loop;
    cv_http_server *srv;
    int port;
    int changes;
    cv_id alice, bob, home1, home2, integ, link;
    cv_id c1, c2, c3, c4; /* c1 (model X100), c2 (Y200) in scope; c3 not; c4 bob's, in scope */
    char h1[33], h2[33], h3[33], h4[33];
    char access[CV_OAUTH_SECRET_MAX];
    cv_stream *live[4];
    char src;
} fx;

static void on_change(void *ctx) { ((fx *)ctx)->changes++; }

static void handle(void *ctx, cv_http_req *req)
{
    fx *x = ctx;
    if (!cv_fulfill_handle(x->ful, req))
        cv_http_respond(req, 418, "text/plain", "other", 5, NULL);
}

static cv_fulfill *make_fulfill(fx *x, const char *rtsps)
{
    cv_fulfill_config c = {
        .store = x->s,
        .key = x->key,
        .reg = x->reg,
        .http_base = HTTP_BASE "/",
        .rtsps_base = rtsps,
        .stream_ttl_us = TTL,
        .on_change = on_change,
        .on_change_ctx = x,
    };
    return cv_fulfill_new(&c);
}

static int setup(void **state)
{
    fx *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    assert_int_equal(cv_id_init(), 0);
    assert_int_equal(tmpdir_make(&x->t, "fulfill", "camvault.db"), 0);
    assert_int_equal(cv_store_open(&x->s, x->t.path), 0);
    uint8_t kb[32];
    for (int i = 0; i < 32; i++)
        kb[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(cv_key_from_bytes(&x->key, kb), 0);
    cv_oauth_hkey(cv_key_sub(x->key, CV_KEY_TOKEN), x->hkey);

    assert_int_equal(cv_store_user_add(x->s, "alice", HASH, false, &x->alice), 0);
    assert_int_equal(cv_store_user_add(x->s, "bob", HASH, false, &x->bob), 0);
    assert_int_equal(cv_store_home_add(x->s, "alice home", &x->home1), 0);
    assert_int_equal(cv_store_home_add(x->s, "bob home", &x->home2), 0);
    assert_int_equal(cv_store_member_set(x->s, &x->home1, &x->alice, CV_ROLE_OWNER), 0);
    assert_int_equal(cv_store_member_set(x->s, &x->home2, &x->bob, CV_ROLE_OWNER), 0);
    x->c1 = fx_add_cam(x->s, &x->home1, "Front door", "X100");
    x->c2 = fx_add_cam(x->s, &x->home1, "Garden", "Y200");
    x->c3 = fx_add_cam(x->s, &x->home1, "Hallway", "X100");
    x->c4 = fx_add_cam(x->s, &x->home2, "Bob garage", "X100");
    cv_id_to_hex(&x->c1, x->h1);
    cv_id_to_hex(&x->c2, x->h2);
    cv_id_to_hex(&x->c3, x->h3);
    cv_id_to_hex(&x->c4, x->h4);

    static const char *const uris[] = {"https://example.com/cb"};
    char cid[CV_OAUTH_CLIENT_ID_MAX], sec[CV_OAUTH_SECRET_MAX];
    int64_t now = cv_wall_us();
    assert_int_equal(cv_store_integration_add(x->s, x->hkey, "google", uris, 1, now, &CLI, &x->integ, cid,
                                              sizeof(cid), sec, sizeof(sec)),
                     0);
    assert_int_equal(cv_store_oauth_link_add(x->s, &x->alice, &x->integ, now, &CLI, &x->link), 0);
    cv_oauth_grant g;
    memset(&g, 0, sizeof(g));
    g.user = x->alice;
    g.integration = x->integ;
    g.link = x->link;
    g.scope[0] = x->c1;
    g.scope[1] = x->c2;
    g.scope[2] = x->c4; /* foreign: must never show */
    g.nscope = 3;
    cv_oauth_pair p;
    assert_int_equal(cv_store_oauth_pair_issue(x->s, x->hkey, &g, now, &p), 0);
    snprintf(x->access, sizeof(x->access), "%s", p.access);

    x->reg = cv_registry_new(NULL);
    assert_non_null(x->reg);
    x->ful = make_fulfill(x, RTSPS_BASE);
    assert_non_null(x->ful);
    assert_int_equal(uv_loop_init(&x->loop), 0);
    cv_http_server_config hc = {.bind_addr = "127.0.0.1", .port = 0, .handle = handle, .ctx = x};
    assert_int_equal(cv_http_server_start(&x->srv, &x->loop, &hc), 0);
    x->port = cv_http_server_port(x->srv);
    assert_true(x->port > 0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    fx *x = *state;
    cv_http_server_stop(x->srv, NULL, NULL);
    uv_run(&x->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&x->loop), 0);
    cv_fulfill_free(x->ful);
    for (int i = 0; i < 4; i++) {
        if (x->live[i]) {
            cv_stream_detach(x->live[i], &x->src);
            cv_stream_unref(x->live[i]);
        }
    }
    cv_registry_free(x->reg);
    cv_store_close(x->s);
    cv_key_free(x->key);
    tmpdir_remove(&x->t);
    free(x);
    return 0;
}

/* Puts camera cam online with one H.264 track (SPS_B). */
static void go_online(fx *x, int slot, const cv_id *cam)
{
    cv_track_info *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->kind = CV_MEDIA_VIDEO;
    t->codec = CV_CODEC_H264;
    t->clock_rate = 90000;
    t->payload_type = 96;
    t->packetization_mode = 1;
    memcpy(t->sps, SPS_B, sizeof(SPS_B));
    t->sps_len = sizeof(SPS_B);
    memcpy(t->pps, PPS, sizeof(PPS));
    t->pps_len = sizeof(PPS);
    x->live[slot] = cv_registry_get(x->reg, cam);
    assert_non_null(x->live[slot]);
    assert_int_equal(cv_stream_attach(x->live[slot], &x->src, t, 1), 0);
    assert_true(cv_stream_online(x->live[slot]));
    free(t);
}

/* ------------------------------------------------------------- client */

typedef struct {
    int status;
    json_t *json; /* NULL when the body is not JSON */
    char body[65536];
} resp;

static void resp_clear(resp *r)
{
    json_decref(r->json);
    r->json = NULL;
}

/* One request on a fresh connection; the loop runs until the answer is in. */
static void request(fx *x, const char *method, const char *path, const char *ctype, const char *bearer,
                    const char *body, resp *out)
{
    memset(out, 0, sizeof(*out));
    size_t blen = body ? strlen(body) : 0;
    size_t cap = blen + 1024;
    char *req = malloc(cap);
    assert_non_null(req);
    char auth[CV_OAUTH_SECRET_MAX + 64] = "", ct[128] = "";
    if (bearer)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", bearer);
    if (ctype)
        snprintf(ct, sizeof(ct), "Content-Type: %s\r\n", ctype);
    int n = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %zu\r\n%s%s\r\n",
                     method, path, blen, ct, auth);
    assert_true(n > 0);
    assert_true((size_t)n + blen < cap);
    memcpy(req + n, body ? body : "", blen);
    http_fx_resp a;
    http_fx_exchange(&x->loop, x->port, req, (size_t)n + blen, false, 10 * SEC, &a);
    out->status = a.status;
    snprintf(out->body, sizeof(out->body), "%s", a.body);
    out->json = json_loads(out->body, 0, NULL);
    free(a.body);
    free(req);
}

static void post(fx *x, const char *path, const char *bearer, const char *body, resp *out)
{
    request(x, "POST", path, "application/json", bearer, body, out);
}

static const char *jstr(json_t *root, const char *path)
{
    json_t *v = root;
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *save = NULL, *k = strtok_r(tmp, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, (size_t)atoi(k));
        else
            v = json_object_get(v, k);
    }
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *jget(json_t *root, const char *path)
{
    json_t *v = root;
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *save = NULL, *k = strtok_r(tmp, ".", &save); k && v; k = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, (size_t)atoi(k));
        else
            v = json_object_get(v, k);
    }
    return v;
}

static void assert_jstr(json_t *root, const char *path, const char *want)
{
    const char *v = jstr(root, path);
    if (!v || strcmp(v, want) != 0)
        fail_msg("%s: got %s, want %s", path, v ? v : "(none)", want);
}

/* ------------------------------------------------------------- Google */

#define SYNC "{\"requestId\":\"req-sync\",\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}"
#define DISCONNECT "{\"requestId\":\"req-dis\",\"inputs\":[{\"intent\":\"action.devices.DISCONNECT\"}]}"

static char *execute_body(const char *id, const char *command, const char *protocols)
{
    char *b = malloc(2048);
    assert_non_null(b);
    snprintf(b, 2048,
             "{\"requestId\":\"req-exec\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\",\"payload\":"
             "{\"commands\":[{\"devices\":[{\"id\":\"%s\"}],\"execution\":[{\"command\":\"%s\",\"params\":"
             "{\"StreamToChromecast\":true%s%s%s}}]}]}}]}",
             id, command, protocols ? ",\"SupportedStreamProtocols\":" : "", protocols ? protocols : "", "");
    return b;
}

#define GCS "action.devices.commands.GetCameraStream"

/* EXECUTE one GetCameraStream on id; returns the single command result. */
static json_t *execute1(fx *x, const char *id, const char *protocols, resp *r)
{
    char *b = execute_body(id, GCS, protocols);
    post(x, "/fulfill/google", x->access, b, r);
    free(b);
    assert_int_equal(r->status, 200);
    assert_jstr(r->json, "requestId", "req-exec");
    json_t *cmds = jget(r->json, "payload.commands");
    assert_true(json_is_array(cmds));
    assert_int_equal(json_array_size(cmds), 1);
    json_t *c = json_array_get(cmds, 0);
    assert_jstr(c, "ids.0", id);
    return c;
}

static void test_google_sync(void **state)
{
    fx *x = *state;
    resp r;
    post(x, "/fulfill/google", x->access, SYNC, &r);
    assert_int_equal(r.status, 200);
    assert_jstr(r.json, "requestId", "req-sync");
    const char *agent = jstr(r.json, "payload.agentUserId");
    assert_non_null(agent);
    assert_int_equal(strlen(agent), 32);
    char agent1[40];
    snprintf(agent1, sizeof(agent1), "%s", agent);
    /* not the user id itself */
    char uh[33];
    cv_id_to_hex(&x->alice, uh);
    assert_string_not_equal(agent1, uh);
    json_t *devs = jget(r.json, "payload.devices");
    assert_true(json_is_array(devs));
    assert_int_equal(json_array_size(devs), 2); /* c1, c2: never c3 (not consented) nor c4 (bob's) */
    assert_jstr(devs, "0.id", x->h1);
    assert_jstr(devs, "1.id", x->h2);
    assert_jstr(devs, "0.type", "action.devices.types.CAMERA");
    assert_jstr(devs, "0.traits.0", "action.devices.traits.CameraStream");
    assert_jstr(devs, "0.name.name", "Front door");
    assert_jstr(devs, "1.deviceInfo.model", "Y200");
    assert_jstr(devs, "0.deviceInfo.manufacturer", "camvault");
    assert_jstr(devs, "0.attributes.cameraStreamSupportedProtocols.0", "hls");
    assert_jstr(devs, "0.attributes.cameraStreamSupportedProtocols.1", "progressive_mp4");
    assert_true(json_is_false(jget(devs, "0.attributes.cameraStreamNeedAuthToken")));
    assert_true(json_is_false(jget(devs, "0.willReportState")));
    assert_null(strstr(r.body, x->h3));
    assert_null(strstr(r.body, x->h4));
    resp_clear(&r);

    /* stable agentUserId; alice losing her membership drops the cameras */
    post(x, "/fulfill/google", x->access, SYNC, &r);
    assert_jstr(r.json, "payload.agentUserId", agent1);
    resp_clear(&r);
    assert_int_equal(cv_store_member_set(x->s, &x->home1, &x->bob, CV_ROLE_VIEWER), 0);
    assert_int_equal(cv_store_member_remove(x->s, &x->home1, &x->alice), 0);
    post(x, "/fulfill/google", x->access, SYNC, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(jget(r.json, "payload.devices")), 0);
    resp_clear(&r);
}

static void test_google_query(void **state)
{
    fx *x = *state;
    go_online(x, 0, &x->c1);
    char made_up[33];
    cv_id rnd;
    cv_id_random(&rnd);
    cv_id_to_hex(&rnd, made_up);
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"requestId\":\"req-q\",\"inputs\":[{\"intent\":\"action.devices.QUERY\",\"payload\":{\"devices\":"
             "[{\"id\":\"%s\"},{\"id\":\"%s\"},{\"id\":\"%s\"},{\"id\":\"%s\"},{\"id\":\"%s\"},{\"id\":\"nope\"}]}}]}",
             x->h1, x->h2, x->h3, x->h4, made_up);
    resp r;
    post(x, "/fulfill/google", x->access, body, &r);
    assert_int_equal(r.status, 200);
    assert_jstr(r.json, "requestId", "req-q");
    json_t *d = jget(r.json, "payload.devices");
    assert_true(json_is_object(d));
    json_t *d1 = json_object_get(d, x->h1), *d2 = json_object_get(d, x->h2);
    assert_true(json_is_true(json_object_get(d1, "online")));
    assert_jstr(d1, "status", "SUCCESS");
    assert_true(json_is_false(json_object_get(d2, "online")));
    assert_jstr(d2, "status", "SUCCESS");
    /* not consented, foreign, made up, malformed: one and the same answer */
    json_t *want = json_pack("{s:s, s:s}", "status", "ERROR", "errorCode", "deviceNotFound");
    assert_true(json_equal(json_object_get(d, x->h3), want));
    assert_true(json_equal(json_object_get(d, x->h4), want));
    assert_true(json_equal(json_object_get(d, made_up), want));
    assert_true(json_equal(json_object_get(d, "nope"), want));
    json_decref(want);
    resp_clear(&r);
}

static void check_stream_url(fx *x, const char *url, const char *hex, const char *file, const cv_id *cam,
                             cv_token *out)
{
    char prefix[256];
    snprintf(prefix, sizeof(prefix), HTTP_BASE "/cam/%s/%s?token=", hex, file);
    assert_non_null(url);
    if (strncmp(url, prefix, strlen(prefix)) != 0)
        fail_msg("url %s does not start with %s", url, prefix);
    const char *tok = url + strlen(prefix);
    cv_token t;
    assert_int_equal(cv_token_decode(x->key, tok, strlen(tok), &t), 0);
    assert_int_equal(t.kind, CV_PRINCIPAL_INTEGRATION);
    assert_true(cv_id_eq(&t.principal, &x->link));
    assert_true(cv_id_eq(&t.camera, cam));
    assert_true(t.scopes & 1u); /* CV_SCOPE_LIVE */
    int64_t want = cv_wall_us() + TTL;
    assert_true(t.expires_us <= want && t.expires_us > want - 10 * SEC);
    if (out)
        *out = t;
}

static void test_google_execute(void **state)
{
    fx *x = *state;
    resp r;
    /* offline */
    json_t *c = execute1(x, x->h1, NULL, &r);
    assert_jstr(c, "status", "ERROR");
    assert_jstr(c, "errorCode", "deviceOffline");
    resp_clear(&r);
    assert_int_equal(fx_count_events(x->s, "link.stream"), 0);

    go_online(x, 0, &x->c1);
    /* no list: hls */
    c = execute1(x, x->h1, NULL, &r);
    assert_jstr(c, "status", "SUCCESS");
    assert_true(json_is_true(jget(c, "states.online")));
    assert_jstr(c, "states.cameraStreamProtocol", "hls");
    cv_token t1, t2;
    check_stream_url(x, jstr(c, "states.cameraStreamAccessUrl"), x->h1, "index.m3u8", &x->c1, &t1);
    resp_clear(&r);
    assert_int_equal(fx_count_events(x->s, "link.stream"), 1);
    /* fresh token every time */
    c = execute1(x, x->h1, "[\"progressive_mp4\",\"hls\"]", &r);
    assert_jstr(c, "states.cameraStreamProtocol", "hls"); /* our preference wins */
    check_stream_url(x, jstr(c, "states.cameraStreamAccessUrl"), x->h1, "index.m3u8", &x->c1, &t2);
    assert_false(cv_id_eq(&t1.id, &t2.id));
    resp_clear(&r);
    c = execute1(x, x->h1, "[\"dash\",\"progressive_mp4\",\"webrtc\"]", &r);
    assert_jstr(c, "status", "SUCCESS");
    assert_jstr(c, "states.cameraStreamProtocol", "progressive_mp4");
    check_stream_url(x, jstr(c, "states.cameraStreamAccessUrl"), x->h1, "live.mp4", &x->c1, NULL);
    resp_clear(&r);
    c = execute1(x, x->h1, "[\"dash\",\"smooth_stream\",\"rtmp\"]", &r);
    assert_jstr(c, "status", "ERROR");
    assert_jstr(c, "errorCode", "notSupported");
    resp_clear(&r);
    assert_int_equal(fx_count_events(x->s, "link.stream"), 3);

    /* foreign (in scope but bob's) and not consented: deviceNotFound, no URL */
    c = execute1(x, x->h4, NULL, &r);
    assert_jstr(c, "errorCode", "deviceNotFound");
    assert_null(jget(c, "states"));
    resp_clear(&r);
    go_online(x, 2, &x->c3);
    c = execute1(x, x->h3, NULL, &r);
    assert_jstr(c, "errorCode", "deviceNotFound");
    resp_clear(&r);
    /* another command */
    char *b = execute_body(x->h1, "action.devices.commands.OnOff", NULL);
    post(x, "/fulfill/google", x->access, b, &r);
    free(b);
    assert_jstr(r.json, "payload.commands.0.errorCode", "functionNotSupported");
    resp_clear(&r);
    assert_int_equal(fx_count_events(x->s, "link.stream"), 3);
    cv_audit_rec *ev = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_audit_list(x->s, 0, &x->c1, 1000, &ev, &n), 0);
    bool seen = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ev[i].event, "link.stream") == 0) {
            seen = true;
            assert_string_equal(ev[i].principal, "integration:google");
            assert_non_null(strstr(ev[i].detail, "google"));
            assert_non_null(strstr(ev[i].detail, "protocol="));
        }
    }
    free(ev);
    assert_true(seen);
}

static void test_google_auth_and_protocol_errors(void **state)
{
    fx *x = *state;
    resp r;
    /* no token, unknown token */
    post(x, "/fulfill/google", NULL, SYNC, &r);
    assert_int_equal(r.status, 401);
    assert_jstr(r.json, "requestId", "req-sync");
    assert_jstr(r.json, "payload.errorCode", "authFailure");
    assert_non_null(jstr(r.json, "payload.debugString"));
    resp_clear(&r);
    post(x, "/fulfill/google", "cva_not-a-real-token", SYNC, &r);
    assert_int_equal(r.status, 401);
    assert_jstr(r.json, "payload.errorCode", "authFailure");
    resp_clear(&r);
    /* malformed and unknown intents with a good token */
    post(x, "/fulfill/google", x->access, "{\"requestId\":", &r);
    assert_int_equal(r.status, 400);
    assert_jstr(r.json, "payload.errorCode", "protocolError");
    assert_null(jget(r.json, "requestId"));
    resp_clear(&r);
    post(x, "/fulfill/google", x->access,
         "{\"requestId\":\"rq\",\"inputs\":[{\"intent\":\"action.devices.IDENTIFY\"}]}", &r);
    assert_int_equal(r.status, 400);
    assert_jstr(r.json, "requestId", "rq");
    assert_jstr(r.json, "payload.errorCode", "protocolError");
    assert_null(strstr(r.body, "IDENTIFY")); /* input never echoed in the message */
    resp_clear(&r);
    /* method, type, path */
    request(x, "GET", "/fulfill/google", NULL, x->access, NULL, &r);
    assert_int_equal(r.status, 405);
    resp_clear(&r);
    request(x, "POST", "/fulfill/google", "text/plain", x->access, SYNC, &r);
    assert_int_equal(r.status, 415);
    resp_clear(&r);
    request(x, "POST", "/fulfill/google", "application/json; charset=utf-8", x->access, SYNC, &r);
    assert_int_equal(r.status, 200);
    resp_clear(&r);
    post(x, "/fulfill/nest", x->access, SYNC, &r);
    assert_int_equal(r.status, 404);
    resp_clear(&r);
    post(x, "/fulfillment", x->access, SYNC, &r);
    assert_int_equal(r.status, 418); /* not ours */
    resp_clear(&r);
    /* revoked token */
    assert_int_equal(cv_store_oauth_revoke(x->s, x->hkey, x->access, NULL, cv_wall_us()), 0);
    post(x, "/fulfill/google", x->access, SYNC, &r);
    assert_int_equal(r.status, 401);
    assert_jstr(r.json, "payload.errorCode", "authFailure");
    resp_clear(&r);
}

static void test_google_kill_switch(void **state)
{
    fx *x = *state;
    go_online(x, 0, &x->c1);
    go_online(x, 1, &x->c2);
    resp r;
    assert_int_equal(cv_store_integration_set_disabled(x->s, &x->integ, true, NULL, cv_wall_us(), &CLI), 0);
    post(x, "/fulfill/google", x->access, SYNC, &r);
    assert_int_equal(r.status, 200);
    assert_jstr(r.json, "requestId", "req-sync");
    assert_jstr(r.json, "payload.errorCode", "streamUnavailable");
    assert_jstr(r.json, "payload.status", "ERROR");
    assert_jstr(r.json, "payload.debugString", "integration disabled by the operator");
    assert_null(jget(r.json, "payload.devices"));
    resp_clear(&r);
    char *b = execute_body(x->h1, GCS, NULL);
    post(x, "/fulfill/google", x->access, b, &r);
    free(b);
    assert_jstr(r.json, "payload.errorCode", "streamUnavailable");
    assert_null(strstr(r.body, "token="));
    resp_clear(&r);

    /* per model: X100 off, Y200 still streams */
    assert_int_equal(cv_store_integration_set_disabled(x->s, &x->integ, false, NULL, cv_wall_us(), &CLI), 0);
    assert_int_equal(cv_store_integration_set_disabled(x->s, &x->integ, true, "X100", cv_wall_us(), &CLI), 0);
    json_t *c = execute1(x, x->h1, NULL, &r);
    assert_jstr(c, "status", "ERROR");
    assert_jstr(c, "errorCode", "streamUnavailable");
    resp_clear(&r);
    c = execute1(x, x->h2, NULL, &r);
    assert_jstr(c, "status", "SUCCESS");
    check_stream_url(x, jstr(c, "states.cameraStreamAccessUrl"), x->h2, "index.m3u8", &x->c2, NULL);
    resp_clear(&r);
    post(x, "/fulfill/google", x->access, SYNC, &r); /* still listed */
    assert_int_equal(json_array_size(jget(r.json, "payload.devices")), 2);
    resp_clear(&r);
}

static void test_google_disconnect(void **state)
{
    fx *x = *state;
    resp r;
    post(x, "/fulfill/google", x->access, DISCONNECT, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{}");
    resp_clear(&r);
    assert_int_equal(x->changes, 1);
    cv_oauth_link_rec l;
    int64_t revoked = 0;
    assert_int_equal(cv_store_oauth_link_get(x->s, &x->link, &l, &revoked), 0);
    assert_true(revoked > 0);
    assert_true(fx_count_events(x->s, "link.revoke") >= 1);
    post(x, "/fulfill/google", x->access, SYNC, &r);
    assert_int_equal(r.status, 401);
    resp_clear(&r);
}

static void test_google_disconnect_while_disabled(void **state)
{
    fx *x = *state;
    resp r;
    assert_int_equal(cv_store_integration_set_disabled(x->s, &x->integ, true, NULL, cv_wall_us(), &CLI), 0);
    post(x, "/fulfill/google", x->access, DISCONNECT, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{}");
    resp_clear(&r);
    assert_int_equal(x->changes, 1);
    cv_oauth_link_rec l;
    int64_t revoked = 0;
    assert_int_equal(cv_store_oauth_link_get(x->s, &x->link, &l, &revoked), 0);
    assert_true(revoked > 0); /* the link itself, not only this token */
    /* once the operator switches it back on, the token is dead */
    assert_int_equal(cv_store_integration_set_disabled(x->s, &x->integ, false, NULL, cv_wall_us(), &CLI), 0);
    post(x, "/fulfill/google", x->access, SYNC, &r);
    assert_int_equal(r.status, 401);
    resp_clear(&r);
}

/* -------------------------------------------------------------- Alexa */

static char *alexa_body(const char *ns, const char *name, const char *endpoint, const char *token,
                        const char *streams)
{
    char *b = malloc(4096);
    assert_non_null(b);
    char scope[700] = "";
    if (token)
        snprintf(scope, sizeof(scope), "\"scope\":{\"type\":\"BearerToken\",\"token\":\"%s\"}", token);
    char ep[900] = "";
    if (endpoint)
        snprintf(ep, sizeof(ep), ",\"endpoint\":{\"endpointId\":\"%s\"%s%s}", endpoint, token ? "," : "", scope);
    snprintf(b, 4096,
             "{\"directive\":{\"header\":{\"namespace\":\"%s\",\"name\":\"%s\",\"payloadVersion\":\"3\","
             "\"messageId\":\"msg-1\",\"correlationToken\":\"corr-xyz==\"}%s,\"payload\":{%s%s%s}}}",
             ns, name, ep, endpoint ? "" : scope, streams ? "\"cameraStreams\":" : "", streams ? streams : "");
    return b;
}

#define RTSP_STREAMS                                                                                            \
    "[{\"protocol\":\"RTSP\",\"resolution\":{\"width\":1280,\"height\":720},\"authorizationType\":\"NONE\"," \
    "\"videoCodec\":\"H264\",\"audioCodec\":\"AAC\"}]"

static void init_streams(fx *x, const char *hex, const char *token, const char *streams, resp *r)
{
    char *b = alexa_body("Alexa.CameraStreamController", "InitializeCameraStreams", hex, token,
                         streams ? streams : RTSP_STREAMS);
    post(x, "/fulfill/alexa", NULL, b, r);
    free(b);
}

static void assert_alexa_error(resp *r, const char *type)
{
    assert_int_equal(r->status, 200);
    assert_jstr(r->json, "event.header.namespace", "Alexa");
    assert_jstr(r->json, "event.header.name", "ErrorResponse");
    assert_jstr(r->json, "event.header.payloadVersion", "3");
    assert_jstr(r->json, "event.payload.type", type);
    assert_non_null(jstr(r->json, "event.payload.message"));
}

static void test_alexa_discover(void **state)
{
    fx *x = *state;
    go_online(x, 0, &x->c1);
    resp r;
    char *b = alexa_body("Alexa.Discovery", "Discover", NULL, x->access, NULL);
    post(x, "/fulfill/alexa", NULL, b, &r);
    free(b);
    assert_int_equal(r.status, 200);
    assert_jstr(r.json, "event.header.namespace", "Alexa.Discovery");
    assert_jstr(r.json, "event.header.name", "Discover.Response");
    assert_jstr(r.json, "event.header.payloadVersion", "3");
    const char *mid = jstr(r.json, "event.header.messageId");
    assert_non_null(mid);
    assert_int_equal(strlen(mid), 36);
    assert_int_equal(mid[14], '4');
    json_t *eps = jget(r.json, "event.payload.endpoints");
    assert_int_equal(json_array_size(eps), 2);
    assert_jstr(eps, "0.endpointId", x->h1);
    assert_jstr(eps, "1.endpointId", x->h2);
    assert_jstr(eps, "0.friendlyName", "Front door");
    assert_jstr(eps, "0.manufacturerName", "camvault");
    assert_jstr(eps, "0.displayCategories.0", "CAMERA");
    assert_jstr(eps, "0.capabilities.0.interface", "Alexa.CameraStreamController");
    assert_jstr(eps, "0.capabilities.0.cameraStreamConfigurations.0.protocols.0", "RTSP");
    assert_jstr(eps, "0.capabilities.0.cameraStreamConfigurations.0.videoCodecs.0", "H264");
    assert_jstr(eps, "0.capabilities.0.cameraStreamConfigurations.0.authorizationTypes.0", "NONE");
    assert_jstr(eps, "0.capabilities.1.interface", "Alexa");
    /* c1 live: its SPS's size; c2 offline: 1280x720 */
    json_t *res1 = jget(eps, "0.capabilities.0.cameraStreamConfigurations.0.resolutions.0");
    json_t *res2 = jget(eps, "1.capabilities.0.cameraStreamConfigurations.0.resolutions.0");
    int w1 = (int)json_integer_value(json_object_get(res1, "width"));
    int hh1 = (int)json_integer_value(json_object_get(res1, "height"));
    assert_int_equal(w1, 1920);
    assert_int_equal(hh1, 1080);
    assert_int_equal(json_integer_value(json_object_get(res2, "width")), 1280);
    assert_int_equal(json_integer_value(json_object_get(res2, "height")), 720);
    assert_null(strstr(r.body, x->h4));
    resp_clear(&r);

    /* token from the Authorization header when the scope has none */
    b = alexa_body("Alexa.Discovery", "Discover", NULL, NULL, NULL);
    post(x, "/fulfill/alexa", x->access, b, &r);
    assert_jstr(r.json, "event.header.name", "Discover.Response");
    resp_clear(&r);
    post(x, "/fulfill/alexa", NULL, b, &r);
    assert_alexa_error(&r, "INVALID_AUTHORIZATION_CREDENTIAL");
    resp_clear(&r);
    free(b);
}

static void test_alexa_init_streams(void **state)
{
    fx *x = *state;
    resp r;
    /* offline */
    init_streams(x, x->h1, x->access, NULL, &r);
    assert_alexa_error(&r, "ENDPOINT_UNREACHABLE");
    assert_jstr(r.json, "event.endpoint.endpointId", x->h1);
    assert_jstr(r.json, "event.header.correlationToken", "corr-xyz==");
    resp_clear(&r);

    go_online(x, 0, &x->c1);
    init_streams(x, x->h1, x->access, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_jstr(r.json, "event.header.namespace", "Alexa.CameraStreamController");
    assert_jstr(r.json, "event.header.name", "Response");
    assert_jstr(r.json, "event.header.correlationToken", "corr-xyz==");
    assert_jstr(r.json, "event.endpoint.endpointId", x->h1);
    json_t *cs = jget(r.json, "event.payload.cameraStreams.0");
    assert_non_null(cs);
    const char *uri = jstr(cs, "uri");
    char prefix[128];
    snprintf(prefix, sizeof(prefix), RTSPS_BASE "/cam/%s?token=", x->h1);
    assert_non_null(uri);
    assert_int_equal(strncmp(uri, "rtsps://", 8), 0);
    assert_int_equal(strncmp(uri, prefix, strlen(prefix)), 0);
    cv_token t, t2;
    const char *tok = uri + strlen(prefix);
    assert_int_equal(cv_token_decode(x->key, tok, strlen(tok), &t), 0);
    assert_int_equal(t.kind, CV_PRINCIPAL_INTEGRATION);
    assert_true(cv_id_eq(&t.principal, &x->link));
    assert_true(cv_id_eq(&t.camera, &x->c1));
    const char *exp = jstr(cs, "expirationTime");
    assert_non_null(exp);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(exp, "%Y-%m-%dT%H:%M:%S", &tm);
    assert_non_null(end);
    assert_string_equal(end, ".00Z");
    int64_t when = (int64_t)timegm(&tm) * SEC;
    assert_true(when <= t.expires_us && when > t.expires_us - 2 * SEC);
    assert_true(llabs(when - (cv_wall_us() + TTL)) < 10 * SEC);
    assert_int_equal(json_integer_value(json_object_get(cs, "idleTimeoutSeconds")), 30);
    assert_jstr(cs, "protocol", "RTSP");
    assert_jstr(cs, "authorizationType", "NONE");
    assert_jstr(cs, "videoCodec", "H264");
    assert_jstr(cs, "audioCodec", "NONE"); /* no audio track */
    assert_int_equal(json_integer_value(jget(cs, "resolution.width")), 1920);
    assert_int_equal(json_integer_value(jget(cs, "resolution.height")), 1080);
    const char *img = jstr(r.json, "event.payload.imageUri");
    snprintf(prefix, sizeof(prefix), HTTP_BASE "/cam/%s/snapshot.jpg?token=", x->h1);
    assert_non_null(img);
    assert_int_equal(strncmp(img, prefix, strlen(prefix)), 0);
    tok = img + strlen(prefix);
    assert_int_equal(cv_token_decode(x->key, tok, strlen(tok), &t2), 0);
    assert_false(cv_id_eq(&t.id, &t2.id));
    assert_true(cv_id_eq(&t2.camera, &x->c1));
    resp_clear(&r);
    assert_int_equal(fx_count_events(x->s, "link.stream"), 1);

    /* foreign, made up and unconsented: the same NO_SUCH_ENDPOINT */
    go_online(x, 3, &x->c4);
    char made_up[33];
    cv_id rnd;
    cv_id_random(&rnd);
    cv_id_to_hex(&rnd, made_up);
    json_t *p1, *p2;
    init_streams(x, x->h4, x->access, NULL, &r);
    assert_alexa_error(&r, "NO_SUCH_ENDPOINT");
    p1 = json_incref(jget(r.json, "event.payload"));
    resp_clear(&r);
    init_streams(x, made_up, x->access, NULL, &r);
    assert_alexa_error(&r, "NO_SUCH_ENDPOINT");
    p2 = json_incref(jget(r.json, "event.payload"));
    resp_clear(&r);
    assert_true(json_equal(p1, p2));
    json_decref(p1);
    json_decref(p2);
    init_streams(x, x->h3, x->access, NULL, &r);
    assert_alexa_error(&r, "NO_SUCH_ENDPOINT");
    resp_clear(&r);

    /* no RTSP requested */
    init_streams(x, x->h1, x->access, "[{\"protocol\":\"HLS\"}]", &r);
    assert_alexa_error(&r, "INVALID_VALUE");
    resp_clear(&r);
    /* bad token */
    init_streams(x, x->h1, "cva_forged", NULL, &r);
    assert_alexa_error(&r, "INVALID_AUTHORIZATION_CREDENTIAL");
    resp_clear(&r);
    /* unknown directive, and bytes that are not JSON */
    char *b = alexa_body("Alexa.PowerController", "TurnOn", x->h1, x->access, NULL);
    post(x, "/fulfill/alexa", NULL, b, &r);
    free(b);
    assert_alexa_error(&r, "INVALID_DIRECTIVE");
    assert_jstr(r.json, "event.header.correlationToken", "corr-xyz==");
    resp_clear(&r);
    post(x, "/fulfill/alexa", NULL, "{\"directive\":", &r);
    assert_int_equal(r.status, 400);
    assert_jstr(r.json, "event.payload.type", "INVALID_DIRECTIVE");
    resp_clear(&r);
    assert_int_equal(fx_count_events(x->s, "link.stream"), 1);

    /* model kill switch, then the whole integration */
    assert_int_equal(cv_store_integration_set_disabled(x->s, &x->integ, true, "X100", cv_wall_us(), &CLI), 0);
    init_streams(x, x->h1, x->access, NULL, &r);
    assert_alexa_error(&r, "ENDPOINT_UNREACHABLE");
    resp_clear(&r);
    assert_int_equal(cv_store_integration_set_disabled(x->s, &x->integ, true, NULL, cv_wall_us(), &CLI), 0);
    b = alexa_body("Alexa.Discovery", "Discover", NULL, x->access, NULL);
    post(x, "/fulfill/alexa", NULL, b, &r);
    free(b);
    assert_alexa_error(&r, "ENDPOINT_UNREACHABLE");
    assert_jstr(r.json, "event.payload.message", "stream unavailable: integration disabled by the operator");
    resp_clear(&r);

    /* revoked link */
    assert_int_equal(cv_store_integration_set_disabled(x->s, &x->integ, false, NULL, cv_wall_us(), &CLI), 0);
    assert_int_equal(cv_store_oauth_link_revoke(x->s, &x->link, cv_wall_us(), &CLI), 0);
    init_streams(x, x->h1, x->access, NULL, &r);
    assert_alexa_error(&r, "INVALID_AUTHORIZATION_CREDENTIAL");
    resp_clear(&r);
}

static void test_alexa_no_rtsps(void **state)
{
    fx *x = *state;
    cv_fulfill_free(x->ful);
    x->ful = make_fulfill(x, "");
    assert_non_null(x->ful);
    go_online(x, 0, &x->c1);
    resp r;
    init_streams(x, x->h1, x->access, NULL, &r);
    assert_alexa_error(&r, "NOT_SUPPORTED_IN_CURRENT_MODE");
    resp_clear(&r);
    /* AcceptGrant acknowledges a valid grantee token */
    post(x, "/fulfill/alexa", NULL,
         "{\"directive\":{\"header\":{\"namespace\":\"Alexa.Authorization\",\"name\":\"AcceptGrant\","
         "\"messageId\":\"m\",\"payloadVersion\":\"3\"},\"payload\":{\"grant\":{\"type\":"
         "\"OAuth2.AuthorizationCode\",\"code\":\"abc\"},\"grantee\":{\"type\":\"BearerToken\",\"token\":\"nope\"}}}}",
         &r);
    assert_jstr(r.json, "event.header.namespace", "Alexa.Authorization");
    assert_jstr(r.json, "event.payload.type", "ACCEPT_GRANT_FAILED");
    resp_clear(&r);
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"directive\":{\"header\":{\"namespace\":\"Alexa.Authorization\",\"name\":\"AcceptGrant\","
             "\"messageId\":\"m\",\"payloadVersion\":\"3\"},\"payload\":{\"grant\":{\"type\":"
             "\"OAuth2.AuthorizationCode\",\"code\":\"abc\"},\"grantee\":{\"type\":\"BearerToken\",\"token\":\"%s\"}}}}",
             x->access);
    post(x, "/fulfill/alexa", NULL, body, &r);
    assert_jstr(r.json, "event.header.name", "AcceptGrant.Response");
    resp_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_google_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_google_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_google_execute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_google_auth_and_protocol_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_google_kill_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_google_disconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_google_disconnect_while_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alexa_discover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alexa_init_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alexa_no_rtsps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
