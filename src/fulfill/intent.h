/* Partner request parsers, pure (jansson, no I/O, no clock, no store):
 * Google smart home intents (SYNC, QUERY, EXECUTE, DISCONNECT) and Alexa
 * smart home directives (Discovery, CameraStreamController, AcceptGrant).
 *
 * Input is exactly len bytes of JSON (no NUL needed), parsed with duplicate
 * keys refused. Every string kept is valid UTF-8 without NUL or control
 * characters and within the cap of its field; every array within its cap.
 * Keys the parsers do not know are ignored (the partners add customData,
 * otherDeviceIds, ...). On failure the parsers return -EBADMSG (not a JSON
 * object: syntax, duplicate key, wrong top-level type) or -EINVAL (JSON of
 * the wrong shape), and *err
 * points to a static, printable ASCII message that never quotes the input;
 * the fields read before the error stay filled (the Google requestId and
 * the Alexa header come first), so that an error answer can echo them.
 * tests/fuzz/fuzz-fulfill.c drives both. Thread-safe. */
#ifndef CV_FULFILL_INTENT_H
#define CV_FULFILL_INTENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CV_INTENT_ID_MAX 128      /* requestId, messageId, device and endpoint ids (bytes) */
#define CV_INTENT_NAME_MAX 96     /* a command, namespace or name */
#define CV_INTENT_TOKEN_MAX 512   /* an OAuth access token */
#define CV_INTENT_CORR_MAX 4096   /* Alexa correlationToken (opaque, echoed back) */
#define CV_INTENT_DEVICES_MAX 64  /* device ids in one request, all commands together */
#define CV_INTENT_COMMANDS_MAX 16 /* EXECUTE commands */
#define CV_INTENT_EXECS_MAX 8     /* executions in one command */
#define CV_INTENT_PROTOS_MAX 16   /* SupportedStreamProtocols entries */
#define CV_INTENT_STREAMS_MAX 8   /* Alexa cameraStreams entries */
#define CV_INTENT_CODEC_MAX 16    /* Alexa protocol, codec, authorizationType */

/* ----------------------------------------------------------------- Google */

typedef enum {
    CV_GOOGLE_SYNC = 1,
    CV_GOOGLE_QUERY,
    CV_GOOGLE_EXECUTE,
    CV_GOOGLE_DISCONNECT,
} cv_google_intent;

/* Stream protocols (cameraStreamSupportedProtocols values). */
#define CV_GPROTO_HLS 1u
#define CV_GPROTO_DASH 2u
#define CV_GPROTO_SMOOTH 4u          /* "smooth_stream" */
#define CV_GPROTO_PROGRESSIVE_MP4 8u /* "progressive_mp4" */
#define CV_GPROTO_WEBRTC 16u

#define CV_GOOGLE_CMD_STREAM "action.devices.commands.GetCameraStream"

typedef struct {
    char command[CV_INTENT_NAME_MAX + 1];
    bool stream;             /* command is GetCameraStream */
    bool has_chromecast;     /* params.StreamToChromecast given */
    bool to_chromecast;
    bool has_protocols;      /* params.SupportedStreamProtocols given */
    uint32_t protocols;      /* CV_GPROTO_* of the known entries (unknown ignored) */
} cv_google_exec;

typedef struct {
    size_t dev_first, ndev;  /* slice of cv_google_req.devices */
    cv_google_exec exec[CV_INTENT_EXECS_MAX];
    size_t nexec;
} cv_google_cmd;

typedef struct {
    char request_id[CV_INTENT_ID_MAX + 1]; /* "" until parsed */
    cv_google_intent intent;               /* 0 until parsed */
    /* QUERY: every device; EXECUTE: the commands' devices, in order. */
    char devices[CV_INTENT_DEVICES_MAX][CV_INTENT_ID_MAX + 1];
    size_t ndevices;
    cv_google_cmd cmds[CV_INTENT_COMMANDS_MAX];
    size_t ncmds;
} cv_google_req; /* about 30 KiB: allocate it */

/* Parses {"requestId", "inputs": [{"intent", "payload"}]} (the first input
 * is the request; at most 4). QUERY needs payload.devices (1..64 with an
 * "id"), EXECUTE payload.commands (1..16, each with 1..64 devices in all and
 * 1..8 executions with a "command" and optional "params"). Returns 0,
 * -EBADMSG or -EINVAL with *err set. */
int cv_google_parse(const char *body, size_t len, cv_google_req *out, const char **err);
const char *cv_google_intent_name(cv_google_intent i); /* "action.devices.SYNC", ... */

/* ------------------------------------------------------------------ Alexa */

typedef enum {
    CV_ALEXA_UNKNOWN = 0,
    CV_ALEXA_DISCOVER,     /* Alexa.Discovery / Discover */
    CV_ALEXA_INIT_STREAMS, /* Alexa.CameraStreamController / InitializeCameraStreams */
    CV_ALEXA_ACCEPT_GRANT, /* Alexa.Authorization / AcceptGrant */
} cv_alexa_directive;

typedef struct {
    char protocol[CV_INTENT_CODEC_MAX + 1];   /* "RTSP", ...; "" if absent */
    int width, height;                         /* 0 if absent; else 1..16384 */
    char auth_type[CV_INTENT_CODEC_MAX + 1];
    char video_codec[CV_INTENT_CODEC_MAX + 1];
    char audio_codec[CV_INTENT_CODEC_MAX + 1];
} cv_alexa_stream;

typedef struct {
    cv_alexa_directive kind;
    char ns[CV_INTENT_NAME_MAX + 1];            /* header.namespace */
    char name[CV_INTENT_NAME_MAX + 1];          /* header.name */
    char message_id[CV_INTENT_ID_MAX + 1];
    char correlation_token[CV_INTENT_CORR_MAX + 1];
    bool has_correlation;
    char endpoint_id[CV_INTENT_ID_MAX + 1];
    bool has_endpoint;
    /* scope.token (endpoint.scope, payload.scope, or for AcceptGrant
     * payload.grantee), type "BearerToken"; "" when the directive carries
     * none (the Authorization header may then). */
    char token[CV_INTENT_TOKEN_MAX + 1];
    cv_alexa_stream streams[CV_INTENT_STREAMS_MAX]; /* InitializeCameraStreams, 1..8 */
    size_t nstreams;
} cv_alexa_req;

/* Parses {"directive": {"header", "endpoint"?, "payload"}} with header
 * payloadVersion "3". Discover reads payload.scope, InitializeCameraStreams
 * needs endpoint.endpointId and payload.cameraStreams, AcceptGrant reads
 * payload.grantee. A well-formed directive of another namespace or name
 * fails ("unsupported directive") with the header (and endpoint) filled.
 * Returns 0, -EBADMSG or -EINVAL with *err set. */
int cv_alexa_parse(const char *body, size_t len, cv_alexa_req *out, const char **err);

#endif
