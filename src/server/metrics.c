#include "server/metrics.h"

static void head(cv_sbuf *b, const char *name, const char *type, const char *help)
{
    cv_sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(cv_sbuf *b, const char *name, const char *type, const char *help, unsigned long long v)
{
    head(b, name, type, help);
    cv_sbuf_printf(b, "%s %llu\n", name, v);
}

void cv_metrics_render(const cv_metrics *m, cv_sbuf *b)
{
    static const char *const proto[] = {"hls", "mp4", "mjpeg", "snapshot"};
    one(b, "camvault_streams", "gauge", "Camera streams known to the relay.", m->streams);
    one(b, "camvault_streams_online", "gauge", "Camera streams with a live source.", m->online);
    one(b, "camvault_frames_in_total", "counter", "Frames received from cameras.", m->frames_in);
    one(b, "camvault_bytes_in_total", "counter", "Media bytes received from cameras.", m->bytes_in);
    one(b, "camvault_publishers", "gauge", "Cameras pushing over RTSP.", m->rtsp.publishers);

    head(b, "camvault_viewers", "gauge", "Open views by protocol (HLS: live sessions; snapshot: pending).");
    cv_sbuf_printf(b, "camvault_viewers{protocol=\"rtsp\"} %u\n", m->rtsp.viewers);
    for (int i = 0; i < 4; i++)
        cv_sbuf_printf(b, "camvault_viewers{protocol=\"%s\"} %u\n", proto[i], m->watch.live[i]);

    head(b, "camvault_bytes_out_total", "counter", "Media bytes handed to viewers by protocol.");
    cv_sbuf_printf(b, "camvault_bytes_out_total{protocol=\"rtsp\"} %llu\n", (unsigned long long)m->rtsp.bytes_out);
    for (int i = 0; i < 4; i++)
        cv_sbuf_printf(b, "camvault_bytes_out_total{protocol=\"%s\"} %llu\n", proto[i],
                       (unsigned long long)m->watch.bytes_out[i]);

    head(b, "camvault_http_media_requests_total", "counter", "HTTP media requests by protocol.");
    for (int i = 0; i < 4; i++)
        cv_sbuf_printf(b, "camvault_http_media_requests_total{protocol=\"%s\"} %llu\n", proto[i],
                       (unsigned long long)m->watch.requests[i]);

    head(b, "camvault_queue_drops_total", "counter", "Frames, chunks or pictures skipped for slow viewers.");
    cv_sbuf_printf(b, "camvault_queue_drops_total{protocol=\"rtsp\"} %llu\n", (unsigned long long)m->viewer_drops);
    cv_sbuf_printf(b, "camvault_queue_drops_total{protocol=\"http\"} %llu\n",
                   (unsigned long long)m->watch.queue_drops);

    head(b, "camvault_auth_failures_total", "counter", "Refused credentials by kind.");
    cv_sbuf_printf(b, "camvault_auth_failures_total{kind=\"token\"} %llu\n",
                   (unsigned long long)m->access.tokens_refused);
    cv_sbuf_printf(b, "camvault_auth_failures_total{kind=\"digest\"} %llu\n",
                   (unsigned long long)m->access.digest_refused);
    cv_sbuf_printf(b, "camvault_auth_failures_total{kind=\"http_media\"} %llu\n",
                   (unsigned long long)m->watch.refused);
    one(b, "camvault_partner_streams_refused_total", "counter",
        "Partner stream tokens refused: link gone, kill switch on, or the user lost access.", m->access.link_refused);
    one(b, "camvault_auth_throttled_total", "counter", "Attempts refused because the address or account is locked out.",
        m->access.throttled);
    one(b, "camvault_revoked_views_total", "counter", "Live views ended because access was revoked.",
        m->access.revoked_sessions + m->watch.revoked);

    head(b, "camvault_isolation_violations_total", "counter",
         "Data of one camera stopped on its way to a viewer of another (must stay 0).");
    cv_sbuf_printf(b, "camvault_isolation_violations_total{where=\"rtsp_last_write\"} %llu\n",
                   (unsigned long long)m->rtsp.isolation_violations);
    cv_sbuf_printf(b, "camvault_isolation_violations_total{where=\"http_last_write\"} %llu\n",
                   (unsigned long long)m->watch.isolation_violations);
    cv_sbuf_printf(b, "camvault_isolation_violations_total{where=\"stream_door\"} %llu\n",
                   (unsigned long long)m->foreign_frames);

    head(b, "camvault_connections", "gauge", "Open connections by listener.");
    cv_sbuf_printf(b, "camvault_connections{listener=\"rtsp\"} %u\n", m->rtsp.connections);
    cv_sbuf_printf(b, "camvault_connections{listener=\"http\"} %u\n", m->http.connections);
    cv_sbuf_printf(b, "camvault_connections{listener=\"https\"} %u\n", m->https.connections);
    head(b, "camvault_http_requests_total", "counter", "HTTP requests by listener.");
    cv_sbuf_printf(b, "camvault_http_requests_total{listener=\"http\"} %llu\n", (unsigned long long)m->http.requests);
    cv_sbuf_printf(b, "camvault_http_requests_total{listener=\"https\"} %llu\n",
                   (unsigned long long)m->https.requests);
    one(b, "camvault_http_bad_requests_total", "counter", "Malformed or oversized HTTP requests.",
        m->http.bad_requests + m->https.bad_requests);
    one(b, "camvault_http_timeouts_total", "counter", "HTTP requests or idle connections timed out (slow clients).",
        m->http.timeouts + m->https.timeouts);
    one(b, "camvault_tls_handshake_failures_total", "counter", "Failed TLS handshakes (HTTPS and RTSPS).",
        m->https.tls_failures + m->rtsp.tls_failures);
    one(b, "camvault_rtsp_bad_requests_total", "counter", "Malformed RTSP requests.", m->rtsp.bad_requests);
    one(b, "camvault_refused_connections_total", "counter", "Connections refused over the connection cap.",
        m->rtsp.refused_connections + m->http.refused_connections + m->https.refused_connections);
}
