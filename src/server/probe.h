/* Test connections to pull cameras before they are added (the API's
 * POST /homes/{id}/cameras/test): a cv_puller on a private stream that no
 * registry knows, so nothing it receives can reach a viewer. A probe ends
 * when the camera's tracks attach, on the first error, or at its deadline;
 * then its puller stops. Loop thread only. */
#ifndef CV_SERVER_PROBE_H
#define CV_SERVER_PROBE_H

#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "hub/stream.h"

typedef struct cv_probes cv_probes;

/* limits may be NULL. Returns NULL when out of memory. */
cv_probes *cv_probes_new(uv_loop_t *loop, const cv_stream_limits *limits);
/* Ends every probe still running (its done gets r->aborted) and frees once
 * their handles have closed. NULL-safe. */
void cv_probes_free(cv_probes *ps);

/* Starts a probe of url (rtsp://, credentials allowed; copied and never
 * logged with them) with transport (a cv_pull_transport), answering within
 * timeout_us (0: 10 s). Returns 0 and calls done(arg, r) once later, never
 * from inside this call; or -EINVAL (not a usable URL), -ENOMEM, -ESHUTDOWN
 * (stopping), and never calls done. The cv_api_config.probe_pull shape. */
int cv_probes_start(cv_probes *ps, const char *url, int transport, int64_t timeout_us,
                    void (*done)(void *arg, const cv_api_probe_result *r), void *arg);

#endif
