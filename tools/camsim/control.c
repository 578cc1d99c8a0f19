/* Misbehaviour on demand: commands on stdin, one per line, raised as
 * per-camera requests that the camera threads apply (camsim.h):
 *
 *   drop <ID|all>              close the connection abruptly (RST), come back
 *                              after 1 s; "all" brings the fleet back together
 *   stall <ID|all> <seconds>   keep the connection, send nothing
 *   garbage <ID|all>           a burst of malformed interleaved RTP and junk
 *   resize <ID|all> <CLIP>     switch to another clip (a path without spaces)
 *                              at its first keyframe, SPS/PPS in band
 *
 * Each camera prints "camsim: <verb> <ID>[ <seconds>] applied" on stdout as
 * it applies one. A bad line gets a "camsim: control: ..." line on stderr
 * and is ignored; end of input ends the control thread, not camsim. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "camsim.h"

#define CMD_MAX 1024
#define MAX_STALL_S 3600

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

void camsim_applied(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&out_lock);
    printf("camsim: %s applied\n", msg);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
}

/* Splits line (NUL-terminated, at most CMD_MAX) into up to max
 * space-separated words. Returns the number of words. */
static size_t split(char *line, char **words, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == max)
            return max + 1;
        words[n++] = w;
    }
    return n;
}

/* Marks the cameras target names: "all" or one id. Returns how many. */
static size_t select_cams(const char *target, bool *sel)
{
    size_t n = 0;
    bool all = strcmp(target, "all") == 0;
    cv_id id;
    if (!all && cv_id_from_hex(target, strlen(target), &id) != 0)
        return 0;
    for (size_t i = 0; i < camsim_ncams; i++) {
        sel[i] = all || memcmp(camsim_cams[i].id.b, id.b, sizeof(id.b)) == 0;
        n += sel[i];
    }
    return n;
}

static void bad(const char *why, const char *line)
{
    fprintf(stderr, "camsim: control: %s: %s\n", why, line);
}

static void command(char *line)
{
    char copy[CMD_MAX];
    snprintf(copy, sizeof(copy), "%s", line);
    copy[strcspn(copy, "\r\n")] = '\0';
    char *w[4];
    size_t nw = split(line, w, 3);
    if (nw == 0)
        return;
    if (nw > 3 || nw < 2) {
        bad("want <verb> <ID|all> [arg]", copy);
        return;
    }
    static bool sel[CAMSIM_MAX_CAMERAS];
    if (select_cams(w[1], sel) == 0) {
        bad("no such camera", copy);
        return;
    }
    if (strcmp(w[0], "drop") == 0 && nw == 2) {
        /* One shared comeback time: a fleet after an outage. */
        int64_t at = cv_now_us() + 1000000;
        for (size_t i = 0; i < camsim_ncams; i++)
            if (sel[i]) {
                atomic_store(&camsim_cams[i].reconnect_at_us, at);
                atomic_store(&camsim_cams[i].drop_req, 1);
            }
    } else if (strcmp(w[0], "stall") == 0 && nw == 3) {
        uint64_t s;
        if (cv_str_to_u64(cv_str_from(w[2]), MAX_STALL_S, &s) != 0 || s == 0) {
            bad("stall wants 1..3600 seconds", copy);
            return;
        }
        for (size_t i = 0; i < camsim_ncams; i++)
            if (sel[i])
                atomic_store(&camsim_cams[i].stall_req_us, (int64_t)s * 1000000);
    } else if (strcmp(w[0], "garbage") == 0 && nw == 2) {
        for (size_t i = 0; i < camsim_ncams; i++)
            if (sel[i])
                atomic_store(&camsim_cams[i].garbage_req, 1);
    } else if (strcmp(w[0], "resize") == 0 && nw == 3) {
        char err[256];
        const camsim_clip *clip = camsim_clips_get(w[2], err, sizeof(err));
        if (!clip) {
            bad(err, copy);
            return;
        }
        for (size_t i = 0; i < camsim_ncams; i++)
            if (sel[i])
                atomic_store(&camsim_cams[i].next_clip, clip);
    } else {
        bad("unknown command", copy);
    }
}

static void *control_main(void *arg)
{
    (void)arg;
    char line[CMD_MAX];
    while (fgets(line, sizeof(line), stdin)) {
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
            /* Too long: skip the rest of it. */
            int ch;
            while ((ch = getchar()) != EOF && ch != '\n')
                ;
            bad("line too long", "");
            continue;
        }
        command(line);
    }
    return NULL;
}

int camsim_control_start(void)
{
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, control_main, NULL);
    pthread_attr_destroy(&attr);
    return -rc;
}
