// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbconf.c - parser and validator of the wbrep configuration file.
 *
 * Three steps: lex() splits the text into sections and `key = value`
 * entries (syntax errors, unknown section kinds, duplicate sections and
 * keys); build() applies the typed key table (wbconf_keys.c) on top of the
 * defaults, section by section (apply(); build_global(), build_nodes(),
 * build_resources()), with [resource X on NODE] applied on top of
 * [resource X] for this node (apply_overrides()); check_overrides(),
 * check_resource() and check_nodes() look at relations between keys and
 * sections. Every problem is appended to
 * the error list and parsing goes on, so the user sees all of them at once.
 * Owns the lexer, the struct wbconf life cycle and the public API of
 * conf/wbconf.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/wbconf_int.h"

struct lx_entry {
	char *key, *val;
	unsigned line;
};

struct lx_sect {
	int kind;    /* S_GLOBAL, S_RES, S_NODE */
	char *name;  /* NULL for global */
	char *node;  /* [resource NAME on NODE], else NULL */
	char *label; /* "resource r0 on alpha", used in messages */
	unsigned line;
	bool used; /* an override section matched a resource */
	struct lx_entry *e;
	size_t n, cap;
};

struct lx {
	const char *file;
	struct lx_sect *s;
	size_t n, cap;
	struct wbconf_errors *errs;
	bool oom;
};

/* Where each key of a resource was set, for cross-check messages. */
struct rinfo {
	unsigned line[WBCONF_MAX_KEYS];
	const char *label[WBCONF_MAX_KEYS];
	unsigned sect_line;
	const char *sect_label;
};

#define ERR(lx, line, sect, key, ...)                                                              \
	wbconf_err_add((lx)->errs, (lx)->file, line, sect, key, __VA_ARGS__)

static void *grow(void *v, size_t *cap, size_t n, size_t sz)
{
	void *nv;
	size_t nc;

	if (n < *cap)
		return v;
	nc = *cap ? *cap * 2 : 8;
	nv = realloc(v, nc * sz);
	if (nv)
		*cap = nc;
	return nv;
}

static void lx_free(struct lx *lx)
{
	for (size_t i = 0; i < lx->n; i++) {
		struct lx_sect *s = &lx->s[i];

		for (size_t j = 0; j < s->n; j++) {
			free(s->e[j].key);
			free(s->e[j].val);
		}
		free(s->e);
		free(s->name);
		free(s->node);
		free(s->label);
	}
	free(lx->s);
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = 0;
	return s;
}

static struct lx_sect *sect_lookup(struct lx *lx, int kind, const char *name, const char *node)
{
	for (size_t i = 0; i < lx->n; i++) {
		struct lx_sect *s = &lx->s[i];

		if (s->kind == kind && !strcmp(s->name ? s->name : "", name ? name : "") &&
		    !strcmp(s->node ? s->node : "", node ? node : ""))
			return s;
	}
	return NULL;
}

/* Parse "[...]". Returns the new section, or NULL (error recorded; the keys
 * that follow are skipped until the next header). */
static struct lx_sect *lex_header(struct lx *lx, char *p, unsigned line)
{
	char *end = strchr(p, ']'), *tok[5], *save = NULL, *t;
	int ntok = 0, kind;
	struct lx_sect *s, *dup;
	char *name = NULL, *node = NULL, *label;

	if (!end) {
		ERR(lx, line, NULL, NULL, "section header without closing ']'");
		return NULL;
	}
	*end = 0;
	t = trim(end + 1);
	if (*t && *t != '#' && *t != ';') {
		ERR(lx, line, NULL, NULL, "unexpected text '%s' after section header", t);
		return NULL;
	}
	for (t = strtok_r(p + 1, " \t", &save); t && ntok < 5; t = strtok_r(NULL, " \t", &save))
		tok[ntok++] = t;
	if (ntok == 1 && !strcmp(tok[0], "global")) {
		kind = S_GLOBAL;
	} else if (ntok == 2 && !strcmp(tok[0], "resource")) {
		kind = S_RES;
		name = tok[1];
	} else if (ntok == 4 && !strcmp(tok[0], "resource") && !strcmp(tok[2], "on")) {
		kind = S_RES;
		name = tok[1];
		node = tok[3];
	} else if (ntok == 2 && !strcmp(tok[0], "node")) {
		kind = S_NODE;
		name = tok[1];
	} else {
		ERR(lx, line, NULL, NULL,
		    "unknown section '[%.64s]': expected [global], [resource NAME], "
		    "[resource NAME on NODE] or [node NAME]",
		    p + 1);
		return NULL;
	}
	if ((name && !wbconf_name_ok(name)) || (node && !wbconf_name_ok(node))) {
		ERR(lx, line, NULL, NULL,
		    "invalid name '%.64s' in section header: expected 1-63 letters, digits, '_', "
		    "'-', '.' (starting with a letter or digit)",
		    name && !wbconf_name_ok(name) ? name : node);
		return NULL;
	}
	if (asprintf(&label, "%s%s%s%s%s",
		     kind == S_GLOBAL ? "global"
		     : kind == S_RES  ? "resource"
				      : "node",
		     name ? " " : "", name ? name : "", node ? " on " : "", node ? node : "") < 0) {
		lx->oom = true;
		return NULL;
	}
	dup = sect_lookup(lx, kind, name, node);
	if (dup) {
		ERR(lx, line, label, NULL, "duplicate section, first defined at line %u",
		    dup->line);
		free(label);
		return NULL;
	}
	s = grow(lx->s, &lx->cap, lx->n, sizeof(*s));
	if (!s) {
		free(label);
		lx->oom = true;
		return NULL;
	}
	lx->s = s;
	s = &lx->s[lx->n++];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->line = line;
	s->label = label;
	s->name = name ? strdup(name) : NULL;
	s->node = node ? strdup(node) : NULL;
	if ((name && !s->name) || (node && !s->node))
		lx->oom = true;
	return s;
}

/* Cut the value at an inline comment (# or ; after blank) and unquote. */
static int lex_value(char *v, char **out)
{
	char *p;

	v = trim(v);
	if (*v == '"') {
		p = strchr(v + 1, '"');
		if (!p)
			return -EINVAL;
		*p = 0;
		p = trim(p + 1);
		if (*p && *p != '#' && *p != ';')
			return -EINVAL;
		*out = v + 1;
		return 0;
	}
	for (p = v; *p; p++)
		if ((*p == '#' || *p == ';') && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
			*p = 0;
			break;
		}
	*out = trim(v);
	return 0;
}

static void lex_line(struct lx *lx, struct lx_sect **cur, bool *skip, char *p, unsigned line)
{
	char *eq, *key, *val;
	struct lx_entry *e;

	p = trim(p);
	if (!*p || *p == '#' || *p == ';')
		return;
	if (*p == '[') {
		*cur = lex_header(lx, p, line);
		*skip = !*cur;
		return;
	}
	if (*skip)
		return;
	eq = strchr(p, '=');
	if (!eq) {
		ERR(lx, line, *cur ? (*cur)->label : NULL, NULL,
		    "expected 'key = value' or a [section] header, got '%.40s'", p);
		return;
	}
	*eq = 0;
	key = trim(p);
	if (!*key || strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(key)) {
		ERR(lx, line, *cur ? (*cur)->label : NULL, NULL,
		    "invalid key name '%.40s': expected lower-case letters, digits and '-'", key);
		return;
	}
	if (lex_value(eq + 1, &val)) {
		ERR(lx, line, *cur ? (*cur)->label : NULL, key,
		    "unterminated quote or text after the closing quote");
		return;
	}
	if (!*cur) {
		ERR(lx, line, NULL, key, "setting outside of any section (add [global] above it)");
		return;
	}
	if (!*val) {
		ERR(lx, line, (*cur)->label, key, "missing value");
		return;
	}
	for (size_t i = 0; i < (*cur)->n; i++) {
		if (!strcmp((*cur)->e[i].key, key)) {
			ERR(lx, line, (*cur)->label, key, "duplicate key, first set at line %u",
			    (*cur)->e[i].line);
			return;
		}
	}
	e = grow((*cur)->e, &(*cur)->cap, (*cur)->n, sizeof(*e));
	if (!e) {
		lx->oom = true;
		return;
	}
	(*cur)->e = e;
	e = &e[(*cur)->n];
	e->key = strdup(key);
	e->val = strdup(val);
	e->line = line;
	if (!e->key || !e->val) {
		free(e->key);
		free(e->val);
		lx->oom = true;
		return;
	}
	(*cur)->n++;
}

static void lex(struct lx *lx, const char *buf, size_t len)
{
	struct lx_sect *cur = NULL;
	bool skip = false;
	unsigned line = 0;
	size_t pos = 0;
	char tmp[WBCONF_MAX_LINE + 1];

	while (pos < len && !lx->oom) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		bool bad = false;

		line++;
		if (n > WBCONF_MAX_LINE) {
			ERR(lx, line, cur ? cur->label : NULL, NULL,
			    "line too long (%zu bytes, at most %u)", n, WBCONF_MAX_LINE);
			pos += n + 1;
			continue;
		}
		memcpy(tmp, buf + pos, n);
		pos += n + 1;
		if (n && tmp[n - 1] == '\r')
			n--;
		tmp[n] = 0;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)tmp[i] < 0x20 && tmp[i] != '\t')
				bad = true;
		if (bad) {
			ERR(lx, line, cur ? cur->label : NULL, NULL, "invalid control character");
			continue;
		}
		lex_line(lx, &cur, &skip, tmp, line);
	}
}

/* Apply the entries of one section to the struct at base. */
static void apply(struct lx *lx, struct lx_sect *s, int kind, void *base, struct rinfo *ri)
{
	char msg[512];

	for (size_t i = 0; i < s->n; i++) {
		const struct lx_entry *e = &s->e[i];
		const struct wbconf_key *k = wbconf_key_find(kind, e->key);
		int rc;

		if (!k) {
			const char *sug = wbconf_key_suggest(kind, e->key);
			const struct wbconf_key *other =
			    wbconf_key_find(S_GLOBAL | S_RES | S_NODE, e->key);

			if (sug)
				ERR(lx, e->line, s->label, e->key,
				    "unknown key (did you mean '%s'?)", sug);
			else if (other)
				ERR(lx, e->line, s->label, e->key,
				    "unknown key here: it belongs in a [%s] section",
				    other->sect == S_GLOBAL ? "global"
				    : other->sect == S_RES  ? "resource NAME"
							    : "node NAME");
			else
				ERR(lx, e->line, s->label, e->key, "unknown key");
			continue;
		}
		rc = wbconf_key_set(k, base, e->val, msg, sizeof(msg));
		if (rc == -ENOMEM)
			lx->oom = true;
		else if (rc)
			ERR(lx, e->line, s->label, e->key, "%s", msg);
		else if (ri) {
			ri->line[k - wbconf_keys] = e->line;
			ri->label[k - wbconf_keys] = s->label;
		}
	}
}

static void check_required(struct lx *lx, struct lx_sect *s, int kind, const void *base)
{
	for (size_t i = 0; i < wbconf_nkeys; i++) {
		const struct wbconf_key *k = &wbconf_keys[i];
		const void *f = (const char *)base + k->off;
		bool set;

		bool tried = false;

		if (k->sect != kind || !(k->flags & F_REQUIRED))
			continue;
		for (size_t j = 0; j < s->n; j++)
			tried = tried || !strcmp(s->e[j].key, k->name);
		if (tried)
			continue; /* set to a bad value: that error is enough */
		set = k->type == T_ADDR ? ((const struct wbconf_addr *)f)->host != NULL
					: *(char *const *)f != NULL;
		if (!set)
			ERR(lx, s->line, s->label, k->name, "missing required key%s",
			    k->type == T_ADDR	? " (host:port)"
			    : k->type == T_PATH ? " (a path)"
						: "");
	}
}

static void res_free(struct wbconf_resource *r)
{
	wbconf_sect_free(S_RES, r);
	free(r->name);
	for (size_t i = 0; i < r->nnodes; i++)
		free(r->nodes[i]);
	free(r->nodes);
}

void wbconf_free(struct wbconf *c)
{
	if (!c)
		return;
	wbconf_sect_free(S_GLOBAL, &c->global);
	for (size_t i = 0; i < c->nres; i++)
		res_free(&c->res[i]);
	for (size_t i = 0; i < c->nnodes; i++) {
		wbconf_sect_free(S_NODE, &c->nodes[i]);
		free(c->nodes[i].name);
	}
	free(c->res);
	free(c->nodes);
	free(c->path);
	free(c);
}

static bool hosts_overlap(const char *a, const char *b)
{
	static const char *const any[] = {"*", "0.0.0.0", "::"};

	for (size_t i = 0; i < 3; i++)
		if (!strcmp(a, any[i]) || !strcmp(b, any[i]))
			return true;
	return !strcmp(a, b);
}

static bool addr_clash(const struct wbconf_addr *a, const struct wbconf_addr *b)
{
	return a->host && b->host && a->port == b->port && hosts_overlap(a->host, b->host);
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/*
 * Do two device paths name the same device? Identity, not text: block
 * devices by st_rdev, anything else by st_dev + st_ino, after following
 * symlinks (`/x/./b.img`, `/x/b.img` and a link to it are one device). A
 * path that does not exist (yet, or on this host) is compared as text.
 * Partitions overlapping a whole disk are not detected.
 */
static bool same_device(const char *a, const char *b)
{
	struct stat sa, sb;

	if (!a || !b)
		return false;
	if (!strcmp(a, b))
		return true;
	if (stat(a, &sa) || stat(b, &sb))
		return false;
	if (S_ISBLK(sa.st_mode) || S_ISBLK(sb.st_mode))
		return S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode) && sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

#define KI(name) ((size_t)(wbconf_key_find(S_RES, name) - wbconf_keys))

/* Line and section label where key `name` of resource i was set (or its
 * section header when it has its default). */
static unsigned rline(const struct rinfo *ri, const char *name, const char **label)
{
	size_t k = KI(name);

	*label = ri->label[k] ? ri->label[k] : ri->sect_label;
	return ri->line[k] ? ri->line[k] : ri->sect_line;
}

/* A built-in engine, or a plugin file NAME.so in plugin-dir. */
static bool engine_known(const struct wbconf *c, const char *name)
{
	static const char *const builtin[] = {WBCONF_BUILTIN_ENGINES};
	char path[PATH_MAX];

	for (size_t i = 0; i < sizeof(builtin) / sizeof(builtin[0]); i++)
		if (!strcmp(name, builtin[i]))
			return true;
	if (!c->global.plugin_dir || snprintf(path, sizeof(path), "%s/%s.so", c->global.plugin_dir,
					      name) >= (int)sizeof(path))
		return false;
	return access(path, F_OK) == 0;
}

/* Clients on this host only: 127.0.0.0/8, ::1, localhost. */
static bool addr_loopback(const char *host)
{
	return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "localhost") ||
	       !strcmp(host, "[::1]");
}

/* Resource i on its own: watermarks, engine, cache mode, ack, its devices. */
static void check_res_engine(struct lx *lx, struct wbconf *c, size_t i, const struct rinfo *ri)
{
	struct wbconf_resource *r = &c->res[i];
	const char *lb;
	unsigned ln;

	if (r->destage_low_pct >= r->destage_high_pct) {
		ln = rline(&ri[i], ri[i].line[KI("destage-low")] ? "destage-low" : "destage-high",
			   &lb);
		ERR(lx, ln, lb, "destage-low",
		    "destage-low (%u%%) must be below destage-high (%u%%)", r->destage_low_pct,
		    r->destage_high_pct);
	}
	if (r->engine && !engine_known(c, r->engine)) {
		ln = rline(&ri[i], "engine", &lb);
		ERR(lx, ln, lb, "engine",
		    "unknown engine '%s': expected wblog, passthrough, ram or a plugin %s/%s.so",
		    r->engine, c->global.plugin_dir ? c->global.plugin_dir : "?", r->engine);
	}
	if (r->engine && !strcmp(r->engine, "passthrough")) {
		/* nothing is cached: the mode can only be write-through */
		if (r->cache_mode == WBCONF_CACHE_WRITEBACK && ri[i].line[KI("cache-mode")]) {
			ln = rline(&ri[i], "cache-mode", &lb);
			ERR(lx, ln, lb, "cache-mode",
			    "engine passthrough has no cache: it is always writethrough");
		}
		r->cache_mode = WBCONF_CACHE_WRITETHROUGH;
	}
	if (r->engine && !strcmp(r->engine, "wblog") && !r->log)
		ERR(lx, ri[i].sect_line, ri[i].sect_label, "log",
		    "missing required key (a path): engine wblog needs a log device");
	/* the built-in engines without a log ack when the backing write is
	 * done; ack = memory would silently mean nothing there */
	if (r->ack == WBCONF_ACK_MEMORY && r->engine &&
	    (!strcmp(r->engine, "passthrough") || !strcmp(r->engine, "ram"))) {
		ln = rline(&ri[i], "ack", &lb);
		ERR(lx, ln, lb, "ack", "ack = memory needs engine wblog (engine %s has no log)",
		    r->engine);
	}
	if (str_eq(r->backing, r->log)) {
		ln = rline(&ri[i], "log", &lb);
		ERR(lx, ln, lb, "log", "log and backing are the same path '%s'", r->log);
	} else if (same_device(r->backing, r->log)) {
		ln = rline(&ri[i], "log", &lb);
		ERR(lx, ln, lb, "log", "log '%s' and backing '%s' are the same device", r->log,
		    r->backing);
	}
}

/* Resource i and the nodes and network: peers, listeners, TLS. */
static void check_res_network(struct lx *lx, struct wbconf *c, size_t i, const struct rinfo *ri)
{
	struct wbconf_resource *r = &c->res[i];
	size_t nn = r->nnodes ? r->nnodes : c->nnodes; /* its nodes */
	const char *lb;
	unsigned ln;

	/* only when set explicitly: the default (1) on a one-node setup just
	 * means write-through, which is what a single node should do */
	if (nn && r->wb_min_peers > nn - 1 && ri[i].line[KI("wb-min-peers")]) {
		ln = rline(&ri[i], "wb-min-peers", &lb);
		ERR(lx, ln, lb, "wb-min-peers",
		    "%u peers can never be reached with %zu %s (at most %zu); the "
		    "resource would never run in write-back",
		    r->wb_min_peers, nn, r->nnodes ? "nodes in its nodes" : "[node] sections",
		    nn - 1);
	}
	if (wbconf_addr_set(&r->nbd_listen) &&
	    addr_clash(&r->nbd_listen, &c->global.metrics_listen)) {
		ln = rline(&ri[i], "nbd-listen", &lb);
		ERR(lx, ln, lb, "nbd-listen", "port %u is also [global] metrics-listen",
		    r->nbd_listen.port);
	}
	if (r->tls != WBCONF_TLS_OFF &&
	    (!c->global.tls_cert || !c->global.tls_key || !c->global.tls_ca)) {
		ln = rline(&ri[i], "tls", &lb);
		ERR(lx, ln, lb, "tls", "tls = %s needs [global] tls-cert, tls-key and tls-ca",
		    r->tls == WBCONF_TLS_REQUIRE ? "require" : "allow");
	}
	if (wbconf_addr_set(&r->nbd_listen) && !addr_loopback(r->nbd_listen.host) &&
	    r->tls != WBCONF_TLS_REQUIRE && !r->nbd_insecure) {
		ln = rline(&ri[i], "nbd-listen", &lb);
		ERR(lx, ln, lb, "nbd-listen",
		    "%s is not a loopback address: set tls = require (or nbd-insecure = yes to "
		    "serve plain NBD on the network)",
		    r->nbd_listen.host);
	}
}

/* Resource i against an earlier resource j: nothing of theirs shared. */
static void check_res_pair(struct lx *lx, struct wbconf *c, size_t i, size_t j,
			   const struct rinfo *ri)
{
	struct wbconf_resource *r = &c->res[i], *o = &c->res[j];
	const char *paths_i[2] = {r->backing, r->log}, *keys_i[2] = {"backing", "log"};
	const char *paths_j[2] = {o->backing, o->log};
	const char *lb;
	unsigned ln;

	if (addr_clash(&r->nbd_listen, &o->nbd_listen)) {
		ln = rline(&ri[i], "nbd-listen", &lb);
		ERR(lx, ln, lb, "nbd-listen", "%s:%u is already used by resource %s (line %u)",
		    r->nbd_listen.host, r->nbd_listen.port, o->name, ri[j].line[KI("nbd-listen")]);
	}
	if (str_eq(r->nbd_socket, o->nbd_socket)) {
		ln = rline(&ri[i], "nbd-socket", &lb);
		ERR(lx, ln, lb, "nbd-socket", "'%s' is already used by resource %s (line %u)",
		    r->nbd_socket, o->name, ri[j].line[KI("nbd-socket")]);
	}
	if (str_eq(r->ring, o->ring)) {
		ln = rline(&ri[i], "ring", &lb);
		ERR(lx, ln, lb, "ring", "ring '%s' is already used by resource %s (line %u)",
		    r->ring, o->name, ri[j].line[KI("ring")]);
	}
	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 2; b++)
			if (str_eq(paths_i[a], paths_j[b])) {
				ln = rline(&ri[i], keys_i[a], &lb);
				ERR(lx, ln, lb, keys_i[a], "'%s' is already the %s of resource %s",
				    paths_i[a], b ? "log" : "backing", o->name);
			} else if (same_device(paths_i[a], paths_j[b])) {
				ln = rline(&ri[i], keys_i[a], &lb);
				ERR(lx, ln, lb, keys_i[a],
				    "'%s' is the same device as '%s', the %s of resource "
				    "%s",
				    paths_i[a], paths_j[b], b ? "log" : "backing", o->name);
			}
}

/* resync-after: another resource of this file, and no cycle through it
 * (a cycle that does not come back to i is reported at its own members) */
static void check_res_after(struct lx *lx, const struct wbconf *c, size_t i, const struct rinfo *ri)
{
	const char *lb;
	unsigned ln;
	size_t k = i;

	if (!c->res[i].resync_after)
		return;
	ln = rline(&ri[i], "resync-after", &lb);
	for (size_t hops = 0; hops <= c->nres && c->res[k].resync_after; hops++) {
		size_t j = 0;

		while (j < c->nres && strcmp(c->res[j].name, c->res[k].resync_after))
			j++;
		if (j == c->nres) {
			if (k == i)
				ERR(lx, ln, lb, "resync-after",
				    "there is no [resource %s] in this file",
				    c->res[i].resync_after);
			return;
		}
		if (j == i) {
			if (k == i)
				ERR(lx, ln, lb, "resync-after", "names its own resource");
			else
				ERR(lx, ln, lb, "resync-after",
				    "a cycle: %s waits for itself through %s", c->res[i].name,
				    c->res[i].resync_after);
			return;
		}
		k = j;
	}
}

static void check_resource(struct lx *lx, struct wbconf *c, size_t i, const struct rinfo *ri)
{
	check_res_engine(lx, c, i, ri);
	check_res_network(lx, c, i, ri);
	check_res_after(lx, c, i, ri);
	for (size_t j = 0; j < i; j++)
		check_res_pair(lx, c, i, j, ri);
}

static void check_nodes(struct lx *lx, struct wbconf *c, bool explicit_node, unsigned global_line)
{
	struct wbconf_global *g = &c->global;

	for (size_t i = 0; i < c->nnodes; i++) {
		struct wbconf_node *n = &c->nodes[i];
		char label[80];

		snprintf(label, sizeof(label), "node %s", n->name);
		for (size_t j = 0; j < i; j++) {
			struct wbconf_node *o = &c->nodes[j];

			if (n->node_id && n->node_id == o->node_id)
				ERR(lx, n->line, label, "node-id",
				    "node-id %u is already used by node %s", n->node_id, o->name);
			if (n->address.host && o->address.host &&
			    n->address.port == o->address.port &&
			    !strcmp(n->address.host, o->address.host))
				ERR(lx, n->line, label, "address",
				    "address is already used by node %s", o->name);
		}
	}
	if (c->nnodes && explicit_node && !wbconf_node_find(c, g->node_name))
		ERR(lx, global_line, "global", "node-name",
		    "this node '%s' has no [node %s] section", g->node_name, g->node_name);
	if (c->nnodes >= 2 && g->transport == WBCONF_TRANSPORT_TLS) {
		const char *k[3] = {"tls-cert", "tls-key", "tls-ca"};
		const char *v[3] = {g->tls_cert, g->tls_key, g->tls_ca};

		for (int i = 0; i < 3; i++)
			if (!v[i])
				ERR(lx, global_line, "global", k[i],
				    "missing: transport tls (the default) between %zu nodes needs "
				    "tls-cert, tls-key and tls-ca (or transport = plain)",
				    c->nnodes);
	}
}

static int count_kind(struct lx *lx, int kind, bool overrides)
{
	int n = 0;

	for (size_t i = 0; i < lx->n; i++)
		if (lx->s[i].kind == kind && (!!lx->s[i].node == overrides))
			n++;
	return n;
}

/* [global] on its defaults; node-name from the caller, the file or the
 * host name. *explicit_node: the name was given, not guessed. */
static int build_global(struct lx *lx, struct lx_sect *gs, struct wbconf *c, const char *node_name,
			bool *explicit_node)
{
	*explicit_node = node_name != NULL;
	if (wbconf_sect_defaults(S_GLOBAL, &c->global))
		return -ENOMEM;
	if (gs)
		apply(lx, gs, S_GLOBAL, &c->global, NULL);
	if (c->global.node_name)
		*explicit_node = true;
	if (node_name || !c->global.node_name) {
		char host[256] = "localhost";

		if (!node_name) {
			if (gethostname(host, sizeof(host) - 1) || !wbconf_name_ok(host))
				strcpy(host, "localhost");
			node_name = host;
		}
		free(c->global.node_name);
		c->global.node_name = strdup(node_name);
		if (!c->global.node_name)
			return -ENOMEM;
	}
	return 0;
}

/* Every [node] section into c->nodes (allocated for all of them). */
static int build_nodes(struct lx *lx, struct wbconf *c)
{
	for (size_t i = 0; i < lx->n; i++) {
		struct lx_sect *s = &lx->s[i];
		struct wbconf_node *n;

		if (s->kind != S_NODE)
			continue;
		n = &c->nodes[c->nnodes++];
		n->name = strdup(s->name);
		n->line = s->line;
		if (!n->name || wbconf_sect_defaults(S_NODE, n))
			return -ENOMEM;
		apply(lx, s, S_NODE, n, NULL);
		check_required(lx, s, S_NODE, n);
	}
	return 0;
}

/* The [resource NAME on NODE] sections of resource section s: applied to r
 * for this node, validated (on a scratch copy) for the others. */
static void apply_overrides(struct lx *lx, const struct lx_sect *s, struct wbconf *c,
			    struct wbconf_resource *r, struct rinfo *rr)
{
	for (size_t j = 0; j < lx->n; j++) {
		struct lx_sect *o = &lx->s[j];

		if (o->kind != S_RES || !o->node || strcmp(o->name, s->name))
			continue;
		o->used = true;
		if (!strcmp(o->node, c->global.node_name)) {
			apply(lx, o, S_RES, r, rr);
		} else {
			struct wbconf_resource scratch = {0};

			apply(lx, o, S_RES, &scratch, NULL);
			wbconf_sect_free(S_RES, &scratch);
		}
	}
}

/* Every [resource] section, with its overrides for this node, into c->res
 * and where each key was set into ri (both allocated for all of them). */
static int build_resources(struct lx *lx, struct wbconf *c, struct rinfo *ri)
{
	for (size_t i = 0; i < lx->n; i++) {
		struct lx_sect *s = &lx->s[i];
		struct wbconf_resource *r;
		struct rinfo *rr;

		if (s->kind != S_RES || s->node)
			continue;
		rr = &ri[c->nres];
		r = &c->res[c->nres++];
		r->name = strdup(s->name);
		r->line = s->line;
		rr->sect_line = s->line;
		rr->sect_label = s->label;
		if (!r->name || wbconf_sect_defaults(S_RES, r))
			return -ENOMEM;
		apply(lx, s, S_RES, r, rr);
		apply_overrides(lx, s, c, r, rr);
		check_required(lx, s, S_RES, r);
	}
	return 0;
}

/* An override section names a resource and a node that exist. */
static void check_overrides(struct lx *lx, struct wbconf *c)
{
	for (size_t i = 0; i < lx->n; i++) {
		struct lx_sect *s = &lx->s[i];

		if (s->kind != S_RES || !s->node)
			continue;
		if (!s->used)
			ERR(lx, s->line, s->label, NULL,
			    "overrides resource '%s', which has no "
			    "[resource %s] section",
			    s->name, s->name);
		if (!wbconf_node_find(c, s->node))
			ERR(lx, s->line, s->label, NULL, "node '%s' has no [node %s] section",
			    s->node, s->node);
	}
}

bool wbconf_res_on_node(const struct wbconf_resource *r, const char *name)
{
	if (!r->nnodes)
		return true;
	for (size_t i = 0; i < r->nnodes; i++)
		if (name && !strcmp(r->nodes[i], name))
			return true;
	return false;
}

/* "nodes" of resource r into r->nodes: [node] names, comma or space
 * separated, each once. false: refused (an error each). */
static bool parse_res_nodes(struct lx *lx, struct wbconf *c, struct wbconf_resource *r,
			    const struct rinfo *ri)
{
	char *dup, *save = NULL, *tok;
	const char *lb;
	unsigned ln;
	bool ok = true;

	if (!r->nodes_value)
		return true;
	ln = rline(ri, "nodes", &lb);
	if (!c->nnodes) {
		ERR(lx, ln, lb, "nodes",
		    "no [node] sections: a resource of one node needs no nodes");
		return false;
	}
	dup = strdup(r->nodes_value);
	r->nodes = calloc(c->nnodes + 1, sizeof(*r->nodes));
	if (!dup || !r->nodes) {
		free(dup);
		lx->oom = true;
		return false;
	}
	for (tok = strtok_r(dup, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		if (!wbconf_node_find(c, tok)) {
			ERR(lx, ln, lb, "nodes", "'%s' has no [node %s] section", tok, tok);
			ok = false;
		} else if (wbconf_res_on_node(r, tok) && r->nnodes) {
			ERR(lx, ln, lb, "nodes", "'%s' is listed twice", tok);
			ok = false;
		} else if (!(r->nodes[r->nnodes++] = strdup(tok))) {
			lx->oom = true;
			ok = false;
			break;
		}
	}
	free(dup);
	if (ok && !r->nnodes) {
		ERR(lx, ln, lb, "nodes", "empty: name the [node] sections it lives on");
		ok = false;
	}
	return ok;
}

/* Resources whose "nodes" leave out this node live elsewhere: out of
 * c->res (and ri), counted. */
static void drop_elsewhere(struct lx *lx, struct wbconf *c, struct rinfo *ri)
{
	size_t k = 0;

	for (size_t i = 0; i < c->nres; i++) {
		struct wbconf_resource *r = &c->res[i];

		if (parse_res_nodes(lx, c, r, &ri[i]) &&
		    !wbconf_res_on_node(r, c->global.node_name)) {
			res_free(r);
			c->nres_elsewhere++;
			continue;
		}
		if (k != i) {
			c->res[k] = *r;
			ri[k] = ri[i];
		}
		k++;
	}
	c->nres = k;
}

static void build(struct lx *lx, struct wbconf *c, const char *node_name)
{
	struct lx_sect *gs = sect_lookup(lx, S_GLOBAL, NULL, NULL);
	bool explicit_node;
	struct rinfo *ri = NULL;
	int nres = count_kind(lx, S_RES, false), nnodes = count_kind(lx, S_NODE, false);

	if (build_global(lx, gs, c, node_name, &explicit_node))
		goto out_oom;
	c->nodes = calloc((size_t)nnodes + 1, sizeof(*c->nodes));
	c->res = calloc((size_t)nres + 1, sizeof(*c->res));
	ri = calloc((size_t)nres + 1, sizeof(*ri));
	if (!c->nodes || !c->res || !ri || build_nodes(lx, c) || build_resources(lx, c, ri))
		goto out_oom;
	check_overrides(lx, c);
	drop_elsewhere(lx, c, ri);
	for (size_t i = 0; i < c->nres; i++)
		check_resource(lx, c, i, ri);
	check_nodes(lx, c, explicit_node, gs ? gs->line : 0);
	free(ri);
	return;
out_oom:
	free(ri);
	lx->oom = true;
}

/* Stable sort of the errors of this parse by line (insertion sort, the
 * list is bounded by WBCONF_MAX_ERRORS); line 0 (file-level) stays first. */
static void sort_errors(struct wbconf_errors *e, size_t from)
{
	for (size_t i = from + 1; i < e->n; i++) {
		struct wbconf_error t = e->v[i];
		size_t j = i;

		while (j > from && e->v[j - 1].line > t.line) {
			e->v[j] = e->v[j - 1];
			j--;
		}
		e->v[j] = t;
	}
}

int wbconf_parse_buf(const char *buf, size_t len, const char *fname, const char *node_name,
		     struct wbconf **out, struct wbconf_errors *errs)
{
	struct wbconf_errors local = {0};
	struct lx lx = {.file = fname ? fname : "<config>", .errs = errs ? errs : &local};
	size_t nerr0 = lx.errs->n + lx.errs->dropped;
	struct wbconf *c;
	int rc = 0;

	*out = NULL;
	if (node_name && !wbconf_name_ok(node_name)) {
		ERR(&lx, 0, NULL, "node-name", "invalid node name '%.64s'", node_name);
		rc = -EINVAL;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(lx.file))) {
		free(c);
		rc = -ENOMEM;
		goto out;
	}
	lex(&lx, buf, len);
	if (!lx.oom)
		build(&lx, c, node_name);
	if (lx.oom) {
		ERR(&lx, 0, NULL, NULL, "out of memory");
		rc = -ENOMEM;
	} else if (lx.errs->n + lx.errs->dropped != nerr0) {
		rc = -EINVAL;
	}
	if (rc)
		wbconf_free(c);
	else
		*out = c;
	sort_errors(lx.errs, nerr0);
out:
	lx_free(&lx);
	wbconf_errors_free(&local);
	return rc;
}

int wbconf_load(const char *path, const char *node_name, struct wbconf **out,
		struct wbconf_errors *errs)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		wbconf_err_add(errs, path, 0, NULL, NULL, "cannot open: %s", strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st)) {
		rc = -errno;
		wbconf_err_add(errs, path, 0, NULL, NULL, "cannot stat: %s", strerror(-rc));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > WBCONF_MAX_FILE) {
		rc = S_ISDIR(st.st_mode) ? -EISDIR : -EFBIG;
		wbconf_err_add(errs, path, 0, NULL, NULL, "not a regular file of at most %u bytes",
			       WBCONF_MAX_FILE);
		goto out_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out_close;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	rc = wbconf_parse_buf(buf, got, path, node_name, out, errs);
out_close:
	free(buf);
	close(fd);
	return rc;
}

const struct wbconf_resource *wbconf_resource_find(const struct wbconf *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->nres; i++)
		if (!strcmp(c->res[i].name, name))
			return &c->res[i];
	return NULL;
}

const struct wbconf_node *wbconf_node_find(const struct wbconf *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->nnodes; i++)
		if (!strcmp(c->nodes[i].name, name))
			return &c->nodes[i];
	return NULL;
}

/* Is the field of key k equal in the section structs a and b? */
static bool key_same(const struct wbconf_key *k, const void *old, const void *nw)
{
	const void *a = (const char *)old + k->off, *b = (const char *)nw + k->off;

	switch (k->type) {
	case T_STR:
	case T_PATH:
	case T_NAME: {
		const char *x = *(char *const *)a, *y = *(char *const *)b;

		return !x == !y && (!x || !strcmp(x, y));
	}
	case T_ADDR: {
		const struct wbconf_addr *x = a, *y = b;

		return !x->host == !y->host && x->port == y->port &&
		       (!x->host || !strcmp(x->host, y->host));
	}
	case T_ENUM:
		return k->width == sizeof(int)
			   ? *(const int *)a == *(const int *)b
			   : wbconf_get_uint(a, k->width) == wbconf_get_uint(b, k->width);
	default:
		return wbconf_get_uint(a, k->width) == wbconf_get_uint(b, k->width);
	}
}

const struct wbconf_key *wbconf_sect_fixed_change(int sect, const void *old, const void *nw)
{
	for (size_t i = 0; i < wbconf_nkeys; i++) {
		const struct wbconf_key *k = &wbconf_keys[i];

		if (k->sect == sect && !(k->flags & F_RELOAD) && !key_same(k, old, nw))
			return k;
	}
	return NULL;
}

int wbconf_global_reload_check(const struct wbconf_global *old, const struct wbconf_global *nw,
			       char *err, size_t errlen)
{
	const struct wbconf_key *k = wbconf_sect_fixed_change(S_GLOBAL, old, nw);

	if (!k)
		return 0;
	snprintf(err, errlen, "[global] %s changed; it only takes effect after a restart of wbrepd",
		 k->name);
	return -EBUSY;
}

int wbconf_nodes_reload_check(const struct wbconf *old, const struct wbconf *nw, char *err,
			      size_t errlen)
{
	const struct wbconf_key *k;

	/* the nodes that stay keep their keys but the address (docs/
	 * configuration.md, "Changing an address"), in any order (a peer's
	 * bitmap slot goes by its name, daemon/repl.c repl_assign_slots); a
	 * node may go (not this one: "Removing a node") and new ones come
	 * ("Adding a node") */
	for (size_t i = 0; i < old->nnodes; i++) {
		const struct wbconf_node *o = &old->nodes[i], *n = wbconf_node_find(nw, o->name);

		if (!n) {
			if (nw->global.node_name && !strcmp(o->name, nw->global.node_name)) {
				snprintf(err, errlen,
					 "[node %s] (this node) was removed; that needs a restart "
					 "of wbrepd",
					 o->name);
				return -EBUSY;
			}
			continue;
		}
		k = wbconf_sect_fixed_change(S_NODE, o, n);
		if (k) {
			snprintf(
			    err, errlen,
			    "[node %s] %s changed; it only takes effect after a restart of wbrepd",
			    old->nodes[i].name, k->name);
			return -EBUSY;
		}
	}
	return 0;
}

bool wbconf_node_added(const struct wbconf *old, const char *name)
{
	return name && !wbconf_node_find(old, name);
}

/* A resource's nodes ("nodes"): the same, or more that are nodes this
 * reload adds (each takes a free bitmap slot), or fewer that are
 * nodes it removes (nc: the new configuration; NULL: none removed). */
static int nodes_key_check(const struct wbconf *oc, const struct wbconf *nc,
			   const struct wbconf_resource *old, const struct wbconf_resource *nw,
			   char *err, size_t errlen)
{
	for (size_t i = 0; i < oc->nnodes; i++)
		if ((!nc || wbconf_node_find(nc, oc->nodes[i].name)) &&
		    wbconf_res_on_node(old, oc->nodes[i].name) !=
			wbconf_res_on_node(nw, oc->nodes[i].name)) {
			snprintf(err, errlen,
				 "resource %s: 'nodes' changed for node %s, which was there "
				 "before; that only takes effect after a restart of wbrepd (a "
				 "reload adds new nodes only)",
				 old->name, oc->nodes[i].name);
			return -EBUSY;
		}
	return 0;
}

int wbconf_resource_reload_check(const struct wbconf *oc, const struct wbconf *nc,
				 const struct wbconf_resource *old,
				 const struct wbconf_resource *nw, char *err, size_t errlen)
{
	const struct wbconf_key *k = wbconf_sect_fixed_change(S_RES, old, nw);

	if (!k)
		return oc ? nodes_key_check(oc, nc, old, nw, err, errlen) : 0;
	/* the reload is refused as a whole, so a down/up of the resource
	 * would still use the old value */
	snprintf(err, errlen,
		 "resource %s: '%s' changed; that only takes effect after a restart of wbrepd",
		 old->name, k->name);
	return -EBUSY;
}

bool wbconf_on_this_host(const struct wbconf *c)
{
	char host[256] = "";

	if (gethostname(host, sizeof(host) - 1))
		return false;
	return c->global.node_name && !strcmp(c->global.node_name, host);
}

static void check_path(const struct wbconf *c, const struct wbconf_resource *r, const char *key,
		       const char *path, struct wbconf_errors *errs, int *rc)
{
	char sect[WBCONF_NAME_MAX + 16];
	struct stat st;

	if (!path)
		return;
	snprintf(sect, sizeof(sect), "resource %s", r->name);
	if (stat(path, &st)) {
		wbconf_err_add(errs, c->path, r->line, sect, key, "'%s': %s (on node %s)", path,
			       strerror(errno), c->global.node_name);
		*rc = -EINVAL;
	} else if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
		wbconf_err_add(errs, c->path, r->line, sect, key,
			       "'%s' is neither a block device nor a regular file", path);
		*rc = -EINVAL;
	}
}

int wbconf_check_devices(const struct wbconf *c, struct wbconf_errors *errs)
{
	int rc = 0;

	for (size_t i = 0; i < c->nres; i++) {
		check_path(c, &c->res[i], "backing", c->res[i].backing, errs, &rc);
		check_path(c, &c->res[i], "log", c->res[i].log, errs, &rc);
	}
	return rc;
}
