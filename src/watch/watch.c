#define CV_LOG_MODULE "watch"
#include "watch/watch_int.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/util.h"
#include "auth/token.h"
#include "http/parse.h"
#include "store/people.h"

/* ------------------------------------------------------------ answers */

void cv__watch_json_error(cv_http_req *req, int status, const char *msg, const char *extra)
{
    char body[256], hdr[256];
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", msg);
    snprintf(hdr, sizeof(hdr), "%s%s", CV_WATCH_NO_STORE, extra ? extra : "");
    cv_http_respond(req, status, "application/json", body, (size_t)n, hdr);
}

void cv__watch_offline(cv_watch *w, cv_http_req *req, const cv_stream *s)
{
    char body[160], when[40] = "null";
    cv_stream_stats st = {0};
    if (s)
        cv_stream_get_stats(s, &st);
    if (st.last_frame_wall_us > 0) {
        time_t t = (time_t)(st.last_frame_wall_us / 1000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
    }
    int n = snprintf(body, sizeof(body), "{\"error\":\"camera offline\",\"last_seen\":%s}", when);
    (void)w;
    cv_http_respond(req, 503, "application/json", body, (size_t)n, CV_WATCH_NO_STORE "Retry-After: 2\r\n");
}

void cv__watch_event(cv_watch *w, cv_rtsp_event_kind kind, const cv__wreq *r, const char *detail)
{
    static const char *const names[] = {"hls", "mp4", "mjpeg", "snapshot"};
    if (w->cfg.on_event)
        w->cfg.on_event(w->cfg.ctx, kind, &r->camera, &r->acc, r->peer, names[r->proto], detail);
}

cv_stream *cv__watch_stream(cv_watch *w, const cv_id *camera, bool sub)
{
    cv_stream *main = cv_registry_find(w->cfg.reg, camera);
    if (!main || !sub)
        return main;
    cv_stream *s = cv_stream_ext(main, CV_STREAM_EXT_SUB);
    if (s)
        cv_stream_ref(s);
    cv_stream_unref(main);
    return s;
}

/* The last write: whatever is about to reach the socket must come from the
 * camera this request was authorised for. */
bool cv__watch_provenance_ok(cv__wreq *r, const cv_frame *f)
{
    if (cv_id_eq(&f->meta.camera, &r->camera))
        return true;
    r->w->stats.isolation_violations++;
    char a[CV_ID_HEX_LEN + 1], b[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&r->camera, a);
    cv_id_to_hex(&f->meta.camera, b);
    CV_ERROR("SECURITY: isolation violation: a %s answer for camera %s was about to carry data of camera %s; "
             "refused",
             r->proto == CV_WATCH_HLS ? "HLS" : r->proto == CV_WATCH_MP4 ? "MP4" : "picture", a, b);
    cv__watch_event(r->w, CV_RTSP_EV_ISOLATION, r, "http");
    return false;
}

/* ------------------------------------------------------------ requests */

static void wreq_free(uv_handle_t *h) { free(h->data); }

cv__wreq *cv__wreq_new(cv_watch *w, cv_http_req *req, cv__wr_kind kind, const cv_id *camera)
{
    cv__wreq *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->w = w;
    r->req = req;
    r->kind = kind;
    r->camera = *camera;
    r->part = -1;
    snprintf(r->peer, sizeof(r->peer), "%s", cv_http_req_peer(req));
    r->head = strcmp(cv_http_req_method(req), "HEAD") == 0;
    uv_timer_init(w->cfg.loop, &r->timer);
    r->timer.data = r;
    return r;
}

void cv__watch_live_add(cv__wreq *r)
{
    cv_watch *w = r->w;
    r->next = w->live;
    if (w->live)
        w->live->prev = r;
    w->live = r;
    r->in_live = true;
    w->stats.live[r->proto]++;
}

/* Frees the request state (the HTTP request must already be answered or
 * gone). */
void cv__wreq_release(cv__wreq *r)
{
    if (r->closing)
        return;
    r->closing = true;
    cv_watch *w = r->w;
    if (r->in_live) {
        if (r->prev)
            r->prev->next = r->next;
        else
            w->live = r->next;
        if (r->next)
            r->next->prev = r->prev;
        r->in_live = false;
        w->stats.live[r->proto]--;
    }
    cv_hls_wait_cancel(r->wait);
    r->wait = NULL;
    cv_hls_unfollow(r->fol);
    r->fol = NULL;
    if (r->pw)
        cv_pic_watch_stop(r->pw);
    r->pw = NULL;
    if (r->snap)
        cv_pic_cancel(r->snap);
    r->snap = NULL;
    cv_stream_unref(r->stream);
    r->stream = NULL;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, wreq_free);
}

/* ------------------------------------------------------------ sessions */

static cv__wsess *sess_find(cv_watch *w, const uint8_t id[CV_WATCH_SID_BYTES])
{
    cv__wsess *s = NULL;
    HASH_FIND(hh, w->sessions, id, CV_WATCH_SID_BYTES, s);
    return s;
}

static void sess_remove(cv_watch *w, cv__wsess *s)
{
    HASH_DEL(w->sessions, s);
    w->nsessions--;
    w->stats.live[CV_WATCH_HLS] = (uint32_t)w->nsessions;
    sodium_memzero(s, sizeof(*s));
    free(s);
}

/* Sessions one capability may hold at once: a client that fetches the
 * multivariant playlist in a loop recycles its own oldest session rather
 * than fill the table for everyone. */
#define SESSIONS_PER_ACCESS 16

static void sess_limit(cv_watch *w, const cv_rtsp_access *acc)
{
    size_t n = 0;
    cv__wsess *s, *tmp, *oldest = NULL;
    HASH_ITER(hh, w->sessions, s, tmp)
    {
        if (s->acc.kind != acc->kind || memcmp(s->acc.token_hash, acc->token_hash, sizeof(acc->token_hash)) != 0 ||
            !cv_id_eq(&s->acc.principal, &acc->principal))
            continue;
        n++;
        if (!oldest || s->last_us < oldest->last_us)
            oldest = s;
    }
    if (n >= SESSIONS_PER_ACCESS && oldest)
        sess_remove(w, oldest);
}

static cv__wsess *sess_new(cv_watch *w, const cv_id *camera, const cv_rtsp_access *acc, const char *peer)
{
    sess_limit(w, acc);
    if (w->nsessions >= w->cfg.max_sessions)
        return NULL;
    cv__wsess *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    randombytes_buf(s->id, sizeof(s->id));
    s->camera = *camera;
    s->acc = *acc;
    s->last_us = cv_now_us();
    snprintf(s->peer, sizeof(s->peer), "%s", peer);
    HASH_ADD(hh, w->sessions, id, CV_WATCH_SID_BYTES, s);
    w->nsessions++;
    w->stats.live[CV_WATCH_HLS] = (uint32_t)w->nsessions;
    return s;
}

bool cv__watch_session_alive(cv_watch *w, const uint8_t id[CV_WATCH_SID_BYTES])
{
    return sess_find(w, id) != NULL;
}

/* ------------------------------------------------------------ routing */

static bool parse_u64(const char *p, size_t n, uint64_t max, uint64_t *out)
{
    return n > 0 && n <= 18 && cv_str_to_u64((cv_str){p, n}, max, out) == 0;
}

bool cv__watch_parse_route(cv_str rest, cv__watch_route *out)
{
    memset(out, 0, sizeof(*out));
    out->part = -1;
    if (cv_str_eq(rest, CV_STR_LIT("index.m3u8")))
        return out->kind = WR_MULTIVARIANT, true;
    if (cv_str_eq(rest, CV_STR_LIT("live.mp4")))
        return out->kind = WR_MP4, true;
    if (cv_str_eq(rest, CV_STR_LIT("live.mjpeg")))
        return out->kind = WR_MJPEG, true;
    if (cv_str_eq(rest, CV_STR_LIT("snapshot.jpg")))
        return out->kind = WR_SNAPSHOT, true;
    if (rest.len > 5 && memcmp(rest.p, "main/", 5) == 0) {
        rest.p += 5, rest.len -= 5;
    } else if (rest.len > 4 && memcmp(rest.p, "sub/", 4) == 0) {
        out->sub = true;
        rest.p += 4, rest.len -= 4;
    } else {
        return false;
    }
    if (cv_str_eq(rest, CV_STR_LIT("live.m3u8")))
        return out->kind = WR_PLAYLIST, true;
    if (cv_str_eq(rest, CV_STR_LIT("init.mp4")))
        return out->kind = WR_INIT, true;
    uint64_t v;
    if (rest.len > 8 && memcmp(rest.p, "init", 4) == 0 && memcmp(rest.p + rest.len - 4, ".mp4", 4) == 0) {
        if (!parse_u64(rest.p + 4, rest.len - 8, 1000000, &v))
            return false;
        out->kind = WR_INIT;
        out->msn = (int64_t)v; /* the init generation */
        return true;
    }
    if (rest.len < 6 || memcmp(rest.p + rest.len - 4, ".m4s", 4) != 0)
        return false;
    const char *p = rest.p + 1;
    size_t n = rest.len - 5;
    if (rest.p[0] == 's') {
        if (!parse_u64(p, n, INT64_MAX / 2, &v))
            return false;
        out->kind = WR_SEGMENT;
        out->msn = (int64_t)v;
        return true;
    }
    if (rest.p[0] != 'p')
        return false;
    const char *dot = memchr(p, '.', n);
    uint64_t pv;
    if (!dot || !parse_u64(p, (size_t)(dot - p), INT64_MAX / 2, &v) ||
        !parse_u64(dot + 1, n - (size_t)(dot - p) - 1, 100000, &pv))
        return false;
    out->kind = WR_PART;
    out->msn = (int64_t)v;
    out->part = (int)pv;
    return true;
}

static int proto_of(cv__wr_kind k)
{
    switch (k) {
    case WR_MP4:
        return CV_WATCH_MP4;
    case WR_MJPEG:
        return CV_WATCH_MJPEG;
    case WR_SNAPSHOT:
        return CV_WATCH_SNAPSHOT;
    default:
        return CV_WATCH_HLS;
    }
}

/* The capability: a token (query or Bearer) or, for HLS, a session id.
 * Returns true when r->acc is set; otherwise the request was answered. */
static bool authorize(cv_watch *w, cv__wreq *r, cv_http_req *req)
{
    char sid[2 * CV_WATCH_SID_BYTES + 8];
    int n = cv_http_req_query_param(req, "s", sid, sizeof(sid));
    if (n >= 0 && r->proto == CV_WATCH_HLS) {
        uint8_t id[CV_WATCH_SID_BYTES];
        cv__wsess *s = NULL;
        if (n == 2 * CV_WATCH_SID_BYTES && sodium_hex2bin(id, sizeof(id), sid, (size_t)n, NULL, NULL, NULL) == 0)
            s = sess_find(w, id);
        /* An unknown, expired or revoked session and a session of another
         * camera get the same answer: start again with a token. */
        if (!s || !cv_id_eq(&s->camera, &r->camera)) {
            w->stats.refused++;
            cv__watch_json_error(req, 401, "session expired or unknown: reload with a token", NULL);
            return false;
        }
        s->last_us = cv_now_us();
        r->acc = s->acc;
        memcpy(r->sid, s->id, sizeof(r->sid));
        r->has_sid = true;
        sodium_bin2hex(r->sid_hex, sizeof(r->sid_hex), r->sid, sizeof(r->sid));
        return true;
    }
    char tok[CV_TOKEN_MAX + 8];
    n = cv_http_req_query_param(req, "token", tok, sizeof(tok));
    cv_str t;
    if (n < 0 && cv_http_bearer(cv_http_req_header(req, "Authorization"), &t) && t.len < sizeof(tok)) {
        memcpy(tok, t.p, t.len);
        tok[t.len] = 0;
        n = (int)t.len;
    }
    if (n < 0) {
        w->stats.refused++;
        cv__watch_json_error(req, 401, "a capability token is required", "WWW-Authenticate: Bearer realm=\"camvault\"\r\n");
        return false;
    }
    uint32_t scope = r->proto == CV_WATCH_SNAPSHOT ? (CV_SCOPE_SNAPSHOT | CV_SCOPE_LIVE) : CV_SCOPE_LIVE;
    int64_t retry = 0;
    int st = w->cfg.check_token(w->cfg.ctx, tok, (size_t)n, &r->camera, scope, r->peer, &r->acc, &retry);
    sodium_memzero(tok, sizeof(tok));
    if (st == 200)
        return true;
    w->stats.refused++;
    if (st == 429) {
        char hdr[64];
        snprintf(hdr, sizeof(hdr), "Retry-After: %lld\r\n", (long long)retry);
        cv__watch_json_error(req, 429, "too many failed attempts", hdr);
    } else if (st == 403) {
        cv__watch_json_error(req, 403, "forbidden", NULL);
    } else if (st == 503) {
        static const char body[] = "{\"error\":\"stream unavailable\",\"reason\":\"switched off by the operator\"}";
        cv_http_respond(req, 503, "application/json", body, sizeof(body) - 1, CV_WATCH_NO_STORE "Retry-After: 30\r\n");
    } else {
        cv__watch_json_error(req, 401, "invalid, expired or revoked token",
                             "WWW-Authenticate: Bearer realm=\"camvault\", error=\"invalid_token\"\r\n");
    }
    return false;
}

/* An HLS request authorised by a token starts a session; its id goes into
 * every URL of the playlists it gets. */
static bool ensure_session(cv_watch *w, cv__wreq *r)
{
    if (r->has_sid)
        return true;
    cv__wsess *s = sess_new(w, &r->camera, &r->acc, r->peer);
    if (!s) {
        cv__watch_json_error(r->req, 503, "too many viewing sessions", "Retry-After: 5\r\n");
        return false;
    }
    memcpy(r->sid, s->id, sizeof(r->sid));
    r->has_sid = true;
    sodium_bin2hex(r->sid_hex, sizeof(r->sid_hex), r->sid, sizeof(r->sid));
    cv__watch_event(w, CV_RTSP_EV_VIEW_START, r, "session");
    return true;
}

bool cv_watch_handle(cv_watch *w, cv_http_req *req)
{
    cv_str path = cv_http_req_path(req);
    if (path.len < 5 || memcmp(path.p, "/cam/", 5) != 0)
        return false;
    cv_str rest = {path.p + 5, path.len - 5};
    cv_id camera;
    cv__watch_route rt;
    if (rest.len < CV_ID_HEX_LEN + 2 || rest.p[CV_ID_HEX_LEN] != '/' ||
        cv_id_from_hex(rest.p, CV_ID_HEX_LEN, &camera) != 0 ||
        !cv__watch_parse_route((cv_str){rest.p + CV_ID_HEX_LEN + 1, rest.len - CV_ID_HEX_LEN - 1}, &rt)) {
        cv__watch_json_error(req, 404, "not found", NULL);
        return true;
    }
    const char *m = cv_http_req_method(req);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        cv__watch_json_error(req, 405, "method not allowed", "Allow: GET, HEAD\r\n");
        return true;
    }
    cv__wreq *r = cv__wreq_new(w, req, rt.kind, &camera);
    if (!r) {
        cv__watch_json_error(req, 503, "out of memory", NULL);
        return true;
    }
    r->proto = proto_of(rt.kind);
    r->sub = rt.sub;
    r->msn = rt.msn;
    r->part = rt.part;
    w->stats.requests[r->proto]++;
    if (!authorize(w, r, req)) {
        r->req = NULL;
        cv__wreq_release(r);
        return true;
    }
    switch (rt.kind) {
    case WR_MP4:
        cv__watch_mp4(r);
        break;
    case WR_MJPEG:
        cv__watch_mjpeg(r);
        break;
    case WR_SNAPSHOT:
        cv__watch_snapshot(r);
        break;
    default:
        if (!ensure_session(w, r)) {
            r->req = NULL;
            cv__wreq_release(r);
            break;
        }
        cv__watch_hls(r);
        break;
    }
    return true;
}

/* ------------------------------------------------------------ lifecycle */

cv_watch *cv_watch_new(const cv_watch_config *cfg)
{
    if (!cfg->loop || !cfg->reg || !cfg->check_token || !cfg->still_allowed)
        return NULL;
    cv_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->cfg = *cfg;
    if (!w->cfg.hls.part_target_us)
        cv_hls_config_default(&w->cfg.hls);
    if (!w->cfg.session_idle_us)
        w->cfg.session_idle_us = 60 * 1000000LL;
    if (!w->cfg.max_sessions)
        w->cfg.max_sessions = 20000;
    if (!w->cfg.block_us)
        w->cfg.block_us = 3LL * w->cfg.hls.target_duration_s * 1000000;
    if (!w->cfg.stream_queue)
        w->cfg.stream_queue = 4u << 20;
    return w;
}

void cv_watch_free(cv_watch *w)
{
    if (!w)
        return;
    while (w->live)
        cv__watch_live_end(w->live, "server stopping");
    cv__wsess *s, *tmp;
    HASH_ITER(hh, w->sessions, s, tmp)
    sess_remove(w, s);
    free(w);
}

size_t cv_watch_recheck(cv_watch *w)
{
    size_t ended = 0;
    int64_t now = cv_now_us();
    cv__wsess *s, *tmp;
    HASH_ITER(hh, w->sessions, s, tmp)
    {
        if (now - s->last_us > w->cfg.session_idle_us) {
            sess_remove(w, s);
            continue;
        }
        if (!w->cfg.still_allowed(w->cfg.ctx, &s->camera, &s->acc)) {
            cv__wreq fake = {.w = w, .camera = s->camera, .acc = s->acc, .proto = CV_WATCH_HLS};
            snprintf(fake.peer, sizeof(fake.peer), "%s", s->peer);
            cv__watch_event(w, CV_RTSP_EV_REVOKED, &fake, "access revoked");
            sess_remove(w, s);
            w->stats.revoked++;
            ended++;
        }
    }
    cv__wreq *r = w->live, *next;
    for (; r; r = next) {
        next = r->next;
        if (r->closing || w->cfg.still_allowed(w->cfg.ctx, &r->camera, &r->acc))
            continue;
        cv__watch_event(w, CV_RTSP_EV_REVOKED, r, "access revoked");
        w->stats.revoked++;
        ended++;
        cv__watch_live_end(r, "access revoked"); /* frees r on a later turn; next stays linked */
    }
    return ended;
}

void cv_watch_drop_camera(cv_watch *w, const cv_id *camera)
{
    cv__wsess *s, *tmp;
    HASH_ITER(hh, w->sessions, s, tmp)
    {
        if (cv_id_eq(&s->camera, camera))
            sess_remove(w, s);
    }
    cv__wreq *r = w->live, *next;
    for (; r; r = next) {
        next = r->next;
        if (!r->closing && cv_id_eq(&r->camera, camera))
            cv__watch_live_end(r, "camera removed");
    }
}

void cv_watch_get_stats(const cv_watch *w, cv_watch_stats *out) { *out = w->stats; }
