/* Fuzzes the OAuth 2.0 parameter parsers (src/oauth/form.c). The first
 * byte picks the knobs (Basic auth caps, the encoder's buffer size, the
 * separator and the parameter name); every function then runs on the rest:
 * cv_form_parse with the token/revoke/authorize names, cv_form_basic_auth,
 * cv_form_ctype and cv_form_append. Oracles: a parse either succeeds with
 * every value free of control characters, NUL-free and shorter than
 * CV_FORM_VALUE_MAX, or fails with every value NULL and a printable error;
 * values re-encoded by cv_form_append parse back to themselves; Basic
 * credentials re-encoded decode back to themselves; -ENOSPC leaves the
 * output untouched. */
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oauth/form.h"

#include "fuzz-check.h"

static const char *const names[] = {"grant_type",    "code",          "redirect_uri", "code_verifier",
                                    "refresh_token", "client_id",     "client_secret", "token",
                                    "token_type_hint", "state",       "code_challenge", "code_challenge_method"};

static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return true;
    return false;
}

static bool encoded_only(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_' || c == '~' || c == '%' || c == '=' || c == '&'))
            return false;
    }
    return true;
}

/* A good value: present, NUL-free, within the cap, no control character. */
static void check_value(const cv_form_field *f)
{
    CHECK(f->len > 0 && f->len < CV_FORM_VALUE_MAX);
    CHECK(strlen(f->value) == f->len);
    CHECK(!has_control(f->value, f->len));
}

static void fuzz_parse(const char *p, size_t n)
{
    cv_form form;
    char err[96];
    cv_form_init(&form, names, CV_ARRAY_LEN(names));
    CHECK(form.n == CV_ARRAY_LEN(names));
    int r = cv_form_parse(&form, p, n, err, sizeof(err));
    CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
    if (r < 0) {
        for (size_t i = 0; i < form.n; i++)
            CHECK(form.f[i].value == NULL && form.f[i].len == 0);
        CHECK(err[0] != '\0' && ascii_printable(err));
        return;
    }
    CHECK(err[0] == '\0');

    /* Re-encode every present value, parse that, and get the same back. */
    size_t cap = 1;
    for (size_t i = 0; i < form.n; i++) {
        if (!form.f[i].value)
            continue;
        check_value(&form.f[i]);
        size_t glen = 99;
        CHECK(cv_form_get(&form, form.f[i].name, &glen) == form.f[i].value && glen == form.f[i].len);
        cap += strlen(form.f[i].name) + 3 * form.f[i].len + 2;
    }
    char *enc = malloc(cap);
    if (!enc) {
        cv_form_clear(&form);
        return;
    }
    enc[0] = '\0';
    for (size_t i = 0; i < form.n; i++)
        if (form.f[i].value)
            CHECK(cv_form_append(enc, cap, '&', form.f[i].name, form.f[i].value) == 0);
    CHECK(encoded_only(enc));

    cv_form again;
    cv_form_init(&again, names, CV_ARRAY_LEN(names));
    size_t elen = strlen(enc);
    char *exact = malloc(elen ? elen : 1); /* no NUL after it */
    if (exact) {
        memcpy(exact, enc, elen);
        r = cv_form_parse(&again, exact, elen, NULL, 0);
        CHECK(r == 0 || r == -ENOMEM);
        if (r == 0)
            for (size_t i = 0; i < form.n; i++) {
                const cv_form_field *a = &form.f[i], *b = &again.f[i];
                CHECK((a->value == NULL) == (b->value == NULL));
                if (a->value)
                    CHECK(a->len == b->len && memcmp(a->value, b->value, a->len) == 0);
            }
        cv_form_clear(&again);
        free(exact);
    }
    free(enc);
    cv_form_clear(&form);
    for (size_t i = 0; i < form.n; i++)
        CHECK(form.f[i].value == NULL);
}

static void fuzz_basic(uint8_t knobs, const char *p, size_t n)
{
    static const size_t caps[] = {1, 8, 64, 600};
    size_t idcap = caps[knobs & 3], seccap = caps[(knobs >> 2) & 3];
    char id[600], sec[600];
    memset(id, 'X', sizeof(id));
    memset(sec, 'X', sizeof(sec));
    int r = cv_form_basic_auth((cv_str){p, n}, id, idcap, sec, seccap);
    CHECK(r == 0 || r == -ENOENT || r == -EINVAL || r == -ENOMEM);
    if (r == -ENOENT)
        return;
    if (r < 0) {
        CHECK(id[0] == '\0' && sec[0] == '\0');
        return;
    }
    size_t il = strnlen(id, idcap), sl = strnlen(sec, seccap);
    CHECK(il > 0 && il < idcap && sl < seccap);
    CHECK(!has_control(id, il) && !has_control(sec, sl));

    /* "Basic " + base64(urlencode(id) ":" urlencode(secret)) gives them back. */
    char eid[3 * 600 + 2] = "", esec[3 * 600 + 2] = "", creds[2 * (3 * 600 + 2)];
    CHECK(cv_form_append(eid, sizeof(eid), 0, "", id) == 0 && eid[0] == '=');
    CHECK(cv_form_append(esec, sizeof(esec), 0, "", sec) == 0 && esec[0] == '=');
    size_t blen = (size_t)snprintf(creds, sizeof(creds), "%s:%s", eid + 1, esec + 1);
    CHECK(blen < sizeof(creds));
    char hdr[6 + sodium_base64_ENCODED_LEN(sizeof(creds), sodium_base64_VARIANT_ORIGINAL)];
    memcpy(hdr, "Basic ", 6);
    sodium_bin2base64(hdr + 6, sizeof(hdr) - 6, (const unsigned char *)creds, blen, sodium_base64_VARIANT_ORIGINAL);
    char id2[600], sec2[600];
    r = cv_form_basic_auth(cv_str_from(hdr), id2, idcap, sec2, seccap);
    CHECK(r == 0 || r == -ENOMEM);
    if (r == 0)
        CHECK(strcmp(id, id2) == 0 && strcmp(sec, sec2) == 0);
}

static void fuzz_ctype(const char *p, size_t n)
{
    static const char want[] = "application/x-www-form-urlencoded";
    if (!cv_form_ctype((cv_str){p, n}))
        return;
    cv_str t = cv_str_trim((cv_str){p, n});
    CHECK(t.len >= sizeof(want) - 1 && cv_str_ieq_c((cv_str){t.p, sizeof(want) - 1}, want));
}

static void fuzz_append(uint8_t knobs, const char *p, size_t n)
{
    /* The value: the payload up to its first NUL. */
    size_t vl = strnlen(p, n);
    char *value = malloc(vl + 1);
    if (!value)
        return;
    memcpy(value, p, vl);
    value[vl] = '\0';
    const char *name = names[knobs % CV_ARRAY_LEN(names)];
    static const size_t caps[] = {1, 16, 64, 3 * CV_FORM_VALUE_MAX + 64};
    size_t cap = caps[(knobs >> 4) & 3];
    char sep = (knobs & 0x40) ? '&' : '?';
    char *out = malloc(cap);
    char *before = malloc(cap);
    if (!out || !before)
        goto done;
    /* Start from empty or from a prefix that must stay as it is. */
    if ((knobs & 0x80) && cap > 3)
        memcpy(out, "x=1", 4);
    else
        out[0] = '\0';
    size_t start = strlen(out);
    memcpy(before, out, cap);
    int r = cv_form_append(out, cap, sep, name, value);
    CHECK(r == 0 || r == -ENOSPC);
    if (r < 0) {
        CHECK(memcmp(out, before, cap) == 0);
        goto done;
    }
    CHECK(memcmp(out, before, start) == 0);
    CHECK(strlen(out) < cap && encoded_only(out + start + (start ? 1 : 0)));
    if (start)
        CHECK(out[start] == sep);

    /* What was appended parses back to the value (or fails as the value would). */
    const char *pair = out + start + (start ? 1 : 0);
    cv_form form;
    cv_form_init(&form, &name, 1);
    int pr = cv_form_parse(&form, pair, strlen(pair), NULL, 0);
    bool ok = vl < CV_FORM_VALUE_MAX && !has_control(value, vl);
    if (pr == -ENOMEM)
        goto done_form;
    CHECK(ok ? pr == 0 : pr == -EINVAL);
    if (pr == 0) {
        size_t gl;
        const char *g = cv_form_get(&form, name, &gl);
        if (vl == 0)
            CHECK(g == NULL);
        else
            CHECK(g && gl == vl && memcmp(g, value, vl) == 0);
    }
done_form:
    cv_form_clear(&form);
done:
    free(before);
    free(out);
    free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t knobs = data[0];
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    fuzz_parse(p, n);
    fuzz_basic(knobs, p, n);
    fuzz_ctype(p, n);
    fuzz_append(knobs, p, n);
    return 0;
}
