/* What a track carries: codec, clock and the parameters a receiver needs to
 * decode it (parameter sets, AudioSpecificConfig). Plain values, copied freely. */
#ifndef CV_MEDIA_CODEC_H
#define CV_MEDIA_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CV_MAX_TRACKS 4
#define CV_MAX_PARAM_SET 512 /* bytes per VPS/SPS/PPS NAL, without start code */

typedef enum {
    CV_MEDIA_NONE = 0,
    CV_MEDIA_VIDEO = 1,
    CV_MEDIA_AUDIO = 2,
} cv_media_kind;

typedef enum {
    CV_CODEC_UNKNOWN = 0,
    CV_CODEC_H264,
    CV_CODEC_H265,
    CV_CODEC_AAC,  /* RFC 3640 mpeg4-generic, AAC-hbr */
    CV_CODEC_OPUS, /* RFC 7587 */
    CV_CODEC_PCMU, /* G.711 mu-law */
    CV_CODEC_PCMA, /* G.711 A-law */
} cv_codec;

typedef struct {
    cv_media_kind kind;
    cv_codec codec;
    uint32_t clock_rate;
    uint8_t channels;      /* audio only; 0 means 1 */
    uint8_t payload_type;  /* as the source announced it */
    char control[256];     /* a=control of the source, empty if none */

    /* H.264 / H.265 parameter sets, raw NAL units (no start code). */
    uint16_t vps_len, sps_len, pps_len;
    uint8_t vps[CV_MAX_PARAM_SET];
    uint8_t sps[CV_MAX_PARAM_SET];
    uint8_t pps[CV_MAX_PARAM_SET];
    int packetization_mode; /* H.264: 0 or 1 */

    /* AAC: AudioSpecificConfig and RFC 3640 AU-header sizes. */
    uint8_t aac_config[64];
    uint8_t aac_config_len;
    uint8_t aac_sizelength, aac_indexlength, aac_indexdeltalength;
} cv_track_info;

const char *cv_codec_name(cv_codec c);          /* "H264", "H265", "AAC", ... */
const char *cv_media_kind_name(cv_media_kind k); /* "video", "audio" */
bool cv_codec_is_video(cv_codec c);
/* Payload type camvault sends track index i with: the static type for
 * PCMU/8000 (0) and PCMA/8000 (8) mono, else dynamic 96 + i. */
uint8_t cv_track_out_pt(const cv_track_info *t, size_t i);

#endif
