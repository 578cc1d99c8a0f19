/* Internals shared by the watch module's files: the module, its HLS
 * sessions and the per-request state of answers that wait or stream.
 * Loop thread only. */
#ifndef CV_WATCH_WATCH_INT_H
#define CV_WATCH_WATCH_INT_H

#include <uthash.h>

#include "watch/watch.h"

#define CV_WATCH_SID_BYTES 16

typedef struct cv__wsess {
    uint8_t id[CV_WATCH_SID_BYTES];
    cv_id camera;
    cv_rtsp_access acc;
    int64_t last_us;
    char peer[64];
    UT_hash_handle hh;
} cv__wsess;

typedef enum {
    WR_MULTIVARIANT,
    WR_PLAYLIST,
    WR_INIT,
    WR_SEGMENT,
    WR_PART,
    WR_MP4,
    WR_MJPEG,
    WR_SNAPSHOT,
} cv__wr_kind;

/* A parsed media path: what follows "/cam/<id>/". */
typedef struct {
    cv__wr_kind kind;
    bool sub;
    int64_t msn;  /* segment or part: its media sequence number; init: its generation */
    int part;     /* -1: none */
} cv__watch_route;

/* Parses exactly rest.len bytes. False for anything else (404). */
bool cv__watch_parse_route(cv_str rest, cv__watch_route *out);
/* A single byte range of a len-byte answer from a Range header value
 * (.p NULL: none). Returns 1 with [*from, *to], 0 to answer whole (none, or
 * several ranges), -1 for 416. */
int cv__watch_byte_range(cv_str range, size_t len, size_t *from, size_t *to);

typedef struct cv__wreq {
    cv_watch *w;
    cv_http_req *req; /* NULL once answered or gone */
    cv__wr_kind kind;
    int proto;        /* CV_WATCH_* */
    cv_id camera;
    cv_rtsp_access acc;
    bool sub;         /* the substream rendition */
    uint8_t sid[CV_WATCH_SID_BYTES];
    bool has_sid;
    char sid_hex[2 * CV_WATCH_SID_BYTES + 1];
    char peer[64];
    int64_t msn;
    int part;         /* -1: none */
    bool head;
    int width;
    double fps;
    cv_stream *stream; /* reference: the main stream (live answers hold it) */
    /* waiting */
    cv_hls_wait *wait;
    uv_timer_t timer;
    bool timer_started;
    /* live answers */
    cv_hls_follower *fol;
    cv_pic_watch *pw;
    cv_pic_req *snap;
    struct cv__wreq *prev, *next; /* in w->live */
    bool in_live;
    bool closing;
} cv__wreq;

struct cv_watch {
    cv_watch_config cfg;
    cv__wsess *sessions;
    size_t nsessions;
    cv__wreq *live;
    cv_watch_stats stats;
};

/* watch.c */
void cv__watch_json_error(cv_http_req *req, int status, const char *msg, const char *extra);
void cv__watch_offline(cv_watch *w, cv_http_req *req, const cv_stream *s);
bool cv__watch_provenance_ok(cv__wreq *r, const cv_frame *f);
/* The stream of the rendition asked for (a new reference), or NULL. The
 * substream is reached only through its camera's main stream. */
cv_stream *cv__watch_stream(cv_watch *w, const cv_id *camera, bool sub);
void cv__watch_event(cv_watch *w, cv_rtsp_event_kind kind, const cv__wreq *r, const char *detail);
void cv__wreq_release(cv__wreq *r);
cv__wreq *cv__wreq_new(cv_watch *w, cv_http_req *req, cv__wr_kind kind, const cv_id *camera);
void cv__watch_live_add(cv__wreq *r);
bool cv__watch_session_alive(cv_watch *w, const uint8_t id[CV_WATCH_SID_BYTES]);

/* live.c: progressive MP4, MJPEG, snapshots */
void cv__watch_mp4(cv__wreq *r);
void cv__watch_mjpeg(cv__wreq *r);
void cv__watch_snapshot(cv__wreq *r);
void cv__watch_live_end(cv__wreq *r, const char *why);

/* hls.c: playlists, parts and segments */
void cv__watch_hls(cv__wreq *r);

#define CV_WATCH_NO_STORE "Cache-Control: private, no-store\r\n"

#endif
