// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbctl_status.c - `wbctl status` and `wbctl show`: the human rendering
 * (for people, may change), its verbose part (the settings in force and
 * whether the configuration file on disk still matches them) and the JSON
 * rendering (a stable schema, docs/wbctl.md: keys are only ever added), in
 * one shot or every --interval seconds with a timestamp per frame.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/wbctl.h"

static const char *s_or(const char *s, const char *def)
{
	return s && *s ? s : def;
}

static bool is_state(const Wbrep__ResourceStatus *r, const char *st)
{
	return r->state && !strcmp(r->state, st);
}

/* "idle" (nothing moved in the last seconds), "running", or "stopped"
 * (the engine failed) */
static const char *destage_state(const Wbrep__ResourceStatus *r)
{
	if (r->engine_state)
		return "stopped";
	return r->destage_rate ? "running" : "idle";
}

/* ---- human ----------------------------------------------------------------- */

static void print_settings(const Wbrep__ResourceStatus *r)
{
	const Wbrep__ResourceSettings *c = r->settings;
	char a[32], b[32], d[32];

	if (!c)
		return;
	printf("  settings   engine %s, cache-mode %s, ack %s%s%s\n", s_or(r->engine, "?"),
	       s_or(r->cache_mode, "?"), s_or(c->ack, "?"),
	       c->engine_options ? ", engine-options " : "", s_or(c->engine_options, ""));
	printf("  backing    %s\n", s_or(c->backing, "-"));
	wbconf_fmt_size(c->log_segment, a, sizeof(a));
	if (c->log)
		printf("  log-device %s (log-segment %s, used when it is formatted)\n", c->log, a);
	else
		printf("  log-device none\n");
	wbconf_fmt_size(c->destage_min_rate, a, sizeof(a));
	wbctl_ms(c->gen_max_interval_ms, b, sizeof(b));
	printf("  destage    low %u%%, high %u%%, min-rate %s/s; generation at least every %s\n",
	       c->destage_low_pct, c->destage_high_pct, a, c->gen_max_interval_ms ? b : "-");
	wbconf_fmt_size(c->ram_buffer, d, sizeof(d));
	printf("  ram-buffer %s, log-commit %ums (ack memory), auto-up %s\n", d, c->log_commit_ms,
	       c->auto_up ? "yes" : "no");
	printf("  frontends  nbd-socket %s, nbd-listen %s, ring %s\n", s_or(c->nbd_socket, "-"),
	       s_or(c->nbd_listen, "-"), s_or(c->ring, "-"));
}

/* part of whole in percent; none when whole is 0 */
static unsigned long long pct_of(uint64_t part, uint64_t whole, unsigned long long none)
{
	return whole ? (unsigned long long)(part * 100 / whole) : none;
}

/* Replication, like drbdadm status: this node's disk, then one line per
 * peer (connection, role, disk, replication state, lag). */
static void print_repl(const Wbrep__ResourceStatus *r)
{
	if (!r->disk_state)
		return;
	printf("  disk       %s", r->disk_state);
	if (r->disk_reason)
		printf(" (%s)", r->disk_reason);
	if (r->has_data_uuid) {
		printf(", data uuid ");
		for (size_t i = 0; i < r->data_uuid.len && i < 8; i++)
			printf("%02x", r->data_uuid.data[i]);
	}
	if (r->sync_paused)
		printf(", resyncs paused (wbctl resume-sync)");
	printf("\n");
	for (size_t i = 0; i < r->n_peers; i++) {
		const Wbrep__PeerStatus *p = r->peers[i];

		printf("  peer %-6s %s", p->node, s_or(p->connection, "?"));
		if (p->connection && !strcmp(p->connection, "Connected")) {
			printf(" role:%s disk:%s replication:%s", s_or(p->role, "?"),
			       s_or(p->disk, "?"), s_or(p->replication, "?"));
			if (p->has_seq_lag)
				printf(" lag:%lld", (long long)p->seq_lag);
		}
		if (p->has_out_of_sync_bytes)
			printf(" out-of-sync:%llu", (unsigned long long)p->out_of_sync_bytes);
		/* the log held for a peer that is away (a connected one's is
		 * about its lag) */
		if (p->has_log_kept_records && p->log_kept_records &&
		    (!p->connection || strcmp(p->connection, "Connected")))
			printf(" log-kept:%llu", (unsigned long long)p->log_kept_records);
		/* its certificate, when near its end (it must renew it) */
		if (p->has_cert_not_after) {
			long long left = ((long long)p->cert_not_after - (long long)time(NULL));

			if (left < 0)
				printf(" CERT-EXPIRED");
			else if (left < WBCONF_TLS_WARN_DAYS * 86400LL)
				printf(" cert-expires-in:%lldd", left / 86400);
		}
		if (p->has_resync_total_bytes) {
			char d[32], t[32], rt[32];

			wbconf_fmt_size(p->resync_done_bytes, d, sizeof(d));
			wbconf_fmt_size(p->resync_total_bytes, t, sizeof(t));
			wbconf_fmt_size(p->resync_rate, rt, sizeof(rt));
			printf("\n    resync %s of %s (%llu%%), %s/s", d, t,
			       pct_of(p->resync_done_bytes, p->resync_total_bytes, 100), rt);
			if (p->resync_paused)
				printf(", paused by wbctl pause-sync on %s",
				       r->sync_paused && p->peer_sync_paused ? "both nodes"
				       : r->sync_paused			     ? "this node"
									     : p->node);
			else if (p->resync_after)
				printf(", waiting for the resync of %s (resync-after)",
				       p->resync_after);
			else if (p->resync_hook)
				printf(", waiting for before-resync-target (the log drains first)");
			else
				printf(", eta %llu s%s",
				       (unsigned long long)(p->resync_eta_ms + 999) / 1000,
				       p->resync_throttled
					   ? ", throttled to c-min-rate (application writes)"
					   : "");
			/* the target's delay controller (c-delay-target) */
			if (p->has_resync_window_bytes) {
				char w[32];

				wbconf_fmt_size(p->resync_window_bytes, w, sizeof(w));
				printf(", window %s, queue %llu.%llu ms", w,
				       (unsigned long long)p->resync_queue_us / 1000,
				       (unsigned long long)p->resync_queue_us % 1000 / 100);
			}
		}
		if (p->has_send_queue_bytes && (p->congested || p->send_queue_bytes)) {
			char q[32], m[32];

			wbconf_fmt_size(p->send_queue_bytes, q, sizeof(q));
			wbconf_fmt_size(p->send_queue_max_bytes, m, sizeof(m));
			printf("\n    send queue %s of %s (%llu%%)%s", q, m,
			       pct_of(p->send_queue_bytes, p->send_queue_max_bytes, 0),
			       p->congested ? ", congested: write-back waits for this peer" : "");
		}
		printf("\n");
		if (p->problem)
			printf("    refused: %s\n", p->problem);
		if (p->verify_state) {
			char a[32], b[32], c[32];

			wbconf_fmt_size(p->verify_oos_bytes, a, sizeof(a));
			wbconf_fmt_size(p->verify_compared_bytes, b, sizeof(b));
			wbconf_fmt_size(p->verify_skipped_bytes, c, sizeof(c));
			printf("    verify: %s, %llu blocks (%s) out of sync%s, %s compared, %s "
			       "skipped\n",
			       p->verify_state, (unsigned long long)p->verify_oos_bytes / 4096, a,
			       wbctl_unreadable(p->verify_unreadable_bytes), b, c);
		}
	}
	for (size_t i = 0; i < r->n_removed_peers; i++)
		printf("  removed %-6s (by a reload; its bitmap slot is kept until the "
		       "resource's next up)\n",
		       r->removed_peers[i]);
	if (r->verify_state) {
		char a[32], b[32], c[32];

		wbconf_fmt_size(r->verify_done_bytes, a, sizeof(a));
		wbconf_fmt_size(r->verify_total_bytes, b, sizeof(b));
		wbconf_fmt_size(r->verify_rate, c, sizeof(c));
		printf("  verify     %s %llu%% (%s of %s), %s/s", r->verify_state,
		       pct_of(r->verify_done_bytes, r->verify_total_bytes, 100), a, b, c);
		if (!strcmp(r->verify_state, "running")) {
			wbctl_ms(r->verify_eta_ms, a, sizeof(a));
			printf(", ETA %s", a);
		}
		printf("\n");
	}
}

static void print_human(const Wbrep__ResourceStatus *r, bool verbose)
{
	char a[32], b[32], c[32], pb[64], mode[64];
	unsigned pct = r->log_size ? (unsigned)(r->log_used * 100 / r->log_size) : 0;
	bool failed = is_state(r, "failed"), open;

	snprintf(mode, sizeof(mode), "%s%s%s", s_or(r->mode, "?"),
		 r->mode_forced ? " [forced]" : "", r->draining ? ", draining" : "");
	printf("%s: %s, %s, %s (engine %s)\n", r->name, s_or(r->state, "?"), s_or(r->role, "?"),
	       mode, s_or(r->engine, "?"));
	/* mode "-": the engine is not open (down, or its up failed) */
	open = r->mode && strcmp(r->mode, "-");
	if (failed) {
		printf("  reason     %s\n", s_or(r->reason, "unknown (see the wbrepd log)"));
		if (open)
			printf("  recover    wbctl down %s, fix the cause, wbctl up %s "
			       "(docs/daemon.md, \"A failed resource\")\n",
			       r->name, r->name);
		else
			printf("  recover    fix the cause, then wbctl up %s "
			       "(docs/daemon.md, \"A failed resource\")\n",
			       r->name);
	}
	if (open && r->mode_reason)
		printf("  why        %s%s (%llu mode changes)\n",
		       r->suspended ? "I/O suspended: " : "", r->mode_reason,
		       (unsigned long long)r->mode_changes);
	if (!open) {
		if (!failed)
			printf("  (engine not open: no statistics; 'wbctl up %s' starts it)\n",
			       r->name);
		if (verbose)
			print_settings(r);
		return;
	}
	wbconf_fmt_size(r->size, a, sizeof(a));
	printf("  size       %s\n", a);
	if (r->log_size) {
		wbctl_bar(r->log_used, r->log_size, pb, 30);
		wbconf_fmt_size(r->log_used, a, sizeof(a));
		wbconf_fmt_size(r->log_size, b, sizeof(b));
		printf("  log        %s %3u%%  %s of %s\n", pb, pct, a, b);
	} else {
		printf("  log        none\n");
	}
	wbconf_fmt_size(r->dirty_bytes, a, sizeof(a));
	if (r->engine_state) {
		printf("  dirty      %s dirty, destage stopped (engine failed)\n", a);
	} else if (!r->dirty_bytes) {
		printf("  dirty      clean%s\n", r->destage_rate ? "" : ", destage idle");
	} else if (r->destage_rate) {
		wbconf_fmt_size(r->destage_rate, b, sizeof(b));
		wbctl_ms(r->destage_eta_ms, c, sizeof(c));
		printf("  dirty      %s dirty, %s at %s/s, ETA %s\n", a,
		       r->draining ? "draining" : "destaging", b, c);
	} else {
		printf("  dirty      %s dirty, destage idle\n", a);
	}
	printf("  generation head %llu, durable %llu, oldest %llu\n",
	       (unsigned long long)r->gen_head, (unsigned long long)r->gen_durable,
	       (unsigned long long)r->gen_oldest);
	if (r->n_snapshots) { /* open snapshots (wbctl snapshots: the details) */
		printf("  snapshots ");
		for (size_t i = 0; i < r->n_snapshots; i++)
			printf("%s %s (%u client%s)", i ? "," : "", r->snapshots[i]->export,
			       (unsigned)r->snapshots[i]->nbd_clients,
			       r->snapshots[i]->nbd_clients == 1 ? "" : "s");
		printf("\n");
	}
	printf("  seq        head %llu, tail %llu\n", (unsigned long long)r->seq_head,
	       (unsigned long long)r->seq_tail);
	wbconf_fmt_size(r->ram_pages_used * 4096, a, sizeof(a));
	wbconf_fmt_size(r->ram_pages_total * 4096, b, sizeof(b));
	printf("  ram        %s of %s (%llu/%llu pages)\n", a, b,
	       (unsigned long long)r->ram_pages_used, (unsigned long long)r->ram_pages_total);
	wbconf_fmt_size(r->extent_mem_bytes, a, sizeof(a));
	printf("  extents    %llu (%s)\n", (unsigned long long)r->extents, a);
	wbconf_fmt_size(r->bytes_read, a, sizeof(a));
	wbconf_fmt_size(r->bytes_written, b, sizeof(b));
	printf("  io         %llu reads (%s), %llu writes (%s), %llu flushes, %llu discards\n",
	       (unsigned long long)r->reads, a, (unsigned long long)r->writes, b,
	       (unsigned long long)r->flushes, (unsigned long long)r->discards);
	if (r->read_errors) {
		wbconf_fmt_size(r->read_repaired_bytes, a, sizeof(a));
		printf("  READ ERRORS %llu on this node's disks, %llu served by peers, %s "
		       "written back\n",
		       (unsigned long long)r->read_errors, (unsigned long long)r->reads_from_peers,
		       a);
	}
	wbconf_fmt_size(r->destaged_bytes, a, sizeof(a));
	printf("  destaged   %s total, %llu throttle events\n", a,
	       (unsigned long long)r->throttle_events);
	printf("  clients    %u nbd, peers %u/%u connected\n", r->nbd_clients, r->peers_connected,
	       r->peers_total);
	print_repl(r);
	if (verbose)
		print_settings(r);
}

/* "cluster corosync: quorate, 3 members: n1(1) n2(2) n3(3)" ([global]
 * cluster set only) */
static void print_cluster(const Wbrep__StatusReply *st)
{
	if (!st || !st->cluster)
		return;
	printf("cluster    %s: %s, %zu members:", st->cluster,
	       !st->cluster_connected ? "not connected, not quorate"
	       : st->quorate	      ? "quorate"
				      : "not quorate",
	       st->n_member_ids);
	for (size_t i = 0; i < st->n_member_ids; i++)
		printf(" %s(%u)", i < st->n_member_names ? st->member_names[i] : "?",
		       st->member_ids[i]);
	printf("\n");
	/* the wbrepd processes in the CPG group and what each announced */
	for (size_t i = 0; i < st->n_group; i++) {
		const Wbrep__CpgMember *g = st->group[i];
		const Wbrep__CpgState *s = g->state;

		printf("  group    %s (node %u, pid %u)%s", s ? s->node : "?", g->nodeid, g->pid,
		       s ? ":" : ": no state yet");
		for (size_t k = 0; s && k < s->n_resources; k++) {
			const Wbrep__CpgResource *r = s->resources[k];

			printf("%s %s %s", k ? "," : "", r->name,
			       !r->up	    ? "down"
			       : r->primary ? "primary"
					    : "secondary");
			if (r->up && r->disk)
				printf(" %s", r->disk);
			if (r->up)
				printf(" seq %llu", (unsigned long long)r->seq);
		}
		printf("\n");
	}
	printf("\n");
}

static void print_config_state(const Wbrep__StatusReply *st)
{
	if (!st->config_path)
		return;
	if (st->config_differs)
		printf(
		    "\nconfig %s: the file on disk differs from the configuration in force%s%s\n",
		    st->config_path, st->reload_error ? "; last reload refused: " : "",
		    s_or(st->reload_error, " ('wbctl reload' applies it)"));
	else
		printf("\nconfig %s: in force%s%s\n", st->config_path,
		       st->reload_error ? "; last reload refused: " : "",
		       s_or(st->reload_error, ""));
}

/* The certificate this node presents: with -v always, else only when it
 * expired, is not valid yet or expires within WBCONF_TLS_WARN_DAYS. */
static void print_tls(const Wbrep__StatusReply *st, bool verbose)
{
	const Wbrep__TlsCert *t = st ? st->tls : NULL;
	char until[40] = "?";
	time_t na, now = time(NULL);
	struct tm tm;
	long long left;

	if (!t)
		return;
	na = (time_t)t->not_after;
	left = ((long long)na - (long long)now) / 86400;
	if (gmtime_r(&na, &tm))
		strftime(until, sizeof(until), "%Y-%m-%d %H:%M UTC", &tm);
	if (na < now)
		printf("\ntls %s: EXPIRED on %s: peers refuse new connections from this node; "
		       "renew it (same paths) and wbctl reload\n",
		       s_or(t->path, "?"), until);
	else if (t->not_before > (int64_t)now)
		printf("\ntls %s: NOT VALID YET (from %lld): peers refuse new connections from "
		       "this node\n",
		       s_or(t->path, "?"), (long long)t->not_before);
	else if (left < WBCONF_TLS_WARN_DAYS)
		printf("\ntls %s: EXPIRES in %lld day%s (%s): renew it (same paths) and wbctl "
		       "reload\n",
		       s_or(t->path, "?"), left, left == 1 ? "" : "s", until);
	else if (verbose)
		printf("\ntls %s: %s, serial %s, valid until %s (%lld days)\n", s_or(t->path, "?"),
		       s_or(t->subject, "?"), s_or(t->serial, "?"), until, left);
}

/* ---- JSON ------------------------------------------------------------------ */

void wbctl_json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

#define JU(name, v) printf("\"%s\": %llu", name, (unsigned long long)(v))
#define JB(name, v) printf("\"%s\": %s", name, (v) ? "true" : "false")
#define JS(name, v)                                                                                \
	do {                                                                                       \
		printf("\"%s\": ", name);                                                          \
		wbctl_json_str(v);                                                                 \
	} while (0)

static void print_json_settings(const Wbrep__ResourceSettings *c)
{
	static const Wbrep__ResourceSettings none = WBREP__RESOURCE_SETTINGS__INIT;

	if (!c)
		c = &none;
	printf(",\n     \"settings\": {");
	JS("backing", c->backing);
	printf(", ");
	JS("log", c->log);
	printf(", ");
	JS("ack", c->ack);
	printf(", ");
	JU("destage_low_pct", c->destage_low_pct);
	printf(", ");
	JU("destage_high_pct", c->destage_high_pct);
	printf(", ");
	JU("destage_min_rate", c->destage_min_rate);
	printf(",\n       ");
	JU("gen_max_interval_ms", c->gen_max_interval_ms);
	printf(", ");
	JU("log_segment", c->log_segment);
	printf(", ");
	JU("ram_buffer", c->ram_buffer);
	printf(", ");
	JU("log_commit_ms", c->log_commit_ms);
	printf(", ");
	JB("auto_up", c->auto_up);
	printf(",\n       ");
	JS("nbd_listen", c->nbd_listen);
	printf(", ");
	JS("nbd_socket", c->nbd_socket);
	printf(", ");
	JS("ring", c->ring);
	printf(", ");
	JS("engine_options", c->engine_options);
	printf("}");
}

/* CONTRACT.md keys: disk_state, data_uuid, peers[{node, connection, role,
 * disk, seq_lag, out_of_sync_bytes}] (null where not known). */
static void print_json_repl(const Wbrep__ResourceStatus *r)
{
	printf(", ");
	JU("peers_connected", r->peers_connected);
	printf(", ");
	JU("peers_total", r->peers_total);
	printf(",\n     ");
	JS("disk_state", r->disk_state);
	printf(", ");
	JS("disk_reason", r->disk_reason);
	printf(", \"sync_paused\": %s",
	       r->has_sync_paused ? (r->sync_paused ? "true" : "false") : "null");
	printf(", \"data_uuid\": ");
	if (r->has_data_uuid) {
		putchar('"');
		for (size_t i = 0; i < r->data_uuid.len; i++)
			printf("%02x", r->data_uuid.data[i]);
		putchar('"');
	} else {
		printf("null");
	}
	printf(", ");
	JS("repl_problem", r->repl_problem);
	printf(", \"peers\": [");
	for (size_t i = 0; i < r->n_peers; i++) {
		const Wbrep__PeerStatus *p = r->peers[i];

		printf("%s\n       {", i ? "," : "");
		JS("node", p->node);
		printf(", ");
		JS("connection", p->connection);
		printf(", ");
		JS("role", p->role);
		printf(", ");
		JS("disk", p->disk);
		printf(", ");
		JS("replication", p->replication);
		printf(", \"seq_lag\": ");
		if (p->has_seq_lag)
			printf("%lld", (long long)p->seq_lag);
		else
			printf("null");
		printf(", \"out_of_sync_bytes\": ");
		if (p->has_out_of_sync_bytes)
			printf("%llu", (unsigned long long)p->out_of_sync_bytes);
		else
			printf("null");
		printf(", ");
		JU("acked_seq", p->acked_seq);
		printf(", \"log_kept_records\": ");
		if (p->has_log_kept_records)
			printf("%llu", (unsigned long long)p->log_kept_records);
		else
			printf("null");
		printf(", \"cert_not_after\": ");
		if (p->has_cert_not_after)
			printf("%lld", (long long)p->cert_not_after);
		else
			printf("null");
		printf(", \"resync_total_bytes\": ");
		if (p->has_resync_total_bytes) {
			printf("%llu, \"resync_done_bytes\": %llu, \"resync_rate\": %llu, "
			       "\"resync_eta_ms\": ",
			       (unsigned long long)p->resync_total_bytes,
			       (unsigned long long)p->resync_done_bytes,
			       (unsigned long long)p->resync_rate);
			if (p->resync_paused || p->resync_after ||
			    p->resync_hook) /* held: no ETA */
				printf("null");
			else
				printf("%llu", (unsigned long long)p->resync_eta_ms);
			printf(", \"resync_throttled\": %s, \"resync_paused\": %s",
			       p->resync_throttled ? "true" : "false",
			       p->resync_paused ? "true" : "false");
		} else {
			printf("null, \"resync_done_bytes\": null, \"resync_rate\": null, "
			       "\"resync_eta_ms\": null, \"resync_throttled\": null, "
			       "\"resync_paused\": null");
		}
		if (p->has_resync_window_bytes)
			printf(", \"resync_window_bytes\": %llu, \"resync_queue_us\": %llu",
			       (unsigned long long)p->resync_window_bytes,
			       (unsigned long long)p->resync_queue_us);
		else
			printf(", \"resync_window_bytes\": null, \"resync_queue_us\": null");
		printf(", \"resync_hook\": %s",
		       p->has_resync_hook ? (p->resync_hook ? "true" : "false") : "null");
		printf(", \"resync_after\": ");
		if (p->resync_after)
			wbctl_json_str(p->resync_after);
		else
			printf("null");
		printf(", \"peer_sync_paused\": %s",
		       p->has_peer_sync_paused ? (p->peer_sync_paused ? "true" : "false") : "null");
		printf(", \"congested\": ");
		if (p->has_congested)
			printf("%s, \"send_queue_bytes\": %llu, \"send_queue_max_bytes\": %llu",
			       p->congested ? "true" : "false",
			       (unsigned long long)p->send_queue_bytes,
			       (unsigned long long)p->send_queue_max_bytes);
		else
			printf("null, \"send_queue_bytes\": null, \"send_queue_max_bytes\": null");
		printf(", ");
		JS("problem", p->problem);
		printf(", \"verify_state\": ");
		if (p->verify_state) {
			wbctl_json_str(p->verify_state);
			printf(", ");
			JU("verify_oos_bytes", p->verify_oos_bytes);
			printf(", ");
			JU("verify_unreadable_bytes", p->verify_unreadable_bytes);
			printf(", ");
			JU("verify_compared_bytes", p->verify_compared_bytes);
			printf(", ");
			JU("verify_skipped_bytes", p->verify_skipped_bytes);
		} else {
			printf(
			    "null, \"verify_oos_bytes\": null, \"verify_unreadable_bytes\": null, "
			    "\"verify_compared_bytes\": null, \"verify_skipped_bytes\": null");
		}
		printf("}");
	}
	printf("], \"removed_peers\": [");
	for (size_t i = 0; i < r->n_removed_peers; i++) {
		printf("%s", i ? ", " : "");
		wbctl_json_str(r->removed_peers[i]);
	}
	printf("]");
	printf(",\n     \"verify_state\": ");
	if (r->verify_state) {
		wbctl_json_str(r->verify_state);
		printf(", ");
		JU("verify_done_bytes", r->verify_done_bytes);
		printf(", ");
		JU("verify_total_bytes", r->verify_total_bytes);
		printf(", ");
		JU("verify_eta_ms", r->verify_eta_ms);
		printf(", ");
		JU("verify_rate", r->verify_rate);
	} else {
		printf("null, \"verify_done_bytes\": null, \"verify_total_bytes\": null, "
		       "\"verify_eta_ms\": null, \"verify_rate\": null");
	}
}

static void print_json_res(const Wbrep__ResourceStatus *r)
{
	printf("    {");
	JS("name", r->name);
	printf(", ");
	JS("engine", r->engine);
	printf(", ");
	JS("state", r->state);
	printf(", ");
	JS("role", r->role);
	printf(", ");
	JS("mode", r->mode);
	printf(", \"engine_state\": \"%s\",\n     ", r->engine_state ? "failed" : "ok");
	JS("reason", r->reason);
	printf(", ");
	JS("cache_mode", r->cache_mode);
	printf(", ");
	JB("mode_forced", r->mode_forced);
	printf(", ");
	JB("draining", r->draining);
	printf(",\n     ");
	JS("mode_reason", r->mode_reason);
	printf(", ");
	JS("policy_mode", r->policy_mode);
	printf(", ");
	JB("suspended", r->suspended);
	printf(", ");
	JU("mode_changes", r->mode_changes);
	printf(", ");
	JU("mode_since_ms", r->mode_since_ms);
	printf(",\n     ");
	JU("size", r->size);
	printf(", ");
	JU("dirty_bytes", r->dirty_bytes);
	printf(",\n     \"log\": {");
	JU("size", r->log_size);
	printf(", ");
	JU("used", r->log_used);
	printf("},\n     \"generation\": {");
	JU("head", r->gen_head);
	printf(", ");
	JU("durable", r->gen_durable);
	printf(", ");
	JU("oldest", r->gen_oldest);
	printf("},\n     \"seq\": {");
	JU("head", r->seq_head);
	printf(", ");
	JU("tail", r->seq_tail);
	printf("},\n     \"destage\": {");
	JU("rate", r->destage_rate);
	printf(", ");
	JU("eta_ms", r->destage_eta_ms);
	printf(", ");
	JU("total_bytes", r->destaged_bytes);
	printf(", ");
	JU("throttle_events", r->throttle_events);
	printf(", ");
	JS("state", is_state(r, "down") ? "idle" : destage_state(r));
	printf("},\n     \"io\": {");
	JU("reads", r->reads);
	printf(", ");
	JU("writes", r->writes);
	printf(", ");
	JU("flushes", r->flushes);
	printf(", ");
	JU("discards", r->discards);
	printf(", ");
	JU("bytes_read", r->bytes_read);
	printf(", ");
	JU("bytes_written", r->bytes_written);
	printf(", ");
	JU("read_errors", r->read_errors);
	printf(", ");
	JU("reads_from_peers", r->reads_from_peers);
	printf(", ");
	JU("read_repaired_bytes", r->read_repaired_bytes);
	printf("},\n     \"ram_pages\": {");
	JU("total", r->ram_pages_total);
	printf(", ");
	JU("used", r->ram_pages_used);
	printf("},\n     \"extents\": {");
	JU("count", r->extents);
	printf(", ");
	JU("mem_bytes", r->extent_mem_bytes);
	printf("},\n     ");
	JU("nbd_clients", r->nbd_clients);
	print_json_repl(r);
	print_json_settings(r->settings);
	printf("}");
}

static void print_json(const Wbrep__StatusReply *st, const char *when)
{
	printf("{\"version\": 2, ");
	JS("time", when);
	printf(", \"config\": {");
	JS("path", st ? st->config_path : NULL);
	printf(", ");
	JB("differs", st && st->config_differs);
	printf(", ");
	JS("reload_error", st ? st->reload_error : NULL);
	printf("},\n \"tls\": ");
	if (st && st->tls) {
		printf("{");
		JS("certificate", st->tls->path);
		printf(", ");
		JS("subject", st->tls->subject);
		printf(", ");
		JS("serial", st->tls->serial);
		printf(", \"not_before\": %lld, \"not_after\": %lld, \"days_left\": %lld}",
		       (long long)st->tls->not_before, (long long)st->tls->not_after,
		       ((long long)st->tls->not_after - (long long)time(NULL)) / 86400);
	} else {
		printf("null");
	}
	printf(",\n");
	if (st && st->cluster) {
		printf(" \"cluster\": {");
		JS("type", st->cluster);
		printf(", ");
		JB("connected", st->cluster_connected);
		printf(", ");
		JB("quorate", st->quorate);
		printf(", \"members\": [");
		for (size_t i = 0; i < st->n_member_ids; i++) {
			printf("%s{", i ? ", " : "");
			JU("id", st->member_ids[i]);
			printf(", ");
			JS("name", i < st->n_member_names ? st->member_names[i] : NULL);
			printf("}");
		}
		printf("], \"group\": [");
		for (size_t i = 0; i < st->n_group; i++) {
			const Wbrep__CpgMember *g = st->group[i];
			const Wbrep__CpgState *s = g->state;

			printf("%s{", i ? ", " : "");
			JU("id", g->nodeid);
			printf(", ");
			JU("pid", g->pid);
			printf(", ");
			JS("node", s ? s->node : NULL);
			printf(", \"resources\": [");
			for (size_t k = 0; s && k < s->n_resources; k++) {
				const Wbrep__CpgResource *r = s->resources[k];
				size_t ulen = r->has_data_uuid && r->data_uuid.len <= 16
						  ? r->data_uuid.len
						  : 0;
				char u[33] = "";

				for (size_t b = 0; b < ulen; b++)
					snprintf(u + 2 * b, 3, "%02x", r->data_uuid.data[b]);
				printf("%s{", k ? ", " : "");
				JS("name", r->name);
				printf(", ");
				JB("up", r->up);
				printf(", ");
				JS("role", !r->up ? NULL : r->primary ? "primary" : "secondary");
				printf(", ");
				JS("disk", r->disk);
				printf(", ");
				JU("seq", r->seq);
				printf(", ");
				JS("data_uuid", u[0] ? u : NULL);
				printf("}");
			}
			printf("]}");
		}
		printf("]},\n");
	}
	printf(" \"resources\": [\n");
	for (size_t i = 0; st && i < st->n_resources; i++) {
		print_json_res(st->resources[i]);
		printf("%s\n", i + 1 < st->n_resources ? "," : "");
	}
	printf("]}\n");
}

/*
 * --shell (DRBD's sh-status): one NAME='VALUE' line each, single-quoted for
 * a shell's eval, the names fixed: what scripts read without a JSON parser
 * (the resource agent, deploy/ocf/wbrep: jq cost it 30 ms of CPU per
 * monitor). wb_quorate is yes, no or - (no cluster); wb_resN_peer_newer is
 * 1 when a connected peer reports newer data (a negative seq lag).
 */
static void sh_str(const char *prefix, const char *name, const char *v)
{
	printf("%s%s='", prefix, name);
	for (; v && *v; v++) {
		if (*v == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*v);
	}
	printf("'\n");
}

static void print_shell(const Wbrep__StatusReply *st)
{
	bool cluster = st && st->cluster && strcmp(st->cluster, "none");
	size_t n = st ? st->n_resources : 0;

	sh_str("wb_", "cluster", st && st->cluster ? st->cluster : "none");
	sh_str("wb_", "quorate", !cluster ? "-" : st->quorate ? "yes" : "no");
	printf("wb_resources=%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		const Wbrep__ResourceStatus *r = st->resources[i];
		char pre[32];
		bool newer = false;

		snprintf(pre, sizeof(pre), "wb_res%zu_", i);
		for (size_t k = 0; k < r->n_peers; k++) {
			const Wbrep__PeerStatus *p = r->peers[k];

			newer |= p->connection && !strcmp(p->connection, "Connected") &&
				 p->has_seq_lag && p->seq_lag < 0;
		}
		sh_str(pre, "name", r->name);
		sh_str(pre, "state", r->state);
		sh_str(pre, "role", r->role);
		sh_str(pre, "mode", r->mode);
		sh_str(pre, "engine", r->engine_state ? "failed" : "ok");
		sh_str(pre, "reason", r->reason);
		sh_str(pre, "disk", r->disk_state);
		sh_str(pre, "disk_reason", r->disk_reason);
		printf("%speers=%u\n%speers_connected=%u\n%speer_newer=%d\n", pre, r->peers_total,
		       pre, r->peers_connected, pre, newer);
	}
}

/* ---- the commands ---------------------------------------------------------- */

struct status_opts {
	bool json, watch, verbose, shell;
	long count, interval;
};

static int status_opt(int o, const char *arg, void *st)
{
	struct status_opts *so = st;

	switch (o) {
	case 'j':
		so->json = true;
		return EX_OK;
	case 'w':
		so->watch = true;
		return EX_OK;
	case 'S':
		so->shell = true;
		return EX_OK;
	case 'v':
		so->verbose = true;
		return EX_OK;
	case 'n':
		return wbctl_num("status", "--count", arg, 1, 1000000000, &so->count);
	case 'i':
		return wbctl_num("status", "--interval", arg, 1, 3600, &so->interval);
	default:
		return EX_USAGE;
	}
}

static int run_status(struct gopts *g, const char *res, struct status_opts *so)
{
	int ex = EX_OK;

	if (!so->watch)
		so->count = 1;
	wbctl_sigint_catch();
	for (long it = 0; !wbctl_sigint_caught() && (so->count < 0 || it < so->count); it++) {
		Wbrep__CtlResponse *r;
		Wbrep__StatusReply *st;
		char when[64];
		time_t now;
		struct tm tm;

		if (it)
			sleep((unsigned)so->interval);
		if (wbctl_sigint_caught())
			break;
		ex = wbctl_call(g, WBREP__CTL_OP__CTL_STATUS, res, NULL, &r);
		if (ex)
			return ex;
		if (r->code) {
			wbctl_refused(res, r);
			wbrep__ctl_response__free_unpacked(r, NULL);
			return EX_FAIL;
		}
		now = time(NULL);
		localtime_r(&now, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S%z", &tm);
		st = r->status;
		if (so->watch && !so->json && !so->shell && isatty(STDOUT_FILENO))
			printf("\033[H\033[2J");
		if (so->shell) {
			print_shell(st);
		} else if (so->json) {
			print_json(st, when);
		} else {
			if (so->watch)
				printf("%s  every %lds%s%s\n\n", when, so->interval,
				       res ? ", " : "", res ? res : "");
			print_cluster(st);
			if (!st || !st->n_resources)
				printf("no resources\n");
			for (size_t i = 0; st && i < st->n_resources; i++) {
				if (i)
					printf("\n");
				print_human(st->resources[i], so->verbose);
			}
			if (so->verbose && st)
				print_config_state(st);
			print_tls(st, so->verbose);
		}
		fflush(stdout);
		wbrep__ctl_response__free_unpacked(r, NULL);
	}
	return ex;
}

int wbctl_cmd_status(struct gopts *g, int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'j'},
					   {"watch", no_argument, NULL, 'w'},
					   {"verbose", no_argument, NULL, 'v'},
					   {"count", required_argument, NULL, 'n'},
					   {"interval", required_argument, NULL, 'i'},
					   {"shell", no_argument, NULL, 'S'},
					   {NULL, 0, NULL, 0}};
	struct status_opts so = {.count = -1, .interval = 1};
	const char *res = NULL;
	int n, ex;

	ex = wbctl_args(argc, argv, "jwvn:i:", lo, status_opt, &so, &res, 1, &n);
	if (ex)
		return ex;
	if (so.shell && (so.json || so.watch || so.verbose)) {
		fprintf(stderr, "%s status: --shell goes with none of --json, --watch, -v\n",
			wbctl_prog);
		return EX_USAGE;
	}
	return run_status(g, n ? res : NULL, &so);
}

int wbctl_cmd_show(struct gopts *g, int argc, char **argv)
{
	static const struct option lo[] = {{"json", no_argument, NULL, 'j'}, {NULL, 0, NULL, 0}};
	struct status_opts so = {.count = 1, .interval = 1, .verbose = true};
	const char *res = NULL;
	int n, ex;

	ex = wbctl_args(argc, argv, "j", lo, status_opt, &so, &res, 1, &n);
	if (ex)
		return ex;
	if (n != 1) {
		fprintf(stderr, "%s show: expected 1 argument (see %s show --help)\n", wbctl_prog,
			wbctl_prog);
		return EX_USAGE;
	}
	return run_status(g, res, &so);
}
