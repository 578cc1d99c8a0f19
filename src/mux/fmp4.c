/* Fragmented MP4 through libavformat's mov muxer writing into memory.
 *
 * The muxer runs with frag_custom, so nothing reaches our AVIOContext
 * between flushes: avformat_write_header gives ftyp + moov (empty_moov) and
 * each av_write_frame(NULL) gives exactly one moof + mdat. The timeline
 * logic (rebasing after source jumps) is ours; movenc only ever sees strictly
 * increasing dts starting where we want each track to start. */
#define CV_LOG_MODULE "fmp4"
#include "mux/fmp4.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mathematics.h>

#include "base/log.h"
#include "base/util.h"
#include "media/nal.h"
#include "media/sps.h"

#define IO_BUF_SIZE 32768
#define MAX_PTS (INT64_C(1) << 52)   /* larger |pts| is refused: keeps rescaling exact */
#define JUMP_FWD_S 5                 /* a forward step larger than this is a discontinuity */

typedef struct {
    int idx;            /* stream track index; -1 when not carried */
    AVStream *st;
    AVRational src_tb;  /* 1/clock_rate of the frames' pts */
    AVRational tb;      /* st->time_base once the header is written */
    int64_t def_dur;    /* first interval guess, in tb */
    bool started;
    bool fresh;         /* no sample since the last flush (movenc moves its dts) */
    bool self_rebased;  /* audio: rebased on its own since the last video frame */
    int64_t off;        /* out = rescale(pts) + off, in tb */
    int64_t last_raw;   /* the last frame's rescaled pts + off */
    int64_t last_out, last_dur, end; /* end = last_out + last_dur */
    int64_t last_recv_us;
    int64_t chunk_start; /* first out of the chunk in progress */
    unsigned chunk_n;    /* samples in the chunk in progress */
} trk;

struct cv_fmp4 {
    AVFormatContext *ctx;
    AVIOContext *pb;
    AVPacket *pkt;
    trk v, a;
    uint8_t *out;       /* what the AVIOContext wrote since the last take */
    size_t out_len, out_cap;
    uint8_t *init;
    size_t init_len;
    uint8_t *vbuf;      /* Annex-B conversion buffer, reused */
    size_t vbuf_cap;
    cv_track_info vinfo; /* parameter sets of the init, to drop in-band copies */
    int width, height;
    char codecs[96];
};

/* ---- output capture ---- */

static int io_write(void *opaque, uint8_t *buf, int size)
{
    cv_fmp4 *m = opaque;
    if (size <= 0)
        return size;
    if (m->out_cap - m->out_len < (size_t)size) {
        size_t cap = m->out_cap ? m->out_cap : 65536;
        while (cap - m->out_len < (size_t)size) {
            if (__builtin_mul_overflow(cap, 2, &cap))
                return AVERROR(ENOMEM);
        }
        uint8_t *p = realloc(m->out, cap);
        if (!p)
            return AVERROR(ENOMEM);
        m->out = p;
        m->out_cap = cap;
    }
    memcpy(m->out + m->out_len, buf, (size_t)size);
    m->out_len += (size_t)size;
    return size;
}

/* ---- setup ---- */

static AVRational clock_tb(uint32_t rate, int def)
{
    return (AVRational){1, rate && rate <= 10000000 ? (int)rate : def};
}

static int set_extradata(AVCodecParameters *par, const uint8_t *data, size_t len)
{
    par->extradata = av_mallocz(len + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!par->extradata)
        return -ENOMEM;
    memcpy(par->extradata, data, len);
    par->extradata_size = (int)len;
    return 0;
}

static size_t put_annexb(uint8_t *p, const uint8_t *nal, size_t len)
{
    static const uint8_t sc[4] = {0, 0, 0, 1};
    memcpy(p, sc, 4);
    memcpy(p + 4, nal, len);
    return 4 + len;
}

static int add_video(cv_fmp4 *m, const cv_track_info *t)
{
    /* Annex-B extradata (and Annex-B packets, see to_annexb): movenc then
     * builds avcC / hvcC itself with its own parser, which for hvcC gets
     * the profile/tier/level, chroma format and array completeness right. */
    uint8_t ed[3 * (4 + CV_MAX_PARAM_SET)];
    size_t n = 0;
    if (t->codec == CV_CODEC_H265)
        n += put_annexb(ed + n, t->vps, t->vps_len);
    n += put_annexb(ed + n, t->sps, t->sps_len);
    n += put_annexb(ed + n, t->pps, t->pps_len);
    AVCodecParameters *par = m->v.st->codecpar;
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    if (t->codec == CV_CODEC_H264) {
        par->codec_id = AV_CODEC_ID_H264;
        if (!cv_sps_h264_size(t->sps, t->sps_len, &m->width, &m->height))
            m->width = m->height = 0;
        cv_sps_h264_codecs(t->sps, t->sps_len, m->codecs, sizeof(m->codecs));
    } else {
        par->codec_id = AV_CODEC_ID_HEVC;
        /* hvc1 (parameter sets only in the sample entry) is what Safari and
         * hls.js accept; movenc's default for HEVC is hev1. */
        par->codec_tag = MKTAG('h', 'v', 'c', '1');
        if (!cv_sps_h265_parse(t->sps, t->sps_len, &m->width, &m->height, m->codecs, sizeof(m->codecs))) {
            m->width = m->height = 0;
            snprintf(m->codecs, sizeof(m->codecs), "hvc1");
        }
    }
    par->width = m->width;
    par->height = m->height;
    m->vinfo = *t;
    m->v.src_tb = clock_tb(t->clock_rate, 90000);
    m->v.st->time_base = (AVRational){1, 90000};
    return set_extradata(par, ed, n);
}

static const int aac_rates[13] = {96000, 88200, 64000, 48000, 44100, 32000, 24000,
                                  22050, 16000, 12000, 11025, 8000, 7350};

/* AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1): object type, core sample
 * rate and channel configuration. */
static bool aac_asc(const cv_track_info *t, unsigned *aot, int *rate, unsigned *chans)
{
    cv_sps_bits r;
    if (t->aac_config_len > sizeof(t->aac_config))
        return false;
    cv_sps_bits_init(&r, t->aac_config, t->aac_config_len, 0);
    *aot = cv_sps_u(&r, 5);
    if (*aot == 31)
        *aot = 32 + cv_sps_u(&r, 6);
    unsigned fi = cv_sps_u(&r, 4);
    *rate = fi == 15 ? (int)cv_sps_u(&r, 24) : fi < 13 ? aac_rates[fi] : 0;
    *chans = cv_sps_u(&r, 4);
    return !r.bad && *aot > 0 && *rate > 0 && *rate <= 1000000;
}

static bool audio_ok(const cv_track_info *t)
{
    unsigned aot, chans;
    int rate;
    if (t->codec == CV_CODEC_OPUS)
        return t->channels <= 2; /* more needs a mapping table we do not have */
    return t->codec == CV_CODEC_AAC && aac_asc(t, &aot, &rate, &chans);
}

static int add_audio(cv_fmp4 *m, const cv_track_info *t, char *codecs, size_t cap)
{
    AVCodecParameters *par = m->a.st->codecpar;
    int channels = t->channels ? t->channels : 1, rate = 48000, res;
    par->codec_type = AVMEDIA_TYPE_AUDIO;
    if (t->codec == CV_CODEC_AAC) {
        unsigned aot, cc;
        (void)aac_asc(t, &aot, &rate, &cc); /* checked by audio_ok */
        if (!t->channels && cc >= 1 && cc <= 7)
            channels = cc == 7 ? 8 : (int)cc;
        par->codec_id = AV_CODEC_ID_AAC;
        par->frame_size = 1024;
        snprintf(codecs, cap, "mp4a.40.%u", aot);
        res = set_extradata(par, t->aac_config, t->aac_config_len);
    } else {
        /* OpusHead (RFC 7845 5.1), mapping family 0. Pre-skip 0: we join a
         * live stream, not the encoder's start. */
        uint8_t head[19] = {'O', 'p', 'u', 's', 'H', 'e', 'a', 'd', 1, (uint8_t)channels, 0, 0,
                            0x80, 0xbb, 0, 0, 0, 0, 0};
        par->codec_id = AV_CODEC_ID_OPUS;
        par->frame_size = 960;
        snprintf(codecs, cap, "opus");
        res = set_extradata(par, head, sizeof(head));
    }
    par->sample_rate = rate;
    av_channel_layout_default(&par->ch_layout, channels);
    m->a.src_tb = clock_tb(t->clock_rate, rate);
    m->a.st->time_base = (AVRational){1, rate};
    return res;
}

int cv_fmp4_new(cv_fmp4 **out, const cv_track_info *tracks, size_t n)
{
    int res = -ENOMEM;
    AVDictionary *opts = NULL;
    char acodecs[32] = "";
    cv_fmp4 *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->v.idx = m->a.idx = -1;
    for (size_t i = 0; i < n && i < 256; i++) {
        const cv_track_info *t = &tracks[i];
        if (m->v.idx < 0 && (t->codec == CV_CODEC_H264 || t->codec == CV_CODEC_H265))
            m->v.idx = (int)i;
        else if (m->a.idx < 0 && audio_ok(t))
            m->a.idx = (int)i;
    }
    const cv_track_info *vt = m->v.idx >= 0 ? &tracks[m->v.idx] : NULL;
    if (!vt && m->a.idx < 0) {
        res = -ENOTSUP;
        goto err;
    }
    if (vt && (!vt->sps_len || !vt->pps_len || (vt->codec == CV_CODEC_H265 && !vt->vps_len) ||
               vt->sps_len > CV_MAX_PARAM_SET || vt->pps_len > CV_MAX_PARAM_SET ||
               vt->vps_len > CV_MAX_PARAM_SET)) {
        res = -EAGAIN;
        goto err;
    }
    if (avformat_alloc_output_context2(&m->ctx, NULL, "mp4", NULL) < 0 || !m->ctx)
        goto err;
    uint8_t *iobuf = av_malloc(IO_BUF_SIZE);
    if (!iobuf)
        goto err;
    m->pb = avio_alloc_context(iobuf, IO_BUF_SIZE, 1, m, NULL, io_write, NULL);
    if (!m->pb) {
        av_free(iobuf);
        goto err;
    }
    m->ctx->pb = m->pb;
    m->ctx->flags |= AVFMT_FLAG_CUSTOM_IO;
    /* Our dts start where we want each track to start and never go
     * negative; letting lavf/movenc shift them would pin every track's
     * first sample to 0 and put late-starting audio out of step. */
    m->ctx->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
    if (!(m->pkt = av_packet_alloc()))
        goto err;
    if (vt) {
        if (!(m->v.st = avformat_new_stream(m->ctx, NULL)) || (res = add_video(m, vt)) < 0)
            goto err;
    }
    if (m->a.idx >= 0) {
        res = -ENOMEM;
        if (!(m->a.st = avformat_new_stream(m->ctx, NULL)) ||
            (res = add_audio(m, &tracks[m->a.idx], acodecs, sizeof(acodecs))) < 0)
            goto err;
    }
    /* frag_custom: fragments only on av_write_frame(NULL). empty_moov: the
     * header is a complete init segment. default_base_moof (+ omit_tfhd_
     * offset): data offsets relative to each moof, so chunks stand alone.
     * cmaf: the cmfc brand and explicit sample description index in tfhd;
     * skip_sidx keeps chunks to moof + mdat. skip_trailer: we never write
     * the mfra, and without it movenc keeps an index entry per fragment for
     * ever. frag_discont: each track's first tfdt is its first dts (not
     * forced to 0), so audio that starts after the video keeps its place.
     * use_editlist=0: no elst. Opus needs no strict=experimental in 5.1. */
    res = -ENOMEM;
    if (av_dict_set(&opts, "movflags",
                    "frag_custom+empty_moov+default_base_moof+omit_tfhd_offset+cmaf+skip_sidx+skip_trailer"
                    "+frag_discont",
                    0) < 0 ||
        av_dict_set(&opts, "use_editlist", "0", 0) < 0)
        goto err;
    res = avformat_write_header(m->ctx, &opts);
    if (res >= 0)
        avio_flush(m->pb);
    if (res < 0 || m->pb->error < 0 || av_dict_count(opts) > 0 || !m->out_len) {
        CV_WARN("%p: cannot write the MP4 header: %s", (void *)m,
                res < 0 ? av_err2str(res) : "unused options or no output");
        res = res == AVERROR(ENOMEM) ? -ENOMEM : -EIO;
        goto err;
    }
    av_dict_free(&opts);
    m->init = m->out;
    m->init_len = m->out_len;
    m->out = NULL;
    m->out_len = m->out_cap = 0;
    for (int i = 0; i < 2; i++) {
        trk *t = i == 0 ? &m->v : &m->a;
        if (!t->st)
            continue;
        t->tb = t->st->time_base;
        t->def_dur = t == &m->v ? av_rescale_q(3600, (AVRational){1, 90000}, t->tb)
                                : av_rescale_q(t->st->codecpar->frame_size,
                                               (AVRational){1, t->st->codecpar->sample_rate}, t->tb);
        if (t->def_dur < 1)
            t->def_dur = 1;
    }
    if (!vt)
        snprintf(m->codecs, sizeof(m->codecs), "%s", acodecs);
    else if (acodecs[0])
        snprintf(m->codecs + strlen(m->codecs), sizeof(m->codecs) - strlen(m->codecs), ",%s", acodecs);
    *out = m;
    return 0;
err:
    av_dict_free(&opts);
    cv_fmp4_free(m);
    return res;
}

void cv_fmp4_free(cv_fmp4 *m)
{
    if (!m)
        return;
    /* Without av_write_trailer (we want no mfra), freeing the context still
     * runs movenc's deinit. */
    avformat_free_context(m->ctx);
    if (m->pb) {
        av_freep(&m->pb->buffer);
        avio_context_free(&m->pb);
    }
    av_packet_free(&m->pkt);
    free(m->out);
    free(m->init);
    free(m->vbuf);
    free(m);
}

const uint8_t *cv_fmp4_init(const cv_fmp4 *m, size_t *len)
{
    *len = m->init_len;
    return m->init;
}

const char *cv_fmp4_codecs(const cv_fmp4 *m) { return m->codecs; }

bool cv_fmp4_resolution(const cv_fmp4 *m, int *width, int *height)
{
    if (m->width <= 0 || m->height <= 0)
        return false;
    *width = m->width;
    *height = m->height;
    return true;
}

bool cv_fmp4_carries(const cv_fmp4 *m, size_t track)
{
    return (m->v.idx >= 0 && (size_t)m->v.idx == track) || (m->a.idx >= 0 && (size_t)m->a.idx == track);
}

/* ---- frames ---- */

static bool same_param(const cv_track_info *t, int kind, const uint8_t *nal, size_t len)
{
    const uint8_t *p = kind == 1 ? t->vps : kind == 2 ? t->sps : t->pps;
    size_t n = kind == 1 ? t->vps_len : kind == 2 ? t->sps_len : t->pps_len;
    return n == len && memcmp(p, nal, len) == 0;
}

/* Length-prefixed NALs to Annex-B in m->vbuf. movenc, given Annex-B
 * extradata, parses packets as Annex-B and writes them length-prefixed
 * again; swapping each 4-byte length for a 4-byte start code keeps sizes.
 * In-band parameter sets equal to the init's are dropped (hvc1 wants them
 * only in the sample entry); changed ones are kept. */
static int to_annexb(cv_fmp4 *m, const uint8_t *p, size_t len, size_t *out_len)
{
    size_t need;
    if (__builtin_add_overflow(len, (size_t)AV_INPUT_BUFFER_PADDING_SIZE, &need))
        return -EINVAL;
    if (m->vbuf_cap < need) {
        uint8_t *b = realloc(m->vbuf, need);
        if (!b)
            return -ENOMEM;
        m->vbuf = b;
        m->vbuf_cap = need;
    }
    cv_nal_iter it;
    const uint8_t *nal;
    size_t nl, n = 0;
    cv_nal_iter_init(&it, p, len);
    while (cv_nal_next(&it, &nal, &nl)) {
        int kind = cv_nal_param_kind(m->vinfo.codec, nal, nl);
        if (kind && same_param(&m->vinfo, kind, nal, nl))
            continue;
        n += put_annexb(m->vbuf + n, nal, nl);
    }
    if (it.p != it.end)
        return -EINVAL;
    memset(m->vbuf + n, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    *out_len = n;
    return 0;
}

/* Where a frame goes on its track's output timeline, in t->tb. */
typedef struct {
    int64_t raw;   /* rescaled pts + offset, before nudging */
    int64_t out;   /* its dts = pts */
    int64_t dur;   /* interval since the previous frame: its duration estimate */
    int64_t off;   /* the track's offset from now on */
    int64_t shift; /* off - old offset on a discontinuity, else 0 */
} spot;

static int place(cv_fmp4 *m, trk *t, const cv_frame *f, spot *p)
{
    int64_t src = av_rescale_q(f->meta.pts, t->src_tb, t->tb);
    int64_t five = av_rescale_q(JUMP_FWD_S, (AVRational){1, 1}, t->tb);
    if (src == INT64_MIN || src > MAX_PTS * 4 || src < -MAX_PTS * 4)
        return -EINVAL;
    p->shift = 0;
    if (!t->started) {
        /* Audio that starts after the video: place it by arrival time
         * relative to the latest video frame (RTP tracks have unrelated
         * timestamp bases, so pts cannot tell). */
        int64_t us = 0;
        if (t == &m->a && m->v.started) {
            int64_t d = f->meta.recv_us - m->v.last_recv_us;
            d = CV_MAX(CV_MIN(d, JUMP_FWD_S * INT64_C(1000000)), -JUMP_FWD_S * INT64_C(1000000));
            us = CV_MAX(av_rescale_q(m->v.last_out, m->v.tb, AV_TIME_BASE_Q) + d, 0);
        }
        p->raw = p->out = av_rescale_q(us, AV_TIME_BASE_Q, t->tb);
        p->off = p->out - src;
        p->dur = t->def_dur;
        return 0;
    }
    /* The earliest allowed dts: after a flush, movenc has already ended the
     * previous sample at t->end (and would move this one there). */
    int64_t lo = t->fresh ? t->end : t->last_out + 1;
    p->off = t->off;
    if (__builtin_add_overflow(src, t->off, &p->raw) || p->raw - t->last_raw > five || lo - p->raw > t->last_dur) {
        /* A new source timeline: follow the previous frame by the last
         * normal interval. */
        p->raw = t->end;
        p->off = t->end - src;
        if (__builtin_sub_overflow(p->off, t->off, &p->shift))
            p->shift = 0;
        p->dur = t->last_dur;
    } else {
        /* The interval comes from the source times, not from the nudged
         * output, so jitter or a frame rate change cannot build up a lag. */
        p->dur = p->raw > t->last_raw ? p->raw - t->last_raw : t->last_dur;
    }
    /* Jitter or a repeated pts: nudge to the earliest allowed time. */
    p->out = CV_MAX(p->raw, lo);
    return 0;
}

int cv_fmp4_write(cv_fmp4 *m, const cv_frame *f)
{
    if (!m || !f || !f->payload)
        return -EINVAL;
    trk *t = m->v.idx >= 0 && f->meta.track == m->v.idx   ? &m->v
             : m->a.idx >= 0 && f->meta.track == m->a.idx ? &m->a
                                                          : NULL;
    if (!t)
        return 0;
    const uint8_t *data = cv_frame_data(f);
    size_t len = cv_frame_len(f);
    int res;
    if (len == 0 || len > (size_t)INT32_MAX - 2 * AV_INPUT_BUFFER_PADDING_SIZE ||
        f->meta.pts > MAX_PTS || f->meta.pts < -MAX_PTS)
        return -EINVAL;
    if (!t->started) {
        /* The file must start decodable: at a video keyframe, and with no
         * audio ahead of the video. */
        if (t == &m->v && !(f->meta.flags & CV_FRAME_KEY))
            return -EAGAIN;
        if (t == &m->a && m->v.st && !m->v.started)
            return -EAGAIN;
    }
    if (t == &m->v) {
        if ((res = to_annexb(m, data, len, &len)) < 0)
            return res;
        if (len == 0)
            return 0; /* only parameter sets the init already has */
        data = m->vbuf;
    }
    spot p;
    if ((res = place(m, t, f, &p)) < 0)
        return res;

    AVPacket *pkt = m->pkt;
    av_packet_unref(pkt);
    pkt->data = (uint8_t *)data; /* not refcounted: lavf copies into its fragment buffer */
    pkt->size = (int)len;
    pkt->stream_index = t->st->index;
    pkt->pts = pkt->dts = p.out;
    pkt->duration = p.dur;
    pkt->pos = -1;
    pkt->flags = (t == &m->a || (f->meta.flags & CV_FRAME_KEY)) ? AV_PKT_FLAG_KEY : 0;
    res = av_write_frame(m->ctx, pkt);
    av_packet_unref(pkt);
    if (res < 0) {
        CV_DEBUG("%p: track %u frame dropped: %s", (void *)m, f->meta.track, av_err2str(res));
        return res == AVERROR(ENOMEM) ? -ENOMEM : -EIO;
    }

    if (t->chunk_n++ == 0)
        t->chunk_start = t->started ? t->end : p.out; /* movenc's first dts of a fragment */
    if (p.shift && t == &m->v && m->a.started && !m->a.self_rebased) {
        /* Same source jump in wall time for the audio, which has not seen it
         * yet: its next frames then stay continuous without a rebase. */
        int64_t s = av_rescale_q(av_rescale_q(p.shift, t->tb, AV_TIME_BASE_Q), AV_TIME_BASE_Q, m->a.tb);
        int64_t o;
        if (!__builtin_add_overflow(m->a.off, s, &o))
            m->a.off = o;
    }
    if (t == &m->v)
        m->a.self_rebased = false;
    else if (p.shift)
        t->self_rebased = true;
    t->off = p.off;
    t->last_raw = p.raw;
    t->last_dur = p.dur;
    t->last_out = p.out;
    t->end = p.out + p.dur;
    t->last_recv_us = f->meta.recv_us;
    t->started = true;
    t->fresh = false;
    return 0;
}

cv_payload *cv_fmp4_flush(cv_fmp4 *m, int64_t *start_us, int64_t *dur_us)
{
    if (!m->v.chunk_n && !m->a.chunk_n)
        return NULL;
    /* Times on the video's timeline when there is a video track: a chunk
     * without video then starts where the video ends and lasts 0. */
    trk *ref = m->v.st ? &m->v : &m->a;
    int64_t s = av_rescale_q(ref->chunk_n ? ref->chunk_start : ref->end, ref->tb, AV_TIME_BASE_Q);
    int64_t e = av_rescale_q(ref->end, ref->tb, AV_TIME_BASE_Q);
    m->out_len = 0;
    int res = av_write_frame(m->ctx, NULL);
    if (res >= 0)
        avio_flush(m->pb);
    m->v.chunk_n = m->a.chunk_n = 0;
    m->v.fresh = m->a.fresh = true;
    if (res < 0 || m->pb->error < 0 || m->out_len == 0) {
        CV_WARN("%p: fragment flush failed: %s", (void *)m, res < 0 ? av_err2str(res) : "no output");
        m->out_len = 0;
        return NULL;
    }
    cv_payload *p = cv_payload_copy(m->out, m->out_len);
    m->out_len = 0;
    if (p && start_us)
        *start_us = s;
    if (p && dur_us)
        *dur_us = e - s;
    return p;
}
