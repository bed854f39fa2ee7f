// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_byteorder.c - engine/byteorder.h: every load and store against
 * byte patterns written out by hand, at an odd (unaligned) address, and the
 * n-byte little-endian pair at every width, including the bytes a store
 * must leave alone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/byteorder.h"

static const uint8_t pat[8] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};

static void test_loads(void **state)
{
	uint8_t buf[9];

	(void)state;
	memcpy(buf + 1, pat, 8); /* odd address */
	assert_int_equal(wb_load_le16(buf + 1), 0x2301);
	assert_int_equal(wb_load_le32(buf + 1), 0x67452301u);
	assert_true(wb_load_le64(buf + 1) == 0xefcdab8967452301ull);
	assert_int_equal(wb_load_be16(buf + 1), 0x0123);
	assert_int_equal(wb_load_be32(buf + 1), 0x01234567u);
	assert_true(wb_load_be64(buf + 1) == 0x0123456789abcdefull);
}

static void test_stores(void **state)
{
	uint8_t buf[10];

	(void)state;
	memset(buf, 0x5a, sizeof(buf));
	wb_store_le16(buf + 1, 0x2301);
	assert_memory_equal(buf + 1, pat, 2);
	wb_store_le32(buf + 1, 0x67452301u);
	assert_memory_equal(buf + 1, pat, 4);
	wb_store_le64(buf + 1, 0xefcdab8967452301ull);
	assert_memory_equal(buf + 1, pat, 8);
	assert_int_equal(buf[0], 0x5a);
	assert_int_equal(buf[9], 0x5a);

	memset(buf, 0x5a, sizeof(buf));
	wb_store_be16(buf + 1, 0x0123);
	assert_memory_equal(buf + 1, pat, 2);
	wb_store_be32(buf + 1, 0x01234567u);
	assert_memory_equal(buf + 1, pat, 4);
	wb_store_be64(buf + 1, 0x0123456789abcdefull);
	assert_memory_equal(buf + 1, pat, 8);
	assert_int_equal(buf[0], 0x5a);
	assert_int_equal(buf[9], 0x5a);
}

static void test_fields(void **state)
{
	wb_le32 f32 = wb_le32_put(0x67452301u);
	wb_le64 f64 = wb_le64_put(0xefcdab8967452301ull);

	(void)state;
	assert_memory_equal(&f32, pat, 4);
	assert_memory_equal(&f64, pat, 8);
	assert_int_equal(wb_le32_get(f32), 0x67452301u);
	assert_true(wb_le64_get(f64) == 0xefcdab8967452301ull);
}

static void test_n_bytes(void **state)
{
	(void)state;
	for (int n = 1; n <= 8; n++) {
		uint8_t buf[10];
		uint64_t want = 0;

		for (int i = n - 1; i >= 0; i--)
			want = want << 8 | pat[i];
		assert_true(wb_load_le(pat, n) == want);
		memset(buf, 0x5a, sizeof(buf));
		/* high bytes beyond n are dropped, not written */
		wb_store_le(buf + 1, 0xefcdab8967452301ull, n);
		assert_memory_equal(buf + 1, pat, (size_t)n);
		assert_int_equal(buf[0], 0x5a);
		assert_int_equal(buf[1 + n], 0x5a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loads),
	    cmocka_unit_test(test_stores),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_n_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
