#include "server/config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

void cv_config_defaults(cv_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->data_dir, sizeof(c->data_dir), "./var");
    snprintf(c->bind_addr, sizeof(c->bind_addr), "127.0.0.1");
    c->rtsp_port = 8554;
    c->http_port = 8080;
    c->session_timeout_s = 60;
    c->max_connections = 4096;
    c->log_level = CV_LOG_INFO;
    cv_stream_limits_default(&c->limits);
    c->throttle_free = 5;
    c->throttle_base_us = 1000000;
    c->throttle_max_us = 15 * 60 * 1000000LL;
    c->https_port = 8443;
    c->rtsps_port = 8322;
    c->hls_part_ms = 334;
    c->hls_segment_ms = 2000;
    c->hls_target_s = 4;
    c->http_timeout_s = 30;
    c->link_stream_ttl_s = 300;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

int cv_config_set(cv_config *c, const char *key, const char *v, char *err, size_t errcap)
{
    long n;
#define INT_KEY(name, lo, hi, dst, mul)                                                       \
    if (strcmp(key, name) == 0) {                                                          \
        if (parse_int(v, lo, hi, &n) != 0) {                                               \
            snprintf(err, errcap, "%s must be a whole number from %ld to %ld", name, (long)(lo), \
                     (long)(hi));                                                          \
            return -1;                                                                     \
        }                                                                                  \
        dst = n * (mul);                                                                   \
        return 0;                                                                          \
    }
    /* Keys are in KiB and ms for people; the hub counts bytes and us. */
    INT_KEY("rtsp_port", 0, 65535, c->rtsp_port, 1)
    INT_KEY("http_port", 0, 65535, c->http_port, 1)
    INT_KEY("session_timeout", 5, 3600, c->session_timeout_s, 1)
    INT_KEY("max_connections", 1, 1000000, c->max_connections, 1)
    INT_KEY("viewer_queue_kib", 64, 1 << 20, c->limits.queue_bytes, 1024)
    INT_KEY("viewer_queue_ms", 100, 60000, c->limits.queue_age_us, 1000)
    INT_KEY("viewer_stall_ms", 500, 600000, c->limits.stall_us, 1000)
    INT_KEY("prebuffer_kib", 64, 1 << 20, c->limits.prebuffer_bytes, 1024)
    INT_KEY("throttle_free_failures", 0, 1000, c->throttle_free, 1)
    INT_KEY("throttle_lockout_ms", 10, 3600000, c->throttle_base_us, 1000)
    INT_KEY("throttle_max_lockout_s", 1, 86400, c->throttle_max_us, 1000000LL)
    INT_KEY("https_port", -1, 65535, c->https_port, 1)
    INT_KEY("rtsps_port", -1, 65535, c->rtsps_port, 1)
    INT_KEY("hls_part_ms", 100, 2000, c->hls_part_ms, 1)
    INT_KEY("hls_segment_ms", 500, 10000, c->hls_segment_ms, 1)
    INT_KEY("hls_target_duration", 1, 30, c->hls_target_s, 1)
    INT_KEY("http_timeout", 1, 3600, c->http_timeout_s, 1)
    INT_KEY("link_stream_ttl", 1, 3600, c->link_stream_ttl_s, 1)
#undef INT_KEY
#define STR_KEY(name, dst, what)                                        \
    if (strcmp(key, name) == 0) {                                    \
        if (strlen(v) >= sizeof(dst)) {                              \
            snprintf(err, errcap, "%s must be %s", name, what);      \
            return -1;                                               \
        }                                                            \
        snprintf(dst, sizeof(dst), "%s", v);                         \
        return 0;                                                    \
    }
    STR_KEY("tls_cert", c->tls_cert, "a PEM certificate chain file")
    STR_KEY("tls_key", c->tls_key, "a PEM private key file")
    STR_KEY("web_root", c->web_root, "a directory path")
    if (strcmp(key, "public_url") == 0 && *v && strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
        snprintf(err, errcap, "public_url must start with http:// or https://");
        return -1;
    }
    STR_KEY("public_url", c->public_url, "a URL such as https://cams.example.org")
#undef STR_KEY
    if (strcmp(key, "data") == 0) {
        if (!*v || strlen(v) >= sizeof(c->data_dir)) {
            snprintf(err, errcap, "data must be a directory path");
            return -1;
        }
        snprintf(c->data_dir, sizeof(c->data_dir), "%s", v);
        return 0;
    }
    if (strcmp(key, "bind") == 0) {
        if (!*v || strlen(v) >= sizeof(c->bind_addr)) {
            snprintf(err, errcap, "bind must be an IP address");
            return -1;
        }
        snprintf(c->bind_addr, sizeof(c->bind_addr), "%s", v);
        return 0;
    }
    if (strcmp(key, "log_level") == 0) {
        int l = cv_log_parse_level(v);
        if (l < 0) {
            snprintf(err, errcap, "log_level must be error, warn, info or debug");
            return -1;
        }
        c->log_level = l;
        return 0;
    }
    snprintf(err, errcap, "unknown setting '%s'", key);
    return -1;
}

typedef struct {
    cv_config *c;
    char *err;
    size_t errcap;
    int line;
} load_ctx;

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    load_ctx *l = user;
    if (*section && strcmp(section, "server") != 0) {
        snprintf(l->err, l->errcap, "unknown section [%s]", section);
        return 0;
    }
    char e[160];
    if (cv_config_set(l->c, name, value, e, sizeof(e)) != 0) {
        snprintf(l->err, l->errcap, "%s", e);
        return 0;
    }
    return 1;
}

int cv_config_load(cv_config *c, const char *path, char *err, size_t errcap)
{
    load_ctx l = {c, err, errcap, 0};
    err[0] = '\0';
    int rc = ini_parse(path, on_ini, &l);
    if (rc == -1) {
        snprintf(err, errcap, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (rc != 0) {
        char e[200];
        snprintf(e, sizeof(e), "%s line %d: %s", path, rc, err[0] ? err : "syntax error");
        snprintf(err, errcap, "%s", e);
        return -1;
    }
    return 0;
}

void cv_config_db_path(const cv_config *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s/camvault.db", c->data_dir);
}

void cv_config_key_path(const cv_config *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s/server.key", c->data_dir);
}

bool cv_config_is_loopback(const cv_config *c)
{
    return strncmp(c->bind_addr, "127.", 4) == 0 || strcmp(c->bind_addr, "::1") == 0 ||
           strcmp(c->bind_addr, "localhost") == 0;
}

void cv_config_metrics_token_path(const cv_config *c, char *out, size_t cap)
{
    snprintf(out, cap, "%s/metrics.token", c->data_dir);
}

void cv_config_tls_paths(const cv_config *c, char *cert, char *key, size_t cap)
{
    if (c->tls_cert[0])
        snprintf(cert, cap, "%s", c->tls_cert);
    else
        snprintf(cert, cap, "%s/tls/cert.pem", c->data_dir);
    if (c->tls_key[0])
        snprintf(key, cap, "%s", c->tls_key);
    else
        snprintf(key, cap, "%s/tls/key.pem", c->data_dir);
}

void cv_config_http_base(const cv_config *c, int http_port, int https_port, char *out, size_t cap)
{
    const char *host = c->bind_addr;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = "127.0.0.1";
    bool v6 = strchr(host, ':') != NULL;
    /* Plain HTTP is for loopback; beyond it links use HTTPS. */
    if (c->public_url[0]) {
        size_t n = strlen(c->public_url);
        snprintf(out, cap, "%.*s", (int)(c->public_url[n - 1] == '/' ? n - 1 : n), c->public_url);
    } else if (cv_config_is_loopback(c) || https_port < 0) {
        snprintf(out, cap, v6 ? "http://[%s]:%d" : "http://%s:%d", cv_config_is_loopback(c) ? host : "127.0.0.1",
                 http_port);
    } else {
        snprintf(out, cap, v6 ? "https://[%s]:%d" : "https://%s:%d", host, https_port);
    }
}

void cv_config_watch_urls(const cv_config *c, int rtsp_port, int http_port, int https_port, const char *camera_hex,
                          const char *token, cv_watch_urls *out)
{
    const char *host = c->bind_addr;
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        host = "127.0.0.1";
    bool v6 = strchr(host, ':') != NULL;
    char base[300];
    cv_config_http_base(c, http_port, https_port, base, sizeof(base));
    snprintf(out->rtsp, sizeof(out->rtsp), v6 ? "rtsp://[%s]:%d/cam/%s?token=%s" : "rtsp://%s:%d/cam/%s?token=%s",
             host, rtsp_port, camera_hex, token);
    snprintf(out->hls, sizeof(out->hls), "%s/cam/%s/index.m3u8?token=%s", base, camera_hex, token);
    snprintf(out->mp4, sizeof(out->mp4), "%s/cam/%s/live.mp4?token=%s", base, camera_hex, token);
    snprintf(out->mjpeg, sizeof(out->mjpeg), "%s/cam/%s/live.mjpeg?token=%s&fps=5", base, camera_hex, token);
    snprintf(out->snapshot, sizeof(out->snapshot), "%s/cam/%s/snapshot.jpg?token=%s", base, camera_hex, token);
}
