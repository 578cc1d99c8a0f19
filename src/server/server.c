#define CV_LOG_MODULE "server"
#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <libavutil/log.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/admin.h"
#include "api/api.h"
#include "fulfill/fulfill.h"
#include "oauth/oauth.h"
#include "auth/key.h"
#include "base/log.h"
#include "http/parse.h"
#include "http/server.h"
#include "hub/registry.h"
#include "server/access.h"
#include "server/metrics.h"
#include "server/probe.h"
#include "rtsp/puller.h"
#include "rtsp/server.h"
#include "store/store.h"
#include "tls/tls.h"
#include "watch/watch.h"
#include "web/web.h"

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
    cv_puller *sub_puller; /* the substream, when the camera has one */
    char url[2048]; /* sealed, as stored: changes when the URL changes */
    char sub_url[2048];
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
    cv_http_server *https;
    cv_tls_ctx *tls;
    cv_watch *watch;
    cv_oauth *oauth;     /* /oauth/: account linking */
    cv_fulfill *fulfill; /* /fulfill/: partners' stream requests */
    cv_web *web;         /* /app/: the web app's files */
    cv_probes *probes;   /* the API's test connections to pull cameras */
    uint8_t metrics_hash[32]; /* hash of the /metrics token */
    char rtsp_base[96];
    char http_base[300];
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
    if (k->sub_puller) {
        cv_puller_stop(k->sub_puller);
        k->sub_puller = NULL;
    }
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&k->id, hex);
    CV_INFO("camera %s %s", hex, why);
    cv_rtsp_server_drop_camera(s->rtsp, &k->id);
    cv_watch_drop_camera(s->watch, &k->id);
    cv_registry_remove(s->reg, &k->id, why);
}

static void drop_sub(void *p)
{
    cv_stream_shutdown(p, "camera removed");
    cv_stream_unref(p);
}

/* The camera's substream lives inside its main stream (so it is reached
 * only through the camera's own stream); returns a borrowed pointer. */
static cv_stream *sub_stream(cv_server *s, cv_stream *main)
{
    cv_stream *sub = cv_stream_ext(main, CV_STREAM_EXT_SUB);
    if (sub)
        return sub;
    sub = cv_stream_new(cv_stream_camera(main), &s->cfg.limits);
    if (sub)
        cv_stream_set_ext(main, CV_STREAM_EXT_SUB, sub, drop_sub);
    return sub;
}

static void start_puller(cv_server *s, known_cam *k, const cv_camera_rec *r, bool sub)
{
    cv_puller **slot = sub ? &k->sub_puller : &k->puller;
    *slot = NULL;
    cv_stream *main = cv_registry_get(s->reg, &r->id);
    if (!main)
        return;
    cv_stream *st = sub ? sub_stream(s, main) : main;
    char hex[CV_ID_HEX_LEN + 1], ad[64], url[1024];
    cv_id_to_hex(&r->id, hex);
    snprintf(ad, sizeof(ad), "%s:%s", sub ? "subpull" : "pull", hex);
    if (!st || cv_key_open(s->key, ad, sub ? r->sub_pull_secret : r->pull_secret, url, sizeof(url)) <= 0) {
        cv_stream_unref(main);
        if (st)
            CV_ERROR("camera %s: its %s URL cannot be unsealed with this server's key", hex,
                     sub ? "substream" : "pull");
        return;
    }
    cv_puller_config pc = {0};
    pc.url = url;
    pc.transport = (cv_puller_transport)r->pull_transport;
    int rc = cv_puller_start(slot, s->loop, st, &pc);
    sodium_memzero(url, sizeof(url));
    cv_stream_unref(main);
    if (rc < 0) {
        *slot = NULL;
        CV_WARN("camera %s: cannot pull%s: %s", hex, sub ? " its substream" : "", strerror(-rc));
    } else {
        CV_INFO("camera %s (%s): pulling%s", hex, r->name, sub ? " its substream" : "");
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
        snprintf(k->sub_url, sizeof(k->sub_url), "%s", r->source == CV_CAM_PULL ? r->sub_pull_secret : "");
        k->transport = r->pull_transport;
        for (size_t j = 0; j < s->ncams; j++) {
            if (kept[j] || !cv_id_eq(&s->cams[j].id, &r->id))
                continue;
            if (strcmp(s->cams[j].url, k->url) == 0 && strcmp(s->cams[j].sub_url, k->sub_url) == 0 &&
                s->cams[j].transport == k->transport) {
                k->puller = s->cams[j].puller;
                k->sub_puller = s->cams[j].sub_puller;
                kept[j] = true;
            }
            break;
        }
        if (!k->puller && r->source == CV_CAM_PULL) {
            start_puller(s, k, r, false);
            if (r->sub_pull_secret[0])
                start_puller(s, k, r, true);
        }
    }
    for (size_t j = 0; j < s->ncams; j++) {
        if (kept[j])
            continue;
        /* Its source changed or it is gone: stop the old pullers. */
        if (s->cams[j].puller)
            cv_puller_stop(s->cams[j].puller);
        if (s->cams[j].sub_puller)
            cv_puller_stop(s->cams[j].sub_puller);
        s->cams[j].puller = s->cams[j].sub_puller = NULL;
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
    closed += cv_watch_recheck(s->watch);
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
            if (s->tls && cv_tls_ctx_files_changed(s->tls))
                cv_server_reload_tls(s);
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

/* ------------------------------------------------------------ HTTP */

static int watch_check_token(void *ctx, const char *tok, size_t len, const cv_id *camera, uint32_t scope,
                             const char *peer, cv_rtsp_access *out, int64_t *retry_s)
{
    return cv_access_http_token(ctx, tok, len, camera, scope, peer, out, retry_s);
}

static bool watch_still_allowed(void *ctx, const cv_id *camera, const cv_rtsp_access *a)
{
    return cv_access_rtsp_still_allowed(ctx, camera, false, a);
}

static void watch_event(void *ctx, cv_rtsp_event_kind kind, const cv_id *camera, const cv_rtsp_access *a,
                        const char *peer, const char *protocol, const char *detail)
{
    cv_rtsp_event ev = {.kind = kind, .camera = camera, .access = a, .peer = peer, .transport = protocol,
                        .detail = detail};
    cv_access_rtsp_event(ctx, &ev);
}

static void gather_stream(void *ctx, cv_stream *st)
{
    cv_metrics *m = ctx;
    cv_stream_stats ss;
    cv_stream_get_stats(st, &ss);
    m->streams++;
    m->online += ss.online;
    m->frames_in += ss.frames_in;
    m->bytes_in += ss.bytes_in;
    m->foreign_frames += ss.foreign_frames;
    m->viewer_drops += ss.viewer_drops;
    cv_hls *h = cv_stream_ext(st, CV_STREAM_EXT_HLS);
    if (h) {
        cv_hls_stats hs;
        cv_hls_get_stats(h, &hs);
        m->foreign_frames += hs.foreign;
    }
}

/* GET /metrics with "Authorization: Bearer <token>" (or ?token=): the
 * token is in data_dir/metrics.token, apart from every camera capability. */
static void serve_metrics(cv_server *s, cv_http_req *req)
{
    char tok[128];
    int n = cv_http_req_query_param(req, "token", tok, sizeof(tok));
    cv_str t;
    if (n < 0 && cv_http_bearer(cv_http_req_header(req, "Authorization"), &t) && t.len < sizeof(tok)) {
        memcpy(tok, t.p, t.len);
        n = (int)t.len;
    }
    uint8_t h[32];
    if (n > 0)
        cv_hash32(tok, (size_t)n, h);
    sodium_memzero(tok, sizeof(tok));
    if (n <= 0 || sodium_memcmp(h, s->metrics_hash, sizeof(h)) != 0) {
        static const char body[] = "{\"error\":\"the metrics token is required\"}";
        cv_http_respond(req, 401, "application/json", body, sizeof(body) - 1,
                        "WWW-Authenticate: Bearer realm=\"camvault-metrics\"\r\n");
        return;
    }
    cv_metrics m = {0};
    cv_registry_foreach(s->reg, gather_stream, &m);
    cv_rtsp_server_get_stats(s->rtsp, &m.rtsp);
    cv_http_server_get_stats(s->http, &m.http);
    if (s->https)
        cv_http_server_get_stats(s->https, &m.https);
    cv_access_get_stats(s->access, &m.access);
    cv_watch_get_stats(s->watch, &m.watch);
    cv_sbuf b;
    cv_sbuf_init(&b);
    cv_metrics_render(&m, &b);
    if (cv_sbuf_ok(&b))
        cv_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len, NULL);
    else
        cv_http_respond(req, 503, "text/plain", "out of memory\n", 14, NULL);
    cv_sbuf_free(&b);
}

static void http_handle(void *ctx, cv_http_req *req)
{
    cv_server *s = ctx;
    if (cv_str_eq(cv_http_req_path(req), CV_STR_LIT("/metrics"))) {
        serve_metrics(s, req);
        return;
    }
    if (cv_watch_handle(s->watch, req))
        return;
    if (cv_oauth_handle(s->oauth, req) || cv_fulfill_handle(s->fulfill, req) || cv_web_handle(s->web, req))
        return;
    cv_api_handle(s->api, req);
}

/* The /metrics token: read from its file, or made on first start. */
static int load_metrics_token(cv_server *s)
{
    char path[PATH_MAX + 32], tok[64] = "";
    cv_config_metrics_token_path(&s->cfg, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = 0;
    if (fd >= 0) {
        n = read(fd, tok, sizeof(tok) - 1);
        close(fd);
        while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
            n--;
    }
    if (n <= 0) {
        if (cv_random_secret(32, tok, sizeof(tok)) < 0)
            return -EIO;
        n = (ssize_t)strlen(tok);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, tok, (size_t)n) != n || write(fd, "\n", 1) != 1) {
            CV_ERROR("cannot write the metrics token to %s", path);
            if (fd >= 0)
                close(fd);
            return -EIO;
        }
        close(fd);
        CV_INFO("made the /metrics token in %s", path);
    }
    cv_hash32(tok, (size_t)n, s->metrics_hash);
    sodium_memzero(tok, sizeof(tok));
    return 0;
}

static int make_tls(cv_server *s)
{
    char cert[600], key[600], err[300];
    cv_config_tls_paths(&s->cfg, cert, key, sizeof(cert));
    if (!s->cfg.tls_cert[0] && access(cert, F_OK) != 0) {
        char dir[PATH_MAX + 32];
        snprintf(dir, sizeof(dir), "%s/tls", s->cfg.data_dir);
        (void)mkdir(dir, 0700);
        const char *names[4] = {"localhost", "127.0.0.1", "::1", NULL};
        size_t nn = 3;
        if (!cv_config_is_loopback(&s->cfg) && strcmp(s->cfg.bind_addr, "0.0.0.0") != 0 &&
            strcmp(s->cfg.bind_addr, "::") != 0)
            names[nn++] = s->cfg.bind_addr;
        if (cv_tls_make_selfsigned(cert, key, names, nn, 825, err, sizeof(err)) != 0) {
            CV_ERROR("cannot make a self-signed certificate: %s", err);
            return -EIO;
        }
        CV_INFO("made a self-signed certificate for localhost: %s", cert);
    }
    static const char *const alpn[] = {"http/1.1"};
    if (cv_tls_ctx_new(&s->tls, cert, key, alpn, 1, err, sizeof(err)) != 0) {
        CV_ERROR("TLS: %s", err);
        return -EINVAL;
    }
    CV_INFO("TLS certificate %s (SHA-256 %s)", cert, cv_tls_ctx_fingerprint(s->tls));
    return 0;
}

void cv_server_reload_tls(cv_server *s)
{
    if (!s->tls)
        return;
    char err[300];
    if (cv_tls_ctx_reload(s->tls, err, sizeof(err)) != 0)
        CV_WARN("TLS certificate not reloaded, the old one stays: %s", err);
    else
        CV_INFO("TLS certificate reloaded (SHA-256 %s)", cv_tls_ctx_fingerprint(s->tls));
}

/* The HTTP modules besides watch and the API: account linking (/oauth),
 * partners' fulfillment (/fulfill) and the web app's files (/app).
 *
 * Partner-facing links must be HTTPS (Google and Alexa fetch nothing else):
 * public_url when set, else the HTTPS port under "localhost", the name the
 * self-signed certificate carries. RTSPS the same way. */
static int start_handlers(cv_server *s)
{
    char base[300], host[256] = "localhost", rtsps[300] = "";
    int https = cv_server_https_port(s), rtsps_port = cv_server_rtsps_port(s);
    if (s->cfg.public_url[0]) {
        cv_config_http_base(&s->cfg, cv_http_server_port(s->http), https, base, sizeof(base));
        const char *h = strstr(base, "://") + 3;
        size_t n = strcspn(h, ":/");
        if (*h == '[')
            n = strcspn(h, "]") + 1;
        snprintf(host, sizeof(host), "%.*s", (int)n, h);
    } else if (https > 0) {
        snprintf(base, sizeof(base), "https://localhost:%d", https);
    } else {
        snprintf(base, sizeof(base), "%s", s->http_base);
    }
    if (rtsps_port > 0)
        snprintf(rtsps, sizeof(rtsps), "rtsps://%s:%d", host, rtsps_port);
    cv_oauth_config oc = {
        .loop = s->loop,
        .store = s->store,
        .key = s->key,
        .api = s->api,
        .guard = cv_access_guard(s->access),
        .on_change = api_changed,
        .on_change_ctx = s,
    };
    s->oauth = cv_oauth_new(&oc);
    cv_fulfill_config fc = {
        .store = s->store,
        .key = s->key,
        .reg = s->reg,
        .http_base = base,
        .rtsps_base = rtsps,
        .stream_ttl_us = s->cfg.link_stream_ttl_s * 1000000LL,
        .on_change = api_changed,
        .on_change_ctx = s,
    };
    s->fulfill = cv_fulfill_new(&fc);
    s->web = cv_web_new(s->cfg.web_root[0] ? s->cfg.web_root : NULL);
    if (!s->oauth || !s->fulfill || !s->web)
        return -ENOMEM;
    CV_INFO("partner links: %s (rtsps %s)", base, rtsps[0] ? rtsps : "off");
    return 0;
}

static void stop_handlers(cv_server *s)
{
    cv_web_free(s->web);
    s->web = NULL;
    cv_fulfill_free(s->fulfill);
    s->fulfill = NULL;
    cv_oauth_free(s->oauth);
    s->oauth = NULL;
}

/* The API's view of the registry: is the camera's source attached, and
 * when did its last frame arrive (as cv__watch_offline reports it). */
static bool api_camera_status(void *ctx, const cv_id *camera, int64_t *last_frame_wall_us)
{
    cv_server *s = ctx;
    *last_frame_wall_us = 0;
    cv_stream *st = cv_registry_find(s->reg, camera);
    if (!st)
        return false;
    cv_stream_stats stats;
    cv_stream_get_stats(st, &stats);
    bool online = cv_stream_online(st);
    *last_frame_wall_us = stats.last_frame_wall_us;
    cv_stream_unref(st);
    return online;
}

static int api_probe_pull(void *ctx, const char *url, int transport,
                          void (*done)(void *arg, const cv_api_probe_result *r), void *arg)
{
    cv_server *s = ctx;
    return cv_probes_start(s->probes, url, transport, 0, done, arg);
}

static int start_http(cv_server *s)
{
    const char *host = s->cfg.bind_addr;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = "127.0.0.1";
    snprintf(s->rtsp_base, sizeof(s->rtsp_base), strchr(host, ':') ? "rtsp://[%s]:%d" : "rtsp://%s:%d", host,
             cv_rtsp_server_port(s->rtsp));
    int rc = load_metrics_token(s);
    if (rc < 0)
        return rc;
    cv_watch_config wc = {
        .loop = s->loop,
        .reg = s->reg,
        .check_token = watch_check_token,
        .still_allowed = watch_still_allowed,
        .on_event = watch_event,
        .ctx = s->access,
    };
    cv_hls_config_default(&wc.hls);
    wc.hls.part_target_us = s->cfg.hls_part_ms * 1000LL;
    wc.hls.segment_target_us = s->cfg.hls_segment_ms * 1000LL;
    wc.hls.target_duration_s = s->cfg.hls_target_s;
    s->watch = cv_watch_new(&wc);
    if (!s->watch)
        return -ENOMEM;
    /* Plain HTTP is for loopback: bound beyond it, it stays on 127.0.0.1
     * and everything else goes through HTTPS. */
    bool loop_only = cv_config_is_loopback(&s->cfg);
    cv_http_server_config hc = {
        .bind_addr = loop_only ? s->cfg.bind_addr : "127.0.0.1",
        .port = s->cfg.http_port,
        .max_connections = s->cfg.max_connections,
        .idle_timeout_s = s->cfg.http_timeout_s,
        .handle = http_handle,
        .ctx = s,
    };
    rc = cv_http_server_start(&s->http, s->loop, &hc);
    if (rc < 0) {
        CV_ERROR("cannot listen for HTTP on %s:%d: %s", hc.bind_addr, s->cfg.http_port, strerror(-rc));
        return rc;
    }
    if (s->cfg.https_port >= 0) {
        if (!s->tls && (rc = make_tls(s)) < 0)
            return rc;
        hc.bind_addr = s->cfg.bind_addr;
        hc.port = s->cfg.https_port;
        hc.tls = s->tls;
        rc = cv_http_server_start(&s->https, s->loop, &hc);
        if (rc < 0) {
            CV_ERROR("cannot listen for HTTPS on %s:%d: %s", s->cfg.bind_addr, s->cfg.https_port, strerror(-rc));
            return rc;
        }
    }
    /* Requests wait for the loop to run, so the API can come last, once
     * the ports its links name are known. */
    cv_config_http_base(&s->cfg, cv_http_server_port(s->http), cv_server_https_port(s), s->http_base,
                        sizeof(s->http_base));
    cv_api_config ac = {
        .store = s->store,
        .key = s->key,
        .guard = cv_access_guard(s->access),
        .rtsp_base = s->rtsp_base,
        .http_base = s->http_base,
        .on_change = api_changed,
        .on_change_ctx = s,
        .camera_status = api_camera_status,
        .camera_status_ctx = s,
        .probe_pull = api_probe_pull,
        .probe_pull_ctx = s,
    };
    s->probes = cv_probes_new(s->loop, &s->cfg.limits);
    if (!s->probes)
        return -ENOMEM;
    s->api = cv_api_new(s->loop, &ac);
    if (!s->api)
        return -ENOMEM;
    return start_handlers(s);
}

/* FFmpeg's messages (a decoder complaining about a corrupt picture from a
 * camera) go to our log at debug level, one line each, not raw to stderr.
 * Called from the thread pool too: the log writes whole lines. */
static void av_log_to_ours(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level > AV_LOG_WARNING || level > av_log_get_level())
        return;
    char line[512];
    int prefix = 1;
    av_log_format_line(avcl, level, fmt, vl, line, sizeof(line), &prefix);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = 0;
    if (n)
        CV_DEBUG("ffmpeg: %s", line);
}

int cv_server_start(cv_server **out, uv_loop_t *loop, const cv_config *cfg)
{
    av_log_set_callback(av_log_to_ours);
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
    /* HTTPS and RTSPS share one context, so a reload applies to both. */
    if (cfg->rtsps_port >= 0 && (rc = make_tls(s)) < 0)
        goto err_reg;
    cv_rtsp_server_config rc_cfg = {
        .bind_addr = cfg->bind_addr,
        .port = cfg->rtsp_port,
        .session_timeout_s = cfg->session_timeout_s,
        .max_connections = cfg->max_connections,
        .authorize = cv_access_rtsp_authorize,
        .still_allowed = cv_access_rtsp_still_allowed,
        .on_event = cv_access_rtsp_event,
        .ctx = s->access,
        .tls = cfg->rtsps_port >= 0 ? s->tls : NULL,
        .tls_port = cfg->rtsps_port,
    };
    if ((rc = cv_rtsp_server_start(&s->rtsp, loop, s->reg, &rc_cfg)) < 0)
        goto err_reg;
    CV_INFO("rtsp listening on %s:%d", cfg->bind_addr, cv_rtsp_server_port(s->rtsp));
    if (rc_cfg.tls)
        CV_INFO("rtsps listening on %s:%d", cfg->bind_addr, cv_rtsp_server_tls_port(s->rtsp));
    if ((rc = start_http(s)) < 0)
        goto err_rtsp;
    if (!cv_config_is_loopback(cfg))
        CV_WARN("listening beyond loopback (%s): plain RTSP is not encrypted (RTSPS is%s); viewers authenticate "
                "with tokens or Digest app passwords, cameras with Digest ingest secrets",
                cfg->bind_addr, cv_server_rtsps_port(s) >= 0 ? "" : " off");
    s->data_version = cv_store_data_version(s->store);
    reconcile(s);
    uv_timer_init(loop, &s->reconcile);
    s->reconcile.data = s;
    uv_timer_start(&s->reconcile, on_reconcile, RECONCILE_MS, RECONCILE_MS);
    *out = s;
    return 0;
err_rtsp:
    /* The servers free themselves once their handles closed; run the loop's
     * close callbacks before the registry goes. */
    if (s->https)
        cv_http_server_stop(s->https, NULL, NULL);
    if (s->http)
        cv_http_server_stop(s->http, NULL, NULL);
    cv_rtsp_server_stop(s->rtsp, NULL, NULL);
    cv_probes_free(s->probes);
    uv_run(loop, UV_RUN_NOWAIT);
    cv_watch_free(s->watch);
    stop_handlers(s);
    cv_api_free(s->api);
    cv_tls_ctx_free(s->tls);
    s->tls = NULL;
err_reg:
    cv_tls_ctx_free(s->tls); /* NULL-safe; err_rtsp has freed and cleared it */
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
int cv_server_https_port(const cv_server *s) { return s->https ? cv_http_server_port(s->https) : -1; }
int cv_server_rtsps_port(const cv_server *s) { return cv_rtsp_server_tls_port(s->rtsp); }

static void rtsp_stopped(void *ctx)
{
    cv_server *s = ctx;
    stop_handlers(s);
    cv_api_free(s->api);
    cv_registry_free(s->reg);
    cv_tls_ctx_free(s->tls);
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
    /* No HTTP request is left: end the live answers' state, then RTSP. */
    cv_watch_free(s->watch);
    s->watch = NULL;
    cv_rtsp_server_stop(s->rtsp, rtsp_stopped, s);
}

static void https_stopped(void *ctx)
{
    cv_server *s = ctx;
    cv_http_server_stop(s->http, http_stopped, s);
}

static void reconcile_closed(uv_handle_t *h)
{
    cv_server *s = h->data;
    if (s->https)
        cv_http_server_stop(s->https, https_stopped, s);
    else
        cv_http_server_stop(s->http, http_stopped, s);
}

void cv_server_stop(cv_server *s, void (*done)(void *), void *ctx)
{
    s->done = done;
    s->done_ctx = ctx;
    /* Test connections answer now (503), while the API and HTTP still run. */
    cv_probes_free(s->probes);
    s->probes = NULL;
    for (size_t i = 0; i < s->ncams; i++) {
        if (s->cams[i].puller)
            cv_puller_stop(s->cams[i].puller);
        if (s->cams[i].sub_puller)
            cv_puller_stop(s->cams[i].sub_puller);
        s->cams[i].puller = s->cams[i].sub_puller = NULL;
    }
    uv_close((uv_handle_t *)&s->reconcile, reconcile_closed);
}
