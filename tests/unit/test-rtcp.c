/* Tests for src/rtp/rtcp.c: NTP conversion, SR/RR building, compound parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "rtp/rtcp.h"

static void test_rtcp_ntp_from_wall(void **state)
{
    assert_int_equal(cv_ntp_from_wall_us(0), (uint64_t)2208988800u << 32);
    assert_int_equal(cv_ntp_from_wall_us(500000), (uint64_t)2208988800u << 32 | 0x80000000u);
    assert_int_equal(cv_ntp_from_wall_us(1250000), (uint64_t)2208988801u << 32 | 0x40000000u);
    /* 2024-01-01T00:00:00Z */
    assert_int_equal(cv_ntp_from_wall_us(1704067200LL * 1000000), (uint64_t)(1704067200u + 2208988800u) << 32);
    /* Just before the epoch: fraction stays in [0, 1). */
    assert_int_equal(cv_ntp_from_wall_us(-500000), (uint64_t)2208988799u << 32 | 0x80000000u);
    /* Microsecond resolution survives. */
    uint64_t a = cv_ntp_from_wall_us(1000), b = cv_ntp_from_wall_us(1001);
    assert_true(b > a);
    assert_int_equal((b - a) >> 12, 1); /* 2^32 / 1e6 ~ 4295 */
}

static void test_rtcp_sr_roundtrip(void **state)
{
    uint8_t buf[512];
    uint64_t ntp = 0x0123456789abcdefULL;
    int n = cv_rtcp_build_sr(buf, sizeof(buf), 0xaabbccdd, ntp, 0x11223344, 1000, 123456, "camvault@host");
    assert_true(n > 28);
    assert_int_equal(n % 4, 0);
    /* SR: V=2, RC=0, PT=200, length 6. */
    assert_int_equal(buf[0], 0x80);
    assert_int_equal(buf[1], 200);
    assert_int_equal(cv_be16(buf + 2), 6);
    /* SDES: one chunk with the CNAME. */
    assert_int_equal(buf[28], 0x81);
    assert_int_equal(buf[29], 202);
    assert_int_equal((cv_be16(buf + 30) + 1) * 4, n - 28);
    assert_int_equal(cv_be32(buf + 32), 0xaabbccdd);
    assert_int_equal(buf[36], 1);
    assert_int_equal(buf[37], 13);
    assert_memory_equal(buf + 38, "camvault@host", 13);
    assert_int_equal(buf[51], 0); /* end of item list */

    cv_rtcp_info info;
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), 0);
    assert_true(info.has_sr);
    assert_int_equal(info.sr_ssrc, 0xaabbccdd);
    assert_int_equal(info.sr_ntp, ntp);
    assert_int_equal(info.sr_rtp_ts, 0x11223344);
    assert_int_equal(info.sr_packets, 1000);
    assert_int_equal(info.sr_octets, 123456);
    assert_false(info.has_rr);
    assert_false(info.bye);
}

static void test_rtcp_sdes_padding_for_every_cname_length(void **state)
{
    char cname[256];
    memset(cname, 'x', sizeof(cname));
    for (size_t len = 0; len <= 255; len++) {
        cname[len] = 0;
        uint8_t buf[400];
        int n = cv_rtcp_build_sr(buf, 100 + len, 1, 2, 3, 4, 5, cname);
        assert_true(n > 0);
        assert_int_equal(n % 4, 0);
        /* At least one terminating zero after the item, at most four. */
        size_t item_end = 28 + 8 + 2 + len;
        assert_true((size_t)n >= item_end + 1 && (size_t)n <= item_end + 4);
        for (size_t i = item_end; i < (size_t)n; i++)
            assert_int_equal(buf[i], 0);
        cv_rtcp_info info;
        assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), 0);
        /* One byte short of what it needs fails cleanly. */
        assert_int_equal(cv_rtcp_build_sr(buf, (size_t)n - 1, 1, 2, 3, 4, 5, cname), -1);
        cname[len] = 'x';
    }
    uint8_t buf[400];
    assert_int_equal(cv_rtcp_build_sr(buf, 20, 1, 2, 3, 4, 5, "a"), -1);
    assert_true(cv_rtcp_build_sr(buf, sizeof(buf), 1, 2, 3, 4, 5, NULL) > 0);
}

static void test_rtcp_rr_roundtrip(void **state)
{
    uint8_t buf[256];
    int n = cv_rtcp_build_rr(buf, sizeof(buf), 0x1111, 0x2222, 0x00012345, 77, 0xabcd0000u, 6553, "cv");
    assert_true(n > 0);
    assert_int_equal(n % 4, 0);
    assert_int_equal(buf[0], 0x81);
    assert_int_equal(buf[1], 201);
    assert_int_equal(cv_be16(buf + 2), 7);
    assert_int_equal(cv_be32(buf + 4), 0x1111);
    assert_int_equal(cv_be32(buf + 8), 0x2222);
    assert_int_equal(cv_be32(buf + 12), 77);
    assert_int_equal(cv_be32(buf + 16), 0x00012345);
    assert_int_equal(cv_be32(buf + 24), 0xabcd0000u);
    assert_int_equal(cv_be32(buf + 28), 6553);
    assert_int_equal(buf[33], 202);
    cv_rtcp_info info;
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), 0);
    assert_true(info.has_rr);
    assert_false(info.has_sr);

    /* No media SSRC: an empty RR. */
    n = cv_rtcp_build_rr(buf, sizeof(buf), 0x1111, 0, 0, 0, 0, 0, "cv");
    assert_int_equal(buf[0], 0x80);
    assert_int_equal(cv_be16(buf + 2), 1);
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), 0);
    assert_true(info.has_rr);

    /* Cumulative loss saturates at the 24-bit field. */
    n = cv_rtcp_build_rr(buf, sizeof(buf), 1, 2, 0, 0x12345678u, 0, 0, "cv");
    assert_int_equal(cv_be32(buf + 12), 0x7fffff);
    assert_int_equal(cv_rtcp_build_rr(buf, 31, 1, 2, 0, 0, 0, 0, "cv"), -1);
    assert_int_equal(cv_rtcp_build_rr(buf, 7, 1, 0, 0, 0, 0, 0, "cv"), -1);
}

static void test_rtcp_sr_with_report_block(void **state)
{
    /* SR from a peer that also receives: RC=1, one 24-byte block. */
    uint8_t pkt[28 + 24];
    memset(pkt, 0, sizeof(pkt));
    pkt[0] = 0x81;
    pkt[1] = 200;
    cv_wr_be16(pkt + 2, 12);
    cv_wr_be32(pkt + 4, 0x42);
    cv_rtcp_info info;
    assert_int_equal(cv_rtcp_parse(pkt, sizeof(pkt), &info), 0);
    assert_true(info.has_sr);
    assert_true(info.has_rr);
    assert_int_equal(info.sr_ssrc, 0x42);
    /* Two SRs in one compound: the first one is reported. */
    uint8_t two[56];
    int n1 = cv_rtcp_build_sr(two, 28, 1, 10, 0, 0, 0, NULL);
    assert_int_equal(n1, -1); /* no room for the SDES */
    uint8_t a[64], b[64];
    int na = cv_rtcp_build_sr(a, sizeof(a), 1, 10, 0, 0, 0, "a");
    int nb = cv_rtcp_build_sr(b, sizeof(b), 2, 20, 0, 0, 0, "b");
    assert_true(na == 40 && nb == 40);
    uint8_t both[80];
    memcpy(both, a, 40);
    memcpy(both + 40, b, 40);
    assert_int_equal(cv_rtcp_parse(both, sizeof(both), &info), 0);
    assert_int_equal(info.sr_ssrc, 1);
    assert_int_equal(info.sr_ntp, 10);
}

static void test_rtcp_truncated_inputs_rejected(void **state)
{
    uint8_t buf[256];
    int n = cv_rtcp_build_sr(buf, sizeof(buf), 1, 2, 3, 4, 5, "truncate-me");
    assert_true(n > 28);
    cv_rtcp_info info;
    for (size_t cut = 0; cut < (size_t)n; cut++) {
        int res = cv_rtcp_parse(buf, cut, &info);
        /* Only a cut exactly between the SR and the SDES is a valid compound. */
        assert_int_equal(res, cut == 28 ? 0 : -EBADMSG);
    }
    assert_int_equal(cv_rtcp_parse(NULL, 0, &info), -EBADMSG);
}

static void test_rtcp_bad_fields_rejected(void **state)
{
    uint8_t buf[256];
    cv_rtcp_info info;
    int n = cv_rtcp_build_sr(buf, sizeof(buf), 1, 2, 3, 4, 5, "x");

    buf[0] = 0x40; /* version 1 */
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), -EBADMSG);
    buf[0] = 0x80;
    buf[28] = 0x01; /* second packet with version 0 */
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), -EBADMSG);
    buf[28] = 0x81;
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), 0);

    /* SR claiming a report block it does not have. */
    buf[0] = 0x81;
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), -EBADMSG);
    buf[0] = 0x80;
    /* Length field pointing past the end. */
    cv_wr_be16(buf + 2, 0xffff);
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), -EBADMSG);
    /* An SR too short for its sender info. */
    cv_wr_be16(buf + 2, 1);
    assert_int_equal(cv_rtcp_parse(buf, 8, &info), -EBADMSG);

    /* RR with RC=2 but room for one block. */
    n = cv_rtcp_build_rr(buf, sizeof(buf), 1, 2, 3, 4, 5, 6, "x");
    buf[0] = 0x82;
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), -EBADMSG);

    /* Padding larger than the packet body. */
    const uint8_t pad_bad[] = {0xa0, 201, 0, 2, 0, 0, 0, 1, 0, 0, 0, 9};
    assert_int_equal(cv_rtcp_parse(pad_bad, sizeof(pad_bad), &info), -EBADMSG);
    const uint8_t pad_zero[] = {0xa0, 201, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0};
    assert_int_equal(cv_rtcp_parse(pad_zero, sizeof(pad_zero), &info), -EBADMSG);
    const uint8_t pad_ok[] = {0xa0, 201, 0, 2, 0, 0, 0, 1, 0, 0, 0, 4};
    assert_int_equal(cv_rtcp_parse(pad_ok, sizeof(pad_ok), &info), 0);
    assert_true(info.has_rr);
    /* Padding that eats into the SSRC. */
    const uint8_t pad_eats[] = {0xa0, 201, 0, 2, 0, 0, 0, 1, 0, 0, 0, 8};
    assert_int_equal(cv_rtcp_parse(pad_eats, sizeof(pad_eats), &info), -EBADMSG);
    /* Trailing bytes that do not make a header. */
    const uint8_t trailing[] = {0x80, 201, 0, 1, 0, 0, 0, 1, 0x80, 201};
    assert_int_equal(cv_rtcp_parse(trailing, sizeof(trailing), &info), -EBADMSG);
}

static void test_rtcp_bye_and_unknown_types(void **state)
{
    /* RR, APP (skipped), BYE with one SSRC and a reason. */
    const uint8_t pkt[] = {
        0x80, 201, 0, 1, 0, 0, 0, 7,
        0x80, 204, 0, 2, 0, 0, 0, 7, 'n', 'a', 'm', 'e',
        0x81, 203, 0, 3, 0, 0, 0, 7, 3, 'b', 'y', 'e', 0, 0, 0, 0,
    };
    cv_rtcp_info info;
    assert_int_equal(cv_rtcp_parse(pkt, sizeof(pkt), &info), 0);
    assert_true(info.has_rr);
    assert_true(info.bye);
    assert_false(info.has_sr);

    uint8_t bad[sizeof(pkt)];
    memcpy(bad, pkt, sizeof(pkt));
    bad[20] = 0x85; /* BYE claims five SSRCs in three words */
    assert_int_equal(cv_rtcp_parse(bad, sizeof(bad), &info), -EBADMSG);
    const uint8_t sdes_bad[] = {0x83, 202, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0};
    assert_int_equal(cv_rtcp_parse(sdes_bad, sizeof(sdes_bad), &info), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtcp_ntp_from_wall),
        cmocka_unit_test(test_rtcp_sr_roundtrip),
        cmocka_unit_test(test_rtcp_sdes_padding_for_every_cname_length),
        cmocka_unit_test(test_rtcp_rr_roundtrip),
        cmocka_unit_test(test_rtcp_sr_with_report_block),
        cmocka_unit_test(test_rtcp_truncated_inputs_rejected),
        cmocka_unit_test(test_rtcp_bad_fields_rejected),
        cmocka_unit_test(test_rtcp_bye_and_unknown_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
