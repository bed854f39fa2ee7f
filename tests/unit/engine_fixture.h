/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * engine_fixture.h - the CMocka fixture shared by the wblog engine tests
 * (test_wblog.c, test_destage.c): a wblog engine on two fault-injection
 * devices, a log of a chosen size and a 4 MiB backing device. It owns the
 * devices and the engine it opens; the tests own their data model. Every
 * helper asserts (a failure ends the test with the reason).
 */
#ifndef WB_TESTS_ENGINE_FIXTURE_H
#define WB_TESTS_ENGINE_FIXTURE_H

#include <stdint.h>

#include "engine/io.h"
#include "engine/wbengine.h"

#define EFX_BS	  4096u
#define EFX_DEVSZ (4u << 20) /* backing device: 1024 blocks */
#define EFX_NBLK  (EFX_DEVSZ / EFX_BS)

struct efx {
	struct wb_io *log, *bak; /* fault devices, closed by efx_fini() */
	struct wb_engine *e;	 /* NULL while closed */
	struct wb_engine_params p;
};

/* Zero f, open the log (logsz bytes, fault settings *lc) and the backing
 * device (EFX_DEVSZ, *bc) and point f->p (engine name `name`) at them.
 * Set the other parameters, or wrap the devices, then efx_format_open(). */
void efx_devices(struct efx *f, const char *name, uint64_t logsz, const struct wb_fault_cfg *lc,
		 const struct wb_fault_cfg *bc);
/* Format a wblog log with f->p and open the engine. */
void efx_format_open(struct efx *f);
/* Close the engine if it is open, open it again (recovery). */
void efx_reopen(struct efx *f);
/* Close the engine if it is open, then both devices. */
void efx_fini(struct efx *f);
/* Write-through until nothing is dirty and the log is empty, then back to
 * write-back (bounded: fails the test if the log does not drain). */
void efx_drain(struct efx *f);

/* An asynchronous engine call's completion: efx_done_cb(d, err) counts it,
 * efx_wait runs the engine until it came (exactly once) and returns err. */
struct efx_done {
	int called, err;
};
void efx_done_cb(void *arg, int err);
int efx_wait(struct efx *f, struct efx_done *d);
/* Power cut of both fault devices, close, power on, open again. */
void efx_crash(struct efx *f);

#endif
