/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cpgmsg.h - the state message a wbrepd multicasts to its CPG group
 * (proto/wbrep.proto CpgState, docs/cluster.md "CPG state"): its node name
 * and, per resource, up, role, disk state, data generation UUID and seq.
 * A pure codec: encode a struct into a protobuf buffer, decode and check a
 * received buffer (untrusted: every field is checked, garbage is refused
 * with a reason; tests/unit/test_cpgmsg.c, tests/fuzz/fuzz_cpgmsg.c).
 */
#ifndef WB_DAEMON_CPGMSG_H
#define WB_DAEMON_CPGMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/wbconf.h"

#define WBD_CPG_VERSION 1
#define WBD_CPG_MAX_RES 8 /* resources one message carries */
#define WBD_CPG_MAX_LEN 4096

enum wbd_cpg_disk {
	WBD_CPG_DISK_NONE = 0, /* not replicated / not said */
	WBD_CPG_DISK_UPTODATE,
	WBD_CPG_DISK_OUTDATED,
	WBD_CPG_DISK_CONSISTENT,
};

struct wbd_cpg_res {
	char name[WBCONF_NAME_MAX + 1];
	bool up, primary, has_uuid;
	enum wbd_cpg_disk disk;
	uint8_t uuid[16];
	uint64_t seq;
};

struct wbd_cpg_state {
	char node[WBCONF_NAME_MAX + 1];
	uint64_t serial;
	uint32_t nres;
	struct wbd_cpg_res res[WBD_CPG_MAX_RES];
};

/* Encode st into buf (at most cap bytes). Bytes written, or -EINVAL (a
 * field the decoder would refuse) / -ENOSPC. */
int wbd_cpgmsg_encode(const struct wbd_cpg_state *st, uint8_t *buf, size_t cap);
/* Decode and check len bytes into out. 0, or -EINVAL with why in err. */
int wbd_cpgmsg_decode(const void *buf, size_t len, struct wbd_cpg_state *out, char *err,
		      size_t errlen);
/* "UpToDate", "Outdated", "Consistent", "" for NONE. */
const char *wbd_cpg_disk_name(enum wbd_cpg_disk d);
/* The inverse ("" or NULL -> NONE); -1 for an unknown name. */
int wbd_cpg_disk_parse(const char *s);
/* The resource named res in st, NULL if none. */
const struct wbd_cpg_res *wbd_cpg_find(const struct wbd_cpg_state *st, const char *res);

#endif /* WB_DAEMON_CPGMSG_H */
