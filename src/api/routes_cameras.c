/* /cameras, /homes/{id}/cameras and /grants. A camera, home or grant the
 * caller may not act on is 403 whether or not it exists. */
#define CV_LOG_MODULE "api"
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "base/log.h"

static void cameras_reply(cv__api_call *c, cv_camera_rec *cams, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, cv__api_camera_json(c, &cams[i]));
    sodium_memzero(cams, n * sizeof(*cams)); /* sealed values were read along */
    free(cams);
    cv__api_reply(c, 200, json_pack("{s:o}", "cameras", arr), NULL);
}

void cv__api_cameras_list(cv__api_call *c)
{
    cv_camera_rec *cams = NULL;
    size_t n = 0;
    int rc = c->user.admin ? cv_store_camera_list(c->api->store, NULL, &cams, &n)
                           : cv_store_user_cameras(c->api->store, &c->user.id, cv_wall_us(), &cams, &n);
    if (rc != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    cameras_reply(c, cams, n);
}

/* Camera records are 5 KiB: on the heap. */
static cv_camera_rec *camera_alloc(cv__api_call *c)
{
    cv_camera_rec *r = malloc(sizeof(*r));
    if (!r)
        cv__api_error(c, 500, "out of memory");
    return r;
}

static void camera_free(cv_camera_rec *r)
{
    if (r) {
        sodium_memzero(r, sizeof(*r));
        free(r);
    }
}

void cv__api_camera_get(cv__api_call *c)
{
    cv_camera_rec *r = camera_alloc(c);
    if (r && cv__api_camera(c, c->param[0], CV_ROLE_NONE, r))
        cv__api_reply(c, 200, cv__api_camera_json(c, r), NULL);
    camera_free(r);
}

static bool parse_transport(const cv_api_value *v, cv_pull_transport *out)
{
    *out = CV_PULL_AUTO;
    if (!v->present || strcmp(v->s, "auto") == 0)
        return true;
    if (strcmp(v->s, "tcp") == 0)
        *out = CV_PULL_TCP;
    else if (strcmp(v->s, "udp") == 0)
        *out = CV_PULL_UDP;
    else
        return false;
    return true;
}

/* The ingest URL (with the secret) for a push camera, shown once. */
static void ingest_url(cv__api_call *c, const cv_id *id, const char *secret, char *out, size_t cap)
{
    char hex[CV_ID_HEX_LEN + 1], suffix[48];
    cv_id_to_hex(id, hex);
    snprintf(suffix, sizeof(suffix), "/cam/%s", hex);
    cv__api_rtsp_url(c->api, "camera", secret, suffix, out, cap);
}

void cv__api_cameras_add(cv__api_call *c)
{
    const cv_api_value *name = &c->v[0], *model = &c->v[1], *pull = &c->v[2], *transport = &c->v[3];
    cv_home_rec h;
    if (!cv__api_home(c, c->param[0], CV_ROLE_MEMBER, &h, NULL))
        return;
    cv_admin_camera_spec spec = {.home = &h.id, .name = name->s, .model = model->present ? model->s : NULL,
                                 .pull_url = pull->present ? pull->s : NULL};
    if (!parse_transport(transport, &spec.transport)) {
        cv__api_error(c, 400, "transport: must be \"auto\", \"tcp\" or \"udp\"");
        return;
    }
    if (transport->present && !pull->present) {
        cv__api_error(c, 400, "transport: only for pull cameras (with pull_url)");
        return;
    }
    char secret[64] = "", err[160] = "", url[512];
    cv_id id;
    int rc = cv_admin_camera_add(&c->adm, &spec, &id, secret, err, sizeof(err));
    cv_camera_rec *r = rc == 0 ? camera_alloc(c) : NULL;
    if (rc < 0) {
        cv__api_admin_error(c, rc, err);
    } else if (r && cv_store_camera_get(c->api->store, &id, r) != 0) {
        cv__api_error(c, 500, "internal error");
    } else if (r) {
        json_t *o = cv__api_camera_json(c, r);
        if (o && r->source == CV_CAM_PUSH) {
            ingest_url(c, &id, secret, url, sizeof(url));
            json_object_set_new(o, "ingest_url", json_string(url));
            sodium_memzero(url, sizeof(url));
        }
        cv__api_reply(c, 201, o, NULL);
    }
    sodium_memzero(secret, sizeof(secret));
    camera_free(r);
}

void cv__api_camera_remove(cv__api_call *c)
{
    char err[160] = "";
    cv_camera_rec *r = camera_alloc(c);
    if (r && cv__api_camera(c, c->param[0], CV_ROLE_OWNER, r)) {
        int rc = cv_admin_camera_remove(&c->adm, &r->id, err, sizeof(err));
        if (rc < 0)
            cv__api_admin_error(c, rc, err);
        else
            cv__api_reply(c, 204, NULL, NULL);
    }
    camera_free(r);
}

void cv__api_camera_rotate(cv__api_call *c)
{
    char secret[64] = "", err[160] = "", url[512];
    cv_camera_rec *r = camera_alloc(c);
    if (!r || !cv__api_camera(c, c->param[0], CV_ROLE_OWNER, r)) {
        camera_free(r);
        return;
    }
    int rc = r->source != CV_CAM_PUSH ? -EINVAL : cv_admin_camera_rotate(&c->adm, &r->id, secret, err, sizeof(err));
    if (rc == -EINVAL && r->source != CV_CAM_PUSH) {
        cv__api_error(c, 400, "only push cameras have an ingest secret");
    } else if (rc < 0) {
        cv__api_admin_error(c, rc, err);
    } else {
        ingest_url(c, &r->id, secret, url, sizeof(url));
        cv__api_reply(c, 200, json_pack("{s:o,s:s}", "id", cv__api_jid(&r->id), "ingest_url", url), NULL);
        sodium_memzero(url, sizeof(url));
    }
    sodium_memzero(secret, sizeof(secret));
    camera_free(r);
}

void cv__api_camera_rename(cv__api_call *c)
{
    const cv_api_value *name = &c->v[0];
    char err[160] = "";
    cv_camera_rec *r = camera_alloc(c);
    if (!r || !cv__api_camera(c, c->param[0], CV_ROLE_MEMBER, r)) {
        camera_free(r);
        return;
    }
    int rc = cv_admin_camera_rename(&c->adm, &r->id, name->s, err, sizeof(err));
    if (rc < 0)
        cv__api_admin_error(c, rc, err);
    else if (cv_store_camera_get(c->api->store, &r->id, r) != 0)
        cv__api_error(c, 500, "internal error");
    else
        cv__api_reply(c, 200, cv__api_camera_json(c, r), NULL);
    camera_free(r);
}

/* ------------------------------------------------------- test a pull URL */

static void probe_done(void *arg, const cv_api_probe_result *res)
{
    cv__api_call *c = arg;
    cv_api *a = c->api;
    a->pending--;
    if (a->freed || res->aborted) {
        /* The server is stopping: the request may be gone already
         * (answering just releases it), the store may be closed. */
        cv__api_error(c, 503, "shutting down");
    } else if (!res->ok) {
        cv__api_reply(c, 200, json_pack("{s:b,s:o}", "ok", false, "error", cv__api_jstr(res->error)), NULL);
    } else {
        json_t *video = res->video ? json_pack("{s:s}", "codec", res->video) : json_null();
        if (res->video) {
            json_object_set_new(video, "width", res->width > 0 ? json_integer(res->width) : json_null());
            json_object_set_new(video, "height", res->height > 0 ? json_integer(res->height) : json_null());
        }
        json_t *audio = res->audio ? json_pack("{s:s}", "codec", res->audio) : json_null();
        cv__api_reply(c, 200, json_pack("{s:b,s:o,s:o}", "ok", true, "video", video, "audio", audio), NULL);
    }
    bool last = a->freed && a->pending == 0;
    cv__api_call_free(c);
    if (last)
        free(a);
}

void cv__api_camera_test(cv__api_call *c)
{
    const cv_api_value *pull = &c->v[0], *transport = &c->v[1];
    cv_home_rec h;
    cv_pull_transport t;
    if (!cv__api_home(c, c->param[0], CV_ROLE_MEMBER, &h, NULL))
        return;
    if (!parse_transport(transport, &t)) {
        cv__api_error(c, 400, "transport: must be \"auto\", \"tcp\" or \"udp\"");
        return;
    }
    if (strncmp(pull->s, "rtsp://", 7) != 0) {
        cv__api_error(c, 400, "pull_url: expected rtsp://[user:pass@]host[:port]/path");
        return;
    }
    if (!c->api->probe_pull) {
        cv__api_error(c, 501, "testing cameras is not available on this server");
        return;
    }
    /* Marked before the call: done never runs from inside probe_pull, and
     * this call must outlive the handler until it does. */
    c->async = true;
    c->api->pending++;
    int rc = c->api->probe_pull(c->api->probe_pull_ctx, pull->s, (int)t, probe_done, c);
    if (rc < 0) {
        c->async = false;
        c->api->pending--;
        if (rc == -EINVAL)
            cv__api_error(c, 400, "pull_url: expected rtsp://[user:pass@]host[:port]/path");
        else
            cv__api_error(c, 503, "cannot test cameras now");
    }
}

/* --------------------------------------------------------------- grants */

static json_t *grant_json(const cv_grant_rec *g, int64_t now)
{
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:I,s:b,s:I}", "id", cv__api_jid(&g->id), "camera",
                     cv__api_jid(&g->camera), "user", cv__api_jid(&g->user), "login", cv__api_jstr(g->login),
                     "scopes", cv__api_jscopes(g->scopes), "expires", (json_int_t)(g->expires_us / 1000000),
                     "expired", g->expires_us <= now, "created", (json_int_t)(g->created_us / 1000000));
}

void cv__api_grants_list(cv__api_call *c)
{
    cv_grant_rec *g = NULL;
    size_t n = 0;
    cv_camera_rec *r = camera_alloc(c);
    if (!r || !cv__api_camera(c, c->param[0], CV_ROLE_MEMBER, r)) {
        camera_free(r);
        return;
    }
    if (cv_store_grant_list(c->api->store, &r->id, NULL, &g, &n) != 0) {
        cv__api_error(c, 500, "internal error");
    } else {
        int64_t now = cv_wall_us();
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, grant_json(&g[i], now));
        cv__api_reply(c, 200, json_pack("{s:o}", "grants", arr), NULL);
    }
    free(g);
    camera_free(r);
}

void cv__api_home_grants(cv__api_call *c)
{
    cv_home_rec h;
    if (!cv__api_home(c, c->param[0], CV_ROLE_MEMBER, &h, NULL))
        return;
    cv_home_grant_rec *g = NULL;
    size_t n = 0;
    int64_t now = cv_wall_us();
    if (cv_store_home_grants(c->api->store, &h.id, now, &g, &n) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = grant_json(&g[i].grant, now);
        if (o)
            json_object_set_new(o, "camera", json_pack("{s:o,s:o}", "id", cv__api_jid(&g[i].grant.camera), "name",
                                                       cv__api_jstr(g[i].camera_name)));
        json_array_append_new(arr, o);
    }
    free(g);
    cv__api_reply(c, 200, json_pack("{s:o}", "grants", arr), NULL);
}

void cv__api_grants_add(cv__api_call *c)
{
    const cv_api_value *login = &c->v[0], *scopes = &c->v[1], *expires_in = &c->v[2];
    cv_camera_rec *r = camera_alloc(c);
    if (!r || !cv__api_camera(c, c->param[0], CV_ROLE_MEMBER, r)) {
        camera_free(r);
        return;
    }
    cv_user_rec u;
    cv_grant_rec g;
    cv_id id;
    char err[160] = "";
    int64_t expires = cv_wall_us() + expires_in->i * 1000000;
    if (cv_store_user_find(c->api->store, login->s, &u, NULL) != 0) {
        cv__api_error(c, 400, "login: no such user");
    } else {
        int rc = cv_admin_grant_add(&c->adm, &r->id, &u.id, scopes->scopes, expires, &id, err, sizeof(err));
        if (rc < 0)
            cv__api_admin_error(c, rc, err);
        else if (cv_store_grant_get(c->api->store, &id, &g) != 0)
            cv__api_error(c, 500, "internal error");
        else
            cv__api_reply(c, 201, grant_json(&g, cv_wall_us()), NULL);
    }
    camera_free(r);
}

void cv__api_grant_remove(cv__api_call *c)
{
    cv_id id;
    cv_grant_rec g;
    char hex[CV_ID_HEX_LEN + 1], err[160] = "";
    if (!cv__api_parse_id(c->param[0], &id) || cv_store_grant_get(c->api->store, &id, &g) != 0) {
        cv__api_forbidden(c);
        return;
    }
    cv_camera_rec *r = camera_alloc(c);
    cv_id_to_hex(&g.camera, hex);
    if (r && cv__api_camera(c, hex, CV_ROLE_MEMBER, r)) {
        int rc = cv_admin_grant_remove(&c->adm, &id, err, sizeof(err));
        if (rc < 0)
            cv__api_admin_error(c, rc, err);
        else
            cv__api_reply(c, 204, NULL, NULL);
    }
    camera_free(r);
}
