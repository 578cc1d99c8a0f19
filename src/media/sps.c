/* H.264 / H.265 SPS parsing: the few fields before the VUI that give the
 * picture size, plus the H.265 profile_tier_level for the codecs string. */
#include "media/sps.h"

#include <stdio.h>
#include <string.h>

#define MAX_DIM 16384

void cv_sps_bits_init(cv_sps_bits *r, const uint8_t *data, size_t len, size_t skip)
{
    size_t n = 0, zeros = 0;
    for (size_t i = skip; i < len && n < sizeof(r->b); i++) {
        if (zeros >= 2 && data[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = data[i] == 0 ? zeros + 1 : 0;
        r->b[n++] = data[i];
    }
    r->nbits = n * 8;
    r->pos = 0;
    r->bad = skip > len;
}

uint32_t cv_sps_u(cv_sps_bits *r, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n && i < 32; i++) {
        if (r->pos >= r->nbits) {
            r->bad = true;
            return 0;
        }
        v = v << 1 | ((r->b[r->pos >> 3] >> (7 - (r->pos & 7))) & 1u);
        r->pos++;
    }
    return v;
}

uint32_t cv_sps_ue(cv_sps_bits *r)
{
    unsigned zeros = 0;
    while (!r->bad && cv_sps_u(r, 1) == 0) {
        if (++zeros > 31) {
            r->bad = true;
            return 0;
        }
    }
    if (r->bad)
        return 0;
    return (uint32_t)(((uint64_t)1 << zeros) - 1 + cv_sps_u(r, zeros));
}

int32_t cv_sps_se(cv_sps_bits *r)
{
    uint32_t k = cv_sps_ue(r);
    return (k & 1) ? (int32_t)((k + 1) / 2) : -(int32_t)(k / 2);
}

static bool size_ok(int64_t w, int64_t h, int *width, int *height)
{
    if (w <= 0 || h <= 0 || w > MAX_DIM || h > MAX_DIM)
        return false;
    *width = (int)w;
    *height = (int)h;
    return true;
}

/* Cropping / conformance window: flag, then left, right, top, bottom. */
static void crop(cv_sps_bits *r, int64_t c[4])
{
    bool on = cv_sps_u(r, 1);
    for (int i = 0; i < 4; i++)
        c[i] = on ? cv_sps_ue(r) : 0;
}

/* H.264 SPS (7.3.2.1.1) up to frame_cropping. */
bool cv_sps_h264_size(const uint8_t *nal, size_t len, int *width, int *height)
{
    cv_sps_bits r;
    cv_sps_bits_init(&r, nal, len, 1);
    unsigned profile = cv_sps_u(&r, 8);
    cv_sps_u(&r, 16); /* constraint flags, level_idc */
    cv_sps_ue(&r);    /* seq_parameter_set_id */
    unsigned chroma = 1, sep = 0;
    static const uint8_t high[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135};
    if (memchr(high, (int)profile, sizeof(high))) {
        chroma = cv_sps_ue(&r);
        if (chroma > 3)
            return false;
        if (chroma == 3)
            sep = cv_sps_u(&r, 1);
        cv_sps_ue(&r);   /* bit_depth_luma_minus8 */
        cv_sps_ue(&r);   /* bit_depth_chroma_minus8 */
        cv_sps_u(&r, 1); /* qpprime_y_zero_transform_bypass_flag */
        if (cv_sps_u(&r, 1)) { /* seq_scaling_matrix_present_flag */
            for (unsigned i = 0; i < (chroma != 3 ? 8u : 12u) && !r.bad; i++) {
                if (!cv_sps_u(&r, 1))
                    continue;
                int last = 8, next = 8;
                for (unsigned j = 0; j < (i < 6 ? 16u : 64u) && !r.bad; j++) {
                    if (next != 0)
                        next = (last + cv_sps_se(&r) + 256) % 256;
                    last = next == 0 ? last : next;
                }
            }
        }
    }
    cv_sps_ue(&r); /* log2_max_frame_num_minus4 */
    uint32_t poc = cv_sps_ue(&r);
    if (poc == 0) {
        cv_sps_ue(&r); /* log2_max_pic_order_cnt_lsb_minus4 */
    } else if (poc == 1) {
        cv_sps_u(&r, 1);
        cv_sps_se(&r);
        cv_sps_se(&r);
        uint32_t n = cv_sps_ue(&r); /* num_ref_frames_in_pic_order_cnt_cycle, 0..255 */
        if (n > 255)
            return false;
        for (uint32_t i = 0; i < n && !r.bad; i++)
            cv_sps_se(&r);
    }
    cv_sps_ue(&r);   /* max_num_ref_frames */
    cv_sps_u(&r, 1); /* gaps_in_frame_num_value_allowed_flag */
    int64_t wmb = (int64_t)cv_sps_ue(&r) + 1, hmu = (int64_t)cv_sps_ue(&r) + 1;
    unsigned fmo = cv_sps_u(&r, 1); /* frame_mbs_only_flag */
    if (!fmo)
        cv_sps_u(&r, 1); /* mb_adaptive_frame_field_flag */
    cv_sps_u(&r, 1);     /* direct_8x8_inference_flag */
    int64_t c[4];
    crop(&r, c);
    if (r.bad)
        return false;
    unsigned cat = sep ? 0 : chroma; /* ChromaArrayType */
    int64_t cx = (cat == 1 || cat == 2) ? 2 : 1;
    int64_t cy = (cat == 1 ? 2 : 1) * (2 - (int64_t)fmo);
    return size_ok(wmb * 16 - cx * (c[0] + c[1]), (2 - (int64_t)fmo) * hmu * 16 - cy * (c[2] + c[3]), width, height);
}

void cv_sps_h264_codecs(const uint8_t *nal, size_t len, char *codecs, size_t cap)
{
    if (!codecs || cap == 0)
        return;
    cv_sps_bits r; /* profile_idc, constraint flags, level_idc */
    cv_sps_bits_init(&r, nal, len, 1);
    if (r.nbits >= 24)
        snprintf(codecs, cap, "avc1.%02x%02x%02x", r.b[0], r.b[1], r.b[2]);
    else
        snprintf(codecs, cap, "avc1");
}

/* H.265 SPS (7.3.2.2): profile_tier_level for the codecs string, then the
 * picture size and conformance window. */
bool cv_sps_h265_parse(const uint8_t *nal, size_t len, int *width, int *height, char *codecs, size_t cap)
{
    cv_sps_bits r;
    cv_sps_bits_init(&r, nal, len, 2);
    cv_sps_u(&r, 4); /* sps_video_parameter_set_id */
    unsigned subs = cv_sps_u(&r, 3); /* sps_max_sub_layers_minus1 */
    cv_sps_u(&r, 1);                 /* sps_temporal_id_nesting_flag */
    unsigned space = cv_sps_u(&r, 2), tier = cv_sps_u(&r, 1), profile = cv_sps_u(&r, 5);
    uint32_t compat = cv_sps_u(&r, 32), rev = 0;
    uint8_t cons[6];
    for (int i = 0; i < 6; i++)
        cons[i] = (uint8_t)cv_sps_u(&r, 8);
    unsigned level = cv_sps_u(&r, 8);
    unsigned prof_present = 0, lvl_present = 0;
    for (unsigned i = 0; i < subs; i++) {
        prof_present |= cv_sps_u(&r, 1) << i;
        lvl_present |= cv_sps_u(&r, 1) << i;
    }
    if (subs > 0)
        cv_sps_u(&r, 2 * (8 - subs)); /* reserved_zero_2bits */
    for (unsigned i = 0; i < subs; i++) {
        if (prof_present >> i & 1) {
            cv_sps_u(&r, 32);
            cv_sps_u(&r, 32);
            cv_sps_u(&r, 24);
        }
        if (lvl_present >> i & 1)
            cv_sps_u(&r, 8);
    }
    cv_sps_ue(&r); /* sps_seq_parameter_set_id */
    uint32_t chroma = cv_sps_ue(&r), sep = 0;
    if (chroma > 3)
        return false;
    if (chroma == 3)
        sep = cv_sps_u(&r, 1);
    int64_t w = cv_sps_ue(&r), h = cv_sps_ue(&r), c[4];
    crop(&r, c);
    if (r.bad)
        return false;
    int64_t sw = (chroma == 1 || chroma == 2) && !sep ? 2 : 1, sh = chroma == 1 && !sep ? 2 : 1;
    if (!size_ok(w - sw * (c[0] + c[1]), h - sh * (c[2] + c[3]), width, height))
        return false;
    if (!codecs || cap == 0)
        return true;
    /* ISO/IEC 14496-15 E.3: compatibility flags bit-reversed, constraint
     * bytes with trailing zero bytes left out. */
    for (int i = 0; i < 32; i++)
        rev |= ((compat >> i) & 1u) << (31 - i);
    static const char *const spaces[] = {"", "A", "B", "C"};
    int n = snprintf(codecs, cap, "hvc1.%s%u.%X.%c%u", spaces[space], profile, rev, tier ? 'H' : 'L', level);
    int last = 5;
    while (last >= 0 && cons[last] == 0)
        last--;
    for (int i = 0; i <= last && n > 0 && (size_t)n < cap; i++)
        n += snprintf(codecs + n, cap - (size_t)n, ".%02X", cons[i]);
    return true;
}
