/* Depacketizers: RTP packets of one track in, complete access units out.
 *
 * Supported: H.264 (RFC 6184: single NAL, STAP-A, FU-A), H.265 (RFC 7798:
 * single NAL, AP, FU), AAC (RFC 3640 mpeg4-generic AAC-hbr/lbr, several AUs
 * per packet and fragmented AUs), Opus (RFC 7587), G.711 PCMU/PCMA.
 *
 * Output frames follow media/frame.h: video payloads are length-prefixed NAL
 * units, byte-identical to the NAL units the camera sent; audio payloads are
 * one codec frame. Frames carry the camera id and track index given at
 * creation (provenance), pts unwrapped from 32-bit RTP time into a 64-bit
 * counter that starts at the first packet's timestamp, CV_FRAME_KEY on IDR/IRAP
 * access units and on every audio frame, CV_FRAME_PARAMS when an AU holds
 * VPS/SPS/PPS, CV_FRAME_CORRUPT when packets were lost while assembling it.
 *
 * Not thread-safe; one depacketizer per track, used on one thread. */
#ifndef CV_RTP_DEPACK_H
#define CV_RTP_DEPACK_H

#include <stddef.h>
#include <stdint.h>

#include "base/id.h"
#include "media/codec.h"
#include "media/frame.h"

#define CV_DEPACK_MAX_AU (8u << 20) /* larger access units are dropped */

typedef struct cv_rtp_depack cv_rtp_depack;

/* Called for each complete access unit; the frame is borrowed (take a
 * reference to keep it). */
typedef void (*cv_rtp_emit_fn)(void *ctx, cv_frame *f);

typedef struct {
    uint64_t packets;   /* accepted packets */
    uint64_t bytes;     /* payload bytes accepted */
    uint64_t lost;      /* sequence-number gaps */
    uint64_t malformed; /* packets rejected by cv_rtp_depack_push */
    uint64_t frames;    /* frames emitted */
    uint64_t dropped;   /* access units dropped (too large, incomplete) */
} cv_rtp_depack_stats;

/* Returns NULL when the codec is not supported or memory is short. Copies *t. */
cv_rtp_depack *cv_rtp_depack_new(const cv_track_info *t, const cv_id *camera, uint8_t track_index);
void cv_rtp_depack_free(cv_rtp_depack *d);

/* Feeds one RTP packet (no interleaved header). Emits zero or more frames.
 * Returns 0, or a negative errno for a malformed packet (-EBADMSG), which is
 * dropped; the depacketizer stays usable either way. */
int cv_rtp_depack_push(cv_rtp_depack *d, const uint8_t *pkt, size_t len, cv_rtp_emit_fn emit, void *ctx);

/* Forgets partial state and timestamp history (source reconnected). */
void cv_rtp_depack_reset(cv_rtp_depack *d);

void cv_rtp_depack_get_stats(const cv_rtp_depack *d, cv_rtp_depack_stats *out);

#endif
