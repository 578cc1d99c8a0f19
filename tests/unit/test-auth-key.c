/* Tests for src/auth/key.c: the server key file, sealing, hashing and random
 * secrets. */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir-fixture.h"

#include "auth/key.h"
#include "base/id.h"
#include "base/log.h"

typedef struct {
    tmpdir t;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (tmpdir_make(&f->t, "key", "server.key") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = tmpdir_remove(&f->t);
    free(f);
    return rc;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static cv_key *key_of(uint8_t fill)
{
    uint8_t b[32];
    memset(b, fill, sizeof(b));
    cv_key *k = NULL;
    assert_int_equal(cv_key_from_bytes(&k, b), 0);
    return k;
}

static void test_key_create_then_load(void **state)
{
    fixture *f = *state;
    cv_key *k1 = NULL, *k2 = NULL;
    assert_int_equal(cv_key_load(&k1, f->t.path, false), -ENOENT);
    assert_int_equal(cv_key_load(&k1, f->t.path, true), 0);
    struct stat st;
    assert_int_equal(stat(f->t.path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    /* Nothing left behind but the key (no temporary file). */
    DIR *d = opendir(f->t.dir);
    assert_non_null(d);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            assert_string_equal(e->d_name, "server.key");
            files++;
        }
    closedir(d);
    assert_int_equal(files, 1);
    assert_int_equal(cv_key_load(&k2, f->t.path, false), 0);
    for (int p = 0; p < CV_KEY__COUNT; p++)
        assert_memory_equal(cv_key_sub(k1, (cv_key_purpose)p), cv_key_sub(k2, (cv_key_purpose)p), CV_SUBKEY_BYTES);
    /* A value sealed with the created key opens with the loaded one. */
    char sealed[256], pt[64];
    assert_true(cv_key_seal(k1, "ctx", "hello", 5, sealed, sizeof(sealed)) > 0);
    assert_int_equal(cv_key_open(k2, "ctx", sealed, pt, sizeof(pt)), 5);
    assert_string_equal(pt, "hello");
    cv_key_free(k1);
    cv_key_free(k2);
    /* create=true on an existing file loads it rather than replacing it. */
    uint8_t before[32], after[32];
    int fd = open(f->t.path, O_RDONLY);
    assert_int_equal(read(fd, before, 32), 32);
    close(fd);
    assert_int_equal(cv_key_load(&k1, f->t.path, true), 0);
    fd = open(f->t.path, O_RDONLY);
    assert_int_equal(read(fd, after, 32), 32);
    close(fd);
    assert_memory_equal(before, after, 32);
    cv_key_free(k1);
}

static void test_key_two_files_differ(void **state)
{
    fixture *f = *state;
    char other[160];
    snprintf(other, sizeof(other), "%s/other.key", f->t.dir);
    cv_key *k1 = NULL, *k2 = NULL;
    assert_int_equal(cv_key_load(&k1, f->t.path, true), 0);
    assert_int_equal(cv_key_load(&k2, other, true), 0);
    assert_memory_not_equal(cv_key_sub(k1, CV_KEY_SEAL), cv_key_sub(k2, CV_KEY_SEAL), CV_SUBKEY_BYTES);
    cv_key_free(k1);
    cv_key_free(k2);
    unlink(other);
}

static void test_key_refuses_readable_file(void **state)
{
    fixture *f = *state;
    uint8_t b[32] = {1};
    cv_key *k = NULL;
    write_file(f->t.path, b, sizeof(b), 0644);
    /* The refusal names the file and the fix. */
    char logpath[160];
    snprintf(logpath, sizeof(logpath), "%s/log", f->t.dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int lfd = open(logpath, O_CREAT | O_TRUNC | O_RDWR, 0600);
    assert_true(saved >= 0 && lfd >= 0);
    dup2(lfd, STDERR_FILENO);
    int r = cv_key_load(&k, f->t.path, true);
    dup2(saved, STDERR_FILENO);
    close(saved);
    assert_int_equal(r, -EPERM);
    char logbuf[512] = "", want[256];
    assert_true(pread(lfd, logbuf, sizeof(logbuf) - 1, 0) > 0);
    close(lfd);
    unlink(logpath);
    snprintf(want, sizeof(want), "server key %s is readable by others; chmod 600 it", f->t.path);
    assert_non_null(strstr(logbuf, want));
    assert_null(k);
    assert_int_equal(chmod(f->t.path, 0640), 0);
    assert_int_equal(cv_key_load(&k, f->t.path, false), -EPERM);
    assert_int_equal(chmod(f->t.path, 0600), 0);
    assert_int_equal(cv_key_load(&k, f->t.path, false), 0);
    cv_key_free(k);
}

static void test_key_refuses_wrong_size(void **state)
{
    fixture *f = *state;
    uint8_t b[33] = {1};
    cv_key *k = NULL;
    write_file(f->t.path, b, 31, 0600);
    assert_int_equal(cv_key_load(&k, f->t.path, true), -EINVAL);
    write_file(f->t.path, b, 0, 0600);
    assert_int_equal(cv_key_load(&k, f->t.path, true), -EINVAL);
    write_file(f->t.path, b, 33, 0600);
    assert_int_equal(cv_key_load(&k, f->t.path, false), -EINVAL);
    assert_null(k);
}

static void test_key_refuses_directory(void **state)
{
    fixture *f = *state;
    cv_key *k = NULL;
    /* A directory is never a key, whatever its mode. */
    assert_int_equal(cv_key_load(&k, f->t.dir, true), -EINVAL);
    assert_null(k);
}

static void test_key_subkeys_distinct(void **state)
{
    (void)state;
    cv_key *k = key_of(7);
    for (int a = 0; a < CV_KEY__COUNT; a++)
        for (int b = a + 1; b < CV_KEY__COUNT; b++)
            assert_memory_not_equal(cv_key_sub(k, (cv_key_purpose)a), cv_key_sub(k, (cv_key_purpose)b),
                                    CV_SUBKEY_BYTES);
    assert_null(cv_key_sub(k, CV_KEY__COUNT));
    /* Derivation is deterministic. */
    cv_key *k2 = key_of(7);
    assert_memory_equal(cv_key_sub(k, CV_KEY_TOKEN), cv_key_sub(k2, CV_KEY_TOKEN), CV_SUBKEY_BYTES);
    cv_key_free(k);
    cv_key_free(k2);
}

static void test_key_seal_roundtrip(void **state)
{
    (void)state;
    cv_key *k = key_of(1);
    const char *msg = "rtsp://admin:secret@192.0.2.10/stream1";
    size_t len = strlen(msg);
    char sealed[256], pt[128];
    int n = cv_key_seal(k, "ingest:abc", msg, len, sealed, sizeof(sealed));
    assert_true(n > 0);
    assert_int_equal((size_t)n, strlen(sealed));
    assert_memory_equal(sealed, "s1.", 3);
    for (int i = 3; i < n; i++) {
        char c = sealed[i];
        assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_');
    }
    assert_int_equal(cv_key_open(k, "ingest:abc", sealed, pt, sizeof(pt)), (int)len);
    assert_string_equal(pt, msg);
    /* Sealing twice gives different strings (random nonce). */
    char sealed2[256];
    assert_int_equal(cv_key_seal(k, "ingest:abc", msg, len, sealed2, sizeof(sealed2)), n);
    assert_string_not_equal(sealed, sealed2);
    /* Empty plaintext and NULL ad (same as ""). */
    n = cv_key_seal(k, NULL, "", 0, sealed, sizeof(sealed));
    assert_true(n > 0);
    assert_int_equal(cv_key_open(k, "", sealed, pt, sizeof(pt)), 0);
    assert_string_equal(pt, "");
    /* Binary plaintext with a NUL inside. */
    const uint8_t bin[5] = {0, 1, 2, 0, 255};
    assert_true(cv_key_seal(k, "b", bin, sizeof(bin), sealed, sizeof(sealed)) > 0);
    uint8_t out[5];
    assert_int_equal(cv_key_open(k, "b", sealed, out, sizeof(out)), 5); /* no room for NUL: fine */
    assert_memory_equal(out, bin, 5);
    cv_key_free(k);
}

static void test_key_open_refuses(void **state)
{
    (void)state;
    cv_key *k = key_of(1), *other = key_of(2);
    char sealed[256], pt[128];
    int n = cv_key_seal(k, "ingest:abc", "password1", 9, sealed, sizeof(sealed));
    assert_true(n > 0);
    assert_int_equal(cv_key_open(k, "ingest:abd", sealed, pt, sizeof(pt)), -EBADMSG);
    assert_int_equal(cv_key_open(k, "", sealed, pt, sizeof(pt)), -EBADMSG);
    assert_int_equal(cv_key_open(other, "ingest:abc", sealed, pt, sizeof(pt)), -EBADMSG);
    /* Every single-bit flip (a flip to NUL is a truncation). */
    for (int i = 0; i < n; i++)
        for (int bit = 0; bit < 8; bit++) {
            char t[256];
            memcpy(t, sealed, (size_t)n + 1);
            t[i] = (char)(t[i] ^ (1 << bit));
            assert_int_equal(cv_key_open(k, "ingest:abc", t, pt, sizeof(pt)), -EBADMSG);
        }
    /* Every truncation, and an extension. */
    for (int i = 0; i < n; i++) {
        char t[256];
        memcpy(t, sealed, (size_t)i);
        t[i] = '\0';
        assert_int_equal(cv_key_open(k, "ingest:abc", t, pt, sizeof(pt)), -EBADMSG);
    }
    char t[260];
    snprintf(t, sizeof(t), "%sA", sealed);
    assert_int_equal(cv_key_open(k, "ingest:abc", t, pt, sizeof(pt)), -EBADMSG);
    snprintf(t, sizeof(t), "s2.%s", sealed + 3);
    assert_int_equal(cv_key_open(k, "ingest:abc", t, pt, sizeof(pt)), -EBADMSG);
    assert_int_equal(cv_key_open(k, "ingest:abc", "", pt, sizeof(pt)), -EBADMSG);
    assert_int_equal(cv_key_open(k, "ingest:abc", "s1.", pt, sizeof(pt)), -EBADMSG);
    assert_int_equal(cv_key_open(k, "ingest:abc", "s1.!!!!", pt, sizeof(pt)), -EBADMSG);
    /* Still opens untouched. */
    assert_int_equal(cv_key_open(k, "ingest:abc", sealed, pt, sizeof(pt)), 9);
    cv_key_free(k);
    cv_key_free(other);
}

static void test_key_seal_nospace(void **state)
{
    (void)state;
    cv_key *k = key_of(1);
    char sealed[256], pt[16];
    int n = cv_key_seal(k, "a", "0123456789", 10, sealed, sizeof(sealed));
    assert_true(n > 0);
    /* Exactly enough room is n + 1 bytes. */
    char exact[256];
    assert_int_equal(cv_key_seal(k, "a", "0123456789", 10, exact, (size_t)n + 1), n);
    assert_int_equal(cv_key_seal(k, "a", "0123456789", 10, exact, (size_t)n), -ENOSPC);
    assert_int_equal(cv_key_seal(k, "a", "0123456789", 10, exact, 0), -ENOSPC);
    assert_int_equal(cv_key_open(k, "a", sealed, pt, 9), -ENOSPC);
    assert_int_equal(cv_key_open(k, "a", sealed, pt, 10), 10);
    assert_memory_equal(pt, "0123456789", 10);
    assert_int_equal(cv_key_open(k, "a", sealed, pt, 11), 10);
    assert_string_equal(pt, "0123456789");
    cv_key_free(k);
}

static void test_key_hash32(void **state)
{
    (void)state;
    uint8_t a[32], b[32], c[32];
    cv_hash32("abc", 3, a);
    cv_hash32("abc", 3, b);
    cv_hash32("abd", 3, c);
    assert_memory_equal(a, b, 32);
    assert_memory_not_equal(a, c, 32);
    /* BLAKE2b-256("abc") */
    static const uint8_t want[32] = {0xbd, 0xdd, 0x81, 0x3c, 0x63, 0x42, 0x39, 0x72, 0x31, 0x71, 0xef,
                                     0x3f, 0xee, 0x98, 0x57, 0x9b, 0x94, 0x96, 0x4e, 0x3b, 0xb1, 0xcb,
                                     0x3e, 0x42, 0x72, 0x62, 0xc8, 0xc0, 0x68, 0xd5, 0x23, 0x19};
    assert_memory_equal(a, want, 32);
}

static void test_key_random_secret(void **state)
{
    (void)state;
    char a[64], b[64];
    assert_int_equal(cv_random_secret(32, a, sizeof(a)), 43);
    assert_int_equal(strlen(a), 43);
    assert_int_equal(cv_random_secret(32, b, sizeof(b)), 43);
    assert_string_not_equal(a, b);
    for (size_t i = 0; i < 43; i++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
    assert_int_equal(cv_random_secret(32, a, 43), -ENOSPC);
    assert_int_equal(cv_random_secret(32, a, 44), 43);
    assert_int_equal(cv_random_secret(0, a, 1), 0);
    assert_string_equal(a, "");
    /* Longer than one internal chunk. */
    char big[200];
    assert_int_equal(cv_random_secret(100, big, sizeof(big)), 134);
    assert_int_equal(strlen(big), 134);
    assert_int_equal(cv_random_secret(100, big, 134), -ENOSPC);
}

int main(void)
{
    if (cv_id_init() != 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_create_then_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_two_files_differ, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_refuses_readable_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_refuses_wrong_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_refuses_directory, setup, teardown),
        cmocka_unit_test(test_key_subkeys_distinct),
        cmocka_unit_test(test_key_seal_roundtrip),
        cmocka_unit_test(test_key_open_refuses),
        cmocka_unit_test(test_key_seal_nospace),
        cmocka_unit_test(test_key_hash32),
        cmocka_unit_test(test_key_random_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
