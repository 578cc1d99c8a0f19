#define CV_LOG_MODULE "server"
#include "server/server.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin.h"
#include "api/api.h"
#include "auth/key.h"
#include "base/log.h"
#include "http/server.h"
#include "hub/registry.h"
#include "server/access.h"
#include "rtsp/puller.h"
#include "rtsp/server.h"
#include "store/store.h"

/* How often the store is polled for changes made by other processes (the
 * CLI): PRAGMA data_version is a cheap read. Revocation takes at most this
 * long plus one pass. */
#define RECONCILE_MS 200
/* Live sessions are also rechecked this often when nothing changed, so a
 * guest's view ends when the grant expires. */
#define RECHECK_US (5 * 1000000LL)

typedef struct {
    cv_id id;
    cv_puller *puller; /* NULL for push cameras */
    char url[2048]; /* sealed, as stored: changes when the URL changes */
    int transport;
} known_cam;

struct cv_server {
    uv_loop_t *loop;
    cv_config cfg;
    cv_store *store;
    cv_key *key;
    cv_access *access;
    cv_registry *reg;
    cv_rtsp_server *rtsp;
    cv_api *api;
    cv_http_server *http;
    char rtsp_base[96];
    uv_timer_t reconcile;
    int64_t data_version;
    int64_t last_recheck_us;
    known_cam *cams;
    size_t ncams;
    void (*done)(void *);
    void *done_ctx;
};

static void stop_cam(cv_server *s, known_cam *k, const char *why)
{
    if (k->puller) {
        cv_puller_stop(k->puller);
        k->puller = NULL;
    }
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&k->id, hex);
    CV_INFO("camera %s %s", hex, why);
    cv_rtsp_server_drop_camera(s->rtsp, &k->id);
    cv_registry_remove(s->reg, &k->id, why);
}

static void start_puller(cv_server *s, known_cam *k, const cv_camera_rec *r)
{
    cv_stream *st = cv_registry_get(s->reg, &r->id);
    if (!st)
        return;
    char hex[CV_ID_HEX_LEN + 1], ad[64], url[1024];
    cv_id_to_hex(&r->id, hex);
    snprintf(ad, sizeof(ad), "pull:%s", hex);
    if (cv_key_open(s->key, ad, r->pull_secret, url, sizeof(url)) <= 0) {
        cv_stream_unref(st);
        k->puller = NULL;
        CV_ERROR("camera %s: its pull URL cannot be unsealed with this server's key", hex);
        return;
    }
    cv_puller_config pc = {0};
    pc.url = url;
    pc.transport = (cv_puller_transport)r->pull_transport;
    int rc = cv_puller_start(&k->puller, s->loop, st, &pc);
    sodium_memzero(url, sizeof(url));
    cv_stream_unref(st);
    if (rc < 0) {
        k->puller = NULL;
        CV_WARN("camera %s: cannot pull: %s", hex, strerror(-rc));
    } else {
        CV_INFO("camera %s (%s): pulling", hex, r->name);
    }
}

typedef struct {
    const cv_camera_rec *recs;
    size_t n;
    cv_id *gone;
    size_t ngone;
} live_ids;

static void collect_gone(void *ctx, cv_stream *st)
{
    live_ids *l = ctx;
    const cv_id *id = cv_stream_camera(st);
    for (size_t i = 0; i < l->n; i++)
        if (cv_id_eq(&l->recs[i].id, id))
            return;
    cv_id *g = realloc(l->gone, (l->ngone + 1) * sizeof(*g));
    if (!g)
        return;
    l->gone = g;
    l->gone[l->ngone++] = *id;
}

/* Brings live state in line with the store: new pull cameras start pulling,
 * removed cameras lose their stream and every session. */
static void reconcile(cv_server *s)
{
    cv_camera_rec *recs = NULL;
    size_t n = 0;
    if (cv_store_camera_list(s->store, NULL, &recs, &n) != 0)
        return;
    known_cam *next = calloc(n ? n : 1, sizeof(*next));
    if (!next) {
        free(recs);
        return;
    }
    bool *kept = calloc(s->ncams ? s->ncams : 1, sizeof(bool));
    if (!kept) {
        free(next);
        free(recs);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const cv_camera_rec *r = &recs[i];
        known_cam *k = &next[i];
        k->id = r->id;
        snprintf(k->url, sizeof(k->url), "%s", r->source == CV_CAM_PULL ? r->pull_secret : "");
        k->transport = r->pull_transport;
        for (size_t j = 0; j < s->ncams; j++) {
            if (kept[j] || !cv_id_eq(&s->cams[j].id, &r->id))
                continue;
            if (strcmp(s->cams[j].url, k->url) == 0 && s->cams[j].transport == k->transport) {
                k->puller = s->cams[j].puller;
                kept[j] = true;
            }
            break;
        }
        if (!k->puller && r->source == CV_CAM_PULL)
            start_puller(s, k, r);
    }
    for (size_t j = 0; j < s->ncams; j++) {
        if (kept[j] || !s->cams[j].puller)
            continue;
        /* Its source changed or it is gone: stop the old puller. */
        cv_puller_stop(s->cams[j].puller);
        s->cams[j].puller = NULL;
    }
    /* Anything live that the store no longer has goes, including cameras
     * added and removed between two passes. */
    live_ids gone = {recs, n, NULL, 0};
    cv_registry_foreach(s->reg, collect_gone, &gone);
    for (size_t j = 0; j < gone.ngone; j++) {
        known_cam k = {.id = gone.gone[j]};
        stop_cam(s, &k, "removed");
    }
    free(gone.gone);
    free(kept);
    free(s->cams);
    s->cams = next;
    s->ncams = n;
    free(recs);
}

static void recheck(cv_server *s)
{
    cv_access_set_deep(s->access, true);
    size_t closed = cv_rtsp_server_recheck(s->rtsp);
    cv_access_set_deep(s->access, false);
    if (closed)
        CV_INFO("ended %zu session(s) whose access was revoked", closed);
}

static void on_reconcile(uv_timer_t *t)
{
    cv_server *s = t->data;
    int64_t v = cv_store_data_version(s->store);
    int64_t now = cv_now_us();
    if (v == s->data_version) {
        /* Nothing changed, but time passes: guest grants expire. */
        if (now - s->last_recheck_us >= RECHECK_US) {
            s->last_recheck_us = now;
            recheck(s);
        }
        return;
    }
    s->data_version = v;
    reconcile(s);
    /* Revocation: refresh the revoked-token set, then ask about every live
     * session; those that lost their access end now. */
    if (cv_access_reload(s->access) < 0) {
        s->data_version = -1; /* retry on the next tick */
        return;
    }
    s->last_recheck_us = now;
    recheck(s);
}

/* A change made through the API: reconcile and recheck on the next tick
 * (within 0.2 s) rather than waiting to notice it. */
static void api_changed(void *ctx) { ((cv_server *)ctx)->data_version = -1; }

static int start_http(cv_server *s)
{
    const char *host = s->cfg.bind_addr;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = "127.0.0.1";
    snprintf(s->rtsp_base, sizeof(s->rtsp_base), strchr(host, ':') ? "rtsp://[%s]:%d" : "rtsp://%s:%d", host,
             cv_rtsp_server_port(s->rtsp));
    cv_api_config ac = {
        .store = s->store,
        .key = s->key,
        .guard = cv_access_guard(s->access),
        .rtsp_base = s->rtsp_base,
        .on_change = api_changed,
        .on_change_ctx = s,
    };
    s->api = cv_api_new(s->loop, &ac);
    if (!s->api)
        return -ENOMEM;
    cv_http_server_config hc = {
        .bind_addr = s->cfg.bind_addr,
        .port = s->cfg.http_port,
        .max_connections = s->cfg.max_connections,
        .handle = cv_api_handle,
        .ctx = s->api,
    };
    int rc = cv_http_server_start(&s->http, s->loop, &hc);
    if (rc < 0) {
        CV_ERROR("cannot listen for HTTP on %s:%d: %s", s->cfg.bind_addr, s->cfg.http_port, strerror(-rc));
        return rc;
    }
    return 0;
}

int cv_server_start(cv_server **out, uv_loop_t *loop, const cv_config *cfg)
{
    int rc;
    cv_server *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->loop = loop;
    s->cfg = *cfg;
    char db[PATH_MAX + 32];
    cv_config_db_path(cfg, db, sizeof(db));
    if ((rc = cv_store_open(&s->store, db)) < 0) {
        CV_ERROR("cannot open the store at %s", db);
        goto err_free;
    }
    char keypath[PATH_MAX + 32];
    cv_config_key_path(cfg, keypath, sizeof(keypath));
    if ((rc = cv_key_load(&s->key, keypath, true)) < 0)
        goto err_store;
    cv_admin adm = {s->store, s->key, "server", "", "server"};
    int legacy = cv_admin_seal_legacy(&adm);
    if (legacy > 0)
        CV_INFO("sealed the pull URLs of %d camera(s) from an older store", legacy);
    cv_guard_policy throttle = {
        .free_failures = (unsigned)cfg->throttle_free,
        .base_us = cfg->throttle_base_us,
        .max_us = cfg->throttle_max_us,
    };
    s->access = cv_access_new(s->store, s->key, &throttle);
    if (!s->access || cv_access_reload(s->access) < 0) {
        rc = -ENOMEM;
        goto err_key;
    }
    s->reg = cv_registry_new(&cfg->limits);
    if (!s->reg) {
        rc = -ENOMEM;
        goto err_key;
    }
    cv_rtsp_server_config rc_cfg = {
        .bind_addr = cfg->bind_addr,
        .port = cfg->rtsp_port,
        .session_timeout_s = cfg->session_timeout_s,
        .max_connections = cfg->max_connections,
        .authorize = cv_access_rtsp_authorize,
        .still_allowed = cv_access_rtsp_still_allowed,
        .on_event = cv_access_rtsp_event,
        .ctx = s->access,
    };
    if ((rc = cv_rtsp_server_start(&s->rtsp, loop, s->reg, &rc_cfg)) < 0)
        goto err_reg;
    CV_INFO("rtsp listening on %s:%d", cfg->bind_addr, cv_rtsp_server_port(s->rtsp));
    if ((rc = start_http(s)) < 0)
        goto err_rtsp;
    if (!cv_config_is_loopback(cfg))
        CV_WARN("listening beyond loopback (%s): RTSP is not encrypted; viewers authenticate with tokens or "
                "Digest app passwords, cameras with Digest ingest secrets",
                cfg->bind_addr);
    s->data_version = cv_store_data_version(s->store);
    reconcile(s);
    uv_timer_init(loop, &s->reconcile);
    s->reconcile.data = s;
    uv_timer_start(&s->reconcile, on_reconcile, RECONCILE_MS, RECONCILE_MS);
    *out = s;
    return 0;
err_rtsp:
    /* The RTSP server frees itself once its handles closed; run the loop's
     * close callbacks before the registry goes. */
    cv_rtsp_server_stop(s->rtsp, NULL, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    cv_api_free(s->api);
err_reg:
    cv_registry_free(s->reg);
err_key:
    cv_access_free(s->access);
    cv_key_free(s->key);
err_store:
    cv_store_close(s->store);
err_free:
    free(s);
    return rc;
}

int cv_server_rtsp_port(const cv_server *s) { return cv_rtsp_server_port(s->rtsp); }
int cv_server_http_port(const cv_server *s) { return cv_http_server_port(s->http); }

static void rtsp_stopped(void *ctx)
{
    cv_server *s = ctx;
    cv_api_free(s->api);
    cv_registry_free(s->reg);
    cv_access_free(s->access);
    cv_key_free(s->key);
    cv_store_close(s->store);
    void (*done)(void *) = s->done;
    void *dctx = s->done_ctx;
    free(s->cams);
    free(s);
    if (done)
        done(dctx);
}

static void http_stopped(void *ctx)
{
    cv_server *s = ctx;
    cv_rtsp_server_stop(s->rtsp, rtsp_stopped, s);
}

static void reconcile_closed(uv_handle_t *h)
{
    cv_server *s = h->data;
    cv_http_server_stop(s->http, http_stopped, s);
}

void cv_server_stop(cv_server *s, void (*done)(void *), void *ctx)
{
    s->done = done;
    s->done_ctx = ctx;
    for (size_t i = 0; i < s->ncams; i++)
        if (s->cams[i].puller) {
            cv_puller_stop(s->cams[i].puller);
            s->cams[i].puller = NULL;
        }
    uv_close((uv_handle_t *)&s->reconcile, reconcile_closed);
}
