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
 *
 * hostile MODEs: badslot, free, stale, reuse, toofar, backwards, rsvd,
 * sqwrite (mapping the SQ writable must be refused; no fence expected).
 * Modes that need a real request (stale, reuse) wait up to 10 s for an SQE.
 * Exit 0 when the kernel behaved as expected, 1 otherwise (with a reason).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

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
	fprintf(stderr, "usage: see the head of tests/vm/wbvmtool.c\n");
	return 2;
}
