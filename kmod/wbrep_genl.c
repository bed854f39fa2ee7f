// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbrep_genl.c - generic netlink family "wbrep" (uapi/wbrep_genl.h).
 *
 * WBREP_CMD_STATUS: doit with WBREP_A_RING_NAME answers for that ring, dumpit
 * lists every ring. Events (ring added/removed, session attached, detached,
 * fenced) go to the multicast group "events"; sending is best effort (no
 * listener is the normal case) and never blocks the data path: callers send
 * after dropping their locks.
 *
 * Permissions: both need CAP_NET_ADMIN, as the other storage families do
 * (nbd, drbd). STATUS is GENL_ADMIN_PERM (capable in the initial user
 * namespace: the rings are global, not per network namespace). Joining
 * "events" is GENL_MCAST_CAP_NET_ADMIN, checked by genetlink against the
 * user namespace of the socket's netns; the family is not netnsok, so that
 * is init_net's, i.e. the initial one. Unprivileged callers get EPERM.
 */
#include <linux/module.h>
#include <net/genetlink.h>

#include "wbrep.h"
#include "uapi/wbrep_genl.h"

static struct genl_family wbrep_genl_family;

static const struct nla_policy wbrep_genl_policy[WBREP_A_MAX + 1] = {
	[WBREP_A_RING_NAME] = { .type = NLA_NUL_STRING, .len = WBREP_NAME_MAX - 1 },
};

/*
 * GENL_MCAST_CAP_NET_ADMIN exists from 6.1.66 and 6.6 on (Debian 12's 6.1
 * has it). Older kernels cannot restrict a group: wbrep_genl_init() warns.
 */
#ifdef GENL_MCAST_CAP_NET_ADMIN
#define WBREP_MCGRP_FLAGS	GENL_MCAST_CAP_NET_ADMIN
#else
#define WBREP_MCGRP_FLAGS	0
#endif

static const struct genl_multicast_group wbrep_genl_mcgrps[] = {
	{ .name = WBREP_GENL_MCGRP_EVENTS, .flags = WBREP_MCGRP_FLAGS },
};

static int wbrep_genl_fill(struct sk_buff *skb, struct wbrep_ring *r, u32 portid, u32 seq,
			   int flags)
{
	struct wbrep_ring_stats st;
	void *hdr;

	wbrep_ring_get_stats(r, &st);
	hdr = genlmsg_put(skb, portid, seq, &wbrep_genl_family, flags, WBREP_CMD_STATUS);
	if (!hdr)
		return -EMSGSIZE;
	if (nla_put_string(skb, WBREP_A_RING_NAME, r->name) ||
	    nla_put_u32(skb, WBREP_A_SESSION, st.session) ||
	    nla_put_u64_64bit(skb, WBREP_A_DEV_SECTORS, r->dev_sectors, WBREP_A_UNSPEC) ||
	    nla_put_u32(skb, WBREP_A_NSLOTS, r->nslots) ||
	    nla_put_u32(skb, WBREP_A_SLOT_SIZE, r->slot_size) ||
	    nla_put_u32(skb, WBREP_A_INFLIGHT, st.inflight) ||
	    nla_put_u32(skb, WBREP_A_PENDING, st.pending) ||
	    nla_put_u64_64bit(skb, WBREP_A_COMPLETED, st.completed, WBREP_A_UNSPEC) ||
	    nla_put_u32(skb, WBREP_A_FENCES, st.fences) ||
	    nla_put_u64_64bit(skb, WBREP_A_TIMEOUTS, st.timeouts, WBREP_A_UNSPEC) ||
	    nla_put_u64_64bit(skb, WBREP_A_REISSUED, st.reissued, WBREP_A_UNSPEC) ||
	    nla_put_u32(skb, WBREP_A_QUEUE_TIMEOUT_MS, r->queue_timeout_ms)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(skb, hdr);
	return 0;
}

static int wbrep_genl_status_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct wbrep_ring *r;
	struct sk_buff *msg;
	int ret;

	if (!info->attrs[WBREP_A_RING_NAME])
		return -EINVAL;
	r = wbrep_ring_find(nla_data(info->attrs[WBREP_A_RING_NAME]));
	if (!r)
		return -ENOENT;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg) {
		ret = -ENOMEM;
		goto out_put;
	}
	ret = wbrep_genl_fill(msg, r, info->snd_portid, info->snd_seq, 0);
	if (ret) {
		nlmsg_free(msg);
		goto out_put;
	}
	ret = genlmsg_reply(msg, info);
out_put:
	wbrep_ring_put(r);
	return ret;
}

struct wbrep_dump_ctx {
	struct sk_buff *skb;
	struct netlink_callback *cb;
	int n;
};

static int wbrep_genl_dump_one(struct wbrep_ring *r, void *arg)
{
	struct wbrep_dump_ctx *c = arg;
	int ret;

	ret = wbrep_genl_fill(c->skb, r, NETLINK_CB(c->cb->skb).portid, c->cb->nlh->nlmsg_seq,
			      NLM_F_MULTI);
	if (ret)
		return ret;
	c->n++;
	return 0;
}

static int wbrep_genl_status_dumpit(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct wbrep_dump_ctx c = { .skb = skb, .cb = cb };

	wbrep_ring_for_each(wbrep_genl_dump_one, &c, cb->args[0]);
	cb->args[0] += c.n;
	return c.n ? skb->len : 0;
}

static const struct genl_small_ops wbrep_genl_ops[] = {
	{
		.cmd	  = WBREP_CMD_STATUS,
		.validate = GENL_DONT_VALIDATE_STRICT | GENL_DONT_VALIDATE_DUMP,
		.flags	  = GENL_ADMIN_PERM,	/* doit and dumpit */
		.doit	  = wbrep_genl_status_doit,
		.dumpit	  = wbrep_genl_status_dumpit,
	},
};

static struct genl_family wbrep_genl_family __ro_after_init = {
	.name		= WBREP_GENL_NAME,
	.version	= WBREP_GENL_VERSION,
	.maxattr	= WBREP_A_MAX,
	.policy		= wbrep_genl_policy,
	.module		= THIS_MODULE,
	.small_ops	= wbrep_genl_ops,
	.n_small_ops	= ARRAY_SIZE(wbrep_genl_ops),
	.resv_start_op	= WBREP_CMD_EVENT + 1,
	.mcgrps		= wbrep_genl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(wbrep_genl_mcgrps),
};

void wbrep_genl_event(const char *ring, u32 event, u32 session)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &wbrep_genl_family, 0, WBREP_CMD_EVENT);
	if (!hdr)
		goto out_free;
	if (nla_put_string(msg, WBREP_A_RING_NAME, ring) ||
	    nla_put_u32(msg, WBREP_A_EVENT, event) ||
	    nla_put_u32(msg, WBREP_A_SESSION, session))
		goto out_free;
	genlmsg_end(msg, hdr);
	genlmsg_multicast(&wbrep_genl_family, msg, 0, 0, GFP_KERNEL);
	return;
out_free:
	nlmsg_free(msg);
}

int wbrep_genl_init(void)
{
	if (!WBREP_MCGRP_FLAGS)
		pr_warn("wbrep: kernel cannot restrict netlink groups: any user may join events\n");
	return genl_register_family(&wbrep_genl_family);
}

void wbrep_genl_exit(void)
{
	genl_unregister_family(&wbrep_genl_family);
}
