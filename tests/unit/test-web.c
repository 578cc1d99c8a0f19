/* The web app's static files (src/web): a scratch root with an app, two
 * vendor packages and a few traps, served by a real cv_http server on
 * 127.0.0.1 whose loop is turned on the test thread (http-fixture.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "http-fixture.h"
#include "http/server.h"
#include "tmpdir-fixture.h"
#include "web/web.h"

#define TIMEOUT_US (5 * 1000 * 1000)

typedef struct {
    tmpdir root;    /* the web root */
    tmpdir outside; /* a folder next to it, for the symlink traps */
    uv_loop_t loop;
    cv_http_server *srv;
    cv_web *web;
} fx;

static void put(const char *dir, const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    /* parents first */
    for (char *s = strchr(p + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void handle(void *ctx, cv_http_req *req)
{
    fx *f = ctx;
    if (!cv_web_handle(f->web, req))
        cv_http_respond(req, 418, "text/plain", "not web\n", 8, NULL);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void start(fx *f, const char *root)
{
    f->web = cv_web_new(root);
    assert_non_null(f->web);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    cv_http_server_config hc = {.bind_addr = "127.0.0.1", .handle = handle, .ctx = f};
    assert_int_equal(cv_http_server_start(&f->srv, &f->loop, &hc), 0);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (!f || tmpdir_make(&f->root, "web", "x") != 0 || tmpdir_make(&f->outside, "webout", "x") != 0)
        return -1;
    const char *r = f->root.dir;
    put(r, "index.html", "<!doctype html><title>camvault</title>\n");
    put(r, "js/main.js", "import './lib/util.mjs';\n");
    put(r, "js/lib/util.mjs", "export const x = 1;\n");
    put(r, "css/app.css", "body { color: black; }\n");
    put(r, "img/logo.png", "\x89PNG fake");
    put(r, "img/icons/cam.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    put(r, "favicon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"><circle r=\"1\"/></svg>");
    put(r, "data/strings.json", "{\"a\": 1}");
    put(r, "fonts/ui.woff2", "wOF2");
    put(r, "notes.txt", "hello\n");
    put(r, "secret.php", "<?php ?>");
    put(r, ".env.json", "{\"secret\": 1}");
    put(r, ".hidden/x.js", "hidden");
    put(r, "node_modules/hls.js/dist/hls.mjs", "export default class Hls {}\n");
    put(r, "node_modules/qrcode-generator/qrcode.js", "var qrcode = 1;\n");
    put(r, "node_modules/left-pad/index.js", "module.exports = 1;\n");
    put(f->outside.dir, "stolen.js", "secret outside the root\n");
    put(f->outside.dir, "dir/also.js", "secret dir\n");
    char target[256], link[256];
    snprintf(target, sizeof(target), "%s/stolen.js", f->outside.dir);
    snprintf(link, sizeof(link), "%s/js/escape.js", r);
    if (symlink(target, link) != 0)
        return -1;
    snprintf(target, sizeof(target), "%s/dir", f->outside.dir);
    snprintf(link, sizeof(link), "%s/outdir", r);
    if (symlink(target, link) != 0)
        return -1;
    snprintf(link, sizeof(link), "%s/js/inside.js", r); /* a link inside the root is fine */
    if (symlink("main.js", link) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f->srv) {
        cv_http_server_stop(f->srv, NULL, NULL);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&f->loop), 0);
    }
    cv_web_free(f->web);
    nftw(f->root.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    nftw(f->outside.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* One request; extra: header lines ("Name: v\r\n") or "". */
static void req(fx *f, const char *method, const char *path, const char *extra, http_fx_resp *out)
{
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n", method, path,
                     extra);
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    memset(out, 0, sizeof(*out));
    http_fx_exchange(&f->loop, cv_http_server_port(f->srv), buf, (size_t)n, strcmp(method, "HEAD") == 0,
                     TIMEOUT_US, out);
}

static void hdr_is(const http_fx_resp *r, const char *name, const char *want)
{
    char v[1024];
    if (!http_fx_header(r->head, name, v, sizeof(v)))
        fail_msg("no %s header in:\n%s", name, r->head);
    assert_string_equal(v, want);
}

static bool has_hdr(const http_fx_resp *r, const char *name)
{
    char v[1024];
    return http_fx_header(r->head, name, v, sizeof(v));
}

static void get_ok(fx *f, const char *path, const char *type, const char *body)
{
    http_fx_resp r;
    req(f, "GET", path, "", &r);
    if (r.status != 200)
        fail_msg("%s: %d", path, r.status);
    hdr_is(&r, "Content-Type", type);
    hdr_is(&r, "Cache-Control", "no-cache");
    hdr_is(&r, "X-Frame-Options", "DENY");
    hdr_is(&r, "Referrer-Policy", "no-referrer");
    hdr_is(&r, "X-Content-Type-Options", "nosniff");
    assert_true(has_hdr(&r, "ETag"));
    assert_int_equal(has_hdr(&r, "Content-Security-Policy"), strncmp(type, "text/html", 9) == 0);
    if (body)
        assert_string_equal(r.body, body);
    free(r.body);
}

static void get_404(fx *f, const char *method, const char *path)
{
    http_fx_resp r;
    req(f, method, path, "", &r);
    if (r.status != 404)
        fail_msg("%s: %d, want 404", path, r.status);
    hdr_is(&r, "Content-Type", "text/html; charset=utf-8");
    hdr_is(&r, "X-Frame-Options", "DENY");
    assert_true(has_hdr(&r, "Content-Security-Policy"));
    assert_null(strstr(r.body, "secret"));
    free(r.body);
}

/* ------------------------------------------------------------------ */

static void test_index_and_types(void **state)
{
    fx *f = *state;
    start(f, f->root.dir);
    get_ok(f, "/app/", "text/html; charset=utf-8", "<!doctype html><title>camvault</title>\n");
    get_ok(f, "/app/index.html", "text/html; charset=utf-8", NULL);
    get_ok(f, "/app/js/main.js", "text/javascript; charset=utf-8", "import './lib/util.mjs';\n");
    get_ok(f, "/app/js/lib/util.mjs", "text/javascript; charset=utf-8", "export const x = 1;\n");
    get_ok(f, "/app/js/inside.js", "text/javascript; charset=utf-8", "import './lib/util.mjs';\n");
    get_ok(f, "/app/css/app.css", "text/css; charset=utf-8", NULL);
    get_ok(f, "/app/img/logo.png", "image/png", NULL);
    get_ok(f, "/app/img/icons/cam.svg", "image/svg+xml", NULL);
    get_ok(f, "/app/data/strings.json", "application/json", NULL);
    get_ok(f, "/app/fonts/ui.woff2", "font/woff2", NULL);
    get_ok(f, "/app/notes.txt", "text/plain; charset=utf-8", "hello\n");
    get_ok(f, "/favicon.ico", "image/svg+xml", NULL);

    /* the CSP, whole */
    http_fx_resp r;
    req(f, "GET", "/app/", "", &r);
    hdr_is(&r, "Content-Security-Policy",
           "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
           "media-src 'self' blob:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
           "base-uri 'none'; frame-ancestors 'none'; form-action 'self'");
    free(r.body);

    /* not the module's */
    req(f, "GET", "/api/v1/me", "", &r);
    assert_int_equal(r.status, 418);
    free(r.body);
    req(f, "GET", "/application", "", &r);
    assert_int_equal(r.status, 418);
    free(r.body);
}

static void test_etag_304(void **state)
{
    fx *f = *state;
    start(f, f->root.dir);
    http_fx_resp r;
    req(f, "GET", "/app/js/main.js", "", &r);
    char etag[128], line[200];
    assert_true(http_fx_header(r.head, "ETag", etag, sizeof(etag)));
    assert_int_equal(strlen(etag), 34);
    assert_true(etag[0] == '"' && etag[33] == '"');
    free(r.body);

    snprintf(line, sizeof(line), "If-None-Match: %s\r\n", etag);
    req(f, "GET", "/app/js/main.js", line, &r);
    assert_int_equal(r.status, 304);
    hdr_is(&r, "ETag", etag);
    hdr_is(&r, "X-Frame-Options", "DENY");
    assert_int_equal(r.body_len, 0);
    free(r.body);

    snprintf(line, sizeof(line), "If-None-Match: \"nope\", W/%s\r\n", etag);
    req(f, "GET", "/app/js/main.js", line, &r);
    assert_int_equal(r.status, 304);
    free(r.body);

    req(f, "GET", "/app/js/main.js", "If-None-Match: \"0123\"\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "import './lib/util.mjs';\n");
    free(r.body);

    /* another file, another tag */
    req(f, "GET", "/app/js/lib/util.mjs", line, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
}

static void test_refusals(void **state)
{
    fx *f = *state;
    start(f, f->root.dir);
    get_404(f, "GET", "/app/../secret.php");
    get_404(f, "GET", "/app/js/../index.html");
    get_404(f, "GET", "/app/%2e%2e/index.html");
    get_404(f, "GET", "/app/js/main%2ejs");
    get_404(f, "GET", "/app/.env.json");
    get_404(f, "GET", "/app/.hidden/x.js");
    get_404(f, "GET", "/app/./index.html");
    get_404(f, "GET", "/app/js//main.js");
    get_404(f, "GET", "/app/js/");
    get_404(f, "GET", "/app/secret.php");
    get_404(f, "GET", "/app/js/main");
    get_404(f, "GET", "/app/js/main.js~");
    get_404(f, "GET", "/app/no/such.js");
    get_404(f, "GET", "/app/js/ma'in.js");
    get_404(f, "GET", "/app/js/main.js;x");
    /* too long: 257 bytes of path, the file being there does not matter */
    char longp[320], name[300];
    memset(name, 'a', 245);
    strcpy(name + 245, ".js");
    snprintf(longp, sizeof(longp), "/app/%s", name); /* 5 + 248 = 253: allowed */
    put(f->root.dir, name, "long\n");
    get_ok(f, longp, "text/javascript; charset=utf-8", "long\n");
    memmove(name + 4, name, strlen(name) + 1);
    memcpy(name, "aaaa", 4); /* 257 */
    put(f->root.dir, name, "long\n");
    snprintf(longp, sizeof(longp), "/app/%s", name);
    assert_int_equal(strlen(longp), 257);
    get_404(f, "GET", longp);
    /* symlinks out of the root */
    get_404(f, "GET", "/app/js/escape.js");
    get_404(f, "GET", "/app/outdir/also.js");
    /* too large: 4 MiB + 1 (sparse) */
    char big[512];
    snprintf(big, sizeof(big), "%s/big.js", f->root.dir);
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (4 << 20) + 1), 0);
    close(fd);
    get_404(f, "GET", "/app/big.js");
    assert_int_equal(truncate(big, 4 << 20), 0);
    http_fx_resp r;
    req(f, "HEAD", "/app/big.js", "", &r);
    assert_int_equal(r.status, 200);
    hdr_is(&r, "Content-Length", "4194304");
    free(r.body);
    /* a directory */
    snprintf(big, sizeof(big), "%s/dir.js", f->root.dir);
    assert_int_equal(mkdir(big, 0755), 0);
    get_404(f, "GET", "/app/dir.js");
}

static void test_vendor(void **state)
{
    fx *f = *state;
    start(f, f->root.dir);
    get_ok(f, "/app/vendor/hls.js/dist/hls.mjs", "text/javascript; charset=utf-8", "export default class Hls {}\n");
    get_ok(f, "/app/vendor/qrcode-generator/qrcode.js", "text/javascript; charset=utf-8", "var qrcode = 1;\n");
    get_404(f, "GET", "/app/vendor/left-pad/index.js");
    get_404(f, "GET", "/app/node_modules/hls.js/dist/hls.mjs");
    get_404(f, "GET", "/app/vendor/hls.js");
    get_404(f, "GET", "/app/vendor/hls.js/");
    get_404(f, "GET", "/app/vendor/hls.js/../left-pad/index.js");
    get_404(f, "GET", "/app/vendor/hls.jsx/dist/hls.mjs");
}

static void test_methods_and_redirects(void **state)
{
    fx *f = *state;
    start(f, f->root.dir);
    http_fx_resp r;
    req(f, "HEAD", "/app/js/main.js", "", &r);
    assert_int_equal(r.status, 200);
    hdr_is(&r, "Content-Length", "25");
    hdr_is(&r, "Content-Type", "text/javascript; charset=utf-8");
    assert_true(has_hdr(&r, "ETag"));
    free(r.body);

    const char *bad[] = {"POST", "PUT", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < 4; i++) {
        req(f, bad[i], i % 2 ? "/" : "/app/js/main.js", "Content-Length: 0\r\n", &r);
        assert_int_equal(r.status, 405);
        hdr_is(&r, "Allow", "GET, HEAD");
        hdr_is(&r, "X-Frame-Options", "DENY");
        free(r.body);
    }

    struct {
        const char *method, *path, *loc;
    } redir[] = {
        {"GET", "/", "/app/"},
        {"HEAD", "/", "/app/"},
        {"GET", "/app", "/app/"},
        {"GET", "/app?invite=abc", "/app/?invite=abc"},
        {"GET", "/?", "/app/"},
    };
    for (size_t i = 0; i < sizeof(redir) / sizeof(redir[0]); i++) {
        req(f, redir[i].method, redir[i].path, "", &r);
        assert_int_equal(r.status, 302);
        hdr_is(&r, "Location", redir[i].loc);
        hdr_is(&r, "Referrer-Policy", "no-referrer");
        free(r.body);
    }
}

static void test_missing_root(void **state)
{
    fx *f = *state;
    char root[256];
    snprintf(root, sizeof(root), "%s/nowhere", f->root.dir);
    start(f, root);
    http_fx_resp r;
    const char *paths[] = {"/app/", "/app/js/main.js", "/favicon.ico"};
    for (size_t i = 0; i < 3; i++) {
        req(f, "GET", paths[i], "", &r);
        assert_int_equal(r.status, 404);
        assert_non_null(strstr(r.body, "not installed"));
        assert_true(has_hdr(&r, "Content-Security-Policy"));
        free(r.body);
    }
    req(f, "GET", "/", "", &r);
    assert_int_equal(r.status, 302);
    free(r.body);

    /* installed afterwards: served without a restart */
    assert_int_equal(mkdir(root, 0755), 0);
    put(root, "index.html", "late\n");
    get_ok(f, "/app/", "text/html; charset=utf-8", "late\n");
    /* index.html gone again: the other files too say so */
    char p[300];
    snprintf(p, sizeof(p), "%s/index.html", root);
    put(root, "a.js", "a\n");
    assert_int_equal(unlink(p), 0);
    req(f, "GET", "/app/nope.js", "", &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "not installed"));
    free(r.body);
    snprintf(p, sizeof(p), "%s/a.js", root);
    unlink(p);
    rmdir(root);
}

static void test_fresh_after_change(void **state)
{
    fx *f = *state;
    start(f, f->root.dir);
    char e1[128], e2[128];
    http_fx_resp r;
    req(f, "GET", "/app/css/app.css", "", &r);
    assert_true(http_fx_header(r.head, "ETag", e1, sizeof(e1)));
    free(r.body);
    req(f, "GET", "/app/css/app.css", "", &r); /* from the cache */
    assert_string_equal(r.body, "body { color: black; }\n");
    free(r.body);

    put(f->root.dir, "css/app.css", "body { color: white; }\n"); /* same size */
    req(f, "GET", "/app/css/app.css", "", &r);
    assert_string_equal(r.body, "body { color: white; }\n");
    assert_true(http_fx_header(r.head, "ETag", e2, sizeof(e2)));
    assert_string_not_equal(e1, e2);
    free(r.body);

    char line[200];
    snprintf(line, sizeof(line), "If-None-Match: %s\r\n", e1);
    req(f, "GET", "/app/css/app.css", line, &r);
    assert_int_equal(r.status, 200);
    free(r.body);

    /* settled (changed over 2 s ago): served from the cache, and a
     * same-size rewrite given the same mtime back still shows (ctime) */
    char p[300];
    snprintf(p, sizeof(p), "%s/css/app.css", f->root.dir);
    struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
    usleep(2100 * 1000);
    for (int i = 0; i < 3; i++) {
        req(f, "GET", "/app/css/app.css", "", &r);
        assert_string_equal(r.body, "body { color: white; }\n");
        free(r.body);
    }
    put(f->root.dir, "css/app.css", "body { color: green; }\n");
    assert_int_equal(utimensat(AT_FDCWD, p, old, 0), 0);
    req(f, "GET", "/app/css/app.css", "", &r);
    assert_string_equal(r.body, "body { color: green; }\n");
    free(r.body);

    assert_int_equal(unlink(p), 0);
    get_404(f, "GET", "/app/css/app.css");
    put(f->root.dir, "css/app.css", "p{}\n");
    get_ok(f, "/app/css/app.css", "text/css; charset=utf-8", "p{}\n");
}

static void test_map_path(void **state)
{
    (void)state;
    char out[300];
    struct {
        const char *in, *out;
    } cases[] = {
        {"/app/", "index.html"},
        {"/app/a/b-c_d.1.js", "a/b-c_d.1.js"},
        {"/app/vendor/hls.js/dist/hls.mjs", "node_modules/hls.js/dist/hls.mjs"},
        {"/app/vendor/qrcode-generator/qrcode.js", "node_modules/qrcode-generator/qrcode.js"},
        {"/app/vendor/x/y.js", NULL},
        {"/app/vendor/y.js", NULL},
        {"/app/node_modules/hls.js/dist/hls.mjs", NULL},
        {"/app/a..b.js", NULL},
        {"/app/a.", NULL},
        {"/app/.js", NULL},
        {"/app/a/.b/c.js", NULL},
        {"/app/A B.js", NULL},
        {"/app/a\\b.js", NULL},
        {"/app/x.JS", NULL},
        {"/app/x.html.bak", NULL},
        {"/apps/x.js", NULL},
        {"/app", NULL},
        {"/favicon.ico", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int n = cv_web_map_path(cases[i].in, strlen(cases[i].in), out, sizeof(out));
        if (!cases[i].out) {
            if (n >= 0)
                fail_msg("%s accepted as %s", cases[i].in, out);
            continue;
        }
        assert_int_equal(n, strlen(cases[i].out));
        assert_string_equal(out, cases[i].out);
    }
    const char *in = "/app/vendor/hls.js/dist/hls.mjs";
    assert_int_equal(cv_web_map_path(in, strlen(in), out, 10), -ENOSPC);
    /* not NUL-terminated input */
    assert_int_equal(cv_web_map_path("/app/a.jsX", 9, out, sizeof(out)), 4);
    assert_string_equal(out, "a.js");
    assert_non_null(cv_web_default_root());
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_path),
        cmocka_unit_test_setup_teardown(test_index_and_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_etag_304, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vendor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_methods_and_redirects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_after_change, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
