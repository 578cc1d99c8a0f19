/* A stream is the live state of one camera: its tracks, the RTP form every
 * viewer shares, a prebuffer from the latest keyframe, and its viewers
 * (subscriptions), each with a bounded queue.
 *
 * The source (an RTSP publisher or a pull client) attaches with its track
 * list and publishes frames; the stream stamps each frame's RTP form once
 * (packetize once, fan out the same bytes) and offers it to every viewer.
 * Frames whose provenance is another camera are refused at the door.
 *
 * Everything runs on the loop thread; nothing here blocks. */
#ifndef CV_HUB_STREAM_H
#define CV_HUB_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/id.h"
#include "media/codec.h"
#include "media/frame.h"

typedef struct cv_stream cv_stream;
typedef struct cv_sub cv_sub;

typedef struct {
    size_t queue_bytes;       /* per viewer: bytes handed to it and not yet written */
    int64_t queue_age_us;     /* per viewer: oldest unwritten frame may wait this long */
    int64_t stall_us;         /* a viewer that writes nothing for this long is closed */
    size_t prebuffer_bytes;   /* cap on the keyframe prebuffer */
    size_t mtu;               /* RTP packet size */
} cv_stream_limits;

void cv_stream_limits_default(cv_stream_limits *l);

typedef struct {
    /* Hand f to the viewer. Return 0 when queued: the viewer then calls
     * cv_sub_written() exactly once for f, later (never from inside write),
     * when its write finished or failed. Return 1 when f was sent at once
     * (datagrams), or a negative errno to refuse (counted as a drop). The
     * frame is borrowed; the viewer takes its own reference to keep it. */
    int (*write)(void *ctx, cv_frame *f);
    /* The stream gave up on this viewer (stalled, camera removed, tracks
     * changed). The viewer must close; the subscription is already detached
     * and the viewer still owns its reference. Called at most once. */
    void (*close)(void *ctx, const char *reason);
} cv_sink_ops;

typedef struct {
    uint64_t frames_in;
    uint64_t bytes_in;
    uint64_t foreign_frames;  /* refused: provenance was another camera */
    uint64_t refused_frames;  /* refused: not the attached source, unknown track, already stamped */
    uint64_t viewer_drops;    /* frames viewers' queues skipped (slow viewers), all viewers */
    uint32_t viewers;
    bool online;
    int64_t last_frame_wall_us;
} cv_stream_stats;

typedef struct {
    uint64_t frames;          /* frames accepted by the viewer */
    uint64_t bytes;
    uint64_t dropped;         /* frames skipped because the queue was full */
    uint64_t skips;           /* times the viewer was dropped to the next keyframe */
} cv_sub_stats;

/* Returns a new stream with one reference, or NULL. limits may be NULL. */
cv_stream *cv_stream_new(const cv_id *camera, const cv_stream_limits *limits);
cv_stream *cv_stream_ref(cv_stream *s);
void cv_stream_unref(cv_stream *s);
const cv_id *cv_stream_camera(const cv_stream *s);

/* --- source side --- */

/* Attaches a source with its tracks (copied). Returns 0; -EBUSY when another
 * source is attached; -EINVAL for no or too many tracks; -ENOTSUP when a
 * codec has no packetizer (the stream is left unchanged). When the tracks
 * differ in kind or codec from the previous source's, current viewers are
 * closed (their session description is stale); otherwise they continue with
 * continuous RTP sequence numbers and timestamps. */
int cv_stream_attach(cv_stream *s, const void *source, const cv_track_info *tracks, size_t n);
/* Detaches source (no-op if it is not the attached one). Viewers stay. */
void cv_stream_detach(cv_stream *s, const void *source);
bool cv_stream_online(const cv_stream *s);

/* Publishes a frame of the attached source (borrowed). Frames from another
 * camera (provenance mismatch), another source or an unknown track are
 * refused and counted. Returns 0 or a negative errno. */
int cv_stream_publish(cv_stream *s, const void *source, cv_frame *f);

/* Copy of the current tracks (parameter sets updated from in-band ones). Returns the count. */
size_t cv_stream_tracks(const cv_stream *s, cv_track_info *out, size_t cap);
/* Payload type and RTP state for track i on the way out. */
uint8_t cv_stream_out_pt(const cv_stream *s, size_t track);
uint32_t cv_stream_out_ssrc(const cv_stream *s, size_t track);
/* Sequence number and RTP timestamp a viewer starting now sees first on
 * track i (for RTP-Info). Returns false when nothing is known yet. */
bool cv_stream_next_rtp(const cv_stream *s, size_t track, uint16_t *seq, uint32_t *rtp_ts);
/* Builds an RTCP sender report for track i into buf; returns its length or -1. */
int cv_stream_build_sr(const cv_stream *s, size_t track, uint8_t *buf, size_t cap);

/* Closes every viewer with reason and detaches the source (camera removed). */
void cv_stream_shutdown(cv_stream *s, const char *reason);

void cv_stream_get_stats(const cv_stream *s, cv_stream_stats *out);

/* The latest video keyframe (a new reference; the caller unrefs), with the
 * index of its track in *track; NULL when the stream has none (offline, no
 * video, or no keyframe since the source attached). */
cv_frame *cv_stream_keyframe(const cv_stream *s, size_t *track);

/* --- per-stream companions ---
 * State derived from one camera's frames (the HLS segment and part store,
 * the picture decoder) lives inside that camera's stream object, in one of
 * these slots, so nothing can reach it without first holding the stream,
 * and that only through a capability for the camera. The slot owns p:
 * drop(p) runs when the slot is replaced or cleared, when the stream shuts
 * down (after its viewers were closed) and when the last reference goes. */
typedef enum {
    CV_STREAM_EXT_HLS = 0,     /* hls/packager.h */
    CV_STREAM_EXT_PICTURE = 1, /* pic/pic.h */
    CV_STREAM_EXT_SUB = 2,     /* the camera's substream: a cv_stream of the same camera */
    CV_STREAM_EXT_MAX
} cv_stream_ext_slot;

void *cv_stream_ext(const cv_stream *s, cv_stream_ext_slot slot);
/* Replaces the slot's content (dropping the old one); p NULL clears it. */
void cv_stream_set_ext(cv_stream *s, cv_stream_ext_slot slot, void *p, void (*drop)(void *p));

/* --- viewer side --- */

/* Subscribes to the tracks in track_mask (bit i = track i). Nothing is
 * delivered before cv_sub_start. Returns a subscription owned by the caller
 * (release with cv_sub_free), or NULL. */
cv_sub *cv_stream_subscribe(cv_stream *s, uint32_t track_mask, const cv_sink_ops *ops, void *ctx);
/* Starts delivery: the prebuffer (from the latest keyframe) at once, then
 * live frames. Without a prebuffer, video viewers start at the next keyframe. */
void cv_sub_start(cv_sub *sub);
/* The viewer finished (or failed) the oldest write it queued. */
void cv_sub_written(cv_sub *sub);
/* Detaches (if still attached) and frees. Call it from the viewer's own
 * teardown, never from inside the write or close callbacks. */
void cv_sub_free(cv_sub *sub);
void cv_sub_get_stats(const cv_sub *sub, cv_sub_stats *out);
cv_stream *cv_sub_stream(const cv_sub *sub); /* borrowed */

#endif
