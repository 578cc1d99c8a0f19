/* The pool side of pictures: length-prefixed access units to Annex-B,
 * libavcodec decoding, libswscale scaling to full-range YUV 4:2:0 and
 * libavcodec's MJPEG encoder. Runs on libuv's thread pool only; each
 * decoder is used by one job at a time (pic.c serialises a camera's jobs). */
#define CV_LOG_MODULE "pic"
#include "pic/pic_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libswscale/swscale.h>

#include "base/log.h"
#include "base/util.h"
#include "media/nal.h"
#include "pic/pic.h"

#define OUT_SLOTS 4                 /* output sizes kept ready per decoder */
#define AU_MAX (64u << 20)          /* refuse absurd access units */

typedef struct {
    int w, h;                       /* output size; 0 when the slot is empty */
    int sw, sh, sfmt, srange;       /* the source the scaler was built for */
    int quality;
    struct SwsContext *sws;
    AVCodecContext *enc;
    AVFrame *dst;
} out_slot;

struct cv__pic_dec {
    cv_codec codec;
    AVCodecContext *ctx;
    AVPacket *pkt;
    AVFrame *pic;                   /* the newest decoded picture (when have_pic) */
    AVFrame *tmp;
    bool have_pic;
    int64_t pic_pts;
    uint8_t *buf;                   /* Annex-B scratch, with decoder padding */
    size_t cap;
    out_slot out[OUT_SLOTS];
    unsigned next_slot;
    int64_t enc_pts;
};

static void slot_clear(out_slot *s)
{
    sws_freeContext(s->sws);
    avcodec_free_context(&s->enc);
    av_frame_free(&s->dst);
    memset(s, 0, sizeof(*s));
}

void cv__pic_dec_free(cv__pic_dec *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < OUT_SLOTS; i++)
        slot_clear(&d->out[i]);
    avcodec_free_context(&d->ctx);
    av_packet_free(&d->pkt);
    av_frame_free(&d->pic);
    av_frame_free(&d->tmp);
    free(d->buf);
    free(d);
}

static cv__pic_dec *dec_new(cv_codec codec, int *err)
{
    enum AVCodecID id = codec == CV_CODEC_H264 ? AV_CODEC_ID_H264 : codec == CV_CODEC_H265 ? AV_CODEC_ID_HEVC
                                                                                           : AV_CODEC_ID_NONE;
    const AVCodec *c = id != AV_CODEC_ID_NONE ? avcodec_find_decoder(id) : NULL;
    if (!c) {
        *err = -ENOTSUP;
        return NULL;
    }
    *err = -ENOMEM;
    cv__pic_dec *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->codec = codec;
    d->ctx = avcodec_alloc_context3(c);
    d->pkt = av_packet_alloc();
    d->pic = av_frame_alloc();
    d->tmp = av_frame_alloc();
    if (!d->ctx || !d->pkt || !d->pic || !d->tmp)
        goto err;
    /* One thread: the pool already runs one job per camera in parallel, and
     * frame threading would add a frame of delay per thread. */
    d->ctx->thread_count = 1;
    if (avcodec_open2(d->ctx, c, NULL) < 0) {
        *err = -EIO;
        goto err;
    }
    return d;
err:
    cv__pic_dec_free(d);
    return NULL;
}

static bool put_nal(uint8_t *buf, size_t *o, const uint8_t *nal, size_t len)
{
    if (!len)
        return false;
    static const uint8_t sc[4] = {0, 0, 0, 1};
    memcpy(buf + *o, sc, 4);
    memcpy(buf + *o + 4, nal, len);
    *o += 4 + len;
    return true;
}

/* Rewrites f's length-prefixed NAL units as Annex-B in d->buf, with the
 * track's parameter sets first on keyframes (cameras that send them only
 * out of band, in the SDP). Returns the length, or -EIO when the lengths do
 * not add up to the payload (corrupt input: refused before the decoder). */
static int to_annexb(cv__pic_dec *d, const cv_track_info *info, const cv_frame *f)
{
    bool key = f->meta.flags & CV_FRAME_KEY;
    size_t len = cv_frame_len(f);
    size_t params = key ? 12u + info->vps_len + info->sps_len + info->pps_len : 0;
    if (len > AU_MAX)
        return -EIO;
    /* Length prefixes become start codes of the same size. */
    size_t need = len + params + AV_INPUT_BUFFER_PADDING_SIZE;
    if (need > d->cap) {
        uint8_t *b = realloc(d->buf, need);
        if (!b)
            return -ENOMEM;
        d->buf = b;
        d->cap = need;
    }
    size_t o = 0;
    if (key) {
        if (info->codec == CV_CODEC_H265)
            put_nal(d->buf, &o, info->vps, info->vps_len);
        put_nal(d->buf, &o, info->sps, info->sps_len);
        put_nal(d->buf, &o, info->pps, info->pps_len);
    }
    cv_nal_iter it;
    const uint8_t *nal;
    size_t n, count = 0;
    cv_nal_iter_init(&it, cv_frame_data(f), len);
    while (cv_nal_next(&it, &nal, &n)) {
        put_nal(d->buf, &o, nal, n);
        count++;
    }
    if (it.p != it.end || !count)
        return -EIO;
    memset(d->buf + o, 0, AV_INPUT_BUFFER_PADDING_SIZE);
    return (int)o;
}

/* Takes every picture the decoder has ready. A snapshot refuses pictures
 * the decoder flagged as damaged (a concealed grey frame is not a picture of
 * the camera); MJPEG shows them, as a player would. */
static void receive(cv__pic_dec *d, cv__pic_job *job)
{
    while (avcodec_receive_frame(d->ctx, d->tmp) == 0) {
        bool damaged = d->tmp->decode_error_flags || (d->tmp->flags & AV_FRAME_FLAG_CORRUPT);
        if (job->snapshot && damaged) {
            job->errors++;
            av_frame_unref(d->tmp);
            continue;
        }
        av_frame_unref(d->pic);
        av_frame_move_ref(d->pic, d->tmp);
        d->have_pic = true;
        d->pic_pts = d->pic->pts;
        job->decoded++;
    }
}

/* Decodes one frame; false when the decoder refused it. */
static bool decode(cv__pic_dec *d, cv__pic_job *job, const cv_frame *f)
{
    int len = to_annexb(d, &job->info, f);
    if (len < 0) {
        job->errors++;
        return false;
    }
    av_packet_unref(d->pkt);
    d->pkt->data = d->buf;
    d->pkt->size = len;
    d->pkt->pts = f->meta.pts;
    d->pkt->flags = (f->meta.flags & CV_FRAME_KEY) ? AV_PKT_FLAG_KEY : 0;
    int rc = avcodec_send_packet(d->ctx, d->pkt);
    d->pkt->data = NULL; /* not refcounted: the decoder copied what it keeps */
    d->pkt->size = 0;
    if (rc < 0) {
        job->errors++;
        return false;
    }
    receive(d, job);
    return true;
}

void cv__pic_out_size(int src_w, int src_h, int want_w, int *w, int *h)
{
    if (src_w <= 0 || src_h <= 0) { /* no picture: no size */
        *w = *h = 0;
        return;
    }
    int ow = want_w <= 0 || want_w > src_w ? src_w : want_w;
    ow = CV_MIN(ow, CV_PIC_MAX_WIDTH) & ~1;
    ow = CV_MAX(ow, 2);
    /* Nearest even height for the same aspect ratio. */
    int oh = (int)(((int64_t)src_h * ow + src_w) / (2 * (int64_t)src_w)) * 2;
    *w = ow;
    *h = CV_MAX(oh, 2);
}

/* Deprecated full-range formats name their range; libswscale wants the plain
 * format plus an explicit range. */
static int plain_fmt(int fmt, int *range)
{
    switch (fmt) {
    case AV_PIX_FMT_YUVJ420P:
        *range = 1;
        return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P:
        *range = 1;
        return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P:
        *range = 1;
        return AV_PIX_FMT_YUV444P;
    default:
        return fmt;
    }
}

/* The scaler and encoder for (picture, w, h), reusing a slot when it matches. */
static out_slot *slot_for(cv__pic_dec *d, const AVFrame *pic, int w, int h, int quality)
{
    int range = pic->color_range == AVCOL_RANGE_JPEG;
    int fmt = plain_fmt(pic->format, &range);
    for (size_t i = 0; i < OUT_SLOTS; i++) {
        out_slot *s = &d->out[i];
        if (s->w == w && s->h == h && s->sw == pic->width && s->sh == pic->height && s->sfmt == fmt &&
            s->srange == range && s->quality == quality)
            return s;
    }
    out_slot *s = &d->out[d->next_slot++ % OUT_SLOTS];
    slot_clear(s);
    const AVCodec *mj = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    if (!mj)
        return NULL;
    s->sws = sws_getContext(pic->width, pic->height, fmt, w, h, AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
    s->enc = avcodec_alloc_context3(mj);
    s->dst = av_frame_alloc();
    if (!s->sws || !s->enc || !s->dst)
        goto err;
    const int *coef = sws_getCoefficients(SWS_CS_DEFAULT);
    sws_setColorspaceDetails(s->sws, coef, range, coef, 1, 0, 1 << 16, 1 << 16);
    s->enc->width = w;
    s->enc->height = h;
    s->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    s->enc->color_range = AVCOL_RANGE_JPEG; /* JPEG is full range */
    s->enc->time_base = (AVRational){1, 25};
    s->enc->flags |= AV_CODEC_FLAG_QSCALE;
    s->enc->global_quality = quality * FF_QP2LAMBDA;
    s->enc->thread_count = 1;
    if (avcodec_open2(s->enc, mj, NULL) < 0)
        goto err;
    s->dst->format = AV_PIX_FMT_YUV420P;
    s->dst->width = w;
    s->dst->height = h;
    s->dst->color_range = AVCOL_RANGE_JPEG;
    if (av_frame_get_buffer(s->dst, 0) < 0)
        goto err;
    s->w = w;
    s->h = h;
    s->sw = pic->width;
    s->sh = pic->height;
    s->sfmt = fmt;
    s->srange = range;
    s->quality = quality;
    return s;
err:
    slot_clear(s);
    return NULL;
}

/* The frame whose picture this is: the one with its pts in the batch, else
 * the newest (the decoder's delay can return a picture of an earlier batch;
 * every frame of a decoder comes from the same camera). */
static const cv_frame *source_of(const cv__pic_job *job, int64_t pts)
{
    for (size_t i = job->nframes; i-- > 0;)
        if (job->frames[i]->meta.pts == pts)
            return job->frames[i];
    return job->frames[job->nframes - 1];
}

static cv_frame *encode(cv__pic_dec *d, cv__pic_job *job, int w, int h)
{
    out_slot *s = slot_for(d, d->pic, w, h, job->quality);
    if (!s || av_frame_make_writable(s->dst) < 0)
        return NULL;
    sws_scale(s->sws, (const uint8_t *const *)d->pic->data, d->pic->linesize, 0, d->pic->height, s->dst->data,
              s->dst->linesize);
    s->dst->quality = s->enc->global_quality;
    s->dst->pts = d->enc_pts++;
    cv_frame *out = NULL;
    AVPacket *pkt = d->pkt;
    av_packet_unref(pkt);
    if (avcodec_send_frame(s->enc, s->dst) < 0 || avcodec_receive_packet(s->enc, pkt) < 0)
        goto done;
    const cv_frame *src = source_of(job, d->pic_pts);
    cv_frame_meta m = src->meta;
    m.flags = CV_FRAME_KEY;
    m.pts = d->pic_pts != AV_NOPTS_VALUE ? d->pic_pts : src->meta.pts;
    out = cv_frame_new(&m, cv_payload_copy(pkt->data, (size_t)pkt->size));
    job->encoded += out != NULL;
done:
    av_packet_unref(pkt);
    return out;
}

void cv__pic_run(cv__pic_job *job)
{
    cv__pic_dec *d = *job->dec;
    if (d && d->codec != job->info.codec) {
        cv__pic_dec_free(d);
        d = *job->dec = NULL;
    }
    if (!d && !(d = *job->dec = dec_new(job->info.codec, &job->status)))
        return;
    job->status = 0;
    bool fresh = false; /* a picture decoded by this job */
    if (job->snapshot && job->reuse && d->have_pic) {
        fresh = true;
    } else if (job->snapshot) {
        /* A clean decoder, the keyframe, then drain so a decoder with
         * reordering delay gives its picture now; flush again so the
         * decoder accepts packets after the drain. */
        avcodec_flush_buffers(d->ctx);
        d->have_pic = false;
        uint64_t before = job->decoded;
        if (decode(d, job, job->frames[0]) && avcodec_send_packet(d->ctx, NULL) == 0)
            receive(d, job);
        avcodec_flush_buffers(d->ctx);
        fresh = job->decoded > before;
        if (!fresh)
            job->status = -EIO;
    } else {
        uint64_t before = job->decoded;
        for (size_t i = 0; i < job->nframes; i++)
            decode(d, job, job->frames[i]); /* a refused frame is skipped: the next keyframe heals */
        fresh = job->decoded > before;
    }
    if (!fresh || !d->pic->width || !d->pic->height)
        return;
    job->src_w = d->pic->width;
    job->src_h = d->pic->height;
    for (size_t i = 0; i < job->nwidths; i++) {
        int w, h;
        cv__pic_out_size(d->pic->width, d->pic->height, job->widths[i], &w, &h);
        for (size_t k = 0; k < i && !job->jpeg[i]; k++) { /* two widths, one output size */
            int wk, hk;
            cv__pic_out_size(d->pic->width, d->pic->height, job->widths[k], &wk, &hk);
            if (wk == w && job->jpeg[k])
                job->jpeg[i] = cv_frame_ref(job->jpeg[k]);
        }
        if (!job->jpeg[i])
            job->jpeg[i] = encode(d, job, w, h);
    }
}
