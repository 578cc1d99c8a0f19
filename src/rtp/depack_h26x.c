/* H.264 (RFC 6184) and H.265 (RFC 7798) depacketization into length-prefixed
 * access units. The two formats differ only in header sizes and type
 * numbers, so one assembler serves both through a small descriptor. */
#include <errno.h>
#include <string.h>

#include "base/util.h"
#include "media/nal.h"
#include "rtp/depack_int.h"

enum { K_SINGLE, K_AGG, K_FU, K_IGNORE, K_BAD };

typedef struct {
    cv_codec codec;
    size_t hdr_len;    /* NAL unit header bytes */
    size_t fu_hdr_len; /* payload header + FU header */
    int (*kind)(const uint8_t *pl);
    /* May a NAL of this type appear inside an aggregation or FU? */
    bool (*inner_ok)(unsigned type);
    unsigned (*nal_type)(const uint8_t *nal);
    unsigned fu_type_mask;
    /* Rebuilds the fragmented NAL's header from the payload header. */
    void (*fu_nal_hdr)(const uint8_t *pl, unsigned type, uint8_t *out);
} h26x_desc;

static int h264_kind(const uint8_t *pl)
{
    unsigned t = pl[0] & 0x1f;
    if (t >= 1 && t <= 23)
        return K_SINGLE;
    switch (t) {
    case 24: return K_AGG;                   /* STAP-A */
    case 28: return K_FU;                    /* FU-A */
    case 25: case 26: case 27: case 29:      /* STAP-B, MTAP16/24, FU-B: interleaved mode only */
        return K_BAD;
    default: return K_IGNORE;                /* 0, 30, 31: undefined, receivers ignore them */
    }
}

static bool h264_inner_ok(unsigned t) { return t >= 1 && t <= 23; }
static unsigned h264_type(const uint8_t *nal) { return cv_h264_nal_type(nal); }

static void h264_fu_hdr(const uint8_t *pl, unsigned type, uint8_t *out)
{
    out[0] = (uint8_t)((pl[0] & 0xe0) | type); /* F and NRI from the indicator */
}

static int h265_kind(const uint8_t *pl)
{
    unsigned t = cv_h265_nal_type(pl);
    if (t <= 47)
        return K_SINGLE;
    switch (t) {
    case 48: return K_AGG;  /* AP */
    case 49: return K_FU;   /* FU */
    case 50: return K_BAD;  /* PACI: not supported, its content would be lost */
    default: return K_IGNORE;
    }
}

static bool h265_inner_ok(unsigned t) { return t <= 47; }
static unsigned h265_type(const uint8_t *nal) { return cv_h265_nal_type(nal); }

static void h265_fu_hdr(const uint8_t *pl, unsigned type, uint8_t *out)
{
    out[0] = (uint8_t)((pl[0] & 0x81) | (type << 1)); /* keep F and the LayerId high bit */
    out[1] = pl[1];                                    /* LayerId low bits, TID */
}

static const h26x_desc h264_desc = {
    .codec = CV_CODEC_H264,
    .hdr_len = 1,
    .fu_hdr_len = 2,
    .kind = h264_kind,
    .inner_ok = h264_inner_ok,
    .nal_type = h264_type,
    .fu_type_mask = 0x1f,
    .fu_nal_hdr = h264_fu_hdr,
};

static const h26x_desc h265_desc = {
    .codec = CV_CODEC_H265,
    .hdr_len = 2,
    .fu_hdr_len = 3,
    .kind = h265_kind,
    .inner_ok = h265_inner_ok,
    .nal_type = h265_type,
    .fu_type_mask = 0x3f,
    .fu_nal_hdr = h265_fu_hdr,
};

/* ---- validation (no state changes) ---- */

static int check_agg(const h26x_desc *c, const uint8_t *pl, size_t n)
{
    cv_rd r = {pl + c->hdr_len, pl + n};
    unsigned count = 0;
    while (cv_rd_left(&r) > 0) {
        uint16_t sz;
        if (!cv_rd_be16(&r, &sz) || sz < c->hdr_len || cv_rd_left(&r) < sz)
            return -EBADMSG;
        if (!c->inner_ok(c->nal_type(r.p)))
            return -EBADMSG;
        r.p += sz;
        count++;
    }
    return count > 0 ? 0 : -EBADMSG;
}

static bool fu_continues(const cv_rtp_depack *d, const cv__rtp_pkt *p, unsigned type)
{
    return d->fu_active && !p->discont && d->au_open && d->au_ts == p->h.ts && d->fu_type == type;
}

static int check_h26x(const h26x_desc *c, const cv_rtp_depack *d, const cv__rtp_pkt *p)
{
    const uint8_t *pl = p->h.payload;
    size_t n = p->h.payload_len;
    if (n < c->hdr_len)
        return -EBADMSG;
    switch (c->kind(pl)) {
    case K_SINGLE:
    case K_IGNORE:
        return 0;
    case K_AGG:
        return check_agg(c, pl, n);
    case K_FU: {
        if (n < c->fu_hdr_len)
            return -EBADMSG;
        uint8_t fuh = pl[c->fu_hdr_len - 1];
        bool s = fuh & 0x80, e = fuh & 0x40;
        unsigned type = fuh & c->fu_type_mask;
        if ((s && e) || !c->inner_ok(type))
            return -EBADMSG;
        /* A fragment without its start is expected after a loss, and is
         * silently discarded then; otherwise the sender is broken. */
        if (!s && !fu_continues(d, p, type) && !p->discont && !d->fu_lost)
            return -EBADMSG;
        return 0;
    }
    default:
        return -EBADMSG;
    }
}

/* ---- assembly ---- */

static void note_nal(const h26x_desc *c, cv_rtp_depack *d, const uint8_t *nal, size_t len)
{
    d->au_nals++;
    if (cv_nal_is_key(c->codec, nal, len))
        d->au_flags |= CV_FRAME_KEY;
    if (cv_nal_param_kind(c->codec, nal, len) > 0)
        d->au_flags |= CV_FRAME_PARAMS;
}

static void add_nal(const h26x_desc *c, cv_rtp_depack *d, const uint8_t *nal, size_t len)
{
    if (d->au_oversize)
        return;
    if (d->au_nals >= CV__DEPACK_MAX_NALS || !cv__depack_reserve(d, 4 + len)) {
        d->au_oversize = true;
        return;
    }
    cv_wr_be32(d->buf + d->len, (uint32_t)len);
    memcpy(d->buf + d->len + 4, nal, len);
    d->len += 4 + len;
    note_nal(c, d, nal, len);
}

static void drop_partial_fu(cv_rtp_depack *d)
{
    if (!d->fu_active)
        return;
    d->fu_active = false;
    if (d->fu_off <= d->len)
        d->len = d->fu_off;
}

/* The partial NAL can never be completed: drop it and taint the AU. */
static void abort_fu(cv_rtp_depack *d)
{
    if (!d->fu_active)
        return;
    drop_partial_fu(d);
    d->au_flags |= CV_FRAME_CORRUPT;
}

static void begin_fu(const h26x_desc *c, cv_rtp_depack *d, const uint8_t *pl, size_t n, unsigned type)
{
    d->fu_active = true;
    d->fu_type = (uint8_t)type;
    d->fu_off = d->len;
    if (d->au_oversize)
        return;
    size_t data_len = n - c->fu_hdr_len;
    if (d->au_nals >= CV__DEPACK_MAX_NALS || !cv__depack_reserve(d, 4 + c->hdr_len + data_len)) {
        d->au_oversize = true;
        return;
    }
    uint8_t *w = d->buf + d->len;
    memset(w, 0, 4); /* length patched when the last fragment arrives */
    c->fu_nal_hdr(pl, type, w + 4);
    memcpy(w + 4 + c->hdr_len, pl + c->fu_hdr_len, data_len);
    d->len += 4 + c->hdr_len + data_len;
}

static void append_fu(const h26x_desc *c, cv_rtp_depack *d, const uint8_t *pl, size_t n)
{
    if (d->au_oversize)
        return;
    size_t data_len = n - c->fu_hdr_len;
    if (!cv__depack_reserve(d, data_len)) {
        d->au_oversize = true;
        return;
    }
    memcpy(d->buf + d->len, pl + c->fu_hdr_len, data_len);
    d->len += data_len;
}

static void end_fu(const h26x_desc *c, cv_rtp_depack *d)
{
    d->fu_active = false;
    if (d->au_oversize)
        return;
    uint8_t *nal = d->buf + d->fu_off + 4;
    size_t len = d->len - d->fu_off - 4;
    cv_wr_be32(d->buf + d->fu_off, (uint32_t)len);
    note_nal(c, d, nal, len);
}

static void clear_au(cv_rtp_depack *d)
{
    d->au_open = false;
    d->au_oversize = false;
    d->fu_active = false;
    d->au_flags = 0;
    d->au_nals = 0;
    d->len = 0;
}

static void finish_au(cv_rtp_depack *d, cv_rtp_emit_fn emit, void *ctx)
{
    abort_fu(d);
    if (d->au_oversize)
        d->st.dropped++;
    else if (d->au_nals > 0)
        cv__depack_emit(d, d->buf, d->len, d->au_pts, d->au_flags, d->au_recv_us, emit, ctx);
    else if (d->au_flags & CV_FRAME_CORRUPT)
        d->st.dropped++; /* everything it had was lost */
    clear_au(d);
}

static void open_au(cv_rtp_depack *d, const cv__rtp_pkt *p)
{
    clear_au(d);
    d->au_open = true;
    d->au_ts = p->h.ts;
    d->au_pts = p->pts;
}

static void apply_h26x(const h26x_desc *c, cv_rtp_depack *d, const cv__rtp_pkt *p, cv_rtp_emit_fn emit,
                       void *ctx)
{
    const uint8_t *pl = p->h.payload;
    size_t n = p->h.payload_len;

    if (p->discont) {
        /* The lost packets belong to the open AU, the next one, or both. */
        if (d->au_open)
            d->au_flags |= CV_FRAME_CORRUPT;
        drop_partial_fu(d);
        d->fu_lost = true;
        d->pending_corrupt = true;
    }
    if (d->au_open && d->au_ts != p->h.ts)
        finish_au(d, emit, ctx);
    if (!d->au_open)
        open_au(d, p);
    if (d->pending_corrupt) {
        d->au_flags |= CV_FRAME_CORRUPT;
        d->pending_corrupt = false;
    }
    d->au_recv_us = p->recv_us;

    switch (c->kind(pl)) {
    case K_SINGLE:
        abort_fu(d);
        d->fu_lost = false;
        add_nal(c, d, pl, n);
        break;
    case K_AGG: {
        abort_fu(d);
        d->fu_lost = false;
        cv_rd r = {pl + c->hdr_len, pl + n};
        uint16_t sz;
        while (cv_rd_be16(&r, &sz) && cv_rd_left(&r) >= sz) { /* checked already */
            add_nal(c, d, r.p, sz);
            r.p += sz;
        }
        break;
    }
    case K_FU: {
        uint8_t fuh = pl[c->fu_hdr_len - 1];
        unsigned type = fuh & c->fu_type_mask;
        if (fuh & 0x80) {
            abort_fu(d);
            d->fu_lost = false;
            begin_fu(c, d, pl, n, type);
        } else if (fu_continues(d, p, type)) {
            append_fu(c, d, pl, n);
            if (fuh & 0x40)
                end_fu(c, d);
        } else {
            abort_fu(d);
            d->au_flags |= CV_FRAME_CORRUPT; /* orphan fragment of a NAL whose start was lost */
        }
        break;
    }
    default:
        break;
    }

    if (p->h.marker)
        finish_au(d, emit, ctx);
}

static void reset_h26x(cv_rtp_depack *d)
{
    clear_au(d);
    d->fu_lost = false;
    d->pending_corrupt = false;
}

static int check_h264(const cv_rtp_depack *d, const cv__rtp_pkt *p) { return check_h26x(&h264_desc, d, p); }
static int check_h265(const cv_rtp_depack *d, const cv__rtp_pkt *p) { return check_h26x(&h265_desc, d, p); }

static void apply_h264(cv_rtp_depack *d, const cv__rtp_pkt *p, cv_rtp_emit_fn emit, void *ctx)
{
    apply_h26x(&h264_desc, d, p, emit, ctx);
}

static void apply_h265(cv_rtp_depack *d, const cv__rtp_pkt *p, cv_rtp_emit_fn emit, void *ctx)
{
    apply_h26x(&h265_desc, d, p, emit, ctx);
}

const cv__depack_ops cv__depack_h264_ops = {check_h264, apply_h264, reset_h26x};
const cv__depack_ops cv__depack_h265_ops = {check_h265, apply_h265, reset_h26x};
