/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * engdrv.h - a minimal engine owner for test programs that serve a ring
 * without the daemon (tests/ringsim/ringbench.c, tests/vm/wbringd.c): runs
 * wb_engine_run() when the engine's fd is readable, on its timer, and when
 * kicked. engdrv_kick is a kick callback (wbd_ringfe_set_kick) taking the
 * handle. Free with engdrv_free.
 */
#ifndef WB_TESTS_ENGDRV_H
#define WB_TESTS_ENGDRV_H

struct event_base;
struct wb_engine;
struct engdrv;

int engdrv_new(struct event_base *base, struct wb_engine *e, struct engdrv **out);
void engdrv_kick(void *drv);
void engdrv_free(struct engdrv *d);

#endif /* WB_TESTS_ENGDRV_H */
