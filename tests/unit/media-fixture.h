/* Real media for unit tests: Annex-B access units (as ffmpeg writes raw
 * H.264/H.265) turned into camvault frames (length-prefixed NAL units). */
#ifndef CV_TEST_MEDIA_FIXTURE_H
#define CV_TEST_MEDIA_FIXTURE_H

#include <libavutil/mathematics.h>
#include <stdint.h>
#include <string.h>

#include "base/util.h"
#include "media/frame.h"

static inline cv_frame *make_frame(uint8_t track, uint32_t clock, int64_t pts, uint32_t flags, const uint8_t *p,
                            size_t len)
{
    cv_frame_meta meta = {.track = track, .clock_rate = clock, .pts = pts, .flags = flags};
    meta.recv_us = 1000000 + av_rescale(pts, 1000000, clock);
    return cv_frame_new(&meta, cv_payload_copy(p, len));
}

/* Annex-B AU to 4-byte length-prefixed NALs. */
static inline size_t annexb_to_lp(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t n = 0, i = 0, start = SIZE_MAX;
    while (i + 3 <= len) {
        if (in[i] == 0 && in[i + 1] == 0 && in[i + 2] == 1) {
            if (start != SIZE_MAX) {
                size_t end = i;
                while (end > start && in[end - 1] == 0)
                    end--;
                cv_wr_be32(out + n, (uint32_t)(end - start));
                memcpy(out + n + 4, in + start, end - start);
                n += 4 + end - start;
            }
            i += 3;
            start = i;
        } else {
            i++;
        }
    }
    if (start != SIZE_MAX && start < len) {
        cv_wr_be32(out + n, (uint32_t)(len - start));
        memcpy(out + n + 4, in + start, len - start);
        n += 4 + len - start;
    }
    return n;
}

#endif
