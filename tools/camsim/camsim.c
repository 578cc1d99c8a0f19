/* camsim: a synthetic camera fleet for the chaos tests (issue 5).
 *
 * Each --camera pushes the same looped H.264 clip to camvault by RTSP
 * ANNOUNCE/SETUP/RECORD over TCP interleaved, with Digest authentication,
 * at real-time pace. Every access unit carries an SEI watermark (sei.h) with
 * the camera id, a sequence number and the capture wall-clock time, so a
 * viewer can tell whose picture it got and how late it is.
 *
 * Each camera may have its own clip (--camera ID:SECRET:CLIP), e.g. one with
 * the camera's id drawn into the picture. RTP goes over the RTSP connection
 * (--transport tcp) or over UDP (--transport udp, client_port/server_port).
 * Commands on stdin make cameras misbehave on demand (control.c).
 *
 * One thread per camera, blocking sockets with timeouts. A camera whose
 * connection fails or drops reconnects after a second; frames that fall due
 * while it is disconnected are skipped (sequence numbers keep counting time,
 * as a live camera would).
 *
 * Sequence numbers: seq = base + n, where n counts frame slots since camsim
 * started and base is the number of frame slots between the Unix epoch and
 * the start (wall clock). A restarted camsim therefore continues with higher
 * numbers; --seq-start overrides base.
 *
 * With --listen and --serve, camsim is also a camera that camvault pulls:
 * an RTSP server (serve.c) serves each --serve camera at its path, with the
 * same clock, clips, watermarks and stdin commands as the push cameras. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/id.h"
#include "base/sbuf.h"
#include "base/util.h"
#include "camsim.h"
#include "clip.h"
#include "media/frame.h"
#include "rtp/pack.h"
#include "rtsp/auth.h"
#include "rtsp/msg.h"
#include "rtsp/sdp.h"
#include "rtsp/url.h"
#include "sei.h"
#include "serve.h"

#define IO_TIMEOUT_S 10
#define RBUF_CAP (CV_RTSP_MAX_HEAD + CV_RTSP_MAX_BODY)

typedef camsim_camera camera;

static struct {
    char host[256];
    char hostport[300]; /* host or [v6], with :port */
    char port[8];
    unsigned fps;
    int64_t seconds; /* 0: forever */
    bool udp;        /* --transport udp */
    int64_t t0_us;   /* monotonic start */
    uint64_t seq_base;
} G;

camsim_camera camsim_cams[CAMSIM_MAX_CAMERAS];
size_t camsim_ncams;
static uint64_t clip_off[CAMSIM_MAX_CAMERAS]; /* camera thread only: clip AU = (n + off) % naus */

static atomic_int stopping;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stopping, 1);
}

static void logf_(const camera *cam, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const camera *cam, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One fprintf per line: stdio locks the stream, lines do not interleave. */
    fprintf(stderr, "camsim: %s%s%s\n", cam ? cam->hex : "", cam ? ": " : "", msg);
}

static bool deadline_passed(void)
{
    return G.seconds > 0 && cv_now_us() - G.t0_us >= G.seconds * 1000000;
}

static bool should_stop(void) { return atomic_load(&stopping) || deadline_passed(); }

bool camsim_should_stop(void) { return should_stop(); }

/* Sleeps until the monotonic time until_us, waking every 100 ms to check
 * for a stop. Returns false if camsim is stopping. */
static bool sleep_until(int64_t until_us)
{
    return camsim_sleep_until(until_us);
}

bool camsim_sleep_until(int64_t until_us)
{
    for (;;) {
        if (should_stop())
            return false;
        int64_t left = until_us - cv_now_us();
        if (left <= 0)
            return true;
        if (left > 100000)
            left = 100000;
        struct timespec ts = {left / 1000000, (long)(left % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------ connection */

typedef struct {
    camera *cam;
    int fd;
    uint8_t *rbuf; /* RBUF_CAP bytes */
    size_t rlen;
    int cseq;
    bool have_auth;
    cv_auth_challenge auth;
    char session[128];
    char transport[256]; /* Transport header of the last 200 */
    int udp[2];          /* UDP transport: RTP and RTCP sockets, else -1 */
    bool abort;          /* close with a reset (drop) */
} conn;

static int dial(camera *cam)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(G.host, G.port, &hints, &res);
    if (rc != 0) {
        logf_(cam, "cannot resolve %s: %s", G.host, gai_strerror(rc));
        return -EHOSTUNREACH;
    }
    int fd = -1, err = ECONNREFUSED;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        struct timeval tv = {IO_TIMEOUT_S, 0};
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        logf_(cam, "cannot connect to %s: %s", G.hostport, strerror(err));
        return -err;
    }
    return fd;
}

int camsim_send_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads more bytes into the buffer (blocking, with the socket timeout). */
static int fill(conn *c)
{
    if (c->rlen == RBUF_CAP)
        return -EMSGSIZE;
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF_CAP - c->rlen, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            return 0;
        }
        if (n == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
    }
}

static void consume(conn *c, size_t n)
{
    memmove(c->rbuf, c->rbuf + n, c->rlen - n);
    c->rlen -= n;
}

/* Keeps the strongest challenge of a 401 (Digest over Basic). */
static bool take_challenge(conn *c, const cv_rtsp_msg *m)
{
    bool have = false;
    cv_auth_challenge best, ch;
    for (size_t i = 0; i < m->nheaders; i++) {
        if (!cv_str_ieq_c(m->headers[i].name, "WWW-Authenticate"))
            continue;
        if (cv_auth_parse_challenge(m->headers[i].value, &ch) < 0)
            continue;
        if (!have || (ch.digest && !best.digest)) {
            best = ch;
            have = true;
        }
    }
    if (have) {
        c->auth = best;
        c->have_auth = true;
    }
    return have;
}

/* Copies the session id (up to ';') of a response's Session header. */
static void take_session(conn *c, const cv_rtsp_msg *m)
{
    const cv_str *h = cv_rtsp_msg_header(m, "Session");
    cv_str id;
    int timeout;
    if (!h || cv_rtsp_parse_session(*h, &id, &timeout) != 0 || id.len == 0 || id.len >= sizeof(c->session))
        return;
    memcpy(c->session, id.p, id.len);
    c->session[id.len] = '\0';
}

/* Sends one request and waits for its response, skipping interleaved frames
 * and responses to other CSeqs. Answers one 401 with credentials. Returns
 * the status code or a negative errno. */
static int request(conn *c, const char *method, const char *uri, const char *extra, const char *ctype,
                   const char *body, size_t body_len)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int cseq = ++c->cseq;
        cv_sbuf b;
        cv_sbuf_init(&b);
        cv_sbuf_printf(&b, "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: camsim\r\n", method, uri, cseq);
        if (c->have_auth) {
            cv_sbuf_puts(&b, "Authorization: ");
            if (cv_auth_make_header(&c->auth, "camera", c->cam->secret, method, uri, &b) < 0)
                b.oom = true;
            cv_sbuf_puts(&b, "\r\n");
        }
        if (c->session[0])
            cv_sbuf_printf(&b, "Session: %s\r\n", c->session);
        if (extra)
            cv_sbuf_puts(&b, extra);
        if (body)
            cv_sbuf_printf(&b, "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, body_len);
        cv_sbuf_puts(&b, "\r\n");
        if (body)
            cv_sbuf_append(&b, body, body_len);
        if (!cv_sbuf_ok(&b)) {
            cv_sbuf_free(&b);
            return -ENOMEM;
        }
        int rc = camsim_send_all(c->fd, b.p, b.len);
        cv_sbuf_free(&b);
        if (rc < 0)
            return rc;

        for (;;) {
            if (c->rlen && c->rbuf[0] == '$') {
                uint8_t ch;
                const uint8_t *pl;
                size_t pll;
                int n = cv_rtsp_parse_interleaved(c->rbuf, c->rlen, &ch, &pl, &pll);
                if (n > 0) {
                    consume(c, (size_t)n);
                    continue;
                }
                if (n < 0)
                    return n;
            } else if (c->rlen) {
                cv_rtsp_msg m;
                int n = cv_rtsp_parse(c->rbuf, c->rlen, &m);
                if (n < 0)
                    return n;
                if (n > 0) {
                    if (!m.is_response || m.cseq != cseq) {
                        consume(c, (size_t)n); /* a server request or a stale answer */
                        continue;
                    }
                    int status = m.status;
                    bool retry = false;
                    if (status == 401 && attempt == 0 && !c->have_auth)
                        retry = take_challenge(c, &m);
                    if (status == 200) {
                        take_session(c, &m);
                        const cv_str *tr = cv_rtsp_msg_header(&m, "Transport");
                        if (tr && tr->len < sizeof(c->transport)) {
                            memcpy(c->transport, tr->p, tr->len);
                            c->transport[tr->len] = '\0';
                        }
                    }
                    consume(c, (size_t)n);
                    if (retry)
                        break;
                    return status;
                }
            }
            if ((rc = fill(c)) < 0)
                return rc;
        }
    }
    return 401;
}

/* Drains whatever the server sent (RTCP, answers) without blocking. Returns
 * 0, or a negative errno when the connection is gone. */
static int drain(conn *c)
{
    uint8_t tmp[4096];
    for (;;) {
        ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -errno;
    }
}

/* ------------------------------------------------------------ streaming */

/* Builds access unit n of the camera's clip as a length-prefixed frame with
 * the SEI watermark before its first slice. With in_band_ps, an access unit
 * without an SPS gets the clip's SPS and PPS in front (the first one after a
 * clip switch: the server learns the new picture format from the stream).
 * Returns NULL on no memory. */
static cv_frame *make_frame(camera *cam, uint64_t n, int64_t pts, bool in_band_ps)
{
    return camsim_make_frame(cam, n, pts, in_band_ps);
}

cv_frame *camsim_make_frame(camsim_camera *cam, uint64_t n, int64_t pts, bool in_band_ps)
{
    const camsim_clip *clip = cam->clip;
    size_t au = (size_t)((n + clip_off[cam - camsim_cams]) % clip->naus);
    size_t first = clip->au_first[au], count = clip->au_count[au];
    uint8_t sei[CAMSIM_SEI_MAX_NAL];
    size_t sei_len = camsim_sei_build(sei, cam->id.b, G.seq_base + n, (uint64_t)cv_wall_us());
    size_t total = 4 + sei_len;
    bool key = false, has_sps = false;
    for (size_t i = first; i < first + count; i++) {
        total += 4 + clip->nal_lens[i];
        if ((clip->nals[i][0] & 0x1f) == 5)
            key = true;
        if ((clip->nals[i][0] & 0x1f) == 7)
            has_sps = true;
    }
    in_band_ps = in_band_ps && !has_sps;
    if (in_band_ps)
        total += 8 + clip->track.sps_len + clip->track.pps_len;
    cv_payload *pl = cv_payload_new(total);
    if (!pl)
        return NULL;
    uint8_t *w = cv_payload_data(pl);
    bool sei_done = false;
    for (size_t i = first; i < first + count; i++) {
        unsigned t = clip->nals[i][0] & 0x1f;
        if (!sei_done && t >= 1 && t <= 5) {
            if (in_band_ps) {
                cv_wr_be32(w, clip->track.sps_len);
                memcpy(w + 4, clip->track.sps, clip->track.sps_len);
                w += 4 + clip->track.sps_len;
                cv_wr_be32(w, clip->track.pps_len);
                memcpy(w + 4, clip->track.pps, clip->track.pps_len);
                w += 4 + clip->track.pps_len;
            }
            cv_wr_be32(w, (uint32_t)sei_len);
            memcpy(w + 4, sei, sei_len);
            w += 4 + sei_len;
            sei_done = true;
        }
        cv_wr_be32(w, (uint32_t)clip->nal_lens[i]);
        memcpy(w + 4, clip->nals[i], clip->nal_lens[i]);
        w += 4 + clip->nal_lens[i];
    }
    cv_frame_meta meta = {
        .camera = cam->id,
        .flags = key ? CV_FRAME_KEY : 0,
        .clock_rate = 90000,
        .pts = pts,
        .recv_us = cv_now_us(),
    };
    return cv_frame_new(&meta, pl);
}

static int64_t slot_due_us(uint64_t n) { return G.t0_us + (int64_t)(n * 1000000 / G.fps); }

int64_t camsim_slot_due_us(uint64_t n) { return slot_due_us(n); }
unsigned camsim_fps(void) { return G.fps; }

uint64_t camsim_slot_now(void)
{
    int64_t now = cv_now_us() - G.t0_us;
    return now > 0 ? (uint64_t)now * G.fps / 1000000 : 0;
}

void camsim_switch_clip(camsim_camera *cam, const camsim_clip *next, uint64_t n)
{
    cam->clip = next;
    clip_off[cam - camsim_cams] = (next->first_key + next->naus - (size_t)(n % next->naus)) % next->naus;
}

/* Sends a packed access unit: over the RTSP connection as it is, or over
 * UDP without the interleaved headers (a lost datagram is not an error). */
static int send_wire(conn *c, const cv_wire *wire)
{
    if (c->udp[0] < 0)
        return camsim_send_all(c->fd, wire->data, wire->len);
    for (uint32_t i = 0; i < wire->npkts; i++) {
        const uint8_t *pkt = wire->data + wire->offs[i];
        (void)send(c->udp[0], pkt + 4, cv_be16(pkt + 2), MSG_NOSIGNAL);
    }
    return 0;
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)random();
}

/* Appends an interleaved frame (or, over UDP, sends a datagram). */
static size_t put_frame(conn *c, uint8_t *buf, size_t at, uint8_t ch, const uint8_t *pl, size_t len)
{
    if (c->udp[0] >= 0) {
        (void)send(c->udp[0], pl, len, MSG_NOSIGNAL);
        return at;
    }
    buf[at] = '$';
    buf[at + 1] = ch;
    cv_wr_be16(buf + at + 2, (uint16_t)len);
    memcpy(buf + at + 4, pl, len);
    return at + 4 + len;
}

/* The garbage command: RTP with a bad version, a runt, a valid header over a
 * forbidden NAL type from a stranger SSRC, a frame on a channel never set
 * up, then (TCP) raw junk that is neither RTSP nor interleaved. */
static int send_garbage(conn *c)
{
    uint8_t buf[512], pl[128];
    size_t n = 0;
    memset(pl, 0, 12);
    n = put_frame(c, buf, n, 0, pl, 12); /* version 0 */
    pl[0] = 0x80;
    pl[1] = 96;
    n = put_frame(c, buf, n, 0, pl, 3); /* runt */
    fill_random(pl + 2, 10);
    pl[12] = 0x1f; /* NAL type 31 */
    fill_random(pl + 13, 40);
    n = put_frame(c, buf, n, 0, pl, 53);
    fill_random(pl, 64);
    n = put_frame(c, buf, n, 9, pl, 64);
    if (c->udp[0] >= 0)
        return 0;
    fill_random(buf + n, 64);
    buf[n] = 'X'; /* not '$', not a method the server knows */
    n += 64;
    return camsim_send_all(c->fd, buf, n);
}

/* Applies the control requests due before slot n. Returns 1 to stall this
 * slot, 0 to send it, or a negative errno to end the session. */
static int take_requests(conn *c, uint64_t n, int64_t *stall_until, bool *in_band_ps)
{
    camera *cam = c->cam;
    if (atomic_exchange(&cam->drop_req, 0)) {
        camsim_applied("drop %s", cam->hex);
        c->abort = true;
        return -ECONNABORTED;
    }
    int64_t st = atomic_exchange(&cam->stall_req_us, 0);
    if (st > 0) {
        *stall_until = cv_now_us() + st;
        camsim_applied("stall %s %lld", cam->hex, (long long)(st / 1000000));
    }
    if (*stall_until) {
        if (cv_now_us() < *stall_until)
            return 1;
        *stall_until = 0;
    }
    const camsim_clip *next = atomic_exchange(&cam->next_clip, NULL);
    if (next) {
        /* Continue with the new clip's first keyframe, parameter sets in band. */
        camsim_switch_clip(cam, next, n);
        *in_band_ps = true;
        camsim_applied("resize %s", cam->hex);
    }
    if (atomic_exchange(&cam->garbage_req, 0)) {
        int rc = send_garbage(c);
        camsim_applied("garbage %s", cam->hex);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Sends frames at real-time pace until the connection fails, a drop is
 * requested or camsim stops. */
static int stream(conn *c)
{
    uint32_t ssrc = (uint32_t)random(), ts_off = (uint32_t)random();
    cv_rtp_packer *pk = cv_rtp_packer_new(CV_CODEC_H264, 96, ssrc, (uint16_t)random(), CV_RTP_DEFAULT_MTU);
    if (!pk)
        return -ENOMEM;
    /* Start with the current slot: the ones missed while disconnected are gone. */
    int64_t now = cv_now_us() - G.t0_us;
    uint64_t n = now > 0 ? (uint64_t)now * G.fps / 1000000 : 0;
    int64_t stall_until = 0;
    bool in_band_ps = false;
    int rc = 0;
    while (sleep_until(slot_due_us(n))) {
        rc = take_requests(c, n, &stall_until, &in_band_ps);
        if (rc < 0)
            break;
        if (rc == 0) {
            int64_t pts = (int64_t)(n * 90000 / G.fps);
            cv_frame *f = make_frame(c->cam, n, pts, in_band_ps);
            if (!f) {
                rc = -ENOMEM;
                break;
            }
            in_band_ps = false;
            cv_wire *wire = NULL;
            rc = cv_rtp_packer_pack(pk, f, (uint32_t)pts + ts_off, 0, &wire);
            cv_frame_unref(f);
            if (rc < 0)
                break;
            rc = send_wire(c, wire);
            cv_wire_free(wire);
            if (rc < 0)
                break;
            c->cam->sent++;
        }
        if ((rc = drain(c)) < 0)
            break;
        n++;
        /* Fell behind (a stall): skip to the current slot rather than burst. */
        uint64_t cur = (uint64_t)(cv_now_us() - G.t0_us) * G.fps / 1000000;
        if (cur > n + G.fps)
            n = cur;
    }
    cv_rtp_packer_free(pk);
    return rc;
}

/* Sets the port of an IPv4 or IPv6 address. */
static void set_port(struct sockaddr_storage *sa, int port)
{
    if (sa->ss_family == AF_INET)
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
}

static int get_port(const struct sockaddr_storage *sa)
{
    return ntohs(sa->ss_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                          : ((const struct sockaddr_in6 *)sa)->sin6_port);
}

/* Opens an RTP/RTCP pair of UDP sockets on consecutive ports (RTP even) at
 * the RTSP connection's local address. Returns the RTP port or a negative
 * errno. */
static int open_udp_pair(conn *c)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    if (getsockname(c->fd, (struct sockaddr *)&local, &len) < 0)
        return -errno;
    for (int attempt = 0; attempt < 32; attempt++) {
        int fds[2] = {-1, -1}, port = 0;
        for (int k = 0; k < 2; k++) {
            fds[k] = socket(local.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (fds[k] < 0)
                break;
            struct sockaddr_storage a = local;
            set_port(&a, k == 0 ? 0 : port + 1);
            socklen_t al = len;
            if (bind(fds[k], (struct sockaddr *)&a, len) < 0 || getsockname(fds[k], (struct sockaddr *)&a, &al) < 0)
                break;
            if (k == 0)
                port = get_port(&a);
            if (port % 2 != 0 || port >= 65535)
                break;
            if (k == 1) {
                c->udp[0] = fds[0];
                c->udp[1] = fds[1];
                return port;
            }
        }
        for (int k = 0; k < 2; k++)
            if (fds[k] >= 0)
                close(fds[k]);
    }
    return -EADDRINUSE;
}

/* After SETUP: aims the UDP sockets at the server_port of the answer. */
static int connect_udp(conn *c)
{
    cv_rtsp_transport tr;
    if (cv_rtsp_parse_transport(cv_str_from(c->transport), &tr) != 0 || tr.tcp || tr.server_port[0] <= 0)
        return -EPROTO;
    struct sockaddr_storage peer;
    socklen_t len = sizeof(peer);
    if (getpeername(c->fd, (struct sockaddr *)&peer, &len) < 0)
        return -errno;
    for (int k = 0; k < 2; k++) {
        int port = tr.server_port[k] > 0 ? tr.server_port[k] : tr.server_port[0] + k;
        set_port(&peer, port);
        if (connect(c->udp[k], (struct sockaddr *)&peer, len) < 0)
            return -errno;
    }
    return 0;
}

static int session_run(camera *cam, uint8_t *rbuf)
{
    conn c = {.cam = cam, .rbuf = rbuf, .udp = {-1, -1}};
    c.fd = dial(cam);
    if (c.fd < 0)
        return c.fd;
    int rc;
    cv_sbuf sdp;
    cv_sbuf_init(&sdp);
    cv_sdp_build(&sdp, &cam->clip->track, 1, G.host, "camsim");
    if (!cv_sbuf_ok(&sdp)) {
        rc = -ENOMEM;
        goto out;
    }
    rc = request(&c, "ANNOUNCE", cam->base, NULL, "application/sdp", sdp.p, sdp.len);
    if (rc != 200) {
        logf_(cam, "ANNOUNCE failed (%d)", rc);
        rc = rc < 0 ? rc : -EPROTO;
        goto out;
    }
    char uri[600];
    snprintf(uri, sizeof(uri), "%s/trackID=0", cam->base);
    char transport[128];
    if (G.udp) {
        int port = open_udp_pair(&c);
        if (port < 0) {
            logf_(cam, "cannot open UDP ports: %s", strerror(-port));
            rc = port;
            goto out;
        }
        snprintf(transport, sizeof(transport), "Transport: RTP/AVP;unicast;client_port=%d-%d;mode=record\r\n", port,
                 port + 1);
    } else {
        snprintf(transport, sizeof(transport), "Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n");
    }
    rc = request(&c, "SETUP", uri, transport, NULL, NULL, 0);
    if (rc != 200) {
        logf_(cam, "SETUP failed (%d)", rc);
        rc = rc < 0 ? rc : -EPROTO;
        goto out;
    }
    if (G.udp && (rc = connect_udp(&c)) < 0) {
        logf_(cam, "SETUP answer without a usable server_port: %s", c.transport);
        goto out;
    }
    rc = request(&c, "RECORD", cam->base, "Range: npt=0.000-\r\n", NULL, NULL, 0);
    if (rc != 200) {
        logf_(cam, "RECORD failed (%d)", rc);
        rc = rc < 0 ? rc : -EPROTO;
        goto out;
    }
    logf_(cam, "recording to %s over %s", cam->base, G.udp ? "UDP" : "TCP");
    rc = stream(&c);
    if (rc < 0)
        logf_(cam, "connection %s: %s", c.abort ? "dropped" : "lost", strerror(-rc));
out:
    cv_sbuf_free(&sdp);
    if (c.abort) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close with a reset */
        setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(c.fd);
    for (int k = 0; k < 2; k++)
        if (c.udp[k] >= 0)
            close(c.udp[k]);
    return rc;
}

static void *camera_main(void *arg)
{
    camera *cam = arg;
    uint8_t *rbuf = malloc(RBUF_CAP);
    if (!rbuf) {
        logf_(cam, "out of memory");
        return NULL;
    }
    while (!should_stop()) {
        (void)session_run(cam, rbuf);
        /* A drop that came while disconnected: stay away with the others. */
        if (atomic_exchange(&cam->drop_req, 0))
            camsim_applied("drop %s", cam->hex);
        /* A second later, or at the fleet's comeback time after a drop. */
        int64_t at = atomic_exchange(&cam->reconnect_at_us, 0);
        if (at <= 0)
            at = cv_now_us() + 1000000;
        if (!sleep_until(at))
            break;
        logf_(cam, "reconnecting");
    }
    free(rbuf);
    return NULL;
}

/* ------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f, "usage: camsim [--server rtsp://HOST:PORT --camera ID:SECRET[:CLIP] [--camera ...]]\n"
               "              [--listen IPV4:PORT --serve ID:PATH[:CLIP] [--serve ...]]\n"
               "              [--clip FILE.h264] [--fps 25] [--transport tcp|udp] [--seconds N] [--seq-start N]\n"
               "Pushes a looped raw H.264 (Annex-B) clip to camvault as each --camera (its own CLIP,\n"
               "else --clip), with an SEI watermark (camera id, sequence number, capture time) in\n"
               "every access unit. With --listen (PORT 0 picks one; camsim prints \"camsim: listening\n"
               "on IPV4:PORT\"), also serves each --serve camera to RTSP clients (camvault pulling it)\n"
               "at rtsp://IPV4:PORT/PATH, TCP interleaved or UDP, same clip and watermark; --transport\n"
               "is the push side's. Commands on stdin, one per line, for pushed and served cameras:\n"
               "  drop <ID|all>   stall <ID|all> <seconds>   garbage <ID|all>   resize <ID|all> <CLIP>\n");
}

static const char *cam_clip_path[CAMSIM_MAX_CAMERAS]; /* --camera ID:SECRET:CLIP, else NULL */

/* The next free camera slot with its id parsed from ARG's "ID:" prefix
 * (*rest: what follows the colon), or NULL after saying why. */
static camera *next_camera(const char *arg, const char *opt, const char *form, const char **rest)
{
    const char *colon = strchr(arg, ':');
    if (camsim_ncams == CAMSIM_MAX_CAMERAS) {
        fprintf(stderr, "camsim: at most %d cameras\n", CAMSIM_MAX_CAMERAS);
        return NULL;
    }
    camera *cam = &camsim_cams[camsim_ncams];
    if (!colon || cv_id_from_hex(arg, (size_t)(colon - arg), &cam->id) != 0) {
        fprintf(stderr, "camsim: %s wants %s with a 32-hex-digit id: %s\n", opt, form, arg);
        return NULL;
    }
    *rest = colon + 1;
    return cam;
}

static void commit_camera(camera *cam, const char *clip)
{
    cam_clip_path[camsim_ncams] = clip ? clip + 1 : NULL;
    cv_id_to_hex(&cam->id, cam->hex);
    camsim_ncams++;
}

/* ID:SECRET or ID:SECRET:CLIP (the secret then may not hold a ':'). */
static int add_camera(const char *arg)
{
    const char *secret;
    camera *cam = next_camera(arg, "--camera", "ID:SECRET[:CLIP]", &secret);
    if (!cam)
        return -1;
    const char *clip = strchr(secret, ':');
    size_t slen = clip ? (size_t)(clip - secret) : strlen(secret);
    if (slen == 0 || slen >= sizeof(cam->secret) || (clip && clip[1] == '\0')) {
        fprintf(stderr, "camsim: --camera: bad secret length or empty clip\n");
        return -1;
    }
    memcpy(cam->secret, secret, slen);
    cam->secret[slen] = '\0';
    commit_camera(cam, clip);
    return 0;
}

/* ID:PATH or ID:PATH:CLIP: PATH is [A-Za-z0-9._~/-], no leading '/'. */
static int add_served(const char *arg)
{
    const char *path;
    camera *cam = next_camera(arg, "--serve", "ID:PATH[:CLIP]", &path);
    if (!cam)
        return -1;
    const char *clip = strchr(path, ':');
    size_t plen = clip ? (size_t)(clip - path) : strlen(path);
    while (plen && path[plen - 1] == '/')
        plen--;
    bool ok = plen > 0 && plen < sizeof(cam->path) && path[0] != '/' && !(clip && clip[1] == '\0');
    for (size_t i = 0; ok && i < plen; i++)
        ok = (path[i] >= 'a' && path[i] <= 'z') || (path[i] >= 'A' && path[i] <= 'Z') ||
             (path[i] >= '0' && path[i] <= '9') || strchr("._~/-", path[i]);
    if (!ok) {
        fprintf(stderr, "camsim: --serve: bad path or empty clip: %s\n", arg);
        return -1;
    }
    for (size_t i = 0; i < camsim_ncams; i++)
        if (strlen(camsim_cams[i].path) == plen && memcmp(camsim_cams[i].path, path, plen) == 0) {
            fprintf(stderr, "camsim: --serve: path served twice: %s\n", arg);
            return -1;
        }
    memcpy(cam->path, path, plen);
    cam->path[plen] = '\0';
    commit_camera(cam, clip);
    return 0;
}

static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    return cv_str_to_u64(cv_str_from(s), max, out) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 's'},  {"camera", required_argument, NULL, 'c'},
        {"clip", required_argument, NULL, 'f'},    {"fps", required_argument, NULL, 'r'},
        {"transport", required_argument, NULL, 't'}, {"seconds", required_argument, NULL, 'n'},
        {"seq-start", required_argument, NULL, 'q'}, {"help", no_argument, NULL, 'h'},
        {"listen", required_argument, NULL, 'l'},    {"serve", required_argument, NULL, 'v'},
        {NULL, 0, NULL, 0},
    };
    const char *server = NULL, *clip = NULL, *listen_addr = NULL;
    size_t npush = 0, nserved = 0;
    uint64_t fps = 25, seconds = 0, seq_start = 0;
    bool have_seq_start = false;
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            server = optarg;
            break;
        case 'c':
            if (add_camera(optarg) < 0)
                return 2;
            npush++;
            break;
        case 'l':
            listen_addr = optarg;
            break;
        case 'v':
            if (add_served(optarg) < 0)
                return 2;
            nserved++;
            break;
        case 'f':
            clip = optarg;
            break;
        case 'r':
            if (parse_uint(optarg, 240, &fps) < 0 || fps == 0) {
                fprintf(stderr, "camsim: --fps wants 1..240\n");
                return 2;
            }
            break;
        case 't':
            if (strcmp(optarg, "tcp") != 0 && strcmp(optarg, "udp") != 0) {
                fprintf(stderr, "camsim: --transport wants tcp or udp\n");
                return 2;
            }
            G.udp = strcmp(optarg, "udp") == 0;
            break;
        case 'n':
            if (parse_uint(optarg, 10u * 365 * 86400, &seconds) < 0) {
                fprintf(stderr, "camsim: bad --seconds\n");
                return 2;
            }
            break;
        case 'q':
            if (parse_uint(optarg, UINT64_MAX / 2, &seq_start) < 0) {
                fprintf(stderr, "camsim: bad --seq-start\n");
                return 2;
            }
            have_seq_start = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    bool clips_ok = clip != NULL;
    for (size_t i = 0; i < camsim_ncams; i++)
        clips_ok = clips_ok || cam_clip_path[i];
    for (size_t i = 0; i < camsim_ncams && !clip; i++)
        clips_ok = clips_ok && cam_clip_path[i];
    if ((npush && !server) || (nserved && !listen_addr) || !clips_ok || !camsim_ncams || optind != argc) {
        usage(stderr);
        return 2;
    }
    cv_url url = {.host = "127.0.0.1"};
    if (npush && (cv_url_parse(server, &url) != 0 || url.tls)) {
        fprintf(stderr, "camsim: --server wants rtsp://HOST:PORT: %s\n", server);
        return 2;
    }
    snprintf(G.host, sizeof(G.host), "%s", url.host);
    snprintf(G.port, sizeof(G.port), "%u", url.port);
    bool v6 = strchr(url.host, ':') != NULL;
    snprintf(G.hostport, sizeof(G.hostport), "%s%s%s:%u", v6 ? "[" : "", url.host, v6 ? "]" : "", url.port);
    for (size_t i = 0; i < camsim_ncams && npush; i++) {
        char base[sizeof(camsim_cams[i].base)]; /* not straight into the camera: it is also a source */
        snprintf(base, sizeof(base), "rtsp://%s/cam/%s", G.hostport, camsim_cams[i].hex);
        memcpy(camsim_cams[i].base, base, sizeof(base));
    }
    G.fps = (unsigned)fps;
    G.seconds = (int64_t)seconds;

    char err[256];
    for (size_t i = 0; i < camsim_ncams; i++) {
        const char *path = cam_clip_path[i] ? cam_clip_path[i] : clip;
        if (!(camsim_cams[i].clip = camsim_clips_get(path, err, sizeof(err)))) {
            fprintf(stderr, "camsim: %s: %s\n", path, err);
            camsim_clips_close();
            return 1;
        }
    }
    G.t0_us = cv_now_us();
    G.seq_base = have_seq_start ? seq_start : (uint64_t)cv_wall_us() * G.fps / 1000000;
    srandom((unsigned)(cv_wall_us() ^ getpid()));
    fprintf(stderr, "camsim: %zu camera(s) pushed over %s, %zu served, at %u fps, seq from %llu\n", npush,
            G.udp ? "UDP" : "TCP", nserved, G.fps, (unsigned long long)G.seq_base);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    camsim_server *srv = NULL;
    if (listen_addr && camsim_serve_start(&srv, listen_addr) < 0) {
        camsim_clips_close();
        return 1;
    }
    for (size_t i = 0; i < camsim_ncams; i++)
        if (camsim_cams[i].path[0])
            camsim_cams[i].server = srv;

    int crc = camsim_control_start();
    if (crc < 0)
        fprintf(stderr, "camsim: no control thread: %s\n", strerror(-crc));
    size_t started = 0;
    for (; started < camsim_ncams; started++) {
        camera *cam = &camsim_cams[started];
        int rc = pthread_create(&cam->thread, NULL, cam->server ? camsim_serve_camera_main : camera_main, cam);
        if (rc != 0) {
            fprintf(stderr, "camsim: cannot start a thread: %s\n", strerror(rc));
            atomic_store(&stopping, 1);
            break;
        }
    }
    for (size_t i = 0; i < started; i++)
        pthread_join(camsim_cams[i].thread, NULL);
    camsim_serve_stop(srv);
    for (size_t i = 0; i < started; i++)
        fprintf(stderr, "camsim: %s: sent %llu access units\n", camsim_cams[i].hex,
                (unsigned long long)camsim_cams[i].sent);
    camsim_clips_close();
    return started == camsim_ncams ? 0 : 1;
}
