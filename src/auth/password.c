#define CV_LOG_MODULE "auth"
#include "auth/password.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "base/log.h"

_Static_assert(CV_PW_HASH_MAX == crypto_pwhash_STRBYTES, "CV_PW_HASH_MAX");

#define OPS crypto_pwhash_OPSLIMIT_INTERACTIVE
#define MEM crypto_pwhash_MEMLIMIT_INTERACTIVE

/* 32 characters, so 24 of them carry exactly 120 bits. Lower case only and
 * without i, l, o, u: nothing to confuse with 1 or 0 when read aloud or
 * typed from a screen. */
static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";
#define PW_GEN_LEN 24

/* The dummy hash that unknown users are verified against. Computed lazily,
 * once, under pthread_once, so the first cv_pw_verify(NULL, ...) costs an
 * extra hash; every later one costs exactly what a real verify does. */
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[crypto_pwhash_STRBYTES];
static bool dummy_ok;

static void dummy_init(void)
{
    if (sodium_init() < 0)
        return;
    /* A random password nobody knows: the dummy can never match anything. */
    char pw[33];
    uint8_t r[16];
    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(pw, sizeof(pw), r, sizeof(r));
    dummy_ok = crypto_pwhash_str_alg(dummy_hash, pw, 32, OPS, MEM, crypto_pwhash_ALG_ARGON2ID13) == 0;
    sodium_memzero(pw, sizeof(pw));
    sodium_memzero(r, sizeof(r));
    if (!dummy_ok)
        CV_WARN("cannot compute the dummy password hash (out of memory?)");
}

int cv_pw_hash(const char *pw, size_t len, char out[CV_PW_HASH_MAX])
{
    if (len < CV_PW_MIN || len > CV_PW_MAX)
        return -EINVAL;
    if (sodium_init() < 0)
        return -ENOMEM;
    if (crypto_pwhash_str_alg(out, pw, len, OPS, MEM, crypto_pwhash_ALG_ARGON2ID13) != 0)
        return -ENOMEM;
    return 0;
}

bool cv_pw_verify(const char *hash, const char *pw, size_t len)
{
    /* Lengths are public (a hash of a too short or too long password cannot
     * exist), so answering them at once reveals nothing about the user. */
    if (len < CV_PW_MIN || len > CV_PW_MAX)
        return false;
    if (hash) {
        /* crypto_pwhash_str_verify reads a NUL-terminated string. */
        if (strnlen(hash, CV_PW_HASH_MAX) == CV_PW_HASH_MAX)
            return false;
        return crypto_pwhash_str_verify(hash, pw, len) == 0;
    }
    pthread_once(&dummy_once, dummy_init);
    if (dummy_ok) {
        int r = crypto_pwhash_str_verify(dummy_hash, pw, len);
        (void)r;
    } else {
        /* Still spend the time of one Argon2id computation. */
        char scratch[crypto_pwhash_STRBYTES];
        int r = crypto_pwhash_str_alg(scratch, pw, len, OPS, MEM, crypto_pwhash_ALG_ARGON2ID13);
        (void)r;
    }
    return false;
}

int cv_pw_generate(char *out, size_t cap)
{
    if (cap < PW_GEN_LEN + 1)
        return -ENOSPC;
    if (sodium_init() < 0)
        return -EIO;
    for (size_t i = 0; i < PW_GEN_LEN; i++)
        out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[PW_GEN_LEN] = '\0';
    return PW_GEN_LEN;
}
