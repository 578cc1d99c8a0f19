/* H.264 / H.265 sequence parameter sets: picture size (cropping applied)
 * and the RFC 6381 codecs string. Pure functions over explicit lengths; a
 * NAL is given with its header byte(s) and may hold emulation-prevention
 * bytes. Also the bounded RBSP bit reader they use, for other small
 * bitstream headers (AAC AudioSpecificConfig). */
#ifndef CV_MEDIA_SPS_H
#define CV_MEDIA_SPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/codec.h"

/* Bit reader over a private copy of at most CV_MAX_PARAM_SET bytes. Reads
 * past the end return 0 and set bad, which then stays set. */
typedef struct {
    uint8_t b[CV_MAX_PARAM_SET];
    size_t nbits, pos;
    bool bad;
} cv_sps_bits;

/* Copies data[skip..len) (at most CV_MAX_PARAM_SET bytes), dropping the
 * emulation-prevention byte of each 00 00 03. skip > len sets bad. */
void cv_sps_bits_init(cv_sps_bits *r, const uint8_t *data, size_t len, size_t skip);
uint32_t cv_sps_u(cv_sps_bits *r, unsigned n); /* n <= 32 */
uint32_t cv_sps_ue(cv_sps_bits *r);            /* Exp-Golomb, up to 31 leading zeros */
int32_t cv_sps_se(cv_sps_bits *r);

/* H.264 SPS (7.3.2.1.1): width and height after frame cropping, each
 * 1..16384. False (outputs untouched) on a truncated or invalid SPS. */
bool cv_sps_h264_size(const uint8_t *nal, size_t len, int *width, int *height);

/* "avc1.PPCCLL" from profile_idc, constraint flags and level_idc, or "avc1"
 * when the SPS is shorter than that. */
void cv_sps_h264_codecs(const uint8_t *nal, size_t len, char *codecs, size_t cap);

/* H.265 SPS (7.3.2.2): width and height after the conformance window, each
 * 1..16384, and, when codecs is not NULL and cap > 0, the codecs string of
 * ISO/IEC 14496-15 E.3 ("hvc1.1.6.L93.90"). False on a truncated or
 * invalid SPS, in which case neither the outputs nor codecs are written. */
bool cv_sps_h265_parse(const uint8_t *nal, size_t len, int *width, int *height, char *codecs, size_t cap);

#endif
