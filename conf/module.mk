# SPDX-License-Identifier: GPL-2.0-only
# conf/: configuration parser and validator (libwbconf.a), shared by wbrepd
# and wbctl.
CONF_SRCS := $(sort $(wildcard conf/*.c))
LIB_CONF  := $(B)/libwbconf.a
$(LIB_CONF): $(patsubst %.c,$(B)/%.o,$(CONF_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^
