/* Audio depacketization: AAC over RFC 3640 (mpeg4-generic), and the
 * one-packet-one-frame formats Opus (RFC 7587) and G.711. */
#include <errno.h>
#include <string.h>

#include "base/util.h"
#include "rtp/depack_int.h"

/* ---- MSB-first bit reader over explicit lengths ---- */

typedef struct {
    const uint8_t *p;
    size_t nbits, pos;
} bitrd;

static bool bits(bitrd *b, unsigned n, uint32_t *v)
{
    if (n > 32 || b->nbits - b->pos < n)
        return false;
    uint32_t x = 0;
    for (unsigned i = 0; i < n; i++, b->pos++)
        x = x << 1 | ((b->p[b->pos >> 3] >> (7 - (b->pos & 7))) & 1u);
    *v = x;
    return true;
}

/* ---- AudioSpecificConfig (ISO 14496-3 1.6.2.1), only what sets the AU duration ---- */

static const uint32_t aac_rates[16] = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050,
                                       16000, 12000, 11025, 8000,  7350,  0,     0,     0};

static bool get_aot(bitrd *b, uint32_t *aot)
{
    if (!bits(b, 5, aot))
        return false;
    if (*aot == 31) {
        uint32_t ext;
        if (!bits(b, 6, &ext))
            return false;
        *aot = 32 + ext;
    }
    return true;
}

static bool get_rate(bitrd *b, uint32_t *rate)
{
    uint32_t idx;
    if (!bits(b, 4, &idx))
        return false;
    if (idx == 15)
        return bits(b, 24, rate);
    *rate = aac_rates[idx];
    return true;
}

unsigned cv__aac_frame_len(const uint8_t *asc, size_t len, uint32_t clock_rate)
{
    bitrd b = {asc, len * 8, 0};
    uint32_t aot, rate, ext_rate = 0, chan, flf, skip;
    bool sbr = false;
    if (!asc || !get_aot(&b, &aot) || !get_rate(&b, &rate) || !bits(&b, 4, &chan))
        return 1024;
    if (aot == 5 || aot == 29) {
        sbr = true;
        if (!get_rate(&b, &ext_rate) || !get_aot(&b, &aot))
            return 1024;
        if (aot == 22 && !bits(&b, 4, &skip))
            return 1024;
    }
    unsigned frame = 1024;
    switch (aot) {
    case 1: case 2: case 3: case 4: case 6: case 7:
    case 17: case 19: case 20: case 21: case 22:
        if (bits(&b, 1, &flf) && flf)
            frame = 960;
        break;
    case 23: /* AAC-LD */
        frame = bits(&b, 1, &flf) && flf ? 480 : 512;
        break;
    default:
        break;
    }
    /* Explicit HE-AAC: the core codes half the output samples; when the RTP
     * clock runs at the output rate an AU spans twice the core frame. */
    if (sbr && ext_rate && clock_rate == ext_rate && rate != ext_rate)
        frame *= 2;
    return frame;
}

/* ---- RFC 3640 AU headers ---- */

typedef struct {
    bitrd hdr;             /* the AU-headers section */
    unsigned count;        /* AU headers */
    uint32_t first_size;
    size_t total;          /* sum of AU sizes */
    const uint8_t *data;   /* the AU data section */
    size_t data_len;
} aac_layout;

static bool next_size(const cv_rtp_depack *d, bitrd *b, bool first, uint32_t *size)
{
    uint32_t idx;
    return bits(b, d->aac_size_bits, size) && bits(b, first ? d->aac_index_bits : d->aac_delta_bits, &idx);
}

static int aac_parse(const cv_rtp_depack *d, const uint8_t *pl, size_t n, aac_layout *l)
{
    cv_rd r = {pl, pl + n};
    uint16_t hdr_bits;
    if (!cv_rd_be16(&r, &hdr_bits) || hdr_bits == 0)
        return -EBADMSG;
    size_t hdr_bytes = ((size_t)hdr_bits + 7) / 8;
    if (cv_rd_left(&r) < hdr_bytes)
        return -EBADMSG;
    l->hdr = (bitrd){r.p, hdr_bits, 0};
    l->data = r.p + hdr_bytes;
    l->data_len = cv_rd_left(&r) - hdr_bytes;
    l->count = 0;
    l->total = 0;
    bitrd b = l->hdr;
    while (b.pos < b.nbits) {
        uint32_t size;
        if (!next_size(d, &b, l->count == 0, &size) || size == 0)
            return -EBADMSG;
        if (l->count == 0)
            l->first_size = size;
        if (__builtin_add_overflow(l->total, (size_t)size, &l->total))
            return -EBADMSG;
        l->count++;
    }
    if (l->count == 0)
        return -EBADMSG;
    return 0;
}

static bool is_fragment(const aac_layout *l) { return l->count == 1 && l->first_size > l->data_len; }

static bool frag_continues(const cv_rtp_depack *d, const cv__rtp_pkt *p, const aac_layout *l)
{
    return d->frag_active && !p->discont && d->frag_ts == p->h.ts && d->frag_size == l->first_size;
}

static bool frag_skipped(const cv_rtp_depack *d, const cv__rtp_pkt *p)
{
    return p->discont || (d->frag_skip && d->frag_skip_ts == p->h.ts);
}

static int check_aac(const cv_rtp_depack *d, const cv__rtp_pkt *p)
{
    aac_layout l;
    if (aac_parse(d, p->h.payload, p->h.payload_len, &l) < 0)
        return -EBADMSG;
    if (!is_fragment(&l))
        return l.total <= l.data_len ? 0 : -EBADMSG;
    if (frag_continues(d, p, &l)) {
        size_t got = d->len + l.data_len;
        if (got > l.first_size || (p->h.marker && got < l.first_size))
            return -EBADMSG;
        return 0;
    }
    if (frag_skipped(d, p))
        return 0;
    /* A first fragment: M=1 would claim a complete AU that does not fit. */
    return p->h.marker ? -EBADMSG : 0;
}

static void drop_frag(cv_rtp_depack *d)
{
    if (!d->frag_active)
        return;
    d->frag_active = false;
    d->len = 0;
    d->st.dropped++;
}

static void skip_frag_ts(cv_rtp_depack *d, uint32_t ts)
{
    d->frag_skip = true;
    d->frag_skip_ts = ts;
}

static void apply_aac(cv_rtp_depack *d, const cv__rtp_pkt *p, cv_rtp_emit_fn emit, void *ctx)
{
    aac_layout l;
    if (aac_parse(d, p->h.payload, p->h.payload_len, &l) < 0)
        return; /* checked already */
    if (d->frag_skip && d->frag_skip_ts != p->h.ts)
        d->frag_skip = false;

    if (!is_fragment(&l)) {
        drop_frag(d); /* an unfinished fragmented AU */
        const uint8_t *au = l.data;
        bitrd b = l.hdr;
        for (unsigned k = 0; k < l.count; k++) {
            uint32_t size;
            if (!next_size(d, &b, k == 0, &size))
                break;
            int64_t pts = p->pts + (int64_t)k * d->aac_frame_len;
            cv__depack_emit(d, au, size, pts, CV_FRAME_KEY, p->recv_us, emit, ctx);
            au += size;
        }
        return;
    }

    if (frag_continues(d, p, &l)) {
        memcpy(d->buf + d->len, l.data, l.data_len); /* reserved for the whole AU at its start */
        d->len += l.data_len;
        if (d->len == d->frag_size) {
            cv__depack_emit(d, d->buf, d->len, d->frag_pts, CV_FRAME_KEY, p->recv_us, emit, ctx);
            d->frag_active = false;
            d->len = 0;
        }
        return;
    }
    drop_frag(d);
    if (frag_skipped(d, p)) {
        /* Where this fragment sits in its AU is unknown after a loss. */
        skip_frag_ts(d, p->h.ts);
        return;
    }
    d->len = 0;
    if (!cv__depack_reserve(d, l.first_size)) {
        d->st.dropped++; /* larger than CV_DEPACK_MAX_AU (or no memory) */
        skip_frag_ts(d, p->h.ts);
        return;
    }
    memcpy(d->buf, l.data, l.data_len);
    d->len = l.data_len;
    d->frag_active = true;
    d->frag_ts = p->h.ts;
    d->frag_pts = p->pts;
    d->frag_size = l.first_size;
}

static void reset_aac(cv_rtp_depack *d)
{
    d->frag_active = false;
    d->frag_skip = false;
    d->len = 0;
}

/* ---- Opus and G.711: the payload is the frame ---- */

static int check_simple(const cv_rtp_depack *d, const cv__rtp_pkt *p)
{
    return p->h.payload_len > 0 ? 0 : -EBADMSG;
}

static void apply_simple(cv_rtp_depack *d, const cv__rtp_pkt *p, cv_rtp_emit_fn emit, void *ctx)
{
    cv__depack_emit(d, p->h.payload, p->h.payload_len, p->pts, CV_FRAME_KEY, p->recv_us, emit, ctx);
}

static void reset_simple(cv_rtp_depack *d) {}

const cv__depack_ops cv__depack_aac_ops = {check_aac, apply_aac, reset_aac};
const cv__depack_ops cv__depack_simple_ops = {check_simple, apply_simple, reset_simple};
