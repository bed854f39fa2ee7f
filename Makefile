# SPDX-License-Identifier: GPL-2.0-only
#
# Top-level GNU Makefile for wbrep. Each component directory owns a
# `module.mk` fragment that appends to the variables below; this file only
# holds the common flags, the pattern rules and the top-level targets.
#
#   make            build libraries, wbrepd, wbctl, wbengine, tests
#   make test       install missing packages, build, run every test
#   make mutants    known-bad patches to the crash invariants must fail the tests
#   make torture-cluster  randomized cuts, kills, failovers under a stamped load (WB_TORTURE_CYCLES),
#                   then the pacemaker failover case
#   make torture-repl     link cuts through a fault proxy under load (WB_LINKFAULT_CYCLES),
#                   then random primary power cuts/kills and failovers (WB_POWERCUT_CYCLES),
#                   then a resync under load killed mid-way (WB_RESYNC_LOAD_CYCLES)
#   make fuzz-long        every fuzz target for WB_FUZZ_SECONDS (default 300) each
#   make torture    the crash torture longer than make test: WB_TORTURE_ITERS (default 800,
#                   make test 200) iterations per engine and mode
#   make bench      run the benchmarks (tables + JSON in tests/bench/results)
#   make demo       3-node cluster demo: ext4 on r0, cut/heal, failover (deploy/demo-cluster.sh)
#   make demo-single  one node, ext4 + fio across a daemon restart (deploy/demo.sh)
#   make kmod       build dm-wbrep.ko against the installed kernel headers
#   make fuzz       build the libFuzzer targets (clang)
#   make style      clang-format check (userspace), checkpatch (kmod)
#   make SAN=1 ...  ASan + UBSan build (into build-san/)
#   make TSAN=1 ... ThreadSanitizer build (into build-tsan/)

CC      ?= gcc
PREFIX  ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
SAN     ?= 0
TSAN    ?= 0
FUZZ    ?= 0

ifeq ($(FUZZ),1)
# libFuzzer build: everything instrumented for coverage, targets linked with
# -fsanitize=fuzzer. tests/fuzz/fuzz_<name>.c -> build-fuzz/fuzz_<name>.
CC       := clang
B        := build-fuzz
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
else ifeq ($(SAN),1)
B        := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(TSAN),1)
# ThreadSanitizer: the io loops and the engine loop (docs/daemon.md, "Threads")
B        := build-tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else
B        := build
SANFLAGS :=
endif

WARN     := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) $(SANFLAGS) -pthread -fPIC
CPPFLAGS += -D_GNU_SOURCE -I. -Ikmod/uapi -I$(B)/gen -MMD -MP
LDFLAGS  += $(SANFLAGS) -pthread -rdynamic
# System libraries, per library of ours: a binary links the lists of the
# libraries it links (wbengine and the engine tests no corosync or OpenSSL).
SYSLIBS_ENGINE := -luring -ldl
# ISA-L's crc32c when libisal-dev is installed (engine/crc32c.c)
ISAL_H := $(wildcard /usr/include/isa-l/crc.h)
ifneq ($(ISAL_H),)
SYSLIBS_ENGINE += -lisal
endif
SYSLIBS_PROTO  := -lprotobuf-c
SYSLIBS_RING   := -levent -lnl-genl-3 -lnl-3
SYSLIBS_DAEMON := -levent -levent_openssl -lssl -lcrypto -lnl-genl-3 -lnl-3 \
                  -lcpg -lvotequorum -lcmap -lcorosync_common
SYSLIBS        := $(SYSLIBS_DAEMON) $(SYSLIBS_PROTO) $(SYSLIBS_ENGINE)
CPPFLAGS += -I/usr/include/libnl3

# Filled in by the module.mk fragments. Libraries: each fragment sets its
# LIB_<NAME> (a static archive under $(B)/); LIBS is the link order.
BINS      :=   # programs to build and install
TEST_BINS :=   # test programs (unit tests, torture, ringsim ...)
GEN       :=   # generated files that must exist before compiling

.SECONDEXPANSION:
all: bins tests

include $(sort $(wildcard */module.mk tests/*/module.mk))
LIBS := $(strip $(LIB_DAEMON) $(LIB_PROTO) $(LIB_CONF) $(LIB_ENGINE))

bins: $$(BINS)
tests: $$(TEST_BINS)

$(B)/%.o: %.c | $(GEN)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Unit tests: tests/unit/test_X.c -> $(B)/tests/unit/test_X, linked with all
# libs and with every other tests/unit/*.c (shared fixtures, not tests).
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst %.c,$(B)/%,$(UNIT_SRCS))
UNIT_HELPER_OBJS := $(patsubst %.c,$(B)/%.o,$(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c)))
TEST_BINS += $(UNIT_BINS)
$(B)/tests/unit/test_%: $(B)/tests/unit/test_%.o $(UNIT_HELPER_OBJS) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $< $(UNIT_HELPER_OBJS) $(LIBS) -lcmocka $(SYSLIBS)

# Fuzz targets: tests/fuzz/fuzz_X.c defines LLVMFuzzerTestOneInput.
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(B)/%,$(FUZZ_SRCS))
$(B)/fuzz_%: $(B)/tests/fuzz/fuzz_%.o $(LIBS)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< $(LIBS) $(SYSLIBS)
fuzz-bins: $(FUZZ_BINS)
fuzz:
	$(MAKE) FUZZ=1 fuzz-bins

deps:
	@bash scripts/deps.sh

# make test builds with 2 jobs unless given -j (CI runs a plain `make test`
# on 2 cores)
TEST_J = $(if $(filter -j%,$(MAKEFLAGS)),,-j2)
test: deps
	$(MAKE) $(TEST_J) all
	$(MAKE) $(TEST_J) SAN=1 tests
	$(MAKE) $(TEST_J) TSAN=1 bins build-tsan/tests/unit/test_ioloop build-tsan/tests/unit/test_pagebuf \
		build-tsan/tests/unit/test_peerlink build-tsan/tests/unit/test_ringfe
	@bash tests/run.sh

test-unit: all
	@WB_ONLY=unit bash tests/run.sh

# both parts run whatever the first one found; run.sh sums them up
torture-cluster: all
	@WB_PCMK_FAILOVER=1 bash tests/run.sh tests/cluster/torture.sh tests/cluster/test_pacemaker.sh

mutants: all
	@bash tests/mutants/test_mutants.sh

torture: all
	@WB_TORTURE_ITERS=$${WB_TORTURE_ITERS:-800} bash tests/crash/test_torture.sh

bench: deps
	$(MAKE) all
	@bash tests/bench/run.sh

demo: deps
	$(MAKE) bins
	@bash deploy/demo-cluster.sh

demo-single: deps
	$(MAKE) bins
	@bash deploy/demo.sh

kmod:
	@bash kmod/build.sh

style:
	@bash scripts/style.sh

install: bins
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/wbrep/plugins
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/sbin/
	[ ! -f deploy/systemd/wbrepd.service ] || { install -d $(DESTDIR)$(PREFIX)/lib/systemd/system && \
		sed 's|/usr/local|$(PREFIX)|g' deploy/systemd/wbrepd.service \
		>$(DESTDIR)$(PREFIX)/lib/systemd/system/wbrepd.service; }
	[ ! -f deploy/ocf/wbrep ] || install -D -m 0755 deploy/ocf/wbrep \
		$(DESTDIR)$(PREFIX)/lib/ocf/resource.d/wbrep/wbrep
	install -D -m 0644 conf/wbrep.conf.example $(DESTDIR)$(SYSCONFDIR)/wbrep/wbrep.conf.example

clean:
	rm -rf build build-san
	[ ! -d kmod ] || $(MAKE) -s -C kmod clean-local 2>/dev/null || true

.PHONY: all bins tests fuzz fuzz-bins deps test test-unit mutants torture torture-cluster bench demo demo-single kmod style install clean
.SECONDARY:

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# The split-brain suite alone (it is part of `make test` too).
test-repl-sb: all
	bash tests/integration/test_repl_sb.sh
.PHONY: test-repl-sb

# Link faults under load, longer: WB_LINKFAULT_CYCLES cuts per protocol
# (default 10) through the fault-injecting proxy (docs/replication.md); then
# WB_POWERCUT_CYCLES (default 20) random power cuts / kills of a 2-node
# pair's primary or secondary with failovers (WB_POWERCUT_SEED repeats);
# then a resync under a stamped load killed WB_RESYNC_LOAD_CYCLES times.
torture-repl: all
	WB_LINKFAULT_CYCLES=$${WB_LINKFAULT_CYCLES:-10} bash tests/integration/test_linkfault.sh
	WB_POWERCUT_CYCLES=$${WB_POWERCUT_CYCLES:-20} WB_POWERCUT_FAULTS= WB_POWERCUT_FAULTIO=random WB_POWERCUT_ACK=random \
		bash tests/integration/test_repl_powercut.sh
	WB_RESYNC_LOAD_CYCLES=$${WB_RESYNC_LOAD_CYCLES:-3} bash tests/integration/resync_load.sh
.PHONY: torture-repl

# Every libFuzzer target for longer than make test's short run.
fuzz-long: deps
	WB_FUZZ_SECONDS=$${WB_FUZZ_SECONDS:-300} bash tests/fuzz/test_fuzz.sh
.PHONY: fuzz-long
