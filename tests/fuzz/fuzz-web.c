/* cv_web_map_path: the request path checker of the web app's static files.
 * The input is a path (a leading '~' stands for "/app/", so the fuzzer
 * spends its time past the prefix). Oracle: an accepted path is
 * relative, of allowed characters only ([A-Za-z0-9._/-]), has no "..",
 * "//" or segment starting with '.', does not end in '/', and reaches
 * node_modules/ only through an allowlisted package. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz-check.h"
#include "web/web.h"

static bool char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '/' || c == '-';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[600];
    size_t n = 0;
    if (size > 0 && data[0] == '~') {
        memcpy(in, "/app/", 5);
        n = 5;
        data++, size--;
    }
    if (size > sizeof(in) - n)
        size = sizeof(in) - n;
    memcpy(in + n, data, size);
    n += size;

    char out[300];
    int r = cv_web_map_path(in, n, out, sizeof(out));
    if (r < 0)
        return 0;
    size_t len = (size_t)r;
    CHECK(len == strlen(out) && len > 0);
    CHECK(n <= 256 && memchr(in, '%', n) == NULL);
    CHECK(out[0] != '.' && out[0] != '/' && out[len - 1] != '/');
    CHECK(strstr(out, "..") == NULL && strstr(out, "//") == NULL && strstr(out, "/.") == NULL);
    for (size_t i = 0; i < len; i++)
        CHECK(char_ok(out[i]));
    if (strncmp(out, "node_modules/", 13) == 0)
        CHECK(strncmp(out + 13, "hls.js/", 7) == 0 || strncmp(out + 13, "qrcode-generator/", 17) == 0);
    return 0;
}
