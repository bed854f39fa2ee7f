// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbrep_dev.c - the misc device /dev/wbrep-ctl through which the daemon
 * serves rings.
 *
 * Owns struct wbrep_session: one per open file. WBREP_IOC_ATTACH binds the
 * file to a ring by name and allocates the session's shared memory (header +
 * SQ, CQ, data slots, all vmalloc_user); mmap maps one whole region selected
 * by a fixed offset (the SQ region read-only); poll() reports POLLIN while the
 * daemon's sq_head hint differs from the kernel's sq_tail, and
 * POLLERR|POLLHUP once the session is cut off; WBREP_IOC_KICK reaps the CQ.
 * The memory is freed on release, which runs only after the last mmap is gone
 * (a mapping holds the file) and after every poster still copying into it
 * has finished (wbrep_ring_wait_fillers), so a fenced process can keep
 * scribbling on its own copy without touching any live ring.
 */
#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/version.h>

#include "wbrep.h"
#include "uapi/wbrep_genl.h"

static int wbrep_dev_open(struct inode *inode, struct file *f)
{
	struct wbrep_session *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return -ENOMEM;
	mutex_init(&s->lock);
	init_waitqueue_head(&s->wq);
	init_waitqueue_head(&s->fill_wq);
	f->private_data = s;
	return 0;
}

static void wbrep_session_free_mem(struct wbrep_session *s)
{
	vfree(s->sq_mem);
	vfree(s->cq_mem);
	vfree(s->data_mem);
	s->sq_mem = NULL;
	s->cq_mem = NULL;
	s->data_mem = NULL;
}

static int wbrep_dev_release(struct inode *inode, struct file *f)
{
	struct wbrep_session *s = f->private_data;
	struct wbrep_ring *r = s->ring;

	if (r) {
		bool was = READ_ONCE(r->session) == s;

		wbrep_ring_detach(r, s);
		/* posters may still be copying into data_mem */
		wbrep_ring_wait_fillers(r, s);
		if (was)
			wbrep_genl_event(r->name, WBREP_EV_DETACHED, s->id);
		wbrep_ring_put(r);
	}
	wbrep_session_free_mem(s);
	kfree(s);
	return 0;
}

/* Called under ring->lock by wbrep_ring_attach: fill in the shared header. */
void wbrep_session_init_shared(struct wbrep_session *s, struct wbrep_ring *r)
{
	struct wbrep_ring_hdr *h = s->hdr;

	h->magic = WBREP_RING_MAGIC;
	h->version = WBREP_RING_VERSION;
	h->nslots = r->nslots;
	h->slot_size = r->slot_size;
	h->sq_entries = r->nslots;
	h->cq_entries = r->nslots;
	h->session = s->id;
	h->flags = 0;
	h->dev_sectors = r->dev_sectors;
	h->sq_tail = 0;
	h->cq_head = 0;
	s->sq_tail = 0;
	s->cq_head = 0;
}

static long wbrep_dev_attach(struct wbrep_session *s, void __user *uarg)
{
	struct wbrep_attach a;
	struct wbrep_ring *r;
	u32 reissued = 0;
	long ret;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	if (a.version != WBREP_RING_VERSION || a.flags)
		return -EINVAL;
	if (strnlen(a.name, sizeof(a.name)) == sizeof(a.name))
		return -ENAMETOOLONG;
	mutex_lock(&s->lock);
	if (s->ring) {
		ret = -EALREADY;
		goto out_unlock;
	}
	r = wbrep_ring_find(a.name);
	if (!r) {
		ret = -ENOENT;
		goto out_unlock;
	}
	s->sq_size = WBREP_SQ_MAP_SIZE(r->nslots);
	s->cq_size = WBREP_CQ_MAP_SIZE(r->nslots);
	s->data_size = WBREP_DATA_MAP_SIZE(r->nslots, r->slot_size);
	s->sq_mem = vmalloc_user(s->sq_size);
	s->cq_mem = vmalloc_user(s->cq_size);
	s->data_mem = vmalloc_user(s->data_size);
	if (!s->sq_mem || !s->cq_mem || !s->data_mem) {
		pr_warn("wbrep: ring %s: no memory for a session\n", r->name);
		ret = -ENOMEM;
		goto out_put;
	}
	s->hdr = s->sq_mem;
	s->sqes = s->sq_mem + WBREP_SQE_OFF;
	s->cqc = s->cq_mem;
	s->cqes = s->cq_mem + WBREP_CQE_OFF;
	ret = wbrep_ring_attach(r, s, &reissued);
	if (ret)
		goto out_put;
	memset(a.rsvd, 0, sizeof(a.rsvd));
	a.nslots = r->nslots;
	a.slot_size = r->slot_size;
	a.sq_entries = r->nslots;
	a.cq_entries = r->nslots;
	a.sq_map_size = s->sq_size;
	a.cq_map_size = s->cq_size;
	a.data_map_size = s->data_size;
	a.dev_sectors = r->dev_sectors;
	a.session = s->id;
	a.reissued = reissued;
	mutex_unlock(&s->lock);
	pr_info("wbrep: ring %s: session %u attached (%u re-issued)\n", r->name, s->id,
		reissued);
	wbrep_genl_event(r->name, WBREP_EV_ATTACHED, s->id);
	if (copy_to_user(uarg, &a, sizeof(a)))
		return -EFAULT;
	return 0;

out_put:
	wbrep_session_free_mem(s);
	s->ring = NULL;
	wbrep_ring_put(r);
out_unlock:
	mutex_unlock(&s->lock);
	return ret;
}

static long wbrep_dev_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct wbrep_session *s = f->private_data;
	struct wbrep_ring *r;
	bool was;

	switch (cmd) {
	case WBREP_IOC_ATTACH:
		return wbrep_dev_attach(s, (void __user *)arg);
	case WBREP_IOC_KICK:
		r = READ_ONCE(s->ring);
		if (!r)
			return -ENOTCONN;
		return wbrep_ring_reap(r, s);
	case WBREP_IOC_DETACH:
		mutex_lock(&s->lock);
		r = s->ring;
		if (!r) {
			mutex_unlock(&s->lock);
			return -ENOTCONN;
		}
		was = READ_ONCE(r->session) == s;
		wbrep_ring_detach(r, s);
		mutex_unlock(&s->lock);
		if (was) {
			pr_info("wbrep: ring %s: session %u detached\n", r->name, s->id);
			wbrep_genl_event(r->name, WBREP_EV_DETACHED, s->id);
		}
		return 0;
	default:
		return -ENOTTY;
	}
}

static int wbrep_dev_mmap(struct file *f, struct vm_area_struct *vma)
{
	struct wbrep_session *s = f->private_data;
	unsigned long size = vma->vm_end - vma->vm_start;
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;
	size_t len;
	void *mem;
	int ret;

	mutex_lock(&s->lock);
	if (!s->ring || !s->sq_mem) {
		ret = -ENOTCONN;
		goto out_unlock;
	}
	switch (off) {
	case WBREP_MMAP_SQ:
		if (vma->vm_flags & VM_WRITE) {
			ret = -EPERM;
			goto out_unlock;
		}
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
		vm_flags_clear(vma, VM_MAYWRITE);
#else
		vma->vm_flags &= ~VM_MAYWRITE;
#endif
		mem = s->sq_mem;
		len = s->sq_size;
		break;
	case WBREP_MMAP_CQ:
		mem = s->cq_mem;
		len = s->cq_size;
		break;
	case WBREP_MMAP_DATA:
		mem = s->data_mem;
		len = s->data_size;
		break;
	default:
		ret = -EINVAL;
		goto out_unlock;
	}
	if (size > len) {
		ret = -EINVAL;
		goto out_unlock;
	}
	ret = remap_vmalloc_range(vma, mem, 0);
out_unlock:
	mutex_unlock(&s->lock);
	return ret;
}

static __poll_t wbrep_dev_poll(struct file *f, poll_table *wait)
{
	struct wbrep_session *s = f->private_data;
	__poll_t mask = 0;

	poll_wait(f, &s->wq, wait);
	if (!READ_ONCE(s->ring))
		return 0;
	if (READ_ONCE(s->gone))
		return EPOLLERR | EPOLLHUP;
	if (READ_ONCE(s->cqc->sq_head) != READ_ONCE(s->sq_tail))
		mask |= EPOLLIN | EPOLLRDNORM;
	return mask;
}

static const struct file_operations wbrep_dev_fops = {
	.owner		= THIS_MODULE,
	.open		= wbrep_dev_open,
	.release	= wbrep_dev_release,
	.unlocked_ioctl	= wbrep_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= wbrep_dev_mmap,
	.poll		= wbrep_dev_poll,
	.llseek		= noop_llseek,
};

static struct miscdevice wbrep_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "wbrep-ctl",
	.fops	= &wbrep_dev_fops,
	.mode	= 0600,
};

int wbrep_dev_init(void)
{
	return misc_register(&wbrep_miscdev);
}

void wbrep_dev_exit(void)
{
	misc_deregister(&wbrep_miscdev);
}
