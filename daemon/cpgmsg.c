// SPDX-License-Identifier: GPL-2.0-only
/*
 * cpgmsg.c - CpgState encode / decode + checks (see cpgmsg.h).
 */
#include "daemon/cpgmsg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "proto/wbrep.pb-c.h"

static const char *const disk_names[] = {
    [WBD_CPG_DISK_NONE] = "",
    [WBD_CPG_DISK_UPTODATE] = "UpToDate",
    [WBD_CPG_DISK_OUTDATED] = "Outdated",
    [WBD_CPG_DISK_CONSISTENT] = "Consistent",
};

const char *wbd_cpg_disk_name(enum wbd_cpg_disk d)
{
	return (unsigned)d < sizeof(disk_names) / sizeof(disk_names[0]) ? disk_names[d] : "";
}

int wbd_cpg_disk_parse(const char *s)
{
	if (!s)
		return WBD_CPG_DISK_NONE;
	for (unsigned i = 0; i < sizeof(disk_names) / sizeof(disk_names[0]); i++)
		if (!strcmp(s, disk_names[i]))
			return (int)i;
	return -1;
}

/* A node or resource name: 1..WBCONF_NAME_MAX printable ASCII, no space. */
static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > WBCONF_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

const struct wbd_cpg_res *wbd_cpg_find(const struct wbd_cpg_state *st, const char *res)
{
	for (uint32_t i = 0; i < st->nres; i++)
		if (!strcmp(st->res[i].name, res))
			return &st->res[i];
	return NULL;
}

int wbd_cpgmsg_encode(const struct wbd_cpg_state *st, uint8_t *buf, size_t cap)
{
	Wbrep__CpgState m = WBREP__CPG_STATE__INIT;
	Wbrep__CpgResource rs[WBD_CPG_MAX_RES], *rp[WBD_CPG_MAX_RES];
	size_t len;

	if (!name_ok(st->node) || st->nres > WBD_CPG_MAX_RES)
		return -EINVAL;
	m.version = WBD_CPG_VERSION;
	m.node = (char *)st->node;
	m.has_serial = 1;
	m.serial = st->serial;
	for (uint32_t i = 0; i < st->nres; i++) {
		const struct wbd_cpg_res *r = &st->res[i];

		if (!name_ok(r->name) || (unsigned)r->disk > WBD_CPG_DISK_CONSISTENT)
			return -EINVAL;
		wbrep__cpg_resource__init(&rs[i]);
		rs[i].name = (char *)r->name;
		rs[i].has_up = rs[i].has_primary = rs[i].has_seq = 1;
		rs[i].up = r->up;
		rs[i].primary = r->primary;
		rs[i].seq = r->seq;
		if (r->disk != WBD_CPG_DISK_NONE)
			rs[i].disk = (char *)wbd_cpg_disk_name(r->disk);
		if (r->has_uuid) {
			rs[i].has_data_uuid = 1;
			rs[i].data_uuid.len = sizeof(r->uuid);
			rs[i].data_uuid.data = (uint8_t *)r->uuid;
		}
		rp[i] = &rs[i];
	}
	m.n_resources = st->nres;
	m.resources = rp;
	len = wbrep__cpg_state__get_packed_size(&m);
	if (len > cap || len > WBD_CPG_MAX_LEN)
		return -ENOSPC;
	return (int)wbrep__cpg_state__pack(&m, buf);
}

#define BAD(...)                                                                                   \
	do {                                                                                       \
		snprintf(err, errlen, __VA_ARGS__);                                                \
		ret = -EINVAL;                                                                     \
		goto out;                                                                          \
	} while (0)

int wbd_cpgmsg_decode(const void *buf, size_t len, struct wbd_cpg_state *out, char *err,
		      size_t errlen)
{
	Wbrep__CpgState *m;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (len > WBD_CPG_MAX_LEN) {
		snprintf(err, errlen, "%zu bytes, more than %d", len, WBD_CPG_MAX_LEN);
		return -EINVAL;
	}
	m = wbrep__cpg_state__unpack(NULL, len, buf);
	if (!m) {
		snprintf(err, errlen, "not a CpgState (protobuf decoding failed)");
		return -EINVAL;
	}
	if (m->version != WBD_CPG_VERSION)
		BAD("version %u, this wbrepd speaks %d", m->version, WBD_CPG_VERSION);
	if (!name_ok(m->node))
		BAD("bad node name");
	if (m->n_resources > WBD_CPG_MAX_RES)
		BAD("%zu resources, at most %d", m->n_resources, WBD_CPG_MAX_RES);
	snprintf(out->node, sizeof(out->node), "%s", m->node);
	out->serial = m->has_serial ? m->serial : 0;
	for (size_t i = 0; i < m->n_resources; i++) {
		const Wbrep__CpgResource *r = m->resources[i];
		struct wbd_cpg_res *o = &out->res[i];
		int d;

		if (!name_ok(r->name))
			BAD("resource %zu: bad name", i);
		for (size_t k = 0; k < i; k++)
			if (!strcmp(out->res[k].name, r->name))
				BAD("resource %s twice", r->name);
		d = wbd_cpg_disk_parse(r->disk);
		if (d < 0)
			BAD("resource %s: unknown disk state", r->name);
		if (r->has_data_uuid && r->data_uuid.len != sizeof(o->uuid))
			BAD("resource %s: data uuid of %zu bytes, not %zu", r->name,
			    r->data_uuid.len, sizeof(o->uuid));
		snprintf(o->name, sizeof(o->name), "%s", r->name);
		o->up = r->has_up && r->up;
		o->primary = r->has_primary && r->primary;
		o->disk = (enum wbd_cpg_disk)d;
		o->seq = r->has_seq ? r->seq : 0;
		o->has_uuid = r->has_data_uuid;
		if (o->has_uuid)
			memcpy(o->uuid, r->data_uuid.data, sizeof(o->uuid));
		out->nres = (uint32_t)i + 1;
	}
out:
	wbrep__cpg_state__free_unpacked(m, NULL);
	if (ret)
		memset(out, 0, sizeof(*out));
	return ret;
}
