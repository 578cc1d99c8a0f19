/* Fuzzes the RTSP/1.0 parsers: the input is treated as a TCP byte stream of
 * RTSP messages and '$' interleaved frames, as the server and the puller see
 * it. Every header value also goes through the Transport, Session and
 * WWW-Authenticate parsers, and the request URI through the URL parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtsp/auth.h"
#include "rtsp/msg.h"
#include "rtsp/url.h"

#include "fuzz-check.h"

static bool inside(cv_str s, const uint8_t *base, size_t len)
{
    if (s.len == 0)
        return true;
    const uint8_t *p = (const uint8_t *)s.p;
    return p >= base && p <= base + len && s.len <= (size_t)(base + len - p);
}

static void check_msg(const cv_rtsp_msg *m, const uint8_t *buf, size_t n)
{
    CHECK(m->nheaders <= CV_RTSP_MAX_HEADERS);
    CHECK(m->body.len <= CV_RTSP_MAX_BODY);
    CHECK(inside(m->body, buf, n));
    CHECK(m->cseq >= -1);
    if (m->is_response) {
        CHECK(m->status >= 100 && m->status <= 999);
        CHECK(inside(m->reason, buf, n));
        (void)cv_rtsp_reason(m->status);
    } else {
        CHECK(m->method.len > 0 && inside(m->method, buf, n));
        CHECK(m->uri.len > 0 && m->uri.len <= CV_RTSP_MAX_URI && inside(m->uri, buf, n));
        char uri[CV_RTSP_MAX_URI + 1];
        memcpy(uri, m->uri.p, m->uri.len);
        uri[m->uri.len] = '\0';
        cv_url u;
        if (cv_url_parse(uri, &u) == 0) {
            char pub[1500];
            CHECK(cv_url_format_public(&u, pub, sizeof(pub)) == 0);
        }
    }
    for (size_t i = 0; i < m->nheaders; i++) {
        cv_str v = m->headers[i].value;
        CHECK(m->headers[i].name.len > 0 && inside(m->headers[i].name, buf, n) && inside(v, buf, n));
        CHECK(cv_rtsp_msg_header(m, "x") == NULL || m->nheaders > 0);
        cv_rtsp_transport t;
        if (cv_rtsp_parse_transport(v, &t) == 0) {
            CHECK(t.interleaved[0] >= -1 && t.interleaved[0] <= 255 && t.interleaved[1] <= 255);
            CHECK(t.client_port[0] >= -1 && t.client_port[0] <= 65535 && t.client_port[1] <= 65535);
            CHECK(t.server_port[0] >= -1 && t.server_port[0] <= 65535 && t.server_port[1] <= 65535);
        }
        cv_str id;
        int timeout;
        if (cv_rtsp_parse_session(v, &id, &timeout) == 0)
            CHECK(id.len > 0 && id.p >= v.p && id.p + id.len <= v.p + v.len && timeout >= -1);
        cv_auth_challenge c;
        if (cv_auth_parse_challenge(v, &c) == 0 && c.digest) {
            cv_sbuf b;
            cv_sbuf_init(&b);
            CHECK(cv_auth_make_header(&c, "user", "pass", "DESCRIBE", "rtsp://h/x", &b) == 0);
            CHECK(strchr(b.p, '\r') == NULL && strchr(b.p, '\n') == NULL);
            cv_sbuf_free(&b);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    int rounds = 0;
    while (off < size && rounds++ < 256) {
        const uint8_t *p = data + off;
        size_t len = size - off;
        if (p[0] == '$') {
            uint8_t ch;
            const uint8_t *pl;
            size_t plen;
            int r = cv_rtsp_parse_interleaved(p, len, &ch, &pl, &plen);
            CHECK(r >= 0);
            if (r == 0)
                break;
            CHECK((size_t)r == 4 + plen && (size_t)r <= len && pl == p + 4);
            off += (size_t)r;
            continue;
        }
        cv_rtsp_msg m;
        int r = cv_rtsp_parse(p, len, &m);
        if (r <= 0) {
            /* "Need more" is only allowed while under the head limit plus
             * the declared body. */
            CHECK(r < 0 || len <= CV_RTSP_MAX_HEAD + CV_RTSP_MAX_BODY);
            break;
        }
        CHECK((size_t)r <= len);
        check_msg(&m, p, (size_t)r);
        /* Incremental parsing: a strict prefix of a message is never an
         * error and never a message. */
        if (r > 1) {
            cv_rtsp_msg pm;
            CHECK(cv_rtsp_parse(p, (size_t)r - 1, &pm) == 0);
            CHECK(cv_rtsp_parse(p, (size_t)r / 2, &pm) == 0);
        }
        off += (size_t)r;
    }
    return 0;
}
