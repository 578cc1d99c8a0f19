#include "auth/token.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "store/people.h"

#define PREFIX "cvt1."
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define VERSION 1
#define PAYLOAD_LEN (4 + 8 + 3 * CV_ID_BYTES)
#define TAG_LEN crypto_auth_hmacsha512256_BYTES
#define BIN_LEN (PAYLOAD_LEN + TAG_LEN)
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING
/* sodium_base64_ENCODED_LEN counts the NUL. */
#define B64_LEN (sodium_base64_ENCODED_LEN(BIN_LEN, B64_VARIANT) - 1)
#define TOKEN_LEN (PREFIX_LEN + B64_LEN)

_Static_assert(PAYLOAD_LEN == 60, "token payload layout");
_Static_assert(TOKEN_LEN + 1 <= CV_TOKEN_MAX, "CV_TOKEN_MAX too small");
_Static_assert(CV_SUBKEY_BYTES == crypto_auth_hmacsha512256_KEYBYTES, "token key size");

/* libsodium 1.0.18's decoder maps some bytes >= 0x80 onto valid base64
 * digits, so the alphabet is checked here first: one token, one spelling. */
static bool b64url_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Encode and decode accept exactly the same set of tokens, so that every
 * token that decodes re-encodes to the same bytes (the fuzzer checks it). */
static bool fields_ok(uint8_t kind, uint8_t scopes)
{
    if (kind != CV_PRINCIPAL_USER && kind != CV_PRINCIPAL_INTEGRATION)
        return false;
    return scopes != 0 && (scopes & ~CV_SCOPE_ALL) == 0;
}

int cv_token_encode(const cv_key *k, const cv_token *t, char *out, size_t cap)
{
    if (!fields_ok(t->kind, t->scopes))
        return -EINVAL;
    if (cap < TOKEN_LEN + 1)
        return -ENOSPC;
    uint8_t bin[BIN_LEN];
    uint8_t *p = bin;
    *p++ = VERSION;
    *p++ = t->kind;
    *p++ = t->scopes;
    *p++ = 0; /* reserved */
    uint64_t e = (uint64_t)t->expires_us;
    for (int i = 7; i >= 0; i--)
        *p++ = (uint8_t)(e >> (8 * i));
    memcpy(p, t->id.b, CV_ID_BYTES);
    p += CV_ID_BYTES;
    memcpy(p, t->camera.b, CV_ID_BYTES);
    p += CV_ID_BYTES;
    memcpy(p, t->principal.b, CV_ID_BYTES);
    p += CV_ID_BYTES;
    crypto_auth_hmacsha512256(p, bin, PAYLOAD_LEN, cv_key_sub(k, CV_KEY_TOKEN));
    memcpy(out, PREFIX, PREFIX_LEN);
    sodium_bin2base64(out + PREFIX_LEN, cap - PREFIX_LEN, bin, BIN_LEN, B64_VARIANT);
    return (int)TOKEN_LEN;
}

int cv_token_decode(const cv_key *k, const char *s, size_t len, cv_token *out)
{
    if (len != TOKEN_LEN || memcmp(s, PREFIX, PREFIX_LEN) != 0 || !b64url_ok(s + PREFIX_LEN, B64_LEN))
        return -EBADMSG;
    uint8_t bin[BIN_LEN];
    size_t bin_len = 0;
    const char *end = NULL;
    /* libsodium's decoder refuses non-zero trailing bits, so only the
     * canonical text of each byte string is accepted. */
    if (sodium_base642bin(bin, sizeof(bin), s + PREFIX_LEN, B64_LEN, NULL, &bin_len, &end, B64_VARIANT) != 0 ||
        bin_len != BIN_LEN || end != s + len)
        return -EBADMSG;
    /* Constant time (crypto_verify_32). The tag is checked before the fields
     * it covers are interpreted. */
    if (crypto_auth_hmacsha512256_verify(bin + PAYLOAD_LEN, bin, PAYLOAD_LEN, cv_key_sub(k, CV_KEY_TOKEN)) != 0)
        return -EACCES;
    const uint8_t *p = bin;
    uint8_t version = *p++, kind = *p++, scopes = *p++, reserved = *p++;
    if (version != VERSION || reserved != 0 || !fields_ok(kind, scopes))
        return -EBADMSG;
    uint64_t e = 0;
    for (int i = 0; i < 8; i++)
        e = e << 8 | *p++;
    memset(out, 0, sizeof(*out));
    out->kind = kind;
    out->scopes = scopes;
    out->expires_us = (int64_t)e;
    memcpy(out->id.b, p, CV_ID_BYTES);
    p += CV_ID_BYTES;
    memcpy(out->camera.b, p, CV_ID_BYTES);
    p += CV_ID_BYTES;
    memcpy(out->principal.b, p, CV_ID_BYTES);
    return 0;
}

void cv_token_hash(const cv_token *t, uint8_t out[32])
{
    cv_hash32(t->id.b, CV_ID_BYTES, out);
}
