#include "rtp/rtcp.h"

#include <errno.h>
#include <string.h>

#include "base/util.h"

#define RTCP_SR 200
#define RTCP_RR 201
#define RTCP_SDES 202
#define RTCP_BYE 203
#define SDES_CNAME 1
#define NTP_UNIX_OFFSET 2208988800u /* seconds from 1900 to 1970 */
#define SR_LEN 28                   /* header, SSRC, sender info */
#define RR_BLOCK_LEN 24

uint64_t cv_ntp_from_wall_us(int64_t wall_us)
{
    /* Floor division so times before 1970 still get a fraction in [0, 1). */
    int64_t sec = wall_us / 1000000, us = wall_us % 1000000;
    if (us < 0) {
        us += 1000000;
        sec -= 1;
    }
    uint64_t ntp_sec = (uint64_t)(sec + NTP_UNIX_OFFSET) & 0xffffffffu; /* era wrap */
    uint64_t frac = ((uint64_t)us << 32) / 1000000;
    return ntp_sec << 32 | frac;
}

static void write_common(uint8_t *o, unsigned count, uint8_t pt, size_t len)
{
    o[0] = (uint8_t)(0x80 | (count & 0x1f));
    o[1] = pt;
    cv_wr_be16(o + 2, (uint16_t)(len / 4 - 1));
}

/* Appends an SDES packet with one chunk (ssrc, CNAME) at buf+off. Returns
 * the new length, or -1. */
static int append_sdes(uint8_t *buf, size_t cap, size_t off, uint32_t ssrc, const char *cname)
{
    size_t n = cname ? strlen(cname) : 0;
    if (n > 255)
        n = 255; /* the item length is one byte */
    /* header, SSRC, type, length, text, then 1..4 zero bytes ending the item
     * list and padding the chunk to 32 bits. */
    size_t chunk = 4 + 2 + n;
    chunk += 4 - chunk % 4;
    size_t len = 4 + chunk;
    if (off > cap || cap - off < len)
        return -1;
    uint8_t *o = buf + off;
    write_common(o, 1, RTCP_SDES, len);
    cv_wr_be32(o + 4, ssrc);
    o[8] = SDES_CNAME;
    o[9] = (uint8_t)n;
    if (n)
        memcpy(o + 10, cname, n);
    memset(o + 10 + n, 0, len - 10 - n);
    return (int)(off + len);
}

int cv_rtcp_build_sr(uint8_t *buf, size_t cap, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts,
                     uint32_t packet_count, uint32_t octet_count, const char *cname)
{
    if (!buf || cap < SR_LEN)
        return -1;
    write_common(buf, 0, RTCP_SR, SR_LEN);
    cv_wr_be32(buf + 4, ssrc);
    cv_wr_be32(buf + 8, (uint32_t)(ntp >> 32));
    cv_wr_be32(buf + 12, (uint32_t)ntp);
    cv_wr_be32(buf + 16, rtp_ts);
    cv_wr_be32(buf + 20, packet_count);
    cv_wr_be32(buf + 24, octet_count);
    return append_sdes(buf, cap, SR_LEN, ssrc, cname);
}

int cv_rtcp_build_rr(uint8_t *buf, size_t cap, uint32_t ssrc, uint32_t media_ssrc, uint32_t ext_highest_seq,
                     uint32_t cum_lost, uint32_t lsr, uint32_t dlsr, const char *cname)
{
    unsigned blocks = media_ssrc ? 1 : 0;
    size_t len = 8 + blocks * RR_BLOCK_LEN;
    if (!buf || cap < len)
        return -1;
    write_common(buf, blocks, RTCP_RR, len);
    cv_wr_be32(buf + 4, ssrc);
    if (blocks) {
        uint8_t *b = buf + 8;
        cv_wr_be32(b, media_ssrc);
        /* fraction lost 0 (not tracked here); cumulative lost is a signed
         * 24-bit field, saturate it. */
        cv_wr_be32(b + 4, CV_MIN(cum_lost, 0x7fffffu));
        cv_wr_be32(b + 8, ext_highest_seq);
        cv_wr_be32(b + 12, 0); /* interarrival jitter */
        cv_wr_be32(b + 16, lsr);
        cv_wr_be32(b + 20, dlsr);
    }
    return append_sdes(buf, cap, len, ssrc, cname);
}

int cv_rtcp_parse(const uint8_t *buf, size_t len, cv_rtcp_info *out)
{
    memset(out, 0, sizeof(*out));
    if (!buf || len < 4)
        return -EBADMSG;
    cv_rd r = {buf, buf + len};
    while (cv_rd_left(&r) > 0) {
        const uint8_t *h = r.p;
        if (cv_rd_left(&r) < 4 || (h[0] >> 6) != 2)
            return -EBADMSG;
        size_t plen = ((size_t)cv_be16(h + 2) + 1) * 4;
        if (cv_rd_left(&r) < plen)
            return -EBADMSG;
        unsigned count = h[0] & 0x1f;
        size_t body = plen;
        if (h[0] & 0x20) {
            /* Padding: the last octet counts the padding bytes, itself included. */
            size_t pad = h[plen - 1];
            if (pad == 0 || pad > plen - 4)
                return -EBADMSG;
            body -= pad;
        }
        switch (h[1]) {
        case RTCP_SR:
            if (body < SR_LEN + (size_t)count * RR_BLOCK_LEN)
                return -EBADMSG;
            if (!out->has_sr) {
                out->has_sr = true;
                out->sr_ssrc = cv_be32(h + 4);
                out->sr_ntp = (uint64_t)cv_be32(h + 8) << 32 | cv_be32(h + 12);
                out->sr_rtp_ts = cv_be32(h + 16);
                out->sr_packets = cv_be32(h + 20);
                out->sr_octets = cv_be32(h + 24);
            }
            if (count)
                out->has_rr = true;
            break;
        case RTCP_RR:
            if (body < 8 + (size_t)count * RR_BLOCK_LEN)
                return -EBADMSG;
            out->has_rr = true;
            break;
        case RTCP_BYE:
            if (body < 4 + (size_t)count * 4)
                return -EBADMSG;
            out->bye = true;
            break;
        case RTCP_SDES:
            /* Chunks are not needed; only check the declared count can fit
             * (each chunk is at least 8 bytes). */
            if (body < 4 + (size_t)count * 8)
                return -EBADMSG;
            break;
        default:
            break;
        }
        r.p += plen;
    }
    return 0;
}
