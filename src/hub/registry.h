/* The one shared table of the server: camera id -> live stream.
 * Owned by the server, used on the loop thread. Lookups return references. */
#ifndef CV_HUB_REGISTRY_H
#define CV_HUB_REGISTRY_H

#include <stddef.h>

#include "base/id.h"
#include "hub/stream.h"

typedef struct cv_registry cv_registry;

/* limits apply to every stream it creates (copied); may be NULL. */
cv_registry *cv_registry_new(const cv_stream_limits *limits);
/* Shuts down every stream (closing its viewers) and frees the table. */
void cv_registry_free(cv_registry *r);

/* Returns a new reference to the camera's stream, creating it; NULL on OOM. */
cv_stream *cv_registry_get(cv_registry *r, const cv_id *camera);
/* Returns a new reference, or NULL when the camera has no stream. */
cv_stream *cv_registry_find(cv_registry *r, const cv_id *camera);
/* Shuts the camera's stream down (viewers closed with reason) and forgets it. */
void cv_registry_remove(cv_registry *r, const cv_id *camera, const char *reason);
size_t cv_registry_count(const cv_registry *r);
/* Calls fn for each stream (borrowed); fn must not add or remove streams. */
void cv_registry_foreach(cv_registry *r, void (*fn)(void *ctx, cv_stream *s), void *ctx);

#endif
