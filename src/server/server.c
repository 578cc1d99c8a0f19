#define CV_LOG_MODULE "server"
#include "server/server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "hub/registry.h"
#include "rtsp/puller.h"
#include "rtsp/server.h"
#include "store/store.h"

#define RECONCILE_MS 500

typedef struct {
    cv_id id;
    cv_puller *puller; /* NULL for push cameras */
    char url[1024];
    int transport;
} known_cam;

struct cv_server {
    uv_loop_t *loop;
    cv_config cfg;
    cv_store *store;
    cv_registry *reg;
    cv_rtsp_server *rtsp;
    uv_timer_t reconcile;
    int64_t data_version;
    known_cam *cams;
    size_t ncams;
    void (*done)(void *);
    void *done_ctx;
};

/* Authorises against the store on every request: no cache decides who may
 * reach a camera (the 2024 thumbnail leak came from exactly such a cache). */
static int camera_check(void *ctx, const cv_id *camera, bool publish)
{
    cv_server *s = ctx;
    cv_camera_rec rec;
    if (cv_store_camera_get(s->store, camera, &rec) != 0)
        return -ENOENT;
    if (publish && rec.source != CV_CAM_PUSH)
        return -ENOENT;
    return 0;
}

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
    cv_puller_config pc = {0};
    pc.url = r->pull_url;
    pc.transport = (cv_puller_transport)r->pull_transport;
    int rc = cv_puller_start(&k->puller, s->loop, st, &pc);
    cv_stream_unref(st);
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&r->id, hex);
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
    if (cv_store_camera_list(s->store, &recs, &n) != 0)
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
        snprintf(k->url, sizeof(k->url), "%s", r->source == CV_CAM_PULL ? r->pull_url : "");
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

static void on_reconcile(uv_timer_t *t)
{
    cv_server *s = t->data;
    int64_t v = cv_store_data_version(s->store);
    if (v == s->data_version)
        return;
    s->data_version = v;
    reconcile(s);
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
    s->reg = cv_registry_new(&cfg->limits);
    if (!s->reg) {
        rc = -ENOMEM;
        goto err_store;
    }
    cv_rtsp_server_config rc_cfg = {
        .bind_addr = cfg->bind_addr,
        .port = cfg->rtsp_port,
        .session_timeout_s = cfg->session_timeout_s,
        .max_connections = cfg->max_connections,
        .camera_check = camera_check,
        .ctx = s,
    };
    if ((rc = cv_rtsp_server_start(&s->rtsp, loop, s->reg, &rc_cfg)) < 0)
        goto err_reg;
    CV_INFO("rtsp listening on %s:%d", cfg->bind_addr, cv_rtsp_server_port(s->rtsp));
    if (!cv_config_is_loopback(cfg))
        CV_WARN("LISTENING BEYOND LOOPBACK (%s) WITH UNAUTHENTICATED VIEWING: anyone who can reach this "
                "address and knows a camera id can watch it",
                cfg->bind_addr);
    else
        CV_WARN("viewing is unauthenticated: anyone on this machine who knows a camera id can watch it "
                "(capability tokens arrive with the capabilities issue)");
    s->data_version = cv_store_data_version(s->store);
    reconcile(s);
    uv_timer_init(loop, &s->reconcile);
    s->reconcile.data = s;
    uv_timer_start(&s->reconcile, on_reconcile, RECONCILE_MS, RECONCILE_MS);
    *out = s;
    return 0;
err_reg:
    cv_registry_free(s->reg);
err_store:
    cv_store_close(s->store);
err_free:
    free(s);
    return rc;
}

int cv_server_rtsp_port(const cv_server *s) { return cv_rtsp_server_port(s->rtsp); }

static void rtsp_stopped(void *ctx)
{
    cv_server *s = ctx;
    cv_registry_free(s->reg);
    cv_store_close(s->store);
    void (*done)(void *) = s->done;
    void *dctx = s->done_ctx;
    free(s->cams);
    free(s);
    if (done)
        done(dctx);
}

static void reconcile_closed(uv_handle_t *h)
{
    cv_server *s = h->data;
    cv_rtsp_server_stop(s->rtsp, rtsp_stopped, s);
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
