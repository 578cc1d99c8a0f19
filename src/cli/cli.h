/* Shared pieces of the camvault command line. */
#ifndef CV_CLI_CLI_H
#define CV_CLI_CLI_H

#include <stdbool.h>

#include "server/config.h"
#include "store/store.h"

typedef struct {
    cv_config cfg;
    bool json;
    const char *config_path;
} cli_common;

/* Option codes for the flags every subcommand shares (above 256 so they do
 * not clash with short options). */
enum {
    OPT_DATA = 300,
    OPT_CONFIG,
    OPT_RTSP_PORT,
    OPT_HTTP_PORT,
    OPT_BIND,
    OPT_LOG_LEVEL,
    OPT_JSON,
    OPT_HELP,
};

#define CLI_COMMON_LONGOPTS                                         \
    {"data", required_argument, 0, OPT_DATA},                       \
    {"config", required_argument, 0, OPT_CONFIG},                   \
    {"rtsp-port", required_argument, 0, OPT_RTSP_PORT},             \
    {"http-port", required_argument, 0, OPT_HTTP_PORT},             \
    {"bind", required_argument, 0, OPT_BIND},                       \
    {"log-level", required_argument, 0, OPT_LOG_LEVEL},             \
    {"json", no_argument, 0, OPT_JSON},                             \
    {"help", no_argument, 0, 'h'}

#define CLI_COMMON_HELP                                                                    \
    "  --data DIR          data directory (default ./var)\n"                               \
    "  --config FILE       config file (INI, [server] section; flags override it)\n"      \
    "  --rtsp-port N       RTSP port (default 8554; 0 picks a free one, logged)\n"        \
    "  --http-port N       HTTP port (default 8080)\n"                                     \
    "  --bind ADDR         listen address (default 127.0.0.1, loopback only)\n"           \
    "  --log-level L       error, warn, info (default) or debug\n"                        \
    "  --json              machine-readable output\n"                                      \
    "  -h, --help          this help\n"

/* Loads the config file first (wherever --config appears), then applies
 * the common flags. Returns 1 if opt was a common flag, 0 if not, -1 on error. */
int cli_common_opt(cli_common *c, int opt, const char *arg);
/* Call once before parsing flags: scans argv for --config and loads it. */
int cli_common_init(cli_common *c, int argc, char **argv);
/* Creates the data directory (mode 0700) if needed and opens the store. */
int cli_open_store(const cli_common *c, cv_store **out);
/* "rtsp://host:port" for URLs printed to people. */
void cli_rtsp_base(const cv_config *cfg, int port, char *out, size_t cap);

int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_camera(int argc, char **argv);

#endif
