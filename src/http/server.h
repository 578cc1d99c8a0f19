/* A small HTTP/1.1 server on libuv, parsing with libhttp-parser (Debian's
 * nodejs http-parser: length-explicit, callback-based, fuzzed upstream).
 * Keep-alive; pipelined requests answered in order, one in flight per
 * connection (what follows is kept unparsed, and reading stops once 16 KiB
 * wait, until the handler responds; up to then reading goes on so that a
 * client leaving is noticed); limits on header and body size (431/413); a
 * slow-client timeout; handlers that may respond later (after work on the
 * thread pool). Loop thread only; the process must ignore SIGPIPE (as
 * cv_http_server_start does not touch signals). Requests are assembled by
 * http/parse.h. */
#ifndef CV_HTTP_SERVER_H
#define CV_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/util.h"
#include "tls/tls.h"

typedef struct cv_http_server cv_http_server;
typedef struct cv_http_req cv_http_req;

typedef struct {
    const char *bind_addr;  /* default "127.0.0.1" */
    int port;               /* 0: ephemeral */
    size_t max_header;      /* default 16 KiB: 431 beyond */
    size_t max_body;        /* default 64 KiB: 413 beyond */
    /* default 30: a connection without a request in progress closes quietly
     * after this long; a request must arrive whole within this long of its
     * first byte, or it is answered 408 and the connection closes. */
    int idle_timeout_s;
    int max_connections;    /* default 4096: beyond, 503 and close at once */
    /* Called once per complete request. The handler must eventually call
     * cv_http_respond (or cv_http_stream_start) exactly once, now or later. */
    void (*handle)(void *ctx, cv_http_req *req);
    void *ctx;
    /* Borrowed; NULL: plain HTTP. With it every connection speaks TLS
     * (ALPN http/1.1); a failed handshake closes the connection and is
     * counted in tls_failures; the handshake must finish within
     * idle_timeout_s. Reloading the context (cv_tls_ctx_reload) changes the
     * certificate for new connections. */
    cv_tls_ctx *tls;
} cv_http_server_config;

int cv_http_server_start(cv_http_server **out, uv_loop_t *loop, const cv_http_server_config *cfg)
    __attribute__((warn_unused_result));
int cv_http_server_port(const cv_http_server *s);
/* Closes every connection (their pending requests become gone, see
 * cv_http_req_on_gone) and the listener; done (may be NULL) runs once every
 * handle is closed, and s is freed then. Call once. */
void cv_http_server_stop(cv_http_server *s, void (*done)(void *ctx), void *ctx);

/* ----------------------------------------------------- request accessors */
/* All strings stay valid until cv_http_respond (which may be given the
 * request's own body) or cv_http_stream_end. */
const char *cv_http_req_method(const cv_http_req *r); /* "GET", "POST", ... */
cv_str cv_http_req_path(const cv_http_req *r);        /* percent-decoding is the caller's */
cv_str cv_http_req_query(const cv_http_req *r);       /* without '?', may be empty */
/* First header of that name (case-insensitive); .p NULL when absent. */
cv_str cv_http_req_header(const cv_http_req *r, const char *name);
cv_str cv_http_req_body(const cv_http_req *r);
/* A cookie's value from the Cookie header(s) ("a=1; b=2", RFC 6265: the
 * first of that name, case-sensitive, quotes removed); .p NULL when absent. */
cv_str cv_http_req_cookie(const cv_http_req *r, const char *name);
/* A query parameter, percent-decoded into out (NUL-terminated, '+' is a
 * space; names compare decoded; the first wins). Returns its length,
 * -ENOENT when absent, -ENOSPC or -EBADMSG (bad escape or %00). */
int cv_http_req_query_param(const cv_http_req *r, const char *name, char *out, size_t cap);
const char *cv_http_req_peer(const cv_http_req *r); /* client IP as text */
bool cv_http_req_secure(const cv_http_req *r);      /* arrived over TLS */
bool cv_http_req_peer_loopback(const cv_http_req *r);
/* Per-request slot for the handler's own state. */
void cv_http_req_set_data(cv_http_req *r, void *data);
void *cv_http_req_data(const cv_http_req *r);
/* False once the client has gone (a late response is then just dropped).
 * Closing its sending side counts as gone while a request is pending or
 * streaming: HTTP/1.1 clients do not half-close to wait for an answer. */
bool cv_http_req_alive(const cv_http_req *r);

/* --------------------------------------------------------------- answers */
/* r must not be used once cv_http_respond or cv_http_stream_end returns.
 * extra_headers: zero or more "Name: value\r\n" lines, or NULL. Adds
 * Content-Length, Date, Server, Cache-Control: no-store (unless given),
 * X-Content-Type-Options: nosniff, and Connection: close when the connection
 * ends after this answer; body is omitted for HEAD, 204 and 304. body is
 * copied. A status outside 200-999 is sent as 500. */
void cv_http_respond(cv_http_req *r, int status, const char *content_type, const void *body, size_t len,
                     const char *extra_headers);

/* Streaming answer (MJPEG, long polls): headers now, then any number of
 * writes, then end. The connection closes after a streamed answer. HTTP/1.1
 * requests get "Transfer-Encoding: chunked" (each write one chunk, the end
 * the last chunk); HTTP/1.0 ones a body delimited by the close.
 * cv_http_stream_write copies data; returns 0, -EPIPE (client gone) or
 * -ENOBUFS (more than max_queued bytes would be waiting: the caller decides
 * whether to skip or end). Waiting bytes are counted as they go on the
 * wire, so under TLS as ciphertext (about 0.2% more than the plaintext).
 * A HEAD request gets the headers alone: its writes succeed and send
 * nothing. */
void cv_http_stream_start(cv_http_req *r, int status, const char *content_type, const char *extra_headers);
int cv_http_stream_write(cv_http_req *r, const void *data, size_t len, size_t max_queued);
void cv_http_stream_end(cv_http_req *r);
/* Called once if the client goes away while a request is pending or
 * streaming (NULL to clear). The request is freed after it returns (pending)
 * or once cv_http_stream_end is called (streaming; calling it from fn is
 * fine, and writes there fail with -EPIPE). Without fn, a pending request
 * waits for its (dropped) answer: check cv_http_req_alive. */
void cv_http_req_on_gone(cv_http_req *r, void (*fn)(void *ctx, cv_http_req *r), void *ctx);

const char *cv_http_status_text(int status);

typedef struct {
    uint32_t connections;
    uint64_t requests;
    uint64_t bad_requests;
    uint64_t refused_connections;
    uint64_t timeouts;        /* 408s and idle closes (a handshake too slow too) */
    /* TLS handshakes a client began (sent bytes) and did not finish: refused,
     * not TLS at all, timed out, or the client left. */
    uint64_t tls_failures;
    uint64_t bytes_out;       /* response bytes written (plaintext, before TLS) */
} cv_http_server_stats;
void cv_http_server_get_stats(const cv_http_server *s, cv_http_server_stats *out);

#endif
