#define CV_LOG_MODULE "rtsp"
/* The RTSP connection's transport: plain TCP or TLS (RTSPS). The protocol
 * code in server.c neither knows nor cares which: it writes through
 * cv__rtsp_submit / cv__rtsp_send_bytes and reads rbuf. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "rtsp/server-int.h"

/* ---------------------------------------------------------------- writing */

static void write_done(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    conn *c = w->c;
    if (w->f) {
        if (!c->closing && c->sess && c->sess->sub)
            cv_sub_written(c->sess->sub);
        cv_frame_unref(w->f);
    }
    if (status < 0 && status != UV_ECANCELED && !c->closing)
        cv__rtsp_conn_close(c, uv_strerror(status));
    free(w->bufs);
    free(w->hdrs);
    free(w->copy);
    free(w);
}

/* An RTSPS connection whose records could not all be handed to the socket
 * has a hole in its TLS stream: it cannot go on. Closed from the timer,
 * never from inside the hub's callback. */
static int tls_broken(conn *c, int rc, const char *why)
{
    if (!c->doom)
        c->doom = why;
    if (!c->closing)
        uv_timer_start(&c->timer, cv__rtsp_on_tick, 0, 1000);
    return rc < 0 ? rc : -EPIPE;
}

/* The transport: every byte for the socket passes through here. A plain
 * connection hands the caller's buffers to uv_write as they are (zero-copy:
 * w keeps what they point into alive until write_done). An RTSPS connection
 * encrypts them at once into one owned buffer, taking along whatever the
 * engine had queued (handshake, tickets), so nothing waits inside the TLS
 * layer: the bytes in flight are uv_write's, and a media write completes,
 * for the hub's per-viewer byte and age limits, exactly as a plain one. */
int cv__rtsp_submit(conn *c, wreq *w, const uv_buf_t *bufs, unsigned nbufs)
{
    if (!c->tls)
        return uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, nbufs, write_done);
    for (unsigned i = 0; i < nbufs; i++) {
        int rc = cv_tls_conn_write(c->tls, bufs[i].base, bufs[i].len);
        if (rc < 0)
            return tls_broken(c, rc, rc == -EPROTO ? "TLS failed" : "TLS write failed");
    }
    size_t len = cv_tls_conn_pending_out(c->tls);
    char *ct = len <= UINT32_MAX ? malloc(len ? len : 1) : NULL;
    if (!ct)
        return tls_broken(c, -ENOMEM, "out of memory");
    len = cv_tls_conn_take_out(c->tls, ct, len);
    /* The plaintext is no longer needed; the frame reference stays so that
     * write_done reports this write to the hub. */
    free(w->bufs);
    free(w->hdrs);
    free(w->copy);
    w->bufs = NULL;
    w->hdrs = NULL;
    w->copy = ct;
    uv_buf_t b = uv_buf_init(ct, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done);
    return rc < 0 ? tls_broken(c, rc, "write failed") : 0;
}

/* RTSPS: sends what the engine produced by itself (handshake, alerts). */
int cv__rtsp_tls_flush(conn *c)
{
    if (c->closing || cv_tls_conn_pending_out(c->tls) == 0)
        return 0;
    wreq *w = calloc(1, sizeof(*w));
    if (!w)
        return tls_broken(c, -ENOMEM, "out of memory");
    w->c = c;
    int rc = cv__rtsp_submit(c, w, NULL, 0);
    if (rc < 0) {
        free(w->copy);
        free(w);
    }
    return rc;
}

int cv__rtsp_send_bytes(conn *c, const void *data, size_t len)
{
    if (c->closing)
        return -EPIPE;
    wreq *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->c = c;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    if (!c->tls) { /* TLS encrypts at once: no copy needed */
        w->copy = malloc(len);
        if (!w->copy) {
            free(w);
            return -ENOMEM;
        }
        memcpy(w->copy, data, len);
        b.base = w->copy;
    }
    int rc = cv__rtsp_submit(c, w, &b, 1);
    if (rc < 0) {
        free(w->copy);
        free(w);
        return rc;
    }
    return 0;
}

void cv__rtsp_conn_free(conn *c)
{
    cv_tls_conn_free(c->tls);
    free(c->tbuf);
    cv_sbuf_free(&c->out);
    free(c->rbuf);
    free(c);
}

/* ---------------------------------------------------------------- reading */

static void rbuf_grow(conn *c)
{
    if (c->rcap - c->rlen < 2048 && c->rcap < RBUF_MAX) {
        size_t cap = CV_MIN(c->rcap * 2, (size_t)RBUF_MAX);
        uint8_t *p = realloc(c->rbuf, cap);
        if (p) {
            c->rbuf = p;
            c->rcap = cap;
        }
    }
}

void cv__rtsp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)suggested;
    if (c->draining)
        c->rlen = 0;
    if (c->tls) {
        *buf = uv_buf_init((char *)c->tbuf, TBUF_CAP);
        return;
    }
    rbuf_grow(c);
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

/* RTSPS: ciphertext from the socket. Feeds the engine, sends what it
 * answers (handshake, alerts), then moves decrypted bytes into rbuf and
 * handles them exactly as plain input. Not TLS, or a failed handshake:
 * the alert (if any) goes out and the connection ends. */
static void tls_input(conn *c, const uint8_t *data, size_t len)
{
    bool was_done = cv_tls_conn_handshake_done(c->tls);
    c->tls_started = true;
    if (cv_tls_conn_feed(c->tls, data, len) < 0) {
        if (!was_done && !c->tls_counted) {
            c->tls_counted = true;
            c->srv->stats.tls_failures++;
        }
        CV_INFO("%p: TLS with %s failed: %s", (void *)c, c->peer, cv_tls_conn_error(c->tls));
        if (cv__rtsp_tls_flush(c) == 0)
            cv__rtsp_conn_linger(c, "TLS failed");
        return;
    }
    if (cv__rtsp_tls_flush(c) < 0)
        return;
    if (!was_done && cv_tls_conn_handshake_done(c->tls))
        CV_DEBUG("%p: TLS up with %s", (void *)c, c->peer);
    while (!c->closing && !c->draining && !c->doom) {
        rbuf_grow(c);
        if (c->rlen == c->rcap)
            break;
        long n = cv_tls_conn_read(c->tls, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n == 0)
            break;
        if (n < 0) {
            cv__rtsp_conn_close(c, n == -EPIPE ? "peer closed" : cv_tls_conn_error(c->tls));
            return;
        }
        c->rlen += (size_t)n;
        cv__rtsp_input(c);
    }
    if (!c->closing && !c->draining)
        (void)cv__rtsp_tls_flush(c); /* e.g. a key update answered while reading */
}

void cv__rtsp_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = st->data;
    (void)buf;
    if (nread < 0) {
        cv__rtsp_conn_close(c, nread == UV_EOF ? "peer closed" : uv_strerror((int)nread));
        return;
    }
    if (nread == 0)
        return;
    if (c->draining)
        return; /* the answer is sent; what follows is discarded */
    c->last_activity_us = cv_now_us();
    if (c->tls) {
        tls_input(c, c->tbuf, (size_t)nread);
        return;
    }
    c->rlen += (size_t)nread;
    cv__rtsp_input(c);
}

/* RTSPS: counts a handshake the client began and never finished, and sends
 * a close_notify when the socket takes it at once (queued writes are
 * cancelled by the close anyway). */
void cv__rtsp_tls_close(conn *c)
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
