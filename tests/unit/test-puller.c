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

static void count_handle(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h) || h->type != UV_TIMER)
        (*(int *)arg)++;
}

static bool loop_idle(void *ctx)
{
    uv_loop_t *loop = ctx;
    int n = 0;
    uv_walk(loop, count_handle, &n);
    /* the checker timer itself */
    return n <= 1 && loop->active_reqs.count == 0;
}

/* --- one case's fixture --- */

typedef struct {
    uv_loop_t loop;
    cv_id cam;
    cv_stream *stream;
    cv_puller *puller;
    cv_sub *sub;
    viewer v;
} harness;

static void h_init(harness *h)
{
    memset(h, 0, sizeof(*h));
    assert_int_equal(uv_loop_init(&h->loop), 0);
    cv_id_random(&h->cam);
    h->stream = cv_stream_new(&h->cam, NULL);
    assert_non_null(h->stream);
    h->v.camera = h->cam;
}

static int h_start(harness *h, const char *url, cv_puller_transport tr, int64_t backoff_min_us,
                   int64_t backoff_max_us)
{
    cv_puller_config cfg = {
        .url = url,
        .transport = tr,
        .backoff_min_us = backoff_min_us,
        .backoff_max_us = backoff_max_us,
        .timeout_us = 5000000,
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

static void h_finish(harness *h)
{
    if (h->puller)
        cv_puller_stop(h->puller);
    h->puller = NULL;
    assert_true(run_until(&h->loop, loop_idle, &h->loop, 5000));
    assert_false(cv_stream_online(h->stream));
    if (h->sub)
        cv_sub_free(h->sub);
    cv_stream_unref(h->stream);
    assert_int_equal(uv_loop_close(&h->loop), 0);
    assert_int_equal(cv_frame_live_count(), 0);
}

#define NEED_CAMERA()                               \
    do {                                            \
        if (!camera_available()) {                  \
            fprintf(stderr, "rtsp-camera fixture not built\n"); \
            skip();                                 \
        }                                           \
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
    assert_int_equal(cv_stream_tracks(h.stream, (cv_track_info[CV_MAX_TRACKS]){0}, CV_MAX_TRACKS), 2);
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
    cv_puller_stats st;
    cv_puller_get_stats(h.puller, &st);
    assert_int_equal(st.attempts, 1);
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
    assert_int_equal(st.attempts, 2); /* TCP refused, then UDP at once */
    assert_int_equal(st.sessions, 1);
    h_finish(&h);
    camera_kill(&c, SIGTERM);
}

static void test_puller_basic_auth(void **state)
{
    (void)state;
    NEED_CAMERA();
    camera c;
    assert_true(camera_start(&c, 0, "--auth", "basic", "--user", "admin", "--pass", "s3cr:t@x", NULL));
    char url[256];
    url_with_creds(&c, "admin", "s3cr%3At%40x", url, sizeof(url));
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
    url_with_creds(&c, "viewer", "wrong", url, sizeof(url));
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
    assert_null(strstr(st.last_error, "wrong")); /* never the password */
    /* Gaps grow: about 100, 200, 400, 800 ms (+-20%, plus the exchange). */
    int64_t g1 = w.at[2] - w.at[1], g3 = w.at[4] - w.at[3];
    fprintf(stderr, "wrong password: retry gaps %lld, %lld, %lld ms\n", (long long)(g1 / 1000),
            (long long)((w.at[3] - w.at[2]) / 1000), (long long)(g3 / 1000));
    assert_true(g1 >= 150000);
    assert_true(g3 > g1 * 2);
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

    char port_s[16];
    snprintf(port_s, sizeof(port_s), "%d", port);
    (void)port_s;
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
        "http://127.0.0.1/stream", "rtsp://", "rtsp://host:99999/x", "rtsp://h%zz/x", "not a url", "",
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
