#include "rtsp/auth.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stddef.h>
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

/* ------------------------------------------------------------ server side */

#define CRED_MAX_SCRATCH 2048 /* longest value read at all: CV_RTSP_MAX_URI */

static bool is_hex(cv_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.p[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
            return false;
    }
    return true;
}

/* The Digest parameters we read, with their longest accepted value. */
enum { P_USERNAME, P_REALM, P_NONCE, P_URI, P_RESPONSE, P_QOP, P_NC, P_CNONCE, P_ALGORITHM, P_OPAQUE, P_COUNT };
#define MAX_USERNAME 255
#define MAX_REALM 127 /* as cv_auth_challenge.realm */
#define MAX_NONCE 255
#define MAX_URI CRED_MAX_SCRATCH
#define MAX_RESPONSE 64 /* SHA-256 in hex */
#define MAX_QOP 32
#define MAX_NC 8
#define MAX_CNONCE 255
#define MAX_ALGORITHM 32
#define MAX_OPAQUE 255
#define CRED(field, max) {#field, offsetof(cv_auth_credentials, field), max}
static const struct {
    const char *name;
    size_t off;
    size_t max;
} cred_params[P_COUNT] = {
    [P_USERNAME] = CRED(username, MAX_USERNAME), [P_REALM] = CRED(realm, MAX_REALM),
    [P_NONCE] = CRED(nonce, MAX_NONCE),          [P_URI] = CRED(uri, MAX_URI),
    [P_RESPONSE] = CRED(response, MAX_RESPONSE), [P_QOP] = CRED(qop, MAX_QOP),
    [P_NC] = CRED(nc, MAX_NC),                   [P_CNONCE] = CRED(cnonce, MAX_CNONCE),
    [P_ALGORITHM] = CRED(algorithm, MAX_ALGORITHM), [P_OPAQUE] = CRED(opaque, MAX_OPAQUE),
};
#undef CRED
/* Unescaped copies of every parameter at its longest fit: parsing never
 * fails for lack of room. */
_Static_assert(MAX_USERNAME + MAX_REALM + MAX_NONCE + MAX_URI + MAX_RESPONSE + MAX_QOP + MAX_NC + MAX_CNONCE +
                       MAX_ALGORITHM + MAX_OPAQUE <=
                   sizeof(((cv_auth_credentials *)0)->_unescaped),
               "escaped values always fit");

static int parse_basic(cur *c, cv_auth_credentials *out)
{
    uint8_t raw[sizeof(out->basic_user) + sizeof(out->basic_pass)];
    skip_ws(c);
    const char *b64 = c->p;
    /* token68 */
    while (c->p < c->end && (is_tchar((unsigned char)*c->p) || *c->p == '/'))
        c->p++;
    while (c->p < c->end && *c->p == '=')
        c->p++;
    size_t blen = (size_t)(c->p - b64);
    skip_ws(c);
    if (c->p != c->end || blen == 0 || blen > 4 * ((sizeof(raw) + 2) / 3))
        return -EBADMSG;
    int n = cv_b64_decode(b64, blen, raw, sizeof(raw));
    if (n < 0)
        return -EBADMSG;
    int res = -EBADMSG;
    const uint8_t *colon = memchr(raw, ':', (size_t)n);
    if (!colon)
        goto out;
    size_t ulen = (size_t)(colon - raw), plen = (size_t)n - ulen - 1;
    if (ulen >= sizeof(out->basic_user) || plen >= sizeof(out->basic_pass))
        goto out;
    for (int i = 0; i < n; i++)
        if (is_ctl(raw[i]))
            goto out;
    memcpy(out->basic_user, raw, ulen);
    out->basic_user[ulen] = '\0';
    memcpy(out->basic_pass, colon + 1, plen);
    out->basic_pass[plen] = '\0';
    out->username = (cv_str){out->basic_user, ulen};
    res = 0;
out:
    explicit_bzero(raw, sizeof(raw));
    return res;
}

static int parse_digest(cur *c, cv_auth_credentials *out)
{
    char val[CRED_MAX_SCRATCH + 1];
    size_t used = 0; /* of out->_unescaped */
    unsigned seen = 0;
    int res;

    skip_ws(c);
    while (c->p < c->end) {
        cv_str name = take_token(c);
        if (name.len == 0)
            return -EBADMSG;
        skip_ws(c);
        if (c->p >= c->end || *c->p != '=')
            return -EBADMSG;
        c->p++;
        skip_ws(c);
        const char *vstart = c->p;
        bool quoted = c->p < c->end && *c->p == '"';
        size_t vlen;
        if ((res = take_value(c, val, sizeof(val), &vlen)) < 0)
            return res;
        /* take_value refuses other controls; a bare value is one token. */
        if ((!quoted && vlen == 0) || memchr(val, '\t', vlen))
            return -EBADMSG;

        size_t i;
        for (i = 0; i < CV_ARRAY_LEN(cred_params); i++)
            if (cv_str_ieq_c(name, cred_params[i].name))
                break;
        if (i < P_COUNT) {
            if (seen & (1u << i) || vlen > cred_params[i].max)
                return -EBADMSG;
            seen |= 1u << i;
            cv_str *dst = (cv_str *)((char *)out + cred_params[i].off);
            size_t raw = (size_t)(c->p - vstart) - (quoted ? 2 : 0);
            if (raw == vlen) {
                *dst = (cv_str){vstart + (quoted ? 1 : 0), vlen};
            } else {
                /* Cannot fail (see the _Static_assert), kept as a guard. */
                if (vlen > sizeof(out->_unescaped) - used)
                    return -EBADMSG;
                memcpy(out->_unescaped + used, val, vlen);
                *dst = (cv_str){out->_unescaped + used, vlen};
                used += vlen;
            }
        } else if (cv_str_ieq_c(name, "username*") ||
                   (cv_str_ieq_c(name, "userhash") && cv_str_ieq_c((cv_str){val, vlen}, "true"))) {
            /* RFC 7616 extended or hashed user names: not supported. */
            return -EBADMSG;
        }
        /* Other parameters are ignored. */

        skip_ws(c);
        if (c->p >= c->end)
            break;
        if (*c->p != ',')
            return -EBADMSG;
        while (c->p < c->end && (*c->p == ',' || *c->p == ' ' || *c->p == '\t'))
            c->p++;
    }

    const unsigned required = 1u << P_USERNAME | 1u << P_REALM | 1u << P_NONCE | 1u << P_URI | 1u << P_RESPONSE;
    if ((seen & required) != required)
        return -EBADMSG;
    if (!is_hex(out->response))
        return -EBADMSG;
    if (seen & 1u << P_QOP) {
        if (!(seen & 1u << P_NC) || !(seen & 1u << P_CNONCE))
            return -EBADMSG;
    }
    if ((seen & 1u << P_NC) && (out->nc.len != 8 || !is_hex(out->nc)))
        return -EBADMSG;
    return 0;
}

int cv_auth_parse_credentials(cv_str value, cv_auth_credentials *out)
{
    memset(out, 0, sizeof(*out));
    if (!value.p)
        return -EBADMSG;
    cur c = {value.p, value.p + value.len};
    skip_ws(&c);
    cv_str scheme = take_token(&c);
    bool digest = cv_str_ieq_c(scheme, "Digest");
    if (!digest && !cv_str_ieq_c(scheme, "Basic"))
        return -EBADMSG;
    if (c.p >= c.end || (*c.p != ' ' && *c.p != '\t'))
        return -EBADMSG;
    out->digest = digest;
    int res = digest ? parse_digest(&c, out) : parse_basic(&c, out);
    if (res < 0)
        explicit_bzero(out, sizeof(*out));
    return res;
}

#define NONCE_RAW 24 /* 8-byte time + 16-byte truncated MAC */
#define NONCE_FUTURE_US 5000000

static void nonce_mac(const uint8_t key[32], const uint8_t t[8], uint8_t mac[16])
{
    uint8_t full[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, t, 8);
    crypto_auth_hmacsha256_final(&st, full);
    memcpy(mac, full, 16);
    sodium_memzero(full, sizeof(full));
    sodium_memzero(&st, sizeof(st));
}

int cv_auth_make_nonce(const uint8_t key[32], int64_t now_us, char *out, size_t cap)
{
    uint8_t raw[NONCE_RAW];
    if (cap < CV_AUTH_NONCE_LEN + 1)
        return -ENOSPC;
    uint64_t t = (uint64_t)now_us;
    cv_wr_be32(raw, (uint32_t)(t >> 32));
    cv_wr_be32(raw + 4, (uint32_t)t);
    nonce_mac(key, raw, raw + 8);
    sodium_bin2base64(out, cap, raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

int cv_auth_check_nonce(const uint8_t key[32], cv_str nonce, int64_t now_us, int64_t max_age_us)
{
    uint8_t raw[NONCE_RAW], mac[16];
    size_t n = 0;
    const char *end = NULL;
    if (!nonce.p || nonce.len != CV_AUTH_NONCE_LEN)
        return -EBADMSG;
    if (sodium_base642bin(raw, sizeof(raw), nonce.p, nonce.len, NULL, &n, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != nonce.p + nonce.len || n != sizeof(raw))
        return -EBADMSG;
    nonce_mac(key, raw, mac);
    if (sodium_memcmp(mac, raw + 8, sizeof(mac)) != 0)
        return -EBADMSG;
    int64_t issued = (int64_t)((uint64_t)cv_be32(raw) << 32 | cv_be32(raw + 4));
    int64_t age;
    if (__builtin_sub_overflow(now_us, issued, &age))
        /* Only possible for timestamps at the ends of the range. */
        return issued > now_us ? -EBADMSG : -ESTALE;
    if (age < -NONCE_FUTURE_US)
        return -EBADMSG;
    return age < max_age_us ? 0 : -ESTALE;
}

bool cv_auth_digest_ok(const cv_auth_credentials *c, const char *method, const char *password, size_t pwlen)
{
    char ha1[EVP_MAX_MD_SIZE * 2 + 1], ha2[sizeof(ha1)], want[sizeof(ha1)], got[sizeof(ha1)];
    bool sha256;
    if (!c->digest || !method || (!password && pwlen))
        return false;
    if (c->algorithm.len == 0 || cv_str_ieq_c(c->algorithm, "MD5"))
        sha256 = false;
    else if (cv_str_ieq_c(c->algorithm, "SHA-256"))
        sha256 = true;
    else
        return false; /* -sess, SHA-512-256, unknown */
    size_t hexlen = sha256 ? 64 : 32;
    if (c->response.len != hexlen)
        return false;
    bool qop = c->qop.len > 0;
    if (qop && (!cv_str_ieq_c(c->qop, "auth") || c->nc.len == 0 || c->cnonce.len == 0))
        return false;

    bool ok = false;
    cv_str a1[] = {c->username, c->realm, {password, pwlen}};
    cv_str a2[] = {cv_str_from(method), c->uri};
    if (hash_parts(sha256, a1, CV_ARRAY_LEN(a1), ha1, sizeof(ha1)) < 0 ||
        hash_parts(sha256, a2, CV_ARRAY_LEN(a2), ha2, sizeof(ha2)) < 0)
        goto out;
    int res;
    if (qop) {
        cv_str r[] = {cv_str_from(ha1), c->nonce, c->nc, c->cnonce, c->qop, cv_str_from(ha2)};
        res = hash_parts(sha256, r, CV_ARRAY_LEN(r), want, sizeof(want));
    } else {
        cv_str r[] = {cv_str_from(ha1), c->nonce, cv_str_from(ha2)};
        res = hash_parts(sha256, r, CV_ARRAY_LEN(r), want, sizeof(want));
    }
    if (res < 0)
        goto out;
    /* The response is public; accept upper-case hex too. */
    for (size_t i = 0; i < hexlen; i++) {
        char ch = c->response.p[i];
        got[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    ok = sodium_memcmp(want, got, hexlen) == 0;
out:
    sodium_memzero(ha1, sizeof(ha1));
    sodium_memzero(want, sizeof(want));
    return ok;
}

int cv_auth_make_challenge(cv_sbuf *out, const char *realm, const char *nonce, bool stale)
{
    if (!realm || !nonce || has_ctl(realm) || has_ctl(nonce))
        return -EINVAL;
    cv_sbuf_puts(out, "Digest realm=");
    put_quoted(out, realm);
    cv_sbuf_puts(out, ", nonce=");
    put_quoted(out, nonce);
    cv_sbuf_puts(out, ", algorithm=MD5, qop=\"auth\"");
    if (stale)
        cv_sbuf_puts(out, ", stale=TRUE");
    return cv_sbuf_ok(out) ? 0 : -ENOMEM;
}
