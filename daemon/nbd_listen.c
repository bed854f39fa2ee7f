// SPDX-License-Identifier: GPL-2.0-only
/*
 * nbd_listen.c - the NBD frontend's listeners (daemon/nbd.h): TCP and unix
 * sockets, their pause after accept() failed (daemon/lispause.h), and the
 * per-listener settings new connections inherit (default export, TLS
 * policy). Accepted sockets go to wbd_nbd_conn_accept() in nbd.c, which
 * owns connections.
 *
 * Owns struct wbd_nbd_listener (freed by wbd_nbd_listener_free) and, for unix
 * listeners, the socket file (removed at free).
 */
#include "daemon/nbd_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "daemon/wbd_log.h"

static void listener_errcb(struct evconnlistener *el, void *arg)
{
	struct wbd_nbd_listener *l = arg;

	wbd_lispause_failed(&l->pause);
}

static int listener_new(struct event_base *base, int fd, const char *def,
			const struct wbd_nbd_lookup *lk, struct wbd_nbd_listener **out)
{
	struct wbd_nbd_listener *l = calloc(1, sizeof(*l));

	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->lk = *lk;
	snprintf(l->def, sizeof(l->def), "%s", def ? def : "");
	evutil_make_socket_nonblocking(fd);
	l->l = evconnlistener_new(base, wbd_nbd_conn_accept, l,
				  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128, fd);
	if (!l->l || wbd_lispause_init(&l->pause, base, l->l, "nbd")) {
		if (l->l)
			evconnlistener_free(l->l);
		else
			close(fd);
		wbd_lispause_fini(&l->pause);
		free(l);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(l->l, listener_errcb);
	*out = l;
	return 0;
}

int wbd_nbd_listen_tcp(struct event_base *base, const char *host, uint16_t port, const char *def,
		       const struct wbd_nbd_lookup *lk, struct wbd_nbd_listener **out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ps[8];
	int fd = -1, one = 1, ret;

	if (host && (!strcmp(host, "*") || !host[0]))
		host = NULL;
	snprintf(ps, sizeof(ps), "%u", port);
	ret = getaddrinfo(host, ps, &hints, &ai);
	if (ret) {
		wbd_err("nbd: cannot resolve %s:%u: %s", host ? host : "*", port,
			gai_strerror(ret));
		return -EINVAL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		goto out_err;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
		ret = -errno;
		goto out_err;
	}
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	freeaddrinfo(ai);
	ai = NULL;
	ret = listener_new(base, fd, def, lk, out);
	if (ret)
		return ret;
	(*out)->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						      : ((struct sockaddr_in *)&ss)->sin_port);
	wbd_info("nbd: listening on %s:%u (default export %s)", host ? host : "*", (*out)->port,
		 def ? def : "-");
	return 0;
out_err:
	wbd_err("nbd: cannot listen on %s:%u: %s", host ? host : "*", port, strerror(-ret));
	if (fd >= 0)
		close(fd);
	if (ai)
		freeaddrinfo(ai);
	return ret;
}

int wbd_nbd_listen_unix(struct event_base *base, const char *path, const char *def,
			const struct wbd_nbd_lookup *lk, struct wbd_nbd_listener **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		wbd_err("nbd: unix socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			wbd_err("nbd: %s exists and is not a socket, refusing to replace it", path);
			return -EEXIST;
		}
		/* a live socket belongs to another daemon: never take it away */
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(fd);
			wbd_err("nbd: another program is listening on %s, refusing to replace it",
				path);
			return -EADDRINUSE;
		}
		if (fd >= 0)
			close(fd);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128)) {
		ret = -errno;
		wbd_err("nbd: cannot listen on %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	chmod(path, 0660);
	ret = listener_new(base, fd, def, lk, out);
	if (ret) {
		unlink(path);
		return ret;
	}
	snprintf((*out)->path, sizeof((*out)->path), "%s", path);
	wbd_info("nbd: listening on unix:%s (default export %s)", path, def ? def : "-");
	return 0;
}

void wbd_nbd_listener_free(struct wbd_nbd_listener *l)
{
	if (!l)
		return;
	wbd_lispause_fini(&l->pause);
	evconnlistener_free(l->l);
	if (l->path[0])
		unlink(l->path);
	free(l);
}

void wbd_nbd_listener_set_tls(struct wbd_nbd_listener *l, int mode)
{
	l->tls = mode;
}
