/* Shared between camsim.c (the camera threads) and control.c (commands on
 * stdin): the camera table and the per-camera requests the control thread
 * raises and the camera thread applies. */
#ifndef CAMSIM_H
#define CAMSIM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/id.h"
#include "clip.h"
#include "media/frame.h"

#define CAMSIM_MAX_CAMERAS 256

typedef struct {
    cv_id id;
    char hex[CV_ID_HEX_LEN + 1];
    char secret[128];
    char base[512]; /* rtsp://host:port/cam/<hex>, no credentials */
    char path[256]; /* served (--serve): the URL path it answers, else "" */
    struct camsim_server *server; /* served: its server (serve.h), else NULL */
    pthread_t thread;
    uint64_t sent;           /* access units sent, over every session */
    const camsim_clip *clip; /* current clip (registry-owned); camera thread only once started */

    /* Requests, raised by the control thread, taken (exchanged back to
     * 0/NULL) by the camera thread. */
    atomic_int drop_req;
    atomic_int garbage_req;
    _Atomic int64_t stall_req_us;          /* stall for this long */
    _Atomic int64_t reconnect_at_us;       /* after a drop: monotonic time to come back */
    _Atomic(const camsim_clip *) next_clip; /* resize */
} camsim_camera;

extern camsim_camera camsim_cams[CAMSIM_MAX_CAMERAS];
extern size_t camsim_ncams;

/* Shared with serve.c, which feeds served cameras from the same clock and
 * clips as the push cameras (camsim.c). */
bool camsim_should_stop(void);
/* Sleeps until the monotonic time until_us; false if camsim is stopping. */
bool camsim_sleep_until(int64_t until_us);
unsigned camsim_fps(void);
/* The frame slot due now, and when slot n is due (monotonic µs). */
uint64_t camsim_slot_now(void);
int64_t camsim_slot_due_us(uint64_t n);
/* Access unit n of the camera's clip with its watermark (seq = base + n);
 * in_band_ps puts the clip's SPS/PPS in front when the AU has none. Returns
 * a new frame, or NULL on no memory. Camera thread only. */
cv_frame *camsim_make_frame(camsim_camera *cam, uint64_t n, int64_t pts, bool in_band_ps);
/* Switches the camera to clip next at next's first keyframe, from slot n on.
 * Camera thread only. */
void camsim_switch_clip(camsim_camera *cam, const camsim_clip *next, uint64_t n);

/* Starts the detached thread that reads commands from stdin (see control.c).
 * Returns 0 or a negative errno. */
int camsim_control_start(void);

/* Prints "camsim: <what> applied" on stdout, flushed: tests wait for it. */
void camsim_applied(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes all of data to a blocking socket (EINTR retried, no SIGPIPE).
 * Returns 0, -ETIMEDOUT when its send timeout expired, or a negative errno. */
int camsim_send_all(int fd, const void *data, size_t len);

#endif
