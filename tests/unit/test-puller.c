/* Pull client against a real RTSP camera (tests/fixtures/rtsp-camera, a
 * GStreamer RTSP server): transports, authentication, reconnection, and
 * frames arriving at a viewer of the camera's stream with the right
 * provenance. Every wait is bounded; every case closes its loop. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <uv.h>

#include "base/id.h"
#include "base/util.h"
#include "hub/stream.h"
#include "media/frame.h"
#include "media/nal.h"
#include "rtp/rtcp.h"
#include "rtsp/msg.h"
#include "rtsp/puller.h"

extern char **environ;

#define CASE_MS 20000

/* --- the camera fixture --- */

typedef struct {
    pid_t pid;
    int port;
    char url[160];
    char out_path[64];
} camera;

static const char *camera_path(void)
{
    static char path[4096];
    const char *env = getenv("CV_RTSP_CAMERA");
    if (env && *env)
        return env;
    /* Run by hand: build/tests/unit/test-puller -> build/tests/fixtures/rtsp-camera */
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
    if (n <= 0)
        return NULL;
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    size_t len = strlen(path);
    if (len + sizeof("/../fixtures/rtsp-camera") > sizeof(path))
        return NULL;
    strcat(path, "/../fixtures/rtsp-camera");
    return path;
}

static bool camera_available(void)
{
    const char *p = camera_path();
    return p && access(p, X_OK) == 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Starts the camera with extra arguments (NULL-terminated) on port (0 for
 * any) and waits for its "listening" line. */
static bool camera_start(camera *c, int port, ...)
{
    const char *argv[32];
    char portbuf[16];
    size_t n = 0;
    va_list ap;
    memset(c, 0, sizeof(*c));
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    argv[n++] = camera_path();
    argv[n++] = "--port";
    argv[n++] = portbuf;
    va_start(ap, port);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < CV_ARRAY_LEN(argv) - 1)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;

    snprintf(c->out_path, sizeof(c->out_path), "/tmp/cv-rtsp-camera-XXXXXX");
    int fd = mkstemp(c->out_path);
    if (fd < 0)
        return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, STDOUT_FILENO);
    int rc = posix_spawn(&c->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    if (rc != 0) {
        unlink(c->out_path);
        return false;
    }
    int64_t deadline = cv_now_us() + 10000000;
    while (cv_now_us() < deadline) {
        char buf[512] = "";
        FILE *f = fopen(c->out_path, "r");
        if (f) {
            size_t got = fread(buf, 1, sizeof(buf) - 1, f);
            buf[got] = '\0';
            fclose(f);
        }
        const char *line = strstr(buf, "listening on ");
        const char *nl = line ? strchr(line, '\n') : NULL;
        if (nl) {
            line += strlen("listening on ");
            snprintf(c->url, sizeof(c->url), "%.*s", (int)(nl - line), line);
            const char *colon = strrchr(c->url, ':');
            c->port = colon ? atoi(colon + 1) : 0;
            return c->port > 0;
        }
        int status;
        if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
            c->pid = 0;
            unlink(c->out_path);
            return false;
        }
        sleep_ms(10);
    }
    return false;
}

static void camera_kill(camera *c, int sig)
{
    if (c->pid <= 0)
        return;
    kill(c->pid, sig);
    int status;
    for (int i = 0; i < 300; i++) {
        if (waitpid(c->pid, &status, WNOHANG) == c->pid) {
            c->pid = 0;
            break;
        }
        sleep_ms(10);
    }
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, &status, 0);
        c->pid = 0;
    }
    unlink(c->out_path);
}

/* Builds rtsp://user:pass@host:port/path from the camera's URL. */
static void url_with_creds(const camera *c, const char *user, const char *pass, char *out, size_t cap)
{
    const char *rest = c->url + strlen("rtsp://");
    snprintf(out, cap, "rtsp://%s:%s@%s", user, pass, rest);
}

/* --- the viewer --- */

typedef struct {
    cv_id camera;
    cv_media_kind kinds[CV_MAX_TRACKS];
    uint64_t frames[CV_MAX_TRACKS];
    uint64_t keyframes;
    uint64_t foreign;
    uint64_t bad_nal;
    bool closed;
    int64_t last_frame_us;
} viewer;

static int sink_write(void *ctx, cv_frame *f)
{
    viewer *v = ctx;
    if (!cv_id_eq(&f->meta.camera, &v->camera))
        v->foreign++;
    if (f->meta.track >= CV_MAX_TRACKS)
        return -EINVAL;
    if (v->kinds[f->meta.track] == CV_MEDIA_VIDEO) {
        cv_nal_iter it;
        const uint8_t *nal;
        size_t len, count = 0;
        cv_nal_iter_init(&it, cv_frame_data(f), cv_frame_len(f));
        while (cv_nal_next(&it, &nal, &len))
            count++;
        if (count == 0 || it.p != it.end)
            v->bad_nal++;
        if (f->meta.flags & CV_FRAME_KEY)
            v->keyframes++;
    }
    v->frames[f->meta.track]++;
    v->last_frame_us = cv_now_us();
    return 1;
}

static void sink_close(void *ctx, const char *reason)
{
    viewer *v = ctx;
    (void)reason;
    v->closed = true;
}

static const cv_sink_ops sink_ops = {sink_write, sink_close};

/* --- bounded loop runs --- */

typedef bool (*pred_fn)(void *ctx);

typedef struct {
    pred_fn pred;
    void *ctx;
    int64_t deadline;
    bool ok;
} waiter;

static void on_check(uv_timer_t *t)
{
    waiter *w = t->data;
    if (w->pred && w->pred(w->ctx)) {
        w->ok = true;
        uv_stop(t->loop);
    } else if (cv_now_us() > w->deadline) {
        uv_stop(t->loop);
    }
}

/* Runs the loop until pred is true (checked every 5 ms) or timeout_ms. */
static bool run_until(uv_loop_t *loop, pred_fn pred, void *ctx, int timeout_ms)
{
    waiter w = {pred, ctx, cv_now_us() + (int64_t)timeout_ms * 1000, false};
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &w;
    uv_timer_start(&t, on_check, 5, 5);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return w.ok;
}

static void on_watchdog(uv_timer_t *t) { uv_stop(t->loop); }

/* Runs the loop until nothing but closed handles is left (bounded). */
static bool drain(uv_loop_t *loop, int timeout_ms)
{
    uv_timer_t t;
    uv_timer_init(loop, &t);
    uv_timer_start(&t, on_watchdog, (uint64_t)timeout_ms, 0);
    uv_unref((uv_handle_t *)&t); /* does not keep the loop alive by itself */
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return !uv_loop_alive(loop);
}

/* --- one case's fixture --- */

typedef struct {
    uv_loop_t loop;
    cv_id cam;
    cv_stream *stream;
    cv_puller *puller;
    cv_sub *sub;
    viewer v;
    long live_frames; /* before the case */
    int64_t timeout_us;
} harness;

static void h_init(harness *h)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    cv_id_random(&h->cam);
    h->stream = cv_stream_new(&h->cam, NULL);
    assert_non_null(h->stream);
    h->v.camera = h->cam;
    h->live_frames = cv_frame_live_count();
    h->timeout_us = 5000000;
}

static int h_start(harness *h, const char *url, cv_puller_transport tr, int64_t backoff_min_us,
                   int64_t backoff_max_us)
{
    cv_puller_config cfg = {
        .url = url,
        .transport = tr,
        .backoff_min_us = backoff_min_us,
        .backoff_max_us = backoff_max_us,
        .timeout_us = h->timeout_us,
    };
    return cv_puller_start(&h->puller, &h->loop, h->stream, &cfg);
}

static bool stream_online(void *ctx) { return cv_stream_online(((harness *)ctx)->stream); }

/* Subscribes once the camera's tracks are known (a first attach replaces
 * the track layout and closes earlier viewers). */
static void h_subscribe(harness *h)
{
    assert_true(run_until(&h->loop, stream_online, h, CASE_MS));
    cv_track_info tracks[CV_MAX_TRACKS];
    size_t n = cv_stream_tracks(h->stream, tracks, CV_MAX_TRACKS);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++)
        h->v.kinds[i] = tracks[i].kind;
    h->sub = cv_stream_subscribe(h->stream, 0xf, &sink_ops, &h->v);
    assert_non_null(h->sub);
    cv_sub_start(h->sub);
}

typedef struct {
    harness *h;
    uint64_t video, audio;
} want_frames;

static bool have_frames(void *ctx)
{
    want_frames *w = ctx;
    uint64_t v = 0, a = 0;
    for (size_t i = 0; i < CV_MAX_TRACKS; i++) {
        if (w->h->v.kinds[i] == CV_MEDIA_VIDEO)
            v += w->h->v.frames[i];
        else if (w->h->v.kinds[i] == CV_MEDIA_AUDIO)
            a += w->h->v.frames[i];
    }
    return v >= w->video && a >= w->audio;
}

static void h_expect_frames(harness *h, uint64_t video, uint64_t audio)
{
    want_frames w = {h, video, audio};
    assert_true(run_until(&h->loop, have_frames, &w, CASE_MS));
    assert_int_equal(h->v.foreign, 0);
    assert_int_equal(h->v.bad_nal, 0);
    assert_false(h->v.closed);
    cv_puller_stats st;
    cv_puller_get_stats(h->puller, &st);
    assert_true(st.connected);
    assert_true(st.frames > 0);
}

typedef struct fake_cam fake_cam;
static void fake_stop(fake_cam *cam);

/* Stops the puller, lets a scripted camera see what it sent last (TEARDOWN),
 * closes everything and checks that nothing leaked. */
static void h_finish_with(harness *h, fake_cam *cam)
{
    if (h->puller)
        cv_puller_stop(h->puller);
    h->puller = NULL;
    if (cam) {
        run_until(&h->loop, NULL, NULL, 200);
        fake_stop(cam);
    }
    assert_true(drain(&h->loop, 5000));
    assert_false(cv_stream_online(h->stream));
    if (h->sub)
        cv_sub_free(h->sub);
    cv_stream_unref(h->stream);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    assert_int_equal(cv_frame_live_count(), h->live_frames);
}

static void h_finish(harness *h) { h_finish_with(h, NULL); }

/* The fixture is part of the build (make test installs GStreamer): a
 * missing one is a broken setup, so the case fails rather than skips. */
#define NEED_CAMERA()                                                          \
    do {                                                                       \
        if (!camera_available())                                               \
            fail_msg("rtsp-camera fixture not built (CV_RTSP_CAMERA unset or missing)"); \
    } while (0)

/* --- cases --- */

static void test_puller_tcp_h264_aac(void **state)
{
    (void)state;
    NEED_CAMERA();
    camera c;
    assert_true(camera_start(&c, 0, "--codec", "h264", "--audio", "aac", "--transport", "tcp", NULL));
    harness h;
    h_init(&h);
    assert_int_equal(h_start(&h, c.url, CV_PULLER_TRANSPORT_TCP, 0, 0), 0);
    h_subscribe(&h);
    cv_track_info tracks[CV_MAX_TRACKS];
    assert_int_equal(cv_stream_tracks(h.stream, tracks, CV_MAX_TRACKS), 2);
    assert_int_equal(tracks[0].codec, CV_CODEC_H264);
    assert_int_equal(tracks[1].codec, CV_CODEC_AAC);
    assert_int_equal(h.v.kinds[0], CV_MEDIA_VIDEO);
    assert_int_equal(h.v.kinds[1], CV_MEDIA_AUDIO);
    h_expect_frames(&h, 30, 30);
    assert_true(h.v.keyframes >= 1);
    cv_puller_stats st;
    cv_puller_get_stats(h.puller, &st);
    assert_int_equal(st.sessions, 1);
    assert_int_equal(st.attempts, 1);
    h_finish(&h);
    camera_kill(&c, SIGTERM);
}

static void test_puller_udp_h264(void **state)
{
    (void)state;
    NEED_CAMERA();
    camera c;
    assert_true(camera_start(&c, 0, "--codec", "h264", "--transport", "udp", NULL));
    harness h;
    h_init(&h);
    assert_int_equal(h_start(&h, c.url, CV_PULLER_TRANSPORT_UDP, 0, 0), 0);
    h_subscribe(&h);
    h_expect_frames(&h, 30, 0);
    /* Past the first receiver report (5 s): the session stays healthy. */
    run_until(&h.loop, NULL, NULL, 5500);
    uint64_t before = h.v.frames[0];
    h_expect_frames(&h, before + 10, 0);
    cv_puller_stats st;
    cv_puller_get_stats(h.puller, &st);
    assert_int_equal(st.attempts, 1);
    assert_int_equal(st.sessions, 1);
    h_finish(&h);
    camera_kill(&c, SIGTERM);
}

static void test_puller_auto_falls_back_to_udp(void **state)
{
    (void)state;
    NEED_CAMERA();
    camera c;
    assert_true(camera_start(&c, 0, "--codec", "h264", "--audio", "pcmu", "--transport", "udp", NULL));
    harness h;
    h_init(&h);
    assert_int_equal(h_start(&h, c.url, CV_PULLER_TRANSPORT_AUTO, 0, 0), 0);
    h_subscribe(&h);
    h_expect_frames(&h, 20, 20);
    cv_puller_stats st;
    cv_puller_get_stats(h.puller, &st);
    assert_int_equal(st.attempts, 1); /* TCP refused, then SETUP over UDP on the same connection */
    assert_int_equal(st.sessions, 1);
    h_finish(&h);
    camera_kill(&c, SIGTERM);
}

static void test_puller_basic_auth(void **state)
{
    (void)state;
    NEED_CAMERA();
    camera c;
    assert_true(camera_start(&c, 0, "--auth", "basic", "--user", "admin", "--pass", "s3cr@t%x", NULL));
    char url[256];
    url_with_creds(&c, "admin", "s3cr%40t%25x", url, sizeof(url));
    harness h;
    h_init(&h);
    assert_int_equal(h_start(&h, url, CV_PULLER_TRANSPORT_TCP, 0, 0), 0);
    h_subscribe(&h);
    h_expect_frames(&h, 20, 0);
    h_finish(&h);
    camera_kill(&c, SIGTERM);
}

static void test_puller_digest_auth(void **state)
{
    (void)state;
    NEED_CAMERA();
    camera c;
    assert_true(camera_start(&c, 0, "--auth", "digest", "--user", "viewer", "--pass", "hunter2", "--audio", "opus",
                             NULL));
    char url[256];
    url_with_creds(&c, "viewer", "hunter2", url, sizeof(url));
    harness h;
    h_init(&h);
    assert_int_equal(h_start(&h, url, CV_PULLER_TRANSPORT_AUTO, 0, 0), 0);
    h_subscribe(&h);
    h_expect_frames(&h, 20, 20);
    cv_puller_stats st;
    cv_puller_get_stats(h.puller, &st);
    assert_int_equal(st.attempts, 1);
    h_finish(&h);
    camera_kill(&c, SIGTERM);
}

typedef struct {
    harness *h;
    uint32_t want;
    int64_t at[8];
    uint32_t seen;
} attempts_watch;

static bool attempts_reached(void *ctx)
{
    attempts_watch *w = ctx;
    cv_puller_stats st;
    cv_puller_get_stats(w->h->puller, &st);
    while (w->seen < st.attempts && w->seen < CV_ARRAY_LEN(w->at))
        w->at[w->seen++] = cv_now_us();
    return st.attempts >= w->want;
}

static void test_puller_wrong_password_backs_off(void **state)
{
    (void)state;
    NEED_CAMERA();
    camera c;
    assert_true(camera_start(&c, 0, "--auth", "digest", "--user", "viewer", "--pass", "right", NULL));
    char url[256];
    url_with_creds(&c, "viewer", "badpass42", url, sizeof(url));
    harness h;
    h_init(&h);
    assert_int_equal(h_start(&h, url, CV_PULLER_TRANSPORT_TCP, 100000, 2000000), 0);
    attempts_watch w = {.h = &h, .want = 5};
    assert_true(run_until(&h.loop, attempts_reached, &w, CASE_MS));
    cv_puller_stats st;
    cv_puller_get_stats(h.puller, &st);
    assert_false(st.connected);
    assert_int_equal(st.sessions, 0);
    assert_int_equal(st.frames, 0);
    assert_non_null(strstr(st.last_error, "401"));
    assert_null(strstr(st.last_error, "badpass42")); /* never the password */
    /* Gaps grow: about 100, 200, 400, 800 ms (+-20%, plus the exchange). */
    int64_t g1 = w.at[2] - w.at[1], g3 = w.at[4] - w.at[3];
    fprintf(stderr, "wrong password: retry gaps %lld, %lld, %lld ms\n", (long long)(g1 / 1000),
            (long long)((w.at[3] - w.at[2]) / 1000), (long long)(g3 / 1000));
    assert_true(g1 >= 150000);
    assert_true(g3 > g1 + g1 / 2); /* about 4x; loose for slow sanitizer runs */
    assert_false(cv_stream_online(h.stream));
    h_finish(&h);
    camera_kill(&c, SIGTERM);
}

typedef struct {
    harness *h;
    bool want_connected;
} conn_watch;

static bool connected_is(void *ctx)
{
    conn_watch *w = ctx;
    cv_puller_stats st;
    cv_puller_get_stats(w->h->puller, &st);
    return st.connected == w->want_connected && cv_stream_online(w->h->stream) == w->want_connected;
}

typedef struct {
    viewer *v;
    uint64_t after;
} frame_watch;

static bool frames_after(void *ctx)
{
    frame_watch *w = ctx;
    return w->v->frames[0] > w->after;
}

static void test_puller_reconnects_after_camera_restart(void **state)
{
    (void)state;
    NEED_CAMERA();
    camera c;
    assert_true(camera_start(&c, 0, "--codec", "h264", "--audio", "pcmu", "--gop", "10", NULL));
    int port = c.port;
    harness h;
    h_init(&h);
    assert_int_equal(h_start(&h, c.url, CV_PULLER_TRANSPORT_AUTO, 200000, 1000000), 0);
    h_subscribe(&h);
    h_expect_frames(&h, 20, 20);

    camera_kill(&c, SIGKILL);
    conn_watch cw = {&h, false};
    assert_true(run_until(&h.loop, connected_is, &cw, CASE_MS));
    cv_puller_stats st;
    cv_puller_get_stats(h.puller, &st);
    assert_true(st.last_error[0] != '\0');
    /* Let a retry or two fail while the camera is away. */
    run_until(&h.loop, NULL, NULL, 700);
    cv_puller_get_stats(h.puller, &st);
    assert_true(st.attempts >= 2);

    camera c2;
    bool up = false;
    for (int i = 0; i < 50 && !up; i++) { /* the port may linger briefly */
        up = camera_start(&c2, port, "--codec", "h264", "--audio", "pcmu", "--gop", "10", NULL);
        if (!up)
            sleep_ms(100);
    }
    assert_true(up);
    int64_t t0 = cv_now_us();
    frame_watch fw = {&h.v, h.v.frames[0]};
    assert_true(run_until(&h.loop, frames_after, &fw, CASE_MS));
    int64_t dt = cv_now_us() - t0;
    fprintf(stderr, "reconnect: first frame %lld ms after the camera came back\n", (long long)(dt / 1000));
    h_expect_frames(&h, h.v.frames[0] + 20, 0);
    assert_false(h.v.closed); /* the viewer was kept across the outage */
    cv_puller_get_stats(h.puller, &st);
    assert_int_equal(st.sessions, 2);
    assert_int_equal(h.v.foreign, 0);
    h_finish(&h);
    camera_kill(&c2, SIGTERM);
}

static void test_puller_rejects_bad_url(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    cv_id cam;
    cv_id_random(&cam);
    cv_stream *s = cv_stream_new(&cam, NULL);
    static const char *const bad[] = {
        "http://127.0.0.1/stream", "rtsp://", "rtsp://host:99999/x", "not a url", "",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        cv_puller *p = NULL;
        cv_puller_config cfg = {.url = bad[i]};
        assert_int_equal(cv_puller_start(&p, &loop, s, &cfg), -EINVAL);
        assert_null(p);
    }
    cv_puller *p = NULL;
    cv_puller_config cfg = {.url = NULL};
    assert_int_equal(cv_puller_start(&p, &loop, s, &cfg), -EINVAL);
    assert_int_equal(uv_run(&loop, UV_RUN_NOWAIT), 0);
    cv_stream_unref(s);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Stop at once (DNS in flight, connect in flight) and while backing off. */
static void test_puller_stop_in_any_state(void **state)
{
    (void)state;
    static const char *const urls[] = {
        "rtsp://localhost:1/x",      /* name: DNS in flight */
        "rtsp://127.0.0.1:1/x",      /* numeric: connect in flight */
        "rtsp://[::1]:1/x",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(urls); i++) {
        harness h;
        h_init(&h);
        assert_int_equal(h_start(&h, urls[i], CV_PULLER_TRANSPORT_AUTO, 50000, 100000), 0);
        h_finish(&h);
    }
    for (size_t i = 0; i < CV_ARRAY_LEN(urls); i++) {
        harness h;
        h_init(&h);
        assert_int_equal(h_start(&h, urls[i], CV_PULLER_TRANSPORT_AUTO, 50000, 100000), 0);
        attempts_watch w = {.h = &h, .want = 3};
        assert_true(run_until(&h.loop, attempts_reached, &w, CASE_MS));
        cv_puller_stats st;
        cv_puller_get_stats(h.puller, &st);
        assert_true(st.last_error[0] != '\0');
        h_finish(&h);
    }
}

/* --- a scripted camera on the test's own loop, for what a real one will not do --- */

typedef struct fconn {
    uv_tcp_t tcp;
    uv_timer_t media;
    fake_cam *cam;
    struct fconn *next;
    int open_handles;
    bool closing;
    bool playing;
    uint8_t buf[32768];
    size_t len;
    uint16_t seq;
    uint32_t ts;
} fconn;

struct fake_cam {
    uv_loop_t *loop;
    uv_tcp_t srv;
    bool srv_closed;
    int port;
    char url[96];
    /* behaviour */
    const char *sdp;
    int session_timeout;   /* 0: no timeout parameter */
    bool media;            /* send H.264 over interleaved channel 0 after PLAY */
    bool garbage_after_play;
    bool digest_stale;     /* 401, then 401 stale=true, then accept */
    /* what it saw */
    int connections, describes, setups, plays, keepalives, teardowns;
    int receiver_reports;
    int keepalives_without_session;
    int requests_without_auth;   /* after the first challenge */
    int basic_used;
    char setup_uri[256];
    char play_uri[256];
    int last_nc;
    bool nc_regressed;
    fconn *conns;
};

typedef struct {
    uv_write_t req;
    uint8_t data[];
} fwrite_req;

static void fake_written(uv_write_t *r, int status)
{
    (void)status;
    free(r);
}

static void fake_send(fconn *c, const void *data, size_t len)
{
    if (c->closing)
        return;
    fwrite_req *w = malloc(sizeof(*w) + len);
    assert_non_null(w);
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, fake_written) < 0)
        free(w);
}

static void fconn_closed(uv_handle_t *h)
{
    fconn *c = h->data;
    if (--c->open_handles)
        return;
    fconn **pp = &c->cam->conns;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    free(c);
}

static void fconn_close(fconn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->media, fconn_closed);
    uv_close((uv_handle_t *)&c->tcp, fconn_closed);
}

static void fake_media(uv_timer_t *t)
{
    fconn *c = t->data;
    uint8_t pkt[4 + 12 + 32];
    memset(pkt, 0, sizeof(pkt));
    pkt[0] = '$';
    pkt[1] = 0;
    cv_wr_be16(pkt + 2, sizeof(pkt) - 4);
    uint8_t *r = pkt + 4;
    r[0] = 0x80;
    r[1] = 0x80 | 96; /* marker: one NAL per access unit */
    cv_wr_be16(r + 2, c->seq++);
    cv_wr_be32(r + 4, c->ts);
    c->ts += 3600;
    cv_wr_be32(r + 8, 0x11223344);
    r[12] = 0x65; /* IDR slice */
    for (size_t i = 13; i < sizeof(pkt) - 4; i++)
        r[i] = (uint8_t)(0x40 + i);
    fake_send(c, pkt, sizeof(pkt));
}

static const cv_str *req_header(const cv_rtsp_msg *m, const char *name) { return cv_rtsp_msg_header(m, name); }

static bool str_has(const cv_str *v, const char *needle)
{
    if (!v)
        return false;
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= v->len; i++)
        if (strncasecmp(v->p + i, needle, n) == 0)
            return true;
    return false;
}

static void fake_reply(fconn *c, const cv_rtsp_msg *m, const char *status, const char *headers, const char *body)
{
    char out[4096];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(out, sizeof(out), "RTSP/1.0 %s\r\nCSeq: %d\r\n%s", status, m->cseq, headers ? headers : "");
    if (blen)
        n += snprintf(out + n, sizeof(out) - (size_t)n, "Content-Type: application/sdp\r\nContent-Length: %zu\r\n",
                      blen);
    n += snprintf(out + n, sizeof(out) - (size_t)n, "\r\n%s", body ? body : "");
    assert_true(n > 0 && (size_t)n < sizeof(out));
    fake_send(c, out, (size_t)n);
}

/* Digest scripting: first a challenge (with a Basic one the client must not
 * prefer), then stale=true with a new nonce, then anything with nonce n2. */
static bool fake_auth(fconn *c, const cv_rtsp_msg *m)
{
    fake_cam *cam = c->cam;
    const cv_str *a = req_header(m, "Authorization");
    if (!cam->digest_stale)
        return true;
    if (!a) {
        if (cam->describes > 0 || cam->setups > 0)
            cam->requests_without_auth++;
        fake_reply(c, m, "401 Unauthorized",
                   "WWW-Authenticate: Basic realm=\"cam\"\r\n"
                   "WWW-Authenticate: Digest realm=\"cam\", nonce=\"n1\", qop=\"auth\"\r\n",
                   NULL);
        return false;
    }
    if (str_has(a, "Basic "))
        cam->basic_used++;
    if (str_has(a, "nonce=\"n1\"")) {
        fake_reply(c, m, "401 Unauthorized",
                   "WWW-Authenticate: Digest realm=\"cam\", nonce=\"n2\", qop=\"auth\", stale=true\r\n", NULL);
        return false;
    }
    if (!str_has(a, "nonce=\"n2\"")) {
        fake_reply(c, m, "401 Unauthorized", "WWW-Authenticate: Digest realm=\"cam\", nonce=\"n3\"\r\n", NULL);
        return false;
    }
    for (size_t i = 0; i + 3 < a->len; i++) {
        if (strncmp(a->p + i, "nc=", 3) == 0) {
            int nc = (int)strtol(a->p + i + 3, NULL, 16);
            if (nc <= cam->last_nc)
                cam->nc_regressed = true;
            cam->last_nc = nc;
            break;
        }
    }
    return true;
}

static void fake_request(fconn *c, const cv_rtsp_msg *m)
{
    fake_cam *cam = c->cam;
    char hdr[512];
    if (cv_str_ieq_c(m->method, "TEARDOWN")) {
        cam->teardowns++;
        fake_reply(c, m, "200 OK", NULL, NULL);
        return;
    }
    if (!fake_auth(c, m))
        return;
    if (cv_str_ieq_c(m->method, "OPTIONS") && !c->playing) {
        fake_reply(c, m, "200 OK", "Public: OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN\r\n", NULL);
    } else if (cv_str_ieq_c(m->method, "DESCRIBE")) {
        cam->describes++;
        snprintf(hdr, sizeof(hdr), "Content-Base: %s/\r\n", cam->url);
        fake_reply(c, m, "200 OK", hdr, cam->sdp);
    } else if (cv_str_ieq_c(m->method, "SETUP")) {
        cam->setups++;
        snprintf(cam->setup_uri, sizeof(cam->setup_uri), "%.*s", (int)m->uri.len, m->uri.p);
        const cv_str *tr = req_header(m, "Transport");
        if (!str_has(tr, "RTP/AVP/TCP")) {
            fake_reply(c, m, "461 Unsupported Transport", NULL, NULL);
            return;
        }
        if (cam->session_timeout)
            snprintf(hdr, sizeof(hdr), "Transport: %.*s\r\nSession: F4K3S3SS10N;timeout=%d\r\n", (int)tr->len, tr->p,
                     cam->session_timeout);
        else
            snprintf(hdr, sizeof(hdr), "Transport: %.*s\r\nSession: F4K3S3SS10N\r\n", (int)tr->len, tr->p);
        fake_reply(c, m, "200 OK", hdr, NULL);
    } else if (cv_str_ieq_c(m->method, "PLAY")) {
        cam->plays++;
        snprintf(cam->play_uri, sizeof(cam->play_uri), "%.*s", (int)m->uri.len, m->uri.p);
        fake_reply(c, m, "200 OK", "Session: F4K3S3SS10N\r\n", NULL);
        c->playing = true;
        if (cam->media)
            uv_timer_start(&c->media, fake_media, 0, 40);
        if (cam->garbage_after_play) {
            static const char junk[] = "\x01\x02 definitely not RTSP\r\n\r\n";
            fake_send(c, junk, sizeof(junk) - 1);
        }
    } else if (cv_str_ieq_c(m->method, "GET_PARAMETER") || cv_str_ieq_c(m->method, "OPTIONS")) {
        cam->keepalives++;
        if (!str_has(req_header(m, "Session"), "F4K3S3SS10N"))
            cam->keepalives_without_session++;
        fake_reply(c, m, "200 OK", NULL, NULL);
    } else {
        fake_reply(c, m, "501 Not Implemented", NULL, NULL);
    }
}

static void fake_alloc(uv_handle_t *h, size_t sugg, uv_buf_t *buf)
{
    fconn *c = h->data;
    (void)sugg;
    *buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void fake_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    fconn *c = s->data;
    (void)buf;
    if (nread < 0) {
        fconn_close(c);
        return;
    }
    c->len += (size_t)nread;
    size_t off = 0;
    while (off < c->len && !c->closing) {
        if (c->buf[off] == '$') { /* the client's RTCP */
            uint8_t ch;
            const uint8_t *pl;
            size_t pll;
            int rc = cv_rtsp_parse_interleaved(c->buf + off, c->len - off, &ch, &pl, &pll);
            if (rc <= 0)
                break;
            cv_rtcp_info ri;
            if (ch == 1 && cv_rtcp_parse(pl, pll, &ri) == 0 && ri.has_rr)
                c->cam->receiver_reports++;
            off += (size_t)rc;
            continue;
        }
        cv_rtsp_msg m;
        int rc = cv_rtsp_parse(c->buf + off, c->len - off, &m);
        if (rc == 0)
            break;
        if (rc < 0) {
            fconn_close(c);
            return;
        }
        fake_request(c, &m);
        off += (size_t)rc;
    }
    memmove(c->buf, c->buf + off, c->len - off);
    c->len -= off;
}

static void fake_accept(uv_stream_t *srv, int status)
{
    fake_cam *cam = srv->data;
    if (status < 0)
        return;
    fconn *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->cam = cam;
    uv_tcp_init(cam->loop, &c->tcp);
    uv_timer_init(cam->loop, &c->media);
    c->tcp.data = c->media.data = c;
    c->open_handles = 2;
    c->next = cam->conns;
    cam->conns = c;
    cam->connections++;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) < 0 || uv_read_start((uv_stream_t *)&c->tcp, fake_alloc, fake_read) < 0)
        fconn_close(c);
}

static void fake_start(fake_cam *cam, uv_loop_t *loop)
{
    struct sockaddr_in sin;
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    cam->loop = loop;
    uv_ip4_addr("127.0.0.1", 0, &sin);
    assert_int_equal(uv_tcp_init(loop, &cam->srv), 0);
    cam->srv.data = cam;
    assert_int_equal(uv_tcp_bind(&cam->srv, (const struct sockaddr *)&sin, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&cam->srv, 8, fake_accept), 0);
    assert_int_equal(uv_tcp_getsockname(&cam->srv, (struct sockaddr *)&ss, &len), 0);
    cam->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    snprintf(cam->url, sizeof(cam->url), "rtsp://127.0.0.1:%d/cam", cam->port);
}

static void fake_stop(fake_cam *cam)
{
    for (fconn *c = cam->conns; c; c = c->next)
        fconn_close(c);
    uv_close((uv_handle_t *)&cam->srv, NULL);
}

#define SDP_HEAD "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=fake\r\nt=0 0\r\n"
#define SDP_H264                                                                                   \
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"                                           \
    "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==\r\n"           \
    "a=control:trackID=1\r\n"

typedef struct {
    harness *h;
    const char *needle;
} error_watch;

static bool error_has(void *ctx)
{
    error_watch *w = ctx;
    cv_puller_stats st;
    cv_puller_get_stats(w->h->puller, &st);
    return strstr(st.last_error, w->needle) != NULL;
}

static bool fake_reconnected(void *ctx) { return ((fake_cam *)ctx)->connections >= 2; }

static bool fake_keepalives(void *ctx) { return ((fake_cam *)ctx)->keepalives >= 2; }
static bool fake_got_rr(void *ctx) { return ((fake_cam *)ctx)->receiver_reports >= 1; }

/* Session timeout honoured (GET_PARAMETER every timeout/2 with the Session),
 * relative a=control resolved against Content-Base, unsupported tracks
 * skipped, stale nonces re-challenged once with Digest preferred to Basic. */
static void test_puller_keepalive_controls_and_stale_nonce(void **state)
{
    (void)state;
    harness h;
    h_init(&h);
    fake_cam cam = {
        .sdp = SDP_HEAD "a=control:*\r\n"
                        "m=audio 0 RTP/AVP 14\r\na=control:trackID=0\r\n"
                        "m=application 0 RTP/AVP 107\r\na=rtpmap:107 vnd.onvif.metadata/90000\r\n" SDP_H264,
        .session_timeout = 2,
        .media = true,
        .digest_stale = true,
    };
    fake_start(&cam, &h.loop);
    char url[160];
    snprintf(url, sizeof(url), "rtsp://u:p@127.0.0.1:%d/cam", cam.port);
    assert_int_equal(h_start(&h, url, CV_PULLER_TRANSPORT_TCP, 0, 0), 0);
    h_subscribe(&h);
    cv_track_info tracks[CV_MAX_TRACKS];
    assert_int_equal(cv_stream_tracks(h.stream, tracks, CV_MAX_TRACKS), 1);
    assert_int_equal(tracks[0].codec, CV_CODEC_H264);
    h_expect_frames(&h, 10, 0);
    char want[200];
    snprintf(want, sizeof(want), "%s/trackID=1", cam.url);
    assert_string_equal(cam.setup_uri, want);
    snprintf(want, sizeof(want), "%s/", cam.url);
    assert_string_equal(cam.play_uri, want);
    assert_true(run_until(&h.loop, fake_keepalives, &cam, 5000));
    assert_true(run_until(&h.loop, fake_got_rr, &cam, 8000)); /* every 5 s on the RTCP channel */
    assert_int_equal(cam.keepalives_without_session, 0);
    assert_int_equal(cam.requests_without_auth, 0);
    assert_int_equal(cam.basic_used, 0);
    assert_false(cam.nc_regressed);
    assert_true(cam.last_nc >= 4); /* DESCRIBE, SETUP, PLAY, keepalives on one nonce */
    assert_int_equal(cam.connections, 1);
    cv_puller_stats st;
    cv_puller_get_stats(h.puller, &st);
    assert_int_equal(st.attempts, 1);
    h_finish_with(&h, &cam);
    assert_int_equal(cam.teardowns, 1); /* sent on stop, best effort */
}

static void test_puller_no_media_times_out(void **state)
{
    (void)state;
    harness h;
    h_init(&h);
    h.timeout_us = 600000;
    fake_cam cam = {.sdp = SDP_HEAD SDP_H264, .media = false};
    fake_start(&cam, &h.loop);
    assert_int_equal(h_start(&h, cam.url, CV_PULLER_TRANSPORT_AUTO, 50000, 100000), 0);
    error_watch w = {&h, "no media"};
    assert_true(run_until(&h.loop, error_has, &w, CASE_MS));
    assert_true(run_until(&h.loop, fake_reconnected, &cam, CASE_MS)); /* it came back */
    assert_true(cam.teardowns >= 1);                                    /* and said goodbye first */
    h_finish_with(&h, &cam);
}

static void test_puller_disconnects_on_garbage(void **state)
{
    (void)state;
    harness h;
    h_init(&h);
    fake_cam cam = {.sdp = SDP_HEAD SDP_H264, .media = true, .garbage_after_play = true};
    fake_start(&cam, &h.loop);
    assert_int_equal(h_start(&h, cam.url, CV_PULLER_TRANSPORT_TCP, 50000, 100000), 0);
    error_watch w = {&h, "unparseable"};
    assert_true(run_until(&h.loop, error_has, &w, CASE_MS));
    cv_puller_stats st;
    cv_puller_get_stats(h.puller, &st);
    assert_false(st.connected);
    h_finish_with(&h, &cam);
}

static void test_puller_no_supported_track(void **state)
{
    (void)state;
    harness h;
    h_init(&h);
    fake_cam cam = {.sdp = SDP_HEAD "m=audio 0 RTP/AVP 96\r\na=rtpmap:96 L16/44100/2\r\na=control:a\r\n"};
    fake_start(&cam, &h.loop);
    assert_int_equal(h_start(&h, cam.url, CV_PULLER_TRANSPORT_TCP, 50000, 100000), 0);
    error_watch w = {&h, "no supported track"};
    assert_true(run_until(&h.loop, error_has, &w, CASE_MS));
    assert_int_equal(cam.setups, 0);
    h_finish_with(&h, &cam);
}

/* Another source already publishes this camera: the puller must not take
 * over, publish anything, or disturb it; it backs off and retries. */
static void test_puller_backs_off_when_stream_busy(void **state)
{
    (void)state;
    harness h;
    h_init(&h);
    fake_cam cam = {.sdp = SDP_HEAD SDP_H264, .media = true};
    fake_start(&cam, &h.loop);
    static const int other_source = 0;
    cv_track_info t;
    memset(&t, 0, sizeof(t));
    t.kind = CV_MEDIA_VIDEO;
    t.codec = CV_CODEC_H264;
    t.clock_rate = 90000;
    t.packetization_mode = 1;
    assert_int_equal(cv_stream_attach(h.stream, &other_source, &t, 1), 0);
    assert_int_equal(h_start(&h, cam.url, CV_PULLER_TRANSPORT_TCP, 50000, 100000), 0);
    attempts_watch aw = {.h = &h, .want = 3};
    assert_true(run_until(&h.loop, attempts_reached, &aw, CASE_MS));
    cv_puller_stats st;
    cv_puller_get_stats(h.puller, &st);
    assert_non_null(strstr(st.last_error, "busy"));
    assert_int_equal(st.frames, 0);
    cv_stream_stats ss;
    cv_stream_get_stats(h.stream, &ss);
    assert_int_equal(ss.frames_in, 0);
    assert_true(cv_stream_online(h.stream)); /* still the other source's */
    cv_stream_detach(h.stream, &other_source);
    h_finish_with(&h, &cam);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (cv_id_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_puller_rejects_bad_url),
        cmocka_unit_test(test_puller_stop_in_any_state),
        cmocka_unit_test(test_puller_tcp_h264_aac),
        cmocka_unit_test(test_puller_udp_h264),
        cmocka_unit_test(test_puller_auto_falls_back_to_udp),
        cmocka_unit_test(test_puller_basic_auth),
        cmocka_unit_test(test_puller_digest_auth),
        cmocka_unit_test(test_puller_wrong_password_backs_off),
        cmocka_unit_test(test_puller_reconnects_after_camera_restart),
        cmocka_unit_test(test_puller_keepalive_controls_and_stale_nonce),
        cmocka_unit_test(test_puller_no_media_times_out),
        cmocka_unit_test(test_puller_disconnects_on_garbage),
        cmocka_unit_test(test_puller_no_supported_track),
        cmocka_unit_test(test_puller_backs_off_when_stream_busy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
