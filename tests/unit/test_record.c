// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_record.c - record header encode/decode (engine/record.c): round trip
 * with every field, the on-disk byte layout (little-endian offsets of
 * docs/ondisk-format.md), and every way a header can be bad: truncated,
 * wrong magic, version, foreign UUID, flipped bits anywhere (header crc),
 * wrong self offset, unknown flags, extent count / length / lba bounds,
 * data_blocks mismatch, zero records with data, data crc mismatch naming
 * the extent. Also every error code has a distinct message.
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/record.h"

static const uint8_t uuid_a[WB_UUID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t uuid_b[WB_UUID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17};

#define OFF 0x123000ull

static uint8_t data[8 * 4096];

static void mk(uint8_t *hdr, struct wb_rec_info *ri, uint32_t flags)
{
	uint32_t i;

	memset(ri, 0, sizeof(*ri));
	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 12));
	ri->seq = 0x0102030405060708ull;
	ri->gen = 42;
	ri->epoch = 3;
	ri->self_off = OFF;
	ri->time_ns = 1700000000123456789ull;
	ri->durable_seq = 12340;
	ri->flags = flags;
	ri->nextents = 3;
	ri->ext[0] = (struct wb_extent){.lba = 100, .nblocks = 2};
	ri->ext[1] = (struct wb_extent){.lba = 7, .nblocks = 5};
	ri->ext[2] = (struct wb_extent){.lba = 100, .nblocks = 1}; /* rewrite of lba 100 */
	if (!(flags & WB_REC_F_ZERO)) {
		ri->ext[0].crc = wb_crc32c(0, data, 2 * 4096);
		ri->ext[1].crc = wb_crc32c(0, data + 2 * 4096, 5 * 4096);
		ri->ext[2].crc = wb_crc32c(0, data + 7 * 4096, 4096);
	}
	assert_int_equal(wb_record_encode(hdr, uuid_a, ri), 0);
}

static const struct wb_rec_expect expect_ok = {
    .uuid = uuid_a,
    .self_off = OFF,
    .max_data_blocks = 64,
    .dev_blocks = 1024,
};

/* Re-seal a header after a deliberate change (so only the change is tested). */
static void reseal(uint8_t *hdr)
{
	struct wb_rec_disk *d = (struct wb_rec_disk *)hdr;

	d->hdr_crc = 0;
	d->hdr_crc = wb_le32_put(wb_crc32c(0, hdr, 4096));
}

static void test_roundtrip(void **state)
{
	uint8_t hdr[4096];
	struct wb_rec_info ri, out;
	uint32_t bad = 99;

	(void)state;
	mk(hdr, &ri, WB_REC_F_GEN_END);
	assert_int_equal(ri.data_blocks, 8);
	memset(&out, 0xaa, sizeof(out));
	assert_int_equal(wb_record_decode(hdr, sizeof(hdr), &expect_ok, &out), 0);
	assert_true(out.seq == ri.seq && out.gen == 42 && out.epoch == 3 && out.self_off == OFF);
	assert_true(out.time_ns == ri.time_ns);
	assert_true(out.durable_seq == 12340); /* at byte 88 */
	assert_true(wb_le64_get(((const struct wb_rec_disk *)hdr)->durable_seq) == 12340);
	assert_int_equal(out.flags, WB_REC_F_GEN_END);
	assert_int_equal(out.nextents, 3);
	assert_int_equal(out.data_blocks, 8);
	assert_memory_equal(out.ext, ri.ext, 3 * sizeof(ri.ext[0]));
	assert_int_equal(wb_record_check_data(&out, data, &bad), 0);
	assert_int_equal(wb_record_bytes(&out), 9 * 4096);
	/* no expectations: anything self-consistent decodes */
	assert_int_equal(wb_record_decode(hdr, sizeof(hdr), NULL, &out), 0);
}

static void test_layout(void **state)
{
	uint8_t hdr[4096], z[40] = {0};
	struct wb_rec_info ri;
	uint32_t crc;

	(void)state;
	mk(hdr, &ri, WB_REC_F_GEN_END);
	/* docs/ondisk-format.md, section 3: byte offsets, little-endian */
	assert_memory_equal(hdr, "WLB0REC1", 8);
	assert_int_equal(hdr[8], 1);
	assert_memory_equal(hdr + 16, uuid_a, 16);
	assert_int_equal(hdr[32], 0x08);
	assert_int_equal(hdr[39], 0x01);
	assert_int_equal(hdr[40], 42);
	assert_int_equal(hdr[48], 3);
	assert_int_equal(hdr[56] | hdr[57] << 8 | hdr[58] << 16, 0x123000);
	assert_int_equal(hdr[64], WB_REC_F_GEN_END);
	assert_int_equal(hdr[68], 3);
	assert_int_equal(hdr[72], 8);
	assert_int_equal(hdr[88] | hdr[89] << 8, 12340); /* durable_seq */
	assert_memory_equal(hdr + 96, z, 32);
	assert_int_equal(hdr[128], 100);   /* ext[0].lba */
	assert_int_equal(hdr[128 + 8], 2); /* ext[0].nblocks */
	memcpy(&crc, hdr + 128 + 12, 4);
	assert_int_equal(le32toh(crc), ri.ext[0].crc);
	assert_int_equal(hdr[128 + 16], 7);			       /* ext[1].lba */
	assert_memory_equal(hdr + 128 + 3 * 16, (uint8_t[16]){0}, 16); /* unused slot */
	/* the header crc covers all 4096 bytes with the crc field zeroed */
	memcpy(&crc, hdr + 12, 4);
	memset(hdr + 12, 0, 4);
	assert_int_equal(le32toh(crc), wb_crc32c(0, hdr, 4096));
}

static void test_truncated(void **state)
{
	uint8_t hdr[4096];
	struct wb_rec_info ri, out;

	(void)state;
	mk(hdr, &ri, 0);
	assert_int_equal(wb_record_decode(hdr, 4095, &expect_ok, &out), -WB_REC_ETRUNC);
	assert_int_equal(wb_record_decode(hdr, 0, &expect_ok, &out), -WB_REC_ETRUNC);
	assert_int_equal(wb_record_decode(NULL, 4096, &expect_ok, &out), -WB_REC_ETRUNC);
}

static void test_foreign_and_magic(void **state)
{
	uint8_t hdr[4096], zero[4096] = {0};
	struct wb_rec_info ri, out;
	struct wb_rec_expect x = expect_ok;

	(void)state;
	mk(hdr, &ri, 0);
	x.uuid = uuid_b;
	assert_int_equal(wb_record_decode(hdr, 4096, &x, &out), -WB_REC_EUUID);
	assert_int_equal(wb_record_decode(zero, 4096, &expect_ok, &out), -WB_REC_EMAGIC);
	/* a superblock is not a record */
	memcpy(hdr, "WBL0GSB1", 8);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), -WB_REC_EMAGIC);
	mk(hdr, &ri, 0);
	hdr[8] = 2; /* version 2, resealed: still refused */
	reseal(hdr);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), -WB_REC_EVERSION);
}

static void test_every_bit_flip(void **state)
{
	uint8_t hdr[4096], bad[4096];
	struct wb_rec_info ri, out;
	uint32_t i, accepted = 0;

	(void)state;
	mk(hdr, &ri, 0);
	/* any single flipped bit outside the crc field must be rejected */
	for (i = 0; i < 4096 * 8; i += 7) {
		int ret;

		if (i / 8 >= 12 && i / 8 < 16)
			continue;
		memcpy(bad, hdr, sizeof(bad));
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		ret = wb_record_decode(bad, 4096, &expect_ok, &out);
		if (!ret)
			accepted++;
		else if (i / 8 >= 32)
			assert_int_equal(ret, -WB_REC_ECRC); /* magic/version/uuid come first */
	}
	assert_int_equal(accepted, 0);
	/* and a flipped crc bit too */
	memcpy(bad, hdr, sizeof(bad));
	bad[13] ^= 0x10;
	assert_int_equal(wb_record_decode(bad, 4096, &expect_ok, &out), -WB_REC_ECRC);
}

static void test_offset_flags_bounds(void **state)
{
	uint8_t hdr[4096];
	struct wb_rec_info ri, out;
	struct wb_rec_disk *d = (struct wb_rec_disk *)hdr;
	struct wb_rec_expect x = expect_ok;

	(void)state;
	mk(hdr, &ri, 0);
	x.self_off = OFF + 4096; /* found somewhere else than written: stale/misplaced */
	assert_int_equal(wb_record_decode(hdr, 4096, &x, &out), -WB_REC_EOFFSET);
	x.self_off = UINT64_MAX; /* any offset */
	assert_int_equal(wb_record_decode(hdr, 4096, &x, &out), 0);

	mk(hdr, &ri, 0);
	d->flags = wb_le32_put(1u << 5);
	reseal(hdr);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), -WB_REC_EFLAGS);

	mk(hdr, &ri, 0);
	d->nextents = wb_le32_put(WB_REC_MAX_EXT + 1);
	reseal(hdr);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), -WB_REC_EEXTENTS);

	mk(hdr, &ri, 0);
	d->ext[1].nblocks = 0; /* empty extent */
	reseal(hdr);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), -WB_REC_ELENGTH);

	mk(hdr, &ri, 0);
	d->ext[1].lba = wb_le64_put(UINT64_MAX - 1); /* lba + nblocks overflows */
	reseal(hdr);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), -WB_REC_ELENGTH);

	mk(hdr, &ri, 0);
	d->ext[1].lba = wb_le64_put(1020); /* 1020 + 5 > 1024 device blocks */
	reseal(hdr);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), -WB_REC_ELENGTH);
	assert_int_equal(wb_record_decode(hdr, 4096, NULL, &out), 0); /* no device bound */

	mk(hdr, &ri, 0);
	d->data_blocks = wb_le32_put(9); /* does not match the extents */
	reseal(hdr);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), -WB_REC_ELENGTH);

	mk(hdr, &ri, 0);
	x = expect_ok;
	x.max_data_blocks = 7; /* record has 8 */
	assert_int_equal(wb_record_decode(hdr, 4096, &x, &out), -WB_REC_ELENGTH);

	/* too many extents to encode at all */
	ri.nextents = WB_REC_MAX_EXT + 1;
	assert_int_equal(wb_record_encode(hdr, uuid_a, &ri), -EINVAL);
}

static void test_zero_record(void **state)
{
	uint8_t hdr[4096];
	struct wb_rec_info ri, out;
	struct wb_rec_disk *d = (struct wb_rec_disk *)hdr;

	(void)state;
	mk(hdr, &ri, WB_REC_F_ZERO);
	assert_int_equal(ri.data_blocks, 0);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), 0);
	assert_int_equal(out.data_blocks, 0);
	assert_int_equal(wb_record_bytes(&out), 4096);
	assert_int_equal(wb_record_check_data(&out, NULL, NULL), 0); /* no data to check */
	/* a zero record claiming data is malformed */
	d->data_blocks = wb_le32_put(8);
	reseal(hdr);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), -WB_REC_ELENGTH);
}

static void test_data_crc(void **state)
{
	uint8_t hdr[4096];
	struct wb_rec_info ri, out;
	uint32_t bad = 99;

	(void)state;
	mk(hdr, &ri, 0);
	assert_int_equal(wb_record_decode(hdr, 4096, &expect_ok, &out), 0);
	data[2 * 4096 + 4095] ^= 1; /* last byte of extent 1 */
	assert_int_equal(wb_record_check_data(&out, data, &bad), -WB_REC_EDATA);
	assert_int_equal(bad, 1);
	data[2 * 4096 + 4095] ^= 1;
	data[7 * 4096] ^= 0x80; /* first byte of extent 2 */
	assert_int_equal(wb_record_check_data(&out, data, &bad), -WB_REC_EDATA);
	assert_int_equal(bad, 2);
	assert_int_equal(wb_record_check_data(&out, data, NULL), -WB_REC_EDATA);
}

static void test_strerror(void **state)
{
	const char *seen[12];
	int i, j;

	(void)state;
	for (i = 0; i <= WB_REC_EFLAGS; i++) {
		seen[i] = wb_record_strerror(-i);
		assert_non_null(seen[i]);
		assert_string_equal(seen[i], wb_record_strerror(i));
		for (j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	assert_string_equal(wb_record_strerror(-99), "unknown record error");
	assert_non_null(strstr(wb_record_strerror(-WB_REC_EUUID), "foreign"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),	   cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_truncated),	   cmocka_unit_test(test_foreign_and_magic),
	    cmocka_unit_test(test_every_bit_flip), cmocka_unit_test(test_offset_flags_bounds),
	    cmocka_unit_test(test_zero_record),	   cmocka_unit_test(test_data_crc),
	    cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
