/* The embedded store (SQLite): cameras here; people, homes, grants and
 * access in store/people.h; tokens, app passwords and web sessions in
 * store/secrets.h; the audit log in store/audit.h.
 *
 * The store never sees a plaintext secret: callers pass passwords already
 * hashed (auth/password.h), tokens as hashes, and anything the server must
 * read back (ingest secrets, pull URLs with credentials, TOTP seeds, app
 * passwords) already sealed with the server key (auth/key.h), which lives
 * outside the database.
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
    cv_id home;                   /* the one home this camera belongs to */
    char name[128];               /* unique within its home */
    char model[64];               /* free text, may be empty */
    cv_cam_source source;
    char pull_url[1024];          /* CV_CAM_PULL: display form, credentials masked ("user:***@") */
    char pull_secret[2048];       /* CV_CAM_PULL: the full URL, sealed (auth/key.h); "" if none */
    char sub_pull_secret[2048];   /* optional low-resolution substream URL, sealed; "" if none */
    char ingest_secret[256];      /* CV_CAM_PUSH: the camera's ingest secret, sealed */
    cv_pull_transport pull_transport;
    int64_t created_us;           /* wall clock */
} cv_camera_rec;

/* Opens (creating if needed) the database at path and migrates its schema.
 * Returns 0, or a negative errno (-EIO with a logged SQLite message). */
int cv_store_open(cv_store **out, const char *path) __attribute__((warn_unused_result));
void cv_store_close(cv_store *s);

/* Adds a camera and writes its id to *out_id (may be NULL): in->id when it
 * is not zero (callers that seal secrets bound to the id choose it first;
 * -EEXIST if that id was ever used), else a fresh random id (never one used
 * before, even by a removed camera). in->home must be a live home.
 * name must be 1..127 bytes of printable UTF-8, model 0..63; the sealed
 * fields are opaque printable ASCII. A push camera has no pull_url,
 * pull_secret or sub_pull_secret; a pull camera needs an rtsp:// or rtsps://
 * pull_url and has no ingest_secret. Returns 0, -EINVAL, -ENOENT (no such
 * home), -EEXIST (name taken in that home, or in->id used) or -EIO. */
int cv_store_camera_add(cv_store *s, const cv_camera_rec *in, cv_id *out_id);
/* Returns 0, -ENOENT (unknown or removed) or -EIO. */
int cv_store_camera_get(cv_store *s, const cv_id *id, cv_camera_rec *out);
/* Finds a live camera by exact name in a home (home NULL: in any home; if
 * several homes have one of that name, -EEXIST). Returns 0, -ENOENT, -EEXIST or -EIO. */
int cv_store_camera_find_name(cv_store *s, const cv_id *home, const char *name, cv_camera_rec *out);
/* Live cameras, oldest first; home NULL lists every home. *out is malloc'ed
 * (free() it); may be NULL when *n is 0. */
int cv_store_camera_list(cv_store *s, const cv_id *home, cv_camera_rec **out, size_t *n);
/* Replaces the sealed ingest secret of a push camera (rotation; sealed is
 * 1..255 bytes of printable ASCII). Revokes nothing else. Returns 0, -ENOENT,
 * -EINVAL (bad secret, or a pull camera) or -EIO. */
int cv_store_camera_set_ingest(cv_store *s, const cv_id *id, const char *sealed);
/* Replaces a pull camera's display URL and sealed URLs (sub_pull_secret may
 * be NULL or ""), validated as in cv_store_camera_add. For editing a camera
 * and for sealing the cameras migrated from schema 1, whose pull_url still
 * holds any credentials in clear and whose pull_secret is "". Returns 0,
 * -ENOENT, -EINVAL (bad field, or a push camera) or -EIO. */
int cv_store_camera_set_pull(cv_store *s, const cv_id *id, const char *pull_url, const char *pull_secret,
                             const char *sub_pull_secret);
/* Renames a live camera (name as in cv_store_camera_add; renaming to its
 * current name is a no-op). Returns 0, -EINVAL, -ENOENT, -EEXIST (another
 * camera of its home has that name) or -EIO. */
int cv_store_camera_rename(cv_store *s, const cv_id *id, const char *name);
/* Removes a camera; its id stays reserved forever and its sealed secrets are
 * erased. Every token and grant for it is revoked/removed in the same
 * transaction. Returns 0, -ENOENT or -EIO. */
int cv_store_camera_remove(cv_store *s, const cv_id *id);

/* Runs fn inside one IMMEDIATE transaction (several store calls that must
 * land together, e.g. a change and its audit record). fn returns 0 to
 * commit, anything else rolls back and is returned. Every store function may
 * be called from fn, cv_store_txn included (it nests as a savepoint); a
 * store call that fails inside fn has undone its own writes, so fn may
 * carry on. Returns fn's result, or -EIO if beginning or committing fails. */
int cv_store_txn(cv_store *s, int (*fn)(cv_store *s, void *ctx), void *ctx);
/* The same as two calls: begin a transaction (nested: a savepoint), then end
 * it with the result, committing when res is 0 and rolling back otherwise.
 * Returns res, or the commit error. */
int cv_store_begin(cv_store *s);
int cv_store_end(cv_store *s, int res);

/* Changes whenever another connection commits (PRAGMA data_version) or this
 * one changes a row: poll it to notice any change to the store. */
int64_t cv_store_data_version(cv_store *s);

#endif
