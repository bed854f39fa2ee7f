// SPDX-License-Identifier: GPL-2.0-only
/*
 * ringfe_kern.c - the kernel transport of the ring frontend: attach to a
 * dm-wbrep ring through /dev/wbrep-ctl (WBREP_IOC_ATTACH), map its SQ, CQ
 * and data regions and hand them to wbd_ringfe_open(). Owns struct
 * rfe_kern (the fd and the mappings) until the frontend releases it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/ringfe.h"
#include "daemon/wbd_log.h"

struct rfe_kern {
	int fd;
	void *sq, *cq, *data;
	size_t sq_len, cq_len, data_len;
};

static int rfe_kern_kick(void *ctx)
{
	struct rfe_kern *k = ctx;

	return ioctl(k->fd, WBREP_IOC_KICK) < 0 ? -errno : 0;
}

static void rfe_kern_release(void *ctx)
{
	struct rfe_kern *k = ctx;

	if (k->sq)
		munmap(k->sq, k->sq_len);
	if (k->cq)
		munmap(k->cq, k->cq_len);
	if (k->data)
		munmap(k->data, k->data_len);
	close(k->fd);
	free(k);
}

static void *rfe_map(int fd, size_t len, int prot, uint64_t off)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED | MAP_POPULATE, fd, (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

/* verbose: log a failure to open the device or attach (the keeper logs
 * those itself, once per reason) */
int wbd_ringfe_attach(struct event_base *base, const char *ring_name, struct wb_engine *e,
		      struct wbd_ringfe **out, bool verbose)
{
	struct wbd_ringfe_transport t = {0};
	struct rfe_kern *k;
	int ret;

	if (strlen(ring_name) >= WBREP_NAME_MAX) {
		wbd_err("ring %s: name too long", ring_name);
		return -ENAMETOOLONG;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->fd = open(WBREP_CTL_DEVICE, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		ret = -errno;
		if (verbose)
			wbd_err("ring %s: open %s: %s", ring_name, WBREP_CTL_DEVICE,
				strerror(-ret));
		free(k);
		return ret;
	}
	t.geo.version = WBREP_RING_VERSION;
	strcpy(t.geo.name, ring_name);
	if (ioctl(k->fd, WBREP_IOC_ATTACH, &t.geo) < 0) {
		ret = -errno;
		if (verbose)
			wbd_err("ring %s: attach: %s", ring_name, strerror(-ret));
		goto out_release;
	}
	k->sq_len = t.geo.sq_map_size;
	k->cq_len = t.geo.cq_map_size;
	k->data_len = t.geo.data_map_size;
	k->sq = rfe_map(k->fd, k->sq_len, PROT_READ, WBREP_MMAP_SQ);
	k->cq = rfe_map(k->fd, k->cq_len, PROT_READ | PROT_WRITE, WBREP_MMAP_CQ);
	k->data = rfe_map(k->fd, k->data_len, PROT_READ | PROT_WRITE, WBREP_MMAP_DATA);
	if (!k->sq || !k->cq || !k->data) {
		ret = -errno;
		wbd_err("ring %s: mmap: %s", ring_name, strerror(-ret));
		goto out_release;
	}
	t.sq = k->sq;
	t.cq = k->cq;
	t.data = k->data;
	t.fd = k->fd;
	t.kick = rfe_kern_kick;
	t.release = rfe_kern_release;
	t.ctx = k;
	wbd_info("ring %s: session %u attached, %u slots of %u bytes, %u re-issued", ring_name,
		 t.geo.session, t.geo.nslots, t.geo.slot_size, t.geo.reissued);
	return wbd_ringfe_open(base, &t, e, out);

out_release:
	rfe_kern_release(k);
	return ret;
}
