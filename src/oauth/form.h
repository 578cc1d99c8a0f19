/* OAuth 2.0 request parameters as pure functions (RFC 6749): an
 * application/x-www-form-urlencoded body or query string split into the
 * parameters a route expects, HTTP Basic client authentication (§2.3.1),
 * and the authorization request's parameters (§4.1.1 with RFC 7636 PKCE).
 * Explicit lengths everywhere, no I/O, no store, no clock; thread-safe.
 * tests/fuzz/fuzz-oauth.c drives all of it. */
#ifndef CV_OAUTH_FORM_H
#define CV_OAUTH_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

#define CV_FORM_FIELDS_MAX 12
#define CV_FORM_VALUE_MAX 2048 /* one decoded value + NUL */

/* One expected parameter: name, and after a successful parse its decoded
 * value (NUL-terminated, malloc'ed inside the cv_form) or NULL when absent.
 * An empty value ("a=&b=1") counts as absent (RFC 6749 §3.1). */
typedef struct {
    const char *name;
    char *value;
    size_t len;
} cv_form_field;

typedef struct {
    cv_form_field f[CV_FORM_FIELDS_MAX];
    size_t n;
} cv_form;

/* Sets up form with the names expected (at most CV_FORM_FIELDS_MAX; the
 * strings are borrowed). */
void cv_form_init(cv_form *form, const char *const *names, size_t n);
/* Parses exactly len bytes of "name=value&..." ('+' is a space, %XX
 * escapes; names compare after decoding, case-sensitively; a value may hold
 * further '='). Values left from an earlier parse are freed first. Unknown
 * names are ignored, values unchecked, but a name that does not decode
 * (bad escape, %00) fails since it could hide an expected one. An expected
 * name given twice (even once empty, RFC 6749 §3.1), a bad escape, %00, a
 * control character (< 0x20 or 0x7f) in a value, or a value longer than
 * CV_FORM_VALUE_MAX - 1 once decoded fails with -EINVAL and err (when
 * errcap > 0; "" on success) names the parameter in printable ASCII, never
 * echoing its value. -ENOMEM on allocation failure. On failure every value
 * is NULL and nothing stays allocated. */
int cv_form_parse(cv_form *form, const char *body, size_t len, char *err, size_t errcap);
/* The decoded value of name (NULL when absent or not an expected name);
 * *len (when len is not NULL) gets its length, 0 when NULL. */
const char *cv_form_get(const cv_form *form, const char *name, size_t *len);
/* Frees (and wipes) the values; they are NULL afterwards. form may be
 * parsed again (the names are kept). */
void cv_form_clear(cv_form *form);

/* An "Authorization: Basic b64(urlencode(id):urlencode(secret))" header
 * value (RFC 6749 §2.3.1, RFC 7617): the scheme in any case, one or more
 * spaces, standard padded base64, split at the first ':'; each side is
 * form-decoded ('+' is a space). Returns 0 with both decoded and
 * NUL-terminated (the secret may be empty, the id may not), -ENOENT when
 * the value is not Basic (or .p NULL), -EINVAL when malformed (bad base64,
 * no ':', empty id, bad escape or %00, control character, too long for the
 * caps, which include the NUL), -ENOMEM. On failure id and secret are wiped
 * (left "" when the caps allow). */
int cv_form_basic_auth(cv_str header, char *id, size_t idcap, char *secret, size_t secretcap);

/* True for a Content-Type of application/x-www-form-urlencoded, any case,
 * optionally followed by spaces and ";parameters" (not checked). */
bool cv_form_ctype(cv_str ct);

/* Appends "name=value" percent-encoded (RFC 3986 unreserved kept, space as
 * %20, uppercase hex) to out (NUL-terminated within cap), prefixed by sep
 * when out is not empty and sep is not '\0'. Returns 0, -ENOSPC (out
 * unchanged), or -EINVAL for a NULL argument or an out with no NUL within
 * cap. For building redirect URLs; cv_form_parse reads the result back. */
int cv_form_append(char *out, size_t cap, char sep, const char *name, const char *value);

#endif
