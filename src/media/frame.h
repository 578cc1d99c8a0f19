/* Refcounted, immutable media frames.
 *
 * A frame is one access unit of one track of one camera. Its metadata (which
 * camera, which track, timestamps, keyframe flag) is kept apart from its
 * payload so that a later end-to-end-encrypted mode can relay payloads the
 * server cannot read without changing the hub.
 *
 * Video payloads are NAL units, each prefixed by a 4-byte big-endian length
 * (no start codes). Audio payloads are one codec frame (raw AAC AU, one Opus
 * packet, G.711 bytes).
 *
 * Frames are built on the loop thread, published once and never written
 * again; references are atomic because decoder threads may hold them. */
#ifndef CV_MEDIA_FRAME_H
#define CV_MEDIA_FRAME_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/id.h"

enum {
    CV_FRAME_KEY = 1u << 0,     /* video: decodable from here (IDR/IRAP) */
    CV_FRAME_CORRUPT = 1u << 1, /* packets were lost while assembling it */
    CV_FRAME_PARAMS = 1u << 2,  /* carries in-band parameter sets */
};

/* Refcounted immutable bytes. */
typedef struct cv_payload cv_payload;

/* Returns a payload of len bytes (uninitialised, writable until shared), or NULL. */
cv_payload *cv_payload_new(size_t len);
/* Returns a payload holding a copy of data, or NULL. */
cv_payload *cv_payload_copy(const void *data, size_t len);
cv_payload *cv_payload_ref(cv_payload *p);
void cv_payload_unref(cv_payload *p);
uint8_t *cv_payload_data(cv_payload *p);
const uint8_t *cv_payload_cdata(const cv_payload *p);
size_t cv_payload_len(const cv_payload *p);
/* Shrinks the visible length (never grows); only before the payload is shared. */
void cv_payload_truncate(cv_payload *p, size_t len);

typedef struct {
    cv_id camera;     /* provenance: the camera whose source produced it */
    uint8_t track;    /* index in the stream's track list */
    uint32_t flags;   /* CV_FRAME_* */
    uint32_t clock_rate;
    int64_t pts;      /* presentation time in clock_rate units, monotonic per source */
    int64_t recv_us;  /* cv_now_us() when its last packet arrived */
} cv_frame_meta;

/* The frame's RTP form, built once by its stream and shared by every RTSP
 * viewer: npkts RTP packets, each preceded by a 4-byte RTSP interleaved
 * header ('$', channel, 16-bit length) so TCP viewers write it as is. */
typedef struct {
    uint32_t rtp_ts;
    uint16_t first_seq;
    uint32_t npkts;
    uint32_t *offs; /* offs[i]: offset of packet i's interleaved header in data */
    size_t len;
    uint8_t *data;
} cv_wire;

void cv_wire_free(cv_wire *w);

typedef struct cv_frame {
    atomic_uint refs;
    cv_frame_meta meta;
    cv_payload *payload;
    cv_wire *rtp; /* set by the stream before publishing; NULL before */
} cv_frame;

/* Takes ownership of payload, even on failure. Returns a frame with one reference, or NULL. */
cv_frame *cv_frame_new(const cv_frame_meta *meta, cv_payload *payload);
cv_frame *cv_frame_ref(cv_frame *f);
void cv_frame_unref(cv_frame *f);
/* Attaches the RTP form (takes ownership); only before the frame is published. */
void cv_frame_set_rtp(cv_frame *f, cv_wire *w);

static inline const uint8_t *cv_frame_data(const cv_frame *f) { return cv_payload_cdata(f->payload); }
static inline size_t cv_frame_len(const cv_frame *f) { return cv_payload_len(f->payload); }

/* Live frame counters, for tests and leak checks. */
long cv_frame_live_count(void);

#endif
