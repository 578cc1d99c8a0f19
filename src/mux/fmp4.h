/* Fragmented MP4 (ISO BMFF / CMAF-style) from relayed frames, written by
 * FFmpeg's libavformat mov muxer into memory.
 *
 * One muxer per stream (not per viewer): an init segment (ftyp + moov)
 * built once from the stream's tracks, then one chunk (moof + mdat) per
 * cv_fmp4_flush. LL-HLS parts, HLS segments and the progressive MP4 are
 * all concatenations of the same chunks.
 *
 * Carries the first video track (H.264 as avc1, H.265 as hvc1) and the
 * first audio track fMP4 can hold (AAC, Opus); other tracks (G.711, a second
 * video) are left out. Timestamps: each carried track's output timeline
 * starts at 0 and stays continuous and strictly increasing even when the
 * source's pts jump or step back (a camera that reconnected); video and audio
 * stay in step. Frames are written as they come, without B-frame reordering
 * (dts = pts), as IP cameras send them.
 *
 * Not thread-safe; one thread at a time (the loop thread). */
#ifndef CV_MUX_FMP4_H
#define CV_MUX_FMP4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/codec.h"
#include "media/frame.h"

typedef struct cv_fmp4 cv_fmp4;

/* tracks: the stream's track list (as cv_stream_tracks gives it); frames
 * name their track by index in it. Returns 0, -ENOTSUP (no video or audio
 * track it can carry), -EAGAIN (a video track lacks its parameter sets, so
 * no init segment can be built yet: retry with the tracks after the first
 * keyframe), -ENOMEM or -EIO. */
int cv_fmp4_new(cv_fmp4 **out, const cv_track_info *tracks, size_t n) __attribute__((warn_unused_result));
void cv_fmp4_free(cv_fmp4 *m);

/* The init segment (ftyp + moov), valid until cv_fmp4_free. */
const uint8_t *cv_fmp4_init(const cv_fmp4 *m, size_t *len);
/* RFC 6381 codecs for the HLS CODECS attribute and MSE, e.g.
 * "avc1.64001f,mp4a.40.2" or "hvc1.1.6.L93.B0,opus". */
const char *cv_fmp4_codecs(const cv_fmp4 *m);
/* Picture size from the video track's SPS; false when unknown. */
bool cv_fmp4_resolution(const cv_fmp4 *m, int *width, int *height);
/* Whether frames of stream track i go into the file. */
bool cv_fmp4_carries(const cv_fmp4 *m, size_t track);

/* Adds a frame (borrowed) to the chunk in progress. Video payloads are
 * length-prefixed NAL units as the hub keeps them. Frames of tracks it does
 * not carry are ignored (returns 0). Returns 0 or a negative errno (the
 * frame is dropped; the muxer stays usable). */
int cv_fmp4_write(cv_fmp4 *m, const cv_frame *f);
/* Ends the chunk in progress: a new payload with its moof + mdat (the
 * caller owns the reference), or NULL when nothing was written since the
 * last flush (or on error). *start_us and *dur_us (may be NULL) receive the
 * chunk's start on the output timeline and its duration, in microseconds
 * (the duration of its last sample is estimated from the previous one). */
cv_payload *cv_fmp4_flush(cv_fmp4 *m, int64_t *start_us, int64_t *dur_us);

#endif
