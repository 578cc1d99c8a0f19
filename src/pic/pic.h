/* Pictures of a camera: JPEG snapshots and MJPEG, decoded with libavcodec,
 * scaled with libswscale and encoded with libavcodec's MJPEG encoder on
 * libuv's thread pool (never on the loop thread).
 *
 * One cv_pic per camera stream, kept in the stream's CV_STREAM_EXT_PICTURE
 * slot (hub/stream.h), so a picture can only be reached through the stream
 * of the camera it came from. Every JPEG is handed out as a cv_frame whose
 * meta.camera is the camera of the video frame it was decoded from, so the
 * writer can check provenance at the last write.
 *
 * Snapshot: the stream's latest keyframe (cv_stream_keyframe), decoded on
 * demand; concurrent requests for the same keyframe and width share one
 * decode, and the last result per width is reused while the keyframe is
 * the same. The decoder stays open ("warm") for keep_warm_ms after use.
 *
 * MJPEG: while at least one watcher exists, one decoder per camera decodes
 * the stream's video (subscribing to the stream), and JPEGs are encoded at
 * the highest rate any watcher asked for, once per distinct width; each
 * watcher gets at most its own rate. When the decoder falls behind it skips
 * to the next keyframe rather than queue without bound. With no watchers
 * left it unsubscribes and nothing is decoded.
 *
 * Loop thread only (the decode work runs on the pool). */
#ifndef CV_PIC_PIC_H
#define CV_PIC_PIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hub/stream.h"
#include "media/frame.h"

typedef struct cv_pic cv_pic;
typedef struct cv_pic_req cv_pic_req;
typedef struct cv_pic_watch cv_pic_watch;

#define CV_PIC_MAX_WIDTH 3840

typedef struct {
    int quality;        /* JPEG qscale 2 (best) .. 31; default 5 */
    int keep_warm_ms;   /* default 10000 */
    int max_fps;        /* MJPEG cap, default 30 */
} cv_pic_config;

/* The stream's cv_pic, created (and stored in the stream's slot) on first
 * use. cfg may be NULL. Returns NULL on OOM. Borrowed: valid while the
 * stream holds it (it is dropped with the stream, which then ends every
 * request and watcher with -ESHUTDOWN / "camera gone"). */
cv_pic *cv_pic_get(uv_loop_t *loop, cv_stream *s, const cv_pic_config *cfg);

/* A JPEG snapshot of the latest keyframe, scaled to width (0: the camera's
 * size; heights keep the aspect ratio, rounded to even; larger than the
 * source or CV_PIC_MAX_WIDTH: clamped). done runs exactly once on the loop
 * thread, never from inside this call, with status 0 and a JPEG frame
 * (borrowed: take a reference to keep it), or -ENODATA (no keyframe: the
 * camera is offline or has not sent one yet), -EIO (the decoder refused the
 * picture), -ESHUTDOWN (the stream went away) or -ECANCELED (never: a
 * cancelled request is not called back). Returns 0 with *out set (to
 * cancel, until done runs; the request is freed after done returns), -EAGAIN
 * when too many requests are pending for this camera, or -ENOMEM. */
int cv_pic_snapshot(cv_pic *p, int width, void (*done)(void *ctx, int status, cv_frame *jpeg), void *ctx,
                    cv_pic_req **out);
/* Cancels a pending snapshot request (its done is not called). */
void cv_pic_cancel(cv_pic_req *r);

/* MJPEG watcher: on_jpeg runs on the loop thread for each new picture
 * (borrowed frame), at most fps per second (clamped to 0.1 .. max_fps);
 * on_end runs once if the stream goes away or the camera's tracks change
 * (the watcher must then be stopped by its owner). Returns NULL on OOM. */
cv_pic_watch *cv_pic_watch_start(cv_pic *p, int width, double fps, void (*on_jpeg)(void *ctx, cv_frame *jpeg),
                                 void (*on_end)(void *ctx, const char *reason), void *ctx);
/* Stops and frees the watcher; callable from its callbacks. */
void cv_pic_watch_stop(cv_pic_watch *w);

typedef struct {
    uint64_t snapshots;       /* snapshot requests answered with a picture */
    uint64_t decodes;         /* frames decoded */
    uint64_t encodes;         /* JPEGs encoded */
    uint64_t shared;          /* snapshot requests served by another's decode or the cached result */
    uint64_t skipped;         /* frames skipped because the decoder fell behind */
    uint64_t errors;          /* frames or pictures the decoder refused (corrupt input) */
    uint32_t watchers;
    bool decoder_warm;
} cv_pic_stats;
void cv_pic_get_stats(const cv_pic *p, cv_pic_stats *out);

#endif
