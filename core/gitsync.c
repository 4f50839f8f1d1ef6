/*
 * gitsync.c - the lock file at a commit, restoring the work tree to a
 * lock, and the three-way merge of lock files (see gitsync.h).
 */
#define _XOPEN_SOURCE 700
#include "gitsync.h"
#include "dataset.h"
#include "lockfile.h"
#include "pullnew.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/index.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/oidmap.h"
#include "store/repo.h"
#include "store/tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int mlops_lock_at_commit(cJSON **out, struct mlops_repo *repo, const char *rev)
{
	git_object *obj = NULL;
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	git_tree_entry *entry = NULL;
	git_blob *blob = NULL;
	int err = 0;
	*out = NULL;
	if (git_revparse_single(&obj, mlops_repo_git(repo), rev) < 0) {
		git_error_clear();
		return mlops_error_set(MLOPS_ENOTFOUND, "'%s' is not a commit in this repository", rev);
	}
	if (git_object_peel((git_object **)&commit, obj, GIT_OBJECT_COMMIT) < 0) {
		git_error_clear();
		err = mlops_error_set(MLOPS_ENOTFOUND, "'%s' is not a commit", rev);
		goto done;
	}
	if (git_commit_tree(&tree, commit) < 0) {
		err = mlops_git_error(MLOPS_ERROR, "unable to read the commit's tree");
		goto done;
	}
	if (git_tree_entry_bypath(&entry, tree, "mlops.lock") < 0) {
		git_error_clear();
		err = mlops_lockfile_parse(out, "", 0, "mlops.lock");
		goto done;
	}
	if (git_blob_lookup(&blob, mlops_repo_git(repo), git_tree_entry_id(entry)) < 0) {
		err = mlops_git_error(MLOPS_ERROR, "unable to read mlops.lock");
		goto done;
	}
	char name[300];
	snprintf(name, sizeof(name), "%s:mlops.lock", rev);
	err = mlops_lockfile_parse(out, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), name);
done:
	git_blob_free(blob);
	git_tree_entry_free(entry);
	git_tree_free(tree);
	git_commit_free(commit);
	git_object_free(obj);
	return err;
}

void mlops_restore_free(struct mlops_restore *r)
{
	for (size_t i = 0; i < r->count; i++)
		free(r->items[i].path);
	free(r->items);
	memset(r, 0, sizeof(*r));
}

static int add_item(struct mlops_restore *r, const char *path, enum mlops_restore_action a)
{
	struct mlops_restore_item *n = realloc(r->items, (r->count + 1) * sizeof(*n));
	if (!n)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	r->items = n;
	if (!(n[r->count].path = strdup(path)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	n[r->count++].action = a;
	switch (a) {
	case MLOPS_RESTORE_WRITTEN: r->written++; break;
	case MLOPS_RESTORE_KEPT: r->kept++; break;
	case MLOPS_RESTORE_MISSING: r->missing++; break;
	case MLOPS_RESTORE_REMOVED: r->removed++; break;
	default: break;
	}
	return 0;
}

static int entry_node(struct mlops_node *out, const cJSON *lock, const char *path)
{
	const cJSON *paths = cJSON_GetObjectItemCaseSensitive(lock, "paths");
	const cJSON *e = paths ? cJSON_GetObjectItemCaseSensitive(paths, path) : NULL;
	return e && mlops_node_from_json(out, e) == 0;
}

static int exists_cb(const mlops_oid *id, void *payload)
{
	struct mlops_odb *odb = payload;
	return mlops_odb_exists(odb, id) ? 0 : 1;
}

/*
 * Whether content `cur` of `path` may be replaced or removed without losing
 * anything: it is what `prev` tracks there, or what a dataset version
 * records (as a pull decides).  The versions are read once, on first use,
 * into *recorded.
 */
static int is_recorded(int *out, struct mlops_oidmap **recorded, struct mlops_repo *repo,
		       const cJSON *prev, const char *path, const struct mlops_node *cur)
{
	struct mlops_node was;
	int err;
	*out = 1;
	if (entry_node(&was, prev, path) && mlops_node_same(&was, cur))
		return 0;
	if (!*recorded) {
		if ((err = mlops_oidmap_new(recorded)) < 0)
			return err;
		if ((err = mlops_dataset_recorded_ids(*recorded, repo)) < 0)
			return err;
	}
	*out = mlops_dataset_recorded(*recorded, cur);
	return 0;
}

/* What restoring decided for one path, before anything is written. */
struct restore_step {
	const char *path;
	struct mlops_node want;
	enum mlops_restore_action action;
	int half; /* half made by a pull or checkout that stopped */
};

/*
 * Write path (step s) from the store: first remove what a stopped pull or
 * checkout left of it, then make the folders above it that are missing
 * (removed again, with what they hold, should a signal stop this), then
 * the path.  A lock comes with the repository: never write through a link.
 */
static int restore_write(struct mlops_repo *repo, struct mlops_index *idx,
			 const struct restore_step *s)
{
	char *abs = mlops_path_join(repo->workdir, s->path), *parent = abs ? strdup(abs) : NULL;
	char *made = NULL;
	int err = 0;
	if (!parent) {
		free(abs);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	*strrchr(parent, '/') = '\0';
	err = mlops_path_check_parents(repo->workdir, s->path);
	if (err == 0 && s->half) {
		err = mlops_half_made_clear(repo, s->path);
		mlops_index_remove_prefix(idx, s->path);
	}
	if (err == 0)
		err = mlops_checkout_mkdir(&made, parent);
	if (err == 0)
		err = mlops_tree_checkout(repo->odb, idx, &s->want, abs, s->path, NULL);
	if (made)
		mlops_tempfile_forget(made);
	free(made);
	free(parent);
	free(abs);
	return err;
}

int mlops_restore_lock(struct mlops_restore *out, struct mlops_repo *repo, cJSON *lock,
		       cJSON *prev, int force, int write_lock)
{
	struct mlops_index *idx = NULL;
	struct mlops_lockfile *wt = NULL;
	struct mlops_oidmap *recorded = NULL;
	struct mlops_half_made hm;
	struct restore_step *steps = NULL;
	const char **making = NULL; /* the paths to write or remove */
	size_t nsteps = 0, nmaking = 0;
	int err, rec = 1, hold = -1;
	memset(out, 0, sizeof(*out));
	if ((err = mlops_half_made_load(&hm, repo)) < 0)
		return err;
	if (!prev) {
		if ((err = mlops_lockfile_load(&wt, repo)) < 0)
			goto done;
		prev = wt->root;
	}
	if ((err = mlops_repo_index(&idx, repo)) < 0)
		goto done;
	const cJSON *paths = cJSON_GetObjectItemCaseSensitive(lock, "paths");
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(prev, "paths");
	const cJSON *e;
	/* What a running pull is making is its own to write: refused before anything is. */
	cJSON_ArrayForEach(e, paths)
		if ((err = mlops_half_made_refuse(&hm, e->string, 0)) < 0)
			goto done;
	cJSON_ArrayForEach(e, old)
		if ((err = mlops_half_made_refuse(&hm, e->string, 0)) < 0)
			goto done;
	size_t total = (size_t)cJSON_GetArraySize(paths) + (size_t)cJSON_GetArraySize(old) + 1;
	if (!(steps = calloc(total, sizeof(*steps))) || !(making = calloc(total, sizeof(*making)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	/*
	 * Every path is looked at first, and the paths to write or remove
	 * are listed in .mlops/pull-new before any is touched: a checkout
	 * that is stopped or fails leaves them half made, not changes.
	 */
	cJSON_ArrayForEach(e, paths) {
		struct restore_step *s = &steps[nsteps++];
		struct mlops_node cur;
		s->path = e->string;
		if (mlops_node_from_json(&s->want, e) < 0) {
			err = mlops_error_set(MLOPS_EINVALID, "mlops.lock: entry '%s' is malformed", s->path);
			goto done;
		}
		char *abs = mlops_path_join(repo->workdir, s->path);
		if (!abs) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		int have = 1;
		err = mlops_tree_scan(&cur, repo->odb, idx, abs, s->path, NULL);
		free(abs);
		if (err == MLOPS_ENOTFOUND) {
			mlops_error_clear();
			have = 0;
			err = 0;
		}
		if (err < 0)
			goto done;
		/*
		 * What a stopped pull or checkout was making is part of a
		 * recorded version, cut short: nothing in it is kept, and it is
		 * removed before it is made again, as the next pull would.
		 */
		s->half = mlops_half_made_path(&hm, s->path, 0) != NULL;
		rec = 1;
		/* The executable bit is part of a version: content alone is not "as recorded". */
		int same = have && mlops_node_same(&cur, &s->want);
		if (have && !same && !force && !s->half &&
		    (err = is_recorded(&rec, &recorded, repo, prev, s->path, &cur)) < 0)
			goto done;
		if (same) {
			s->action = MLOPS_RESTORE_UNCHANGED;
		} else if (have && !rec) {
			s->action = MLOPS_RESTORE_KEPT;
		} else if (mlops_tree_walk_objects(repo->odb, &s->want, exists_cb, repo->odb) != 0) {
			mlops_error_clear();
			s->action = MLOPS_RESTORE_MISSING;
		} else {
			s->action = MLOPS_RESTORE_WRITTEN;
			making[nmaking++] = s->path;
		}
	}
	/* Paths the previous lock tracked that this one does not. */
	cJSON_ArrayForEach(e, old) {
		struct mlops_node was, cur;
		const char *path = e->string;
		if (cJSON_GetObjectItemCaseSensitive(paths, path) || mlops_node_from_json(&was, e) < 0)
			continue;
		char *abs = mlops_path_join(repo->workdir, path);
		if (!abs) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		if (mlops_path_check_parents(repo->workdir, path) == 0 &&
		    mlops_tree_scan(&cur, repo->odb, idx, abs, path, NULL) == 0) {
			rec = 1;
			if (!force && !mlops_node_same(&cur, &was) &&
			    !mlops_half_made_path(&hm, path, 0) &&
			    (err = is_recorded(&rec, &recorded, repo, prev, path, &cur)) < 0) {
				free(abs);
				goto done;
			}
			steps[nsteps].path = path;
			steps[nsteps++].action = rec ? MLOPS_RESTORE_REMOVED : MLOPS_RESTORE_KEPT;
			if (rec)
				making[nmaking++] = path;
		}
		mlops_error_clear();
		free(abs);
	}
	if ((err = mlops_half_made_begin(&hm, repo, making, nmaking, &hold)) < 0)
		goto done;
	for (size_t i = 0; i < nsteps; i++) {
		const struct restore_step *s = &steps[i];
		if (s->action == MLOPS_RESTORE_WRITTEN) {
			err = restore_write(repo, idx, s);
		} else if (s->action == MLOPS_RESTORE_REMOVED) {
			char *abs = mlops_path_join(repo->workdir, s->path);
			if (!abs)
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
			else if (mlops_remove_tree(abs) < 0)
				err = mlops_error_sys(errno, "unable to remove '%s'", abs);
			free(abs);
			mlops_index_remove_prefix(idx, s->path);
		}
		if (err < 0 || (s->action != MLOPS_RESTORE_UNCHANGED &&
				(err = add_item(out, s->path, s->action)) < 0))
			goto done;
		/* Whole again, or removed: no longer half made. */
		if (s->action != MLOPS_RESTORE_KEPT && s->action != MLOPS_RESTORE_MISSING)
			mlops_half_made_drop(&hm, s->path);
	}
	if ((err = mlops_odb_sync(repo->odb)) < 0)
		goto done;
	if ((err = mlops_index_save(idx)) < 0)
		goto done;
	if (write_lock) {
		char *text;
		char *path = mlops_path_join(repo->workdir, "mlops.lock");
		if (!path) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		if ((err = mlops_lockfile_render(&text, lock)) == 0) {
			err = mlops_write_file_atomic(path, text, strlen(text), repo->tmpdir, 1);
			free(text);
		}
		free(path);
	}
done:;
	/*
	 * The paths made whole again, or removed, leave .mlops/pull-new; those
	 * a failure stopped stay, half made.
	 */
	int e2 = mlops_half_made_end(&hm, repo, &hold);
	if (err == 0)
		err = e2;
	free(steps);
	free(making);
	mlops_oidmap_free(recorded);
	mlops_index_free(idx);
	mlops_lockfile_free(wt);
	mlops_half_made_free(&hm);
	if (err < 0)
		mlops_restore_free(out);
	return err;
}

/* ---- merge ------------------------------------------------------------ */

static char *canon(const cJSON *v)
{
	if (!v)
		return NULL;
	cJSON *d = cJSON_Duplicate(v, 1);
	char *s = NULL;
	if (d && mlops_json_canonical(&s, d) < 0)
		s = NULL;
	cJSON_Delete(d);
	return s;
}

static int same(const cJSON *a, const cJSON *b)
{
	if (!a || !b)
		return !a && !b;
	char *x = canon(a), *y = canon(b);
	int eq = x && y && !strcmp(x, y);
	free(x);
	free(y);
	return eq;
}

/*
 * Name one side of a conflicting entry as a user would write it: a path
 * names its dataset version ("train@v3"), a feature set its materialised
 * version ("uu@v2", or "uu spec v2" before any), under its key.  When both
 * sides would read the same (versions numbered apart in two clones), the
 * record's id prefix tells them apart, as the revision "NAME@3f2a9c1d".
 */
static void describe_as(char *buf, size_t size, const char *section, const char *key,
			const cJSON *e, int by_id)
{
	if (!e) {
		snprintf(buf, size, "removed");
		return;
	}
	const char *name = !strcmp(section, "paths") ? mlops_json_str(e, "dataset") : key;
	const char *record = mlops_json_str(e, "record"), *id = mlops_json_str(e, "id");
	double v = mlops_json_num(e, "version", -1);
	double sv = mlops_json_num(e, "spec_version", -1);
	const char *spec = mlops_json_str(e, "spec");
	if (!cJSON_IsObject(e))
		snprintf(buf, size, "%s", cJSON_IsNull(e) ? "null" : "not an entry");
	else if (name && record && (by_id || v < 0))
		snprintf(buf, size, "%s@%.12s", name, record);
	else if (name && v >= 0)
		snprintf(buf, size, "%s@v%.0f", name, v);
	else if (name && spec && sv >= 0 && !by_id)
		snprintf(buf, size, "%s spec v%.0f", name, sv);
	else if (name && spec)
		snprintf(buf, size, "%s spec %.12s", name, spec);
	else if (id || record)
		snprintf(buf, size, "%.12s", id ? id : record);
	else
		snprintf(buf, size, "an entry without a version");
}

static void describe(char *x, char *y, size_t size, const char *section, const char *key,
		     const cJSON *ours, const cJSON *theirs)
{
	describe_as(x, size, section, key, ours, 0);
	describe_as(y, size, section, key, theirs, 0);
	if (!strcmp(x, y)) {
		describe_as(x, size, section, key, ours, 1);
		describe_as(y, size, section, key, theirs, 1);
	}
}

struct conflict {
	char *placeholder;
	char *ours, *theirs; /* rendered entries, or NULL when removed */
};

/*
 * Append a conflict between ours and theirs (either may be NULL: removed)
 * to *cf; its placeholder is the value the merged lock holds meanwhile.
 * NULL when out of memory.
 */
static const char *add_conflict(struct conflict **cf, size_t *ncf, const cJSON *ours,
				const cJSON *theirs)
{
	struct conflict *nc = realloc(*cf, (*ncf + 1) * sizeof(*nc));
	if (!nc)
		return NULL;
	*cf = nc;
	nc[*ncf].placeholder = mlops_strdupf("mlops-merge-conflict-%zu", *ncf);
	nc[*ncf].ours = canon(ours);
	nc[*ncf].theirs = canon(theirs);
	return nc[(*ncf)++].placeholder;
}

static void add_keys(cJSON *keys, const cJSON *obj)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, obj)
		if (c->string && !cJSON_GetObjectItemCaseSensitive(keys, c->string))
			cJSON_AddTrueToObject(keys, c->string);
}

int mlops_lock_merge(char **out, size_t *conflicts, char **message, const char *base,
		     const char *ours, const char *theirs)
{
	cJSON *b = NULL, *o = NULL, *t = NULL, *m = NULL, *sections = NULL;
	struct conflict *cf = NULL;
	size_t ncf = 0;
	char *text = NULL;
	int err;
	*out = NULL;
	*conflicts = 0;
	*message = NULL;
	if ((err = mlops_lockfile_parse(&b, base, strlen(base), "base mlops.lock")) < 0 ||
	    (err = mlops_lockfile_parse(&o, ours, strlen(ours), "our mlops.lock")) < 0 ||
	    (err = mlops_lockfile_parse(&t, theirs, strlen(theirs), "their mlops.lock")) < 0)
		goto done;
	m = cJSON_CreateObject();
	sections = cJSON_CreateObject();
	if (!m || !sections) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	add_keys(sections, b);
	add_keys(sections, o);
	add_keys(sections, t);
	const cJSON *sec;
	cJSON_ArrayForEach(sec, sections) {
		const char *sname = sec->string;
		const cJSON *sb = cJSON_GetObjectItemCaseSensitive(b, sname);
		const cJSON *so = cJSON_GetObjectItemCaseSensitive(o, sname);
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, sname);
		if (!strcmp(sname, "version")) {
			cJSON_AddNumberToObject(m, "version", 1);
			continue;
		}
		cJSON *ms = cJSON_AddObjectToObject(m, sname);
		cJSON *keys = cJSON_CreateObject();
		add_keys(keys, sb);
		add_keys(keys, so);
		add_keys(keys, st);
		const cJSON *k;
		cJSON_ArrayForEach(k, keys) {
			const cJSON *eb = sb ? cJSON_GetObjectItemCaseSensitive(sb, k->string) : NULL;
			const cJSON *eo = so ? cJSON_GetObjectItemCaseSensitive(so, k->string) : NULL;
			const cJSON *et = st ? cJSON_GetObjectItemCaseSensitive(st, k->string) : NULL;
			const cJSON *pick;
			if (same(eo, et))
				pick = eo;
			else if (same(eo, eb))
				pick = et;
			else if (same(et, eb))
				pick = eo;
			else {
				const char *ph = add_conflict(&cf, &ncf, eo, et);
				if (!ph) {
					cJSON_Delete(keys);
					err = mlops_error_set(MLOPS_ERROR, "out of memory");
					goto done;
				}
				if (!*message) {
					char x[200], y[200];
					describe(x, y, sizeof(x), sname, k->string, eo, et);
					*message = mlops_strdupf("'%s' changed on both sides: %s (ours) and %s (theirs)",
								 k->string, x, y);
				}
				cJSON_AddStringToObject(ms, k->string, ph);
				continue;
			}
			if (pick)
				cJSON_AddItemToObject(ms, k->string, cJSON_Duplicate(pick, 1));
		}
		cJSON_Delete(keys);
		/*
		 * A path inside a file that the other side tracks merges to a
		 * lock no work tree can hold (a file with paths in it): the
		 * inner path is a conflict.  Paths inside a tracked folder are
		 * fine.
		 */
		if (strcmp(sname, "paths"))
			continue;
		cJSON *in;
		cJSON_ArrayForEach(in, ms) {
			const cJSON *out2;
			const char *file = NULL;
			if (cJSON_IsString(in))
				continue; /* a conflict already */
			cJSON_ArrayForEach(out2, ms) {
				size_t ol = strlen(out2->string);
				const char *kind = mlops_json_str(out2, "kind");
				if (out2 != in && kind && strcmp(kind, "tree") &&
				    !strncmp(in->string, out2->string, ol) && in->string[ol] == '/') {
					file = out2->string;
					break;
				}
			}
			if (!file)
				continue;
			const cJSON *eo = so ? cJSON_GetObjectItemCaseSensitive(so, in->string) : NULL;
			const cJSON *et = st ? cJSON_GetObjectItemCaseSensitive(st, in->string) : NULL;
			const char *placeholder = add_conflict(&cf, &ncf, eo, et);
			if (!*message)
				*message = mlops_strdupf("'%s' is inside '%s', which is a file on the other side",
							 in->string, file);
			cJSON *ph = placeholder ? cJSON_CreateString(placeholder) : NULL;
			char *key = strdup(in->string);
			if (!ph || !key || !cJSON_ReplaceItemInObjectCaseSensitive(ms, key, ph)) {
				cJSON_Delete(ph);
				free(key);
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				goto done;
			}
			in = cJSON_GetObjectItemCaseSensitive(ms, key);
			free(key);
		}
	}
	if ((err = mlops_lockfile_render(&text, m)) < 0)
		goto done;
	/* Replace each placeholder line with the two sides between markers. */
	for (size_t i = 0; i < ncf; i++) {
		char needle[128];
		snprintf(needle, sizeof(needle), "\"%s\"", cf[i].placeholder);
		char *at = strstr(text, needle);
		if (!at)
			continue;
		char *ls = at;
		while (ls > text && ls[-1] != '\n')
			ls--;
		char *le = strchr(at, '\n');
		if (!le)
			le = at + strlen(at);
		int comma = le > text && le[-1] == ',';
		size_t keylen = (size_t)(at - ls);
		char *repl = mlops_strdupf("<<<<<<< ours\n%.*s%s%s\n=======\n%.*s%s%s\n>>>>>>> theirs",
			(int)keylen, ls, cf[i].ours ? cf[i].ours : "null", comma ? "," : "",
			(int)keylen, ls, cf[i].theirs ? cf[i].theirs : "null", comma ? "," : "");
		char *nt = repl ? mlops_strdupf("%.*s%s%s", (int)(ls - text), text, repl, le) : NULL;
		free(repl);
		if (!nt) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		free(text);
		text = nt;
	}
	*out = text;
	text = NULL;
	*conflicts = ncf;
done:
	for (size_t i = 0; i < ncf; i++) {
		free(cf[i].placeholder);
		free(cf[i].ours);
		free(cf[i].theirs);
	}
	free(cf);
	free(text);
	cJSON_Delete(sections);
	cJSON_Delete(m);
	cJSON_Delete(b);
	cJSON_Delete(o);
	cJSON_Delete(t);
	if (err < 0) {
		free(*message);
		*message = NULL;
	}
	return err;
}
