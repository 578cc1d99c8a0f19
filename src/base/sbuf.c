#include "base/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cv_sbuf_init(cv_sbuf *b) { memset(b, 0, sizeof(*b)); }

void cv_sbuf_free(cv_sbuf *b)
{
    free(b->p);
    cv_sbuf_init(b);
}

void cv_sbuf_reset(cv_sbuf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->p)
        b->p[0] = '\0';
}

static bool grow(cv_sbuf *b, size_t extra)
{
    size_t need;
    if (b->oom || __builtin_add_overflow(b->len, extra, &need) || __builtin_add_overflow(need, 1, &need)) {
        b->oom = true;
        return false;
    }
    if (b->limit && need > b->limit) {
        b->oom = true;
        return false;
    }
    if (need <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (__builtin_mul_overflow(cap, 2, &cap)) {
            cap = need; /* doubling would wrap: ask for exactly what is needed */
            break;
        }
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void cv_sbuf_append(cv_sbuf *b, const void *data, size_t len)
{
    if (!grow(b, len))
        return;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void cv_sbuf_puts(cv_sbuf *b, const char *s) { cv_sbuf_append(b, s, strlen(s)); }

void cv_sbuf_printf(cv_sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !grow(b, (size_t)n)) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
