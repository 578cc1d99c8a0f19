#include "rtsp/url.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s into dst (NUL-terminated). Rejects bad escapes, %00 and
 * decoded control characters, which would let a credential smuggle bytes into
 * a header. */
static int pct_decode(cv_str s, char *dst, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c == '%') {
            if (s.len - i < 3)
                return -EINVAL;
            int hi = hexval(s.p[i + 1]), lo = hexval(s.p[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return -EINVAL;
        if (n + 1 >= cap)
            return -EINVAL;
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    return 0;
}

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int copy_host(cv_str h, char *dst, size_t cap, bool ipv6)
{
    if (h.len == 0)
        return -EINVAL;
    bool colon = false, zone = false;
    size_t n = 0;
    for (size_t i = 0; i < h.len; i++) {
        unsigned char c = (unsigned char)h.p[i];
        if (ipv6 && !zone && c == '%') {
            /* RFC 6874 zone id: "%25" in the URL, a plain '%' for the resolver. */
            if (h.len - i < 3 || h.p[i + 1] != '2' || h.p[i + 2] != '5' || h.len - i == 3)
                return -EINVAL;
            zone = true;
            i += 2;
        } else if (ipv6 && !zone && c == ':') {
            colon = true;
        } else if (!is_alnum(c) && c != '-' && c != '.' && c != '_' && c != '~') {
            return -EINVAL;
        } else if (ipv6 && !zone && !(is_alnum(c) && hexval((char)c) >= 0) && c != '.') {
            return -EINVAL;
        }
        if (n + 1 >= cap)
            return -EINVAL;
        dst[n++] = (char)c;
    }
    if (ipv6 && !colon)
        return -EINVAL;
    dst[n] = '\0';
    return 0;
}

int cv_url_parse(const char *url, cv_url *out)
{
    memset(out, 0, sizeof(*out));
    if (!url)
        return -EINVAL;
    size_t len = strlen(url);
    const char *p = url;
    if (len >= 7 && strncasecmp(p, "rtsp://", 7) == 0) {
        out->tls = false;
        p += 7;
    } else if (len >= 8 && strncasecmp(p, "rtsps://", 8) == 0) {
        out->tls = true;
        p += 8;
    } else {
        return -EINVAL;
    }
    const char *end = url + len;
    for (const char *q = p; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20 || c == 0x7f)
            return -EINVAL;
    }

    /* authority = [userinfo "@"] host [":" port], up to the first '/', '?'
     * or '#'. Userinfo ends at the last '@' so that a password with a raw
     * '@' (common in camera configs) still works. */
    const char *auth_end = p;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?' && *auth_end != '#')
        auth_end++;
    const char *host = p;
    for (const char *q = p; q < auth_end; q++)
        if (*q == '@')
            host = q + 1;
    int res;
    if (host != p) {
        cv_str ui = {p, (size_t)(host - 1 - p)};
        const char *colon = memchr(ui.p, ':', ui.len);
        cv_str user = colon ? (cv_str){ui.p, (size_t)(colon - ui.p)} : ui;
        cv_str pass = colon ? (cv_str){colon + 1, (size_t)(ui.p + ui.len - colon - 1)} : (cv_str){ui.p, 0};
        if ((res = pct_decode(user, out->user, sizeof(out->user))) < 0 ||
            (res = pct_decode(pass, out->pass, sizeof(out->pass))) < 0)
            return res;
        out->has_user = true;
    }

    const char *port = NULL;
    if (host < auth_end && *host == '[') {
        const char *rb = memchr(host, ']', (size_t)(auth_end - host));
        if (!rb)
            return -EINVAL;
        if ((res = copy_host((cv_str){host + 1, (size_t)(rb - host - 1)}, out->host, sizeof(out->host), true)) < 0)
            return res;
        if (rb + 1 < auth_end) {
            if (rb[1] != ':')
                return -EINVAL;
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(host, ':', (size_t)(auth_end - host));
        const char *hend = colon ? colon : auth_end;
        if ((res = copy_host((cv_str){host, (size_t)(hend - host)}, out->host, sizeof(out->host), false)) < 0)
            return res;
        if (colon)
            port = colon + 1;
    }
    out->port = out->tls ? 322 : 554;
    if (port && port < auth_end) {
        uint64_t v;
        if (cv_str_to_u64((cv_str){port, (size_t)(auth_end - port)}, 65535, &v) < 0 || v == 0)
            return -EINVAL;
        out->port = (uint16_t)v;
    }

    /* The path is sent as-is in request lines: no decoding, no spaces, and
     * the fragment is never part of it. */
    const char *pend = memchr(auth_end, '#', (size_t)(end - auth_end));
    if (!pend)
        pend = end;
    size_t plen = (size_t)(pend - auth_end);
    for (size_t i = 0; i < plen; i++)
        if (auth_end[i] == ' ')
            return -EINVAL;
    size_t need = plen + (plen == 0 || auth_end[0] != '/') + 1;
    if (need > sizeof(out->path))
        return -EINVAL;
    size_t n = 0;
    if (plen == 0 || auth_end[0] != '/')
        out->path[n++] = '/';
    memcpy(out->path + n, auth_end, plen);
    out->path[n + plen] = '\0';
    return 0;
}

int cv_url_format_public(const cv_url *u, char *out, size_t cap)
{
    bool v6 = strchr(u->host, ':') != NULL;
    const char *zone = v6 ? strchr(u->host, '%') : NULL;
    int hlen = zone ? (int)(zone - u->host) : (int)strnlen(u->host, sizeof(u->host));
    int n = snprintf(out, cap, "%s://%s%.*s%s%s%s:%u%s", u->tls ? "rtsps" : "rtsp", v6 ? "[" : "", hlen, u->host,
                     zone ? "%25" : "", zone ? zone + 1 : "", v6 ? "]" : "", (unsigned)u->port,
                     u->path[0] ? u->path : "/");
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return 0;
}
