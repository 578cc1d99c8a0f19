/* The audit log: append-only (SQLite triggers refuse UPDATE and DELETE), one
 * row per security-relevant event: logins ok and failed, view start/stop,
 * grants, revocations, role changes, integration changes, security events. */
#ifndef CV_STORE_AUDIT_H
#define CV_STORE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/id.h"
#include "store/store.h"

typedef struct {
    int64_t seq;          /* increasing */
    int64_t ts_us;        /* wall clock */
    char event[40];       /* "login.ok", "login.fail", "view.start", "view.stop", "grant.add", ... */
    char principal[96];   /* "user:<login>", "token:<hash prefix>", "cli", "camera:<id>", ... */
    char camera[33];      /* hex id or "" */
    char address[64];     /* client address or "" */
    char protocol[16];    /* "rtsp", "http", "cli", ... */
    char detail[256];
} cv_audit_rec;

/* Appends one event; strings may be NULL (stored empty) and are truncated to
 * the field sizes above at a character boundary; bytes that are not
 * printable UTF-8 (control characters, invalid sequences, bidi controls)
 * are stored as '?', so client-supplied text is safe to print. camera may be
 * NULL. Returns 0, -EINVAL (event NULL or empty) or -EIO. */
int cv_store_audit(cv_store *s, const char *event, const char *principal, const cv_id *camera,
                   const char *address, const char *protocol, const char *detail);
/* Events with seq > after_seq, oldest first, at most limit; camera NULL: all.
 * *out malloc'ed (NULL when *n is 0). */
int cv_store_audit_list(cv_store *s, int64_t after_seq, const cv_id *camera, size_t limit, cv_audit_rec **out,
                        size_t *n);

typedef struct {
    int64_t after_seq;  /* events with seq > after_seq */
    const cv_id *camera; /* NULL: any; else events on that camera */
    const cv_id *home;   /* NULL: any; else events on the home's cameras (removed ones
                          * included) and events on no camera whose principal is one of
                          * its members ("user:<login>" or "user:<login> via ...") */
    const char *person;  /* NULL: any; else a login: events whose principal is
                          * "user:<login>" or "user:<login> via ..." (ASCII case ignored) */
} cv_audit_filter;

/* Events matching every filter set in f, oldest first, at most limit.
 * *out malloc'ed (NULL when *n is 0). Returns 0, -EINVAL or -EIO. */
int cv_store_audit_query(cv_store *s, const cv_audit_filter *f, size_t limit, cv_audit_rec **out, size_t *n);

#endif
