/* TLS for camvault's listeners, with OpenSSL: a server context (certificate
 * chain + private key from PEM files, TLS 1.2+, ALPN) that can be reloaded
 * while connections stay up, and a per-connection engine that works on
 * memory BIOs so the owner keeps doing its own libuv reads and writes.
 *
 * Loop thread only. */
#ifndef CV_TLS_TLS_H
#define CV_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cv_tls_ctx cv_tls_ctx;
typedef struct cv_tls_conn cv_tls_conn;

/* Loads cert_path (PEM chain, leaf first) and key_path (PEM private key,
 * unencrypted), checks that they match. alpn: protocol names offered in
 * preference order, e.g. {"http/1.1"} (nalpn 0: no ALPN); a client offering
 * none of them fails the handshake (no_application_protocol); a client
 * without ALPN is accepted. TLS 1.2 and 1.3, OpenSSL's default ciphers, no
 * renegotiation. Returns 0 or -1 with a message in err naming the file and
 * the cause. */
int cv_tls_ctx_new(cv_tls_ctx **out, const char *cert_path, const char *key_path, const char *const *alpn,
                   size_t nalpn, char *err, size_t errcap);
/* Loads the files again; on success new connections use the new
 * certificate (connections already up keep theirs). On failure the old
 * certificate stays and err says why. Returns 0 or -1. */
int cv_tls_ctx_reload(cv_tls_ctx *c, char *err, size_t errcap);
/* True when either file's mtime, size or inode changed (or it appeared or
 * went) since the last load attempt, successful or not: a broken file is
 * not retried until it changes again. */
bool cv_tls_ctx_files_changed(const cv_tls_ctx *c);
/* The loaded leaf certificate's SHA-256 fingerprint, hex with colons. */
const char *cv_tls_ctx_fingerprint(const cv_tls_ctx *c);
void cv_tls_ctx_free(cv_tls_ctx *c); /* connections hold their own reference */

/* Writes a new self-signed certificate (ECDSA P-256, SHA-256, valid for
 * days) for the given DNS names and IP addresses (subjectAltName; the first
 * name is also the CN) and its private key, creating files 0600 (key) and
 * 0644 (cert) atomically (temp file + rename). Returns 0 or -1 with err. */
int cv_tls_make_selfsigned(const char *cert_path, const char *key_path, const char *const *names, size_t nnames,
                           int days, char *err, size_t errcap);

/* A server-side connection, with the context's current certificate; it
 * holds a reference to c, so c may be freed first. NULL when out of memory. */
cv_tls_conn *cv_tls_conn_new(cv_tls_ctx *c);
void cv_tls_conn_free(cv_tls_conn *t);
/* For listeners that share the context but speak another protocol (RTSPS):
 * this connection selects no ALPN protocol, whatever the client offers, and
 * never fails the handshake over ALPN. Call before the first feed. */
void cv_tls_conn_ignore_alpn(cv_tls_conn *t);

/* Feeds bytes read from the socket. Returns 0, or -EPROTO when the peer
 * sent something that is not TLS or failed the handshake (the reason is in
 * cv_tls_conn_error; any alert to send is in the outgoing bytes). */
int cv_tls_conn_feed(cv_tls_conn *t, const void *data, size_t len);
/* Decrypted application bytes, into buf. Returns the count, 0 when nothing
 * is ready (more input needed), -EPIPE once the peer sent close_notify, or
 * -EPROTO. Call after each feed until it returns <= 0. */
long cv_tls_conn_read(cv_tls_conn *t, void *buf, size_t cap);
/* Encrypts application bytes (all of them, the output grows as needed).
 * Returns 0, -EPROTO (failed connection), -EPIPE (after
 * cv_tls_conn_shutdown) or -ENOMEM; before the handshake is done the bytes
 * wait. */
int cv_tls_conn_write(cv_tls_conn *t, const void *data, size_t len);
/* Queues a close_notify (once; nothing before the handshake is done). */
void cv_tls_conn_shutdown(cv_tls_conn *t);
/* Bytes to send to the socket (handshake, records, alerts): takes up to
 * cap of them. Returns the count (0 when none wait). */
size_t cv_tls_conn_pending_out(const cv_tls_conn *t);
size_t cv_tls_conn_take_out(cv_tls_conn *t, void *buf, size_t cap);
bool cv_tls_conn_handshake_done(const cv_tls_conn *t);
/* The protocol ALPN chose ("http/1.1"), or "" when none. */
const char *cv_tls_conn_alpn(const cv_tls_conn *t);
const char *cv_tls_conn_error(const cv_tls_conn *t);

#endif
