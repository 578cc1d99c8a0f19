/* Shared pieces of the camvault command line. The administrative commands
 * only parse flags, resolve names, call cv_admin_* (admin/admin.h) and print;
 * every rule lives in the admin module. Exit codes: 0 ok, 1 the operation
 * failed (message on stderr), 2 usage error. */
#ifndef CV_CLI_CLI_H
#define CV_CLI_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "admin/admin.h"
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
    OPT_HTTPS_PORT,
    OPT_RTSPS_PORT,
    OPT_BIND,
    OPT_LOG_LEVEL,
    OPT_JSON,
    OPT_HELP,
};

/* A command group's own flags have codes CLI_OPT + 0 .. CLI_OPT + 31. */
#define CLI_OPT 400
#define CLI_BIT(opt) (1u << ((opt) - CLI_OPT))

#define CLI_COMMON_LONGOPTS                                         \
    {"data", required_argument, 0, OPT_DATA},                       \
    {"config", required_argument, 0, OPT_CONFIG},                   \
    {"rtsp-port", required_argument, 0, OPT_RTSP_PORT},             \
    {"http-port", required_argument, 0, OPT_HTTP_PORT},             \
    {"https-port", required_argument, 0, OPT_HTTPS_PORT},           \
    {"rtsps-port", required_argument, 0, OPT_RTSPS_PORT},           \
    {"bind", required_argument, 0, OPT_BIND},                       \
    {"log-level", required_argument, 0, OPT_LOG_LEVEL},             \
    {"json", no_argument, 0, OPT_JSON},                             \
    {"help", no_argument, 0, 'h'}

#define CLI_COMMON_HELP                                                                    \
    "  --data DIR          data directory (default ./var)\n"                               \
    "  --config FILE       config file (INI, [server] section; flags override it)\n"      \
    "  --rtsp-port N       RTSP port (default 8554; 0 picks a free one, logged)\n"        \
    "  --http-port N       HTTP port, loopback only (default 8080)\n"                      \
    "  --https-port N      HTTPS port (default 8443; -1 turns HTTPS off)\n"                \
    "  --rtsps-port N      RTSPS port, RTSP over TLS (default 8322; -1 turns it off)\n"    \
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

/* ------------------------------------------------------ argument parsing */

/* One parsed "camvault GROUP [SUB] [flags] [positionals]" command line. */
typedef struct {
    cli_common c;
    char prog[96];        /* "camvault user add", for messages */
    const char *group;    /* "user" */
    const char *sub;      /* the subcommand word, NULL for a group without */
    char **pos;           /* positionals after SUB */
    int npos;
    uint32_t seen;        /* CLI_BIT(opt) of each group flag given */
    const char *val[32];  /* its argument (the last one given) */
} cli_args;

#define CLI_CONTINUE (-1)
/* Parses argv (argv[0] is the group name) with opts (CLI_COMMON_LONGOPTS plus
 * the group's flags). With has_sub, argv[1] is the subcommand word. Returns
 * CLI_CONTINUE, or the exit code to return at once (0 after --help, 2 on a
 * usage error, 1 when the config cannot be loaded), usage already printed. */
int cli_parse(cli_args *a, int argc, char **argv, const struct option *opts, bool has_sub,
              void (*usage)(FILE *out));
/* 2 with a message when a flag outside allowed was given, else 0. */
int cli_only(const cli_args *a, const struct option *opts, uint32_t allowed);
/* 2 with a message unless min <= npos <= max, else 0. what names the
 * expected positionals ("LOGIN"). */
int cli_npos(const cli_args *a, int min, int max, const char *what);
static inline bool cli_has(const cli_args *a, int opt) { return (a->seen & CLI_BIT(opt)) != 0; }
static inline const char *cli_val(const cli_args *a, int opt) { return cli_has(a, opt) ? a->val[opt - CLI_OPT] : NULL; }
/* "camvault user: --role is required" and 2. */
int cli_usage_error(const cli_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------ the admin context */

typedef struct {
    cv_store *store;
    cv_key *key;
    cv_admin adm; /* {store, key, "cli", "", "cli"} */
} cli_admin;

/* Opens the store and the server key (created on first use). Returns 0, or 1
 * with the reason on stderr. */
int cli_open_admin(const cli_common *c, cli_admin *out);
void cli_close_admin(cli_admin *a);

/* Report a failed admin operation: "<prog>: <err>" (err from cv_admin_*, or
 * strerror(-rc) when it is empty). Returns 1. */
int cli_fail(const cli_args *a, int rc, const char *err);

/* Resolvers: 0, or 1 with "no user 'x'" (etc.) on stderr. home may be NULL
 * (camera names must then be unique over every home). */
int cli_user(const cli_args *a, cli_admin *ad, const char *what, cv_user_rec *out);
int cli_home(const cli_args *a, cli_admin *ad, const char *what, cv_home_rec *out);
int cli_camera(const cli_args *a, cli_admin *ad, const cv_id *home, const char *what, cv_camera_rec *out);
/* The camera named by --camera (and --home when given). */
int cli_camera_opt(const cli_args *a, cli_admin *ad, const char *what, const char *home, cv_camera_rec *out);
/* 32 hex characters into an id; 2 with a message when it is not one. */
int cli_parse_id(const cli_args *a, const char *what, const char *kind, cv_id *out);

/* One subcommand of a group: the flags it takes, how many positionals, and
 * what runs it. run validates what is left, opens ad itself (cli_open_admin)
 * once the command line is known to be good, and returns the exit code;
 * cli_run closes ad afterwards. */
typedef struct {
    const char *name;
    uint32_t allowed; /* CLI_BIT()s of the group flags it takes */
    int min, max;     /* positionals */
    const char *what; /* their names, for messages ("LOGIN") */
    int (*run)(cli_args *a, cli_admin *ad);
} cli_sub;

/* Parses the group's command line, finds the subcommand in subs (ending with
 * a zero entry), checks its flags and positionals, and runs it. */
int cli_run(int argc, char **argv, const struct option *opts, const cli_sub *subs, void (*usage)(FILE *out));

/* ---------------------------------------------------------------- output */

/* Prints o (indented, keys in insertion order) and drops the reference. */
void cli_print_json(json_t *o);
/* A JSON string from any bytes: invalid UTF-8 becomes U+FFFD. Never NULL. */
json_t *cli_jstr(const char *s);
/* Copies s for a terminal: control characters and invalid UTF-8 become '?'. */
const char *cli_safe(const char *s, char *buf, size_t cap);
/* s followed by spaces up to width terminal columns (UTF-8 aware: wide
 * East Asian characters and emoji count two), for table columns. */
const char *cli_pad(const char *s, int width, char *buf, size_t cap);
/* "2024-05-01 12:00:00Z" (UTC); "-" for 0. */
void cli_time(int64_t wall_us, char *out, size_t cap);
/* "live,snapshot" */
const char *cli_scopes(uint32_t scopes, char *out, size_t cap);
json_t *cli_scopes_json(uint32_t scopes);
/* Percent-encodes everything but RFC 3986 unreserved characters (userinfo). */
void cli_url_escape(const char *s, char *out, size_t cap);
/* A hex id as a string (json_t). */
json_t *cli_jid(const cv_id *id);

/* Reads one line (a password or token, named by what) from stdin, without
 * echo and after a prompt when it is a terminal; strips the line end.
 * Returns 0, or 1 with a message. */
int cli_read_secret(const cli_args *a, const char *what, char *out, size_t cap);
#define cli_read_password(a, out, cap) cli_read_secret((a), "password", (out), (cap))
/* Erases a secret before its buffer goes out of scope. */
void cli_wipe(void *p, size_t n);

int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_home(int argc, char **argv);
int cmd_camera(int argc, char **argv);
int cmd_grant(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_integration(int argc, char **argv);

#endif
