#include "rtsp/sdp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

#define SDP_MAX_LEN 65536  /* whole description */
#define SDP_MAX_LINE 8192  /* one line, CRLF excluded */
#define SDP_MAX_FMTP 4096  /* a=fmtp value */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errcap, const char *fmt, ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return -EBADMSG;
}

static cv_str sub(cv_str s, size_t from, size_t to) { return (cv_str){s.p + from, to - from}; }

static size_t find_ch(cv_str s, size_t i, char c)
{
    while (i < s.len && s.p[i] != c)
        i++;
    return i;
}

/* Next space-separated field of s starting at *i (runs of spaces collapse). */
static cv_str next_field(cv_str s, size_t *i)
{
    while (*i < s.len && (s.p[*i] == ' ' || s.p[*i] == '\t'))
        (*i)++;
    size_t start = *i;
    while (*i < s.len && s.p[*i] != ' ' && s.p[*i] != '\t')
        (*i)++;
    return sub(s, start, *i);
}

/* Splits off the next sep-separated element; false once exhausted. */
static bool split_next(cv_str *rest, char sep, cv_str *item)
{
    if (!rest->p)
        return false;
    size_t i = find_ch(*rest, 0, sep);
    *item = sub(*rest, 0, i);
    if (i < rest->len) {
        rest->p += i + 1;
        rest->len -= i + 1;
    } else {
        rest->p = NULL;
        rest->len = 0;
    }
    return true;
}

static bool copy_str(char *dst, size_t cap, cv_str s)
{
    if (s.len >= cap)
        return false;
    if (s.len)
        memcpy(dst, s.p, s.len);
    dst[s.len] = '\0';
    return true;
}

static void copy_trunc(char *dst, size_t cap, cv_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n)
        memcpy(dst, s.p, n);
    dst[n] = '\0';
}

typedef struct {
    uint8_t pt;
    const char *name;
    uint32_t rate;
    uint8_t channels;
    cv_codec codec;
} static_pt;

/* RFC 3551 table 4/5 entries worth naming; only G.711 is decoded. */
static const static_pt static_pts[] = {
    {0, "PCMU", 8000, 1, CV_CODEC_PCMU},   {3, "GSM", 8000, 1, CV_CODEC_UNKNOWN},
    {4, "G723", 8000, 1, CV_CODEC_UNKNOWN}, {8, "PCMA", 8000, 1, CV_CODEC_PCMA},
    {9, "G722", 8000, 1, CV_CODEC_UNKNOWN}, {10, "L16", 44100, 2, CV_CODEC_UNKNOWN},
    {11, "L16", 44100, 1, CV_CODEC_UNKNOWN}, {14, "MPA", 90000, 0, CV_CODEC_UNKNOWN},
    {26, "JPEG", 90000, 0, CV_CODEC_UNKNOWN}, {32, "MPV", 90000, 0, CV_CODEC_UNKNOWN},
    {33, "MP2T", 90000, 0, CV_CODEC_UNKNOWN},
};

typedef struct {
    cv_str fmtp;      /* parameters of a=fmtp for the track's payload type */
    bool has_fmtp;
    bool has_rtpmap;
} track_state;

static int parse_m(cv_str v, cv_sdp *out, track_state *st, int *cur, char *err, size_t errcap)
{
    size_t i = 0;
    cv_str media = next_field(v, &i);
    cv_media_kind kind;
    if (cv_str_eq(media, CV_STR_LIT("video")))
        kind = CV_MEDIA_VIDEO;
    else if (cv_str_eq(media, CV_STR_LIT("audio")))
        kind = CV_MEDIA_AUDIO;
    else {
        *cur = -1; /* application, text, ...: skip the whole section */
        return 0;
    }
    cv_str port = next_field(v, &i);
    cv_str proto = next_field(v, &i);
    cv_str fmt = next_field(v, &i);
    uint64_t n, pt;
    size_t slash = find_ch(port, 0, '/');
    if (cv_str_to_u64(sub(port, 0, slash), 65535, &n) < 0 ||
        (slash < port.len && cv_str_to_u64(sub(port, slash + 1, port.len), 65535, &n) < 0) || proto.len == 0 ||
        cv_str_to_u64(fmt, 127, &pt) < 0)
        return fail(err, errcap, "bad m= line");
    if (out->ntracks >= CV_SDP_MAX_MEDIA)
        return fail(err, errcap, "too many media (max %d)", CV_SDP_MAX_MEDIA);

    size_t idx = out->ntracks++;
    cv_track_info *t = &out->tracks[idx];
    memset(t, 0, sizeof(*t));
    memset(&st[idx], 0, sizeof(st[idx]));
    t->kind = kind;
    t->payload_type = (uint8_t)pt;
    for (size_t k = 0; k < CV_ARRAY_LEN(static_pts); k++) {
        if (static_pts[k].pt != pt)
            continue;
        t->codec = static_pts[k].codec;
        if (t->codec != CV_CODEC_UNKNOWN && cv_codec_is_video(t->codec) != (kind == CV_MEDIA_VIDEO))
            t->codec = CV_CODEC_UNKNOWN; /* e.g. "m=video 0 RTP/AVP 8" */
        t->clock_rate = static_pts[k].rate;
        t->channels = static_pts[k].channels;
        copy_trunc(out->encoding[idx], sizeof(out->encoding[idx]), cv_str_from(static_pts[k].name));
    }
    *cur = (int)idx;
    return 0;
}

/* "<pt> <rest>" as used by rtpmap and fmtp. */
static bool split_pt(cv_str v, uint64_t *pt, cv_str *rest)
{
    size_t i = 0;
    cv_str pts = next_field(v, &i);
    if (cv_str_to_u64(pts, 127, pt) < 0)
        return false;
    *rest = cv_str_trim(sub(v, i, v.len));
    return true;
}

static cv_codec codec_by_name(cv_str enc, cv_media_kind kind)
{
    cv_codec c = CV_CODEC_UNKNOWN;
    if (cv_str_ieq_c(enc, "H264"))
        c = CV_CODEC_H264;
    else if (cv_str_ieq_c(enc, "H265"))
        c = CV_CODEC_H265;
    else if (cv_str_ieq_c(enc, "MPEG4-GENERIC"))
        c = CV_CODEC_AAC;
    else if (cv_str_ieq_c(enc, "OPUS"))
        c = CV_CODEC_OPUS;
    else if (cv_str_ieq_c(enc, "PCMU"))
        c = CV_CODEC_PCMU;
    else if (cv_str_ieq_c(enc, "PCMA"))
        c = CV_CODEC_PCMA;
    /* MP4A-LATM and the rest stay unknown; so does a codec in the wrong kind
     * of section (e.g. mpeg4-generic video). */
    if (c != CV_CODEC_UNKNOWN && cv_codec_is_video(c) != (kind == CV_MEDIA_VIDEO))
        c = CV_CODEC_UNKNOWN;
    return c;
}

static int parse_rtpmap(cv_str v, cv_sdp *out, size_t idx, track_state *st, char *err, size_t errcap)
{
    uint64_t pt;
    cv_str rest;
    if (!split_pt(v, &pt, &rest))
        return fail(err, errcap, "bad rtpmap");
    cv_track_info *t = &out->tracks[idx];
    if (pt != t->payload_type || st->has_rtpmap)
        return 0;
    /* <encoding>/<clock rate>[/<channels>] */
    cv_str enc, rate, chans;
    cv_str parts = rest;
    split_next(&parts, '/', &enc);
    bool has_rate = split_next(&parts, '/', &rate);
    bool has_ch = split_next(&parts, '/', &chans);
    uint64_t r, ch = 0;
    if (enc.len == 0 || !has_rate || cv_str_to_u64(rate, UINT32_MAX, &r) < 0 || r == 0 ||
        (has_ch && (cv_str_to_u64(chans, 255, &ch) < 0 || ch == 0)))
        return fail(err, errcap, "bad rtpmap");
    st->has_rtpmap = true;
    copy_trunc(out->encoding[idx], sizeof(out->encoding[idx]), enc);
    t->codec = codec_by_name(enc, t->kind);
    t->clock_rate = (uint32_t)r;
    if (t->kind == CV_MEDIA_AUDIO)
        t->channels = (uint8_t)(has_ch ? ch : 1);
    else
        t->channels = 0;
    return 0;
}

/* Decodes a base64 parameter set into dst (CV_MAX_PARAM_SET bytes). */
static int decode_ps(cv_str b64, uint8_t *dst, uint16_t *dst_len, const char *what, char *err, size_t errcap)
{
    int n = cv_b64_decode(b64.p, b64.len, dst, CV_MAX_PARAM_SET);
    if (n < 0) {
        if (b64.len / 4 * 3 > CV_MAX_PARAM_SET + 2)
            return fail(err, errcap, "%s: parameter set too large", what);
        return fail(err, errcap, "%s: bad base64", what);
    }
    *dst_len = (uint16_t)n;
    return 0;
}

static int apply_h264(cv_track_info *t, cv_str key, cv_str val, char *err, size_t errcap)
{
    if (cv_str_ieq_c(key, "packetization-mode")) {
        uint64_t m;
        if (cv_str_to_u64(val, 2, &m) < 0)
            return fail(err, errcap, "bad packetization-mode");
        t->packetization_mode = (int)m;
    } else if (cv_str_ieq_c(key, "sprop-parameter-sets")) {
        cv_str rest = val, item;
        while (split_next(&rest, ',', &item)) {
            item = cv_str_trim(item);
            if (item.len == 0)
                continue;
            uint8_t ps[CV_MAX_PARAM_SET];
            uint16_t n = 0;
            int res = decode_ps(item, ps, &n, "sprop-parameter-sets", err, errcap);
            if (res < 0)
                return res;
            if (n == 0)
                continue;
            unsigned type = ps[0] & 0x1f;
            if (type == 7 && t->sps_len == 0) {
                memcpy(t->sps, ps, n);
                t->sps_len = n;
            } else if (type == 8 && t->pps_len == 0) {
                memcpy(t->pps, ps, n);
                t->pps_len = n;
            }
        }
    }
    return 0;
}

static int apply_h265(cv_track_info *t, cv_str key, cv_str val, char *err, size_t errcap)
{
    uint8_t *dst;
    uint16_t *dst_len;
    const char *what;
    if (cv_str_ieq_c(key, "sprop-vps")) {
        dst = t->vps, dst_len = &t->vps_len, what = "sprop-vps";
    } else if (cv_str_ieq_c(key, "sprop-sps")) {
        dst = t->sps, dst_len = &t->sps_len, what = "sprop-sps";
    } else if (cv_str_ieq_c(key, "sprop-pps")) {
        dst = t->pps, dst_len = &t->pps_len, what = "sprop-pps";
    } else {
        return 0;
    }
    /* A list is allowed; keep the first non-empty set. */
    cv_str rest = val, item;
    while (split_next(&rest, ',', &item)) {
        item = cv_str_trim(item);
        if (item.len == 0)
            continue;
        if (*dst_len) {
            /* Still validate the others so garbage is not silently accepted. */
            uint8_t tmp[CV_MAX_PARAM_SET];
            uint16_t n;
            int res = decode_ps(item, tmp, &n, what, err, errcap);
            if (res < 0)
                return res;
            continue;
        }
        int res = decode_ps(item, dst, dst_len, what, err, errcap);
        if (res < 0)
            return res;
    }
    return 0;
}

static int parse_u8(cv_str v, uint64_t max, uint8_t *out)
{
    uint64_t n;
    if (cv_str_to_u64(v, max, &n) < 0)
        return -1;
    *out = (uint8_t)n;
    return 0;
}

static int apply_aac(cv_track_info *t, cv_str key, cv_str val, bool *bad_mode, char *err, size_t errcap)
{
    if (cv_str_ieq_c(key, "config")) {
        int n = cv_hex_decode(val.p, val.len, t->aac_config, sizeof(t->aac_config));
        if (n < 0)
            return fail(err, errcap, "bad AAC config hex");
        t->aac_config_len = (uint8_t)n;
    } else if (cv_str_ieq_c(key, "sizelength")) {
        if (parse_u8(val, 32, &t->aac_sizelength) < 0)
            return fail(err, errcap, "bad sizelength");
    } else if (cv_str_ieq_c(key, "indexlength")) {
        if (parse_u8(val, 32, &t->aac_indexlength) < 0)
            return fail(err, errcap, "bad indexlength");
    } else if (cv_str_ieq_c(key, "indexdeltalength")) {
        if (parse_u8(val, 32, &t->aac_indexdeltalength) < 0)
            return fail(err, errcap, "bad indexdeltalength");
    } else if (cv_str_ieq_c(key, "mode")) {
        if (!cv_str_ieq_c(val, "AAC-hbr") && !cv_str_ieq_c(val, "AAC-lbr"))
            *bad_mode = true;
    }
    return 0;
}

static int apply_fmtp(cv_track_info *t, cv_str fmtp, char *err, size_t errcap)
{
    bool bad_mode = false;
    cv_str rest = fmtp, param;
    while (split_next(&rest, ';', &param)) {
        param = cv_str_trim(param);
        size_t eq = find_ch(param, 0, '=');
        if (eq == param.len)
            continue;
        cv_str key = cv_str_trim(sub(param, 0, eq));
        cv_str val = cv_str_trim(sub(param, eq + 1, param.len));
        int res = 0;
        switch (t->codec) {
        case CV_CODEC_H264: res = apply_h264(t, key, val, err, errcap); break;
        case CV_CODEC_H265: res = apply_h265(t, key, val, err, errcap); break;
        case CV_CODEC_AAC: res = apply_aac(t, key, val, &bad_mode, err, errcap); break;
        default: break;
        }
        if (res < 0)
            return res;
    }
    /* Interleaved H.264 (mode 2) and non-AAC RFC 3640 modes (CELP, ...) are
     * not something the depacketizers understand. */
    if ((t->codec == CV_CODEC_H264 && t->packetization_mode == 2) || (t->codec == CV_CODEC_AAC && bad_mode))
        t->codec = CV_CODEC_UNKNOWN;
    return 0;
}

static int parse_attr(cv_str v, cv_sdp *out, track_state *st, int cur, char *err, size_t errcap)
{
    size_t colon = find_ch(v, 0, ':');
    cv_str name = sub(v, 0, colon);
    cv_str val = colon < v.len ? cv_str_trim(sub(v, colon + 1, v.len)) : (cv_str){v.p, 0};

    if (cv_str_eq(name, CV_STR_LIT("control"))) {
        char *dst = cur < 0 ? out->session_control : out->tracks[cur].control;
        size_t cap = cur < 0 ? sizeof(out->session_control) : sizeof(out->tracks[cur].control);
        if (!copy_str(dst, cap, val))
            return fail(err, errcap, "a=control too long");
        return 0;
    }
    if (cur < 0)
        return 0;
    if (cv_str_eq(name, CV_STR_LIT("rtpmap")))
        return parse_rtpmap(val, out, (size_t)cur, &st[cur], err, errcap);
    if (cv_str_eq(name, CV_STR_LIT("fmtp"))) {
        uint64_t pt;
        cv_str params;
        if (!split_pt(val, &pt, &params))
            return fail(err, errcap, "bad fmtp");
        if (params.len > SDP_MAX_FMTP)
            return fail(err, errcap, "fmtp too long");
        if (pt == out->tracks[cur].payload_type && !st[cur].has_fmtp && params.len) {
            st[cur].fmtp = params;
            st[cur].has_fmtp = true;
        }
    }
    return 0;
}

int cv_sdp_parse(const char *sdp, size_t len, cv_sdp *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof(*out));
    if (err && errcap)
        err[0] = '\0';
    if (len > SDP_MAX_LEN)
        return fail(err, errcap, "SDP too large");

    track_state st[CV_SDP_MAX_MEDIA];
    memset(st, 0, sizeof(st));
    /* -2: session level, -1: a media section we skip, >= 0: track index */
    int cur = -2;
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(sdp + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - sdp) : len;
        size_t le = end;
        if (le > pos && sdp[le - 1] == '\r')
            le--;
        cv_str line = {sdp + pos, le - pos};
        pos = end + 1;
        if (line.len > SDP_MAX_LINE)
            return fail(err, errcap, "line too long");
        /* Robustness: blank or malformed lines and unknown types are skipped. */
        if (line.len < 2 || line.p[1] != '=')
            continue;
        cv_str v = sub(line, 2, line.len);
        int res = 0;
        if (line.p[0] == 'm') {
            res = parse_m(v, out, st, &cur, err, errcap);
        } else if (line.p[0] == 'a') {
            if (cur == -2)
                res = parse_attr(v, out, st, -1, err, errcap);
            else if (cur >= 0)
                res = parse_attr(v, out, st, cur, err, errcap);
        }
        if (res < 0)
            return res;
    }
    if (out->ntracks == 0)
        return fail(err, errcap, "no audio or video m= section");

    for (size_t i = 0; i < out->ntracks; i++) {
        if (!st[i].has_fmtp)
            continue;
        int res = apply_fmtp(&out->tracks[i], st[i].fmtp, err, errcap);
        if (res < 0)
            return res;
    }
    return 0;
}

/* One rule for the SDP and the packetizer: see cv_track_out_pt. */
uint8_t cv_sdp_out_pt(const cv_track_info *t, size_t i) { return cv_track_out_pt(t, i); }

/* Appends s without control characters or spaces (it lands inside an SDP
 * line), or fallback when nothing is left. */
static void put_clean(cv_sbuf *out, const char *s, const char *fallback, bool allow_space)
{
    size_t start = out->len;
    for (const char *p = s ? s : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || (c == ' ' && !allow_space))
            continue;
        cv_sbuf_append(out, p, 1);
    }
    if (out->len == start)
        cv_sbuf_puts(out, fallback);
}

static void put_b64(cv_sbuf *out, const uint8_t *data, size_t len)
{
    char tmp[(CV_MAX_PARAM_SET + 2) / 3 * 4 + 1];
    if (len > CV_MAX_PARAM_SET)
        len = CV_MAX_PARAM_SET;
    if (cv_b64_encode(data, len, tmp, sizeof(tmp)) >= 0)
        cv_sbuf_puts(out, tmp);
}

/* Sampling frequency from an AudioSpecificConfig (ISO 14496-3 1.6.2.1),
 * for AAC tracks whose clock rate is unknown. */
static uint32_t aac_rate(const cv_track_info *t)
{
    static const uint32_t rates[] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                     22050, 16000, 12000, 11025, 8000,  7350};
    if (t->clock_rate)
        return t->clock_rate;
    if (t->aac_config_len >= 2) {
        unsigned idx = (unsigned)((t->aac_config[0] & 0x07) << 1 | t->aac_config[1] >> 7);
        if (idx < CV_ARRAY_LEN(rates))
            return rates[idx];
    }
    return 44100;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void build_track(cv_sbuf *out, const cv_track_info *t, size_t i)
{
    uint8_t pt = cv_sdp_out_pt(t, i);
    switch (t->codec) {
    case CV_CODEC_H264:
        cv_sbuf_printf(out, "m=video 0 RTP/AVP %u\r\na=rtpmap:%u H264/90000\r\n", pt, pt);
        cv_sbuf_printf(out, "a=fmtp:%u packetization-mode=1", pt);
        if (t->sps_len >= 4)
            cv_sbuf_printf(out, ";profile-level-id=%02X%02X%02X", t->sps[1], t->sps[2], t->sps[3]);
        if (t->sps_len || t->pps_len) {
            cv_sbuf_puts(out, ";sprop-parameter-sets=");
            if (t->sps_len)
                put_b64(out, t->sps, t->sps_len);
            if (t->sps_len && t->pps_len)
                cv_sbuf_puts(out, ",");
            if (t->pps_len)
                put_b64(out, t->pps, t->pps_len);
        }
        cv_sbuf_puts(out, "\r\n");
        break;
    case CV_CODEC_H265: {
        cv_sbuf_printf(out, "m=video 0 RTP/AVP %u\r\na=rtpmap:%u H265/90000\r\n", pt, pt);
        const struct {
            const char *name;
            const uint8_t *data;
            uint16_t len;
        } ps[] = {{"sprop-vps", t->vps, t->vps_len}, {"sprop-sps", t->sps, t->sps_len},
                  {"sprop-pps", t->pps, t->pps_len}};
        bool first = true;
        for (size_t k = 0; k < CV_ARRAY_LEN(ps); k++) {
            if (!ps[k].len)
                continue;
            if (first)
                cv_sbuf_printf(out, "a=fmtp:%u ", pt);
            else
                cv_sbuf_puts(out, ";");
            cv_sbuf_printf(out, "%s=", ps[k].name);
            put_b64(out, ps[k].data, ps[k].len);
            first = false;
        }
        if (!first)
            cv_sbuf_puts(out, "\r\n");
        break;
    }
    case CV_CODEC_AAC:
        cv_sbuf_printf(out, "m=audio 0 RTP/AVP %u\r\na=rtpmap:%u mpeg4-generic/%" PRIu32 "/%u\r\n", pt, pt,
                       aac_rate(t), t->channels ? t->channels : 1);
        cv_sbuf_printf(out,
                       "a=fmtp:%u streamtype=5;profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;"
                       "indexdeltalength=3",
                       pt);
        if (t->aac_config_len) {
            char hex[sizeof(t->aac_config) * 2 + 1];
            size_t n = t->aac_config_len <= sizeof(t->aac_config) ? t->aac_config_len : sizeof(t->aac_config);
            if (cv_hex_encode(t->aac_config, n, hex, sizeof(hex)) >= 0)
                cv_sbuf_printf(out, ";config=%s", hex);
        }
        cv_sbuf_puts(out, "\r\n");
        break;
    case CV_CODEC_OPUS:
        cv_sbuf_printf(out, "m=audio 0 RTP/AVP %u\r\na=rtpmap:%u opus/48000/2\r\n", pt, pt);
        break;
    case CV_CODEC_PCMU:
    case CV_CODEC_PCMA:
        cv_sbuf_printf(out, "m=audio 0 RTP/AVP %u\r\na=rtpmap:%u %s/%" PRIu32, pt, pt,
                       t->codec == CV_CODEC_PCMU ? "PCMU" : "PCMA", t->clock_rate ? t->clock_rate : 8000);
        if (t->channels > 1)
            cv_sbuf_printf(out, "/%u", t->channels);
        cv_sbuf_puts(out, "\r\n");
        break;
    case CV_CODEC_UNKNOWN:
        return;
    }
    cv_sbuf_printf(out, "a=control:trackID=%zu\r\n", i);
}

void cv_sdp_build(cv_sbuf *out, const cv_track_info *tracks, size_t n, const char *addr,
                  const char *session_name)
{
    /* A stable session id derived from the content: it changes exactly when
     * what a viewer must know changes. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        const cv_track_info *t = &tracks[i];
        h = fnv1a(h, &t->codec, sizeof(t->codec));
        h = fnv1a(h, &t->clock_rate, sizeof(t->clock_rate));
        h = fnv1a(h, &t->channels, sizeof(t->channels));
        h = fnv1a(h, t->vps, CV_MIN(t->vps_len, sizeof(t->vps)));
        h = fnv1a(h, t->sps, CV_MIN(t->sps_len, sizeof(t->sps)));
        h = fnv1a(h, t->pps, CV_MIN(t->pps_len, sizeof(t->pps)));
        h = fnv1a(h, t->aac_config, CV_MIN(t->aac_config_len, sizeof(t->aac_config)));
    }
    bool have_addr = addr && *addr;
    const char *ipv = have_addr && strchr(addr, ':') ? "IP6" : "IP4";
    const char *fallback = ipv[2] == '6' ? "::" : "0.0.0.0";

    cv_sbuf_printf(out, "v=0\r\no=- %" PRIu64 " 1 IN %s ", h >> 1, ipv);
    put_clean(out, have_addr ? addr : NULL, fallback, false);
    cv_sbuf_puts(out, "\r\ns=");
    put_clean(out, session_name, "camvault", true);
    cv_sbuf_printf(out, "\r\nc=IN %s ", ipv);
    put_clean(out, have_addr ? addr : NULL, fallback, false);
    cv_sbuf_puts(out, "\r\nt=0 0\r\na=control:*\r\n");
    for (size_t i = 0; i < n; i++)
        build_track(out, &tracks[i], i);
}
