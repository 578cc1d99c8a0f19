/* TOTP second factor (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits) using
 * liboath. Codes are accepted one step either side of now; a step once
 * accepted is never accepted again (the caller stores the last step). */
#ifndef CV_AUTH_TOTP_H
#define CV_AUTH_TOTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CV_TOTP_SECRET_BYTES 20

void cv_totp_new_secret(uint8_t secret[CV_TOTP_SECRET_BYTES]);
/* RFC 4648 base32 without padding, NUL-terminated. Returns length or -ENOSPC. */
int cv_totp_base32(const uint8_t *secret, size_t len, char *out, size_t cap);
/* otpauth://totp/camvault:<login>?secret=...&issuer=camvault (login
 * percent-encoded). Returns length or -ENOSPC. */
int cv_totp_uri(const uint8_t *secret, size_t len, const char *login, char *out, size_t cap);
/* The code for unix time t. Returns 0 or -EIO (liboath failed, or t < 0). */
int cv_totp_code(const uint8_t *secret, size_t len, int64_t unix_s, char out[7]);
/* Checks a 6-digit code at unix_s (steps unix_s/30 - 1 .. + 1). On success
 * returns the matched step (> last_step) and the caller must store it;
 * returns -EACCES for a wrong, stale or replayed code (its step <= last_step),
 * -EINVAL for one that is not exactly 6 ASCII digits (code_len counts), or
 * -EIO if liboath fails. Compares in constant time. */
int64_t cv_totp_check(const uint8_t *secret, size_t len, const char *code, size_t code_len, int64_t unix_s,
                      int64_t last_step);

#endif
