/* Stored only as hashes or sealed: capability tokens (their revocation),
 * per-user app passwords for RTSP Digest, and web/API sessions. */
#ifndef CV_STORE_SECRETS_H
#define CV_STORE_SECRETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/id.h"
#include "store/store.h"

#define CV_HASH_BYTES 32

/* ----------------------------------------------------------------- tokens */

/* Every capability token issued is recorded by the hash of its id, so that
 * it can be listed and revoked; the token itself is never stored. */
typedef struct {
    uint8_t hash[CV_HASH_BYTES];
    cv_id camera;
    uint8_t principal_kind; /* 1 user, 2 integration */
    cv_id principal;
    uint32_t scopes;
    int64_t expires_us;
    int64_t created_us;
    bool revoked;
} cv_token_rec;

/* Records a token (in->created_us and in->revoked are ignored: now, not
 * revoked). Returns 0, -EINVAL (kind, scopes), -ENOENT (camera not live, or a
 * user principal removed or disabled: a token is never recorded after the
 * revocation that should have covered it), -EEXIST (hash known) or -EIO.
 * To bind it to an access decision, call cv_store_access and this inside
 * one cv_store_txn. */
int cv_store_token_add(cv_store *s, const cv_token_rec *in);
/* Returns 0, -ENOENT (unknown hash) or -EIO. Revoking twice is 0. */
int cv_store_token_revoke(cv_store *s, const uint8_t hash[CV_HASH_BYTES]);
/* Revokes every unexpired token of the principal (camera NULL: all cameras).
 * Returns 0 (also when there was none) or -EIO. */
int cv_store_token_revoke_for(cv_store *s, const cv_id *principal, const cv_id *camera);
int cv_store_token_get(cv_store *s, const uint8_t hash[CV_HASH_BYTES], cv_token_rec *out);
/* Unexpired tokens (camera/principal NULL: any), newest first. */
int cv_store_token_list(cv_store *s, const cv_id *camera, const cv_id *principal, int64_t now_us,
                        cv_token_rec **out, size_t *n);
/* Hashes of revoked tokens that have not expired yet at now_us: the server
 * keeps them in memory so verifying a token never reads the database.
 * *out is malloc'ed, n * CV_HASH_BYTES bytes, sorted (memcmp order, so
 * bsearch works); NULL when n is 0. */
int cv_store_token_revoked(cv_store *s, int64_t now_us, uint8_t **out, size_t *n);
/* Deletes rows that expired before before_us (revoked or not). */
int cv_store_token_prune(cv_store *s, int64_t before_us);

/* ---------------------------------------------------------- app passwords */

/* Per-user passwords for RTSP clients (NVRs, VLC) that speak Digest. Digest
 * needs the server to know the password, so it is stored sealed. */
typedef struct {
    cv_id id;
    cv_id user;
    char label[64];
    char sealed[256];
    int64_t created_us;
} cv_apppw_rec;

/* *out: the id to use when not zero (the sealed value is bound to it), else
 * a fresh one is written there. */
/* label: printable UTF-8, 1..63 bytes; sealed: printable ASCII, 1..255.
 * Returns 0, -EINVAL, -ENOENT (no such live user) or -EIO. */
int cv_store_apppw_add(cv_store *s, const cv_id *user, const char *label, const char *sealed, cv_id *out);
/* The user's app passwords, sealed values included. */
int cv_store_apppw_list(cv_store *s, const cv_id *user, cv_apppw_rec **out, size_t *n);
/* Tombstones it (the id stays reserved, the sealed value is erased).
 * Returns 0, -ENOENT (not this user's, or already removed) or -EIO. */
int cv_store_apppw_remove(cv_store *s, const cv_id *user, const cv_id *id);

/* ----------------------------------------------------- web / API sessions */

typedef struct {
    uint8_t hash[CV_HASH_BYTES]; /* hash of the session secret (cookie or bearer) */
    cv_id user;
    int64_t created_us;
    int64_t expires_us;
} cv_websession_rec;

/* created_us is set to now. Returns 0, -EINVAL (expires_us not in the
 * future), -ENOENT (user removed or disabled), -EEXIST (hash known) or -EIO. */
int cv_store_websession_add(cv_store *s, const cv_websession_rec *in);
/* Returns 0, -ENOENT (unknown, expired at now_us, or user disabled/removed) or -EIO. */
int cv_store_websession_get(cv_store *s, const uint8_t hash[CV_HASH_BYTES], int64_t now_us, cv_websession_rec *out);
/* Returns 0, -ENOENT or -EIO. */
int cv_store_websession_remove(cv_store *s, const uint8_t hash[CV_HASH_BYTES]);
/* Ends every web session of the user (a password change logs out everywhere). */
int cv_store_websession_remove_user(cv_store *s, const cv_id *user);
/* Deletes sessions that expired before before_us. Returns 0 or -EIO. */
int cv_store_websession_prune(cv_store *s, int64_t before_us);

#endif
