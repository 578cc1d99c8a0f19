/* cv_server: everything `camvault serve` runs, on one libuv loop: the store,
 * the stream registry, the RTSP server and one puller per pull camera, kept
 * in step with the store (CLI changes are noticed within a second). */
#ifndef CV_SERVER_SERVER_H
#define CV_SERVER_SERVER_H

#include <uv.h>

#include "server/config.h"

typedef struct cv_server cv_server;

/* Opens the store, starts listening and pulling. Returns 0 or a negative
 * errno with the cause logged. cfg is copied. */
int cv_server_start(cv_server **out, uv_loop_t *loop, const cv_config *cfg) __attribute__((warn_unused_result));
int cv_server_rtsp_port(const cv_server *s);
int cv_server_http_port(const cv_server *s);
int cv_server_https_port(const cv_server *s); /* -1 when HTTPS is off */
int cv_server_rtsps_port(const cv_server *s); /* -1 when RTSPS is off */
/* Loads the TLS certificate and key again (SIGHUP; also noticed by itself
 * within 5 s when the files change). On failure the old one stays. */
void cv_server_reload_tls(cv_server *s);
/* Stops everything; frees the server once its handles closed, then calls done. */
void cv_server_stop(cv_server *s, void (*done)(void *ctx), void *ctx);

#endif
