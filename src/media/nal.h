/* Helpers for H.264/H.265 NAL units in length-prefixed form (4-byte BE
 * lengths, as in cv_frame payloads). Pure functions over explicit lengths. */
#ifndef CV_MEDIA_NAL_H
#define CV_MEDIA_NAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/codec.h"

typedef struct {
    const uint8_t *p, *end;
} cv_nal_iter;

static inline void cv_nal_iter_init(cv_nal_iter *it, const uint8_t *p, size_t len)
{
    it->p = p;
    it->end = p + len;
}

/* Returns true and sets *nal and *len to the next NAL; false at the end or
 * when a length is inconsistent with the bytes left. */
bool cv_nal_next(cv_nal_iter *it, const uint8_t **nal, size_t *len);

/* NAL unit type of the first header byte(s). */
static inline unsigned cv_h264_nal_type(const uint8_t *nal) { return nal[0] & 0x1f; }
static inline unsigned cv_h265_nal_type(const uint8_t *nal) { return (nal[0] >> 1) & 0x3f; }

/* True for IDR (H.264 type 5) or IRAP (H.265 types 16..23). */
bool cv_nal_is_key(cv_codec codec, const uint8_t *nal, size_t len);

/* Which parameter set a NAL is: 0 none, 1 VPS, 2 SPS, 3 PPS. */
int cv_nal_param_kind(cv_codec codec, const uint8_t *nal, size_t len);

/* Copies any VPS/SPS/PPS found in a length-prefixed AU into t. Returns true if
 * anything changed. */
bool cv_nal_update_params(cv_track_info *t, const uint8_t *au, size_t len);

#endif
