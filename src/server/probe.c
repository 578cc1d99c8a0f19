#define CV_LOG_MODULE "probe"
#include "server/probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "media/codec.h"
#include "media/sps.h"
#include "rtsp/puller.h"

#define DEFAULT_TIMEOUT_US (9 * 1000000LL) /* the API answers within 10 s */
#define TICK_MS 50
/* Once the tracks attached, how long to wait for in-band parameter sets
 * (the picture size) when the SDP had none. */
#define SPS_WAIT_US (2 * 1000000LL)
#define PROBES_MAX 16

typedef struct probe probe;

struct probe {
    cv_probes *ps;
    probe *prev, *next;
    uv_timer_t tick;
    cv_stream *stream;
    cv_puller *puller;
    int64_t deadline_us;
    int64_t online_us; /* when the tracks attached; 0 before */
    void (*done)(void *arg, const cv_api_probe_result *r);
    void *arg;
    char error[200];
};

struct cv_probes {
    uv_loop_t *loop;
    cv_stream_limits limits;
    probe *head;
    size_t running; /* in the list */
    size_t open;    /* timers not yet closed */
    bool freed;
};

cv_probes *cv_probes_new(uv_loop_t *loop, const cv_stream_limits *limits)
{
    cv_probes *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return NULL;
    ps->loop = loop;
    if (limits)
        ps->limits = *limits;
    else
        cv_stream_limits_default(&ps->limits);
    return ps;
}

static void tick_closed(uv_handle_t *h)
{
    probe *p = h->data;
    cv_probes *ps = p->ps;
    free(p);
    if (--ps->open == 0 && ps->freed)
        free(ps);
}

/* Stops the puller, answers once, closes the timer. */
static void finish(probe *p, const cv_api_probe_result *r)
{
    cv_probes *ps = p->ps;
    if (p->prev)
        p->prev->next = p->next;
    else
        ps->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    ps->running--;
    cv_puller_stop(p->puller);
    p->puller = NULL;
    cv_stream_unref(p->stream);
    p->stream = NULL;
    uv_timer_stop(&p->tick);
    p->done(p->arg, r);
    uv_close((uv_handle_t *)&p->tick, tick_closed);
}

static void fail(probe *p, const char *msg)
{
    cv_api_probe_result r = {.ok = false, .error = msg};
    finish(p, &r);
}

/* The puller's last error as a sentence for people. Its messages never hold
 * the URL's credentials (it logs the URL without them). */
static const char *human(probe *p, const char *e)
{
    if (strstr(e, "connection refused"))
        return "connection refused";
    if (strstr(e, " 401 ") || strstr(e, ": 401"))
        return "authentication failed (401)";
    if (strstr(e, ": 404"))
        return "not found (404)";
    if (strstr(e, "timeout") || strstr(e, "timed out") || strstr(e, "no answer") || strstr(e, "no media"))
        return "timed out";
    if (strstr(e, "cannot resolve"))
        return "host not found";
    if (strstr(e, "no supported track"))
        return "no supported track (the camera's codecs are not supported)";
    snprintf(p->error, sizeof(p->error), "camera error: %s", e);
    return p->error;
}

static void video_size(const cv_track_info *t, int *w, int *h)
{
    *w = *h = 0;
    if (t->sps_len == 0)
        return;
    if (t->codec == CV_CODEC_H264)
        (void)cv_sps_h264_size(t->sps, t->sps_len, w, h);
    else if (t->codec == CV_CODEC_H265)
        (void)cv_sps_h265_parse(t->sps, t->sps_len, w, h, NULL, 0);
}

static void on_tick(uv_timer_t *t)
{
    probe *p = t->data;
    int64_t now = cv_now_us();
    if (cv_stream_online(p->stream)) {
        if (!p->online_us)
            p->online_us = now;
        static cv_track_info tracks[CV_MAX_TRACKS]; /* 8 KiB: not on the stack; loop thread only */
        size_t n = cv_stream_tracks(p->stream, tracks, CV_MAX_TRACKS);
        const cv_track_info *video = NULL, *audio = NULL;
        for (size_t i = 0; i < n; i++) {
            if (tracks[i].kind == CV_MEDIA_VIDEO && !video)
                video = &tracks[i];
            else if (tracks[i].kind == CV_MEDIA_AUDIO && !audio)
                audio = &tracks[i];
        }
        if (!video) {
            fail(p, "no video track");
            return;
        }
        cv_api_probe_result r = {.ok = true, .video = cv_codec_name(video->codec),
                                 .audio = audio ? cv_codec_name(audio->codec) : NULL};
        video_size(video, &r.width, &r.height);
        if (r.width == 0 && now < p->deadline_us && now - p->online_us < SPS_WAIT_US)
            return; /* the size comes with the first in-band parameter sets */
        finish(p, &r);
        return;
    }
    cv_puller_stats st;
    cv_puller_get_stats(p->puller, &st);
    /* Not an error: with transport auto the puller goes on over UDP. */
    if (st.last_error[0] && strncmp(st.last_error, "SETUP over TCP refused", 22) != 0) {
        fail(p, human(p, st.last_error));
        return;
    }
    if (now >= p->deadline_us)
        fail(p, "timed out");
}

int cv_probes_start(cv_probes *ps, const char *url, int transport, int64_t timeout_us,
                    void (*done)(void *arg, const cv_api_probe_result *r), void *arg)
{
    if (!ps || !url || !done)
        return -EINVAL;
    if (ps->freed)
        return -ESHUTDOWN;
    if (ps->running >= PROBES_MAX)
        return -EBUSY;
    if (transport < CV_PULLER_TRANSPORT_AUTO || transport > CV_PULLER_TRANSPORT_UDP)
        return -EINVAL;
    if (timeout_us <= 0)
        timeout_us = DEFAULT_TIMEOUT_US;
    probe *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    cv_id id;
    cv_id_random(&id);
    p->stream = cv_stream_new(&id, &ps->limits);
    int rc = p->stream ? uv_timer_init(ps->loop, &p->tick) : -ENOMEM;
    if (rc < 0) {
        cv_stream_unref(p->stream);
        free(p);
        return rc;
    }
    p->ps = ps;
    p->tick.data = p;
    p->done = done;
    p->arg = arg;
    p->deadline_us = cv_now_us() + timeout_us;
    cv_puller_config pc = {
        .url = url,
        .transport = (cv_puller_transport)transport,
        /* Its own timeouts come first, so they name what timed out; one
         * attempt only: no retry before the deadline. */
        .timeout_us = timeout_us > 2000000 ? timeout_us - 1000000 : timeout_us,
        .backoff_min_us = 3600 * 1000000LL,
        .backoff_max_us = 3600 * 1000000LL,
    };
    rc = cv_puller_start(&p->puller, ps->loop, p->stream, &pc);
    if (rc < 0) {
        cv_stream_unref(p->stream);
        p->stream = NULL;
        ps->open++;
        uv_close((uv_handle_t *)&p->tick, tick_closed);
        return rc;
    }
    p->next = ps->head;
    if (ps->head)
        ps->head->prev = p;
    ps->head = p;
    ps->running++;
    ps->open++;
    uv_timer_start(&p->tick, on_tick, TICK_MS, TICK_MS);
    return 0;
}

void cv_probes_free(cv_probes *ps)
{
    if (!ps)
        return;
    ps->freed = true;
    cv_api_probe_result r = {.ok = false, .aborted = true, .error = "the server is stopping"};
    while (ps->head)
        finish(ps->head, &r);
    if (ps->open == 0)
        free(ps);
}
