/* Static files of the web app; see web.h. */
#define CV_LOG_MODULE "web"
#include "web/web.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/log.h"
#include "base/util.h"

#ifndef CV_WEB_ROOT
#define CV_WEB_ROOT "web"
#endif

#define MAX_PATH_LEN 256
#define MAX_FILE     (4u << 20)
#define CACHE_BUDGET (32u << 20)
#define ETAG_BYTES   16

static const char *const vendor_pkgs[] = {"hls.js", "qrcode-generator"};

static const char CSP[] = "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "
                          "img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; "
                          "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
                          "frame-ancestors 'none'; form-action 'self'\r\n";
static const char COMMON[] = "X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n";
static const char HTML_TYPE[] = "text/html; charset=utf-8";

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {"html", HTML_TYPE},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"ico", "image/x-icon"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"map", "application/json"},
    {"woff2", "font/woff2"},
};

typedef struct {
    char *key; /* path relative to the root */
    uint8_t *data;
    size_t len;
    char etag[2 * ETAG_BYTES + 3]; /* quoted hex */
    dev_t dev;
    ino_t ino;
    struct timespec mtime, ctime;
    uint64_t used; /* LRU stamp */
    /* Read within a couple of seconds of its last change: timestamps are
     * coarse (a few ms), so a change in the same tick would look like no
     * change. Read again each time until it settles. */
    bool racy;
} entry;

struct cv_web {
    char *root;
    entry *ents;
    size_t n, cap;
    size_t bytes; /* sum of cached lengths */
    uint64_t clock;
};

const char *cv_web_default_root(void)
{
    return CV_WEB_ROOT;
}

/* ---------------------------------------------------------- path checks */

static const char *type_of(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    const char *dot = strrchr(slash ? slash + 1 : rel, '.');
    if (!dot)
        return NULL;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot + 1, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

static bool path_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '/' || c == '-';
}

/* A relative path of segments: allowed characters only, no empty segment,
 * no segment starting with '.', no "..". */
static bool rel_ok(const char *p, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!path_char_ok(p[i]))
            return false;
        bool seg_start = i == 0 || p[i - 1] == '/';
        if (seg_start && (p[i] == '/' || p[i] == '.'))
            return false;
        if (p[i] == '.' && i + 1 < len && p[i + 1] == '.')
            return false;
    }
    return p[len - 1] != '/';
}

static bool vendor_allowed(const char *p, size_t len)
{
    for (size_t i = 0; i < sizeof(vendor_pkgs) / sizeof(vendor_pkgs[0]); i++)
        if (strlen(vendor_pkgs[i]) == len && memcmp(vendor_pkgs[i], p, len) == 0)
            return true;
    return false;
}

static bool has_prefix(const char *p, size_t len, const char *pre)
{
    size_t n = strlen(pre);
    return len >= n && memcmp(p, pre, n) == 0;
}

int cv_web_map_path(const char *path, size_t len, char *out, size_t cap)
{
    if (len > MAX_PATH_LEN || memchr(path, '%', len) || !has_prefix(path, len, "/app/"))
        return -ENOENT;
    const char *rel = path + 5;
    size_t rlen = len - 5;
    const char *pre = "";
    if (rlen == 0) {
        rel = "index.html";
        rlen = strlen(rel);
    } else if (has_prefix(rel, rlen, "vendor/")) {
        rel += 7;
        rlen -= 7;
        const char *slash = memchr(rel, '/', rlen);
        if (!slash || !vendor_allowed(rel, (size_t)(slash - rel)))
            return -ENOENT;
        pre = "node_modules/";
    } else if (has_prefix(rel, rlen, "node_modules/")) {
        return -ENOENT; /* only through the allowlist */
    }
    if (!rel_ok(rel, rlen))
        return -ENOENT;
    size_t plen = strlen(pre);
    if (plen + rlen >= cap)
        return -ENOSPC;
    memcpy(out, pre, plen);
    memcpy(out + plen, rel, rlen);
    out[plen + rlen] = '\0';
    if (!type_of(out))
        return -ENOENT;
    return (int)(plen + rlen);
}

/* ---------------------------------------------------------------- cache */

static void entry_clear(entry *e)
{
    free(e->key);
    free(e->data);
}

static entry *cache_find(cv_web *w, const char *key)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->ents[i].key, key) == 0)
            return &w->ents[i];
    return NULL;
}

static void cache_drop(cv_web *w, entry *e)
{
    w->bytes -= e->len;
    entry_clear(e);
    *e = w->ents[--w->n];
}

/* Makes room for len more bytes, least recently used first. */
static void cache_evict(cv_web *w, size_t len)
{
    while (w->n && w->bytes + len > CACHE_BUDGET) {
        size_t old = 0;
        for (size_t i = 1; i < w->n; i++)
            if (w->ents[i].used < w->ents[old].used)
                old = i;
        cache_drop(w, &w->ents[old]);
    }
}

static bool same_file(const entry *e, const struct stat *st)
{
    return e->dev == st->st_dev && e->ino == st->st_ino && e->len == (size_t)st->st_size &&
           e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static int read_all(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t k = read(fd, buf + got, len - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return k < 0 ? -errno : -EIO; /* shrank while read */
        got += (size_t)k;
    }
    return 0;
}

/* The file at root/key, from the cache when unchanged on disk. NULL when it
 * is not a regular file under the root, too large or unreadable. The entry
 * stays valid until the next call. */
static const entry *load(cv_web *w, const char *key)
{
    char full[PATH_MAX], rroot[PATH_MAX], rfile[PATH_MAX];
    int n = snprintf(full, sizeof(full), "%s/%s", w->root, key);
    if (n < 0 || (size_t)n >= sizeof(full) || !realpath(w->root, rroot) || !realpath(full, rfile))
        return NULL;
    size_t rn = strlen(rroot);
    if (rn && rroot[rn - 1] == '/')
        rn--; /* the root is "/" */
    if (strncmp(rfile, rroot, rn) != 0 || rfile[rn] != '/')
        return NULL;
    int fd = open(rfile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    struct stat st;
    entry *e = cache_find(w, key);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > MAX_FILE) {
        close(fd);
        if (e)
            cache_drop(w, e);
        return NULL;
    }
    if (e && same_file(e, &st) && !e->racy) {
        close(fd);
        e->used = ++w->clock;
        return e;
    }
    if (e)
        cache_drop(w, e);
    size_t len = (size_t)st.st_size;
    uint8_t *data = malloc(len ? len : 1);
    char *k = strdup(key);
    if (!data || !k || read_all(fd, data, len) < 0) {
        close(fd);
        free(data);
        free(k);
        return NULL;
    }
    close(fd);
    cache_evict(w, len);
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        entry *ne = realloc(w->ents, nc * sizeof(*ne));
        if (!ne) {
            free(data);
            free(k);
            return NULL;
        }
        w->ents = ne;
        w->cap = nc;
    }
    e = &w->ents[w->n++];
    *e = (entry){.key = k, .data = data, .len = len, .dev = st.st_dev, .ino = st.st_ino,
                 .mtime = st.st_mtim, .ctime = st.st_ctim, .used = ++w->clock};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    e->racy = now.tv_sec - st.st_ctim.tv_sec < 2; /* ctime follows every change */
    uint8_t h[ETAG_BYTES];
    crypto_generichash(h, sizeof(h), data, len, NULL, 0);
    e->etag[0] = '"';
    sodium_bin2hex(e->etag + 1, sizeof(e->etag) - 1, h, sizeof(h));
    memcpy(e->etag + 1 + 2 * ETAG_BYTES, "\"", 2);
    w->bytes += len;
    return e;
}

/* -------------------------------------------------------------- answers */

static bool index_present(const cv_web *w)
{
    char p[PATH_MAX];
    struct stat st;
    int n = snprintf(p, sizeof(p), "%s/index.html", w->root);
    return n > 0 && (size_t)n < sizeof(p) && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static void not_found(cv_web *w, cv_http_req *req)
{
    static const char missing[] =
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>camvault</title></head>\n"
        "<body><h1>The web app is not installed</h1>\n"
        "<p>camvault found no web app to serve (index.html is missing from its web folder).</p></body></html>\n";
    static const char nf[] =
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not found</title></head>\n"
        "<body><h1>Not found</h1><p><a href=\"/app/\">camvault</a></p></body></html>\n";
    bool inst = index_present(w);
    char hdr[sizeof(COMMON) + sizeof(CSP)];
    snprintf(hdr, sizeof(hdr), "%s%s", COMMON, CSP);
    cv_http_respond(req, 404, HTML_TYPE, inst ? nf : missing, inst ? sizeof(nf) - 1 : sizeof(missing) - 1, hdr);
}

/* True when the If-None-Match header lists etag (or is "*"). */
static bool etag_matches(cv_str inm, const char *etag)
{
    size_t elen = strlen(etag);
    size_t i = 0;
    while (i < inm.len) {
        while (i < inm.len && (inm.p[i] == ' ' || inm.p[i] == '\t' || inm.p[i] == ','))
            i++;
        size_t s = i;
        while (i < inm.len && inm.p[i] != ',')
            i++;
        cv_str t = cv_str_trim((cv_str){inm.p + s, i - s});
        if (t.len >= 2 && t.p[0] == 'W' && t.p[1] == '/') {
            t.p += 2;
            t.len -= 2;
        }
        if ((t.len == 1 && t.p[0] == '*') || (t.len == elen && memcmp(t.p, etag, elen) == 0))
            return true;
    }
    return false;
}

static void serve(cv_web *w, cv_http_req *req, const char *key)
{
    const char *type = type_of(key);
    const entry *e = type ? load(w, key) : NULL;
    if (!e) {
        not_found(w, req);
        return;
    }
    bool html = type == HTML_TYPE;
    char hdr[sizeof(COMMON) + sizeof(CSP) + 128];
    snprintf(hdr, sizeof(hdr), "Cache-Control: no-cache\r\nETag: %s\r\n%s%s", e->etag, COMMON, html ? CSP : "");
    cv_str inm = cv_http_req_header(req, "If-None-Match");
    if (inm.p && etag_matches(inm, e->etag)) {
        cv_http_respond(req, 304, NULL, NULL, 0, hdr);
        return;
    }
    cv_http_respond(req, 200, type, e->data, e->len, hdr);
}

static void redirect(cv_http_req *req)
{
    cv_str q = cv_http_req_query(req);
    bool keep = q.len > 0 && q.len <= 1024;
    for (size_t i = 0; keep && i < q.len; i++)
        keep = q.p[i] > 0x20 && q.p[i] < 0x7f;
    char hdr[sizeof(COMMON) + 1100];
    snprintf(hdr, sizeof(hdr), "Location: /app/%s%.*s\r\n%s", keep ? "?" : "", keep ? (int)q.len : 0,
             keep ? q.p : "", COMMON);
    cv_http_respond(req, 302, NULL, NULL, 0, hdr);
}

bool cv_web_handle(cv_web *w, cv_http_req *req)
{
    cv_str p = cv_http_req_path(req);
    bool root = p.len == 1 && p.p[0] == '/';
    bool app = cv_str_eq(p, CV_STR_LIT("/app"));
    bool fav = cv_str_eq(p, CV_STR_LIT("/favicon.ico"));
    if (!root && !app && !fav && !has_prefix(p.p, p.len, "/app/"))
        return false;
    const char *m = cv_http_req_method(req);
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        static const char body[] = "Method not allowed\n";
        char hdr[sizeof(COMMON) + 32];
        snprintf(hdr, sizeof(hdr), "Allow: GET, HEAD\r\n%s", COMMON);
        cv_http_respond(req, 405, "text/plain; charset=utf-8", body, sizeof(body) - 1, hdr);
        return true;
    }
    if (root || app) {
        redirect(req);
        return true;
    }
    if (fav) {
        serve(w, req, "favicon.svg");
        return true;
    }
    char key[MAX_PATH_LEN + 16];
    if (cv_web_map_path(p.p, p.len, key, sizeof(key)) < 0)
        not_found(w, req);
    else
        serve(w, req, key);
    return true;
}

/* ------------------------------------------------------------ lifecycle */

cv_web *cv_web_new(const char *root)
{
    cv_web *w = calloc(1, sizeof(*w));
    if (!w || sodium_init() < 0) {
        free(w);
        return NULL;
    }
    w->root = strdup(root ? root : cv_web_default_root());
    if (!w->root) {
        free(w);
        return NULL;
    }
    if (!index_present(w)) {
        CV_WARN("the web app is not installed: %s/index.html is missing; /app/ answers 404", w->root);
    } else {
        for (size_t i = 0; i < sizeof(vendor_pkgs) / sizeof(vendor_pkgs[0]); i++) {
            char d[PATH_MAX];
            struct stat st;
            int n = snprintf(d, sizeof(d), "%s/node_modules/%s", w->root, vendor_pkgs[i]);
            if (n > 0 && (size_t)n < sizeof(d) && stat(d, &st) != 0) {
                CV_WARN("%s is missing: run `npm ci --prefix %s`", d, w->root);
                break;
            }
        }
    }
    return w;
}

void cv_web_free(cv_web *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        entry_clear(&w->ents[i]);
    free(w->ents);
    free(w->root);
    free(w);
}
