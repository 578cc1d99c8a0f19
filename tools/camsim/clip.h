/* A raw Annex-B H.264 clip split into access units, loaded once and shared
 * read-only by every camera thread. */
#ifndef CAMSIM_CLIP_H
#define CAMSIM_CLIP_H

#include <stddef.h>
#include <stdint.h>

#include "media/codec.h"

typedef struct {
    uint8_t *data;
    size_t len;
    const uint8_t **nals; /* every NAL unit in file order */
    size_t *nal_lens;
    size_t nnals;
    size_t *au_first; /* index in nals of each access unit's first NAL */
    size_t *au_count;
    size_t naus;
    size_t first_key;    /* index of the first access unit with an IDR slice */
    cv_track_info track; /* H.264 with the first SPS and PPS of the clip */
} camsim_clip;

/* Loads path. Returns 0, or a negative errno with a one-line reason in err
 * (unreadable, no access unit with a slice, no SPS/PPS, a parameter set over
 * CV_MAX_PARAM_SET). */
int camsim_clip_load(camsim_clip *c, const char *path, char *err, size_t errcap);
void camsim_clip_free(camsim_clip *c);

/* The registry: every clip camsim uses, loaded once per path and shared
 * read-only by the camera threads. Thread-safe. Returns the clip, or NULL
 * with a one-line reason in err. The clip stays valid until
 * camsim_clips_close(). */
const camsim_clip *camsim_clips_get(const char *path, char *err, size_t errcap);
/* Frees every clip; later camsim_clips_get() calls fail. */
void camsim_clips_close(void);

#endif
