/* A scratch directory per test (under $TMPDIR, else /tmp) holding one file
 * path, removed with everything in it afterwards. Shared by the tests that
 * need real files: the store's and the key file's. */
#ifndef CV_TEST_TMPDIR_FIXTURE_H
#define CV_TEST_TMPDIR_FIXTURE_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64];
    char path[128]; /* dir + "/" + the file name given */
} tmpdir;

/* Creates "<tmp>/cv-<tag>-XXXXXX". Returns 0 or -1. */
static inline int tmpdir_make(tmpdir *t, const char *tag, const char *file)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || strlen(tmp) > 32)
        tmp = "/tmp";
    snprintf(t->dir, sizeof(t->dir), "%s/cv-%.12s-XXXXXX", tmp, tag);
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/%.40s", t->dir, file);
    return 0;
}

/* Removes every file in the directory (SQLite's -wal/-shm, a key's temporary
 * name...) and the directory. Returns rmdir's result. */
static inline int tmpdir_remove(tmpdir *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *e;
    char p[sizeof(t->dir) + 260];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    return rmdir(t->dir);
}

#endif
