/* LL-HLS answers: the multivariant and media playlists (with blocking
 * reload), the init segment, segments and parts (the hinted part blocks
 * until it is made). Each answer that cannot be given yet waits on the
 * packager, bounded by block_us. */
#define CV_LOG_MODULE "watch"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "watch/watch_int.h"

#define MIME_M3U8 "application/vnd.apple.mpegurl"

static bool try_answer(cv__wreq *r);

/* The request was answered (and freed by the HTTP server): release ours. */
static void finish(cv__wreq *r)
{
    r->req = NULL;
    cv__wreq_release(r);
}

static void on_gone(void *ctx, cv_http_req *req)
{
    cv__wreq *r = ctx;
    (void)req;
    r->req = NULL;
    cv__wreq_release(r);
}

static void on_wake(void *ctx, int status)
{
    cv__wreq *r = ctx;
    r->wait = NULL; /* freed by the packager after this returns */
    (void)status;   /* a stopped packager is looked up (or made) again */
    if (r->req && try_answer(r))
        finish(r);
}

static void on_timeout(uv_timer_t *t)
{
    cv__wreq *r = t->data;
    if (!r->req)
        return;
    if (r->kind == WR_PART || r->kind == WR_SEGMENT)
        cv__watch_json_error(r->req, 404, "not available", NULL);
    else
        cv__watch_json_error(r->req, 503, "no video from the camera yet", "Retry-After: 1\r\n");
    finish(r);
}

static bool wait_on(cv__wreq *r, cv_hls *h)
{
    if (!r->wait)
        r->wait = cv_hls_wait_start(h, on_wake, r);
    if (!r->wait) {
        cv__watch_json_error(r->req, 503, "cannot wait", NULL);
        return true;
    }
    if (!r->timer_started) {
        r->timer_started = true;
        uv_timer_start(&r->timer, on_timeout, (uint64_t)(r->w->cfg.block_us / 1000), 0);
    }
    return false;
}

/* "bytes=a-b", "bytes=a-", "bytes=-n"; several ranges are answered whole,
 * as HTTP allows. */
int cv__watch_byte_range(cv_str h, size_t len, size_t *from, size_t *to)
{
    if (!h.p)
        return 0;
    h = cv_str_trim(h);
    if (h.len < 7 || memcmp(h.p, "bytes=", 6) != 0)
        return -1;
    cv_str spec = {h.p + 6, h.len - 6};
    if (memchr(spec.p, ',', spec.len))
        return 0;
    const char *dash = memchr(spec.p, '-', spec.len);
    if (!dash)
        return -1;
    cv_str a = {spec.p, (size_t)(dash - spec.p)}, b = {dash + 1, spec.len - a.len - 1};
    uint64_t x = 0, y = 0;
    if (a.len == 0) { /* the last y bytes */
        if (cv_str_to_u64(b, UINT32_MAX, &y) != 0 || y == 0 || len == 0)
            return -1;
        *from = y >= len ? 0 : len - (size_t)y;
        *to = len - 1;
        return 1;
    }
    if (cv_str_to_u64(a, UINT32_MAX, &x) != 0 || x >= len)
        return -1;
    if (b.len == 0)
        y = len - 1;
    else if (cv_str_to_u64(b, UINT32_MAX, &y) != 0 || y < x)
        return -1;
    *from = (size_t)x;
    *to = y >= len ? len - 1 : (size_t)y;
    return 1;
}

static void serve(cv__wreq *r, cv_frame *f)
{
    size_t len = cv_frame_len(f), from = 0, to = 0;
    int range = cv__watch_byte_range(cv_http_req_header(r->req, "Range"), len, &from, &to);
    if (!cv__watch_provenance_ok(r, f)) {
        cv__watch_json_error(r->req, 500, "internal error", "Connection: close\r\n");
    } else if (range < 0) {
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "Content-Range: bytes */%zu\r\n", len);
        cv__watch_json_error(r->req, 416, "range not satisfiable", hdr);
    } else if (range > 0) {
        char hdr[160];
        snprintf(hdr, sizeof(hdr), CV_WATCH_NO_STORE "Content-Range: bytes %zu-%zu/%zu\r\n", from, to, len);
        r->w->stats.bytes_out[CV_WATCH_HLS] += to - from + 1;
        cv_http_respond(r->req, 206, "video/mp4", cv_frame_data(f) + from, to - from + 1, hdr);
    } else {
        r->w->stats.bytes_out[CV_WATCH_HLS] += len;
        cv_http_respond(r->req, 200, "video/mp4", cv_frame_data(f), len, CV_WATCH_NO_STORE "Accept-Ranges: bytes\r\n");
    }
    cv_frame_unref(f);
}

static void variant(cv_sbuf *b, cv_hls *h, const char *name, const char *sid, uint64_t fallback_bw)
{
    uint64_t bw = cv_hls_bandwidth(h);
    cv_sbuf_printf(b, "#EXT-X-STREAM-INF:BANDWIDTH=%llu,CODECS=\"%s\"", (unsigned long long)(bw ? bw : fallback_bw),
                   cv_hls_codecs(h));
    int wd, ht;
    if (cv_hls_resolution(h, &wd, &ht))
        cv_sbuf_printf(b, ",RESOLUTION=%dx%d", wd, ht);
    double fps = cv_hls_frame_rate(h);
    if (fps > 0)
        cv_sbuf_printf(b, ",FRAME-RATE=%.3f", fps);
    cv_sbuf_printf(b, "\n%s/live.m3u8?s=%s\n", name, sid);
}

static bool multivariant(cv__wreq *r, cv_stream *main, cv_hls *h)
{
    /* The substream is offered when it is live and packaged; asking for the
     * multivariant playlist starts its packager, so the next ask has it. */
    cv_hls *hs = NULL;
    cv_stream *sub = cv_stream_ext(main, CV_STREAM_EXT_SUB);
    if (sub && cv_stream_online(sub)) {
        hs = cv_hls_get(r->w->cfg.loop, sub, &r->w->cfg.hls);
        if (hs) {
            cv_hls_touch(hs);
            if (cv_hls_state(hs) != 0)
                hs = NULL;
        }
    }
    cv_sbuf b;
    cv_sbuf_init(&b);
    cv_sbuf_puts(&b, "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    variant(&b, h, "main", r->sid_hex, 2000000);
    if (hs)
        variant(&b, hs, "sub", r->sid_hex, 300000);
    if (cv_sbuf_ok(&b))
        cv_http_respond(r->req, 200, MIME_M3U8, b.p, b.len, CV_WATCH_NO_STORE);
    else
        cv__watch_json_error(r->req, 503, "out of memory", NULL);
    cv_sbuf_free(&b);
    return true;
}

static bool playlist(cv__wreq *r, cv_hls *h)
{
    if (r->msn >= 0) {
        if (cv_hls_locate(h, r->msn, -1) == -ERANGE) {
            cv__watch_json_error(r->req, 400, "_HLS_msn is too far in the future", NULL);
            return true;
        }
        if (!cv_hls_playlist_ready(h, r->msn, r->part))
            return wait_on(r, h);
    }
    char q[64];
    snprintf(q, sizeof(q), "s=%s", r->sid_hex);
    cv_sbuf b;
    cv_sbuf_init(&b);
    if (cv_hls_playlist(h, q, &b) == 0)
        cv_http_respond(r->req, 200, MIME_M3U8, b.p, b.len, CV_WATCH_NO_STORE);
    else
        cv__watch_json_error(r->req, 503, "playlist not ready", "Retry-After: 1\r\n");
    cv_sbuf_free(&b);
    return true;
}

static bool media(cv__wreq *r, cv_hls *h)
{
    int loc = cv_hls_locate(h, r->msn, r->kind == WR_PART ? r->part : -1);
    if (loc == -ERANGE) {
        cv__watch_json_error(r->req, 400, "too far in the future", NULL);
        return true;
    }
    if (loc == -ENOENT) {
        cv__watch_json_error(r->req, 404, "not available", NULL);
        return true;
    }
    if (loc == 1)
        return wait_on(r, h);
    cv_frame *f = r->kind == WR_PART ? cv_hls_part(h, r->msn, r->part) : cv_hls_segment(h, r->msn);
    if (!f) {
        cv__watch_json_error(r->req, 404, "not available", NULL);
        return true;
    }
    serve(r, f);
    return true;
}

/* Answers now (true) or arranges to be woken (false). */
static bool try_answer(cv__wreq *r)
{
    cv_watch *w = r->w;
    if (!cv__watch_session_alive(w, r->sid)) { /* revoked while it waited */
        cv__watch_json_error(r->req, 401, "session expired or unknown: reload with a token", NULL);
        return true;
    }
    cv_stream *s = cv__watch_stream(w, &r->camera, r->sub);
    if (!s) {
        if (r->sub)
            cv__watch_json_error(r->req, 404, "this camera has no substream", NULL);
        else
            cv__watch_offline(w, r->req, NULL);
        return true;
    }
    bool done = true;
    cv_hls *h = cv_hls_get(w->cfg.loop, s, &w->cfg.hls);
    if (!h) {
        if (!cv_stream_online(s))
            cv__watch_offline(w, r->req, s);
        else
            cv__watch_json_error(r->req, 503, "cannot package this camera now", "Retry-After: 1\r\n");
        goto out;
    }
    cv_hls_touch(h);
    int st = cv_hls_state(h);
    if (st == -ENOTSUP) {
        cv__watch_json_error(r->req, 415, "this camera's codecs cannot be sent over HLS", NULL);
        goto out;
    }
    if (st != 0 && !cv_stream_online(s) && !r->wait) {
        cv__watch_offline(w, r->req, s);
        goto out;
    }
    if (st != 0 && r->kind != WR_PART && r->kind != WR_SEGMENT) {
        done = wait_on(r, h);
        goto out;
    }
    switch (r->kind) {
    case WR_MULTIVARIANT:
        done = multivariant(r, s, h);
        break;
    case WR_PLAYLIST:
        done = playlist(r, h);
        break;
    case WR_INIT: {
        cv_frame *f = cv_hls_init_gen(h, (unsigned)r->msn);
        if (f)
            serve(r, f); /* (the packager is ready, so generation 0 or a later one exists) */
        else
            cv__watch_json_error(r->req, 404, "not available", NULL);
        break;
    }
    default:
        done = media(r, h);
        break;
    }
out:
    cv_stream_unref(s);
    return done;
}

void cv__watch_hls(cv__wreq *r)
{
    r->msn = r->kind == WR_PLAYLIST ? -1 : r->msn;
    if (r->kind == WR_PLAYLIST) {
        char v[32];
        uint64_t n;
        int len = cv_http_req_query_param(r->req, "_HLS_msn", v, sizeof(v));
        int plen;
        if (len >= 0) {
            if (cv_str_to_u64((cv_str){v, (size_t)len}, INT64_MAX / 2, &n) != 0) {
                cv__watch_json_error(r->req, 400, "bad _HLS_msn", NULL);
                finish(r);
                return;
            }
            r->msn = (int64_t)n;
        }
        plen = cv_http_req_query_param(r->req, "_HLS_part", v, sizeof(v));
        if (plen >= 0) {
            if (len < 0 || cv_str_to_u64((cv_str){v, (size_t)plen}, 100000, &n) != 0) {
                cv__watch_json_error(r->req, 400, "bad _HLS_part (it needs _HLS_msn)", NULL);
                finish(r);
                return;
            }
            r->part = (int)n;
        }
    }
    if (try_answer(r)) {
        finish(r);
        return;
    }
    cv_http_req_on_gone(r->req, on_gone, r);
}
