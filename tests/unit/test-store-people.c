/* Unit tests for src/store/people.c: users, homes, memberships, guest
 * grants, the access decision, and the cascades that revoke tokens. */
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

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
#define HOUR_US (3600LL * 1000000)

typedef struct {
    tmpdir t;
    cv_store *s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    if (tmpdir_make(&f->t, "people", "camvault.db") != 0) {
        free(f);
        return -1;
    }
    if (cv_store_open(&f->s, f->t.path) != 0) {
        rmdir(f->t.dir);
        free(f);
        return -1;
    }
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

/* ---------------------------------------------------------------- helpers */

static cv_id add_user(cv_store *s, const char *login)
{
    cv_id id;
    assert_int_equal(cv_store_user_add(s, login, HASH, false, &id), 0);
    return id;
}

static cv_id add_home(cv_store *s, const char *name)
{
    cv_id id;
    assert_int_equal(cv_store_home_add(s, name, &id), 0);
    return id;
}

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

static cv_id add_grant(cv_store *s, const cv_id *cam, const cv_id *user, uint32_t scopes, int64_t expires_us)
{
    cv_grant_rec g;
    memset(&g, 0, sizeof(g));
    g.camera = *cam;
    g.user = *user;
    g.scopes = scopes;
    g.expires_us = expires_us;
    cv_id id;
    assert_int_equal(cv_store_grant_add(s, &g, &id), 0);
    return id;
}

/* Records a token for a user principal; seed makes the hash distinct. */
static void add_token(cv_store *s, uint8_t seed, const cv_id *cam, const cv_id *user, uint8_t out[CV_HASH_BYTES])
{
    cv_token_rec t;
    memset(&t, 0, sizeof(t));
    memset(t.hash, seed, sizeof(t.hash));
    t.camera = *cam;
    t.principal_kind = 1;
    t.principal = *user;
    t.scopes = CV_SCOPE_LIVE;
    t.expires_us = cv_wall_us() + HOUR_US;
    assert_int_equal(cv_store_token_add(s, &t), 0);
    if (out)
        memcpy(out, t.hash, CV_HASH_BYTES);
}

/* Asserts the revocation list holds exactly the tokens with these seeds. */
static void assert_revoked(cv_store *s, const uint8_t *seeds, size_t n_seeds)
{
    uint8_t *hashes = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_token_revoked(s, cv_wall_us(), &hashes, &n), 0);
    assert_int_equal(n, n_seeds);
    for (size_t i = 0; i < n_seeds; i++) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = hashes[j * CV_HASH_BYTES] == seeds[i] && hashes[j * CV_HASH_BYTES + 31] == seeds[i];
        assert_true(found);
    }
    free(hashes);
}

static uint32_t access_at(cv_store *s, const cv_id *user, const cv_id *cam, int64_t now)
{
    uint32_t scopes = 0xdead;
    assert_int_equal(cv_store_access(s, user, cam, now, &scopes), 0);
    return scopes;
}

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

/* ------------------------------------------------------------------ roles */

static void test_people_role_names(void **state)
{
    (void)state;
    cv_role r = CV_ROLE_NONE;
    assert_string_equal(cv_role_name(CV_ROLE_OWNER), "owner");
    assert_string_equal(cv_role_name(CV_ROLE_MEMBER), "member");
    assert_string_equal(cv_role_name(CV_ROLE_VIEWER), "viewer");
    assert_string_equal(cv_role_name(CV_ROLE_NONE), "none");
    assert_string_equal(cv_role_name((cv_role)42), "none");
    assert_int_equal(cv_role_parse("owner", &r), 0);
    assert_int_equal(r, CV_ROLE_OWNER);
    assert_int_equal(cv_role_parse("member", &r), 0);
    assert_int_equal(r, CV_ROLE_MEMBER);
    assert_int_equal(cv_role_parse("viewer", &r), 0);
    assert_int_equal(r, CV_ROLE_VIEWER);
    assert_int_equal(cv_role_parse("none", &r), -EINVAL);
    assert_int_equal(cv_role_parse("Owner", &r), -EINVAL);
    assert_int_equal(cv_role_parse("", &r), -EINVAL);
    assert_int_equal(cv_role_parse(NULL, &r), -EINVAL);
    assert_int_equal(cv_role_parse("owner", NULL), -EINVAL);
}

/* ------------------------------------------------------------------ users */

static void test_people_user_add_get_find_list(void **state)
{
    fixture *f = *state;
    cv_id alice, bob;
    cv_user_rec u;
    char hash[CV_PW_HASH_CAP];

    assert_int_equal(cv_store_user_add(f->s, "alice", HASH, true, &alice), 0);
    assert_int_equal(cv_store_user_add(f->s, "Bob.Smith@example-1_x", "$other", false, &bob), 0);
    assert_false(cv_id_eq(&alice, &bob));

    assert_int_equal(cv_store_user_get(f->s, &alice, &u), 0);
    assert_true(cv_id_eq(&u.id, &alice));
    assert_string_equal(u.login, "alice");
    assert_true(u.admin);
    assert_false(u.disabled);
    assert_false(u.totp_enabled);
    assert_true(u.created_us > 1600000000LL * 1000000);

    /* Case-insensitive lookup; the stored spelling comes back. */
    memset(hash, 'z', sizeof(hash));
    assert_int_equal(cv_store_user_find(f->s, "BOB.SMITH@EXAMPLE-1_X", &u, hash), 0);
    assert_true(cv_id_eq(&u.id, &bob));
    assert_string_equal(u.login, "Bob.Smith@example-1_x");
    assert_false(u.admin);
    assert_string_equal(hash, "$other");
    assert_int_equal(cv_store_user_find(f->s, "alice", NULL, NULL), 0);
    assert_int_equal(cv_store_user_find(f->s, "alic", &u, NULL), -ENOENT);
    assert_int_equal(cv_store_user_find(f->s, "bad login", &u, NULL), -ENOENT);
    assert_int_equal(cv_store_user_find(f->s, "", &u, NULL), -ENOENT);
    assert_int_equal(cv_store_user_find(f->s, NULL, &u, NULL), -EINVAL);

    cv_user_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_user_list(f->s, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].login, "alice"); /* by login, ignoring case */
    assert_string_equal(list[1].login, "Bob.Smith@example-1_x");
    free(list);

    cv_id unknown;
    cv_id_random(&unknown);
    assert_int_equal(cv_store_user_get(f->s, &unknown, &u), -ENOENT);
    assert_int_equal(cv_store_user_get(f->s, NULL, &u), -EINVAL);
    assert_int_equal(cv_store_user_list(f->s, NULL, &n), -EINVAL);
    assert_int_equal(cv_store_user_add(f->s, "carol", HASH, false, NULL), 0);
}

static void test_people_user_rejects_bad_input(void **state)
{
    fixture *f = *state;
    static const char *const bad_logins[] = {
        "", "with space", "tab\t", "colon:x", "slash/x", "quote'", "semi;colon", "caf\xc3\xa9", "plus+",
        "percent%", "star*",
    };
    cv_id id;
    for (size_t i = 0; i < CV_ARRAY_LEN(bad_logins); i++)
        assert_int_equal(cv_store_user_add(f->s, bad_logins[i], HASH, false, &id), -EINVAL);
    char login[80];
    memset(login, 'a', sizeof(login) - 1);
    login[sizeof(login) - 1] = '\0';
    assert_int_equal(cv_store_user_add(f->s, login, HASH, false, &id), -EINVAL);
    login[CV_LOGIN_MAX] = '\0'; /* 63 is the maximum */
    assert_int_equal(cv_store_user_add(f->s, login, HASH, false, &id), 0);
    assert_int_equal(cv_store_user_add(f->s, NULL, HASH, false, &id), -EINVAL);

    /* The hash: printable ASCII, 1..127 bytes. */
    char big[200];
    memset(big, 'h', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cv_store_user_add(f->s, "u1", big, false, &id), -EINVAL);
    big[127] = '\0';
    assert_int_equal(cv_store_user_add(f->s, "u1", big, false, &id), 0);
    assert_int_equal(cv_store_user_add(f->s, "u2", "", false, &id), -EINVAL);
    assert_int_equal(cv_store_user_add(f->s, "u2", NULL, false, &id), -EINVAL);
    assert_int_equal(cv_store_user_add(f->s, "u2", "hash\nnewline", false, &id), -EINVAL);
    assert_int_equal(cv_store_user_add(f->s, "u2", "h\xc3\xa9", false, &id), -EINVAL);
    assert_int_equal(cv_store_user_add(NULL, "u2", HASH, false, &id), -EINVAL);

    cv_user_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_user_list(f->s, &list, &n), 0);
    assert_int_equal(n, 2);
    free(list);
}

static void test_people_login_unique_ignoring_case(void **state)
{
    fixture *f = *state;
    cv_id a = add_user(f->s, "Alice"), b, c;
    assert_int_equal(cv_store_user_add(f->s, "alice", HASH, false, &b), -EEXIST);
    assert_int_equal(cv_store_user_add(f->s, "ALICE", HASH, false, &b), -EEXIST);
    assert_int_equal(cv_store_user_add(f->s, "Alice", HASH, false, &b), -EEXIST);
    assert_int_equal(cv_store_user_add(f->s, "alice2", HASH, false, &b), 0);

    /* Removal frees the login (any case) but never the id. */
    assert_int_equal(cv_store_user_remove(f->s, &a), 0);
    assert_int_equal(cv_store_user_get(f->s, &a, NULL), -ENOENT);
    assert_int_equal(cv_store_user_find(f->s, "alice", NULL, NULL), -ENOENT);
    assert_int_equal(cv_store_user_add(f->s, "aLiCe", HASH, false, &c), 0);
    assert_false(cv_id_eq(&a, &c));
    cv_user_rec u;
    assert_int_equal(cv_store_user_find(f->s, "ALICE", &u, NULL), 0);
    assert_true(cv_id_eq(&u.id, &c));
    assert_int_equal(cv_store_user_remove(f->s, &a), -ENOENT);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM users WHERE login = 'Alice' AND removed_us IS NOT NULL"
                                " AND pw_hash = ''"), 1);
}

static void test_people_user_setters(void **state)
{
    fixture *f = *state;
    cv_id id = add_user(f->s, "dave"), gone = add_user(f->s, "gone"), unknown;
    cv_user_rec u;
    char hash[CV_PW_HASH_CAP];
    cv_id_random(&unknown);
    assert_int_equal(cv_store_user_remove(f->s, &gone), 0);

    assert_int_equal(cv_store_user_set_password(f->s, &id, "$new$hash"), 0);
    assert_int_equal(cv_store_user_find(f->s, "dave", NULL, hash), 0);
    assert_string_equal(hash, "$new$hash");
    assert_int_equal(cv_store_user_set_password(f->s, &id, ""), -EINVAL);
    assert_int_equal(cv_store_user_set_password(f->s, &id, NULL), -EINVAL);
    assert_int_equal(cv_store_user_set_password(f->s, &unknown, "$x"), -ENOENT);
    assert_int_equal(cv_store_user_set_password(f->s, &gone, "$x"), -ENOENT);

    assert_int_equal(cv_store_user_set_admin(f->s, &id, true), 0);
    assert_int_equal(cv_store_user_get(f->s, &id, &u), 0);
    assert_true(u.admin);
    assert_int_equal(cv_store_user_set_admin(f->s, &id, false), 0);
    assert_int_equal(cv_store_user_get(f->s, &id, &u), 0);
    assert_false(u.admin);
    assert_int_equal(cv_store_user_set_admin(f->s, &gone, true), -ENOENT);

    assert_int_equal(cv_store_user_set_disabled(f->s, &id, true), 0);
    assert_int_equal(cv_store_user_get(f->s, &id, &u), 0);
    assert_true(u.disabled);
    assert_int_equal(cv_store_user_set_disabled(f->s, &id, true), 0); /* idempotent */
    assert_int_equal(cv_store_user_set_disabled(f->s, &id, false), 0);
    assert_int_equal(cv_store_user_get(f->s, &id, &u), 0);
    assert_false(u.disabled);
    assert_int_equal(cv_store_user_set_disabled(f->s, &unknown, true), -ENOENT);
    assert_int_equal(cv_store_user_set_disabled(f->s, &gone, false), -ENOENT);
    assert_int_equal(cv_store_user_set_disabled(f->s, NULL, false), -EINVAL);
}

static void test_people_user_totp(void **state)
{
    fixture *f = *state;
    cv_id id = add_user(f->s, "erin"), unknown;
    cv_user_rec u;
    char seed[256];
    int64_t step = -1;
    cv_id_random(&unknown);

    assert_int_equal(cv_store_user_get_totp(f->s, &id, seed, sizeof(seed)), -ENOENT);
    /* Pending enrolment: the seed is kept, TOTP not yet enforced. */
    assert_int_equal(cv_store_user_set_totp(f->s, &id, "s1.seed-pending", false), 0);
    assert_int_equal(cv_store_user_get(f->s, &id, &u), 0);
    assert_false(u.totp_enabled);
    assert_int_equal(cv_store_user_get_totp(f->s, &id, seed, sizeof(seed)), 0);
    assert_string_equal(seed, "s1.seed-pending");
    assert_int_equal(cv_store_user_set_totp(f->s, &id, "s1.seed-pending", true), 0);
    assert_int_equal(cv_store_user_get(f->s, &id, &u), 0);
    assert_true(u.totp_enabled);
    char tiny[8];
    assert_int_equal(cv_store_user_get_totp(f->s, &id, tiny, sizeof(tiny)), -ENOSPC);
    assert_int_equal(cv_store_user_get_totp(f->s, &id, seed, 16), 0); /* 15 chars + NUL */
    assert_int_equal(cv_store_user_get_totp(f->s, &id, seed, 15), -ENOSPC);

    /* Off: seed gone. */
    assert_int_equal(cv_store_user_set_totp(f->s, &id, NULL, false), 0);
    assert_int_equal(cv_store_user_get(f->s, &id, &u), 0);
    assert_false(u.totp_enabled);
    assert_int_equal(cv_store_user_get_totp(f->s, &id, seed, sizeof(seed)), -ENOENT);

    assert_int_equal(cv_store_user_set_totp(f->s, &id, NULL, true), -EINVAL);
    assert_int_equal(cv_store_user_set_totp(f->s, &id, "", false), -EINVAL);
    assert_int_equal(cv_store_user_set_totp(f->s, &id, "s1.\x7f", false), -EINVAL);
    char big[300];
    memset(big, 's', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cv_store_user_set_totp(f->s, &id, big, false), -EINVAL);
    assert_int_equal(cv_store_user_set_totp(f->s, &unknown, "s1.x", true), -ENOENT);
    assert_int_equal(cv_store_user_get_totp(f->s, &unknown, seed, sizeof(seed)), -ENOENT);
    assert_int_equal(cv_store_user_get_totp(f->s, &id, seed, 0), -EINVAL);

    /* Replay guard: the step only moves forward. */
    assert_int_equal(cv_store_user_totp_step(f->s, &id, &step), 0);
    assert_int_equal(step, 0);
    assert_int_equal(cv_store_user_set_totp_step(f->s, &id, 56000000), 0);
    assert_int_equal(cv_store_user_totp_step(f->s, &id, &step), 0);
    assert_int_equal(step, 56000000);
    assert_int_equal(cv_store_user_set_totp_step(f->s, &id, 56000000), -EALREADY);
    assert_int_equal(cv_store_user_set_totp_step(f->s, &id, 55999999), -EALREADY);
    assert_int_equal(cv_store_user_totp_step(f->s, &id, &step), 0);
    assert_int_equal(step, 56000000);
    assert_int_equal(cv_store_user_set_totp_step(f->s, &id, 56000001), 0);
    assert_int_equal(cv_store_user_set_totp_step(f->s, &unknown, 1), -ENOENT);
    assert_int_equal(cv_store_user_totp_step(f->s, &unknown, &step), -ENOENT);
    assert_int_equal(cv_store_user_totp_step(f->s, &id, NULL), -EINVAL);

    /* Removal drops the seed with the account. */
    assert_int_equal(cv_store_user_set_totp(f->s, &id, "s1.seed", true), 0);
    assert_int_equal(cv_store_user_remove(f->s, &id), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM users WHERE totp_sealed IS NOT NULL"), 0);
}

/* ------------------------------------------------------------------ homes */

static void test_people_homes(void **state)
{
    fixture *f = *state;
    cv_id h1, h2, u = add_user(f->s, "frank");
    cv_home_rec h;
    assert_int_equal(cv_store_home_add(f->s, "Main St. 'quoted'; DROP TABLE homes; --", &h1), 0);
    assert_int_equal(cv_store_home_add(f->s, "Caf\xc3\xa9 \xf0\x9f\x8f\xa0", &h2), 0);
    assert_int_equal(cv_store_home_add(f->s, "Caf\xc3\xa9 \xf0\x9f\x8f\xa0", NULL), -EEXIST);
    assert_int_equal(cv_store_home_add(f->s, "", NULL), -EINVAL);
    assert_int_equal(cv_store_home_add(f->s, "bad\nname", NULL), -EINVAL);
    assert_int_equal(cv_store_home_add(f->s, "bidi \xe2\x80\xae", NULL), -EINVAL);
    assert_int_equal(cv_store_home_add(f->s, "bad \xff", NULL), -EINVAL);
    assert_int_equal(cv_store_home_add(f->s, NULL, NULL), -EINVAL);
    char big[200];
    memset(big, 'n', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cv_store_home_add(f->s, big, NULL), -EINVAL);

    assert_int_equal(cv_store_home_get(f->s, &h1, &h), 0);
    assert_string_equal(h.name, "Main St. 'quoted'; DROP TABLE homes; --");
    assert_true(h.created_us > 0);
    assert_int_equal(cv_store_home_find_name(f->s, "Caf\xc3\xa9 \xf0\x9f\x8f\xa0", &h), 0);
    assert_true(cv_id_eq(&h.id, &h2));
    assert_int_equal(cv_store_home_find_name(f->s, "caf\xc3\xa9 \xf0\x9f\x8f\xa0", &h), -ENOENT);
    assert_int_equal(cv_store_home_find_name(f->s, big, &h), -ENOENT);

    cv_home_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_home_list(f->s, NULL, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_true(cv_id_eq(&list[0].id, &h1));
    assert_true(cv_id_eq(&list[1].id, &h2));
    free(list);
    assert_int_equal(cv_store_home_list(f->s, &u, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cv_store_member_set(f->s, &h2, &u, CV_ROLE_VIEWER), 0);
    assert_int_equal(cv_store_home_list(f->s, &u, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_true(cv_id_eq(&list[0].id, &h2));
    free(list);

    /* Removal: tombstone, name free again, id never reused. */
    assert_int_equal(cv_store_home_remove(f->s, &h2), 0);
    assert_int_equal(cv_store_home_remove(f->s, &h2), -ENOENT);
    assert_int_equal(cv_store_home_get(f->s, &h2, &h), -ENOENT);
    assert_int_equal(cv_store_home_list(f->s, &u, &list, &n), 0);
    assert_int_equal(n, 0);
    cv_id h3;
    assert_int_equal(cv_store_home_add(f->s, "Caf\xc3\xa9 \xf0\x9f\x8f\xa0", &h3), 0);
    assert_false(cv_id_eq(&h3, &h2));
    cv_id unknown;
    cv_id_random(&unknown);
    assert_int_equal(cv_store_home_remove(f->s, &unknown), -ENOENT);
    assert_int_equal(cv_store_home_get(f->s, &unknown, &h), -ENOENT);
}

/* ---------------------------------------------------------------- members */

static void test_people_members(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home"), other = add_home(f->s, "other");
    cv_id owner = add_user(f->s, "zed-owner"), viewer = add_user(f->s, "amy"), outsider = add_user(f->s, "out");
    cv_role r = CV_ROLE_OWNER;

    assert_int_equal(cv_store_member_role(f->s, &home, &owner, &r), 0);
    assert_int_equal(r, CV_ROLE_NONE);
    assert_int_equal(cv_store_member_set(f->s, &home, &owner, CV_ROLE_OWNER), 0);
    assert_int_equal(cv_store_member_set(f->s, &home, &viewer, CV_ROLE_MEMBER), 0);
    assert_int_equal(cv_store_member_set(f->s, &home, &viewer, CV_ROLE_VIEWER), 0); /* role change */
    assert_int_equal(cv_store_member_role(f->s, &home, &owner, &r), 0);
    assert_int_equal(r, CV_ROLE_OWNER);
    assert_int_equal(cv_store_member_role(f->s, &home, &viewer, &r), 0);
    assert_int_equal(r, CV_ROLE_VIEWER);
    assert_int_equal(cv_store_member_role(f->s, &other, &viewer, &r), 0);
    assert_int_equal(r, CV_ROLE_NONE);

    cv_member_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_member_list(f->s, &home, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].login, "amy");
    assert_int_equal(list[0].role, CV_ROLE_VIEWER);
    assert_true(cv_id_eq(&list[0].user, &viewer));
    assert_true(cv_id_eq(&list[0].home, &home));
    assert_string_equal(list[1].login, "zed-owner");
    assert_int_equal(list[1].role, CV_ROLE_OWNER);
    free(list);
    assert_int_equal(cv_store_member_list(f->s, &other, &list, &n), 0);
    assert_int_equal(n, 0);

    /* Errors. */
    cv_id unknown;
    cv_id_random(&unknown);
    assert_int_equal(cv_store_member_set(f->s, &home, &outsider, CV_ROLE_NONE), -EINVAL);
    assert_int_equal(cv_store_member_set(f->s, &home, &outsider, (cv_role)4), -EINVAL);
    assert_int_equal(cv_store_member_set(f->s, &unknown, &outsider, CV_ROLE_VIEWER), -ENOENT);
    assert_int_equal(cv_store_member_set(f->s, &home, &unknown, CV_ROLE_VIEWER), -ENOENT);
    assert_int_equal(cv_store_member_remove(f->s, &home, &outsider), -ENOENT);
    assert_int_equal(cv_store_member_set(f->s, NULL, &outsider, CV_ROLE_VIEWER), -EINVAL);
    cv_id gone_user = add_user(f->s, "gone");
    assert_int_equal(cv_store_user_remove(f->s, &gone_user), 0);
    assert_int_equal(cv_store_member_set(f->s, &home, &gone_user, CV_ROLE_VIEWER), -ENOENT);
    assert_int_equal(cv_store_home_remove(f->s, &other), 0);
    assert_int_equal(cv_store_member_set(f->s, &other, &outsider, CV_ROLE_VIEWER), -ENOENT);

    assert_int_equal(cv_store_member_remove(f->s, &home, &viewer), 0);
    assert_int_equal(cv_store_member_remove(f->s, &home, &viewer), -ENOENT);
    assert_int_equal(cv_store_member_role(f->s, &home, &viewer, &r), 0);
    assert_int_equal(r, CV_ROLE_NONE);
    assert_int_equal(cv_store_member_list(f->s, &home, &list, &n), 0);
    assert_int_equal(n, 1);
    free(list);
}

/* ----------------------------------------------------------------- grants */

static void test_people_grants(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home");
    cv_id cam1 = add_cam(f->s, &home, "one"), cam2 = add_cam(f->s, &home, "two");
    cv_id guest = add_user(f->s, "guest"), other = add_user(f->s, "other");
    int64_t exp = cv_wall_us() + HOUR_US;

    cv_id g1 = add_grant(f->s, &cam1, &guest, CV_SCOPE_LIVE, exp);
    cv_id g2 = add_grant(f->s, &cam2, &guest, CV_SCOPE_ALL, exp + 1);
    cv_id g3 = add_grant(f->s, &cam1, &other, CV_SCOPE_SNAPSHOT, exp + 2);

    cv_grant_rec g;
    assert_int_equal(cv_store_grant_get(f->s, &g1, &g), 0);
    assert_true(cv_id_eq(&g.id, &g1));
    assert_true(cv_id_eq(&g.camera, &cam1));
    assert_true(cv_id_eq(&g.user, &guest));
    assert_string_equal(g.login, "guest");
    assert_int_equal(g.scopes, CV_SCOPE_LIVE);
    assert_int_equal(g.expires_us, exp);
    assert_true(g.created_us > 0 && g.created_us < exp);

    cv_grant_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_grant_list(f->s, NULL, NULL, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_true(cv_id_eq(&list[0].id, &g1));
    assert_true(cv_id_eq(&list[1].id, &g2));
    assert_true(cv_id_eq(&list[2].id, &g3));
    free(list);
    assert_int_equal(cv_store_grant_list(f->s, &cam1, NULL, &list, &n), 0);
    assert_int_equal(n, 2);
    free(list);
    assert_int_equal(cv_store_grant_list(f->s, NULL, &guest, &list, &n), 0);
    assert_int_equal(n, 2);
    free(list);
    assert_int_equal(cv_store_grant_list(f->s, &cam1, &other, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_true(cv_id_eq(&list[0].id, &g3));
    assert_string_equal(list[0].login, "other");
    free(list);

    /* Errors: no scopes, unknown bits, expiry not in the future, missing parents. */
    cv_grant_rec in;
    memset(&in, 0, sizeof(in));
    in.camera = cam1;
    in.user = guest;
    in.expires_us = exp;
    in.scopes = 0;
    assert_int_equal(cv_store_grant_add(f->s, &in, NULL), -EINVAL);
    in.scopes = 4;
    assert_int_equal(cv_store_grant_add(f->s, &in, NULL), -EINVAL);
    in.scopes = CV_SCOPE_LIVE | 0x80000000u;
    assert_int_equal(cv_store_grant_add(f->s, &in, NULL), -EINVAL);
    in.scopes = CV_SCOPE_LIVE;
    in.expires_us = cv_wall_us() - 1;
    assert_int_equal(cv_store_grant_add(f->s, &in, NULL), -EINVAL);
    in.expires_us = exp;
    cv_id_random(&in.camera);
    assert_int_equal(cv_store_grant_add(f->s, &in, NULL), -ENOENT);
    in.camera = cam1;
    cv_id_random(&in.user);
    assert_int_equal(cv_store_grant_add(f->s, &in, NULL), -ENOENT);
    assert_int_equal(cv_store_grant_add(f->s, NULL, NULL), -EINVAL);

    /* Removal tombstones: gone from get/list, id not reusable, -ENOENT twice. */
    assert_int_equal(cv_store_grant_remove(f->s, &g1), 0);
    assert_int_equal(cv_store_grant_remove(f->s, &g1), -ENOENT);
    assert_int_equal(cv_store_grant_get(f->s, &g1, &g), -ENOENT);
    assert_int_equal(cv_store_grant_list(f->s, &cam1, NULL, &list, &n), 0);
    assert_int_equal(n, 1);
    free(list);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM grants"), 3);

    /* A removed camera takes no new grants. */
    assert_int_equal(cv_store_camera_remove(f->s, &cam2), 0);
    in.user = guest;
    in.camera = cam2;
    assert_int_equal(cv_store_grant_add(f->s, &in, NULL), -ENOENT);
    assert_int_equal(cv_store_grant_get(f->s, &g2, &g), -ENOENT);
}

/* ----------------------------------------------------------------- access */

static void test_people_access_roles(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home"), away = add_home(f->s, "away");
    cv_id cam = add_cam(f->s, &home, "cam"), cam_away = add_cam(f->s, &away, "cam");
    cv_id owner = add_user(f->s, "owner"), member = add_user(f->s, "member"), viewer = add_user(f->s, "viewer");
    cv_id stranger = add_user(f->s, "stranger");
    int64_t now = cv_wall_us();

    assert_int_equal(cv_store_member_set(f->s, &home, &owner, CV_ROLE_OWNER), 0);
    assert_int_equal(cv_store_member_set(f->s, &home, &member, CV_ROLE_MEMBER), 0);
    assert_int_equal(cv_store_member_set(f->s, &home, &viewer, CV_ROLE_VIEWER), 0);

    assert_int_equal(access_at(f->s, &owner, &cam, now), CV_SCOPE_ALL);
    assert_int_equal(access_at(f->s, &member, &cam, now), CV_SCOPE_ALL);
    assert_int_equal(access_at(f->s, &viewer, &cam, now), CV_SCOPE_ALL);
    assert_int_equal(access_at(f->s, &stranger, &cam, now), 0);
    /* A role in one home says nothing about another. */
    assert_int_equal(access_at(f->s, &owner, &cam_away, now), 0);

    /* The admin flag is not access. */
    assert_int_equal(cv_store_user_set_admin(f->s, &stranger, true), 0);
    assert_int_equal(access_at(f->s, &stranger, &cam, now), 0);

    /* Disabled → 0, and back once enabled. */
    assert_int_equal(cv_store_user_set_disabled(f->s, &member, true), 0);
    assert_int_equal(access_at(f->s, &member, &cam, now), 0);
    assert_int_equal(cv_store_user_set_disabled(f->s, &member, false), 0);
    assert_int_equal(access_at(f->s, &member, &cam, now), CV_SCOPE_ALL);

    /* Unknown ids, removed user, removed camera. */
    cv_id unknown;
    cv_id_random(&unknown);
    assert_int_equal(access_at(f->s, &unknown, &cam, now), 0);
    assert_int_equal(access_at(f->s, &owner, &unknown, now), 0);
    assert_int_equal(cv_store_user_remove(f->s, &viewer), 0);
    assert_int_equal(access_at(f->s, &viewer, &cam, now), 0);
    assert_int_equal(cv_store_camera_remove(f->s, &cam), 0);
    assert_int_equal(access_at(f->s, &owner, &cam, now), 0);

    uint32_t scopes = 77;
    assert_int_equal(cv_store_access(f->s, NULL, &cam, now, &scopes), -EINVAL);
    assert_int_equal(cv_store_access(f->s, &owner, &cam, now, NULL), -EINVAL);
}

static void test_people_access_grants(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home");
    cv_id cam = add_cam(f->s, &home, "cam"), cam2 = add_cam(f->s, &home, "cam2");
    cv_id guest = add_user(f->s, "guest");
    int64_t now = cv_wall_us();
    int64_t t1 = now + HOUR_US, t2 = now + 2 * HOUR_US;

    cv_id live = add_grant(f->s, &cam, &guest, CV_SCOPE_LIVE, t1);
    assert_int_equal(access_at(f->s, &guest, &cam, now), CV_SCOPE_LIVE);
    assert_int_equal(access_at(f->s, &guest, &cam2, now), 0);
    /* Scopes of several grants add up. */
    add_grant(f->s, &cam, &guest, CV_SCOPE_SNAPSHOT, t2);
    assert_int_equal(access_at(f->s, &guest, &cam, now), CV_SCOPE_ALL);

    /* Expiry at the µs boundary: valid while now < expires_us. */
    assert_int_equal(access_at(f->s, &guest, &cam, t1 - 1), CV_SCOPE_ALL);
    assert_int_equal(access_at(f->s, &guest, &cam, t1), CV_SCOPE_SNAPSHOT);
    assert_int_equal(access_at(f->s, &guest, &cam, t2 - 1), CV_SCOPE_SNAPSHOT);
    assert_int_equal(access_at(f->s, &guest, &cam, t2), 0);
    assert_int_equal(access_at(f->s, &guest, &cam, t2 + HOUR_US), 0);

    /* A membership trumps grants. */
    assert_int_equal(cv_store_member_set(f->s, &home, &guest, CV_ROLE_VIEWER), 0);
    assert_int_equal(access_at(f->s, &guest, &cam, t2), CV_SCOPE_ALL);
    assert_int_equal(cv_store_member_remove(f->s, &home, &guest), 0);
    assert_int_equal(access_at(f->s, &guest, &cam, t2), 0);

    /* Disabled guest → 0; removed grant → only the other one. */
    assert_int_equal(cv_store_user_set_disabled(f->s, &guest, true), 0);
    assert_int_equal(access_at(f->s, &guest, &cam, now), 0);
    assert_int_equal(cv_store_user_set_disabled(f->s, &guest, false), 0);
    assert_int_equal(cv_store_grant_remove(f->s, &live), 0);
    assert_int_equal(access_at(f->s, &guest, &cam, now), CV_SCOPE_SNAPSHOT);
}

static void test_people_user_cameras(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home"), away = add_home(f->s, "away");
    cv_id a = add_cam(f->s, &home, "a"), b = add_cam(f->s, &home, "b"), c = add_cam(f->s, &away, "c");
    add_cam(f->s, &away, "d");
    cv_id u = add_user(f->s, "u");
    int64_t now = cv_wall_us();
    cv_camera_rec *list = NULL;
    size_t n = 9;

    assert_int_equal(cv_store_user_cameras(f->s, &u, now, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_null(list);
    assert_int_equal(cv_store_member_set(f->s, &home, &u, CV_ROLE_VIEWER), 0);
    add_grant(f->s, &c, &u, CV_SCOPE_LIVE, now + HOUR_US);
    add_grant(f->s, &a, &u, CV_SCOPE_LIVE, now + HOUR_US); /* also a member: listed once */
    assert_int_equal(cv_store_user_cameras(f->s, &u, now, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_true(cv_id_eq(&list[0].id, &a));
    assert_true(cv_id_eq(&list[1].id, &b));
    assert_true(cv_id_eq(&list[2].id, &c));
    free(list);
    /* After the grant expires, only the home's cameras. */
    assert_int_equal(cv_store_user_cameras(f->s, &u, now + HOUR_US, &list, &n), 0);
    assert_int_equal(n, 2);
    free(list);
    assert_int_equal(cv_store_user_set_disabled(f->s, &u, true), 0);
    assert_int_equal(cv_store_user_cameras(f->s, &u, now, &list, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(cv_store_user_cameras(f->s, NULL, now, &list, &n), -EINVAL);
}

/* --------------------------------------------------------------- cascades */

static void test_people_camera_remove_cascade(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home");
    cv_id cam = add_cam(f->s, &home, "cam"), keep = add_cam(f->s, &home, "keep");
    cv_id guest = add_user(f->s, "guest"), owner = add_user(f->s, "owner");
    int64_t exp = cv_wall_us() + HOUR_US;
    cv_id g = add_grant(f->s, &cam, &guest, CV_SCOPE_LIVE, exp);
    cv_id gk = add_grant(f->s, &keep, &guest, CV_SCOPE_LIVE, exp);
    add_token(f->s, 1, &cam, &guest, NULL);
    add_token(f->s, 2, &cam, &owner, NULL);
    add_token(f->s, 3, &keep, &guest, NULL);
    assert_revoked(f->s, NULL, 0);

    assert_int_equal(cv_store_camera_remove(f->s, &cam), 0);
    assert_revoked(f->s, (const uint8_t[]){1, 2}, 2);
    cv_grant_rec gr;
    assert_int_equal(cv_store_grant_get(f->s, &g, &gr), -ENOENT);
    assert_int_equal(cv_store_grant_get(f->s, &gk, &gr), 0);
    /* Tokens for a removed camera can no longer be recorded. */
    cv_token_rec t;
    memset(&t, 0, sizeof(t));
    memset(t.hash, 9, sizeof(t.hash));
    t.camera = cam;
    t.principal_kind = 1;
    t.principal = owner;
    t.scopes = CV_SCOPE_LIVE;
    t.expires_us = exp;
    assert_int_equal(cv_store_token_add(f->s, &t), -ENOENT);
}

static void test_people_home_remove_cascade(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home"), other = add_home(f->s, "other");
    cv_id c1 = add_cam(f->s, &home, "c1"), c2 = add_cam(f->s, &home, "c2"), c3 = add_cam(f->s, &other, "c3");
    cv_id owner = add_user(f->s, "owner"), guest = add_user(f->s, "guest");
    int64_t exp = cv_wall_us() + HOUR_US;
    assert_int_equal(cv_store_member_set(f->s, &home, &owner, CV_ROLE_OWNER), 0);
    assert_int_equal(cv_store_member_set(f->s, &other, &owner, CV_ROLE_VIEWER), 0);
    cv_id g1 = add_grant(f->s, &c1, &guest, CV_SCOPE_LIVE, exp);
    cv_id g3 = add_grant(f->s, &c3, &guest, CV_SCOPE_LIVE, exp);
    add_token(f->s, 1, &c1, &owner, NULL);
    add_token(f->s, 2, &c2, &guest, NULL);
    add_token(f->s, 3, &c3, &owner, NULL);

    assert_int_equal(cv_store_home_remove(f->s, &home), 0);
    assert_revoked(f->s, (const uint8_t[]){1, 2}, 2);
    cv_camera_rec cr;
    assert_int_equal(cv_store_camera_get(f->s, &c1, &cr), -ENOENT);
    assert_int_equal(cv_store_camera_get(f->s, &c2, &cr), -ENOENT);
    assert_int_equal(cv_store_camera_get(f->s, &c3, &cr), 0);
    cv_grant_rec gr;
    assert_int_equal(cv_store_grant_get(f->s, &g1, &gr), -ENOENT);
    assert_int_equal(cv_store_grant_get(f->s, &g3, &gr), 0);
    cv_role r;
    assert_int_equal(cv_store_member_role(f->s, &home, &owner, &r), 0);
    assert_int_equal(r, CV_ROLE_NONE);
    assert_int_equal(cv_store_member_role(f->s, &other, &owner, &r), 0);
    assert_int_equal(r, CV_ROLE_VIEWER);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM members"), 1);
    cv_home_rec *homes = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_home_list(f->s, &owner, &homes, &n), 0);
    assert_int_equal(n, 1);
    assert_true(cv_id_eq(&homes[0].id, &other));
    free(homes);
    /* Camera names in the removed home are free in a new home of the same name. */
    cv_id again = add_home(f->s, "home");
    add_cam(f->s, &again, "c1");
}

static void test_people_member_remove_cascade(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home"), other = add_home(f->s, "other");
    cv_id c1 = add_cam(f->s, &home, "c1"), c2 = add_cam(f->s, &home, "c2"), c3 = add_cam(f->s, &other, "c3");
    cv_id u = add_user(f->s, "u"), v = add_user(f->s, "v");
    assert_int_equal(cv_store_member_set(f->s, &home, &u, CV_ROLE_MEMBER), 0);
    assert_int_equal(cv_store_member_set(f->s, &other, &u, CV_ROLE_MEMBER), 0);
    assert_int_equal(cv_store_member_set(f->s, &home, &v, CV_ROLE_VIEWER), 0);
    add_token(f->s, 1, &c1, &u, NULL);
    add_token(f->s, 2, &c2, &u, NULL);
    add_token(f->s, 3, &c3, &u, NULL);
    add_token(f->s, 4, &c1, &v, NULL);

    /* A role change revokes nothing. */
    assert_int_equal(cv_store_member_set(f->s, &home, &u, CV_ROLE_VIEWER), 0);
    assert_revoked(f->s, NULL, 0);
    assert_int_equal(cv_store_member_remove(f->s, &home, &u), 0);
    assert_revoked(f->s, (const uint8_t[]){1, 2}, 2);
    /* A failed removal revokes nothing more. */
    assert_int_equal(cv_store_member_remove(f->s, &home, &u), -ENOENT);
    assert_revoked(f->s, (const uint8_t[]){1, 2}, 2);
}

static void test_people_grant_remove_cascade(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home");
    cv_id c1 = add_cam(f->s, &home, "c1"), c2 = add_cam(f->s, &home, "c2");
    cv_id guest = add_user(f->s, "guest"), other = add_user(f->s, "other");
    int64_t exp = cv_wall_us() + HOUR_US;
    cv_id g = add_grant(f->s, &c1, &guest, CV_SCOPE_LIVE, exp);
    add_grant(f->s, &c2, &guest, CV_SCOPE_LIVE, exp);
    add_grant(f->s, &c1, &other, CV_SCOPE_LIVE, exp);
    add_token(f->s, 1, &c1, &guest, NULL);
    add_token(f->s, 2, &c1, &guest, NULL);
    add_token(f->s, 3, &c2, &guest, NULL);
    add_token(f->s, 4, &c1, &other, NULL);

    assert_int_equal(cv_store_grant_remove(f->s, &g), 0);
    assert_revoked(f->s, (const uint8_t[]){1, 2}, 2);
}

static void test_people_disable_and_remove_user_cascade(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home");
    cv_id c1 = add_cam(f->s, &home, "c1"), c2 = add_cam(f->s, &home, "c2");
    cv_id u = add_user(f->s, "u"), v = add_user(f->s, "v");
    int64_t exp = cv_wall_us() + HOUR_US;
    assert_int_equal(cv_store_member_set(f->s, &home, &u, CV_ROLE_OWNER), 0);
    cv_id g = add_grant(f->s, &c2, &u, CV_SCOPE_LIVE, exp);
    add_token(f->s, 1, &c1, &u, NULL);
    add_token(f->s, 2, &c2, &u, NULL);
    add_token(f->s, 3, &c1, &v, NULL);
    cv_websession_rec ws;
    memset(&ws, 0, sizeof(ws));
    memset(ws.hash, 0x51, sizeof(ws.hash));
    ws.user = u;
    ws.expires_us = exp;
    assert_int_equal(cv_store_websession_add(f->s, &ws), 0);
    cv_id pw;
    assert_int_equal(cv_store_apppw_add(f->s, &u, "nvr", "s1.apppw", &pw), 0);

    /* Disabling: tokens revoked and sessions gone; roles, grants, app passwords kept. */
    assert_int_equal(cv_store_user_set_disabled(f->s, &u, true), 0);
    assert_revoked(f->s, (const uint8_t[]){1, 2}, 2);
    assert_int_equal(cv_store_websession_get(f->s, ws.hash, cv_wall_us(), NULL), -ENOENT);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM websessions"), 0);
    cv_role r;
    assert_int_equal(cv_store_member_role(f->s, &home, &u, &r), 0);
    assert_int_equal(r, CV_ROLE_OWNER);
    cv_grant_rec gr;
    assert_int_equal(cv_store_grant_get(f->s, &g, &gr), 0);
    /* No new tokens or sessions while disabled. */
    cv_token_rec t;
    memset(&t, 0, sizeof(t));
    memset(t.hash, 7, sizeof(t.hash));
    t.camera = c1;
    t.principal_kind = 1;
    t.principal = u;
    t.scopes = CV_SCOPE_LIVE;
    t.expires_us = exp;
    assert_int_equal(cv_store_token_add(f->s, &t), -ENOENT);
    assert_int_equal(cv_store_websession_add(f->s, &ws), -ENOENT);

    /* Re-enabling restores access but not the revoked tokens. */
    assert_int_equal(cv_store_user_set_disabled(f->s, &u, false), 0);
    assert_revoked(f->s, (const uint8_t[]){1, 2}, 2);
    add_token(f->s, 5, &c1, &u, NULL);
    assert_int_equal(cv_store_websession_add(f->s, &ws), 0);

    /* Removal: everything goes. */
    assert_int_equal(cv_store_user_remove(f->s, &u), 0);
    assert_revoked(f->s, (const uint8_t[]){1, 2, 5}, 3);
    assert_int_equal(cv_store_member_role(f->s, &home, &u, &r), 0);
    assert_int_equal(r, CV_ROLE_NONE);
    assert_int_equal(cv_store_grant_get(f->s, &g, &gr), -ENOENT);
    cv_apppw_rec *pws = NULL;
    size_t n = 9;
    assert_int_equal(cv_store_apppw_list(f->s, &u, &pws, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM websessions"), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM app_passwords WHERE sealed <> ''"), 0);
    assert_int_equal(raw_int(f, "SELECT count(*) FROM members"), 0);
    /* v is untouched. */
    assert_int_equal(cv_store_user_get(f->s, &v, NULL), 0);
}

typedef struct {
    cv_id home, cam, user;
    int result;
} cascade_ctx;

static int remove_then_fail(cv_store *s, void *p)
{
    cascade_ctx *c = p;
    if (cv_store_home_remove(s, &c->home) != 0 || cv_store_user_remove(s, &c->user) != 0)
        return -1000;
    return c->result;
}

/* Cascades called inside cv_store_txn nest, and roll back with it. */
static void test_people_cascade_in_txn(void **state)
{
    fixture *f = *state;
    cascade_ctx c;
    c.home = add_home(f->s, "home");
    c.cam = add_cam(f->s, &c.home, "cam");
    c.user = add_user(f->s, "u");
    assert_int_equal(cv_store_member_set(f->s, &c.home, &c.user, CV_ROLE_OWNER), 0);
    add_token(f->s, 1, &c.cam, &c.user, NULL);

    c.result = -ECANCELED;
    assert_int_equal(cv_store_txn(f->s, remove_then_fail, &c), -ECANCELED);
    assert_revoked(f->s, NULL, 0);
    assert_int_equal(cv_store_camera_get(f->s, &c.cam, NULL), 0);
    assert_int_equal(cv_store_user_get(f->s, &c.user, NULL), 0);
    assert_int_equal(access_at(f->s, &c.user, &c.cam, cv_wall_us()), CV_SCOPE_ALL);

    c.result = 0;
    assert_int_equal(cv_store_txn(f->s, remove_then_fail, &c), 0);
    assert_revoked(f->s, (const uint8_t[]){1}, 1);
    assert_int_equal(cv_store_camera_get(f->s, &c.cam, NULL), -ENOENT);
    assert_int_equal(cv_store_user_get(f->s, &c.user, NULL), -ENOENT);
}

/* Ids of every kind are never reused, even after removal. */
static void test_people_tombstoned_ids_not_reused(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home"), cam = add_cam(f->s, &home, "cam");
    cv_id u = add_user(f->s, "u");
    cv_id g = add_grant(f->s, &cam, &u, CV_SCOPE_LIVE, cv_wall_us() + HOUR_US);
    assert_int_equal(cv_store_grant_remove(f->s, &g), 0);
    assert_int_equal(cv_store_user_remove(f->s, &u), 0);
    assert_int_equal(cv_store_home_remove(f->s, &home), 0);

    /* The rows stay as tombstones, so the primary keys keep the ids. */
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(f->t.path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    sqlite3_extended_result_codes(db, 1);
    static const char *const sql[] = {
        "INSERT INTO homes (id, name, created_us) VALUES (?1, 'x', 0)",
        "INSERT INTO users (id, login, pw_hash, created_us) VALUES (?1, 'x', 'h', 0)",
        "INSERT INTO grants (id, camera, user, scopes, expires_us, created_us) VALUES (?1, ?2, ?3, 1, 0, 0)",
    };
    const cv_id *ids[] = {&home, &u, &g};
    for (size_t i = 0; i < CV_ARRAY_LEN(sql); i++) {
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql[i], -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_blob(st, 1, ids[i]->b, CV_ID_BYTES, SQLITE_STATIC);
        if (i == 2) {
            sqlite3_bind_blob(st, 2, cam.b, CV_ID_BYTES, SQLITE_STATIC);
            sqlite3_bind_blob(st, 3, u.b, CV_ID_BYTES, SQLITE_STATIC);
        }
        assert_int_equal(sqlite3_step(st), SQLITE_CONSTRAINT_PRIMARYKEY);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

/* Another connection sees each change through data_version. */
/* ------------------------------------------------- rename, home grants, audit */

static void test_people_camera_rename(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home"), other = add_home(f->s, "other");
    cv_id cam = add_cam(f->s, &home, "porch");
    (void)add_cam(f->s, &home, "garden");
    (void)add_cam(f->s, &other, "yard");
    cv_camera_rec r;
    assert_int_equal(cv_store_camera_rename(f->s, &cam, "front door"), 0);
    assert_int_equal(cv_store_camera_get(f->s, &cam, &r), 0);
    assert_string_equal(r.name, "front door");
    /* The same name again is fine; another camera's in the home is not; a
     * name used in another home is. */
    assert_int_equal(cv_store_camera_rename(f->s, &cam, "front door"), 0);
    assert_int_equal(cv_store_camera_rename(f->s, &cam, "garden"), -EEXIST);
    assert_int_equal(cv_store_camera_rename(f->s, &cam, "yard"), 0);
    /* The old name is free again. */
    (void)add_cam(f->s, &home, "porch");
    /* Bad names and unknown or removed cameras. */
    assert_int_equal(cv_store_camera_rename(f->s, &cam, ""), -EINVAL);
    assert_int_equal(cv_store_camera_rename(f->s, &cam, "tab\there"), -EINVAL);
    char long_name[200];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = 0;
    assert_int_equal(cv_store_camera_rename(f->s, &cam, long_name), -EINVAL);
    assert_int_equal(cv_store_camera_rename(f->s, &cam, NULL), -EINVAL);
    cv_id unknown;
    cv_id_random(&unknown);
    assert_int_equal(cv_store_camera_rename(f->s, &unknown, "x"), -ENOENT);
    assert_int_equal(cv_store_camera_remove(f->s, &cam), 0);
    assert_int_equal(cv_store_camera_rename(f->s, &cam, "z"), -ENOENT);
}

static void test_people_home_grants(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home"), other = add_home(f->s, "other");
    cv_id cam1 = add_cam(f->s, &home, "one"), cam2 = add_cam(f->s, &home, "two");
    cv_id cam3 = add_cam(f->s, &other, "three");
    cv_id guest = add_user(f->s, "guest"), g2user = add_user(f->s, "friend");
    int64_t now = cv_wall_us();
    cv_id g1 = add_grant(f->s, &cam1, &guest, CV_SCOPE_LIVE, now + HOUR_US);
    usleep(2000);
    cv_id g2 = add_grant(f->s, &cam2, &g2user, CV_SCOPE_ALL, now + 2 * HOUR_US);
    usleep(2000);
    cv_id g3 = add_grant(f->s, &cam1, &g2user, CV_SCOPE_SNAPSHOT, now + 3 * HOUR_US);
    (void)add_grant(f->s, &cam3, &guest, CV_SCOPE_LIVE, now + HOUR_US);

    cv_home_grant_rec *list = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_home_grants(f->s, &home, cv_wall_us(), &list, &n), 0);
    assert_int_equal(n, 3); /* newest first, only this home's cameras */
    assert_true(cv_id_eq(&list[0].grant.id, &g3));
    assert_true(cv_id_eq(&list[1].grant.id, &g2));
    assert_true(cv_id_eq(&list[2].grant.id, &g1));
    assert_string_equal(list[0].camera_name, "one");
    assert_string_equal(list[1].camera_name, "two");
    assert_string_equal(list[1].grant.login, "friend");
    assert_int_equal(list[1].grant.scopes, CV_SCOPE_ALL);
    free(list);
    /* Expired at the time asked, removed grants and removed cameras drop out. */
    assert_int_equal(cv_store_home_grants(f->s, &home, now + HOUR_US, &list, &n), 0);
    assert_int_equal(n, 2);
    free(list);
    assert_int_equal(cv_store_grant_remove(f->s, &g3), 0);
    assert_int_equal(cv_store_camera_remove(f->s, &cam2), 0);
    assert_int_equal(cv_store_home_grants(f->s, &home, cv_wall_us(), &list, &n), 0);
    assert_int_equal(n, 1);
    assert_true(cv_id_eq(&list[0].grant.id, &g1));
    free(list);
    cv_id unknown;
    cv_id_random(&unknown);
    assert_int_equal(cv_store_home_grants(f->s, &unknown, cv_wall_us(), &list, &n), 0);
    assert_int_equal(n, 0);
    assert_null(list);
    assert_int_equal(cv_store_home_grants(f->s, NULL, 0, &list, &n), -EINVAL);
}

static size_t audit_count(cv_store *s, const cv_audit_filter *flt, size_t limit, cv_audit_rec **out)
{
    size_t n = 99;
    assert_int_equal(cv_store_audit_query(s, flt, limit, out, &n), 0);
    return n;
}

static void test_people_audit_query(void **state)
{
    fixture *f = *state;
    cv_id home = add_home(f->s, "home"), other = add_home(f->s, "other");
    cv_id cam1 = add_cam(f->s, &home, "one"), cam2 = add_cam(f->s, &home, "two");
    cv_id cam3 = add_cam(f->s, &other, "three");
    cv_id alice = add_user(f->s, "alice"), bob = add_user(f->s, "bob_1");
    (void)add_user(f->s, "carol");
    assert_int_equal(cv_store_member_set(f->s, &home, &alice, CV_ROLE_OWNER), 0);
    assert_int_equal(cv_store_member_set(f->s, &home, &bob, CV_ROLE_VIEWER), 0);
    assert_int_equal(cv_store_member_set(f->s, &other, &bob, CV_ROLE_OWNER), 0);

    /* 1..10 */
    assert_int_equal(cv_store_audit(f->s, "login.ok", "user:alice", NULL, "a", "http", NULL), 0);
    assert_int_equal(cv_store_audit(f->s, "login.fail", "user:Bob_1", NULL, "a", "http", NULL), 0);
    assert_int_equal(cv_store_audit(f->s, "login.ok", "user:carol", NULL, "a", "http", NULL), 0);
    assert_int_equal(cv_store_audit(f->s, "view.start", "user:bob_1 via token:1a2b", &cam1, "a", "rtsp", NULL), 0);
    assert_int_equal(cv_store_audit(f->s, "view.start", "user:bob_1 via token:3c4d", &cam3, "a", "rtsp", NULL), 0);
    assert_int_equal(cv_store_audit(f->s, "grant.add", "cli", &cam2, "", "cli", NULL), 0);
    assert_int_equal(cv_store_audit(f->s, "view.start", "user:carol via integration:g token:ff", &cam2, "a",
                                    "rtsp", NULL),
                     0);
    assert_int_equal(cv_store_audit(f->s, "login.ok", "user:bobby", NULL, "a", "http", NULL), 0);
    assert_int_equal(cv_store_audit(f->s, "login.ok", "user:bob_1x via token:1", NULL, "a", "http", NULL), 0);
    assert_int_equal(cv_store_audit(f->s, "login.ok", "user:bobX1", NULL, "a", "http", NULL), 0);

    cv_audit_rec *e = NULL;
    cv_audit_filter flt = {0};
    assert_int_equal(audit_count(f->s, &flt, 100, &e), 10);
    free(e);

    /* A home: its cameras' events (anyone's) and its members' events on no
     * camera; not a member's views elsewhere, nor non-members' logins. */
    flt.home = &home;
    assert_int_equal(audit_count(f->s, &flt, 100, &e), 5);
    assert_int_equal(e[0].seq, 1);
    assert_int_equal(e[1].seq, 2); /* the failed login under another case */
    assert_int_equal(e[2].seq, 4);
    assert_int_equal(e[3].seq, 6);
    assert_int_equal(e[4].seq, 7);
    free(e);
    /* Paging. */
    flt.after_seq = 2;
    assert_int_equal(audit_count(f->s, &flt, 2, &e), 2);
    assert_int_equal(e[0].seq, 4);
    assert_int_equal(e[1].seq, 6);
    free(e);
    flt.after_seq = 0;

    /* A person: "user:<login>" and "user:<login> via ..." only ('_' is no
     * wildcard, a longer login is another person). */
    flt.home = NULL;
    flt.person = "bob_1";
    assert_int_equal(audit_count(f->s, &flt, 100, &e), 3);
    assert_int_equal(e[0].seq, 2);
    assert_int_equal(e[1].seq, 4);
    assert_int_equal(e[2].seq, 5);
    free(e);
    /* Combined with a home and a camera. */
    flt.home = &home;
    assert_int_equal(audit_count(f->s, &flt, 100, &e), 2);
    free(e);
    flt.camera = &cam1;
    assert_int_equal(audit_count(f->s, &flt, 100, &e), 1);
    assert_int_equal(e[0].seq, 4);
    free(e);
    flt.person = NULL;
    flt.home = NULL;
    flt.camera = &cam2;
    assert_int_equal(audit_count(f->s, &flt, 100, &e), 2);
    free(e);
    /* A camera of another home, with home=: nothing. */
    flt.camera = &cam3;
    flt.home = &home;
    assert_int_equal(audit_count(f->s, &flt, 100, &e), 0);
    assert_null(e);
    /* Not a login: nothing. */
    flt = (cv_audit_filter){.person = ""};
    assert_int_equal(audit_count(f->s, &flt, 100, &e), 0);
    flt.person = "%";
    assert_int_equal(audit_count(f->s, &flt, 100, &e), 0);
    assert_int_equal(cv_store_audit_query(f->s, NULL, 10, &e, &(size_t){0}), -EINVAL);
}

static void test_people_data_version(void **state)
{
    fixture *f = *state;
    cv_store *b = NULL;
    assert_int_equal(cv_store_open(&b, f->t.path), 0);
    int64_t v = cv_store_data_version(b);
    cv_id home = add_home(f->s, "home");
    int64_t v2 = cv_store_data_version(b);
    assert_true(v2 != v);
    cv_home_rec h;
    assert_int_equal(cv_store_home_get(b, &home, &h), 0);
    cv_id u = add_user(f->s, "u");
    assert_true(cv_store_data_version(b) != v2);
    v2 = cv_store_data_version(b);
    assert_int_equal(cv_store_member_set(f->s, &home, &u, CV_ROLE_VIEWER), 0);
    assert_true(cv_store_data_version(b) != v2);
    v2 = cv_store_data_version(b);
    assert_int_equal(cv_store_user_set_disabled(f->s, &u, true), 0);
    assert_true(cv_store_data_version(b) != v2);
    cv_user_rec ur;
    assert_int_equal(cv_store_user_get(b, &u, &ur), 0);
    assert_true(ur.disabled);
    /* A failed call commits nothing. */
    v2 = cv_store_data_version(b);
    assert_int_equal(cv_store_member_remove(f->s, &home, &home), -ENOENT);
    assert_int_equal(cv_store_user_add(f->s, "U", HASH, false, NULL), -EEXIST);
    assert_int_equal(cv_store_data_version(b), v2);
    cv_store_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_people_role_names),
        cmocka_unit_test_setup_teardown(test_people_user_add_get_find_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_user_rejects_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_login_unique_ignoring_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_user_setters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_user_totp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_homes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_members, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_grants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_access_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_access_grants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_user_cameras, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_camera_remove_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_home_remove_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_member_remove_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_grant_remove_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_disable_and_remove_user_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_cascade_in_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_tombstoned_ids_not_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_data_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_camera_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_home_grants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_audit_query, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
