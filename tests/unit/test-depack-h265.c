/* Tests for the H.265 depacketizer (src/rtp/depack.c, depack_h26x.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "depack-fixture.h"

#include "base/util.h"
#include "rtp/depack.h"
#include "rtp/pack.h"
#include "rtp/rtp.h"

typedef struct {
    cv_rtp_depack *d;
    sink out;
    uint8_t pkt[CV_RTP_MAX_PACKET];
} fixture;

static const cv_id cam = {{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1}};

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    cv_track_info t = {.kind = CV_MEDIA_VIDEO, .codec = CV_CODEC_H265, .clock_rate = 90000, .payload_type = 97};
    fx->d = cv_rtp_depack_new(&t, &cam, 0);
    assert_non_null(fx->d);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    sink_clear(&fx->out);
    cv_rtp_depack_free(fx->d);
    free(fx);
    assert_int_equal(cv_frame_live_count(), 0);
    return 0;
}

static int push(fixture *fx, bool m, uint16_t seq, uint32_t ts, const void *pl, size_t n)
{
    cv_rtp_write_hdr(fx->pkt, m, 97, seq, ts, 0xabcdef);
    if (n)
        memcpy(fx->pkt + 12, pl, n);
    return cv_rtp_depack_push(fx->d, fx->pkt, 12 + n, on_frame, &fx->out);
}

static cv_rtp_depack_stats stats(fixture *fx) { return depack_stats(fx->d); }

static const uint8_t vps[] = {0x40, 0x01, 0x0c, 0x01, 0xff, 0xff};
static const uint8_t sps[] = {0x42, 0x01, 0x01, 0x01, 0x60, 0x00};
static const uint8_t pps[] = {0x44, 0x01, 0xc1, 0x72};
static const uint8_t idr[] = {0x26, 0x01, 0xaf, 0x06, 0xb8};   /* IDR_W_RADL */
static const uint8_t cra[] = {0x2a, 0x01, 0xaf, 0x01};         /* CRA */
static const uint8_t trail[] = {0x02, 0x01, 0xd0, 0x2f, 0x11}; /* TRAIL_R */

static void test_depack_h265_single_nal_aus(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, true, 1, 500, trail, sizeof(trail)), 0);
    assert_int_equal(push(fx, true, 2, 3500, cra, sizeof(cra)), 0);
    assert_int_equal(fx->out.n, 2);
    uint8_t exp[64];
    const uint8_t *n0[] = {trail};
    size_t l0[] = {sizeof(trail)};
    assert_frame(fx->out.f[0], exp, lp(exp, n0, l0, 1));
    assert_int_equal(fx->out.f[0]->meta.flags, 0);
    assert_int_equal(fx->out.f[0]->meta.pts, 500);
    assert_int_equal(fx->out.f[0]->meta.clock_rate, 90000);
    assert_true(cv_id_eq(&fx->out.f[0]->meta.camera, &cam));
    assert_int_equal(fx->out.f[1]->meta.flags, CV_FRAME_KEY); /* CRA is IRAP */
}

static void test_depack_h265_params_and_idr(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, false, 1, 0, vps, sizeof(vps)), 0);
    assert_int_equal(push(fx, false, 2, 0, sps, sizeof(sps)), 0);
    assert_int_equal(push(fx, false, 3, 0, pps, sizeof(pps)), 0);
    assert_int_equal(push(fx, true, 4, 0, idr, sizeof(idr)), 0);
    assert_int_equal(fx->out.n, 1);
    uint8_t exp[128];
    const uint8_t *nals[] = {vps, sps, pps, idr};
    size_t lens[] = {sizeof(vps), sizeof(sps), sizeof(pps), sizeof(idr)};
    assert_frame(fx->out.f[0], exp, lp(exp, nals, lens, 4));
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY | CV_FRAME_PARAMS);
}

static size_t build_ap(uint8_t *pl, const uint8_t *const *nals, const size_t *lens, size_t count)
{
    size_t o = 0;
    pl[o++] = 48 << 1;
    pl[o++] = 0x01;
    for (size_t i = 0; i < count; i++) {
        cv_wr_be16(pl + o, (uint16_t)lens[i]);
        memcpy(pl + o + 2, nals[i], lens[i]);
        o += 2 + lens[i];
    }
    return o;
}

static void test_depack_h265_aggregation_packet(void **state)
{
    fixture *fx = *state;
    uint8_t pl[128], exp[128];
    const uint8_t *nals[] = {vps, sps, pps};
    size_t lens[] = {sizeof(vps), sizeof(sps), sizeof(pps)};
    assert_int_equal(push(fx, false, 1, 0, pl, build_ap(pl, nals, lens, 3)), 0);
    assert_int_equal(push(fx, true, 2, 0, idr, sizeof(idr)), 0);
    assert_int_equal(fx->out.n, 1);
    const uint8_t *all[] = {vps, sps, pps, idr};
    size_t all_lens[] = {sizeof(vps), sizeof(sps), sizeof(pps), sizeof(idr)};
    assert_frame(fx->out.f[0], exp, lp(exp, all, all_lens, 4));
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY | CV_FRAME_PARAMS);
}

static void test_depack_h265_ap_bad_lengths_are_malformed(void **state)
{
    fixture *fx = *state;
    const uint8_t too_long[] = {0x60, 0x01, 0, 9, 0x02, 0x01, 0xaa};
    const uint8_t one_byte_nal[] = {0x60, 0x01, 0, 1, 0x02};
    const uint8_t half_len[] = {0x60, 0x01, 0, 3, 0x02, 0x01, 0xaa, 0x00};
    const uint8_t empty[] = {0x60, 0x01};
    const uint8_t nested_fu[] = {0x60, 0x01, 0, 3, 0x62, 0x01, 0x81};
    assert_int_equal(push(fx, true, 1, 0, too_long, sizeof(too_long)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, one_byte_nal, sizeof(one_byte_nal)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, half_len, sizeof(half_len)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, empty, sizeof(empty)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, nested_fu, sizeof(nested_fu)), -EBADMSG);
    assert_int_equal(stats(fx).malformed, 5);
    assert_int_equal(fx->out.n, 0);
    assert_int_equal(push(fx, true, 1, 0, trail, sizeof(trail)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(fx->out.f[0]->meta.flags, 0);
}

static void push_fu(fixture *fx, uint16_t *seq, uint32_t ts, const uint8_t *nal, size_t len, size_t frag,
                    bool marker, int skip_idx)
{
    size_t off = 2;
    int idx = 0;
    uint8_t pl[2048];
    unsigned type = (nal[0] >> 1) & 0x3f;
    while (off < len) {
        size_t chunk = len - off < frag ? len - off : frag;
        bool s = off == 2, e = off + chunk == len;
        pl[0] = (uint8_t)((nal[0] & 0x81) | 49 << 1);
        pl[1] = nal[1];
        pl[2] = (uint8_t)((s ? 0x80 : 0) | (e ? 0x40 : 0) | type);
        memcpy(pl + 3, nal + off, chunk);
        if (idx != skip_idx)
            assert_int_equal(push(fx, marker && e, *seq, ts, pl, chunk + 3), 0);
        (*seq)++;
        off += chunk;
        idx++;
    }
}

static void test_depack_h265_fu_reassembles_header(void **state)
{
    fixture *fx = *state;
    uint8_t nal[4000];
    /* IDR_N_LP with nuh_layer_id 5 and TID 3: the header must survive. */
    nal[0] = (uint8_t)(20 << 1);
    nal[1] = (uint8_t)(5 << 3 | 3);
    for (size_t i = 2; i < sizeof(nal); i++)
        nal[i] = (uint8_t)(i ^ 0x5c);
    uint16_t seq = 65530;
    push_fu(fx, &seq, 0xfffffff0u, nal, sizeof(nal), 1000, true, -1);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(cv_frame_len(fx->out.f[0]), 4 + sizeof(nal));
    assert_memory_equal(cv_frame_data(fx->out.f[0]) + 4, nal, sizeof(nal));
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY);
    assert_int_equal(stats(fx).lost, 0);
}

static void test_depack_h265_loss_inside_fu_marks_corrupt(void **state)
{
    fixture *fx = *state;
    uint8_t nal[3000];
    nal[0] = 0x02;
    nal[1] = 0x01;
    memset(nal + 2, 0x77, sizeof(nal) - 2);
    uint16_t seq = 1;
    assert_int_equal(push(fx, false, seq++, 100, pps, sizeof(pps)), 0);
    push_fu(fx, &seq, 100, nal, sizeof(nal), 1000, true, 2);
    /* The end fragment (with the marker) was lost: the AU ends at the next ts. */
    assert_int_equal(fx->out.n, 0);
    assert_int_equal(push(fx, true, seq++, 3100, trail, sizeof(trail)), 0);
    assert_int_equal(fx->out.n, 2);
    uint8_t exp[64];
    const uint8_t *nals[] = {pps};
    size_t lens[] = {sizeof(pps)};
    assert_frame(fx->out.f[0], exp, lp(exp, nals, lens, 1));
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_PARAMS | CV_FRAME_CORRUPT);
    /* The AU after the gap cannot know what it lost either. */
    assert_int_equal(fx->out.f[1]->meta.flags, CV_FRAME_CORRUPT);
    assert_int_equal(stats(fx).lost, 1);
}

static void test_depack_h265_fu_without_start_is_malformed(void **state)
{
    fixture *fx = *state;
    const uint8_t end[] = {0x62, 0x01, 0x41, 1, 2, 3};
    const uint8_t both[] = {0x62, 0x01, 0xc1, 1, 2, 3};
    const uint8_t bad_inner[] = {0x62, 0x01, 0x80 | 48, 1, 2, 3};
    const uint8_t short_fu[] = {0x62, 0x01};
    const uint8_t paci[] = {50 << 1, 0x01, 0, 0, 0x02, 0x01};
    assert_int_equal(push(fx, true, 1, 0, end, sizeof(end)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, both, sizeof(both)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, bad_inner, sizeof(bad_inner)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, short_fu, sizeof(short_fu)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, paci, sizeof(paci)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, trail, 1), -EBADMSG); /* half a NAL header */
    assert_int_equal(stats(fx).malformed, 6);
    assert_int_equal(push(fx, true, 1, 0, idr, sizeof(idr)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY);
}

static void test_depack_h265_ignores_unspecified_types(void **state)
{
    fixture *fx = *state;
    const uint8_t t55[] = {55 << 1, 0x01, 0x00};
    assert_int_equal(push(fx, false, 1, 0, trail, sizeof(trail)), 0);
    assert_int_equal(push(fx, true, 2, 0, t55, sizeof(t55)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(cv_frame_len(fx->out.f[0]), 4 + sizeof(trail));
    assert_int_equal(stats(fx).malformed, 0);
}

static void test_depack_h265_duplicate_dropped(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, false, 7, 0, trail, sizeof(trail)), 0);
    assert_int_equal(push(fx, false, 7, 0, trail, sizeof(trail)), 0);
    assert_int_equal(push(fx, true, 8, 0, trail, sizeof(trail)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(cv_frame_len(fx->out.f[0]), 2 * (4 + sizeof(trail)));
    assert_int_equal(fx->out.f[0]->meta.flags, 0);
}

static void roundtrip(fixture *fx, const uint8_t *au, size_t len, size_t mtu, uint16_t first_seq, uint32_t ts)
{
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_H265, 97, 0xabcdef, first_seq, mtu);
    assert_non_null(p);
    cv_frame_meta m = {0};
    cv_frame *f = cv_frame_new(&m, cv_payload_copy(au, len));
    cv_wire *w = NULL;
    assert_int_equal(cv_rtp_packer_pack(p, f, ts, 2, &w), 0);
    size_t before = fx->out.n;
    for (uint32_t i = 0; i < w->npkts; i++) {
        const uint8_t *h = w->data + w->offs[i];
        assert_int_equal(h[1], 2);
        size_t n = cv_be16(h + 2);
        assert_true(n <= mtu);
        assert_int_equal(cv_rtp_depack_push(fx->d, h + 4, n, on_frame, &fx->out), 0);
    }
    assert_int_equal(fx->out.n, before + 1);
    assert_frame(fx->out.f[before], au, len);
    cv_wire_free(w);
    cv_frame_unref(f);
    cv_rtp_packer_free(p);
}

static void test_depack_h265_roundtrip_with_packer(void **state)
{
    fixture *fx = *state;
    size_t sizes[] = {2, 3, 500, 1387, 1388, 1389, 1390, 1391, 9000, 250000};
    size_t total = 0;
    for (size_t i = 0; i < CV_ARRAY_LEN(sizes); i++)
        total += 4 + sizes[i];
    uint8_t *au = malloc(total);
    size_t o = 0;
    for (size_t i = 0; i < CV_ARRAY_LEN(sizes); i++) {
        cv_wr_be32(au + o, (uint32_t)sizes[i]);
        au[o + 4] = (uint8_t)((i % 2 ? 1 : 19) << 1 | (i == 3 ? 0x80 : 0) | (i == 4)); /* F, LayerId MSB */
        au[o + 5] = (uint8_t)(i << 3 | 1);
        for (size_t k = 2; k < sizes[i]; k++)
            au[o + 4 + k] = (uint8_t)(k * 13 + i);
        o += 4 + sizes[i];
    }
    roundtrip(fx, au, total, CV_RTP_DEFAULT_MTU, 65500, 1);
    o = 0;
    uint32_t ts = 0xffff0000u;
    for (size_t i = 0; i < CV_ARRAY_LEN(sizes); i++) {
        cv_rtp_depack_reset(fx->d);
        roundtrip(fx, au + o, 4 + sizes[i], 128, 65535, ts);
        o += 4 + sizes[i];
        ts += 0x4000;
        sink_clear(&fx->out);
    }
    free(au);
    assert_int_equal(stats(fx).malformed, 0);
    assert_int_equal(stats(fx).lost, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_depack_h265_single_nal_aus),
        T(test_depack_h265_params_and_idr),
        T(test_depack_h265_aggregation_packet),
        T(test_depack_h265_ap_bad_lengths_are_malformed),
        T(test_depack_h265_fu_reassembles_header),
        T(test_depack_h265_loss_inside_fu_marks_corrupt),
        T(test_depack_h265_fu_without_start_is_malformed),
        T(test_depack_h265_ignores_unspecified_types),
        T(test_depack_h265_duplicate_dropped),
        T(test_depack_h265_roundtrip_with_packer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
