/* Tests for the UDP reorder buffer (src/rtp/reorder.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "rtp/reorder.h"
#include "rtp/rtp.h"

typedef struct {
    uint16_t seq[512];
    size_t n;
    const uint8_t *last_ptr;
} out;

static void collect(void *ctx, const uint8_t *pkt, size_t len)
{
    out *o = ctx;
    assert_true(o->n < 512);
    o->seq[o->n++] = len >= 12 ? cv_be16(pkt + 2) : 0xffff;
    o->last_ptr = pkt;
}

static void push(cv_rtp_reorder *r, out *o, uint16_t seq, int64_t t)
{
    uint8_t pkt[20];
    cv_rtp_write_hdr(pkt, false, 96, seq, 1000, 0x1234);
    memset(pkt + 12, (int)seq, 8);
    cv_rtp_reorder_push(r, pkt, sizeof(pkt), t, collect, o);
}

static void expect(const out *o, const uint16_t *seqs, size_t n)
{
    assert_int_equal(o->n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(o->seq[i], seqs[i]);
}

static void test_reorder_in_order_passes_through_uncopied(void **state)
{
    (void)state;
    cv_rtp_reorder *r = cv_rtp_reorder_new(0);
    out o = {0};
    uint8_t pkt[20];
    cv_rtp_write_hdr(pkt, false, 96, 7, 0, 1);
    cv_rtp_reorder_push(r, pkt, sizeof(pkt), 0, collect, &o);
    assert_ptr_equal(o.last_ptr, pkt); /* no copy on the common path */
    for (uint16_t s = 8; s < 20; s++)
        push(r, &o, s, 0);
    assert_int_equal(o.n, 13);
    for (size_t i = 0; i < o.n; i++)
        assert_int_equal(o.seq[i], 7 + i);
    cv_rtp_reorder_stats st;
    cv_rtp_reorder_get_stats(r, &st);
    assert_int_equal(st.reordered, 0);
    cv_rtp_reorder_free(r);
}

static void test_reorder_swapped_pair_released_in_order(void **state)
{
    (void)state;
    cv_rtp_reorder *r = cv_rtp_reorder_new(0);
    out o = {0};
    push(r, &o, 100, 0);
    push(r, &o, 102, 1000); /* 101 is late */
    push(r, &o, 103, 2000);
    assert_int_equal(o.n, 1);
    push(r, &o, 101, 3000);
    const uint16_t want[] = {100, 101, 102, 103};
    expect(&o, want, 4);
    cv_rtp_reorder_stats st;
    cv_rtp_reorder_get_stats(r, &st);
    assert_int_equal(st.reordered, 2);
    assert_int_equal(st.skipped, 0);
    cv_rtp_reorder_free(r);
}

static void test_reorder_lost_packet_skipped_after_delay(void **state)
{
    (void)state;
    cv_rtp_reorder *r = cv_rtp_reorder_new(40000);
    out o = {0};
    push(r, &o, 10, 0);
    push(r, &o, 12, 1000); /* 11 never comes */
    push(r, &o, 13, 20000);
    assert_int_equal(o.n, 1);
    push(r, &o, 14, 41001); /* 12 has waited 40 ms: give up on 11 */
    const uint16_t want[] = {10, 12, 13, 14};
    expect(&o, want, 4);
    cv_rtp_reorder_stats st;
    cv_rtp_reorder_get_stats(r, &st);
    assert_int_equal(st.skipped, 1);
    cv_rtp_reorder_free(r);
}

static void test_reorder_flush_due_when_source_goes_quiet(void **state)
{
    (void)state;
    cv_rtp_reorder *r = cv_rtp_reorder_new(40000);
    out o = {0};
    push(r, &o, 1, 0);
    push(r, &o, 3, 0);
    cv_rtp_reorder_flush_due(r, 39999, collect, &o);
    assert_int_equal(o.n, 1);
    cv_rtp_reorder_flush_due(r, 40000, collect, &o);
    const uint16_t want[] = {1, 3};
    expect(&o, want, 2);
    cv_rtp_reorder_free(r);
}

static void test_reorder_full_window_forces_skip(void **state)
{
    (void)state;
    cv_rtp_reorder *r = cv_rtp_reorder_new(10 * 1000000);
    out o = {0};
    push(r, &o, 0, 0);
    for (uint16_t s = 2; s < 2 + CV_REORDER_WINDOW; s++) /* 1 is lost; the window fills */
        push(r, &o, s, 0);
    assert_true(o.n >= CV_REORDER_WINDOW - 1);
    for (size_t i = 1; i < o.n; i++)
        assert_int_equal(o.seq[i], o.seq[i - 1] + (i == 1 ? 2 : 1));
    cv_rtp_reorder_free(r);
}

static void test_reorder_duplicates_dropped(void **state)
{
    (void)state;
    cv_rtp_reorder *r = cv_rtp_reorder_new(0);
    out o = {0};
    push(r, &o, 5, 0);
    push(r, &o, 7, 0);
    push(r, &o, 7, 0);
    push(r, &o, 6, 0);
    const uint16_t want[] = {5, 6, 7};
    expect(&o, want, 3);
    cv_rtp_reorder_stats st;
    cv_rtp_reorder_get_stats(r, &st);
    assert_int_equal(st.duplicates, 1);
    cv_rtp_reorder_free(r);
}

static void test_reorder_sequence_wrap(void **state)
{
    (void)state;
    cv_rtp_reorder *r = cv_rtp_reorder_new(0);
    out o = {0};
    push(r, &o, 65534, 0);
    push(r, &o, 0, 0);
    push(r, &o, 65535, 0);
    push(r, &o, 1, 0);
    const uint16_t want[] = {65534, 65535, 0, 1};
    expect(&o, want, 4);
    cv_rtp_reorder_free(r);
}

static void test_reorder_restart_far_away_resyncs(void **state)
{
    (void)state;
    cv_rtp_reorder *r = cv_rtp_reorder_new(0);
    out o = {0};
    push(r, &o, 1000, 0);
    push(r, &o, 1002, 0);     /* held */
    push(r, &o, 30000, 0);    /* camera restarted: flush, resync */
    push(r, &o, 30001, 0);
    push(r, &o, 200, 0);      /* restarted again, far behind */
    push(r, &o, 201, 0);
    const uint16_t want[] = {1000, 1002, 30000, 30001, 200, 201};
    expect(&o, want, 6);
    cv_rtp_reorder_free(r);
}

static void test_reorder_late_and_short_packets_pass_through(void **state)
{
    (void)state;
    cv_rtp_reorder *r = cv_rtp_reorder_new(0);
    out o = {0};
    push(r, &o, 50, 0);
    push(r, &o, 51, 0);
    push(r, &o, 49, 0); /* already passed: the depacketizer decides */
    uint8_t junk[3] = {0x80, 1, 2};
    cv_rtp_reorder_push(r, junk, sizeof(junk), 0, collect, &o);
    const uint16_t want[] = {50, 51, 49, 0xffff};
    expect(&o, want, 4);
    cv_rtp_reorder_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reorder_in_order_passes_through_uncopied),
        cmocka_unit_test(test_reorder_swapped_pair_released_in_order),
        cmocka_unit_test(test_reorder_lost_packet_skipped_after_delay),
        cmocka_unit_test(test_reorder_flush_due_when_source_goes_quiet),
        cmocka_unit_test(test_reorder_full_window_forces_skip),
        cmocka_unit_test(test_reorder_duplicates_dropped),
        cmocka_unit_test(test_reorder_sequence_wrap),
        cmocka_unit_test(test_reorder_restart_far_away_resyncs),
        cmocka_unit_test(test_reorder_late_and_short_packets_pass_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
