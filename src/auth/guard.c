#include "auth/guard.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "auth/key.h"
#include "base/util.h"

/* uthash exits the process on allocation failure unless told otherwise; a
 * failed insert here just means the attempt is not counted. The hook sets a
 * local of the one function that adds. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(obj) (add_failed = true)
#include <uthash.h>

/* Values longer than this (an attacker-chosen login, say) are keyed by their
 * hash, so every entry has a bounded size. */
#define VALUE_MAX 128
#define FAILURES_MAX 1000000u

typedef struct entry {
    UT_hash_handle hh;
    unsigned failures;
    int64_t last_us;   /* last failure: for forgetting and eviction */
    int64_t locked_until;
    size_t keylen;
    char key[];        /* realm \0 kind \0 value (not NUL-terminated) */
} entry;

struct cv_guard {
    cv_guard_policy p;
    /* uthash keeps insertion order; an updated entry is re-inserted, so the
     * head is always the least recently updated one. */
    entry *head;
    /* Addresses and logins are attacker-chosen: a keyed hash (SipHash) keeps
     * them from piling up in one bucket. Only the *_BYHASHVALUE macros are
     * used, so uthash's own hash function is never expanded. */
    uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

typedef struct {
    char b[256 + VALUE_MAX + 8];
    size_t len;
    unsigned hashv;
} keybuf;

static bool make_key(const cv_guard *g, keybuf *k, const char *realm, char kind, const char *value)
{
    size_t rl = strlen(realm), vl = strlen(value);
    if (rl > 255)
        return false;
    memcpy(k->b, realm, rl);
    k->len = rl;
    k->b[k->len++] = '\0';
    if (vl <= VALUE_MAX) {
        k->b[k->len++] = kind;
        k->b[k->len++] = '\0';
        memcpy(k->b + k->len, value, vl);
        k->len += vl;
    } else {
        /* A different kind letter keeps hashed keys apart from literal ones. */
        uint8_t h[32];
        cv_hash32(value, vl, h);
        k->b[k->len++] = (char)(kind - 'a' + 'A');
        k->b[k->len++] = '\0';
        memcpy(k->b + k->len, h, sizeof(h));
        k->len += sizeof(h);
    }
    uint8_t hv[crypto_shorthash_BYTES];
    crypto_shorthash(hv, (const uint8_t *)k->b, k->len, g->hash_key);
    k->hashv = (unsigned)hv[0] | (unsigned)hv[1] << 8 | (unsigned)hv[2] << 16 | (unsigned)hv[3] << 24;
    return true;
}

static void drop(cv_guard *g, entry *e)
{
    HASH_DEL(g->head, e);
    free(e);
}

static bool forgotten(const cv_guard *g, const entry *e, int64_t now_us)
{
    return now_us - e->last_us >= g->p.forget_us;
}

/* A live entry for key, or NULL; forgotten entries are dropped on sight. */
static entry *lookup(cv_guard *g, const keybuf *k, int64_t now_us)
{
    entry *e = NULL;
    HASH_FIND_BYHASHVALUE(hh, g->head, k->b, k->len, k->hashv, e);
    if (e && forgotten(g, e, now_us)) {
        drop(g, e);
        e = NULL;
    }
    return e;
}

cv_guard *cv_guard_new(const cv_guard_policy *p)
{
    if (sodium_init() < 0)
        return NULL;
    cv_guard *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    crypto_shorthash_keygen(g->hash_key);
    g->p = (cv_guard_policy){
        .free_failures = 5,
        .base_us = 1000000,
        .max_us = 15LL * 60 * 1000000,
        .forget_us = 3600LL * 1000000,
        .max_entries = 65536,
    };
    if (p) {
        g->p.free_failures = p->free_failures;
        if (p->base_us > 0)
            g->p.base_us = p->base_us;
        if (p->max_us > 0)
            g->p.max_us = p->max_us;
        if (p->forget_us > 0)
            g->p.forget_us = p->forget_us;
        if (p->max_entries > 0)
            g->p.max_entries = p->max_entries;
    }
    if (g->p.max_us < g->p.base_us)
        g->p.max_us = g->p.base_us;
    return g;
}

void cv_guard_free(cv_guard *g)
{
    if (!g)
        return;
    entry *e, *tmp;
    HASH_ITER(hh, g->head, e, tmp)
    {
        drop(g, e);
    }
    free(g);
}

static int64_t remaining(const entry *e, int64_t now_us)
{
    return e && e->locked_until > now_us ? e->locked_until - now_us : 0;
}

int64_t cv_guard_check(cv_guard *g, const char *realm, const char *address, const char *account, int64_t now_us)
{
    keybuf k;
    entry *a = NULL, *c = NULL;
    if (address && make_key(g, &k, realm, 'a', address))
        a = lookup(g, &k, now_us);
    int64_t wait = remaining(a, now_us);
    if (wait > 0)
        return wait;
    /* The account's lockout applies only to addresses with failures of their
     * own, so its owner, coming from a clean address, still gets in. */
    if (a && a->failures > 0 && account && *account && make_key(g, &k, realm, 'u', account))
        c = lookup(g, &k, now_us);
    return remaining(c, now_us);
}

static int64_t lockout(const cv_guard_policy *p, unsigned failures)
{
    if (failures <= p->free_failures)
        return 0;
    unsigned shift = failures - p->free_failures - 1;
    if (shift >= 62 || p->base_us > (p->max_us >> shift))
        return p->max_us;
    return CV_MIN(p->base_us << shift, p->max_us);
}

static void evict(cv_guard *g, int64_t now_us)
{
    /* Forgotten entries first (they sit at the head), then the least
     * recently updated ones beyond the bound. */
    while (g->head && forgotten(g, g->head, now_us))
        drop(g, g->head);
    while (g->head && HASH_COUNT(g->head) >= g->p.max_entries)
        drop(g, g->head);
}

static void fail_one(cv_guard *g, const keybuf *k, int64_t now_us)
{
    bool add_failed = false;
    entry *e = lookup(g, k, now_us);
    if (e) {
        HASH_DEL(g->head, e);
    } else {
        evict(g, now_us);
        e = calloc(1, sizeof(*e) + k->len);
        if (!e)
            return;
        memcpy(e->key, k->b, k->len);
        e->keylen = k->len;
    }
    if (e->failures < FAILURES_MAX)
        e->failures++;
    e->last_us = now_us;
    int64_t lock = lockout(&g->p, e->failures);
    e->locked_until = lock > 0 ? now_us + lock : 0;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, g->head, e->key, e->keylen, k->hashv, e);
    if (add_failed)
        free(e);
}

void cv_guard_failed(cv_guard *g, const char *realm, const char *address, const char *account, int64_t now_us)
{
    keybuf k;
    if (address && make_key(g, &k, realm, 'a', address))
        fail_one(g, &k, now_us);
    if (account && *account && make_key(g, &k, realm, 'u', account))
        fail_one(g, &k, now_us);
}

void cv_guard_succeeded(cv_guard *g, const char *realm, const char *address, const char *account)
{
    keybuf k;
    entry *e = NULL;
    if (address && make_key(g, &k, realm, 'a', address)) {
        HASH_FIND_BYHASHVALUE(hh, g->head, k.b, k.len, k.hashv, e);
        if (e)
            drop(g, e);
    }
    e = NULL;
    if (account && *account && make_key(g, &k, realm, 'u', account)) {
        HASH_FIND_BYHASHVALUE(hh, g->head, k.b, k.len, k.hashv, e);
        if (e)
            drop(g, e);
    }
}

size_t cv_guard_entries(const cv_guard *g) { return HASH_COUNT(g->head); }
