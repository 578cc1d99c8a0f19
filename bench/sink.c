/* sink: N viewers in one process, reading everything and counting bytes.
 *
 *   sink rtsp URL N      N RTSP sessions (DESCRIBE/SETUP/PLAY, TCP interleaved)
 *   sink raw HOST:PORT N N plain TCP connections (the baseline's fan-out)
 *
 * One epoll loop reads every socket until it is drained, into one buffer;
 * the interleaved framing is followed per connection to count RTP packets,
 * frames (marker bits) and lost packets (sequence gaps: a relay dropping
 * frames for a slow viewer shows up here). Sessions already playing are
 * drained while the next ones are set up, so none falls behind during setup.
 *
 * Protocol on stdin/stdout, for bench/run.py:
 *   prints  READY <ok> <failed>    once every connection is set up
 *   reads   m                      -> MARK <t_ns> <bytes> <open> <closed> <pkts> <frames> <lost> <text>
 *   reads   q or EOF               -> exits
 * Byte counts are everything read from the sockets (RTSP replies included). */
#include <signal.h>
#include <sys/epoll.h>

#include "benchlib.h"

typedef struct {
    int fd;
    bool open;
    bl_il il;
    bool have_seq;
    uint16_t last_seq;
} conn;

static uint64_t g_bytes, g_pkts, g_frames, g_lost;
static conn *g_cs;
static int g_n, g_ep, g_open, g_closed;
static bool g_quit;
static char g_line[64];
static size_t g_llen;
static uint8_t g_buf[BL_RBUF];

static void on_packet(void *ctx, int ch, size_t len, const uint8_t *head, size_t hl)
{
    conn *c = ctx;
    if (ch != 0 || hl < 4)
        return;
    g_pkts++;
    if (head[1] & 0x80)
        g_frames++;
    uint16_t seq = (uint16_t)(head[2] << 8 | head[3]);
    if (c->have_seq && seq != (uint16_t)(c->last_seq + 1))
        g_lost += (uint16_t)(seq - c->last_seq - 1);
    c->have_seq = true;
    c->last_seq = seq;
    (void)len;
}

static int connect_raw(const char *hostport)
{
    char host[64];
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof(host))
        return -EINVAL;
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = '\0';
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -EINVAL;
    return bl_connect(&sa);
}

static void on_stdin(void)
{
    ssize_t r = read(0, g_line + g_llen, sizeof(g_line) - 1 - g_llen);
    if (r <= 0) {
        g_quit = true;
        return;
    }
    g_llen += (size_t)r;
    char *nl;
    while ((nl = memchr(g_line, '\n', g_llen))) {
        if (g_line[0] == 'q')
            g_quit = true;
        if (g_line[0] == 'm') {
            uint64_t text = 0;
            for (int i = 0; i < g_n; i++)
                text += g_cs[i].il.text_msgs;
            printf("MARK %lld %llu %d %d %llu %llu %llu %llu\n", (long long)bl_now_ns(), (unsigned long long)g_bytes,
                   g_open, g_closed, (unsigned long long)g_pkts, (unsigned long long)g_frames,
                   (unsigned long long)g_lost, (unsigned long long)text);
            fflush(stdout);
        }
        size_t used = (size_t)(nl - g_line) + 1;
        memmove(g_line, nl + 1, g_llen - used);
        g_llen -= used;
    }
    if (g_llen == sizeof(g_line) - 1)
        g_llen = 0;
}

static void on_readable(int idx)
{
    conn *c = &g_cs[idx];
    for (;;) {
        ssize_t r = recv(c->fd, g_buf, sizeof(g_buf), 0);
        if (r > 0) {
            g_bytes += (uint64_t)r;
            bl_il_feed(&c->il, g_buf, (size_t)r, on_packet, c);
            if ((size_t)r < sizeof(g_buf))
                return; /* drained (level-triggered epoll calls again if more comes) */
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        /* The server closed this viewer (or an error): count it. */
        fprintf(stderr, "sink: connection %d closed by peer (%s)\n", idx, r == 0 ? "EOF" : strerror(errno));
        epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->open = false;
        g_open--;
        g_closed++;
        return;
    }
}

/* Handles ready events; waits up to timeout_ms (-1: forever) for the first. */
static void pump(int timeout_ms)
{
    struct epoll_event evs[256];
    int k = epoll_wait(g_ep, evs, 256, timeout_ms);
    if (k < 0) {
        if (errno == EINTR)
            return;
        bl_die("sink: epoll_wait: %s", strerror(errno));
    }
    for (int e = 0; e < k; e++) {
        int idx = (int)evs[e].data.u64;
        if (idx == g_n)
            on_stdin();
        else if (g_cs[idx].open)
            on_readable(idx);
    }
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "rtsp") && strcmp(argv[1], "raw")))
        bl_die("usage: sink rtsp URL N | sink raw HOST:PORT N");
    bool rtsp = !strcmp(argv[1], "rtsp");
    const char *target = argv[2];
    g_n = atoi(argv[3]);
    if (g_n < 0 || g_n > 10000)
        bl_die("sink: bad N");
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in sa;
    if (rtsp && bl_parse_url(target, &sa) < 0)
        bl_die("sink: bad URL %s", target);

    g_cs = calloc((size_t)g_n + 1, sizeof(*g_cs));
    g_ep = epoll_create1(EPOLL_CLOEXEC);
    if (!g_cs || g_ep < 0)
        bl_die("sink: setup failed");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)g_n}; /* g_n: stdin */
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, 0, &ev) < 0)
        bl_die("sink: epoll stdin: %s", strerror(errno));

    int ok = 0, failed = 0;
    for (int i = 0; i < g_n; i++) {
        conn *c = &g_cs[i];
        int fd = rtsp ? bl_connect(&sa) : connect_raw(target);
        if (fd < 0) {
            failed++;
            fprintf(stderr, "sink: connect %d: %s\n", i, strerror(-fd));
            continue;
        }
        c->fd = fd;
        if (rtsp) {
            bl_rtsp r;
            int rc = bl_rtsp_play(&r, fd, target, bl_now_ns() + 10000000000LL);
            if (rc != 0) {
                failed++;
                fprintf(stderr, "sink: session %d: handshake failed (%d)\n", i, rc);
                bl_rtsp_free(&r);
                close(fd);
                continue;
            }
            /* Media that came with the PLAY reply. */
            g_bytes += r.len;
            bl_il_feed(&c->il, r.buf, r.len, on_packet, c);
            bl_rtsp_free(&r);
        } else {
            (void)bl_set_nonblock(fd, true);
        }
        c->open = true;
        ok++;
        g_open++;
        ev.events = EPOLLIN;
        ev.data.u64 = (uint64_t)i;
        if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0)
            bl_die("sink: epoll add: %s", strerror(errno));
        pump(0);
    }
    printf("READY %d %d\n", ok, failed);
    fflush(stdout);
    while (!g_quit)
        pump(-1);
    for (int i = 0; i < g_n; i++)
        if (g_cs[i].open)
            close(g_cs[i].fd);
    free(g_cs);
    return 0;
}
