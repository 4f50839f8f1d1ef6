/*
 * dataset.c - versioned datasets: add, resolve, list, checkout, status,
 * diff, rm (see dataset.h for the record format).
 *
 * Write protocol of add: the content is stored and synced without the
 * repository lock; then, under the lock, the next version number is taken,
 * the record written and synced, the ref written, and mlops.lock updated.
 * A concurrent add of the same dataset therefore gets the next number and
 * never overwrites a version.
 */
#include "dataset.h"
#include "lockfile.h"
#include "pullnew.h"
#include "rev.h"
#include "transfer.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/index.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/oidmap.h"
#include "store/refs.h"
#include "store/repo.h"
#include "store/utf8.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_TIMEOUT_MS (-1) /* core.lockTimeout */

void mlops_dataset_version_free(struct mlops_dataset_version *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nentries; i++)
		free(v->entries[i].path);
	free(v->entries);
	free(v->name);
	free(v->author);
	free(v->message);
	free(v->git_head);
	free(v);
}

int mlops_repo_index(struct mlops_index **out, struct mlops_repo *repo)
{
	char *p = mlops_repo_path(repo, "index");
	if (!p)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = mlops_index_load(out, p, repo->tmpdir);
	free(p);
	return err;
}

/* ---- records ---------------------------------------------------------- */

static int version_from_json(struct mlops_dataset_version **out, const cJSON *o,
			     const mlops_oid *id)
{
	struct mlops_dataset_version *v = calloc(1, sizeof(*v));
	char hex[MLOPS_OID_HEXSZ + 1];
	if (!v)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	const char *type = mlops_json_str(o, "type"), *name = mlops_json_str(o, "name");
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(o, "entries");
	if (!type || strcmp(type, "dataset") || !name || !cJSON_IsArray(entries))
		goto bad;
	v->id = *id;
	v->name = strdup(name);
	v->version = (long)mlops_json_u64(o, "version", 0);
	v->size = mlops_json_u64(o, "size", 0);
	v->files = mlops_json_u64(o, "files", 0);
	v->stored = mlops_json_u64(o, "stored", 0);
	v->time = (long long)mlops_json_u64(o, "time", 0);
	const char *s;
	v->author = strdup((s = mlops_json_str(o, "author")) ? s : "");
	v->message = strdup((s = mlops_json_str(o, "message")) ? s : "");
	v->git_head = (s = mlops_json_str(o, "git_head")) ? strdup(s) : NULL;
	if (mlops_json_str(o, "parent")) {
		if (mlops_json_get_oid(&v->parent, o, "parent") < 0)
			goto bad;
		v->has_parent = 1;
	}
	size_t n = (size_t)cJSON_GetArraySize(entries);
	v->entries = calloc(n ? n : 1, sizeof(*v->entries));
	if (!v->name || !v->author || !v->message || !v->entries)
		goto bad;
	const cJSON *e;
	cJSON_ArrayForEach(e, entries) {
		const char *path = mlops_json_str(e, "path");
		/* Records travel between stores: a path must stay in the work tree. */
		if (!mlops_tracked_path_valid(path) ||
		    mlops_node_from_json(&v->entries[v->nentries].node, e) < 0)
			goto bad;
		if (!(v->entries[v->nentries].path = strdup(path)))
			goto bad;
		v->nentries++;
	}
	*out = v;
	return 0;
bad:
	mlops_dataset_version_free(v);
	return mlops_error_set(MLOPS_ECORRUPT, "object %s is not a dataset version",
			       mlops_oid_fmt(hex, id));
}

int mlops_dataset_load(struct mlops_dataset_version **out, struct mlops_repo *repo,
		       const mlops_oid *id)
{
	cJSON *o;
	int err = mlops_json_load(&o, repo->odb, id);
	if (err < 0)
		return err;
	err = version_from_json(out, o, id);
	cJSON_Delete(o);
	return err;
}

cJSON *mlops_dataset_version_to_json(const struct mlops_dataset_version *v, int with_files,
				     struct mlops_repo *repo)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", v->name);
	cJSON_AddNumberToObject(o, "version", (double)v->version);
	cJSON_AddStringToObject(o, "id", mlops_oid_fmt(hex, &v->id));
	cJSON_AddNumberToObject(o, "size", (double)v->size);
	cJSON_AddNumberToObject(o, "files", (double)v->files);
	cJSON_AddNumberToObject(o, "stored", (double)v->stored);
	cJSON_AddNumberToObject(o, "time", (double)v->time);
	cJSON_AddStringToObject(o, "author", v->author);
	cJSON_AddStringToObject(o, "message", v->message);
	if (v->git_head)
		cJSON_AddStringToObject(o, "git_head", v->git_head);
	else
		cJSON_AddNullToObject(o, "git_head");
	if (v->has_parent)
		cJSON_AddStringToObject(o, "parent", mlops_oid_fmt(hex, &v->parent));
	else
		cJSON_AddNullToObject(o, "parent");
	cJSON *arr = cJSON_AddArrayToObject(o, "entries");
	for (size_t i = 0; i < v->nentries; i++) {
		cJSON *e = mlops_node_to_json(&v->entries[i].node);
		if (!e)
			continue;
		cJSON_AddStringToObject(e, "path", v->entries[i].path);
		if (with_files && repo) {
			struct mlops_tree_list l;
			if (mlops_tree_list(&l, repo->odb, &v->entries[i].node, 0) == 0) {
				cJSON *fa = cJSON_AddArrayToObject(e, "tree");
				for (size_t k = 0; k < l.count; k++) {
					cJSON *f = mlops_node_to_json(&l.files[k].node);
					cJSON_AddStringToObject(f, "path", l.files[k].path);
					cJSON_AddItemToArray(fa, f);
				}
				mlops_tree_list_free(&l);
			}
		}
		cJSON_AddItemToArray(arr, e);
	}
	return o;
}

/* ---- names and versions ---------------------------------------------- */

int mlops_dataset_names(char ***out, size_t *n, struct mlops_repo *repo)
{
	int err = mlops_ref_list(out, n, repo, "datasets");
	if (err < 0)
		return err;
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		size_t l = strlen((*out)[i]);
		if (l && (*out)[i][l - 1] == '/') {
			(*out)[i][l - 1] = '\0';
			(*out)[k++] = (*out)[i];
		} else {
			free((*out)[i]);
		}
	}
	*n = k;
	return 0;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

int mlops_dataset_versions(long **out, size_t *n, struct mlops_repo *repo, const char *name)
{
	char **names;
	size_t cnt;
	char dir[200];
	snprintf(dir, sizeof(dir), "datasets/%s", name);
	*out = NULL;
	*n = 0;
	int err = mlops_ref_list(&names, &cnt, repo, dir);
	if (err < 0)
		return err;
	long *v = malloc((cnt ? cnt : 1) * sizeof(*v));
	if (!v) {
		mlops_strlist_free(names, cnt);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < cnt; i++) {
		char *end;
		if (names[i][0] != 'v')
			continue;
		long x = strtol(names[i] + 1, &end, 10);
		if (*end || x < 1)
			continue;
		v[k++] = x;
	}
	mlops_strlist_free(names, cnt);
	qsort(v, k, sizeof(*v), cmp_long);
	*out = v;
	*n = k;
	return 0;
}

int mlops_dataset_foreach_version(struct mlops_repo *repo, mlops_dataset_version_cb cb,
				  void *payload)
{
	char **names;
	size_t n;
	int err = mlops_ref_list_all(&names, &n, repo, "datasets");
	if (err < 0)
		return err;
	for (size_t i = 0; i < n && err == 0; i++) {
		mlops_oid id;
		struct mlops_dataset_version *v;
		char ref[600];
		snprintf(ref, sizeof(ref), "datasets/%s", names[i]);
		if (mlops_ref_read(&id, repo, ref) < 0 || mlops_dataset_load(&v, repo, &id) < 0) {
			mlops_error_clear();
			continue;
		}
		err = cb(v, payload);
		mlops_dataset_version_free(v);
	}
	mlops_strlist_free(names, n);
	return err;
}

static int load_number(struct mlops_dataset_version **out, struct mlops_repo *repo,
		       const char *name, long number)
{
	char ref[200];
	mlops_oid id;
	snprintf(ref, sizeof(ref), "datasets/%s/v%ld", name, number);
	int err = mlops_ref_read(&id, repo, ref);
	if (err == MLOPS_ENOTFOUND)
		return mlops_error_set(MLOPS_ENOTFOUND, "dataset '%s' has no version v%ld", name, number);
	if (err < 0)
		return err;
	err = mlops_dataset_load(out, repo, &id);
	if (err == 0)
		(*out)->version = number;
	return err;
}

int mlops_dataset_resolve(struct mlops_dataset_version **out, struct mlops_repo *repo,
			  const char *text)
{
	struct mlops_rev rev;
	long *vers = NULL;
	size_t n = 0;
	*out = NULL;
	int err = mlops_rev_parse(&rev, text);
	if (err < 0)
		return err;
	if (rev.kind != MLOPS_REV_LATEST && rev.kind != MLOPS_REV_NUMBER && rev.kind != MLOPS_REV_PREFIX)
		return mlops_error_set(MLOPS_EUSAGE,
				       "'%s': a dataset revision is NAME, NAME@vN or NAME@<id prefix>", text);
	if ((err = mlops_dataset_versions(&vers, &n, repo, rev.name)) < 0)
		return err;
	if (n == 0) {
		free(vers);
		return mlops_error_set(MLOPS_ENOTFOUND, "dataset '%s' not found", rev.name);
	}
	if (rev.kind == MLOPS_REV_LATEST)
		err = load_number(out, repo, rev.name, vers[n - 1]);
	else if (rev.kind == MLOPS_REV_NUMBER)
		err = load_number(out, repo, rev.name, rev.number);
	else {
		/* By record-id prefix: compare against every version's ref. */
		size_t plen = strlen(rev.arg), found = 0;
		long match = 0;
		char cands[1024] = "";
		for (size_t i = 0; i < n; i++) {
			char ref[200], hex[MLOPS_OID_HEXSZ + 1];
			mlops_oid id;
			snprintf(ref, sizeof(ref), "datasets/%s/v%ld", rev.name, vers[i]);
			if (mlops_ref_read(&id, repo, ref) < 0)
				continue;
			if (!strncmp(mlops_oid_fmt(hex, &id), rev.arg, plen)) {
				found++;
				match = vers[i];
				size_t cl = strlen(cands);
				snprintf(cands + cl, sizeof(cands) - cl, "%s%s@v%ld (%.12s)",
					 found > 1 ? ", " : "", rev.name, vers[i], hex);
			}
		}
		mlops_error_clear();
		if (found == 0)
			err = mlops_error_set(MLOPS_ENOTFOUND, "dataset '%s' has no version with id %s",
					      rev.name, rev.arg);
		else if (found > 1)
			err = mlops_error_set(MLOPS_EAMBIGUOUS, "'%s' is ambiguous: it could be %s",
					      text, cands);
		else
			err = load_number(out, repo, rev.name, match);
	}
	free(vers);
	return err;
}

/* ---- paths ------------------------------------------------------------ */

/*
 * The work-tree-relative key of a user path; the final component is not
 * resolved (a link is tracked as a link).
 */
static int path_key(char **out, struct mlops_repo *repo, const char *path)
{
	char buf[PATH_MAX], parent[PATH_MAX], abs[PATH_MAX];
	size_t len = strlen(path);
	if (len == 0 || len >= sizeof(buf))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a usable path", path);
	memcpy(buf, path, len + 1);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	char *slash = strrchr(buf, '/');
	const char *base = slash ? slash + 1 : buf;
	if (!strcmp(base, ".") || !strcmp(base, "..")) {
		if (!realpath(buf, abs))
			return mlops_error_set(MLOPS_ENOTFOUND, "'%s' does not exist", path);
	} else {
		if (slash) {
			*slash = '\0';
			if (!realpath(*buf ? buf : "/", parent))
				return mlops_error_set(MLOPS_ENOTFOUND, "'%s' does not exist", path);
		} else if (!getcwd(parent, sizeof(parent))) {
			return mlops_error_sys(errno, "unable to get the current directory");
		}
		if (snprintf(abs, sizeof(abs), "%s/%s", strcmp(parent, "/") ? parent : "", base) >=
		    (int)sizeof(abs))
			return mlops_error_set(MLOPS_EUSAGE, "'%s' is too long", path);
	}
	size_t wl = strlen(repo->workdir);
	if (!strcmp(abs, repo->workdir))
		return mlops_error_set(MLOPS_EUSAGE,
				       "'%s' is the whole work tree: name the files or folders in it",
				       path);
	if (strncmp(abs, repo->workdir, wl) || abs[wl] != '/' || !abs[wl + 1])
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is outside the work tree '%s'", path,
				       repo->workdir);
	const char *rel = abs + wl + 1;
	/* A .gitignore line cannot hold a line break: git would track the data. */
	if (strpbrk(rel, "\n\r"))
		return mlops_error_set(MLOPS_EUSAGE,
				       "'%s' has a line break in its name, which .gitignore cannot "
				       "name: rename it, or track the folder that holds it",
				       path);
	/* mlops.lock is JSON, UTF-8 text: it could not name the path exactly. */
	if (mlops_utf8_invalid(rel)) {
		char *q = mlops_quote_name(rel);
		int err = mlops_error_set(MLOPS_EUSAGE, "%s has a name that is not UTF-8: rename it "
					  "(mlops.lock and --json output hold paths as UTF-8 text)",
					  q ? q : rel);
		free(q);
		return err;
	}
	if (!strcmp(rel, ".git") || !strncmp(rel, ".git/", 5) || !strcmp(rel, ".mlops") ||
	    !strncmp(rel, ".mlops/", 7) || !strcmp(rel, "mlops.lock"))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' belongs to git or mlops and cannot be tracked",
				       path);
	*out = strdup(rel);
	return *out ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
}

/*
 * The .gitignore line that names exactly the work-tree path key: anchored
 * with '/', its pattern characters and trailing spaces escaped.
 */
static char *gitignore_line(const char *key)
{
	size_t n = strlen(key), end = n;
	while (end > 0 && key[end - 1] == ' ')
		end--;
	char *line = malloc(2 * n + 2), *o = line;
	if (!line)
		return NULL;
	*o++ = '/';
	for (size_t i = 0; i < n; i++) {
		if (strchr("\\*?[", key[i]) || i >= end)
			*o++ = '\\';
		*o++ = key[i];
	}
	*o = '\0';
	return line;
}

int mlops_gitignore_add(struct mlops_repo *repo, const char *key)
{
	char *path = mlops_path_join(repo->workdir, ".gitignore"), *text = NULL;
	size_t len = 0;
	int err;
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (strpbrk(key, "\n\r")) {
		free(path);
		return mlops_error_set(MLOPS_EINVALID, "'%s': a line break cannot be named in .gitignore",
				       key);
	}
	char *line = gitignore_line(key);
	if (!line) {
		free(path);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	err = mlops_read_file(&text, &len, path);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		err = 0;
	}
	if (err == 0) {
		int present = 0;
		size_t ll = strlen(line);
		for (char *p = text; p && *p;) {
			char *nl = strchr(p, '\n');
			size_t l = nl ? (size_t)(nl - p) : strlen(p);
			if (l == ll && !strncmp(p, line, ll))
				present = 1;
			p = nl ? nl + 1 : p + l;
		}
		if (!present) {
			char *nt = mlops_strdupf("%s%s%s\n", text ? text : "",
						 len && text[len - 1] != '\n' ? "\n" : "", line);
			if (!nt)
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
			else
				err = mlops_write_file_atomic(path, nt, strlen(nt), repo->tmpdir, 1);
			free(nt);
		}
	}
	free(text);
	free(line);
	free(path);
	return err;
}

/* The first path's base name without its extension, as it is (caller frees). */
static char *default_name(const char *key)
{
	const char *base = strrchr(key, '/');
	base = base ? base + 1 : key;
	char *name = strdup(base);
	if (!name)
		return NULL;
	char *dot = strrchr(name, '.');
	if (dot && dot != name)
		*dot = '\0';
	return name;
}

/*
 * MLOPS_EUSAGE for a dataset name that is not valid: one given with
 * --name (key NULL), or the default taken from the path key as the user
 * gave it (named with that path, and how to give another: a default is
 * never changed into a valid name the user did not type).
 */
static int invalid_name(const char *name, const char *key)
{
	static const char rule[] = "(ASCII letters, digits, '.', '_', '-'; starting with a letter "
				   "or digit; no '..'; at most 128)";
	char *qn = mlops_quote_name(name), *qk = key ? mlops_quote_name(key) : NULL;
	int err;
	if (!qn || (key && !qk))
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	else if (!key)
		err = mlops_error_set(MLOPS_EUSAGE, "%s is not a valid dataset name %s", qn, rule);
	else if (!strcmp(name, key))
		err = mlops_error_set(MLOPS_EUSAGE, "%s is not a valid dataset name %s: give one with --name",
				      qn, rule);
	else
		err = mlops_error_set(MLOPS_EUSAGE,
				      "%s (from %s) is not a valid dataset name %s: give one with --name", qn,
				      qk, rule);
	free(qn);
	free(qk);
	return err;
}

static char *git_head(struct mlops_repo *repo)
{
	git_oid oid;
	char hex[GIT_OID_HEXSZ + 1];
	if (git_reference_name_to_id(&oid, mlops_repo_git(repo), "HEAD") < 0) {
		git_error_clear();
		return NULL;
	}
	git_oid_tostr(hex, sizeof(hex), &oid);
	return strdup(hex);
}

static cJSON *lock_entry(const char *name, long version, const struct mlops_node *node,
			 const mlops_oid *record)
{
	cJSON *e = mlops_node_to_json(node);
	if (!e)
		return NULL;
	cJSON_AddStringToObject(e, "dataset", name);
	cJSON_AddNumberToObject(e, "version", (double)version);
	mlops_json_add_oid(e, "record", record);
	return e;
}

/* 1 when work-tree paths a and b are the same, or one is inside the other. */
static int paths_overlap(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), l = la < lb ? la : lb;
	return !strncmp(a, b, l) && (la == lb || (la < lb ? b : a)[l] == '/');
}

/*
 * Refuse (MLOPS_ECONFLICT) to track under dataset `name` a path that
 * contains or lies inside a path mlops.lock tracks under another dataset:
 * status and checkout could never agree on it.  The same path under
 * another name is no conflict: its lock entry moves to the new dataset
 * (the old one keeps its versions).
 */
static int check_lock_overlap(struct mlops_repo *repo, const char *name,
			      const struct mlops_dataset_entry *entries, size_t n)
{
	struct mlops_lockfile *lf;
	int err = mlops_lockfile_load(&lf, repo);
	if (err < 0)
		return err;
	const cJSON *e;
	cJSON_ArrayForEach(e, mlops_lockfile_section(lf, "paths")) {
		const char *ds = mlops_json_str(e, "dataset");
		if (!ds || !strcmp(ds, name))
			continue;
		for (size_t i = 0; i < n && err == 0; i++) {
			if (!paths_overlap(entries[i].path, e->string) || !strcmp(entries[i].path, e->string))
				continue;
			err = mlops_error_set(MLOPS_ECONFLICT,
				"'%s' overlaps '%s', tracked by dataset '%s': a path belongs "
				"to one dataset", entries[i].path, e->string, ds);
		}
		if (err < 0)
			break;
	}
	mlops_lockfile_free(lf);
	return err;
}

/*
 * Record v's paths in mlops.lock.  Entries of the same dataset that
 * overlap them (an earlier version tracked a file inside a directory now
 * added, or the reverse) are replaced.
 */
/*
 * Remove the line mlops_gitignore_add wrote for key from .gitignore (a
 * path no dataset tracks any more); other lines, and a missing file, are
 * left as they are.
 */
static int gitignore_drop(struct mlops_repo *repo, const char *key)
{
	char *path = mlops_path_join(repo->workdir, ".gitignore"), *text = NULL;
	char *line = gitignore_line(key);
	size_t len = 0;
	int err = path && line ? mlops_read_file(&text, &len, path) :
				 mlops_error_set(MLOPS_ERROR, "out of memory");
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		err = 0;
	} else if (err == 0) {
		size_t ll = strlen(line), o = 0;
		for (size_t i = 0; i < len;) {
			char *nl = memchr(text + i, '\n', len - i);
			size_t l = nl ? (size_t)(nl - (text + i)) : len - i;
			size_t next = i + l + (nl ? 1 : 0);
			if (!(l == ll && !memcmp(text + i, line, ll))) {
				memmove(text + o, text + i, next - i);
				o += next - i;
			}
			i = next;
		}
		if (o != len)
			err = mlops_write_file_atomic(path, text, o, repo->tmpdir, 1);
	}
	free(text);
	free(line);
	free(path);
	return err;
}

static int gitignore_drop_all(struct mlops_repo *repo, const cJSON *dropped)
{
	const cJSON *k;
	int err = 0;
	cJSON_ArrayForEach(k, dropped)
		if (err == 0 && cJSON_IsString(k))
			err = gitignore_drop(repo, k->valuestring);
	return err;
}

/*
 * Record v's paths in mlops.lock, replacing the paths of its dataset that
 * overlap them (the dataset narrowed or widened).  The keys replaced that
 * v does not have are appended to *dropped (when not NULL), for .gitignore.
 */
static int lock_record(struct mlops_repo *repo, const struct mlops_dataset_version *v,
		       cJSON *dropped)
{
	struct mlops_lockfile *lf;
	int err = mlops_lockfile_load(&lf, repo);
	if (err < 0)
		return err;
	cJSON *paths = mlops_lockfile_section(lf, "paths");
	for (cJSON *e = paths->child, *next; e; e = next) {
		const char *ds = mlops_json_str(e, "dataset");
		next = e->next;
		for (size_t i = 0; ds && !strcmp(ds, v->name) && i < v->nentries; i++) {
			if (paths_overlap(v->entries[i].path, e->string)) {
				int kept = 0;
				for (size_t k = 0; k < v->nentries; k++)
					kept |= !strcmp(v->entries[k].path, e->string);
				if (dropped && !kept)
					cJSON_AddItemToArray(dropped, cJSON_CreateString(e->string));
				cJSON_Delete(cJSON_DetachItemViaPointer(paths, e));
				break;
			}
		}
	}
	for (size_t i = 0; i < v->nentries && err == 0; i++) {
		cJSON *e = lock_entry(v->name, v->version, &v->entries[i].node, &v->id);
		if (!e) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(paths, v->entries[i].path);
		cJSON_AddItemToObject(paths, v->entries[i].path, e);
	}
	if (err == 0)
		err = mlops_lockfile_save(lf, repo);
	mlops_lockfile_free(lf);
	return err;
}

static int same_content(const struct mlops_dataset_version *v,
			const struct mlops_dataset_entry *e, size_t n)
{
	if (v->nentries != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v->entries[i].path, e[i].path) ||
		    !mlops_node_same(&v->entries[i].node, &e[i].node))
			return 0;
	return 1;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct mlops_dataset_entry *)a)->path,
		      ((const struct mlops_dataset_entry *)b)->path);
}

/*
 * Refuse to record a path a pull is making or a stopped pull was making,
 * or one that holds such a path: its content is part of a recorded
 * version, cut short, and recording it would make a new version of data
 * nobody had.
 */
static int check_half_made(struct mlops_repo *repo, const struct mlops_dataset_entry *e, size_t n)
{
	struct mlops_half_made hm;
	int err = mlops_half_made_load(&hm, repo);
	for (size_t i = 0; err == 0 && i < n; i++)
		err = mlops_half_made_refuse(&hm, e[i].path, 1);
	mlops_half_made_free(&hm);
	return err;
}

int mlops_dataset_add(struct mlops_dataset_version **out, int *created,
		      struct mlops_repo *repo, const char *const *paths, size_t npaths,
		      const char *name, const char *message, struct mlops_ingest_stats *stats)
{
	struct mlops_index *idx = NULL;
	struct mlops_dataset_entry *entries = calloc(npaths ? npaths : 1, sizeof(*entries));
	struct mlops_dataset_version *latest = NULL, *v = NULL;
	struct mlops_lock *lock = NULL;
	char *dname = NULL, *author = NULL, *head = NULL;
	long *vers = NULL;
	size_t nvers = 0;
	cJSON *rec = NULL, *dropped = cJSON_CreateArray();
	struct mlops_ingest_stats own_stats = { 0 };
	int err = 0, ignored = 0;

	*out = NULL;
	*created = 0;
	if (!entries || !dropped) {
		free(entries);
		cJSON_Delete(dropped);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	if (npaths == 0) {
		err = mlops_error_set(MLOPS_EUSAGE, "nothing to add");
		goto done;
	}
	for (size_t i = 0; i < npaths; i++) {
		if ((err = path_key(&entries[i].path, repo, paths[i])) < 0)
			goto done;
		for (size_t k = 0; k < i; k++) {
			size_t l = strlen(entries[k].path), m = strlen(entries[i].path);
			const char *a = l < m ? entries[k].path : entries[i].path;
			const char *b = l < m ? entries[i].path : entries[k].path;
			size_t al = l < m ? l : m;
			if (!strncmp(a, b, al) && (b[al] == '\0' || b[al] == '/')) {
				err = mlops_error_set(MLOPS_EUSAGE, "'%s' and '%s' overlap",
						      entries[k].path, entries[i].path);
				goto done;
			}
		}
	}
	dname = name ? strdup(name) : default_name(entries[0].path);
	if (!dname) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if (!mlops_name_valid(dname)) {
		err = invalid_name(dname, name ? NULL : paths[0]);
		goto done;
	}
	if ((err = check_lock_overlap(repo, dname, entries, npaths)) < 0 ||
	    (err = check_half_made(repo, entries, npaths)) < 0)
		goto done;
	if ((err = mlops_repo_index(&idx, repo)) < 0)
		goto done;
	if (!stats)
		stats = &own_stats;
	/* Names in a version are listed as JSON text: a file's too. */
	stats->utf8_names = 1;
	for (size_t i = 0; i < npaths; i++) {
		char *abs = mlops_path_join(repo->workdir, entries[i].path);
		if (!abs) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		err = mlops_tree_store(&entries[i].node, repo->odb, idx, abs, entries[i].path, stats);
		free(abs);
		if (err < 0)
			goto done;
	}
	qsort(entries, npaths, sizeof(*entries), cmp_entry);
	if ((err = mlops_odb_sync(repo->odb)) < 0)
		goto done;

	/* Under the lock: number, record, ref, lock file. */
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		goto done;
	if ((err = mlops_dataset_versions(&vers, &nvers, repo, dname)) < 0)
		goto done;
	if (nvers && (err = load_number(&latest, repo, dname, vers[nvers - 1])) < 0)
		goto done;
	if (latest && same_content(latest, entries, npaths)) {
		for (size_t i = 0; i < npaths && err == 0; i++)
			err = mlops_gitignore_add(repo, entries[i].path);
		ignored = 1;
		if (err < 0 || (err = lock_record(repo, latest, dropped)) < 0)
			goto done;
		*out = latest;
		latest = NULL;
		goto done_index;
	}
	author = mlops_repo_author(repo);
	head = git_head(repo);
	rec = cJSON_CreateObject();
	if (!rec || !author) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	uint64_t size = 0, files = 0;
	cJSON *arr = cJSON_AddArrayToObject(rec, "entries");
	for (size_t i = 0; i < npaths; i++) {
		cJSON *e = mlops_node_to_json(&entries[i].node);
		cJSON_AddStringToObject(e, "path", entries[i].path);
		cJSON_AddItemToArray(arr, e);
		size += entries[i].node.size;
		files += entries[i].node.files;
	}
	/* Above every number ever used, removed versions' included. */
	long number;
	char series[200];
	snprintf(series, sizeof(series), "datasets/%s", dname);
	if ((err = mlops_series_max(&number, repo, series)) < 0)
		goto done;
	if (nvers && number < vers[nvers - 1])
		number = vers[nvers - 1];
	number++;
	cJSON_AddStringToObject(rec, "type", "dataset");
	cJSON_AddStringToObject(rec, "name", dname);
	cJSON_AddNumberToObject(rec, "version", (double)number);
	cJSON_AddNumberToObject(rec, "size", (double)size);
	cJSON_AddNumberToObject(rec, "files", (double)files);
	cJSON_AddNumberToObject(rec, "stored", (double)(stats ? stats->stored : 0));
	cJSON_AddNumberToObject(rec, "time", (double)time(NULL));
	cJSON_AddStringToObject(rec, "author", author);
	cJSON_AddStringToObject(rec, "message", message ? message : "");
	if (head)
		cJSON_AddStringToObject(rec, "git_head", head);
	if (latest)
		mlops_json_add_oid(rec, "parent", &latest->id);
	mlops_oid rid;
	if ((err = mlops_json_store(&rid, repo->odb, rec, NULL)) < 0)
		goto done;
	if ((err = mlops_odb_sync(repo->odb)) < 0)
		goto done;
	char ref[200], msg[300];
	snprintf(ref, sizeof(ref), "datasets/%s/v%ld", dname, number);
	snprintf(msg, sizeof(msg), "dataset add: %s", message ? message : "");
	mlops_oid zero;
	memset(&zero, 0, sizeof(zero));
	if ((err = mlops_ref_write(repo, ref, &rid, &zero, msg)) < 0)
		goto done;
	if ((err = version_from_json(&v, rec, &rid)) < 0)
		goto done;
	/*
	 * .gitignore names the paths before the lock file does: stopped
	 * between the two, git could otherwise be handed the data itself.
	 */
	for (size_t i = 0; i < npaths && err == 0; i++)
		err = mlops_gitignore_add(repo, entries[i].path);
	ignored = 1;
	if (err < 0 || (err = lock_record(repo, v, dropped)) < 0)
		goto done;
	*created = 1;
	*out = v;
	v = NULL;
done_index:
	mlops_lock_release(lock);
	lock = NULL;
	for (size_t i = 0; i < npaths && err == 0 && !ignored; i++)
		err = mlops_gitignore_add(repo, entries[i].path);
	if (err == 0)
		err = gitignore_drop_all(repo, dropped);
	if (err == 0)
		err = mlops_index_save(idx);
	if (err < 0) {
		mlops_dataset_version_free(*out);
		*out = NULL;
	}
done:
	mlops_lock_release(lock);
	mlops_index_free(idx);
	for (size_t i = 0; i < npaths; i++)
		free(entries[i].path);
	free(entries);
	free(vers);
	free(dname);
	free(author);
	free(head);
	cJSON_Delete(rec);
	cJSON_Delete(dropped);
	mlops_dataset_version_free(latest);
	mlops_dataset_version_free(v);
	return err;
}

int mlops_dataset_rm(struct mlops_repo *repo, const struct mlops_dataset_version *v)
{
	struct mlops_lock *lock;
	char ref[200];
	int err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS);
	if (err < 0)
		return err;
	snprintf(ref, sizeof(ref), "datasets/%s/v%ld", v->name, v->version);
	err = mlops_ref_delete(repo, ref, "dataset rm");
	mlops_lock_release(lock);
	return err;
}

/* ---- checkout --------------------------------------------------------- */

static int lock_node(struct mlops_node *out, cJSON *paths, const char *path)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(paths, path);
	if (!e)
		return 0;
	return mlops_node_from_json(out, e) == 0;
}

/*
 * The absolute, resolved form of a --to directory that may not exist yet:
 * its longest existing ancestor resolved by realpath, the rest appended
 * with "." and ".." applied by hand.  MLOPS_EUSAGE for "", an error naming
 * the path when an ancestor cannot be resolved.
 */
static int resolve_dest(char out[PATH_MAX], const char *dir)
{
	char buf[PATH_MAX], rest[PATH_MAX] = "";
	size_t len = strlen(dir);
	if (len == 0)
		return mlops_error_set(MLOPS_EUSAGE, "--to needs a directory");
	if (len >= sizeof(buf))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is too long", dir);
	memcpy(buf, dir, len + 1);
	while (!realpath(*buf ? buf : ".", out)) {
		if (errno != ENOENT)
			return mlops_error_sys(errno, "unable to resolve '%s'", dir);
		while (len > 1 && buf[len - 1] == '/')
			buf[--len] = '\0';
		char *slash = strrchr(buf, '/');
		const char *base = slash ? slash + 1 : buf;
		/* rest = base "/" rest: a suffix of dir, so it fits */
		size_t bl = strlen(base), rl = strlen(rest), sep = rl ? 1 : 0;
		if (bl + sep + rl >= sizeof(rest))
			return mlops_error_set(MLOPS_EUSAGE, "'%s' is too long", dir);
		memmove(rest + bl + sep, rest, rl + 1);
		memcpy(rest, base, bl);
		if (sep)
			rest[bl] = '/';
		if (slash == buf)
			buf[1] = '\0';
		else if (slash)
			*slash = '\0';
		else
			buf[0] = '\0';
		len = strlen(buf);
	}
	for (char *c = strtok(rest, "/"); c; c = strtok(NULL, "/")) {
		size_t ol = strlen(out);
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			char *slash = strrchr(out, '/');
			if (slash && slash != out)
				*slash = '\0';
			else
				out[1] = '\0';
			continue;
		}
		if (ol + 1 + strlen(c) >= PATH_MAX)
			return mlops_error_set(MLOPS_EUSAGE, "'%s' is too long", dir);
		snprintf(out + ol, PATH_MAX - ol, "%s%s", strcmp(out, "/") ? "/" : "", c);
	}
	return 0;
}

/* 1 when path is dir or below it. */
static int path_within(const char *path, const char *dir)
{
	size_t l = strlen(dir);
	return !strncmp(path, dir, l) && (path[l] == '\0' || path[l] == '/');
}

/*
 * With --to: refuse (MLOPS_ECONFLICT naming the first) when what is at
 * abs already differs from the entry: a file the version has with other
 * content, kind or executable bit would be overwritten, a file it does
 * not have would be removed.  Files the version has and the destination
 * lacks are no conflict.  shown is the path for the message.  Returns 1
 * when abs holds exactly the entry already (nothing to write), else 0.
 */
static int dest_conflict(struct mlops_repo *repo, const struct mlops_dataset_version *v,
			 const struct mlops_dataset_entry *entry, const char *abs, const char *shown)
{
	struct mlops_node cur;
	struct mlops_tree_list have = { 0 }, want = { 0 };
	int err = mlops_tree_scan(&cur, repo->odb, NULL, abs, NULL, NULL);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	if (mlops_node_same(&cur, &entry->node))
		return 1;
	if ((err = mlops_tree_list(&have, repo->odb, &cur, 0)) < 0 ||
	    (err = mlops_tree_list(&want, repo->odb, &entry->node, 0)) < 0)
		goto done;
	for (size_t i = 0, k = 0; i < have.count; i++) {
		const struct mlops_tree_file *h = &have.files[i];
		int c = 1;
		while (k < want.count && (c = strcmp(want.files[k].path, h->path)) < 0)
			k++;
		const struct mlops_tree_file *w = c == 0 ? &want.files[k] : NULL;
		if (w && mlops_node_same(&w->node, &h->node))
			continue;
		err = mlops_error_set(MLOPS_ECONFLICT, "'%s%s%s' %s %s@v%ld; use --force to %s it",
				      shown, *h->path ? "/" : "", h->path,
				      w ? "differs from" : "is not in", v->name, v->version,
				      w ? "overwrite" : "remove");
		break;
	}
done:
	mlops_tree_list_free(&have);
	mlops_tree_list_free(&want);
	return err;
}

int mlops_dataset_checkout(struct mlops_repo *repo, const struct mlops_dataset_version *v,
			   const char *to_dir, int force, struct mlops_checkout_stats *stats)
{
	struct mlops_index *idx = NULL;
	struct mlops_lockfile *lf = NULL;
	char abs_to[PATH_MAX];
	unsigned char *present = NULL; /* with --to: entries already there, unchanged */
	unsigned char *half = NULL; /* entries a stopped pull or checkout left half made */
	struct mlops_oidmap *known = NULL; /* what versions record (read when needed) */
	struct mlops_half_made hm = { 0 };
	char *made_to = NULL; /* the folder made for --to, removed on a signal */
	const char **making = NULL;
	size_t written = 0; /* entries whole */
	int err, hold = -1;

	if (to_dir) {
		char *dot_mlops = mlops_path_join(repo->workdir, ".mlops");
		char *dot_git = mlops_path_join(repo->workdir, ".git");
		err = dot_mlops && dot_git ? resolve_dest(abs_to, to_dir) :
		      mlops_error_set(MLOPS_ERROR, "out of memory");
		/* git's folder: .git, or the one GIT_DIR names (anywhere). */
		char git_dir[PATH_MAX];
		const char *env = getenv("GIT_DIR");
		int in_git = err == 0 && (path_within(abs_to, dot_git) ||
					  (env && *env && realpath(env, git_dir) &&
					   path_within(abs_to, git_dir)));
		/* .mlops/tmp/ is where runs check their inputs out. */
		if (err == 0 && ((path_within(abs_to, dot_mlops) && !path_within(abs_to, repo->tmpdir)) ||
				 in_git))
			err = mlops_error_set(MLOPS_EUSAGE, "'%s' belongs to %s: check out somewhere else",
					      to_dir, in_git ? "git" : "mlops");
		free(dot_mlops);
		free(dot_git);
		if (err < 0)
			return err;
		/* The work tree itself: a plain checkout, with its guard and mlops.lock. */
		if (!strcmp(abs_to, repo->workdir))
			to_dir = NULL;
		else if ((err = mlops_checkout_mkdir(&made_to, abs_to)) < 0)
			goto done;
	}
	if ((err = mlops_repo_index(&idx, repo)) < 0)
		goto done;
	if (!to_dir && ((err = mlops_lockfile_load(&lf, repo)) < 0 ||
			(err = mlops_half_made_load(&hm, repo)) < 0))
		goto done;
	/* What a running pull is making is its own to write. */
	for (size_t i = 0; !to_dir && i < v->nentries; i++)
		if ((err = mlops_half_made_refuse(&hm, v->entries[i].path, 0)) < 0)
			goto done;
	if (!(present = calloc(v->nentries ? v->nentries : 1, 1)) ||
	    !(half = calloc(v->nentries ? v->nentries : 1, 1)) ||
	    !(making = calloc(v->nentries ? v->nentries : 1, sizeof(*making)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}

	/* With --to: refuse to overwrite or remove what differs, before writing anything. */
	for (size_t i = 0; to_dir && !force && i < v->nentries; i++) {
		char *abs = mlops_path_join(abs_to, v->entries[i].path);
		char *shown = mlops_path_join(to_dir, v->entries[i].path);
		err = abs && shown ? mlops_path_check_parents(abs_to, v->entries[i].path) :
		      mlops_error_set(MLOPS_ERROR, "out of memory");
		if (err == 0)
			err = dest_conflict(repo, v, &v->entries[i], abs, shown);
		free(abs);
		free(shown);
		if (err < 0)
			goto done;
		present[i] = err == 1;
		err = 0;
	}
	if (to_dir && !force && (err = mlops_odb_sync(repo->odb)) < 0)
		goto done;

	/* Refuse to overwrite unrecorded changes first, before writing anything. */
	for (size_t i = 0; !to_dir && !force && i < v->nentries; i++) {
		struct mlops_node cur, rec;
		/* What a stopped pull was making is a recorded version cut short. */
		if (mlops_half_made_path(&hm, v->entries[i].path, 0))
			continue;
		char *abs = mlops_path_join(repo->workdir, v->entries[i].path);
		if (!abs) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		err = mlops_tree_scan(&cur, repo->odb, idx, abs, v->entries[i].path, NULL);
		free(abs);
		if (err == MLOPS_ENOTFOUND) {
			mlops_error_clear();
			err = 0;
			continue;
		}
		if (err < 0)
			goto done;
		int recorded = lock_node(&rec, mlops_lockfile_section(lf, "paths"), v->entries[i].path);
		if (mlops_node_same(&cur, &v->entries[i].node) ||
		    (recorded && mlops_node_same(&cur, &rec)))
			continue;
		/* Content another version records is not lost either (as a pull decides). */
		if (!known && ((err = mlops_oidmap_new(&known)) < 0 ||
			       (err = mlops_dataset_recorded_ids(known, repo)) < 0))
			goto done;
		if (!mlops_dataset_recorded(known, &cur)) {
			err = mlops_error_set(MLOPS_ECONFLICT,
				"'%s' has changes that are not recorded in any version; "
				"add them first, or use --force to discard them", v->entries[i].path);
			goto done;
		}
	}
	/*
	 * In the work tree, every path is listed in .mlops/pull-new before
	 * anything is written: one that a signal, a kill or a failure stops
	 * is half made, not a change.  Then what a stopped pull or checkout
	 * left of a path goes.
	 */
	for (size_t i = 0; !to_dir && i < v->nentries; i++) {
		half[i] = mlops_half_made_path(&hm, v->entries[i].path, 0) != NULL;
		making[i] = v->entries[i].path;
	}
	if (!to_dir && (err = mlops_half_made_begin(&hm, repo, making, v->nentries, &hold)) < 0)
		goto done;
	for (size_t i = 0; !to_dir && i < v->nentries; i++)
		if (half[i] && (err = mlops_half_made_clear(repo, v->entries[i].path)) < 0)
			goto done;
	for (size_t i = 0; i < v->nentries; i++, written = i) {
		if (present[i]) {
			if (stats)
				stats->files_unchanged += v->entries[i].node.files;
			continue;
		}
		char *abs = to_dir ? mlops_path_join(abs_to, v->entries[i].path) :
				     mlops_path_join(repo->workdir, v->entries[i].path);
		if (!abs) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		err = mlops_path_check_parents(to_dir ? abs_to : repo->workdir, v->entries[i].path);
		/* The folders made for it go again, with what they hold, should a signal stop this. */
		char *parent = err == 0 ? strdup(abs) : NULL, *made = NULL;
		if (parent) {
			*strrchr(parent, '/') = '\0';
			err = mlops_checkout_mkdir(&made, parent);
			free(parent);
		}
		if (err == 0)
			err = mlops_tree_checkout(repo->odb, to_dir ? NULL : idx, &v->entries[i].node,
						  abs, to_dir ? NULL : v->entries[i].path, stats);
		if (made)
			mlops_tempfile_forget(made);
		free(made);
		free(abs);
		if (err < 0)
			goto done;
	}
	if (!to_dir) {
		mlops_lockfile_free(lf);
		lf = NULL;
		struct mlops_lock *lock;
		cJSON *dropped = cJSON_CreateArray();
		if (!dropped)
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		for (size_t i = 0; i < v->nentries && err == 0; i++)
			err = mlops_gitignore_add(repo, v->entries[i].path);
		if (err == 0 && (err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) == 0) {
			err = lock_record(repo, v, dropped);
			mlops_lock_release(lock);
		}
		if (err == 0)
			err = gitignore_drop_all(repo, dropped);
		cJSON_Delete(dropped);
		if (err < 0)
			goto done;
	}
	if (err == 0)
		err = mlops_index_save(idx);
done:
	/* Whole: no longer half made.  What a failure stopped stays listed. */
	for (size_t i = 0; !to_dir && i < written; i++)
		mlops_half_made_drop(&hm, v->entries[i].path);
	if (!to_dir) {
		int e2 = mlops_half_made_end(&hm, repo, &hold);
		if (err == 0)
			err = e2;
	}
	if (made_to)
		mlops_tempfile_forget(made_to);
	free(made_to);
	free(making);
	mlops_half_made_free(&hm);
	free(half);
	free(present);
	mlops_oidmap_free(known);
	mlops_lockfile_free(lf);
	mlops_index_free(idx);
	return err;
}

/* ---- recorded content ------------------------------------------------- */

/* One bit per way of holding content (mlops_node_same): a link, or a file with or without x. */
static uint64_t recorded_kind(const struct mlops_node *node)
{
	return (uint64_t)1 << ((node->kind == MLOPS_KIND_LINK ? 2 : 0) | ((node->mode & 0111) != 0));
}

static int add_recorded(struct mlops_oidmap *ids, const struct mlops_dataset_version *v)
{
	for (size_t k = 0; k < v->nentries; k++) {
		uint64_t *kinds;
		if (mlops_oidmap_put(ids, &v->entries[k].node.id, &kinds) < 0)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		*kinds |= recorded_kind(&v->entries[k].node);
	}
	return 0;
}

static int recorded_version(const struct mlops_dataset_version *v, void *payload)
{
	return add_recorded(payload, v);
}

int mlops_dataset_recorded_ids(struct mlops_oidmap *ids, struct mlops_repo *repo)
{
	return mlops_dataset_foreach_version(repo, recorded_version, ids);
}

int mlops_dataset_recorded(const struct mlops_oidmap *ids, const struct mlops_node *node)
{
	const uint64_t *kinds = mlops_oidmap_get(ids, &node->id);
	return kinds && (*kinds & recorded_kind(node));
}

/* ---- status ----------------------------------------------------------- */

void mlops_path_status_free(struct mlops_path_status *s, size_t n)
{
	if (!s)
		return;
	for (size_t i = 0; i < n; i++) {
		free(s[i].path);
		free(s[i].dataset);
		free(s[i].held_dataset);
	}
	free(s);
}

/*
 * The walk of mark_outdated: every version's ids go into `ids`, and each
 * modified path (sorted by path, for a binary search) learns the version
 * that holds its current content there.
 */
struct outdated_walk {
	struct mlops_oidmap *ids;
	struct mlops_path_status **modified;
	size_t n;
};

static int cmp_status_path(const void *a, const void *b)
{
	return strcmp((*(struct mlops_path_status *const *)a)->path,
		      (*(struct mlops_path_status *const *)b)->path);
}

/* The first modified path not before `path`. */
static size_t modified_lower_bound(const struct outdated_walk *w, const char *path)
{
	size_t lo = 0, hi = w->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(w->modified[mid]->path, path) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * v holds p->current at p->path: it becomes p's holder when there is none
 * yet, when it is of the lock's dataset and the holder is not, or when it
 * is newer and both or neither are; on a tie the first version walked stays.
 */
static int offer_holder(struct mlops_path_status *p, const struct mlops_dataset_version *v)
{
	int same = !strcmp(v->name, p->dataset);
	if (p->held_dataset) {
		int best_same = !strcmp(p->held_dataset, p->dataset);
		if (best_same > same || (best_same == same && p->held_version >= v->version))
			return 0;
	}
	char *name = strdup(v->name);
	if (!name)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	free(p->held_dataset);
	p->held_dataset = name;
	p->held_version = v->version;
	return 0;
}

static int outdated_version(const struct mlops_dataset_version *v, void *payload)
{
	struct outdated_walk *w = payload;
	int err = add_recorded(w->ids, v);
	for (size_t k = 0; k < v->nentries && err == 0; k++) {
		const struct mlops_dataset_entry *e = &v->entries[k];
		for (size_t i = modified_lower_bound(w, e->path);
		     i < w->n && err == 0 && !strcmp(w->modified[i]->path, e->path); i++)
			if (mlops_node_same(&e->node, &w->modified[i]->current))
				err = offer_holder(w->modified[i], v);
	}
	return err;
}

/*
 * Turn the modified paths whose content a version records into OUTDATED
 * ones, naming the version that holds it at that path (the lock's dataset
 * first, then the newest).  The versions are read once, for all paths.
 */
static int mark_outdated(struct mlops_path_status *s, size_t n, struct mlops_repo *repo)
{
	struct outdated_walk w = { NULL, NULL, 0 };
	int err = 0;
	for (size_t i = 0; i < n; i++)
		w.n += s[i].state == MLOPS_PATH_MODIFIED;
	if (!w.n)
		return 0;
	if (!(w.modified = malloc(w.n * sizeof(*w.modified)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	w.n = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i].state == MLOPS_PATH_MODIFIED)
			w.modified[w.n++] = &s[i];
	qsort(w.modified, w.n, sizeof(*w.modified), cmp_status_path);
	if ((err = mlops_oidmap_new(&w.ids)) < 0 ||
	    (err = mlops_dataset_foreach_version(repo, outdated_version, &w)) < 0)
		goto done;
	/* A holder's content is recorded, so a path that stays modified has none. */
	for (size_t i = 0; i < w.n; i++)
		if (mlops_dataset_recorded(w.ids, &w.modified[i]->current))
			w.modified[i]->state = MLOPS_PATH_OUTDATED;
done:
	free(w.modified);
	mlops_oidmap_free(w.ids);
	return err;
}

int mlops_dataset_status(struct mlops_path_status **out, size_t *n, struct mlops_repo *repo)
{
	struct mlops_lockfile *lf = NULL;
	struct mlops_index *idx = NULL;
	struct mlops_path_status *s = NULL;
	struct mlops_half_made hm;
	size_t cnt = 0;
	int err;
	*out = NULL;
	*n = 0;
	if ((err = mlops_half_made_load(&hm, repo)) < 0)
		return err;
	if ((err = mlops_lockfile_load(&lf, repo)) < 0)
		goto done;
	if ((err = mlops_repo_index(&idx, repo)) < 0)
		goto done;
	/*
	 * The stat cache and the tree objects a scan stores serve later
	 * commands: a store this process cannot write (a read-only mount,
	 * another user's) is only read, as git status leaves its index alone
	 * when it cannot take the index's lock.
	 */
	int readonly = !mlops_index_writable(idx);
	mlops_odb_set_scan_only(repo->odb, readonly);
	cJSON *paths = mlops_lockfile_section(lf, "paths");
	size_t total = (size_t)cJSON_GetArraySize(paths);
	s = calloc(total ? total : 1, sizeof(*s));
	if (!s) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	mlops_json_sort(paths);
	cJSON *e;
	cJSON_ArrayForEach(e, paths) {
		struct mlops_path_status *p = &s[cnt];
		const char *ds = mlops_json_str(e, "dataset");
		if (mlops_node_from_json(&p->recorded, e) < 0) {
			err = mlops_error_set(MLOPS_EINVALID, "mlops.lock: entry '%s' is malformed", e->string);
			goto done;
		}
		p->path = strdup(e->string);
		p->dataset = strdup(ds ? ds : "");
		p->version = (long)mlops_json_u64(e, "version", 0);
		/* The version is its record as well as its data: both must be here. */
		mlops_oid rec;
		const char *rs = mlops_json_str(e, "record");
		p->stored = mlops_odb_exists(repo->odb, &p->recorded.id) &&
			    !(rs && mlops_oid_parse_printed(&rec, rs) && !mlops_odb_exists(repo->odb, &rec));
		cnt++;
		if (!p->path || !p->dataset) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		if (mlops_half_made_path(&hm, p->path, 0)) {
			p->state = hm.running ? MLOPS_PATH_PULLING : MLOPS_PATH_INTERRUPTED;
			continue;
		}
		char *abs = mlops_path_join(repo->workdir, p->path);
		if (!abs) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		err = mlops_tree_scan(&p->current, repo->odb, idx, abs, p->path, NULL);
		free(abs);
		if (err == MLOPS_ENOTFOUND) {
			mlops_error_clear();
			err = 0;
			p->state = MLOPS_PATH_MISSING;
			continue;
		}
		if (err < 0)
			goto done;
		p->state = !mlops_node_same(&p->current, &p->recorded) ? MLOPS_PATH_MODIFIED :
			   MLOPS_PATH_UNCHANGED;
	}
	if ((err = mark_outdated(s, cnt, repo)) < 0 || readonly)
		goto done;
	if ((err = mlops_odb_sync(repo->odb)) < 0)
		goto done;
	err = mlops_index_save(idx);
done:
	mlops_odb_set_scan_only(repo->odb, 0);
	if (err < 0) {
		mlops_path_status_free(s, cnt);
	} else {
		*out = s;
		*n = cnt;
	}
	mlops_index_free(idx);
	mlops_lockfile_free(lf);
	mlops_half_made_free(&hm);
	return err;
}
