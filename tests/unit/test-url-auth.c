/* Unit tests for src/rtsp/url.c and src/rtsp/auth.c. Digest responses are
 * checked against the worked examples of RFC 2069, RFC 2617 section 3.5 and
 * RFC 7616 section 3.9.1. */
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
#include "rtsp/url.h"

/* Internal to auth.c: the Digest header with a fixed client nonce. */
int cv__auth_digest_header(cv_auth_challenge *c, const char *user, const char *pass, const char *method,
                           const char *uri, const char *cnonce, cv_sbuf *out);

static void test_url_parses_credentials_and_port(void **state)
{
    (void)state;
    cv_url u;
    assert_int_equal(cv_url_parse("rtsp://user:pa%40ss@host:8554/cam/abc?x=1", &u), 0);
    assert_false(u.tls);
    assert_true(u.has_user);
    assert_string_equal(u.user, "user");
    assert_string_equal(u.pass, "pa@ss");
    assert_string_equal(u.host, "host");
    assert_int_equal(u.port, 8554);
    assert_string_equal(u.path, "/cam/abc?x=1");
    char pub[256];
    assert_int_equal(cv_url_format_public(&u, pub, sizeof(pub)), 0);
    assert_string_equal(pub, "rtsp://host:8554/cam/abc?x=1");
}

static void test_url_default_ports_and_paths(void **state)
{
    (void)state;
    cv_url u;
    assert_int_equal(cv_url_parse("rtsp://192.168.1.64", &u), 0);
    assert_int_equal(u.port, 554);
    assert_string_equal(u.path, "/");
    assert_false(u.has_user);
    assert_int_equal(cv_url_parse("RTSPS://cam.example.com/live", &u), 0);
    assert_true(u.tls);
    assert_int_equal(u.port, 322);
    assert_string_equal(u.host, "cam.example.com");
    assert_int_equal(cv_url_parse("rtsp://h:/x", &u), 0);
    assert_int_equal(u.port, 554);
    assert_int_equal(cv_url_parse("rtsp://h?channel=1&subtype=0", &u), 0);
    assert_string_equal(u.path, "/?channel=1&subtype=0");
    assert_int_equal(cv_url_parse("rtsp://h/a#frag", &u), 0);
    assert_string_equal(u.path, "/a");
    char pub[64];
    assert_int_equal(cv_url_format_public(&u, pub, sizeof(pub)), 0);
    assert_string_equal(pub, "rtsp://h:554/a");
    assert_int_equal(cv_url_format_public(&u, pub, 10), -1);
}

static void test_url_parses_ipv6_literals(void **state)
{
    (void)state;
    cv_url u;
    assert_int_equal(cv_url_parse("rtsp://[::1]:8554/x", &u), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 8554);
    assert_string_equal(u.path, "/x");
    char pub[128];
    assert_int_equal(cv_url_format_public(&u, pub, sizeof(pub)), 0);
    assert_string_equal(pub, "rtsp://[::1]:8554/x");
    assert_int_equal(cv_url_parse("rtsps://admin:x@[2001:db8::a:1]/s", &u), 0);
    assert_string_equal(u.host, "2001:db8::a:1");
    assert_int_equal(u.port, 322);
    assert_int_equal(cv_url_parse("rtsp://[::ffff:192.0.2.1]/", &u), 0);
    assert_string_equal(u.host, "::ffff:192.0.2.1");
    /* RFC 6874 zone id */
    assert_int_equal(cv_url_parse("rtsp://[fe80::1%25eth0]:554/s", &u), 0);
    assert_string_equal(u.host, "fe80::1%eth0");
    assert_int_equal(cv_url_format_public(&u, pub, sizeof(pub)), 0);
    assert_string_equal(pub, "rtsp://[fe80::1%25eth0]:554/s");
    assert_int_equal(cv_url_parse("rtsp://[::1/x", &u), -EINVAL);
    assert_int_equal(cv_url_parse("rtsp://[::1]x/", &u), -EINVAL);
    assert_int_equal(cv_url_parse("rtsp://[host]/", &u), -EINVAL);
    assert_int_equal(cv_url_parse("rtsp://[]/", &u), -EINVAL);
    assert_int_equal(cv_url_parse("rtsp://[fe80::1%eth0]/", &u), -EINVAL);
}

static void test_url_credentials_edge_cases(void **state)
{
    (void)state;
    cv_url u;
    /* A raw '@' in the password: the last '@' ends the userinfo. */
    assert_int_equal(cv_url_parse("rtsp://admin:p@ss@10.0.0.2/h264", &u), 0);
    assert_string_equal(u.user, "admin");
    assert_string_equal(u.pass, "p@ss");
    assert_string_equal(u.host, "10.0.0.2");
    assert_int_equal(cv_url_parse("rtsp://us%65r%3a:%2F%3f%25%20@h/", &u), 0);
    assert_string_equal(u.user, "user:");
    assert_string_equal(u.pass, "/?% ");
    assert_int_equal(cv_url_parse("rtsp://onlyuser@h/", &u), 0);
    assert_true(u.has_user);
    assert_string_equal(u.user, "onlyuser");
    assert_string_equal(u.pass, "");
    assert_int_equal(cv_url_parse("rtsp://user:pa:ss@h/", &u), 0);
    assert_string_equal(u.pass, "pa:ss");
    assert_int_equal(cv_url_parse("rtsp://us%4@h/", &u), -EINVAL);
    assert_int_equal(cv_url_parse("rtsp://us%zz@h/", &u), -EINVAL);
    assert_int_equal(cv_url_parse("rtsp://us%00er@h/", &u), -EINVAL);
    assert_int_equal(cv_url_parse("rtsp://us:%0d%0aX:1@h/", &u), -EINVAL);
    char big[400];
    memset(big, 'a', sizeof(big));
    memcpy(big, "rtsp://", 7);
    memcpy(big + 7 + 200, "@h/", 4);
    assert_int_equal(cv_url_parse(big, &u), -EINVAL);
}

static void test_url_rejects_bad_urls(void **state)
{
    (void)state;
    cv_url u;
    const char *bad[] = {
        "http://h/x", "rtspu://h/x", "rtsp:/h/x", "rtsp//h", "rtsp://", "rtsp:///x", "rtsp://:554/x",
        "rtsp://h:0/x", "rtsp://h:65536/x", "rtsp://h:12a/x", "rtsp://h:-1/x", "rtsp://h/x\r\nX: y",
        "rtsp://h/a b", "rtsp://h\t/x", "rtsp://h\x7f/x", "rtsp://ho st/x", "rtsp://h%41/x", "rtsp://user@/x",
        "rtsp://h:1:2/x", "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cv_url_parse(bad[i], &u) != -EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(cv_url_parse(NULL, &u), -EINVAL);

    char host[300];
    snprintf(host, sizeof(host), "rtsp://%0256d/", 0);
    assert_int_equal(cv_url_parse(host, &u), -EINVAL);
    char *path = malloc(1100);
    if (!path)
        abort();
    strcpy(path, "rtsp://h/");
    memset(path + 9, 'p', 1023);
    path[9 + 1023] = '\0';
    assert_int_equal(cv_url_parse(path, &u), -EINVAL); /* 1024 chars + NUL */
    path[9 + 1022] = '\0';
    assert_int_equal(cv_url_parse(path, &u), 0);
    assert_int_equal(strlen(u.path), 1023);
    free(path);
}

static cv_str S(const char *s) { return cv_str_from(s); }

static void test_auth_parses_digest_challenge(void **state)
{
    (void)state;
    cv_auth_challenge c;
    assert_int_equal(cv_auth_parse_challenge(S("Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                                               "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                                               "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
                                             &c),
                     0);
    assert_true(c.digest);
    assert_false(c.sha256);
    assert_true(c.qop_auth);
    assert_string_equal(c.realm, "testrealm@host.com");
    assert_string_equal(c.nonce, "dcd98b7102dd2f0e8b11d0f600bfb0c093");
    assert_string_equal(c.opaque, "5ccc069c403ebaf9f0171e9517f40e41");
    assert_int_equal(c.nc, 0);

    /* Typical camera: no qop, unquoted algorithm, stale, odd spacing. */
    assert_int_equal(cv_auth_parse_challenge(S("digest   realm=\"IP Camera(C4937)\",nonce=\"3a5c6b0f\" , "
                                               "stale=\"FALSE\", algorithm=MD5"),
                                             &c),
                     0);
    assert_string_equal(c.realm, "IP Camera(C4937)");
    assert_false(c.qop_auth);
    assert_string_equal(c.opaque, "");

    assert_int_equal(cv_auth_parse_challenge(S("Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
                                               "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
                                               "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""),
                                             &c),
                     0);
    assert_true(c.sha256);
    assert_true(c.qop_auth);

    /* Escapes in quoted strings; unquoted base64 values. */
    assert_int_equal(cv_auth_parse_challenge(S("Digest realm=\"a \\\"q\\\" \\\\ b\", nonce=ab/c+d==, "
                                               "algorithm=\"SHA-256\", qop=auth"),
                                             &c),
                     0);
    assert_string_equal(c.realm, "a \"q\" \\ b");
    assert_string_equal(c.nonce, "ab/c+d==");
    assert_true(c.sha256);
    assert_true(c.qop_auth);

    /* Only the first challenge of a list is read. */
    assert_int_equal(cv_auth_parse_challenge(S("Digest realm=\"r\", nonce=\"n\", Basic realm=\"other\""), &c), 0);
    assert_true(c.digest);
    assert_string_equal(c.realm, "r");
}

static void test_auth_parses_basic_challenge(void **state)
{
    (void)state;
    cv_auth_challenge c;
    assert_int_equal(cv_auth_parse_challenge(S("Basic realm=\"WallyWorld\""), &c), 0);
    assert_false(c.digest);
    assert_string_equal(c.realm, "WallyWorld");
    assert_int_equal(cv_auth_parse_challenge(S("Basic realm=simple, charset=\"UTF-8\""), &c), 0);
    assert_string_equal(c.realm, "simple");
    assert_int_equal(cv_auth_parse_challenge(S("Basic"), &c), 0);
}

static void test_auth_rejects_bad_challenges(void **state)
{
    (void)state;
    cv_auth_challenge c;
    const char *bad[] = {
        "",
        "Bearer realm=\"x\"",
        "Negotiate",
        "Digestrealm=\"x\"",
        "Digest nonce=\"n\"",
        "Digest realm=\"r\"",
        "Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess",
        "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256",
        "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
        "Digest realm=\"unterminated, nonce=\"n\"",
        "Digest realm=\"r\\",
        "Digest realm=\"r\x01\", nonce=\"n\"",
        "Digest realm=\"r\", nonce=a\"b",
        "Digest =x, realm=\"r\", nonce=\"n\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cv_auth_parse_challenge(S(bad[i]), &c) != -EBADMSG)
            fail_msg("accepted \"%s\"", bad[i]);
    /* Values that do not fit */
    char buf[600];
    int n = snprintf(buf, sizeof(buf), "Digest realm=\"");
    memset(buf + n, 'r', 128);
    snprintf(buf + n + 128, sizeof(buf) - (size_t)n - 128, "\", nonce=\"n\"");
    assert_int_equal(cv_auth_parse_challenge(S(buf), &c), -EBADMSG);
    n = snprintf(buf, sizeof(buf), "Digest realm=\"r\", nonce=\"");
    memset(buf + n, 'n', 520);
    snprintf(buf + n + 520, sizeof(buf) - (size_t)n - 520, "\"");
    assert_int_equal(cv_auth_parse_challenge(S(buf), &c), -EBADMSG);
    assert_int_equal(cv_auth_parse_challenge((cv_str){NULL, 0}, &c), -EBADMSG);
}

static void test_auth_rfc2617_example(void **state)
{
    (void)state;
    cv_auth_challenge c;
    assert_int_equal(cv_auth_parse_challenge(S("Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
                                               "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                                               "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
                                             &c),
                     0);
    cv_sbuf b;
    cv_sbuf_init(&b);
    assert_int_equal(cv__auth_digest_header(&c, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", "0a4f113b", &b),
                     0);
    assert_string_equal(b.p, "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
                             "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", qop=auth, "
                             "nc=00000001, cnonce=\"0a4f113b\", response=\"6629fae49393a05397450978507c4ef1\", "
                             "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
    assert_int_equal(c.nc, 1);
    cv_sbuf_free(&b);
}

static void test_auth_rfc7616_examples(void **state)
{
    (void)state;
    static const char *chal[] = {
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=MD5, "
        "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, "
        "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
    };
    static const char *resp[] = {
        "response=\"8ca523f5e9506fed4657c9700eebdbec\"",
        "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\"",
    };
    for (size_t i = 0; i < 2; i++) {
        cv_auth_challenge c;
        assert_int_equal(cv_auth_parse_challenge(S(chal[i]), &c), 0);
        cv_sbuf b;
        cv_sbuf_init(&b);
        assert_int_equal(cv__auth_digest_header(&c, "Mufasa", "Circle of Life", "GET", "/dir/index.html",
                                                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", &b),
                         0);
        if (!strstr(b.p, resp[i]))
            fail_msg("%s lacks %s", b.p, resp[i]);
        assert_non_null(strstr(b.p, "nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\""));
        assert_non_null(strstr(b.p, "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
        assert_int_equal(strstr(b.p, "algorithm=SHA-256") != NULL, i == 1);
        cv_sbuf_free(&b);
    }
}

static void test_auth_digest_without_qop(void **state)
{
    (void)state;
    /* RFC 2069 example (password "CircleOfLife"): response = H(HA1:nonce:HA2). */
    cv_auth_challenge c;
    assert_int_equal(cv_auth_parse_challenge(S("Digest realm=\"testrealm@host.com\", "
                                               "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
                                               "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""),
                                             &c),
                     0);
    cv_sbuf b;
    cv_sbuf_init(&b);
    assert_int_equal(cv_auth_make_header(&c, "Mufasa", "CircleOfLife", "GET", "/dir/index.html", &b), 0);
    assert_string_equal(b.p, "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
                             "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
                             "response=\"1949323746fe6a43ef61f9606e7febea\", "
                             "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
    cv_sbuf_free(&b);
}

static void test_auth_make_header_counts_and_randomizes(void **state)
{
    (void)state;
    cv_auth_challenge c;
    assert_int_equal(cv_auth_parse_challenge(S("Digest realm=\"r\", nonce=\"n\", qop=\"auth\""), &c), 0);
    cv_sbuf a, b;
    cv_sbuf_init(&a);
    cv_sbuf_init(&b);
    assert_int_equal(cv_auth_make_header(&c, "u\"x", "p", "DESCRIBE", "rtsp://h/s", &a), 0);
    assert_int_equal(cv_auth_make_header(&c, "u\"x", "p", "DESCRIBE", "rtsp://h/s", &b), 0);
    assert_non_null(strstr(a.p, "username=\"u\\\"x\""));
    assert_non_null(strstr(a.p, "nc=00000001"));
    assert_non_null(strstr(b.p, "nc=00000002"));
    const char *ca = strstr(a.p, "cnonce=\""), *cb = strstr(b.p, "cnonce=\"");
    assert_non_null(ca);
    assert_non_null(cb);
    assert_int_equal(strcspn(ca + 8, "\""), 32);
    assert_memory_not_equal(ca, cb, 40);
    /* Header injection through the parts copied verbatim */
    cv_sbuf_reset(&a);
    assert_int_equal(cv_auth_make_header(&c, "u", "p", "DESCRIBE", "rtsp://h/\r\nX: y", &a), -EINVAL);
    assert_int_equal(cv_auth_make_header(&c, "u\n", "p", "DESCRIBE", "rtsp://h/", &a), -EINVAL);
    cv_sbuf_free(&a);
    cv_sbuf_free(&b);
}

static void test_auth_basic_header(void **state)
{
    (void)state;
    cv_auth_challenge c;
    assert_int_equal(cv_auth_parse_challenge(S("Basic realm=\"WallyWorld\""), &c), 0);
    cv_sbuf b;
    cv_sbuf_init(&b);
    assert_int_equal(cv_auth_make_header(&c, "Aladdin", "open sesame", "OPTIONS", "rtsp://h/", &b), 0);
    assert_string_equal(b.p, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    cv_sbuf_reset(&b);
    assert_int_equal(cv_auth_make_header(&c, "", "", "OPTIONS", "rtsp://h/", &b), 0);
    assert_string_equal(b.p, "Basic Og==");
    /* Appends; reports allocation failure through the sbuf limit. */
    cv_sbuf_reset(&b);
    b.limit = 8;
    assert_int_equal(cv_auth_make_header(&c, "Aladdin", "open sesame", "OPTIONS", "rtsp://h/", &b), -ENOMEM);
    cv_sbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parses_credentials_and_port),
        cmocka_unit_test(test_url_default_ports_and_paths),
        cmocka_unit_test(test_url_parses_ipv6_literals),
        cmocka_unit_test(test_url_credentials_edge_cases),
        cmocka_unit_test(test_url_rejects_bad_urls),
        cmocka_unit_test(test_auth_parses_digest_challenge),
        cmocka_unit_test(test_auth_parses_basic_challenge),
        cmocka_unit_test(test_auth_rejects_bad_challenges),
        cmocka_unit_test(test_auth_rfc2617_example),
        cmocka_unit_test(test_auth_rfc7616_examples),
        cmocka_unit_test(test_auth_digest_without_qop),
        cmocka_unit_test(test_auth_make_header_counts_and_randomizes),
        cmocka_unit_test(test_auth_basic_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
