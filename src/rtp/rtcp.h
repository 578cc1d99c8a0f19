/* RTCP (RFC 3550 section 6): sender reports for viewers, receiver reports for
 * pulled cameras, and a parser for what peers send. */
#ifndef CV_RTP_RTCP_H
#define CV_RTP_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 64-bit NTP timestamp (seconds since 1900 in the high 32 bits) for a wall
 * clock in microseconds since the Unix epoch. */
uint64_t cv_ntp_from_wall_us(int64_t wall_us);

/* Builds a compound SR + SDES(CNAME) packet. Returns its length, or -1 when
 * cap is too small (100 bytes plus the CNAME always suffice). */
int cv_rtcp_build_sr(uint8_t *buf, size_t cap, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts,
                     uint32_t packet_count, uint32_t octet_count, const char *cname);

/* Builds a compound RR (one report block for media_ssrc, or none when
 * media_ssrc is 0) + SDES(CNAME). Returns its length, or -1. */
int cv_rtcp_build_rr(uint8_t *buf, size_t cap, uint32_t ssrc, uint32_t media_ssrc, uint32_t ext_highest_seq,
                     uint32_t cum_lost, uint32_t lsr, uint32_t dlsr, const char *cname);

typedef struct {
    bool has_sr;
    uint32_t sr_ssrc;
    uint64_t sr_ntp;
    uint32_t sr_rtp_ts;
    uint32_t sr_packets;
    uint32_t sr_octets;
    bool has_rr;
    bool bye;
} cv_rtcp_info;

/* Parses a compound RTCP packet. Returns 0, or -EBADMSG when any length field
 * does not fit. Unknown packet types are skipped. */
int cv_rtcp_parse(const uint8_t *buf, size_t len, cv_rtcp_info *out);

#endif
