/* OAuth 2.0 request parameters (RFC 6749): form bodies and query strings,
 * HTTP Basic client authentication and the form Content-Type, plus the
 * encoder used to build redirect URLs. Pure functions over explicit
 * lengths: no I/O, no globals, nothing read past len. Decoded values may be
 * secrets (codes, verifiers, client secrets, refresh tokens), so every
 * buffer that held one is wiped before it is freed. */
#include "oauth/form.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes the character at in.p[*i] ('+' is a space, %XX an escape),
 * advancing *i; -1 for a bad or truncated escape or %00. */
static int decode_one(cv_str in, size_t *i)
{
    char ch = in.p[(*i)++];
    if (ch == '+')
        return ' ';
    if (ch != '%')
        return (unsigned char)ch;
    if (in.len - *i < 2)
        return -1;
    int hi = hexval(in.p[*i]), lo = hexval(in.p[*i + 1]);
    *i += 2;
    if (hi < 0 || lo < 0 || (hi | lo) == 0)
        return -1;
    return hi << 4 | lo;
}

static bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

/* Decodes all of in into out (room for cap bytes including the NUL).
 * Returns the decoded length, -EBADMSG for a bad escape or a control
 * character, -E2BIG when it does not fit. out is NUL-terminated on success
 * and holds at most cap bytes of decoded data either way (the caller wipes
 * it). */
static long decode(cv_str in, char *out, size_t cap)
{
    size_t n = 0, i = 0;
    while (i < in.len) {
        int ch = decode_one(in, &i);
        if (ch < 0 || is_control((unsigned char)ch))
            return -EBADMSG;
        if (n + 1 >= cap)
            return -E2BIG;
        out[n++] = (char)ch;
    }
    if (cap == 0)
        return -E2BIG;
    out[n] = '\0';
    return (long)n;
}

/* Whether every escape in the encoded name is well-formed. */
static bool name_valid(cv_str enc)
{
    size_t i = 0;
    while (i < enc.len)
        if (decode_one(enc, &i) < 0)
            return false;
    return true;
}

/* Whether the encoded name decodes to exactly want (escapes already valid). */
static bool name_is(cv_str enc, const char *want)
{
    size_t i = 0, k = 0;
    while (i < enc.len) {
        int ch = decode_one(enc, &i);
        if (ch <= 0 || want[k] == '\0' || (char)ch != want[k])
            return false;
        k++;
    }
    return want[k] == '\0';
}

/* Writes "<what>: <name>" into err as printable ASCII (anything else in the
 * name becomes '?'); the value is never mentioned. */
static void set_err(char *err, size_t errcap, const char *what, const char *name)
{
    if (!err || errcap == 0)
        return;
    if (name)
        snprintf(err, errcap, "%s: %s", what, name);
    else
        snprintf(err, errcap, "%s", what);
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
}

void cv_form_init(cv_form *form, const char *const *names, size_t n)
{
    memset(form, 0, sizeof(*form));
    form->n = CV_MIN(n, (size_t)CV_FORM_FIELDS_MAX);
    for (size_t i = 0; i < form->n; i++)
        form->f[i].name = names[i];
}

void cv_form_clear(cv_form *form)
{
    for (size_t i = 0; i < form->n; i++) {
        cv_form_field *f = &form->f[i];
        if (f->value) {
            sodium_memzero(f->value, f->len + 1);
            free(f->value);
        }
        f->value = NULL;
        f->len = 0;
    }
}

int cv_form_parse(cv_form *form, const char *body, size_t len, char *err, size_t errcap)
{
    bool seen[CV_FORM_FIELDS_MAX] = {false};
    int rc = 0;

    cv_form_clear(form); /* a form parsed twice without clear() does not leak */
    if (err && errcap)
        err[0] = '\0';
    if (!body)
        len = 0;

    size_t pos = 0;
    while (pos < len) {
        const char *start = body + pos;
        const char *amp = memchr(start, '&', len - pos);
        size_t plen = amp ? (size_t)(amp - start) : len - pos;
        pos += plen + (amp ? 1 : 0);
        if (plen == 0)
            continue; /* "a=1&&b=2" */

        const char *eq = memchr(start, '=', plen);
        cv_str name = {start, eq ? (size_t)(eq - start) : plen};
        cv_str val = eq ? (cv_str){eq + 1, plen - name.len - 1} : (cv_str){start + plen, 0};
        if (!name_valid(name)) {
            set_err(err, errcap, "malformed parameter name", NULL);
            rc = -EINVAL;
            goto fail;
        }
        size_t k;
        for (k = 0; k < form->n; k++)
            if (form->f[k].name && name_is(name, form->f[k].name))
                break;
        if (k == form->n)
            continue; /* unknown parameters are ignored (RFC 6749 §3.1) */

        cv_form_field *f = &form->f[k];
        if (seen[k]) {
            set_err(err, errcap, "parameter given more than once", f->name);
            rc = -EINVAL;
            goto fail;
        }
        seen[k] = true;
        if (val.len == 0)
            continue; /* empty counts as absent */

        /* A decoded value is never longer than its encoding. */
        size_t cap = CV_MIN(val.len + 1, (size_t)CV_FORM_VALUE_MAX);
        char *buf = malloc(cap);
        if (!buf) {
            set_err(err, errcap, "out of memory", NULL);
            rc = -ENOMEM;
            goto fail;
        }
        long n = decode(val, buf, cap);
        if (n < 0) {
            sodium_memzero(buf, cap);
            free(buf);
            set_err(err, errcap, n == -E2BIG ? "parameter too long" : "malformed parameter", f->name);
            rc = -EINVAL;
            goto fail;
        }
        if (n == 0) { /* cannot happen: a non-empty encoding decodes to a byte at least */
            sodium_memzero(buf, cap);
            free(buf);
            continue;
        }
        f->value = buf;
        f->len = (size_t)n;
    }
    return 0;

fail:
    cv_form_clear(form);
    return rc;
}

const char *cv_form_get(const cv_form *form, const char *name, size_t *len)
{
    if (len)
        *len = 0;
    if (!name)
        return NULL;
    for (size_t i = 0; i < form->n; i++) {
        const cv_form_field *f = &form->f[i];
        if (f->name && strcmp(f->name, name) == 0) {
            if (len && f->value)
                *len = f->len;
            return f->value;
        }
    }
    return NULL;
}

int cv_form_basic_auth(cv_str header, char *id, size_t idcap, char *secret, size_t secretcap)
{
    if (!header.p)
        return -ENOENT;
    cv_str h = cv_str_trim(header);
    static const char scheme[] = "Basic";
    const size_t slen = sizeof(scheme) - 1;
    if (h.len < slen || !cv_str_ieq_c((cv_str){h.p, slen}, scheme))
        return -ENOENT;
    if (h.len > slen && h.p[slen] != ' ')
        return -ENOENT; /* "Basicx": another scheme */
    if (!id || !secret || idcap == 0 || secretcap == 0)
        return -EINVAL;
    id[0] = '\0';
    secret[0] = '\0';

    cv_str b64 = {h.p + slen, h.len - slen};
    while (b64.len && b64.p[0] == ' ') {
        b64.p++;
        b64.len--;
    }
    if (b64.len == 0)
        return -EINVAL;
    /* The credentials take at most 3 * room + 1 bytes once base64-decoded
     * ("%XX" per byte, and the ':'), and every full 4-character base64
     * quantum but the last decodes to 3 bytes: refuse before decoding what
     * could never fit the caps. */
    if (idcap < SIZE_MAX / 8 && secretcap < SIZE_MAX / 8) {
        size_t room = idcap - 1 + secretcap - 1;
        if (b64.len / 4 > room + 2)
            return -EINVAL;
    }

    size_t bincap = b64.len / 4 * 3 + 3;
    unsigned char *bin = malloc(bincap);
    if (!bin)
        return -ENOMEM;
    size_t binlen = 0;
    int rc = -EINVAL;
    if (sodium_base642bin(bin, bincap, b64.p, b64.len, NULL, &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        goto out;
    const unsigned char *colon = memchr(bin, ':', binlen);
    if (!colon)
        goto out;
    cv_str encid = {(const char *)bin, (size_t)(colon - bin)};
    cv_str encsec = {(const char *)colon + 1, binlen - encid.len - 1};
    if (encid.len == 0)
        goto out; /* a client id is required */
    if (decode(encid, id, idcap) < 0 || decode(encsec, secret, secretcap) < 0)
        goto out;
    rc = 0;
out:
    sodium_memzero(bin, bincap);
    free(bin);
    if (rc < 0) {
        sodium_memzero(id, idcap);
        sodium_memzero(secret, secretcap);
    }
    return rc;
}

bool cv_form_ctype(cv_str ct)
{
    static const char want[] = "application/x-www-form-urlencoded";
    const size_t wlen = sizeof(want) - 1;
    if (!ct.p)
        return false;
    ct = cv_str_trim(ct);
    if (ct.len < wlen || !cv_str_ieq_c((cv_str){ct.p, wlen}, want))
        return false;
    size_t i = wlen;
    while (i < ct.len && (ct.p[i] == ' ' || ct.p[i] == '\t'))
        i++;
    return i == ct.len || ct.p[i] == ';';
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

static size_t enc_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += unreserved((unsigned char)*s) ? 1 : 3;
    return n;
}

static char *enc_put(char *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (unreserved(c)) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    return o;
}

int cv_form_append(char *out, size_t cap, char sep, const char *name, const char *value)
{
    if (!out || !name || !value)
        return -EINVAL;
    size_t cur = strnlen(out, cap);
    if (cur >= cap)
        return cap ? -EINVAL : -ENOSPC; /* out is not NUL-terminated within cap */
    bool use_sep = cur > 0 && sep != '\0';
    size_t nl = enc_len(name), vl = enc_len(value);
    /* Each term is at most 3 * strlen, which fits in size_t; the sum might not. */
    size_t need = (size_t)use_sep;
    if (nl > SIZE_MAX - need - 2 || vl > SIZE_MAX - need - 2 - nl)
        return -ENOSPC;
    need += nl + 1 + vl + 1; /* '=' and NUL */
    if (need > cap - cur)
        return -ENOSPC;
    char *o = out + cur;
    if (use_sep)
        *o++ = sep;
    o = enc_put(o, name);
    *o++ = '=';
    o = enc_put(o, value);
    *o = '\0';
    return 0;
}
