// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbd_ctl.c - wbrepd's handlers for the control socket (daemon/ctl.h):
 * status, up, down, flush, mode, drain, reload; and the metrics endpoint
 * wiring.
 * Flush is asynchronous (completed with wbd_ctl_complete from the engine
 * completion); up and down are synchronous (they return when done).
 * The metrics endpoint (daemon/metrics.h) is started and stopped with the
 * control socket and serves the same status handler.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/ctl.h"
#include "daemon/events.h"
#include "daemon/handler.h"
#include "daemon/metrics.h"
#include "daemon/resource.h"
#include "daemon/tls.h"
#include "daemon/wbd.h"
#include "daemon/wbd_log.h"

static void fill_verify_peer(struct wbd_resource *r, unsigned i, struct wbd_ctl_peer_status *q)
{
	struct wbd_repl_verify_peer vp;

	if (!wbd_repl_verify_peer(r->repl, i, &vp))
		return;
	snprintf(q->verify_state, sizeof(q->verify_state), "%s", vp.state);
	q->verify_oos = vp.oos;
	q->verify_skipped = vp.skipped;
	q->verify_compared = vp.compared;
	q->verify_unread = vp.unread;
}

static void fill_repl(struct wbd_resource *r, struct wbd_ctl_res_status *s)
{
	struct wbd_repl_peer_status ps[WBD_CTL_MAX_PEERS];
	unsigned n = wbd_repl_status(r->repl, ps, WBD_CTL_MAX_PEERS);
	struct wbd_repl_verify_status vs;
	const char *rm[WBD_CTL_MAX_PEERS];

	s->nremoved = wbd_repl_removed_names(r->repl, rm, WBD_CTL_MAX_PEERS);
	for (unsigned i = 0; i < s->nremoved; i++)
		snprintf(s->removed[i], sizeof(s->removed[i]), "%s", rm[i]);

	snprintf(s->disk_state, sizeof(s->disk_state), "%s", wbd_repl_disk(r->repl));
	wbd_repl_disk_reason(r->repl, s->disk_reason, sizeof(s->disk_reason));
	s->sync_paused = wbd_repl_sync_paused(r->repl);
	s->has_uuid = wbd_repl_data_uuid(r->repl, s->data_uuid);
	for (unsigned i = 0; i < n; i++) {
		struct wbd_ctl_peer_status *q = &s->peers[i];

		snprintf(q->node, sizeof(q->node), "%s", ps[i].node);
		snprintf(q->connection, sizeof(q->connection), "%s", ps[i].connection);
		snprintf(q->role, sizeof(q->role), "%s", ps[i].role);
		snprintf(q->disk, sizeof(q->disk), "%s", ps[i].disk);
		snprintf(q->replication, sizeof(q->replication), "%s", ps[i].replication);
		snprintf(q->problem, sizeof(q->problem), "%s", ps[i].problem);
		q->has_seq_lag = ps[i].has_seq_lag;
		q->seq_lag = ps[i].seq_lag;
		q->acked = ps[i].acked_dur;
		q->has_oos = ps[i].has_oos;
		q->oos = ps[i].oos;
		q->resync = ps[i].resync;
		q->rs_total = ps[i].rs_total;
		q->rs_done = ps[i].rs_done;
		q->rs_rate = ps[i].rs_rate;
		q->rs_eta_ms = ps[i].rs_eta_ms;
		q->rs_throttled = ps[i].rs_throttled;
		q->rs_paused = ps[i].rs_paused;
		q->peer_paused = ps[i].peer_paused;
		q->rs_hook = ps[i].rs_hook;
		q->has_rs_window = ps[i].has_rs_window;
		q->rs_window = ps[i].rs_window;
		q->rs_queue_us = ps[i].rs_queue_us;
		snprintf(q->rs_after, sizeof(q->rs_after), "%s",
			 ps[i].rs_after ? ps[i].rs_after : "");
		q->has_sndq = ps[i].has_sndq;
		q->congested = ps[i].congested;
		q->sndq = ps[i].sndq;
		q->sndq_max = ps[i].sndq_max;
		q->has_kept = ps[i].has_kept;
		q->kept = ps[i].kept;
		q->cert_not_after = ps[i].cert_not_after;
		if (q->problem[0] && !s->repl_problem[0])
			snprintf(s->repl_problem, sizeof(s->repl_problem), "%s: %.380s", q->node,
				 q->problem);
		fill_verify_peer(r, ps[i].idx, q);
	}
	s->npeers = n;
	wbd_repl_verify_status(r->repl, &vs);
	if (vs.state) {
		snprintf(s->verify_state, sizeof(s->verify_state), "%s", vs.state);
		s->verify_done = vs.done_bytes;
		s->verify_total = vs.total_bytes;
		s->verify_eta_ms = vs.eta_ms;
		s->verify_rate = vs.rate;
	}
}

/* Snapshots: the span one can be taken of and the open ones (res_snap.c). */
static void fill_snaps(struct wbd_resource *r, struct wbd_ctl_res_status *s)
{
	struct wb_snap_info si[WBD_MAX_SNAPS];
	struct wb_gen_span sp;
	int n;

	if (!r->engine)
		return;
	wbd_resource_snap_sync(r);
	if (!wb_engine_gen_span(r->engine, &sp) && sp.oldest <= sp.newest) {
		s->has_span = true;
		s->span_oldest = sp.oldest;
		s->span_newest = sp.newest;
		s->span_oldest_ms = sp.oldest_time_ns / 1000000;
		s->span_newest_ms = sp.newest_time_ns / 1000000;
	}
	n = wb_engine_snap_list(r->engine, si, WBD_MAX_SNAPS);
	s->nsnaps = 0;
	for (unsigned i = 0; i < WBD_MAX_SNAPS && n > 0; i++) {
		const struct wbd_snapex *x = &r->snaps[i];
		struct wbd_ctl_snap_status *o;

		if (!x->gen || s->nsnaps >= WBD_CTL_MAX_SNAPS)
			continue;
		o = &s->snaps[s->nsnaps++];
		o->gen = x->gen;
		o->time_ms = x->time_ns / 1000000;
		o->clients = x->ex.nconns;
		snprintf(o->export_name, sizeof(o->export_name), "%s", x->ex.name);
		for (int k = 0; k < n && k < WBD_MAX_SNAPS; k++)
			if (si[k].id == x->id)
				o->extents = si[k].extents;
	}
}

static void fill_status(struct wbd_resource *r, struct wbd_ctl_res_status *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", r->name);
	snprintf(s->engine, sizeof(s->engine), "%s",
		 r->conf->engine && r->conf->engine[0] ? r->conf->engine : "wblog");
	snprintf(s->role, sizeof(s->role), "standalone");
	snprintf(s->cache_mode, sizeof(s->cache_mode), "%s",
		 r->conf->cache_mode == WBCONF_CACHE_WRITETHROUGH ? "writethrough" : "writeback");
	s->conf = r->conf;
	if (r->state == WBD_RES_FAILED) {
		/* up failed: nothing is open */
		snprintf(s->state, sizeof(s->state), "failed");
		snprintf(s->reason, sizeof(s->reason), "%s",
			 r->last_error[0] ? r->last_error : "up failed (see the wbrepd log)");
		snprintf(s->mode, sizeof(s->mode), "-");
		s->st.state = WB_STATE_FAILED; /* the engine could not be opened */
		return;
	}
	if (!wbd_resource_is_up(r)) {
		snprintf(s->state, sizeof(s->state), "down");
		snprintf(s->mode, sizeof(s->mode), "-");
		return;
	}
	wbd_resource_stats(r, &s->st);
	if (r->repl) {
		bool primary;
		unsigned healthy, total;

		wbd_repl_counts(r->repl, &primary, &healthy, &total);
		snprintf(s->role, sizeof(s->role), "%s", primary ? "primary" : "secondary");
		s->peers_connected = healthy;
		s->peers_total = total;
		fill_repl(r, s);
	}
	/* the mode in force is the policy's (modectl.h); while a drain runs
	 * the engine is write-through whatever it decided */
	snprintf(s->mode, sizeof(s->mode), "%s",
		 r->mc.mode == WBD_POLICY_WRITEBACK && s->st.mode == WB_MODE_WRITETHROUGH
		     ? "writethrough"
		     : wbd_modectl_name(r->mc.mode));
	snprintf(s->mode_reason, sizeof(s->mode_reason), "%s%s", r->mc.reason,
		 r->draining ? " (draining: write-through until clean)" : "");
	snprintf(s->policy_mode, sizeof(s->policy_mode), "%s", wbd_policy_mode_name(r->mc.mode));
	s->mode_code = (uint32_t)r->mc.mode;
	s->suspended = r->mc.mode == WBD_POLICY_SUSPEND || r->mc.mode == WBD_POLICY_IO_ERROR;
	s->read_errors = r->read_errors;
	s->reads_from_peers = wbd_repl_reads_from_peers(r->repl);
	s->read_repaired = wbd_repl_read_repaired(r->repl);
	s->mode_changes = r->mc.changes;
	s->mode_since_ms = r->mc.since_ms;
	s->mode_forced = r->mode_forced >= 0;
	s->draining = r->draining;
	s->nbd_clients = r->ex.nconns;
	fill_snaps(r, s);
	if (s->st.state != WB_STATE_OK) {
		/* open, but the engine refuses writes after an I/O error */
		snprintf(s->state, sizeof(s->state), "failed");
		snprintf(s->reason, sizeof(s->reason), "engine failed: %.230s",
			 r->fail_reason[0] ? r->fail_reason : "I/O error (see the wbrepd log)");
	} else {
		snprintf(s->state, sizeof(s->state), "up");
	}
}

static int h_snapshot(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		      char *err, size_t errlen)
{
	struct wbd_resource *r = wbd_find(ctx, res);
	unsigned long long v = 0;
	uint64_t gen = 0;
	int ret;

	if (!r)
		return -ENOENT;
	if (!arg || (sscanf(arg, "gen=%llu", &v) != 1 && sscanf(arg, "at=%llu", &v) != 1))
		return -EINVAL;
	ret = wbd_resource_snapshot(r, arg[0] == 'g' ? v : 0, arg[0] == 'a' ? v : 0, &gen, err,
				    errlen);
	if (!ret) {
		struct wbd_ctl_res_status *s = calloc(1, sizeof(*s));

		if (!s)
			return 0; /* open; the reply just does not say which */
		fill_snaps(r, s);
		for (unsigned i = 0; i < s->nsnaps; i++)
			if (s->snaps[i].gen == gen)
				wbd_ctl_req_snapshot(req, &s->snaps[i]);
		free(s);
	}
	return ret;
}

static int h_snapshot_drop(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			   char *err, size_t errlen)
{
	struct wbd_resource *r = wbd_find(ctx, res);
	unsigned long long v = 0;

	if (!r)
		return -ENOENT;
	if (!arg || sscanf(arg, "gen=%llu", &v) != 1)
		return -EINVAL;
	return wbd_resource_snapshot_drop(r, v, err, errlen);
}

static void resize_done(void *arg, int err, const char *msg)
{
	wbd_ctl_complete(arg, err, msg);
}

static int h_resize(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		    size_t errlen)
{
	struct wbd_resource *r = wbd_find(ctx, res);
	unsigned long long size = 0;
	int clean = 0, space = 0, log = 0;

	if (!r)
		return -ENOENT;
	if (!arg || sscanf(arg, "%llu,%d,%d,%d", &size, &clean, &space, &log) != 4)
		return -EINVAL;
	if (log)
		return wbd_resource_grow_log(r, size, resize_done, req, err, errlen);
	return wbd_resource_resize(r, size, clean, space, resize_done, req, err, errlen);
}

static int h_status(void *ctx, const char *res, struct wbd_ctl_res_status **out, size_t *n)
{
	struct wbd *d = ctx;
	struct wbd_ctl_res_status *v;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (res && !wbd_find(d, res))
		return -ENOENT;
	if (!d->nres)
		return 0;
	v = calloc(d->nres, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < d->nres; i++)
		if (!res || !strcmp(res, d->res[i]->name))
			fill_status(d->res[i], &v[k++]);
	*out = v;
	*n = k;
	return 0;
}

static int h_exists(void *ctx, const char *res)
{
	return wbd_find(ctx, res) != NULL;
}

static int h_up(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		size_t errlen)
{
	struct wbd_resource *r = wbd_find(ctx, res);

	if (!r)
		return -ENOENT;
	return wbd_resource_up(r, err, errlen);
}

static int h_down(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		  size_t errlen)
{
	struct wbd_resource *r = wbd_find(ctx, res);

	if (!r)
		return -ENOENT;
	if (r->state == WBD_RES_FAILED && !r->engine) {
		/* its up failed, nothing is open: down as asked (a cluster
		 * manager's stop waits for "down": deploy/ocf/wbrep) */
		r->state = WBD_RES_DOWN;
		wbd_info("%s: down (its up had failed: %s)", r->name, r->last_error);
		return 0;
	}
	wbd_resource_down(r);
	return 0;
}

static void flush_done(void *arg, int err)
{
	wbd_ctl_complete(arg, err, err ? "flush failed" : NULL);
}

static int h_flush(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		   size_t errlen)
{
	struct wbd_resource *r = wbd_find(ctx, res);
	int ret;

	if (!r)
		return -ENOENT;
	ret = wbd_resource_flush(r, flush_done, req);
	if (ret) {
		/* the client names the resource; the message does not repeat it */
		snprintf(err, errlen, "%s", ret == -ENODEV ? "resource is not up" : strerror(-ret));
		return ret;
	}
	return -EINPROGRESS;
}

static int h_mode(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		  size_t errlen)
{
	struct wbd_resource *r = wbd_find(ctx, res);
	int mode = -1, ret;

	if (!r)
		return -ENOENT;
	if (arg && !strcmp(arg, "writethrough"))
		mode = WB_MODE_WRITETHROUGH;
	else if (arg && !strcmp(arg, "writeback"))
		mode = WB_MODE_WRITEBACK;
	ret = wbd_resource_set_mode(r, mode);
	if (ret == -ENODEV)
		snprintf(err, errlen, "resource is not up");
	else if (ret == -EOPNOTSUPP && r->conf->engine && !strcmp(r->conf->engine, "passthrough"))
		snprintf(err, errlen,
			 "engine passthrough caches nothing: it is always writethrough");
	else if (ret == -EOPNOTSUPP)
		snprintf(err, errlen, "engine %s cannot run in %s mode",
			 r->conf->engine ? r->conf->engine : "wblog", arg ? arg : "that");
	else if (ret)
		snprintf(err, errlen, "%s", strerror(-ret));
	return ret;
}

static int h_drain(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		   size_t errlen)
{
	struct wbd_resource *r = wbd_find(ctx, res);
	int ret;

	if (!r)
		return -ENOENT;
	ret = wbd_resource_drain(r);
	if (ret == -ENODEV)
		snprintf(err, errlen, "resource is not up");
	else if (ret == -EIO)
		snprintf(err, errlen,
			 "the engine failed; nothing can be written back "
			 "(docs/daemon.md, \"A failed resource\")");
	else if (ret)
		snprintf(err, errlen, "%s", strerror(-ret));
	return ret;
}

/* One primary per resource; with [global] cluster = corosync only in a
 * quorate partition (--force does not override that: a node cut off from
 * the quorum must not take writes another partition may take too). */
static int h_primary(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		     char *err, size_t errlen)
{
	struct wbd *d = ctx;
	struct wbd_resource *r = wbd_find(d, res);

	if (!r)
		return -ENOENT;
	if (d->conf->global.cluster == WBCONF_CLUSTER_COROSYNC) {
		struct wbd_memb_facts f = {0};

		if (d->memb)
			wbd_memb_facts(d->memb, &f);
		if (!f.connected || !f.quorate) {
			snprintf(err, errlen,
				 "this node is not in a quorate cluster partition (%s): "
				 "promotion refused",
				 f.connected ? "corosync reports no quorum"
					     : "not connected to corosync");
			return -EPERM;
		}
	}
	return wbd_resource_primary(r, arg && !strcmp(arg, "force"), err, errlen);
}

static void secondary_done(void *arg, int err, const char *msg)
{
	wbd_ctl_complete(arg, err, msg);
}

static int h_secondary(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		       char *err, size_t errlen)
{
	struct wbd_resource *r = wbd_find(ctx, res);

	if (!r)
		return -ENOENT;
	return wbd_resource_secondary(r, secondary_done, req, err, errlen);
}

/* The resource `res` if it is up and replicated, else NULL with *ret and
 * err saying why (-ENOENT, -ENODEV, -EOPNOTSUPP). */
static struct wbd_resource *find_replicated(void *ctx, const char *res, int *ret, char *err,
					    size_t errlen)
{
	struct wbd_resource *r = wbd_find(ctx, res);

	if (!r) {
		*ret = -ENOENT;
		return NULL;
	}
	if (!wbd_resource_is_up(r) || !r->repl) {
		snprintf(err, errlen, "%s",
			 !wbd_resource_is_up(r) ? "resource is not up"
						: "not replicated (no [node] sections name this "
						  "node)");
		*ret = !wbd_resource_is_up(r) ? -ENODEV : -EOPNOTSUPP;
		return NULL;
	}
	return r;
}

static int h_links(void *ctx, const char *res, bool on, bool discard, char *err, size_t errlen)
{
	int ret;
	struct wbd_resource *r = find_replicated(ctx, res, &ret, err, errlen);

	if (!r)
		return ret;
	if (!on) {
		wbd_repl_disconnect(r->repl);
		return 0;
	}
	return wbd_repl_connect(r->repl, discard, err, errlen);
}

static int h_connect(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
		     char *err, size_t errlen)
{
	return h_links(ctx, res, true, arg && !strcmp(arg, "discard-my-data"), err, errlen);
}

static int h_disconnect(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			char *err, size_t errlen)
{
	return h_links(ctx, res, false, false, err, errlen);
}

/* wbctl forget-peer RES NODE */
static int h_forget_peer(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			 char *err, size_t errlen)
{
	int ret;
	struct wbd_resource *r = find_replicated(ctx, res, &ret, err, errlen);

	if (!r)
		return ret;
	if (!arg || !arg[0]) {
		snprintf(err, errlen, "forget-peer: which node (wbctl forget-peer RES NODE)");
		return -EINVAL;
	}
	return wbd_repl_forget_peer(r->repl, arg, err, errlen);
}

/* wbctl pause-sync / resume-sync RES */
static int h_sync_pause(void *ctx, const char *res, bool pause, char *err, size_t errlen)
{
	int ret;
	struct wbd_resource *r = find_replicated(ctx, res, &ret, err, errlen);

	if (!r)
		return ret;
	return wbd_repl_pause_sync(r->repl, pause, err, errlen);
}

static int h_pause_sync(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			char *err, size_t errlen)
{
	return h_sync_pause(ctx, res, true, err, errlen);
}

static int h_resume_sync(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req,
			 char *err, size_t errlen)
{
	return h_sync_pause(ctx, res, false, err, errlen);
}

/* wbctl verify: starts the online verify at the rate of the configuration
 * in force and returns; its progress and result are in the status. */
static int h_verify(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		    size_t errlen)
{
	int ret;
	struct wbd_resource *r = find_replicated(ctx, res, &ret, err, errlen);

	if (!r)
		return ret;
	return wbd_repl_verify_start(r->repl, r->conf->verify_rate, err, errlen);
}

static int h_reload(void *ctx, const char *res, const char *arg, struct wbd_ctl_req *req, char *err,
		    size_t errlen)
{
	struct wbd *d = ctx;
	int ret = wbd_reload(d);

	if (ret)
		snprintf(err, errlen, "reload refused: %s",
			 d->reload_error[0] ? d->reload_error : "see the wbrepd log");
	return ret;
}

static int h_info(void *ctx, struct wbd_ctl_daemon_info *out)
{
	struct wbd *d = ctx;

	struct wbd_tls_info ti;

	out->config_path = d->conf_path;
	out->config_differs = d->conf_path && wbd_conf_hash(d->conf_path) != d->conf_hash;
	out->reload_error = d->reload_error[0] ? d->reload_error : NULL;
	if (!wbd_tls_info(d, &ti)) {
		out->tls_path = d->conf->global.tls_cert;
		snprintf(out->tls_subject, sizeof(out->tls_subject), "%s", ti.subject);
		snprintf(out->tls_serial, sizeof(out->tls_serial), "%s", ti.serial);
		out->tls_not_before = ti.not_before;
		out->tls_not_after = ti.not_after;
	}
	if (d->conf->global.cluster == WBCONF_CLUSTER_COROSYNC) {
		const struct wbd_memb_facts *f = &d->memb_facts;

		out->cluster = "corosync";
		out->cluster_connected = f->connected;
		out->quorate = f->connected && f->quorate;
		out->n_members = f->n_members;
		for (uint32_t i = 0; i < f->n_members; i++) {
			d->memb_ids[i] = f->members[i].nodeid;
			d->memb_names[i] = f->members[i].name;
		}
		out->member_ids = d->memb_ids;
		out->member_names = d->memb_names;
		out->n_group = wbd_cpg_status(d, &out->group);
	}
	return 0;
}

static int h_tls_expiry(void *ctx, int64_t *not_after)
{
	struct wbd_tls_info ti;
	int ret = wbd_tls_info(ctx, &ti);

	if (!ret)
		*not_after = ti.not_after;
	return ret;
}

/* Prometheus endpoint, only when [global] metrics-listen is set. A metrics
 * port that cannot be bound fails the start: the operator asked for it. */
static int wbd_handlers_metrics_start(struct wbd *d)
{
	const struct wbconf_addr *a = &d->conf->global.metrics_listen;
	char listen[300];
	int ret;

	if (!wbconf_addr_set(a))
		return 0;
	snprintf(listen, sizeof(listen), strchr(a->host, ':') ? "[%s]:%u" : "%s:%u", a->host,
		 (unsigned)a->port);
	ret = wbd_metrics_start(d->base, listen, h_status, d, &d->metrics);
	if (!ret)
		wbd_metrics_set_tls(d->metrics, h_tls_expiry);
	if (ret) {
		wbd_err("cannot start the metrics endpoint on %s: %s", listen, strerror(-ret));
		return ret;
	}
	wbd_info("metrics: http://%s/metrics", listen);
	return 0;
}

/* Mode, peer and quorum events go to CTL_EVENTS clients (once the control
 * socket runs) and the event handler; the sink from wbd_start on. */
void wbd_event_sink(void *arg, const struct wbd_event *ev)
{
	struct wbd *d = arg;

	wbd_ctl_event(d->ctl, ev);
	wbd_handler_event(d->evh, ev);
}

int wbd_handlers_start(struct wbd *d)
{
	static const struct wbd_ctl_handlers h = {
	    .status = h_status,
	    .exists = h_exists,
	    .up = h_up,
	    .down = h_down,
	    .flush = h_flush,
	    .mode = h_mode,
	    .reload = h_reload,
	    .info = h_info,
	    .drain = h_drain,
	    .primary = h_primary,
	    .secondary = h_secondary,
	    .connect = h_connect,
	    .disconnect = h_disconnect,
	    .forget_peer = h_forget_peer,
	    .pause_sync = h_pause_sync,
	    .resume_sync = h_resume_sync,
	    .verify = h_verify,
	    .snapshot = h_snapshot,
	    .snapshot_drop = h_snapshot_drop,
	    .resize = h_resize,
	};
	const char *path = d->conf->global.control_socket;
	char *dir, *s;
	int ret;

	dir = strdup(path);
	if (dir && (s = strrchr(dir, '/')) && s != dir) {
		*s = 0;
		mkdir(dir, 0755);
	}
	free(dir);
	ret = wbd_ctl_start(d->base, path, &h, d, &d->ctl);
	if (ret) {
		wbd_err("cannot start the control socket %s: %s", path, strerror(-ret));
		return ret;
	}
	return wbd_handlers_metrics_start(d);
}

void wbd_handlers_stop(struct wbd *d)
{
	if (d->metrics)
		wbd_metrics_stop(d->metrics);
	d->metrics = NULL;
	wbd_events_set_sink(NULL, NULL);
	if (d->ctl)
		wbd_ctl_stop(d->ctl);
	d->ctl = NULL;
}
