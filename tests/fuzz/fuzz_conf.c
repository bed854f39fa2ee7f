// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz_conf.c - libFuzzer target for the configuration parser
 * (conf/wbconf.c, conf/wbconf_keys.c) on a memory buffer, the way wbrepd
 * and `wbctl config check` read /etc/wbrep/wbrep.conf. Checked invariants
 * (__builtin_trap on violation):
 *   - success <=> a config and no errors; failure <=> no config, >= 1 error,
 *     every error formats with the file name and a non-empty message;
 *   - an accepted config has valid names, a backing path for every
 *     resource, destage-low < destage-high, 4K-aligned sizes, and reloading
 *     it onto itself is allowed.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "conf/wbconf.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wbconf_errors errs = {0};
	struct wbconf *c = NULL;
	char buf[1024];
	int rc;

	rc = wbconf_parse_buf((const char *)data, size, "fuzz.conf", "n1", &c, &errs);
	if (rc) {
		CHECK(c == NULL);
		CHECK(errs.n >= 1);
		for (size_t i = 0; i < errs.n; i++) {
			int n = wbconf_error_format(&errs.v[i], buf, sizeof(buf));

			CHECK(n > 0 && !strncmp(buf, "fuzz.conf", 9));
			CHECK(errs.v[i].msg && errs.v[i].msg[0]);
		}
		wbconf_errors_free(&errs);
		return 0;
	}
	CHECK(c && errs.n == 0);
	CHECK(c->global.control_socket && c->global.pid_file);
	for (size_t i = 0; i < c->nres; i++) {
		const struct wbconf_resource *r = &c->res[i];

		CHECK(r->name && r->name[0] && strlen(r->name) <= WBCONF_NAME_MAX);
		CHECK(r->backing && r->backing[0]);
		CHECK(r->destage_low_pct < r->destage_high_pct);
		CHECK(r->size % 4096 == 0 && r->ram_buffer % 4096 == 0);
		CHECK(wbconf_resource_find(c, r->name) != NULL);
		CHECK(wbconf_resource_reload_check(c, c, r, r, buf, sizeof(buf)) == 0);
	}
	for (size_t i = 0; i < c->nnodes; i++)
		CHECK(c->nodes[i].name && wbconf_addr_set(&c->nodes[i].address));
	/* a reload of the same file changes nothing: never refused */
	CHECK(wbconf_nodes_reload_check(c, c, buf, sizeof(buf)) == 0);
	wbconf_free(c);
	wbconf_errors_free(&errs);
	return 0;
}
