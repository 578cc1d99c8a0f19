/* Tests for src/oauth/form.c: form bodies and query strings, HTTP Basic
 * client authentication, the form Content-Type and the redirect encoder.
 * Every body is parsed from an exact-size heap copy (no trailing NUL) so
 * that ASan catches a read past len. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "oauth/form.h"

static const char *const token_names[] = {"grant_type", "code", "redirect_uri", "code_verifier", "client_id",
                                          "client_secret", "refresh_token"};

/* Parses exactly strlen(s) bytes from a heap copy that is not NUL-terminated. */
static int parse(cv_form *form, const char *s, char *err, size_t errcap)
{
    size_t len = strlen(s);
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    int r = cv_form_parse(form, copy, len, err, errcap);
    free(copy);
    return r;
}

static void init_token(cv_form *form) { cv_form_init(form, token_names, CV_ARRAY_LEN(token_names)); }

static void assert_all_null(const cv_form *form)
{
    for (size_t i = 0; i < form->n; i++) {
        assert_null(form->f[i].value);
        assert_int_equal(form->f[i].len, 0);
    }
}

static void assert_printable(const char *s)
{
    assert_true(s[0] != '\0');
    for (; *s; s++)
        assert_true(*s >= 0x20 && *s <= 0x7e);
}

static void assert_value(const cv_form *form, const char *name, const char *want)
{
    size_t len = 99;
    const char *v = cv_form_get(form, name, &len);
    if (!want) {
        assert_null(v);
        assert_int_equal(len, 0);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, want);
    assert_int_equal(len, strlen(want));
}

/* ---- cv_form_parse ---- */

static void test_token_request(void **state)
{
    (void)state;
    cv_form form;
    char err[128];
    init_token(&form);
    assert_int_equal(parse(&form,
                           "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA"
                           "&redirect_uri=https%3A%2F%2Fclient%2Eexample%2Ecom%2Fcb"
                           "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                           err, sizeof(err)),
                     0);
    assert_value(&form, "grant_type", "authorization_code");
    assert_value(&form, "code", "SplxlOBeZQQYbYS6WxSbIA");
    assert_value(&form, "redirect_uri", "https://client.example.com/cb");
    assert_value(&form, "code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_value(&form, "client_id", NULL);
    assert_value(&form, "refresh_token", NULL);
    assert_value(&form, "not_expected", NULL);
    assert_null(cv_form_get(&form, NULL, NULL));
    cv_form_clear(&form);
    assert_all_null(&form);
}

static void test_plus_and_escapes(void **state)
{
    (void)state;
    cv_form form;
    init_token(&form);
    assert_int_equal(parse(&form, "code=a+b%20c%2Bd%25e&client_id=%7e%7E~x&client_secret=%C3%A9t%c3%a9", NULL, 0),
                     0);
    assert_value(&form, "code", "a b c+d%e");
    assert_value(&form, "client_id", "~~~x");
    assert_value(&form, "client_secret", "\xc3\xa9t\xc3\xa9"); /* UTF-8 passes through */
    cv_form_clear(&form);
}

static void test_encoded_names(void **state)
{
    (void)state;
    cv_form form;
    init_token(&form);
    /* Names compare after decoding; '=' only splits at the first one. */
    assert_int_equal(parse(&form, "grant%5Ftype=refresh_token&refresh%5ftoken=a=b==", NULL, 0), 0);
    assert_value(&form, "grant_type", "refresh_token");
    assert_value(&form, "refresh_token", "a=b==");
    cv_form_clear(&form);
    /* Names are case-sensitive and must match exactly. */
    assert_int_equal(parse(&form, "Code=x&code_=y&cod=z&grant+type=w", NULL, 0), 0);
    assert_all_null(&form);
    /* An encoded name then the plain one is still a duplicate. */
    char err[64];
    assert_int_equal(parse(&form, "c%6Fde=1&code=2", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "code"));
    assert_all_null(&form);
}

static void test_unknown_ignored(void **state)
{
    (void)state;
    cv_form form;
    init_token(&form);
    /* Unknown names are ignored, values unchecked; they may even repeat. */
    assert_int_equal(parse(&form, "scope=a&scope=b&x=%zz&y=%00&code=c1&&&z&=v&=", NULL, 0), 0);
    assert_value(&form, "code", "c1");
    assert_value(&form, "scope", NULL);
    cv_form_clear(&form);
    assert_int_equal(parse(&form, "", NULL, 0), 0);
    assert_all_null(&form);
    assert_int_equal(cv_form_parse(&form, NULL, 0, NULL, 0), 0);
    assert_int_equal(parse(&form, "&&&", NULL, 0), 0);
    assert_all_null(&form);
    /* A name that cannot be decoded could be an expected one: refused. */
    char err[64];
    assert_int_equal(parse(&form, "code=1&c%zzode=2", err, sizeof(err)), -EINVAL);
    assert_printable(err);
    assert_all_null(&form);
    assert_int_equal(parse(&form, "%00code=1", NULL, 0), -EINVAL);
    assert_int_equal(parse(&form, "code%=1", NULL, 0), -EINVAL);
}

static void test_duplicates(void **state)
{
    (void)state;
    cv_form form;
    char err[128];
    init_token(&form);
    const char *dups[] = {
        "code=a&code=b",
        "code=a&code=a",
        "code=&code=b",  /* present twice, even if once empty */
        "code=a&code=",
        "code&code=x",
        "grant_type=x&code=1&client_id=c&code=2",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(dups); i++) {
        memset(err, 0, sizeof(err));
        assert_int_equal(parse(&form, dups[i], err, sizeof(err)), -EINVAL);
        assert_printable(err);
        assert_non_null(strstr(err, "code"));
        assert_all_null(&form);
    }
}

static void test_empty_is_absent(void **state)
{
    (void)state;
    cv_form form;
    init_token(&form);
    assert_int_equal(parse(&form, "code=&client_id&grant_type=x", NULL, 0), 0);
    assert_value(&form, "code", NULL);
    assert_value(&form, "client_id", NULL);
    assert_value(&form, "grant_type", "x");
    cv_form_clear(&form);
}

static void test_bad_escapes(void **state)
{
    (void)state;
    cv_form form;
    char err[128];
    init_token(&form);
    const char *bad[] = {
        "code=%G1", "code=%1G", "code=abc%", "code=abc%4", "code=%0", "code=%00", "code=a%00b",
        "code=%%41", "code=%-1", "code=% 1", "grant_type=x&code=%", "code=%0&grant_type=x",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        strcpy(err, "");
        assert_int_equal(parse(&form, bad[i], err, sizeof(err)), -EINVAL);
        assert_printable(err);
        assert_non_null(strstr(err, "code"));
        assert_all_null(&form);
    }
    /* The error never echoes the value. */
    assert_int_equal(parse(&form, "code=SECRETVALUE%zz", err, sizeof(err)), -EINVAL);
    assert_null(strstr(err, "SECRET"));
    /* Values already decoded before the failure are released too (ASan/LSan). */
    assert_int_equal(parse(&form, "grant_type=x&client_secret=s3cret&code=%G", err, sizeof(err)), -EINVAL);
    assert_all_null(&form);
}

static void test_control_chars(void **state)
{
    (void)state;
    cv_form form;
    char err[128];
    init_token(&form);
    const char *bad[] = {
        "code=a%0Ab", "code=a%0db", "code=%09", "code=%1F", "code=%7F", "code=%7f",
        "code=a\nb",  "code=a\tb",  "code=\x01", "code=a\x7f",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        assert_int_equal(parse(&form, bad[i], err, sizeof(err)), -EINVAL);
        assert_printable(err);
        assert_non_null(strstr(err, "code"));
        assert_all_null(&form);
    }
    /* Space, '~' and bytes past 0x7f are fine. */
    assert_int_equal(parse(&form, "code=%20%7E%80%FF", NULL, 0), 0);
    assert_value(&form, "code", " ~\x80\xff");
    cv_form_clear(&form);
}

static void fill(char *buf, size_t off, size_t n, char c)
{
    memset(buf + off, c, n);
    buf[off + n] = '\0';
}

static void test_lengths(void **state)
{
    (void)state;
    cv_form form;
    char err[128];
    const size_t max = CV_FORM_VALUE_MAX - 1;
    char *body = malloc(3 * CV_FORM_VALUE_MAX + 64);
    assert_non_null(body);
    init_token(&form);

    /* Exactly the longest value. */
    strcpy(body, "code=");
    fill(body, 5, max, 'a');
    assert_int_equal(parse(&form, body, err, sizeof(err)), 0);
    size_t len = 0;
    const char *v = cv_form_get(&form, "code", &len);
    assert_non_null(v);
    assert_int_equal(len, max);
    assert_int_equal(strlen(v), max);
    cv_form_clear(&form);

    /* One more byte. */
    fill(body, 5, max + 1, 'a');
    assert_int_equal(parse(&form, body, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "code"));
    assert_all_null(&form);

    /* The limit is on the decoded length: max escaped bytes fit... */
    strcpy(body, "code=");
    for (size_t i = 0; i < max; i++)
        memcpy(body + 5 + 3 * i, "%41", 3);
    body[5 + 3 * max] = '\0';
    assert_int_equal(parse(&form, body, err, sizeof(err)), 0);
    assert_int_equal(cv_form_get(&form, "code", &len)[max - 1], 'A');
    assert_int_equal(len, max);
    cv_form_clear(&form);
    /* ...one more does not. */
    strcat(body, "+");
    assert_int_equal(parse(&form, body, err, sizeof(err)), -EINVAL);
    assert_all_null(&form);

    /* A long unknown value is ignored. */
    strcpy(body, "scope=");
    fill(body, 6, 3 * CV_FORM_VALUE_MAX, 'z');
    strcat(body, "&code=ok");
    assert_int_equal(parse(&form, body, err, sizeof(err)), 0);
    assert_value(&form, "code", "ok");
    cv_form_clear(&form);
    free(body);
}

static void test_no_nul_reliance(void **state)
{
    (void)state;
    cv_form form;
    init_token(&form);
    /* Only the first len bytes count, whatever follows them. */
    const char *s = "code=abc&client_id=xyz";
    assert_int_equal(cv_form_parse(&form, s, 8, NULL, 0), 0);
    assert_value(&form, "code", "abc");
    assert_value(&form, "client_id", NULL);
    cv_form_clear(&form);
    /* Ends right inside an escape: "%4" of "%41". */
    const char *t = "code=x%41";
    assert_int_equal(cv_form_parse(&form, t, 8, NULL, 0), -EINVAL);
    /* A name cut before its '='. */
    assert_int_equal(cv_form_parse(&form, s, 4, NULL, 0), 0);
    assert_all_null(&form);
    /* Every prefix of a typical body, each from an exact-size copy. */
    const char *body = "grant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA%2B%2F&client_id=s6BhdRkqt3";
    for (size_t n = 0; n <= strlen(body); n++) {
        char *copy = malloc(n ? n : 1);
        assert_non_null(copy);
        memcpy(copy, body, n);
        int r = cv_form_parse(&form, copy, n, NULL, 0);
        assert_true(r == 0 || r == -EINVAL);
        for (size_t i = 0; i < form.n; i++)
            if (form.f[i].value)
                assert_int_equal(strlen(form.f[i].value), form.f[i].len);
        cv_form_clear(&form);
        free(copy);
    }
}

static void test_err_buffer(void **state)
{
    (void)state;
    cv_form form;
    init_token(&form);
    char err[8];
    memset(err, 'X', sizeof(err));
    assert_int_equal(parse(&form, "code=1&code=2", err, sizeof(err)), -EINVAL);
    assert_int_equal(strlen(err), sizeof(err) - 1); /* truncated, terminated */
    err[0] = 'X';
    assert_int_equal(parse(&form, "code=1&code=2", err, 1), -EINVAL);
    assert_int_equal(err[0], '\0');
    assert_int_equal(parse(&form, "code=1&code=2", NULL, 0), -EINVAL);
    /* A success leaves err empty. */
    char e2[32] = "stale";
    assert_int_equal(parse(&form, "code=1", e2, sizeof(e2)), 0);
    assert_string_equal(e2, "");
    cv_form_clear(&form);
}

static void test_clear_then_reparse(void **state)
{
    (void)state;
    cv_form form;
    init_token(&form);
    assert_int_equal(parse(&form, "code=first&client_id=c", NULL, 0), 0);
    assert_value(&form, "code", "first");
    cv_form_clear(&form);
    assert_all_null(&form);
    cv_form_clear(&form); /* twice is harmless */
    assert_int_equal(parse(&form, "code=second", NULL, 0), 0);
    assert_value(&form, "code", "second");
    assert_value(&form, "client_id", NULL);
    /* Parsing again without clear() replaces the values (LSan: no leak). */
    assert_int_equal(parse(&form, "client_id=again", NULL, 0), 0);
    assert_value(&form, "code", NULL);
    assert_value(&form, "client_id", "again");
    /* A failed reparse leaves nothing behind. */
    assert_int_equal(parse(&form, "client_id=a&client_id=b", NULL, 0), -EINVAL);
    assert_all_null(&form);
    cv_form_clear(&form);
}

static void test_init_caps(void **state)
{
    (void)state;
    const char *names[CV_FORM_FIELDS_MAX + 3];
    char bufs[CV_FORM_FIELDS_MAX + 3][8];
    for (size_t i = 0; i < CV_ARRAY_LEN(names); i++) {
        snprintf(bufs[i], sizeof(bufs[i]), "p%zu", i);
        names[i] = bufs[i];
    }
    cv_form form;
    cv_form_init(&form, names, CV_ARRAY_LEN(names));
    assert_int_equal(form.n, CV_FORM_FIELDS_MAX);
    assert_int_equal(parse(&form, "p0=a&p11=b&p12=c&p14=d", NULL, 0), 0);
    assert_value(&form, "p0", "a");
    assert_value(&form, "p11", "b");
    assert_value(&form, "p12", NULL); /* past the cap: not expected */
    cv_form_clear(&form);
    cv_form_init(&form, NULL, 0);
    assert_int_equal(parse(&form, "code=1&code=2", NULL, 0), 0);
}

/* ---- cv_form_basic_auth ---- */

static int basic(const char *hdr, char *id, size_t idcap, char *sec, size_t seccap)
{
    size_t len = strlen(hdr);
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, hdr, len);
    int r = cv_form_basic_auth((cv_str){copy, len}, id, idcap, sec, seccap);
    free(copy);
    return r;
}

/* "Basic " + base64(creds). */
static char *basic_of(const char *creds, const char *prefix)
{
    size_t n = strlen(creds), b64len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    char *out = malloc(strlen(prefix) + b64len);
    assert_non_null(out);
    strcpy(out, prefix);
    sodium_bin2base64(out + strlen(prefix), b64len, (const unsigned char *)creds, n, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

static void test_basic_good(void **state)
{
    (void)state;
    char id[64], sec[64];
    /* RFC 6749 §2.3.1's example: s6BhdRkqt3:7Fjfp0ZBr1KtDRbnfVdmIw */
    assert_int_equal(basic("Basic czZCaGRSa3F0Mzo3RmpmcDBaQnIxS3REUmJuZlZkbUl3", id, sizeof(id), sec, sizeof(sec)),
                     0);
    assert_string_equal(id, "s6BhdRkqt3");
    assert_string_equal(sec, "7Fjfp0ZBr1KtDRbnfVdmIw");

    const char *variants[] = {"basic ", "BASIC ", "bAsIc   ", "  Basic "};
    for (size_t i = 0; i < CV_ARRAY_LEN(variants); i++) {
        char *h = basic_of("client:secret", variants[i]);
        assert_int_equal(basic(h, id, sizeof(id), sec, sizeof(sec)), 0);
        assert_string_equal(id, "client");
        assert_string_equal(sec, "secret");
        free(h);
    }
    /* Trailing whitespace (as a header value may carry) is fine. */
    char *h = basic_of("client:secret", "Basic ");
    char *h2 = malloc(strlen(h) + 3);
    assert_non_null(h2);
    sprintf(h2, "%s \t", h);
    assert_int_equal(basic(h2, id, sizeof(id), sec, sizeof(sec)), 0);
    assert_string_equal(sec, "secret");
    free(h2);
    free(h);
}

static void test_basic_colon_and_escapes(void **state)
{
    (void)state;
    char id[64], sec[64];
    struct {
        const char *creds, *id, *sec;
    } cases[] = {
        {"client:se:cr:et", "client", "se:cr:et"}, /* split at the first ':' */
        {"cli%3Aent:secret", "cli:ent", "secret"}, /* ':' in the id must be encoded */
        {"my+client:p%40ss+w%2Brd%25", "my client", "p@ss w+rd%"},
        {"%C3%A9:x", "\xc3\xa9", "x"},
        {"client:", "client", ""}, /* empty secret: the caller decides */
        {"c::", "c", ":"},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(cases); i++) {
        char *h = basic_of(cases[i].creds, "Basic ");
        assert_int_equal(basic(h, id, sizeof(id), sec, sizeof(sec)), 0);
        assert_string_equal(id, cases[i].id);
        assert_string_equal(sec, cases[i].sec);
        free(h);
    }
}

static void test_basic_not_basic(void **state)
{
    (void)state;
    char id[64], sec[64];
    const char *others[] = {"Bearer abc", "Digest username=\"x\"", "", "   ", "Basi", "Basicx Y2xpZW50OnNlY3JldA==",
                            "BasicY2xpZW50OnNlY3JldA==", "Basi c Y2xpZW50OnNlY3JldA==", "xBasic Y2xpZW50OnNlY3JldA=="};
    for (size_t i = 0; i < CV_ARRAY_LEN(others); i++)
        assert_int_equal(basic(others[i], id, sizeof(id), sec, sizeof(sec)), -ENOENT);
    assert_int_equal(cv_form_basic_auth((cv_str){NULL, 0}, id, sizeof(id), sec, sizeof(sec)), -ENOENT);
}

static void test_basic_bad(void **state)
{
    (void)state;
    char id[64], sec[64];
    const char *bad[] = {
        "Basic",
        "Basic ",
        "Basic    ",
        "Basic Y2xpZW50OnNlY3JldA",      /* no padding */
        "Basic Y2xpZW50OnNlY3JldA=",     /* short padding */
        "Basic Y2xpZW50OnNlY3JldA===",   /* extra padding */
        "Basic Y2xpZW50OnNlY3JldA==x",   /* trailing garbage */
        "Basic Y2xpZW50 OnNlY3JldA==",   /* inner space */
        "Basic Y2xpZW50OnNlY3JldA-_",    /* URL-safe alphabet */
        "Basic !!!!",
        "Basic Y2xpZW50c2VjcmV0",        /* "clientsecret": no ':' */
        "Basic OnNlY3JldA==",            /* ":secret": empty id */
        "Basic Y2xpZW50OnNlY3JldB==",    /* non-canonical trailing bits */
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        memset(id, 'X', sizeof(id));
        memset(sec, 'X', sizeof(sec));
        assert_int_equal(basic(bad[i], id, sizeof(id), sec, sizeof(sec)), -EINVAL);
        assert_int_equal(id[0], '\0');
        assert_int_equal(sec[0], '\0');
    }
    const char *badcreds[] = {"cli%zzent:secret", "client:sec%", "client:sec%0", "client:a%00b", "cl%0Aient:s",
                              "client:se\ncret", "client:se\x7f", "client:s\tx", "cl\x01:s", "client%00:s"};
    for (size_t i = 0; i < CV_ARRAY_LEN(badcreds); i++) {
        char *h = basic_of(badcreds[i], "Basic ");
        assert_int_equal(basic(h, id, sizeof(id), sec, sizeof(sec)), -EINVAL);
        assert_int_equal(id[0], '\0');
        assert_int_equal(sec[0], '\0');
        free(h);
    }
    /* A NUL byte inside the decoded credentials. */
    const unsigned char raw[] = {'c', 0, ':', 's'};
    char b64[16];
    sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    char hdr[32];
    snprintf(hdr, sizeof(hdr), "Basic %s", b64);
    assert_int_equal(basic(hdr, id, sizeof(id), sec, sizeof(sec)), -EINVAL);
    /* No room at all. */
    assert_int_equal(basic("Basic Y2xpZW50OnNlY3JldA==", id, 0, sec, sizeof(sec)), -EINVAL);
    assert_int_equal(basic("Basic Y2xpZW50OnNlY3JldA==", id, sizeof(id), sec, 0), -EINVAL);
}

static void test_basic_caps(void **state)
{
    (void)state;
    char id[7], sec[7]; /* six characters each */
    char *h = basic_of("client:secret", "Basic ");
    assert_int_equal(basic(h, id, sizeof(id), sec, sizeof(sec)), 0);
    assert_string_equal(id, "client");
    assert_string_equal(sec, "secret");
    free(h);

    const char *toolong[] = {"client1:secret", "client:secret1"};
    for (size_t i = 0; i < CV_ARRAY_LEN(toolong); i++) {
        h = basic_of(toolong[i], "Basic ");
        assert_int_equal(basic(h, id, sizeof(id), sec, sizeof(sec)), -EINVAL);
        assert_int_equal(id[0], '\0');
        assert_int_equal(sec[0], '\0');
        free(h);
    }
    /* The caps are on the decoded values: escapes may make them longer. */
    h = basic_of("%63lient:%73%65%63%72%65%74", "Basic ");
    assert_int_equal(basic(h, id, sizeof(id), sec, sizeof(sec)), 0);
    assert_string_equal(id, "client");
    assert_string_equal(sec, "secret");
    free(h);

    /* A huge header is refused without trouble. */
    size_t n = 1 << 20;
    char *big = malloc(n + 7);
    assert_non_null(big);
    strcpy(big, "Basic ");
    memset(big + 6, 'A', n);
    big[6 + n] = '\0';
    char bid[64], bsec[64];
    assert_int_equal(basic(big, bid, sizeof(bid), bsec, sizeof(bsec)), -EINVAL);
    free(big);
}

/* ---- cv_form_ctype ---- */

static bool ctype(const char *s)
{
    size_t len = strlen(s);
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    bool r = cv_form_ctype((cv_str){copy, len});
    free(copy);
    return r;
}

static void test_ctype(void **state)
{
    (void)state;
    const char *yes[] = {
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-URLEncoded",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/x-www-form-urlencoded;charset=UTF-8",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded   ;charset=utf-8",
        "application/x-www-form-urlencoded ",
        " application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded;",
    };
    const char *no[] = {
        "",
        "application/json",
        "application/x-www-form-urlencode",
        "application/x-www-form-urlencodedx",
        "application/x-www-form-urlencoded x",
        "application/x-www-form-urlencoded, text/plain",
        "multipart/form-data",
        "text/plain; application/x-www-form-urlencoded",
        "application/x-www-form",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(yes); i++)
        assert_true(ctype(yes[i]));
    for (size_t i = 0; i < CV_ARRAY_LEN(no); i++)
        assert_false(ctype(no[i]));
    assert_false(cv_form_ctype((cv_str){NULL, 0}));
    /* Only len bytes count. */
    assert_true(cv_form_ctype((cv_str){"application/x-www-form-urlencodedXYZ", 33}));
}

/* ---- cv_form_append ---- */

static void test_append(void **state)
{
    (void)state;
    char out[256] = "";
    assert_int_equal(cv_form_append(out, sizeof(out), '&', "code", "abc-._~XYZ019"), 0);
    assert_string_equal(out, "code=abc-._~XYZ019");
    assert_int_equal(cv_form_append(out, sizeof(out), '&', "state", "a b+c/d?e=f&g%h#i:j"), 0);
    assert_string_equal(out, "code=abc-._~XYZ019&state=a%20b%2Bc%2Fd%3Fe%3Df%26g%25h%23i%3Aj");
    assert_int_equal(cv_form_append(out, sizeof(out), '&', "e", "\xc3\xa9\x01\x7f"), 0);
    assert_string_equal(out + strlen(out) - 15, "&e=%C3%A9%01%7F");

    char url[128] = "https://client.example/cb";
    assert_int_equal(cv_form_append(url, sizeof(url), '?', "code", "x"), 0);
    assert_int_equal(cv_form_append(url, sizeof(url), '&', "state", "s"), 0);
    assert_string_equal(url, "https://client.example/cb?code=x&state=s");

    /* Empty value and name. */
    char e[16] = "";
    assert_int_equal(cv_form_append(e, sizeof(e), '&', "a", ""), 0);
    assert_int_equal(cv_form_append(e, sizeof(e), '&', "", "b"), 0);
    assert_string_equal(e, "a=&=b");
}

static void test_append_enospc(void **state)
{
    (void)state;
    /* "code=a%20b" is 10 characters: 11 bytes fit exactly. */
    char out[11] = "";
    assert_int_equal(cv_form_append(out, sizeof(out), '&', "code", "a b"), 0);
    assert_string_equal(out, "code=a%20b");

    char small[10];
    memset(small, 'Q', sizeof(small));
    small[0] = '\0';
    assert_int_equal(cv_form_append(small, sizeof(small), '&', "code", "a b"), -ENOSPC);
    assert_int_equal(small[0], '\0');
    for (size_t i = 1; i < sizeof(small); i++)
        assert_int_equal(small[i], 'Q'); /* nothing written */

    /* The separator counts too. */
    char two[20] = "x=1";
    assert_int_equal(cv_form_append(two, 20, '&', "code", "abcdefghijk"), -ENOSPC); /* needs 21 */
    assert_string_equal(two, "x=1");
    assert_int_equal(cv_form_append(two, 20, '&', "code", "abcdefghij"), 0); /* exactly 20 */
    assert_string_equal(two, "x=1&code=abcdefghij");
    assert_int_equal(cv_form_append(two, 20, '&', "", ""), -ENOSPC);
    assert_string_equal(two, "x=1&code=abcdefghij");

    /* An escape never gets cut in half. */
    char cut[8] = "";
    assert_int_equal(cv_form_append(cut, sizeof(cut), '&', "c", "abc%"), -ENOSPC); /* "c=abc%25" + NUL = 9 */
    assert_string_equal(cut, "");
    assert_int_equal(cv_form_append(cut, sizeof(cut), '&', "c", "a%"), 0);
    assert_string_equal(cut, "c=a%25");

    char none[1] = "";
    assert_int_equal(cv_form_append(none, 0, '&', "a", "b"), -ENOSPC);
    assert_int_equal(cv_form_append(none, 1, '&', "a", "b"), -ENOSPC);
    /* out not terminated within cap. */
    char unterminated[4] = {'a', 'b', 'c', 'd'};
    assert_int_equal(cv_form_append(unterminated, sizeof(unterminated), '&', "a", "b"), -EINVAL);
    assert_memory_equal(unterminated, "abcd", 4);
}

static void test_append_roundtrip(void **state)
{
    (void)state;
    /* Every printable byte and past 0x7f survives encode then parse. */
    char value[256];
    size_t n = 0;
    for (int c = 0x20; c <= 0xff; c++)
        if (c != 0x7f)
            value[n++] = (char)c;
    value[n] = '\0';
    char out[1024] = "";
    assert_int_equal(cv_form_append(out, sizeof(out), '&', "client_id", "x"), 0);
    assert_int_equal(cv_form_append(out, sizeof(out), '&', "code", value), 0);
    for (const char *p = out; *p; p++)
        assert_true(*p == '%' || *p == '=' || *p == '&' || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
                    (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'));
    cv_form form;
    init_token(&form);
    assert_int_equal(parse(&form, out, NULL, 0), 0);
    assert_value(&form, "code", value);
    assert_value(&form, "client_id", "x");
    cv_form_clear(&form);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_request),
        cmocka_unit_test(test_plus_and_escapes),
        cmocka_unit_test(test_encoded_names),
        cmocka_unit_test(test_unknown_ignored),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_empty_is_absent),
        cmocka_unit_test(test_bad_escapes),
        cmocka_unit_test(test_control_chars),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_no_nul_reliance),
        cmocka_unit_test(test_err_buffer),
        cmocka_unit_test(test_clear_then_reparse),
        cmocka_unit_test(test_init_caps),
        cmocka_unit_test(test_basic_good),
        cmocka_unit_test(test_basic_colon_and_escapes),
        cmocka_unit_test(test_basic_not_basic),
        cmocka_unit_test(test_basic_bad),
        cmocka_unit_test(test_basic_caps),
        cmocka_unit_test(test_ctype),
        cmocka_unit_test(test_append),
        cmocka_unit_test(test_append_enospc),
        cmocka_unit_test(test_append_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
