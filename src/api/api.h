/* The REST JSON API under /api/v1/, plugged into cv_http as its request
 * handler. It authenticates (web sessions by cookie + CSRF header, or
 * Bearer), authorises, and turns JSON into calls of the administrative
 * operations (admin/admin.h), which validate, seal and audit. Password
 * checks run on libuv's thread pool; everything else on the loop thread.
 * docs/openapi.yaml describes every route. */
#ifndef CV_API_API_H
#define CV_API_API_H

#include <stdint.h>
#include <uv.h>

#include "auth/guard.h"
#include "auth/key.h"
#include "http/server.h"
#include "store/people.h"
#include "store/store.h"

typedef struct cv_api cv_api;

/* What a test connection to a pull camera found (cv_api_config.probe_pull). */
typedef struct {
    bool ok;              /* tracks attached: video and audio below */
    bool aborted;         /* the server is stopping: no answer about the camera */
    const char *error;    /* !ok: a sentence for people ("connection refused"),
                           * never naming the URL's credentials */
    const char *video;    /* codec name ("H264") or NULL: no video track */
    int width, height;    /* from the parameter sets; 0: not known */
    const char *audio;    /* codec name ("AAC") or NULL */
} cv_api_probe_result;

typedef struct {
    cv_store *store;         /* borrowed; used on the loop thread only */
    const cv_key *key;       /* borrowed */
    cv_guard *guard;         /* borrowed: failed logins, realm "login" */
    const char *rtsp_base;   /* "rtsp://127.0.0.1:8554" for URLs in answers (copied) */
    const char *http_base;   /* "http://127.0.0.1:8080" for HTTP watch URLs (copied); NULL: none */
    int64_t session_ttl_us;  /* web session lifetime; 0: 12 h */
    /* Optional: called on the loop thread after each answered request that
     * may have written the store (a 2xx to POST, PUT, PATCH or DELETE).
     * The API writes on the server's own connection, whose commits do not
     * move PRAGMA data_version for it, so this is how the server learns to
     * reload what it caches (revoked tokens, cameras, live sessions). */
    void (*on_change)(void *ctx);
    void *on_change_ctx;
    /* Optional: a camera's live state for the camera JSON ("online",
     * "last_seen"). Returns whether its stream has a source attached and sets
     * *last_frame_wall_us (0: no frame since the server started). Loop thread. */
    bool (*camera_status)(void *ctx, const cv_id *camera, int64_t *last_frame_wall_us);
    void *camera_status_ctx;
    /* Optional: connects to an RTSP URL (credentials included) once, as a
     * pull camera would, without adding anything. transport is a
     * cv_pull_transport. Returns 0 and later calls done(arg, r) exactly once
     * on the loop thread (r borrowed for the call; never from inside
     * probe_pull), within about 10 s, or with r->aborted when the server
     * stops first; or returns a negative errno (-EINVAL: not a usable URL)
     * and never calls done. */
    int (*probe_pull)(void *ctx, const char *url, int transport,
                      void (*done)(void *arg, const cv_api_probe_result *r), void *arg);
    void *probe_pull_ctx;
} cv_api_config;

/* Returns NULL when out of memory or cfg lacks store, key or guard. */
cv_api *cv_api_new(uv_loop_t *loop, const cv_api_config *cfg);
/* Call only after the HTTP server stopped. Password checks still on the
 * thread pool finish later and free what remains; they never touch the
 * store after this. */
void cv_api_free(cv_api *a);
/* The cv_http_server_config.handle (ctx: the cv_api). */
void cv_api_handle(void *ctx, cv_http_req *req);

/* A browser's web session, for pages outside /api/v1/ (the OAuth consent
 * page): the session cookie (a Bearer session secret is not accepted here)
 * of a live session of an enabled user, and for unsafe methods also the
 * X-CSRF-Token header. Returns 0 with *user filled and csrf (65 bytes:
 * the session's CSRF value, hex) set, -EACCES without a valid session
 * (answer 401) or -EPERM when the CSRF header is missing or wrong (403). */
int cv_api_session_user(cv_api *a, cv_http_req *req, bool unsafe, cv_user_rec *user, char csrf[65]);

#endif
