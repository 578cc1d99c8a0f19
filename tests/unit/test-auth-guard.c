/* Tests for src/auth/guard.c: failed-attempt throttling. Time is driven
 * through the now_us arguments; nothing sleeps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth/guard.h"
#include "base/id.h"
#include "base/log.h"

#define S 1000000LL
#define T0 (1000 * S) /* an arbitrary monotonic origin */

static const cv_guard_policy test_policy = {
    .free_failures = 3,
    .base_us = 1 * S,
    .max_us = 8 * S,
    .forget_us = 60 * S,
    .max_entries = 100,
};

static void test_guard_free_failures(void **state)
{
    (void)state;
    cv_guard *g = cv_guard_new(&test_policy);
    assert_non_null(g);
    int64_t now = T0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now), 0);
        cv_guard_failed(g, "login", "192.0.2.1", "alice", now);
        now += 1000;
    }
    /* Three failures cost nothing. */
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now), 0);
    /* The fourth locks for base_us, counted from the failure. */
    cv_guard_failed(g, "login", "192.0.2.1", "alice", now);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now), 1 * S);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now + S / 4), 3 * S / 4);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", NULL, now + S / 4), 3 * S / 4);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now + S), 0);
    assert_int_equal(cv_guard_entries(g), 2);
    cv_guard_free(g);
}

static void test_guard_doubles_up_to_cap(void **state)
{
    (void)state;
    cv_guard *g = cv_guard_new(&test_policy);
    int64_t now = T0;
    for (int i = 0; i < 3; i++)
        cv_guard_failed(g, "login", "192.0.2.1", NULL, now);
    static const int64_t want[] = {1 * S, 2 * S, 4 * S, 8 * S, 8 * S, 8 * S};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cv_guard_failed(g, "login", "192.0.2.1", NULL, now);
        assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", NULL, now), want[i]);
        /* Waiting the lockout out lets the next attempt through. */
        now += want[i];
        assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", NULL, now), 0);
    }
    /* Many more failures never overflow past the cap. */
    for (int i = 0; i < 500; i++)
        cv_guard_failed(g, "login", "192.0.2.1", NULL, now);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", NULL, now), 8 * S);
    cv_guard_free(g);
}

static void test_guard_defaults(void **state)
{
    (void)state;
    cv_guard *g = cv_guard_new(NULL);
    int64_t now = T0;
    for (int i = 0; i < 5; i++)
        cv_guard_failed(g, "login", "192.0.2.1", NULL, now);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", NULL, now), 0);
    cv_guard_failed(g, "login", "192.0.2.1", NULL, now);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", NULL, now), 1 * S);
    for (int i = 0; i < 100; i++)
        cv_guard_failed(g, "login", "192.0.2.1", NULL, now);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", NULL, now), 15 * 60 * S);
    /* Forgotten after an hour of quiet. */
    assert_true(cv_guard_check(g, "login", "192.0.2.1", NULL, now + 3600 * S - 1) == 0);
    cv_guard_failed(g, "login", "192.0.2.1", NULL, now + 3600 * S);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", NULL, now + 3600 * S), 0);
    cv_guard_free(g);
}

static void test_guard_forgets(void **state)
{
    (void)state;
    cv_guard *g = cv_guard_new(&test_policy);
    int64_t now = T0;
    for (int i = 0; i < 4; i++)
        cv_guard_failed(g, "login", "192.0.2.1", "alice", now);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now), 1 * S);
    /* Just before forget_us the count is still there: one more failure
     * doubles. */
    int64_t later = now + 60 * S - 1;
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", later), 0);
    cv_guard_failed(g, "login", "192.0.2.1", "alice", later);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", later), 2 * S);
    /* forget_us after the last failure, everything starts over: three free
     * failures again. */
    now = later + 60 * S;
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now), 0);
    for (int i = 0; i < 3; i++)
        cv_guard_failed(g, "login", "192.0.2.1", "alice", now);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now), 0);
    cv_guard_failed(g, "login", "192.0.2.1", "alice", now);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now), 1 * S);
    /* Forgotten entries are dropped, not just ignored. */
    assert_int_equal(cv_guard_entries(g), 2);
    cv_guard_failed(g, "login", "198.51.100.7", NULL, now + 120 * S);
    assert_int_equal(cv_guard_entries(g), 1);
    cv_guard_free(g);
}

static void test_guard_account_lockout_spares_clean_address(void **state)
{
    (void)state;
    cv_guard *g = cv_guard_new(&test_policy);
    int64_t now = T0;
    /* An attacker spreads failures on alice over many addresses, one each:
     * no address is locked, the account is. */
    char addr[32];
    for (int i = 0; i < 4; i++) {
        snprintf(addr, sizeof(addr), "203.0.113.%d", i);
        assert_int_equal(cv_guard_check(g, "login", addr, "alice", now), 0);
        cv_guard_failed(g, "login", addr, "alice", now);
    }
    /* An attacking address with failures on record is refused on alice ... */
    assert_int_equal(cv_guard_check(g, "login", "203.0.113.0", "alice", now), 1 * S);
    /* ... but not on another account, nor without one. */
    assert_int_equal(cv_guard_check(g, "login", "203.0.113.0", "bob", now), 0);
    assert_int_equal(cv_guard_check(g, "login", "203.0.113.0", NULL, now), 0);
    /* alice herself, from a clean address, gets in. */
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.50", "alice", now), 0);
    /* An address tainted by a failure elsewhere in the realm is refused. */
    cv_guard_failed(g, "login", "198.51.100.1", "bob", now);
    assert_int_equal(cv_guard_check(g, "login", "198.51.100.1", "alice", now), 1 * S);
    /* Failures in another realm do not taint. */
    cv_guard_failed(g, "token", "198.51.100.2", NULL, now);
    assert_int_equal(cv_guard_check(g, "login", "198.51.100.2", "alice", now), 0);
    /* Each new attacking address gets one try per lockout period: it is let
     * through, fails, is refused from then on, and the lockout doubles. */
    assert_int_equal(cv_guard_check(g, "login", "203.0.113.99", "alice", now), 0);
    cv_guard_failed(g, "login", "203.0.113.99", "alice", now);
    assert_int_equal(cv_guard_check(g, "login", "203.0.113.99", "alice", now), 2 * S);
    assert_int_equal(cv_guard_check(g, "login", "203.0.113.0", "alice", now), 2 * S);
    /* When the account lockout ends, tainted addresses may try again. */
    assert_int_equal(cv_guard_check(g, "login", "203.0.113.99", "alice", now + 2 * S), 0);
    cv_guard_free(g);
}

static void test_guard_address_lockout_refuses_any_account(void **state)
{
    (void)state;
    cv_guard *g = cv_guard_new(&test_policy);
    int64_t now = T0;
    /* One address guessing many accounts: the address is locked. */
    char acct[32];
    for (int i = 0; i < 4; i++) {
        snprintf(acct, sizeof(acct), "user%d", i);
        cv_guard_failed(g, "login", "203.0.113.5", acct, now);
    }
    assert_int_equal(cv_guard_check(g, "login", "203.0.113.5", "fresh", now), 1 * S);
    assert_int_equal(cv_guard_check(g, "login", "203.0.113.5", NULL, now), 1 * S);
    /* None of the accounts is locked by one failure each. */
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.9", "user0", now), 0);
    cv_guard_failed(g, "login", "192.0.2.9", NULL, now);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.9", "user0", now), 0);
    cv_guard_free(g);
}

static void test_guard_success_resets(void **state)
{
    (void)state;
    cv_guard *g = cv_guard_new(&test_policy);
    int64_t now = T0;
    for (int i = 0; i < 5; i++) {
        cv_guard_failed(g, "login", "192.0.2.1", "alice", now);
        cv_guard_failed(g, "digest", "192.0.2.1", "alice", now);
    }
    assert_int_equal(cv_guard_entries(g), 4);
    assert_true(cv_guard_check(g, "login", "192.0.2.1", "alice", now) > 0);
    cv_guard_succeeded(g, "login", "192.0.2.1", "alice");
    assert_int_equal(cv_guard_entries(g), 2);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now), 0);
    /* Counting starts over: three free failures again. */
    for (int i = 0; i < 3; i++)
        cv_guard_failed(g, "login", "192.0.2.1", "alice", now);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.1", "alice", now), 0);
    /* Other realms are untouched. */
    assert_true(cv_guard_check(g, "digest", "192.0.2.1", "alice", now) > 0);
    /* Success without an account clears the address only; unknown keys are
     * fine. */
    cv_guard_succeeded(g, "digest", "192.0.2.1", NULL);
    cv_guard_succeeded(g, "nope", "192.0.2.77", "nobody");
    assert_int_equal(cv_guard_entries(g), 3);
    cv_guard_free(g);
}

static void test_guard_realms_and_keys_separate(void **state)
{
    (void)state;
    cv_guard *g = cv_guard_new(&test_policy);
    int64_t now = T0;
    for (int i = 0; i < 4; i++)
        cv_guard_failed(g, "ingest", "192.0.2.1", "cam", now);
    assert_true(cv_guard_check(g, "ingest", "192.0.2.1", NULL, now) > 0);
    assert_int_equal(cv_guard_check(g, "token", "192.0.2.1", NULL, now), 0);
    /* An account named like an address is not that address. */
    assert_int_equal(cv_guard_check(g, "ingest", "cam", NULL, now), 0);
    /* Very long values (attacker-chosen logins) are bounded yet distinct. */
    static char l1[5000], l2[5000];
    memset(l1, 'x', sizeof(l1) - 1);
    memset(l2, 'x', sizeof(l2) - 1);
    l2[sizeof(l2) - 2] = 'y';
    for (int i = 0; i < 4; i++)
        cv_guard_failed(g, "login", l1, l1, now);
    assert_true(cv_guard_check(g, "login", l1, NULL, now) > 0);
    assert_int_equal(cv_guard_check(g, "login", l2, NULL, now), 0);
    cv_guard_failed(g, "login", "192.0.2.3", NULL, now);
    assert_true(cv_guard_check(g, "login", "192.0.2.3", l1, now) > 0);
    assert_int_equal(cv_guard_check(g, "login", "192.0.2.3", l2, now), 0);
    cv_guard_free(g);
}

static void test_guard_eviction_bound(void **state)
{
    (void)state;
    cv_guard_policy p = test_policy;
    p.free_failures = 0; /* every failure locks, so a live entry shows */
    p.max_entries = 100;
    cv_guard *g = cv_guard_new(&p);
    int64_t now = T0;
    char addr[32];
    cv_guard_failed(g, "login", "keep", NULL, now);
    for (int i = 0; i < 98; i++) {
        snprintf(addr, sizeof(addr), "10.0.0.%d", i);
        cv_guard_failed(g, "login", addr, NULL, ++now);
    }
    assert_int_equal(cv_guard_entries(g), 99);
    /* Updating "keep" makes it the most recent. */
    cv_guard_failed(g, "login", "keep", NULL, ++now);
    for (int i = 0; i < 1000; i++) {
        snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
        cv_guard_failed(g, "login", addr, NULL, ++now);
        assert_true(cv_guard_entries(g) <= 100);
        if (i == 50)
            assert_true(cv_guard_check(g, "login", "keep", NULL, now) > 0);
    }
    assert_int_equal(cv_guard_entries(g), 100);
    /* The least recently updated went first; the newest are all there. */
    assert_int_equal(cv_guard_check(g, "login", "10.0.0.0", NULL, now), 0);
    assert_int_equal(cv_guard_check(g, "login", "keep", NULL, now), 0);
    for (int i = 900; i < 1000; i++) {
        snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
        assert_true(cv_guard_check(g, "login", addr, NULL, now) > 0);
    }
    cv_guard_free(g);
    /* Accounts count as entries too. */
    p.max_entries = 3;
    g = cv_guard_new(&p);
    for (int i = 0; i < 10; i++) {
        snprintf(addr, sizeof(addr), "10.2.0.%d", i);
        cv_guard_failed(g, "login", addr, addr, now);
        assert_true(cv_guard_entries(g) <= 3);
    }
    cv_guard_free(g);
    cv_guard_free(NULL);
}

int main(void)
{
    if (cv_id_init() != 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guard_free_failures),
        cmocka_unit_test(test_guard_doubles_up_to_cap),
        cmocka_unit_test(test_guard_defaults),
        cmocka_unit_test(test_guard_forgets),
        cmocka_unit_test(test_guard_account_lockout_spares_clean_address),
        cmocka_unit_test(test_guard_address_lockout_refuses_any_account),
        cmocka_unit_test(test_guard_success_resets),
        cmocka_unit_test(test_guard_realms_and_keys_separate),
        cmocka_unit_test(test_guard_eviction_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
