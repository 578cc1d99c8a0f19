/* Unit tests for src/store/store.c: opening and migrating the SQLite store,
 * cameras (in homes) and transactions. People, secrets and the audit log are
 * in test-store-people.c and test-store-secrets.c. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir-fixture.h"
#include <sqlite3.h>

#include "base/id.h"
#include "store/people.h"
#include "store/store.h"

typedef struct {
    tmpdir t;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (tmpdir_make(&f->t, "store", "camvault.db") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = tmpdir_remove(&f->t);
    free(f);
    return rc;
}

/* The home every camera of a test goes in unless it says otherwise; open_ok
 * creates it (or finds it, for a second connection). */
static cv_id g_home;

static cv_camera_rec push_rec(const char *name)
{
    cv_camera_rec r;
    memset(&r, 0, sizeof(r));
    r.home = g_home;
    snprintf(r.name, sizeof(r.name), "%s", name);
    r.source = CV_CAM_PUSH;
    r.pull_transport = CV_PULL_AUTO;
    return r;
}

static cv_camera_rec pull_rec(const char *name, const char *url)
{
    cv_camera_rec r = push_rec(name);
    r.source = CV_CAM_PULL;
    snprintf(r.pull_url, sizeof(r.pull_url), "%s", url);
    r.pull_transport = CV_PULL_TCP;
    return r;
}

static cv_store *open_ok(const fixture *f)
{
    cv_store *s = NULL;
    assert_int_equal(cv_store_open(&s, f->t.path), 0);
    assert_non_null(s);
    cv_home_rec h;
    if (cv_store_home_find_name(s, "home", &h) == 0)
        g_home = h.id;
    else
        assert_int_equal(cv_store_home_add(s, "home", &g_home), 0);
    return s;
}

static void test_store_add_get_list_remove(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_camera_rec in1 = push_rec("porch"), in2 = pull_rec("garage", "rtsp://u:p@10.0.0.5:554/h264");
    cv_id id1, id2;
    cv_camera_rec out;

    assert_int_equal(cv_store_camera_add(s, &in1, &id1), 0);
    assert_int_equal(cv_store_camera_add(s, &in2, &id2), 0);
    assert_false(cv_id_eq(&id1, &id2));

    assert_int_equal(cv_store_camera_get(s, &id2, &out), 0);
    assert_true(cv_id_eq(&out.id, &id2));
    assert_true(cv_id_eq(&out.home, &g_home));
    assert_string_equal(out.name, "garage");
    assert_int_equal(out.source, CV_CAM_PULL);
    assert_string_equal(out.pull_url, "rtsp://u:p@10.0.0.5:554/h264");
    assert_int_equal(out.pull_transport, CV_PULL_TCP);
    assert_true(out.created_us > 1600000000LL * 1000000);

    assert_int_equal(cv_store_camera_get(s, &id1, &out), 0);
    assert_string_equal(out.name, "porch");
    assert_int_equal(out.source, CV_CAM_PUSH);
    assert_string_equal(out.pull_url, "");

    cv_camera_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_camera_list(s, NULL, &list, &n), 0);
    assert_int_equal(n, 2);
    /* Oldest first. */
    assert_true(cv_id_eq(&list[0].id, &id1));
    assert_true(cv_id_eq(&list[1].id, &id2));
    free(list);

    assert_int_equal(cv_store_camera_remove(s, &id1), 0);
    assert_int_equal(cv_store_camera_get(s, &id1, &out), -ENOENT);
    assert_int_equal(cv_store_camera_remove(s, &id1), -ENOENT);
    assert_int_equal(cv_store_camera_list(s, NULL, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_true(cv_id_eq(&list[0].id, &id2));
    free(list);

    assert_int_equal(cv_store_camera_remove(s, &id2), 0);
    list = (cv_camera_rec *)&out; /* must be overwritten */
    assert_int_equal(cv_store_camera_list(s, NULL, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_null(list);

    cv_id unknown;
    cv_id_random(&unknown);
    assert_int_equal(cv_store_camera_get(s, &unknown, &out), -ENOENT);
    assert_int_equal(cv_store_camera_remove(s, &unknown), -ENOENT);
    cv_store_close(s);
}

static void test_store_find_name(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_camera_rec in = push_rec("Back Yard"), out;
    cv_id id;

    assert_int_equal(cv_store_camera_add(s, &in, &id), 0);
    assert_int_equal(cv_store_camera_find_name(s, &g_home, "Back Yard", &out), 0);
    assert_true(cv_id_eq(&out.id, &id));
    /* Exact match only. */
    assert_int_equal(cv_store_camera_find_name(s, &g_home, "back yard", &out), -ENOENT);
    assert_int_equal(cv_store_camera_find_name(s, &g_home, "Back", &out), -ENOENT);
    assert_int_equal(cv_store_camera_find_name(s, &g_home, "", &out), -ENOENT);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(cv_store_camera_find_name(s, &g_home, longname, &out), -ENOENT);

    /* Any home: the only "Back Yard" anywhere. */
    memset(&out, 0, sizeof(out));
    assert_int_equal(cv_store_camera_find_name(s, NULL, "Back Yard", &out), 0);
    assert_true(cv_id_eq(&out.id, &id));
    assert_int_equal(cv_store_camera_find_name(s, NULL, "Back Yard", NULL), 0);
    assert_int_equal(cv_store_camera_find_name(s, NULL, "back yard", &out), -ENOENT);
    assert_int_equal(cv_store_camera_find_name(s, NULL, NULL, &out), -EINVAL);

    assert_int_equal(cv_store_camera_remove(s, &id), 0);
    assert_int_equal(cv_store_camera_find_name(s, &g_home, "Back Yard", &out), -ENOENT);
    assert_int_equal(cv_store_camera_find_name(s, NULL, "Back Yard", &out), -ENOENT);
    cv_store_close(s);
}

static void test_store_name_unique_among_live(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_camera_rec in = push_rec("door"), out;
    cv_id id1, id2, id3;

    assert_int_equal(cv_store_camera_add(s, &in, &id1), 0);
    assert_int_equal(cv_store_camera_add(s, &in, &id2), -EEXIST);
    cv_camera_rec pull = pull_rec("door", "rtsp://cam/x");
    assert_int_equal(cv_store_camera_add(s, &pull, &id2), -EEXIST);

    /* A removed camera frees its name but not its id. */
    assert_int_equal(cv_store_camera_remove(s, &id1), 0);
    assert_int_equal(cv_store_camera_add(s, &in, &id2), 0);
    assert_false(cv_id_eq(&id1, &id2));
    assert_int_equal(cv_store_camera_get(s, &id1, &out), -ENOENT);
    assert_int_equal(cv_store_camera_get(s, &id2, &out), 0);
    assert_int_equal(cv_store_camera_find_name(s, &g_home, "door", &out), 0);
    assert_true(cv_id_eq(&out.id, &id2));

    /* Two tombstones may share a name. */
    assert_int_equal(cv_store_camera_remove(s, &id2), 0);
    assert_int_equal(cv_store_camera_add(s, &in, &id3), 0);
    assert_false(cv_id_eq(&id3, &id1));
    assert_false(cv_id_eq(&id3, &id2));
    assert_int_equal(cv_store_camera_add(s, &in, NULL), -EEXIST);
    cv_store_close(s);
}

/* The store tells an id collision (retry) from a name clash (-EEXIST) by the
 * extended result code; pin that SQLite behaviour down with a raw insert. */
static void test_store_constraint_codes(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_camera_rec in = push_rec("cam");
    cv_id id;
    assert_int_equal(cv_store_camera_add(s, &in, &id), 0);
    assert_int_equal(cv_store_camera_remove(s, &id), 0);

    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->t.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_extended_result_codes(db, 1);
    assert_int_equal(sqlite3_prepare_v2(db,
        "INSERT INTO cameras (id, home, name, source, created_us) VALUES (?1, ?3, ?2, 1, 0)",
        -1, &st, NULL), SQLITE_OK);
    /* Same id as a tombstone, fresh name. */
    sqlite3_bind_blob(st, 1, id.b, CV_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, "other", -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, g_home.b, CV_ID_BYTES, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_CONSTRAINT_PRIMARYKEY);
    sqlite3_reset(st);
    /* Fresh id, name of a live camera. */
    cv_id id2;
    assert_int_equal(cv_store_camera_add(s, &in, &id2), 0);
    cv_id id3;
    cv_id_random(&id3);
    sqlite3_bind_blob(st, 1, id3.b, CV_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, "cam", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_CONSTRAINT_UNIQUE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    cv_store_close(s);
}

static void test_store_rejects_invalid_names(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    static const char *const bad[] = {
        "",
        "tab\there",
        "new\nline",
        "del\x7f",
        "esc\x1b[31m",
        "c1 \xc2\x85 nel",          /* U+0085 */
        "overlong \xc0\xaf",
        "overlong3 \xe0\x80\xaf",
        "surrogate \xed\xa0\x80",
        "too big \xf4\x90\x80\x80", /* U+110000 */
        "bad lead \xf5\x80\x80\x80",
        "lone cont \x80",
        "truncated \xe2\x82",
        "bad cont \xe2\x28\xa1",
        "line\xe2\x80\xa8sep",         /* U+2028 */
        "rlo \xe2\x80\xae gnp.exe",     /* U+202E bidi override */
        "isolate \xe2\x81\xa6x",        /* U+2066 */
        "bom \xef\xbb\xbf",             /* U+FEFF */
        "nonchar \xef\xbf\xbf",         /* U+FFFF */
    };
    cv_id id;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cv_camera_rec in = push_rec(bad[i]);
        assert_int_equal(cv_store_camera_add(s, &in, &id), -EINVAL);
    }

    /* 128 bytes with no terminator inside the field. */
    cv_camera_rec in = push_rec("");
    memset(in.name, 'x', sizeof(in.name));
    assert_int_equal(cv_store_camera_add(s, &in, &id), -EINVAL);
    /* 127 bytes is the maximum. */
    in.name[127] = '\0';
    assert_int_equal(cv_store_camera_add(s, &in, &id), 0);

    static const char *const good[] = {
        "a", "Front door", "Caf\xc3\xa9", "\xe7\x8e\x84\xe9\x96\xa2", "cam \xf0\x9f\x93\xb7",
        "family \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9", /* ZWJ sequence */
        "quote ' and \" ; DROP TABLE cameras; --",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        cv_camera_rec g = push_rec(good[i]), out;
        assert_int_equal(cv_store_camera_add(s, &g, &id), 0);
        assert_int_equal(cv_store_camera_get(s, &id, &out), 0);
        assert_string_equal(out.name, good[i]);
    }

    cv_camera_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_camera_list(s, NULL, &list, &n), 0);
    assert_int_equal(n, 1 + sizeof(good) / sizeof(good[0]));
    free(list);
    cv_store_close(s);
}

static void test_store_rejects_invalid_urls(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    static const char *const bad[] = {
        "",
        "http://cam/stream",
        "RTSP://cam/stream",
        "rtsp:/cam",
        "rtsp://",
        "rtsps://",
        "rtsp:///path",
        "rtsp://cam/with space",
        "rtsp://cam/\r\nInjected: 1",
        "rtsp://cam/caf\xc3\xa9",
        " rtsp://cam/",
    };
    cv_id id;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cv_camera_rec in = pull_rec("cam", bad[i]);
        assert_int_equal(cv_store_camera_add(s, &in, &id), -EINVAL);
    }

    /* 1024 bytes without a terminator, then 1023 exactly. */
    cv_camera_rec in = pull_rec("cam", "rtsp://cam/");
    memset(in.pull_url + 11, 'a', sizeof(in.pull_url) - 11);
    assert_int_equal(cv_store_camera_add(s, &in, &id), -EINVAL);
    in.pull_url[1023] = '\0';
    assert_int_equal(cv_store_camera_add(s, &in, &id), 0);
    cv_camera_rec out;
    assert_int_equal(cv_store_camera_get(s, &id, &out), 0);
    assert_int_equal(strlen(out.pull_url), 1023);
    assert_int_equal(cv_store_camera_remove(s, &id), 0);

    /* Push cameras must not carry a URL. */
    cv_camera_rec push = push_rec("push");
    snprintf(push.pull_url, sizeof(push.pull_url), "rtsp://cam/");
    assert_int_equal(cv_store_camera_add(s, &push, &id), -EINVAL);

    /* Bad enums. */
    cv_camera_rec e = push_rec("enum");
    e.source = (cv_cam_source)0;
    assert_int_equal(cv_store_camera_add(s, &e, &id), -EINVAL);
    e.source = (cv_cam_source)3;
    assert_int_equal(cv_store_camera_add(s, &e, &id), -EINVAL);
    e = pull_rec("enum", "rtsp://cam/");
    e.pull_transport = (cv_pull_transport)3;
    assert_int_equal(cv_store_camera_add(s, &e, &id), -EINVAL);
    e.pull_transport = (cv_pull_transport)-1;
    assert_int_equal(cv_store_camera_add(s, &e, &id), -EINVAL);

    static const char *const good[] = {
        "rtsp://cam", "rtsps://cam.example:322/live?x=1", "rtsp://user:p%40ss@[::1]:8554/s",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char name[16];
        snprintf(name, sizeof(name), "good%zu", i);
        cv_camera_rec g = pull_rec(name, good[i]);
        g.pull_transport = (cv_pull_transport)(i % 3);
        assert_int_equal(cv_store_camera_add(s, &g, &id), 0);
        assert_int_equal(cv_store_camera_get(s, &id, &out), 0);
        assert_string_equal(out.pull_url, good[i]);
        assert_int_equal(out.pull_transport, (int)(i % 3));
    }

    cv_camera_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_camera_list(s, NULL, &list, &n), 0);
    assert_int_equal(n, sizeof(good) / sizeof(good[0]));
    free(list);
    cv_store_close(s);
}

static void test_store_data_version_two_connections(void **state)
{
    fixture *f = *state;
    cv_store *a = open_ok(f), *b = open_ok(f);
    cv_camera_rec in = push_rec("shared"), out;
    cv_id id;

    int64_t va = cv_store_data_version(a);
    int64_t vb = cv_store_data_version(b);
    assert_true(va >= 0 && vb >= 0);

    /* A connection's own changes move its data_version too (the server
     * notices changes made through its own connection, e.g. the API)... */
    assert_int_equal(cv_store_camera_add(a, &in, &id), 0);
    assert_true(cv_store_data_version(a) != va);
    /* ...and the other connection sees a change, and the row. */
    int64_t vb2 = cv_store_data_version(b);
    assert_true(vb2 != vb);
    assert_int_equal(cv_store_camera_get(b, &id, &out), 0);
    assert_string_equal(out.name, "shared");
    /* No commit since: stable. */
    assert_int_equal(cv_store_data_version(b), vb2);

    assert_int_equal(cv_store_camera_remove(b, &id), 0);
    assert_true(cv_store_data_version(a) != va);
    assert_int_equal(cv_store_camera_get(a, &id, &out), -ENOENT);
    /* Uniqueness holds across connections. */
    assert_int_equal(cv_store_camera_add(a, &in, &id), 0);
    assert_int_equal(cv_store_camera_add(b, &in, &id), -EEXIST);

    cv_store_close(a);
    cv_store_close(b);
}

static void assert_mode_0600(const char *path, int must_exist)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        assert_int_equal(errno, ENOENT);
        assert_false(must_exist);
        return;
    }
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_store_file_mode_0600(void **state)
{
    fixture *f = *state;
    char p[192];
    mode_t old = umask(0);     /* the store must not rely on the umask */
    cv_store *s = open_ok(f);
    cv_camera_rec in = push_rec("perm");
    assert_int_equal(cv_store_camera_add(s, &in, NULL), 0);

    assert_mode_0600(f->t.path, 1);
    snprintf(p, sizeof(p), "%s-wal", f->t.path);
    assert_mode_0600(p, 1);
    snprintf(p, sizeof(p), "%s-shm", f->t.path);
    assert_mode_0600(p, 1);
    cv_store_close(s);

    /* An existing file that others can read is tightened on open. */
    assert_int_equal(chmod(f->t.path, 0644), 0);
    s = open_ok(f);
    assert_mode_0600(f->t.path, 1);
    cv_store_close(s);
    umask(old);
}

static void test_store_missing_dir(void **state)
{
    fixture *f = *state;
    char p[192];
    cv_store *s = NULL;
    snprintf(p, sizeof(p), "%s/nope/camvault.db", f->t.dir);
    assert_int_equal(cv_store_open(&s, p), -ENOENT);
    assert_null(s);
    /* Parent is a file, not a directory. */
    FILE *fp = fopen(f->t.path, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(p, sizeof(p), "%s/x.db", f->t.path);
    assert_int_equal(cv_store_open(&s, p), -ENOTDIR);
    assert_int_equal(cv_store_open(&s, ""), -EINVAL);
    assert_int_equal(cv_store_open(&s, NULL), -EINVAL);
}

static void test_store_reopen_keeps_data(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_camera_rec a = push_rec("one"), b = pull_rec("two", "rtsps://cam:322/x"), out;
    cv_id ida, idb;
    assert_int_equal(cv_store_camera_add(s, &a, &ida), 0);
    assert_int_equal(cv_store_camera_add(s, &b, &idb), 0);
    assert_int_equal(cv_store_camera_remove(s, &ida), 0);
    cv_store_close(s);

    s = open_ok(f);
    assert_int_equal(cv_store_camera_get(s, &idb, &out), 0);
    assert_string_equal(out.name, "two");
    assert_string_equal(out.pull_url, "rtsps://cam:322/x");
    assert_int_equal(cv_store_camera_get(s, &ida, &out), -ENOENT);
    cv_camera_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_camera_list(s, NULL, &list, &n), 0);
    assert_int_equal(n, 1);
    free(list);
    cv_store_close(s);

    /* The schema version is recorded, and the tombstone kept. */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->t.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(sqlite3_column_int(st, 0) >= 1);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db,
        "SELECT count(*) FROM cameras WHERE removed_us IS NOT NULL", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_store_refuses_newer_schema(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_store_close(s);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->t.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    s = NULL;
    assert_int_equal(cv_store_open(&s, f->t.path), -EPROTONOSUPPORT);
    assert_null(s);
}

static void test_store_rejects_malformed_row(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_camera_rec in = push_rec("ok"), out;
    cv_id id;
    assert_int_equal(cv_store_camera_add(s, &in, &id), 0);

    /* Someone edits the file by hand and bypasses the CHECKs. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->t.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "PRAGMA ignore_check_constraints = ON;"
        "UPDATE cameras SET name = replace(hex(zeroblob(100)), '0', 'x')", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(cv_store_camera_get(s, &id, &out), -EIO);
    cv_camera_rec *list = NULL;
    size_t n = 7;
    assert_int_equal(cv_store_camera_list(s, NULL, &list, &n), -EIO);
    assert_null(list);
    assert_int_equal(n, 0);
    cv_store_close(s);
}

static int id_cmp(const void *a, const void *b) { return memcmp(a, b, CV_ID_BYTES); }

static void test_store_ids_distinct(void **state)
{
    enum { N = 1000 };
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_id *ids = calloc(N, sizeof(*ids));
    assert_non_null(ids);

    /* One transaction would be faster, but the API commits per add; keep
     * this honest and let WAL + synchronous=NORMAL make it cheap. */
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof(name), "cam-%04d", i);
        cv_camera_rec in = push_rec(name);
        assert_int_equal(cv_store_camera_add(s, &in, &ids[i]), 0);
        assert_false(cv_id_is_zero(&ids[i]));
        if (i % 2)
            assert_int_equal(cv_store_camera_remove(s, &ids[i]), 0);
    }
    qsort(ids, N, sizeof(*ids), id_cmp);
    for (int i = 1; i < N; i++)
        assert_true(memcmp(&ids[i - 1], &ids[i], CV_ID_BYTES) != 0);

    /* Every id is 128 random bits: over 1000 ids each of the 16 bytes
     * should take many values, and all 128 bits should vary. */
    uint8_t or_bits[CV_ID_BYTES] = {0}, and_bits[CV_ID_BYTES];
    memset(and_bits, 0xff, sizeof(and_bits));
    for (int i = 0; i < N; i++)
        for (int j = 0; j < CV_ID_BYTES; j++) {
            or_bits[j] |= ids[i].b[j];
            and_bits[j] &= ids[i].b[j];
        }
    for (int j = 0; j < CV_ID_BYTES; j++) {
        assert_int_equal(or_bits[j], 0xff);
        assert_int_equal(and_bits[j], 0x00);
    }

    cv_camera_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_camera_list(s, NULL, &list, &n), 0);
    assert_int_equal(n, N / 2);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "cam-%04zu", i * 2);
        assert_string_equal(list[i].name, want);
        assert_non_null(bsearch(&list[i].id, ids, N, sizeof(*ids), id_cmp));
    }
    free(list);
    free(ids);
    cv_store_close(s);
}

/* Runs one query on a raw connection to the file and returns the first
 * column of its first row as an integer. */
static int64_t raw_int(const fixture *f, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(f->t.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_store_camera_fields_round_trip(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_camera_rec in = pull_rec("drive", "rtsp://admin:***@192.0.2.10/stream1"), out;
    snprintf(in.model, sizeof(in.model), "Acme \xe2\x84\xa2 X-200 'v2'");
    snprintf(in.pull_secret, sizeof(in.pull_secret), "s1.AAAA-full_url");
    snprintf(in.sub_pull_secret, sizeof(in.sub_pull_secret), "s1.BBBB-sub_url");
    in.pull_transport = CV_PULL_UDP;
    cv_id id;
    assert_int_equal(cv_store_camera_add(s, &in, &id), 0);
    assert_int_equal(cv_store_camera_get(s, &id, &out), 0);
    assert_true(cv_id_eq(&out.home, &g_home));
    assert_string_equal(out.model, in.model);
    assert_string_equal(out.pull_url, in.pull_url);
    assert_string_equal(out.pull_secret, "s1.AAAA-full_url");
    assert_string_equal(out.sub_pull_secret, "s1.BBBB-sub_url");
    assert_string_equal(out.ingest_secret, "");
    assert_int_equal(out.pull_transport, CV_PULL_UDP);

    cv_camera_rec push = push_rec("porch");
    snprintf(push.ingest_secret, sizeof(push.ingest_secret), "s1.ingest");
    assert_int_equal(cv_store_camera_add(s, &push, &id), 0);
    assert_int_equal(cv_store_camera_get(s, &id, &out), 0);
    assert_string_equal(out.ingest_secret, "s1.ingest");
    assert_string_equal(out.model, "");
    assert_string_equal(out.pull_secret, "");

    /* The largest sealed values fit exactly. */
    cv_camera_rec big = pull_rec("big", "rtsp://cam/");
    memset(big.pull_secret, 'p', sizeof(big.pull_secret) - 1);
    memset(big.sub_pull_secret, 'q', sizeof(big.sub_pull_secret) - 1);
    memset(big.model, 'm', sizeof(big.model) - 1);
    assert_int_equal(cv_store_camera_add(s, &big, &id), 0);
    assert_int_equal(cv_store_camera_get(s, &id, &out), 0);
    assert_int_equal(strlen(out.pull_secret), sizeof(out.pull_secret) - 1);
    assert_int_equal(strlen(out.sub_pull_secret), sizeof(out.sub_pull_secret) - 1);
    assert_int_equal(strlen(out.model), sizeof(out.model) - 1);
    cv_store_close(s);
}

static void test_store_camera_rejects_bad_fields(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_id id;
    cv_camera_rec r;

    r = push_rec("m");
    memset(r.model, 'm', sizeof(r.model)); /* no terminator */
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);
    r = push_rec("m");
    snprintf(r.model, sizeof(r.model), "bad \xc0\xaf utf8");
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);
    r = push_rec("m");
    snprintf(r.model, sizeof(r.model), "line\nbreak");
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);

    /* Sealed values: printable ASCII, bounded. */
    r = push_rec("i");
    snprintf(r.ingest_secret, sizeof(r.ingest_secret), "s1.\x01");
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);
    r = push_rec("i");
    snprintf(r.ingest_secret, sizeof(r.ingest_secret), "s1.caf\xc3\xa9");
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);
    r = push_rec("i");
    memset(r.ingest_secret, 'x', sizeof(r.ingest_secret));
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);
    r = pull_rec("p", "rtsp://cam/");
    memset(r.pull_secret, 'x', sizeof(r.pull_secret));
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);
    r = pull_rec("p", "rtsp://cam/");
    memset(r.sub_pull_secret, 'x', sizeof(r.sub_pull_secret));
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);

    /* Secrets that do not belong to the camera's source. */
    r = push_rec("x");
    snprintf(r.pull_secret, sizeof(r.pull_secret), "s1.url");
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);
    r = push_rec("x");
    snprintf(r.sub_pull_secret, sizeof(r.sub_pull_secret), "s1.url");
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);
    r = pull_rec("x", "rtsp://cam/");
    snprintf(r.ingest_secret, sizeof(r.ingest_secret), "s1.ingest");
    assert_int_equal(cv_store_camera_add(s, &r, &id), -EINVAL);

    assert_int_equal(cv_store_camera_add(NULL, &r, &id), -EINVAL);
    assert_int_equal(cv_store_camera_add(s, NULL, &id), -EINVAL);
    cv_camera_rec *list = NULL;
    size_t n = 9;
    assert_int_equal(cv_store_camera_list(s, NULL, &list, &n), 0);
    assert_int_equal(n, 0); /* nothing was half-written */
    assert_int_equal(cv_store_camera_get(s, NULL, &r), -EINVAL);
    assert_int_equal(cv_store_camera_list(s, NULL, NULL, &n), -EINVAL);
    assert_int_equal(cv_store_camera_remove(s, NULL), -EINVAL);
    cv_store_close(s);
}

static void test_store_camera_homes(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_id other, gone, a1, a2, b1;
    assert_int_equal(cv_store_home_add(s, "cabin", &other), 0);
    assert_int_equal(cv_store_home_add(s, "sold", &gone), 0);
    assert_int_equal(cv_store_home_remove(s, &gone), 0);

    /* A name is unique per home, not globally. */
    cv_camera_rec in = push_rec("door");
    assert_int_equal(cv_store_camera_add(s, &in, &a1), 0);
    in.home = other;
    assert_int_equal(cv_store_camera_add(s, &in, &b1), 0);
    assert_int_equal(cv_store_camera_add(s, &in, NULL), -EEXIST);
    cv_camera_rec yard = push_rec("yard");
    assert_int_equal(cv_store_camera_add(s, &yard, &a2), 0);

    /* Only live homes take cameras. */
    in.home = gone;
    assert_int_equal(cv_store_camera_add(s, &in, NULL), -ENOENT);
    cv_id_random(&in.home);
    assert_int_equal(cv_store_camera_add(s, &in, NULL), -ENOENT);
    memset(&in.home, 0, sizeof(in.home));
    assert_int_equal(cv_store_camera_add(s, &in, NULL), -ENOENT);

    cv_camera_rec out;
    assert_int_equal(cv_store_camera_find_name(s, &g_home, "door", &out), 0);
    assert_true(cv_id_eq(&out.id, &a1));
    assert_int_equal(cv_store_camera_find_name(s, &other, "door", &out), 0);
    assert_true(cv_id_eq(&out.id, &b1));
    assert_int_equal(cv_store_camera_find_name(s, &other, "yard", &out), -ENOENT);
    assert_int_equal(cv_store_camera_find_name(s, NULL, "door", &out), -EEXIST);
    assert_int_equal(cv_store_camera_find_name(s, NULL, "yard", &out), 0);
    assert_true(cv_id_eq(&out.id, &a2));
    /* Unambiguous again once one is gone. */
    assert_int_equal(cv_store_camera_remove(s, &b1), 0);
    assert_int_equal(cv_store_camera_find_name(s, NULL, "door", &out), 0);
    assert_true(cv_id_eq(&out.id, &a1));

    cv_camera_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_camera_list(s, &g_home, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_true(cv_id_eq(&list[0].id, &a1));
    assert_true(cv_id_eq(&list[1].id, &a2));
    free(list);
    assert_int_equal(cv_store_camera_list(s, &other, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_null(list);
    cv_store_close(s);
}

static void test_store_camera_chosen_id(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_camera_rec in = push_rec("chosen"), out;
    cv_id want, got;
    cv_id_random(&want);
    in.id = want;
    assert_int_equal(cv_store_camera_add(s, &in, &got), 0);
    assert_true(cv_id_eq(&got, &want));
    assert_int_equal(cv_store_camera_get(s, &want, &out), 0);
    assert_string_equal(out.name, "chosen");

    /* A used id, live or tombstoned, is never taken again. */
    snprintf(in.name, sizeof(in.name), "other");
    assert_int_equal(cv_store_camera_add(s, &in, &got), -EEXIST);
    assert_int_equal(cv_store_camera_remove(s, &want), 0);
    assert_int_equal(cv_store_camera_add(s, &in, &got), -EEXIST);
    assert_int_equal(cv_store_camera_get(s, &want, &out), -ENOENT);
    /* Home checks still apply to a chosen id. */
    cv_id_random(&in.id);
    cv_id_random(&in.home);
    assert_int_equal(cv_store_camera_add(s, &in, &got), -ENOENT);
    cv_store_close(s);
}

static void test_store_camera_set_ingest(void **state)
{
    fixture *f = *state;
    cv_store *a = open_ok(f), *b = open_ok(f);
    cv_camera_rec push = push_rec("push"), pull = pull_rec("pull", "rtsp://cam/"), out;
    snprintf(push.ingest_secret, sizeof(push.ingest_secret), "s1.old");
    cv_id pid, lid, unknown;
    assert_int_equal(cv_store_camera_add(a, &push, &pid), 0);
    assert_int_equal(cv_store_camera_add(a, &pull, &lid), 0);

    int64_t vb = cv_store_data_version(b);
    assert_int_equal(cv_store_camera_set_ingest(a, &pid, "s1.new"), 0);
    assert_true(cv_store_data_version(b) != vb);
    assert_int_equal(cv_store_camera_get(b, &pid, &out), 0);
    assert_string_equal(out.ingest_secret, "s1.new");
    assert_string_equal(out.name, "push");

    assert_int_equal(cv_store_camera_set_ingest(a, &lid, "s1.new"), -EINVAL);
    cv_id_random(&unknown);
    assert_int_equal(cv_store_camera_set_ingest(a, &unknown, "s1.new"), -ENOENT);
    assert_int_equal(cv_store_camera_set_ingest(a, &pid, ""), -EINVAL);
    assert_int_equal(cv_store_camera_set_ingest(a, &pid, NULL), -EINVAL);
    assert_int_equal(cv_store_camera_set_ingest(a, &pid, "tab\there"), -EINVAL);
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cv_store_camera_set_ingest(a, &pid, big), -EINVAL);
    big[255] = '\0';
    assert_int_equal(cv_store_camera_set_ingest(a, &pid, big), 0);
    assert_int_equal(cv_store_camera_remove(a, &pid), 0);
    assert_int_equal(cv_store_camera_set_ingest(a, &pid, "s1.x"), -ENOENT);
    cv_store_close(a);
    cv_store_close(b);
}

static void test_store_camera_set_pull(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_camera_rec pull = pull_rec("pull", "rtsp://cam/a"), push = push_rec("push"), out;
    cv_id lid, pid, unknown;
    assert_int_equal(cv_store_camera_add(s, &pull, &lid), 0);
    assert_int_equal(cv_store_camera_add(s, &push, &pid), 0);

    assert_int_equal(cv_store_camera_set_pull(s, &lid, "rtsps://cam:322/b", "s1.main", "s1.sub"), 0);
    assert_int_equal(cv_store_camera_get(s, &lid, &out), 0);
    assert_string_equal(out.pull_url, "rtsps://cam:322/b");
    assert_string_equal(out.pull_secret, "s1.main");
    assert_string_equal(out.sub_pull_secret, "s1.sub");
    assert_int_equal(cv_store_camera_set_pull(s, &lid, "rtsp://cam/c", "", ""), 0);
    assert_int_equal(cv_store_camera_get(s, &lid, &out), 0);
    assert_string_equal(out.pull_secret, "");
    assert_string_equal(out.sub_pull_secret, "");

    assert_int_equal(cv_store_camera_set_pull(s, &pid, "rtsp://cam/c", "s1.x", NULL), -EINVAL);
    cv_id_random(&unknown);
    assert_int_equal(cv_store_camera_set_pull(s, &unknown, "rtsp://cam/c", "s1.x", NULL), -ENOENT);
    assert_int_equal(cv_store_camera_set_pull(s, &lid, "http://cam/c", "s1.x", NULL), -EINVAL);
    assert_int_equal(cv_store_camera_set_pull(s, &lid, "", "s1.x", NULL), -EINVAL);
    assert_int_equal(cv_store_camera_set_pull(s, &lid, NULL, "s1.x", NULL), -EINVAL);
    assert_int_equal(cv_store_camera_set_pull(s, &lid, "rtsp://cam/c", NULL, NULL), -EINVAL);
    assert_int_equal(cv_store_camera_set_pull(s, &lid, "rtsp://cam/c", "s1.\x01", NULL), -EINVAL);
    assert_int_equal(cv_store_camera_set_pull(s, &lid, "rtsp://cam/c", "s1.x", "s1.\n"), -EINVAL);
    char big[2100];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cv_store_camera_set_pull(s, &lid, "rtsp://cam/c", big, NULL), -EINVAL);
    assert_int_equal(cv_store_camera_set_pull(s, &lid, "rtsp://cam/c", "s1.x", big), -EINVAL);
    /* Nothing was half-written by the failures. */
    assert_int_equal(cv_store_camera_get(s, &lid, &out), 0);
    assert_string_equal(out.pull_url, "rtsp://cam/c");
    assert_string_equal(out.pull_secret, "");
    cv_store_close(s);
}

/* A tombstone keeps the id and name but none of the sealed secrets. */
static void test_store_camera_remove_erases_secrets(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f);
    cv_camera_rec push = push_rec("push"), pull = pull_rec("pull", "rtsp://u:***@cam/");
    snprintf(push.ingest_secret, sizeof(push.ingest_secret), "s1.ingest");
    snprintf(pull.pull_secret, sizeof(pull.pull_secret), "s1.full");
    snprintf(pull.sub_pull_secret, sizeof(pull.sub_pull_secret), "s1.sub");
    cv_id a, b;
    assert_int_equal(cv_store_camera_add(s, &push, &a), 0);
    assert_int_equal(cv_store_camera_add(s, &pull, &b), 0);
    assert_int_equal(cv_store_camera_remove(s, &a), 0);
    assert_int_equal(cv_store_camera_remove(s, &b), 0);
    cv_store_close(s);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM cameras WHERE removed_us IS NOT NULL"
                                " AND ingest_secret = '' AND pull_secret = '' AND sub_pull_secret = ''"
                                " AND name IN ('push', 'pull')"), 2);
}

typedef struct {
    cv_id home;
    cv_id ids[3];
    int fail_with;
    int calls;
} txn_ctx;

static int txn_add_three(cv_store *s, void *p)
{
    txn_ctx *c = p;
    c->calls++;
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "t%d", i);
        cv_camera_rec in = push_rec(name);
        in.home = c->home;
        int rc = cv_store_camera_add(s, &in, &c->ids[i]);
        if (rc != 0)
            return rc;
    }
    /* A failing call inside the transaction undoes only itself. */
    cv_camera_rec dup = push_rec("t0");
    dup.home = c->home;
    if (cv_store_camera_add(s, &dup, NULL) != -EEXIST)
        return -1000;
    if (cv_store_camera_remove(s, &c->ids[2]) != 0)
        return -1001;
    return c->fail_with;
}

static int txn_nested(cv_store *s, void *p)
{
    txn_ctx *c = p;
    txn_ctx inner = *c;
    inner.fail_with = 1; /* positive: rolled back and returned as is */
    if (cv_store_txn(s, txn_add_three, &inner) != 1)
        return -1002;
    return cv_store_txn(s, txn_add_three, c);
}

static void test_store_txn(void **state)
{
    fixture *f = *state;
    cv_store *s = open_ok(f), *other = open_ok(f);
    cv_camera_rec *list = NULL, out;
    size_t n = 0;
    txn_ctx c = {.home = g_home, .fail_with = -EBADMSG};

    /* Rollback leaves nothing, not even the first adds. */
    int64_t v = cv_store_data_version(other);
    assert_int_equal(cv_store_txn(s, txn_add_three, &c), -EBADMSG);
    assert_int_equal(c.calls, 1);
    assert_int_equal(cv_store_camera_list(s, NULL, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cv_store_data_version(other), v);
    assert_int_equal(cv_store_camera_get(s, &c.ids[0], &out), -ENOENT);

    /* Commit lands everything at once, nested levels included. */
    c.fail_with = 0;
    assert_int_equal(cv_store_txn(s, txn_nested, &c), 0);
    assert_int_equal(cv_store_camera_list(other, NULL, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].name, "t0");
    assert_string_equal(list[1].name, "t1");
    free(list);
    assert_true(cv_store_data_version(other) != v);
    /* The store is usable afterwards, outside any transaction. */
    cv_camera_rec in = push_rec("after");
    assert_int_equal(cv_store_camera_add(s, &in, NULL), 0);
    assert_int_equal(cv_store_txn(NULL, txn_add_three, &c), -EINVAL);
    assert_int_equal(cv_store_txn(s, NULL, &c), -EINVAL);
    cv_store_close(s);
    cv_store_close(other);
}

/* The v1 schema, exactly as migration 1 created it. */
static const char v1_schema[] =
    "CREATE TABLE cameras ("
    "  id BLOB NOT NULL PRIMARY KEY CHECK (typeof(id) = 'blob' AND length(id) = 16),"
    "  name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 127),"
    "  source INTEGER NOT NULL CHECK (source IN (1, 2)),"
    "  pull_url TEXT NOT NULL DEFAULT '' CHECK (length(CAST(pull_url AS BLOB)) <= 1023),"
    "  pull_transport INTEGER NOT NULL DEFAULT 0 CHECK (pull_transport IN (0, 1, 2)),"
    "  created_us INTEGER NOT NULL,"
    "  removed_us INTEGER NULL"
    ");"
    "CREATE UNIQUE INDEX cameras_live_name ON cameras(name) WHERE removed_us IS NULL;"
    "PRAGMA user_version = 1;";

static void make_v1(const fixture *f, bool with_rows, cv_id ids[3])
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->t.path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, v1_schema, NULL, NULL, NULL), SQLITE_OK);
    if (with_rows) {
        static const char *const names[] = {"porch", "garage", "old"};
        static const char *const urls[] = {"", "rtsp://u:p@10.0.0.5/h264", ""};
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
            "INSERT INTO cameras (id, name, source, pull_url, pull_transport, created_us, removed_us)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", -1, &st, NULL), SQLITE_OK);
        for (int i = 0; i < 3; i++) {
            cv_id_random(&ids[i]);
            sqlite3_bind_blob(st, 1, ids[i].b, CV_ID_BYTES, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, names[i], -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 3, urls[i][0] ? 2 : 1);
            sqlite3_bind_text(st, 4, urls[i], -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 5, i == 1 ? 1 : 0);
            sqlite3_bind_int64(st, 6, 1700000000000000LL + i);
            if (i == 2)
                sqlite3_bind_int64(st, 7, 1700000000000009LL);
            else
                sqlite3_bind_null(st, 7);
            assert_int_equal(sqlite3_step(st), SQLITE_DONE);
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

static void test_store_migrates_v1(void **state)
{
    fixture *f = *state;
    cv_id ids[3];
    assert_int_equal(cv_id_init(), 0);
    make_v1(f, true, ids);

    cv_store *s = NULL;
    assert_int_equal(cv_store_open(&s, f->t.path), 0);
    cv_home_rec h;
    assert_int_equal(cv_store_home_find_name(s, "home", &h), 0);
    assert_int_equal(h.created_us, 1700000000000000LL);
    cv_camera_rec out;
    assert_int_equal(cv_store_camera_get(s, &ids[0], &out), 0);
    assert_true(cv_id_eq(&out.home, &h.id));
    assert_string_equal(out.name, "porch");
    assert_int_equal(out.source, CV_CAM_PUSH);
    assert_int_equal(out.created_us, 1700000000000000LL);
    assert_int_equal(cv_store_camera_get(s, &ids[1], &out), 0);
    assert_true(cv_id_eq(&out.home, &h.id));
    assert_string_equal(out.pull_url, "rtsp://u:p@10.0.0.5/h264");
    assert_string_equal(out.pull_secret, "");
    assert_int_equal(out.pull_transport, CV_PULL_TCP);
    /* What the server does with such a camera: seal the URL, mask the display form. */
    assert_int_equal(cv_store_camera_set_pull(s, &ids[1], "rtsp://u:***@10.0.0.5/h264", "s1.sealed", NULL), 0);
    assert_int_equal(cv_store_camera_get(s, &ids[1], &out), 0);
    assert_string_equal(out.pull_url, "rtsp://u:***@10.0.0.5/h264");
    assert_string_equal(out.pull_secret, "s1.sealed");
    assert_string_equal(out.sub_pull_secret, "");
    assert_string_equal(out.name, "garage");
    assert_int_equal(out.pull_transport, CV_PULL_TCP);
    /* The tombstone stays a tombstone and keeps its id reserved. */
    assert_int_equal(cv_store_camera_get(s, &ids[2], &out), -ENOENT);
    cv_camera_rec again = push_rec("again");
    again.home = h.id;
    again.id = ids[2];
    assert_int_equal(cv_store_camera_add(s, &again, NULL), -EEXIST);

    cv_camera_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_camera_list(s, &h.id, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_true(cv_id_eq(&list[0].id, &ids[0]));
    free(list);
    /* Names are per home now. */
    cv_camera_rec dup = push_rec("porch");
    dup.home = h.id;
    assert_int_equal(cv_store_camera_add(s, &dup, NULL), -EEXIST);
    cv_id h2;
    assert_int_equal(cv_store_home_add(s, "second", &h2), 0);
    dup.home = h2;
    assert_int_equal(cv_store_camera_add(s, &dup, NULL), 0);
    cv_store_close(s);

    assert_int_equal(raw_int(f, "PRAGMA user_version"), 3); /* v1 -> the current schema */
    assert_int_equal(raw_int(f, "SELECT count(*) FROM homes"), 2);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM sqlite_schema WHERE name = 'cameras_v2'"), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
}

static void test_store_migrates_empty_v1(void **state)
{
    fixture *f = *state;
    assert_int_equal(cv_id_init(), 0);
    make_v1(f, false, NULL);
    cv_store *s = NULL;
    assert_int_equal(cv_store_open(&s, f->t.path), 0);
    cv_home_rec *homes = NULL;
    size_t n = 7;
    assert_int_equal(cv_store_home_list(s, NULL, &homes, &n), 0);
    assert_int_equal(n, 0);
    cv_store_close(s);
    assert_int_equal(raw_int(f, "PRAGMA user_version"), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_add_get_list_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_find_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_name_unique_among_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_constraint_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rejects_invalid_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rejects_invalid_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_data_version_two_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_file_mode_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_missing_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_reopen_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rejects_malformed_row, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_ids_distinct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_camera_fields_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_camera_rejects_bad_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_camera_homes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_camera_chosen_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_camera_set_ingest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_camera_set_pull, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_camera_remove_erases_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_migrates_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_migrates_empty_v1, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
