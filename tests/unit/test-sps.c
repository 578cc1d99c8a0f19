/* Tests for src/media/sps: H.264 / H.265 SPS picture size, cropping and
 * the codecs string. The x264_* / x265_* arrays are the SPS NALs of one-frame
 * ffmpeg encodes (libx264 / libx265, testsrc); the others are built field by
 * field to reach paths the encoders do not (scaling lists, POC type 1,
 * field coding with cropping, H.265 sub-layers, 4:2:2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "media/sps.h"

/* ffmpeg -f lavfi -i testsrc=size=WxH -frames:v 1 -c:v libx264|libx265 ... */
static const uint8_t x264_baseline_320x240[] = {
    0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00,
    0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0xa4, 0x80};
static const uint8_t x264_high_1920x1080[] = {
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0,
    0x44, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c,
    0x60, 0xc6, 0x58};
static const uint8_t x264_high444_640x360[] = {
    0x67, 0xf4, 0x00, 0x1e, 0x91, 0x9b, 0x28, 0x14, 0x05, 0xff, 0x13, 0x80,
    0x88, 0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0x90, 0x78,
    0xb1, 0x6c, 0xb0};
static const uint8_t x264_interlaced_320x240[] = {
    0x67, 0x64, 0x00, 0x15, 0xac, 0xd9, 0x41, 0x41, 0x0f, 0xcb, 0x80, 0x88,
    0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x01, 0x90, 0xf8, 0xa1,
    0x4c, 0xb0};
static const uint8_t x265_main_1280x720[] = {
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x03, 0x00, 0x5d, 0xa0, 0x02, 0x80, 0x80, 0x2d, 0x16,
    0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00,
    0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10};
static const uint8_t x265_main_1920x1080[] = {
    0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x10, 0xe5,
    0x96, 0x56, 0x69, 0x24, 0xca, 0xf0, 0x16, 0x80, 0x80, 0x00, 0x00, 0x03,
    0x00, 0x80, 0x00, 0x00, 0x0c, 0x84};
static const uint8_t x265_rext444_640x360[] = {
    0x42, 0x01, 0x01, 0x04, 0x08, 0x00, 0x00, 0x03, 0x00, 0x9e, 0x08, 0x00,
    0x00, 0x03, 0x00, 0x00, 0x3f, 0x90, 0x00, 0xa0, 0x40, 0x2d, 0x2c, 0xb2,
    0xb3, 0x49, 0x26, 0x57, 0x80, 0xb4, 0x04, 0x00, 0x00, 0x03, 0x00, 0x04,
    0x00, 0x00, 0x03, 0x00, 0x64, 0x20};
static const uint8_t x265_main10_640x360[] = {
    0x42, 0x01, 0x01, 0x02, 0x20, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x03, 0x00, 0x3f, 0xa0, 0x05, 0x02, 0x01, 0x69, 0x36,
    0x59, 0x59, 0xa4, 0x93, 0x2b, 0xc0, 0x5a, 0x02, 0x00, 0x00, 0x03, 0x00,
    0x02, 0x00, 0x00, 0x03, 0x00, 0x32, 0x10};
static const uint8_t h264_scaling_320x240[] = {
    0x67, 0x64, 0x00, 0x0d, 0xad, 0x84, 0x49, 0x8c, 0x63, 0x18, 0xc6, 0x31,
    0x8c, 0x63, 0x18, 0xc6, 0x31, 0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d,
    0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x4d,
    0x34, 0xd3, 0x4d, 0x34, 0xd3, 0x50, 0xa2, 0x88, 0x99, 0x10, 0x28, 0x3f,
    0x20};
static const uint8_t h264_field_1080[] = {
    0x67, 0x4d, 0x00, 0x28, 0xf4, 0x03, 0xc0, 0x22, 0x3e, 0xd0};
static const uint8_t h265_sublayers[] = {
    0x42, 0x01, 0x05, 0x21, 0x60, 0x00, 0x00, 0x03, 0x00, 0xb0, 0x00, 0x00,
    0x03, 0x00, 0x00, 0x03, 0x00, 0x7b, 0xd0, 0x00, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5a, 0xb0, 0x06, 0xc2,
    0x01, 0xe1, 0x94, 0xbc};

/* h264_scaling_320x240: High, scaling matrix with list 0 "use default"
 * (delta -8), list 3 (4x4) and list 6 (8x8, 64 deltas) explicit, POC type 1
 * with 3 offsets; 20x15 MBs, no VUI.
 * h264_field_1080: Main, frame_mbs_only 0, 120x34 map units (1088 lines),
 * crop bottom 2 (x4 for 4:2:0 fields) -> 1080.
 * h265_sublayers: 3 sub-layers with sub-layer profile (1, 3) and level (1)
 * present, tier High, level 123, 4:2:2, 864x480, window left/right 4 (x2). */

typedef struct {
    const char *name;
    const uint8_t *nal;
    size_t len;
    bool h265;
    int w, h;
    const char *codecs;
} sample;

#define S(a, h5, w_, h_, c) {#a, a, sizeof(a), h5, w_, h_, c}

static const sample samples[] = {
    S(x264_baseline_320x240, false, 320, 240, "avc1.42c00d"),
    S(x264_high_1920x1080, false, 1920, 1080, "avc1.640028"),
    S(x264_high444_640x360, false, 640, 360, "avc1.f4001e"),
    S(x264_interlaced_320x240, false, 320, 240, "avc1.640015"),
    S(h264_scaling_320x240, false, 320, 240, "avc1.64000d"),
    S(h264_field_1080, false, 1920, 1080, "avc1.4d0028"),
    S(x265_main_1280x720, true, 1280, 720, "hvc1.1.6.L93.90"),
    S(x265_main_1920x1080, true, 1920, 1080, "hvc1.1.6.L120.90"),
    S(x265_rext444_640x360, true, 640, 360, "hvc1.4.10.L63.9E.08"),
    S(x265_main10_640x360, true, 640, 360, "hvc1.2.4.L63.90"),
    S(h265_sublayers, true, 848, 480, "hvc1.1.6.H123.B0"),
};

static bool parse(const sample *s, const uint8_t *nal, size_t len, int *w, int *h, char *codecs, size_t cap)
{
    if (s->h265)
        return cv_sps_h265_parse(nal, len, w, h, codecs, cap);
    if (codecs)
        cv_sps_h264_codecs(nal, len, codecs, cap);
    return cv_sps_h264_size(nal, len, w, h);
}

static void test_sps_sizes_and_codecs(void **state)
{
    (void)state;
    for (size_t i = 0; i < CV_ARRAY_LEN(samples); i++) {
        const sample *s = &samples[i];
        int w = -1, h = -1;
        char codecs[96] = "";
        print_message("%s\n", s->name);
        assert_true(parse(s, s->nal, s->len, &w, &h, codecs, sizeof(codecs)));
        assert_int_equal(w, s->w);
        assert_int_equal(h, s->h);
        assert_string_equal(codecs, s->codecs);
        /* codecs is optional for H.265 */
        w = h = -1;
        if (s->h265) {
            assert_true(cv_sps_h265_parse(s->nal, s->len, &w, &h, NULL, 0));
            assert_int_equal(w, s->w);
            assert_int_equal(h, s->h);
        }
    }
}

/* Every prefix, copied to a buffer of exactly that size so ASan sees any
 * read past it: below the last field the parser needs it fails and leaves
 * the outputs alone; from there on (the VUI is not read) it gives the full
 * answer. */
static void test_sps_truncated_every_length(void **state)
{
    (void)state;
    for (size_t i = 0; i < CV_ARRAY_LEN(samples); i++) {
        const sample *s = &samples[i];
        bool seen_ok = false;
        for (size_t n = 0; n <= s->len; n++) {
            uint8_t *p = malloc(n ? n : 1);
            assert_non_null(p);
            memcpy(p, s->nal, n);
            int w = -7, h = -7;
            char codecs[96] = "untouched";
            bool ok = parse(s, p, n, &w, &h, codecs, sizeof(codecs));
            free(p);
            if (!ok) {
                assert_false(seen_ok);
                assert_int_equal(w, -7);
                assert_int_equal(h, -7);
                if (s->h265)
                    assert_string_equal(codecs, "untouched");
                continue;
            }
            seen_ok = true;
            assert_int_equal(w, s->w);
            assert_int_equal(h, s->h);
            assert_string_equal(codecs, s->codecs);
        }
        assert_true(seen_ok);
    }
    int w, h;
    assert_false(cv_sps_h264_size(NULL, 0, &w, &h));
    assert_false(cv_sps_h265_parse(NULL, 0, &w, &h, NULL, 0));
}

static void test_sps_h264_codecs_short(void **state)
{
    (void)state;
    char c[16];
    cv_sps_h264_codecs(x264_baseline_320x240, 3, c, sizeof(c));
    assert_string_equal(c, "avc1");
    cv_sps_h264_codecs(x264_baseline_320x240, 4, c, sizeof(c));
    assert_string_equal(c, "avc1.42c00d");
    cv_sps_h264_codecs(x264_baseline_320x240, 4, c, 6); /* truncated, terminated */
    assert_string_equal(c, "avc1.");
}

static void test_sps_h265_codecs_small_buffer(void **state)
{
    (void)state;
    int w, h;
    char c[8];
    memset(c, 'x', sizeof(c));
    assert_true(cv_sps_h265_parse(x265_rext444_640x360, sizeof(x265_rext444_640x360), &w, &h, c, sizeof(c)));
    assert_string_equal(c, "hvc1.4.");
}

/* The 00 00 03 bytes are dropped before parsing: the x265 SPS have three
 * in profile_tier_level, before the size fields, so the sample sizes above
 * only come out right with them removed. The same SPS with them already
 * taken out (00 00 00, not a valid NAL but what the reader sees) reads the
 * same; with each escape doubled (00 00 03 03) the reader keeps one 03 and
 * every later field shifts by a byte. */
static void test_sps_emulation_prevention(void **state)
{
    (void)state;
    const uint8_t *in = x265_main_1280x720;
    size_t len = sizeof(x265_main_1280x720), n = 0, m = 0, zeros = 0, drops = 0;
    uint8_t raw[sizeof(x265_main_1280x720)], dbl[2 * sizeof(x265_main_1280x720)];
    for (size_t i = 0; i < len; i++) {
        if (zeros >= 2 && in[i] == 3) {
            zeros = 0;
            drops++;
            dbl[m++] = 3;
            dbl[m++] = 3;
            continue;
        }
        zeros = in[i] == 0 ? zeros + 1 : 0;
        raw[n++] = in[i];
        dbl[m++] = in[i];
    }
    assert_true(drops >= 3);
    int w = 0, h = 0;
    char c[96];
    assert_true(cv_sps_h265_parse(raw, n, &w, &h, c, sizeof(c)));
    assert_int_equal(w, 1280);
    assert_int_equal(h, 720);
    assert_string_equal(c, "hvc1.1.6.L93.90");
    w = h = 0;
    bool ok = cv_sps_h265_parse(dbl, m, &w, &h, c, sizeof(c));
    assert_false(ok && w == 1280 && h == 720 && strcmp(c, "hvc1.1.6.L93.90") == 0);
    /* an extra escape in the middle of the size fields of a hand-built SPS:
     * 00 00 03 01 reads as 00 00 01 */
    cv_sps_bits r;
    static const uint8_t esc[] = {0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0x03, 0x00, 0x03};
    cv_sps_bits_init(&r, esc, sizeof(esc), 0);
    assert_int_equal(r.nbits, 7 * 8);
    assert_int_equal(cv_sps_u(&r, 24), 1);
    assert_int_equal(cv_sps_u(&r, 32), 0x00000003);
    assert_false(r.bad);
    assert_int_equal(cv_sps_u(&r, 1), 0);
    assert_true(r.bad);
}

static void test_sps_bits_exp_golomb(void **state)
{
    (void)state;
    cv_sps_bits r;
    /* 1 | 010 | 011 | 00100 | 00101 -> ue 0 1 2 3, se -2 */
    static const uint8_t b[] = {0xa6, 0x42, 0x80};
    cv_sps_bits_init(&r, b, sizeof(b), 0);
    assert_int_equal(cv_sps_ue(&r), 0);
    assert_int_equal(cv_sps_ue(&r), 1);
    assert_int_equal(cv_sps_ue(&r), 2);
    assert_int_equal(cv_sps_ue(&r), 3);
    assert_int_equal(cv_sps_se(&r), -2);
    assert_false(r.bad);
    /* 32 leading zeros is refused, without reading on */
    static const uint8_t z[] = {0, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff};
    cv_sps_bits_init(&r, z, sizeof(z), 0);
    assert_int_equal(cv_sps_ue(&r), 0);
    assert_true(r.bad);
    /* 31 leading zeros is the largest */
    static const uint8_t m[] = {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe};
    cv_sps_bits_init(&r, m, sizeof(m), 0);
    assert_int_equal(cv_sps_ue(&r), 0xfffffffeu);
    assert_false(r.bad);
    /* skip past the end */
    cv_sps_bits_init(&r, m, 2, 3);
    assert_true(r.bad);
}

/* Sizes outside 1..16384 and bad chroma_format_idc are refused. */
static void test_sps_limits(void **state)
{
    (void)state;
    int w = -7, h = -7;
    /* H.264 baseline, 1025 MBs wide (16400) x 1: sps_id 0, frame_num 0,
     * poc 2, refs 0, gaps 0, w-1 = 1024, h-1 = 0, fmo 1, d8 1, crop 0 */
    static const uint8_t wide[] = {0x67, 0x42, 0x00, 0x1e, 0xdc, 0x00, 0x40, 0x1e, 0x40};
    assert_false(cv_sps_h264_size(wide, sizeof(wide), &w, &h));
    assert_int_equal(w, -7);
    /* H.264 high with chroma_format_idc 4 */
    static const uint8_t chroma[] = {0x67, 0x64, 0x00, 0x1e, 0x97, 0x2e, 0xf2};
    assert_false(cv_sps_h264_size(chroma, sizeof(chroma), &w, &h));
    /* 16x16 with cropping left 4 + right 4 (x2): nothing left */
    static const uint8_t crop_all[] = {0x67, 0x42, 0x00, 0x1e, 0xdd, 0xf2, 0x97, 0x40};
    assert_false(cv_sps_h264_size(crop_all, sizeof(crop_all), &w, &h));
    assert_int_equal(w, -7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sps_sizes_and_codecs),
        cmocka_unit_test(test_sps_truncated_every_length),
        cmocka_unit_test(test_sps_h264_codecs_short),
        cmocka_unit_test(test_sps_h265_codecs_small_buffer),
        cmocka_unit_test(test_sps_emulation_prevention),
        cmocka_unit_test(test_sps_bits_exp_golomb),
        cmocka_unit_test(test_sps_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
