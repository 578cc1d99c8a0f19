/* The REST API's input side as pure functions: request bodies checked
 * against a small per-route schema, the /api/v1/ path split into decoded
 * segments, the Content-Type header (Bearer: cv_http_bearer). No I/O, no store, no clock;
 * thread-safe. tests/fuzz/fuzz-json.c drives every schema through here. */
#ifndef CV_API_JSON_H
#define CV_API_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"

typedef enum {
    CV_API_STR,        /* a JSON string: valid UTF-8, no NUL (jansson's rules) */
    CV_API_BOOL,
    CV_API_INT,        /* a JSON integer (not a real) within [imin, imax] */
    CV_API_SCOPES,     /* "live", "snapshot" or an array of them */
    CV_API_SCOPE_LIST, /* an array of "live" / "snapshot", at least one */
} cv_api_type;

#define CV_API_PRINTABLE 1u /* CV_API_STR: no control characters (C0, DEL, C1) */

typedef struct {
    const char *name;
    cv_api_type type;
    bool required;
    unsigned flags;
    size_t min, max;    /* CV_API_STR: length in bytes */
    int64_t imin, imax; /* CV_API_INT */
} cv_api_field;

#define CV_API_FIELDS_MAX 6

typedef struct {
    const char *name; /* for documentation and the fuzzer */
    const cv_api_field *fields;
    size_t n;
} cv_api_schema;

/* The body of every route that takes one. */
typedef enum {
    CV_BODY_EMPTY = 0,   /* no fields: an absent body or {} */
    CV_BODY_LOGIN,       /* login, password, totp? */
    CV_BODY_PASSWORD,    /* old, new */
    CV_BODY_CODE,        /* code */
    CV_BODY_APPPW,       /* label? */
    CV_BODY_USER_ADD,    /* login, password?, admin? */
    CV_BODY_HOME_ADD,    /* name */
    CV_BODY_ROLE,        /* role */
    CV_BODY_CAMERA_ADD,  /* name, model?, pull_url?, transport? */
    CV_BODY_GRANT_ADD,   /* login, scopes, expires_in */
    CV_BODY_TOKEN_ISSUE, /* scope?, ttl? */
    CV_BODY_TOKEN,       /* token */
    CV_BODY_KILL_SWITCH, /* camera_model? */
    CV_BODY_CAMERA_RENAME, /* name */
    CV_BODY_CAMERA_TEST, /* pull_url, transport? */
    CV_BODY__COUNT
} cv_api_body;

const cv_api_schema *cv_api_schema_get(cv_api_body b);

/* One extracted field, in the order of the schema's fields. */
typedef struct {
    bool present;       /* false: absent or null (only optional fields) */
    const char *s;      /* CV_API_STR: NUL-terminated, owned by the document */
    size_t len;
    bool b;
    int64_t i;
    uint32_t scopes;    /* CV_SCOPE_* */
} cv_api_value;

/* Parses exactly len bytes as one JSON object (duplicate keys refused),
 * checks the schema's fields (unknown fields are ignored) and fills
 * v[0..schema->n). An empty body is an empty object. On success *root owns
 * the document the string values point into (json_decref it, may be NULL);
 * on failure err holds a short sentence naming the field and what is wrong
 * (never echoing input) and -EINVAL is returned. */
int cv_api_json_parse(const char *body, size_t len, const cv_api_schema *schema, json_t **root, cv_api_value *v,
                      char *err, size_t errcap) __attribute__((warn_unused_result));

/* "live", "snapshot" -> CV_SCOPE_*; 0 when unknown. */
uint32_t cv_api_scope_bit(const char *s, size_t len);

/* True for "application/json", any case, optionally followed by parameters
 * ("; charset=utf-8"). */
bool cv_api_json_ctype(cv_str ct);


#define CV_API_SEGS_MAX 6
#define CV_API_SEG_MAX 128

/* Splits a request path under "/api/v1/" into percent-decoded segments.
 * Returns the number of segments (>= 1), -ENOENT when the path is not under
 * the prefix or has an empty segment, -EBADMSG for a bad escape, %00 or a
 * segment too long, -E2BIG for too many segments. */
int cv_api_path_split(cv_str path, char seg[CV_API_SEGS_MAX][CV_API_SEG_MAX]);

#endif
