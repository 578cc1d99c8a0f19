/* Capability tokens: a short-lived, MACed statement "principal P may do
 * scope S on camera C until T", verifiable with the server key alone (no
 * database read). Revocation: each token carries a random id; the server
 * keeps the hashes of revoked ids in memory (store/secrets.h).
 *
 * Wire form: "cvt1." + base64url(payload | HMAC-SHA512-256 tag), payload =
 * version(1) kind(1) scopes(1) reserved(1) expires_us(8, big endian)
 * id(16) camera(16) principal(16). */
#ifndef CV_AUTH_TOKEN_H
#define CV_AUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "auth/key.h"
#include "base/id.h"

#define CV_TOKEN_MAX 160 /* longest encoded token + NUL */
#define CV_TOKEN_TTL_MAX_US (24LL * 3600 * 1000000)

typedef enum {
    CV_PRINCIPAL_USER = 1,
    CV_PRINCIPAL_INTEGRATION = 2, /* a linked smart display or assistant */
} cv_principal_kind;

typedef struct {
    cv_id id;        /* random; stored only as cv_token_hash */
    cv_id camera;
    cv_id principal;
    uint8_t kind;    /* cv_principal_kind */
    uint8_t scopes;  /* CV_SCOPE_* (store/people.h) */
    int64_t expires_us;
} cv_token;

/* Writes the token string + NUL (128 characters). Returns its length,
 * -ENOSPC, or -EINVAL for a kind or scopes that decode would refuse. Any
 * expires_us is encoded; encoding is deterministic. */
int cv_token_encode(const cv_key *k, const cv_token *t, char *out, size_t cap);
/* Parses exactly len bytes and checks the tag in constant time. Does not look
 * at expiry or revocation. Returns 0, -EBADMSG (malformed: wrong prefix,
 * length, base64, version, kind or scopes) or -EACCES (tag mismatch: forged,
 * tampered or another server's key). Only the canonical text is accepted,
 * so a token that decodes re-encodes to the same bytes. The tag is checked
 * before the fields it covers: version, kind, scopes (1..CV_SCOPE_ALL) and
 * the reserved byte (0) give -EBADMSG only under a valid tag. */
int cv_token_decode(const cv_key *k, const char *s, size_t len, cv_token *out);
/* The hash the store and the revocation set know a token by: cv_hash32 of
 * the id alone. */
void cv_token_hash(const cv_token *t, uint8_t out[32]);

#endif
