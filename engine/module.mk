# SPDX-License-Identifier: GPL-2.0-only
# engine/: the cache-engine library (libwbengine.a) and the wbengine tool.
# Every engine/*.c is part of the library; tools live in engine/tool/.
ENGINE_SRCS := $(sort $(wildcard engine/*.c))
LIB_ENGINE  := $(B)/libwbengine.a
$(LIB_ENGINE): $(patsubst %.c,$(B)/%.o,$(ENGINE_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

ifneq ($(wildcard engine/tool/wbengine.c),)
BINS += $(B)/wbengine
$(B)/wbengine: $(B)/engine/tool/wbengine.o $(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS_ENGINE)
endif

# ISA-L's crc32_iscsi behind wb_crc32c when the build finds libisal-dev
$(B)/engine/crc32c.o: CPPFLAGS += $(if $(ISAL_H),-DWB_HAVE_ISAL)
