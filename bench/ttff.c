/* ttff: time to first decodable frame for a new RTSP viewer (H.264).
 *
 *   ttff URL [--tries N] [--max-sleep-ms MS] [--seed S] [--timeout-ms MS]
 *
 * Each try sleeps a random 0..MS (so it lands at a random phase of the GOP),
 * then opens a TCP connection, plays over TCP interleaved and reads until it
 * holds the first complete IDR access unit (its RTP packets, contiguous,
 * through the marker bit) with SPS and PPS known (from the SDP's
 * sprop-parameter-sets or in band). The clock starts just before connect().
 *
 * It then keeps reading until the next IDR arrives live: that time is what a
 * viewer of a server without a keyframe prebuffer would have waited. Whether
 * the first IDR came from the prebuffer is decided from arrival times: live
 * frames arrive at (offset + RTP time), a prebuffered frame arrives earlier.
 *
 * Prints one JSON object per try on stdout. */
#include "benchlib.h"

#define MAX_FRAMES 1024

typedef struct {
    int64_t t0;
    bool sprop, sps, pps;
    int64_t first_pkt_ns;
    bool have_seq;
    uint16_t last_seq;
    uint64_t lost;
    bool have_ts0;
    uint32_t ts0;
    /* the IDR being collected */
    bool collecting;
    uint32_t cur_ts;
    uint16_t cur_next_seq;
    bool cur_gap;
    size_t cur_bytes;
    int cur_pkts;
    bool cur_params;
    /* complete IDRs (first two) */
    int nidr;
    int64_t idr_ts[2];      /* relative to ts0, in 90 kHz units */
    int64_t idr_done_ns[2];
    size_t idr_bytes[2];
    int idr_pkts[2];
    bool idr_ok[2];         /* contiguous and with parameter sets */
    /* frame (marker) arrivals */
    int nframes;
    int64_t fr_ts[MAX_FRAMES];
    int64_t fr_ns[MAX_FRAMES];
    int64_t now_ns;         /* arrival time of the bytes being parsed */
    uint64_t bytes;
} tstate;

static int64_t rel_ts(tstate *s, uint32_t ts)
{
    if (!s->have_ts0) {
        s->have_ts0 = true;
        s->ts0 = ts;
    }
    return (int64_t)(int32_t)(ts - s->ts0);
}

static void on_packet(void *ctx, int ch, size_t len, const uint8_t *head, size_t hl)
{
    tstate *s = ctx;
    if (ch != 0)
        return;
    bl_rtp r;
    if (!bl_rtp_parse(head, hl, len, &r))
        return;
    if (!s->first_pkt_ns)
        s->first_pkt_ns = s->now_ns;
    if (s->have_seq && r.seq != (uint16_t)(s->last_seq + 1))
        s->lost += (uint16_t)(r.seq - s->last_seq - 1);
    s->have_seq = true;
    s->last_seq = r.seq;
    int64_t ts = rel_ts(s, r.ts);
    unsigned fl = bl_h264_flags(&r);
    if (fl & BL_NAL_SPS)
        s->sps = true;
    if (fl & BL_NAL_PPS)
        s->pps = true;
    if ((fl & BL_NAL_IDR) && (!s->collecting || r.ts != s->cur_ts)) {
        s->collecting = true;
        s->cur_ts = r.ts;
        s->cur_next_seq = r.seq;
        s->cur_gap = false;
        s->cur_bytes = 0;
        s->cur_pkts = 0;
    }
    if (s->collecting) {
        if (r.ts != s->cur_ts) {
            s->collecting = false; /* a new frame began without the marker: not complete */
        } else {
            if (r.seq != s->cur_next_seq)
                s->cur_gap = true;
            s->cur_next_seq = (uint16_t)(r.seq + 1);
            s->cur_bytes += r.pl_total;
            s->cur_pkts++;
            if (r.marker) {
                s->collecting = false;
                if (s->nidr < 2) {
                    int k = s->nidr++;
                    s->idr_ts[k] = ts;
                    s->idr_done_ns[k] = s->now_ns;
                    s->idr_bytes[k] = s->cur_bytes;
                    s->idr_pkts[k] = s->cur_pkts;
                    s->idr_ok[k] = !s->cur_gap && (s->sprop || (s->sps && s->pps));
                }
            }
        }
    }
    if (r.marker && s->nframes < MAX_FRAMES) {
        s->fr_ts[s->nframes] = ts;
        s->fr_ns[s->nframes] = s->now_ns;
        s->nframes++;
    }
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double ms(int64_t ns) { return (double)ns / 1e6; }

static int one_try(int idx, const char *url, const struct sockaddr_in *sa, int timeout_ms)
{
    static tstate s;
    memset(&s, 0, sizeof(s));
    bl_rtsp c;
    s.t0 = bl_now_ns();
    int64_t deadline = s.t0 + (int64_t)timeout_ms * 1000000;
    int fd = bl_connect(sa);
    int64_t t_conn = bl_now_ns();
    if (fd < 0) {
        printf("{\"try\":%d,\"ok\":false,\"error\":\"connect: %s\"}\n", idx, strerror(-fd));
        return -1;
    }
    int rc = bl_rtsp_play(&c, fd, url, deadline);
    if (rc != 0) {
        printf("{\"try\":%d,\"ok\":false,\"error\":\"handshake: %d\"}\n", idx, rc);
        bl_rtsp_free(&c);
        close(fd);
        return -1;
    }
    s.sprop = c.sprop;
    bl_il il;
    memset(&il, 0, sizeof(il));
    s.now_ns = c.t_play_ns;
    s.bytes = c.len;
    bl_il_feed(&il, c.buf, c.len, on_packet, &s);
    static uint8_t buf[BL_RBUF];
    const char *why = "deadline";
    for (;;) {
        int64_t now = bl_now_ns();
        /* Done once the next IDR is in and enough live frames were seen to
         * place the live edge (1 s after the first packet). */
        if (s.nidr >= 2 && s.first_pkt_ns && now - s.first_pkt_ns > 1000000000) {
            why = "done";
            break;
        }
        if (now >= deadline)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        int pr = poll(&p, 1, (int)((deadline - now) / 1000000) + 1);
        if (pr <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        s.now_ns = bl_now_ns();
        if (n == 0) {
            why = "closed";
            break;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            why = "error";
            break;
        }
        s.bytes += (size_t)n;
        bl_il_feed(&il, buf, (size_t)n, on_packet, &s);
    }
    close(fd);
    bl_rtsp_free(&c);

    /* Live edge: arrival = offset + RTP time for frames that came live. */
    int64_t offs[MAX_FRAMES];
    int no = 0;
    for (int i = 0; i < s.nframes; i++)
        if (s.fr_ns[i] - s.first_pkt_ns > 300000000)
            offs[no++] = s.fr_ns[i] - s.fr_ts[i] * 1000000000 / 90000;
    bool have_live = no >= 5;
    int64_t live_off = 0;
    if (have_live) {
        qsort(offs, (size_t)no, sizeof(offs[0]), cmp_i64);
        live_off = offs[no / 2];
    }
    bool ok = s.nidr >= 1 && s.idr_ok[0];
    printf("{\"try\":%d,\"ok\":%s,\"end\":\"%s\",\"connect_ms\":%.3f,\"describe_ms\":%.3f,\"play_ms\":%.3f", idx,
           ok ? "true" : "false", why, ms(t_conn - s.t0), ms(c.t_describe_ns - s.t0), ms(c.t_play_ns - s.t0));
    if (s.first_pkt_ns)
        printf(",\"first_pkt_ms\":%.3f", ms(s.first_pkt_ns - s.t0));
    printf(",\"params\":\"%s\",\"lost_pkts\":%llu,\"bytes\":%llu", s.sprop ? "sdp" : (s.sps && s.pps ? "inband" : "none"),
           (unsigned long long)s.lost, (unsigned long long)s.bytes);
    if (s.nidr >= 1) {
        printf(",\"ttff_ms\":%.3f,\"idr_bytes\":%zu,\"idr_pkts\":%d", ms(s.idr_done_ns[0] - s.t0), s.idr_bytes[0],
               s.idr_pkts[0]);
        if (have_live) {
            /* When the first IDR would have arrived live; before PLAY returned means prebuffer. */
            int64_t live_arrival = live_off + s.idr_ts[0] * 1000000000 / 90000;
            bool pre = live_arrival < c.t_play_ns - 1000000;
            printf(",\"from_prebuffer\":%s,\"idr_age_ms\":%.3f", pre ? "true" : "false",
                   pre ? ms(c.t_play_ns - live_arrival) : 0.0);
            if (!pre)
                printf(",\"nopre_ms\":%.3f", ms(s.idr_done_ns[0] - s.t0));
            else if (s.nidr >= 2)
                printf(",\"nopre_ms\":%.3f", ms(s.idr_done_ns[1] - s.t0));
        }
    }
    if (s.nidr >= 2)
        printf(",\"gop_s\":%.3f", (double)(s.idr_ts[1] - s.idr_ts[0]) / 90000.0);
    printf("}\n");
    fflush(stdout);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *url = NULL;
    int tries = 20, max_sleep_ms = 2000, timeout_ms = 6000;
    long seed = (long)time(NULL);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tries") && i + 1 < argc)
            tries = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--max-sleep-ms") && i + 1 < argc)
            max_sleep_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
            timeout_ms = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = atol(argv[++i]);
        else if (argv[i][0] != '-' && !url)
            url = argv[i];
        else
            bl_die("usage: ttff URL [--tries N] [--max-sleep-ms MS] [--seed S] [--timeout-ms MS]");
    }
    if (!url)
        bl_die("usage: ttff URL [--tries N] [--max-sleep-ms MS] [--seed S] [--timeout-ms MS]");
    struct sockaddr_in sa;
    if (bl_parse_url(url, &sa) < 0)
        bl_die("ttff: bad URL %s", url);
    srand48(seed);
    int failed = 0;
    for (int i = 0; i < tries; i++) {
        if (max_sleep_ms > 0) {
            int64_t ns = (int64_t)(drand48() * max_sleep_ms * 1e6);
            struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
            }
        }
        if (one_try(i, url, &sa, timeout_ms) < 0)
            failed++;
    }
    return failed ? 1 : 0;
}
