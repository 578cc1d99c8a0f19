/* Tests for the stream registry (src/hub/registry.c). */
#include "stream-fixture.h"

static void test_registry_get_creates_once(void **state)
{
    (void)state;
    cv_registry *r = reg_new(NULL);
    assert_non_null(r);
    assert_int_equal(cv_registry_count(r), 0);
    cv_id c1, c2, c3;
    cv_id_random(&c1);
    cv_id_random(&c2);
    cv_id_random(&c3);
    assert_null(cv_registry_find(r, &c1));
    cv_stream *s1 = cv_registry_get(r, &c1);
    assert_non_null(s1);
    assert_true(cv_id_eq(cv_stream_camera(s1), &c1));
    cv_stream *s1b = cv_registry_get(r, &c1);
    assert_ptr_equal(s1b, s1);
    assert_int_equal(cv_registry_count(r), 1);
    cv_stream *s2 = cv_registry_get(r, &c2);
    assert_non_null(s2);
    assert_ptr_not_equal(s2, s1);
    assert_true(cv_id_eq(cv_stream_camera(s2), &c2));
    assert_int_equal(cv_registry_count(r), 2);
    assert_null(cv_registry_find(r, &c3));
    cv_stream *f1 = cv_registry_find(r, &c1);
    assert_ptr_equal(f1, s1);
    /* Every lookup was a new reference: drop them all; the table keeps its own. */
    cv_stream_unref(s1);
    cv_stream_unref(s1b);
    cv_stream_unref(f1);
    cv_stream_unref(s2);
    assert_int_equal(cv_registry_count(r), 2);
    cv_stream *again = cv_registry_find(r, &c1);
    assert_non_null(again);
    assert_true(cv_id_eq(cv_stream_camera(again), &c1));
    cv_stream_unref(again);
    reg_free(r);
    cv_registry_free(NULL);
}

static void test_registry_applies_copied_limits(void **state)
{
    (void)state;
    cv_stream_limits lim;
    cv_stream_limits_default(&lim);
    lim.prebuffer_bytes = 100; /* no keyframe fits */
    cv_registry *r = reg_new(&lim);
    lim.prebuffer_bytes = 16u << 20; /* the registry kept its copy */
    static fx x;
    cv_id cam;
    cv_id_random(&cam);
    fx_init_from(&x, cv_registry_get(r, &cam));
    assert_non_null(x.s);
    const cv_track_info t[] = {track_h264()};
    fx_attach(&x, &x.src, t, 1);
    pv(&x, true);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    assert_int_equal(v.n, 0);
    sink_free(&v);
    fx_free(&x);
    reg_free(r);
}

static void test_registry_remove_shuts_down_and_forgets(void **state)
{
    (void)state;
    cv_registry *r = reg_new(NULL);
    static fx x;
    cv_id cam;
    cv_id_random(&cam);
    fx_init_from(&x, cv_registry_get(r, &cam));
    const cv_track_info t[] = {track_h264(), track_pcmu()};
    fx_attach(&x, &x.src, t, 2);
    static sink v;
    sink_sub(&v, x.s, ~0u, 1);
    cv_sub_start(v.sub);
    pv(&x, true);
    cv_id other;
    cv_id_random(&other);
    cv_registry_remove(r, &other, "nothing"); /* unknown: no-op */
    assert_int_equal(cv_registry_count(r), 1);
    assert_int_equal(v.closes, 0);

    cv_registry_remove(r, &x.cam, "camera deleted");
    assert_int_equal(v.closes, 1);
    assert_string_equal(v.reason, "camera deleted");
    assert_int_equal(cv_registry_count(r), 0);
    assert_null(cv_registry_find(r, &x.cam));
    /* Our reference still works; the stream is offline and refuses frames. */
    assert_true(cv_id_eq(cv_stream_camera(x.s), &x.cam));
    assert_false(cv_stream_online(x.s));
    assert_int_equal(pub(&x, mk_video(&x, false, 100)), -EINVAL);
    /* The camera can come back as a new stream. */
    cv_stream *s2 = cv_registry_get(r, &x.cam);
    assert_non_null(s2);
    assert_ptr_not_equal(s2, x.s);
    assert_int_equal(cv_registry_count(r), 1);
    cv_stream_unref(s2);
    sink_free(&v);
    fx_free(&x);
    reg_free(r);
}

typedef struct {
    cv_stream *seen[8];
    size_t n;
} visit;

static void visit_fn(void *ctx, cv_stream *s)
{
    visit *v = ctx;
    if (v->n < CV_ARRAY_LEN(v->seen))
        v->seen[v->n] = s;
    v->n++;
}

static void test_registry_foreach_visits_each_stream_once(void **state)
{
    (void)state;
    cv_registry *r = reg_new(NULL);
    visit v = {{NULL}, 0};
    cv_registry_foreach(r, visit_fn, &v);
    assert_int_equal(v.n, 0);
    cv_stream *s[3];
    for (size_t i = 0; i < 3; i++) {
        cv_id c;
        cv_id_random(&c);
        s[i] = cv_registry_get(r, &c);
    }
    assert_int_equal(cv_registry_count(r), 3);
    cv_registry_foreach(r, visit_fn, &v);
    assert_int_equal(v.n, 3);
    for (size_t i = 0; i < 3; i++) {
        int hits = 0;
        for (size_t j = 0; j < v.n; j++)
            hits += v.seen[j] == s[i];
        assert_int_equal(hits, 1);
    }
    for (size_t i = 0; i < 3; i++)
        cv_stream_unref(s[i]);
    reg_free(r);
}

static void test_registry_free_closes_viewers(void **state)
{
    (void)state;
    cv_registry *r = reg_new(NULL);
    static fx x;
    cv_id cam;
    cv_id_random(&cam);
    fx_init_from(&x, cv_registry_get(r, &cam));
    const cv_track_info t[] = {track_h264()};
    fx_attach(&x, &x.src, t, 1);
    static sink v;
    sink_sub(&v, x.s, ~0u, 0);
    cv_sub_start(v.sub);
    pv(&x, true);
    cv_stream_unref(x.s); /* only the table and the viewer hold it now */
    x.s = NULL;
    reg_free(r);
    assert_int_equal(v.closes, 1);
    assert_true(strlen(v.reason) > 0);
    /* The viewer outlives the registry; its teardown is safe. */
    sink_complete_all(&v);
    sink_free(&v);
    fx_free(&x); /* its stream reference is gone already */
}

int main(void)
{
    if (cv_id_init() < 0)
        return 1;
    cv_log_set_level(CV_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        TEST(test_registry_get_creates_once),
        TEST(test_registry_applies_copied_limits),
        TEST(test_registry_remove_shuts_down_and_forgets),
        TEST(test_registry_foreach_visits_each_stream_once),
        TEST(test_registry_free_closes_viewers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
