/* Unit tests for src/store/oauth.c: integrations, account links,
 * authorization codes with PKCE, rotating refresh tokens, revocation and the
 * kill switch. Time moves through the now_us argument. */
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

#include "http-fixture.h"
#include "tmpdir-fixture.h"

#include "base/id.h"
#include "base/util.h"
#include "store/audit.h"
#include "store/oauth.h"
#include "store/people.h"
#include "store/store.h"

#define HASH "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA"
#define T0 (1700000000LL * 1000000)
#define SEC (1000000LL)
#define REDIR "https://example.com/cb"
/* RFC 7636 Appendix B: SHA-256 octets 19, 211, 30, 150, ... 249, 195. (A
 * challenge "E9Melhoa2OwvFjzEu_rc2EJhBJf2F4QJqLo_-9rNqDk" that circulates for
 * this verifier is not its hash: see test_oauth_pkce.) */
#define VERIFIER "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

static const cv_store_actor CLI = {"cli", "", "cli"};

typedef struct {
    tmpdir t;
    cv_store *s;
    uint8_t hkey[CV_OAUTH_HKEY_BYTES];
    cv_id user, user2, integ, cams[2];
    char client_id[CV_OAUTH_CLIENT_ID_MAX];
    char secret[CV_OAUTH_SECRET_MAX];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f || cv_id_init() != 0)
        return -1;
    if (tmpdir_make(&f->t, "oauth", "camvault.db") != 0) {
        free(f);
        return -1;
    }
    uint8_t sub[32];
    memset(sub, 0x42, sizeof(sub));
    cv_oauth_hkey(sub, f->hkey);
    static const char *const uris[] = {REDIR, "http://127.0.0.1:8080/cb"};
    if (cv_store_open(&f->s, f->t.path) != 0 || cv_store_user_add(f->s, "alice", HASH, false, &f->user) != 0 ||
        cv_store_user_add(f->s, "bob", HASH, false, &f->user2) != 0 ||
        cv_store_integration_add(f->s, f->hkey, "google", uris, 2, T0, &CLI, &f->integ, f->client_id,
                                 sizeof(f->client_id), f->secret, sizeof(f->secret)) != 0)
        return -1;
    cv_id_random(&f->cams[0]);
    cv_id_random(&f->cams[1]);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cv_store_close(f->s);
    tmpdir_remove(&f->t);
    free(f);
    return 0;
}

/* Links alice and gets a code for both cameras at now. */
static void get_code(fixture *f, const cv_id *user, int64_t now, char *code)
{
    cv_id link;
    int r = cv_store_oauth_link_add(f->s, user, &f->integ, now, &CLI, &link);
    assert_true(r == 0 || r == 1);
    assert_int_equal(cv_store_oauth_code_issue(f->s, f->hkey, user, &f->integ, REDIR, CHALLENGE, f->cams, 2, now,
                                               code, CV_OAUTH_SECRET_MAX),
                     0);
}

static void get_pair(fixture *f, int64_t now, cv_oauth_grant *g, cv_oauth_pair *p)
{
    char code[CV_OAUTH_SECRET_MAX];
    get_code(f, &f->user, now, code);
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, REDIR, VERIFIER, now, g, p), 0);
}

static void test_oauth_integration_add_list_remove(void **state)
{
    fixture *f = *state;
    cv_integration_rec *l = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_integration_list(f->s, &l, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(l[0].name, "google");
    assert_string_equal(l[0].client_id, f->client_id);
    assert_int_equal(l[0].nredirect, 2);
    assert_string_equal(l[0].redirect_uris[0], REDIR);
    assert_string_equal(l[0].redirect_uris[1], "http://127.0.0.1:8080/cb");
    assert_false(l[0].disabled);
    free(l);
    assert_int_equal(strncmp(f->secret, "cvs_", 4), 0);
    assert_int_equal(strlen(f->secret), 4 + 43);

    /* duplicate name refused */
    static const char *const u1[] = {REDIR};
    char cid[CV_OAUTH_CLIENT_ID_MAX], sec[CV_OAUTH_SECRET_MAX];
    cv_id id2;
    assert_int_equal(cv_store_integration_add(f->s, f->hkey, "google", u1, 1, T0, &CLI, &id2, cid, sizeof(cid), sec,
                                              sizeof(sec)),
                     -EEXIST);
    assert_int_equal(cv_store_integration_add(f->s, f->hkey, "alexa", u1, 1, T0, &CLI, &id2, cid, sizeof(cid), sec,
                                              sizeof(sec)),
                     0);
    assert_string_not_equal(cid, f->client_id);

    cv_integration_rec r;
    assert_int_equal(cv_store_integration_find_name(f->s, "alexa", &r), 0);
    assert_true(cv_id_eq(&r.id, &id2));
    assert_int_equal(cv_store_integration_find_client(f->s, cid, &r), 0);
    assert_string_equal(r.name, "alexa");
    assert_int_equal(cv_store_integration_remove(f->s, &id2, T0, &CLI), 0);
    assert_int_equal(cv_store_integration_remove(f->s, &id2, T0, &CLI), -ENOENT);
    assert_int_equal(cv_store_integration_find_name(f->s, "alexa", &r), -ENOENT);
    assert_int_equal(cv_store_integration_verify(f->s, f->hkey, cid, sec, &r), -EACCES);
    /* the name is free again */
    assert_int_equal(cv_store_integration_add(f->s, f->hkey, "alexa", u1, 1, T0, &CLI, &id2, cid, sizeof(cid), sec,
                                              sizeof(sec)),
                     0);
    assert_int_equal(fx_count_events(f->s, "integration.add"), 3);
    assert_int_equal(fx_count_events(f->s, "integration.remove"), 1);
}

static void test_oauth_integration_bad_input(void **state)
{
    fixture *f = *state;
    char cid[CV_OAUTH_CLIENT_ID_MAX], sec[CV_OAUTH_SECRET_MAX];
    static const char *const bad[] = {
        "http://example.com/cb", "https://example.com/cb#frag", "ftp://x/", "https://", "https:///x",
        "http://localhost.evil.com/", "http://127.0.0.1:/", "http://127.0.0.1:8x/", "https://a b/", "/relative",
        "",
    };
    for (size_t i = 0; i < CV_ARRAY_LEN(bad); i++) {
        assert_false(cv_oauth_redirect_uri_valid(bad[i]));
        const char *u[] = {bad[i]};
        assert_int_equal(cv_store_integration_add(f->s, f->hkey, "x", u, 1, T0, &CLI, NULL, cid, sizeof(cid), sec,
                                                  sizeof(sec)),
                         -EINVAL);
    }
    assert_true(cv_oauth_redirect_uri_valid("http://localhost/cb"));
    assert_true(cv_oauth_redirect_uri_valid("http://127.0.0.1:9/cb?x=1"));
    assert_true(cv_oauth_redirect_uri_valid("https://example.com"));
    const char *u[] = {REDIR};
    assert_int_equal(cv_store_integration_add(f->s, f->hkey, "bad name", u, 1, T0, &CLI, NULL, cid, sizeof(cid), sec,
                                              sizeof(sec)),
                     -EINVAL);
    assert_int_equal(cv_store_integration_add(f->s, f->hkey, "x", u, 0, T0, &CLI, NULL, cid, sizeof(cid), sec,
                                              sizeof(sec)),
                     -EINVAL);
}

static void test_oauth_secret_verify(void **state)
{
    fixture *f = *state;
    cv_integration_rec r;
    assert_int_equal(cv_store_integration_verify(f->s, f->hkey, f->client_id, f->secret, &r), 0);
    assert_true(cv_id_eq(&r.id, &f->integ));
    char wrong[CV_OAUTH_SECRET_MAX];
    snprintf(wrong, sizeof(wrong), "%s", f->secret);
    wrong[10] ^= 1;
    assert_int_equal(cv_store_integration_verify(f->s, f->hkey, f->client_id, wrong, &r), -EACCES);
    assert_int_equal(cv_store_integration_verify(f->s, f->hkey, "cvc_nosuchclient", f->secret, &r), -EACCES);
    assert_int_equal(cv_store_integration_verify(f->s, f->hkey, f->client_id, "", &r), -EACCES);
    uint8_t other[CV_OAUTH_HKEY_BYTES];
    memset(other, 1, sizeof(other));
    assert_int_equal(cv_store_integration_verify(f->s, other, f->client_id, f->secret, &r), -EACCES);
}

static void test_oauth_pkce(void **state)
{
    (void)state;
    assert_true(cv_oauth_pkce_s256_ok(VERIFIER, strlen(VERIFIER), CHALLENGE));
    assert_false(cv_oauth_pkce_s256_ok(VERIFIER, strlen(VERIFIER), "E9Melhoa2OwvFjzEu_rc2EJhBJf2F4QJqLo_-9rNqDk"));
    char v[200];
    snprintf(v, sizeof(v), "%s", VERIFIER);
    v[0] = 'e';
    assert_false(cv_oauth_pkce_s256_ok(v, strlen(v), CHALLENGE));
    /* lengths: 42 and 129 refused, 43 and 128 fine */
    memset(v, 'a', sizeof(v));
    assert_false(cv_oauth_verifier_valid(v, 42));
    assert_true(cv_oauth_verifier_valid(v, 43));
    assert_true(cv_oauth_verifier_valid(v, 128));
    assert_false(cv_oauth_verifier_valid(v, 129));
    /* charset: unreserved only */
    memcpy(v, "-._~AZaz09", 10);
    assert_true(cv_oauth_verifier_valid(v, 43));
    static const char bad[] = {'+', '/', '=', ' ', '%', '!', '\0', (char)0xc3};
    for (size_t i = 0; i < sizeof(bad); i++) {
        v[5] = bad[i];
        assert_false(cv_oauth_verifier_valid(v, 43));
    }
    assert_false(cv_oauth_pkce_s256_ok(VERIFIER, strlen(VERIFIER), "short"));
}

static void test_oauth_code_single_use_revokes_chain(void **state)
{
    fixture *f = *state;
    char code[CV_OAUTH_SECRET_MAX];
    cv_oauth_grant g, g2;
    cv_oauth_pair p, p2;
    get_code(f, &f->user, T0, code);
    /* wrong verifier, wrong redirect, wrong client: refused, code not spent */
    char v[] = VERIFIER;
    v[3] = 'x';
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, REDIR, v, T0, &g, &p), -EACCES);
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, REDIR, "short", T0, &g, &p), -EINVAL);
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, "http://127.0.0.1:8080/cb", VERIFIER,
                                                T0, &g, &p),
                     -EACCES);
    cv_id other;
    cv_id_random(&other);
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &other, REDIR, VERIFIER, T0, &g, &p), -EACCES);
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, "cvo_unknown", &f->integ, REDIR, VERIFIER, T0, &g, &p),
                     -ENOENT);

    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, REDIR, VERIFIER, T0 + SEC, &g, &p), 0);
    assert_true(cv_id_eq(&g.user, &f->user));
    assert_int_equal(g.nscope, 2);
    assert_true(cv_id_eq(&g.scope[0], &f->cams[0]));
    assert_true(cv_id_eq(&g.scope[1], &f->cams[1]));
    assert_true(cv_id_eq(&p.chain, &g.chain));
    assert_int_equal(p.access_expires_us, T0 + SEC + CV_OAUTH_ACCESS_TTL_US);
    /* rotate once so the chain has more than the first pair */
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p.refresh, &f->integ, T0 + 2 * SEC, &g2, &p2), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, NULL, T0 + 3 * SEC, &g2), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p2.access, NULL, T0 + 3 * SEC, &g2), 0);

    /* second redeem: fails and revokes everything the code gave */
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, REDIR, VERIFIER, T0 + 4 * SEC, &g, &p),
                     -EALREADY);
    assert_int_equal(p.access[0], '\0');
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p2.access, NULL, T0 + 5 * SEC, &g2), -ENOENT);
    cv_oauth_pair p3;
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p2.refresh, &f->integ, T0 + 5 * SEC, &g2, &p3), -ENOENT);
}

static void test_oauth_code_expiry(void **state)
{
    fixture *f = *state;
    char code[CV_OAUTH_SECRET_MAX];
    cv_oauth_grant g;
    cv_oauth_pair p;
    get_code(f, &f->user, T0, code);
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, REDIR, VERIFIER,
                                                T0 + CV_OAUTH_CODE_TTL_US, &g, &p),
                     -ETIMEDOUT);
    get_code(f, &f->user, T0, code);
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, REDIR, VERIFIER,
                                                T0 + CV_OAUTH_CODE_TTL_US - 1, &g, &p),
                     0);
    /* a code needs a link, a known redirect URI and a valid challenge */
    cv_id other;
    cv_id_random(&other);
    assert_int_equal(cv_store_oauth_code_issue(f->s, f->hkey, &f->user2, &f->integ, REDIR, CHALLENGE, f->cams, 1, T0,
                                               code, sizeof(code)),
                     -ENOENT);
    assert_int_equal(cv_store_oauth_code_issue(f->s, f->hkey, &f->user, &f->integ, "https://evil.example/cb",
                                               CHALLENGE, f->cams, 1, T0, code, sizeof(code)),
                     -EINVAL);
    assert_int_equal(cv_store_oauth_code_issue(f->s, f->hkey, &f->user, &f->integ, REDIR, "plain", f->cams, 1, T0,
                                               code, sizeof(code)),
                     -EINVAL);
    assert_int_equal(cv_store_oauth_code_issue(f->s, f->hkey, &f->user, &f->integ, REDIR, CHALLENGE, f->cams, 0, T0,
                                               code, sizeof(code)),
                     -EINVAL);
}

static void test_oauth_refresh_rotation_and_reuse(void **state)
{
    fixture *f = *state;
    cv_oauth_grant g;
    cv_oauth_pair p1, p2, p3, px;
    get_pair(f, T0, &g, &p1);
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p1.refresh, &f->integ, T0 + SEC, &g, &p2), 0);
    assert_true(cv_id_eq(&p1.chain, &p2.chain));
    assert_string_not_equal(p1.refresh, p2.refresh);
    /* an access token is not a refresh token; another client may not use it */
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p2.access, &f->integ, T0 + SEC, &g, &px), -ENOENT);
    cv_id other;
    cv_id_random(&other);
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p2.refresh, &other, T0 + SEC, &g, &px), -EACCES);
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p2.refresh, &f->integ, T0 + 2 * SEC, &g, &p3), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p3.access, NULL, T0 + 2 * SEC, &g), 0);

    /* p1's refresh token was rotated already: reuse kills the chain */
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p1.refresh, &f->integ, T0 + 3 * SEC, &g, &px), -EALREADY);
    assert_int_equal(px.refresh[0], '\0');
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p3.access, NULL, T0 + 3 * SEC, &g), -ENOENT);
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p3.refresh, &f->integ, T0 + 3 * SEC, &g, &px), -ENOENT);

    /* refresh expiry */
    get_pair(f, T0, &g, &p1);
    assert_int_equal(
        cv_store_oauth_refresh(f->s, f->hkey, p1.refresh, &f->integ, T0 + CV_OAUTH_REFRESH_TTL_US, &g, &px),
        -ETIMEDOUT);
}

static void test_oauth_access_expiry(void **state)
{
    fixture *f = *state;
    cv_oauth_grant g;
    cv_oauth_pair p;
    get_pair(f, T0, &g, &p);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, NULL, T0 + CV_OAUTH_ACCESS_TTL_US - 1, &g), 0);
    assert_true(cv_id_eq(&g.integration, &f->integ));
    assert_int_equal(g.expires_us, T0 + CV_OAUTH_ACCESS_TTL_US);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, NULL, T0 + CV_OAUTH_ACCESS_TTL_US, &g),
                     -ENOENT);
    /* a refresh token is not an access token */
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.refresh, NULL, T0, &g), -ENOENT);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, "cva_nope", NULL, T0, &g), -ENOENT);
    /* prune drops expired rows */
    assert_int_equal(cv_store_oauth_prune(f->s, T0 + CV_OAUTH_REFRESH_TTL_US + 1), 0);
    cv_oauth_pair px;
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p.refresh, &f->integ, T0, &g, &px), -ENOENT);
}

static void test_oauth_revoke_by_value(void **state)
{
    fixture *f = *state;
    cv_oauth_grant g;
    cv_oauth_pair p, q;
    get_pair(f, T0, &g, &p);
    /* unknown tokens are fine */
    assert_int_equal(cv_store_oauth_revoke(f->s, f->hkey, "cva_whatever", &f->integ, T0), 0);
    assert_int_equal(cv_store_oauth_revoke(f->s, f->hkey, "", &f->integ, T0), 0);
    cv_id other;
    cv_id_random(&other);
    assert_int_equal(cv_store_oauth_revoke(f->s, f->hkey, p.access, &other, T0), -EACCES);
    /* an access token alone */
    assert_int_equal(cv_store_oauth_revoke(f->s, f->hkey, p.access, &f->integ, T0), 0);
    assert_int_equal(cv_store_oauth_revoke(f->s, f->hkey, p.access, &f->integ, T0), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, NULL, T0, &g), -ENOENT);
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p.refresh, &f->integ, T0, &g, &q), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, q.access, NULL, T0, &g), 0);
    /* a refresh token takes its chain */
    assert_int_equal(cv_store_oauth_revoke(f->s, f->hkey, q.refresh, NULL, T0), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, q.access, NULL, T0, &g), -ENOENT);
}

static void test_oauth_link_revoke_kills_tokens(void **state)
{
    fixture *f = *state;
    cv_oauth_grant g;
    cv_oauth_pair p, px;
    char code[CV_OAUTH_SECRET_MAX];
    get_pair(f, T0, &g, &p);
    get_code(f, &f->user, T0, code);
    cv_oauth_link_rec *l = NULL;
    size_t n = 0;
    assert_int_equal(cv_store_oauth_link_list(f->s, &f->user, &l, &n), 0);
    assert_int_equal(n, 1);
    assert_true(cv_id_eq(&l[0].id, &g.link));
    cv_id again;
    assert_int_equal(cv_store_oauth_link_add(f->s, &f->user, &f->integ, T0, &CLI, &again), 1);
    assert_true(cv_id_eq(&again, &l[0].id));
    assert_int_equal(cv_store_oauth_link_revoke(f->s, &l[0].id, T0, &CLI), 0);
    assert_int_equal(cv_store_oauth_link_revoke(f->s, &l[0].id, T0, &CLI), -ENOENT);
    free(l);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, NULL, T0, &g), -ENOENT);
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p.refresh, &f->integ, T0, &g, &px), -ENOENT);
    /* the outstanding code is spent: redeeming it now is a reuse */
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, REDIR, VERIFIER, T0, &g, &px),
                     -EALREADY);
    assert_int_equal(cv_store_oauth_link_list(f->s, &f->user, &l, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(fx_count_events(f->s, "link.add"), 1);
    assert_int_equal(fx_count_events(f->s, "link.revoke"), 1);
    /* linking again is a new link */
    assert_int_equal(cv_store_oauth_link_add(f->s, &f->user, &f->integ, T0, &CLI, &again), 0);
    cv_id ghost;
    cv_id_random(&ghost);
    assert_int_equal(cv_store_oauth_link_add(f->s, &ghost, &f->integ, T0, &CLI, &again), -ENOENT);
}

static void test_oauth_kill_switch(void **state)
{
    fixture *f = *state;
    cv_oauth_grant g;
    cv_oauth_pair p, px;
    char code[CV_OAUTH_SECRET_MAX];
    get_pair(f, T0, &g, &p);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, "CamPro 2", T0, &g), 0);

    /* scoped to a camera model: only requests for that model are refused */
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, "CamPro 2", T0, &CLI), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, "CamPro 2", T0, &g), -EACCES);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, "CamPro 3", T0, &g), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, NULL, T0, &g), 0);
    cv_integration_rec r;
    assert_int_equal(cv_store_integration_get(f->s, &f->integ, &r), 0);
    assert_false(r.disabled);
    assert_int_equal(r.nmodels, 1);
    assert_string_equal(r.disabled_models[0], "CamPro 2");
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, false, "CamPro 2", T0, &CLI), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, "CamPro 2", T0, &g), 0);

    /* the whole integration */
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, NULL, T0, &CLI), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, NULL, T0, &g), -EACCES);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, "CamPro 3", T0, &g), -EACCES);
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p.refresh, &f->integ, T0, &g, &px), -EACCES);
    assert_int_equal(cv_store_oauth_code_issue(f->s, f->hkey, &f->user, &f->integ, REDIR, CHALLENGE, f->cams, 1, T0,
                                               code, sizeof(code)),
                     -ENOENT);
    /* still authenticates (callers see disabled) */
    assert_int_equal(cv_store_integration_verify(f->s, f->hkey, f->client_id, f->secret, &r), 0);
    assert_true(r.disabled);
    /* reversible: enabling as a whole also clears model scopes */
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, "CamPro 2", T0, &CLI), 0);
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, false, NULL, T0, &CLI), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, "CamPro 2", T0, &g), 0);
    assert_int_equal(cv_store_integration_get(f->s, &f->integ, &r), 0);
    assert_int_equal(r.nmodels, 0);
    assert_int_equal(fx_count_events(f->s, "integration.disable"), 3);
    assert_int_equal(fx_count_events(f->s, "integration.enable"), 2);
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, "", T0, &CLI), -EINVAL);
    cv_id ghost;
    cv_id_random(&ghost);
    assert_int_equal(cv_store_integration_set_disabled(f->s, &ghost, true, NULL, T0, &CLI), -ENOENT);

    /* too many models */
    for (int i = 0; i < CV_OAUTH_MODELS_MAX; i++) {
        char m[16];
        snprintf(m, sizeof(m), "M%d", i);
        assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, m, T0, &CLI), 0);
    }
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, "one more", T0, &CLI), -ENOSPC);
    assert_int_equal(cv_store_integration_get(f->s, &f->integ, &r), 0);
    assert_int_equal(r.nmodels, CV_OAUTH_MODELS_MAX);
}

/* What a partner's stream token is checked against on every request and
 * recheck: the link live, its user enabled, the kill switch off. */
static void test_oauth_link_check(void **state)
{
    fixture *f = *state;
    cv_oauth_grant g;
    cv_oauth_pair p;
    get_pair(f, T0, &g, &p);
    cv_id user, integ, ghost;
    cv_oauth_link_rec l;
    int64_t revoked = -1;
    assert_int_equal(cv_store_oauth_link_get(f->s, &g.link, &l, &revoked), 0);
    assert_true(cv_id_eq(&l.user, &f->user) && cv_id_eq(&l.integration, &f->integ));
    assert_int_equal(revoked, 0);
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, "CamPro 2", &user, &integ), 0);
    assert_true(cv_id_eq(&user, &f->user) && cv_id_eq(&integ, &f->integ));
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, NULL, NULL, NULL), 0);
    cv_id_random(&ghost);
    assert_int_equal(cv_store_oauth_link_check(f->s, &ghost, NULL, &user, &integ), -ENOENT);
    assert_int_equal(cv_store_oauth_link_get(f->s, &ghost, &l, NULL), -ENOENT);

    /* kill switch: per model, then whole; reversible */
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, "CamPro 2", T0, &CLI), 0);
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, "CamPro 2", NULL, NULL), -EACCES);
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, "CamPro 3", NULL, NULL), 0);
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, true, NULL, T0, &CLI), 0);
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, NULL, NULL, NULL), -EACCES);
    assert_int_equal(cv_store_integration_set_disabled(f->s, &f->integ, false, NULL, T0, &CLI), 0);
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, "CamPro 2", NULL, NULL), 0);

    /* a disabled user, then an unlinked one */
    assert_int_equal(cv_store_user_set_disabled(f->s, &f->user, true), 0);
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, NULL, NULL, NULL), -ENOENT);
    assert_int_equal(cv_store_user_set_disabled(f->s, &f->user, false), 0);
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, NULL, NULL, NULL), 0);
    assert_int_equal(cv_store_oauth_link_revoke(f->s, &g.link, T0 + SEC, &CLI), 0);
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, NULL, NULL, NULL), -ENOENT);
    assert_int_equal(cv_store_oauth_link_get(f->s, &g.link, &l, &revoked), 0);
    assert_int_equal(revoked, T0 + SEC);

    /* a removed integration takes its links with it */
    get_pair(f, T0 + 2 * SEC, &g, &p);
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, NULL, NULL, NULL), 0);
    assert_int_equal(cv_store_integration_remove(f->s, &f->integ, T0 + 3 * SEC, &CLI), 0);
    assert_int_equal(cv_store_oauth_link_check(f->s, &g.link, NULL, NULL, NULL), -ENOENT);
}

static void test_oauth_user_removal_cascades(void **state)
{
    fixture *f = *state;
    cv_oauth_grant g;
    cv_oauth_pair p, p2, px;
    get_pair(f, T0, &g, &p);
    char code[CV_OAUTH_SECRET_MAX];
    get_code(f, &f->user2, T0, code);
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, REDIR, VERIFIER, T0, &g, &p2), 0);
    assert_int_equal(cv_store_user_remove(f->s, &f->user), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p.access, NULL, T0, &g), -ENOENT);
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p.refresh, &f->integ, T0, &g, &px), -ENOENT);
    cv_oauth_link_rec *l = NULL;
    size_t n = 9;
    assert_int_equal(cv_store_oauth_link_list(f->s, &f->user, &l, &n), 0);
    assert_int_equal(n, 0);
    /* bob is untouched */
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p2.access, NULL, T0, &g), 0);
    assert_true(cv_id_eq(&g.user, &f->user2));
    /* a disabled user's tokens do not work either */
    assert_int_equal(cv_store_user_set_disabled(f->s, &f->user2, true), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p2.access, NULL, T0, &g), -ENOENT);

    /* integration removal takes everything of it */
    assert_int_equal(cv_store_user_set_disabled(f->s, &f->user2, false), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p2.access, NULL, T0, &g), 0);
    assert_int_equal(cv_store_integration_remove(f->s, &f->integ, T0, &CLI), 0);
    assert_int_equal(cv_store_oauth_access_get(f->s, f->hkey, p2.access, NULL, T0, &g), -ENOENT);
    assert_int_equal(cv_store_oauth_link_list(f->s, &f->user2, &l, &n), 0);
    assert_int_equal(n, 0);
}

static bool file_has(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    size_t cap = 1 << 20, len = 0, nl = strlen(needle);
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += r;
        if (len == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
    }
    fclose(fp);
    bool found = buf && memmem(buf, len, needle, nl) != NULL;
    free(buf);
    return found;
}

static void test_oauth_no_plaintext_in_db(void **state)
{
    fixture *f = *state;
    cv_oauth_grant g;
    cv_oauth_pair p, p2;
    char code[CV_OAUTH_SECRET_MAX];
    get_code(f, &f->user, T0, code);
    assert_int_equal(cv_store_oauth_code_redeem(f->s, f->hkey, code, &f->integ, REDIR, VERIFIER, T0, &g, &p), 0);
    assert_int_equal(cv_store_oauth_refresh(f->s, f->hkey, p.refresh, &f->integ, T0, &g, &p2), 0);
    char path[sizeof(f->t.path) + 8];
    /* the random part of each (the prefix alone is not secret) */
    const char *secrets[] = {f->secret + 4, code + 4, p.access + 4, p.refresh + 4, p2.access + 4, p2.refresh + 4};
    for (int pass = 0; pass < 2; pass++) {
        static const char *const sfx[] = {"", "-wal", "-shm"};
        for (size_t i = 0; i < CV_ARRAY_LEN(sfx); i++) {
            snprintf(path, sizeof(path), "%s%s", f->t.path, sfx[i]);
            for (size_t k = 0; k < CV_ARRAY_LEN(secrets); k++)
                assert_false(file_has(path, secrets[k]));
        }
        /* and after a checkpoint into the main file */
        cv_store_close(f->s);
        assert_int_equal(cv_store_open(&f->s, f->t.path), 0);
    }
    /* the client id is public and is stored */
    assert_true(file_has(f->t.path, f->client_id) || file_has(path, f->client_id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_oauth_integration_add_list_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_integration_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_secret_verify, setup, teardown),
        cmocka_unit_test(test_oauth_pkce),
        cmocka_unit_test_setup_teardown(test_oauth_code_single_use_revokes_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_code_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_refresh_rotation_and_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_access_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_revoke_by_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_link_revoke_kills_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_kill_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_link_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_user_removal_cascades, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oauth_no_plaintext_in_db, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
