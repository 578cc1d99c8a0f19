#include "media/frame.h"

#include <stdlib.h>
#include <string.h>

struct cv_payload {
    atomic_uint refs;
    size_t len;
    uint8_t data[];
};

static atomic_long g_live_frames;

cv_payload *cv_payload_new(size_t len)
{
    size_t sz;
    if (__builtin_add_overflow(sizeof(cv_payload), len, &sz))
        return NULL;
    cv_payload *p = malloc(sz);
    if (!p)
        return NULL;
    atomic_init(&p->refs, 1);
    p->len = len;
    return p;
}

cv_payload *cv_payload_copy(const void *data, size_t len)
{
    cv_payload *p = cv_payload_new(len);
    if (p && len)
        memcpy(p->data, data, len);
    return p;
}

cv_payload *cv_payload_ref(cv_payload *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void cv_payload_unref(cv_payload *p)
{
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        free(p);
}

uint8_t *cv_payload_data(cv_payload *p) { return p->data; }
const uint8_t *cv_payload_cdata(const cv_payload *p) { return p->data; }
size_t cv_payload_len(const cv_payload *p) { return p->len; }

void cv_payload_truncate(cv_payload *p, size_t len)
{
    if (len < p->len)
        p->len = len;
}

void cv_wire_free(cv_wire *w)
{
    if (!w)
        return;
    free(w->offs);
    free(w->data);
    free(w);
}

cv_frame *cv_frame_new(const cv_frame_meta *meta, cv_payload *payload)
{
    cv_frame *f = malloc(sizeof(*f));
    if (!f) {
        cv_payload_unref(payload);
        return NULL;
    }
    atomic_init(&f->refs, 1);
    f->meta = *meta;
    f->payload = payload;
    f->rtp = NULL;
    atomic_fetch_add_explicit(&g_live_frames, 1, memory_order_relaxed);
    return f;
}

cv_frame *cv_frame_ref(cv_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void cv_frame_unref(cv_frame *f)
{
    if (!f || atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    cv_payload_unref(f->payload);
    cv_wire_free(f->rtp);
    free(f);
    atomic_fetch_sub_explicit(&g_live_frames, 1, memory_order_relaxed);
}

void cv_frame_set_rtp(cv_frame *f, cv_wire *w)
{
    cv_wire_free(f->rtp);
    f->rtp = w;
}

long cv_frame_live_count(void) { return atomic_load(&g_live_frames); }
