#include "http/parse.h"

#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Every byte of a request (target, headers, body) is copied into one
 * growing buffer, remembered by offset while it may still move, and turned
 * into views when the request is complete: http_parser hands data over in
 * arbitrary pieces that do not outlive the read buffer. */
typedef struct {
    size_t name, name_len, value, value_len;
} span;

enum { LAST_NONE, LAST_FIELD, LAST_VALUE };

struct cv_http_asm {
    http_parser hp;
    size_t max_head, max_body;
    char *buf;
    size_t len, cap;
    size_t url_len;        /* the target sits at offset 0 */
    size_t path_off, path_len, query_off, query_len;
    bool path_slash;       /* absolute-form target without a path: "/" */
    span hdr[CV_HTTP_MAX_HEADERS];
    size_t nhdr;
    int last;
    size_t head_bytes;
    size_t body_off, body_len;
    bool headers_done;     /* later header callbacks are chunked trailers */
    bool started;
    bool complete;         /* a request is ready; the parser is paused */
    bool want_continue;
    bool keep_alive;
    int status;
    int err;
    const char *why;
};

static const char slash[] = "/";

/* --------------------------------------------------------------- helpers */

static bool is_ows(char ch) { return ch == ' ' || ch == '\t'; }

static cv_str trim_ows(cv_str s)
{
    while (s.len && is_ows(s.p[0])) {
        s.p++;
        s.len--;
    }
    while (s.len && is_ows(s.p[s.len - 1]))
        s.len--;
    return s;
}

/* Splits s at the first sep: *head gets what precedes it, s what follows
 * (.p NULL once nothing is left). */
static cv_str next_item(cv_str *s, char sep)
{
    cv_str head = *s;
    const char *at = s->len ? memchr(s->p, sep, s->len) : NULL;
    if (!at) {
        *s = (cv_str){NULL, 0};
        return head;
    }
    head.len = (size_t)(at - s->p);
    s->len -= head.len + 1;
    s->p = at + 1;
    return head;
}

static int fail(cv_http_asm *a, int status, int err, const char *why)
{
    if (!a->status) {
        a->status = status;
        a->err = err;
        a->why = why;
    }
    return -1;
}

static int append(cv_http_asm *a, const char *at, size_t n)
{
    size_t need;
    if (__builtin_add_overflow(a->len, n, &need))
        return fail(a, 413, -EMSGSIZE, "request too large");
    if (need > a->cap) {
        size_t cap = a->cap ? a->cap : 1024;
        while (cap < need)
            cap *= 2; /* need is bounded by max_head + max_body */
        char *p = realloc(a->buf, cap);
        if (!p)
            return fail(a, 500, -ENOMEM, "out of memory");
        a->buf = p;
        a->cap = cap;
    }
    if (n)
        memcpy(a->buf + a->len, at, n);
    a->len = need;
    return 0;
}

static int count_head(cv_http_asm *a, size_t n, int status, int err, const char *why)
{
    if (__builtin_add_overflow(a->head_bytes, n, &a->head_bytes) || a->head_bytes > a->max_head)
        return fail(a, status, err, why);
    return 0;
}

/* ------------------------------------------------------------ callbacks */

static int on_message_begin(http_parser *hp)
{
    cv_http_asm *a = hp->data;
    a->len = a->url_len = a->nhdr = a->head_bytes = a->body_off = a->body_len = 0;
    a->path_off = a->path_len = a->query_off = a->query_len = 0;
    a->last = LAST_NONE;
    a->headers_done = a->path_slash = a->want_continue = false;
    a->started = true;
    return 0;
}

static int on_url(http_parser *hp, const char *at, size_t n)
{
    cv_http_asm *a = hp->data;
    if (count_head(a, n, 414, -ENAMETOOLONG, "request target too long") < 0)
        return -1;
    a->url_len += n;
    return append(a, at, n);
}

static int on_header_field(http_parser *hp, const char *at, size_t n)
{
    cv_http_asm *a = hp->data;
    if (count_head(a, n, 431, -E2BIG, "request headers too large") < 0)
        return -1;
    if (a->headers_done)
        return 0; /* trailers are counted, not kept */
    if (a->last != LAST_FIELD) {
        if (a->nhdr == CV_HTTP_MAX_HEADERS)
            return fail(a, 431, -E2BIG, "too many request headers");
        a->hdr[a->nhdr++] = (span){a->len, 0, a->len, 0};
        a->last = LAST_FIELD;
    }
    a->hdr[a->nhdr - 1].name_len += n;
    return append(a, at, n);
}

static int on_header_value(http_parser *hp, const char *at, size_t n)
{
    cv_http_asm *a = hp->data;
    if (count_head(a, n, 431, -E2BIG, "request headers too large") < 0)
        return -1;
    if (a->headers_done || a->nhdr == 0)
        return 0;
    span *h = &a->hdr[a->nhdr - 1];
    if (a->last != LAST_VALUE) {
        h->value = a->len;
        h->value_len = 0;
        a->last = LAST_VALUE;
    }
    h->value_len += n;
    return append(a, at, n);
}

static cv_str span_name(const cv_http_asm *a, size_t i) { return (cv_str){a->buf + a->hdr[i].name, a->hdr[i].name_len}; }

static cv_str span_value(const cv_http_asm *a, size_t i)
{
    return trim_ows((cv_str){a->buf + a->hdr[i].value, a->hdr[i].value_len});
}

static size_t count_named(const cv_http_asm *a, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nhdr; i++)
        n += cv_str_ieq_c(span_name(a, i), name);
    return n;
}

static bool method_supported(int m)
{
    return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_POST || m == HTTP_PUT || m == HTTP_DELETE ||
           m == HTTP_OPTIONS || m == HTTP_PATCH;
}

/* Sets the path and query spans from the target: origin-form "/p?q",
 * absolute-form "http://host/p?q", or "*" (OPTIONS). */
static int split_target(cv_http_asm *a)
{
    cv_str t = {a->buf, a->url_len};
    size_t i = 0;
    if (t.len == 1 && t.p[0] == '*') {
        a->path_len = 1;
        return 0;
    }
    if (t.len == 0 || t.p[0] != '/') {
        const char *sep = t.len ? memchr(t.p, ':', t.len) : NULL;
        if (!sep || (size_t)(t.p + t.len - sep) < 3 || memcmp(sep, "://", 3) != 0)
            return fail(a, 400, -EBADMSG, "bad request target");
        i = (size_t)(sep - t.p) + 3;
        while (i < t.len && t.p[i] != '/' && t.p[i] != '?' && t.p[i] != '#')
            i++;
    }
    a->path_off = i;
    while (i < t.len && t.p[i] != '?' && t.p[i] != '#')
        i++;
    a->path_len = i - a->path_off;
    a->path_slash = a->path_len == 0;
    if (i < t.len && t.p[i] == '?') {
        a->query_off = ++i;
        while (i < t.len && t.p[i] != '#')
            i++;
        a->query_len = i - a->query_off;
    }
    return 0;
}

/* Only chunked and identity are understood (501 for anything else), and
 * chunked must come last, once: otherwise the body's end is ambiguous. */
static int check_transfer_encoding(cv_http_asm *a)
{
    size_t chunked = 0, present = 0;
    for (size_t i = 0; i < a->nhdr; i++) {
        if (!cv_str_ieq_c(span_name(a, i), "Transfer-Encoding"))
            continue;
        present++;
        cv_str list = span_value(a, i);
        while (list.p) {
            cv_str c = trim_ows(next_item(&list, ','));
            if (cv_str_ieq_c(c, "chunked"))
                chunked++;
            else if (c.len && !cv_str_ieq_c(c, "identity"))
                return fail(a, 501, -ENOSYS, "transfer-encoding not supported");
        }
    }
    if (chunked > 1 || (chunked == 1 && !(a->hp.flags & F_CHUNKED)))
        return fail(a, 400, -EBADMSG, "bad transfer-encoding");
#if HTTP_PARSER_VERSION_MAJOR > 2 || HTTP_PARSER_VERSION_MINOR > 9 || HTTP_PARSER_VERSION_PATCH >= 3
    /* Since 2.9.3 the parser refuses every Transfer-Encoding that does not
     * end in chunked; "identity" alone is no coding at all, so let the
     * Content-Length (or its absence) frame the body instead. */
    if (present && !chunked)
        a->hp.uses_transfer_encoding = 0;
#else
    (void)present;
#endif
    return 0;
}

static int check_head(cv_http_asm *a)
{
    const http_parser *hp = &a->hp;
    if (hp->http_major != 1)
        return fail(a, 505, -EPROTONOSUPPORT, "http version not supported");
    if (!method_supported(hp->method))
        return fail(a, 501, -ENOSYS, "method not supported");
    if (hp->upgrade)
        return fail(a, 501, -ENOSYS, "protocol upgrade not supported");
    if (count_named(a, "Host") > 1)
        return fail(a, 400, -EBADMSG, "more than one host header");
    if (split_target(a) < 0 || check_transfer_encoding(a) < 0)
        return -1;
    if ((hp->flags & F_CONTENTLENGTH) && hp->content_length > a->max_body)
        return fail(a, 413, -EMSGSIZE, "request body too large");
    return 0;
}

static bool expects_continue(const cv_http_asm *a)
{
    if (a->hp.http_minor < 1)
        return false;
    for (size_t i = 0; i < a->nhdr; i++)
        if (cv_str_ieq_c(span_name(a, i), "Expect") && cv_str_ieq_c(span_value(a, i), "100-continue"))
            return true;
    return false;
}

static int on_headers_complete(http_parser *hp)
{
    cv_http_asm *a = hp->data;
    a->headers_done = true;
    if (check_head(a) < 0)
        return -1;
    a->body_off = a->len;
    a->want_continue = expects_continue(a);
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t n)
{
    cv_http_asm *a = hp->data;
    if (__builtin_add_overflow(a->body_len, n, &a->body_len) || a->body_len > a->max_body)
        return fail(a, 413, -EMSGSIZE, "request body too large");
    return append(a, at, n);
}

static int on_message_complete(http_parser *hp)
{
    cv_http_asm *a = hp->data;
    a->complete = true;
    a->keep_alive = http_should_keep_alive(hp) != 0;
    /* Stop right after this request: the next one waits for the answer. */
    http_parser_pause(hp, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ------------------------------------------------------------ assembler */

cv_http_asm *cv_http_asm_new(size_t max_head, size_t max_body)
{
    cv_http_asm *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    http_parser_init(&a->hp, HTTP_REQUEST);
    a->hp.data = a;
    a->max_head = max_head;
    a->max_body = max_body;
    a->why = "";
    return a;
}

void cv_http_asm_free(cv_http_asm *a)
{
    if (!a)
        return;
    free(a->buf);
    free(a);
}

static void take(cv_http_asm *a, cv_http_msg *m)
{
    memset(m, 0, sizeof(*m));
    const char *b = a->buf;
    m->storage = a->buf;
    m->method = (int)a->hp.method;
    m->method_name = http_method_str((enum http_method)a->hp.method);
    m->major = a->hp.http_major;
    m->minor = a->hp.http_minor;
    m->keep_alive = a->keep_alive;
    m->url = (cv_str){b, a->url_len};
    m->path = a->path_slash ? (cv_str){slash, 1} : (cv_str){b + a->path_off, a->path_len};
    m->query = (cv_str){b + a->query_off, a->query_len};
    m->nheaders = a->nhdr;
    for (size_t i = 0; i < a->nhdr; i++)
        m->headers[i] = (cv_http_header){span_name(a, i), span_value(a, i)};
    m->body = (cv_str){b + a->body_off, a->body_len};
    a->buf = NULL;
    a->len = a->cap = 0;
    a->started = a->want_continue = false;
}

static int parser_error(cv_http_asm *a)
{
    enum http_errno e = HTTP_PARSER_ERRNO(&a->hp);
    if (a->status) /* one of the callbacks refused */
        return a->err;
    if (e == HPE_HEADER_OVERFLOW)
        fail(a, 431, -E2BIG, "request headers too large");
    else if (e == HPE_INVALID_VERSION)
        fail(a, 505, -EPROTONOSUPPORT, "http version not supported");
    else if (e == HPE_INVALID_CONTENT_LENGTH || e == HPE_UNEXPECTED_CONTENT_LENGTH)
        fail(a, 400, -EBADMSG, "bad content-length");
    else
        fail(a, 400, -EBADMSG, "malformed request");
    return a->err;
}

int cv_http_asm_feed(cv_http_asm *a, const char *data, size_t len, size_t *used, cv_http_msg *out)
{
    *used = 0;
    if (a->status)
        return a->err;
    if (a->complete) {
        a->complete = false;
        http_parser_pause(&a->hp, 0);
    }
    if (len == 0)
        return 0; /* an empty execute would mean end of input */
    *used = http_parser_execute(&a->hp, &settings, data, len);
    if (a->complete) {
        take(a, out);
        return 1;
    }
    if (HTTP_PARSER_ERRNO(&a->hp) != HPE_OK)
        return parser_error(a);
    return 0;
}

int cv_http_asm_status(const cv_http_asm *a) { return a->status; }

const char *cv_http_asm_error(const cv_http_asm *a) { return a->why; }

bool cv_http_asm_started(const cv_http_asm *a) { return a->started && !a->complete; }

bool cv_http_asm_take_continue(cv_http_asm *a)
{
    bool v = a->want_continue && !a->status && !a->complete;
    a->want_continue = false;
    return v;
}

void cv_http_msg_free(cv_http_msg *m)
{
    free(m->storage);
    m->storage = NULL;
}

/* -------------------------------------------------------------- lookups */

cv_str cv_http_msg_header(const cv_http_msg *m, const char *name)
{
    for (size_t i = 0; i < m->nheaders; i++)
        if (cv_str_ieq_c(m->headers[i].name, name))
            return m->headers[i].value;
    return (cv_str){NULL, 0};
}

cv_str cv_http_cookie_find(cv_str header, const char *name)
{
    cv_str want = cv_str_from(name);
    while (header.p) {
        cv_str pair = next_item(&header, ';');
        const char *eq = pair.len ? memchr(pair.p, '=', pair.len) : NULL;
        if (!eq)
            continue;
        cv_str n = trim_ows((cv_str){pair.p, (size_t)(eq - pair.p)});
        cv_str v = trim_ows((cv_str){eq + 1, (size_t)(pair.p + pair.len - eq - 1)});
        if (!cv_str_eq(n, want) || n.len == 0)
            continue;
        if (v.len >= 2 && v.p[0] == '"' && v.p[v.len - 1] == '"')
            v = (cv_str){v.p + 1, v.len - 2};
        return v;
    }
    return (cv_str){NULL, 0};
}

cv_str cv_http_msg_cookie(const cv_http_msg *m, const char *name)
{
    for (size_t i = 0; i < m->nheaders; i++) {
        if (!cv_str_ieq_c(m->headers[i].name, "Cookie"))
            continue;
        cv_str v = cv_http_cookie_find(m->headers[i].value, name);
        if (v.p)
            return v;
    }
    return (cv_str){NULL, 0};
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes the character at in->p[*i], advancing *i; -1 for a bad escape. */
static int decode_one(cv_str in, size_t *i, bool plus_is_space)
{
    char ch = in.p[(*i)++];
    if (ch == '+' && plus_is_space)
        return ' ';
    if (ch != '%')
        return (unsigned char)ch;
    if (in.len - *i < 2)
        return -1;
    int hi = hexval(in.p[*i]), lo = hexval(in.p[*i + 1]);
    *i += 2;
    if (hi < 0 || lo < 0 || (hi | lo) == 0)
        return -1;
    return hi << 4 | lo;
}

int cv_http_pct_decode(cv_str in, bool plus_is_space, char *out, size_t cap)
{
    size_t n = 0, i = 0;
    bool bad = false;
    while (i < in.len) {
        int ch = decode_one(in, &i, plus_is_space);
        if (ch <= 0) {
            bad = true;
            break;
        }
        if (n + 1 < cap)
            out[n] = (char)ch;
        n++;
    }
    int rc = bad ? -EBADMSG : n >= cap || n > INT_MAX ? -ENOSPC : (int)n;
    if (cap)
        out[rc < 0 ? 0 : n] = '\0';
    return rc;
}

/* Whether the encoded name decodes to exactly want. */
static bool name_is(cv_str enc, const char *want)
{
    size_t i = 0, k = 0;
    while (i < enc.len) {
        int ch = decode_one(enc, &i, true);
        if (ch <= 0 || want[k] == '\0' || (char)ch != want[k])
            return false;
        k++;
    }
    return want[k] == '\0';
}

int cv_http_query_param(cv_str query, const char *name, char *out, size_t cap)
{
    while (query.p && query.len) {
        cv_str pair = next_item(&query, '&');
        const char *eq = pair.len ? memchr(pair.p, '=', pair.len) : NULL;
        cv_str n = eq ? (cv_str){pair.p, (size_t)(eq - pair.p)} : pair;
        if (pair.len == 0 || !name_is(n, name))
            continue;
        cv_str v = eq ? (cv_str){eq + 1, (size_t)(pair.p + pair.len - eq - 1)} : (cv_str){pair.p + pair.len, 0};
        return cv_http_pct_decode(v, true, out, cap);
    }
    return -ENOENT;
}

static bool token68(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

bool cv_http_bearer(cv_str header, cv_str *token)
{
    if (!header.p)
        return false;
    cv_str h = cv_str_trim(header);
    if (h.len < 8 || !cv_str_ieq((cv_str){h.p, 6}, CV_STR_LIT("Bearer")) || (h.p[6] != ' ' && h.p[6] != '\t'))
        return false;
    cv_str t = cv_str_trim((cv_str){h.p + 7, h.len - 7});
    if (t.len == 0)
        return false;
    for (size_t i = 0; i < t.len; i++)
        if (!token68(t.p[i]))
            return false;
    *token = t;
    return true;
}
