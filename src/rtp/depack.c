/* Common depacketizer machinery: RTP header and sequence checks, timestamp
 * unwrapping, the assembly buffer and frame emission. Payload formats live in
 * depack_h26x.c and depack_audio.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "rtp/depack_int.h"

/* RFC 3550 appendix A.1: forward jumps below MAX_DROPOUT are losses, packets
 * up to MAX_MISORDER behind are duplicates or late, anything else needs a
 * second, sequential packet to be believed. */
#define MAX_DROPOUT 3000u
#define MAX_MISORDER 100u
#define NO_BAD_SEQ 0x10000u

cv_rtp_depack *cv_rtp_depack_new(const cv_track_info *t, const cv_id *camera, uint8_t track_index)
{
    if (!t)
        return NULL;
    const cv__depack_ops *ops;
    uint32_t def_rate;
    switch (t->codec) {
    case CV_CODEC_H264: ops = &cv__depack_h264_ops; def_rate = 90000; break;
    case CV_CODEC_H265: ops = &cv__depack_h265_ops; def_rate = 90000; break;
    case CV_CODEC_AAC: ops = &cv__depack_aac_ops; def_rate = 0; break;
    case CV_CODEC_OPUS: ops = &cv__depack_simple_ops; def_rate = 48000; break;
    case CV_CODEC_PCMU:
    case CV_CODEC_PCMA: ops = &cv__depack_simple_ops; def_rate = 8000; break;
    case CV_CODEC_UNKNOWN:
    default: return NULL;
    }

    unsigned sl = t->aac_sizelength, il = t->aac_indexlength, dl = t->aac_indexdeltalength;
    if (t->codec == CV_CODEC_AAC) {
        /* No fmtp sizes at all: assume AAC-hbr, the only mode cameras use. */
        if (sl == 0 && il == 0 && dl == 0) {
            sl = 13;
            il = 3;
            dl = 3;
        }
        if (sl == 0 || sl > 32 || il > 32 || dl > 32)
            return NULL;
    }

    cv_rtp_depack *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->ops = ops;
    d->t = *t;
    if (camera)
        d->camera = *camera;
    d->track = track_index;
    d->clock_rate = t->clock_rate ? t->clock_rate : def_rate;
    d->bad_seq = NO_BAD_SEQ;
    d->aac_size_bits = sl;
    d->aac_index_bits = il;
    d->aac_delta_bits = dl;
    if (t->codec == CV_CODEC_AAC)
        d->aac_frame_len = cv__aac_frame_len(t->aac_config, CV_MIN(t->aac_config_len, sizeof(t->aac_config)),
                                             d->clock_rate);
    return d;
}

void cv_rtp_depack_free(cv_rtp_depack *d)
{
    if (!d)
        return;
    free(d->buf);
    free(d);
}

void cv_rtp_depack_reset(cv_rtp_depack *d)
{
    d->ops->reset(d);
    d->have_seq = false;
    d->have_ts = false;
    d->bad_seq = NO_BAD_SEQ;
}

void cv_rtp_depack_get_stats(const cv_rtp_depack *d, cv_rtp_depack_stats *out) { *out = d->st; }

bool cv__depack_reserve(cv_rtp_depack *d, size_t n)
{
    size_t need;
    if (__builtin_add_overflow(d->len, n, &need) || need > CV_DEPACK_MAX_AU)
        return false;
    if (need <= d->cap)
        return true;
    size_t ncap = d->cap ? d->cap : 4096;
    while (ncap < need)
        ncap *= 2; /* need <= 8 MiB, cannot overflow */
    if (ncap > CV_DEPACK_MAX_AU)
        ncap = CV_DEPACK_MAX_AU;
    uint8_t *nb = realloc(d->buf, ncap);
    if (!nb)
        return false;
    d->buf = nb;
    d->cap = ncap;
    return true;
}

bool cv__depack_emit(cv_rtp_depack *d, const uint8_t *data, size_t len, int64_t pts, uint32_t flags,
                     int64_t recv_us, cv_rtp_emit_fn emit, void *ctx)
{
    cv_payload *pl = cv_payload_copy(data, len);
    if (!pl) {
        d->st.dropped++;
        return false;
    }
    cv_frame_meta m = {
        .camera = d->camera,
        .track = d->track,
        .flags = flags,
        .clock_rate = d->clock_rate,
        .pts = pts,
        .recv_us = recv_us,
    };
    cv_frame *f = cv_frame_new(&m, pl);
    if (!f) {
        d->st.dropped++;
        return false;
    }
    d->st.frames++;
    if (emit)
        emit(ctx, f);
    cv_frame_unref(f);
    return true;
}

enum { SEQ_ACCEPT, SEQ_DROP };

/* Classifies h->seq against the history without committing anything except
 * the probation marker for large jumps. */
static int classify_seq(cv_rtp_depack *d, const cv_rtp_hdr *h, bool *discont, uint64_t *lost)
{
    *discont = false;
    *lost = 0;
    if (!d->have_seq)
        return SEQ_ACCEPT;
    if (h->ssrc != d->ssrc) {
        /* New source (camera restarted its sender): start over. */
        *discont = true;
        return SEQ_ACCEPT;
    }
    uint16_t delta = (uint16_t)(h->seq - d->max_seq);
    if (delta == 0)
        return SEQ_DROP;
    if (delta < MAX_DROPOUT) {
        *lost = delta - 1u;
        *discont = delta > 1;
        return SEQ_ACCEPT;
    }
    if (delta >= 0x10000u - MAX_MISORDER)
        return SEQ_DROP;
    if (h->seq == d->bad_seq) {
        *discont = true;
        return SEQ_ACCEPT;
    }
    d->bad_seq = (uint16_t)(h->seq + 1);
    return SEQ_DROP;
}

int cv_rtp_depack_push(cv_rtp_depack *d, const uint8_t *pkt, size_t len, cv_rtp_emit_fn emit, void *ctx)
{
    cv__rtp_pkt p;
    if (cv_rtp_parse(pkt, len, &p.h) < 0) {
        d->st.malformed++;
        return -EBADMSG;
    }
    uint64_t lost;
    if (classify_seq(d, &p.h, &p.discont, &lost) == SEQ_DROP)
        return 0;
    p.pts = d->have_ts ? d->ext_ts + (int32_t)(p.h.ts - d->last_ts) : (int64_t)p.h.ts;
    p.recv_us = cv_now_us();

    /* Nothing is committed for a malformed packet, so garbage (whatever its
     * sequence number) cannot disturb the packets that follow. */
    int res = d->ops->check(d, &p);
    if (res < 0) {
        d->st.malformed++;
        return res;
    }

    d->have_seq = true;
    d->ssrc = p.h.ssrc;
    d->max_seq = p.h.seq;
    d->bad_seq = NO_BAD_SEQ;
    d->have_ts = true;
    d->last_ts = p.h.ts;
    d->ext_ts = p.pts;
    d->st.lost += lost;
    d->st.packets++;
    d->st.bytes += p.h.payload_len;

    d->ops->apply(d, &p, emit, ctx);
    return 0;
}
