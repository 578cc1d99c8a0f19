#define CV_LOG_MODULE "hls"
#include "hls/packager.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "mux/fmp4.h"

#define PARTS_KEPT_SEGMENTS 4 /* segments whose parts stay stored (and listed) */
#define IDLE_CHECK_MS 1000

typedef struct {
    cv_frame *f;
    int64_t dur_us;
    bool indep;
} hls_part;

typedef struct {
    int64_t msn;
    hls_part *parts;
    size_t nparts, cap;
    cv_frame *whole;       /* set once complete */
    int64_t dur_us;
    int64_t start_wall_us; /* EXT-X-PROGRAM-DATE-TIME */
    bool indep;            /* starts with a keyframe */
    bool parts_freed;
    bool disc;             /* EXT-X-DISCONTINUITY before it: a new init */
    cv_frame *init;        /* the init segment it needs (a reference) */
    unsigned init_gen;
} seg;

struct cv_hls_wait {
    cv_hls *h;
    cv_hls_wait *prev, *next;
    void (*fn)(void *ctx, int status);
    void *ctx;
};

struct cv_hls_follower {
    cv_hls *h; /* NULL once the packager stopped */
    cv_hls_follower *prev, *next;
    int (*on_data)(void *ctx, cv_frame *chunk);
    void (*on_end)(void *ctx, const char *why);
    void *ctx;
    bool fresh;     /* the replay of the current segment is still due */
    bool skipping;  /* waiting for a chunk that starts with a keyframe */
    bool need_init; /* the init segment must go first when it resumes */
    bool gone;     /* released while the packager was delivering */
};

struct cv_hls {
    uv_loop_t *loop;
    cv_stream *stream; /* borrowed: the subscription holds a reference */
    cv_sub *sub;
    cv_id camera;
    cv_hls_config cfg;
    cv_fmp4 *mux;
    bool unsupported;
    cv_frame *init;
    unsigned init_gen;     /* bumped each time the picture format changes */
    bool pending_disc;     /* the next segment starts after a format change */
    int64_t disc_seq;      /* EXT-X-DISCONTINUITY-SEQUENCE */
    uint8_t sps[CV_MAX_PARAM_SET], pps[CV_MAX_PARAM_SET], vps[CV_MAX_PARAM_SET];
    uint16_t sps_len, pps_len, vps_len;
    int video; /* stream track index of the carried video, -1 for audio only */
    bool has_video;
    cv_codec track_codec[CV_MAX_TRACKS];
    char codecs[96];
    int width, height;
    bool have_res;
    uint64_t bandwidth;
    int64_t chunk_dur_sum, chunk_count;

    seg *segs; /* oldest first; the last is in progress when open */
    size_t nsegs, segs_cap;
    bool open;
    int64_t next_msn;
    uint8_t *pbuf; /* the part being made */
    size_t plen, pcap;
    int64_t pdur;
    bool pindep;
    int64_t last_chunk_dur;
    size_t stored_bytes;

    cv_hls_wait *waits;
    cv_hls_follower *followers;
    int delivering; /* inside follower callbacks */
    bool have_gone; /* a follower was released while delivering */
    int64_t last_touch_us;

    uv_timer_t idle, kick;
    int open_handles;
    bool dead;
    bool removing;
    cv_hls_stats stats;
};

void cv_hls_config_default(cv_hls_config *c)
{
    c->part_target_us = 334000;
    c->segment_target_us = 2000000;
    c->target_duration_s = 4;
    c->window_segments = 6;
    c->max_bytes = 48u << 20;
    c->idle_us = 60 * 1000000LL;
}

/* ------------------------------------------------------------ storage */

static cv_frame *chunk_frame(cv_hls *h, const void *data, size_t len, int64_t start_us, bool key)
{
    cv_payload *p = cv_payload_copy(data, len);
    if (!p)
        return NULL;
    cv_frame_meta m = {
        .camera = h->camera,
        .flags = key ? CV_FRAME_KEY : 0,
        .clock_rate = 1000000,
        .pts = start_us,
        .recv_us = cv_now_us(),
    };
    return cv_frame_new(&m, p);
}

static void seg_free_parts(cv_hls *h, seg *s)
{
    for (size_t i = 0; i < s->nparts; i++) {
        if (s->parts[i].f) {
            h->stored_bytes -= cv_frame_len(s->parts[i].f);
            cv_frame_unref(s->parts[i].f);
            s->parts[i].f = NULL;
        }
    }
    s->parts_freed = true;
}

static void seg_clear(cv_hls *h, seg *s)
{
    seg_free_parts(h, s);
    free(s->parts);
    if (s->whole) {
        h->stored_bytes -= cv_frame_len(s->whole);
        cv_frame_unref(s->whole);
    }
    cv_frame_unref(s->init);
    memset(s, 0, sizeof(*s));
}

static size_t complete_count(const cv_hls *h) { return h->nsegs - (h->open ? 1 : 0); }

static void evict(cv_hls *h)
{
    size_t keep = h->cfg.window_segments + 2;
    while (complete_count(h) > 1 && (complete_count(h) > keep || h->stored_bytes > h->cfg.max_bytes)) {
        if (h->nsegs > 1 && h->segs[1].disc)
            h->disc_seq++;
        seg_clear(h, &h->segs[0]);
        memmove(&h->segs[0], &h->segs[1], (h->nsegs - 1) * sizeof(seg));
        h->nsegs--;
        h->stats.evicted++;
    }
    /* Parts of older segments are no longer listed; the whole segment stays. */
    if (h->nsegs > PARTS_KEPT_SEGMENTS)
        for (size_t i = 0; i < h->nsegs - PARTS_KEPT_SEGMENTS; i++)
            if (!h->segs[i].parts_freed && h->segs[i].whole)
                seg_free_parts(h, &h->segs[i]);
}

/* ------------------------------------------------------------ notify */

static void notify_waits(cv_hls *h, int status)
{
    cv_hls_wait *w = h->waits;
    h->waits = NULL;
    while (w) {
        cv_hls_wait *next = w->next;
        h->stats.waiters--;
        w->h = NULL;
        w->fn(w->ctx, status);
        free(w);
        w = next;
    }
}

static void sweep_followers(cv_hls *h)
{
    if (h->delivering || !h->have_gone)
        return;
    h->have_gone = false;
    cv_hls_follower *f = h->followers, *next;
    for (; f; f = next) {
        next = f->next;
        if (!f->gone)
            continue;
        if (f->prev)
            f->prev->next = f->next;
        else
            h->followers = f->next;
        if (f->next)
            f->next->prev = f->prev;
        h->stats.followers--;
        free(f);
    }
}

static void deliver(cv_hls *h, cv_hls_follower *f, cv_frame *chunk, bool key)
{
    if (f->gone || f->fresh)
        return;
    if (f->skipping) {
        if (!key)
            return;
        f->skipping = false;
    }
    if (f->need_init) {
        if (!h->init || f->on_data(f->ctx, h->init) != 0 || f->gone) {
            f->skipping = true;
            return;
        }
        f->need_init = false;
    }
    if (f->on_data(f->ctx, chunk) != 0)
        f->skipping = true;
}

static void feed_followers(cv_hls *h, cv_frame *chunk)
{
    h->delivering++;
    for (cv_hls_follower *f = h->followers; f; f = f->next)
        deliver(h, f, chunk, chunk->meta.flags & CV_FRAME_KEY);
    h->delivering--;
    sweep_followers(h);
}

/* A fresh follower: init, then the current segment so far (from its
 * keyframe), then it joins the live chunks. */
static void replay(cv_hls *h, cv_hls_follower *f)
{
    f->fresh = false;
    f->need_init = true;
    f->skipping = true;
    if (!h->init || !h->open)
        return; /* it starts with the first keyframe */
    seg *s = &h->segs[h->nsegs - 1];
    if (f->on_data(f->ctx, h->init) != 0 || f->gone)
        return;
    f->need_init = false;
    f->skipping = false;
    if (!s->indep) { /* a forced cut: start at the next keyframe */
        f->skipping = true;
        return;
    }
    for (size_t i = 0; i < s->nparts && !f->gone; i++)
        if (f->on_data(f->ctx, s->parts[i].f) != 0) {
            f->skipping = true;
            return;
        }
    if (h->plen && !f->gone) {
        cv_frame *cur = chunk_frame(h, h->pbuf, h->plen, 0, s->nparts == 0);
        if (!cur || f->on_data(f->ctx, cur) != 0)
            f->skipping = true;
        cv_frame_unref(cur);
    }
}

static void on_kick(uv_timer_t *t)
{
    cv_hls *h = t->data;
    if (h->dead)
        return;
    h->delivering++;
    for (cv_hls_follower *f = h->followers; f; f = f->next)
        if (f->fresh && !f->gone)
            replay(h, f);
    h->delivering--;
    sweep_followers(h);
}

/* ------------------------------------------------------------ muxing */

static seg *open_seg(cv_hls *h, bool indep, int64_t start_wall_us)
{
    if (h->nsegs == h->segs_cap) {
        size_t cap = h->segs_cap ? h->segs_cap * 2 : 16;
        seg *n = realloc(h->segs, cap * sizeof(*n));
        if (!n)
            return NULL;
        h->segs = n;
        h->segs_cap = cap;
    }
    seg *s = &h->segs[h->nsegs++];
    memset(s, 0, sizeof(*s));
    s->msn = h->next_msn++;
    s->indep = indep;
    s->init = h->init ? cv_frame_ref(h->init) : NULL;
    s->init_gen = h->init_gen;
    s->disc = h->pending_disc && h->nsegs > 1;
    h->pending_disc = false;
    s->start_wall_us = start_wall_us;
    h->open = true;
    h->stats.msn = s->msn;
    return s;
}

static int finish_part(cv_hls *h)
{
    if (!h->open || !h->plen)
        return 0;
    seg *s = &h->segs[h->nsegs - 1];
    if (s->nparts == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        hls_part *n = realloc(s->parts, cap * sizeof(*n));
        if (!n)
            return -ENOMEM;
        s->parts = n;
        s->cap = cap;
    }
    cv_frame *f = chunk_frame(h, h->pbuf, h->plen, 0, h->pindep);
    if (!f)
        return -ENOMEM;
    s->parts[s->nparts++] = (hls_part){f, h->pdur, h->pindep};
    s->dur_us += h->pdur;
    h->stored_bytes += h->plen;
    h->plen = 0;
    h->pdur = 0;
    h->pindep = false;
    h->stats.parts++;
    return 1;
}

static void finish_seg(cv_hls *h)
{
    if (!h->open)
        return;
    seg *s = &h->segs[h->nsegs - 1];
    h->open = false;
    size_t total = 0;
    for (size_t i = 0; i < s->nparts; i++)
        total += cv_frame_len(s->parts[i].f);
    cv_payload *p = total ? cv_payload_new(total) : NULL;
    if (p) {
        size_t off = 0;
        for (size_t i = 0; i < s->nparts; i++) {
            memcpy(cv_payload_data(p) + off, cv_frame_data(s->parts[i].f), cv_frame_len(s->parts[i].f));
            off += cv_frame_len(s->parts[i].f);
        }
        cv_frame_meta m = {.camera = h->camera,
                           .flags = s->indep ? CV_FRAME_KEY : 0,
                           .clock_rate = 1000000,
                           .recv_us = cv_now_us()};
        s->whole = cv_frame_new(&m, p);
    }
    if (!s->whole) {
        /* Empty or out of memory: forget it rather than list a hole. */
        seg_clear(h, s);
        h->nsegs--;
        return;
    }
    h->stored_bytes += total;
    h->stats.segments++;
    if (s->dur_us > 0) {
        uint64_t bw = (uint64_t)((double)total * 8.0 * 1e6 / (double)s->dur_us);
        if (bw > h->bandwidth)
            h->bandwidth = bw;
    }
    evict(h);
}

static int make_mux(cv_hls *h)
{
    cv_track_info tracks[CV_MAX_TRACKS];
    size_t n = cv_stream_tracks(h->stream, tracks, CV_MAX_TRACKS);
    if (n > CV_MAX_TRACKS)
        n = CV_MAX_TRACKS;
    int rc = cv_fmp4_new(&h->mux, tracks, n);
    if (rc == -ENOTSUP) {
        char hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&h->camera, hex);
        if (!h->unsupported)
            CV_WARN("camera %s: its codecs cannot be carried in fMP4; no HLS or MP4", hex);
        h->unsupported = true;
        notify_waits(h, 0);
        return rc;
    }
    if (rc < 0)
        return rc;
    size_t len = 0;
    const uint8_t *init = cv_fmp4_init(h->mux, &len);
    h->init = chunk_frame(h, init, len, 0, true);
    if (!h->init) {
        cv_fmp4_free(h->mux);
        h->mux = NULL;
        return -ENOMEM;
    }
    snprintf(h->codecs, sizeof(h->codecs), "%s", cv_fmp4_codecs(h->mux));
    h->have_res = cv_fmp4_resolution(h->mux, &h->width, &h->height);
    h->video = -1;
    for (size_t i = 0; i < n; i++)
        if (tracks[i].kind == CV_MEDIA_VIDEO && cv_fmp4_carries(h->mux, i)) {
            h->video = (int)i;
            const cv_track_info *t = &tracks[i];
            memcpy(h->sps, t->sps, h->sps_len = t->sps_len);
            memcpy(h->pps, t->pps, h->pps_len = t->pps_len);
            memcpy(h->vps, t->vps, h->vps_len = t->vps_len);
            break;
        }
    return 0;
}

static void emit_chunk(cv_hls *h, bool key)
{
    int64_t start = 0, dur = 0;
    cv_payload *p = cv_fmp4_flush(h->mux, &start, &dur);
    if (!p)
        return;
    if (dur <= 0)
        dur = h->last_chunk_dur > 0 ? h->last_chunk_dur : 40000;
    h->last_chunk_dur = dur;
    h->chunk_dur_sum += dur;
    h->chunk_count++;
    size_t len = cv_payload_len(p);
    if (h->plen + len > h->pcap) {
        size_t cap = CV_MAX(h->pcap * 2, h->plen + len + 4096);
        uint8_t *n = realloc(h->pbuf, cap);
        if (!n) {
            cv_payload_unref(p);
            return;
        }
        h->pbuf = n;
        h->pcap = cap;
    }
    if (!h->plen)
        h->pindep = key;
    memcpy(h->pbuf + h->plen, cv_payload_cdata(p), len);
    h->plen += len;
    h->pdur += dur;
    h->stats.chunks++;
    h->stats.bytes += len;
    cv_frame_meta m = {.camera = h->camera,
                       .flags = key ? CV_FRAME_KEY : 0,
                       .clock_rate = 1000000,
                       .pts = start,
                       .recv_us = cv_now_us()};
    cv_frame *chunk = cv_frame_new(&m, p);
    if (chunk) {
        feed_followers(h, chunk);
        cv_frame_unref(chunk);
    }
}

/* Decides the part and segment boundaries before a frame that starts a
 * chunk (video frames; every audio frame when there is no video). */
static void boundaries(cv_hls *h, bool key, int64_t wall_us)
{
    int64_t est = h->last_chunk_dur > 0 ? h->last_chunk_dur : 40000;
    bool changed = false;
    if (h->open) {
        seg *s = &h->segs[h->nsegs - 1];
        int64_t seg_dur = s->dur_us + h->pdur;
        int64_t limit = (int64_t)h->cfg.target_duration_s * 1000000 - est;
        bool cut = (key && seg_dur >= h->cfg.segment_target_us) || seg_dur + est > limit;
        if (cut) {
            changed |= finish_part(h) > 0;
            finish_seg(h);
            changed = true;
        } else if (h->pdur > 0 && h->pdur + est > h->cfg.part_target_us) {
            changed |= finish_part(h) > 0;
        }
    }
    if (!h->open)
        open_seg(h, key, wall_us);
    if (changed)
        notify_waits(h, 0);
}

/* The camera changed its picture format (resolution, profile) without
 * changing codec: the stream keeps its viewers, but the init segment is
 * stale. */
static bool format_changed(cv_hls *h)
{
    cv_track_info tracks[CV_MAX_TRACKS];
    size_t n = cv_stream_tracks(h->stream, tracks, CV_MAX_TRACKS);
    if (h->video < 0 || (size_t)h->video >= n || n > CV_MAX_TRACKS)
        return false;
    const cv_track_info *t = &tracks[h->video];
    return t->sps_len != h->sps_len || memcmp(t->sps, h->sps, t->sps_len) != 0 || t->pps_len != h->pps_len ||
           memcmp(t->pps, h->pps, t->pps_len) != 0 || t->vps_len != h->vps_len ||
           memcmp(t->vps, h->vps, t->vps_len) != 0;
}

static void end_followers(cv_hls *h, const char *why);

/* A new muxer and init segment; HLS goes on after an EXT-X-DISCONTINUITY,
 * progressive MP4 viewers (one moov per file) are ended to reconnect. */
static int restart_mux(cv_hls *h)
{
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&h->camera, hex);
    CV_INFO("camera %s: picture format changed; HLS continues after a discontinuity", hex);
    finish_part(h);
    finish_seg(h);
    notify_waits(h, 0);
    end_followers(h, "the camera changed its picture format");
    cv_fmp4_free(h->mux);
    h->mux = NULL;
    cv_frame_unref(h->init);
    h->init = NULL;
    h->init_gen++;
    h->pending_disc = true;
    return make_mux(h);
}

static int sink_write(void *ctx, cv_frame *f)
{
    cv_hls *h = ctx;
    if (h->dead)
        return 1;
    if (!cv_id_eq(&f->meta.camera, &h->camera)) {
        h->stats.foreign++;
        CV_ERROR("SECURITY: the HLS packager refused a frame from another camera");
        return 1;
    }
    bool key = f->meta.flags & CV_FRAME_KEY;
    if (!h->mux) {
        if (h->unsupported)
            return 1;
        /* Start at a video keyframe: it brings the parameter sets. */
        if (h->has_video && !(key && cv_codec_is_video(h->track_codec[f->meta.track])))
            return 1;
        if (make_mux(h) < 0)
            return 1;
    }
    if (!cv_fmp4_carries(h->mux, f->meta.track))
        return 1;
    bool is_video = (int)f->meta.track == h->video;
    if (is_video && key && format_changed(h) && restart_mux(h) < 0)
        return 1;
    bool starts_chunk = is_video || h->video < 0;
    if (h->video < 0)
        key = true; /* audio only: every frame can start playback */
    if (starts_chunk) {
        if (!h->open && !key && h->nsegs == 0)
            return 1;
        int64_t wall = cv_wall_us() - (cv_now_us() - f->meta.recv_us);
        boundaries(h, key, wall);
    } else if (!h->open) {
        return 1; /* audio before the first video keyframe */
    }
    if (cv_fmp4_write(h->mux, f) < 0)
        return 1;
    if (starts_chunk)
        emit_chunk(h, key);
    return 1;
}

/* ------------------------------------------------------------ lifecycle */

static void handle_closed(uv_handle_t *hd)
{
    cv_hls *h = hd->data;
    if (--h->open_handles == 0)
        free(h);
}

static void end_followers(cv_hls *h, const char *why)
{
    cv_hls_follower *f = h->followers;
    h->followers = NULL;
    while (f) {
        cv_hls_follower *next = f->next;
        h->stats.followers--;
        f->h = NULL;
        f->prev = f->next = NULL;
        if (f->gone)
            free(f);
        else
            f->on_end(f->ctx, why);
        f = next;
    }
}

static void stop(cv_hls *h, const char *why)
{
    if (h->dead)
        return;
    h->dead = true;
    notify_waits(h, -ESHUTDOWN);
    end_followers(h, why);
}

static void drop(void *p)
{
    cv_hls *h = p;
    stop(h, "camera gone");
    cv_sub_free(h->sub);
    h->sub = NULL;
    for (size_t i = 0; i < h->nsegs; i++)
        seg_clear(h, &h->segs[i]);
    free(h->segs);
    free(h->pbuf);
    cv_frame_unref(h->init);
    cv_fmp4_free(h->mux);
    uv_close((uv_handle_t *)&h->idle, handle_closed);
    uv_close((uv_handle_t *)&h->kick, handle_closed);
}

/* Leaves the stream's slot on a later turn (never inside the stream's own
 * callbacks, where the subscription may not be freed). */
static void on_remove(uv_timer_t *t)
{
    cv_hls *h = t->data;
    cv_stream *s = cv_stream_ref(h->stream);
    if (cv_stream_ext(s, CV_STREAM_EXT_HLS) == h)
        cv_stream_set_ext(s, CV_STREAM_EXT_HLS, NULL, NULL);
    cv_stream_unref(s);
}

static void remove_later(cv_hls *h, const char *why)
{
    stop(h, why);
    if (h->removing)
        return;
    h->removing = true;
    uv_timer_stop(&h->idle);
    uv_timer_start(&h->kick, on_remove, 0, 0);
}

static void sink_close(void *ctx, const char *reason)
{
    cv_hls *h = ctx;
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&h->camera, hex);
    CV_INFO("camera %s: HLS packager stops: %s", hex, reason);
    remove_later(h, reason);
}

static const cv_sink_ops sink_ops = {sink_write, sink_close};

static void on_idle(uv_timer_t *t)
{
    cv_hls *h = t->data;
    if (h->dead || h->followers || h->waits)
        return;
    if (cv_now_us() - h->last_touch_us >= h->cfg.idle_us) {
        char hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&h->camera, hex);
        CV_INFO("camera %s: HLS packager idle, stopping", hex);
        remove_later(h, "idle");
    }
}

cv_hls *cv_hls_get(uv_loop_t *loop, cv_stream *s, const cv_hls_config *cfg)
{
    cv_hls *h = cv_stream_ext(s, CV_STREAM_EXT_HLS);
    if (h)
        return h->dead ? NULL : h;
    cv_track_info tracks[CV_MAX_TRACKS];
    size_t ntracks = cv_stream_tracks(s, tracks, CV_MAX_TRACKS);
    if (ntracks == 0)
        return NULL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    for (size_t i = 0; i < ntracks && i < CV_MAX_TRACKS; i++) {
        h->track_codec[i] = tracks[i].codec;
        h->has_video |= tracks[i].kind == CV_MEDIA_VIDEO;
    }
    h->loop = loop;
    h->stream = s;
    h->camera = *cv_stream_camera(s);
    if (cfg)
        h->cfg = *cfg;
    else
        cv_hls_config_default(&h->cfg);
    h->video = -2; /* unknown until the muxer is made */
    h->last_touch_us = cv_now_us();
    /* Every track: the muxer picks what it carries. */
    h->sub = cv_stream_subscribe(s, (1u << CV_MAX_TRACKS) - 1, &sink_ops, h);
    if (!h->sub) {
        free(h);
        return NULL;
    }
    uv_timer_init(loop, &h->idle);
    uv_timer_init(loop, &h->kick);
    h->idle.data = h->kick.data = h;
    h->open_handles = 2;
    uv_timer_start(&h->idle, on_idle, IDLE_CHECK_MS, IDLE_CHECK_MS);
    cv_stream_set_ext(s, CV_STREAM_EXT_HLS, h, drop);
    cv_sub_start(h->sub); /* the prebuffer: from the latest keyframe */
    return cv_stream_ext(s, CV_STREAM_EXT_HLS) == h && !h->dead ? h : NULL;
}

void cv_hls_touch(cv_hls *h) { h->last_touch_us = cv_now_us(); }

int cv_hls_state(const cv_hls *h)
{
    if (h->dead)
        return -ESHUTDOWN;
    if (h->unsupported)
        return -ENOTSUP;
    return h->init && complete_count(h) > 0 ? 0 : -EAGAIN;
}

const char *cv_hls_codecs(const cv_hls *h) { return h->codecs; }

bool cv_hls_resolution(const cv_hls *h, int *w, int *hgt)
{
    if (!h->have_res)
        return false;
    *w = h->width;
    *hgt = h->height;
    return true;
}

uint64_t cv_hls_bandwidth(const cv_hls *h) { return h->bandwidth; }

double cv_hls_frame_rate(const cv_hls *h)
{
    if (h->video < 0 || h->chunk_count < 2 || h->chunk_dur_sum <= 0)
        return 0;
    return 1e6 * (double)h->chunk_count / (double)h->chunk_dur_sum;
}

/* ------------------------------------------------------------ lookups */

static const seg *find_seg(const cv_hls *h, int64_t msn)
{
    if (!h->nsegs || msn < h->segs[0].msn || msn > h->segs[h->nsegs - 1].msn)
        return NULL;
    return &h->segs[msn - h->segs[0].msn];
}

/* The segment in progress (or the next to start) and its finished parts. */
static void cursor(const cv_hls *h, int64_t *cur, size_t *nparts)
{
    if (h->open) {
        *cur = h->segs[h->nsegs - 1].msn;
        *nparts = h->segs[h->nsegs - 1].nparts;
    } else {
        *cur = h->next_msn;
        *nparts = 0;
    }
}

int cv_hls_locate(const cv_hls *h, int64_t msn, int part)
{
    int64_t cur;
    size_t np;
    cursor(h, &cur, &np);
    if (msn > cur + 2 || part < -1 || part > 100000)
        return -ERANGE;
    if (msn < cur) {
        const seg *s = find_seg(h, msn);
        if (!s)
            return -ENOENT;
        if (part == -1)
            return 0;
        return (size_t)part < s->nparts && !s->parts_freed ? 0 : -ENOENT;
    }
    if (msn == cur) {
        if (part == -1)
            return 1;
        if ((size_t)part < np)
            return 0;
        return (size_t)part == np ? 1 : -ENOENT;
    }
    if (msn == cur + 1 && part <= 0)
        return 1;
    return -ENOENT;
}

bool cv_hls_playlist_ready(const cv_hls *h, int64_t msn, int part)
{
    int64_t cur;
    size_t np;
    cursor(h, &cur, &np);
    if (part < 0)
        return msn < cur;
    if (msn < cur) {
        const seg *s = find_seg(h, msn);
        if (!s || (size_t)part < s->nparts)
            return true;
        return cv_hls_playlist_ready(h, msn + 1, 0);
    }
    return msn == cur && (size_t)part < np;
}

cv_frame *cv_hls_init(cv_hls *h) { return h->init ? cv_frame_ref(h->init) : NULL; }

cv_frame *cv_hls_init_gen(cv_hls *h, unsigned gen)
{
    if (h->init && gen == h->init_gen)
        return cv_frame_ref(h->init);
    for (size_t i = 0; i < h->nsegs; i++)
        if (h->segs[i].init && h->segs[i].init_gen == gen)
            return cv_frame_ref(h->segs[i].init);
    return NULL;
}

cv_frame *cv_hls_part(cv_hls *h, int64_t msn, int part)
{
    const seg *s = find_seg(h, msn);
    if (!s || part < 0 || (size_t)part >= s->nparts || !s->parts[part].f)
        return NULL;
    return cv_frame_ref(s->parts[part].f);
}

cv_frame *cv_hls_segment(cv_hls *h, int64_t msn)
{
    const seg *s = find_seg(h, msn);
    return s && s->whole ? cv_frame_ref(s->whole) : NULL;
}

/* ------------------------------------------------------------ playlist */

static void put_date(cv_sbuf *b, int64_t wall_us)
{
    time_t t = (time_t)(wall_us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char d[32];
    strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm);
    cv_sbuf_printf(b, "#EXT-X-PROGRAM-DATE-TIME:%s.%03dZ\n", d, (int)((wall_us / 1000) % 1000));
}

int cv_hls_playlist(const cv_hls *h, const char *query, cv_sbuf *out)
{
    if (cv_hls_state(h) < 0)
        return -EAGAIN;
    const char *q = query && *query ? query : NULL;
    char qs[512];
    snprintf(qs, sizeof(qs), "%s%s", q ? "?" : "", q ? q : "");
    size_t ncomplete = complete_count(h);
    size_t first = ncomplete > h->cfg.window_segments ? ncomplete - h->cfg.window_segments : 0;
    double pt = (double)h->cfg.part_target_us / 1e6;
    cv_sbuf_printf(out,
                   "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:%d\n"
                   "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=%.3f\n"
                   "#EXT-X-PART-INF:PART-TARGET=%.3f\n#EXT-X-MEDIA-SEQUENCE:%lld\n",
                   h->cfg.target_duration_s, 3.0 * pt + 0.001, pt, (long long)h->segs[first].msn);
    if (h->disc_seq)
        cv_sbuf_printf(out, "#EXT-X-DISCONTINUITY-SEQUENCE:%lld\n", (long long)h->disc_seq);
    for (size_t i = first; i < h->nsegs; i++) {
        const seg *s = &h->segs[i];
        if (!s->whole && !s->nparts)
            continue; /* just opened: nothing to list yet */
        if (i > first && s->disc)
            cv_sbuf_puts(out, "#EXT-X-DISCONTINUITY\n");
        if (i == first || s->disc) {
            if (s->init_gen)
                cv_sbuf_printf(out, "#EXT-X-MAP:URI=\"init%u.mp4%s\"\n", s->init_gen, qs);
            else
                cv_sbuf_printf(out, "#EXT-X-MAP:URI=\"init.mp4%s\"\n", qs);
        }
        put_date(out, s->start_wall_us);
        if (h->nsegs - i <= PARTS_KEPT_SEGMENTS - 1 && !s->parts_freed)
            for (size_t k = 0; k < s->nparts; k++)
                cv_sbuf_printf(out, "#EXT-X-PART:DURATION=%.3f,URI=\"p%lld.%zu.m4s%s\"%s\n",
                               (double)s->parts[k].dur_us / 1e6, (long long)s->msn, k, qs,
                               s->parts[k].indep ? ",INDEPENDENT=YES" : "");
        if (s->whole)
            cv_sbuf_printf(out, "#EXTINF:%.3f,\ns%lld.m4s%s\n", (double)s->dur_us / 1e6, (long long)s->msn, qs);
    }
    int64_t cur;
    size_t np;
    cursor(h, &cur, &np);
    cv_sbuf_printf(out, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p%lld.%zu.m4s%s\"\n", (long long)cur, np, qs);
    return cv_sbuf_ok(out) ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------ waits */

cv_hls_wait *cv_hls_wait_start(cv_hls *h, void (*fn)(void *ctx, int status), void *ctx)
{
    if (h->dead)
        return NULL;
    cv_hls_wait *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->h = h;
    w->fn = fn;
    w->ctx = ctx;
    w->next = h->waits;
    if (h->waits)
        h->waits->prev = w;
    h->waits = w;
    h->stats.waiters++;
    return w;
}

void cv_hls_wait_cancel(cv_hls_wait *w)
{
    if (!w)
        return;
    cv_hls *h = w->h;
    if (h) {
        if (w->prev)
            w->prev->next = w->next;
        else
            h->waits = w->next;
        if (w->next)
            w->next->prev = w->prev;
        h->stats.waiters--;
    }
    free(w);
}

/* ------------------------------------------------------------ followers */

cv_hls_follower *cv_hls_follow(cv_hls *h, int (*on_data)(void *ctx, cv_frame *chunk),
                               void (*on_end)(void *ctx, const char *why), void *ctx)
{
    if (h->dead)
        return NULL;
    cv_hls_follower *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->h = h;
    f->on_data = on_data;
    f->on_end = on_end;
    f->ctx = ctx;
    f->fresh = true;
    f->next = h->followers;
    if (h->followers)
        h->followers->prev = f;
    h->followers = f;
    h->stats.followers++;
    h->last_touch_us = cv_now_us();
    if (!h->removing)
        uv_timer_start(&h->kick, on_kick, 0, 0);
    return f;
}

void cv_hls_unfollow(cv_hls_follower *f)
{
    if (!f)
        return;
    cv_hls *h = f->h;
    if (!h) {
        free(f);
        return;
    }
    f->gone = true;
    h->have_gone = true;
    h->last_touch_us = cv_now_us();
    sweep_followers(h);
}

void cv_hls_get_stats(const cv_hls *h, cv_hls_stats *out) { *out = h->stats; }
