/* Tests for the H.264 depacketizer (src/rtp/depack.c, depack_h26x.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "depack-fixture.h"

#include "base/util.h"
#include "media/nal.h"
#include "rtp/depack.h"
#include "rtp/pack.h"
#include "rtp/rtp.h"

typedef struct {
    cv_rtp_depack *d;
    sink out;
    uint8_t *pkt; /* scratch packet buffer */
} fixture;

static const cv_id cam = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    cv_track_info t = {.kind = CV_MEDIA_VIDEO, .codec = CV_CODEC_H264, .clock_rate = 90000, .payload_type = 96};
    fx->d = cv_rtp_depack_new(&t, &cam, 2);
    fx->pkt = malloc(CV_RTP_MAX_PACKET);
    assert_non_null(fx->d);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    sink_clear(&fx->out);
    cv_rtp_depack_free(fx->d);
    free(fx->pkt);
    free(fx);
    assert_int_equal(cv_frame_live_count(), 0);
    return 0;
}

static int push(fixture *fx, bool m, uint16_t seq, uint32_t ts, const void *pl, size_t n)
{
    assert_true(n <= CV_RTP_MAX_PACKET - 12);
    cv_rtp_write_hdr(fx->pkt, m, 96, seq, ts, 0x11223344);
    if (n)
        memcpy(fx->pkt + 12, pl, n);
    return cv_rtp_depack_push(fx->d, fx->pkt, 12 + n, on_frame, &fx->out);
}

static cv_rtp_depack_stats stats(fixture *fx) { return depack_stats(fx->d); }

static const uint8_t sps[] = {0x67, 0x42, 0xc0, 0x1f, 0xda, 0x01, 0x40};
static const uint8_t pps[] = {0x68, 0xce, 0x3c, 0x80};
static const uint8_t idr[] = {0x65, 0x88, 0x84, 0x00, 0x33, 0xff};
static const uint8_t pslice[] = {0x41, 0x9a, 0x02, 0x04};

static void test_depack_h264_single_nal_au(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, true, 100, 1000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 1);
    const cv_frame *f = fx->out.f[0];
    uint8_t exp[64];
    const uint8_t *nals[] = {pslice};
    size_t lens[] = {sizeof(pslice)};
    assert_frame(f, exp, lp(exp, nals, lens, 1));
    assert_true(cv_id_eq(&f->meta.camera, &cam));
    assert_int_equal(f->meta.track, 2);
    assert_int_equal(f->meta.clock_rate, 90000);
    assert_int_equal(f->meta.pts, 1000);
    assert_int_equal(f->meta.flags, 0);
    assert_true(f->meta.recv_us > 0);
    cv_rtp_depack_stats st = stats(fx);
    assert_int_equal(st.packets, 1);
    assert_int_equal(st.bytes, sizeof(pslice));
    assert_int_equal(st.frames, 1);
}

static void test_depack_h264_au_with_params_is_key(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, false, 1, 3000, sps, sizeof(sps)), 0);
    assert_int_equal(push(fx, false, 2, 3000, pps, sizeof(pps)), 0);
    assert_int_equal(fx->out.n, 0);
    assert_int_equal(push(fx, true, 3, 3000, idr, sizeof(idr)), 0);
    assert_int_equal(fx->out.n, 1);
    uint8_t exp[128];
    const uint8_t *nals[] = {sps, pps, idr};
    size_t lens[] = {sizeof(sps), sizeof(pps), sizeof(idr)};
    assert_frame(fx->out.f[0], exp, lp(exp, nals, lens, 3));
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY | CV_FRAME_PARAMS);
}

static void test_depack_h264_au_ends_on_timestamp_change(void **state)
{
    fixture *fx = *state;
    /* No marker bits at all: each AU ends when the next one starts. */
    assert_int_equal(push(fx, false, 1, 0, idr, sizeof(idr)), 0);
    assert_int_equal(push(fx, false, 2, 3000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(fx->out.f[0]->meta.pts, 0);
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY);
    assert_int_equal(push(fx, false, 3, 6000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(fx->out.f[1]->meta.pts, 3000);
    assert_int_equal(fx->out.f[1]->meta.flags, 0);
}

static void test_depack_h264_stap_a(void **state)
{
    fixture *fx = *state;
    uint8_t pl[64];
    size_t o = 0;
    pl[o++] = 0x78; /* NRI 3, type 24 */
    pl[o++] = 0;
    pl[o++] = sizeof(sps);
    memcpy(pl + o, sps, sizeof(sps));
    o += sizeof(sps);
    pl[o++] = 0;
    pl[o++] = sizeof(pps);
    memcpy(pl + o, pps, sizeof(pps));
    o += sizeof(pps);
    assert_int_equal(push(fx, false, 7, 90, pl, o), 0);
    assert_int_equal(push(fx, true, 8, 90, idr, sizeof(idr)), 0);
    assert_int_equal(fx->out.n, 1);
    uint8_t exp[128];
    const uint8_t *nals[] = {sps, pps, idr};
    size_t lens[] = {sizeof(sps), sizeof(pps), sizeof(idr)};
    assert_frame(fx->out.f[0], exp, lp(exp, nals, lens, 3));
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY | CV_FRAME_PARAMS);
}

/* Pushes nal as FU-A fragments of at most frag bytes; skip_idx drops one. */
static void push_fu(fixture *fx, uint16_t *seq, uint32_t ts, const uint8_t *nal, size_t len, size_t frag,
                    bool marker, int skip_idx)
{
    size_t off = 1;
    int idx = 0;
    uint8_t pl[2048];
    assert_true(frag + 2 <= sizeof(pl));
    while (off < len) {
        size_t chunk = len - off < frag ? len - off : frag;
        bool s = off == 1, e = off + chunk == len;
        pl[0] = (uint8_t)((nal[0] & 0xe0) | 28);
        pl[1] = (uint8_t)((s ? 0x80 : 0) | (e ? 0x40 : 0) | (nal[0] & 0x1f));
        memcpy(pl + 2, nal + off, chunk);
        if (idx != skip_idx)
            assert_int_equal(push(fx, marker && e, *seq, ts, pl, chunk + 2), 0);
        (*seq)++;
        off += chunk;
        idx++;
    }
}

static void test_depack_h264_fu_a_reassembles(void **state)
{
    fixture *fx = *state;
    uint8_t nal[5000];
    nal[0] = 0x65;
    for (size_t i = 1; i < sizeof(nal); i++)
        nal[i] = (uint8_t)(i * 7);
    uint16_t seq = 10;
    push_fu(fx, &seq, 1234, nal, sizeof(nal), 1000, true, -1);
    assert_int_equal(fx->out.n, 1);
    uint8_t *exp = malloc(sizeof(nal) + 4);
    const uint8_t *nals[] = {nal};
    size_t lens[] = {sizeof(nal)};
    assert_frame(fx->out.f[0], exp, lp(exp, nals, lens, 1));
    free(exp);
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY);
    assert_int_equal(stats(fx).packets, 5);
}

static void test_depack_h264_fu_a_keeps_nri_and_forbidden_bit(void **state)
{
    fixture *fx = *state;
    const uint8_t nal[] = {0xa1, 1, 2, 3, 4, 5, 6, 7}; /* F=1, NRI=1, type 1 */
    uint16_t seq = 0;
    push_fu(fx, &seq, 0, nal, sizeof(nal), 3, true, -1);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(cv_frame_len(fx->out.f[0]), 4 + sizeof(nal));
    assert_memory_equal(cv_frame_data(fx->out.f[0]) + 4, nal, sizeof(nal));
}

static void test_depack_h264_loss_inside_fu_a_marks_corrupt(void **state)
{
    fixture *fx = *state;
    uint8_t nal[3000];
    nal[0] = 0x41;
    memset(nal + 1, 0xab, sizeof(nal) - 1);
    uint16_t seq = 50;
    assert_int_equal(push(fx, false, seq++, 9000, sps, sizeof(sps)), 0);
    /* Fragment 1 of 3 is lost, the last one carries the marker. */
    push_fu(fx, &seq, 9000, nal, sizeof(nal), 1000, true, 1);
    assert_int_equal(fx->out.n, 1);
    const cv_frame *f = fx->out.f[0];
    uint8_t exp[64];
    const uint8_t *nals[] = {sps};
    size_t lens[] = {sizeof(sps)};
    assert_frame(f, exp, lp(exp, nals, lens, 1)); /* the partial NAL is gone */
    assert_true(f->meta.flags & CV_FRAME_CORRUPT);
    assert_int_equal(stats(fx).lost, 1);
    assert_int_equal(stats(fx).malformed, 0);

    /* The next AU is clean again. */
    assert_int_equal(push(fx, true, seq++, 12000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(fx->out.f[1]->meta.flags, 0);
}

static void test_depack_h264_loss_of_fu_start_drops_orphans(void **state)
{
    fixture *fx = *state;
    uint8_t nal[3000];
    nal[0] = 0x65;
    memset(nal + 1, 0x5a, sizeof(nal) - 1);
    uint16_t seq = 1;
    assert_int_equal(push(fx, true, seq++, 0, pslice, sizeof(pslice)), 0);
    push_fu(fx, &seq, 3000, nal, sizeof(nal), 1000, true, 0);
    /* Nothing survived of the second AU: dropped, not emitted. */
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(stats(fx).dropped, 1);
    assert_int_equal(stats(fx).malformed, 0);
    assert_int_equal(push(fx, true, seq++, 6000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(fx->out.f[1]->meta.flags, 0);
}

static void test_depack_h264_loss_between_aus_taints_next(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, true, 1, 0, idr, sizeof(idr)), 0);
    assert_int_equal(push(fx, true, 3, 3000, pslice, sizeof(pslice)), 0); /* seq 2 lost */
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY);
    assert_int_equal(fx->out.f[1]->meta.flags, CV_FRAME_CORRUPT);
    assert_int_equal(stats(fx).lost, 1);
}

static void test_depack_h264_fu_without_start_is_malformed(void **state)
{
    fixture *fx = *state;
    const uint8_t mid[] = {0x7c, 0x05, 1, 2, 3};
    const uint8_t end[] = {0x7c, 0x45, 4, 5, 6};
    assert_int_equal(push(fx, false, 1, 0, mid, sizeof(mid)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, end, sizeof(end)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, idr, sizeof(idr)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY);
    assert_int_equal(stats(fx).malformed, 2);
    /* Same after a completed AU. */
    assert_int_equal(push(fx, true, 2, 3000, end, sizeof(end)), -EBADMSG);
    assert_int_equal(push(fx, true, 2, 3000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(fx->out.f[1]->meta.flags, 0);
}

static void test_depack_h264_fu_with_start_and_end_is_malformed(void **state)
{
    fixture *fx = *state;
    const uint8_t both[] = {0x7c, 0xc5, 1, 2, 3};
    assert_int_equal(push(fx, true, 1, 0, both, sizeof(both)), -EBADMSG);
    const uint8_t inner_stap[] = {0x7c, 0x98, 1, 2, 3}; /* FU carrying type 24 */
    assert_int_equal(push(fx, true, 1, 0, inner_stap, sizeof(inner_stap)), -EBADMSG);
    const uint8_t short_fu[] = {0x7c};
    assert_int_equal(push(fx, true, 1, 0, short_fu, sizeof(short_fu)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 1);
}

static void test_depack_h264_stap_a_bad_lengths_are_malformed(void **state)
{
    fixture *fx = *state;
    const uint8_t too_long[] = {0x78, 0, 5, 0x41, 1, 2};           /* NAL claims 5, 3 left */
    const uint8_t truncated_len[] = {0x78, 0, 2, 0x41, 1, 0};      /* half a length field */
    const uint8_t zero[] = {0x78, 0, 0, 0, 2, 0x41, 1};            /* empty NAL */
    const uint8_t empty[] = {0x78};                                /* no NAL at all */
    const uint8_t nested[] = {0x78, 0, 2, 0x7c, 0x85};             /* FU-A inside STAP-A */
    assert_int_equal(push(fx, true, 1, 0, too_long, sizeof(too_long)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, truncated_len, sizeof(truncated_len)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, zero, sizeof(zero)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, empty, sizeof(empty)), -EBADMSG);
    assert_int_equal(push(fx, true, 1, 0, nested, sizeof(nested)), -EBADMSG);
    assert_int_equal(fx->out.n, 0);
    assert_int_equal(stats(fx).malformed, 5);
    assert_int_equal(stats(fx).packets, 0);

    const uint8_t good[] = {0x78, 0, 2, 0x41, 1, 0, 3, 0x41, 2, 3};
    assert_int_equal(push(fx, true, 1, 0, good, sizeof(good)), 0);
    assert_int_equal(fx->out.n, 1);
    const uint8_t exp[] = {0, 0, 0, 2, 0x41, 1, 0, 0, 0, 3, 0x41, 2, 3};
    assert_frame(fx->out.f[0], exp, sizeof(exp));
    assert_int_equal(fx->out.f[0]->meta.flags, 0);
}

static void test_depack_h264_rejects_interleaved_types_and_short(void **state)
{
    fixture *fx = *state;
    for (uint8_t t = 25; t <= 29; t++) {
        if (t == 28)
            continue;
        uint8_t pl[] = {(uint8_t)(0x60 | t), 0x80, 1, 2, 3, 4, 5, 6};
        assert_int_equal(push(fx, true, 1, 0, pl, sizeof(pl)), -EBADMSG);
    }
    assert_int_equal(push(fx, true, 1, 0, NULL, 0), -EBADMSG); /* no NAL header */
    uint8_t v1[16];
    cv_rtp_write_hdr(v1, true, 96, 1, 0, 1);
    v1[0] = 0x40; /* version 1 */
    memcpy(v1 + 12, pslice, 4);
    assert_int_equal(cv_rtp_depack_push(fx->d, v1, sizeof(v1), on_frame, &fx->out), -EBADMSG);
    assert_int_equal(cv_rtp_depack_push(fx->d, v1, 5, on_frame, &fx->out), -EBADMSG);
    assert_int_equal(stats(fx).malformed, 7);
    assert_int_equal(push(fx, true, 1, 0, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 1);
}

static void test_depack_h264_ignores_undefined_types(void **state)
{
    fixture *fx = *state;
    const uint8_t t0[] = {0x00, 1, 2};
    const uint8_t t30[] = {0x1e, 1, 2};
    assert_int_equal(push(fx, false, 1, 0, pslice, sizeof(pslice)), 0);
    assert_int_equal(push(fx, false, 2, 0, t0, sizeof(t0)), 0);
    assert_int_equal(push(fx, true, 3, 0, t30, sizeof(t30)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(cv_frame_len(fx->out.f[0]), 4 + sizeof(pslice));
    assert_int_equal(stats(fx).malformed, 0);
}

static void test_depack_h264_any_payload_type_accepted(void **state)
{
    fixture *fx = *state;
    cv_rtp_write_hdr(fx->pkt, true, 35, 1, 0, 1);
    memcpy(fx->pkt + 12, pslice, sizeof(pslice));
    assert_int_equal(cv_rtp_depack_push(fx->d, fx->pkt, 12 + sizeof(pslice), on_frame, &fx->out), 0);
    assert_int_equal(fx->out.n, 1);
}

static void test_depack_h264_duplicates_and_late_packets_dropped(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, false, 10, 0, sps, sizeof(sps)), 0);
    assert_int_equal(push(fx, false, 10, 0, sps, sizeof(sps)), 0);   /* duplicate */
    assert_int_equal(push(fx, false, 12, 0, pps, sizeof(pps)), 0);   /* 11 missing */
    assert_int_equal(push(fx, false, 11, 0, pslice, sizeof(pslice)), 0); /* late */
    assert_int_equal(push(fx, true, 13, 0, idr, sizeof(idr)), 0);
    assert_int_equal(fx->out.n, 1);
    uint8_t exp[128];
    const uint8_t *nals[] = {sps, pps, idr};
    size_t lens[] = {sizeof(sps), sizeof(pps), sizeof(idr)};
    assert_frame(fx->out.f[0], exp, lp(exp, nals, lens, 3));
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_KEY | CV_FRAME_PARAMS | CV_FRAME_CORRUPT);
    cv_rtp_depack_stats st = stats(fx);
    assert_int_equal(st.packets, 3);
    assert_int_equal(st.lost, 1);
    assert_int_equal(st.malformed, 0);
}

static void test_depack_h264_seq_wrap_is_not_loss(void **state)
{
    fixture *fx = *state;
    uint16_t seq = 65533;
    for (int i = 0; i < 6; i++)
        assert_int_equal(push(fx, true, seq++, (uint32_t)i * 3000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 6);
    assert_int_equal(stats(fx).lost, 0);
    for (size_t i = 0; i < fx->out.n; i++)
        assert_int_equal(fx->out.f[i]->meta.flags, 0);
    /* Packets just before the wrap now count as late. */
    assert_int_equal(push(fx, true, 65535, 18000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 6);
}

static void test_depack_h264_ts_wrap_forward(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, true, 1, 0xfffff000u, pslice, sizeof(pslice)), 0);
    assert_int_equal(push(fx, true, 2, 0xfffffc00u, pslice, sizeof(pslice)), 0);
    assert_int_equal(push(fx, true, 3, 0x00000800u, pslice, sizeof(pslice)), 0);
    assert_int_equal(push(fx, true, 4, 0x00001000u, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 4);
    assert_int_equal(fx->out.f[0]->meta.pts, 0xfffff000LL);
    assert_int_equal(fx->out.f[1]->meta.pts, 0xfffffc00LL);
    assert_int_equal(fx->out.f[2]->meta.pts, 0x100000800LL);
    assert_int_equal(fx->out.f[3]->meta.pts, 0x100001000LL);
}

static void test_depack_h264_ts_wrap_backward(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, true, 1, 0x100, pslice, sizeof(pslice)), 0);
    assert_int_equal(push(fx, true, 2, 0xffffff00u, pslice, sizeof(pslice)), 0); /* B-frame style step back */
    assert_int_equal(push(fx, true, 3, 0x200, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 3);
    assert_int_equal(fx->out.f[0]->meta.pts, 0x100);
    assert_int_equal(fx->out.f[1]->meta.pts, -0x100);
    assert_int_equal(fx->out.f[2]->meta.pts, 0x200);
}

static void test_depack_h264_oversized_au_dropped(void **state)
{
    fixture *fx = *state;
    const size_t frag = 60000;
    size_t total = CV_DEPACK_MAX_AU + 1000;
    uint8_t *pl = malloc(frag + 2);
    memset(pl + 2, 0x11, frag);
    uint16_t seq = 0;
    size_t sent = 0;
    bool first = true;
    while (sent < total) {
        size_t chunk = total - sent < frag ? total - sent : frag;
        bool last = sent + chunk == total;
        pl[0] = 0x7c;
        pl[1] = (uint8_t)((first ? 0x80 : 0) | (last ? 0x40 : 0) | 5);
        assert_int_equal(push(fx, last, seq++, 0, pl, chunk + 2), 0);
        sent += chunk;
        first = false;
    }
    free(pl);
    assert_int_equal(fx->out.n, 0);
    assert_int_equal(stats(fx).dropped, 1);
    assert_int_equal(push(fx, true, seq++, 3000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(fx->out.f[0]->meta.flags, 0);
}

static void test_depack_h264_too_many_nals_dropped(void **state)
{
    fixture *fx = *state;
    /* One STAP-A with 2000 one-byte NALs exceeds the per-AU NAL cap. */
    size_t n = 2000, o = 0;
    uint8_t *pl = malloc(1 + n * 3);
    pl[o++] = 0x18;
    for (size_t i = 0; i < n; i++) {
        pl[o++] = 0;
        pl[o++] = 1;
        pl[o++] = 0x09; /* access unit delimiter */
    }
    assert_int_equal(push(fx, true, 1, 0, pl, o), 0);
    free(pl);
    assert_int_equal(fx->out.n, 0);
    assert_int_equal(stats(fx).dropped, 1);
    assert_int_equal(push(fx, true, 2, 3000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 1);
}

static void test_depack_h264_unfinished_fu_then_new_au(void **state)
{
    fixture *fx = *state;
    const uint8_t start[] = {0x7c, 0x85, 1, 2, 3};
    assert_int_equal(push(fx, false, 1, 0, sps, sizeof(sps)), 0);
    assert_int_equal(push(fx, false, 2, 0, start, sizeof(start)), 0);
    /* No end fragment, no loss: the sender moved on. */
    assert_int_equal(push(fx, true, 3, 3000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(cv_frame_len(fx->out.f[0]), 4 + sizeof(sps));
    assert_int_equal(fx->out.f[0]->meta.flags, CV_FRAME_PARAMS | CV_FRAME_CORRUPT);
    assert_int_equal(fx->out.f[1]->meta.flags, 0);
}

static void test_depack_h264_big_seq_jump_needs_confirmation(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, true, 1000, 0, pslice, sizeof(pslice)), 0);
    /* 20000 back: neither a loss nor a late packet. Dropped until the next
     * packet confirms the new numbering. */
    assert_int_equal(push(fx, true, 20000, 3000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(push(fx, true, 20001, 6000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(push(fx, true, 20002, 9000, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 3);
    assert_int_equal(fx->out.f[2]->meta.flags, 0);
    assert_int_equal(stats(fx).lost, 0);
}

static void test_depack_h264_ssrc_change_resyncs(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, true, 1000, 0, pslice, sizeof(pslice)), 0);
    cv_rtp_write_hdr(fx->pkt, true, 96, 5, 3000, 0x99);
    memcpy(fx->pkt + 12, idr, sizeof(idr));
    assert_int_equal(cv_rtp_depack_push(fx->d, fx->pkt, 12 + sizeof(idr), on_frame, &fx->out), 0);
    assert_int_equal(fx->out.n, 2);
    assert_int_equal(stats(fx).lost, 0);
}

static void test_depack_h264_reset_forgets_state(void **state)
{
    fixture *fx = *state;
    assert_int_equal(push(fx, false, 1, 5000, sps, sizeof(sps)), 0);
    cv_rtp_depack_reset(fx->d);
    /* Old seq/ts would make these look late and far away; after reset they start fresh. */
    assert_int_equal(push(fx, true, 40000, 77, pslice, sizeof(pslice)), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(fx->out.f[0]->meta.pts, 77);
    assert_int_equal(cv_frame_len(fx->out.f[0]), 4 + sizeof(pslice));
    assert_int_equal(fx->out.f[0]->meta.flags, 0);
}

static void test_depack_h264_padding_and_extension(void **state)
{
    fixture *fx = *state;
    uint8_t pkt[12 + 8 + sizeof(pslice) + 4];
    cv_rtp_write_hdr(pkt, true, 96, 1, 0, 1);
    pkt[0] |= 0x30;
    pkt[12] = 0xbe;
    pkt[13] = 0xde;
    pkt[14] = 0;
    pkt[15] = 1;
    memset(pkt + 16, 0, 4);
    memcpy(pkt + 20, pslice, sizeof(pslice));
    memset(pkt + 20 + sizeof(pslice), 0, 3);
    pkt[sizeof(pkt) - 1] = 4;
    assert_int_equal(cv_rtp_depack_push(fx->d, pkt, sizeof(pkt), on_frame, &fx->out), 0);
    assert_int_equal(fx->out.n, 1);
    assert_memory_equal(cv_frame_data(fx->out.f[0]) + 4, pslice, sizeof(pslice));
}

/* Packs an AU with the real packetizer and depacks it again. */
static void roundtrip(fixture *fx, const uint8_t *au, size_t len, size_t mtu, uint16_t first_seq, uint32_t ts)
{
    cv_rtp_packer *p = cv_rtp_packer_new(CV_CODEC_H264, 96, 0x11223344, first_seq, mtu);
    assert_non_null(p);
    cv_frame_meta m = {.pts = ts};
    cv_frame *f = cv_frame_new(&m, cv_payload_copy(au, len));
    cv_wire *w = NULL;
    assert_int_equal(cv_rtp_packer_pack(p, f, ts, 0, &w), 0);
    size_t before = fx->out.n;
    for (uint32_t i = 0; i < w->npkts; i++) {
        const uint8_t *h = w->data + w->offs[i];
        assert_int_equal(h[0], '$');
        size_t n = (size_t)h[2] << 8 | h[3];
        assert_true(n <= mtu);
        assert_int_equal(cv_rtp_depack_push(fx->d, h + 4, n, on_frame, &fx->out), 0);
    }
    assert_int_equal(fx->out.n, before + 1);
    assert_frame(fx->out.f[before], au, len);
    cv_wire_free(w);
    cv_frame_unref(f);
    cv_rtp_packer_free(p);
}

static void test_depack_h264_roundtrip_with_packer(void **state)
{
    fixture *fx = *state;
    size_t sizes[] = {1, 2, 100, 1387, 1388, 1389, 1390, 4000, 70000, 300000};
    size_t total = 0;
    for (size_t i = 0; i < CV_ARRAY_LEN(sizes); i++)
        total += 4 + sizes[i];
    uint8_t *au = malloc(total);
    size_t o = 0;
    for (size_t i = 0; i < CV_ARRAY_LEN(sizes); i++) {
        au[o] = (uint8_t)(sizes[i] >> 24);
        au[o + 1] = (uint8_t)(sizes[i] >> 16);
        au[o + 2] = (uint8_t)(sizes[i] >> 8);
        au[o + 3] = (uint8_t)sizes[i];
        au[o + 4] = i == 0 ? 0x67 : (uint8_t)(0x41 | (i & 1) << 5);
        for (size_t k = 1; k < sizes[i]; k++)
            au[o + 4 + k] = (uint8_t)(k * 31 + i);
        o += 4 + sizes[i];
    }
    /* Whole AU, then each NAL as its own AU, across seq and ts wraps. */
    roundtrip(fx, au, total, CV_RTP_DEFAULT_MTU, 65530, 0xfffffff0u);
    cv_rtp_depack_reset(fx->d);
    o = 0;
    for (size_t i = 0; i < CV_ARRAY_LEN(sizes); i++) {
        roundtrip(fx, au + o, 4 + sizes[i], 200, (uint16_t)(65535 + i * 2000), (uint32_t)(i * 3000));
        o += 4 + sizes[i];
        sink_clear(&fx->out);
        cv_rtp_depack_reset(fx->d);
    }
    free(au);
    assert_int_equal(stats(fx).malformed, 0);
    assert_int_equal(stats(fx).lost, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_depack_h264_single_nal_au),
        T(test_depack_h264_au_with_params_is_key),
        T(test_depack_h264_au_ends_on_timestamp_change),
        T(test_depack_h264_stap_a),
        T(test_depack_h264_fu_a_reassembles),
        T(test_depack_h264_fu_a_keeps_nri_and_forbidden_bit),
        T(test_depack_h264_loss_inside_fu_a_marks_corrupt),
        T(test_depack_h264_loss_of_fu_start_drops_orphans),
        T(test_depack_h264_loss_between_aus_taints_next),
        T(test_depack_h264_fu_without_start_is_malformed),
        T(test_depack_h264_fu_with_start_and_end_is_malformed),
        T(test_depack_h264_stap_a_bad_lengths_are_malformed),
        T(test_depack_h264_rejects_interleaved_types_and_short),
        T(test_depack_h264_ignores_undefined_types),
        T(test_depack_h264_any_payload_type_accepted),
        T(test_depack_h264_duplicates_and_late_packets_dropped),
        T(test_depack_h264_seq_wrap_is_not_loss),
        T(test_depack_h264_ts_wrap_forward),
        T(test_depack_h264_ts_wrap_backward),
        T(test_depack_h264_oversized_au_dropped),
        T(test_depack_h264_too_many_nals_dropped),
        T(test_depack_h264_unfinished_fu_then_new_au),
        T(test_depack_h264_big_seq_jump_needs_confirmation),
        T(test_depack_h264_ssrc_change_resyncs),
        T(test_depack_h264_reset_forgets_state),
        T(test_depack_h264_padding_and_extension),
        T(test_depack_h264_roundtrip_with_packer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
