/* Helpers for IPv4/IPv6 socket addresses, so every module compares hosts and
 * reads ports the same way. Pure functions. */
#ifndef CV_BASE_ADDR_H
#define CV_BASE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Same address family and IP (ports ignored). False for a NULL a. */
bool cv_addr_same_host(const struct sockaddr *a, const struct sockaddr_storage *b);
bool cv_addr_is_loopback(const struct sockaddr_storage *ss);
socklen_t cv_addr_len(const struct sockaddr_storage *ss);
int cv_addr_port(const struct sockaddr_storage *ss);
void cv_addr_set_port(struct sockaddr_storage *ss, int port);
/* Fills out from a numeric IPv4 or IPv6 address and a port. Returns 0 or
 * -EINVAL (not a numeric address; no name lookup). */
int cv_addr_from_ip(const char *ip, int port, struct sockaddr_storage *out);
/* Writes the numeric IP (no port, no brackets); "?" for other families. */
void cv_addr_ip(const struct sockaddr_storage *ss, char *out, size_t cap);

#endif
