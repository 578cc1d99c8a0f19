/* Tests for pictures of a camera (src/pic): JPEG snapshots of the latest
 * keyframe and MJPEG watchers, on real H.264 made by the ffmpeg CLI at test
 * time (a red 320x240 picture, 25 fps, a keyframe every 25 frames). The
 * JPEGs are decoded back with libavcodec to check size and colour. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libavcodec/avcodec.h>
#include <libavutil/log.h>
#include <libswscale/swscale.h>
#include <uv.h>

#include "base/id.h"
#include "base/log.h"
#include "base/util.h"
#include "hub/stream.h"
#include "media/codec.h"
#include "media/frame.h"
#include "pic/pic.h"
#include "tmpdir-fixture.h"

/* --- test clips, made by the ffmpeg CLI --- */

#define MAX_AU 128

typedef struct {
    uint8_t *data; /* length-prefixed NAL units, slices only */
    size_t len;
    bool key;
} au;

typedef struct {
    cv_track_info track;
    au au[MAX_AU];
    size_t nau;
} clip;

static clip g_clip; /* red, 320x240, 25 fps, H.264, a keyframe every 25 frames */
static uv_loop_t g_loop;

static size_t next_start(const uint8_t *b, size_t n, size_t from)
{
    for (size_t i = from; i + 3 <= n; i++)
        if (b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 1)
            return i;
    return n;
}

static int keep_param(uint8_t *dst, uint16_t *dst_len, const uint8_t *nal, size_t len)
{
    if (len > CV_MAX_PARAM_SET)
        return -1;
    memcpy(dst, nal, len);
    *dst_len = (uint16_t)len;
    return 0;
}

/* Splits Annex-B into NAL units; x264 and x265 write one slice per picture
 * here, so a slice is an access unit. Parameter sets go to the track info
 * only (as when a camera sends them in the SDP); SEI and AUDs are dropped. */
static int split_clip(clip *c, const uint8_t *b, size_t n)
{
    bool hevc = c->track.codec == CV_CODEC_H265;
    size_t s = next_start(b, n, 0);
    while (s < n) {
        size_t start = s + 3;
        size_t end = next_start(b, n, start);
        size_t e = end;
        while (e > start && b[e - 1] == 0)
            e--;
        const uint8_t *nal = b + start;
        size_t len = e - start;
        s = end;
        if (len < 2)
            continue;
        unsigned t = hevc ? (nal[0] >> 1) & 0x3f : nal[0] & 0x1fu;
        int rc = 0;
        if (hevc && t == 32)
            rc = keep_param(c->track.vps, &c->track.vps_len, nal, len);
        else if (t == (hevc ? 33u : 7u))
            rc = keep_param(c->track.sps, &c->track.sps_len, nal, len);
        else if (t == (hevc ? 34u : 8u))
            rc = keep_param(c->track.pps, &c->track.pps_len, nal, len);
        if (rc < 0)
            return -1;
        bool vcl = hevc ? t < 32 : t == 1 || t == 5;
        if (!vcl || c->nau == MAX_AU)
            continue;
        au *a = &c->au[c->nau];
        a->data = malloc(4 + len);
        if (!a->data)
            return -1;
        cv_wr_be32(a->data, (uint32_t)len);
        memcpy(a->data + 4, nal, len);
        a->len = 4 + len;
        a->key = hevc ? t >= 16 && t <= 23 : t == 5;
        c->nau++;
    }
    return 0;
}

static void clip_free(clip *c)
{
    for (size_t i = 0; i < c->nau; i++)
        free(c->au[i].data);
    memset(c, 0, sizeof(*c));
}

/* Makes a clip of lavfi source src with encoder args enc. Returns 0 or -1. */
static int clip_make(clip *c, cv_codec codec, const char *src, const char *enc)
{
    memset(c, 0, sizeof(*c));
    c->track.kind = CV_MEDIA_VIDEO;
    c->track.codec = codec;
    c->track.clock_rate = 90000;
    c->track.payload_type = 96;
    c->track.packetization_mode = 1;
    tmpdir t;
    if (tmpdir_make(&t, "pic", "clip.es") < 0)
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -v error -f lavfi -i %s %s -pix_fmt yuv420p -f %s -y %s", src, enc,
             codec == CV_CODEC_H265 ? "hevc" : "h264", t.path);
    int rc = system(cmd);
    FILE *f = rc == 0 ? fopen(t.path, "rb") : NULL;
    static uint8_t buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f)
        fclose(f);
    tmpdir_remove(&t);
    if (!n) {
        print_error("could not make a clip with ffmpeg (rc %d): %s\n", rc, cmd);
        return -1;
    }
    if (split_clip(c, buf, n) < 0 || !c->nau || !c->au[0].key || !c->track.sps_len || !c->track.pps_len) {
        clip_free(c);
        return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    if (clip_make(&g_clip, CV_CODEC_H264, "color=c=red:size=320x240:rate=25", "-t 2 -c:v libx264 -g 25 -bf 0") < 0 ||
        g_clip.nau < 50 || !g_clip.au[25].key)
        return -1;
    return uv_loop_init(&g_loop);
}

static int group_teardown(void **state)
{
    (void)state;
    clip_free(&g_clip);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    return uv_loop_close(&g_loop) == 0 ? 0 : -1;
}

/* --- a camera publishing the clip --- */

typedef struct {
    cv_id id;
    cv_stream *s;
    const clip *clip; /* what it publishes */
    char src;     /* its address is the source token */
    size_t next;  /* next access unit of the clip (it loops) */
    int64_t pts;
    cv_frame *last_key;
} cam;

/* What a case has alive, so that the teardown can release what a failed
 * case left: one failure must not show up as leaks in every later case. */
static cam *g_cam;

static void cam_init_clip(cam *c, const clip *cl)
{
    memset(c, 0, sizeof(*c));
    g_cam = c;
    c->clip = cl;
    cv_id_random(&c->id);
    c->s = cv_stream_new(&c->id, NULL);
    assert_non_null(c->s);
    assert_int_equal(cv_stream_attach(c->s, &c->src, &cl->track, 1), 0);
    c->pts = 90000;
}

static void cam_init(cam *c) { cam_init_clip(c, &g_clip); }

static cv_frame *mkframe(const cv_id *id, const uint8_t *data, size_t len, bool key, int64_t pts)
{
    cv_frame_meta m;
    memset(&m, 0, sizeof(m));
    m.camera = *id;
    m.track = 0;
    m.flags = key ? CV_FRAME_KEY : 0;
    m.clock_rate = 90000;
    m.pts = pts;
    m.recv_us = cv_now_us();
    cv_frame *f = cv_frame_new(&m, cv_payload_copy(data, len));
    assert_non_null(f);
    return f;
}

static void cam_pub(cam *c, size_t n)
{
    while (n--) {
        const au *a = &c->clip->au[c->next];
        c->next = (c->next + 1) % c->clip->nau;
        cv_frame *f = mkframe(&c->id, a->data, a->len, a->key, c->pts);
        c->pts += 3600;
        assert_int_equal(cv_stream_publish(c->s, &c->src, f), 0);
        if (a->key)
            c->last_key = f; /* the stream's prebuffer keeps it alive */
        cv_frame_unref(f);
    }
}

/* Drops the test's stream reference; the pic goes with the stream, after
 * its jobs finish, so the loop runs until nothing is left. */
static void cam_free(cam *c)
{
    if (c == g_cam)
        g_cam = NULL;
    if (c->s) {
        cv_stream_shutdown(c->s, "test over");
        cv_stream_unref(c->s);
        c->s = NULL;
    }
    uv_run(&g_loop, UV_RUN_DEFAULT);
}

/* --- running the loop --- */

static void tick_cb(uv_timer_t *t) { (void)t; }

/* Runs the loop until *flag is at least want or timeout_ms passed. */
static bool wait_for(const int *flag, int want, int timeout_ms)
{
    uv_timer_t t;
    uv_timer_init(&g_loop, &t);
    uv_timer_start(&t, tick_cb, 5, 5);
    int64_t end = cv_now_us() + (int64_t)timeout_ms * 1000;
    while (*flag < want && cv_now_us() < end)
        uv_run(&g_loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&g_loop, UV_RUN_NOWAIT);
    return *flag >= want;
}

static void run_for(int ms)
{
    int never = 0;
    wait_for(&never, 1, ms);
}

/* --- snapshot results --- */

typedef struct {
    int calls;
    int status;
    cv_frame *jpeg; /* reference */
    int64_t done_us;
} snap;

static void snap_done(void *ctx, int status, cv_frame *jpeg)
{
    snap *s = ctx;
    s->calls++;
    s->status = status;
    s->jpeg = jpeg ? cv_frame_ref(jpeg) : NULL;
    s->done_us = cv_now_us();
}

static void snap_clear(snap *s)
{
    cv_frame_unref(s->jpeg);
    memset(s, 0, sizeof(*s));
}

/* Decodes a JPEG; returns its size and the RGB of its centre pixel. */
static void jpeg_check(const cv_frame *j, int *w, int *h, uint8_t rgb[3])
{
    const uint8_t *d = cv_frame_data(j);
    size_t n = cv_frame_len(j);
    assert_true(n > 4);
    assert_int_equal(d[0], 0xff);
    assert_int_equal(d[1], 0xd8);
    assert_int_equal(d[n - 2], 0xff);
    assert_int_equal(d[n - 1], 0xd9);
    assert_true(j->meta.flags & CV_FRAME_KEY);

    AVCodecContext *ctx = avcodec_alloc_context3(avcodec_find_decoder(AV_CODEC_ID_MJPEG));
    AVPacket *pkt = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    assert_true(ctx && pkt && f);
    assert_int_equal(avcodec_open2(ctx, ctx->codec, NULL), 0);
    assert_int_equal(av_new_packet(pkt, (int)n), 0);
    memcpy(pkt->data, d, n);
    assert_int_equal(avcodec_send_packet(ctx, pkt), 0);
    assert_int_equal(avcodec_receive_frame(ctx, f), 0);
    *w = f->width;
    *h = f->height;
    enum AVPixelFormat fmt = f->format == AV_PIX_FMT_YUVJ420P ? AV_PIX_FMT_YUV420P : f->format;
    struct SwsContext *sws = sws_getContext(f->width, f->height, fmt, f->width, f->height, AV_PIX_FMT_RGB24,
                                            SWS_POINT, NULL, NULL, NULL);
    assert_non_null(sws);
    const int *coef = sws_getCoefficients(SWS_CS_DEFAULT);
    sws_setColorspaceDetails(sws, coef, 1, coef, 1, 0, 1 << 16, 1 << 16); /* JPEG is full range */
    uint8_t *out = malloc((size_t)f->width * (size_t)f->height * 3);
    assert_non_null(out);
    uint8_t *planes[4] = {out};
    int strides[4] = {f->width * 3};
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, planes, strides);
    memcpy(rgb, out + ((size_t)(f->height / 2) * (size_t)f->width + (size_t)f->width / 2) * 3, 3);
    free(out);
    sws_freeContext(sws);
    av_frame_free(&f);
    av_packet_free(&pkt);
    avcodec_free_context(&ctx);
}

static void assert_red(const uint8_t rgb[3])
{
    if (!(rgb[0] > 200 && rgb[1] < 60 && rgb[2] < 60))
        fail_msg("centre pixel is %u,%u,%u, not red", rgb[0], rgb[1], rgb[2]);
}

static cv_pic_stats pic_stats(const cv_pic *p)
{
    cv_pic_stats st;
    cv_pic_get_stats(p, &st);
    return st;
}

/* ===================================================================== */

static void test_snapshot_is_red_jpeg_of_the_camera(void **state)
{
    (void)state;
    static cam c;
    cam_init(&c);
    cam_pub(&c, 5); /* keyframe + 4 P */
    cv_frame *key = c.last_key;
    cv_pic *p = cv_pic_get(&g_loop, c.s, NULL);
    assert_non_null(p);
    assert_ptr_equal(cv_pic_get(&g_loop, c.s, NULL), p);

    snap a = {0};
    cv_pic_req *r;
    int64_t t0 = cv_now_us();
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &a, &r), 0);
    assert_int_equal(a.calls, 0); /* never from inside the call */
    assert_true(wait_for(&a.calls, 1, 10000));
    int64_t cold_us = a.done_us - t0;
    assert_int_equal(a.status, 0);
    assert_non_null(a.jpeg);
    assert_true(cv_id_eq(&a.jpeg->meta.camera, &c.id));
    assert_int_equal(a.jpeg->meta.pts, key->meta.pts);
    assert_int_equal(a.jpeg->meta.recv_us, key->meta.recv_us);
    int w, h;
    uint8_t rgb[3];
    jpeg_check(a.jpeg, &w, &h, rgb);
    assert_int_equal(w, 320);
    assert_int_equal(h, 240);
    assert_red(rgb);

    /* The same keyframe again: the cached JPEG, no decode. */
    snap b = {0};
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &b, &r), 0);
    assert_int_equal(b.calls, 0);
    assert_true(wait_for(&b.calls, 1, 10000));
    assert_int_equal(b.status, 0);
    assert_ptr_equal(b.jpeg, a.jpeg);
    /* Wider than the source: the source's size, the same JPEG. */
    snap b2 = {0};
    assert_int_equal(cv_pic_snapshot(p, 9999, snap_done, &b2, &r), 0);
    assert_true(wait_for(&b2.calls, 1, 10000));
    assert_ptr_equal(b2.jpeg, a.jpeg);

    /* Another width of the same keyframe: the decoded picture is reused. */
    snap s160 = {0};
    assert_int_equal(cv_pic_snapshot(p, 160, snap_done, &s160, &r), 0);
    assert_true(wait_for(&s160.calls, 1, 10000));
    assert_int_equal(s160.status, 0);
    jpeg_check(s160.jpeg, &w, &h, rgb);
    assert_int_equal(w, 160);
    assert_int_equal(h, 120);
    assert_red(rgb);
    assert_true(cv_id_eq(&s160.jpeg->meta.camera, &c.id));
    cv_pic_stats st = pic_stats(p);
    assert_int_equal(st.decodes, 1);
    assert_int_equal(st.encodes, 2);
    assert_int_equal(st.shared, 2);
    assert_int_equal(st.snapshots, 4);
    assert_true(st.decoder_warm);

    /* A new keyframe, decoded by the warm decoder. */
    cam_pub(&c, 25);
    assert_true(c.last_key != key);
    snap d = {0};
    t0 = cv_now_us();
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &d, &r), 0);
    assert_true(wait_for(&d.calls, 1, 10000));
    int64_t warm_us = d.done_us - t0;
    assert_int_equal(d.status, 0);
    assert_int_equal(d.jpeg->meta.pts, c.last_key->meta.pts);
    assert_int_equal(pic_stats(p).decodes, 2);
    print_message("snapshot latency 320x240: cold decoder %.1f ms, warm decoder %.1f ms\n", cold_us / 1000.0,
                  warm_us / 1000.0);

    snap_clear(&a);
    snap_clear(&b);
    snap_clear(&b2);
    snap_clear(&s160);
    snap_clear(&d);
    cam_free(&c);
}

static void test_snapshot_of_h265_camera(void **state)
{
    (void)state;
    static clip hevc;
    if (clip_make(&hevc, CV_CODEC_H265, "color=c=blue:size=320x180:rate=25",
                  "-frames:v 3 -c:v libx265 -x265-params log-level=error:keyint=25:bframes=0") < 0)
        fail_msg("could not make the H.265 clip");
    assert_true(hevc.track.vps_len > 0);
    static cam c;
    cam_init_clip(&c, &hevc);
    cam_pub(&c, 3);
    cv_pic *p = cv_pic_get(&g_loop, c.s, NULL);
    snap a = {0};
    cv_pic_req *r;
    assert_int_equal(cv_pic_snapshot(p, 100, snap_done, &a, &r), 0);
    assert_true(wait_for(&a.calls, 1, 10000));
    assert_int_equal(a.status, 0);
    int w, h;
    uint8_t rgb[3];
    jpeg_check(a.jpeg, &w, &h, rgb);
    assert_int_equal(w, 100);
    assert_int_equal(h, 56); /* 56.25, rounded to even */
    if (!(rgb[2] > 200 && rgb[0] < 60 && rgb[1] < 60))
        fail_msg("centre pixel is %u,%u,%u, not blue", rgb[0], rgb[1], rgb[2]);
    snap_clear(&a);
    cam_free(&c);
    clip_free(&hevc);
}

static void test_concurrent_snapshots_share_one_decode(void **state)
{
    (void)state;
    static cam c;
    cam_init(&c);
    cam_pub(&c, 3);
    cv_pic *p = cv_pic_get(&g_loop, c.s, NULL);
    snap a = {0}, b = {0}, x = {0};
    cv_pic_req *ra, *rb, *rx;
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &a, &ra), 0);
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &b, &rb), 0);
    /* A cancelled one is never called back. */
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &x, &rx), 0);
    cv_pic_cancel(rx);
    assert_true(wait_for(&b.calls, 1, 10000));
    assert_true(wait_for(&a.calls, 1, 10000));
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_ptr_equal(a.jpeg, b.jpeg);
    cv_pic_stats st = pic_stats(p);
    assert_int_equal(st.decodes, 1);
    assert_true(st.shared >= 1);
    assert_int_equal(x.calls, 0);
    snap_clear(&a);
    snap_clear(&b);
    cam_free(&c);
    assert_int_equal(x.calls, 0);
}

static void test_snapshot_without_keyframe_is_enodata(void **state)
{
    (void)state;
    static cam c;
    /* Never attached: no tracks, no keyframe. */
    memset(&c, 0, sizeof(c));
    cv_id_random(&c.id);
    c.s = cv_stream_new(&c.id, NULL);
    c.clip = &g_clip;
    g_cam = &c;
    cv_pic *p = cv_pic_get(&g_loop, c.s, NULL);
    snap a = {0};
    cv_pic_req *r;
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &a, &r), 0);
    assert_int_equal(a.calls, 0);
    assert_true(wait_for(&a.calls, 1, 10000));
    assert_int_equal(a.status, -ENODATA);
    assert_null(a.jpeg);

    /* Attached, only P-frames so far. */
    assert_int_equal(cv_stream_attach(c.s, &c.src, &g_clip.track, 1), 0);
    c.next = 1;
    c.pts = 90000;
    cam_pub(&c, 3);
    snap b = {0};
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &b, &r), 0);
    assert_true(wait_for(&b.calls, 1, 10000));
    assert_int_equal(b.status, -ENODATA);

    /* Offline: the camera had a keyframe, then went away. */
    c.next = 0;
    cam_pub(&c, 2);
    cv_stream_detach(c.s, &c.src);
    snap d = {0};
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &d, &r), 0);
    assert_true(wait_for(&d.calls, 1, 10000));
    assert_int_equal(d.status, -ENODATA);
    assert_int_equal(pic_stats(p).decodes, 0);
    cam_free(&c);
}

static void test_shutdown_fails_pending_snapshot(void **state)
{
    (void)state;
    static cam c;
    cam_init(&c);
    cam_pub(&c, 2);
    cv_pic *p = cv_pic_get(&g_loop, c.s, NULL);
    snap a = {0}, b = {0};
    cv_pic_req *r;
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &a, &r), 0);
    assert_int_equal(cv_pic_snapshot(p, 160, snap_done, &b, &r), 0);
    /* The first is on the pool now; the stream goes away under it. */
    cv_stream_shutdown(c.s, "camera removed");
    assert_int_equal(a.calls, 0);
    cv_stream_unref(c.s); /* the pic outlives the stream until its job is done */
    c.s = NULL;
    g_cam = NULL;
    uv_run(&g_loop, UV_RUN_DEFAULT);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, -ESHUTDOWN);
    assert_null(a.jpeg);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.status, -ESHUTDOWN);
}

static void test_corrupt_keyframe_is_eio(void **state)
{
    (void)state;
    static cam c;
    cam_init(&c);
    cv_pic *p = cv_pic_get(&g_loop, c.s, NULL);
    /* A well-formed NAL unit (the hub refuses malformed ones at the door)
     * whose IDR slice is noise. */
    uint8_t buf[4 + 600];
    cv_wr_be32(buf, 600);
    buf[4] = 0x65;
    uint32_t x = 12345;
    for (size_t i = 5; i < sizeof(buf); i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    cv_frame *f = mkframe(&c.id, buf, sizeof(buf), true, 1000);
    assert_int_equal(cv_stream_publish(c.s, &c.src, f), 0);
    cv_frame_unref(f);
    snap a = {0};
    cv_pic_req *r;
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &a, &r), 0);
    assert_true(wait_for(&a.calls, 1, 10000));
    assert_int_equal(a.status, -EIO);
    assert_null(a.jpeg);
    assert_true(pic_stats(p).errors >= 1);

    /* Noise whose length prefix does not add up: refused before the decoder. */
    cv_wr_be32(buf, 0x7fffffff);
    f = mkframe(&c.id, buf, 4 + 40, true, 5000);
    int rc = cv_stream_publish(c.s, &c.src, f);
    cv_frame_unref(f);
    if (rc == 0) {
        snap b = {0};
        assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &b, &r), 0);
        assert_true(wait_for(&b.calls, 1, 10000));
        assert_int_equal(b.status, -EIO);
    }

    /* The camera recovers: a real keyframe gives a picture again. */
    cam_pub(&c, 1);
    snap d = {0};
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &d, &r), 0);
    assert_true(wait_for(&d.calls, 1, 10000));
    assert_int_equal(d.status, 0);
    snap_clear(&d);
    cam_free(&c);
}

/* --- MJPEG --- */

typedef struct {
    cv_pic_watch *w;
    cam *c;
    int pics, ends;
    int width, height; /* of the last picture */
    bool red, foreign;
    int stop_after;    /* stop from inside on_jpeg after this many (0: never) */
    bool stop_on_end;
    char reason[64];
} watcher;

static void on_jpeg(void *ctx, cv_frame *jpeg)
{
    watcher *k = ctx;
    k->pics++;
    if (!cv_id_eq(&jpeg->meta.camera, &k->c->id))
        k->foreign = true;
    if (k->pics <= 2 || k->pics % 4 == 0) { /* decoding every one would slow the test */
        uint8_t rgb[3];
        jpeg_check(jpeg, &k->width, &k->height, rgb);
        k->red = rgb[0] > 200 && rgb[1] < 60 && rgb[2] < 60;
    }
    if (k->stop_after && k->pics == k->stop_after) {
        cv_pic_watch_stop(k->w);
        k->w = NULL;
    }
}

static void on_end(void *ctx, const char *reason)
{
    watcher *k = ctx;
    k->ends++;
    snprintf(k->reason, sizeof(k->reason), "%s", reason);
    if (k->stop_on_end) {
        cv_pic_watch_stop(k->w);
        k->w = NULL;
    }
}

static watcher *g_watchers[8];

static void unwatch(watcher *k)
{
    cv_pic_watch_stop(k->w);
    k->w = NULL;
}

static void watch(watcher *k, cam *c, cv_pic *p, int width, double fps)
{
    size_t i = 0;
    while (i < 8 && g_watchers[i] && g_watchers[i] != k)
        i++;
    assert_true(i < 8);
    g_watchers[i] = k;
    k->c = c;
    k->w = cv_pic_watch_start(p, width, fps, on_jpeg, on_end, k);
    assert_non_null(k->w);
}

/* Publishes the clip at 25 fps for ms milliseconds. */
typedef struct {
    cam *c;
    int left;
    int done;
} pacer;

static void pace_cb(uv_timer_t *t)
{
    pacer *pc = t->data;
    cam_pub(pc->c, 1);
    if (--pc->left == 0) {
        uv_timer_stop(t);
        pc->done = 1;
    }
}

static void publish_live(cam *c, int ms)
{
    pacer pc = {c, ms / 40, 0};
    uv_timer_t t;
    uv_timer_init(&g_loop, &t);
    t.data = &pc;
    uv_timer_start(&t, pace_cb, 40, 40);
    wait_for(&pc.done, 1, ms + 5000);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&g_loop, UV_RUN_NOWAIT);
}

static void test_decoder_cools_after_keep_warm(void **state)
{
    (void)state;
    static cam c;
    cam_init(&c);
    cam_pub(&c, 2);
    cv_pic_config cfg = {.quality = 3, .keep_warm_ms = 50, .max_fps = 10};
    cv_pic *p = cv_pic_get(&g_loop, c.s, &cfg);
    snap a = {0}, b = {0};
    cv_pic_req *r;
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &a, &r), 0);
    assert_true(wait_for(&a.calls, 1, 10000));
    assert_int_equal(a.status, 0);
    assert_true(pic_stats(p).decoder_warm);
    run_for(200);
    assert_false(pic_stats(p).decoder_warm);
    /* The cache went with the decoder: the same keyframe is decoded again. */
    assert_int_equal(cv_pic_snapshot(p, 0, snap_done, &b, &r), 0);
    assert_true(wait_for(&b.calls, 1, 10000));
    assert_int_equal(b.status, 0);
    assert_int_equal(pic_stats(p).decodes, 2);
    assert_int_equal(pic_stats(p).shared, 0);

    /* The MJPEG decoder cools keep_warm_ms after its last watcher. */
    static watcher k;
    memset(&k, 0, sizeof(k));
    watch(&k, &c, p, 0, 10);
    publish_live(&c, 200);
    assert_true(k.pics >= 1);
    unwatch(&k);
    run_for(30);
    assert_true(pic_stats(p).decoder_warm);
    run_for(200);
    assert_false(pic_stats(p).decoder_warm);
    snap_clear(&a);
    snap_clear(&b);
    cam_free(&c);
}

static void test_mjpeg_watchers_get_paced_pictures(void **state)
{
    (void)state;
    static cam c;
    cam_init(&c);
    cam_pub(&c, 10); /* the prebuffer a new watcher starts from */
    cv_pic *p = cv_pic_get(&g_loop, c.s, NULL);
    static watcher a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    watch(&a, &c, p, 0, 5);
    watch(&b, &c, p, 160, 2);
    assert_int_equal(pic_stats(p).watchers, 2);
    cv_stream_stats ss;
    cv_stream_get_stats(c.s, &ss);
    assert_int_equal(ss.viewers, 1); /* one subscription for every watcher */

    publish_live(&c, 2000);
    print_message("MJPEG over 2 s: fps 5 watcher got %d, fps 2 watcher got %d\n", a.pics, b.pics);
    assert_in_range(a.pics, 5, 12);
    assert_in_range(b.pics, 2, 6);
    assert_int_equal(a.width, 320);
    assert_int_equal(a.height, 240);
    assert_int_equal(b.width, 160);
    assert_int_equal(b.height, 120);
    assert_true(a.red && b.red);
    assert_false(a.foreign || b.foreign);
    assert_int_equal(a.ends + b.ends, 0);
    cv_pic_stats st = pic_stats(p);
    assert_true(st.decodes >= 50);
    assert_true(st.encodes >= (uint64_t)(a.pics + b.pics) - 1);
    assert_true(st.encodes <= (uint64_t)(a.pics + b.pics));

    unwatch(&a);
    unwatch(&b);
    int pics = a.pics;
    run_for(200); /* the batch in flight at the stop still finishes */
    uint64_t decodes = pic_stats(p).decodes;
    publish_live(&c, 400);
    assert_int_equal(pic_stats(p).decodes, decodes);
    assert_int_equal(pic_stats(p).watchers, 0);
    assert_int_equal(a.pics, pics);
    cv_stream_get_stats(c.s, &ss);
    assert_int_equal(ss.viewers, 0); /* unsubscribed */
    cam_free(&c);
}

static void test_mjpeg_stop_inside_callback_and_end(void **state)
{
    (void)state;
    static cam c;
    cam_init(&c);
    cam_pub(&c, 3);
    cv_pic *p = cv_pic_get(&g_loop, c.s, NULL);
    static watcher a, b, d;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&d, 0, sizeof(d));
    a.stop_after = 2;
    watch(&a, &c, p, 0, 30);
    watch(&b, &c, p, 0, 30);
    publish_live(&c, 400);
    assert_int_equal(a.pics, 2);
    assert_null(a.w);
    assert_true(b.pics >= 3);

    /* New tracks: the watcher ends with the stream's reason. */
    cv_stream_detach(c.s, &c.src);
    cv_track_info t2[2] = {g_clip.track, g_clip.track};
    t2[1].kind = CV_MEDIA_AUDIO;
    t2[1].codec = CV_CODEC_PCMU;
    t2[1].clock_rate = 8000;
    assert_int_equal(cv_stream_attach(c.s, &c.src, t2, 2), 0);
    assert_true(wait_for(&b.ends, 1, 5000));
    assert_string_equal(b.reason, "camera tracks changed");
    int pics = b.pics;
    cam_pub(&c, 5);
    uv_run(&g_loop, UV_RUN_NOWAIT);
    assert_int_equal(b.pics, pics);

    /* A new watcher subscribes again; the stream going away ends it. */
    d.stop_on_end = true;
    watch(&d, &c, p, 0, 10);
    c.next = 0;
    publish_live(&c, 200);
    assert_true(d.pics >= 1);
    cv_stream_shutdown(c.s, "camera removed");
    assert_true(wait_for(&d.ends, 1, 5000));
    assert_string_equal(d.reason, "camera gone");
    assert_null(d.w);
    assert_int_equal(b.ends, 1); /* ended once only */
    unwatch(&b);      /* after the stream, too */
    cam_free(&c);
}

static void test_mjpeg_survives_corrupt_frames(void **state)
{
    (void)state;
    static cam c;
    cam_init(&c);
    cam_pub(&c, 2);
    cv_pic *p = cv_pic_get(&g_loop, c.s, NULL);
    static watcher a;
    memset(&a, 0, sizeof(a));
    watch(&a, &c, p, 0, 30);
    uint8_t buf[4 + 300];
    cv_wr_be32(buf, 300);
    uint32_t x = 99;
    for (int i = 0; i < 20; i++) {
        for (size_t k = 4; k < sizeof(buf); k++) {
            x = x * 1103515245u + 12345u;
            buf[k] = (uint8_t)(x >> 16);
        }
        buf[4] = i % 5 ? 0x41 : 0x65;
        cv_frame *f = mkframe(&c.id, buf, sizeof(buf), i % 5 == 0, c.pts);
        c.pts += 3600;
        assert_int_equal(cv_stream_publish(c.s, &c.src, f), 0);
        cv_frame_unref(f);
    }
    c.next = 0;
    publish_live(&c, 400);
    assert_true(a.pics >= 1);
    unwatch(&a);
    cam_free(&c);
}

static void test_mjpeg_behind_skips_to_keyframe(void **state)
{
    (void)state;
    static cam c;
    cam_init(&c);
    cam_pub(&c, 1);
    cv_pic *p = cv_pic_get(&g_loop, c.s, NULL);
    static watcher a;
    memset(&a, 0, sizeof(a));
    watch(&a, &c, p, 0, 30);
    /* 8 s of video at once, the loop never turning: the queue is bounded,
     * so the decoder drops what waits and resumes at a keyframe. */
    cam_pub(&c, 199);
    cv_pic_stats st = pic_stats(p);
    assert_true(st.skipped > 0);
    assert_true(st.skipped < 200);
    uint64_t skipped = st.skipped;
    publish_live(&c, 400);
    assert_true(a.pics >= 2);
    assert_true(a.red);
    st = pic_stats(p);
    assert_int_equal(st.skipped, skipped); /* keeping up again */
    assert_true(st.decodes + st.skipped >= 200);
    unwatch(&a);
    cam_free(&c);
}

static int check_no_live_frames(void **state)
{
    (void)state;
    for (size_t i = 0; i < 8; i++) {
        if (g_watchers[i] && g_watchers[i]->w)
            cv_pic_watch_stop(g_watchers[i]->w);
        if (g_watchers[i])
            g_watchers[i]->w = NULL;
        g_watchers[i] = NULL;
    }
    if (g_cam)
        cam_free(g_cam);
    uv_run(&g_loop, UV_RUN_DEFAULT);
    long live = cv_frame_live_count();
    if (live != 0) {
        print_error("%ld frame reference(s) leaked by the test\n", live);
        return -1;
    }
    return 0;
}

#define TEST(fn) cmocka_unit_test_teardown(fn, check_no_live_frames)

int main(void)
{
    if (cv_id_init() < 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    /* The corrupt-input cases make the decoder complain; set CV_TEST_AVLOG to see it. */
    av_log_set_level(getenv("CV_TEST_AVLOG") ? AV_LOG_INFO : AV_LOG_QUIET);
    const struct CMUnitTest tests[] = {
        TEST(test_snapshot_is_red_jpeg_of_the_camera),
        TEST(test_snapshot_of_h265_camera),
        TEST(test_concurrent_snapshots_share_one_decode),
        TEST(test_decoder_cools_after_keep_warm),
        TEST(test_snapshot_without_keyframe_is_enodata),
        TEST(test_shutdown_fails_pending_snapshot),
        TEST(test_corrupt_keyframe_is_eio),
        TEST(test_mjpeg_watchers_get_paced_pictures),
        TEST(test_mjpeg_stop_inside_callback_and_end),
        TEST(test_mjpeg_survives_corrupt_frames),
        TEST(test_mjpeg_behind_skips_to_keyframe),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
