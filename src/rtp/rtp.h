/* RTP fixed header (RFC 3550 section 5.1), parsed over explicit lengths. */
#ifndef CV_RTP_RTP_H
#define CV_RTP_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CV_RTP_HDR_LEN 12
#define CV_RTP_MAX_PACKET 65535

typedef struct {
    bool marker;
    uint8_t payload_type;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    const uint8_t *payload; /* points into the packet; CSRCs, extension and padding removed */
    size_t payload_len;
} cv_rtp_hdr;

/* Parses an RTP packet of len bytes. Returns 0, or -EBADMSG when the version
 * is not 2 or a CSRC count, extension length or padding length does not fit. */
int cv_rtp_parse(const uint8_t *pkt, size_t len, cv_rtp_hdr *out);

/* Writes a 12-byte RTP header at out. */
void cv_rtp_write_hdr(uint8_t *out, bool marker, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc);

#endif
