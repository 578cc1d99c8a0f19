/* libFuzzer target for the RTP depacketizers (and, on the way, the RTP and
 * RTCP parsers and the packetizers).
 *
 * Input: one config byte, then packets, each as a 16-bit big-endian length
 * followed by that many bytes (the last one may be short). A length of
 * 0xffff resets every depacketizer instead. Every packet goes to an H.264,
 * an H.265 and an AAC depacketizer; each frame they emit is packetized again
 * and depacketized by a second, clean instance, which must give back exactly
 * the same payload. Any mismatch aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtp/depack.h"
#include "rtp/pack.h"
#include "rtp/rtcp.h"
#include "rtp/reorder.h"
#include "rtp/rtp.h"

#include "fuzz-check.h"

typedef struct {
    cv_codec codec;
    cv_rtp_packer *packer;
    cv_rtp_depack *verify;
    const cv_frame *expect;
    unsigned got;
} repack;

static void on_verify(void *ctx, cv_frame *f)
{
    repack *r = ctx;
    if (!r->expect || r->got)
        abort(); /* exactly one frame per repacked frame */
    size_t n = cv_frame_len(f);
    if (n != cv_frame_len(r->expect) || memcmp(cv_frame_data(f), cv_frame_data(r->expect), n) != 0)
        abort();
    uint32_t mask = CV_FRAME_KEY | CV_FRAME_PARAMS;
    if ((f->meta.flags & mask) != (r->expect->meta.flags & mask))
        abort();
    r->got++;
}

static void on_frame(void *ctx, cv_frame *f)
{
    repack *r = ctx;
    size_t len = cv_frame_len(f);
    if (len == 0 || len > CV_DEPACK_MAX_AU)
        abort();
    cv_wire *w = NULL;
    int res = cv_rtp_packer_pack(r->packer, f, (uint32_t)f->meta.pts, 3, &w);
    if (res < 0) {
        /* Only AAC AUs beyond the 13-bit AU-size of AAC-hbr may be refused. */
        if (r->codec == CV_CODEC_AAC && len > 8191)
            return;
        abort();
    }
    r->expect = f;
    r->got = 0;
    size_t pos = 0;
    for (uint32_t i = 0; i < w->npkts; i++) {
        if (w->offs[i] != pos || w->len - pos < 4)
            abort();
        const uint8_t *il = w->data + pos;
        size_t n = (size_t)il[2] << 8 | il[3];
        if (il[0] != '$' || il[1] != 3 || w->len - pos - 4 < n)
            abort();
        if (cv_rtp_depack_push(r->verify, il + 4, n, on_verify, r) != 0)
            abort();
        pos += 4 + n;
    }
    if (pos != w->len || r->got != 1)
        abort();
    r->expect = NULL;
    cv_wire_free(w);
}

/* Reorder buffer oracle: every packet pushed comes out exactly once, or is
 * counted as a duplicate, and goes on to a depacketizer. */
typedef struct {
    cv_rtp_depack *d;
    repack *r;
    uint64_t released;
} reorder_sink;

static void on_released(void *ctx, const uint8_t *pkt, size_t len)
{
    reorder_sink *rs = ctx;
    rs->released++;
    (void)cv_rtp_depack_push(rs->d, pkt, len, on_frame, rs->r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t cfg = data[0];
    data++;
    size--;

    static const uint8_t aac_sizes[4][3] = {{13, 3, 3}, {6, 2, 2}, {16, 0, 0}, {0, 0, 0}};
    const uint8_t *as = aac_sizes[(cfg >> 4) & 3];
    size_t mtu = 128 + (size_t)(cfg & 0x0f) * 100;

    cv_track_info tv = {.kind = CV_MEDIA_VIDEO, .clock_rate = 90000};
    cv_track_info ta = {.kind = CV_MEDIA_AUDIO, .codec = CV_CODEC_AAC, .clock_rate = 48000,
                        .aac_sizelength = as[0], .aac_indexlength = as[1], .aac_indexdeltalength = as[2],
                        .aac_config = {0x11, 0x90}, .aac_config_len = (cfg & 0x40) ? 2 : 0};
    cv_track_info verify_aac = ta;
    verify_aac.aac_sizelength = 13;
    verify_aac.aac_indexlength = 3;
    verify_aac.aac_indexdeltalength = 3;

    cv_id cam = {{0}};
    cv_rtp_depack *d[3] = {0};
    repack r[3] = {{0}};
    cv_codec codecs[3] = {CV_CODEC_H264, CV_CODEC_H265, CV_CODEC_AAC};
    for (int i = 0; i < 3; i++) {
        cv_track_info t = i == 2 ? ta : tv;
        t.codec = codecs[i];
        cv_track_info vt = i == 2 ? verify_aac : t;
        r[i].codec = codecs[i];
        d[i] = cv_rtp_depack_new(&t, &cam, (uint8_t)i);
        r[i].verify = cv_rtp_depack_new(&vt, &cam, (uint8_t)i);
        r[i].packer = cv_rtp_packer_new(codecs[i], 96, 0x1234, (uint16_t)(cfg * 257), mtu);
        if (!d[i] || !r[i].verify || !r[i].packer)
            abort();
    }

    repack rr = {.codec = CV_CODEC_H264};
    cv_track_info th = tv;
    th.codec = CV_CODEC_H264;
    reorder_sink rs = {.d = cv_rtp_depack_new(&th, &cam, 3), .r = &rr};
    rr.verify = cv_rtp_depack_new(&th, &cam, 3);
    rr.packer = cv_rtp_packer_new(CV_CODEC_H264, 96, 0x1234, 1, mtu);
    cv_rtp_reorder *ro = cv_rtp_reorder_new(40000);
    if (!rs.d || !rr.verify || !rr.packer || !ro)
        abort();
    uint64_t pushed = 0;
    int64_t now = 0;

    while (size >= 2) {
        size_t n = (size_t)data[0] << 8 | data[1];
        data += 2;
        size -= 2;
        if (n == 0xffff) {
            for (int i = 0; i < 3; i++)
                cv_rtp_depack_reset(d[i]);
            continue;
        }
        if (n > size)
            n = size;
        /* Exact-size copy so ASan catches any read past the packet. */
        uint8_t *pkt = malloc(n ? n : 1);
        if (!pkt)
            abort();
        memcpy(pkt, data, n);
        data += n;
        size -= n;

        cv_rtp_hdr h;
        (void)cv_rtp_parse(pkt, n, &h);
        cv_rtcp_info info;
        (void)cv_rtcp_parse(pkt, n, &info);
        for (int i = 0; i < 3; i++)
            (void)cv_rtp_depack_push(d[i], pkt, n, on_frame, &r[i]);
        now += 1000 * (int64_t)(n & 0x1f); /* 0..31 ms between datagrams */
        cv_rtp_reorder_push(ro, pkt, n, now, on_released, &rs);
        pushed++;
        free(pkt);
    }
    cv_rtp_reorder_flush_due(ro, now + 3600 * 1000000LL, on_released, &rs);
    cv_rtp_reorder_stats rst;
    cv_rtp_reorder_get_stats(ro, &rst);
    if (rs.released + rst.duplicates != pushed)
        abort();
    cv_rtp_reorder_free(ro);
    cv_rtp_depack_free(rs.d);
    cv_rtp_depack_free(rr.verify);
    cv_rtp_packer_free(rr.packer);

    for (int i = 0; i < 3; i++) {
        cv_rtp_depack_stats st;
        cv_rtp_depack_get_stats(r[i].verify, &st);
        if (st.malformed || st.lost)
            abort();
        cv_rtp_depack_free(d[i]);
        cv_rtp_depack_free(r[i].verify);
        cv_rtp_packer_free(r[i].packer);
    }
    if (cv_frame_live_count() != 0)
        abort();
    return 0;
}
