/* Tests for the hub (src/hub/stream.c, src/hub/registry.c): provenance,
 * packetize-once fan-out, the keyframe prebuffer, bounded viewer queues,
 * stalls, reattach continuity and the registry.
 *
 * Frames are real H.264 access units (length-prefixed SPS/PPS/IDR/P NALs)
 * and G.711 or AAC audio frames. Viewers are test sinks that record every
 * frame they are handed (keeping a reference) and complete queued writes
 * only when the test says so. Every case must leave no live frame. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/id.h"
#include "base/log.h"
#include "base/util.h"
#include "hub/registry.h"
#include "hub/stream.h"
#include "media/codec.h"
#include "media/frame.h"
#include "rtp/rtcp.h"
#include "rtp/rtp.h"

static void sleep_us(int64_t us)
{
    int64_t end = cv_now_us() + us;
    for (int64_t now = cv_now_us(); now < end; now = cv_now_us()) {
        struct timespec ts = {(time_t)((end - now) / 1000000), (long)((end - now) % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

/* --- tracks --- */

static const uint8_t SPS_A[] = {0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xec, 0x04, 0x40};
static const uint8_t SPS_B[] = {0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27};
static const uint8_t PPS[] = {0x68, 0xce, 0x3c, 0x80};

static cv_track_info track_h264(void)
{
    cv_track_info t;
    memset(&t, 0, sizeof(t));
    t.kind = CV_MEDIA_VIDEO;
    t.codec = CV_CODEC_H264;
    t.clock_rate = 90000;
    t.payload_type = 96;
    t.packetization_mode = 1;
    memcpy(t.sps, SPS_A, sizeof(SPS_A));
    t.sps_len = sizeof(SPS_A);
    memcpy(t.pps, PPS, sizeof(PPS));
    t.pps_len = sizeof(PPS);
    strcpy(t.control, "trackID=0");
    return t;
}

static cv_track_info track_h265(void)
{
    cv_track_info t;
    memset(&t, 0, sizeof(t));
    t.kind = CV_MEDIA_VIDEO;
    t.codec = CV_CODEC_H265;
    t.clock_rate = 90000;
    t.payload_type = 96;
    return t;
}

static cv_track_info track_pcmu(void)
{
    cv_track_info t;
    memset(&t, 0, sizeof(t));
    t.kind = CV_MEDIA_AUDIO;
    t.codec = CV_CODEC_PCMU;
    t.clock_rate = 8000;
    t.channels = 1;
    t.payload_type = 0;
    strcpy(t.control, "trackID=1");
    return t;
}

static cv_track_info track_aac(void)
{
    cv_track_info t;
    memset(&t, 0, sizeof(t));
    t.kind = CV_MEDIA_AUDIO;
    t.codec = CV_CODEC_AAC;
    t.clock_rate = 48000;
    t.channels = 2;
    t.payload_type = 97;
    t.aac_config[0] = 0x11;
    t.aac_config[1] = 0x90;
    t.aac_config_len = 2;
    t.aac_sizelength = 13;
    t.aac_indexlength = 3;
    t.aac_indexdeltalength = 3;
    return t;
}

/* --- frames and the publishing fixture --- */

/* Fixtures, sinks and registries are registered while alive, and declared
 * static in the tests, so that the teardown can release what a failed case
 * left behind: one failure must not show up as leaks in every later case. */
#define MAX_LIVE 16

typedef struct fx fx;
typedef struct sink sink;
static fx *g_fx[MAX_LIVE];
static sink *g_sinks[MAX_LIVE];
static cv_registry *g_reg;

static void live_add(void **set, void *p)
{
    for (size_t i = 0; i < MAX_LIVE; i++) {
        if (!set[i]) {
            set[i] = p;
            return;
        }
    }
    fail_msg("too many live test objects");
}

static void live_del(void **set, void *p)
{
    for (size_t i = 0; i < MAX_LIVE; i++)
        if (set[i] == p)
            set[i] = NULL;
}

static cv_registry *reg_new(const cv_stream_limits *lim)
{
    assert_null(g_reg);
    g_reg = cv_registry_new(lim);
    assert_non_null(g_reg);
    return g_reg;
}

static void reg_free(cv_registry *r)
{
    if (r == g_reg)
        g_reg = NULL;
    cv_registry_free(r);
}

struct fx {
    cv_id cam;
    cv_stream *s;
    char src, src2;          /* their addresses are the source tokens */
    const void *cur;         /* the source publishing */
    cv_track_info tracks[CV_MAX_TRACKS];
    size_t ntracks;
    int vtrack, atrack;      /* -1 when absent */
    int64_t pts[CV_MAX_TRACKS];
    uint8_t fill;
    cv_frame **log;          /* every accepted frame, one reference each */
    size_t nlog, caplog;
};

static void fx_attach(fx *x, const void *source, const cv_track_info *t, size_t n)
{
    assert_int_equal(cv_stream_attach(x->s, source, t, n), 0);
    x->cur = source;
    memcpy(x->tracks, t, n * sizeof(*t));
    x->ntracks = n;
    x->vtrack = x->atrack = -1;
    for (size_t i = n; i-- > 0;) {
        if (t[i].kind == CV_MEDIA_VIDEO)
            x->vtrack = (int)i;
        else if (t[i].kind == CV_MEDIA_AUDIO)
            x->atrack = (int)i;
    }
}

/* Takes over the reference s. */
static void fx_init_from(fx *x, cv_stream *s)
{
    memset(x, 0, sizeof(*x));
    assert_non_null(s);
    x->s = s;
    x->cam = *cv_stream_camera(s);
    for (size_t i = 0; i < CV_MAX_TRACKS; i++)
        x->pts[i] = 1000 * (int64_t)(i + 1);
    x->vtrack = x->atrack = -1;
    live_add((void **)g_fx, x);
}

static void fx_init(fx *x, const cv_stream_limits *lim, const cv_track_info *t, size_t n)
{
    cv_id cam;
    cv_id_random(&cam);
    fx_init_from(x, cv_stream_new(&cam, lim));
    assert_true(cv_id_eq(cv_stream_camera(x->s), &cam));
    if (n)
        fx_attach(x, &x->src, t, n);
}

static void fx_free(fx *x)
{
    live_del((void **)g_fx, x);
    for (size_t i = 0; i < x->nlog; i++)
        cv_frame_unref(x->log[i]);
    free(x->log);
    cv_stream_unref(x->s);
    memset(x, 0, sizeof(*x));
}

static size_t put_nal(uint8_t *out, const uint8_t *nal, size_t len)
{
    cv_wr_be32(out, (uint32_t)len);
    memcpy(out + 4, nal, len);
    return 4 + len;
}

static size_t put_fill_nal(uint8_t *out, uint8_t hdr, size_t len, uint8_t fill)
{
    cv_wr_be32(out, (uint32_t)len);
    out[4] = hdr;
    for (size_t i = 1; i < len; i++)
        out[4 + i] = (uint8_t)(fill + i);
    return 4 + len;
}

static cv_frame *mkframe(const cv_id *cam, uint8_t track, uint32_t flags, uint32_t rate, int64_t pts,
                         const uint8_t *data, size_t len)
{
    cv_frame_meta m;
    memset(&m, 0, sizeof(m));
    m.camera = *cam;
    m.track = track;
    m.flags = flags;
    m.clock_rate = rate;
    m.pts = pts;
    m.recv_us = cv_now_us();
    cv_frame *f = cv_frame_new(&m, cv_payload_copy(data, len));
    assert_non_null(f);
    return f;
}

/* An H.264 access unit: [SPS, PPS,] IDR or P slice with body bytes. A
 * non-NULL sps makes it carry in-band parameter sets (CV_FRAME_PARAMS). */
static cv_frame *mk_h264(fx *x, const cv_id *cam, bool key, const uint8_t *sps, size_t sps_len, size_t body)
{
    size_t cap = body + sps_len + sizeof(PPS) + 16;
    uint8_t *au = malloc(cap);
    assert_non_null(au);
    size_t o = 0;
    uint32_t flags = 0;
    if (sps) {
        o += put_nal(au + o, sps, sps_len);
        o += put_nal(au + o, PPS, sizeof(PPS));
        flags |= CV_FRAME_PARAMS;
    }
    if (key)
        flags |= CV_FRAME_KEY;
    o += put_fill_nal(au + o, key ? 0x65 : 0x41, body, x->fill++);
    uint8_t tr = (uint8_t)x->vtrack;
    cv_frame *f = mkframe(cam, tr, flags, 90000, x->pts[tr], au, o);
    x->pts[tr] += 3000;
    free(au);
    return f;
}

static cv_frame *mk_video(fx *x, bool key, size_t body)
{
    assert_true(x->vtrack >= 0);
    return key ? mk_h264(x, &x->cam, true, SPS_A, sizeof(SPS_A), body) : mk_h264(x, &x->cam, false, NULL, 0, body);
}

static cv_frame *mk_audio(fx *x, size_t len)
{
    assert_true(x->atrack >= 0);
    uint8_t tr = (uint8_t)x->atrack;
    const cv_track_info *t = &x->tracks[tr];
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(x->fill + i * 7);
    x->fill++;
    cv_frame *f = mkframe(&x->cam, tr, 0, t->clock_rate, x->pts[tr], buf, len);
    x->pts[tr] += t->codec == CV_CODEC_AAC ? 1024 : (int64_t)len;
    free(buf);
    return f;
}

/* Publishes f from the current source and drops the test's reference; an
 * accepted frame is kept in the log. Returns the publish result. */
static int pub(fx *x, cv_frame *f)
{
    int rc = cv_stream_publish(x->s, x->cur, f);
    if (rc == 0) {
        if (x->nlog == x->caplog) {
            x->caplog = x->caplog ? 2 * x->caplog : 64;
            x->log = realloc(x->log, x->caplog * sizeof(*x->log));
            assert_non_null(x->log);
        }
        x->log[x->nlog++] = f;
    } else {
        cv_frame_unref(f);
    }
    return rc;
}

static cv_frame *last(const fx *x) { return x->nlog ? x->log[x->nlog - 1] : NULL; }

#define KEY_BODY 1000
#define P_BODY 300
#define AUDIO_LEN 160

static cv_frame *pv(fx *x, bool key)
{
    assert_int_equal(pub(x, mk_video(x, key, key ? KEY_BODY : P_BODY)), 0);
    return last(x);
}

static cv_frame *pa(fx *x)
{
    assert_int_equal(pub(x, mk_audio(x, AUDIO_LEN)), 0);
    return last(x);
}

/* --- the test sink --- */

struct sink {
    int rc;                  /* what write returns */
    cv_sub *sub;
    cv_frame **got;          /* every frame handed over, one reference each */
    bool *queued;            /* got[i] was queued (rc 0) */
    size_t n, cap;
    size_t next_done;        /* scan position for completions */
    size_t pending, pending_bytes, max_pending_bytes;
    int closes;
    char reason[128];
    int64_t viewers_at_close;
    bool rtp_missing;
};

static size_t cost(const cv_frame *f) { return f->rtp ? f->rtp->len : cv_frame_len(f); }

static int sink_write(void *ctx, cv_frame *f)
{
    sink *k = ctx;
    if (!f->rtp)
        k->rtp_missing = true;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->got = realloc(k->got, k->cap * sizeof(*k->got));
        k->queued = realloc(k->queued, k->cap * sizeof(*k->queued));
        if (!k->got || !k->queued)
            abort();
    }
    k->got[k->n] = cv_frame_ref(f);
    k->queued[k->n] = k->rc == 0;
    k->n++;
    if (k->rc == 0) {
        k->pending++;
        k->pending_bytes += cost(f);
        if (k->pending_bytes > k->max_pending_bytes)
            k->max_pending_bytes = k->pending_bytes;
    }
    return k->rc;
}

static void sink_close(void *ctx, const char *reason)
{
    sink *k = ctx;
    k->closes++;
    snprintf(k->reason, sizeof(k->reason), "%s", reason ? reason : "");
    cv_stream_stats st;
    cv_stream_get_stats(cv_sub_stream(k->sub), &st);
    k->viewers_at_close = st.viewers;
}

static const cv_sink_ops sink_ops = {sink_write, sink_close};

static cv_sub *sink_sub(sink *k, cv_stream *s, uint32_t mask, int rc)
{
    memset(k, 0, sizeof(*k));
    k->rc = rc;
    k->viewers_at_close = -1;
    k->sub = cv_stream_subscribe(s, mask, &sink_ops, k);
    assert_non_null(k->sub);
    live_add((void **)g_sinks, k);
    assert_ptr_equal(cv_sub_stream(k->sub), s);
    return k->sub;
}

/* Completes the n oldest queued writes, as a viewer's write callbacks would. */
static void sink_complete(sink *k, size_t n)
{
    while (n--) {
        while (k->next_done < k->n && !k->queued[k->next_done])
            k->next_done++;
        assert_true(k->next_done < k->n);
        k->pending--;
        k->pending_bytes -= cost(k->got[k->next_done]);
        k->next_done++;
        cv_sub_written(k->sub);
    }
}

static void sink_complete_all(sink *k) { sink_complete(k, k->pending); }

static size_t sink_cost_of_next(const sink *k)
{
    size_t i = k->next_done;
    while (i < k->n && !k->queued[i])
        i++;
    assert_true(i < k->n);
    return cost(k->got[i]);
}

static void sink_free(sink *k)
{
    live_del((void **)g_sinks, k);
    cv_sub_free(k->sub);
    for (size_t i = 0; i < k->n; i++)
        cv_frame_unref(k->got[i]);
    free(k->got);
    free(k->queued);
    memset(k, 0, sizeof(*k));
}

static size_t sink_count_track(const sink *k, int track)
{
    size_t n = 0;
    for (size_t i = 0; i < k->n; i++)
        n += k->got[i]->meta.track == track;
    return n;
}

static bool sink_has(const sink *k, const cv_frame *f)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->got[i] == f)
            return true;
    return false;
}

/* Releases whatever a failed case left, then checks that no frame
 * reference outlives the case. */
static int check_no_live_frames(void **state)
{
    (void)state;
    for (size_t i = 0; i < MAX_LIVE; i++)
        if (g_sinks[i])
            sink_free(g_sinks[i]);
    for (size_t i = 0; i < MAX_LIVE; i++)
        if (g_fx[i])
            fx_free(g_fx[i]);
    if (g_reg)
        reg_free(g_reg);
    long live = cv_frame_live_count();
    if (live != 0) {
        print_error("%ld frame reference(s) leaked by the test\n", live);
        return -1;
    }
    return 0;
}

#define TEST(fn) cmocka_unit_test_teardown(fn, check_no_live_frames)

static cv_sub_stats sub_stats(const sink *k)
{
    cv_sub_stats st;
    cv_sub_get_stats(k->sub, &st);
    return st;
}

static cv_stream_stats stream_stats(const cv_stream *s)
{
    cv_stream_stats st;
    cv_stream_get_stats(s, &st);
    return st;
}

/* --- wire checks --- */

static uint16_t wire_last_seq(const cv_wire *w) { return (uint16_t)(w->first_seq + w->npkts - 1); }

/* Checks that f's RTP form is valid RTP of the stream's track: interleaved
 * framing on channel 2*track, the stream's SSRC and payload type, consecutive
 * sequence numbers, one timestamp (one packet per audio frame here) and the
 * marker on the last packet. */
static void check_wire(const cv_stream *s, const cv_frame *f)
{
    const cv_wire *w = f->rtp;
    assert_non_null(w);
    assert_true(w->npkts > 0);
    uint8_t tr = f->meta.track;
    for (uint32_t i = 0; i < w->npkts; i++) {
        assert_true((size_t)w->offs[i] + 4 <= w->len);
        const uint8_t *il = w->data + w->offs[i];
        assert_int_equal(il[0], '$');
        assert_int_equal(il[1], 2 * tr);
        size_t n = cv_be16(il + 2);
        size_t next = i + 1 < w->npkts ? w->offs[i + 1] : w->len;
        assert_int_equal(w->offs[i] + 4 + n, next);
        cv_rtp_hdr h;
        assert_int_equal(cv_rtp_parse(il + 4, n, &h), 0);
        assert_int_equal(h.ssrc, cv_stream_out_ssrc(s, tr));
        assert_int_equal(h.payload_type, cv_stream_out_pt(s, tr));
        assert_int_equal(h.seq, (uint16_t)(w->first_seq + i));
        assert_int_equal(h.ts, w->rtp_ts);
        assert_int_equal(h.marker, i == w->npkts - 1);
        assert_true(h.payload_len > 0);
    }
}

/* ===================================================================== */
/* Provenance and refusals                                                */
/* ===================================================================== */

static void test_stream_refuses_publish_before_attach(void **state)
{
    (void)state;
    static fx x;
    fx_init(&x, NULL, NULL, 0);
    assert_false(cv_stream_online(x.s));
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);
    x.vtrack = 0;
    x.cur = &x.src;
    assert_int_equal(pub(&x, mk_video(&x, true, 100)), -EINVAL);
    x.cur = NULL;
    assert_int_equal(pub(&x, mk_video(&x, true, 100)), -EINVAL);
    cv_stream_stats st = stream_stats(x.s);
    assert_int_equal(st.frames_in, 0);
    assert_int_equal(st.bytes_in, 0);
    assert_int_equal(st.foreign_frames, 0);
    assert_false(st.online);
    assert_int_equal(st.viewers, 1);
    assert_int_equal(k.n, 0);
    uint16_t seq;
    uint32_t ts;
    assert_false(cv_stream_next_rtp(x.s, 0, &seq, &ts));
    assert_int_equal(cv_stream_tracks(x.s, NULL, 0), 0);
    sink_free(&k);
    fx_free(&x);
}

static void test_stream_refuses_foreign_camera_frames(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);

    cv_id other;
    cv_id_random(&other);
    /* A foreign keyframe that also carries parameter sets. */
    assert_int_equal(pub(&x, mk_h264(&x, &other, true, SPS_B, sizeof(SPS_B), 500)), -EPERM);
    /* A foreign frame is refused even when it comes from the attached source
     * and even when it names a valid track; from another source too. */
    uint8_t pcm[AUDIO_LEN] = {0};
    assert_int_equal(pub(&x, mkframe(&other, 1, 0, 8000, 0, pcm, sizeof(pcm))), -EPERM);
    x.cur = &x.src2;
    assert_int_equal(pub(&x, mkframe(&other, 1, 0, 8000, 0, pcm, sizeof(pcm))), -EPERM);
    x.cur = &x.src;
    /* A camera id that differs only in its last byte is still foreign. */
    cv_id near = x.cam;
    near.b[CV_ID_BYTES - 1] ^= 1;
    assert_int_equal(pub(&x, mk_h264(&x, &near, true, NULL, 0, 100)), -EPERM);

    cv_stream_stats st = stream_stats(x.s);
    assert_int_equal(st.foreign_frames, 4);
    assert_int_equal(st.frames_in, 0);
    assert_int_equal(st.bytes_in, 0);
    assert_int_equal(k.n, 0);
    /* The refused SPS did not reach the stream's tracks. */
    cv_track_info out[CV_MAX_TRACKS];
    assert_int_equal(cv_stream_tracks(x.s, out, CV_MAX_TRACKS), 2);
    assert_int_equal(out[0].sps_len, sizeof(SPS_A));
    assert_memory_equal(out[0].sps, SPS_A, sizeof(SPS_A));
    /* Nor did the refused keyframe reach the prebuffer. */
    static sink late;
    sink_sub(&late, x.s, ~0u, 1);
    cv_sub_start(late.sub);
    assert_int_equal(late.n, 0);

    /* The camera's own frames still flow. */
    cv_frame *key = pv(&x, true);
    assert_int_equal(k.n, 1);
    assert_ptr_equal(k.got[0], key);
    assert_int_equal(late.n, 1);
    assert_int_equal(stream_stats(x.s).foreign_frames, 4);
    sink_free(&late);
    sink_free(&k);
    fx_free(&x);
}

static void test_stream_refuses_other_source_and_unknown_track(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);
    pv(&x, true);
    size_t delivered = k.n;

    x.cur = &x.src2; /* a source that is not attached */
    assert_int_equal(pub(&x, mk_video(&x, false, 100)), -EINVAL);
    x.cur = NULL;
    assert_int_equal(pub(&x, mk_video(&x, false, 100)), -EINVAL);
    x.cur = &x.src;
    uint8_t pcm[AUDIO_LEN] = {0};
    assert_int_equal(pub(&x, mkframe(&x.cam, 2, 0, 8000, 0, pcm, sizeof(pcm))), -EINVAL);
    assert_int_equal(pub(&x, mkframe(&x.cam, CV_MAX_TRACKS, 0, 8000, 0, pcm, sizeof(pcm))), -EINVAL);
    assert_int_equal(pub(&x, mkframe(&x.cam, 255, CV_FRAME_KEY, 8000, 0, pcm, sizeof(pcm))), -EINVAL);

    assert_int_equal(k.n, delivered);
    cv_stream_stats st = stream_stats(x.s);
    assert_int_equal(st.frames_in, 1);
    assert_int_equal(st.foreign_frames, 0); /* not a provenance problem */

    /* After detaching, the old source is refused as well. */
    cv_stream_detach(x.s, &x.src);
    assert_int_equal(pub(&x, mk_video(&x, true, 100)), -EINVAL);
    assert_int_equal(k.n, delivered);
    sink_free(&k);
    fx_free(&x);
}

static void test_stream_refuses_republished_frame(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, NULL, t, 1);
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);
    cv_frame *key = pv(&x, true);
    cv_wire *w = key->rtp;
    /* The same frame again: its RTP form is already stamped. */
    assert_int_equal(cv_stream_publish(x.s, &x.src, key), -EINVAL);
    assert_ptr_equal(key->rtp, w);
    assert_int_equal(k.n, 1);
    assert_int_equal(stream_stats(x.s).frames_in, 1);
    sink_free(&k);
    fx_free(&x);
}

static void test_stream_refuses_malformed_access_unit(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, NULL, t, 1);
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);
    cv_frame *key = pv(&x, true);
    cv_frame *p = pv(&x, false);

    /* A "keyframe" whose second NAL claims more bytes than remain. */
    uint8_t au[64];
    size_t o = put_fill_nal(au, 0x65, 20, 1);
    cv_wr_be32(au + o, 100);
    au[o + 4] = 0x65;
    assert_true(pub(&x, mkframe(&x.cam, 0, CV_FRAME_KEY, 90000, 99000, au, o + 10)) < 0);
    /* A zero-length NAL and an empty payload. */
    o = put_fill_nal(au, 0x65, 20, 1);
    cv_wr_be32(au + o, 0);
    assert_true(pub(&x, mkframe(&x.cam, 0, CV_FRAME_KEY, 90000, 99000, au, o + 4)) < 0);
    assert_true(pub(&x, mkframe(&x.cam, 0, CV_FRAME_KEY, 90000, 99000, au, 0)) < 0);

    assert_int_equal(k.n, 2);
    assert_int_equal(stream_stats(x.s).frames_in, 2);
    /* The refused keyframes did not reset the prebuffer. */
    static sink late;
    sink_sub(&late, x.s, ~0u, 1);
    cv_sub_start(late.sub);
    assert_int_equal(late.n, 2);
    assert_ptr_equal(late.got[0], key);
    assert_ptr_equal(late.got[1], p);
    /* Sequence numbers did not advance for refused frames. */
    cv_frame *p2 = pv(&x, false);
    assert_int_equal(p2->rtp->first_seq, (uint16_t)(wire_last_seq(p->rtp) + 1));
    sink_free(&late);
    sink_free(&k);
    fx_free(&x);
}

/* ===================================================================== */
/* Packetize once, fan out the same bytes                                 */
/* ===================================================================== */

static void test_stream_packetizes_once_for_every_viewer(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    assert_int_equal(cv_stream_out_pt(x.s, 0), 96);
    assert_int_equal(cv_stream_out_pt(x.s, 1), 0);
    static sink a, b, c;
    sink_sub(&a, x.s, ~0u, 0);
    sink_sub(&b, x.s, ~0u, 1);
    sink_sub(&c, x.s, 0x3, 0);
    cv_sub_start(a.sub);
    cv_sub_start(b.sub);
    cv_sub_start(c.sub);
    assert_int_equal(stream_stats(x.s).viewers, 3);

    /* A keyframe big enough for FU-A, then P slices and audio. */
    cv_frame *key = NULL;
    assert_int_equal(pub(&x, mk_video(&x, true, 5000)), 0);
    key = last(&x);
    for (int i = 0; i < 5; i++) {
        pa(&x);
        pv(&x, false);
    }
    assert_true(key->rtp->npkts > 3);

    assert_int_equal(a.n, x.nlog);
    assert_int_equal(b.n, x.nlog);
    assert_int_equal(c.n, x.nlog);
    uint32_t prev_seq[2] = {0}, prev_ts[2] = {0};
    bool seen[2] = {false, false};
    for (size_t i = 0; i < x.nlog; i++) {
        cv_frame *f = x.log[i];
        /* The very same frame, with the very same RTP form, for everyone. */
        assert_ptr_equal(a.got[i], f);
        assert_ptr_equal(b.got[i], f);
        assert_ptr_equal(c.got[i], f);
        check_wire(x.s, f);
        uint8_t tr = f->meta.track;
        if (seen[tr]) {
            assert_int_equal(f->rtp->first_seq, (uint16_t)(prev_seq[tr] + 1));
            int64_t step = tr == 0 ? 3000 : AUDIO_LEN;
            assert_int_equal((uint32_t)(f->rtp->rtp_ts - prev_ts[tr]), step);
        }
        seen[tr] = true;
        prev_seq[tr] = wire_last_seq(f->rtp);
        prev_ts[tr] = f->rtp->rtp_ts;
    }
    assert_false(a.rtp_missing || b.rtp_missing || c.rtp_missing);

    /* The first packets carry the in-band SPS and PPS as single NAL units. */
    const uint8_t *p0 = key->rtp->data + key->rtp->offs[0] + 4 + CV_RTP_HDR_LEN;
    assert_memory_equal(p0, SPS_A, sizeof(SPS_A));
    const uint8_t *p1 = key->rtp->data + key->rtp->offs[1] + 4 + CV_RTP_HDR_LEN;
    assert_memory_equal(p1, PPS, sizeof(PPS));
    /* The G.711 payload is the frame's bytes. */
    cv_frame *au = x.log[1];
    assert_int_equal(au->meta.track, 1);
    assert_int_equal(au->rtp->len, 4 + CV_RTP_HDR_LEN + AUDIO_LEN);
    assert_memory_equal(au->rtp->data + 4 + CV_RTP_HDR_LEN, cv_frame_data(au), AUDIO_LEN);

    cv_sub_stats st = sub_stats(&a);
    assert_int_equal(st.frames, x.nlog);
    assert_int_equal(st.dropped, 0);
    size_t bytes = 0;
    for (size_t i = 0; i < x.nlog; i++)
        bytes += x.log[i]->rtp->len;
    assert_int_equal(st.bytes, bytes);
    cv_stream_stats ss = stream_stats(x.s);
    assert_int_equal(ss.frames_in, x.nlog);
    size_t in = 0;
    for (size_t i = 0; i < x.nlog; i++)
        in += cv_frame_len(x.log[i]);
    assert_int_equal(ss.bytes_in, in);
    assert_true(ss.online);
    assert_true(ss.last_frame_wall_us > 0);

    sink_complete_all(&a);
    sink_complete_all(&c);
    sink_free(&a);
    sink_free(&b);
    sink_free(&c);
    fx_free(&x);
}

static void test_stream_aac_track_uses_dynamic_pt(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_aac()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    assert_int_equal(cv_stream_out_pt(x.s, 0), 96);
    assert_int_equal(cv_stream_out_pt(x.s, 1), 97);
    assert_int_equal(cv_stream_out_pt(x.s, 2), 0); /* no such track */
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);
    pv(&x, true);
    cv_frame *a1 = pa(&x);
    cv_frame *a2 = pa(&x);
    check_wire(x.s, a1);
    check_wire(x.s, a2);
    assert_int_equal(a1->rtp->data[1], 2);
    assert_int_equal((uint32_t)(a2->rtp->rtp_ts - a1->rtp->rtp_ts), 1024);
    /* RFC 3640 AU header: 16 bits of headers, size << 3. */
    const uint8_t *pl = a1->rtp->data + 4 + CV_RTP_HDR_LEN;
    assert_int_equal(cv_be16(pl), 16);
    assert_int_equal(cv_be16(pl + 2), AUDIO_LEN << 3);
    assert_int_equal(k.n, 3);
    sink_free(&k);
    fx_free(&x);
}

/* ===================================================================== */
/* Prebuffer                                                              */
/* ===================================================================== */

static void test_stream_prebuffer_starts_at_latest_keyframe(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    /* Before any keyframe: nothing is worth buffering. */
    pv(&x, false);
    pa(&x);
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    size_t k2 = x.nlog;
    pv(&x, true); /* the latest keyframe */
    pa(&x);
    pv(&x, false);
    pa(&x);
    pa(&x);
    pv(&x, false);

    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    for (int i = 0; i < 2; i++) /* nothing before start, even if frames arrive */
        pa(&x);
    assert_int_equal(v.n, 0);
    cv_sub_start(v.sub);
    size_t want = x.nlog - k2;
    assert_int_equal(v.n, want);
    for (size_t i = 0; i < want; i++)
        assert_ptr_equal(v.got[i], x.log[k2 + i]); /* in publish order, audio interleaved */
    assert_true(v.got[0]->meta.flags & CV_FRAME_KEY);
    assert_int_equal(v.got[0]->meta.track, 0);
    assert_false(v.rtp_missing);

    /* Live frames follow the prebuffer; a second start is a no-op. */
    cv_frame *live = pv(&x, false);
    assert_ptr_equal(v.got[v.n - 1], live);
    size_t n = v.n;
    cv_sub_start(v.sub);
    assert_int_equal(v.n, n);

    /* A new keyframe resets the prebuffer. */
    size_t k3 = x.nlog;
    pv(&x, true);
    pa(&x);
    static sink w;
    sink_sub(&w, x.s, ~0u, 1);
    cv_sub_start(w.sub);
    assert_int_equal(w.n, 2);
    assert_ptr_equal(w.got[0], x.log[k3]);
    assert_ptr_equal(w.got[1], x.log[k3 + 1]);

    sink_complete_all(&v);
    sink_free(&v);
    sink_free(&w);
    fx_free(&x);
}

static void test_stream_prebuffer_keys_on_the_video_track(void **state)
{
    (void)state;
    /* Audio announced first: the video track is index 1. */
    const cv_track_info t[] = {track_pcmu(), track_h264()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    assert_int_equal(x.vtrack, 1);
    assert_int_equal(cv_stream_out_pt(x.s, 0), 0);
    assert_int_equal(cv_stream_out_pt(x.s, 1), 97);
    pa(&x);
    size_t k = x.nlog;
    cv_frame *key = pv(&x, true);
    check_wire(x.s, key);
    assert_int_equal(key->rtp->data[1], 2);
    pa(&x);
    /* An audio frame flagged as key must not reset the prebuffer. */
    uint8_t pcm[AUDIO_LEN] = {0};
    assert_int_equal(pub(&x, mkframe(&x.cam, 0, CV_FRAME_KEY, 8000, x.pts[0], pcm, sizeof(pcm))), 0);
    x.pts[0] += AUDIO_LEN;
    pv(&x, false);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    assert_int_equal(v.n, x.nlog - k);
    assert_ptr_equal(v.got[0], key);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_audio_only_has_no_prebuffer(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 1);
    for (int i = 0; i < 10; i++)
        pa(&x);
    /* Even an audio frame flagged as key does not start a prebuffer. */
    uint8_t pcm[AUDIO_LEN] = {0};
    assert_int_equal(pub(&x, mkframe(&x.cam, 0, CV_FRAME_KEY, 8000, x.pts[0], pcm, sizeof(pcm))), 0);
    x.pts[0] += AUDIO_LEN;
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    assert_int_equal(v.n, 0);
    uint16_t seq;
    uint32_t ts;
    assert_true(cv_stream_next_rtp(x.s, 0, &seq, &ts));
    assert_int_equal(seq, (uint16_t)(wire_last_seq(last(&x)->rtp) + 1));
    cv_frame *f = pa(&x);
    assert_int_equal(v.n, 1);
    assert_ptr_equal(v.got[0], f);
    assert_int_equal(f->rtp->first_seq, seq);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_prebuffer_cap_drops_until_next_keyframe(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    /* A keyframe (~1.1 KB on the wire) and three P slices (~0.3 KB) fit. */
    lim.prebuffer_bytes = 2200;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    pv(&x, true);
    for (int i = 0; i < 3; i++)
        pv(&x, false);
    static sink a;
    sink_sub(&a, x.s, ~0u, 1);
    cv_sub_start(a.sub);
    assert_int_equal(a.n, 4);

    /* Overflow: the prebuffer is dropped, not trimmed (a GOP missing its
     * keyframe is useless), and stays empty until the next keyframe. */
    for (int i = 0; i < 5; i++) {
        pv(&x, false);
        pa(&x);
    }
    static sink b;
    sink_sub(&b, x.s, ~0u, 1);
    cv_sub_start(b.sub);
    assert_int_equal(b.n, 0);
    uint16_t seq;
    uint32_t ts;
    assert_true(cv_stream_next_rtp(x.s, 0, &seq, &ts));
    assert_int_equal(seq, (uint16_t)(wire_last_seq(x.log[x.nlog - 2]->rtp) + 1));

    size_t k2 = x.nlog;
    pv(&x, true);
    pa(&x);
    static sink c;
    sink_sub(&c, x.s, ~0u, 1);
    cv_sub_start(c.sub);
    assert_int_equal(c.n, 2);
    assert_ptr_equal(c.got[0], x.log[k2]);

    /* A keyframe bigger than the whole cap leaves no prebuffer. */
    assert_int_equal(pub(&x, mk_video(&x, true, 4000)), 0);
    static sink d;
    sink_sub(&d, x.s, ~0u, 1);
    cv_sub_start(d.sub);
    assert_int_equal(d.n, 0);
    /* Viewers that were already watching got everything. */
    assert_int_equal(a.n, x.nlog);
    sink_free(&a);
    sink_free(&b);
    sink_free(&c);
    sink_free(&d);
    fx_free(&x);
}

static void test_stream_detach_clears_prebuffer(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    cv_stream_detach(x.s, &x.src2); /* not the attached source: no-op */
    cv_stream_detach(x.s, NULL);
    assert_true(cv_stream_online(x.s));
    static sink a;
    sink_sub(&a, x.s, ~0u, 1);
    cv_sub_start(a.sub);
    assert_int_equal(a.n, 3);

    cv_stream_detach(x.s, &x.src);
    assert_false(cv_stream_online(x.s));
    assert_false(stream_stats(x.s).online);
    assert_int_equal(stream_stats(x.s).viewers, 1); /* viewers stay */
    assert_int_equal(a.closes, 0);
    static sink b;
    sink_sub(&b, x.s, ~0u, 1);
    cv_sub_start(b.sub);
    assert_int_equal(b.n, 0);
    /* The prebuffer's references were dropped: only the log and a hold them. */
    for (size_t i = 0; i < x.nlog; i++)
        assert_int_equal(atomic_load(&x.log[i]->refs), 2);
    sink_free(&a);
    sink_free(&b);
    fx_free(&x);
}

static void test_stream_unstarted_viewer_gets_nothing(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, NULL, t, 1);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    pv(&x, true);
    pv(&x, false);
    assert_int_equal(v.n, 0);
    assert_int_equal(sub_stats(&v).frames, 0);
    assert_int_equal(sub_stats(&v).dropped, 0);
    sink_free(&v); /* freed without ever starting */
    assert_int_equal(stream_stats(x.s).viewers, 0);
    pv(&x, false);
    fx_free(&x);
}

/* The source's own comments promise it: "new viewers of a reconnecting
 * camera start at its next keyframe" (cv_stream_detach) and "new viewers
 * wait for the next keyframe" (prebuffer overflow). A decoder cannot use P
 * slices whose reference it never saw. */
static void test_stream_viewer_without_prebuffer_starts_at_keyframe(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    pv(&x, true);
    pv(&x, false);
    cv_stream_detach(x.s, &x.src);
    fx_attach(&x, &x.src2, t, 2); /* reconnected, resumes mid-GOP */
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    pv(&x, false);
    pa(&x);
    pv(&x, false);
    cv_frame *key = pv(&x, true);
    cv_frame *p = pv(&x, false);
    size_t first_video = SIZE_MAX;
    for (size_t i = 0; i < v.n && first_video == SIZE_MAX; i++)
        if (v.got[i]->meta.track == 0)
            first_video = i;
    assert_true(first_video != SIZE_MAX);
    assert_ptr_equal(v.got[first_video], key);
    assert_true(sink_has(&v, p));
    sink_free(&v);
    fx_free(&x);
}

/* ===================================================================== */
/* RTP-Info                                                               */
/* ===================================================================== */

static void test_stream_next_rtp_matches_first_prebuffered_packet(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    uint16_t seq = 0;
    uint32_t ts = 0;
    assert_false(cv_stream_next_rtp(x.s, 0, &seq, &ts)); /* nothing known yet */
    assert_false(cv_stream_next_rtp(x.s, 1, &seq, &ts));
    assert_false(cv_stream_next_rtp(x.s, 2, &seq, &ts));
    assert_false(cv_stream_next_rtp(x.s, CV_MAX_TRACKS, &seq, &ts));

    pa(&x); /* before the keyframe: not in the prebuffer */
    pv(&x, false);
    cv_frame *key = pv(&x, true);
    cv_frame *a1 = pa(&x);
    pv(&x, false);
    pa(&x);

    assert_true(cv_stream_next_rtp(x.s, 0, &seq, &ts));
    assert_int_equal(seq, key->rtp->first_seq);
    assert_int_equal(ts, key->rtp->rtp_ts);
    uint16_t aseq;
    uint32_t ats;
    assert_true(cv_stream_next_rtp(x.s, 1, &aseq, &ats));
    assert_int_equal(aseq, a1->rtp->first_seq);
    assert_int_equal(ats, a1->rtp->rtp_ts);

    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    /* What the viewer then receives first on each track is what was announced. */
    const cv_frame *fv = NULL, *fa = NULL;
    for (size_t i = 0; i < v.n; i++) {
        if (!fv && v.got[i]->meta.track == 0)
            fv = v.got[i];
        if (!fa && v.got[i]->meta.track == 1)
            fa = v.got[i];
    }
    assert_non_null(fv);
    assert_non_null(fa);
    cv_rtp_hdr h;
    const cv_wire *w = fv->rtp;
    assert_int_equal(cv_rtp_parse(w->data + 4, cv_be16(w->data + 2), &h), 0);
    assert_int_equal(h.seq, seq);
    assert_int_equal(h.ts, ts);
    w = fa->rtp;
    assert_int_equal(cv_rtp_parse(w->data + 4, cv_be16(w->data + 2), &h), 0);
    assert_int_equal(h.seq, aseq);
    assert_int_equal(h.ts, ats);

    /* A track with nothing in the prebuffer yet: the next packet's seq. */
    pv(&x, true);
    cv_frame *prev_audio = x.log[x.nlog - 2];
    assert_int_equal(prev_audio->meta.track, 1);
    assert_true(cv_stream_next_rtp(x.s, 1, &aseq, &ats));
    assert_int_equal(aseq, (uint16_t)(wire_last_seq(prev_audio->rtp) + 1));
    cv_frame *a_next = pa(&x);
    assert_int_equal(a_next->rtp->first_seq, aseq);
    /* Its timestamp cannot be known exactly before the frame exists; it
     * must not be later than the frame's and at most one frame earlier. */
    uint32_t behind = a_next->rtp->rtp_ts - ats;
    assert_true(behind <= AUDIO_LEN);

    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

/* ===================================================================== */
/* Bounded viewer queues                                                  */
/* ===================================================================== */

static void test_stream_queue_bytes_bounds_slow_viewer(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_bytes = 4096;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink slow, fast;
    sink_sub(&slow, x.s, ~0u, 0); /* never completes unless told */
    sink_sub(&fast, x.s, ~0u, 1);
    cv_sub_start(slow.sub);
    cv_sub_start(fast.sub);

    /* Fill the slow viewer's queue. */
    pv(&x, true);
    while (sub_stats(&slow).dropped == 0) {
        pa(&x);
        pv(&x, false);
        assert_true(x.nlog < 100);
    }
    assert_true(slow.max_pending_bytes <= lim.queue_bytes);
    assert_false(sink_has(&slow, last(&x)));
    cv_sub_stats st = sub_stats(&slow);
    assert_int_equal(st.skips, 1);
    size_t got = slow.n;

    /* While skipping, nothing reaches it: not P slices, not audio. */
    for (int i = 0; i < 5; i++) {
        pa(&x);
        pv(&x, false);
    }
    assert_int_equal(slow.n, got);
    st = sub_stats(&slow);
    assert_int_equal(st.skips, 1); /* one episode */
    assert_int_equal(st.frames, got);
    assert_int_equal(st.frames + st.dropped, x.nlog);
    size_t bytes = 0;
    for (size_t i = 0; i < slow.n; i++)
        bytes += cost(slow.got[i]);
    assert_int_equal(st.bytes, bytes);

    /* Drain to just above half: a keyframe is still refused. */
    while (slow.pending_bytes - sink_cost_of_next(&slow) > lim.queue_bytes / 2)
        sink_complete(&slow, 1);
    assert_true(slow.pending_bytes > lim.queue_bytes / 2);
    cv_frame *k_early = pv(&x, true);
    assert_false(sink_has(&slow, k_early));
    /* Drained to half: only a video keyframe resumes delivery. */
    sink_complete(&slow, 1);
    assert_true(slow.pending_bytes <= lim.queue_bytes / 2);
    cv_frame *p = pv(&x, false);
    cv_frame *a = pa(&x);
    assert_false(sink_has(&slow, p));
    assert_false(sink_has(&slow, a));
    cv_frame *key = pv(&x, true);
    assert_ptr_equal(slow.got[slow.n - 1], key);
    cv_frame *a2 = pa(&x);
    cv_frame *p2 = pv(&x, false);
    assert_ptr_equal(slow.got[slow.n - 2], a2);
    assert_ptr_equal(slow.got[slow.n - 1], p2);

    /* It overflows again: a second episode. */
    while (sub_stats(&slow).skips < 2) {
        pv(&x, false);
        assert_true(x.nlog < 300);
    }
    assert_true(slow.max_pending_bytes <= lim.queue_bytes);

    /* The fast viewer got every single frame, in order. */
    assert_int_equal(fast.n, x.nlog);
    for (size_t i = 0; i < x.nlog; i++)
        assert_ptr_equal(fast.got[i], x.log[i]);
    assert_int_equal(sub_stats(&fast).dropped, 0);
    assert_int_equal(sub_stats(&fast).skips, 0);

    sink_complete_all(&slow);
    sink_free(&slow);
    sink_free(&fast);
    fx_free(&x);
}

static void test_stream_spurious_written_is_ignored(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_bytes = 4096;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, &lim, t, 1);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    cv_sub_written(v.sub); /* nothing outstanding */
    pv(&x, true);
    sink_complete_all(&v);
    for (int i = 0; i < 5; i++)
        cv_sub_written(v.sub);
    /* The bound still holds: the extra completions bought no credit. */
    while (sub_stats(&v).dropped == 0) {
        pv(&x, false);
        assert_true(x.nlog < 100);
    }
    assert_true(v.pending_bytes <= lim.queue_bytes);
    assert_true(v.pending_bytes + cost(last(&x)) > lim.queue_bytes);
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_audio_only_viewer_drops_without_skipping(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_bytes = 1000;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink v;
    sink_sub(&v, x.s, 1u << 1, 0);
    cv_sub_start(v.sub);
    pv(&x, true);
    for (int i = 0; i < 10; i++)
        pa(&x);
    cv_sub_stats st = sub_stats(&v);
    assert_true(st.dropped > 0);
    assert_int_equal(st.skips, 0); /* no keyframes to wait for */
    assert_true(v.max_pending_bytes <= lim.queue_bytes);
    /* As soon as there is room, audio flows again. */
    sink_complete(&v, 1);
    cv_frame *a = pa(&x);
    assert_ptr_equal(v.got[v.n - 1], a);
    assert_int_equal(sink_count_track(&v, 0), 0);
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_queue_age_triggers_skipping(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_age_us = 20 * 1000;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink v, fast;
    sink_sub(&v, x.s, ~0u, 0);
    sink_sub(&fast, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    cv_sub_start(fast.sub);
    pv(&x, true);
    pa(&x);
    assert_int_equal(v.n, 2);
    sleep_us(2 * lim.queue_age_us);
    cv_frame *p = pv(&x, false); /* the oldest unwritten frame is too old now */
    assert_false(sink_has(&v, p));
    cv_sub_stats st = sub_stats(&v);
    assert_int_equal(st.skips, 1);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(v.closes, 0);
    /* The queue empties, but delivery resumes only at a keyframe. */
    sink_complete_all(&v);
    cv_frame *a = pa(&x);
    p = pv(&x, false);
    assert_false(sink_has(&v, a));
    assert_false(sink_has(&v, p));
    cv_frame *key = pv(&x, true);
    assert_ptr_equal(v.got[v.n - 1], key);
    assert_int_equal(fast.n, x.nlog);
    sink_complete_all(&v);
    sink_free(&v);
    sink_free(&fast);
    fx_free(&x);
}

static void test_stream_huge_prebuffer_keeps_queue_accounting(void **state)
{
    (void)state;
    /* A long GOP with audio: more frames since the keyframe than a viewer
     * may have in flight (2048). The viewer takes them all, writes them all;
     * afterwards it must be an ordinary, empty viewer again. */
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    assert_int_equal(pub(&x, mk_video(&x, true, 20)), 0);
    for (int i = 0; i < 2100; i++)
        assert_int_equal(pub(&x, mk_audio(&x, i < 2000 ? 10 : 1000)), 0);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    assert_true(v.n > 0);
    assert_ptr_equal(v.got[0], x.log[0]);
    sink_complete_all(&v);
    assert_int_equal(v.pending, 0);
    /* Nothing is outstanding: the next keyframe must reach it. */
    cv_frame *key = pv(&x, true);
    assert_ptr_equal(v.got[v.n - 1], key);
    cv_frame *a = pa(&x);
    assert_ptr_equal(v.got[v.n - 1], a);
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

/* ===================================================================== */
/* Stalls and failing viewers                                             */
/* ===================================================================== */

static void test_stream_closes_stalled_viewer_once(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.stall_us = 30 * 1000;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink slow, fast, dgram;
    sink_sub(&slow, x.s, ~0u, 0);
    sink_sub(&fast, x.s, ~0u, 0);
    sink_sub(&dgram, x.s, ~0u, 1); /* nothing outstanding, ever: never stalls */
    cv_sub_start(slow.sub);
    cv_sub_start(fast.sub);
    cv_sub_start(dgram.sub);
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    sink_complete_all(&fast);
    sleep_us(2 * lim.stall_us);
    assert_int_equal(slow.closes, 0); /* nothing happens between publishes */

    cv_frame *p = pv(&x, false);
    assert_int_equal(slow.closes, 1);
    assert_string_equal(slow.reason, "viewer stalled");
    assert_int_equal(slow.viewers_at_close, 2); /* already detached when told */
    assert_false(sink_has(&slow, p));
    assert_int_equal(stream_stats(x.s).viewers, 2);
    assert_int_equal(fast.closes, 0);
    assert_int_equal(dgram.closes, 0);

    size_t n = slow.n;
    for (int i = 0; i < 5; i++) {
        pa(&x);
        pv(&x, false);
    }
    sleep_us(2 * lim.stall_us);
    sink_complete_all(&fast);
    pv(&x, false);
    assert_int_equal(slow.closes, 1);
    assert_int_equal(slow.n, n);
    /* The closed viewer may still report completions and start again: no effect. */
    sink_complete_all(&slow);
    cv_sub_start(slow.sub);
    assert_int_equal(slow.n, n);
    assert_int_equal(fast.n, x.nlog);
    assert_int_equal(dgram.n, x.nlog);
    assert_int_equal(fast.closes + dgram.closes, 0);
    sink_free(&slow); /* after close: safe */
    assert_int_equal(stream_stats(x.s).viewers, 2);
    sink_complete_all(&fast);
    sink_free(&fast);
    sink_free(&dgram);
    fx_free(&x);
}

static void test_stream_write_progress_resets_stall_timer(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.stall_us = 30 * 1000;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, &lim, t, 1);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    pv(&x, true);
    pv(&x, false);
    sleep_us(2 * lim.stall_us);
    sink_complete(&v, 1); /* slow, but it did write something just now */
    pv(&x, false);
    assert_int_equal(v.closes, 0);
    assert_int_equal(v.n, 3);
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_slow_viewer_never_slows_others(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_bytes = 8192;
    const cv_track_info t[] = {track_h264(), track_aac()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink slow, fast1, fast2;
    sink_sub(&slow, x.s, ~0u, 0);
    sink_sub(&fast1, x.s, ~0u, 0);
    sink_sub(&fast2, x.s, ~0u, 1);
    cv_sub_start(slow.sub);
    cv_sub_start(fast1.sub);
    cv_sub_start(fast2.sub);
    for (int gop = 0; gop < 5; gop++) {
        pv(&x, true);
        for (int i = 0; i < 15; i++) {
            pa(&x);
            pv(&x, false);
            sink_complete_all(&fast1); /* keeps up */
        }
    }
    cv_sub_stats st = sub_stats(&slow);
    assert_true(st.dropped > 0);
    assert_true(st.skips >= 1);
    assert_true(slow.max_pending_bytes <= lim.queue_bytes);
    for (size_t i = 0; i < x.nlog; i++) {
        assert_ptr_equal(fast1.got[i], x.log[i]);
        assert_ptr_equal(fast2.got[i], x.log[i]);
    }
    assert_int_equal(fast1.n, x.nlog);
    assert_int_equal(fast2.n, x.nlog);
    assert_int_equal(sub_stats(&fast1).dropped, 0);
    assert_int_equal(sub_stats(&fast2).dropped, 0);
    sink_complete_all(&slow);
    sink_free(&slow);
    sink_free(&fast1);
    sink_free(&fast2);
    fx_free(&x);
}

static void test_stream_survives_failing_sink(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.stall_us = 20 * 1000;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink bad, good;
    sink_sub(&bad, x.s, ~0u, -EPIPE);
    sink_sub(&good, x.s, ~0u, 1);
    cv_sub_start(bad.sub);
    cv_sub_start(good.sub);
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    sleep_us(2 * lim.stall_us);
    pv(&x, false);
    cv_sub_stats st = sub_stats(&bad);
    assert_int_equal(st.frames, 0);
    assert_int_equal(st.dropped, 4);
    assert_int_equal(bad.closes, 0); /* a refused write is not outstanding */
    assert_int_equal(good.n, 4);
    assert_int_equal(stream_stats(x.s).viewers, 2);
    /* It may recover. */
    bad.rc = 1;
    cv_frame *p = pv(&x, false);
    assert_ptr_equal(bad.got[bad.n - 1], p);
    assert_int_equal(sub_stats(&bad).frames, 1);
    sink_free(&bad);
    sink_free(&good);
    fx_free(&x);
}

/* ===================================================================== */
/* Track masks                                                            */
/* ===================================================================== */

static void test_stream_track_mask_filters_tracks(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_aac()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    static sink vid, aud, none, all;
    sink_sub(&vid, x.s, 1u << 0, 1);
    sink_sub(&aud, x.s, 1u << 1, 1);
    sink_sub(&none, x.s, 0, 1);
    sink_sub(&all, x.s, 0xffffffffu, 1);
    cv_sub_start(vid.sub);
    cv_sub_start(aud.sub);
    cv_sub_start(none.sub);
    cv_sub_start(all.sub);
    for (int i = 0; i < 4; i++) {
        pa(&x);
        pv(&x, i == 2);
    }
    size_t nv = 0, na = 0;
    for (size_t i = 0; i < x.nlog; i++) {
        if (x.log[i]->meta.track == 0)
            nv++;
        else
            na++;
    }
    assert_int_equal(vid.n, nv);
    assert_int_equal(sink_count_track(&vid, 1), 0);
    assert_int_equal(aud.n, na);
    assert_int_equal(sink_count_track(&aud, 0), 0);
    assert_int_equal(none.n, 0);
    assert_int_equal(all.n, x.nlog);
    /* Filtered frames are not drops. */
    assert_int_equal(sub_stats(&vid).dropped, 0);
    assert_int_equal(sub_stats(&aud).dropped, 0);
    assert_int_equal(sub_stats(&none).dropped, 0);
    sink_free(&vid);
    sink_free(&aud);
    sink_free(&none);
    sink_free(&all);
    fx_free(&x);
}

/* ===================================================================== */
/* Attach, reattach, shutdown                                             */
/* ===================================================================== */

static void test_stream_attach_busy_and_invalid(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    cv_track_info many[CV_MAX_TRACKS + 1];
    for (size_t i = 0; i < CV_ARRAY_LEN(many); i++)
        many[i] = track_pcmu();
    static fx x;
    fx_init(&x, NULL, NULL, 0);
    assert_int_equal(cv_stream_attach(x.s, &x.src, t, 0), -EINVAL);
    assert_int_equal(cv_stream_attach(x.s, &x.src, many, CV_MAX_TRACKS + 1), -EINVAL);
    assert_false(cv_stream_online(x.s));
    assert_int_equal(cv_stream_attach(x.s, &x.src, many, CV_MAX_TRACKS), 0);
    assert_int_equal(cv_stream_tracks(x.s, NULL, 0), CV_MAX_TRACKS);
    cv_stream_detach(x.s, &x.src);

    fx_attach(&x, &x.src, t, 2);
    assert_true(cv_stream_online(x.s));
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    pv(&x, true);
    assert_int_equal(cv_stream_attach(x.s, &x.src2, t, 2), -EBUSY);
    cv_track_info other = track_h265();
    assert_int_equal(cv_stream_attach(x.s, &x.src2, &other, 1), -EBUSY);
    assert_int_equal(v.closes, 0); /* a refused attach changes nothing */
    assert_true(cv_stream_online(x.s));
    x.cur = &x.src2;
    assert_int_equal(pub(&x, mk_video(&x, false, 100)), -EINVAL);
    x.cur = &x.src;
    pv(&x, false);
    assert_int_equal(v.n, 2);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_reattach_same_layout_keeps_viewers_and_rtp(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    pv(&x, true);
    pa(&x);
    cv_frame *pv_last = pv(&x, false);
    cv_frame *pa_last = pa(&x);
    uint32_t ssrc_v = cv_stream_out_ssrc(x.s, 0), ssrc_a = cv_stream_out_ssrc(x.s, 1);

    cv_stream_detach(x.s, &x.src);
    assert_int_equal(stream_stats(x.s).viewers, 1);
    /* A new connection of the same camera, whose clock starts elsewhere. */
    cv_track_info t2[] = {track_h264(), track_pcmu()};
    strcpy(t2[0].control, "streamid=0");
    t2[1].payload_type = 101;
    fx_attach(&x, &x.src2, t2, 2);
    x.pts[0] = 777;
    x.pts[1] = 5;
    assert_int_equal(v.closes, 0);
    assert_int_equal(stream_stats(x.s).viewers, 1);
    assert_int_equal(cv_stream_out_ssrc(x.s, 0), ssrc_v);
    assert_int_equal(cv_stream_out_ssrc(x.s, 1), ssrc_a);
    assert_int_equal(cv_stream_out_pt(x.s, 1), 0);
    uint16_t seq;
    uint32_t ts;
    assert_true(cv_stream_next_rtp(x.s, 0, &seq, &ts));
    assert_int_equal(seq, (uint16_t)(wire_last_seq(pv_last->rtp) + 1));

    cv_frame *key = pv(&x, true);
    cv_frame *a = pa(&x);
    cv_frame *p = pv(&x, false);
    assert_ptr_equal(v.got[v.n - 3], key);
    assert_ptr_equal(v.got[v.n - 1], p);
    check_wire(x.s, key);
    check_wire(x.s, a);
    assert_int_equal(key->rtp->first_seq, (uint16_t)(wire_last_seq(pv_last->rtp) + 1));
    assert_int_equal(a->rtp->first_seq, (uint16_t)(wire_last_seq(pa_last->rtp) + 1));
    /* Timestamps continue forward (by the real time that passed), never back. */
    int32_t dv = (int32_t)(key->rtp->rtp_ts - pv_last->rtp->rtp_ts);
    int32_t da = (int32_t)(a->rtp->rtp_ts - pa_last->rtp->rtp_ts);
    assert_true(dv >= 0 && dv < 5 * 90000);
    assert_true(da >= 0 && da < 5 * 8000);
    /* ...and then follow the new source's clock. */
    assert_int_equal((uint32_t)(p->rtp->rtp_ts - key->rtp->rtp_ts), 3000);
    /* The old source is gone for good. */
    x.cur = &x.src;
    assert_int_equal(pub(&x, mk_video(&x, false, 100)), -EINVAL);
    /* Re-attaching while attached (same source, same layout) is allowed. */
    fx_attach(&x, &x.src2, t2, 2);
    assert_int_equal(v.closes, 0);
    sink_free(&v);
    fx_free(&x);
}

typedef struct {
    const char *what;
    cv_track_info a[2], b[2];
    size_t na, nb;
    bool closes;
} layout_case;

static void test_stream_reattach_new_layout_closes_viewers(void **state)
{
    (void)state;
    layout_case cases[8];
    size_t n = 0;
    layout_case *c;

    c = &cases[n++];
    c->what = "codec H264 -> H265";
    c->a[0] = track_h264();
    c->b[0] = track_h265();
    c->na = c->nb = 1;
    c->closes = true;

    c = &cases[n++];
    c->what = "audio kind -> video kind";
    c->a[0] = track_h264();
    c->a[1] = track_pcmu();
    c->b[0] = track_h264();
    c->b[1] = track_h264();
    c->na = c->nb = 2;
    c->closes = true;

    c = &cases[n++];
    c->what = "one track more";
    c->a[0] = track_h264();
    c->b[0] = track_h264();
    c->b[1] = track_pcmu();
    c->na = 1;
    c->nb = 2;
    c->closes = true;

    c = &cases[n++];
    c->what = "AAC config";
    c->a[0] = track_aac();
    c->b[0] = track_aac();
    c->b[0].aac_config[1] = 0x88;
    c->na = c->nb = 1;
    c->closes = true;

    c = &cases[n++];
    c->what = "AAC clock rate";
    c->a[0] = track_aac();
    c->b[0] = track_aac();
    c->b[0].clock_rate = 44100;
    c->na = c->nb = 1;
    c->closes = true;

    c = &cases[n++];
    c->what = "PCMU -> PCMA";
    c->a[0] = track_pcmu();
    c->b[0] = track_pcmu();
    c->b[0].codec = CV_CODEC_PCMA;
    c->na = c->nb = 1;
    c->closes = true;

    c = &cases[n++];
    c->what = "new SPS, control and announced PT only";
    c->a[0] = track_h264();
    c->b[0] = track_h264();
    memcpy(c->b[0].sps, SPS_B, sizeof(SPS_B));
    c->b[0].sps_len = sizeof(SPS_B);
    c->b[0].payload_type = 112;
    strcpy(c->b[0].control, "rtsp://cam/ch1");
    c->na = c->nb = 1;
    c->closes = false;

    for (size_t i = 0; i < n; i++) {
        c = &cases[i];
        print_message("layout change: %s\n", c->what);
        static fx x;
        fx_init(&x, NULL, c->a, c->na);
        static sink started, idle;
        sink_sub(&started, x.s, ~0u, 1);
        sink_sub(&idle, x.s, ~0u, 1);
        cv_sub_start(started.sub);
        cv_stream_detach(x.s, &x.src);
        fx_attach(&x, &x.src2, c->b, c->nb);
        if (!c->closes) {
            assert_int_equal(started.closes, 0);
            assert_int_equal(idle.closes, 0);
            assert_int_equal(stream_stats(x.s).viewers, 2);
        } else {
            assert_int_equal(started.closes, 1);
            assert_int_equal(idle.closes, 1);
            assert_true(strlen(started.reason) > 0);
            assert_int_equal(stream_stats(x.s).viewers, 0);
            /* Closed viewers get nothing more; their teardown is safe. */
            if (x.vtrack >= 0)
                pub(&x, mk_video(&x, true, 100));
            if (x.atrack >= 0)
                pub(&x, mk_audio(&x, AUDIO_LEN));
            assert_int_equal(started.n, 0);
            cv_sub_start(idle.sub);
            assert_int_equal(idle.n, 0);
            /* A second change does not close them again. */
            cv_stream_detach(x.s, &x.src2);
            fx_attach(&x, &x.src, c->a, c->na);
            assert_int_equal(started.closes, 1);
            assert_int_equal(idle.closes, 1);
        }
        sink_free(&started);
        sink_free(&idle);
        fx_free(&x);
    }
}

static void test_stream_layout_change_by_attached_source_closes_viewers(void **state)
{
    (void)state;
    const cv_track_info a[] = {track_h264(), track_pcmu()};
    const cv_track_info b[] = {track_h264(), track_aac()};
    static fx x;
    fx_init(&x, NULL, a, 2);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    pv(&x, true);
    pa(&x);
    /* The same publisher re-announces different tracks. */
    fx_attach(&x, &x.src, b, 2);
    assert_int_equal(v.closes, 1);
    assert_int_equal(cv_stream_out_pt(x.s, 1), 97);
    cv_track_info out[2];
    assert_int_equal(cv_stream_tracks(x.s, out, 2), 2);
    assert_int_equal(out[1].codec, CV_CODEC_AAC);
    /* The old prebuffer (PCMU) is gone: a new viewer gets no stale audio. */
    static sink w;
    sink_sub(&w, x.s, ~0u, 1);
    cv_sub_start(w.sub);
    assert_int_equal(w.n, 0);
    cv_frame *key = pv(&x, true);
    cv_frame *aac = pa(&x);
    check_wire(x.s, aac);
    assert_ptr_equal(w.got[0], key);
    assert_ptr_equal(w.got[1], aac);
    assert_int_equal(v.n, 2);
    sink_free(&v);
    sink_free(&w);
    fx_free(&x);
}

static void test_stream_failed_attach_leaves_no_half_state(void **state)
{
    (void)state;
    const cv_track_info good[] = {track_h264(), track_pcmu()};
    cv_track_info bad[] = {track_h264(), track_pcmu()};
    bad[1].codec = CV_CODEC_UNKNOWN; /* no packetizer */
    static fx x;
    fx_init(&x, NULL, good, 2);
    pv(&x, true);
    cv_stream_detach(x.s, &x.src);

    int rc = cv_stream_attach(x.s, &x.src2, bad, 2);
    assert_true(rc < 0);
    assert_false(cv_stream_online(x.s));
    /* Retrying the very same tracks must fail the same way, not succeed with
     * a track that cannot be packetized. */
    rc = cv_stream_attach(x.s, &x.src2, bad, 2);
    assert_true(rc < 0);
    assert_false(cv_stream_online(x.s));
    cv_stream_detach(x.s, &x.src2);

    /* A good layout still works afterwards. */
    fx_attach(&x, &x.src, good, 2);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    cv_frame *key = pv(&x, true);
    cv_frame *a = pa(&x);
    check_wire(x.s, key);
    check_wire(x.s, a);
    assert_int_equal(v.n, 2);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_inband_params_update_tracks(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    cv_track_info out[CV_MAX_TRACKS];
    assert_int_equal(cv_stream_tracks(x.s, out, CV_MAX_TRACKS), 2);
    assert_memory_equal(out[0].sps, SPS_A, sizeof(SPS_A));
    assert_int_equal(out[1].codec, CV_CODEC_PCMU);
    assert_string_equal(out[0].control, "trackID=0");

    /* The camera switched resolution: a keyframe with a new SPS. */
    assert_int_equal(pub(&x, mk_h264(&x, &x.cam, true, SPS_B, sizeof(SPS_B), 200)), 0);
    memset(out, 0, sizeof(out));
    assert_int_equal(cv_stream_tracks(x.s, out, CV_MAX_TRACKS), 2);
    assert_int_equal(out[0].sps_len, sizeof(SPS_B));
    assert_memory_equal(out[0].sps, SPS_B, sizeof(SPS_B));
    assert_int_equal(out[0].pps_len, sizeof(PPS));
    /* Only frames flagged CV_FRAME_PARAMS are looked at. */
    cv_frame *f = mk_h264(&x, &x.cam, true, SPS_A, sizeof(SPS_A), 200);
    f->meta.flags &= ~(uint32_t)CV_FRAME_PARAMS;
    assert_int_equal(pub(&x, f), 0);
    cv_stream_tracks(x.s, out, CV_MAX_TRACKS);
    assert_memory_equal(out[0].sps, SPS_B, sizeof(SPS_B));
    /* An audio frame flagged PARAMS does not touch anything. */
    uint8_t au[32];
    size_t o = put_nal(au, SPS_A, sizeof(SPS_A));
    assert_int_equal(pub(&x, mkframe(&x.cam, 1, CV_FRAME_PARAMS, 8000, 0, au, o)), 0);
    cv_stream_tracks(x.s, out, CV_MAX_TRACKS);
    assert_int_equal(out[1].sps_len, 0);
    assert_memory_equal(out[0].sps, SPS_B, sizeof(SPS_B));

    /* A cap smaller than the track count copies only that many. */
    cv_track_info one[2];
    memset(one, 0xee, sizeof(one));
    assert_int_equal(cv_stream_tracks(x.s, one, 1), 2);
    assert_int_equal(one[0].codec, CV_CODEC_H264);
    assert_int_equal(((uint8_t *)&one[1])[0], 0xee);

    /* Reconnect with the same layout and no SPS in the SDP: the learned one stays. */
    cv_stream_detach(x.s, &x.src);
    cv_track_info t2[] = {track_h264(), track_pcmu()};
    t2[0].sps_len = t2[0].pps_len = 0;
    fx_attach(&x, &x.src2, t2, 2);
    cv_stream_tracks(x.s, out, CV_MAX_TRACKS);
    assert_int_equal(out[0].sps_len, sizeof(SPS_B));
    assert_memory_equal(out[0].sps, SPS_B, sizeof(SPS_B));
    /* With an SPS in the SDP, the SDP's wins. */
    cv_stream_detach(x.s, &x.src2);
    fx_attach(&x, &x.src, t, 2);
    cv_stream_tracks(x.s, out, CV_MAX_TRACKS);
    assert_memory_equal(out[0].sps, SPS_A, sizeof(SPS_A));
    fx_free(&x);
}

static void test_stream_shutdown_closes_all_viewers(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    static sink a, b, c;
    sink_sub(&a, x.s, ~0u, 0);
    sink_sub(&b, x.s, ~0u, 1);
    sink_sub(&c, x.s, ~0u, 1); /* never started */
    cv_sub_start(a.sub);
    cv_sub_start(b.sub);
    pv(&x, true);
    pa(&x);
    cv_stream_shutdown(x.s, "camera removed");
    sink *all[] = {&a, &b, &c};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(all[i]->closes, 1);
        assert_string_equal(all[i]->reason, "camera removed");
    }
    cv_stream_stats st = stream_stats(x.s);
    assert_int_equal(st.viewers, 0);
    assert_false(st.online);
    assert_false(cv_stream_online(x.s));
    /* The source is detached; nothing more flows. */
    assert_int_equal(pub(&x, mk_video(&x, true, 100)), -EINVAL);
    cv_sub_start(c.sub);
    assert_int_equal(c.n, 0);
    /* A second shutdown does not close them again. */
    cv_stream_shutdown(x.s, "again");
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(all[i]->closes, 1);
    /* Viewers may finish their writes and free in any order, even after the
     * stream's owner let go of it. */
    cv_stream *s = x.s;
    cv_stream_ref(s);
    fx_free(&x);
    sink_complete_all(&a);
    sink_free(&b);
    sink_free(&a);
    cv_stream_unref(s);
    sink_free(&c);
}

static void test_stream_sub_free_detaches(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, NULL, t, 1);
    static sink a, b, c;
    sink_sub(&a, x.s, ~0u, 0);
    sink_sub(&b, x.s, ~0u, 1);
    sink_sub(&c, x.s, ~0u, 1);
    cv_sub_start(a.sub);
    cv_sub_start(b.sub);
    cv_sub_start(c.sub);
    pv(&x, true);
    assert_int_equal(stream_stats(x.s).viewers, 3);
    /* Free the middle one, then the one with writes still outstanding. */
    sink_free(&b);
    assert_int_equal(stream_stats(x.s).viewers, 2);
    sink_free(&a);
    assert_int_equal(stream_stats(x.s).viewers, 1);
    pv(&x, false);
    assert_int_equal(c.n, 2);
    cv_sub_free(NULL);
    /* The stream outlives its owner's reference while a viewer holds one. */
    cv_stream *s = x.s;
    cv_stream_ref(s);
    fx_free(&x);
    assert_int_equal(stream_stats(s).viewers, 1);
    cv_stream_unref(s);
    sink_free(&c);
    cv_stream_unref(NULL);
}

static void test_stream_build_sr(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    uint8_t buf[256];
    assert_int_equal(cv_stream_build_sr(x.s, 0, buf, sizeof(buf)), -1); /* no frame yet */
    pv(&x, true);
    pv(&x, false);
    pa(&x);
    int n = cv_stream_build_sr(x.s, 0, buf, sizeof(buf));
    assert_true(n > 0);
    cv_rtcp_info info;
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), 0);
    assert_true(info.has_sr);
    assert_int_equal(info.sr_ssrc, cv_stream_out_ssrc(x.s, 0));
    assert_int_equal(info.sr_packets, x.log[0]->rtp->npkts + x.log[1]->rtp->npkts);
    int32_t ahead = (int32_t)(info.sr_rtp_ts - x.log[1]->rtp->rtp_ts);
    assert_true(ahead >= 0 && ahead < 5 * 90000);
    n = cv_stream_build_sr(x.s, 1, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), 0);
    assert_int_equal(info.sr_ssrc, cv_stream_out_ssrc(x.s, 1));
    assert_int_equal(info.sr_packets, 1);
    assert_int_equal(info.sr_octets, AUDIO_LEN);
    assert_int_equal(cv_stream_build_sr(x.s, 2, buf, sizeof(buf)), -1);
    assert_int_equal(cv_stream_build_sr(x.s, 0, buf, 8), -1);
    fx_free(&x);
}

/* ===================================================================== */
/* Registry                                                               */
/* ===================================================================== */

static void test_registry_get_creates_once(void **state)
{
    (void)state;
    cv_registry *r = reg_new(NULL);
    assert_non_null(r);
    assert_int_equal(cv_registry_count(r), 0);
    cv_id c1, c2, c3;
    cv_id_random(&c1);
    cv_id_random(&c2);
    cv_id_random(&c3);
    assert_null(cv_registry_find(r, &c1));
    cv_stream *s1 = cv_registry_get(r, &c1);
    assert_non_null(s1);
    assert_true(cv_id_eq(cv_stream_camera(s1), &c1));
    cv_stream *s1b = cv_registry_get(r, &c1);
    assert_ptr_equal(s1b, s1);
    assert_int_equal(cv_registry_count(r), 1);
    cv_stream *s2 = cv_registry_get(r, &c2);
    assert_non_null(s2);
    assert_ptr_not_equal(s2, s1);
    assert_true(cv_id_eq(cv_stream_camera(s2), &c2));
    assert_int_equal(cv_registry_count(r), 2);
    assert_null(cv_registry_find(r, &c3));
    cv_stream *f1 = cv_registry_find(r, &c1);
    assert_ptr_equal(f1, s1);
    /* Every lookup was a new reference: drop them all; the table keeps its own. */
    cv_stream_unref(s1);
    cv_stream_unref(s1b);
    cv_stream_unref(f1);
    cv_stream_unref(s2);
    assert_int_equal(cv_registry_count(r), 2);
    cv_stream *again = cv_registry_find(r, &c1);
    assert_non_null(again);
    assert_true(cv_id_eq(cv_stream_camera(again), &c1));
    cv_stream_unref(again);
    reg_free(r);
    cv_registry_free(NULL);
}

static void test_registry_applies_copied_limits(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.prebuffer_bytes = 100; /* no keyframe fits */
    cv_registry *r = reg_new(&lim);
    lim.prebuffer_bytes = 16u << 20; /* the registry kept its copy */
    static fx x;
    cv_id cam;
    cv_id_random(&cam);
    fx_init_from(&x, cv_registry_get(r, &cam));
    assert_non_null(x.s);
    const cv_track_info t[] = {track_h264()};
    fx_attach(&x, &x.src, t, 1);
    pv(&x, true);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    assert_int_equal(v.n, 0);
    sink_free(&v);
    fx_free(&x);
    reg_free(r);
}

static void test_registry_remove_shuts_down_and_forgets(void **state)
{
    (void)state;
    cv_registry *r = reg_new(NULL);
    static fx x;
    cv_id cam;
    cv_id_random(&cam);
    fx_init_from(&x, cv_registry_get(r, &cam));
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    fx_attach(&x, &x.src, t, 2);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    pv(&x, true);
    cv_id other;
    cv_id_random(&other);
    cv_registry_remove(r, &other, "nothing"); /* unknown: no-op */
    assert_int_equal(cv_registry_count(r), 1);
    assert_int_equal(v.closes, 0);

    cv_registry_remove(r, &x.cam, "camera deleted");
    assert_int_equal(v.closes, 1);
    assert_string_equal(v.reason, "camera deleted");
    assert_int_equal(cv_registry_count(r), 0);
    assert_null(cv_registry_find(r, &x.cam));
    /* Our reference still works; the stream is offline and refuses frames. */
    assert_true(cv_id_eq(cv_stream_camera(x.s), &x.cam));
    assert_false(cv_stream_online(x.s));
    assert_int_equal(pub(&x, mk_video(&x, false, 100)), -EINVAL);
    /* The camera can come back as a new stream. */
    cv_stream *s2 = cv_registry_get(r, &x.cam);
    assert_non_null(s2);
    assert_ptr_not_equal(s2, x.s);
    assert_int_equal(cv_registry_count(r), 1);
    cv_stream_unref(s2);
    sink_free(&v);
    fx_free(&x);
    reg_free(r);
}

typedef struct {
    cv_stream *seen[8];
    size_t n;
} visit;

static void visit_fn(void *ctx, cv_stream *s)
{
    visit *v = ctx;
    if (v->n < CV_ARRAY_LEN(v->seen))
        v->seen[v->n] = s;
    v->n++;
}

static void test_registry_foreach_visits_each_stream_once(void **state)
{
    (void)state;
    cv_registry *r = reg_new(NULL);
    visit v = {{NULL}, 0};
    cv_registry_foreach(r, visit_fn, &v);
    assert_int_equal(v.n, 0);
    cv_stream *s[3];
    for (size_t i = 0; i < 3; i++) {
        cv_id c;
        cv_id_random(&c);
        s[i] = cv_registry_get(r, &c);
    }
    assert_int_equal(cv_registry_count(r), 3);
    cv_registry_foreach(r, visit_fn, &v);
    assert_int_equal(v.n, 3);
    for (size_t i = 0; i < 3; i++) {
        int hits = 0;
        for (size_t j = 0; j < v.n; j++)
            hits += v.seen[j] == s[i];
        assert_int_equal(hits, 1);
    }
    for (size_t i = 0; i < 3; i++)
        cv_stream_unref(s[i]);
    reg_free(r);
}

static void test_registry_free_closes_viewers(void **state)
{
    (void)state;
    cv_registry *r = reg_new(NULL);
    static fx x;
    cv_id cam;
    cv_id_random(&cam);
    fx_init_from(&x, cv_registry_get(r, &cam));
    const cv_track_info t[] = {track_h264()};
    fx_attach(&x, &x.src, t, 1);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    pv(&x, true);
    cv_stream_unref(x.s); /* only the table and the viewer hold it now */
    x.s = NULL;
    reg_free(r);
    assert_int_equal(v.closes, 1);
    assert_true(strlen(v.reason) > 0);
    /* The viewer outlives the registry; its teardown is safe. */
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x); /* its stream reference is gone already */
}

int main(void)
{
    if (cv_id_init() < 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        TEST(test_stream_refuses_publish_before_attach),
        TEST(test_stream_refuses_foreign_camera_frames),
        TEST(test_stream_refuses_other_source_and_unknown_track),
        TEST(test_stream_refuses_republished_frame),
        TEST(test_stream_refuses_malformed_access_unit),
        TEST(test_stream_packetizes_once_for_every_viewer),
        TEST(test_stream_aac_track_uses_dynamic_pt),
        TEST(test_stream_prebuffer_starts_at_latest_keyframe),
        TEST(test_stream_prebuffer_keys_on_the_video_track),
        TEST(test_stream_audio_only_has_no_prebuffer),
        TEST(test_stream_prebuffer_cap_drops_until_next_keyframe),
        TEST(test_stream_detach_clears_prebuffer),
        TEST(test_stream_unstarted_viewer_gets_nothing),
        TEST(test_stream_viewer_without_prebuffer_starts_at_keyframe),
        TEST(test_stream_next_rtp_matches_first_prebuffered_packet),
        TEST(test_stream_queue_bytes_bounds_slow_viewer),
        TEST(test_stream_spurious_written_is_ignored),
        TEST(test_stream_audio_only_viewer_drops_without_skipping),
        TEST(test_stream_queue_age_triggers_skipping),
        TEST(test_stream_huge_prebuffer_keeps_queue_accounting),
        TEST(test_stream_closes_stalled_viewer_once),
        TEST(test_stream_write_progress_resets_stall_timer),
        TEST(test_stream_slow_viewer_never_slows_others),
        TEST(test_stream_survives_failing_sink),
        TEST(test_stream_track_mask_filters_tracks),
        TEST(test_stream_attach_busy_and_invalid),
        TEST(test_stream_reattach_same_layout_keeps_viewers_and_rtp),
        TEST(test_stream_reattach_new_layout_closes_viewers),
        TEST(test_stream_layout_change_by_attached_source_closes_viewers),
        TEST(test_stream_failed_attach_leaves_no_half_state),
        TEST(test_stream_inband_params_update_tracks),
        TEST(test_stream_shutdown_closes_all_viewers),
        TEST(test_stream_sub_free_detaches),
        TEST(test_stream_build_sr),
        TEST(test_registry_get_creates_once),
        TEST(test_registry_applies_copied_limits),
        TEST(test_registry_remove_shuts_down_and_forgets),
        TEST(test_registry_foreach_visits_each_stream_once),
        TEST(test_registry_free_closes_viewers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
