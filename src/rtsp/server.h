/* The RTSP server: cameras publish (ANNOUNCE/SETUP/RECORD) and viewers play
 * (DESCRIBE/SETUP/PLAY) over TCP interleaved or UDP unicast, both on
 * rtsp://host:port/cam/<camera-id>; optionally a second listener speaks the
 * same RTSP inside TLS (rtsps://, interleaved TCP only). Loop thread only. */
#ifndef CV_RTSP_SERVER_H
#define CV_RTSP_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/id.h"
#include "base/sbuf.h"
#include "base/util.h"
#include "hub/registry.h"
#include "tls/tls.h"

typedef struct cv_rtsp_server cv_rtsp_server;

/* Who a connection authenticated as, decided by the authorize callback and
 * kept with the connection; the server hands it back to still_allowed and
 * to events. The RTSP layer never interprets it. */
typedef struct {
    uint8_t kind;            /* the owner's own tag (token, app password, ingest...) */
    cv_id principal;         /* user, integration or camera */
    uint8_t token_hash[32];  /* for token access */
    char who[96];            /* for logs and the audit log, e.g. "user:alice" */
} cv_rtsp_access;

/* One request that names a camera. */
typedef struct {
    const cv_id *camera;           /* zero id when the URL names none */
    bool publish;                  /* ANNOUNCE/RECORD rather than DESCRIBE/SETUP/PLAY */
    const char *method;
    cv_str uri;                    /* as sent, query included */
    const cv_str *authorization;   /* the Authorization header, or NULL */
    const char *peer;              /* client IP */
} cv_rtsp_auth_req;

typedef enum {
    CV_RTSP_EV_VIEW_START,
    CV_RTSP_EV_VIEW_STOP,
    CV_RTSP_EV_PUBLISH_START,
    CV_RTSP_EV_PUBLISH_STOP,
    CV_RTSP_EV_ISOLATION, /* a frame of another camera reached the last write */
    CV_RTSP_EV_REVOKED,   /* a live session ended because still_allowed said no */
} cv_rtsp_event_kind;

typedef struct {
    cv_rtsp_event_kind kind;
    const cv_id *camera;
    const cv_rtsp_access *access;
    const char *peer;
    const char *transport; /* "TCP", "UDP" */
    const char *detail;    /* reason, may be NULL */
} cv_rtsp_event;

typedef struct {
    const char *bind_addr;     /* default "127.0.0.1" */
    int port;                  /* 0: ephemeral (see cv_rtsp_server_port) */
    int session_timeout_s;     /* default 60 */
    int max_connections;       /* default 4096; further connections are refused (both listeners) */
    /* RTSPS: borrowed context (NULL: no TLS listener) and its port (0:
     * ephemeral). Its connections encrypt each write (one copy per viewer;
     * the plain listener stays zero-copy), refuse UDP transport with 461,
     * and otherwise follow the same rules, limits and rechecks. */
    cv_tls_ctx *tls;
    int tls_port;
    /* May this request see (or publish) this camera? Returns an RTSP status:
     * 200 with *out filled; 401 with a WWW-Authenticate value appended to
     * challenge; 403; or 503 with a Retry-After value (seconds) appended to
     * challenge when throttled (without one: unavailable, no Retry-After). Must answer the same for a camera that does
     * not exist as for one the client may not see. Loop thread; must not
     * block for long. Required. */
    int (*authorize)(void *ctx, const cv_rtsp_auth_req *req, cv_rtsp_access *out, cv_sbuf *challenge);
    /* Is an access granted earlier still valid (nothing revoked, camera still
     * there)? Checked before RECORD/PLAY and by cv_rtsp_server_recheck. Required. */
    bool (*still_allowed)(void *ctx, const cv_id *camera, bool publish, const cv_rtsp_access *a);
    /* Sessions starting and ending, security events (for the audit log). May be NULL. */
    void (*on_event)(void *ctx, const cv_rtsp_event *ev);
    void *ctx;
} cv_rtsp_server_config;

typedef struct {
    uint32_t connections;
    uint32_t publishers;
    uint32_t viewers;
    uint64_t bad_requests;
    uint64_t refused_connections;  /* over max_connections */
    uint64_t isolation_violations; /* frames refused at the last write: wrong camera */
    uint64_t bytes_out;            /* media handed to viewers (RTP with interleave headers) */
    uint64_t tls_failures;         /* RTSPS handshakes that failed or were abandoned */
} cv_rtsp_server_stats;

int cv_rtsp_server_start(cv_rtsp_server **out, uv_loop_t *loop, cv_registry *reg,
                         const cv_rtsp_server_config *cfg) __attribute__((warn_unused_result));
int cv_rtsp_server_port(const cv_rtsp_server *s);
int cv_rtsp_server_tls_port(const cv_rtsp_server *s); /* -1 without RTSPS */
/* Closes the listener and every connection; frees the server once all
 * handles have closed, then calls done (may be NULL). */
void cv_rtsp_server_stop(cv_rtsp_server *s, void (*done)(void *ctx), void *ctx);
/* Closes every session of this camera (camera removed). */
void cv_rtsp_server_drop_camera(cv_rtsp_server *s, const cv_id *camera);
/* Asks still_allowed about every authenticated connection and closes those
 * it refuses (revocation). Returns how many were closed. */
size_t cv_rtsp_server_recheck(cv_rtsp_server *s);
void cv_rtsp_server_get_stats(const cv_rtsp_server *s, cv_rtsp_server_stats *out);

#endif
