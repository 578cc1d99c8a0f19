/* Fuzzes the SDP parser, then checks that what cv_sdp_build writes for the
 * parsed tracks parses again to the same tracks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtsp/sdp.h"

#include "fuzz-check.h"

static bool cstr_ok(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cv_sdp a, b;
    char err[96];
    if (cv_sdp_parse((const char *)data, size, &a, err, sizeof(err)) < 0) {
        CHECK(err[0] != '\0');
        return 0;
    }
    CHECK(a.ntracks > 0 && a.ntracks <= CV_SDP_MAX_MEDIA);
    CHECK(cstr_ok(a.session_control, sizeof(a.session_control)));
    size_t known = 0;
    for (size_t i = 0; i < a.ntracks; i++) {
        const cv_track_info *t = &a.tracks[i];
        CHECK(t->kind == CV_MEDIA_VIDEO || t->kind == CV_MEDIA_AUDIO);
        CHECK(t->vps_len <= CV_MAX_PARAM_SET && t->sps_len <= CV_MAX_PARAM_SET && t->pps_len <= CV_MAX_PARAM_SET);
        CHECK(t->aac_config_len <= sizeof(t->aac_config));
        CHECK(cstr_ok(t->control, sizeof(t->control)) && cstr_ok(a.encoding[i], sizeof(a.encoding[i])));
        CHECK(t->payload_type < 128);
        if (t->codec != CV_CODEC_UNKNOWN)
            known++;
    }

    cv_sbuf out;
    cv_sbuf_init(&out);
    cv_sdp_build(&out, a.tracks, a.ntracks, "192.0.2.1", "fuzz");
    CHECK(cv_sbuf_ok(&out));
    if (known == 0) {
        CHECK(cv_sdp_parse(out.p, out.len, &b, err, sizeof(err)) < 0);
        cv_sbuf_free(&out);
        return 0;
    }
    CHECK(cv_sdp_parse(out.p, out.len, &b, err, sizeof(err)) == 0);
    CHECK(b.ntracks == known);
    CHECK(strcmp(b.session_control, "*") == 0);
    size_t j = 0;
    for (size_t i = 0; i < a.ntracks; i++) {
        const cv_track_info *x = &a.tracks[i];
        if (x->codec == CV_CODEC_UNKNOWN)
            continue;
        const cv_track_info *y = &b.tracks[j++];
        CHECK(x->kind == y->kind && x->codec == y->codec);
        CHECK(y->payload_type == cv_sdp_out_pt(x, i));
        /* Video clocks and Opus' 48000/2 are fixed by their RTP payload
         * formats; the rest must survive. */
        if (x->kind == CV_MEDIA_AUDIO && x->codec != CV_CODEC_OPUS) {
            CHECK(x->clock_rate == y->clock_rate);
            CHECK((x->channels ? x->channels : 1) == y->channels);
        }
        CHECK(x->vps_len == y->vps_len && memcmp(x->vps, y->vps, x->vps_len) == 0);
        CHECK(x->sps_len == y->sps_len && memcmp(x->sps, y->sps, x->sps_len) == 0);
        CHECK(x->pps_len == y->pps_len && memcmp(x->pps, y->pps, x->pps_len) == 0);
        CHECK(x->aac_config_len == y->aac_config_len && memcmp(x->aac_config, y->aac_config, x->aac_config_len) == 0);
    }
    cv_sbuf_free(&out);
    return 0;
}
