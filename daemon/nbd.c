// SPDX-License-Identifier: GPL-2.0-only
/*
 * nbd.c - NBD server: connections, their I/O and the transmission state
 * machine on the libevent loop, requests submitted to the engine
 * asynchronously (see nbd.h for ownership, docs/nbd.md for the decisions).
 * Listeners are nbd_listen.c; the handshake before transmission (greeting,
 * client flags, options) is nbd_opt.c; after STARTTLS the socket I/O goes
 * through nbd_tls.c; what they share is in nbd_int.h.
 *
 * Socket I/O is done here, not by bufferevents (libevent 2.1 reads at most
 * 4 KiB per loop round through one): a readable socket is read with large
 * readv()s into a flat input buffer, every complete request in it is parsed
 * and sent to the engine loop before the loop runs again, and a write
 * payload that is not fully buffered is read straight into its request's
 * payload buffer. Replies are appended to an output evbuffer and sent with
 * one sendmsg() per loop round (a deferred "flush" event coalesces the
 * replies of one batch of completions); a write event is added only when
 * the socket is full.
 *
 * Threads (nbd_int.h, docs/daemon.md "Threads"): accept and handshake run on
 * the engine loop; at attach the connection moves to an io loop. A request
 * (struct wbd_nbd_ioreq) is built on the io loop, posted to the engine loop
 * (eng_req: admission, submit), completed there (ioreq_done, after the
 * peers when replication holds it) and posted back (io_req_done: reply).
 * The engine loop reaches a moved connection only by ctl_msg (conn_ctl);
 * the io loop tells the engine loop that its socket closed by closed_msg.
 *
 * Owns: connections (refcounted), their input/payload buffers,
 * in-flight request structs and their data buffers (a write's payload is
 * freed on the engine loop once the engine copied it; read data is handed
 * to the output evbuffer by reference and freed by libevent once sent).
 */
#include "daemon/nbd_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "daemon/ioloop.h"
#include "daemon/repl.h"
#include "daemon/wbd_log.h"
#include "engine/pagebuf.h"

#define WBD_NBD_READ_ROUNDS 16 /* readv()s per wakeup at most (fairness) */
#define WBD_NBD_WRITE_IOV   64 /* iovecs per sendmsg() */

struct wbd_nbd_ioreq {
	struct wb_req wr;
	struct wbd_ioloop_msg m; /* io -> engine (eng_req), then back (io_req_done) */
	struct wbd_nbd_conn *c;
	struct wbd_nbd_export *ex; /* dereferenced on the engine loop only */
	struct wbd_nbd_ioreq *park_next;
	uint64_t handle;
	uint32_t gen; /* c->ex_gen */
	uint16_t type;
	bool quiet;	/* answered without the engine: its error is not logged */
	int err;	/* completion, for the io loop */
	uint32_t reply; /* bytes this request's reply takes (in c->reply_pending) */
	uint32_t wpay;	/* write payload bytes (in c->wpay_pending) */
	void *buf;	/* read data, or the write payload until the engine copied it */
	/* write in pages (c->pay_in_pages): the pages until the engine took
	 * them (npages = 0 from then on); released if it never does */
	uint32_t npages;
	struct wb_page **pages;
	struct wbd_nbd_wpar *par;  /* a chunk of this write (io loop only) */
	struct wbd_repl_fast fast; /* its reply may go from the io loop (ex->hold_fast) */
	/* write: crc32c of each 4 KiB block of a payload in buf, computed here
	 * on the io loop (wb_req.crcs), so that the engine loop does not; or
	 * the page pointers of a payload in pages (each with its crc) */
	uint64_t tail[];
};

/*
 * io loop: an NBD write longer than a chunk (conn pg_max blocks), sent to
 * the engine as one request per chunk as each chunk is read. left counts
 * the chunks in flight plus one while the connection still reads the
 * payload (c->par); the reply goes out when it reaches 0, with the first
 * error of any chunk. A chunk's reply bytes are the parent's (counted once
 * in c->reply_pending).
 */
struct wbd_nbd_wpar {
	uint64_t handle;
	uint32_t left;
	int err;
};

/* engine loop */
static struct wbd_nbd_conn *conn_all;
static unsigned conn_count, conn_max; /* on conn_all; 0 = no limit */
static time_t refuse_log;	      /* over conn_max: last message */
static unsigned long nrefused;	      /* refused since that message */
static uint32_t export_gen;
/* each io loop's connections, and those waiting for room in its queue */
static _Thread_local struct wbd_nbd_conn *io_conns, *io_qwait;

void wbd_nbd_set_max_clients(unsigned total)
{
	conn_max = total;
}

static void conn_process(struct wbd_nbd_conn *c);
static void conn_flush(struct wbd_nbd_conn *c);
static void conn_unthrottle(struct wbd_nbd_conn *c);
static void par_end(struct wbd_nbd_conn *c, int err);

static void conn_put(struct wbd_nbd_conn *c)
{
	if (--c->refs > 0)
		return;
	wb_pagebuf_unref(c->pb); /* every page of it was released or submitted */
	free(c->wpg);
	free(c->ibuf);
	free(c->wbuf);
	free(c->spare);
	free(c);
}

/* engine loop */
static void conn_unlink_export(struct wbd_nbd_conn *c)
{
	if (!c->ex_linked)
		return;
	*c->ex_pprev = c->ex_next;
	if (c->ex_next)
		c->ex_next->ex_pprev = c->ex_pprev;
	c->ex->nconns--;
	c->ex_linked = false;
}

/* engine loop: the socket is gone; drop the connection's place in the
 * lists and the socket's reference */
static void conn_forget(struct wbd_nbd_conn *c)
{
	conn_unlink_export(c);
	*c->all_pprev = c->all_next;
	if (c->all_next)
		c->all_next->all_pprev = c->all_pprev;
	conn_count--;
	conn_put(c);
}

static void eng_closed(struct wbd_ioloop_msg *m)
{
	conn_forget((struct wbd_nbd_conn *)((char *)m - offsetof(struct wbd_nbd_conn, closed_msg)));
}

void wbd_nbd_conn_attach(struct wbd_nbd_conn *c, struct wbd_nbd_export *ex)
{
	if (c->tev) { /* the handshake is over */
		event_free(c->tev);
		c->tev = NULL;
	}
	c->ex = ex;
	c->ex_next = ex->conns;
	if (ex->conns)
		ex->conns->ex_pprev = &c->ex_next;
	ex->conns = c;
	c->ex_pprev = &ex->conns;
	c->ex_linked = true;
	ex->nconns++;
	wbd_debug("nbd: %s attached to export %s (%u clients)", c->peer, ex->name, ex->nconns);
	/* move to an io loop once this loop round is done with it (conn_flushcb):
	 * nothing more is read or parsed here */
	c->migrate = true;
	c->throttled = true;
	if (c->rev)
		event_del(c->rev);
	if (!c->flush_sched) {
		c->flush_sched = true;
		event_active(c->fev, EV_TIMEOUT, 0);
	}
}

static void conn_free_io(struct wbd_nbd_conn *c)
{
	if (c->rev)
		event_free(c->rev);
	if (c->wev)
		event_free(c->wev);
	if (c->fev)
		event_free(c->fev);
	if (c->tev)
		event_free(c->tev);
	c->tev = NULL;
	if (c->out)
		evbuffer_free(c->out);
	c->rev = c->wev = c->fev = NULL;
	c->out = NULL;
	wbd_nbd_tls_free(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* io loop: give back the pages reserved for a payload not finished */
static void conn_drop_pages(struct wbd_nbd_conn *c)
{
	if (!c->wpg_n)
		return;
	wb_pagebuf_release(c->pb, c->wpg, c->wpg_n);
	c->wpg_n = 0;
	c->pay_in_pages = false;
}

/* Drop the socket now; in-flight requests keep the struct alive. */
void wbd_nbd_conn_close(struct wbd_nbd_conn *c)
{
	if (c->fd < 0)
		return;
	wbd_debug("nbd: %s closed (%u requests in flight)", c->peer, c->inflight);
	conn_free_io(c);
	conn_drop_pages(c);
	par_end(c, -ESHUTDOWN); /* no reply: the socket is gone */
	c->state = WBD_NBD_CS_CLOSING;
	if (!c->loop) {
		conn_forget(c);
		return;
	}
	*c->io_pprev = c->io_next;
	if (c->io_next)
		c->io_next->io_pprev = c->io_pprev;
	/* the socket's reference goes with the message */
	c->closed_msg.fn = eng_closed;
	wbd_ioloop_post_engine(c->loop, &c->closed_msg);
}

static void conn_stop_reading(struct wbd_nbd_conn *c)
{
	if (c->rev)
		event_del(c->rev);
}

/* Close once the output is sent and nothing is in flight. */
void wbd_nbd_conn_close_soon(struct wbd_nbd_conn *c)
{
	if (c->fd < 0)
		return;
	c->state = WBD_NBD_CS_CLOSING;
	conn_stop_reading(c);
	if (!c->inflight && !evbuffer_get_length(c->out))
		wbd_nbd_conn_close(c);
}

/* Queue output; it is sent when the current loop round's callbacks are done. */
void wbd_nbd_conn_send(struct wbd_nbd_conn *c, const void *p, size_t len)
{
	if (c->fd < 0)
		return;
	if (evbuffer_add(c->out, p, len)) {
		wbd_err("nbd: %s: out of memory queueing %zu bytes of output, closing", c->peer,
			len);
		wbd_nbd_conn_close(c);
		return;
	}
	if (!c->flush_sched && !c->wev_added) {
		c->flush_sched = true;
		event_active(c->fev, EV_TIMEOUT, 0);
	}
}

static uint32_t errno_to_nbd(int err)
{
	switch (err) {
	case 0:
		return 0;
	case -EPERM:
	case -EROFS:
		return NBDP_EPERM;
	case -ENOMEM:
		return NBDP_ENOMEM;
	case -EINVAL:
		return NBDP_EINVAL;
	case -ENOSPC:
		return NBDP_ENOSPC;
	case -EOVERFLOW:
		return NBDP_EOVERFLOW;
	case -ENOTSUP:
		return NBDP_ENOTSUP;
	case -ESHUTDOWN:
		return NBDP_ESHUTDOWN;
	default:
		return NBDP_EIO;
	}
}

static void simple_reply(struct wbd_nbd_conn *c, uint32_t err, uint64_t handle)
{
	uint8_t b[NBDP_SIMPLE_REPLY_LEN];

	wbd_nbd_encode_simple_reply(b, err, handle);
	wbd_nbd_conn_send(c, b, sizeof(b));
}

/* io loop: one reference of a chunked write is done (err: its result) */
static void par_put(struct wbd_nbd_conn *c, struct wbd_nbd_wpar *p, int err)
{
	if (err && !p->err)
		p->err = err;
	if (--p->left)
		return;
	c->reply_pending -= NBDP_SIMPLE_REPLY_LEN;
	if (c->fd >= 0)
		simple_reply(c, errno_to_nbd(p->err), p->handle);
	free(p);
}

/* io loop: the connection reads no more of the chunked write c->par
 * (all of it was sent, or the rest is refused with err) */
static void par_end(struct wbd_nbd_conn *c, int err)
{
	struct wbd_nbd_wpar *p = c->par;

	c->par = NULL;
	if (p)
		par_put(c, p, err);
}

static void free_ref(const void *data, size_t len, void *extra)
{
	free((void *)data);
}

/* Reply bytes the connection holds or will hold: queued output plus the
 * replies of requests in flight (read data included). */
static uint64_t conn_reply_bytes(struct wbd_nbd_conn *c)
{
	return evbuffer_get_length(c->out) + c->reply_pending;
}

static bool conn_congested(struct wbd_nbd_conn *c)
{
	if (c->state != WBD_NBD_CS_XMIT) /* handshake: only its replies count */
		return evbuffer_get_length(c->out) >= WBD_NBD_OPT_REPLY_CAP;
	return c->inflight >= WBD_NBD_SRV_MAX_INFLIGHT ||
	       conn_reply_bytes(c) >= WBD_NBD_REPLY_CAP || c->wpay_pending >= WBD_NBD_WPAY_CAP ||
	       atomic_load(&c->hold) || (c->loop && wbd_ioloop_engine_busy(c->loop));
}

static void conn_throttle(struct wbd_nbd_conn *c)
{
	c->throttled = true;
	conn_stop_reading(c);
	/* the queue to the engine loop is full: resumed by io_space() */
	if (c->loop && !c->on_qwait && wbd_ioloop_engine_busy(c->loop)) {
		c->on_qwait = true;
		c->refs++;
		c->qw_next = io_qwait;
		io_qwait = c;
	}
}

static void conn_unthrottle(struct wbd_nbd_conn *c)
{
	if (c->fd < 0 || !c->throttled || c->migrate || c->state == WBD_NBD_CS_CLOSING ||
	    conn_congested(c))
		return;
	if (c->state == WBD_NBD_CS_XMIT && c->quiesced)
		return; /* quiesced: stays stopped */
	c->throttled = false;
	event_add(c->rev, NULL);
	conn_process(c); /* input that arrived meanwhile is already buffered */
	wbd_nbd_tls_kick(c);
}

/* io loop: the queue to the engine loop has room again */
static void io_space(void)
{
	struct wbd_nbd_conn *c = io_qwait;

	io_qwait = NULL;
	while (c) {
		struct wbd_nbd_conn *next = c->qw_next;

		c->on_qwait = false;
		c->qw_next = NULL;
		conn_unthrottle(c);
		conn_put(c);
		c = next;
	}
}

static void io_req_done(struct wbd_ioloop_msg *m);

/* engine loop: hand the completion to the connection's io loop */
static void eng_complete(struct wbd_nbd_ioreq *q, int err)
{
	if (q->npages) { /* refused before the engine took them */
		wb_pagebuf_release(q->c->pb, q->pages, q->npages);
		q->npages = 0;
	}
	q->err = err;
	q->m.fn = io_req_done;
	wbd_ioloop_post(q->c->loop, &q->m);
}

static void ioreq_finish(struct wb_req *wr, int err);
static void io_fast_reply(struct wbd_repl_fast *f);
static void eng_fast_after(void *arg);

/* engine loop, from wb_engine_run() */
static void ioreq_done(struct wb_req *wr, int err)
{
	struct wbd_nbd_ioreq *q = (struct wbd_nbd_ioreq *)wr;

	/* replication: the reply may have to wait for the peers (ex->hold),
	 * and may then go from the connection's io loop (ex->hold_fast) */
	if (!err && q->type != NBDP_CMD_READ && q->ex->hold_fast) {
		q->fast.loop = q->c->loop;
		q->fast.io_reply = io_fast_reply;
		q->fast.eng_after = eng_fast_after;
		q->fast.eng_arg = q->ex;
		if (q->ex->hold_fast(q->ex->ctx, wr, ioreq_finish, &q->fast))
			return;
	} else if (!err && q->type != NBDP_CMD_READ && q->ex->hold &&
		   q->ex->hold(q->ex->ctx, wr, ioreq_finish)) {
		return;
	} else if (err && q->type == NBDP_CMD_READ && q->ex->reread &&
		   q->ex->reread(q->ex->ctx, wr, err, ioreq_finish)) {
		return; /* a peer may have the blocks */
	}
	ioreq_finish(wr, err);
}

/* io loop: a held reply the peers' ack released here (repl.c, "Replies
 * released on the io loop"); eng_fast_after is ioreq_finish's engine part */
static void io_fast_reply(struct wbd_repl_fast *f)
{
	struct wbd_nbd_ioreq *q =
	    (struct wbd_nbd_ioreq *)((char *)f - offsetof(struct wbd_nbd_ioreq, fast));

	q->err = 0;
	io_req_done(&q->m);
}

static void eng_fast_after(void *arg)
{
	struct wbd_nbd_export *ex = arg;

	ex->inflight--;
}

/* engine loop: done (and released by the peers, if they held it) */
static void ioreq_finish(struct wb_req *wr, int err)
{
	struct wbd_nbd_ioreq *q = (struct wbd_nbd_ioreq *)wr;

	q->ex->inflight--;
	if (err)
		q->ex->nerr++;
	/* the reply is queued only from here: what the engine promises for
	 * this request (durable for FUA/FLUSH) is true now, and the io loop
	 * sends it after this point */
	eng_complete(q, err);
}

/* io loop: a completion from the engine loop */
static void io_req_done(struct wbd_ioloop_msg *m)
{
	struct wbd_nbd_ioreq *q =
	    (struct wbd_nbd_ioreq *)((char *)m - offsetof(struct wbd_nbd_ioreq, m));
	struct wb_req *wr = &q->wr;
	struct wbd_nbd_conn *c = q->c;
	int err = q->err;
	uint32_t nerr = errno_to_nbd(err);

	if (err && !q->quiet)
		wbd_log(err == -ESHUTDOWN ? WB_LOG_DEBUG : WB_LOG_WARN,
			"nbd: %s %s off %llu len %u failed: %s", c->peer, wbd_nbd_cmd_name(q->type),
			(unsigned long long)wr->off, wr->len, strerror(-err));
	c->inflight--;
	c->reply_pending -= q->reply;
	c->wpay_pending -= q->wpay;
	if (q->par)
		par_put(c, q->par, err); /* replies once every chunk is done */
	if (c->fd >= 0) {
		if (!q->par)
			simple_reply(c, nerr, q->handle);
		if (q->type == NBDP_CMD_READ && !err && c->fd >= 0) {
			if (evbuffer_add_reference(c->out, q->buf, wr->len, free_ref, NULL)) {
				wbd_err("nbd: %s: out of memory queueing read data, closing",
					c->peer);
				wbd_nbd_conn_close(c);
			} else {
				q->buf = NULL;
			}
		}
		if (q->type == NBDP_CMD_WRITE && !c->spare && q->wpay <= WBD_NBD_SPARE_MAX) {
			c->spare = q->buf; /* the next payload up to this size */
			c->spare_len = q->wpay;
			q->buf = NULL;
		}
		if (c->state == WBD_NBD_CS_CLOSING)
			wbd_nbd_conn_close_soon(c);
		else
			conn_unthrottle(c);
	}
	free(q->buf);
	free(q);
	conn_put(c);
}

/* engine loop: submit an admitted request */
static void eng_exec(struct wbd_nbd_ioreq *q)
{
	struct wbd_nbd_export *ex = q->ex;
	int ret;

	if (!q->wr.len && q->type != NBDP_CMD_FLUSH) {
		q->quiet = true;
		eng_complete(q, 0);
		return;
	}
	if ((q->type == NBDP_CMD_WRITE || q->type == NBDP_CMD_TRIM ||
	     q->type == NBDP_CMD_WRITE_ZEROES) &&
	    ex->writable && !ex->writable(ex->ctx)) {
		ret = -EROFS;
		goto out_refused;
	}
	ex->inflight++;
	ex->nreq++;
	/* ex->kick below runs the engine once this batch of messages is done */
	if (ex->kick)
		q->wr.flags |= WB_REQ_F_RUN_AFTER;
	ret = wb_engine_submit(ex->engine, &q->wr);
	if (ret) {
		ex->inflight--;
		ex->nreq--;
		goto out_refused;
	}
	q->npages = 0; /* the engine owns the page references now */
	if (ex->kick)
		ex->kick(ex->ctx);
	return;
out_refused:
	wbd_warn("nbd: %s %s off %llu len %u: submit failed: %s", q->c->peer,
		 wbd_nbd_cmd_name(q->type), (unsigned long long)q->wr.off, q->wr.len,
		 strerror(-ret));
	q->quiet = true;
	eng_complete(q, ret);
}

/* engine loop: a request from an io loop */
static void eng_req(struct wbd_ioloop_msg *m)
{
	struct wbd_nbd_ioreq *q =
	    (struct wbd_nbd_ioreq *)((char *)m - offsetof(struct wbd_nbd_ioreq, m));
	struct wbd_nbd_export *ex = q->ex;

	q->quiet = true;
	if (q->gen != ex->gen || ex->closing || !ex->engine) {
		eng_complete(q, -ESHUTDOWN);
		return;
	}
	if (ex->admit == WBD_NBD_ADMIT_FAIL) { /* no quorum, on-no-quorum = io-error */
		ex->nerr++;
		eng_complete(q, -EIO);
		return;
	}
	if (ex->admit == WBD_NBD_ADMIT_HOLD) { /* suspended: waits, in order */
		q->park_next = NULL;
		if (ex->park_tail)
			ex->park_tail->park_next = q;
		else
			ex->park_head = q;
		ex->park_tail = q;
		return;
	}
	q->quiet = false;
	eng_exec(q);
}

/* engine loop: the requests that waited on hold go on (open), fail (fail)
 * or are refused (closing) */
static void export_unpark(struct wbd_nbd_export *ex)
{
	while (ex->park_head && ex->admit != WBD_NBD_ADMIT_HOLD) {
		struct wbd_nbd_ioreq *q = ex->park_head;

		ex->park_head = q->park_next;
		if (!ex->park_head)
			ex->park_tail = NULL;
		eng_req(&q->m);
	}
}

/* io loop: a request to the engine loop */
static int submit(struct wbd_nbd_conn *c, const struct wbd_nbd_request *h, void *payload)
{
	size_t nblk = h->type == NBDP_CMD_WRITE ? h->len / WB_BLOCK_SIZE : 0;
	struct wbd_nbd_ioreq *q;

	q = calloc(1, sizeof(*q) + nblk * sizeof(q->tail[0]));
	if (!q)
		return -ENOMEM;
	q->c = c;
	q->ex = c->ex;
	q->gen = c->ex_gen;
	q->handle = h->handle;
	q->type = h->type;
	q->par = c->par;
	if (q->par) /* a chunk: the parent's reply is counted once */
		q->par->left++;
	else
		q->reply = NBDP_SIMPLE_REPLY_LEN + (h->type == NBDP_CMD_READ ? h->len : 0);
	q->wr.off = h->off;
	q->wr.len = h->len;
	q->wr.done = ioreq_done;
	switch (h->type) {
	case NBDP_CMD_READ:
		q->wr.op = WB_REQ_READ;
		q->wr.snap = c->snap;
		if (posix_memalign(&q->buf, WB_BLOCK_SIZE, h->len)) {
			free(q);
			return -ENOMEM;
		}
		q->wr.buf = q->buf;
		break;
	case NBDP_CMD_WRITE:
		q->wr.op = WB_REQ_WRITE;
		if (!payload && nblk && c->wpg_n == nblk) { /* in RAM-buffer pages (ABI 9) */
			q->pages = (struct wb_page **)q->tail;
			for (size_t i = 0; i < nblk; i++) {
				struct wb_page *pg = c->wpg[i];

				pg->crc = wb_crc32c(0, pg->data, WB_BLOCK_SIZE);
				pg->crc_ok = 1;
				q->pages[i] = pg;
			}
			q->npages = (uint32_t)nblk;
			c->wpg_n = 0;
			q->wr.pages = q->pages;
			break;
		}
		/* the request's own buffer, borrowed by the engine until done
		 * (no admitted callback); back on this loop it is freed or kept
		 * for the next payload (io_req_done) */
		q->buf = payload;
		q->wpay = h->len;
		q->wr.buf = payload;
		/* lengths are multiples of 4 KiB here (classify_request) */
		{
			uint32_t *crcs = (uint32_t *)q->tail;

			for (size_t i = 0; i < nblk; i++)
				crcs[i] = wb_crc32c(0, (const uint8_t *)payload + i * WB_BLOCK_SIZE,
						    WB_BLOCK_SIZE);
			q->wr.crcs = crcs;
		}
		break;
	case NBDP_CMD_FLUSH:
		q->wr.op = WB_REQ_FLUSH;
		break;
	case NBDP_CMD_TRIM:
		q->wr.op = WB_REQ_DISCARD;
		break;
	case NBDP_CMD_WRITE_ZEROES:
		q->wr.op = WB_REQ_WRITE_ZEROES;
		break;
	}
	if (h->flags & NBDP_CMD_FLAG_FUA)
		q->wr.flags |= WB_REQ_F_FUA;
	/* the request's reference on the connection, dropped by io_req_done */
	c->refs++;
	c->inflight++;
	c->reply_pending += q->reply;
	c->wpay_pending += q->wpay;
	q->m.fn = eng_req;
	wbd_ioloop_post_engine(c->loop, &q->m);
	return 0;
}

/* Execute a complete request (header + payload, which it takes). */
static void exec_request(struct wbd_nbd_conn *c, const struct wbd_nbd_request *h,
			 const struct wbd_nbd_verdict *v, void *payload)
{
	int ret;

	if (c->par) {
		/* the rest of a chunked write after a quiesce (io_ctl): read,
		 * dropped, refused; the chunks sent before finish normally */
		free(payload);
		conn_drop_pages(c);
		par_end(c, -ESHUTDOWN);
		return;
	}
	if (v->err) {
		free(payload);
		conn_drop_pages(c);
		wbd_debug("nbd: %s %s off %llu len %u flags 0x%x rejected: error %u", c->peer,
			  wbd_nbd_cmd_name(h->type), (unsigned long long)h->off, h->len, h->flags,
			  v->err);
		simple_reply(c, v->err, h->handle);
		if (v->disconnect)
			wbd_nbd_conn_close_soon(c);
		return;
	}
	if (v->disconnect) { /* NBDP_CMD_DISC: finish what is in flight, close */
		free(payload);
		conn_drop_pages(c);
		wbd_debug("nbd: %s sent disconnect", c->peer);
		wbd_nbd_conn_close_soon(c);
		return;
	}
	if (!c->loop || c->quiesced) {
		free(payload);
		conn_drop_pages(c);
		simple_reply(c, NBDP_ESHUTDOWN, h->handle);
		return;
	}
	/* admission (hold, io-error), zero lengths and writability are the
	 * engine loop's: eng_req */
	ret = submit(c, h, payload);
	if (ret) {
		free(payload);
		conn_drop_pages(c);
		wbd_warn("nbd: %s %s off %llu len %u: submit failed: %s", c->peer,
			 wbd_nbd_cmd_name(h->type), (unsigned long long)h->off, h->len,
			 strerror(-ret));
		simple_reply(c, errno_to_nbd(ret), h->handle);
	}
}

/* A payload buffer of its own for the request being read: the spare one
 * if it is large enough. */
static int new_wbuf(struct wbd_nbd_conn *c, size_t len)
{
	void *p;

	free(c->wbuf);
	c->wbuf = NULL;
	if (c->spare && c->spare_len >= len) {
		c->wbuf = c->spare;
		c->spare = NULL;
		return 0;
	}
	if (posix_memalign(&p, WB_BLOCK_SIZE, len))
		return -ENOMEM;
	c->wbuf = p;
	return 0;
}

/* The payload of hdr goes into RAM-buffer pages: a write the engine takes
 * in pages, in chunks of at most pg_max blocks (a chunk leaves the buffer
 * room for others). */
static bool use_pages(struct wbd_nbd_conn *c)
{
	return c->pb && c->hdr.type == NBDP_CMD_WRITE && !c->verdict.err &&
	       !c->verdict.disconnect && !c->quiesced && c->verdict.payload;
}

/* Reserve the pages of the next chunk of hdr's payload (from pay_base).
 * false: none free now; the connection stops reading until the engine loop
 * freed some (export_pages). */
static bool reserve_pages(struct wbd_nbd_conn *c)
{
	uint32_t n = (c->verdict.payload - c->pay_base) / WB_BLOCK_SIZE;

	if (n > c->pg_max)
		n = c->pg_max;
	/* set before the try: the engine loop, which clears the buffer's
	 * starved mark before it looks at want_pages, then sees one or the
	 * other and comes back */
	atomic_store(&c->want_pages, true);
	if (wb_pagebuf_reserve(c->pb, n, c->wpg)) {
		conn_throttle(c);
		return false;
	}
	atomic_store(&c->want_pages, false);
	c->wpg_n = n;
	c->pay_in_pages = true;
	return true;
}

/* A chunk of a write longer than one chunk is read: send it to the engine
 * as a request of its own (a chunk's reply is its parent's, c->par).
 * 0, or -1 when the connection was closed. */
static int chunk_submit(struct wbd_nbd_conn *c)
{
	struct wbd_nbd_request h = c->hdr;
	int ret;

	if (!c->par) {
		c->par = calloc(1, sizeof(*c->par));
		if (!c->par) {
			wbd_err("nbd: %s: out of memory for a %u byte write, closing", c->peer,
				c->hdr.len);
			wbd_nbd_conn_close(c);
			return -1;
		}
		c->par->handle = c->hdr.handle;
		c->par->left = 1; /* the reading's, par_end */
		c->reply_pending += NBDP_SIMPLE_REPLY_LEN;
	}
	h.off += c->pay_base;
	h.len = c->wpg_n * WB_BLOCK_SIZE;
	ret = submit(c, &h, NULL);
	if (ret) {
		wbd_err("nbd: %s: write off %llu len %u: submit failed: %s, closing", c->peer,
			(unsigned long long)h.off, h.len, strerror(-ret));
		wbd_nbd_conn_close(c); /* the rest of the payload cannot be skipped */
		return -1;
	}
	c->pay_base += h.len;
	return 0;
}

/* Copy n payload bytes into the pages at pay_got (of the chunk from
 * pay_base). */
static void pages_copy_in(struct wbd_nbd_conn *c, const uint8_t *src, size_t n)
{
	uint32_t at = c->pay_got - c->pay_base;

	while (n) {
		size_t off = at % WB_BLOCK_SIZE, k = WB_BLOCK_SIZE - off;

		if (k > n)
			k = n;
		memcpy((uint8_t *)c->wpg[at / WB_BLOCK_SIZE]->data + off, src, k);
		src += k;
		at += (uint32_t)k;
		n -= k;
	}
}

/* Transmission step; false = wait for more input. */
static bool step_xmit(struct wbd_nbd_conn *c)
{
	struct wbd_nbd_export_geom g;
	void *payload = NULL;
	uint32_t plen;

	if (!c->have_hdr) {
		if (wbd_nbd_conn_avail(c) < NBDP_REQUEST_LEN)
			return false;
		if (wbd_nbd_parse_request(c->ibuf + c->ioff, &c->hdr)) {
			wbd_info("nbd: %s: bad request magic, closing", c->peer);
			wbd_nbd_conn_close(c);
			return false;
		}
		c->ioff += NBDP_REQUEST_LEN;
		g.size = c->size;
		g.align = WB_BLOCK_SIZE;
		g.max_len = WBD_NBD_SRV_MAX_LEN;
		g.tflags = c->tflags;
		wbd_nbd_classify_request(&c->hdr, &g, &c->verdict);
		c->have_hdr = true;
		c->pay_got = 0;
		c->pay_base = 0;
		c->pay_in_wbuf = false;
	}
	if (!c->verdict.err && !c->verdict.disconnect && !c->pay_got) {
		/* its reply (and read data) must fit under the cap next to what
		 * is queued and in flight; one request always may go */
		uint64_t need = NBDP_SIMPLE_REPLY_LEN +
				(c->hdr.type == NBDP_CMD_READ ? (uint64_t)c->hdr.len : 0);
		uint64_t held = conn_reply_bytes(c);

		if (held && held + need > WBD_NBD_REPLY_CAP) {
			conn_throttle(c);
			return false; /* resumed by conn_unthrottle with hdr kept */
		}
		/* and its payload: next to the payloads in flight, unless
		 * it goes into RAM-buffer pages */
		if (!use_pages(c) && c->wpay_pending &&
		    c->wpay_pending + c->verdict.payload > WBD_NBD_WPAY_CAP) {
			conn_throttle(c);
			return false;
		}
	}
	plen = c->verdict.payload;
	/* the pages of the next chunk (the first, or the next of a long write) */
	if (use_pages(c) && !c->pay_in_pages && !c->pay_in_wbuf && c->pay_got < plen &&
	    !reserve_pages(c))
		return false; /* resumed by the engine loop (export_pages) */
	if (plen && c->pay_in_pages) {
		uint32_t end = c->pay_base + c->wpg_n * WB_BLOCK_SIZE;
		size_t n = end - c->pay_got;

		if (n > wbd_nbd_conn_avail(c))
			n = wbd_nbd_conn_avail(c);
		pages_copy_in(c, c->ibuf + c->ioff, n);
		c->ioff += n;
		c->pay_got += (uint32_t)n;
		if (c->pay_got < end)
			return false;	    /* the rest is read straight into the pages */
		c->pay_in_pages = false;    /* submit takes them */
		if (end < plen || c->par) { /* a chunk of a longer write */
			if (chunk_submit(c))
				return false;
			if (end < plen)
				return c->fd >= 0 && c->state == WBD_NBD_CS_XMIT;
			c->have_hdr = false;
			par_end(c, 0); /* the last chunk went: no more reading */
			return c->fd >= 0 && c->state == WBD_NBD_CS_XMIT;
		}
	} else if (plen) {
		{
			size_t n = plen - c->pay_got;

			if (!c->pay_in_wbuf) {
				if (new_wbuf(c, plen)) {
					wbd_err("nbd: %s: out of memory for a %u byte write",
						c->peer, plen);
					wbd_nbd_conn_close(c);
					return false;
				}
				c->pay_in_wbuf = true;
			}
			if (n > wbd_nbd_conn_avail(c))
				n = wbd_nbd_conn_avail(c);
			memcpy(c->wbuf + c->pay_got, c->ibuf + c->ioff, n);
			c->ioff += n;
			c->pay_got += (uint32_t)n;
			if (c->pay_got < plen)
				return false; /* the rest is read straight into wbuf */
			payload = c->wbuf;    /* the request takes it */
			c->wbuf = NULL;
		}
	}
	c->have_hdr = false;
	c->pay_in_wbuf = false;
	exec_request(c, &c->hdr, &c->verdict, payload);
	return c->fd >= 0 && c->state == WBD_NBD_CS_XMIT;
}

/* Parse and execute everything buffered, submit all of it, then kick the
 * engine once. */
static void conn_process(struct wbd_nbd_conn *c)
{

	if (c->processing || c->fd < 0)
		return;
	c->processing = true;
	c->refs++;
	for (;;) {
		if (c->fd < 0 || c->state == WBD_NBD_CS_CLOSING || c->migrate)
			break;
		if (conn_congested(c)) {
			conn_throttle(c);
			break;
		}
		if (c->state == WBD_NBD_CS_XMIT) {
			if (!step_xmit(c))
				break;
		} else if (!wbd_nbd_opt_step(c)) {
			break;
		}
	}
	c->processing = false;
	conn_put(c);
}

/* Make room in ibuf: consumed bytes are dropped, what is left moves to the
 * front when it is small or the free space is short. */
static void ibuf_compact(struct wbd_nbd_conn *c)
{
	size_t left = wbd_nbd_conn_avail(c);

	if (!c->ioff)
		return;
	if (!left) {
		c->ioff = c->ilen = 0;
	} else if (left <= 4096 || WBD_NBD_IBUF_CAP - c->ilen < WBD_NBD_IBUF_MIN_FREE) {
		memmove(c->ibuf, c->ibuf + c->ioff, left);
		c->ioff = 0;
		c->ilen = left;
	}
}

/* TLS: SSL_read into each buffer in turn (the pages of a payload, then
 * ibuf) until one comes back short: what the SSL read ahead (nbd_tls.c)
 * and what the socket holds, not one 4 KiB page per loop round. Returns
 * the bytes read, 0 = would block, -1 = the connection was closed. */
static ssize_t conn_tls_readv(struct wbd_nbd_conn *c, const struct iovec *iov, int niov)
{
	ssize_t n = 0;

	for (int i = 0; i < niov; i++) {
		size_t got = 0;

		while (got < iov[i].iov_len) {
			ssize_t r = wbd_nbd_tls_read(c, (uint8_t *)iov[i].iov_base + got,
						     iov[i].iov_len - got);

			if (r < 0)
				return -1; /* closed: what was read goes with it */
			if (!r)
				return n + (ssize_t)got;
			got += (size_t)r;
		}
		n += (ssize_t)got;
	}
	return n;
}

/* One readv(): the rest of a pending payload straight into wbuf, then as
 * much as fits into ibuf. Returns bytes read, 0 = would block, -1 = the
 * connection was closed, *full = the buffers were filled completely. */
static ssize_t conn_read_once(struct wbd_nbd_conn *c, bool *full)
{
	struct iovec iov[WBD_NBD_PAGES_MAX + 1];
	int niov = 0;
	size_t want = 0, pay = 0;
	ssize_t n;

	ibuf_compact(c);
	if (c->have_hdr && c->pay_in_wbuf) {
		pay = c->verdict.payload - c->pay_got;
		iov[niov].iov_base = c->wbuf + c->pay_got;
		iov[niov++].iov_len = pay;
		want += pay;
	} else if (c->have_hdr && c->pay_in_pages) {
		/* straight into the RAM buffer: the only copy of the payload
		 * (of the chunk in wpg, from pay_base) */
		uint32_t at = c->pay_got - c->pay_base, end = c->wpg_n * WB_BLOCK_SIZE;

		pay = end - at;
		while (at < end) {
			size_t off = at % WB_BLOCK_SIZE;

			iov[niov].iov_base = (uint8_t *)c->wpg[at / WB_BLOCK_SIZE]->data + off;
			iov[niov++].iov_len = WB_BLOCK_SIZE - off;
			at += (uint32_t)(WB_BLOCK_SIZE - off);
		}
		want += pay;
	}
	if (c->ilen < WBD_NBD_IBUF_CAP) {
		iov[niov].iov_base = c->ibuf + c->ilen;
		iov[niov++].iov_len = WBD_NBD_IBUF_CAP - c->ilen;
		want += WBD_NBD_IBUF_CAP - c->ilen;
	}
	if (!niov) { /* cannot happen: a full ibuf is consumed or throttled */
		wbd_err("nbd: %s: input buffer full, closing", c->peer);
		wbd_nbd_conn_close(c);
		return -1;
	}
	if (c->ssl) {
		n = conn_tls_readv(c, iov, niov);
		if (n <= 0)
			return n;
	} else {
		n = readv(c->fd, iov, niov);
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		wbd_debug("nbd: %s disconnected (error: %s)", c->peer, strerror(errno));
		wbd_nbd_conn_close(c);
		return -1;
	}
	if (n == 0) {
		wbd_debug("nbd: %s disconnected", c->peer);
		wbd_nbd_conn_close(c);
		return -1;
	}
	if ((size_t)n <= pay) {
		c->pay_got += (uint32_t)n;
	} else {
		c->pay_got += (uint32_t)pay;
		c->ilen += (size_t)n - pay;
	}
	*full = (size_t)n == want || wbd_nbd_tls_pending(c);
	return n;
}

static void conn_readcb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_nbd_conn *c = arg;
	/* on the connection's io loop (not during the handshake) */
	struct wbd_ioloop *l = c->loop && c->loop == wbd_ioloop_self() ? c->loop : NULL;

	c->refs++;
	if (c->tls_hs)
		wbd_nbd_tls_handshake(c);
	for (int i = 0; i < WBD_NBD_READ_ROUNDS && !c->tls_hs && !c->tls_start; i++) {
		bool full = false;

		if (c->fd < 0 || c->throttled || c->migrate || c->state == WBD_NBD_CS_CLOSING)
			break;
		if (conn_read_once(c, &full) <= 0)
			break;
		/* the requests of one read reach the engine loop with one
		 * wake-up, at the unplug: it takes them in one pass and one
		 * record, where a wake-up at the first request had it seal
		 * that request alone while the rest were still being parsed
		 * (docs/benchmarks.md, "NBD QD32: CPU per write, batching") */
		if (l)
			wbd_ioloop_plug_engine(l);
		conn_process(c);
		if (l)
			wbd_ioloop_unplug_engine(l);
		if (!full) /* short read: the socket is drained */
			break;
	}
	wbd_nbd_tls_kick(c);
	conn_put(c);
}

/* Send queued output without blocking; the rest waits for a write event. */
static void conn_flush(struct wbd_nbd_conn *c)
{
	struct iovec iov[WBD_NBD_WRITE_IOV];
	struct msghdr mh = {.msg_iov = iov};

	if (c->ssl) {
		if (!c->tls_hs)
			wbd_nbd_tls_flush(c);
		return;
	}
	for (int round = 0; round < 64 && c->fd >= 0; round++) {
		int n = evbuffer_peek(c->out, -1, NULL, (struct evbuffer_iovec *)iov,
				      WBD_NBD_WRITE_IOV);
		ssize_t w;

		if (n <= 0)
			break;
		mh.msg_iovlen = (size_t)(n < WBD_NBD_WRITE_IOV ? n : WBD_NBD_WRITE_IOV);
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (!c->wev_added) {
					c->wev_added = true;
					event_add(c->wev, NULL);
				}
				return;
			}
			wbd_debug("nbd: %s disconnected (send: %s)", c->peer, strerror(errno));
			wbd_nbd_conn_close(c);
			return;
		}
		evbuffer_drain(c->out, (size_t)w);
	}
	if (c->fd >= 0 && evbuffer_get_length(c->out) && !c->wev_added) {
		c->wev_added = true;
		event_add(c->wev, NULL);
	}
}

/* After output went out: close a closing connection, resume reading. */
static void conn_after_flush(struct wbd_nbd_conn *c)
{
	c->refs++;
	conn_flush(c);
	if (c->fd >= 0 && c->tls_start && !evbuffer_get_length(c->out))
		wbd_nbd_tls_begin(c); /* the STARTTLS ACK went out in plain text */
	if (c->fd >= 0 && !c->tls_hs && !c->tls_start) {
		if (c->state != WBD_NBD_CS_CLOSING)
			conn_unthrottle(c); /* if what went out brought it under the caps */
		else if (!evbuffer_get_length(c->out))
			wbd_nbd_conn_close_soon(c);
	}
	conn_put(c);
}

static void io_adopt(struct wbd_ioloop_msg *m);
static void conn_flushcb(evutil_socket_t fd, short what, void *arg);
static void conn_writecb(evutil_socket_t fd, short what, void *arg);

/* engine loop: payloads of this connection go into the engine's RAM buffer
 * when it has one (engine ABI 9); the reference keeps the buffer valid for
 * the pages the io loop holds, even after the engine closed */
static void conn_take_pagebuf(struct wbd_nbd_conn *c)
{
	struct wb_pagebuf *pb = c->ex->engine ? wb_engine_pagebuf(c->ex->engine) : NULL;
	uint32_t max;

	if (!pb || c->pb)
		return;
	max = wb_pagebuf_total(pb) / 8;
	if (max > WBD_NBD_PAGES_MAX)
		max = WBD_NBD_PAGES_MAX;
	if (!max)
		return;
	c->wpg = calloc(WBD_NBD_PAGES_MAX, sizeof(*c->wpg));
	if (!c->wpg)
		return; /* payloads go to buffers of their own */
	wb_pagebuf_ref(pb);
	c->pb = pb;
	c->pg_max = max;
}

/* engine loop: the connection attached; from now on an io loop owns it */
static void conn_migrate(struct wbd_nbd_conn *c)
{
	/* the export's only connection: the export's loop (its first peer
	 * link's: its acks release the replies there); more connections
	 * (nbdcopy's 4) spread round robin, as the QD1 case is one client */
	struct wbd_ioloop *l = c->ex->loop && c->ex->nconns <= 1 ? c->ex->loop(c->ex->ctx) : NULL;

	if (!l)
		l = wbd_ioloop_pick();

	if (!l) { /* shutting down */
		wbd_nbd_conn_close(c);
		return;
	}
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->fev);
	c->rev = c->wev = c->fev = NULL;
	c->wev_added = c->flush_sched = false;
	c->size = c->ex->size;
	c->ex_gen = c->ex->gen;
	c->tflags = wbd_nbd_tflags(c->ex);
	c->snap = c->ex->snap;
	conn_take_pagebuf(c);
	atomic_store(&c->hold, c->ex->admit == WBD_NBD_ADMIT_HOLD);
	c->quiesced = c->ex->closing;
	c->loop = l;
	c->refs++; /* the message's */
	c->adopt_msg.fn = io_adopt;
	wbd_ioloop_post(l, &c->adopt_msg);
}

/* io loop: a connection moved here */
static void io_adopt(struct wbd_ioloop_msg *m)
{
	struct wbd_nbd_conn *c =
	    (struct wbd_nbd_conn *)((char *)m - offsetof(struct wbd_nbd_conn, adopt_msg));
	struct event_base *base = wbd_ioloop_base(c->loop);

	c->io_next = io_conns;
	if (io_conns)
		io_conns->io_pprev = &c->io_next;
	io_conns = c;
	c->io_pprev = &io_conns;
	c->migrate = false;
	c->rev = event_new(base, c->fd, EV_READ | EV_PERSIST, conn_readcb, c);
	c->wev = event_new(base, c->fd, EV_WRITE, conn_writecb, c);
	c->fev = event_new(base, -1, 0, conn_flushcb, c);
	if (!c->rev || !c->wev || !c->fev) {
		wbd_err("nbd: %s: out of memory moving the connection to an io loop", c->peer);
		wbd_nbd_conn_close(c);
	} else {
		/* send the handshake's last reply, then read (throttled since
		 * attach, resumed by conn_unthrottle) */
		conn_after_flush(c);
	}
	conn_put(c);
}

static void conn_flushcb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_nbd_conn *c = arg;

	c->flush_sched = false;
	if (c->migrate)
		conn_migrate(c);
	else if (!c->wev_added)
		conn_after_flush(c);
}

static void conn_writecb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_nbd_conn *c = arg;

	c->wev_added = false;
	if (c->migrate) /* the output goes out from the io loop */
		return;
	if (c->tls_hs) {
		c->refs++;
		wbd_nbd_tls_handshake(c);
		conn_put(c);
		return;
	}
	conn_after_flush(c);
}

static void conn_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct wbd_nbd_conn *c = arg;

	wbd_info("nbd: %s did not finish the handshake within %d s, closing", c->peer,
		 WBD_NBD_HANDSHAKE_TIMEOUT_S);
	wbd_nbd_conn_close(c);
}

void wbd_nbd_conn_accept(struct evconnlistener *el, evutil_socket_t fd, struct sockaddr *sa,
			 int salen, void *arg)
{
	struct event_base *base = evconnlistener_get_base(el);
	struct wbd_nbd_listener *l = arg;
	struct timeval hto = {.tv_sec = WBD_NBD_HANDSHAKE_TIMEOUT_S};
	struct wbd_nbd_conn *c;
	int one = 1;

	if (conn_max && conn_count >= conn_max) {
		time_t now = time(NULL);

		close(fd); /* the client sees EOF at once instead of waiting */
		nrefused++;
		if (now - refuse_log >= WBD_NBD_ACCEPT_LOG_S) {
			wbd_warn("nbd: %u clients connected (max-clients); refused %lu "
				 "connection(s)",
				 conn_count, nrefused);
			refuse_log = now;
			nrefused = 0;
		}
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		wbd_err("nbd: out of memory accepting a client");
		close(fd);
		return;
	}
	c->fd = fd;
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		char host[64] = "?", port[8] = "?";

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		getnameinfo(sa, (socklen_t)salen, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
		snprintf(c->peer, sizeof(c->peer), "%s:%s", host, port);
	} else {
		static unsigned long nunix;

		snprintf(c->peer, sizeof(c->peer), "unix#%lu", ++nunix);
	}
	evutil_make_socket_nonblocking(fd);
	c->ibuf = malloc(WBD_NBD_IBUF_CAP);
	c->out = evbuffer_new();
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, conn_readcb, c);
	c->wev = event_new(base, fd, EV_WRITE, conn_writecb, c);
	c->fev = event_new(base, -1, 0, conn_flushcb, c);
	c->tev = evtimer_new(base, conn_timeoutcb, c);
	if (!c->ibuf || !c->out || !c->rev || !c->wev || !c->fev || !c->tev ||
	    event_add(c->rev, NULL) || evtimer_add(c->tev, &hto)) {
		wbd_err("nbd: %s: out of memory setting up the connection", c->peer);
		conn_free_io(c);
		free(c->ibuf);
		free(c);
		return;
	}
	c->refs = 1;
	c->lk = l->lk;
	memcpy(c->def, l->def, sizeof(c->def));
	c->tls_mode = l->tls;
	c->all_next = conn_all;
	if (conn_all)
		conn_all->all_pprev = &c->all_next;
	conn_all = c;
	c->all_pprev = &conn_all;
	conn_count++;
	wbd_nbd_opt_greet(c);
	wbd_debug("nbd: %s connected", c->peer);
}

void wbd_nbd_conn_starttls(struct wbd_nbd_conn *c)
{
	c->tls_start = true;
	conn_stop_reading(c);
}

/* io loop: what the engine loop asked (conn_ctl) */
static void io_ctl(struct wbd_ioloop_msg *m)
{
	struct wbd_nbd_conn *c =
	    (struct wbd_nbd_conn *)((char *)m - offsetof(struct wbd_nbd_conn, ctl_msg));
	unsigned bits;

	/* cleared before the bits are taken: a bit set after this posts again */
	atomic_store(&c->ctl_posted, false);
	bits = atomic_exchange(&c->ctl_bits, 0);
	if (c->fd >= 0 && (bits & WBD_NBD_CTL_CLOSE)) {
		/* send what is queued (replies of drained requests), best effort */
		conn_flush(c);
		wbd_nbd_conn_close(c);
	} else if (c->fd >= 0 && (bits & WBD_NBD_CTL_QUIESCE)) {
		c->quiesced = true;
		if (c->pay_in_pages) {
			/* the request will be refused (exec_request): its pages go
			 * back now, not at the close, which comes after the
			 * engine's drain; the rest of the payload is read into
			 * a buffer and dropped */
			conn_drop_pages(c);
			if (new_wbuf(c, c->verdict.payload)) {
				wbd_nbd_conn_close(c);
				conn_put(c);
				return;
			}
			c->pay_in_wbuf = true;
		}
		c->throttled = true;
		conn_stop_reading(c);
	} else if (c->fd >= 0 && (bits & WBD_NBD_CTL_KICK)) {
		conn_unthrottle(c);
	}
	conn_put(c);
}

/* engine loop: ask the connection's io loop for bits (WBD_NBD_CTL_*); a
 * connection not moved yet is handled here */
static void conn_ctl(struct wbd_nbd_conn *c, unsigned bits)
{
	if (!c->loop) {
		c->refs++;
		if (bits & WBD_NBD_CTL_CLOSE) {
			conn_flush(c);
			wbd_nbd_conn_close(c);
		} else if (bits & WBD_NBD_CTL_QUIESCE) {
			c->quiesced = true;
		}
		conn_put(c);
		return;
	}
	atomic_fetch_or(&c->ctl_bits, bits);
	if (atomic_exchange(&c->ctl_posted, true))
		return; /* queued, not yet taken: it sees the new bits */
	c->refs++;
	c->ctl_msg.fn = io_ctl;
	wbd_ioloop_post(c->loop, &c->ctl_msg);
}

/* engine loop, the RAM buffer's notify hook: pages are free again after a
 * reservation failed; resume the connections that wait for them */
static void export_pages(void *arg)
{
	struct wbd_nbd_export *ex = arg;

	for (struct wbd_nbd_conn *c = ex->conns, *next; c; c = next) {
		next = c->ex_next;
		if (atomic_load(&c->want_pages))
			conn_ctl(c, WBD_NBD_CTL_KICK);
	}
}

void wbd_nbd_export_init(struct wbd_nbd_export *ex, const char *name, uint64_t size,
			 struct wb_engine *engine, void (*kick)(void *), void *ctx)
{
	memset(ex, 0, sizeof(*ex));
	ex->gen = ++export_gen;
	snprintf(ex->name, sizeof(ex->name), "%s", name);
	ex->size = size;
	ex->engine = engine;
	ex->kick = kick;
	ex->ctx = ctx;
	if (engine && wb_engine_pagebuf(engine))
		wb_pagebuf_set_notify(wb_engine_pagebuf(engine), export_pages, ex);
}

void wbd_nbd_export_quiesce(struct wbd_nbd_export *ex)
{
	ex->closing = 1;
	export_unpark(ex); /* what waited on hold: ESHUTDOWN */
	for (struct wbd_nbd_conn *c = ex->conns; c; c = c->ex_next)
		conn_ctl(c, WBD_NBD_CTL_QUIESCE);
}

void wbd_nbd_export_set_admit(struct wbd_nbd_export *ex, int admit)
{
	if (ex->admit == admit)
		return;
	ex->admit = admit;
	for (struct wbd_nbd_conn *c = ex->conns; c; c = c->ex_next)
		atomic_store(&c->hold, admit == WBD_NBD_ADMIT_HOLD);
	if (admit == WBD_NBD_ADMIT_HOLD)
		return; /* each connection stops at its next request */
	export_unpark(ex);
	for (struct wbd_nbd_conn *c = ex->conns, *next; c; c = next) {
		next = c->ex_next;
		conn_ctl(c, WBD_NBD_CTL_KICK);
	}
}

void wbd_nbd_export_detach(struct wbd_nbd_export *ex)
{
	ex->closing = 1;
	export_unpark(ex);
	while (ex->conns) {
		struct wbd_nbd_conn *c = ex->conns;

		/* off the export now; the io loop sends what is queued (the
		 * replies of drained requests, posted before this) and closes */
		c->refs++;
		conn_unlink_export(c);
		conn_ctl(c, WBD_NBD_CTL_CLOSE);
		conn_put(c);
	}
}

void wbd_nbd_close_all(void)
{
	for (struct wbd_nbd_conn *c = conn_all, *next; c; c = next) {
		next = c->all_next;
		conn_ctl(c, WBD_NBD_CTL_CLOSE);
	}
}

/* io loop: exiting (daemon shutdown): close every connection */
static void io_stop(void)
{
	while (io_conns)
		wbd_nbd_conn_close(io_conns);
	io_space(); /* drops the references of the waiting list */
}

void wbd_nbd_io_setup(void)
{
	static const struct wbd_ioloop_hooks h = {.space = io_space, .stop = io_stop};

	wbd_ioloop_set_hooks(&h);
}
