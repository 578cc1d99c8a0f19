/* camvault user add|list|passwd|disable|enable|remove|app-password. Passwords
 * come only from standard input, never from the command line (where other
 * local users could read them in the process list). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth/password.h"
#include "cli/cli.h"

enum { O_PWSTDIN = CLI_OPT, O_ADMIN, O_LABEL };

static const struct option opts[] = {
    CLI_COMMON_LONGOPTS,
    {"password-stdin", no_argument, 0, O_PWSTDIN},
    {"admin", no_argument, 0, O_ADMIN},
    {"label", required_argument, 0, O_LABEL},
    {0, 0, 0, 0},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage:\n"
            "  camvault user add LOGIN [--password-stdin] [--admin]\n"
            "  camvault user list\n"
            "  camvault user passwd LOGIN --password-stdin\n"
            "  camvault user disable LOGIN\n"
            "  camvault user enable LOGIN\n"
            "  camvault user remove LOGIN\n"
            "  camvault user app-password add LOGIN [--label LABEL]\n"
            "  camvault user app-password list LOGIN\n"
            "  camvault user app-password remove LOGIN ID\n"
            "\n"
            "A login is 1 to 63 of A-Z a-z 0-9 . _ @ -. Without --password-stdin, 'user add'\n"
            "generates a password and prints it once. --password-stdin reads one line from\n"
            "standard input (a password is never taken from the command line).\n"
            "--admin makes the user an administrator of every home.\n"
            "\n"
            "An app password lets an RTSP player or NVR (VLC, Frigate, ...) log in with Digest:\n"
            "rtsp://LOGIN:APP-PASSWORD@host:port/cam/CAMERA-ID. It is shown only once.\n"
            "\noptions:\n" CLI_COMMON_HELP
            "  --password-stdin    read the password from standard input (add, passwd)\n"
            "  --admin             make the user an administrator (add)\n"
            "  --label LABEL       what the app password is for (app-password add)\n");
}

static json_t *user_json(const cv_user_rec *u)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", cli_jid(&u->id));
    json_object_set_new(o, "login", cli_jstr(u->login));
    json_object_set_new(o, "admin", json_boolean(u->admin));
    json_object_set_new(o, "disabled", json_boolean(u->disabled));
    json_object_set_new(o, "totp", json_boolean(u->totp_enabled));
    json_object_set_new(o, "created", json_integer(u->created_us / 1000000));
    return o;
}

static int user_add(cli_args *a, cli_admin *ad)
{
    char pw[CV_PW_MAX + 2], gen[64] = "", err[256] = "";
    bool from_stdin = cli_has(a, O_PWSTDIN);
    int rc;
    if (from_stdin && (rc = cli_read_password(a, pw, sizeof(pw))) != 0)
        return rc;
    if (cli_open_admin(&a->c, ad) != 0) {
        cli_wipe(pw, sizeof(pw));
        return 1;
    }
    cv_id id;
    rc = cv_admin_user_add(&ad->adm, a->pos[0], from_stdin ? pw : NULL, cli_has(a, O_ADMIN), gen, &id, err,
                           sizeof(err));
    cli_wipe(pw, sizeof(pw));
    if (rc < 0)
        return cli_fail(a, rc, err);
    cv_user_rec u;
    if (cv_store_user_get(ad->store, &id, &u) != 0) {
        cli_wipe(gen, sizeof(gen));
        return cli_fail(a, -EIO, "the user was added but cannot be read back");
    }
    if (a->c.json) {
        json_t *o = user_json(&u);
        if (!from_stdin)
            json_object_set_new(o, "password", json_string(gen));
        cli_print_json(o);
    } else {
        char hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&u.id, hex);
        printf("added %suser '%s' (id %s)\n", u.admin ? "administrator " : "", u.login, hex);
        if (!from_stdin)
            printf("  password (shown once): %s\n"
                   "  change it with: camvault user passwd %s --password-stdin\n",
                   gen, u.login);
    }
    cli_wipe(gen, sizeof(gen));
    return 0;
}

static int user_list(cli_args *a, cli_admin *ad)
{
    if (cli_open_admin(&a->c, ad) != 0)
        return 1;
    cv_user_rec *u = NULL;
    size_t n = 0;
    int rc = cv_store_user_list(ad->store, &u, &n);
    if (rc < 0)
        return cli_fail(a, rc, "cannot list the users (store error, see the log)");
    if (a->c.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, user_json(&u[i]));
        cli_print_json(arr);
    } else {
        printf("%-24s  %-5s  %-8s  %-4s  %-20s  %s\n", "LOGIN", "ADMIN", "STATE", "TOTP", "CREATED", "ID");
        for (size_t i = 0; i < n; i++) {
            char hex[CV_ID_HEX_LEN + 1], t[32];
            cv_id_to_hex(&u[i].id, hex);
            cli_time(u[i].created_us, t, sizeof(t));
            printf("%-24s  %-5s  %-8s  %-4s  %-20s  %s\n", u[i].login, u[i].admin ? "yes" : "no",
                   u[i].disabled ? "disabled" : "active", u[i].totp_enabled ? "on" : "off", t, hex);
        }
    }
    free(u);
    return 0;
}

static int user_passwd(cli_args *a, cli_admin *ad)
{
    if (!cli_has(a, O_PWSTDIN))
        return cli_usage_error(a, "--password-stdin is required (the new password is read from standard input)");
    char pw[CV_PW_MAX + 2], err[256] = "";
    int rc = cli_read_password(a, pw, sizeof(pw));
    if (rc != 0)
        return rc;
    cv_user_rec u;
    if (cli_open_admin(&a->c, ad) != 0 || cli_user(a, ad, a->pos[0], &u) != 0) {
        cli_wipe(pw, sizeof(pw));
        return 1;
    }
    rc = cv_admin_user_set_password(&ad->adm, &u.id, pw, err, sizeof(err));
    cli_wipe(pw, sizeof(pw));
    if (rc < 0)
        return cli_fail(a, rc, err);
    if (a->c.json)
        cli_print_json(user_json(&u));
    else
        printf("changed the password of '%s'\n", u.login);
    return 0;
}

static int user_state(cli_args *a, cli_admin *ad, bool disable)
{
    cv_user_rec u;
    char err[256] = "";
    if (cli_open_admin(&a->c, ad) != 0 || cli_user(a, ad, a->pos[0], &u) != 0)
        return 1;
    int rc = cv_admin_user_disable(&ad->adm, &u.id, disable, err, sizeof(err));
    if (rc < 0)
        return cli_fail(a, rc, err);
    u.disabled = disable;
    if (a->c.json)
        cli_print_json(user_json(&u));
    else
        printf("%s user '%s'%s\n", disable ? "disabled" : "enabled", u.login,
               disable ? " (their tokens are revoked and their sessions ended)" : "");
    return 0;
}

static int user_disable(cli_args *a, cli_admin *ad) { return user_state(a, ad, true); }
static int user_enable(cli_args *a, cli_admin *ad) { return user_state(a, ad, false); }

static int user_remove(cli_args *a, cli_admin *ad)
{
    cv_user_rec u;
    char err[256] = "";
    if (cli_open_admin(&a->c, ad) != 0 || cli_user(a, ad, a->pos[0], &u) != 0)
        return 1;
    int rc = cv_admin_user_remove(&ad->adm, &u.id, err, sizeof(err));
    if (rc < 0)
        return cli_fail(a, rc, err);
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&u.id, hex);
    if (a->c.json) {
        json_t *o = json_object();
        json_object_set_new(o, "removed", json_string(hex));
        json_object_set_new(o, "login", cli_jstr(u.login));
        cli_print_json(o);
    } else {
        printf("removed user '%s' (%s)\n", u.login, hex);
    }
    return 0;
}

/* ---------------------------------------------------------- app passwords */

static json_t *apppw_json(const cv_apppw_rec *p, const char *login)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", cli_jid(&p->id));
    json_object_set_new(o, "login", cli_jstr(login));
    json_object_set_new(o, "label", cli_jstr(p->label));
    json_object_set_new(o, "created", json_integer(p->created_us / 1000000));
    return o;
}

static int apppw_add(cli_args *a, cli_admin *ad, const cv_user_rec *u)
{
    char secret[64] = "", err[256] = "";
    const char *label = cli_val(a, O_LABEL);
    cv_id id;
    int rc = cv_admin_apppw_add(&ad->adm, &u->id, label, secret, &id, err, sizeof(err));
    if (rc < 0)
        return cli_fail(a, rc, err);
    char base[128], elogin[3 * CV_LOGIN_MAX + 1], esecret[3 * sizeof(secret)], url[1024], hex[CV_ID_HEX_LEN + 1];
    char lb[200];
    cli_rtsp_base(&a->c.cfg, a->c.cfg.rtsp_port, base, sizeof(base));
    cli_url_escape(u->login, elogin, sizeof(elogin));
    cli_url_escape(secret, esecret, sizeof(esecret));
    cv_id_to_hex(&id, hex);
    if (a->c.json) {
        cv_apppw_rec p;
        memset(&p, 0, sizeof(p));
        p.id = id;
        p.user = u->id;
        snprintf(p.label, sizeof(p.label), "%s", label ? label : "");
        json_t *o = apppw_json(&p, u->login);
        json_object_del(o, "created");
        json_object_set_new(o, "password", json_string(secret));
        snprintf(url, sizeof(url), "rtsp://%s:%s@%s/cam/{camera}", elogin, esecret, base + strlen("rtsp://"));
        json_object_set_new(o, "rtsp_url_template", json_string(url));
        cli_print_json(o);
    } else {
        snprintf(url, sizeof(url), "rtsp://%s:%s@%s/cam/CAMERA-ID", elogin, esecret, base + strlen("rtsp://"));
        printf("added app password %s for '%s'%s%s%s\n"
               "  password (shown once): %s\n"
               "  use it in VLC or an NVR (RTSP, Digest authentication):\n"
               "    %s\n"
               "  (CAMERA-ID from 'camvault camera list'; remove it with\n"
               "   'camvault user app-password remove %s %s')\n",
               hex, u->login, label ? " (" : "", label ? cli_safe(label, lb, sizeof(lb)) : "", label ? ")" : "", secret,
               url, u->login, hex);
    }
    cli_wipe(secret, sizeof(secret));
    cli_wipe(esecret, sizeof(esecret));
    cli_wipe(url, sizeof(url));
    return 0;
}

static int apppw_list(cli_args *a, cli_admin *ad, const cv_user_rec *u)
{
    cv_apppw_rec *p = NULL;
    size_t n = 0;
    int rc = cv_store_apppw_list(ad->store, &u->id, &p, &n);
    if (rc < 0)
        return cli_fail(a, rc, "cannot list app passwords (store error, see the log)");
    if (a->c.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, apppw_json(&p[i], u->login));
        cli_print_json(arr);
    } else {
        printf("%-32s  %-20s  %s\n", "ID", "CREATED", "LABEL");
        for (size_t i = 0; i < n; i++) {
            char hex[CV_ID_HEX_LEN + 1], t[32], lb[200];
            cv_id_to_hex(&p[i].id, hex);
            cli_time(p[i].created_us, t, sizeof(t));
            printf("%-32s  %-20s  %s\n", hex, t, cli_safe(p[i].label, lb, sizeof(lb)));
        }
    }
    if (p)
        cli_wipe(p, n * sizeof(*p)); /* sealed values: no use to anyone, but no reason to leave them */
    free(p);
    return 0;
}

static int apppw_remove(cli_args *a, cli_admin *ad, const cv_user_rec *u, const cv_id *id)
{
    char err[256] = "";
    int rc = cv_admin_apppw_remove(&ad->adm, &u->id, id, err, sizeof(err));
    if (rc < 0)
        return cli_fail(a, rc, err);
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(id, hex);
    if (a->c.json) {
        json_t *o = json_object();
        json_object_set_new(o, "removed", json_string(hex));
        json_object_set_new(o, "login", cli_jstr(u->login));
        cli_print_json(o);
    } else {
        printf("removed app password %s of '%s'\n", hex, u->login);
    }
    return 0;
}

static int user_apppw(cli_args *a, cli_admin *ad)
{
    const char *op = a->pos[0];
    int want;
    if (strcmp(op, "add") == 0)
        want = 2;
    else if (strcmp(op, "list") == 0)
        want = 2;
    else if (strcmp(op, "remove") == 0)
        want = 3;
    else {
        char buf[64];
        return cli_usage_error(a, "unknown subcommand '%s' (add, list or remove)", cli_safe(op, buf, sizeof(buf)));
    }
    if (a->npos != want)
        return cli_usage_error(a, "expected %s (see --help)", want == 3 ? "remove LOGIN ID" : "add|list LOGIN");
    if (cli_has(a, O_LABEL) && strcmp(op, "add") != 0)
        return cli_usage_error(a, "--label applies to 'app-password add' only");
    cv_id id;
    int rc;
    if (want == 3 && (rc = cli_parse_id(a, a->pos[2], "app password", &id)) != 0)
        return rc;
    cv_user_rec u;
    if (cli_open_admin(&a->c, ad) != 0 || cli_user(a, ad, a->pos[1], &u) != 0)
        return 1;
    if (strcmp(op, "add") == 0)
        return apppw_add(a, ad, &u);
    if (strcmp(op, "list") == 0)
        return apppw_list(a, ad, &u);
    return apppw_remove(a, ad, &u, &id);
}

static const cli_sub subs[] = {
    {"add", CLI_BIT(O_PWSTDIN) | CLI_BIT(O_ADMIN), 1, 1, "LOGIN", user_add},
    {"list", 0, 0, 0, "", user_list},
    {"passwd", CLI_BIT(O_PWSTDIN), 1, 1, "LOGIN", user_passwd},
    {"disable", 0, 1, 1, "LOGIN", user_disable},
    {"enable", 0, 1, 1, "LOGIN", user_enable},
    {"remove", 0, 1, 1, "LOGIN", user_remove},
    {"app-password", CLI_BIT(O_LABEL), 2, 3, "add|list|remove LOGIN [ID]", user_apppw},
    {0, 0, 0, 0, 0, 0},
};

int cmd_user(int argc, char **argv) { return cli_run(argc, argv, opts, subs, usage); }
