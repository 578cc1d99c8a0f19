#include "base/id.h"

#include <sodium.h>

#include "base/util.h"

int cv_id_init(void) { return sodium_init() < 0 ? -1 : 0; }

void cv_id_random(cv_id *out)
{
    do
        randombytes_buf(out->b, sizeof(out->b));
    while (cv_id_is_zero(out));
}

bool cv_id_is_zero(const cv_id *id)
{
    return sodium_is_zero(id->b, sizeof(id->b)) == 1;
}

void cv_id_to_hex(const cv_id *id, char out[CV_ID_HEX_LEN + 1])
{
    sodium_bin2hex(out, CV_ID_HEX_LEN + 1, id->b, CV_ID_BYTES);
}

int cv_id_from_hex(const char *s, size_t len, cv_id *out)
{
    if (len != CV_ID_HEX_LEN)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return -1;
    }
    return cv_hex_decode(s, len, out->b, CV_ID_BYTES) == CV_ID_BYTES ? 0 : -1;
}
