#define CV_LOG_MODULE "rtsp"
#include "rtsp/server.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/addr.h"
#include "base/log.h"
#include "base/sbuf.h"
#include "base/util.h"
#include "rtp/depack.h"
#include "rtp/rtcp.h"
#include "rtp/reorder.h"
#include "rtsp/msg.h"
#include "rtsp/sdp.h"
#include "rtsp/server-int.h"

#define SR_INTERVAL_US (5 * 1000000)
#define IDLE_NO_SESSION_US (30 * 1000000)
#define MAX_BAD_PACKETS 2000
#define SERVER_HDR "camvault/" "0.1"

static void sess_free(conn *c);

/* ---------------------------------------------------------------- replies */


static void reply_full(conn *c, int cseq, int status, const char *extra, const char *ctype, const char *body,
                       size_t body_len)
{
    cv_sbuf *o = &c->out;
    cv_sbuf_reset(o);
    cv_sbuf_printf(o, "RTSP/1.0 %d %s\r\n", status, cv_rtsp_reason(status));
    if (cseq >= 0)
        cv_sbuf_printf(o, "CSeq: %d\r\n", cseq);
    cv_sbuf_puts(o, "Server: " SERVER_HDR "\r\n");
    session *s = c->sess;
    if (s && s->announced_session)
        cv_sbuf_printf(o, "Session: %s;timeout=%d\r\n", s->id, c->srv->cfg.session_timeout_s);
    if (extra)
        cv_sbuf_puts(o, extra);
    if (body) {
        cv_sbuf_printf(o, "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n", ctype, body_len);
        cv_sbuf_append(o, body, body_len);
    } else {
        cv_sbuf_puts(o, "\r\n");
    }
    if (!cv_sbuf_ok(o)) {
        cv__rtsp_conn_close(c, "out of memory");
        return;
    }
    if (cv__rtsp_send_bytes(c, o->p, o->len) < 0)
        cv__rtsp_conn_close(c, "write failed");
}

static void reply(conn *c, int cseq, int status, const char *extra)
{
    reply_full(c, cseq, status, extra, NULL, NULL, 0);
}

static void emit(conn *c, cv_rtsp_event_kind kind, const char *detail)
{
    cv_rtsp_server *srv = c->srv;
    if (!srv->cfg.on_event || !c->sess)
        return;
    session *s = c->sess;
    cv_rtsp_event ev = {
        .kind = kind,
        .camera = &s->camera,
        .access = &c->access,
        .peer = c->peer_ip,
        .transport = c->tls ? "TLS" : s->t[0].setup && !s->t[0].tcp ? "UDP" : "TCP",
        .detail = detail,
    };
    srv->cfg.on_event(srv->cfg.ctx, &ev);
}

/* ------------------------------------------------------------ the viewer */

static int sink_write(void *ctx, cv_frame *f);
static void sink_close(void *ctx, const char *reason);
static const cv_sink_ops sink_ops = {sink_write, sink_close};

static int sink_write(void *ctx, cv_frame *f)
{
    conn *c = ctx;
    session *s = c->sess;
    if (c->closing || !s || c->violated)
        return -EPIPE;
    /* The isolation invariant, checked at the last write: a frame is sent
     * only to a session that was set up for the camera it came from, and
     * that session holds a verified access to that very camera. */
    if (!cv_id_eq(&f->meta.camera, &s->camera) || !c->authed || !cv_id_eq(&c->authed_camera, &s->camera)) {
        c->srv->stats.isolation_violations++;
        char other[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&f->meta.camera, other);
        CV_ERROR("SECURITY: %p: frame of camera %s offered to a viewer of %s (%s); dropped, session closed",
                 (void *)c, other, s->camera_hex, c->peer);
        char detail[96];
        snprintf(detail, sizeof(detail), "frame of camera %s refused at the last write", other);
        emit(c, CV_RTSP_EV_ISOLATION, detail);
        /* Nothing more is written to this viewer; the connection closes on
         * the next loop iteration (never from inside the hub's callback,
         * which still holds the subscription). */
        c->violated = true;
        c->doom = "isolation violation";
        uv_timer_start(&c->timer, cv__rtsp_on_tick, 0, 1000);
        return -EPERM;
    }
    if (!f->rtp)
        return -EPIPE;
    unsigned ti = f->meta.track;
    if (ti >= s->ntracks || !s->t[ti].setup)
        return -EINVAL;
    sess_track *t = &s->t[ti];
    const cv_wire *wire = f->rtp;
    c->srv->stats.bytes_out += wire->len;

    if (!t->tcp) {
        /* UDP: datagrams go out now or are lost, as UDP would lose them. */
        for (uint32_t i = 0; i < wire->npkts; i++) {
            uint8_t *pkt = wire->data + wire->offs[i];
            size_t len = cv_be16(pkt + 2);
            uv_buf_t b = uv_buf_init((char *)pkt + 4, (unsigned)len);
            (void)uv_udp_try_send(t->udp[0], &b, 1, (const struct sockaddr *)&t->peer[0]);
        }
        return 1;
    }

    wreq *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->c = c;
    w->f = cv_frame_ref(f);
    uv_buf_t one;
    uv_buf_t *bufs = &one;
    unsigned nbufs = 1;
    if (t->ch[0] == (int)(2 * ti)) {
        /* The wire already carries this viewer's channel: one buffer, one writev. */
        one = uv_buf_init((char *)wire->data, (unsigned)wire->len);
    } else {
        w->bufs = malloc(sizeof(uv_buf_t) * 2 * wire->npkts);
        w->hdrs = malloc(4 * (size_t)wire->npkts);
        if (!w->bufs || !w->hdrs) {
            cv_frame_unref(w->f);
            free(w->bufs);
            free(w->hdrs);
            free(w);
            return -ENOMEM;
        }
        for (uint32_t i = 0; i < wire->npkts; i++) {
            uint8_t *pkt = wire->data + wire->offs[i];
            uint8_t *h = w->hdrs + 4 * i;
            h[0] = '$';
            h[1] = (uint8_t)t->ch[0];
            h[2] = pkt[2];
            h[3] = pkt[3];
            w->bufs[2 * i] = uv_buf_init((char *)h, 4);
            w->bufs[2 * i + 1] = uv_buf_init((char *)pkt + 4, cv_be16(pkt + 2));
        }
        bufs = w->bufs;
        nbufs = 2 * wire->npkts;
    }
    int rc = cv__rtsp_submit(c, w, bufs, nbufs);
    if (rc < 0) {
        cv_frame_unref(w->f);
        free(w->bufs);
        free(w->hdrs);
        free(w->copy);
        free(w);
        return rc;
    }
    return 0;
}

static void sink_close(void *ctx, const char *reason)
{
    conn *c = ctx;
    cv__rtsp_conn_close(c, reason);
}

static void send_rtcp(conn *c, size_t ti, const uint8_t *buf, size_t len)
{
    sess_track *t = &c->sess->t[ti];
    if (t->tcp) {
        uint8_t tmp[4 + 256];
        if (len > 256 || t->ch[1] < 0)
            return;
        tmp[0] = '$';
        tmp[1] = (uint8_t)t->ch[1];
        cv_wr_be16(tmp + 2, (uint16_t)len);
        memcpy(tmp + 4, buf, len);
        (void)cv__rtsp_send_bytes(c, tmp, len + 4);
    } else if (t->udp[1]) {
        uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
        (void)uv_udp_try_send(t->udp[1], &b, 1, (const struct sockaddr *)&t->peer[1]);
    }
}

static void send_sender_reports(conn *c)
{
    session *s = c->sess;
    for (size_t i = 0; i < s->ntracks; i++) {
        if (!s->t[i].setup)
            continue;
        uint8_t buf[256];
        int n = cv_stream_build_sr(s->stream, i, buf, sizeof(buf));
        if (n > 0)
            send_rtcp(c, i, buf, (size_t)n);
    }
}

/* ------------------------------------------------------------ sessions */


static void udp_closed(uv_handle_t *h)
{
    conn *c = h->data;
    free(h);
    if (c && --c->open_handles == 0)
        cv__rtsp_conn_free(c);
}

static void sess_free(conn *c)
{
    session *s = c->sess;
    if (!s)
        return;
    c->sess = NULL;
    if (s->sub) {
        cv_sub_free(s->sub);
        c->srv->stats.viewers--;
        c->sess = s;
        emit(c, CV_RTSP_EV_VIEW_STOP, c->closing ? "closed" : NULL);
        c->sess = NULL;
    }
    if (s->mode == MODE_PUBLISH && s->active) {
        cv_stream_detach(s->stream, c);
        c->srv->stats.publishers--;
        CV_INFO("%p: camera %s stopped publishing", (void *)c, s->camera_hex);
        c->sess = s;
        emit(c, CV_RTSP_EV_PUBLISH_STOP, NULL);
        c->sess = NULL;
    }
    for (size_t i = 0; i < CV_SDP_MAX_MEDIA; i++) {
        sess_track *t = &s->t[i];
        cv_rtp_depack_free(t->depack);
        cv_rtp_reorder_free(t->reorder);
        for (int k = 0; k < 2; k++) {
            if (t->udp[k]) {
                uv_udp_recv_stop(t->udp[k]);
                c->open_handles++;
                uv_close((uv_handle_t *)t->udp[k], udp_closed);
            }
        }
    }
    cv_stream_unref(s->stream);
    free(s->sdp);
    free(s);
}

static session *sess_new(conn *c, sess_mode mode, const cv_id *camera)
{
    session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    uint8_t rnd[8];
    randombytes_buf(rnd, sizeof(rnd));
    cv_hex_encode(rnd, sizeof(rnd), s->id, sizeof(s->id));
    s->mode = mode;
    s->camera = *camera;
    cv_id_to_hex(camera, s->camera_hex);
    for (size_t i = 0; i < CV_SDP_MAX_MEDIA; i++) {
        s->t[i].ch[0] = s->t[i].ch[1] = -1;
        s->t[i].stream_index = -1;
    }
    c->sess = s;
    return s;
}

/* ------------------------------------------------------------ requests */

/* Splits an RTSP request URI into camera id and the rest of the path after
 * "/cam/<id>" (without leading '/', query removed). */
static int parse_target(cv_str uri, cv_id *cam, cv_str *rest)
{
    const char *p = uri.p, *end = uri.p + uri.len;
    if (uri.len >= 7 && strncasecmp(p, "rtsp://", 7) == 0) {
        p += 7;
        while (p < end && *p != '/')
            p++;
    } else if (uri.len >= 8 && strncasecmp(p, "rtsps://", 8) == 0) {
        p += 8;
        while (p < end && *p != '/')
            p++;
    }
    const char *q = memchr(p, '?', (size_t)(end - p));
    if (q)
        end = q;
    if (end - p < 5 + CV_ID_HEX_LEN || strncmp(p, "/cam/", 5) != 0)
        return -ENOENT;
    p += 5;
    if (cv_id_from_hex(p, CV_ID_HEX_LEN, cam) != 0)
        return -ENOENT;
    p += CV_ID_HEX_LEN;
    if (p < end && *p != '/')
        return -ENOENT;
    if (p < end)
        p++;
    while (end > p && end[-1] == '/')
        end--;
    rest->p = p;
    rest->len = (size_t)(end - p);
    return 0;
}

static int track_from_rest(cv_str rest, const session *s)
{
    /* Publishers name tracks by their own a=control; viewers by ours. */
    if (s->mode == MODE_PUBLISH && s->sdp) {
        for (size_t i = 0; i < s->sdp->ntracks; i++) {
            const char *ctl = s->sdp->tracks[i].control;
            size_t n = strlen(ctl);
            if (!n)
                continue;
            if (cv_str_eq(rest, (cv_str){ctl, n}))
                return (int)i;
            /* Absolute control URL: compare its tail. */
            if (n > rest.len && rest.len && memcmp(ctl + n - rest.len, rest.p, rest.len) == 0 &&
                ctl[n - rest.len - 1] == '/')
                return (int)i;
        }
    }
    if (rest.len == 0)
        return s->mode == MODE_PUBLISH && s->sdp && s->sdp->ntracks == 1 ? 0 : -1;
    const char *eq = memchr(rest.p, '=', rest.len);
    if (!eq)
        return -1;
    uint64_t v;
    cv_str num = {eq + 1, (size_t)(rest.p + rest.len - eq - 1)};
    if (cv_str_to_u64(num, CV_SDP_MAX_MEDIA - 1, &v) != 0)
        return -1;
    return (int)v;
}

static bool check_session(conn *c, const cv_rtsp_msg *m)
{
    const cv_str *h = cv_rtsp_msg_header(m, "Session");
    if (!h)
        return true;
    cv_str id;
    int timeout;
    if (cv_rtsp_parse_session(*h, &id, &timeout) != 0 || !c->sess ||
        !cv_str_eq(id, cv_str_from(c->sess->id))) {
        reply(c, m->cseq, 454, NULL);
        return false;
    }
    return true;
}

static void base_url(conn *c, const cv_rtsp_msg *m, char *out, size_t cap)
{
    /* Echo the host the client used; drop any query. */
    cv_str uri = m->uri;
    const char *q = memchr(uri.p, '?', uri.len);
    size_t n = q ? (size_t)(q - uri.p) : uri.len;
    while (n && uri.p[n - 1] == '/')
        n--;
    if ((n >= 7 && strncasecmp(uri.p, "rtsp://", 7) == 0) || (n >= 8 && strncasecmp(uri.p, "rtsps://", 8) == 0))
        snprintf(out, cap, "%.*s/", (int)n, uri.p);
    else
        snprintf(out, cap, strchr(c->local_ip, ':') ? "%s://[%s]:%d%.*s/" : "%s://%s:%d%.*s/",
                 c->tls ? "rtsps" : "rtsp", c->local_ip, c->port, (int)n, uri.p);
}

/* Authenticates and authorises a request naming a camera, once per
 * connection and camera: later requests of the same connection (SETUP, PLAY,
 * which carry no token) ride on it. Replies 401/403/503 itself and returns
 * false when refused. A URL that names no camera is refused the same way as
 * a camera the client may not see: nothing tells whether a camera exists. */
static bool authorize(conn *c, const cv_rtsp_msg *m, const cv_id *cam, bool publish)
{
    cv_rtsp_server *srv = c->srv;
    if (c->authed && c->authed_publish == publish && cv_id_eq(&c->authed_camera, cam) &&
        srv->cfg.still_allowed(srv->cfg.ctx, cam, publish, &c->access))
        return true;
    c->authed = false;
    cv_rtsp_auth_req req = {
        .camera = cam,
        .publish = publish,
        .method = NULL,
        .uri = m->uri,
        .authorization = cv_rtsp_msg_header(m, "Authorization"),
        .peer = c->peer_ip,
    };
    char method[24];
    snprintf(method, sizeof(method), "%.*s", (int)CV_MIN(m->method.len, sizeof(method) - 1), m->method.p);
    req.method = method;
    cv_sbuf chal;
    cv_sbuf_init(&chal);
    cv_rtsp_access a;
    memset(&a, 0, sizeof(a));
    int status = srv->cfg.authorize(srv->cfg.ctx, &req, &a, &chal);
    if (status == 200) {
        cv_sbuf_free(&chal);
        c->authed = true;
        c->authed_publish = publish;
        c->authed_camera = *cam;
        c->access = a;
        return true;
    }
    char extra[768] = "";
    if (status == 401 && chal.len && cv_sbuf_ok(&chal))
        snprintf(extra, sizeof(extra), "WWW-Authenticate: %s\r\n", chal.p);
    else if (status == 503 && chal.len && cv_sbuf_ok(&chal))
        snprintf(extra, sizeof(extra), "Retry-After: %s\r\n", chal.p);
    else if (status != 401 && status != 503)
        status = 403;
    cv_sbuf_free(&chal);
    CV_INFO("%p: %.*s from %s: %d", (void *)c, (int)m->method.len, m->method.p, c->peer, status);
    reply(c, m->cseq, status, extra[0] ? extra : NULL);
    return false;
}

/* The camera a request names, or the zero id when it names none. */
static void target_or_zero(const cv_rtsp_msg *m, cv_id *cam, cv_str *rest)
{
    if (parse_target(m->uri, cam, rest) != 0) {
        memset(cam, 0, sizeof(*cam));
        rest->p = "";
        rest->len = 0;
    }
}

static void on_options(conn *c, const cv_rtsp_msg *m)
{
    reply(c, m->cseq, 200,
          "Public: OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, PAUSE, RECORD, TEARDOWN, GET_PARAMETER, "
          "SET_PARAMETER\r\n");
}

static void on_describe(conn *c, const cv_rtsp_msg *m)
{
    cv_id cam;
    cv_str rest;
    cv_rtsp_server *srv = c->srv;
    target_or_zero(m, &cam, &rest);
    if (!authorize(c, m, &cam, false))
        return;
    cv_stream *st = cv_registry_find(srv->reg, &cam);
    cv_track_info tracks[CV_MAX_TRACKS];
    size_t n = st ? cv_stream_tracks(st, tracks, CV_MAX_TRACKS) : 0;
    if (!st || !cv_stream_online(st) || n == 0) {
        char hex[CV_ID_HEX_LEN + 1];
        cv_id_to_hex(&cam, hex);
        CV_INFO("%p: DESCRIBE camera %s from %s: camera offline", (void *)c, hex, c->peer);
        cv_stream_unref(st);
        reply(c, m->cseq, 503, NULL);
        return;
    }
    cv_sbuf sdp;
    cv_sbuf_init(&sdp);
    cv_sdp_build(&sdp, tracks, n, c->local_ip, "camvault");
    char base[CV_RTSP_MAX_URI + 64];
    base_url(c, m, base, sizeof(base));
    char extra[sizeof(base) + 32];
    snprintf(extra, sizeof(extra), "Content-Base: %s\r\n", base);
    if (cv_sbuf_ok(&sdp))
        reply_full(c, m->cseq, 200, extra, "application/sdp", sdp.p, sdp.len);
    else
        reply(c, m->cseq, 500, NULL);
    cv_sbuf_free(&sdp);
    cv_stream_unref(st);
}

static void on_announce(conn *c, const cv_rtsp_msg *m)
{
    cv_id cam;
    cv_str rest;
    cv_rtsp_server *srv = c->srv;
    if (c->sess) {
        reply(c, m->cseq, 455, NULL);
        return;
    }
    target_or_zero(m, &cam, &rest);
    if (!authorize(c, m, &cam, true))
        return;
    const cv_str *ct = cv_rtsp_msg_header(m, "Content-Type");
    if (!ct || !cv_str_ieq_c(*ct, "application/sdp")) {
        CV_WARN("%p: ANNOUNCE from %s without an SDP body", (void *)c, c->peer);
        reply(c, m->cseq, 415, NULL);
        return;
    }
    cv_sdp *sdp = calloc(1, sizeof(*sdp));
    char err[160] = "";
    if (!sdp) {
        reply(c, m->cseq, 500, NULL);
        return;
    }
    if (cv_sdp_parse(m->body.p, m->body.len, sdp, err, sizeof(err)) != 0) {
        CV_WARN("%p: ANNOUNCE from %s: bad SDP: %s", (void *)c, c->peer, err);
        free(sdp);
        srv->stats.bad_requests++;
        reply(c, m->cseq, 400, NULL);
        return;
    }
    size_t supported = 0;
    for (size_t i = 0; i < sdp->ntracks; i++) {
        if (sdp->tracks[i].codec == CV_CODEC_UNKNOWN)
            CV_WARN("%p: camera from %s announces unsupported %s codec \"%s\"; that track is ignored", (void *)c,
                    c->peer, cv_media_kind_name(sdp->tracks[i].kind), sdp->encoding[i]);
        else
            supported++;
    }
    if (!supported || supported > CV_MAX_TRACKS) {
        CV_WARN("%p: ANNOUNCE from %s: %s", (void *)c, c->peer,
                supported ? "too many tracks" : "no supported audio or video track");
        free(sdp);
        reply(c, m->cseq, 415, NULL);
        return;
    }
    session *s = sess_new(c, MODE_PUBLISH, &cam);
    if (!s) {
        free(sdp);
        reply(c, m->cseq, 500, NULL);
        return;
    }
    s->sdp = sdp;
    s->ntracks = sdp->ntracks;
    for (size_t i = 0; i < sdp->ntracks; i++)
        s->t[i].supported = sdp->tracks[i].codec != CV_CODEC_UNKNOWN;
    CV_INFO("%p: camera %s announced from %s (%zu track(s))", (void *)c, s->camera_hex, c->peer, sdp->ntracks);
    reply(c, m->cseq, 200, NULL);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                        unsigned flags);

static void udp_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char slab[65536]; /* loop thread only; datagrams are consumed before the next read */
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(slab, sizeof(slab));
}

static int open_udp_pair(conn *c, sess_track *t, int *ports)
{
    for (int k = 0; k < 2; k++) {
        uv_udp_t *u = calloc(1, sizeof(*u));
        if (!u)
            return -ENOMEM;
        uv_udp_init(c->srv->loop, u);
        u->data = c;
        t->udp[k] = u;
        struct sockaddr_storage sa;
        int rc = cv_addr_from_ip(c->local_ip, 0, &sa);
        if (rc < 0 || (rc = uv_udp_bind(u, (const struct sockaddr *)&sa, 0)) < 0)
            return rc;
        int namelen = sizeof(sa);
        uv_udp_getsockname(u, (struct sockaddr *)&sa, &namelen);
        ports[k] = cv_addr_port(&sa);
        /* A keyframe arrives as a burst of datagrams: give the kernel room
         * for a whole one (best effort; capped by net.core.rmem_max). */
        int rcvbuf = 2 << 20;
        (void)uv_recv_buffer_size((uv_handle_t *)u, &rcvbuf);
        if ((rc = uv_udp_recv_start(u, udp_alloc, on_udp_recv)) < 0)
            return rc;
    }
    return 0;
}

static void set_peer_port(struct sockaddr_storage *dst, const struct sockaddr_storage *peer, int port)
{
    *dst = *peer;
    cv_addr_set_port(dst, port);
}

static void on_setup(conn *c, const cv_rtsp_msg *m)
{
    cv_id cam;
    cv_str rest;
    cv_rtsp_server *srv = c->srv;
    target_or_zero(m, &cam, &rest);
    if (!c->sess && !authorize(c, m, &cam, false))
        return;
    const cv_str *th = cv_rtsp_msg_header(m, "Transport");
    cv_rtsp_transport tr;
    if (!th || cv_rtsp_parse_transport(*th, &tr) != 0 || tr.multicast) {
        CV_INFO("%p: SETUP from %s: unsupported transport", (void *)c, c->peer);
        reply(c, m->cseq, 461, NULL);
        return;
    }
    if (c->tls && !tr.tcp) {
        /* RTSPS keeps the media inside TLS: interleaved only. */
        CV_INFO("%p: SETUP from %s: UDP over RTSPS refused", (void *)c, c->peer);
        reply(c, m->cseq, 461, NULL);
        return;
    }
    session *s = c->sess;
    if (s && !cv_id_eq(&s->camera, &cam)) {
        reply(c, m->cseq, 459, NULL);
        return;
    }
    if (!s) {
        /* A viewer (authorised above): the camera must be online to describe its tracks. */
        cv_stream *st = cv_registry_find(srv->reg, &cam);
        cv_track_info tracks[CV_MAX_TRACKS];
        size_t n = st ? cv_stream_tracks(st, tracks, CV_MAX_TRACKS) : 0;
        if (!st || n == 0) {
            cv_stream_unref(st);
            reply(c, m->cseq, 503, NULL);
            return;
        }
        s = sess_new(c, MODE_PLAY, &cam);
        if (!s) {
            cv_stream_unref(st);
            reply(c, m->cseq, 500, NULL);
            return;
        }
        s->stream = st;
        s->ntracks = n;
    }
    if (s->active && s->mode == MODE_PUBLISH) {
        reply(c, m->cseq, 455, NULL);
        return;
    }
    int ti = track_from_rest(rest, s);
    if (ti < 0 || (size_t)ti >= s->ntracks) {
        CV_INFO("%p: SETUP %.*s from %s: no such track", (void *)c, (int)m->uri.len, m->uri.p, c->peer);
        reply(c, m->cseq, 404, NULL);
        return;
    }
    sess_track *t = &s->t[ti];
    if (t->setup) {
        reply(c, m->cseq, 455, NULL);
        return;
    }
    char extra[256];
    uint32_t ssrc = s->mode == MODE_PLAY ? cv_stream_out_ssrc(s->stream, (size_t)ti) : 0;
    char ssrc_part[24] = "";
    if (s->mode == MODE_PLAY)
        snprintf(ssrc_part, sizeof(ssrc_part), ";ssrc=%08X", ssrc);
    if (tr.tcp) {
        t->tcp = true;
        t->ch[0] = tr.interleaved[0] >= 0 ? tr.interleaved[0] : 2 * ti;
        t->ch[1] = tr.interleaved[1] >= 0 ? tr.interleaved[1] : t->ch[0] + 1;
        if (t->ch[0] > 255 || t->ch[1] > 255) {
            reply(c, m->cseq, 461, NULL);
            return;
        }
        snprintf(extra, sizeof(extra), "Transport: RTP/AVP/TCP;unicast;interleaved=%d-%d%s%s\r\n", t->ch[0], t->ch[1],
                 ssrc_part, s->mode == MODE_PUBLISH ? ";mode=record" : "");
    } else {
        if (tr.client_port[0] <= 0) {
            reply(c, m->cseq, 461, NULL);
            return;
        }
        int ports[2] = {0, 0};
        if (open_udp_pair(c, t, ports) < 0) {
            CV_WARN("%p: SETUP from %s: cannot open UDP ports", (void *)c, c->peer);
            reply(c, m->cseq, 500, NULL);
            return;
        }
        set_peer_port(&t->peer[0], &c->peer_addr, tr.client_port[0]);
        set_peer_port(&t->peer[1], &c->peer_addr,
                      tr.client_port[1] > 0 ? tr.client_port[1] : tr.client_port[0] + 1);
        snprintf(extra, sizeof(extra),
                 "Transport: RTP/AVP;unicast;client_port=%d-%d;server_port=%d-%d%s%s\r\n", tr.client_port[0],
                 tr.client_port[1] > 0 ? tr.client_port[1] : tr.client_port[0] + 1, ports[0], ports[1],
                 ssrc_part, s->mode == MODE_PUBLISH ? ";mode=record" : "");
    }
    t->setup = true;
    s->announced_session = true;
    reply(c, m->cseq, 200, extra);
}

static void on_frame(void *ctx, cv_frame *f)
{
    conn *c = ctx;
    if (c->sess && c->sess->stream)
        (void)cv_stream_publish(c->sess->stream, c, f);
}

static conn *find_publisher(cv_rtsp_server *srv, const cv_stream *st)
{
    for (conn *o = srv->conns; o; o = o->next)
        if (!o->closing && o->sess && o->sess->mode == MODE_PUBLISH && o->sess->active && o->sess->stream == st)
            return o;
    return NULL;
}

static void on_record(conn *c, const cv_rtsp_msg *m)
{
    session *s = c->sess;
    if (!s || s->mode != MODE_PUBLISH) {
        reply(c, m->cseq, 455, NULL);
        return;
    }
    if (s->active) {
        reply(c, m->cseq, 200, NULL);
        return;
    }
    if (!c->authed || !c->srv->cfg.still_allowed(c->srv->cfg.ctx, &s->camera, true, &c->access)) {
        reply(c, m->cseq, 403, NULL); /* removed or revoked since ANNOUNCE */
        c->doom = "access revoked";
        return;
    }
    cv_track_info tracks[CV_MAX_TRACKS];
    size_t n = 0;
    for (size_t i = 0; i < s->ntracks; i++) {
        if (!s->t[i].setup || !s->t[i].supported || n == CV_MAX_TRACKS)
            continue;
        s->t[i].stream_index = (int)n;
        tracks[n++] = s->sdp->tracks[i];
    }
    if (!n) {
        reply(c, m->cseq, 455, NULL);
        return;
    }
    cv_stream *st = cv_registry_get(c->srv->reg, &s->camera);
    if (!st) {
        reply(c, m->cseq, 500, NULL);
        return;
    }
    int rc = cv_stream_attach(st, c, tracks, n);
    if (rc == -EBUSY) {
        /* The camera reconnected before its old connection timed out:
         * the newest connection wins. */
        conn *old = find_publisher(c->srv, st);
        CV_INFO("%p: camera %s reconnected from %s; replacing its previous connection", (void *)c, s->camera_hex,
                c->peer);
        if (old)
            cv__rtsp_conn_close(old, "replaced by a newer connection of the same camera");
        rc = cv_stream_attach(st, c, tracks, n);
    }
    if (rc < 0) {
        CV_WARN("%p: camera %s: cannot publish: %s", (void *)c, s->camera_hex, strerror(-rc));
        cv_stream_unref(st);
        reply(c, m->cseq, rc == -EBUSY ? 409 : 500, NULL);
        return;
    }
    s->stream = st;
    for (size_t i = 0; i < s->ntracks; i++) {
        sess_track *t = &s->t[i];
        if (t->stream_index < 0)
            continue;
        t->depack = cv_rtp_depack_new(&s->sdp->tracks[i], &s->camera, (uint8_t)t->stream_index);
        if (!t->tcp) {
            t->reorder = cv_rtp_reorder_new(0);
            t->owner = c;
        }
    }
    s->active = true;
    c->srv->stats.publishers++;
    CV_INFO("%p: camera %s is live (%zu track(s), %s)", (void *)c, s->camera_hex, n,
            s->t[0].tcp ? "TCP" : "UDP");
    emit(c, CV_RTSP_EV_PUBLISH_START, NULL);
    reply(c, m->cseq, 200, NULL);
}

static void on_play(conn *c, const cv_rtsp_msg *m)
{
    session *s = c->sess;
    if (!s || s->mode != MODE_PLAY) {
        reply(c, m->cseq, 455, NULL);
        return;
    }
    if (s->active) {
        reply(c, m->cseq, 200, "Range: npt=0.000-\r\n");
        return;
    }
    if (!c->authed || !c->srv->cfg.still_allowed(c->srv->cfg.ctx, &s->camera, false, &c->access)) {
        reply(c, m->cseq, 403, NULL); /* removed or revoked since SETUP */
        c->doom = "access revoked";
        return;
    }
    uint32_t mask = 0;
    for (size_t i = 0; i < s->ntracks; i++)
        if (s->t[i].setup)
            mask |= 1u << i;
    s->sub = cv_stream_subscribe(s->stream, mask, &sink_ops, c);
    if (!s->sub) {
        reply(c, m->cseq, 500, NULL);
        return;
    }
    c->srv->stats.viewers++;
    char base[CV_RTSP_MAX_URI + 64];
    base_url(c, m, base, sizeof(base));
    cv_sbuf info;
    cv_sbuf_init(&info);
    cv_sbuf_puts(&info, "Range: npt=0.000-\r\n");
    bool first = true;
    for (size_t i = 0; i < s->ntracks; i++) {
        uint16_t seq;
        uint32_t ts;
        if (!s->t[i].setup || !cv_stream_next_rtp(s->stream, i, &seq, &ts))
            continue;
        cv_sbuf_printf(&info, "%surl=%strackID=%zu;seq=%u;rtptime=%u", first ? "RTP-Info: " : ",", base, i, seq,
                       ts);
        first = false;
    }
    if (!first)
        cv_sbuf_puts(&info, "\r\n");
    reply(c, m->cseq, 200, cv_sbuf_ok(&info) ? info.p : NULL);
    cv_sbuf_free(&info);
    if (c->closing)
        return;
    s->active = true;
    CV_INFO("%p: %s (%s) plays camera %s (%s)", (void *)c, c->peer, c->access.who, s->camera_hex,
            s->t[0].tcp || !s->t[0].setup ? "TCP" : "UDP");
    emit(c, CV_RTSP_EV_VIEW_START, NULL);
    cv_sub_start(s->sub);
    if (!c->closing) {
        send_sender_reports(c);
        c->last_sr_us = cv_now_us();
    }
}

static void on_pause(conn *c, const cv_rtsp_msg *m)
{
    session *s = c->sess;
    if (!s || s->mode != MODE_PLAY) {
        reply(c, m->cseq, 455, NULL);
        return;
    }
    if (s->sub) {
        cv_sub_free(s->sub);
        s->sub = NULL;
        c->srv->stats.viewers--;
    }
    s->active = false;
    reply(c, m->cseq, 200, NULL);
}

static void on_teardown(conn *c, const cv_rtsp_msg *m)
{
    reply(c, m->cseq, 200, NULL);
    sess_free(c);
}

static void handle_request(conn *c, const cv_rtsp_msg *m)
{
    if (m->cseq < 0) {
        c->srv->stats.bad_requests++;
        CV_INFO("%p: request without CSeq from %s", (void *)c, c->peer);
        reply(c, -1, 400, NULL);
        return;
    }
    if (!check_session(c, m))
        return;
    cv_str meth = m->method;
    if (cv_str_eq(meth, CV_STR_LIT("OPTIONS")))
        on_options(c, m);
    else if (cv_str_eq(meth, CV_STR_LIT("DESCRIBE")))
        on_describe(c, m);
    else if (cv_str_eq(meth, CV_STR_LIT("ANNOUNCE")))
        on_announce(c, m);
    else if (cv_str_eq(meth, CV_STR_LIT("SETUP")))
        on_setup(c, m);
    else if (cv_str_eq(meth, CV_STR_LIT("PLAY")))
        on_play(c, m);
    else if (cv_str_eq(meth, CV_STR_LIT("RECORD")))
        on_record(c, m);
    else if (cv_str_eq(meth, CV_STR_LIT("PAUSE")))
        on_pause(c, m);
    else if (cv_str_eq(meth, CV_STR_LIT("TEARDOWN")))
        on_teardown(c, m);
    else if (cv_str_eq(meth, CV_STR_LIT("GET_PARAMETER")) || cv_str_eq(meth, CV_STR_LIT("SET_PARAMETER")))
        reply(c, m->cseq, 200, NULL);
    else {
        CV_INFO("%p: unsupported method %.*s from %s", (void *)c, (int)meth.len, meth.p, c->peer);
        reply(c, m->cseq, 501, NULL);
    }
}

/* ------------------------------------------------------------ media in */

static void bad_packet(conn *c, const char *what, int rc)
{
    c->bad_packets++;
    /* Log the first few, then every 1000th: a broken camera must not flood the log. */
    if (c->bad_packets <= 5 || c->bad_packets % 1000 == 0)
        CV_WARN("%p: camera %s: malformed %s packet dropped (%s; %llu so far)", (void *)c,
                c->sess ? c->sess->camera_hex : "?", what, strerror(-rc), (unsigned long long)c->bad_packets);
    if (c->bad_packets >= MAX_BAD_PACKETS)
        c->doom = "too many malformed packets";
}

static void media_in(conn *c, sess_track *t, const uint8_t *p, size_t len)
{
    if (!t->depack)
        return;
    int rc = cv_rtp_depack_push(t->depack, p, len, on_frame, c);
    if (rc < 0)
        bad_packet(c, "RTP", rc);
}

static void reordered_in(void *ctx, const uint8_t *p, size_t len)
{
    sess_track *t = ctx;
    if (!t->owner->doom)
        media_in(t->owner, t, p, len);
}

static void on_interleaved(conn *c, uint8_t ch, const uint8_t *p, size_t len)
{
    session *s = c->sess;
    if (!s)
        return;
    if (s->mode != MODE_PUBLISH || !s->active)
        return; /* viewers' RTCP receiver reports: activity only */
    for (size_t i = 0; i < s->ntracks; i++) {
        sess_track *t = &s->t[i];
        if (t->setup && t->tcp && t->ch[0] == ch) {
            media_in(c, t, p, len);
            return;
        }
    }
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                        unsigned flags)
{
    (void)flags;
    conn *c = h->data;
    if (nread <= 0 || !addr || c->closing || !c->sess)
        return;
    /* Only the peer that set the session up may feed it. */
    if (!cv_addr_same_host(addr, &c->peer_addr))
        return;
    session *s = c->sess;
    c->last_activity_us = cv_now_us();
    if (s->mode != MODE_PUBLISH || !s->active)
        return;
    for (size_t i = 0; i < s->ntracks; i++) {
        sess_track *t = &s->t[i];
        if (t->udp[0] != h)
            continue;
        if (t->reorder)
            cv_rtp_reorder_push(t->reorder, (const uint8_t *)buf->base, (size_t)nread, c->last_activity_us,
                                reordered_in, t);
        else
            media_in(c, t, (const uint8_t *)buf->base, (size_t)nread);
        if (c->doom)
            cv__rtsp_conn_close(c, c->doom);
        return;
    }
}

/* ------------------------------------------------------------ connection */

static void process(conn *c)
{
    size_t off = 0;
    while (off < c->rlen && !c->closing && !c->draining && !c->doom) {
        const uint8_t *p = c->rbuf + off;
        size_t len = c->rlen - off;
        if (p[0] == '$') {
            uint8_t ch;
            const uint8_t *payload;
            size_t plen;
            int rc = cv_rtsp_parse_interleaved(p, len, &ch, &payload, &plen);
            if (rc == 0)
                break;
            if (rc < 0) {
                cv__rtsp_conn_close(c, "bad interleaved frame");
                return;
            }
            on_interleaved(c, ch, payload, plen);
            off += (size_t)rc;
            continue;
        }
        cv_rtsp_msg m;
        int rc = cv_rtsp_parse(p, len, &m);
        if (rc == 0)
            break;
        if (rc < 0) {
            c->srv->stats.bad_requests++;
            int status = rc == -EPROTONOSUPPORT ? 505 : rc == -EMSGSIZE ? 413 : 400;
            CV_WARN("%p: malformed RTSP from %s (%s); answering %d and closing", (void *)c, c->peer,
                    rc == -EMSGSIZE ? "message too large" : rc == -EPROTONOSUPPORT ? "unsupported version"
                                                                             : "parse error",
                    status);
            reply(c, -1, status, NULL);
            cv__rtsp_conn_linger(c, "malformed request");
            return;
        }
        if (!m.is_response)
            handle_request(c, &m);
        off += (size_t)rc;
    }
    if (c->doom && !c->closing)
        cv__rtsp_conn_close(c, c->doom);
    if (c->closing || c->draining)
        return;
    if (off) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
}

void cv__rtsp_input(conn *c)
{
    process(c);
    if (!c->closing && !c->draining && c->rlen == c->rcap) {
        /* A full buffer that does not parse is an oversized message. */
        c->srv->stats.bad_requests++;
        CV_WARN("%p: message from %s exceeds %d bytes; closing", (void *)c, c->peer, RBUF_MAX);
        reply(c, -1, 413, NULL);
        cv__rtsp_conn_linger(c, "message too large");
    }
}


static void handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    cv_rtsp_server *srv = c->srv;
    if (--c->open_handles == 0)
        cv__rtsp_conn_free(c);
    if (--srv->open_handles == 0 && srv->stopping) {
        void (*done)(void *) = srv->done;
        void *ctx = srv->done_ctx;
        free(srv);
        if (done)
            done(ctx);
    }
}

void cv__rtsp_conn_close(conn *c, const char *why)
{
    if (c->closing)
        return;
    if (c->tls)
        cv__rtsp_tls_close(c);
    c->closing = true;
    CV_INFO("%p: closing connection from %s: %s", (void *)c, c->peer, why);
    cv_rtsp_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->stats.connections--;
    sess_free(c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->timer, handle_closed);
    uv_close((uv_handle_t *)&c->tcp, handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req;
    (void)status; /* the peer's EOF or the drain deadline closes the connection */
}

/* Closes gracefully after an error answer: send what is queued, then FIN,
 * and read (discarding) until the peer closes, so the peer sees the status
 * instead of a reset caused by its own unread bytes. */
void cv__rtsp_conn_linger(conn *c, const char *why)
{
    if (c->closing || c->draining)
        return;
    CV_INFO("%p: ending connection from %s: %s", (void *)c, c->peer, why);
    c->draining = true;
    c->drain_since_us = cv_now_us();
    sess_free(c);
    c->rlen = 0;
    if (c->tls) {
        cv_tls_conn_shutdown(c->tls); /* close_notify after the answer */
        if (cv__rtsp_tls_flush(c) < 0) {
            cv__rtsp_conn_close(c, why);
            return;
        }
    }
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        cv__rtsp_conn_close(c, why);
}

void cv__rtsp_on_tick(uv_timer_t *t)
{
    conn *c = t->data;
    int64_t now = cv_now_us();
    if (c->violated || (c->doom && !c->draining)) {
        cv__rtsp_conn_close(c, c->doom);
        return;
    }
    if (c->draining) {
        if (now - c->drain_since_us > 2000000)
            cv__rtsp_conn_close(c, "peer did not close after an error answer");
        return;
    }
    int64_t timeout = (int64_t)c->srv->cfg.session_timeout_s * 1000000;
    if (!c->sess) {
        if (now - c->last_activity_us > IDLE_NO_SESSION_US)
            cv__rtsp_conn_close(c, "idle without a session");
        return;
    }
    /* A publisher's media and a TCP viewer's reads both count as life. */
    if (now - c->last_activity_us > timeout) {
        cv__rtsp_conn_close(c, "session timed out");
        return;
    }
    if (c->sess->mode == MODE_PUBLISH && c->sess->active)
        for (size_t i = 0; i < c->sess->ntracks; i++)
            if (c->sess->t[i].reorder)
                cv_rtp_reorder_flush_due(c->sess->t[i].reorder, now, reordered_in, &c->sess->t[i]);
    if (c->doom) {
        cv__rtsp_conn_close(c, c->doom);
        return;
    }
    if (c->sess->mode == MODE_PLAY && c->sess->active && now - c->last_sr_us >= SR_INTERVAL_US) {
        send_sender_reports(c);
        c->last_sr_us = now;
    }
}

static void refused_closed(uv_handle_t *h) { free(h); }

static void on_connection(uv_stream_t *server, int status)
{
    cv_rtsp_server *srv = server->data;
    bool secure = server == (uv_stream_t *)&srv->tls_listener;
    if (status < 0) {
        CV_WARN("accept: %s", uv_strerror(status));
        return;
    }
    if ((int)srv->stats.connections >= srv->cfg.max_connections) {
        /* Accept and close at once, so the backlog does not fill up. */
        uv_tcp_t *t = malloc(sizeof(*t));
        if (!t)
            return;
        uv_tcp_init(srv->loop, t);
        (void)uv_accept(server, (uv_stream_t *)t);
        uv_close((uv_handle_t *)t, refused_closed);
        if (srv->stats.refused_connections++ % 1000 == 0)
            CV_WARN("refusing connections: %d open is the limit (%llu refused so far)", srv->cfg.max_connections,
                    (unsigned long long)srv->stats.refused_connections);
        return;
    }
    conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->srv = srv;
    c->rcap = RBUF_MIN;
    c->rbuf = malloc(c->rcap);
    c->port = secure ? srv->tls_port : srv->port;
    if (secure) {
        c->tls = cv_tls_conn_new(srv->cfg.tls);
        c->tbuf = malloc(TBUF_CAP);
        if (c->tls)
            cv_tls_conn_ignore_alpn(c->tls); /* the context's ALPN list is HTTPS's */
    }
    cv_sbuf_init(&c->out);
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->open_handles = 2;
    srv->open_handles += 2;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->stats.connections++;
    c->last_activity_us = cv_now_us();
    if (!c->rbuf || (secure && (!c->tls || !c->tbuf)) || uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        cv__rtsp_conn_close(c, "accept failed");
        return;
    }
    int len = sizeof(c->peer_addr);
    uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer_addr, &len);
    char ip[48];
    cv_addr_ip(&c->peer_addr, ip, sizeof(ip));
    snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, cv_addr_port(&c->peer_addr));
    snprintf(c->peer_ip, sizeof(c->peer_ip), "%s", ip);
    struct sockaddr_storage local;
    len = sizeof(local);
    uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&local, &len);
    cv_addr_ip(&local, c->local_ip, sizeof(c->local_ip));
    uv_tcp_nodelay(&c->tcp, 1);
    uv_timer_start(&c->timer, cv__rtsp_on_tick, 1000, 1000);
    uv_read_start((uv_stream_t *)&c->tcp, cv__rtsp_on_alloc, cv__rtsp_on_read);
    CV_DEBUG("%p: %s connection from %s", (void *)c, secure ? "RTSPS" : "RTSP", c->peer);
}

static void listener_closed(uv_handle_t *h);

/* Opens one listener (counted in open_handles, closed by close_listeners
 * even when this fails). */
static int listen_on(cv_rtsp_server *srv, uv_tcp_t *h, const struct sockaddr_storage *sa, int port, int *bound)
{
    uv_tcp_init(srv->loop, h);
    h->data = srv;
    srv->open_handles++;
    int rc;
    if ((rc = uv_tcp_bind(h, (const struct sockaddr *)sa, 0)) < 0 ||
        (rc = uv_listen((uv_stream_t *)h, 512, on_connection)) < 0) {
        CV_ERROR("cannot listen on %s:%d: %s", srv->bind_addr, port, uv_strerror(rc));
        return rc;
    }
    struct sockaddr_storage got;
    int len = sizeof(got);
    uv_tcp_getsockname(h, (struct sockaddr *)&got, &len);
    *bound = cv_addr_port(&got);
    return 0;
}

static void close_listeners(cv_rtsp_server *srv)
{
    uv_close((uv_handle_t *)&srv->listener, listener_closed);
    if (srv->tls_listener.data) /* initialised */
        uv_close((uv_handle_t *)&srv->tls_listener, listener_closed);
}

int cv_rtsp_server_start(cv_rtsp_server **out, uv_loop_t *loop, cv_registry *reg, const cv_rtsp_server_config *cfg)
{
    cv_rtsp_server *srv = calloc(1, sizeof(*srv));
    if (!srv)
        return -ENOMEM;
    srv->loop = loop;
    srv->reg = reg;
    srv->cfg = *cfg;
    snprintf(srv->bind_addr, sizeof(srv->bind_addr), "%s", cfg->bind_addr ? cfg->bind_addr : "127.0.0.1");
    srv->cfg.bind_addr = srv->bind_addr;
    if (srv->cfg.session_timeout_s <= 0)
        srv->cfg.session_timeout_s = 60;
    if (srv->cfg.max_connections <= 0)
        srv->cfg.max_connections = 4096;
    struct sockaddr_storage sa;
    int rc = cv_addr_from_ip(srv->bind_addr, cfg->port, &sa);
    if (rc < 0) {
        free(srv);
        return rc;
    }
    struct sockaddr_storage tls_sa;
    if (cfg->tls && (rc = cv_addr_from_ip(srv->bind_addr, cfg->tls_port, &tls_sa)) < 0) {
        free(srv);
        return rc;
    }
    srv->tls_port = -1;
    if ((rc = listen_on(srv, &srv->listener, &sa, cfg->port, &srv->port)) < 0 ||
        (cfg->tls && (rc = listen_on(srv, &srv->tls_listener, &tls_sa, cfg->tls_port, &srv->tls_port)) < 0)) {
        /* srv is freed by the close callbacks on the next loop turn. */
        srv->stopping = true;
        close_listeners(srv);
        *out = NULL;
        return rc;
    }
    *out = srv;
    return 0;
}

int cv_rtsp_server_port(const cv_rtsp_server *s) { return s->port; }
int cv_rtsp_server_tls_port(const cv_rtsp_server *s) { return s->cfg.tls ? s->tls_port : -1; }

static void listener_closed(uv_handle_t *h)
{
    cv_rtsp_server *srv = h->data;
    if (--srv->open_handles == 0) {
        void (*done)(void *) = srv->done;
        void *ctx = srv->done_ctx;
        free(srv);
        if (done)
            done(ctx);
    }
}

void cv_rtsp_server_stop(cv_rtsp_server *srv, void (*done)(void *), void *ctx)
{
    srv->stopping = true;
    srv->done = done;
    srv->done_ctx = ctx;
    while (srv->conns)
        cv__rtsp_conn_close(srv->conns, "server shutting down");
    close_listeners(srv);
}

void cv_rtsp_server_drop_camera(cv_rtsp_server *srv, const cv_id *camera)
{
    conn *c = srv->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (c->sess && cv_id_eq(&c->sess->camera, camera))
            cv__rtsp_conn_close(c, "camera removed");
    }
}

size_t cv_rtsp_server_recheck(cv_rtsp_server *srv)
{
    size_t closed = 0;
    conn *c = srv->conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (c->closing || !c->authed)
            continue;
        if (srv->cfg.still_allowed(srv->cfg.ctx, &c->authed_camera, c->authed_publish, &c->access))
            continue;
        c->authed = false;
        emit(c, CV_RTSP_EV_REVOKED, "access revoked");
        cv__rtsp_conn_close(c, "access revoked");
        closed++;
    }
    return closed;
}

void cv_rtsp_server_get_stats(const cv_rtsp_server *s, cv_rtsp_server_stats *out) { *out = s->stats; }
