/* Tests for the packetizers (src/rtp/pack.c). Round trips through the
 * depacketizers live in the test-depack-* files as well. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "rtp/depack.h"
#include "rtp/pack.h"
#include "rtp/rtp.h"

static cv_frame *mkframe(const uint8_t *data, size_t len)
{
    cv_frame_meta m = {0};
    cv_frame *f = cv_frame_new(&m, cv_payload_copy(data, len));
    assert_non_null(f);
    return f;
}

/* One length-prefixed NAL: header bytes hdr (1 or 2), then len-hdr_len body bytes. */
static size_t mknal(uint8_t *out, const uint8_t *hdr, size_t hdr_len, size_t len)
{
    cv_wr_be32(out, (uint32_t)len);
    memcpy(out + 4, hdr, hdr_len);
    for (size_t i = hdr_len; i < len; i++)
        out[4 + i] = (uint8_t)(i * 3 + 1);
    return 4 + len;
}

typedef struct {
    const uint8_t *il;  /* interleaved header */
    cv_rtp_hdr h;
} pkt_view;

/* Checks the wire's framing invariants and parses packet i. */
static pkt_view view(const cv_wire *w, uint32_t i, uint8_t channel)
{
    pkt_view v;
    assert_true(i < w->npkts);
    assert_true(w->offs[i] + 4 <= w->len);
    v.il = w->data + w->offs[i];
    assert_int_equal(v.il[0], '$');
    assert_int_equal(v.il[1], channel);
    size_t n = cv_be16(v.il + 2);
    size_t next = i + 1 < w->npkts ? w->offs[i + 1] : w->len;
    assert_int_equal(w->offs[i] + 4 + n, next); /* packets are contiguous, nothing else in between */
    assert_int_equal(cv_rtp_parse(v.il + 4, n, &v.h), 0);
    return v;
}

static void test_pack_h264_single_nal_packets(void **state)
{
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_H264, 96, 0xdeadbeef, 1000, CV_RTP_DEFAULT_MTU);
    assert_non_null(p);
    uint8_t au[256];
    size_t o = 0;
    o += mknal(au + o, (const uint8_t[]){0x67}, 1, 10);
    o += mknal(au + o, (const uint8_t[]){0x68}, 1, 4);
    o += mknal(au + o, (const uint8_t[]){0x65}, 1, 100);
    cv_frame *f = mkframe(au, o);
    cv_wire *w = NULL;
    assert_int_equal(cv_rtp_packer_pack(p, f, 90000, 4, &w), 0);
    assert_int_equal(w->npkts, 3);
    assert_int_equal(w->first_seq, 1000);
    assert_int_equal(w->rtp_ts, 90000);
    assert_int_equal(w->offs[0], 0);
    assert_int_equal(w->len, 3 * 16 + 114);
    size_t nal_off = 4;
    size_t lens[] = {10, 4, 100};
    for (uint32_t i = 0; i < 3; i++) {
        pkt_view v = view(w, i, 4);
        assert_int_equal(v.h.seq, 1000 + i);
        assert_int_equal(v.h.ts, 90000);
        assert_int_equal(v.h.ssrc, 0xdeadbeef);
        assert_int_equal(v.h.payload_type, 96);
        assert_int_equal(v.h.marker, i == 2);
        assert_int_equal(v.h.payload_len, lens[i]);
        assert_memory_equal(v.h.payload, au + nal_off, lens[i]);
        nal_off += lens[i] + 4;
    }
    assert_int_equal(cv_rtp_packer_next_seq(p), 1003);
    assert_int_equal(cv_rtp_packer_packets(p), 3);
    assert_int_equal(cv_rtp_packer_octets(p), 114);
    cv_wire_free(w);
    cv_frame_unref(f);
    cv_rtp_packer_free(p);
}

static void test_pack_h264_fu_a(void **state)
{
    const size_t mtu = 200, max_pl = mtu - 12, len = 1000;
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_H264, 96, 1, 65534, mtu);
    uint8_t au[1004];
    mknal(au, (const uint8_t[]){0x65}, 1, len);
    cv_frame *f = mkframe(au, sizeof(au));
    cv_wire *w = NULL;
    assert_int_equal(cv_rtp_packer_pack(p, f, 7, 0, &w), 0);
    size_t expect_pkts = (len - 1 + (max_pl - 2) - 1) / (max_pl - 2);
    assert_int_equal(w->npkts, expect_pkts);
    size_t body = 0;
    for (uint32_t i = 0; i < w->npkts; i++) {
        pkt_view v = view(w, i, 0);
        assert_true(v.h.payload_len <= max_pl);
        assert_int_equal(v.h.seq, (uint16_t)(65534 + i)); /* wraps */
        assert_int_equal(v.h.marker, i + 1 == w->npkts);
        assert_int_equal(v.h.payload[0], 0x60 | 28); /* NRI 3 kept */
        uint8_t fuh = v.h.payload[1];
        assert_int_equal(fuh & 0x1f, 5);
        assert_int_equal(!!(fuh & 0x80), i == 0);
        assert_int_equal(!!(fuh & 0x40), i + 1 == w->npkts);
        assert_int_equal(fuh & 0x20, 0);
        assert_memory_equal(v.h.payload + 2, au + 5 + body, v.h.payload_len - 2);
        body += v.h.payload_len - 2;
    }
    assert_int_equal(body, len - 1);
    assert_int_equal(cv_rtp_packer_octets(p), len - 1 + 2 * w->npkts);
    cv_wire_free(w);
    cv_frame_unref(f);
    cv_rtp_packer_free(p);
}

static void test_pack_h264_boundary_sizes(void **state)
{
    /* A NAL of exactly mtu-12 bytes is a single packet; one more byte needs FU-A. */
    const size_t mtu = 128, max_pl = 116;
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_H264, 96, 1, 0, mtu);
    uint8_t au[4 + 200];
    cv_wire *w = NULL;
    mknal(au, (const uint8_t[]){0x41}, 1, max_pl);
    cv_frame *f = mkframe(au, 4 + max_pl);
    assert_int_equal(cv_rtp_packer_pack(p, f, 0, 0, &w), 0);
    assert_int_equal(w->npkts, 1);
    assert_int_equal(w->len, 16 + max_pl);
    cv_wire_free(w);
    cv_frame_unref(f);
    mknal(au, (const uint8_t[]){0x41}, 1, max_pl + 1);
    f = mkframe(au, 4 + max_pl + 1);
    assert_int_equal(cv_rtp_packer_pack(p, f, 0, 0, &w), 0);
    assert_int_equal(w->npkts, 2);
    assert_int_equal(view(w, 0, 0).h.payload_len, max_pl);
    assert_int_equal(view(w, 1, 0).h.payload_len, 2 + 2);
    cv_wire_free(w);
    cv_frame_unref(f);
    cv_rtp_packer_free(p);
}

static void test_pack_h265_fu(void **state)
{
    const size_t mtu = 300, len = 2000;
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_H265, 98, 1, 0, mtu);
    uint8_t au[4 + 2000];
    const uint8_t hdr[] = {19 << 1 | 1, 0x2b}; /* IDR_W_RADL, LayerId 37, TID 3 */
    mknal(au, hdr, 2, len);
    cv_frame *f = mkframe(au, sizeof(au));
    cv_wire *w = NULL;
    assert_int_equal(cv_rtp_packer_pack(p, f, 0, 1, &w), 0);
    assert_true(w->npkts > 1);
    size_t body = 0;
    for (uint32_t i = 0; i < w->npkts; i++) {
        pkt_view v = view(w, i, 1);
        assert_true(v.h.payload_len <= mtu - 12);
        assert_int_equal((v.h.payload[0] >> 1) & 0x3f, 49);
        assert_int_equal(v.h.payload[0] & 0x81, hdr[0] & 0x81);
        assert_int_equal(v.h.payload[1], hdr[1]);
        uint8_t fuh = v.h.payload[2];
        assert_int_equal(fuh & 0x3f, 19);
        assert_int_equal(!!(fuh & 0x80), i == 0);
        assert_int_equal(!!(fuh & 0x40), i + 1 == w->npkts);
        assert_int_equal(v.h.marker, i + 1 == w->npkts);
        assert_memory_equal(v.h.payload + 3, au + 6 + body, v.h.payload_len - 3);
        body += v.h.payload_len - 3;
    }
    assert_int_equal(body, len - 2);
    cv_wire_free(w);
    cv_frame_unref(f);

    /* A small one goes as is. */
    mknal(au, hdr, 2, 2);
    f = mkframe(au, 6);
    assert_int_equal(cv_rtp_packer_pack(p, f, 0, 1, &w), 0);
    assert_int_equal(w->npkts, 1);
    assert_int_equal(view(w, 0, 1).h.payload_len, 2);
    assert_true(view(w, 0, 1).h.marker);
    cv_wire_free(w);
    cv_frame_unref(f);
    cv_rtp_packer_free(p);
}

static void test_pack_aac_single_and_fragmented(void **state)
{
    const size_t mtu = 200, cap = mtu - 12 - 4;
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_AAC, 97, 5, 10, mtu);
    uint8_t au[1000];
    for (size_t i = 0; i < sizeof(au); i++)
        au[i] = (uint8_t)i;
    cv_frame *f = mkframe(au, 100);
    cv_wire *w = NULL;
    assert_int_equal(cv_rtp_packer_pack(p, f, 1024, 2, &w), 0);
    assert_int_equal(w->npkts, 1);
    pkt_view v = view(w, 0, 2);
    assert_true(v.h.marker);
    assert_int_equal(v.h.payload_len, 104);
    assert_int_equal(cv_be16(v.h.payload), 16);
    assert_int_equal(cv_be16(v.h.payload + 2), 100 << 3);
    assert_memory_equal(v.h.payload + 4, au, 100);
    cv_wire_free(w);
    cv_frame_unref(f);

    f = mkframe(au, sizeof(au));
    assert_int_equal(cv_rtp_packer_pack(p, f, 2048, 2, &w), 0);
    assert_int_equal(w->npkts, (sizeof(au) + cap - 1) / cap);
    size_t off = 0;
    for (uint32_t i = 0; i < w->npkts; i++) {
        v = view(w, i, 2);
        assert_int_equal(v.h.ts, 2048);
        assert_int_equal(v.h.seq, 11 + i);
        assert_int_equal(v.h.marker, i + 1 == w->npkts); /* RFC 3640: M on the last fragment */
        assert_int_equal(cv_be16(v.h.payload), 16);
        assert_int_equal(cv_be16(v.h.payload + 2), sizeof(au) << 3);
        assert_memory_equal(v.h.payload + 4, au + off, v.h.payload_len - 4);
        off += v.h.payload_len - 4;
    }
    assert_int_equal(off, sizeof(au));
    cv_wire_free(w);
    cv_frame_unref(f);
    cv_rtp_packer_free(p);
}

static void test_pack_opus_and_g711(void **state)
{
    uint8_t data[1000];
    memset(data, 0x55, sizeof(data));
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_OPUS, 111, 5, 0, 400);
    cv_frame *f = mkframe(data, 388);
    cv_wire *w = NULL;
    assert_int_equal(cv_rtp_packer_pack(p, f, 960, 0, &w), 0);
    assert_int_equal(w->npkts, 1);
    assert_true(view(w, 0, 0).h.marker);
    assert_int_equal(view(w, 0, 0).h.payload_len, 388);
    cv_wire_free(w);
    cv_frame_unref(f);
    f = mkframe(data, 389); /* Opus cannot be split */
    w = NULL;
    assert_int_equal(cv_rtp_packer_pack(p, f, 960, 0, &w), -EINVAL);
    assert_null(w);
    cv_frame_unref(f);
    cv_rtp_packer_free(p);

    p = cv_rtp_packer_new(CV_CODEC_PCMU, 0, 5, 0, 128);
    f = mkframe(data, 300);
    assert_int_equal(cv_rtp_packer_pack(p, f, 0xffffff90u, 0, &w), 0);
    assert_int_equal(w->npkts, 3);
    uint32_t ts = 0xffffff90u;
    for (uint32_t i = 0; i < 3; i++) {
        pkt_view v = view(w, i, 0);
        assert_int_equal(v.h.ts, ts);
        assert_int_equal(v.h.payload_type, 0);
        ts += (uint32_t)v.h.payload_len;
    }
    assert_int_equal(ts, 0xffffff90u + 300);
    assert_int_equal(cv_rtp_packer_octets(p), 300);
    cv_wire_free(w);
    cv_frame_unref(f);
    cv_rtp_packer_free(p);
}

static void test_pack_rejects_bad_input(void **state)
{
    assert_null(cv_rtp_packer_new(CV_CODEC_H264, 96, 1, 0, 127));
    assert_null(cv_rtp_packer_new(CV_CODEC_UNKNOWN, 96, 1, 0, 1400));
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_H264, 96, 1, 0, 1400);
    cv_rtp_packer *p5 = cv_rtp_packer_new(CV_CODEC_H265, 96, 1, 0, 1400);
    cv_rtp_packer *pa = cv_rtp_packer_new(CV_CODEC_AAC, 96, 1, 0, 1400);
    cv_wire *w = NULL;
    struct {
        cv_rtp_packer *p;
        uint8_t data[16];
        size_t len;
    } bad[] = {
        {p, {0}, 0},                                  /* empty */
        {p, {0, 0, 0, 5, 0x41, 1}, 6},                /* length past the end */
        {p, {0, 0, 0, 1, 0x41, 0, 0}, 7},             /* trailing garbage */
        {p, {0, 0, 0, 0, 0, 0, 0, 1, 0x41}, 9},       /* zero-length NAL */
        {p, {0x41, 1, 2}, 3},                         /* start code style / no prefix */
        {p5, {0, 0, 0, 1, 0x02}, 5},                  /* H.265 NAL shorter than its header */
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        cv_frame *f = mkframe(bad[i].data, bad[i].len);
        assert_int_equal(cv_rtp_packer_pack(bad[i].p, f, 0, 0, &w), -EINVAL);
        assert_null(w);
        cv_frame_unref(f);
    }
    uint8_t big[8192] = {0};
    cv_frame *f = mkframe(big, sizeof(big)); /* AAC AU beyond 13 bits */
    assert_int_equal(cv_rtp_packer_pack(pa, f, 0, 0, &w), -EINVAL);
    cv_frame_unref(f);
    /* Nothing was consumed by the failures. */
    assert_int_equal(cv_rtp_packer_next_seq(p), 0);
    assert_int_equal(cv_rtp_packer_packets(p), 0);
    cv_rtp_packer_free(p);
    cv_rtp_packer_free(p5);
    cv_rtp_packer_free(pa);
}

static void test_pack_seq_and_totals_continue(void **state)
{
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_H264, 96, 1, 65535, 128);
    uint8_t au[4 + 300];
    mknal(au, (const uint8_t[]){0x41}, 1, 300);
    uint16_t expect = 65535;
    uint32_t pkts = 0, octets = 0;
    for (int k = 0; k < 5; k++) {
        cv_frame *f = mkframe(au, sizeof(au));
        cv_wire *w = NULL;
        assert_int_equal(cv_rtp_packer_pack(p, f, (uint32_t)k * 3000, 0, &w), 0);
        assert_int_equal(w->first_seq, expect);
        for (uint32_t i = 0; i < w->npkts; i++) {
            pkt_view v = view(w, i, 0);
            assert_int_equal(v.h.seq, expect);
            expect++;
            pkts++;
            octets += (uint32_t)v.h.payload_len;
        }
        cv_wire_free(w);
        cv_frame_unref(f);
    }
    assert_int_equal(cv_rtp_packer_next_seq(p), expect);
    assert_int_equal(cv_rtp_packer_packets(p), pkts);
    assert_int_equal(cv_rtp_packer_octets(p), octets);
    cv_rtp_packer_free(p);
}

static void test_pack_huge_mtu_is_clamped(void **state)
{
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_H264, 96, 1, 0, 1u << 20);
    assert_non_null(p);
    size_t len = 100000;
    uint8_t *au = malloc(4 + len);
    mknal(au, (const uint8_t[]){0x41}, 1, len);
    cv_frame *f = mkframe(au, 4 + len);
    cv_wire *w = NULL;
    assert_int_equal(cv_rtp_packer_pack(p, f, 0, 0, &w), 0);
    assert_int_equal(w->npkts, 2);
    for (uint32_t i = 0; i < w->npkts; i++)
        assert_true(view(w, i, 0).h.payload_len <= CV_RTP_MAX_PACKET - 12);
    cv_wire_free(w);
    cv_frame_unref(f);
    free(au);
    cv_rtp_packer_free(p);
}

/* Pack -> depack for every codec and many sizes; payloads come back byte-identical. */
typedef struct {
    cv_frame *f[512];
    size_t n;
} sink;

static void on_frame(void *ctx, cv_frame *f)
{
    sink *s = ctx;
    assert_true(s->n < 512);
    s->f[s->n++] = cv_frame_ref(f);
}

static void test_pack_roundtrip_all_codecs(void **state)
{
    cv_codec codecs[] = {CV_CODEC_H264, CV_CODEC_H265, CV_CODEC_AAC, CV_CODEC_OPUS, CV_CODEC_PCMU};
    size_t mtus[] = {128, 577, 1400};
    uint8_t *buf = malloc(4 + 70000);
    for (size_t c = 0; c < CV_ARRAY_LEN(codecs); c++) {
        for (size_t m = 0; m < CV_ARRAY_LEN(mtus); m++) {
            cv_track_info t = {.codec = codecs[c], .clock_rate = 90000};
            cv_rtp_depack *d = cv_rtp_depack_new(&t, NULL, 0);
            cv_rtp_packer *p = cv_rtp_packer_new(codecs[c], 96, 7, 65000, mtus[m]);
            assert_non_null(d);
            assert_non_null(p);
            sink s = {.n = 0};
            uint32_t ts = 0xffff0000u;
            for (size_t len = 2; len < 70000; len = len * 3 + 1) {
                size_t n;
                if (cv_codec_is_video(codecs[c])) {
                    const uint8_t hdr[] = {codecs[c] == CV_CODEC_H264 ? 0x65 : 0x26, 0x01};
                    n = mknal(buf, hdr, 2, len);
                } else {
                    n = len;
                    if (codecs[c] == CV_CODEC_AAC && n > 8191)
                        break;
                    if (codecs[c] == CV_CODEC_OPUS && n > mtus[m] - 12)
                        break;
                    for (size_t i = 0; i < n; i++)
                        buf[i] = (uint8_t)(i * 7 + len);
                }
                cv_frame *f = mkframe(buf, n);
                cv_wire *w = NULL;
                assert_int_equal(cv_rtp_packer_pack(p, f, ts, 0, &w), 0);
                size_t before = s.n;
                for (uint32_t i = 0; i < w->npkts; i++) {
                    pkt_view v = view(w, i, 0);
                    assert_int_equal(cv_rtp_depack_push(d, v.il + 4, cv_be16(v.il + 2), on_frame, &s), 0);
                }
                /* G.711 splits into several frames; everything else is one frame. */
                size_t got = 0;
                for (size_t k = before; k < s.n; k++) {
                    size_t fl = cv_frame_len(s.f[k]);
                    assert_true(got + fl <= n);
                    assert_memory_equal(cv_frame_data(s.f[k]), buf + got, fl);
                    assert_true(s.f[k]->meta.flags & CV_FRAME_KEY);
                    got += fl;
                }
                assert_int_equal(got, n);
                if (codecs[c] != CV_CODEC_PCMU)
                    assert_int_equal(s.n, before + 1);
                for (size_t k = 0; k < s.n; k++)
                    cv_frame_unref(s.f[k]);
                s.n = 0;
                cv_wire_free(w);
                cv_frame_unref(f);
                ts += 3000;
            }
            cv_rtp_depack_stats st;
            cv_rtp_depack_get_stats(d, &st);
            assert_int_equal(st.lost, 0);
            assert_int_equal(st.malformed, 0);
            assert_int_equal(st.packets, cv_rtp_packer_packets(p));
            assert_int_equal(st.bytes, cv_rtp_packer_octets(p));
            for (size_t k = 0; k < s.n; k++)
                cv_frame_unref(s.f[k]);
            cv_rtp_depack_free(d);
            cv_rtp_packer_free(p);
        }
    }
    free(buf);
    assert_int_equal(cv_frame_live_count(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_h264_single_nal_packets),
        cmocka_unit_test(test_pack_h264_fu_a),
        cmocka_unit_test(test_pack_h264_boundary_sizes),
        cmocka_unit_test(test_pack_h265_fu),
        cmocka_unit_test(test_pack_aac_single_and_fragmented),
        cmocka_unit_test(test_pack_opus_and_g711),
        cmocka_unit_test(test_pack_rejects_bad_input),
        cmocka_unit_test(test_pack_seq_and_totals_continue),
        cmocka_unit_test(test_pack_huge_mtu_is_clamped),
        cmocka_unit_test(test_pack_roundtrip_all_codecs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
