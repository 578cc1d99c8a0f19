/* Packetizers. A frame is measured first (packet count, bytes), then written
 * in one pass into one data buffer and one offset table, both sized exactly:
 * this runs once per frame per camera and its output is shared by every
 * viewer. */
#include "rtp/pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "media/nal.h"
#include "rtp/rtp.h"

#define IL_HDR 4                    /* '$', channel, 16-bit length */
#define PKT_OVERHEAD (IL_HDR + CV_RTP_HDR_LEN)
#define AAC_HDRS 4                  /* AU-headers-length + one 16-bit AU header */
#define AAC_MAX_AU 8191u            /* 13-bit AU-size */

struct cv_rtp_packer {
    cv_codec codec;
    uint8_t pt;
    uint32_t ssrc;
    uint16_t seq;
    size_t max_pl; /* RTP payload bytes per packet */
    uint32_t packets, octets;
};

cv_rtp_packer *cv_rtp_packer_new(cv_codec codec, uint8_t payload_type, uint32_t ssrc, uint16_t first_seq,
                                 size_t mtu)
{
    switch (codec) {
    case CV_CODEC_H264:
    case CV_CODEC_H265:
    case CV_CODEC_AAC:
    case CV_CODEC_OPUS:
    case CV_CODEC_PCMU:
    case CV_CODEC_PCMA: break;
    case CV_CODEC_UNKNOWN:
    default: return NULL;
    }
    if (mtu < 128)
        return NULL;
    if (mtu > CV_RTP_MAX_PACKET)
        mtu = CV_RTP_MAX_PACKET; /* the interleaved length field is 16 bits */
    cv_rtp_packer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->codec = codec;
    p->pt = payload_type & 0x7f;
    p->ssrc = ssrc;
    p->seq = first_seq;
    p->max_pl = mtu - CV_RTP_HDR_LEN;
    return p;
}

void cv_rtp_packer_free(cv_rtp_packer *p) { free(p); }

uint16_t cv_rtp_packer_next_seq(const cv_rtp_packer *p) { return p->seq; }
uint32_t cv_rtp_packer_packets(const cv_rtp_packer *p) { return p->packets; }
uint32_t cv_rtp_packer_octets(const cv_rtp_packer *p) { return p->octets; }

/* What a frame turns into. */
typedef struct {
    size_t npkts;
    size_t payload; /* RTP payload bytes over all packets */
} plan;

static size_t div_up(size_t a, size_t b) { return a / b + (a % b != 0); }

static int plan_add(plan *pl, size_t npkts, size_t payload)
{
    if (__builtin_add_overflow(pl->npkts, npkts, &pl->npkts) ||
        __builtin_add_overflow(pl->payload, payload, &pl->payload))
        return -EINVAL;
    return 0;
}

static size_t nal_hdr_len(cv_codec c) { return c == CV_CODEC_H265 ? 2 : 1; }

static int plan_video(const cv_rtp_packer *p, const uint8_t *au, size_t len, plan *pl)
{
    size_t hdr = nal_hdr_len(p->codec), fu_hdr = hdr + 1, cap = p->max_pl - fu_hdr;
    cv_nal_iter it;
    const uint8_t *nal;
    size_t n;
    cv_nal_iter_init(&it, au, len);
    while (cv_nal_next(&it, &nal, &n)) {
        if (n < hdr)
            return -EINVAL;
        if (n <= p->max_pl) {
            if (plan_add(pl, 1, n) < 0)
                return -EINVAL;
            continue;
        }
        size_t body = n - hdr, frags = div_up(body, cap);
        if (plan_add(pl, frags, body + frags * fu_hdr) < 0)
            return -EINVAL;
    }
    /* Every byte must belong to a well-formed NAL. */
    return it.p == it.end && pl->npkts > 0 ? 0 : -EINVAL;
}

static int make_plan(const cv_rtp_packer *p, size_t len, const uint8_t *data, plan *pl)
{
    *pl = (plan){0, 0};
    if (len == 0)
        return -EINVAL;
    switch (p->codec) {
    case CV_CODEC_H264:
    case CV_CODEC_H265:
        return plan_video(p, data, len, pl);
    case CV_CODEC_AAC: {
        if (len > AAC_MAX_AU)
            return -EINVAL;
        size_t cap = p->max_pl - AAC_HDRS, frags = div_up(len, cap);
        return plan_add(pl, frags, len + frags * AAC_HDRS);
    }
    case CV_CODEC_OPUS:
        if (len > p->max_pl)
            return -EINVAL; /* an Opus packet cannot be split */
        return plan_add(pl, 1, len);
    case CV_CODEC_PCMU:
    case CV_CODEC_PCMA:
        return plan_add(pl, div_up(len, p->max_pl), len);
    default:
        return -EINVAL;
    }
}

/* Sequential writer over the exactly-sized wire. */
typedef struct {
    cv_rtp_packer *p;
    cv_wire *w;
    size_t pos;
    uint32_t idx;
    uint8_t channel;
} wr;

/* Writes the interleaved and RTP headers of a packet with plen payload
 * bytes and returns where the payload goes. */
static uint8_t *begin_pkt(wr *x, size_t plen, bool marker, uint32_t ts)
{
    uint8_t *o = x->w->data + x->pos;
    size_t rtp_len = CV_RTP_HDR_LEN + plen; /* <= mtu <= 65535 */
    x->w->offs[x->idx++] = (uint32_t)x->pos;
    o[0] = '$';
    o[1] = x->channel;
    cv_wr_be16(o + 2, (uint16_t)rtp_len);
    cv_rtp_write_hdr(o + IL_HDR, marker, x->p->pt, x->p->seq++, ts, x->p->ssrc);
    x->pos += IL_HDR + rtp_len;
    return o + PKT_OVERHEAD;
}

static void write_video(wr *x, const uint8_t *au, size_t len, uint32_t ts)
{
    cv_codec c = x->p->codec;
    size_t hdr = nal_hdr_len(c), fu_hdr = hdr + 1, cap = x->p->max_pl - fu_hdr;
    cv_nal_iter it;
    const uint8_t *nal;
    size_t n;
    cv_nal_iter_init(&it, au, len);
    while (cv_nal_next(&it, &nal, &n)) {
        bool last_nal = it.p == it.end;
        if (n <= x->p->max_pl) {
            memcpy(begin_pkt(x, n, last_nal, ts), nal, n);
            continue;
        }
        unsigned type = c == CV_CODEC_H265 ? cv_h265_nal_type(nal) : cv_h264_nal_type(nal);
        const uint8_t *body = nal + hdr;
        size_t left = n - hdr;
        bool first = true;
        while (left > 0) {
            size_t chunk = CV_MIN(left, cap);
            bool last = chunk == left;
            uint8_t *o = begin_pkt(x, fu_hdr + chunk, last && last_nal, ts);
            uint8_t fuh = (uint8_t)((first ? 0x80 : 0) | (last ? 0x40 : 0));
            if (c == CV_CODEC_H265) {
                o[0] = (uint8_t)((nal[0] & 0x81) | (49 << 1));
                o[1] = nal[1];
                o[2] = (uint8_t)(fuh | type);
            } else {
                o[0] = (uint8_t)((nal[0] & 0xe0) | 28);
                o[1] = (uint8_t)(fuh | type);
            }
            memcpy(o + fu_hdr, body, chunk);
            body += chunk;
            left -= chunk;
            first = false;
        }
    }
}

static void write_aac(wr *x, const uint8_t *au, size_t len, uint32_t ts)
{
    size_t cap = x->p->max_pl - AAC_HDRS, left = len;
    while (left > 0) {
        size_t chunk = CV_MIN(left, cap);
        /* RFC 3640 3.2.3: every fragment repeats the AU header with the
         * whole AU's size; M marks the last one. */
        uint8_t *o = begin_pkt(x, AAC_HDRS + chunk, chunk == left, ts);
        cv_wr_be16(o, 16);
        cv_wr_be16(o + 2, (uint16_t)(len << 3)); /* size:13, index:3 = 0 */
        memcpy(o + AAC_HDRS, au, chunk);
        au += chunk;
        left -= chunk;
    }
}

static void write_g711(wr *x, const uint8_t *data, size_t len, uint32_t ts)
{
    size_t left = len;
    while (left > 0) {
        size_t chunk = CV_MIN(left, x->p->max_pl);
        memcpy(begin_pkt(x, chunk, true, ts), data, chunk);
        data += chunk;
        left -= chunk;
        ts += (uint32_t)chunk; /* one byte per sample (mono) */
    }
}

int cv_rtp_packer_pack(cv_rtp_packer *p, const cv_frame *f, uint32_t rtp_ts, uint8_t channel, cv_wire **out)
{
    if (!p || !f || !f->payload || !out)
        return -EINVAL;
    const uint8_t *data = cv_frame_data(f);
    size_t len = cv_frame_len(f);
    plan pl;
    int res = make_plan(p, len, data, &pl);
    if (res < 0)
        return res;

    size_t total, hdrs;
    if (__builtin_mul_overflow(pl.npkts, (size_t)PKT_OVERHEAD, &hdrs) ||
        __builtin_add_overflow(hdrs, pl.payload, &total) || total > UINT32_MAX || pl.npkts > UINT32_MAX)
        return -EINVAL;

    cv_wire *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->data = malloc(total);
    w->offs = malloc(pl.npkts * sizeof(*w->offs)); /* npkts <= total / 16: no overflow */
    if (!w->data || !w->offs) {
        res = -ENOMEM;
        goto err;
    }
    w->rtp_ts = rtp_ts;
    w->first_seq = p->seq;
    w->npkts = (uint32_t)pl.npkts;
    w->len = total;

    wr x = {p, w, 0, 0, channel};
    switch (p->codec) {
    case CV_CODEC_H264:
    case CV_CODEC_H265: write_video(&x, data, len, rtp_ts); break;
    case CV_CODEC_AAC: write_aac(&x, data, len, rtp_ts); break;
    case CV_CODEC_OPUS: memcpy(begin_pkt(&x, len, true, rtp_ts), data, len); break;
    default: write_g711(&x, data, len, rtp_ts); break;
    }
    /* RFC 3550 counters wrap modulo 2^32. */
    p->packets += (uint32_t)pl.npkts;
    p->octets += (uint32_t)pl.payload;
    *out = w;
    return 0;
err:
    cv_wire_free(w);
    return res;
}
