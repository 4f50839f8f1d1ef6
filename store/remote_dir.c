/*
 * remote_dir.c - the directory backend: a remote that is a folder (local,
 * or a mounted network file system), "file:///path" or a plain path.
 *
 * Keys are paths below the folder.  A put writes a temporary file in
 * <root>/tmp and renames it over the key, so readers see a whole file or
 * none; a put killed midway leaves its file there, which a gc of the
 * remote removes (clean) once it is older than the grace period.
 * Durability comes from sync() (when fsync is on): an fsync of each file
 * put since the last sync and of their folders when they are few, else one
 * syncfs() of the file system, which also writes whatever else waits on
 * it.  A ref's compare-and-swap holds refs/<name>.lock (O_CREAT|O_EXCL)
 * while it reads, compares and renames the new value into place, which
 * takes milliseconds.  A lock older than
 * 30 seconds, or one seen unchanged (same file, time and size) for
 * 2 seconds of waiting, was left by a killed process and is taken over
 * with a warning; the second rule needs no clock shared with the server.
 */
#include "remote.h"
#include "error.h"
#include "fsutil.h"
#include "refs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Large files start their write-back every this many bytes. */
#define DIR_WRITEBACK_STEP (8u << 20)
#define STALE_LOCK_SECONDS 30
#define LOCK_WAIT_MS 10000
#define UNCHANGED_LOCK_MS 2000

struct dir_remote {
	struct mlops_remote base;
	char *root;
	char *tmp;
	int fsync;
	pthread_mutex_t lock;
	char *written[MLOPS_FSYNC_FILES]; /* files put since the last sync */
	size_t nwritten;
	int overflow;                   /* more than that: syncfs() */
};

static int key_path(char *buf, size_t size, const struct dir_remote *d, const char *key)
{
	if (strstr(key, "..") || key[0] == '/')
		return mlops_error_set(MLOPS_EINVALID, "'%s' is not a valid remote key", key);
	if ((size_t)snprintf(buf, size, "%s/%s", d->root, key) >= size)
		return mlops_error_set(MLOPS_EINVALID, "remote key '%s' is too long", key);
	return 0;
}

static int dir_has_many(struct mlops_remote *r, const char *const *keys, size_t n,
			unsigned char *present)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX];
	for (size_t i = 0; i < n; i++) {
		int err = key_path(path, sizeof(path), d, keys[i]);
		if (err < 0)
			return err;
		present[i] = access(path, F_OK) == 0;
	}
	return 0;
}

static int parent_dir(const char *path)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", path);
	char *slash = strrchr(buf, '/');
	if (!slash || slash == buf)
		return 0;
	*slash = '\0';
	if (mkdir(buf, 0777) == 0 || errno == EEXIST)
		return 0;
	return mlops_mkdir_p(buf);
}

/* Write data to a temporary file in <root>/tmp; *tmp is the caller's. */
static int write_tmp(char **tmp, struct dir_remote *d, const void *data, size_t len, int sync)
{
	int fd, err;
	if ((err = mlops_tempfile(&fd, tmp, d->tmp, "put-")) < 0) {
		if (mlops_mkdir_p(d->tmp) < 0)
			return err;
		mlops_error_clear();
		if ((err = mlops_tempfile(&fd, tmp, d->tmp, "put-")) < 0)
			return err;
	}
	mlops_tempfile_register(*tmp);
	if (fchmod(fd, 0444 & ~mlops_umask()) < 0 || mlops_write_all(fd, data, len) < 0 ||
	    (sync && fsync(fd) < 0)) {
		err = mlops_error_sys(errno, "unable to write '%s'", *tmp);
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		err = mlops_error_sys(errno, "unable to write '%s'", *tmp);
		goto fail;
	}
	return 0;
fail:
	unlink(*tmp);
	mlops_tempfile_forget(*tmp);
	free(*tmp);
	*tmp = NULL;
	return err;
}

/*
 * Write data as an unnamed file (O_TMPFILE) and link it at path, for keys
 * that are never replaced (an existing file is the same bytes): 1 when the
 * file system cannot, 0 or an error otherwise.  No directory is locked
 * while the inode is allocated, so writers do not queue on the tmp
 * directory (pushing a 2 GiB file's 4,100 chunks here: 4.2 s named, 3.0 s
 * unnamed), and a crash leaves nothing behind.
 */
static int put_unnamed(struct dir_remote *d, const char *path, size_t n, mlops_remote_part_cb part,
		       void *payload)
{
	char proc[64];
	int fd = open(d->tmp, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0444 & ~mlops_umask());
	if (fd < 0)
		return 1;
	int err = 0;
	uint64_t total = 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	for (size_t i = 0; i < n && err == 0; i++) {
		struct mlops_remote_part pt;
		if ((err = part(payload, i, &pt)) < 0)
			break;
		if (mlops_write_all(fd, pt.data, pt.len) < 0)
			err = mlops_error_sys(errno, "unable to write '%s'", path);
		/*
		 * A large file starts its write-back as it grows, so that the
		 * disk works while the rest is read and verified, and the final
		 * sync finds little left to write.  Only a hint.
		 */
		if (d->fsync && (total + pt.len) / DIR_WRITEBACK_STEP != total / DIR_WRITEBACK_STEP)
			(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		total += pt.len;
	}
	if (err < 0) {
		close(fd);
		return err;
	}
	if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) < 0) {
		if (errno == ENOENT && parent_dir(path) == 0 &&
		    linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
			err = 0;
		else if (errno == EEXIST)
			err = 0; /* stored meanwhile: the same bytes, named by their id */
		else if (access(proc, F_OK) < 0)
			err = 1; /* no /proc: the named way */
		else
			err = mlops_error_sys(errno, "unable to write '%s'", path);
	}
	close(fd);
	return err;
}

static int one_part(void *payload, size_t i, struct mlops_remote_part *out)
{
	(void)i;
	*out = *(struct mlops_remote_part *)payload;
	return 0;
}

static int dir_put_raw(struct mlops_remote *r, const char *key, const void *data, size_t len)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX], *tmp = NULL;
	int err = key_path(path, sizeof(path), d, key);
	if (err < 0)
		return err;
	/* Objects and packs are named by their content: never replaced. */
	struct mlops_remote_part part = { data, len };
	if ((!strncmp(key, "objects/", 8) || !strncmp(key, "packs/", 6)) &&
	    (err = put_unnamed(d, path, 1, one_part, &part)) <= 0)
		return err;
	if ((err = write_tmp(&tmp, d, data, len, 0)) < 0)
		return err;
	if (rename(tmp, path) < 0) {
		if (errno != ENOENT || parent_dir(path) < 0 || rename(tmp, path) < 0)
			err = mlops_error_sys(errno, "unable to write '%s'", path);
	}
	if (err < 0)
		unlink(tmp);
	mlops_tempfile_forget(tmp);
	free(tmp);
	return err;
}

/* Packs: content-named, written unnamed and linked; else joined and put. */
static int dir_put_parts_raw(struct mlops_remote *r, const char *key, size_t n,
			     mlops_remote_part_cb part, void *payload)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX];
	int err = key_path(path, sizeof(path), d, key);
	if (err < 0)
		return err;
	if ((err = put_unnamed(d, path, n, part, payload)) <= 0)
		return err;
	/* No O_TMPFILE here: joined in one buffer, put the named way. */
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (size_t i = 0; i < n && err >= 0; i++) {
		struct mlops_remote_part pt;
		if ((err = part(payload, i, &pt)) < 0)
			break;
		if (len + pt.len > cap) {
			size_t ncap = cap ? cap : 1 << 20;
			while (ncap < len + pt.len)
				ncap *= 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				break;
			}
			buf = nb;
			cap = ncap;
		}
		if (pt.len)
			memcpy(buf + len, pt.data, pt.len);
		len += pt.len;
	}
	if (err >= 0)
		err = dir_put_raw(r, key, buf ? buf : "", len);
	free(buf);
	return err;
}

static int dir_path(struct mlops_remote *r, const char *key, char **out)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX];
	int err = key_path(path, sizeof(path), d, key);
	*out = NULL;
	if (err < 0)
		return err;
	if (access(path, F_OK) < 0)
		return errno == ENOENT ?
		       mlops_error_set(MLOPS_ENOTFOUND, "'%s' not found on remote '%s'", key, d->base.url) :
		       mlops_error_sys(errno, "unable to open '%s'", path);
	if (!(*out = strdup(path)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	return 0;
}

/* Copy the file at src into fd, the file dst. */
static int copy_fd(int out, const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return mlops_error_sys(errno, "unable to open '%s'", src);
	struct stat st;
	int err = fstat(in, &st) < 0 ? mlops_error_sys(errno, "unable to stat '%s'", src) :
		  mlops_copy_fd(out, in, (uint64_t)st.st_size, src, dst, 0);
	close(in);
	return err;
}

static int dir_put_file_raw(struct mlops_remote *r, const char *key, const char *src)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX], *tmp = NULL;
	int fd, err = key_path(path, sizeof(path), d, key);
	if (err < 0)
		return err;
	if ((err = mlops_tempfile(&fd, &tmp, d->tmp, "put-")) < 0) {
		if (mlops_mkdir_p(d->tmp) < 0)
			return err;
		mlops_error_clear();
		if ((err = mlops_tempfile(&fd, &tmp, d->tmp, "put-")) < 0)
			return err;
	}
	mlops_tempfile_register(tmp);
	if (fchmod(fd, 0444 & ~mlops_umask()) < 0)
		err = mlops_error_sys(errno, "unable to write '%s'", tmp);
	if (err == 0)
		err = copy_fd(fd, src, tmp);
	if (close(fd) < 0 && err == 0)
		err = mlops_error_sys(errno, "unable to write '%s'", tmp);
	if (err == 0 && rename(tmp, path) < 0) {
		if (errno != ENOENT || parent_dir(path) < 0 || rename(tmp, path) < 0)
			err = mlops_error_sys(errno, "unable to write '%s'", path);
	}
	if (err < 0)
		unlink(tmp);
	mlops_tempfile_forget(tmp);
	free(tmp);
	return err;
}

/*
 * Link src, a file of the local store, as key: a push to a folder on the
 * same file system writes no byte (git's local clones share objects the
 * same way).  The file's time is set to now first, so that the key
 * appears with it and a gc of the remote counts its grace period from the
 * push, not from when the file was written; only a file this user owns
 * can be given a time, any other is copied.
 */
static int dir_put_link_raw(struct mlops_remote *r, const char *key, const char *src)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX];
	int err;
	if (!d->base.hardlinks)
		return 1;
	if ((err = key_path(path, sizeof(path), d, key)) < 0)
		return err;
	if (utimensat(AT_FDCWD, src, NULL, 0) < 0)
		return 1;
	int rc = link(src, path), e = errno;
	if (rc < 0 && e == ENOENT) {
		if ((err = parent_dir(path)) < 0)
			return err;
		rc = link(src, path);
		e = errno;
	}
	if (rc == 0 || e == EEXIST) /* there already: the same bytes, named by their content */
		return 0;
	if (e == EXDEV || e == EPERM || e == EMLINK || e == EOPNOTSUPP)
		return 1;
	return mlops_error_sys(e, "unable to write '%s'", path);
}

/*
 * Open key's file for reading: *fd and *st on success (the caller closes
 * *fd); MLOPS_ENOTFOUND, MLOPS_EREMOTE for something else than a file or
 * one above max_size (more than what mlops writes there: the remote's
 * failure).  path receives the file's path.
 */
static int open_key(int *fd, struct stat *st, char path[PATH_MAX], struct dir_remote *d,
		    const char *key, uint64_t max_size)
{
	int err = key_path(path, PATH_MAX, d, key);
	if (err < 0)
		return err;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		if (errno == ENOENT)
			return mlops_error_set(MLOPS_ENOTFOUND, "'%s' not found on remote '%s'", key,
					       d->base.url);
		return mlops_error_sys(errno, "unable to open '%s'", path);
	}
	if (fstat(*fd, st) < 0 || !S_ISREG(st->st_mode))
		err = mlops_error_set(MLOPS_EREMOTE, "'%s' on remote '%s' is not a file", key,
				      d->base.url);
	else if ((uint64_t)st->st_size > max_size)
		err = mlops_error_set(MLOPS_EREMOTE, "'%s' on remote '%s' is larger than %llu bytes",
				      key, d->base.url, (unsigned long long)max_size);
	if (err < 0) {
		close(*fd);
		*fd = -1;
	}
	return err;
}

static int dir_get(struct mlops_remote *r, const char *key, void **out, size_t *len,
		   size_t max_size)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX];
	struct stat st;
	int fd, err;
	*out = NULL;
	if ((err = open_key(&fd, &st, path, d, key, max_size)) < 0)
		return err;
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	ssize_t n = mlops_read_full(fd, buf, (size_t)st.st_size);
	int e = errno;
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return mlops_error_sys(n < 0 ? e : EIO, "unable to read '%s'", path);
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return 0;
}

static int dir_get_file(struct mlops_remote *r, const char *key, int out, uint64_t *len,
			uint64_t max_size)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX];
	struct stat st;
	int fd, err;
	if ((err = open_key(&fd, &st, path, d, key, max_size)) < 0)
		return err;
	if ((err = mlops_copy_fd(out, fd, (uint64_t)st.st_size, path, NULL, 0)) == 0)
		*len = (uint64_t)st.st_size;
	close(fd);
	return err;
}

static int list_rec(struct dir_remote *d, const char *abs, const char *rel,
		    mlops_remote_list_cb cb, void *payload)
{
	DIR *dir = opendir(abs);
	if (!dir) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return mlops_error_sys(errno, "unable to read '%s'", abs);
	}
	struct dirent *de;
	int err = 0;
	while (!err && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		char *a = mlops_path_join(abs, de->d_name);
		char *r = mlops_strdupf("%s%s", rel, de->d_name);
		if (!a || !r) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		} else if (S_ISDIR(st.st_mode)) {
			char *rs = mlops_strdupf("%s/", r);
			err = rs ? list_rec(d, a, rs, cb, payload) : mlops_error_set(MLOPS_ERROR, "out of memory");
			free(rs);
		} else if (S_ISREG(st.st_mode)) {
			err = cb(r, (uint64_t)st.st_size, (long long)st.st_mtime, payload);
		}
		free(a);
		free(r);
	}
	closedir(dir);
	return err;
}

static int dir_list(struct mlops_remote *r, const char *prefix, mlops_remote_list_cb cb,
		    void *payload)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX];
	int err = key_path(path, sizeof(path), d, prefix);
	if (err < 0)
		return err;
	size_t l = strlen(prefix);
	if (l && prefix[l - 1] == '/')
		return list_rec(d, path, prefix, cb, payload);
	/* A prefix that is not a folder: list its folder and filter. */
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return cb(prefix, (uint64_t)st.st_size, (long long)st.st_mtime, payload);
	return 0;
}

static int dir_remove_raw(struct mlops_remote *r, const char *key)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX];
	int err = key_path(path, sizeof(path), d, key);
	if (err < 0)
		return err;
	if (unlink(path) < 0 && errno != ENOENT)
		return mlops_error_sys(errno, "unable to remove '%s'", path);
	return 0;
}

static int dir_sync_raw(struct mlops_remote *r)
{
	struct dir_remote *d = (struct dir_remote *)r;
	int err = 0;
	if (!d->fsync)
		return 0;
	pthread_mutex_lock(&d->lock);
	/*
	 * The files put since the last sync and their folders (a key that a
	 * gc of the remote removed meanwhile is fine: the push learns so and
	 * sends it again), or the file system when there were many.
	 */
	if (!d->overflow)
		err = mlops_fsync_files_up_to(d->written, d->nwritten, d->root);
	else
		err = mlops_syncfs(d->root);
	if (err == 0) {
		for (size_t i = 0; i < d->nwritten; i++)
			free(d->written[i]);
		d->nwritten = 0;
		d->overflow = 0;
	}
	pthread_mutex_unlock(&d->lock);
	return err;
}

/*
 * Unlink the regular files in <root>/tmp last written over age seconds ago
 * (with dry_run, count them only).  A put writes its bytes there under a
 * name of its own and renames them over the key when they are complete;
 * one that old was left by a push that was killed.  A folder that is not
 * there (nothing was ever put the named way) holds nothing; links and
 * anything else that is not a regular file are left alone, and no link
 * is followed, tmp itself included.
 */
static int dir_clean_raw(struct mlops_remote *r, long long age, int dry_run, size_t *count)
{
	struct dir_remote *d = (struct dir_remote *)r;
	long long cutoff = (long long)time(NULL) - age;
	*count = 0;
	int fd = open(d->tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 :
		       mlops_error_sys(errno, "unable to open '%s'", d->tmp);
	DIR *dir = fdopendir(fd);
	if (!dir) {
		int e = errno;
		close(fd);
		return mlops_error_sys(e, "unable to read '%s'", d->tmp);
	}
	struct dirent *de;
	int err = 0;
	while (err == 0 && (errno = 0, de = readdir(dir))) {
		struct stat st;
		if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || mlops_remote_too_recent((long long)st.st_mtime, cutoff, age))
			continue;
		if (dry_run) {
			(*count)++;
		} else if (unlinkat(dirfd(dir), de->d_name, 0) == 0) {
			(*count)++;
		} else if (errno != ENOENT) {
			/* ENOENT: its put renamed it into place meanwhile, or another gc took it. */
			err = mlops_error_sys(errno, "unable to remove '%s/%s'", d->tmp, de->d_name);
		}
	}
	if (err == 0 && errno)
		err = mlops_error_sys(errno, "unable to read '%s'", d->tmp);
	closedir(dir);
	return err;
}

static int parse_ref(mlops_oid *out, const char *text, size_t len, const char *name)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	if (len < MLOPS_OID_HEXSZ)
		return mlops_error_set(MLOPS_ECORRUPT, "remote ref '%s' is damaged: it holds no id", name);
	memcpy(hex, text, MLOPS_OID_HEXSZ);
	hex[MLOPS_OID_HEXSZ] = '\0';
	if (mlops_oid_parse(out, hex) < 0)
		return mlops_error_set(MLOPS_ECORRUPT, "remote ref '%s' is damaged: it holds no id", name);
	return 0;
}

static int dir_ref_read(struct mlops_remote *r, const char *name, mlops_oid *out)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX], *text = NULL;
	size_t len;
	if (!mlops_ref_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid ref name", name);
	if ((size_t)snprintf(path, sizeof(path), "%s/refs/%s", d->root, name) >= sizeof(path))
		return mlops_error_set(MLOPS_EINVALID, "ref name '%s' is too long", name);
	int err = mlops_read_file(&text, &len, path);
	if (err == MLOPS_ENOTFOUND)
		return mlops_error_set(MLOPS_ENOTFOUND, "ref '%s' not found on remote '%s'", name, r->url);
	if (err < 0)
		return err;
	err = parse_ref(out, text, len, name);
	free(text);
	return err;
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static int take_lock(int *fd_out, const char *lock)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	struct stat seen = { 0 };
	int seen_at = -1;
	for (int waited = 0;; waited += 10) {
		int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0) {
			*fd_out = fd;
			return 0;
		}
		if (errno == ENOENT) {
			if (parent_dir(lock) < 0)
				return MLOPS_EIO;
			continue;
		}
		if (errno != EEXIST)
			return mlops_error_sys(errno, "unable to create '%s'", lock);
		struct stat st;
		if (stat(lock, &st) < 0)
			continue;
		if (seen_at < 0 || !same_file(&st, &seen)) {
			seen = st;
			seen_at = waited;
		}
		if (time(NULL) - st.st_mtime > STALE_LOCK_SECONDS ||
		    waited - seen_at >= UNCHANGED_LOCK_MS) {
			if (unlink(lock) == 0)
				mlops_warning_add("removed '%s', left by a push that was killed", lock);
			seen_at = -1;
			continue;
		}
		if (waited >= LOCK_WAIT_MS)
			return mlops_error_set(MLOPS_ELOCKED,
					       "'%s' is held by another push; if none is running, remove it",
					       lock);
		nanosleep(&pause, NULL);
	}
}

static int dir_ref_cas_raw(struct mlops_remote *r, const char *name, const mlops_oid *id,
			   const mlops_oid *expected)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX], lock[PATH_MAX + 8], hex[MLOPS_OID_HEXSZ + 2];
	int fd = -1, err;
	if (!mlops_ref_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid ref name", name);
	if ((size_t)snprintf(path, sizeof(path), "%s/refs/%s", d->root, name) >= sizeof(path))
		return mlops_error_set(MLOPS_EINVALID, "ref name '%s' is too long", name);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	if ((err = take_lock(&fd, lock)) < 0)
		return err;
	mlops_tempfile_register(lock);
	mlops_oid cur;
	err = dir_ref_read(r, name, &cur);
	if ((err = mlops_remote_cas_expect(err, &cur, expected, name, r->url)) < 0)
		goto fail;
	if (!id) {
		if (unlink(path) < 0 && errno != ENOENT)
			err = mlops_error_sys(errno, "unable to remove '%s'", path);
		goto fail; /* releases the lock */
	}
	mlops_oid_fmt(hex, id);
	hex[MLOPS_OID_HEXSZ] = '\n';
	if (mlops_write_all(fd, hex, MLOPS_OID_HEXSZ + 1) < 0 || (d->fsync && fsync(fd) < 0)) {
		err = mlops_error_sys(errno, "unable to write '%s'", lock);
		goto fail;
	}
	close(fd);
	fd = -1;
	if (rename(lock, path) < 0) {
		err = mlops_error_sys(errno, "unable to write '%s'", path);
		goto fail;
	}
	mlops_tempfile_forget(lock);
	if (d->fsync) {
		char *slash = strrchr(path, '/');
		*slash = '\0';
		mlops_fsync_dir(path);
		mlops_error_clear();
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(lock);
	mlops_tempfile_forget(lock);
	return err;
}

/*
 * What writes to the remote.  A failure to write there (a full or
 * read-only file system, a permission) is the remote's (MLOPS_EREMOTE),
 * named by its URL, not a local I/O error.
 */
static int remote_failure(struct mlops_remote *r, int err)
{
	if (err == MLOPS_EIO)
		return mlops_error_wrap(MLOPS_EREMOTE, "unable to write to remote '%s'", r->url);
	return err;
}

/* Remember a key put (err 0), for sync; returns err. */
static int put_done(struct mlops_remote *r, const char *key, int err)
{
	struct dir_remote *d = (struct dir_remote *)r;
	char path[PATH_MAX];
	if (err != 0 || !d->fsync)
		return remote_failure(r, err);
	pthread_mutex_lock(&d->lock);
	if (!d->overflow) {
		char *copy = NULL;
		if (d->nwritten < MLOPS_FSYNC_FILES && key_path(path, sizeof(path), d, key) == 0)
			copy = strdup(path);
		if (copy) {
			d->written[d->nwritten++] = copy;
		} else {
			d->overflow = 1;
			for (size_t i = 0; i < d->nwritten; i++)
				free(d->written[i]);
			d->nwritten = 0;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static int dir_put(struct mlops_remote *r, const char *key, const void *data, size_t len)
{
	return put_done(r, key, dir_put_raw(r, key, data, len));
}

/* The caller's parts, and whether one of them failed (its error is not the remote's). */
struct part_source {
	mlops_remote_part_cb part;
	void *payload;
	int failed;
};

static int source_part(void *payload, size_t i, struct mlops_remote_part *out)
{
	struct part_source *src = payload;
	int err = src->part(src->payload, i, out);
	if (err < 0)
		src->failed = 1;
	return err;
}

static int dir_put_parts(struct mlops_remote *r, const char *key, size_t n,
			 mlops_remote_part_cb part, void *payload)
{
	struct part_source src = { part, payload, 0 };
	int err = dir_put_parts_raw(r, key, n, source_part, &src);
	return src.failed ? err : put_done(r, key, err);
}

static int dir_put_file(struct mlops_remote *r, const char *key, const char *src)
{
	return put_done(r, key, dir_put_file_raw(r, key, src));
}

static int dir_put_link(struct mlops_remote *r, const char *key, const char *src)
{
	return put_done(r, key, dir_put_link_raw(r, key, src));
}

static int dir_remove(struct mlops_remote *r, const char *key)
{
	return remote_failure(r, dir_remove_raw(r, key));
}

static int dir_sync(struct mlops_remote *r)
{
	return remote_failure(r, dir_sync_raw(r));
}

static int dir_ref_cas(struct mlops_remote *r, const char *name, const mlops_oid *id,
		       const mlops_oid *expected)
{
	return remote_failure(r, dir_ref_cas_raw(r, name, id, expected));
}

static int dir_clean(struct mlops_remote *r, long long age, int dry_run, size_t *count)
{
	return remote_failure(r, dir_clean_raw(r, age, dry_run, count));
}

static void dir_free(struct mlops_remote *r)
{
	struct dir_remote *d = (struct dir_remote *)r;
	if (!d)
		return;
	free(d->base.url);
	free(d->root);
	free(d->tmp);
	for (size_t i = 0; i < d->nwritten; i++)
		free(d->written[i]);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

int mlops_remote_dir_open(struct mlops_remote **out, const char *url,
			  const struct mlops_remote_options *opts)
{
	const char *path = !strncmp(url, "file://", 7) ? url + 7 : url;
	*out = NULL;
	if (!*path)
		return mlops_error_set(MLOPS_EUSAGE, "'%s' names no directory", url);
	struct dir_remote *d = calloc(1, sizeof(*d));
	if (!d)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	pthread_mutex_init(&d->lock, NULL);
	d->root = strdup(path);
	size_t l = d->root ? strlen(d->root) : 0;
	while (l > 1 && d->root[l - 1] == '/')
		d->root[--l] = '\0';
	d->tmp = d->root ? mlops_path_join(d->root, "tmp") : NULL;
	d->base.url = strdup(url);
	if (!d->root || !d->tmp || !d->base.url) {
		dir_free(&d->base);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	/*
	 * A folder that is not there is never made here: it may be a file
	 * system that is not mounted (mlops remote add makes a new one when
	 * its parent exists).
	 */
	struct stat st;
	if (stat(d->root, &st) < 0) {
		int e = errno;
		dir_free(&d->base);
		if (e == ENOENT)
			return mlops_error_set(MLOPS_EREMOTE, "'%s' does not exist: is it mounted? "
					       "(push and fetch never make a remote's folder: mount it, "
					       "or make it with 'mkdir -p')", path);
		return mlops_error_set(MLOPS_EREMOTE, "unable to open '%s': %s", path, strerror(e));
	}
	if (!S_ISDIR(st.st_mode)) {
		dir_free(&d->base);
		return mlops_error_set(MLOPS_EUSAGE, "remote '%s' is not a directory", url);
	}
	d->fsync = opts ? opts->fsync : 1;
	d->base.scheme = "file";
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	d->base.jobs = ncpu > 2 ? (int)(ncpu > 16 ? 16 : ncpu) : 2;
	d->base.list_page = 10000;
	d->base.has_many = dir_has_many;
	d->base.put = dir_put;
	d->base.put_file = dir_put_file;
	d->base.put_link = dir_put_link;
	d->base.put_parts = dir_put_parts;
	d->base.path = dir_path;
	d->base.hardlinks = opts ? opts->hardlinks : 1;
	d->base.get = dir_get;
	d->base.get_file = dir_get_file;
	d->base.list = dir_list;
	d->base.remove = dir_remove;
	d->base.sync = dir_sync;
	d->base.clean = dir_clean;
	d->base.ref_read = dir_ref_read;
	d->base.ref_cas = dir_ref_cas;
	d->base.free = dir_free;
	*out = &d->base;
	return 0;
}
