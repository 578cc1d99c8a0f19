/* RTSP pull client: one camera, one connection at a time, reconnecting with
 * capped exponential backoff.
 *
 * Lifetimes: every connection attempt is a `sess` that owns its handles (TCP,
 * UDP pairs, a tick timer) and the DNS request. Killing a session detaches it
 * from the stream at once and closes its handles; its memory goes in the last
 * close callback, so a callback that is already running (a read, a depack
 * emit) never sees freed memory. The puller itself is freed once it is
 * stopping, its retry timer has closed and no session is left. */
#define CV_LOG_MODULE "pull"

#include "rtsp/puller.h"

#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/addr.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "base/util.h"
#include "rtp/depack.h"
#include "rtp/rtcp.h"
#include "rtp/reorder.h"
#include "rtp/rtp.h"
#include "rtsp/auth.h"
#include "rtsp/msg.h"
#include "rtsp/sdp.h"
#include "rtsp/url.h"

#define RBUF_INIT (16u * 1024)
#define RBUF_CAP (256u * 1024)        /* hard cap on buffered input from the camera */
#define UBUF_LEN 65536u               /* one UDP datagram */
#define MAX_SESSION_ID 256
#define MAX_EXTRA 512
#define DEFAULT_BACKOFF_MIN_US 500000
#define DEFAULT_BACKOFF_MAX_US 30000000
#define DEFAULT_TIMEOUT_US 10000000
#define DEFAULT_SESSION_TIMEOUT_S 60
#define MAX_CONFIG_US (3600LL * 1000000) /* cap on configured delays */
#define RR_INTERVAL_US 5000000
#define GOOD_SESSION_US 10000000      /* a session this long resets the backoff */
#define UDP_RCVBUF (2 * 1024 * 1024)
#define USER_AGENT "camvault/0.1"

typedef enum {
    ST_RESOLVING,
    ST_CONNECTING,
    ST_OPTIONS,
    ST_DESCRIBE,
    ST_SETUP,
    ST_PLAY,
    ST_PLAYING,
} sess_state;

typedef enum {
    REQ_NONE,
    REQ_OPTIONS,
    REQ_DESCRIBE,
    REQ_SETUP,
    REQ_PLAY,
    REQ_KEEPALIVE,
} req_kind;

typedef struct sess sess;

typedef struct {
    sess *s;
    cv_track_info info;
    char uri[CV_RTSP_MAX_URI];
    char encoding[32];
    cv_rtp_depack *depack;
    cv_rtp_reorder *reorder; /* UDP: puts datagrams back in order before depack */
    int ch[2];               /* TCP: interleaved channels (RTP, RTCP) */
    uv_udp_t udp[2];         /* UDP: RTP, RTCP sockets */
    bool udp_init[2];
    int client_port[2];
    int server_port[2];      /* -1 when the camera did not say */
    /* receiver report state */
    bool have_seq;
    uint16_t max_seq;
    uint32_t cycles;
    uint32_t media_ssrc;
    uint32_t lsr;
    int64_t lsr_at_us;
} ptrack;

struct sess {
    cv_puller *p;
    int pending;             /* open handles + outstanding DNS request */
    bool dead;
    sess_state state;
    bool udp;                /* lower transport of this attempt */

    uv_timer_t tick;
    uv_getaddrinfo_t gai;
    bool gai_pending;
    uv_tcp_t tcp;
    bool tcp_init;
    bool tcp_connected;
    bool peer_closed;        /* no TEARDOWN: the connection is gone */
    uv_connect_t connect_req;
    struct sockaddr_storage peer;
    int64_t connect_deadline_us;

    uint8_t *rbuf;
    size_t rlen, rcap;
    uint8_t *ubuf;

    /* the one request in flight */
    int next_cseq;
    req_kind req;
    int req_cseq;
    int req_track;
    int64_t req_deadline_us;
    char req_method[16];
    char req_uri[CV_RTSP_MAX_URI];
    char req_extra[MAX_EXTRA];

    bool have_auth;
    bool stale_used;
    cv_auth_challenge auth;
    bool get_parameter;      /* camera lists GET_PARAMETER in Public */

    char session_id[MAX_SESSION_ID];
    int session_timeout_s;
    char base[CV_RTSP_MAX_URI];
    char play_uri[CV_RTSP_MAX_URI];

    ptrack t[CV_MAX_TRACKS];
    size_t nt;
    size_t setup_i;

    bool attached;
    bool got_media;
    int64_t first_media_us, last_media_us;
    int64_t next_ka_us, next_rr_us;
    uint32_t our_ssrc;
};

struct cv_puller {
    uv_loop_t *loop;
    cv_stream *stream;
    cv_url url;                        /* holds the credentials: never logged */
    char pub[CV_RTSP_MAX_URI];         /* URL without credentials, for requests and logs */
    cv_puller_transport transport;
    bool auto_udp;                     /* AUTO: the camera refused TCP once */
    char bind_addr[64];
    int64_t backoff_min_us, backoff_max_us, timeout_us;
    int64_t backoff_us;
    int64_t retry_at_us;
    bool retry_pending;
    uv_timer_t retry;
    bool retry_closed;
    sess *cur;
    unsigned live_sessions;
    bool stopping;
    cv_puller_stats stats;
};

static void start_session(cv_puller *p);
static void sess_fail(sess *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int transmit(sess *s);

/* --- small helpers --- */

static int copy_str(char *out, size_t cap, const char *p, size_t len)
{
    if (len >= cap)
        return -ENAMETOOLONG;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

/* A URI or token that can go into a request line or header as is. */
static bool printable_token(const char *p, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f)
            return false;
    }
    return true;
}

static bool has_scheme_n(const char *s, size_t len)
{
    return (len >= 7 && strncasecmp(s, "rtsp://", 7) == 0) || (len >= 8 && strncasecmp(s, "rtsps://", 8) == 0);
}

static bool has_scheme(const char *s) { return has_scheme_n(s, strlen(s)); }

/* Resolves a=control against base: absolute URLs as they are, "*" or empty
 * means base itself, "/path" replaces base's path, anything else is appended
 * as a path segment (what cameras expect, RFC 2326 C.1.1). */
static int resolve_control(const char *base, const char *control, char *out, size_t cap)
{
    size_t clen = strlen(control);
    int n;
    if (clen == 0 || strcmp(control, "*") == 0)
        n = snprintf(out, cap, "%s", base);
    else if (has_scheme(control))
        n = snprintf(out, cap, "%s", control);
    else if (control[0] == '/') {
        const char *auth = strstr(base, "://");
        const char *slash = auth ? strchr(auth + 3, '/') : NULL;
        size_t blen = slash ? (size_t)(slash - base) : strlen(base);
        n = snprintf(out, cap, "%.*s%s", (int)blen, base, control);
    } else {
        size_t blen = strlen(base);
        bool slash = blen > 0 && base[blen - 1] == '/';
        n = snprintf(out, cap, "%s%s%s", base, slash ? "" : "/", control);
    }
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    return printable_token(out, (size_t)n) ? 0 : -EINVAL;
}

/* Case-insensitive search of token in a comma/space separated list. */
static bool list_has_token(cv_str v, const char *tok)
{
    size_t tl = strlen(tok);
    size_t i = 0;
    while (i < v.len) {
        while (i < v.len && (v.p[i] == ',' || v.p[i] == ' ' || v.p[i] == '\t'))
            i++;
        size_t st = i;
        while (i < v.len && v.p[i] != ',' && v.p[i] != ' ' && v.p[i] != '\t')
            i++;
        if (i - st == tl && strncasecmp(v.p + st, tok, tl) == 0)
            return true;
    }
    return false;
}

/* stale=true (or stale="true") anywhere in a challenge. */
static bool challenge_is_stale(cv_str v)
{
    for (size_t i = 0; i + 5 <= v.len; i++) {
        if (strncasecmp(v.p + i, "stale", 5) != 0)
            continue;
        if (i > 0 && v.p[i - 1] != ' ' && v.p[i - 1] != ',' && v.p[i - 1] != '\t')
            continue;
        size_t j = i + 5;
        while (j < v.len && (v.p[j] == ' ' || v.p[j] == '\t'))
            j++;
        if (j >= v.len || v.p[j] != '=')
            continue;
        j++;
        while (j < v.len && (v.p[j] == ' ' || v.p[j] == '\t'))
            j++;
        if (j < v.len && v.p[j] == '"')
            j++;
        return v.len - j >= 4 && strncasecmp(v.p + j, "true", 4) == 0;
    }
    return false;
}

/* --- backoff and puller lifetime --- */

static void maybe_free_puller(cv_puller *p)
{
    if (!p->stopping || !p->retry_closed || p->live_sessions)
        return;
    cv_stream_unref(p->stream);
    sodium_memzero(&p->url, sizeof(p->url));
    free(p);
}

static void on_retry(uv_timer_t *t)
{
    cv_puller *p = t->data;
    p->retry_pending = false;
    if (!p->stopping)
        start_session(p);
}

static void schedule_retry(cv_puller *p)
{
    if (p->stopping)
        return;
    /* +-20% jitter so that cameras behind one failing switch do not return in lockstep */
    int64_t delay = p->backoff_us * (80 + (int64_t)randombytes_uniform(41)) / 100;
    if (delay < 1000)
        delay = 1000;
    p->backoff_us = CV_MIN(p->backoff_us * 2, p->backoff_max_us);
    p->retry_at_us = cv_now_us() + delay;
    p->retry_pending = true;
    p->stats.next_retry_in_us = delay;
    uv_timer_start(&p->retry, on_retry, (uint64_t)(delay / 1000), 0);
    CV_INFO("%p: %s: retrying in %lld ms", (void *)p, p->pub, (long long)(delay / 1000));
}

/* --- session lifetime --- */

static void sess_free(sess *s)
{
    cv_puller *p = s->p;
    for (size_t i = 0; i < s->nt; i++) {
        cv_rtp_depack_free(s->t[i].depack);
        cv_rtp_reorder_free(s->t[i].reorder);
    }
    free(s->rbuf);
    free(s->ubuf);
    free(s);
    p->live_sessions--;
    maybe_free_puller(p);
}

static void sess_unref(sess *s)
{
    if (--s->pending == 0)
        sess_free(s);
}

static void on_handle_closed(uv_handle_t *h) { sess_unref(h->data); }

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
}

/* Best effort, no waiting: the socket closes right after. */
static void send_teardown(sess *s)
{
    cv_sbuf b;
    cv_sbuf_init(&b);
    const char *uri = s->play_uri[0] ? s->play_uri : s->p->pub;
    cv_sbuf_printf(&b, "TEARDOWN %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: " USER_AGENT "\r\n", uri,
                   s->next_cseq++);
    if (s->have_auth) {
        cv_sbuf_puts(&b, "Authorization: ");
        if (cv_auth_make_header(&s->auth, s->p->url.user, s->p->url.pass, "TEARDOWN", uri, &b) < 0)
            b.oom = true;
        cv_sbuf_puts(&b, "\r\n");
    }
    cv_sbuf_printf(&b, "Session: %s\r\n\r\n", s->session_id);
    if (cv_sbuf_ok(&b)) {
        uv_buf_t buf = uv_buf_init(b.p, (unsigned)b.len);
        (void)uv_try_write((uv_stream_t *)&s->tcp, &buf, 1);
    }
    if (b.p)
        sodium_memzero(b.p, b.cap);
    cv_sbuf_free(&b);
}

/* Ends the session: detaches at once, closes everything, frees later. */
static void sess_close(sess *s, bool teardown)
{
    if (s->dead)
        return;
    s->dead = true;
    cv_puller *p = s->p;
    if (p->cur == s)
        p->cur = NULL;
    if (s->attached) {
        cv_stream_detach(p->stream, p);
        s->attached = false;
    }
    p->stats.connected = false;
    if (teardown && s->tcp_connected && !s->peer_closed && s->session_id[0] && s->state >= ST_PLAY)
        send_teardown(s);
    if (s->gai_pending)
        uv_cancel((uv_req_t *)&s->gai);
    close_handle((uv_handle_t *)&s->tick);
    if (s->tcp_init)
        close_handle((uv_handle_t *)&s->tcp);
    for (size_t i = 0; i < CV_MAX_TRACKS; i++)
        for (int j = 0; j < 2; j++)
            if (s->t[i].udp_init[j])
                close_handle((uv_handle_t *)&s->t[i].udp[j]);
}

static void sess_fail(sess *s, const char *fmt, ...)
{
    if (s->dead)
        return;
    cv_puller *p = s->p;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->stats.last_error, sizeof(p->stats.last_error), fmt, ap);
    va_end(ap);
    for (char *c = p->stats.last_error; *c; c++) /* reason phrases come from the camera */
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    CV_WARN("%p: %s: %s", (void *)p, p->pub, p->stats.last_error);
    bool good = s->got_media && s->last_media_us - s->first_media_us > GOOD_SESSION_US;
    sess_close(s, true);
    if (good)
        p->backoff_us = p->backoff_min_us;
    schedule_retry(p);
}

/* --- writing --- */

typedef struct {
    uv_write_t req;
    sess *s;
    uint8_t data[];
} wreq;

static void on_written(uv_write_t *r, int status)
{
    wreq *w = (wreq *)r;
    /* Write callbacks run before the handle's close callback: s is alive. */
    if (status < 0 && status != UV_ECANCELED)
        sess_fail(w->s, "write: %s", uv_strerror(status));
    free(w);
}

static int sess_write(sess *s, const void *data, size_t len)
{
    size_t sz;
    if (len > UINT32_MAX || __builtin_add_overflow(sizeof(wreq), len, &sz))
        return -EMSGSIZE;
    wreq *w = malloc(sz);
    if (!w)
        return -ENOMEM;
    w->s = s;
    memcpy(w->data, data, len);
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_written);
    if (rc < 0) {
        free(w);
        return rc;
    }
    return 0;
}

/* Sends (or resends, after a 401) the request described by s->req_*. */
static int transmit(sess *s)
{
    cv_puller *p = s->p;
    cv_sbuf b;
    int rc = 0;
    cv_sbuf_init(&b);
    s->req_cseq = s->next_cseq++;
    cv_sbuf_printf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: " USER_AGENT "\r\n", s->req_method, s->req_uri,
                   s->req_cseq);
    if (s->have_auth) {
        cv_sbuf_puts(&b, "Authorization: ");
        if ((rc = cv_auth_make_header(&s->auth, p->url.user, p->url.pass, s->req_method, s->req_uri, &b)) < 0)
            goto out;
        cv_sbuf_puts(&b, "\r\n");
    }
    if (s->session_id[0])
        cv_sbuf_printf(&b, "Session: %s\r\n", s->session_id);
    cv_sbuf_printf(&b, "%s\r\n", s->req_extra);
    if (!cv_sbuf_ok(&b)) {
        rc = -ENOMEM;
        goto out;
    }
    rc = sess_write(s, b.p, b.len);
    s->req_deadline_us = cv_now_us() + p->timeout_us;
out:
    if (b.p)
        sodium_memzero(b.p, b.cap); /* may hold Basic credentials */
    cv_sbuf_free(&b);
    return rc;
}

static void send_request(sess *s, req_kind kind, const char *method, const char *uri, const char *extra)
{
    s->req = kind;
    if (copy_str(s->req_method, sizeof(s->req_method), method, strlen(method)) < 0 ||
        copy_str(s->req_uri, sizeof(s->req_uri), uri, strlen(uri)) < 0 ||
        copy_str(s->req_extra, sizeof(s->req_extra), extra, strlen(extra)) < 0) {
        sess_fail(s, "%s: request too long", method);
        return;
    }
    int rc = transmit(s);
    if (rc < 0)
        sess_fail(s, "%s: cannot send: %s", method, uv_strerror(rc));
}

/* --- RTP / RTCP --- */

static void on_frame(void *ctx, cv_frame *f)
{
    ptrack *t = ctx;
    sess *s = t->s;
    if (s->dead || !s->attached)
        return;
    if (cv_stream_publish(s->p->stream, s->p, f) == 0)
        s->p->stats.frames++;
}

static void on_rtp(sess *s, ptrack *t, const uint8_t *pkt, size_t len)
{
    cv_rtp_hdr h;
    if (cv_rtp_parse(pkt, len, &h) < 0)
        return;
    int64_t now = cv_now_us();
    if (!t->have_seq) {
        t->have_seq = true;
        t->max_seq = h.seq;
    } else {
        uint16_t d = (uint16_t)(h.seq - t->max_seq);
        if (d != 0 && d < 0x8000) {
            if (h.seq < t->max_seq)
                t->cycles += 0x10000;
            t->max_seq = h.seq;
        }
    }
    t->media_ssrc = h.ssrc;
    s->last_media_us = now;
    if (s->state == ST_PLAYING && !s->got_media) {
        s->got_media = true;
        s->first_media_us = now;
        s->p->stats.connected = true;
    }
    (void)cv_rtp_depack_push(t->depack, pkt, len, on_frame, t);
}

static void on_rtcp(sess *s, ptrack *t, const uint8_t *pkt, size_t len)
{
    cv_rtcp_info info;
    if (cv_rtcp_parse(pkt, len, &info) < 0)
        return;
    if (info.has_sr) {
        t->lsr = (uint32_t)(info.sr_ntp >> 16);
        t->lsr_at_us = cv_now_us();
    }
    if (info.bye && s->state == ST_PLAYING)
        sess_fail(s, "camera sent RTCP BYE");
}

static void send_rr(sess *s, ptrack *t)
{
    uint8_t buf[4 + 256];
    cv_rtp_depack_stats st;
    cv_rtp_depack_get_stats(t->depack, &st);
    uint32_t lost = st.lost > 0x7fffff ? 0x7fffff : (uint32_t)st.lost;
    uint32_t dlsr = 0;
    if (t->lsr_at_us)
        dlsr = (uint32_t)((cv_now_us() - t->lsr_at_us) * 65536 / 1000000);
    int n = cv_rtcp_build_rr(buf + 4, sizeof(buf) - 4, s->our_ssrc, t->have_seq ? t->media_ssrc : 0,
                             t->cycles | t->max_seq, lost, t->lsr, t->lsr_at_us ? dlsr : 0, "camvault");
    if (n < 0)
        return;
    if (!s->udp) {
        buf[0] = '$';
        buf[1] = (uint8_t)t->ch[1];
        cv_wr_be16(buf + 2, (uint16_t)n);
        int rc = sess_write(s, buf, (size_t)n + 4);
        if (rc < 0)
            sess_fail(s, "write: %s", uv_strerror(rc));
    } else if (t->server_port[1] > 0 && t->udp_init[1]) {
        struct sockaddr_storage to = s->peer;
        cv_addr_set_port(&to, t->server_port[1]);
        uv_buf_t b = uv_buf_init((char *)buf + 4, (unsigned)n);
        (void)uv_udp_try_send(&t->udp[1], &b, 1, (const struct sockaddr *)&to);
    }
}

/* --- UDP --- */

static void on_rtp_reordered(void *ctx, const uint8_t *pkt, size_t len)
{
    ptrack *t = ctx;
    on_rtp(t->s, t, pkt, len);
}

static void on_udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sess *s = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)s->ubuf, s->ubuf ? UBUF_LEN : 0);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                        unsigned flags)
{
    sess *s = h->data;
    if (s->dead || nread <= 0 || !addr || (flags & UV_UDP_PARTIAL))
        return;
    if (!cv_addr_same_host(addr, &s->peer))
        return; /* only the camera may feed this stream */
    for (size_t i = 0; i < s->nt; i++) {
        ptrack *t = &s->t[i];
        if (h == &t->udp[0]) {
            cv_rtp_reorder_push(t->reorder, (const uint8_t *)buf->base, (size_t)nread, cv_now_us(), on_rtp_reordered,
                                t);
            return;
        }
        if (h == &t->udp[1]) {
            on_rtcp(s, t, (const uint8_t *)buf->base, (size_t)nread);
            return;
        }
    }
}

static int bind_sock(int family, const char *addr, int port, int *fd_out, int *port_out)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    int rc = family == AF_INET6 ? uv_ip6_addr(addr, port, (struct sockaddr_in6 *)&ss)
                                : uv_ip4_addr(addr, port, (struct sockaddr_in *)&ss);
    if (rc < 0)
        return rc;
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&ss, cv_addr_len(&ss)) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    *fd_out = fd;
    *port_out = cv_addr_port(&ss);
    return 0;
}

/* Two UDP sockets, preferably on an even port and the next one (RFC 3550
 * 11), as many cameras assume RTCP = RTP + 1. */
static int bind_pair(int family, const char *addr, int fds[2], int ports[2])
{
    int rc;
    for (int attempt = 0; attempt < 32; attempt++) {
        if ((rc = bind_sock(family, addr, 0, &fds[0], &ports[0])) < 0)
            return rc;
        if ((ports[0] & 1) == 0 && ports[0] < 65534 &&
            bind_sock(family, addr, ports[0] + 1, &fds[1], &ports[1]) == 0)
            return 0;
        close(fds[0]);
    }
    if ((rc = bind_sock(family, addr, 0, &fds[0], &ports[0])) < 0)
        return rc;
    if ((rc = bind_sock(family, addr, 0, &fds[1], &ports[1])) < 0) {
        close(fds[0]);
        return rc;
    }
    return 0;
}

static int open_udp(sess *s, ptrack *t)
{
    cv_puller *p = s->p;
    int fds[2], rc;
    const char *addr = p->bind_addr;
    int family = s->peer.ss_family;
    if (!addr[0]) {
        bool lo = cv_addr_is_loopback(&s->peer);
        addr = family == AF_INET6 ? (lo ? "::1" : "::") : (lo ? "127.0.0.1" : "0.0.0.0");
    } else {
        struct sockaddr_in6 tmp;
        family = uv_ip6_addr(addr, 0, &tmp) == 0 ? AF_INET6 : AF_INET;
    }
    if (!s->ubuf && !(s->ubuf = malloc(UBUF_LEN)))
        return -ENOMEM;
    if ((rc = bind_pair(family, addr, fds, t->client_port)) < 0)
        return rc;
    for (int j = 0; j < 2; j++) {
        if ((rc = uv_udp_init(s->p->loop, &t->udp[j])) < 0) {
            for (int k = j; k < 2; k++)
                close(fds[k]);
            return rc;
        }
        t->udp[j].data = s;
        t->udp_init[j] = true;
        s->pending++;
        if ((rc = uv_udp_open(&t->udp[j], fds[j])) < 0) {
            for (int k = j; k < 2; k++)
                close(fds[k]);
            return rc;
        }
    }
    int sz = UDP_RCVBUF;
    (void)uv_recv_buffer_size((uv_handle_t *)&t->udp[0], &sz);
    for (int j = 0; j < 2; j++)
        if ((rc = uv_udp_recv_start(&t->udp[j], on_udp_alloc, on_udp_recv)) < 0)
            return rc;
    return 0;
}

/* --- request sequence --- */

static void send_setup(sess *s)
{
    ptrack *t = &s->t[s->setup_i];
    char extra[MAX_EXTRA];
    if (s->udp) {
        int rc = open_udp(s, t);
        if (rc < 0) {
            sess_fail(s, "cannot open UDP ports: %s", uv_strerror(rc));
            return;
        }
        snprintf(extra, sizeof(extra), "Transport: RTP/AVP;unicast;client_port=%d-%d\r\n", t->client_port[0],
                 t->client_port[1]);
    } else {
        snprintf(extra, sizeof(extra), "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n", t->ch[0], t->ch[1]);
    }
    s->req_track = (int)s->setup_i;
    send_request(s, REQ_SETUP, "SETUP", t->uri, extra);
}

static void send_keepalive(sess *s)
{
    send_request(s, REQ_KEEPALIVE, s->get_parameter ? "GET_PARAMETER" : "OPTIONS", s->play_uri, "");
}

/* AUTO: the camera refused TCP. Before any SETUP succeeded there is no RTSP
 * session yet, so SETUP again over UDP on this connection (the camera keeps
 * its prepared media; a new connection could find it still tearing down);
 * otherwise redo the whole session over UDP. Once UDP played, reconnects go
 * straight to UDP. */
static void fallback_udp(sess *s, int status)
{
    cv_puller *p = s->p;
    CV_INFO("%p: %s: camera refused TCP transport (%d), switching to UDP", (void *)p, p->pub, status);
    if (!s->session_id[0] && s->setup_i == 0) {
        s->udp = true;
        send_setup(s);
        return;
    }
    p->auto_udp = true;
    snprintf(p->stats.last_error, sizeof(p->stats.last_error), "SETUP over TCP refused: %d", status);
    sess_close(s, true);
    start_session(p);
}

/* Handles a 401: parses every challenge, keeps Digest over Basic, resends. */
static void on_unauthorized(sess *s, const cv_rtsp_msg *m)
{
    cv_puller *p = s->p;
    cv_auth_challenge best, c;
    bool have = false, stale = false;
    for (size_t i = 0; i < m->nheaders; i++) {
        if (!cv_str_ieq_c(m->headers[i].name, "WWW-Authenticate"))
            continue;
        if (cv_auth_parse_challenge(m->headers[i].value, &c) < 0)
            continue;
        if (!have || (c.digest && !best.digest)) {
            best = c;
            stale = c.digest && challenge_is_stale(m->headers[i].value);
            have = true;
        }
    }
    if (!p->url.has_user) {
        sess_fail(s, "%s: 401 Unauthorized (no credentials in the URL)", s->req_method);
        return;
    }
    if (!have) {
        sess_fail(s, "%s: 401 Unauthorized without a usable challenge", s->req_method);
        return;
    }
    if (s->have_auth) {
        if (!stale || s->stale_used) {
            sess_fail(s, "%s: 401 Unauthorized (credentials refused)", s->req_method);
            return;
        }
        s->stale_used = true;
    }
    s->auth = best;
    s->have_auth = true;
    int rc = transmit(s);
    if (rc < 0)
        sess_fail(s, "%s: cannot send: %s", s->req_method, uv_strerror(rc));
}

static void on_options(sess *s, const cv_rtsp_msg *m)
{
    const cv_str *pub = cv_rtsp_msg_header(m, "Public");
    if (m->status / 100 == 2 && pub)
        s->get_parameter = list_has_token(*pub, "GET_PARAMETER");
    /* Some cameras get OPTIONS wrong; DESCRIBE decides. */
    s->state = ST_DESCRIBE;
    send_request(s, REQ_DESCRIBE, "DESCRIBE", s->p->pub, "Accept: application/sdp\r\n");
}

static int pick_base(sess *s, const cv_rtsp_msg *m)
{
    static const char *const names[] = {"Content-Base", "Content-Location"};
    for (size_t i = 0; i < CV_ARRAY_LEN(names); i++) {
        const cv_str *v = cv_rtsp_msg_header(m, names[i]);
        if (v && has_scheme_n(v->p, v->len)) {
            if (!printable_token(v->p, v->len))
                return -EINVAL;
            return copy_str(s->base, sizeof(s->base), v->p, v->len);
        }
    }
    return copy_str(s->base, sizeof(s->base), s->req_uri, strlen(s->req_uri));
}

static void on_describe(sess *s, const cv_rtsp_msg *m)
{
    cv_puller *p = s->p;
    cv_sdp *sdp = NULL;
    char err[128];
    if (m->status / 100 != 2) {
        sess_fail(s, "DESCRIBE: %d %.*s", m->status, (int)CV_MIN(m->reason.len, 64), m->reason.p);
        return;
    }
    if (m->body.len == 0) {
        sess_fail(s, "DESCRIBE: empty SDP");
        return;
    }
    if (!(sdp = malloc(sizeof(*sdp)))) {
        sess_fail(s, "out of memory");
        return;
    }
    err[0] = '\0';
    if (cv_sdp_parse(m->body.p, m->body.len, sdp, err, sizeof(err)) < 0) {
        sess_fail(s, "bad SDP: %s", err);
        goto out;
    }
    if (pick_base(s, m) < 0) {
        sess_fail(s, "DESCRIBE: unusable Content-Base");
        goto out;
    }
    for (size_t i = 0; i < sdp->ntracks; i++) {
        const cv_track_info *ti = &sdp->tracks[i];
        if (ti->codec == CV_CODEC_UNKNOWN) {
            CV_INFO("%p: %s: skipping %s track %zu: codec %s not supported", (void *)p, p->pub,
                    cv_media_kind_name(ti->kind), i, sdp->encoding[i][0] ? sdp->encoding[i] : "?");
            continue;
        }
        if (s->nt >= CV_MAX_TRACKS) {
            CV_INFO("%p: %s: skipping track %zu: more than %d tracks", (void *)p, p->pub, i, CV_MAX_TRACKS);
            continue;
        }
        ptrack *t = &s->t[s->nt];
        if (resolve_control(s->base, ti->control, t->uri, sizeof(t->uri)) < 0) {
            CV_INFO("%p: %s: skipping track %zu: unusable control URL", (void *)p, p->pub, i);
            continue;
        }
        t->depack = cv_rtp_depack_new(ti, cv_stream_camera(p->stream), (uint8_t)s->nt);
        t->reorder = cv_rtp_reorder_new(0);
        if (!t->reorder) {
            cv_rtp_depack_free(t->depack);
            t->depack = NULL;
        }
        if (!t->depack) {
            cv_rtp_reorder_free(t->reorder);
            t->reorder = NULL;
            CV_INFO("%p: %s: skipping %s track %zu: no depacketizer for %s", (void *)p, p->pub,
                    cv_media_kind_name(ti->kind), i, cv_codec_name(ti->codec));
            continue;
        }
        t->s = s;
        t->info = *ti;
        snprintf(t->encoding, sizeof(t->encoding), "%s", sdp->encoding[i]);
        t->ch[0] = (int)(2 * s->nt);
        t->ch[1] = (int)(2 * s->nt + 1);
        t->server_port[0] = t->server_port[1] = -1;
        s->nt++;
    }
    if (s->nt == 0) {
        sess_fail(s, "no supported track");
        goto out;
    }
    if (resolve_control(s->base, sdp->session_control, s->play_uri, sizeof(s->play_uri)) < 0) {
        sess_fail(s, "DESCRIBE: unusable session control URL");
        goto out;
    }
    s->state = ST_SETUP;
    s->setup_i = 0;
    send_setup(s);
out:
    free(sdp);
}

static void on_setup(sess *s, const cv_rtsp_msg *m)
{
    cv_puller *p = s->p;
    ptrack *t = &s->t[s->setup_i];
    if (m->status / 100 != 2) {
        if (!s->udp && p->transport == CV_PULLER_TRANSPORT_AUTO && m->status / 100 == 4) {
            fallback_udp(s, m->status);
            return;
        }
        sess_fail(s, "SETUP: %d %.*s", m->status, (int)CV_MIN(m->reason.len, 64), m->reason.p);
        return;
    }
    if (!s->session_id[0]) {
        const cv_str *sv = cv_rtsp_msg_header(m, "Session");
        cv_str id;
        int timeout = -1;
        if (!sv || cv_rtsp_parse_session(*sv, &id, &timeout) < 0 || !printable_token(id.p, id.len) ||
            copy_str(s->session_id, sizeof(s->session_id), id.p, id.len) < 0) {
            sess_fail(s, "SETUP: missing or bad Session header");
            return;
        }
        s->session_timeout_s = timeout > 0 ? CV_MIN(timeout, 3600) : DEFAULT_SESSION_TIMEOUT_S;
    }
    const cv_str *tv = cv_rtsp_msg_header(m, "Transport");
    cv_rtsp_transport tr;
    if (tv && cv_rtsp_parse_transport(*tv, &tr) == 0) {
        if (tr.tcp == s->udp || tr.multicast) {
            sess_fail(s, "SETUP: camera answered with another transport");
            return;
        }
        if (!s->udp && tr.interleaved[0] >= 0) {
            t->ch[0] = tr.interleaved[0];
            t->ch[1] = tr.interleaved[1] >= 0 ? tr.interleaved[1] : tr.interleaved[0] + 1;
            if (t->ch[0] > 255 || t->ch[1] > 255) {
                sess_fail(s, "SETUP: bad interleaved channels");
                return;
            }
        }
        if (s->udp) {
            t->server_port[0] = tr.server_port[0];
            t->server_port[1] = tr.server_port[1];
        }
    }
    if (!s->udp) {
        for (size_t i = 0; i < s->setup_i; i++) {
            const ptrack *o = &s->t[i];
            if (o->ch[0] == t->ch[0] || o->ch[0] == t->ch[1] || o->ch[1] == t->ch[0] || o->ch[1] == t->ch[1]) {
                sess_fail(s, "SETUP: camera reused interleaved channel %d", t->ch[0]);
                return;
            }
        }
    }
    if (++s->setup_i < s->nt) {
        send_setup(s);
        return;
    }
    s->state = ST_PLAY;
    send_request(s, REQ_PLAY, "PLAY", s->play_uri, "Range: npt=0.000-\r\n");
}

static void on_play(sess *s, const cv_rtsp_msg *m)
{
    cv_puller *p = s->p;
    if (m->status / 100 != 2) {
        sess_fail(s, "PLAY: %d %.*s", m->status, (int)CV_MIN(m->reason.len, 64), m->reason.p);
        return;
    }
    cv_track_info *tracks = calloc(s->nt, sizeof(*tracks));
    if (!tracks) {
        sess_fail(s, "out of memory");
        return;
    }
    for (size_t i = 0; i < s->nt; i++)
        tracks[i] = s->t[i].info;
    int rc = cv_stream_attach(p->stream, p, tracks, s->nt);
    free(tracks);
    if (rc == -EBUSY) {
        sess_fail(s, "camera busy: another source is publishing it");
        return;
    }
    if (rc < 0) {
        sess_fail(s, "cannot attach to the stream: %s", strerror(-rc));
        return;
    }
    int64_t now = cv_now_us();
    s->attached = true;
    s->state = ST_PLAYING;
    s->last_media_us = now; /* the no-media countdown starts now */
    s->next_ka_us = now + (int64_t)s->session_timeout_s * 1000000 / 2;
    s->next_rr_us = now + RR_INTERVAL_US;
    p->stats.sessions++;
    if (s->udp && p->transport == CV_PULLER_TRANSPORT_AUTO)
        p->auto_udp = true;
    char codecs[64] = "";
    size_t off = 0;
    for (size_t i = 0; i < s->nt && off < sizeof(codecs); i++) {
        int n = snprintf(codecs + off, sizeof(codecs) - off, "%s%s", i ? "+" : "", cv_codec_name(s->t[i].info.codec));
        if (n < 0)
            break;
        off += (size_t)n;
    }
    CV_INFO("%p: %s: playing %s over %s", (void *)p, p->pub, codecs, s->udp ? "UDP" : "TCP");
}

static void on_keepalive(sess *s, const cv_rtsp_msg *m)
{
    if (m->status == 454) {
        sess_fail(s, "camera lost the session (454)");
        return;
    }
    if ((m->status == 405 || m->status == 501) && s->get_parameter)
        s->get_parameter = false; /* fall back to OPTIONS */
}

/* A request from the camera (rare: some send GET_PARAMETER or ANNOUNCE). */
static void on_camera_request(sess *s, const cv_rtsp_msg *m)
{
    char buf[128];
    bool ok = cv_str_ieq_c(m->method, "OPTIONS") || cv_str_ieq_c(m->method, "GET_PARAMETER");
    int n = snprintf(buf, sizeof(buf), "RTSP/1.0 %s\r\nCSeq: %d\r\n\r\n", ok ? "200 OK" : "501 Not Implemented",
                     m->cseq < 0 ? 0 : m->cseq);
    if (n > 0 && (size_t)n < sizeof(buf)) {
        int rc = sess_write(s, buf, (size_t)n);
        if (rc < 0)
            sess_fail(s, "write: %s", uv_strerror(rc));
    }
}

static void on_message(sess *s, const cv_rtsp_msg *m)
{
    if (!m->is_response) {
        on_camera_request(s, m);
        return;
    }
    if (s->req == REQ_NONE || (m->cseq >= 0 && m->cseq != s->req_cseq)) {
        CV_DEBUG("%p: ignoring response with CSeq %d", (void *)s->p, m->cseq);
        return;
    }
    req_kind kind = s->req;
    if (m->status == 401) {
        on_unauthorized(s, m);
        return;
    }
    s->req = REQ_NONE;
    switch (kind) {
    case REQ_OPTIONS: on_options(s, m); break;
    case REQ_DESCRIBE: on_describe(s, m); break;
    case REQ_SETUP: on_setup(s, m); break;
    case REQ_PLAY: on_play(s, m); break;
    case REQ_KEEPALIVE: on_keepalive(s, m); break;
    case REQ_NONE: break;
    }
}

static void on_channel(sess *s, uint8_t ch, const uint8_t *pl, size_t len)
{
    for (size_t i = 0; i < s->nt; i++) {
        ptrack *t = &s->t[i];
        if (t->ch[0] == ch) {
            on_rtp(s, t, pl, len);
            return;
        }
        if (t->ch[1] == ch) {
            on_rtcp(s, t, pl, len);
            return;
        }
    }
}

/* Consumes whole messages and interleaved frames from the read buffer. */
static void process_input(sess *s)
{
    size_t off = 0;
    while (!s->dead && off < s->rlen) {
        const uint8_t *b = s->rbuf + off;
        size_t n = s->rlen - off;
        if (b[0] == '\r' || b[0] == '\n') { /* stray line ends between messages */
            off++;
            continue;
        }
        int rc;
        if (b[0] == '$') {
            uint8_t ch;
            const uint8_t *pl;
            size_t plen;
            rc = cv_rtsp_parse_interleaved(b, n, &ch, &pl, &plen);
            if (rc == 0)
                break;
            if (rc < 0 || (size_t)rc > n) {
                sess_fail(s, "bad interleaved frame from camera");
                return;
            }
            on_channel(s, ch, pl, plen);
        } else {
            cv_rtsp_msg m;
            rc = cv_rtsp_parse(b, n, &m);
            if (rc == 0)
                break;
            if (rc < 0 || (size_t)rc > n) {
                sess_fail(s, "unparseable data from camera (%s)",
                          rc == -EMSGSIZE ? "message too large" : rc == -EPROTONOSUPPORT ? "not RTSP/1.0"
                                                                                       : "malformed message");
                return;
            }
            on_message(s, &m);
        }
        off += (size_t)rc;
    }
    if (s->dead)
        return;
    if (off) {
        memmove(s->rbuf, s->rbuf + off, s->rlen - off);
        s->rlen -= off;
    }
}

static void on_tcp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sess *s = h->data;
    (void)suggested;
    if (s->rcap - s->rlen < 4096 && s->rcap < RBUF_CAP) {
        size_t ncap = s->rcap ? CV_MIN(s->rcap * 2, RBUF_CAP) : RBUF_INIT;
        uint8_t *nb = realloc(s->rbuf, ncap);
        if (nb) {
            s->rbuf = nb;
            s->rcap = ncap;
        }
    }
    if (!s->rbuf || s->rlen >= s->rcap) {
        *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)s->rbuf + s->rlen, (unsigned)(s->rcap - s->rlen));
}

static void on_tcp_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    sess *s = h->data;
    (void)buf;
    if (s->dead)
        return;
    if (nread < 0) {
        s->peer_closed = nread != UV_ENOBUFS;
        if (nread == UV_EOF)
            sess_fail(s, "camera closed the connection");
        else if (nread == UV_ENOBUFS)
            sess_fail(s, "input from camera exceeds %u bytes", RBUF_CAP);
        else
            sess_fail(s, "read: %s", uv_strerror((int)nread));
        return;
    }
    s->rlen += (size_t)nread;
    process_input(s);
}

static void on_connect(uv_connect_t *req, int status)
{
    sess *s = req->data;
    if (status == UV_ECANCELED || s->dead)
        return;
    if (status < 0) {
        sess_fail(s, "connect: %s", uv_strerror(status));
        return;
    }
    s->tcp_connected = true;
    (void)uv_tcp_nodelay(&s->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&s->tcp, on_tcp_alloc, on_tcp_read);
    if (rc < 0) {
        sess_fail(s, "read: %s", uv_strerror(rc));
        return;
    }
    s->state = ST_OPTIONS;
    send_request(s, REQ_OPTIONS, "OPTIONS", s->p->pub, "");
}

static void do_connect(sess *s)
{
    int rc = uv_tcp_init(s->p->loop, &s->tcp);
    if (rc < 0) {
        sess_fail(s, "socket: %s", uv_strerror(rc));
        return;
    }
    s->tcp.data = s;
    s->tcp_init = true;
    s->pending++;
    s->state = ST_CONNECTING;
    s->connect_req.data = s;
    rc = uv_tcp_connect(&s->connect_req, &s->tcp, (const struct sockaddr *)&s->peer, on_connect);
    if (rc < 0)
        sess_fail(s, "connect: %s", uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    sess *s = req->data;
    s->gai_pending = false;
    if (!s->dead) {
        const struct addrinfo *ai = res;
        while (ai && ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            ai = ai->ai_next;
        if (status < 0)
            sess_fail(s, "cannot resolve %s: %s", s->p->url.host, uv_strerror(status));
        else if (!ai || ai->ai_addrlen > sizeof(s->peer))
            sess_fail(s, "cannot resolve %s: no address", s->p->url.host);
        else {
            memcpy(&s->peer, ai->ai_addr, ai->ai_addrlen);
            cv_addr_set_port(&s->peer, s->p->url.port);
            do_connect(s);
        }
    }
    uv_freeaddrinfo(res);
    sess_unref(s);
}

static void on_tick(uv_timer_t *h)
{
    sess *s = h->data;
    cv_puller *p = s->p;
    if (s->dead)
        return;
    int64_t now = cv_now_us();
    if ((s->state == ST_RESOLVING || s->state == ST_CONNECTING) && now > s->connect_deadline_us) {
        sess_fail(s, "connect timeout");
        return;
    }
    if (s->req != REQ_NONE && now > s->req_deadline_us) {
        sess_fail(s, "no answer to %s within %lld ms", s->req_method, (long long)(p->timeout_us / 1000));
        return;
    }
    if (s->state != ST_PLAYING)
        return;
    if (now - s->last_media_us > p->timeout_us) {
        sess_fail(s, "no media for %lld ms", (long long)((now - s->last_media_us) / 1000));
        return;
    }
    if (now >= s->next_ka_us && s->req == REQ_NONE) {
        s->next_ka_us = now + (int64_t)s->session_timeout_s * 1000000 / 2;
        send_keepalive(s);
        if (s->dead)
            return;
    }
    if (now >= s->next_rr_us) {
        s->next_rr_us = now + RR_INTERVAL_US;
        for (size_t i = 0; i < s->nt && !s->dead; i++)
            send_rr(s, &s->t[i]);
    }
}

static void start_session(cv_puller *p)
{
    if (p->stopping)
        return;
    p->stats.attempts++;
    p->stats.next_retry_in_us = 0;
    sess *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(p->stats.last_error, sizeof(p->stats.last_error), "out of memory");
        schedule_retry(p);
        return;
    }
    s->p = p;
    p->live_sessions++;
    p->cur = s;
    s->udp = p->transport == CV_PULLER_TRANSPORT_UDP || (p->transport == CV_PULLER_TRANSPORT_AUTO && p->auto_udp);
    s->next_cseq = 1;
    s->session_timeout_s = DEFAULT_SESSION_TIMEOUT_S;
    s->our_ssrc = randombytes_random();
    s->connect_deadline_us = cv_now_us() + p->timeout_us;
    uv_timer_init(p->loop, &s->tick);
    s->tick.data = s;
    s->pending = 1;
    int64_t tick_ms = CV_MAX(10, CV_MIN(250, p->timeout_us / 4000));
    uv_timer_start(&s->tick, on_tick, (uint64_t)tick_ms, (uint64_t)tick_ms);

    CV_INFO("%p: connecting to %s (attempt %u, %s)", (void *)p, p->pub, p->stats.attempts, s->udp ? "UDP" : "TCP");
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    if (uv_ip4_addr(p->url.host, p->url.port, &sin) == 0) {
        memcpy(&s->peer, &sin, sizeof(sin));
        do_connect(s);
        return;
    }
    if (uv_ip6_addr(p->url.host, p->url.port, &sin6) == 0) {
        memcpy(&s->peer, &sin6, sizeof(sin6));
        do_connect(s);
        return;
    }
    s->state = ST_RESOLVING;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    s->gai.data = s;
    int rc = uv_getaddrinfo(p->loop, &s->gai, on_resolved, p->url.host, NULL, &hints);
    if (rc < 0) {
        sess_fail(s, "cannot resolve %s: %s", p->url.host, uv_strerror(rc));
        return;
    }
    s->gai_pending = true;
    s->pending++;
}

/* --- public API --- */

int cv_puller_start(cv_puller **out, uv_loop_t *loop, cv_stream *stream, const cv_puller_config *cfg)
{
    if (!out || !loop || !stream || !cfg || !cfg->url)
        return -EINVAL;
    if ((unsigned)cfg->transport > CV_PULLER_TRANSPORT_UDP)
        return -EINVAL;
    if (sodium_init() < 0)
        return -EIO;
    cv_puller *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    int rc;
    if ((rc = cv_url_parse(cfg->url, &p->url)) < 0 || cv_url_format_public(&p->url, p->pub, sizeof(p->pub)) < 0 ||
        !printable_token(p->pub, strlen(p->pub))) {
        rc = -EINVAL;
        goto err;
    }
    if (p->url.tls) {
        CV_WARN("%s: rtsps is not supported", p->pub);
        rc = -EINVAL;
        goto err;
    }
    if (cfg->bind_addr) {
        struct sockaddr_in sin;
        struct sockaddr_in6 sin6;
        if ((uv_ip4_addr(cfg->bind_addr, 0, &sin) < 0 && uv_ip6_addr(cfg->bind_addr, 0, &sin6) < 0) ||
            copy_str(p->bind_addr, sizeof(p->bind_addr), cfg->bind_addr, strlen(cfg->bind_addr)) < 0) {
            rc = -EINVAL;
            goto err;
        }
    }
    p->loop = loop;
    p->transport = cfg->transport;
    /* Capped so that doubling and jitter arithmetic cannot overflow. */
    p->backoff_min_us = cfg->backoff_min_us > 0 ? CV_MIN(cfg->backoff_min_us, MAX_CONFIG_US) : DEFAULT_BACKOFF_MIN_US;
    p->backoff_max_us = cfg->backoff_max_us > 0 ? CV_MIN(cfg->backoff_max_us, MAX_CONFIG_US) : DEFAULT_BACKOFF_MAX_US;
    if (p->backoff_max_us < p->backoff_min_us)
        p->backoff_max_us = p->backoff_min_us;
    p->timeout_us = cfg->timeout_us > 0 ? CV_MIN(cfg->timeout_us, MAX_CONFIG_US) : DEFAULT_TIMEOUT_US;
    p->backoff_us = p->backoff_min_us;
    if ((rc = uv_timer_init(loop, &p->retry)) < 0)
        goto err;
    p->retry.data = p;
    p->stream = cv_stream_ref(stream);
    *out = p;
    start_session(p);
    return 0;
err:
    sodium_memzero(&p->url, sizeof(p->url));
    free(p);
    return rc;
}

static void on_retry_closed(uv_handle_t *h)
{
    cv_puller *p = h->data;
    p->retry_closed = true;
    maybe_free_puller(p);
}

void cv_puller_stop(cv_puller *p)
{
    if (!p || p->stopping)
        return;
    p->stopping = true;
    CV_INFO("%p: %s: stopping", (void *)p, p->pub);
    if (p->cur)
        sess_close(p->cur, true);
    cv_stream_detach(p->stream, p);
    p->retry_pending = false;
    uv_timer_stop(&p->retry);
    uv_close((uv_handle_t *)&p->retry, on_retry_closed);
}

void cv_puller_get_stats(const cv_puller *p, cv_puller_stats *out)
{
    *out = p->stats;
    out->next_retry_in_us = 0;
    if (p->retry_pending && !p->cur) {
        int64_t left = p->retry_at_us - cv_now_us();
        out->next_retry_in_us = left > 0 ? left : 0;
    }
}
