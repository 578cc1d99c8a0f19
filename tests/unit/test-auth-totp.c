/* Tests for src/auth/totp.c: RFC 6238 vectors, the ±1 step window, replay
 * refusal, base32 and the otpauth URI. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/totp.h"
#include "base/id.h"
#include "base/log.h"

/* RFC 6238 appendix B uses this ASCII seed for SHA1. */
static const uint8_t rfc_secret[] = "12345678901234567890";
#define RFC_LEN 20

static void test_totp_rfc6238_vectors(void **state)
{
    (void)state;
    /* The 8-digit SHA1 values of appendix B; a 6-digit code is the same
     * number modulo 10^6, i.e. the last six digits. */
    static const struct {
        int64_t t;
        const char *code8;
    } v[] = {
        {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
        {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000LL, "65353130"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char code[7];
        assert_int_equal(cv_totp_code(rfc_secret, RFC_LEN, v[i].t, code), 0);
        assert_int_equal(strlen(code), 6);
        assert_string_equal(code, v[i].code8 + 2);
        /* And it checks at that time, returning the step. */
        assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, code, 6, v[i].t, 0), v[i].t / 30);
    }
}

static void test_totp_window(void **state)
{
    (void)state;
    const int64_t t = 1111111109, step = t / 30;
    char prev[7], cur[7], next[7], old[7], future[7];
    assert_int_equal(cv_totp_code(rfc_secret, RFC_LEN, t - 30, prev), 0);
    assert_int_equal(cv_totp_code(rfc_secret, RFC_LEN, t, cur), 0);
    assert_int_equal(cv_totp_code(rfc_secret, RFC_LEN, t + 30, next), 0);
    assert_int_equal(cv_totp_code(rfc_secret, RFC_LEN, t - 60, old), 0);
    assert_int_equal(cv_totp_code(rfc_secret, RFC_LEN, t + 60, future), 0);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, prev, 6, t, 0), step - 1);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, cur, 6, t, 0), step);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, next, 6, t, 0), step + 1);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, old, 6, t, 0), -EACCES);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, future, 6, t, 0), -EACCES);
    /* Anywhere inside the step counts as that step. */
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, cur, 6, step * 30, 0), step);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, cur, 6, step * 30 + 29, 0), step);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, cur, 6, step * 30 + 59, 0), step);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, cur, 6, step * 30 + 60, 0), -EACCES);
    /* Another secret's code is wrong. */
    uint8_t other[CV_TOTP_SECRET_BYTES];
    memcpy(other, rfc_secret, RFC_LEN);
    other[0] ^= 1;
    char oc[7];
    assert_int_equal(cv_totp_code(other, RFC_LEN, t, oc), 0);
    if (strcmp(oc, prev) != 0 && strcmp(oc, cur) != 0 && strcmp(oc, next) != 0)
        assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, oc, 6, t, 0), -EACCES);
    /* A code that is none of the three. */
    char wrong[7] = "000000";
    while (!strcmp(wrong, prev) || !strcmp(wrong, cur) || !strcmp(wrong, next))
        wrong[5]++;
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, wrong, 6, t, 0), -EACCES);
}

static void test_totp_replay_refused(void **state)
{
    (void)state;
    const int64_t t = 1234567890, step = t / 30;
    char prev[7], cur[7];
    assert_int_equal(cv_totp_code(rfc_secret, RFC_LEN, t - 30, prev), 0);
    assert_int_equal(cv_totp_code(rfc_secret, RFC_LEN, t, cur), 0);
    int64_t last = cv_totp_check(rfc_secret, RFC_LEN, cur, 6, t, 0);
    assert_int_equal(last, step);
    /* The same code again, now or a few seconds later in the same step. */
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, cur, 6, t, last), -EACCES);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, cur, 6, t + 5, last), -EACCES);
    /* Nor an older code still inside the window. */
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, prev, 6, t, last), -EACCES);
    /* The next step's code is fine. */
    char next[7];
    assert_int_equal(cv_totp_code(rfc_secret, RFC_LEN, t + 30, next), 0);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, next, 6, t + 30, last), step + 1);
    /* Accepting the next step early forbids the current one afterwards. */
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, cur, 6, t, step + 1), -EACCES);
}

static void test_totp_malformed(void **state)
{
    (void)state;
    const int64_t t = 59;
    static const char *bad[] = {"", "1", "12345", "1234567", "12a456", " 12345", "+12345", "-12345", "12345 ",
                                "１２３"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, bad[i], strlen(bad[i]), t, 0), -EINVAL);
    /* Explicit length: a NUL inside, or the right digits with the wrong length. */
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, "287\0" "82", 6, t, 0), -EINVAL);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, "2870820", 6, t, 0), 1);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, "287082", 5, t, 0), -EINVAL);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, "287082", 7, t, 0), -EINVAL);
    assert_int_equal(cv_totp_check(rfc_secret, RFC_LEN, NULL, 0, t, 0), -EINVAL);
}

static void test_totp_base32(void **state)
{
    (void)state;
    /* RFC 4648 section 10, without padding. */
    static const struct {
        const char *in, *out;
    } v[] = {
        {"", ""},           {"f", "MY"},           {"fo", "MZXQ"},         {"foo", "MZXW6"},
        {"foob", "MZXW6YQ"}, {"fooba", "MZXW6YTB"}, {"foobar", "MZXW6YTBOI"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        int n = cv_totp_base32((const uint8_t *)v[i].in, strlen(v[i].in), out, sizeof(out));
        assert_int_equal(n, strlen(v[i].out));
        assert_string_equal(out, v[i].out);
    }
    assert_int_equal(cv_totp_base32(rfc_secret, RFC_LEN, out, sizeof(out)), 32);
    assert_string_equal(out, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_int_equal(cv_totp_base32(rfc_secret, RFC_LEN, out, 32), -ENOSPC);
    assert_int_equal(cv_totp_base32(rfc_secret, RFC_LEN, out, 33), 32);
    /* All byte values map into the alphabet. */
    uint8_t all[255];
    for (int i = 0; i < 255; i++)
        all[i] = (uint8_t)(i + 1);
    char big[512];
    int n = cv_totp_base32(all, sizeof(all), big, sizeof(big));
    assert_int_equal(n, 408);
    for (int i = 0; i < n; i++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", big[i]));
}

static void test_totp_uri(void **state)
{
    (void)state;
    char out[256];
    int n = cv_totp_uri(rfc_secret, RFC_LEN, "alice", out, sizeof(out));
    const char *want = "otpauth://totp/camvault:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=camvault";
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(cv_totp_uri(rfc_secret, RFC_LEN, "alice", out, strlen(want) + 1), n);
    assert_int_equal(cv_totp_uri(rfc_secret, RFC_LEN, "alice", out, strlen(want)), -ENOSPC);
    assert_int_equal(cv_totp_uri(rfc_secret, RFC_LEN, "alice", out, 20), -ENOSPC);
    assert_int_equal(cv_totp_uri(rfc_secret, RFC_LEN, "alice", out, 0), -ENOSPC);
    /* The login is percent-encoded; unreserved characters pass. */
    n = cv_totp_uri(rfc_secret, RFC_LEN, "Bob.s_m-i~th@home:x/y?z&w=1 é", out, sizeof(out));
    assert_true(n > 0);
    assert_string_equal(out, "otpauth://totp/camvault:Bob.s_m-i~th%40home%3Ax%2Fy%3Fz%26w%3D1%20%C3%A9"
                             "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=camvault");
}

static void test_totp_new_secret(void **state)
{
    (void)state;
    uint8_t a[CV_TOTP_SECRET_BYTES], b[CV_TOTP_SECRET_BYTES];
    cv_totp_new_secret(a);
    cv_totp_new_secret(b);
    assert_memory_not_equal(a, b, sizeof(a));
    /* A new secret works end to end. */
    char code[7];
    assert_int_equal(cv_totp_code(a, sizeof(a), 1700000000, code), 0);
    assert_int_equal(cv_totp_check(a, sizeof(a), code, 6, 1700000010, 0), 1700000000 / 30);
}

int main(void)
{
    if (cv_id_init() != 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_totp_rfc6238_vectors),
        cmocka_unit_test(test_totp_window),
        cmocka_unit_test(test_totp_replay_refused),
        cmocka_unit_test(test_totp_malformed),
        cmocka_unit_test(test_totp_base32),
        cmocka_unit_test(test_totp_uri),
        cmocka_unit_test(test_totp_new_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
