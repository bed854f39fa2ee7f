// SPDX-License-Identifier: GPL-2.0-only
/*
 * wblog_meta.c - replication metadata of the wblog engine (format version 2,
 * docs/ondisk-format.md section 2.1): data generation UUIDs with their
 * history, the node id and whose each bitmap slot is (2.3), read and
 * updated online.
 *
 * The metadata lives in every superblock copy, so an update is one more
 * slot write of the superblock ring: atomic by the ring's rule (a torn slot
 * leaves the previous copy newest), no separate area to keep consistent.
 * An update changes e->sb (the state asked for) at once and counts itself
 * in meta_want; whichever superblock write is submitted next (destage's or
 * our own, wbl_meta_progress) carries it; its completion makes it durable
 * (meta_done) and the waiters up to it complete from run().
 *
 * Owns: the waiter queue (struct wbl_metaw, one per update, freed when
 * delivered or at close).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/wblog_int.h"

_Static_assert(WB_META_MAX_HISTORY == WB_META_HISTORY, "history size: API = disk");
_Static_assert(WB_META_UUID_LEN == WB_UUID_LEN, "UUID size: API = disk");
_Static_assert(WB_ENGINE_BM_OWNER_LEN == WB_BM_OWNER_LEN, "owner size: API = disk");

struct wbl_metaw {
	void (*done)(void *arg, int err);
	void *arg;
	uint64_t target; /* durable once meta_done >= target */
	struct wbl_metaw *next;
};

static int meta_uuid_zero(const uint8_t *u)
{
	static const uint8_t zero[WB_UUID_LEN];

	return !memcmp(u, zero, WB_UUID_LEN);
}

int wbl_meta(struct wb_engine *eng, struct wb_meta *out)
{
	struct wblog *e = (struct wblog *)eng;
	const struct wb_sb *sb = &e->sb_durable;

	memset(out, 0, sizeof(*out));
	out->version = sb->version;
	out->node_id = sb->node_id;
	memcpy(out->data_uuid, sb->data_uuid, WB_UUID_LEN);
	memcpy(out->history, sb->uuid_history, sizeof(out->history));
	out->nhistory = sb->nhistory;
	out->uuid_time = sb->uuid_time;
	memcpy(out->log_uuid, sb->uuid, WB_UUID_LEN);
	return 0;
}

static int meta_check(struct wblog *e, enum wb_meta_op op, const struct wb_meta *m)
{
	unsigned i;

	switch (op) {
	case WB_META_NEW_UUID:
		return 0;
	case WB_META_SET_NODE_ID:
		return m ? 0 : -EINVAL;
	case WB_META_SET_UUIDS:
		if (!m || meta_uuid_zero(m->data_uuid) || m->nhistory > WB_META_HISTORY) {
			wb_msg(WB_LOG_ERR, "%s: metadata: refusing UUIDs: %s", e->eng.name,
			       !m			      ? "none given"
			       : meta_uuid_zero(m->data_uuid) ? "the current data UUID is zero"
							      : "more history entries than fit");
			return -EINVAL;
		}
		for (i = 0; i < m->nhistory; i++)
			if (meta_uuid_zero(m->history[i])) {
				wb_msg(WB_LOG_ERR,
				       "%s: metadata: refusing UUIDs: history %u is zero",
				       e->eng.name, i);
				return -EINVAL;
			}
		return 0;
	}
	return -EINVAL;
}

/* w waits for the next superblock write sent from now (it carries what
 * e->sb holds) to be durable */
static void meta_enqueue(struct wblog *e, struct wbl_metaw *w, void (*done)(void *arg, int err),
			 void *arg)
{
	w->done = done;
	w->arg = arg;
	w->target = ++e->meta_want;
	if (e->metaq_tail)
		e->metaq_tail->next = w;
	else
		e->metaq_head = w;
	e->metaq_tail = w;
	wbl_kick(e);
}

int wbl_meta_update(struct wb_engine *eng, enum wb_meta_op op, const struct wb_meta *m,
		    void (*done)(void *arg, int err), void *arg)
{
	struct wblog *e = (struct wblog *)eng;
	struct wbl_metaw *w;
	struct wb_sb *sb = &e->sb;
	int ret;

	if (e->closing)
		return -ESHUTDOWN;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	if (sb->version < 2) {
		wb_msg(WB_LOG_ERR,
		       "%s: log %s is format version 1 and has no metadata area; upgrade it "
		       "offline: `wbengine upgrade --log %s` (or `wbrepd --create-md %s "
		       "--upgrade`)",
		       eng->name, e->log->name, e->log->name, eng->name);
		return -EPROTO;
	}
	ret = meta_check(e, op, m);
	if (ret)
		return ret;
	if (!done)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	switch (op) {
	case WB_META_NEW_UUID:
		memmove(sb->uuid_history[1], sb->uuid_history[0],
			(WB_META_HISTORY - 1) * (size_t)WB_UUID_LEN);
		memcpy(sb->uuid_history[0], sb->data_uuid, WB_UUID_LEN);
		if (sb->nhistory < WB_META_HISTORY)
			sb->nhistory++;
		if (wb_sb_new_uuid(sb->data_uuid)) {
			/* cannot happen with getrandom on Linux >= 3.17; keep sb sane */
			memcpy(sb->data_uuid, sb->uuid_history[0], WB_UUID_LEN);
			memmove(sb->uuid_history[0], sb->uuid_history[1],
				(WB_META_HISTORY - 1) * (size_t)WB_UUID_LEN);
			memset(sb->uuid_history[WB_META_HISTORY - 1], 0, WB_UUID_LEN);
			sb->nhistory--;
			free(w);
			return -EIO;
		}
		sb->uuid_time = (uint64_t)time(NULL);
		break;
	case WB_META_SET_UUIDS:
		memcpy(sb->data_uuid, m->data_uuid, WB_UUID_LEN);
		memset(sb->uuid_history, 0, sizeof(sb->uuid_history));
		memcpy(sb->uuid_history, m->history, m->nhistory * (size_t)WB_UUID_LEN);
		sb->nhistory = m->nhistory;
		sb->uuid_time = (uint64_t)time(NULL);
		break;
	case WB_META_SET_NODE_ID:
		sb->node_id = m->node_id;
		break;
	}
	meta_enqueue(e, w, done, arg);
	return 0;
}

int wbl_bm_owner(struct wb_engine *eng, unsigned peer, char *out)
{
	struct wblog *e = (struct wblog *)eng;

	if (!e->sb.bm_region_shift || peer >= e->sb.bm_npeers)
		return -ENOENT;
	memcpy(out, e->sb.bm_owner[peer], WB_BM_OWNER_LEN);
	return 0;
}

int wbl_bm_owner_set(struct wb_engine *eng, unsigned peer, const char *name,
		     void (*done)(void *arg, int err), void *arg)
{
	struct wblog *e = (struct wblog *)eng;
	char o[WB_BM_OWNER_LEN] = {0};
	struct wbl_metaw *w;

	if (e->closing)
		return -ESHUTDOWN;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	if (!e->sb.bm_region_shift || peer >= e->sb.bm_npeers)
		return -ENOENT;
	if (!name || !done || strlen(name) >= WB_BM_OWNER_LEN)
		return -EINVAL;
	memcpy(o, name, strlen(name));
	if (!wb_sb_owner_ok(o))
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	memcpy(e->sb.bm_owner[peer], o, WB_BM_OWNER_LEN);
	meta_enqueue(e, w, done, arg);
	return 0;
}

int wbl_meta_grow(struct wblog *e, uint64_t new_dev, void (*done)(void *arg, int err), void *arg)
{
	struct wbl_metaw *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	e->sb.dev_size = new_dev;
	meta_enqueue(e, w, done, arg);
	return 0;
}

int wbl_meta_grow_log(struct wblog *e, uint64_t log_size, uint64_t data_size,
		      void (*done)(void *arg, int err), void *arg)
{
	struct wbl_metaw *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	e->sb.log_size = log_size;
	e->sb.data_size = data_size;
	meta_enqueue(e, w, done, arg);
	return 0;
}

static void meta_sb_done(struct wblog *e, int err)
{
	if (err)
		wbl_fail(e, err, "metadata superblock write");
}

/* Run loop: write the superblock if an update is not in any copy sent yet
 * and no superblock write is in flight or queued (that one carries it). */
void wbl_meta_progress(struct wblog *e)
{
	int ret;

	/* a bitmap commit's superblock write carries it (and must be the one
	 * that carries destage's new tail) */
	if (e->meta_want == e->meta_sent || e->sb_inflight || e->sb_queued ||
	    wbl_bm_committing(e) || e->state == WB_STATE_FAILED)
		return;
	ret = wbl_sb_write(e, meta_sb_done);
	if (ret)
		wbl_fail(e, ret, "metadata superblock write submit");
}

int wbl_meta_pending(const struct wblog *e)
{
	return e->metaq_head &&
	       (e->meta_done >= e->metaq_head->target || e->state == WB_STATE_FAILED);
}

void wbl_meta_deliver(struct wblog *e, int *n)
{
	struct wbl_metaw *w;

	while (wbl_meta_pending(e)) {
		w = e->metaq_head;
		e->metaq_head = w->next;
		if (!e->metaq_head)
			e->metaq_tail = NULL;
		(*n)++;
		w->done(w->arg, e->meta_done >= w->target ? 0 : -EIO);
		free(w);
	}
}

void wbl_meta_free(struct wblog *e)
{
	struct wbl_metaw *w;

	while ((w = e->metaq_head)) {
		e->metaq_head = w->next;
		free(w);
	}
	e->metaq_tail = NULL;
}
