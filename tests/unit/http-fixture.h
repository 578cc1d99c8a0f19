/* Client-side helpers for the tests that talk to a real cv_http server on
 * 127.0.0.1 (test-http, test-oauth, test-fulfill), and the scratch-store
 * helpers the endpoint tests share with the OAuth store test:
 *  - http_fx_header: one header's value out of a raw response head;
 *  - http_fx_exchange: one request on a fresh connection, answered while the
 *    server's loop is turned on this thread (UV_RUN_NOWAIT), so the store
 *    behind the server is only ever touched by the test thread;
 *  - fx_add_cam, fx_count_events: a push camera in a home; audit events of
 *    one kind. */
#ifndef CV_TEST_HTTP_FIXTURE_H
#define CV_TEST_HTTP_FIXTURE_H

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "base/id.h"
#include "base/util.h"
#include "store/audit.h"
#include "store/people.h"
#include "store/store.h"

/* ------------------------------------------------------------ HTTP */

/* Copies the value of header name (case-insensitive, leading spaces cut)
 * from head, the status line and header lines each ending in \r\n, into out.
 * False when there is no such header. */
static inline bool http_fx_header(const char *head, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *line = l + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            snprintf(out, cap, "%.*s", (int)(e - v), v);
            return true;
        }
    }
    return false;
}

typedef struct {
    int status;
    char head[8192]; /* the status line and headers, through the blank line */
    char *body;      /* NUL-terminated, malloc'ed: the caller frees it */
    size_t body_len;
} http_fx_resp;

/* Writes req (len bytes) on a new connection to 127.0.0.1:port and reads the
 * answer while turning loop: up to its Content-Length (no body when
 * head_only, for HEAD), else to EOF. Fails the test when no answer head has
 * arrived within timeout_us. */
static inline void http_fx_exchange(uv_loop_t *loop, int port, const char *req, size_t len, bool head_only,
                                    int64_t timeout_us, http_fx_resp *out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    size_t sent = 0, got = 0, rcap = 1 << 16;
    char *buf = malloc(rcap);
    assert_non_null(buf);
    int64_t deadline = cv_now_us() + timeout_us;
    size_t hlen = 0, want = SIZE_MAX;
    for (;;) {
        assert_true(cv_now_us() < deadline);
        uv_run(loop, UV_RUN_NOWAIT);
        if (sent < len) {
            ssize_t k = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
            if (k > 0)
                sent += (size_t)k;
        }
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 1) <= 0)
            continue;
        if (got == rcap) {
            rcap *= 2;
            buf = realloc(buf, rcap);
            assert_non_null(buf);
        }
        ssize_t k = recv(fd, buf + got, rcap - got, 0);
        if (k == 0)
            break;
        if (k < 0)
            continue;
        got += (size_t)k;
        if (!hlen) {
            char *e = memmem(buf, got, "\r\n\r\n", 4);
            if (!e)
                continue;
            hlen = (size_t)(e - buf) + 4;
            assert_true(hlen < sizeof(out->head));
            memcpy(out->head, buf, hlen);
            out->head[hlen] = '\0';
            char v[32];
            want = http_fx_header(out->head, "Content-Length", v, sizeof(v)) ? hlen + (size_t)atol(v) : SIZE_MAX;
            if (head_only)
                want = hlen;
        }
        if (got >= want)
            break;
    }
    close(fd);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_true(hlen > 0);
    assert_int_equal(sscanf(out->head, "HTTP/1.1 %d", &out->status), 1);
    out->body_len = got - hlen;
    out->body = malloc(out->body_len + 1);
    assert_non_null(out->body);
    memcpy(out->body, buf + hlen, out->body_len);
    out->body[out->body_len] = '\0';
    free(buf);
}

/* ------------------------------------------------------------ store */

/* Adds a push camera called name (model: may be "") to home. */
static inline cv_id fx_add_cam(cv_store *s, const cv_id *home, const char *name, const char *model)
{
    cv_camera_rec *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->home = *home;
    r->source = CV_CAM_PUSH;
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(r->model, sizeof(r->model), "%s", model);
    cv_id id;
    assert_int_equal(cv_store_camera_add(s, r, &id), 0);
    free(r);
    return id;
}

/* How many audit events of this kind the store holds. */
static inline size_t fx_count_events(cv_store *s, const char *event)
{
    cv_audit_rec *r = NULL;
    size_t n = 0, k = 0;
    assert_int_equal(cv_store_audit_list(s, 0, NULL, 10000, &r, &n), 0);
    for (size_t i = 0; i < n; i++)
        k += strcmp(r[i].event, event) == 0;
    free(r);
    return k;
}

#endif
