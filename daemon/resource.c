// SPDX-License-Identifier: GPL-2.0-only
/*
 * resource.c - a resource in wbrepd (see resource.h): up/down, the engine in
 * the event loop, log formatting policy, flush and status.
 *
 * Engine in the loop: wb_engine_run() is called when the engine fd is
 * readable, when the engine's own timer (wb_engine_timeout_ms) expires, and
 * once after every batch of submissions (the "kick", an active-only event),
 * so engines that complete without signalling their fd still make progress.
 *
 * Log policy (docs/daemon.md): a log that is certainly new (wb_log_probe:
 * no superblock, no record header anywhere, first MiB zero) is formatted at
 * up; any other log is only ever opened, and up refuses one that holds
 * traces of a log but no valid superblock, saying what it found. `wbrepd
 * --create-md` refuses non-blank logs unless --force, and logs holding
 * records unless --force --discard-dirty as well.
 */
#include "daemon/resource.h"
#include "engine/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "daemon/events.h"
#include "daemon/nbd_proto.h"
#include "daemon/repl.h"
#include "daemon/ringfe_keeper.h"
#include "daemon/wbd_log.h"

#define RES_IO_QD 256

static void res_rearm_timer(struct wbd_resource *r)
{
	int ms;

	if (!r->engine || !r->ev_timer)
		return;
	ms = wb_engine_timeout_ms(r->engine);
	if (ms < 0) {
		evtimer_del(r->ev_timer);
	} else {
		struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

		evtimer_add(r->ev_timer, &tv);
	}
}

static void res_run(struct wbd_resource *r)
{
	int ret;

	if (!r->engine)
		return;
	ret = wb_engine_run(r->engine, 0);
	if (ret < 0)
		wbd_log(WB_LOG_DEBUG, "%s: engine run: %s", r->name, strerror(-ret));
	wbd_repl_after_run(r->repl);
	wbd_modectl_after_run(r);
	res_rearm_timer(r);
}

static void res_engine_cb(evutil_socket_t fd, short what, void *arg)
{
	res_run(arg);
}

static void res_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_resource *r = arg;

	r->kick_pending = false;
	res_run(r);
}

static void res_kick(void *arg)
{
	struct wbd_resource *r = arg;

	if (r->kick_pending || !r->ev_kick)
		return;
	r->kick_pending = true;
	event_active(r->ev_kick, EV_TIMEOUT, 0);
}

/* Keep the last WBD_RATE_SAMPLES values of destaged_bytes. */
static void res_sample(struct wbd_resource *r, uint64_t bytes)
{
	if (r->nsamples == WBD_RATE_SAMPLES) {
		memmove(&r->samples[0], &r->samples[1],
			sizeof(r->samples[0]) * (WBD_RATE_SAMPLES - 1));
		r->nsamples--;
	}
	r->samples[r->nsamples].ms = wb_now_ms();
	r->samples[r->nsamples].bytes = bytes;
	r->nsamples++;
}

static enum wb_mode res_conf_mode(const struct wbd_resource *r)
{
	return r->conf->cache_mode == WBCONF_CACHE_WRITETHROUGH ? WB_MODE_WRITETHROUGH
								: WB_MODE_WRITEBACK;
}

/* What the mode policy decided (daemon/modectl.h). */
static enum wb_mode res_want_mode(const struct wbd_resource *r)
{
	return wbd_modectl_engine_mode(r);
}

static const char *mode_name(enum wb_mode m)
{
	return m == WB_MODE_WRITETHROUGH ? "writethrough" : "writeback";
}

/* Switch the open engine's mode. -EOPNOTSUPP: the engine cannot run in
 * that mode (not logged: the caller tells the user). */
static int res_engine_mode(struct wbd_resource *r, enum wb_mode mode)
{
	int ret;

	ret = wb_engine_set_mode(r->engine, mode);
	if (ret && ret != -EOPNOTSUPP)
		wbd_err("%s: set mode %s: %s", r->name, mode_name(mode), strerror(-ret));
	res_kick(r);
	return ret;
}

void wbd_resource_sync_mode(struct wbd_resource *r)
{
	struct wb_engine_stats st;

	if (!r->engine || r->draining || wb_engine_stats(r->engine, &st) ||
	    st.mode == res_want_mode(r))
		return;
	res_engine_mode(r, res_want_mode(r));
}

/* Replication: the number of healthy peers changed. */
static void res_peers_changed(void *arg)
{
	wbd_modectl_eval(arg, "peer change");
}

static bool res_hold(void *ctx, struct wb_req *wr, void (*release)(struct wb_req *wr, int err))
{
	return wbd_modectl_hold(ctx, wr, release);
}

static bool res_hold_fast(void *ctx, struct wb_req *wr, void (*release)(struct wb_req *wr, int err),
			  struct wbd_repl_fast *f)
{
	return wbd_modectl_hold_fast(ctx, wr, release, f);
}

/* A read failed: counted, and on a replication primary read from a peer
 * (wbd_repl_read_peer) */
static bool res_reread(void *ctx, struct wb_req *wr, int err,
		       void (*release)(struct wb_req *wr, int err))
{
	struct wbd_resource *r = ctx;

	if (err == -ESHUTDOWN)
		return false; /* refused at a stop, not a read error */
	r->read_errors++;
	return wbd_repl_read_peer(r->repl, wr, err, release);
}

static struct wbd_ioloop *res_loop(void *ctx)
{
	struct wbd_resource *r = ctx;

	return wbd_repl_loop(r->repl);
}

static int res_admit(void *ctx)
{
	return wbd_modectl_ring_admit(ctx);
}

/* A drain is over when the flush it started completed and nothing is
 * dirty (write-through since it started: the log only shrinks), or when
 * the engine failed. st: the engine's current statistics. */
static void res_drain_check(struct wbd_resource *r, const struct wb_engine_stats *st)
{
	if (!r->draining)
		return;
	if (st->state != WB_STATE_OK) {
		r->draining = false;
		wbd_err("%s: drain stopped: the engine failed with %llu bytes dirty", r->name,
			(unsigned long long)st->dirty_bytes);
		return;
	}
	if (!r->drain_flushed || st->dirty_bytes)
		return;
	r->draining = false;
	wbd_info("%s: drain complete: the log is clean, mode %s", r->name,
		 mode_name(res_want_mode(r)));
	wbd_resource_sync_mode(r); /* the mode the policy decided meanwhile */
}

static void res_sample_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_resource *r = arg;
	struct wb_engine_stats st;

	if (!r->engine || wb_engine_stats(r->engine, &st))
		return;
	if (st.state == WB_STATE_OK) {
		r->fail_reason[0] = 0; /* errors so far did not fail the engine */
	} else {
		if (!r->fail_told) { /* once per up: a script waits for it */
			r->fail_told = true;
			wbd_event(r->name, "engine", NULL, NULL, "engine failed: %s",
				  r->fail_reason[0] ? r->fail_reason
						    : "I/O error (see the wbrepd log)");
		}
		if (r->repl)
			wbd_repl_engine_failed(r->repl); /* no peer counts on it any more */
	}
	res_sample(r, st.destaged_bytes);
	res_drain_check(r, &st);
	/* a secondary grew to its primary's size (repl_grow.c): new clients
	 * are told it (wbctl resize on this node sets it at once) */
	if (st.size > r->ex.size && r->ex.engine)
		r->ex.size = st.size;
	if (st.snapshots_dropped != r->snaps_dropped_seen) {
		r->snaps_dropped_seen = st.snapshots_dropped;
		wbd_resource_snap_sync(r); /* close the exports of what it dropped */
	}
	wbd_modectl_eval(r, "engine check"); /* an engine failure, once a second */
}

struct wbd_resource *wbd_resource_new(struct event_base *base, const struct wbconf_resource *conf,
				      const struct wbd_nbd_lookup *lk)
{
	struct wbd_resource *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	snprintf(r->name, sizeof(r->name), "%s", conf->name);
	r->conf = conf;
	r->base = base;
	r->lk = lk;
	r->mode_forced = -1;
	return r;
}

void wbd_resource_set_conf(struct wbd_resource *r, const struct wbconf_resource *conf)
{
	r->conf = conf;
}

void wbd_resource_free(struct wbd_resource *r)
{
	if (!r)
		return;
	wbd_resource_down(r);
	free(r);
}

void wbd_resource_params(const struct wbconf_resource *conf, struct wb_engine_params *p)
{
	memset(p, 0, sizeof(*p));
	p->name = conf->name;
	p->size = conf->size;
	p->ram_pages = (uint32_t)(conf->ram_buffer / WB_BLOCK_SIZE);
	p->gen_max_interval_ms = conf->gen_max_interval_ms;
	p->destage_low_pct = conf->destage_low_pct;
	p->destage_high_pct = conf->destage_high_pct;
	/* 0 in the config: no minimum rate (0 in the engine: its default) */
	p->destage_min_rate =
	    conf->destage_min_rate ? conf->destage_min_rate : WB_DESTAGE_RATE_NONE;
	p->log_segment_size = conf->log_segment;
	p->options = conf->engine_options;
	p->ack_memory = conf->ack == WBCONF_ACK_MEMORY;
	p->log_commit_ms = conf->log_commit_ms;
	p->role = conf->role == WBCONF_ROLE_SECONDARY ? WB_ROLE_REPLICA : WB_ROLE_PRIMARY;
	/* a lagging peer holds destaged records up to this much, then it is
	 * dropped to a bitmap resync (docs/replication.md, "Resync") */
	p->peer_retention_bytes = conf->peer_retention;
}

/*
 * Tests only: WBREPD_FAULT_IO="drop=P,tear=P[,seed=N][,hold=FILE]" (per
 * mille; hold: flushes and FUA writes wait while FILE exists) puts the
 * devices on the file-backed fault-injection backend (engine/io_fault.c), a
 * volatile write cache in this process: a kill -9 is then a power cut of
 * both devices (docs/engine-io.md, "fault"). 1 and *cfg when set.
 */
static int fault_env(const char *path, struct wb_fault_cfg *cfg)
{
	static char hold[256];
	const char *e = getenv("WBREPD_FAULT_IO");
	unsigned long long seed = 0;
	const char *t;

	if (!e || !*e)
		return 0;
	memset(cfg, 0, sizeof(*cfg));
	for (t = e; t && *t; t = strchr(t, ',') ? strchr(t, ',') + 1 : NULL) {
		if (!strncmp(t, "hold=", 5)) {
			snprintf(hold, sizeof(hold), "%.*s", (int)strcspn(t + 5, ","), t + 5);
			cfg->hold_durable = hold;
		} else if (sscanf(t, "drop=%u", &cfg->drop_permille) != 1 &&
			   sscanf(t, "tear=%u", &cfg->tear_permille) != 1 &&
			   sscanf(t, "seed=%llu", &seed) != 1)
			wbd_warn("WBREPD_FAULT_IO: ignoring \"%s\"", t);
	}
	/* a different stream per device */
	for (t = path; *t; t++)
		seed = (seed ^ (unsigned char)*t) * 0x100000001B3ull;
	cfg->seed = seed;
	return 1;
}

static int open_dev(const char *path, unsigned flags, struct wb_io **io)
{
	struct wb_fault_cfg fc;

	if (fault_env(path, &fc)) {
		wbd_warn("%s: on the fault-injection backend (WBREPD_FAULT_IO=%s: a volatile "
			 "write cache in this process, kill -9 is a power cut; tests only)",
			 path, getenv("WBREPD_FAULT_IO"));
		return wb_io_fault_open_file(path, &fc, io);
	}
	return wb_io_uring_open(path, 0, flags, RES_IO_QD, io);
}

static int open_devices(const struct wbconf_resource *c, struct wb_io **backing, struct wb_io **log,
			char *err, size_t errlen)
{
	int ret;

	*backing = *log = NULL;
	if (c->backing) {
		/* with a ring, the backing is the dm-wbrep target's lower device,
		 * which the kernel holds exclusively for the target: share it */
		ret = open_dev(c->backing, c->ring ? WB_IO_OPEN_SHARED : 0, backing);
		if (ret) {
			snprintf(err, errlen, "cannot open backing device %s: %s", c->backing,
				 strerror(-ret));
			return ret;
		}
	}
	if (c->log) {
		ret = open_dev(c->log, 0, log);
		if (ret) {
			snprintf(err, errlen, "cannot open log device %s: %s", c->log,
				 strerror(-ret));
			wb_io_close(*backing);
			*backing = NULL;
			return ret;
		}
	}
	return 0;
}

static const char *engine_name(const struct wbconf_resource *c)
{
	return c->engine && c->engine[0] ? c->engine : "wblog";
}

/* --create-md and --upgrade: the engine must exist and the devices open
 * (errors logged with the resource name) */
static int md_open(const struct wbconf_resource *c, struct wb_io **backing, struct wb_io **log)
{
	char err[256];
	int ret;

	if (!wb_engine_find(engine_name(c))) {
		wbd_err("%s: engine \"%s\" is not available", c->name, engine_name(c));
		return -ENOENT;
	}
	ret = open_devices(c, backing, log, err, sizeof(err));
	if (ret)
		wbd_err("%s: %s", c->name, err);
	return ret;
}

int wbd_resource_create_md(const struct wbconf_resource *c, bool force, bool discard_dirty,
			   uint32_t node_id)
{
	struct wb_engine_params p;
	struct wb_io *backing, *log;
	struct wb_log_probe pr;
	int ret;

	ret = md_open(c, &backing, &log);
	if (ret)
		return ret;
	if (log) {
		ret = wb_log_probe(log, &pr);
		if (ret < 0) {
			wbd_err("%s: %s", c->name, pr.what);
			goto out;
		}
		if (pr.state != WB_LOG_BLANK && !force) {
			wbd_err("%s: log %s is not blank: %s; refusing to overwrite it (--force "
				"destroys it)",
				c->name, c->log, pr.what);
			ret = -EEXIST;
			goto out;
		}
		if (pr.state != WB_LOG_BLANK && pr.records && !discard_dirty) {
			if (pr.state == WB_LOG_VALID)
				wbd_err(
				    "%s: log %s holds %llu records with %llu bytes of data that "
				    "are not yet on the backing device %s; formatting discards "
				    "them: add --discard-dirty to --force if that is meant "
				    "(or bring the resource up and let it destage first)",
				    c->name, c->log, (unsigned long long)pr.records,
				    (unsigned long long)pr.dirty_bytes, c->backing);
			else
				wbd_err(
				    "%s: log %s: %s; without a valid superblock nothing tells "
				    "which of these records are already on the backing device: "
				    "formatting may discard data; add --discard-dirty to --force "
				    "if that is meant",
				    c->name, c->log, pr.what);
			ret = -EEXIST;
			goto out;
		}
		if (pr.state != WB_LOG_BLANK)
			wbd_info("%s: --force: destroying log %s (%s)", c->name, c->log, pr.what);
	}
	wbd_resource_params(c, &p);
	p.log_io = log;
	p.backing_io = backing;
	p.node_id = node_id;
	ret = wb_engine_format(engine_name(c), &p);
	if (ret)
		wbd_err("%s: formatting the log with engine %s failed: %s", c->name, engine_name(c),
			strerror(-ret));
	else
		wbd_info("%s: metadata created (engine %s, log %s)", c->name, engine_name(c),
			 c->log ? c->log : "-");
out:
	wb_io_close(log);
	wb_io_close(backing);
	return ret;
}

int wbd_resource_upgrade_md(const struct wbconf_resource *c, uint32_t node_id)
{
	struct wb_engine_params p;
	struct wb_io *backing, *log;
	int ret;

	ret = md_open(c, &backing, &log);
	if (ret)
		return ret;
	wbd_resource_params(c, &p);
	p.log_io = log;
	p.backing_io = backing;
	p.node_id = node_id;
	ret = wb_engine_upgrade(engine_name(c), &p);
	if (ret < 0)
		wbd_err("%s: upgrading the metadata (engine %s) failed: %s", c->name,
			engine_name(c), strerror(-ret));
	else if (ret)
		wbd_info("%s: metadata already current (engine %s), nothing written", c->name,
			 engine_name(c));
	wb_io_close(log);
	wb_io_close(backing);
	return ret < 0 ? ret : 0;
}

_Static_assert((int)WBD_NBD_TLS_OFF == (int)WBCONF_TLS_OFF &&
		   (int)WBD_NBD_TLS_ALLOW == (int)WBCONF_TLS_ALLOW &&
		   (int)WBD_NBD_TLS_REQUIRE == (int)WBCONF_TLS_REQUIRE,
	       "wbd_nbd_tls_mode and wbconf_tls differ");

static int start_frontends(struct wbd_resource *r, char *err, size_t errlen)
{
	const struct wbconf_resource *c = r->conf;
	int ret;

	if (wbconf_addr_set(&c->nbd_listen)) {
		ret = wbd_nbd_listen_tcp(r->base, c->nbd_listen.host, c->nbd_listen.port, r->name,
					 r->lk, &r->nbd_tcp);
		if (ret) {
			snprintf(err, errlen, "cannot listen for NBD on %s:%u: %s",
				 c->nbd_listen.host, c->nbd_listen.port, strerror(-ret));
			return ret;
		}
		wbd_nbd_listener_set_tls(r->nbd_tcp, c->tls);
	}
	if (c->nbd_socket) {
		ret = wbd_nbd_listen_unix(r->base, c->nbd_socket, r->name, r->lk, &r->nbd_unix);
		if (ret) {
			snprintf(err, errlen, "cannot listen for NBD on %s: %s", c->nbd_socket,
				 strerror(-ret));
			return ret;
		}
		wbd_nbd_listener_set_tls(r->nbd_unix, c->tls);
	}
	/* ring frontend (dm-wbrep): attaches now or keeps retrying; ringfe_keeper.h */
	if (c->ring) {
		struct wbd_ringfe_gate gate = {.writable = wbd_resource_writable,
					       .hold = res_hold,
					       .reread = res_reread,
					       .admit = res_admit,
					       .ctx = r};

		ret = wbd_ringfe_keeper_start(r->base, c->ring, r->engine, res_kick, r, &gate,
					      &r->ring);
		if (ret) {
			snprintf(err, errlen, "cannot start the ring frontend for %s: %s", c->ring,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void stop_frontends(struct wbd_resource *r)
{
	wbd_ringfe_keeper_stop(r->ring); /* ring frontend: drains and detaches */
	r->ring = NULL;
	wbd_nbd_listener_free(r->nbd_tcp);
	wbd_nbd_listener_free(r->nbd_unix);
	r->nbd_tcp = r->nbd_unix = NULL;
}

static void free_events(struct wbd_resource *r)
{
	if (r->ev_fd)
		event_free(r->ev_fd);
	if (r->ev_timer)
		event_free(r->ev_timer);
	if (r->ev_kick)
		event_free(r->ev_kick);
	if (r->ev_sample)
		event_free(r->ev_sample);
	r->ev_fd = r->ev_timer = r->ev_kick = r->ev_sample = NULL;
	r->kick_pending = false;
}

/* up, step 1: the log is blank (format it), valid (open it) or neither
 * (refuse, saying what was found and how to force it); then open the
 * engine, turning its refusals into what the operator can do. */
static int res_open_engine(struct wbd_resource *r, struct wb_engine_params *p, char *err,
			   size_t errlen)
{
	const struct wbconf_resource *c = r->conf;
	const char *eng = engine_name(c);
	int ret;

	if (r->log) {
		struct wb_log_probe pr;

		ret = wb_log_probe(r->log, &pr);
		if (ret < 0) {
			snprintf(err, errlen, "%s", pr.what);
			return ret;
		}
		if (pr.state == WB_LOG_BLANK) {
			wbd_info("%s: log %s is blank, formatting it", r->name, c->log);
			ret = wb_engine_format(eng, p);
			if (ret) {
				snprintf(err, errlen, "formatting log %s failed: %s", c->log,
					 strerror(-ret));
				return ret;
			}
		} else if (pr.state != WB_LOG_VALID) {
			/* not certainly new: never format it behind the operator's back */
			snprintf(err, errlen,
				 "log %s is neither blank nor a valid log: %s; refusing to format "
				 "or open it (to re-initialise it, destroying its content: "
				 "wbrepd --create-md %s --force)",
				 c->log, pr.what, r->name);
			return -EUCLEAN;
		}
	}
	ret = wb_engine_open(eng, p, &r->engine);
	if (ret == -EUCLEAN && c->log) {
		/* the engine logged where the log is damaged and what to do */
		snprintf(
		    err, errlen,
		    "engine %s refused to open log %s: it is damaged (see the engine's message "
		    "before: `wbengine check` inspects it, `wbengine repair "
		    "--accept-data-loss` drops what follows the damage)",
		    eng, c->log);
	} else if (ret == -EXDEV && c->log) {
		/* log and backing do not belong together (engine/bind.h): the log
		 * is intact, re-initialising it would destroy its data */
		snprintf(err, errlen,
			 "engine %s refused to open log %s: backing %s is not bound to it (see "
			 "the engine's message before). Check log= and backing=; if this is the "
			 "right pair, bind it with the resource down: wbengine bind --log %s "
			 "--backing %s",
			 eng, c->log, c->backing, c->log, c->backing);
	} else if (ret) {
		/* the log probed valid: whatever the cause (size, parameters, I/O),
		 * formatting it is never the remedy, it would destroy its data */
		snprintf(err, errlen,
			 "engine %s refused to open%s%s: %s (see the engine's message before%s)",
			 eng, c->log ? " log " : "", c->log ? c->log : "", strerror(-ret),
			 c->log ? "; `wbengine check` inspects the log" : "");
	}
	return ret;
}

/* up, step 2: the NBD export and the engine's events (fd, timer, kick,
 * rate sample), not yet added */
static int res_events_new(struct wbd_resource *r, uint64_t size, char *err, size_t errlen)
{
	int fd;

	wbd_nbd_export_init(&r->ex, r->name, size, r->engine, res_kick, r);
	r->ex.hold = res_hold;
	r->ex.hold_fast = res_hold_fast;
	r->ex.reread = res_reread;
	r->ex.loop = res_loop;
	r->ex.writable = wbd_resource_writable;
	r->ex.max_clients = r->conf->max_clients;
	r->ex.tls = r->conf->tls; /* same values (_Static_assert above) */
	fd = wb_engine_fd(r->engine);
	r->ev_kick = event_new(r->base, -1, 0, res_kick_cb, r);
	r->ev_timer = evtimer_new(r->base, res_engine_cb, r);
	r->ev_sample = event_new(r->base, -1, EV_PERSIST, res_sample_cb, r);
	if (fd >= 0)
		r->ev_fd = event_new(r->base, fd, EV_READ | EV_PERSIST, res_engine_cb, r);
	if (!r->ev_kick || !r->ev_timer || !r->ev_sample || (fd >= 0 && !r->ev_fd)) {
		snprintf(err, errlen, "out of memory for events");
		return -ENOMEM;
	}
	return 0;
}

/* up, step 3: the configured cache mode must be one the engine can run (a
 * forced one ends with the last down); the node then starts in
 * write-through and the mode policy (modectl.h) enters write-back once it
 * holds. */
static int res_start_mode(struct wbd_resource *r, const struct wb_engine_stats *st, char *err,
			  size_t errlen)
{
	const char *eng = engine_name(r->conf);
	int ret;

	r->mode_forced = -1;
	r->draining = false;
	if (st->mode != res_conf_mode(r)) {
		ret = res_engine_mode(r, res_conf_mode(r));
		if (ret) {
			snprintf(err, errlen, "engine %s cannot run with cache-mode = %s: %s", eng,
				 mode_name(res_conf_mode(r)), strerror(-ret));
			return ret;
		}
	}
	r->mc.wb_capable = res_conf_mode(r) == WB_MODE_WRITEBACK ||
			   !wb_engine_set_mode(r->engine, WB_MODE_WRITEBACK);
	ret = res_engine_mode(r, WB_MODE_WRITETHROUGH);
	if (ret)
		snprintf(err, errlen, "engine %s cannot run write-through: %s", eng,
			 strerror(-ret));
	return ret;
}

/* up, step 4: the engine's events run, the rate sampler starts */
static void res_events_add(struct wbd_resource *r, uint64_t destaged_bytes)
{
	struct timeval sec = {.tv_sec = 1};

	if (r->ev_fd)
		event_add(r->ev_fd, NULL);
	res_rearm_timer(r);
	r->nsamples = 0;
	res_sample(r, destaged_bytes);
	event_add(r->ev_sample, &sec);
}

/* up, step 5: replication when the cluster has peers; the configured role
 * is the one at up (wbctl primary/secondary later); running: a resource
 * that has served writes alone, primary whatever the file says */
static int res_start_repl(struct wbd_resource *r, bool running, char *err, size_t errlen)
{
	const struct wbconf_resource *c = r->conf;
	int ret;

	r->writes_off = false;
	if (!r->renv || !wbd_repl_npeers(r->renv->conf, c))
		return 0;
	struct wbd_repl_opts o = {.res = r->name,
				  .e = r->engine,
				  .primary = running || c->role != WBCONF_ROLE_SECONDARY,
				  .protocol = c->protocol,
				  .ack_memory = c->ack == WBCONF_ACK_MEMORY,
				  .min_peers = c->wb_min_peers,
				  .after_sb = c->after_sb_1pri,
				  .after_sb0 = c->after_sb_0pri,
				  .backing = r->backing,
				  .resync_rate = c->resync_rate,
				  .resync_checksum = c->resync_checksum,
				  .c_min_rate = c->c_min_rate,
				  .c_delay_target_ms = c->c_delay_target_ms,
				  .resync_after = c->resync_after,
				  .before_target = c->before_resync_target,
				  .backing_path = c->backing,
				  .sndq_max = c->send_queue_max,
				  .ping_timeout_ms = c->ping_timeout_ms,
				  .changed = res_peers_changed,
				  .arg = r};

	ret = wbd_repl_new(r->base, r->renv, &o, &r->repl);
	if (ret) {
		snprintf(err, errlen, "cannot start replication: %s", strerror(-ret));
		return ret;
	}
	r->writes_off = !o.primary; /* a secondary's frontends refuse writes */
	return 0;
}

int wbd_resource_start_repl(struct wbd_resource *r, char *err, size_t errlen)
{
	int ret;

	if (r->state != WBD_RES_UP || r->repl)
		return 0;
	ret = res_start_repl(r, true, err, errlen);
	if (ret || !r->repl)
		return ret;
	wbd_info("%s: replication started with %u peer%s, as primary%s", r->name,
		 wbd_repl_nmembers(r->repl), wbd_repl_nmembers(r->repl) == 1 ? "" : "s",
		 r->conf->role == WBCONF_ROLE_SECONDARY
		     ? " (role = secondary in the file: used from the next up)"
		     : "");
	wbd_modectl_eval(r, "replication started");
	return 0;
}

int wbd_resource_up(struct wbd_resource *r, char *err, size_t errlen)
{
	const struct wbconf_resource *c = r->conf;
	const char *eng = engine_name(c);
	struct wb_engine_params p;
	struct wb_engine_stats st;
	int ret;

	if (r->state == WBD_RES_UP)
		return 0;
	err[0] = 0;
	if (!wb_engine_find(eng)) {
		snprintf(err, errlen, "engine \"%s\" is not available (wbrepd --list-engines)",
			 eng);
		ret = -ENOENT;
		goto out_fail;
	}
	ret = open_devices(c, &r->backing, &r->log, err, errlen);
	if (ret)
		goto out_fail;
	wbd_resource_params(c, &p);
	p.log_io = r->log;
	p.backing_io = r->backing;
	ret = res_open_engine(r, &p, err, errlen);
	if (ret)
		goto out_close;
	ret = wb_engine_stats(r->engine, &st);
	if (ret) {
		snprintf(err, errlen, "engine stats: %s", strerror(-ret));
		goto out_engine;
	}
	ret = res_events_new(r, st.size, err, errlen);
	if (!ret)
		ret = res_start_mode(r, &st, err, errlen);
	if (ret)
		goto out_events;
	res_events_add(r, st.destaged_bytes);
	ret = res_start_repl(r, false, err, errlen);
	if (ret)
		goto out_events;
	r->fail_reason[0] = 0;
	r->fail_told = false;
	r->read_errors = 0;
	wbd_modectl_up(r);     /* the mode and admission before any request */
	r->state = WBD_RES_UP; /* before the listeners: lookups see it up */
	ret = start_frontends(r, err, errlen);
	if (ret) {
		wbd_resource_down(r);
		goto out_fail;
	}
	wbd_info("%s: up (engine %s, %s: %s, %llu bytes, backing %s, log %s)", r->name, eng,
		 wbd_modectl_name(r->mc.mode), r->mc.reason, (unsigned long long)st.size,
		 c->backing ? c->backing : "-", c->log ? c->log : "-");
	r->last_error[0] = 0;
	return 0;
out_events:
	free_events(r);
out_engine:
	wb_engine_close(r->engine);
	r->engine = NULL;
out_close:
	wb_io_close(r->log);
	wb_io_close(r->backing);
	r->log = r->backing = NULL;
out_fail:
	r->state = WBD_RES_FAILED;
	snprintf(r->last_error, sizeof(r->last_error), "%s", err);
	wbd_err("%s: up failed: %s", r->name, err);
	return ret;
}

static int res_settled(void *arg)
{
	struct wbd_resource *r = arg;

	return !r->ex.inflight && !r->ctl_inflight && !wbd_resource_snap_inflight(r);
}

static int res_run_engine(void *arg)
{
	return wb_engine_run(((struct wbd_resource *)arg)->engine, 1);
}

void wbd_resource_down(struct wbd_resource *r)
{
	int ret;

	if (!r->engine) {
		if (r->state == WBD_RES_UP)
			r->state = WBD_RES_DOWN;
		stop_frontends(r);
		return;
	}
	wbd_info("%s: going down (%u NBD clients, %u requests in flight)", r->name, r->ex.nconns,
		 r->ex.inflight);
	wbd_resource_role_cancel(r);
	/* replies waiting for the peers fail: the peers may not have them
	 * (before the ring frontend's close, which waits for its requests) */
	wbd_repl_release_all(r->repl, -ESHUTDOWN);
	wbd_modectl_down(r); /* and what the mode policy held itself */
	stop_frontends(r);
	wbd_nbd_export_quiesce(&r->ex);
	wbd_resource_snap_quiesce(r);
	/* complete what is in flight (each request finishes in the engine) */
	wb_drain(res_settled, res_run_engine, r, WB_DRAIN_CLOSE_MS, r->name,
		 "stop: requests in flight");
	wbd_nbd_export_detach(&r->ex);
	wbd_resource_snap_detach(r);
	wbd_repl_free(r->repl);
	r->repl = NULL;
	ret = wb_engine_flush(r->engine);
	if (ret)
		wbd_err("%s: final flush failed: %s", r->name, strerror(-ret));
	free_events(r);
	wb_engine_close(r->engine);
	r->engine = NULL;
	wb_io_close(r->log);
	wb_io_close(r->backing);
	r->log = r->backing = NULL;
	r->state = WBD_RES_DOWN;
	r->mode_forced = -1;
	r->draining = false;
	wbd_info("%s: down", r->name);
}

struct res_flush {
	struct wb_req wr;
	struct wbd_resource *r;
	void (*done)(void *arg, int err);
	void *arg;
};

static void res_flush_done(struct wb_req *wr, int err)
{
	struct res_flush *f = (struct res_flush *)wr;

	f->r->ctl_inflight--;
	if (err)
		wbd_err("%s: flush failed: %s", f->r->name, strerror(-err));
	f->done(f->arg, err);
	free(f);
}

int wbd_resource_flush(struct wbd_resource *r, void (*done)(void *arg, int err), void *arg)
{
	struct res_flush *f;
	int ret;

	if (r->state != WBD_RES_UP || !r->engine)
		return -ENODEV;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->wr.op = WB_REQ_FLUSH;
	f->wr.done = res_flush_done;
	f->r = r;
	f->done = done;
	f->arg = arg;
	ret = wb_engine_submit(r->engine, &f->wr);
	if (ret) {
		wbd_err("%s: cannot submit a flush: %s", r->name, strerror(-ret));
		free(f);
		return ret;
	}
	r->ctl_inflight++;
	res_kick(r);
	return 0;
}

int wbd_resource_set_mode(struct wbd_resource *r, int mode)
{
	enum wb_mode want;

	if (r->state != WBD_RES_UP || !r->engine)
		return -ENODEV;
	want = mode < 0 ? res_conf_mode(r) : (enum wb_mode)mode;
	if (want == WB_MODE_WRITEBACK && !r->mc.wb_capable)
		return -EOPNOTSUPP;
	r->mode_forced = mode < 0 ? -1 : mode;
	wbd_info("%s: wbctl mode: %s (%s)", r->name, mode_name(want),
		 mode < 0 ? "cache-mode of the configuration" : "forced");
	/* a drain in progress finishes first and ends in the decided mode */
	wbd_modectl_eval(r, "wbctl mode");
	return 0;
}

void wbd_resource_conf_mode(struct wbd_resource *r)
{
	if (r->state != WBD_RES_UP || !r->engine)
		return;
	wbd_modectl_eval(r, "reload");
}

static void drain_flush_done(void *arg, int err)
{
	struct wbd_resource *r = arg;

	if (err) {
		r->draining = false;
		wbd_err("%s: drain stopped: its flush failed: %s", r->name, strerror(-err));
		return;
	}
	r->drain_flushed = true;
}

int wbd_resource_drain(struct wbd_resource *r)
{
	struct wb_engine_stats st;
	int ret;

	if (r->state != WBD_RES_UP || !r->engine)
		return -ENODEV;
	if (r->draining)
		return 0;
	ret = wb_engine_stats(r->engine, &st);
	if (ret)
		return ret;
	if (st.state != WB_STATE_OK)
		return -EIO;
	/* write-through: new writes are acked only once on backing, so the
	 * log only shrinks and the drain ends */
	ret = res_engine_mode(r, WB_MODE_WRITETHROUGH);
	if (ret)
		return ret;
	r->draining = true;
	r->drain_flushed = false;
	ret = wbd_resource_flush(r, drain_flush_done, r);
	if (ret) {
		r->draining = false;
		wbd_resource_sync_mode(r);
		return ret;
	}
	wbd_info("%s: drain: writing back %llu dirty bytes", r->name,
		 (unsigned long long)st.dirty_bytes);
	return 0;
}

int wbd_resource_stats(struct wbd_resource *r, struct wb_engine_stats *st)
{
	uint64_t now, dt;
	int ret;

	memset(st, 0, sizeof(*st));
	if (r->state != WBD_RES_UP || !r->engine)
		return -ENODEV;
	ret = wb_engine_stats(r->engine, st);
	if (ret)
		return ret;
	if (r->draining) {
		res_drain_check(r, st);
		if (!r->draining && (ret = wb_engine_stats(r->engine, st)))
			return ret;
	}
	/* the rate of the last seconds, not the engine's per-batch average:
	 * 0 (idle) when nothing moved */
	now = wb_now_ms();
	dt = r->nsamples ? now - r->samples[0].ms : 0;
	st->destage_rate = 0;
	if (dt && st->state == WB_STATE_OK && st->destaged_bytes > r->samples[0].bytes)
		st->destage_rate = (st->destaged_bytes - r->samples[0].bytes) * 1000 / dt;
	st->destage_eta_ms = st->destage_rate ? st->dirty_bytes * 1000 / st->destage_rate : 0;
	return 0;
}

void wbd_resource_note_error(struct wbd_resource *r, const char *msg)
{
	size_t n = strlen(r->name);

	if (!r->engine || r->fail_reason[0] || strncmp(msg, r->name, n) || msg[n] != ':')
		return;
	snprintf(r->fail_reason, sizeof(r->fail_reason), "%s", msg + n + 1 + (msg[n + 1] == ' '));
}
