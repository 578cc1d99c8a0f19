/* Internals shared by the API's files: the per-request call, the answer
 * helpers, access checks and the route handlers. Loop thread only. */
#ifndef CV_API_API_INT_H
#define CV_API_API_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "admin/admin.h"
#include "api/api.h"
#include "api/json.h"
#include "auth/password.h"
#include "store/people.h"

struct cv_api {
    uv_loop_t *loop;
    cv_store *store;
    const cv_key *key;
    cv_guard *guard;
    char rtsp_base[256];
    char http_base[256];
    int64_t session_ttl_us;
    void (*on_change)(void *ctx);
    void *on_change_ctx;
    bool (*camera_status)(void *ctx, const cv_id *camera, int64_t *last_frame_wall_us);
    void *camera_status_ctx;
    int (*probe_pull)(void *ctx, const char *url, int transport,
                      void (*done)(void *arg, const cv_api_probe_result *r), void *arg);
    void *probe_pull_ctx;
    unsigned pending; /* calls waiting on the thread pool or a probe */
    bool freed;       /* cv_api_free ran: the last pending call frees */
};

typedef struct cv__api_call cv__api_call;
typedef void (*cv__api_verified)(cv__api_call *c, bool ok);

struct cv__api_call {
    cv_api *api;
    cv_http_req *req;
    const char *method;
    char seg[CV_API_SEGS_MAX][CV_API_SEG_MAX];
    const char *param[3]; /* the route's '*' segments, decoded */
    json_t *doc;          /* the body; v[] points into it */
    cv_api_value v[CV_API_FIELDS_MAX];
    char peer[64];
    /* The caller, once authenticated. */
    bool authed;
    bool by_cookie;
    uint8_t session[32]; /* hash of the session secret */
    char csrf[65];       /* by cookie: the session's CSRF value (hex), for GET /me */
    cv_user_rec user;
    char actor[96];      /* "user:<login>" */
    cv_admin adm;
    /* Set by a handler that answers later (cv__api_verify). */
    bool async;
    bool answered;
    /* Password check on the thread pool. */
    uv_work_t work;
    char hash[CV_PW_HASH_MAX];
    bool has_hash;
    char *pw;
    size_t pwlen;
    bool ok;
    bool hashing;        /* the pool job hashes pw into hash instead of verifying */
    bool queued;         /* a pool job is pending (a done callback may queue the next) */
    bool generated;      /* pw was generated here (shown once in the answer) */
    cv__api_verified done;
    int64_t t0;          /* monotonic start of the attempt (guard clock) */
    char account[CV_LOGIN_MAX + 1];
};

/* ------------------------------------------------------------- answers */
/* Each of these answers the call once; o is stolen (status 204: no body;
 * o NULL otherwise: 500, as from a failed json_pack). */
void cv__api_reply(cv__api_call *c, int status, json_t *o, const char *extra_headers);
void cv__api_error(cv__api_call *c, int status, const char *msg);
void cv__api_forbidden(cv__api_call *c); /* 403 {"error":"forbidden"} */
/* Maps a cv_admin error: -EINVAL 400, -EEXIST 409, -EACCES/-ENOENT 403
 * (never revealing what exists), others 500. */
void cv__api_admin_error(cv__api_call *c, int rc, const char *err);

/* A JSON string for text from the store (never NULL for non-NULL s: bytes
 * that are not valid UTF-8 become '?'). */
json_t *cv__api_jstr(const char *s);
json_t *cv__api_jid(const cv_id *id);
json_t *cv__api_jscopes(uint32_t scopes);
json_t *cv__api_user_json(const cv_user_rec *u);
/* A camera as answered to the caller: never a sealed value; with its live
 * state ("online", "last_seen"), the caller's "role" and, for its home's
 * owners and members (and admins), how many live guest grants it has. */
json_t *cv__api_camera_json(cv__api_call *c, const cv_camera_rec *r);

/* rtsp_base with "user:pass@" inserted after the scheme, then suffix. */
void cv__api_rtsp_url(const cv_api *a, const char *user, const char *pass, const char *suffix, char *out,
                      size_t cap);

/* ------------------------------------------------------------ checks */
/* Parses a path id; false for anything but 32 hex characters. */
bool cv__api_parse_id(const char *s, cv_id *out);
/* The caller's role in a home (admins: CV_ROLE_OWNER). */
cv_role cv__api_role(cv__api_call *c, const cv_id *home);
/* Loads the camera named by hex and checks that the caller may see it
 * (need CV_ROLE_NONE: any access, grants included) or holds at least role
 * need in its home; admins pass. Otherwise answers 403 and returns false. */
bool cv__api_camera(cv__api_call *c, const char *hex, cv_role need, cv_camera_rec *out);
/* The same for a home: the caller's role must be at least need (>= viewer). */
bool cv__api_home(cv__api_call *c, const char *hex, cv_role need, cv_home_rec *out, cv_role *role);

/* Frees a call answered later (after its handler returned with c->async). */
void cv__api_call_free(cv__api_call *c);

/* Runs cv_pw_verify(hash, pw) on the thread pool (hash NULL: the dummy
 * hash, same cost) and calls done on the loop thread with the call intact.
 * Marks the call async; done must answer it. Returns false (and answers
 * 500) when the work cannot be queued. */
bool cv__api_verify(cv__api_call *c, const char *hash, const char *pw, size_t len, cv__api_verified done);
/* Hashes pw (Argon2id) on the thread pool into c->hash, then calls done with
 * ok false when the password's length is out of bounds. May be called from a
 * done callback (the call then stays alive for the next one). */
bool cv__api_hash(cv__api_call *c, const char *pw, size_t len, cv__api_verified done);

/* ------------------------------------------------------------ sessions */
/* Checks a TOTP code for user u against the stored seed (pending or
 * enabled) and consumes its step (replay guard). */
bool cv__api_totp_ok(cv__api_call *c, const cv_user_rec *u, const char *code, size_t len);
/* The failed-login guard for the caller's own account (password change,
 * TOTP codes): false after answering 429. */
bool cv__api_guard_check(cv__api_call *c);
void cv__api_guard_failed(cv__api_call *c);
/* The seed's sealing context: "totp:<user hex>". */
void cv__api_totp_ad(const cv_id *user, char out[48]);
/* login with anything outside [A-Za-z0-9._@-] replaced by '?' (for logs and
 * audit principals), at most CV_LOGIN_MAX bytes. */
void cv__api_safe_login(const char *login, size_t len, char out[CV_LOGIN_MAX + 1]);
/* Authenticates by Bearer or cookie (+ CSRF for unsafe methods). Returns
 * true with c->user set, else answers 401/403 and returns false. */
bool cv__api_authenticate(cv__api_call *c, bool unsafe);

/* ------------------------------------------------------------ handlers */
void cv__api_login(cv__api_call *c);
void cv__api_logout(cv__api_call *c);

void cv__api_me(cv__api_call *c);
void cv__api_me_password(cv__api_call *c);
void cv__api_totp_begin(cv__api_call *c);
void cv__api_totp_confirm(cv__api_call *c);
void cv__api_totp_disable(cv__api_call *c);
void cv__api_apppw_list(cv__api_call *c);
void cv__api_apppw_add(cv__api_call *c);
void cv__api_apppw_remove(cv__api_call *c);

void cv__api_users_list(cv__api_call *c);
void cv__api_users_add(cv__api_call *c);
void cv__api_user_disable(cv__api_call *c);
void cv__api_user_enable(cv__api_call *c);
void cv__api_user_remove(cv__api_call *c);

void cv__api_homes_list(cv__api_call *c);
void cv__api_homes_add(cv__api_call *c);
void cv__api_home_remove(cv__api_call *c);
void cv__api_members_list(cv__api_call *c);
void cv__api_member_set(cv__api_call *c);
void cv__api_member_remove(cv__api_call *c);

void cv__api_cameras_list(cv__api_call *c);
void cv__api_camera_get(cv__api_call *c);
void cv__api_cameras_add(cv__api_call *c);
void cv__api_camera_remove(cv__api_call *c);
void cv__api_camera_rotate(cv__api_call *c);
void cv__api_camera_rename(cv__api_call *c);
void cv__api_camera_test(cv__api_call *c);
void cv__api_home_grants(cv__api_call *c);
void cv__api_grants_list(cv__api_call *c);
void cv__api_grants_add(cv__api_call *c);
void cv__api_grant_remove(cv__api_call *c);

void cv__api_token_issue(cv__api_call *c);
void cv__api_token_revoke(cv__api_call *c);
void cv__api_audit(cv__api_call *c);

void cv__api_links_list(cv__api_call *c);
void cv__api_link_remove(cv__api_call *c);
void cv__api_integrations_list(cv__api_call *c);
void cv__api_integration_disable(cv__api_call *c);
void cv__api_integration_enable(cv__api_call *c);

#endif
