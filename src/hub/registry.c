#include "hub/registry.h"

#include <stdlib.h>
#include <string.h>

/* Camera ids are 128 bits from a CSPRNG, chosen by the server, never by a
 * client: their first 32 bits are already a uniform hash. */
#define HASH_FUNCTION(keyptr, keylen, hashv) memcpy(&(hashv), (keyptr), sizeof(hashv))
#include <uthash.h>

typedef struct {
    cv_id key;
    cv_stream *stream; /* the table's reference */
    UT_hash_handle hh;
} entry;

struct cv_registry {
    entry *table;
    cv_stream_limits limits;
};

cv_registry *cv_registry_new(const cv_stream_limits *limits)
{
    cv_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (limits)
        r->limits = *limits;
    else
        cv_stream_limits_default(&r->limits);
    return r;
}

void cv_registry_free(cv_registry *r)
{
    if (!r)
        return;
    entry *e, *tmp;
    HASH_ITER(hh, r->table, e, tmp) {
        HASH_DEL(r->table, e);
        cv_stream_shutdown(e->stream, "server shutting down");
        cv_stream_unref(e->stream);
        free(e);
    }
    free(r);
}

static entry *lookup(cv_registry *r, const cv_id *camera)
{
    entry *e = NULL;
    HASH_FIND(hh, r->table, camera, sizeof(cv_id), e);
    return e;
}

cv_stream *cv_registry_find(cv_registry *r, const cv_id *camera)
{
    entry *e = lookup(r, camera);
    return e ? cv_stream_ref(e->stream) : NULL;
}

cv_stream *cv_registry_get(cv_registry *r, const cv_id *camera)
{
    entry *e = lookup(r, camera);
    if (e)
        return cv_stream_ref(e->stream);
    e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->key = *camera;
    e->stream = cv_stream_new(camera, &r->limits);
    if (!e->stream) {
        free(e);
        return NULL;
    }
    HASH_ADD(hh, r->table, key, sizeof(cv_id), e);
    return cv_stream_ref(e->stream);
}

void cv_registry_remove(cv_registry *r, const cv_id *camera, const char *reason)
{
    entry *e = lookup(r, camera);
    if (!e)
        return;
    HASH_DEL(r->table, e);
    cv_stream_shutdown(e->stream, reason);
    cv_stream_unref(e->stream);
    free(e);
}

size_t cv_registry_count(const cv_registry *r) { return HASH_COUNT(r->table); }

void cv_registry_foreach(cv_registry *r, void (*fn)(void *ctx, cv_stream *s), void *ctx)
{
    entry *e, *tmp;
    HASH_ITER(hh, r->table, e, tmp) fn(ctx, e->stream);
}
