// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbvmtool.c - guest-side checks of the VM test (tests/vm/test_vm.sh).
 *
 *   wbvmtool write  DEV FIRST COUNT STAMP [fua]   stamped 4 KiB blocks, O_DIRECT
 *   wbvmtool verify DEV FIRST COUNT STAMP         read back and compare
 *   wbvmtool zero   DEV FIRST COUNT               expect zeroes
 *   wbvmtool discard|zeroout DEV FIRST COUNT      BLKDISCARD / BLKZEROOUT
 *   wbvmtool flush  DEV                           fsync (empty PREFLUSH)
 *   wbvmtool hostile RING MODE [reissue]          misbehave, expect a fence
 *   wbvmtool busy RING                            attach must fail with EBUSY
 *   wbvmtool genl RING admin|nocap                generic netlink permissions
 *
 * hostile MODEs: badslot, free, stale, reuse, toofar, backwards, rsvd,
 * sqwrite (mapping the SQ writable must be refused; no fence expected).
 * Modes that need a real request (stale, reuse) wait up to 10 s for an SQE.
 *
 * genl talks raw netlink (no libnl here): it resolves the "wbrep" family and
 * its "events" group (unprivileged in any case), then asks STATUS of RING
 * (doit), dumps every ring and joins "events". admin: all three must
 * succeed (the reply names RING). nocap: first drops CAP_NET_ADMIN from the
 * bounding, effective, permitted and inheritable sets (still uid 0, other
 * capabilities kept, checked with capget), then all three must fail with
 * EPERM.
 * Exit 0 when the kernel behaved as expected, 1 otherwise (with a reason).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "wbrep_genl.h"
#include "wbrep_ring.h"

#define BS 4096

static void fill(uint64_t *p, uint64_t blk, uint64_t stamp)
{
	for (int i = 0; i < BS / 8; i++)
		p[i] = (stamp << 40) ^ (blk * 0x9E3779B97F4A7C15ull) ^ (uint64_t)i;
}

static int open_dev(const char *dev, int flags)
{
	int fd = open(dev, flags | O_DIRECT);

	if (fd < 0)
		fprintf(stderr, "wbvmtool: open %s: %s\n", dev, strerror(errno));
	return fd;
}

static int cmd_rw(int argc, char **argv, int write, int zero)
{
	uint64_t first = strtoull(argv[3], NULL, 0), count = strtoull(argv[4], NULL, 0);
	uint64_t stamp = zero ? 0 : strtoull(argv[5], NULL, 0), b;
	int fua = write && argc > 6 && !strcmp(argv[6], "fua");
	uint64_t *buf, *want;
	int fd, bad = 0;

	fd = open_dev(argv[2], (write ? O_WRONLY : O_RDONLY) | (fua ? O_DSYNC : 0));
	if (fd < 0)
		return 1;
	if (posix_memalign((void **)&buf, BS, BS) || posix_memalign((void **)&want, BS, BS))
		return 1;
	for (b = first; b < first + count; b++) {
		if (zero)
			memset(want, 0, BS);
		else
			fill(want, b, stamp);
		if (write) {
			if (pwrite(fd, want, BS, (off_t)(b * BS)) != BS) {
				fprintf(stderr, "wbvmtool: write block %llu: %s\n",
					(unsigned long long)b, strerror(errno));
				return 1;
			}
			continue;
		}
		if (pread(fd, buf, BS, (off_t)(b * BS)) != BS) {
			fprintf(stderr, "wbvmtool: read block %llu: %s\n", (unsigned long long)b,
				strerror(errno));
			return 1;
		}
		if (memcmp(buf, want, BS) && bad++ < 5)
			fprintf(stderr, "wbvmtool: block %llu: data mismatch (stamp %llu)\n",
				(unsigned long long)b, (unsigned long long)stamp);
	}
	close(fd);
	return bad ? 1 : 0;
}

static int cmd_range(char **argv, unsigned long req)
{
	uint64_t r[2] = {strtoull(argv[3], NULL, 0) * BS, strtoull(argv[4], NULL, 0) * BS};
	int fd = open_dev(argv[2], O_WRONLY);

	if (fd < 0)
		return 1;
	if (ioctl(fd, req, r) < 0) {
		fprintf(stderr, "wbvmtool: %s: %s\n",
			req == BLKDISCARD ? "BLKDISCARD" : "BLKZEROOUT", strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

struct hring {
	int fd;
	struct wbrep_attach a;
	const struct wbrep_ring_hdr *hdr;
	struct wbrep_cq_ctl *cqc;
	struct wbrep_cqe *cqes;
	const struct wbrep_sqe *sqes;
};

static int h_attach(struct hring *h, const char *ring)
{
	void *sq, *cq;

	h->fd = open(WBREP_CTL_DEVICE, O_RDWR);
	if (h->fd < 0) {
		perror("wbvmtool: open " WBREP_CTL_DEVICE);
		return -1;
	}
	memset(&h->a, 0, sizeof(h->a));
	h->a.version = WBREP_RING_VERSION;
	snprintf(h->a.name, sizeof(h->a.name), "%s", ring);
	if (ioctl(h->fd, WBREP_IOC_ATTACH, &h->a) < 0)
		return -errno;
	sq = mmap(NULL, h->a.sq_map_size, PROT_READ, MAP_SHARED, h->fd, WBREP_MMAP_SQ);
	cq = mmap(NULL, h->a.cq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED, h->fd, WBREP_MMAP_CQ);
	if (sq == MAP_FAILED || cq == MAP_FAILED) {
		perror("wbvmtool: mmap");
		return -1;
	}
	h->hdr = sq;
	h->sqes = (const void *)((const char *)sq + WBREP_SQE_OFF);
	h->cqc = cq;
	h->cqes = (void *)((char *)cq + WBREP_CQE_OFF);
	return 0;
}

static int h_wait_sqe(struct hring *h, struct wbrep_sqe *out)
{
	for (int i = 0; i < 100; i++) {
		struct pollfd p = {.fd = h->fd, .events = POLLIN};

		if (__atomic_load_n(&h->hdr->sq_tail, __ATOMIC_ACQUIRE) != 0) {
			*out = h->sqes[0];
			return 0;
		}
		poll(&p, 1, 100);
	}
	fprintf(stderr, "wbvmtool: no request arrived within 10 s\n");
	return -1;
}

static void h_post(struct hring *h, uint32_t idx, uint64_t tag, int32_t res, uint32_t rsvd)
{
	struct wbrep_cqe *c = &h->cqes[idx & (h->a.cq_entries - 1)];

	c->tag = tag;
	c->result = res;
	c->rsvd = rsvd;
}

static int cmd_hostile(const char *ring, const char *mode, int want_reissue)
{
	struct wbrep_sqe sqe;
	struct pollfd p;
	struct hring h;
	uint32_t tail = 0;
	int ret;

	ret = h_attach(&h, ring);
	if (ret) {
		fprintf(stderr, "wbvmtool: attach %s: %s\n", ring, strerror(-ret));
		return 1;
	}
	if (!strcmp(mode, "sqwrite")) {
		void *m = mmap(NULL, h.a.sq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED, h.fd,
			       WBREP_MMAP_SQ);
		void *m2 = mmap(NULL, 4096, PROT_READ, MAP_SHARED, h.fd, 0x30000000);
		void *m3 =
		    mmap(NULL, h.a.cq_map_size + 4096, PROT_READ, MAP_SHARED, h.fd, WBREP_MMAP_CQ);

		if (m != MAP_FAILED || m2 != MAP_FAILED || m3 != MAP_FAILED) {
			fprintf(stderr, "wbvmtool: bad mmap accepted\n");
			return 1;
		}
		m = mmap(NULL, h.a.sq_map_size, PROT_READ, MAP_SHARED, h.fd, WBREP_MMAP_SQ);
		if (m == MAP_FAILED || mprotect(m, h.a.sq_map_size, PROT_READ | PROT_WRITE) == 0) {
			fprintf(stderr, "wbvmtool: SQ could be made writable\n");
			return 1;
		}
		return 0;
	}
	if (!strcmp(mode, "badslot")) {
		h_post(&h, tail++, wbrep_tag(h.a.nslots + 7, 1), 0, 0);
	} else if (!strcmp(mode, "free")) {
		h_post(&h, tail++, wbrep_tag(h.a.nslots - 1, 1), 0, 0);
	} else if (!strcmp(mode, "toofar")) {
		tail = h.a.cq_entries + 1;
	} else if (!strcmp(mode, "backwards")) {
		tail = (uint32_t)-1;
	} else if (!strcmp(mode, "stale") || !strcmp(mode, "reuse") || !strcmp(mode, "rsvd")) {
		if (h_wait_sqe(&h, &sqe))
			return 1;
		if (want_reissue && !(sqe.flags & WBREP_F_REISSUE)) {
			fprintf(stderr, "wbvmtool: request not marked REISSUE\n");
			return 1;
		}
		if (!strcmp(mode, "stale")) {
			h_post(&h, tail++, sqe.tag + (1ull << 32), 0, 0);
		} else if (!strcmp(mode, "rsvd")) {
			h_post(&h, tail++, sqe.tag, -5, 0xdead);
		} else {
			/* a legitimate completion (a read of zeroes), then the
			 * same tag again */
			h_post(&h, tail++, sqe.tag, 0, 0);
			h_post(&h, tail++, sqe.tag, 0, 0);
		}
	} else {
		fprintf(stderr, "wbvmtool: unknown hostile mode %s\n", mode);
		return 1;
	}
	__atomic_store_n(&h.cqc->cq_tail, tail, __ATOMIC_RELEASE);
	ret = ioctl(h.fd, WBREP_IOC_KICK);
	if (ret >= 0 || errno != ESHUTDOWN) {
		fprintf(stderr, "wbvmtool: kick after %s returned %d (%s), expected ESHUTDOWN\n",
			mode, ret, ret < 0 ? strerror(errno) : "ok");
		return 1;
	}
	p.fd = h.fd;
	p.events = POLLIN;
	if (poll(&p, 1, 1000) != 1 || !(p.revents & (POLLERR | POLLHUP))) {
		fprintf(stderr, "wbvmtool: poll after fence: revents 0x%x\n", p.revents);
		return 1;
	}
	if (!(__atomic_load_n(&h.hdr->flags, __ATOMIC_ACQUIRE) & WBREP_HDR_F_FENCED)) {
		fprintf(stderr, "wbvmtool: header not marked fenced\n");
		return 1;
	}
	/* scribbling on our old memory after the fence must be harmless */
	h_post(&h, 0, 0, 0, 0);
	__atomic_store_n(&h.cqc->cq_tail, 12345, __ATOMIC_RELEASE);
	close(h.fd);
	return 0;
}

static int cmd_busy(const char *ring)
{
	struct hring h;
	int ret = h_attach(&h, ring);

	if (ret != -EBUSY) {
		fprintf(stderr, "wbvmtool: second attach to %s: %d, expected EBUSY\n", ring, ret);
		return 1;
	}
	return 0;
}

/* ---- generic netlink permissions (raw netlink, no libnl) ---- */

struct nlreq {
	struct nlmsghdr n;
	struct genlmsghdr g;
	char attrs[128];
};

struct genl_ids {
	int family, grp;
	const char *ring;
	int replies, named; /* STATUS messages received, of them naming ring */
};

static void nl_init(struct nlreq *r, int family, int cmd, int flags)
{
	memset(r, 0, sizeof(*r));
	r->n.nlmsg_len = NLMSG_LENGTH(GENL_HDRLEN);
	r->n.nlmsg_type = (uint16_t)family;
	r->n.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
	r->g.cmd = (uint8_t)cmd;
	r->g.version = 1;
}

static void nl_put_str(struct nlreq *r, int type, const char *str)
{
	struct nlattr *a = (struct nlattr *)((char *)r + NLMSG_ALIGN(r->n.nlmsg_len));
	size_t len = strlen(str) + 1;

	a->nla_type = (uint16_t)type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	memcpy((char *)a + NLA_HDRLEN, str, len);
	r->n.nlmsg_len = NLMSG_ALIGN(r->n.nlmsg_len) + NLA_ALIGN(a->nla_len);
}

/* Call fn(type, payload, len) for each attribute in [p, p + len). */
static void nl_attrs(const char *p, int len, void (*fn)(int, const char *, int, void *), void *arg)
{
	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)p;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return;
		fn(a->nla_type & NLA_TYPE_MASK, p + NLA_HDRLEN, a->nla_len - NLA_HDRLEN, arg);
		len -= NLA_ALIGN(a->nla_len);
		p += NLA_ALIGN(a->nla_len);
	}
}

static void grp_attr(int type, const char *p, int len, void *arg)
{
	int *grp = arg;

	if (type == CTRL_ATTR_MCAST_GRP_NAME && !strncmp(p, WBREP_GENL_MCGRP_EVENTS, len))
		grp[1] = 1;
	if (type == CTRL_ATTR_MCAST_GRP_ID && len >= 4)
		memcpy(&grp[0], p, 4);
}

static void grp_entry(int type, const char *p, int len, void *arg)
{
	struct genl_ids *ids = arg;
	int grp[2] = {-1, 0};

	(void)type;
	nl_attrs(p, len, grp_attr, grp);
	if (grp[1])
		ids->grp = grp[0];
}

static void family_attr(int type, const char *p, int len, void *arg)
{
	struct genl_ids *ids = arg;
	uint16_t id;

	if (type == CTRL_ATTR_FAMILY_ID && len >= 2) {
		memcpy(&id, p, 2);
		ids->family = id;
	}
	if (type == CTRL_ATTR_MCAST_GROUPS)
		nl_attrs(p, len, grp_entry, ids);
}

static void status_attr(int type, const char *p, int len, void *arg)
{
	struct genl_ids *ids = arg;

	if (type == WBREP_A_RING_NAME && !strncmp(p, ids->ring, len))
		ids->named++;
}

/*
 * Send r, read until the kernel's ACK, error or end of dump; pass each
 * generic netlink message's attributes to fn. 0, or the kernel's -errno.
 */
static int nl_talk(int fd, struct nlreq *r, void (*fn)(int, const char *, int, void *),
		   struct genl_ids *ids)
{
	static char buf[32768];
	struct nlmsghdr *h;
	ssize_t n;
	int len;

	if (send(fd, r, r->n.nlmsg_len, 0) < 0)
		return -errno;
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0)
			return -errno;
		len = (int)n;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
			if (h->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN))
				continue;
			if (fn == status_attr)
				ids->replies++;
			nl_attrs((char *)NLMSG_DATA(h) + GENL_HDRLEN,
				 (int)h->nlmsg_len - NLMSG_LENGTH(GENL_HDRLEN), fn, ids);
		}
	}
}

static int cap_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};

	return (int)syscall(SYS_capget, &h, d);
}

/* Drop CAP_NET_ADMIN for good (bounding set too); keep everything else. */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];
	const uint32_t bit = 1u << CAP_NET_ADMIN; /* CAP_NET_ADMIN < 32 */

	if (prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN, 0, 0, 0) || cap_get(d)) {
		perror("wbvmtool: drop CAP_NET_ADMIN");
		return -1;
	}
	d[0].effective &= ~bit;
	d[0].permitted &= ~bit;
	d[0].inheritable &= ~bit;
	if (syscall(SYS_capset, &h, d) || cap_get(d)) {
		perror("wbvmtool: capset");
		return -1;
	}
	if ((d[0].effective | d[0].permitted) & bit ||
	    prctl(PR_CAPBSET_READ, CAP_NET_ADMIN, 0, 0, 0) != 0) {
		fprintf(stderr, "wbvmtool: CAP_NET_ADMIN still held\n");
		return -1;
	}
	if (getuid() != 0 || !(d[0].effective & (1u << CAP_SYS_ADMIN))) {
		fprintf(stderr, "wbvmtool: expected uid 0 with CAP_SYS_ADMIN kept\n");
		return -1;
	}
	return 0;
}

static int cmd_genl(const char *ring, const char *mode)
{
	struct genl_ids ids = {.family = -1, .grp = -1, .ring = ring};
	int nocap = !strcmp(mode, "nocap"), want = nocap ? -EPERM : 0;
	int fd, st, dump, join, bad = 0;
	struct nlreq r;

	if (nocap && drop_net_admin())
		return 1;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0) {
		perror("wbvmtool: netlink socket");
		return 1;
	}
	nl_init(&r, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, NLM_F_ACK);
	nl_put_str(&r, CTRL_ATTR_FAMILY_NAME, WBREP_GENL_NAME);
	st = nl_talk(fd, &r, family_attr, &ids);
	if (st || ids.family < 0 || ids.grp < 0) {
		fprintf(stderr, "wbvmtool: resolve %s: %s (family %d, group %d)\n", WBREP_GENL_NAME,
			strerror(-st), ids.family, ids.grp);
		return 1;
	}
	nl_init(&r, ids.family, WBREP_CMD_STATUS, NLM_F_ACK);
	nl_put_str(&r, WBREP_A_RING_NAME, ring);
	st = nl_talk(fd, &r, status_attr, &ids);
	nl_init(&r, ids.family, WBREP_CMD_STATUS, NLM_F_DUMP);
	dump = nl_talk(fd, &r, status_attr, &ids);
	join = setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &ids.grp, sizeof(ids.grp))
		   ? -errno
		   : 0;
	close(fd);
	printf("genl %s: status %d, dump %d, join events %d, %d replies (%d naming %s)\n", mode, st,
	       dump, join, ids.replies, ids.named, ring);
	if (st != want || dump != want || join != want) {
		fprintf(stderr, "wbvmtool: expected %d (%s) from status, dump and join\n", want,
			want ? strerror(-want) : "ok");
		bad = 1;
	}
	/* admin: the doit reply and the dump both name the ring */
	if (nocap ? ids.replies != 0 : ids.named < 2) {
		fprintf(stderr, "wbvmtool: %d status replies, %d naming %s\n", ids.replies,
			ids.named, ring);
		bad = 1;
	}
	return bad;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && !strcmp(argv[1], "write"))
		return cmd_rw(argc, argv, 1, 0);
	if (argc >= 6 && !strcmp(argv[1], "verify"))
		return cmd_rw(argc, argv, 0, 0);
	if (argc >= 5 && !strcmp(argv[1], "zero"))
		return cmd_rw(argc, argv, 0, 1);
	if (argc >= 5 && !strcmp(argv[1], "discard"))
		return cmd_range(argv, BLKDISCARD);
	if (argc >= 5 && !strcmp(argv[1], "zeroout"))
		return cmd_range(argv, BLKZEROOUT);
	if (argc >= 3 && !strcmp(argv[1], "flush")) {
		int fd = open_dev(argv[2], O_WRONLY);

		return fd < 0 || fsync(fd) ? 1 : 0;
	}
	if (argc >= 4 && !strcmp(argv[1], "hostile"))
		return cmd_hostile(argv[2], argv[3], argc > 4 && !strcmp(argv[4], "reissue"));
	if (argc >= 3 && !strcmp(argv[1], "busy"))
		return cmd_busy(argv[2]);
	if (argc >= 4 && !strcmp(argv[1], "genl") &&
	    (!strcmp(argv[3], "admin") || !strcmp(argv[3], "nocap")))
		return cmd_genl(argv[2], argv[3]);
	fprintf(stderr, "usage: see the head of tests/vm/wbvmtool.c\n");
	return 2;
}
