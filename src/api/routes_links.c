/* Partner links: a user's own (/me/links: list, unlink) and the operator's
 * kill switch over whole integrations (/integrations: list, disable, enable,
 * optionally for one camera model). The store audits every change and
 * revokes what an unlink takes with it; the answer's on_change makes the
 * server recheck live views at once, which is what ends them. */
#define CV_LOG_MODULE "api"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "base/log.h"
#include "store/oauth.h"

static cv_store_actor actor(cv__api_call *c) { return (cv_store_actor){c->actor, c->peer, "http"}; }

void cv__api_links_list(cv__api_call *c)
{
    cv_oauth_link_rec *links = NULL;
    size_t n = 0;
    cv_integration_rec *in = malloc(sizeof(*in));
    json_t *arr = json_array();
    if (!in || !arr || cv_store_oauth_link_list(c->api->store, &c->user.id, &links, &n) != 0) {
        json_decref(arr);
        cv__api_error(c, 500, "internal error");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (cv_store_integration_get(c->api->store, &links[i].integration, in) != 0)
            continue; /* removed since: its links went with it */
        json_array_append_new(arr, json_pack("{s:o,s:{s:o,s:o},s:I}", "id", cv__api_jid(&links[i].id), "integration",
                                             "id", cv__api_jid(&in->id), "name", cv__api_jstr(in->name), "created",
                                             (json_int_t)(links[i].created_us / 1000000)));
    }
    cv__api_reply(c, 200, json_pack("{s:o}", "links", arr), NULL);
out:
    free(links);
    free(in);
}

void cv__api_link_remove(cv__api_call *c)
{
    cv_id id;
    cv_oauth_link_rec l;
    int64_t revoked = 0;
    /* Someone else's link answers as a link that does not exist. */
    if (!cv__api_parse_id(c->param[0], &id) || cv_store_oauth_link_get(c->api->store, &id, &l, &revoked) != 0 ||
        revoked || !cv_id_eq(&l.user, &c->user.id)) {
        cv__api_error(c, 404, "no such link");
        return;
    }
    cv_store_actor by = actor(c);
    int rc = cv_store_oauth_link_revoke(c->api->store, &id, cv_wall_us(), &by);
    if (rc == -ENOENT) {
        cv__api_error(c, 404, "no such link");
        return;
    }
    if (rc != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    CV_INFO("%s unlinked link %s", c->actor, c->param[0]);
    cv__api_reply(c, 204, NULL, NULL);
}

static json_t *integration_json(const cv_integration_rec *r)
{
    json_t *uris = json_array(), *models = json_array();
    for (size_t i = 0; i < r->nredirect; i++)
        json_array_append_new(uris, cv__api_jstr(r->redirect_uris[i]));
    for (size_t i = 0; i < r->nmodels; i++)
        json_array_append_new(models, cv__api_jstr(r->disabled_models[i]));
    return json_pack("{s:o,s:o,s:o,s:o,s:b,s:o,s:I}", "id", cv__api_jid(&r->id), "name", cv__api_jstr(r->name),
                     "client_id", cv__api_jstr(r->client_id), "redirect_uris", uris, "disabled", r->disabled,
                     "disabled_models", models, "created", (json_int_t)(r->created_us / 1000000));
}

void cv__api_integrations_list(cv__api_call *c)
{
    cv_integration_rec *list = NULL;
    size_t n = 0;
    if (cv_store_integration_list(c->api->store, &list, &n) != 0) {
        cv__api_error(c, 500, "internal error");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, integration_json(&list[i]));
    free(list);
    cv__api_reply(c, 200, json_pack("{s:o}", "integrations", arr), NULL);
}

static void set_disabled(cv__api_call *c, bool disabled)
{
    const cv_api_value *model = &c->v[0];
    cv_id id;
    cv_integration_rec *r = malloc(sizeof(*r));
    if (!r) {
        cv__api_error(c, 500, "out of memory");
        return;
    }
    if (!cv__api_parse_id(c->param[0], &id) || cv_store_integration_get(c->api->store, &id, r) != 0) {
        cv__api_error(c, 404, "no such integration");
        goto out;
    }
    cv_store_actor by = actor(c);
    int rc = cv_store_integration_set_disabled(c->api->store, &id, disabled, model->present ? model->s : NULL,
                                               cv_wall_us(), &by);
    if (rc == 0)
        rc = cv_store_integration_get(c->api->store, &id, r);
    switch (rc) {
    case 0:
        CV_INFO("%s %s integration %s%s%s", c->actor, disabled ? "disabled" : "enabled", r->name,
                model->present ? " for camera model " : "", model->present ? "(given)" : "");
        cv__api_reply(c, 200, integration_json(r), NULL);
        break;
    case -EINVAL: cv__api_error(c, 400, "camera_model must be 1 to 63 printable characters"); break;
    case -ENOSPC: cv__api_error(c, 409, "too many disabled camera models"); break;
    case -ENOENT: cv__api_error(c, 404, "no such integration"); break;
    default: cv__api_error(c, 500, "internal error");
    }
out:
    free(r);
}

void cv__api_integration_disable(cv__api_call *c) { set_disabled(c, true); }
void cv__api_integration_enable(cv__api_call *c) { set_disabled(c, false); }
