/* Tests for attaching sources to a stream (src/hub/stream.c): busy and
 * invalid attaches, reattach continuity, layout changes, in-band parameter
 * sets, shutdown and sender reports. */
#include "stream-fixture.h"

static void test_stream_attach_busy_and_invalid(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    cv_track_info many[CV_MAX_TRACKS + 1];
    for (size_t i = 0; i < CV_ARRAY_LEN(many); i++)
        many[i] = track_pcmu();
    static fx x;
    fx_init(&x, NULL, NULL, 0);
    assert_int_equal(cv_stream_attach(x.s, &x.src, t, 0), -EINVAL);
    assert_int_equal(cv_stream_attach(x.s, &x.src, many, CV_MAX_TRACKS + 1), -EINVAL);
    assert_false(cv_stream_online(x.s));
    assert_int_equal(cv_stream_attach(x.s, &x.src, many, CV_MAX_TRACKS), 0);
    assert_int_equal(cv_stream_tracks(x.s, NULL, 0), CV_MAX_TRACKS);
    cv_stream_detach(x.s, &x.src);

    fx_attach(&x, &x.src, t, 2);
    assert_true(cv_stream_online(x.s));
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    pv(&x, true);
    assert_int_equal(cv_stream_attach(x.s, &x.src2, t, 2), -EBUSY);
    cv_track_info other = track_h265();
    assert_int_equal(cv_stream_attach(x.s, &x.src2, &other, 1), -EBUSY);
    assert_int_equal(v.closes, 0); /* a refused attach changes nothing */
    assert_true(cv_stream_online(x.s));
    x.cur = &x.src2;
    assert_int_equal(pub(&x, mk_video(&x, false, 100)), -EINVAL);
    x.cur = &x.src;
    pv(&x, false);
    assert_int_equal(v.n, 2);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_reattach_same_layout_keeps_viewers_and_rtp(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    pv(&x, true);
    pa(&x);
    cv_frame *pv_last = pv(&x, false);
    cv_frame *pa_last = pa(&x);
    uint32_t ssrc_v = cv_stream_out_ssrc(x.s, 0), ssrc_a = cv_stream_out_ssrc(x.s, 1);

    cv_stream_detach(x.s, &x.src);
    assert_int_equal(stream_stats(x.s).viewers, 1);
    /* A new connection of the same camera, whose clock starts elsewhere. */
    cv_track_info t2[] = {track_h264(), track_pcmu()};
    strcpy(t2[0].control, "streamid=0");
    t2[1].payload_type = 101;
    fx_attach(&x, &x.src2, t2, 2);
    x.pts[0] = 777;
    x.pts[1] = 5;
    assert_int_equal(v.closes, 0);
    assert_int_equal(stream_stats(x.s).viewers, 1);
    assert_int_equal(cv_stream_out_ssrc(x.s, 0), ssrc_v);
    assert_int_equal(cv_stream_out_ssrc(x.s, 1), ssrc_a);
    assert_int_equal(cv_stream_out_pt(x.s, 1), 0);
    uint16_t seq;
    uint32_t ts;
    assert_true(cv_stream_next_rtp(x.s, 0, &seq, &ts));
    assert_int_equal(seq, (uint16_t)(wire_last_seq(pv_last->rtp) + 1));

    cv_frame *key = pv(&x, true);
    cv_frame *a = pa(&x);
    cv_frame *p = pv(&x, false);
    assert_ptr_equal(v.got[v.n - 3], key);
    assert_ptr_equal(v.got[v.n - 1], p);
    check_wire(x.s, key);
    check_wire(x.s, a);
    assert_int_equal(key->rtp->first_seq, (uint16_t)(wire_last_seq(pv_last->rtp) + 1));
    assert_int_equal(a->rtp->first_seq, (uint16_t)(wire_last_seq(pa_last->rtp) + 1));
    /* Timestamps continue forward (by the real time that passed), never back. */
    int32_t dv = (int32_t)(key->rtp->rtp_ts - pv_last->rtp->rtp_ts);
    int32_t da = (int32_t)(a->rtp->rtp_ts - pa_last->rtp->rtp_ts);
    assert_true(dv >= 0 && dv < 5 * 90000);
    assert_true(da >= 0 && da < 5 * 8000);
    /* ...and then follow the new source's clock. */
    assert_int_equal((uint32_t)(p->rtp->rtp_ts - key->rtp->rtp_ts), 3000);
    /* The old source is gone for good. */
    x.cur = &x.src;
    assert_int_equal(pub(&x, mk_video(&x, false, 100)), -EINVAL);
    /* Re-attaching while attached (same source, same layout) is allowed. */
    fx_attach(&x, &x.src2, t2, 2);
    assert_int_equal(v.closes, 0);
    sink_free(&v);
    fx_free(&x);
}

typedef struct {
    const char *what;
    cv_track_info a[2], b[2];
    size_t na, nb;
    bool closes;
} layout_case;

static void test_stream_reattach_new_layout_closes_viewers(void **state)
{
    (void)state;
    layout_case cases[8];
    size_t n = 0;
    layout_case *c;

    c = &cases[n++];
    c->what = "codec H264 -> H265";
    c->a[0] = track_h264();
    c->b[0] = track_h265();
    c->na = c->nb = 1;
    c->closes = true;

    c = &cases[n++];
    c->what = "audio kind -> video kind";
    c->a[0] = track_h264();
    c->a[1] = track_pcmu();
    c->b[0] = track_h264();
    c->b[1] = track_h264();
    c->na = c->nb = 2;
    c->closes = true;

    c = &cases[n++];
    c->what = "one track more";
    c->a[0] = track_h264();
    c->b[0] = track_h264();
    c->b[1] = track_pcmu();
    c->na = 1;
    c->nb = 2;
    c->closes = true;

    c = &cases[n++];
    c->what = "AAC config";
    c->a[0] = track_aac();
    c->b[0] = track_aac();
    c->b[0].aac_config[1] = 0x88;
    c->na = c->nb = 1;
    c->closes = true;

    c = &cases[n++];
    c->what = "AAC clock rate";
    c->a[0] = track_aac();
    c->b[0] = track_aac();
    c->b[0].clock_rate = 44100;
    c->na = c->nb = 1;
    c->closes = true;

    c = &cases[n++];
    c->what = "PCMU -> PCMA";
    c->a[0] = track_pcmu();
    c->b[0] = track_pcmu();
    c->b[0].codec = CV_CODEC_PCMA;
    c->na = c->nb = 1;
    c->closes = true;

    c = &cases[n++];
    c->what = "new SPS, control and announced PT only";
    c->a[0] = track_h264();
    c->b[0] = track_h264();
    memcpy(c->b[0].sps, SPS_B, sizeof(SPS_B));
    c->b[0].sps_len = sizeof(SPS_B);
    c->b[0].payload_type = 112;
    strcpy(c->b[0].control, "rtsp://cam/ch1");
    c->na = c->nb = 1;
    c->closes = false;

    for (size_t i = 0; i < n; i++) {
        c = &cases[i];
        print_message("layout change: %s\n", c->what);
        static fx x;
        fx_init(&x, NULL, c->a, c->na);
        static sink started, idle;
        sink_sub(&started, x.s, ~0u, 1);
        sink_sub(&idle, x.s, ~0u, 1);
        cv_sub_start(started.sub);
        cv_stream_detach(x.s, &x.src);
        fx_attach(&x, &x.src2, c->b, c->nb);
        if (!c->closes) {
            assert_int_equal(started.closes, 0);
            assert_int_equal(idle.closes, 0);
            assert_int_equal(stream_stats(x.s).viewers, 2);
        } else {
            assert_int_equal(started.closes, 1);
            assert_int_equal(idle.closes, 1);
            assert_true(strlen(started.reason) > 0);
            assert_int_equal(stream_stats(x.s).viewers, 0);
            /* Closed viewers get nothing more; their teardown is safe. */
            if (x.vtrack >= 0)
                pub(&x, mk_video(&x, true, 100));
            if (x.atrack >= 0)
                pub(&x, mk_audio(&x, AUDIO_LEN));
            assert_int_equal(started.n, 0);
            cv_sub_start(idle.sub);
            assert_int_equal(idle.n, 0);
            /* A second change does not close them again. */
            cv_stream_detach(x.s, &x.src2);
            fx_attach(&x, &x.src, c->a, c->na);
            assert_int_equal(started.closes, 1);
            assert_int_equal(idle.closes, 1);
        }
        sink_free(&started);
        sink_free(&idle);
        fx_free(&x);
    }
}

static void test_stream_layout_change_by_attached_source_closes_viewers(void **state)
{
    (void)state;
    const cv_track_info a[] = {track_h264(), track_pcmu()};
    const cv_track_info b[] = {track_h264(), track_aac()};
    static fx x;
    fx_init(&x, NULL, a, 2);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    pv(&x, true);
    pa(&x);
    /* The same publisher re-announces different tracks. */
    fx_attach(&x, &x.src, b, 2);
    assert_int_equal(v.closes, 1);
    assert_int_equal(cv_stream_out_pt(x.s, 1), 97);
    cv_track_info out[2];
    assert_int_equal(cv_stream_tracks(x.s, out, 2), 2);
    assert_int_equal(out[1].codec, CV_CODEC_AAC);
    /* The old prebuffer (PCMU) is gone: a new viewer gets no stale audio. */
    static sink w;
    sink_sub(&w, x.s, ~0u, 1);
    cv_sub_start(w.sub);
    assert_int_equal(w.n, 0);
    cv_frame *key = pv(&x, true);
    cv_frame *aac = pa(&x);
    check_wire(x.s, aac);
    assert_ptr_equal(w.got[0], key);
    assert_ptr_equal(w.got[1], aac);
    assert_int_equal(v.n, 2);
    sink_free(&v);
    sink_free(&w);
    fx_free(&x);
}

static void test_stream_failed_attach_leaves_no_half_state(void **state)
{
    (void)state;
    const cv_track_info good[] = {track_h264(), track_pcmu()};
    cv_track_info bad[] = {track_h264(), track_pcmu()};
    bad[1].codec = CV_CODEC_UNKNOWN; /* no packetizer */
    static fx x;
    fx_init(&x, NULL, good, 2);
    pv(&x, true);
    cv_stream_detach(x.s, &x.src);

    int rc = cv_stream_attach(x.s, &x.src2, bad, 2);
    assert_true(rc < 0);
    assert_false(cv_stream_online(x.s));
    /* Retrying the very same tracks must fail the same way, not succeed with
     * a track that cannot be packetized. */
    rc = cv_stream_attach(x.s, &x.src2, bad, 2);
    assert_true(rc < 0);
    assert_false(cv_stream_online(x.s));
    cv_stream_detach(x.s, &x.src2);

    /* A good layout still works afterwards. */
    fx_attach(&x, &x.src, good, 2);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    cv_frame *key = pv(&x, true);
    cv_frame *a = pa(&x);
    check_wire(x.s, key);
    check_wire(x.s, a);
    assert_int_equal(v.n, 2);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_inband_params_update_tracks(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    cv_track_info out[CV_MAX_TRACKS];
    assert_int_equal(cv_stream_tracks(x.s, out, CV_MAX_TRACKS), 2);
    assert_memory_equal(out[0].sps, SPS_A, sizeof(SPS_A));
    assert_int_equal(out[1].codec, CV_CODEC_PCMU);
    assert_string_equal(out[0].control, "trackID=0");

    /* The camera switched resolution: a keyframe with a new SPS. */
    assert_int_equal(pub(&x, mk_h264(&x, &x.cam, true, SPS_B, sizeof(SPS_B), 200)), 0);
    memset(out, 0, sizeof(out));
    assert_int_equal(cv_stream_tracks(x.s, out, CV_MAX_TRACKS), 2);
    assert_int_equal(out[0].sps_len, sizeof(SPS_B));
    assert_memory_equal(out[0].sps, SPS_B, sizeof(SPS_B));
    assert_int_equal(out[0].pps_len, sizeof(PPS));
    /* Only frames flagged CV_FRAME_PARAMS are looked at. */
    cv_frame *f = mk_h264(&x, &x.cam, true, SPS_A, sizeof(SPS_A), 200);
    f->meta.flags &= ~(uint32_t)CV_FRAME_PARAMS;
    assert_int_equal(pub(&x, f), 0);
    cv_stream_tracks(x.s, out, CV_MAX_TRACKS);
    assert_memory_equal(out[0].sps, SPS_B, sizeof(SPS_B));
    /* An audio frame flagged PARAMS does not touch anything. */
    uint8_t au[32];
    size_t o = put_nal(au, SPS_A, sizeof(SPS_A));
    assert_int_equal(pub(&x, mkframe(&x.cam, 1, CV_FRAME_PARAMS, 8000, 0, au, o)), 0);
    cv_stream_tracks(x.s, out, CV_MAX_TRACKS);
    assert_int_equal(out[1].sps_len, 0);
    assert_memory_equal(out[0].sps, SPS_B, sizeof(SPS_B));

    /* A cap smaller than the track count copies only that many. */
    cv_track_info one[2];
    memset(one, 0xee, sizeof(one));
    assert_int_equal(cv_stream_tracks(x.s, one, 1), 2);
    assert_int_equal(one[0].codec, CV_CODEC_H264);
    assert_int_equal(((uint8_t *)&one[1])[0], 0xee);

    /* Reconnect with the same layout and no SPS in the SDP: the learned one stays. */
    cv_stream_detach(x.s, &x.src);
    cv_track_info t2[] = {track_h264(), track_pcmu()};
    t2[0].sps_len = t2[0].pps_len = 0;
    fx_attach(&x, &x.src2, t2, 2);
    cv_stream_tracks(x.s, out, CV_MAX_TRACKS);
    assert_int_equal(out[0].sps_len, sizeof(SPS_B));
    assert_memory_equal(out[0].sps, SPS_B, sizeof(SPS_B));
    /* With an SPS in the SDP, the SDP's wins. */
    cv_stream_detach(x.s, &x.src2);
    fx_attach(&x, &x.src, t, 2);
    cv_stream_tracks(x.s, out, CV_MAX_TRACKS);
    assert_memory_equal(out[0].sps, SPS_A, sizeof(SPS_A));
    fx_free(&x);
}

static void test_stream_shutdown_closes_all_viewers(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    static sink a, b, c;
    sink_sub(&a, x.s, ~0u, 0);
    sink_sub(&b, x.s, ~0u, 1);
    sink_sub(&c, x.s, ~0u, 1); /* never started */
    cv_sub_start(a.sub);
    cv_sub_start(b.sub);
    pv(&x, true);
    pa(&x);
    cv_stream_shutdown(x.s, "camera removed");
    sink *all[] = {&a, &b, &c};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(all[i]->closes, 1);
        assert_string_equal(all[i]->reason, "camera removed");
    }
    cv_stream_stats st = stream_stats(x.s);
    assert_int_equal(st.viewers, 0);
    assert_false(st.online);
    assert_false(cv_stream_online(x.s));
    /* The source is detached; nothing more flows. */
    assert_int_equal(pub(&x, mk_video(&x, true, 100)), -EINVAL);
    cv_sub_start(c.sub);
    assert_int_equal(c.n, 0);
    /* A second shutdown does not close them again. */
    cv_stream_shutdown(x.s, "again");
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(all[i]->closes, 1);
    /* Viewers may finish their writes and free in any order, even after the
     * stream's owner let go of it. */
    cv_stream *s = x.s;
    cv_stream_ref(s);
    fx_free(&x);
    sink_complete_all(&a);
    sink_free(&b);
    sink_free(&a);
    cv_stream_unref(s);
    sink_free(&c);
}

static void test_stream_sub_free_detaches(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, NULL, t, 1);
    static sink a, b, c;
    sink_sub(&a, x.s, ~0u, 0);
    sink_sub(&b, x.s, ~0u, 1);
    sink_sub(&c, x.s, ~0u, 1);
    cv_sub_start(a.sub);
    cv_sub_start(b.sub);
    cv_sub_start(c.sub);
    pv(&x, true);
    assert_int_equal(stream_stats(x.s).viewers, 3);
    /* Free the middle one, then the one with writes still outstanding. */
    sink_free(&b);
    assert_int_equal(stream_stats(x.s).viewers, 2);
    sink_free(&a);
    assert_int_equal(stream_stats(x.s).viewers, 1);
    pv(&x, false);
    assert_int_equal(c.n, 2);
    cv_sub_free(NULL);
    /* The stream outlives its owner's reference while a viewer holds one. */
    cv_stream *s = x.s;
    cv_stream_ref(s);
    fx_free(&x);
    assert_int_equal(stream_stats(s).viewers, 1);
    cv_stream_unref(s);
    sink_free(&c);
    cv_stream_unref(NULL);
}

static void test_stream_build_sr(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    uint8_t buf[256];
    assert_int_equal(cv_stream_build_sr(x.s, 0, buf, sizeof(buf)), -1); /* no frame yet */
    pv(&x, true);
    pv(&x, false);
    pa(&x);
    int n = cv_stream_build_sr(x.s, 0, buf, sizeof(buf));
    assert_true(n > 0);
    cv_rtcp_info info;
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), 0);
    assert_true(info.has_sr);
    assert_int_equal(info.sr_ssrc, cv_stream_out_ssrc(x.s, 0));
    assert_int_equal(info.sr_packets, x.log[0]->rtp->npkts + x.log[1]->rtp->npkts);
    int32_t ahead = (int32_t)(info.sr_rtp_ts - x.log[1]->rtp->rtp_ts);
    assert_true(ahead >= 0 && ahead < 5 * 90000);
    n = cv_stream_build_sr(x.s, 1, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(cv_rtcp_parse(buf, (size_t)n, &info), 0);
    assert_int_equal(info.sr_ssrc, cv_stream_out_ssrc(x.s, 1));
    assert_int_equal(info.sr_packets, 1);
    assert_int_equal(info.sr_octets, AUDIO_LEN);
    assert_int_equal(cv_stream_build_sr(x.s, 2, buf, sizeof(buf)), -1);
    assert_int_equal(cv_stream_build_sr(x.s, 0, buf, 8), -1);
    fx_free(&x);
}

/* ===================================================================== */
/* Registry                                                               */
/* ===================================================================== */

int main(void)
{
    if (cv_id_init() < 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        TEST(test_stream_attach_busy_and_invalid),
        TEST(test_stream_reattach_same_layout_keeps_viewers_and_rtp),
        TEST(test_stream_reattach_new_layout_closes_viewers),
        TEST(test_stream_layout_change_by_attached_source_closes_viewers),
        TEST(test_stream_failed_attach_leaves_no_half_state),
        TEST(test_stream_inband_params_update_tracks),
        TEST(test_stream_shutdown_closes_all_viewers),
        TEST(test_stream_sub_free_detaches),
        TEST(test_stream_build_sr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
