/* Server configuration: embedded defaults, then an optional config file
 * (INI "key = value", section [server]), then command-line flags. Read once
 * at start and never written again. */
#ifndef CV_SERVER_CONFIG_H
#define CV_SERVER_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "hub/stream.h"

typedef struct {
    char data_dir[PATH_MAX];    /* default "./var" */
    char bind_addr[64];         /* default "127.0.0.1" */
    int rtsp_port;              /* default 8554; 0 = ephemeral */
    int http_port;              /* default 8080; 0 = ephemeral */
    int session_timeout_s;      /* default 60 */
    int max_connections;        /* default 4096 */
    int log_level;              /* cv_log_level */
    cv_stream_limits limits;
    /* Throttling of failed authentication (auth/guard.h). */
    int throttle_free;          /* failures before the first lockout, default 5 */
    int64_t throttle_base_us;   /* first lockout, default 1 s; doubles after each further failure */
    int64_t throttle_max_us;    /* cap, default 15 min */
    /* HTTPS (TLS via OpenSSL): port 8443 by default, -1 disables it. Without
     * tls_cert/tls_key a self-signed certificate for localhost is made under
     * data_dir/tls on first start. */
    int https_port;
    /* RTSPS (RTSP inside TLS, interleaved TCP only) with the same
     * certificate: port 8322 by default, -1 disables it, 0 = ephemeral. */
    int rtsps_port;
    char tls_cert[512];
    char tls_key[512];
    /* Base of the HTTP links the server and the CLI hand out, e.g.
     * "https://cams.example.org"; "" derives it from bind and the ports. */
    char public_url[256];
    /* LL-HLS (hls/packager.h) */
    int hls_part_ms;            /* default 334 */
    int hls_segment_ms;         /* default 2000 */
    int hls_target_s;           /* default 4 */
    int http_timeout_s;         /* HTTP request/idle timeout (slow clients), default 30 */
    /* Lifetime of the stream URLs handed to linked partners (fulfill/),
     * seconds: default 300 (5 minutes). */
    int link_stream_ttl_s;
    /* The web app's folder (index.html, and node_modules from npm ci);
     * "" : the source tree's web/ this binary was built from. */
    char web_root[512];
} cv_config;

void cv_config_defaults(cv_config *c);
/* Loads a config file over c. Returns 0, or -1 with a message in err
 * (file missing, line N unparseable, unknown key, bad value). */
int cv_config_load(cv_config *c, const char *path, char *err, size_t errcap);
/* Sets one key from a string (shared by the file and the flags). */
int cv_config_set(cv_config *c, const char *key, const char *value, char *err, size_t errcap);
/* The SQLite file under data_dir. */
void cv_config_db_path(const cv_config *c, char *out, size_t cap);
/* The server key file under data_dir (never inside the database). */
void cv_config_key_path(const cv_config *c, char *out, size_t cap);
bool cv_config_is_loopback(const cv_config *c);
/* The secret /metrics asks for, in a file under data_dir (made 0600 on
 * first start). */
void cv_config_metrics_token_path(const cv_config *c, char *out, size_t cap);
/* The self-signed certificate and key used when tls_cert is not set. */
void cv_config_tls_paths(const cv_config *c, char *cert, char *key, size_t cap);

/* The base of HTTP links ("https://host:8443", no trailing slash). */
void cv_config_http_base(const cv_config *c, int http_port, int https_port, char *out, size_t cap);
/* Ready-to-play URLs for a camera and a token, one per path. rtsp_port,
 * http_port, https_port: the ports actually listened on. */
typedef struct {
    char rtsp[512];
    char hls[512];
    char mp4[512];
    char mjpeg[512];
    char snapshot[512];
} cv_watch_urls;
void cv_config_watch_urls(const cv_config *c, int rtsp_port, int http_port, int https_port, const char *camera_hex,
                          const char *token, cv_watch_urls *out);

#endif
