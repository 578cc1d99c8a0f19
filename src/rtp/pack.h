/* Packetizers: one access unit in, its RTP packets out, built once per
 * stream and shared by every viewer (see cv_wire in media/frame.h).
 *
 * H.264: single NAL units, FU-A for larger ones (packetization-mode=1).
 * H.265: single NAL units, FU for larger ones. AAC: RFC 3640 AAC-hbr
 * (sizelength=13, indexlength=3, indexdeltalength=3), one AU per packet,
 * fragmented across packets when larger than the MTU. Opus and G.711: one
 * frame per packet. The marker bit is set on the last packet of each video AU
 * and on every audio packet. Not thread-safe. */
#ifndef CV_RTP_PACK_H
#define CV_RTP_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "media/codec.h"
#include "media/frame.h"

#define CV_RTP_DEFAULT_MTU 1400 /* RTP header + payload */

typedef struct cv_rtp_packer cv_rtp_packer;

/* Returns NULL for an unsupported codec, an mtu below 128, or no memory. */
cv_rtp_packer *cv_rtp_packer_new(cv_codec codec, uint8_t payload_type, uint32_t ssrc, uint16_t first_seq,
                                 size_t mtu);
void cv_rtp_packer_free(cv_rtp_packer *p);

/* Packetizes f with RTP timestamp rtp_ts. Each packet is preceded by the
 * 4-byte interleaved header '$', channel, 16-bit BE length. Returns 0 and a
 * new wire in *out (caller owns it, usually via cv_frame_set_rtp), or a
 * negative errno (-EINVAL for an empty or malformed payload, -ENOMEM). */
int cv_rtp_packer_pack(cv_rtp_packer *p, const cv_frame *f, uint32_t rtp_ts, uint8_t channel, cv_wire **out);

/* Sequence number the next packet will carry. */
uint16_t cv_rtp_packer_next_seq(const cv_rtp_packer *p);
/* Totals for RTCP sender reports. */
uint32_t cv_rtp_packer_packets(const cv_rtp_packer *p);
uint32_t cv_rtp_packer_octets(const cv_rtp_packer *p);

#endif
