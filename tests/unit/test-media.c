/* Tests for src/media: refcounted payloads and frames, length-prefixed NAL
 * helpers and track codec helpers. Every case must leave no live frame. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "media/codec.h"
#include "media/frame.h"
#include "media/nal.h"

static int check_no_live_frames(void **state)
{
    (void)state;
    long live = cv_frame_live_count();
    if (live != 0) {
        print_error("%ld frame(s) still alive after the test\n", live);
        return -1;
    }
    return 0;
}

#define TEST(fn) cmocka_unit_test_teardown(fn, check_no_live_frames)

/* Appends one length-prefixed NAL (header bytes, then filler up to len). */
static size_t put_nal(uint8_t *out, const uint8_t *hdr, size_t hdr_len, size_t len)
{
    cv_wr_be32(out, (uint32_t)len);
    memcpy(out + 4, hdr, hdr_len);
    for (size_t i = hdr_len; i < len; i++)
        out[4 + i] = (uint8_t)(0x10 + i);
    return 4 + len;
}

static cv_wire *mkwire(size_t len)
{
    cv_wire *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    w->data = malloc(len);
    w->offs = malloc(sizeof(*w->offs));
    assert_non_null(w->data);
    assert_non_null(w->offs);
    memset(w->data, 0xaa, len);
    w->offs[0] = 0;
    w->npkts = 1;
    w->len = len;
    return w;
}

/* --- payloads --- */

static void test_frame_payload_copy_and_truncate(void **state)
{
    (void)state;
    const uint8_t src[] = {1, 2, 3, 4, 5, 6};
    cv_payload *p = cv_payload_copy(src, sizeof(src));
    assert_non_null(p);
    assert_int_equal(cv_payload_len(p), 6);
    assert_memory_equal(cv_payload_cdata(p), src, 6);
    assert_ptr_not_equal(cv_payload_cdata(p), src);
    assert_ptr_equal(cv_payload_data(p), cv_payload_cdata(p));

    cv_payload_truncate(p, 4);
    assert_int_equal(cv_payload_len(p), 4);
    assert_memory_equal(cv_payload_cdata(p), src, 4);
    cv_payload_truncate(p, 100); /* never grows */
    assert_int_equal(cv_payload_len(p), 4);
    cv_payload_truncate(p, 4);
    assert_int_equal(cv_payload_len(p), 4);
    cv_payload_truncate(p, 0);
    assert_int_equal(cv_payload_len(p), 0);
    cv_payload_unref(p);

    cv_payload *e = cv_payload_copy(NULL, 0);
    assert_non_null(e);
    assert_int_equal(cv_payload_len(e), 0);
    cv_payload_unref(e);

    cv_payload *n = cv_payload_new(3);
    assert_non_null(n);
    assert_int_equal(cv_payload_len(n), 3);
    memcpy(cv_payload_data(n), "abc", 3);
    assert_memory_equal(cv_payload_cdata(n), "abc", 3);
    cv_payload_unref(n);
    cv_payload_unref(NULL);
}

static void test_frame_payload_new_rejects_overflowing_size(void **state)
{
    (void)state;
    assert_null(cv_payload_new(SIZE_MAX));
    assert_null(cv_payload_new(SIZE_MAX - 4));
    assert_null(cv_payload_copy("x", SIZE_MAX));
}

static void test_frame_payload_refcount(void **state)
{
    (void)state;
    cv_payload *p = cv_payload_copy("hello", 5);
    assert_ptr_equal(cv_payload_ref(p), p);
    cv_payload_unref(p);
    /* Still alive: one reference left (ASan would flag a use after free). */
    assert_memory_equal(cv_payload_cdata(p), "hello", 5);
    cv_payload_unref(p);
}

/* --- frames --- */

static void test_frame_new_copies_meta_and_counts_live(void **state)
{
    (void)state;
    long base = cv_frame_live_count();
    assert_int_equal(base, 0);
    cv_frame_meta m = {0};
    cv_id_random(&m.camera);
    m.track = 1;
    m.flags = CV_FRAME_KEY | CV_FRAME_PARAMS;
    m.clock_rate = 90000;
    m.pts = 123456789012;
    m.recv_us = 42;
    cv_frame *f = cv_frame_new(&m, cv_payload_copy("\x00\x00\x00\x01\x65", 5));
    assert_non_null(f);
    assert_int_equal(cv_frame_live_count(), 1);
    cv_frame_meta orig = m;
    m.track = 3;
    m.pts = 0;
    cv_id_random(&m.camera);
    assert_true(cv_id_eq(&f->meta.camera, &orig.camera));
    assert_int_equal(f->meta.track, 1);
    assert_int_equal(f->meta.flags, CV_FRAME_KEY | CV_FRAME_PARAMS);
    assert_int_equal(f->meta.clock_rate, 90000);
    assert_true(f->meta.pts == 123456789012);
    assert_int_equal(f->meta.recv_us, 42);
    assert_null(f->rtp);
    assert_int_equal(cv_frame_len(f), 5);
    assert_memory_equal(cv_frame_data(f), "\x00\x00\x00\x01\x65", 5);

    cv_frame *g = cv_frame_new(&m, cv_payload_copy("x", 1));
    assert_int_equal(cv_frame_live_count(), 2);
    cv_frame_unref(g);
    assert_int_equal(cv_frame_live_count(), 1);
    cv_frame_unref(f);
    assert_int_equal(cv_frame_live_count(), 0);
    cv_frame_unref(NULL);
    assert_int_equal(cv_frame_live_count(), 0);
}

static void test_frame_refcount_frees_at_last_unref(void **state)
{
    (void)state;
    cv_frame_meta m = {0};
    cv_frame *f = cv_frame_new(&m, cv_payload_copy("abc", 3));
    assert_ptr_equal(cv_frame_ref(f), f);
    assert_ptr_equal(cv_frame_ref(f), f);
    cv_frame_unref(f);
    cv_frame_unref(f);
    assert_int_equal(cv_frame_live_count(), 1);
    assert_memory_equal(cv_frame_data(f), "abc", 3);
    cv_frame_unref(f);
    assert_int_equal(cv_frame_live_count(), 0);
}

static void test_frame_shares_payload_between_frames(void **state)
{
    (void)state;
    cv_frame_meta m = {0};
    cv_payload *p = cv_payload_copy("shared", 6);
    cv_frame *a = cv_frame_new(&m, cv_payload_ref(p));
    m.track = 1;
    cv_frame *b = cv_frame_new(&m, p); /* b takes the original reference */
    assert_ptr_equal(a->payload, b->payload);
    cv_frame_unref(a);
    /* b's payload survives a's release. */
    assert_memory_equal(cv_frame_data(b), "shared", 6);
    assert_int_equal(b->meta.track, 1);
    cv_frame_unref(b);
}

static void test_frame_payload_truncate_before_frame(void **state)
{
    (void)state;
    cv_payload *p = cv_payload_new(100);
    memset(cv_payload_data(p), 7, 100);
    cv_payload_truncate(p, 10); /* e.g. the depacketizer over-reserved */
    cv_frame_meta m = {0};
    cv_frame *f = cv_frame_new(&m, p);
    assert_int_equal(cv_frame_len(f), 10);
    assert_int_equal(cv_frame_data(f)[9], 7);
    cv_frame_unref(f);
}

static void test_frame_owns_its_wire(void **state)
{
    (void)state;
    cv_frame_meta m = {0};
    cv_frame *f = cv_frame_new(&m, cv_payload_copy("p", 1));
    cv_wire *w1 = mkwire(32);
    w1->rtp_ts = 1234;
    w1->first_seq = 65535;
    cv_frame_set_rtp(f, w1);
    assert_ptr_equal(f->rtp, w1);
    assert_int_equal(f->rtp->rtp_ts, 1234);
    assert_int_equal(f->rtp->first_seq, 65535);
    /* Replacing the wire frees the old one (ASan's leak check proves it). */
    cv_wire *w2 = mkwire(64);
    cv_frame_set_rtp(f, w2);
    assert_ptr_equal(f->rtp, w2);
    assert_int_equal(f->rtp->len, 64);
    cv_frame_set_rtp(f, NULL);
    assert_null(f->rtp);
    cv_frame_set_rtp(f, mkwire(16));
    /* A shared frame keeps its wire until the last reference goes. */
    cv_frame *g = cv_frame_ref(f);
    cv_frame_unref(f);
    assert_int_equal(g->rtp->data[15], 0xaa);
    cv_frame_unref(g); /* frees the wire too */
    cv_wire_free(NULL);
}

typedef struct {
    cv_frame *f;
    int iters;
} ref_job;

static void *ref_worker(void *arg)
{
    ref_job *j = arg;
    for (int i = 0; i < j->iters; i++) {
        cv_frame_ref(j->f);
        cv_frame_unref(j->f);
    }
    return NULL;
}

static void test_frame_refs_are_thread_safe(void **state)
{
    (void)state;
    cv_frame_meta m = {0};
    cv_frame *f = cv_frame_new(&m, cv_payload_copy("thread", 6));
    ref_job job = {f, 20000};
    pthread_t th[4];
    for (size_t i = 0; i < CV_ARRAY_LEN(th); i++)
        assert_int_equal(pthread_create(&th[i], NULL, ref_worker, &job), 0);
    for (size_t i = 0; i < CV_ARRAY_LEN(th); i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    assert_int_equal(atomic_load(&f->refs), 1);
    assert_int_equal(cv_frame_live_count(), 1);
    cv_frame_unref(f);
}

/* --- NAL iteration --- */

static void test_nal_iterates_length_prefixed_units(void **state)
{
    (void)state;
    uint8_t au[256];
    size_t o = 0;
    o += put_nal(au + o, (const uint8_t[]){0x67}, 1, 10);
    o += put_nal(au + o, (const uint8_t[]){0x68}, 1, 4);
    o += put_nal(au + o, (const uint8_t[]){0x65}, 1, 1);
    o += put_nal(au + o, (const uint8_t[]){0x41}, 1, 200);
    cv_nal_iter it;
    cv_nal_iter_init(&it, au, o);
    const uint8_t *nal;
    size_t n;
    const size_t lens[] = {10, 4, 1, 200};
    const uint8_t types[] = {7, 8, 5, 1};
    size_t off = 0;
    for (size_t i = 0; i < 4; i++) {
        assert_true(cv_nal_next(&it, &nal, &n));
        assert_int_equal(n, lens[i]);
        assert_ptr_equal(nal, au + off + 4);
        assert_int_equal(cv_h264_nal_type(nal), types[i]);
        off += 4 + lens[i];
    }
    assert_false(cv_nal_next(&it, &nal, &n));
    assert_ptr_equal(it.p, it.end);
    assert_false(cv_nal_next(&it, &nal, &n));

    cv_nal_iter_init(&it, au, 0);
    assert_false(cv_nal_next(&it, &nal, &n));
}

static void test_nal_stops_at_truncated_length(void **state)
{
    (void)state;
    uint8_t au[64];
    size_t o = put_nal(au, (const uint8_t[]){0x67}, 1, 8);
    cv_wr_be32(au + o, 20); /* claims 20, only 5 follow */
    memset(au + o + 4, 0x65, 5);
    cv_nal_iter it;
    cv_nal_iter_init(&it, au, o + 9);
    const uint8_t *nal = NULL;
    size_t n = 0;
    assert_true(cv_nal_next(&it, &nal, &n));
    assert_int_equal(n, 8);
    const uint8_t *at = it.p;
    nal = NULL;
    n = 99;
    assert_false(cv_nal_next(&it, &nal, &n));
    assert_null(nal);
    assert_int_equal(n, 99);
    assert_ptr_equal(it.p, at); /* no progress past a bad length */

    /* A length that fits exactly is fine; one byte short is not. */
    cv_wr_be32(au + o, 5);
    cv_nal_iter_init(&it, au + o, 9);
    assert_true(cv_nal_next(&it, &nal, &n));
    assert_int_equal(n, 5);
    cv_nal_iter_init(&it, au + o, 8);
    assert_false(cv_nal_next(&it, &nal, &n));

    /* Fewer than 4 bytes cannot even hold a length. */
    cv_nal_iter_init(&it, au, 3);
    assert_false(cv_nal_next(&it, &nal, &n));
    /* Huge lengths must not wrap the bounds check. */
    uint8_t huge[8] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4};
    cv_nal_iter_init(&it, huge, sizeof(huge));
    assert_false(cv_nal_next(&it, &nal, &n));
    uint8_t big[8] = {0x80, 0x00, 0x00, 0x00, 1, 2, 3, 4};
    cv_nal_iter_init(&it, big, sizeof(big));
    assert_false(cv_nal_next(&it, &nal, &n));
}

static void test_nal_stops_at_zero_length(void **state)
{
    (void)state;
    uint8_t au[64];
    size_t o = put_nal(au, (const uint8_t[]){0x67}, 1, 8);
    cv_wr_be32(au + o, 0);
    o += 4;
    o += put_nal(au + o, (const uint8_t[]){0x65}, 1, 8);
    cv_nal_iter it;
    cv_nal_iter_init(&it, au, o);
    const uint8_t *nal;
    size_t n;
    assert_true(cv_nal_next(&it, &nal, &n));
    assert_false(cv_nal_next(&it, &nal, &n)); /* the IDR after it is not reached */
    assert_false(cv_nal_next(&it, &nal, &n));
}

/* --- key frames and parameter sets --- */

static void test_nal_key_detection_h264(void **state)
{
    (void)state;
    const uint8_t idr[] = {0x65, 0x88}, idr_nri0[] = {0x05}, idr_nri1[] = {0x25};
    const uint8_t p[] = {0x41, 0x9a}, sps[] = {0x67, 0x42}, pps[] = {0x68}, sei[] = {0x06}, aud[] = {0x09};
    assert_true(cv_nal_is_key(CV_CODEC_H264, idr, sizeof(idr)));
    assert_true(cv_nal_is_key(CV_CODEC_H264, idr_nri0, 1));
    assert_true(cv_nal_is_key(CV_CODEC_H264, idr_nri1, 1));
    assert_false(cv_nal_is_key(CV_CODEC_H264, p, sizeof(p)));
    assert_false(cv_nal_is_key(CV_CODEC_H264, sps, sizeof(sps)));
    assert_false(cv_nal_is_key(CV_CODEC_H264, pps, 1));
    assert_false(cv_nal_is_key(CV_CODEC_H264, sei, 1));
    assert_false(cv_nal_is_key(CV_CODEC_H264, aud, 1));
    assert_false(cv_nal_is_key(CV_CODEC_H264, idr, 0));
    /* Not H.264 data interpreted as something else. */
    assert_false(cv_nal_is_key(CV_CODEC_AAC, idr, sizeof(idr)));
    assert_false(cv_nal_is_key(CV_CODEC_PCMU, idr, sizeof(idr)));
    assert_false(cv_nal_is_key(CV_CODEC_UNKNOWN, idr, sizeof(idr)));
    assert_int_equal(cv_h264_nal_type(idr), 5);
    assert_int_equal(cv_h264_nal_type((const uint8_t[]){0xfc}), 28);
}

static void test_nal_key_detection_h265(void **state)
{
    (void)state;
    for (unsigned t = 0; t < 64; t++) {
        const uint8_t nal[] = {(uint8_t)(t << 1), 0x01};
        assert_int_equal(cv_h265_nal_type(nal), t);
        assert_int_equal(cv_nal_is_key(CV_CODEC_H265, nal, 2), t >= 16 && t <= 23);
        /* The forbidden and layer-id bits do not change the type. */
        const uint8_t nal2[] = {(uint8_t)(0x81 | (t << 1)), 0xf9};
        assert_int_equal(cv_nal_is_key(CV_CODEC_H265, nal2, 2), t >= 16 && t <= 23);
    }
    const uint8_t idr[] = {19 << 1, 0x01};
    assert_false(cv_nal_is_key(CV_CODEC_H265, idr, 1)); /* needs the 2-byte header */
    assert_false(cv_nal_is_key(CV_CODEC_H265, idr, 0));
    /* 0x26 is an H.265 IDR but type 6 (SEI) in H.264. */
    assert_false(cv_nal_is_key(CV_CODEC_H264, idr, 2));
}

static void test_nal_param_kind(void **state)
{
    (void)state;
    assert_int_equal(cv_nal_param_kind(CV_CODEC_H264, (const uint8_t[]){0x67}, 1), 2);
    assert_int_equal(cv_nal_param_kind(CV_CODEC_H264, (const uint8_t[]){0x68}, 1), 3);
    assert_int_equal(cv_nal_param_kind(CV_CODEC_H264, (const uint8_t[]){0x65}, 1), 0);
    assert_int_equal(cv_nal_param_kind(CV_CODEC_H264, (const uint8_t[]){0x67}, 0), 0);
    assert_int_equal(cv_nal_param_kind(CV_CODEC_H265, (const uint8_t[]){0x40, 0x01}, 2), 1);
    assert_int_equal(cv_nal_param_kind(CV_CODEC_H265, (const uint8_t[]){0x42, 0x01}, 2), 2);
    assert_int_equal(cv_nal_param_kind(CV_CODEC_H265, (const uint8_t[]){0x44, 0x01}, 2), 3);
    assert_int_equal(cv_nal_param_kind(CV_CODEC_H265, (const uint8_t[]){0x4e, 0x01}, 2), 0); /* SEI */
    assert_int_equal(cv_nal_param_kind(CV_CODEC_H265, (const uint8_t[]){0x42, 0x01}, 1), 0);
    /* 0x67 is not a parameter set outside H.264. */
    assert_int_equal(cv_nal_param_kind(CV_CODEC_H265, (const uint8_t[]){0x67, 0x01}, 2), 0);
    assert_int_equal(cv_nal_param_kind(CV_CODEC_AAC, (const uint8_t[]){0x67}, 1), 0);
    assert_int_equal(cv_nal_param_kind(CV_CODEC_UNKNOWN, (const uint8_t[]){0x68}, 1), 0);
}

static void test_nal_update_params_h264(void **state)
{
    (void)state;
    cv_track_info t;
    memset(&t, 0, sizeof(t));
    t.codec = CV_CODEC_H264;
    const uint8_t sps1[] = {0x67, 0x42, 0x00, 0x1f, 0xe9, 0x01, 0x40};
    const uint8_t pps1[] = {0x68, 0xce, 0x3c, 0x80};
    uint8_t au[256];
    size_t o = 0;
    o += put_nal(au + o, sps1, sizeof(sps1), sizeof(sps1));
    o += put_nal(au + o, pps1, sizeof(pps1), sizeof(pps1));
    o += put_nal(au + o, (const uint8_t[]){0x65}, 1, 50);
    assert_true(cv_nal_update_params(&t, au, o));
    assert_int_equal(t.sps_len, sizeof(sps1));
    assert_memory_equal(t.sps, sps1, sizeof(sps1));
    assert_int_equal(t.pps_len, sizeof(pps1));
    assert_memory_equal(t.pps, pps1, sizeof(pps1));
    assert_int_equal(t.vps_len, 0);
    /* The same sets again change nothing. */
    assert_false(cv_nal_update_params(&t, au, o));

    /* A shorter SPS replaces the old one completely; the PPS stays. */
    const uint8_t sps2[] = {0x67, 0x64, 0x00};
    o = put_nal(au, sps2, sizeof(sps2), sizeof(sps2));
    o += put_nal(au + o, (const uint8_t[]){0x65}, 1, 10);
    assert_true(cv_nal_update_params(&t, au, o));
    assert_int_equal(t.sps_len, 3);
    assert_memory_equal(t.sps, sps2, 3);
    assert_int_equal(t.pps_len, sizeof(pps1));

    /* An AU without parameter sets leaves the track alone. */
    o = put_nal(au, (const uint8_t[]){0x41}, 1, 30);
    assert_false(cv_nal_update_params(&t, au, o));
    assert_false(cv_nal_update_params(&t, au, 0));
    assert_int_equal(t.sps_len, 3);
}

static void test_nal_update_params_h265(void **state)
{
    (void)state;
    cv_track_info t;
    memset(&t, 0, sizeof(t));
    t.codec = CV_CODEC_H265;
    uint8_t au[256];
    size_t o = 0;
    o += put_nal(au + o, (const uint8_t[]){0x40, 0x01}, 2, 12);
    o += put_nal(au + o, (const uint8_t[]){0x42, 0x01}, 2, 20);
    o += put_nal(au + o, (const uint8_t[]){0x44, 0x01}, 2, 6);
    o += put_nal(au + o, (const uint8_t[]){0x26, 0x01}, 2, 40);
    assert_true(cv_nal_update_params(&t, au, o));
    assert_int_equal(t.vps_len, 12);
    assert_int_equal(t.sps_len, 20);
    assert_int_equal(t.pps_len, 6);
    assert_int_equal(t.vps[0], 0x40);
    assert_int_equal(t.sps[0], 0x42);
    assert_int_equal(t.pps[0], 0x44);
    assert_memory_equal(t.sps, au + 4 + 12 + 4, 20);
    assert_false(cv_nal_update_params(&t, au, o));

    /* H.264 parameter set bytes mean nothing in an H.265 track. */
    memset(&t, 0, sizeof(t));
    t.codec = CV_CODEC_H265;
    o = put_nal(au, (const uint8_t[]){0x67}, 1, 8);
    assert_false(cv_nal_update_params(&t, au, o));
    assert_int_equal(t.sps_len, 0);
}

static void test_nal_update_params_bounds(void **state)
{
    (void)state;
    cv_track_info t;
    memset(&t, 0, sizeof(t));
    t.codec = CV_CODEC_H264;
    static uint8_t au[2 * CV_MAX_PARAM_SET + 64];
    /* A parameter set of exactly the maximum is kept; one byte more is not. */
    size_t o = put_nal(au, (const uint8_t[]){0x67}, 1, CV_MAX_PARAM_SET);
    assert_true(cv_nal_update_params(&t, au, o));
    assert_int_equal(t.sps_len, CV_MAX_PARAM_SET);
    memset(&t, 0, sizeof(t));
    t.codec = CV_CODEC_H264;
    o = put_nal(au, (const uint8_t[]){0x67}, 1, CV_MAX_PARAM_SET + 1);
    o += put_nal(au + o, (const uint8_t[]){0x68}, 1, 4);
    assert_true(cv_nal_update_params(&t, au, o)); /* the PPS after it still counts */
    assert_int_equal(t.sps_len, 0);
    assert_int_equal(t.pps_len, 4);

    /* A truncated AU: sets before the bad length are taken, nothing after. */
    memset(&t, 0, sizeof(t));
    t.codec = CV_CODEC_H264;
    o = put_nal(au, (const uint8_t[]){0x67}, 1, 9);
    size_t bad = o;
    o += put_nal(au + o, (const uint8_t[]){0x68}, 1, 4);
    cv_wr_be32(au + bad, 100);
    assert_true(cv_nal_update_params(&t, au, o));
    assert_int_equal(t.sps_len, 9);
    assert_int_equal(t.pps_len, 0);

    /* Audio tracks have no parameter sets. */
    memset(&t, 0, sizeof(t));
    t.codec = CV_CODEC_AAC;
    o = put_nal(au, (const uint8_t[]){0x67}, 1, 9);
    assert_false(cv_nal_update_params(&t, au, o));
    assert_int_equal(t.sps_len, 0);
}

/* --- codec helpers --- */

static void test_codec_track_out_pt(void **state)
{
    (void)state;
    cv_track_info t;
    memset(&t, 0, sizeof(t));
    t.kind = CV_MEDIA_AUDIO;
    t.codec = CV_CODEC_PCMU;
    t.clock_rate = 8000;
    assert_int_equal(cv_track_out_pt(&t, 1), 0);
    t.channels = 1;
    assert_int_equal(cv_track_out_pt(&t, 3), 0);
    t.channels = 2;
    assert_int_equal(cv_track_out_pt(&t, 1), 97);
    t.channels = 1;
    t.clock_rate = 16000;
    assert_int_equal(cv_track_out_pt(&t, 2), 98);
    /* No clock rate announced (static PT 0 in the SDP): G.711's 8000. */
    t.clock_rate = 0;
    assert_int_equal(cv_track_out_pt(&t, 2), 0);

    t.codec = CV_CODEC_PCMA;
    t.clock_rate = 8000;
    t.channels = 0;
    assert_int_equal(cv_track_out_pt(&t, 1), 8);
    t.channels = 2;
    assert_int_equal(cv_track_out_pt(&t, 1), 97);

    /* The source's announced type never leaks through. */
    memset(&t, 0, sizeof(t));
    t.kind = CV_MEDIA_VIDEO;
    t.codec = CV_CODEC_H264;
    t.clock_rate = 90000;
    t.payload_type = 0;
    assert_int_equal(cv_track_out_pt(&t, 0), 96);
    assert_int_equal(cv_track_out_pt(&t, CV_MAX_TRACKS - 1), 96 + CV_MAX_TRACKS - 1);
    /* Always a dynamic type (96..127), whatever the index. */
    assert_int_equal(cv_track_out_pt(&t, 31), 127);
    assert_int_equal(cv_track_out_pt(&t, 32), 96);
    assert_int_equal(cv_track_out_pt(&t, 1000), 96 + 1000 % 32);
    t.codec = CV_CODEC_H265;
    t.payload_type = 8;
    assert_int_equal(cv_track_out_pt(&t, 0), 96);
    t.kind = CV_MEDIA_AUDIO;
    t.codec = CV_CODEC_AAC;
    t.clock_rate = 8000;
    t.channels = 1;
    assert_int_equal(cv_track_out_pt(&t, 1), 97);
    t.codec = CV_CODEC_OPUS;
    t.clock_rate = 48000;
    t.channels = 2;
    assert_int_equal(cv_track_out_pt(&t, 2), 98);
}

static void test_codec_names(void **state)
{
    (void)state;
    assert_string_equal(cv_codec_name(CV_CODEC_H264), "H264");
    assert_string_equal(cv_codec_name(CV_CODEC_H265), "H265");
    assert_string_equal(cv_codec_name(CV_CODEC_AAC), "AAC");
    assert_string_equal(cv_codec_name(CV_CODEC_OPUS), "OPUS");
    assert_string_equal(cv_codec_name(CV_CODEC_PCMU), "PCMU");
    assert_string_equal(cv_codec_name(CV_CODEC_PCMA), "PCMA");
    assert_string_equal(cv_codec_name(CV_CODEC_UNKNOWN), "unknown");
    assert_string_equal(cv_codec_name((cv_codec)99), "unknown");
    assert_string_equal(cv_media_kind_name(CV_MEDIA_VIDEO), "video");
    assert_string_equal(cv_media_kind_name(CV_MEDIA_AUDIO), "audio");
    assert_string_equal(cv_media_kind_name(CV_MEDIA_NONE), "none");
    assert_true(cv_codec_is_video(CV_CODEC_H264));
    assert_true(cv_codec_is_video(CV_CODEC_H265));
    assert_false(cv_codec_is_video(CV_CODEC_AAC));
    assert_false(cv_codec_is_video(CV_CODEC_OPUS));
    assert_false(cv_codec_is_video(CV_CODEC_PCMU));
    assert_false(cv_codec_is_video(CV_CODEC_PCMA));
    assert_false(cv_codec_is_video(CV_CODEC_UNKNOWN));
}

int main(void)
{
    if (cv_id_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        TEST(test_frame_payload_copy_and_truncate),
        TEST(test_frame_payload_new_rejects_overflowing_size),
        TEST(test_frame_payload_refcount),
        TEST(test_frame_new_copies_meta_and_counts_live),
        TEST(test_frame_refcount_frees_at_last_unref),
        TEST(test_frame_shares_payload_between_frames),
        TEST(test_frame_payload_truncate_before_frame),
        TEST(test_frame_owns_its_wire),
        TEST(test_frame_refs_are_thread_safe),
        TEST(test_nal_iterates_length_prefixed_units),
        TEST(test_nal_stops_at_truncated_length),
        TEST(test_nal_stops_at_zero_length),
        TEST(test_nal_key_detection_h264),
        TEST(test_nal_key_detection_h265),
        TEST(test_nal_param_kind),
        TEST(test_nal_update_params_h264),
        TEST(test_nal_update_params_h265),
        TEST(test_nal_update_params_bounds),
        TEST(test_codec_track_out_pt),
        TEST(test_codec_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
