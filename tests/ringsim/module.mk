# SPDX-License-Identifier: GPL-2.0-only
# tests/ringsim: userspace model of the dm-wbrep kernel ring (ringsim.c) as
# a small library with the test programs' engine owner (engdrv.c), the ring
# benchmark (ringbench) and the link rule of the
# ring frontend's unit test: tests/unit/test_ringfe.c is built like every
# unit test but also needs libwbringsim.a, so its rule here (an explicit
# rule wins over the pattern rule of the top Makefile) adds it.
LIB_RINGSIM := $(B)/libwbringsim.a
$(LIB_RINGSIM): $(B)/tests/ringsim/ringsim.o $(B)/tests/ringsim/engdrv.o
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

RINGBENCH := $(B)/tests/ringsim/ringbench
TEST_BINS += $(RINGBENCH)
$(RINGBENCH): $(B)/tests/ringsim/ringbench.o $(LIB_RINGSIM) $$(LIBS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB_RINGSIM) $(LIBS) $(SYSLIBS) -levent_pthreads

$(B)/tests/unit/test_ringfe: $(B)/tests/unit/test_ringfe.o $(LIB_RINGSIM) $$(LIBS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB_RINGSIM) $(LIBS) -lcmocka $(SYSLIBS) -levent_pthreads
