/* Fuzzes the HTTP/1.1 request assembler (src/http/parse.c) as the server
 * drives it: the input is a connection's byte stream, usually several
 * pipelined requests, fed in pieces whose sizes the input chooses. Every
 * complete request goes through the header, cookie and query accessors.
 *
 * Input layout: byte 0 is the largest piece (0: everything at once; the
 * sizes then vary pseudo-randomly from 1 up to it), byte 1 & 3 picks the
 * limits (0: the server defaults, 1-3: small ones that trip 413/414/431),
 * the rest is the stream. Corpus files are text: "80GET / HTTP/1.1...". */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"

#include "fuzz-check.h"

static const size_t limits[4][2] = {{16 * 1024, 64 * 1024}, {64, 64}, {256, 16}, {1024, 4096}};

static bool within(cv_str s, cv_str outer)
{
    return s.len == 0 || (s.p >= outer.p && s.len <= outer.len && s.p - outer.p <= (ptrdiff_t)(outer.len - s.len));
}

static void check_decoded(int rc, const char *out, size_t cap)
{
    CHECK(rc == -ENOENT || rc == -ENOSPC || rc == -EBADMSG || rc >= 0);
    if (rc >= 0)
        CHECK((size_t)rc < cap && out[rc] == '\0' && strlen(out) == (size_t)rc);
    else if (cap)
        CHECK(out[0] == '\0' || rc == -ENOENT);
}

/* Looks every query parameter up by its decoded name. */
static void check_query(cv_str q)
{
    cv_str rest = q;
    while (rest.len) {
        const char *amp = memchr(rest.p, '&', rest.len);
        size_t n = amp ? (size_t)(amp - rest.p) : rest.len;
        const char *eq = memchr(rest.p, '=', n);
        char name[64], big[512], small[4];
        int k = cv_http_pct_decode((cv_str){rest.p, eq ? (size_t)(eq - rest.p) : n}, true, name, sizeof(name));
        check_decoded(k, name, sizeof(name));
        if (k > 0) { /* an empty name matches only "=v", not the empty item itself */
            int rc = cv_http_query_param(q, name, big, sizeof(big));
            CHECK(rc != -ENOENT);
            check_decoded(rc, big, sizeof(big));
            int rs = cv_http_query_param(q, name, small, sizeof(small));
            check_decoded(rs, small, sizeof(small));
            CHECK(rs == rc || (rs == -ENOSPC && (rc < 0 || rc >= 4)));
        }
        rest = amp ? (cv_str){amp + 1, rest.len - n - 1} : (cv_str){NULL, 0};
    }
    char out[8];
    check_decoded(cv_http_query_param(q, "a", out, sizeof(out)), out, sizeof(out));
}

static void check_msg(const cv_http_msg *m, size_t max_head, size_t max_body)
{
    CHECK(m->major == 1 && m->method_name && m->method_name[0]);
    CHECK(m->nheaders <= CV_HTTP_MAX_HEADERS && m->body.len <= max_body);
    CHECK(m->url.len > 0 && m->url.len <= max_head && m->url.p == m->storage);
    CHECK(cv_str_eq(m->path, CV_STR_LIT("/")) || within(m->path, m->url));
    CHECK(within(m->query, m->url));
    size_t head = m->url.len;
    for (size_t i = 0; i < m->nheaders; i++) {
        const cv_http_header *h = &m->headers[i];
        CHECK(h->name.len > 0);
        head += h->name.len + h->value.len;
        char name[128];
        if (h->name.len < sizeof(name) && !memchr(h->name.p, '\0', h->name.len)) {
            memcpy(name, h->name.p, h->name.len);
            name[h->name.len] = '\0';
            cv_str v = cv_http_msg_header(m, name);
            CHECK(v.p && v.p <= h->value.p);
            (void)cv_http_msg_cookie(m, name);
        }
        char dec[256];
        check_decoded(cv_http_pct_decode(h->value, false, dec, sizeof(dec)), dec, sizeof(dec));
    }
    CHECK(head <= max_head);
    cv_str c = cv_http_msg_cookie(m, "sid");
    CHECK(c.p == NULL || c.len <= head);
    check_query(m->query);
}

/* Feeds one piece; returns false once the stream is finished. */
static bool feed(cv_http_asm *a, const char *p, size_t len, size_t max_head, size_t max_body)
{
    while (len) {
        size_t used;
        cv_http_msg m;
        int rc = cv_http_asm_feed(a, p, len, &used, &m);
        CHECK(used <= len);
        if (rc < 0) {
            int st = cv_http_asm_status(a);
            CHECK(st == 400 || st == 413 || st == 414 || st == 431 || st == 501 || st == 505 || st == 500);
            CHECK(cv_http_asm_error(a)[0] != '\0');
            return false;
        }
        (void)cv_http_asm_take_continue(a);
        if (rc == 0) {
            CHECK(used == len);
            return true;
        }
        CHECK(rc == 1 && used > 0 && !cv_http_asm_started(a));
        check_msg(&m, max_head, max_body);
        bool more = m.keep_alive;
        cv_http_msg_free(&m);
        if (!more)
            return false;
        p += used;
        len -= used;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max_piece = data[0];
    size_t max_head = limits[data[1] & 3][0], max_body = limits[data[1] & 3][1];
    const uint8_t *in = data + 2;
    size_t len = size - 2;
    cv_http_asm *a = cv_http_asm_new(max_head, max_body);
    if (!a)
        return 0;
    uint32_t rng = (uint32_t)size * 2654435761u ^ data[0];
    for (size_t off = 0; off < len;) {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        size_t n = max_piece ? 1 + rng % max_piece : len;
        n = n < len - off ? n : len - off;
        /* An exact-size copy, so that reading past a piece is caught. */
        char *piece = malloc(n);
        if (!piece)
            break;
        memcpy(piece, in + off, n);
        bool go = feed(a, piece, n, max_head, max_body);
        free(piece);
        off += n;
        if (!go)
            break;
    }
    cv_http_asm_free(a);
    return 0;
}
