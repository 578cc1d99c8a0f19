#include "media/codec.h"

const char *cv_codec_name(cv_codec c)
{
    switch (c) {
    case CV_CODEC_H264: return "H264";
    case CV_CODEC_H265: return "H265";
    case CV_CODEC_AAC: return "AAC";
    case CV_CODEC_OPUS: return "OPUS";
    case CV_CODEC_PCMU: return "PCMU";
    case CV_CODEC_PCMA: return "PCMA";
    case CV_CODEC_UNKNOWN: break;
    }
    return "unknown";
}

const char *cv_media_kind_name(cv_media_kind k)
{
    return k == CV_MEDIA_VIDEO ? "video" : k == CV_MEDIA_AUDIO ? "audio" : "none";
}

bool cv_codec_is_video(cv_codec c) { return c == CV_CODEC_H264 || c == CV_CODEC_H265; }

uint8_t cv_track_out_pt(const cv_track_info *t, size_t i)
{
    bool mono8k = (t->clock_rate == 8000 || t->clock_rate == 0) && t->channels <= 1;
    if (t->codec == CV_CODEC_PCMU && mono8k)
        return 0;
    if (t->codec == CV_CODEC_PCMA && mono8k)
        return 8;
    return (uint8_t)(96 + i % 32);
}
