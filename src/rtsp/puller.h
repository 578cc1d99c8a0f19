/* Pulls one camera: connects to its RTSP URL (Basic or Digest auth), DESCRIBE,
 * SETUP each supported track (TCP interleaved, or UDP, or TCP first then UDP),
 * PLAY, and publishes what it receives into the camera's stream. Reconnects
 * with capped exponential backoff (with jitter) when the camera drops, so
 * viewers of this and other cameras are never disturbed. Loop thread only. */
#ifndef CV_RTSP_PULLER_H
#define CV_RTSP_PULLER_H

#include <stdint.h>
#include <uv.h>

#include "hub/stream.h"

typedef struct cv_puller cv_puller;

typedef enum {
    CV_PULLER_TRANSPORT_AUTO = 0, /* TCP interleaved; fall back to UDP if refused (461) */
    CV_PULLER_TRANSPORT_TCP = 1,
    CV_PULLER_TRANSPORT_UDP = 2,
} cv_puller_transport;

typedef struct {
    const char *url;              /* rtsp://[user:pass@]host[:port]/path (copied) */
    cv_puller_transport transport;
    int64_t backoff_min_us;       /* first retry delay (default 500 ms) */
    int64_t backoff_max_us;       /* cap (default 30 s) */
    int64_t timeout_us;           /* connect/response/no-data timeout (default 10 s) */
    const char *bind_addr;        /* local address for UDP sockets (default 127.0.0.1 when the camera is on loopback, else 0.0.0.0) */
} cv_puller_config;

typedef struct {
    bool connected;               /* PLAY answered and media flowing */
    uint32_t attempts;            /* connection attempts so far */
    uint32_t sessions;            /* successful PLAYs so far */
    uint64_t frames;
    int64_t next_retry_in_us;     /* when disconnected */
    char last_error[160];
} cv_puller_stats;

/* Starts pulling into stream (a reference is taken). Returns 0 or a negative
 * errno (-EINVAL for a bad URL). */
int cv_puller_start(cv_puller **out, uv_loop_t *loop, cv_stream *stream, const cv_puller_config *cfg);
/* Stops and frees asynchronously: detaches from the stream at once, frees
 * after its handles have closed. */
void cv_puller_stop(cv_puller *p);
void cv_puller_get_stats(const cv_puller *p, cv_puller_stats *out);

#endif
