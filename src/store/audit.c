/* The append-only audit log. The triggers in migration 2 refuse UPDATE and
 * DELETE; this file only ever inserts and reads. */
#define CV_LOG_MODULE "store"

#include "store/audit.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "store/store_int.h"

/* Longest input looked at per field: far more than any field holds, so a
 * huge or unterminated-looking string costs nothing. */
#define INPUT_SCAN_MAX 4096

static const char SQL_AUDIT_ADD[] =
    "INSERT INTO audit (ts_us, event, principal, camera, address, protocol, detail)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_AUDIT_LIST[] =
    "SELECT seq, ts_us, event, principal, camera, address, protocol, detail FROM audit"
    " WHERE seq > ?1 AND (?2 IS NULL OR camera = ?2) ORDER BY seq LIMIT ?3";

/* A principal names the user login when it is "user:<login>" or starts
 * "user:<login> via " (their token, their partner's stream). Logins compare
 * ignoring ASCII case, as they are unique that way; substr, not LIKE, since
 * '_' may appear in a login. */
#define PRINCIPAL_IS(login)                                                                      \
    "(a.principal = 'user:' || " login " COLLATE NOCASE"                                          \
    " OR substr(a.principal, 1, length(" login ") + 10) = 'user:' || " login " || ' via ' COLLATE NOCASE)"

/* ?2 camera (hex), ?3 home (id), ?4 person (login); each NULL: no filter.
 * A home's events: those on its cameras (removed ones too), and those on no
 * camera whose principal is one of its current members (logins, failed
 * logins, their own account changes). */
static const char SQL_AUDIT_QUERY[] =
    "SELECT seq, ts_us, event, principal, camera, address, protocol, detail FROM audit AS a"
    " WHERE a.seq > ?1 AND (?2 IS NULL OR a.camera = ?2)"
    " AND (?3 IS NULL"
    "  OR a.camera IN (SELECT lower(hex(c.id)) FROM cameras AS c WHERE c.home = ?3)"
    "  OR (a.camera = '' AND EXISTS (SELECT 1 FROM members AS m JOIN users AS u ON u.id = m.user"
    "   WHERE m.home = ?3 AND " PRINCIPAL_IS("u.login") ")))"
    " AND (?4 IS NULL OR " PRINCIPAL_IS("?4") ")"
    " ORDER BY a.seq LIMIT ?5";

/* Copies in into out[cap] truncated at a character boundary. Events record
 * what clients sent (a login tried, an address), so anything that is not
 * printable UTF-8 becomes '?' rather than refusing the event: an audit
 * record must not be lost, nor smuggle control characters into a terminal. */
static void field_copy(char *out, size_t cap, const char *in)
{
    size_t o = 0, i = 0, len = in ? strnlen(in, INPUT_SCAN_MAX) : 0;
    while (i < len) {
        bool ok;
        size_t n = cv__utf8_char(in + i, len - i, &ok);
        size_t w = ok ? n : 1;
        if (o + w > cap - 1)
            break;
        if (ok)
            memcpy(out + o, in + i, n);
        else
            out[o] = '?';
        o += w;
        i += n;
    }
    out[o] = '\0';
}

int cv_store_audit(cv_store *s, const char *event, const char *principal, const cv_id *camera,
                   const char *address, const char *protocol, const char *detail)
{
    cv_audit_rec r;
    if (!s || !event || !event[0])
        return -EINVAL;
    memset(&r, 0, sizeof(r));
    field_copy(r.event, sizeof(r.event), event);
    field_copy(r.principal, sizeof(r.principal), principal);
    field_copy(r.address, sizeof(r.address), address);
    field_copy(r.protocol, sizeof(r.protocol), protocol);
    field_copy(r.detail, sizeof(r.detail), detail);
    if (camera)
        cv_id_to_hex(camera, r.camera);
    sqlite3_stmt *st = cv__store_prep(s, SQL_AUDIT_ADD, "Issssss", cv_wall_us(), r.event, r.principal, r.camera,
                                      r.address, r.protocol, r.detail);
    int res = cv__store_exec(s, st, "append audit");
    return res < 0 ? res : 0;
}

static int audit_row(cv_store *s, sqlite3_stmt *st, void *p)
{
    cv_audit_rec *out = p;
    memset(out, 0, sizeof(*out));
    out->seq = sqlite3_column_int64(st, 0);
    out->ts_us = sqlite3_column_int64(st, 1);
    if (cv__col_text(st, 2, out->event, sizeof(out->event)) < 0 ||
        cv__col_text(st, 3, out->principal, sizeof(out->principal)) < 0 ||
        cv__col_text(st, 4, out->camera, sizeof(out->camera)) < 0 ||
        cv__col_text(st, 5, out->address, sizeof(out->address)) < 0 ||
        cv__col_text(st, 6, out->protocol, sizeof(out->protocol)) < 0 ||
        cv__col_text(st, 7, out->detail, sizeof(out->detail)) < 0) {
        CV_ERROR("%p: malformed audit row %lld", (void *)s, (long long)out->seq);
        memset(out, 0, sizeof(*out));
        return -EIO;
    }
    return 0;
}

int cv_store_audit_list(cv_store *s, int64_t after_seq, const cv_id *camera, size_t limit, cv_audit_rec **out,
                        size_t *n)
{
    if (!s || !out || !n)
        return -EINVAL;
    char hex[CV_ID_HEX_LEN + 1];
    if (camera)
        cv_id_to_hex(camera, hex);
    int64_t lim = limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
    void *arr;
    int res = cv__store_list(s, cv__store_prep(s, SQL_AUDIT_LIST, "IsI", after_seq, camera ? hex : NULL, lim),
                             audit_row, sizeof(**out), limit, &arr, n, "list audit");
    *out = arr;
    return res;
}

int cv_store_audit_query(cv_store *s, const cv_audit_filter *f, size_t limit, cv_audit_rec **out, size_t *n)
{
    if (!s || !f || !out || !n)
        return -EINVAL;
    *out = NULL;
    *n = 0;
    char hex[CV_ID_HEX_LEN + 1];
    if (f->camera)
        cv_id_to_hex(f->camera, hex);
    /* A string that cannot be a principal's login matches nothing. */
    if (f->person && (!f->person[0] || strlen(f->person) > 80))
        return 0;
    int64_t lim = limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
    void *arr;
    int res = cv__store_list(s,
                             cv__store_prep(s, SQL_AUDIT_QUERY, "IsisI", f->after_seq, f->camera ? hex : NULL,
                                            f->home, f->person, lim),
                             audit_row, sizeof(**out), limit, &arr, n, "query audit");
    *out = arr;
    return res;
}
