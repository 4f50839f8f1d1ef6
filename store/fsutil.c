/*
 * fsutil.c - file-system helpers (see fsutil.h).
 *
 * The temporary-file registry is a fixed table of paths guarded by a mutex
 * for normal use; the signal handler only reads it and calls unlink(), and
 * for a directory openat(), getdents64, unlinkat() and close(), which are
 * async-signal-safe (readdir() is not).  Paths are copied into the table,
 * so callers keep ownership of their strings.  Each path remembers the process that
 * registered it: a forked child that exits or is killed inherits the table
 * but must not remove its parent's lock or temporary files.
 */
#include "fsutil.h"
#include "error.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int mlops_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(buf))
		return mlops_error_set(MLOPS_EINVALID, "path too long: '%s'", path);
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0777) < 0 && errno != EEXIST)
			return mlops_error_sys(errno, "unable to create directory '%s'", buf);
		buf[i] = c;
	}
	return 0;
}

int mlops_path_check_parents(const char *base, const char *rel)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t bl = strlen(base);
	if (snprintf(buf, sizeof(buf), "%s/%s", base, rel) >= (int)sizeof(buf))
		return mlops_error_set(MLOPS_EINVALID, "path too long: '%s'", rel);
	for (char *p = buf + bl + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		int r = lstat(buf, &st);
		if (r == 0 && S_ISLNK(st.st_mode))
			return mlops_error_set(MLOPS_ECONFLICT, "'%s' is below the symbolic link '%s': "
					       "refusing to write through it", rel, buf + bl + 1);
		*p = '/';
		if (r < 0)
			break; /* the rest does not exist yet */
	}
	return 0;
}

ssize_t mlops_read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int mlops_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mlops_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

int mlops_copy_fd(int out, int in, uint64_t size, const char *src, const char *dst, int clone)
{
	if (clone && size && ioctl(out, FICLONE, in) == 0)
		return 0;
	uint64_t left = size;
	while (left > 0) {
		size_t want = left < (1u << 30) ? (size_t)left : (1u << 30);
		ssize_t n = copy_file_range(in, NULL, out, NULL, want, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
			      errno == EOPNOTSUPP)) {
			char buf[1 << 16];
			n = read(in, buf, want < sizeof(buf) ? want : sizeof(buf));
			if (n > 0 && mlops_write_all(out, buf, (size_t)n) < 0)
				n = -1;
		}
		if (n <= 0)
			return dst ? mlops_error_sys(n < 0 ? errno : EIO, "unable to copy '%s' to '%s'", src, dst) :
			       mlops_error_sys(n < 0 ? errno : EIO, "unable to copy '%s'", src);
		left -= (uint64_t)n;
	}
	return 0;
}

int mlops_read_file(char **out, size_t *len, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*out = NULL;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return mlops_error_set(MLOPS_ENOTFOUND, "unable to open '%s': %s",
					       path, strerror(errno));
		return mlops_error_sys(errno, "unable to open '%s'", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return mlops_error_sys(e, "unable to stat '%s'", path);
	}
	size_t cap = st.st_size > 0 ? (size_t)st.st_size : 4096, used = 0;
	char *buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return mlops_error_set(MLOPS_ERROR, "out of memory reading '%s'", path);
	}
	for (;;) {
		ssize_t n = read(fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			close(fd);
			return mlops_error_sys(e, "unable to read '%s'", path);
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				close(fd);
				return mlops_error_set(MLOPS_ERROR, "out of memory reading '%s'", path);
			}
			buf = nb;
			cap *= 2;
		}
	}
	close(fd);
	buf[used] = '\0';
	*out = buf;
	if (len)
		*len = used;
	return 0;
}

/* fsync path; a path that is not there is success when missing_ok. */
static int fsync_one(const char *path, int missing_ok)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (missing_ok && errno == ENOENT)
			return 0;
		return mlops_error_sys(errno, "unable to open '%s'", path);
	}
	int rc = fsync(fd), e = errno;
	close(fd);
	return rc < 0 && e != EINVAL ? mlops_error_sys(e, "unable to sync '%s'", path) : 0;
}

int mlops_fsync_path(const char *path)
{
	return fsync_one(path, 0);
}

int mlops_fsync_dir(const char *dir)
{
	return mlops_fsync_path(dir);
}

int mlops_syncfs(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return mlops_error_sys(errno, "unable to open '%s'", dir);
	int rc = syncfs(fd), e = errno;
	close(fd);
	return rc < 0 ? mlops_error_sys(e, "unable to sync '%s'", dir) : 0;
}

int mlops_fsync_files_up_to(char *const *files, size_t n, const char *root)
{
	char **dirs = NULL;
	size_t ndirs = 0, cap = 0, rootlen = strlen(root);
	int err = 0;
	while (rootlen > 1 && root[rootlen - 1] == '/')
		rootlen--;
	for (size_t i = 0; i < n && err == 0; i++) {
		if ((err = fsync_one(files[i], 1)) < 0)
			break;
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", files[i]);
		for (char *slash; err == 0 && (slash = strrchr(dir, '/')) && (size_t)(slash - dir) >= rootlen;) {
			*slash = '\0';
			size_t k = 0;
			while (k < ndirs && strcmp(dirs[k], dir))
				k++;
			if (k < ndirs)
				continue;
			if (ndirs == cap) {
				size_t ncap = cap ? 2 * cap : 16;
				char **grown = realloc(dirs, ncap * sizeof(*dirs));
				if (grown) {
					dirs = grown;
					cap = ncap;
				}
			}
			/* Not remembered (no memory): only synced twice. */
			if (ndirs < cap && (dirs[ndirs] = strdup(dir)))
				ndirs++;
			err = fsync_one(dir, 1);
		}
	}
	for (size_t k = 0; k < ndirs; k++)
		free(dirs[k]);
	free(dirs);
	return err;
}

char *mlops_strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

char *mlops_path_join(const char *a, const char *b)
{
	size_t la = strlen(a);
	if (la && a[la - 1] == '/')
		return mlops_strdupf("%s%s", a, b);
	return mlops_strdupf("%s/%s", a, b);
}

/* --- temporary file registry ------------------------------------------ */

#define MAX_TEMPS 256
static char temp_paths[MAX_TEMPS][PATH_MAX];
static volatile sig_atomic_t temp_used[MAX_TEMPS];
static volatile sig_atomic_t temp_isdir[MAX_TEMPS]; /* a directory, removed with what it holds */
static pid_t temp_owner[MAX_TEMPS];
static pthread_mutex_t temp_mutex = PTHREAD_MUTEX_INITIALIZER;
static int temp_handlers_installed;
/*
 * This process's id, asked once and again in a forked child: getpid() is a
 * system call, and a checkout registers one name per file.
 */
static pid_t temp_pid;

static void temp_forked(void)
{
	temp_pid = getpid();
}

/*
 * Remove `name` in dirfd, and when it is a directory all it holds, with
 * async-signal-safe calls only (the signal handler's): never through a
 * link, to a depth of 64 folders.  What another thread creates meanwhile
 * is looked for again, a few times.
 */
static void remove_tree_at(int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM))
		return;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	/* struct linux_dirent64: what getdents64 fills in. */
	struct dent {
		uint64_t ino;
		int64_t off;
		unsigned short reclen;
		unsigned char type;
		char name[];
	};
	_Alignas(8) char buf[1024];
	for (int pass = 0; pass < 4 && depth < 64; pass++) {
		long n;
		if (lseek(fd, 0, SEEK_SET) < 0)
			break;
		while ((n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
			for (long at = 0; at < n;) {
				struct dent *d = (struct dent *)(buf + at);
				at += d->reclen;
				if (d->name[0] == '.' && (!d->name[1] || (d->name[1] == '.' && !d->name[2])))
					continue;
				remove_tree_at(fd, d->name, depth + 1);
			}
		}
		if (unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno != ENOTEMPTY)
			break;
	}
	close(fd);
}

/* The registered paths of this process: files, then directories (with what they hold). */
static void temp_remove_all(pid_t me)
{
	for (int i = 0; i < MAX_TEMPS; i++)
		if (temp_used[i] && temp_owner[i] == me && !temp_isdir[i])
			unlink(temp_paths[i]);
	for (int i = 0; i < MAX_TEMPS; i++)
		if (temp_used[i] && temp_owner[i] == me && temp_isdir[i])
			remove_tree_at(AT_FDCWD, temp_paths[i], 0);
}

static void temp_signal(int sig)
{
	int saved = errno;
	temp_remove_all(getpid());
	errno = saved;
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_handlers(void)
{
	if (temp_handlers_installed)
		return;
	temp_handlers_installed = 1;
	temp_pid = getpid();
	pthread_atfork(NULL, NULL, temp_forked);
	atexit(mlops_tempfile_cleanup);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction sa, old;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = temp_signal;
		sigemptyset(&sa.sa_mask);
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

/* 0, or -1 when the path is too long or the table has no room (for a directory: half of it). */
static int temp_register(const char *path, int isdir)
{
	int rc = -1, dirs = 0;
	if (strlen(path) >= PATH_MAX)
		return -1;
	pthread_mutex_lock(&temp_mutex);
	install_handlers();
	for (int i = 0; isdir && i < MAX_TEMPS; i++)
		dirs += temp_used[i] && temp_isdir[i];
	for (int i = 0; i < MAX_TEMPS && dirs < MAX_TEMPS / 2; i++) {
		if (!temp_used[i]) {
			memcpy(temp_paths[i], path, strlen(path) + 1);
			temp_owner[i] = temp_pid;
			temp_isdir[i] = isdir;
			/* The path is whole before a handler (any thread) can see the slot used. */
			atomic_thread_fence(memory_order_release);
			temp_used[i] = 1;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&temp_mutex);
	return rc;
}

void mlops_tempfile_register(const char *path)
{
	(void)temp_register(path, 0);
}

int mlops_tempdir_register(const char *path)
{
	return temp_register(path, 1);
}

void mlops_tempfile_forget(const char *path)
{
	pthread_mutex_lock(&temp_mutex);
	for (int i = 0; i < MAX_TEMPS; i++) {
		if (temp_used[i] && !strcmp(temp_paths[i], path)) {
			temp_used[i] = 0;
			break;
		}
	}
	pthread_mutex_unlock(&temp_mutex);
}

void mlops_tempfile_cleanup(void)
{
	pthread_mutex_lock(&temp_mutex);
	temp_remove_all(getpid());
	for (int i = 0; i < MAX_TEMPS; i++)
		temp_used[i] = 0;
	pthread_mutex_unlock(&temp_mutex);
}

/* This host's name as it goes into file names: [A-Za-z0-9.-], others '_'. */
static void host_tag(char *buf, size_t len)
{
	mlops_host_name(buf, len);
	for (char *p = buf; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			*p = '_';
}

int mlops_tempfile(int *fd_out, char **path_out, const char *dir, const char *prefix)
{
	char host[HOST_NAME_MAX + 1];
	host_tag(host, sizeof(host));
	char *path = mlops_strdupf("%s/%s%s-%ld-XXXXXX", dir, prefix, host, (long)getpid());
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		int err = mlops_error_sys(e, "unable to create a temporary file in '%s'", dir);
		free(path);
		return err;
	}
	*fd_out = fd;
	*path_out = path;
	return 0;
}

static mode_t process_umask;

static void read_umask(void)
{
	process_umask = umask(0);
	umask(process_umask);
}

mode_t mlops_umask(void)
{
	/* Once: umask() can only be read by setting it, and two threads
	 * doing that at once could each see the other's 0. */
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, read_umask);
	return process_umask;
}

int mlops_write_file_prepare(char **tmp_out, const char *path, const void *data, size_t len,
			     const char *tmpdir, int sync)
{
	struct stat st;
	int fd, err = 0;
	char *tmp = NULL;
	*tmp_out = NULL;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return mlops_error_sys(EISDIR, "unable to write '%s'", path);
	if ((err = mlops_tempfile(&fd, &tmp, tmpdir, "write-")) < 0)
		return err;
	mlops_tempfile_register(tmp);
	if (fchmod(fd, 0666 & ~mlops_umask()) < 0 || mlops_write_all(fd, data, len) < 0 ||
	    (sync && fsync(fd) < 0)) {
		err = mlops_error_sys(errno, "unable to write '%s'", tmp);
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		err = mlops_error_sys(errno, "unable to write '%s'", tmp);
		goto fail;
	}
	*tmp_out = tmp;
	return 0;
fail:
	mlops_write_file_abort(tmp);
	return err;
}

int mlops_write_file_finish(char *tmp, const char *path, int sync)
{
	if (rename(tmp, path) < 0) {
		int err = mlops_error_sys(errno, "unable to rename '%s' to '%s'", tmp, path);
		mlops_write_file_abort(tmp);
		return err;
	}
	mlops_tempfile_forget(tmp);
	free(tmp);
	if (sync) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash) {
			*slash = '\0';
			if (!*dir)
				strcpy(dir, "/");
		} else {
			strcpy(dir, ".");
		}
		return mlops_fsync_dir(dir);
	}
	return 0;
}

void mlops_write_file_abort(char *tmp)
{
	if (!tmp)
		return;
	unlink(tmp);
	mlops_tempfile_forget(tmp);
	free(tmp);
}

int mlops_write_file_atomic(const char *path, const void *data, size_t len,
			    const char *tmpdir, int sync)
{
	char *tmp;
	int err = mlops_write_file_prepare(&tmp, path, data, len, tmpdir, sync);
	return err < 0 ? err : mlops_write_file_finish(tmp, path, sync);
}

/* ---- working directories --------------------------------------------- */

void mlops_host_name(char *buf, size_t len)
{
	if (gethostname(buf, len - 1) < 0 || !*buf)
		snprintf(buf, len, "unknown");
	buf[len - 1] = '\0';
}

int mlops_workdir_make(char **out, const char *dir, const char *prefix)
{
	char host[HOST_NAME_MAX + 1];
	host_tag(host, sizeof(host));
	char *path = mlops_strdupf("%s/%s-%s-%ld-XXXXXX", dir, prefix, host, (long)getpid());
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (!mkdtemp(path)) {
		int err = mlops_error_sys(errno, "unable to create a working directory in '%s'", dir);
		free(path);
		return err;
	}
	*out = path;
	return 0;
}

/*
 * The process the name of a temporary file or working directory gives,
 * when it was made on this host (host: host_tag's); else 0.  Parsed from
 * the end, since prefixes and host names hold '-': "-<host>-<pid>-XXXXXX".
 */
static long name_pid(const char *name, const char *host)
{
	size_t len = strlen(name), hl = strlen(host);
	if (len < 10 || name[len - 7] != '-')
		return 0;
	const char *end = name + len - 7, *p = end;
	while (p > name && isdigit((unsigned char)p[-1]))
		p--;
	if (p == end || end - p > 9 || p == name || p[-1] != '-' || (size_t)(p - 1 - name) < hl + 1)
		return 0;
	const char *h = p - 1 - hl;
	if (memcmp(h, host, hl) || h[-1] != '-' || h - 1 == name || !isalnum((unsigned char)*name))
		return 0;
	/* The prefix: letters, digits and dashes ("import", "fetch-pack-"). */
	for (const char *c = name; c < h - 1; c++)
		if (!isalnum((unsigned char)*c) && *c != '-')
			return 0;
	return strtol(p, NULL, 10);
}

/* Whether process pid (of this host) runs; another user's counts. */
static int pid_alive(long pid)
{
	int saved = errno, alive = pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH;
	errno = saved;
	return alive;
}

int mlops_tempfile_live(const char *name)
{
	char host[HOST_NAME_MAX + 1];
	host_tag(host, sizeof(host));
	long pid = name_pid(name, host);
	return pid > 0 && pid_alive(pid);
}

int mlops_workdir_clean(const char *dir)
{
	char host[HOST_NAME_MAX + 1];
	host_tag(host, sizeof(host));
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0, saved = errno;
	while (d && (de = readdir(d))) {
		long pid = name_pid(de->d_name, host);
		if (pid <= 0 || pid_alive(pid))
			continue;
		char *path = mlops_path_join(dir, de->d_name);
		if (path && mlops_remove_tree(path) == 0)
			n++;
		free(path);
	}
	if (d)
		closedir(d);
	errno = saved;
	return n;
}

/* nftw takes no payload: the first failure of this thread's walk. */
static __thread int remove_errno;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	/* Keep going past what cannot be removed: the caller sees the top stay. */
	if ((flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && !remove_errno)
		remove_errno = errno;
	return 0;
}

int mlops_remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	remove_errno = 0;
	if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && !remove_errno)
		remove_errno = errno;
	if (lstat(path, &st) < 0 && errno == ENOENT)
		return 0;
	errno = remove_errno ? remove_errno : ENOTEMPTY;
	return -1;
}
