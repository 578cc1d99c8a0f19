/* Tests for src/mux/fmp4.c with real media: the ffmpeg CLI encodes short
 * H.264, H.265, AAC and Opus streams into a scratch directory, the test turns
 * them into camvault frames, muxes them and checks the result with ffprobe
 * and libavformat. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <libavformat/avformat.h>

#include "base/util.h"
#include "media/codec.h"
#include "media/frame.h"
#include "media/nal.h"
#include "mux/fmp4.h"
#include "media-fixture.h"
#include "tmpdir-fixture.h"

#define MAX_FRAMES 512

typedef struct {
    cv_track_info info;
    cv_frame *f[MAX_FRAMES];
    size_t n;
} media;

typedef struct {
    tmpdir dir;
    media h264, h264crop, h265, aac, opus;
} fixture;

static fixture g;

/* ---- media generation and loading ---- */

static char *path_in(const char *name)
{
    static char p[4][192];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", g.dir.dir, name);
    return p[i];
}

static int run_ffmpeg(const char *args, const char *out)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "ffmpeg -nostdin -hide_banner -loglevel error -y %s '%s'", args, path_in(out));
    return system(cmd);
}

/* Demuxes a video (raw H.264/H.265) or Opus (Ogg) file with libavformat;
 * video gets 90 kHz pts at 25 fps, Opus 48 kHz pts from packet durations. */
static int load_lavf(media *m, const char *file, cv_codec codec)
{
    AVFormatContext *ic = NULL;
    AVPacket *pkt = av_packet_alloc();
    bool video = codec == CV_CODEC_H264 || codec == CV_CODEC_H265;
    int64_t opus_pts = 0;
    if (!pkt || avformat_open_input(&ic, path_in(file), NULL, NULL) < 0)
        return -1;
    m->info.kind = video ? CV_MEDIA_VIDEO : CV_MEDIA_AUDIO;
    m->info.codec = codec;
    m->info.clock_rate = video ? 90000 : 48000;
    m->info.channels = 2;
    while (av_read_frame(ic, pkt) >= 0 && m->n < MAX_FRAMES) {
        if (video) {
            uint8_t *lp = malloc((size_t)pkt->size * 2 + 16);
            size_t n = annexb_to_lp(pkt->data, (size_t)pkt->size, lp);
            bool key = false;
            cv_nal_iter it;
            const uint8_t *nal;
            size_t nl;
            cv_nal_iter_init(&it, lp, n);
            while (cv_nal_next(&it, &nal, &nl))
                key |= cv_nal_is_key(codec, nal, nl);
            if (key)
                cv_nal_update_params(&m->info, lp, n);
            m->f[m->n] = make_frame(0, 90000, (int64_t)m->n * 3600, key ? CV_FRAME_KEY : 0, lp, n);
            free(lp);
        } else {
            m->f[m->n] = make_frame(0, 48000, opus_pts, CV_FRAME_KEY, pkt->data, (size_t)pkt->size);
            opus_pts += pkt->duration > 0 ? pkt->duration : 960;
        }
        m->n++;
        av_packet_unref(pkt);
    }
    av_packet_free(&pkt);
    avformat_close_input(&ic);
    return m->n > 0 ? 0 : -1;
}

/* ADTS file to raw AAC frames and an AudioSpecificConfig. */
static int load_adts(media *m, const char *file)
{
    FILE *fp = fopen(path_in(file), "rb");
    static uint8_t buf[1 << 20];
    size_t len = fp ? fread(buf, 1, sizeof(buf), fp) : 0, i = 0;
    if (fp)
        fclose(fp);
    m->info.kind = CV_MEDIA_AUDIO;
    m->info.codec = CV_CODEC_AAC;
    while (i + 7 <= len && m->n < MAX_FRAMES) {
        const uint8_t *h = buf + i;
        if (h[0] != 0xff || (h[1] & 0xf0) != 0xf0)
            return -1;
        unsigned prof = h[2] >> 6, sfi = (h[2] >> 2) & 0xf, ch = (h[2] & 1) << 2 | h[3] >> 6;
        size_t flen = (size_t)(h[3] & 3) << 11 | (size_t)h[4] << 3 | h[5] >> 5;
        size_t hlen = (h[1] & 1) ? 7 : 9;
        if (flen < hlen || i + flen > len)
            return -1;
        if (m->n == 0) {
            static const uint32_t rates[] = {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000};
            unsigned asc = (prof + 1) << 11 | sfi << 7 | ch << 3;
            m->info.aac_config[0] = (uint8_t)(asc >> 8);
            m->info.aac_config[1] = (uint8_t)asc;
            m->info.aac_config_len = 2;
            m->info.clock_rate = sfi < 9 ? rates[sfi] : 8000;
            m->info.channels = (uint8_t)ch;
        }
        m->f[m->n] = make_frame(0, m->info.clock_rate, (int64_t)m->n * 1024, CV_FRAME_KEY, h + hlen, flen - hlen);
        m->n++;
        i += flen;
    }
    return m->n > 0 ? 0 : -1;
}

static void media_free(media *m)
{
    for (size_t i = 0; i < m->n; i++)
        cv_frame_unref(m->f[i]);
    m->n = 0;
}

static int group_setup(void **state)
{
    (void)state;
    if (tmpdir_make(&g.dir, "fmp4", "out.mp4") < 0)
        return -1;
    const char *x264 = "-c:v libx264 -preset ultrafast -g 25 -bf 0 -pix_fmt yuv420p -f h264";
    char args[512];
    snprintf(args, sizeof(args), "-f lavfi -i testsrc=size=320x240:rate=25 -t 2 %s", x264);
    if (run_ffmpeg(args, "v.h264") != 0)
        return -1;
    snprintf(args, sizeof(args), "-f lavfi -i testsrc=size=320x180:rate=25 -t 1 %s", x264);
    if (run_ffmpeg(args, "crop.h264") != 0)
        return -1;
    if (run_ffmpeg("-f lavfi -i testsrc=size=320x240:rate=25 -t 2 -c:v libx265 -preset ultrafast "
                   "-x265-params log-level=error:keyint=25:bframes=0 -pix_fmt yuv420p -f hevc",
                   "v.hevc") != 0 ||
        run_ffmpeg("-f lavfi -i sine=frequency=440:sample_rate=48000 -t 2 -c:a aac -b:a 64k -f adts", "a.aac") != 0 ||
        run_ffmpeg("-f lavfi -i sine=frequency=440:sample_rate=48000 -t 2 -c:a libopus -b:a 32k -f ogg", "a.ogg") != 0)
        return -1;
    if (load_lavf(&g.h264, "v.h264", CV_CODEC_H264) < 0 || load_lavf(&g.h264crop, "crop.h264", CV_CODEC_H264) < 0 ||
        load_lavf(&g.h265, "v.hevc", CV_CODEC_H265) < 0 || load_adts(&g.aac, "a.aac") < 0 ||
        load_lavf(&g.opus, "a.ogg", CV_CODEC_OPUS) < 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    media_free(&g.h264);
    media_free(&g.h264crop);
    media_free(&g.h265);
    media_free(&g.aac);
    media_free(&g.opus);
    tmpdir_remove(&g.dir);
    return cv_frame_live_count() == 0 ? 0 : -1;
}

/* ---- muxing helpers ---- */

typedef struct {
    FILE *fp;
    size_t chunks;
    int64_t next_start_us, total_us;
} sink;

/* Top-level box types of buf, "ftyp moov ..."; false if the sizes do not add up. */
static bool box_list(const uint8_t *p, size_t len, char *out, size_t cap)
{
    out[0] = 0;
    while (len > 0) {
        if (len < 8)
            return false;
        uint32_t sz = cv_be32(p);
        if (sz < 8 || sz > len)
            return false;
        size_t o = strlen(out);
        snprintf(out + o, cap - o, "%s%.4s", o ? " " : "", (const char *)p + 4);
        p += sz;
        len -= sz;
    }
    return true;
}

static void sink_open(sink *s, cv_fmp4 *m)
{
    size_t len;
    char boxes[128];
    const uint8_t *init = cv_fmp4_init(m, &len);
    assert_non_null(init);
    assert_true(box_list(init, len, boxes, sizeof(boxes)));
    assert_string_equal(boxes, "ftyp moov");
    memset(s, 0, sizeof(*s));
    s->fp = fopen(g.dir.path, "wb");
    assert_non_null(s->fp);
    assert_int_equal(fwrite(init, 1, len, s->fp), len);
}

static void sink_flush(sink *s, cv_fmp4 *m)
{
    int64_t start = -1, dur = -1;
    char boxes[128];
    cv_payload *p = cv_fmp4_flush(m, &start, &dur);
    if (!p)
        return;
    assert_true(box_list(cv_payload_cdata(p), cv_payload_len(p), boxes, sizeof(boxes)));
    assert_string_equal(boxes, "moof mdat");
    /* Chunks tile the timeline: each starts where the previous ended. */
    if (s->chunks)
        assert_int_equal(start, s->next_start_us);
    assert_true(dur >= 0); /* 0 for a chunk of audio only */
    s->next_start_us = start + dur;
    s->total_us += dur;
    s->chunks++;
    assert_int_equal(fwrite(cv_payload_cdata(p), 1, cv_payload_len(p), s->fp), cv_payload_len(p));
    cv_payload_unref(p);
}

static void sink_close(sink *s, cv_fmp4 *m)
{
    sink_flush(s, m);
    fclose(s->fp);
}

/* Writes video (track 0) and audio (track 1, optional) interleaved by
 * time, with an optional pts step applied to both from video frame
 * jump_at on; flushes every flush_every video frames. */
static void mux_all(cv_fmp4 *m, sink *s, const media *v, const media *a, size_t flush_every, size_t jump_at,
                    int64_t jump_s)
{
    size_t ai = 0;
    for (size_t vi = 0; vi <= v->n; vi++) {
        int64_t vus = vi < v->n ? av_rescale(v->f[vi]->meta.pts, 1000000, 90000) : INT64_MAX;
        while (a && ai < a->n && av_rescale(a->f[ai]->meta.pts, 1000000, a->info.clock_rate) < vus) {
            cv_frame_meta meta = a->f[ai]->meta;
            meta.track = 1;
            if (jump_at && vi >= jump_at)
                meta.pts += jump_s * a->info.clock_rate;
            cv_frame *f = cv_frame_new(&meta, cv_payload_ref(a->f[ai]->payload));
            assert_int_equal(cv_fmp4_write(m, f), 0);
            cv_frame_unref(f);
            ai++;
        }
        if (vi == v->n)
            break;
        cv_frame_meta meta = v->f[vi]->meta;
        if (jump_at && vi >= jump_at)
            meta.pts += jump_s * 90000;
        cv_frame *f = cv_frame_new(&meta, cv_payload_ref(v->f[vi]->payload));
        assert_int_equal(cv_fmp4_write(m, f), 0);
        cv_frame_unref(f);
        if ((vi + 1) % flush_every == 0)
            sink_flush(s, m);
    }
    sink_close(s, m);
}

/* ffprobe over the written file: stderr must stay empty; returns the
 * "key=value" lines of the streams' codec_name, width, height, level and
 * nb_read_frames. */
static void probe(char *out, size_t cap)
{
    char cmd[1024], err[200], line[128];
    snprintf(err, sizeof(err), "%s/probe.err", g.dir.dir);
    snprintf(cmd, sizeof(cmd),
             "ffprobe -v error -count_frames -show_entries stream=codec_name,codec_tag_string,width,height,"
             "level,nb_read_frames -of default=nw=1 '%s' 2>'%s'",
             g.dir.path, err);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = 0;
    while (fgets(line, sizeof(line), p)) {
        size_t o = strlen(out);
        snprintf(out + o, cap - o, "%s", line);
    }
    assert_int_equal(pclose(p), 0);
    struct stat st;
    assert_int_equal(stat(err, &st), 0);
    if (st.st_size != 0) {
        char buf[512] = "";
        FILE *e = fopen(err, "r");
        size_t n = e ? fread(buf, 1, sizeof(buf) - 1, e) : 0;
        buf[n] = 0;
        if (e)
            fclose(e);
        fail_msg("ffprobe complained: %s", buf);
    }
}

/* Demuxes the written file; checks pts strictly increase per stream with no
 * gap over max_gap_us, and returns the last pts (us) of streams 0 and 1. */
static int64_t g_first_us[2];
static void check_timeline(int64_t max_gap_us, int64_t last_us[2], size_t count[2])
{
    AVFormatContext *ic = NULL;
    AVPacket *pkt = av_packet_alloc();
    int64_t prev[2] = {INT64_MIN, INT64_MIN};
    assert_int_equal(avformat_open_input(&ic, g.dir.path, NULL, NULL), 0);
    count[0] = count[1] = 0;
    while (av_read_frame(ic, pkt) >= 0) {
        int i = pkt->stream_index;
        assert_true(i >= 0 && i < 2);
        int64_t us = av_rescale_q(pkt->pts, ic->streams[i]->time_base, AV_TIME_BASE_Q);
        if (prev[i] == INT64_MIN) {
            assert_true(us >= 0 && us < 1000000);
            g_first_us[i] = us;
        }
        else
            assert_true(us > prev[i] && us - prev[i] <= max_gap_us);
        prev[i] = us;
        count[i]++;
        av_packet_unref(pkt);
    }
    last_us[0] = prev[0];
    last_us[1] = prev[1];
    av_packet_free(&pkt);
    avformat_close_input(&ic);
}

/* ---- cases ---- */

static void test_fmp4_h264_only(void **state)
{
    (void)state;
    cv_fmp4 *m;
    sink s;
    char out[512], want[64];
    int w = 0, h = 0;
    assert_int_equal(cv_fmp4_new(&m, &g.h264.info, 1), 0);
    const uint8_t *sps = g.h264.info.sps;
    snprintf(want, sizeof(want), "avc1.%02x%02x%02x", sps[1], sps[2], sps[3]);
    assert_string_equal(cv_fmp4_codecs(m), want);
    assert_true(cv_fmp4_resolution(m, &w, &h));
    assert_int_equal(w, 320);
    assert_int_equal(h, 240);
    assert_true(cv_fmp4_carries(m, 0));
    assert_false(cv_fmp4_carries(m, 1));
    assert_null(cv_fmp4_flush(m, NULL, NULL)); /* nothing written yet */
    sink_open(&s, m);
    mux_all(m, &s, &g.h264, NULL, 5, 0, 0);
    assert_int_equal(s.chunks, 10);
    assert_int_equal(s.total_us, 2000000);
    probe(out, sizeof(out));
    assert_non_null(strstr(out, "codec_name=h264\ncodec_tag_string=avc1\nwidth=320\nheight=240\n"));
    assert_non_null(strstr(out, "nb_read_frames=50\n"));
    int64_t last[2];
    size_t count[2];
    check_timeline(40001, last, count);
    assert_int_equal(count[0], 50);
    assert_int_equal(last[0], 49 * 40000);
    cv_fmp4_free(m);
}

static void test_fmp4_h264_cropped_size(void **state)
{
    (void)state;
    cv_fmp4 *m;
    int w = 0, h = 0;
    assert_int_equal(cv_fmp4_new(&m, &g.h264crop.info, 1), 0);
    assert_true(cv_fmp4_resolution(m, &w, &h));
    assert_int_equal(w, 320);
    assert_int_equal(h, 180);
    cv_fmp4_free(m);
}

static void test_fmp4_h264_aac(void **state)
{
    (void)state;
    cv_fmp4 *m;
    sink s;
    char out[512], want[64];
    cv_track_info tracks[2] = {g.h264.info, g.aac.info};
    assert_int_equal(cv_fmp4_new(&m, tracks, 2), 0);
    const uint8_t *sps = g.h264.info.sps;
    snprintf(want, sizeof(want), "avc1.%02x%02x%02x,mp4a.40.2", sps[1], sps[2], sps[3]);
    assert_string_equal(cv_fmp4_codecs(m), want);
    print_message("codecs: %s\n", cv_fmp4_codecs(m));
    sink_open(&s, m);
    mux_all(m, &s, &g.h264, &g.aac, 10, 0, 0);
    probe(out, sizeof(out));
    assert_non_null(strstr(out, "codec_name=h264\ncodec_tag_string=avc1\nwidth=320\nheight=240\n"));
    assert_non_null(strstr(out, "codec_name=aac\ncodec_tag_string=mp4a\n"));
    char n[64];
    snprintf(n, sizeof(n), "nb_read_frames=%zu\n", g.aac.n);
    assert_non_null(strstr(out, n));
    int64_t last[2];
    size_t count[2];
    check_timeline(40001, last, count);
    assert_int_equal(count[0], 50);
    assert_int_equal(count[1], g.aac.n);
    assert_true(llabs(last[0] - last[1]) < 100000);
    cv_fmp4_free(m);
}

static void test_fmp4_h265_opus(void **state)
{
    (void)state;
    cv_fmp4 *m;
    sink s;
    char out[768], want[64];
    int w = 0, h = 0;
    cv_track_info tracks[2] = {g.h265.info, g.opus.info};
    assert_int_equal(cv_fmp4_new(&m, tracks, 2), 0);
    assert_true(cv_fmp4_resolution(m, &w, &h));
    assert_int_equal(w, 320);
    assert_int_equal(h, 240);
    sink_open(&s, m);
    /* A chunk per frame: each frame is available right after its flush. */
    mux_all(m, &s, &g.h265, &g.opus, 1, 0, 0);
    assert_int_equal(s.chunks, 51); /* + the audio after the last video frame */
    probe(out, sizeof(out));
    assert_non_null(strstr(out, "codec_name=hevc\ncodec_tag_string=hvc1\nwidth=320\nheight=240\n"));
    assert_non_null(strstr(out, "codec_name=opus\ncodec_tag_string=Opus\n"));
    assert_non_null(strstr(out, "nb_read_frames=50\n"));
    const char *lv = strstr(out, "level=");
    assert_non_null(lv);
    /* Main profile, progressive frame-only source: hvc1.1.6.L<level>.90 or .B0 */
    snprintf(want, sizeof(want), "hvc1.1.6.L%d.", atoi(lv + 6));
    assert_memory_equal(cv_fmp4_codecs(m), want, strlen(want));
    assert_non_null(strstr(cv_fmp4_codecs(m), ",opus"));
    print_message("codecs: %s\n", cv_fmp4_codecs(m));
    int64_t last[2];
    size_t count[2];
    check_timeline(40001, last, count);
    assert_int_equal(count[0], 50);
    assert_int_equal(count[1], g.opus.n);
    assert_true(llabs(last[0] - last[1]) < 100000);
    cv_fmp4_free(m);
}

static void test_fmp4_pts_jumps(void **state)
{
    (void)state;
    cv_track_info tracks[2] = {g.h264.info, g.aac.info};
    int64_t steps[] = {100, -1000, 4}; /* s: forward, backward, small forward (kept) */
    for (size_t k = 0; k < CV_ARRAY_LEN(steps); k++) {
        cv_fmp4 *m;
        sink s;
        char out[512];
        assert_int_equal(cv_fmp4_new(&m, tracks, 2), 0);
        sink_open(&s, m);
        mux_all(m, &s, &g.h264, &g.aac, 7, 23, steps[k]);
        probe(out, sizeof(out));
        int64_t last[2];
        size_t count[2];
        check_timeline(steps[k] > 0 && steps[k] < 5 ? steps[k] * 1000000 + 40001 : 40001, last, count);
        assert_int_equal(count[0], 50);
        assert_int_equal(count[1], g.aac.n);
        /* Audio and video stay in step. */
        assert_true(llabs(last[0] - last[1]) < 100000);
        int64_t want = 49 * 40000 + (steps[k] == 4 ? 4000000 : 0);
        assert_true(llabs(last[0] - want) <= 1);
        cv_fmp4_free(m);
    }
}

static void test_fmp4_audio_jumps_alone(void **state)
{
    (void)state;
    cv_fmp4 *m;
    sink s;
    char out[512];
    cv_track_info tracks[2] = {g.h264.info, g.aac.info};
    assert_int_equal(cv_fmp4_new(&m, tracks, 2), 0);
    sink_open(&s, m);
    size_t ai = 0;
    for (size_t vi = 0; vi < g.h264.n; vi++) {
        int64_t vus = vi * 40000;
        while (ai < g.aac.n && av_rescale(g.aac.f[ai]->meta.pts, 1000000, 48000) < vus) {
            cv_frame_meta meta = g.aac.f[ai]->meta;
            meta.track = 1;
            if (ai >= 40)
                meta.pts -= 30 * 48000; /* audio steps back 30 s on its own */
            cv_frame *f = cv_frame_new(&meta, cv_payload_ref(g.aac.f[ai]->payload));
            assert_int_equal(cv_fmp4_write(m, f), 0);
            cv_frame_unref(f);
            ai++;
        }
        assert_int_equal(cv_fmp4_write(m, g.h264.f[vi]), 0);
        if (vi % 4 == 3)
            sink_flush(&s, m);
    }
    sink_close(&s, m);
    probe(out, sizeof(out));
    int64_t last[2];
    size_t count[2];
    check_timeline(40001, last, count);
    assert_int_equal(count[1], ai);
    assert_true(llabs(last[0] - last[1]) < 100000);
    cv_fmp4_free(m);
}

static void test_fmp4_audio_starts_late(void **state)
{
    (void)state;
    cv_fmp4 *m;
    sink s;
    char out[512];
    media late = g.aac; /* borrowed frames: the first 10 (213 ms) left out */
    memmove(late.f, late.f + 10, (late.n - 10) * sizeof(late.f[0]));
    late.n -= 10;
    cv_track_info tracks[2] = {g.h264.info, g.aac.info};
    assert_int_equal(cv_fmp4_new(&m, tracks, 2), 0);
    sink_open(&s, m);
    mux_all(m, &s, &g.h264, &late, 5, 0, 0);
    probe(out, sizeof(out));
    int64_t last[2];
    size_t count[2];
    check_timeline(40001, last, count);
    assert_int_equal(count[1], late.n);
    /* Placed by arrival time next to the video, not pulled to 0. */
    assert_int_equal(g_first_us[0], 0);
    assert_true(llabs(g_first_us[1] - 213333) <= 1);
    assert_true(llabs(last[0] - last[1]) < 100000);
    cv_fmp4_free(m);
}

/* Jittery pts and a frame rate change, one chunk per frame: the output
 * follows the source without building up a lag or rebasing. */
static void test_fmp4_jitter(void **state)
{
    (void)state;
    cv_fmp4 *m;
    sink s;
    char out[512];
    assert_int_equal(cv_fmp4_new(&m, &g.h264.info, 1), 0);
    sink_open(&s, m);
    int64_t pts = 0;
    for (size_t i = 0; i < g.h264.n; i++) {
        cv_frame_meta meta = g.h264.f[i]->meta;
        pts += i == 0 ? 0 : i < 25 ? 3600 : 3000;
        meta.pts = pts + (i % 2 ? 450 : -450);
        cv_frame *f = cv_frame_new(&meta, cv_payload_ref(g.h264.f[i]->payload));
        assert_int_equal(cv_fmp4_write(m, f), 0);
        cv_frame_unref(f);
        sink_flush(&s, m);
    }
    sink_close(&s, m);
    probe(out, sizeof(out));
    int64_t last[2];
    size_t count[2];
    check_timeline(60000, last, count);
    assert_int_equal(count[0], g.h264.n);
    int64_t src_last_us = av_rescale(pts + 450 - (-450), 1000000, 90000); /* from the first frame's -450 */
    assert_true(llabs(last[0] - src_last_us) <= 10000); /* one 40 -> 33 ms step */
    cv_fmp4_free(m);
}

static void test_fmp4_odd_input(void **state)
{
    (void)state;
    cv_fmp4 *m;
    cv_track_info tracks[2] = {g.h264.info, g.aac.info};
    assert_int_equal(cv_fmp4_new(&m, tracks, 2), 0);
    /* Audio before the first video frame, then a non-key first frame. */
    cv_frame_meta meta = g.aac.f[0]->meta;
    meta.track = 1;
    cv_frame *a = cv_frame_new(&meta, cv_payload_ref(g.aac.f[0]->payload));
    assert_int_equal(cv_fmp4_write(m, a), -EAGAIN);
    assert_int_equal(cv_fmp4_write(m, g.h264.f[1]), -EAGAIN);
    assert_null(cv_fmp4_flush(m, NULL, NULL));
    assert_int_equal(cv_fmp4_write(m, g.h264.f[0]), 0);
    assert_int_equal(cv_fmp4_write(m, a), 0);
    /* Unknown track: ignored. Empty payload, huge pts, broken NAL lengths: refused. */
    meta.track = 3;
    cv_frame *f = cv_frame_new(&meta, cv_payload_copy("x", 1));
    assert_int_equal(cv_fmp4_write(m, f), 0);
    cv_frame_unref(f);
    meta = g.h264.f[2]->meta;
    f = cv_frame_new(&meta, cv_payload_new(0));
    assert_int_equal(cv_fmp4_write(m, f), -EINVAL);
    cv_frame_unref(f);
    meta.pts = INT64_MAX;
    f = cv_frame_new(&meta, cv_payload_ref(g.h264.f[2]->payload));
    assert_int_equal(cv_fmp4_write(m, f), -EINVAL);
    cv_frame_unref(f);
    meta.pts = 3600 * 2;
    static const uint8_t bad[] = {0, 0, 0, 9, 0x41, 0x9a};
    f = cv_frame_new(&meta, cv_payload_copy(bad, sizeof(bad)));
    assert_int_equal(cv_fmp4_write(m, f), -EINVAL);
    cv_frame_unref(f);
    /* A huge forward jump is just a discontinuity. */
    meta.pts = INT64_C(1) << 50;
    f = cv_frame_new(&meta, cv_payload_ref(g.h264.f[2]->payload));
    assert_int_equal(cv_fmp4_write(m, f), 0);
    cv_frame_unref(f);
    int64_t start = -1, dur = -1;
    cv_payload *p = cv_fmp4_flush(m, &start, &dur);
    assert_non_null(p);
    assert_int_equal(start, 0);
    assert_int_equal(dur, 80000);
    cv_payload_unref(p);
    assert_null(cv_fmp4_flush(m, NULL, NULL));
    cv_frame_unref(a);
    cv_fmp4_free(m);
}

static void test_fmp4_needs_parameter_sets(void **state)
{
    (void)state;
    cv_fmp4 *m = NULL;
    cv_track_info t = g.h264.info;
    t.sps_len = 0;
    assert_int_equal(cv_fmp4_new(&m, &t, 1), -EAGAIN);
    t = g.h264.info;
    t.pps_len = 0;
    assert_int_equal(cv_fmp4_new(&m, &t, 1), -EAGAIN);
    t = g.h265.info;
    t.vps_len = 0;
    assert_int_equal(cv_fmp4_new(&m, &t, 1), -EAGAIN);
    assert_null(m);
}

static void test_fmp4_g711(void **state)
{
    (void)state;
    cv_fmp4 *m = NULL;
    cv_track_info pcmu = {.kind = CV_MEDIA_AUDIO, .codec = CV_CODEC_PCMU, .clock_rate = 8000};
    assert_int_equal(cv_fmp4_new(&m, &pcmu, 1), -ENOTSUP);
    assert_int_equal(cv_fmp4_new(&m, NULL, 0), -ENOTSUP);
    cv_track_info tracks[3] = {pcmu, g.h264.info, g.h264.info};
    assert_int_equal(cv_fmp4_new(&m, tracks, 3), 0);
    assert_false(cv_fmp4_carries(m, 0));
    assert_true(cv_fmp4_carries(m, 1));
    assert_false(cv_fmp4_carries(m, 2)); /* a second video track */
    const uint8_t *sps = g.h264.info.sps;
    char want[32];
    snprintf(want, sizeof(want), "avc1.%02x%02x%02x", sps[1], sps[2], sps[3]);
    assert_string_equal(cv_fmp4_codecs(m), want);
    cv_frame_meta meta = {.track = 0, .clock_rate = 8000, .flags = CV_FRAME_KEY};
    cv_frame *f = cv_frame_new(&meta, cv_payload_copy("\xff\xff", 2));
    assert_int_equal(cv_fmp4_write(m, f), 0);
    cv_frame_unref(f);
    assert_null(cv_fmp4_flush(m, NULL, NULL));
    cv_fmp4_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmp4_h264_only),
        cmocka_unit_test(test_fmp4_h264_cropped_size),
        cmocka_unit_test(test_fmp4_h264_aac),
        cmocka_unit_test(test_fmp4_h265_opus),
        cmocka_unit_test(test_fmp4_pts_jumps),
        cmocka_unit_test(test_fmp4_audio_jumps_alone),
        cmocka_unit_test(test_fmp4_audio_starts_late),
        cmocka_unit_test(test_fmp4_jitter),
        cmocka_unit_test(test_fmp4_odd_input),
        cmocka_unit_test(test_fmp4_needs_parameter_sets),
        cmocka_unit_test(test_fmp4_g711),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
