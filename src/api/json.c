#include "api/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth/password.h"
#include "auth/token.h"
#include "http/parse.h"
#include "store/people.h"

/* Longest string accepted where a field says nothing else. */
#define STR_DEFAULT_MAX 256
#define TEN_YEARS_S (3650LL * 86400)

#define STR(n, req, fl, lo, hi) {.name = (n), .type = CV_API_STR, .required = (req), .flags = (fl), .min = (lo), .max = (hi)}
#define INT(n, req, lo, hi) {.name = (n), .type = CV_API_INT, .required = (req), .imin = (lo), .imax = (hi)}

static const cv_api_field f_login[] = {
    STR("login", true, 0, 1, STR_DEFAULT_MAX),
    STR("password", true, 0, 0, CV_PW_MAX),
    STR("totp", false, 0, 0, 16),
};
static const cv_api_field f_password[] = {
    STR("old", true, 0, 0, CV_PW_MAX),
    STR("new", true, 0, CV_PW_MIN, CV_PW_MAX),
};
static const cv_api_field f_code[] = {
    STR("code", true, 0, 1, 16),
};
static const cv_api_field f_apppw[] = {
    STR("label", false, CV_API_PRINTABLE, 0, 63),
};
static const cv_api_field f_user_add[] = {
    STR("login", true, 0, 1, CV_LOGIN_MAX),
    STR("password", false, 0, CV_PW_MIN, CV_PW_MAX),
    {.name = "admin", .type = CV_API_BOOL},
};
static const cv_api_field f_home_add[] = {
    STR("name", true, CV_API_PRINTABLE, 1, 127),
};
static const cv_api_field f_role[] = {
    STR("role", true, 0, 1, 16),
};
static const cv_api_field f_camera_add[] = {
    STR("name", true, CV_API_PRINTABLE, 1, 127),
    STR("model", false, CV_API_PRINTABLE, 0, 63),
    STR("pull_url", false, CV_API_PRINTABLE, 8, 1023),
    STR("transport", false, 0, 1, 8),
};
static const cv_api_field f_grant_add[] = {
    STR("login", true, 0, 1, CV_LOGIN_MAX),
    {.name = "scopes", .type = CV_API_SCOPE_LIST, .required = true},
    INT("expires_in", true, 1, TEN_YEARS_S),
};
static const cv_api_field f_token_issue[] = {
    {.name = "scope", .type = CV_API_SCOPES},
    INT("ttl", false, 1, CV_TOKEN_TTL_MAX_US / 1000000),
};
static const cv_api_field f_token[] = {
    STR("token", true, 0, 1, CV_TOKEN_MAX - 1),
};
static const cv_api_field f_kill_switch[] = {
    STR("camera_model", false, CV_API_PRINTABLE, 1, 63),
};
static const cv_api_field f_camera_rename[] = {
    STR("name", true, CV_API_PRINTABLE, 1, 127),
};
static const cv_api_field f_camera_test[] = {
    STR("pull_url", true, CV_API_PRINTABLE, 8, 1023),
    STR("transport", false, 0, 1, 8),
};

#define SCHEMA(id, f) [id] = {#id, f, CV_ARRAY_LEN(f)}
static const cv_api_schema schemas[CV_BODY__COUNT] = {
    [CV_BODY_EMPTY] = {"CV_BODY_EMPTY", NULL, 0},
    SCHEMA(CV_BODY_LOGIN, f_login),
    SCHEMA(CV_BODY_PASSWORD, f_password),
    SCHEMA(CV_BODY_CODE, f_code),
    SCHEMA(CV_BODY_APPPW, f_apppw),
    SCHEMA(CV_BODY_USER_ADD, f_user_add),
    SCHEMA(CV_BODY_HOME_ADD, f_home_add),
    SCHEMA(CV_BODY_ROLE, f_role),
    SCHEMA(CV_BODY_CAMERA_ADD, f_camera_add),
    SCHEMA(CV_BODY_GRANT_ADD, f_grant_add),
    SCHEMA(CV_BODY_TOKEN_ISSUE, f_token_issue),
    SCHEMA(CV_BODY_TOKEN, f_token),
    SCHEMA(CV_BODY_KILL_SWITCH, f_kill_switch),
    SCHEMA(CV_BODY_CAMERA_RENAME, f_camera_rename),
    SCHEMA(CV_BODY_CAMERA_TEST, f_camera_test),
};

_Static_assert(CV_ARRAY_LEN(f_login) <= CV_API_FIELDS_MAX && CV_ARRAY_LEN(f_camera_add) <= CV_API_FIELDS_MAX,
               "CV_API_FIELDS_MAX too small");

const cv_api_schema *cv_api_schema_get(cv_api_body b)
{
    return (unsigned)b < CV_BODY__COUNT ? &schemas[b] : NULL;
}

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

uint32_t cv_api_scope_bit(const char *s, size_t len)
{
    if (len == 4 && memcmp(s, "live", 4) == 0)
        return CV_SCOPE_LIVE;
    if (len == 8 && memcmp(s, "snapshot", 8) == 0)
        return CV_SCOPE_SNAPSHOT;
    return 0;
}

/* jansson has already checked UTF-8; this refuses what must not appear in a
 * name or label: C0 controls, DEL and C1 controls (U+0080..U+009F). */
static bool printable(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return false;
        if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return false;
    }
    return true;
}

static int scope_list(const cv_api_field *f, json_t *j, uint32_t *out, char *err, size_t cap)
{
    if (json_is_string(j) && f->type == CV_API_SCOPES) {
        *out = cv_api_scope_bit(json_string_value(j), json_string_length(j));
        return *out ? 0 : fail(err, cap, "%s: must be \"live\" or \"snapshot\"", f->name);
    }
    if (!json_is_array(j))
        return fail(err, cap, "%s: expected %s", f->name,
                    f->type == CV_API_SCOPES ? "\"live\", \"snapshot\" or an array of them"
                                             : "an array of \"live\" and/or \"snapshot\"");
    size_t n = json_array_size(j);
    if (n == 0 || n > 4)
        return fail(err, cap, "%s: expected 1 to 4 scopes", f->name);
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(j, i);
        uint32_t bit = json_is_string(e) ? cv_api_scope_bit(json_string_value(e), json_string_length(e)) : 0;
        if (!bit)
            return fail(err, cap, "%s: each scope must be \"live\" or \"snapshot\"", f->name);
        v |= bit;
    }
    *out = v;
    return 0;
}

static int field(const cv_api_field *f, json_t *j, cv_api_value *v, char *err, size_t cap)
{
    switch (f->type) {
    case CV_API_STR: {
        if (!json_is_string(j))
            return fail(err, cap, "%s: expected a string", f->name);
        size_t len = json_string_length(j);
        size_t max = f->max ? f->max : STR_DEFAULT_MAX;
        if (len > max)
            return fail(err, cap, "%s: at most %zu bytes", f->name, max);
        if (len < f->min)
            return fail(err, cap, f->min == 1 ? "%s: must not be empty" : "%s: at least %zu bytes", f->name,
                        f->min);
        if ((f->flags & CV_API_PRINTABLE) && !printable(json_string_value(j), len))
            return fail(err, cap, "%s: control characters are not allowed", f->name);
        v->s = json_string_value(j);
        v->len = len;
        break;
    }
    case CV_API_BOOL:
        if (!json_is_boolean(j))
            return fail(err, cap, "%s: expected true or false", f->name);
        v->b = json_is_true(j);
        break;
    case CV_API_INT: {
        if (!json_is_integer(j))
            return fail(err, cap, "%s: expected an integer", f->name);
        json_int_t i = json_integer_value(j);
        if (i < f->imin || i > f->imax)
            return fail(err, cap, "%s: must be %lld to %lld", f->name, (long long)f->imin, (long long)f->imax);
        v->i = i;
        break;
    }
    case CV_API_SCOPES:
    case CV_API_SCOPE_LIST:
        if (scope_list(f, j, &v->scopes, err, cap) < 0)
            return -EINVAL;
        break;
    }
    v->present = true;
    return 0;
}

static int load_error(const json_error_t *e, char *err, size_t cap)
{
    /* jansson's own text may quote the input (invalid UTF-8 included), so
     * only its code and position go into the answer. */
    switch (json_error_code(e)) {
    case json_error_invalid_utf8: return fail(err, cap, "body: not valid UTF-8");
    case json_error_duplicate_key: return fail(err, cap, "body: a field appears twice");
    case json_error_null_character:
    case json_error_null_byte_in_key: return fail(err, cap, "body: NUL characters are not allowed");
    case json_error_stack_overflow: return fail(err, cap, "body: nested too deeply");
    case json_error_numeric_overflow: return fail(err, cap, "body: a number is out of range");
    case json_error_out_of_memory: return fail(err, cap, "body: too large");
    default:
        return fail(err, cap, "body: not valid JSON (line %d, column %d)", e->line, e->column);
    }
}

int cv_api_json_parse(const char *body, size_t len, const cv_api_schema *schema, json_t **root, cv_api_value *v,
                      char *err, size_t errcap)
{
    *root = NULL;
    memset(v, 0, sizeof(*v) * schema->n);
    if (err && errcap)
        err[0] = '\0';
    json_t *doc = NULL;
    if (len > 0) {
        json_error_t e;
        doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
        if (!doc)
            return load_error(&e, err, errcap);
        if (!json_is_object(doc)) {
            json_decref(doc);
            return fail(err, errcap, "body: expected a JSON object");
        }
    }
    for (size_t i = 0; i < schema->n; i++) {
        const cv_api_field *f = &schema->fields[i];
        json_t *j = doc ? json_object_get(doc, f->name) : NULL;
        if (!j || json_is_null(j)) {
            if (f->required) {
                json_decref(doc);
                return fail(err, errcap, "%s: required", f->name);
            }
            continue;
        }
        if (field(f, j, &v[i], err, errcap) < 0) {
            json_decref(doc);
            memset(v, 0, sizeof(*v) * schema->n);
            return -EINVAL;
        }
    }
    *root = doc;
    return 0;
}

bool cv_api_json_ctype(cv_str ct)
{
    static const char want[] = "application/json";
    const size_t n = sizeof(want) - 1;
    if (!ct.p)
        return false;
    ct = cv_str_trim(ct);
    if (ct.len < n || !cv_str_ieq((cv_str){ct.p, n}, (cv_str){want, n}))
        return false;
    cv_str rest = cv_str_trim((cv_str){ct.p + n, ct.len - n});
    return rest.len == 0 || rest.p[0] == ';';
}

int cv_api_path_split(cv_str path, char seg[CV_API_SEGS_MAX][CV_API_SEG_MAX])
{
    static const char prefix[] = "/api/v1/";
    const size_t pn = sizeof(prefix) - 1;
    if (!path.p || path.len <= pn || memcmp(path.p, prefix, pn) != 0)
        return -ENOENT;
    const char *p = path.p + pn, *end = path.p + path.len;
    int n = 0;
    while (p <= end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash ? slash : end;
        if (stop == p)
            return -ENOENT; /* "//" or a trailing slash */
        if (n == CV_API_SEGS_MAX)
            return -E2BIG;
        int r = cv_http_pct_decode((cv_str){p, (size_t)(stop - p)}, false, seg[n], CV_API_SEG_MAX);
        if (r < 0)
            return -EBADMSG;
        n++;
        if (!slash)
            break;
        p = slash + 1;
    }
    return n;
}
