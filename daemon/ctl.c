// SPDX-License-Identifier: GPL-2.0-only
/*
 * ctl.c - control-socket server of wbrepd (see daemon/ctl.h and
 * docs/control-protocol.md).
 *
 * Owns the unix listener, the client connections (struct ctl_conn, one
 * bufferevent each) and the requests in flight (struct wbd_ctl_req). A
 * connection handles one request at a time: while an asynchronous action is
 * pending its reading is paused, which keeps replies in order and bounds the
 * memory a client can make us hold. Frame errors that break the framing
 * (oversize length, unknown type or flags) get an error reply and the
 * connection is closed once the reply is written; a well-framed but bad
 * request only gets an error reply.
 *
 * Bounds per client (docs/daemon.md, "Memory bounds"): the input buffer holds
 * at most one frame (read watermark WBPROTO_HDR_SIZE + WBPROTO_CTL_MAX); while
 * CTL_OUT_HIGH bytes of replies are queued (a client pipelining requests and
 * not reading the replies) no further request is taken and the socket is not
 * read until the output has been sent; at most CTL_MAX_CLIENTS clients.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "daemon/ctl.h"
#include "daemon/events.h"
#include "daemon/lispause.h"
#include "daemon/wbd_log.h"
#include "proto/wbproto.h"

#define CTL_MAX_CLIENTS 64
#define CTL_OUT_HIGH	(256u << 10) /* queued reply bytes: stop taking requests */
/* An event subscriber (CTL_EVENTS) with this much unread output is dropped
 * rather than buffered further: events never take unbounded memory. */
#define CTL_EVENT_BACKLOG CTL_OUT_HIGH

struct ctl_conn {
	struct wbd_ctl *c;
	struct bufferevent *bev;
	struct ctl_conn *prev, *next;
	struct wbd_ctl_req *pending; /* async request in flight, reading paused */
	bool closing;		     /* free once the output is written */
	bool out_full;		     /* CTL_OUT_HIGH reached, reading paused */
	bool events;		     /* CTL_EVENTS: CtlEvent frames are pushed */
	char *ev_res;		     /* only this resource's (and daemon-wide); NULL = all */
	bool dead;		     /* dropped: freed by the reap event */
};

struct wbd_ctl_req {
	struct ctl_conn *conn; /* NULL once the client or the server is gone */
	uint64_t id;
	int op;
	bool in_handler, done;
	int err;
	char msg[256];
	bool has_snap; /* CTL_SNAPSHOT: what it opened */
	struct wbd_ctl_snap_status snap;
};

struct wbd_ctl {
	struct event_base *base;
	struct evconnlistener *lis;
	struct wbd_lispause pause; /* after accept failed (EMFILE...) */
	struct event *reap;	   /* frees dropped event clients from the loop */
	/* refused and dropped clients: a client can cause these once per
	 * connection, so they are rate limited (engine loop) */
	struct wbd_log_rl rl_refuse, rl_drop;
	char *path;
	struct wbd_ctl_handlers h;
	void *ctx;
	struct ctl_conn *conns;
	size_t nconns;
};

static void conn_read(struct bufferevent *bev, void *arg);

static void conn_free(struct ctl_conn *cc)
{
	struct wbd_ctl *c = cc->c;

	if (cc->pending)
		cc->pending->conn = NULL; /* the daemon still completes it */
	if (cc->prev)
		cc->prev->next = cc->next;
	else
		c->conns = cc->next;
	if (cc->next)
		cc->next->prev = cc->prev;
	c->nconns--;
	bufferevent_free(cc->bev);
	free(cc->ev_res);
	free(cc);
}

static void fill_snap(Wbrep__SnapshotStatus *p, const struct wbd_ctl_snap_status *s)
{
	wbrep__snapshot_status__init(p);
	p->generation = s->gen;
	p->has_time_ms = p->has_extents = p->has_nbd_clients = 1;
	p->time_ms = s->time_ms;
	p->extents = s->extents;
	p->nbd_clients = s->clients;
	p->export = (char *)s->export_name;
}

static void send_response_snap(struct ctl_conn *cc, uint64_t id, int err, const char *msg,
			       Wbrep__StatusReply *st, const struct wbd_ctl_snap_status *snap)
{
	Wbrep__CtlResponse r = WBREP__CTL_RESPONSE__INIT;
	Wbrep__SnapshotStatus sp;
	uint8_t *buf;
	size_t len;
	int rc;

	r.id = id;
	r.code = err < 0 ? -err : err;
	if (err && !msg)
		msg = strerror(r.code);
	r.message = (char *)msg;
	r.status = st;
	if (snap) {
		fill_snap(&sp, snap);
		r.snapshot = &sp;
	}
	rc = wbproto_pack(WBPROTO_T_CTL_RESPONSE, 0, &r.base, &buf, &len);
	if (rc) {
		wbd_err("ctl: cannot pack a response: %s", wbproto_strerror(rc));
		cc->closing = true;
		return;
	}
	if (bufferevent_write(cc->bev, buf, len)) {
		wbd_err("ctl: cannot queue a response, dropping the client");
		cc->closing = true;
	}
	free(buf);
}

static void send_response(struct ctl_conn *cc, uint64_t id, int err, const char *msg,
			  Wbrep__StatusReply *st)
{
	send_response_snap(cc, id, err, msg, st, NULL);
}

static void fill_peer(Wbrep__PeerStatus *p, const struct wbd_ctl_peer_status *s)
{
	p->node = (char *)s->node;
	p->connection = (char *)s->connection;
	p->role = (char *)s->role;
	p->disk = (char *)s->disk;
	p->replication = (char *)s->replication;
	p->has_seq_lag = s->has_seq_lag;
	p->seq_lag = s->seq_lag;
	p->has_out_of_sync_bytes = s->has_oos;
	p->out_of_sync_bytes = s->oos;
	p->has_acked_seq = 1;
	p->acked_seq = s->acked;
	p->problem = s->problem[0] ? (char *)s->problem : NULL;
	if (s->verify_state[0]) {
		p->verify_state = (char *)s->verify_state;
		p->has_verify_oos_bytes = p->has_verify_skipped_bytes = 1;
		p->has_verify_compared_bytes = p->has_verify_unreadable_bytes = 1;
		p->verify_unreadable_bytes = s->verify_unread;
		p->verify_oos_bytes = s->verify_oos;
		p->verify_skipped_bytes = s->verify_skipped;
		p->verify_compared_bytes = s->verify_compared;
	}
	p->has_resync_total_bytes = p->has_resync_done_bytes = s->resync;
	p->has_resync_eta_ms = p->has_resync_rate = s->resync;
	p->resync_total_bytes = s->rs_total;
	p->resync_done_bytes = s->rs_done;
	p->resync_eta_ms = s->rs_eta_ms;
	p->resync_rate = s->rs_rate;
	p->has_resync_throttled = p->has_resync_paused = s->resync;
	p->resync_throttled = s->rs_throttled;
	p->resync_paused = s->rs_paused;
	p->has_peer_sync_paused = 1;
	p->peer_sync_paused = s->peer_paused;
	p->resync_after = s->rs_after[0] ? (char *)s->rs_after : NULL;
	p->has_resync_hook = s->resync;
	p->resync_hook = s->rs_hook;
	p->has_resync_window_bytes = p->has_resync_queue_us = s->has_rs_window;
	p->resync_window_bytes = s->rs_window;
	p->resync_queue_us = s->rs_queue_us;
	p->has_congested = p->has_send_queue_bytes = p->has_send_queue_max_bytes = s->has_sndq;
	p->congested = s->congested;
	p->send_queue_bytes = s->sndq;
	p->send_queue_max_bytes = s->sndq_max;
	p->has_log_kept_records = s->has_kept;
	p->log_kept_records = s->kept;
	p->has_cert_not_after = s->cert_not_after != 0;
	p->cert_not_after = s->cert_not_after;
}

static void fill_status(Wbrep__ResourceStatus *p, const struct wbd_ctl_res_status *s)
{
#define U(f, v)                                                                                    \
	do {                                                                                       \
		p->has_##f = 1;                                                                    \
		p->f = (v);                                                                        \
	} while (0)
	p->name = (char *)s->name;
	p->engine = (char *)s->engine;
	p->state = (char *)s->state;
	p->role = (char *)s->role;
	p->mode = (char *)s->mode;
	U(size, s->st.size);
	U(log_size, s->st.log_size);
	U(log_used, s->st.log_used);
	U(dirty_bytes, s->st.dirty_bytes);
	U(gen_head, s->st.gen_head);
	U(gen_durable, s->st.gen_durable);
	U(gen_oldest, s->st.gen_oldest);
	U(seq_head, s->st.seq_head);
	U(seq_tail, s->st.seq_tail);
	U(destage_rate, s->st.destage_rate);
	U(destage_eta_ms, s->st.destage_eta_ms);
	U(destaged_bytes, s->st.destaged_bytes);
	U(reads, s->st.reads);
	U(writes, s->st.writes);
	U(flushes, s->st.flushes);
	U(discards, s->st.discards);
	U(bytes_read, s->st.bytes_read);
	U(bytes_written, s->st.bytes_written);
	U(ram_pages_total, s->st.ram_pages_total);
	U(ram_pages_used, s->st.ram_pages_used);
	U(throttle_events, s->st.throttle_events);
	U(extents, s->st.extents);
	U(extent_mem_bytes, s->st.extent_mem_bytes);
	U(nbd_clients, s->nbd_clients);
	U(peers_connected, s->peers_connected);
	U(peers_total, s->peers_total);
	U(engine_state, s->st.state);
	U(mode_forced, s->mode_forced);
	U(draining, s->draining);
	U(suspended, s->suspended);
	U(mode_changes, s->mode_changes);
	U(mode_since_ms, s->mode_since_ms);
	p->mode_reason = s->mode_reason[0] ? (char *)s->mode_reason : NULL;
	p->policy_mode = s->policy_mode[0] ? (char *)s->policy_mode : NULL;
	p->reason = s->reason[0] ? (char *)s->reason : NULL;
	p->cache_mode = s->cache_mode[0] ? (char *)s->cache_mode : NULL;
	p->disk_state = s->disk_state[0] ? (char *)s->disk_state : NULL;
	p->disk_reason = s->disk_reason[0] ? (char *)s->disk_reason : NULL;
	if (s->npeers) {
		p->has_sync_paused = 1;
		p->sync_paused = s->sync_paused;
	}
	p->repl_problem = s->repl_problem[0] ? (char *)s->repl_problem : NULL;
	if (s->verify_state[0]) {
		p->verify_state = (char *)s->verify_state;
		U(verify_done_bytes, s->verify_done);
		U(verify_total_bytes, s->verify_total);
		U(verify_eta_ms, s->verify_eta_ms);
		U(verify_rate, s->verify_rate);
	}
	if (s->has_span) {
		U(snap_gen_oldest, s->span_oldest);
		U(snap_gen_newest, s->span_newest);
		U(snap_oldest_ms, s->span_oldest_ms);
		U(snap_newest_ms, s->span_newest_ms);
	}
	if (s->st.snapshots_dropped)
		U(snapshots_dropped, s->st.snapshots_dropped);
	U(read_errors, s->read_errors);
	U(reads_from_peers, s->reads_from_peers);
	U(read_repaired_bytes, s->read_repaired);
	if (s->has_uuid) {
		p->has_data_uuid = 1;
		p->data_uuid.data = (uint8_t *)s->data_uuid;
		p->data_uuid.len = sizeof(s->data_uuid);
	}
#undef U
}

/* The settings of the configuration in force (wbctl status -v). */
static void fill_settings(Wbrep__ResourceSettings *p, const struct wbconf_resource *c,
			  char *nbd_listen, size_t len)
{
#define U(f, v)                                                                                    \
	do {                                                                                       \
		p->has_##f = 1;                                                                    \
		p->f = (v);                                                                        \
	} while (0)
	p->backing = c->backing;
	p->log = c->log;
	p->ack = c->ack == WBCONF_ACK_MEMORY ? "memory" : "log";
	U(destage_low_pct, c->destage_low_pct);
	U(destage_high_pct, c->destage_high_pct);
	U(destage_min_rate, c->destage_min_rate);
	U(gen_max_interval_ms, c->gen_max_interval_ms);
	U(log_segment, c->log_segment);
	U(ram_buffer, c->ram_buffer);
	U(log_commit_ms, c->log_commit_ms);
	U(auto_up, c->auto_up);
	if (wbconf_addr_set(&c->nbd_listen)) {
		snprintf(nbd_listen, len, strchr(c->nbd_listen.host, ':') ? "[%s]:%u" : "%s:%u",
			 c->nbd_listen.host, (unsigned)c->nbd_listen.port);
		p->nbd_listen = nbd_listen;
	}
	p->nbd_socket = c->nbd_socket;
	p->ring = c->ring;
	p->engine_options = c->engine_options;
#undef U
}

/* What a status reply points into: per resource its message, settings,
 * nbd-listen text and peer messages. */
struct status_bufs {
	Wbrep__ResourceStatus *rs, **rp;
	Wbrep__ResourceSettings *set;
	Wbrep__PeerStatus (*ps)[WBD_CTL_MAX_PEERS];
	Wbrep__PeerStatus *(*pp)[WBD_CTL_MAX_PEERS];
	Wbrep__SnapshotStatus (*ss)[WBD_CTL_MAX_SNAPS];
	Wbrep__SnapshotStatus *(*sp)[WBD_CTL_MAX_SNAPS];
	char *(*rm)[WBD_CTL_MAX_PEERS];
	char (*listen)[300];
};

static int status_bufs_alloc(struct status_bufs *b, size_t n)
{
	b->rs = calloc(n + 1, sizeof(*b->rs));
	b->rp = calloc(n + 1, sizeof(*b->rp));
	b->set = calloc(n + 1, sizeof(*b->set));
	b->listen = calloc(n + 1, sizeof(*b->listen));
	b->ps = calloc(n + 1, sizeof(*b->ps));
	b->pp = calloc(n + 1, sizeof(*b->pp));
	b->ss = calloc(n + 1, sizeof(*b->ss));
	b->sp = calloc(n + 1, sizeof(*b->sp));
	b->rm = calloc(n + 1, sizeof(*b->rm));
	return b->rs && b->rp && b->set && b->listen && b->ps && b->pp && b->ss && b->sp && b->rm
		   ? 0
		   : -ENOMEM;
}

static void status_bufs_free(struct status_bufs *b)
{
	free(b->rs);
	free(b->rp);
	free(b->set);
	free(b->listen);
	free(b->ps);
	free(b->pp);
	free(b->ss);
	free(b->sp);
	free(b->rm);
}

/* NUL-terminate what the daemon gave us before it goes on the wire, and
 * keep the peer count in bounds. */
static void status_terminate(struct wbd_ctl_res_status *s)
{
	s->name[sizeof(s->name) - 1] = 0;
	s->engine[sizeof(s->engine) - 1] = 0;
	s->state[sizeof(s->state) - 1] = 0;
	s->role[sizeof(s->role) - 1] = 0;
	s->mode[sizeof(s->mode) - 1] = 0;
	s->reason[sizeof(s->reason) - 1] = 0;
	s->cache_mode[sizeof(s->cache_mode) - 1] = 0;
	s->disk_state[sizeof(s->disk_state) - 1] = 0;
	s->disk_reason[sizeof(s->disk_reason) - 1] = 0;
	s->repl_problem[sizeof(s->repl_problem) - 1] = 0;
	s->verify_state[sizeof(s->verify_state) - 1] = 0;
	if (s->npeers > WBD_CTL_MAX_PEERS)
		s->npeers = WBD_CTL_MAX_PEERS;
	if (s->nremoved > WBD_CTL_MAX_PEERS)
		s->nremoved = WBD_CTL_MAX_PEERS;
	for (unsigned j = 0; j < s->nremoved; j++)
		s->removed[j][sizeof(s->removed[j]) - 1] = 0;
	if (s->nsnaps > WBD_CTL_MAX_SNAPS)
		s->nsnaps = WBD_CTL_MAX_SNAPS;
	for (unsigned j = 0; j < s->nsnaps; j++)
		s->snaps[j].export_name[sizeof(s->snaps[j].export_name) - 1] = 0;
	for (unsigned j = 0; j < s->npeers; j++) {
		struct wbd_ctl_peer_status *q = &s->peers[j];

		q->node[sizeof(q->node) - 1] = 0;
		q->connection[sizeof(q->connection) - 1] = 0;
		q->role[sizeof(q->role) - 1] = 0;
		q->disk[sizeof(q->disk) - 1] = 0;
		q->replication[sizeof(q->replication) - 1] = 0;
		q->problem[sizeof(q->problem) - 1] = 0;
		q->verify_state[sizeof(q->verify_state) - 1] = 0;
	}
}

/* Resource i's message: its status, peers and settings. */
static void status_res(struct status_bufs *b, size_t i, struct wbd_ctl_res_status *s)
{
	Wbrep__ResourceStatus *rs = &b->rs[i];

	status_terminate(s);
	wbrep__resource_status__init(rs);
	fill_status(rs, s);
	for (unsigned j = 0; j < s->npeers; j++) {
		wbrep__peer_status__init(&b->ps[i][j]);
		fill_peer(&b->ps[i][j], &s->peers[j]);
		b->pp[i][j] = &b->ps[i][j];
	}
	rs->n_peers = s->npeers;
	rs->peers = b->pp[i];
	for (unsigned j = 0; j < s->nremoved; j++)
		b->rm[i][j] = s->removed[j];
	rs->n_removed_peers = s->nremoved;
	rs->removed_peers = b->rm[i];
	for (unsigned j = 0; j < s->nsnaps; j++) {
		fill_snap(&b->ss[i][j], &s->snaps[j]);
		b->sp[i][j] = &b->ss[i][j];
	}
	rs->n_snapshots = s->nsnaps;
	rs->snapshots = b->sp[i];
	if (s->conf) {
		wbrep__resource_settings__init(&b->set[i]);
		fill_settings(&b->set[i], s->conf, b->listen[i], sizeof(b->listen[i]));
		rs->settings = &b->set[i];
	}
	b->rp[i] = rs;
}

/* The daemon's part of the reply: configuration file and cluster. The
 * strings stay in *info until the reply is sent. */
static void status_daemon(struct wbd_ctl *c, Wbrep__StatusReply *sr,
			  struct wbd_ctl_daemon_info *info, Wbrep__TlsCert *tc)
{
	if (!c->h.info || c->h.info(c->ctx, info))
		return;
	if (info->tls_path) {
		tc->path = (char *)info->tls_path;
		tc->subject = info->tls_subject;
		tc->serial = info->tls_serial;
		tc->has_not_before = tc->has_not_after = 1;
		tc->not_before = info->tls_not_before;
		tc->not_after = info->tls_not_after;
		sr->tls = tc;
	}
	sr->config_path = (char *)info->config_path;
	sr->has_config_differs = 1;
	sr->config_differs = info->config_differs;
	sr->reload_error = (char *)info->reload_error;
	if (info->cluster) {
		sr->cluster = (char *)info->cluster;
		sr->has_cluster_connected = sr->has_quorate = 1;
		sr->cluster_connected = info->cluster_connected;
		sr->quorate = info->quorate;
		sr->n_member_ids = sr->n_member_names = info->n_members;
		sr->member_ids = (uint32_t *)info->member_ids;
		sr->member_names = (char **)info->member_names;
		sr->n_group = info->n_group;
		sr->group = (Wbrep__CpgMember **)info->group;
	}
}

static void do_status(struct ctl_conn *cc, uint64_t id, const char *res)
{
	struct wbd_ctl *c = cc->c;
	struct wbd_ctl_res_status *s = NULL;
	Wbrep__StatusReply sr = WBREP__STATUS_REPLY__INIT;
	struct wbd_ctl_daemon_info info = {0};
	Wbrep__TlsCert tc = WBREP__TLS_CERT__INIT;
	struct status_bufs b = {0};
	size_t n = 0;
	int rc;

	if (!c->h.status) {
		send_response(cc, id, -ENOTSUP, "status is not supported", NULL);
		return;
	}
	rc = c->h.status(c->ctx, res, &s, &n);
	if (rc) {
		send_response(cc, id, rc, rc == -ENOENT && res ? "no such resource" : NULL, NULL);
		goto out;
	}
	if (status_bufs_alloc(&b, n)) {
		send_response(cc, id, -ENOMEM, NULL, NULL);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		status_res(&b, i, &s[i]);
	sr.n_resources = n;
	sr.resources = b.rp;
	status_daemon(c, &sr, &info, &tc);
	send_response(cc, id, 0, NULL, &sr);
out:
	status_bufs_free(&b);
	free(s);
}

static void req_finish(struct wbd_ctl_req *req)
{
	struct ctl_conn *cc = req->conn;

	if (cc) {
		send_response_snap(cc, req->id, req->err, req->msg[0] ? req->msg : NULL, NULL,
				   !req->err && req->has_snap ? &req->snap : NULL);
		cc->pending = NULL;
		if (!cc->closing && !cc->out_full)
			bufferevent_enable(cc->bev, EV_READ);
	}
	free(req);
	/* requests queued behind this one are picked up by the write callback
	 * once the response has been flushed (see conn_write) */
}

void wbd_ctl_req_snapshot(struct wbd_ctl_req *req, const struct wbd_ctl_snap_status *snap)
{
	req->has_snap = true;
	req->snap = *snap;
	req->snap.export_name[sizeof(req->snap.export_name) - 1] = 0;
}

void wbd_ctl_complete(struct wbd_ctl_req *req, int err, const char *msg)
{
	if (!req)
		return;
	req->done = true;
	req->err = err > 0 ? -err : err;
	if (msg)
		snprintf(req->msg, sizeof(req->msg), "%s", msg);
	else if (err)
		snprintf(req->msg, sizeof(req->msg), "%s", strerror(-req->err));
	if (req->in_handler)
		return; /* completed from inside the handler: finished on return */
	req_finish(req);
}

static void do_action(struct ctl_conn *cc, const Wbrep__CtlRequest *rq)
{
	struct wbd_ctl *c = cc->c;
	int (*fn)(void *, const char *, const char *, struct wbd_ctl_req *, char *, size_t);
	const char *arg = rq->op == WBREP__CTL_OP__CTL_MODE ? rq->mode : NULL;
	char snap_arg[40];
	struct wbd_ctl_req *req;
	int rc;

	switch (rq->op) {
	case WBREP__CTL_OP__CTL_UP:
		fn = c->h.up;
		break;
	case WBREP__CTL_OP__CTL_DOWN:
		fn = c->h.down;
		break;
	case WBREP__CTL_OP__CTL_FLUSH:
		fn = c->h.flush;
		break;
	case WBREP__CTL_OP__CTL_MODE:
		fn = c->h.mode;
		break;
	case WBREP__CTL_OP__CTL_DRAIN:
		fn = c->h.drain;
		break;
	case WBREP__CTL_OP__CTL_PRIMARY:
		fn = c->h.primary;
		arg = rq->has_force && rq->force ? "force" : NULL;
		break;
	case WBREP__CTL_OP__CTL_SECONDARY:
		fn = c->h.secondary;
		break;
	case WBREP__CTL_OP__CTL_CONNECT:
		fn = c->h.connect;
		arg = rq->has_discard_my_data && rq->discard_my_data ? "discard-my-data" : NULL;
		break;
	case WBREP__CTL_OP__CTL_DISCONNECT:
		fn = c->h.disconnect;
		break;
	case WBREP__CTL_OP__CTL_FORGET_PEER:
		fn = c->h.forget_peer;
		arg = rq->node;
		break;
	case WBREP__CTL_OP__CTL_PAUSE_SYNC:
		fn = c->h.pause_sync;
		break;
	case WBREP__CTL_OP__CTL_RESUME_SYNC:
		fn = c->h.resume_sync;
		break;
	case WBREP__CTL_OP__CTL_VERIFY:
		fn = c->h.verify;
		break;
	case WBREP__CTL_OP__CTL_RESIZE:
		fn = c->h.resize;
		snprintf(snap_arg, sizeof(snap_arg), "%llu,%d,%d,%d",
			 (unsigned long long)(rq->has_size ? rq->size : 0),
			 rq->has_assume_clean && rq->assume_clean,
			 rq->has_assume_peer_space && rq->assume_peer_space,
			 rq->has_log && rq->log);
		arg = snap_arg;
		break;
	case WBREP__CTL_OP__CTL_SNAPSHOT:
	case WBREP__CTL_OP__CTL_SNAPSHOT_DROP:
		fn = rq->op == WBREP__CTL_OP__CTL_SNAPSHOT ? c->h.snapshot : c->h.snapshot_drop;
		if (rq->has_generation && rq->generation)
			snprintf(snap_arg, sizeof(snap_arg), "gen=%llu",
				 (unsigned long long)rq->generation);
		else
			snprintf(snap_arg, sizeof(snap_arg), "at=%llu",
				 (unsigned long long)rq->at_ms);
		arg = snap_arg;
		break;
	default:
		fn = c->h.reload;
	}
	if (!fn) {
		send_response(cc, rq->id, -ENOTSUP, "operation not supported by this daemon", NULL);
		return;
	}
	req = calloc(1, sizeof(*req));
	if (!req) {
		send_response(cc, rq->id, -ENOMEM, NULL, NULL);
		return;
	}
	req->conn = cc;
	req->id = rq->id;
	req->op = rq->op;
	req->in_handler = true;
	rc = fn(c->ctx, rq->op == WBREP__CTL_OP__CTL_RELOAD ? NULL : rq->resource, arg, req,
		req->msg, sizeof(req->msg));
	req->in_handler = false;
	if (rc == -EINPROGRESS && !req->done) {
		cc->pending = req;
		bufferevent_disable(cc->bev, EV_READ);
		return;
	}
	if (rc != -EINPROGRESS) {
		req->err = rc;
		if (rc && !req->msg[0])
			snprintf(req->msg, sizeof(req->msg), "%s", strerror(-rc));
	}
	req_finish(req);
}

/* Drop a client from wherever we are (possibly inside its own request's
 * handler): no more I/O, freed by the reap event from the loop. */
static void conn_drop(struct ctl_conn *cc)
{
	cc->events = false;
	cc->closing = cc->dead = true;
	bufferevent_disable(cc->bev, EV_READ | EV_WRITE);
	event_active(cc->c->reap, EV_TIMEOUT, 0);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_ctl *c = arg;

	for (struct ctl_conn *cc = c->conns, *next; cc; cc = next) {
		next = cc->next;
		if (cc->dead)
			conn_free(cc);
	}
}

static int send_event(struct ctl_conn *cc, const struct wbd_event *ev)
{
	Wbrep__CtlEvent m = WBREP__CTL_EVENT__INIT;
	uint8_t *buf;
	size_t len;
	int rc;

	m.has_time_ms = m.has_seq = 1;
	m.time_ms = ev->time_ms;
	m.seq = ev->seq;
	m.resource = ev->res[0] ? (char *)ev->res : NULL;
	m.kind = (char *)ev->kind;
	m.message = (char *)ev->msg;
	m.mode = (char *)ev->mode;
	m.reason = (char *)ev->reason;
	rc = wbproto_pack(WBPROTO_T_CTL_EVENT, 0, &m.base, &buf, &len);
	if (rc) {
		wbd_err("ctl: cannot pack an event: %s", wbproto_strerror(rc));
		return 0; /* this event is lost, the client stays */
	}
	if (evbuffer_get_length(bufferevent_get_output(cc->bev)) + len > CTL_EVENT_BACKLOG) {
		wbd_warn_rl(&cc->c->rl_drop,
			    "ctl: an event client does not read (%u bytes unread), dropping it",
			    CTL_EVENT_BACKLOG);
		rc = -ENOBUFS;
	} else if (bufferevent_write(cc->bev, buf, len)) {
		wbd_err("ctl: cannot queue an event, dropping the client");
		rc = -ENOMEM;
	}
	free(buf);
	return rc;
}

/* CTL_EVENTS: the response, one "state" event per resource (seq 0: the
 * mode in force now, so a client knows where it starts), and from now on
 * every event. */
static void do_events(struct ctl_conn *cc, const Wbrep__CtlRequest *rq)
{
	struct wbd_ctl *c = cc->c;
	struct wbd_ctl_res_status *s = NULL;
	struct timespec ts;
	char *res = NULL, msg[320];
	size_t n = 0;

	if (rq->resource && !(res = strdup(rq->resource))) {
		send_response(cc, rq->id, -ENOMEM, NULL, NULL);
		return;
	}
	free(cc->ev_res);
	cc->ev_res = res;
	cc->events = true;
	send_response(cc, rq->id, 0, NULL, NULL);
	if (c->h.status(c->ctx, rq->resource, &s, &n))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	for (size_t i = 0; i < n; i++) {
		struct wbd_event ev = {.time_ms = (uint64_t)ts.tv_sec * 1000 +
						  (uint64_t)ts.tv_nsec / 1000000,
				       .res = s[i].name,
				       .kind = "state",
				       .mode = s[i].mode,
				       .reason = s[i].mode_reason,
				       .msg = msg};

		snprintf(msg, sizeof(msg), "%s, mode %s: %s", s[i].state, s[i].mode,
			 s[i].mode_reason[0] ? s[i].mode_reason : "-");
		if (send_event(cc, &ev)) {
			conn_drop(cc);
			break;
		}
	}
	free(s);
}

void wbd_ctl_event(struct wbd_ctl *c, const struct wbd_event *ev)
{
	if (!c)
		return;
	for (struct ctl_conn *cc = c->conns; cc; cc = cc->next) {
		if (!cc->events || cc->closing ||
		    (cc->ev_res && ev->res[0] && strcmp(cc->ev_res, ev->res)))
			continue;
		if (send_event(cc, ev))
			conn_drop(cc); /* freed later: the list stays intact */
	}
}

/* Validate and dispatch one request. */
static void handle_request(struct ctl_conn *cc, const Wbrep__CtlRequest *rq)
{
	struct wbd_ctl *c = cc->c;
	const char *why;
	int rc = wbproto_ctl_check(rq, &why);

	if (rc) {
		send_response(cc, rq->id, rc, why, NULL);
		return;
	}
	if (rq->resource && c->h.exists && !c->h.exists(c->ctx, rq->resource)) {
		send_response(cc, rq->id, -ENOENT, "no such resource", NULL);
		return;
	}
	if (rq->op == WBREP__CTL_OP__CTL_STATUS)
		do_status(cc, rq->id, rq->resource);
	else if (rq->op == WBREP__CTL_OP__CTL_EVENTS)
		do_events(cc, rq);
	else
		do_action(cc, rq);
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *cc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	/* bounded: each round consumes one frame or stops */
	while (!cc->closing && !cc->pending) {
		size_t avail = evbuffer_get_length(in);
		uint8_t hb[WBPROTO_HDR_SIZE];
		struct wbproto_hdr h;
		struct wbproto_frame f;
		unsigned char *p;
		ssize_t n;
		int rc;

		if (avail < WBPROTO_HDR_SIZE)
			break;
		if (evbuffer_get_length(bufferevent_get_output(bev)) >= CTL_OUT_HIGH) {
			/* the client does not read its replies: take nothing
			 * more until they are sent (conn_write resumes) */
			cc->out_full = true;
			bufferevent_disable(bev, EV_READ);
			break;
		}
		evbuffer_copyout(in, hb, sizeof(hb));
		rc = wbproto_hdr_decode(hb, sizeof(hb), WBPROTO_CTL_MAX, &h);
		if (rc) {
			wbd_warn_rl(&cc->c->rl_drop, "ctl: dropping client: %s",
				    wbproto_strerror(rc));
			send_response(cc, 0, rc, wbproto_strerror(rc), NULL);
			cc->closing = true;
			break;
		}
		if (avail < WBPROTO_HDR_SIZE + (size_t)h.len)
			break;
		p = evbuffer_pullup(in, (ssize_t)(WBPROTO_HDR_SIZE + h.len));
		n = p ? wbproto_next(p, WBPROTO_HDR_SIZE + h.len, WBPROTO_CTL_MAX, &f) : -ENOMEM;
		if (n <= 0) {
			/* payload undecodable; the framing is intact, keep the client */
			send_response(cc, 0, n ? (int)n : -EBADMSG, wbproto_strerror((int)n), NULL);
			evbuffer_drain(in, WBPROTO_HDR_SIZE + h.len);
			continue;
		}
		if (h.type != WBPROTO_T_CTL_REQUEST) {
			send_response(cc, 0, -EPROTO, "expected a control request frame", NULL);
		} else {
			handle_request(cc, (Wbrep__CtlRequest *)f.msg);
		}
		wbproto_frame_free(&f);
		evbuffer_drain(in, (size_t)n);
	}
	if (cc->closing) {
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_free(cc);
	}
}

static void conn_write(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *cc = arg;

	if (cc->closing) {
		conn_free(cc);
		return;
	}
	if (cc->out_full) { /* the replies went out: take requests again */
		cc->out_full = false;
		if (!cc->pending)
			bufferevent_enable(bev, EV_READ);
	}
	/* a request may have been queued while the previous one was pending */
	if (!cc->pending && evbuffer_get_length(bufferevent_get_input(bev)) >= WBPROTO_HDR_SIZE)
		conn_read(bev, cc);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *cc = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(cc);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd, struct sockaddr *sa,
		      int salen, void *arg)
{
	struct wbd_ctl *c = arg;
	struct ctl_conn *cc;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == 0 && cr.uid != 0 &&
	    cr.uid != geteuid()) {
		wbd_warn_rl(&c->rl_refuse, "ctl: refusing client uid %u (only root)",
			    (unsigned)cr.uid);
		close(fd);
		return;
	}
	if (c->nconns >= CTL_MAX_CLIENTS) {
		wbd_warn_rl(&c->rl_refuse, "ctl: too many clients (%d), refusing one",
			    CTL_MAX_CLIENTS);
		close(fd);
		return;
	}
	cc = calloc(1, sizeof(*cc));
	if (!cc) {
		close(fd);
		return;
	}
	cc->c = c;
	cc->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!cc->bev) {
		wbd_err("ctl: bufferevent_socket_new failed");
		close(fd);
		free(cc);
		return;
	}
	cc->next = c->conns;
	if (c->conns)
		c->conns->prev = cc;
	c->conns = cc;
	c->nconns++;
	bufferevent_setcb(cc->bev, conn_read, conn_write, conn_event, cc);
	/* the input holds at most one maximal frame: reading stops there */
	bufferevent_setwatermark(cc->bev, EV_READ, 0, WBPROTO_HDR_SIZE + WBPROTO_CTL_MAX);
	bufferevent_enable(cc->bev, EV_READ | EV_WRITE);
}

static void lis_error(struct evconnlistener *lis, void *arg)
{
	struct wbd_ctl *c = arg;

	wbd_lispause_failed(&c->pause);
}

/* Remove a socket file nobody listens on; refuse to touch anything else. */
static int clear_stale(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		wbd_err("ctl: %s exists and is not a socket; not removing it", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (rc == 0) {
		wbd_err("ctl: another daemon is listening on %s", path);
		return -EADDRINUSE;
	}
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

int wbd_ctl_start(struct event_base *base, const char *path, const struct wbd_ctl_handlers *h,
		  void *ctx, struct wbd_ctl **out)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct wbd_ctl *c;
	mode_t old;
	int rc;

	*out = NULL;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		wbd_err("ctl: socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	rc = clear_stale(path, &sun);
	if (rc) {
		wbd_err("ctl: cannot use %s: %s", path, strerror(-rc));
		return rc;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		free(c);
		return -ENOMEM;
	}
	c->base = base;
	c->h = *h;
	c->ctx = ctx;
	old = umask(0177); /* the socket is created 0600: root-only */
	c->lis = evconnlistener_new_bind(base, on_accept, c,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 16,
					 (struct sockaddr *)&sun, sizeof(sun));
	rc = -errno;
	umask(old);
	if (!c->lis) {
		wbd_err("ctl: cannot listen on %s: %s", path, strerror(-rc));
		free(c->path);
		free(c);
		return rc ? rc : -EIO;
	}
	c->reap = event_new(base, -1, 0, reap_cb, c);
	if (wbd_lispause_init(&c->pause, base, c->lis, "ctl") || !c->reap) {
		wbd_lispause_fini(&c->pause);
		if (c->reap)
			event_free(c->reap);
		evconnlistener_free(c->lis);
		unlink(path);
		free(c->path);
		free(c);
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(c->lis, lis_error);
	chmod(path, 0600);
	*out = c;
	return 0;
}

void wbd_ctl_stop(struct wbd_ctl *c)
{
	if (!c)
		return;
	wbd_lispause_fini(&c->pause);
	evconnlistener_free(c->lis);
	event_free(c->reap);
	while (c->conns)
		conn_free(c->conns);
	unlink(c->path);
	free(c->path);
	free(c);
}
