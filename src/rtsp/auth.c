#include "rtsp/auth.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Internal, shared with the unit tests: the Digest header for a given client
 * nonce, so the RFC examples can be checked byte for byte. */
int cv__auth_digest_header(cv_auth_challenge *c, const char *user, const char *pass, const char *method,
                           const char *uri, const char *cnonce, cv_sbuf *out);

#define AUTH_MAX_VALUE 512

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

typedef struct {
    const char *p, *end;
} cur;

static void skip_ws(cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static cv_str take_token(cur *c)
{
    const char *s = c->p;
    while (c->p < c->end && is_tchar((unsigned char)*c->p))
        c->p++;
    return (cv_str){s, (size_t)(c->p - s)};
}

/* A quoted-string (backslash escapes) or a bare value, decoded into buf. */
static int take_value(cur *c, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        for (;;) {
            if (c->p >= c->end)
                return -EBADMSG; /* unterminated */
            unsigned char ch = (unsigned char)*c->p++;
            if (ch == '"')
                break;
            if (ch == '\\') {
                if (c->p >= c->end)
                    return -EBADMSG;
                ch = (unsigned char)*c->p++;
            }
            if (is_ctl(ch) && ch != '\t')
                return -EBADMSG;
            if (n + 1 >= cap)
                return -EBADMSG;
            buf[n++] = (char)ch;
        }
    } else {
        /* Tokens, but cameras also send unquoted base64 nonces ('/', '='). */
        while (c->p < c->end && *c->p != ',' && *c->p != ' ' && *c->p != '\t') {
            unsigned char ch = (unsigned char)*c->p;
            if (is_ctl(ch) || ch == '"')
                return -EBADMSG;
            if (n + 1 >= cap)
                return -EBADMSG;
            buf[n++] = (char)ch;
            c->p++;
        }
    }
    buf[n] = '\0';
    *len = n;
    return 0;
}

static int store(char *dst, size_t cap, const char *v, size_t len)
{
    if (len >= cap)
        return -EBADMSG;
    memcpy(dst, v, len + 1);
    return 0;
}

static bool list_has(const char *list, size_t len, const char *want)
{
    cv_str rest = {list, len};
    while (rest.len) {
        const char *comma = memchr(rest.p, ',', rest.len);
        size_t n = comma ? (size_t)(comma - rest.p) : rest.len;
        if (cv_str_ieq_c(cv_str_trim((cv_str){rest.p, n}), want))
            return true;
        if (!comma)
            break;
        rest.p += n + 1;
        rest.len -= n + 1;
    }
    return false;
}

int cv_auth_parse_challenge(cv_str value, cv_auth_challenge *out)
{
    memset(out, 0, sizeof(*out));
    cur c = {value.p, value.p + value.len};
    if (!value.p)
        return -EBADMSG;
    skip_ws(&c);
    cv_str scheme = take_token(&c);
    if (cv_str_ieq_c(scheme, "Digest"))
        out->digest = true;
    else if (!cv_str_ieq_c(scheme, "Basic"))
        return -EBADMSG;
    if (c.p < c.end && *c.p != ' ' && *c.p != '\t')
        return -EBADMSG;

    bool has_realm = false, has_nonce = false, has_qop = false;
    char val[AUTH_MAX_VALUE];
    for (;;) {
        while (c.p < c.end && (*c.p == ' ' || *c.p == '\t' || *c.p == ','))
            c.p++;
        if (c.p >= c.end)
            break;
        cv_str name = take_token(&c);
        if (name.len == 0)
            return -EBADMSG;
        skip_ws(&c);
        if (c.p >= c.end || *c.p != '=') {
            /* "token SP ..." starts the next challenge in a list (RFC 7235
             * 4.1): this one ends here. */
            break;
        }
        c.p++;
        skip_ws(&c);
        size_t vlen;
        int res = take_value(&c, val, sizeof(val), &vlen);
        if (res < 0)
            return res;
        if (cv_str_ieq_c(name, "realm")) {
            res = store(out->realm, sizeof(out->realm), val, vlen);
            has_realm = true;
        } else if (!out->digest) {
            /* Basic has only realm (and charset, ignored). */
        } else if (cv_str_ieq_c(name, "nonce")) {
            res = store(out->nonce, sizeof(out->nonce), val, vlen);
            has_nonce = true;
        } else if (cv_str_ieq_c(name, "opaque")) {
            res = store(out->opaque, sizeof(out->opaque), val, vlen);
        } else if (cv_str_ieq_c(name, "algorithm")) {
            /* The -sess variants and SHA-512-256 are not offered by cameras
             * and the challenge cannot represent them: refuse, so the caller
             * picks another challenge. */
            if (cv_str_ieq_c((cv_str){val, vlen}, "SHA-256"))
                out->sha256 = true;
            else if (cv_str_ieq_c((cv_str){val, vlen}, "MD5"))
                out->sha256 = false;
            else
                return -EBADMSG;
        } else if (cv_str_ieq_c(name, "qop")) {
            has_qop = true;
            out->qop_auth = list_has(val, vlen, "auth");
        }
        if (res < 0)
            return res;
        skip_ws(&c);
        /* Tolerate a missing comma between parameters; anything else
         * unexpected is caught by take_token above. */
    }
    if (out->digest) {
        if (!has_realm || !has_nonce)
            return -EBADMSG;
        /* qop offered but only auth-int: we cannot hash bodies. */
        if (has_qop && !out->qop_auth)
            return -EBADMSG;
    }
    return 0;
}

static int hash_parts(bool sha256, const cv_str *parts, size_t n, char *hex, size_t cap)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int res = -ENOMEM;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -ENOMEM;
    if (EVP_DigestInit_ex(ctx, sha256 ? EVP_sha256() : EVP_md5(), NULL) != 1)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (i && EVP_DigestUpdate(ctx, ":", 1) != 1)
            goto out;
        if (parts[i].len && EVP_DigestUpdate(ctx, parts[i].p, parts[i].len) != 1)
            goto out;
    }
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
        goto out;
    if (cv_hex_encode(md, mdlen, hex, cap) < 0)
        goto out;
    res = 0;
out:
    EVP_MD_CTX_free(ctx);
    return res;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if (is_ctl((unsigned char)*s))
            return true;
    return false;
}

/* Appends s as the inside of a quoted-string. */
static void put_quoted(cv_sbuf *out, const char *s)
{
    cv_sbuf_puts(out, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            cv_sbuf_puts(out, "\\");
        cv_sbuf_append(out, s, 1);
    }
    cv_sbuf_puts(out, "\"");
}

int cv__auth_digest_header(cv_auth_challenge *c, const char *user, const char *pass, const char *method,
                           const char *uri, const char *cnonce, cv_sbuf *out)
{
    char ha1[EVP_MAX_MD_SIZE * 2 + 1], ha2[sizeof(ha1)], resp[sizeof(ha1)], nc[9];
    int res;
    cv_str a1[] = {cv_str_from(user), cv_str_from(c->realm), cv_str_from(pass)};
    cv_str a2[] = {cv_str_from(method), cv_str_from(uri)};
    if ((res = hash_parts(c->sha256, a1, CV_ARRAY_LEN(a1), ha1, sizeof(ha1))) < 0 ||
        (res = hash_parts(c->sha256, a2, CV_ARRAY_LEN(a2), ha2, sizeof(ha2))) < 0)
        return res;
    if (c->qop_auth) {
        if (++c->nc == 0)
            c->nc = 1;
        snprintf(nc, sizeof(nc), "%08x", (unsigned)c->nc);
        cv_str r[] = {cv_str_from(ha1), cv_str_from(c->nonce), cv_str_from(nc), cv_str_from(cnonce),
                      CV_STR_LIT("auth"), cv_str_from(ha2)};
        res = hash_parts(c->sha256, r, CV_ARRAY_LEN(r), resp, sizeof(resp));
    } else {
        /* RFC 2069 compatibility: most cameras send no qop. */
        cv_str r[] = {cv_str_from(ha1), cv_str_from(c->nonce), cv_str_from(ha2)};
        res = hash_parts(c->sha256, r, CV_ARRAY_LEN(r), resp, sizeof(resp));
    }
    if (res < 0)
        return res;

    cv_sbuf_puts(out, "Digest username=");
    put_quoted(out, user);
    cv_sbuf_puts(out, ", realm=");
    put_quoted(out, c->realm);
    cv_sbuf_puts(out, ", nonce=");
    put_quoted(out, c->nonce);
    cv_sbuf_puts(out, ", uri=");
    put_quoted(out, uri);
    if (c->sha256)
        cv_sbuf_puts(out, ", algorithm=SHA-256");
    if (c->qop_auth) {
        cv_sbuf_printf(out, ", qop=auth, nc=%s, cnonce=", nc);
        put_quoted(out, cnonce);
    }
    cv_sbuf_printf(out, ", response=\"%s\"", resp);
    if (c->opaque[0]) {
        cv_sbuf_puts(out, ", opaque=");
        put_quoted(out, c->opaque);
    }
    return cv_sbuf_ok(out) ? 0 : -ENOMEM;
}

static int basic_header(const char *user, const char *pass, cv_sbuf *out)
{
    size_t ulen = strlen(user), plen = strlen(pass), n, enc;
    if (__builtin_add_overflow(ulen, plen, &n) || __builtin_add_overflow(n, 1, &n))
        return -ENOMEM;
    /* 4 * ceil(n / 3) + NUL */
    if (__builtin_add_overflow(n, 2, &enc) || __builtin_mul_overflow(enc / 3, 4, &enc) ||
        __builtin_add_overflow(enc, 1, &enc) || enc > INT32_MAX)
        return -ENOMEM;
    int res = -ENOMEM;
    char *raw = malloc(n);
    char *b64 = malloc(enc);
    if (!raw || !b64)
        goto out;
    memcpy(raw, user, ulen);
    raw[ulen] = ':';
    memcpy(raw + ulen + 1, pass, plen);
    if (cv_b64_encode((const uint8_t *)raw, n, b64, enc) < 0)
        goto out;
    cv_sbuf_puts(out, "Basic ");
    cv_sbuf_puts(out, b64);
    res = cv_sbuf_ok(out) ? 0 : -ENOMEM;
out:
    if (raw)
        explicit_bzero(raw, n);
    if (b64)
        explicit_bzero(b64, enc);
    free(raw);
    free(b64);
    return res;
}

int cv_auth_make_header(cv_auth_challenge *c, const char *user, const char *pass, const char *method,
                        const char *uri, cv_sbuf *out)
{
    user = user ? user : "";
    pass = pass ? pass : "";
    /* Everything but the password ends up verbatim inside the header. */
    if (has_ctl(user) || has_ctl(method) || has_ctl(uri))
        return -EINVAL;
    if (!c->digest)
        return basic_header(user, pass, out);

    uint8_t rnd[16];
    char cnonce[sizeof(rnd) * 2 + 1];
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return -EIO;
    if (cv_hex_encode(rnd, sizeof(rnd), cnonce, sizeof(cnonce)) < 0)
        return -ENOMEM;
    return cv__auth_digest_header(c, user, pass, method, uri, cnonce, out);
}
