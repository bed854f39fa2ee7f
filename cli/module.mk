# SPDX-License-Identifier: GPL-2.0-only
# cli/: wbctl, the command-line tool (control socket client + config check).
# (libraries via secondary expansion: conf/ and proto/ fragments are included later)
BINS += $(B)/wbctl
$(B)/wbctl: $(B)/cli/wbctl.o $$(LIB_PROTO) $$(LIB_CONF)
	$(CC) $(LDFLAGS) -o $@ $^ $(SYSLIBS)
