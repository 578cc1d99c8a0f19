/* camvault serve and camvault demo. */
#define CV_LOG_MODULE "main"
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "base/log.h"
#include "base/util.h"
#include "cli/cli.h"
#include "server/server.h"

typedef struct {
    uv_loop_t *loop;
    cv_server *server;
    uv_signal_t sigint, sigterm, sighup;
    bool stopping;
    /* demo only */
    bool demo;
    char camera_hex[CV_ID_HEX_LEN + 1];
    char ingest_secret[128];    /* the demo camera's, fresh for this run */
    char ingest_url[512];       /* with the secret: only ffmpeg sees it */
    char secret_esc[256];       /* as it appears in the URL, to redact ffmpeg's messages */
    uv_pipe_t errpipe;          /* ffmpeg's stderr, redacted onto ours */
    bool errpipe_open;
    size_t errlen;
    char errbuf[2048];
    char admin_password[64];    /* generated on the first run, printed once */
    char token[CV_TOKEN_MAX];   /* a viewing token (1 h) */
    char token_for[CV_LOGIN_MAX + 1];
    bool demo_name_ambiguous;
    uv_process_t ffmpeg;
    bool ffmpeg_running;
    uv_timer_t respawn;
    int64_t backoff_ms;
} app;

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void server_stopped(void *ctx)
{
    app *a = ctx;
    a->server = NULL;
    uv_walk(a->loop, close_walk, NULL);
}

static void finish_stop(app *a)
{
    if (a->server)
        cv_server_stop(a->server, server_stopped, a);
    else
        uv_walk(a->loop, close_walk, NULL);
}

static void on_kill_timer(uv_timer_t *t)
{
    app *a = t->data;
    if (a->ffmpeg_running) {
        CV_WARN("demo camera did not stop; killing it");
        uv_process_kill(&a->ffmpeg, SIGKILL);
    }
}

static void app_stop(app *a, const char *why)
{
    if (a->stopping)
        return;
    a->stopping = true;
    CV_INFO("stopping (%s)", why);
    uv_signal_stop(&a->sigint);
    uv_signal_stop(&a->sigterm);
    uv_signal_stop(&a->sighup);
    if (a->demo) {
        uv_timer_stop(&a->respawn);
        if (a->ffmpeg_running) {
            /* Wait for the camera to exit (on_ffmpeg_exit) so nothing outlives us. */
            uv_process_kill(&a->ffmpeg, SIGTERM);
            uv_timer_start(&a->respawn, on_kill_timer, 3000, 0);
            return;
        }
    }
    finish_stop(a);
}

/* SIGHUP: reload the TLS certificate (after a renewal). */
static void on_hup(uv_signal_t *s, int signum)
{
    app *a = s->data;
    (void)signum;
    if (a->server)
        cv_server_reload_tls(a->server);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_stop(s->data, signum == SIGINT ? "interrupted" : "terminated");
}

static void spawn_camera(app *a);

static void on_respawn(uv_timer_t *t) { spawn_camera(t->data); }

static void on_ffmpeg_exit(uv_process_t *p, int64_t status, int sig)
{
    app *a = p->data;
    a->ffmpeg_running = false;
    uv_close((uv_handle_t *)p, NULL);
    if (a->stopping) {
        uv_timer_stop(&a->respawn);
        finish_stop(a);
        return;
    }
    CV_WARN("demo camera (ffmpeg) exited (status %lld, signal %d); restarting in %lld ms", (long long)status, sig,
            (long long)a->backoff_ms);
    uv_timer_start(&a->respawn, on_respawn, (uint64_t)a->backoff_ms, 0);
    a->backoff_ms = a->backoff_ms * 2 > 10000 ? 10000 : a->backoff_ms * 2;
}

/* ffmpeg names the URL, secret included, in some of its messages: pass its
 * stderr on line by line with the secret replaced. */
static void emit_ffmpeg_line(app *a, const char *line, size_t len)
{
    char out[sizeof(a->errbuf) + 16];
    size_t o = 0, slen = strlen(a->secret_esc);
    for (size_t i = 0; i < len && o + 4 < sizeof(out);) {
        if (slen && len - i >= slen && memcmp(line + i, a->secret_esc, slen) == 0) {
            memcpy(out + o, "***", 3);
            o += 3;
            i += slen;
        } else {
            out[o++] = line[i++];
        }
    }
    fprintf(stderr, "demo camera (ffmpeg): %.*s\n", (int)o, out);
    cli_wipe(out, sizeof(out));
}

static void errpipe_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    app *a = h->data;
    buf->base = a->errbuf + a->errlen;
    buf->len = sizeof(a->errbuf) - a->errlen;
}

static void errpipe_closed(uv_handle_t *h)
{
    app *a = h->data;
    a->errpipe_open = false;
}

static void errpipe_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf; /* always a->errbuf + a->errlen (errpipe_alloc) */
    app *a = st->data;
    if (n < 0) {
        if (a->errlen)
            emit_ffmpeg_line(a, a->errbuf, a->errlen);
        a->errlen = 0;
        if (!uv_is_closing((uv_handle_t *)st))
            uv_close((uv_handle_t *)st, errpipe_closed);
        return;
    }
    a->errlen += (size_t)n;
    char *start = a->errbuf, *end = a->errbuf + a->errlen, *nl;
    while ((nl = memchr(start, '\n', (size_t)(end - start))) != NULL) {
        emit_ffmpeg_line(a, start, (size_t)(nl - start));
        start = nl + 1;
    }
    a->errlen = (size_t)(end - start);
    memmove(a->errbuf, start, a->errlen);
    if (a->errlen == sizeof(a->errbuf)) { /* a line longer than the buffer: pass on what we have */
        emit_ffmpeg_line(a, a->errbuf, a->errlen);
        a->errlen = 0;
    }
}

static void spawn_camera(app *a)
{
    /* A synthetic camera: test pattern and a tone, H.264 + AAC, 2 s GOP,
     * pushed over RTSP/TCP like a real camera would, with its credentials. */
    char *args[] = {
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
        "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
        "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
        "-g", "50", "-b:v", "2M", "-c:a", "aac", "-b:a", "64k",
        "-f", "rtsp", "-rtsp_transport", "tcp", a->ingest_url, NULL,
    };
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = 1}, {.flags = UV_INHERIT_FD, .data.fd = 2}};
    /* The previous run's pipe normally reached EOF long before a respawn;
     * if not, this run writes to our stderr directly. */
    bool capture = !a->errpipe_open && uv_pipe_init(a->loop, &a->errpipe, 0) == 0;
    if (capture) {
        a->errpipe.data = a;
        a->errpipe_open = true;
        a->errlen = 0;
        stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
        stdio[2].data.stream = (uv_stream_t *)&a->errpipe;
    }
    uv_process_options_t o = {0};
    o.file = "ffmpeg";
    o.args = args;
    o.exit_cb = on_ffmpeg_exit;
    o.stdio = stdio;
    o.stdio_count = 3;
    a->ffmpeg.data = a;
    int rc = uv_spawn(a->loop, &a->ffmpeg, &o);
    if (rc < 0) {
        CV_ERROR("cannot start ffmpeg for the demo camera: %s (is ffmpeg installed?)", uv_strerror(rc));
        uv_close((uv_handle_t *)&a->ffmpeg, NULL);
        if (capture)
            uv_close((uv_handle_t *)&a->errpipe, errpipe_closed);
        app_stop(a, "no ffmpeg");
        return;
    }
    if (capture && uv_read_start((uv_stream_t *)&a->errpipe, errpipe_alloc, errpipe_read) != 0)
        uv_close((uv_handle_t *)&a->errpipe, errpipe_closed);
    a->ffmpeg_running = true;
    CV_INFO("demo camera started (ffmpeg pid %d)", a->ffmpeg.pid);
}

static void usage_serve(FILE *out, bool demo)
{
    if (demo)
        fprintf(out, "usage: camvault demo [options]\n\n"
                     "Runs the server with a synthetic camera (ffmpeg test pattern pushed over RTSP)\n"
                     "and prints the URLs to watch it. Ctrl-C stops everything.\n");
    else
        fprintf(out, "usage: camvault serve [options]\n\n"
                     "Runs the RTSP relay on the data directory's store. Ctrl-C or SIGTERM stops it.\n");
    fprintf(out, "\noptions:\n" CLI_COMMON_HELP);
}

/* Who owns the demo home: "admin" if that user exists, else the first
 * administrator, else the first user. */
static int demo_owner(cv_store *st, cv_user_rec *out)
{
    if (cv_store_user_find(st, "admin", out, NULL) == 0)
        return 0;
    cv_user_rec *u = NULL;
    size_t n = 0;
    if (cv_store_user_list(st, &u, &n) != 0 || n == 0) {
        free(u);
        return -ENOENT;
    }
    size_t pick = 0;
    for (size_t i = 0; i < n; i++)
        if (u[i].admin && !u[i].disabled) {
            pick = i;
            break;
        }
    *out = u[pick];
    free(u);
    return 0;
}

/* The demo's people and camera: on the first run (no users) an "admin" with a
 * generated password, a home "demo" and the push camera "demo" in it. Every
 * run gives the camera a fresh ingest secret (only the spawned ffmpeg learns
 * it) and issues a viewing token valid for an hour. */
static int ensure_demo(const cli_common *c, app *a)
{
    cli_admin ad;
    if (cli_open_admin(c, &ad) != 0)
        return -1;
    char err[256] = "";
    int rc;
    cv_user_rec *users = NULL, owner;
    size_t nusers = 0;
    cv_home_rec home;
    cv_camera_rec *cam = malloc(sizeof(*cam));
    if (!cam || cv_store_user_list(ad.store, &users, &nusers) != 0) {
        snprintf(err, sizeof(err), "cannot read the store");
        rc = -EIO;
        goto out;
    }
    free(users);
    if (nusers == 0) {
        cv_id id;
        if ((rc = cv_admin_user_add(&ad.adm, "admin", NULL, true, a->admin_password, &id, err, sizeof(err))) < 0)
            goto out;
    }
    if ((rc = demo_owner(ad.store, &owner)) < 0) {
        snprintf(err, sizeof(err), "no user to own the demo home");
        goto out;
    }
    rc = cv_admin_home_resolve(&ad.adm, "demo", &home);
    if (rc == -ENOENT) {
        cv_id id;
        if ((rc = cv_admin_home_add(&ad.adm, "demo", &owner.id, &id, err, sizeof(err))) < 0 ||
            (rc = cv_store_home_get(ad.store, &id, &home)) < 0)
            goto out;
    } else if (rc < 0) {
        snprintf(err, sizeof(err), "cannot look up the home 'demo'");
        goto out;
    }
    rc = cv_admin_camera_resolve(&ad.adm, &home.id, "demo", cam);
    if (rc == -ENOENT) {
        cv_admin_camera_spec spec = {0};
        cv_id id;
        spec.home = &home.id;
        spec.name = "demo";
        spec.model = "ffmpeg test pattern";
        if ((rc = cv_admin_camera_add(&ad.adm, &spec, &id, a->ingest_secret, err, sizeof(err))) < 0 ||
            (rc = cv_store_camera_get(ad.store, &id, cam)) < 0)
            goto out;
    } else if (rc == 0 && cam->source != CV_CAM_PUSH) {
        snprintf(err, sizeof(err), "the camera 'demo' in home 'demo' is a pull camera; remove it first");
        rc = -EINVAL;
        goto out;
    } else if (rc < 0 || (rc = cv_admin_camera_rotate(&ad.adm, &cam->id, a->ingest_secret, err, sizeof(err))) < 0) {
        goto out;
    }
    cv_id_to_hex(&cam->id, a->camera_hex);
    cv_camera_rec *other = malloc(sizeof(*other));
    a->demo_name_ambiguous = other && cv_store_camera_find_name(ad.store, NULL, "demo", other) == -EEXIST;
    free(other);

    /* The viewing token goes to the owner when they may watch, else it is
     * issued by the local administrator. */
    rc = cv_admin_token_issue(&ad.adm, &cam->id, &owner.id, CV_SCOPE_LIVE, 3600LL * 1000000, a->token, NULL, err,
                              sizeof(err));
    if (rc == 0)
        snprintf(a->token_for, sizeof(a->token_for), "%s", owner.login);
    else if (rc == -EACCES)
        rc = cv_admin_token_issue(&ad.adm, &cam->id, NULL, CV_SCOPE_LIVE, 3600LL * 1000000, a->token, NULL, err,
                                  sizeof(err));
out:
    if (rc < 0) {
        fprintf(stderr, "camvault demo: cannot set up the demo camera: %s\n", err[0] ? err : strerror(-rc));
        if (a->admin_password[0]) /* the user exists now: this is the only chance to see it */
            printf("created the administrator 'admin'; admin password (shown once): %s\n", a->admin_password);
    }
    free(cam);
    cli_close_admin(&ad);
    return rc < 0 ? -1 : 0;
}

/* Appends " --flag value" (shell-quoted when needed) to a command line. */
static void add_flag(char *out, size_t cap, const char *flag, const char *value)
{
    size_t n = strlen(out);
    bool plain = *value != 0;
    for (const char *p = value; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@,+=-", *p))
            plain = false;
    if (plain) {
        snprintf(out + n, cap - n, " %s %s", flag, value);
        return;
    }
    n += (size_t)snprintf(out + n, cap - n, " %s '", flag);
    for (const char *p = value; *p && n + 5 < cap; p++) {
        if (*p == '\'') {
            memcpy(out + n, "'\\''", 4);
            n += 4;
        } else {
            out[n++] = *p;
        }
    }
    snprintf(out + (n < cap ? n : cap - 1), cap - (n < cap ? n : cap - 1), "'");
}

static void print_demo_banner(const cli_common *c, app *a, int port)
{
    char base[128], view[512], again[1024], portbuf[16];
    cv_config def;
    cv_config_defaults(&def);
    cli_rtsp_base(&c->cfg, port, base, sizeof(base));
    snprintf(view, sizeof(view), "%s/cam/%s?token=%s", base, a->camera_hex, a->token);
    snprintf(again, sizeof(again), "camvault token issue --camera demo%s%s%s",
             a->demo_name_ambiguous ? " --home demo" : "", a->token_for[0] ? " --for " : "", a->token_for);
    if (strcmp(c->cfg.data_dir, def.data_dir) != 0)
        add_flag(again, sizeof(again), "--data", c->cfg.data_dir);
    if (c->config_path)
        add_flag(again, sizeof(again), "--config", c->config_path);
    if (strcmp(c->cfg.bind_addr, def.bind_addr) != 0)
        add_flag(again, sizeof(again), "--bind", c->cfg.bind_addr);
    if (port != def.rtsp_port) {
        snprintf(portbuf, sizeof(portbuf), "%d", port);
        add_flag(again, sizeof(again), "--rtsp-port", portbuf);
    }
    if (cv_server_http_port(a->server) != def.http_port) {
        snprintf(portbuf, sizeof(portbuf), "%d", cv_server_http_port(a->server));
        add_flag(again, sizeof(again), "--http-port", portbuf);
    }
    if (cv_server_https_port(a->server) != def.https_port) {
        snprintf(portbuf, sizeof(portbuf), "%d", cv_server_https_port(a->server));
        add_flag(again, sizeof(again), "--https-port", portbuf);
    }
    if (cv_server_rtsps_port(a->server) != def.rtsps_port) {
        snprintf(portbuf, sizeof(portbuf), "%d", cv_server_rtsps_port(a->server));
        add_flag(again, sizeof(again), "--rtsps-port", portbuf);
    }
    printf("\ncamvault demo is running.\n\n");
    if (a->admin_password[0])
        printf("  created the administrator 'admin'\n"
               "  admin password (shown once): %s\n\n",
               a->admin_password);
    cv_watch_urls u, us;
    cv_config_watch_urls(&c->cfg, port, cv_server_http_port(a->server), cv_server_https_port(a->server),
                         a->camera_hex, a->token, &u);
    char mt[PATH_MAX + 32];
    cv_config_metrics_token_path(&c->cfg, mt, sizeof(mt));
    printf("  camera 'demo' (id %s) in home 'demo' pushes a test pattern to\n"
           "    %s/cam/%s  (with a fresh ingest secret, known only to the synthetic camera)\n\n"
           "  watch it (the token in these URLs is valid for 1 hour):\n"
           "    RTSP:      ffplay -rtsp_transport tcp '%s'\n"
           "               gst-launch-1.0 playbin uri='%s'\n"
           "    LL-HLS:    ffplay '%s'\n"
           "    MP4:       ffplay '%s'\n"
           "    MJPEG:     %s\n"
           "    snapshot:  curl -o snap.jpg '%s'\n",
           a->camera_hex, base, a->camera_hex, view, view, u.hls, u.mp4, u.mjpeg, u.snapshot);
    if (cv_server_https_port(a->server) >= 0) {
        /* The same over HTTPS (self-signed for localhost unless configured). */
        cv_config cs = c->cfg;
        snprintf(cs.public_url, sizeof(cs.public_url), "https://localhost:%d", cv_server_https_port(a->server));
        cv_config_watch_urls(&cs, port, cv_server_http_port(a->server), cv_server_https_port(a->server),
                             a->camera_hex, a->token, &us);
        printf("    HTTPS:     %s\n", us.hls);
    }
    const char *host = strcmp(c->cfg.bind_addr, "0.0.0.0") == 0 ? "127.0.0.1" : c->cfg.bind_addr;
    int hp = cv_server_http_port(a->server);
    printf("\n  web app:  http://%s:%d/app/ (log in as admin)\n"
           "  a new viewing URL: %s\n"
           "  REST API: http://%s:%d/api/v1/ (POST /api/v1/login as admin; see docs/openapi.yaml)\n"
           "  metrics:  http://%s:%d/metrics with the bearer token in %s\n"
           "  Press Ctrl-C to stop.\n\n",
           host, hp, again, host, hp, host, hp, mt);
    cli_wipe(&u, sizeof(u));
    cli_wipe(&us, sizeof(us));
    fflush(stdout);
    cli_wipe(a->admin_password, sizeof(a->admin_password));
    cli_wipe(view, sizeof(view));
}

/* serve on a store nobody can log in to yet: say how to make the first user. */
static void hint_first_user(cv_store *st)
{
    cv_user_rec *u = NULL;
    size_t n = 0;
    if (cv_store_user_list(st, &u, &n) == 0 && n == 0)
        fprintf(stderr, "camvault: there are no users yet; create the first administrator with: "
                        "camvault user add NAME --admin\n");
    free(u);
}

static int run(int argc, char **argv, bool demo)
{
    cli_common c;
    if (cli_common_init(&c, argc, argv) != 0)
        return 1;
    static const struct option opts[] = {CLI_COMMON_LONGOPTS, {0, 0, 0, 0}};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = cli_common_opt(&c, opt, optarg);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        usage_serve(opt == 'h' ? stdout : stderr, demo);
        return opt == 'h' ? 0 : 2;
    }
    if (optind < argc) {
        fprintf(stderr, "camvault: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    app a = {0};
    a.demo = demo;
    a.backoff_ms = 1000;
    if (demo && ensure_demo(&c, &a) != 0) {
        cli_wipe(&a, sizeof(a));
        return 1;
    }
    cv_store *probe = NULL; /* creates the data dir and schema with a clear error */
    if (cli_open_store(&c, &probe) < 0) {
        cli_wipe(&a, sizeof(a));
        return 1;
    }
    if (!demo)
        hint_first_user(probe);
    cv_store_close(probe);

    a.loop = uv_default_loop();
    if (cv_server_start(&a.server, a.loop, &c.cfg) < 0) {
        fprintf(stderr, "camvault: server failed to start (see the log above)\n");
        uv_loop_close(a.loop);
        cli_wipe(&a, sizeof(a));
        return 1;
    }
    uv_signal_init(a.loop, &a.sigint);
    uv_signal_init(a.loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    uv_signal_init(a.loop, &a.sighup);
    a.sighup.data = &a;
    uv_signal_start(&a.sighup, on_hup, SIGHUP);
    CV_INFO("data in %s", c.cfg.data_dir);
    CV_INFO("ready");

    if (demo) {
        char base[128];
        int port = cv_server_rtsp_port(a.server);
        cli_rtsp_base(&c.cfg, port, base, sizeof(base));
        cli_url_escape(a.ingest_secret, a.secret_esc, sizeof(a.secret_esc));
        snprintf(a.ingest_url, sizeof(a.ingest_url), "rtsp://camera:%s@%s/cam/%s", a.secret_esc,
                 base + strlen("rtsp://"), a.camera_hex);
        cli_wipe(a.ingest_secret, sizeof(a.ingest_secret));
        uv_timer_init(a.loop, &a.respawn);
        a.respawn.data = &a;
        spawn_camera(&a);
        print_demo_banner(&c, &a, port);
    }

    uv_run(a.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(a.loop);
    if (rc != 0)
        CV_WARN("event loop closed with handles still open");
    CV_INFO("stopped");
    cli_wipe(&a, sizeof(a));
    return 0;
}

int cmd_serve(int argc, char **argv) { return run(argc, argv, false); }
int cmd_demo(int argc, char **argv) { return run(argc, argv, true); }
