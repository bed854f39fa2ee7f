# SPDX-License-Identifier: GPL-2.0-only
# daemon/: libwbdaemon.a (every daemon/*.c except main.c, so unit tests can
# link the modules) and the wbrepd binary.
DAEMON_SRCS := $(filter-out daemon/main.c,$(sort $(wildcard daemon/*.c)))
ifneq ($(DAEMON_SRCS),)
LIB_DAEMON  := $(B)/libwbdaemon.a
$(LIB_DAEMON): $(patsubst %.c,$(B)/%.o,$(DAEMON_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^
endif

ifneq ($(wildcard daemon/main.c),)
BINS += $(B)/wbrepd
$(B)/wbrepd: $(B)/daemon/main.o $$(LIBS)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBS) $(SYSLIBS)
endif
