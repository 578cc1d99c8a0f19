/* POST /fulfill/google: Google smart home cloud-to-cloud intents for
 * cameras (trait CameraStream). Errors follow the smart home protocol:
 * authFailure with HTTP 401 (so that Google refreshes the token),
 * protocolError with 400, per-device errors inside a 200 answer. */
#define CV_LOG_MODULE "fulfill"
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "fulfill/fulfill_int.h"
#include "store/people.h"

/* Our preference order among the protocols we serve. */
static const struct {
    uint32_t bit;
    const char *name;
    const char *file;
} served[] = {
    {CV_GPROTO_HLS, "hls", "index.m3u8"},
    {CV_GPROTO_PROGRESSIVE_MP4, "progressive_mp4", "live.mp4"},
};

static json_t *with_request_id(const cv_google_req *g)
{
    json_t *o = json_object();
    if (o && g->request_id[0])
        json_object_set_new(o, "requestId", json_string(g->request_id));
    return o;
}

/* {"requestId"?, "payload": {"errorCode", "debugString", "status"?}} */
static void global_error(cv_http_req *req, int status, const cv_google_req *g, const char *code, const char *debug,
                         bool with_status)
{
    json_t *o = with_request_id(g);
    json_t *p = json_pack("{s:s}", "errorCode", code);
    if (p && with_status)
        json_object_set_new(p, "status", json_string("ERROR"));
    if (p)
        json_object_set_new(p, "debugString", json_string(debug));
    if (o && p)
        json_object_set_new(o, "payload", p);
    else
        json_decref(p);
    cv__fulfill_json(req, status, o);
}

static json_t *sync_payload(cv__fulfill_ctx *c)
{
    cv_camera_rec *cams = NULL;
    size_t n = 0;
    if (cv__fulfill_devices(c, &cams, &n) < 0)
        return NULL;
    char agent[CV_ID_HEX_LEN + 1];
    cv__fulfill_agent_id(c->f, &c->grant, agent);
    json_t *devs = json_array();
    for (size_t i = 0; devs && i < n; i++) {
        char hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&cams[i].id, hex);
        json_t *d = json_pack(
            "{s:s, s:s, s:[s], s:{s:s}, s:b, s:{s:[s,s], s:b}, s:{s:s, s:s}}", "id", hex, "type",
            "action.devices.types.CAMERA", "traits", "action.devices.traits.CameraStream", "name", "name",
            cams[i].name, "willReportState", 0, "attributes", "cameraStreamSupportedProtocols", "hls",
            "progressive_mp4", "cameraStreamNeedAuthToken", 0, "deviceInfo", "manufacturer", "camvault", "model",
            cams[i].model[0] ? cams[i].model : "camera");
        if (!d || json_array_append_new(devs, d) != 0) {
            json_decref(devs);
            devs = NULL;
        }
    }
    free(cams);
    if (!devs)
        return NULL;
    return json_pack("{s:s, s:o}", "agentUserId", agent, "devices", devs);
}

static json_t *query_payload(cv__fulfill_ctx *c, const cv_google_req *g)
{
    json_t *devs = json_object();
    for (size_t i = 0; devs && i < g->ndevices; i++) {
        cv_camera_rec *cam = NULL;
        int rc = cv__fulfill_device(c, g->devices[i], &cam);
        json_t *d;
        if (rc == 0) {
            cv__fulfill_live live;
            cv__fulfill_live_info(c->f, &cam->id, &live);
            d = json_pack("{s:b, s:s}", "online", live.online, "status", "SUCCESS");
        } else if (rc == -ENOENT) {
            d = json_pack("{s:s, s:s}", "status", "ERROR", "errorCode", "deviceNotFound");
        } else {
            d = json_pack("{s:s, s:s}", "status", "ERROR", "errorCode", "transientError");
        }
        free(cam);
        if (!d || json_object_set_new(devs, g->devices[i], d) != 0) {
            json_decref(devs);
            return NULL;
        }
    }
    return devs ? json_pack("{s:o}", "devices", devs) : NULL;
}

/* Is the camera's model switched off for this integration? */
static bool model_blocked(cv__fulfill_ctx *c, const char *model)
{
    if (!model || !model[0])
        return false;
    cv_oauth_grant g;
    return cv_store_oauth_access_get(c->f->store, c->f->hkey, c->token, model, c->now_us, &g) == -EACCES;
}

static json_t *result_error(const char *id, const char *code)
{
    return json_pack("{s:[s], s:s, s:s}", "ids", id, "status", "ERROR", "errorCode", code);
}

/* One GetCameraStream for one device. */
static json_t *stream_result(cv__fulfill_ctx *c, const cv_google_exec *x, const char *id)
{
    cv_camera_rec *cam = NULL;
    int rc = cv__fulfill_device(c, id, &cam);
    if (rc < 0)
        return result_error(id, rc == -ENOENT ? "deviceNotFound" : "transientError");
    json_t *res = NULL;
    size_t p = 0;
    uint32_t want = x->has_protocols ? x->protocols : CV_GPROTO_HLS;
    while (p < CV_ARRAY_LEN(served) && !(want & served[p].bit))
        p++;
    cv__fulfill_live live;
    char tok[CV_TOKEN_MAX], hex[CV_ID_HEX_LEN + 1];
    if (model_blocked(c, cam->model)) {
        res = result_error(id, "streamUnavailable");
    } else if (p == CV_ARRAY_LEN(served)) {
        res = result_error(id, "notSupported");
    } else if (cv__fulfill_live_info(c->f, &cam->id, &live), !live.online) {
        res = result_error(id, "deviceOffline");
    } else if (cv__fulfill_mint(c, &cam->id, CV_SCOPE_LIVE | CV_SCOPE_SNAPSHOT, tok) < 0) {
        res = result_error(id, "transientError");
    } else {
        cv_id_to_hex(&cam->id, hex);
        size_t cap = strlen(c->f->http_base) + strlen(tok) + 96;
        char *url = malloc(cap);
        if (url) {
            snprintf(url, cap, "%s/cam/%s/%s?token=%s", c->f->http_base, hex, served[p].file, tok);
            res = json_pack("{s:[s], s:s, s:{s:b, s:s, s:s}}", "ids", id, "status", "SUCCESS", "states", "online", 1,
                            "cameraStreamAccessUrl", url, "cameraStreamProtocol", served[p].name);
            free(url);
        }
        if (res)
            cv__fulfill_audit_stream(c, &cam->id, served[p].name);
    }
    free(cam);
    return res;
}

static json_t *execute_payload(cv__fulfill_ctx *c, const cv_google_req *g)
{
    json_t *cmds = json_array();
    for (size_t i = 0; cmds && i < g->ncmds; i++) {
        const cv_google_cmd *cmd = &g->cmds[i];
        for (size_t k = 0; cmds && k < cmd->nexec; k++) {
            const cv_google_exec *x = &cmd->exec[k];
            for (size_t d = 0; cmds && d < cmd->ndev; d++) {
                const char *id = g->devices[cmd->dev_first + d];
                json_t *r = x->stream ? stream_result(c, x, id) : result_error(id, "functionNotSupported");
                if (!r || json_array_append_new(cmds, r) != 0) {
                    json_decref(cmds);
                    cmds = NULL;
                }
            }
        }
    }
    return cmds ? json_pack("{s:o}", "commands", cmds) : NULL;
}

/* A user can always unlink, kill switch or not: the store fills the grant
 * for a switched-off integration too. */
static void disconnect(cv__fulfill_ctx *c)
{
    if (cv__fulfill_unlink(c) < 0) {
        static const cv_google_req none;
        global_error(c->req, 500, &none, "transientError", "could not unlink, try again", false);
        return;
    }
    cv__fulfill_json(c->req, 200, json_object());
}

void cv__fulfill_google(cv_fulfill *f, cv_http_req *req)
{
    cv__fulfill_ctx c;
    memset(&c, 0, sizeof(c));
    c.f = f;
    c.req = req;
    c.now_us = cv_wall_us();
    char token[CV_INTENT_TOKEN_MAX + 1];
    cv_google_req *g = malloc(sizeof(*g));
    if (!g) {
        static const cv_google_req none;
        global_error(req, 500, &none, "transientError", "out of memory", false);
        return;
    }
    cv_str body = cv_http_req_body(req);
    const char *perr = NULL;
    int prc = cv_google_parse(body.p, body.len, g, &perr);

    int arc = -ENOENT;
    if (cv__fulfill_bearer(req, token, sizeof(token))) {
        c.token = token;
        arc = cv__fulfill_auth(&c, NULL);
    }
    if (arc == -EIO) {
        global_error(req, 500, g, "transientError", "storage error, try again", false);
        goto out;
    }
    if (arc == -ENOENT) {
        CV_INFO("google fulfillment from %s: token missing, invalid, expired or revoked", cv_http_req_peer(req));
        global_error(req, 401, g, "authFailure", "access token missing, invalid, expired or revoked", false);
        goto out;
    }
    if (prc < 0) {
        global_error(req, 400, g, "protocolError", perr, false);
        goto out;
    }
    if (g->intent == CV_GOOGLE_DISCONNECT) {
        disconnect(&c);
        goto out;
    }
    if (arc == -EACCES) {
        global_error(req, 200, g, "streamUnavailable", "integration disabled by the operator", true);
        goto out;
    }

    json_t *payload = NULL;
    switch (g->intent) {
    case CV_GOOGLE_SYNC:
        payload = sync_payload(&c);
        break;
    case CV_GOOGLE_QUERY:
        payload = query_payload(&c, g);
        break;
    case CV_GOOGLE_EXECUTE:
        payload = execute_payload(&c, g);
        break;
    case CV_GOOGLE_DISCONNECT:
        break;
    }
    if (!payload) {
        global_error(req, 500, g, "transientError", "internal error, try again", false);
        goto out;
    }
    json_t *o = with_request_id(g);
    if (o)
        json_object_set_new(o, "payload", payload);
    else
        json_decref(payload);
    cv__fulfill_json(req, 200, o);
out:
    sodium_memzero(token, sizeof(token));
    free(g);
}
