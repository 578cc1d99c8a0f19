/* Tests for the hub's stream (src/hub/stream.c): provenance, packetize-once
 * fan-out and the keyframe prebuffer. Queues: test-stream-queue.c; source
 * attach and lifecycle: test-stream-attach.c; registry: test-registry.c. */
#include "stream-fixture.h"

static void test_stream_refuses_publish_before_attach(void **state)
{
    (void)state;
    static fx x;
    fx_init(&x, NULL, NULL, 0);
    assert_false(cv_stream_online(x.s));
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);
    x.vtrack = 0;
    x.cur = &x.src;
    assert_int_equal(pub(&x, mk_video(&x, true, 100)), -EINVAL);
    x.cur = NULL;
    assert_int_equal(pub(&x, mk_video(&x, true, 100)), -EINVAL);
    cv_stream_stats st = stream_stats(x.s);
    assert_int_equal(st.frames_in, 0);
    assert_int_equal(st.bytes_in, 0);
    assert_int_equal(st.foreign_frames, 0);
    assert_false(st.online);
    assert_int_equal(st.viewers, 1);
    assert_int_equal(k.n, 0);
    uint16_t seq;
    uint32_t ts;
    assert_false(cv_stream_next_rtp(x.s, 0, &seq, &ts));
    assert_int_equal(cv_stream_tracks(x.s, NULL, 0), 0);
    sink_free(&k);
    fx_free(&x);
}

static void test_stream_refuses_foreign_camera_frames(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);

    cv_id other;
    cv_id_random(&other);
    /* A foreign keyframe that also carries parameter sets. */
    assert_int_equal(pub(&x, mk_h264(&x, &other, true, SPS_B, sizeof(SPS_B), 500)), -EPERM);
    /* A foreign frame is refused even when it comes from the attached source
     * and even when it names a valid track; from another source too. */
    uint8_t pcm[AUDIO_LEN] = {0};
    assert_int_equal(pub(&x, mkframe(&other, 1, 0, 8000, 0, pcm, sizeof(pcm))), -EPERM);
    x.cur = &x.src2;
    assert_int_equal(pub(&x, mkframe(&other, 1, 0, 8000, 0, pcm, sizeof(pcm))), -EPERM);
    x.cur = &x.src;
    /* A camera id that differs only in its last byte is still foreign. */
    cv_id near = x.cam;
    near.b[CV_ID_BYTES - 1] ^= 1;
    assert_int_equal(pub(&x, mk_h264(&x, &near, true, NULL, 0, 100)), -EPERM);

    cv_stream_stats st = stream_stats(x.s);
    assert_int_equal(st.foreign_frames, 4);
    assert_int_equal(st.frames_in, 0);
    assert_int_equal(st.bytes_in, 0);
    assert_int_equal(k.n, 0);
    /* The refused SPS did not reach the stream's tracks. */
    cv_track_info out[CV_MAX_TRACKS];
    assert_int_equal(cv_stream_tracks(x.s, out, CV_MAX_TRACKS), 2);
    assert_int_equal(out[0].sps_len, sizeof(SPS_A));
    assert_memory_equal(out[0].sps, SPS_A, sizeof(SPS_A));
    /* Nor did the refused keyframe reach the prebuffer. */
    static sink late;
    sink_sub(&late, x.s, ~0u, 1);
    cv_sub_start(late.sub);
    assert_int_equal(late.n, 0);

    /* The camera's own frames still flow. */
    cv_frame *key = pv(&x, true);
    assert_int_equal(k.n, 1);
    assert_ptr_equal(k.got[0], key);
    assert_int_equal(late.n, 1);
    assert_int_equal(stream_stats(x.s).foreign_frames, 4);
    sink_free(&late);
    sink_free(&k);
    fx_free(&x);
}

static void test_stream_refuses_other_source_and_unknown_track(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);
    pv(&x, true);
    size_t delivered = k.n;

    x.cur = &x.src2; /* a source that is not attached */
    assert_int_equal(pub(&x, mk_video(&x, false, 100)), -EINVAL);
    x.cur = NULL;
    assert_int_equal(pub(&x, mk_video(&x, false, 100)), -EINVAL);
    x.cur = &x.src;
    uint8_t pcm[AUDIO_LEN] = {0};
    assert_int_equal(pub(&x, mkframe(&x.cam, 2, 0, 8000, 0, pcm, sizeof(pcm))), -EINVAL);
    assert_int_equal(pub(&x, mkframe(&x.cam, CV_MAX_TRACKS, 0, 8000, 0, pcm, sizeof(pcm))), -EINVAL);
    assert_int_equal(pub(&x, mkframe(&x.cam, 255, CV_FRAME_KEY, 8000, 0, pcm, sizeof(pcm))), -EINVAL);

    assert_int_equal(k.n, delivered);
    cv_stream_stats st = stream_stats(x.s);
    assert_int_equal(st.frames_in, 1);
    assert_int_equal(st.foreign_frames, 0); /* not a provenance problem */

    /* After detaching, the old source is refused as well. */
    cv_stream_detach(x.s, &x.src);
    assert_int_equal(pub(&x, mk_video(&x, true, 100)), -EINVAL);
    assert_int_equal(k.n, delivered);
    sink_free(&k);
    fx_free(&x);
}

static void test_stream_refuses_republished_frame(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, NULL, t, 1);
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);
    cv_frame *key = pv(&x, true);
    cv_wire *w = key->rtp;
    /* The same frame again: its RTP form is already stamped. */
    assert_int_equal(cv_stream_publish(x.s, &x.src, key), -EINVAL);
    assert_ptr_equal(key->rtp, w);
    assert_int_equal(k.n, 1);
    assert_int_equal(stream_stats(x.s).frames_in, 1);
    sink_free(&k);
    fx_free(&x);
}

static void test_stream_refuses_malformed_access_unit(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, NULL, t, 1);
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);
    cv_frame *key = pv(&x, true);
    cv_frame *p = pv(&x, false);

    /* A "keyframe" whose second NAL claims more bytes than remain. */
    uint8_t au[64];
    size_t o = put_fill_nal(au, 0x65, 20, 1);
    cv_wr_be32(au + o, 100);
    au[o + 4] = 0x65;
    assert_true(pub(&x, mkframe(&x.cam, 0, CV_FRAME_KEY, 90000, 99000, au, o + 10)) < 0);
    /* A zero-length NAL and an empty payload. */
    o = put_fill_nal(au, 0x65, 20, 1);
    cv_wr_be32(au + o, 0);
    assert_true(pub(&x, mkframe(&x.cam, 0, CV_FRAME_KEY, 90000, 99000, au, o + 4)) < 0);
    assert_true(pub(&x, mkframe(&x.cam, 0, CV_FRAME_KEY, 90000, 99000, au, 0)) < 0);

    assert_int_equal(k.n, 2);
    assert_int_equal(stream_stats(x.s).frames_in, 2);
    /* The refused keyframes did not reset the prebuffer. */
    static sink late;
    sink_sub(&late, x.s, ~0u, 1);
    cv_sub_start(late.sub);
    assert_int_equal(late.n, 2);
    assert_ptr_equal(late.got[0], key);
    assert_ptr_equal(late.got[1], p);
    /* Sequence numbers did not advance for refused frames. */
    cv_frame *p2 = pv(&x, false);
    assert_int_equal(p2->rtp->first_seq, (uint16_t)(wire_last_seq(p->rtp) + 1));
    sink_free(&late);
    sink_free(&k);
    fx_free(&x);
}

/* ===================================================================== */
/* Packetize once, fan out the same bytes                                 */
/* ===================================================================== */

static void test_stream_packetizes_once_for_every_viewer(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    assert_int_equal(cv_stream_out_pt(x.s, 0), 96);
    assert_int_equal(cv_stream_out_pt(x.s, 1), 0);
    static sink a, b, c;
    sink_sub(&a, x.s, ~0u, 0);
    sink_sub(&b, x.s, ~0u, 1);
    sink_sub(&c, x.s, 0x3, 0);
    cv_sub_start(a.sub);
    cv_sub_start(b.sub);
    cv_sub_start(c.sub);
    assert_int_equal(stream_stats(x.s).viewers, 3);

    /* A keyframe big enough for FU-A, then P slices and audio. */
    cv_frame *key = NULL;
    assert_int_equal(pub(&x, mk_video(&x, true, 5000)), 0);
    key = last(&x);
    for (int i = 0; i < 5; i++) {
        pa(&x);
        pv(&x, false);
    }
    assert_true(key->rtp->npkts > 3);

    assert_int_equal(a.n, x.nlog);
    assert_int_equal(b.n, x.nlog);
    assert_int_equal(c.n, x.nlog);
    uint32_t prev_seq[2] = {0}, prev_ts[2] = {0};
    bool seen[2] = {false, false};
    for (size_t i = 0; i < x.nlog; i++) {
        cv_frame *f = x.log[i];
        /* The very same frame, with the very same RTP form, for everyone. */
        assert_ptr_equal(a.got[i], f);
        assert_ptr_equal(b.got[i], f);
        assert_ptr_equal(c.got[i], f);
        check_wire(x.s, f);
        uint8_t tr = f->meta.track;
        if (seen[tr]) {
            assert_int_equal(f->rtp->first_seq, (uint16_t)(prev_seq[tr] + 1));
            int64_t step = tr == 0 ? 3000 : AUDIO_LEN;
            assert_int_equal((uint32_t)(f->rtp->rtp_ts - prev_ts[tr]), step);
        }
        seen[tr] = true;
        prev_seq[tr] = wire_last_seq(f->rtp);
        prev_ts[tr] = f->rtp->rtp_ts;
    }
    assert_false(a.rtp_missing || b.rtp_missing || c.rtp_missing);

    /* The first packets carry the in-band SPS and PPS as single NAL units. */
    const uint8_t *p0 = key->rtp->data + key->rtp->offs[0] + 4 + CV_RTP_HDR_LEN;
    assert_memory_equal(p0, SPS_A, sizeof(SPS_A));
    const uint8_t *p1 = key->rtp->data + key->rtp->offs[1] + 4 + CV_RTP_HDR_LEN;
    assert_memory_equal(p1, PPS, sizeof(PPS));
    /* The G.711 payload is the frame's bytes. */
    cv_frame *au = x.log[1];
    assert_int_equal(au->meta.track, 1);
    assert_int_equal(au->rtp->len, 4 + CV_RTP_HDR_LEN + AUDIO_LEN);
    assert_memory_equal(au->rtp->data + 4 + CV_RTP_HDR_LEN, cv_frame_data(au), AUDIO_LEN);

    cv_sub_stats st = sub_stats(&a);
    assert_int_equal(st.frames, x.nlog);
    assert_int_equal(st.dropped, 0);
    size_t bytes = 0;
    for (size_t i = 0; i < x.nlog; i++)
        bytes += x.log[i]->rtp->len;
    assert_int_equal(st.bytes, bytes);
    cv_stream_stats ss = stream_stats(x.s);
    assert_int_equal(ss.frames_in, x.nlog);
    size_t in = 0;
    for (size_t i = 0; i < x.nlog; i++)
        in += cv_frame_len(x.log[i]);
    assert_int_equal(ss.bytes_in, in);
    assert_true(ss.online);
    assert_true(ss.last_frame_wall_us > 0);

    sink_complete_all(&a);
    sink_complete_all(&c);
    sink_free(&a);
    sink_free(&b);
    sink_free(&c);
    fx_free(&x);
}

static void test_stream_aac_track_uses_dynamic_pt(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_aac()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    assert_int_equal(cv_stream_out_pt(x.s, 0), 96);
    assert_int_equal(cv_stream_out_pt(x.s, 1), 97);
    assert_int_equal(cv_stream_out_pt(x.s, 2), 0); /* no such track */
    static sink k;
    sink_sub(&k, x.s, ~0u, 1);
    cv_sub_start(k.sub);
    pv(&x, true);
    cv_frame *a1 = pa(&x);
    cv_frame *a2 = pa(&x);
    check_wire(x.s, a1);
    check_wire(x.s, a2);
    assert_int_equal(a1->rtp->data[1], 2);
    assert_int_equal((uint32_t)(a2->rtp->rtp_ts - a1->rtp->rtp_ts), 1024);
    /* RFC 3640 AU header: 16 bits of headers, size << 3. */
    const uint8_t *pl = a1->rtp->data + 4 + CV_RTP_HDR_LEN;
    assert_int_equal(cv_be16(pl), 16);
    assert_int_equal(cv_be16(pl + 2), AUDIO_LEN << 3);
    assert_int_equal(k.n, 3);
    sink_free(&k);
    fx_free(&x);
}

/* ===================================================================== */
/* Prebuffer                                                              */
/* ===================================================================== */

static void test_stream_prebuffer_starts_at_latest_keyframe(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    /* Before any keyframe: nothing is worth buffering. */
    pv(&x, false);
    pa(&x);
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    size_t k2 = x.nlog;
    pv(&x, true); /* the latest keyframe */
    pa(&x);
    pv(&x, false);
    pa(&x);
    pa(&x);
    pv(&x, false);

    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    for (int i = 0; i < 2; i++) /* nothing before start, even if frames arrive */
        pa(&x);
    assert_int_equal(v.n, 0);
    cv_sub_start(v.sub);
    size_t want = x.nlog - k2;
    assert_int_equal(v.n, want);
    for (size_t i = 0; i < want; i++)
        assert_ptr_equal(v.got[i], x.log[k2 + i]); /* in publish order, audio interleaved */
    assert_true(v.got[0]->meta.flags & CV_FRAME_KEY);
    assert_int_equal(v.got[0]->meta.track, 0);
    assert_false(v.rtp_missing);

    /* Live frames follow the prebuffer; a second start is a no-op. */
    cv_frame *live = pv(&x, false);
    assert_ptr_equal(v.got[v.n - 1], live);
    size_t n = v.n;
    cv_sub_start(v.sub);
    assert_int_equal(v.n, n);

    /* A new keyframe resets the prebuffer. */
    size_t k3 = x.nlog;
    pv(&x, true);
    pa(&x);
    static sink w;
    sink_sub(&w, x.s, ~0u, 1);
    cv_sub_start(w.sub);
    assert_int_equal(w.n, 2);
    assert_ptr_equal(w.got[0], x.log[k3]);
    assert_ptr_equal(w.got[1], x.log[k3 + 1]);

    sink_complete_all(&v);
    sink_free(&v);
    sink_free(&w);
    fx_free(&x);
}

static void test_stream_prebuffer_keys_on_the_video_track(void **state)
{
    (void)state;
    /* Audio announced first: the video track is index 1. */
    const cv_track_info t[] = {track_pcmu(), track_h264()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    assert_int_equal(x.vtrack, 1);
    assert_int_equal(cv_stream_out_pt(x.s, 0), 0);
    assert_int_equal(cv_stream_out_pt(x.s, 1), 97);
    pa(&x);
    size_t k = x.nlog;
    cv_frame *key = pv(&x, true);
    check_wire(x.s, key);
    assert_int_equal(key->rtp->data[1], 2);
    pa(&x);
    /* An audio frame flagged as key must not reset the prebuffer. */
    uint8_t pcm[AUDIO_LEN] = {0};
    assert_int_equal(pub(&x, mkframe(&x.cam, 0, CV_FRAME_KEY, 8000, x.pts[0], pcm, sizeof(pcm))), 0);
    x.pts[0] += AUDIO_LEN;
    pv(&x, false);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    assert_int_equal(v.n, x.nlog - k);
    assert_ptr_equal(v.got[0], key);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_audio_only_has_no_prebuffer(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 1);
    for (int i = 0; i < 10; i++)
        pa(&x);
    /* Even an audio frame flagged as key does not start a prebuffer. */
    uint8_t pcm[AUDIO_LEN] = {0};
    assert_int_equal(pub(&x, mkframe(&x.cam, 0, CV_FRAME_KEY, 8000, x.pts[0], pcm, sizeof(pcm))), 0);
    x.pts[0] += AUDIO_LEN;
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    assert_int_equal(v.n, 0);
    uint16_t seq;
    uint32_t ts;
    assert_true(cv_stream_next_rtp(x.s, 0, &seq, &ts));
    assert_int_equal(seq, (uint16_t)(wire_last_seq(last(&x)->rtp) + 1));
    cv_frame *f = pa(&x);
    assert_int_equal(v.n, 1);
    assert_ptr_equal(v.got[0], f);
    assert_int_equal(f->rtp->first_seq, seq);
    sink_free(&v);
    fx_free(&x);
}

static void test_stream_prebuffer_cap_drops_until_next_keyframe(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    /* A keyframe (~1.1 KB on the wire) and three P slices (~0.3 KB) fit. */
    lim.prebuffer_bytes = 2200;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, &lim, t, 2);
    pv(&x, true);
    for (int i = 0; i < 3; i++)
        pv(&x, false);
    static sink a;
    sink_sub(&a, x.s, ~0u, 1);
    cv_sub_start(a.sub);
    assert_int_equal(a.n, 4);

    /* Overflow: the prebuffer is dropped, not trimmed (a GOP missing its
     * keyframe is useless), and stays empty until the next keyframe. */
    for (int i = 0; i < 5; i++) {
        pv(&x, false);
        pa(&x);
    }
    static sink b;
    sink_sub(&b, x.s, ~0u, 1);
    cv_sub_start(b.sub);
    assert_int_equal(b.n, 0);
    uint16_t seq;
    uint32_t ts;
    assert_true(cv_stream_next_rtp(x.s, 0, &seq, &ts));
    assert_int_equal(seq, (uint16_t)(wire_last_seq(x.log[x.nlog - 2]->rtp) + 1));

    size_t k2 = x.nlog;
    pv(&x, true);
    pa(&x);
    static sink c;
    sink_sub(&c, x.s, ~0u, 1);
    cv_sub_start(c.sub);
    assert_int_equal(c.n, 2);
    assert_ptr_equal(c.got[0], x.log[k2]);

    /* A keyframe bigger than the whole cap leaves no prebuffer. */
    assert_int_equal(pub(&x, mk_video(&x, true, 4000)), 0);
    static sink d;
    sink_sub(&d, x.s, ~0u, 1);
    cv_sub_start(d.sub);
    assert_int_equal(d.n, 0);
    /* Viewers that were already watching got everything. */
    assert_int_equal(a.n, x.nlog);
    sink_free(&a);
    sink_free(&b);
    sink_free(&c);
    sink_free(&d);
    fx_free(&x);
}

static void test_stream_detach_clears_prebuffer(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    pv(&x, true);
    pa(&x);
    pv(&x, false);
    cv_stream_detach(x.s, &x.src2); /* not the attached source: no-op */
    cv_stream_detach(x.s, NULL);
    assert_true(cv_stream_online(x.s));
    static sink a;
    sink_sub(&a, x.s, ~0u, 1);
    cv_sub_start(a.sub);
    assert_int_equal(a.n, 3);

    cv_stream_detach(x.s, &x.src);
    assert_false(cv_stream_online(x.s));
    assert_false(stream_stats(x.s).online);
    assert_int_equal(stream_stats(x.s).viewers, 1); /* viewers stay */
    assert_int_equal(a.closes, 0);
    static sink b;
    sink_sub(&b, x.s, ~0u, 1);
    cv_sub_start(b.sub);
    assert_int_equal(b.n, 0);
    /* The prebuffer's references were dropped: only the log and a hold them. */
    for (size_t i = 0; i < x.nlog; i++)
        assert_int_equal(atomic_load(&x.log[i]->refs), 2);
    sink_free(&a);
    sink_free(&b);
    fx_free(&x);
}

static void test_stream_unstarted_viewer_gets_nothing(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264()};
    static fx x;
    fx_init(&x, NULL, t, 1);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    pv(&x, true);
    pv(&x, false);
    assert_int_equal(v.n, 0);
    assert_int_equal(sub_stats(&v).frames, 0);
    assert_int_equal(sub_stats(&v).dropped, 0);
    sink_free(&v); /* freed without ever starting */
    assert_int_equal(stream_stats(x.s).viewers, 0);
    pv(&x, false);
    fx_free(&x);
}

/* The source's own comments promise it: "new viewers of a reconnecting
 * camera start at its next keyframe" (cv_stream_detach) and "new viewers
 * wait for the next keyframe" (prebuffer overflow). A decoder cannot use P
 * slices whose reference it never saw. */
static void test_stream_viewer_without_prebuffer_starts_at_keyframe(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    pv(&x, true);
    pv(&x, false);
    cv_stream_detach(x.s, &x.src);
    fx_attach(&x, &x.src2, t, 2); /* reconnected, resumes mid-GOP */
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    pv(&x, false);
    pa(&x);
    pv(&x, false);
    cv_frame *key = pv(&x, true);
    cv_frame *p = pv(&x, false);
    size_t first_video = SIZE_MAX;
    for (size_t i = 0; i < v.n && first_video == SIZE_MAX; i++)
        if (v.got[i]->meta.track == 0)
            first_video = i;
    assert_true(first_video != SIZE_MAX);
    assert_ptr_equal(v.got[first_video], key);
    assert_true(sink_has(&v, p));
    sink_free(&v);
    fx_free(&x);
}

/* ===================================================================== */
/* RTP-Info                                                               */
/* ===================================================================== */

static void test_stream_next_rtp_matches_first_prebuffered_packet(void **state)
{
    (void)state;
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    static fx x;
    fx_init(&x, NULL, t, 2);
    uint16_t seq = 0;
    uint32_t ts = 0;
    assert_false(cv_stream_next_rtp(x.s, 0, &seq, &ts)); /* nothing known yet */
    assert_false(cv_stream_next_rtp(x.s, 1, &seq, &ts));
    assert_false(cv_stream_next_rtp(x.s, 2, &seq, &ts));
    assert_false(cv_stream_next_rtp(x.s, CV_MAX_TRACKS, &seq, &ts));

    pa(&x); /* before the keyframe: not in the prebuffer */
    pv(&x, false);
    cv_frame *key = pv(&x, true);
    cv_frame *a1 = pa(&x);
    pv(&x, false);
    pa(&x);

    assert_true(cv_stream_next_rtp(x.s, 0, &seq, &ts));
    assert_int_equal(seq, key->rtp->first_seq);
    assert_int_equal(ts, key->rtp->rtp_ts);
    uint16_t aseq;
    uint32_t ats;
    assert_true(cv_stream_next_rtp(x.s, 1, &aseq, &ats));
    assert_int_equal(aseq, a1->rtp->first_seq);
    assert_int_equal(ats, a1->rtp->rtp_ts);

    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    /* What the viewer then receives first on each track is what was announced. */
    const cv_frame *fv = NULL, *fa = NULL;
    for (size_t i = 0; i < v.n; i++) {
        if (!fv && v.got[i]->meta.track == 0)
            fv = v.got[i];
        if (!fa && v.got[i]->meta.track == 1)
            fa = v.got[i];
    }
    assert_non_null(fv);
    assert_non_null(fa);
    cv_rtp_hdr h;
    const cv_wire *w = fv->rtp;
    assert_int_equal(cv_rtp_parse(w->data + 4, cv_be16(w->data + 2), &h), 0);
    assert_int_equal(h.seq, seq);
    assert_int_equal(h.ts, ts);
    w = fa->rtp;
    assert_int_equal(cv_rtp_parse(w->data + 4, cv_be16(w->data + 2), &h), 0);
    assert_int_equal(h.seq, aseq);
    assert_int_equal(h.ts, ats);

    /* A track with nothing in the prebuffer yet: the next packet's seq. */
    pv(&x, true);
    cv_frame *prev_audio = x.log[x.nlog - 2];
    assert_int_equal(prev_audio->meta.track, 1);
    assert_true(cv_stream_next_rtp(x.s, 1, &aseq, &ats));
    assert_int_equal(aseq, (uint16_t)(wire_last_seq(prev_audio->rtp) + 1));
    cv_frame *a_next = pa(&x);
    assert_int_equal(a_next->rtp->first_seq, aseq);
    /* Its timestamp cannot be known exactly before the frame exists; it
     * must not be later than the frame's and at most one frame earlier. */
    uint32_t behind = a_next->rtp->rtp_ts - ats;
    assert_true(behind <= AUDIO_LEN);

    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x);
}

/* ===================================================================== */
/* Bounded viewer queues                                                  */
/* ===================================================================== */

int main(void)
{
    if (cv_id_init() < 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        TEST(test_stream_refuses_publish_before_attach),
        TEST(test_stream_refuses_foreign_camera_frames),
        TEST(test_stream_refuses_other_source_and_unknown_track),
        TEST(test_stream_refuses_republished_frame),
        TEST(test_stream_refuses_malformed_access_unit),
        TEST(test_stream_packetizes_once_for_every_viewer),
        TEST(test_stream_aac_track_uses_dynamic_pt),
        TEST(test_stream_prebuffer_starts_at_latest_keyframe),
        TEST(test_stream_prebuffer_keys_on_the_video_track),
        TEST(test_stream_audio_only_has_no_prebuffer),
        TEST(test_stream_prebuffer_cap_drops_until_next_keyframe),
        TEST(test_stream_detach_clears_prebuffer),
        TEST(test_stream_unstarted_viewer_gets_nothing),
        TEST(test_stream_viewer_without_prebuffer_starts_at_keyframe),
        TEST(test_stream_next_rtp_matches_first_prebuffered_packet),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
