/* The HLS packager of one camera stream: Low-Latency HLS with fMP4 parts,
 * and the chunk feed behind the progressive MP4.
 *
 * It subscribes to the stream like any viewer and muxes every frame once
 * (mux/fmp4.h) into CMAF chunks: one chunk (moof + mdat) per video frame,
 * carrying the audio that arrived since the previous one. Parts are runs of
 * chunks no longer than the part target; segments are runs of parts that
 * start at a keyframe once the segment target is reached (or are cut before
 * the playlist's target duration would be exceeded). Progressive MP4
 * followers get the init segment, the current segment so far, then every
 * chunk as it is made.
 *
 * The packager lives in its stream's CV_STREAM_EXT_HLS slot, so segments and
 * parts are only reachable by holding that stream. Every stored part,
 * segment and chunk is a cv_frame whose meta.camera is the camera its frames
 * came from (checked as each frame is muxed), so the writer checks
 * provenance at the last write exactly as RTSP does. meta.pts is the start
 * on the output timeline in microseconds, meta.flags has CV_FRAME_KEY when
 * it starts with a keyframe.
 *
 * It is made on the first request and stops (leaving the slot) after
 * idle_us without requests or followers, when the camera's tracks change
 * and when the stream shuts down; waiters and followers are then told.
 * Loop thread only. */
#ifndef CV_HLS_PACKAGER_H
#define CV_HLS_PACKAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/sbuf.h"
#include "hub/stream.h"
#include "media/frame.h"

typedef struct cv_hls cv_hls;
typedef struct cv_hls_wait cv_hls_wait;
typedef struct cv_hls_follower cv_hls_follower;

typedef struct {
    int64_t part_target_us;    /* default 334 ms (EXT-X-PART-INF PART-TARGET) */
    int64_t segment_target_us; /* default 2 s: cut at the first keyframe after this */
    int target_duration_s;     /* default 4 (EXT-X-TARGETDURATION): a segment never exceeds it */
    unsigned window_segments;  /* segments listed in the playlist, default 6 */
    size_t max_bytes;          /* stored parts + segments, default 48 MiB (oldest go first) */
    int64_t idle_us;           /* default 60 s without a request or follower: stop */
} cv_hls_config;

void cv_hls_config_default(cv_hls_config *c);

/* The stream's packager, made (and put in the stream's slot) on first use;
 * cfg is used then (NULL: defaults). Returns NULL on OOM or when the stream
 * has no tracks yet. Borrowed: valid until the stream drops it; look it up
 * again on every request rather than keep the pointer. */
cv_hls *cv_hls_get(uv_loop_t *loop, cv_stream *s, const cv_hls_config *cfg);
/* Notes a request: keeps the packager from going idle. */
void cv_hls_touch(cv_hls *h);

/* 0 when the playlist can be served (init + one complete segment);
 * -EAGAIN while waiting for the first keyframe/segment; -ENOTSUP when the
 * camera's codecs cannot go into fMP4; -ESHUTDOWN once stopped. */
int cv_hls_state(const cv_hls *h);
/* The CODECS attribute, the picture size (false when unknown) and the peak
 * segment bit rate seen (0 before a segment is complete). */
const char *cv_hls_codecs(const cv_hls *h);
bool cv_hls_resolution(const cv_hls *h, int *w, int *hgt);
uint64_t cv_hls_bandwidth(const cv_hls *h);
double cv_hls_frame_rate(const cv_hls *h);

/* Where (msn, part) stands; part -1 means the whole segment.
 *   0        available now
 *   1        the next one to be made: worth waiting for
 *   -ENOENT  evicted, or never to be made (a part number past a complete segment's last part)
 *   -ERANGE  too far in the future (more than 2 segments ahead): answer 400 */
int cv_hls_locate(const cv_hls *h, int64_t msn, int part);
/* For a blocking playlist reload (_HLS_msn, _HLS_part with part -1 when
 * absent): true once the playlist would contain it. Per the LL-HLS rules a
 * part number past a complete segment's last part counts as part 0 of the
 * next segment. */
bool cv_hls_playlist_ready(const cv_hls *h, int64_t msn, int part);

/* New references, or NULL when not (or no longer) stored. */
cv_frame *cv_hls_init(cv_hls *h);
/* The init segment of a generation (0 first; a new one each time the camera
 * changes its picture format, named init<gen>.mp4 in the playlist). */
cv_frame *cv_hls_init_gen(cv_hls *h, unsigned gen);
cv_frame *cv_hls_part(cv_hls *h, int64_t msn, int part);
cv_frame *cv_hls_segment(cv_hls *h, int64_t msn);

/* Writes the media playlist. query (may be "") is appended to every URI
 * after '?' (it carries the viewer's session). Returns 0, -EAGAIN (not
 * ready) or -ENOMEM. */
int cv_hls_playlist(const cv_hls *h, const char *query, cv_sbuf *out);

/* Calls fn(ctx, 0) once the packager changed in a way that may satisfy a
 * wait (a part or segment completed), or fn(ctx, -ESHUTDOWN) when it stops.
 * One-shot: the wait is freed after fn returns; fn may start another.
 * Never called from inside cv_hls_wait_start. */
cv_hls_wait *cv_hls_wait_start(cv_hls *h, void (*fn)(void *ctx, int status), void *ctx);
void cv_hls_wait_cancel(cv_hls_wait *w);

/* Progressive MP4: on_data gets the init segment, the current segment so
 * far, then each chunk (borrowed frames; write or copy them). Returning
 * non-zero from on_data means "could not take it": the follower skips
 * chunks until the next one that starts with a keyframe. on_end runs once
 * when the packager stops; the follower must then be released. Delivery
 * starts on a later loop turn. Returns NULL on OOM. */
cv_hls_follower *cv_hls_follow(cv_hls *h, int (*on_data)(void *ctx, cv_frame *chunk),
                               void (*on_end)(void *ctx, const char *why), void *ctx);
/* Releases the follower; safe from inside its callbacks. */
void cv_hls_unfollow(cv_hls_follower *f);

typedef struct {
    uint64_t chunks, parts, segments;
    uint64_t bytes;          /* media bytes muxed */
    uint64_t evicted;        /* segments dropped from the store */
    uint64_t foreign;        /* frames refused: provenance not this camera */
    uint32_t followers;
    uint32_t waiters;
    int64_t msn;             /* the segment being made */
} cv_hls_stats;
void cv_hls_get_stats(const cv_hls *h, cv_hls_stats *out);

#endif
