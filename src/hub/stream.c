#define CV_LOG_MODULE "hub"
#include "hub/stream.h"
#include "hub/stream_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "media/nal.h"
#include "rtp/pack.h"
#include "rtp/rtcp.h"

#define PENDING_CAP 2048 /* frames a viewer may have in flight */
#define PENDING_MIN 128  /* the ring starts small and doubles up to PENDING_CAP */

typedef struct {
    size_t cost;
    int64_t enq_us;
} pending;

struct cv_sub {
    cv_stream *stream;      /* reference */
    cv_sub *prev, *next;    /* in stream->subs while attached */
    bool attached;
    bool started;
    bool skipping;          /* dropping everything until the next video keyframe */
    bool closing;
    uint32_t mask;
    const cv_sink_ops *ops;
    void *ctx;
    pending *ring;          /* FIFO of frames handed to the viewer, not yet written */
    size_t head, count, cap;
    size_t queued_bytes;
    int64_t last_progress_us;
    cv_sub_stats stats;
};

typedef struct {
    cv_track_info info;
    cv_rtp_packer *packer;
    uint8_t pt;
    uint32_t ssrc;
    bool have_ts;           /* ts_off is valid for the current source */
    int64_t ts_off;         /* out_ts = pts + ts_off (mod 2^32) */
    bool have_last;
    uint32_t last_out_ts;
    int64_t last_us;        /* cv_now_us of the last frame */
    int64_t last_wall_us;
} track;

struct cv_stream {
    unsigned refs;
    cv_id camera;
    char camera_hex[CV_ID_HEX_LEN + 1];
    cv_stream_limits lim;
    const void *source;
    size_t ntracks;
    track tracks[CV_MAX_TRACKS];
    int video;              /* index of the first video track, or -1 */
    cv_frame **pre;         /* prebuffer: frames since the latest keyframe */
    size_t npre, pre_cap, pre_bytes;
    bool pre_valid;
    cv_sub *subs;
    uint32_t nsubs;
    cv_stream_stats stats;
    struct {
        void *p;
        void (*drop)(void *p);
    } ext[CV_STREAM_EXT_MAX];
};

void cv_stream_limits_default(cv_stream_limits *l)
{
    l->queue_bytes = 8u << 20;
    l->queue_age_us = 2 * 1000000;
    l->stall_us = 10 * 1000000;
    l->prebuffer_bytes = 16u << 20;
    l->mtu = CV_RTP_DEFAULT_MTU;
}

cv_stream *cv_stream_new(const cv_id *camera, const cv_stream_limits *limits)
{
    cv_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->refs = 1;
    s->camera = *camera;
    cv_id_to_hex(camera, s->camera_hex);
    if (limits)
        s->lim = *limits;
    else
        cv_stream_limits_default(&s->lim);
    s->video = -1;
    for (size_t i = 0; i < CV_MAX_TRACKS; i++)
        s->tracks[i].ssrc = randombytes_random();
    return s;
}

cv_stream *cv_stream_ref(cv_stream *s)
{
    s->refs++;
    return s;
}

static void pre_clear(cv_stream *s)
{
    for (size_t i = 0; i < s->npre; i++)
        cv_frame_unref(s->pre[i]);
    s->npre = 0;
    s->pre_bytes = 0;
    s->pre_valid = false;
}

static void ext_clear(cv_stream *s)
{
    for (size_t i = 0; i < CV_STREAM_EXT_MAX; i++) {
        void *p = s->ext[i].p;
        void (*drop)(void *) = s->ext[i].drop;
        s->ext[i].p = NULL;
        s->ext[i].drop = NULL;
        if (p && drop)
            drop(p);
    }
}

void cv_stream_unref(cv_stream *s)
{
    if (!s || --s->refs)
        return;
    s->refs = 1; /* a companion's drop may take and release references */
    ext_clear(s);
    s->refs = 0;
    pre_clear(s);
    free(s->pre);
    for (size_t i = 0; i < CV_MAX_TRACKS; i++)
        cv_rtp_packer_free(s->tracks[i].packer);
    free(s);
}

const cv_id *cv_stream_camera(const cv_stream *s) { return &s->camera; }
bool cv_stream_online(const cv_stream *s) { return s->source != NULL; }

static void sub_detach(cv_sub *sub)
{
    if (!sub->attached)
        return;
    cv_stream *s = sub->stream;
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        s->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    sub->prev = sub->next = NULL;
    sub->attached = false;
    s->nsubs--;
}

static void sub_close(cv_sub *sub, const char *reason)
{
    if (sub->closing)
        return;
    sub->closing = true;
    sub_detach(sub);
    sub->ops->close(sub->ctx, reason);
}

static void close_all(cv_stream *s, const char *reason)
{
    cv_sub *sub = s->subs, *next;
    for (; sub; sub = next) {
        next = sub->next;
        sub_close(sub, reason);
    }
}

static bool same_layout(const cv_stream *s, const cv_track_info *tracks, size_t n)
{
    if (s->ntracks != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        const cv_track_info *a = &s->tracks[i].info, *b = &tracks[i];
        if (a->kind != b->kind || a->codec != b->codec || a->clock_rate != b->clock_rate ||
            CV_MAX(a->channels, 1) != CV_MAX(b->channels, 1))
            return false;
        if (a->codec == CV_CODEC_AAC &&
            (a->aac_config_len != b->aac_config_len || memcmp(a->aac_config, b->aac_config, a->aac_config_len)))
            return false;
    }
    return true;
}

int cv_stream_attach(cv_stream *s, const void *source, const cv_track_info *tracks, size_t n)
{
    if (s->source && s->source != source)
        return -EBUSY;
    if (n == 0 || n > CV_MAX_TRACKS)
        return -EINVAL;
    bool keep = s->ntracks && same_layout(s, tracks, n);
    if (!keep) {
        /* Build every packetizer before touching any state, so a refused
         * attach leaves the stream as it was. */
        cv_rtp_packer *packers[CV_MAX_TRACKS] = {0};
        for (size_t i = 0; i < n; i++) {
            packers[i] = cv_rtp_packer_new(tracks[i].codec, cv_track_out_pt(&tracks[i], i), s->tracks[i].ssrc,
                                           (uint16_t)randombytes_uniform(0x10000), s->lim.mtu);
            if (!packers[i]) {
                CV_WARN("stream %s: no packetizer for %s", s->camera_hex, cv_codec_name(tracks[i].codec));
                for (size_t k = 0; k < i; k++)
                    cv_rtp_packer_free(packers[k]);
                return -ENOTSUP;
            }
        }
        if (s->nsubs)
            CV_INFO("stream %s: tracks changed, closing %u viewer(s)", s->camera_hex, s->nsubs);
        close_all(s, "camera tracks changed");
        for (size_t i = 0; i < CV_MAX_TRACKS; i++) {
            track *t = &s->tracks[i];
            cv_rtp_packer_free(t->packer);
            uint32_t ssrc = t->ssrc;
            memset(t, 0, sizeof(*t));
            t->ssrc = ssrc;
        }
        s->video = -1;
        for (size_t i = 0; i < n; i++) {
            track *t = &s->tracks[i];
            t->info = tracks[i];
            t->pt = cv_track_out_pt(&tracks[i], i);
            t->packer = packers[i];
            if (s->video < 0 && tracks[i].kind == CV_MEDIA_VIDEO)
                s->video = (int)i;
        }
        s->ntracks = n;
    } else {
        /* Same layout: keep viewers and RTP continuity, refresh parameters. */
        for (size_t i = 0; i < n; i++) {
            track *t = &s->tracks[i];
            cv_track_info old = t->info;
            t->info = tracks[i];
            if (!t->info.sps_len && old.sps_len) { /* keep in-band learned sets */
                memcpy(t->info.sps, old.sps, old.sps_len);
                t->info.sps_len = old.sps_len;
                memcpy(t->info.pps, old.pps, old.pps_len);
                t->info.pps_len = old.pps_len;
                memcpy(t->info.vps, old.vps, old.vps_len);
                t->info.vps_len = old.vps_len;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        s->tracks[i].have_ts = false; /* rebase timestamps on the new source */
    /* A returning camera may resume mid-GOP: viewers kept across the
     * reconnect resume at its first keyframe, not on slices that refer to
     * pictures of the previous connection. */
    for (cv_sub *sub = s->subs; sub; sub = sub->next)
        if (s->video >= 0 && (sub->mask & (1u << s->video)))
            sub->skipping = true;
    pre_clear(s);
    s->source = source;
    s->stats.online = true;
    return 0;
}

void cv_stream_detach(cv_stream *s, const void *source)
{
    if (s->source != source || !source)
        return;
    s->source = NULL;
    s->stats.online = false;
    /* A decoder cannot use a prebuffer whose successor never comes; new
     * viewers of a reconnecting camera start at its next keyframe. */
    pre_clear(s);
}

static size_t frame_cost(const cv_frame *f) { return f->rtp ? f->rtp->len : cv_frame_len(f); }

/* Doubles the ring (up to PENDING_CAP), keeping its FIFO order. */
static bool ring_grow(cv_sub *sub)
{
    if (sub->cap >= PENDING_CAP)
        return false;
    size_t cap = sub->cap * 2;
    pending *r = malloc(cap * sizeof(*r));
    if (!r)
        return false;
    for (size_t i = 0; i < sub->count; i++)
        r[i] = sub->ring[(sub->head + i) % sub->cap];
    free(sub->ring);
    sub->ring = r;
    sub->head = 0;
    sub->cap = cap;
    return true;
}

/* Offers f to one viewer, enforcing its queue bounds. */
static void offer(cv_sub *sub, cv_frame *f, bool from_prebuffer, int64_t now)
{
    cv_stream *s = sub->stream;
    if (!(sub->mask & (1u << f->meta.track)))
        return;
    bool is_video_key = (int)f->meta.track == s->video && (f->meta.flags & CV_FRAME_KEY);
    size_t cost = frame_cost(f);

    if (sub->count && now - sub->last_progress_us > s->lim.stall_us) {
        CV_WARN("stream %s: viewer %p wrote nothing for %lld ms, closing", s->camera_hex, sub->ctx,
                (long long)((now - sub->last_progress_us) / 1000));
        sub_close(sub, "viewer stalled");
        return;
    }

    /* The ring's capacity binds everyone, the prebuffer included; the byte
     * and age bounds apply to live frames, and an empty queue takes any one
     * frame, however large, so no frame size can wedge a viewer. */
    if (sub->count == sub->cap && !ring_grow(sub)) {
        if (!sub->skipping && s->video >= 0 && (sub->mask & (1u << s->video))) {
            sub->skipping = true;
            sub->stats.skips++;
        }
        sub->stats.dropped++;
        sub->stream->stats.viewer_drops++;
        return;
    }
    bool full = sub->count && (sub->queued_bytes + cost > s->lim.queue_bytes ||
                               now - sub->ring[sub->head].enq_us > s->lim.queue_age_us);
    if (!from_prebuffer && full) {
        if (!sub->skipping && s->video >= 0 && (sub->mask & (1u << s->video))) {
            sub->skipping = true;
            sub->stats.skips++;
            CV_INFO("stream %s: viewer %p too slow (%zu bytes queued), skipping to next keyframe",
                    s->camera_hex, sub->ctx, sub->queued_bytes);
        }
        sub->stats.dropped++;
        sub->stream->stats.viewer_drops++;
        return;
    }
    if (sub->skipping) {
        /* Resume only at a keyframe, and only once the queue has drained to half. */
        if (!is_video_key || sub->queued_bytes > s->lim.queue_bytes / 2) {
            sub->stats.dropped++;
            sub->stream->stats.viewer_drops++;
            return;
        }
        sub->skipping = false;
    }

    int rc = sub->ops->write(sub->ctx, f);
    if (rc < 0) {
        sub->stats.dropped++;
        sub->stream->stats.viewer_drops++;
        return;
    }
    if (rc == 0) { /* queued: the sink reports completion with cv_sub_written */
        size_t slot = (sub->head + sub->count) % sub->cap;
        if (!sub->count)
            sub->last_progress_us = now;
        sub->ring[slot].cost = cost;
        sub->ring[slot].enq_us = now;
        sub->count++;
        sub->queued_bytes += cost;
    }
    sub->stats.frames++;
    sub->stats.bytes += cost;
}

void cv_sub_written(cv_sub *sub)
{
    if (!sub->count)
        return;
    pending *p = &sub->ring[sub->head];
    sub->queued_bytes -= p->cost;
    sub->head = (sub->head + 1) % sub->cap;
    sub->count--;
    sub->last_progress_us = cv_now_us();
}

static int stamp_rtp(cv_stream *s, cv_frame *f)
{
    track *t = &s->tracks[f->meta.track];
    int64_t now = cv_now_us();
    if (!t->have_ts) {
        uint32_t want;
        if (t->have_last) {
            /* Continue the viewer's timeline across a camera reconnect. */
            int64_t gap = now - t->last_us;
            want = t->last_out_ts + (uint32_t)((gap * (int64_t)t->info.clock_rate) / 1000000);
        } else {
            want = randombytes_random();
        }
        t->ts_off = (int64_t)want - f->meta.pts;
        t->have_ts = true;
    }
    uint32_t out_ts = (uint32_t)(f->meta.pts + t->ts_off);
    cv_wire *w = NULL;
    int rc = cv_rtp_packer_pack(t->packer, f, out_ts, (uint8_t)(2 * f->meta.track), &w);
    if (rc < 0)
        return rc;
    cv_frame_set_rtp(f, w);
    t->have_last = true;
    t->last_out_ts = out_ts;
    t->last_us = now;
    t->last_wall_us = cv_wall_us();
    return 0;
}

static void pre_push(cv_stream *s, cv_frame *f, bool video_key)
{
    if (s->video < 0)
        return; /* audio only: every frame starts playback, no prebuffer needed */
    if (video_key) {
        pre_clear(s);
        s->pre_valid = true;
    }
    if (!s->pre_valid)
        return;
    size_t cost = frame_cost(f);
    if (s->pre_bytes + cost > s->lim.prebuffer_bytes) {
        CV_WARN("stream %s: keyframe interval exceeds the %zu-byte prebuffer; new viewers wait for the next keyframe",
                s->camera_hex, s->lim.prebuffer_bytes);
        pre_clear(s);
        return;
    }
    if (s->npre == s->pre_cap) {
        size_t cap = s->pre_cap ? s->pre_cap * 2 : 128;
        cv_frame **p = realloc(s->pre, cap * sizeof(*p));
        if (!p) {
            pre_clear(s);
            return;
        }
        s->pre = p;
        s->pre_cap = cap;
    }
    s->pre[s->npre++] = cv_frame_ref(f);
    s->pre_bytes += cost;
}

int cv_stream_publish(cv_stream *s, const void *source, cv_frame *f)
{
    if (!cv_id_eq(&f->meta.camera, &s->camera)) {
        /* Provenance mismatch: this is the bug class camvault exists to prevent. */
        s->stats.foreign_frames++;
        CV_ERROR("SECURITY: stream %s refused a frame from another camera", s->camera_hex);
        return -EPERM;
    }
    if (!source || source != s->source || f->meta.track >= s->ntracks || f->rtp) {
        s->stats.refused_frames++;
        return -EINVAL;
    }
    track *t = &s->tracks[f->meta.track];
    if ((f->meta.flags & CV_FRAME_PARAMS) && cv_codec_is_video(t->info.codec))
        cv_nal_update_params(&t->info, cv_frame_data(f), cv_frame_len(f));
    int rc = stamp_rtp(s, f);
    if (rc < 0) {
        CV_DEBUG("stream %s: packetizer refused a frame: %d", s->camera_hex, rc);
        return rc;
    }
    s->stats.frames_in++;
    s->stats.bytes_in += cv_frame_len(f);
    s->stats.last_frame_wall_us = t->last_wall_us;
    bool video_key = (int)f->meta.track == s->video && (f->meta.flags & CV_FRAME_KEY);
    pre_push(s, f, video_key);

    int64_t now = cv_now_us(); /* one clock read per frame, not per viewer */
    cv_sub *sub = s->subs, *next;
    for (; sub; sub = next) {
        next = sub->next;
        if (sub->started)
            offer(sub, f, false, now);
    }
    return 0;
}

int cv__stream_offer_unchecked(cv_stream *s, cv_frame *f)
{
    if (f->meta.track >= s->ntracks || f->rtp)
        return -EINVAL;
    int rc = stamp_rtp(s, f);
    if (rc < 0)
        return rc;
    int64_t now = cv_now_us();
    cv_sub *sub = s->subs, *next;
    for (; sub; sub = next) {
        next = sub->next;
        if (sub->started)
            offer(sub, f, false, now);
    }
    return 0;
}

size_t cv_stream_tracks(const cv_stream *s, cv_track_info *out, size_t cap)
{
    size_t n = CV_MIN(cap, s->ntracks);
    for (size_t i = 0; i < n; i++)
        out[i] = s->tracks[i].info;
    return s->ntracks;
}

uint8_t cv_stream_out_pt(const cv_stream *s, size_t i) { return i < s->ntracks ? s->tracks[i].pt : 0; }
uint32_t cv_stream_out_ssrc(const cv_stream *s, size_t i) { return i < CV_MAX_TRACKS ? s->tracks[i].ssrc : 0; }

bool cv_stream_next_rtp(const cv_stream *s, size_t i, uint16_t *seq, uint32_t *rtp_ts)
{
    if (i >= s->ntracks)
        return false;
    const track *t = &s->tracks[i];
    /* A new viewer starts with the prebuffer when there is one. */
    for (size_t k = 0; k < s->npre; k++) {
        const cv_frame *f = s->pre[k];
        if (f->meta.track == i && f->rtp) {
            *seq = f->rtp->first_seq;
            *rtp_ts = f->rtp->rtp_ts;
            return true;
        }
    }
    if (!t->packer)
        return false;
    *seq = cv_rtp_packer_next_seq(t->packer);
    *rtp_ts = t->have_last ? t->last_out_ts : 0;
    return t->have_last;
}

int cv_stream_build_sr(const cv_stream *s, size_t i, uint8_t *buf, size_t cap)
{
    if (i >= s->ntracks)
        return -1;
    const track *t = &s->tracks[i];
    if (!t->have_last || !t->packer)
        return -1;
    /* Extrapolate the RTP clock from the last frame to now. */
    int64_t now_wall = cv_wall_us();
    int64_t dt = now_wall - t->last_wall_us;
    uint32_t rtp_now = t->last_out_ts + (uint32_t)((dt * (int64_t)t->info.clock_rate) / 1000000);
    return cv_rtcp_build_sr(buf, cap, t->ssrc, cv_ntp_from_wall_us(now_wall), rtp_now,
                            cv_rtp_packer_packets(t->packer), cv_rtp_packer_octets(t->packer), "camvault");
}

void cv_stream_shutdown(cv_stream *s, const char *reason)
{
    cv_stream_ref(s);
    close_all(s, reason);
    s->source = NULL;
    s->stats.online = false;
    pre_clear(s);
    ext_clear(s);
    cv_stream_unref(s);
}

cv_frame *cv_stream_keyframe(const cv_stream *s, size_t *track_out)
{
    if (!s->pre_valid || !s->npre || s->video < 0)
        return NULL;
    cv_frame *f = s->pre[0];
    if ((int)f->meta.track != s->video || !(f->meta.flags & CV_FRAME_KEY))
        return NULL;
    if (track_out)
        *track_out = f->meta.track;
    return cv_frame_ref(f);
}

void *cv_stream_ext(const cv_stream *s, cv_stream_ext_slot slot)
{
    return (unsigned)slot < CV_STREAM_EXT_MAX ? s->ext[slot].p : NULL;
}

void cv_stream_set_ext(cv_stream *s, cv_stream_ext_slot slot, void *p, void (*drop)(void *p))
{
    if ((unsigned)slot >= CV_STREAM_EXT_MAX)
        return;
    void *old = s->ext[slot].p;
    void (*old_drop)(void *) = s->ext[slot].drop;
    s->ext[slot].p = p;
    s->ext[slot].drop = drop;
    if (old && old != p && old_drop)
        old_drop(old);
}

void cv_stream_get_stats(const cv_stream *s, cv_stream_stats *out)
{
    *out = s->stats;
    out->viewers = s->nsubs;
}

cv_sub *cv_stream_subscribe(cv_stream *s, uint32_t mask, const cv_sink_ops *ops, void *ctx)
{
    cv_sub *sub = calloc(1, sizeof(*sub));
    if (!sub)
        return NULL;
    sub->cap = PENDING_MIN;
    sub->ring = calloc(sub->cap, sizeof(*sub->ring));
    if (!sub->ring) {
        free(sub);
        return NULL;
    }
    sub->stream = cv_stream_ref(s);
    sub->mask = mask;
    sub->ops = ops;
    sub->ctx = ctx;
    sub->attached = true;
    sub->next = s->subs;
    if (s->subs)
        s->subs->prev = sub;
    s->subs = sub;
    s->nsubs++;
    return sub;
}

void cv_sub_start(cv_sub *sub)
{
    if (sub->started || !sub->attached)
        return;
    sub->started = true;
    cv_stream *s = sub->stream;
    size_t n = s->npre;
    if (!n) {
        /* Nothing decodable to start from: wait for the next keyframe
         * rather than hand the viewer slices it cannot decode. */
        if (s->video >= 0 && (sub->mask & (1u << s->video)))
            sub->skipping = true;
        return;
    }
    /* Hold references: a sink may complete or close synchronously. */
    cv_frame **copy = malloc(n * sizeof(*copy));
    if (!copy)
        return;
    for (size_t i = 0; i < n; i++)
        copy[i] = cv_frame_ref(s->pre[i]);
    int64_t now = cv_now_us();
    for (size_t i = 0; i < n && sub->attached; i++)
        offer(sub, copy[i], true, now);
    for (size_t i = 0; i < n; i++)
        cv_frame_unref(copy[i]);
    free(copy);
}

void cv_sub_free(cv_sub *sub)
{
    if (!sub)
        return;
    sub_detach(sub);
    cv_stream_unref(sub->stream);
    free(sub->ring);
    free(sub);
}

void cv_sub_get_stats(const cv_sub *sub, cv_sub_stats *out) { *out = sub->stats; }
cv_stream *cv_sub_stream(const cv_sub *sub) { return sub->stream; }
