/* camsim's RTSP server for pulled cameras (serve.h).
 *
 * Locking: srv->lock guards the client table and every client's streaming
 * state (cam, playing, transport, packer) and served cameras' clips once
 * the camera threads run. c->wlock serialises writes on a client's RTSP
 * connection (responses from the client thread, frames from the camera
 * thread). Order: srv->lock, then c->wlock; a client thread never takes
 * srv->lock while it holds its wlock.
 *
 * A client thread owns its sockets: it closes them only after it has marked
 * itself done under srv->lock, and the other threads touch them only under
 * srv->lock while the client is not done. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/sbuf.h"
#include "base/util.h"
#include "rtp/pack.h"
#include "rtsp/msg.h"
#include "rtsp/sdp.h"
#include "serve.h"

#define RBUF_CAP (CV_RTSP_MAX_HEAD + CV_RTSP_MAX_BODY)
#define IO_TIMEOUT_S 2
#define SNDBUF_BYTES (1 << 20)
#define SESSION_TIMEOUT_S 60
#define REFUSE_US 1000000

typedef struct client {
    camsim_server *srv;
    int fd;
    pthread_t thread;
    pthread_mutex_t wlock;
    uint8_t *rbuf; /* RBUF_CAP bytes */
    size_t rlen;
    char local[INET_ADDRSTRLEN];
    char session[17]; /* empty before the first SETUP */
    /* Under srv->lock: */
    camsim_camera *cam; /* set by SETUP */
    bool playing;
    bool want_key; /* start at a keyframe, SPS/PPS in front */
    bool udp;
    int ch[2];     /* TCP: interleaved channels */
    int udpfd[2];  /* UDP: RTP, RTCP sockets aimed at the client_port pair, else -1 */
    cv_rtp_packer *pk;
    uint32_t ts_off;
    bool done; /* the thread ended: join and free it */
} client;

struct camsim_server {
    int lfd;
    pthread_t accept;
    pthread_mutex_t lock;
    atomic_int stopping;
    client *clients[CAMSIM_SERVE_MAX_CLIENTS];
    size_t n;
    int64_t refuse_until[CAMSIM_MAX_CAMERAS]; /* after a drop: monotonic µs; under lock */
};

/* ------------------------------------------------------------ sockets */

static int locked_send(client *c, const void *data, size_t len)
{
    pthread_mutex_lock(&c->wlock);
    int rc = camsim_send_all(c->fd, data, len);
    pthread_mutex_unlock(&c->wlock);
    return rc;
}

/* Cuts a client off from another thread (under srv->lock): no more frames,
 * and with reset, a close with RST. Wakes its thread out of recv(). */
static void cut(client *c, bool reset)
{
    if (c->done)
        return;
    c->playing = false;
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    shutdown(c->fd, reset ? SHUT_RD : SHUT_RDWR);
}

static void close_udp(client *c)
{
    for (int k = 0; k < 2; k++) {
        if (c->udpfd[k] >= 0)
            close(c->udpfd[k]);
        c->udpfd[k] = -1;
    }
}

/* Opens the server_port pair (RTP even) at the connection's local address
 * and aims it at the client's ports. Returns the RTP server port or a
 * negative errno. Sets fds only on success. */
static int open_udp(client *c, const int client_port[2], int fds[2])
{
    struct sockaddr_in local, peer;
    socklen_t len = sizeof(local);
    if (getsockname(c->fd, (struct sockaddr *)&local, &len) < 0 || local.sin_family != AF_INET)
        return -EAFNOSUPPORT;
    len = sizeof(peer);
    if (getpeername(c->fd, (struct sockaddr *)&peer, &len) < 0)
        return -errno;
    for (int attempt = 0; attempt < 32; attempt++) {
        int f[2] = {-1, -1}, port = 0;
        bool ok = true;
        for (int k = 0; k < 2 && ok; k++) {
            struct sockaddr_in a = local, to = peer;
            socklen_t al = sizeof(a);
            a.sin_port = htons((uint16_t)(k == 0 ? 0 : port + 1));
            to.sin_port = htons((uint16_t)client_port[k]);
            f[k] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            ok = f[k] >= 0 && bind(f[k], (struct sockaddr *)&a, sizeof(a)) == 0 &&
                 getsockname(f[k], (struct sockaddr *)&a, &al) == 0 &&
                 connect(f[k], (struct sockaddr *)&to, sizeof(to)) == 0;
            if (ok && k == 0) {
                port = ntohs(a.sin_port);
                ok = port % 2 == 0 && port < 65535;
            }
        }
        if (ok) {
            fds[0] = f[0];
            fds[1] = f[1];
            return port;
        }
        for (int k = 0; k < 2; k++)
            if (f[k] >= 0)
                close(f[k]);
    }
    return -EADDRINUSE;
}

/* ------------------------------------------------------------ requests */

static int reply(client *c, int cseq, int status, const char *extra, const char *body, size_t body_len)
{
    cv_sbuf b;
    cv_sbuf_init(&b);
    cv_sbuf_printf(&b, "RTSP/1.0 %d %s\r\nCSeq: %d\r\nServer: camsim\r\n", status, cv_rtsp_reason(status),
                   cseq < 0 ? 0 : cseq);
    if (c->session[0] && status / 100 == 2)
        cv_sbuf_printf(&b, "Session: %s;timeout=%d\r\n", c->session, SESSION_TIMEOUT_S);
    if (extra)
        cv_sbuf_puts(&b, extra);
    if (body)
        cv_sbuf_printf(&b, "Content-Type: application/sdp\r\nContent-Length: %zu\r\n", body_len);
    cv_sbuf_puts(&b, "\r\n");
    if (body)
        cv_sbuf_append(&b, body, body_len);
    int rc = cv_sbuf_ok(&b) ? locked_send(c, b.p, b.len) : -ENOMEM;
    cv_sbuf_free(&b);
    return rc;
}

/* The path of a request URI (absolute or "/path"), without the leading and
 * trailing '/' and any query. Returns 0, or -EINVAL when it does not fit. */
static int uri_path(cv_str uri, char *out, size_t cap)
{
    const char *p = uri.p, *end = uri.p + uri.len;
    if (uri.len >= 7 && strncasecmp(p, "rtsp://", 7) == 0) {
        p += 7;
        while (p < end && *p != '/')
            p++;
    }
    const char *q = memchr(p, '?', (size_t)(end - p));
    if (q)
        end = q;
    while (p < end && *p == '/')
        p++;
    while (end > p && end[-1] == '/')
        end--;
    if ((size_t)(end - p) >= cap)
        return -EINVAL;
    memcpy(out, p, (size_t)(end - p));
    out[end - p] = '\0';
    return 0;
}

/* The served camera at path, or at path less a "/trackID=0" suffix when
 * track_ok. NULL when none. */
static camsim_camera *find_cam(const char *path, bool track_ok)
{
    size_t len = strlen(path);
    static const char suffix[] = "/trackID=0";
    for (size_t i = 0; i < camsim_ncams; i++) {
        camsim_camera *cam = &camsim_cams[i];
        size_t pl = strlen(cam->path);
        if (!cam->path[0] || len < pl || memcmp(path, cam->path, pl) != 0)
            continue;
        if (len == pl || (track_ok && strcmp(path + pl, suffix) == 0))
            return cam;
    }
    return NULL;
}

/* Looks up the request's camera. Returns it, or NULL after answering 404
 * (unknown path) or 503 (dropped a moment ago: stays away like push). */
static camsim_camera *request_cam(client *c, const cv_rtsp_msg *m, bool track_ok)
{
    char path[512];
    camsim_camera *cam = NULL;
    if (uri_path(m->uri, path, sizeof(path)) == 0)
        cam = find_cam(path, track_ok);
    if (!cam) {
        (void)reply(c, m->cseq, 404, NULL, NULL, 0);
        return NULL;
    }
    pthread_mutex_lock(&c->srv->lock);
    bool refused = c->srv->refuse_until[cam - camsim_cams] > cv_now_us();
    pthread_mutex_unlock(&c->srv->lock);
    if (refused) {
        (void)reply(c, m->cseq, 503, NULL, NULL, 0);
        return NULL;
    }
    return cam;
}

static int on_describe(client *c, const cv_rtsp_msg *m)
{
    camsim_camera *cam = request_cam(c, m, false);
    if (!cam)
        return 0;
    cv_sbuf sdp, extra;
    cv_sbuf_init(&sdp);
    cv_sbuf_init(&extra);
    pthread_mutex_lock(&c->srv->lock);
    cv_sdp_build(&sdp, &cam->clip->track, 1, c->local, "camsim");
    pthread_mutex_unlock(&c->srv->lock);
    bool slash = m->uri.len && m->uri.p[m->uri.len - 1] == '/';
    cv_sbuf_printf(&extra, "Content-Base: %.*s%s\r\n", (int)m->uri.len, m->uri.p, slash ? "" : "/");
    int rc = -ENOMEM;
    if (cv_sbuf_ok(&sdp) && cv_sbuf_ok(&extra))
        rc = reply(c, m->cseq, 200, extra.p, sdp.p, sdp.len);
    cv_sbuf_free(&sdp);
    cv_sbuf_free(&extra);
    return rc;
}

/* A Session header, when there is one, must name this client's session. */
static bool session_ok(const client *c, const cv_rtsp_msg *m)
{
    const cv_str *h = cv_rtsp_msg_header(m, "Session");
    cv_str id;
    int timeout;
    if (!h)
        return true;
    return cv_rtsp_parse_session(*h, &id, &timeout) == 0 && cv_str_eq(id, cv_str_from(c->session));
}

/* Sets the client's transport from a SETUP Transport header and writes the
 * answer's Transport header into tr_out. Returns 0 or an RTSP status. */
static int setup_transport(client *c, camsim_camera *cam, const cv_rtsp_transport *tr, char *tr_out, size_t cap)
{
    int fds[2] = {-1, -1}, ch0 = tr->interleaved[0] >= 0 ? tr->interleaved[0] : 0;
    int ch1 = tr->interleaved[1] >= 0 ? tr->interleaved[1] : ch0 + 1;
    if (tr->multicast || (tr->tcp && (ch0 > 255 || ch1 > 255)))
        return 461;
    if (!tr->tcp) {
        if (tr->client_port[0] <= 0)
            return 461;
        int cp[2] = {tr->client_port[0], tr->client_port[1] > 0 ? tr->client_port[1] : tr->client_port[0] + 1};
        int port = open_udp(c, cp, fds);
        if (port < 0)
            return 500;
        snprintf(tr_out, cap, "Transport: RTP/AVP;unicast;client_port=%d-%d;server_port=%d-%d\r\n", cp[0], cp[1],
                 port, port + 1);
    } else {
        snprintf(tr_out, cap, "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d\r\n", ch0, ch1);
    }
    cv_rtp_packer *pk = cv_rtp_packer_new(CV_CODEC_H264, 96, (uint32_t)random(), (uint16_t)random(),
                                          CV_RTP_DEFAULT_MTU);
    if (!pk) {
        for (int k = 0; k < 2; k++)
            if (fds[k] >= 0)
                close(fds[k]);
        return 500;
    }
    pthread_mutex_lock(&c->srv->lock);
    close_udp(c);
    cv_rtp_packer_free(c->pk);
    c->pk = pk;
    c->ts_off = (uint32_t)random();
    c->cam = cam;
    c->udp = !tr->tcp;
    c->ch[0] = ch0;
    c->ch[1] = ch1;
    c->udpfd[0] = fds[0];
    c->udpfd[1] = fds[1];
    pthread_mutex_unlock(&c->srv->lock);
    return 0;
}

static int on_setup(client *c, const cv_rtsp_msg *m)
{
    camsim_camera *cam = request_cam(c, m, true);
    if (!cam)
        return 0;
    if (c->session[0] && !session_ok(c, m))
        return reply(c, m->cseq, 454, NULL, NULL, 0);
    pthread_mutex_lock(&c->srv->lock);
    bool busy = c->playing || (c->cam && c->cam != cam);
    pthread_mutex_unlock(&c->srv->lock);
    if (busy)
        return reply(c, m->cseq, 455, NULL, NULL, 0);
    const cv_str *h = cv_rtsp_msg_header(m, "Transport");
    cv_rtsp_transport tr;
    if (!h || cv_rtsp_parse_transport(*h, &tr) != 0)
        return reply(c, m->cseq, 461, NULL, NULL, 0);
    char tr_out[192];
    int status = setup_transport(c, cam, &tr, tr_out, sizeof(tr_out));
    if (status)
        return reply(c, m->cseq, status, NULL, NULL, 0);
    if (!c->session[0])
        snprintf(c->session, sizeof(c->session), "%08lx%08lx", (unsigned long)(random() & 0xffffffff),
                 (unsigned long)(random() & 0xffffffff));
    return reply(c, m->cseq, 200, tr_out, NULL, 0);
}

static int on_play(client *c, const cv_rtsp_msg *m)
{
    pthread_mutex_lock(&c->srv->lock);
    camsim_camera *cam = c->cam;
    pthread_mutex_unlock(&c->srv->lock);
    if (!cam)
        return reply(c, m->cseq, 455, NULL, NULL, 0);
    if (!session_ok(c, m))
        return reply(c, m->cseq, 454, NULL, NULL, 0);
    /* The answer first: no RTP before the client knows PLAY worked. */
    int rc = reply(c, m->cseq, 200, "Range: npt=0.000-\r\n", NULL, 0);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->srv->lock);
    if (!c->playing)
        c->want_key = true;
    c->playing = true;
    pthread_mutex_unlock(&c->srv->lock);
    return 0;
}

static int on_teardown(client *c, const cv_rtsp_msg *m)
{
    if (!session_ok(c, m))
        return reply(c, m->cseq, 454, NULL, NULL, 0);
    pthread_mutex_lock(&c->srv->lock);
    c->playing = false;
    c->cam = NULL;
    close_udp(c);
    pthread_mutex_unlock(&c->srv->lock);
    int rc = reply(c, m->cseq, 200, NULL, NULL, 0);
    c->session[0] = '\0';
    return rc;
}

/* Answers one request. Returns 0 to go on, or a negative errno to close. */
static int handle(client *c, const cv_rtsp_msg *m)
{
    if (m->is_response)
        return 0; /* an answer to nothing we asked: ignore */
    if (m->cseq < 0) {
        (void)reply(c, 0, 400, NULL, NULL, 0);
        return -EBADMSG;
    }
    if (cv_str_ieq_c(m->method, "OPTIONS"))
        return reply(c, m->cseq, 200, "Public: OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN\r\n", NULL, 0);
    if (cv_str_ieq_c(m->method, "GET_PARAMETER"))
        return reply(c, m->cseq, session_ok(c, m) ? 200 : 454, NULL, NULL, 0);
    if (cv_str_ieq_c(m->method, "DESCRIBE"))
        return on_describe(c, m);
    if (cv_str_ieq_c(m->method, "SETUP"))
        return on_setup(c, m);
    if (cv_str_ieq_c(m->method, "PLAY"))
        return on_play(c, m);
    if (cv_str_ieq_c(m->method, "TEARDOWN"))
        return on_teardown(c, m);
    return reply(c, m->cseq, 501, NULL, NULL, 0);
}

/* Reads more bytes. Returns 0, or a negative errno when the connection is
 * over (closed, cut, camsim stopping). */
static int fill(client *c)
{
    if (c->rlen == RBUF_CAP)
        return -EMSGSIZE;
    for (;;) {
        if (atomic_load(&c->srv->stopping) || camsim_should_stop())
            return -ECANCELED;
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF_CAP - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            return 0;
        }
        if (n == 0)
            return -ECONNRESET;
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
    }
}

/* Handles the next message or interleaved frame (RTCP from the client,
 * ignored) at the start of the buffer. Returns the bytes it took, 0 when
 * more are needed, or a negative errno to close (after a 400 or 505 for a
 * request that does not parse). */
static int next_message(client *c)
{
    if (c->rbuf[0] == '$') {
        uint8_t ch;
        const uint8_t *pl;
        size_t pll;
        return cv_rtsp_parse_interleaved(c->rbuf, c->rlen, &ch, &pl, &pll);
    }
    cv_rtsp_msg m;
    int n = cv_rtsp_parse(c->rbuf, c->rlen, &m);
    if (n < 0) {
        (void)reply(c, 0, n == -EPROTONOSUPPORT ? 505 : 400, NULL, NULL, 0);
        return n;
    }
    if (n > 0) {
        int rc = handle(c, &m);
        if (rc < 0)
            return rc;
    }
    return n;
}

static void serve_conn(client *c)
{
    for (;;) {
        int n = c->rlen ? next_message(c) : 0;
        if (n < 0)
            return;
        if (n > 0) {
            memmove(c->rbuf, c->rbuf + n, c->rlen - (size_t)n);
            c->rlen -= (size_t)n;
            continue;
        }
        if (fill(c) < 0) {
            if (c->rlen == RBUF_CAP)
                (void)reply(c, 0, 400, NULL, NULL, 0);
            return;
        }
    }
}

static void *client_main(void *arg)
{
    client *c = arg;
    serve_conn(c);
    pthread_mutex_lock(&c->srv->lock);
    c->playing = false;
    c->done = true;
    close_udp(c);
    pthread_mutex_unlock(&c->srv->lock);
    close(c->fd); /* with RST when cut by a drop (SO_LINGER 0) */
    return NULL;
}

/* ------------------------------------------------------------ accepting */

static void client_free(client *c)
{
    cv_rtp_packer_free(c->pk);
    pthread_mutex_destroy(&c->wlock);
    free(c->rbuf);
    free(c);
}

/* Joins and frees the clients whose threads ended. */
static void reap(camsim_server *srv)
{
    client *dead[CAMSIM_SERVE_MAX_CLIENTS];
    size_t nd = 0;
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->n;) {
        if (srv->clients[i]->done) {
            dead[nd++] = srv->clients[i];
            srv->clients[i] = srv->clients[--srv->n];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    for (size_t i = 0; i < nd; i++) {
        pthread_join(dead[i]->thread, NULL);
        client_free(dead[i]);
    }
}

/* Takes ownership of fd. */
static int add_client(camsim_server *srv, int fd)
{
    int rc = -ENOMEM;
    client *c = calloc(1, sizeof(*c));
    if (!c)
        goto err_close;
    if (!(c->rbuf = malloc(RBUF_CAP)))
        goto err_free;
    c->srv = srv;
    c->fd = fd;
    c->udpfd[0] = c->udpfd[1] = -1;
    struct sockaddr_in local;
    socklen_t len = sizeof(local);
    if (getsockname(fd, (struct sockaddr *)&local, &len) < 0 ||
        !inet_ntop(AF_INET, &local.sin_addr, c->local, sizeof(c->local)))
        snprintf(c->local, sizeof(c->local), "127.0.0.1");
    struct timeval tv = {IO_TIMEOUT_S, 0};
    int one = 1, sndbuf = SNDBUF_BYTES;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pthread_mutex_init(&c->wlock, NULL);
    pthread_mutex_lock(&srv->lock);
    if (srv->n == CAMSIM_SERVE_MAX_CLIENTS) {
        pthread_mutex_unlock(&srv->lock);
        rc = -EMFILE;
        goto err_mutex;
    }
    if ((rc = -pthread_create(&c->thread, NULL, client_main, c)) < 0) {
        pthread_mutex_unlock(&srv->lock);
        goto err_mutex;
    }
    srv->clients[srv->n++] = c;
    pthread_mutex_unlock(&srv->lock);
    return 0;
err_mutex:
    pthread_mutex_destroy(&c->wlock);
    free(c->rbuf);
err_free:
    free(c);
err_close:
    close(fd);
    return rc;
}

static void *accept_main(void *arg)
{
    camsim_server *srv = arg;
    while (!atomic_load(&srv->stopping)) {
        int fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC);
        reap(srv);
        if (fd >= 0) {
            int rc = add_client(srv, fd);
            if (rc < 0)
                fprintf(stderr, "camsim: serve: client refused: %s\n", strerror(-rc));
            continue;
        }
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS)
            usleep(100000);
        else if (errno != EINTR && errno != ECONNABORTED && errno != EPROTO)
            break; /* shut down */
    }
    return NULL;
}

/* "a.b.c.d:port" into sa. */
static int parse_addr(const char *addr, struct sockaddr_in *sa)
{
    const char *colon = strrchr(addr, ':');
    char host[INET_ADDRSTRLEN];
    uint64_t port;
    if (!colon || (size_t)(colon - addr) >= sizeof(host) ||
        cv_str_to_u64(cv_str_from(colon + 1), 65535, &port) != 0)
        return -EINVAL;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static int listen_on(const struct sockaddr_in *sa, int *port)
{
    int one = 1, rc;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in bound;
    socklen_t len = sizeof(bound);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &len) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    *port = ntohs(bound.sin_port);
    return fd;
}

int camsim_serve_start(camsim_server **out, const char *addr)
{
    struct sockaddr_in sa;
    int rc, port = 0;
    if (parse_addr(addr, &sa) < 0) {
        fprintf(stderr, "camsim: --listen wants IPV4:PORT: %s\n", addr);
        return -EINVAL;
    }
    camsim_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    if ((srv->lfd = listen_on(&sa, &port)) < 0) {
        rc = srv->lfd;
        fprintf(stderr, "camsim: cannot listen on %s: %s\n", addr, strerror(-rc));
        goto err_free;
    }
    pthread_mutex_init(&srv->lock, NULL);
    if ((rc = -pthread_create(&srv->accept, NULL, accept_main, srv)) < 0) {
        fprintf(stderr, "camsim: cannot start a thread: %s\n", strerror(-rc));
        goto err_close;
    }
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
    printf("camsim: listening on %s:%d\n", host, port);
    fflush(stdout);
    *out = srv;
    return 0;
err_close:
    pthread_mutex_destroy(&srv->lock);
    close(srv->lfd);
err_free:
    free(srv);
    return rc;
}

void camsim_serve_stop(camsim_server *srv)
{
    if (!srv)
        return;
    atomic_store(&srv->stopping, 1);
    shutdown(srv->lfd, SHUT_RDWR); /* wakes accept() */
    pthread_join(srv->accept, NULL);
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->n; i++)
        cut(srv->clients[i], false);
    pthread_mutex_unlock(&srv->lock);
    for (size_t i = 0; i < srv->n; i++) {
        pthread_join(srv->clients[i]->thread, NULL);
        client_free(srv->clients[i]);
    }
    close(srv->lfd);
    pthread_mutex_destroy(&srv->lock);
    free(srv);
}

/* ------------------------------------------------------------ feeding */

/* Sends one packed access unit to a client: over its RTSP connection with
 * its channel, or as datagrams. Under srv->lock. */
static int send_wire(client *c, cv_wire *w)
{
    if (c->udp) {
        for (uint32_t i = 0; i < w->npkts; i++) {
            const uint8_t *pkt = w->data + w->offs[i];
            (void)send(c->udpfd[0], pkt + 4, cv_be16(pkt + 2), MSG_NOSIGNAL);
        }
        return 0;
    }
    return locked_send(c, w->data, w->len);
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)random();
}

/* The garbage command, as on the push side: RTP with a bad version, a
 * runt, a forbidden NAL type, a frame on a channel never set up, then (TCP)
 * raw junk. Under srv->lock. */
static void send_garbage(client *c)
{
    static const size_t lens[] = {12, 3, 53, 64};
    uint8_t buf[512], pl[64];
    size_t at = 0;
    for (size_t i = 0; i < CV_ARRAY_LEN(lens); i++) {
        fill_random(pl, sizeof(pl));
        pl[0] = i == 0 ? 0x00 : 0x80;
        pl[1] = 96;
        pl[12] = 0x1f; /* NAL type 31 */
        if (c->udp) {
            (void)send(c->udpfd[0], pl, lens[i], MSG_NOSIGNAL);
            continue;
        }
        buf[at] = '$';
        buf[at + 1] = (uint8_t)(i == 3 ? c->ch[0] + 9 : c->ch[0]);
        cv_wr_be16(buf + at + 2, (uint16_t)lens[i]);
        memcpy(buf + at + 4, pl, lens[i]);
        at += 4 + lens[i];
    }
    if (c->udp)
        return;
    fill_random(buf + at, 64);
    buf[at] = 'X';
    at += 64;
    if (locked_send(c, buf, at) < 0)
        cut(c, false);
}

/* Camera frames for slot n, built on demand: plain, or with SPS/PPS. */
typedef struct {
    camsim_camera *cam;
    uint64_t n;
    int64_t pts;
    cv_frame *f[2];
} slot_frames;

static cv_frame *slot_frame(slot_frames *s, bool ps)
{
    if (!s->f[ps])
        s->f[ps] = camsim_make_frame(s->cam, s->n, s->pts, ps);
    return s->f[ps];
}

/* Sends slot n to one playing client. Under srv->lock. Returns true when
 * it went out. */
static bool feed_client(client *c, slot_frames *s, bool in_band_ps)
{
    cv_frame *f = slot_frame(s, false);
    if (!f)
        return false;
    bool key = f->meta.flags & CV_FRAME_KEY;
    if (c->want_key && !key)
        return false; /* a new client starts at a keyframe */
    if (in_band_ps || c->want_key)
        f = slot_frame(s, true);
    cv_wire *w = NULL;
    if (!f || cv_rtp_packer_pack(c->pk, f, (uint32_t)s->pts + c->ts_off, (uint8_t)c->ch[0], &w) < 0)
        return false;
    int rc = send_wire(c, w);
    cv_wire_free(w);
    if (rc < 0) {
        cut(c, false); /* cannot keep up (or gone) */
        return false;
    }
    c->want_key = false;
    return true;
}

static void feed(camsim_server *srv, camsim_camera *cam, uint64_t n, bool in_band_ps)
{
    slot_frames s = {.cam = cam, .n = n, .pts = (int64_t)(n * 90000 / camsim_fps())};
    bool sent = false;
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->n; i++) {
        client *c = srv->clients[i];
        if (c->cam == cam && c->playing && !c->done)
            sent |= feed_client(c, &s, in_band_ps);
    }
    pthread_mutex_unlock(&srv->lock);
    for (int k = 0; k < 2; k++)
        if (s.f[k])
            cv_frame_unref(s.f[k]);
    cam->sent += sent;
}

/* drop: every connection of the camera closes with a reset, and new ones
 * are refused until the fleet's comeback time (as push cameras stay away). */
static void drop(camsim_server *srv, camsim_camera *cam)
{
    int64_t at = atomic_exchange(&cam->reconnect_at_us, 0);
    if (at <= 0)
        at = cv_now_us() + REFUSE_US;
    pthread_mutex_lock(&srv->lock);
    srv->refuse_until[cam - camsim_cams] = at;
    for (size_t i = 0; i < srv->n; i++)
        if (srv->clients[i]->cam == cam)
            cut(srv->clients[i], true);
    pthread_mutex_unlock(&srv->lock);
    camsim_applied("drop %s", cam->hex);
}

static void garbage(camsim_server *srv, camsim_camera *cam)
{
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->n; i++) {
        client *c = srv->clients[i];
        if (c->cam == cam && c->playing && !c->done)
            send_garbage(c);
    }
    pthread_mutex_unlock(&srv->lock);
    camsim_applied("garbage %s", cam->hex);
}

/* Applies the control requests due before slot n. Returns true to stall
 * this slot. */
static bool take_requests(camsim_camera *cam, uint64_t n, int64_t *stall_until, bool *in_band_ps)
{
    camsim_server *srv = cam->server;
    if (atomic_exchange(&cam->drop_req, 0))
        drop(srv, cam);
    int64_t st = atomic_exchange(&cam->stall_req_us, 0);
    if (st > 0) {
        *stall_until = cv_now_us() + st;
        camsim_applied("stall %s %lld", cam->hex, (long long)(st / 1000000));
    }
    if (*stall_until) {
        if (cv_now_us() < *stall_until)
            return true;
        *stall_until = 0;
    }
    const camsim_clip *next = atomic_exchange(&cam->next_clip, NULL);
    if (next) {
        pthread_mutex_lock(&srv->lock);
        camsim_switch_clip(cam, next, n);
        pthread_mutex_unlock(&srv->lock);
        *in_band_ps = true;
        camsim_applied("resize %s", cam->hex);
    }
    if (atomic_exchange(&cam->garbage_req, 0))
        garbage(srv, cam);
    return false;
}

void *camsim_serve_camera_main(void *arg)
{
    camsim_camera *cam = arg;
    uint64_t n = camsim_slot_now();
    int64_t stall_until = 0;
    bool in_band_ps = false;
    fprintf(stderr, "camsim: %s: serving /%s\n", cam->hex, cam->path);
    while (camsim_sleep_until(camsim_slot_due_us(n))) {
        if (!take_requests(cam, n, &stall_until, &in_band_ps)) {
            feed(cam->server, cam, n, in_band_ps);
            in_band_ps = false;
        }
        n++;
        /* Fell behind (a stall): skip to the current slot rather than burst. */
        uint64_t cur = camsim_slot_now();
        if (cur > n + camsim_fps())
            n = cur;
    }
    return NULL;
}
