/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * byteorder.h - the one set of byte-order helpers of the tree: explicit
 * little- and big-endian loads and stores for on-disk and wire formats.
 *
 * Owns no state; header only, so including it links nothing. It lives in
 * engine/ because the engine depends on nothing else of ours while every
 * other part (proto/, daemon/, cli/, tests) may include engine headers: a
 * helper here is usable everywhere without a new dependency edge.
 *
 * Two kinds of helper:
 *   - value converters for struct fields declared with the wb_le* types
 *     (engine/ondisk.h): wb_le32_get(field), field = wb_le32_put(v);
 *   - loads and stores at a byte pointer of any alignment (wire frames,
 *     packed entries): wb_load_le32(p), wb_store_be64(p, v), and
 *     wb_load_le(p, n) / wb_store_le(p, v, n) for n-byte little-endian
 *     integers (1 <= n <= 8; a store keeps the low n bytes of v).
 */
#ifndef WB_BYTEORDER_H
#define WB_BYTEORDER_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

/* Field types of little-endian on-disk structs: documentation only, read
 * and write them with the wb_le*_get/put converters. */
typedef uint16_t wb_le16;
typedef uint32_t wb_le32;
typedef uint64_t wb_le64;

static inline uint32_t wb_le32_get(wb_le32 v)
{
	return le32toh(v);
}
static inline uint64_t wb_le64_get(wb_le64 v)
{
	return le64toh(v);
}
static inline wb_le32 wb_le32_put(uint32_t v)
{
	return htole32(v);
}
static inline wb_le64 wb_le64_put(uint64_t v)
{
	return htole64(v);
}

/* ---- loads and stores at an unaligned byte pointer ---- */

static inline uint16_t wb_load_le16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}
static inline uint32_t wb_load_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}
static inline uint64_t wb_load_le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}
static inline void wb_store_le16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}
static inline void wb_store_le32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}
static inline void wb_store_le64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline uint16_t wb_load_be16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}
static inline uint32_t wb_load_be32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}
static inline uint64_t wb_load_be64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}
static inline void wb_store_be16(void *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}
static inline void wb_store_be32(void *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}
static inline void wb_store_be64(void *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

/* n-byte little-endian integers (packed fields such as the extent map's
 * 48-bit lba); 1 <= n <= 8 */
static inline uint64_t wb_load_le(const void *p, int n)
{
	const uint8_t *b = p;
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | b[i];
	return v;
}
static inline void wb_store_le(void *p, uint64_t v, int n)
{
	uint8_t *b = p;

	for (int i = 0; i < n; i++, v >>= 8)
		b[i] = (uint8_t)v;
}

#endif /* WB_BYTEORDER_H */
