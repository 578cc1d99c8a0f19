#include "base/util.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>
#include <time.h>

int64_t cv_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t cv_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

cv_str cv_str_from(const char *s) { return (cv_str){s, s ? strlen(s) : 0}; }

bool cv_str_eq(cv_str a, cv_str b) { return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0); }

bool cv_str_ieq(cv_str a, cv_str b)
{
    /* Byte by byte: strncasecmp would stop at an embedded NUL from the network. */
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y + 32);
        if (x != y)
            return false;
    }
    return true;
}

bool cv_str_ieq_c(cv_str a, const char *b) { return cv_str_ieq(a, cv_str_from(b)); }

cv_str cv_str_trim(cv_str s)
{
    while (s.len && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' || s.p[s.len - 1] == '\r' ||
                     s.p[s.len - 1] == '\n'))
        s.len--;
    return s;
}

int cv_str_to_u64(cv_str s, uint64_t max, uint64_t *out)
{
    if (s.len == 0 || s.len > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (!isdigit((unsigned char)s.p[i]))
            return -1;
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (uint64_t)(s.p[i] - '0'), &v))
            return -1;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Encoding is delegated to libsodium, which already does it in constant time. */
int cv_hex_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    if (cap < len * 2 + 1)
        return -1;
    sodium_bin2hex(out, cap, in, len);
    return (int)(len * 2);
}

int cv_hex_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    size_t n = 0;
    const char *end = NULL;
    if (len % 2 || sodium_hex2bin(out, cap, in, len, NULL, &n, &end) != 0 || end != in + len)
        return -1;
    return (int)n;
}

int cv_b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    size_t need = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    if (cap < need)
        return -1;
    sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL);
    return (int)strlen(out);
}

int cv_b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    size_t n = 0;
    const char *end = NULL;
    /* Some cameras omit padding; accept both forms. */
    int variant = (len % 4) ? sodium_base64_VARIANT_ORIGINAL_NO_PADDING : sodium_base64_VARIANT_ORIGINAL;
    if (sodium_base642bin(out, cap, in, len, NULL, &n, &end, variant) != 0 || end != in + len)
        return -1;
    return (int)n;
}
