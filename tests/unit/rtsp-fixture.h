/* The isolation case against the real RTSP server, shared by test-isolation
 * (plain RTSP) and test-rtsps (RTSPS): two cameras, each with a viewer on its
 * own thread; once both see their own camera's marked frames, a frame of B
 * is forced past the hub's door onto A's stream. A's viewer must never get
 * one byte of it, its session is closed, a security event is raised and the
 * violation counted; B's viewer is untouched.
 *
 * The server runs on the test thread's libuv loop, driven by a timer. A test
 * supplies the viewer thread (how it connects: a plain socket, TLS), which
 * opens its connection and hands it to rtsp_fx_play as an rtsp_fx_io. */
#ifndef CV_TEST_RTSP_FIXTURE_H
#define CV_TEST_RTSP_FIXTURE_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>
#include <uv.h>

#include "stream-fixture.h"

#include "hub/stream_int.h"
#include "rtsp/server.h"

#define DEADLINE_US (30 * 1000000LL)

static const char MARK_A[] = "camera-A-frame-marker";
static const char MARK_B[] = "camera-B-SECRET-marker";

typedef struct {
    int port;
    cv_id camera;
    char *got;             /* every byte received after PLAY */
    size_t len, cap;
    atomic_int playing;    /* PLAY answered 200 */
    atomic_int eof;        /* the server closed the connection */
    atomic_int saw_a, saw_b, saw_own;
    const char *own_mark;  /* marker of this viewer's camera */
} viewer;

typedef struct {
    int events[8];
    int last_kind;
} event_log;

/* A client connection's blocking byte I/O (read/write, or SSL_read/write). */
typedef struct {
    void *ctx;
    ssize_t (*read)(void *ctx, void *p, size_t n);
    ssize_t (*write)(void *ctx, const void *p, size_t n);
} rtsp_fx_io;

static inline bool contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

/* Sends req and reads one answer (head and Content-Length body) into resp.
 * Returns its status, or -1 when the connection fails first. */
static inline int rtsp_request(rtsp_fx_io *io, const char *req, char *resp, size_t cap)
{
    if (io->write(io->ctx, req, strlen(req)) != (ssize_t)strlen(req))
        return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = io->read(io->ctx, resp + n, cap - 1 - n);
        if (r <= 0)
            return -1;
        n += (size_t)r;
        resp[n] = 0;
        char *end = strstr(resp, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strstr(resp, "Content-Length: ");
        size_t body = cl && cl < end ? (size_t)atoi(cl + 16) : 0;
        if (n >= (size_t)(end + 4 - resp) + body)
            break;
    }
    return atoi(resp + 9); /* "RTSP/1.0 200" */
}

/* DESCRIBE, SETUP (interleaved TCP) and PLAY v's camera at base (the URL up
 * to the host: "rtsp://127.0.0.1"), then records every byte the server sends
 * until it closes. Returns early when an answer is not 200. */
static inline void rtsp_fx_play(viewer *v, rtsp_fx_io *io, const char *base)
{
    char hex[CV_ID_HEX_LEN + 1], req[512], resp[8192];
    cv_id_to_hex(&v->camera, hex);
    snprintf(req, sizeof(req), "DESCRIBE %s:%d/cam/%s RTSP/1.0\r\nCSeq: 1\r\n\r\n", base, v->port, hex);
    if (rtsp_request(io, req, resp, sizeof(resp)) != 200)
        return;
    snprintf(req, sizeof(req),
             "SETUP %s:%d/cam/%s/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n"
             "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
             base, v->port, hex);
    if (rtsp_request(io, req, resp, sizeof(resp)) != 200)
        return;
    char *sess = strstr(resp, "Session: ");
    char sid[32] = "";
    if (sess)
        sscanf(sess + 9, "%31[0-9A-Fa-f]", sid);
    snprintf(req, sizeof(req), "PLAY %s:%d/cam/%s RTSP/1.0\r\nCSeq: 3\r\nSession: %s\r\n\r\n", base, v->port, hex,
             sid);
    if (rtsp_request(io, req, resp, sizeof(resp)) != 200)
        return;
    atomic_store(&v->playing, 1);
    for (;;) {
        if (v->len + 4096 > v->cap) {
            v->cap = v->cap ? 2 * v->cap : 65536;
            v->got = realloc(v->got, v->cap);
        }
        ssize_t r = io->read(io->ctx, v->got + v->len, v->cap - v->len);
        if (r <= 0)
            break;
        v->len += (size_t)r;
        if (contains(v->got, v->len, MARK_A))
            atomic_store(&v->saw_a, 1);
        if (contains(v->got, v->len, MARK_B))
            atomic_store(&v->saw_b, 1);
        if (contains(v->got, v->len, v->own_mark))
            atomic_store(&v->saw_own, 1);
    }
}

/* ------------------------------------------------ the server's callbacks */

static inline int allow_all(void *ctx, const cv_rtsp_auth_req *req, cv_rtsp_access *out, cv_sbuf *challenge)
{
    (void)ctx;
    (void)challenge;
    out->kind = 1;
    out->principal = *req->camera;
    snprintf(out->who, sizeof(out->who), "test-viewer");
    return 200;
}

static inline bool still(void *ctx, const cv_id *camera, bool publish, const cv_rtsp_access *a)
{
    (void)ctx;
    (void)camera;
    (void)publish;
    (void)a;
    return true;
}

static inline void on_event(void *ctx, const cv_rtsp_event *ev)
{
    event_log *log = ctx;
    log->events[ev->kind]++;
    log->last_kind = (int)ev->kind;
}

/* The server's configuration: ephemeral ports, everyone allowed, events
 * counted in log; RTSPS too when tls is not NULL. */
static inline cv_rtsp_server_config rtsp_fx_config(cv_tls_ctx *tls, event_log *log)
{
    cv_rtsp_server_config cfg = {.port = 0,
                                 .tls = tls,
                                 .tls_port = 0,
                                 .authorize = allow_all,
                                 .still_allowed = still,
                                 .on_event = on_event,
                                 .ctx = log};
    return cfg;
}

/* A keyframe whose single NAL unit carries a marker string, so the bytes
 * reach the socket contiguously (one RTP packet). */
static inline cv_frame *marked_frame(const cv_id *cam, const char *mark, int64_t pts)
{
    uint8_t au[256];
    size_t o = 0;
    o += put_nal(au + o, SPS_A, sizeof(SPS_A));
    o += put_nal(au + o, PPS, sizeof(PPS));
    uint8_t idr[128];
    idr[0] = 0x65;
    memcpy(idr + 1, mark, strlen(mark));
    o += put_nal(au + o, idr, 1 + strlen(mark));
    return mkframe(cam, 0, CV_FRAME_KEY | CV_FRAME_PARAMS, 90000, pts, au, o);
}

typedef struct {
    cv_rtsp_server *srv;
    cv_stream *a, *b;
    viewer *va, *vb;
    int step;
    int64_t pts;
    int64_t deadline;
    uv_timer_t timer;
    cv_rtsp_server_stats stats;
} driver;

static inline void stop_loop(driver *d)
{
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, NULL);
    cv_rtsp_server_get_stats(d->srv, &d->stats);
    cv_rtsp_server_stop(d->srv, NULL, NULL);
}

static inline void drive(uv_timer_t *t)
{
    driver *d = t->data;
    if (cv_now_us() > d->deadline) {
        stop_loop(d);
        return;
    }
    d->pts += 3000;
    switch (d->step) {
    case 0: /* both viewers playing: feed each camera its own frames */
        if (atomic_load(&d->va->playing) && atomic_load(&d->vb->playing))
            d->step = 1;
        break;
    case 1: {
        cv_frame *fa = marked_frame(cv_stream_camera(d->a), MARK_A, d->pts);
        cv_frame *fb = marked_frame(cv_stream_camera(d->b), MARK_B, d->pts);
        assert_int_equal(cv_stream_publish(d->a, d, fa), 0);
        assert_int_equal(cv_stream_publish(d->b, d, fb), 0);
        cv_frame_unref(fa);
        cv_frame_unref(fb);
        if (atomic_load(&d->va->saw_own) && atomic_load(&d->vb->saw_own))
            d->step = 2;
        break;
    }
    case 2: {
        /* The door refuses B's frame on A's stream... */
        cv_frame *fb = marked_frame(cv_stream_camera(d->b), MARK_B, d->pts);
        assert_int_equal(cv_stream_publish(d->a, d, fb), -EPERM);
        cv_frame_unref(fb);
        /* ...so force it past the door, as a cache bug upstream would. */
        fb = marked_frame(cv_stream_camera(d->b), MARK_B, d->pts);
        assert_int_equal(cv__stream_offer_unchecked(d->a, fb), 0);
        cv_frame_unref(fb);
        d->step = 3;
        break;
    }
    case 3: /* A's viewer is closed; B's keeps receiving */
        if (atomic_load(&d->va->eof)) {
            cv_frame *fb = marked_frame(cv_stream_camera(d->b), MARK_B, d->pts);
            assert_int_equal(cv_stream_publish(d->b, d, fb), 0);
            cv_frame_unref(fb);
            d->step = 4;
        }
        break;
    default:
        stop_loop(d);
        break;
    }
}

/* Runs the whole case: the viewers (viewer_main threads) connect to the RTSPS
 * port when tls is not NULL, else to the plain one. */
static inline void rtsp_fx_foreign_frame_case(cv_tls_ctx *tls, void *(*viewer_main)(void *))
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    cv_registry *reg = reg_new(NULL);
    event_log log;
    memset(&log, 0, sizeof(log));
    cv_rtsp_server_config cfg = rtsp_fx_config(tls, &log);
    driver d;
    memset(&d, 0, sizeof(d));
    assert_int_equal(cv_rtsp_server_start(&d.srv, &loop, reg, &cfg), 0);

    cv_id ida, idb;
    cv_id_random(&ida);
    cv_id_random(&idb);
    d.a = cv_registry_get(reg, &ida);
    d.b = cv_registry_get(reg, &idb);
    cv_track_info t = track_h264();
    assert_int_equal(cv_stream_attach(d.a, &d, &t, 1), 0);
    assert_int_equal(cv_stream_attach(d.b, &d, &t, 1), 0);

    int port = tls ? cv_rtsp_server_tls_port(d.srv) : cv_rtsp_server_port(d.srv);
    viewer va = {.port = port, .camera = ida, .own_mark = MARK_A};
    viewer vb = {.port = port, .camera = idb, .own_mark = MARK_B};
    d.va = &va;
    d.vb = &vb;
    pthread_t ta, tb;
    pthread_create(&ta, NULL, viewer_main, &va);
    pthread_create(&tb, NULL, viewer_main, &vb);

    d.deadline = cv_now_us() + DEADLINE_US;
    uv_timer_init(&loop, &d.timer);
    d.timer.data = &d;
    uv_timer_start(&d.timer, drive, 5, 5);
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);

    assert_int_equal(d.step, 4); /* reached the end, not the deadline */
    assert_true(va.saw_a);        /* A's viewer did get A's frames... */
    assert_false(va.saw_b);       /* ...and never one byte of B's marker */
    assert_true(va.eof);          /* its session was closed */
    assert_true(vb.saw_own);
    assert_false(vb.saw_a);
    assert_int_equal(log.events[CV_RTSP_EV_ISOLATION], 1);
    assert_int_equal(d.stats.isolation_violations, 1);
    assert_int_equal(log.events[CV_RTSP_EV_VIEW_START], 2);
    cv_stream_stats sa;
    cv_stream_get_stats(d.a, &sa);
    assert_int_equal(sa.foreign_frames, 1);

    cv_stream_unref(d.a);
    cv_stream_unref(d.b);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    reg_free(reg);
    free(va.got);
    free(vb.got);
}

#endif
