/* Shared scaffolding for the depacketizer tests: a sink that keeps the
 * frames a depacketizer emits, and builders for expected access units.
 * Include after <cmocka.h>. */
#ifndef CV_TEST_DEPACK_FIXTURE_H
#define CV_TEST_DEPACK_FIXTURE_H

#include <stdint.h>
#include <string.h>

#include "base/util.h"
#include "media/frame.h"
#include "rtp/depack.h"

#define MAX_OUT 64

typedef struct {
    cv_frame *f[MAX_OUT];
    size_t n;
} sink;

static inline void on_frame(void *ctx, cv_frame *f)
{
    sink *s = ctx;
    assert_true(s->n < MAX_OUT);
    s->f[s->n++] = cv_frame_ref(f);
}

static inline void sink_clear(sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        cv_frame_unref(s->f[i]);
    s->n = 0;
}

/* Builds the expected length-prefixed AU from a NAL list; returns its length. */
static inline size_t lp(uint8_t *out, const uint8_t *const *nals, const size_t *lens, size_t count)
{
    size_t o = 0;
    for (size_t i = 0; i < count; i++) {
        cv_wr_be32(out + o, (uint32_t)lens[i]);
        memcpy(out + o + 4, nals[i], lens[i]);
        o += 4 + lens[i];
    }
    return o;
}

static inline void assert_frame(const cv_frame *f, const uint8_t *exp, size_t len)
{
    assert_int_equal(cv_frame_len(f), len);
    assert_memory_equal(cv_frame_data(f), exp, len);
}

static inline cv_rtp_depack_stats depack_stats(const cv_rtp_depack *d)
{
    cv_rtp_depack_stats st;
    cv_rtp_depack_get_stats(d, &st);
    return st;
}

#endif
