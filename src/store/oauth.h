/* Account linking for partner platforms (smart displays, assistants) with
 * OAuth 2.0 authorization codes + PKCE (RFC 6749, RFC 7636): integrations
 * (the OAuth clients), the links between a user and an integration,
 * single-use authorization codes, access and rotating refresh tokens, and
 * the operator's kill switch (an integration disabled as a whole or only for
 * some camera models).
 *
 * Client secrets, codes and tokens are 256-bit random strings returned once
 * to the caller; the store keeps only their keyed hash (BLAKE2b-256 keyed
 * with hkey, a CV_OAUTH_HKEY_BYTES key the caller derives from the server
 * key, see cv_oauth_hkey()), so a copy of the database without the key file
 * can neither use nor test them. Every time is the caller's now_us (wall
 * clock, microseconds). Same threading rules as store.h. */
#ifndef CV_STORE_OAUTH_H
#define CV_STORE_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/id.h"
#include "store/store.h"

#define CV_OAUTH_HKEY_BYTES 32
#define CV_OAUTH_NAME_MAX 63       /* integration name: [A-Za-z0-9._-] */
#define CV_OAUTH_CLIENT_ID_MAX 40  /* "cvc_" + base64url(16 bytes) + NUL fits */
#define CV_OAUTH_URI_MAX 511       /* one redirect URI */
#define CV_OAUTH_REDIRECTS_MAX 8   /* redirect URIs per integration */
#define CV_OAUTH_MODELS_MAX 16     /* disabled camera models per integration */
#define CV_OAUTH_MODEL_MAX 63      /* as cv_camera_rec.model */
#define CV_OAUTH_SCOPE_MAX 64      /* cameras in one consent */
#define CV_OAUTH_SECRET_MAX 64     /* a secret, code or token + NUL */

#define CV_OAUTH_CODE_TTL_US (60LL * 1000000)                 /* RFC 6749 §4.1.2: short */
#define CV_OAUTH_ACCESS_TTL_US (3600LL * 1000000)
#define CV_OAUTH_REFRESH_TTL_US (90LL * 24 * 3600 * 1000000)

/* Who did it, for the audit log ("cli", "" , "cli"; "user:alice", addr, "http"). */
typedef struct {
    const char *principal;
    const char *address;
    const char *protocol;
} cv_store_actor;

typedef struct {
    cv_id id;
    char name[CV_OAUTH_NAME_MAX + 1];
    char client_id[CV_OAUTH_CLIENT_ID_MAX];
    char redirect_uris[CV_OAUTH_REDIRECTS_MAX][CV_OAUTH_URI_MAX + 1]; /* exact-match list */
    size_t nredirect;
    bool disabled;                                                    /* the whole integration */
    char disabled_models[CV_OAUTH_MODELS_MAX][CV_OAUTH_MODEL_MAX + 1]; /* sorted */
    size_t nmodels;
    int64_t created_us;
} cv_integration_rec;

typedef struct {
    cv_id id;
    cv_id user;
    cv_id integration;
    int64_t created_us;
} cv_oauth_link_rec;

/* What an access token (or a code) stands for. */
typedef struct {
    cv_id user;
    cv_id integration;
    cv_id link;
    cv_id chain;                      /* every token descended from one code */
    cv_id scope[CV_OAUTH_SCOPE_MAX];  /* the cameras consented to */
    size_t nscope;
    int64_t expires_us;
} cv_oauth_grant;

/* A freshly issued pair, plaintext: hand it to the client and forget it. */
typedef struct {
    char access[CV_OAUTH_SECRET_MAX];
    char refresh[CV_OAUTH_SECRET_MAX];
    int64_t access_expires_us;
    int64_t refresh_expires_us;
    cv_id chain;
} cv_oauth_pair;

/* The hashing key for this module, derived from a 32-byte server subkey
 * (cv_key_sub(k, CV_KEY_TOKEN)) under a context of its own. */
void cv_oauth_hkey(const uint8_t subkey[32], uint8_t out[CV_OAUTH_HKEY_BYTES]);

/* Redirect URIs accepted: absolute https://HOST..., or http://127.0.0.1 and
 * http://localhost (optionally :PORT) for local tests; printable ASCII
 * without spaces or a fragment, at most CV_OAUTH_URI_MAX bytes. */
bool cv_oauth_redirect_uri_valid(const char *uri);
/* RFC 7636 §4.1: 43..128 characters of [A-Za-z0-9-._~]. */
bool cv_oauth_verifier_valid(const char *verifier, size_t len);
/* RFC 7636 §4.6, S256 only: BASE64URL(SHA256(verifier)) == challenge, compared
 * in constant time. false for an invalid verifier. */
bool cv_oauth_pkce_s256_ok(const char *verifier, size_t len, const char *challenge);

/* ----------------------------------------------------------- integrations */

/* Adds an integration named name ([A-Za-z0-9._-], 1..63 bytes, unique among
 * live ones) with 1..CV_OAUTH_REDIRECTS_MAX valid redirect URIs. Writes its
 * public client id to client_id (cap >= CV_OAUTH_CLIENT_ID_MAX) and its
 * secret to secret (cap >= CV_OAUTH_SECRET_MAX): shown once, stored only as
 * a hash. Audited ("integration.add"). Returns 0, -EINVAL, -EEXIST (name
 * taken), -ENOSPC or -EIO. */
int cv_store_integration_add(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *name,
                             const char *const *redirect_uris, size_t nredirect, int64_t now_us,
                             const cv_store_actor *by, cv_id *out_id, char *client_id, size_t client_cap,
                             char *secret, size_t secret_cap) __attribute__((warn_unused_result));
/* Live integrations by name. *out malloc'ed (NULL when *n is 0). */
int cv_store_integration_list(cv_store *s, cv_integration_rec **out, size_t *n);
/* Returns 0, -ENOENT (unknown or removed) or -EIO. */
int cv_store_integration_get(cv_store *s, const cv_id *id, cv_integration_rec *out);
int cv_store_integration_find_name(cv_store *s, const char *name, cv_integration_rec *out);
int cv_store_integration_find_client(cv_store *s, const char *client_id, cv_integration_rec *out);
/* Client authentication: 0 with *out filled when client_id names a live
 * integration whose secret is secret (hashes compared in constant time; an
 * unknown client costs the same hash), -EACCES otherwise, or -EIO. A
 * disabled integration still authenticates: callers check out->disabled. */
int cv_store_integration_verify(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *client_id,
                                const char *secret, cv_integration_rec *out);
/* Tombstones it (the id and client id stay reserved, the secret hash is
 * erased), revokes its links and deletes its codes and tokens. Audited
 * ("integration.remove"). Returns 0, -ENOENT or -EIO. */
int cv_store_integration_remove(cv_store *s, const cv_id *id, int64_t now_us, const cv_store_actor *by);
/* The kill switch. model NULL: disables (or enables) the whole integration;
 * enabling it as a whole also clears every model-scoped disable. model set:
 * adds it to (removes it from) the disabled camera models (1..63 bytes of
 * printable text, at most CV_OAUTH_MODELS_MAX). Idempotent, and audited
 * every time ("integration.disable" / "integration.enable"). Returns 0,
 * -EINVAL, -ENOENT, -ENOSPC (too many models) or -EIO. */
int cv_store_integration_set_disabled(cv_store *s, const cv_id *id, bool disabled, const char *model,
                                      int64_t now_us, const cv_store_actor *by);

/* ------------------------------------------------------------------ links */

/* Links user to integration (both live). Returns 0 with the new link's id
 * (audited, "link.add"), 1 with the live link's id when they were already
 * linked (nothing written), -ENOENT or -EIO. */
int cv_store_oauth_link_add(cv_store *s, const cv_id *user, const cv_id *integration, int64_t now_us,
                            const cv_store_actor *by, cv_id *out_id);
/* The user's live links, oldest first. *out malloc'ed (NULL when *n is 0). */
int cv_store_oauth_link_list(cv_store *s, const cv_id *user, cv_oauth_link_rec **out, size_t *n);
/* Unlinks: the link is tombstoned, its unused codes are spent and its tokens
 * revoked. Audited ("link.revoke"). Returns 0, -ENOENT or -EIO. */
int cv_store_oauth_link_revoke(cv_store *s, const cv_id *link, int64_t now_us, const cv_store_actor *by);

/* One link by id: 0 (live or not: out->revoked_us tells), -ENOENT or -EIO. */
int cv_store_oauth_link_get(cv_store *s, const cv_id *link, cv_oauth_link_rec *out, int64_t *revoked_us);
/* May a stream minted for link still play a camera of model camera_model
 * (NULL or "": none)? 0 with *user and *integration filled when the link is
 * live, its user live and enabled, and its integration live; -EACCES when
 * all that holds but the kill switch is on (the integration disabled as a
 * whole, or camera_model among its disabled models); -ENOENT otherwise;
 * -EIO. The caller still checks the user's access to the camera. */
int cv_store_oauth_link_check(cv_store *s, const cv_id *link, const char *camera_model, cv_id *user,
                              cv_id *integration);

/* ------------------------------------------------------- codes and tokens */

/* Issues a code for the live link of user and integration, valid
 * CV_OAUTH_CODE_TTL_US, bound to redirect_uri (one of the integration's),
 * the S256 challenge (43 base64url characters) and the cameras consented to
 * (1..CV_OAUTH_SCOPE_MAX). Writes the code to code (cap >=
 * CV_OAUTH_SECRET_MAX). Returns 0, -EINVAL, -ENOENT (no live link, or the
 * integration is disabled), -ENOSPC or -EIO. */
int cv_store_oauth_code_issue(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const cv_id *user,
                              const cv_id *integration, const char *redirect_uri, const char *challenge,
                              const cv_id *scope, size_t nscope, int64_t now_us, char *code, size_t cap);
/* Exchanges a code (RFC 6749 §4.1.3) presented by the authenticated client
 * integration with the same redirect_uri and the PKCE verifier, spending it
 * and issuing a first pair in a new chain (*grant and *pair filled).
 * Returns 0; -ENOENT (unknown code, or link gone); -ETIMEDOUT (expired);
 * -EACCES (another client, other redirect_uri, PKCE mismatch, integration
 * disabled); -EINVAL (malformed verifier); -EALREADY when the code was
 * already used: every token issued from it is then revoked, and that
 * revocation is committed even though the call fails (call it outside
 * cv_store_txn, or commit that transaction anyway); -EIO. */
int cv_store_oauth_code_redeem(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *code,
                               const cv_id *integration, const char *redirect_uri, const char *verifier,
                               int64_t now_us, cv_oauth_grant *grant, cv_oauth_pair *pair);
/* Issues an access + refresh pair for grant (user, integration, link,
 * scope): in grant->chain, or in a new chain when it is zero (written back
 * to pair->chain). The link must be live. Returns 0, -EINVAL, -ENOENT or -EIO. */
int cv_store_oauth_pair_issue(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const cv_oauth_grant *grant,
                              int64_t now_us, cv_oauth_pair *pair);
/* Looks up an access token for a request on a camera of model camera_model
 * (NULL or "": a request not tied to a camera model). 0 with *out filled
 * when the token is known, an access token, unrevoked, unexpired, its link
 * live, its user live and enabled. -EACCES when all that holds but the
 * integration is disabled, or camera_model is one of its disabled models:
 * the store decides the kill switch here so every caller applies it the
 * same way; *out is filled then too (unlinking stays possible). -ENOENT
 * otherwise, or -EIO. */
int cv_store_oauth_access_get(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *token,
                              const char *camera_model, int64_t now_us, cv_oauth_grant *out);
/* Rotates a refresh token presented by the authenticated client integration:
 * the old one is marked rotated and a new pair issued in the same chain.
 * Presenting a refresh token that was already rotated revokes the whole
 * chain (committed, as for a reused code) and returns -EALREADY. Also
 * -ENOENT (unknown, revoked, link gone), -ETIMEDOUT (expired), -EACCES
 * (another client's, integration disabled as a whole) or -EIO. */
int cv_store_oauth_refresh(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *refresh,
                           const cv_id *integration, int64_t now_us, cv_oauth_grant *grant, cv_oauth_pair *pair);
/* RFC 7009: revokes a token by value. A refresh token takes its whole chain
 * with it; an access token only itself. integration (may be NULL: the
 * operator) must be the token's client. Unknown tokens are not an error.
 * Returns 0, -EACCES (another client's token) or -EIO. */
int cv_store_oauth_revoke(cv_store *s, const uint8_t hkey[CV_OAUTH_HKEY_BYTES], const char *token,
                          const cv_id *integration, int64_t now_us);
/* Deletes codes and tokens that expired before before_us. Returns 0 or -EIO. */
int cv_store_oauth_prune(cv_store *s, int64_t before_us);

#endif
