/* camvault token issue|revoke|list: short-lived capability tokens for one
 * camera, the way an RTSP player without an account gets in
 * (rtsp://host:port/cam/ID?token=...). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"

enum { O_CAMERA = CLI_OPT, O_FOR, O_SCOPE, O_TTL, O_TOKEN, O_HOME };

static const struct option opts[] = {
    CLI_COMMON_LONGOPTS,
    {"camera", required_argument, 0, O_CAMERA},
    {"for", required_argument, 0, O_FOR},
    {"scope", required_argument, 0, O_SCOPE},
    {"ttl", required_argument, 0, O_TTL},
    {"token", required_argument, 0, O_TOKEN},
    {"home", required_argument, 0, O_HOME},
    {0, 0, 0, 0},
};

static void usage(FILE *out)
{
    fprintf(out, "usage:\n"
                 "  camvault token issue --camera CAM [--for LOGIN] [--scope live] [--ttl 5m]\n"
                 "  camvault token revoke --token TOKEN|-\n"
                 "  camvault token list [--camera CAM] [--for LOGIN]\n"
                 "\n"
                 "A token lets whoever holds it watch one camera until it expires (at most 24 h):\n"
                 "rtsp://host:port/cam/ID?token=TOKEN. With --for, it is issued to that user, who must\n"
                 "be allowed to see the camera, and it stops working when that access ends. Without\n"
                 "--for it is issued by the local administrator. Revoking ends views at once.\n"
                 "\noptions:\n" CLI_COMMON_HELP
                 "  --camera CAM        the camera, by id or name\n"
                 "  --home HOME         where to look the camera name up\n"
                 "  --for LOGIN         the user the token is for (issue; a filter for list)\n"
                 "  --scope S           live, snapshot, live,snapshot or all (default live)\n"
                 "  --ttl D             lifetime: 90s, 5m (default), 2h ... up to 24h\n"
                 "  --token TOKEN       the token to revoke; '-' reads it from standard input\n");
}

static int token_issue(cli_args *a, cli_admin *ad)
{
    const char *cam = cli_val(a, O_CAMERA), *login = cli_val(a, O_FOR);
    const char *scope = cli_has(a, O_SCOPE) ? cli_val(a, O_SCOPE) : "live";
    const char *ttl = cli_has(a, O_TTL) ? cli_val(a, O_TTL) : "5m";
    if (!cam)
        return cli_usage_error(a, "--camera is required");
    uint32_t scopes;
    int64_t ttl_us;
    if (cv_admin_parse_scopes(scope, &scopes) != 0)
        return cli_usage_error(a, "--scope must be live, snapshot, live,snapshot or all");
    if (cv_admin_parse_duration(ttl, &ttl_us) != 0)
        return cli_usage_error(a, "--ttl must be a duration such as 90s, 5m or 2h");
    cv_camera_rec *c = malloc(sizeof(*c));
    cv_user_rec u;
    int rc = 1;
    char tok[CV_TOKEN_MAX] = "", url[512] = "", err[256] = "";
    if (!c || cli_open_admin(&a->c, ad) != 0 || cli_camera_opt(a, ad, cam, cli_val(a, O_HOME), c) != 0 ||
        (login && cli_user(a, ad, login, &u) != 0))
        goto out;
    cv_token t;
    if ((rc = cv_admin_token_issue(&ad->adm, &c->id, login ? &u.id : NULL, scopes, ttl_us, tok, &t, err,
                                   sizeof(err))) < 0) {
        rc = cli_fail(a, rc, err);
        goto out;
    }
    char base[128], hex[CV_ID_HEX_LEN + 1], sc[32], until[32];
    cli_rtsp_base(&a->c.cfg, a->c.cfg.rtsp_port, base, sizeof(base));
    cv_id_to_hex(&c->id, hex);
    snprintf(url, sizeof(url), "%s/cam/%s?token=%s", base, hex, tok);
    if (a->c.json) {
        json_t *o = json_object();
        json_object_set_new(o, "token", json_string(tok));
        json_object_set_new(o, "rtsp_url", json_string(url));
        /* The server's ports come from the same config the CLI reads. */
        cv_watch_urls wu;
        cv_config_watch_urls(&a->c.cfg, a->c.cfg.rtsp_port, a->c.cfg.http_port, a->c.cfg.https_port, hex, tok, &wu);
        json_t *urls = json_object();
        json_object_set_new(urls, "rtsp", json_string(url));
        if (scopes & CV_SCOPE_LIVE) {
            json_object_set_new(urls, "hls", json_string(wu.hls));
            json_object_set_new(urls, "mp4", json_string(wu.mp4));
            json_object_set_new(urls, "mjpeg", json_string(wu.mjpeg));
        }
        json_object_set_new(urls, "snapshot", json_string(wu.snapshot));
        json_object_set_new(o, "urls", urls);
        cli_wipe(&wu, sizeof(wu));
        json_object_set_new(o, "expires", json_integer(t.expires_us / 1000000));
        json_object_set_new(o, "camera", json_string(hex));
        json_object_set_new(o, "camera_name", cli_jstr(c->name));
        json_object_set_new(o, "scopes", cli_scopes_json(scopes));
        json_object_set_new(o, "for", login ? cli_jstr(u.login) : json_null());
        cli_print_json(o);
    } else {
        cli_time(t.expires_us, until, sizeof(until));
        printf("token for camera '%s' (%s, until %s), issued to %s%s%s:\n"
               "  %s\n"
               "watch with:\n"
               "  ffplay -rtsp_transport tcp '%s'\n"
               "  vlc '%s'\n"
               "  (camvault token issue --json also gives HLS, MP4, MJPEG and snapshot URLs)\n",
               c->name, cli_scopes(scopes, sc, sizeof(sc)), until, login ? "'" : "",
               login ? u.login : "the local administrator", login ? "'" : "", tok, url, url);
    }
    rc = 0;
out:
    cli_wipe(tok, sizeof(tok));
    cli_wipe(url, sizeof(url));
    free(c);
    return rc;
}

static int token_revoke(cli_args *a, cli_admin *ad)
{
    const char *given = cli_val(a, O_TOKEN);
    if (!given)
        return cli_usage_error(a, "--token TOKEN is required ('-' reads it from standard input)");
    char tok[CV_TOKEN_MAX + 2], err[256] = "";
    int rc;
    if (strcmp(given, "-") == 0) {
        if ((rc = cli_read_secret(a, "token", tok, sizeof(tok))) != 0)
            return rc;
    } else {
        snprintf(tok, sizeof(tok), "%s", given);
    }
    if (cli_open_admin(&a->c, ad) != 0) {
        cli_wipe(tok, sizeof(tok));
        return 1;
    }
    cv_token t;
    memset(&t, 0, sizeof(t));
    bool decoded = cv_token_decode(ad->key, tok, strlen(tok), &t) == 0;
    rc = cv_admin_token_revoke(&ad->adm, tok, err, sizeof(err));
    cli_wipe(tok, sizeof(tok));
    if (rc < 0)
        return cli_fail(a, rc, err);
    uint8_t h[32];
    char hh[65], cam[CV_ID_HEX_LEN + 1] = "";
    cv_token_hash(&t, h);
    cv_hex_encode(h, sizeof(h), hh, sizeof(hh));
    if (decoded)
        cv_id_to_hex(&t.camera, cam);
    if (a->c.json) {
        json_t *o = json_object();
        json_object_set_new(o, "revoked", json_string(hh));
        json_object_set_new(o, "camera", json_string(cam));
        cli_print_json(o);
    } else {
        printf("revoked token %.16s for camera %s; its views end at once\n", hh, cam);
    }
    return 0;
}

static json_t *token_json(cli_admin *ad, const cv_token_rec *r, cv_camera_rec *scratch)
{
    char hh[65];
    cv_hex_encode(r->hash, sizeof(r->hash), hh, sizeof(hh));
    json_t *o = json_object();
    json_object_set_new(o, "hash", json_string(hh));
    json_object_set_new(o, "camera", cli_jid(&r->camera));
    json_object_set_new(o, "camera_name", cv_store_camera_get(ad->store, &r->camera, scratch) == 0
                                              ? cli_jstr(scratch->name)
                                              : json_null());
    json_object_set_new(o, "principal_kind",
                        json_string(r->principal_kind == CV_PRINCIPAL_INTEGRATION ? "integration" : "user"));
    cv_user_rec u;
    if (cv_id_is_zero(&r->principal)) {
        json_object_set_new(o, "principal", json_null());
        json_object_set_new(o, "login", json_null());
    } else {
        json_object_set_new(o, "principal", cli_jid(&r->principal));
        json_object_set_new(o, "login",
                            r->principal_kind == CV_PRINCIPAL_USER &&
                                    cv_store_user_get(ad->store, &r->principal, &u) == 0
                                ? cli_jstr(u.login)
                                : json_null());
    }
    json_object_set_new(o, "scopes", cli_scopes_json(r->scopes));
    json_object_set_new(o, "created", json_integer(r->created_us / 1000000));
    json_object_set_new(o, "expires", json_integer(r->expires_us / 1000000));
    json_object_set_new(o, "revoked", json_boolean(r->revoked));
    return o;
}

static int token_list(cli_args *a, cli_admin *ad)
{
    const char *cam = cli_val(a, O_CAMERA), *login = cli_val(a, O_FOR);
    cv_camera_rec *c = malloc(sizeof(*c));
    cv_user_rec u;
    cv_token_rec *r = NULL;
    size_t n = 0;
    int rc = 1;
    if (!c || cli_open_admin(&a->c, ad) != 0 || (cam && cli_camera_opt(a, ad, cam, cli_val(a, O_HOME), c) != 0) ||
        (login && cli_user(a, ad, login, &u) != 0))
        goto out;
    if ((rc = cv_store_token_list(ad->store, cam ? &c->id : NULL, login ? &u.id : NULL, cv_wall_us(), &r, &n)) < 0) {
        rc = cli_fail(a, rc, "cannot list the tokens (store error, see the log)");
        goto out;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, token_json(ad, &r[i], c));
    if (a->c.json) {
        cli_print_json(arr);
    } else {
        printf("%-16s  %-24s  %-13s  %-20s  %-7s  %s\n", "TOKEN HASH", "FOR", "SCOPES", "EXPIRES", "REVOKED",
               "CAMERA");
        for (size_t i = 0; i < n; i++) {
            json_t *o = json_array_get(arr, i);
            json_t *lg = json_object_get(o, "login"), *cn = json_object_get(o, "camera_name");
            char t[32], sc[32], who[80];
            cli_time(r[i].expires_us, t, sizeof(t));
            if (json_is_string(lg))
                snprintf(who, sizeof(who), "%s", json_string_value(lg));
            else if (cv_id_is_zero(&r[i].principal))
                snprintf(who, sizeof(who), "(administrator)");
            else
                snprintf(who, sizeof(who), "%.8s (%s)", json_string_value(json_object_get(o, "principal")),
                         r[i].principal_kind == CV_PRINCIPAL_INTEGRATION ? "integration" : "removed user");
            printf("%-16.16s  %-24s  %-13s  %-20s  %-7s  %s\n", json_string_value(json_object_get(o, "hash")), who,
                   cli_scopes(r[i].scopes, sc, sizeof(sc)), t, r[i].revoked ? "yes" : "no",
                   json_is_string(cn) ? json_string_value(cn) : json_string_value(json_object_get(o, "camera")));
        }
        json_decref(arr);
    }
    rc = 0;
out:
    free(r);
    free(c);
    return rc;
}

static const cli_sub subs[] = {
    {"issue", CLI_BIT(O_CAMERA) | CLI_BIT(O_FOR) | CLI_BIT(O_SCOPE) | CLI_BIT(O_TTL) | CLI_BIT(O_HOME), 0, 0,
     "no arguments", token_issue},
    {"revoke", CLI_BIT(O_TOKEN), 0, 0, "no arguments (the token is --token TOKEN)", token_revoke},
    {"list", CLI_BIT(O_CAMERA) | CLI_BIT(O_FOR) | CLI_BIT(O_HOME), 0, 0, "no arguments", token_list},
    {0, 0, 0, 0, 0, 0},
};

int cmd_token(int argc, char **argv) { return cli_run(argc, argv, opts, subs, usage); }
