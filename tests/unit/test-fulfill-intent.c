/* Unit tests for src/fulfill/intent.c: the Google smart home and Alexa
 * directive parsers (shapes from the partners' documentation). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fulfill/intent.h"

static cv_google_req G;
static cv_alexa_req A;

static int gparse(const char *s, const char **err) { return cv_google_parse(s, strlen(s), &G, err); }
static int aparse(const char *s, const char **err) { return cv_alexa_parse(s, strlen(s), &A, err); }

static void printable(const char *e)
{
    assert_non_null(e);
    assert_true(strlen(e) > 0);
    for (; *e; e++)
        assert_true(*e >= 0x20 && *e <= 0x7e);
}

static void test_google_sync_disconnect(void **state)
{
    (void)state;
    const char *err = "x";
    assert_int_equal(gparse("{\"requestId\":\"ff36a3cc-ec34-11e6-b1a0-64510650abcf\","
                            "\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}",
                            &err),
                     0);
    assert_null(err);
    assert_string_equal(G.request_id, "ff36a3cc-ec34-11e6-b1a0-64510650abcf");
    assert_int_equal(G.intent, CV_GOOGLE_SYNC);
    assert_int_equal(G.ndevices, 0);
    assert_int_equal(gparse("{\"requestId\":\"r1\",\"inputs\":[{\"intent\":\"action.devices.DISCONNECT\"}]}", &err),
                     0);
    assert_int_equal(G.intent, CV_GOOGLE_DISCONNECT);
    assert_string_equal(cv_google_intent_name(CV_GOOGLE_QUERY), "action.devices.QUERY");
}

static void test_google_query(void **state)
{
    (void)state;
    const char *err;
    assert_int_equal(gparse("{\"requestId\":\"ff36a3cc\",\"inputs\":[{\"intent\":\"action.devices.QUERY\","
                            "\"payload\":{\"devices\":[{\"id\":\"123\",\"customData\":{\"fooValue\":74,"
                            "\"barValue\":true,\"bazValue\":\"foo\"}},{\"id\":\"456\"}]}}]}",
                            &err),
                     0);
    assert_int_equal(G.intent, CV_GOOGLE_QUERY);
    assert_int_equal(G.ndevices, 2);
    assert_string_equal(G.devices[0], "123");
    assert_string_equal(G.devices[1], "456");
    /* no payload, empty devices, id not a string */
    assert_int_equal(gparse("{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.QUERY\"}]}", &err),
                     -EINVAL);
    printable(err);
    assert_string_equal(G.request_id, "r"); /* kept for the error answer */
    assert_int_equal(G.intent, CV_GOOGLE_QUERY);
    assert_int_equal(
        gparse("{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.QUERY\",\"payload\":{\"devices\":[]}}]}",
               &err),
        -EINVAL);
    assert_int_equal(gparse("{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.QUERY\","
                            "\"payload\":{\"devices\":[{\"id\":7}]}}]}",
                            &err),
                     -EINVAL);
    printable(err);
    assert_int_equal(G.ndevices, 0);
}

static void test_google_execute(void **state)
{
    (void)state;
    const char *err;
    assert_int_equal(
        gparse("{\"requestId\":\"ff36a3cc-ec34-11e6-b1a0-64510650abcf\",\"inputs\":[{\"intent\":"
               "\"action.devices.EXECUTE\",\"payload\":{\"commands\":[{\"devices\":[{\"id\":\"123\",\"customData\":"
               "{\"fooValue\":74}}],\"execution\":[{\"command\":\"action.devices.commands.GetCameraStream\","
               "\"params\":{\"StreamToChromecast\":true,\"SupportedStreamProtocols\":[\"progressive_mp4\",\"hls\","
               "\"dash\",\"smooth_stream\",\"webrtc\",\"rtsp\"]}}]},{\"devices\":[{\"id\":\"a\"},{\"id\":\"b\"}],"
               "\"execution\":[{\"command\":\"action.devices.commands.OnOff\",\"params\":{\"on\":true}},"
               "{\"command\":\"action.devices.commands.GetCameraStream\",\"params\":{\"StreamToChromecast\":false,"
               "\"SupportedStreamProtocols\":[\"dash\"]}}]},{\"devices\":[{\"id\":\"c\"}],\"execution\":"
               "[{\"command\":\"action.devices.commands.GetCameraStream\"}]}]}}]}",
               &err),
        0);
    assert_int_equal(G.intent, CV_GOOGLE_EXECUTE);
    assert_int_equal(G.ncmds, 3);
    assert_int_equal(G.ndevices, 4);
    const cv_google_cmd *c = &G.cmds[0];
    assert_int_equal(c->dev_first, 0);
    assert_int_equal(c->ndev, 1);
    assert_string_equal(G.devices[0], "123");
    assert_int_equal(c->nexec, 1);
    assert_true(c->exec[0].stream);
    assert_true(c->exec[0].has_chromecast && c->exec[0].to_chromecast);
    assert_true(c->exec[0].has_protocols);
    assert_int_equal(c->exec[0].protocols, CV_GPROTO_HLS | CV_GPROTO_DASH | CV_GPROTO_SMOOTH |
                                               CV_GPROTO_PROGRESSIVE_MP4 | CV_GPROTO_WEBRTC);
    c = &G.cmds[1];
    assert_int_equal(c->dev_first, 1);
    assert_int_equal(c->ndev, 2);
    assert_string_equal(G.devices[2], "b");
    assert_int_equal(c->nexec, 2);
    assert_false(c->exec[0].stream);
    assert_string_equal(c->exec[0].command, "action.devices.commands.OnOff");
    assert_true(c->exec[1].stream);
    assert_true(c->exec[1].has_chromecast && !c->exec[1].to_chromecast);
    assert_int_equal(c->exec[1].protocols, CV_GPROTO_DASH);
    c = &G.cmds[2];
    assert_true(c->exec[0].stream);
    assert_false(c->exec[0].has_protocols);
    assert_false(c->exec[0].has_chromecast);
    assert_int_equal(c->exec[0].protocols, 0);

    /* empty protocol list: given, nothing known */
    assert_int_equal(gparse("{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\",\"payload\":"
                            "{\"commands\":[{\"devices\":[{\"id\":\"x\"}],\"execution\":[{\"command\":"
                            "\"action.devices.commands.GetCameraStream\",\"params\":{\"SupportedStreamProtocols\":"
                            "[\"HLS\",\"hls \"]}}]}]}}]}",
                            &err),
                     0);
    assert_true(G.cmds[0].exec[0].has_protocols);
    assert_int_equal(G.cmds[0].exec[0].protocols, 0);
}

static void test_google_wrong_types(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}",                           /* no requestId */
        "{\"requestId\":5,\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}",           /* not a string */
        "{\"requestId\":\"\",\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}",        /* empty */
        "{\"requestId\":\"a\\nb\",\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}",   /* control */
        "{\"requestId\":\"r\"}",                                                         /* no inputs */
        "{\"requestId\":\"r\",\"inputs\":{}}",                                           /* not an array */
        "{\"requestId\":\"r\",\"inputs\":[]}",                                           /* empty */
        "{\"requestId\":\"r\",\"inputs\":[5]}",                                          /* not an object */
        "{\"requestId\":\"r\",\"inputs\":[{\"intent\":true}]}",                          /* intent type */
        "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.REBOOT\"}]}",     /* unknown intent */
        "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.SYNC\",\"payload\":[]}]}",
        "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\",\"payload\":{}}]}",
        "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\",\"payload\":{\"commands\":[{"
        "\"devices\":[{\"id\":\"x\"}],\"execution\":[]}]}}]}",
        "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\",\"payload\":{\"commands\":[{"
        "\"devices\":[{\"id\":\"x\"}],\"execution\":[{\"command\":\"action.devices.commands.GetCameraStream\","
        "\"params\":{\"StreamToChromecast\":\"yes\"}}]}]}}]}",
        "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\",\"payload\":{\"commands\":[{"
        "\"devices\":[{\"id\":\"x\"}],\"execution\":[{\"command\":\"action.devices.commands.GetCameraStream\","
        "\"params\":{\"SupportedStreamProtocols\":\"hls\"}}]}]}}]}",
        "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\",\"payload\":{\"commands\":[{"
        "\"devices\":[{\"id\":\"x\"}],\"execution\":[{\"command\":\"action.devices.commands.GetCameraStream\","
        "\"params\":{\"SupportedStreamProtocols\":[\"hls\",1]}}]}]}}]}",
        "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\",\"payload\":{\"commands\":[{"
        "\"devices\":[{\"id\":\"x\"}],\"execution\":[{\"params\":{}}]}]}}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *err = NULL;
        int rc = gparse(bad[i], &err);
        if (rc != -EINVAL)
            fail_msg("case %zu: %d", i, rc);
        printable(err);
        assert_int_equal(G.ndevices, 0);
        assert_int_equal(G.ncmds, 0);
    }
}

static void test_google_not_json_and_duplicates(void **state)
{
    (void)state;
    const char *err;
    static const char *const bad[] = {
        "", "null", "[]", "\"x\"", "{", "{\"requestId\":\"r\"", "not json",
        "{\"requestId\":\"r\",\"requestId\":\"s\",\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}",
        "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.SYNC\",\"intent\":\"action.devices.SYNC\"}]}",
        "{\"requestId\":\"a\\u0000b\",\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}",
        "{\"requestId\":\"\xff\",\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = gparse(bad[i], &err);
        if (rc != -EBADMSG)
            fail_msg("case %zu: %d", i, rc);
        printable(err);
        assert_string_equal(G.request_id, "");
    }
    /* explicit length: trailing bytes past len are not read */
    const char *s = "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}GARBAGE";
    assert_int_equal(cv_google_parse(s, strlen(s) - 7, &G, &err), 0);
    assert_int_equal(cv_google_parse(s, strlen(s), &G, &err), -EBADMSG);
    assert_int_equal(cv_google_parse(NULL, 0, &G, &err), -EBADMSG);
}

static char *big_devices(size_t n, const char *prefix)
{
    size_t cap = 256 + n * 300;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t o = (size_t)snprintf(s, cap, "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.QUERY\","
                                        "\"payload\":{\"devices\":[");
    for (size_t i = 0; i < n; i++) {
        o += (size_t)snprintf(s + o, cap - o, "%s{\"id\":\"", i ? "," : "");
        o += (size_t)snprintf(s + o, cap - o, "%s%d", prefix, (int)i);
        o += (size_t)snprintf(s + o, cap - o, "\"}");
    }
    snprintf(s + o, cap - o, "]}}]}");
    return s;
}

static void test_google_caps(void **state)
{
    (void)state;
    const char *err;
    char *s = big_devices(CV_INTENT_DEVICES_MAX, "d");
    assert_int_equal(gparse(s, &err), 0);
    assert_int_equal(G.ndevices, CV_INTENT_DEVICES_MAX);
    free(s);
    s = big_devices(CV_INTENT_DEVICES_MAX + 1, "d");
    assert_int_equal(gparse(s, &err), -EINVAL);
    printable(err);
    free(s);
    /* id length: 128 ok, 129 refused */
    char fmt[160];
    memset(fmt, 'a', 127);
    fmt[127] = 0;
    s = big_devices(1, fmt); /* 127 + "0" = 128 */
    assert_int_equal(gparse(s, &err), 0);
    assert_int_equal(strlen(G.devices[0]), 128);
    free(s);
    s = big_devices(11, fmt); /* the 11th is 129 bytes */
    assert_int_equal(gparse(s, &err), -EINVAL);
    free(s);
    /* requestId cap */
    char rid[400];
    memset(rid, 'r', 129);
    rid[129] = 0;
    char body[600];
    snprintf(body, sizeof(body), "{\"requestId\":\"%s\",\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}", rid);
    assert_int_equal(gparse(body, &err), -EINVAL);
    rid[128] = 0;
    snprintf(body, sizeof(body), "{\"requestId\":\"%s\",\"inputs\":[{\"intent\":\"action.devices.SYNC\"}]}", rid);
    assert_int_equal(gparse(body, &err), 0);
    /* 17 commands, 9 executions, 17 protocols */
    char *b = malloc(8192);
    assert_non_null(b);
    size_t o = (size_t)sprintf(b, "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\","
                                  "\"payload\":{\"commands\":[");
    for (int i = 0; i < CV_INTENT_COMMANDS_MAX + 1; i++)
        o += (size_t)sprintf(b + o, "%s{\"devices\":[{\"id\":\"x\"}],\"execution\":[{\"command\":\"c\"}]}",
                             i ? "," : "");
    sprintf(b + o, "]}}]}");
    assert_int_equal(gparse(b, &err), -EINVAL);
    printable(err);
    o = (size_t)sprintf(b, "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\","
                           "\"payload\":{\"commands\":[{\"devices\":[{\"id\":\"x\"}],\"execution\":[");
    for (int i = 0; i < CV_INTENT_EXECS_MAX + 1; i++)
        o += (size_t)sprintf(b + o, "%s{\"command\":\"c\"}", i ? "," : "");
    sprintf(b + o, "]}]}}]}");
    assert_int_equal(gparse(b, &err), -EINVAL);
    o = (size_t)sprintf(b, "{\"requestId\":\"r\",\"inputs\":[{\"intent\":\"action.devices.EXECUTE\","
                           "\"payload\":{\"commands\":[{\"devices\":[{\"id\":\"x\"}],\"execution\":[{\"command\":"
                           "\"action.devices.commands.GetCameraStream\",\"params\":{\"SupportedStreamProtocols\":[");
    for (int i = 0; i < CV_INTENT_PROTOS_MAX + 1; i++)
        o += (size_t)sprintf(b + o, "%s\"hls\"", i ? "," : "");
    sprintf(b + o, "]}}]}]}}]}");
    assert_int_equal(gparse(b, &err), -EINVAL);
    free(b);
}

/* ------------------------------------------------------------------ Alexa */

#define DISCOVER                                                                                             \
    "{\"directive\":{\"header\":{\"namespace\":\"Alexa.Discovery\",\"name\":\"Discover\",\"payloadVersion\":\"3\"," \
    "\"messageId\":\"1bd5d003-31b9-476f-ad03-71d471922820\"},\"payload\":{\"scope\":{\"type\":\"BearerToken\","  \
    "\"token\":\"access-token-from-skill\"}}}}"

static void test_alexa_discover(void **state)
{
    (void)state;
    const char *err;
    assert_int_equal(aparse(DISCOVER, &err), 0);
    assert_int_equal(A.kind, CV_ALEXA_DISCOVER);
    assert_string_equal(A.message_id, "1bd5d003-31b9-476f-ad03-71d471922820");
    assert_string_equal(A.token, "access-token-from-skill");
    assert_false(A.has_endpoint);
    assert_false(A.has_correlation);
    /* missing token: parses, token empty (the Authorization header may carry it) */
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.Discovery\",\"name\":\"Discover\","
                            "\"payloadVersion\":\"3\",\"messageId\":\"m\"},\"payload\":{}}}",
                            &err),
                     0);
    assert_string_equal(A.token, "");
    /* a scope of another type, or a token with a space */
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.Discovery\",\"name\":\"Discover\","
                            "\"payloadVersion\":\"3\",\"messageId\":\"m\"},\"payload\":{\"scope\":{\"type\":"
                            "\"Basic\",\"token\":\"t\"}}}}",
                            &err),
                     -EINVAL);
    printable(err);
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.Discovery\",\"name\":\"Discover\","
                            "\"payloadVersion\":\"3\",\"messageId\":\"m\"},\"payload\":{\"scope\":{\"type\":"
                            "\"BearerToken\",\"token\":\"a b\"}}}}",
                            &err),
                     -EINVAL);
    assert_string_equal(A.token, "");
    /* payloadVersion 2 */
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.Discovery\",\"name\":\"Discover\","
                            "\"payloadVersion\":\"2\",\"messageId\":\"m\"},\"payload\":{}}}",
                            &err),
                     -EINVAL);
}

#define INIT_STREAMS                                                                                              \
    "{\"directive\":{\"header\":{\"namespace\":\"Alexa.CameraStreamController\",\"name\":"                        \
    "\"InitializeCameraStreams\",\"payloadVersion\":\"3\",\"messageId\":\"abc-123-def-456\",\"correlationToken\":" \
    "\"dFMb0z+PgpgdDmluhJ1LddFvSqZ/jCc8ptlAKulUj90jSqg==\"},\"endpoint\":{\"endpointId\":\"appliance-001\","       \
    "\"scope\":{\"type\":\"BearerToken\",\"token\":\"access-token-from-skill\"},\"cookie\":{}},\"payload\":{"      \
    "\"cameraStreams\":[{\"protocol\":\"RTSP\",\"resolution\":{\"width\":1920,\"height\":1080},"                  \
    "\"authorizationType\":\"BASIC\",\"videoCodec\":\"H264\",\"audioCodec\":\"AAC\"},{\"protocol\":\"RTSP\","     \
    "\"resolution\":{\"width\":1280,\"height\":720},\"authorizationType\":\"NONE\",\"videoCodec\":\"MPEG2\","      \
    "\"audioCodec\":\"G711\"}]}}}"

static void test_alexa_init_streams(void **state)
{
    (void)state;
    const char *err;
    assert_int_equal(aparse(INIT_STREAMS, &err), 0);
    assert_int_equal(A.kind, CV_ALEXA_INIT_STREAMS);
    assert_true(A.has_correlation);
    assert_string_equal(A.correlation_token, "dFMb0z+PgpgdDmluhJ1LddFvSqZ/jCc8ptlAKulUj90jSqg==");
    assert_true(A.has_endpoint);
    assert_string_equal(A.endpoint_id, "appliance-001");
    assert_string_equal(A.token, "access-token-from-skill");
    assert_int_equal(A.nstreams, 2);
    assert_string_equal(A.streams[0].protocol, "RTSP");
    assert_int_equal(A.streams[0].width, 1920);
    assert_int_equal(A.streams[0].height, 1080);
    assert_string_equal(A.streams[0].auth_type, "BASIC");
    assert_string_equal(A.streams[1].video_codec, "MPEG2");
    assert_string_equal(A.streams[1].audio_codec, "G711");

    /* no endpoint, no cameraStreams, bad resolution, too many streams */
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.CameraStreamController\",\"name\":"
                            "\"InitializeCameraStreams\",\"payloadVersion\":\"3\",\"messageId\":\"m\"},"
                            "\"payload\":{\"cameraStreams\":[{\"protocol\":\"RTSP\"}]}}}",
                            &err),
                     -EINVAL);
    printable(err);
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.CameraStreamController\",\"name\":"
                            "\"InitializeCameraStreams\",\"payloadVersion\":\"3\",\"messageId\":\"m\"},"
                            "\"endpoint\":{\"endpointId\":\"e\"},\"payload\":{}}}",
                            &err),
                     -EINVAL);
    assert_string_equal(A.endpoint_id, "e"); /* kept for the error answer */
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.CameraStreamController\",\"name\":"
                            "\"InitializeCameraStreams\",\"payloadVersion\":\"3\",\"messageId\":\"m\"},"
                            "\"endpoint\":{\"endpointId\":\"e\"},\"payload\":{\"cameraStreams\":[{\"protocol\":"
                            "\"RTSP\",\"resolution\":{\"width\":1.5,\"height\":2}}]}}}",
                            &err),
                     -EINVAL);
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.CameraStreamController\",\"name\":"
                            "\"InitializeCameraStreams\",\"payloadVersion\":\"3\",\"messageId\":\"m\"},"
                            "\"endpoint\":{\"endpointId\":\"e\"},\"payload\":{\"cameraStreams\":[{\"protocol\":"
                            "\"RTSP\",\"resolution\":{\"width\":0,\"height\":2}}]}}}",
                            &err),
                     -EINVAL);
    char b[2048];
    size_t o = (size_t)sprintf(b, "{\"directive\":{\"header\":{\"namespace\":\"Alexa.CameraStreamController\","
                                  "\"name\":\"InitializeCameraStreams\",\"payloadVersion\":\"3\",\"messageId\":\"m\"},"
                                  "\"endpoint\":{\"endpointId\":\"e\"},\"payload\":{\"cameraStreams\":[");
    for (int i = 0; i < CV_INTENT_STREAMS_MAX + 1; i++)
        o += (size_t)sprintf(b + o, "%s{\"protocol\":\"RTSP\"}", i ? "," : "");
    sprintf(b + o, "]}}}");
    assert_int_equal(aparse(b, &err), -EINVAL);
    printable(err);
    assert_int_equal(A.nstreams, 0);
}

static void test_alexa_unknown_and_malformed(void **state)
{
    (void)state;
    const char *err;
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.PowerController\",\"name\":"
                            "\"TurnOn\",\"payloadVersion\":\"3\",\"messageId\":\"m1\",\"correlationToken\":\"ct\"},"
                            "\"endpoint\":{\"endpointId\":\"e1\",\"scope\":{\"type\":\"BearerToken\",\"token\":"
                            "\"t\"}},\"payload\":{}}}",
                            &err),
                     -EINVAL);
    assert_string_equal(err, "unsupported directive");
    assert_int_equal(A.kind, CV_ALEXA_UNKNOWN);
    assert_string_equal(A.ns, "Alexa.PowerController");
    assert_string_equal(A.message_id, "m1");
    assert_string_equal(A.correlation_token, "ct");
    assert_string_equal(A.endpoint_id, "e1");
    assert_string_equal(A.token, "");

    static const char *const shape[] = {
        "{}",
        "{\"directive\":[]}",
        "{\"directive\":{}}",
        "{\"directive\":{\"header\":{\"name\":\"Discover\",\"payloadVersion\":\"3\",\"messageId\":\"m\"}}}",
        "{\"directive\":{\"header\":{\"namespace\":\"Alexa.Discovery\",\"name\":\"Discover\","
        "\"payloadVersion\":\"3\"}}}",
        "{\"directive\":{\"header\":{\"namespace\":\"Alexa.Discovery\",\"name\":\"Discover\","
        "\"payloadVersion\":3,\"messageId\":\"m\"}}}",
        "{\"directive\":{\"header\":{\"namespace\":\"Alexa.Discovery\",\"name\":\"Discover\","
        "\"payloadVersion\":\"3\",\"messageId\":\"m\"},\"payload\":7}}",
        "{\"directive\":{\"header\":{\"namespace\":\"Alexa.Discovery\",\"name\":\"Discover\","
        "\"payloadVersion\":\"3\",\"messageId\":\"m\",\"correlationToken\":5}}}",
    };
    for (size_t i = 0; i < sizeof(shape) / sizeof(shape[0]); i++) {
        int rc = aparse(shape[i], &err);
        if (rc != -EINVAL)
            fail_msg("case %zu: %d", i, rc);
        printable(err);
    }
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.Discovery\",\"namespace\":\"x\"}}}",
                            &err),
                     -EBADMSG);
    printable(err);
    assert_int_equal(aparse("<xml/>", &err), -EBADMSG);
    /* AcceptGrant: grantee token */
    assert_int_equal(aparse("{\"directive\":{\"header\":{\"namespace\":\"Alexa.Authorization\",\"name\":"
                            "\"AcceptGrant\",\"messageId\":\"m\",\"payloadVersion\":\"3\"},\"payload\":{\"grant\":"
                            "{\"type\":\"OAuth2.AuthorizationCode\",\"code\":\"VGhpcyBpcyBhbiBhdXRob3JpemF0aW9uIGNvZGUuIDotKQ==\"},"
                            "\"grantee\":{\"type\":\"BearerToken\",\"token\":\"access-token-from-skill\"}}}}",
                            &err),
                     0);
    assert_int_equal(A.kind, CV_ALEXA_ACCEPT_GRANT);
    assert_string_equal(A.token, "access-token-from-skill");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_google_sync_disconnect),
        cmocka_unit_test(test_google_query),
        cmocka_unit_test(test_google_execute),
        cmocka_unit_test(test_google_wrong_types),
        cmocka_unit_test(test_google_not_json_and_duplicates),
        cmocka_unit_test(test_google_caps),
        cmocka_unit_test(test_alexa_discover),
        cmocka_unit_test(test_alexa_init_streams),
        cmocka_unit_test(test_alexa_unknown_and_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
