/*
 * pullnew.c - writing, reading and updating .mlops/pull-new, the paths a
 * pull or checkout is making or a stopped one was making (see pullnew.h).
 * The file is a JSON array of tracked paths and of the folders made for
 * them, each of those ending in '/'; a running pull or checkout holds an
 * flock() on it.
 */
#define _XOPEN_SOURCE 700
#include "pullnew.h"
#include "lockfile.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/repo.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

char *mlops_half_made_file(const struct mlops_repo *repo)
{
	return mlops_path_join(repo->dir, "pull-new");
}

void mlops_half_made_free(struct mlops_half_made *hm)
{
	for (size_t i = 0; i < hm->npaths; i++)
		free(hm->paths[i]);
	for (size_t i = 0; i < hm->ndirs; i++)
		free(hm->dirs[i]);
	free(hm->paths);
	free(hm->dirs);
	memset(hm, 0, sizeof(*hm));
}

static int push_copy(char ***list, size_t *n, const char *s, size_t len)
{
	char **l = realloc(*list, (*n + 1) * sizeof(*l));
	if (!l)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	*list = l;
	if (!(l[*n] = strndup(s, len)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	(*n)++;
	return 0;
}

/* The whole of fd (small), NUL-terminated; -1 on a read error or out of memory. */
static int read_fd(char **out, size_t *len, int fd, const struct stat *st)
{
	size_t cap = (size_t)st->st_size + 1, used = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf)
			return -1;
		ssize_t n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used == cap) {
			char *b = realloc(buf, (cap *= 2) + 1);
			if (!b)
				free(buf);
			buf = b;
		}
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	return 0;
}

/*
 * The text of .mlops/pull-new into *text (NULL when there is none or it
 * cannot be read), and whether a running pull holds it.  A file removed
 * or replaced between the open and the test of its lock is opened again:
 * the pull that held it has ended.
 */
static void read_pull_new(char **text, size_t *len, int *running, const char *file)
{
	*text = NULL;
	*running = 0;
	for (int tries = 0; tries < 8; tries++) {
		struct stat st;
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		int held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
		if (fstat(fd, &st) < 0 || st.st_nlink == 0) {
			close(fd);
			continue;
		}
		if (read_fd(text, len, fd, &st) == 0)
			*running = held;
		close(fd);
		return;
	}
}

int mlops_half_made_load(struct mlops_half_made *out, struct mlops_repo *repo)
{
	char *file = mlops_half_made_file(repo), *text = NULL;
	size_t len;
	int err = 0, running;
	memset(out, 0, sizeof(*out));
	if (!file)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	read_pull_new(&text, &len, &running, file);
	free(file);
	if (!text)
		return 0;
	out->found = 1;
	out->running = running;
	cJSON *a = cJSON_ParseWithLength(text, len);
	const cJSON *e;
	cJSON_ArrayForEach(e, a) {
		if (!cJSON_IsString(e))
			continue;
		const char *s = e->valuestring;
		size_t n = strlen(s);
		int dir = n > 1 && s[n - 1] == '/';
		char *p = strndup(s, dir ? n - 1 : n);
		if (!p) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		if (mlops_tracked_path_valid(p))
			err = dir ? push_copy(&out->dirs, &out->ndirs, p, n - 1) :
				    push_copy(&out->paths, &out->npaths, p, n);
		free(p);
		if (err < 0)
			break;
	}
	cJSON_Delete(a);
	free(text);
	if (err < 0)
		mlops_half_made_free(out);
	return err;
}

/* 1 when `inner` is `outer` or lies inside it. */
static int within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);
	return !strncmp(inner, outer, n) && (inner[n] == '\0' || inner[n] == '/');
}

const char *mlops_half_made_path(const struct mlops_half_made *hm, const char *path, int holding)
{
	for (size_t i = 0; i < hm->npaths; i++)
		if (within(path, hm->paths[i]) || (holding && within(hm->paths[i], path)))
			return hm->paths[i];
	return NULL;
}

void mlops_half_made_drop(struct mlops_half_made *hm, const char *path)
{
	for (size_t i = 0; i < hm->npaths; i++) {
		if (strcmp(hm->paths[i], path))
			continue;
		free(hm->paths[i]);
		memmove(&hm->paths[i], &hm->paths[i + 1], (hm->npaths - i - 1) * sizeof(*hm->paths));
		hm->npaths--;
		hm->dropped++;
		return;
	}
}

int mlops_half_made_refuse(const struct mlops_half_made *hm, const char *path, int record)
{
	const char *p = mlops_half_made_path(hm, path, 1);
	if (!p || (!hm->running && !record))
		return 0;
	size_t pl = strlen(p), el = strlen(path);
	return mlops_error_set(hm->running ? MLOPS_ELOCKED : MLOPS_ECONFLICT, "'%s'%s%s%s is %s",
			       path, pl == el ? "" : pl < el ? " is inside '" : " holds '",
			       pl == el ? "" : p, pl == el ? "" : "', which",
			       hm->running ? "being made by a checkout or pull that is running; "
			       "wait for it to end" :
			       "half made by a checkout or pull that stopped; run 'mlops checkout' "
			       "to make it again ('mlops pull' when its version is not stored)");
}

/*
 * Write tmp, the text of the file, to its place, locked first when `hold`
 * is given: readers never see it unlocked while the pull runs.  A file
 * system without locks leaves it unlocked (*hold -1), as older versions
 * wrote it.
 */
static int write_locked(const char *file, const char *text, const char *tmpdir, int *hold)
{
	char *tmp;
	int fd = -1;
	int err = mlops_write_file_prepare(&tmp, file, text, strlen(text), tmpdir, 1);
	if (err < 0)
		return err;
	/* Opened for writing: NFS emulates flock with fcntl locks, whose write lock needs it. */
	if (hold && (fd = open(tmp, O_RDWR | O_CLOEXEC)) >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		fd = -1;
	}
	if ((err = mlops_write_file_finish(tmp, file, 1)) < 0 && fd >= 0) {
		close(fd);
		fd = -1;
	}
	if (hold)
		*hold = fd;
	return err;
}

int mlops_half_made_write(struct mlops_repo *repo, const char *const *paths, size_t npaths,
			  const char *const *dirs, size_t ndirs, int *hold)
{
	char *file = mlops_half_made_file(repo), *text = NULL;
	int err = 0;
	if (hold)
		*hold = -1;
	if (!file)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (npaths == 0) {
		if (unlink(file) < 0 && errno != ENOENT)
			err = mlops_error_sys(errno, "unable to remove '%s'", file);
		else
			err = mlops_fsync_dir(repo->dir);
		free(file);
		return err;
	}
	cJSON *a = cJSON_CreateStringArray(paths, (int)npaths);
	for (size_t i = 0; a && i < ndirs; i++) {
		char *dir = mlops_strdupf("%s/", dirs[i]);
		cJSON *s = dir ? cJSON_CreateString(dir) : NULL;
		free(dir);
		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			cJSON_Delete(a);
			a = NULL;
		}
	}
	if (!a || !(text = mlops_json_print(a, 0)))
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	else
		err = write_locked(file, text, repo->tmpdir, hold);
	cJSON_free(text);
	cJSON_Delete(a);
	free(file);
	return err;
}

void mlops_half_made_remove(struct mlops_repo *repo, int *hold)
{
	char *file = mlops_half_made_file(repo);
	if (file)
		unlink(file);
	free(file);
	if (hold && *hold >= 0) {
		close(*hold);
		*hold = -1;
	}
}

int mlops_half_made_save(struct mlops_repo *repo, const struct mlops_half_made *hm)
{
	/* A running pull's file is its own (and its lock with it). */
	if (!hm->dropped || hm->running)
		return 0;
	/* The folders above a path left, parents first, as the pull writes them. */
	const char **dirs = malloc((hm->ndirs ? hm->ndirs : 1) * sizeof(*dirs));
	size_t ndirs = 0;
	if (!dirs)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	for (size_t i = 0; i < hm->ndirs; i++) {
		int above = 0;
		for (size_t k = 0; k < hm->npaths && !above; k++)
			above = within(hm->paths[k], hm->dirs[i]);
		if (above)
			dirs[ndirs++] = hm->dirs[i];
	}
	int err = mlops_half_made_write(repo, (const char *const *)hm->paths, hm->npaths, dirs, ndirs,
					 NULL);
	free(dirs);
	return err;
}

int mlops_half_made_add_parents(char ***dirs, size_t *ndirs, struct mlops_repo *repo,
				const char *rel)
{
	char *dir = strdup(rel), *abs = NULL;
	int err = 0;
	if (!dir)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	for (char *slash = strchr(dir, '/'); slash && err == 0; slash = strchr(slash + 1, '/')) {
		struct stat st;
		int listed = 0;
		*slash = '\0';
		for (size_t i = 0; i < *ndirs && !listed; i++)
			listed = !strcmp((*dirs)[i], dir);
		if (!(abs = mlops_path_join(repo->workdir, dir)))
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		else if (!listed && lstat(abs, &st) < 0 && errno == ENOENT)
			err = push_copy(dirs, ndirs, dir, strlen(dir));
		free(abs);
		*slash = '/';
	}
	free(dir);
	return err;
}

int mlops_half_made_begin(struct mlops_half_made *hm, struct mlops_repo *repo,
			  const char *const *paths, size_t npaths, int *hold)
{
	int err = 0;
	*hold = -1;
	if (npaths == 0)
		return 0;
	/* Its file, and the lock on it, are the running one's: two cannot share it. */
	if (hm->running)
		return mlops_error_set(MLOPS_ELOCKED, "a checkout or pull is running in this work tree; "
				       "wait for it to end");
	for (size_t i = 0; i < npaths && err == 0; i++) {
		size_t k = 0;
		while (k < hm->npaths && strcmp(hm->paths[k], paths[i]))
			k++;
		if (k == hm->npaths)
			err = push_copy(&hm->paths, &hm->npaths, paths[i], strlen(paths[i]));
		if (err == 0)
			err = mlops_half_made_add_parents(&hm->dirs, &hm->ndirs, repo, paths[i]);
	}
	if (err == 0)
		err = mlops_half_made_write(repo, (const char *const *)hm->paths, hm->npaths,
					    (const char *const *)hm->dirs, hm->ndirs, hold);
	hm->mine = err == 0;
	return err;
}

int mlops_half_made_end(struct mlops_half_made *hm, struct mlops_repo *repo, int *hold)
{
	if (!hm->mine)
		return mlops_half_made_save(repo, hm);
	int err = 0;
	struct stat held, now;
	char *file = mlops_half_made_file(repo);
	if (!file)
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	/* Still this checkout's file (one that is replaced is another's): what is left, unlocked. */
	else if (*hold < 0 || (fstat(*hold, &held) == 0 && stat(file, &now) == 0 &&
			       held.st_dev == now.st_dev && held.st_ino == now.st_ino))
		err = mlops_half_made_save(repo, hm);
	free(file);
	hm->mine = 0;
	if (*hold >= 0) {
		close(*hold);
		*hold = -1;
	}
	return err;
}

/* 1 when name is ".BASE.mlops-XXXXXX", a checkout's temporary name for base (at most 40 bytes of it). */
static int temp_name_of(const char *name, const char *base)
{
	size_t bl = strnlen(base, 40), nl = strlen(name);
	if (nl != 1 + bl + 7 + 6 || name[0] != '.' || strncmp(name + 1, base, bl) ||
	    strncmp(name + 1 + bl, ".mlops-", 7))
		return 0;
	for (const char *c = name + nl - 6; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
			return 0;
	return 1;
}

int mlops_half_made_clear(struct mlops_repo *repo, const char *path)
{
	int err = mlops_path_check_parents(repo->workdir, path);
	if (err < 0)
		return err;
	char *abs = mlops_path_join(repo->workdir, path);
	if (!abs)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (mlops_remove_tree(abs) < 0 && errno != ENOENT)
		err = mlops_error_sys(errno, "unable to remove '%s'", abs);
	char *slash = strrchr(abs, '/'), *base = slash + 1;
	*slash = '\0';
	DIR *d = err == 0 ? opendir(abs) : NULL;
	struct dirent *de;
	while (d && err == 0 && (de = readdir(d))) {
		if (!temp_name_of(de->d_name, base))
			continue;
		char *tmp = mlops_path_join(abs, de->d_name);
		if (!tmp)
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		else if (mlops_remove_tree(tmp) < 0 && errno != ENOENT)
			err = mlops_error_sys(errno, "unable to remove '%s'", tmp);
		free(tmp);
	}
	if (d)
		closedir(d);
	free(abs);
	return err;
}

int mlops_checkout_mkdir(char **made, const char *abs_dir)
{
	struct stat st;
	size_t len = strlen(abs_dir);
	*made = NULL;
	for (size_t i = 1; i <= len; i++) {
		if (abs_dir[i] != '/' && abs_dir[i] != '\0')
			continue;
		char *p = strndup(abs_dir, i);
		if (!p)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		if (lstat(p, &st) < 0 && errno == ENOENT) {
			if (mlops_tempdir_register(p) == 0)
				*made = p;
			else
				free(p);
			break;
		}
		free(p);
	}
	return mlops_mkdir_p(abs_dir);
}
