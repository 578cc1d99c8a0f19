/* camvault home add|list|remove|member: homes are the tenants; every camera
 * belongs to one, and a home's members see its cameras by their role. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { O_OWNER = CLI_OPT, O_ROLE };

static const struct option opts[] = {
    CLI_COMMON_LONGOPTS,
    {"owner", required_argument, 0, O_OWNER},
    {"role", required_argument, 0, O_ROLE},
    {0, 0, 0, 0},
};

static void usage(FILE *out)
{
    fprintf(out, "usage:\n"
                 "  camvault home add NAME --owner LOGIN\n"
                 "  camvault home list\n"
                 "  camvault home remove NAME|ID\n"
                 "  camvault home member add|set HOME LOGIN --role owner|member|viewer\n"
                 "  camvault home member remove HOME LOGIN\n"
                 "  camvault home member list HOME\n"
                 "\n"
                 "A home holds cameras. Its members see every camera in it: a viewer watches,\n"
                 "a member also adds cameras and grants guests, an owner also manages members\n"
                 "and the home. Removing a home removes its cameras (their ids are never reused).\n"
                 "\noptions:\n" CLI_COMMON_HELP
                 "  --owner LOGIN       the first owner of the new home (add)\n"
                 "  --role ROLE         owner, member or viewer (member add|set)\n");
}

static json_t *home_json(cli_admin *ad, const cv_home_rec *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", cli_jid(&h->id));
    json_object_set_new(o, "name", cli_jstr(h->name));
    json_object_set_new(o, "created", json_integer(h->created_us / 1000000));
    json_t *owners = json_array();
    cv_member_rec *m = NULL;
    size_t n = 0;
    if (cv_store_member_list(ad->store, &h->id, &m, &n) == 0)
        for (size_t i = 0; i < n; i++)
            if (m[i].role == CV_ROLE_OWNER)
                json_array_append_new(owners, cli_jstr(m[i].login));
    free(m);
    json_object_set_new(o, "owners", owners);
    json_object_set_new(o, "members", json_integer((json_int_t)n));
    cv_camera_rec *c = NULL;
    size_t nc = 0;
    if (cv_store_camera_list(ad->store, &h->id, &c, &nc) != 0)
        nc = 0;
    free(c);
    json_object_set_new(o, "cameras", json_integer((json_int_t)nc));
    return o;
}

static int home_add(cli_args *a, cli_admin *ad)
{
    const char *owner = cli_val(a, O_OWNER);
    if (!owner)
        return cli_usage_error(a, "--owner LOGIN is required (create a user first: camvault user add LOGIN)");
    cv_user_rec u;
    if (cli_open_admin(&a->c, ad) != 0 || cli_user(a, ad, owner, &u) != 0)
        return 1;
    cv_id id;
    char err[256] = "";
    int rc = cv_admin_home_add(&ad->adm, a->pos[0], &u.id, &id, err, sizeof(err));
    if (rc < 0)
        return cli_fail(a, rc, err);
    cv_home_rec h;
    if (cv_store_home_get(ad->store, &id, &h) != 0)
        return cli_fail(a, -EIO, "the home was added but cannot be read back");
    if (a->c.json) {
        cli_print_json(home_json(ad, &h));
    } else {
        char hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&h.id, hex);
        printf("added home '%s' (id %s), owned by '%s'\n", h.name, hex, u.login);
    }
    return 0;
}

static int home_list(cli_args *a, cli_admin *ad)
{
    if (cli_open_admin(&a->c, ad) != 0)
        return 1;
    cv_home_rec *h = NULL;
    size_t n = 0;
    int rc = cv_store_home_list(ad->store, NULL, &h, &n);
    if (rc < 0)
        return cli_fail(a, rc, "cannot list the homes (store error, see the log)");
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, home_json(ad, &h[i]));
    if (a->c.json) {
        cli_print_json(arr);
    } else {
        printf("%-32s  %-7s  %-7s  %-24s  %s\n", "ID", "CAMERAS", "MEMBERS", "OWNERS", "NAME");
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_array_get(arr, i), *ow = json_object_get(o, "owners"), *v;
            char owners[256] = "", hex[CV_ID_HEX_LEN + 1];
            size_t k, len = 0;
            json_array_foreach(ow, k, v)
            {
                int w = snprintf(owners + len, sizeof(owners) - len, "%s%s", k ? "," : "", json_string_value(v));
                if (w < 0 || (size_t)w >= sizeof(owners) - len)
                    break;
                len += (size_t)w;
            }
            cv_id_to_hex(&h[i].id, hex);
            printf("%-32s  %-7lld  %-7lld  %-24s  %s\n", hex,
                   (long long)json_integer_value(json_object_get(o, "cameras")),
                   (long long)json_integer_value(json_object_get(o, "members")), len ? owners : "-", h[i].name);
        }
        json_decref(arr);
    }
    free(h);
    return 0;
}

static int home_remove(cli_args *a, cli_admin *ad)
{
    cv_home_rec h;
    char err[256] = "";
    if (cli_open_admin(&a->c, ad) != 0 || cli_home(a, ad, a->pos[0], &h) != 0)
        return 1;
    cv_camera_rec *c = NULL;
    size_t nc = 0;
    if (cv_store_camera_list(ad->store, &h.id, &c, &nc) != 0)
        nc = 0;
    free(c);
    int rc = cv_admin_home_remove(&ad->adm, &h.id, err, sizeof(err));
    if (rc < 0)
        return cli_fail(a, rc, err);
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&h.id, hex);
    if (a->c.json) {
        json_t *o = json_object();
        json_object_set_new(o, "removed", json_string(hex));
        json_object_set_new(o, "name", cli_jstr(h.name));
        json_object_set_new(o, "cameras_removed", json_integer((json_int_t)nc));
        cli_print_json(o);
    } else {
        printf("removed home '%s' (%s) and its %zu camera%s\n", h.name, hex, nc, nc == 1 ? "" : "s");
    }
    return 0;
}

/* ---------------------------------------------------------------- members */

static json_t *member_json(const cv_member_rec *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "home", cli_jid(&m->home));
    json_object_set_new(o, "user", cli_jid(&m->user));
    json_object_set_new(o, "login", cli_jstr(m->login));
    json_object_set_new(o, "role", json_string(cv_role_name(m->role)));
    return o;
}

static int member_list(cli_args *a, cli_admin *ad, const cv_home_rec *h)
{
    cv_member_rec *m = NULL;
    size_t n = 0;
    int rc = cv_store_member_list(ad->store, &h->id, &m, &n);
    if (rc < 0)
        return cli_fail(a, rc, "cannot list the members (store error, see the log)");
    if (a->c.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, member_json(&m[i]));
        cli_print_json(arr);
    } else {
        printf("%-24s  %-7s  %s\n", "LOGIN", "ROLE", "USER ID");
        for (size_t i = 0; i < n; i++) {
            char hex[CV_ID_HEX_LEN + 1];
            cv_id_to_hex(&m[i].user, hex);
            printf("%-24s  %-7s  %s\n", m[i].login, cv_role_name(m[i].role), hex);
        }
    }
    free(m);
    return 0;
}

static int home_member(cli_args *a, cli_admin *ad)
{
    const char *op = a->pos[0];
    bool set = strcmp(op, "add") == 0 || strcmp(op, "set") == 0;
    bool list = strcmp(op, "list") == 0;
    char buf[64];
    if (!set && !list && strcmp(op, "remove") != 0)
        return cli_usage_error(a, "unknown subcommand '%s' (add, set, remove or list)", cli_safe(op, buf, sizeof(buf)));
    if (a->npos != (list ? 2 : 3))
        return cli_usage_error(a, "expected %s (see --help)", list ? "list HOME" : "add|set|remove HOME LOGIN");
    cv_role role = CV_ROLE_NONE;
    if (set) {
        const char *r = cli_val(a, O_ROLE);
        if (!r)
            return cli_usage_error(a, "--role owner|member|viewer is required");
        if (cv_role_parse(r, &role) != 0 || role == CV_ROLE_NONE)
            return cli_usage_error(a, "--role must be owner, member or viewer");
    } else if (cli_has(a, O_ROLE)) {
        return cli_usage_error(a, "--role applies to 'member add' and 'member set' only");
    }
    cv_home_rec h;
    if (cli_open_admin(&a->c, ad) != 0 || cli_home(a, ad, a->pos[1], &h) != 0)
        return 1;
    if (list)
        return member_list(a, ad, &h);
    cv_user_rec u;
    if (cli_user(a, ad, a->pos[2], &u) != 0)
        return 1;
    char err[256] = "";
    int rc = set ? cv_admin_member_set(&ad->adm, &h.id, &u.id, role, err, sizeof(err))
                 : cv_admin_member_remove(&ad->adm, &h.id, &u.id, err, sizeof(err));
    if (rc < 0)
        return cli_fail(a, rc, err);
    if (a->c.json) {
        cv_member_rec m;
        memset(&m, 0, sizeof(m));
        m.home = h.id;
        m.user = u.id;
        snprintf(m.login, sizeof(m.login), "%s", u.login);
        m.role = role;
        json_t *o = member_json(&m);
        json_object_set_new(o, "home_name", cli_jstr(h.name));
        cli_print_json(o);
    } else if (set) {
        printf("'%s' is now %s of home '%s'\n", u.login,
               role == CV_ROLE_OWNER ? "an owner" : role == CV_ROLE_MEMBER ? "a member" : "a viewer", h.name);
    } else {
        printf("removed '%s' from home '%s' (their tokens for its cameras are revoked)\n", u.login, h.name);
    }
    return 0;
}

static const cli_sub subs[] = {
    {"add", CLI_BIT(O_OWNER), 1, 1, "NAME", home_add},
    {"list", 0, 0, 0, "", home_list},
    {"remove", 0, 1, 1, "NAME|ID", home_remove},
    {"member", CLI_BIT(O_ROLE), 2, 3, "add|set|remove|list HOME [LOGIN]", home_member},
    {0, 0, 0, 0, 0, 0},
};

int cmd_home(int argc, char **argv) { return cli_run(argc, argv, opts, subs, usage); }
