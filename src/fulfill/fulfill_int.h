/* Shared between fulfill.c (the module: dispatch, tokens, devices, stream
 * URLs) and the partner dialects google.c and alexa.c. Not a public API. */
#ifndef CV_FULFILL_FULFILL_INT_H
#define CV_FULFILL_FULFILL_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/token.h"
#include "base/id.h"
#include "fulfill/fulfill.h"
#include "fulfill/intent.h"
#include "media/codec.h"
#include "store/oauth.h"

struct cv_fulfill {
    cv_store *store;
    const cv_key *key;
    cv_registry *reg;
    char *http_base;
    char *rtsps_base; /* NULL: no RTSPS */
    int64_t ttl_us;
    void (*on_change)(void *ctx);
    void *on_change_ctx;
    uint8_t hkey[CV_OAUTH_HKEY_BYTES];
};

/* One authenticated partner request. */
typedef struct {
    cv_fulfill *f;
    cv_http_req *req;
    const char *token; /* the access token presented (NUL-terminated) */
    cv_oauth_grant grant;
    int64_t now_us;    /* wall clock */
    char integ_name[CV_OAUTH_NAME_MAX + 1]; /* "" until cv__fulfill_integ_name */
} cv__fulfill_ctx;

/* What the hub knows of a camera's live stream. */
typedef struct {
    bool online;
    cv_codec video;   /* CV_CODEC_UNKNOWN when no video track */
    cv_codec audio;   /* CV_CODEC_UNKNOWN when no audio track */
    int width, height; /* 0 when unknown (no SPS yet, or unparsable) */
} cv__fulfill_live;

/* access_get for the token with camera_model (NULL: the integration as a
 * whole). 0 with c->grant filled, -EACCES (kill switch), -ENOENT, -EIO. */
int cv__fulfill_auth(cv__fulfill_ctx *c, const char *camera_model);
/* The token from "Authorization: Bearer" copied into out (cap bytes), or
 * false. */
bool cv__fulfill_bearer(cv_http_req *req, char *out, size_t cap);
/* The integration's name for audit lines (cached in c); "?" if unknown. */
const char *cv__fulfill_integ_name(cv__fulfill_ctx *c);
/* A partner-facing device id (32 hex) of a camera the grant covers and the
 * user may still see live: 0 with *cam filled (malloc'ed, free it),
 * -ENOENT for anything else (malformed, unknown, foreign, out of scope,
 * no longer visible; one answer for all), -EIO / -ENOMEM. */
int cv__fulfill_device(cv__fulfill_ctx *c, const char *device_id, cv_camera_rec **cam);
/* Every camera of the grant's scope the user may still see, scope order.
 * *out malloc'ed (NULL when *n is 0). Returns 0 or -EIO / -ENOMEM. */
int cv__fulfill_devices(cv__fulfill_ctx *c, cv_camera_rec **out, size_t *n);
/* Opaque stable user id for the partner: 32 hex of a keyed hash of
 * (integration, user). */
void cv__fulfill_agent_id(const cv_fulfill *f, const cv_oauth_grant *g, char out[CV_ID_HEX_LEN + 1]);
void cv__fulfill_live_info(const cv_fulfill *f, const cv_id *camera, cv__fulfill_live *out);
/* Mints a fresh capability token for camera (kind INTEGRATION, principal
 * the link, expiring at c->now_us + ttl) into out (CV_TOKEN_MAX). Returns
 * 0 or a negative errno. */
int cv__fulfill_mint(cv__fulfill_ctx *c, const cv_id *camera, uint8_t scopes, char *out);
/* Audits one minted stream: "link.stream", principal "integration:<name>",
 * detail "integration=<name> protocol=<proto> link=<hex>". */
void cv__fulfill_audit_stream(cv__fulfill_ctx *c, const cv_id *camera, const char *proto);
/* Revokes the grant's link (DISCONNECT), audited by "integration:<name>",
 * then calls on_change. Returns 0 or a negative errno. */
int cv__fulfill_unlink(cv__fulfill_ctx *c);
/* Sends o (stolen) as application/json with status. */
void cv__fulfill_json(cv_http_req *req, int status, json_t *o);
/* A random UUID v4 in out (37 bytes). */
void cv__fulfill_uuid(char out[37]);

/* The dialects; the method, Content-Type and size checks are done. */
void cv__fulfill_google(cv_fulfill *f, cv_http_req *req);
void cv__fulfill_alexa(cv_fulfill *f, cv_http_req *req);

#endif
