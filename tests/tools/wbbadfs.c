// SPDX-License-Identifier: GPL-2.0-only
/*
 * wbbadfs - a FUSE passthrough of one directory whose files can be given
 * unreadable ranges, as a disk with bad sectors: a read that overlaps one
 * fails with EIO in the kernel's read path (through io_uring, O_DIRECT or
 * not), everything else passes to the file below. What a real disk's
 * medium error does to the daemon, which no file on this machine can make
 * (a file size limit fails writes only; there is no device-mapper here).
 *
 *   wbbadfs SRC MNT [-f] [-d]     (then: fusermount3 -u MNT)
 *
 * Control: the file MNT/.bad (not in SRC). Write one command per write:
 *   "add NAME OFF LEN"   reads of NAME overlapping [OFF, OFF+LEN) fail
 *   "clear"              no bad range any more
 *   "remap on|off"       (off at start) on: a write over a bad range
 *                        heals what it covers, as a disk remaps a
 *                        pending sector on write (a range the write
 *                        covers only in its middle stays bad whole)
 * Reading it gives one line per range ("NAME OFF LEN"), "failed N": the
 * reads failed so far, and "remapped N": the ranges (or parts) healed.
 *
 * Files are opened with direct_io (every read reaches this process, none
 * is served from the page cache). Writes pass even over a bad range (as a
 * disk that remaps on write; the range stays bad unless "remap on": a
 * test decides when it heals).
 */
#define FUSE_USE_VERSION 31
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse.h>

#define CTL	   "/.bad"
#define MAX_BAD	   64
#define CTL_MAXLEN 8192

struct bad {
	char name[NAME_MAX + 1];
	uint64_t off, len;
};

static struct {
	int src; /* the source directory */
	pthread_mutex_t mu;
	struct bad bad[MAX_BAD];
	unsigned nbad;
	uint64_t failed, remapped;
	bool remap;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* "/x" -> "x" for the *at() calls on the source directory ("/" -> ".") */
static const char *rel(const char *path)
{
	while (*path == '/')
		path++;
	return *path ? path : ".";
}

static bool is_ctl(const char *path)
{
	return !strcmp(path, CTL);
}

static size_t ctl_text(char *buf, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&g.mu);
	for (unsigned i = 0; i < g.nbad && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s %" PRIu64 " %" PRIu64 "\n",
				      g.bad[i].name, g.bad[i].off, g.bad[i].len);
	if (n < cap)
		n +=
		    (size_t)snprintf(buf + n, cap - n, "failed %" PRIu64 "\nremapped %" PRIu64 "\n",
				     g.failed, g.remapped);
	pthread_mutex_unlock(&g.mu);
	return n < cap ? n : cap;
}

static int ctl_cmd(const char *buf, size_t len)
{
	char line[NAME_MAX + 64], name[NAME_MAX + 1];
	uint64_t off, len2;
	int ret = 0;

	if (len >= sizeof(line))
		return -EINVAL;
	memcpy(line, buf, len);
	line[len] = 0;
	line[strcspn(line, "\n")] = 0;
	pthread_mutex_lock(&g.mu);
	if (!strcmp(line, "clear")) {
		g.nbad = 0;
	} else if (!strcmp(line, "remap on") || !strcmp(line, "remap off")) {
		g.remap = !strcmp(line, "remap on");
	} else if (sscanf(line, "add %255s %" SCNu64 " %" SCNu64, name, &off, &len2) == 3 && len2 &&
		   !strchr(name, '/')) {
		if (g.nbad == MAX_BAD) {
			ret = -ENOSPC;
		} else {
			snprintf(g.bad[g.nbad].name, sizeof(g.bad[0].name), "%s", name);
			g.bad[g.nbad].off = off;
			g.bad[g.nbad].len = len2;
			g.nbad++;
		}
	} else {
		ret = -EINVAL;
	}
	pthread_mutex_unlock(&g.mu);
	if (ret)
		fprintf(stderr, "wbbadfs: .bad: refused \"%s\": %s\n", line, strerror(-ret));
	return ret;
}

/* true (and counted) if a read of [off, off+len) of path hits a bad range */
static bool read_bad(const char *path, uint64_t off, uint64_t len)
{
	const char *name = rel(path);
	bool hit = false;

	pthread_mutex_lock(&g.mu);
	for (unsigned i = 0; i < g.nbad && !hit; i++)
		hit = !strcmp(g.bad[i].name, name) && off < g.bad[i].off + g.bad[i].len &&
		      g.bad[i].off < off + len;
	if (hit)
		g.failed++;
	pthread_mutex_unlock(&g.mu);
	return hit;
}

/* "remap on": a write of [off, off+len) of path heals the bad ranges it
 * covers whole, and the head or tail it covers of others */
static void write_heal(const char *path, uint64_t off, uint64_t len)
{
	const char *name = rel(path);

	pthread_mutex_lock(&g.mu);
	for (unsigned i = 0; g.remap && i < g.nbad;) {
		struct bad *b = &g.bad[i];
		uint64_t end = b->off + b->len;

		if (strcmp(b->name, name) || off >= end || b->off >= off + len) {
			i++;
			continue;
		}
		g.remapped++;
		if (off <= b->off && off + len >= end) { /* whole */
			*b = g.bad[--g.nbad];
			continue;
		}
		if (off <= b->off) { /* its head */
			b->len = end - (off + len);
			b->off = off + len;
		} else if (off + len >= end) { /* its tail */
			b->len = off - b->off;
		} else {
			g.remapped--; /* its middle: stays bad */
		}
		i++;
	}
	pthread_mutex_unlock(&g.mu);
}

static int bf_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	if (is_ctl(path)) {
		memset(st, 0, sizeof(*st));
		st->st_mode = S_IFREG | 0600;
		st->st_nlink = 1;
		st->st_size = CTL_MAXLEN;
		return 0;
	}
	if (fi)
		return fstat((int)fi->fh, st) ? -errno : 0;
	return fstatat(g.src, rel(path), st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int bf_open(const char *path, struct fuse_file_info *fi)
{
	int fd;

	fi->direct_io = 1;
	if (is_ctl(path)) {
		fi->fh = (uint64_t)-1;
		return 0;
	}
	/* O_DIRECT is the kernel's business here (direct_io): not below */
	fd = openat(g.src, rel(path), fi->flags & ~(O_DIRECT | O_CREAT | O_EXCL));
	if (fd < 0)
		return -errno;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int bf_create(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	int fd;

	if (is_ctl(path))
		return -EEXIST;
	fd = openat(g.src, rel(path), (fi->flags & ~O_DIRECT) | O_CREAT, mode);
	if (fd < 0)
		return -errno;
	fi->direct_io = 1;
	fi->fh = (uint64_t)fd;
	return 0;
}

static int bf_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	if (is_ctl(path)) {
		char text[CTL_MAXLEN];
		size_t len = ctl_text(text, sizeof(text));

		if ((size_t)off >= len)
			return 0;
		if (size > len - (size_t)off)
			size = len - (size_t)off;
		memcpy(buf, text + off, size);
		return (int)size;
	}
	if (read_bad(path, (uint64_t)off, size))
		return -EIO;
	n = pread((int)fi->fh, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static int bf_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	ssize_t n;

	if (is_ctl(path)) {
		int ret = ctl_cmd(buf, size);

		return ret ? ret : (int)size;
	}
	n = pwrite((int)fi->fh, buf, size, off);
	if (n > 0)
		write_heal(path, (uint64_t)off, (uint64_t)n);
	return n < 0 ? -errno : (int)n;
}

static int bf_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;
	return (datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh)) ? -errno : 0;
}

static int bf_release(const char *path, struct fuse_file_info *fi)
{
	if (!is_ctl(path))
		close((int)fi->fh);
	return 0;
}

static int bf_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	int ret;

	if (is_ctl(path))
		return 0;
	if (fi)
		ret = ftruncate((int)fi->fh, size);
	else {
		int fd = openat(g.src, rel(path), O_WRONLY);

		if (fd < 0)
			return -errno;
		ret = ftruncate(fd, size);
		if (ret)
			ret = -errno;
		close(fd);
		return ret;
	}
	return ret ? -errno : 0;
}

static int bf_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return -EOPNOTSUPP;
	return fallocate((int)fi->fh, mode, off, len) ? -errno : 0;
}

static int bf_unlink(const char *path)
{
	if (is_ctl(path))
		return -EPERM;
	return unlinkat(g.src, rel(path), 0) ? -errno : 0;
}

static int bf_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	int fd = openat(g.src, rel(path), O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		fill(buf, de->d_name, NULL, 0, 0);
	if (!strcmp(path, "/"))
		fill(buf, CTL + 1, NULL, 0, 0);
	closedir(d);
	return 0;
}

static int bf_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;
	return utimensat(g.src, rel(path), tv, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
}

static int bf_chmod(const char *path, mode_t mode, struct fuse_file_info *fi)
{
	if (is_ctl(path))
		return 0;
	return fchmodat(g.src, rel(path), mode, 0) ? -errno : 0;
}

static const struct fuse_operations ops = {
    .getattr = bf_getattr,
    .open = bf_open,
    .create = bf_create,
    .read = bf_read,
    .write = bf_write,
    .fsync = bf_fsync,
    .release = bf_release,
    .truncate = bf_truncate,
    .fallocate = bf_fallocate,
    .unlink = bf_unlink,
    .readdir = bf_readdir,
    .utimens = bf_utimens,
    .chmod = bf_chmod,
};

int main(int argc, char **argv)
{
	char *fargv[16];
	int fargc = 0;

	if (argc < 3 || argc > 8) {
		fprintf(stderr, "usage: wbbadfs SRC MNT [fuse options, e.g. -f]\n");
		return 2;
	}
	g.src = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (g.src < 0) {
		fprintf(stderr, "wbbadfs: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fargv[fargc++] = argv[0];
	fargv[fargc++] = argv[2];
	for (int i = 3; i < argc; i++)
		fargv[fargc++] = argv[i];
	/* root reaches it (the daemons run as root); no cached attributes */
	fargv[fargc++] = "-o";
	fargv[fargc++] = "default_permissions,attr_timeout=0,entry_timeout=0";
	fargv[fargc] = NULL;
	return fuse_main(fargc, fargv, &ops, NULL);
}
