# SPDX-License-Identifier: GPL-2.0-only
# tests/bench/: benchmark programs run by tests/bench/run.sh (`make bench`).
# wbbench_engine drives an engine through its async API on files; it links
# only libwbengine.a (the engine depends on nothing else of ours).
BENCH_ENGINE := $(B)/tests/bench/wbbench_engine
TEST_BINS += $(BENCH_ENGINE)
$(BENCH_ENGINE): $(B)/tests/bench/wbbench_engine.o $$(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $< \
		$(LIB_ENGINE) $(SYSLIBS_ENGINE)

# wbbench_crc: crc32c on 4 KiB blocks, built-in vs ISA-L's crc32_iscsi when
# libisal-dev is installed (the comparison issue 8 asks for; with it the
# engine's wb_crc32c is ISA-L's too).
BENCH_CRC := $(B)/tests/bench/wbbench_crc
TEST_BINS += $(BENCH_CRC)
$(B)/tests/bench/wbbench_crc.o: CPPFLAGS += $(if $(ISAL_H),-DHAVE_ISAL)
$(BENCH_CRC): $(B)/tests/bench/wbbench_crc.o $$(LIB_ENGINE)
	$(CC) $(LDFLAGS) -o $@ $< \
		$(LIB_ENGINE) $(SYSLIBS_ENGINE)

# wbtlsstream: the repl section's TLS link ceiling, a TLS 1.3 stream with a
# replication link's TLS work and nothing else (tests/bench/tls_stream.py).
BENCH_TLSSTREAM := $(B)/tests/bench/wbtlsstream
TEST_BINS += $(BENCH_TLSSTREAM)
$(BENCH_TLSSTREAM): $(B)/tests/bench/wbtlsstream.o
	$(CC) $(LDFLAGS) -o $@ $< -lssl -lcrypto -lpthread
