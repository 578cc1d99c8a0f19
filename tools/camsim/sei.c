/* Builds camsim's SEI watermark (see sei.h). */
#include "sei.h"

#include <string.h>

static const uint8_t uuid[16] = CAMSIM_SEI_UUID;

size_t camsim_rbsp_escape(uint8_t *out, const uint8_t *rbsp, size_t len)
{
    size_t o = 0;
    unsigned zeros = 0;
    for (size_t i = 0; i < len; i++) {
        if (zeros >= 2 && rbsp[i] <= 3) {
            out[o++] = 0x03;
            zeros = 0;
        }
        out[o++] = rbsp[i];
        zeros = rbsp[i] == 0 ? zeros + 1 : 0;
    }
    return o;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

size_t camsim_sei_build(uint8_t *out, const uint8_t camera_id[16], uint64_t seq, uint64_t capture_us)
{
    /* sei_rbsp: one sei_message, then rbsp_trailing_bits. */
    uint8_t rbsp[2 + CAMSIM_SEI_PAYLOAD_LEN + 1];
    size_t n = 0;
    rbsp[n++] = 5;                      /* payload type: user_data_unregistered (< 255: one byte) */
    rbsp[n++] = CAMSIM_SEI_PAYLOAD_LEN; /* payload size (< 255: one byte) */
    memcpy(rbsp + n, uuid, 16);
    n += 16;
    memcpy(rbsp + n, camera_id, 16);
    n += 16;
    put_be64(rbsp + n, seq);
    n += 8;
    put_be64(rbsp + n, capture_us);
    n += 8;
    rbsp[n++] = 0x80; /* rbsp_stop_one_bit + alignment zeros */
    out[0] = 0x06;    /* forbidden_zero_bit 0, nal_ref_idc 0, type 6 */
    return 1 + camsim_rbsp_escape(out + 1, rbsp, n);
}
