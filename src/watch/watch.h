/* Watching over HTTP: everything a browser, phone or smart display asks
 * for, on the same relayed frames the RTSP viewers get.
 *
 *   GET /cam/<id>/index.m3u8?token=T         multivariant playlist (main, and the
 *                                             substream when the camera has one)
 *   GET /cam/<id>/<main|sub>/live.m3u8?s=S   LL-HLS media playlist (_HLS_msn, _HLS_part block)
 *   GET /cam/<id>/<main|sub>/init.mp4?s=S    fMP4 init segment
 *   GET /cam/<id>/<main|sub>/s<msn>.m4s?s=S  segment;  p<msn>.<part>.m4s: part (the hinted one blocks)
 *   GET /cam/<id>/live.mp4?token=T           progressive fMP4 (chunked), from the last keyframe
 *   GET /cam/<id>/snapshot.jpg?token=T[&width=N]
 *   GET /cam/<id>/live.mjpeg?token=T[&fps=N][&width=N]
 *
 * A capability token (?token= or "Authorization: Bearer") is checked for
 * the camera and scope; an HLS player then gets a session id (?s=) in every
 * relative URL, which names an in-memory session bound to that camera and
 * that access, expiring after session_idle_us without a request. Sessions
 * and live responses (progressive MP4, MJPEG) are rechecked with
 * cv_watch_recheck whenever the server rechecks RTSP sessions, so revoking
 * access ends them just as fast. Every media answer is
 * "Cache-Control: private, no-store", and every stored part, segment,
 * chunk and picture is checked against the session's camera at the last
 * write. Loop thread only. */
#ifndef CV_WATCH_WATCH_H
#define CV_WATCH_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/sbuf.h"
#include "hls/packager.h"
#include "http/server.h"
#include "hub/registry.h"
#include "pic/pic.h"
#include "rtsp/server.h"

typedef struct cv_watch cv_watch;

typedef struct {
    uv_loop_t *loop;
    cv_registry *reg; /* borrowed */
    /* Checks a token for camera and scope (CV_SCOPE_*): returns 200 with *out
     * filled, 401, 403, 429 with *retry_s, or 503 (switched off by the
     * operator: answered 503 with Retry-After: 30). Required. */
    int (*check_token)(void *ctx, const char *tok, size_t len, const cv_id *camera, uint32_t scope,
                       const char *peer, cv_rtsp_access *out, int64_t *retry_s);
    /* Is an access granted earlier still valid? Required. */
    bool (*still_allowed)(void *ctx, const cv_id *camera, const cv_rtsp_access *a);
    /* Security events (isolation violations, revoked views) and view
     * start/stop, as RTSP's on_event; protocol names the path ("hls",
     * "mp4", "mjpeg", "snapshot"). May be NULL. */
    void (*on_event)(void *ctx, cv_rtsp_event_kind kind, const cv_id *camera, const cv_rtsp_access *a,
                     const char *peer, const char *protocol, const char *detail);
    void *ctx;
    cv_hls_config hls;
    cv_pic_config pic;
    int64_t session_idle_us;  /* HLS session expiry without a request, default 60 s */
    size_t max_sessions;      /* default 20000: beyond, 503 */
    int64_t block_us;         /* longest a blocking request waits, default 3 x target duration */
    size_t stream_queue;      /* bytes a progressive/MJPEG answer may have waiting, default 4 MiB */
} cv_watch_config;

cv_watch *cv_watch_new(const cv_watch_config *cfg);
/* Ends every live answer (their connections close) and frees. Call before
 * the registry goes. */
void cv_watch_free(cv_watch *w);

/* True when the path is the watch module's (/cam/...): the request is
 * then answered (now or later). False: not ours, untouched. */
bool cv_watch_handle(cv_watch *w, cv_http_req *req);

/* Drops sessions and ends live answers whose access is gone (the caller
 * sets deep checking around it as for RTSP); also forgets expired
 * sessions. Returns how many views it ended. */
size_t cv_watch_recheck(cv_watch *w);
/* The camera was removed: end its sessions and live answers now. */
void cv_watch_drop_camera(cv_watch *w, const cv_id *camera);

typedef struct {
    uint64_t requests[4];      /* by protocol: hls, mp4, mjpeg, snapshot */
    uint32_t live[4];          /* open: hls sessions, mp4 and mjpeg answers, pending snapshots */
    uint64_t bytes_out[4];
    uint64_t refused;          /* 401/403/429 */
    uint64_t isolation_violations;
    uint64_t revoked;          /* sessions and answers ended by a recheck */
    uint64_t queue_drops;      /* chunks or pictures skipped for slow clients */
} cv_watch_stats;
enum { CV_WATCH_HLS = 0, CV_WATCH_MP4 = 1, CV_WATCH_MJPEG = 2, CV_WATCH_SNAPSHOT = 3 };
void cv_watch_get_stats(const cv_watch *w, cv_watch_stats *out);

#endif
