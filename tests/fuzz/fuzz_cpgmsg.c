// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_cpgmsg.c - libFuzzer target for the CPG state codec
 * (daemon/cpgmsg.c): any byte string is decoded as a CpgState message
 * from another wbrepd. Checked invariants (__builtin_trap on violation):
 *   - a refused message leaves the output zeroed and says why;
 *   - an accepted one has a valid node name, at most WBD_CPG_MAX_RES
 *     resources with valid, distinct names and known disk states;
 *   - it encodes again, and that decodes to the same struct.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "daemon/cpgmsg.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wbd_cpg_state st, again, zero;
	static uint8_t buf[WBD_CPG_MAX_LEN];
	char err[160] = "";
	int len;

	if (wbd_cpgmsg_decode(data, size, &st, err, sizeof(err))) {
		CHECK(err[0] && !memcmp(&st, &zero, sizeof(st)));
		return 0;
	}
	CHECK(st.node[0] && strlen(st.node) <= WBCONF_NAME_MAX);
	CHECK(st.nres <= WBD_CPG_MAX_RES);
	for (uint32_t i = 0; i < st.nres; i++) {
		CHECK(st.res[i].name[0]);
		CHECK(st.res[i].disk <= WBD_CPG_DISK_CONSISTENT);
		for (uint32_t k = 0; k < i; k++)
			CHECK(strcmp(st.res[i].name, st.res[k].name));
	}
	len = wbd_cpgmsg_encode(&st, buf, sizeof(buf));
	CHECK(len > 0);
	CHECK(!wbd_cpgmsg_decode(buf, (size_t)len, &again, err, sizeof(err)));
	CHECK(!memcmp(&st, &again, sizeof(st)));
	return 0;
}
