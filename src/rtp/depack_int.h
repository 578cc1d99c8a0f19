/* Internals shared by the depacketizer files: depack.c owns the common RTP
 * bookkeeping (sequence, timestamps, AU buffer, emission), depack_h26x.c and
 * depack_audio.c the payload formats. Not a public header. */
#ifndef CV_RTP_DEPACK_INT_H
#define CV_RTP_DEPACK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rtp/depack.h"
#include "rtp/rtp.h"

#define CV__DEPACK_MAX_NALS 1024u /* NAL units per access unit */

/* One packet that passed the RTP and sequence checks, before it is applied. */
typedef struct {
    cv_rtp_hdr h;
    int64_t pts;     /* unwrapped timestamp of this packet */
    bool discont;    /* packets were lost (or the stream resynced) just before it */
    int64_t recv_us;
} cv__rtp_pkt;

typedef struct {
    /* Validates the payload against the current state without changing
     * anything. Returns 0 or -EBADMSG. */
    int (*check)(const cv_rtp_depack *d, const cv__rtp_pkt *p);
    /* Applies a checked packet; cannot fail. */
    void (*apply)(cv_rtp_depack *d, const cv__rtp_pkt *p, cv_rtp_emit_fn emit, void *ctx);
    /* Drops partial state (reset, or before free). */
    void (*reset)(cv_rtp_depack *d);
} cv__depack_ops;

struct cv_rtp_depack {
    const cv__depack_ops *ops;
    cv_track_info t;
    cv_id camera;
    uint8_t track;
    uint32_t clock_rate;
    cv_rtp_depack_stats st;

    /* Sequence tracking (RFC 3550 appendix A.1, simplified). */
    bool have_seq;
    uint16_t max_seq;
    uint32_t ssrc;
    uint32_t bad_seq; /* > 0xffff: none; else the seq that confirms a jump */

    /* Timestamp unwrapping. */
    bool have_ts;
    uint32_t last_ts;
    int64_t ext_ts;

    /* Assembly buffer: the current video AU, or the current AAC fragment. */
    uint8_t *buf;
    size_t len, cap;

    /* Video AU state. */
    bool au_open;
    bool au_oversize;     /* too big or too many NALs: drop when it ends */
    bool pending_corrupt; /* loss seen before the next AU opened */
    uint32_t au_ts;
    int64_t au_pts;
    int64_t au_recv_us;
    uint32_t au_flags;
    unsigned au_nals;
    bool fu_active;
    bool fu_lost;   /* a gap since the last FU start: orphan fragments are expected */
    size_t fu_off;  /* offset of the fragmented NAL's 4-byte length prefix */
    uint8_t fu_type;

    /* AAC state. */
    unsigned aac_size_bits, aac_index_bits, aac_delta_bits;
    unsigned aac_frame_len; /* RTP ticks per AU */
    bool frag_active;
    uint32_t frag_ts;
    int64_t frag_pts;
    size_t frag_size;
    bool frag_skip; /* discard fragments with frag_skip_ts (loss or oversize) */
    uint32_t frag_skip_ts;
};

extern const cv__depack_ops cv__depack_h264_ops;
extern const cv__depack_ops cv__depack_h265_ops;
extern const cv__depack_ops cv__depack_aac_ops;
extern const cv__depack_ops cv__depack_simple_ops; /* Opus, G.711 */

/* Makes room for n more bytes in d->buf. Returns false when the result
 * would exceed CV_DEPACK_MAX_AU (plus prefixes) or memory is short. */
bool cv__depack_reserve(cv_rtp_depack *d, size_t n);

/* Emits a frame holding a copy of data. Returns true if it was emitted
 * (false: out of memory, counted as dropped). */
bool cv__depack_emit(cv_rtp_depack *d, const uint8_t *data, size_t len, int64_t pts, uint32_t flags,
                     int64_t recv_us, cv_rtp_emit_fn emit, void *ctx);

/* Parses the AudioSpecificConfig for the number of RTP ticks per AAC AU. */
unsigned cv__aac_frame_len(const uint8_t *asc, size_t len, uint32_t clock_rate);

#endif
