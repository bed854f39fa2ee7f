# SPDX-License-Identifier: GPL-2.0-only
# cli/: wbctl, the command-line tool (control socket client + config check).
# (libraries via secondary expansion: conf/ and proto/ fragments are included later)
CLI_SRCS := $(sort $(wildcard cli/*.c))
BINS += $(B)/wbctl
$(B)/wbctl: $(patsubst %.c,$(B)/%.o,$(CLI_SRCS)) $$(LIB_PROTO) $$(LIB_CONF)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS_PROTO) -lssl -lcrypto
