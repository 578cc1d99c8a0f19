/* POST /fulfill/alexa: Alexa smart home directives for cameras
 * (Alexa.Discovery, Alexa.CameraStreamController over RTSPS, and
 * Alexa.Authorization AcceptGrant). Every answer but one for bytes that are
 * not JSON is HTTP 200: Alexa reads the outcome from the event. */
#define CV_LOG_MODULE "fulfill"
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "fulfill/fulfill_int.h"
#include "store/people.h"

#define DEFAULT_W 1280
#define DEFAULT_H 720
#define IDLE_TIMEOUT_S 30

#define MSG_KILLED "stream unavailable: integration disabled by the operator"
#define MSG_MODEL_KILLED "stream unavailable: camera model disabled by the operator"

/* {"namespace", "name", "payloadVersion": "3", "messageId", "correlationToken"?} */
static json_t *header(const cv_alexa_req *a, const char *ns, const char *name)
{
    char mid[37];
    cv__fulfill_uuid(mid);
    json_t *h = json_pack("{s:s, s:s, s:s, s:s}", "namespace", ns, "name", name, "payloadVersion", "3", "messageId",
                          mid);
    if (h && a && a->has_correlation)
        json_object_set_new(h, "correlationToken", json_string(a->correlation_token));
    return h;
}

static void send_event(cv_http_req *req, int status, json_t *hdr, json_t *endpoint, json_t *payload)
{
    json_t *ev = json_object();
    if (!ev || !hdr || !payload) {
        json_decref(ev);
        json_decref(hdr);
        json_decref(endpoint);
        json_decref(payload);
        cv__fulfill_json(req, 500, NULL);
        return;
    }
    json_object_set_new(ev, "header", hdr);
    if (endpoint)
        json_object_set_new(ev, "endpoint", endpoint);
    json_object_set_new(ev, "payload", payload);
    cv__fulfill_json(req, status, json_pack("{s:o}", "event", ev));
}

static void error_ns(cv_http_req *req, int status, const cv_alexa_req *a, const char *ns, const char *type,
                     const char *msg, json_t *extra)
{
    json_t *endpoint = a && a->has_endpoint ? json_pack("{s:s}", "endpointId", a->endpoint_id) : NULL;
    json_t *p = json_pack("{s:s, s:s}", "type", type, "message", msg);
    if (p && extra)
        json_object_update(p, extra);
    json_decref(extra);
    send_event(req, status, header(a, ns, "ErrorResponse"), endpoint, p);
}

static void error(cv_http_req *req, int status, const cv_alexa_req *a, const char *type, const char *msg)
{
    error_ns(req, status, a, "Alexa", type, msg, NULL);
}

static const char *video_name(cv_codec c) { return c == CV_CODEC_H265 ? "H265" : "H264"; }

static const char *audio_name(cv_codec c)
{
    switch (c) {
    case CV_CODEC_AAC:
        return "AAC";
    case CV_CODEC_PCMU:
    case CV_CODEC_PCMA:
        return "G711";
    default:
        return "NONE";
    }
}

static void discover(cv__fulfill_ctx *c, const cv_alexa_req *a)
{
    cv_camera_rec *cams = NULL;
    size_t n = 0;
    if (cv__fulfill_devices(c, &cams, &n) < 0) {
        error(c->req, 200, a, "INTERNAL_ERROR", "internal error, try again");
        return;
    }
    json_t *eps = json_array();
    for (size_t i = 0; eps && i < n; i++) {
        char hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&cams[i].id, hex);
        cv__fulfill_live live;
        cv__fulfill_live_info(c->f, &cams[i].id, &live);
        int w = live.width > 0 ? live.width : DEFAULT_W, h = live.height > 0 ? live.height : DEFAULT_H;
        const char *audio = live.online && live.audio != CV_CODEC_UNKNOWN ? audio_name(live.audio) : "AAC";
        json_t *e = json_pack(
            "{s:s, s:s, s:s, s:s, s:[s], s:[{s:s, s:s, s:s, s:[{s:[s], s:[{s:i, s:i}], s:[s], s:[s], s:[s]}]},"
            " {s:s, s:s, s:s}]}",
            "endpointId", hex, "manufacturerName", "camvault", "friendlyName", cams[i].name, "description",
            "camvault camera", "displayCategories", "CAMERA", "capabilities", "type", "AlexaInterface", "interface",
            "Alexa.CameraStreamController", "version", "3", "cameraStreamConfigurations", "protocols", "RTSP",
            "resolutions", "width", w, "height", h, "authorizationTypes", "NONE", "videoCodecs",
            video_name(live.video), "audioCodecs", audio, "type", "AlexaInterface", "interface", "Alexa", "version",
            "3");
        if (!e || json_array_append_new(eps, e) != 0) {
            json_decref(eps);
            eps = NULL;
        }
    }
    free(cams);
    if (!eps) {
        error(c->req, 200, a, "INTERNAL_ERROR", "internal error, try again");
        return;
    }
    send_event(c->req, 200, header(NULL, "Alexa.Discovery", "Discover.Response"), NULL,
               json_pack("{s:o}", "endpoints", eps));
}

static bool model_blocked(cv__fulfill_ctx *c, const char *model)
{
    if (!model || !model[0])
        return false;
    cv_oauth_grant g;
    return cv_store_oauth_access_get(c->f->store, c->f->hkey, c->token, model, c->now_us, &g) == -EACCES;
}

static char *join(const char *a, const char *b, const char *c, const char *d, const char *e)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + strlen(d) + strlen(e) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s%s%s", a, b, c, d, e);
    return s;
}

static void init_streams(cv__fulfill_ctx *c, const cv_alexa_req *a)
{
    cv_camera_rec *cam = NULL;
    int rc = cv__fulfill_device(c, a->endpoint_id, &cam);
    if (rc == -ENOENT) {
        error(c->req, 200, a, "NO_SUCH_ENDPOINT", "no such endpoint");
        return;
    }
    if (rc < 0) {
        error(c->req, 200, a, "INTERNAL_ERROR", "internal error, try again");
        return;
    }
    const cv_alexa_stream *want = NULL;
    for (size_t i = 0; i < a->nstreams && !want; i++)
        if (strcmp(a->streams[i].protocol, "RTSP") == 0)
            want = &a->streams[i];
    cv__fulfill_live live;
    char tok[CV_TOKEN_MAX], tok2[CV_TOKEN_MAX], hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&cam->id, hex);
    if (model_blocked(c, cam->model)) {
        error(c->req, 200, a, "ENDPOINT_UNREACHABLE", MSG_MODEL_KILLED);
    } else if (!c->f->rtsps_base) {
        error_ns(c->req, 200, a, "Alexa", "NOT_SUPPORTED_IN_CURRENT_MODE", "this server offers no RTSPS streams",
                 json_pack("{s:s}", "currentDeviceMode", "OTHER"));
    } else if (!want) {
        error(c->req, 200, a, "INVALID_VALUE", "only RTSP streams are offered");
    } else if (cv__fulfill_live_info(c->f, &cam->id, &live), !live.online) {
        error(c->req, 200, a, "ENDPOINT_UNREACHABLE", "camera offline");
    } else if (cv__fulfill_mint(c, &cam->id, CV_SCOPE_LIVE | CV_SCOPE_SNAPSHOT, tok) < 0 ||
               cv__fulfill_mint(c, &cam->id, CV_SCOPE_SNAPSHOT, tok2) < 0) {
        error(c->req, 200, a, "INTERNAL_ERROR", "internal error, try again");
    } else {
        int w = live.width > 0 ? live.width : want->width > 0 ? want->width : DEFAULT_W;
        int h = live.height > 0 ? live.height : want->height > 0 ? want->height : DEFAULT_H;
        const char *vc = live.video != CV_CODEC_UNKNOWN ? video_name(live.video)
                         : want->video_codec[0]        ? want->video_codec
                                                       : "H264";
        time_t exp = (time_t)((c->now_us + c->f->ttl_us) / 1000000);
        struct tm tm;
        char when[40] = "";
        if (gmtime_r(&exp, &tm))
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.00Z", &tm);
        char *uri = join(c->f->rtsps_base, "/cam/", hex, "?token=", tok);
        char *img = join(c->f->http_base, "/cam/", hex, "/snapshot.jpg?token=", tok2);
        json_t *p = uri && img ? json_pack("{s:[{s:s, s:s, s:i, s:s, s:{s:i, s:i}, s:s, s:s, s:s}], s:s}",
                                           "cameraStreams", "uri", uri, "expirationTime", when,
                                           "idleTimeoutSeconds", IDLE_TIMEOUT_S, "protocol", "RTSP", "resolution",
                                           "width", w, "height", h, "authorizationType", "NONE", "videoCodec", vc,
                                           "audioCodec", audio_name(live.audio), "imageUri", img)
                               : NULL;
        free(uri);
        free(img);
        if (p)
            cv__fulfill_audit_stream(c, &cam->id, "rtsps");
        send_event(c->req, 200, header(a, "Alexa.CameraStreamController", "Response"),
                   json_pack("{s:s}", "endpointId", a->endpoint_id), p);
    }
    sodium_memzero(tok, sizeof(tok));
    sodium_memzero(tok2, sizeof(tok2));
    free(cam);
}

void cv__fulfill_alexa(cv_fulfill *f, cv_http_req *req)
{
    cv__fulfill_ctx c;
    memset(&c, 0, sizeof(c));
    c.f = f;
    c.req = req;
    c.now_us = cv_wall_us();
    char bearer[CV_INTENT_TOKEN_MAX + 1] = "";
    cv_alexa_req *a = malloc(sizeof(*a));
    if (!a) {
        error(req, 500, NULL, "INTERNAL_ERROR", "out of memory");
        return;
    }
    cv_str body = cv_http_req_body(req);
    const char *perr = NULL;
    int prc = cv_alexa_parse(body.p, body.len, a, &perr);
    if (prc < 0) {
        /* Not JSON at all: 400. JSON of the wrong shape or an unsupported
         * directive: an event, echoing what was readable. */
        error(req, prc == -EBADMSG ? 400 : 200, a, "INVALID_DIRECTIVE", perr);
        goto out;
    }
    const char *err_ns = a->kind == CV_ALEXA_ACCEPT_GRANT ? "Alexa.Authorization" : "Alexa";
    if (a->token[0])
        c.token = a->token;
    else if (cv__fulfill_bearer(req, bearer, sizeof(bearer)))
        c.token = bearer;
    int arc = cv__fulfill_auth(&c, NULL);
    if (arc == -ENOENT) {
        CV_INFO("alexa directive from %s: token missing, invalid, expired or revoked", cv_http_req_peer(req));
        if (a->kind == CV_ALEXA_ACCEPT_GRANT)
            error_ns(req, 200, a, err_ns, "ACCEPT_GRANT_FAILED", "access token invalid, expired or revoked", NULL);
        else
            error(req, 200, a, "INVALID_AUTHORIZATION_CREDENTIAL", "access token invalid, expired or revoked");
        goto out;
    }
    if (arc == -EACCES) {
        if (a->kind == CV_ALEXA_ACCEPT_GRANT)
            error_ns(req, 200, a, err_ns, "ACCEPT_GRANT_FAILED", "integration disabled by the operator", NULL);
        else
            error(req, 200, a, "ENDPOINT_UNREACHABLE", MSG_KILLED);
        goto out;
    }
    if (arc < 0) {
        error_ns(req, 200, a, err_ns, a->kind == CV_ALEXA_ACCEPT_GRANT ? "ACCEPT_GRANT_FAILED" : "INTERNAL_ERROR",
                 "internal error, try again", NULL);
        goto out;
    }
    switch (a->kind) {
    case CV_ALEXA_DISCOVER:
        discover(&c, a);
        break;
    case CV_ALEXA_INIT_STREAMS:
        init_streams(&c, a);
        break;
    case CV_ALEXA_ACCEPT_GRANT:
        /* No proactive events are sent, so the grant code is not needed:
         * acknowledging it completes the Alexa side of account linking. */
        send_event(req, 200, header(a, "Alexa.Authorization", "AcceptGrant.Response"), NULL, json_object());
        break;
    case CV_ALEXA_UNKNOWN:
        error(req, 200, a, "INVALID_DIRECTIVE", "unsupported directive");
        break;
    }
out:
    sodium_memzero(bearer, sizeof(bearer));
    sodium_memzero(a, sizeof(*a));
    free(a);
}
