/* Shared helpers for the benchmark programs (ttff, sink, baseline): a clock,
 * a blocking RTSP client for the DESCRIBE/SETUP/PLAY handshake over TCP
 * interleaved, and an incremental parser of interleaved ('$') packets.
 *
 * Stand-alone on purpose: nothing from src/ or tests/, plain POSIX sockets,
 * so the benchmarks measure camvault from the outside. Header-only (static
 * functions) so each program is one compile command. */
#ifndef CV_BENCHLIB_H
#define CV_BENCHLIB_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BL_UNUSED __attribute__((unused))

static BL_UNUSED int64_t bl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static BL_UNUSED __attribute__((format(printf, 1, 2), noreturn)) void bl_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static BL_UNUSED int bl_set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

/* Parses rtsp://HOST:PORT/... (numeric IPv4 host only: the benches use 127.0.0.1). */
static BL_UNUSED int bl_parse_url(const char *url, struct sockaddr_in *sa)
{
    const char *p = url;
    if (strncmp(p, "rtsp://", 7) == 0)
        p += 7;
    char host[64];
    size_t n = strcspn(p, ":/");
    if (n == 0 || n >= sizeof(host))
        return -EINVAL;
    memcpy(host, p, n);
    host[n] = '\0';
    int port = 554;
    if (p[n] == ':')
        port = atoi(p + n + 1);
    if (port <= 0 || port > 65535)
        return -EINVAL;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -EINVAL;
    return 0;
}

/* Blocking TCP connect. Returns the fd or a negative errno. */
static BL_UNUSED int bl_connect(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* ------------------------------------------------------------ RTSP client */

#define BL_RBUF (256 * 1024)

typedef struct {
    int fd;
    int cseq;
    char session[128];
    char base[512];
    char sdp[4096];
    bool sprop;           /* the SDP carried sprop-parameter-sets */
    int status;           /* last response status */
    uint8_t *buf;         /* bytes read past the last response (media) */
    size_t len;
    int64_t t_describe_ns, t_setup_ns, t_play_ns; /* when each response completed */
} bl_rtsp;

static BL_UNUSED void bl_rtsp_free(bl_rtsp *c)
{
    free(c->buf);
    c->buf = NULL;
    c->len = 0;
}

static int wait_fd(int fd, short ev, int64_t deadline_ns)
{
    for (;;) {
        int64_t left = deadline_ns - bl_now_ns();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {fd, ev, 0};
        int r = poll(&p, 1, (int)(left / 1000000) + 1);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -errno;
    }
}

static const char *find_header(const char *head, size_t hlen, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *p = head, *end = head + hlen;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        p = eol + 1;
    }
    return NULL;
}

/* Sends one request and reads its response (interleaved packets before it are
 * discarded). Body, if any, is copied to body (NUL-terminated, truncated). */
static int bl_rtsp_request(bl_rtsp *c, const char *method, const char *url, const char *extra, char *body,
                           size_t bodycap, int64_t deadline_ns)
{
    char req[2048];
    int n = snprintf(req, sizeof(req), "%s %s RTSP/1.0\r\nCSeq: %d\r\nUser-Agent: camvault-bench\r\n%s%s%s%s\r\n",
                     method, url, ++c->cseq, c->session[0] ? "Session: " : "", c->session,
                     c->session[0] ? "\r\n" : "", extra ? extra : "");
    if (n < 0 || (size_t)n >= sizeof(req))
        return -EINVAL;
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(c->fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                int r = wait_fd(c->fd, POLLOUT, deadline_ns);
                if (r < 0)
                    return r;
                continue;
            }
            return -errno;
        }
        off += (size_t)w;
    }
    if (!c->buf && !(c->buf = malloc(BL_RBUF)))
        return -ENOMEM;
    for (;;) {
        /* Skip interleaved packets that precede the response. */
        while (c->len >= 4 && c->buf[0] == '$') {
            size_t plen = 4 + ((size_t)c->buf[2] << 8 | c->buf[3]);
            if (c->len < plen)
                break;
            memmove(c->buf, c->buf + plen, c->len - plen);
            c->len -= plen;
        }
        if (c->len >= 4 && c->buf[0] != '$') {
            uint8_t *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
            if (e) {
                size_t hlen = (size_t)(e - c->buf) + 4;
                const char *head = (const char *)c->buf;
                size_t vl;
                const char *v = find_header(head, hlen, "Content-Length", &vl);
                size_t clen = v ? (size_t)strtoul(v, NULL, 10) : 0;
                if (hlen + clen > BL_RBUF)
                    return -EMSGSIZE;
                if (c->len >= hlen + clen) {
                    if (strncmp(head, "RTSP/1.0 ", 9) != 0)
                        return -EPROTO;
                    c->status = atoi(head + 9);
                    if ((v = find_header(head, hlen, "Session", &vl))) {
                        size_t sl = strcspn(v, ";\r\n");
                        if (sl > vl)
                            sl = vl;
                        if (sl < sizeof(c->session)) {
                            memcpy(c->session, v, sl);
                            c->session[sl] = '\0';
                        }
                    }
                    if ((v = find_header(head, hlen, "Content-Base", &vl)) && vl < sizeof(c->base)) {
                        memcpy(c->base, v, vl);
                        c->base[vl] = '\0';
                    }
                    if (body && bodycap) {
                        size_t bl = clen < bodycap - 1 ? clen : bodycap - 1;
                        memcpy(body, c->buf + hlen, bl);
                        body[bl] = '\0';
                    }
                    size_t used = hlen + clen;
                    memmove(c->buf, c->buf + used, c->len - used);
                    c->len -= used;
                    return c->status;
                }
            }
        }
        if (c->len == BL_RBUF)
            return -EMSGSIZE;
        ssize_t r = recv(c->fd, c->buf + c->len, BL_RBUF - c->len, 0);
        if (r > 0) {
            c->len += (size_t)r;
            continue;
        }
        if (r == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -errno;
        int w = wait_fd(c->fd, POLLIN, deadline_ns);
        if (w < 0)
            return w;
    }
}

/* DESCRIBE, SETUP trackID=0 over TCP interleaved 0-1, PLAY, on an already
 * connected fd. Returns 0 or a negative errno / positive RTSP status. Bytes
 * read after the PLAY response stay in c->buf. */
static BL_UNUSED int bl_rtsp_play(bl_rtsp *c, int fd, const char *url, int64_t deadline_ns)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    int st = bl_set_nonblock(fd, true);
    if (st < 0)
        return st;
    st = bl_rtsp_request(c, "DESCRIBE", url, "Accept: application/sdp\r\n", c->sdp, sizeof(c->sdp), deadline_ns);
    c->t_describe_ns = bl_now_ns();
    if (st != 200)
        return st;
    c->sprop = strstr(c->sdp, "sprop-parameter-sets=") != NULL;
    if (!c->base[0])
        snprintf(c->base, sizeof(c->base), "%s/", url);
    char track[600];
    snprintf(track, sizeof(track), "%strackID=0", c->base);
    st = bl_rtsp_request(c, "SETUP", track, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n", NULL, 0,
                         deadline_ns);
    c->t_setup_ns = bl_now_ns();
    if (st != 200)
        return st;
    st = bl_rtsp_request(c, "PLAY", c->base, "Range: npt=0.000-\r\n", NULL, 0, deadline_ns);
    c->t_play_ns = bl_now_ns();
    if (st != 200)
        return st;
    return 0;
}

/* ---------------------------------------------- interleaved packet parser */

#define BL_CAP 256 /* bytes of each packet kept for inspection */

typedef struct {
    int state;            /* 0: expecting '$' or text, 1: header, 2: body, 3: text message */
    uint8_t hdr[4];
    int hlen;
    size_t need, got;     /* body bytes of the current packet */
    uint8_t cap[BL_CAP];  /* its first bytes */
    int crlf;             /* text state: matched bytes of "\r\n\r\n" */
    uint64_t text_msgs;   /* RTSP messages seen between packets */
} bl_il;

/* Called once per complete packet: channel, its length, its first bytes (up to BL_CAP). */
typedef void (*bl_il_cb)(void *ctx, int channel, size_t len, const uint8_t *head, size_t headlen);

static BL_UNUSED void bl_il_feed(bl_il *p, const uint8_t *d, size_t n, bl_il_cb cb, void *ctx)
{
    size_t i = 0;
    while (i < n) {
        switch (p->state) {
        case 0:
            if (d[i] == '$') {
                p->state = 1;
                p->hdr[0] = '$';
                p->hlen = 1;
                i++;
            } else {
                p->state = 3;
                p->crlf = 0;
            }
            break;
        case 1:
            p->hdr[p->hlen++] = d[i++];
            if (p->hlen == 4) {
                p->need = (size_t)p->hdr[2] << 8 | p->hdr[3];
                p->got = 0;
                p->state = 2;
                if (p->need == 0) {
                    cb(ctx, p->hdr[1], 0, p->cap, 0);
                    p->state = 0;
                }
            }
            break;
        case 2: {
            size_t take = p->need - p->got;
            if (take > n - i)
                take = n - i;
            if (p->got < BL_CAP) {
                size_t c = BL_CAP - p->got < take ? BL_CAP - p->got : take;
                memcpy(p->cap + p->got, d + i, c);
            }
            p->got += take;
            i += take;
            if (p->got == p->need) {
                cb(ctx, p->hdr[1], p->need, p->cap, p->need < BL_CAP ? p->need : BL_CAP);
                p->state = 0;
            }
            break;
        }
        case 3: {
            static const char pat[] = "\r\n\r\n";
            char ch = (char)d[i++];
            if (ch == pat[p->crlf])
                p->crlf++;
            else
                p->crlf = ch == '\r' ? 1 : 0;
            if (p->crlf == 4) {
                p->text_msgs++;
                p->state = 0;
            }
            break;
        }
        }
    }
}

/* ------------------------------------------------------------ RTP / H.264 */

typedef struct {
    bool marker;
    uint8_t pt;
    uint16_t seq;
    uint32_t ts;
    const uint8_t *pl;    /* payload start (within the captured head) */
    size_t pl_len;        /* captured payload bytes */
    size_t pl_total;      /* full payload length */
} bl_rtp;

static BL_UNUSED bool bl_rtp_parse(const uint8_t *h, size_t hl, size_t total, bl_rtp *r)
{
    if (hl < 12 || (h[0] >> 6) != 2)
        return false;
    size_t off = 12 + 4 * (size_t)(h[0] & 0x0F);
    if (h[0] & 0x10) {
        if (hl < off + 4)
            return false;
        off += 4 + 4 * ((size_t)h[off + 2] << 8 | h[off + 3]);
    }
    if (off > hl || off > total)
        return false;
    r->marker = h[1] & 0x80;
    r->pt = h[1] & 0x7F;
    r->seq = (uint16_t)(h[2] << 8 | h[3]);
    r->ts = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
    r->pl = h + off;
    r->pl_len = hl - off;
    r->pl_total = total - off;
    return true;
}

enum { BL_NAL_IDR = 1, BL_NAL_SPS = 2, BL_NAL_PPS = 4, BL_NAL_START = 8 };

/* H.264 NAL types starting in this payload, as BL_NAL_* bits (FU-A: only its
 * first fragment counts; STAP-A: each aggregated unit within the captured bytes). */
static BL_UNUSED unsigned bl_h264_flags(const bl_rtp *r)
{
    if (r->pl_len < 1)
        return 0;
    unsigned out = 0;
    int t = r->pl[0] & 0x1F;
    if (t == 28) {
        if (r->pl_len < 2 || !(r->pl[1] & 0x80))
            return 0;
        t = r->pl[1] & 0x1F;
        out = BL_NAL_START;
    } else if (t == 24) {
        size_t i = 1;
        while (i + 3 <= r->pl_len) {
            size_t n = (size_t)r->pl[i] << 8 | r->pl[i + 1];
            int tt = r->pl[i + 2] & 0x1F;
            out |= BL_NAL_START | (tt == 5 ? BL_NAL_IDR : 0) | (tt == 7 ? BL_NAL_SPS : 0) | (tt == 8 ? BL_NAL_PPS : 0);
            if (n == 0)
                break;
            i += 2 + n;
        }
        return out;
    } else {
        out = BL_NAL_START;
    }
    if (t == 5)
        out |= BL_NAL_IDR;
    else if (t == 7)
        out |= BL_NAL_SPS;
    else if (t == 8)
        out |= BL_NAL_PPS;
    return out;
}

#endif
