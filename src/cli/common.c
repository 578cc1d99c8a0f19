#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/id.h"
#include "base/log.h"
#include "cli/cli.h"

int cli_common_init(cli_common *c, int argc, char **argv)
{
    memset(c, 0, sizeof(*c));
    cv_config_defaults(&c->cfg);
    if (cv_id_init() != 0) {
        fprintf(stderr, "camvault: cannot initialise libsodium\n");
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
        if (!path)
            continue;
        char err[256];
        if (cv_config_load(&c->cfg, path, err, sizeof(err)) != 0) {
            fprintf(stderr, "camvault: %s\n", err);
            return -1;
        }
        c->config_path = path;
    }
    cv_log_set_level((cv_log_level)c->cfg.log_level);
    return 0;
}

int cli_common_opt(cli_common *c, int opt, const char *arg)
{
    const char *key = NULL;
    switch (opt) {
    case OPT_DATA: key = "data"; break;
    case OPT_RTSP_PORT: key = "rtsp_port"; break;
    case OPT_HTTP_PORT: key = "http_port"; break;
    case OPT_BIND: key = "bind"; break;
    case OPT_LOG_LEVEL: key = "log_level"; break;
    case OPT_CONFIG: return 1; /* loaded by cli_common_init */
    case OPT_JSON: c->json = true; return 1;
    default: return 0;
    }
    char err[160];
    if (cv_config_set(&c->cfg, key, arg, err, sizeof(err)) != 0) {
        fprintf(stderr, "camvault: %s\n", err);
        return -1;
    }
    if (opt == OPT_LOG_LEVEL)
        cv_log_set_level((cv_log_level)c->cfg.log_level);
    return 1;
}

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int cli_open_store(const cli_common *c, cv_store **out)
{
    int rc = mkdir_p(c->cfg.data_dir);
    if (rc < 0) {
        fprintf(stderr, "camvault: cannot create data directory %s: %s\n", c->cfg.data_dir, strerror(-rc));
        return rc;
    }
    char db[PATH_MAX + 32];
    cv_config_db_path(&c->cfg, db, sizeof(db));
    rc = cv_store_open(out, db);
    if (rc < 0)
        fprintf(stderr, "camvault: cannot open the store %s: %s\n", db, strerror(-rc));
    return rc;
}

void cli_rtsp_base(const cv_config *cfg, int port, char *out, size_t cap)
{
    const char *host = cfg->bind_addr;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = "127.0.0.1";
    if (strchr(host, ':'))
        snprintf(out, cap, "rtsp://[%s]:%d", host, port);
    else
        snprintf(out, cap, "rtsp://%s:%d", host, port);
}
