#include "media/nal.h"

#include <string.h>

#include "base/util.h"

bool cv_nal_next(cv_nal_iter *it, const uint8_t **nal, size_t *len)
{
    if (it->end - it->p < 4)
        return false;
    uint32_t n = cv_be32(it->p);
    if (n == 0 || (size_t)(it->end - it->p - 4) < n)
        return false;
    *nal = it->p + 4;
    *len = n;
    it->p += 4 + (size_t)n;
    return true;
}

bool cv_nal_is_key(cv_codec codec, const uint8_t *nal, size_t len)
{
    if (codec == CV_CODEC_H264)
        return len >= 1 && cv_h264_nal_type(nal) == 5;
    if (codec == CV_CODEC_H265) {
        if (len < 2)
            return false;
        unsigned t = cv_h265_nal_type(nal);
        return t >= 16 && t <= 23;
    }
    return false;
}

int cv_nal_param_kind(cv_codec codec, const uint8_t *nal, size_t len)
{
    if (codec == CV_CODEC_H264 && len >= 1) {
        unsigned t = cv_h264_nal_type(nal);
        return t == 7 ? 2 : t == 8 ? 3 : 0;
    }
    if (codec == CV_CODEC_H265 && len >= 2) {
        unsigned t = cv_h265_nal_type(nal);
        return t == 32 ? 1 : t == 33 ? 2 : t == 34 ? 3 : 0;
    }
    return 0;
}

static bool store(uint8_t *dst, uint16_t *dst_len, const uint8_t *nal, size_t len)
{
    if (len > CV_MAX_PARAM_SET || (*dst_len == len && memcmp(dst, nal, len) == 0))
        return false;
    memcpy(dst, nal, len);
    *dst_len = (uint16_t)len;
    return true;
}

bool cv_nal_update_params(cv_track_info *t, const uint8_t *au, size_t len)
{
    cv_nal_iter it;
    const uint8_t *nal;
    size_t n;
    bool changed = false;
    cv_nal_iter_init(&it, au, len);
    while (cv_nal_next(&it, &nal, &n)) {
        switch (cv_nal_param_kind(t->codec, nal, n)) {
        case 1: changed |= store(t->vps, &t->vps_len, nal, n); break;
        case 2: changed |= store(t->sps, &t->sps_len, nal, n); break;
        case 3: changed |= store(t->pps, &t->pps_len, nal, n); break;
        default: break;
        }
    }
    return changed;
}
