/* Shared fixture of the hub tests (test-stream*.c, test-registry.c):
 * track infos, real H.264 access units and audio frames, a publishing
 * fixture, test sinks that record every frame they are handed (keeping a
 * reference) and complete queued writes only when told, and a teardown that
 * checks no frame is left alive. Include once per test program. */
#ifndef CV_TEST_STREAM_FIXTURE_H
#define CV_TEST_STREAM_FIXTURE_H
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

static inline void sleep_us(int64_t us)
{
    int64_t end = cv_now_us() + us;
    for (int64_t now = cv_now_us(); now < end; now = cv_now_us()) {
        struct timespec ts = {(time_t)((end - now) / 1000000), (long)((end - now) % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

/* --- tracks --- */

static const __attribute__((unused)) uint8_t SPS_A[] = {0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xec, 0x04, 0x40};
static const __attribute__((unused)) uint8_t SPS_B[] = {0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27};
static const __attribute__((unused)) uint8_t PPS[] = {0x68, 0xce, 0x3c, 0x80};

static inline cv_track_info track_h264(void)
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

static inline cv_track_info track_h265(void)
{
    cv_track_info t;
    memset(&t, 0, sizeof(t));
    t.kind = CV_MEDIA_VIDEO;
    t.codec = CV_CODEC_H265;
    t.clock_rate = 90000;
    t.payload_type = 96;
    return t;
}

static inline cv_track_info track_pcmu(void)
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

static inline cv_track_info track_aac(void)
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

static inline void live_add(void **set, void *p)
{
    for (size_t i = 0; i < MAX_LIVE; i++) {
        if (!set[i]) {
            set[i] = p;
            return;
        }
    }
    fail_msg("too many live test objects");
}

static inline void live_del(void **set, void *p)
{
    for (size_t i = 0; i < MAX_LIVE; i++)
        if (set[i] == p)
            set[i] = NULL;
}

static inline cv_registry *reg_new(const cv_stream_limits *lim)
{
    assert_null(g_reg);
    g_reg = cv_registry_new(lim);
    assert_non_null(g_reg);
    return g_reg;
}

static inline void reg_free(cv_registry *r)
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

static inline void fx_attach(fx *x, const void *source, const cv_track_info *t, size_t n)
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
static inline void fx_init_from(fx *x, cv_stream *s)
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

static inline void fx_init(fx *x, const cv_stream_limits *lim, const cv_track_info *t, size_t n)
{
    cv_id cam;
    cv_id_random(&cam);
    fx_init_from(x, cv_stream_new(&cam, lim));
    assert_true(cv_id_eq(cv_stream_camera(x->s), &cam));
    if (n)
        fx_attach(x, &x->src, t, n);
}

static inline void fx_free(fx *x)
{
    live_del((void **)g_fx, x);
    for (size_t i = 0; i < x->nlog; i++)
        cv_frame_unref(x->log[i]);
    free(x->log);
    cv_stream_unref(x->s);
    memset(x, 0, sizeof(*x));
}

static inline size_t put_nal(uint8_t *out, const uint8_t *nal, size_t len)
{
    cv_wr_be32(out, (uint32_t)len);
    memcpy(out + 4, nal, len);
    return 4 + len;
}

static inline size_t put_fill_nal(uint8_t *out, uint8_t hdr, size_t len, uint8_t fill)
{
    cv_wr_be32(out, (uint32_t)len);
    out[4] = hdr;
    for (size_t i = 1; i < len; i++)
        out[4 + i] = (uint8_t)(fill + i);
    return 4 + len;
}

static inline cv_frame *mkframe(const cv_id *cam, uint8_t track, uint32_t flags, uint32_t rate, int64_t pts,
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
static inline cv_frame *mk_h264(fx *x, const cv_id *cam, bool key, const uint8_t *sps, size_t sps_len, size_t body)
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

static inline cv_frame *mk_video(fx *x, bool key, size_t body)
{
    assert_true(x->vtrack >= 0);
    return key ? mk_h264(x, &x->cam, true, SPS_A, sizeof(SPS_A), body) : mk_h264(x, &x->cam, false, NULL, 0, body);
}

static inline cv_frame *mk_audio(fx *x, size_t len)
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
static inline int pub(fx *x, cv_frame *f)
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

static inline cv_frame *last(const fx *x) { return x->nlog ? x->log[x->nlog - 1] : NULL; }

#define KEY_BODY 1000
#define P_BODY 300
#define AUDIO_LEN 160

static inline cv_frame *pv(fx *x, bool key)
{
    assert_int_equal(pub(x, mk_video(x, key, key ? KEY_BODY : P_BODY)), 0);
    return last(x);
}

static inline cv_frame *pa(fx *x)
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

static inline size_t cost(const cv_frame *f) { return f->rtp ? f->rtp->len : cv_frame_len(f); }

static inline int sink_write(void *ctx, cv_frame *f)
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

static inline void sink_close(void *ctx, const char *reason)
{
    sink *k = ctx;
    k->closes++;
    snprintf(k->reason, sizeof(k->reason), "%s", reason ? reason : "");
    cv_stream_stats st;
    cv_stream_get_stats(cv_sub_stream(k->sub), &st);
    k->viewers_at_close = st.viewers;
}

static const __attribute__((unused)) cv_sink_ops sink_ops = {sink_write, sink_close};

static inline cv_sub *sink_sub(sink *k, cv_stream *s, uint32_t mask, int rc)
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
static inline void sink_complete(sink *k, size_t n)
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

static inline void sink_complete_all(sink *k) { sink_complete(k, k->pending); }

static inline size_t sink_cost_of_next(const sink *k)
{
    size_t i = k->next_done;
    while (i < k->n && !k->queued[i])
        i++;
    assert_true(i < k->n);
    return cost(k->got[i]);
}

static inline void sink_free(sink *k)
{
    live_del((void **)g_sinks, k);
    cv_sub_free(k->sub);
    for (size_t i = 0; i < k->n; i++)
        cv_frame_unref(k->got[i]);
    free(k->got);
    free(k->queued);
    memset(k, 0, sizeof(*k));
}

static inline size_t sink_count_track(const sink *k, int track)
{
    size_t n = 0;
    for (size_t i = 0; i < k->n; i++)
        n += k->got[i]->meta.track == track;
    return n;
}

static inline bool sink_has(const sink *k, const cv_frame *f)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->got[i] == f)
            return true;
    return false;
}

/* Releases whatever a failed case left, then checks that no frame
 * reference outlives the case. */
static inline int check_no_live_frames(void **state)
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

static inline cv_sub_stats sub_stats(const sink *k)
{
    cv_sub_stats st;
    cv_sub_get_stats(k->sub, &st);
    return st;
}

static inline cv_stream_stats stream_stats(const cv_stream *s)
{
    cv_stream_stats st;
    cv_stream_get_stats(s, &st);
    return st;
}

/* --- wire checks --- */

static inline uint16_t wire_last_seq(const cv_wire *w) { return (uint16_t)(w->first_seq + w->npkts - 1); }

/* Checks that f's RTP form is valid RTP of the stream's track: interleaved
 * framing on channel 2*track, the stream's SSRC and payload type, consecutive
 * sequence numbers, one timestamp (one packet per audio frame here) and the
 * marker on the last packet. */
static inline void check_wire(const cv_stream *s, const cv_frame *f)
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

#endif
