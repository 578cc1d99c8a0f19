#include "rtsp/msg.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* RFC 7230 tchar; RFC 2326 "token" is the same set minus nothing we care
 * about (it excludes tspecials and CTLs). */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

static bool is_ctl(unsigned char c) { return c < 0x20 || c == 0x7f; }

static bool all_tchars(cv_str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!is_tchar((unsigned char)s.p[i]))
            return false;
    return true;
}

static cv_str str_sub(cv_str s, size_t from, size_t to) { return (cv_str){s.p + from, to - from}; }

/* Index of the first byte at or after i equal to c, or s.len. */
static size_t find_ch(cv_str s, size_t i, char c)
{
    while (i < s.len && s.p[i] != c)
        i++;
    return i;
}

static size_t skip_sp(cv_str s, size_t i)
{
    while (i < s.len && s.p[i] == ' ')
        i++;
    return i;
}

/* "RTSP/1.0" is accepted; any other well-formed "NAME/d.d" is a version we
 * do not speak (505); anything else is not a version at all. */
static int check_version(cv_str v)
{
    if (cv_str_eq(v, CV_STR_LIT("RTSP/1.0")))
        return 0;
    size_t slash = find_ch(v, 0, '/');
    if (slash == v.len || !all_tchars(str_sub(v, 0, slash)))
        return -EBADMSG;
    size_t i = slash + 1, digits = 0, dots = 0;
    for (; i < v.len; i++) {
        if (v.p[i] >= '0' && v.p[i] <= '9') {
            digits++;
        } else if (v.p[i] == '.' && digits > 0 && dots == 0) {
            dots++;
            digits = 0;
        } else {
            return -EBADMSG;
        }
    }
    return dots == 1 && digits > 0 ? -EPROTONOSUPPORT : -EBADMSG;
}

static int parse_status_line(cv_str line, cv_rtsp_msg *msg)
{
    size_t sp = find_ch(line, 0, ' ');
    int res = check_version(str_sub(line, 0, sp));
    if (res < 0)
        return res;
    size_t i = skip_sp(line, sp);
    if (line.len - i < 3)
        return -EBADMSG;
    int status = 0;
    for (size_t k = 0; k < 3; k++) {
        char c = line.p[i + k];
        if (c < '0' || c > '9')
            return -EBADMSG;
        status = status * 10 + (c - '0');
    }
    if (status < 100)
        return -EBADMSG;
    i += 3;
    /* Reason phrase: optional (some cameras omit it). */
    if (i < line.len && line.p[i] != ' ')
        return -EBADMSG;
    cv_str reason = cv_str_trim(str_sub(line, i, line.len));
    msg->is_response = true;
    msg->status = status;
    msg->reason = reason;
    return 0;
}

static int parse_request_line(cv_str line, cv_rtsp_msg *msg)
{
    size_t sp = find_ch(line, 0, ' ');
    cv_str method = str_sub(line, 0, sp);
    if (sp == line.len || !all_tchars(method))
        return -EBADMSG;
    size_t ustart = skip_sp(line, sp);
    size_t uend = ustart;
    while (uend < line.len && line.p[uend] != ' ') {
        unsigned char c = (unsigned char)line.p[uend];
        if (c <= 0x20 || c >= 0x7f)
            return -EBADMSG;
        if (uend - ustart >= CV_RTSP_MAX_URI)
            return -EMSGSIZE;
        uend++;
    }
    if (uend == ustart || uend == line.len)
        return -EBADMSG;
    size_t vstart = skip_sp(line, uend);
    size_t vend = vstart;
    while (vend < line.len && line.p[vend] != ' ' && line.p[vend] != '\t')
        vend++;
    for (size_t k = vend; k < line.len; k++)
        if (line.p[k] != ' ' && line.p[k] != '\t')
            return -EBADMSG;
    int res = check_version(str_sub(line, vstart, vend));
    if (res < 0)
        return res;
    msg->is_response = false;
    msg->method = method;
    msg->uri = str_sub(line, ustart, uend);
    return 0;
}

typedef struct {
    bool has_cl;
    uint64_t cl;
} head_state;

/* line is free of CTLs but HT (checked by the caller). */
static int parse_header_line(cv_str line, cv_rtsp_msg *msg, head_state *st)
{
    /* Obsolete line folding (RFC 7230 3.2.4) is not accepted. */
    if (line.p[0] == ' ' || line.p[0] == '\t')
        return -EBADMSG;
    size_t colon = find_ch(line, 0, ':');
    if (colon == line.len)
        return -EBADMSG;
    /* Tolerate "Name : value" from old cameras; the name itself must be a token. */
    cv_str name = cv_str_trim(str_sub(line, 0, colon));
    if (!all_tchars(name))
        return -EBADMSG;
    cv_str value = cv_str_trim(str_sub(line, colon + 1, line.len));
    if (msg->nheaders >= CV_RTSP_MAX_HEADERS)
        return -EMSGSIZE;
    msg->headers[msg->nheaders].name = name;
    msg->headers[msg->nheaders].value = value;
    msg->nheaders++;

    if (cv_str_ieq_c(name, "Content-Length")) {
        uint64_t cl;
        if (cv_str_to_u64(value, UINT64_MAX, &cl) < 0)
            return -EBADMSG;
        if (st->has_cl && st->cl != cl)
            return -EBADMSG;
        if (cl > CV_RTSP_MAX_BODY)
            return -EMSGSIZE;
        st->has_cl = true;
        st->cl = cl;
    } else if (cv_str_ieq_c(name, "CSeq") && msg->cseq < 0) {
        uint64_t v;
        if (cv_str_to_u64(value, INT_MAX, &v) == 0)
            msg->cseq = (int)v;
    }
    return 0;
}

/* Rejects an incomplete line early when it already cannot become valid, so
 * that binary garbage (a TLS ClientHello, RTP sent to the wrong port) is
 * refused at once instead of after CV_RTSP_MAX_HEAD bytes. */
static int check_partial(const uint8_t *p, size_t n, bool start_line)
{
    if (start_line && n > 0 && p[0] != '\r' && !is_tchar(p[0]))
        return -EBADMSG;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r' && i + 1 == n)
            break;
        if (is_ctl(p[i]) && p[i] != '\t')
            return -EBADMSG;
    }
    return 0;
}

int cv_rtsp_parse(const uint8_t *buf, size_t len, cv_rtsp_msg *msg)
{
    memset(msg, 0, sizeof(*msg));
    msg->cseq = -1;
    if (len == 0)
        return 0;

    /* The message is re-parsed from the start on every call; each complete
     * line is validated as soon as it is seen so garbage is rejected before
     * the head limit is reached. */
    size_t lim = len < CV_RTSP_MAX_HEAD ? len : CV_RTSP_MAX_HEAD;
    size_t pos = 0;
    bool have_start = false;
    head_state st = {0};
    for (;;) {
        const uint8_t *nl = memchr(buf + pos, '\n', lim - pos);
        if (!nl) {
            int res = check_partial(buf + pos, lim - pos, !have_start);
            if (res < 0)
                return res;
            return len > CV_RTSP_MAX_HEAD ? -EMSGSIZE : 0;
        }
        size_t end = (size_t)(nl - buf);
        size_t le = end;
        if (le > pos && buf[le - 1] == '\r')
            le--;
        cv_str line = {(const char *)buf + pos, le - pos};
        pos = end + 1;
        /* A bare CR or other CTL anywhere in a line is refused here, before
         * any trimming could hide it. */
        for (size_t k = 0; k < line.len; k++)
            if (is_ctl((unsigned char)line.p[k]) && line.p[k] != '\t')
                return -EBADMSG;
        int res;
        if (!have_start) {
            /* Robustness (RFC 7826 20.2.2): ignore empty lines before a
             * message, e.g. a stray CRLF after a body. */
            if (line.len == 0)
                continue;
            if (line.len >= 5 && memcmp(line.p, "RTSP/", 5) == 0)
                res = parse_status_line(line, msg);
            else
                res = parse_request_line(line, msg);
            if (res < 0)
                return res;
            have_start = true;
            continue;
        }
        if (line.len == 0)
            break;
        if ((res = parse_header_line(line, msg, &st)) < 0)
            return res;
    }

    size_t total = pos;
    if (st.has_cl) {
        if (__builtin_add_overflow(pos, (size_t)st.cl, &total))
            return -EMSGSIZE;
        if (len < total)
            return 0;
        msg->body = (cv_str){(const char *)buf + pos, (size_t)st.cl};
    } else {
        msg->body = (cv_str){(const char *)buf + pos, 0};
    }
    return (int)total;
}

const cv_str *cv_rtsp_msg_header(const cv_rtsp_msg *msg, const char *name)
{
    for (size_t i = 0; i < msg->nheaders; i++)
        if (cv_str_ieq_c(msg->headers[i].name, name))
            return &msg->headers[i].value;
    return NULL;
}

int cv_rtsp_parse_interleaved(const uint8_t *buf, size_t len, uint8_t *channel, const uint8_t **payload,
                              size_t *payload_len)
{
    if (len == 0)
        return 0;
    if (buf[0] != '$')
        return -EBADMSG;
    if (len < 4)
        return 0;
    size_t n = cv_be16(buf + 2);
    if (len - 4 < n)
        return 0;
    *channel = buf[1];
    *payload = buf + 4;
    *payload_len = n;
    return (int)(4 + n);
}

/* Splits off the next element of a sep-separated list, ignoring separators
 * inside double quotes. Returns false once the list is exhausted. */
static bool split_next(cv_str *rest, char sep, cv_str *item)
{
    if (!rest->p)
        return false;
    bool quoted = false;
    size_t i;
    for (i = 0; i < rest->len; i++) {
        char c = rest->p[i];
        if (c == '"')
            quoted = !quoted;
        else if (c == '\\' && quoted && i + 1 < rest->len)
            i++;
        else if (c == sep && !quoted)
            break;
    }
    *item = (cv_str){rest->p, i};
    if (i < rest->len) {
        rest->p += i + 1;
        rest->len -= i + 1;
    } else {
        rest->p = NULL;
        rest->len = 0;
    }
    return true;
}

static cv_str unquote(cv_str s)
{
    s = cv_str_trim(s);
    if (s.len >= 2 && s.p[0] == '"' && s.p[s.len - 1] == '"')
        s = (cv_str){s.p + 1, s.len - 2};
    return cv_str_trim(s);
}

/* "a" or "a-b", each 0..max. A single value means "a-(a+1)". */
static int parse_pair(cv_str v, uint64_t max, int out[2])
{
    size_t dash = find_ch(v, 0, '-');
    uint64_t a, b;
    if (cv_str_to_u64(cv_str_trim(str_sub(v, 0, dash)), max, &a) < 0)
        return -EBADMSG;
    if (dash == v.len) {
        b = a + 1;
        if (b > max)
            return -EBADMSG;
    } else if (cv_str_to_u64(cv_str_trim(str_sub(v, dash + 1, v.len)), max, &b) < 0) {
        return -EBADMSG;
    }
    out[0] = (int)a;
    out[1] = (int)b;
    return 0;
}

static bool parse_hex32(cv_str s, uint32_t *out)
{
    if (s.len == 0 || s.len > 8)
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

static int parse_transport_spec(cv_str spec, cv_rtsp_transport *out)
{
    cv_str rest = spec, param;
    while (split_next(&rest, ';', &param)) {
        param = cv_str_trim(param);
        size_t eq = find_ch(param, 0, '=');
        cv_str key = cv_str_trim(str_sub(param, 0, eq));
        cv_str val = eq < param.len ? unquote(str_sub(param, eq + 1, param.len)) : (cv_str){param.p, 0};
        int res = 0;
        if (cv_str_ieq_c(key, "unicast")) {
            out->multicast = false;
        } else if (cv_str_ieq_c(key, "multicast")) {
            out->multicast = true;
        } else if (cv_str_ieq_c(key, "interleaved")) {
            res = parse_pair(val, 255, out->interleaved);
        } else if (cv_str_ieq_c(key, "client_port")) {
            res = parse_pair(val, 65535, out->client_port);
        } else if (cv_str_ieq_c(key, "server_port")) {
            res = parse_pair(val, 65535, out->server_port);
        } else if (cv_str_ieq_c(key, "ssrc")) {
            /* Malformed SSRCs are common and harmless: ignore them. */
            out->has_ssrc = parse_hex32(val, &out->ssrc);
        } else if (cv_str_ieq_c(key, "mode")) {
            cv_str modes = val, m;
            while (split_next(&modes, ',', &m)) {
                m = cv_str_trim(m);
                if (cv_str_ieq_c(m, "record") || cv_str_ieq_c(m, "receive"))
                    out->record = true;
            }
        }
        if (res < 0)
            return res;
    }
    return 0;
}

int cv_rtsp_parse_transport(cv_str value, cv_rtsp_transport *out)
{
    cv_str rest = value, spec;
    while (split_next(&rest, ',', &spec)) {
        cv_str params = spec, proto;
        split_next(&params, ';', &proto);
        proto = cv_str_trim(proto);
        bool tcp;
        if (cv_str_ieq_c(proto, "RTP/AVP") || cv_str_ieq_c(proto, "RTP/AVP/UDP"))
            tcp = false;
        else if (cv_str_ieq_c(proto, "RTP/AVP/TCP"))
            tcp = true;
        else
            continue;
        memset(out, 0, sizeof(*out));
        out->tcp = tcp;
        out->interleaved[0] = out->interleaved[1] = -1;
        out->client_port[0] = out->client_port[1] = -1;
        out->server_port[0] = out->server_port[1] = -1;
        if (!params.p)
            return 0;
        return parse_transport_spec(params, out);
    }
    return -EBADMSG;
}

int cv_rtsp_parse_session(cv_str value, cv_str *id, int *timeout)
{
    cv_str rest = value, part;
    if (!split_next(&rest, ';', &part))
        return -EBADMSG;
    cv_str sid = cv_str_trim(part);
    if (sid.len == 0)
        return -EBADMSG;
    for (size_t i = 0; i < sid.len; i++) {
        unsigned char c = (unsigned char)sid.p[i];
        if (c <= 0x20 || c >= 0x7f || c == ',' || c == '"')
            return -EBADMSG;
    }
    int to = -1;
    while (split_next(&rest, ';', &part)) {
        size_t eq = find_ch(part, 0, '=');
        if (!cv_str_ieq_c(cv_str_trim(str_sub(part, 0, eq)), "timeout"))
            continue;
        uint64_t v;
        if (eq == part.len || cv_str_to_u64(unquote(str_sub(part, eq + 1, part.len)), INT_MAX, &v) < 0)
            return -EBADMSG;
        to = (int)v;
    }
    *id = sid;
    *timeout = to;
    return 0;
}

const char *cv_rtsp_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 250: return "Low on Storage Space";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Moved Temporarily";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 451: return "Parameter Not Understood";
    case 452: return "Conference Not Found";
    case 453: return "Not Enough Bandwidth";
    case 454: return "Session Not Found";
    case 455: return "Method Not Valid in This State";
    case 456: return "Header Field Not Valid for Resource";
    case 457: return "Invalid Range";
    case 458: return "Parameter Is Read-Only";
    case 459: return "Aggregate Operation Not Allowed";
    case 460: return "Only Aggregate Operation Allowed";
    case 461: return "Unsupported Transport";
    case 462: return "Destination Unreachable";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "RTSP Version Not Supported";
    case 551: return "Option Not Supported";
    default: break;
    }
    switch (status / 100) {
    case 1: return "Informational";
    case 2: return "Success";
    case 3: return "Redirection";
    case 4: return "Client Error";
    case 5: return "Server Error";
    default: return "Unknown";
    }
}
