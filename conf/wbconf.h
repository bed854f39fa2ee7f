/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wbconf.h - the wbrep configuration file: parser, typed key table and
 * validation, shared by wbrepd and wbctl (public header of libwbconf.a).
 *
 * One INI-style file (default WBCONF_DEFAULT_PATH) with the sections
 *   [global]                 daemon-wide settings
 *   [resource NAME]          one replicated block device
 *   [resource NAME on NODE]  per-node overrides of a resource (paths ...)
 *   [node NAME]              a cluster member (address, node-id)
 * Comments start with '#' or ';'; settings are `key = value`. Every key is
 * documented in docs/configuration.md. Values are typed: sizes (4K, 64M, 1G,
 * 1024-based), durations (500ms, 5s, 2m), percentages (90%), booleans,
 * enums, host:port, paths, integers with ranges.
 *
 * The parser collects ALL errors (unknown keys/sections, duplicates, bad or
 * out-of-range values, missing required keys, cross-key conflicts), each
 * naming file:line, section and key. On any error no struct wbconf is
 * returned.
 *
 * Ownership: a struct wbconf owns every string it points to; wbconf_free()
 * releases everything. struct wbconf_errors owns its entries;
 * wbconf_errors_free() releases them (the struct itself is the caller's,
 * usually on the stack, zero-initialised).
 *
 * Functions return 0 or -errno.
 */
#ifndef WB_CONF_H
#define WB_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WBCONF_DEFAULT_PATH	  "/etc/wbrep/wbrep.conf"
#define WBCONF_DEFAULT_CTL_SOCKET "/run/wbrep/wbrepd.sock"
#define WBCONF_DEFAULT_PID_FILE	  "/run/wbrep/wbrepd.pid"
#define WBCONF_DEFAULT_PLUGIN_DIR "/usr/local/lib/wbrep/plugins"
#define WBCONF_NAME_MAX		  63  /* resource / node / ring names */
#define WBCONF_MAX_ERRORS	  200 /* further errors are counted, not kept */

/* Days before a tls-cert (this node's or a peer's) expires from which
 * wbrepd warns in its log, wbctl status says so without -v and wbctl
 * config check warns */
#define WBCONF_TLS_WARN_DAYS 30

/* log-level values are syslog levels (same numbers as enum wb_msg_level). */
enum wbconf_log_level {
	WBCONF_LOG_ERR = 3,
	WBCONF_LOG_WARN = 4,
	WBCONF_LOG_INFO = 6,
	WBCONF_LOG_DEBUG = 7,
};
enum wbconf_log_target { WBCONF_LOG_STDERR = 0, WBCONF_LOG_SYSLOG = 1 };
enum wbconf_transport { WBCONF_TRANSPORT_TLS = 0, WBCONF_TRANSPORT_PLAIN = 1 };
enum wbconf_cluster { WBCONF_CLUSTER_NONE = 0, WBCONF_CLUSTER_COROSYNC = 1 };
/* NBD TLS of an export (docs/nbd.md "TLS"). */
enum wbconf_tls { WBCONF_TLS_OFF = 0, WBCONF_TLS_ALLOW = 1, WBCONF_TLS_REQUIRE = 2 };
enum wbconf_ack { WBCONF_ACK_LOG = 0, WBCONF_ACK_MEMORY = 1 };
enum wbconf_no_quorum { WBCONF_NOQ_SUSPEND_IO = 0, WBCONF_NOQ_IO_ERROR = 1 };
enum wbconf_cache_mode { WBCONF_CACHE_WRITEBACK = 0, WBCONF_CACHE_WRITETHROUGH = 1 };
/* A split brain found between a primary and a secondary (docs/
 * replication.md, "Automatic split-brain recovery"); DRBD's after-sb-1pri. */
enum wbconf_after_sb {
	WBCONF_ASB_DISCONNECT = 0,	 /* refused, both StandAlone */
	WBCONF_ASB_CONSENSUS = 1,	 /* the secondary discards if it wrote nothing since */
	WBCONF_ASB_DISCARD_SECONDARY = 2 /* the secondary discards, whatever it wrote */
};
/* The same between two secondaries; DRBD's after-sb-0pri. */
enum wbconf_after_sb0 {
	WBCONF_ASB0_DISCONNECT = 0,	       /* refused, both StandAlone */
	WBCONF_ASB0_DISCARD_ZERO_CHANGES = 1,  /* the one that wrote nothing since discards */
	WBCONF_ASB0_DISCARD_LEAST_CHANGES = 2, /* the one with fewer records since discards */
	/* the one promoted after the split (its first data generation since
	 * the fork begun at a promotion) discards, the one that was primary at
	 * the split keeps its data; undecided: as discard-least-changes */
	WBCONF_ASB0_DISCARD_YOUNGER_PRIMARY = 3,
	WBCONF_ASB0_DISCARD_OLDER_PRIMARY = 4 /* the other way round */
};
enum wbconf_role { WBCONF_ROLE_PRIMARY = 0, WBCONF_ROLE_SECONDARY = 1 };

/* A host:port value. host == NULL: not set (e.g. metrics off). host "*"
 * means any address; IPv6 is written [addr]:port and stored without []. */
struct wbconf_addr {
	char *host;
	uint16_t port;
};

static inline bool wbconf_addr_set(const struct wbconf_addr *a)
{
	return a->host != NULL;
}

struct wbconf_global {
	char *control_socket;		   /* default WBCONF_DEFAULT_CTL_SOCKET */
	char *pid_file;			   /* default WBCONF_DEFAULT_PID_FILE */
	int log_level;			   /* enum wbconf_log_level, default INFO */
	int log_target;			   /* enum wbconf_log_target, default stderr */
	struct wbconf_addr metrics_listen; /* default unset = off */
	char *plugin_dir;		   /* default WBCONF_DEFAULT_PLUGIN_DIR */
	char *node_name;		   /* this node; default: hostname (or override) */
	char *tls_cert, *tls_key, *tls_ca; /* NULL when not set */
	int transport;			   /* enum wbconf_transport, default tls */
	uint32_t max_clients;		   /* NBD connections in total, default 256 */
	uint32_t io_threads;		   /* io loops; 0 (default) = CPUs online */
	uint64_t cpu_affinity;		   /* bit i = CPU i; 0 (default) = any CPU */
	int cluster;			   /* enum wbconf_cluster, default none */
	char *event_handler;		   /* program run per event, NULL = none */
	uint32_t event_kinds;		   /* WBCONF_EVK_* it is run for */
	uint32_t event_handler_timeout_ms; /* killed after, default 60 s */
};

/* Event kinds (wbctl events; [global] event-handler-kinds), as bits. */
enum wbconf_event_kind {
	WBCONF_EVK_MODE = 1u << 0,
	WBCONF_EVK_PEERS = 1u << 1,
	WBCONF_EVK_QUORUM = 1u << 2,
	WBCONF_EVK_RESYNC = 1u << 3,
	WBCONF_EVK_VERIFY = 1u << 4,
	WBCONF_EVK_ENGINE = 1u << 5,
	WBCONF_EVK_READ = 1u << 6,
	WBCONF_EVK_RESIZE = 1u << 7,
	WBCONF_EVK_SPLIT_BRAIN = 1u << 8,
};
/* The bit of an event kind's name ("split-brain"), 0 if unknown. */
uint32_t wbconf_event_kind(const char *name);
/* The name an enum value of a resource key has in the config file
 * ("after-sb-0pri", WBCONF_ASB0_DISCARD_ZERO_CHANGES: "discard-zero-changes");
 * "?" for a key or value the table does not have. */
const char *wbconf_res_enum_name(const char *key, int v);

/* A resource as it applies to THIS node (node_name): the [resource NAME]
 * section with the matching [resource NAME on NODE] section applied on top. */
struct wbconf_resource {
	char *name;
	char *engine;		       /* "wblog" (default), "passthrough", "ram", plugin name */
	char *engine_options;	       /* "k=v,k=v" passed to the engine, NULL = none */
	char *backing;		       /* path, required */
	char *log;		       /* path, required for wblog, NULL otherwise if unset */
	uint64_t size;		       /* bytes, 0 = backing size */
	uint64_t ram_buffer;	       /* bytes, default 64 MiB */
	uint32_t gen_max_interval_ms;  /* default 5000 */
	uint32_t destage_low_pct;      /* default 10 */
	uint32_t destage_high_pct;     /* default 90 */
	uint64_t destage_min_rate;     /* bytes/s, default 4 MiB */
	uint32_t log_segment;	       /* bytes, default 2 MiB */
	struct wbconf_addr nbd_listen; /* optional TCP NBD listener */
	char *nbd_socket;	       /* optional unix NBD listener, NULL = none */
	int tls;		       /* enum wbconf_tls, default off */
	bool nbd_insecure;	       /* plain nbd-listen on a non-loopback address */
	char *ring;		       /* dm ring name, NULL = none */
	char protocol;		       /* 'A', 'B' or 'C' (default) */
	int ack;		       /* enum wbconf_ack, default log */
	uint32_t log_commit_ms;	       /* ack = memory: RAM -> log bound, default 10 */
	uint32_t wb_min_peers;	       /* default 1 */
	uint64_t verify_rate;	       /* wbctl verify: bytes/s, 0 = unlimited, default 100 MiB */
	int on_no_quorum;	       /* enum wbconf_no_quorum, default suspend-io */
	int after_sb_1pri;	       /* enum wbconf_after_sb, default disconnect */
	int after_sb_0pri;	       /* enum wbconf_after_sb0, default disconnect */
	int cache_mode;		       /* enum wbconf_cache_mode, default writeback
					* (writethrough for engine passthrough) */
	bool auto_up;		       /* default true */
	int role;		       /* enum wbconf_role, default primary */
	uint32_t max_clients;	       /* NBD connections on this export, default 128 */
	uint64_t resync_rate;	       /* bytes/s a sync target asks for, 0 = unthrottled */
	uint64_t c_min_rate;	       /* ... while application writes arrive, 0 = no cut */
	uint32_t c_delay_target_ms;    /* queueing a resync may add on the link, 0 = off */
	bool resync_checksum;	       /* sync target sends checksums, default no */
	char *resync_after;	       /* its resyncs wait for this resource's, NULL = none */
	char *before_resync_target;    /* program run and waited for first, NULL = none */
	uint64_t peer_retention;       /* log bytes a disconnected peer may hold, 0 = the log */
	uint64_t send_queue_max;       /* bytes queued per peer link, default 8 MiB */
	uint32_t ping_timeout_ms;      /* a peer link without a pong this long drops, default 5 s */
	char *nodes_value;	       /* "nodes" as written, NULL = unset */
	/* the nodes it lives on ("nodes", parsed and checked: each a [node]);
	 * nnodes 0 = every [node] (the default) */
	char **nodes;
	size_t nnodes;
	unsigned line; /* line of the [resource NAME] header */
};

struct wbconf_node {
	char *name;
	struct wbconf_addr address; /* required */
	uint32_t node_id;	    /* 1..255, 0 = not set */
	unsigned line;
};

struct wbconf {
	char *path; /* file name used in messages */
	struct wbconf_global global;
	struct wbconf_resource *res; /* nres entries, in file order */
	size_t nres;
	struct wbconf_node *nodes; /* nnodes entries, in file order */
	size_t nnodes;
	/* resources whose "nodes" leave this node out: not in res (they live
	 * on other nodes of the cluster; their sections are only parsed) */
	size_t nres_elsewhere;
};

struct wbconf_error {
	char *file;
	unsigned line; /* 0 = no line (e.g. file cannot be opened) */
	char *section; /* e.g. "resource r0", NULL = outside any section */
	char *key;     /* NULL = about the section or the file */
	char *msg;
};

struct wbconf_errors {
	struct wbconf_error *v;
	size_t n, cap;
	size_t dropped; /* errors beyond WBCONF_MAX_ERRORS, counted only */
};

/*
 * Parse and validate a file. node_name selects which [resource X on NODE]
 * overrides apply; NULL = [global] node-name, else the hostname.
 * Returns 0 and *out (free with wbconf_free), or -EINVAL with every problem
 * in errs (*out = NULL), or -errno when the file cannot be read (also
 * recorded in errs). errs may be NULL when the caller does not want them.
 */
int wbconf_load(const char *path, const char *node_name, struct wbconf **out,
		struct wbconf_errors *errs);
/* Is node `name` one of resource r's nodes ("nodes" unset: every [node])? */
bool wbconf_res_on_node(const struct wbconf_resource *r, const char *name);
/* Same on a memory buffer (need not be NUL-terminated); fname is used in
 * messages. */
int wbconf_parse_buf(const char *buf, size_t len, const char *fname, const char *node_name,
		     struct wbconf **out, struct wbconf_errors *errs);
void wbconf_free(struct wbconf *c);

const struct wbconf_resource *wbconf_resource_find(const struct wbconf *c, const char *name);
const struct wbconf_node *wbconf_node_find(const struct wbconf *c, const char *name);

/* SIGHUP support, driven by the key table: 0 if `nw` differs from `old`
 * only in keys marked reloadable (F_RELOAD in conf/wbconf_keys.c, the
 * "reload" column of docs/configuration.md); else -EBUSY and err names the
 * first key that needs a restart of wbrepd (the reload is then refused as
 * a whole). One for [global], one for a [resource]. */
int wbconf_global_reload_check(const struct wbconf_global *old, const struct wbconf_global *nw,
			       char *err, size_t errlen);
/* oc: the configuration old belongs to; with it, "nodes" may gain nodes
 * that are not in oc (a reload adds them) and lose nodes that are not in
 * nc (the configuration nw belongs to: a reload removes them), nothing
 * else (oc NULL: "nodes" is not checked; nc NULL: no node removed) */
int wbconf_resource_reload_check(const struct wbconf *oc, const struct wbconf *nc,
				 const struct wbconf_resource *old,
				 const struct wbconf_resource *nw, char *err, size_t errlen);
/* The [node] sections: the ones of old that are still there first, with
 * the same order and the same keys that need a restart (address,
 * node-id); new ones only after them; this node's not removed; else
 * -EBUSY with err. */
int wbconf_nodes_reload_check(const struct wbconf *old, const struct wbconf *nw, char *err,
			      size_t errlen);
/* name is a [node] of the new configuration that old does not have. */
bool wbconf_node_added(const struct wbconf *old, const char *name);

/* Engines every build has (engine/registry.c registers them). */
#define WBCONF_BUILTIN_ENGINES "wblog", "passthrough", "ram"

/* 1 when this configuration describes the host it is checked on: its node
 * name ([global] node-name or the one given to wbconf_load) is this host's
 * name, or it names no node at all (then the host name was used). */
bool wbconf_on_this_host(const struct wbconf *c);
/* Checks that only mean something on the node itself: every backing and
 * log path exists and is a block device or a regular file. Appends one
 * error per problem (line of the resource's section) and returns -EINVAL,
 * or 0 when all are there. */
int wbconf_check_devices(const struct wbconf *c, struct wbconf_errors *errs);

/* "FILE:LINE: [section] key: message" (parts omitted when unknown).
 * Returns the length snprintf would have written. */
int wbconf_error_format(const struct wbconf_error *e, char *buf, size_t len);
/* All errors, one per line (plus a "... N more" line if some were dropped). */
void wbconf_errors_print(const struct wbconf_errors *errs, FILE *f);
void wbconf_errors_free(struct wbconf_errors *errs);

/* Value parsers, exposed for wbctl and tests. 0 or -EINVAL/-ERANGE.
 * Sizes: "512", "4K", "64M", "1G", "2T" (1024-based, optional "iB"/"B").
 * Durations: "500ms", "5s", "2m", "1h"; a bare number uses def_unit_ms as
 * multiplier (0 = a unit is required, except for "0"). */
int wbconf_parse_size(const char *s, uint64_t *out);
/* A size for people, 1024-based with one decimal: "4.0 KiB", "64.0 MiB";
 * "512 B" below 1 KiB (wbctl's output, wbrepd's messages). */
void wbconf_fmt_size(uint64_t v, char *buf, size_t len);
int wbconf_parse_duration_ms(const char *s, uint32_t def_unit_ms, uint64_t *out);
int wbconf_parse_addr(const char *s, struct wbconf_addr *out); /* out->host malloc'd */

#endif /* WB_CONF_H */
