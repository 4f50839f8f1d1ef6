/*
 * reach.c - reachability walks over records (see reach.h for the rules).
 *
 * Design notes: every id seen is in one map whose value holds the flags it
 * was first seen with and what became of it (present, absent, faulted).
 * The queue holds the ids of the next level; a level is handed to the
 * source in one call.  An id seen first as optional and later as
 * required, while absent, is reported then.
 */
#include "reach.h"
#include "lockfile.h"
#include "store/error.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/oidmap.h"
#include "store/refs.h"
#include "store/repo.h"
#include "store/tree.h"

#include <cjson/cJSON.h>
#include "store/dl_git2.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ST_PRESENT (1u << 8)
#define ST_ABSENT (1u << 9)
#define ST_FAULT (1u << 10)
#define ST_DONE (ST_PRESENT | ST_ABSENT | ST_FAULT)
#define SOFT_INSPECT_MAX (64ull << 20)

struct mlops_reach {
	struct mlops_oidmap *seen;
	struct mlops_reach_item *queue;
	size_t nqueue, capqueue;
	mlops_reach_fault_cb fault_cb;
	void *payload;
	size_t present, faults;
	int err;          /* first fatal error inside a callback */
	int inherit;      /* a record's children are required only when it was */
	/* The level being visited. */
	const struct mlops_reach_item *level;
};

int mlops_reach_new(struct mlops_reach **out, mlops_reach_fault_cb fault_cb, void *payload)
{
	struct mlops_reach *r = calloc(1, sizeof(*r));
	*out = NULL;
	if (!r)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (mlops_oidmap_new(&r->seen) < 0) {
		free(r);
		return MLOPS_ERROR;
	}
	r->fault_cb = fault_cb;
	r->payload = payload;
	*out = r;
	return 0;
}

void mlops_reach_inherit_required(struct mlops_reach *r, int on)
{
	r->inherit = on;
}

void mlops_reach_free(struct mlops_reach *r)
{
	if (!r)
		return;
	mlops_oidmap_free(r->seen);
	free(r->queue);
	free(r);
}

static int fault(struct mlops_reach *r, const mlops_oid *id, int code)
{
	r->faults++;
	if (!r->fault_cb)
		return code;
	int rc = r->fault_cb(r->payload, id, code, mlops_error_message());
	mlops_error_clear();
	return rc < 0 ? rc : 0;
}

static int missing(struct mlops_reach *r, const mlops_oid *id)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	mlops_error_set(MLOPS_ENOTFOUND, "object %s is missing", mlops_oid_fmt(hex, id));
	return fault(r, id, MLOPS_ENOTFOUND);
}

int mlops_reach_add(struct mlops_reach *r, const mlops_oid *id, unsigned flags)
{
	uint64_t *v;
	int added = mlops_oidmap_put(r->seen, id, &v);
	if (added < 0)
		return added;
	if (!added) {
		if ((flags & MLOPS_REACH_STRICT) && (*v & ST_ABSENT) && !(*v & MLOPS_REACH_STRICT)) {
			*v |= MLOPS_REACH_STRICT | ST_FAULT;
			return missing(r, id);
		}
		return 0;
	}
	*v = flags;
	if (r->nqueue == r->capqueue) {
		size_t cap = r->capqueue ? r->capqueue * 2 : 256;
		struct mlops_reach_item *q = realloc(r->queue, cap * sizeof(*q));
		if (!q)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		r->queue = q;
		r->capqueue = cap;
	}
	r->queue[r->nqueue].id = *id;
	r->queue[r->nqueue].flags = flags;
	r->nqueue++;
	return 0;
}

/* ---- extracting ids ----------------------------------------------------- */

/* Where extract() puts ids; `below` is a tree's count of files, as its record says. */
struct sink {
	int (*emit)(void *ctx, const mlops_oid *id, unsigned flags, uint64_t below);
	void *ctx;
};

static int extract(const cJSON *v, int strict, const struct sink *sk)
{
	int err = 0;
	if (cJSON_IsString(v)) {
		mlops_oid id;
		if (v->valuestring && mlops_oid_parse_printed(&id, v->valuestring))
			return sk->emit(sk->ctx, &id, MLOPS_REACH_INSPECT, 0);
		return 0;
	}
	if (cJSON_IsArray(v)) {
		const cJSON *c;
		cJSON_ArrayForEach(c, v)
			if ((err = extract(c, strict, sk)) < 0)
				return err;
		return 0;
	}
	if (!cJSON_IsObject(v))
		return 0;
	const char *type = mlops_json_str(v, "type");
	const cJSON *chunks = cJSON_GetObjectItemCaseSensitive(v, "chunks");
	if (type && !strcmp(type, "chunks") && cJSON_IsArray(chunks)) {
		/* A chunk list: its chunks are leaves. */
		const cJSON *c;
		cJSON_ArrayForEach(c, chunks) {
			const cJSON *h = cJSON_IsArray(c) ? cJSON_GetArrayItem(c, 0) : c;
			mlops_oid id;
			if (cJSON_IsString(h) && mlops_oid_parse_printed(&id, h->valuestring) &&
			    (err = sk->emit(sk->ctx, &id, strict ? MLOPS_REACH_STRICT : 0, 0)) < 0)
				return err;
		}
		return 0;
	}
	int node = 0;
	if (cJSON_GetObjectItemCaseSensitive(v, "id") && cJSON_GetObjectItemCaseSensitive(v, "kind")) {
		struct mlops_node n;
		if (mlops_node_from_json(&n, v) == 0) {
			unsigned flags = strict ? MLOPS_REACH_STRICT : 0;
			if (n.kind == MLOPS_KIND_TREE || n.kind == MLOPS_KIND_CHUNKS)
				flags |= MLOPS_REACH_INSPECT | MLOPS_REACH_RECORD;
			if ((err = sk->emit(sk->ctx, &n.id, flags,
					    n.kind == MLOPS_KIND_TREE ? n.files : 0)) < 0)
				return err;
			node = 1;
		} else {
			mlops_error_clear();
		}
	}
	const cJSON *c;
	for (c = v->child; c; c = c->next) {
		if (node && c->string && !strcmp(c->string, "id"))
			continue;
		if ((err = extract(c, strict, sk)) < 0)
			return err;
	}
	return 0;
}

static int emit_root(void *ctx, const mlops_oid *id, unsigned flags, uint64_t below)
{
	(void)below;
	return mlops_reach_add(ctx, id, flags);
}

int mlops_reach_add_json(struct mlops_reach *r, const cJSON *value, int strict)
{
	struct sink sk = { emit_root, r };
	return extract(value, strict, &sk);
}

int mlops_reach_add_text(struct mlops_reach *r, const char *text, size_t len)
{
	size_t run = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? text[i] : '\0';
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
			run++;
			continue;
		}
		if (run == MLOPS_OID_HEXSZ) {
			char hex[MLOPS_OID_HEXSZ + 1];
			mlops_oid id;
			memcpy(hex, text + i - run, MLOPS_OID_HEXSZ);
			hex[MLOPS_OID_HEXSZ] = '\0';
			if (mlops_oid_parse(&id, hex) == 0) {
				int err = mlops_reach_add(r, &id, MLOPS_REACH_INSPECT);
				if (err < 0)
					return err;
			}
		}
		run = 0;
	}
	return 0;
}

struct item_list {
	struct mlops_reach_item *items;
	size_t n, cap;
	uint64_t below; /* the files under the trees among them */
};

static int emit_list(void *ctx, const mlops_oid *id, unsigned flags, uint64_t below)
{
	struct item_list *l = ctx;
	l->below += below < MLOPS_REACH_HINT_MAX - l->below ? below : MLOPS_REACH_HINT_MAX - l->below;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct mlops_reach_item *p = realloc(l->items, cap * sizeof(*p));
		if (!p)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		l->items = p;
		l->cap = cap;
	}
	l->items[l->n].id = *id;
	l->items[l->n].flags = flags;
	l->n++;
	return 0;
}

/* Parse content as a record: *out NULL when it is not one (and not required). */
static int parse_record(cJSON **out, const void *data, size_t len, int record)
{
	const char *p = data;
	size_t i = 0;
	*out = NULL;
	while (i < len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\t' || p[i] == '\r'))
		i++;
	cJSON *o = i < len && p[i] == '{' ? cJSON_ParseWithLength(data, len) : NULL;
	if (!cJSON_IsObject(o) || (!record && !cJSON_GetObjectItemCaseSensitive(o, "type"))) {
		cJSON_Delete(o);
		return record ? mlops_error_set(MLOPS_ECORRUPT, "is not a record") : 0;
	}
	*out = o;
	return 0;
}

int mlops_reach_children(struct mlops_reach_item **out, size_t *n, uint64_t *below,
			 const void *data, size_t len, int record)
{
	struct item_list l = { 0 };
	struct sink sk = { emit_list, &l };
	cJSON *o;
	*out = NULL;
	*n = 0;
	if (below)
		*below = 0;
	int err = parse_record(&o, data, len, record);
	if (err < 0 || !o)
		return err;
	err = extract(o, 1, &sk);
	cJSON_Delete(o);
	if (err < 0) {
		free(l.items);
		return err;
	}
	*out = l.items;
	*n = l.n;
	if (below)
		*below = l.below;
	return 0;
}

/* ---- the walk ----------------------------------------------------------- */

static int found(void *walk, size_t index, int status, const void *data, size_t len)
{
	struct mlops_reach *r = walk;
	const struct mlops_reach_item *it = &r->level[index];
	uint64_t *v = mlops_oidmap_get(r->seen, &it->id);
	char hex[MLOPS_OID_HEXSZ + 1];
	int err = 0;
	if (!v)
		return 0;
	if (status == MLOPS_ENOTFOUND) {
		*v |= ST_ABSENT;
		mlops_error_clear();
		if (*v & MLOPS_REACH_STRICT) {
			*v |= ST_FAULT;
			err = missing(r, &it->id);
		}
		return err;
	}
	if (status < 0) {
		*v |= ST_FAULT | ST_PRESENT;
		r->present++;
		return fault(r, &it->id, status);
	}
	*v |= ST_PRESENT;
	r->present++;
	if (!data || !(it->flags & MLOPS_REACH_INSPECT))
		return 0;
	/* Read now: adding the children may move the map's values. */
	int optional = r->inherit && !(*v & MLOPS_REACH_STRICT);
	struct mlops_reach_item *kids;
	size_t nkids;
	uint64_t below;
	err = mlops_reach_children(&kids, &nkids, &below, data, len,
				   (it->flags & MLOPS_REACH_RECORD) != 0);
	if (err == MLOPS_ECORRUPT) {
		mlops_error_set(MLOPS_ECORRUPT, "object %s is not a valid record", mlops_oid_fmt(hex, &it->id));
		*v |= ST_FAULT;
		return fault(r, &it->id, MLOPS_ECORRUPT);
	}
	if (err < 0)
		return err;
	/*
	 * A record that names a tree of 50,000 files is followed by 50,000
	 * ids: the map is sized for them now rather than doubled on the way
	 * (each doubling rehashes everything, into memory never touched
	 * before).  Only a hint, and bounded: a failure to reserve is not one.
	 */
	if (below && mlops_oidmap_reserve(r->seen, mlops_oidmap_count(r->seen) + nkids + below) < 0)
		mlops_error_clear();
	for (size_t i = 0; i < nkids && err == 0; i++)
		err = mlops_reach_add(r, &kids[i].id,
				      optional ? kids[i].flags & ~(unsigned)MLOPS_REACH_STRICT :
						 kids[i].flags);
	free(kids);
	return err;
}

int mlops_reach_run(struct mlops_reach *r, const struct mlops_reach_source *src)
{
	int err = 0;
	while (r->nqueue && err == 0) {
		struct mlops_reach_item *level = r->queue;
		size_t n = r->nqueue;
		r->queue = NULL;
		r->nqueue = r->capqueue = 0;
		r->level = level;
		err = src->visit(src->ctx, level, n, found, r);
		r->level = NULL;
		free(level);
	}
	return err;
}

int mlops_reach_has(const struct mlops_reach *r, const mlops_oid *id)
{
	uint64_t *v = mlops_oidmap_get(r->seen, id);
	return v && (*v & ST_PRESENT);
}

struct foreach_ctx {
	int (*cb)(const mlops_oid *id, void *payload);
	void *payload;
};

static int foreach_present(const mlops_oid *id, uint64_t *val, void *payload)
{
	struct foreach_ctx *c = payload;
	return (*val & ST_PRESENT) ? c->cb(id, c->payload) : 0;
}

int mlops_reach_foreach(const struct mlops_reach *r,
			int (*cb)(const mlops_oid *id, void *payload), void *payload)
{
	struct foreach_ctx c = { cb, payload };
	return mlops_oidmap_foreach(r->seen, foreach_present, &c);
}

size_t mlops_reach_count(const struct mlops_reach *r)
{
	return r->present;
}

size_t mlops_reach_faults(const struct mlops_reach *r)
{
	return r->faults;
}

/* ---- the local source --------------------------------------------------- */

static int local_visit(void *ctx, const struct mlops_reach_item *items, size_t n,
		       mlops_reach_found_cb cb, void *walk)
{
	struct mlops_odb *odb = ctx;
	int err = 0;
	for (size_t i = 0; i < n && err == 0; i++) {
		const struct mlops_reach_item *it = &items[i];
		if (!mlops_odb_exists(odb, &it->id)) {
			err = cb(walk, i, MLOPS_ENOTFOUND, NULL, 0);
			continue;
		}
		if (!(it->flags & MLOPS_REACH_INSPECT)) {
			err = cb(walk, i, 0, NULL, 0);
			continue;
		}
		if (!(it->flags & MLOPS_REACH_RECORD)) {
			/* An optional id: only records (small) are worth reading. */
			struct mlops_odb_info info;
			if (mlops_odb_info(&info, odb, &it->id) == 0 &&
			    info.stored_size > SOFT_INSPECT_MAX) {
				err = cb(walk, i, 0, NULL, 0);
				continue;
			}
			mlops_error_clear();
		}
		void *data;
		size_t len;
		int rc = mlops_odb_read(&data, &len, odb, &it->id);
		if (rc == MLOPS_ENOTFOUND || rc == MLOPS_ECORRUPT) {
			err = cb(walk, i, rc, NULL, 0);
			continue;
		}
		if (rc < 0)
			return rc;
		err = cb(walk, i, 0, data, len);
		free(data);
	}
	return err;
}

void mlops_reach_local_source(struct mlops_reach_source *out, struct mlops_odb *odb)
{
	out->visit = local_visit;
	out->ctx = odb;
}

/* ---- repository roots --------------------------------------------------- */

static int add_refs(struct mlops_reach *r, struct mlops_repo *repo)
{
	char **names;
	size_t n;
	int err = mlops_ref_list_all(&names, &n, repo, "");
	if (err < 0)
		return err;
	for (size_t i = 0; i < n && err == 0; i++) {
		mlops_oid id;
		if ((err = mlops_ref_read(&id, repo, names[i])) < 0)
			break;
		err = mlops_reach_add(r, &id, MLOPS_REACH_STRICT | MLOPS_REACH_INSPECT | MLOPS_REACH_RECORD);
	}
	mlops_strlist_free(names, n);
	return err;
}

struct tag_ctx {
	struct mlops_reach *r;
	git_repository *git;
	int err;
};

static int tag_cb(const char *name, git_oid *oid, void *payload)
{
	struct tag_ctx *t = payload;
	git_tag *tag;
	(void)name;
	if (git_tag_lookup(&tag, t->git, oid) < 0) {
		git_error_clear(); /* a lightweight tag: its commit's lock counts via history */
		return 0;
	}
	const char *msg = git_tag_message(tag);
	if (msg && (t->err = mlops_reach_add_text(t->r, msg, strlen(msg))) < 0) {
		git_tag_free(tag);
		return -1;
	}
	git_tag_free(tag);
	return 0;
}

static int add_lock_text(struct mlops_reach *r, const char *text, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(text, len);
	int err;
	if (root)
		err = mlops_reach_add_json(r, root, 0);
	else
		err = mlops_reach_add_text(r, text, len); /* damaged: keep every id it names */
	cJSON_Delete(root);
	return err;
}

static int add_history(struct mlops_reach *r, struct mlops_repo *repo, size_t *commits)
{
	git_revwalk *walk = NULL;
	struct mlops_oidmap *blobs = NULL;
	git_oid oid;
	int err = 0, rc;
	if (git_revwalk_new(&walk, mlops_repo_git(repo)) < 0)
		return mlops_git_error(MLOPS_ERROR, "unable to walk the git history");
	if ((err = mlops_oidmap_new(&blobs)) < 0)
		goto done;
	git_revwalk_sorting(walk, GIT_SORT_NONE);
	if (git_revwalk_push_glob(walk, "refs/heads/*") < 0 ||
	    git_revwalk_push_glob(walk, "refs/tags/*") < 0) {
		err = mlops_git_error(MLOPS_ERROR, "unable to walk the git history");
		goto done;
	}
	if (git_revwalk_push_head(walk) < 0)
		git_error_clear(); /* an unborn or detached-nowhere HEAD */
	while ((rc = git_revwalk_next(&oid, walk)) == 0) {
		git_commit *commit = NULL;
		git_tree *tree = NULL;
		git_blob *blob = NULL;
		if (git_commit_lookup(&commit, mlops_repo_git(repo), &oid) < 0 ||
		    git_commit_tree(&tree, commit) < 0) {
			git_commit_free(commit);
			err = mlops_git_error(MLOPS_ERROR, "unable to read a commit");
			goto done;
		}
		if (commits)
			(*commits)++;
		const git_tree_entry *e = git_tree_entry_byname(tree, "mlops.lock");
		if (e && git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
			mlops_oid key;
			memset(&key, 0, sizeof(key));
			memcpy(key.id, git_tree_entry_id(e)->id, GIT_OID_RAWSZ);
			int added = mlops_oidmap_put(blobs, &key, NULL);
			if (added < 0) {
				err = added;
			} else if (added && git_blob_lookup(&blob, mlops_repo_git(repo), git_tree_entry_id(e)) == 0) {
				err = add_lock_text(r, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
			} else if (added) {
				err = mlops_git_error(MLOPS_ERROR, "unable to read mlops.lock from the git history");
			}
		}
		git_blob_free(blob);
		git_tree_free(tree);
		git_commit_free(commit);
		if (err < 0)
			goto done;
	}
	if (rc != GIT_ITEROVER)
		err = mlops_git_error(MLOPS_ERROR, "unable to walk the git history");
	git_error_clear();
done:
	mlops_oidmap_free(blobs);
	git_revwalk_free(walk);
	return err;
}

int mlops_reach_add_repo_roots(struct mlops_reach *r, struct mlops_repo *repo, unsigned what,
			       size_t *commits)
{
	int err = 0;
	if (commits)
		*commits = 0;
	if ((what & MLOPS_REACH_ROOT_REFS) && (err = add_refs(r, repo)) < 0)
		return err;
	if (what & MLOPS_REACH_ROOT_TAGS) {
		struct tag_ctx t = { r, mlops_repo_git(repo), 0 };
		int rc = git_tag_foreach(mlops_repo_git(repo), tag_cb, &t);
		if (t.err < 0)
			return t.err;
		if (rc < 0 && rc != GIT_ENOTFOUND)
			return mlops_git_error(MLOPS_ERROR, "unable to read the git tags");
		git_error_clear();
	}
	if ((what & MLOPS_REACH_ROOT_HISTORY) && (err = add_history(r, repo, commits)) < 0)
		return err;
	if (what & MLOPS_REACH_ROOT_WORKTREE) {
		struct mlops_lockfile *lf;
		if ((err = mlops_lockfile_load(&lf, repo)) < 0)
			return err;
		err = mlops_reach_add_json(r, lf->root, 0);
		mlops_lockfile_free(lf);
	}
	return err;
}
