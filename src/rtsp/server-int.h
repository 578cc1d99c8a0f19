/* Private to the RTSP server (server.c: protocol, sessions, listeners;
 * server-conn.c: the connection's transport, plain or TLS). Loop thread only. */
#ifndef CV_RTSP_SERVER_INT_H
#define CV_RTSP_SERVER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "base/sbuf.h"
#include "rtp/depack.h"
#include "rtp/reorder.h"
#include "rtsp/msg.h"
#include "rtsp/sdp.h"
#include "rtsp/server.h"
#include "tls/tls.h"

#define RBUF_MAX (CV_RTSP_MAX_HEAD + CV_RTSP_MAX_BODY + 4 + 65535)
#define RBUF_MIN 4096
#define TBUF_CAP (16 * 1024 + 512) /* ciphertext read at once: a whole TLS record */

typedef struct conn conn;

typedef struct {
    bool setup;
    bool supported;          /* publish: codec has a depacketizer */
    bool tcp;
    int ch[2];               /* interleaved RTP/RTCP channels */
    uv_udp_t *udp[2];        /* server RTP/RTCP sockets (UDP) */
    struct sockaddr_storage peer[2];
    int stream_index;        /* index in the stream's track list, or -1 */
    cv_rtp_depack *depack;   /* publish */
    cv_rtp_reorder *reorder; /* publish over UDP: puts datagrams back in order */
    conn *owner;             /* for the reorder callback */
} sess_track;

typedef enum { MODE_NONE, MODE_PUBLISH, MODE_PLAY } sess_mode;

typedef struct {
    char id[17];
    sess_mode mode;
    cv_id camera;
    char camera_hex[CV_ID_HEX_LEN + 1];
    cv_stream *stream;       /* reference */
    cv_sdp *sdp;             /* publish: what the camera announced */
    size_t ntracks;
    sess_track t[CV_SDP_MAX_MEDIA];
    bool announced_session;  /* Session header has been sent */
    bool active;             /* recording or playing */
    cv_sub *sub;             /* play */
} session;

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    cv_rtsp_server *srv;
    conn *prev, *next;
    char peer[64];
    struct sockaddr_storage peer_addr;
    char local_ip[64];
    uint8_t *rbuf;
    size_t rlen, rcap;
    bool closing;
    bool draining;           /* answered an error: discard input until the peer closes */
    const char *doom;        /* close once the current input is handled (never mid-callback) */
    int64_t drain_since_us;
    uv_shutdown_t shutdown;
    int open_handles;
    session *sess;
    uint64_t bad_packets;
    int64_t last_activity_us;
    int64_t last_sr_us;
    cv_sbuf out;
    /* What this connection authenticated for: one camera, one direction. */
    bool violated;           /* a foreign frame reached the last write: closing, write nothing */
    bool authed;
    bool authed_publish;
    cv_id authed_camera;
    cv_rtsp_access access;
    char peer_ip[64];
    int port;                /* the listener's: for URLs we hand back */
    /* RTSPS (NULL: plain RTSP). rbuf then holds decrypted bytes; tbuf takes
     * what the socket gives. */
    cv_tls_conn *tls;
    uint8_t *tbuf;
    bool tls_started;        /* the client sent something */
    bool tls_counted;        /* already in tls_failures */
};

struct cv_rtsp_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_tcp_t tls_listener;   /* when cfg.tls */
    int tls_port;
    cv_registry *reg;
    cv_rtsp_server_config cfg;
    char bind_addr[64];
    int port;
    conn *conns;
    bool stopping;
    int open_handles;
    void (*done)(void *);
    void *done_ctx;
    cv_rtsp_server_stats stats;
};

typedef struct {
    uv_write_t req;
    conn *c;
    cv_frame *f;       /* media write: the frame whose wire is being sent */
    uv_buf_t *bufs;    /* when per-packet headers were needed */
    uint8_t *hdrs;
    char *copy;        /* control write: owned bytes; under TLS: the ciphertext */
} wreq;

/* server-conn.c: the transport. Every byte for the socket goes through
 * cv__rtsp_submit; input arrives in rbuf (decrypted under TLS) and is handed
 * to cv__rtsp_input. */

/* Hands bufs to the socket with w (its frame or owned bytes keep the data
 * alive until the write completes). Plain: uv_write of bufs themselves,
 * zero-copy. TLS: encrypts them now into one owned buffer. Returns 0 or a
 * negative errno; under TLS a failure also dooms the connection (its
 * record stream has a hole), closed from the timer. On failure the caller
 * still owns w and whatever it points to. */
int cv__rtsp_submit(conn *c, wreq *w, const uv_buf_t *bufs, unsigned nbufs);
/* Queues a copy of data (encrypted under TLS). Returns 0 or a negative errno. */
int cv__rtsp_send_bytes(conn *c, const void *data, size_t len);
/* TLS: sends what the engine produced by itself (handshake, alerts). */
int cv__rtsp_tls_flush(conn *c);
/* TLS: counts an abandoned handshake, sends close_notify if it fits at once. */
void cv__rtsp_tls_close(conn *c);
void cv__rtsp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
void cv__rtsp_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
void cv__rtsp_conn_free(conn *c); /* once every handle of c has closed */

/* server.c */
/* New bytes are in rbuf (plain, or decrypted): handles what is complete;
 * a full rbuf that does not parse is answered 413. */
void cv__rtsp_input(conn *c);
void cv__rtsp_conn_close(conn *c, const char *why);      /* at once */
void cv__rtsp_conn_linger(conn *c, const char *why);     /* after an error answer */
void cv__rtsp_on_tick(uv_timer_t *t);                    /* timeouts; closes doomed connections */

#endif
