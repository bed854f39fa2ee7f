// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbconf_keys.c - the typed key table of the wbrep configuration file.
 *
 * Every key of every section kind is one row of wbconf_keys[]: its type,
 * range, default (written as text and parsed like a user value) and flags
 * (required, reloadable at run time, 4K aligned). wbconf_key_set() turns a
 * value into the field of the section struct and explains bad values. Also
 * owns the error list and its formatting, and the public value parsers
 * (sizes, durations, host:port) and the size formatter. Every key is documented in
 * docs/configuration.md; test_conf checks the two agree.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/wbconf_int.h"

static const struct wbconf_enum ev_level[] = {{"err", WBCONF_LOG_ERR},
					      {"warn", WBCONF_LOG_WARN},
					      {"info", WBCONF_LOG_INFO},
					      {"debug", WBCONF_LOG_DEBUG},
					      {NULL, 0}};
static const struct wbconf_enum ev_target[] = {
    {"stderr", WBCONF_LOG_STDERR}, {"syslog", WBCONF_LOG_SYSLOG}, {NULL, 0}};
static const struct wbconf_enum ev_transport[] = {
    {"tls", WBCONF_TRANSPORT_TLS}, {"plain", WBCONF_TRANSPORT_PLAIN}, {NULL, 0}};
static const struct wbconf_enum ev_cluster[] = {
    {"none", WBCONF_CLUSTER_NONE}, {"corosync", WBCONF_CLUSTER_COROSYNC}, {NULL, 0}};
static const struct wbconf_enum ev_protocol[] = {{"A", 'A'}, {"B", 'B'}, {"C", 'C'}, {NULL, 0}};
static const struct wbconf_enum ev_ack[] = {
    {"log", WBCONF_ACK_LOG}, {"memory", WBCONF_ACK_MEMORY}, {NULL, 0}};
static const struct wbconf_enum ev_noq[] = {
    {"suspend-io", WBCONF_NOQ_SUSPEND_IO}, {"io-error", WBCONF_NOQ_IO_ERROR}, {NULL, 0}};
static const struct wbconf_enum ev_asb[] = {{"disconnect", WBCONF_ASB_DISCONNECT},
					    {"consensus", WBCONF_ASB_CONSENSUS},
					    {"discard-secondary", WBCONF_ASB_DISCARD_SECONDARY},
					    {NULL, 0}};
static const struct wbconf_enum ev_asb0[] = {
    {"disconnect", WBCONF_ASB0_DISCONNECT},
    {"discard-zero-changes", WBCONF_ASB0_DISCARD_ZERO_CHANGES},
    {"discard-least-changes", WBCONF_ASB0_DISCARD_LEAST_CHANGES},
    {"discard-younger-primary", WBCONF_ASB0_DISCARD_YOUNGER_PRIMARY},
    {"discard-older-primary", WBCONF_ASB0_DISCARD_OLDER_PRIMARY},
    {NULL, 0}};
static const struct wbconf_enum ev_evk[] = {{"mode", WBCONF_EVK_MODE},
					    {"peers", WBCONF_EVK_PEERS},
					    {"quorum", WBCONF_EVK_QUORUM},
					    {"resync", WBCONF_EVK_RESYNC},
					    {"verify", WBCONF_EVK_VERIFY},
					    {"engine", WBCONF_EVK_ENGINE},
					    {"read", WBCONF_EVK_READ},
					    {"resize", WBCONF_EVK_RESIZE},
					    {"split-brain", WBCONF_EVK_SPLIT_BRAIN},
					    {NULL, 0}};

uint32_t wbconf_event_kind(const char *name)
{
	for (const struct wbconf_enum *e = ev_evk; name && e->name; e++)
		if (!strcmp(e->name, name))
			return (uint32_t)e->val;
	return 0;
}

static const struct wbconf_enum ev_tls[] = {{"off", WBCONF_TLS_OFF},
					    {"allow", WBCONF_TLS_ALLOW},
					    {"require", WBCONF_TLS_REQUIRE},
					    {NULL, 0}};
static const struct wbconf_enum ev_cache[] = {
    {"writeback", WBCONF_CACHE_WRITEBACK}, {"writethrough", WBCONF_CACHE_WRITETHROUGH}, {NULL, 0}};
static const struct wbconf_enum ev_role[] = {
    {"primary", WBCONF_ROLE_PRIMARY}, {"secondary", WBCONF_ROLE_SECONDARY}, {NULL, 0}};

const struct wbconf_key wbconf_keys[] = {
    /* [global] */
    {.name = "control-socket",
     .sect = S_GLOBAL,
     .type = T_PATH,
     .off = offsetof(struct wbconf_global, control_socket),
     .def = WBCONF_DEFAULT_CTL_SOCKET},
    {.name = "pid-file",
     .sect = S_GLOBAL,
     .type = T_PATH,
     .off = offsetof(struct wbconf_global, pid_file),
     .def = WBCONF_DEFAULT_PID_FILE},
    {.name = "log-level",
     .sect = S_GLOBAL,
     .type = T_ENUM,
     .flags = F_RELOAD,
     .width = sizeof(int),
     .off = offsetof(struct wbconf_global, log_level),
     .ev = ev_level,
     .def = "info"},
    {.name = "log-target",
     .sect = S_GLOBAL,
     .type = T_ENUM,
     .width = sizeof(int),
     .off = offsetof(struct wbconf_global, log_target),
     .ev = ev_target,
     .def = "stderr"},
    {.name = "metrics-listen",
     .sect = S_GLOBAL,
     .type = T_ADDR,
     .off = offsetof(struct wbconf_global, metrics_listen)},
    {.name = "plugin-dir",
     .sect = S_GLOBAL,
     .type = T_PATH,
     .off = offsetof(struct wbconf_global, plugin_dir),
     .def = WBCONF_DEFAULT_PLUGIN_DIR},
    {.name = "node-name",
     .sect = S_GLOBAL,
     .type = T_NAME,
     .off = offsetof(struct wbconf_global, node_name)},
    {.name = "tls-cert",
     .sect = S_GLOBAL,
     .type = T_PATH,
     .flags = F_RELOAD, /* re-read at every reload (wbd.c, reload_tls_load) */
     .off = offsetof(struct wbconf_global, tls_cert)},
    {.name = "tls-key",
     .sect = S_GLOBAL,
     .type = T_PATH,
     .flags = F_RELOAD, /* re-read at every reload (wbd.c, reload_tls_load) */
     .off = offsetof(struct wbconf_global, tls_key)},
    {.name = "tls-ca",
     .sect = S_GLOBAL,
     .type = T_PATH,
     .flags = F_RELOAD, /* re-read at every reload (wbd.c, reload_tls_load) */
     .off = offsetof(struct wbconf_global, tls_ca)},
    {.name = "max-clients",
     .sect = S_GLOBAL,
     .type = T_INT,
     .width = 4,
     .off = offsetof(struct wbconf_global, max_clients),
     .min = 1,
     .max = 65536,
     .def = "256"},
    {.name = "io-threads",
     .sect = S_GLOBAL,
     .type = T_INT,
     .width = 4,
     .off = offsetof(struct wbconf_global, io_threads),
     .min = 0,
     .max = 64,
     .def = "0"},
    {.name = "cpu-affinity",
     .sect = S_GLOBAL,
     .type = T_CPUS,
     .width = 8,
     .off = offsetof(struct wbconf_global, cpu_affinity),
     .max = UINT64_MAX,
     .expect = "0-1,3"},
    {.name = "transport",
     .sect = S_GLOBAL,
     .type = T_ENUM,
     .width = sizeof(int),
     .off = offsetof(struct wbconf_global, transport),
     .ev = ev_transport,
     .def = "tls"},
    {.name = "cluster",
     .sect = S_GLOBAL,
     .type = T_ENUM,
     .width = sizeof(int),
     .off = offsetof(struct wbconf_global, cluster),
     .ev = ev_cluster,
     .def = "none"},
    {.name = "event-handler",
     .sect = S_GLOBAL,
     .type = T_PATH,
     .flags = F_RELOAD,
     .off = offsetof(struct wbconf_global, event_handler)},
    {.name = "event-handler-kinds",
     .sect = S_GLOBAL,
     .type = T_FLAGS,
     .flags = F_RELOAD,
     .width = 4,
     .off = offsetof(struct wbconf_global, event_kinds),
     .max = UINT32_MAX,
     .ev = ev_evk,
     .def = "split-brain,engine"},
    {.name = "event-handler-timeout",
     .sect = S_GLOBAL,
     .type = T_DUR,
     .flags = F_RELOAD,
     .width = 4,
     .off = offsetof(struct wbconf_global, event_handler_timeout_ms),
     .min = 1000,
     .max = 3600000,
     .def = "60s"},
    /* [resource NAME] */
    {.name = "engine",
     .sect = S_RES,
     .type = T_NAME,
     .off = offsetof(struct wbconf_resource, engine),
     .def = "wblog",
     .expect = "an engine name: wblog, passthrough, ram or a plugin name"},
    {.name = "engine-options",
     .sect = S_RES,
     .type = T_STR,
     .off = offsetof(struct wbconf_resource, engine_options),
     .expect = "k=v,k=v"},
    {.name = "backing",
     .sect = S_RES,
     .type = T_PATH,
     .flags = F_REQUIRED,
     .off = offsetof(struct wbconf_resource, backing)},
    {.name = "log", .sect = S_RES, .type = T_PATH, .off = offsetof(struct wbconf_resource, log)},
    {.name = "size",
     .sect = S_RES,
     .type = T_SIZE,
     .flags = F_ALIGN4K,
     .width = 8,
     .off = offsetof(struct wbconf_resource, size),
     .max = 1024 * TiB,
     .def = "0"},
    {.name = "ram-buffer",
     .sect = S_RES,
     .type = T_SIZE,
     .flags = F_ALIGN4K,
     .width = 8,
     .off = offsetof(struct wbconf_resource, ram_buffer),
     .min = 1 * MiB,
     .max = 64 * GiB,
     .def = "64M"},
    {.name = "gen-max-interval",
     .sect = S_RES,
     .type = T_DUR,
     .flags = F_RELOAD,
     .width = 4,
     .off = offsetof(struct wbconf_resource, gen_max_interval_ms),
     .max = 3600000,
     .def = "5s"},
    {.name = "destage-low",
     .sect = S_RES,
     .type = T_PCT,
     .flags = F_RELOAD,
     .width = 4,
     .off = offsetof(struct wbconf_resource, destage_low_pct),
     .min = 1, /* 0 is the engine's "default" (10 %): never what 0 % says */
     .max = 100,
     .def = "10%"},
    {.name = "destage-high",
     .sect = S_RES,
     .type = T_PCT,
     .flags = F_RELOAD,
     .width = 4,
     .off = offsetof(struct wbconf_resource, destage_high_pct),
     .min = 1,
     .max = 100,
     .def = "90%"},
    {.name = "destage-min-rate",
     .sect = S_RES,
     .type = T_RATE,
     .flags = F_RELOAD,
     .width = 8,
     .off = offsetof(struct wbconf_resource, destage_min_rate),
     .max = 1 * TiB,
     .def = "4M"},
    {.name = "log-segment",
     .sect = S_RES,
     .type = T_SIZE,
     .flags = F_ALIGN4K,
     .width = 4,
     .off = offsetof(struct wbconf_resource, log_segment),
     .min = 64 * KiB,
     .max = 1 * GiB,
     .def = "2M"},
    {.name = "nbd-listen",
     .sect = S_RES,
     .type = T_ADDR,
     .off = offsetof(struct wbconf_resource, nbd_listen)},
    {.name = "nbd-socket",
     .sect = S_RES,
     .type = T_PATH,
     .off = offsetof(struct wbconf_resource, nbd_socket)},
    {.name = "tls",
     .sect = S_RES,
     .type = T_ENUM,
     .width = sizeof(int),
     .off = offsetof(struct wbconf_resource, tls),
     .ev = ev_tls,
     .def = "off"},
    {.name = "nbd-insecure",
     .sect = S_RES,
     .type = T_BOOL,
     .width = 1,
     .off = offsetof(struct wbconf_resource, nbd_insecure),
     .max = 1,
     .def = "no"},
    {.name = "ring",
     .sect = S_RES,
     .type = T_NAME,
     .off = offsetof(struct wbconf_resource, ring),
     .expect = "a ring name of letters, digits, '_', '-', '.'"},
    {.name = "protocol",
     .sect = S_RES,
     .type = T_ENUM,
     .width = 1,
     .off = offsetof(struct wbconf_resource, protocol),
     .ev = ev_protocol,
     .def = "C"},
    {.name = "ack",
     .sect = S_RES,
     .type = T_ENUM,
     .width = sizeof(int),
     .off = offsetof(struct wbconf_resource, ack),
     .ev = ev_ack,
     .def = "log"},
    {.name = "log-commit-ms",
     .sect = S_RES,
     .type = T_DUR,
     .flags = F_RELOAD,
     .width = 4,
     .off = offsetof(struct wbconf_resource, log_commit_ms),
     .min = 1,
     .max = 60000,
     .dur_unit_ms = 1,
     .def = "10"},
    {.name = "wb-min-peers",
     .sect = S_RES,
     .type = T_INT,
     .flags = F_RELOAD,
     .width = 4,
     .off = offsetof(struct wbconf_resource, wb_min_peers),
     .max = 31,
     .def = "1"},
    {.name = "verify-rate",
     .sect = S_RES,
     .type = T_RATE,
     .flags = F_RELOAD, /* read when a verify starts */
     .width = 8,
     .off = offsetof(struct wbconf_resource, verify_rate),
     .max = 1 * TiB,
     .def = "100M"},
    {.name = "on-no-quorum",
     .sect = S_RES,
     .type = T_ENUM,
     .flags = F_RELOAD,
     .width = sizeof(int),
     .off = offsetof(struct wbconf_resource, on_no_quorum),
     .ev = ev_noq,
     .def = "suspend-io"},
    {.name = "after-sb-1pri",
     .sect = S_RES,
     .type = T_ENUM,
     .flags = F_RELOAD,
     .width = sizeof(int),
     .off = offsetof(struct wbconf_resource, after_sb_1pri),
     .ev = ev_asb,
     .def = "disconnect"},
    {.name = "after-sb-0pri",
     .sect = S_RES,
     .type = T_ENUM,
     .flags = F_RELOAD,
     .width = sizeof(int),
     .off = offsetof(struct wbconf_resource, after_sb_0pri),
     .ev = ev_asb0,
     .def = "disconnect"},
    {.name = "max-clients",
     .sect = S_RES,
     .type = T_INT,
     .width = 4,
     .off = offsetof(struct wbconf_resource, max_clients),
     .min = 1,
     .max = 65536,
     .def = "128"},
    {.name = "resync-rate",
     .sect = S_RES,
     .type = T_RATE,
     .flags = F_RELOAD,
     .width = 8,
     .off = offsetof(struct wbconf_resource, resync_rate),
     .max = 1 * TiB,
     .def = "0"},
    {.name = "resync-after",
     .sect = S_RES,
     .type = T_NAME,
     .flags = F_RELOAD,
     .off = offsetof(struct wbconf_resource, resync_after),
     .expect = "the name of another [resource] of this file"},
    {.name = "before-resync-target",
     .sect = S_RES,
     .type = T_PATH,
     .flags = F_RELOAD,
     .off = offsetof(struct wbconf_resource, before_resync_target)},
    {.name = "c-min-rate",
     .sect = S_RES,
     .type = T_RATE,
     .flags = F_RELOAD,
     .width = 8,
     .off = offsetof(struct wbconf_resource, c_min_rate),
     .max = 1 * TiB,
     .def = "0"},
    {.name = "c-delay-target",
     .sect = S_RES,
     .type = T_DUR,
     .flags = F_RELOAD,
     .width = 4,
     .off = offsetof(struct wbconf_resource, c_delay_target_ms),
     .min = 0,
     .max = 60000,
     .dur_unit_ms = 1,
     .def = "20"},
    {.name = "resync-checksum",
     .sect = S_RES,
     .type = T_BOOL,
     .flags = F_RELOAD,
     .width = 1,
     .off = offsetof(struct wbconf_resource, resync_checksum),
     .max = 1,
     .def = "no"},
    {.name = "peer-retention",
     .sect = S_RES,
     .type = T_SIZE,
     .width = 8,
     .off = offsetof(struct wbconf_resource, peer_retention),
     .max = 1024 * TiB,
     .def = "0"},
    {.name = "send-queue-max",
     .sect = S_RES,
     .flags = F_RELOAD,
     .type = T_SIZE,
     .width = 8,
     .off = offsetof(struct wbconf_resource, send_queue_max),
     .min = 64 * KiB,
     .max = 1 * GiB,
     .def = "8M"},
    {.name = "ping-timeout",
     .sect = S_RES,
     .flags = F_RELOAD,
     .type = T_DUR,
     .width = 4,
     .off = offsetof(struct wbconf_resource, ping_timeout_ms),
     .min = 2000,
     .max = 3600000,
     .def = "5s"},
    {.name = "nodes",
     .sect = S_RES,
     .type = T_STR,
     .flags = F_RELOAD, /* new nodes only (wbconf_resource_reload_check) */
     .off = offsetof(struct wbconf_resource, nodes_value),
     .expect = "the names of [node] sections, e.g. alpha, beta"},
    {.name = "auto-up",
     .sect = S_RES,
     .type = T_BOOL,
     .flags = F_RELOAD,
     .width = 1,
     .off = offsetof(struct wbconf_resource, auto_up),
     .max = 1,
     .def = "yes"},
    {.name = "cache-mode",
     .sect = S_RES,
     .type = T_ENUM,
     .flags = F_RELOAD,
     .width = sizeof(int),
     .off = offsetof(struct wbconf_resource, cache_mode),
     .ev = ev_cache,
     .def = "writeback"},
    {.name = "role",
     .sect = S_RES,
     .type = T_ENUM,
     .flags = F_RELOAD, /* the role at up: a reload changes no running role */
     .width = sizeof(int),
     .off = offsetof(struct wbconf_resource, role),
     .ev = ev_role,
     .def = "primary"},
    /* [node NAME] */
    {.name = "address",
     .sect = S_NODE,
     .type = T_ADDR,
     .flags = F_REQUIRED | F_RELOAD,
     .off = offsetof(struct wbconf_node, address)},
    {.name = "node-id",
     .sect = S_NODE,
     .type = T_INT,
     .width = 4,
     .off = offsetof(struct wbconf_node, node_id),
     .min = 1,
     .max = 255},
};
const size_t wbconf_nkeys = sizeof(wbconf_keys) / sizeof(wbconf_keys[0]);
_Static_assert(sizeof(wbconf_keys) / sizeof(wbconf_keys[0]) <= WBCONF_MAX_KEYS, "WBCONF_MAX_KEYS");
#define keys  wbconf_keys
#define NKEYS wbconf_nkeys

/* ---- errors ------------------------------------------------------------ */

void wbconf_err_add(struct wbconf_errors *errs, const char *file, unsigned line, const char *sect,
		    const char *key, const char *fmt, ...)
{
	struct wbconf_error *e;
	va_list ap;
	char *msg = NULL;

	if (!errs)
		return;
	if (errs->n >= WBCONF_MAX_ERRORS) {
		errs->dropped++;
		return;
	}
	if (errs->n == errs->cap) {
		size_t nc = errs->cap ? errs->cap * 2 : 16;
		struct wbconf_error *nv = realloc(errs->v, nc * sizeof(*nv));

		if (!nv) {
			errs->dropped++;
			return;
		}
		errs->v = nv;
		errs->cap = nc;
	}
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	e = &errs->v[errs->n++];
	e->file = strdup(file ? file : "?");
	e->line = line;
	e->section = sect ? strdup(sect) : NULL;
	e->key = key ? strdup(key) : NULL;
	e->msg = msg ? msg : strdup("out of memory");
}

int wbconf_error_format(const struct wbconf_error *e, char *buf, size_t len)
{
	char where[32] = "";

	if (e->line)
		snprintf(where, sizeof(where), ":%u", e->line);
	if (e->section && e->key)
		return snprintf(buf, len, "%s%s: [%s] %s: %s", e->file, where, e->section, e->key,
				e->msg);
	if (e->section)
		return snprintf(buf, len, "%s%s: [%s]: %s", e->file, where, e->section, e->msg);
	if (e->key)
		return snprintf(buf, len, "%s%s: %s: %s", e->file, where, e->key, e->msg);
	return snprintf(buf, len, "%s%s: %s", e->file, where, e->msg);
}

void wbconf_errors_print(const struct wbconf_errors *errs, FILE *f)
{
	char buf[1024];

	for (size_t i = 0; i < errs->n; i++) {
		wbconf_error_format(&errs->v[i], buf, sizeof(buf));
		fprintf(f, "%s\n", buf);
	}
	if (errs->dropped)
		fprintf(f, "... and %zu more errors\n", errs->dropped);
}

void wbconf_errors_free(struct wbconf_errors *errs)
{
	if (!errs)
		return;
	for (size_t i = 0; i < errs->n; i++) {
		free(errs->v[i].file);
		free(errs->v[i].section);
		free(errs->v[i].key);
		free(errs->v[i].msg);
	}
	free(errs->v);
	memset(errs, 0, sizeof(*errs));
}

/* ---- value parsers ----------------------------------------------------- */

static int parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
		s++;
	}
	*end = s;
	*out = v;
	return 0;
}

int wbconf_parse_size(const char *s, uint64_t *out)
{
	const char *p;
	uint64_t v, mul = 1;
	int rc = parse_u64(s, &p, &v);

	if (rc)
		return rc;
	switch (toupper((unsigned char)*p)) {
	case 'K':
		mul = KiB;
		break;
	case 'M':
		mul = MiB;
		break;
	case 'G':
		mul = GiB;
		break;
	case 'T':
		mul = TiB;
		break;
	case 'B':
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (mul != 1) {
		p++;
		if (p[0] == 'i' && p[1] == 'B')
			p += 2;
		else if (p[0] == 'B')
			p++;
	} else if (*p == 'B') {
		p++;
	}
	if (*p)
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

void wbconf_fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double d = (double)v;
	int i = 0;

	while (d >= 1024 && i < 5) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, len, "%.1f %s", d, u[i]);
}

int wbconf_parse_duration_ms(const char *s, uint32_t def_unit_ms, uint64_t *out)
{
	const char *p;
	uint64_t v, mul;
	int rc = parse_u64(s, &p, &v);

	if (rc)
		return rc;
	if (!strcmp(p, "ms"))
		mul = 1;
	else if (!strcmp(p, "s"))
		mul = 1000;
	else if (!strcmp(p, "m") || !strcmp(p, "min"))
		mul = 60000;
	else if (!strcmp(p, "h"))
		mul = 3600000;
	else if (!*p && (def_unit_ms || v == 0))
		mul = def_unit_ms ? def_unit_ms : 1;
	else
		return -EINVAL;
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

int wbconf_parse_addr(const char *s, struct wbconf_addr *out)
{
	const char *colon, *hs = s, *he;
	uint64_t port;
	const char *p;

	if (*s == '[') {
		he = strchr(s, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		he = colon;
		if (memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* bare IPv6 needs [] */
	}
	if (he == hs)
		return -EINVAL;
	for (p = hs; p < he; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-_:*%", *p))
			return -EINVAL;
	if (parse_u64(colon + 1, &p, &port) || *p)
		return -EINVAL;
	if (port > 65535)
		return -ERANGE;
	out->host = strndup(hs, (size_t)(he - hs));
	if (!out->host)
		return -ENOMEM;
	out->port = (uint16_t)port;
	return 0;
}

bool wbconf_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > WBCONF_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("_-.", s[i]))
			return false;
	return true;
}

static void set_uint(void *p, unsigned width, uint64_t v)
{
	switch (width) {
	case 1:
		*(uint8_t *)p = (uint8_t)v;
		break;
	case 2:
		*(uint16_t *)p = (uint16_t)v;
		break;
	case 4:
		*(uint32_t *)p = (uint32_t)v;
		break;
	default:
		*(uint64_t *)p = v;
	}
}

uint64_t wbconf_get_uint(const void *p, unsigned width)
{
	switch (width) {
	case 1:
		return *(const uint8_t *)p;
	case 2:
		return *(const uint16_t *)p;
	case 4:
		return *(const uint32_t *)p;
	default:
		return *(const uint64_t *)p;
	}
}

static void fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char *const u[] = {"", "K", "M", "G", "T"};
	int i = 0;

	while (i < 4 && v && v % 1024 == 0) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, "%llu%s", (unsigned long long)v, u[i]);
}

static void fmt_enum(const struct wbconf_enum *ev, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = 0;
	for (; ev->name && o < len; ev++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", ev->name);
}

/* T_STR, T_PATH, T_NAME: a copy of val (checked for paths and names). */
static int key_set_str(const struct wbconf_key *k, void *f, const char *val, char *msg, size_t mlen)
{
	char *dup;

	if (k->type == T_PATH && (val[0] != '/' || strlen(val) >= PATH_MAX)) {
		snprintf(msg, mlen, "'%s' is not an absolute path", val);
		return -EINVAL;
	}
	if (k->type == T_NAME && !wbconf_name_ok(val)) {
		snprintf(msg, mlen, "invalid name '%s': expected %s", val,
			 k->expect ? k->expect
				   : "1-63 letters, digits, '_', '-', '.' (starting with a "
				     "letter or digit)");
		return -EINVAL;
	}
	dup = strdup(val);
	if (!dup) {
		snprintf(msg, mlen, "out of memory");
		return -ENOMEM;
	}
	free(*(char **)f);
	*(char **)f = dup;
	return 0;
}

static int key_set_addr(void *f, const char *val, char *msg, size_t mlen)
{
	struct wbconf_addr ad = {0};
	int rc = wbconf_parse_addr(val, &ad);

	if (rc || ad.port == 0) {
		free(ad.host);
		snprintf(msg, mlen,
			 "invalid address '%s': expected host:port with port 1-65535 "
			 "(e.g. 127.0.0.1:10809, [::1]:10809, *:10809)",
			 val);
		return -EINVAL;
	}
	free(((struct wbconf_addr *)f)->host);
	*(struct wbconf_addr *)f = ad;
	return 0;
}

static int key_set_bool(const struct wbconf_key *k, void *f, const char *val, char *msg,
			size_t mlen)
{
	uint64_t v;

	if (!strcmp(val, "yes") || !strcmp(val, "true") || !strcmp(val, "on") || !strcmp(val, "1"))
		v = 1;
	else if (!strcmp(val, "no") || !strcmp(val, "false") || !strcmp(val, "off") ||
		 !strcmp(val, "0"))
		v = 0;
	else {
		snprintf(msg, mlen, "invalid boolean '%s': expected yes or no", val);
		return -EINVAL;
	}
	set_uint(f, k->width, v);
	return 0;
}

static int key_set_enum(const struct wbconf_key *k, void *f, const char *val, char *msg,
			size_t mlen)
{
	char list[128];

	for (const struct wbconf_enum *e = k->ev; e->name; e++) {
		if (!strcmp(e->name, val)) {
			if (k->width == sizeof(int))
				*(int *)f = e->val;
			else
				set_uint(f, k->width, (uint64_t)e->val);
			return 0;
		}
	}
	fmt_enum(k->ev, list, sizeof(list));
	snprintf(msg, mlen, "invalid value '%s': expected one of %s", val, list);
	return -EINVAL;
}

/*
 * The numeric parsers: 0 with *v, -ERANGE (too large: the caller reports the
 * range), or -EINVAL with msg written.
 */
static int key_parse_size(const struct wbconf_key *k, const char *val, uint64_t *v, char *msg,
			  size_t mlen)
{
	char tmp[64];
	size_t n = strlen(val);
	int rc;

	if (k->type == T_RATE && n > 2 && n < sizeof(tmp) && !strcmp(val + n - 2, "/s")) {
		memcpy(tmp, val, n - 2);
		tmp[n - 2] = 0;
		rc = wbconf_parse_size(tmp, v);
	} else {
		rc = wbconf_parse_size(val, v);
	}
	if (rc == -EINVAL) {
		snprintf(msg, mlen,
			 "invalid size '%s': expected a number with an optional unit K, M, "
			 "G, T (1024-based)%s, e.g. 64M",
			 val, k->type == T_RATE ? " per second" : "");
		return -EINVAL;
	}
	if ((k->flags & F_ALIGN4K) && !rc && *v % 4096) {
		snprintf(msg, mlen, "size '%s' is not a multiple of 4K", val);
		return -EINVAL;
	}
	return rc;
}

static int key_parse_dur(const struct wbconf_key *k, const char *val, uint64_t *v, char *msg,
			 size_t mlen)
{
	int rc = wbconf_parse_duration_ms(val, k->dur_unit_ms, v);

	if (rc == -EINVAL)
		snprintf(msg, mlen,
			 "invalid duration '%s': expected a number with a unit ms, s, m or h, "
			 "e.g. 500ms, 5s",
			 val);
	return rc;
}

static int key_parse_pct(const char *val, uint64_t *v, char *msg, size_t mlen)
{
	const char *p;
	int rc = parse_u64(val, &p, v);

	if (!rc && *p == '%')
		p++;
	if (rc == -EINVAL || (!rc && *p)) {
		snprintf(msg, mlen, "invalid percentage '%s': expected 0%%..100%%, e.g. 90%%", val);
		return -EINVAL;
	}
	return rc;
}

static int key_parse_int(const struct wbconf_key *k, const char *val, uint64_t *v, char *msg,
			 size_t mlen)
{
	const char *p;
	int rc = parse_u64(val, &p, v);

	if (rc == -EINVAL || (!rc && *p)) {
		snprintf(msg, mlen, "invalid number '%s': expected an integer %llu..%llu", val,
			 (unsigned long long)k->min, (unsigned long long)k->max);
		return -EINVAL;
	}
	return rc;
}

/* "0-1,3" -> bits 0, 1, 3; CPUs 0..63, at least one */
static int key_parse_cpus(const char *val, uint64_t *v, char *msg, size_t mlen)
{
	const char *p = val;

	*v = 0;
	for (;;) {
		uint64_t a, b;
		int rc = parse_u64(p, &p, &a);

		b = a;
		if (!rc && *p == '-')
			rc = parse_u64(p + 1, &p, &b);
		if (rc || a > b || b > 63 || (*p && *p != ','))
			break;
		for (uint64_t c = a; c <= b; c++)
			*v |= 1ull << c;
		if (!*p)
			return 0;
		p++;
	}
	snprintf(msg, mlen,
		 "invalid CPU list '%s': expected CPU numbers 0..63 and ranges, e.g. 0 "
		 "or 0-1,3",
		 val);
	return -EINVAL;
}

/* T_FLAGS: "a,b" (spaces around names allowed) or "all" into the OR of
 * their bits. */
static int key_parse_flags(const struct wbconf_key *k, const char *val, uint64_t *v, char *msg,
			   size_t mlen)
{
	char list[256];
	const char *p = val;

	*v = 0;
	if (!strcmp(val, "all")) {
		for (const struct wbconf_enum *e = k->ev; e->name; e++)
			*v |= (uint64_t)e->val;
		return 0;
	}
	while (*p) {
		const struct wbconf_enum *e;
		size_t n;

		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (!n)
			break;
		for (e = k->ev; e->name; e++)
			if (strlen(e->name) == n && !strncmp(e->name, p, n))
				break;
		if (!e->name) {
			fmt_enum(k->ev, list, sizeof(list));
			snprintf(msg, mlen, "unknown name '%.*s': expected a list of %s, or all",
				 (int)n, p, list);
			return -EINVAL;
		}
		*v |= (uint64_t)e->val;
		p += n;
	}
	if (!*v) {
		snprintf(msg, mlen, "an empty list (no event-handler: leave it unset)");
		return -EINVAL;
	}
	return 0;
}

/* "value '...' is out of range: expected MIN..MAX", in the key's units. */
static int key_range_error(const struct wbconf_key *k, const char *val, char *msg, size_t mlen)
{
	char a[32], b[32];

	if (k->type == T_SIZE || k->type == T_RATE) {
		fmt_size(k->min, a, sizeof(a));
		fmt_size(k->max, b, sizeof(b));
	} else if (k->type == T_DUR) {
		snprintf(a, sizeof(a), "%llums", (unsigned long long)k->min);
		snprintf(b, sizeof(b), "%llums", (unsigned long long)k->max);
	} else {
		snprintf(a, sizeof(a), "%llu%s", (unsigned long long)k->min,
			 k->type == T_PCT ? "%" : "");
		snprintf(b, sizeof(b), "%llu%s", (unsigned long long)k->max,
			 k->type == T_PCT ? "%" : "");
	}
	snprintf(msg, mlen, "value '%s' is out of range: expected %s..%s", val, a, b);
	return -EINVAL;
}

/*
 * Parse `val` for key `k` into the struct at `base`. On error returns
 * -EINVAL and writes the user message (what is wrong and what is expected).
 */
int wbconf_key_set(const struct wbconf_key *k, void *base, const char *val, char *msg, size_t mlen)
{
	void *f = (char *)base + k->off;
	uint64_t v = 0;
	int rc;

	switch (k->type) {
	case T_STR:
	case T_PATH:
	case T_NAME:
		return key_set_str(k, f, val, msg, mlen);
	case T_ADDR:
		return key_set_addr(f, val, msg, mlen);
	case T_BOOL:
		return key_set_bool(k, f, val, msg, mlen);
	case T_ENUM:
		return key_set_enum(k, f, val, msg, mlen);
	case T_SIZE:
	case T_RATE:
		rc = key_parse_size(k, val, &v, msg, mlen);
		break;
	case T_DUR:
		rc = key_parse_dur(k, val, &v, msg, mlen);
		break;
	case T_PCT:
		rc = key_parse_pct(val, &v, msg, mlen);
		break;
	case T_INT:
		rc = key_parse_int(k, val, &v, msg, mlen);
		break;
	case T_CPUS:
		rc = key_parse_cpus(val, &v, msg, mlen);
		break;
	case T_FLAGS:
		rc = key_parse_flags(k, val, &v, msg, mlen);
		break;
	default:
		snprintf(msg, mlen, "internal: bad key type");
		return -EINVAL;
	}
	if (rc == -EINVAL)
		return rc;
	if (rc == -ERANGE || v < k->min || v > k->max)
		return key_range_error(k, val, msg, mlen);
	set_uint(f, k->width, v);
	return 0;
}

void wbconf_key_free(const struct wbconf_key *k, void *base)
{
	void *f = (char *)base + k->off;

	if (k->type == T_STR || k->type == T_PATH || k->type == T_NAME) {
		free(*(char **)f);
		*(char **)f = NULL;
	} else if (k->type == T_ADDR) {
		free(((struct wbconf_addr *)f)->host);
		((struct wbconf_addr *)f)->host = NULL;
	}
}

void wbconf_sect_free(int sect, void *base)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].sect == sect)
			wbconf_key_free(&keys[i], base);
}

/* Apply every default of a section kind. Defaults are valid by construction
 * (test_conf checks that parsing an empty file succeeds). */
int wbconf_sect_defaults(int sect, void *base)
{
	char msg[256];

	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].sect == sect && keys[i].def &&
		    wbconf_key_set(&keys[i], base, keys[i].def, msg, sizeof(msg)) == -ENOMEM)
			return -ENOMEM;
	return 0;
}

const struct wbconf_key *wbconf_key_find(int sect, const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if ((keys[i].sect & sect) && !strcmp(keys[i].name, name))
			return &keys[i];
	return NULL;
}

const char *wbconf_res_enum_name(const char *key, int v)
{
	const struct wbconf_key *k = wbconf_key_find(S_RES, key);

	for (const struct wbconf_enum *e = k && k->type == T_ENUM ? k->ev : NULL; e && e->name; e++)
		if (e->val == v)
			return e->name;
	return "?";
}

/* Edit distance (bounded) for "did you mean" hints. */
static unsigned edit_distance(const char *a, const char *b)
{
	unsigned d[40][40];
	size_t la = strlen(a), lb = strlen(b);

	if (la >= 40 || lb >= 40)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			unsigned c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			d[i][j] = c;
		}
	return d[la][lb];
}

const char *wbconf_key_suggest(int sect, const char *name)
{
	const char *best = NULL;
	unsigned bd = 3;

	for (size_t i = 0; i < NKEYS; i++) {
		unsigned dd;

		if (!(keys[i].sect & sect))
			continue;
		dd = edit_distance(name, keys[i].name);
		if (dd < bd) {
			bd = dd;
			best = keys[i].name;
		}
	}
	return best;
}
