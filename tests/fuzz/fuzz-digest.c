/* Fuzzes the server side of RTSP authentication: the input is one
 * Authorization header value. When it parses, every view must lie inside the
 * input (or the struct's own storage) and be free of control characters; the
 * Digest check and the nonce check run on its fields; and the credentials,
 * re-encoded by our client, must parse back to the same values and verify. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rtsp/auth.h"

#include "fuzz-check.h"

/* Internal to auth.c: the Digest header with a fixed client nonce. */
int cv__auth_digest_header(cv_auth_challenge *c, const char *user, const char *pass, const char *method,
                           const char *uri, const char *cnonce, cv_sbuf *out);

/* The key the corpus nonces were made with: bytes 0..31. */
static const uint8_t key[32] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
                                16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};

static bool inside(cv_str s, const void *base, size_t len)
{
    if (s.len == 0)
        return true;
    const char *b = base, *p = s.p;
    return p >= b && p <= b + len && s.len <= (size_t)(b + len - p);
}

static void check_view(cv_str v, const uint8_t *data, size_t size, const cv_auth_credentials *c)
{
    CHECK(inside(v, data, size) || inside(v, c, sizeof(*c)));
    for (size_t i = 0; i < v.len; i++)
        CHECK((unsigned char)v.p[i] >= 0x20 && (unsigned char)v.p[i] != 0x7f);
}

static bool view_eq(cv_str a, cv_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0); }

static char *dup_view(cv_str v)
{
    char *s = malloc(v.len + 1);
    CHECK(s);
    if (v.len)
        memcpy(s, v.p, v.len);
    s[v.len] = '\0';
    return s;
}

static void check_nonce_result(cv_str nonce)
{
    /* The corpus nonces were issued at 1700000000000000 µs. */
    int r = cv_auth_check_nonce(key, nonce, 1700000010000000, 60000000);
    CHECK(r == 0 || r == -ESTALE || r == -EBADMSG);
    if (r == 0 || r == -ESTALE)
        CHECK(nonce.len == CV_AUTH_NONCE_LEN);
    r = cv_auth_check_nonce(key, nonce, INT64_MIN, 0);
    CHECK(r == -ESTALE || r == -EBADMSG);
}

/* Our client re-encodes the parsed Digest credentials; the server must read
 * back the same values and accept the response. */
static void digest_roundtrip(const cv_auth_credentials *c)
{
    if (c->realm.len >= sizeof(((cv_auth_challenge *)0)->realm) ||
        c->nonce.len >= sizeof(((cv_auth_challenge *)0)->nonce))
        return;
    cv_auth_challenge ch = {.digest = true, .qop_auth = c->qop.len > 0};
    ch.sha256 = cv_str_ieq_c(c->algorithm, "SHA-256");
    memcpy(ch.realm, c->realm.p ? c->realm.p : "", c->realm.len);
    memcpy(ch.nonce, c->nonce.p ? c->nonce.p : "", c->nonce.len);
    char *user = dup_view(c->username), *uri = dup_view(c->uri);
    cv_sbuf b;
    cv_sbuf_init(&b);
    CHECK(cv__auth_digest_header(&ch, user, "pw\"\\:", "DESCRIBE", uri, "0a4f113b", &b) == 0);
    cv_auth_credentials back;
    CHECK(cv_auth_parse_credentials((cv_str){b.p, b.len}, &back) == 0);
    CHECK(back.digest);
    CHECK(view_eq(back.username, c->username) && view_eq(back.realm, c->realm) && view_eq(back.nonce, c->nonce) &&
          view_eq(back.uri, c->uri));
    CHECK(cv_auth_digest_ok(&back, "DESCRIBE", "pw\"\\:", 5));
    CHECK(!cv_auth_digest_ok(&back, "DESCRIBE", "pw\"\\;", 5));
    CHECK(!cv_auth_digest_ok(&back, "DESCRIBf", "pw\"\\:", 5));
    cv_sbuf_free(&b);
    free(user);
    free(uri);
}

static void basic_roundtrip(const cv_auth_credentials *c)
{
    cv_auth_challenge ch = {.digest = false};
    cv_sbuf b;
    cv_sbuf_init(&b);
    CHECK(cv_auth_make_header(&ch, c->basic_user, c->basic_pass, "DESCRIBE", "rtsp://h/", &b) == 0);
    cv_auth_credentials back;
    CHECK(cv_auth_parse_credentials((cv_str){b.p, b.len}, &back) == 0);
    CHECK(!back.digest);
    CHECK(strcmp(back.basic_user, c->basic_user) == 0 && strcmp(back.basic_pass, c->basic_pass) == 0);
    cv_sbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cv_auth_credentials c;
    cv_str in = {(const char *)data, size};
    int r = cv_auth_parse_credentials(in, &c);
    /* Also as a bare nonce. */
    check_nonce_result(in);
    if (r < 0) {
        CHECK(r == -EBADMSG);
        return 0;
    }
    CHECK(r == 0);
    const cv_str *views[] = {&c.username, &c.realm, &c.nonce,  &c.uri,       &c.response,
                             &c.qop,      &c.nc,    &c.cnonce, &c.algorithm, &c.opaque};
    for (size_t i = 0; i < sizeof(views) / sizeof(views[0]); i++)
        check_view(*views[i], data, size, &c);
    if (!c.digest) {
        CHECK(memchr(c.basic_user, ':', strlen(c.basic_user)) == NULL);
        CHECK(c.username.p == c.basic_user && c.username.len == strlen(c.basic_user));
        CHECK(!cv_auth_digest_ok(&c, "DESCRIBE", "pw", 2));
        basic_roundtrip(&c);
        return 0;
    }
    CHECK(c.response.len <= 64 && c.nc.len <= 8 && c.realm.len < 128);
    if (c.qop.len)
        CHECK(c.nc.len == 8);
    /* A response the fuzzer cannot know; lengths and algorithms vary. */
    (void)cv_auth_digest_ok(&c, "DESCRIBE", "pw", 2);
    (void)cv_auth_digest_ok(&c, "SETUP", (const char *)data, size);
    check_nonce_result(c.nonce);
    digest_roundtrip(&c);
    return 0;
}
