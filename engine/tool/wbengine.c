// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbengine.c - offline tool for wblog logs: format, info, dump, check, repair,
 * bind, upgrade.
 *
 *   wbengine format --log FILE --backing FILE [--segment-size N] [--size N]
 *                   [--base-seq N --base-gen G] [--node-id N]
 *                   [--bitmap-peers N] [--bitmap-region N]
 *                   [--force [--discard-dirty]]
 *   wbengine info   --log FILE --backing FILE [--json] [--min-rate BYTES/S]
 *   wbengine dump   --log FILE [--from SEQ] [--count N]
 *   wbengine check  --log FILE --backing FILE
 *   wbengine repair --log FILE --backing FILE [--accept-data-loss]
 *   wbengine bind   --log FILE --backing FILE
 *   wbengine upgrade --log FILE [--node-id N]
 *
 * Only `format`, `repair --accept-data-loss`, `bind` and `upgrade` write;
 * upgrade turns a format version 1 log into version 2 (wb_sb_upgrade). format
 * refuses a log that is not blank (wb_log_probe) without --force, and one
 * holding records without --discard-dirty too; repair drops what follows a
 * hole in the log that recovery refuses as corruption; bind writes the
 * backing's identity block (engine/bind.h) naming this log, the documented
 * way to pair a log with a backing it was not formatted with (e.g. a
 * restored copy). info/dump/check read the superblock ring and follow the
 * run of valid records exactly like recovery on open (engine/recovery.c),
 * so what they show is what an open would recover. Devices are opened with
 * the io_uring backend (O_DIRECT, buffered fallback with one log line).
 *
 * Exit codes: 0 ok, 1 failure (bad log, I/O error, check found a bad
 * record), 2 usage error. Owns nothing beyond main(): every buffer is freed
 * on the way out.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/bind.h"
#include "engine/recovery.h"
#include "engine/record.h"
#include "engine/wbengine.h"
#include "engine/superblock.h"

#define EX_OK	 0
#define EX_FAIL	 1
#define EX_USAGE 2

#define DEFAULT_MIN_RATE (4ull << 20) /* the engine's default destage_min_rate */

struct opts {
	const char *log, *backing;
	uint64_t seg_size, size, from, count, min_rate, base_seq, base_gen, node_id;
	uint64_t bm_peers, bm_region;
	int force, discard_dirty, accept_loss, json, verbose;
};

static int quiet_info = 1;

static void msg_sink(int level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= WB_LOG_WARN || !quiet_info)
		fprintf(stderr, "wbengine: %s%s\n",
			level <= WB_LOG_ERR    ? "error: "
			: level == WB_LOG_WARN ? "warning: "
					       : "",
			msg);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: wbengine format --log FILE --backing FILE [--segment-size N] [--size N] "
		"[--base-seq N --base-gen G] [--node-id N]\n"
		"                       [--bitmap-peers N] [--bitmap-region N] "
		"[--force [--discard-dirty]]\n"
		"       wbengine info   --log FILE --backing FILE [--json] [--min-rate BYTES/S]\n"
		"       wbengine dump   --log FILE [--from SEQ] [--count N]\n"
		"       wbengine check  --log FILE --backing FILE\n"
		"       wbengine repair --log FILE --backing FILE [--accept-data-loss]\n"
		"       wbengine bind   --log FILE --backing FILE\n"
		"       wbengine upgrade --log FILE [--node-id N]\n"
		"Sizes accept K, M, G suffixes (powers of 1024).\n"
		"Exit: 0 ok, 1 failure, 2 usage error.\n");
}

/* Parse a byte count with an optional K/M/G suffix. 0 or -EINVAL. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10, end++;
		break;
	case 'm':
	case 'M':
		shift = 20, end++;
		break;
	case 'g':
	case 'G':
		shift = 30, end++;
		break;
	default:
		break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int open_dev(const char *path, struct wb_io **io)
{
	/* the backend logs the reason, naming the path */
	return wb_io_uring_open(path, 0, 0, 8, io);
}

static void uuid_str(const uint8_t *u, char *out)
{
	static const int dash[WB_UUID_LEN] = {[4] = 1, [6] = 1, [8] = 1, [10] = 1};
	int i, n = 0;

	for (i = 0; i < WB_UUID_LEN; i++)
		n += sprintf(out + n, "%s%02x", dash[i] ? "-" : "", u[i]);
}

static const char *flags_str(uint32_t f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s", f & WB_REC_F_GEN_END ? "GEN_END" : "",
		 (f & WB_REC_F_GEN_END) && (f & WB_REC_F_ZERO) ? "|" : "",
		 f & WB_REC_F_ZERO	  ? "ZERO"
		 : (f & WB_REC_F_GEN_END) ? ""
					  : "-");
	return buf;
}

/* ---- format ---------------------------------------------------------- */

static int cmd_format(const struct opts *o)
{
	struct wb_io *log = NULL, *bak = NULL;
	struct wb_engine_params p = {.name = "wbengine"};
	struct wb_log_probe pr;
	struct wb_sb sb;
	char err[320], u[40];
	int ret, rc = EX_FAIL;

	if (open_dev(o->log, &log) < 0 || open_dev(o->backing, &bak) < 0)
		goto out;
	ret = wb_log_probe(log, &pr);
	if (ret < 0) {
		fprintf(stderr, "wbengine: %s\n", pr.what);
		goto out;
	}
	if (pr.state != WB_LOG_BLANK && !o->force) {
		fprintf(stderr,
			"wbengine: %s is not blank: %s; not overwriting it without --force\n",
			o->log, pr.what);
		goto out;
	}
	if (pr.state != WB_LOG_BLANK && pr.records && !o->discard_dirty) {
		if (pr.state == WB_LOG_VALID)
			fprintf(stderr,
				"wbengine: %s holds %" PRIu64 " records with %" PRIu64
				" bytes of data not yet destaged to the backing device; "
				"formatting discards them: add --discard-dirty to --force if "
				"that is meant\n",
				o->log, pr.records, pr.dirty_bytes);
		else
			fprintf(stderr,
				"wbengine: %s: %s; without a valid superblock nothing tells which "
				"of them are on the backing device: add --discard-dirty to --force "
				"if discarding them is meant\n",
				o->log, pr.what);
		goto out;
	}
	if (o->seg_size > UINT32_MAX) {
		fprintf(stderr, "wbengine: --segment-size %" PRIu64 " is too large\n", o->seg_size);
		rc = EX_USAGE;
		goto out;
	}
	p.log_io = log;
	p.backing_io = bak;
	p.size = o->size;
	p.log_segment_size = (uint32_t)o->seg_size;
	p.base_seq = o->base_seq; /* a new replica starts at its primary's position */
	p.base_gen = o->base_gen;
	p.node_id = (uint32_t)o->node_id;
	p.bitmap_peers = (uint32_t)o->bm_peers;
	p.bitmap_region = (uint32_t)o->bm_region;
	ret = wb_engine_format("wblog", &p);
	if (ret < 0) {
		fprintf(stderr, "wbengine: format of %s failed: %s\n", o->log, strerror(-ret));
		goto out;
	}
	ret = wb_sb_load(log, &sb, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "wbengine: %s\n", err);
		goto out;
	}
	uuid_str(sb.uuid, u);
	printf("formatted %s: uuid %s, data area %" PRIu64 " bytes in %" PRIu64
	       " segments of %u bytes, for a %" PRIu64 "-byte backing device %s\n",
	       o->log, u, sb.data_size, sb.data_size / sb.seg_size, sb.seg_size, sb.dev_size,
	       o->backing);
	if (sb.tail_seq != 1 || sb.tail_gen != 1)
		printf("first record: seq %" PRIu64 ", generation %" PRIu64 "\n", sb.tail_seq,
		       sb.tail_gen);
	uuid_str(sb.data_uuid, u);
	printf("format version %u, data uuid %s, node id %u, bitmaps for %u peers at %u bytes "
	       "per bit\n",
	       sb.version, u, sb.node_id, sb.bm_npeers, 1u << sb.bm_region_shift);
	rc = EX_OK;
out:
	wb_io_close(log);
	wb_io_close(bak);
	return rc;
}

/* ---- the shared offline view: superblock slots + the recovered run ----- */

struct slot_state {
	int valid;
	char why[160];
	struct wb_sb sb;
};

struct view {
	struct wb_io *log, *bak;
	struct wb_sb sb;
	struct slot_state slot[WB_SB_MAX_SLOTS];
	struct wb_recovery rc;
	uint64_t gen_head, gen_durable, gen_oldest;
};

static void view_close(struct view *v)
{
	wb_io_close(v->log);
	wb_io_close(v->bak);
}

/* Open and load: 0, or EX_FAIL after printing what is wrong. */
static int view_load(struct view *v, const struct opts *o, int need_backing, wb_recovery_fn fn,
		     void *arg)
{
	char err[320];
	uint8_t *buf;
	uint32_t i;
	int ret;

	memset(v, 0, sizeof(*v));
	if (open_dev(o->log, &v->log) < 0)
		return EX_FAIL;
	if (need_backing && open_dev(o->backing, &v->bak) < 0)
		return EX_FAIL;
	ret = wb_sb_load(v->log, &v->sb, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "wbengine: %s\n", err);
		return EX_FAIL;
	}
	if (v->bak && v->bak->size < v->sb.dev_size) {
		fprintf(stderr,
			"wbengine: log %s belongs to a %" PRIu64 "-byte device, but "
			"backing %s has %" PRIu64 " bytes\n",
			o->log, v->sb.dev_size, o->backing, v->bak->size);
		return EX_FAIL;
	}
	if (v->bak) { /* the pair an open would accept, or refuse */
		char berr[1024];

		if (wb_bind_check(v->bak, o->log, v->sb.dev_size, v->sb.uuid, berr, sizeof(berr))) {
			fprintf(stderr, "wbengine: %s\n", berr);
			return EX_FAIL;
		}
	}
	buf = wb_io_alloc(WB_DISK_BLOCK);
	if (!buf)
		return EX_FAIL;
	for (i = 0; i < v->sb.nslots; i++) { /* wb_sb_load read as many */
		struct slot_state *s = &v->slot[i];

		ret = wb_io_pread(v->log, buf, WB_DISK_BLOCK, (uint64_t)i * WB_DISK_BLOCK);
		if (ret < 0) {
			snprintf(s->why, sizeof(s->why), "read error: %s", strerror(-ret));
			continue;
		}
		ret = wb_sb_decode(buf, v->log->size, &s->sb, s->why, sizeof(s->why));
		if (!ret && s->sb.sb_seq % s->sb.nslots != i) {
			snprintf(s->why, sizeof(s->why), "holds sb_seq %" PRIu64 " of another slot",
				 s->sb.sb_seq);
			ret = -EINVAL;
		}
		if (!ret && s->sb.nslots != v->sb.nslots) {
			snprintf(s->why, sizeof(s->why), "declares %u slots, the ring has %u",
				 s->sb.nslots, v->sb.nslots);
			ret = -EINVAL;
		}
		if (!ret && memcmp(s->sb.uuid, v->sb.uuid, WB_UUID_LEN)) {
			snprintf(s->why, sizeof(s->why), "belongs to another log (UUID)");
			ret = -EINVAL;
		}
		s->valid = !ret;
	}
	wb_io_free(buf);
	ret = wb_recovery_scan(v->log, &v->sb, v->sb.dev_size / WB_DISK_BLOCK, fn, arg, &v->rc);
	if (ret < 0) {
		fprintf(stderr, "wbengine: %s: reading the log: %s\n", o->log, strerror(-ret));
		return EX_FAIL;
	}
	/* the same rules as open (wblog.c) and the engine's stats */
	v->gen_head = v->rc.nrecs ? v->rc.last_gen + 1 : v->sb.tail_gen;
	if (v->gen_head <= v->sb.destaged_gen)
		v->gen_head = v->sb.destaged_gen + 1;
	v->gen_durable = v->gen_head - 1;
	v->gen_oldest = v->rc.nrecs ? v->rc.first_gen : v->gen_head;
	return 0;
}

/* ---- info -------------------------------------------------------------- */

/* Peer p's bitmap as on disk: 1 ok (count = set bits), 0 checksum
 * mismatch, -1 read error. A copy never written is all zero. */
static int bm_peer_read(const struct view *v, unsigned p, uint64_t *count)
{
	const struct wb_sb *sb = &v->sb;
	uint8_t *buf;
	uint64_t i;
	int ok = 1;

	*count = 0;
	if (!(sb->bm_peer[p].flags & WB_BM_F_WRITTEN))
		return 1;
	buf = wb_io_alloc(sb->bm_bytes);
	if (!buf || wb_io_pread(v->log, buf, sb->bm_bytes,
				wb_sb_bm_copy_off(sb, p, sb->bm_peer[p].flags & WB_BM_F_COPY))) {
		wb_io_free(buf);
		return -1;
	}
	if (wb_crc32c(0, buf, sb->bm_bytes) != sb->bm_peer[p].crc)
		ok = 0;
	for (i = 0; i < sb->bm_bytes; i++)
		*count += (uint64_t)__builtin_popcount(buf[i]);
	wb_io_free(buf);
	return ok;
}

static void info_text(const struct opts *o, const struct view *v, uint64_t eta_ms)
{
	const struct wb_sb *sb = &v->sb;
	const struct wb_recovery *rc = &v->rc;
	char u[40];
	uint32_t i;

	uuid_str(sb->uuid, u);
	printf("log              %s (%" PRIu64 " bytes)\n", o->log, v->log->size);
	printf("backing          %s (%" PRIu64 " bytes)\n", o->backing, v->bak->size);
	printf("uuid             %s\n", u);
	printf("format version   %u\n", sb->version);
	if (sb->version >= 2) {
		printf("node id          %u%s\n", sb->node_id, sb->node_id ? "" : " (not set)");
		uuid_str(sb->data_uuid, u);
		printf("data uuid        %s (since %" PRIu64 ")\n", u, sb->uuid_time);
		for (i = 0; i < sb->nhistory; i++) {
			uuid_str(sb->uuid_history[i], u);
			printf("uuid history %u   %s\n", i, u);
		}
	} else {
		printf("metadata         none (format version 1: `wbengine upgrade --log %s` "
		       "adds data UUIDs and the node id)\n",
		       o->log);
	}
	if (sb->bm_region_shift) {
		printf("bitmaps          %u peers, %u bytes per bit, 0x%" PRIx64 " + 2 x %" PRIu64
		       " bytes per peer\n",
		       sb->bm_npeers, 1u << sb->bm_region_shift, sb->bm_off, sb->bm_bytes);
		for (i = 0; i < sb->bm_npeers; i++) {
			uint64_t n;
			int ok = bm_peer_read(v, i, &n);

			printf("bitmap peer %-2u   %s%s", i,
			       sb->bm_owner[i][0] ? sb->bm_owner[i] : "",
			       sb->bm_owner[i][0] ? ": " : "");
			if (ok < 0)
				printf("unreadable\n");
			else
				printf("%" PRIu64 " regions dirty%s%s%s", n,
				       ok ? "" : " (CHECKSUM MISMATCH: open marks all)",
				       sb->bm_peer[i].flags & WB_BM_F_MARKED
					   ? " (blocks found different: until a resync)"
					   : "",
				       sb->bm_peer[i].flags & WB_BM_F_TRACK ? "" : "\n");
			if (ok >= 0 && (sb->bm_peer[i].flags & WB_BM_F_TRACK) &&
			    sb->bm_peer[i].since)
				printf(", tracking since seq %" PRIu64
				       ": + the records from seq %" PRIu64 " on\n",
				       sb->bm_peer[i].since, sb->bm_peer[i].stamp);
			else if (ok >= 0 && (sb->bm_peer[i].flags & WB_BM_F_TRACK))
				printf(", tracking: + the records from seq %" PRIu64 " on\n",
				       sb->bm_peer[i].stamp);
		}
	} else if (sb->version >= 2) {
		printf("bitmaps          none\n");
	}
	printf("device size      %" PRIu64 " bytes\n", sb->dev_size);
	printf("data area        0x%" PRIx64 " + %" PRIu64 " bytes, %" PRIu64
	       " segments of %u bytes\n",
	       sb->data_off, sb->data_size, sb->data_size / sb->seg_size, sb->seg_size);
	if (wb_sb_data_size(sb, v->log->size) > sb->data_size)
		printf("log device       %" PRIu64 " bytes: the data area can grow by %" PRIu64
		       " bytes (`wbctl resize RES --log`)\n",
		       v->log->size, wb_sb_data_size(sb, v->log->size) - sb->data_size);
	printf("usage            %" PRIu64 " of %" PRIu64 " bytes (%.1f%%)\n", rc->used,
	       sb->data_size, sb->data_size ? 100.0 * rc->used / sb->data_size : 0.0);
	printf("dirty            %" PRIu64 " bytes in %" PRIu64 " records\n", rc->data_bytes,
	       rc->nrecs);
	printf("generations      head %" PRIu64 ", durable %" PRIu64 ", oldest %" PRIu64
	       ", destaged %" PRIu64 "\n",
	       v->gen_head, v->gen_durable, v->gen_oldest, sb->destaged_gen);
	printf("seq              head %" PRIu64 ", tail %" PRIu64 "\n", rc->next_seq, sb->tail_seq);
	printf("tail / head      0x%" PRIx64 " / 0x%" PRIx64 "\n", rc->first_off, rc->head_off);
	printf("destage ETA      %" PRIu64 " ms at the minimum rate %" PRIu64
	       " B/s (measured rate: only while the engine runs, see wbctl status)\n",
	       eta_ms, o->min_rate);
	printf("epoch            %" PRIu64 "\n", sb->epoch);
	printf("state            %s\n", sb->flags & WB_SB_F_CLEAN ? "clean"
								  : "not clean "
								    "(open or crashed)");
	printf("run ended        %s\n", rc->end_why[0] ? rc->end_why : "-");
	for (i = 0; i < v->sb.nslots; i++) {
		const struct slot_state *s = &v->slot[i];

		if (s->valid)
			printf("superblock %u     valid, sb_seq %" PRIu64 ", epoch %" PRIu64
			       "%s%s\n",
			       i, s->sb.sb_seq, s->sb.epoch,
			       s->sb.sb_seq == sb->sb_seq ? " (newest)" : "",
			       s->sb.flags & WB_SB_F_CLEAN ? ", clean" : "");
		else
			printf("superblock %u     invalid: %s\n", i, s->why);
	}
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void info_json(const struct opts *o, const struct view *v, uint64_t eta_ms)
{
	const struct wb_sb *sb = &v->sb;
	const struct wb_recovery *rc = &v->rc;
	char u[40];
	uint32_t i;

	uuid_str(sb->uuid, u);
	printf("{\"log\": ");
	json_str(o->log);
	printf(", \"backing\": ");
	json_str(o->backing);
	printf(", \"uuid\": \"%s\", \"format_version\": %u, \"node_id\": %u, \"data_uuid\": ", u,
	       sb->version, sb->node_id);
	if (sb->version >= 2) {
		uuid_str(sb->data_uuid, u);
		printf("\"%s\"", u);
	} else {
		printf("null");
	}
	printf(", \"uuid_time\": %" PRIu64 ", \"uuid_history\": [", sb->uuid_time);
	for (i = 0; i < sb->nhistory; i++) {
		uuid_str(sb->uuid_history[i], u);
		printf("%s\"%s\"", i ? ", " : "", u);
	}
	printf("], \"bitmap_region\": %u, \"bitmap_peers\": %u, \"bitmaps\": [",
	       sb->bm_region_shift ? 1u << sb->bm_region_shift : 0, sb->bm_npeers);
	for (i = 0; i < sb->bm_npeers; i++) {
		uint64_t n;
		int ok = bm_peer_read(v, i, &n);

		/* the owner is printable ASCII (wb_sb_owner_ok), '"' and '\\'
		 * included: those escaped */
		printf("%s{\"peer\": %u, \"owner\": \"", i ? ", " : "", i);
		for (const char *c = sb->bm_owner[i]; *c; c++)
			printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
		printf("\", \"ok\": %s, \"dirty_regions\": %" PRIu64
		       ", \"tracking\": %s, \"marked\": %s, \"stamp\": %" PRIu64
		       ", \"since\": %" PRIu64 "}",
		       ok > 0 ? "true" : "false", n,
		       sb->bm_peer[i].flags & WB_BM_F_TRACK ? "true" : "false",
		       sb->bm_peer[i].flags & WB_BM_F_MARKED ? "true" : "false",
		       sb->bm_peer[i].stamp, sb->bm_peer[i].since);
	}
	printf("],\n \"log_bytes\": %" PRIu64 ", \"dev_size\": %" PRIu64 ", \"data_off\": %" PRIu64
	       ", \"data_size\": %" PRIu64 ", \"seg_size\": %u, \"max_rec_blocks\": %u,\n",
	       v->log->size, sb->dev_size, sb->data_off, sb->data_size, sb->seg_size,
	       sb->max_rec_blocks);
	printf(" \"log_used\": %" PRIu64 ", \"dirty_bytes\": %" PRIu64 ", \"records\": %" PRIu64
	       ",\n",
	       rc->used, rc->data_bytes, rc->nrecs);
	printf(" \"gen_head\": %" PRIu64 ", \"gen_durable\": %" PRIu64 ", \"gen_oldest\": %" PRIu64
	       ", \"gen_destaged\": %" PRIu64 ",\n",
	       v->gen_head, v->gen_durable, v->gen_oldest, sb->destaged_gen);
	printf(" \"seq_head\": %" PRIu64 ", \"seq_tail\": %" PRIu64 ", \"tail_off\": %" PRIu64
	       ", \"head_off\": %" PRIu64 ",\n",
	       rc->next_seq, sb->tail_seq, rc->first_off, rc->head_off);
	printf(" \"destage_min_rate\": %" PRIu64 ", \"destage_eta_ms\": %" PRIu64
	       ", \"destage_rate_measured\": null,\n",
	       o->min_rate, eta_ms);
	printf(" \"epoch\": %" PRIu64 ", \"clean\": %s, \"create_time\": %" PRIu64
	       ", \"update_time\": %" PRIu64 ", \"run_end\": ",
	       sb->epoch, sb->flags & WB_SB_F_CLEAN ? "true" : "false", sb->create_time,
	       sb->update_time);
	json_str(rc->end_why);
	printf(",\n \"superblocks\": [");
	for (i = 0; i < v->sb.nslots; i++) {
		const struct slot_state *s = &v->slot[i];

		printf("%s\n  {\"slot\": %u, \"valid\": %s", i ? "," : "", i,
		       s->valid ? "true" : "false");
		if (s->valid)
			printf(", \"sb_seq\": %" PRIu64 ", \"epoch\": %" PRIu64 ", \"newest\": %s"
			       ", \"clean\": %s}",
			       s->sb.sb_seq, s->sb.epoch,
			       s->sb.sb_seq == sb->sb_seq ? "true" : "false",
			       s->sb.flags & WB_SB_F_CLEAN ? "true" : "false");
		else {
			printf(", \"error\": ");
			json_str(s->why);
			printf("}");
		}
	}
	printf("\n ]}\n");
}

static int cmd_info(const struct opts *o)
{
	struct view v;
	uint64_t eta_ms;
	int rc = view_load(&v, o, 1, NULL, NULL);

	if (!rc) {
		eta_ms = o->min_rate ? v.rc.data_bytes * 1000 / o->min_rate : 0;
		if (o->json)
			info_json(o, &v, eta_ms);
		else
			info_text(o, &v, eta_ms);
	}
	view_close(&v);
	return rc;
}

/* ---- dump -------------------------------------------------------------- */

struct dump_ctx {
	const struct opts *o;
	uint64_t shown;
};

static int dump_cb(void *arg, const struct wb_rec_info *ri, uint64_t span, const void *data)
{
	struct dump_ctx *d = arg;
	char fl[32];
	uint32_t i;

	(void)data;
	if (ri->seq < d->o->from || (d->o->count && d->shown >= d->o->count))
		return 0;
	d->shown++;
	printf("seq %" PRIu64 " gen %" PRIu64 " epoch %" PRIu64 " flags %s off 0x%" PRIx64
	       " blocks %u span %" PRIu64 " time_ns %" PRIu64 " extents %u\n",
	       ri->seq, ri->gen, ri->epoch, flags_str(ri->flags, fl, sizeof(fl)), ri->self_off,
	       ri->data_blocks, span, ri->time_ns, ri->nextents);
	for (i = 0; i < ri->nextents; i++)
		printf("  ext %u lba %" PRIu64 " nblocks %u crc 0x%08x\n", i, ri->ext[i].lba,
		       ri->ext[i].nblocks, ri->ext[i].crc);
	return 0;
}

static int cmd_dump(const struct opts *o)
{
	struct dump_ctx d = {.o = o};
	struct view v;
	int rc = view_load(&v, o, 0, dump_cb, &d);

	if (!rc)
		printf("# %" PRIu64 " of %" PRIu64 " records shown (seq %" PRIu64 "..%" PRIu64
		       "); run ended: %s\n",
		       d.shown, v.rc.nrecs, v.sb.tail_seq, v.rc.next_seq - 1,
		       v.rc.end_why[0] ? v.rc.end_why : "-");
	view_close(&v);
	return rc;
}

/* ---- check ------------------------------------------------------------- */

/*
 * The run stops at the first record that is not valid. Whether that is the
 * normal end of the log or a bad record: a record header at the end
 * position (or at data_off after a wrap) that carries the expected seq and
 * this log's UUID is a record that should have been part of the run; after
 * a clean close the run must reach the head hint, and no record past the
 * run may say the run's end was durable (wb_recovery_verify). Returns 1 (a
 * bad record, maybe torn by a crash), 2 (corruption for certain) and fills
 * `what`, or 0.
 */
static int check_end(struct view *v, char *what, size_t len)
{
	const struct wb_recovery *rc = &v->rc;
	uint64_t cand[2] = {rc->end_off, v->sb.data_off};
	struct wb_rec_info *ri = malloc(sizeof(*ri));
	uint8_t *hdr = wb_io_alloc(WB_DISK_BLOCK);
	char vwhy[400];
	int i, bad = 0;

	if (!ri || !hdr) {
		snprintf(what, len, "out of memory");
		bad = 1;
		goto out;
	}
	for (i = 0; i < 2 && !bad; i++) {
		const struct wb_rec_disk *d = (const void *)hdr;
		struct wb_rec_expect x = {.uuid = v->sb.uuid, .self_off = cand[i]};
		int ret;

		if (i && cand[1] == cand[0])
			break;
		if (cand[i] + WB_DISK_BLOCK > v->sb.data_off + v->sb.data_size ||
		    wb_io_pread(v->log, hdr, WB_DISK_BLOCK, cand[i]) < 0)
			continue;
		if (wb_le64_get(d->magic) != WB_REC_MAGIC ||
		    memcmp(d->uuid, v->sb.uuid, WB_UUID_LEN) ||
		    wb_le64_get(d->seq) != rc->next_seq || wb_le64_get(d->self_off) != cand[i])
			continue;
		ret = wb_record_decode(hdr, WB_DISK_BLOCK, &x, ri);
		/* a leftover of an older open (the epoch rule of recovery) is
		 * the normal end of the log, not damage */
		if (!ret && ri->epoch < (rc->nrecs ? rc->last_epoch : v->sb.tail_min_epoch))
			continue;
		if (ret)
			snprintf(what, len, "record seq %" PRIu64 " at 0x%" PRIx64 ": %s",
				 rc->next_seq, cand[i], wb_record_strerror(ret));
		else /* a valid header: the scan said why it stopped there */
			snprintf(what, len, "record seq %" PRIu64 " %s", rc->next_seq, rc->end_why);
		bad = 1;
	}
	/* corruption for certain: the clean-close hint, or a flushed record
	 * past the end of the run (engine/recovery.h) */
	if (wb_recovery_verify(v->log, &v->sb, v->sb.dev_size / WB_DISK_BLOCK, rc, NULL, NULL, vwhy,
			       sizeof(vwhy)) > 0) {
		size_t n = bad ? strlen(what) : 0;

		snprintf(what + n, len - n, "%scorruption: %s", bad ? "\n" : "", vwhy);
		bad = 2;
	}
out:
	free(ri);
	wb_io_free(hdr);
	return bad;
}

static int cmd_check(const struct opts *o)
{
	struct view v;
	char what[1024];
	uint32_t i, nvalid = 0;
	int bad, rc = view_load(&v, o, 1, NULL, NULL);

	if (rc)
		goto out;
	for (i = 0; i < v.sb.nslots; i++) {
		if (v.slot[i].valid)
			nvalid++;
		else
			printf("warning: superblock slot %u invalid: %s\n", i, v.slot[i].why);
	}
	bad = check_end(&v, what, sizeof(what));
	if (bad) {
		printf("BAD %s\n", what);
		if (bad == 2)
			printf("note: the engine refuses to open this log; `wbengine repair "
			       "--accept-data-loss` drops seq %" PRIu64
			       " and every record after it\n",
			       v.rc.next_seq);
		else if (!(v.sb.flags & WB_SB_F_CLEAN))
			printf("note: the log was not closed cleanly; a record torn by a crash "
			       "before its flush looks like this too and is dropped by recovery\n");
		rc = EX_FAIL;
		goto out;
	}
	printf("ok: %" PRIu64 " records (seq %" PRIu64 "..%" PRIu64 ", %" PRIu64
	       " data bytes) verified: header crc32c, self offset, seq, epoch, extent data "
	       "crc32c; %u of %u superblock slots valid; run ended: %s\n",
	       v.rc.nrecs, v.sb.tail_seq, v.rc.next_seq - 1, v.rc.data_bytes, nvalid, v.sb.nslots,
	       v.rc.end_why[0] ? v.rc.end_why : "-");
out:
	view_close(&v);
	return rc;
}

/* ---- repair ------------------------------------------------------------ */

struct strays {
	uint64_t *off;
	size_t n, cap;
};

static int stray_add(void *arg, const struct wb_rec_info *ri)
{
	struct strays *s = arg;

	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		uint64_t *n = realloc(s->off, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->off = n;
		s->cap = ncap;
	}
	s->off[s->n++] = ri->self_off;
	return 0;
}

/*
 * Accept the loss found by wb_recovery_verify: clear every header of this
 * log past the run with a seq >= its end (they would be evidence again, and
 * their seqs get reused), flush, then write a superblock copy without the
 * clean flag (FUA). The engine then opens the log with the run as it is.
 * A crash in between leaves the log refused as before; run it again.
 */
static int cmd_repair(const struct opts *o)
{
	struct strays st = {0};
	struct view v;
	char why[400];
	uint8_t *blk = NULL;
	size_t i;
	int ret, rc = view_load(&v, o, 1, NULL, NULL);

	if (rc)
		goto out;
	rc = EX_FAIL;
	ret = wb_recovery_verify(v.log, &v.sb, v.sb.dev_size / WB_DISK_BLOCK, &v.rc, stray_add, &st,
				 why, sizeof(why));
	if (ret < 0) {
		fprintf(stderr, "wbengine: %s: reading the log: %s\n", o->log, strerror(-ret));
		goto out;
	}
	if (ret == 0) {
		printf("ok: nothing to repair (%" PRIu64 " records, seq %" PRIu64 "..%" PRIu64
		       ")\n",
		       v.rc.nrecs, v.sb.tail_seq, v.rc.next_seq - 1);
		rc = EX_OK;
		goto out;
	}
	printf("damaged: %s\n", why);
	if (!o->accept_loss) {
		fprintf(stderr,
			"wbengine: repair would drop seq %" PRIu64 " and every record after it "
			"(%zu record headers past the run); the data they hold is lost unless it "
			"is on the backing device or a peer. Add --accept-data-loss to do it.\n",
			v.rc.next_seq, st.n);
		goto out;
	}
	blk = wb_io_alloc(WB_DISK_BLOCK);
	if (!blk)
		goto out;
	memset(blk, 0, WB_DISK_BLOCK);
	for (i = 0; i < st.n; i++) {
		ret = wb_io_pwrite(v.log, blk, WB_DISK_BLOCK, st.off[i], 0);
		if (ret < 0)
			goto out_io;
	}
	ret = wb_io_flush(v.log);
	if (ret < 0)
		goto out_io;
	v.sb.flags &= ~WB_SB_F_CLEAN;
	v.sb.head_hint_off = v.sb.head_hint_seq = 0;
	v.sb.sb_seq++;
	v.sb.update_time = (uint64_t)time(NULL);
	wb_sb_encode(&v.sb, blk);
	ret =
	    wb_io_pwrite(v.log, blk, WB_DISK_BLOCK, wb_sb_slot_off(&v.sb, v.sb.sb_seq), WB_IO_FUA);
	if (ret < 0)
		goto out_io;
	ret = wb_io_flush(v.log);
	if (ret < 0)
		goto out_io;
	printf("repaired: the log ends at seq %" PRIu64 " (0x%" PRIx64 "); dropped seq %" PRIu64
	       " and after (%zu record headers cleared)\n",
	       v.rc.next_seq - 1, v.rc.head_off, v.rc.next_seq, st.n);
	rc = EX_OK;
	goto out;
out_io:
	fprintf(stderr, "wbengine: %s: writing: %s\n", o->log, strerror(-ret));
out:
	wb_io_free(blk);
	free(st.off);
	view_close(&v);
	return rc;
}

/* ---- bind -------------------------------------------------------------- */

static int cmd_bind(const struct opts *o)
{
	struct wb_io *log = NULL, *bak = NULL;
	struct wb_bind b;
	struct wb_sb sb;
	char err[320], why[160], u[40], old[200];
	int ret, rc = EX_FAIL;

	if (open_dev(o->log, &log) < 0 || open_dev(o->backing, &bak) < 0)
		goto out;
	ret = wb_sb_load(log, &sb, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "wbengine: %s\n", err);
		goto out;
	}
	ret = wb_bind_read(bak, sb.dev_size, &b, why, sizeof(why));
	if (ret && ret != -ENODATA) {
		fprintf(stderr, "wbengine: %s: %s\n", o->backing, why);
		goto out;
	}
	if (ret)
		snprintf(old, sizeof(old), "none (%s)", why);
	else
		wb_bind_uuid_str(b.log_uuid, old);
	if (wb_bind_write(bak, sb.dev_size, sb.uuid))
		goto out;
	wb_bind_uuid_str(sb.uuid, u);
	printf("bound backing %s to log %s (UUID %s, %" PRIu64 " exported bytes); it was bound "
	       "to: %s\n",
	       o->backing, o->log, u, sb.dev_size, old);
	rc = EX_OK;
out:
	wb_io_close(log);
	wb_io_close(bak);
	return rc;
}

/* ---- upgrade ----------------------------------------------------------- */

static int cmd_upgrade(const struct opts *o)
{
	struct wb_io *log = NULL;
	struct wb_sb sb;
	char err[320], u[40];
	int ret, rc = EX_FAIL;

	if (open_dev(o->log, &log) < 0)
		goto out;
	ret = wb_sb_upgrade(log, (uint32_t)o->node_id, &sb, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "wbengine: %s\n", err);
		goto out;
	}
	uuid_str(sb.data_uuid, u);
	if (ret == 1)
		printf("%s is already format version %u (data uuid %s, node id %u): nothing "
		       "written\n",
		       o->log, sb.version, u, sb.node_id);
	else
		printf("upgraded %s to format version %u: data uuid %s, node id %u\n", o->log,
		       sb.version, u, sb.node_id);
	rc = EX_OK;
out:
	wb_io_close(log);
	return rc;
}

/* ---- main -------------------------------------------------------------- */

static const struct cmd {
	const char *name;
	int (*fn)(const struct opts *o);
	int need_backing;
} cmds[] = {
    {"format", cmd_format, 1},	 {"info", cmd_info, 1},	    {"dump", cmd_dump, 0},
    {"check", cmd_check, 1},	 {"repair", cmd_repair, 1}, {"bind", cmd_bind, 1},
    {"upgrade", cmd_upgrade, 0},
};

/* One command-line option into *o: 0, or EX_USAGE (said why). */
static int set_opt(int c, const char *arg, struct opts *o)
{
	const char *bad = NULL;

	switch (c) {
	case 'l':
		o->log = arg;
		break;
	case 'b':
		o->backing = arg;
		break;
	case 's':
		if (parse_size(arg, &o->seg_size) || !o->seg_size)
			bad = "--segment-size";
		break;
	case 'S':
		if (parse_size(arg, &o->size) || !o->size)
			bad = "--size";
		break;
	case 'F':
		if (parse_size(arg, &o->from))
			bad = "--from";
		break;
	case 'n':
		if (parse_size(arg, &o->count) || !o->count)
			bad = "--count";
		break;
	case 'r':
		if (parse_size(arg, &o->min_rate) || !o->min_rate)
			bad = "--min-rate";
		break;
	case 'Q':
		if (parse_size(arg, &o->base_seq) || !o->base_seq)
			bad = "--base-seq";
		break;
	case 'G':
		if (parse_size(arg, &o->base_gen) || !o->base_gen)
			bad = "--base-gen";
		break;
	case 'N':
		if (parse_size(arg, &o->node_id) || !o->node_id || o->node_id > UINT32_MAX)
			bad = "--node-id";
		break;
	case 'P':
		if (parse_size(arg, &o->bm_peers) || !o->bm_peers ||
		    o->bm_peers > WB_ENGINE_MAX_PEERS)
			bad = "--bitmap-peers";
		break;
	case 'R':
		if (parse_size(arg, &o->bm_region) || o->bm_region < 4096 ||
		    o->bm_region > (1u << 30) || (o->bm_region & (o->bm_region - 1)))
			bad = "--bitmap-region";
		break;
	case 'f':
		o->force = 1;
		break;
	case 'D':
		o->discard_dirty = 1;
		break;
	case 'A':
		o->accept_loss = 1;
		break;
	case 'j':
		o->json = 1;
		break;
	case 'v':
		o->verbose = 1;
		quiet_info = 0;
		break;
	default:
		usage(stderr);
		return EX_USAGE;
	}
	if (bad) {
		fprintf(stderr, "wbengine: %s: invalid value '%s'\n", bad, arg);
		return EX_USAGE;
	}
	return 0;
}

/* Options that the command cmd does not take, or misses: EX_USAGE (said
 * why), else 0. */
static int check_opts(const struct cmd *cmd, const struct opts *o)
{
	if (o->discard_dirty && !o->force) {
		fprintf(stderr, "wbengine %s: --discard-dirty only goes with --force\n", cmd->name);
		return EX_USAGE;
	}
	if (!o->log || (cmd->need_backing && !o->backing)) {
		fprintf(stderr, "wbengine %s: --log%s required\n", cmd->name,
			cmd->need_backing ? " and --backing are" : " is");
		usage(stderr);
		return EX_USAGE;
	}
	if ((o->json && cmd->fn != cmd_info) || ((o->from || o->count) && cmd->fn != cmd_dump) ||
	    ((o->seg_size || o->size || o->force || o->discard_dirty || o->bm_peers ||
	      o->bm_region) &&
	     cmd->fn != cmd_format) ||
	    (o->accept_loss && cmd->fn != cmd_repair) ||
	    (o->node_id && cmd->fn != cmd_format && cmd->fn != cmd_upgrade)) {
		fprintf(stderr, "wbengine %s: option not valid for this command\n", cmd->name);
		return EX_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"log", 1, NULL, 'l'},
	    {"backing", 1, NULL, 'b'},
	    {"segment-size", 1, NULL, 's'},
	    {"size", 1, NULL, 'S'},
	    {"force", 0, NULL, 'f'},
	    {"json", 0, NULL, 'j'},
	    {"from", 1, NULL, 'F'},
	    {"count", 1, NULL, 'n'},
	    {"min-rate", 1, NULL, 'r'},
	    {"verbose", 0, NULL, 'v'},
	    {"help", 0, NULL, 'h'},
	    {"discard-dirty", 0, NULL, 'D'},
	    {"accept-data-loss", 0, NULL, 'A'},
	    {"base-seq", 1, NULL, 'Q'},
	    {"base-gen", 1, NULL, 'G'},
	    {"node-id", 1, NULL, 'N'},
	    {"bitmap-peers", 1, NULL, 'P'},
	    {"bitmap-region", 1, NULL, 'R'},
	    {NULL, 0, NULL, 0},
	};
	struct opts o = {.min_rate = DEFAULT_MIN_RATE};
	unsigned i;
	int c, ret;

	wb_msg_set_sink(msg_sink, NULL, WB_LOG_INFO);
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : EX_OK;
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			break;
	if (i == sizeof(cmds) / sizeof(cmds[0])) {
		fprintf(stderr, "wbengine: unknown command '%s'\n", argv[1]);
		usage(stderr);
		return EX_USAGE;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return EX_OK;
		}
		ret = set_opt(c, optarg, &o);
		if (ret)
			return ret;
	}
	if (optind < argc) {
		fprintf(stderr, "wbengine: unexpected argument '%s'\n", argv[optind]);
		return EX_USAGE;
	}
	ret = check_opts(&cmds[i], &o);
	return ret ? ret : cmds[i].fn(&o);
}
