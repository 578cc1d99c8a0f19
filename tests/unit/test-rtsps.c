/* RTSPS against the real RTSP server (src/rtsp/server.c + server-conn.c):
 * the isolation invariant holds over TLS too (a frame of another camera
 * forced past the hub's door never reaches the viewer, checked on the
 * decrypted bytes, so the check ran before encryption); UDP transport over
 * RTSPS is 461; plain RTSP on the TLS port is refused and counted, and the
 * listener keeps serving.
 *
 * The server runs on this thread's libuv loop; viewers are blocking OpenSSL
 * clients on their own threads, verifying the self-signed certificate. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "stream-fixture.h"
#include "tmpdir-fixture.h"

#include "hub/stream_int.h"
#include "rtsp/server.h"
#include "tls/tls.h"

#define DEADLINE_US (30 * 1000000LL)

static char g_cert[160];

/* A client connection: TLS over a blocking socket (ssl NULL: plain bytes). */
typedef struct {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
} link_;

static int link_open(link_ *l, int port, bool tls)
{
    memset(l, 0, sizeof(*l));
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (l->fd < 0 || connect(l->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    if (!tls)
        return 0;
    l->ctx = SSL_CTX_new(TLS_client_method());
    if (!l->ctx || SSL_CTX_load_verify_locations(l->ctx, g_cert, NULL) != 1)
        return -1;
    SSL_CTX_set_verify(l->ctx, SSL_VERIFY_PEER, NULL);
    l->ssl = SSL_new(l->ctx);
    if (!l->ssl || SSL_set_tlsext_host_name(l->ssl, "localhost") != 1 || SSL_set1_host(l->ssl, "localhost") != 1 ||
        SSL_set_fd(l->ssl, l->fd) != 1 || SSL_connect(l->ssl) != 1)
        return -1;
    return 0;
}

static ssize_t link_write(link_ *l, const void *p, size_t n)
{
    return l->ssl ? SSL_write(l->ssl, p, (int)n) : write(l->fd, p, n);
}

static ssize_t link_read(link_ *l, void *p, size_t n)
{
    return l->ssl ? SSL_read(l->ssl, p, (int)n) : read(l->fd, p, n);
}

static void link_close(link_ *l)
{
    SSL_free(l->ssl);
    SSL_CTX_free(l->ctx);
    if (l->fd >= 0)
        close(l->fd);
    ERR_clear_error();
}

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

static bool contains(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    return false;
}

static int rtsp_request(link_ *fd, const char *req, char *resp, size_t cap)
{
    if (link_write(fd, req, strlen(req)) != (ssize_t)strlen(req))
        return -1;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = link_read(fd, resp + n, cap - 1 - n);
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

static void *viewer_main(void *arg)
{
    viewer *v = arg;
    link_ link, *fd = &link;
    if (link_open(fd, v->port, true) != 0)
        goto out;
    char hex[CV_ID_HEX_LEN + 1], req[512], resp[8192];
    cv_id_to_hex(&v->camera, hex);
    snprintf(req, sizeof(req), "DESCRIBE rtsps://localhost:%d/cam/%s RTSP/1.0\r\nCSeq: 1\r\n\r\n", v->port, hex);
    if (rtsp_request(fd, req, resp, sizeof(resp)) != 200)
        goto out;
    snprintf(req, sizeof(req),
             "SETUP rtsps://localhost:%d/cam/%s/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n"
             "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
             v->port, hex);
    if (rtsp_request(fd, req, resp, sizeof(resp)) != 200)
        goto out;
    char *sess = strstr(resp, "Session: ");
    char sid[32] = "";
    if (sess)
        sscanf(sess + 9, "%31[0-9A-Fa-f]", sid);
    snprintf(req, sizeof(req), "PLAY rtsps://localhost:%d/cam/%s RTSP/1.0\r\nCSeq: 3\r\nSession: %s\r\n\r\n",
             v->port, hex, sid);
    if (rtsp_request(fd, req, resp, sizeof(resp)) != 200)
        goto out;
    atomic_store(&v->playing, 1);
    for (;;) {
        if (v->len + 4096 > v->cap) {
            v->cap = v->cap ? 2 * v->cap : 65536;
            v->got = realloc(v->got, v->cap);
        }
        ssize_t r = link_read(fd, v->got + v->len, v->cap - v->len);
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
out:
    atomic_store(&v->eof, 1);
    link_close(fd);
    return NULL;
}

/* ------------------------------------------------ the server's callbacks */

static int allow_all(void *ctx, const cv_rtsp_auth_req *req, cv_rtsp_access *out, cv_sbuf *challenge)
{
    (void)ctx;
    (void)challenge;
    out->kind = 1;
    out->principal = *req->camera;
    snprintf(out->who, sizeof(out->who), "test-viewer");
    return 200;
}

static bool still(void *ctx, const cv_id *camera, bool publish, const cv_rtsp_access *a)
{
    (void)ctx;
    (void)camera;
    (void)publish;
    (void)a;
    return true;
}

static void on_event(void *ctx, const cv_rtsp_event *ev)
{
    event_log *log = ctx;
    log->events[ev->kind]++;
    log->last_kind = (int)ev->kind;
}

/* A keyframe whose single NAL unit carries a marker string, so the bytes
 * reach the socket contiguously (one RTP packet). */
static cv_frame *marked_frame(const cv_id *cam, const char *mark, int64_t pts)
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

static void stop_loop(driver *d)
{
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, NULL);
    cv_rtsp_server_get_stats(d->srv, &d->stats);
    cv_rtsp_server_stop(d->srv, NULL, NULL);
}

static void drive(uv_timer_t *t)
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

static void test_rtsps_foreign_frame_never_written(void **state)
{
    cv_tls_ctx *tls = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cv_registry *reg = reg_new(NULL);
    event_log log;
    memset(&log, 0, sizeof(log));
    cv_rtsp_server_config cfg = {.port = 0,
                                 .tls = tls,
                                 .tls_port = 0,
                                 .authorize = allow_all,
                                 .still_allowed = still,
                                 .on_event = on_event,
                                 .ctx = &log};
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

    viewer va = {.port = cv_rtsp_server_tls_port(d.srv), .camera = ida, .own_mark = MARK_A};
    viewer vb = {.port = cv_rtsp_server_tls_port(d.srv), .camera = idb, .own_mark = MARK_B};
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

/* ------------------------------------------- transport and junk input */

typedef struct {
    int port;
    cv_id camera;
    atomic_int done;
    int udp_status, tcp_status;
    bool plain_refused, garbage_refused;
} prober;

/* Sends bytes, reads until the server closes; true when it never answered RTSP. */
static bool refused(int port, const void *junk, size_t n)
{
    link_ l;
    if (link_open(&l, port, false) != 0 || write(l.fd, junk, n) != (ssize_t)n) {
        link_close(&l);
        return false;
    }
    char buf[4096];
    size_t got = 0;
    ssize_t r;
    while ((r = read(l.fd, buf + got, sizeof(buf) - got)) > 0 && got + (size_t)r < sizeof(buf))
        got += (size_t)r;
    link_close(&l);
    return !(got >= 5 && memcmp(buf, "RTSP/", 5) == 0);
}

static void *prober_main(void *arg)
{
    prober *p = arg;
    static const char plain[] = "OPTIONS rtsp://127.0.0.1/ RTSP/1.0\r\nCSeq: 1\r\n\r\n";
    p->plain_refused = refused(p->port, plain, sizeof(plain) - 1);
    uint8_t junk[600];
    junk[0] = 0x16, junk[1] = 0x03, junk[2] = 0x01, junk[3] = 0x02, junk[4] = 0x00;
    for (size_t i = 5; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 37);
    p->garbage_refused = refused(p->port, junk, sizeof(junk));
    link_ l;
    char hex[CV_ID_HEX_LEN + 1], req[512], resp[8192];
    cv_id_to_hex(&p->camera, hex);
    if (link_open(&l, p->port, true) == 0) {
        snprintf(req, sizeof(req),
                 "SETUP rtsps://localhost/cam/%s/trackID=0 RTSP/1.0\r\nCSeq: 1\r\n"
                 "Transport: RTP/AVP;unicast;client_port=40000-40001\r\n\r\n",
                 hex);
        p->udp_status = rtsp_request(&l, req, resp, sizeof(resp));
        snprintf(req, sizeof(req),
                 "SETUP rtsps://localhost/cam/%s/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n"
                 "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
                 hex);
        p->tcp_status = rtsp_request(&l, req, resp, sizeof(resp));
    }
    link_close(&l);
    atomic_store(&p->done, 1);
    return NULL;
}

typedef struct {
    cv_rtsp_server *srv;
    prober *p;
    uv_timer_t timer;
    cv_rtsp_server_stats stats;
    int64_t deadline;
} waiter;

static void wait_prober(uv_timer_t *t)
{
    waiter *w = t->data;
    if (!atomic_load(&w->p->done) && cv_now_us() < w->deadline)
        return;
    uv_close((uv_handle_t *)&w->timer, NULL);
    cv_rtsp_server_get_stats(w->srv, &w->stats);
    cv_rtsp_server_stop(w->srv, NULL, NULL);
}

static void test_rtsps_refuses_udp_and_plain_bytes(void **state)
{
    cv_tls_ctx *tls = *state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cv_registry *reg = reg_new(NULL);
    event_log log;
    memset(&log, 0, sizeof(log));
    cv_rtsp_server_config cfg = {.port = 0,
                                 .tls = tls,
                                 .tls_port = 0,
                                 .authorize = allow_all,
                                 .still_allowed = still,
                                 .on_event = on_event,
                                 .ctx = &log};
    waiter w;
    memset(&w, 0, sizeof(w));
    assert_int_equal(cv_rtsp_server_start(&w.srv, &loop, reg, &cfg), 0);
    assert_true(cv_rtsp_server_tls_port(w.srv) > 0);
    assert_int_not_equal(cv_rtsp_server_tls_port(w.srv), cv_rtsp_server_port(w.srv));
    cv_id id;
    cv_id_random(&id);
    cv_stream *st = cv_registry_get(reg, &id);
    cv_track_info t = track_h264();
    assert_int_equal(cv_stream_attach(st, &w, &t, 1), 0);
    prober p = {.port = cv_rtsp_server_tls_port(w.srv), .camera = id};
    w.p = &p;
    pthread_t th;
    pthread_create(&th, NULL, prober_main, &p);
    w.deadline = cv_now_us() + DEADLINE_US;
    uv_timer_init(&loop, &w.timer);
    w.timer.data = &w;
    uv_timer_start(&w.timer, wait_prober, 5, 5);
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);

    assert_true(p.done);
    assert_true(p.plain_refused);
    assert_true(p.garbage_refused);
    assert_int_equal(p.udp_status, 461);
    assert_int_equal(p.tcp_status, 200); /* the same connection goes on */
    assert_int_equal(w.stats.tls_failures, 2);

    cv_stream_unref(st);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    reg_free(reg);
}

static tmpdir g_dir;

static int setup(void **state)
{
    char key[160], err[200];
    if (tmpdir_make(&g_dir, "rtsps", "cert.pem") != 0)
        return -1;
    snprintf(g_cert, sizeof(g_cert), "%s", g_dir.path);
    snprintf(key, sizeof(key), "%s/key.pem", g_dir.dir);
    const char *names[] = {"localhost"};
    cv_tls_ctx *tls;
    /* The same ALPN list as HTTPS: RTSPS connections must ignore it. */
    static const char *const alpn[] = {"http/1.1"};
    if (cv_tls_make_selfsigned(g_cert, key, names, 1, 2, err, sizeof(err)) != 0 ||
        cv_tls_ctx_new(&tls, g_cert, key, alpn, 1, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = tls;
    return 0;
}

static int teardown(void **state)
{
    cv_tls_ctx_free(*state);
    tmpdir_remove(&g_dir);
    return 0;
}

int main(void)
{
    cv_id_init();
    cv_log_set_level(CV_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtsps_foreign_frame_never_written),
        cmocka_unit_test(test_rtsps_refuses_udp_and_plain_bytes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
