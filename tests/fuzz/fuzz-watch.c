/* libFuzzer target: the HTTP media path parser and the Range parser of
 * src/watch (the untrusted parts of a /cam/<id>/... request that the HTTP
 * parser does not already cover). Input: "<path after /cam/<id>/>\n<Range
 * value>\n<answer length>". Oracles: a parsed route is self-consistent, and
 * a satisfiable range lies inside the answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "watch/watch_int.h"

#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    const char *nl = memchr(p, '\n', size);
    cv_str path = {p, nl ? (size_t)(nl - p) : size};
    cv__watch_route rt;
    if (cv__watch_parse_route(path, &rt)) {
        if (rt.msn < 0 || rt.part < -1 || rt.part > 100000)
            abort();
        if ((rt.kind == WR_PART) != (rt.part >= 0))
            abort();
    }
    if (!nl)
        return 0;
    const char *r = nl + 1;
    size_t rest = size - (size_t)(r - p);
    const char *nl2 = memchr(r, '\n', rest);
    cv_str range = {r, nl2 ? (size_t)(nl2 - r) : rest};
    size_t len = 1000;
    if (nl2 && rest > (size_t)(nl2 - r) + 1) {
        len = 0;
        for (const char *q = nl2 + 1; q < p + size && len < 100000000; q++)
            len = len * 10 + (size_t)((unsigned char)*q % 10);
    }
    size_t from = 0, to = 0;
    int rc = cv__watch_byte_range(range, len, &from, &to);
    if (rc == 1 && (from > to || to >= len))
        abort();
    if (rc < -1 || rc > 1)
        abort();
    return 0;
}
