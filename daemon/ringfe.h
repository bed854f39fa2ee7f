/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ringfe.h - the ring frontend of wbrepd: consumes requests that the dm-wbrep
 * kernel target (or tests/ringsim) posts on a shared submission ring, hands
 * them to an engine (wb_engine_submit) and posts the completions on the
 * completion ring. ABI: kmod/uapi/wbrep_ring.h, docs/ring-abi.md.
 *
 * libevent driven, like the NBD frontend. With io loops running
 * (daemon/ioloop.h, wbrepd) and a base given at open, the rings live on an
 * io loop: it takes SQEs, copies each write's payload into the engine's
 * RAM-buffer pages with its crc32c and writes CQEs, while admission, the
 * engine and the replication gate stay on the engine loop (the caller's);
 * without io loops (base NULL, or none started: unit tests, ringsim,
 * tests/vm/wbringd) both run on the caller's thread. The frontend does not
 * run the engine: after it submitted requests it calls the owner's
 * kick(ctx) so the owner runs wb_engine_run() (the engine may complete
 * without its fd becoming readable first). wbrepd's owner is the resource
 * (daemon/ringfe_keeper.h); test programs use tests/ringsim/engdrv.h.
 * Every function here is called on the engine side (the caller's thread).
 *
 * Files: ringfe.c (the frontend), ringfe_sqe.c (the parser of producer
 * input), ringfe_kern.c (the kernel transport), ringfe_genl.c (netlink
 * status and events, ringfe_genl.h), ringfe_keeper.c (one resource's ring).
 *
 * Every SQE is untrusted input: wbd_ringfe_parse_sqe() validates it against
 * the geometry before anything is touched; a bad entry with a usable tag is
 * completed with -EINVAL, one without is dropped (and counted).
 *
 * Ownership: the caller owns the engine and must keep it open until
 * wbd_ringfe_close() returned and, if close left requests in the engine,
 * until the engine completed them (closing the engine does). Close drains
 * requests in flight by running the engine; requests it cannot finish keep
 * the frontend (its slots) and the transport (fd + mappings, their buffers
 * point there) alive: the last completion frees both. With io loops the
 * transport is released on the io loop shortly after close returns (an
 * attach to the same ring right after it may see -EBUSY: retry). SQEs taken
 * but not submitted when close runs get no CQE: the kernel re-issues them
 * to the next session. The frontend owns the transport from a successful
 * open/attach on. The gone hook must not close the frontend itself (defer:
 * the keeper and wbringd use a zero timer).
 */
#ifndef WB_DAEMON_RINGFE_H
#define WB_DAEMON_RINGFE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/wbengine.h"
#include "wbrep_ring.h"

struct event_base;
struct event;
struct wbd_ringfe;

/* Where the shared memory comes from: the kernel (wbd_ringfe_attach) or a
 * simulator (tests/ringsim). */
struct wbd_ringfe_transport {
	struct wbrep_attach geo; /* geometry and region sizes */
	void *sq, *cq, *data;	 /* mapped regions (sq read-only) */
	int fd;			 /* POLLIN: SQEs may wait; POLLERR/HUP: gone */
	/* CQEs were published; < 0 (-ESHUTDOWN) when the session is gone */
	int (*kick)(void *ctx);
	void (*drain)(void *ctx);   /* clear fd readiness (eventfd), may be NULL */
	void (*release)(void *ctx); /* unmap/close, once closed and nothing in flight */
	void *ctx;
};

struct wbd_ringfe_stats {
	uint64_t submitted, completed, errors; /* errors: CQEs with result < 0 */
	uint64_t bad_sqes, reissued, kicks;
	uint64_t reads, writes, flushes, discards, write_zeroes, fua, preflush;
	uint64_t paged; /* writes whose payload the io side put into RAM-buffer pages */
	uint32_t inflight;
	uint32_t gone; /* session fenced / detached / ring removed */
};

/* Attach to kernel ring `ring_name` through /dev/wbrep-ctl (ringfe_kern.c).
 * verbose: log a failure to open the device or to attach (a caller that
 * retries logs those itself, once per reason). */
int wbd_ringfe_attach(struct event_base *base, const char *ring_name, struct wb_engine *e,
		      struct wbd_ringfe **out, bool verbose);
/* Same, over an already set-up transport (copied; its release() is called
 * after wbd_ringfe_close once no request is in flight, or right here on
 * failure). */
int wbd_ringfe_open(struct event_base *base, const struct wbd_ringfe_transport *t,
		    struct wb_engine *e, struct wbd_ringfe **out);
void wbd_ringfe_close(struct wbd_ringfe *fe);

/*
 * Replication gate (daemon/repl.h), optional: writable(ctx) false makes
 * writes, discards and write-zeroes fail with -EROFS before the engine (a
 * secondary, a demotion in progress); hold(ctx, wr, release) is offered
 * every write, discard, write-zeroes and flush that completed without
 * error: true = its completion waits until the owner calls release(wr,
 * err) (the peers have it), like wbd_nbd_export.hold. Held requests count as
 * in flight.
 */
struct wbd_ringfe_gate {
	bool (*writable)(void *ctx);
	bool (*hold)(void *ctx, struct wb_req *wr, void (*release)(struct wb_req *wr, int err));
	/* Optional: a read failed with err; true = taken, release(wr, err)
	 * follows (0: wr->buf was read from a replication peer) */
	bool (*reread)(void *ctx, struct wb_req *wr, int err,
		       void (*release)(struct wb_req *wr, int err));
	/* Optional, admission of new requests (the mode policy,
	 * daemon/modectl.h): enum wbd_ringfe_admit. HOLD = suspended: SQEs are
	 * taken but wait in the frontend, not in the engine (bounded by the
	 * ring's slots; the kernel queues behind them) until the owner calls
	 * wbd_ringfe_process (wbd_ringfe_keeper_admit in wbrepd); FAIL =
	 * each new SQE completes with -EIO before the engine. */
	int (*admit)(void *ctx);
	void *ctx;
};
enum wbd_ringfe_admit {
	WBD_RINGFE_ADMIT_OPEN = 0,
	WBD_RINGFE_ADMIT_HOLD = 1,
	WBD_RINGFE_ADMIT_FAIL = 2,
};
void wbd_ringfe_set_gate(struct wbd_ringfe *fe, const struct wbd_ringfe_gate *gate);

/* Owner hooks: kick = "run the engine", gone = the session ended (the owner
 * usually closes this frontend and attaches again). */
void wbd_ringfe_set_kick(struct wbd_ringfe *fe, void (*kick)(void *ctx), void *ctx);
void wbd_ringfe_set_gone(struct wbd_ringfe *fe, void (*gone)(struct wbd_ringfe *fe, void *ctx),
			 void *ctx);

/* Consume every visible SQE now (also called from the fd event) and submit
 * what admission held; with io loops (which consume the ring themselves)
 * only the latter. Returns the number submitted or -errno (-ESHUTDOWN once
 * gone). */
int wbd_ringfe_process(struct wbd_ringfe *fe);
/* Publish completions now (normally deferred to one kick per loop turn).
 * Without io loops only. */
int wbd_ringfe_flush(struct wbd_ringfe *fe);
void wbd_ringfe_get_stats(const struct wbd_ringfe *fe, struct wbd_ringfe_stats *st);

/* The geometry the transport announced (validated at open). */
const struct wbrep_attach *wbd_ringfe_geo(const struct wbd_ringfe *fe);

/* ringfe_sqe.c: the producer's input, untrusted.
 * Validate one SQE against a geometry and fill in an engine request
 * (op, flags, off, len, buf = data + slot offset). Returns the slot index
 * (>= 0) or -EINVAL; *slot_ok says whether the tag names a valid slot. */
int wbd_ringfe_parse_sqe(const struct wbrep_sqe *sqe, const struct wbrep_attach *geo, void *data,
			 struct wb_req *r, int *slot_ok);
/* A transport's geometry and ring header agree with each other and with the
 * ABI limits: 0 or -EPROTO. */
int wbd_ringfe_check_geo(const struct wbd_ringfe_transport *t);

#endif /* WB_DAEMON_RINGFE_H */
