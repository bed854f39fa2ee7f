// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_cpgmsg.c - unit tests of daemon/cpgmsg.c, the CPG state message of
 * a wbrepd (docs/cluster.md "CPG state"): a full state round-trips; every
 * malformed case is refused with a reason and a zeroed output (not
 * protobuf, truncated, oversize, wrong version, bad or missing node name,
 * too many resources, a bad or duplicate resource name, an unknown disk
 * state, a data UUID that is not 16 bytes); the encoder refuses what the
 * decoder would; wbd_cpg_find and the disk names.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/cpgmsg.h"
#include "proto/wbrep.pb-c.h"

static struct wbd_cpg_state sample(void)
{
	struct wbd_cpg_state st;

	memset(&st, 0, sizeof(st));
	snprintf(st.node, sizeof(st.node), "n2");
	st.serial = 7;
	st.nres = 2;
	snprintf(st.res[0].name, sizeof(st.res[0].name), "r0");
	st.res[0].up = true;
	st.res[0].disk = WBD_CPG_DISK_UPTODATE;
	st.res[0].has_uuid = true;
	memcpy(st.res[0].uuid, "0123456789abcdef", 16);
	st.res[0].seq = 1234567890123ULL;
	snprintf(st.res[1].name, sizeof(st.res[1].name), "r1");
	st.res[1].up = true;
	st.res[1].primary = true;
	st.res[1].disk = WBD_CPG_DISK_OUTDATED;
	return st;
}

static void roundtrip(void **state)
{
	struct wbd_cpg_state st = sample(), out;
	uint8_t buf[WBD_CPG_MAX_LEN];
	char err[160] = "";
	int len = wbd_cpgmsg_encode(&st, buf, sizeof(buf));

	assert_true(len > 0);
	assert_int_equal(wbd_cpgmsg_decode(buf, (size_t)len, &out, err, sizeof(err)), 0);
	assert_memory_equal(&st, &out, sizeof(st));
	assert_ptr_equal(wbd_cpg_find(&out, "r1"), &out.res[1]);
	assert_null(wbd_cpg_find(&out, "r2"));
	/* too small a buffer */
	assert_int_equal(wbd_cpgmsg_encode(&st, buf, 4), -ENOSPC);
}

/* pack m, decode it: must be refused with a reason containing want */
static void refused(Wbrep__CpgState *m, const char *want)
{
	uint8_t buf[8192];
	size_t len = wbrep__cpg_state__pack(m, buf);
	struct wbd_cpg_state out, zero;
	char err[160] = "";

	memset(&out, 0x5a, sizeof(out));
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(wbd_cpgmsg_decode(buf, len, &out, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("reason '%s' lacks '%s'", err, want);
	assert_memory_equal(&out, &zero, sizeof(out));
}

static void malformed(void **state)
{
	Wbrep__CpgState m = WBREP__CPG_STATE__INIT;
	Wbrep__CpgResource r[WBD_CPG_MAX_RES + 1], *rp[WBD_CPG_MAX_RES + 1];
	char longname[WBCONF_NAME_MAX + 2];
	uint8_t uuid[17] = {0};

	for (int i = 0; i <= WBD_CPG_MAX_RES; i++) {
		wbrep__cpg_resource__init(&r[i]);
		r[i].name =
		    (char *)(const char *[]){"a", "b", "c", "d", "e", "f", "g", "h", "i"}[i];
		rp[i] = &r[i];
	}
	m.version = 1;
	m.node = "n1";
	m.resources = rp;
	m.n_resources = 1;
	m.version = 2;
	refused(&m, "version 2");
	m.version = 1;
	m.node = "";
	refused(&m, "node name");
	m.node = "n 1";
	refused(&m, "node name");
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	m.node = longname;
	refused(&m, "node name");
	m.node = "n1";
	m.n_resources = WBD_CPG_MAX_RES + 1;
	refused(&m, "resources, at most");
	m.n_resources = 2;
	r[1].name = "a";
	refused(&m, "twice");
	r[1].name = "bad\tname";
	refused(&m, "bad name");
	r[1].name = "b";
	r[1].disk = "Dreaming";
	refused(&m, "unknown disk state");
	r[1].disk = "UpToDate";
	r[1].has_data_uuid = 1;
	r[1].data_uuid.data = uuid;
	r[1].data_uuid.len = 17;
	refused(&m, "data uuid of 17 bytes");
	r[1].data_uuid.len = 16;
	{ /* and now it is fine */
		uint8_t buf[512];
		size_t len = wbrep__cpg_state__pack(&m, buf);
		struct wbd_cpg_state out;
		char err[160];

		assert_int_equal(wbd_cpgmsg_decode(buf, len, &out, err, sizeof(err)), 0);
		assert_int_equal(out.nres, 2);
		assert_int_equal(out.res[1].disk, WBD_CPG_DISK_UPTODATE);
		/* truncated: protobuf refuses it */
		assert_int_equal(wbd_cpgmsg_decode(buf, len - 3, &out, err, sizeof(err)), -EINVAL);
	}
}

static void garbage(void **state)
{
	static uint8_t big[WBD_CPG_MAX_LEN + 1];
	struct wbd_cpg_state out;
	char err[160];

	assert_int_equal(wbd_cpgmsg_decode("\xff\xff\xff\xff", 4, &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "protobuf"));
	assert_int_equal(wbd_cpgmsg_decode("", 0, &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(wbd_cpgmsg_decode(big, sizeof(big), &out, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than"));
}

static void encoder_checks(void **state)
{
	struct wbd_cpg_state st = sample();
	uint8_t buf[WBD_CPG_MAX_LEN];

	st.node[0] = 0;
	assert_int_equal(wbd_cpgmsg_encode(&st, buf, sizeof(buf)), -EINVAL);
	st = sample();
	st.nres = WBD_CPG_MAX_RES + 1;
	assert_int_equal(wbd_cpgmsg_encode(&st, buf, sizeof(buf)), -EINVAL);
	st = sample();
	st.res[1].disk = (enum wbd_cpg_disk)9;
	assert_int_equal(wbd_cpgmsg_encode(&st, buf, sizeof(buf)), -EINVAL);
}

static void disk_names(void **state)
{
	for (int d = WBD_CPG_DISK_NONE; d <= WBD_CPG_DISK_CONSISTENT; d++)
		assert_int_equal(wbd_cpg_disk_parse(wbd_cpg_disk_name((enum wbd_cpg_disk)d)), d);
	assert_int_equal(wbd_cpg_disk_parse(NULL), WBD_CPG_DISK_NONE);
	assert_int_equal(wbd_cpg_disk_parse("uptodate"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(roundtrip),  cmocka_unit_test(malformed),
	    cmocka_unit_test(garbage),	  cmocka_unit_test(encoder_checks),
	    cmocka_unit_test(disk_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
