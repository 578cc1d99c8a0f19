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

#endif
