/* cv_access: who may see which camera, decided for every protocol the
 * server speaks. Capability tokens are verified with the server key and an
 * in-memory set of revoked token hashes (no database read); the set and the
 * live sessions are re-checked whenever the store changes (cv_access_reload
 * then cv_rtsp_server_recheck), which is how revocation ends live views.
 * Failed attempts are throttled per address and per account (auth/guard.h).
 * Loop thread only. */
#ifndef CV_SERVER_ACCESS_H
#define CV_SERVER_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/guard.h"
#include "auth/key.h"
#include "auth/token.h"
#include "rtsp/server.h"
#include "store/store.h"

typedef struct cv_access cv_access;

/* What a cv_rtsp_access.kind means here. */
enum {
    CV_ACCESS_INGEST = 1,  /* a push camera with its ingest secret; token_hash: hash of the sealed secret */
    CV_ACCESS_TOKEN = 2,   /* a capability token; token_hash set */
    CV_ACCESS_APPPW = 3,   /* a user's app password (Digest); token_hash holds the app password id */
    CV_ACCESS_LINK = 4,    /* a partner's stream token (kind integration); principal: the link */
};

/* Borrows store and key (both must outlive it). throttle NULL: the guard's
 * defaults. */
cv_access *cv_access_new(cv_store *store, const cv_key *key, const cv_guard_policy *throttle);
void cv_access_free(cv_access *a);
/* Reloads the revoked-token set from the store. Returns 0 or -EIO (the old
 * set is kept and the caller retries). */
int cv_access_reload(cv_access *a);
cv_guard *cv_access_guard(cv_access *a);

/* Verifies a capability token for camera and scope: a user's without a
 * database read; a partner's stream token (kind integration, minted by
 * fulfill/) also against the store (cv_access_link_ok). Returns 200 (with
 * *out filled), 401 (malformed, forged, expired or revoked, or the partner
 * link is gone: the caller must authenticate again), 403 (valid, but for
 * another camera or scope, or the linked user may no longer see the camera)
 * or 503 (a partner's token while the operator's kill switch is on for the
 * integration or the camera's model: unavailable for now, not refused).
 * Failed tokens count against address in the guard; 429 when the address
 * is throttled (*retry_s set). */
int cv_access_check_token(cv_access *a, const char *tok, size_t len, const cv_id *camera, uint32_t scope,
                          const char *address, cv_token *out, int64_t *retry_s);
bool cv_access_token_revoked(const cv_access *a, const uint8_t hash[32]);
/* May a stream token of partner link still show camera? 0 when the link is
 * live, its user enabled and still allowed to see the camera (CV_SCOPE_LIVE
 * or the scope asked), and the integration's kill switch is off for the
 * camera's model; -ENOENT (link, user or camera gone), -ESHUTDOWN (kill
 * switch on), -EACCES (the user lost access) or -EIO. Reads the store every
 * time: this is never cached, so an operator's disable is seen by the next
 * check. */
int cv_access_link_ok(cv_access *a, const cv_id *link, const cv_id *camera, uint32_t scope);

/* While deep is set (the server's periodic and on-change rechecks),
 * still_allowed also asks the store whether a token's user still has access
 * (membership, grant expiry, disabled). Outside it, a token session is
 * checked against the in-memory revoked set only. */
void cv_access_set_deep(cv_access *a, bool deep);

/* cv_access_check_token for HTTP media, filling an access record the way an
 * RTSP token session's is (for rechecks and the audit log). */
int cv_access_http_token(cv_access *a, const char *tok, size_t len, const cv_id *camera, uint32_t scope,
                         const char *peer, cv_rtsp_access *out, int64_t *retry_s);

/* The RTSP server's callbacks (ctx is the cv_access). */
int cv_access_rtsp_authorize(void *ctx, const cv_rtsp_auth_req *req, cv_rtsp_access *out, cv_sbuf *challenge);
bool cv_access_rtsp_still_allowed(void *ctx, const cv_id *camera, bool publish, const cv_rtsp_access *acc);
void cv_access_rtsp_event(void *ctx, const cv_rtsp_event *ev);

typedef struct {
    uint64_t tokens_ok, tokens_refused;
    uint64_t digest_ok, digest_refused;
    uint64_t throttled;
    uint64_t isolation_violations;
    uint64_t revoked_sessions;
    uint64_t link_refused; /* partner stream tokens refused: link gone, kill switch, access gone */
} cv_access_stats;
void cv_access_get_stats(const cv_access *a, cv_access_stats *out);

#endif
