/*
 * lockfile.c - reading and writing mlops.lock (see lockfile.h).
 */
#include "lockfile.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/repo.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int mlops_tracked_path_valid(const char *path)
{
	if (!path || !*path || *path == '/')
		return 0;
	for (const char *p = path;;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && !strncmp(p, "..", 2)))
			return 0;
		if ((n == 4 && !strncasecmp(p, ".git", 4)) ||
		    (p == path && ((n == 6 && !strncmp(p, ".mlops", 6)) ||
				   (n == 10 && !p[n] && !strncmp(p, "mlops.lock", 10)))))
			return 0;
		if (!p[n])
			return 1;
		p += n + 1;
	}
}

int mlops_lockfile_parse(cJSON **out, const char *text, size_t len, const char *name)
{
	cJSON *root = len ? cJSON_ParseWithLength(text, len) : cJSON_CreateObject();
	if (!root || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return mlops_error_set(MLOPS_EINVALID, "'%s' is not valid JSON%s", name,
				       text && memmem(text, len, "<<<<<<<", 7) ?
				       " (it has merge conflict markers: resolve them first)" : "");
	}
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (v && (!cJSON_IsNumber(v) || v->valuedouble != 1)) {
		int err = mlops_error_set(MLOPS_EINVALID, "'%s' has version %s; this mlops reads version 1",
					  name, cJSON_IsNumber(v) ? "newer" : "garbage");
		cJSON_Delete(root);
		return err;
	}
	const cJSON *sec;
	cJSON_ArrayForEach(sec, root) {
		if (!strcmp(sec->string, "version"))
			continue;
		if (!cJSON_IsObject(sec)) {
			int err = mlops_error_set(MLOPS_EINVALID, "'%s': section '%s' is not an object",
						  name, sec->string);
			cJSON_Delete(root);
			return err;
		}
		/* A merge conflict's removed side, committed as it was written. */
		const cJSON *ent;
		cJSON_ArrayForEach(ent, sec)
			if (cJSON_IsNull(ent)) {
				int err = mlops_error_set(MLOPS_EINVALID, "'%s': entry '%s' is null (the removed "
							  "side of a merge conflict?): delete its line, or "
							  "give it a version", name, ent->string);
				cJSON_Delete(root);
				return err;
			}
	}
	const cJSON *e, *paths = cJSON_GetObjectItemCaseSensitive(root, "paths");
	cJSON_ArrayForEach(e, paths) {
		if (!mlops_tracked_path_valid(e->string)) {
			int err = mlops_error_set(MLOPS_EINVALID, "'%s': path '%s' is not a path in the "
						  "work tree", name, e->string);
			cJSON_Delete(root);
			return err;
		}
	}
	if (!v)
		cJSON_AddNumberToObject(root, "version", 1);
	*out = root;
	return 0;
}

int mlops_lockfile_load(struct mlops_lockfile **out, struct mlops_repo *repo)
{
	struct mlops_lockfile *lf = calloc(1, sizeof(*lf));
	char *text = NULL;
	size_t len = 0;
	int err;
	if (!lf)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	lf->path = mlops_path_join(repo->workdir, "mlops.lock");
	if (!lf->path) {
		free(lf);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	err = mlops_read_file(&text, &len, lf->path);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		err = 0;
		len = 0;
	}
	if (err == 0)
		err = mlops_lockfile_parse(&lf->root, text, len, "mlops.lock");
	free(text);
	if (err < 0) {
		mlops_lockfile_free(lf);
		return err;
	}
	*out = lf;
	return 0;
}

cJSON *mlops_lockfile_section(struct mlops_lockfile *lf, const char *section)
{
	cJSON *s = cJSON_GetObjectItemCaseSensitive(lf->root, section);
	if (!s)
		s = cJSON_AddObjectToObject(lf->root, section);
	return s;
}

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sbuf *b, const char *s)
{
	size_t l = strlen(s);
	if (b->oom)
		return;
	if (b->len + l + 1 > b->cap) {
		size_t nc = (b->cap + l + 1) * 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, l + 1);
	b->len += l;
}

static void sb_key(struct sbuf *b, const char *key)
{
	cJSON *k = cJSON_CreateString(key);
	char *s = k ? mlops_json_print(k, 0) : NULL;
	if (!s)
		b->oom = 1;
	else
		sb_add(b, s);
	free(s);
	cJSON_Delete(k);
}

int mlops_lockfile_render(char **out, cJSON *root)
{
	struct sbuf b = { 0 };
	mlops_json_sort(root);
	sb_add(&b, "{\n");
	for (cJSON *sec = root->child; sec; sec = sec->next) {
		sb_add(&b, "  ");
		sb_key(&b, sec->string);
		if (!cJSON_IsObject(sec)) {
			char *s = mlops_json_print(sec, 0);
			sb_add(&b, ": ");
			if (s)
				sb_add(&b, s);
			else
				b.oom = 1;
			free(s);
		} else if (!sec->child) {
			sb_add(&b, ": {}");
		} else {
			sb_add(&b, ": {\n");
			for (cJSON *e = sec->child; e; e = e->next) {
				char *s = mlops_json_print(e, 0);
				sb_add(&b, "    ");
				sb_key(&b, e->string);
				sb_add(&b, ": ");
				if (s)
					sb_add(&b, s);
				else
					b.oom = 1;
				free(s);
				sb_add(&b, e->next ? ",\n" : "\n");
			}
			sb_add(&b, "  }");
		}
		sb_add(&b, sec->next ? ",\n" : "\n");
	}
	sb_add(&b, "}\n");
	if (b.oom) {
		free(b.p);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	*out = b.p;
	return 0;
}

int mlops_lockfile_save(struct mlops_lockfile *lf, struct mlops_repo *repo)
{
	char *text, *old = NULL;
	size_t oldlen;
	int err = mlops_lockfile_render(&text, lf->root);
	if (err < 0)
		return err;
	if (mlops_read_file(&old, &oldlen, lf->path) == 0 && !strcmp(old, text)) {
		free(old);
		free(text);
		return 0;
	}
	mlops_error_clear();
	free(old);
	err = mlops_write_file_atomic(lf->path, text, strlen(text), repo->tmpdir, 1);
	free(text);
	return err;
}

int mlops_lockfile_init(struct mlops_repo *repo, int *created)
{
	struct mlops_lockfile *lf;
	struct stat st;
	char *path = mlops_path_join(repo->workdir, "mlops.lock");
	int exists = path && stat(path, &st) == 0;
	free(path);
	if (exists)
		return 0;
	int err = mlops_lockfile_load(&lf, repo);
	if (err < 0)
		return err;
	err = mlops_lockfile_save(lf, repo);
	mlops_lockfile_free(lf);
	if (err == 0)
		*created = 1;
	return err;
}

void mlops_lockfile_free(struct mlops_lockfile *lf)
{
	if (!lf)
		return;
	cJSON_Delete(lf->root);
	free(lf->path);
	free(lf);
}
