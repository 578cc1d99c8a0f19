#include "rtp/rtp.h"

#include <errno.h>
#include <string.h>

#include "base/util.h"

int cv_rtp_parse(const uint8_t *pkt, size_t len, cv_rtp_hdr *out)
{
    if (!pkt || len < CV_RTP_HDR_LEN || len > CV_RTP_MAX_PACKET)
        return -EBADMSG;
    uint8_t b0 = pkt[0], b1 = pkt[1];
    if ((b0 >> 6) != 2)
        return -EBADMSG;
    bool padding = b0 & 0x20;
    bool extension = b0 & 0x10;
    size_t csrc_count = b0 & 0x0f;

    size_t off = CV_RTP_HDR_LEN + 4 * csrc_count;
    if (off > len)
        return -EBADMSG;
    if (extension) {
        /* 16-bit profile field, 16-bit length in 32-bit words. */
        if (len - off < 4)
            return -EBADMSG;
        size_t ext_len = (size_t)cv_be16(pkt + off + 2) * 4;
        off += 4;
        if (len - off < ext_len)
            return -EBADMSG;
        off += ext_len;
    }
    size_t end = len;
    if (padding) {
        /* The count includes itself, so 0 is invalid; it must not eat into
         * the header. */
        size_t pad = pkt[len - 1];
        if (pad == 0 || pad > len - off)
            return -EBADMSG;
        end -= pad;
    }

    out->marker = b1 & 0x80;
    out->payload_type = b1 & 0x7f;
    out->seq = cv_be16(pkt + 2);
    out->ts = cv_be32(pkt + 4);
    out->ssrc = cv_be32(pkt + 8);
    out->payload = pkt + off;
    out->payload_len = end - off;
    return 0;
}

void cv_rtp_write_hdr(uint8_t *out, bool marker, uint8_t pt, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
    out[0] = 0x80;
    out[1] = (uint8_t)((marker ? 0x80 : 0) | (pt & 0x7f));
    cv_wr_be16(out + 2, seq);
    cv_wr_be32(out + 4, ts);
    cv_wr_be32(out + 8, ssrc);
}
