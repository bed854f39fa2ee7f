// SPDX-License-Identifier: GPL-2.0-only
/*
 * wblog_snap.c - snapshots of older generations, taken after the fact
 * (docs/engine.md "Snapshots", docs/ondisk-format.md section 6).
 *
 * The device as it was when generation G ended = the backing device
 * overlaid with the log's records up to S (G's last record), newest first.
 * That holds while the backing device has nothing newer than S: destage
 * writes in seq order, so a snapshot of G can be taken while destage has
 * not picked a record past S, and it stays exact while destage does not
 * (the pin: wbl_snap_pin(), ds_pick in wblog_destage.c stops there).
 *
 * A snapshot is an extent map of its own (the same B+tree as the engine's
 * map, built from the records destage has not finished, up to S); destage
 * drops from it what it drops from the engine's map, when those blocks are
 * durable on backing (wbl_snap_destaged), so its reads go to the backing
 * device for them as the device's own reads do. Reads are wbl_submit_read
 * with that map.
 *
 * A snapshot never holds writers back: when destage must pass a pin (the
 * log reached destage_high_pct or a record waits for space, write-through,
 * a drain) the oldest snapshot is dropped (logged, stats.snapshots_dropped);
 * so are all at a rebase. A read that was in flight when its snapshot was
 * dropped completes with -ESTALE (what it read may be newer).
 *
 * In memory only: a restart forgets the snapshots; the generations stay
 * readable as long as the log still covers them (gen_span).
 *
 * The backing device written outside the log (a resync target) breaks the
 * rule above: the owner fences (wbl_snap_fence) while it does, and after it
 * only generations that end after the fence are readable.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/wblog_destage.h"
#include "engine/wblog_int.h"

struct wbl_snap *wbl_snap_find(struct wblog *e, uint32_t id)
{
	for (unsigned i = 0; id && i < WBL_MAX_SNAPS; i++)
		if (e->snaps[i].id == id)
			return &e->snaps[i];
	return NULL;
}

static void snap_pin_update(struct wblog *e)
{
	e->snap_pin = UINT64_MAX;
	for (unsigned i = 0; i < WBL_MAX_SNAPS; i++)
		if (e->snaps[i].id && e->snaps[i].seq < e->snap_pin)
			e->snap_pin = e->snaps[i].seq;
}

static void snap_free(struct wblog *e, struct wbl_snap *s)
{
	wb_extmap_destroy(s->map);
	memset(s, 0, sizeof(*s));
	e->nsnaps--;
	snap_pin_update(e);
	wbl_kick(e); /* destage may go on */
}

/* The last seq of the records in the log with gen <= gen, 0 if none (the
 * log's generations never go down along seq). */
static uint64_t last_seq_of(struct wblog *e, uint64_t gen, uint64_t end)
{
	uint64_t lo = e->rec_first, hi = end; /* answer in [lo - 1, hi) */

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (wbl_rec_by_seq(e, mid)->gen <= gen)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > e->rec_first ? lo - 1 : 0;
}

/* The newest generation whose every record is placed in the log (or was
 * destaged and released) and which is known to have ended; 0: none. */
static uint64_t newest_complete(struct wblog *e)
{
	uint64_t n = 0;

	if (e->closed_gen && e->closed_gen_seq < e->place_seq &&
	    e->closed_gen_seq + 1 >= e->rec_first)
		n = e->closed_gen;
	if (e->rel_gen && e->rel_gen_end && e->rel_gen > n)
		n = e->rel_gen;
	if (e->place_seq > e->rec_first) {
		struct wbl_rec *last = wbl_rec_by_seq(e, e->place_seq - 1);
		/* a record of a newer generation ends every older one */
		uint64_t g = last->flags & WB_REC_F_GEN_END ? last->gen : last->gen - 1;

		if (g > n)
			n = g;
	}
	return n;
}

/* The newest record with gen <= gen: its seq (rec_first - 1 when that one
 * was released already) and time. */
static uint64_t snap_seq(struct wblog *e, uint64_t gen, uint64_t *time_ns)
{
	uint64_t seq = last_seq_of(e, gen, e->place_seq);

	if (!seq) {
		*time_ns = e->rel_time_ns;
		return e->rec_first - 1;
	}
	*time_ns = wbl_rec_by_seq(e, seq)->time_ns;
	return seq;
}

int wbl_gen_span(struct wb_engine *eng, struct wb_gen_span *out)
{
	struct wblog *e = (struct wblog *)eng;
	uint64_t first = wbl_destage_untouched(e);

	memset(out, 0, sizeof(*out));
	out->oldest = 1;
	if (e->state == WB_STATE_FAILED)
		return -EIO;
	out->newest = newest_complete(e);
	if (first < e->rec_first)
		first = e->rec_first;
	/* the backing device holds records < first (and nothing newer): a
	 * generation is exact from the one of record first - 1 on */
	if (first - 1 >= e->rec_first)
		out->oldest = wbl_rec_by_seq(e, first - 1)->gen;
	else if (e->rel_gen)
		out->oldest = e->rel_gen;
	else if (first < e->place_seq)
		out->oldest = wbl_rec_by_seq(e, first)->gen;
	else
		out->oldest = out->newest + 1; /* nothing written yet */
	/* a resync wrote the backing: only generations ending after it */
	if (e->snap_fenced || (e->snap_floor && e->snap_floor >= e->place_seq))
		out->oldest = out->newest + 1;
	else if (e->snap_floor >= e->rec_first &&
		 wbl_rec_by_seq(e, e->snap_floor)->gen > out->oldest)
		out->oldest = wbl_rec_by_seq(e, e->snap_floor)->gen;
	if (out->oldest > out->newest)
		return 0;
	snap_seq(e, out->oldest, &out->oldest_time_ns);
	snap_seq(e, out->newest, &out->newest_time_ns);
	return 0;
}

/* Newest first over the span's records: the first generation end whose
 * time is <= time_ns. O(records in the log): a control command's. */
int wbl_gen_at(struct wb_engine *eng, uint64_t time_ns, uint64_t *gen)
{
	struct wblog *e = (struct wblog *)eng;
	struct wb_gen_span sp;
	uint64_t s, lo, top;
	int ret = wbl_gen_span(eng, &sp);

	if (ret)
		return ret;
	if (sp.oldest > sp.newest || time_ns < sp.oldest_time_ns)
		return -ERANGE;
	s = top = last_seq_of(e, sp.newest, e->place_seq);
	lo = last_seq_of(e, sp.oldest, e->place_seq);
	for (; s && s >= lo && s >= e->rec_first; s--) {
		struct wbl_rec *rec = wbl_rec_by_seq(e, s);
		struct wbl_rec *next = wbl_rec_by_seq(e, s + 1);

		/* s ends its generation: the newest in the span, or the next
		 * record is of a newer one */
		if ((s == top || (next && next->gen > rec->gen)) && rec->time_ns <= time_ns) {
			*gen = rec->gen;
			return 0;
		}
	}
	*gen = sp.oldest; /* time_ns >= the oldest's end */
	return 0;
}

int wbl_snap_create(struct wb_engine *eng, uint64_t gen, struct wb_snap_info *out)
{
	struct wblog *e = (struct wblog *)eng;
	struct wb_gen_span sp;
	struct wbl_snap *s = NULL;
	uint64_t seq, from;
	int ret;

	if (e->closing)
		return -ESHUTDOWN;
	ret = wbl_gen_span(eng, &sp);
	if (ret)
		return ret;
	if (e->mode == WB_MODE_WRITETHROUGH || e->snap_fenced)
		return -EBUSY; /* every write waits for destage: a pin would stall it;
				* or a resync writes the backing */
	if (gen > sp.newest && gen < e->gen)
		return -EAGAIN; /* ended, not all in the log yet */
	if (sp.oldest > sp.newest || gen < sp.oldest || gen > sp.newest)
		return -ERANGE;
	for (unsigned i = 0; i < WBL_MAX_SNAPS && !s; i++)
		if (!e->snaps[i].id)
			s = &e->snaps[i];
	if (!s)
		return -ENOSPC;
	seq = snap_seq(e, gen, &s->time_ns);
	ret = wb_extmap_create(&s->map);
	if (ret)
		return ret;
	/* records < destaged_seq are on backing and out of the engine's map */
	from = e->destaged_seq > e->rec_first ? e->destaged_seq : e->rec_first;
	for (uint64_t q = from; q <= seq && !ret; q++)
		ret = wbl_map_insert(s->map, wbl_rec_by_seq(e, q));
	if (ret) {
		wb_extmap_destroy(s->map);
		s->map = NULL;
		return ret;
	}
	s->id = ++e->snap_last_id ? e->snap_last_id : ++e->snap_last_id;
	s->gen = gen;
	s->seq = seq;
	e->nsnaps++;
	snap_pin_update(e);
	wb_msg(WB_LOG_INFO,
	       "%s: snapshot %u of generation %llu (records up to seq %llu, %llu extents)",
	       eng->name, s->id, (unsigned long long)gen, (unsigned long long)seq,
	       (unsigned long long)wb_extmap_count(s->map));
	if (out)
		wbl_snap_info(s, out);
	return 0;
}

void wbl_snap_info(const struct wbl_snap *s, struct wb_snap_info *out)
{
	memset(out, 0, sizeof(*out));
	out->id = s->id;
	out->gen = s->gen;
	out->seq = s->seq;
	out->time_ns = s->time_ns;
	out->extents = wb_extmap_count(s->map);
}

int wbl_snap_drop(struct wb_engine *eng, uint32_t id)
{
	struct wblog *e = (struct wblog *)eng;
	struct wbl_snap *s = wbl_snap_find(e, id);

	if (!s)
		return -ENOENT;
	wb_msg(WB_LOG_INFO, "%s: snapshot %u of generation %llu dropped", eng->name, id,
	       (unsigned long long)s->gen);
	snap_free(e, s);
	return 0;
}

int wbl_snap_list(struct wb_engine *eng, struct wb_snap_info *out, int max)
{
	struct wblog *e = (struct wblog *)eng;
	int n = 0;

	for (unsigned i = 0; i < WBL_MAX_SNAPS; i++) {
		if (!e->snaps[i].id)
			continue;
		if (n < max)
			wbl_snap_info(&e->snaps[i], &out[n]);
		n++;
	}
	return n;
}

/* The engine drops snapshots by itself: all (why), or the oldest. */
void wbl_snap_drop_all(struct wblog *e, const char *why)
{
	for (unsigned i = 0; i < WBL_MAX_SNAPS; i++) {
		if (!e->snaps[i].id)
			continue;
		wb_msg(WB_LOG_WARN, "%s: snapshot %u of generation %llu dropped: %s", e->eng.name,
		       e->snaps[i].id, (unsigned long long)e->snaps[i].gen, why);
		e->st.snapshots_dropped++;
		snap_free(e, &e->snaps[i]);
	}
}

void wbl_snap_drop_oldest(struct wblog *e, const char *why)
{
	struct wbl_snap *o = NULL;

	for (unsigned i = 0; i < WBL_MAX_SNAPS; i++)
		if (e->snaps[i].id && (!o || e->snaps[i].seq < o->seq))
			o = &e->snaps[i];
	if (!o)
		return;
	wb_msg(WB_LOG_WARN, "%s: snapshot %u of generation %llu dropped: %s", e->eng.name, o->id,
	       (unsigned long long)o->gen, why);
	e->st.snapshots_dropped++;
	snap_free(e, o);
}

/* Destage made [lba, lba+n) of records <= upto durable on backing. A
 * snapshot whose map cannot follow (out of memory) is dropped: destage
 * goes on. */
int wbl_snap_destaged(struct wblog *e, uint64_t lba, uint32_t n, uint64_t upto)
{
	for (unsigned i = 0; e->nsnaps && i < WBL_MAX_SNAPS; i++) {
		struct wbl_snap *s = &e->snaps[i];

		if (!s->id || !wb_extmap_drop_upto(s->map, lba, n, upto))
			continue;
		wb_msg(WB_LOG_WARN, "%s: snapshot %u of generation %llu dropped: out of memory",
		       e->eng.name, s->id, (unsigned long long)s->gen);
		e->st.snapshots_dropped++;
		snap_free(e, s);
	}
	return 0;
}

int wbl_snap_fence(struct wb_engine *eng, int on)
{
	struct wblog *e = (struct wblog *)eng;

	if (on) {
		wbl_snap_drop_all(e, "a resync writes the backing device");
		e->snap_fenced = 1;
		return 0;
	}
	if (e->snap_fenced) {
		e->snap_fenced = 0;
		e->snap_floor = e->next_seq;
	}
	return 0;
}

void wbl_snap_free_all(struct wblog *e)
{
	for (unsigned i = 0; i < WBL_MAX_SNAPS; i++)
		if (e->snaps[i].id)
			wb_extmap_destroy(e->snaps[i].map);
	memset(e->snaps, 0, sizeof(e->snaps));
	e->nsnaps = 0;
	e->snap_pin = UINT64_MAX;
}
