// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_crc32c.c - unit tests of engine/crc32c.c: both implementations
 * (portable table and SSE4.2) on known vectors (the classic check value and
 * the RFC 3720 appendix B.4 vectors), chaining, and hardware vs software on
 * random buffers of random lengths and alignments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/wbengine.h"

struct vec {
	const char *name;
	uint8_t data[64];
	size_t len;
	uint32_t crc;
};

static void fill_vectors(struct vec *v)
{
	memcpy(v[0].data, "123456789", 9);
	v[0].len = 9;
	v[0].crc = 0xE3069283;
	v[0].name = "check";
	memset(v[1].data, 0, 32);
	v[1].len = 32;
	v[1].crc = 0x8A9136AA;
	v[1].name = "32 zeroes";
	memset(v[2].data, 0xff, 32);
	v[2].len = 32;
	v[2].crc = 0x62A8AB43;
	v[2].name = "32 x ff";
	for (int i = 0; i < 32; i++) {
		v[3].data[i] = i;
		v[4].data[i] = 31 - i;
	}
	v[3].len = v[4].len = 32;
	v[3].crc = 0x46DD794E;
	v[3].name = "incrementing";
	v[4].crc = 0x113FDB5C;
	v[4].name = "decrementing";
	/* RFC 3720 B.4: iSCSI SCSI Read (10) command PDU */
	static const uint8_t pdu[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
					0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00,
					0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00,
					0x00, 0x18, 0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
					0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
	memcpy(v[5].data, pdu, 48);
	v[5].len = 48;
	v[5].crc = 0xD9963A56;
	v[5].name = "iscsi read pdu";
	v[6].len = 0;
	v[6].crc = 0;
	v[6].name = "empty";
}

static void test_vectors_sw(void **state)
{
	struct vec v[7];

	(void)state;
	memset(v, 0, sizeof(v));
	fill_vectors(v);
	for (int i = 0; i < 7; i++) {
		uint32_t c = wb_crc32c_sw(0, v[i].data, v[i].len);

		if (c != v[i].crc)
			fail_msg("sw %s: got %08x want %08x", v[i].name, c, v[i].crc);
	}
}

static void test_vectors_dispatch(void **state)
{
	struct vec v[7];

	(void)state;
	memset(v, 0, sizeof(v));
	fill_vectors(v);
	if (!wb_crc32c_hw_available())
		print_message("no SSE4.2: wb_crc32c uses the portable version\n");
	for (int i = 0; i < 7; i++) {
		uint32_t c = wb_crc32c(0, v[i].data, v[i].len);

		if (c != v[i].crc)
			fail_msg("wb_crc32c %s: got %08x want %08x", v[i].name, c, v[i].crc);
	}
}

static void test_chaining(void **state)
{
	const char *s = "123456789";

	(void)state;
	for (size_t k = 0; k <= 9; k++) {
		assert_int_equal(wb_crc32c(wb_crc32c(0, s, k), s + k, 9 - k), 0xE3069283);
		assert_int_equal(wb_crc32c_sw(wb_crc32c_sw(0, s, k), s + k, 9 - k), 0xE3069283);
	}
}

static void test_hw_vs_sw_random(void **state)
{
	uint8_t *buf = malloc(70000);
	uint64_t x = 0x1234567887654321ull;

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < 70000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	for (int it = 0; it < 2000; it++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t off = x % 64, len = (x >> 8) % (it < 1000 ? 100 : 65536);
		uint32_t seed = (uint32_t)(x >> 32);
		uint32_t a = wb_crc32c(seed, buf + off, len);
		uint32_t b = wb_crc32c_sw(seed, buf + off, len);

		if (wb_crc32c_builtin(seed, buf + off, len) != b)
			fail_msg("off %zu len %zu seed %08x: built-in %08x sw %08x", off, len, seed,
				 wb_crc32c_builtin(seed, buf + off, len), b);
		if (a != b)
			fail_msg("off %zu len %zu seed %08x: dispatch %08x sw %08x", off, len, seed,
				 a, b);
	}
	/* a single flipped bit changes the crc */
	uint32_t c0 = wb_crc32c(0, buf, 4096);

	buf[100] ^= 4;
	assert_int_not_equal(c0, wb_crc32c(0, buf, 4096));
	free(buf);
}

/* wb_crc32c_combine == computing over the concatenation: for 4 KiB blocks
 * (the table path the engine uses to join a frontend's per-block crcs),
 * other lengths (the generic path) and chains of blocks. */
static void test_combine(void **state)
{
	enum { NB = 9 };
	uint8_t *buf = malloc(NB * 4096 + 1000);
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint32_t chain = 0, joined = 0;

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < NB * 4096 + 1000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	for (int k = 0; k < NB; k++) {
		const uint8_t *b = buf + (size_t)k * 4096;

		chain = wb_crc32c(chain, b, 4096);
		joined = wb_crc32c_combine(joined, wb_crc32c(0, b, 4096), 4096);
		assert_int_equal(joined, chain);
	}
	assert_int_equal(joined, wb_crc32c(0, buf, NB * 4096));
	for (size_t la = 0; la < 300; la += 37)
		for (size_t lb = 0; lb < 1000; lb += 101) {
			uint32_t a = wb_crc32c(0, buf, la), b = wb_crc32c(0, buf + la, lb);

			assert_int_equal(wb_crc32c_combine(a, b, lb), wb_crc32c(0, buf, la + lb));
		}
	/* a block crc that does not match its data gives another result */
	assert_int_not_equal(wb_crc32c_combine(0, wb_crc32c(0, buf, 4096) ^ 1, 4096),
			     wb_crc32c(0, buf, 4096));
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_vectors_sw), cmocka_unit_test(test_vectors_dispatch),
	    cmocka_unit_test(test_chaining),   cmocka_unit_test(test_hw_vs_sw_random),
	    cmocka_unit_test(test_combine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
