/* camsim as a camera that camvault pulls: a small RTSP server (OPTIONS,
 * DESCRIBE, SETUP over TCP interleaved or UDP, PLAY, GET_PARAMETER,
 * TEARDOWN) serving each --serve camera at rtsp://HOST:PORT/PATH.
 *
 * One accept thread and one thread per client connection (at most
 * CAMSIM_SERVE_MAX_CLIENTS); each served camera has its own camera thread
 * (camsim_serve_camera_main) that builds every access unit once per frame
 * slot, with the same watermark sequence number for every client, and sends
 * it to each client that is playing. */
#ifndef CAMSIM_SERVE_H
#define CAMSIM_SERVE_H

#include "camsim.h"

#define CAMSIM_SERVE_MAX_CLIENTS 64

typedef struct camsim_server camsim_server;

/* Listens on addr ("IPV4:PORT", PORT 0 picks one), prints
 * "camsim: listening on IPV4:PORT" on stdout (flushed) and starts the
 * accept thread. Returns 0 and the server in *out, or a negative errno with
 * a one-line reason on stderr. */
int camsim_serve_start(camsim_server **out, const char *addr) __attribute__((warn_unused_result));

/* The camera thread of a served camera (arg: its camsim_camera, whose
 * server field is set). Returns when camsim stops. */
void *camsim_serve_camera_main(void *arg);

/* Stops accepting, closes every client connection, joins the threads and
 * frees the server. Call after the served cameras' threads have ended. */
void camsim_serve_stop(camsim_server *srv);

#endif
