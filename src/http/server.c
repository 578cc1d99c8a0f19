#define CV_LOG_MODULE "http"
#include "http/server.h"

#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/addr.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "http/parse.h"

#define SERVER_HDR "camvault/0.1"
#define RBUF_CAP (16 * 1024)
/* Ciphertext read at once under TLS: a full record and its header. */
#define TBUF_CAP (16 * 1024 + 512)
/* Answers waiting to be written beyond which pipelined requests wait. */
#define WRITE_HIGH (256 * 1024)
#define LINGER_MS 2000

typedef struct conn conn;

typedef enum {
    C_READING,   /* parsing the next request */
    C_PENDING,   /* a request is with the handler */
    C_STREAMING, /* a streamed answer is being written */
    C_LINGER,    /* answered and shut down: discard input until the peer closes */
    C_CLOSED,
} conn_state;

typedef enum { R_PENDING, R_STREAMING, R_DONE } req_state;

struct cv_http_req {
    cv_http_msg msg;
    conn *c; /* NULL once the client has gone */
    req_state state;
    bool head;
    bool keep_alive;
    bool in_gone; /* inside on_gone: freeing waits until it returns */
    void *data;
    void (*on_gone)(void *ctx, cv_http_req *r);
    void *gone_ctx;
    bool loopback;
    bool secure;
    bool chunked;     /* a streamed answer in chunked transfer coding (HTTP/1.1) */
    bool chunk_open;  /* a chunk was sent: its CRLF goes before the next size */
    char peer[48];
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown;
    cv_http_server *srv;
    conn *prev, *next;
    conn_state state;
    char peer[48];
    bool loopback;
    bool reading;
    bool in_process;
    cv_http_asm *asm_;
    char *rbuf;
    size_t rlen;
    cv_http_req *req;
    /* Bytes handed to uv_write and not yet written: what goes on the wire,
     * so ciphertext under TLS. */
    size_t queued;
    int open_handles;
    /* TLS (NULL: plain HTTP). rbuf then holds decrypted bytes: tbuf takes
     * what the socket gives, the engine keeps what does not fit in rbuf. */
    cv_tls_conn *tls;
    char *tbuf;
    size_t tls_plain;  /* plaintext encrypted since the last flush */
    bool tls_started;  /* the client sent something */
    bool tls_counted;  /* already in tls_failures */
};

struct cv_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    cv_http_server_config cfg;
    char bind_addr[64];
    int port;
    conn *conns;
    bool stopping;
    int open_handles;
    void (*done)(void *ctx);
    void *done_ctx;
    cv_http_server_stats stats;
};

typedef struct {
    uv_write_t req;
    conn *c;
    size_t len;   /* on the wire */
    size_t plain; /* response bytes it carries (bytes_out) */
    char data[];
} wreq;

static void conn_close(conn *c, const char *why);
static void conn_linger(conn *c);
static bool tls_pull(conn *c);
static void process(conn *c);
static void update_reading(conn *c);

/* ---------------------------------------------------------------- writing */

static void arm(conn *c, uint64_t ms);

static void write_done(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    conn *c = w->c;
    c->queued -= w->len;
    if (status == 0)
        c->srv->stats.bytes_out += w->plain;
    free(w);
    if (status < 0 && status != UV_ECANCELED) {
        conn_close(c, uv_strerror(status));
        return;
    }
    if (c->state != C_READING)
        return;
    /* A client that is still taking its answers is not idle; one still in
     * its TLS handshake only has the time it had at the start. */
    if (!cv_http_asm_started(c->asm_) && (!c->tls || cv_tls_conn_handshake_done(c->tls)))
        arm(c, (uint64_t)c->srv->cfg.idle_timeout_s * 1000);
    /* Under TLS more requests may wait inside the engine with rbuf empty. */
    if (c->queued < WRITE_HIGH && (c->rlen || c->tls))
        process(c);
    update_reading(c);
}

/* Hands everything the TLS engine has for the socket to uv_write. Returns 0
 * or a negative errno with the connection closed. */
static int tls_flush(conn *c)
{
    size_t len = cv_tls_conn_pending_out(c->tls);
    if (len == 0)
        return 0;
    if (len > UINT32_MAX) { /* uv_buf_t's length; records add a little to the plaintext */
        conn_close(c, "answer too large");
        return -EMSGSIZE;
    }
    wreq *w = malloc(sizeof(*w) + len);
    if (!w) {
        conn_close(c, "out of memory");
        return -ENOMEM;
    }
    w->c = c;
    w->len = cv_tls_conn_take_out(c->tls, w->data, len);
    w->plain = c->tls_plain;
    c->tls_plain = 0;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)w->len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done);
    if (rc < 0) {
        free(w);
        conn_close(c, uv_strerror(rc));
        return -EPIPE;
    }
    c->queued += w->len;
    return 0;
}

static int tls_send2(conn *c, const char *head, size_t hlen, const void *body, size_t blen)
{
    int rc = cv_tls_conn_write(c->tls, head, hlen);
    if (rc == 0)
        rc = cv_tls_conn_write(c->tls, body, blen);
    if (rc < 0) {
        conn_close(c, rc == -EPROTO ? cv_tls_conn_error(c->tls) : strerror(-rc));
        return -EPIPE;
    }
    c->tls_plain += hlen + blen;
    return tls_flush(c);
}

/* Queues a copy of head and body; closes the connection when that fails. */
static int send2(conn *c, const char *head, size_t hlen, const void *body, size_t blen)
{
    size_t len;
    if (c->state == C_CLOSED)
        return -EPIPE;
    if (__builtin_add_overflow(hlen, blen, &len) || len > UINT32_MAX) {
        conn_close(c, "answer too large");
        return -EMSGSIZE;
    }
    if (c->tls)
        return tls_send2(c, head, hlen, body, blen);
    wreq *w = malloc(sizeof(*w) + len);
    if (!w) {
        conn_close(c, "out of memory");
        return -ENOMEM;
    }
    w->c = c;
    w->len = w->plain = len;
    if (hlen)
        memcpy(w->data, head, hlen);
    if (blen)
        memcpy(w->data + hlen, body, blen);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done);
    if (rc < 0) {
        free(w);
        conn_close(c, uv_strerror(rc));
        return -EPIPE;
    }
    c->queued += len;
    return 0;
}

const char *cv_http_status_text(int status)
{
    const char *s = status >= 100 && status <= 999 ? http_status_str((enum http_status)status) : NULL;
    return s && s[0] != '<' ? s : "Unknown";
}

static void http_date(char *out, size_t cap)
{
    time_t now = (time_t)(cv_wall_us() / 1000000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Whether "Name: value\r\n" lines in extra include the header name. */
static bool has_header(const char *extra, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = extra; line && *line;) {
        if (strncasecmp(line, name, n) == 0 && line[n] == ':')
            return true;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return false;
}

typedef struct {
    int status;
    const char *ctype;
    const char *extra;
    bool has_length;
    size_t length;
    bool close;
    bool http10_keep_alive;
    bool chunked;
} head_spec;

static void build_head(cv_sbuf *o, const head_spec *h)
{
    char date[64];
    http_date(date, sizeof(date));
    cv_sbuf_printf(o, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: " SERVER_HDR "\r\n", h->status,
                   cv_http_status_text(h->status), date);
    if (h->ctype)
        cv_sbuf_printf(o, "Content-Type: %s\r\n", h->ctype);
    if (h->has_length)
        cv_sbuf_printf(o, "Content-Length: %zu\r\n", h->length);
    else if (h->chunked)
        cv_sbuf_puts(o, "Transfer-Encoding: chunked\r\n");
    if (!h->extra || !has_header(h->extra, "Cache-Control"))
        cv_sbuf_puts(o, "Cache-Control: no-store\r\n");
    cv_sbuf_puts(o, "X-Content-Type-Options: nosniff\r\n");
    if (h->close)
        cv_sbuf_puts(o, "Connection: close\r\n");
    else if (h->http10_keep_alive)
        cv_sbuf_puts(o, "Connection: keep-alive\r\n");
    if (h->extra && *h->extra) {
        cv_sbuf_puts(o, h->extra);
        size_t n = strlen(h->extra);
        if (n < 2 || h->extra[n - 2] != '\r' || h->extra[n - 1] != '\n')
            cv_sbuf_puts(o, "\r\n");
    }
    cv_sbuf_puts(o, "\r\n");
}

static int send_answer(conn *c, const head_spec *h, const void *body, size_t len)
{
    cv_sbuf o;
    cv_sbuf_init(&o);
    build_head(&o, h);
    int rc;
    if (!cv_sbuf_ok(&o)) {
        conn_close(c, "out of memory");
        rc = -ENOMEM;
    } else {
        rc = send2(c, o.p, o.len, body, len);
    }
    cv_sbuf_free(&o);
    return rc;
}

/* Answers a request that could not be parsed (or came too slowly), then
 * closes lingering so the client reads the status, not a reset. */
static void send_error(conn *c, int status, const char *why)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", why);
    head_spec h = {.status = status, .ctype = "application/json", .has_length = true,
                   .length = (size_t)n, .close = true};
    if (send_answer(c, &h, body, (size_t)n) == 0)
        conn_linger(c);
}

/* --------------------------------------------------------------- requests */

static void req_free(cv_http_req *r)
{
    cv_http_msg_free(&r->msg);
    free(r);
}

/* The client left while r was pending or streaming. */
static void req_gone(cv_http_req *r)
{
    bool told = r->on_gone != NULL;
    r->c = NULL;
    if (told) {
        r->in_gone = true;
        r->on_gone(r->gone_ctx, r);
        r->in_gone = false;
    }
    if (r->state == R_DONE || (r->state == R_PENDING && told))
        req_free(r);
}

static void dispatch(conn *c, cv_http_msg *m)
{
    cv_http_server *srv = c->srv;
    cv_http_req *r = calloc(1, sizeof(*r));
    if (!r) {
        cv_http_msg_free(m);
        send_error(c, 500, "out of memory");
        return;
    }
    r->msg = *m;
    r->c = c;
    r->head = m->method == HTTP_HEAD;
    r->keep_alive = m->keep_alive;
    r->loopback = c->loopback;
    r->secure = c->tls != NULL;
    memcpy(r->peer, c->peer, sizeof(r->peer));
    c->req = r;
    c->state = C_PENDING;
    uv_timer_stop(&c->timer); /* the handler takes its time */
    srv->stats.requests++;
    CV_DEBUG("%p: %s %.*s from %s", (void *)c, m->method_name, (int)m->path.len, m->path.p, c->peer);
    srv->cfg.handle(srv->cfg.ctx, r);
}

/* Reports a parse failure, or sends 100 Continue when the client waits. */
static bool after_feed(conn *c, int rc)
{
    if (rc < 0) {
        int status = cv_http_asm_status(c->asm_);
        c->srv->stats.bad_requests++;
        CV_INFO("%p: bad request from %s: %s; answering %d", (void *)c, c->peer, cv_http_asm_error(c->asm_),
                status);
        send_error(c, status, cv_http_asm_error(c->asm_));
        return false;
    }
    if (rc == 0 && cv_http_asm_take_continue(c->asm_)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        return send2(c, cont, sizeof(cont) - 1, NULL, 0) == 0;
    }
    return true;
}

/* Parses buffered input while the connection waits for a request: one
 * request at a time, the rest stays buffered until it is answered. */
static void process(conn *c)
{
    if (c->in_process)
        return;
    c->in_process = true;
    for (;;) {
        size_t off = 0;
        while (c->state == C_READING && off < c->rlen && c->queued < WRITE_HIGH) {
            bool was_started = cv_http_asm_started(c->asm_);
            size_t used;
            cv_http_msg m;
            int rc = cv_http_asm_feed(c->asm_, c->rbuf + off, c->rlen - off, &used, &m);
            off += used;
            if (!was_started && cv_http_asm_started(c->asm_))
                arm(c, (uint64_t)c->srv->cfg.idle_timeout_s * 1000); /* the whole request must come in time */
            if (!after_feed(c, rc) || rc == 0)
                break;
            dispatch(c, &m);
        }
        /* Streaming, lingering or closed connections have dropped their input. */
        if (c->state == C_READING || c->state == C_PENDING) {
            memmove(c->rbuf, c->rbuf + off, c->rlen - off);
            c->rlen -= off;
        }
        /* Under TLS, input that did not fit in rbuf waits in the engine and
         * no socket read will bring it: take it now that there is room. */
        if (!c->tls || c->state != C_READING || c->queued >= WRITE_HIGH)
            break;
        size_t before = c->rlen;
        if (!tls_pull(c) || c->rlen == before)
            break;
    }
    c->in_process = false;
}

/* Done with the request in flight: next request, or close. */
static void finish(conn *c, bool keep_alive)
{
    c->req = NULL;
    if (!keep_alive || c->srv->stopping) {
        conn_linger(c);
        return;
    }
    c->state = C_READING;
    arm(c, (uint64_t)c->srv->cfg.idle_timeout_s * 1000);
    process(c);
    update_reading(c);
}

/* ------------------------------------------------------------- accessors */

const char *cv_http_req_method(const cv_http_req *r) { return r->msg.method_name; }
cv_str cv_http_req_path(const cv_http_req *r) { return r->msg.path; }
cv_str cv_http_req_query(const cv_http_req *r) { return r->msg.query; }
cv_str cv_http_req_header(const cv_http_req *r, const char *name) { return cv_http_msg_header(&r->msg, name); }
cv_str cv_http_req_body(const cv_http_req *r) { return r->msg.body; }
cv_str cv_http_req_cookie(const cv_http_req *r, const char *name) { return cv_http_msg_cookie(&r->msg, name); }

int cv_http_req_query_param(const cv_http_req *r, const char *name, char *out, size_t cap)
{
    return cv_http_query_param(r->msg.query, name, out, cap);
}

const char *cv_http_req_peer(const cv_http_req *r) { return r->peer; }
bool cv_http_req_peer_loopback(const cv_http_req *r) { return r->loopback; }
bool cv_http_req_secure(const cv_http_req *r) { return r->secure; }
void cv_http_req_set_data(cv_http_req *r, void *data) { r->data = data; }
void *cv_http_req_data(const cv_http_req *r) { return r->data; }
bool cv_http_req_alive(const cv_http_req *r) { return r->c != NULL; }

void cv_http_req_on_gone(cv_http_req *r, void (*fn)(void *ctx, cv_http_req *r), void *ctx)
{
    r->on_gone = fn;
    r->gone_ctx = ctx;
}

/* --------------------------------------------------------------- answers */

/* Marks r answered; false when the client has gone (r is then freed, or
 * will be once on_gone returns). */
static bool claim(cv_http_req *r, req_state next, const char *what)
{
    if (r->state != R_PENDING) {
        CV_ERROR("%s on a request already answered", what);
        return false;
    }
    r->state = next;
    if (r->c)
        return true;
    if (next == R_DONE && !r->in_gone)
        req_free(r);
    return false;
}

void cv_http_respond(cv_http_req *r, int status, const char *content_type, const void *body, size_t len,
                     const char *extra_headers)
{
    if (!claim(r, R_DONE, "cv_http_respond"))
        return;
    conn *c = r->c;
    if (status < 200 || status > 999)
        status = 500;
    bool bodiless = status == 204 || status == 304;
    bool keep_alive = r->keep_alive && !c->srv->stopping;
    head_spec h = {.status = status, .ctype = content_type, .extra = extra_headers, .has_length = !bodiless,
                   .length = len, .close = !keep_alive,
                   .http10_keep_alive = keep_alive && r->msg.minor == 0};
    bool body_out = !r->head && !bodiless;
    c->req = NULL; /* answered: a failing write must not report r gone */
    int rc = send_answer(c, &h, body, body_out ? len : 0);
    req_free(r);
    if (rc == 0)
        finish(c, keep_alive);
}

void cv_http_stream_start(cv_http_req *r, int status, const char *content_type, const char *extra_headers)
{
    if (!claim(r, R_STREAMING, "cv_http_stream_start"))
        return;
    conn *c = r->c;
    /* HTTP/1.1 clients get chunks (so the end of the answer is explicit,
     * not a lost connection); HTTP/1.0 ones a body that ends at close. */
    r->chunked = !r->head && (r->msg.major > 1 || (r->msg.major == 1 && r->msg.minor >= 1));
    head_spec h = {.status = status >= 200 && status <= 999 ? status : 500, .ctype = content_type,
                   .extra = extra_headers, .close = true, .chunked = r->chunked};
    c->req = NULL; /* a failing write closes c without calling on_gone from in here */
    if (send_answer(c, &h, NULL, 0) < 0) {
        r->c = NULL;
        return;
    }
    c->req = r;
    c->state = C_STREAMING;
    c->rlen = 0; /* nothing more will be answered on this connection */
    update_reading(c);
}

int cv_http_stream_write(cv_http_req *r, const void *data, size_t len, size_t max_queued)
{
    if (r->state != R_STREAMING)
        return -EINVAL;
    conn *c = r->c;
    if (!c || c->state != C_STREAMING)
        return -EPIPE;
    if (r->head || len == 0)
        return 0;
    if (c->queued > max_queued || len > max_queued - c->queued)
        return -ENOBUFS;
    char size[24];
    int n = 0;
    if (r->chunked) /* the previous chunk's CRLF, then this one's size line */
        n = snprintf(size, sizeof(size), "%s%zx\r\n", r->chunk_open ? "\r\n" : "", len);
    c->req = NULL; /* as in cv_http_stream_start */
    if (send2(c, n ? size : NULL, (size_t)n, data, len) < 0) {
        r->c = NULL;
        return -EPIPE;
    }
    r->chunk_open = r->chunked;
    c->req = r;
    return 0;
}

void cv_http_stream_end(cv_http_req *r)
{
    if (r->state != R_STREAMING)
        return;
    r->state = R_DONE;
    conn *c = r->c;
    if (c) {
        c->req = NULL;
        if (r->chunked && c->state == C_STREAMING) {
            const char *last = r->chunk_open ? "\r\n0\r\n\r\n" : "0\r\n\r\n";
            if (send2(c, last, strlen(last), NULL, 0) < 0)
                c = NULL; /* the write failed and closed it */
        }
        if (c)
            conn_linger(c);
    }
    if (!r->in_gone)
        req_free(r);
}

/* ------------------------------------------------------------ connection */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)suggested;
    if (c->state != C_READING && c->state != C_PENDING)
        c->rlen = 0; /* input is only watched for the peer leaving */
    if (c->tls)
        *buf = uv_buf_init(c->tbuf, TBUF_CAP);
    else
        *buf = uv_buf_init(c->rbuf + c->rlen, (unsigned)(RBUF_CAP - c->rlen));
}

/* The client closed its side (EOF, or a TLS close_notify). */
static void peer_closed(conn *c)
{
    bool quiet = c->state != C_PENDING && c->state != C_STREAMING;
    conn_close(c, quiet ? NULL : "client left");
}

/* Moves decrypted bytes into rbuf while there is room. Returns false when
 * the connection closed (the client sent close_notify, or bad records). */
static bool tls_pull(conn *c)
{
    while (c->rlen < RBUF_CAP) {
        long n = cv_tls_conn_read(c->tls, c->rbuf + c->rlen, RBUF_CAP - c->rlen);
        if (n == 0)
            break;
        if (n == -EPIPE) {
            peer_closed(c);
            return false;
        }
        if (n < 0) {
            conn_close(c, cv_tls_conn_error(c->tls));
            return false;
        }
        c->rlen += (size_t)n;
    }
    return true;
}

/* Ciphertext from the socket: handshake, then requests. A failed handshake
 * gets its alert (if any) sent before the connection ends. */
static void tls_input(conn *c, const char *data, size_t len)
{
    bool was_done = cv_tls_conn_handshake_done(c->tls);
    c->tls_started = true;
    if (cv_tls_conn_feed(c->tls, data, len) < 0) {
        c->tls_counted = true;
        c->srv->stats.tls_failures++;
        CV_INFO("%p: TLS handshake with %s failed: %s", (void *)c, c->peer, cv_tls_conn_error(c->tls));
        if (tls_flush(c) == 0)
            conn_linger(c);
        return;
    }
    if (tls_flush(c) < 0)
        return;
    if (!was_done && cv_tls_conn_handshake_done(c->tls)) {
        CV_DEBUG("%p: TLS up with %s (ALPN \"%s\")", (void *)c, c->peer, cv_tls_conn_alpn(c->tls));
        arm(c, (uint64_t)c->srv->cfg.idle_timeout_s * 1000); /* the handshake's time is not the request's */
    }
    if (c->state == C_READING)
        process(c);
    else if (!tls_pull(c)) /* C_PENDING: only to notice the client leaving */
        return;
    if (c->state == C_CLOSED || tls_flush(c) < 0) /* e.g. a key update answered while reading */
        return;
    update_reading(c);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = st->data;
    (void)buf;
    if (nread < 0) {
        if (nread == UV_EOF)
            peer_closed(c);
        else
            conn_close(c, uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || c->state == C_LINGER || c->state == C_STREAMING)
        return;
    if (c->tls) {
        tls_input(c, c->tbuf, (size_t)nread);
        return;
    }
    c->rlen += (size_t)nread;
    if (c->state == C_READING)
        process(c);
    update_reading(c);
}

/* Reads while a request may arrive, and while a request is pending as long
 * as there is room: that is how a client leaving is noticed; a full buffer
 * of pipelined input pauses reading until the answer is out. */
static void update_reading(conn *c)
{
    bool want;
    switch (c->state) {
    case C_READING:
        want = c->queued < WRITE_HIGH && c->rlen < RBUF_CAP;
        break;
    case C_PENDING:
        want = c->rlen < RBUF_CAP;
        break;
    case C_STREAMING:
    case C_LINGER:
        want = true;
        break;
    default:
        want = false;
    }
    if (want == c->reading)
        return;
    c->reading = want;
    if (want)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    else
        uv_read_stop((uv_stream_t *)&c->tcp);
}

static void on_timer(uv_timer_t *t)
{
    conn *c = t->data;
    if (c->state == C_LINGER) {
        conn_close(c, "client did not close after the answer");
    } else if (c->state == C_READING && cv_http_asm_started(c->asm_)) {
        CV_INFO("%p: request from %s too slow; answering 408", (void *)c, c->peer);
        c->srv->stats.timeouts++;
        send_error(c, 408, "request timeout");
    } else if (c->state == C_READING) {
        c->srv->stats.timeouts++;
        bool shaking = c->tls && !cv_tls_conn_handshake_done(c->tls);
        conn_close(c, shaking && c->tls_started ? "TLS handshake too slow" : NULL);
    }
}

static void arm(conn *c, uint64_t ms) { uv_timer_start(&c->timer, on_timer, ms, 0); }

static void free_conn(conn *c)
{
    cv_tls_conn_free(c->tls);
    free(c->tbuf);
    cv_http_asm_free(c->asm_);
    free(c->rbuf);
    free(c);
}

static void server_release(cv_http_server *srv)
{
    if (--srv->open_handles > 0 || !srv->stopping)
        return;
    void (*done)(void *) = srv->done;
    void *ctx = srv->done_ctx;
    free(srv);
    if (done)
        done(ctx);
}

static void handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    cv_http_server *srv = c->srv;
    if (--c->open_handles == 0)
        free_conn(c);
    server_release(srv);
}

/* Counts a handshake the client began and never finished, and sends a
 * close_notify when the session is up and the socket takes it at once
 * (writes still queued are cancelled by the close anyway). */
static void tls_close(conn *c)
{
    bool done = cv_tls_conn_handshake_done(c->tls);
    if (!done && c->tls_started && !c->tls_counted && !c->srv->stopping) {
        c->tls_counted = true;
        c->srv->stats.tls_failures++;
    }
    if (!done)
        return;
    cv_tls_conn_shutdown(c->tls);
    char out[256];
    size_t n = cv_tls_conn_take_out(c->tls, out, sizeof(out));
    if (n) {
        uv_buf_t b = uv_buf_init(out, (unsigned)n);
        (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    }
}

/* why NULL: an ordinary end (idle, or the client closed between requests). */
static void conn_close(conn *c, const char *why)
{
    if (c->state == C_CLOSED)
        return;
    c->state = C_CLOSED;
    if (why)
        CV_INFO("%p: closing connection from %s: %s", (void *)c, c->peer, why);
    else
        CV_DEBUG("%p: connection from %s closed", (void *)c, c->peer);
    cv_http_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->stats.connections--;
    if (c->tls)
        tls_close(c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
    uv_close((uv_handle_t *)&c->tcp, handle_closed);
    cv_http_req *r = c->req;
    c->req = NULL;
    if (r)
        req_gone(r);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the client's EOF or the linger deadline closes */
}

/* Ends the connection after its last answer: FIN once the queued bytes are
 * written, then discard input until the client closes, so that what it sent
 * meanwhile does not turn into a reset that destroys the answer. */
static void conn_linger(conn *c)
{
    if (c->state == C_CLOSED || c->state == C_LINGER)
        return;
    c->state = C_LINGER;
    c->rlen = 0;
    if (c->tls) {
        cv_tls_conn_shutdown(c->tls); /* close_notify: the answer is complete, not truncated */
        if (tls_flush(c) < 0)
            return;
    }
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        conn_close(c, "shutdown failed");
        return;
    }
    arm(c, LINGER_MS);
    update_reading(c);
}

/* --------------------------------------------------------------- accepting */

static void refused_closed(uv_handle_t *h) { free(h); }

static void refuse(cv_http_server *srv, uv_stream_t *server)
{
    static const char msg[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                              "Content-Length: 32\r\nConnection: close\r\n\r\n"
                              "{\"error\":\"too many connections\"}";
    uv_tcp_t *t = malloc(sizeof(*t));
    if (!t)
        return;
    uv_tcp_init(srv->loop, t);
    /* A TLS client cannot read a plaintext answer, and a handshake is just
     * what an overloaded server should not do: it only sees the close. */
    if (uv_accept(server, (uv_stream_t *)t) == 0 && !srv->cfg.tls) {
        uv_buf_t b = uv_buf_init((char *)msg, sizeof(msg) - 1);
        int n = uv_try_write((uv_stream_t *)t, &b, 1);
        if (n > 0)
            srv->stats.bytes_out += (uint64_t)n;
    }
    uv_close((uv_handle_t *)t, refused_closed);
    if (srv->stats.refused_connections++ % 1000 == 0)
        CV_WARN("refusing connections: %d open is the limit (%llu refused so far)", srv->cfg.max_connections,
                (unsigned long long)srv->stats.refused_connections);
}

static void conn_peer(conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        cv_addr_ip(&ss, c->peer, sizeof(c->peer));
        c->loopback = cv_addr_is_loopback(&ss);
    } else {
        snprintf(c->peer, sizeof(c->peer), "?");
    }
}

static conn *conn_new(cv_http_server *srv)
{
    conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->srv = srv;
    c->rbuf = malloc(RBUF_CAP);
    c->asm_ = cv_http_asm_new(srv->cfg.max_header, srv->cfg.max_body);
    if (srv->cfg.tls) {
        c->tls = cv_tls_conn_new(srv->cfg.tls);
        c->tbuf = malloc(TBUF_CAP);
    }
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    srv->open_handles += 2;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->stats.connections++;
    return c;
}

static void on_connection(uv_stream_t *server, int status)
{
    cv_http_server *srv = server->data;
    if (status < 0) {
        CV_WARN("accept: %s", uv_strerror(status));
        return;
    }
    if ((int)srv->stats.connections >= srv->cfg.max_connections) {
        refuse(srv, server);
        return;
    }
    conn *c = conn_new(srv);
    if (!c)
        return;
    if (!c->rbuf || !c->asm_ || (srv->cfg.tls && (!c->tls || !c->tbuf)) ||
        uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c, "accept failed");
        return;
    }
    conn_peer(c);
    uv_tcp_nodelay(&c->tcp, 1);
    arm(c, (uint64_t)srv->cfg.idle_timeout_s * 1000);
    update_reading(c);
    CV_DEBUG("%p: connection from %s", (void *)c, c->peer);
}

/* ------------------------------------------------------------------ server */

static void listener_closed(uv_handle_t *h) { server_release(h->data); }

static void apply_defaults(cv_http_server *srv, const cv_http_server_config *cfg)
{
    srv->cfg = *cfg;
    snprintf(srv->bind_addr, sizeof(srv->bind_addr), "%s", cfg->bind_addr ? cfg->bind_addr : "127.0.0.1");
    srv->cfg.bind_addr = srv->bind_addr;
    if (!srv->cfg.max_header)
        srv->cfg.max_header = 16 * 1024;
    if (!srv->cfg.max_body)
        srv->cfg.max_body = 64 * 1024;
    if (srv->cfg.idle_timeout_s <= 0)
        srv->cfg.idle_timeout_s = 30;
    if (srv->cfg.max_connections <= 0)
        srv->cfg.max_connections = 4096;
}

int cv_http_server_start(cv_http_server **out, uv_loop_t *loop, const cv_http_server_config *cfg)
{
    *out = NULL;
    if (!cfg->handle || cfg->port < 0 || cfg->port > 65535)
        return -EINVAL;
    cv_http_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    srv->loop = loop;
    apply_defaults(srv, cfg);
    struct sockaddr_storage sa;
    int rc = cv_addr_from_ip(srv->bind_addr, cfg->port, &sa);
    if (rc < 0) {
        free(srv);
        return rc;
    }
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    srv->open_handles = 1;
    if ((rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&sa, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)&srv->listener, 512, on_connection)) < 0) {
        CV_ERROR("cannot listen on %s:%d: %s", srv->bind_addr, cfg->port, uv_strerror(rc));
        srv->stopping = true; /* freed by the close callback */
        uv_close((uv_handle_t *)&srv->listener, listener_closed);
        return rc;
    }
    int len = sizeof(sa);
    uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&sa, &len);
    srv->port = cv_addr_port(&sa);
    CV_INFO("%s listening on %s:%d", cfg->tls ? "https" : "http", srv->bind_addr, srv->port);
    *out = srv;
    return 0;
}

int cv_http_server_port(const cv_http_server *s) { return s->port; }

void cv_http_server_stop(cv_http_server *s, void (*done)(void *ctx), void *ctx)
{
    s->stopping = true;
    s->done = done;
    s->done_ctx = ctx;
    while (s->conns)
        conn_close(s->conns, "server shutting down");
    uv_close((uv_handle_t *)&s->listener, listener_closed);
}

void cv_http_server_get_stats(const cv_http_server *s, cv_http_server_stats *out) { *out = s->stats; }
