/* The RTSP server: cameras publish (ANNOUNCE/SETUP/RECORD) and viewers play
 * (DESCRIBE/SETUP/PLAY) over TCP interleaved or UDP unicast, both on
 * rtsp://host:port/cam/<camera-id>. Loop thread only. */
#ifndef CV_RTSP_SERVER_H
#define CV_RTSP_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/id.h"
#include "hub/registry.h"

typedef struct cv_rtsp_server cv_rtsp_server;

typedef struct {
    const char *bind_addr;     /* default "127.0.0.1" */
    int port;                  /* 0: ephemeral (see cv_rtsp_server_port) */
    int session_timeout_s;     /* default 60 */
    int max_connections;       /* default 4096; further connections are refused */
    /* Does this camera exist, and may it be published / played? Returns 0,
     * or -ENOENT. Called on the loop thread; must not block for long. */
    int (*camera_check)(void *ctx, const cv_id *camera, bool publish);
    void *ctx;
} cv_rtsp_server_config;

typedef struct {
    uint32_t connections;
    uint32_t publishers;
    uint32_t viewers;
    uint64_t bad_requests;
    uint64_t refused_connections;  /* over max_connections */
    uint64_t isolation_violations; /* frames refused at the last write: wrong camera */
} cv_rtsp_server_stats;

int cv_rtsp_server_start(cv_rtsp_server **out, uv_loop_t *loop, cv_registry *reg,
                         const cv_rtsp_server_config *cfg) __attribute__((warn_unused_result));
int cv_rtsp_server_port(const cv_rtsp_server *s);
/* Closes the listener and every connection; frees the server once all
 * handles have closed, then calls done (may be NULL). */
void cv_rtsp_server_stop(cv_rtsp_server *s, void (*done)(void *ctx), void *ctx);
/* Closes every session of this camera (camera removed). */
void cv_rtsp_server_drop_camera(cv_rtsp_server *s, const cv_id *camera);
void cv_rtsp_server_get_stats(const cv_rtsp_server *s, cv_rtsp_server_stats *out);

#endif
