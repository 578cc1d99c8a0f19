/* The loop side of pictures (pic.h): snapshot requests, MJPEG watchers, the
 * stream subscription, and one decode job at a time per camera on libuv's
 * thread pool (pic_codec.c does the work).
 *
 * Lifetime: the stream's CV_STREAM_EXT_PICTURE slot holds one reference;
 * so do the job in flight, every request and every watcher (their owners may
 * still cancel or stop them after the stream is gone). When the stream drops
 * the slot, the pic becomes "dying": it never touches the stream again,
 * fails what is pending and ends its watchers on a later loop turn, and is
 * freed when the last reference goes and its two handles have closed.
 *
 * Two decoders: snapshots decode the latest keyframe from a clean state,
 * which must not reset the MJPEG decoder's reference pictures mid-GOP. */
#define CV_LOG_MODULE "pic"
#include "pic/pic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "pic/pic_int.h"

#define MAX_REQS 256             /* pending snapshot requests per camera */
#define CACHE_SLOTS 4            /* JPEGs of the cached keyframe, by width */
#define QUEUE_MAX 150            /* frames waiting for the MJPEG decoder */
#define QUEUE_AGE_US 1000000     /* the oldest waited this long: skip to the next keyframe */

enum { REQ_WAITING, REQ_RUNNING, REQ_DONE };

struct cv_pic_req {
    cv_pic *pic;
    cv_pic_req *prev, *next;
    cv_frame *kf;                /* the keyframe asked for (reference) */
    int width;                   /* normalised: 0 is the source width */
    int state;
    bool due;                    /* done before the current delivery pass began */
    bool in_done;                /* its done callback is running: cancel only marks it */
    int status;
    cv_frame *jpeg;              /* reference, when status is 0 */
    void (*done)(void *ctx, int status, cv_frame *jpeg);
    void *ctx;
};

struct cv_pic_watch {
    cv_pic *pic;
    cv_pic_watch *prev, *next;
    int width;
    int64_t interval_us, next_us; /* due when next_us <= now */
    uint64_t round;              /* the last delivery round that visited it */
    bool ended;                  /* no more pictures: on_end is due or done */
    bool end_due;
    char reason[64];
    void (*on_jpeg)(void *ctx, cv_frame *jpeg);
    void (*on_end)(void *ctx, const char *reason);
    void *ctx;
};

typedef struct {
    cv_frame *f;
    int64_t enq_us;
} qent;

struct cv_pic {
    uv_loop_t *loop;
    cv_stream *stream;           /* borrowed; NULL once the stream dropped us */
    cv_pic_config cfg;
    unsigned refs;
    bool dying;
    int closing;                 /* handles still closing after the last reference */
    uv_timer_t warm;             /* frees idle decoders after keep_warm_ms */
    uv_idle_t defer;             /* callbacks and unsubscribing on a later loop turn */
    cv_pic_stats st;

    /* One job in flight; the decoders belong to it while busy. */
    uv_work_t work;
    bool busy;
    cv__pic_job job;
    cv__pic_dec *snap_dec, *live_dec;

    /* Snapshots */
    cv_pic_req *reqs, *reqs_tail;
    size_t nreqs;
    cv_frame *snap_kf;           /* the keyframe of the cache (reference) */
    bool snap_pic;               /* snap_dec still holds snap_kf's picture */
    int snap_w, snap_h;          /* snap_kf's picture size */
    struct {
        int width;               /* of the JPEG */
        cv_frame *jpeg;
    } cache[CACHE_SLOTS];
    unsigned cache_next;

    /* MJPEG */
    cv_pic_watch *watchers;
    uint32_t nwatch;             /* not stopped */
    uint32_t nactive;            /* not stopped and not ended */
    uint64_t round;
    cv_sub *sub;
    bool sub_closed;             /* the stream closed it: free it on a later turn */
    size_t vtrack;
    qent q[QUEUE_MAX];
    size_t qhead, qn;
    bool skipping;
};

static void kick(cv_pic *p);

/* --- lifetime --- */

static void cache_clear(cv_pic *p)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        cv_frame_unref(p->cache[i].jpeg);
        p->cache[i].jpeg = NULL;
    }
    cv_frame_unref(p->snap_kf);
    p->snap_kf = NULL;
}

static void queue_clear(cv_pic *p)
{
    for (size_t i = 0; i < p->qn; i++)
        cv_frame_unref(p->q[(p->qhead + i) % QUEUE_MAX].f);
    p->qhead = p->qn = 0;
}

/* Releases the decoders now; only while no job holds them. */
static void decoders_free(cv_pic *p)
{
    cv__pic_dec_free(p->snap_dec);
    cv__pic_dec_free(p->live_dec);
    p->snap_dec = p->live_dec = NULL;
    p->snap_pic = false;
}

static void closed_cb(uv_handle_t *h)
{
    cv_pic *p = h->data;
    if (--p->closing)
        return;
    decoders_free(p);
    free(p);
}

static void pic_unref(cv_pic *p)
{
    if (--p->refs)
        return;
    /* Nothing refers to it any more: no job, request, watcher or stream. */
    cache_clear(p);
    queue_clear(p);
    p->closing = 2;
    uv_close((uv_handle_t *)&p->warm, closed_cb);
    uv_close((uv_handle_t *)&p->defer, closed_cb);
}

static void defer_cb(uv_idle_t *h);
static void warm_cb(uv_timer_t *t);

/* Frees idle decoders keep_warm_ms from now (after a job, or once the last
 * watcher is gone). */
static void cool_later(cv_pic *p)
{
    if (!p->dying)
        uv_timer_start(&p->warm, warm_cb, (uint64_t)p->cfg.keep_warm_ms, 0);
}


static void defer_start(cv_pic *p)
{
    if (!uv_is_active((uv_handle_t *)&p->defer))
        uv_idle_start(&p->defer, defer_cb);
}

/* Ends w (on_end on a later turn); a pending end takes the newer reason. */
static void end_one(cv_pic *p, cv_pic_watch *w, const char *reason)
{
    if (w->ended && !w->end_due)
        return;
    if (!w->ended && !--p->nactive)
        cool_later(p);
    w->ended = w->end_due = true;
    snprintf(w->reason, sizeof(w->reason), "%s", reason);
    defer_start(p);
}

static void end_watchers(cv_pic *p, const char *reason)
{
    for (cv_pic_watch *w = p->watchers; w; w = w->next)
        end_one(p, w, reason);
}

static void drop(void *ptr)
{
    cv_pic *p = ptr;
    p->dying = true;
    p->stream = NULL;
    /* Not from inside a sink callback (the stream drops companions after
     * closing its viewers), and the subscription holds a stream reference,
     * so the stream is alive here. */
    cv_sub_free(p->sub);
    p->sub = NULL;
    queue_clear(p);
    cache_clear(p);
    for (cv_pic_req *r = p->reqs; r; r = r->next) {
        if (r->state != REQ_DONE) {
            r->state = REQ_DONE;
            r->status = -ESHUTDOWN;
        }
    }
    end_watchers(p, "camera gone");
    defer_start(p);
    uv_timer_stop(&p->warm);
    if (!p->busy) /* else when the job is done */
        decoders_free(p);
    pic_unref(p);
}

static void warm_cb(uv_timer_t *t)
{
    cv_pic *p = t->data;
    if (p->busy || p->dying)
        return; /* the job's end restarts the timer */
    cv__pic_dec_free(p->snap_dec);
    p->snap_dec = NULL;
    p->snap_pic = false;
    cache_clear(p); /* also releases the keyframe it holds */
    if (!p->nactive) {
        cv__pic_dec_free(p->live_dec);
        p->live_dec = NULL;
    }
}

static void cfg_defaults(cv_pic_config *c, const cv_pic_config *in)
{
    c->quality = in && in->quality ? CV_MAX(2, CV_MIN(in->quality, 31)) : 5;
    c->keep_warm_ms = in && in->keep_warm_ms > 0 ? in->keep_warm_ms : 10000;
    c->max_fps = in && in->max_fps > 0 ? in->max_fps : 30;
}

cv_pic *cv_pic_get(uv_loop_t *loop, cv_stream *s, const cv_pic_config *cfg)
{
    cv_pic *p = cv_stream_ext(s, CV_STREAM_EXT_PICTURE);
    if (p)
        return p;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->loop = loop;
    p->stream = s;
    cfg_defaults(&p->cfg, cfg);
    p->refs = 1; /* the stream's slot */
    uv_timer_init(loop, &p->warm);
    uv_idle_init(loop, &p->defer);
    p->warm.data = p->defer.data = p->work.data = p;
    /* An idle decoder must not keep a loop that is winding down alive. */
    uv_unref((uv_handle_t *)&p->warm);
    cv_stream_set_ext(s, CV_STREAM_EXT_PICTURE, p, drop);
    return p;
}

void cv_pic_get_stats(const cv_pic *p, cv_pic_stats *out)
{
    *out = p->st;
    out->watchers = p->nwatch;
    /* While a job runs the pool thread may be creating a decoder: don't read the pointers. */
    out->decoder_warm = p->busy || p->snap_dec || p->live_dec;
}

/* --- snapshots --- */

static void job_clear(cv__pic_job *j)
{
    for (size_t i = 0; i < j->nframes; i++)
        cv_frame_unref(j->frames[i]);
    for (size_t i = 0; i < j->nwidths; i++)
        cv_frame_unref(j->jpeg[i]);
    memset(j, 0, sizeof(*j));
}

/* Requested widths are kept as asked (clamped, even): what they give
 * depends on the source size, known only after decoding, so sharing across
 * widths is decided by output size (the cache, job_jpeg, the worker). */
static int norm_width(int width) { return CV_MAX(0, CV_MIN(width, CV_PIC_MAX_WIDTH)) & ~1; }

static void req_finish(cv_pic *p, cv_pic_req *r, int status, cv_frame *jpeg)
{
    r->state = REQ_DONE;
    r->status = status;
    r->jpeg = jpeg ? cv_frame_ref(jpeg) : NULL;
    p->st.snapshots += jpeg != NULL;
    defer_start(p);
}

/* The cached JPEG of kf that width gives, or NULL. */
static cv_frame *cache_find(const cv_pic *p, const cv_frame *kf, int width)
{
    if (!p->snap_kf || p->snap_kf != kf)
        return NULL;
    int w, h;
    cv__pic_out_size(p->snap_w, p->snap_h, width, &w, &h);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (p->cache[i].jpeg && p->cache[i].width == w)
            return p->cache[i].jpeg;
    return NULL;
}

static void cache_put(cv_pic *p, int width, cv_frame *jpeg)
{
    if (cache_find(p, p->snap_kf, width))
        return;
    int w, h;
    cv__pic_out_size(p->snap_w, p->snap_h, width, &w, &h);
    unsigned i = p->cache_next++ % CACHE_SLOTS;
    cv_frame_unref(p->cache[i].jpeg);
    p->cache[i].width = w;
    p->cache[i].jpeg = cv_frame_ref(jpeg);
}

static void req_free(cv_pic_req *r)
{
    cv_pic *p = r->pic;
    if (r->prev)
        r->prev->next = r->next;
    else
        p->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        p->reqs_tail = r->prev;
    p->nreqs--;
    cv_frame_unref(r->kf);
    cv_frame_unref(r->jpeg);
    free(r);
    pic_unref(p);
}

int cv_pic_snapshot(cv_pic *p, int width, void (*done)(void *ctx, int status, cv_frame *jpeg), void *ctx,
                    cv_pic_req **out)
{
    if (p->nreqs >= MAX_REQS)
        return -EAGAIN;
    cv_pic_req *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->pic = p;
    r->done = done;
    r->ctx = ctx;
    r->width = norm_width(width);
    r->prev = p->reqs_tail;
    if (p->reqs_tail)
        p->reqs_tail->next = r;
    else
        p->reqs = r;
    p->reqs_tail = r;
    p->nreqs++;
    p->refs++;
    *out = r;

    size_t track = 0;
    r->kf = p->dying ? NULL : cv_stream_keyframe(p->stream, &track);
    if (!r->kf) {
        req_finish(p, r, p->dying ? -ESHUTDOWN : -ENODATA, NULL);
        return 0;
    }
    cv_frame *hit = cache_find(p, r->kf, r->width);
    if (hit) {
        p->st.shared++;
        req_finish(p, r, 0, hit);
        return 0;
    }
    /* Someone already asked for this keyframe at this width: ride along. */
    for (cv_pic_req *o = p->reqs; o; o = o->next) {
        if (o != r && o->state != REQ_DONE && o->kf == r->kf && o->width == r->width) {
            r->state = o->state;
            p->st.shared++;
            return 0;
        }
    }
    r->state = REQ_WAITING;
    kick(p);
    return 0;
}

void cv_pic_cancel(cv_pic_req *r)
{
    if (!r)
        return;
    if (r->in_done)
        return; /* cancelled from its own callback: freed when it returns */
    req_free(r); /* a job it rode on still fills the cache */
}

/* The track info of track i, refreshed from the stream (in-band parameter sets). */
static bool track_info(cv_pic *p, size_t i, cv_track_info *out)
{
    cv_track_info t[CV_MAX_TRACKS];
    size_t n = cv_stream_tracks(p->stream, t, CV_MAX_TRACKS);
    if (i >= CV_MIN(n, (size_t)CV_MAX_TRACKS))
        return false;
    *out = t[i];
    return true;
}

static bool add_width(cv__pic_job *j, int width)
{
    for (size_t i = 0; i < j->nwidths; i++)
        if (j->widths[i] == width)
            return true;
    if (j->nwidths == CV__PIC_WIDTHS_MAX)
        return false;
    j->widths[j->nwidths++] = width;
    return true;
}

/* A job for the oldest waiting request's keyframe and every width asked
 * for it; false when nothing is left to decode. */
static bool build_snap(cv_pic *p, cv__pic_job *j)
{
    cv_pic_req *first = p->reqs;
    while (first && first->state != REQ_WAITING)
        first = first->next;
    if (!first)
        return false;
    cv_frame *kf = first->kf;
    if (!track_info(p, kf->meta.track, &j->info)) { /* the track is gone: so is its keyframe */
        for (cv_pic_req *r = p->reqs; r; r = r->next)
            if (r->state == REQ_WAITING && r->kf == kf)
                req_finish(p, r, -ENODATA, NULL);
        return build_snap(p, j);
    }
    j->snapshot = true;
    j->dec = &p->snap_dec;
    j->reuse = p->snap_pic && p->snap_kf == kf;
    j->frames[0] = cv_frame_ref(kf);
    j->nframes = 1;
    for (cv_pic_req *r = p->reqs; r; r = r->next) {
        if (r->state != REQ_WAITING || r->kf != kf)
            continue;
        cv_frame *hit = cache_find(p, kf, r->width);
        if (hit)
            req_finish(p, r, 0, hit); /* cached since it asked */
        else if (add_width(j, r->width))
            r->state = REQ_RUNNING;
    }
    if (j->nwidths)
        return true;
    job_clear(j); /* all served from the cache */
    return build_snap(p, j);
}

static void snap_done(cv_pic *p, cv__pic_job *j)
{
    cv_frame *kf = j->frames[0];
    if (j->status == 0 && j->src_w > 0) {
        if (p->snap_kf != kf) {
            cache_clear(p);
            p->snap_kf = cv_frame_ref(kf);
        }
        p->snap_w = j->src_w;
        p->snap_h = j->src_h;
        p->snap_pic = true;
        for (size_t i = 0; i < j->nwidths; i++)
            if (j->jpeg[i])
                cache_put(p, j->widths[i], j->jpeg[i]);
    } else {
        p->snap_pic = false;
        CV_DEBUG("snapshot: the decoder refused the keyframe (%d)", j->status);
    }
    for (cv_pic_req *r = p->reqs; r; r = r->next) {
        if (r->state != REQ_RUNNING || r->kf != kf)
            continue;
        cv_frame *jpeg = NULL;
        for (size_t i = 0; i < j->nwidths; i++)
            if (j->widths[i] == r->width)
                jpeg = j->jpeg[i];
        req_finish(p, r, jpeg ? 0 : -EIO, jpeg); /* any failure (codec, memory, data) is -EIO to the caller */
    }
}

/* --- MJPEG --- */

static bool build_live(cv_pic *p, cv__pic_job *j)
{
    if (!p->qn || !p->sub || p->sub_closed || !p->nactive)
        return false;
    if (!track_info(p, p->vtrack, &j->info)) {
        queue_clear(p);
        return false;
    }
    j->snapshot = false;
    j->dec = &p->live_dec;
    while (p->qn && j->nframes < CV__PIC_BATCH_MAX) {
        j->frames[j->nframes++] = p->q[p->qhead].f;
        p->qhead = (p->qhead + 1) % QUEUE_MAX;
        p->qn--;
    }
    /* Encode only for watchers due a picture; the rest is decoded because
     * later frames refer to it. */
    int64_t now = cv_now_us();
    for (cv_pic_watch *w = p->watchers; w; w = w->next)
        if (!w->ended && w->next_us <= now)
            add_width(j, w->width);
    return true;
}

/* The job's JPEG of the output size width gives for its source. */
static cv_frame *job_jpeg(const cv__pic_job *j, int width)
{
    int w, h, wi, hi;
    cv__pic_out_size(j->src_w, j->src_h, width, &w, &h);
    for (size_t i = 0; i < j->nwidths; i++) {
        cv__pic_out_size(j->src_w, j->src_h, j->widths[i], &wi, &hi);
        if (wi == w && j->jpeg[i])
            return j->jpeg[i];
    }
    return NULL;
}

static void live_done(cv_pic *p, cv__pic_job *j)
{
    if (!j->nwidths || !j->src_w)
        return;
    p->round++;
    /* Rescan from the head after each callback: on_jpeg may stop any watcher. */
    for (;;) {
        int64_t now = cv_now_us();
        cv_pic_watch *w = p->watchers;
        cv_frame *jpeg = NULL;
        for (; w; w = w->next) {
            if (w->ended || w->round == p->round || w->next_us > now)
                continue;
            w->round = p->round;
            if ((jpeg = job_jpeg(j, w->width)) != NULL)
                break;
        }
        if (!w || p->dying)
            return;
        /* Keep the average rate: the next one is due an interval after this
         * one was due, unless this one was already more than an interval late. */
        w->next_us = w->next_us + w->interval_us < now ? now : w->next_us + w->interval_us;
        w->on_jpeg(w->ctx, jpeg);
    }
}

static void sink_close(void *ctx, const char *reason)
{
    cv_pic *p = ctx;
    /* The subscription is detached; cv_sub_free must wait for a later turn. */
    p->sub_closed = true;
    queue_clear(p);
    end_watchers(p, reason ? reason : "camera gone");
}

static int sink_write(void *ctx, cv_frame *f)
{
    cv_pic *p = ctx;
    if (p->dying || !p->nactive || p->sub_closed || f->meta.track != p->vtrack)
        return 1;
    bool key = f->meta.flags & CV_FRAME_KEY;
    /* Fallen behind (the pool is slower than the camera): drop what waits
     * and resume at the next keyframe, the only place a decoder can. */
    if (p->qn && (p->qn == QUEUE_MAX || cv_now_us() - p->q[p->qhead].enq_us > QUEUE_AGE_US)) {
        p->st.skipped += p->qn;
        queue_clear(p);
        p->skipping = true;
    }
    if (p->skipping && !key) {
        p->st.skipped++;
        return 1;
    }
    p->skipping = false;
    qent *e = &p->q[(p->qhead + p->qn++) % QUEUE_MAX];
    e->f = cv_frame_ref(f);
    e->enq_us = cv_now_us();
    kick(p);
    return 1; /* consumed: our own queue holds the reference */
}

static const cv_sink_ops sink_ops = {sink_write, sink_close};

/* Subscribes to the first video track: 0, -ENOENT (none) or -ENOMEM. */
static int subscribe(cv_pic *p)
{
    cv_track_info t[CV_MAX_TRACKS];
    size_t n = CV_MIN(cv_stream_tracks(p->stream, t, CV_MAX_TRACKS), (size_t)CV_MAX_TRACKS);
    size_t v = 0;
    while (v < n && !(t[v].kind == CV_MEDIA_VIDEO && (t[v].codec == CV_CODEC_H264 || t[v].codec == CV_CODEC_H265)))
        v++;
    if (v == n)
        return -ENOENT;
    p->sub = cv_stream_subscribe(p->stream, 1u << v, &sink_ops, p);
    if (!p->sub)
        return -ENOMEM;
    p->vtrack = v;
    p->sub_closed = false;
    p->skipping = false;
    cv_sub_start(p->sub); /* the prebuffer, from the latest keyframe, arrives now */
    return 0;
}

cv_pic_watch *cv_pic_watch_start(cv_pic *p, int width, double fps, void (*on_jpeg)(void *ctx, cv_frame *jpeg),
                                 void (*on_end)(void *ctx, const char *reason), void *ctx)
{
    cv_pic_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->pic = p;
    w->width = norm_width(width);
    if (!(fps >= 0.1)) /* also NaN */
        fps = 0.1;
    fps = fps > p->cfg.max_fps ? p->cfg.max_fps : fps;
    w->interval_us = (int64_t)(1e6 / fps);
    w->next_us = cv_now_us(); /* the first picture as soon as there is one */
    w->on_jpeg = on_jpeg;
    w->on_end = on_end;
    w->ctx = ctx;
    w->next = p->watchers;
    if (p->watchers)
        p->watchers->prev = w;
    p->watchers = w;
    p->nwatch++;
    p->nactive++;
    p->refs++;
    if (p->dying) {
        end_one(p, w, "camera gone");
        return w;
    }
    if (p->sub && p->sub_closed) { /* closed by the stream and not freed yet: we are not in its callback */
        cv_sub_free(p->sub);
        p->sub = NULL;
    }
    int rc = p->sub ? 0 : subscribe(p);
    if (rc == -ENOENT) {
        end_one(p, w, "camera has no video");
    } else if (rc < 0) {
        cv_pic_watch_stop(w);
        return NULL;
    }
    return w;
}

void cv_pic_watch_stop(cv_pic_watch *w)
{
    if (!w)
        return;
    cv_pic *p = w->pic;
    if (w->prev)
        w->prev->next = w->next;
    else
        p->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (!w->ended)
        p->nactive--;
    p->nwatch--;
    free(w);
    if (!p->nactive) {
        /* Nothing more to decode; unsubscribe on a later turn (we may be
         * inside some stream's callbacks). A watcher starting before then
         * reuses the subscription from the next keyframe: the frames
         * dropped here leave the decoder without references. */
        queue_clear(p);
        p->skipping = true;
        cool_later(p);
        if (p->sub)
            defer_start(p);
    }
    pic_unref(p);
}

/* --- jobs --- */

static void work_cb(uv_work_t *w)
{
    cv_pic *p = w->data;
    cv__pic_run(&p->job);
}

static void after_work_cb(uv_work_t *w, int status)
{
    cv_pic *p = w->data;
    cv__pic_job *j = &p->job;
    (void)status; /* never cancelled; a failed queueing comes with j->status set */
    p->st.decodes += j->decoded;
    p->st.encodes += j->encoded;
    p->st.errors += j->errors;
    if (!p->dying) {
        /* p->busy stays set while callbacks run, so a snapshot asked from
         * on_jpeg waits for the kick below instead of reusing j. */
        if (j->snapshot)
            snap_done(p, j);
        else
            live_done(p, j);
    }
    job_clear(j);
    p->busy = false;
    if (p->dying)
        decoders_free(p);
    cool_later(p);
    kick(p);
    pic_unref(p); /* the job's */
}

static void kick(cv_pic *p)
{
    if (p->busy || p->dying)
        return;
    cv__pic_job *j = &p->job;
    /* Snapshots first: one short decode, and a person is waiting. */
    if (!build_snap(p, j) && !build_live(p, j)) {
        job_clear(j);
        return;
    }
    j->quality = p->cfg.quality;
    p->busy = true;
    p->refs++;
    int rc = uv_queue_work(p->loop, &p->work, work_cb, after_work_cb);
    if (rc < 0) { /* only for invalid arguments: not expected; fail the job as if it ran */
        CV_ERROR("uv_queue_work: %s", uv_strerror(rc));
        j->status = -EIO;
        after_work_cb(&p->work, rc);
    }
}

static void defer_cb(uv_idle_t *h)
{
    cv_pic *p = h->data;
    uv_idle_stop(h);
    p->refs++; /* callbacks may stop, cancel or drop anything */
    if (p->sub && (p->sub_closed || !p->nactive)) {
        cv_sub_free(p->sub);
        p->sub = NULL;
        queue_clear(p);
    }
    /* Answers ready before this pass; later ones wait a turn, so a done
     * callback's own new request is not answered from inside it. */
    for (cv_pic_req *r = p->reqs; r; r = r->next)
        r->due = r->state == REQ_DONE;
    for (;;) {
        cv_pic_req *r = p->reqs;
        while (r && !r->due)
            r = r->next;
        if (!r)
            break;
        r->due = false;
        r->in_done = true;
        r->done(r->ctx, r->status, r->jpeg);
        req_free(r);
    }
    for (;;) {
        cv_pic_watch *w = p->watchers;
        while (w && !w->end_due)
            w = w->next;
        if (!w)
            break;
        w->end_due = false;
        w->on_end(w->ctx, w->reason);
    }
    pic_unref(p);
}
