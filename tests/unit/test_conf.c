// SPDX-License-Identifier: GPL-2.0-only
/*
 * test_conf.c - CMocka tests of the configuration parser (conf/wbconf.h):
 * defaults, every value type, per-node overrides, every kind of error with
 * its exact file:line message, collection of all errors, value parsers,
 * reload checks, device identity (same file by another path, symlink, same
 * block device node), malformed bytes (NUL, CR, overlong lines), and that
 * docs/configuration.md documents every key of the key table as it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/wbconf.h"
#include "conf/wbconf_int.h"

static int parse(const char *text, const char *node, struct wbconf **c, struct wbconf_errors *e)
{
	return wbconf_parse_buf(text, strlen(text), "t.conf", node, c, e);
}

/* Parse text that must fail; returns the formatted errors joined by '\n'. */
static char *errors_of(const char *text, const char *node, size_t *n)
{
	struct wbconf_errors e = {0};
	struct wbconf *c = (struct wbconf *)1;
	static char out[8192];
	size_t o = 0;

	assert_int_equal(parse(text, node, &c, &e), -EINVAL);
	assert_null(c);
	for (size_t i = 0; i < e.n; i++) {
		char line[1024];

		wbconf_error_format(&e.v[i], line, sizeof(line));
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s\n", line);
	}
	*n = e.n;
	wbconf_errors_free(&e);
	return out;
}

/* One bad config -> exactly one error, equal to want. */
static void expect_one(const char *text, const char *want)
{
	size_t n;
	char *got = errors_of(text, NULL, &n);

	if (n != 1 || strncmp(got, want, strlen(want)) || got[strlen(want)] != '\n')
		fail_msg("config:\n%s\nwant 1 error: %s\ngot %zu:\n%s", text, want, n, got);
}

static const char *const minimal = "[resource r0]\nbacking = /dev/b0\nlog = /dev/l0\n";

static void test_empty_file_defaults(void **state)
{
	struct wbconf_errors e = {0};
	struct wbconf *c;

	assert_int_equal(parse("", "n1", &c, &e), 0);
	assert_int_equal(e.n, 0);
	assert_string_equal(c->global.control_socket, WBCONF_DEFAULT_CTL_SOCKET);
	assert_string_equal(c->global.pid_file, WBCONF_DEFAULT_PID_FILE);
	assert_int_equal(c->global.log_level, WBCONF_LOG_INFO);
	assert_int_equal(c->global.log_target, WBCONF_LOG_STDERR);
	assert_int_equal(c->global.transport, WBCONF_TRANSPORT_TLS);
	assert_int_equal(c->global.cpu_affinity, 0); /* any CPU */
	assert_false(wbconf_addr_set(&c->global.metrics_listen));
	assert_string_equal(c->global.node_name, "n1");
	assert_int_equal(c->nres, 0);
	assert_int_equal(c->nnodes, 0);
	wbconf_free(c);
}

static void test_resource_defaults(void **state)
{
	struct wbconf *c;
	const struct wbconf_resource *r;

	assert_int_equal(parse(minimal, NULL, &c, NULL), 0);
	r = wbconf_resource_find(c, "r0");
	assert_non_null(r);
	assert_null(wbconf_resource_find(c, "r1"));
	assert_string_equal(r->engine, "wblog");
	assert_string_equal(r->backing, "/dev/b0");
	assert_string_equal(r->log, "/dev/l0");
	assert_int_equal(r->size, 0);
	assert_int_equal(r->ram_buffer, 64ull << 20);
	assert_int_equal(r->gen_max_interval_ms, 5000);
	assert_int_equal(r->destage_low_pct, 10);
	assert_int_equal(r->destage_high_pct, 90);
	assert_int_equal(r->destage_min_rate, 4ull << 20);
	assert_int_equal(r->log_segment, 2u << 20);
	assert_false(wbconf_addr_set(&r->nbd_listen));
	assert_null(r->nbd_socket);
	assert_null(r->ring);
	assert_int_equal(r->protocol, 'C');
	assert_int_equal(r->ack, WBCONF_ACK_LOG);
	assert_int_equal(r->log_commit_ms, 10);
	assert_int_equal(r->wb_min_peers, 1);
	assert_int_equal(r->on_no_quorum, WBCONF_NOQ_SUSPEND_IO);
	assert_int_equal(r->after_sb_1pri, WBCONF_ASB_DISCONNECT);
	assert_int_equal(r->after_sb_0pri, WBCONF_ASB0_DISCONNECT);
	assert_null(c->global.event_handler);
	assert_int_equal(c->global.event_kinds, WBCONF_EVK_SPLIT_BRAIN | WBCONF_EVK_ENGINE);
	assert_int_equal(c->global.event_handler_timeout_ms, 60000);
	assert_true(r->auto_up);
	assert_int_equal(r->line, 1);
	wbconf_free(c);
}

/* after-sb-0pri's five values, as DRBD names them */
static void test_after_sb_0pri_values(void **state)
{
	static const struct {
		const char *name;
		int v;
	} t[] = {{"disconnect", WBCONF_ASB0_DISCONNECT},
		 {"discard-zero-changes", WBCONF_ASB0_DISCARD_ZERO_CHANGES},
		 {"discard-least-changes", WBCONF_ASB0_DISCARD_LEAST_CHANGES},
		 {"discard-younger-primary", WBCONF_ASB0_DISCARD_YOUNGER_PRIMARY},
		 {"discard-older-primary", WBCONF_ASB0_DISCARD_OLDER_PRIMARY}};
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct wbconf_errors e = {0};
		struct wbconf *c;

		snprintf(text, sizeof(text), "%safter-sb-0pri = %s\n", minimal, t[i].name);
		assert_int_equal(parse(text, "n1", &c, &e), 0);
		assert_int_equal(c->res[0].after_sb_0pri, t[i].v);
		assert_string_equal(wbconf_res_enum_name("after-sb-0pri", t[i].v), t[i].name);
		wbconf_free(c);
	}
	assert_string_equal(wbconf_res_enum_name("after-sb-0pri", 99), "?");
	assert_string_equal(wbconf_res_enum_name("resync-rate", 0), "?"); /* not an enum */
	assert_string_equal(wbconf_res_enum_name("after-sb-1pri", WBCONF_ASB_CONSENSUS),
			    "consensus");
}

static const char *const full = "# full example\r\n"
				"[global]\n"
				"  control-socket = /tmp/x.sock   # inline comment\n"
				"log-level=debug\n"
				"log-target = syslog\n"
				"metrics-listen = [::1]:9790\n"
				"transport = plain\n"
				"cpu-affinity = 0-2,5\n"
				"node-name = alpha\n"
				"event-handler = /usr/lib/wbrep/notify.sh\n"
				"event-handler-kinds = mode ,split-brain\n"
				"event-handler-timeout = 5s\n"
				"; another comment\n"
				"[resource r0]\n"
				"engine = wblog\n"
				"backing = /dev/b0\n"
				"log = /dev/l0\n"
				"size = 1G\n"
				"ram-buffer = 128MiB\n"
				"gen-max-interval = 2m\n"
				"destage-low = 5%\n"
				"destage-high = 80\n"
				"destage-min-rate = 8M/s\n"
				"log-segment = 256K\n"
				"nbd-listen = *:10809\n"
				"nbd-insecure = yes\n"
				"nbd-socket = \"/run/wbrep/r0 nbd.sock\"\n"
				"ring = r0.ring\n"
				"protocol = A\n"
				"ack = memory\n"
				"log-commit-ms = 3\n"
				"wb-min-peers = 2\n"
				"on-no-quorum = io-error\n"
				"after-sb-1pri = discard-secondary\n"
				"after-sb-0pri = discard-least-changes\n"
				"auto-up = no\n"
				"[resource r0 on alpha]\n"
				"backing = /dev/alpha-b0\n"
				"[resource r0 on beta]\n"
				"backing = /dev/beta-b0\n"
				"[resource r1]\n"
				"engine = ram\n"
				"backing = /dev/b1\n"
				"gen-max-interval = 500ms\n"
				"[node alpha]\naddress = 10.0.0.1:7788\nnode-id = 1\n"
				"[node beta]\naddress = 10.0.0.2:7788\nnode-id = 2\n"
				"[node gamma]\naddress = host-c.example:7788\n";

static void test_full_config(void **state)
{
	struct wbconf_errors e = {0};
	struct wbconf *c;
	const struct wbconf_resource *r;

	if (parse(full, NULL, &c, &e)) {
		wbconf_errors_print(&e, stderr);
		fail();
	}
	assert_string_equal(c->global.control_socket, "/tmp/x.sock");
	assert_string_equal(c->global.event_handler, "/usr/lib/wbrep/notify.sh");
	assert_int_equal(c->global.event_kinds, WBCONF_EVK_MODE | WBCONF_EVK_SPLIT_BRAIN);
	assert_int_equal(c->global.event_handler_timeout_ms, 5000);
	assert_int_equal(c->global.log_level, WBCONF_LOG_DEBUG);
	assert_int_equal(c->global.log_target, WBCONF_LOG_SYSLOG);
	assert_string_equal(c->global.metrics_listen.host, "::1");
	assert_int_equal(c->global.metrics_listen.port, 9790);
	assert_int_equal(c->global.transport, WBCONF_TRANSPORT_PLAIN);
	assert_int_equal(c->global.cpu_affinity, 0x27);
	assert_string_equal(c->global.node_name, "alpha");
	assert_int_equal(c->nres, 2);
	r = &c->res[0];
	assert_string_equal(r->backing, "/dev/alpha-b0"); /* override for alpha */
	assert_int_equal(r->size, 1ull << 30);
	assert_int_equal(r->ram_buffer, 128ull << 20);
	assert_int_equal(r->gen_max_interval_ms, 120000);
	assert_int_equal(r->destage_low_pct, 5);
	assert_int_equal(r->destage_high_pct, 80);
	assert_int_equal(r->destage_min_rate, 8ull << 20);
	assert_int_equal(r->log_segment, 256u << 10);
	assert_string_equal(r->nbd_listen.host, "*");
	assert_int_equal(r->nbd_listen.port, 10809);
	assert_string_equal(r->nbd_socket, "/run/wbrep/r0 nbd.sock");
	assert_string_equal(r->ring, "r0.ring");
	assert_int_equal(r->protocol, 'A');
	assert_int_equal(r->ack, WBCONF_ACK_MEMORY);
	assert_int_equal(r->log_commit_ms, 3);
	assert_int_equal(r->wb_min_peers, 2);
	assert_int_equal(r->on_no_quorum, WBCONF_NOQ_IO_ERROR);
	assert_int_equal(r->after_sb_1pri, WBCONF_ASB_DISCARD_SECONDARY);
	assert_int_equal(r->after_sb_0pri, WBCONF_ASB0_DISCARD_LEAST_CHANGES);
	assert_false(r->auto_up);
	r = wbconf_resource_find(c, "r1");
	assert_string_equal(r->engine, "ram");
	assert_null(r->log);
	assert_int_equal(r->gen_max_interval_ms, 500);
	assert_int_equal(c->nnodes, 3);
	assert_string_equal(wbconf_node_find(c, "gamma")->address.host, "host-c.example");
	assert_int_equal(wbconf_node_find(c, "beta")->node_id, 2);
	assert_int_equal(wbconf_node_find(c, "gamma")->node_id, 0);
	wbconf_free(c);

	/* the same file seen from node beta */
	assert_int_equal(parse(full, "beta", &c, NULL), 0);
	assert_string_equal(c->res[0].backing, "/dev/beta-b0");
	wbconf_free(c);
	/* and from gamma: no override */
	assert_int_equal(parse(full, "gamma", &c, NULL), 0);
	assert_string_equal(c->res[0].backing, "/dev/b0");
	wbconf_free(c);
}

static void test_syntax_errors(void **state)
{
	expect_one("[global]\nlog-level\n",
		   "t.conf:2: [global]: expected 'key = value' or a [section] header, got "
		   "'log-level'");
	expect_one("log-level = info\n",
		   "t.conf:1: log-level: setting outside of any section (add [global] above it)");
	expect_one("[global\n", "t.conf:1: section header without closing ']'");
	expect_one("[global] x\n", "t.conf:1: unexpected text 'x' after section header");
	expect_one("[globl]\nfoo = 1\n",
		   "t.conf:1: unknown section '[globl]': expected [global], [resource NAME], "
		   "[resource NAME on NODE] or [node NAME]");
	expect_one("[resource a/b]\n",
		   "t.conf:1: invalid name 'a/b' in section header: expected 1-63 letters, "
		   "digits, '_', '-', '.' (starting with a letter or digit)");
	expect_one("[global]\nLog-Level = info\n",
		   "t.conf:2: [global]: invalid key name 'Log-Level': expected lower-case "
		   "letters, digits and '-'");
	expect_one("[global]\npid-file =\n", "t.conf:2: [global] pid-file: missing value");
	expect_one("[global]\npid-file = \"/x\n",
		   "t.conf:2: [global] pid-file: unterminated quote or text after the closing "
		   "quote");
	expect_one("[global]\n[global]\n",
		   "t.conf:2: [global]: duplicate section, first defined at line 1");
	expect_one("[global]\npid-file = /a\npid-file = /b\n",
		   "t.conf:3: [global] pid-file: duplicate key, first set at line 2");
}

static void test_key_errors(void **state)
{
	expect_one("[global]\nlog-levle = info\n",
		   "t.conf:2: [global] log-levle: unknown key (did you mean 'log-level'?)");
	expect_one("[global]\nbacking = /x\n",
		   "t.conf:2: [global] backing: unknown key here: it belongs in a [resource NAME] "
		   "section");
	expect_one("[global]\nfrobnicate = 1\n", "t.conf:2: [global] frobnicate: unknown key");
	expect_one("[global]\nlog-level = loud\n",
		   "t.conf:2: [global] log-level: invalid value 'loud': expected one of err, "
		   "warn, info, debug");
	expect_one("[global]\npid-file = run/x.pid\n",
		   "t.conf:2: [global] pid-file: 'run/x.pid' is not an absolute path");
	expect_one("[global]\nmetrics-listen = 9790\n",
		   "t.conf:2: [global] metrics-listen: invalid address '9790': expected host:port "
		   "with port 1-65535 (e.g. 127.0.0.1:10809, [::1]:10809, *:10809)");
	expect_one("[global]\nmetrics-listen = h:70000\n",
		   "t.conf:2: [global] metrics-listen: invalid address 'h:70000': expected "
		   "host:port with port 1-65535 (e.g. 127.0.0.1:10809, [::1]:10809, *:10809)");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\nram-buffer = 12Q\n",
		   "t.conf:4: [resource r0] ram-buffer: invalid size '12Q': expected a number "
		   "with an optional unit K, M, G, T (1024-based), e.g. 64M");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\nram-buffer = 4K\n",
		   "t.conf:4: [resource r0] ram-buffer: value '4K' is out of range: expected "
		   "1M..64G");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\nsize = 1000\n",
		   "t.conf:4: [resource r0] size: size '1000' is not a multiple of 4K");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\ngen-max-interval = 5\n",
		   "t.conf:4: [resource r0] gen-max-interval: invalid duration '5': expected a "
		   "number with a unit ms, s, m or h, e.g. 500ms, 5s");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\ngen-max-interval = 2h\n",
		   "t.conf:4: [resource r0] gen-max-interval: value '2h' is out of range: "
		   "expected 0ms..3600000ms");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\ndestage-high = 101%\n",
		   "t.conf:4: [resource r0] destage-high: value '101%' is out of range: expected "
		   "1%..100%");
	/* 0 would reach the engine as "its default" (10 %) */
	expect_one("[resource r0]\nbacking = /b\nlog = /l\ndestage-low = 0%\n",
		   "t.conf:4: [resource r0] destage-low: value '0%' is out of range: expected "
		   "1%..100%");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\ndestage-low = ten\n",
		   "t.conf:4: [resource r0] destage-low: invalid percentage 'ten': expected "
		   "0%..100%, e.g. 90%");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\nauto-up = maybe\n",
		   "t.conf:4: [resource r0] auto-up: invalid boolean 'maybe': expected yes or no");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\nwb-min-peers = -1\n",
		   "t.conf:4: [resource r0] wb-min-peers: invalid number '-1': expected an "
		   "integer 0..31");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\nengine = ../evil\n",
		   "t.conf:4: [resource r0] engine: invalid name '../evil': expected an engine "
		   "name: wblog, passthrough, ram or a plugin name");
	/* removed in favour of the [node] address (docs/configuration.md) */
	expect_one("[resource r0]\nbacking = /b\nlog = /l\nreplication-port = 7000\n",
		   "t.conf:4: [resource r0] replication-port: unknown key");
	expect_one("[global]\ncpu-affinity = 64\n",
		   "t.conf:2: [global] cpu-affinity: invalid CPU list '64': expected CPU numbers "
		   "0..63 and ranges, e.g. 0 or 0-1,3");
	expect_one("[global]\ncpu-affinity = 3-1\n",
		   "t.conf:2: [global] cpu-affinity: invalid CPU list '3-1': expected CPU numbers "
		   "0..63 and ranges, e.g. 0 or 0-1,3");
	expect_one("[global]\ncpu-affinity = 0,\n",
		   "t.conf:2: [global] cpu-affinity: invalid CPU list '0,': expected CPU numbers "
		   "0..63 and ranges, e.g. 0 or 0-1,3");
	expect_one("[node n1]\naddress = 1.2.3.4:5\nnode-id = 256\n",
		   "t.conf:3: [node n1] node-id: value '256' is out of range: expected 1..255");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\nsize = 99999999999999999999999\n",
		   "t.conf:4: [resource r0] size: value '99999999999999999999999' is out of "
		   "range: expected 0..1024T");
}

static void test_missing_and_cross(void **state)
{
	expect_one("[resource r0]\nlog = /l\n",
		   "t.conf:1: [resource r0] backing: missing required key (a path)");
	expect_one("[resource r0]\nbacking = /b\n",
		   "t.conf:1: [resource r0] log: missing required key (a path): engine wblog "
		   "needs a log device");
	expect_one("[node n1]\nnode-id = 1\n",
		   "t.conf:1: [node n1] address: missing required key (host:port)");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\ndestage-low = 90%\ndestage-high = 50%\n",
		   "t.conf:4: [resource r0] destage-low: destage-low (90%) must be below "
		   "destage-high (50%)");
	expect_one("[resource r0]\nbacking = /b\nlog = /b\n",
		   "t.conf:3: [resource r0] log: log and backing are the same path '/b'");
	expect_one("[resource r0]\nengine = wbolg\nbacking = /b\nlog = /l\n",
		   "t.conf:2: [resource r0] engine: unknown engine 'wbolg': expected wblog, "
		   "passthrough, ram or a plugin /usr/local/lib/wbrep/plugins/wbolg.so");
	expect_one("[resource r0]\nengine = passthrough\nbacking = /b\ncache-mode = writeback\n",
		   "t.conf:4: [resource r0] cache-mode: engine passthrough has no cache: it is "
		   "always writethrough");
	expect_one("[resource r0]\nengine = passthrough\nbacking = /b\nack = memory\n",
		   "t.conf:4: [resource r0] ack: ack = memory needs engine wblog (engine "
		   "passthrough has no log)");
	expect_one("[resource r0]\nbacking = /b0\nlog = /l0\nnbd-listen = 127.0.0.1:10809\n"
		   "[resource r1]\nbacking = /b1\nlog = /l1\nnbd-listen = *:10809\n"
		   "nbd-insecure = yes\n",
		   "t.conf:8: [resource r1] nbd-listen: *:10809 is already used by resource r0 "
		   "(line 4)");
	/* NBD on the network: TLS or an explicit nbd-insecure */
	expect_one("[resource r0]\nbacking = /b0\nlog = /l0\nnbd-listen = 0.0.0.0:10809\n",
		   "t.conf:4: [resource r0] nbd-listen: 0.0.0.0 is not a loopback address: set "
		   "tls = require (or nbd-insecure = yes to serve plain NBD on the network)");
	expect_one("[global]\ntls-cert = /c\ntls-key = /k\ntls-ca = /a\n[resource r0]\n"
		   "backing = /b0\nlog = /l0\nnbd-listen = *:10809\ntls = allow\n",
		   "t.conf:8: [resource r0] nbd-listen: * is not a loopback address: set tls = "
		   "require (or nbd-insecure = yes to serve plain NBD on the network)");
	expect_one("[resource r0]\nbacking = /b0\nlog = /l0\ntls = require\n",
		   "t.conf:4: [resource r0] tls: tls = require needs [global] tls-cert, tls-key "
		   "and tls-ca");
	expect_one(
	    "[resource r0]\nbacking = /b0\nlog = /l0\ntls = maybe\n",
	    "t.conf:4: [resource r0] tls: invalid value 'maybe': expected one of off, allow, "
	    "require");
	expect_one("[global]\nevent-handler = notify.sh\n[resource r0]\nbacking = /b0\nlog = /l0\n",
		   "t.conf:2: [global] event-handler: 'notify.sh' is not an absolute path");
	expect_one(
	    "[global]\nevent-handler-kinds = mode, splitbrain\n[resource r0]\nbacking = "
	    "/b0\nlog = /l0\n",
	    "t.conf:2: [global] event-handler-kinds: unknown name 'splitbrain': expected a "
	    "list of mode, peers, quorum, resync, verify, engine, read, resize, split-brain, "
	    "or all");
	expect_one("[global]\nevent-handler-kinds = ,\n[resource r0]\nbacking = /b0\nlog = /l0\n",
		   "t.conf:2: [global] event-handler-kinds: an empty list (no event-handler: leave "
		   "it unset)");
	expect_one("[resource r0]\nbacking = /b0\nlog = /l0\nafter-sb-0pri = consensus\n",
		   "t.conf:4: [resource r0] after-sb-0pri: invalid value 'consensus': expected one "
		   "of disconnect, discard-zero-changes, discard-least-changes, "
		   "discard-younger-primary, discard-older-primary");
	expect_one("[resource r0]\nbacking = /b0\nlog = /l0\nring = rr\n"
		   "[resource r1]\nbacking = /b1\nlog = /l1\nring = rr\n",
		   "t.conf:8: [resource r1] ring: ring 'rr' is already used by resource r0 (line "
		   "4)");
	expect_one("[resource r0]\nbacking = /b0\nlog = /l0\nnbd-socket = /s\n"
		   "[resource r1]\nbacking = /b1\nlog = /l1\nnbd-socket = /s\n",
		   "t.conf:8: [resource r1] nbd-socket: '/s' is already used by resource r0 (line "
		   "4)");
	expect_one("[resource r0]\nbacking = /b0\nlog = /l0\n"
		   "[resource r1]\nbacking = /l0\nlog = /l1\n",
		   "t.conf:5: [resource r1] backing: '/l0' is already the log of resource r0");
	expect_one("[global]\nmetrics-listen = *:9000\ntransport = plain\n"
		   "[resource r0]\nbacking = /b0\nlog = /l0\nnbd-listen = 127.0.0.1:9000\n",
		   "t.conf:7: [resource r0] nbd-listen: port 9000 is also [global] metrics-listen");
	expect_one("[global]\ntransport = plain\n[resource r0]\nbacking = /b0\nlog = /l0\n"
		   "wb-min-peers = 2\n[node alpha]\naddress = a:1\n[node beta]\naddress = b:1\n",
		   "t.conf:6: [resource r0] wb-min-peers: 2 peers can never be reached with 2 "
		   "[node] sections (at most 1); the resource would never run in write-back");
	expect_one("[global]\ntransport = plain\n[node alpha]\naddress = a:1\nnode-id = 1\n"
		   "[node beta]\naddress = b:1\nnode-id = 1\n",
		   "t.conf:6: [node beta] node-id: node-id 1 is already used by node alpha");
	expect_one("[global]\nnode-name = zeta\n[node alpha]\naddress = a:1\n",
		   "t.conf:1: [global] node-name: this node 'zeta' has no [node zeta] section");
	expect_one("[resource r0]\nbacking = /b0\nlog = /l0\n[resource r9 on alpha]\nlog = /x\n"
		   "[node alpha]\naddress = a:1\n",
		   "t.conf:4: [resource r9 on alpha]: overrides resource 'r9', which has no "
		   "[resource r9] section");
	expect_one("[resource r0]\nbacking = /b0\nlog = /l0\n[resource r0 on zeta]\nlog = /x\n",
		   "t.conf:4: [resource r0 on zeta]: node 'zeta' has no [node zeta] section");
	/* an override for another node is validated too */
	expect_one("[resource r0]\nbacking = /b0\nlog = /l0\n[resource r0 on beta]\nlog = x\n"
		   "[node alpha]\naddress = a:1\n[node beta]\naddress = b:1\n[global]\n"
		   "transport = plain\n",
		   "t.conf:5: [resource r0 on beta] log: 'x' is not an absolute path");
}

/* Devices are compared by identity: `/d/./b.img`, `/d/b.img` and a symlink
 * to it are one device; a block device by st_rdev, whatever its path. */
static void test_same_device_identity(void **state)
{
	char d[] = "/tmp/wbconf-dev.XXXXXX", f[96], g[96], l[96], txt[1024], want[512];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(d));
	snprintf(f, sizeof(f), "%s/b.img", d);
	snprintf(g, sizeof(g), "%s/l.img", d);
	snprintf(l, sizeof(l), "%s/link", d);
	fd = open(f, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	fd = open(g, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symlink(f, l), 0);
	/* within one resource: log is the backing through "/./" */
	snprintf(txt, sizeof(txt), "[resource r0]\nbacking = %s\nlog = %s/./b.img\n", f, d);
	snprintf(want, sizeof(want),
		 "t.conf:3: [resource r0] log: log '%s/./b.img' and backing '%s' are the same "
		 "device",
		 d, f);
	expect_one(txt, want);
	/* across resources: a symlink to another resource's backing */
	snprintf(txt, sizeof(txt),
		 "[resource r0]\nbacking = %s\nlog = %s\n[resource r1]\nbacking = %s\nlog = "
		 "/nonexistent/l1\n",
		 f, g, l);
	snprintf(want, sizeof(want),
		 "t.conf:5: [resource r1] backing: '%s' is the same device as '%s', the backing "
		 "of resource r0",
		 l, f);
	expect_one(txt, want);
	/* two different files, and paths that do not exist: no error */
	snprintf(txt, sizeof(txt),
		 "[resource r0]\nbacking = %s\nlog = %s\n[resource r1]\nbacking = /nx/b1\nlog "
		 "= /nx/l1\n",
		 f, g);
	{
		struct wbconf *c = NULL;
		struct wbconf_errors e = {0};

		assert_int_equal(parse(txt, NULL, &c, &e), 0);
		wbconf_free(c);
		wbconf_errors_free(&e);
	}
	/* block devices: /dev/null is a char device, so use any block device
	 * node and a second node with the same rdev, if we may create one */
	if (geteuid() == 0) {
		struct stat st;
		char n[96];

		snprintf(n, sizeof(n), "%s/blk", d);
		if (mknod(n, S_IFBLK | 0600, makedev(7, 200)) == 0) {
			char n2[96];

			snprintf(n2, sizeof(n2), "%s/blk2", d);
			assert_int_equal(mknod(n2, S_IFBLK | 0600, makedev(7, 200)), 0);
			assert_int_equal(stat(n2, &st), 0);
			snprintf(txt, sizeof(txt), "[resource r0]\nbacking = %s\nlog = %s\n", n,
				 n2);
			snprintf(want, sizeof(want),
				 "t.conf:3: [resource r0] log: log '%s' and backing '%s' are the "
				 "same device",
				 n2, n);
			expect_one(txt, want);
			unlink(n2);
			unlink(n);
		}
	}
	unlink(l);
	unlink(f);
	unlink(g);
	rmdir(d);
}

static void test_tls_needs_certs(void **state)
{
	size_t n;
	char *got =
	    errors_of("[node alpha]\naddress = a:1\n[node beta]\naddress = b:1\n", "alpha", &n);

	assert_int_equal(n, 3);
	assert_non_null(strstr(got, "t.conf: [global] tls-cert: missing: transport tls"));
	assert_non_null(strstr(got, "[global] tls-key:"));
	assert_non_null(strstr(got, "[global] tls-ca:"));
}

/* NBD TLS keys: defaults, and what a network listener is allowed */
static void test_nbd_tls(void **state)
{
	static const char *ok[] = {
	    "[resource r0]\nbacking = /b\nlog = /l\nnbd-listen = 127.0.0.1:1\n",
	    "[resource r0]\nbacking = /b\nlog = /l\nnbd-listen = [::1]:1\n",
	    "[resource r0]\nbacking = /b\nlog = /l\nnbd-listen = localhost:1\n",
	    "[resource r0]\nbacking = /b\nlog = /l\nnbd-listen = *:1\nnbd-insecure = yes\n",
	    "[global]\ntls-cert = /c\ntls-key = /k\ntls-ca = /a\n[resource r0]\nbacking = /b\n"
	    "log = /l\nnbd-listen = *:1\ntls = require\n",
	};
	struct wbconf *c;

	assert_int_equal(parse(minimal, NULL, &c, NULL), 0);
	assert_int_equal(c->res[0].tls, WBCONF_TLS_OFF);
	assert_false(c->res[0].nbd_insecure);
	wbconf_free(c);
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct wbconf_errors e = {0};

		if (parse(ok[i], NULL, &c, &e)) {
			wbconf_errors_print(&e, stderr);
			fail_msg("config %zu refused", i);
		}
		assert_int_equal(c->res[0].tls, i == 4 ? WBCONF_TLS_REQUIRE : WBCONF_TLS_OFF);
		assert_int_equal(c->res[0].nbd_insecure, i == 3);
		wbconf_free(c);
	}
}

static void test_collects_all_errors_sorted(void **state)
{
	const char *text = "[global]\n"
			   "log-level = loud\n" /* 2 */
			   "bogus = 1\n"	/* 3 */
			   "[resource r0]\n"	/* 4: log missing */
			   "backing = /b\n"
			   "ram-buffer = 1X\n"	 /* 6 */
			   "destage-low = 95%\n" /* 7: >= high */
			   "[what]\n"		 /* 8 */
			   "x = y\n"		 /* skipped */
			   "[node n1]\n"	 /* 10: no address */
			   "garbage\n";		 /* 11 */
	unsigned want[] = {2, 3, 4, 6, 7, 8, 10, 11};
	struct wbconf_errors e = {0};
	struct wbconf *c;

	assert_int_equal(parse(text, "n1", &c, &e), -EINVAL);
	assert_int_equal(e.n, 8);
	for (size_t i = 0; i < e.n; i++)
		assert_int_equal(e.v[i].line, want[i]);
	wbconf_errors_free(&e);
	assert_int_equal(e.n, 0);
}

static void test_too_many_errors(void **state)
{
	size_t len = 0, cap = 64 * 1024;
	char *text = malloc(cap);
	struct wbconf_errors e = {0};
	struct wbconf *c;

	len += (size_t)sprintf(text, "[global]\n");
	for (int i = 0; i < 300; i++)
		len += (size_t)sprintf(text + len, "k%d = 1\n", i);
	assert_int_equal(wbconf_parse_buf(text, len, "t.conf", "n", &c, &e), -EINVAL);
	assert_int_equal(e.n, WBCONF_MAX_ERRORS);
	assert_int_equal(e.dropped, 300 - WBCONF_MAX_ERRORS);
	wbconf_errors_free(&e);
	free(text);
}

static void test_malformed_bytes(void **state)
{
	static const char nul[] = "[global]\npid-file = /a\0b\n";
	struct wbconf_errors e = {0};
	struct wbconf *c;
	char *big;
	char buf[256];

	assert_int_equal(wbconf_parse_buf(nul, sizeof(nul) - 1, "t.conf", "n", &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	wbconf_error_format(&e.v[0], buf, sizeof(buf));
	assert_string_equal(buf, "t.conf:2: [global]: invalid control character");
	wbconf_errors_free(&e);

	big = malloc(10000);
	memset(big, 'a', 9999);
	memcpy(big, "[global]\n", 9);
	big[9999] = 0;
	assert_int_equal(wbconf_parse_buf(big, 9999, "t.conf", "n", &c, &e), -EINVAL);
	assert_int_equal(e.n, 1);
	wbconf_error_format(&e.v[0], buf, sizeof(buf));
	assert_string_equal(buf, "t.conf:2: [global]: line too long (9990 bytes, at most 4096)");
	wbconf_errors_free(&e);
	free(big);

	/* CRLF and no trailing newline are fine */
	assert_int_equal(parse("[global]\r\nlog-level = warn", "n", &c, NULL), 0);
	assert_int_equal(c->global.log_level, WBCONF_LOG_WARN);
	wbconf_free(c);
	/* errs == NULL is allowed on failure too */
	assert_int_equal(parse("[x]", "n", &c, NULL), -EINVAL);
	assert_int_equal(parse("", "bad/name", &c, NULL), -EINVAL);
}

static void test_value_parsers(void **state)
{
	struct wbconf_addr a = {0};
	uint64_t v;

	assert_int_equal(wbconf_parse_size("512", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(wbconf_parse_size("4K", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(wbconf_parse_size("4k", &v), 0);
	assert_int_equal(wbconf_parse_size("64MiB", &v), 0);
	assert_int_equal(v, 64ull << 20);
	assert_int_equal(wbconf_parse_size("2TB", &v), 0);
	assert_int_equal(v, 2ull << 40);
	assert_int_equal(wbconf_parse_size("100B", &v), 0);
	assert_int_equal(v, 100);
	assert_int_equal(wbconf_parse_size("", &v), -EINVAL);
	assert_int_equal(wbconf_parse_size("K", &v), -EINVAL);
	assert_int_equal(wbconf_parse_size("-1", &v), -EINVAL);
	assert_int_equal(wbconf_parse_size("1.5G", &v), -EINVAL);
	assert_int_equal(wbconf_parse_size("4 K", &v), -EINVAL);
	assert_int_equal(wbconf_parse_size("16777216T", &v), -ERANGE);
	assert_int_equal(wbconf_parse_size("18446744073709551616", &v), -ERANGE);

	assert_int_equal(wbconf_parse_duration_ms("500ms", 0, &v), 0);
	assert_int_equal(v, 500);
	assert_int_equal(wbconf_parse_duration_ms("5s", 0, &v), 0);
	assert_int_equal(v, 5000);
	assert_int_equal(wbconf_parse_duration_ms("2m", 0, &v), 0);
	assert_int_equal(v, 120000);
	assert_int_equal(wbconf_parse_duration_ms("1h", 0, &v), 0);
	assert_int_equal(v, 3600000);
	assert_int_equal(wbconf_parse_duration_ms("0", 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(wbconf_parse_duration_ms("7", 0, &v), -EINVAL);
	assert_int_equal(wbconf_parse_duration_ms("7", 1, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(wbconf_parse_duration_ms("5d", 0, &v), -EINVAL);

	assert_int_equal(wbconf_parse_addr("127.0.0.1:80", &a), 0);
	assert_string_equal(a.host, "127.0.0.1");
	assert_int_equal(a.port, 80);
	free(a.host);
	assert_int_equal(wbconf_parse_addr("[fe80::1%eth0]:7788", &a), 0);
	assert_string_equal(a.host, "fe80::1%eth0");
	free(a.host);
	assert_int_equal(wbconf_parse_addr("::1:80", &a), -EINVAL);
	assert_int_equal(wbconf_parse_addr(":80", &a), -EINVAL);
	assert_int_equal(wbconf_parse_addr("h:", &a), -EINVAL);
	assert_int_equal(wbconf_parse_addr("h:80x", &a), -EINVAL);
	assert_int_equal(wbconf_parse_addr("[::1]80", &a), -EINVAL);
	assert_int_equal(wbconf_parse_addr("h o:80", &a), -EINVAL);
	assert_int_equal(wbconf_parse_addr("h:65536", &a), -ERANGE);
}

static void test_reload_check(void **state)
{
	struct wbconf *a, *b;
	char err[256];

	assert_int_equal(parse(minimal, "n", &a, NULL), 0);
	assert_int_equal(parse("[resource r0]\nbacking = /dev/b0\nlog = /dev/l0\n"
			       "destage-low = 20%\nwb-min-peers = 0\nauto-up = no\n",
			       "n", &b, NULL),
			 0);
	assert_int_equal(
	    wbconf_resource_reload_check(NULL, NULL, &a->res[0], &b->res[0], err, sizeof(err)), 0);
	wbconf_free(b);
	assert_int_equal(parse("[resource r0]\nbacking = /dev/b0\nlog = /dev/l0\n"
			       "nbd-listen = 127.0.0.1:1\n",
			       "n", &b, NULL),
			 0);
	assert_int_equal(
	    wbconf_resource_reload_check(NULL, NULL, &a->res[0], &b->res[0], err, sizeof(err)),
	    -EBUSY);
	assert_non_null(strstr(err, "'nbd-listen' changed"));
	wbconf_free(b);
	assert_int_equal(
	    parse("[resource r0]\nbacking = /dev/other\nlog = /dev/l0\n", "n", &b, NULL), 0);
	assert_int_equal(
	    wbconf_resource_reload_check(NULL, NULL, &a->res[0], &b->res[0], err, sizeof(err)),
	    -EBUSY);
	assert_non_null(strstr(err, "'backing' changed"));
	wbconf_free(b);
	wbconf_free(a);
}

/* [global] reload checks come from the key table like [resource] ones:
 * log-level is reloadable, metrics-listen and max-clients are not */
static void test_reload_check_global(void **state)
{
	struct wbconf *a, *b;
	char err[256];

	assert_int_equal(
	    parse("[global]\nlog-level = info\n[resource r0]\nbacking = /dev/b0\nlog = /dev/l0\n",
		  "n", &a, NULL),
	    0);
	assert_int_equal(
	    parse("[global]\nlog-level = debug\n[resource r0]\nbacking = /dev/b0\nlog = /dev/l0\n",
		  "n", &b, NULL),
	    0);
	err[0] = 0;
	assert_int_equal(wbconf_global_reload_check(&a->global, &b->global, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	wbconf_free(b);
	assert_int_equal(parse("[global]\nmetrics-listen = 127.0.0.1:9\n"
			       "[resource r0]\nbacking = /dev/b0\nlog = /dev/l0\n",
			       "n", &b, NULL),
			 0);
	assert_int_equal(wbconf_global_reload_check(&a->global, &b->global, err, sizeof(err)),
			 -EBUSY);
	assert_string_equal(err, "[global] metrics-listen changed; it only takes effect after a "
				 "restart of wbrepd");
	wbconf_free(b);
	assert_int_equal(
	    parse("[global]\nmax-clients = 7\n[resource r0]\nbacking = /dev/b0\nlog = /dev/l0\n",
		  "n", &b, NULL),
	    0);
	assert_int_equal(wbconf_global_reload_check(&a->global, &b->global, err, sizeof(err)),
			 -EBUSY);
	assert_non_null(strstr(err, "[global] max-clients changed"));
	/* the same file again: nothing changed */
	assert_int_equal(wbconf_global_reload_check(&b->global, &b->global, err, sizeof(err)), 0);
	wbconf_free(b);
	wbconf_free(a);
}

/* [node] sections are links and bitmap slots: a reload may add nodes
 * anywhere in the list (wbd.c makes them peers), remove nodes other than
 * this one, reorder them (slots go by name) and give a node another
 * address (wbd.c moves its links); one that removes this node or changes
 * a node-id is refused (before 2026-12-04 any of it was applied to the
 * file in force and changed no link). A resource's "nodes" may gain added
 * nodes only. */
static void test_reload_check_nodes(void **state)
{
	static const char *const files[] = {
	    /* 0: as running */
	    "[node a]\naddress = 10.0.0.1:7788\n[node b]\naddress = 10.0.0.2:7788\n",
	    /* 1: added */
	    "[node a]\naddress = 10.0.0.1:7788\n[node b]\naddress = 10.0.0.2:7788\n"
	    "[node c]\naddress = 10.0.0.3:7788\n",
	    /* 2: removed */
	    "[node a]\naddress = 10.0.0.1:7788\n",
	    /* 3: reordered */
	    "[node b]\naddress = 10.0.0.2:7788\n[node a]\naddress = 10.0.0.1:7788\n",
	    /* 4: an address */
	    "[node a]\naddress = 10.0.0.1:7788\n[node b]\naddress = 10.0.0.9:7788\n",
	    /* 5: a node-id */
	    "[node a]\naddress = 10.0.0.1:7788\n[node b]\naddress = 10.0.0.2:7788\nnode-id = 7\n",
	    /* 6: one removed, one added after the others */
	    "[node a]\naddress = 10.0.0.1:7788\n[node c]\naddress = 10.0.0.3:7788\n",
	    /* 7: one inserted before another */
	    "[node a]\naddress = 10.0.0.1:7788\n[node c]\naddress = 10.0.0.3:7788\n"
	    "[node b]\naddress = 10.0.0.2:7788\n",
	    /* 8: every node removed, this one too (single node: a restart;
	     * a file with nodes but not this one does not parse) */
	    "",
	};
	static const char *const why[] = {NULL, NULL, NULL,
					  NULL, NULL, "[node b] node-id changed",
					  NULL, NULL, "[node a] (this node) was removed"};
	struct wbconf *c[9];
	char buf[512], err[256];

	(void)state;
	for (int i = 0; i < 9; i++) {
		snprintf(buf, sizeof(buf),
			 "[global]\nnode-name = a\ntransport = plain\n%s"
			 "[resource r0]\nbacking = /dev/b0\nlog = /dev/l0\n",
			 files[i]);
		if (parse(buf, "a", &c[i], NULL)) {
			size_t n;

			fail_msg("case %d does not parse: %s", i, errors_of(buf, "a", &n));
		}
	}
	for (int i = 0; i < 9; i++) {
		err[0] = 0;
		if (!why[i]) {
			assert_int_equal(wbconf_nodes_reload_check(c[0], c[i], err, sizeof(err)),
					 0);
			continue;
		}
		assert_int_equal(wbconf_nodes_reload_check(c[0], c[i], err, sizeof(err)), -EBUSY);
		if (!strstr(err, why[i]))
			fail_msg("case %d: '%s' does not say '%s'", i, err, why[i]);
	}
	for (int i = 0; i < 9; i++)
		wbconf_free(c[i]);
	/* "nodes": c added, and r0 on it too: fine; b left out: refused; b
	 * removed from the file, and from "nodes": fine */
	{
		static const char *const nodes[] = {"a, b", "a, b, c", "a, c", "a"};
		struct wbconf *n[4];

		for (int i = 0; i < 4; i++) {
			snprintf(buf, sizeof(buf),
				 "[global]\nnode-name = a\ntransport = plain\n%s"
				 "[resource r0]\nnodes = %s\nbacking = /dev/b0\nlog = /dev/l0\n",
				 files[i == 3 ? 2
				       : i    ? 1
					      : 0],
				 nodes[i]);
			assert_int_equal(parse(buf, "a", &n[i], NULL), 0);
		}
		assert_int_equal(wbconf_nodes_reload_check(n[0], n[1], err, sizeof(err)), 0);
		assert_true(wbconf_node_added(n[0], "c"));
		assert_false(wbconf_node_added(n[0], "b"));
		assert_int_equal(wbconf_resource_reload_check(n[0], n[1], &n[0]->res[0],
							      &n[1]->res[0], err, sizeof(err)),
				 0);
		assert_int_equal(wbconf_resource_reload_check(n[0], n[2], &n[0]->res[0],
							      &n[2]->res[0], err, sizeof(err)),
				 -EBUSY);
		assert_non_null(strstr(err, "'nodes' changed for node b"));
		assert_int_equal(wbconf_nodes_reload_check(n[0], n[3], err, sizeof(err)), 0);
		assert_int_equal(wbconf_resource_reload_check(n[0], n[3], &n[0]->res[0],
							      &n[3]->res[0], err, sizeof(err)),
				 0);
		for (int i = 0; i < 4; i++)
			wbconf_free(n[i]);
	}
}

static void test_cache_mode(void **state)
{
	struct wbconf *a, *b;
	char err[256];

	assert_int_equal(parse(minimal, "n", &a, NULL), 0);
	assert_int_equal(a->res[0].cache_mode, WBCONF_CACHE_WRITEBACK);
	assert_int_equal(parse("[resource r0]\nbacking = /dev/b0\nlog = /dev/l0\n"
			       "cache-mode = writethrough\n",
			       "n", &b, NULL),
			 0);
	assert_int_equal(b->res[0].cache_mode, WBCONF_CACHE_WRITETHROUGH);
	/* reloadable: a reload may change it */
	assert_int_equal(
	    wbconf_resource_reload_check(NULL, NULL, &a->res[0], &b->res[0], err, sizeof(err)), 0);
	wbconf_free(b);
	wbconf_free(a);
	/* passthrough caches nothing: its mode is write-through, and saying so is fine */
	assert_int_equal(
	    parse("[resource r0]\nengine = passthrough\nbacking = /b\n", "n", &a, NULL), 0);
	assert_int_equal(a->res[0].cache_mode, WBCONF_CACHE_WRITETHROUGH);
	wbconf_free(a);
	assert_int_equal(parse("[resource r0]\nengine = passthrough\nbacking = /b\n"
			       "cache-mode = writethrough\n",
			       "n", &a, NULL),
			 0);
	wbconf_free(a);
	expect_one("[resource r0]\nbacking = /b\nlog = /l\ncache-mode = fast\n",
		   "t.conf:4: [resource r0] cache-mode: invalid value 'fast': expected one of "
		   "writeback, writethrough");
}

/* An engine plugin is known when plugin-dir holds NAME.so. */
static void test_engine_plugin_file(void **state)
{
	char dir[] = "/tmp/test_conf_plug_XXXXXX", so[128], text[512];
	struct wbconf *c;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(text, sizeof(text),
		 "[global]\nplugin-dir = %s\n[resource r0]\nengine = myeng\nbacking = /b\n", dir);
	assert_int_equal(parse(text, "n", &c, NULL), -EINVAL);
	snprintf(so, sizeof(so), "%s/myeng.so", dir);
	f = fopen(so, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(parse(text, "n", &c, NULL), 0);
	assert_string_equal(c->res[0].engine, "myeng");
	wbconf_free(c);
	unlink(so);
	rmdir(dir);
}

/* Device paths: checked on the node itself, each missing one named. */
static void test_check_devices(void **state)
{
	char dir[] = "/tmp/test_conf_dev_XXXXXX", text[1024], b0[128], host[256] = "";
	struct wbconf_errors e = {0};
	struct wbconf *c;
	char line[512];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(b0, sizeof(b0), "%s/b0", dir);
	f = fopen(b0, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(text, sizeof(text),
		 "[resource r0]\nbacking = %s\nlog = %s/nolog\n"
		 "[resource r1]\nengine = passthrough\nbacking = %s\n",
		 b0, dir, dir);
	assert_int_equal(parse(text, NULL, &c, NULL), 0);
	/* no node-name: the host name is used, so this is the node */
	assert_true(wbconf_on_this_host(c));
	assert_int_equal(wbconf_check_devices(c, &e), -EINVAL);
	assert_int_equal(e.n, 2);
	wbconf_error_format(&e.v[0], line, sizeof(line));
	assert_non_null(strstr(line, "t.conf:1: [resource r0] log: '"));
	assert_non_null(strstr(line, "/nolog': No such file or directory (on node "));
	wbconf_error_format(&e.v[1], line, sizeof(line));
	assert_non_null(strstr(line, "t.conf:4: [resource r1] backing: '"));
	assert_non_null(strstr(line, "' is neither a block device nor a regular file"));
	wbconf_errors_free(&e);
	wbconf_free(c);
	/* another node's configuration is not this host's */
	gethostname(host, sizeof(host) - 1);
	assert_int_equal(
	    parse(text, strcmp(host, "othernode") ? "othernode" : "othernode2", &c, NULL), 0);
	assert_false(wbconf_on_this_host(c));
	wbconf_free(c);
	unlink(b0);
	rmdir(dir);
}

/* conf/wbrep.conf.example (installed by make install) is a valid file. */
static void test_example_config(void **state)
{
	const char *paths[] = {"conf/wbrep.conf.example", "../conf/wbrep.conf.example",
			       "../../conf/wbrep.conf.example", "../../../conf/wbrep.conf.example"};
	struct wbconf_errors e = {0};
	struct wbconf *c = NULL;
	size_t i;

	for (i = 0; i < 4 && access(paths[i], R_OK); i++)
		;
	if (i == 4) {
		print_message("conf/wbrep.conf.example not found from here\n");
		skip();
	}
	if (wbconf_load(paths[i], "alpha", &c, &e)) {
		wbconf_errors_print(&e, stderr);
		fail_msg("%s has errors", paths[i]);
	}
	assert_int_equal(c->nres, 1);
	assert_string_equal(c->res[0].engine, "wblog");
	assert_int_equal(c->res[0].cache_mode, WBCONF_CACHE_WRITEBACK);
	wbconf_free(c);
	wbconf_errors_free(&e);
}

static void test_load_file(void **state)
{
	char path[] = "/tmp/test_conf_XXXXXX";
	struct wbconf_errors e = {0};
	struct wbconf *c;
	char buf[512];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, minimal, strlen(minimal)), (ssize_t)strlen(minimal));
	close(fd);
	assert_int_equal(wbconf_load(path, "n", &c, &e), 0);
	assert_string_equal(c->path, path);
	assert_string_equal(c->res[0].backing, "/dev/b0");
	wbconf_free(c);
	unlink(path);
	assert_int_equal(wbconf_load(path, "n", &c, &e), -ENOENT);
	assert_null(c);
	assert_int_equal(e.n, 1);
	wbconf_error_format(&e.v[0], buf, sizeof(buf));
	assert_non_null(strstr(buf, ": cannot open: No such file or directory"));
	wbconf_errors_free(&e);
	assert_int_equal(wbconf_load("/tmp", "n", &c, &e), -EISDIR);
	wbconf_errors_free(&e);
}

/* ---- docs/configuration.md agrees with the key table -------------------- */

static const char *type_word(int t)
{
	static const char *const w[] = {
	    [T_STR] = "string", [T_PATH] = "path",    [T_NAME] = "name",   [T_SIZE] = "size",
	    [T_RATE] = "rate",	[T_DUR] = "duration", [T_PCT] = "percent", [T_BOOL] = "bool",
	    [T_ENUM] = "enum",	[T_ADDR] = "addr",    [T_INT] = "int",	   [T_CPUS] = "cpus",
	    [T_FLAGS] = "list"};
	return w[t];
}

/* Split "| a | b | c |" into trimmed cells (in place). */
static int split_row(char *line, char **cell, int max)
{
	int n = 0;
	char *p = line + 1, *bar;

	while (n < max && (bar = strstr(p, " |")) != NULL) {
		*bar = 0;
		while (*p == ' ')
			p++;
		cell[n++] = p;
		p = bar + 2;
	}
	return n;
}

/* "nodes": the resource lives on those nodes only; elsewhere it is not
 * in res (its paths and ports do not clash with this node's resources) */
static void test_res_nodes(void **state)
{
	static const char *const nodes3 =
	    "[global]\ntransport = plain\n[node a]\naddress = 127.0.0.1:7001\n"
	    "[node b]\naddress = 127.0.0.1:7002\n[node c]\naddress = 127.0.0.1:7003\n";
	char text[2048];
	struct wbconf *c = NULL;
	size_t n;

	(void)state;
	snprintf(text, sizeof(text),
		 "%s[resource r0]\nnodes = a, b\nbacking = /b0\nlog = /l0\n"
		 "[resource r1]\nnodes = b c\nbacking = /b0\nlog = /l0\n"
		 "[resource r2]\nbacking = /b2\nlog = /l2\n",
		 nodes3);
	/* on b: all three (r0 and r1 share paths: refused) */
	assert_non_null(strstr(errors_of(text, "b", &n), "'/b0' is already the backing of "
							 "resource r0"));
	/* on a: r0 and r2, r1 lives elsewhere */
	assert_int_equal(parse(text, "a", &c, NULL), 0);
	assert_int_equal(c->nres, 2);
	assert_string_equal(c->res[0].name, "r0");
	assert_string_equal(c->res[1].name, "r2");
	assert_int_equal(c->nres_elsewhere, 1);
	assert_int_equal(c->res[0].nnodes, 2);
	assert_true(wbconf_res_on_node(&c->res[0], "b"));
	assert_false(wbconf_res_on_node(&c->res[0], "c"));
	assert_true(wbconf_res_on_node(&c->res[1], "c")); /* unset: every node */
	wbconf_free(c);
	/* on c: r1 and r2 */
	assert_int_equal(parse(text, "c", &c, NULL), 0);
	assert_int_equal(c->nres, 2);
	assert_string_equal(c->res[0].name, "r1");
	wbconf_free(c);
	snprintf(text, sizeof(text), "%s[resource r0]\nbacking = /b\nlog = /l\nnodes = a, d\n",
		 nodes3);
	assert_string_equal(errors_of(text, "a", &n),
			    "t.conf:12: [resource r0] nodes: 'd' has no [node d] section\n");
	snprintf(text, sizeof(text), "%s[resource r0]\nbacking = /b\nlog = /l\nnodes = a,b,a\n",
		 nodes3);
	assert_string_equal(errors_of(text, "a", &n),
			    "t.conf:12: [resource r0] nodes: 'a' is listed twice\n");
	snprintf(text, sizeof(text), "%s[resource r0]\nbacking = /b\nlog = /l\nnodes = ,\n",
		 nodes3);
	assert_string_equal(
	    errors_of(text, "a", &n),
	    "t.conf:12: [resource r0] nodes: empty: name the [node] sections it lives on\n");
	snprintf(text, sizeof(text),
		 "%s[resource r0]\nbacking = /b\nlog = /l\nnodes = a, b\nwb-min-peers = 2\n",
		 nodes3);
	assert_string_equal(
	    errors_of(text, "a", &n),
	    "t.conf:13: [resource r0] wb-min-peers: 2 peers can never be reached "
	    "with 2 nodes in its nodes (at most 1); the resource would never run in "
	    "write-back\n");
	expect_one("[resource r0]\nbacking = /b\nlog = /l\nnodes = a\n",
		   "t.conf:4: [resource r0] nodes: no [node] sections: a resource of one node "
		   "needs no nodes");
}

static void test_doc_lists_every_key(void **state)
{
	const char *paths[] = {"docs/configuration.md", "../docs/configuration.md",
			       "../../docs/configuration.md"};
	unsigned seen[WBCONF_MAX_KEYS] = {0};
	char line[2048], want[160];
	int sect = 0, rows = 0;
	FILE *f = NULL;

	for (size_t i = 0; !f && i < sizeof(paths) / sizeof(paths[0]); i++)
		f = fopen(paths[i], "r");
	if (!f) {
		print_message("docs/configuration.md not found from %s\n", getcwd(line, 512));
		skip();
	}
	while (fgets(line, sizeof(line), f)) {
		const struct wbconf_key *k;
		char *cell[8], name[64];
		int n;

		if (!strncmp(line, "## `[global]`", 13))
			sect = S_GLOBAL;
		else if (!strncmp(line, "## `[resource NAME]`", 20))
			sect = S_RES;
		else if (!strncmp(line, "## `[node NAME]`", 16))
			sect = S_NODE;
		else if (!strncmp(line, "## ", 3))
			sect = 0;
		if (!sect || strncmp(line, "| `", 3))
			continue;
		n = split_row(line, cell, 8);
		assert_int_equal(n, 6);
		assert_true(strlen(cell[0]) > 2 && strlen(cell[0]) < sizeof(name) + 2);
		snprintf(name, sizeof(name), "%.*s", (int)strlen(cell[0]) - 2, cell[0] + 1);
		k = wbconf_key_find(sect, name);
		if (!k)
			fail_msg(
			    "docs/configuration.md documents '%s' (section kind %d), which is not "
			    "in conf/wbconf_keys.c",
			    name, sect);
		seen[k - wbconf_keys]++;
		rows++;
		/* type, 4K alignment, reload flag, default, enum values */
		if (strncmp(cell[1], type_word(k->type), strlen(type_word(k->type))))
			fail_msg("%s: doc type '%s', table type '%s'", name, cell[1],
				 type_word(k->type));
		if (!!(k->flags & F_ALIGN4K) != !!strstr(cell[1], "(4K)"))
			fail_msg("%s: doc type '%s' and the table disagree on 4K alignment", name,
				 cell[1]);
		if (strcmp(cell[4], k->flags & F_RELOAD ? "yes" : "no"))
			fail_msg("%s: doc says reload '%s', the table %s", name, cell[4],
				 k->flags & F_RELOAD ? "yes" : "no");
		if (k->flags & F_REQUIRED) {
			if (strcmp(cell[3], "required"))
				fail_msg("%s: required, the doc says default '%s'", name, cell[3]);
		} else if (k->def) {
			snprintf(want, sizeof(want), "`%s`", k->def);
			if (!strstr(cell[3], want))
				fail_msg("%s: doc default '%s', table default '%s'", name, cell[3],
					 k->def);
		}
		for (const struct wbconf_enum *e = k->ev; e && e->name; e++) {
			snprintf(want, sizeof(want), "`%s`", e->name);
			if (!strstr(cell[2], want))
				fail_msg("%s: doc does not list the value '%s'", name, e->name);
		}
		assert_true(strlen(cell[5]) > 10); /* a meaning */
	}
	fclose(f);
	for (size_t i = 0; i < wbconf_nkeys; i++)
		if (seen[i] != 1)
			fail_msg("key '%s' appears %u times in docs/configuration.md (want 1)",
				 wbconf_keys[i].name, seen[i]);
	assert_int_equal((size_t)rows, wbconf_nkeys);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_file_defaults),
	    cmocka_unit_test(test_after_sb_0pri_values),
	    cmocka_unit_test(test_resource_defaults),
	    cmocka_unit_test(test_full_config),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_key_errors),
	    cmocka_unit_test(test_missing_and_cross),
	    cmocka_unit_test(test_tls_needs_certs),
	    cmocka_unit_test(test_nbd_tls),
	    cmocka_unit_test(test_collects_all_errors_sorted),
	    cmocka_unit_test(test_too_many_errors),
	    cmocka_unit_test(test_malformed_bytes),
	    cmocka_unit_test(test_value_parsers),
	    cmocka_unit_test(test_reload_check),
	    cmocka_unit_test(test_reload_check_global),
	    cmocka_unit_test(test_reload_check_nodes),
	    cmocka_unit_test(test_same_device_identity),
	    cmocka_unit_test(test_cache_mode),
	    cmocka_unit_test(test_engine_plugin_file),
	    cmocka_unit_test(test_check_devices),
	    cmocka_unit_test(test_example_config),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_res_nodes),
	    cmocka_unit_test(test_doc_lists_every_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
