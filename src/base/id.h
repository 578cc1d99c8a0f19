/* Unguessable 128-bit identifiers (cameras, sessions, streams).
 *
 * Ids come from libsodium's CSPRNG and are printed as 32 lowercase hex
 * characters. Equality is the only operation that matters for isolation. */
#ifndef CV_BASE_ID_H
#define CV_BASE_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CV_ID_BYTES 16
#define CV_ID_HEX_LEN 32

typedef struct {
    uint8_t b[CV_ID_BYTES];
} cv_id;

/* Must be called once before any other id function (initialises libsodium). */
int cv_id_init(void);
void cv_id_random(cv_id *out);
bool cv_id_is_zero(const cv_id *id);
static inline bool cv_id_eq(const cv_id *a, const cv_id *b) { return memcmp(a->b, b->b, CV_ID_BYTES) == 0; }
/* Writes 32 hex chars plus NUL into out (at least 33 bytes). */
void cv_id_to_hex(const cv_id *id, char out[CV_ID_HEX_LEN + 1]);
/* Parses exactly 32 hex chars; returns 0 or -1. */
int cv_id_from_hex(const char *s, size_t len, cv_id *out);

#endif
