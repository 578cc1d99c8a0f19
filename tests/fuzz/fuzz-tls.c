/* Fuzzes the server side of src/tls/tls.c as the HTTP server drives it:
 * the input is what a client sends on a fresh connection (ClientHello and
 * whatever follows), fed in pieces; after each piece the outgoing bytes are
 * taken and decrypted bytes read, as server.c does.
 *
 * Input layout: byte 0 is the largest piece (0: everything at once; else
 * sizes vary pseudo-randomly from 1 up to it), the rest is the stream.
 * The certificate is made once per process in a scratch directory. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls/tls.h"

#include "fuzz-check.h"

static cv_tls_ctx *make_ctx(void)
{
    static const char *const names[] = {"localhost"};
    static const char *const alpn[] = {"http/1.1"};
    char dir[] = "/tmp/cv-fuzz-tls-XXXXXX", cert[64], key[64], err[256];
    cv_tls_ctx *c = NULL;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cert, sizeof(cert), "%s/c.pem", dir);
    snprintf(key, sizeof(key), "%s/k.pem", dir);
    int rc = cv_tls_make_selfsigned(cert, key, names, 1, 1, err, sizeof(err));
    if (rc == 0)
        rc = cv_tls_ctx_new(&c, cert, key, alpn, 1, err, sizeof(err));
    unlink(cert);
    unlink(key);
    rmdir(dir);
    if (rc != 0) {
        fprintf(stderr, "fuzz-tls: %s\n", err);
        abort();
    }
    return c;
}

static void drain(cv_tls_conn *t)
{
    uint8_t out[4096];
    while (cv_tls_conn_take_out(t, out, sizeof(out)) > 0) {
    }
    CHECK(cv_tls_conn_pending_out(t) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cv_tls_ctx *ctx;
    if (!ctx)
        ctx = make_ctx();
    if (size < 1)
        return 0;
    size_t piece = data[0];
    data++;
    size--;
    cv_tls_conn *t = cv_tls_conn_new(ctx);
    CHECK(t != NULL);
    uint32_t rng = 2463534242u;
    bool failed = false, closed = false;
    size_t off = 0;
    while (off < size) {
        size_t n = size - off;
        if (piece) {
            rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
            n = n < 1 + rng % piece ? n : 1 + rng % piece;
        }
        int rc = cv_tls_conn_feed(t, data + off, n);
        off += n;
        CHECK(rc == 0 || rc == -EPROTO);
        CHECK(!failed || rc == -EPROTO); /* a failure is final */
        if (rc < 0) {
            failed = true;
            CHECK(cv_tls_conn_error(t)[0] != '\0');
            CHECK(cv_tls_conn_read(t, (char[1]){0}, 1) == -EPROTO);
        }
        drain(t);
        uint8_t buf[1024];
        long r;
        while ((r = cv_tls_conn_read(t, buf, sizeof(buf))) > 0)
            CHECK((size_t)r <= sizeof(buf));
        CHECK(r == 0 || r == -EPIPE || r == -EPROTO);
        if (r == -EPIPE)
            closed = true;
        if (cv_tls_conn_handshake_done(t) && !failed && !closed) {
            CHECK(strcmp(cv_tls_conn_alpn(t), "http/1.1") == 0 || cv_tls_conn_alpn(t)[0] == '\0');
            rc = cv_tls_conn_write(t, "HTTP/1.1 200 OK\r\n\r\n", 19);
            CHECK(rc == 0 || rc == -EPROTO);
        }
        drain(t);
    }
    cv_tls_conn_shutdown(t);
    drain(t);
    cv_tls_conn_free(t);
    return 0;
}
