/* Account linking for partner platforms (smart displays, assistants): the
 * OAuth 2.0 authorization-code flow with PKCE S256 (RFC 6749, RFC 7636)
 * and token revocation (RFC 7009), served under /oauth/ by cv_http.
 *
 *   GET  /oauth/authorize?response_type=code&client_id&redirect_uri&state
 *        &code_challenge&code_challenge_method=S256[&scope]
 *        The consent page (HTML + script). An unknown client_id or a
 *        redirect_uri that is not one of the integration's exact URIs gets
 *        an error page and is never redirected to (§4.1.2.1); other errors
 *        redirect with error= and state=.
 *   GET  /oauth/consent?<the same parameters>       (browser session cookie)
 *        JSON for the page: the partner's name, and every home and camera
 *        the partner will reach, plus the session's CSRF value. 401 without
 *        a session: the page then shows its login form (password and, when
 *        the account has it, a TOTP code), which posts to /api/v1/login.
 *   POST /oauth/consent                              (cookie + X-CSRF-Token)
 *        JSON {client_id, redirect_uri, state?, code_challenge,
 *        code_challenge_method, decision: "allow"|"deny"} -> {"redirect": URL}
 *        with a single-use code (60 s) bound to the redirect URI, the PKCE
 *        challenge and exactly the cameras listed, or error=access_denied.
 *   POST /oauth/token   (form; client_secret_basic or client_secret_post)
 *        grant_type=authorization_code (code, redirect_uri, code_verifier)
 *        or refresh_token (refresh_token): JSON access/refresh pair, §5.1;
 *        errors as §5.2 (invalid_request, invalid_client, invalid_grant,
 *        unauthorized_client, unsupported_grant_type).
 *   POST /oauth/revoke  (form; client auth; token, token_type_hint?)  RFC 7009.
 *
 * Loop thread only. */
#ifndef CV_OAUTH_OAUTH_H
#define CV_OAUTH_OAUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "auth/guard.h"
#include "auth/key.h"
#include "http/server.h"
#include "store/store.h"

typedef struct cv_oauth cv_oauth;

typedef struct {
    uv_loop_t *loop;
    cv_store *store;   /* borrowed */
    const cv_key *key; /* borrowed: the hashing key is derived from it */
    cv_api *api;       /* borrowed: browser sessions (cv_api_session_user) */
    cv_guard *guard;   /* borrowed: failed client authentications, realm "client" */
    /* Called after a write that may end live views (a revocation, a chain
     * revoked by a reused code or refresh token), as cv_api_config's. */
    void (*on_change)(void *ctx);
    void *on_change_ctx;
} cv_oauth_config;

/* NULL when out of memory or cfg lacks store, key, api or guard. */
cv_oauth *cv_oauth_new(const cv_oauth_config *cfg);
void cv_oauth_free(cv_oauth *o);
/* True when the path is under /oauth/: the request is then answered (now
 * or later). False: not ours, untouched. */
bool cv_oauth_handle(cv_oauth *o, cv_http_req *req);

#endif
