/* Internal to src/pic: the pool side of pictures (pic_codec.c), i.e. what
 * one job does on libuv's thread pool with libavcodec and libswscale. The
 * loop side (pic.c) builds a job, hands it to uv_queue_work and reads the
 * results in the after_work callback; a decoder is only ever used by the one
 * job in flight for its camera, so nothing here locks. */
#ifndef CV_PIC_PIC_INT_H
#define CV_PIC_PIC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/codec.h"
#include "media/frame.h"

#define CV__PIC_BATCH_MAX 32 /* frames one MJPEG job decodes */
#define CV__PIC_WIDTHS_MAX 8 /* distinct widths one job encodes */

/* A decoder (H.264 or H.265) with the scalers and JPEG encoders of the last
 * few output sizes. Created on the pool by the first job that needs it. */
typedef struct cv__pic_dec cv__pic_dec;

void cv__pic_dec_free(cv__pic_dec *d);

typedef struct {
    /* in: built on the loop thread */
    cv__pic_dec **dec;          /* the decoder this job uses (created or replaced here) */
    bool snapshot;              /* decode frames[0] alone from a clean state */
    bool reuse;                 /* snapshot: *dec still holds frames[0]'s picture */
    cv_track_info info;         /* codec and parameter sets of the frames' track */
    int quality;                /* JPEG qscale 2..31 */
    cv_frame *frames[CV__PIC_BATCH_MAX]; /* one reference each */
    size_t nframes;
    int widths[CV__PIC_WIDTHS_MAX]; /* 0: native; clamped to the source and CV_PIC_MAX_WIDTH */
    size_t nwidths;
    /* out: written on the pool */
    int status;                 /* 0; -EIO: nothing decodable; -ENOMEM; -ENOTSUP: codec */
    uint64_t decoded, encoded, errors;
    int src_w, src_h;           /* size of the last decoded picture */
    cv_frame *jpeg[CV__PIC_WIDTHS_MAX]; /* per width: a JPEG of the newest picture, or NULL */
} cv__pic_job;

/* Runs job on the calling (pool) thread. */
void cv__pic_run(cv__pic_job *job);

/* Output size for a requested width: 0 or anything larger than the source
 * gives the source width, never more than CV_PIC_MAX_WIDTH, even; the height
 * keeps the aspect ratio, rounded to even. */
void cv__pic_out_size(int src_w, int src_h, int want_w, int *w, int *h);

#endif
