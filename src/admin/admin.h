/* The administrative operations, one place for both front ends: the CLI
 * (`camvault user|home|camera|grant|token|audit`) and the REST API. Each
 * operation validates, seals or hashes secrets, writes the store and its
 * audit record in one transaction, and reports a precise error.
 *
 * Who acts: `actor` is the audit principal ("cli", "user:alice"). The API
 * checks the caller's rights before calling in; the CLI runs as the local
 * administrator (it can read the store and the key file anyway). */
#ifndef CV_ADMIN_ADMIN_H
#define CV_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/key.h"
#include "auth/token.h"
#include "store/audit.h"
#include "store/people.h"
#include "store/secrets.h"
#include "store/store.h"

typedef struct {
    cv_store *store;
    const cv_key *key;
    const char *actor;    /* audit principal */
    const char *address;  /* client address or "" */
    const char *protocol; /* "cli", "http" */
} cv_admin;

/* Errors: negative errno, and a sentence for people in err (may be NULL):
 * -EINVAL bad input, -ENOENT no such thing, -EEXIST name taken, -EACCES not
 * allowed (e.g. issuing a token for a user who may not see the camera),
 * -EIO store failure. */

/* ---- users ---- */
/* password NULL: generate one and copy it to gen (at least 32 bytes), shown once. */
int cv_admin_user_add(const cv_admin *a, const char *login, const char *password, bool admin, char *gen,
                      cv_id *out, char *err, size_t errcap);
/* Also ends every web session of the user. */
int cv_admin_user_set_password(const cv_admin *a, const cv_id *user, const char *password, char *err,
                               size_t errcap);
/* The same two with the Argon2id hash computed by the caller (the REST API
 * hashes on libuv's thread pool, never on the loop thread). */
int cv_admin_user_add_hashed(const cv_admin *a, const char *login, const char *pw_hash, bool admin, cv_id *out,
                             char *err, size_t errcap);
int cv_admin_user_set_password_hash(const cv_admin *a, const cv_id *user, const char *pw_hash, char *err,
                                    size_t errcap);
int cv_admin_user_disable(const cv_admin *a, const cv_id *user, bool disabled, char *err, size_t errcap);
int cv_admin_user_remove(const cv_admin *a, const cv_id *user, char *err, size_t errcap);
/* Looks a user up by login or hex id. */
int cv_admin_user_resolve(const cv_admin *a, const char *what, cv_user_rec *out);

/* ---- homes and members ---- */
int cv_admin_home_add(const cv_admin *a, const char *name, const cv_id *owner, cv_id *out, char *err,
                      size_t errcap);
int cv_admin_home_remove(const cv_admin *a, const cv_id *home, char *err, size_t errcap);
int cv_admin_home_resolve(const cv_admin *a, const char *what, cv_home_rec *out);
int cv_admin_member_set(const cv_admin *a, const cv_id *home, const cv_id *user, cv_role role, char *err,
                        size_t errcap);
int cv_admin_member_remove(const cv_admin *a, const cv_id *home, const cv_id *user, char *err, size_t errcap);

/* ---- cameras ---- */
typedef struct {
    const cv_id *home;
    const char *name;
    const char *model;      /* may be NULL */
    const char *pull_url;   /* NULL: a push camera */
    cv_pull_transport transport;
    const char *sub_url;    /* optional low-resolution substream (pull), may be NULL */
} cv_admin_camera_spec;

/* For a push camera, ingest_secret (at least 48 bytes) receives the new
 * secret, shown once. */
int cv_admin_camera_add(const cv_admin *a, const cv_admin_camera_spec *spec, cv_id *out, char *ingest_secret,
                        char *err, size_t errcap);
/* New ingest secret for a push camera (the old one stops working at once). */
int cv_admin_camera_rotate(const cv_admin *a, const cv_id *camera, char *ingest_secret, char *err, size_t errcap);
int cv_admin_camera_remove(const cv_admin *a, const cv_id *camera, char *err, size_t errcap);
/* Renames a camera (1..127 bytes of printable UTF-8, unique in its home);
 * audited "camera.rename" with the old and new names. */
int cv_admin_camera_rename(const cv_admin *a, const cv_id *camera, const char *name, char *err, size_t errcap);
/* Looks a camera up by hex id, or by name (in home, or in any home when
 * home is NULL and the name is unique). */
int cv_admin_camera_resolve(const cv_admin *a, const cv_id *home, const char *what, cv_camera_rec *out);

/* ---- grants ---- */
int cv_admin_grant_add(const cv_admin *a, const cv_id *camera, const cv_id *user, uint32_t scopes,
                       int64_t expires_us, cv_id *out, char *err, size_t errcap);
int cv_admin_grant_remove(const cv_admin *a, const cv_id *grant, char *err, size_t errcap);

/* ---- capability tokens ---- */
/* Issues a token for camera and scopes, valid ttl_us (1 s .. 24 h). user
 * NULL: issued to the local administrator (CLI only); else the user must
 * have those scopes on the camera now (-EACCES otherwise). out receives the
 * token string (CV_TOKEN_MAX). */
int cv_admin_token_issue(const cv_admin *a, const cv_id *camera, const cv_id *user, uint32_t scopes,
                         int64_t ttl_us, char *out, cv_token *tok, char *err, size_t errcap);
/* Revokes the token given as its string (its signature must verify). */
int cv_admin_token_revoke(const cv_admin *a, const char *token, char *err, size_t errcap);

/* ---- app passwords ---- */
/* A new app password for user (shown once, copied to secret, at least 32 bytes). */
int cv_admin_apppw_add(const cv_admin *a, const cv_id *user, const char *label, char *secret, cv_id *out,
                       char *err, size_t errcap);
int cv_admin_apppw_remove(const cv_admin *a, const cv_id *user, const cv_id *id, char *err, size_t errcap);

/* Seals the pull URLs of cameras migrated from schema 1 (credentials in
 * clear, nothing sealed) and masks the stored display form. Returns how many
 * were sealed, or a negative errno. */
int cv_admin_seal_legacy(const cv_admin *a);

/* Parses "90s", "5m", "2h", "7d" or plain seconds into µs. 0 or -EINVAL. */
int cv_admin_parse_duration(const char *s, int64_t *out_us);
/* Parses "live", "snapshot", "live,snapshot" or "all". 0 or -EINVAL. */
int cv_admin_parse_scopes(const char *s, uint32_t *out);

#endif
