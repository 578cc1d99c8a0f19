/* camvault audit: reads the append-only audit log. Its fields may hold what
 * clients sent (login names from RTSP), so the table output is made safe for
 * a terminal. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli/cli.h"

enum { O_CAMERA = CLI_OPT, O_AFTER, O_LIMIT, O_HOME };

#define AUDIT_DEFAULT_LIMIT 100
#define AUDIT_MAX_LIMIT 100000

static const struct option opts[] = {
    CLI_COMMON_LONGOPTS,
    {"camera", required_argument, 0, O_CAMERA},
    {"after", required_argument, 0, O_AFTER},
    {"limit", required_argument, 0, O_LIMIT},
    {"home", required_argument, 0, O_HOME},
    {0, 0, 0, 0},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: camvault audit [--camera CAM] [--after SEQ] [--limit N]\n"
                 "\n"
                 "Prints the audit log, oldest first: logins, views, grants, revocations, changes.\n"
                 "To follow it, pass the last SEQ you saw as --after.\n"
                 "\noptions:\n" CLI_COMMON_HELP
                 "  --camera CAM        only this camera's events (id, also of a removed camera, or name)\n"
                 "  --home HOME         where to look the camera name up\n"
                 "  --after SEQ         only events after this sequence number (default 0)\n"
                 "  --limit N           at most N events (default 100)\n");
}

static int parse_num(const cli_args *a, const char *flag, const char *s, uint64_t max, uint64_t *out)
{
    if (cv_str_to_u64(cv_str_from(s), max, out) != 0)
        return cli_usage_error(a, "--%s must be a number from 0 to %llu", flag, (unsigned long long)max);
    return 0;
}

static json_t *audit_json(const cv_audit_rec *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "seq", json_integer(r->seq));
    json_object_set_new(o, "time", json_integer(r->ts_us / 1000000));
    json_object_set_new(o, "ts_us", json_integer(r->ts_us));
    json_object_set_new(o, "event", cli_jstr(r->event));
    json_object_set_new(o, "principal", cli_jstr(r->principal));
    json_object_set_new(o, "camera", cli_jstr(r->camera));
    json_object_set_new(o, "address", cli_jstr(r->address));
    json_object_set_new(o, "protocol", cli_jstr(r->protocol));
    json_object_set_new(o, "detail", cli_jstr(r->detail));
    return o;
}

int cmd_audit(int argc, char **argv)
{
    cli_args a;
    int rc = cli_parse(&a, argc, argv, opts, false, usage);
    if (rc != CLI_CONTINUE)
        return rc;
    if ((rc = cli_npos(&a, 0, 0, "no arguments")) != 0)
        return rc;
    uint64_t after = 0, limit = AUDIT_DEFAULT_LIMIT;
    if (cli_has(&a, O_AFTER) && (rc = parse_num(&a, "after", cli_val(&a, O_AFTER), INT64_MAX, &after)) != 0)
        return rc;
    if (cli_has(&a, O_LIMIT) && (rc = parse_num(&a, "limit", cli_val(&a, O_LIMIT), AUDIT_MAX_LIMIT, &limit)) != 0)
        return rc;
    if (cli_has(&a, O_HOME) && !cli_has(&a, O_CAMERA))
        return cli_usage_error(&a, "--home only helps to find --camera");

    cli_admin ad;
    cv_camera_rec *c = malloc(sizeof(*c));
    cv_audit_rec *r = NULL;
    size_t n = 0;
    cv_id cam;
    const char *want = cli_val(&a, O_CAMERA);
    rc = 1;
    if (!c || cli_open_admin(&a.c, &ad) != 0)
        goto out;
    /* A removed camera's history stays readable by its id. */
    if (want && !(strlen(want) == CV_ID_HEX_LEN && cv_id_from_hex(want, CV_ID_HEX_LEN, &cam) == 0)) {
        if (cli_camera_opt(&a, &ad, want, cli_val(&a, O_HOME), c) != 0)
            goto close;
        cam = c->id;
    }
    if ((rc = cv_store_audit_list(ad.store, (int64_t)after, want ? &cam : NULL, (size_t)limit, &r, &n)) < 0) {
        rc = cli_fail(&a, rc, "cannot read the audit log (store error, see the log)");
        goto close;
    }
    if (a.c.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, audit_json(&r[i]));
        cli_print_json(arr);
    } else {
        printf("%-6s  %-20s  %-19s  %-28s  %-8s  %-5s  %-15s  %s\n", "SEQ", "TIME", "EVENT", "PRINCIPAL", "CAMERA",
               "PROTO", "ADDRESS", "DETAIL");
        for (size_t i = 0; i < n; i++) {
            char t[32], ev[64], pr[160], prp[200], ca[40], ad_[96], pt[32], de[400];
            cli_time(r[i].ts_us, t, sizeof(t));
            printf("%-6lld  %-20s  %-19s  %s  %-8.8s  %-5s  %-15s  %s\n", (long long)r[i].seq, t,
                   cli_safe(r[i].event, ev, sizeof(ev)),
                   cli_pad(cli_safe(r[i].principal, pr, sizeof(pr)), 28, prp, sizeof(prp)),
                   r[i].camera[0] ? cli_safe(r[i].camera, ca, sizeof(ca)) : "-",
                   cli_safe(r[i].protocol, pt, sizeof(pt)),
                   r[i].address[0] ? cli_safe(r[i].address, ad_, sizeof(ad_)) : "-",
                   cli_safe(r[i].detail, de, sizeof(de)));
        }
    }
    rc = 0;
close:
    cli_close_admin(&ad);
out:
    free(r);
    free(c);
    return rc;
}
