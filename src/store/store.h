/* The embedded store (SQLite): cameras now; users, homes and grants later.
 *
 * One cv_store is one SQLite connection, used from one thread at a time.
 * Several processes may open the same file (the CLI while the server runs):
 * WAL mode and a busy timeout make that safe, and cv_store_data_version()
 * tells a long-lived connection that another one committed. */
#ifndef CV_STORE_STORE_H
#define CV_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/id.h"

typedef struct cv_store cv_store;

typedef enum {
    CV_CAM_PUSH = 1, /* the camera connects to us (ANNOUNCE/RECORD) */
    CV_CAM_PULL = 2, /* we connect to the camera (DESCRIBE/PLAY) */
} cv_cam_source;

typedef enum {
    CV_PULL_AUTO = 0, /* TCP interleaved first, UDP if the camera refuses */
    CV_PULL_TCP = 1,
    CV_PULL_UDP = 2,
} cv_pull_transport;

typedef struct {
    cv_id id;
    char name[128];
    cv_cam_source source;
    char pull_url[1024];          /* CV_CAM_PULL only; may hold credentials */
    cv_pull_transport pull_transport;
    int64_t created_us;           /* wall clock */
} cv_camera_rec;

/* Opens (creating if needed) the database at path and migrates its schema.
 * Returns 0, or a negative errno (-EIO with a logged SQLite message). */
int cv_store_open(cv_store **out, const char *path) __attribute__((warn_unused_result));
void cv_store_close(cv_store *s);

/* Adds a camera with a fresh random id (never one used before, even by a
 * removed camera) and writes it to *out_id. name must be 1..127 bytes of
 * printable UTF-8. Returns 0, -EINVAL, -EEXIST (name taken) or -EIO. */
int cv_store_camera_add(cv_store *s, const cv_camera_rec *in, cv_id *out_id);
/* Returns 0, -ENOENT (unknown or removed) or -EIO. */
int cv_store_camera_get(cv_store *s, const cv_id *id, cv_camera_rec *out);
/* Finds a live camera by exact name. Returns 0, -ENOENT or -EIO. */
int cv_store_camera_find_name(cv_store *s, const char *name, cv_camera_rec *out);
/* Live cameras, oldest first. *out is malloc'ed (free() it); may be NULL when *n is 0. */
int cv_store_camera_list(cv_store *s, cv_camera_rec **out, size_t *n);
/* Removes a camera; its id stays reserved forever. Returns 0, -ENOENT or -EIO. */
int cv_store_camera_remove(cv_store *s, const cv_id *id);

/* Changes whenever another connection commits (PRAGMA data_version). */
int64_t cv_store_data_version(cv_store *s);

#endif
