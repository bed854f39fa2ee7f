# SPDX-License-Identifier: GPL-2.0-only
# proto/: wbrep.proto -> protobuf-c code generated into $(B)/gen/proto/
# (included as "proto/wbrep.pb-c.h"), plus the framing in wbproto.c
# (control) and peerproto.c (replication links);
# all go into libwbproto.a.
PROTO_GEN_H := $(B)/gen/proto/wbrep.pb-c.h
PROTO_GEN_C := $(B)/gen/proto/wbrep.pb-c.c
GEN         += $(PROTO_GEN_H)
LIB_PROTO   := $(B)/libwbproto.a

$(PROTO_GEN_H): proto/wbrep.proto
	@mkdir -p $(B)/gen
	protoc-c --c_out=$(B)/gen $<
$(PROTO_GEN_C): $(PROTO_GEN_H) ;

# generated code: compiled without our warning set
$(B)/proto/wbrep.pb-c.o: $(PROTO_GEN_C)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(filter-out $(WARN),$(CFLAGS)) -w -c -o $@ $<

$(LIB_PROTO): $(B)/proto/wbproto.o $(B)/proto/peerproto.o $(B)/proto/wbrep.pb-c.o
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^
