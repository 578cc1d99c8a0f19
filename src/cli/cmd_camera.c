/* camvault camera add|list|rename|remove|rotate-secret: works on the same store as a
 * running server, which notices the change within a second. A push camera's
 * ingest secret is printed once, when it is made, and never again. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { O_NAME = CLI_OPT, O_HOME, O_MODEL, O_PULL, O_TRANSPORT, O_SUBSTREAM };

static const struct option opts[] = {
    CLI_COMMON_LONGOPTS,
    {"name", required_argument, 0, O_NAME},
    {"home", required_argument, 0, O_HOME},
    {"model", required_argument, 0, O_MODEL},
    {"pull", required_argument, 0, O_PULL},
    {"transport", required_argument, 0, O_TRANSPORT},
    {"substream", required_argument, 0, O_SUBSTREAM},
    {0, 0, 0, 0},
};

static void usage(FILE *out)
{
    fprintf(out, "usage:\n"
                 "  camvault camera add --name NAME [--home HOME] [--model M]\n"
                 "                      [--pull URL [--transport auto|tcp|udp] [--substream URL]]\n"
                 "  camvault camera list [--home HOME]\n"
                 "  camvault camera rename ID|NAME --name NEW [--home HOME]\n"
                 "  camvault camera remove ID|NAME [--home HOME]\n"
                 "  camvault camera rotate-secret ID|NAME [--home HOME]\n"
                 "\n"
                 "A push camera sends its stream to the printed ingest URL (RTSP ANNOUNCE/RECORD,\n"
                 "Digest authentication with the camera's ingest secret). The secret is shown only\n"
                 "once; 'camera rotate-secret' makes a new one (the old one stops working at once).\n"
                 "A pull camera is fetched by the server from URL (rtsp://user:pass@host/path); its\n"
                 "credentials are stored encrypted and never printed.\n"
                 "--home may be left out when there is exactly one home.\n"
                 "\noptions:\n" CLI_COMMON_HELP
                 "  --name NAME         the camera's name, unique in its home (add, rename)\n"
                 "  --home HOME         the home, by name or id\n"
                 "  --model M           free text, e.g. the camera's make and model (add)\n"
                 "  --pull URL          fetch from this RTSP URL instead of waiting for a push (add)\n"
                 "  --transport T       auto (TCP, then UDP), tcp or udp (with --pull)\n"
                 "  --substream URL     a low-resolution stream of the same camera (with --pull)\n");
}

static const char *source_name(cv_cam_source s) { return s == CV_CAM_PULL ? "pull" : "push"; }
static const char *transport_name(cv_pull_transport t)
{
    return t == CV_PULL_TCP ? "tcp" : t == CV_PULL_UDP ? "udp" : "auto";
}

static void view_url(const cli_args *a, const cv_camera_rec *r, char *out, size_t cap)
{
    char base[128], hex[CV_ID_HEX_LEN + 1];
    cli_rtsp_base(&a->c.cfg, a->c.cfg.rtsp_port, base, sizeof(base));
    cv_id_to_hex(&r->id, hex);
    snprintf(out, cap, "%s/cam/%s", base, hex);
}

/* rtsp://camera:SECRET@host:port/cam/ID: what the camera is configured with. */
static void ingest_url(const cli_args *a, const cv_camera_rec *r, const char *secret, char *out, size_t cap)
{
    char base[128], hex[CV_ID_HEX_LEN + 1], esc[256];
    cli_rtsp_base(&a->c.cfg, a->c.cfg.rtsp_port, base, sizeof(base));
    cv_id_to_hex(&r->id, hex);
    cli_url_escape(secret, esc, sizeof(esc));
    snprintf(out, cap, "rtsp://camera:%s@%s/cam/%s", esc, base + strlen("rtsp://"), hex);
    cli_wipe(esc, sizeof(esc));
}

static json_t *camera_json(const cli_args *a, cli_admin *ad, const cv_camera_rec *r)
{
    char url[256];
    cv_home_rec h;
    if (cv_store_home_get(ad->store, &r->home, &h) != 0)
        h.name[0] = 0;
    view_url(a, r, url, sizeof(url));
    json_t *o = json_object();
    json_object_set_new(o, "id", cli_jid(&r->id));
    json_object_set_new(o, "name", cli_jstr(r->name));
    json_object_set_new(o, "home", cli_jid(&r->home));
    json_object_set_new(o, "home_name", cli_jstr(h.name));
    json_object_set_new(o, "model", cli_jstr(r->model));
    json_object_set_new(o, "source", json_string(source_name(r->source)));
    if (r->source == CV_CAM_PULL) {
        json_object_set_new(o, "pull_url", cli_jstr(r->pull_url)); /* masked by the store */
        json_object_set_new(o, "pull_transport", json_string(transport_name(r->pull_transport)));
        json_object_set_new(o, "substream", json_boolean(r->sub_pull_secret[0] != 0));
    }
    json_object_set_new(o, "rtsp_url", json_string(url));
    json_object_set_new(o, "created", json_integer(r->created_us / 1000000));
    return o;
}

/* The home for a new camera: --home, or the only one there is. */
static int pick_home(cli_args *a, cli_admin *ad, cv_home_rec *out)
{
    const char *want = cli_val(a, O_HOME);
    if (want)
        return cli_home(a, ad, want, out);
    cv_home_rec *h = NULL;
    size_t n = 0;
    int rc = cv_store_home_list(ad->store, NULL, &h, &n);
    if (rc < 0)
        return cli_fail(a, rc, "cannot list the homes (store error, see the log)");
    if (n == 1) {
        *out = h[0];
        free(h);
        return 0;
    }
    if (n == 0) {
        fprintf(stderr,
                "%s: there is no home yet; every camera belongs to one. Create one first:\n"
                "  camvault user add LOGIN --admin          (if there is no user yet)\n"
                "  camvault home add NAME --owner LOGIN\n",
                a->prog);
        return 1;
    }
    fprintf(stderr, "%s: there are %zu homes; choose one with --home NAME:\n", a->prog, n);
    for (size_t i = 0; i < n && i < 20; i++)
        fprintf(stderr, "  %s\n", h[i].name);
    if (n > 20)
        fprintf(stderr, "  ... ('camvault home list' shows them all)\n");
    free(h);
    return 2;
}

static void print_ingest_note(const cli_args *a, const char *what)
{
    if (!a->c.json)
        printf("          shown only once; 'camvault camera rotate-secret %s' makes a new one\n", what);
}

static int camera_add(cli_args *a, cli_admin *ad)
{
    const char *name = cli_val(a, O_NAME), *pull = cli_val(a, O_PULL), *tr = cli_val(a, O_TRANSPORT);
    const char *sub = cli_val(a, O_SUBSTREAM);
    cv_admin_camera_spec spec = {0};
    if (!name)
        return cli_usage_error(a, "--name is required");
    if (!pull && (tr || sub))
        return cli_usage_error(a, "--%s applies to pull cameras only (with --pull URL)",
                               tr ? "transport" : "substream");
    spec.transport = CV_PULL_AUTO;
    if (tr && strcmp(tr, "tcp") == 0)
        spec.transport = CV_PULL_TCP;
    else if (tr && strcmp(tr, "udp") == 0)
        spec.transport = CV_PULL_UDP;
    else if (tr && strcmp(tr, "auto") != 0)
        return cli_usage_error(a, "--transport must be auto, tcp or udp");

    cv_home_rec h;
    int rc;
    if (cli_open_admin(&a->c, ad) != 0)
        return 1;
    if ((rc = pick_home(a, ad, &h)) != 0)
        return rc;
    spec.home = &h.id;
    spec.name = name;
    spec.model = cli_val(a, O_MODEL);
    spec.pull_url = pull;
    spec.sub_url = sub;
    char secret[128] = "", err[256] = "";
    cv_id id;
    rc = cv_admin_camera_add(&ad->adm, &spec, &id, secret, err, sizeof(err));
    if (rc < 0)
        return cli_fail(a, rc, err);
    cv_camera_rec *r = malloc(sizeof(*r));
    if (!r || cv_store_camera_get(ad->store, &id, r) != 0) {
        free(r);
        cli_wipe(secret, sizeof(secret));
        return cli_fail(a, -EIO, "the camera was added but cannot be read back");
    }
    char ingest[512] = "", view[256], hex[CV_ID_HEX_LEN + 1];
    if (r->source == CV_CAM_PUSH)
        ingest_url(a, r, secret, ingest, sizeof(ingest));
    cli_wipe(secret, sizeof(secret));
    view_url(a, r, view, sizeof(view));
    cv_id_to_hex(&r->id, hex);
    if (a->c.json) {
        json_t *o = camera_json(a, ad, r);
        if (r->source == CV_CAM_PUSH)
            json_object_set_new(o, "ingest_url", json_string(ingest));
        cli_print_json(o);
    } else {
        printf("added camera '%s' to home '%s'\n  id:     %s\n", r->name, h.name, hex);
        if (r->source == CV_CAM_PUSH) {
            printf("  ingest: %s\n", ingest);
            print_ingest_note(a, hex);
        } else {
            printf("  pull:   %s (transport %s%s)\n", r->pull_url, transport_name(r->pull_transport),
                   r->sub_pull_secret[0] ? ", with a substream" : "");
        }
        printf("  view:   %s  (with a token: camvault token issue --camera %s)\n", view, hex);
    }
    cli_wipe(ingest, sizeof(ingest));
    free(r);
    return 0;
}

static int camera_list(cli_args *a, cli_admin *ad)
{
    cv_home_rec h;
    const char *home = cli_val(a, O_HOME);
    if (cli_open_admin(&a->c, ad) != 0 || (home && cli_home(a, ad, home, &h) != 0))
        return 1;
    cv_camera_rec *r = NULL;
    size_t n = 0;
    int rc = cv_store_camera_list(ad->store, home ? &h.id : NULL, &r, &n);
    if (rc < 0)
        return cli_fail(a, rc, "cannot list the cameras (store error, see the log)");
    if (a->c.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, camera_json(a, ad, &r[i]));
        cli_print_json(arr);
    } else {
        printf("%-32s  %-6s  %-20s  %s\n", "ID", "SOURCE", "HOME", "NAME");
        for (size_t i = 0; i < n; i++) {
            char hex[CV_ID_HEX_LEN + 1], padded[200];
            cv_home_rec hh;
            if (cv_store_home_get(ad->store, &r[i].home, &hh) != 0)
                snprintf(hh.name, sizeof(hh.name), "?");
            cv_id_to_hex(&r[i].id, hex);
            printf("%-32s  %-6s  %s  %s\n", hex, source_name(r[i].source), cli_pad(hh.name, 20, padded, sizeof(padded)),
                   r[i].name);
        }
    }
    if (r)
        cli_wipe(r, n * sizeof(*r));
    free(r);
    return 0;
}

static int camera_remove(cli_args *a, cli_admin *ad)
{
    cv_camera_rec *r = malloc(sizeof(*r));
    char err[256] = "";
    int rc = 1;
    if (!r || cli_open_admin(&a->c, ad) != 0 || cli_camera_opt(a, ad, a->pos[0], cli_val(a, O_HOME), r) != 0)
        goto out;
    if ((rc = cv_admin_camera_remove(&ad->adm, &r->id, err, sizeof(err))) < 0) {
        rc = cli_fail(a, rc, err);
        goto out;
    }
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&r->id, hex);
    if (a->c.json) {
        json_t *o = json_object();
        json_object_set_new(o, "removed", json_string(hex));
        json_object_set_new(o, "name", cli_jstr(r->name));
        json_object_set_new(o, "home", cli_jid(&r->home));
        cli_print_json(o);
    } else {
        printf("removed camera '%s' (%s); its viewers and its tokens and grants are gone\n", r->name, hex);
    }
    rc = 0;
out:
    free(r);
    return rc;
}

static int camera_rename(cli_args *a, cli_admin *ad)
{
    cv_camera_rec *r = malloc(sizeof(*r));
    char err[256] = "", old[128];
    const char *name = cli_val(a, O_NAME);
    int rc = 1;
    if (!name) {
        fprintf(stderr, "%s: camera rename needs --name NEW\n", a->prog);
        goto out;
    }
    if (!r || cli_open_admin(&a->c, ad) != 0 || cli_camera_opt(a, ad, a->pos[0], cli_val(a, O_HOME), r) != 0)
        goto out;
    snprintf(old, sizeof(old), "%s", r->name);
    if ((rc = cv_admin_camera_rename(&ad->adm, &r->id, name, err, sizeof(err))) < 0 ||
        (rc = cv_store_camera_get(ad->store, &r->id, r)) < 0) {
        rc = cli_fail(a, rc, err[0] ? err : "store error (see the log)");
        goto out;
    }
    if (a->c.json) {
        cli_print_json(camera_json(a, ad, r));
    } else {
        char hex[CV_ID_HEX_LEN + 1], buf[160];
        cv_id_to_hex(&r->id, hex);
        printf("renamed camera %s from '%s' to '%s'\n", hex, cli_safe(old, buf, sizeof(buf)), r->name);
    }
    rc = 0;
out:
    if (r)
        cli_wipe(r, sizeof(*r));
    free(r);
    return rc;
}

static int camera_rotate(cli_args *a, cli_admin *ad)
{
    cv_camera_rec *r = malloc(sizeof(*r));
    char secret[128] = "", err[256] = "", ingest[512] = "";
    int rc = 1;
    if (!r || cli_open_admin(&a->c, ad) != 0 || cli_camera_opt(a, ad, a->pos[0], cli_val(a, O_HOME), r) != 0)
        goto out;
    if (r->source != CV_CAM_PUSH) {
        char buf[160];
        fprintf(stderr, "%s: '%s' is a pull camera: it has no ingest secret\n", a->prog,
                cli_safe(r->name, buf, sizeof(buf)));
        goto out;
    }
    if ((rc = cv_admin_camera_rotate(&ad->adm, &r->id, secret, err, sizeof(err))) < 0) {
        rc = cli_fail(a, rc, err);
        goto out;
    }
    ingest_url(a, r, secret, ingest, sizeof(ingest));
    if (a->c.json) {
        json_t *o = camera_json(a, ad, r);
        json_object_set_new(o, "ingest_url", json_string(ingest));
        cli_print_json(o);
    } else {
        char hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&r->id, hex);
        printf("new ingest secret for camera '%s' (%s); the old one no longer works\n"
               "  ingest: %s\n",
               r->name, hex, ingest);
        print_ingest_note(a, hex);
    }
    rc = 0;
out:
    cli_wipe(secret, sizeof(secret));
    cli_wipe(ingest, sizeof(ingest));
    free(r);
    return rc;
}

static const cli_sub subs[] = {
    {"add",
     CLI_BIT(O_NAME) | CLI_BIT(O_HOME) | CLI_BIT(O_MODEL) | CLI_BIT(O_PULL) | CLI_BIT(O_TRANSPORT) |
         CLI_BIT(O_SUBSTREAM),
     0, 0, "no arguments (the name is --name NAME)", camera_add},
    {"list", CLI_BIT(O_HOME), 0, 0, "", camera_list},
    {"rename", CLI_BIT(O_NAME) | CLI_BIT(O_HOME), 1, 1, "ID|NAME", camera_rename},
    {"remove", CLI_BIT(O_HOME), 1, 1, "ID|NAME", camera_remove},
    {"rotate-secret", CLI_BIT(O_HOME), 1, 1, "ID|NAME", camera_rotate},
    {0, 0, 0, 0, 0, 0},
};

int cmd_camera(int argc, char **argv) { return cli_run(argc, argv, opts, subs, usage); }
