/* Tests for src/auth/token.c: capability token encoding, tamper and forgery
 * refusal, and the revocation hash. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "auth/token.h"
#include "base/id.h"
#include "base/log.h"
#include "store/people.h"

#define TOKEN_LEN 128 /* "cvt1." + base64url of 60 + 32 bytes */

static cv_key *key_of(uint8_t fill)
{
    uint8_t b[32];
    memset(b, fill, sizeof(b));
    cv_key *k = NULL;
    assert_int_equal(cv_key_from_bytes(&k, b), 0);
    return k;
}

static cv_token sample(void)
{
    cv_token t = {0};
    cv_id_random(&t.id);
    cv_id_random(&t.camera);
    cv_id_random(&t.principal);
    t.kind = CV_PRINCIPAL_USER;
    t.scopes = CV_SCOPE_LIVE;
    t.expires_us = 1700000000LL * 1000000 + 123456;
    return t;
}

static void assert_token_equal(const cv_token *a, const cv_token *b)
{
    assert_true(cv_id_eq(&a->id, &b->id));
    assert_true(cv_id_eq(&a->camera, &b->camera));
    assert_true(cv_id_eq(&a->principal, &b->principal));
    assert_int_equal(a->kind, b->kind);
    assert_int_equal(a->scopes, b->scopes);
    assert_int_equal(a->expires_us, b->expires_us);
}

/* Decodes s (TOKEN_LEN chars) to the 92 raw bytes. */
static void raw_of(const char *s, uint8_t bin[92])
{
    size_t n = 0;
    assert_int_equal(sodium_base642bin(bin, 92, s + 5, TOKEN_LEN - 5, NULL, &n, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    assert_int_equal(n, 92);
}

/* Encodes raw bytes as a token string; with remac, recomputes the tag with
 * k so only the field checks can refuse it. */
static void text_of(const cv_key *k, uint8_t bin[92], bool remac, char out[CV_TOKEN_MAX])
{
    if (remac)
        crypto_auth_hmacsha512256(bin + 60, bin, 60, cv_key_sub(k, CV_KEY_TOKEN));
    memcpy(out, "cvt1.", 5);
    sodium_bin2base64(out + 5, CV_TOKEN_MAX - 5, bin, 92, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void test_token_roundtrip(void **state)
{
    (void)state;
    cv_key *k = key_of(1);
    static const uint8_t kinds[] = {CV_PRINCIPAL_USER, CV_PRINCIPAL_INTEGRATION};
    static const int64_t expiries[] = {0, 1, -1, INT64_MAX, INT64_MIN, 1700000000LL * 1000000};
    for (size_t ki = 0; ki < 2; ki++)
        for (uint8_t sc = 1; sc <= CV_SCOPE_ALL; sc++)
            for (size_t ei = 0; ei < sizeof(expiries) / sizeof(expiries[0]); ei++) {
                cv_token t = sample(), d;
                t.kind = kinds[ki];
                t.scopes = sc;
                t.expires_us = expiries[ei];
                char s[CV_TOKEN_MAX];
                int n = cv_token_encode(k, &t, s, sizeof(s));
                assert_int_equal(n, TOKEN_LEN);
                assert_int_equal(strlen(s), TOKEN_LEN);
                assert_memory_equal(s, "cvt1.", 5);
                for (int i = 5; i < n; i++)
                    assert_non_null(
                        strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", s[i]));
                memset(&d, 0xa5, sizeof(d));
                assert_int_equal(cv_token_decode(k, s, (size_t)n, &d), 0);
                assert_token_equal(&t, &d);
                /* Deterministic: the same token encodes to the same text. */
                char s2[CV_TOKEN_MAX];
                assert_int_equal(cv_token_encode(k, &d, s2, sizeof(s2)), n);
                assert_string_equal(s, s2);
            }
    cv_key_free(k);
}

static void test_token_every_bit_flip_refused(void **state)
{
    (void)state;
    cv_key *k = key_of(1);
    cv_token t = sample(), d;
    char s[CV_TOKEN_MAX];
    assert_int_equal(cv_token_encode(k, &t, s, sizeof(s)), TOKEN_LEN);
    /* Of the text. */
    int eacces = 0, ebadmsg = 0;
    for (int i = 0; i < TOKEN_LEN; i++)
        for (int bit = 0; bit < 8; bit++) {
            char m[CV_TOKEN_MAX];
            memcpy(m, s, sizeof(m));
            m[i] = (char)(m[i] ^ (1 << bit));
            int r = cv_token_decode(k, m, TOKEN_LEN, &d);
            assert_true(r == -EACCES || r == -EBADMSG);
            eacces += r == -EACCES;
            ebadmsg += r == -EBADMSG;
        }
    assert_true(eacces > 0 && ebadmsg > 0);
    /* Of the bytes under the base64, tag left alone: the tag must catch it. */
    uint8_t bin[92];
    for (int i = 0; i < 92; i++)
        for (int bit = 0; bit < 8; bit++) {
            raw_of(s, bin);
            bin[i] ^= (uint8_t)(1 << bit);
            char m[CV_TOKEN_MAX];
            text_of(k, bin, false, m);
            assert_int_equal(cv_token_decode(k, m, TOKEN_LEN, &d), -EACCES);
        }
    assert_int_equal(cv_token_decode(k, s, TOKEN_LEN, &d), 0);
    cv_key_free(k);
}

static void test_token_length_refused(void **state)
{
    (void)state;
    cv_key *k = key_of(1);
    cv_token t = sample(), d;
    char s[CV_TOKEN_MAX + 8];
    assert_int_equal(cv_token_encode(k, &t, s, CV_TOKEN_MAX), TOKEN_LEN);
    for (size_t n = 0; n < TOKEN_LEN; n++)
        assert_int_equal(cv_token_decode(k, s, n, &d), -EBADMSG);
    /* The NUL or extra characters after it are not part of a token. */
    assert_int_equal(cv_token_decode(k, s, TOKEN_LEN + 1, &d), -EBADMSG);
    strcat(s, "A");
    assert_int_equal(cv_token_decode(k, s, TOKEN_LEN + 1, &d), -EBADMSG);
    strcpy(s + TOKEN_LEN, "AAAA");
    assert_int_equal(cv_token_decode(k, s, TOKEN_LEN + 4, &d), -EBADMSG);
    s[TOKEN_LEN] = '\0';
    /* Decoding reads exactly len bytes: an exact-size heap copy under ASan. */
    char *exact = malloc(TOKEN_LEN);
    memcpy(exact, s, TOKEN_LEN);
    assert_int_equal(cv_token_decode(k, exact, TOKEN_LEN, &d), 0);
    free(exact);
    /* Other prefixes and padding. */
    char m[CV_TOKEN_MAX + 8];
    memcpy(m, s, TOKEN_LEN + 1);
    m[3] = '2';
    assert_int_equal(cv_token_decode(k, m, TOKEN_LEN, &d), -EBADMSG);
    memcpy(m, s, TOKEN_LEN + 1);
    m[0] = 'C';
    assert_int_equal(cv_token_decode(k, m, TOKEN_LEN, &d), -EBADMSG);
    memcpy(m, s, TOKEN_LEN);
    m[TOKEN_LEN] = '=';
    m[TOKEN_LEN + 1] = '\0';
    assert_int_equal(cv_token_decode(k, m, TOKEN_LEN + 1, &d), -EBADMSG);
    /* Standard base64 characters instead of the URL-safe ones. */
    memcpy(m, s, TOKEN_LEN + 1);
    for (int i = 5; i < TOKEN_LEN; i++) {
        if (m[i] == '-' || m[i] == '_') {
            m[i] = m[i] == '-' ? '+' : '/';
            assert_int_equal(cv_token_decode(k, m, TOKEN_LEN, &d), -EBADMSG);
            m[i] = s[i];
        }
    }
    /* Whitespace anywhere. */
    memcpy(m, s, TOKEN_LEN + 1);
    m[60] = ' ';
    assert_int_equal(cv_token_decode(k, m, TOKEN_LEN, &d), -EBADMSG);
    assert_int_equal(cv_token_decode(k, "", 0, &d), -EBADMSG);
    cv_key_free(k);
}

static void test_token_noncanonical_tail_refused(void **state)
{
    (void)state;
    cv_key *k = key_of(1);
    cv_token t = sample(), d;
    char s[CV_TOKEN_MAX];
    assert_int_equal(cv_token_encode(k, &t, s, sizeof(s)), TOKEN_LEN);
    /* 92 bytes end in a group of two: the last character carries 4 data
     * bits and 2 that must be zero. Every other character with the same
     * data bits is a second spelling of the same token. */
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(b64, s[TOKEN_LEN - 1]) - b64);
    assert_int_equal(v & 3, 0);
    for (int pad = 1; pad < 4; pad++) {
        char m[CV_TOKEN_MAX];
        memcpy(m, s, sizeof(m));
        m[TOKEN_LEN - 1] = b64[v | pad];
        assert_int_equal(cv_token_decode(k, m, TOKEN_LEN, &d), -EBADMSG);
    }
    cv_key_free(k);
}

static void test_token_other_key_refused(void **state)
{
    (void)state;
    cv_key *k1 = key_of(1), *k2 = key_of(2);
    cv_token t = sample(), d;
    char s[CV_TOKEN_MAX];
    assert_int_equal(cv_token_encode(k1, &t, s, sizeof(s)), TOKEN_LEN);
    assert_int_equal(cv_token_decode(k2, s, TOKEN_LEN, &d), -EACCES);
    assert_int_equal(cv_token_decode(k1, s, TOKEN_LEN, &d), 0);
    cv_key_free(k1);
    cv_key_free(k2);
}

static void test_token_bad_fields_refused(void **state)
{
    (void)state;
    cv_key *k = key_of(1);
    cv_token t = sample(), d;
    char s[CV_TOKEN_MAX], m[CV_TOKEN_MAX];
    assert_int_equal(cv_token_encode(k, &t, s, sizeof(s)), TOKEN_LEN);
    /* Correctly MACed, but fields that no encoder writes. */
    static const struct {
        int off;
        uint8_t val;
    } bad[] = {
        {0, 0}, {0, 2}, {0, 255},          /* version */
        {1, 0}, {1, 3}, {1, 255},          /* kind */
        {2, 0}, {2, 4}, {2, 7}, {2, 255},  /* scopes */
        {3, 1}, {3, 128},                  /* reserved */
    };
    uint8_t bin[92];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        raw_of(s, bin);
        bin[bad[i].off] = bad[i].val;
        text_of(k, bin, true, m);
        assert_int_equal(cv_token_decode(k, m, TOKEN_LEN, &d), -EBADMSG);
    }
    /* The same construction with good fields is accepted (the helper is
     * sound), e.g. scopes changed from LIVE to ALL. */
    raw_of(s, bin);
    bin[2] = CV_SCOPE_ALL;
    text_of(k, bin, true, m);
    assert_int_equal(cv_token_decode(k, m, TOKEN_LEN, &d), 0);
    assert_int_equal(d.scopes, CV_SCOPE_ALL);
    /* The encoder refuses them too. */
    cv_token b = t;
    b.kind = 0;
    assert_int_equal(cv_token_encode(k, &b, m, sizeof(m)), -EINVAL);
    b.kind = 3;
    assert_int_equal(cv_token_encode(k, &b, m, sizeof(m)), -EINVAL);
    b = t;
    b.scopes = 0;
    assert_int_equal(cv_token_encode(k, &b, m, sizeof(m)), -EINVAL);
    b.scopes = CV_SCOPE_ALL + 1;
    assert_int_equal(cv_token_encode(k, &b, m, sizeof(m)), -EINVAL);
    b.scopes = 0xff;
    assert_int_equal(cv_token_encode(k, &b, m, sizeof(m)), -EINVAL);
    cv_key_free(k);
}

static void test_token_encode_nospace(void **state)
{
    (void)state;
    cv_key *k = key_of(1);
    cv_token t = sample();
    char s[CV_TOKEN_MAX];
    assert_int_equal(cv_token_encode(k, &t, s, TOKEN_LEN), -ENOSPC);
    assert_int_equal(cv_token_encode(k, &t, s, 0), -ENOSPC);
    assert_int_equal(cv_token_encode(k, &t, s, TOKEN_LEN + 1), TOKEN_LEN);
    assert_true(TOKEN_LEN + 1 <= CV_TOKEN_MAX);
    cv_key_free(k);
}

static void test_token_hash(void **state)
{
    (void)state;
    cv_token a = sample(), b = sample();
    uint8_t ha[32], ha2[32], hb[32], want[32];
    cv_token_hash(&a, ha);
    cv_token_hash(&a, ha2);
    cv_token_hash(&b, hb);
    assert_memory_equal(ha, ha2, 32);
    assert_memory_not_equal(ha, hb, 32);
    /* Known by its id alone: the other fields do not change it. */
    cv_hash32(a.id.b, CV_ID_BYTES, want);
    assert_memory_equal(ha, want, 32);
    b.id = a.id;
    cv_token_hash(&b, hb);
    assert_memory_equal(ha, hb, 32);
    /* Differs per id even when ids differ by one bit. */
    b.id.b[15] ^= 1;
    cv_token_hash(&b, hb);
    assert_memory_not_equal(ha, hb, 32);
}

int main(void)
{
    if (cv_id_init() != 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_roundtrip),
        cmocka_unit_test(test_token_every_bit_flip_refused),
        cmocka_unit_test(test_token_length_refused),
        cmocka_unit_test(test_token_noncanonical_tail_refused),
        cmocka_unit_test(test_token_other_key_refused),
        cmocka_unit_test(test_token_bad_fields_refused),
        cmocka_unit_test(test_token_encode_nospace),
        cmocka_unit_test(test_token_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
