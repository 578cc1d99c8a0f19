/* camvault integration add|list|disable|enable|remove: the partner platforms
 * (smart displays, assistants) that may link user accounts over OAuth 2.0.
 * The client secret is printed once, when the integration is added, and is
 * stored only as a keyed hash. disable/enable is the operator's kill switch,
 * for the whole integration or one camera model; every use is audited. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth/key.h"
#include "base/util.h"
#include "cli/cli.h"
#include "store/oauth.h"

enum { O_REDIRECT = CLI_OPT, O_MODEL };

static const struct option opts[] = {
    CLI_COMMON_LONGOPTS,
    {"redirect-uri", required_argument, 0, O_REDIRECT},
    {"camera-model", required_argument, 0, O_MODEL},
    {0, 0, 0, 0},
};

static void usage(FILE *out)
{
    fprintf(out, "usage:\n"
                 "  camvault integration add NAME --redirect-uri URI [--redirect-uri URI ...]\n"
                 "  camvault integration list\n"
                 "  camvault integration disable NAME [--camera-model M]\n"
                 "  camvault integration enable NAME [--camera-model M]\n"
                 "  camvault integration remove NAME\n"
                 "\n"
                 "An integration is a partner platform (a smart display, a voice assistant) that users\n"
                 "may link to their account with OAuth 2.0. 'add' prints its client id and client\n"
                 "secret; the secret is shown only this once. Redirect URIs are matched exactly and\n"
                 "must be https:// URLs (http://127.0.0.1 and http://localhost for local tests), with\n"
                 "no #fragment.\n"
                 "'disable' is the kill switch: the integration's new stream requests are refused and\n"
                 "its live views end; with --camera-model, only for cameras of that model. 'enable'\n"
                 "undoes it (without --camera-model: the whole integration and every model).\n"
                 "'remove' deletes the integration and unlinks every account linked to it.\n"
                 "\noptions:\n" CLI_COMMON_HELP
                 "  --redirect-uri URI  an allowed OAuth redirect URI (add; repeat for more)\n"
                 "  --camera-model M    limit disable/enable to cameras of this model\n");
}

typedef struct {
    const char *uri[CV_OAUTH_REDIRECTS_MAX];
    size_t n;
} redirects;

static cv_store_actor actor(const cli_admin *ad)
{
    cv_store_actor by = {ad->adm.actor, ad->adm.address, ad->adm.protocol};
    return by;
}

static int find(cli_args *a, cli_admin *ad, const char *name, cv_integration_rec *out)
{
    char buf[96];
    int rc = cv_store_integration_find_name(ad->store, name, out);
    if (rc == -ENOENT) {
        fprintf(stderr, "%s: no integration '%s'\n", a->prog, cli_safe(name, buf, sizeof(buf)));
        return 1;
    }
    return rc < 0 ? cli_fail(a, rc, "cannot read the integrations (store error, see the log)") : 0;
}

static json_t *integration_json(const cv_integration_rec *r)
{
    json_t *o = json_object(), *uris = json_array(), *models = json_array();
    json_object_set_new(o, "id", cli_jid(&r->id));
    json_object_set_new(o, "name", cli_jstr(r->name));
    json_object_set_new(o, "client_id", cli_jstr(r->client_id));
    for (size_t i = 0; i < r->nredirect; i++)
        json_array_append_new(uris, cli_jstr(r->redirect_uris[i]));
    json_object_set_new(o, "redirect_uris", uris);
    json_object_set_new(o, "disabled", json_boolean(r->disabled));
    for (size_t i = 0; i < r->nmodels; i++)
        json_array_append_new(models, cli_jstr(r->disabled_models[i]));
    json_object_set_new(o, "disabled_models", models);
    json_object_set_new(o, "created", json_integer(r->created_us / 1000000));
    return o;
}

static int integration_add(cli_args *a, cli_admin *ad, const redirects *rd)
{
    const char *name = a->pos[0];
    char buf[CV_OAUTH_URI_MAX + 1];
    if (rd->n == 0)
        return cli_usage_error(a, "--redirect-uri URI is required");
    for (size_t i = 0; i < rd->n; i++)
        if (!cv_oauth_redirect_uri_valid(rd->uri[i]))
            return cli_usage_error(a,
                                   "redirect URI '%s' refused: it must be an absolute https:// URL (or "
                                   "http://127.0.0.1 / http://localhost), at most %d characters, without a "
                                   "#fragment or spaces",
                                   cli_safe(rd->uri[i], buf, sizeof(buf)), CV_OAUTH_URI_MAX);
    cv_integration_rec *r = malloc(sizeof(*r));
    char client[CV_OAUTH_CLIENT_ID_MAX], secret[CV_OAUTH_SECRET_MAX] = "";
    uint8_t hkey[CV_OAUTH_HKEY_BYTES];
    int rc = 1;
    if (!r || cli_open_admin(&a->c, ad) != 0)
        goto out;
    cv_oauth_hkey(cv_key_sub(ad->key, CV_KEY_TOKEN), hkey);
    cv_store_actor by = actor(ad);
    cv_id id;
    rc = cv_store_integration_add(ad->store, hkey, name, rd->uri, rd->n, cv_wall_us(), &by, &id, client,
                                  sizeof(client), secret, sizeof(secret));
    if (rc == -EEXIST) {
        rc = cli_fail(a, rc, "an integration of that name exists already");
        goto out;
    }
    if (rc == -EINVAL) {
        rc = cli_fail(a, rc, "the name must be 1..63 characters of A-Z a-z 0-9 . _ -");
        goto out;
    }
    if (rc < 0) {
        rc = cli_fail(a, rc, "cannot add the integration (store error, see the log)");
        goto out;
    }
    if ((rc = cv_store_integration_get(ad->store, &id, r)) < 0) {
        rc = cli_fail(a, rc, "the integration was added but cannot be read back");
        goto out;
    }
    if (a->c.json) {
        json_t *o = integration_json(r);
        json_object_set_new(o, "client_secret", json_string(secret));
        cli_print_json(o);
    } else {
        printf("integration '%s' added\n"
               "  client id:      %s\n"
               "  client secret:  %s\n"
               "The secret is shown only this once: give it to the partner platform now.\n",
               r->name, r->client_id, secret);
    }
    rc = 0;
out:
    cli_wipe(secret, sizeof(secret));
    cli_wipe(hkey, sizeof(hkey));
    free(r);
    return rc;
}

static int integration_list(cli_args *a, cli_admin *ad, const redirects *rd)
{
    (void)rd;
    cv_integration_rec *r = NULL;
    size_t n = 0;
    int rc;
    if (cli_open_admin(&a->c, ad) != 0)
        return 1;
    if ((rc = cv_store_integration_list(ad->store, &r, &n)) < 0)
        return cli_fail(a, rc, "cannot list the integrations (store error, see the log)");
    if (a->c.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, integration_json(&r[i]));
        cli_print_json(arr);
    } else {
        printf("%-20s  %-26s  %-28s  %s\n", "NAME", "CLIENT ID", "STATUS", "REDIRECT URIS");
        for (size_t i = 0; i < n; i++) {
            char status[96] = "enabled", uris[1200] = "", pad[128], cbuf[CV_OAUTH_MODEL_MAX + 1];
            size_t ul = 0;
            if (r[i].disabled) {
                snprintf(status, sizeof(status), "DISABLED");
            } else if (r[i].nmodels > 0) {
                size_t sl = (size_t)snprintf(status, sizeof(status), "disabled for");
                for (size_t m = 0; m < r[i].nmodels && sl < sizeof(status); m++)
                    sl += (size_t)snprintf(status + sl, sizeof(status) - sl, "%s'%s'", m ? ", " : " ",
                                           cli_safe(r[i].disabled_models[m], cbuf, sizeof(cbuf)));
            }
            for (size_t u = 0; u < r[i].nredirect && ul < sizeof(uris); u++)
                ul += (size_t)snprintf(uris + ul, sizeof(uris) - ul, "%s%s", u ? " " : "", r[i].redirect_uris[u]);
            printf("%s  %-26s  %-28s  %s\n", cli_pad(r[i].name, 20, pad, sizeof(pad)), r[i].client_id, status, uris);
        }
    }
    free(r);
    return 0;
}

static int set_disabled(cli_args *a, cli_admin *ad, bool disabled)
{
    const char *name = a->pos[0], *model = cli_val(a, O_MODEL);
    if (model && !model[0])
        return cli_usage_error(a, "--camera-model must not be empty");
    cv_integration_rec *r = malloc(sizeof(*r));
    char mbuf[CV_OAUTH_MODEL_MAX * 4 + 1];
    int rc = 1;
    if (!r || cli_open_admin(&a->c, ad) != 0 || find(a, ad, name, r) != 0)
        goto out;
    cv_store_actor by = actor(ad);
    rc = cv_store_integration_set_disabled(ad->store, &r->id, disabled, model, cv_wall_us(), &by);
    if (rc < 0) {
        rc = cli_fail(a, rc,
                      rc == -EINVAL   ? "--camera-model must be 1..63 bytes of printable text"
                      : rc == -ENOSPC ? "too many disabled camera models (at most 16); disable the whole integration"
                      : rc == -ENOENT ? "the integration was removed meanwhile"
                                      : "cannot change the integration (store error, see the log)");
        goto out;
    }
    if ((rc = cv_store_integration_get(ad->store, &r->id, r)) < 0) {
        rc = cli_fail(a, rc, "cannot read the integration back (store error, see the log)");
        goto out;
    }
    if (a->c.json) {
        cli_print_json(integration_json(r));
    } else if (model) {
        printf("integration '%s' %s for camera model '%s'%s\n", r->name, disabled ? "disabled" : "enabled",
               cli_safe(model, mbuf, sizeof(mbuf)),
               disabled ? ": its new stream requests for those cameras are refused and their views end" : "");
    } else {
        printf("integration '%s' %s\n", r->name,
               disabled ? "disabled: its new stream requests are refused and its live views end"
                        : "enabled (for every camera model)");
    }
    rc = 0;
out:
    free(r);
    return rc;
}

static int integration_disable(cli_args *a, cli_admin *ad, const redirects *rd)
{
    (void)rd;
    return set_disabled(a, ad, true);
}

static int integration_enable(cli_args *a, cli_admin *ad, const redirects *rd)
{
    (void)rd;
    return set_disabled(a, ad, false);
}

static int integration_remove(cli_args *a, cli_admin *ad, const redirects *rd)
{
    (void)rd;
    cv_integration_rec *r = malloc(sizeof(*r));
    int rc = 1;
    if (!r || cli_open_admin(&a->c, ad) != 0 || find(a, ad, a->pos[0], r) != 0)
        goto out;
    cv_store_actor by = actor(ad);
    if ((rc = cv_store_integration_remove(ad->store, &r->id, cv_wall_us(), &by)) < 0) {
        rc = cli_fail(a, rc, rc == -ENOENT ? "the integration was removed meanwhile"
                                           : "cannot remove the integration (store error, see the log)");
        goto out;
    }
    if (a->c.json) {
        json_t *o = json_object();
        json_object_set_new(o, "removed", cli_jid(&r->id));
        json_object_set_new(o, "name", cli_jstr(r->name));
        cli_print_json(o);
    } else {
        printf("removed integration '%s'; every account linked to it is unlinked and its tokens revoked\n",
               r->name);
    }
    rc = 0;
out:
    free(r);
    return rc;
}

static const struct {
    const char *name;
    uint32_t allowed;
    int (*run)(cli_args *a, cli_admin *ad, const redirects *rd);
} subs[] = {
    {"add", CLI_BIT(O_REDIRECT), integration_add},
    {"list", 0, integration_list},
    {"disable", CLI_BIT(O_MODEL), integration_disable},
    {"enable", CLI_BIT(O_MODEL), integration_enable},
    {"remove", 0, integration_remove},
};

/* cli_run, except that --redirect-uri may be given several times: getopt
 * keeps the last value only in cli_args, so the parsed (and already
 * validated) command line is walked a second time to collect every one. */
int cmd_integration(int argc, char **argv)
{
    cli_args a;
    redirects rd;
    memset(&rd, 0, sizeof(rd));
    int rc = cli_parse(&a, argc, argv, opts, true, usage);
    if (rc != CLI_CONTINUE)
        return rc;
    size_t i = 0;
    while (i < CV_ARRAY_LEN(subs) && strcmp(subs[i].name, a.sub) != 0)
        i++;
    if (i == CV_ARRAY_LEN(subs)) {
        char buf[64];
        fprintf(stderr, "camvault %s: unknown subcommand '%s'\n\n", a.group, cli_safe(a.sub, buf, sizeof(buf)));
        usage(stderr);
        return 2;
    }
    bool has_name = strcmp(subs[i].name, "list") != 0;
    if ((rc = cli_only(&a, opts, subs[i].allowed)) != 0 ||
        (rc = cli_npos(&a, has_name ? 1 : 0, has_name ? 1 : 0, has_name ? "NAME" : "no arguments")) != 0)
        return rc;
    if (cli_has(&a, O_REDIRECT)) {
        int opt, saved = opterr;
        opterr = 0;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
            if (opt != O_REDIRECT)
                continue;
            if (rd.n == CV_OAUTH_REDIRECTS_MAX) {
                opterr = saved;
                return cli_usage_error(&a, "at most %d redirect URIs", CV_OAUTH_REDIRECTS_MAX);
            }
            rd.uri[rd.n++] = optarg;
        }
        opterr = saved;
    }
    cli_admin ad;
    memset(&ad, 0, sizeof(ad));
    rc = subs[i].run(&a, &ad, &rd);
    cli_close_admin(&ad);
    return rc;
}
