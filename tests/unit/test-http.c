/* Tests for the HTTP/1.1 server (src/http/server.c) and its request
 * assembler (src/http/parse.c). The server runs on the test thread's loop
 * on an ephemeral 127.0.0.1 port; each case's client runs in a pthread with
 * blocking sockets (5 s receive timeout) and records what it saw; the loop
 * ends once the client is done and the handler's timers are gone, and every
 * case closes its loop with no handle left. The HTTPS cases use a
 * self-signed certificate in a scratch directory and an OpenSSL client on
 * the same blocking sockets. */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "base/log.h"
#include "base/util.h"
#include "http/parse.h"
#include "http/server.h"
#include "tls/tls.h"
#include "http-fixture.h"
#include "tmpdir-fixture.h"

#define CASE_MS 15000
#define RD_CAP (1 << 18)

/* ------------------------------------------------------------- fixture */

typedef struct fixture fixture;

struct fixture {
    uv_loop_t loop;
    cv_http_server *srv;
    cv_http_server_config cfg;
    int port;
    pthread_t th;
    void (*client)(fixture *fx);
    atomic_bool client_done;
    atomic_bool nobufs;      /* the filling stream saw -ENOBUFS */
    atomic_bool stop_now;    /* the client asks for the server to stop */
    atomic_int seen;         /* requests the handler has seen */
    uv_timer_t poll;
    int64_t deadline_us;
    int outstanding;         /* handler timers still open */
    int client_fail_line;    /* first failed client check */
    char client_fail_what[160];
    cv_http_server_stats stats;
    /* what the handler saw */
    int requests, inflight, max_inflight;
    char method[16], path[256], query[256], xtest[256], body[256];
    char cookie_sid[64], cookie_b[64], cookie_missing[8];
    bool cookie_missing_null;
    int qp_b, qp_bad, qp_nul, qp_flag, qp_missing, qp_small;
    char qp_b_val[64];
    int alive_at_respond;
    int gone_calls;
    int write_after_gone;
    int secure; /* requests that said they came over TLS */
    char cert[160];     /* HTTPS cases: the certificate clients trust */
};

static fixture *fx_new(void)
{
    fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    fx->alive_at_respond = -1;
    fx->write_after_gone = 1;
    fx->cfg.idle_timeout_s = 5;
    return fx;
}

/* ------------------------------------------------------ handler side */

enum { JOB_SLOW, JOB_ASYNC, JOB_PENDING_GONE, JOB_STREAM, JOB_FOREVER, JOB_FILL };

typedef struct {
    uv_timer_t t;
    fixture *fx;
    cv_http_req *r;
    int kind;
    int n;
    int arg;
} job;

static void job_closed(uv_handle_t *h)
{
    job *j = h->data;
    j->fx->outstanding--;
    free(j);
}

static void job_end(job *j)
{
    uv_timer_stop(&j->t);
    uv_close((uv_handle_t *)&j->t, job_closed);
}

static void copy_str(char *out, size_t cap, cv_str s) { snprintf(out, cap, "%.*s", (int)s.len, s.p ? s.p : ""); }

static void on_stream_gone(void *ctx, cv_http_req *r)
{
    job *j = ctx;
    j->fx->gone_calls++;
    /* Still streaming: a write now fails, and ending frees the request. */
    j->fx->write_after_gone = cv_http_stream_write(r, "x", 1, 1 << 20);
    cv_http_stream_end(r);
    j->r = NULL;
    job_end(j);
}

static void on_pending_gone(void *ctx, cv_http_req *r)
{
    job *j = ctx;
    (void)r;
    j->fx->gone_calls++;
    j->r = NULL; /* freed once this returns */
    job_end(j);
}

static void stream_tick(job *j)
{
    char buf[32];
    if (j->kind == JOB_STREAM) {
        if (j->n == 3) {
            cv_http_stream_end(j->r);
            job_end(j);
            return;
        }
        int n = snprintf(buf, sizeof(buf), "chunk%d;", j->n++);
        assert_int_equal(cv_http_stream_write(j->r, buf, (size_t)n, 1 << 20), 0);
        return;
    }
    if (j->kind == JOB_FOREVER) {
        (void)cv_http_stream_write(j->r, "tick\n", 5, 1 << 20);
        return;
    }
    static char big[64 * 1024];
    int rc = cv_http_stream_write(j->r, big, sizeof(big), 256 * 1024);
    if (rc == -ENOBUFS) {
        atomic_store(&j->fx->nobufs, true);
        cv_http_stream_end(j->r);
        job_end(j);
    }
}

static void on_job(uv_timer_t *t)
{
    job *j = t->data;
    fixture *fx = j->fx;
    char body[64];
    if (j->kind == JOB_SLOW) {
        int n = snprintf(body, sizeof(body), "slow %d", j->arg);
        fx->inflight--;
        cv_http_respond(j->r, 200, "text/plain", body, (size_t)n, NULL);
        job_end(j);
    } else if (j->kind == JOB_ASYNC) {
        fx->alive_at_respond = cv_http_req_alive(j->r);
        cv_http_respond(j->r, 200, "text/plain", "late", 4, NULL);
        job_end(j);
    } else if (j->kind == JOB_PENDING_GONE) {
        cv_http_respond(j->r, 200, "text/plain", "never", 5, NULL); /* the client did not leave */
        job_end(j);
    } else {
        stream_tick(j);
    }
}

static job *job_start(fixture *fx, cv_http_req *r, int kind, int ms, bool repeat)
{
    job *j = calloc(1, sizeof(*j));
    assert_non_null(j);
    j->fx = fx;
    j->r = r;
    j->kind = kind;
    j->arg = ms;
    uv_timer_init(&fx->loop, &j->t);
    j->t.data = j;
    fx->outstanding++;
    uv_timer_start(&j->t, on_job, (uint64_t)ms, repeat ? (uint64_t)ms : 0);
    return j;
}

static void record_accessors(fixture *fx, cv_http_req *r)
{
    copy_str(fx->cookie_sid, sizeof(fx->cookie_sid), cv_http_req_cookie(r, "sid"));
    copy_str(fx->cookie_b, sizeof(fx->cookie_b), cv_http_req_cookie(r, "b"));
    fx->cookie_missing_null = cv_http_req_cookie(r, "nope").p == NULL;
    char tmp[64];
    fx->qp_b = cv_http_req_query_param(r, "b", fx->qp_b_val, sizeof(fx->qp_b_val));
    fx->qp_bad = cv_http_req_query_param(r, "bad", tmp, sizeof(tmp));
    fx->qp_nul = cv_http_req_query_param(r, "nul", tmp, sizeof(tmp));
    fx->qp_flag = cv_http_req_query_param(r, "flag", tmp, sizeof(tmp));
    fx->qp_missing = cv_http_req_query_param(r, "missing", tmp, sizeof(tmp));
    fx->qp_small = cv_http_req_query_param(r, "b", tmp, 3);
}

static void record(fixture *fx, cv_http_req *r)
{
    snprintf(fx->method, sizeof(fx->method), "%s", cv_http_req_method(r));
    copy_str(fx->path, sizeof(fx->path), cv_http_req_path(r));
    copy_str(fx->query, sizeof(fx->query), cv_http_req_query(r));
    copy_str(fx->xtest, sizeof(fx->xtest), cv_http_req_header(r, "x-TEST"));
    copy_str(fx->body, sizeof(fx->body), cv_http_req_body(r));
}

static bool path_is(cv_http_req *r, const char *p) { return cv_str_eq(cv_http_req_path(r), cv_str_from(p)); }

static bool path_starts(cv_http_req *r, const char *p, int *num)
{
    cv_str s = cv_http_req_path(r);
    size_t n = strlen(p);
    if (s.len < n || memcmp(s.p, p, n) != 0)
        return false;
    *num = atoi(s.p + n);
    return true;
}

static void handle_stream(fixture *fx, cv_http_req *r, int kind)
{
    cv_http_stream_start(r, 200, "text/plain", "X-Stream: yes\r\n");
    job *j = job_start(fx, r, kind, kind == JOB_FILL ? 2 : 10, true);
    if (kind == JOB_FOREVER)
        cv_http_req_on_gone(r, on_stream_gone, j);
}

static void handle(void *ctx, cv_http_req *r)
{
    fixture *fx = ctx;
    int n = 0;
    fx->requests++;
    fx->secure += cv_http_req_secure(r);
    atomic_fetch_add(&fx->seen, 1);
    assert_true(cv_http_req_alive(r));
    assert_true(cv_http_req_peer_loopback(r));
    assert_string_equal(cv_http_req_peer(r), "127.0.0.1");
    if (path_starts(r, "/slow/", &n)) {
        fx->inflight++;
        fx->max_inflight = CV_MAX(fx->max_inflight, fx->inflight);
        job_start(fx, r, JOB_SLOW, n, false);
    } else if (path_starts(r, "/async/", &n)) {
        job_start(fx, r, JOB_ASYNC, n, false);
    } else if (path_is(r, "/pending-gone")) {
        job *j = job_start(fx, r, JOB_PENDING_GONE, 3000, false);
        cv_http_req_set_data(r, j);
        assert_ptr_equal(cv_http_req_data(r), j);
        cv_http_req_on_gone(r, on_pending_gone, j);
    } else if (path_is(r, "/stream")) {
        handle_stream(fx, r, JOB_STREAM);
    } else if (path_is(r, "/stream-forever")) {
        handle_stream(fx, r, JOB_FOREVER);
    } else if (path_is(r, "/stream-fill")) {
        handle_stream(fx, r, JOB_FILL);
    } else if (path_is(r, "/echo")) {
        cv_str b = cv_http_req_body(r);
        cv_http_respond(r, 200, "application/octet-stream", b.p, b.len, NULL);
    } else if (path_is(r, "/accessors")) {
        record_accessors(fx, r);
        cv_http_respond(r, 204, NULL, NULL, 0, NULL);
    } else if (path_is(r, "/cache")) {
        cv_http_respond(r, 200, "text/plain", "c", 1, "Cache-Control: max-age=5\r\n");
    } else {
        record(fx, r);
        cv_http_respond(r, 200, "text/plain", "hello", 5, "X-Extra: 1\r\n");
    }
}

/* --------------------------------------------------------- loop driver */

static void on_poll(uv_timer_t *t)
{
    fixture *fx = t->data;
    bool done = (atomic_load(&fx->client_done) && fx->outstanding == 0) || atomic_load(&fx->stop_now);
    if (!done && cv_now_us() < fx->deadline_us)
        return;
    cv_http_server_get_stats(fx->srv, &fx->stats);
    cv_http_server_stop(fx->srv, NULL, NULL);
    fx->srv = NULL;
    uv_close((uv_handle_t *)&fx->poll, NULL);
}

static void *client_main(void *arg)
{
    fixture *fx = arg;
    fx->client(fx);
    atomic_store(&fx->client_done, true);
    return NULL;
}

static void run(fixture *fx, void (*client)(fixture *fx))
{
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    fx->cfg.port = 0;
    fx->cfg.handle = handle;
    fx->cfg.ctx = fx;
    assert_int_equal(cv_http_server_start(&fx->srv, &fx->loop, &fx->cfg), 0);
    fx->port = cv_http_server_port(fx->srv);
    assert_true(fx->port > 0);
    fx->client = client;
    fx->deadline_us = cv_now_us() + (int64_t)CASE_MS * 1000;
    uv_timer_init(&fx->loop, &fx->poll);
    fx->poll.data = fx;
    uv_timer_start(&fx->poll, on_poll, 5, 5);
    assert_int_equal(pthread_create(&fx->th, NULL, client_main, fx), 0);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    pthread_join(fx->th, NULL);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    if (fx->client_fail_line)
        fail_msg("client check failed at line %d: %s", fx->client_fail_line, fx->client_fail_what);
    assert_true(cv_now_us() < fx->deadline_us);
}

/* ------------------------------------------------------- client side */

typedef struct {
    int fd;
    SSL_CTX *ctx; /* HTTPS: the client's TLS session, else NULL */
    SSL *ssl;
    bool clean_end; /* HTTPS: the last read ended with the server's close_notify */
    size_t len;
    char buf[RD_CAP];
} rd;

typedef struct {
    int status;
    char head[8192];
    char body[RD_CAP];
    size_t body_len;
} resp;

#define CHECK(fx, cond)                                                                  \
    do {                                                                                 \
        if (!(cond) && !(fx)->client_fail_line) {                                        \
            (fx)->client_fail_line = __LINE__;                                           \
            snprintf((fx)->client_fail_what, sizeof((fx)->client_fail_what), "%.150s", #cond); \
        }                                                                                \
    } while (0)

static rd *cl_connect(fixture *fx)
{
    rd *r = calloc(1, sizeof(*r));
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {5, 0};
    setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        CHECK(fx, !"connect");
    return r;
}

/* A TLS client over a new connection, trusting ca for "localhost" and
 * offering ALPN http/1.1. NULL when the handshake fails. */
static rd *cl_connect_tls(fixture *fx, const char *ca)
{
    rd *r = cl_connect(fx);
    r->ctx = SSL_CTX_new(TLS_client_method());
    if (!r->ctx || SSL_CTX_load_verify_locations(r->ctx, ca, NULL) != 1)
        CHECK(fx, !"client TLS context");
    SSL_CTX_set_verify(r->ctx, SSL_VERIFY_PEER, NULL);
    r->ssl = SSL_new(r->ctx);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_set_alpn_protos(r->ssl, alpn, sizeof(alpn) - 1);
    SSL_set1_host(r->ssl, "localhost");
    SSL_set_tlsext_host_name(r->ssl, "localhost");
    SSL_set_fd(r->ssl, r->fd);
    if (SSL_connect(r->ssl) != 1) {
        ERR_clear_error();
        return r; /* the caller checks cl_tls_up */
    }
    return r;
}

static bool cl_tls_up(rd *r)
{
    const unsigned char *p;
    unsigned int n;
    SSL_get0_alpn_selected(r->ssl, &p, &n);
    return SSL_is_init_finished(r->ssl) && SSL_get_verify_result(r->ssl) == X509_V_OK && n == 8 &&
           memcmp(p, "http/1.1", 8) == 0;
}

static void cl_close(rd *r)
{
    SSL_free(r->ssl);
    SSL_CTX_free(r->ctx);
    close(r->fd);
    free(r);
}

static bool cl_send_n(rd *r, const char *s, size_t n)
{
    if (r->ssl)
        return n == 0 || SSL_write(r->ssl, s, (int)n) == (int)n;
    while (n) {
        ssize_t k = send(r->fd, s, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        s += k;
        n -= (size_t)k;
    }
    return true;
}

static bool cl_send(rd *r, const char *s) { return cl_send_n(r, s, strlen(s)); }

static ssize_t cl_fill(rd *r)
{
    if (r->len == RD_CAP)
        return -1;
    if (r->ssl) {
        int k = SSL_read(r->ssl, r->buf + r->len, (int)(RD_CAP - r->len));
        if (k > 0)
            r->len += (size_t)k;
        else
            r->clean_end = SSL_get_error(r->ssl, k) == SSL_ERROR_ZERO_RETURN;
        ERR_clear_error();
        return k;
    }
    ssize_t n = recv(r->fd, r->buf + r->len, RD_CAP - r->len, 0);
    if (n > 0)
        r->len += (size_t)n;
    return n;
}

static bool resp_header(const resp *p, const char *name, char *out, size_t cap)
{
    return http_fx_header(p->head, name, out, cap);
}

/* Reads one response: by Content-Length, none for HEAD/204, else to EOF. */
static bool cl_response(rd *r, resp *p, bool head_only)
{
    char *end;
    while (!(end = memmem(r->buf, r->len, "\r\n\r\n", 4)))
        if (cl_fill(r) <= 0)
            return false;
    size_t hlen = (size_t)(end - r->buf) + 4;
    if (hlen >= sizeof(p->head))
        return false;
    memcpy(p->head, r->buf, hlen);
    p->head[hlen] = '\0';
    if (sscanf(p->head, "HTTP/1.1 %d", &p->status) != 1)
        return false;
    char v[32];
    long cl = resp_header(p, "Content-Length", v, sizeof(v)) ? atol(v) : -1;
    if (head_only || p->status == 204 || p->status == 100)
        cl = 0;
    if (cl >= 0) {
        while (r->len < hlen + (size_t)cl)
            if (cl_fill(r) <= 0)
                return false;
    } else {
        while (cl_fill(r) > 0) {
        }
        cl = (long)(r->len - hlen);
    }
    memcpy(p->body, r->buf + hlen, (size_t)cl);
    p->body[cl] = '\0';
    p->body_len = (size_t)cl;
    memmove(r->buf, r->buf + hlen + cl, r->len - hlen - (size_t)cl);
    r->len -= hlen + (size_t)cl;
    return true;
}

/* Whether the server closes within ms (EOF or reset), with nothing unread. */
static bool cl_closed_within(rd *r, int ms)
{
    int64_t end = cv_now_us() + (int64_t)ms * 1000;
    while (cv_now_us() < end) {
        struct pollfd pfd = {r->fd, POLLIN, 0};
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        char b[256];
        ssize_t n = recv(r->fd, b, sizeof(b), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n > 0)
            return false;
    }
    return false;
}

/* Whether the server closes within ms, whatever it sends before. */
static bool cl_eof_within(rd *r, int ms)
{
    int64_t end = cv_now_us() + (int64_t)ms * 1000;
    while (cv_now_us() < end) {
        struct pollfd pfd = {r->fd, POLLIN, 0};
        if (poll(&pfd, 1, 20) <= 0)
            continue;
        char b[4096];
        ssize_t n = recv(r->fd, b, sizeof(b), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
    }
    return false;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static bool has(const resp *p, const char *name, const char *want)
{
    char v[256];
    return resp_header(p, name, v, sizeof(v)) && (!want || strcmp(v, want) == 0);
}

/* ------------------------------------------------------------- cases */

static void cl_get(fixture *fx)
{
    rd *c = cl_connect(fx);
    resp *p = malloc(sizeof(*p));
    CHECK(fx, cl_send(c, "GET /hello?a=1&b=x+y%21 HTTP/1.1\r\nHost: t\r\nX-Test:  foo bar \r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200);
    CHECK(fx, strcmp(p->body, "hello") == 0);
    CHECK(fx, has(p, "Content-Length", "5"));
    CHECK(fx, has(p, "Content-Type", "text/plain"));
    CHECK(fx, has(p, "Cache-Control", "no-store"));
    CHECK(fx, has(p, "X-Content-Type-Options", "nosniff"));
    CHECK(fx, has(p, "Server", "camvault/0.1"));
    CHECK(fx, has(p, "Date", NULL) && strstr(p->head, " GMT\r\n"));
    CHECK(fx, has(p, "X-Extra", "1"));
    CHECK(fx, !has(p, "Connection", NULL));
    CHECK(fx, cl_send(c, "GET /cache HTTP/1.1\r\nHost: t\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, has(p, "Cache-Control", "max-age=5") && !strstr(p->head, "no-store"));
    free(p);
    cl_close(c);
}

static void test_http_get_with_query_and_headers(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    run(fx, cl_get);
    assert_string_equal(fx->method, "GET");
    assert_string_equal(fx->path, "/hello");
    assert_string_equal(fx->query, "a=1&b=x+y%21");
    assert_string_equal(fx->xtest, "foo bar");
    assert_string_equal(fx->body, "");
    assert_int_equal(fx->stats.requests, 2);
    assert_int_equal(fx->secure, 0);
    assert_int_equal(fx->stats.tls_failures, 0);
    assert_true(fx->stats.bytes_out > 2 * 150);
    free(fx);
}

static void cl_post(fixture *fx)
{
    rd *c = cl_connect(fx);
    resp *p = malloc(sizeof(*p));
    CHECK(fx, cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200 && strcmp(p->body, "hello world") == 0);
    /* Chunked, sent in pieces, with an extension and a trailer. */
    CHECK(fx, cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhel"));
    sleep_ms(20);
    CHECK(fx, cl_send(c, "lo\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200 && strcmp(p->body, "hello world") == 0);
    /* Expect: 100-continue gets its interim answer before the body is sent. */
    CHECK(fx, cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 100);
    CHECK(fx, cl_send(c, "abc"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200 && strcmp(p->body, "abc") == 0);
    free(p);
    cl_close(c);
}

static void test_http_post_length_and_chunked(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    run(fx, cl_post);
    assert_int_equal(fx->stats.requests, 3);
    free(fx);
}

static void cl_keep_alive(fixture *fx)
{
    rd *c = cl_connect(fx);
    resp *p = malloc(sizeof(*p));
    for (int i = 0; i < 2; i++) {
        CHECK(fx, cl_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
        CHECK(fx, cl_response(c, p, false));
        CHECK(fx, p->status == 200 && strcmp(p->body, "hello") == 0);
    }
    /* HTTP/1.0 asking for keep-alive keeps it, and is told so. */
    CHECK(fx, cl_send(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, has(p, "Connection", "keep-alive"));
    CHECK(fx, cl_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200 && has(p, "Connection", "close"));
    CHECK(fx, cl_closed_within(c, 2000));
    cl_close(c);
    /* HTTP/1.0 without keep-alive: one answer, then the server closes. */
    c = cl_connect(fx);
    CHECK(fx, cl_send(c, "GET /hello HTTP/1.0\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200 && has(p, "Connection", "close"));
    CHECK(fx, cl_closed_within(c, 2000));
    cl_close(c);
    free(p);
}

static void test_http_keep_alive_and_close(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    run(fx, cl_keep_alive);
    assert_int_equal(fx->requests, 5);
    free(fx);
}

static void cl_pipelined(fixture *fx)
{
    rd *c = cl_connect(fx);
    resp *p = malloc(sizeof(*p));
    CHECK(fx, cl_send(c, "GET /slow/150 HTTP/1.1\r\nHost: t\r\n\r\n"
                         "GET /slow/5 HTTP/1.1\r\nHost: t\r\n\r\n"
                         "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                         "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                         "GET /slow/1 HTTP/1.1\r\nHost: t\r\n\r\n"));
    static const char *want[] = {"slow 150", "slow 5", "hello", "", "slow 1"};
    for (int i = 0; i < 5; i++) {
        CHECK(fx, cl_response(c, p, i == 3));
        CHECK(fx, p->status == 200 && strcmp(p->body, want[i]) == 0);
        if (i == 3)
            CHECK(fx, has(p, "Content-Length", "5")); /* HEAD: the length, not the body */
    }
    free(p);
    cl_close(c);
}

static void test_http_pipelined_async_in_order(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    run(fx, cl_pipelined);
    assert_int_equal(fx->max_inflight, 1); /* one request in flight per connection */
    assert_int_equal(fx->requests, 5);
    free(fx);
}

static void cl_head(fixture *fx)
{
    rd *c = cl_connect(fx);
    resp *p = malloc(sizeof(*p));
    CHECK(fx, cl_send(c, "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    CHECK(fx, cl_response(c, p, true));
    CHECK(fx, p->status == 200 && has(p, "Content-Length", "5"));
    /* Nothing after the head: the next answer starts right there. */
    CHECK(fx, cl_send(c, "GET /accessors HTTP/1.1\r\nHost: t\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 204 && !has(p, "Content-Length", NULL));
    CHECK(fx, c->len == 0);
    cl_close(c);
    /* A streamed answer to HEAD is its head alone. */
    c = cl_connect(fx);
    CHECK(fx, cl_send(c, "HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
    CHECK(fx, cl_response(c, p, true));
    CHECK(fx, p->status == 200 && has(p, "X-Stream", "yes"));
    CHECK(fx, cl_closed_within(c, 2000));
    cl_close(c);
    free(p);
}

static void test_http_head_has_no_body(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    run(fx, cl_head);
    free(fx);
}

/* Sends req and expects an error status with a JSON body, then a close. */
static void expect_error(fixture *fx, const char *req, size_t len, int status, const char *why)
{
    rd *c = cl_connect(fx);
    resp *p = malloc(sizeof(*p));
    char body[160];
    snprintf(body, sizeof(body), "{\"error\":\"%s\"}", why);
    CHECK(fx, cl_send_n(c, req, len));
    CHECK(fx, cl_response(c, p, false));
    if (p->status != status || strcmp(p->body, body) != 0) {
        CHECK(fx, p->status == status);
        snprintf(fx->client_fail_what, sizeof(fx->client_fail_what), "%d %.100s", p->status, p->body);
    }
    CHECK(fx, has(p, "Connection", "close") && has(p, "Content-Type", "application/json"));
    CHECK(fx, cl_closed_within(c, 3000));
    free(p);
    cl_close(c);
}

static void cl_too_large(fixture *fx)
{
    char *req = malloc(8192);
    int n = snprintf(req, 8192, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    memset(req + n, 'a', 5000);
    expect_error(fx, req, (size_t)n + 5000, 413, "request body too large");
    n = snprintf(req, 8192, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "400\r\n%01024d\r\n400\r\n%01024d\r\n0\r\n\r\n", 0, 0);
    expect_error(fx, req, (size_t)n, 413, "request body too large");
    n = snprintf(req, 8192, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: %02000d\r\n\r\n", 0);
    expect_error(fx, req, (size_t)n, 431, "request headers too large");
    n = snprintf(req, 8192, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 70; i++)
        n += snprintf(req + n, (size_t)(8192 - n), "H%d: v\r\n", i);
    n += snprintf(req + n, (size_t)(8192 - n), "\r\n");
    expect_error(fx, req, (size_t)n, 431, "too many request headers");
    n = snprintf(req, 8192, "GET /%02000d HTTP/1.1\r\n\r\n", 0);
    expect_error(fx, req, (size_t)n, 414, "request target too long");
    free(req);
}

static void test_http_limits_413_431(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->cfg.max_body = 1024;
    fx->cfg.max_header = 1024;
    run(fx, cl_too_large);
    assert_int_equal(fx->requests, 0);
    assert_int_equal(fx->stats.bad_requests, 5);
    free(fx);
}

static void cl_garbage(fixture *fx)
{
    static const char garbage[] = "\x01\x02 this is not http\r\n\r\n";
    expect_error(fx, garbage, sizeof(garbage) - 1, 400, "malformed request");
    const char *r = "GET /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
    expect_error(fx, r, strlen(r), 400, "bad content-length");
    r = "GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    expect_error(fx, r, strlen(r), 400, "more than one host header");
    r = "TRACE / HTTP/1.1\r\nHost: t\r\n\r\n";
    expect_error(fx, r, strlen(r), 501, "method not supported");
    r = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
    expect_error(fx, r, strlen(r), 501, "transfer-encoding not supported");
    r = "GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
    expect_error(fx, r, strlen(r), 501, "protocol upgrade not supported");
    r = "GET / HTTP/2.0\r\nHost: t\r\n\r\n";
    expect_error(fx, r, strlen(r), 505, "http version not supported");
    /* A good request before the bad one is answered first. */
    rd *c = cl_connect(fx);
    resp *p = malloc(sizeof(*p));
    CHECK(fx, cl_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /x\x7f HTTP/1.1\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200);
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 400);
    CHECK(fx, cl_closed_within(c, 3000));
    free(p);
    cl_close(c);
    /* "identity" is no coding: the message is framed by its length. */
    c = cl_connect(fx);
    p = malloc(sizeof(*p));
    CHECK(fx, cl_send(c, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200 && p->body_len == 0);
    free(p);
    cl_close(c);
}

static void test_http_garbage_and_unsupported(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    run(fx, cl_garbage);
    assert_int_equal(fx->stats.bad_requests, 8);
    assert_int_equal(fx->requests, 2);
    free(fx);
}

static void cl_accessors(fixture *fx)
{
    rd *c = cl_connect(fx);
    resp *p = malloc(sizeof(*p));
    CHECK(fx, cl_send(c, "GET /accessors?a=1&b=x+y%21%2b&bad=%zz&nul=%00&flag&b=second HTTP/1.1\r\nHost: t\r\n"
                         "Cookie: a=1; sid=\"abc\"; b=\r\nCookie: sid=second; b=2\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 204);
    free(p);
    cl_close(c);
}

static void test_http_cookie_and_query_accessors(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    run(fx, cl_accessors);
    assert_string_equal(fx->cookie_sid, "abc");
    assert_string_equal(fx->cookie_b, "");
    assert_true(fx->cookie_missing_null);
    assert_int_equal(fx->qp_b, 5);
    assert_string_equal(fx->qp_b_val, "x y!+");
    assert_int_equal(fx->qp_bad, -EBADMSG);
    assert_int_equal(fx->qp_nul, -EBADMSG);
    assert_int_equal(fx->qp_flag, 0);
    assert_int_equal(fx->qp_missing, -ENOENT);
    assert_int_equal(fx->qp_small, -ENOSPC);
    free(fx);
}

static void test_http_pure_decoders(void **state)
{
    (void)state;
    char out[16];
    assert_int_equal(cv_http_pct_decode(CV_STR_LIT("a%41+b"), true, out, sizeof(out)), 4);
    assert_string_equal(out, "aA b");
    assert_int_equal(cv_http_pct_decode(CV_STR_LIT("a+b"), false, out, sizeof(out)), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(cv_http_pct_decode(CV_STR_LIT("%4"), true, out, sizeof(out)), -EBADMSG);
    assert_int_equal(cv_http_pct_decode(CV_STR_LIT("%g1"), true, out, sizeof(out)), -EBADMSG);
    assert_int_equal(cv_http_pct_decode(CV_STR_LIT("abcd"), true, out, 4), -ENOSPC);
    assert_string_equal(out, "");
    assert_int_equal(cv_http_pct_decode(CV_STR_LIT("abc"), true, out, 4), 3);
    assert_int_equal(cv_http_pct_decode(CV_STR_LIT("x%00"), true, out, 2), -EBADMSG);
    /* Names are compared decoded; a bad escape elsewhere does not matter. */
    assert_int_equal(cv_http_query_param(CV_STR_LIT("x=%zz&na%6De=v"), "name", out, sizeof(out)), 1);
    assert_string_equal(out, "v");
    assert_int_equal(cv_http_query_param(CV_STR_LIT(""), "a", out, sizeof(out)), -ENOENT);
    assert_int_equal(cv_http_query_param((cv_str){NULL, 0}, "a", out, sizeof(out)), -ENOENT);
    assert_int_equal(cv_http_query_param(CV_STR_LIT("a=1&&=2&a=3"), "a", out, sizeof(out)), 1);
    assert_string_equal(out, "1");
    cv_str v = cv_http_cookie_find(CV_STR_LIT(" x = 1 ;y=\"2\";novalue;z"), "y");
    assert_true(cv_str_eq(v, CV_STR_LIT("2")));
    v = cv_http_cookie_find(CV_STR_LIT(" x = 1 ;y=\"2\""), "x");
    assert_true(cv_str_eq(v, CV_STR_LIT("1")));
    assert_null(cv_http_cookie_find(CV_STR_LIT("novalue;z"), "z").p);
    assert_null(cv_http_cookie_find(CV_STR_LIT(""), "z").p);
    assert_string_equal(cv_http_status_text(404), "Not Found");
    assert_string_equal(cv_http_status_text(799), "Unknown");
}

/* The assembler on its own: byte-at-a-time input, pipelining, targets. */
static void test_http_assembler_byte_by_byte(void **state)
{
    (void)state;
    const char in[] = "GET http://example.com?q=1#frag HTTP/1.1\r\nHost: e\r\n\r\n"
                      "POST /p/a%20th?x=y HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                      "OPTIONS * HTTP/1.1\r\n\r\n";
    cv_http_asm *a = cv_http_asm_new(1024, 1024);
    assert_non_null(a);
    cv_http_msg m[3];
    int got = 0;
    for (size_t i = 0; i < sizeof(in) - 1;) {
        size_t used;
        int rc = cv_http_asm_feed(a, in + i, 1, &used, &m[got]);
        assert_true(rc >= 0);
        assert_int_equal(used, 1);
        i += used;
        if (rc == 1)
            got++;
    }
    assert_int_equal(got, 3);
    assert_true(cv_str_eq(m[0].path, CV_STR_LIT("/")));
    assert_true(cv_str_eq(m[0].query, CV_STR_LIT("q=1")));
    assert_true(cv_str_eq(cv_http_msg_header(&m[0], "host"), CV_STR_LIT("e")));
    assert_string_equal(m[1].method_name, "POST");
    assert_true(cv_str_eq(m[1].path, CV_STR_LIT("/p/a%20th")));
    assert_true(cv_str_eq(m[1].body, CV_STR_LIT("abc")));
    assert_true(cv_str_eq(m[2].path, CV_STR_LIT("*")));
    assert_true(m[2].keep_alive);
    assert_false(cv_http_asm_started(a));
    for (int i = 0; i < got; i++)
        cv_http_msg_free(&m[i]);
    cv_http_asm_free(a);
}

static void cl_async_gone(fixture *fx)
{
    rd *c = cl_connect(fx);
    CHECK(fx, cl_send(c, "GET /async/200 HTTP/1.1\r\nHost: t\r\n\r\n"));
    cl_close(c); /* gone before the answer */
    c = cl_connect(fx);
    CHECK(fx, cl_send(c, "GET /pending-gone HTTP/1.1\r\nHost: t\r\n\r\n"));
    sleep_ms(20);
    cl_close(c);
}

static void test_http_client_gone_before_async_answer(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    run(fx, cl_async_gone);
    assert_int_equal(fx->requests, 2);
    assert_int_equal(fx->alive_at_respond, 0);
    assert_int_equal(fx->gone_calls, 1);
    free(fx);
}

static void cl_stop_pending(fixture *fx)
{
    rd *a = cl_connect(fx), *b = cl_connect(fx);
    CHECK(fx, cl_send(a, "GET /async/300 HTTP/1.1\r\nHost: t\r\n\r\n"));
    CHECK(fx, cl_send(b, "GET /pending-gone HTTP/1.1\r\nHost: t\r\n\r\n"));
    for (int i = 0; i < 500 && atomic_load(&fx->seen) < 2; i++)
        sleep_ms(5);
    CHECK(fx, atomic_load(&fx->seen) == 2);
    atomic_store(&fx->stop_now, true);
    CHECK(fx, cl_closed_within(a, 3000));
    CHECK(fx, cl_closed_within(b, 3000));
    cl_close(a);
    cl_close(b);
}

/* Stopping the server with requests pending: both become gone; the late
 * answer is dropped, and on_gone runs once. */
static void test_http_stop_with_requests_pending(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    run(fx, cl_stop_pending);
    assert_int_equal(fx->alive_at_respond, 0);
    assert_int_equal(fx->gone_calls, 1);
    assert_int_equal(fx->stats.connections, 2);
    free(fx);
}

/* The three writes of /stream in chunked transfer coding, with the last chunk. */
#define CHUNKED_BODY "7\r\nchunk0;\r\n7\r\nchunk1;\r\n7\r\nchunk2;\r\n0\r\n\r\n"

static void cl_stream(fixture *fx)
{
    rd *c = cl_connect(fx);
    resp *p = malloc(sizeof(*p));
    CHECK(fx, cl_send(c, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false)); /* read to the close; the body is the raw chunked coding */
    CHECK(fx, p->status == 200 && has(p, "Connection", "close") && !has(p, "Content-Length", NULL));
    CHECK(fx, has(p, "X-Stream", "yes") && has(p, "Cache-Control", "no-store"));
    CHECK(fx, has(p, "Transfer-Encoding", "chunked"));
    CHECK(fx, strcmp(p->body, CHUNKED_BODY) == 0);
    cl_close(c);
    /* HTTP/1.0 has no chunks: the body ends at the close. */
    c = cl_connect(fx);
    CHECK(fx, cl_send(c, "GET /stream HTTP/1.0\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200 && !has(p, "Transfer-Encoding", NULL));
    CHECK(fx, strcmp(p->body, "chunk0;chunk1;chunk2;") == 0);
    cl_close(c);
    /* The client leaves mid-stream: on_gone. */
    c = cl_connect(fx);
    CHECK(fx, cl_send(c, "GET /stream-forever HTTP/1.1\r\nHost: t\r\n\r\n"));
    while (!memmem(c->buf, c->len, "tick\n", 5))
        if (cl_fill(c) <= 0)
            break;
    CHECK(fx, memmem(c->buf, c->len, "tick\n", 5) != NULL);
    cl_close(c);
    /* A client that reads nothing: the writer is told -ENOBUFS. */
    c = cl_connect(fx);
    CHECK(fx, cl_send(c, "GET /stream-fill HTTP/1.1\r\nHost: t\r\n\r\n"));
    for (int i = 0; i < 500 && !atomic_load(&fx->nobufs); i++)
        sleep_ms(10);
    CHECK(fx, atomic_load(&fx->nobufs));
    cl_close(c);
    free(p);
}

static void test_http_streaming(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    run(fx, cl_stream);
    assert_int_equal(fx->gone_calls, 1);
    assert_int_equal(fx->write_after_gone, -EPIPE);
    assert_true(atomic_load(&fx->nobufs));
    free(fx);
}

static void cl_max_conn(fixture *fx)
{
    rd *c[2];
    resp *p = malloc(sizeof(*p));
    for (int i = 0; i < 2; i++) {
        c[i] = cl_connect(fx);
        CHECK(fx, cl_send(c[i], "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
        CHECK(fx, cl_response(c[i], p, false) && p->status == 200);
    }
    rd *x = cl_connect(fx);
    CHECK(fx, cl_response(x, p, false));
    CHECK(fx, p->status == 503 && strcmp(p->body, "{\"error\":\"too many connections\"}") == 0);
    CHECK(fx, cl_closed_within(x, 2000));
    cl_close(x);
    /* Once one leaves, a new client gets in. */
    cl_close(c[0]);
    bool in = false;
    for (int i = 0; i < 100 && !in; i++) {
        x = cl_connect(fx);
        in = cl_send(x, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n") && cl_response(x, p, false) && p->status == 200;
        cl_close(x);
        if (!in)
            sleep_ms(10);
    }
    CHECK(fx, in);
    cl_close(c[1]);
    free(p);
}

static void test_http_max_connections(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->cfg.max_connections = 2;
    run(fx, cl_max_conn);
    assert_true(fx->stats.refused_connections >= 1);
    free(fx);
}

static void cl_idle(fixture *fx)
{
    /* Idle: closed silently after about a second. */
    rd *c = cl_connect(fx);
    int64_t t0 = cv_now_us();
    CHECK(fx, cl_closed_within(c, 4000));
    int64_t ms = (cv_now_us() - t0) / 1000;
    CHECK(fx, ms >= 900 && ms < 3500);
    cl_close(c);
    /* Idle after an answer, on a kept-alive connection. */
    c = cl_connect(fx);
    resp *p = malloc(sizeof(*p));
    CHECK(fx, cl_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false) && p->status == 200);
    CHECK(fx, cl_closed_within(c, 3000));
    cl_close(c);
    /* A request trickling in too slowly gets 408. */
    c = cl_connect(fx);
    t0 = cv_now_us();
    CHECK(fx, cl_send(c, "GET /hello HTTP/1.1\r\n"));
    for (int i = 0; i < 4; i++) {
        sleep_ms(300);
        (void)cl_send(c, "X: y\r\n");
    }
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 408 && strcmp(p->body, "{\"error\":\"request timeout\"}") == 0);
    ms = (cv_now_us() - t0) / 1000;
    CHECK(fx, ms >= 900 && ms < 3500);
    CHECK(fx, cl_closed_within(c, 3000));
    cl_close(c);
    free(p);
}

static void test_http_idle_timeout(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->cfg.idle_timeout_s = 1;
    run(fx, cl_idle);
    assert_int_equal(fx->requests, 1);
    assert_int_equal(fx->stats.timeouts, 3); /* two idle closes and a 408 */
    free(fx);
}

/* ------------------------------------------------------------ HTTPS */

typedef struct {
    tmpdir td;
    cv_tls_ctx *tls;
} tls_files;

static void tls_setup(fixture *fx, tls_files *tf)
{
    char key[160], err[256];
    static const char *const names[] = {"localhost", "127.0.0.1"};
    static const char *const alpn[] = {"http/1.1"};
    assert_int_equal(tmpdir_make(&tf->td, "https", "x"), 0);
    snprintf(fx->cert, sizeof(fx->cert), "%s/cert.pem", tf->td.dir);
    snprintf(key, sizeof(key), "%s/key.pem", tf->td.dir);
    if (cv_tls_make_selfsigned(fx->cert, key, names, 2, 2, err, sizeof(err)) != 0 ||
        cv_tls_ctx_new(&tf->tls, fx->cert, key, alpn, 1, err, sizeof(err)) != 0)
        fail_msg("TLS setup: %s", err);
    fx->cfg.tls = tf->tls;
}

static void tls_teardown(tls_files *tf)
{
    cv_tls_ctx_free(tf->tls);
    assert_int_equal(tmpdir_remove(&tf->td), 0);
}

static void cl_https(fixture *fx)
{
    resp *p = malloc(sizeof(*p));
    rd *c = cl_connect_tls(fx, fx->cert);
    CHECK(fx, cl_tls_up(c));
    /* Keep-alive: two answers on one session. */
    for (int i = 0; i < 2; i++) {
        CHECK(fx, cl_send(c, "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"));
        CHECK(fx, cl_response(c, p, false));
        CHECK(fx, p->status == 200 && strcmp(p->body, "hello") == 0 && !has(p, "Connection", NULL));
    }
    /* A body larger than the read buffer arrives in several records. */
    static char big[40000], req[41000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    int n = snprintf(req, sizeof(req), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%.*s",
                     sizeof(big), (int)sizeof(big), big);
    CHECK(fx, cl_send_n(c, req, (size_t)n));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200 && p->body_len == sizeof(big) && memcmp(p->body, big, sizeof(big)) == 0);
    /* 100 pipelined requests in one write (over 16 KiB): some of them wait
     * decrypted-to-be inside the TLS engine; all are answered, in order. */
    char *pipe = malloc(100 * 256);
    size_t len = 0;
    for (int i = 0; i < 100; i++)
        len += (size_t)sprintf(pipe + len, "GET /slow/%d HTTP/1.1\r\nHost: t\r\nX-Pad: %0150d\r\n\r\n", i % 3, i);
    CHECK(fx, len > 16 * 1024);
    CHECK(fx, cl_send_n(c, pipe, len));
    int ok = 0;
    for (int i = 0; i < 100; i++) {
        char want[16];
        snprintf(want, sizeof(want), "slow %d", i % 3);
        ok += cl_response(c, p, false) && p->status == 200 && strcmp(p->body, want) == 0;
    }
    CHECK(fx, ok == 100);
    free(pipe);
    /* Connection: close ends with close_notify, then the TCP close. */
    CHECK(fx, cl_send(c, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false) && p->status == 200 && has(p, "Connection", "close"));
    CHECK(fx, cl_fill(c) == 0 && c->clean_end);
    cl_close(c);

    /* A streamed answer, read to its (clean) end. */
    c = cl_connect_tls(fx, fx->cert);
    CHECK(fx, cl_send(c, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 200 && has(p, "X-Stream", "yes") && strcmp(p->body, CHUNKED_BODY) == 0);
    CHECK(fx, c->clean_end);
    cl_close(c);
    /* A stream to a client that reads nothing fills up: -ENOBUFS. */
    c = cl_connect_tls(fx, fx->cert);
    CHECK(fx, cl_send(c, "GET /stream-fill HTTP/1.1\r\nHost: t\r\n\r\n"));
    for (int i = 0; i < 500 && !atomic_load(&fx->nobufs); i++)
        sleep_ms(10);
    CHECK(fx, atomic_load(&fx->nobufs));
    cl_close(c);

    /* Plain HTTP to the HTTPS port: closed, with at most an alert. */
    c = cl_connect(fx);
    CHECK(fx, cl_send(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    while (cl_fill(c) > 0) {
    }
    CHECK(fx, c->len < 16 && (c->len == 0 || c->buf[0] == 0x15)); /* 0x15: an alert record */
    cl_close(c);
    /* A client that does not trust the certificate gives up (alert). */
    tmpdir other;
    char ocert[160], okey[160], err[256];
    static const char *const on[] = {"localhost"};
    CHECK(fx, tmpdir_make(&other, "https2", "x") == 0);
    snprintf(ocert, sizeof(ocert), "%s/c.pem", other.dir);
    snprintf(okey, sizeof(okey), "%s/k.pem", other.dir);
    CHECK(fx, cv_tls_make_selfsigned(ocert, okey, on, 1, 1, err, sizeof(err)) == 0);
    c = cl_connect_tls(fx, ocert);
    CHECK(fx, !SSL_is_init_finished(c->ssl));
    CHECK(fx, cl_eof_within(c, 3000)); /* so that the server has counted it */
    cl_close(c);
    tmpdir_remove(&other);
    free(p);
}

static void test_http_tls_requests(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    tls_files tf;
    tls_setup(fx, &tf);
    run(fx, cl_https);
    tls_teardown(&tf);
    assert_int_equal(fx->requests, 106);
    assert_int_equal(fx->secure, 106);
    assert_int_equal(fx->stats.tls_failures, 2);
    assert_int_equal(fx->stats.timeouts, 0);
    assert_true(fx->stats.bytes_out > 40000 + 100 * 100);
    assert_true(atomic_load(&fx->nobufs));
    free(fx);
}

static void cl_https_slow(fixture *fx)
{
    resp *p = malloc(sizeof(*p));
    /* No handshake at all: an idle close, not a TLS failure. */
    rd *c = cl_connect(fx);
    CHECK(fx, cl_closed_within(c, 4000));
    cl_close(c);
    /* A request trickling in over TLS gets an encrypted 408. */
    c = cl_connect_tls(fx, fx->cert);
    CHECK(fx, cl_tls_up(c));
    CHECK(fx, cl_send(c, "GET /hello HTTP/1.1\r\n"));
    CHECK(fx, cl_response(c, p, false));
    CHECK(fx, p->status == 408 && strcmp(p->body, "{\"error\":\"request timeout\"}") == 0);
    CHECK(fx, cl_fill(c) == 0 && c->clean_end);
    cl_close(c);
    /* Too large a header: an encrypted 431. */
    c = cl_connect_tls(fx, fx->cert);
    static char huge[20000];
    memset(huge, 'a', sizeof(huge) - 1);
    CHECK(fx, cl_send(c, "GET /hello HTTP/1.1\r\nX-Big: "));
    CHECK(fx, cl_send(c, huge));
    CHECK(fx, cl_response(c, p, false) && p->status == 431);
    cl_close(c);
    /* A handshake begun and never finished: a TLS failure and a timeout. */
    c = cl_connect(fx);
    CHECK(fx, cl_send_n(c, "\x16\x03\x01\x00\x80\x01", 6));
    CHECK(fx, cl_closed_within(c, 4000));
    cl_close(c);
    free(p);
}

static void test_http_tls_timeouts_and_errors(void **state)
{
    (void)state;
    fixture *fx = fx_new();
    fx->cfg.idle_timeout_s = 1;
    tls_files tf;
    tls_setup(fx, &tf);
    run(fx, cl_https_slow);
    tls_teardown(&tf);
    assert_int_equal(fx->requests, 0);
    assert_int_equal(fx->stats.timeouts, 3);
    assert_int_equal(fx->stats.tls_failures, 1);
    assert_int_equal(fx->stats.bad_requests, 1);
    free(fx);
}

static void test_http_start_errors(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cv_http_server *s = NULL;
    cv_http_server_config cfg = {.bind_addr = "not an address", .handle = handle};
    assert_true(cv_http_server_start(&s, &loop, &cfg) < 0);
    assert_null(s);
    cfg.bind_addr = "127.0.0.1";
    cfg.handle = NULL;
    assert_int_equal(cv_http_server_start(&s, &loop, &cfg), -EINVAL);
    /* A port in use: the half-made server is cleaned up by the loop. */
    cfg.handle = handle;
    assert_int_equal(cv_http_server_start(&s, &loop, &cfg), 0);
    cfg.port = cv_http_server_port(s);
    cv_http_server *t = NULL;
    assert_int_equal(cv_http_server_start(&t, &loop, &cfg), UV_EADDRINUSE);
    assert_null(t);
    cv_http_server_stop(s, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    cv_log_set_level(getenv("CV_TEST_LOG") ? CV_LOG_DEBUG : CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_get_with_query_and_headers),
        cmocka_unit_test(test_http_post_length_and_chunked),
        cmocka_unit_test(test_http_keep_alive_and_close),
        cmocka_unit_test(test_http_pipelined_async_in_order),
        cmocka_unit_test(test_http_head_has_no_body),
        cmocka_unit_test(test_http_limits_413_431),
        cmocka_unit_test(test_http_garbage_and_unsupported),
        cmocka_unit_test(test_http_cookie_and_query_accessors),
        cmocka_unit_test(test_http_pure_decoders),
        cmocka_unit_test(test_http_assembler_byte_by_byte),
        cmocka_unit_test(test_http_client_gone_before_async_answer),
        cmocka_unit_test(test_http_stop_with_requests_pending),
        cmocka_unit_test(test_http_streaming),
        cmocka_unit_test(test_http_max_connections),
        cmocka_unit_test(test_http_idle_timeout),
        cmocka_unit_test(test_http_start_errors),
        cmocka_unit_test(test_http_tls_requests),
        cmocka_unit_test(test_http_tls_timeouts_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
