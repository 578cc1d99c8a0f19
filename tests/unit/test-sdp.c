/* Unit tests for src/rtsp/sdp.c: parsing what ffmpeg announces and cameras
 * describe, and the SDP written for viewers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rtsp/sdp.h"

/* Captured from ffmpeg 5.1 (Lavf59.27.100) ANNOUNCE, -f rtsp, h264_aac. */
static const char sdp_ffmpeg_h264_aac[] =
    "v=0\r\n"
    "o=- 0 0 IN IP4 127.0.0.1\r\n"
    "s=No Name\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "a=tool:libavformat LIBAVFORMAT_VERSION\r\n"
    "m=video 0 RTP/AVP 96\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA; profile-level-id=64000D\r\n"
    "a=control:streamid=0\r\n"
    "m=audio 0 RTP/AVP 97\r\n"
    "b=AS:69\r\n"
    "a=rtpmap:97 MPEG4-GENERIC/44100/1\r\n"
    "a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=120856E500\r\n"
    "a=control:streamid=1\r\n"
    ;

/* Captured from ffmpeg 5.1 (Lavf59.27.100) ANNOUNCE, -f rtsp, h265_opus. */
static const char sdp_ffmpeg_h265_opus[] =
    "v=0\r\n"
    "o=- 0 0 IN IP4 127.0.0.1\r\n"
    "s=No Name\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "a=tool:libavformat LIBAVFORMAT_VERSION\r\n"
    "m=video 0 RTP/AVP 96\r\n"
    "a=rtpmap:96 H265/90000\r\n"
    "a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwA8lZgJ; sprop-sps=QgEBAWAAAAMAkAAAAwAAAwA8oAoIDxZZWaSTK8BaAgAAAwACAAADADIQ; sprop-pps=RAHBcrRiQA==\r\n"
    "a=control:streamid=0\r\n"
    "m=audio 0 RTP/AVP 97\r\n"
    "b=AS:64\r\n"
    "a=rtpmap:97 opus/48000/2\r\n"
    "a=control:streamid=1\r\n"
    ;

/* Captured from ffmpeg 5.1 (Lavf59.27.100) ANNOUNCE, -f rtsp, h264_pcmu. */
static const char sdp_ffmpeg_h264_pcmu[] =
    "v=0\r\n"
    "o=- 0 0 IN IP4 127.0.0.1\r\n"
    "s=No Name\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "a=tool:libavformat LIBAVFORMAT_VERSION\r\n"
    "m=video 0 RTP/AVP 96\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA; profile-level-id=64000D\r\n"
    "a=control:streamid=0\r\n"
    "m=audio 0 RTP/AVP 0\r\n"
    "b=AS:64\r\n"
    "a=control:streamid=1\r\n"
    ;

/* Captured from ffmpeg 5.1 (Lavf59.27.100) ANNOUNCE, -f rtsp, h264_pcma. */
static const char sdp_ffmpeg_h264_pcma[] =
    "v=0\r\n"
    "o=- 0 0 IN IP4 127.0.0.1\r\n"
    "s=No Name\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "t=0 0\r\n"
    "a=tool:libavformat LIBAVFORMAT_VERSION\r\n"
    "m=video 0 RTP/AVP 96\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA; profile-level-id=64000D\r\n"
    "a=control:streamid=0\r\n"
    "m=audio 0 RTP/AVP 8\r\n"
    "b=AS:64\r\n"
    "a=control:streamid=1\r\n"
    ;

/* A typical IP camera DESCRIBE (Hikvision/Dahua style): session-level
 * control, absolute track URLs, fmtp before rtpmap, an ONVIF metadata
 * section to skip, unpadded base64, PCMA with an explicit rtpmap. */
static const char sdp_camera[] =
    "v=0\r\n"
    "o=- 1700000000000000 1700000000000000 IN IP4 192.168.1.64\r\n"
    "s=Media Presentation\r\n"
    "e=NONE\r\n"
    "b=AS:5100\r\n"
    "t=0 0\r\n"
    "a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/?transportmode=unicast\r\n"
    "m=video 0 RTP/AVP 96\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "b=AS:5000\r\n"
    "a=recvonly\r\n"
    "a=x-dimensions:1920,1080\r\n"
    "a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast\r\n"
    "a=fmtp:96 profile-level-id=420029; packetization-mode=1; sprop-parameter-sets=Z00AKpWoHgCJ+WbgICAgQA,aO48gA\r\n"
    "a=rtpmap:96 H264/90000\r\n"
    "a=Media_header:MEDIAINFO=494D4B48010300000400000111710110401F000000FA000000000000000000000000000000000000;\r\n"
    "a=appversion:1.0\r\n"
    "m=audio 0 RTP/AVP 8\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "b=AS:50\r\n"
    "a=recvonly\r\n"
    "a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=2?transportmode=unicast\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "m=application 0 RTP/AVP 107\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "b=AS:5000\r\n"
    "a=recvonly\r\n"
    "a=control:rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=4?transportmode=unicast\r\n"
    "a=rtpmap:107 vnd.onvif.metadata/90000\r\n";

static int parse(const char *s, cv_sdp *sdp, char *err, size_t cap) { return cv_sdp_parse(s, strlen(s), sdp, err, cap); }

static const uint8_t ff_sps[] = {0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00,
                                 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x42, 0x99, 0x60};
static const uint8_t ff_pps[] = {0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};

static void check_ffmpeg_h264(const cv_sdp *s)
{
    const cv_track_info *v = &s->tracks[0];
    assert_int_equal(v->kind, CV_MEDIA_VIDEO);
    assert_int_equal(v->codec, CV_CODEC_H264);
    assert_int_equal(v->clock_rate, 90000);
    assert_int_equal(v->payload_type, 96);
    assert_int_equal(v->packetization_mode, 1);
    assert_int_equal(v->sps_len, sizeof(ff_sps));
    assert_memory_equal(v->sps, ff_sps, sizeof(ff_sps));
    assert_int_equal(v->pps_len, sizeof(ff_pps));
    assert_memory_equal(v->pps, ff_pps, sizeof(ff_pps));
    assert_int_equal(v->vps_len, 0);
    assert_string_equal(v->control, "streamid=0");
    assert_string_equal(s->encoding[0], "H264");
}

static void test_sdp_parses_ffmpeg_h264_aac(void **state)
{
    (void)state;
    cv_sdp s;
    char err[128];
    assert_int_equal(parse(sdp_ffmpeg_h264_aac, &s, err, sizeof(err)), 0);
    assert_int_equal(s.ntracks, 2);
    assert_string_equal(s.session_control, "");
    check_ffmpeg_h264(&s);
    const cv_track_info *a = &s.tracks[1];
    assert_int_equal(a->kind, CV_MEDIA_AUDIO);
    assert_int_equal(a->codec, CV_CODEC_AAC);
    assert_int_equal(a->clock_rate, 44100);
    assert_int_equal(a->channels, 1);
    assert_int_equal(a->payload_type, 97);
    static const uint8_t cfg[] = {0x12, 0x08, 0x56, 0xe5, 0x00};
    assert_int_equal(a->aac_config_len, sizeof(cfg));
    assert_memory_equal(a->aac_config, cfg, sizeof(cfg));
    assert_int_equal(a->aac_sizelength, 13);
    assert_int_equal(a->aac_indexlength, 3);
    assert_int_equal(a->aac_indexdeltalength, 3);
    assert_string_equal(a->control, "streamid=1");
    assert_string_equal(s.encoding[1], "MPEG4-GENERIC");
}

static void test_sdp_parses_ffmpeg_h265_opus(void **state)
{
    (void)state;
    cv_sdp s;
    char err[128];
    assert_int_equal(parse(sdp_ffmpeg_h265_opus, &s, err, sizeof(err)), 0);
    assert_int_equal(s.ntracks, 2);
    const cv_track_info *v = &s.tracks[0];
    assert_int_equal(v->codec, CV_CODEC_H265);
    assert_int_equal(v->clock_rate, 90000);
    assert_int_equal(v->vps_len, 24);
    assert_int_equal(v->sps_len, 42);
    assert_int_equal(v->pps_len, 7);
    /* NAL types 32, 33, 34 */
    assert_int_equal((v->vps[0] >> 1) & 0x3f, 32);
    assert_int_equal((v->sps[0] >> 1) & 0x3f, 33);
    assert_int_equal((v->pps[0] >> 1) & 0x3f, 34);
    assert_string_equal(v->control, "streamid=0");
    const cv_track_info *a = &s.tracks[1];
    assert_int_equal(a->codec, CV_CODEC_OPUS);
    assert_int_equal(a->clock_rate, 48000);
    assert_int_equal(a->channels, 2);
    assert_string_equal(s.encoding[1], "opus");
}

static void test_sdp_parses_ffmpeg_static_g711(void **state)
{
    (void)state;
    cv_sdp s;
    char err[128];
    assert_int_equal(parse(sdp_ffmpeg_h264_pcmu, &s, err, sizeof(err)), 0);
    check_ffmpeg_h264(&s);
    assert_int_equal(s.tracks[1].codec, CV_CODEC_PCMU);
    assert_int_equal(s.tracks[1].payload_type, 0);
    assert_int_equal(s.tracks[1].clock_rate, 8000);
    assert_int_equal(s.tracks[1].channels, 1);
    assert_string_equal(s.tracks[1].control, "streamid=1");
    assert_string_equal(s.encoding[1], "PCMU");

    assert_int_equal(parse(sdp_ffmpeg_h264_pcma, &s, err, sizeof(err)), 0);
    check_ffmpeg_h264(&s);
    assert_int_equal(s.tracks[1].codec, CV_CODEC_PCMA);
    assert_int_equal(s.tracks[1].payload_type, 8);
    assert_int_equal(s.tracks[1].clock_rate, 8000);
}

static void test_sdp_parses_camera_describe(void **state)
{
    (void)state;
    cv_sdp s;
    char err[128];
    assert_int_equal(parse(sdp_camera, &s, err, sizeof(err)), 0);
    assert_int_equal(s.ntracks, 2); /* the metadata section is skipped */
    assert_string_equal(s.session_control, "rtsp://192.168.1.64:554/Streaming/Channels/101/?transportmode=unicast");
    const cv_track_info *v = &s.tracks[0];
    assert_int_equal(v->codec, CV_CODEC_H264);
    assert_int_equal(v->packetization_mode, 1);
    assert_int_equal(v->sps_len, 16);
    assert_int_equal(v->sps[0], 0x67);
    assert_int_equal(v->pps_len, 4);
    assert_int_equal(v->pps[0], 0x68);
    assert_string_equal(v->control,
                        "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=1?transportmode=unicast");
    const cv_track_info *a = &s.tracks[1];
    assert_int_equal(a->codec, CV_CODEC_PCMA);
    assert_int_equal(a->clock_rate, 8000);
    assert_int_equal(a->channels, 1);
    assert_string_equal(a->control, "rtsp://192.168.1.64:554/Streaming/Channels/101/trackID=2?transportmode=unicast");
}

static void test_sdp_parses_dynamic_g711_and_bare_lf(void **state)
{
    (void)state;
    /* ffmpeg -c:a pcm_alaw -ar 16000 -ac 2, with bare LF line ends */
    static const char sdp[] = "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=No Name\nc=IN IP4 127.0.0.1\nt=0 0\n"
                              "m=audio 5008 RTP/AVP 97\nb=AS:256\na=rtpmap:97 PCMA/16000/2";
    cv_sdp s;
    char err[128];
    assert_int_equal(parse(sdp, &s, err, sizeof(err)), 0);
    assert_int_equal(s.ntracks, 1);
    assert_int_equal(s.tracks[0].codec, CV_CODEC_PCMA);
    assert_int_equal(s.tracks[0].clock_rate, 16000);
    assert_int_equal(s.tracks[0].channels, 2);
    assert_int_equal(cv_sdp_out_pt(&s.tracks[0], 1), 97);
}

static void test_sdp_keeps_unsupported_codecs_as_unknown(void **state)
{
    (void)state;
    static const char sdp[] = "v=0\r\ns=-\r\nt=0 0\r\n"
                              "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MP4A-LATM/48000/2\r\n"
                              "a=fmtp:97 profile-level-id=1;bitrate=64000;cpresent=0;object=2;config=400024203fc0\r\n"
                              "m=video 0 RTP/AVP 26\r\n"
                              "m=video 0 RTP/AVP 98\r\na=rtpmap:98 H264/90000\r\na=fmtp:98 packetization-mode=2\r\n"
                              "m=audio 0 RTP/AVP 99\r\na=rtpmap:99 mpeg4-generic/16000/1\r\n"
                              "a=fmtp:99 streamtype=5;mode=CELP-cbr;config=440E00;constantSize=27\r\n"
                              "m=audio 0 RTP/AVP 100\r\na=rtpmap:100 H264/90000\r\n";
    cv_sdp s;
    char err[128];
    assert_int_equal(parse(sdp, &s, err, sizeof(err)), 0);
    assert_int_equal(s.ntracks, 5);
    assert_int_equal(s.tracks[0].codec, CV_CODEC_UNKNOWN);
    assert_string_equal(s.encoding[0], "MP4A-LATM");
    assert_int_equal(s.tracks[0].clock_rate, 48000);
    assert_int_equal(s.tracks[0].channels, 2);
    assert_int_equal(s.tracks[1].codec, CV_CODEC_UNKNOWN); /* static JPEG */
    assert_string_equal(s.encoding[1], "JPEG");
    assert_int_equal(s.tracks[1].clock_rate, 90000);
    assert_int_equal(s.tracks[2].codec, CV_CODEC_UNKNOWN); /* interleaved mode */
    assert_string_equal(s.encoding[2], "H264");
    assert_int_equal(s.tracks[3].codec, CV_CODEC_UNKNOWN); /* CELP */
    assert_int_equal(s.tracks[4].codec, CV_CODEC_UNKNOWN); /* video codec in audio */

    /* Static audio payload types in a video section (found by fuzzing). */
    assert_int_equal(parse("m=video 0 RTP/AVP 8\r\n", &s, err, sizeof(err)), 0);
    assert_int_equal(s.tracks[0].kind, CV_MEDIA_VIDEO);
    assert_int_equal(s.tracks[0].codec, CV_CODEC_UNKNOWN);
    assert_int_equal(parse("m=video 0 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\n", &s, err, sizeof(err)), 0);
    assert_int_equal(s.tracks[0].codec, CV_CODEC_UNKNOWN);
}

static void test_sdp_uses_first_format_and_its_attributes(void **state)
{
    (void)state;
    static const char sdp[] = "v=0\r\nm=audio 0 RTP/AVP 0 8 101\r\n"
                              "a=rtpmap:101 telephone-event/8000\r\n"
                              "a=fmtp:101 0-15\r\n"
                              "m=video 0 RTP/AVP 97 96\r\n"
                              "a=rtpmap:96 H265/90000\r\n"
                              "a=rtpmap:97 H264/90000\r\n"
                              "a=fmtp:96 sprop-vps=!!!\r\n"
                              "a=fmtp:97 packetization-mode=0\r\n"
                              "a=fmtp:97 packetization-mode=1\r\n";
    cv_sdp s;
    char err[128];
    assert_int_equal(parse(sdp, &s, err, sizeof(err)), 0);
    assert_int_equal(s.tracks[0].codec, CV_CODEC_PCMU);
    assert_int_equal(s.tracks[1].codec, CV_CODEC_H264);
    assert_int_equal(s.tracks[1].payload_type, 97);
    assert_int_equal(s.tracks[1].packetization_mode, 0); /* first fmtp wins */
}

static void test_sdp_rejects_too_many_media(void **state)
{
    (void)state;
    char buf[2048];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "v=0\r\n");
    for (int i = 0; i <= CV_SDP_MAX_MEDIA; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "m=audio 0 RTP/AVP 0\r\n");
    cv_sdp s;
    char err[128];
    assert_int_equal(cv_sdp_parse(buf, n, &s, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "too many media"));
    /* Exactly the maximum is fine; skipped sections do not count. */
    n = (size_t)snprintf(buf, sizeof(buf), "v=0\r\n");
    for (int i = 0; i < CV_SDP_MAX_MEDIA; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "m=audio 0 RTP/AVP 0\r\nm=application 0 RTP/AVP 107\r\n");
    assert_int_equal(cv_sdp_parse(buf, n, &s, err, sizeof(err)), 0);
    assert_int_equal(s.ntracks, CV_SDP_MAX_MEDIA);
}

static void expect_error(const char *sdp, const char *reason)
{
    cv_sdp s;
    char err[128];
    assert_int_equal(parse(sdp, &s, err, sizeof(err)), -EBADMSG);
    if (!strstr(err, reason))
        fail_msg("error \"%s\" does not mention \"%s\"", err, reason);
}

static void test_sdp_rejects_bad_input(void **state)
{
    (void)state;
    expect_error("", "no audio or video");
    expect_error("v=0\r\ns=x\r\nt=0 0\r\n", "no audio or video");
    expect_error("v=0\r\nm=application 0 RTP/AVP 107\r\n", "no audio or video");
    expect_error("m=video\r\n", "bad m= line");
    expect_error("m=video 0 RTP/AVP\r\n", "bad m= line");
    expect_error("m=video x RTP/AVP 96\r\n", "bad m= line");
    expect_error("m=video 0 RTP/AVP 128\r\n", "bad m= line");
    expect_error("m=video 0 RTP/AVP H264\r\n", "bad m= line");
    expect_error("m=video 0/x RTP/AVP 96\r\n", "bad m= line");
    expect_error("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264\r\n", "bad rtpmap");
    expect_error("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/0\r\n", "bad rtpmap");
    expect_error("m=video 0 RTP/AVP 96\r\na=rtpmap:96 /90000\r\n", "bad rtpmap");
    expect_error("m=audio 0 RTP/AVP 96\r\na=rtpmap:96 opus/48000/0\r\n", "bad rtpmap");
    expect_error("m=audio 0 RTP/AVP 96\r\na=rtpmap:x opus/48000/2\r\n", "bad rtpmap");
    expect_error("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
                 "a=fmtp:96 sprop-parameter-sets=Z2QADaz*ZQUH7,aOvjyyLA\r\n",
                 "base64");
    expect_error("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\na=fmtp:96 sprop-pps=R\r\n", "base64");
    expect_error("m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=x\r\n",
                 "packetization-mode");
    expect_error("m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/1\r\na=fmtp:97 config=1208G6\r\n",
                 "config");
    expect_error("m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/1\r\na=fmtp:97 config=120\r\n", "config");
    expect_error("m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/1\r\na=fmtp:97 sizelength=99\r\n",
                 "sizelength");
    expect_error("m=audio 0 RTP/AVP 97\r\na=fmtp:x config=12\r\n", "bad fmtp");
}

static void test_sdp_rejects_oversized_fields(void **state)
{
    (void)state;
    size_t cap = 20000;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    /* A line over the cap */
    int n = snprintf(buf, cap, "m=audio 0 RTP/AVP 0\r\na=x-junk:");
    memset(buf + n, 'x', 9000);
    buf[n + 9000] = '\0';
    expect_error(buf, "line too long");
    /* fmtp over the cap */
    n = snprintf(buf, cap, "m=video 0 RTP/AVP 96\r\na=fmtp:96 x=");
    memset(buf + n, 'x', 5000);
    buf[n + 5000] = '\0';
    expect_error(buf, "fmtp too long");
    /* a parameter set that cannot fit in CV_MAX_PARAM_SET */
    n = snprintf(buf, cap, "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 sprop-parameter-sets=");
    memset(buf + n, 'A', 1024);
    buf[n + 1024] = '\0';
    expect_error(buf, "too large");
    /* control over 255 bytes */
    n = snprintf(buf, cap, "m=video 0 RTP/AVP 96\r\na=control:");
    memset(buf + n, 'c', 256);
    buf[n + 256] = '\0';
    expect_error(buf, "control too long");
    /* a whole description over 64 KiB */
    free(buf);
    cap = 70000;
    buf = malloc(cap);
    if (!buf)
        abort();
    memset(buf, '\n', cap);
    cv_sdp s;
    char err[64];
    assert_int_equal(cv_sdp_parse(buf, cap, &s, err, sizeof(err)), -EBADMSG);
    free(buf);
}

static void test_sdp_tolerates_noise(void **state)
{
    (void)state;
    /* Blank lines, junk lines, attributes without values, no error buffer. */
    static const char sdp[] = "\r\n\r\nv=0\r\njunk\r\nx\r\n=\r\na=recvonly\r\n"
                              "m=video 0 RTP/AVP 96\r\n\r\na=fmtp:96\r\na=rtpmap:96 H264/90000\r\na=control\r\n"
                              "a=fmtp:96 ;;packetization-mode=1;;sprop-parameter-sets=,Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,"
                              ";foo;=bar\r\n";
    cv_sdp s;
    assert_int_equal(cv_sdp_parse(sdp, strlen(sdp), &s, NULL, 0), 0);
    assert_int_equal(s.tracks[0].codec, CV_CODEC_H264);
    assert_int_equal(s.tracks[0].sps_len, sizeof(ff_sps));
    assert_int_equal(s.tracks[0].pps_len, 0);
    assert_string_equal(s.tracks[0].control, "");
}

static void test_sdp_out_pt(void **state)
{
    (void)state;
    cv_track_info t = {.kind = CV_MEDIA_AUDIO, .codec = CV_CODEC_PCMU, .clock_rate = 8000, .channels = 1};
    assert_int_equal(cv_sdp_out_pt(&t, 1), 0);
    t.codec = CV_CODEC_PCMA;
    assert_int_equal(cv_sdp_out_pt(&t, 1), 8);
    t.channels = 2;
    assert_int_equal(cv_sdp_out_pt(&t, 1), 97);
    t.channels = 0;
    t.clock_rate = 16000;
    assert_int_equal(cv_sdp_out_pt(&t, 2), 98);
    t.codec = CV_CODEC_H264;
    assert_int_equal(cv_sdp_out_pt(&t, 0), 96);
}

static void build_str(cv_sbuf *b, const cv_track_info *t, size_t n, const char *addr, const char *name)
{
    cv_sbuf_init(b);
    cv_sdp_build(b, t, n, addr, name);
    assert_true(cv_sbuf_ok(b));
}

/* Skips the o= line, whose session id is a content hash. */
static const char *after_origin(const char *sdp)
{
    const char *s = strstr(sdp, "\r\ns=");
    assert_non_null(s);
    return s + 2;
}

static void test_sdp_builds_h264_aac(void **state)
{
    (void)state;
    cv_sdp in;
    char err[128];
    assert_int_equal(parse(sdp_ffmpeg_h264_aac, &in, err, sizeof(err)), 0);
    cv_sbuf b;
    build_str(&b, in.tracks, in.ntracks, "192.168.1.10", "camvault");
    assert_memory_equal(b.p, "v=0\r\no=- ", 9);
    assert_non_null(strstr(b.p, " 1 IN IP4 192.168.1.10\r\n"));
    assert_string_equal(after_origin(b.p),
                        "s=camvault\r\n"
                        "c=IN IP4 192.168.1.10\r\n"
                        "t=0 0\r\n"
                        "a=control:*\r\n"
                        "m=video 0 RTP/AVP 96\r\n"
                        "a=rtpmap:96 H264/90000\r\n"
                        "a=fmtp:96 packetization-mode=1;profile-level-id=64000D;"
                        "sprop-parameter-sets=Z2QADazZQUH7ARAAAAMAEAAAAwMg8UKZYA==,aOvjyyLA\r\n"
                        "a=control:trackID=0\r\n"
                        "m=audio 0 RTP/AVP 97\r\n"
                        "a=rtpmap:97 mpeg4-generic/44100/1\r\n"
                        "a=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"
                        "indexdeltalength=3;config=120856e500\r\n"
                        "a=control:trackID=1\r\n");
    /* Same content, same session id. */
    cv_sbuf b2;
    build_str(&b2, in.tracks, in.ntracks, "192.168.1.10", "camvault");
    assert_string_equal(b.p, b2.p);
    cv_sbuf_free(&b);
    cv_sbuf_free(&b2);
}

static void test_sdp_builds_h265_opus_g711(void **state)
{
    (void)state;
    cv_sdp in;
    char err[128];
    assert_int_equal(parse(sdp_ffmpeg_h265_opus, &in, err, sizeof(err)), 0);
    cv_track_info t[3];
    t[0] = in.tracks[0];
    t[1] = in.tracks[1];
    memset(&t[2], 0, sizeof(t[2]));
    t[2].kind = CV_MEDIA_AUDIO;
    t[2].codec = CV_CODEC_PCMA;
    t[2].clock_rate = 8000;
    t[2].channels = 1;
    cv_sbuf b;
    build_str(&b, t, 3, NULL, NULL);
    assert_string_equal(after_origin(b.p),
                        "s=camvault\r\n"
                        "c=IN IP4 0.0.0.0\r\n"
                        "t=0 0\r\n"
                        "a=control:*\r\n"
                        "m=video 0 RTP/AVP 96\r\n"
                        "a=rtpmap:96 H265/90000\r\n"
                        "a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwA8lZgJ;"
                        "sprop-sps=QgEBAWAAAAMAkAAAAwAAAwA8oAoIDxZZWaSTK8BaAgAAAwACAAADADIQ;sprop-pps=RAHBcrRiQA==\r\n"
                        "a=control:trackID=0\r\n"
                        "m=audio 0 RTP/AVP 97\r\n"
                        "a=rtpmap:97 opus/48000/2\r\n"
                        "a=control:trackID=1\r\n"
                        "m=audio 0 RTP/AVP 8\r\n"
                        "a=rtpmap:8 PCMA/8000\r\n"
                        "a=control:trackID=2\r\n");
    cv_sbuf_free(&b);
}

static void test_sdp_build_omits_unknown_parts(void **state)
{
    (void)state;
    cv_track_info t[4];
    memset(t, 0, sizeof(t));
    t[0].kind = CV_MEDIA_VIDEO;
    t[0].codec = CV_CODEC_H264; /* no SPS/PPS yet */
    t[1].kind = CV_MEDIA_VIDEO;
    t[1].codec = CV_CODEC_H265;
    t[2].kind = CV_MEDIA_AUDIO;
    t[2].codec = CV_CODEC_AAC; /* no config, no clock: 44100 */
    t[3].kind = CV_MEDIA_AUDIO;
    t[3].codec = CV_CODEC_UNKNOWN; /* skipped, indices unchanged */
    cv_sbuf b;
    build_str(&b, t, 4, "::1", "cam\r\nx=evil");
    assert_non_null(strstr(b.p, " 1 IN IP6 ::1\r\n"));
    assert_string_equal(after_origin(b.p),
                        "s=camx=evil\r\n"
                        "c=IN IP6 ::1\r\n"
                        "t=0 0\r\n"
                        "a=control:*\r\n"
                        "m=video 0 RTP/AVP 96\r\n"
                        "a=rtpmap:96 H264/90000\r\n"
                        "a=fmtp:96 packetization-mode=1\r\n"
                        "a=control:trackID=0\r\n"
                        "m=video 0 RTP/AVP 97\r\n"
                        "a=rtpmap:97 H265/90000\r\n"
                        "a=control:trackID=1\r\n"
                        "m=audio 0 RTP/AVP 98\r\n"
                        "a=rtpmap:98 mpeg4-generic/44100/1\r\n"
                        "a=fmtp:98 streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"
                        "indexdeltalength=3\r\n"
                        "a=control:trackID=2\r\n");
    cv_sbuf_free(&b);
}

/* Everything a viewer needs survives parse -> build -> parse. */
static void check_round_trip(const char *src)
{
    cv_sdp a, b;
    char err[128];
    assert_int_equal(parse(src, &a, err, sizeof(err)), 0);
    cv_sbuf out;
    build_str(&out, a.tracks, a.ntracks, "10.0.0.1", "rt");
    assert_int_equal(cv_sdp_parse(out.p, out.len, &b, err, sizeof(err)), 0);
    assert_int_equal(a.ntracks, b.ntracks);
    assert_string_equal(b.session_control, "*");
    for (size_t i = 0; i < a.ntracks; i++) {
        const cv_track_info *x = &a.tracks[i], *y = &b.tracks[i];
        char ctl[32];
        snprintf(ctl, sizeof(ctl), "trackID=%zu", i);
        assert_int_equal(x->kind, y->kind);
        assert_int_equal(x->codec, y->codec);
        assert_int_equal(x->clock_rate, y->clock_rate);
        assert_int_equal(x->channels, y->channels);
        assert_int_equal(y->payload_type, cv_sdp_out_pt(x, i));
        assert_string_equal(y->control, ctl);
        assert_int_equal(x->vps_len, y->vps_len);
        assert_memory_equal(x->vps, y->vps, x->vps_len);
        assert_int_equal(x->sps_len, y->sps_len);
        assert_memory_equal(x->sps, y->sps, x->sps_len);
        assert_int_equal(x->pps_len, y->pps_len);
        assert_memory_equal(x->pps, y->pps, x->pps_len);
        assert_int_equal(x->aac_config_len, y->aac_config_len);
        assert_memory_equal(x->aac_config, y->aac_config, x->aac_config_len);
        if (y->codec == CV_CODEC_H264)
            assert_int_equal(y->packetization_mode, 1);
        if (y->codec == CV_CODEC_AAC) {
            assert_int_equal(y->aac_sizelength, 13);
            assert_int_equal(y->aac_indexlength, 3);
            assert_int_equal(y->aac_indexdeltalength, 3);
        }
    }
    cv_sbuf_free(&out);
}

static void test_sdp_round_trip_preserves_tracks(void **state)
{
    (void)state;
    check_round_trip(sdp_ffmpeg_h264_aac);
    check_round_trip(sdp_ffmpeg_h265_opus);
    check_round_trip(sdp_ffmpeg_h264_pcmu);
    check_round_trip(sdp_ffmpeg_h264_pcma);
    check_round_trip(sdp_camera);
    check_round_trip("m=audio 0 RTP/AVP 97\r\na=rtpmap:97 PCMA/16000/2\r\n");
    check_round_trip("m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\n"
                     "a=fmtp:97 profile-level-id=1;mode=AAC-lbr;sizelength=6;indexlength=2;indexdeltalength=2;"
                     "config=1190\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdp_parses_ffmpeg_h264_aac),
        cmocka_unit_test(test_sdp_parses_ffmpeg_h265_opus),
        cmocka_unit_test(test_sdp_parses_ffmpeg_static_g711),
        cmocka_unit_test(test_sdp_parses_camera_describe),
        cmocka_unit_test(test_sdp_parses_dynamic_g711_and_bare_lf),
        cmocka_unit_test(test_sdp_keeps_unsupported_codecs_as_unknown),
        cmocka_unit_test(test_sdp_uses_first_format_and_its_attributes),
        cmocka_unit_test(test_sdp_rejects_too_many_media),
        cmocka_unit_test(test_sdp_rejects_bad_input),
        cmocka_unit_test(test_sdp_rejects_oversized_fields),
        cmocka_unit_test(test_sdp_tolerates_noise),
        cmocka_unit_test(test_sdp_out_pt),
        cmocka_unit_test(test_sdp_builds_h264_aac),
        cmocka_unit_test(test_sdp_builds_h265_opus_g711),
        cmocka_unit_test(test_sdp_build_omits_unknown_parts),
        cmocka_unit_test(test_sdp_round_trip_preserves_tracks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
