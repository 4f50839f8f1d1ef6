/*
 * refs.c - refs, their logs and the repository lock (see refs.h).
 */
#include "refs.h"
#include "error.h"
#include "fsutil.h"
#include "repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct mlops_lock {
	char *path;
};

int mlops_ref_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (!len || len > 512 || name[0] == '/' || name[len - 1] == '/')
		return 0;
	const char *comp = name;
	for (const char *p = name;; p++) {
		if (*p == '/' || *p == '\0') {
			size_t cl = (size_t)(p - comp);
			if (cl == 0 || comp[0] == '.')
				return 0;
			if (!*p)
				break;
			comp = p + 1;
			continue;
		}
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == '#' || c == '@' || c == '+'))
			return 0;
	}
	return strstr(name, "..") == NULL;
}

static char *lock_path(struct mlops_repo *repo)
{
	return mlops_repo_path(repo, "lock");
}

static int read_holder(const char *path, long *pid, char *host, size_t hostsz)
{
	char *buf;
	size_t len;
	*pid = 0;
	host[0] = '\0';
	if (mlops_read_file(&buf, &len, path) < 0) {
		mlops_error_clear();
		return -1;
	}
	char h[256] = "";
	if (sscanf(buf, "%ld %255s", pid, h) < 1)
		*pid = 0;
	snprintf(host, hostsz, "%s", h);
	free(buf);
	return 0;
}

static int holder_alive(long pid, const char *host)
{
	char me[256];
	mlops_host_name(me, sizeof(me));
	if (*host && strcmp(host, me))
		return 1; /* another host: assume alive */
	if (pid <= 0)
		return 0;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int mlops_lock_status(struct mlops_repo *repo, long *pid, int *alive)
{
	char *path = lock_path(repo), host[256];
	int held = 0;
	if (path && read_holder(path, pid, host, sizeof(host)) == 0) {
		held = 1;
		*alive = holder_alive(*pid, host);
	}
	free(path);
	return held;
}

static long lock_age(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return 0;
	return (long)(time(NULL) - st.st_mtime);
}

/*
 * Remove a lock whose holder is dead.  Takeovers are serialised by an
 * flock() on lock.guard (released by the kernel if we die), and the lock is
 * re-read under it, so a live lock taken meanwhile is never removed.
 * Returns 1 when removed, 0 when it changed hands, <0 on error.
 */
static int take_over_stale(struct mlops_repo *repo, const char *path, long dead_pid)
{
	char *guard = mlops_repo_path(repo, "lock.guard");
	if (!guard)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int fd = open(guard, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	free(guard);
	if (fd < 0)
		return mlops_error_sys(errno, "unable to open the lock guard");
	int removed = 0;
	if (flock(fd, LOCK_EX) == 0) {
		long pid;
		char host[256];
		if (read_holder(path, &pid, host, sizeof(host)) == 0 && pid == dead_pid &&
		    (pid > 0 ? !holder_alive(pid, host) : lock_age(path) >= 2))
			removed = unlink(path) == 0;
		flock(fd, LOCK_UN);
	}
	close(fd);
	return removed;
}

/*
 * Create the lock file holding `line`, atomically: the line is written to a
 * temporary file first and hard-linked to the lock's name, so the lock is
 * never seen empty (a process killed between an O_EXCL create and its write
 * would leave a lock naming nobody).  Returns 0 when taken, 1 when the lock
 * exists, <0 on error.  Where hard links are not supported, falls back to
 * O_CREAT|O_EXCL and a write.
 */
static int lock_create(const char *path, const char *tmpdir, const char *line)
{
	char *tmp = NULL;
	int fd, err = 0, taken = 0;
	if (mlops_tempfile(&fd, &tmp, tmpdir, "lock-") == 0) {
		if (mlops_write_all(fd, line, strlen(line)) < 0 ||
		    fchmod(fd, 0666 & ~mlops_umask()) < 0) {
			err = mlops_error_sys(errno, "unable to write the lock");
			close(fd);
			goto done;
		}
		close(fd);
		if (link(tmp, path) == 0) {
			taken = 1;
			goto done;
		}
		if (errno == EEXIST) {
			err = 1;
			goto done;
		}
		if (errno != EPERM && errno != ENOTSUP && errno != ENOSYS && errno != EXDEV &&
		    errno != ENOENT) {
			err = mlops_error_sys(errno, "unable to create '%s'", path);
			goto done;
		}
	} else {
		mlops_error_clear();
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0) {
		err = errno == EEXIST ? 1 : mlops_error_sys(errno, "unable to create '%s'", path);
		goto done;
	}
	taken = 1;
	if (mlops_write_all(fd, line, strlen(line)) < 0) {
		err = mlops_error_sys(errno, "unable to write the lock");
		unlink(path);
		taken = 0;
	}
	close(fd);
done:
	if (tmp)
		unlink(tmp);
	free(tmp);
	if (taken)
		mlops_tempfile_register(path);
	return err;
}

int mlops_lock_acquire(struct mlops_lock **out, struct mlops_repo *repo, int timeout_ms)
{
	char *path = lock_path(repo);
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	char me[256];
	mlops_host_name(me, sizeof(me));
	if (timeout_ms < 0) {
		long long t;
		if (mlops_config_get_int(&t, repo, "core.lockTimeout", 10000) < 0) {
			free(path);
			return MLOPS_EINVALID;
		}
		timeout_ms = (int)(t < 0 ? 0 : t > 3600000 ? 3600000 : t);
	}
	char line[300];
	snprintf(line, sizeof(line), "%ld %s\n", (long)getpid(), me);
	int waited = 0, delay = 1;
	for (;;) {
		int rc = lock_create(path, repo->tmpdir, line);
		if (rc < 0) {
			free(path);
			return rc;
		}
		if (rc == 0) {
			struct mlops_lock *l = malloc(sizeof(*l));
			if (!l) {
				unlink(path);
				mlops_tempfile_forget(path);
				free(path);
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			}
			l->path = path;
			*out = l;
			return 0;
		}
		/*
		 * A lock naming no process was left by an older mlops killed
		 * between creating and writing it (a window of microseconds):
		 * stale after 2 seconds.
		 */
		long pid;
		char host[256];
		int have = read_holder(path, &pid, host, sizeof(host)) == 0;
		if (have && (pid > 0 ? !holder_alive(pid, host) : lock_age(path) >= 2)) {
			int took = take_over_stale(repo, path, pid);
			if (took < 0) {
				free(path);
				return took;
			}
			if (took) {
				if (pid > 0)
					mlops_warning_add("removed a stale repository lock left by process %ld, "
							  "which is no longer running", pid);
				else
					mlops_warning_add("removed a stale repository lock that named no process");
				continue;
			}
		}
		if (waited >= timeout_ms) {
			int err = mlops_error_set(MLOPS_ELOCKED,
				"the repository is locked by process %ld%s%s ('%s'); try again when it ends",
				pid, *host ? " on " : "", host, path);
			free(path);
			return err;
		}
		struct timespec ts = { 0, delay * 1000000L };
		nanosleep(&ts, NULL);
		waited += delay;
		if (delay < 50)
			delay *= 2;
	}
}

void mlops_lock_release(struct mlops_lock *lock)
{
	if (!lock)
		return;
	unlink(lock->path);
	mlops_tempfile_forget(lock->path);
	free(lock->path);
	free(lock);
}

static char *ref_path(struct mlops_repo *repo, const char *top, const char *name)
{
	char *rel = mlops_strdupf("%s/%s", top, name);
	char *p = rel ? mlops_repo_path(repo, rel) : NULL;
	free(rel);
	return p;
}

int mlops_ref_read(mlops_oid *out, struct mlops_repo *repo, const char *name)
{
	if (!mlops_ref_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid ref name", name);
	char *path = ref_path(repo, "refs", name), *buf = NULL;
	size_t len;
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = mlops_read_file(&buf, &len, path);
	if (err == MLOPS_ENOTFOUND)
		err = mlops_error_set(MLOPS_ENOTFOUND, "ref '%s' not found", name);
	if (err == 0) {
		if (len >= MLOPS_OID_HEXSZ)
			buf[MLOPS_OID_HEXSZ] = '\0';
		if (mlops_oid_parse(out, buf) < 0)
			err = mlops_error_set(MLOPS_ECORRUPT, "ref '%s' is damaged ('%s')", name, path);
	}
	free(buf);
	free(path);
	return err;
}

static int append_log(struct mlops_repo *repo, const char *name, const mlops_oid *old_id,
		      const mlops_oid *new_id, const char *message)
{
	char *path = ref_path(repo, "logs", name);
	char *author = mlops_repo_author(repo);
	char a[MLOPS_OID_HEXSZ + 1], b[MLOPS_OID_HEXSZ + 1];
	int err = 0;
	if (!path) {
		free(author);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	char *dir = strdup(path);
	if (dir) {
		*strrchr(dir, '/') = '\0';
		err = mlops_mkdir_p(dir);
		free(dir);
	}
	char *line = NULL;
	if (err == 0) {
		line = mlops_strdupf("%s %s %lld %s\t%s\n", mlops_oid_fmt(a, old_id),
				     mlops_oid_fmt(b, new_id), (long long)time(NULL),
				     author ? author : "unknown", message ? message : "");
		if (line)
			for (char *p = line; p[1]; p++)
				if (*p == '\n')
					*p = ' ';
	}
	if (err == 0 && line) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
		if (fd < 0 || mlops_write_all(fd, line, strlen(line)) < 0)
			err = mlops_error_sys(errno, "unable to append to '%s'", path);
		if (fd >= 0)
			close(fd);
	}
	free(line);
	free(author);
	free(path);
	return err;
}

int mlops_ref_write(struct mlops_repo *repo, const char *name, const mlops_oid *id,
		    const mlops_oid *expected, const char *message)
{
	if (!mlops_ref_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid ref name", name);
	mlops_oid old;
	memset(&old, 0, sizeof(old));
	int err = mlops_ref_read(&old, repo, name);
	if (err < 0 && err != MLOPS_ENOTFOUND)
		return err;
	mlops_error_clear();
	if (expected && mlops_oid_cmp(expected, &old))
		return mlops_error_set(MLOPS_ECONFLICT, "ref '%s' was changed by another process meanwhile; try again", name);
	char *path = ref_path(repo, "refs", name);
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	char *dir = strdup(path);
	if (!dir) {
		free(path);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	*strrchr(dir, '/') = '\0';
	err = mlops_mkdir_p(dir);
	free(dir);
	char line[MLOPS_OID_HEXSZ + 2];
	mlops_oid_fmt(line, id);
	line[MLOPS_OID_HEXSZ] = '\n';
	line[MLOPS_OID_HEXSZ + 1] = '\0';
	if (err == 0)
		err = mlops_write_file_atomic(path, line, MLOPS_OID_HEXSZ + 1, repo->tmpdir, 1);
	free(path);
	if (err == 0)
		err = append_log(repo, name, &old, id, message);
	return err;
}

int mlops_ref_delete(struct mlops_repo *repo, const char *name, const char *message)
{
	mlops_oid old, zero;
	int err = mlops_ref_read(&old, repo, name);
	if (err < 0)
		return err;
	char *path = ref_path(repo, "refs", name);
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (unlink(path) < 0)
		err = mlops_error_sys(errno, "unable to remove '%s'", path);
	free(path);
	memset(&zero, 0, sizeof(zero));
	if (err == 0)
		err = append_log(repo, name, &old, &zero, message);
	return err;
}

void mlops_strlist_free(char **list, size_t n)
{
	if (!list)
		return;
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(char ***out, size_t *n, size_t *cap, const char *abs, const char *prefix,
		    int recursive)
{
	DIR *d = opendir(abs);
	if (!d)
		return errno == ENOENT || errno == ENOTDIR ? 0 :
			mlops_error_sys(errno, "unable to read '%s'", abs);
	struct dirent *de;
	int err = 0;
	while (!err && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		int isdir = S_ISDIR(st.st_mode);
		if (isdir && recursive) {
			char *sub = mlops_path_join(abs, de->d_name);
			char *pre = mlops_strdupf("%s%s/", prefix, de->d_name);
			err = sub && pre ? list_dir(out, n, cap, sub, pre, 1) :
					   mlops_error_set(MLOPS_ERROR, "out of memory");
			free(sub);
			free(pre);
			continue;
		}
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 32;
			char **nl = realloc(*out, nc * sizeof(*nl));
			if (!nl) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				break;
			}
			*out = nl;
			*cap = nc;
		}
		(*out)[*n] = mlops_strdupf("%s%s%s", prefix, de->d_name, isdir ? "/" : "");
		if (!(*out)[*n])
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		else
			(*n)++;
	}
	closedir(d);
	return err;
}

static int ref_list_impl(char ***out, size_t *n, struct mlops_repo *repo, const char *top,
			 const char *dir, int recursive)
{
	char *abs = ref_path(repo, top, dir);
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	if (!abs)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = list_dir(out, n, &cap, abs, "", recursive);
	free(abs);
	if (err < 0) {
		mlops_strlist_free(*out, *n);
		*out = NULL;
		*n = 0;
		return err;
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), cmp_str);
	return 0;
}

int mlops_ref_list(char ***out, size_t *n, struct mlops_repo *repo, const char *dir)
{
	return ref_list_impl(out, n, repo, "refs", dir, 0);
}

int mlops_ref_list_all(char ***out, size_t *n, struct mlops_repo *repo, const char *dir)
{
	return ref_list_impl(out, n, repo, "refs", dir, 1);
}

int mlops_reflog_list(char ***out, size_t *n, struct mlops_repo *repo, const char *dir)
{
	return ref_list_impl(out, n, repo, "logs", dir, 0);
}

int mlops_reflog_read(struct mlops_reflog_entry **out, size_t *n, struct mlops_repo *repo,
		      const char *name)
{
	char *path = ref_path(repo, "logs", name), *buf = NULL;
	size_t len, cap = 0;
	*out = NULL;
	*n = 0;
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = mlops_read_file(&buf, &len, path);
	free(path);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char a[65], b[65];
		long long t;
		int off = 0;
		if (sscanf(line, "%64s %64s %lld %n", a, b, &t, &off) < 3 || !off)
			continue;
		char *rest = line + off, *tab = strchr(rest, '\t');
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct mlops_reflog_entry *ne = realloc(*out, nc * sizeof(*ne));
			if (!ne) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				break;
			}
			*out = ne;
			cap = nc;
		}
		struct mlops_reflog_entry *e = &(*out)[*n];
		if (mlops_oid_parse(&e->old_id, a) < 0 || mlops_oid_parse(&e->new_id, b) < 0) {
			mlops_error_clear();
			continue;
		}
		e->time = t;
		e->author = tab ? strndup(rest, (size_t)(tab - rest)) : strdup(rest);
		e->message = strdup(tab ? tab + 1 : "");
		(*n)++;
	}
	free(buf);
	if (err < 0) {
		mlops_reflog_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return err;
}

void mlops_reflog_free(struct mlops_reflog_entry *e, size_t n)
{
	if (!e)
		return;
	for (size_t i = 0; i < n; i++) {
		free(e[i].author);
		free(e[i].message);
	}
	free(e);
}
