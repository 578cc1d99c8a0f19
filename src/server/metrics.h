/* Prometheus text exposition (version 0.0.4) of the server's counters:
 * streams, viewers and bytes out per protocol, queue drops, authentication
 * failures and isolation-check violations. The server gathers the figures
 * from each module's stats and renders them here; /metrics serves them
 * behind its own token. */
#ifndef CV_SERVER_METRICS_H
#define CV_SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/sbuf.h"
#include "http/server.h"
#include "rtsp/server.h"
#include "server/access.h"
#include "watch/watch.h"

typedef struct {
    size_t streams, online;
    uint64_t frames_in, bytes_in;
    uint64_t foreign_frames;   /* refused at a stream's door or a packager's */
    uint64_t viewer_drops;     /* RTSP viewers' queue drops */
    cv_rtsp_server_stats rtsp;
    cv_http_server_stats http, https;
    cv_access_stats access;
    cv_watch_stats watch;
} cv_metrics;

void cv_metrics_render(const cv_metrics *m, cv_sbuf *out);

#endif
