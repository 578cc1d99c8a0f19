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
#include "cli/cli.h"
#include "server/server.h"

typedef struct {
    uv_loop_t *loop;
    cv_server *server;
    uv_signal_t sigint, sigterm;
    bool stopping;
    /* demo only */
    bool demo;
    char camera_hex[CV_ID_HEX_LEN + 1];
    char ingest_url[256];
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

static void spawn_camera(app *a)
{
    /* A synthetic camera: test pattern and a tone, H.264 + AAC, 2 s GOP,
     * pushed over RTSP/TCP like a real camera would. */
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
        app_stop(a, "no ffmpeg");
        return;
    }
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

static int ensure_demo_camera(cli_common *c, app *a)
{
    cv_store *st = NULL;
    if (cli_open_store(c, &st) < 0)
        return -1;
    cv_camera_rec r;
    int rc = cv_store_camera_find_name(st, "demo", &r);
    if (rc == -ENOENT) {
        cv_camera_rec in = {0};
        snprintf(in.name, sizeof(in.name), "demo");
        in.source = CV_CAM_PUSH;
        cv_id id;
        rc = cv_store_camera_add(st, &in, &id);
        if (rc == 0)
            rc = cv_store_camera_get(st, &id, &r);
    }
    cv_store_close(st);
    if (rc != 0) {
        fprintf(stderr, "camvault demo: cannot create the demo camera\n");
        return -1;
    }
    cv_id_to_hex(&r.id, a->camera_hex);
    return 0;
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
    if (demo && ensure_demo_camera(&c, &a) != 0)
        return 1;
    cv_store *probe = NULL; /* creates the data dir and schema with a clear error */
    if (cli_open_store(&c, &probe) < 0)
        return 1;
    cv_store_close(probe);

    a.loop = uv_default_loop();
    if (cv_server_start(&a.server, a.loop, &c.cfg) < 0) {
        fprintf(stderr, "camvault: server failed to start (see the log above)\n");
        uv_loop_close(a.loop);
        return 1;
    }
    uv_signal_init(a.loop, &a.sigint);
    uv_signal_init(a.loop, &a.sigterm);
    a.sigint.data = a.sigterm.data = &a;
    uv_signal_start(&a.sigint, on_signal, SIGINT);
    uv_signal_start(&a.sigterm, on_signal, SIGTERM);
    CV_INFO("data in %s; HTTP (port %d) arrives with the HTTP delivery issue and is not served yet",
            c.cfg.data_dir, c.cfg.http_port);
    CV_INFO("ready");

    if (demo) {
        char base[128];
        cli_rtsp_base(&c.cfg, cv_server_rtsp_port(a.server), base, sizeof(base));
        snprintf(a.ingest_url, sizeof(a.ingest_url), "%s/cam/%s", base, a.camera_hex);
        uv_timer_init(a.loop, &a.respawn);
        a.respawn.data = &a;
        spawn_camera(&a);
        printf("\ncamvault demo is running.\n\n"
               "  camera 'demo' (id %s) pushes a test pattern to\n"
               "    %s\n\n"
               "  watch it with any RTSP player:\n"
               "    ffplay -rtsp_transport tcp %s\n"
               "    vlc %s\n"
               "    gst-launch-1.0 playbin uri=%s\n\n"
               "  viewing is unauthenticated on loopback until capabilities land.\n"
               "  Press Ctrl-C to stop.\n\n",
               a.camera_hex, a.ingest_url, a.ingest_url, a.ingest_url, a.ingest_url);
        fflush(stdout);
    }

    uv_run(a.loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(a.loop);
    if (rc != 0)
        CV_WARN("event loop closed with handles still open");
    CV_INFO("stopped");
    return 0;
}

int cmd_serve(int argc, char **argv) { return run(argc, argv, false); }
int cmd_demo(int argc, char **argv) { return run(argc, argv, true); }
