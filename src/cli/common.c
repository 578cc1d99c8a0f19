#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

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
    case OPT_HTTPS_PORT: key = "https_port"; break;
    case OPT_RTSPS_PORT: key = "rtsps_port"; break;
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

/* ------------------------------------------------------ argument parsing */

int cli_parse(cli_args *a, int argc, char **argv, const struct option *opts, bool has_sub,
              void (*usage)(FILE *out))
{
    memset(a, 0, sizeof(*a));
    a->group = argv[0];
    snprintf(a->prog, sizeof(a->prog), "camvault %s", argv[0]);
    if (cli_common_init(&a->c, argc, argv) != 0)
        return 1;
    /* No password ever comes from the command line: refuse anything that
     * looks like one (getopt would take "--password" as an abbreviation of
     * --password-stdin) without repeating it in the message. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strncmp(argv[i], "--pass", 6) == 0 && strcmp(argv[i], "--password-stdin") != 0) {
            fprintf(stderr, "%s: passwords are read from standard input only (--password-stdin)\n", a->prog);
            return 2;
        }
    argv[0] = a->prog; /* getopt's messages name the command */
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = cli_common_opt(&a->c, opt, optarg);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (opt == 'h') {
            usage(stdout);
            return 0;
        }
        if (opt >= CLI_OPT && opt < CLI_OPT + 32) {
            a->seen |= CLI_BIT(opt);
            a->val[opt - CLI_OPT] = optarg ? optarg : "";
            continue;
        }
        fprintf(stderr, "Run '%s --help' for its options.\n", a->prog);
        return 2;
    }
    a->pos = argv + optind;
    a->npos = argc - optind;
    if (has_sub) {
        if (a->npos == 0) {
            usage(stderr);
            return 2;
        }
        a->sub = a->pos[0];
        a->pos++;
        a->npos--;
        size_t n = strlen(a->prog);
        snprintf(a->prog + n, sizeof(a->prog) - n, " %s", a->sub);
    }
    return CLI_CONTINUE;
}

int cli_usage_error(const cli_args *a, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", a->prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 2;
}

int cli_only(const cli_args *a, const struct option *opts, uint32_t allowed)
{
    uint32_t extra = a->seen & ~allowed;
    if (!extra)
        return 0;
    for (const struct option *o = opts; o->name; o++)
        if (o->val >= CLI_OPT && o->val < CLI_OPT + 32 && (extra & CLI_BIT(o->val)))
            return cli_usage_error(a, "--%s does not apply here (see --help)", o->name);
    return cli_usage_error(a, "an option does not apply here (see --help)");
}

int cli_npos(const cli_args *a, int min, int max, const char *what)
{
    char buf[128];
    if (a->npos < min)
        return cli_usage_error(a, "expected %s (see --help)", what);
    if (a->npos > max)
        return cli_usage_error(a, "unexpected argument '%s'", cli_safe(a->pos[max], buf, sizeof(buf)));
    return 0;
}

/* ------------------------------------------------------ the admin context */

int cli_open_admin(const cli_common *c, cli_admin *out)
{
    memset(out, 0, sizeof(*out));
    if (cli_open_store(c, &out->store) < 0)
        return 1;
    char path[PATH_MAX + 32];
    cv_config_key_path(&c->cfg, path, sizeof(path));
    int rc = cv_key_load(&out->key, path, true);
    if (rc < 0) {
        fprintf(stderr, "camvault: cannot load the server key %s: %s\n", path, strerror(-rc));
        cv_store_close(out->store);
        out->store = NULL;
        return 1;
    }
    out->adm.store = out->store;
    out->adm.key = out->key;
    out->adm.actor = "cli";
    out->adm.address = "";
    out->adm.protocol = "cli";
    return 0;
}

void cli_close_admin(cli_admin *a)
{
    if (a->key)
        cv_key_free(a->key);
    if (a->store)
        cv_store_close(a->store);
    memset(a, 0, sizeof(*a));
}

int cli_fail(const cli_args *a, int rc, const char *err)
{
    fprintf(stderr, "%s: %s\n", a->prog, err && *err ? err : strerror(rc < 0 ? -rc : EIO));
    return 1;
}

static int lookup_failed(const cli_args *a, int rc, const char *kind, const char *what)
{
    char buf[160];
    cli_safe(what, buf, sizeof(buf));
    if (rc == -ENOENT)
        fprintf(stderr, "%s: no %s '%s'\n", a->prog, kind, buf);
    else if (rc == -EEXIST)
        fprintf(stderr, "%s: several %ss are named '%s': give its id, or --home HOME\n", a->prog, kind, buf);
    else
        fprintf(stderr, "%s: cannot look up %s '%s': %s\n", a->prog, kind, buf, strerror(rc < 0 ? -rc : EIO));
    return 1;
}

int cli_user(const cli_args *a, cli_admin *ad, const char *what, cv_user_rec *out)
{
    int rc = cv_admin_user_resolve(&ad->adm, what, out);
    return rc == 0 ? 0 : lookup_failed(a, rc, "user", what);
}

int cli_home(const cli_args *a, cli_admin *ad, const char *what, cv_home_rec *out)
{
    int rc = cv_admin_home_resolve(&ad->adm, what, out);
    return rc == 0 ? 0 : lookup_failed(a, rc, "home", what);
}

int cli_camera(const cli_args *a, cli_admin *ad, const cv_id *home, const char *what, cv_camera_rec *out)
{
    int rc = cv_admin_camera_resolve(&ad->adm, home, what, out);
    return rc == 0 ? 0 : lookup_failed(a, rc, "camera", what);
}

int cli_camera_opt(const cli_args *a, cli_admin *ad, const char *what, const char *home, cv_camera_rec *out)
{
    cv_home_rec h;
    if (home && cli_home(a, ad, home, &h) != 0)
        return 1;
    return cli_camera(a, ad, home ? &h.id : NULL, what, out);
}

int cli_parse_id(const cli_args *a, const char *what, const char *kind, cv_id *out)
{
    char buf[80];
    if (strlen(what) == CV_ID_HEX_LEN && cv_id_from_hex(what, CV_ID_HEX_LEN, out) == 0)
        return 0;
    return cli_usage_error(a, "'%s' is not a %s id (32 hex characters)", cli_safe(what, buf, sizeof(buf)), kind);
}

/* ---------------------------------------------------------------- output */

void cli_print_json(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (s) {
        puts(s);
        free(s);
    }
    json_decref(o);
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

json_t *cli_jstr(const char *s)
{
    if (!s)
        return json_string("");
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s), cap = n * 3 + 1;
    char *buf = malloc(cap);
    if (!buf)
        return json_string("");
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t l = utf8_len(p);
        if (l) {
            memcpy(buf + o, p, l);
            o += l;
            p += l;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
        }
    }
    buf[o] = 0;
    j = json_string(buf);
    free(buf);
    return j ? j : json_string("");
}

const char *cli_safe(const char *s, char *buf, size_t cap)
{
    size_t o = 0;
    if (!cap)
        return "";
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && o + 1 < cap;) {
        size_t l = utf8_len(p);
        /* C0, DEL and C1 controls could drive the terminal: never print them. */
        bool ctl = l == 0 || (l == 1 && (*p < 0x20 || *p == 0x7f)) || (l == 2 && p[0] == 0xc2 && p[1] < 0xa0);
        if (ctl) {
            buf[o++] = '?';
            p += l ? l : 1;
            continue;
        }
        if (o + l >= cap)
            break;
        memcpy(buf + o, p, l);
        o += l;
        p += l;
    }
    buf[o] = 0;
    return buf;
}

static bool wide(uint32_t c)
{
    return (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf && c != 0x303f) ||
           (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xfe30 && c <= 0xfe4f) ||
           (c >= 0xff00 && c <= 0xff60) || (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
           (c >= 0x1f900 && c <= 0x1f9ff) || (c >= 0x20000 && c <= 0x3fffd);
}

const char *cli_pad(const char *s, int width, char *buf, size_t cap)
{
    int cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t l = utf8_len(p);
        uint32_t c = *p;
        if (l == 2)
            c = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
        else if (l == 3)
            c = (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
        else if (l == 4)
            c = (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 | (uint32_t)(p[2] & 0x3f) << 6 |
                (p[3] & 0x3f);
        cols += wide(c) ? 2 : 1;
        p += l ? l : 1;
    }
    int pad = width > cols ? width - cols : 0;
    snprintf(buf, cap, "%s%*s", s, pad, "");
    return buf;
}

void cli_time(int64_t wall_us, char *out, size_t cap)
{
    if (wall_us <= 0) {
        snprintf(out, cap, "-");
        return;
    }
    time_t t = (time_t)(wall_us / 1000000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "%lld", (long long)t);
}

const char *cli_scopes(uint32_t scopes, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s", scopes & CV_SCOPE_LIVE ? "live" : "",
             (scopes & CV_SCOPE_LIVE) && (scopes & CV_SCOPE_SNAPSHOT) ? "," : "",
             scopes & CV_SCOPE_SNAPSHOT ? "snapshot" : "");
    if (!*out)
        snprintf(out, cap, "none");
    return out;
}

json_t *cli_scopes_json(uint32_t scopes)
{
    json_t *a = json_array();
    if (scopes & CV_SCOPE_LIVE)
        json_array_append_new(a, json_string("live"));
    if (scopes & CV_SCOPE_SNAPSHOT)
        json_array_append_new(a, json_string("snapshot"));
    return a;
}

void cli_url_escape(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 <= cap; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '.' || *p == '_' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (cap)
        out[o < cap ? o : cap - 1] = 0;
}

json_t *cli_jid(const cv_id *id)
{
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(id, hex);
    return json_string(hex);
}

void cli_wipe(void *p, size_t n) { sodium_memzero(p, n); }

/* One line from fd 0, read byte by byte so that no stdio buffer keeps a copy. */
static int read_line(char *out, size_t cap, bool *too_long)
{
    size_t n = 0;
    *too_long = false;
    for (;;) {
        char ch;
        ssize_t r = read(0, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (n == 0)
                return -1;
            break;
        }
        if (ch == '\n')
            break;
        if (n + 1 < cap)
            out[n++] = ch;
        else
            *too_long = true;
    }
    if (n > 0 && out[n - 1] == '\r')
        n--;
    out[n] = 0;
    return 0;
}

/* The terminal settings to restore when interrupted while echo is off. */
static struct termios saved_tty;

static void restore_tty_and_die(int sig)
{
    tcsetattr(0, TCSANOW, &saved_tty); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

int cli_read_secret(const cli_args *a, const char *what, char *out, size_t cap)
{
    struct termios old, quiet;
    bool tty = isatty(0) && tcgetattr(0, &old) == 0;
    void (*prev_int)(int) = SIG_DFL, (*prev_term)(int) = SIG_DFL;
    if (tty) {
        saved_tty = old;
        prev_int = signal(SIGINT, restore_tty_and_die);
        prev_term = signal(SIGTERM, restore_tty_and_die);
        quiet = old;
        quiet.c_lflag &= (tcflag_t)~ECHO;
        quiet.c_lflag |= ECHONL;
        tcsetattr(0, TCSAFLUSH, &quiet);
        fprintf(stderr, "%s: ", what); /* only once echo is off */
        fflush(stderr);
    }
    bool too_long;
    int rc = read_line(out, cap, &too_long);
    if (tty) {
        tcsetattr(0, TCSAFLUSH, &old);
        signal(SIGINT, prev_int);
        signal(SIGTERM, prev_term);
    }
    if (rc < 0 || !out[0]) {
        fprintf(stderr, "%s: no %s on standard input (one line expected)\n", a->prog, what);
        return 1;
    }
    if (too_long) {
        cli_wipe(out, cap);
        fprintf(stderr, "%s: the %s is too long\n", a->prog, what);
        return 1;
    }
    return 0;
}

int cli_run(int argc, char **argv, const struct option *opts, const cli_sub *subs, void (*usage)(FILE *out))
{
    cli_args a;
    int rc = cli_parse(&a, argc, argv, opts, true, usage);
    if (rc != CLI_CONTINUE)
        return rc;
    const cli_sub *s = subs;
    while (s->name && strcmp(s->name, a.sub) != 0)
        s++;
    if (!s->name) {
        char buf[64];
        fprintf(stderr, "camvault %s: unknown subcommand '%s'\n\n", a.group, cli_safe(a.sub, buf, sizeof(buf)));
        usage(stderr);
        return 2;
    }
    if ((rc = cli_only(&a, opts, s->allowed)) != 0 || (rc = cli_npos(&a, s->min, s->max, s->what)) != 0)
        return rc;
    cli_admin ad;
    memset(&ad, 0, sizeof(ad));
    rc = s->run(&a, &ad);
    cli_close_admin(&ad);
    return rc;
}
