#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* What files_changed compares: a rewrite in place changes mtime or size, an
 * atomic replacement (rename) changes the inode. */
typedef struct {
    bool ok;
    int err; /* errno when !ok */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id;

struct cv_tls_ctx {
    /* The owner's reference plus one per live connection: the ALPN callback
     * gets this struct as its argument, so it must outlive every SSL made
     * from any of its SSL_CTXs. Loop thread only, hence a plain int. */
    int refs;
    SSL_CTX *ssl; /* for new connections; a reload swaps it */
    char *cert_path, *key_path;
    char **alpn; /* copies, in preference order */
    size_t nalpn;
    file_id cert_id, key_id; /* as seen just before the last load attempt */
    char fp[96];             /* 32 bytes as "AB:CD:..." */
};

struct cv_tls_conn {
    cv_tls_ctx *ctx;
    SSL_CTX *sslctx; /* our own reference: a reload frees only the ctx's */
    SSL *ssl;
    BIO *rbio, *wbio; /* network -> SSL, SSL -> network; owned by ssl */
    bool done, failed, shut;
    bool no_alpn; /* cv_tls_conn_ignore_alpn */
    unsigned char *early; /* application bytes written before the handshake finished */
    size_t early_len;
    const char *alpn; /* points into ctx->alpn, or "" */
    char err[200];
};

/* ----------------------------------------------------------------- errors */

/* Formats "<what>: <OpenSSL reason>" (what may be NULL) into err and
 * empties OpenSSL's error queue. The earliest queued error is the root cause
 * (later ones are the callers' wrappers), so that one is reported. */
static void ssl_err(char *err, size_t cap, const char *what)
{
    unsigned long e, first = 0;
    char buf[256] = "unknown error";
    while ((e = ERR_get_error()) != 0)
        if (!first)
            first = e;
    const char *reason = first ? ERR_reason_error_string(first) : buf;
    if (!reason) {
        ERR_error_string_n(first, buf, sizeof(buf));
        reason = buf;
    }
    if (err && cap && what && !first)
        snprintf(err, cap, "%s", what);
    else if (err && cap)
        snprintf(err, cap, "%s%s%s", what ? what : "", what ? ": " : "", reason);
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ files */

static file_id file_stat(const char *path)
{
    file_id f = {0};
    struct stat st;
    if (stat(path, &st) != 0)
        f.err = errno;
    else if (!S_ISREG(st.st_mode))
        f.err = EISDIR; /* or a device: nothing a PEM file can be */
    else
        f = (file_id){true, 0, st.st_dev, st.st_ino, st.st_size, st.st_mtim};
    return f;
}

static bool file_same(const file_id *a, const file_id *b)
{
    if (a->ok != b->ok)
        return false;
    return !a->ok || (a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
                      a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec);
}

/* ---------------------------------------------------------------- context */

/* Server preference: the first of our protocols the client also offers. A
 * client offering ALPN without any of ours is refused (RFC 7301 3.2) rather
 * than served a protocol it did not ask for. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg)
{
    const cv_tls_ctx *c = arg;
    const cv_tls_conn *t = SSL_get_app_data(ssl);
    if (t && t->no_alpn)
        return SSL_TLSEXT_ERR_NOACK;
    for (size_t i = 0; i < c->nalpn; i++) {
        const unsigned char *ours = (const unsigned char *)c->alpn[i];
        size_t olen = strlen(c->alpn[i]);
        for (unsigned int j = 0; j < inlen;) {
            unsigned int n = in[j];
            if (n == 0 || n > inlen - j - 1)
                break; /* malformed: what was valid so far has been compared */
            if (n == olen && memcmp(in + j + 1, ours, n) == 0) {
                *out = ours;
                *outlen = (unsigned char)olen;
                return SSL_TLSEXT_ERR_OK;
            }
            j += 1 + n;
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* An encrypted key must fail to load, not prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *asked)
{
    (void)buf, (void)size, (void)rwflag;
    *(bool *)asked = true;
    return -1;
}

static void fingerprint(X509 *x, char out[96])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (!x || !X509_digest(x, EVP_sha256(), md, &n) || n != 32)
        return;
    for (unsigned int i = 0; i < n; i++)
        snprintf(out + 3 * i, 4, i + 1 < n ? "%02X:" : "%02X", md[i]);
}

/* Builds a complete SSL_CTX from the files. The files are stat()ed before
 * they are read: a rewrite racing with the load then shows up as a change
 * on the next files_changed (one reload too many) instead of being missed. */
static SSL_CTX *load(cv_tls_ctx *c, char *err, size_t errcap)
{
    c->cert_id = file_stat(c->cert_path);
    c->key_id = file_stat(c->key_path);
    if (!c->cert_id.ok || !c->key_id.ok) {
        bool cert = !c->cert_id.ok;
        set_err(err, errcap, "%s: %s", cert ? c->cert_path : c->key_path,
                strerror(cert ? c->cert_id.err : c->key_id.err));
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    if (!s) {
        ssl_err(err, errcap, "cannot create a TLS context");
        return NULL;
    }
    char what[PATH_MAX + 64];
    SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
    /* Renegotiation is only an attack surface for a server like this one. */
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* Idle keep-alive connections then hold no record buffers. */
    SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    bool asked = false;
    SSL_CTX_set_default_passwd_cb(s, no_passphrase);
    SSL_CTX_set_default_passwd_cb_userdata(s, &asked);
    if (SSL_CTX_use_certificate_chain_file(s, c->cert_path) != 1) {
        snprintf(what, sizeof(what), "%s: cannot load the certificate chain", c->cert_path);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(s, c->key_path, SSL_FILETYPE_PEM) != 1) {
        if (asked) /* OpenSSL's reason would be "interrupted or cancelled" */
            ERR_clear_error();
        snprintf(what, sizeof(what), asked ? "%s: encrypted, and passphrases are not supported"
                                           : "%s: cannot use the private key (with %s)",
                 c->key_path, c->cert_path);
        goto fail;
    }
    if (SSL_CTX_check_private_key(s) != 1) {
        snprintf(what, sizeof(what), "%s: the private key does not match %s", c->key_path, c->cert_path);
        goto fail;
    }
    SSL_CTX_set_default_passwd_cb_userdata(s, NULL); /* &asked is going out of scope */
    SSL_CTX_set_default_passwd_cb(s, NULL);
    if (c->nalpn)
        SSL_CTX_set_alpn_select_cb(s, alpn_select, c);
    return s;
fail:
    ssl_err(err, errcap, what);
    SSL_CTX_free(s);
    return NULL;
}

static void ctx_unref(cv_tls_ctx *c)
{
    if (!c || --c->refs > 0)
        return;
    SSL_CTX_free(c->ssl);
    for (size_t i = 0; i < c->nalpn; i++)
        free(c->alpn[i]);
    free(c->alpn);
    free(c->cert_path);
    free(c->key_path);
    free(c);
}

int cv_tls_ctx_new(cv_tls_ctx **out, const char *cert_path, const char *key_path, const char *const *alpn,
                   size_t nalpn, char *err, size_t errcap)
{
    *out = NULL;
    if (err && errcap)
        err[0] = '\0';
    cv_tls_ctx *c = calloc(1, sizeof(*c));
    if (!c)
        goto oom;
    c->refs = 1;
    c->cert_path = strdup(cert_path);
    c->key_path = strdup(key_path);
    c->alpn = calloc(nalpn ? nalpn : 1, sizeof(*c->alpn));
    if (!c->cert_path || !c->key_path || !c->alpn)
        goto oom;
    for (size_t i = 0; i < nalpn; i++) {
        if (strlen(alpn[i]) == 0 || strlen(alpn[i]) > 255) {
            set_err(err, errcap, "ALPN protocol name \"%.40s\" must have 1 to 255 bytes", alpn[i]);
            ctx_unref(c);
            return -1;
        }
        if (!(c->alpn[i] = strdup(alpn[i])))
            goto oom;
        c->nalpn = i + 1;
    }
    if (!(c->ssl = load(c, err, errcap))) {
        ctx_unref(c);
        return -1;
    }
    fingerprint(SSL_CTX_get0_certificate(c->ssl), c->fp);
    *out = c;
    return 0;
oom:
    ctx_unref(c);
    set_err(err, errcap, "out of memory");
    return -1;
}

int cv_tls_ctx_reload(cv_tls_ctx *c, char *err, size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    SSL_CTX *s = load(c, err, errcap);
    if (!s)
        return -1;
    /* Live connections hold their own reference to the old one. */
    SSL_CTX_free(c->ssl);
    c->ssl = s;
    fingerprint(SSL_CTX_get0_certificate(s), c->fp);
    return 0;
}

bool cv_tls_ctx_files_changed(const cv_tls_ctx *c)
{
    file_id cert = file_stat(c->cert_path), key = file_stat(c->key_path);
    return !file_same(&cert, &c->cert_id) || !file_same(&key, &c->key_id);
}

const char *cv_tls_ctx_fingerprint(const cv_tls_ctx *c) { return c->fp; }

void cv_tls_ctx_free(cv_tls_ctx *c) { ctx_unref(c); }

/* ------------------------------------------------------------ self-signed */

static bool dns_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '.' || ch == '*'))
            return false;
    }
    return true;
}

/* subjectAltName built from GENERAL_NAMEs rather than a config string, so a
 * name cannot smuggle in "," or "email:" entries. */
static int add_san(X509 *x, const char *const *names, size_t nnames, char *err, size_t errcap)
{
    int res = -1;
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    for (size_t i = 0; i < nnames; i++) {
        unsigned char ip[16];
        GENERAL_NAME *g = NULL;
        if (inet_pton(AF_INET, names[i], ip) == 1 || inet_pton(AF_INET6, names[i], ip) == 1) {
            ASN1_OCTET_STRING *o = a2i_IPADDRESS(names[i]);
            if (o && (g = GENERAL_NAME_new()) != NULL)
                GENERAL_NAME_set0_value(g, GEN_IPADD, o);
            else
                ASN1_OCTET_STRING_free(o);
        } else if (dns_name_ok(names[i])) {
            ASN1_IA5STRING *s = ASN1_IA5STRING_new();
            if (s && ASN1_STRING_set(s, names[i], -1) && (g = GENERAL_NAME_new()) != NULL)
                GENERAL_NAME_set0_value(g, GEN_DNS, s);
            else
                ASN1_IA5STRING_free(s);
        } else {
            set_err(err, errcap, "\"%.80s\" is neither a host name nor an IP address", names[i]);
            goto out;
        }
        if (!g || !gens || !sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            ssl_err(err, errcap, "cannot build subjectAltName");
            goto out;
        }
    }
    if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1) {
        ssl_err(err, errcap, "cannot add subjectAltName");
        goto out;
    }
    res = 0;
out:
    GENERAL_NAMES_free(gens);
    return res;
}

static int add_ext(X509 *x, int nid, const char *value, char *err, size_t errcap)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    int ok = e && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    if (!ok)
        ssl_err(err, errcap, "cannot add a certificate extension");
    return ok ? 0 : -1;
}

static X509 *make_cert(EVP_PKEY *pkey, const char *const *names, size_t nnames, int days, char *err,
                       size_t errcap)
{
    X509 *x = X509_new();
    BIGNUM *bn = BN_new();
    if (!x || !bn)
        goto ssl_fail;
    /* A random 159-bit serial: positive and unique without any state. */
    if (!X509_set_version(x, X509_VERSION_3) || !BN_rand(bn, 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        (BN_is_zero(bn) && !BN_one(bn)) || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        goto ssl_fail;
    /* An hour of slack for clients whose clock runs a little behind. */
    if (!X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL))
        goto ssl_fail;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)names[0], -1, -1, 0) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, pkey))
        goto ssl_fail;
    if (add_san(x, names, nnames, err, errcap) < 0 ||
        add_ext(x, NID_basic_constraints, "critical,CA:FALSE", err, errcap) < 0 ||
        add_ext(x, NID_key_usage, "critical,digitalSignature", err, errcap) < 0 ||
        add_ext(x, NID_ext_key_usage, "serverAuth", err, errcap) < 0 ||
        add_ext(x, NID_subject_key_identifier, "hash", err, errcap) < 0)
        goto fail;
    if (!X509_sign(x, pkey, EVP_sha256()))
        goto ssl_fail;
    BN_free(bn);
    return x;
ssl_fail:
    ssl_err(err, errcap, "cannot build the certificate");
fail:
    BN_free(bn);
    X509_free(x);
    return NULL;
}

/* Writes one PEM object to a fresh temporary file next to path (O_EXCL, the
 * given mode even under a strict umask), fsynced; the name goes to tmp. */
static int write_tmp(const char *path, mode_t mode, EVP_PKEY *key, X509 *cert, char *tmp, size_t tmpcap,
                     char *err, size_t errcap)
{
    unsigned char rnd[4] = {0};
    (void)RAND_bytes(rnd, sizeof(rnd));
    int n = snprintf(tmp, tmpcap, "%s.tmp-%ld-%02x%02x%02x%02x", path, (long)getpid(), rnd[0], rnd[1], rnd[2],
                     rnd[3]);
    if (n < 0 || (size_t)n >= tmpcap) {
        set_err(err, errcap, "%s: %s", path, strerror(ENAMETOOLONG));
        return -1;
    }
    int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOCTTY, mode);
    if (fd < 0) {
        set_err(err, errcap, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    const char *fail = NULL; /* an OpenSSL step that failed; else errno tells */
    int e = 0;
    ERR_clear_error();
    BIO *b = BIO_new_fd(fd, BIO_NOCLOSE);
    if (fchmod(fd, mode) != 0)
        e = errno;
    else if (!b || !(key ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(b, cert)))
        fail = "cannot write";
    else if (fsync(fd) != 0)
        e = errno;
    BIO_free(b);
    if (close(fd) != 0 && !e && !fail)
        e = errno;
    if (e || fail) {
        char what[PATH_MAX + 32];
        snprintf(what, sizeof(what), "%s: %s", tmp, fail ? fail : strerror(e));
        if (fail)
            ssl_err(err, errcap, what);
        else
            set_err(err, errcap, "%s", what);
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void fsync_dir_of(const char *path)
{
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int cv_tls_make_selfsigned(const char *cert_path, const char *key_path, const char *const *names, size_t nnames,
                           int days, char *err, size_t errcap)
{
    int res = -1;
    char ktmp[PATH_MAX], ctmp[PATH_MAX];
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    if (err && errcap)
        err[0] = '\0';
    if (nnames == 0 || days < 1 || days > 36500) {
        set_err(err, errcap, "a self-signed certificate needs a name and 1 to 36500 days");
        return -1;
    }
    if (strlen(names[0]) > 64) { /* ub_common_name */
        set_err(err, errcap, "\"%.80s\" is too long for a certificate's common name", names[0]);
        return -1;
    }
    ERR_clear_error();
    if (!(pkey = EVP_EC_gen("P-256"))) {
        ssl_err(err, errcap, "cannot generate a P-256 key");
        goto out;
    }
    if (!(x = make_cert(pkey, names, nnames, days, err, errcap)))
        goto out;
    if (write_tmp(key_path, 0600, pkey, NULL, ktmp, sizeof(ktmp), err, errcap) < 0)
        goto out;
    if (write_tmp(cert_path, 0644, NULL, x, ctmp, sizeof(ctmp), err, errcap) < 0)
        goto out_key;
    /* Key first: a reader in between sees the new key with the old
     * certificate, fails the match check and keeps what it had; the
     * certificate's rename then triggers its next (good) reload. */
    if (rename(ktmp, key_path) != 0) {
        set_err(err, errcap, "%s: %s", key_path, strerror(errno));
        unlink(ctmp);
        goto out_key;
    }
    if (rename(ctmp, cert_path) != 0) {
        set_err(err, errcap, "%s: %s", cert_path, strerror(errno));
        unlink(ctmp);
        goto out;
    }
    fsync_dir_of(cert_path);
    fsync_dir_of(key_path);
    res = 0;
    goto out;
out_key:
    unlink(ktmp); /* gone already when renamed: harmless */
out:
    X509_free(x);
    EVP_PKEY_free(pkey);
    return res;
}

/* ------------------------------------------------------------- connection */

cv_tls_conn *cv_tls_conn_new(cv_tls_ctx *c)
{
    cv_tls_conn *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    ERR_clear_error();
    t->ssl = SSL_new(c->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio || !SSL_CTX_up_ref(c->ssl)) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return NULL;
    }
    /* An empty input BIO means "more to come", not end of file. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    SSL_set_app_data(t->ssl, t);
    t->sslctx = c->ssl;
    t->ctx = c;
    c->refs++;
    t->alpn = "";
    return t;
}

void cv_tls_conn_free(cv_tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    SSL_CTX_free(t->sslctx);
    free(t->early);
    ctx_unref(t->ctx);
    free(t);
}

static int conn_fail(cv_tls_conn *t, int ssl_error)
{
    t->failed = true;
    if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        snprintf(t->err, sizeof(t->err), "unexpected end of the TLS stream");
    else
        ssl_err(t->err, sizeof(t->err), NULL);
    return -EPROTO;
}

/* SSL_write_ex without partial writes writes everything or fails; the
 * memory BIO never pushes back. */
static int write_all(cv_tls_conn *t, const void *data, size_t len)
{
    size_t written = 0;
    ERR_clear_error();
    if (SSL_write_ex(t->ssl, data, len, &written) == 1 && written == len)
        return 0;
    return conn_fail(t, SSL_get_error(t->ssl, 0));
}

static int handshake(cv_tls_conn *t)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
        int e = SSL_get_error(t->ssl, r);
        return e == SSL_ERROR_WANT_READ ? 0 : conn_fail(t, e);
    }
    t->done = true;
    const unsigned char *p = NULL;
    unsigned int n = 0;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    for (size_t i = 0; p && i < t->ctx->nalpn; i++)
        if (strlen(t->ctx->alpn[i]) == n && memcmp(t->ctx->alpn[i], p, n) == 0)
            t->alpn = t->ctx->alpn[i];
    if (t->early_len && !t->shut) {
        int rc = write_all(t, t->early, t->early_len);
        free(t->early);
        t->early = NULL;
        t->early_len = 0;
        return rc;
    }
    return 0;
}

int cv_tls_conn_feed(cv_tls_conn *t, const void *data, size_t len)
{
    if (t->failed)
        return -EPROTO;
    const unsigned char *p = data;
    while (len) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (BIO_write(t->rbio, p, n) != n) {
            t->failed = true;
            snprintf(t->err, sizeof(t->err), "out of memory");
            return -EPROTO;
        }
        p += n;
        len -= (size_t)n;
    }
    return t->done ? 0 : handshake(t);
}

long cv_tls_conn_read(cv_tls_conn *t, void *buf, size_t cap)
{
    if (t->failed)
        return -EPROTO;
    if (!t->done || cap == 0)
        return 0;
    size_t n = 0;
    ERR_clear_error();
    if (SSL_read_ex(t->ssl, buf, cap > LONG_MAX ? LONG_MAX : cap, &n) == 1)
        return (long)n;
    int e = SSL_get_error(t->ssl, 0);
    if (e == SSL_ERROR_WANT_READ)
        return 0;
    if (e == SSL_ERROR_ZERO_RETURN)
        return -EPIPE;
    return conn_fail(t, e);
}

int cv_tls_conn_write(cv_tls_conn *t, const void *data, size_t len)
{
    if (t->failed)
        return -EPROTO;
    if (t->shut)
        return -EPIPE;
    if (len == 0)
        return 0;
    if (t->done)
        return write_all(t, data, len);
    size_t total;
    unsigned char *e;
    if (__builtin_add_overflow(t->early_len, len, &total) || !(e = realloc(t->early, total)))
        return -ENOMEM;
    memcpy(e + t->early_len, data, len);
    t->early = e;
    t->early_len = total;
    return 0;
}

void cv_tls_conn_shutdown(cv_tls_conn *t)
{
    if (t->shut || t->failed)
        return;
    t->shut = true;
    if (!t->done)
        return; /* OpenSSL refuses a close_notify mid-handshake: just close */
    ERR_clear_error();
    (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
}

size_t cv_tls_conn_pending_out(const cv_tls_conn *t) { return BIO_ctrl_pending(t->wbio); }

size_t cv_tls_conn_take_out(cv_tls_conn *t, void *buf, size_t cap)
{
    if (cap == 0 || BIO_ctrl_pending(t->wbio) == 0)
        return 0;
    int n = BIO_read(t->wbio, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    return n > 0 ? (size_t)n : 0;
}

void cv_tls_conn_ignore_alpn(cv_tls_conn *t) { t->no_alpn = true; }
bool cv_tls_conn_handshake_done(const cv_tls_conn *t) { return t->done; }
const char *cv_tls_conn_alpn(const cv_tls_conn *t) { return t->alpn; }
const char *cv_tls_conn_error(const cv_tls_conn *t) { return t->err; }
