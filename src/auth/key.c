#define CV_LOG_MODULE "auth"
#include "auth/key.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/log.h"
#include "base/util.h"

#define MASTER_BYTES 32
#define SEAL_PREFIX "s1."
#define SEAL_PREFIX_LEN (sizeof(SEAL_PREFIX) - 1)
#define SEAL_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SEAL_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* libsodium 1.0.18's decoder maps some bytes >= 0x80 onto valid base64
 * digits, so the alphabet is checked here first: one token, one spelling. */
static bool b64url_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

_Static_assert(MASTER_BYTES == crypto_kdf_KEYBYTES, "master key size");
_Static_assert(CV_SUBKEY_BYTES >= crypto_kdf_BYTES_MIN && CV_SUBKEY_BYTES <= crypto_kdf_BYTES_MAX, "subkey size");
_Static_assert(CV_SUBKEY_BYTES == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "seal key size");
_Static_assert(CV_SUBKEY_BYTES == crypto_auth_hmacsha512256_KEYBYTES, "token key size");

/* Only the subkeys are kept: the master key is wiped once they are derived.
 * The whole struct lives in sodium_malloc memory (guard pages, mlocked,
 * excluded from core dumps) and is read-only after construction. */
struct cv_key {
    uint8_t sub[CV_KEY__COUNT][CV_SUBKEY_BYTES];
};

/* Exactly crypto_kdf_CONTEXTBYTES (8) characters; changing it changes every
 * subkey, so every sealed value and token. */
static const char kdf_ctx[crypto_kdf_CONTEXTBYTES + 1] = "camvault";

int cv_key_from_bytes(cv_key **out, const uint8_t bytes[32])
{
    if (sodium_init() < 0)
        return -EIO;
    cv_key *k = sodium_malloc(sizeof(*k));
    if (!k)
        return -ENOMEM;
    for (int p = 0; p < CV_KEY__COUNT; p++) {
        if (crypto_kdf_derive_from_key(k->sub[p], CV_SUBKEY_BYTES, (uint64_t)p, kdf_ctx, bytes) != 0) {
            sodium_free(k);
            return -EIO;
        }
    }
    sodium_mprotect_readonly(k);
    *out = k;
    return 0;
}

void cv_key_free(cv_key *k)
{
    /* sodium_free makes the region writable again, wipes and unmaps it. */
    if (k)
        sodium_free(k);
}

const uint8_t *cv_key_sub(const cv_key *k, cv_key_purpose p)
{
    if ((unsigned)p >= CV_KEY__COUNT)
        return NULL;
    return k->sub[p];
}

static int read_full(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EINVAL; /* shrank under us */
        got += (size_t)n;
    }
    return 0;
}

static int write_full(int fd, const uint8_t *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t n = write(fd, buf + put, len - put);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        put += (size_t)n;
    }
    return 0;
}

/* Returns -ENOENT untouched so the caller can decide to create the file. */
static int load_file(const char *path, uint8_t master[MASTER_BYTES])
{
    int res;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        res = -errno;
        if (res != -ENOENT)
            CV_ERROR("server key %s: %s", path, strerror(-res));
        return res;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        res = -errno;
        CV_ERROR("server key %s: %s", path, strerror(-res));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        res = -EINVAL;
        CV_ERROR("server key %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        res = -EPERM;
        CV_ERROR("server key %s is readable by others; chmod 600 it", path);
        goto out;
    }
    if (st.st_size != MASTER_BYTES) {
        res = -EINVAL;
        CV_ERROR("server key %s has %lld bytes, expected %d", path, (long long)st.st_size, MASTER_BYTES);
        goto out;
    }
    if ((res = read_full(fd, master, MASTER_BYTES)) < 0)
        CV_ERROR("server key %s: %s", path, strerror(-res));
out:
    close(fd);
    return res;
}

static void fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof(dir))
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    (void)fsync(fd);
    close(fd);
}

/* Writes the new key under a temporary name and link()s it into place, so
 * that a second process starting at the same moment sees either no file or
 * the complete one (never a short file), and never replaces a key that
 * someone already loaded. Returns -EEXIST when another process won. */
static int create_file(const char *path, const uint8_t master[MASTER_BYTES])
{
    int res;
    char tmp[PATH_MAX];
    uint32_t r = randombytes_random();
    int n = snprintf(tmp, sizeof(tmp), "%s.new-%ld-%08x", path, (long)getpid(), (unsigned)r);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0)
        return -errno;
    if ((res = write_full(fd, master, MASTER_BYTES)) < 0) {
        close(fd);
        goto err_unlink;
    }
    if (fsync(fd) != 0) {
        res = -errno;
        close(fd);
        goto err_unlink;
    }
    if (close(fd) != 0) {
        res = -errno;
        goto err_unlink;
    }
    if (link(tmp, path) != 0) {
        res = -errno;
        goto err_unlink;
    }
    unlink(tmp);
    fsync_parent(path);
    return 0;
err_unlink:
    unlink(tmp);
    return res;
}

int cv_key_load(cv_key **out, const char *path, bool create)
{
    if (sodium_init() < 0) {
        CV_ERROR("libsodium failed to initialise");
        return -EIO;
    }
    uint8_t master[MASTER_BYTES];
    int res = load_file(path, master);
    if (res == -ENOENT && create) {
        randombytes_buf(master, sizeof(master));
        res = create_file(path, master);
        if (res == 0) {
            CV_INFO("created server key %s", path);
        } else if (res == -EEXIST) {
            /* Someone else created it between our open and our link. */
            res = load_file(path, master);
        } else {
            CV_ERROR("cannot create server key %s: %s", path, strerror(-res));
        }
    } else if (res == -ENOENT) {
        CV_ERROR("server key %s does not exist", path);
    }
    if (res == 0) {
        res = cv_key_from_bytes(out, master);
        if (res < 0)
            CV_ERROR("server key %s: %s", path, strerror(-res));
    }
    sodium_memzero(master, sizeof(master));
    return res;
}

/* Length of "s1." + base64url(n bytes), without the NUL; 0 on overflow. */
static size_t sealed_len(size_t n)
{
    size_t b64;
    if (n > (SIZE_MAX - 8) / 4 * 3)
        return 0;
    b64 = sodium_base64_ENCODED_LEN(n, B64_VARIANT) - 1;
    return SEAL_PREFIX_LEN + b64;
}

int cv_key_seal(const cv_key *k, const char *ad, const void *pt, size_t len, char *out, size_t cap)
{
    size_t bin_len;
    if (__builtin_add_overflow(len, (size_t)(SEAL_NONCE + SEAL_TAG), &bin_len))
        return -ENOSPC;
    size_t slen = sealed_len(bin_len);
    if (slen == 0 || slen > INT_MAX || cap <= slen)
        return -ENOSPC;
    uint8_t *bin = malloc(bin_len);
    if (!bin)
        return -ENOMEM;
    const char *a = ad ? ad : "";
    randombytes_buf(bin, SEAL_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(bin + SEAL_NONCE, NULL, pt, len, (const uint8_t *)a, strlen(a),
                                               NULL, bin, k->sub[CV_KEY_SEAL]);
    memcpy(out, SEAL_PREFIX, SEAL_PREFIX_LEN);
    sodium_bin2base64(out + SEAL_PREFIX_LEN, cap - SEAL_PREFIX_LEN, bin, bin_len, B64_VARIANT);
    free(bin);
    return (int)slen;
}

int cv_key_open(const cv_key *k, const char *ad, const char *sealed, void *pt, size_t cap)
{
    size_t slen = strlen(sealed);
    if (slen < SEAL_PREFIX_LEN || memcmp(sealed, SEAL_PREFIX, SEAL_PREFIX_LEN) != 0)
        return -EBADMSG;
    const char *b64 = sealed + SEAL_PREFIX_LEN;
    size_t b64_len = slen - SEAL_PREFIX_LEN;
    if (!b64url_ok(b64, b64_len))
        return -EBADMSG;
    /* Upper bound of the decoded size; the exact one comes from the decoder. */
    size_t max_bin = b64_len / 4 * 3 + 3;
    if (max_bin < SEAL_NONCE + SEAL_TAG)
        return -EBADMSG;
    if (max_bin - SEAL_NONCE - SEAL_TAG > INT_MAX)
        return -EBADMSG;
    uint8_t *bin = malloc(max_bin);
    if (!bin)
        return -ENOMEM;
    int res;
    size_t bin_len = 0;
    const char *end = NULL;
    if (sodium_base642bin(bin, max_bin, b64, b64_len, NULL, &bin_len, &end, B64_VARIANT) != 0 ||
        end != b64 + b64_len || bin_len < SEAL_NONCE + SEAL_TAG) {
        res = -EBADMSG;
        goto out;
    }
    size_t pt_len = bin_len - SEAL_NONCE - SEAL_TAG;
    if (cap < pt_len) {
        res = -ENOSPC;
        goto out;
    }
    const char *a = ad ? ad : "";
    unsigned long long got = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &got, NULL, bin + SEAL_NONCE, bin_len - SEAL_NONCE,
                                                   (const uint8_t *)a, strlen(a), bin, k->sub[CV_KEY_SEAL]) != 0) {
        if (pt_len)
            sodium_memzero(pt, pt_len);
        res = -EBADMSG;
        goto out;
    }
    if (cap > pt_len)
        ((char *)pt)[pt_len] = '\0';
    res = (int)pt_len;
out:
    free(bin);
    return res;
}

void cv_hash32(const void *data, size_t len, uint8_t out[32])
{
    crypto_generichash(out, 32, data, len, NULL, 0);
}

int cv_random_secret(size_t n, char *out, size_t cap)
{
    if (n > (size_t)INT_MAX / 4 * 3 - 3)
        return -ENOSPC;
    size_t enc = sodium_base64_ENCODED_LEN(n, B64_VARIANT) - 1;
    if (cap <= enc)
        return -ENOSPC;
    /* Chunks of a multiple of 3 bytes encode to the same text as the whole,
     * so no buffer of n bytes is needed. */
    uint8_t chunk[48];
    size_t done = 0, pos = 0;
    out[0] = '\0';
    while (done < n) {
        size_t c = CV_MIN(sizeof(chunk), n - done);
        randombytes_buf(chunk, c);
        sodium_bin2base64(out + pos, cap - pos, chunk, c, B64_VARIANT);
        pos += strlen(out + pos);
        done += c;
    }
    sodium_memzero(chunk, sizeof(chunk));
    return (int)pos;
}
