/* Small helpers shared by every module: clocks, bounded byte readers and
 * string views. Everything here is pure and thread-safe. */
#ifndef CV_BASE_UTIL_H
#define CV_BASE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CV_MAX(a, b) ((a) > (b) ? (a) : (b))
#define CV_WUR __attribute__((warn_unused_result))

/* Monotonic clock in microseconds. */
int64_t cv_now_us(void);
/* Wall clock in microseconds since the Unix epoch. */
int64_t cv_wall_us(void);

/* A string view: (ptr, len), not NUL-terminated. */
typedef struct {
    const char *p;
    size_t len;
} cv_str;

#define CV_STR_LIT(s) ((cv_str){(s), sizeof(s) - 1})
cv_str cv_str_from(const char *s);
bool cv_str_eq(cv_str a, cv_str b);
bool cv_str_ieq(cv_str a, cv_str b);            /* ASCII case-insensitive */
bool cv_str_ieq_c(cv_str a, const char *b);
cv_str cv_str_trim(cv_str s);
/* Parses a decimal unsigned integer filling the whole view; -1 on error. */
int cv_str_to_u64(cv_str s, uint64_t max, uint64_t *out);

/* Bounded big-endian reader over explicit lengths. */
typedef struct {
    const uint8_t *p, *end;
} cv_rd;

static inline size_t cv_rd_left(const cv_rd *r) { return (size_t)(r->end - r->p); }

static inline bool cv_rd_u8(cv_rd *r, uint8_t *v)
{
    if (r->end - r->p < 1)
        return false;
    *v = r->p[0];
    r->p += 1;
    return true;
}

static inline bool cv_rd_be16(cv_rd *r, uint16_t *v)
{
    if (r->end - r->p < 2)
        return false;
    *v = (uint16_t)((unsigned)r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return true;
}

static inline bool cv_rd_be32(cv_rd *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return false;
    *v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return true;
}

static inline bool cv_rd_skip(cv_rd *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return false;
    r->p += n;
    return true;
}

static inline void cv_wr_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void cv_wr_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t cv_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t cv_be16(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }

/* Hex and base64 (standard alphabet, with padding). Encoders return the
 * number of characters written (excluding NUL) or -1 if out is too small;
 * decoders return the number of bytes written or -1 on bad input. */
int cv_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap);
int cv_hex_decode(const char *in, size_t len, uint8_t *out, size_t cap);
int cv_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap);
int cv_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
