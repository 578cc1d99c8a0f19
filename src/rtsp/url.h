/* rtsp:// and rtsps:// URLs, with optional percent-encoded credentials. */
#ifndef CV_RTSP_URL_H
#define CV_RTSP_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    bool tls;           /* rtsps */
    char host[256];     /* without IPv6 brackets */
    uint16_t port;      /* 554 (322 for rtsps) when absent */
    bool has_user;
    char user[128];     /* percent-decoded */
    char pass[128];     /* percent-decoded */
    char path[1024];    /* from the first '/' after the authority, with query; "/" when empty */
} cv_url;

/* Returns 0, or -EINVAL for another scheme, a missing host, a bad port,
 * bad percent-encoding or a component that does not fit. */
int cv_url_parse(const char *url, cv_url *out);

/* Writes the URL without credentials ("rtsp://host:port/path") for requests
 * and logs. Returns 0, or -1 if cap is too small. */
int cv_url_format_public(const cv_url *u, char *out, size_t cap);

#endif
