/* Fuzzes the partner request parsers (src/fulfill/intent.c): the same bytes
 * go through the Google intent parser and the Alexa directive parser.
 * Oracles: a success has every kept string non-empty, within its cap,
 * strict UTF-8 without control characters, and every count within its cap
 * (command device slices inside the device list); a failure is -EBADMSG or
 * -EINVAL with a printable ASCII message, and the fields an error answer
 * echoes still hold valid strings. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fulfill/intent.h"

#include "fuzz-check.h"

/* A NUL-terminated field of cap + 1 bytes: terminated within, at most max
 * bytes, strict UTF-8, no C0/DEL/C1 control. empty_ok: "" allowed. */
static void check_str(const char *s, size_t max, bool empty_ok)
{
    size_t n = strnlen(s, max + 1);
    CHECK(n <= max);
    CHECK(empty_ok || n > 0);
    CHECK(utf8_ok((const uint8_t *)s, n));
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        CHECK(c >= 0x20 && c != 0x7f);
        CHECK(!(c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f));
    }
}

static void check_token(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    CHECK(n <= max);
    for (size_t i = 0; i < n; i++)
        CHECK((unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f);
}

static void google(const uint8_t *data, size_t size)
{
    static cv_google_req g;
    const char *err = NULL;
    int rc = cv_google_parse((const char *)data, size, &g, &err);
    check_str(g.request_id, CV_INTENT_ID_MAX, true);
    if (rc != 0) {
        CHECK(rc == -EBADMSG || rc == -EINVAL);
        CHECK(err && err[0] && ascii_printable(err));
        CHECK(g.ndevices == 0 && g.ncmds == 0);
        if (rc == -EBADMSG)
            CHECK(g.request_id[0] == 0 && g.intent == 0);
        return;
    }
    CHECK(err == NULL);
    CHECK(g.request_id[0]);
    CHECK(g.intent >= CV_GOOGLE_SYNC && g.intent <= CV_GOOGLE_DISCONNECT);
    CHECK(g.ndevices <= CV_INTENT_DEVICES_MAX);
    CHECK(g.ncmds <= CV_INTENT_COMMANDS_MAX);
    for (size_t i = 0; i < g.ndevices; i++)
        check_str(g.devices[i], CV_INTENT_ID_MAX, false);
    if (g.intent == CV_GOOGLE_QUERY)
        CHECK(g.ndevices > 0 && g.ncmds == 0);
    if (g.intent == CV_GOOGLE_EXECUTE)
        CHECK(g.ncmds > 0);
    if (g.intent == CV_GOOGLE_SYNC || g.intent == CV_GOOGLE_DISCONNECT)
        CHECK(g.ndevices == 0 && g.ncmds == 0);
    size_t next = 0;
    for (size_t i = 0; i < g.ncmds; i++) {
        const cv_google_cmd *c = &g.cmds[i];
        CHECK(c->dev_first == next && c->ndev > 0 && c->dev_first + c->ndev <= g.ndevices);
        next = c->dev_first + c->ndev;
        CHECK(c->nexec > 0 && c->nexec <= CV_INTENT_EXECS_MAX);
        for (size_t k = 0; k < c->nexec; k++) {
            const cv_google_exec *x = &c->exec[k];
            check_str(x->command, CV_INTENT_NAME_MAX, false);
            CHECK(x->stream == (strcmp(x->command, CV_GOOGLE_CMD_STREAM) == 0));
            CHECK((x->protocols & ~31u) == 0);
            CHECK(x->has_protocols || x->protocols == 0);
            CHECK(x->has_chromecast || !x->to_chromecast);
        }
    }
    CHECK(next == (g.intent == CV_GOOGLE_EXECUTE ? g.ndevices : next));
    CHECK(strncmp(cv_google_intent_name(g.intent), "action.devices.", 15) == 0);
}

static void stream_field(const char *s) { check_token(s, CV_INTENT_CODEC_MAX); }

static void alexa(const uint8_t *data, size_t size)
{
    static cv_alexa_req a;
    const char *err = NULL;
    int rc = cv_alexa_parse((const char *)data, size, &a, &err);
    check_token(a.ns, CV_INTENT_NAME_MAX);
    check_token(a.name, CV_INTENT_NAME_MAX);
    check_str(a.message_id, CV_INTENT_ID_MAX, true);
    check_str(a.correlation_token, CV_INTENT_CORR_MAX, true);
    check_str(a.endpoint_id, CV_INTENT_ID_MAX, true);
    CHECK(!a.has_correlation || a.correlation_token[0]);
    CHECK(!a.has_endpoint || a.endpoint_id[0]);
    check_token(a.token, CV_INTENT_TOKEN_MAX);
    if (rc != 0) {
        CHECK(rc == -EBADMSG || rc == -EINVAL);
        CHECK(err && err[0] && ascii_printable(err));
        CHECK(a.kind == CV_ALEXA_UNKNOWN && a.token[0] == 0 && a.nstreams == 0);
        return;
    }
    CHECK(err == NULL);
    CHECK(a.kind == CV_ALEXA_DISCOVER || a.kind == CV_ALEXA_INIT_STREAMS || a.kind == CV_ALEXA_ACCEPT_GRANT);
    CHECK(a.ns[0] && a.name[0] && a.message_id[0]);
    CHECK(a.nstreams <= CV_INTENT_STREAMS_MAX);
    if (a.kind == CV_ALEXA_INIT_STREAMS)
        CHECK(a.has_endpoint && a.nstreams > 0);
    else
        CHECK(a.nstreams == 0);
    for (size_t i = 0; i < a.nstreams; i++) {
        const cv_alexa_stream *s = &a.streams[i];
        CHECK(s->protocol[0]);
        stream_field(s->protocol);
        stream_field(s->auth_type);
        stream_field(s->video_codec);
        stream_field(s->audio_codec);
        CHECK((s->width == 0 && s->height == 0) ||
              (s->width >= 1 && s->width <= 16384 && s->height >= 1 && s->height <= 16384));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    google(data, size);
    alexa(data, size);
    return 0;
}
