// SPDX-License-Identifier: GPL-2.0-only
/*
 * engine_fixture.c - the shared wblog engine fixture of the unit tests (see
 * engine_fixture.h). Linked into every tests/unit/test_* program by the
 * Makefile; it is not a test itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "tests/unit/engine_fixture.h"

extern const struct wb_engine_ops wb_wblog_ops;

void efx_devices(struct efx *f, const char *name, uint64_t logsz, const struct wb_fault_cfg *lc,
		 const struct wb_fault_cfg *bc)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(wb_io_fault_open("log", logsz, lc, &f->log), 0);
	/* + the identity block after the exported range (engine/bind.h) */
	assert_int_equal(wb_io_fault_open("bak", EFX_DEVSZ + 4096, bc, &f->bak), 0);
	f->p.name = name;
	f->p.log_io = f->log;
	f->p.backing_io = f->bak;
}

void efx_format_open(struct efx *f)
{
	assert_int_equal(wb_wblog_ops.format(&f->p), 0);
	assert_int_equal(wb_wblog_ops.open(&f->p, &f->e), 0);
}

void efx_reopen(struct efx *f)
{
	if (f->e)
		wb_engine_close(f->e);
	f->e = NULL;
	assert_int_equal(wb_wblog_ops.open(&f->p, &f->e), 0);
}

void efx_fini(struct efx *f)
{
	if (f->e)
		wb_engine_close(f->e);
	f->e = NULL;
	wb_io_close(f->log);
	wb_io_close(f->bak);
}

void efx_drain(struct efx *f)
{
	struct wb_engine_stats st;
	int i;

	assert_int_equal(wb_engine_set_mode(f->e, WB_MODE_WRITETHROUGH), 0);
	for (i = 0; i < 100000; i++) {
		assert_int_equal(wb_engine_stats(f->e, &st), 0);
		if (!st.dirty_bytes && !st.log_used)
			break;
		assert_true(wb_engine_run(f->e, 1) >= 0);
	}
	assert_int_equal(st.dirty_bytes, 0);
	assert_int_equal(st.log_used, 0);
	assert_int_equal(st.seq_tail, st.seq_head);
	assert_int_equal(wb_engine_set_mode(f->e, WB_MODE_WRITEBACK), 0);
}

void efx_done_cb(void *arg, int err)
{
	struct efx_done *d = arg;

	d->called++;
	d->err = err;
}

int efx_wait(struct efx *f, struct efx_done *d)
{
	for (int i = 0; i < 100000 && !d->called; i++)
		if (wb_engine_run(f->e, 1) < 0)
			break;
	assert_int_equal(d->called, 1);
	return d->err;
}

void efx_crash(struct efx *f)
{
	wb_io_fault_power_cut(f->log);
	wb_io_fault_power_cut(f->bak);
	wb_engine_close(f->e);
	f->e = NULL;
	wb_io_fault_power_on(f->log);
	wb_io_fault_power_on(f->bak);
	assert_int_equal(wb_wblog_ops.open(&f->p, &f->e), 0);
}
