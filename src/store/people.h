/* People and who may see what: users, homes (the tenant), memberships with a
 * role, guest grants to one camera, and the access decision built on them.
 *
 * Ids are 128-bit random and never reused (removed rows stay as tombstones).
 * Every removal that takes access away also revokes, in the same
 * transaction, the capability tokens that depended on it (store/secrets.h),
 * so a running server sees one data_version change and one consistent state. */
#ifndef CV_STORE_PEOPLE_H
#define CV_STORE_PEOPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/id.h"
#include "store/store.h"

#define CV_LOGIN_MAX 63
#define CV_PW_HASH_CAP 128 /* crypto_pwhash_STRBYTES */

/* ------------------------------------------------------------------ users */

typedef struct {
    cv_id id;
    char login[CV_LOGIN_MAX + 1]; /* [A-Za-z0-9._@-], 1..63; unique ignoring ASCII case */
    bool admin;                   /* may administer every home (the CLI always may) */
    bool disabled;
    bool totp_enabled;
    int64_t created_us;
} cv_user_rec;

/* pw_hash is an Argon2id string from auth/password.h (never a password);
 * the store only checks it is 1..127 bytes of printable ASCII.
 * Returns 0, -EINVAL (bad login or hash), -EEXIST (login taken) or -EIO.
 * The setters below return 0, -EINVAL, -ENOENT (no such live user) or -EIO. */
int cv_store_user_add(cv_store *s, const char *login, const char *pw_hash, bool admin, cv_id *out);
int cv_store_user_get(cv_store *s, const cv_id *id, cv_user_rec *out);
/* Looks a live user up by login (ASCII case-insensitive). pw_hash may be NULL;
 * else it receives the stored hash. Returns 0, -ENOENT (also for a string
 * that is not a valid login) or -EIO. */
int cv_store_user_find(cv_store *s, const char *login, cv_user_rec *out, char pw_hash[CV_PW_HASH_CAP]);
/* Live users by login. *out malloc'ed, free() it. */
int cv_store_user_list(cv_store *s, cv_user_rec **out, size_t *n);
int cv_store_user_set_password(cv_store *s, const cv_id *id, const char *pw_hash);
int cv_store_user_set_admin(cv_store *s, const cv_id *id, bool admin);
/* Disabling revokes every token of the user and ends their web sessions. */
int cv_store_user_set_disabled(cv_store *s, const cv_id *id, bool disabled);
/* sealed: the TOTP seed sealed with the server key (printable ASCII, 1..255
 * bytes), or NULL to turn TOTP off (enabled must then be false). enabled
 * false keeps a pending seed (enrolment not yet confirmed). */
int cv_store_user_set_totp(cv_store *s, const cv_id *id, const char *sealed, bool enabled);
/* Copies the sealed seed (pending or enabled) into out. -ENOENT: none (or
 * no such user); -ENOSPC: cap too small. */
int cv_store_user_get_totp(cv_store *s, const cv_id *id, char *out, size_t cap);
/* The last TOTP time step accepted (replay guard; 0 before the first); set
 * only if greater: setting a step not greater than the stored one returns
 * -EALREADY (a replayed code that raced the first use), so the caller must
 * treat anything but 0 from the setter as a failed login. */
int cv_store_user_totp_step(cv_store *s, const cv_id *id, int64_t *last_step);
int cv_store_user_set_totp_step(cv_store *s, const cv_id *id, int64_t step);
/* Tombstones the user: memberships, grants, app passwords and web sessions
 * go, every token is revoked. The login becomes free again; the id never. */
int cv_store_user_remove(cv_store *s, const cv_id *id);

/* ------------------------------------------------------------------ homes */

typedef enum {
    CV_ROLE_NONE = 0,
    CV_ROLE_VIEWER = 1, /* watch every camera of the home */
    CV_ROLE_MEMBER = 2, /* viewer + add cameras, grant guests */
    CV_ROLE_OWNER = 3,  /* member + members, roles, remove cameras, the home itself */
} cv_role;

const char *cv_role_name(cv_role r);            /* "owner", "member", "viewer", "none" */
int cv_role_parse(const char *name, cv_role *out); /* 0 or -EINVAL */

typedef struct {
    cv_id id;
    char name[128]; /* printable UTF-8, 1..127, unique among live homes */
    int64_t created_us;
} cv_home_rec;

/* Returns 0, -EINVAL, -EEXIST (name taken by a live home) or -EIO. get,
 * find_name (exact name) and remove return -ENOENT for unknown or removed. */
int cv_store_home_add(cv_store *s, const char *name, cv_id *out);
int cv_store_home_get(cv_store *s, const cv_id *id, cv_home_rec *out);
int cv_store_home_find_name(cv_store *s, const char *name, cv_home_rec *out);
/* user NULL: every live home; else the homes the user is a member of. */
int cv_store_home_list(cv_store *s, const cv_id *user, cv_home_rec **out, size_t *n);
/* Tombstones the home and every camera in it (cascading as camera_remove)
 * and deletes its memberships, in one transaction. */
int cv_store_home_remove(cv_store *s, const cv_id *id);

typedef struct {
    cv_id home;
    cv_id user;
    char login[CV_LOGIN_MAX + 1];
    cv_role role;
} cv_member_rec;

/* Adds the user to the home or changes their role (role > NONE).
 * Returns 0, -EINVAL, -ENOENT (no such live home or user) or -EIO. */
int cv_store_member_set(cv_store *s, const cv_id *home, const cv_id *user, cv_role role);
/* Removes the membership and revokes the user's tokens for the home's
 * cameras. Returns 0, -ENOENT (not a member) or -EIO. */
int cv_store_member_remove(cv_store *s, const cv_id *home, const cv_id *user);
int cv_store_member_list(cv_store *s, const cv_id *home, cv_member_rec **out, size_t *n);
/* The user's role in the home (CV_ROLE_NONE when not a member). */
int cv_store_member_role(cv_store *s, const cv_id *home, const cv_id *user, cv_role *out);

/* ----------------------------------------------------------------- grants */

/* Scopes: what a grant or token allows. */
#define CV_SCOPE_LIVE 1u
#define CV_SCOPE_SNAPSHOT 2u
#define CV_SCOPE_ALL (CV_SCOPE_LIVE | CV_SCOPE_SNAPSHOT)

typedef struct {
    cv_id id;
    cv_id camera;
    cv_id user;          /* the guest */
    char login[CV_LOGIN_MAX + 1]; /* filled by list/get */
    uint32_t scopes;     /* CV_SCOPE_* */
    int64_t expires_us;  /* wall clock; grants always expire */
    int64_t created_us;
} cv_grant_rec;

/* Returns 0, -EINVAL (no scopes or unknown bits, expiry not in the future),
 * -ENOENT (no such live camera or user) or -EIO. Only camera, user, scopes
 * and expires_us of in are used. A removed grant is tombstoned (id kept). */
int cv_store_grant_add(cv_store *s, const cv_grant_rec *in, cv_id *out);
int cv_store_grant_get(cv_store *s, const cv_id *id, cv_grant_rec *out);
/* camera and/or user may be NULL (no filter). Expired grants are included. */
int cv_store_grant_list(cv_store *s, const cv_id *camera, const cv_id *user, cv_grant_rec **out, size_t *n);
/* A grant with its camera's name (cv_store_home_grants). */
typedef struct {
    cv_grant_rec grant;
    char camera_name[128];
} cv_home_grant_rec;

/* The unexpired grants (now_us < expires_us) on the live cameras of home,
 * newest first. *out malloc'ed (free() it; NULL when *n is 0). */
int cv_store_home_grants(cv_store *s, const cv_id *home, int64_t now_us, cv_home_grant_rec **out, size_t *n);
/* Deletes the grant and revokes the guest's tokens for that camera. */
int cv_store_grant_remove(cv_store *s, const cv_id *id);

/* ----------------------------------------------------------------- access */

/* What the user may do with the camera at now_us: CV_SCOPE_ALL through any
 * role in the camera's home, else the union of unexpired grants' scopes
 * (a grant counts while now_us < expires_us), else 0. 0 as well for a
 * disabled or removed user or a removed camera. The admin flag plays no
 * part. Returns 0 (with *scopes set) or -EIO. */
int cv_store_access(cv_store *s, const cv_id *user, const cv_id *camera, int64_t now_us, uint32_t *scopes);
/* The cameras the user may see now (home roles and unexpired grants). */
int cv_store_user_cameras(cv_store *s, const cv_id *user, int64_t now_us, cv_camera_rec **out, size_t *n);

#endif
