/* camvault camera add|list|remove: works on the same store as a running
 * server, which notices the change within a second. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/id.h"
#include "cli/cli.h"

static const char *source_name(cv_cam_source s) { return s == CV_CAM_PULL ? "pull" : "push"; }
static const char *transport_name(cv_pull_transport t)
{
    return t == CV_PULL_TCP ? "tcp" : t == CV_PULL_UDP ? "udp" : "auto";
}

/* Pull URLs may embed credentials: show them masked. */
static void mask_url(const char *url, char *out, size_t cap)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (!at || (slash && slash < at)) {
        snprintf(out, cap, "%s", url);
        return;
    }
    snprintf(out, cap, "%.*s***:***%s", (int)(scheme + 3 - url), url, at);
}

static json_t *camera_json(const cv_camera_rec *r, const cli_common *c)
{
    char hex[CV_ID_HEX_LEN + 1], base[128], url[1200], masked[1024];
    cv_id_to_hex(&r->id, hex);
    cli_rtsp_base(&c->cfg, c->cfg.rtsp_port, base, sizeof(base));
    snprintf(url, sizeof(url), "%s/cam/%s", base, hex);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(hex));
    json_object_set_new(o, "name", json_string(r->name));
    json_object_set_new(o, "source", json_string(source_name(r->source)));
    if (r->source == CV_CAM_PUSH) {
        json_object_set_new(o, "ingest_url", json_string(url));
    } else {
        mask_url(r->pull_url, masked, sizeof(masked));
        json_object_set_new(o, "pull_url", json_string(masked));
        json_object_set_new(o, "pull_transport", json_string(transport_name(r->pull_transport)));
    }
    json_object_set_new(o, "rtsp_url", json_string(url));
    json_object_set_new(o, "created", json_integer(r->created_us / 1000000));
    return o;
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(o);
}

static int resolve(cv_store *st, const char *what, cv_camera_rec *out)
{
    cv_id id;
    if (cv_id_from_hex(what, strlen(what), &id) == 0 && cv_store_camera_get(st, &id, out) == 0)
        return 0;
    return cv_store_camera_find_name(st, what, out);
}

static void usage_camera(FILE *out)
{
    fprintf(out, "usage:\n"
                 "  camvault camera add --name NAME [--pull URL [--transport auto|tcp|udp]] [options]\n"
                 "  camvault camera list [options]\n"
                 "  camvault camera remove ID|NAME [options]\n"
                 "\n"
                 "A push camera sends its stream to the printed ingest URL (RTSP ANNOUNCE/RECORD).\n"
                 "A pull camera is fetched by the server from URL (rtsp://user:pass@host/path).\n"
                 "\noptions:\n" CLI_COMMON_HELP);
}

int cmd_camera(int argc, char **argv)
{
    cli_common c;
    if (cli_common_init(&c, argc, argv) != 0)
        return 1;
    if (argc < 2 || argv[1][0] == '-') {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        usage_camera(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    const char *sub = argv[1];
    argc--;
    argv++;
    enum { OPT_NAME = 400, OPT_PULL, OPT_TRANSPORT };
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"name", required_argument, 0, OPT_NAME},
        {"pull", required_argument, 0, OPT_PULL},
        {"transport", required_argument, 0, OPT_TRANSPORT},
        {0, 0, 0, 0},
    };
    const char *name = NULL, *pull = NULL, *transport = "auto";
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = cli_common_opt(&c, opt, optarg);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        switch (opt) {
        case OPT_NAME: name = optarg; break;
        case OPT_PULL: pull = optarg; break;
        case OPT_TRANSPORT: transport = optarg; break;
        case 'h': usage_camera(stdout); return 0;
        default: usage_camera(stderr); return 2;
        }
    }

    cv_store *st = NULL;
    if (cli_open_store(&c, &st) < 0)
        return 1;
    int ret = 0;
    if (strcmp(sub, "add") == 0) {
        cv_camera_rec r = {0};
        if (!name) {
            fprintf(stderr, "camvault camera add: --name is required\n");
            ret = 2;
            goto out;
        }
        snprintf(r.name, sizeof(r.name), "%s", name);
        r.source = pull ? CV_CAM_PULL : CV_CAM_PUSH;
        if (pull) {
            if (strlen(pull) >= sizeof(r.pull_url)) {
                fprintf(stderr, "camvault camera add: --pull URL too long\n");
                ret = 2;
                goto out;
            }
            snprintf(r.pull_url, sizeof(r.pull_url), "%s", pull);
            if (strcmp(transport, "tcp") == 0)
                r.pull_transport = CV_PULL_TCP;
            else if (strcmp(transport, "udp") == 0)
                r.pull_transport = CV_PULL_UDP;
            else if (strcmp(transport, "auto") == 0)
                r.pull_transport = CV_PULL_AUTO;
            else {
                fprintf(stderr, "camvault camera add: --transport must be auto, tcp or udp\n");
                ret = 2;
                goto out;
            }
        }
        cv_id id;
        int rc = cv_store_camera_add(st, &r, &id);
        if (rc < 0) {
            fprintf(stderr, "camvault camera add: %s\n",
                    rc == -EEXIST ? "a camera with that name exists"
                    : rc == -EINVAL ? "invalid name or pull URL"
                                    : "store error");
            ret = 1;
            goto out;
        }
        cv_store_camera_get(st, &id, &r);
        if (c.json) {
            print_json(camera_json(&r, &c));
        } else {
            json_t *o = camera_json(&r, &c);
            printf("added camera '%s'\n  id:   %s\n", r.name, json_string_value(json_object_get(o, "id")));
            if (r.source == CV_CAM_PUSH)
                printf("  push: %s\n", json_string_value(json_object_get(o, "ingest_url")));
            else
                printf("  pull: %s\n", json_string_value(json_object_get(o, "pull_url")));
            printf("  view: %s\n", json_string_value(json_object_get(o, "rtsp_url")));
            json_decref(o);
        }
    } else if (strcmp(sub, "list") == 0) {
        cv_camera_rec *recs = NULL;
        size_t n = 0;
        if (cv_store_camera_list(st, &recs, &n) != 0) {
            fprintf(stderr, "camvault camera list: store error\n");
            ret = 1;
            goto out;
        }
        if (c.json) {
            json_t *a = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(a, camera_json(&recs[i], &c));
            print_json(a);
        } else {
            printf("%-32s  %-6s  %s\n", "ID", "SOURCE", "NAME");
            for (size_t i = 0; i < n; i++) {
                char hex[CV_ID_HEX_LEN + 1];
                cv_id_to_hex(&recs[i].id, hex);
                printf("%-32s  %-6s  %s\n", hex, source_name(recs[i].source), recs[i].name);
            }
        }
        free(recs);
    } else if (strcmp(sub, "remove") == 0) {
        if (optind >= argc) {
            fprintf(stderr, "camvault camera remove: which camera? (id or name)\n");
            ret = 2;
            goto out;
        }
        cv_camera_rec r;
        if (resolve(st, argv[optind], &r) != 0 || cv_store_camera_remove(st, &r.id) != 0) {
            fprintf(stderr, "camvault camera remove: no camera '%s'\n", argv[optind]);
            ret = 1;
            goto out;
        }
        char hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&r.id, hex);
        if (c.json) {
            json_t *o = json_object();
            json_object_set_new(o, "removed", json_string(hex));
            json_object_set_new(o, "name", json_string(r.name));
            print_json(o);
        } else {
            printf("removed camera '%s' (%s)\n", r.name, hex);
        }
    } else {
        fprintf(stderr, "camvault camera: unknown subcommand '%s'\n", sub);
        usage_camera(stderr);
        ret = 2;
    }
out:
    cv_store_close(st);
    return ret;
}
