/* RTSP authentication (RFC 2617/7616 Digest with MD5 or SHA-256, qop=auth
 * or none; Basic). Client side for pulling cameras; server side for cameras
 * that push (ingest secret) and viewers with app passwords. */
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

/* ------------------------------------------------------------ server side */

/* One parsed Authorization header. Views are unquoted and unescaped values
 * (unset parameters are empty). They point into the header value, except
 * quoted-strings that contained backslash escapes (decoded into _unescaped)
 * and the Basic username (basic_user): keep the header value alive and do
 * not copy the struct by value while using the views. */
typedef struct {
    bool digest;          /* false: Basic */
    cv_str username;      /* Digest username= / Basic user */
    cv_str realm, nonce, uri, response, qop, nc, cnonce, algorithm, opaque;
    char basic_user[128]; /* Basic, decoded */
    char basic_pass[256];
    char _unescaped[3584]; /* room for every Digest value at its longest */
} cv_auth_credentials;

/* Parses an Authorization value ("Digest k=v, ..." or "Basic b64"). Returns
 * 0 or -EBADMSG (unknown scheme, missing username/realm/nonce/uri/response
 * for Digest, qop without nc/cnonce, duplicate parameters, oversized or
 * malformed values, control characters). The algorithm is not checked here:
 * cv_auth_digest_ok refuses what it cannot verify. Basic credentials must be
 * "user:pass" with user < 128 and pass < 256 bytes (split at the first ':'). */
int cv_auth_parse_credentials(cv_str value, cv_auth_credentials *out);

/* Stateless server nonces: base64url(issued_us | HMAC-SHA256(key, issued_us)[0..15]),
 * unpadded: CV_AUTH_NONCE_LEN characters. Returns 0 or -ENOSPC (cap too small). */
#define CV_AUTH_NONCE_MAX 40
#define CV_AUTH_NONCE_LEN 32
int cv_auth_make_nonce(const uint8_t key[32], int64_t now_us, char *out, size_t cap);
/* 0: ours and younger than max_age_us; -ESTALE: ours but older (the client
 * should retry with the fresh nonce, stale=true); -EBADMSG: not ours, or
 * issued more than 5 s in the future. Use the same clock as for making. The
 * nonce can be replayed until it expires: nc is not tracked. */
int cv_auth_check_nonce(const uint8_t key[32], cv_str nonce, int64_t now_us, int64_t max_age_us);

/* True if the Digest response in c is right for method and password
 * (MD5 or SHA-256 per c->algorithm, absent meaning MD5; no -sess variants;
 * qop=auth or none). Compares in constant time. The caller checks the nonce,
 * that c->uri is the request's URI and that c->realm is its own (the
 * response is computed with the realm the client sent). */
bool cv_auth_digest_ok(const cv_auth_credentials *c, const char *method, const char *password, size_t pwlen);

/* Appends a WWW-Authenticate value: Digest realm, nonce, algorithm=MD5,
 * qop="auth" (+ stale=TRUE). Returns 0, -EINVAL (control characters in realm
 * or nonce) or -ENOMEM. */
int cv_auth_make_challenge(cv_sbuf *out, const char *realm, const char *nonce, bool stale);

#endif
