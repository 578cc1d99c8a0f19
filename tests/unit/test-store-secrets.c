/* Unit tests for src/store/secrets.c and src/store/audit.c: capability token
 * records and their revocation, app passwords, web sessions, and the
 * append-only audit log. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir-fixture.h"
#include <sqlite3.h>

#include "base/id.h"
#include "base/util.h"
#include "store/audit.h"
#include "store/people.h"
#include "store/secrets.h"
#include "store/store.h"

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA"
#define HOUR_US (3600LL * 1000000)

typedef struct {
    tmpdir t;
    cv_store *s;
    cv_id home, cam, cam2, user, user2;
} fixture;

static cv_id add_cam(cv_store *s, const cv_id *home, const char *name)
{
    cv_camera_rec r;
    memset(&r, 0, sizeof(r));
    r.home = *home;
    r.source = CV_CAM_PUSH;
    snprintf(r.name, sizeof(r.name), "%s", name);
    cv_id id;
    assert_int_equal(cv_store_camera_add(s, &r, &id), 0);
    return id;
}

/* A store with one home, two cameras and two users (not members). */
static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (tmpdir_make(&f->t, "secrets", "camvault.db") != 0) {
        free(f);
        return -1;
    }
    if (cv_store_open(&f->s, f->t.path) != 0 || cv_store_home_add(f->s, "home", &f->home) != 0 ||
        cv_store_user_add(f->s, "user", HASH, false, &f->user) != 0 ||
        cv_store_user_add(f->s, "user2", HASH, false, &f->user2) != 0)
        return -1;
    f->cam = add_cam(f->s, &f->home, "cam");
    f->cam2 = add_cam(f->s, &f->home, "cam2");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cv_store_close(f->s);
    int rc = tmpdir_remove(&f->t);
    free(f);
    return rc;
}

static cv_token_rec token(uint8_t seed, const cv_id *cam, const cv_id *principal, int64_t expires_us)
{
    cv_token_rec t;
    memset(&t, 0, sizeof(t));
    memset(t.hash, seed, sizeof(t.hash));
    t.camera = *cam;
    t.principal_kind = 1;
    t.principal = *principal;
    t.scopes = CV_SCOPE_LIVE;
    t.expires_us = expires_us;
    return t;
}

static sqlite3 *raw_open(const fixture *f)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->t.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_extended_result_codes(db, 1);
    return db;
}

static int64_t raw_int(const fixture *f, const char *sql)
{
    sqlite3 *db = raw_open(f);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* ----------------------------------------------------------------- tokens */

static void test_secrets_token_add_get(void **state)
{
    fixture *f = *state;
    int64_t exp = cv_wall_us() + HOUR_US;
    cv_token_rec t = token(0xa1, &f->cam, &f->user, exp), out;
    t.scopes = CV_SCOPE_ALL;
    t.created_us = 5;  /* ignored */
    t.revoked = true;  /* ignored */
    assert_int_equal(cv_store_token_add(f->s, &t), 0);
    assert_int_equal(cv_store_token_get(f->s, t.hash, &out), 0);
    assert_memory_equal(out.hash, t.hash, CV_HASH_BYTES);
    assert_true(cv_id_eq(&out.camera, &f->cam));
    assert_true(cv_id_eq(&out.principal, &f->user));
    assert_int_equal(out.principal_kind, 1);
    assert_int_equal(out.scopes, CV_SCOPE_ALL);
    assert_int_equal(out.expires_us, exp);
    assert_true(out.created_us > 1600000000LL * 1000000);
    assert_false(out.revoked);

    /* Integration principals need no user row. */
    cv_id integ;
    cv_id_random(&integ);
    cv_token_rec ti = token(0xa2, &f->cam, &integ, exp);
    ti.principal_kind = 2;
    assert_int_equal(cv_store_token_add(f->s, &ti), 0);
    assert_int_equal(cv_store_token_get(f->s, ti.hash, &out), 0);
    assert_int_equal(out.principal_kind, 2);

    /* Errors. */
    assert_int_equal(cv_store_token_add(f->s, &t), -EEXIST);
    cv_token_rec bad = token(0xb0, &f->cam, &f->user, exp);
    bad.principal_kind = 0;
    assert_int_equal(cv_store_token_add(f->s, &bad), -EINVAL);
    bad.principal_kind = 3;
    assert_int_equal(cv_store_token_add(f->s, &bad), -EINVAL);
    bad = token(0xb0, &f->cam, &f->user, exp);
    bad.scopes = 0;
    assert_int_equal(cv_store_token_add(f->s, &bad), -EINVAL);
    bad.scopes = 8;
    assert_int_equal(cv_store_token_add(f->s, &bad), -EINVAL);
    bad = token(0xb0, &integ, &f->user, exp); /* no such camera */
    assert_int_equal(cv_store_token_add(f->s, &bad), -ENOENT);
    bad = token(0xb0, &f->cam, &integ, exp); /* no such user */
    assert_int_equal(cv_store_token_add(f->s, &bad), -ENOENT);
    assert_int_equal(cv_store_token_add(f->s, NULL), -EINVAL);
    uint8_t unknown[CV_HASH_BYTES];
    memset(unknown, 0xee, sizeof(unknown));
    assert_int_equal(cv_store_token_get(f->s, unknown, &out), -ENOENT);
    assert_int_equal(cv_store_token_get(f->s, NULL, &out), -EINVAL);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM tokens"), 2);
}

static void test_secrets_token_revoke(void **state)
{
    fixture *f = *state;
    int64_t now = cv_wall_us(), exp = now + HOUR_US;
    cv_token_rec a = token(1, &f->cam, &f->user, exp), b = token(2, &f->cam, &f->user, exp + 1);
    cv_token_rec c = token(3, &f->cam2, &f->user, exp), d = token(4, &f->cam, &f->user2, exp);
    cv_token_rec e = token(5, &f->cam, &f->user, now + 1000); /* expires soon */
    cv_token_rec *toks[] = {&a, &b, &c, &d, &e};
    for (size_t i = 0; i < CV_ARRAY_LEN(toks); i++)
        assert_int_equal(cv_store_token_add(f->s, toks[i]), 0);

    uint8_t *hashes = NULL;
    size_t n = 9;
    assert_int_equal(cv_store_token_revoked(f->s, now, &hashes, &n), 0);
    assert_int_equal(n, 0);
    assert_null(hashes);

    assert_int_equal(cv_store_token_revoke(f->s, b.hash), 0);
    assert_int_equal(cv_store_token_revoke(f->s, b.hash), 0); /* twice is fine */
    assert_int_equal(cv_store_token_revoke(f->s, e.hash), 0);
    uint8_t unknown[CV_HASH_BYTES];
    memset(unknown, 0xee, sizeof(unknown));
    assert_int_equal(cv_store_token_revoke(f->s, unknown), -ENOENT);
    cv_token_rec out;
    assert_int_equal(cv_store_token_get(f->s, b.hash, &out), 0);
    assert_true(out.revoked);
    assert_int_equal(cv_store_token_get(f->s, a.hash, &out), 0);
    assert_false(out.revoked);

    /* Only unexpired revoked tokens, sorted by hash. */
    assert_int_equal(cv_store_token_revoked(f->s, now, &hashes, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(hashes, b.hash, CV_HASH_BYTES);
    assert_memory_equal(hashes + CV_HASH_BYTES, e.hash, CV_HASH_BYTES);
    free(hashes);
    assert_int_equal(cv_store_token_revoked(f->s, now + 1000, &hashes, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(hashes, b.hash, CV_HASH_BYTES);
    free(hashes);

    /* By principal, on one camera, then all. */
    assert_int_equal(cv_store_token_revoke_for(f->s, &f->user, &f->cam2), 0);
    assert_int_equal(cv_store_token_get(f->s, c.hash, &out), 0);
    assert_true(out.revoked);
    assert_int_equal(cv_store_token_get(f->s, a.hash, &out), 0);
    assert_false(out.revoked);
    assert_int_equal(cv_store_token_revoke_for(f->s, &f->user, NULL), 0);
    assert_int_equal(cv_store_token_get(f->s, a.hash, &out), 0);
    assert_true(out.revoked);
    assert_int_equal(cv_store_token_get(f->s, d.hash, &out), 0);
    assert_false(out.revoked);
    assert_int_equal(cv_store_token_revoked(f->s, now, &hashes, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 1; i < n; i++)
        assert_true(memcmp(hashes + (i - 1) * CV_HASH_BYTES, hashes + i * CV_HASH_BYTES, CV_HASH_BYTES) < 0);
    free(hashes);
    cv_id nobody;
    cv_id_random(&nobody);
    assert_int_equal(cv_store_token_revoke_for(f->s, &nobody, NULL), 0);
    assert_int_equal(cv_store_token_revoke_for(f->s, NULL, NULL), -EINVAL);
    assert_int_equal(cv_store_token_revoke(f->s, NULL), -EINVAL);
    assert_int_equal(cv_store_token_revoked(f->s, now, NULL, &n), -EINVAL);
}

static void test_secrets_token_list_prune(void **state)
{
    fixture *f = *state;
    int64_t now = cv_wall_us();
    cv_token_rec a = token(1, &f->cam, &f->user, now + HOUR_US);
    cv_token_rec b = token(2, &f->cam2, &f->user, now + HOUR_US);
    cv_token_rec c = token(3, &f->cam, &f->user2, now + HOUR_US);
    cv_token_rec old = token(4, &f->cam, &f->user, now + 10);
    assert_int_equal(cv_store_token_add(f->s, &old), 0);
    assert_int_equal(cv_store_token_add(f->s, &a), 0);
    assert_int_equal(cv_store_token_add(f->s, &b), 0);
    assert_int_equal(cv_store_token_add(f->s, &c), 0);
    assert_int_equal(cv_store_token_revoke(f->s, b.hash), 0);

    cv_token_rec *list = NULL;
    size_t n = 0;
    /* Newest first; revoked ones included (flagged). */
    assert_int_equal(cv_store_token_list(f->s, NULL, NULL, now, &list, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(list[0].hash[0], 3);
    assert_int_equal(list[1].hash[0], 2);
    assert_true(list[1].revoked);
    assert_int_equal(list[2].hash[0], 1);
    assert_int_equal(list[3].hash[0], 4);
    free(list);
    /* Expired tokens are left out at now >= expires_us. */
    assert_int_equal(cv_store_token_list(f->s, NULL, NULL, now + 10, &list, &n), 0);
    assert_int_equal(n, 3);
    free(list);
    assert_int_equal(cv_store_token_list(f->s, &f->cam, NULL, now, &list, &n), 0);
    assert_int_equal(n, 3);
    free(list);
    assert_int_equal(cv_store_token_list(f->s, &f->cam, &f->user, now, &list, &n), 0);
    assert_int_equal(n, 2);
    free(list);
    assert_int_equal(cv_store_token_list(f->s, NULL, &f->user2, now, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].hash[0], 3);
    free(list);
    assert_int_equal(cv_store_token_list(f->s, NULL, NULL, now + 2 * HOUR_US, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_null(list);

    /* Prune deletes what expired before the cut, revoked or not. */
    assert_int_equal(cv_store_token_prune(f->s, now + 10), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM tokens"), 4);
    assert_int_equal(cv_store_token_prune(f->s, now + 11), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM tokens"), 3);
    cv_token_rec out;
    assert_int_equal(cv_store_token_get(f->s, old.hash, &out), -ENOENT);
    assert_int_equal(cv_store_token_prune(f->s, now + 2 * HOUR_US), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM tokens"), 0);
    assert_int_equal(cv_store_token_prune(NULL, 0), -EINVAL);
}

/* ---------------------------------------------------------- app passwords */

static void test_secrets_apppw(void **state)
{
    fixture *f = *state;
    cv_id p1, p2, p3;
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, "NVR 'garage'; --", "s1.first", &p1), 0);
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, "VLC \xf0\x9f\x93\xba", "s1.second", &p2), 0);
    assert_int_equal(cv_store_apppw_add(f->s, &f->user2, "other", "s1.third", &p3), 0);

    cv_apppw_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_apppw_list(f->s, &f->user, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_true(cv_id_eq(&list[0].id, &p1));
    assert_true(cv_id_eq(&list[0].user, &f->user));
    assert_string_equal(list[0].label, "NVR 'garage'; --");
    assert_string_equal(list[0].sealed, "s1.first");
    assert_true(list[0].created_us > 0);
    assert_string_equal(list[1].label, "VLC \xf0\x9f\x93\xba");
    free(list);

    /* Errors. */
    cv_id unknown;
    cv_id_random(&unknown);
    assert_int_equal(cv_store_apppw_add(f->s, &unknown, "x", "s1.x", NULL), -ENOENT);
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, "", "s1.x", NULL), -EINVAL);
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, "tab\t", "s1.x", NULL), -EINVAL);
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, "x", "", NULL), -EINVAL);
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, "x", "s1.\n", NULL), -EINVAL);
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, NULL, "s1.x", NULL), -EINVAL);
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, "x", NULL, NULL), -EINVAL);
    char big[300];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, "x", big, NULL), -EINVAL);
    big[255] = '\0';
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, "x", big, NULL), 0);
    big[64] = '\0';
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, big, "s1.x", NULL), -EINVAL);
    big[63] = '\0';
    assert_int_equal(cv_store_apppw_add(f->s, &f->user, big, "s1.x", NULL), 0);

    /* Removal: only by its owner; tombstone erases the sealed value. */
    assert_int_equal(cv_store_apppw_remove(f->s, &f->user2, &p1), -ENOENT);
    assert_int_equal(cv_store_apppw_remove(f->s, &f->user, &p1), 0);
    assert_int_equal(cv_store_apppw_remove(f->s, &f->user, &p1), -ENOENT);
    assert_int_equal(cv_store_apppw_list(f->s, &f->user, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_true(cv_id_eq(&list[0].id, &p2));
    free(list);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM app_passwords WHERE removed_us IS NOT NULL AND sealed = ''"), 1);
    assert_int_equal(cv_store_apppw_list(f->s, NULL, &list, &n), -EINVAL);
}

/* ----------------------------------------------------- web / API sessions */

static void test_secrets_websessions(void **state)
{
    fixture *f = *state;
    int64_t now = cv_wall_us(), exp = now + HOUR_US;
    cv_websession_rec ws, out;
    memset(&ws, 0, sizeof(ws));
    memset(ws.hash, 0x42, sizeof(ws.hash));
    ws.user = f->user;
    ws.expires_us = exp;
    assert_int_equal(cv_store_websession_add(f->s, &ws), 0);
    assert_int_equal(cv_store_websession_add(f->s, &ws), -EEXIST);

    assert_int_equal(cv_store_websession_get(f->s, ws.hash, now, &out), 0);
    assert_memory_equal(out.hash, ws.hash, CV_HASH_BYTES);
    assert_true(cv_id_eq(&out.user, &f->user));
    assert_int_equal(out.expires_us, exp);
    assert_true(out.created_us >= now);
    /* Expiry boundary. */
    assert_int_equal(cv_store_websession_get(f->s, ws.hash, exp - 1, &out), 0);
    assert_int_equal(cv_store_websession_get(f->s, ws.hash, exp, &out), -ENOENT);

    uint8_t unknown[CV_HASH_BYTES];
    memset(unknown, 0x43, sizeof(unknown));
    assert_int_equal(cv_store_websession_get(f->s, unknown, now, &out), -ENOENT);
    assert_int_equal(cv_store_websession_remove(f->s, unknown), -ENOENT);

    /* Errors on add. */
    cv_websession_rec bad = ws;
    memset(bad.hash, 0x44, sizeof(bad.hash));
    bad.expires_us = now - 1;
    assert_int_equal(cv_store_websession_add(f->s, &bad), -EINVAL);
    bad.expires_us = exp;
    cv_id_random(&bad.user);
    assert_int_equal(cv_store_websession_add(f->s, &bad), -ENOENT);
    assert_int_equal(cv_store_websession_add(f->s, NULL), -EINVAL);

    assert_int_equal(cv_store_websession_remove(f->s, ws.hash), 0);
    assert_int_equal(cv_store_websession_get(f->s, ws.hash, now, &out), -ENOENT);
    assert_int_equal(cv_store_websession_remove(f->s, ws.hash), -ENOENT);

    /* Prune. */
    assert_int_equal(cv_store_websession_add(f->s, &ws), 0);
    assert_int_equal(cv_store_websession_prune(f->s, exp), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM websessions"), 1);
    assert_int_equal(cv_store_websession_prune(f->s, exp + 1), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM websessions"), 0);

    /* Ending all of one user's sessions leaves the others'. */
    cv_websession_rec w2 = ws, w3 = ws;
    memset(w2.hash, 0x45, sizeof(w2.hash));
    memset(w3.hash, 0x46, sizeof(w3.hash));
    w3.user = f->user2;
    assert_int_equal(cv_store_websession_add(f->s, &ws), 0);
    assert_int_equal(cv_store_websession_add(f->s, &w2), 0);
    assert_int_equal(cv_store_websession_add(f->s, &w3), 0);
    assert_int_equal(cv_store_websession_remove_user(f->s, &f->user), 0);
    assert_int_equal(cv_store_websession_get(f->s, ws.hash, now, &out), -ENOENT);
    assert_int_equal(cv_store_websession_get(f->s, w2.hash, now, &out), -ENOENT);
    assert_int_equal(cv_store_websession_get(f->s, w3.hash, now, &out), 0);
    assert_int_equal(cv_store_websession_remove_user(f->s, &f->user), 0);

    /* A removed user's session cannot be found even if a row survived. */
    assert_int_equal(cv_store_websession_add(f->s, &ws), 0);
    sqlite3 *db = raw_open(f);
    assert_int_equal(sqlite3_exec(db, "UPDATE users SET disabled = 1", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(cv_store_websession_get(f->s, ws.hash, now, &out), -ENOENT);
}

/* ------------------------------------------------------------------ audit */

static void test_secrets_audit_append_list(void **state)
{
    fixture *f = *state;
    assert_int_equal(cv_store_audit(f->s, "login.ok", "user:alice", NULL, "192.0.2.1", "http", "first"), 0);
    assert_int_equal(cv_store_audit(f->s, "view.start", "user:alice", &f->cam, "192.0.2.1", "rtsp", NULL), 0);
    assert_int_equal(cv_store_audit(f->s, "view.stop", NULL, &f->cam2, NULL, NULL, NULL), 0);
    assert_int_equal(cv_store_audit(f->s, "grant.add", "cli", &f->cam, "", "cli", "'; DROP TABLE audit; --"), 0);

    cv_audit_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_audit_list(f->s, 0, NULL, 100, &list, &n), 0);
    assert_int_equal(n, 4);
    for (size_t i = 1; i < n; i++) {
        assert_true(list[i].seq > list[i - 1].seq);
        assert_true(list[i].ts_us >= list[i - 1].ts_us);
    }
    assert_string_equal(list[0].event, "login.ok");
    assert_string_equal(list[0].principal, "user:alice");
    assert_string_equal(list[0].camera, "");
    assert_string_equal(list[0].address, "192.0.2.1");
    assert_string_equal(list[0].protocol, "http");
    assert_string_equal(list[0].detail, "first");
    char hex[CV_ID_HEX_LEN + 1];
    cv_id_to_hex(&f->cam, hex);
    assert_string_equal(list[1].camera, hex);
    assert_string_equal(list[1].detail, "");
    assert_string_equal(list[2].principal, "");
    assert_string_equal(list[3].detail, "'; DROP TABLE audit; --");
    int64_t second = list[1].seq;
    free(list);

    /* after_seq, limit and the camera filter. */
    assert_int_equal(cv_store_audit_list(f->s, second, NULL, 100, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].event, "view.stop");
    free(list);
    assert_int_equal(cv_store_audit_list(f->s, 0, NULL, 2, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[1].event, "view.start");
    free(list);
    assert_int_equal(cv_store_audit_list(f->s, 0, &f->cam, 100, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].event, "view.start");
    assert_string_equal(list[1].event, "grant.add");
    free(list);
    assert_int_equal(cv_store_audit_list(f->s, 0, NULL, 0, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_null(list);

    assert_int_equal(cv_store_audit(f->s, NULL, "x", NULL, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(cv_store_audit(f->s, "", "x", NULL, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(cv_store_audit_list(f->s, 0, NULL, 10, NULL, &n), -EINVAL);
}

static void test_secrets_audit_truncates_and_sanitises(void **state)
{
    fixture *f = *state;
    char longp[400], detail[600];
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    /* 254 ASCII bytes then a 2-byte character: it must not be cut in half. */
    memset(detail, 'd', 254);
    strcpy(detail + 254, "\xc3\xa9 tail");
    assert_int_equal(cv_store_audit(f->s, "login.fail.with.a.very.long.event.name.xyz", longp, NULL,
                                    "addr\r\nInjected: 1", "rtsp\x1b[31m", detail), 0);
    /* Invalid UTF-8 and bidi controls become '?'. */
    assert_int_equal(cv_store_audit(f->s, "login.fail", "user:\xff\xfe" "bob\xe2\x80\xae", NULL, NULL, NULL,
                                    "bad \xc0\xaf \xe2\x82"), 0);

    cv_audit_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_audit_list(f->s, 0, NULL, 10, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(strlen(list[0].event), sizeof(list[0].event) - 1);
    assert_int_equal(strlen(list[0].principal), sizeof(list[0].principal) - 1);
    assert_string_equal(list[0].address, "addr??Injected: 1");
    assert_string_equal(list[0].protocol, "rtsp?[31m");
    assert_int_equal(strlen(list[0].detail), 254);
    assert_string_equal(list[1].principal, "user:??bob?");
    assert_string_equal(list[1].detail, "bad ?? ??");
    free(list);
}

/* UPDATE and DELETE fail on any connection; so does overwriting a row. */
static void test_secrets_audit_append_only(void **state)
{
    fixture *f = *state;
    assert_int_equal(cv_store_audit(f->s, "login.ok", "user:a", NULL, NULL, NULL, "keep me"), 0);
    sqlite3 *db = raw_open(f);
    static const char *const attacks[] = {
        "UPDATE audit SET detail = 'changed'",
        "DELETE FROM audit",
        "DELETE FROM audit WHERE seq = 1",
        "INSERT OR REPLACE INTO audit (seq, ts_us, event) VALUES (1, 0, 'forged')",
        "REPLACE INTO audit (seq, ts_us, event) VALUES (1, 0, 'forged')",
        ("INSERT INTO audit (seq, ts_us, event) VALUES (1, 0, 'forged')"
         " ON CONFLICT (seq) DO UPDATE SET event = 'forged'"),
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(attacks); i++) {
        char *err = NULL;
        assert_int_not_equal(sqlite3_exec(db, attacks[i], NULL, NULL, &err), SQLITE_OK);
        assert_non_null(err);
        assert_non_null(strstr(err, "append-only"));
        sqlite3_free(err);
    }
    sqlite3_close(db);

    cv_audit_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_audit_list(f->s, 0, NULL, 10, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].event, "login.ok");
    assert_string_equal(list[0].detail, "keep me");
    free(list);
}

/* A second connection sees appended rows, in order, and a data_version change. */
static void test_secrets_audit_second_connection(void **state)
{
    fixture *f = *state;
    cv_store *b = NULL;
    assert_int_equal(cv_store_open(&b, f->t.path), 0);
    int64_t v = cv_store_data_version(b);
    for (int i = 0; i < 20; i++) {
        char detail[16];
        snprintf(detail, sizeof(detail), "n%02d", i);
        assert_int_equal(cv_store_audit(f->s, "view.start", "user:a", &f->cam, NULL, "rtsp", detail), 0);
    }
    assert_true(cv_store_data_version(b) != v);
    cv_audit_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_audit_list(b, 0, NULL, 100, &list, &n), 0);
    assert_int_equal(n, 20);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "n%02zu", i);
        assert_string_equal(list[i].detail, want);
    }
    int64_t last = list[n - 1].seq;
    free(list);
    /* Paging from the last seq seen picks up only what is new. */
    assert_int_equal(cv_store_audit(b, "view.stop", "user:a", &f->cam, NULL, "rtsp", "end"), 0);
    assert_int_equal(cv_store_audit_list(f->s, last, NULL, 100, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].event, "view.stop");
    free(list);
    cv_store_close(b);
}

typedef struct {
    cv_id grant;
    const fixture *f;
    int result;
} audit_ctx;

static int grant_and_audit(cv_store *s, void *p)
{
    audit_ctx *c = p;
    cv_grant_rec g;
    memset(&g, 0, sizeof(g));
    g.camera = c->f->cam;
    g.user = c->f->user;
    g.scopes = CV_SCOPE_LIVE;
    g.expires_us = cv_wall_us() + HOUR_US;
    int rc = cv_store_grant_add(s, &g, &c->grant);
    if (rc == 0)
        rc = cv_store_audit(s, "grant.add", "cli", &g.camera, NULL, "cli", NULL);
    return rc ? rc : c->result;
}

/* A change and its audit record land together or not at all. */
static void test_secrets_audit_in_txn(void **state)
{
    fixture *f = *state;
    audit_ctx c = {.f = f, .result = -EINTR};
    assert_int_equal(cv_store_txn(f->s, grant_and_audit, &c), -EINTR);
    cv_audit_rec *list = NULL;
    size_t n = 9;
    assert_int_equal(cv_store_audit_list(f->s, 0, NULL, 10, &list, &n), 0);
    assert_int_equal(n, 0);
    cv_grant_rec g;
    assert_int_equal(cv_store_grant_get(f->s, &c.grant, &g), -ENOENT);

    c.result = 0;
    assert_int_equal(cv_store_txn(f->s, grant_and_audit, &c), 0);
    assert_int_equal(cv_store_audit_list(f->s, 0, NULL, 10, &list, &n), 0);
    assert_int_equal(n, 1);
    free(list);
    assert_int_equal(cv_store_grant_get(f->s, &c.grant, &g), 0);
}

/* Tokens: the other connection notices revocations through data_version. */
static void test_secrets_data_version(void **state)
{
    fixture *f = *state;
    cv_store *b = NULL;
    assert_int_equal(cv_store_open(&b, f->t.path), 0);
    cv_token_rec t = token(9, &f->cam, &f->user, cv_wall_us() + HOUR_US);
    int64_t v = cv_store_data_version(b);
    assert_int_equal(cv_store_token_add(f->s, &t), 0);
    int64_t v2 = cv_store_data_version(b);
    assert_true(v2 != v);
    assert_int_equal(cv_store_token_revoke(f->s, t.hash), 0);
    assert_true(cv_store_data_version(b) != v2);
    uint8_t *hashes = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_token_revoked(b, cv_wall_us(), &hashes, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(hashes, t.hash, CV_HASH_BYTES);
    free(hashes);
    cv_store_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_secrets_token_add_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_token_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_token_list_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_apppw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_websessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_audit_append_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_audit_truncates_and_sanitises, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_audit_append_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_audit_second_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_audit_in_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_data_version, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
