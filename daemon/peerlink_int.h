/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * peerlink_int.h - what the listener (peerlisten.c) needs of a link
 * (peerlink.c): whether it takes accepted connections, and the hand-over.
 */
#ifndef WB_DAEMON_PEERLINK_INT_H
#define WB_DAEMON_PEERLINK_INT_H

#include <stdbool.h>

#include "daemon/peerlink.h"

struct bufferevent;

/* A passive link that is not stopped or being freed. */
bool wbd_peerlink_accepts(const struct wbd_peerlink *l);
/* The link takes bev (an accepted connection whose hello, already read and
 * checked by wbp_msg_decode, is *hello; the link may steal hello->base)
 * and answers with its own hello; a connection it had is dropped first. */
void wbd_peerlink_adopt(struct wbd_peerlink *l, struct bufferevent *bev, const char *addr,
			struct wbp_msg *hello);

#endif /* WB_DAEMON_PEERLINK_INT_H */
