/* Tests for the audio depacketizers (src/rtp/depack_audio.c): AAC (RFC 3640),
 * Opus and G.711. */
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

static const cv_id cam = {{0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};

static fixture *fx_new(const cv_track_info *t)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->d = cv_rtp_depack_new(t, &cam, 1);
    assert_non_null(fx->d);
    return fx;
}

static void fx_free(fixture *fx)
{
    sink_clear(&fx->out);
    cv_rtp_depack_free(fx->d);
    free(fx);
    assert_int_equal(cv_frame_live_count(), 0);
}

static cv_track_info aac_track(const uint8_t *asc, size_t asc_len, uint32_t rate)
{
    cv_track_info t = {.kind = CV_MEDIA_AUDIO, .codec = CV_CODEC_AAC, .clock_rate = rate, .channels = 2,
                       .payload_type = 97, .aac_sizelength = 13, .aac_indexlength = 3,
                       .aac_indexdeltalength = 3};
    if (asc_len)
        memcpy(t.aac_config, asc, asc_len);
    t.aac_config_len = (uint8_t)asc_len;
    return t;
}

static const uint8_t asc_48k_stereo[] = {0x11, 0x90};
static const uint8_t asc_48k_960[] = {0x11, 0x94};
static const uint8_t asc_he_aac[] = {0x2b, 0x11, 0x88}; /* SBR, core 24 kHz, output 48 kHz */

static int push(fixture *fx, bool m, uint16_t seq, uint32_t ts, const void *pl, size_t n)
{
    cv_rtp_write_hdr(fx->pkt, m, 97, seq, ts, 0x5555);
    if (n)
        memcpy(fx->pkt + 12, pl, n);
    return cv_rtp_depack_push(fx->d, fx->pkt, 12 + n, on_frame, &fx->out);
}

static cv_rtp_depack_stats stats(fixture *fx) { return depack_stats(fx->d); }

/* AAC-hbr payload: AU headers for sizes[], then data bytes (AU k filled with k+1). */
static size_t aac_pkt(uint8_t *pl, const uint16_t *sizes, size_t n, size_t data_len)
{
    cv_wr_be16(pl, (uint16_t)(16 * n));
    size_t o = 2;
    for (size_t i = 0; i < n; i++, o += 2)
        cv_wr_be16(pl + o, (uint16_t)(sizes[i] << 3));
    size_t start = o;
    for (size_t i = 0; i < n && o - start < data_len; i++)
        for (size_t k = 0; k < sizes[i] && o - start < data_len; k++)
            pl[o++] = (uint8_t)(i + 1 + k);
    return o;
}

static void assert_au(const cv_frame *f, size_t size, uint8_t seed)
{
    assert_int_equal(cv_frame_len(f), size);
    for (size_t k = 0; k < size; k++)
        assert_int_equal(cv_frame_data(f)[k], (uint8_t)(seed + k));
}

static void test_depack_audio_aac_single_au(void **state)
{
    cv_track_info t = aac_track(asc_48k_stereo, sizeof(asc_48k_stereo), 48000);
    fixture *fx = fx_new(&t);
    uint8_t pl[512];
    uint16_t sizes[] = {300};
    assert_int_equal(push(fx, true, 1, 1000, pl, aac_pkt(pl, sizes, 1, 300)), 0);
    assert_int_equal(fx->out.n, 1);
    const cv_frame *f = fx->out.f[0];
    assert_au(f, 300, 1);
    assert_int_equal(f->meta.pts, 1000);
    assert_int_equal(f->meta.flags, CV_FRAME_KEY);
    assert_int_equal(f->meta.clock_rate, 48000);
    assert_int_equal(f->meta.track, 1);
    assert_true(cv_id_eq(&f->meta.camera, &cam));
    fx_free(fx);
}

static void test_depack_audio_aac_multi_au_pts_steps(void **state)
{
    cv_track_info t = aac_track(asc_48k_stereo, sizeof(asc_48k_stereo), 48000);
    fixture *fx = fx_new(&t);
    uint8_t pl[512];
    uint16_t sizes[] = {10, 200, 7};
    assert_int_equal(push(fx, true, 1, 0xfffffc00u, pl, aac_pkt(pl, sizes, 3, 217)), 0);
    assert_int_equal(fx->out.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_au(fx->out.f[i], sizes[i], (uint8_t)(i + 1));
        assert_int_equal(fx->out.f[i]->meta.pts, 0xfffffc00LL + 1024 * (int64_t)i);
        assert_int_equal(fx->out.f[i]->meta.flags, CV_FRAME_KEY);
    }
    fx_free(fx);
}

static void test_depack_audio_aac_frame_length_from_config(void **state)
{
    uint8_t pl[64];
    uint16_t sizes[] = {3, 3};
    struct {
        const uint8_t *asc;
        size_t len;
        uint32_t rate;
        int64_t step;
    } cases[] = {
        {asc_48k_960, sizeof(asc_48k_960), 48000, 960},
        {asc_he_aac, sizeof(asc_he_aac), 48000, 2048},
        {asc_he_aac, sizeof(asc_he_aac), 24000, 1024},
        {NULL, 0, 44100, 1024}, /* no config: the common case */
    };
    for (size_t c = 0; c < CV_ARRAY_LEN(cases); c++) {
        cv_track_info t = aac_track(cases[c].asc, cases[c].len, cases[c].rate);
        fixture *fx = fx_new(&t);
        assert_int_equal(push(fx, true, 1, 0, pl, aac_pkt(pl, sizes, 2, 6)), 0);
        assert_int_equal(fx->out.n, 2);
        assert_int_equal(fx->out.f[1]->meta.pts - fx->out.f[0]->meta.pts, cases[c].step);
        fx_free(fx);
    }
}

/* Sends one AU of size bytes as fragments of at most frag data bytes. */
static void push_frags(fixture *fx, uint16_t *seq, uint32_t ts, size_t size, size_t frag, int skip_idx)
{
    uint8_t pl[4096];
    size_t off = 0;
    int idx = 0;
    while (off < size) {
        size_t chunk = size - off < frag ? size - off : frag;
        cv_wr_be16(pl, 16);
        cv_wr_be16(pl + 2, (uint16_t)(size << 3));
        for (size_t k = 0; k < chunk; k++)
            pl[4 + k] = (uint8_t)(1 + off + k);
        if (idx != skip_idx)
            assert_int_equal(push(fx, off + chunk == size, *seq, ts, pl, 4 + chunk), 0);
        (*seq)++;
        off += chunk;
        idx++;
    }
}

static void test_depack_audio_aac_fragmented_au(void **state)
{
    cv_track_info t = aac_track(asc_48k_stereo, sizeof(asc_48k_stereo), 48000);
    fixture *fx = fx_new(&t);
    uint16_t seq = 65534;
    push_frags(fx, &seq, 4096, 3000, 1100, -1);
    assert_int_equal(fx->out.n, 1);
    assert_au(fx->out.f[0], 3000, 1);
    assert_int_equal(fx->out.f[0]->meta.pts, 4096);
    assert_int_equal(stats(fx).packets, 3);
    /* A normal packet right after. */
    uint8_t pl[64];
    uint16_t sizes[] = {5};
    assert_int_equal(push(fx, true, seq++, 5120, pl, aac_pkt(pl, sizes, 1, 5)), 0);
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(stats(fx).lost, 0);
    fx_free(fx);
}

static void test_depack_audio_aac_fragment_loss_drops_au(void **state)
{
    cv_track_info t = aac_track(asc_48k_stereo, sizeof(asc_48k_stereo), 48000);
    for (int skip = 0; skip < 3; skip++) {
        fixture *fx = fx_new(&t);
        uint8_t pl[64];
        uint16_t sizes[] = {5};
        uint16_t seq = 0;
        assert_int_equal(push(fx, true, seq++, 0, pl, aac_pkt(pl, sizes, 1, 5)), 0);
        push_frags(fx, &seq, 1024, 3000, 1100, skip);
        assert_int_equal(fx->out.n, 1);
        assert_int_equal(push(fx, true, seq++, 2048, pl, aac_pkt(pl, sizes, 1, 5)), 0);
        assert_int_equal(fx->out.n, 2);
        assert_au(fx->out.f[1], 5, 1);
        assert_int_equal(fx->out.f[1]->meta.pts, 2048);
        cv_rtp_depack_stats st = stats(fx);
        assert_int_equal(st.lost, 1);
        assert_int_equal(st.malformed, 0);
        if (skip > 0)
            assert_int_equal(st.dropped, 1); /* a partial AU existed and was thrown away */
        fx_free(fx);
    }
}

static void test_depack_audio_aac_malformed_packets(void **state)
{
    cv_track_info t = aac_track(asc_48k_stereo, sizeof(asc_48k_stereo), 48000);
    fixture *fx = fx_new(&t);
    uint8_t pl[64];
    /* AU-headers-length pointing past the packet. */
    const uint8_t hdr_past[] = {0x00, 0x40, 0x00, 0x18};
    /* No AU headers at all. */
    const uint8_t no_hdrs[] = {0x00, 0x00, 0xaa};
    /* 17 bits: one header plus a stray bit. */
    const uint8_t stray[] = {0x00, 0x11, 0x00, 0x08, 0x00, 0xaa};
    /* Zero-sized AU. */
    const uint8_t zero_au[] = {0x00, 0x10, 0x00, 0x00, 0xaa};
    const uint8_t one_byte[] = {0x00};
    assert_int_equal(push(fx, true, 1, 0, hdr_past, sizeof(hdr_past)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, no_hdrs, sizeof(no_hdrs)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, stray, sizeof(stray)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, zero_au, sizeof(zero_au)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, one_byte, sizeof(one_byte)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, NULL, 0), -EBADMSG);
    /* Two AUs whose sizes exceed the data. */
    uint16_t two[] = {10, 10};
    assert_int_equal(push(fx, true, 1, 0, pl, aac_pkt(pl, two, 2, 15)), -EBADMSG);
    /* One AU larger than the data with M=1: not a fragment, a lie. */
    uint16_t one[] = {20};
    assert_int_equal(push(fx, true, 1, 0, pl, aac_pkt(pl, one, 1, 15)), -EBADMSG);
    assert_int_equal(stats(fx).malformed, 8);
    assert_int_equal(fx->out.n, 0);

    uint16_t good[] = {4};
    assert_int_equal(push(fx, true, 1, 0, pl, aac_pkt(pl, good, 1, 4)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_au(fx->out.f[0], 4, 1);
    assert_int_equal(stats(fx).lost, 0);
    fx_free(fx);
}

static void test_depack_audio_aac_fragment_overflow_is_malformed(void **state)
{
    cv_track_info t = aac_track(asc_48k_stereo, sizeof(asc_48k_stereo), 48000);
    fixture *fx = fx_new(&t);
    uint8_t pl[64];
    uint16_t sizes[] = {30};
    assert_int_equal(push(fx, false, 1, 0, pl, aac_pkt(pl, sizes, 1, 20)), 0); /* 20 of 30 */
    assert_int_equal(push(fx, true, 2, 0, pl, aac_pkt(pl, sizes, 1, 20)), -EBADMSG); /* 40 > 30 */
    assert_int_equal(push(fx, true, 2, 0, pl, aac_pkt(pl, sizes, 1, 5)), -EBADMSG);  /* M=1 at 25 of 30 */
    assert_int_equal(fx->out.n, 0);
    uint8_t tail[4 + 10];
    cv_wr_be16(tail, 16);
    cv_wr_be16(tail + 2, 30 << 3);
    for (int k = 0; k < 10; k++)
        tail[4 + k] = (uint8_t)(21 + k);
    assert_int_equal(push(fx, true, 2, 0, tail, sizeof(tail)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_au(fx->out.f[0], 30, 1);
    fx_free(fx);
}

static void test_depack_audio_aac_oversized_fragment_dropped(void **state)
{
    cv_track_info t = aac_track(asc_48k_stereo, sizeof(asc_48k_stereo), 48000);
    t.aac_sizelength = 32;
    t.aac_indexlength = 0;
    t.aac_indexdeltalength = 0;
    fixture *fx = fx_new(&t);
    uint8_t pl[40];
    cv_wr_be16(pl, 32);
    cv_wr_be32(pl + 2, CV_DEPACK_MAX_AU + 1);
    memset(pl + 6, 0, 34);
    assert_int_equal(push(fx, false, 1, 0, pl, sizeof(pl)), 0);
    assert_int_equal(push(fx, false, 2, 0, pl, sizeof(pl)), 0);
    assert_int_equal(push(fx, true, 3, 0, pl, sizeof(pl)), 0);
    assert_int_equal(fx->out.n, 0);
    assert_int_equal(stats(fx).dropped, 1);
    cv_wr_be32(pl + 2, 34);
    assert_int_equal(push(fx, true, 4, 1024, pl, sizeof(pl)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(cv_frame_len(fx->out.f[0]), 34);
    fx_free(fx);
}

static void test_depack_audio_aac_reset_forgets_fragment(void **state)
{
    cv_track_info t = aac_track(asc_48k_stereo, sizeof(asc_48k_stereo), 48000);
    fixture *fx = fx_new(&t);
    uint8_t pl[64];
    uint16_t big[] = {40};
    uint16_t small[] = {6};
    assert_int_equal(push(fx, false, 1, 0, pl, aac_pkt(pl, big, 1, 20)), 0); /* 20 of 40 */
    cv_rtp_depack_reset(fx->d);
    /* The rest of that AU now has no start: with M=1 it cannot be a first fragment. */
    assert_int_equal(push(fx, true, 2, 0, pl, aac_pkt(pl, big, 1, 20)), -EBADMSG);
    assert_int_equal(push(fx, true, 9, 5000, pl, aac_pkt(pl, small, 1, 6)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(fx->out.f[0]->meta.pts, 5000);
    assert_au(fx->out.f[0], 6, 1);
    fx_free(fx);
}

static void test_depack_audio_aac_lbr_and_defaults(void **state)
{
    /* AAC-lbr: 6-bit sizes, 2-bit indexes, one byte per header. */
    cv_track_info t = aac_track(NULL, 0, 16000);
    t.aac_sizelength = 6;
    t.aac_indexlength = 2;
    t.aac_indexdeltalength = 2;
    fixture *fx = fx_new(&t);
    const uint8_t pl[] = {0x00, 0x10, 3 << 2, 2 << 2, 'a', 'b', 'c', 'x', 'y'};
    assert_int_equal(push(fx, true, 1, 0, pl, sizeof(pl)), 0);
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(cv_frame_len(fx->out.f[0]), 3);
    assert_memory_equal(cv_frame_data(fx->out.f[0]), "abc", 3);
    assert_memory_equal(cv_frame_data(fx->out.f[1]), "xy", 2);
    fx_free(fx);

    /* No sizes announced at all: AAC-hbr is assumed. */
    t.aac_sizelength = t.aac_indexlength = t.aac_indexdeltalength = 0;
    fx = fx_new(&t);
    uint8_t hbr[16];
    uint16_t sizes[] = {3};
    assert_int_equal(push(fx, true, 1, 0, hbr, aac_pkt(hbr, sizes, 1, 3)), 0);
    assert_int_equal(fx->out.n, 1);
    fx_free(fx);

    t.aac_sizelength = 40;
    assert_null(cv_rtp_depack_new(&t, &cam, 0));
}

static void test_depack_audio_unsupported_codec(void **state)
{
    cv_track_info t = {.kind = CV_MEDIA_AUDIO, .codec = CV_CODEC_UNKNOWN};
    assert_null(cv_rtp_depack_new(&t, &cam, 0));
    assert_null(cv_rtp_depack_new(NULL, &cam, 0));
}

static void test_depack_audio_opus_one_packet_one_frame(void **state)
{
    cv_track_info t = {.kind = CV_MEDIA_AUDIO, .codec = CV_CODEC_OPUS, .clock_rate = 48000, .channels = 2};
    fixture *fx = fx_new(&t);
    const uint8_t p1[] = {0xfc, 0xff, 0xfe};
    const uint8_t p2[] = {0x78};
    assert_int_equal(push(fx, false, 10, 960, p1, sizeof(p1)), 0);
    assert_int_equal(push(fx, false, 11, 1920, p2, sizeof(p2)), 0);
    assert_int_equal(push(fx, false, 11, 1920, p2, sizeof(p2)), 0); /* duplicate */
    assert_int_equal(push(fx, false, 12, 2880, NULL, 0), -EBADMSG);
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(cv_frame_len(fx->out.f[0]), 3);
    assert_memory_equal(cv_frame_data(fx->out.f[0]), p1, 3);
    assert_int_equal(fx->out.f[0]->meta.pts, 960);
    assert_int_equal(fx->out.f[1]->meta.pts, 1920);
    assert_int_equal(fx->out.f[1]->meta.flags, CV_FRAME_KEY);
    assert_int_equal(fx->out.f[1]->meta.clock_rate, 48000);
    assert_int_equal(stats(fx).malformed, 1);
    fx_free(fx);
}

static void test_depack_audio_g711_payload_is_frame(void **state)
{
    cv_codec codecs[] = {CV_CODEC_PCMU, CV_CODEC_PCMA};
    for (size_t c = 0; c < 2; c++) {
        cv_track_info t = {.kind = CV_MEDIA_AUDIO, .codec = codecs[c]}; /* clock rate left out */
        fixture *fx = fx_new(&t);
        uint8_t pl[160];
        memset(pl, 0xd5, sizeof(pl));
        assert_int_equal(push(fx, true, 1, 0xffffff60u, pl, sizeof(pl)), 0);
        assert_int_equal(push(fx, false, 2, 0, pl, 80), 0);
        assert_int_equal(fx->out.n, 2);
        assert_int_equal(cv_frame_len(fx->out.f[0]), 160);
        assert_int_equal(fx->out.f[0]->meta.clock_rate, 8000);
        assert_int_equal(fx->out.f[1]->meta.pts, 0x100000000LL);
        assert_int_equal(cv_frame_len(fx->out.f[1]), 80);
        fx_free(fx);
    }
}

/* Packs frame with the real packetizer, depacks, returns frames emitted. */
static size_t roundtrip(fixture *fx, cv_codec codec, const uint8_t *data, size_t len, size_t mtu, uint32_t ts,
                        uint16_t seq)
{
    cv_rtp_packer *p = cv_rtp_packer_new(codec, 97, 0x5555, seq, mtu);
    assert_non_null(p);
    cv_frame_meta m = {0};
    cv_frame *f = cv_frame_new(&m, cv_payload_copy(data, len));
    cv_wire *w = NULL;
    assert_int_equal(cv_rtp_packer_pack(p, f, ts, 0, &w), 0);
    size_t before = fx->out.n;
    for (uint32_t i = 0; i < w->npkts; i++) {
        const uint8_t *h = w->data + w->offs[i];
        assert_int_equal(cv_rtp_depack_push(fx->d, h + 4, cv_be16(h + 2), on_frame, &fx->out), 0);
    }
    cv_wire_free(w);
    cv_frame_unref(f);
    cv_rtp_packer_free(p);
    return fx->out.n - before;
}

static void test_depack_audio_roundtrip_with_packer(void **state)
{
    uint8_t data[8191];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 17 + 3);

    cv_track_info aac = aac_track(asc_48k_stereo, sizeof(asc_48k_stereo), 48000);
    size_t aac_sizes[] = {1, 200, 1383, 1384, 1385, 4000, 8191};
    for (size_t i = 0; i < CV_ARRAY_LEN(aac_sizes); i++) {
        fixture *fx = fx_new(&aac);
        assert_int_equal(roundtrip(fx, CV_CODEC_AAC, data, aac_sizes[i], 1400, 0xfffffff0u, 65530), 1);
        assert_int_equal(cv_frame_len(fx->out.f[0]), aac_sizes[i]);
        assert_memory_equal(cv_frame_data(fx->out.f[0]), data, aac_sizes[i]);
        assert_int_equal(fx->out.f[0]->meta.pts, 0xfffffff0LL);
        assert_int_equal(stats(fx).malformed, 0);
        fx_free(fx);
    }

    cv_track_info opus = {.kind = CV_MEDIA_AUDIO, .codec = CV_CODEC_OPUS, .clock_rate = 48000};
    fixture *fx = fx_new(&opus);
    assert_int_equal(roundtrip(fx, CV_CODEC_OPUS, data, 1, 1400, 0, 65535), 1);
    assert_int_equal(roundtrip(fx, CV_CODEC_OPUS, data, 1275, 1400, 960, 0), 1);
    assert_int_equal(cv_frame_len(fx->out.f[1]), 1275);
    assert_memory_equal(cv_frame_data(fx->out.f[1]), data, 1275);
    fx_free(fx);

    /* G.711 bigger than the MTU comes back as several frames, same bytes,
     * timestamps advancing by samples. */
    cv_track_info pcma = {.kind = CV_MEDIA_AUDIO, .codec = CV_CODEC_PCMA, .clock_rate = 8000};
    fx = fx_new(&pcma);
    assert_int_equal(roundtrip(fx, CV_CODEC_PCMA, data, 300, 128, 1000, 7), 3);
    size_t off = 0;
    for (size_t i = 0; i < 3; i++) {
        const cv_frame *f = fx->out.f[i];
        assert_int_equal(f->meta.pts, 1000 + (int64_t)off);
        assert_memory_equal(cv_frame_data(f), data + off, cv_frame_len(f));
        off += cv_frame_len(f);
    }
    assert_int_equal(off, 300);
    fx_free(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depack_audio_aac_single_au),
        cmocka_unit_test(test_depack_audio_aac_multi_au_pts_steps),
        cmocka_unit_test(test_depack_audio_aac_frame_length_from_config),
        cmocka_unit_test(test_depack_audio_aac_fragmented_au),
        cmocka_unit_test(test_depack_audio_aac_fragment_loss_drops_au),
        cmocka_unit_test(test_depack_audio_aac_malformed_packets),
        cmocka_unit_test(test_depack_audio_aac_fragment_overflow_is_malformed),
        cmocka_unit_test(test_depack_audio_aac_oversized_fragment_dropped),
        cmocka_unit_test(test_depack_audio_aac_reset_forgets_fragment),
        cmocka_unit_test(test_depack_audio_aac_lbr_and_defaults),
        cmocka_unit_test(test_depack_audio_unsupported_codec),
        cmocka_unit_test(test_depack_audio_opus_one_packet_one_frame),
        cmocka_unit_test(test_depack_audio_g711_payload_is_frame),
        cmocka_unit_test(test_depack_audio_roundtrip_with_packer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
