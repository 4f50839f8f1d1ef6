/*
 * pullnew.c - reading and updating .mlops/pull-new, the paths a stopped
 * pull was making (see pullnew.h).  The file is a JSON array of tracked
 * paths and of the folders made for them, each of those ending in '/'.
 */
#define _XOPEN_SOURCE 700
#include "pullnew.h"
#include "lockfile.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/repo.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

int mlops_half_made_load(struct mlops_half_made *out, struct mlops_repo *repo)
{
	char *file = mlops_half_made_file(repo), *text = NULL;
	size_t len;
	int err = 0;
	memset(out, 0, sizeof(*out));
	if (!file)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (mlops_read_file(&text, &len, file) < 0) {
		mlops_error_clear();
		free(file);
		return 0;
	}
	out->found = 1;
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
	free(file);
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

int mlops_half_made_refuse(const struct mlops_half_made *hm, const char *path)
{
	const char *p = mlops_half_made_path(hm, path, 1);
	if (!p)
		return 0;
	size_t pl = strlen(p), el = strlen(path);
	return mlops_error_set(MLOPS_ECONFLICT, "'%s'%s%s%s is half made by a pull that stopped; "
			       "run 'mlops pull' to finish it", path,
			       pl == el ? "" : pl < el ? " is inside '" : " holds '",
			       pl == el ? "" : p, pl == el ? "" : "', which");
}

int mlops_half_made_write(struct mlops_repo *repo, const char *const *paths, size_t npaths,
			  const char *const *dirs, size_t ndirs)
{
	char *file = mlops_half_made_file(repo), *text = NULL;
	int err = 0;
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
		err = mlops_write_file_atomic(file, text, strlen(text), repo->tmpdir, 1);
	cJSON_free(text);
	cJSON_Delete(a);
	free(file);
	return err;
}

int mlops_half_made_save(struct mlops_repo *repo, const struct mlops_half_made *hm)
{
	if (!hm->dropped)
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
	int err = mlops_half_made_write(repo, (const char *const *)hm->paths, hm->npaths, dirs, ndirs);
	free(dirs);
	return err;
}
