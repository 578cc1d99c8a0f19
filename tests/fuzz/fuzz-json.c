/* Fuzzes the REST API's input side (src/api/json.c): every route's body
 * schema on the same bytes, then the /api/v1/ path splitter, the Bearer
 * header and the Content-Type check. Oracles: a body either passes with
 * every value inside its field's bounds (strings strict UTF-8, no NUL, the
 * right length; integers in range; scopes known) or fails with -EINVAL and
 * a printable ASCII message that can go into a JSON answer as it is. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/json.h"
#include "http/parse.h"
#include "store/people.h"

#include "fuzz-check.h"

static bool has_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] <= 0x9f))
            return true;
    }
    return false;
}

static void check_value(const cv_api_field *f, const cv_api_value *v)
{
    if (!v->present) {
        CHECK(!f->required);
        return;
    }
    switch (f->type) {
    case CV_API_STR:
        CHECK(v->s && strlen(v->s) == v->len); /* no NUL inside */
        CHECK(v->len >= f->min && v->len <= (f->max ? f->max : 256));
        CHECK(utf8_ok((const uint8_t *)v->s, v->len));
        if (f->flags & CV_API_PRINTABLE)
            CHECK(!has_control(v->s, v->len));
        break;
    case CV_API_BOOL:
        CHECK(v->b == true || v->b == false);
        break;
    case CV_API_INT:
        CHECK(v->i >= f->imin && v->i <= f->imax);
        break;
    case CV_API_SCOPES:
    case CV_API_SCOPE_LIST:
        CHECK(v->scopes != 0 && (v->scopes & ~CV_SCOPE_ALL) == 0);
        break;
    }
}

static void fuzz_schema(const cv_api_schema *s, const uint8_t *data, size_t size)
{
    json_t *root = (json_t *)1;
    cv_api_value v[CV_API_FIELDS_MAX];
    char err[160];
    CHECK(s->n <= CV_API_FIELDS_MAX);
    int r = cv_api_json_parse((const char *)data, size, s, &root, v, err, sizeof(err));
    CHECK(r == 0 || r == -EINVAL);
    if (r < 0) {
        CHECK(root == NULL);
        CHECK(err[0] != '\0' && ascii_printable(err));
        json_t *j = json_string(err); /* the answer's "error" value */
        CHECK(j != NULL);
        json_decref(j);
        return;
    }
    CHECK(size == 0 || json_is_object(root));
    for (size_t i = 0; i < s->n; i++)
        check_value(&s->fields[i], &v[i]);
    json_decref(root);
}

static bool inside(cv_str t, const uint8_t *base, size_t n)
{
    const uint8_t *p = (const uint8_t *)t.p;
    return p >= base && t.len <= n && p + t.len <= base + n;
}

static void fuzz_path(const uint8_t *data, size_t size)
{
    char seg[CV_API_SEGS_MAX][CV_API_SEG_MAX];
    int n = cv_api_path_split((cv_str){(const char *)data, size}, seg);
    CHECK(n == -ENOENT || n == -EBADMSG || n == -E2BIG || (n >= 1 && n <= CV_API_SEGS_MAX));
    for (int i = 0; i < n; i++)
        CHECK(strlen(seg[i]) < CV_API_SEG_MAX);

    /* The same bytes behind the prefix, to get past it. */
    char *p = malloc(size + 8);
    if (!p)
        return;
    memcpy(p, "/api/v1/", 8);
    memcpy(p + 8, data, size);
    n = cv_api_path_split((cv_str){p, size + 8}, seg);
    CHECK(n == -ENOENT || n == -EBADMSG || n == -E2BIG || (n >= 1 && n <= CV_API_SEGS_MAX));
    if (n > 0) {
        CHECK(memchr(data, '/', size) != NULL || n == 1);
        for (int i = 0; i < n; i++)
            CHECK(strlen(seg[i]) >= 1); /* empty segments and %00 are refused */
    }
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int b = 0; b < CV_BODY__COUNT; b++)
        fuzz_schema(cv_api_schema_get((cv_api_body)b), data, size);
    CHECK(cv_api_schema_get(CV_BODY__COUNT) == NULL);

    fuzz_path(data, size);

    cv_str hdr = {(const char *)data, size}, tok;
    if (cv_http_bearer(hdr, &tok)) {
        CHECK(tok.len > 0 && inside(tok, data, size));
        for (size_t i = 0; i < tok.len; i++)
            CHECK(tok.p[i] > 0x20 && tok.p[i] < 0x7f);
    }
    (void)cv_api_json_ctype(hdr);
    return 0;
}
