#include "rtp/reorder.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

typedef struct {
    bool used;
    uint16_t seq;
    int64_t t;      /* when it arrived */
    uint8_t *data;
    size_t len;
} slot;

struct cv_rtp_reorder {
    bool started;
    uint16_t next;  /* the sequence number released next */
    int64_t max_delay_us;
    size_t held;
    slot s[CV_REORDER_WINDOW];
    cv_rtp_reorder_stats stats;
};

cv_rtp_reorder *cv_rtp_reorder_new(int64_t max_delay_us)
{
    cv_rtp_reorder *r = calloc(1, sizeof(*r));
    if (r)
        r->max_delay_us = max_delay_us > 0 ? max_delay_us : CV_REORDER_DEFAULT_DELAY_US;
    return r;
}

void cv_rtp_reorder_free(cv_rtp_reorder *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < CV_REORDER_WINDOW; i++)
        free(r->s[i].data);
    free(r);
}

static slot *at(cv_rtp_reorder *r, uint16_t seq) { return &r->s[seq % CV_REORDER_WINDOW]; }

static void release(cv_rtp_reorder *r, slot *s, cv_rtp_pkt_fn fn, void *ctx)
{
    /* Clear the slot before calling out: fn may not re-enter, but keep the
     * buffer until it returns. */
    uint8_t *data = s->data;
    size_t len = s->len;
    s->used = false;
    s->data = NULL;
    r->held--;
    r->stats.reordered++;
    fn(ctx, data, len);
    free(data);
}

/* Releases the run of held packets that starts at next. */
static void drain(cv_rtp_reorder *r, cv_rtp_pkt_fn fn, void *ctx)
{
    for (;;) {
        slot *s = at(r, r->next);
        if (!s->used || s->seq != r->next)
            return;
        r->next++;
        release(r, s, fn, ctx);
    }
}

/* Gives up on the gap before the oldest held packet: jumps next to it. */
static bool skip_gap(cv_rtp_reorder *r)
{
    for (uint16_t d = 1; d < CV_REORDER_WINDOW; d++) {
        slot *s = at(r, (uint16_t)(r->next + d));
        if (s->used && s->seq == (uint16_t)(r->next + d)) {
            r->stats.skipped += d;
            r->next = s->seq;
            return true;
        }
    }
    return false;
}

static int64_t oldest_wait_start(cv_rtp_reorder *r)
{
    int64_t t = INT64_MAX;
    for (size_t i = 0; i < CV_REORDER_WINDOW; i++)
        if (r->s[i].used && r->s[i].t < t)
            t = r->s[i].t;
    return t;
}

void cv_rtp_reorder_flush_due(cv_rtp_reorder *r, int64_t now_us, cv_rtp_pkt_fn fn, void *ctx)
{
    while (r->held && now_us - oldest_wait_start(r) >= r->max_delay_us) {
        if (!skip_gap(r))
            return;
        drain(r, fn, ctx);
    }
}

static void flush_all(cv_rtp_reorder *r, cv_rtp_pkt_fn fn, void *ctx)
{
    while (r->held && skip_gap(r))
        drain(r, fn, ctx);
}

void cv_rtp_reorder_push(cv_rtp_reorder *r, const uint8_t *pkt, size_t len, int64_t now_us, cv_rtp_pkt_fn fn,
                         void *ctx)
{
    if (len < 12 || (pkt[0] >> 6) != 2) {
        fn(ctx, pkt, len);
        return;
    }
    uint16_t seq = cv_be16(pkt + 2);
    if (!r->started) {
        r->started = true;
        r->next = seq;
    }
    int16_t d = (int16_t)(uint16_t)(seq - r->next);
    if (d == 0) {
        r->next++;
        fn(ctx, pkt, len);
        drain(r, fn, ctx);
    } else if (d < 0 && d > -4 * CV_REORDER_WINDOW) {
        /* Behind what was released: too late to reorder. The depacketizer
         * decides (it drops duplicates and late packets). */
        fn(ctx, pkt, len);
    } else if (d > 0 && d < CV_REORDER_WINDOW) {
        slot *s = at(r, seq);
        if (s->used) {
            r->stats.duplicates++;
        } else {
            uint8_t *copy = malloc(len);
            if (!copy) {
                fn(ctx, pkt, len);
                return;
            }
            memcpy(copy, pkt, len);
            *s = (slot){true, seq, now_us, copy, len};
            r->held++;
        }
        if (r->held >= CV_REORDER_WINDOW - 1) {
            skip_gap(r);
            drain(r, fn, ctx);
        }
    } else {
        /* A jump past the window either way: the source restarted or much
         * was lost.
         * Release what is held, in order, and resynchronise on this packet. */
        flush_all(r, fn, ctx);
        r->next = (uint16_t)(seq + 1);
        fn(ctx, pkt, len);
        return;
    }
    cv_rtp_reorder_flush_due(r, now_us, fn, ctx);
}

void cv_rtp_reorder_get_stats(const cv_rtp_reorder *r, cv_rtp_reorder_stats *out) { *out = r->stats; }
