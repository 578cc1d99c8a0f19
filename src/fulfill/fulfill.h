/* Camera-stream fulfillment for linked partners, called by the partner's
 * cloud with the OAuth access token the link gave it (Authorization:
 * Bearer, or Alexa's scope.token):
 *
 *   POST /fulfill/google   Google cloud-to-cloud smart home intents:
 *        action.devices.SYNC, QUERY, EXECUTE (commands.GetCameraStream),
 *        DISCONNECT, with the protocol's error codes.
 *   POST /fulfill/alexa    Alexa smart home directives: Alexa.Discovery
 *        Discover, Alexa.CameraStreamController InitializeCameraStreams,
 *        Alexa.Authorization AcceptGrant; ErrorResponse otherwise.
 *
 * Devices are the cameras the user consented to (the token's scope) that
 * the user may still see. A stream URL is a fresh capability token
 * (auth/token.h, kind CV_PRINCIPAL_INTEGRATION, principal = the link)
 * bound to one camera and expiring after stream_ttl_us, carried in the
 * URL so that a Cast receiver that cannot send headers can play it; the
 * server's access checks (server/access.c) end it when the link is revoked
 * or the kill switch is thrown. Loop thread only. */
#ifndef CV_FULFILL_FULFILL_H
#define CV_FULFILL_FULFILL_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/key.h"
#include "http/server.h"
#include "hub/registry.h"
#include "store/store.h"

typedef struct cv_fulfill cv_fulfill;

typedef struct {
    cv_store *store;        /* borrowed */
    const cv_key *key;      /* borrowed */
    cv_registry *reg;       /* borrowed: online state */
    const char *http_base;  /* partner-facing HTTP(S) base, "https://localhost:8443" (copied) */
    const char *rtsps_base; /* "rtsps://localhost:8322"; NULL or "": no RTSPS (Alexa streams refused) */
    int64_t stream_ttl_us;  /* stream URL lifetime, default 5 min */
    /* Called after a write that may end live views (DISCONNECT). */
    void (*on_change)(void *ctx);
    void *on_change_ctx;
} cv_fulfill_config;

cv_fulfill *cv_fulfill_new(const cv_fulfill_config *cfg);
void cv_fulfill_free(cv_fulfill *f);
/* True when the path is under /fulfill/: the request is then answered.
 * False: not ours, untouched. */
bool cv_fulfill_handle(cv_fulfill *f, cv_http_req *req);

#endif
