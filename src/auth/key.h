/* The server key: 32 random bytes in a file of its own (mode 0600, created
 * at first run next to the database, never inside it). Everything secret
 * that the server must read back is sealed with it, and capability tokens,
 * Digest nonces and CSRF values are MACed with keys derived from it. A copy
 * of the database without this file opens nothing. */
#ifndef CV_AUTH_KEY_H
#define CV_AUTH_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cv_key cv_key;

typedef enum {
    CV_KEY_SEAL = 0,  /* XChaCha20-Poly1305 sealing */
    CV_KEY_TOKEN = 1, /* capability token MAC */
    CV_KEY_NONCE = 2, /* RTSP Digest nonces */
    CV_KEY_CSRF = 3,  /* CSRF values derived from web sessions */
    CV_KEY__COUNT
} cv_key_purpose;

#define CV_SUBKEY_BYTES 32

/* Loads the key file at path; when it does not exist and create is true,
 * writes a new one (O_EXCL, mode 0600, fsynced, then link()ed into place so
 * two processes starting together agree on one key). Refuses a file that
 * group or others may read (-EPERM) or whose size is wrong or that is not a
 * regular file (-EINVAL). Returns 0 or a negative errno, with the cause
 * logged. The key lives in locked, guarded memory (sodium_malloc), holds
 * only the derived subkeys and is read-only: any thread may use it. */
int cv_key_load(cv_key **out, const char *path, bool create) __attribute__((warn_unused_result));
/* A key from 32 bytes (tests, fuzzers). Returns 0, -ENOMEM or -EIO. */
int cv_key_from_bytes(cv_key **out, const uint8_t bytes[32]);
void cv_key_free(cv_key *k);

/* The subkey for one purpose (derived with crypto_kdf), CV_SUBKEY_BYTES long. */
const uint8_t *cv_key_sub(const cv_key *k, cv_key_purpose p);

/* Seals len bytes bound to the context string ad (for example
 * "ingest:<camera hex>", so a sealed value cannot be moved to another row;
 * NULL is the same as "") and writes "s1." + base64url(nonce | ciphertext)
 * + NUL to out. Returns the string length, -ENOSPC or -ENOMEM. */
int cv_key_seal(const cv_key *k, const char *ad, const void *pt, size_t len, char *out, size_t cap);
/* Opens a sealed string. Returns the plaintext length (pt is NUL-terminated
 * when there is room), -EBADMSG (malformed, wrong key or wrong context),
 * -ENOSPC (cap is less than the plaintext length; decided from the length
 * alone, before authentication) or -ENOMEM. */
int cv_key_open(const cv_key *k, const char *ad, const char *sealed, void *pt, size_t cap);

/* BLAKE2b-256 of data: how tokens and session secrets are stored. */
void cv_hash32(const void *data, size_t len, uint8_t out[32]);

/* Fills out with a random secret of n bytes printed as base64url (no
 * padding) + NUL. Returns the string length or -ENOSPC. */
int cv_random_secret(size_t n, char *out, size_t cap);

#endif
