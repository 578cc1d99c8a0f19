/* A growable string buffer for building protocol messages. Allocation
 * failures are sticky: check cv_sbuf_ok() once at the end. */
#ifndef CV_BASE_SBUF_H
#define CV_BASE_SBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *p;      /* NUL-terminated while ok */
    size_t len;
    size_t cap;
    bool oom;
    size_t limit; /* 0: no limit; growing past it sets oom */
} cv_sbuf;

void cv_sbuf_init(cv_sbuf *b);
void cv_sbuf_free(cv_sbuf *b);
void cv_sbuf_reset(cv_sbuf *b);                 /* len = 0, keeps memory */
void cv_sbuf_append(cv_sbuf *b, const void *data, size_t len);
void cv_sbuf_puts(cv_sbuf *b, const char *s);
void cv_sbuf_printf(cv_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline bool cv_sbuf_ok(const cv_sbuf *b) { return !b->oom; }

#endif
