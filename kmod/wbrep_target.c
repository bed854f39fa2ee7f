// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbrep_target.c - the device-mapper target "wbrep" and the module entry.
 *
 * Table line: <start> <len> wbrep <lower_dev> <ring_name> [opt=value ...]
 *   queue_timeout_ms=N  fail held I/O after N ms without a daemon (30000)
 *   nslots=N            requests in flight, power of two <= 1024 (64)
 *   slot_size=N         bytes per request, multiple of 4096 (131072)
 *
 * The target never touches the lower device's data: every bio is held
 * (DM_MAPIO_SUBMITTED) and handed to wbrepd through the ring named
 * <ring_name> (wbrep_ring.c); the lower device is opened so that dm stacks
 * its limits and shows the dependency. I/O is capped to the slot size;
 * flush and FUA are advertised whatever the lower device says, because the
 * daemon's engine implements them.
 */
#include <linux/module.h>
#include <linux/init.h>
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/log2.h>
#include <linux/timekeeping.h>

#include "wbrep.h"

struct wbrep_target {
	struct dm_dev *lower;
	struct wbrep_ring *ring;
};

static int wbrep_parse_opt(struct dm_target *ti, const char *arg, u32 *tmo, u32 *nslots,
			   u32 *slot_size)
{
	const char *eq = strchr(arg, '=');
	char key[24];
	size_t klen;
	u32 v;

	klen = eq ? eq - arg : 0;
	if (!klen || klen >= sizeof(key) || kstrtou32(eq + 1, 10, &v)) {
		ti->error = "Bad option, expected key=value";
		return -EINVAL;
	}
	memcpy(key, arg, klen);
	key[klen] = '\0';
	if (!strcmp(key, "queue_timeout_ms")) {
		*tmo = v;
	} else if (!strcmp(key, "nslots")) {
		if (!v || v > WBREP_MAX_SLOTS || !is_power_of_2(v)) {
			ti->error = "nslots must be a power of two <= 1024";
			return -EINVAL;
		}
		*nslots = v;
	} else if (!strcmp(key, "slot_size")) {
		if (v < WBREP_MIN_SLOT_SIZE || v > WBREP_MAX_SLOT_SIZE || v % 4096) {
			ti->error = "slot_size must be a multiple of 4096 in [4096, 1 MiB]";
			return -EINVAL;
		}
		*slot_size = v;
	} else {
		ti->error = "Unknown option";
		return -EINVAL;
	}
	return 0;
}

static int wbrep_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	u32 tmo = WBREP_DEF_TIMEOUT_MS, nslots = WBREP_DEF_SLOTS;
	u32 slot_size = WBREP_DEF_SLOT_SIZE;
	struct wbrep_target *t;
	unsigned int i;
	int ret;

	if (argc < 2) {
		ti->error = "Usage: <lower_dev> <ring_name> [opt=value ...]";
		return -EINVAL;
	}
	if (!argv[1][0] || strlen(argv[1]) >= WBREP_NAME_MAX) {
		ti->error = "Ring name must have 1..31 characters";
		return -EINVAL;
	}
	for (i = 2; i < argc; i++) {
		ret = wbrep_parse_opt(ti, argv[i], &tmo, &nslots, &slot_size);
		if (ret)
			return ret;
	}
	if (ti->begin % 8 || ti->len % 8) {
		ti->error = "Start and length must be multiples of 4 KiB";
		return -EINVAL;
	}
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t) {
		ti->error = "Out of memory";
		return -ENOMEM;
	}
	ret = dm_get_device(ti, argv[0], dm_table_get_mode(ti->table), &t->lower);
	if (ret) {
		ti->error = "Cannot open lower device";
		goto out_free;
	}
	ret = wbrep_ring_create(argv[1], ti->len, nslots, slot_size, tmo, &t->ring);
	if (ret) {
		ti->error = ret == -EEXIST ? "Ring name in use" : "Cannot create ring";
		goto out_put;
	}
	ret = dm_set_target_max_io_len(ti, slot_size >> SECTOR_SHIFT);
	if (ret) {
		ti->error = "Cannot set max I/O length";
		goto out_ring;
	}
	ti->num_flush_bios = 1;
	ti->flush_supported = true;
	ti->num_discard_bios = 1;
	ti->discards_supported = true;
	ti->num_write_zeroes_bios = 1;
	ti->per_io_data_size = sizeof(struct wbrep_io);
	ti->private = t;
	return 0;

out_ring:
	wbrep_ring_destroy(t->ring);
out_put:
	dm_put_device(ti, t->lower);
out_free:
	kfree(t);
	return ret;
}

static void wbrep_dtr(struct dm_target *ti)
{
	struct wbrep_target *t = ti->private;

	wbrep_ring_destroy(t->ring);
	dm_put_device(ti, t->lower);
	kfree(t);
}

static int wbrep_map(struct dm_target *ti, struct bio *bio)
{
	struct wbrep_target *t = ti->private;
	struct wbrep_io *io = dm_per_bio_data(bio, sizeof(*io));

	switch (bio_op(bio)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
	case REQ_OP_FLUSH:
	case REQ_OP_DISCARD:
	case REQ_OP_WRITE_ZEROES:
		break;
	default:
		return DM_MAPIO_KILL;
	}
	if (bio->bi_iter.bi_size > t->ring->slot_size &&
	    (bio_op(bio) == REQ_OP_READ || bio_op(bio) == REQ_OP_WRITE)) {
		DMERR_LIMIT("ring %s: %u-byte bio exceeds the slot size", t->ring->name,
			    bio->bi_iter.bi_size);
		return DM_MAPIO_KILL;
	}
	/* offsets into the ring are relative to the target */
	bio->bi_iter.bi_sector = dm_target_offset(ti, bio->bi_iter.bi_sector);
	INIT_LIST_HEAD(&io->node);
	io->bio = bio;
	io->flags = 0;
	io->status = BLK_STS_OK;
	io->start_ns = ktime_get_ns();
	wbrep_ring_queue(t->ring, io);
	return DM_MAPIO_SUBMITTED;
}

static void wbrep_presuspend(struct dm_target *ti)
{
	struct wbrep_target *t = ti->private;

	/*
	 * noflush: give never-posted bios back to dm; otherwise dm waits for
	 * the daemon (or the queue timeout) to complete what is held.
	 */
	if (dm_noflush_suspending(ti))
		wbrep_ring_requeue_pending(t->ring);
}

static void wbrep_status(struct dm_target *ti, status_type_t type, unsigned int status_flags,
			 char *result, unsigned int maxlen)
{
	struct wbrep_target *t = ti->private;
	struct wbrep_ring *r = t->ring;
	struct wbrep_ring_stats st;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		wbrep_ring_get_stats(r, &st);
		DMEMIT("session=%u inflight=%u pending=%u completed=%llu fences=%u timeouts=%llu reissued=%llu",
		       st.session, st.inflight, st.pending, st.completed, st.fences,
		       st.timeouts, st.reissued);
		break;
	case STATUSTYPE_TABLE:
		DMEMIT("%s %s queue_timeout_ms=%u nslots=%u slot_size=%u", t->lower->name,
		       r->name, r->queue_timeout_ms, r->nslots, r->slot_size);
		break;
	case STATUSTYPE_IMA:
		*result = '\0';
		break;
	}
}

static int wbrep_iterate_devices(struct dm_target *ti, iterate_devices_callout_fn fn, void *data)
{
	struct wbrep_target *t = ti->private;

	return fn(ti, t->lower, 0, ti->len, data);
}

static void wbrep_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct wbrep_target *t = ti->private;
	unsigned int max = t->ring->slot_size >> SECTOR_SHIFT;

	limits->logical_block_size = max_t(unsigned int, limits->logical_block_size, 4096);
	limits->physical_block_size = max_t(unsigned int, limits->physical_block_size, 4096);
	blk_limits_io_min(limits, 4096);
	limits->max_sectors = min_t(unsigned int, limits->max_sectors, max);
	limits->max_hw_sectors = min_t(unsigned int, limits->max_hw_sectors, max);
	limits->discard_granularity = 4096;
	limits->max_discard_sectors = max;
	limits->max_hw_discard_sectors = max;
	limits->max_write_zeroes_sectors = max;
}

static struct target_type wbrep_target = {
	.name		 = "wbrep",
	.version	 = {1, 0, 0},
	.module		 = THIS_MODULE,
	.ctr		 = wbrep_ctr,
	.dtr		 = wbrep_dtr,
	.map		 = wbrep_map,
	.presuspend	 = wbrep_presuspend,
	.status		 = wbrep_status,
	.iterate_devices = wbrep_iterate_devices,
	.io_hints	 = wbrep_io_hints,
};

static int __init wbrep_init(void)
{
	int ret;

	ret = wbrep_genl_init();
	if (ret) {
		pr_err("wbrep: cannot register generic netlink family: %d\n", ret);
		return ret;
	}
	ret = wbrep_dev_init();
	if (ret) {
		pr_err("wbrep: cannot register /dev/wbrep-ctl: %d\n", ret);
		goto out_genl;
	}
	ret = dm_register_target(&wbrep_target);
	if (ret) {
		pr_err("wbrep: cannot register dm target: %d\n", ret);
		goto out_dev;
	}
	return 0;

out_dev:
	wbrep_dev_exit();
out_genl:
	wbrep_genl_exit();
	return ret;
}

static void __exit wbrep_exit(void)
{
	dm_unregister_target(&wbrep_target);
	wbrep_dev_exit();
	wbrep_genl_exit();
}

module_init(wbrep_init);
module_exit(wbrep_exit);

MODULE_DESCRIPTION("dm-wbrep: device-mapper shim handing bios to wbrepd over shared rings");
MODULE_AUTHOR("wbrep authors");
MODULE_LICENSE("GPL");
