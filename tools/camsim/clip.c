/* Annex-B parsing of the clip (see clip.h). */
#include "clip.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t cap, const char *msg, int rc)
{
    snprintf(err, cap, "%s", msg);
    return rc;
}

static int read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                rc = -EIO;
            break;
        }
    }
    fclose(f);
    if (!buf)
        return -ENOMEM;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* Offset of the next start code (00 00 01) at or after i, or len. */
static size_t next_start(const uint8_t *p, size_t len, size_t i)
{
    for (; i + 3 <= len; i++)
        if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1)
            return i;
    return len;
}

static bool is_vcl(unsigned t) { return t >= 1 && t <= 5; }

int camsim_clip_load(camsim_clip *c, const char *path, char *err, size_t errcap)
{
    memset(c, 0, sizeof(*c));
    int rc = read_all(path, &c->data, &c->len);
    if (rc < 0) {
        snprintf(err, errcap, "cannot read %s: %s", path, strerror(-rc));
        return rc;
    }
    /* Upper bound on NAL units: one per start code, at least 3 bytes each. */
    size_t maxn = c->len / 3 + 1;
    c->nals = calloc(maxn, sizeof(*c->nals));
    c->nal_lens = calloc(maxn, sizeof(*c->nal_lens));
    c->au_first = calloc(maxn, sizeof(*c->au_first));
    c->au_count = calloc(maxn, sizeof(*c->au_count));
    if (!c->nals || !c->nal_lens || !c->au_first || !c->au_count) {
        camsim_clip_free(c);
        return fail(err, errcap, "out of memory", -ENOMEM);
    }
    size_t i = next_start(c->data, c->len, 0);
    bool au_has_vcl = false;
    while (i < c->len) {
        size_t s = i + 3;
        size_t e = next_start(c->data, c->len, s);
        size_t end = e;
        while (end > s && c->data[end - 1] == 0) /* trailing_zero_8bits / 4-byte start code */
            end--;
        i = e;
        if (end <= s)
            continue;
        const uint8_t *nal = c->data + s;
        size_t len = end - s;
        unsigned t = nal[0] & 0x1f;
        if (t == 9) /* access unit delimiters are dropped */
            continue;
        /* A new access unit starts with SEI/SPS/PPS after a slice, or with
         * a slice whose first_mb_in_slice is 0 (ue(v) "1" bit) after a slice. */
        bool starts = au_has_vcl && ((t >= 6 && t <= 8) || (is_vcl(t) && len > 1 && (nal[1] & 0x80)));
        if (c->nnals == 0 || starts) {
            c->au_first[c->naus] = c->nnals;
            c->naus++;
            au_has_vcl = false;
        }
        c->nals[c->nnals] = nal;
        c->nal_lens[c->nnals] = len;
        c->nnals++;
        c->au_count[c->naus - 1]++;
        if (is_vcl(t))
            au_has_vcl = true;
        if (t == 7 && !c->track.sps_len) {
            if (len > CV_MAX_PARAM_SET) {
                camsim_clip_free(c);
                return fail(err, errcap, "SPS too large", -EINVAL);
            }
            memcpy(c->track.sps, nal, len);
            c->track.sps_len = (uint16_t)len;
        } else if (t == 8 && !c->track.pps_len) {
            if (len > CV_MAX_PARAM_SET) {
                camsim_clip_free(c);
                return fail(err, errcap, "PPS too large", -EINVAL);
            }
            memcpy(c->track.pps, nal, len);
            c->track.pps_len = (uint16_t)len;
        }
    }
    /* Drop a trailing access unit without a slice (nothing to show). */
    if (c->naus && !au_has_vcl)
        c->naus--;
    bool have_key = false;
    for (size_t a = 0; a < c->naus && !have_key; a++)
        for (size_t k = c->au_first[a]; k < c->au_first[a] + c->au_count[a] && !have_key; k++)
            if ((c->nals[k][0] & 0x1f) == 5) {
                c->first_key = a;
                have_key = true;
            }
    if (!c->naus) {
        camsim_clip_free(c);
        return fail(err, errcap, "no H.264 access unit with a slice in the clip", -EINVAL);
    }
    if (!c->track.sps_len || !c->track.pps_len) {
        camsim_clip_free(c);
        return fail(err, errcap, "no SPS/PPS in the clip", -EINVAL);
    }
    c->track.kind = CV_MEDIA_VIDEO;
    c->track.codec = CV_CODEC_H264;
    c->track.clock_rate = 90000;
    c->track.payload_type = 96;
    c->track.packetization_mode = 1;
    return 0;
}

void camsim_clip_free(camsim_clip *c)
{
    free(c->data);
    free(c->nals);
    free(c->nal_lens);
    free(c->au_first);
    free(c->au_count);
    memset(c, 0, sizeof(*c));
}

/* ------------------------------------------------------------ registry */

typedef struct clip_entry {
    struct clip_entry *next;
    camsim_clip clip;
    char path[];
} clip_entry;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static clip_entry *reg_head;
static bool reg_closed;

static const camsim_clip *find_locked(const char *path)
{
    for (clip_entry *e = reg_head; e; e = e->next)
        if (strcmp(e->path, path) == 0)
            return &e->clip;
    return NULL;
}

const camsim_clip *camsim_clips_get(const char *path, char *err, size_t errcap)
{
    pthread_mutex_lock(&reg_lock);
    const camsim_clip *found = reg_closed ? NULL : find_locked(path);
    bool closed = reg_closed;
    pthread_mutex_unlock(&reg_lock);
    if (found)
        return found;
    if (closed) {
        snprintf(err, errcap, "camsim is stopping");
        return NULL;
    }
    /* Load outside the lock: it reads a file. */
    size_t plen = strlen(path);
    clip_entry *e = malloc(sizeof(*e) + plen + 1);
    if (!e) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    memcpy(e->path, path, plen + 1);
    if (camsim_clip_load(&e->clip, path, err, errcap) < 0) {
        free(e);
        return NULL;
    }
    pthread_mutex_lock(&reg_lock);
    if (reg_closed || (found = find_locked(path)) != NULL) {
        pthread_mutex_unlock(&reg_lock);
        camsim_clip_free(&e->clip);
        free(e);
        if (!found)
            snprintf(err, errcap, "camsim is stopping");
        return found;
    }
    e->next = reg_head;
    reg_head = e;
    pthread_mutex_unlock(&reg_lock);
    return &e->clip;
}

void camsim_clips_close(void)
{
    pthread_mutex_lock(&reg_lock);
    reg_closed = true;
    clip_entry *e = reg_head;
    reg_head = NULL;
    pthread_mutex_unlock(&reg_lock);
    while (e) {
        clip_entry *next = e->next;
        camsim_clip_free(&e->clip);
        free(e);
        e = next;
    }
}
