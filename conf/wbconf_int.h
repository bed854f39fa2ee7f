/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wbconf_int.h - internals of libwbconf shared by wbconf.c (lexer, section
 * builder, cross checks, public API) and wbconf_keys.c (typed key table,
 * value parsers, error list). Not for use outside conf/.
 */
#ifndef WB_CONF_INT_H
#define WB_CONF_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/wbconf.h"

#define KiB (1024ull)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define TiB (1024ull * GiB)

#define WBCONF_MAX_FILE (1u << 20) /* config files are small */
#define WBCONF_MAX_LINE 4096
#define WBCONF_MAX_KEYS 64 /* >= wbconf_nkeys, _Static_assert in wbconf_keys.c */

enum sect_kind { S_GLOBAL = 1, S_RES = 2, S_NODE = 4 };
enum key_type {
	T_STR,
	T_PATH,
	T_NAME,
	T_SIZE,
	T_RATE,
	T_DUR,
	T_PCT,
	T_BOOL,
	T_ENUM,
	T_ADDR,
	T_INT,
	T_CPUS, /* a CPU list "0-1,3" as a uint64_t mask of CPUs 0..63 */
	T_FLAGS /* names of ev (bits), comma-separated, or "all": their OR */
};
#define F_REQUIRED (1u << 0)
#define F_RELOAD   (1u << 1) /* may change at run time (SIGHUP) */
#define F_ALIGN4K  (1u << 2) /* sizes: multiple of 4 KiB */

struct wbconf_enum {
	const char *name;
	int val;
};

/* One row of the key table, written with designated initializers; a field
 * left out is 0 / NULL. */
struct wbconf_key {
	const char *name;
	uint8_t sect;  /* S_* */
	uint8_t type;  /* T_* */
	uint8_t flags; /* F_* */
	uint8_t width; /* integer field size in bytes */
	size_t off;    /* offset of the field in the section struct */
	uint64_t min, max;
	const struct wbconf_enum *ev; /* T_ENUM, T_FLAGS: NULL-name terminated */
	uint32_t dur_unit_ms;	      /* T_DUR: unit of a bare number; 0 = unit required */
	const char *def;	      /* default, parsed like a value; NULL = unset */
	const char *expect;	      /* what a valid value looks like */
};

extern const struct wbconf_key wbconf_keys[];
extern const size_t wbconf_nkeys;

void wbconf_err_add(struct wbconf_errors *errs, const char *file, unsigned line, const char *sect,
		    const char *key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
bool wbconf_name_ok(const char *s);
uint64_t wbconf_get_uint(const void *p, unsigned width);
/* Parse val for key k into the section struct at base. -EINVAL with a user
 * message in msg (what is wrong, what is expected), -ENOMEM. */
int wbconf_key_set(const struct wbconf_key *k, void *base, const char *val, char *msg, size_t mlen);
void wbconf_key_free(const struct wbconf_key *k, void *base);
/* The first key of kind sect (S_*) without F_RELOAD whose value differs
 * between the section structs old and nw, or NULL: what a reload refuses. */
const struct wbconf_key *wbconf_sect_fixed_change(int sect, const void *old, const void *nw);
/* Free every string of a section struct of kind sect (S_*). */
void wbconf_sect_free(int sect, void *base);
/* Apply the defaults of every key of kind sect. 0 or -ENOMEM. */
int wbconf_sect_defaults(int sect, void *base);
const struct wbconf_key *wbconf_key_find(int sect, const char *name);
/* Closest key name (edit distance <= 2) of that section kind, or NULL. */
const char *wbconf_key_suggest(int sect, const char *name);

#endif /* WB_CONF_INT_H */
