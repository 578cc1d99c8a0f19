/* HTTP/1.1 request assembly on libhttp-parser, and the pure helpers the
 * request accessors use (header, cookie and query lookups, percent
 * decoding). No I/O, no clock, no logging: the server feeds bytes in and
 * gets whole requests or an HTTP error status out. Not thread-safe; one
 * assembler per connection. */
#ifndef CV_HTTP_PARSE_H
#define CV_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

#define CV_HTTP_MAX_HEADERS 64

typedef struct {
    cv_str name;
    cv_str value; /* surrounding whitespace removed */
} cv_http_header;

/* A complete request. Every view points into storage, which the message
 * owns (cv_http_msg_free); the struct itself may be copied by value. */
typedef struct {
    int method;              /* enum http_method */
    const char *method_name; /* static: "GET", "POST", ... */
    unsigned short major, minor;
    bool keep_alive;         /* another request may follow on the connection */
    cv_str url;              /* the request target as sent */
    cv_str path;             /* origin-form path, '?' and '#' excluded */
    cv_str query;            /* after '?', without '#'; .len 0 when absent */
    size_t nheaders;
    cv_http_header headers[CV_HTTP_MAX_HEADERS];
    cv_str body;             /* chunked bodies arrive de-chunked */
    char *storage;
} cv_http_msg;

void cv_http_msg_free(cv_http_msg *m);

typedef struct cv_http_asm cv_http_asm;

/* max_head bounds the request target plus header names and values (431, or
 * 414 for the target alone); max_body bounds the body (413). */
cv_http_asm *cv_http_asm_new(size_t max_head, size_t max_body);
void cv_http_asm_free(cv_http_asm *a);

/* Feeds len bytes of the connection's input. Sets *used to the bytes
 * consumed and returns 1 when a request completed (moved into *out, which
 * the caller then owns; *used stops right after it, so pipelined bytes stay
 * with the caller), 0 when all bytes were consumed and more are needed, or a
 * negative errno when the input is not acceptable: then cv_http_asm_status()
 * is the HTTP status to answer with (400, 413, 414, 431, 501, 505) and the
 * assembler stays failed. After a request with keep_alive false nothing more
 * may be fed. */
int cv_http_asm_feed(cv_http_asm *a, const char *data, size_t len, size_t *used, cv_http_msg *out)
    __attribute__((warn_unused_result));
int cv_http_asm_status(const cv_http_asm *a);
const char *cv_http_asm_error(const cv_http_asm *a); /* static text, "" when fine */
/* True once the first byte of a request has been parsed, until it completes. */
bool cv_http_asm_started(const cv_http_asm *a);
/* True once per request whose headers asked "Expect: 100-continue" and were
 * accepted while its body has yet to come: the caller sends 100 Continue. */
bool cv_http_asm_take_continue(cv_http_asm *a);

/* ----------------------------------------------------------- lookups */
/* First header of that name, ASCII case-insensitive; .p NULL when absent. */
cv_str cv_http_msg_header(const cv_http_msg *m, const char *name);
/* RFC 6265 "a=b; c=d": the first cookie called name (case-sensitive) over
 * all Cookie headers in order, one pair of DQUOTEs removed; .p NULL when
 * absent. */
cv_str cv_http_msg_cookie(const cv_http_msg *m, const char *name);
cv_str cv_http_cookie_find(cv_str header, const char *name);
/* The first parameter of that name in a query string ("a=1&b=x+y"; names
 * are compared decoded), decoded into out with a NUL. Returns its length,
 * -ENOENT, -ENOSPC or -EBADMSG (bad escape or %00). */
int cv_http_query_param(cv_str query, const char *name, char *out, size_t cap);
/* Percent-decodes in into out (NUL-terminated), '+' as space when asked.
 * Returns the decoded length, -EBADMSG for a bad escape or %00, -ENOSPC when
 * it does not fit (a bad escape wins over a short buffer). */
int cv_http_pct_decode(cv_str in, bool plus_is_space, char *out, size_t cap);
/* An Authorization value "Bearer <token68>" (RFC 6750; scheme in any case):
 * the token, else false. Shared by the API, the media routes and /metrics. */
bool cv_http_bearer(cv_str header, cv_str *token);

#endif
