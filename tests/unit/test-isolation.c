/* The isolation invariant, proved against the real RTSP server: a frame of
 * another camera that gets past the hub's door (forced in with the hub's
 * fault-injection hook, as a caching bug upstream would) is never written to
 * the viewer's socket; the session is closed, a security event is raised
 * and the violation is counted. A viewer of the other camera is untouched.
 *
 * The server runs on this thread's libuv loop; two RTSP viewers are plain
 * blocking sockets on their own threads. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtsp-fixture.h"

static ssize_t fd_read(void *ctx, void *p, size_t n) { return read(*(int *)ctx, p, n); }

static ssize_t fd_write(void *ctx, const void *p, size_t n) { return write(*(int *)ctx, p, n); }

static void *viewer_main(void *arg)
{
    viewer *v = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)v->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        rtsp_fx_io io = {&fd, fd_read, fd_write};
        rtsp_fx_play(v, &io, "rtsp://127.0.0.1");
    }
    atomic_store(&v->eof, 1);
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void test_foreign_frame_never_written(void **state)
{
    (void)state;
    rtsp_fx_foreign_frame_case(NULL, viewer_main);
}

int main(void)
{
    cv_id_init();
    cv_log_set_level(CV_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_foreign_frame_never_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
