// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_meta.c - replication metadata of the wblog engine (format version 2,
 * engine/wblog_meta.c): format writes a fresh data UUID and the node id;
 * new UUID / adopt / node id updates complete from run() once durable and
 * survive a reopen; the history keeps the newest WB_META_MAX_HISTORY;
 * bad updates are refused without a change; updates racing destage's
 * superblock writes; power cuts at every point of a run of updates under
 * load (an acknowledged update is never lost, nothing but a requested state
 * is ever found); a torn superblock slot falls back to the previous copy;
 * a version 1 log opens without metadata, refuses updates and is upgraded
 * in place with its records intact.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/io.h"
#include "engine/ondisk.h"
#include "engine/wbengine.h"
#include "engine/superblock.h"
#include "tests/unit/engine_fixture.h"

extern const struct wb_engine_ops wb_wblog_ops;

static const uint8_t zero_uuid[WB_META_UUID_LEN];

struct done {
	int called, err;
};

static void done_cb(void *arg, int err)
{
	struct done *d = arg;

	d->called++;
	d->err = err;
}

static void run_until(struct efx *f, const struct done *d)
{
	int i;

	for (i = 0; i < 100000 && !d->called; i++)
		assert_true(wb_engine_run(f->e, 1) >= 0);
	assert_int_equal(d->called, 1);
}

static void meta_of(struct efx *f, struct wb_meta *m)
{
	assert_int_equal(wb_engine_meta(f->e, m), 0);
}

static void uuid_n(uint8_t *u, unsigned n)
{
	memset(u, 0, WB_META_UUID_LEN);
	u[0] = 0x5a;
	u[1] = (uint8_t)n;
	u[2] = (uint8_t)(n >> 8);
	u[15] = 0xa5;
}

static void test_format_and_new_uuid(void **state)
{
	struct wb_fault_cfg c = {0};
	struct wb_meta m0, m, m2;
	uint8_t cur[20][WB_META_UUID_LEN];
	struct done d = {0};
	struct efx f;
	unsigned i, k;

	(void)state;
	efx_devices(&f, "meta", 8u << 20, &c, &c);
	f.p.node_id = 3;
	efx_format_open(&f);
	meta_of(&f, &m0);
	assert_int_equal(m0.version, 2);
	assert_int_equal(m0.node_id, 3);
	assert_int_equal(m0.nhistory, 0);
	assert_memory_not_equal(m0.data_uuid, zero_uuid, WB_META_UUID_LEN);
	assert_memory_not_equal(m0.data_uuid, m0.log_uuid, WB_META_UUID_LEN);
	assert_true(m0.uuid_time > 0);

	/* completes from run(), not from the call; meta() is the durable copy */
	assert_int_equal(wb_engine_meta_new_uuid(f.e, done_cb, &d), 0);
	assert_int_equal(d.called, 0);
	meta_of(&f, &m);
	assert_memory_equal(m.data_uuid, m0.data_uuid, WB_META_UUID_LEN);
	run_until(&f, &d);
	assert_int_equal(d.err, 0);
	meta_of(&f, &m);
	assert_memory_not_equal(m.data_uuid, m0.data_uuid, WB_META_UUID_LEN);
	assert_int_equal(m.nhistory, 1);
	assert_memory_equal(m.history[0], m0.data_uuid, WB_META_UUID_LEN);
	assert_int_equal(m.node_id, 3);
	efx_reopen(&f);
	meta_of(&f, &m2);
	assert_memory_equal(&m2, &m, sizeof(m));

	/* the history keeps the newest WB_META_MAX_HISTORY, newest first */
	memcpy(cur[0], m0.data_uuid, WB_META_UUID_LEN);
	memcpy(cur[1], m.data_uuid, WB_META_UUID_LEN);
	for (k = 2; k < 12; k++) {
		assert_int_equal(wb_engine_meta_update_sync(f.e, WB_META_NEW_UUID, NULL), 0);
		meta_of(&f, &m);
		memcpy(cur[k], m.data_uuid, WB_META_UUID_LEN);
		for (i = 0; i < k; i++)
			assert_memory_not_equal(cur[k], cur[i], WB_META_UUID_LEN);
	}
	assert_int_equal(m.nhistory, WB_META_MAX_HISTORY);
	for (i = 0; i < WB_META_MAX_HISTORY; i++)
		assert_memory_equal(m.history[i], cur[10 - i], WB_META_UUID_LEN);
	efx_reopen(&f);
	meta_of(&f, &m2);
	assert_memory_equal(&m2, &m, sizeof(m));
	efx_fini(&f);
}

static void test_adopt_and_node_id(void **state)
{
	struct wb_fault_cfg c = {0};
	struct wb_meta want, m, before;
	struct efx f;

	(void)state;
	efx_devices(&f, "meta", 8u << 20, &c, &c);
	efx_format_open(&f);
	meta_of(&f, &before);
	assert_int_equal(before.node_id, 0);

	/* refused, nothing changes */
	memset(&want, 0, sizeof(want));
	assert_int_equal(wb_engine_meta_update_sync(f.e, WB_META_SET_UUIDS, &want), -EINVAL);
	uuid_n(want.data_uuid, 1);
	want.nhistory = WB_META_MAX_HISTORY + 1;
	assert_int_equal(wb_engine_meta_update_sync(f.e, WB_META_SET_UUIDS, &want), -EINVAL);
	want.nhistory = 2;
	uuid_n(want.history[0], 2); /* history[1] stays zero */
	assert_int_equal(wb_engine_meta_update_sync(f.e, WB_META_SET_UUIDS, &want), -EINVAL);
	assert_int_equal(wb_engine_meta_update_sync(f.e, (enum wb_meta_op)99, &want), -EINVAL);
	assert_int_equal(wb_engine_meta_adopt_uuids(f.e, &want, NULL, NULL), -EINVAL);
	meta_of(&f, &m);
	assert_memory_equal(&m, &before, sizeof(m));

	uuid_n(want.history[1], 3);
	assert_int_equal(wb_engine_meta_update_sync(f.e, WB_META_SET_UUIDS, &want), 0);
	want.node_id = 7;
	assert_int_equal(wb_engine_meta_update_sync(f.e, WB_META_SET_NODE_ID, &want), 0);
	efx_reopen(&f);
	meta_of(&f, &m);
	assert_memory_equal(m.data_uuid, want.data_uuid, WB_META_UUID_LEN);
	assert_int_equal(m.nhistory, 2);
	assert_memory_equal(m.history[0], want.history[0], WB_META_UUID_LEN);
	assert_memory_equal(m.history[1], want.history[1], WB_META_UUID_LEN);
	assert_memory_equal(m.history[2], zero_uuid, WB_META_UUID_LEN);
	assert_int_equal(m.node_id, 7);
	assert_memory_equal(m.log_uuid, before.log_uuid, WB_META_UUID_LEN);
	efx_fini(&f);
}

/* Updates while destage writes superblocks: both kinds of slot writes
 * share one ring (one in flight, one queued); nothing fails, every update
 * completes, the last one is what a reopen finds. */
static void test_updates_during_destage(void **state)
{
	struct wb_fault_cfg c = {.complete_batch = 1};
	struct wb_engine_stats st;
	uint8_t buf[EFX_BS];
	struct done d[200];
	struct wb_meta want, m;
	struct efx f;
	unsigned k;

	(void)state;
	efx_devices(&f, "meta", 1u << 20, &c, &c);
	f.p.destage_low_pct = 1;
	f.p.log_segment_size = 64u << 10;
	efx_format_open(&f);
	memset(&want, 0, sizeof(want));
	memset(d, 0, sizeof(d));
	for (k = 0; k < 200; k++) {
		memset(buf, (int)k, sizeof(buf));
		uuid_n(want.data_uuid, k + 1);
		assert_int_equal(wb_engine_meta_adopt_uuids(f.e, &want, done_cb, &d[k]), 0);
		assert_int_equal(wb_engine_write(f.e, buf, EFX_BS, (k * 7 % EFX_NBLK) * EFX_BS, 0),
				 0);
		assert_int_equal(wb_engine_stats(f.e, &st), 0);
		assert_int_equal(st.state, WB_STATE_OK);
	}
	run_until(&f, &d[199]);
	for (k = 0; k < 200; k++) {
		assert_int_equal(d[k].called, 1);
		assert_int_equal(d[k].err, 0);
	}
	assert_int_equal(wb_engine_stats(f.e, &st), 0);
	assert_true(st.destaged_bytes > 0); /* destage did write superblocks */
	efx_reopen(&f);
	meta_of(&f, &m);
	assert_memory_equal(m.data_uuid, want.data_uuid, WB_META_UUID_LEN);
	efx_fini(&f);
}

/*
 * Power cut once the log saw `cut` requests, during a run of adopt updates
 * mixed with writes, flushes and destage; the last update is cut right
 * after it was asked for, after its slot write was submitted, or after a
 * write. The UUID found after reopen is one that was asked for (with its
 * history), no older than the newest update acknowledged before the cut.
 */
static void test_power_cut_during_updates(void **state)
{
	struct wb_fault_cfg lc = {
	    .seed = 11, .drop_permille = 400, .tear_permille = 400, .reorder = 1};
	struct wb_fault_cfg bc = {.seed = 12, .drop_permille = 400, .tear_permille = 400};
	unsigned cut, tested = 0;

	(void)state;
	for (cut = 3; cut < 400; cut += 7) {
		struct done d[64];
		uint8_t *buf = wb_io_alloc(64 * EFX_BS);
		struct wb_meta want, m;
		struct efx f;
		unsigned k, j, acked = 0, asked = 0, found;
		uint64_t base;

		assert_non_null(buf);
		lc.seed = 11 + cut;
		efx_devices(&f, "meta", 1u << 20, &lc, &bc);
		f.p.destage_low_pct = 1;
		f.p.log_segment_size = 64u << 10;
		efx_format_open(&f);
		memset(&want, 0, sizeof(want));
		memset(d, 0, sizeof(d));
		base = wb_io_fault_nsubmitted(f.log);
		for (k = 0; k < 64 && wb_io_fault_nsubmitted(f.log) < base + cut; k++) {
			uuid_n(want.data_uuid, k + 1);
			want.nhistory = k % 3;
			for (j = 0; j < want.nhistory; j++)
				uuid_n(want.history[j], 1000 + k + j);
			memset(want.history[want.nhistory], 0, WB_META_UUID_LEN);
			assert_int_equal(wb_engine_meta_adopt_uuids(f.e, &want, done_cb, &d[k]), 0);
			asked = k + 1;
			if (wb_io_fault_nsubmitted(f.log) + 3 >= base + cut && cut % 3 < 2) {
				/* cut with the update asked for, or its write in flight */
				if (cut % 3 == 1)
					assert_true(wb_engine_run(f.e, 0) >= 0);
				break;
			}
			memset(buf + k * EFX_BS, (int)k + 1, EFX_BS);
			assert_int_equal(wb_engine_write(f.e, buf + k * EFX_BS, EFX_BS,
							 (uint64_t)(k * 13 % EFX_NBLK) * EFX_BS, 0),
					 0);
			if (k % 5 == 4)
				assert_int_equal(wb_engine_flush(f.e), 0);
			for (j = 0; j < asked; j++)
				if (d[j].called && !d[j].err && j + 1 > acked)
					acked = j + 1;
		}
		wb_io_fault_power_cut(f.log);
		wb_io_fault_power_cut(f.bak);
		wb_engine_close(f.e);
		f.e = NULL;
		for (j = 0; j < asked; j++)
			if (d[j].called && !d[j].err && j + 1 > acked)
				acked = j + 1;
		wb_io_fault_power_on(f.log);
		wb_io_fault_power_on(f.bak);
		assert_int_equal(wb_wblog_ops.open(&f.p, &f.e), 0);
		meta_of(&f, &m);
		/* which update is it? 0 = the format's own UUID */
		found = 0;
		for (j = 1; j <= asked; j++) {
			uint8_t u[WB_META_UUID_LEN];

			uuid_n(u, j);
			if (!memcmp(u, m.data_uuid, WB_META_UUID_LEN))
				found = j;
		}
		if (!found)
			assert_int_equal(acked, 0);
		if (found < acked)
			fail_msg("cut %u: found update %u, but %u was acknowledged", cut, found,
				 acked);
		if (found) {
			assert_int_equal(m.nhistory, (found - 1) % 3);
			for (j = 0; j < m.nhistory; j++) {
				uint8_t u[WB_META_UUID_LEN];

				uuid_n(u, 1000 + (found - 1) + j);
				assert_memory_equal(m.history[j], u, WB_META_UUID_LEN);
			}
		}
		tested += acked > 0 && found < asked;
		wb_io_free(buf);
		efx_fini(&f);
	}
	/* some cuts fell between an acknowledged and a later update */
	assert_true(tested > 0);
}

/* A torn newest slot is refused by its crc and the previous copy wins: the
 * metadata before the update. The whole superblock (metadata included) is
 * in the slot's first 512-byte sector, so a tear on sector boundaries gives
 * the old or the new copy; this tears inside that sector, at 16-byte
 * steps, which no disk does: still never anything but old or new. */
static void test_torn_slot(void **state)
{
	struct wb_fault_cfg c = {0};
	uint8_t *oldimg = wb_io_alloc(EFX_BS), *newimg = wb_io_alloc(EFX_BS),
		*img = wb_io_alloc(EFX_BS);
	struct wb_meta before, want, m;
	struct wb_sb sb;
	char err[256];
	uint64_t slot;
	unsigned s, torn = 0;
	struct efx f;

	(void)state;
	efx_devices(&f, "meta", 1u << 20, &c, &c);
	f.p.log_segment_size = 64u << 10;
	efx_format_open(&f);
	memset(&want, 0, sizeof(want));
	for (s = 1; s < 512 / 16; s += 2) {
		meta_of(&f, &before);
		wb_engine_close(f.e);
		f.e = NULL;
		/* the slot the update will go to: open writes sb_seq + 1 */
		assert_int_equal(wb_sb_load(f.log, &sb, err, sizeof(err)), 0);
		slot = wb_sb_slot_off(&sb, sb.sb_seq + 2);
		assert_int_equal(wb_io_pread(f.log, oldimg, EFX_BS, slot), 0);
		efx_reopen(&f);
		uuid_n(want.data_uuid, s);
		assert_int_equal(wb_engine_meta_update_sync(f.e, WB_META_SET_UUIDS, &want), 0);
		/* crash: no clean-close copy after the update's */
		wb_io_fault_power_cut(f.log);
		wb_io_fault_power_cut(f.bak);
		wb_engine_close(f.e);
		f.e = NULL;
		wb_io_fault_power_on(f.log);
		wb_io_fault_power_on(f.bak);
		assert_int_equal(wb_sb_load(f.log, &sb, err, sizeof(err)), 0);
		assert_int_equal(wb_sb_slot_off(&sb, sb.sb_seq), slot);
		assert_int_equal(wb_io_pread(f.log, newimg, EFX_BS, slot), 0);
		assert_memory_not_equal(oldimg, newimg, EFX_BS);
		/* the first s * 16 bytes landed, the rest is the slot's old copy */
		memcpy(img, newimg, s * 16);
		memcpy(img + s * 16, oldimg + s * 16, EFX_BS - s * 16);
		assert_int_equal(wb_io_pwrite(f.log, img, EFX_BS, slot, WB_IO_FUA), 0);
		efx_reopen(&f);
		meta_of(&f, &m);
		if (!memcmp(img, newimg, EFX_BS)) { /* the rest was the same */
			assert_memory_equal(m.data_uuid, want.data_uuid, WB_META_UUID_LEN);
			continue;
		}
		torn++;
		assert_memory_equal(m.data_uuid, before.data_uuid, WB_META_UUID_LEN);
		assert_int_equal(m.nhistory, before.nhistory);
	}
	assert_true(torn >= 6);
	wb_io_free(oldimg);
	wb_io_free(newimg);
	wb_io_free(img);
	efx_fini(&f);
}

/* Rewrite every slot of the ring as a format version 1 copy. */
static void make_v1(struct wb_io *log)
{
	uint8_t *buf = wb_io_alloc(EFX_BS);
	struct wb_sb sb;
	char err[256];
	uint32_t i;

	assert_int_equal(wb_sb_load(log, &sb, err, sizeof(err)), 0);
	sb.version = 1;
	for (i = 0; i < sb.nslots; i++) {
		sb.sb_seq++;
		wb_sb_encode(&sb, buf);
		assert_int_equal(
		    wb_io_pwrite(log, buf, EFX_BS, wb_sb_slot_off(&sb, sb.sb_seq), WB_IO_FUA), 0);
	}
	assert_int_equal(wb_sb_load(log, &sb, err, sizeof(err)), 0);
	assert_int_equal(sb.version, 1);
	wb_io_free(buf);
}

static void slots_version(struct wb_io *log, uint32_t nslots, uint32_t version)
{
	uint8_t *buf = wb_io_alloc(EFX_BS);
	struct wb_sb sb;
	char why[160];
	uint32_t i;

	for (i = 0; i < nslots; i++) {
		assert_int_equal(wb_io_pread(log, buf, EFX_BS, (uint64_t)i * EFX_BS), 0);
		assert_int_equal(wb_sb_decode(buf, log->size, &sb, why, sizeof(why)), 0);
		assert_int_equal(sb.version, version);
	}
	wb_io_free(buf);
}

static void test_v1_open_and_upgrade(void **state)
{
	struct wb_fault_cfg c = {0};
	uint8_t a[EFX_BS], b[EFX_BS];
	struct wb_engine_params p;
	struct wb_meta m;
	struct efx f;

	(void)state;
	efx_devices(&f, "meta", 8u << 20, &c, &c);
	efx_format_open(&f);
	memset(a, 0x3c, sizeof(a));
	assert_int_equal(wb_engine_write(f.e, a, EFX_BS, 5 * EFX_BS, 0), 0);
	assert_int_equal(wb_engine_flush(f.e), 0);
	wb_engine_close(f.e);
	f.e = NULL;
	make_v1(f.log);

	/* a version 1 log opens, keeps its records, has no metadata */
	efx_reopen(&f);
	meta_of(&f, &m);
	assert_int_equal(m.version, 1);
	assert_memory_equal(m.data_uuid, zero_uuid, WB_META_UUID_LEN);
	assert_int_equal(m.node_id, 0);
	assert_int_equal(wb_engine_meta_update_sync(f.e, WB_META_NEW_UUID, NULL), -EPROTO);
	assert_int_equal(wb_engine_read(f.e, b, EFX_BS, 5 * EFX_BS), 0);
	assert_memory_equal(a, b, EFX_BS);
	memset(a, 0x4d, sizeof(a));
	assert_int_equal(wb_engine_write(f.e, a, EFX_BS, 6 * EFX_BS, 0), 0);
	wb_engine_close(f.e);
	f.e = NULL;
	slots_version(f.log, WB_SB_SLOTS, 1); /* the engine kept writing version 1 */

	/* upgrade: every slot version 2, records kept; a second one is a no-op */
	p = f.p;
	p.node_id = 5;
	assert_int_equal(wb_wblog_ops.upgrade(&p), 0);
	slots_version(f.log, WB_SB_SLOTS, 2);
	assert_int_equal(wb_wblog_ops.upgrade(&p), 1);
	efx_reopen(&f);
	meta_of(&f, &m);
	assert_int_equal(m.version, 2);
	assert_int_equal(m.node_id, 5);
	assert_memory_not_equal(m.data_uuid, zero_uuid, WB_META_UUID_LEN);
	assert_int_equal(m.nhistory, 0);
	assert_int_equal(wb_engine_read(f.e, b, EFX_BS, 6 * EFX_BS), 0);
	assert_memory_equal(a, b, EFX_BS);
	memset(a, 0x3c, sizeof(a));
	assert_int_equal(wb_engine_read(f.e, b, EFX_BS, 5 * EFX_BS), 0);
	assert_memory_equal(a, b, EFX_BS);
	assert_int_equal(wb_engine_meta_update_sync(f.e, WB_META_NEW_UUID, NULL), 0);
	efx_fini(&f);
}

/* Slots that are not version 1 or 2, or whose metadata is inconsistent,
 * are refused with the reason. */
static void test_decode_refusals(void **state)
{
	struct wb_fault_cfg c = {0};
	uint8_t *buf = wb_io_alloc(EFX_BS);
	struct wb_sb sb, good;
	struct wb_sb_disk *d = (struct wb_sb_disk *)buf;
	char err[256], why[160];
	struct efx f;

	(void)state;
	efx_devices(&f, "meta", 8u << 20, &c, &c);
	assert_int_equal(wb_wblog_ops.format(&f.p), 0);
	assert_int_equal(wb_sb_load(f.log, &good, err, sizeof(err)), 0);

	sb = good;
	sb.version = 3;
	wb_sb_encode(&sb, buf);
	assert_int_equal(wb_sb_decode(buf, 0, &sb, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "unsupported format version 3"));

	sb = good;
	sb.nhistory = WB_META_HISTORY + 1;
	wb_sb_encode(&sb, buf);
	assert_int_equal(wb_sb_decode(buf, 0, &sb, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "history"));

	sb = good;
	memset(sb.data_uuid, 0, sizeof(sb.data_uuid));
	wb_sb_encode(&sb, buf);
	assert_int_equal(wb_sb_decode(buf, 0, &sb, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "no data UUID"));

	sb = good;
	sb.nhistory = 1; /* entry 0 zero */
	wb_sb_encode(&sb, buf);
	assert_int_equal(wb_sb_decode(buf, 0, &sb, why, sizeof(why)), -EINVAL);

	sb = good;
	uuid_n(sb.uuid_history[3], 9); /* set past nhistory = 0 */
	wb_sb_encode(&sb, buf);
	assert_int_equal(wb_sb_decode(buf, 0, &sb, why, sizeof(why)), -EINVAL);

	/* a bitmap's tracking start: only while tracking, never past the
	 * stamp (older writers leave it 0) */
	assert_true(good.bm_npeers >= 1);
	sb = good;
	sb.bm_peer[0].since = 5;
	sb.bm_peer[0].flags &= ~WB_BM_F_TRACK;
	wb_sb_encode(&sb, buf);
	assert_int_equal(wb_sb_decode(buf, 0, &sb, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "but not tracking"));
	sb = good;
	sb.bm_peer[0].flags |= WB_BM_F_TRACK;
	sb.bm_peer[0].stamp = 4;
	sb.bm_peer[0].since = 5;
	wb_sb_encode(&sb, buf);
	assert_int_equal(wb_sb_decode(buf, 0, &sb, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "after its stamp"));

	/* round trip of a full copy */
	sb = good;
	sb.bm_peer[0].flags |= WB_BM_F_TRACK;
	sb.bm_peer[0].stamp = 9;
	sb.bm_peer[0].since = 7;
	sb.nhistory = 2;
	sb.node_id = 77;
	uuid_n(sb.uuid_history[0], 1);
	uuid_n(sb.uuid_history[1], 2);
	wb_sb_encode(&sb, buf);
	assert_int_equal(wb_le32_get(d->version), 2);
	assert_int_equal(wb_sb_decode(buf, 0, &good, why, sizeof(why)), 0);
	assert_memory_equal(&good, &sb, sizeof(sb));
	wb_io_free(buf);
	efx_fini(&f);
}

/* Engines without metadata say so. */
static void test_other_engines(void **state)
{
	struct wb_fault_cfg c = {0};
	struct wb_engine *e = NULL;
	struct wb_meta m;
	struct efx f;

	(void)state;
	efx_devices(&f, "meta", 1u << 20, &c, &c);
	assert_int_equal(wb_engine_open("ram", &f.p, &e), 0);
	assert_int_equal(wb_engine_meta(e, &m), -EOPNOTSUPP);
	assert_int_equal(wb_engine_meta_new_uuid(e, done_cb, NULL), -EOPNOTSUPP);
	wb_engine_close(e);
	assert_int_equal(wb_engine_upgrade("ram", &f.p), 1);
	efx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_and_new_uuid),
	    cmocka_unit_test(test_adopt_and_node_id),
	    cmocka_unit_test(test_updates_during_destage),
	    cmocka_unit_test(test_power_cut_during_updates),
	    cmocka_unit_test(test_torn_slot),
	    cmocka_unit_test(test_v1_open_and_upgrade),
	    cmocka_unit_test(test_decode_refusals),
	    cmocka_unit_test(test_other_engines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
