/* SDP (RFC 8866) for RTSP: parsing what a camera announces or describes, and
 * writing what viewers are told. Parsing is bounded and allocation-free. */
#ifndef CV_RTSP_SDP_H
#define CV_RTSP_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sbuf.h"
#include "media/codec.h"

#define CV_SDP_MAX_MEDIA 8

typedef struct {
    size_t ntracks;                       /* audio/video m= sections, in order */
    cv_track_info tracks[CV_SDP_MAX_MEDIA];
    char encoding[CV_SDP_MAX_MEDIA][32];  /* rtpmap encoding name as written, for logs */
    char session_control[256];            /* session-level a=control, empty if none */
} cv_sdp;

/* Parses an SDP body. Audio and video sections are kept (codec
 * CV_CODEC_UNKNOWN when not supported: the caller decides); other media
 * (application, text) are skipped. Static payload types 0 (PCMU/8000) and 8
 * (PCMA/8000) need no rtpmap. Decodes sprop-parameter-sets (H.264),
 * sprop-vps/sps/pps (H.265), config/sizelength/indexlength/indexdeltalength
 * (AAC), packetization-mode. Returns 0, or -EBADMSG with a one-line reason
 * in err (no m= section, bad m= line, bad base64 or hex, too many media). */
int cv_sdp_parse(const char *sdp, size_t len, cv_sdp *out, char *err, size_t errcap);

/* Payload type used on the way out for track index i: 0 for PCMU/8000 mono,
 * 8 for PCMA/8000 mono, 96 + i otherwise. */
uint8_t cv_sdp_out_pt(const cv_track_info *t, size_t i);

/* Writes a complete SDP for viewers: one m= section per track with rtpmap,
 * fmtp (sprop-parameter-sets and profile-level-id for H.264, sprop-vps/sps/pps
 * for H.265, AAC-hbr 13/3/3 with config for AAC, Opus 48000/2) and
 * a=control:trackID=<i>. addr is the server address for o= and c= lines. */
void cv_sdp_build(cv_sbuf *out, const cv_track_info *tracks, size_t n, const char *addr,
                  const char *session_name);

#endif
