/* baseline: the physical floor for fanning one camera out to N TCP readers.
 *
 *   baseline URL
 *
 * Receives the camera once, as one RTSP viewer of URL (TCP interleaved), and
 * regroups its RTP packets into frames by the marker bit, keeping the exact
 * interleaved bytes camvault sends. It listens on 127.0.0.1 (ephemeral port,
 * printed as LISTEN <port>) and writes each frame to every connected reader
 * with one write() per frame per socket (write, not send, so the kernel
 * counts it in /proc/PID/io syscw like camvault's writev). No RTSP for the readers, no
 * parsing, no prebuffer, no per-viewer RTP state: what is left is the cost
 * the kernel charges for moving the bytes, which is what camvault's per-GB
 * figure is compared to.
 *
 * A reader whose socket is full gets the rest of the frame queued and
 * flushed on EPOLLOUT; while it has a backlog, new frames are appended (up
 * to 8 MiB, like camvault's default viewer queue) or dropped and counted.
 *
 * stdin: "m" prints MARK <t_ns> <frames> <frame_bytes> <sends> <drops> <clients>; EOF exits. */
#include <signal.h>
#include <sys/epoll.h>

#include "benchlib.h"

#define BACKLOG_CAP (8u << 20)
#define MAX_CLIENTS 4096

typedef struct {
    int fd;
    uint8_t *q;       /* backlog */
    size_t qlen, qcap;
    bool want_out;
} client;

static client *g_cl[MAX_CLIENTS];
static int g_ep;
static uint64_t g_frames, g_frame_bytes, g_sends, g_drops;
static int g_nclients;

enum { ID_UP = MAX_CLIENTS, ID_LISTEN, ID_STDIN };

static void drop_client(int i)
{
    client *c = g_cl[i];
    epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->q);
    free(c);
    g_cl[i] = NULL;
    g_nclients--;
}

static void set_out(int i, bool on)
{
    client *c = g_cl[i];
    if (c->want_out == on)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u64 = (uint64_t)i};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = on;
}

static int queue_bytes(client *c, const uint8_t *d, size_t n)
{
    if (c->qlen + n > c->qcap) {
        size_t cap = c->qcap ? c->qcap : 65536;
        while (cap < c->qlen + n)
            cap *= 2;
        uint8_t *q = realloc(c->q, cap);
        if (!q)
            return -ENOMEM;
        c->q = q;
        c->qcap = cap;
    }
    memcpy(c->q + c->qlen, d, n);
    c->qlen += n;
    return 0;
}

static void send_frame(const uint8_t *f, size_t n)
{
    g_frames++;
    g_frame_bytes += n;
    for (int i = 0; i < MAX_CLIENTS; i++) {
        client *c = g_cl[i];
        if (!c)
            continue;
        if (c->qlen) {
            if (c->qlen + n > BACKLOG_CAP || queue_bytes(c, f, n) < 0)
                g_drops++;
            continue;
        }
        g_sends++;
        ssize_t w = write(c->fd, f, n);
        if (w < 0) {
            if (errno != EAGAIN) {
                drop_client(i);
                continue;
            }
            w = 0;
        }
        if ((size_t)w < n) {
            if (queue_bytes(c, f + w, n - (size_t)w) < 0) {
                drop_client(i);
                continue;
            }
            set_out(i, true);
        }
    }
}

static void flush_client(int i)
{
    client *c = g_cl[i];
    while (c->qlen) {
        g_sends++;
        ssize_t w = write(c->fd, c->q, c->qlen);
        if (w < 0) {
            if (errno == EAGAIN)
                return;
            drop_client(i);
            return;
        }
        memmove(c->q, c->q + w, c->qlen - (size_t)w);
        c->qlen -= (size_t)w;
    }
    set_out(i, false);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        bl_die("usage: baseline URL");
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in sa;
    if (bl_parse_url(argv[1], &sa) < 0)
        bl_die("baseline: bad URL");
    int up = bl_connect(&sa);
    if (up < 0)
        bl_die("baseline: connect: %s", strerror(-up));
    bl_rtsp r;
    int rc = bl_rtsp_play(&r, up, argv[1], bl_now_ns() + 10000000000LL);
    if (rc != 0)
        bl_die("baseline: handshake failed (%d)", rc);

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in la;
    memset(&la, 0, sizeof(la));
    la.sin_family = AF_INET;
    la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(la);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ls < 0 || bind(ls, (struct sockaddr *)&la, sizeof(la)) < 0 || listen(ls, 1024) < 0 ||
        getsockname(ls, (struct sockaddr *)&la, &sl) < 0)
        bl_die("baseline: listen: %s", strerror(errno));
    printf("LISTEN %d\n", ntohs(la.sin_port));
    fflush(stdout);

    g_ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = ID_UP};
    epoll_ctl(g_ep, EPOLL_CTL_ADD, up, &ev);
    ev.data.u64 = ID_LISTEN;
    epoll_ctl(g_ep, EPOLL_CTL_ADD, ls, &ev);
    ev.data.u64 = ID_STDIN;
    epoll_ctl(g_ep, EPOLL_CTL_ADD, 0, &ev);

    /* Upstream bytes (r.buf already holds what came with the PLAY reply). */
    uint8_t *ub = r.buf;
    size_t ulen = r.len;
    r.buf = NULL;
    size_t fcap = 4u << 20, flen = 0;
    uint8_t *fb = malloc(fcap);
    if (!fb)
        bl_die("baseline: out of memory");
    struct epoll_event evs[256];
    for (;;) {
        /* Regroup complete upstream packets into frames. */
        size_t off = 0;
        while (ulen - off >= 4) {
            uint8_t *p = ub + off;
            if (p[0] != '$')
                bl_die("baseline: upstream sent a non-interleaved message");
            size_t plen = (size_t)p[2] << 8 | p[3];
            if (ulen - off < 4 + plen)
                break;
            if (p[1] == 0 && plen >= 12) {
                if (flen + 4 + plen > fcap)
                    bl_die("baseline: frame larger than %zu bytes", fcap);
                memcpy(fb + flen, p, 4 + plen);
                flen += 4 + plen;
                if (p[5] & 0x80) { /* marker: the access unit is complete */
                    send_frame(fb, flen);
                    flen = 0;
                }
            }
            off += 4 + plen;
        }
        memmove(ub, ub + off, ulen - off);
        ulen -= off;

        int k = epoll_wait(g_ep, evs, 256, -1);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            bl_die("baseline: epoll_wait: %s", strerror(errno));
        }
        for (int e = 0; e < k; e++) {
            uint64_t id = evs[e].data.u64;
            if (id == ID_UP) {
                ssize_t n = recv(up, ub + ulen, BL_RBUF - ulen, 0);
                if (n == 0)
                    bl_die("baseline: upstream closed");
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                    bl_die("baseline: upstream: %s", strerror(errno));
                if (n > 0)
                    ulen += (size_t)n;
            } else if (id == ID_LISTEN) {
                int fd;
                while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    int slot = -1;
                    for (int i = 0; i < MAX_CLIENTS && slot < 0; i++)
                        if (!g_cl[i])
                            slot = i;
                    client *c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
                    if (!c) {
                        close(fd);
                        continue;
                    }
                    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    c->fd = fd;
                    g_cl[slot] = c;
                    g_nclients++;
                    struct epoll_event cev = {.events = EPOLLIN, .data.u64 = (uint64_t)slot};
                    epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &cev);
                }
            } else if (id == ID_STDIN) {
                char line[64];
                ssize_t n = read(0, line, sizeof(line));
                if (n <= 0)
                    goto out;
                if (line[0] == 'q')
                    goto out;
                if (line[0] == 'm') {
                    printf("MARK %lld %llu %llu %llu %llu %d\n", (long long)bl_now_ns(),
                           (unsigned long long)g_frames, (unsigned long long)g_frame_bytes,
                           (unsigned long long)g_sends, (unsigned long long)g_drops, g_nclients);
                    fflush(stdout);
                }
            } else {
                int i = (int)id;
                if (!g_cl[i])
                    continue;
                if (evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                    uint8_t tmp[512];
                    ssize_t n = recv(g_cl[i]->fd, tmp, sizeof(tmp), 0);
                    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                        drop_client(i);
                        continue;
                    }
                }
                if (evs[e].events & EPOLLOUT)
                    flush_client(i);
            }
        }
    }
out:
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (g_cl[i])
            drop_client(i);
    free(fb);
    free(ub);
    close(ls);
    close(up);
    return 0;
}
