/* Tests for src/hls/packager.c with real H.264 (the ffmpeg CLI encodes a
 * short clip at test time): parts and segments cut where they should be,
 * the playlist's LL-HLS tags, blocking-reload arithmetic, waits and
 * progressive followers, provenance at the packager's door, and the
 * packager's lifetime inside its stream. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <libavformat/avformat.h>
#include <uv.h>

#include "base/id.h"
#include "hls/packager.h"
#include "hub/stream.h"
#include "hub/stream_int.h"
#include "media/nal.h"
#include "media-fixture.h"
#include "tmpdir-fixture.h"

#define MAX_FRAMES 200 /* 8 s at 25 fps, a keyframe every 2 s */

static struct {
    tmpdir dir;
    cv_track_info info;
    cv_frame *f[MAX_FRAMES];
    size_t n;
    cv_frame *small[60]; /* 160x120, 2 s: the camera changes its picture format */
    size_t nsmall;
} g;

static cv_id cam_a = {{1, 2, 3, 4}}, cam_b = {{9, 9, 9, 9}};
static int source_tag;
static const void *SRC = &source_tag;

static int group_setup(void **state)
{
    (void)state;
    if (tmpdir_make(&g.dir, "hls", "clip.h264") != 0)
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc=size=320x240:rate=25 -t 8 "
             "-c:v libx264 -preset ultrafast -g 50 -bf 0 -pix_fmt yuv420p -f h264 '%s'",
             g.dir.path);
    if (system(cmd) != 0)
        return -1;
    AVFormatContext *ic = NULL;
    AVPacket *pkt = av_packet_alloc();
    if (!pkt || avformat_open_input(&ic, g.dir.path, NULL, NULL) < 0)
        return -1;
    g.info.kind = CV_MEDIA_VIDEO;
    g.info.codec = CV_CODEC_H264;
    g.info.clock_rate = 90000;
    while (av_read_frame(ic, pkt) >= 0 && g.n < MAX_FRAMES) {
        uint8_t *lp = malloc((size_t)pkt->size * 2 + 16);
        size_t n = annexb_to_lp(pkt->data, (size_t)pkt->size, lp);
        bool key = pkt->flags & AV_PKT_FLAG_KEY;
        if (key)
            cv_nal_update_params(&g.info, lp, n);
        g.f[g.n] = make_frame(0, 90000, (int64_t)g.n * 3600, key ? CV_FRAME_KEY : 0, lp, n);
        g.f[g.n]->meta.camera = cam_a;
        g.n++;
        free(lp);
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&ic);
    if (g.n != MAX_FRAMES || !g.info.sps_len)
        return -1;
    char small[160];
    snprintf(small, sizeof(small), "%s/small.h264", g.dir.dir);
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc=size=160x120:rate=25 -t 2 "
             "-c:v libx264 -preset ultrafast -g 50 -bf 0 -pix_fmt yuv420p -f h264 '%s'",
             small);
    if (system(cmd) != 0 || !(pkt = av_packet_alloc()))
        return -1;
    ic = NULL;
    if (avformat_open_input(&ic, small, NULL, NULL) < 0)
        return -1;
    while (av_read_frame(ic, pkt) >= 0 && g.nsmall < CV_ARRAY_LEN(g.small)) {
        uint8_t *lp = malloc((size_t)pkt->size * 2 + 16);
        size_t n = annexb_to_lp(pkt->data, (size_t)pkt->size, lp);
        bool key = pkt->flags & AV_PKT_FLAG_KEY;
        /* Its first keyframe carries the new parameter sets in-band. */
        uint32_t flags = key ? CV_FRAME_KEY | (g.nsmall == 0 ? CV_FRAME_PARAMS : 0) : 0;
        g.small[g.nsmall] = make_frame(0, 90000, 0, flags, lp, n);
        g.small[g.nsmall]->meta.camera = cam_a;
        g.nsmall++;
        free(lp);
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&ic);
    return g.nsmall == 50 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < g.n; i++)
        cv_frame_unref(g.f[i]);
    for (size_t i = 0; i < g.nsmall; i++)
        cv_frame_unref(g.small[i]);
    tmpdir_remove(&g.dir);
    return 0;
}

/* A stream of camera A with the clip's track, and a loop. */
typedef struct {
    uv_loop_t loop;
    cv_stream *s;
    size_t next; /* next clip frame to publish */
} rig;

static void rig_open(rig *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(uv_loop_init(&r->loop), 0);
    r->s = cv_stream_new(&cam_a, NULL);
    assert_non_null(r->s);
    assert_int_equal(cv_stream_attach(r->s, SRC, &g.info, 1), 0);
}

/* Publishes copies (a frame is stamped once) of clip frames [next, upto). */
static void publish_to(rig *r, size_t upto)
{
    for (; r->next < upto && r->next < g.n; r->next++) {
        cv_frame *src = g.f[r->next];
        cv_frame *f = cv_frame_new(&src->meta, cv_payload_ref(src->payload));
        assert_int_equal(cv_stream_publish(r->s, SRC, f), 0);
        cv_frame_unref(f);
    }
}

static void rig_close(rig *r)
{
    cv_stream_shutdown(r->s, "test over");
    cv_stream_unref(r->s);
    for (int i = 0; i < 10; i++)
        uv_run(&r->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&r->loop), 0);
}

static cv_hls_config small_cfg(void)
{
    cv_hls_config c;
    cv_hls_config_default(&c);
    return c;
}

static void test_hls_cuts_parts_and_segments(void **state)
{
    (void)state;
    rig r;
    rig_open(&r);
    publish_to(&r, 10); /* a prebuffer the packager starts from */
    cv_hls_config cfg = small_cfg();
    cv_hls *h = cv_hls_get(&r.loop, r.s, &cfg);
    assert_non_null(h);
    assert_ptr_equal(cv_stream_ext(r.s, CV_STREAM_EXT_HLS), h);
    assert_ptr_equal(cv_hls_get(&r.loop, r.s, NULL), h); /* one per stream */
    assert_int_equal(cv_hls_state(h), -EAGAIN);
    publish_to(&r, 175); /* 7 s: three keyframes after the first */
    assert_int_equal(cv_hls_state(h), 0);
    assert_memory_equal(cv_hls_codecs(h), "avc1.", 5);
    int w = 0, ht = 0;
    assert_true(cv_hls_resolution(h, &w, &ht));
    assert_int_equal(w, 320);
    assert_int_equal(ht, 240);
    cv_hls_stats st;
    cv_hls_get_stats(h, &st);
    assert_int_equal(st.segments, 3); /* keyframes at 0, 2, 4, 6 s: three complete */
    assert_int_equal(st.msn, 3);
    assert_int_equal(st.chunks, 175);

    /* Parts never exceed the 334 ms target: 8 frames of 40 ms. */
    cv_sbuf b;
    cv_sbuf_init(&b);
    assert_int_equal(cv_hls_playlist(h, "s=abc", &b), 0);
    const char *p = b.p;
    assert_non_null(strstr(p, "#EXT-X-TARGETDURATION:4\n"));
    assert_non_null(strstr(p, "#EXT-X-PART-INF:PART-TARGET=0.334\n"));
    assert_non_null(strstr(p, "CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.003"));
    assert_non_null(strstr(p, "#EXT-X-MAP:URI=\"init.mp4?s=abc\"\n"));
    assert_non_null(strstr(p, "#EXTINF:2.000,\ns0.m4s?s=abc\n"));
    assert_non_null(strstr(p, "#EXT-X-PART:DURATION=0.320,URI=\"p3.0.m4s?s=abc\",INDEPENDENT=YES\n"));
    assert_non_null(strstr(p, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p3.3.m4s?s=abc\"\n"));
    assert_null(strstr(p, "DURATION=0.360"));
    cv_sbuf_free(&b);

    /* Where things stand: segment 3 has parts 0..2, part 3 is next. */
    assert_int_equal(cv_hls_locate(h, 0, -1), 0);
    assert_int_equal(cv_hls_locate(h, 3, 2), 0);
    assert_int_equal(cv_hls_locate(h, 3, 3), 1);
    assert_int_equal(cv_hls_locate(h, 3, 5), -ENOENT);
    assert_int_equal(cv_hls_locate(h, 4, 0), 1);
    assert_int_equal(cv_hls_locate(h, 6, 0), -ERANGE);
    assert_int_equal(cv_hls_locate(h, 2, 99), -ENOENT);
    assert_true(cv_hls_playlist_ready(h, 2, -1));
    assert_false(cv_hls_playlist_ready(h, 3, -1));
    assert_true(cv_hls_playlist_ready(h, 3, 2));
    assert_false(cv_hls_playlist_ready(h, 3, 3));
    assert_true(cv_hls_playlist_ready(h, 2, 7)); /* past segment 2's last part: part 0 of 3 */

    /* Init + a segment is valid fMP4 of 50 frames; parts concatenate to it. */
    cv_frame *init = cv_hls_init(h), *seg = cv_hls_segment(h, 1);
    assert_non_null(init);
    assert_non_null(seg);
    assert_memory_equal(cv_frame_data(seg) + 4, "moof", 4);
    size_t total = 0;
    for (int i = 0;; i++) {
        cv_frame *pt = cv_hls_part(h, 1, i);
        if (!pt)
            break;
        assert_memory_equal(cv_frame_data(pt), cv_frame_data(seg) + total, cv_frame_len(pt));
        assert_true(cv_id_eq(&pt->meta.camera, &cam_a));
        total += cv_frame_len(pt);
        cv_frame_unref(pt);
    }
    assert_int_equal(total, cv_frame_len(seg));
    assert_true(cv_id_eq(&seg->meta.camera, &cam_a));
    char path[160], cmd[400];
    snprintf(path, sizeof(path), "%s/seg.mp4", g.dir.dir);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fwrite(cv_frame_data(init), 1, cv_frame_len(init), fp);
    fwrite(cv_frame_data(seg), 1, cv_frame_len(seg), fp);
    fclose(fp);
    snprintf(cmd, sizeof(cmd),
             "test \"$(ffprobe -v error -count_frames -select_streams v -show_entries stream=nb_read_frames "
             "-of csv=p=0 '%s' 2>&1)\" = 50",
             path);
    assert_int_equal(system(cmd), 0);
    cv_frame_unref(init);
    cv_frame_unref(seg);
    rig_close(&r);
}

typedef struct {
    int calls, status;
    size_t chunks, bytes, inits;
    bool first_is_init, ended;
    int refuse; /* refuse this many chunks */
    cv_hls_follower *f;
} watcher;

static void on_wait(void *ctx, int status)
{
    watcher *w = ctx;
    w->calls++;
    w->status = status;
}

static int on_data(void *ctx, cv_frame *chunk)
{
    watcher *w = ctx;
    if (w->chunks == 0)
        w->first_is_init = memcmp(cv_frame_data(chunk) + 4, "ftyp", 4) == 0;
    if (w->refuse > 0) {
        w->refuse--;
        return 1;
    }
    if (memcmp(cv_frame_data(chunk) + 4, "ftyp", 4) == 0)
        w->inits++;
    else if (w->inits == 0)
        fail_msg("a chunk before the init segment");
    w->chunks++;
    w->bytes += cv_frame_len(chunk);
    return 0;
}

static void on_end(void *ctx, const char *why)
{
    watcher *w = ctx;
    (void)why;
    w->ended = true;
    cv_hls_unfollow(w->f); /* releasing from inside the callback is allowed */
    w->f = NULL;
}

static void test_hls_waits_and_followers(void **state)
{
    (void)state;
    rig r;
    rig_open(&r);
    publish_to(&r, 60);
    cv_hls *h = cv_hls_get(&r.loop, r.s, NULL);
    assert_non_null(h);
    publish_to(&r, 60); /* nothing new */
    watcher w1 = {0}, fw = {0}, slow = {.refuse = 1};
    cv_hls_wait *wt = cv_hls_wait_start(h, on_wait, &w1);
    assert_non_null(wt);
    fw.f = cv_hls_follow(h, on_data, on_end, &fw);
    slow.f = cv_hls_follow(h, on_data, on_end, &slow);
    assert_int_equal(fw.chunks, 0); /* delivery starts on a later turn */
    uv_run(&r.loop, UV_RUN_NOWAIT);
    assert_true(fw.first_is_init);
    size_t replayed = fw.chunks;
    assert_true(replayed >= 2); /* init + the current segment so far */
    publish_to(&r, 70);         /* completes at least one part */
    assert_int_equal(w1.calls, 1);
    assert_int_equal(w1.status, 0);
    assert_int_equal(fw.chunks, replayed + 10);
    /* The slow follower refused the init: it resumes at the next keyframe,
     * init first. */
    assert_int_equal(slow.chunks, 0);
    publish_to(&r, 102);
    assert_int_equal(slow.inits, 1);
    assert_int_equal(slow.chunks, 3); /* init, frames 100 and 101 */
    cv_hls_stats st;
    cv_hls_get_stats(h, &st);
    assert_int_equal(st.followers, 2);
    /* A cancelled wait is never called. */
    watcher w2 = {0};
    cv_hls_wait_cancel(cv_hls_wait_start(h, on_wait, &w2));
    publish_to(&r, 120);
    assert_int_equal(w2.calls, 0);
    /* The stream goes: waiters hear -ESHUTDOWN, followers end. */
    watcher w3 = {0};
    assert_non_null(cv_hls_wait_start(h, on_wait, &w3));
    cv_stream_shutdown(r.s, "camera removed");
    assert_int_equal(w3.calls, 1);
    assert_int_equal(w3.status, -ESHUTDOWN);
    assert_true(fw.ended && slow.ended);
    assert_null(cv_stream_ext(r.s, CV_STREAM_EXT_HLS));
    rig_close(&r);
}

static void test_hls_refuses_frames_of_another_camera(void **state)
{
    (void)state;
    rig r;
    rig_open(&r);
    publish_to(&r, 60);
    cv_hls *h = cv_hls_get(&r.loop, r.s, NULL);
    assert_non_null(h);
    cv_hls_stats before, after;
    cv_hls_get_stats(h, &before);
    /* Past the stream's own door (as a bug there would), straight to the
     * packager: it must not mux it. */
    cv_frame_meta m = g.f[60]->meta;
    m.camera = cam_b;
    cv_frame *f = cv_frame_new(&m, cv_payload_ref(g.f[60]->payload));
    assert_int_equal(cv__stream_offer_unchecked(r.s, f), 0);
    cv_frame_unref(f);
    cv_hls_get_stats(h, &after);
    assert_int_equal(after.foreign, 1);
    assert_int_equal(after.chunks, before.chunks);
    rig_close(&r);
}

static void test_hls_goes_idle(void **state)
{
    (void)state;
    rig r;
    rig_open(&r);
    publish_to(&r, 60);
    cv_hls_config cfg = small_cfg();
    cfg.idle_us = 100000;
    cv_hls *h = cv_hls_get(&r.loop, r.s, &cfg);
    assert_non_null(h);
    int64_t t0 = cv_now_us();
    while (cv_stream_ext(r.s, CV_STREAM_EXT_HLS) && cv_now_us() - t0 < 10000000)
        uv_run(&r.loop, UV_RUN_ONCE);
    assert_null(cv_stream_ext(r.s, CV_STREAM_EXT_HLS));
    rig_close(&r);
}

static void test_hls_picture_format_change(void **state)
{
    (void)state;
    rig r;
    rig_open(&r);
    publish_to(&r, 60);
    cv_hls *h = cv_hls_get(&r.loop, r.s, NULL);
    assert_non_null(h);
    watcher fw = {0};
    fw.f = cv_hls_follow(h, on_data, on_end, &fw);
    uv_run(&r.loop, UV_RUN_NOWAIT);
    publish_to(&r, 110);
    /* The camera switches to 160x120, pts running on. */
    for (size_t i = 0; i < g.nsmall; i++) {
        cv_frame_meta m = g.small[i]->meta;
        m.pts = (int64_t)(110 + i) * 3600;
        cv_frame *f = cv_frame_new(&m, cv_payload_ref(g.small[i]->payload));
        assert_int_equal(cv_stream_publish(r.s, SRC, f), 0);
        cv_frame_unref(f);
    }
    assert_true(fw.ended); /* progressive MP4 has one moov: it must reconnect */
    cv_sbuf b;
    cv_sbuf_init(&b);
    assert_int_equal(cv_hls_playlist(h, "", &b), 0);
    assert_non_null(strstr(b.p, "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init1.mp4\"\n"));
    cv_sbuf_free(&b);
    cv_frame *init1 = cv_hls_init_gen(h, 1), *init0 = cv_hls_init_gen(h, 0);
    assert_non_null(init1);
    assert_non_null(init0);
    assert_false(cv_frame_len(init1) == cv_frame_len(init0) &&
                 memcmp(cv_frame_data(init1), cv_frame_data(init0), cv_frame_len(init0)) == 0);
    int w = 0, ht = 0;
    assert_true(cv_hls_resolution(h, &w, &ht));
    assert_int_equal(w, 160);
    cv_frame_unref(init0);
    cv_frame_unref(init1);
    rig_close(&r);
}

static void test_hls_needs_tracks(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cv_stream *s = cv_stream_new(&cam_a, NULL);
    assert_null(cv_hls_get(&loop, s, NULL)); /* no source has attached yet */
    cv_stream_unref(s);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hls_cuts_parts_and_segments),
        cmocka_unit_test(test_hls_waits_and_followers),
        cmocka_unit_test(test_hls_refuses_frames_of_another_camera),
        cmocka_unit_test(test_hls_goes_idle),
        cmocka_unit_test(test_hls_picture_format_change),
        cmocka_unit_test(test_hls_needs_tracks),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
