/* Tests for src/auth/password.c. Each Argon2id computation costs ~0.1 s and
 * 64 MiB, so the cases share one hash and count their calls. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/password.h"
#include "base/id.h"
#include "base/log.h"
#include "base/util.h"

static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

static void test_pw_generate(void **state)
{
    (void)state;
    enum { N = 200 };
    static char pws[N][32];
    for (int i = 0; i < N; i++) {
        assert_int_equal(cv_pw_generate(pws[i], sizeof(pws[i])), 24);
        assert_int_equal(strlen(pws[i]), 24);
        for (int j = 0; j < 24; j++) {
            assert_non_null(strchr(alphabet, pws[i][j]));
            assert_true(pws[i][j] != '\0');
        }
        for (int j = 0; j < i; j++)
            assert_string_not_equal(pws[i], pws[j]);
    }
    /* No ambiguous characters at all. */
    for (int i = 0; i < N; i++)
        assert_null(strpbrk(pws[i], "ilouILOU"));
    /* Every character of the alphabet turns up in 4800 draws. */
    for (const char *c = alphabet; *c; c++) {
        bool seen = false;
        for (int i = 0; i < N && !seen; i++)
            seen = strchr(pws[i], *c) != NULL;
        assert_true(seen);
    }
    char small[25];
    assert_int_equal(cv_pw_generate(small, 24), -ENOSPC);
    assert_int_equal(cv_pw_generate(small, sizeof(small)), 24);
}

static void test_pw_length_limits(void **state)
{
    (void)state;
    static char big[CV_PW_MAX + 2];
    memset(big, 'x', sizeof(big) - 1);
    char h[CV_PW_HASH_MAX];
    /* No Argon2 runs for these. */
    assert_int_equal(cv_pw_hash("", 0, h), -EINVAL);
    assert_int_equal(cv_pw_hash("1234567", CV_PW_MIN - 1, h), -EINVAL);
    assert_int_equal(cv_pw_hash(big, CV_PW_MAX + 1, h), -EINVAL);
    assert_false(cv_pw_verify(NULL, "1234567", CV_PW_MIN - 1));
    assert_false(cv_pw_verify(NULL, big, CV_PW_MAX + 1));
    /* A malformed stored hash answers false without crashing. */
    assert_false(cv_pw_verify("", "12345678", 8));
    assert_false(cv_pw_verify("$argon2id$v=19$m=65536,t=2,p=1$garbage", "12345678", 8));
    static char unterminated[CV_PW_HASH_MAX];
    memset(unterminated, '$', sizeof(unterminated));
    assert_false(cv_pw_verify(unterminated, "12345678", 8));
}

/* Seven Argon2id computations in all (two for the first unknown user). */
static void test_pw_hash_and_verify(void **state)
{
    (void)state;
    char pw[32];
    assert_int_equal(cv_pw_generate(pw, sizeof(pw)), 24);
    char h1[CV_PW_HASH_MAX], h2[CV_PW_HASH_MAX];
    assert_int_equal(cv_pw_hash(pw, 24, h1), 0);
    assert_true(strlen(h1) < CV_PW_HASH_MAX);
    assert_memory_equal(h1, "$argon2id$v=19$m=65536,t=2,p=1$", 31);
    assert_true(cv_pw_verify(h1, pw, 24));
    /* A prefix is a different password: the length is respected. */
    int64_t t0 = cv_now_us();
    assert_false(cv_pw_verify(h1, pw, 23));
    int64_t real_us = cv_now_us() - t0;
    /* Salted: the same password hashes differently. At the minimum length. */
    assert_int_equal(cv_pw_hash(pw, CV_PW_MIN, h2), 0);
    assert_string_not_equal(h1, h2);
    /* Unknown user: false, and (after the one-time dummy hash) as slow as a
     * real verify. The bound is loose so a busy machine does not flake. */
    assert_false(cv_pw_verify(NULL, pw, 24));
    t0 = cv_now_us();
    assert_false(cv_pw_verify(NULL, pw, 24));
    int64_t null_us = cv_now_us() - t0;
    assert_true(null_us * 4 > real_us);
    assert_true(null_us > 5000);
}

int main(void)
{
    if (cv_id_init() != 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pw_generate),
        cmocka_unit_test(test_pw_length_limits),
        cmocka_unit_test(test_pw_hash_and_verify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
