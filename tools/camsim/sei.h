/* camsim's watermark: one SEI NAL unit (H.264 type 6) per access unit,
 * payload type 5 (user_data_unregistered), placed before the first VCL NAL.
 *
 * Payload (48 bytes, before emulation prevention):
 *   uuid        16 bytes  CAMSIM_SEI_UUID
 *   camera id   16 bytes  the camvault camera id (binary)
 *   seq          8 bytes  big-endian, +1 per access unit (per camera)
 *   capture_us   8 bytes  big-endian, wall clock (µs since the Unix epoch)
 *                         when the access unit was captured (sent)
 *
 * tools/camsim/sei.py parses the same layout on the verifier side; keep the
 * two in step. */
#ifndef CAMSIM_SEI_H
#define CAMSIM_SEI_H

#include <stddef.h>
#include <stdint.h>

/* "camsim-watermark" is not used: the UUID is random (version 4) so that it
 * cannot collide with an encoder's own user data (x264 writes one too).
 * 6d0f2a8c-3b71-4e59-9a04-c5e81d7b22f6 */
#define CAMSIM_SEI_UUID                                                                                  \
    {0x6d, 0x0f, 0x2a, 0x8c, 0x3b, 0x71, 0x4e, 0x59, 0x9a, 0x04, 0xc5, 0xe8, 0x1d, 0x7b, 0x22, 0xf6}

#define CAMSIM_SEI_PAYLOAD_LEN 48
/* Worst case NAL size: the header byte, then the RBSP (type, size, payload,
 * trailing bits) with an emulation prevention byte every two bytes. */
#define CAMSIM_SEI_MAX_NAL (1 + (2 + CAMSIM_SEI_PAYLOAD_LEN + 1) * 3 / 2 + 1)

/* Writes the SEI NAL unit (header byte included, no start code or length
 * prefix) into out, which has room for CAMSIM_SEI_MAX_NAL bytes. Returns its
 * length. */
size_t camsim_sei_build(uint8_t *out, const uint8_t camera_id[16], uint64_t seq, uint64_t capture_us);

/* Escapes an RBSP into a NAL payload: inserts 0x03 after every two zero bytes
 * that precede a byte <= 3. out has room for len * 3 / 2 + 1 bytes. Returns
 * the bytes written. The RBSP must not end with a zero byte (trailing bits
 * guarantee that). */
size_t camsim_rbsp_escape(uint8_t *out, const uint8_t *rbsp, size_t len);

#endif
