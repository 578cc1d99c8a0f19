/* Google smart home intents and Alexa directives -> plain structs. See
 * intent.h. Every error message is a string literal: nothing of the input
 * is ever quoted back. */
#include "fulfill/intent.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

/* What a kept string may hold. */
enum {
    STR_TEXT,  /* UTF-8 without control characters (C0, DEL, C1) */
    STR_TOKEN, /* printable ASCII without spaces (token68-like) */
};

static bool text_ok(const char *s, size_t n, int kind)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (kind == STR_TOKEN) {
            if (c <= 0x20 || c >= 0x7f)
                return false;
            continue;
        }
        if (c < 0x20 || c == 0x7f)
            return false;
        /* C1 controls U+0080..U+009F are 0xc2 0x80..0x9f in UTF-8. */
        if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f)
            return false;
    }
    return true;
}

/* Copies v (a JSON string of 1..max bytes of the kind) into out, which has
 * room for max + 1. false when v is not such a string. */
static bool copy_str(const json_t *v, char *out, size_t max, int kind)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0 || n > max || memchr(s, 0, n) || !text_ok(s, n, kind))
        return false;
    memcpy(out, s, n);
    out[n] = 0;
    return true;
}

static json_t *load(const char *body, size_t len)
{
    json_error_t je;
    if (!body)
        return NULL;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (root && !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ----------------------------------------------------------------- Google */

const char *cv_google_intent_name(cv_google_intent i)
{
    switch (i) {
    case CV_GOOGLE_SYNC:
        return "action.devices.SYNC";
    case CV_GOOGLE_QUERY:
        return "action.devices.QUERY";
    case CV_GOOGLE_EXECUTE:
        return "action.devices.EXECUTE";
    case CV_GOOGLE_DISCONNECT:
        return "action.devices.DISCONNECT";
    }
    return "unknown";
}

static const struct {
    const char *name;
    uint32_t bit;
} protos[] = {
    {"hls", CV_GPROTO_HLS},
    {"dash", CV_GPROTO_DASH},
    {"smooth_stream", CV_GPROTO_SMOOTH},
    {"progressive_mp4", CV_GPROTO_PROGRESSIVE_MP4},
    {"webrtc", CV_GPROTO_WEBRTC},
};

/* Appends the ids of a devices array [{"id": ...}, ...] (1.. entries, the
 * request's total at most CV_INTENT_DEVICES_MAX). */
static const char *parse_devices(const json_t *arr, cv_google_req *out)
{
    if (!json_is_array(arr))
        return "devices: missing or not an array";
    if (json_array_size(arr) == 0)
        return "devices: empty";
    if (json_array_size(arr) > CV_INTENT_DEVICES_MAX - out->ndevices)
        return "devices: too many";
    size_t i;
    const json_t *d;
    json_array_foreach(arr, i, d)
    {
        if (!json_is_object(d))
            return "devices: entry not an object";
        if (!copy_str(json_object_get(d, "id"), out->devices[out->ndevices], CV_INTENT_ID_MAX, STR_TEXT))
            return "devices: id missing, not a string, empty, too long or with control characters";
        out->ndevices++;
    }
    return NULL;
}

static const char *parse_exec(const json_t *e, cv_google_exec *x)
{
    if (!json_is_object(e))
        return "execution: entry not an object";
    if (!copy_str(json_object_get(e, "command"), x->command, CV_INTENT_NAME_MAX, STR_TEXT))
        return "execution: command missing, not a string or too long";
    x->stream = strcmp(x->command, CV_GOOGLE_CMD_STREAM) == 0;
    const json_t *params = json_object_get(e, "params");
    if (!params)
        return NULL;
    if (!json_is_object(params))
        return "execution: params not an object";
    if (!x->stream)
        return NULL; /* another command's params: not ours to judge */
    const json_t *cc = json_object_get(params, "StreamToChromecast");
    if (cc) {
        if (!json_is_boolean(cc))
            return "params: StreamToChromecast not a boolean";
        x->has_chromecast = true;
        x->to_chromecast = json_is_true(cc);
    }
    const json_t *sp = json_object_get(params, "SupportedStreamProtocols");
    if (sp) {
        if (!json_is_array(sp))
            return "params: SupportedStreamProtocols not an array";
        if (json_array_size(sp) > CV_INTENT_PROTOS_MAX)
            return "params: SupportedStreamProtocols too long";
        x->has_protocols = true;
        size_t i;
        const json_t *p;
        json_array_foreach(sp, i, p)
        {
            if (!json_is_string(p))
                return "params: SupportedStreamProtocols entry not a string";
            for (size_t k = 0; k < sizeof(protos) / sizeof(protos[0]); k++)
                if (strcmp(json_string_value(p), protos[k].name) == 0 &&
                    json_string_length(p) == strlen(protos[k].name))
                    x->protocols |= protos[k].bit;
        }
    }
    return NULL;
}

static const char *parse_commands(const json_t *arr, cv_google_req *out)
{
    if (!json_is_array(arr))
        return "commands: missing or not an array";
    if (json_array_size(arr) == 0)
        return "commands: empty";
    if (json_array_size(arr) > CV_INTENT_COMMANDS_MAX)
        return "commands: too many";
    size_t i;
    const json_t *c;
    const char *err;
    json_array_foreach(arr, i, c)
    {
        if (!json_is_object(c))
            return "commands: entry not an object";
        cv_google_cmd *cmd = &out->cmds[out->ncmds];
        cmd->dev_first = out->ndevices;
        if ((err = parse_devices(json_object_get(c, "devices"), out)) != NULL)
            return err;
        cmd->ndev = out->ndevices - cmd->dev_first;
        const json_t *ex = json_object_get(c, "execution");
        if (!json_is_array(ex))
            return "commands: execution missing or not an array";
        if (json_array_size(ex) == 0)
            return "commands: execution empty";
        if (json_array_size(ex) > CV_INTENT_EXECS_MAX)
            return "commands: too many executions";
        size_t k;
        const json_t *e;
        json_array_foreach(ex, k, e)
        {
            if ((err = parse_exec(e, &cmd->exec[cmd->nexec])) != NULL)
                return err;
            cmd->nexec++;
        }
        out->ncmds++;
    }
    return NULL;
}

static const char *google_fill(const json_t *root, cv_google_req *out)
{
    const json_t *rid = json_object_get(root, "requestId");
    if (!copy_str(rid, out->request_id, CV_INTENT_ID_MAX, STR_TEXT)) {
        out->request_id[0] = 0;
        return "requestId: missing, not a string, empty, too long or with control characters";
    }
    const json_t *inputs = json_object_get(root, "inputs");
    if (!json_is_array(inputs))
        return "inputs: missing or not an array";
    if (json_array_size(inputs) == 0)
        return "inputs: empty";
    if (json_array_size(inputs) > 4)
        return "inputs: too many";
    const json_t *in = json_array_get(inputs, 0);
    if (!json_is_object(in))
        return "inputs: entry not an object";
    const json_t *intent = json_object_get(in, "intent");
    if (!json_is_string(intent))
        return "intent: missing or not a string";
    for (cv_google_intent k = CV_GOOGLE_SYNC; k <= CV_GOOGLE_DISCONNECT; k++)
        if (strcmp(json_string_value(intent), cv_google_intent_name(k)) == 0 &&
            json_string_length(intent) == strlen(cv_google_intent_name(k)))
            out->intent = k;
    if (!out->intent)
        return "intent: not supported";
    const json_t *payload = json_object_get(in, "payload");
    if (payload && !json_is_object(payload))
        return "payload: not an object";
    if (out->intent == CV_GOOGLE_QUERY) {
        if (!payload)
            return "payload: missing";
        return parse_devices(json_object_get(payload, "devices"), out);
    }
    if (out->intent == CV_GOOGLE_EXECUTE) {
        if (!payload)
            return "payload: missing";
        return parse_commands(json_object_get(payload, "commands"), out);
    }
    return NULL;
}

int cv_google_parse(const char *body, size_t len, cv_google_req *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    json_t *root = load(body, len);
    if (!root) {
        *err = "body is not a JSON object";
        return -EBADMSG;
    }
    const char *e = google_fill(root, out);
    json_decref(root);
    if (e) {
        /* Keep the requestId and intent (for the answer), drop the rest. */
        out->ndevices = out->ncmds = 0;
        *err = e;
        return -EINVAL;
    }
    *err = NULL;
    return 0;
}

/* ------------------------------------------------------------------ Alexa */

/* scope {"type": "BearerToken", "token": ...} into out->token. */
static const char *parse_scope(const json_t *scope, cv_alexa_req *out)
{
    if (!json_is_object(scope))
        return "scope: not an object";
    const json_t *type = json_object_get(scope, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "BearerToken") != 0 ||
        json_string_length(type) != strlen("BearerToken"))
        return "scope: type is not BearerToken";
    if (!copy_str(json_object_get(scope, "token"), out->token, CV_INTENT_TOKEN_MAX, STR_TOKEN))
        return "scope: token missing, not a string, too long or not printable ASCII";
    return NULL;
}

static const char *short_str(const json_t *o, const char *key, char *out, bool required)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return required ? "cameraStreams: protocol missing" : NULL;
    if (!copy_str(v, out, CV_INTENT_CODEC_MAX, STR_TOKEN))
        return "cameraStreams: a protocol, codec or authorizationType is not a short ASCII string";
    return NULL;
}

static const char *parse_streams(const json_t *arr, cv_alexa_req *out)
{
    if (!json_is_array(arr))
        return "cameraStreams: missing or not an array";
    if (json_array_size(arr) == 0)
        return "cameraStreams: empty";
    if (json_array_size(arr) > CV_INTENT_STREAMS_MAX)
        return "cameraStreams: too many";
    size_t i;
    const json_t *s;
    const char *err;
    json_array_foreach(arr, i, s)
    {
        cv_alexa_stream *st = &out->streams[out->nstreams];
        if (!json_is_object(s))
            return "cameraStreams: entry not an object";
        if ((err = short_str(s, "protocol", st->protocol, true)) != NULL ||
            (err = short_str(s, "authorizationType", st->auth_type, false)) != NULL ||
            (err = short_str(s, "videoCodec", st->video_codec, false)) != NULL ||
            (err = short_str(s, "audioCodec", st->audio_codec, false)) != NULL)
            return err;
        const json_t *res = json_object_get(s, "resolution");
        if (res) {
            if (!json_is_object(res))
                return "cameraStreams: resolution not an object";
            const json_t *w = json_object_get(res, "width"), *h = json_object_get(res, "height");
            if (!json_is_integer(w) || !json_is_integer(h) || json_integer_value(w) < 1 ||
                json_integer_value(w) > 16384 || json_integer_value(h) < 1 || json_integer_value(h) > 16384)
                return "cameraStreams: resolution width and height must be integers in 1..16384";
            st->width = (int)json_integer_value(w);
            st->height = (int)json_integer_value(h);
        }
        out->nstreams++;
    }
    return NULL;
}

static bool is(const char *a, const char *b) { return strcmp(a, b) == 0; }

static const char *alexa_fill(const json_t *root, cv_alexa_req *out)
{
    const json_t *dir = json_object_get(root, "directive");
    if (!json_is_object(dir))
        return "directive: missing or not an object";
    const json_t *hdr = json_object_get(dir, "header");
    if (!json_is_object(hdr))
        return "header: missing or not an object";
    if (!copy_str(json_object_get(hdr, "namespace"), out->ns, CV_INTENT_NAME_MAX, STR_TOKEN))
        return "header: namespace missing, not a string or too long";
    if (!copy_str(json_object_get(hdr, "name"), out->name, CV_INTENT_NAME_MAX, STR_TOKEN)) {
        out->ns[0] = 0;
        return "header: name missing, not a string or too long";
    }
    if (!copy_str(json_object_get(hdr, "messageId"), out->message_id, CV_INTENT_ID_MAX, STR_TEXT)) {
        out->message_id[0] = 0;
        return "header: messageId missing, not a string or too long";
    }
    const json_t *corr = json_object_get(hdr, "correlationToken");
    if (corr) {
        if (!copy_str(corr, out->correlation_token, CV_INTENT_CORR_MAX, STR_TEXT)) {
            out->correlation_token[0] = 0;
            return "header: correlationToken not a string or too long";
        }
        out->has_correlation = true;
    }
    const json_t *ver = json_object_get(hdr, "payloadVersion");
    if (!json_is_string(ver) || !is(json_string_value(ver), "3") || json_string_length(ver) != 1)
        return "header: payloadVersion is not \"3\"";

    const json_t *ep = json_object_get(dir, "endpoint");
    if (ep) {
        if (!json_is_object(ep))
            return "endpoint: not an object";
        if (!copy_str(json_object_get(ep, "endpointId"), out->endpoint_id, CV_INTENT_ID_MAX, STR_TEXT)) {
            out->endpoint_id[0] = 0;
            return "endpoint: endpointId missing, not a string or too long";
        }
        out->has_endpoint = true;
    }
    const json_t *payload = json_object_get(dir, "payload");
    if (payload && !json_is_object(payload))
        return "payload: not an object";

    if (is(out->ns, "Alexa.Discovery") && is(out->name, "Discover"))
        out->kind = CV_ALEXA_DISCOVER;
    else if (is(out->ns, "Alexa.CameraStreamController") && is(out->name, "InitializeCameraStreams"))
        out->kind = CV_ALEXA_INIT_STREAMS;
    else if (is(out->ns, "Alexa.Authorization") && is(out->name, "AcceptGrant"))
        out->kind = CV_ALEXA_ACCEPT_GRANT;
    else
        return "unsupported directive";

    const json_t *scope = NULL;
    switch (out->kind) {
    case CV_ALEXA_DISCOVER:
        scope = payload ? json_object_get(payload, "scope") : NULL;
        break;
    case CV_ALEXA_INIT_STREAMS:
        if (!out->has_endpoint)
            return "endpoint: missing";
        scope = json_object_get(ep, "scope");
        break;
    case CV_ALEXA_ACCEPT_GRANT:
        scope = payload ? json_object_get(payload, "grantee") : NULL;
        break;
    case CV_ALEXA_UNKNOWN:
        break;
    }
    const char *err;
    if (scope && (err = parse_scope(scope, out)) != NULL) {
        out->token[0] = 0;
        return err;
    }
    if (out->kind == CV_ALEXA_INIT_STREAMS) {
        if (!payload)
            return "payload: missing";
        return parse_streams(json_object_get(payload, "cameraStreams"), out);
    }
    return NULL;
}

int cv_alexa_parse(const char *body, size_t len, cv_alexa_req *out, const char **err)
{
    memset(out, 0, sizeof(*out));
    json_t *root = load(body, len);
    if (!root) {
        *err = "body is not a JSON object";
        return -EBADMSG;
    }
    const char *e = alexa_fill(root, out);
    json_decref(root);
    if (e) {
        out->kind = CV_ALEXA_UNKNOWN;
        out->token[0] = 0;
        out->nstreams = 0;
        *err = e;
        return -EINVAL;
    }
    *err = NULL;
    return 0;
}
