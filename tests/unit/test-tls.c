/* Tests for src/tls/tls.c: self-signed certificates, loading and reloading
 * the context, and full handshakes between a server cv_tls_conn and an
 * OpenSSL client, both on memory BIOs and pumped by hand in this thread. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls/tls.h"
#include "tmpdir-fixture.h"

static const char *const http11[] = {"http/1.1"};
static const char *const names[] = {"localhost", "127.0.0.1", "::1"};

/* ------------------------------------------------------------- fixture */

typedef struct {
    tmpdir td;
    char cert[160], key[160];
    char cert2[160], key2[160]; /* a second, unrelated pair */
} files;

static files *files_new(void)
{
    files *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(tmpdir_make(&f->td, "tls", "x"), 0);
    snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", f->td.dir);
    snprintf(f->key, sizeof(f->key), "%s/key.pem", f->td.dir);
    snprintf(f->cert2, sizeof(f->cert2), "%s/cert2.pem", f->td.dir);
    snprintf(f->key2, sizeof(f->key2), "%s/key2.pem", f->td.dir);
    char err[256];
    int rc = cv_tls_make_selfsigned(f->cert, f->key, names, 3, 30, err, sizeof(err));
    if (rc != 0)
        fail_msg("make_selfsigned: %s", err);
    return f;
}

static void files_free(files *f)
{
    assert_int_equal(tmpdir_remove(&f->td), 0);
    free(f);
}

static cv_tls_ctx *ctx_new(const files *f, const char *const *alpn, size_t nalpn)
{
    cv_tls_ctx *c = NULL;
    char err[256] = "";
    if (cv_tls_ctx_new(&c, f->cert, f->key, alpn, nalpn, err, sizeof(err)) != 0)
        fail_msg("ctx_new: %s", err);
    return c;
}

/* An OpenSSL client on memory BIOs that trusts the self-signed cert ca. */
typedef struct {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
} client;

static client *client_new(const char *ca, const char *const *alpn, size_t nalpn)
{
    client *cl = calloc(1, sizeof(*cl));
    assert_non_null(cl);
    cl->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(cl->ctx);
    if (ca) { /* else no verification */
        assert_int_equal(SSL_CTX_load_verify_locations(cl->ctx, ca, NULL), 1);
        SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_PEER, NULL);
    }
    cl->ssl = SSL_new(cl->ctx);
    assert_int_equal(SSL_set1_host(cl->ssl, "localhost"), 1);
    assert_int_equal(SSL_set_tlsext_host_name(cl->ssl, "localhost"), 1);
    if (nalpn) {
        unsigned char wire[64];
        size_t n = 0;
        for (size_t i = 0; i < nalpn; i++) {
            wire[n++] = (unsigned char)strlen(alpn[i]);
            memcpy(wire + n, alpn[i], strlen(alpn[i]));
            n += strlen(alpn[i]);
        }
        assert_int_equal(SSL_set_alpn_protos(cl->ssl, wire, (unsigned)n), 0);
    }
    cl->rbio = BIO_new(BIO_s_mem());
    cl->wbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(cl->rbio, -1);
    SSL_set_bio(cl->ssl, cl->rbio, cl->wbio);
    SSL_set_connect_state(cl->ssl);
    return cl;
}

static void client_free(client *cl)
{
    SSL_free(cl->ssl);
    SSL_CTX_free(cl->ctx);
    free(cl);
}

/* Client -> server; returns the last feed's result. */
static int c2s(client *cl, cv_tls_conn *t)
{
    char buf[8192];
    int n, rc = 0;
    while ((n = BIO_read(cl->wbio, buf, sizeof(buf))) > 0)
        if ((rc = cv_tls_conn_feed(t, buf, (size_t)n)) < 0)
            return rc;
    return rc;
}

static void s2c(cv_tls_conn *t, client *cl)
{
    char buf[8192];
    size_t n;
    assert_int_equal(cv_tls_conn_take_out(t, buf, 0), 0);
    while ((n = cv_tls_conn_take_out(t, buf, sizeof(buf))) > 0)
        assert_int_equal(BIO_write(cl->rbio, buf, (int)n), (int)n);
    assert_int_equal(cv_tls_conn_pending_out(t), 0);
}

/* Runs the handshake. Returns 0, the server's -EPROTO, or -1 (client side).
 * The client's error is taken before the server runs: both share this
 * thread's OpenSSL error queue. */
static int handshake(client *cl, cv_tls_conn *t)
{
    for (int i = 0; i < 10; i++) {
        int r = SSL_do_handshake(cl->ssl);
        int e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(cl->ssl, r);
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ && getenv("CV_TEST_LOG")) {
            fprintf(stderr, "client: SSL error %d\n", e);
            ERR_print_errors_fp(stderr);
        }
        int rc = c2s(cl, t);
        s2c(t, cl);
        if (rc < 0)
            return rc;
        if (r == 1 && cv_tls_conn_handshake_done(t))
            return 0;
        if (e != SSL_ERROR_NONE && e != SSL_ERROR_WANT_READ)
            return -1;
    }
    return -ETIMEDOUT;
}

/* Client -> server bytes, checked on arrival. */
static void send_up(client *cl, cv_tls_conn *t, const char *msg)
{
    size_t len = strlen(msg);
    assert_int_equal(SSL_write(cl->ssl, msg, (int)len), (int)len);
    assert_int_equal(c2s(cl, t), 0);
    char buf[256];
    size_t got = 0;
    long n;
    while ((n = cv_tls_conn_read(t, buf + got, sizeof(buf) - got)) > 0)
        got += (size_t)n;
    assert_int_equal(n, 0);
    assert_int_equal(got, len);
    assert_memory_equal(buf, msg, len);
    s2c(t, cl); /* whatever reading produced (nothing, normally) */
}

/* Server -> client, len bytes of a pattern. */
static void send_down(cv_tls_conn *t, client *cl, size_t len)
{
    unsigned char *p = malloc(len), *q = malloc(len);
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)(i * 7 + 3);
    assert_int_equal(cv_tls_conn_write(t, p, len), 0);
    s2c(t, cl);
    size_t got = 0;
    while (got < len) {
        int n = SSL_read(cl->ssl, q + got, (int)(len - got));
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(p, q, len);
    free(p);
    free(q);
}

static void peer_fingerprint(client *cl, char out[96])
{
    X509 *x = SSL_get1_peer_certificate(cl->ssl);
    assert_non_null(x);
    unsigned char md[32];
    unsigned int n = 0;
    assert_int_equal(X509_digest(x, EVP_sha256(), md, &n), 1);
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
    X509_free(x);
}

/* Shows an error message with CV_TEST_LOG set, to judge its wording. */
static void note(const char *err)
{
    if (getenv("CV_TEST_LOG"))
        fprintf(stderr, "message: %s\n", err);
}

/* --------------------------------------------------------------- cases */

static void test_tls_selfsigned_handshake_and_data(void **state)
{
    (void)state;
    files *f = files_new();
    cv_tls_ctx *c = ctx_new(f, http11, 1);
    const char *fp = cv_tls_ctx_fingerprint(c);
    assert_int_equal(strlen(fp), 95);
    cv_tls_conn *t = cv_tls_conn_new(c);
    assert_non_null(t);
    assert_false(cv_tls_conn_handshake_done(t));
    client *cl = client_new(f->cert, http11, 1);
    assert_int_equal(handshake(cl, t), 0);
    /* The client verified chain and host name. */
    assert_int_equal(SSL_get_verify_result(cl->ssl), X509_V_OK);
    assert_string_equal(cv_tls_conn_alpn(t), "http/1.1");
    const unsigned char *a;
    unsigned int alen;
    SSL_get0_alpn_selected(cl->ssl, &a, &alen);
    assert_int_equal(alen, 8);
    assert_memory_equal(a, "http/1.1", 8);
    char seen[96];
    peer_fingerprint(cl, seen);
    assert_string_equal(seen, fp);
    assert_true(SSL_version(cl->ssl) >= TLS1_2_VERSION);

    /* The certificate is what a browser expects of a server leaf. */
    X509 *x = SSL_get1_peer_certificate(cl->ssl);
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
    assert_int_equal(X509_check_host(x, "example.com", 0, 0, NULL), 0);
    assert_int_equal(X509_check_ca(x), 0);
    assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
    assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    time_t soon = time(NULL) - 3000;
    assert_true(X509_cmp_time(X509_get0_notBefore(x), &soon) < 0);
    EVP_PKEY *pk = X509_get0_pubkey(x);
    assert_true(EVP_PKEY_is_a(pk, "EC"));
    assert_int_equal(EVP_PKEY_get_bits(pk), 256);
    X509_free(x);

    /* Data both ways, including several records' worth. */
    send_up(cl, t, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    send_down(t, cl, 5);
    send_down(t, cl, 100000);
    send_up(cl, t, "again");
    assert_int_equal(cv_tls_conn_write(t, "", 0), 0);

    /* The server's close_notify reaches the client as a clean end... */
    cv_tls_conn_shutdown(t);
    cv_tls_conn_shutdown(t); /* twice is harmless */
    s2c(t, cl);
    char b[16];
    assert_true(SSL_read(cl->ssl, b, sizeof(b)) <= 0);
    assert_int_equal(SSL_get_error(cl->ssl, 0), SSL_ERROR_ZERO_RETURN);
    assert_int_equal(cv_tls_conn_write(t, "x", 1), -EPIPE);
    /* ...and the client's reaches the server as -EPIPE. */
    SSL_shutdown(cl->ssl);
    assert_int_equal(c2s(cl, t), 0);
    assert_int_equal(cv_tls_conn_read(t, b, sizeof(b)), -EPIPE);

    client_free(cl);
    cv_tls_conn_free(t);
    cv_tls_ctx_free(c);
    files_free(f);
}

static void test_tls_alpn(void **state)
{
    (void)state;
    files *f = files_new();
    cv_tls_ctx *c = ctx_new(f, http11, 1);
    /* Only h2 on offer: the handshake fails with no_application_protocol. */
    static const char *const h2[] = {"h2"};
    cv_tls_conn *t = cv_tls_conn_new(c);
    client *cl = client_new(f->cert, h2, 1);
    assert_int_equal(handshake(cl, t), -EPROTO);
    assert_non_null(strstr(cv_tls_conn_error(t), "no application protocol"));
    assert_false(cv_tls_conn_handshake_done(t));
    assert_int_equal(SSL_do_handshake(cl->ssl), -1); /* it got the alert */
    char b[8];
    assert_int_equal(cv_tls_conn_read(t, b, sizeof(b)), -EPROTO);
    assert_int_equal(cv_tls_conn_write(t, "x", 1), -EPROTO);
    assert_int_equal(cv_tls_conn_feed(t, "x", 1), -EPROTO);
    client_free(cl);
    cv_tls_conn_free(t);
    ERR_clear_error();

    /* No ALPN at all is fine. */
    t = cv_tls_conn_new(c);
    cl = client_new(f->cert, NULL, 0);
    assert_int_equal(handshake(cl, t), 0);
    assert_string_equal(cv_tls_conn_alpn(t), "");
    client_free(cl);
    cv_tls_conn_free(t);
    cv_tls_ctx_free(c);

    /* The server's preference wins over the client's order. */
    static const char *const ours[] = {"http/1.1", "h2"};
    static const char *const theirs[] = {"h2", "spdy/3", "http/1.1"};
    c = ctx_new(f, ours, 2);
    t = cv_tls_conn_new(c);
    cl = client_new(f->cert, theirs, 3);
    assert_int_equal(handshake(cl, t), 0);
    assert_string_equal(cv_tls_conn_alpn(t), "http/1.1");
    client_free(cl);
    cv_tls_conn_free(t);
    cv_tls_ctx_free(c);
    files_free(f);
}

static void test_tls_garbage_is_eproto(void **state)
{
    (void)state;
    files *f = files_new();
    cv_tls_ctx *c = ctx_new(f, http11, 1);
    static const struct {
        const char *p;
        size_t len;
    } inputs[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27},
        {"\x16\x03\x01\x00\x04\x02\x00\x00\x00", 9},   /* a ServerHello sent to the server */
        {"\x17\x03\x03\x00\x04zzzz", 9},               /* application data before any handshake */
        {"\x15\x03\x03\x00\x02\x02\x28", 7},           /* a fatal alert: handshake_failure */
        {"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", 8},
    };
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        cv_tls_conn *t = cv_tls_conn_new(c);
        assert_int_equal(cv_tls_conn_feed(t, inputs[i].p, inputs[i].len), -EPROTO);
        assert_true(strlen(cv_tls_conn_error(t)) > 0);
        if (getenv("CV_TEST_LOG"))
            fprintf(stderr, "input %zu: %s\n", i, cv_tls_conn_error(t));
        char b[8];
        assert_int_equal(cv_tls_conn_read(t, b, sizeof(b)), -EPROTO);
        cv_tls_conn_shutdown(t); /* nothing to say after a failure */
        cv_tls_conn_free(t);
    }
    /* Pseudo-random bytes of every length up to 64, in pieces. */
    srand(7);
    for (int round = 0; round < 200; round++) {
        cv_tls_conn *t = cv_tls_conn_new(c);
        unsigned char b[64];
        size_t n = (size_t)round % sizeof(b) + 1;
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)rand();
        int rc = 0;
        for (size_t off = 0; off < n && rc == 0; off += 7)
            rc = cv_tls_conn_feed(t, b + off, n - off < 7 ? n - off : 7);
        assert_true(rc == 0 || rc == -EPROTO);
        unsigned char out[4096];
        while (cv_tls_conn_take_out(t, out, sizeof(out)) > 0) {
        }
        cv_tls_conn_free(t);
    }
    /* Bytes just split anywhere still make a handshake. */
    cv_tls_conn *t = cv_tls_conn_new(c);
    client *cl = client_new(f->cert, http11, 1);
    assert_int_equal(SSL_do_handshake(cl->ssl), -1);
    char hello[4096];
    int n = BIO_read(cl->wbio, hello, sizeof(hello));
    assert_true(n > 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(cv_tls_conn_feed(t, hello + i, 1), 0);
    s2c(t, cl);
    assert_int_equal(handshake(cl, t), 0);
    send_up(cl, t, "ok");
    client_free(cl);
    cv_tls_conn_free(t);
    cv_tls_ctx_free(c);
    files_free(f);
}

static void test_tls_reload_keeps_old_connections(void **state)
{
    (void)state;
    files *f = files_new();
    cv_tls_ctx *c = ctx_new(f, http11, 1);
    char fp1[96], fp2[96], seen[96];
    snprintf(fp1, sizeof(fp1), "%s", cv_tls_ctx_fingerprint(c));
    assert_false(cv_tls_ctx_files_changed(c));
    cv_tls_conn *old = cv_tls_conn_new(c);
    client *clo = client_new(f->cert, http11, 1);
    assert_int_equal(handshake(clo, old), 0);

    /* A new certificate in the same files (atomic replacement). */
    char err[256];
    static const char *const other[] = {"localhost"};
    assert_int_equal(cv_tls_make_selfsigned(f->cert, f->key, other, 1, 10, err, sizeof(err)), 0);
    assert_true(cv_tls_ctx_files_changed(c));
    assert_int_equal(cv_tls_ctx_reload(c, err, sizeof(err)), 0);
    assert_false(cv_tls_ctx_files_changed(c));
    snprintf(fp2, sizeof(fp2), "%s", cv_tls_ctx_fingerprint(c));
    assert_string_not_equal(fp1, fp2);

    cv_tls_conn *nw = cv_tls_conn_new(c);
    client *cln = client_new(f->cert, http11, 1);
    assert_int_equal(handshake(cln, nw), 0);
    peer_fingerprint(cln, seen);
    assert_string_equal(seen, fp2);
    peer_fingerprint(clo, seen);
    assert_string_equal(seen, fp1);

    /* The context goes; both connections carry on with their own. */
    cv_tls_ctx_free(c);
    send_up(clo, old, "old one");
    send_down(old, clo, 3000);
    send_up(cln, nw, "new one");
    send_down(nw, cln, 3000);
    client_free(clo);
    client_free(cln);
    cv_tls_conn_free(old);
    cv_tls_conn_free(nw);
    files_free(f);
}

static void test_tls_load_errors(void **state)
{
    (void)state;
    files *f = files_new();
    char err[512];
    cv_tls_ctx *c = NULL;
    static const char *const one[] = {"localhost"};
    assert_int_equal(cv_tls_make_selfsigned(f->cert2, f->key2, one, 1, 10, err, sizeof(err)), 0);

    /* A key that is not the certificate's. */
    err[0] = '\0';
    assert_int_equal(cv_tls_ctx_new(&c, f->cert, f->key2, http11, 1, err, sizeof(err)), -1);
    note(err);
    assert_null(c);
    assert_non_null(strstr(err, f->key2));
    assert_non_null(strstr(err, "mismatch"));
    assert_null(strstr(err, "PRIVATE KEY")); /* no key material in messages */

    /* Missing files name themselves. */
    assert_int_equal(cv_tls_ctx_new(&c, "/nonexistent/cert.pem", f->key, http11, 1, err, sizeof(err)), -1);
    note(err);
    assert_non_null(strstr(err, "/nonexistent/cert.pem"));
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(cv_tls_ctx_new(&c, f->cert, f->td.dir, http11, 1, err, sizeof(err)), -1);
    note(err);
    assert_non_null(strstr(err, f->td.dir));

    /* A certificate file that is not PEM. */
    FILE *fp = fopen(f->cert2, "w");
    fputs("not a certificate\n", fp);
    fclose(fp);
    assert_int_equal(cv_tls_ctx_new(&c, f->cert2, f->key, http11, 1, err, sizeof(err)), -1);
    note(err);
    assert_non_null(strstr(err, f->cert2));

    /* A passphrase-protected key fails at once instead of prompting. */
    BIO *in = BIO_new_file(f->key, "r");
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(in, NULL, NULL, NULL);
    BIO_free(in);
    assert_non_null(pk);
    BIO *out = BIO_new_file(f->key2, "w");
    assert_int_equal(PEM_write_bio_PrivateKey(out, pk, EVP_aes_128_cbc(), (unsigned char *)"pw", 2, NULL, NULL), 1);
    BIO_free(out);
    EVP_PKEY_free(pk);
    assert_int_equal(cv_tls_ctx_new(&c, f->cert, f->key2, http11, 1, err, sizeof(err)), -1);
    note(err);
    assert_non_null(strstr(err, f->key2));

    /* An empty ALPN name. */
    static const char *const empty[] = {""};
    assert_int_equal(cv_tls_ctx_new(&c, f->cert, f->key, empty, 1, err, sizeof(err)), -1);
    note(err);
    assert_non_null(strstr(err, "ALPN"));

    /* A failed reload keeps the certificate in use. */
    c = ctx_new(f, http11, 1);
    char fp1[96];
    snprintf(fp1, sizeof(fp1), "%s", cv_tls_ctx_fingerprint(c));
    fp = fopen(f->cert, "w");
    fputs("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", fp);
    fclose(fp);
    assert_true(cv_tls_ctx_files_changed(c));
    assert_int_equal(cv_tls_ctx_reload(c, err, sizeof(err)), -1);
    note(err);
    assert_non_null(strstr(err, f->cert));
    /* Not changed again until the files are: no reload storm. */
    assert_false(cv_tls_ctx_files_changed(c));
    assert_string_equal(cv_tls_ctx_fingerprint(c), fp1);
    cv_tls_conn *t = cv_tls_conn_new(c);
    client *cl = client_new(NULL, NULL, 0); /* the file on disk is the broken one */
    assert_int_equal(handshake(cl, t), 0);
    char seen[96];
    peer_fingerprint(cl, seen);
    assert_string_equal(seen, fp1);
    client_free(cl);
    cv_tls_conn_free(t);
    cv_tls_ctx_free(c);
    files_free(f);
}

static void test_tls_selfsigned_files(void **state)
{
    (void)state;
    files *f = files_new();
    struct stat st;
    assert_int_equal(stat(f->key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(f->cert, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* The modes hold under a strict umask, and on a rewrite. */
    mode_t old = umask(077);
    char err[256];
    assert_int_equal(cv_tls_make_selfsigned(f->cert, f->key, names, 1, 1, err, sizeof(err)), 0);
    umask(old);
    assert_int_equal(stat(f->key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(f->cert, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* No temporary file left behind. */
    DIR *d = opendir(f->td.dir);
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            count++;
    closedir(d);
    assert_int_equal(count, 2);

    /* Bad input is refused with a reason. */
    static const char *const bad[] = {"localhost,DNS:evil.example"};
    err[0] = '\0';
    assert_int_equal(cv_tls_make_selfsigned(f->cert2, f->key2, bad, 1, 10, err, sizeof(err)), -1);
    assert_true(strlen(err) > 0);
    assert_int_equal(cv_tls_make_selfsigned(f->cert2, f->key2, names, 1, 0, err, sizeof(err)), -1);
    assert_int_equal(cv_tls_make_selfsigned(f->cert2, f->key2, names, 0, 10, err, sizeof(err)), -1);
    assert_int_equal(cv_tls_make_selfsigned("/nonexistent/c.pem", "/nonexistent/k.pem", names, 1, 10, err,
                                            sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "/nonexistent/k.pem"));
    assert_int_equal(stat(f->cert2, &st), -1);
    files_free(f);
}

static void test_tls_write_before_handshake_waits(void **state)
{
    (void)state;
    files *f = files_new();
    cv_tls_ctx *c = ctx_new(f, http11, 1);
    cv_tls_conn *t = cv_tls_conn_new(c);
    assert_int_equal(cv_tls_conn_write(t, "early", 5), 0);
    assert_int_equal(cv_tls_conn_pending_out(t), 0);
    client *cl = client_new(f->cert, http11, 1);
    assert_int_equal(handshake(cl, t), 0);
    char b[16];
    int n = SSL_read(cl->ssl, b, sizeof(b));
    assert_int_equal(n, 5);
    assert_memory_equal(b, "early", 5);
    client_free(cl);
    cv_tls_conn_free(t);
    cv_tls_ctx_free(c);
    files_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_selfsigned_handshake_and_data),
        cmocka_unit_test(test_tls_alpn),
        cmocka_unit_test(test_tls_garbage_is_eproto),
        cmocka_unit_test(test_tls_reload_keeps_old_connections),
        cmocka_unit_test(test_tls_load_errors),
        cmocka_unit_test(test_tls_selfsigned_files),
        cmocka_unit_test(test_tls_write_before_handshake_waits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
