/* Unit tests for the server side of src/rtsp/auth.c: Authorization parsing
 * (headers as ffmpeg, VLC/live555 and GStreamer send them), Digest checks
 * against RFC 2069, RFC 2617 section 3.5 and RFC 7616 section 3.9.1,
 * stateless nonces and challenges, and a roundtrip with our own client. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rtsp/auth.h"

static cv_str S(const char *s) { return cv_str_from(s); }

/* Parses from an exact-size heap copy, so ASan sees any read past the view.
 * The copy lives until the next call (the views point into it). */
static char *last_copy;

static int parse_exact(const char *s, size_t len, cv_auth_credentials *out)
{
    free(last_copy);
    char *copy = last_copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    int res = cv_auth_parse_credentials((cv_str){copy, len}, out);
    /* Views must stay inside the copy or the struct itself. */
    if (res == 0) {
        const cv_str *v[] = {&out->username, &out->realm, &out->nonce,  &out->uri,       &out->response,
                             &out->qop,      &out->nc,    &out->cnonce, &out->algorithm, &out->opaque};
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
            if (!v[i]->len)
                continue;
            const char *p = v[i]->p;
            bool in_copy = p >= copy && p + v[i]->len <= copy + len;
            bool in_self = p >= (const char *)out && p + v[i]->len <= (const char *)(out + 1);
            assert_true(in_copy || in_self);
        }
    }
    return res;
}

static int parse(const char *s, cv_auth_credentials *out) { return cv_auth_parse_credentials(S(s), out); }

static void assert_view(cv_str v, const char *want)
{
    if (v.len != strlen(want) || memcmp(v.p, want, v.len) != 0)
        fail_msg("got \"%.*s\", want \"%s\"", (int)v.len, v.p ? v.p : "", want);
}

static bool ok(const cv_auth_credentials *c, const char *method, const char *pw)
{
    return cv_auth_digest_ok(c, method, pw, strlen(pw));
}

/* ------------------------------------------------------------ real clients */

static void test_ffmpeg(void **state)
{
    (void)state;
    cv_auth_credentials c;
    /* libavformat/httpauth.c make_digest_auth() after our challenge (qop="auth",
     * algorithm=MD5): algorithm and qop quoted, 16 hex digit cnonce, nc last. */
    const char *h = "Digest username=\"admin\", realm=\"camvault\", nonce=\"AAX6n7yAx8Hh3aV2tLq9e0mWcR4kP1sZ\", "
                    "uri=\"rtsp://192.168.1.10:8554/cam/front\", response=\"20f76fe35920c343cff38fc05b59c75d\", "
                    "algorithm=\"MD5\", qop=\"auth\", cnonce=\"3f6a7c2d91e04b58\", nc=00000001";
    assert_int_equal(parse_exact(h, strlen(h), &c), 0);
    assert_true(c.digest);
    assert_view(c.username, "admin");
    assert_view(c.realm, "camvault");
    assert_view(c.nonce, "AAX6n7yAx8Hh3aV2tLq9e0mWcR4kP1sZ");
    assert_view(c.uri, "rtsp://192.168.1.10:8554/cam/front");
    assert_view(c.response, "20f76fe35920c343cff38fc05b59c75d");
    assert_view(c.algorithm, "MD5");
    assert_view(c.qop, "auth");
    assert_view(c.cnonce, "3f6a7c2d91e04b58");
    assert_view(c.nc, "00000001");
    assert_int_equal(c.opaque.len, 0);
    assert_true(ok(&c, "DESCRIBE", "s3cret:pw"));
    assert_false(ok(&c, "DESCRIBE", "s3cret:pX"));
    assert_false(ok(&c, "DESCRIBE", "s3cret:p"));
    assert_false(ok(&c, "PLAY", "s3cret:pw"));
    assert_false(cv_auth_digest_ok(&c, "DESCRIBE", "s3cret:pw\0", 10));

    /* The same, the order of the brief (bare algorithm and qop). */
    h = "Digest username=\"admin\", realm=\"camvault\", nonce=\"AAX6n7yAx8Hh3aV2tLq9e0mWcR4kP1sZ\", "
        "uri=\"rtsp://192.168.1.10:8554/cam/front\", algorithm=\"MD5\", qop=auth, nc=00000001, "
        "cnonce=\"3f6a7c2d91e04b58\", response=\"20f76fe35920c343cff38fc05b59c75d\"";
    assert_int_equal(parse_exact(h, strlen(h), &c), 0);
    assert_true(ok(&c, "DESCRIBE", "s3cret:pw"));

    /* Against a server that offered no qop. */
    h = "Digest username=\"admin\", realm=\"camvault\", nonce=\"AAX6n7yAx8Hh3aV2tLq9e0mWcR4kP1sZ\", "
        "uri=\"rtsp://192.168.1.10:8554/cam/front\", response=\"ff37a77dc81b5d1677901e7984c87e56\"";
    assert_int_equal(parse_exact(h, strlen(h), &c), 0);
    assert_int_equal(c.qop.len, 0);
    assert_int_equal(c.algorithm.len, 0);
    assert_true(ok(&c, "DESCRIBE", "s3cret:pw"));
    assert_false(ok(&c, "DESCRIBE", "s3cret"));
}

static void test_live555_vlc(void **state)
{
    (void)state;
    cv_auth_credentials c;
    /* live555 RTSPClient (VLC): RFC 2069 style even when qop is offered. */
    const char *h = "Digest username=\"viewer\", realm=\"camvault\", nonce=\"AAX6n7yAx8Hh3aV2tLq9e0mWcR4kP1sZ\", "
                    "uri=\"rtsp://cams.example.net:8554/cam/porch/\", response=\"4851a0a5c6800c446519ded4ae2274c3\"";
    assert_int_equal(parse_exact(h, strlen(h), &c), 0);
    assert_true(ok(&c, "DESCRIBE", "hunter2"));
    assert_false(ok(&c, "DESCRIBE", "Hunter2"));
    assert_false(ok(&c, "OPTIONS", "hunter2"));

    /* live555 Basic */
    assert_int_equal(parse("Basic dmlld2VyOmh1bnRlcjI=", &c), 0);
    assert_false(c.digest);
    assert_string_equal(c.basic_user, "viewer");
    assert_string_equal(c.basic_pass, "hunter2");
    assert_view(c.username, "viewer");
    assert_false(ok(&c, "DESCRIBE", "hunter2")); /* not Digest */
}

static void test_gstreamer(void **state)
{
    (void)state;
    cv_auth_credentials c;
    /* gstrtspconnection.c add_auth_header(): no qop, opaque appended when the
     * server sent one; a publishing camera (rtspclientsink) sends ANNOUNCE. */
    const char *h = "Digest username=\"ingest\", realm=\"camvault\", nonce=\"MTcxNjk5\", "
                    "uri=\"rtsp://127.0.0.1:8554/cam/garage\", response=\"83029a1709551b4c88411dca0dc4dc9e\", "
                    "opaque=\"5ccc069c403ebaf9\"";
    assert_int_equal(parse_exact(h, strlen(h), &c), 0);
    assert_view(c.opaque, "5ccc069c403ebaf9");
    assert_true(ok(&c, "ANNOUNCE", "Zx9!pQ"));
    assert_false(ok(&c, "RECORD", "Zx9!pQ"));

    h = "Digest username=\"ingest\", realm=\"camvault\", nonce=\"MTcxNjk5\", "
        "uri=\"rtsp://127.0.0.1:8554/cam/garage/stream=0\", response=\"3450e488d91e9265746ab06eb8ba83e9\"";
    assert_int_equal(parse_exact(h, strlen(h), &c), 0);
    assert_true(ok(&c, "SETUP", "Zx9!pQ"));

    /* GStreamer Basic (gst_rtsp_connection_set_auth with BASIC) */
    assert_int_equal(parse("Basic aW5nZXN0Olp4OSFwUQ==", &c), 0);
    assert_string_equal(c.basic_user, "ingest");
    assert_string_equal(c.basic_pass, "Zx9!pQ");
}

/* ------------------------------------------------------------ RFC examples */

static void test_rfc7616(void **state)
{
    (void)state;
    /* Section 3.9.1; folded lines joined with a space. */
    static const char *hdr[] = {
        "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", algorithm=MD5, "
        "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, "
        "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
        "response=\"8ca523f5e9506fed4657c9700eebdbec\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", algorithm=SHA-256, "
        "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, "
        "cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
        "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", "
        "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
    };
    for (size_t i = 0; i < 2; i++) {
        cv_auth_credentials c;
        assert_int_equal(parse_exact(hdr[i], strlen(hdr[i]), &c), 0);
        assert_view(c.username, "Mufasa");
        assert_view(c.realm, "http-auth@example.org");
        assert_view(c.uri, "/dir/index.html");
        assert_view(c.algorithm, i ? "SHA-256" : "MD5");
        assert_view(c.opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
        assert_true(ok(&c, "GET", "Circle of Life"));
        assert_false(ok(&c, "GET", "Circle Of Life"));
        assert_false(ok(&c, "GET", ""));
        assert_false(ok(&c, "POST", "Circle of Life"));

        /* Tampered response (every digit), nonce, uri, nc, user; each must fail. */
        cv_auth_credentials t = c;
        char resp[65];
        for (size_t k = 0; k < c.response.len; k++) {
            memcpy(resp, c.response.p, c.response.len);
            resp[k] = resp[k] == '0' ? '1' : '0';
            t.response = (cv_str){resp, c.response.len};
            if (ok(&t, "GET", "Circle of Life"))
                fail_msg("digit %zu not checked", k);
        }
        t.response = (cv_str){c.response.p, c.response.len - 1};
        assert_false(ok(&t, "GET", "Circle of Life"));
        t = c;
        t.nonce = S("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0w");
        assert_false(ok(&t, "GET", "Circle of Life"));
        t = c;
        t.uri = S("/dir/index.htm");
        assert_false(ok(&t, "GET", "Circle of Life"));
        t = c;
        t.nc = S("00000002");
        assert_false(ok(&t, "GET", "Circle of Life"));
        t = c;
        t.username = S("mufasa");
        assert_false(ok(&t, "GET", "Circle of Life"));
        /* The other algorithm */
        t = c;
        t.algorithm = S(i ? "MD5" : "SHA-256");
        assert_false(ok(&t, "GET", "Circle of Life"));
        /* Upper-case hex is accepted */
        for (size_t k = 0; k < c.response.len; k++)
            resp[k] = (char)((c.response.p[k] >= 'a' && c.response.p[k] <= 'f') ? c.response.p[k] - 32 : c.response.p[k]);
        t = c;
        t.response = (cv_str){resp, c.response.len};
        assert_true(ok(&t, "GET", "Circle of Life"));
    }
}

static void test_rfc2617_and_2069(void **state)
{
    (void)state;
    cv_auth_credentials c;
    /* RFC 2617 section 3.5 */
    const char *h = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
                    "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, nc=00000001, "
                    "cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", "
                    "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    assert_int_equal(parse_exact(h, strlen(h), &c), 0);
    assert_int_equal(c.algorithm.len, 0); /* MD5 */
    assert_true(ok(&c, "GET", "Circle Of Life"));
    assert_false(ok(&c, "GET", "Circle of Life"));
    assert_false(ok(&c, "HEAD", "Circle Of Life"));
    cv_auth_credentials t = c;
    t.cnonce = S("0a4f113c");
    assert_false(ok(&t, "GET", "Circle Of Life"));
    /* Dropping qop turns it into an RFC 2069 response: different hash. */
    t = c;
    t.qop = (cv_str){NULL, 0};
    assert_false(ok(&t, "GET", "Circle Of Life"));

    /* RFC 2069 section 2.4 (password "CircleOfLife") */
    h = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
        "uri=\"/dir/index.html\", response=\"1949323746fe6a43ef61f9606e7febea\", "
        "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    assert_int_equal(parse_exact(h, strlen(h), &c), 0);
    assert_true(ok(&c, "GET", "CircleOfLife"));
    assert_false(ok(&c, "GET", "Circle Of Life"));
}

static void test_digest_refusals(void **state)
{
    (void)state;
    cv_auth_credentials c;
    const char *base = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
                       "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", nc=00000001, "
                       "cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\"";
    char h[512];
    /* Right response, but an algorithm or qop we do not verify. */
    static const char *extra[] = {", qop=auth, algorithm=MD5-sess", ", qop=auth, algorithm=SHA-256-sess",
                                  ", qop=auth, algorithm=SHA-512-256", ", qop=auth-int", ", qop=\"auth,auth-int\"",
                                  ", qop=auth, algorithm=\"\""};
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        snprintf(h, sizeof(h), "%s%s", base, extra[i]);
        assert_int_equal(parse(h, &c), 0);
        if (ok(&c, "GET", "Circle Of Life") && i != 5)
            fail_msg("accepted %s", extra[i]);
    }
    /* algorithm="" counts as absent (MD5) */
    assert_true(ok(&c, "GET", "Circle Of Life"));
    snprintf(h, sizeof(h), "%s, qop=AUTH, algorithm=md5", base);
    assert_int_equal(parse(h, &c), 0);
    /* Case-insensitive names; the client hashed "AUTH": mismatch, no crash. */
    assert_false(ok(&c, "GET", "Circle Of Life"));

    /* SHA-256 length response with MD5, and vice versa. */
    assert_int_equal(parse("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", "
                           "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\"",
                           &c),
                     0);
    assert_false(ok(&c, "GET", "p"));
    assert_int_equal(parse("Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", algorithm=SHA-256, "
                           "response=\"6629fae49393a05397450978507c4ef1\"",
                           &c),
                     0);
    assert_false(ok(&c, "GET", "p"));
    /* NULL method, NULL password with a length */
    assert_false(cv_auth_digest_ok(&c, NULL, "p", 1));
    assert_false(cv_auth_digest_ok(&c, "GET", NULL, 1));
}

/* ------------------------------------------------------------ roundtrip */

static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void roundtrip(const char *chal_extra, bool sha256, const char *user, const char *pass)
{
    const int64_t now = 1700000000000000;
    char nonce[CV_AUTH_NONCE_MAX];
    assert_int_equal(cv_auth_make_nonce(key, now, nonce, sizeof(nonce)), 0);
    cv_sbuf chal, hdr;
    cv_sbuf_init(&chal);
    cv_sbuf_init(&hdr);
    assert_int_equal(cv_auth_make_challenge(&chal, "camvault", nonce, false), 0);
    cv_auth_challenge ch;
    assert_int_equal(cv_auth_parse_challenge((cv_str){chal.p, chal.len}, &ch), 0);
    assert_true(ch.digest);
    assert_true(ch.qop_auth);
    assert_string_equal(ch.realm, "camvault");
    assert_string_equal(ch.nonce, nonce);
    if (chal_extra) {
        /* A variant our challenge does not produce: rebuild it by hand. */
        cv_sbuf_reset(&chal);
        cv_sbuf_printf(&chal, "Digest realm=\"camvault\", nonce=\"%s\"%s", nonce, chal_extra);
        assert_int_equal(cv_auth_parse_challenge((cv_str){chal.p, chal.len}, &ch), 0);
        assert_int_equal(ch.sha256, sha256);
    }

    for (int round = 0; round < 3; round++) {
        cv_sbuf_reset(&hdr);
        const char *uri = round == 2 ? "rtsp://127.0.0.1:8554/cam/x/trackID=1" : "rtsp://127.0.0.1:8554/cam/x";
        const char *method = round == 0 ? "DESCRIBE" : "SETUP";
        assert_int_equal(cv_auth_make_header(&ch, user, pass, method, uri, &hdr), 0);
        cv_auth_credentials c;
        assert_int_equal(parse_exact(hdr.p, hdr.len, &c), 0);
        assert_int_equal(cv_auth_parse_credentials((cv_str){hdr.p, hdr.len}, &c), 0);
        assert_true(c.digest);
        assert_view(c.username, user);
        assert_view(c.realm, "camvault");
        assert_view(c.uri, uri);
        assert_int_equal(cv_auth_check_nonce(key, c.nonce, now + 1000000, 60000000), 0);
        assert_int_equal(cv_auth_check_nonce(key, c.nonce, now + 61000000, 60000000), -ESTALE);
        assert_true(cv_auth_digest_ok(&c, method, pass, strlen(pass)));
        assert_false(cv_auth_digest_ok(&c, method, "wrong", 5));
        assert_false(cv_auth_digest_ok(&c, "TEARDOWN", pass, strlen(pass)));
        if (ch.qop_auth) {
            char want[16];
            snprintf(want, sizeof(want), "%08x", round + 1);
            assert_view(c.nc, want);
        }
    }

    /* stale=TRUE challenges parse the same way. */
    cv_sbuf_reset(&chal);
    assert_int_equal(cv_auth_make_challenge(&chal, "camvault", nonce, true), 0);
    assert_int_equal(cv_auth_parse_challenge((cv_str){chal.p, chal.len}, &ch), 0);
    assert_string_equal(ch.nonce, nonce);
    cv_sbuf_free(&chal);
    cv_sbuf_free(&hdr);
}

static void test_roundtrip_with_our_client(void **state)
{
    (void)state;
    roundtrip(NULL, false, "alice", "correct horse battery staple");
    /* Quotes and backslashes in the user name go through escapes. */
    roundtrip(NULL, false, "a\"b\\c", "pw:with:colons");
    roundtrip(", algorithm=SHA-256, qop=\"auth\"", true, "cam-7", "ingest-secret");
    roundtrip(", algorithm=SHA-256", true, "cam-7", "ingest-secret");
    roundtrip(", algorithm=MD5", false, "bob", "x");
    /* An empty password */
    roundtrip(NULL, false, "guest", "");
}

static void test_escapes(void **state)
{
    (void)state;
    cv_auth_credentials c;
    const char *h = "Digest username=\"a\\\"b\\\\c\", realm=\"cam\\vault\", nonce=\"AAX6n7yAx8Hh3aV2tLq9e0mWcR4kP1sZ\", "
                    "uri=\"rtsp://h/x\", response=\"562072cd977afecc7c493eca288110a4\"";
    assert_int_equal(parse(h, &c), 0);
    assert_view(c.username, "a\"b\\c");
    assert_view(c.realm, "camvault");
    /* Escaped values live in the struct; plain ones in the header. */
    assert_true(c.username.p >= c._unescaped && c.username.p < c._unescaped + sizeof(c._unescaped));
    assert_true(c.nonce.p >= h && c.nonce.p < h + strlen(h));
    assert_true(ok(&c, "OPTIONS", "pw"));

    /* Odd but valid spacing and case; unknown parameters are ignored. */
    h = "dIgEsT   USERNAME = \"u\" ,Realm=\"r\",,  nonce=n ,uri=\"/\",response=\"00\", charset=UTF-8, "
        "userhash=false, x-foo=\"a, b\",";
    assert_int_equal(parse(h, &c), 0);
    assert_view(c.username, "u");
    assert_view(c.nonce, "n");
    assert_view(c.response, "00");
    assert_false(ok(&c, "GET", "p"));
    /* Empty quoted values are values */
    assert_int_equal(parse("Digest username=\"\", realm=\"\", nonce=\"\", uri=\"\", response=\"\"", &c), 0);
    assert_int_equal(c.username.len, 0);
    assert_false(ok(&c, "GET", ""));
}

/* ------------------------------------------------------------ Basic */

static void test_basic(void **state)
{
    (void)state;
    cv_auth_credentials c;
    assert_int_equal(parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", &c), 0);
    assert_false(c.digest);
    assert_string_equal(c.basic_user, "Aladdin");
    assert_string_equal(c.basic_pass, "open sesame");
    assert_view(c.username, "Aladdin");
    assert_int_equal(c.realm.len, 0);

    /* Split at the first ':' only */
    assert_int_equal(parse("basic   dXNlcjpwYTpzczo=  ", &c), 0);
    assert_string_equal(c.basic_user, "user");
    assert_string_equal(c.basic_pass, "pa:ss:");
    /* Unpadded, empty password, empty both */
    assert_int_equal(parse("BASIC dXNlcjpwYTpzczo", &c), 0);
    assert_string_equal(c.basic_pass, "pa:ss:");
    assert_int_equal(parse("Basic YWRtaW46", &c), 0);
    assert_string_equal(c.basic_user, "admin");
    assert_string_equal(c.basic_pass, "");
    assert_int_equal(parse("Basic Og==", &c), 0);
    assert_string_equal(c.basic_user, "");
    assert_string_equal(c.basic_pass, "");

    /* The largest that fits, and one more byte each */
    char raw[400], b64[600], h[620];
    memset(raw, 'u', 127);
    raw[127] = ':';
    memset(raw + 128, 'p', 255);
    assert_true(cv_b64_encode((const uint8_t *)raw, 383, b64, sizeof(b64)) > 0);
    snprintf(h, sizeof(h), "Basic %s", b64);
    assert_int_equal(parse_exact(h, strlen(h), &c), 0);
    assert_int_equal(strlen(c.basic_user), 127);
    assert_int_equal(strlen(c.basic_pass), 255);
    memset(raw, 'u', 128);
    raw[128] = ':';
    assert_true(cv_b64_encode((const uint8_t *)raw, 130, b64, sizeof(b64)) > 0);
    snprintf(h, sizeof(h), "Basic %s", b64);
    assert_int_equal(parse(h, &c), -EBADMSG);
    memset(raw, 'p', 300);
    raw[0] = ':';
    assert_true(cv_b64_encode((const uint8_t *)raw, 257, b64, sizeof(b64)) > 0);
    snprintf(h, sizeof(h), "Basic %s", b64);
    assert_int_equal(parse(h, &c), -EBADMSG);

    static const char *bad[] = {
        "Basic",
        "Basic ",
        "Basic    ",
        "Basic bm9jb2xvbg==",         /* no ':' */
        "Basic dQE6cA==",             /* control character in the user */
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== x",
        "Basic QWxhZGRpbjpvcGVu IHNlc2FtZQ==",
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=",
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ===",
        "Basic QWxhZGRp!jpvcGVuIHNlc2FtZQ==",
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ-_",
        "Basic =",
        "Basic realm=\"x\"",
        "BasicQWxhZGRpbjpvcGVuIHNlc2FtZQ==",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (parse_exact(bad[i], strlen(bad[i]), &c) != -EBADMSG)
            fail_msg("accepted \"%s\"", bad[i]);
    /* Not read past the view */
    assert_int_equal(cv_auth_parse_credentials((cv_str){"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", 12}, &c), -EBADMSG);
    assert_int_equal(cv_auth_parse_credentials((cv_str){"Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", 30}, &c), 0);
    assert_string_equal(c.basic_user, "Aladdin");
    assert_string_equal(c.basic_pass, "open sesam");
}

/* ------------------------------------------------------------ nonces */

static void test_nonce(void **state)
{
    (void)state;
    const int64_t t = 1700000000123456;
    uint8_t k[32];
    for (int i = 0; i < 32; i++)
        k[i] = (uint8_t)i;
    char n[CV_AUTH_NONCE_MAX];
    assert_int_equal(cv_auth_make_nonce(k, t, n, sizeof(n)), 0);
    /* base64url(be64(t) | HMAC-SHA256(k, be64(t))[0..15]), computed with Python */
    assert_string_equal(n, "AAYKJBggIkD8B8bdieV519dEs60G5XpS");
    assert_int_equal(strlen(n), CV_AUTH_NONCE_LEN);
    assert_int_equal(cv_auth_make_nonce(k, t, n, CV_AUTH_NONCE_LEN), -ENOSPC);
    assert_int_equal(cv_auth_make_nonce(k, t, n, CV_AUTH_NONCE_LEN + 1), 0);

    const int64_t max = 30000000;
    cv_str nv = S(n);
    assert_int_equal(cv_auth_check_nonce(k, nv, t, max), 0);
    assert_int_equal(cv_auth_check_nonce(k, nv, t + max - 1, max), 0);
    assert_int_equal(cv_auth_check_nonce(k, nv, t + max, max), -ESTALE);
    assert_int_equal(cv_auth_check_nonce(k, nv, INT64_MAX, max), -ESTALE);
    /* Clock skew up to 5 s is tolerated, beyond is not ours */
    assert_int_equal(cv_auth_check_nonce(k, nv, t - 4000000, max), 0);
    assert_int_equal(cv_auth_check_nonce(k, nv, t - 5000000, max), 0);
    assert_int_equal(cv_auth_check_nonce(k, nv, t - 5000001, max), -EBADMSG);
    assert_int_equal(cv_auth_check_nonce(k, nv, INT64_MIN, max), -EBADMSG);
    /* Foreign key */
    uint8_t k2[32];
    memcpy(k2, k, 32);
    k2[31] ^= 1;
    assert_int_equal(cv_auth_check_nonce(k2, nv, t, max), -EBADMSG);
    /* Every single-character change is refused */
    for (size_t i = 0; i < CV_AUTH_NONCE_LEN; i++) {
        char m[CV_AUTH_NONCE_MAX];
        memcpy(m, n, sizeof(m));
        m[i] = m[i] == 'A' ? 'B' : 'A';
        if (cv_auth_check_nonce(k, S(m), t, max) != -EBADMSG)
            fail_msg("accepted tampered char %zu", i);
    }
    /* A nonce of ours for another time cannot be forged by editing the time */
    char other[CV_AUTH_NONCE_MAX];
    assert_int_equal(cv_auth_make_nonce(k, t + 1, other, sizeof(other)), 0);
    assert_string_not_equal(other, n);
    memcpy(other + 11, n + 11, CV_AUTH_NONCE_LEN - 11); /* old MAC, new time */
    assert_int_equal(cv_auth_check_nonce(k, S(other), t, max), -EBADMSG);
    /* Wrong shapes */
    static const char *bad[] = {"", "AAYKJBggIkD8B8bdieV519dEs60G5Xp", "AAYKJBggIkD8B8bdieV519dEs60G5XpSA",
                                "AAYKJBggIkD8B8bdieV519dEs60G5Xp=", "AAYKJBggIkD8B8bdieV519dEs60G5X+S",
                                "AAYKJBggIkD8B8bdieV519dEs60G5X/S", "AAYKJBggIkD8B8bd eV519dEs60G5XpS",
                                "dcd98b7102dd2f0e8b11d0f600bfb0c093"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cv_auth_check_nonce(k, S(bad[i]), t, max) != -EBADMSG)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(cv_auth_check_nonce(k, (cv_str){NULL, 0}, t, max), -EBADMSG);
    /* A view that is a prefix of a valid nonce */
    assert_int_equal(cv_auth_check_nonce(k, (cv_str){n, CV_AUTH_NONCE_LEN - 1}, t, max), -EBADMSG);

    /* Negative and extreme times roundtrip */
    int64_t times[] = {0, -1, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(cv_auth_make_nonce(k, times[i], n, sizeof(n)), 0);
        assert_int_equal(cv_auth_check_nonce(k, S(n), times[i], max), 0);
    }
}

static void test_make_challenge(void **state)
{
    (void)state;
    cv_sbuf b;
    cv_sbuf_init(&b);
    assert_int_equal(cv_auth_make_challenge(&b, "camvault", "AAYKJBggIkD8B8bdieV519dEs60G5XpS", false), 0);
    /* live555 scans 'Digest realm="%[^"]", nonce="%[^"]"': realm first. */
    assert_string_equal(b.p, "Digest realm=\"camvault\", nonce=\"AAYKJBggIkD8B8bdieV519dEs60G5XpS\", "
                             "algorithm=MD5, qop=\"auth\"");
    cv_sbuf_reset(&b);
    assert_int_equal(cv_auth_make_challenge(&b, "camvault", "n", true), 0);
    assert_string_equal(b.p, "Digest realm=\"camvault\", nonce=\"n\", algorithm=MD5, qop=\"auth\", stale=TRUE");
    cv_sbuf_reset(&b);
    assert_int_equal(cv_auth_make_challenge(&b, "a\"b", "n", false), 0);
    assert_string_equal(b.p, "Digest realm=\"a\\\"b\", nonce=\"n\", algorithm=MD5, qop=\"auth\"");
    cv_sbuf_reset(&b);
    assert_int_equal(cv_auth_make_challenge(&b, "camvault\r\nX: y", "n", false), -EINVAL);
    assert_int_equal(cv_auth_make_challenge(&b, "camvault", "n\n", false), -EINVAL);
    b.limit = 16;
    assert_int_equal(cv_auth_make_challenge(&b, "camvault", "n", false), -ENOMEM);
    cv_sbuf_free(&b);
}

/* ------------------------------------------------------------ malformed */

static void test_malformed(void **state)
{
    (void)state;
    cv_auth_credentials c;
#define OKP "realm=\"r\", nonce=\"n\", uri=\"/\", response=\"00\""
    static const char *bad[] = {
        "",
        " ",
        "Digest",
        "Digest ",
        "Bearer abc",
        "Negotiate YII=",
        "DigestX username=\"u\", " OKP,
        "Digestusername=\"u\", " OKP,
        /* missing required parameters */
        "Digest " OKP,
        "Digest username=\"u\", nonce=\"n\", uri=\"/\", response=\"00\"",
        "Digest username=\"u\", realm=\"r\", uri=\"/\", response=\"00\"",
        "Digest username=\"u\", realm=\"r\", nonce=\"n\", response=\"00\"",
        "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\"",
        /* qop without nc or cnonce, bad nc */
        "Digest username=\"u\", " OKP ", qop=auth",
        "Digest username=\"u\", " OKP ", qop=auth, nc=00000001",
        "Digest username=\"u\", " OKP ", qop=auth, cnonce=\"c\"",
        "Digest username=\"u\", " OKP ", qop=auth, nc=0000001, cnonce=\"c\"",
        "Digest username=\"u\", " OKP ", qop=auth, nc=000000001, cnonce=\"c\"",
        "Digest username=\"u\", " OKP ", qop=auth, nc=0000000g, cnonce=\"c\"",
        "Digest username=\"u\", " OKP ", nc=1",
        /* duplicates, also differing in case */
        "Digest username=\"u\", username=\"u\", " OKP,
        "Digest username=\"u\", " OKP ", Realm=\"r\"",
        "Digest username=\"u\", " OKP ", response=\"00\"",
        "Digest username=\"u\", " OKP ", algorithm=MD5, algorithm=MD5",
        "Digest username=\"u\", " OKP ", opaque=\"a\", OPAQUE=\"a\"",
        /* response not hex */
        "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"0x\"",
        /* syntax */
        "Digest username=\"u\" " OKP,
        "Digest username=\"u\"; " OKP,
        "Digest username \"u\", " OKP,
        "Digest username=, " OKP,
        "Digest =\"u\", username=\"u\", " OKP,
        "Digest username=\"u\", " OKP ", x",
        "Digest username=\"u\", " OKP ", x=",
        "Digest username=\"u\", " OKP ", Basic Og==",
        "Digest username=\"u, " OKP,
        "Digest username=\"u\\",
        "Digest username=\"u\\\"",
        "Digest username=u\"v\", " OKP,
        "Digest username=\"u\"x, " OKP,
        /* control characters, raw and escaped; a folded line */
        "Digest username=\"u\x01\", " OKP,
        "Digest username=\"u\\\x01\", " OKP,
        "Digest username=\"u\tv\", " OKP,
        "Digest username=\"u\\\tv\", " OKP,
        "Digest username=\"u\x7f\", " OKP,
        "Digest username=\"u\",\r\n " OKP,
        "Digest username=\"u\r\nX-Injected: 1\", " OKP,
        "Digest username=u\x01, " OKP,
        /* unsupported user name forms */
        "Digest username*=UTF-8''%c2%a3, " OKP,
        "Digest username=\"u\", " OKP ", username*=UTF-8''x",
        "Digest username=\"u\", " OKP ", userhash=true",
        "Digest username=\"u\", " OKP ", userhash=\"TRUE\"",
    };
#undef OKP
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = parse_exact(bad[i], strlen(bad[i]), &c);
        if (r != -EBADMSG)
            fail_msg("%d for \"%s\"", r, bad[i]);
        /* Nothing half-filled on failure */
        assert_false(c.digest);
        assert_int_equal(c.username.len, 0);
    }
    assert_int_equal(cv_auth_parse_credentials((cv_str){NULL, 0}, &c), -EBADMSG);

    /* An embedded NUL (explicit length) */
    static const char nul[] = "Digest username=\"u\0v\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"00\"";
    assert_int_equal(parse_exact(nul, sizeof(nul) - 1, &c), -EBADMSG);

    /* Every strict prefix of a valid header is refused and read in bounds. */
    const char *good = "Digest username=\"a\\\"b\", realm=\"camvault\", nonce=\"n\", uri=\"rtsp://h/x\", qop=auth, "
                       "nc=00000001, cnonce=\"c\", response=\"00\"";
    size_t glen = strlen(good);
    assert_int_equal(parse_exact(good, glen, &c), 0);
    for (size_t n = 0; n < glen; n++) {
        int r = parse_exact(good, n, &c);
        if (r != -EBADMSG)
            fail_msg("prefix %zu accepted", n);
    }
}

static void test_limits(void **state)
{
    (void)state;
    cv_auth_credentials c;
    static const struct {
        const char *name;
        size_t max;
    } lim[] = {{"username", 255}, {"realm", 127},  {"nonce", 255},    {"uri", 2048},
               {"cnonce", 255},   {"opaque", 255}, {"algorithm", 32}, {"qop", 32}};
    for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
        for (size_t len = lim[i].max; len <= lim[i].max + 1; len++) {
            char *v = malloc(len + 1);
            memset(v, 'v', len);
            v[len] = '\0';
            cv_sbuf b;
            cv_sbuf_init(&b);
            cv_sbuf_printf(&b, "Digest %s=\"%s\"", lim[i].name, v);
            static const char *req[] = {"username", "realm", "nonce", "uri"};
            for (size_t k = 0; k < 4; k++)
                if (strcmp(req[k], lim[i].name) != 0)
                    cv_sbuf_printf(&b, ", %s=\"x\"", req[k]);
            cv_sbuf_puts(&b, ", response=\"00\", nc=00000001, cnonce=\"c\"");
            if (strcmp(lim[i].name, "cnonce") == 0) {
                /* the cnonce above duplicates: build without it */
                cv_sbuf_reset(&b);
                cv_sbuf_printf(&b, "Digest cnonce=\"%s\", username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", "
                                   "response=\"00\"",
                               v);
            }
            int want = len <= lim[i].max ? 0 : -EBADMSG;
            int r = parse_exact(b.p, b.len, &c);
            if (r != want)
                fail_msg("%s of %zu: %d", lim[i].name, len, r);
            cv_sbuf_free(&b);
            free(v);
        }
    }
    /* response: 64 hex digits at most */
    char h[256];
    snprintf(h, sizeof(h), "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"%064d\"", 0);
    assert_int_equal(parse(h, &c), 0);
    snprintf(h, sizeof(h), "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"%065d\"", 0);
    assert_int_equal(parse(h, &c), -EBADMSG);

    /* Every value escaped, all at their longest, still fits. */
    cv_sbuf b;
    cv_sbuf_init(&b);
    char v[2100];
    static const struct {
        const char *name;
        size_t len;
    } all[] = {{"username", 255}, {"realm", 127},  {"nonce", 255},    {"uri", 2048},   {"response", 64},
               {"qop", 32},       {"nc", 8},       {"cnonce", 255},   {"algorithm", 32}, {"opaque", 255}};
    cv_sbuf_puts(&b, "Digest ");
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        memset(v, 'a', all[i].len - 1);
        v[all[i].len - 1] = '\0';
        cv_sbuf_printf(&b, "%s%s=\"\\a%s\"", i ? ", " : "", all[i].name, v);
    }
    assert_int_equal(parse_exact(b.p, b.len, &c), 0);
    const cv_str *views[] = {&c.username, &c.realm, &c.nonce,  &c.uri,       &c.response,
                             &c.qop,      &c.nc,    &c.cnonce, &c.algorithm, &c.opaque};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        assert_int_equal(views[i]->len, all[i].len);
        assert_true(views[i]->p >= c._unescaped && views[i]->p < c._unescaped + sizeof(c._unescaped));
        for (size_t k = 0; k < views[i]->len; k++)
            assert_int_equal(views[i]->p[k], 'a');
    }
    memset(v, 'x', 200);
    v[200] = '\0';
    /* A plain long uri next to an escaped value */
    cv_sbuf_reset(&b);
    char u[2049];
    memset(u, 'u', 2048);
    u[2048] = '\0';
    cv_sbuf_printf(&b, "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"%s\", response=\"00\", opaque=\"\\o%s\"",
                   u, v);
    assert_int_equal(parse_exact(b.p, b.len, &c), 0);
    /* Unknown parameters up to 2048 bytes are skipped, longer ones refused. */
    cv_sbuf_reset(&b);
    cv_sbuf_printf(&b, "Digest x=\"%s\", username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"00\"", u);
    assert_int_equal(parse_exact(b.p, b.len, &c), 0);
    cv_sbuf_reset(&b);
    cv_sbuf_printf(&b, "Digest x=\"%sy\", username=\"u\", realm=\"r\", nonce=\"n\", uri=\"/\", response=\"00\"", u);
    assert_int_equal(parse_exact(b.p, b.len, &c), -EBADMSG);
    cv_sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ffmpeg),
        cmocka_unit_test(test_live555_vlc),
        cmocka_unit_test(test_gstreamer),
        cmocka_unit_test(test_rfc7616),
        cmocka_unit_test(test_rfc2617_and_2069),
        cmocka_unit_test(test_digest_refusals),
        cmocka_unit_test(test_roundtrip_with_our_client),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_nonce),
        cmocka_unit_test(test_make_challenge),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
    };
    int res = cmocka_run_group_tests(tests, NULL, NULL);
    free(last_copy);
    return res;
}
