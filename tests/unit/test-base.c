/* Tests for src/base: string views, the bounded reader, hex/base64,
 * identifiers and the growable string buffer. */
#include <errno.h>
#include <arpa/inet.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/addr.h"
#include "base/id.h"
#include "base/sbuf.h"
#include "base/util.h"

/* The sbuf cases ask for absurd allocations on purpose: under ASan they must
 * fail like malloc does (NULL), not abort the process. */
#if defined(__SANITIZE_ADDRESS__)
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

/* Runs fn in a child (bounded by an alarm) so that a crash or a hang fails
 * this case instead of the whole suite. Returns true when fn returned true. */
static bool child_ok(bool (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would longjmp back into the parent's harness. */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS};
        for (size_t i = 0; i < CV_ARRAY_LEN(sigs); i++)
            signal(sigs[i], SIG_DFL);
        alarm(5);
        _exit(fn() ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        print_error("child died with signal %d\n", WTERMSIG(st));
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* --- cv_str --- */

static void test_util_str_from_and_eq(void **state)
{
    (void)state;
    cv_str s = cv_str_from("abc");
    assert_int_equal(s.len, 3);
    assert_true(cv_str_eq(s, CV_STR_LIT("abc")));
    assert_false(cv_str_eq(s, CV_STR_LIT("abd")));
    assert_false(cv_str_eq(s, CV_STR_LIT("ab")));
    assert_false(cv_str_eq(s, CV_STR_LIT("abcd")));

    assert_int_equal(cv_str_from(NULL).len, 0);
    assert_true(cv_str_eq(cv_str_from(""), CV_STR_LIT("")));

    /* A view is bounded by its length, not by a NUL. */
    const char buf[] = {'a', 'b', 'c', 'X'};
    assert_true(cv_str_eq((cv_str){buf, 3}, CV_STR_LIT("abc")));
}

static bool eq_null_views(void)
{
    /* cv_str_from(NULL) is a valid empty view; comparing it must not hand
     * NULL to memcmp (undefined even for length 0; UBSan aborts here). */
    cv_str n = cv_str_from(NULL);
    return cv_str_eq(n, CV_STR_LIT("")) && cv_str_eq(CV_STR_LIT(""), n) && cv_str_eq(n, n) &&
           !cv_str_eq(n, CV_STR_LIT("a"));
}

static void test_util_str_eq_accepts_null_empty_view(void **state)
{
    (void)state;
    assert_true(child_ok(eq_null_views));
}

static void test_util_str_ieq_is_ascii_case_insensitive(void **state)
{
    (void)state;
    assert_true(cv_str_ieq(CV_STR_LIT("Content-Length"), CV_STR_LIT("content-length")));
    assert_true(cv_str_ieq(CV_STR_LIT(""), CV_STR_LIT("")));
    assert_true(cv_str_ieq((cv_str){NULL, 0}, CV_STR_LIT("")));
    assert_false(cv_str_ieq(CV_STR_LIT("CSeq"), CV_STR_LIT("CSeq2")));
    assert_false(cv_str_ieq(CV_STR_LIT("CSeq2"), CV_STR_LIT("CSeq")));
    assert_false(cv_str_ieq(CV_STR_LIT("a"), CV_STR_LIT("b")));
    assert_true(cv_str_ieq_c(CV_STR_LIT("RTSP/1.0"), "rtsp/1.0"));
    assert_false(cv_str_ieq_c(CV_STR_LIT("RTSP/1.0"), "rtsp/1.00"));
    /* Bounded: the bytes after the view do not matter. */
    const char buf[] = {'A', 'B', 'z', 'z'};
    assert_true(cv_str_ieq_c((cv_str){buf, 2}, "ab"));
    /* An embedded NUL (from the network) does not end the comparison. */
    assert_false(cv_str_ieq((cv_str){"a\0b", 3}, (cv_str){"a\0c", 3}));
    assert_true(cv_str_ieq((cv_str){"A\0B", 3}, (cv_str){"a\0b", 3}));
    /* Only ASCII letters fold: not '@' vs '`', '[' vs '{', nor bytes >= 0x80. */
    assert_false(cv_str_ieq(CV_STR_LIT("@"), CV_STR_LIT("`")));
    assert_false(cv_str_ieq(CV_STR_LIT("["), CV_STR_LIT("{")));
    assert_false(cv_str_ieq(CV_STR_LIT("\xc0"), CV_STR_LIT("\xe0")));
    assert_true(cv_str_ieq(CV_STR_LIT("\xc0"), CV_STR_LIT("\xc0")));
}

static void test_util_str_trim(void **state)
{
    (void)state;
    assert_true(cv_str_eq(cv_str_trim(CV_STR_LIT("  \tvalue \t\r\n")), CV_STR_LIT("value")));
    assert_true(cv_str_eq(cv_str_trim(CV_STR_LIT("a b")), CV_STR_LIT("a b")));
    assert_true(cv_str_eq(cv_str_trim(CV_STR_LIT(" a b ")), CV_STR_LIT("a b")));
    assert_int_equal(cv_str_trim(CV_STR_LIT("")).len, 0);
    assert_int_equal(cv_str_trim(CV_STR_LIT(" \t \r\n")).len, 0);
    /* The result is a sub-view of the input, never a copy. */
    cv_str in = CV_STR_LIT("  x  ");
    cv_str out = cv_str_trim(in);
    assert_ptr_equal(out.p, in.p + 2);
    assert_int_equal(out.len, 1);
}

static void test_util_str_to_u64_accepts_decimal(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(cv_str_to_u64(CV_STR_LIT("0"), UINT64_MAX, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cv_str_to_u64(CV_STR_LIT("65535"), 65535, &v), 0);
    assert_int_equal(v, 65535);
    assert_int_equal(cv_str_to_u64(CV_STR_LIT("00000000000000000042"), 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(cv_str_to_u64(CV_STR_LIT("18446744073709551615"), UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    /* Only the view is parsed. */
    const char buf[] = "12345";
    assert_int_equal(cv_str_to_u64((cv_str){buf, 3}, 1000, &v), 0);
    assert_int_equal(v, 123);
}

static void test_util_str_to_u64_rejects_overflow_and_junk(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "18446744073709551616",  /* UINT64_MAX + 1 */
        "18446744073709551620",
        "99999999999999999999",  /* 20 digits, overflows in the multiply */
        "184467440737095516150", /* 21 digits */
        "-1", "+1", " 1", "1 ", "1a", "0x10", "1.0", "1e3",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        uint64_t v = 0xabcdef;
        assert_int_equal(cv_str_to_u64(cv_str_from(bad[i]), UINT64_MAX, &v), -1);
        assert_int_equal(v, 0xabcdef); /* untouched on error */
    }
    uint64_t v = 5;
    assert_int_equal(cv_str_to_u64(CV_STR_LIT("65536"), 65535, &v), -1);
    assert_int_equal(v, 5);
    assert_int_equal(cv_str_to_u64(CV_STR_LIT("1"), 0, &v), -1);
    assert_int_equal(cv_str_to_u64(CV_STR_LIT("0"), 0, &v), 0);
    assert_int_equal(v, 0);
    /* An embedded NUL is not a digit. */
    const char nul[] = {'1', '\0', '2'};
    assert_int_equal(cv_str_to_u64((cv_str){nul, 3}, UINT64_MAX, &v), -1);
}

/* --- cv_rd and the big-endian helpers --- */

static void test_util_rd_reads_big_endian_within_bounds(void **state)
{
    (void)state;
    const uint8_t buf[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
    cv_rd r = {buf, buf + sizeof(buf)};
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    assert_int_equal(cv_rd_left(&r), 9);
    assert_true(cv_rd_u8(&r, &u8));
    assert_int_equal(u8, 0x01);
    assert_true(cv_rd_be16(&r, &u16));
    assert_int_equal(u16, 0x0203);
    assert_true(cv_rd_be32(&r, &u32));
    assert_int_equal(u32, 0x04050607);
    assert_int_equal(cv_rd_left(&r), 2);
    assert_true(cv_rd_skip(&r, 1));
    assert_true(cv_rd_u8(&r, &u8));
    assert_int_equal(u8, 0x09);
    assert_int_equal(cv_rd_left(&r), 0);
    assert_true(cv_rd_skip(&r, 0));
}

static void test_util_rd_refuses_short_reads_without_moving(void **state)
{
    (void)state;
    const uint8_t buf[] = {0xff, 0xfe, 0xfd};
    cv_rd r = {buf, buf + 3};
    uint8_t u8 = 0x11;
    uint16_t u16 = 0x2222;
    uint32_t u32 = 0x33333333;
    assert_false(cv_rd_be32(&r, &u32));
    assert_int_equal(u32, 0x33333333);
    assert_ptr_equal(r.p, buf);
    assert_false(cv_rd_skip(&r, 4));
    assert_false(cv_rd_skip(&r, SIZE_MAX));
    assert_ptr_equal(r.p, buf);
    assert_true(cv_rd_be16(&r, &u16));
    assert_int_equal(u16, 0xfffe);
    assert_false(cv_rd_be16(&r, &u16));
    assert_int_equal(u16, 0xfffe);
    assert_ptr_equal(r.p, buf + 2);
    assert_true(cv_rd_u8(&r, &u8));
    assert_int_equal(u8, 0xfd);
    assert_false(cv_rd_u8(&r, &u8));
    assert_false(cv_rd_be16(&r, &u16));
    assert_false(cv_rd_be32(&r, &u32));
    assert_false(cv_rd_skip(&r, 1));
    assert_int_equal(cv_rd_left(&r), 0);

    cv_rd empty = {buf, buf};
    assert_false(cv_rd_u8(&empty, &u8));
    assert_int_equal(cv_rd_left(&empty), 0);
}

static void test_util_be_write_read_roundtrip(void **state)
{
    (void)state;
    uint8_t b[4];
    cv_wr_be16(b, 0xbeef);
    assert_int_equal(b[0], 0xbe);
    assert_int_equal(b[1], 0xef);
    assert_int_equal(cv_be16(b), 0xbeef);
    cv_wr_be32(b, 0xdeadbeef);
    assert_memory_equal(b, ((const uint8_t[]){0xde, 0xad, 0xbe, 0xef}), 4);
    assert_int_equal(cv_be32(b), 0xdeadbeef);
    cv_wr_be32(b, 0);
    assert_int_equal(cv_be32(b), 0);
    /* High bytes must not sign-extend. */
    const uint8_t hi[] = {0x80, 0x00, 0x00, 0x01};
    assert_true(cv_be32(hi) == 0x80000001u);
    assert_int_equal(CV_MIN(3, 4), 3);
    assert_int_equal(CV_MAX(3, 4), 4);
}

static void test_util_clocks_are_sane(void **state)
{
    (void)state;
    int64_t a = cv_now_us();
    int64_t b = cv_now_us();
    assert_true(b >= a);
    /* After 2020-01-01. */
    assert_true(cv_wall_us() > INT64_C(1577836800) * 1000000);
}

/* --- hex and base64 --- */

static void test_util_hex_roundtrip_and_bounds(void **state)
{
    (void)state;
    const uint8_t in[] = {0x00, 0x01, 0xab, 0xff};
    char out[9];
    assert_int_equal(cv_hex_encode(in, 4, out, sizeof(out)), 8);
    assert_string_equal(out, "0001abff");
    assert_int_equal(cv_hex_encode(in, 4, out, 8), -1); /* no room for the NUL */
    assert_int_equal(cv_hex_encode(in, 0, out, 1), 0);
    assert_string_equal(out, "");

    uint8_t dec[4];
    assert_int_equal(cv_hex_decode("0001abff", 8, dec, sizeof(dec)), 4);
    assert_memory_equal(dec, in, 4);
    assert_int_equal(cv_hex_decode("0001ABFF", 8, dec, sizeof(dec)), 4);
    assert_memory_equal(dec, in, 4);
    assert_int_equal(cv_hex_decode("", 0, dec, sizeof(dec)), 0);
}

static void test_util_hex_decode_rejects_bad_input(void **state)
{
    (void)state;
    uint8_t dec[8];
    assert_int_equal(cv_hex_decode("abc", 3, dec, sizeof(dec)), -1);        /* odd */
    assert_int_equal(cv_hex_decode("zz", 2, dec, sizeof(dec)), -1);         /* not hex */
    assert_int_equal(cv_hex_decode("0g", 2, dec, sizeof(dec)), -1);
    assert_int_equal(cv_hex_decode("00 11", 5, dec, sizeof(dec)), -1);
    assert_int_equal(cv_hex_decode("00:1", 4, dec, sizeof(dec)), -1);
    assert_int_equal(cv_hex_decode("0011223344", 10, dec, 4), -1);         /* too long for out */
    const char nul[] = {'0', '0', '\0', '1'};
    assert_int_equal(cv_hex_decode(nul, 4, dec, sizeof(dec)), -1);
}

static void test_util_b64_rfc4648_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *enc;
    } v[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(v); i++) {
        size_t plen = strlen(v[i].plain), elen = strlen(v[i].enc);
        char out[16];
        assert_int_equal(cv_b64_encode((const uint8_t *)v[i].plain, plen, out, elen + 1), (int)elen);
        assert_string_equal(out, v[i].enc);
        assert_int_equal(cv_b64_encode((const uint8_t *)v[i].plain, plen, out, elen), -1);
        uint8_t dec[16];
        assert_int_equal(cv_b64_decode(v[i].enc, elen, dec, sizeof(dec)), (int)plen);
        assert_memory_equal(dec, v[i].plain, plen);
    }
    /* Binary bytes that use '+' and '/'. */
    const uint8_t bin[] = {0xfb, 0xff, 0xbf};
    char out[8];
    assert_int_equal(cv_b64_encode(bin, 3, out, sizeof(out)), 4);
    assert_string_equal(out, "+/+/");
}

static void test_util_b64_decode_accepts_missing_padding(void **state)
{
    (void)state;
    uint8_t dec[8];
    assert_int_equal(cv_b64_decode("Zg", 2, dec, sizeof(dec)), 1);
    assert_int_equal(dec[0], 'f');
    assert_int_equal(cv_b64_decode("Zm8", 3, dec, sizeof(dec)), 2);
    assert_memory_equal(dec, "fo", 2);
    assert_int_equal(cv_b64_decode("Zm9vYmE", 7, dec, sizeof(dec)), 5);
    assert_memory_equal(dec, "fooba", 5);
}

static void test_util_b64_decode_rejects_bad_input(void **state)
{
    (void)state;
    uint8_t dec[16];
    static const char *const bad[] = {
        "Zg=",      /* half padding */
        "Z",        /* one char cannot encode a byte */
        "Zm9v!",    /* not in the alphabet */
        "Zm9v Zm9v",
        "Zm9v\n",
        "Zm-_",     /* URL-safe alphabet */
        "Zg==Zg==", /* data after padding */
        "=Zg=",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++)
        assert_int_equal(cv_b64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec)), -1);
    /* Decoded bytes beyond cap are refused, not truncated. */
    assert_int_equal(cv_b64_decode("Zm9vYmFy", 8, dec, 5), -1);
    assert_int_equal(cv_b64_decode("Zm9vYmFy", 8, dec, 6), 6);
}

/* --- cv_id --- */

static void test_id_random_is_nonzero_and_unique(void **state)
{
    (void)state;
    cv_id a, b, z;
    memset(&z, 0, sizeof(z));
    assert_true(cv_id_is_zero(&z));
    cv_id_random(&a);
    cv_id_random(&b);
    assert_false(cv_id_is_zero(&a));
    assert_false(cv_id_is_zero(&b));
    assert_false(cv_id_eq(&a, &b));
    assert_true(cv_id_eq(&a, &a));
    cv_id c = a;
    c.b[CV_ID_BYTES - 1] ^= 1; /* the last byte counts too */
    assert_false(cv_id_eq(&a, &c));
    c = a;
    c.b[0] ^= 0x80;
    assert_false(cv_id_eq(&a, &c));
    z.b[7] = 1;
    assert_false(cv_id_is_zero(&z));
}

static void test_id_hex_roundtrip(void **state)
{
    (void)state;
    cv_id a, b;
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_random(&a);
    memset(hex, 'X', sizeof(hex));
    cv_id_to_hex(&a, hex);
    assert_int_equal(strlen(hex), CV_ID_HEX_LEN);
    for (size_t i = 0; i < CV_ID_HEX_LEN; i++)
        assert_non_null(strchr("0123456789abcdef", hex[i]));
    assert_int_equal(cv_id_from_hex(hex, CV_ID_HEX_LEN, &b), 0);
    assert_true(cv_id_eq(&a, &b));

    cv_id k;
    for (size_t i = 0; i < CV_ID_BYTES; i++)
        k.b[i] = (uint8_t)(0x10 * i + i);
    cv_id_to_hex(&k, hex);
    assert_string_equal(hex, "00112233445566778899aabbccddeeff");
    /* Upper case parses to the same id; no NUL is needed after 32 chars. */
    const char up[] = "00112233445566778899AABBCCDDEEFF-trailing";
    assert_int_equal(cv_id_from_hex(up, CV_ID_HEX_LEN, &b), 0);
    assert_true(cv_id_eq(&k, &b));
}

static void test_id_from_hex_rejects_malformed(void **state)
{
    (void)state;
    cv_id out, before;
    memset(&out, 0x5a, sizeof(out));
    before = out;
    const char good[] = "00112233445566778899aabbccddeeff";
    assert_int_equal(cv_id_from_hex(good, 31, &out), -1);
    assert_int_equal(cv_id_from_hex(good, 0, &out), -1);
    assert_int_equal(cv_id_from_hex("00112233445566778899aabbccddeeff0", 33, &out), -1);
    static const char *const bad[] = {
        "00112233445566778899aabbccddeefg",
        "0x112233445566778899aabbccddeeff",
        "00112233445566778899aabbccddee f",
        "-0112233445566778899aabbccddeeff",
        "00112233445566778899aabbccddee:f",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++)
        assert_int_equal(cv_id_from_hex(bad[i], CV_ID_HEX_LEN, &out), -1);
    char nul[CV_ID_HEX_LEN];
    memcpy(nul, good, sizeof(nul));
    nul[10] = '\0';
    assert_int_equal(cv_id_from_hex(nul, CV_ID_HEX_LEN, &out), -1);
    assert_true(cv_id_eq(&out, &before));
}

/* --- cv_sbuf --- */

static void test_sbuf_grows_and_stays_terminated(void **state)
{
    (void)state;
    cv_sbuf b;
    cv_sbuf_init(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_true(cv_sbuf_ok(&b));
    cv_sbuf_append(&b, NULL, 0);
    assert_true(cv_sbuf_ok(&b));
    assert_non_null(b.p);
    assert_string_equal(b.p, "");

    cv_sbuf_puts(&b, "RTSP/1.0 200 OK\r\n");
    assert_string_equal(b.p, "RTSP/1.0 200 OK\r\n");
    /* Grow well past the first allocation, through several doublings. */
    char chunk[100];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 50; i++)
        cv_sbuf_append(&b, chunk, sizeof(chunk));
    assert_true(cv_sbuf_ok(&b));
    assert_int_equal(b.len, 17 + 5000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.p[b.len], '\0');
    assert_int_equal(strlen(b.p), b.len);
    assert_memory_equal(b.p, "RTSP/1.0 200 OK\r\n", 17);
    for (size_t i = 17; i < b.len; i++)
        assert_int_equal(b.p[i], 'x');
    /* Binary data with NULs keeps its length. */
    cv_sbuf_reset(&b);
    cv_sbuf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.p, "a\0b", 4);
    cv_sbuf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    cv_sbuf_free(&b); /* twice is harmless */
}

static void test_sbuf_printf_formats_and_grows(void **state)
{
    (void)state;
    cv_sbuf b;
    cv_sbuf_init(&b);
    cv_sbuf_printf(&b, "CSeq: %d\r\n", 42);
    cv_sbuf_printf(&b, "Session: %s;timeout=%u\r\n", "abcdef", 60u);
    assert_string_equal(b.p, "CSeq: 42\r\nSession: abcdef;timeout=60\r\n");
    cv_sbuf_printf(&b, "%s", "");
    assert_int_equal(b.len, strlen("CSeq: 42\r\nSession: abcdef;timeout=60\r\n"));

    /* One printf larger than several doublings of the buffer. */
    char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    size_t before = b.len;
    cv_sbuf_printf(&b, "[%s]", big);
    assert_true(cv_sbuf_ok(&b));
    assert_int_equal(b.len, before + 2 + 2999);
    assert_int_equal(b.p[before], '[');
    assert_int_equal(b.p[b.len - 1], ']');
    assert_int_equal(b.p[b.len], '\0');
    assert_int_equal(strlen(b.p), b.len);
    cv_sbuf_free(&b);
}

static void test_sbuf_reset_keeps_memory(void **state)
{
    (void)state;
    cv_sbuf b;
    cv_sbuf_init(&b);
    cv_sbuf_puts(&b, "hello world");
    char *p = b.p;
    size_t cap = b.cap;
    cv_sbuf_reset(&b);
    assert_ptr_equal(b.p, p);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.p, "");
    cv_sbuf_puts(&b, "again");
    assert_string_equal(b.p, "again");
    assert_ptr_equal(b.p, p);
    cv_sbuf_free(&b);

    cv_sbuf e;
    cv_sbuf_init(&e);
    cv_sbuf_reset(&e); /* reset of a never-used buffer */
    assert_null(e.p);
    assert_true(cv_sbuf_ok(&e));
    cv_sbuf_free(&e);
}

static void test_sbuf_limit_sets_sticky_oom(void **state)
{
    (void)state;
    cv_sbuf b;
    cv_sbuf_init(&b);
    b.limit = 8; /* bytes including the terminating NUL */
    cv_sbuf_append(&b, "1234567", 7);
    assert_true(cv_sbuf_ok(&b));
    assert_string_equal(b.p, "1234567");
    cv_sbuf_append(&b, "8", 1);
    assert_false(cv_sbuf_ok(&b));
    /* The failed append wrote nothing; the accepted prefix is intact. */
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.p, "1234567", 7);
    /* Sticky: even an append that would fit is refused now. */
    cv_sbuf_append(&b, "", 0);
    cv_sbuf_puts(&b, "");
    cv_sbuf_printf(&b, "%s", "");
    assert_false(cv_sbuf_ok(&b));
    assert_int_equal(b.len, 7);
    /* reset starts a fresh message. */
    cv_sbuf_reset(&b);
    assert_true(cv_sbuf_ok(&b));
    cv_sbuf_printf(&b, "%d", 1234567);
    assert_true(cv_sbuf_ok(&b));
    assert_string_equal(b.p, "1234567");
    cv_sbuf_reset(&b);
    cv_sbuf_printf(&b, "%d", 12345678);
    assert_false(cv_sbuf_ok(&b));
    assert_int_equal(b.len, 0);
    cv_sbuf_free(&b);
    assert_true(cv_sbuf_ok(&b));

    /* A limit larger than the first allocation still applies after growth. */
    cv_sbuf g;
    cv_sbuf_init(&g);
    g.limit = 1000;
    char chunk[100];
    memset(chunk, 'z', sizeof(chunk));
    for (int i = 0; i < 9; i++)
        cv_sbuf_append(&g, chunk, sizeof(chunk));
    assert_true(cv_sbuf_ok(&g));
    cv_sbuf_append(&g, chunk, 99);
    assert_true(cv_sbuf_ok(&g));
    assert_int_equal(g.len, 999);
    cv_sbuf_append(&g, "z", 1);
    assert_false(cv_sbuf_ok(&g));
    assert_int_equal(g.len, 999);
    cv_sbuf_free(&g);
}

static bool append_size_max(void)
{
    cv_sbuf b;
    cv_sbuf_init(&b);
    cv_sbuf_puts(&b, "abc");
    static const char one[1] = {'x'};
    /* len + extra + 1 does not fit in size_t: must fail without copying. */
    cv_sbuf_append(&b, one, SIZE_MAX);
    bool ok = !cv_sbuf_ok(&b) && b.len == 3;
    cv_sbuf_free(&b);
    return ok;
}

static bool append_above_half_of_size_max(void)
{
    cv_sbuf b;
    cv_sbuf_init(&b);
    static const char one[1] = {'x'};
    /* Needs more than 2^63 bytes: doubling the capacity must not wrap. */
    cv_sbuf_append(&b, one, SIZE_MAX / 2 + 1);
    bool ok = !cv_sbuf_ok(&b) && b.len == 0;
    cv_sbuf_free(&b);
    return ok;
}

static void test_sbuf_append_size_max_sets_oom(void **state)
{
    (void)state;
    assert_true(child_ok(append_size_max));
}

static void test_sbuf_append_beyond_half_address_space_sets_oom(void **state)
{
    (void)state;
    assert_true(child_ok(append_above_half_of_size_max));
}

static void test_addr_from_ip(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char ip[64];
    assert_int_equal(cv_addr_from_ip("127.0.0.1", 8554, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(cv_addr_port(&ss), 8554);
    assert_true(cv_addr_is_loopback(&ss));
    assert_int_equal(cv_addr_from_ip("::1", 0, &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    cv_addr_ip(&ss, ip, sizeof(ip));
    assert_string_equal(ip, "::1");
    assert_int_equal(cv_addr_from_ip("localhost", 1, &ss), -EINVAL);
    assert_int_equal(cv_addr_from_ip("", 1, &ss), -EINVAL);
    assert_int_equal(cv_addr_from_ip("1.2.3.4.5", 1, &ss), -EINVAL);
}

static void test_addr_host_port_and_ip(void **state)
{
    (void)state;
    struct sockaddr_storage a = {0}, b = {0}, c6 = {0};
    struct sockaddr_in *a4 = (struct sockaddr_in *)&a, *b4 = (struct sockaddr_in *)&b;
    a4->sin_family = b4->sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &a4->sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &b4->sin_addr);
    cv_addr_set_port(&a, 8554);
    cv_addr_set_port(&b, 9);
    assert_int_equal(cv_addr_port(&a), 8554);
    assert_true(cv_addr_same_host((struct sockaddr *)&a, &b)); /* ports do not matter */
    assert_true(cv_addr_is_loopback(&a));
    assert_int_equal(cv_addr_len(&a), sizeof(struct sockaddr_in));
    char ip[64];
    cv_addr_ip(&a, ip, sizeof(ip));
    assert_string_equal(ip, "127.0.0.1");
    inet_pton(AF_INET, "10.1.2.3", &b4->sin_addr);
    assert_false(cv_addr_same_host((struct sockaddr *)&a, &b));
    assert_false(cv_addr_is_loopback(&b));
    assert_false(cv_addr_same_host(NULL, &b));

    struct sockaddr_in6 *c = (struct sockaddr_in6 *)&c6;
    c->sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::1", &c->sin6_addr);
    cv_addr_set_port(&c6, 65535);
    assert_int_equal(cv_addr_port(&c6), 65535);
    assert_int_equal(cv_addr_len(&c6), sizeof(struct sockaddr_in6));
    assert_true(cv_addr_is_loopback(&c6));
    assert_false(cv_addr_same_host((struct sockaddr *)&a, &c6)); /* families differ */
    cv_addr_ip(&c6, ip, sizeof(ip));
    assert_string_equal(ip, "::1");
    struct sockaddr_storage u = {0};
    cv_addr_ip(&u, ip, sizeof(ip));
    assert_string_equal(ip, "?");
}

int main(void)
{
    if (cv_id_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_host_port_and_ip),
        cmocka_unit_test(test_addr_from_ip),
        cmocka_unit_test(test_util_str_from_and_eq),
        cmocka_unit_test(test_util_str_eq_accepts_null_empty_view),
        cmocka_unit_test(test_util_str_ieq_is_ascii_case_insensitive),
        cmocka_unit_test(test_util_str_trim),
        cmocka_unit_test(test_util_str_to_u64_accepts_decimal),
        cmocka_unit_test(test_util_str_to_u64_rejects_overflow_and_junk),
        cmocka_unit_test(test_util_rd_reads_big_endian_within_bounds),
        cmocka_unit_test(test_util_rd_refuses_short_reads_without_moving),
        cmocka_unit_test(test_util_be_write_read_roundtrip),
        cmocka_unit_test(test_util_clocks_are_sane),
        cmocka_unit_test(test_util_hex_roundtrip_and_bounds),
        cmocka_unit_test(test_util_hex_decode_rejects_bad_input),
        cmocka_unit_test(test_util_b64_rfc4648_vectors),
        cmocka_unit_test(test_util_b64_decode_accepts_missing_padding),
        cmocka_unit_test(test_util_b64_decode_rejects_bad_input),
        cmocka_unit_test(test_id_random_is_nonzero_and_unique),
        cmocka_unit_test(test_id_hex_roundtrip),
        cmocka_unit_test(test_id_from_hex_rejects_malformed),
        cmocka_unit_test(test_sbuf_grows_and_stays_terminated),
        cmocka_unit_test(test_sbuf_printf_formats_and_grows),
        cmocka_unit_test(test_sbuf_reset_keeps_memory),
        cmocka_unit_test(test_sbuf_limit_sets_sticky_oom),
        cmocka_unit_test(test_sbuf_append_size_max_sets_oom),
        cmocka_unit_test(test_sbuf_append_beyond_half_address_space_sets_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
