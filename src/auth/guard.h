/* Throttling of failed authentication (credential stuffing, token guessing,
 * camera ingest brute force). In memory, bounded, loop thread only (not
 * thread-safe).
 *
 * Two counters per attempt: the client address and, when there is one, the
 * account (login name or camera id). After a few free failures each further
 * failure doubles the lockout (1 s, 2 s, 4 s ... up to a cap); failures are
 * forgotten after a quiet period. An address in lockout is refused. An
 * account in lockout is refused only to addresses that have failures of
 * their own on record, so an attacker hammering an account does not lock its
 * owner out of a clean address, and each new attacking address gets one try
 * per lockout period. */
#ifndef CV_AUTH_GUARD_H
#define CV_AUTH_GUARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct cv_guard cv_guard;

/* Exactly: the n-th failure of a counter (counted since it was last
 * cleared or forgotten) locks it for 0 if n <= free_failures, else for
 * min(base_us << (n - free_failures - 1), max_us), from the time of that
 * failure. A counter whose last failure is forget_us old is forgotten
 * entirely. Counters are per realm; addresses and accounts never share one. */
typedef struct {
    unsigned free_failures; /* before the first lockout (default 5) */
    int64_t base_us;        /* first lockout (default 1 s) */
    int64_t max_us;         /* cap (default 15 min) */
    int64_t forget_us;      /* failures older than this are forgotten (default 1 h) */
    size_t max_entries;     /* oldest entries are evicted beyond this (default 65536) */
} cv_guard_policy;

/* p NULL: the defaults above; in a given policy, fields other than
 * free_failures that are <= 0 take their default. Returns NULL when out of
 * memory. */
cv_guard *cv_guard_new(const cv_guard_policy *p);
void cv_guard_free(cv_guard *g);

/* realm separates counters ("login", "token", "ingest", "digest"). account
 * may be NULL (or "": none). Values of any length are accepted (long ones are
 * keyed by their hash). Returns 0 if the attempt may proceed, else the µs
 * until it may. now_us is the caller's monotonic clock (cv_now_us()). */
int64_t cv_guard_check(cv_guard *g, const char *realm, const char *address, const char *account, int64_t now_us);
void cv_guard_failed(cv_guard *g, const char *realm, const char *address, const char *account, int64_t now_us);
/* Clears the account's counter and the address's (a successful login). */
void cv_guard_succeeded(cv_guard *g, const char *realm, const char *address, const char *account);
/* Counters held (at most max_entries; the least recently failed go first). */
size_t cv_guard_entries(const cv_guard *g);

#endif
