// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_registry.c - unit tests of engine/registry.c (registry, plugins, sync
 * wrappers), engine/msg.c, and the built-in "passthrough" and "ram" engines.
 *
 * Plugins: the test compiles tests/plugin/wbplug.c with `cc -shared` into a
 * temporary directory in several variants (good, wrong ABI, a NULL mandatory
 * op, no exported symbol, duplicate name) and checks that each is accepted
 * or refused with the right message. The source tree is found from
 * WB_SRCDIR, else from /proc/self/exe (<root>/build/tests/unit/test_registry or build-san/...).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/io.h"
#include "engine/wbengine.h"

#define MiB (1024u * 1024u)

static char last_msg[1024];
static int last_level, nmsg;

static void capture(int level, const char *msg, void *ctx)
{
	(void)ctx;
	snprintf(last_msg, sizeof(last_msg), "%s", msg);
	last_level = level;
	nmsg++;
}

static void test_msg_sink(void **state)
{
	(void)state;
	nmsg = 0;
	wb_msg_set_sink(capture, NULL, WB_LOG_WARN);
	wb_msg(WB_LOG_ERR, "disk %s failed: %d", "x", 5);
	assert_int_equal(nmsg, 1);
	assert_string_equal(last_msg, "disk x failed: 5");
	assert_int_equal(last_level, WB_LOG_ERR);
	wb_msg(WB_LOG_INFO, "filtered");
	assert_int_equal(nmsg, 1);
	wb_msg(WB_LOG_WARN, "kept");
	assert_int_equal(nmsg, 2);
	wb_msg_set_sink(NULL, NULL, WB_LOG_ERR); /* default stderr sink */
	wb_msg(WB_LOG_WARN, "must not reach the capture sink");
	assert_int_equal(nmsg, 2);
}

static void test_builtins(void **state)
{
	const char *names[32];
	int n, pt = 0, ram = 0;

	(void)state;
	n = wb_engine_list(names, 32);
	assert_true(n >= 2);
	for (int i = 0; i < n; i++) {
		pt += !strcmp(names[i], "passthrough");
		ram += !strcmp(names[i], "ram");
	}
	assert_int_equal(pt, 1);
	assert_int_equal(ram, 1);
	assert_non_null(wb_engine_find("passthrough"));
	assert_null(wb_engine_find("nosuch"));
	wb_msg_set_sink(capture, NULL, WB_LOG_DEBUG);
	struct wb_engine_params p = {.name = "r0", .size = MiB};
	struct wb_engine *e = (struct wb_engine *)1;

	assert_int_equal(wb_engine_open("nosuch", &p, &e), -ENOENT);
	assert_non_null(strstr(last_msg, "unknown engine \"nosuch\""));
	assert_non_null(strstr(last_msg, "passthrough"));
	assert_int_equal(wb_engine_format("nosuch", &p), -ENOENT);
	assert_int_equal(wb_engine_format("ram", &p), 0); /* nothing to format */
}

static int dummy_open(const struct wb_engine_params *p, struct wb_engine **out)
{
	(void)p;
	(void)out;
	return -ENOSYS;
}
static void dummy_close(struct wb_engine *e)
{
	(void)e;
}
static int dummy_submit(struct wb_engine *e, struct wb_req *r)
{
	(void)e;
	(void)r;
	return -ENOSYS;
}
static int dummy_run(struct wb_engine *e, int wait)
{
	(void)e;
	(void)wait;
	return 0;
}
static int dummy_stats(struct wb_engine *e, struct wb_engine_stats *st)
{
	(void)e;
	(void)st;
	return 0;
}

static void test_register(void **state)
{
	static const struct wb_engine_ops good = {
	    .abi_version = WB_ENGINE_ABI_VERSION,
	    .name = "dummy",
	    .open = dummy_open,
	    .close = dummy_close,
	    .submit = dummy_submit,
	    .run = dummy_run,
	    .stats = dummy_stats,
	};
	static const struct wb_engine_ops dup = {
	    .abi_version = WB_ENGINE_ABI_VERSION,
	    .name = "ram",
	    .open = dummy_open,
	    .close = dummy_close,
	    .submit = dummy_submit,
	    .run = dummy_run,
	    .stats = dummy_stats,
	};
	static const struct wb_engine_ops abi0 = {
	    .abi_version = 0,
	    .name = "dummy0",
	    .open = dummy_open,
	    .close = dummy_close,
	    .submit = dummy_submit,
	    .run = dummy_run,
	    .stats = dummy_stats,
	};
	static const struct wb_engine_ops badabi = {
	    .abi_version = WB_ENGINE_ABI_VERSION + 1, /* newer than this build */
	    .name = "dummy7",
	    .open = dummy_open,
	    .close = dummy_close,
	    .submit = dummy_submit,
	    .run = dummy_run,
	    .stats = dummy_stats,
	};
	static const struct wb_engine_ops norun = {
	    .abi_version = WB_ENGINE_ABI_VERSION,
	    .name = "norun",
	    .open = dummy_open,
	    .close = dummy_close,
	    .submit = dummy_submit,
	    .stats = dummy_stats,
	};
	struct wb_engine_params p = {.name = "x"};
	struct wb_engine *e;

	(void)state;
	wb_msg_set_sink(capture, NULL, WB_LOG_DEBUG);
	assert_int_equal(wb_engine_register(&good), 0);
	assert_ptr_equal(wb_engine_find("dummy"), &good);
	assert_int_equal(wb_engine_open("dummy", &p, &e), -ENOSYS);
	assert_int_equal(wb_engine_register(&good), -EEXIST);
	assert_non_null(strstr(last_msg, "already registered"));
	assert_int_equal(wb_engine_register(&dup), -EEXIST);
	assert_int_equal(wb_engine_register(&badabi), -EPROTO);
	{
		char want[96];

		snprintf(want, sizeof(want), "has engine ABI version %u, this wbrep takes %u..%u",
			 WB_ENGINE_ABI_VERSION + 1, WB_ENGINE_ABI_MIN, WB_ENGINE_ABI_VERSION);
		assert_non_null(strstr(last_msg, want));
	}
	assert_null(wb_engine_find("dummy7"));
	assert_int_equal(wb_engine_register(&abi0), -EPROTO);
	assert_null(wb_engine_find("dummy0"));
	assert_int_equal(wb_engine_register(&norun), -EINVAL);
	assert_non_null(strstr(last_msg, "lacks a mandatory operation"));
	assert_null(wb_engine_find("norun"));
}

/* ---- plugins ---- */

static char srcdir[PATH_MAX], plugdir[PATH_MAX];

static int find_srcdir(void)
{
	const char *env = getenv("WB_SRCDIR");
	char exe[PATH_MAX], probe[PATH_MAX + 64];
	ssize_t n;

	if (env) {
		snprintf(srcdir, sizeof(srcdir), "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		for (int up = 0; up < 4; up++) {
			char *s = strrchr(exe, '/');

			if (!s)
				break;
			*s = 0;
			snprintf(probe, sizeof(probe), "%s/tests/plugin/wbplug.c", exe);
			if (!access(probe, R_OK)) {
				snprintf(srcdir, sizeof(srcdir), "%s", exe);
				return 0;
			}
		}
	}
	if (!access("tests/plugin/wbplug.c", R_OK) && getcwd(srcdir, sizeof(srcdir)))
		return 0;
	return -1;
}

static int build_plugin(const char *out, const char *defs)
{
	char cmd[4 * PATH_MAX];
	const char *cc = getenv("CC") ? getenv("CC") : "cc";

	snprintf(cmd, sizeof(cmd),
		 "%s -shared -fPIC -std=gnu11 -w -I%s %s -o %s/%s %s/tests/plugin/wbplug.c", cc,
		 srcdir, defs, plugdir, out, srcdir);
	return system(cmd);
}

static int setup_plugins(void **state)
{
	(void)state;
	if (find_srcdir() < 0) {
		fprintf(stderr, "cannot find tests/plugin/wbplug.c (set WB_SRCDIR)\n");
		return -1;
	}
	snprintf(plugdir, sizeof(plugdir), "/tmp/wbplug.XXXXXX");
	if (!mkdtemp(plugdir))
		return -1;
	if (build_plugin("good.so", "") || build_plugin("abibad.so", "-DPLUG_ABI=99") ||
	    build_plugin("nosubmit.so", "-DPLUG_NO_SUBMIT -DPLUG_NAME='\"nosubmit\"'") ||
	    build_plugin("nosym.so", "-DPLUG_NO_SYMBOL -DPLUG_NAME='\"nosym\"'") ||
	    build_plugin("dupram.so", "-DPLUG_NAME='\"ram\"'") ||
	    build_plugin("old1.so", "-DPLUG_ABI=1 -DPLUG_NAME='\"old1\"'") ||
	    build_plugin("old3.so", "-DPLUG_ABI=3 -DPLUG_NAME='\"old3\"'")) {
		fprintf(stderr, "building the test plugins with cc failed\n");
		return -1;
	}
	return 0;
}

static int teardown_plugins(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", plugdir);
	return system(cmd) ? -1 : 0;
}

static void test_plugin_good(void **state)
{
	char path[PATH_MAX + 32], err[512];
	struct wb_engine_params p = {.name = "plug0"};
	struct wb_engine *e;
	char buf[4096], back[4096];

	(void)state;
	snprintf(path, sizeof(path), "%s/good.so", plugdir);
	assert_null(wb_engine_find("testplug"));
	assert_int_equal(wb_engine_load_plugin(path, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_non_null(wb_engine_find("testplug"));
	assert_int_equal(wb_engine_open("testplug", &p, &e), 0);
	assert_string_equal(e->name, "plug0");
	assert_string_equal(e->ops->name, "testplug");
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(wb_engine_write(e, buf, 4096, 8192, 0), 0);
	assert_int_equal(wb_engine_read(e, back, 4096, 8192), 0);
	assert_memory_equal(buf, back, 4096);
	assert_int_equal(wb_engine_flush(e), 0);
	wb_engine_close(e);
	/* the same plugin again: duplicate name */
	assert_int_equal(wb_engine_load_plugin(path, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "engine \"testplug\""));
	assert_non_null(strstr(err, "already registered"));
}

/* A plugin built against an older ABI is taken, and only the ops its
 * version has are ever called (the traps past it would return -EXDEV). */
static void test_plugin_old_abi(void **state)
{
	static const char *const names[] = {"old1", "old3"};
	char path[PATH_MAX + 32], err[512], buf[4096], back[4096];
	struct wb_engine_params p = {.name = "plugold"};
	struct wb_engine_stats st;
	struct wb_repl_hooks h = {0};
	struct wb_engine *e;
	struct wb_meta m;
	struct wb_bm_info bi;

	(void)state;
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s.so", plugdir, names[i]);
		assert_int_equal(wb_engine_load_plugin(path, err, sizeof(err)), 0);
		assert_int_equal(wb_engine_open(names[i], &p, &e), 0);
		memset(buf, 0x3c + i, sizeof(buf));
		assert_int_equal(wb_engine_write(e, buf, 4096, 0, 0), 0);
		assert_int_equal(wb_engine_read(e, back, 4096, 0), 0);
		assert_memory_equal(buf, back, 4096);
		assert_int_equal(wb_engine_set_params(e, &p), -EOPNOTSUPP);
		assert_int_equal(wb_engine_set_role(e, WB_ROLE_REPLICA), -EOPNOTSUPP);
		assert_int_equal(wb_engine_set_repl_hooks(e, &h), -EOPNOTSUPP);
		assert_int_equal(wb_engine_set_peer_pos(e, 0, 1), -EOPNOTSUPP);
		assert_int_equal(wb_engine_read_record(e, 1, NULL, NULL), -EOPNOTSUPP);
		assert_int_equal(wb_engine_rebase(e, 1, 1), -EOPNOTSUPP);
		assert_int_equal(wb_engine_set_mode(e, WB_MODE_WRITETHROUGH), -EOPNOTSUPP);
		assert_int_equal(wb_engine_meta(e, &m), -EOPNOTSUPP);
		assert_int_equal(wb_engine_bm_info(e, 0, &bi), -EOPNOTSUPP);
		assert_int_equal(wb_engine_upgrade(names[i], &p), 1);
		assert_int_equal(wb_engine_stats(e, &st), 0);
		assert_int_equal(st.size, 1u << 20);
		wb_engine_close(e);
	}
}

static void test_plugin_refused(void **state)
{
	char path[PATH_MAX + 32], want[PATH_MAX + 128], err[512];

	(void)state;
	wb_msg_set_sink(capture, NULL, WB_LOG_DEBUG);
	snprintf(path, sizeof(path), "%s/abibad.so", plugdir);
	assert_int_equal(wb_engine_load_plugin(path, err, sizeof(err)), -EPROTO);
	snprintf(want, sizeof(want), "plugin %s has engine ABI version 99, this wbrep takes %u..%u",
		 path, WB_ENGINE_ABI_MIN, WB_ENGINE_ABI_VERSION);
	assert_string_equal(err, want);
	assert_string_equal(last_msg, want); /* also logged */

	snprintf(path, sizeof(path), "%s/nosubmit.so", plugdir);
	assert_int_equal(wb_engine_load_plugin(path, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "lacks a mandatory operation"));
	assert_null(wb_engine_find("nosubmit"));

	snprintf(path, sizeof(path), "%s/nosym.so", plugdir);
	assert_int_equal(wb_engine_load_plugin(path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "does not export wb_engine_plugin_ops"));

	snprintf(path, sizeof(path), "%s/dupram.so", plugdir);
	assert_int_equal(wb_engine_load_plugin(path, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "already registered"));
	assert_string_equal(wb_engine_find("ram")->description,
			    "volatile memory, no I/O; loses everything at close (tests only)");

	snprintf(path, sizeof(path), "%s/missing.so", plugdir);
	assert_int_equal(wb_engine_load_plugin(path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot load plugin"));
}

/* ---- built-in engines ---- */

static void fill(void *buf, size_t len, unsigned seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed * 31 + i * 13 + (i >> 12));
}

struct cnt {
	int done, err;
};

static void cnt_done(struct wb_req *r, int err)
{
	struct cnt *c = r->priv;

	c->done++;
	if (err)
		c->err = err;
}

static void test_passthrough(void **state)
{
	struct wb_fault_cfg cfg = {.seed = 1, .drop_permille = 1000, .reorder = 1};
	struct wb_io *dev;
	struct wb_engine *e;
	struct wb_engine_stats st;
	uint8_t *a = malloc(64 * 1024), *b = malloc(64 * 1024 + 1), *d = malloc(64 * 1024);
	struct wb_req rq[16];
	struct cnt c = {0, 0};

	(void)state;
	assert_int_equal(wb_io_fault_open("backing", 4 * MiB, &cfg, &dev), 0);
	struct wb_engine_params p = {.name = "pt0", .backing_io = dev};

	assert_int_equal(wb_engine_format("passthrough", &p), 0);
	assert_int_equal(wb_engine_open("passthrough", &p, &e), 0);
	assert_int_equal(wb_engine_fd(e), wb_io_fd(dev));
	assert_int_equal(wb_engine_stats(e, &st), 0);
	assert_int_equal(st.size, 4 * MiB);
	/* nothing is cached: write-through, and write-back is refused */
	assert_int_equal(st.mode, WB_MODE_WRITETHROUGH);
	assert_int_equal(e->ops->set_mode(e, WB_MODE_WRITEBACK), -EOPNOTSUPP);
	assert_int_equal(e->ops->set_mode(e, WB_MODE_WRITETHROUGH), 0);
	assert_int_equal(wb_engine_stats(e, &st), 0);
	assert_int_equal(st.mode, WB_MODE_WRITETHROUGH);
	/* async writes: never completed from submit */
	fill(a, 64 * 1024, 1);
	for (int i = 0; i < 16; i++) {
		rq[i] = (struct wb_req){.op = WB_REQ_WRITE,
					.len = 4096,
					.off = i * 4096ull,
					.buf = a + i * 4096,
					.done = cnt_done,
					.priv = &c};
		assert_int_equal(wb_engine_submit(e, &rq[i]), 0);
	}
	memset(a, 0, 64 * 1024); /* caller may reuse the buffer after submit */
	assert_int_equal(c.done, 0);
	while (c.done < 16)
		assert_true(wb_engine_run(e, 1) >= 0);
	assert_int_equal(c.err, 0);
	fill(a, 64 * 1024, 1);
	/* unaligned read buffer */
	assert_int_equal(wb_engine_read(e, b + 1, 64 * 1024, 0), 0);
	assert_memory_equal(a, b + 1, 64 * 1024);
	assert_int_equal(wb_io_fault_peek(dev, 0, d, 4096), 0);
	assert_int_equal(d[0] | d[100], 0); /* not durable before the flush */
	assert_int_equal(wb_engine_flush(e), 0);
	assert_int_equal(wb_io_fault_peek(dev, 0, d, 64 * 1024), 0);
	assert_memory_equal(a, d, 64 * 1024);
	/* FUA: durable at completion */
	fill(a, 4096, 2);
	assert_int_equal(wb_engine_write(e, a, 4096, MiB, WB_REQ_F_FUA), 0);
	assert_int_equal(wb_io_fault_peek(dev, MiB, d, 4096), 0);
	assert_memory_equal(a, d, 4096);
	/* PREFLUSH: a flush before the write makes earlier writes durable */
	fill(a, 4096, 3);
	assert_int_equal(wb_engine_write(e, a, 4096, 2 * MiB, 0), 0);
	fill(a, 4096, 4);
	assert_int_equal(wb_engine_write(e, a, 4096, 3 * MiB, WB_REQ_F_PREFLUSH), 0);
	assert_int_equal(wb_io_fault_peek(dev, 2 * MiB, d, 4096), 0);
	fill(a, 4096, 3);
	assert_memory_equal(a, d, 4096);
	/* discard + write-zeroes: zeroes, across the 1 MiB chunking */
	struct wb_req z = {.op = WB_REQ_DISCARD, .off = MiB - 8192, .len = MiB + 16384};

	assert_int_equal(wb_engine_sync(e, &z), 0);
	assert_int_equal(wb_engine_read(e, b, 16384, MiB - 4096), 0);
	for (int i = 0; i < 16384; i++)
		assert_int_equal(b[i], 0);
	z = (struct wb_req){
	    .op = WB_REQ_WRITE_ZEROES, .off = 0, .len = 8192, .flags = WB_REQ_F_FUA};
	assert_int_equal(wb_engine_sync(e, &z), 0);
	assert_int_equal(wb_io_fault_peek(dev, 0, d, 8192), 0);
	for (int i = 0; i < 8192; i++)
		assert_int_equal(d[i], 0);
	/* invalid requests are refused at submit, done() is not called */
	wb_msg_set_sink(capture, NULL, WB_LOG_DEBUG);
	struct wb_req bad = {.op = WB_REQ_WRITE,
			     .off = 4 * MiB,
			     .len = 4096,
			     .buf = a,
			     .done = cnt_done,
			     .priv = &c};
	c.done = 0;
	assert_int_equal(wb_engine_submit(e, &bad), -EINVAL);
	bad.off = 100;
	assert_int_equal(wb_engine_submit(e, &bad), -EINVAL);
	assert_int_equal(c.done, 0);
	/* I/O errors are passed through */
	wb_io_fault_fail_nth(dev, WB_IO_WRITE, 0, -ENOSPC);
	assert_int_equal(wb_engine_write(e, a, 4096, 0, 0), -ENOSPC);
	wb_io_fault_fail_nth(dev, WB_IO_FLUSH, 0, -EIO);
	assert_int_equal(wb_engine_flush(e), -EIO);
	assert_int_equal(wb_engine_stats(e, &st), 0);
	assert_true(st.writes >= 19 && st.reads >= 2 && st.flushes >= 3);
	/* close flushes */
	fill(a, 4096, 5);
	assert_int_equal(wb_engine_write(e, a, 4096, 4096, 0), 0);
	wb_engine_close(e);
	assert_int_equal(wb_io_fault_peek(dev, 4096, d, 4096), 0);
	assert_memory_equal(a, d, 4096);
	wb_io_close(dev);
	free(a);
	free(b);
	free(d);
}

static void test_ram(void **state)
{
	struct wb_engine_params p = {.name = "ram0", .size = MiB};
	struct wb_engine *e;
	uint8_t a[8192], b[8192];

	(void)state;
	assert_int_equal(wb_engine_open("ram", &p, &e), 0);
	fill(a, 8192, 6);
	assert_int_equal(wb_engine_write(e, a, 8192, 4096, WB_REQ_F_FUA), 0);
	assert_int_equal(wb_engine_flush(e), 0);
	assert_int_equal(wb_engine_read(e, b, 8192, 4096), 0);
	assert_memory_equal(a, b, 8192);
	struct wb_req z = {.op = WB_REQ_WRITE_ZEROES, .off = 8192, .len = 4096};

	assert_int_equal(wb_engine_sync(e, &z), 0);
	assert_int_equal(wb_engine_read(e, b, 8192, 4096), 0);
	assert_memory_equal(a, b, 4096);
	for (int i = 4096; i < 8192; i++)
		assert_int_equal(b[i], 0);
	wb_engine_close(e);
	/* volatile: gone after close */
	assert_int_equal(wb_engine_open("ram", &p, &e), 0);
	assert_int_equal(wb_engine_read(e, b, 4096, 4096), 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(b[i], 0);
	wb_engine_close(e);
	p.size = 0;
	assert_int_equal(wb_engine_open("ram", &p, &e), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_msg_sink),	   cmocka_unit_test(test_builtins),
	    cmocka_unit_test(test_register),	   cmocka_unit_test(test_plugin_good),
	    cmocka_unit_test(test_plugin_refused), cmocka_unit_test(test_plugin_old_abi),
	    cmocka_unit_test(test_passthrough),	   cmocka_unit_test(test_ram),
	};

	wb_msg_set_sink(NULL, NULL, WB_LOG_WARN);
	return cmocka_run_group_tests(tests, setup_plugins, teardown_plugins);
}
