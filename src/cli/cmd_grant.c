/* camvault grant add|list|remove: a guest's access to one camera, always
 * with an expiry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"

enum { O_CAMERA = CLI_OPT, O_USER, O_SCOPE, O_EXPIRES, O_HOME };

static const struct option opts[] = {
    CLI_COMMON_LONGOPTS,
    {"camera", required_argument, 0, O_CAMERA},
    {"user", required_argument, 0, O_USER},
    {"scope", required_argument, 0, O_SCOPE},
    {"expires", required_argument, 0, O_EXPIRES},
    {"home", required_argument, 0, O_HOME},
    {0, 0, 0, 0},
};

static void usage(FILE *out)
{
    fprintf(out, "usage:\n"
                 "  camvault grant add --camera CAM --user LOGIN [--scope live,snapshot] --expires 2h|7d|...\n"
                 "  camvault grant list [--camera CAM] [--user LOGIN]\n"
                 "  camvault grant remove ID\n"
                 "\n"
                 "A grant lets a guest (a user who is not a member of the camera's home) watch one\n"
                 "camera until it expires. Removing it ends the guest's views and tokens at once.\n"
                 "CAM is a camera id or name (names must be unique, or add --home HOME).\n"
                 "\noptions:\n" CLI_COMMON_HELP
                 "  --camera CAM        the camera, by id or name\n"
                 "  --home HOME         where to look the camera name up\n"
                 "  --user LOGIN        the guest\n"
                 "  --scope S           live, snapshot, live,snapshot or all (default live)\n"
                 "  --expires D         how long from now: 90s, 30m, 2h, 7d or seconds\n");
}

static json_t *grant_json(cli_admin *ad, const cv_grant_rec *g, int64_t now)
{
    cv_camera_rec *c = malloc(sizeof(*c));
    json_t *o = json_object();
    json_object_set_new(o, "id", cli_jid(&g->id));
    json_object_set_new(o, "camera", cli_jid(&g->camera));
    json_object_set_new(o, "camera_name",
                        c && cv_store_camera_get(ad->store, &g->camera, c) == 0 ? cli_jstr(c->name) : json_null());
    json_object_set_new(o, "user", cli_jid(&g->user));
    json_object_set_new(o, "login", cli_jstr(g->login));
    json_object_set_new(o, "scopes", cli_scopes_json(g->scopes));
    json_object_set_new(o, "expires", json_integer(g->expires_us / 1000000));
    json_object_set_new(o, "expired", json_boolean(g->expires_us <= now));
    json_object_set_new(o, "created", json_integer(g->created_us / 1000000));
    free(c);
    return o;
}

static int grant_add(cli_args *a, cli_admin *ad)
{
    const char *cam = cli_val(a, O_CAMERA), *login = cli_val(a, O_USER), *exp = cli_val(a, O_EXPIRES);
    const char *scope = cli_has(a, O_SCOPE) ? cli_val(a, O_SCOPE) : "live";
    if (!cam || !login || !exp)
        return cli_usage_error(a, "--camera, --user and --expires are required");
    uint32_t scopes;
    int64_t dur;
    if (cv_admin_parse_scopes(scope, &scopes) != 0)
        return cli_usage_error(a, "--scope must be live, snapshot, live,snapshot or all");
    if (cv_admin_parse_duration(exp, &dur) != 0)
        return cli_usage_error(a, "--expires must be a duration such as 90s, 30m, 2h or 7d");
    cv_camera_rec *c = malloc(sizeof(*c));
    cv_user_rec u;
    int rc = 1;
    if (!c || cli_open_admin(&a->c, ad) != 0 || cli_camera_opt(a, ad, cam, cli_val(a, O_HOME), c) != 0 ||
        cli_user(a, ad, login, &u) != 0)
        goto out;
    char err[256] = "";
    int64_t now = cv_wall_us();
    cv_id id;
    if ((rc = cv_admin_grant_add(&ad->adm, &c->id, &u.id, scopes, now + dur, &id, err, sizeof(err))) < 0) {
        rc = cli_fail(a, rc, err);
        goto out;
    }
    cv_grant_rec g;
    if (cv_store_grant_get(ad->store, &id, &g) != 0) {
        rc = cli_fail(a, -EIO, "the grant was added but cannot be read back");
        goto out;
    }
    if (a->c.json) {
        cli_print_json(grant_json(ad, &g, now));
    } else {
        char hex[CV_ID_HEX_LEN + 1], t[32], sc[32];
        cv_id_to_hex(&id, hex);
        cli_time(g.expires_us, t, sizeof(t));
        printf("granted '%s' %s on camera '%s' until %s\n  grant id: %s\n", u.login,
               cli_scopes(g.scopes, sc, sizeof(sc)), c->name, t, hex);
    }
    rc = 0;
out:
    free(c);
    return rc;
}

static int grant_list(cli_args *a, cli_admin *ad)
{
    const char *cam = cli_val(a, O_CAMERA), *login = cli_val(a, O_USER);
    cv_camera_rec *c = malloc(sizeof(*c));
    cv_user_rec u;
    cv_grant_rec *g = NULL;
    size_t n = 0;
    int rc = 1;
    if (!c || cli_open_admin(&a->c, ad) != 0 || (cam && cli_camera_opt(a, ad, cam, cli_val(a, O_HOME), c) != 0) ||
        (login && cli_user(a, ad, login, &u) != 0))
        goto out;
    if ((rc = cv_store_grant_list(ad->store, cam ? &c->id : NULL, login ? &u.id : NULL, &g, &n)) < 0) {
        rc = cli_fail(a, rc, "cannot list the grants (store error, see the log)");
        goto out;
    }
    int64_t now = cv_wall_us();
    if (a->c.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, grant_json(ad, &g[i], now));
        cli_print_json(arr);
    } else {
        printf("%-32s  %-24s  %-13s  %-28s  %s\n", "ID", "GUEST", "SCOPES", "EXPIRES", "CAMERA");
        for (size_t i = 0; i < n; i++) {
            char hex[CV_ID_HEX_LEN + 1], t[40], sc[32], cam_name[160] = "?";
            cv_id_to_hex(&g[i].id, hex);
            cli_time(g[i].expires_us, t, sizeof(t));
            if (g[i].expires_us <= now)
                strncat(t, " (expired)", sizeof(t) - strlen(t) - 1);
            if (cv_store_camera_get(ad->store, &g[i].camera, c) == 0)
                snprintf(cam_name, sizeof(cam_name), "%s", c->name);
            printf("%-32s  %-24s  %-13s  %-28s  %s\n", hex, g[i].login, cli_scopes(g[i].scopes, sc, sizeof(sc)), t,
                   cam_name);
        }
    }
    rc = 0;
out:
    free(g);
    free(c);
    return rc;
}

static int grant_remove(cli_args *a, cli_admin *ad)
{
    cv_id id;
    int rc = cli_parse_id(a, a->pos[0], "grant", &id);
    if (rc != 0)
        return rc;
    if (cli_open_admin(&a->c, ad) != 0)
        return 1;
    cv_grant_rec g;
    char err[256] = "", buf[80];
    if (cv_store_grant_get(ad->store, &id, &g) != 0) {
        fprintf(stderr, "%s: no grant '%s'\n", a->prog, cli_safe(a->pos[0], buf, sizeof(buf)));
        return 1;
    }
    if ((rc = cv_admin_grant_remove(&ad->adm, &id, err, sizeof(err))) < 0)
        return cli_fail(a, rc, err);
    if (a->c.json) {
        json_t *o = json_object();
        json_object_set_new(o, "removed", cli_jid(&id));
        json_object_set_new(o, "camera", cli_jid(&g.camera));
        json_object_set_new(o, "login", cli_jstr(g.login));
        cli_print_json(o);
    } else {
        printf("removed grant %s of '%s' (views and tokens that relied on it end)\n", a->pos[0], g.login);
    }
    return 0;
}

static const cli_sub subs[] = {
    {"add", CLI_BIT(O_CAMERA) | CLI_BIT(O_USER) | CLI_BIT(O_SCOPE) | CLI_BIT(O_EXPIRES) | CLI_BIT(O_HOME), 0, 0,
     "no arguments", grant_add},
    {"list", CLI_BIT(O_CAMERA) | CLI_BIT(O_USER) | CLI_BIT(O_HOME), 0, 0, "no arguments", grant_list},
    {"remove", 0, 1, 1, "ID", grant_remove},
    {0, 0, 0, 0, 0, 0},
};

int cmd_grant(int argc, char **argv) { return cli_run(argc, argv, opts, subs, usage); }
