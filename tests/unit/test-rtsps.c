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

#include "rtsp-fixture.h"
#include "tmpdir-fixture.h"

#include "tls/tls.h"

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

static ssize_t link_write(void *ctx, const void *p, size_t n)
{
    link_ *l = ctx;
    return l->ssl ? SSL_write(l->ssl, p, (int)n) : write(l->fd, p, n);
}

static ssize_t link_read(void *ctx, void *p, size_t n)
{
    link_ *l = ctx;
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

static void *viewer_main(void *arg)
{
    viewer *v = arg;
    link_ l;
    if (link_open(&l, v->port, true) == 0) {
        rtsp_fx_io io = {&l, link_read, link_write};
        rtsp_fx_play(v, &io, "rtsps://localhost");
    }
    atomic_store(&v->eof, 1);
    link_close(&l);
    return NULL;
}

static void test_rtsps_foreign_frame_never_written(void **state) { rtsp_fx_foreign_frame_case(*state, viewer_main); }

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
        rtsp_fx_io io = {&l, link_read, link_write};
        snprintf(req, sizeof(req),
                 "SETUP rtsps://localhost/cam/%s/trackID=0 RTSP/1.0\r\nCSeq: 1\r\n"
                 "Transport: RTP/AVP;unicast;client_port=40000-40001\r\n\r\n",
                 hex);
        p->udp_status = rtsp_request(&io, req, resp, sizeof(resp));
        snprintf(req, sizeof(req),
                 "SETUP rtsps://localhost/cam/%s/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n"
                 "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
                 hex);
        p->tcp_status = rtsp_request(&io, req, resp, sizeof(resp));
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
    cv_rtsp_server_config cfg = rtsp_fx_config(tls, &log);
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
