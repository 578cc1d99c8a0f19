/* The web app's static files: a plain HTML/CSS/JS-modules app in a root
 * folder (by default the source tree's web/), plus an allowlist of npm
 * packages installed there by `npm ci --prefix web` (hls.js,
 * qrcode-generator), served as /app/vendor/<pkg>/...
 *
 * Routes (GET and HEAD; other methods 405):
 *   /             302 to /app/
 *   /app          302 to /app/
 *   /app/         <root>/index.html
 *   /app/<rel>    <root>/<rel>
 *   /app/vendor/<pkg>/<rel>   <root>/node_modules/<pkg>/<rel>
 *   /favicon.ico  <root>/favicon.svg
 * Paths are checked before any file is touched (cv_web_map_path); a file
 * must resolve (symlinks followed) to a regular file under the root, of at
 * most 4 MiB. Answers carry Cache-Control: no-cache and an ETag
 * (If-None-Match gives 304), X-Frame-Options: DENY, Referrer-Policy:
 * no-referrer, and HTML ones a strict Content-Security-Policy. Files are kept
 * in a bounded in-memory cache and re-stat'ed on each request, so edits show
 * at once. Reads block the loop: the files are small. Loop thread only. */
#ifndef CV_WEB_WEB_H
#define CV_WEB_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include "http/server.h"

typedef struct cv_web cv_web;

/* root is copied; NULL means cv_web_default_root(). Logs one warning when
 * root/index.html (or an allowlisted package) is missing: the module still
 * answers, with a "not installed" page. Returns NULL only when out of
 * memory. */
cv_web *cv_web_new(const char *root);
void cv_web_free(cv_web *w);

/* True when the request's path is the module's ("/", "/app", "/app/...",
 * "/favicon.ico"): it has then been answered. False: untouched. */
bool cv_web_handle(cv_web *w, cv_http_req *req);

/* The compiled-in root: the source tree's web/ folder. */
const char *cv_web_default_root(void);

/* Maps a request path (len bytes, not NUL-terminated; "/app/" or
 * "/app/<rel>") to a file path relative to the root ("index.html",
 * "js/main.js", "node_modules/hls.js/dist/hls.mjs"), NUL-terminated in out.
 * Refuses (-ENOENT) '%', empty, "." and ".." segments, segments starting
 * with '.', any "..", characters outside [A-Za-z0-9._/-], paths over 256
 * bytes, an extension not served, /app/vendor/ outside the package
 * allowlist and /app/node_modules/. -ENOSPC when out is too small. Pure:
 * touches no file. */
int cv_web_map_path(const char *path, size_t len, char *out, size_t cap);

#endif
