/* Tests for src/rtp/rtp.c: RTP fixed header parsing and writing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rtp/rtp.h"

static void test_rtp_write_then_parse(void **state)
{
    uint8_t pkt[16];
    cv_rtp_write_hdr(pkt, true, 97, 0xbeef, 0x12345678, 0xcafebabe);
    memcpy(pkt + 12, "abcd", 4);
    cv_rtp_hdr h;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), 0);
    assert_true(h.marker);
    assert_int_equal(h.payload_type, 97);
    assert_int_equal(h.seq, 0xbeef);
    assert_int_equal(h.ts, 0x12345678);
    assert_int_equal(h.ssrc, 0xcafebabe);
    assert_int_equal(h.payload_len, 4);
    assert_ptr_equal(h.payload, pkt + 12);

    cv_rtp_write_hdr(pkt, false, 0xff, 1, 2, 3); /* pt is masked to 7 bits */
    assert_int_equal(pkt[0], 0x80);
    assert_int_equal(pkt[1], 0x7f);
    assert_int_equal(cv_rtp_parse(pkt, 12, &h), 0);
    assert_false(h.marker);
    assert_int_equal(h.payload_len, 0);
}

static void test_rtp_rejects_short_and_bad_version(void **state)
{
    uint8_t pkt[20] = {0};
    cv_rtp_hdr h;
    cv_rtp_write_hdr(pkt, false, 96, 1, 1, 1);
    for (size_t n = 0; n < 12; n++)
        assert_int_equal(cv_rtp_parse(pkt, n, &h), -EBADMSG);
    assert_int_equal(cv_rtp_parse(NULL, 20, &h), -EBADMSG);
    for (unsigned v = 0; v < 4; v++) {
        pkt[0] = (uint8_t)(v << 6);
        assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), v == 2 ? 0 : -EBADMSG);
    }
}

static void test_rtp_skips_csrcs(void **state)
{
    uint8_t pkt[12 + 8 + 3];
    cv_rtp_write_hdr(pkt, false, 96, 1, 1, 1);
    pkt[0] |= 2; /* two CSRCs */
    memset(pkt + 12, 0xee, 8);
    memcpy(pkt + 20, "xyz", 3);
    cv_rtp_hdr h;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), 0);
    assert_int_equal(h.payload_len, 3);
    assert_memory_equal(h.payload, "xyz", 3);
    /* CSRC list alone, then one byte short of it. */
    assert_int_equal(cv_rtp_parse(pkt, 20, &h), 0);
    assert_int_equal(h.payload_len, 0);
    assert_int_equal(cv_rtp_parse(pkt, 19, &h), -EBADMSG);
    pkt[0] |= 0x0f; /* 15 CSRCs do not fit */
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), -EBADMSG);
}

static void test_rtp_skips_extension(void **state)
{
    uint8_t pkt[12 + 4 + 8 + 2];
    cv_rtp_write_hdr(pkt, false, 96, 1, 1, 1);
    pkt[0] |= 0x10;
    pkt[12] = 0xbe;
    pkt[13] = 0xde;
    pkt[14] = 0;
    pkt[15] = 2; /* two words */
    memset(pkt + 16, 0x11, 8);
    pkt[24] = 'o';
    pkt[25] = 'k';
    cv_rtp_hdr h;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), 0);
    assert_int_equal(h.payload_len, 2);
    assert_memory_equal(h.payload, "ok", 2);
    /* Extension longer than the packet. */
    pkt[15] = 3;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), -EBADMSG);
    pkt[15] = 0xff;
    pkt[14] = 0xff;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), -EBADMSG);
    /* Extension bit set but no room for its header. */
    assert_int_equal(cv_rtp_parse(pkt, 15, &h), -EBADMSG);
}

static void test_rtp_strips_padding(void **state)
{
    uint8_t pkt[12 + 5 + 3];
    cv_rtp_write_hdr(pkt, false, 96, 1, 1, 1);
    pkt[0] |= 0x20;
    memcpy(pkt + 12, "hello", 5);
    pkt[17] = 0;
    pkt[18] = 0;
    pkt[19] = 3;
    cv_rtp_hdr h;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), 0);
    assert_int_equal(h.payload_len, 5);
    assert_memory_equal(h.payload, "hello", 5);
    /* Padding eating the whole payload is allowed, beyond it is not. */
    pkt[19] = 8;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), 0);
    assert_int_equal(h.payload_len, 0);
    pkt[19] = 9;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), -EBADMSG);
    pkt[19] = 0;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), -EBADMSG);
    /* Padding bit on a header-only packet: the count byte would be header. */
    assert_int_equal(cv_rtp_parse(pkt, 12, &h), -EBADMSG);
}

static void test_rtp_everything_combined(void **state)
{
    /* 1 CSRC, 1-word extension, 2 bytes payload, 2 bytes padding. */
    uint8_t pkt[12 + 4 + 4 + 4 + 2 + 2];
    cv_rtp_write_hdr(pkt, true, 8, 65535, 0xffffffff, 9);
    pkt[0] |= 0x20 | 0x10 | 1;
    memset(pkt + 12, 0, 4);
    pkt[16] = 0x10;
    pkt[17] = 0x00;
    pkt[18] = 0;
    pkt[19] = 1;
    memset(pkt + 20, 0x55, 4);
    pkt[24] = 0xaa;
    pkt[25] = 0xbb;
    pkt[26] = 0;
    pkt[27] = 2;
    cv_rtp_hdr h;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), 0);
    assert_int_equal(h.seq, 65535);
    assert_int_equal(h.ts, 0xffffffffu);
    assert_int_equal(h.payload_type, 8);
    assert_int_equal(h.payload_len, 2);
    assert_int_equal(h.payload[0], 0xaa);
    assert_int_equal(h.payload[1], 0xbb);
    /* Padding that would reach back into the extension. */
    pkt[27] = 5;
    assert_int_equal(cv_rtp_parse(pkt, sizeof(pkt), &h), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rtp_write_then_parse),
        cmocka_unit_test(test_rtp_rejects_short_and_bad_version),
        cmocka_unit_test(test_rtp_skips_csrcs),
        cmocka_unit_test(test_rtp_skips_extension),
        cmocka_unit_test(test_rtp_strips_padding),
        cmocka_unit_test(test_rtp_everything_combined),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
