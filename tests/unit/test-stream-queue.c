/* Tests for the hub's per-viewer queues (src/hub/stream.c): bounds by bytes
 * and age, skipping to the next keyframe, stalls, a slow viewer never slowing
 * others, and track masks. */
#include "stream-fixture.h"

static void test_stream_queue_bytes_bounds_slow_viewer(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_bytes = 4096;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink slow, fast;
    sink_sub(&slow, x.s, ~0u, 0); /* never completes unless told */
    sink_sub(&fast, x.s, ~0u, 1);
    cv_sub_start(slow.sub);
    cv_sub_start(fast.sub);

    /* Fill the slow viewer's queue. */
    pv(&x, true);
    while (sub_stats(&slow).dropped == 0) {
        pa(&x);
        pv(&x, false);
        assert_true(x.nlog < 100);
    }
    assert_true(slow.max_pending_bytes <= lim.queue_bytes);
    assert_false(sink_has(&slow, last(&x)));
    cv_sub_stats st = sub_stats(&slow);
    assert_int_equal(st.skips, 1);
    size_t got = slow.n;

    /* While skipping, nothing reaches it: not P slices, not audio. */
    for (int i = 0; i < 5; i++) {
        pa(&x);
        pv(&x, false);
    }
    assert_int_equal(slow.n, got);
    st = sub_stats(&slow);
    assert_int_equal(st.skips, 1); /* one episode */
    assert_int_equal(st.frames, got);
    assert_int_equal(st.frames + st.dropped, x.nlog);
    size_t bytes = 0;
    for (size_t i = 0; i < slow.n; i++)
        bytes += cost(slow.got[i]);
    assert_int_equal(st.bytes, bytes);

    /* Drain to just above half: a keyframe is still refused. */
    while (slow.pending_bytes - sink_cost_of_next(&slow) > lim.queue_bytes / 2)
        sink_complete(&slow, 1);
    assert_true(slow.pending_bytes > lim.queue_bytes / 2);
    cv_frame *k_early = pv(&x, true);
    assert_false(sink_has(&slow, k_early));
    /* Drained to half: only a video keyframe resumes delivery. */
    sink_complete(&slow, 1);
    assert_true(slow.pending_bytes <= lim.queue_bytes / 2);
    cv_frame *p = pv(&x, false);
    cv_frame *a = pa(&x);
    assert_false(sink_has(&slow, p));
    assert_false(sink_has(&slow, a));
    cv_frame *key = pv(&x, true);
    assert_ptr_equal(slow.got[slow.n - 1], key);
    cv_frame *a2 = pa(&x);
    cv_frame *p2 = pv(&x, false);
    assert_ptr_equal(slow.got[slow.n - 2], a2);
    assert_ptr_equal(slow.got[slow.n - 1], p2);

    /* It overflows again: a second episode. */
    while (sub_stats(&slow).skips < 2) {
        pv(&x, false);
        assert_true(x.nlog < 300);
    }
    assert_true(slow.max_pending_bytes <= lim.queue_bytes);

    /* The fast viewer got every single frame, in order. */
    assert_int_equal(fast.n, x.nlog);
    for (size_t i = 0; i < x.nlog; i++)
        assert_ptr_equal(fast.got[i], x.log[i]);
    assert_int_equal(sub_stats(&fast).dropped, 0);
    assert_int_equal(sub_stats(&fast).skips, 0);

    sink_complete_all(&slow);
    sink_free(&slow);
    sink_free(&fast);
    fx_free(&x);
}

static void test_stream_queue_ring_grows_while_wrapped(void **state)
{
    /* The pending ring starts small and grows; growing while its head has
     * moved must carry every pending entry over, or completions would
     * credit bytes that were never charged and the queue bound would
     * drift. Frames of different sizes (key, P, audio) make a lost or
     * garbled entry show in the byte count. */
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_bytes = 64u << 20;
    lim.queue_age_us = 60 * 1000000;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    pv(&x, true);
    for (int i = 0; i < 99; i++)
        (i % 3) ? (void)pa(&x) : (void)pv(&x, false);
    sink_complete(&v, 60); /* head moves past the start of the ring */
    for (int i = 0; i < 900; i++) /* several doublings while wrapped */
        (i % 3) ? (void)pa(&x) : (void)pv(&x, i % 150 == 0);
    assert_int_equal(v.pending, 40 + 900);
    assert_int_equal(sub_stats(&v).dropped, 0);
    sink_complete_all(&v);
    /* Exact accounting: with everything written, the queue is empty again,
     * so frames queued now fit (a drifted or wrapped byte count would drop
     * them as over the bound). */
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    assert_int_equal(v.pending, 3);
    assert_int_equal(sub_stats(&v).dropped, 0);
    assert_int_equal(sub_stats(&v).skips, 0);
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_spurious_written_is_ignored(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_bytes = 4096;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, &lim, t, 1);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    cv_sub_written(v.sub); /* nothing outstanding */
    pv(&x, true);
    sink_complete_all(&v);
    for (int i = 0; i < 5; i++)
        cv_sub_written(v.sub);
    /* The bound still holds: the extra completions bought no credit. */
    while (sub_stats(&v).dropped == 0) {
        pv(&x, false);
        assert_true(x.nlog < 100);
    }
    assert_true(v.pending_bytes <= lim.queue_bytes);
    assert_true(v.pending_bytes + cost(last(&x)) > lim.queue_bytes);
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_audio_only_viewer_drops_without_skipping(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_bytes = 1000;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink v;
    sink_sub(&v, x.s, 1u << 1, 0);
    cv_sub_start(v.sub);
    pv(&x, true);
    for (int i = 0; i < 10; i++)
        pa(&x);
    cv_sub_stats st = sub_stats(&v);
    assert_true(st.dropped > 0);
    assert_int_equal(st.skips, 0); /* no keyframes to wait for */
    assert_true(v.max_pending_bytes <= lim.queue_bytes);
    /* As soon as there is room, audio flows again. */
    sink_complete(&v, 1);
    cv_frame *a = pa(&x);
    assert_ptr_equal(v.got[v.n - 1], a);
    assert_int_equal(sink_count_track(&v, 0), 0);
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_queue_age_triggers_skipping(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_age_us = 20 * 1000;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink v, fast;
    sink_sub(&v, x.s, ~0u, 0);
    sink_sub(&fast, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    cv_sub_start(fast.sub);
    pv(&x, true);
    pa(&x);
    assert_int_equal(v.n, 2);
    sleep_us(2 * lim.queue_age_us);
    cv_frame *p = pv(&x, false); /* the oldest unwritten frame is too old now */
    assert_false(sink_has(&v, p));
    cv_sub_stats st = sub_stats(&v);
    assert_int_equal(st.skips, 1);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(v.closes, 0);
    /* The queue empties, but delivery resumes only at a keyframe. */
    sink_complete_all(&v);
    cv_frame *a = pa(&x);
    p = pv(&x, false);
    assert_false(sink_has(&v, a));
    assert_false(sink_has(&v, p));
    cv_frame *key = pv(&x, true);
    assert_ptr_equal(v.got[v.n - 1], key);
    assert_int_equal(fast.n, x.nlog);
    sink_complete_all(&v);
    sink_free(&v);
    sink_free(&fast);
    fx_free(&x);
}

static void test_stream_huge_prebuffer_keeps_queue_accounting(void **state)
{
    (void)state;
    /* A long GOP with audio: more frames since the keyframe than a viewer
     * may have in flight (2048). The viewer takes them all, writes them all;
     * afterwards it must be an ordinary, empty viewer again. */
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    assert_int_equal(pub(&x, mk_video(&x, true, 20)), 0);
    for (int i = 0; i < 2100; i++)
        assert_int_equal(pub(&x, mk_audio(&x, i < 2000 ? 10 : 1000)), 0);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    assert_true(v.n > 0);
    assert_ptr_equal(v.got[0], x.log[0]);
    sink_complete_all(&v);
    assert_int_equal(v.pending, 0);
    /* Nothing is outstanding: the next keyframe must reach it. */
    cv_frame *key = pv(&x, true);
    assert_ptr_equal(v.got[v.n - 1], key);
    cv_frame *a = pa(&x);
    assert_ptr_equal(v.got[v.n - 1], a);
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

/* ===================================================================== */
/* Stalls and failing viewers                                             */
/* ===================================================================== */

static void test_stream_closes_stalled_viewer_once(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.stall_us = 30 * 1000;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink slow, fast, dgram;
    sink_sub(&slow, x.s, ~0u, 0);
    sink_sub(&fast, x.s, ~0u, 0);
    sink_sub(&dgram, x.s, ~0u, 1); /* nothing outstanding, ever: never stalls */
    cv_sub_start(slow.sub);
    cv_sub_start(fast.sub);
    cv_sub_start(dgram.sub);
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    sink_complete_all(&fast);
    sleep_us(2 * lim.stall_us);
    assert_int_equal(slow.closes, 0); /* nothing happens between publishes */

    cv_frame *p = pv(&x, false);
    assert_int_equal(slow.closes, 1);
    assert_string_equal(slow.reason, "viewer stalled");
    assert_int_equal(slow.viewers_at_close, 2); /* already detached when told */
    assert_false(sink_has(&slow, p));
    assert_int_equal(stream_stats(x.s).viewers, 2);
    assert_int_equal(fast.closes, 0);
    assert_int_equal(dgram.closes, 0);

    size_t n = slow.n;
    for (int i = 0; i < 5; i++) {
        pa(&x);
        pv(&x, false);
    }
    sleep_us(2 * lim.stall_us);
    sink_complete_all(&fast);
    pv(&x, false);
    assert_int_equal(slow.closes, 1);
    assert_int_equal(slow.n, n);
    /* The closed viewer may still report completions and start again: no effect. */
    sink_complete_all(&slow);
    cv_sub_start(slow.sub);
    assert_int_equal(slow.n, n);
    assert_int_equal(fast.n, x.nlog);
    assert_int_equal(dgram.n, x.nlog);
    assert_int_equal(fast.closes + dgram.closes, 0);
    sink_free(&slow); /* after close: safe */
    assert_int_equal(stream_stats(x.s).viewers, 2);
    sink_complete_all(&fast);
    sink_free(&fast);
    sink_free(&dgram);
    fx_free(&x);
}

static void test_stream_write_progress_resets_stall_timer(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.stall_us = 30 * 1000;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, &lim, t, 1);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    pv(&x, true);
    pv(&x, false);
    sleep_us(2 * lim.stall_us);
    sink_complete(&v, 1); /* slow, but it did write something just now */
    pv(&x, false);
    assert_int_equal(v.closes, 0);
    assert_int_equal(v.n, 3);
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_slow_viewer_never_slows_others(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.queue_bytes = 8192;
    const cv_track_info t[] = {track_h264(), track_aac()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink slow, fast1, fast2;
    sink_sub(&slow, x.s, ~0u, 0);
    sink_sub(&fast1, x.s, ~0u, 0);
    sink_sub(&fast2, x.s, ~0u, 1);
    cv_sub_start(slow.sub);
    cv_sub_start(fast1.sub);
    cv_sub_start(fast2.sub);
    for (int gop = 0; gop < 5; gop++) {
        pv(&x, true);
        for (int i = 0; i < 15; i++) {
            pa(&x);
            pv(&x, false);
            sink_complete_all(&fast1); /* keeps up */
        }
    }
    cv_sub_stats st = sub_stats(&slow);
    assert_true(st.dropped > 0);
    assert_true(st.skips >= 1);
    assert_true(slow.max_pending_bytes <= lim.queue_bytes);
    for (size_t i = 0; i < x.nlog; i++) {
        assert_ptr_equal(fast1.got[i], x.log[i]);
        assert_ptr_equal(fast2.got[i], x.log[i]);
    }
    assert_int_equal(fast1.n, x.nlog);
    assert_int_equal(fast2.n, x.nlog);
    assert_int_equal(sub_stats(&fast1).dropped, 0);
    assert_int_equal(sub_stats(&fast2).dropped, 0);
    sink_complete_all(&slow);
    sink_free(&slow);
    sink_free(&fast1);
    sink_free(&fast2);
    fx_free(&x);
}

static void test_stream_survives_failing_sink(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.stall_us = 20 * 1000;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    static sink bad, good;
    sink_sub(&bad, x.s, ~0u, -EPIPE);
    sink_sub(&good, x.s, ~0u, 1);
    cv_sub_start(bad.sub);
    cv_sub_start(good.sub);
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    sleep_us(2 * lim.stall_us);
    pv(&x, false);
    cv_sub_stats st = sub_stats(&bad);
    assert_int_equal(st.frames, 0);
    assert_int_equal(st.dropped, 4);
    assert_int_equal(bad.closes, 0); /* a refused write is not outstanding */
    assert_int_equal(good.n, 4);
    assert_int_equal(stream_stats(x.s).viewers, 2);
    /* It may recover. */
    bad.rc = 1;
    cv_frame *p = pv(&x, false);
    assert_ptr_equal(bad.got[bad.n - 1], p);
    assert_int_equal(sub_stats(&bad).frames, 1);
    sink_free(&bad);
    sink_free(&good);
    fx_free(&x);
}

/* ===================================================================== */
/* Track masks                                                            */
/* ===================================================================== */

static void test_stream_track_mask_filters_tracks(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_aac()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    static sink vid, aud, none, all;
    sink_sub(&vid, x.s, 1u << 0, 1);
    sink_sub(&aud, x.s, 1u << 1, 1);
    sink_sub(&none, x.s, 0, 1);
    sink_sub(&all, x.s, 0xffffffffu, 1);
    cv_sub_start(vid.sub);
    cv_sub_start(aud.sub);
    cv_sub_start(none.sub);
    cv_sub_start(all.sub);
    for (int i = 0; i < 4; i++) {
        pa(&x);
        pv(&x, i == 2);
    }
    size_t nv = 0, na = 0;
    for (size_t i = 0; i < x.nlog; i++) {
        if (x.log[i]->meta.track == 0)
            nv++;
        else
            na++;
    }
    assert_int_equal(vid.n, nv);
    assert_int_equal(sink_count_track(&vid, 1), 0);
    assert_int_equal(aud.n, na);
    assert_int_equal(sink_count_track(&aud, 0), 0);
    assert_int_equal(none.n, 0);
    assert_int_equal(all.n, x.nlog);
    /* Filtered frames are not drops. */
    assert_int_equal(sub_stats(&vid).dropped, 0);
    assert_int_equal(sub_stats(&aud).dropped, 0);
    assert_int_equal(sub_stats(&none).dropped, 0);
    sink_free(&vid);
    sink_free(&aud);
    sink_free(&none);
    sink_free(&all);
    fx_free(&x);
}

/* ===================================================================== */
/* Attach, reattach, shutdown                                             */
/* ===================================================================== */

int main(void)
{
    if (cv_id_init() < 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        TEST(test_stream_queue_bytes_bounds_slow_viewer),
        TEST(test_stream_queue_ring_grows_while_wrapped),
        TEST(test_stream_spurious_written_is_ignored),
        TEST(test_stream_audio_only_viewer_drops_without_skipping),
        TEST(test_stream_queue_age_triggers_skipping),
        TEST(test_stream_huge_prebuffer_keeps_queue_accounting),
        TEST(test_stream_closes_stalled_viewer_once),
        TEST(test_stream_write_progress_resets_stall_timer),
        TEST(test_stream_slow_viewer_never_slows_others),
        TEST(test_stream_survives_failing_sink),
        TEST(test_stream_track_mask_filters_tracks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
