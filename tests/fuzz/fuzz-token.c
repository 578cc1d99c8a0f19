/* Fuzzes the capability token decoder (and the sealed-value opener, which
 * parses the same kind of base64url text) with a fixed server key. A token
 * that decodes must re-encode to exactly the input: one token, one spelling.
 * The corpus (tests/fuzz/corpus/fuzz-token/) holds tokens made with this key,
 * so the fuzzer starts past the tag check. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/key.h"
#include "auth/token.h"
#include "base/id.h"

#include "fuzz-check.h"

/* The fuzz key: bytes 0, 1, 2, ... 31. */
static cv_key *fuzz_key(void)
{
    static cv_key *k;
    if (!k) {
        uint8_t b[32];
        for (int i = 0; i < 32; i++)
            b[i] = (uint8_t)i;
        CHECK(cv_id_init() == 0);
        CHECK(cv_key_from_bytes(&k, b) == 0);
    }
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const cv_key *k = fuzz_key();
    cv_token t;
    int r = cv_token_decode(k, (const char *)data, size, &t);
    CHECK(r == 0 || r == -EBADMSG || r == -EACCES);
    if (r == 0) {
        CHECK(t.kind == CV_PRINCIPAL_USER || t.kind == CV_PRINCIPAL_INTEGRATION);
        CHECK(t.scopes >= 1 && t.scopes <= 3);
        char out[CV_TOKEN_MAX];
        int n = cv_token_encode(k, &t, out, sizeof(out));
        if (n < 0 || (size_t)n != size || memcmp(out, data, size) != 0)
            abort();
        uint8_t h[32];
        cv_token_hash(&t, h);
    }

    /* The same bytes as a sealed string (up to the first NUL). */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    uint8_t pt[256];
    r = cv_key_open(k, "fuzz", s, pt, sizeof(pt));
    CHECK(r == -EBADMSG || r == -ENOSPC || (r >= 0 && (size_t)r <= sizeof(pt)));
    if (r >= 0) {
        /* Sealing it again must open to the same plaintext. */
        char again[512];
        uint8_t pt2[256];
        CHECK(cv_key_seal(k, "fuzz", pt, (size_t)r, again, sizeof(again)) > 0);
        CHECK(cv_key_open(k, "fuzz", again, pt2, sizeof(pt2)) == r);
        CHECK(memcmp(pt, pt2, (size_t)r) == 0);
    }
    free(s);
    return 0;
}
