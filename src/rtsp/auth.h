/* Client side of RTSP authentication (RFC 2617/7616 Digest with MD5 or
 * SHA-256, qop=auth or none; Basic) for pulling cameras, and the server-side
 * check of a Digest response for later use. */
#ifndef CV_RTSP_AUTH_H
#define CV_RTSP_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/sbuf.h"
#include "base/util.h"

typedef struct {
    bool digest;          /* false: Basic */
    bool sha256;          /* algorithm=SHA-256 */
    bool qop_auth;        /* server offered qop containing "auth" */
    char realm[128];
    char nonce[256];
    char opaque[256];
    uint32_t nc;          /* nonce count, incremented per use */
} cv_auth_challenge;

/* Parses one WWW-Authenticate value. Returns 0, or -EBADMSG (unknown scheme,
 * missing realm/nonce for Digest, a value that does not fit). Call it for each
 * header and keep the strongest (Digest over Basic). */
int cv_auth_parse_challenge(cv_str value, cv_auth_challenge *out);

/* Appends an Authorization header value (without "Authorization: ") for the
 * request method and uri to out. Returns 0 or -ENOMEM. */
int cv_auth_make_header(cv_auth_challenge *c, const char *user, const char *pass, const char *method,
                        const char *uri, cv_sbuf *out);

#endif
