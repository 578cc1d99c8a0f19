#define CV_LOG_MODULE "auth"
#include "auth/totp.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <liboath/oath.h>
#include <sodium.h>

#include "base/log.h"

#define STEP_S 30
#define DIGITS 6

static pthread_once_t oath_once = PTHREAD_ONCE_INIT;
static bool oath_ok;

static void oath_setup(void)
{
    int rc = oath_init();
    oath_ok = rc == OATH_OK;
    if (!oath_ok)
        CV_ERROR("liboath failed to initialise: %s", oath_strerror(rc));
}

void cv_totp_new_secret(uint8_t secret[CV_TOTP_SECRET_BYTES])
{
    /* randombytes works even if this fails (it initialises itself). */
    if (sodium_init() < 0)
        CV_WARN("libsodium failed to initialise");
    randombytes_buf(secret, CV_TOTP_SECRET_BYTES);
}

int cv_totp_base32(const uint8_t *secret, size_t len, char *out, size_t cap)
{
    static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    if (len > (size_t)INT_MAX / 8 * 5)
        return -ENOSPC;
    size_t need = (len * 8 + 4) / 5;
    if (cap <= need)
        return -ENOSPC;
    size_t pos = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8 | secret[i]) & 0xfff;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[pos++] = b32[(acc >> bits) & 31];
        }
    }
    if (bits > 0)
        out[pos++] = b32[(acc << (5 - bits)) & 31];
    out[pos] = '\0';
    return (int)pos;
}

/* Appends s[0..n) to out at *pos, keeping room for the NUL. */
static bool put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (cap - *pos <= n)
        return false;
    memcpy(out + *pos, s, n);
    *pos += n;
    out[*pos] = '\0';
    return true;
}

int cv_totp_uri(const uint8_t *secret, size_t len, const char *login, char *out, size_t cap)
{
    static const char head[] = "otpauth://totp/camvault:";
    static const char mid[] = "?secret=";
    static const char tail[] = "&issuer=camvault";
    static const char hex[] = "0123456789ABCDEF";
    size_t pos = 0;
    if (cap == 0)
        return -ENOSPC;
    if (cap > INT_MAX)
        cap = INT_MAX;
    out[0] = '\0';
    if (!put(out, cap, &pos, head, sizeof(head) - 1))
        return -ENOSPC;
    for (const unsigned char *p = (const unsigned char *)login; *p; p++) {
        /* RFC 3986 unreserved characters pass; everything else (including
         * ':' '@' '?' '&' '/' and non-ASCII) is percent-encoded. */
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '.' || *p == '_' || *p == '~') {
            if (!put(out, cap, &pos, (const char *)p, 1))
                return -ENOSPC;
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            if (!put(out, cap, &pos, e, 3))
                return -ENOSPC;
        }
    }
    if (!put(out, cap, &pos, mid, sizeof(mid) - 1))
        return -ENOSPC;
    int n = cv_totp_base32(secret, len, out + pos, cap - pos);
    if (n < 0)
        return -ENOSPC;
    pos += (size_t)n;
    if (!put(out, cap, &pos, tail, sizeof(tail) - 1))
        return -ENOSPC;
    return (int)pos;
}

static int code_at_step(const uint8_t *secret, size_t len, uint64_t step, char out[DIGITS + 1])
{
    pthread_once(&oath_once, oath_setup);
    if (!oath_ok)
        return -EIO;
    if (oath_hotp_generate((const char *)secret, len, step, DIGITS, false, OATH_HOTP_DYNAMIC_TRUNCATION, out) !=
        OATH_OK)
        return -EIO;
    return 0;
}

/* floor(unix_s / 30), correct for negative times too. */
static int64_t step_of(int64_t unix_s)
{
    int64_t q = unix_s / STEP_S;
    if (unix_s % STEP_S < 0)
        q--;
    return q;
}

int cv_totp_code(const uint8_t *secret, size_t len, int64_t unix_s, char out[7])
{
    int64_t step = step_of(unix_s);
    if (step < 0)
        return -EIO;
    return code_at_step(secret, len, (uint64_t)step, out);
}

int64_t cv_totp_check(const uint8_t *secret, size_t len, const char *code, size_t code_len, int64_t unix_s,
                      int64_t last_step)
{
    if (!code || code_len != DIGITS)
        return -EINVAL;
    for (size_t i = 0; i < DIGITS; i++)
        if (code[i] < '0' || code[i] > '9')
            return -EINVAL;
    int64_t now = step_of(unix_s);
    int64_t found = -1;
    /* All three candidates are computed and compared in constant time; the
     * latest matching step wins, so a code can never be accepted twice even
     * if two steps of the window happen to share it. */
    for (int64_t s = now - 1; s <= now + 1; s++) {
        if (s < 0)
            continue;
        char want[DIGITS + 1];
        if (code_at_step(secret, len, (uint64_t)s, want) < 0)
            return -EIO;
        if (sodium_memcmp(want, code, DIGITS) == 0)
            found = s;
        sodium_memzero(want, sizeof(want));
    }
    if (found < 0 || found <= last_step)
        return -EACCES;
    return found;
}
