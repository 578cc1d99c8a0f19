/* RTSP/1.0 messages (RFC 2326): an incremental, bounded parser for requests
 * and responses and the interleaved binary frames that share the connection,
 * plus parsers for the Transport and Session headers.
 *
 * Parsed views (cv_str) point into the caller's buffer; nothing is copied or
 * allocated. Pure functions, thread-safe. */
#ifndef CV_RTSP_MSG_H
#define CV_RTSP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

#define CV_RTSP_MAX_HEAD 8192    /* start line + headers + blank line */
#define CV_RTSP_MAX_HEADERS 48
#define CV_RTSP_MAX_BODY 65536   /* Content-Length cap (SDP bodies are small) */
#define CV_RTSP_MAX_URI 2048

typedef struct {
    cv_str name;
    cv_str value; /* trimmed */
} cv_rtsp_header;

typedef struct {
    bool is_response;
    /* requests */
    cv_str method;
    cv_str uri;
    /* responses */
    int status;
    cv_str reason;

    cv_rtsp_header headers[CV_RTSP_MAX_HEADERS];
    size_t nheaders;
    int cseq;        /* -1 when absent or unparseable */
    cv_str body;     /* Content-Length bytes following the head */
} cv_rtsp_msg;

/* Error codes returned by cv_rtsp_parse (negative errno values):
 *  -EMSGSIZE        head longer than CV_RTSP_MAX_HEAD, too many headers, a
 *                   URI over CV_RTSP_MAX_URI, or a body over
 *                   CV_RTSP_MAX_BODY (answer 400/413 and close)
 *  -EPROTONOSUPPORT version other than RTSP/1.0 (answer 505)
 *  -EBADMSG         anything else malformed (answer 400 and close) */

/* Parses one message at the start of buf. Returns the number of bytes it
 * occupies (> 0) and fills *msg; 0 when more bytes are needed (and none of
 * the limits is exceeded yet); or a negative error above. Accepts CRLF or
 * bare LF line ends. Does not accept a '$' interleaved frame: check for it
 * first with cv_rtsp_parse_interleaved. */
int cv_rtsp_parse(const uint8_t *buf, size_t len, cv_rtsp_msg *msg);

/* First header with this name (ASCII case-insensitive), or NULL. */
const cv_str *cv_rtsp_msg_header(const cv_rtsp_msg *msg, const char *name);

/* An interleaved frame "$ ch len16 payload" at the start of buf. Returns the
 * bytes it occupies (4 + len) and sets the outputs; 0 when incomplete;
 * -EBADMSG when buf does not start with '$'. */
int cv_rtsp_parse_interleaved(const uint8_t *buf, size_t len, uint8_t *channel, const uint8_t **payload,
                              size_t *payload_len);

typedef struct {
    bool tcp;              /* RTP/AVP/TCP */
    bool multicast;
    bool record;           /* mode=record (or "receive") */
    int interleaved[2];    /* -1 when absent */
    int client_port[2];    /* -1 when absent */
    int server_port[2];    /* -1 when absent */
    bool has_ssrc;
    uint32_t ssrc;
} cv_rtsp_transport;

/* Parses a Transport header value, a comma-separated list of specs; takes the
 * first RTP/AVP (UDP) or RTP/AVP/TCP spec. A single port "p" means "p-(p+1)".
 * Returns 0, or -EBADMSG when no spec is usable or a number is out of range. */
int cv_rtsp_parse_transport(cv_str value, cv_rtsp_transport *out);

/* Parses "id[;timeout=N]". timeout is -1 when absent. Returns 0 or -EBADMSG. */
int cv_rtsp_parse_session(cv_str value, cv_str *id, int *timeout);

/* Status reason phrase for a code ("OK", "Not Found", ...). */
const char *cv_rtsp_reason(int status);

#endif
