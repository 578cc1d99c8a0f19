/* Live answers over HTTP: the progressive fMP4 (the HLS packager's chunks
 * as they are made), MJPEG (multipart/x-mixed-replace) and JPEG snapshots.
 * Each is in the module's live list while it runs, so a recheck or a
 * removed camera ends it. */
#define CV_LOG_MODULE "watch"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "watch/watch_int.h"

#define BOUNDARY "cvframe"
#define MJPEG_TYPE "multipart/x-mixed-replace; boundary=" BOUNDARY

static void released(cv__wreq *r)
{
    r->req = NULL;
    cv__wreq_release(r);
}

void cv__watch_live_end(cv__wreq *r, const char *why)
{
    if (r->closing)
        return;
    if (r->req) {
        if (r->kind == WR_SNAPSHOT) {
            cv__watch_json_error(r->req, 503, why, NULL);
        } else {
            cv_http_req_on_gone(r->req, NULL, NULL);
            cv_http_stream_end(r->req);
            cv__watch_event(r->w, CV_RTSP_EV_VIEW_STOP, r, why);
        }
    }
    released(r);
}

static void live_gone(void *ctx, cv_http_req *req)
{
    cv__wreq *r = ctx;
    if (r->kind == WR_SNAPSHOT) {
        released(r); /* a pending request is freed by the server after this */
        return;
    }
    (void)req;
    cv__watch_live_end(r, "viewer left");
}

/* The camera's stream for a live answer (a new reference), or NULL after
 * answering 503 "camera offline". */
static cv_stream *online_stream(cv__wreq *r)
{
    cv_stream *s = cv__watch_stream(r->w, &r->camera, r->sub);
    if (!s || !cv_stream_online(s)) {
        cv__watch_offline(r->w, r->req, s);
        cv_stream_unref(s);
        return NULL;
    }
    return s;
}

static int int_param(cv_http_req *req, const char *name, int def, int lo, int hi, bool *bad)
{
    char v[16];
    int n = cv_http_req_query_param(req, name, v, sizeof(v));
    if (n == -ENOENT)
        return def;
    uint64_t x;
    if (n <= 0 || cv_str_to_u64((cv_str){v, (size_t)n}, (uint64_t)hi, &x) != 0 || (int)x < lo) {
        *bad = true;
        return def;
    }
    return (int)x;
}

/* Reads ?rendition=main|sub. Returns false after answering 400. */
static bool pick_rendition(cv__wreq *r)
{
    char v[8];
    int n = cv_http_req_query_param(r->req, "rendition", v, sizeof(v));
    if (n == -ENOENT || (n == 4 && memcmp(v, "main", 4) == 0))
        return true;
    if (n == 3 && memcmp(v, "sub", 3) == 0) {
        r->sub = true;
        return true;
    }
    cv__watch_json_error(r->req, 400, "rendition must be main or sub", NULL);
    return false;
}

/* ------------------------------------------------------------ progressive MP4 */

static int mp4_data(void *ctx, cv_frame *chunk)
{
    cv__wreq *r = ctx;
    if (!r->req || r->closing)
        return 0;
    if (!cv__watch_provenance_ok(r, chunk)) {
        cv__watch_live_end(r, "isolation check failed");
        return 0;
    }
    int rc = cv_http_stream_write(r->req, cv_frame_data(chunk), cv_frame_len(chunk), r->w->cfg.stream_queue);
    if (rc == -ENOBUFS) {
        r->w->stats.queue_drops++;
        return 1; /* the packager resumes this viewer at the next keyframe */
    }
    if (rc == 0)
        r->w->stats.bytes_out[CV_WATCH_MP4] += cv_frame_len(chunk);
    return 0;
}

static void mp4_end(void *ctx, const char *why) { cv__watch_live_end(ctx, why); }

/* The common start of a live answer: a bad query (400), the rendition, then
 * the camera's online stream (a new reference). NULL after answering and
 * releasing r. */
static cv_stream *begin(cv__wreq *r, bool bad, const char *bad_msg)
{
    if (bad)
        cv__watch_json_error(r->req, 400, bad_msg, NULL);
    cv_stream *s = !bad && pick_rendition(r) ? online_stream(r) : NULL;
    if (!s)
        released(r);
    return s;
}

/* Ends a live answer before it started: answered already, or answered here
 * with status and msg (status 0: already answered). */
static void give_up(cv__wreq *r, cv_stream *s, int status, const char *msg)
{
    if (status)
        cv__watch_json_error(r->req, status, msg, status == 503 ? "Retry-After: 1\r\n" : NULL);
    cv_stream_unref(s);
    released(r);
}

/* A HEAD request for a live answer: its headers alone. */
static void head_only(cv__wreq *r, cv_stream *s, const char *ctype)
{
    cv_http_respond(r->req, 200, ctype, NULL, 0, CV_WATCH_NO_STORE);
    give_up(r, s, 0, NULL);
}

static void go_live(cv__wreq *r, cv_stream *s, const char *ctype)
{
    r->stream = s;
    cv_http_stream_start(r->req, 200, ctype, CV_WATCH_NO_STORE);
    cv_http_req_on_gone(r->req, live_gone, r);
    cv__watch_live_add(r);
    cv__watch_event(r->w, CV_RTSP_EV_VIEW_START, r, NULL);
}

void cv__watch_mp4(cv__wreq *r)
{
    cv_stream *s = begin(r, false, NULL);
    if (!s)
        return;
    cv_hls *h = cv_hls_get(r->w->cfg.loop, s, &r->w->cfg.hls);
    if (!h) {
        give_up(r, s, 503, "try again");
        return;
    }
    if (cv_hls_state(h) == -ENOTSUP) {
        give_up(r, s, 415, "this camera's codecs cannot be sent as MP4");
        return;
    }
    if (r->head) {
        head_only(r, s, "video/mp4");
        return;
    }
    r->fol = cv_hls_follow(h, mp4_data, mp4_end, r);
    if (!r->fol) {
        give_up(r, s, 503, "try again");
        return;
    }
    go_live(r, s, "video/mp4");
}

/* ------------------------------------------------------------ MJPEG */

static void mjpeg_jpeg(void *ctx, cv_frame *jpeg)
{
    cv__wreq *r = ctx;
    if (!r->req || r->closing)
        return;
    if (!cv__watch_provenance_ok(r, jpeg)) {
        cv__watch_live_end(r, "isolation check failed");
        return;
    }
    char hdr[128];
    int n = snprintf(hdr, sizeof(hdr), "--" BOUNDARY "\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n",
                     cv_frame_len(jpeg));
    size_t total = (size_t)n + cv_frame_len(jpeg) + 2;
    uint8_t *buf = malloc(total);
    if (!buf)
        return;
    memcpy(buf, hdr, (size_t)n);
    memcpy(buf + n, cv_frame_data(jpeg), cv_frame_len(jpeg));
    memcpy(buf + total - 2, "\r\n", 2);
    int rc = cv_http_stream_write(r->req, buf, total, r->w->cfg.stream_queue);
    free(buf);
    if (rc == -ENOBUFS)
        r->w->stats.queue_drops++; /* a picture skipped: the next one replaces it */
    else if (rc == 0)
        r->w->stats.bytes_out[CV_WATCH_MJPEG] += total;
}

static void mjpeg_end(void *ctx, const char *why) { cv__watch_live_end(ctx, why); }

void cv__watch_mjpeg(cv__wreq *r)
{
    bool bad = false;
    char v[16];
    int n = cv_http_req_query_param(r->req, "fps", v, sizeof(v));
    double fps = 5;
    if (n >= 0) {
        char *end = NULL;
        fps = strtod(v, &end);
        bad = n == 0 || !end || *end || !(fps >= 0.1 && fps <= 30);
    }
    int width = int_param(r->req, "width", 0, 16, CV_PIC_MAX_WIDTH, &bad);
    cv_stream *s = begin(r, bad, "fps must be 0.1 to 30 and width 16 to 3840");
    if (!s)
        return;
    if (r->head) {
        head_only(r, s, MJPEG_TYPE);
        return;
    }
    cv_pic *p = cv_pic_get(r->w->cfg.loop, s, &r->w->cfg.pic);
    r->pw = p ? cv_pic_watch_start(p, width, fps, mjpeg_jpeg, mjpeg_end, r) : NULL;
    if (!r->pw) {
        give_up(r, s, 503, "try again");
        return;
    }
    r->fps = fps;
    r->width = width;
    go_live(r, s, MJPEG_TYPE);
}

/* ------------------------------------------------------------ snapshots */

static void snap_done(void *ctx, int status, cv_frame *jpeg)
{
    cv__wreq *r = ctx;
    r->snap = NULL;
    if (!r->req || r->closing)
        return;
    if (status == 0 && cv__watch_provenance_ok(r, jpeg)) {
        r->w->stats.bytes_out[CV_WATCH_SNAPSHOT] += cv_frame_len(jpeg);
        cv_http_respond(r->req, 200, "image/jpeg", cv_frame_data(jpeg), cv_frame_len(jpeg), CV_WATCH_NO_STORE);
    } else if (status == 0) {
        cv__watch_json_error(r->req, 500, "internal error", "Connection: close\r\n");
    } else if (status == -ENODATA || status == -ESHUTDOWN) {
        cv__watch_offline(r->w, r->req, r->stream);
    } else {
        cv__watch_json_error(r->req, 503, "the camera's picture could not be decoded", "Retry-After: 1\r\n");
    }
    released(r);
}

void cv__watch_snapshot(cv__wreq *r)
{
    bool bad = false;
    int width = int_param(r->req, "width", 0, 16, CV_PIC_MAX_WIDTH, &bad);
    cv_stream *s = begin(r, bad, "width must be 16 to 3840");
    if (!s)
        return;
    cv_pic *p = cv_pic_get(r->w->cfg.loop, s, &r->w->cfg.pic);
    if (!p || cv_pic_snapshot(p, width, snap_done, r, &r->snap) != 0) {
        give_up(r, s, 503, "try again");
        return;
    }
    r->stream = s;
    cv_http_req_on_gone(r->req, live_gone, r);
    cv__watch_live_add(r);
}
