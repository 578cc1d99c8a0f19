/* Password hashing: Argon2id through libsodium's crypto_pwhash_str with
 * opslimit 2 and memlimit 64 MiB (crypto_pwhash_*_INTERACTIVE). Hashing
 * takes ~0.1 s and 64 MiB, so the server runs it on libuv's thread pool,
 * never on the loop thread. */
#ifndef CV_AUTH_PASSWORD_H
#define CV_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define CV_PW_HASH_MAX 128 /* crypto_pwhash_STRBYTES */
#define CV_PW_MIN 8
#define CV_PW_MAX 1024

/* Returns 0, -EINVAL (length outside CV_PW_MIN..CV_PW_MAX) or -ENOMEM. */
int cv_pw_hash(const char *pw, size_t len, char out[CV_PW_HASH_MAX]);
/* True if pw matches. hash NULL (unknown user) verifies against a fixed
 * dummy hash so both cases cost the same and answer false. The dummy is
 * computed lazily under pthread_once, so the very first NULL call costs one
 * extra hash; thread-safe. A length outside CV_PW_MIN..CV_PW_MAX answers
 * false at once whatever the hash (no stored hash can match it). */
bool cv_pw_verify(const char *hash, const char *pw, size_t len);
/* A generated password: 24 characters from the 32-character alphabet
 * 0-9 a-z without i l o u (120 bits), NUL-terminated. Returns 24, or -ENOSPC
 * when cap is less than 25. */
int cv_pw_generate(char *out, size_t cap);

#endif
