// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_bind.c - CMocka tests of the log/backing binding (engine/bind.c) and
 * of its use by the wblog engine: encode/decode round trip; malformed
 * identity blocks (no magic, bad crc, unknown version, reserved bytes set,
 * a block for another offset, every single-bit flip) refused with a reason;
 * the default exported size leaves room for the block; format binds, and
 * refuses (writing nothing) where the block's place holds other data; open refuses a
 * backing of the same size that is not bound to the log, and one bound to
 * another log, with a message naming the rebind command, without writing to
 * either device; after wb_bind_write (what `wbengine bind` does) it opens.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/bind.h"
#include "engine/io.h"
#include "engine/ondisk.h"
#include "engine/wbengine.h"
#include "engine/superblock.h"

extern const struct wb_engine_ops wb_wblog_ops;

#define BS    4096u
#define DEVSZ (2u << 20)

static char last_msg[2048];

static void capture(int level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level <= WB_LOG_ERR)
		snprintf(last_msg, sizeof(last_msg), "%s", msg);
}

static void test_roundtrip_and_malformed(void **state)
{
	struct wb_bind b = {.dev_size = DEVSZ, .bind_time = 1234}, out;
	uint8_t blk[BS], bad[BS];
	char why[160];

	(void)state;
	for (int i = 0; i < WB_UUID_LEN; i++)
		b.log_uuid[i] = (uint8_t)(i * 17 + 3);
	wb_bind_encode(&b, blk);
	assert_int_equal(wb_bind_decode(blk, DEVSZ, &out, why, sizeof(why)), 0);
	assert_memory_equal(out.log_uuid, b.log_uuid, WB_UUID_LEN);
	assert_int_equal(out.dev_size, DEVSZ);
	assert_int_equal(out.bind_time, 1234);
	/* all zeroes (a fresh backing): no magic */
	memset(bad, 0, sizeof(bad));
	assert_int_equal(wb_bind_decode(bad, DEVSZ, &out, why, sizeof(why)), -ENODATA);
	assert_non_null(strstr(why, "no magic"));
	/* found at another offset than it names */
	assert_int_equal(wb_bind_decode(blk, DEVSZ + BS, &out, why, sizeof(why)), -ENODATA);
	assert_non_null(strstr(why, "found at byte"));
	/* unknown version, with a valid crc */
	memcpy(bad, blk, BS);
	((struct wb_bind_disk *)bad)->version = wb_le32_put(2);
	((struct wb_bind_disk *)bad)->crc = 0;
	((struct wb_bind_disk *)bad)->crc = wb_le32_put(wb_crc32c(0, bad, BS));
	assert_int_equal(wb_bind_decode(bad, DEVSZ, &out, why, sizeof(why)), -ENODATA);
	assert_non_null(strstr(why, "unknown version 2"));
	/* a reserved byte set, with a valid crc */
	memcpy(bad, blk, BS);
	bad[BS - 1] = 1;
	((struct wb_bind_disk *)bad)->crc = 0;
	((struct wb_bind_disk *)bad)->crc = wb_le32_put(wb_crc32c(0, bad, BS));
	assert_int_equal(wb_bind_decode(bad, DEVSZ, &out, why, sizeof(why)), -ENODATA);
	assert_non_null(strstr(why, "unknown content at byte 4095"));
	/* every single-bit flip is refused (magic or crc) */
	for (unsigned bit = 0; bit < BS * 8; bit += 7) {
		memcpy(bad, blk, BS);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(wb_bind_decode(bad, DEVSZ, &out, why, sizeof(why)), -ENODATA);
	}
	/* default exported size: the backing rounded down, minus the block */
	assert_int_equal(wb_bind_dev_size(DEVSZ + BS), DEVSZ);
	assert_int_equal(wb_bind_dev_size(DEVSZ + BS + 100), DEVSZ);
	assert_int_equal(wb_bind_dev_size(BS), 0);
	assert_int_equal(wb_bind_dev_size(0), 0);
}

static struct wb_io *fdev(const char *label, uint64_t size)
{
	struct wb_fault_cfg cfg = {.seed = 1};
	struct wb_io *io = NULL;

	assert_int_equal(wb_io_fault_open(label, size, &cfg, &io), 0);
	return io;
}

static void test_engine_binding(void **state)
{
	struct wb_io *log = fdev("log", 8u << 20), *bak = fdev("bak", DEVSZ + BS);
	struct wb_io *other = fdev("other", DEVSZ + BS), *log2 = fdev("log2", 8u << 20);
	struct wb_engine_params p = {.name = "t", .log_io = log, .backing_io = bak};
	struct wb_engine *e = NULL;
	struct wb_engine_stats st;
	struct wb_sb sb, sb2;
	struct wb_bind b;
	char err[320], why[160];

	(void)state;
	wb_msg_set_sink(capture, NULL, WB_LOG_INFO);
	/* format: exported size leaves the identity block, which names the log */
	assert_int_equal(wb_wblog_ops.format(&p), 0);
	assert_int_equal(wb_sb_load(log, &sb, err, sizeof(err)), 0);
	assert_int_equal(sb.dev_size, DEVSZ);
	assert_int_equal(wb_bind_read(bak, DEVSZ, &b, why, sizeof(why)), 0);
	assert_memory_equal(b.log_uuid, sb.uuid, WB_UUID_LEN);
	assert_int_equal(wb_wblog_ops.open(&p, &e), 0);
	wb_wblog_ops.stats(e, &st);
	assert_int_equal(st.size, DEVSZ);
	wb_engine_close(e);
	e = NULL;

	/* another backing of the same size: refused, nothing written */
	assert_int_equal(wb_sb_load(log, &sb, err, sizeof(err)), 0);
	p.backing_io = other;
	last_msg[0] = 0;
	assert_int_equal(wb_wblog_ops.open(&p, &e), -EXDEV);
	assert_null(e);
	assert_non_null(strstr(last_msg, "backing other is not bound to log log"));
	assert_non_null(strstr(last_msg, "wbengine bind --log log --backing other"));
	assert_int_equal(wb_sb_load(log, &sb2, err, sizeof(err)), 0);
	assert_int_equal(sb2.sb_seq, sb.sb_seq); /* no superblock write */
	assert_int_equal(sb2.epoch, sb.epoch);	 /* no epoch bump */
	assert_int_equal(wb_bind_read(other, DEVSZ, &b, why, sizeof(why)), -ENODATA);

	/* a backing bound to another log: refused naming both UUIDs */
	p.log_io = log2;
	assert_int_equal(wb_wblog_ops.format(&p), 0); /* binds `other` to log2 */
	p.log_io = log;
	last_msg[0] = 0;
	assert_int_equal(wb_wblog_ops.open(&p, &e), -EXDEV);
	assert_non_null(strstr(last_msg, "belongs to another log (UUID"));
	assert_non_null(strstr(last_msg, "wbengine bind --log log --backing other"));

	/* rebind (wbengine bind): the pair opens */
	assert_int_equal(wb_bind_write(other, sb.dev_size, sb.uuid), 0);
	assert_int_equal(wb_wblog_ops.open(&p, &e), 0);
	wb_engine_close(e);

	/* data where the block goes (a backing used before): format refuses
	 * and writes nothing, neither the log nor the backing */
	{
		struct wb_io *l3 = fdev("l3", 8u << 20), *b3 = fdev("b3", DEVSZ + BS);
		struct wb_engine_params p3 = {.name = "t", .log_io = l3, .backing_io = b3};
		uint8_t data[BS], chk[BS];

		memset(data, 0x5a, sizeof(data));
		assert_int_equal(wb_io_pwrite(b3, data, BS, DEVSZ, 0), 0);
		last_msg[0] = 0;
		assert_int_equal(wb_wblog_ops.format(&p3), -EEXIST);
		assert_non_null(strstr(last_msg, "holds data at byte 2097152"));
		assert_int_equal(wb_sb_load(l3, &sb2, err, sizeof(err)), -EPROTO);
		assert_int_equal(wb_io_pread(b3, chk, BS, DEVSZ), 0);
		assert_memory_equal(chk, data, BS);
		/* an explicit smaller size leaves the data alone */
		p3.size = DEVSZ - BS;
		assert_int_equal(wb_wblog_ops.format(&p3), 0);
		assert_int_equal(wb_io_pread(b3, chk, BS, DEVSZ), 0);
		assert_memory_equal(chk, data, BS);
		wb_io_close(l3);
		wb_io_close(b3);
	}

	/* no room for the block: format refuses a size of the whole backing */
	p.backing_io = bak;
	p.size = DEVSZ + BS;
	last_msg[0] = 0;
	assert_int_equal(wb_wblog_ops.format(&p), -EINVAL);
	assert_non_null(strstr(last_msg, "identity block"));
	wb_io_close(log);
	wb_io_close(log2);
	wb_io_close(bak);
	wb_io_close(other);
	wb_msg_set_sink(NULL, NULL, WB_LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip_and_malformed),
	    cmocka_unit_test(test_engine_binding),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
