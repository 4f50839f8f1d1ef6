/*
 * datadiff.c - `dataset diff`: files added, removed and modified between
 * two dataset versions, or a version and the work tree; for CSV and TSV
 * files also rows added and removed (compared as a multiset of records by
 * content, so a moved row is neither) and columns added and removed.
 *
 * Rows are records in the RFC 4180 sense: a newline inside quotes does not
 * end one, and a trailing CR is not part of it.  Each record is reduced to
 * a 64-bit hash; memory is 16 bytes per distinct row of the older side.
 */
#include "dataset.h"
#include "dataset_stats.h"
#include "csv.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/index.h"
#include "store/odb.h"
#include "store/repo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct flat {
	char *path;
	struct mlops_node node;
	const char *abs_root; /* work-tree side: where to read from */
	char *abs;
};

struct flatlist {
	struct flat *f;
	size_t n, cap;
};

static void flat_free(struct flatlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->f[i].path);
		free(l->f[i].abs);
	}
	free(l->f);
}

static int flat_add(struct flatlist *l, const char *path, const struct mlops_node *node,
		    const char *abs)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		struct flat *f = realloc(l->f, nc * sizeof(*f));
		if (!f)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		l->f = f;
		l->cap = nc;
	}
	struct flat *f = &l->f[l->n];
	memset(f, 0, sizeof(*f));
	f->path = strdup(path);
	f->abs = abs ? strdup(abs) : NULL;
	f->node = *node;
	if (!f->path || (abs && !f->abs)) {
		free(f->path);
		free(f->abs);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	l->n++;
	return 0;
}

static int flatten(struct flatlist *l, struct mlops_repo *repo, const char *path,
		   const struct mlops_node *node, const char *abs_root)
{
	struct mlops_tree_list tl;
	int err = mlops_tree_list(&tl, repo->odb, node, 0);
	if (err < 0)
		return err;
	for (size_t i = 0; i < tl.count && err == 0; i++) {
		char *p = *tl.files[i].path ? mlops_path_join(path, tl.files[i].path) : strdup(path);
		char *abs = p && abs_root ? mlops_path_join(abs_root, p) : NULL;
		if (!p || (abs_root && !abs))
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		else
			err = flat_add(l, p, &tl.files[i].node, abs);
		free(p);
		free(abs);
	}
	mlops_tree_list_free(&tl);
	return err;
}

static int cmp_flat(const void *a, const void *b)
{
	return strcmp(((const struct flat *)a)->path, ((const struct flat *)b)->path);
}

/* ---- CSV rows --------------------------------------------------------- */

/* Open addressing; counts[j] is 0 for an empty slot, else 1 + the rows left. */
struct rowset {
	uint64_t *keys;
	uint32_t *counts;
	size_t cap, used;
};

static int rowset_grow(struct rowset *s)
{
	size_t nc = s->cap ? s->cap * 2 : 1 << 14;
	uint64_t *k = calloc(nc, sizeof(*k));
	uint32_t *c = calloc(nc, sizeof(*c));
	if (!k || !c) {
		free(k);
		free(c);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->counts[i])
			continue;
		size_t j = (size_t)(s->keys[i] * 0x9e3779b97f4a7c15ULL >> 20) & (nc - 1);
		while (c[j])
			j = (j + 1) & (nc - 1);
		k[j] = s->keys[i];
		c[j] = s->counts[i];
	}
	free(s->keys);
	free(s->counts);
	s->keys = k;
	s->counts = c;
	s->cap = nc;
	return 0;
}

/* Find the slot of key (or the empty slot where it would go). */
static size_t rowset_slot(const struct rowset *s, uint64_t key)
{
	size_t j = (size_t)(key * 0x9e3779b97f4a7c15ULL >> 20) & (s->cap - 1);
	while (s->counts[j] && s->keys[j] != key)
		j = (j + 1) & (s->cap - 1);
	return j;
}

struct rowscan {
	int mode;           /* 0: fill the set, 1: match against it */
	struct rowset *set;
	long long added;
	char **cols;        /* the header's names, NULL-terminated */
};

#define HASH_INIT 0xcbf29ce484222325ULL
#define HASH_STEP(h, c) (((h) ^ (unsigned char)(c)) * 0x100000001b3ULL)

static int scan_header(void *payload, const char *const *names, size_t n)
{
	struct rowscan *r = payload;
	if (!(r->cols = calloc(n + 1, sizeof(*r->cols))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (!(r->cols[i] = strdup(names[i])))
			return mlops_error_set(MLOPS_ERROR, "out of memory");
	return 0;
}

/*
 * One record, by the content of its fields (quotes removed, so "x" and x
 * are one value), each field's length hashed before its bytes so that a
 * delimiter inside a field cannot make two records alike.
 */
static int scan_row(void *payload, const struct mlops_csv_field *f, size_t n)
{
	struct rowscan *r = payload;
	uint64_t key = HASH_INIT;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < sizeof(f[i].len); k++)
			key = HASH_STEP(key, (unsigned char)(f[i].len >> (8 * k)));
		for (size_t k = 0; k < f[i].len; k++)
			key = HASH_STEP(key, f[i].ptr[k]);
	}
	if (r->mode == 0) {
		if ((r->set->used + 1) * 2 > r->set->cap && rowset_grow(r->set) < 0)
			return MLOPS_ERROR;
		size_t j = rowset_slot(r->set, key);
		if (!r->set->counts[j]) {
			r->set->keys[j] = key;
			r->set->counts[j] = 1;
			r->set->used++;
		}
		r->set->counts[j]++;
	} else {
		size_t j = r->set->cap ? rowset_slot(r->set, key) : 0;
		if (r->set->cap && r->set->counts[j] > 1)
			r->set->counts[j]--;
		else
			r->added++;
	}
	return 0;
}

/* Read one side's table: from the work tree, or streamed from the store. */
static int scan_side(const struct flat *f, struct mlops_repo *repo,
		     const struct mlops_dataset_version *v, struct rowscan *r)
{
	struct mlops_table_reader rd = { scan_header, scan_row, r, NULL };
	if (f->abs)
		return mlops_table_read_file(f->abs, &rd);
	char *name = mlops_strdupf("%s@v%ld:%s", v->name, v->version, f->path);
	if (!name)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = mlops_table_read_node(repo, &f->node, name, &rd);
	free(name);
	return err;
}

static int is_csv(const char *path)
{
	size_t l = strlen(path);
	return l > 4 && (!strcasecmp(path + l - 4, ".csv") || !strcasecmp(path + l - 4, ".tsv"));
}

static void free_cols(char **c)
{
	for (size_t i = 0; c && c[i]; i++)
		free(c[i]);
	free(c);
}

/* The names in a that are not in b, NULL-terminated (possibly empty), or NULL: out of memory. */
static char **cols_minus(char **a, char **b)
{
	size_t n = 0;
	for (size_t i = 0; a && a[i]; i++)
		n++;
	char **out = calloc(n + 1, sizeof(*out));
	size_t k = 0;
	for (size_t i = 0; out && a && a[i]; i++) {
		int found = 0;
		for (size_t j = 0; b && b[j] && !found; j++)
			found = !strcmp(a[i], b[j]);
		if (found)
			continue;
		if (!(out[k++] = strdup(a[i]))) {
			free_cols(out);
			return NULL;
		}
	}
	return out;
}

static int csv_diff(struct mlops_diff_file *d, struct mlops_repo *repo, const struct flat *a,
		    const struct flat *b, const struct mlops_dataset_version *va,
		    const struct mlops_dataset_version *vb)
{
	struct rowset set = { 0 };
	struct rowscan ra = { .mode = 0, .set = &set }, rb = { .mode = 1, .set = &set };
	int err = scan_side(a, repo, va, &ra);
	if (err == 0)
		err = scan_side(b, repo, vb, &rb);
	if (err == 0) {
		long long removed = 0;
		for (size_t i = 0; i < set.cap; i++)
			removed += set.counts[i] ? set.counts[i] - 1 : 0;
		d->rows_added = rb.added;
		d->rows_removed = removed;
		d->cols_added = cols_minus(rb.cols, ra.cols);
		d->cols_removed = cols_minus(ra.cols, rb.cols);
		if (!d->cols_added || !d->cols_removed)
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	free_cols(ra.cols);
	free_cols(rb.cols);
	free(set.keys);
	free(set.counts);
	return err;
}

/* ---- the diff --------------------------------------------------------- */

void mlops_diff_free(struct mlops_diff_file *d, size_t n)
{
	if (!d)
		return;
	for (size_t i = 0; i < n; i++) {
		free(d[i].path);
		free_cols(d[i].cols_added);
		free_cols(d[i].cols_removed);
	}
	free(d);
}

static int flatten_version(struct flatlist *l, struct mlops_repo *repo,
			   const struct mlops_dataset_version *v)
{
	for (size_t i = 0; i < v->nentries; i++) {
		int err = flatten(l, repo, v->entries[i].path, &v->entries[i].node, NULL);
		if (err < 0)
			return err;
	}
	return 0;
}

static int flatten_worktree(struct flatlist *l, struct mlops_repo *repo,
			    const struct mlops_dataset_version *v)
{
	struct mlops_index *idx;
	int err = mlops_repo_index(&idx, repo);
	if (err < 0)
		return err;
	for (size_t i = 0; i < v->nentries && err == 0; i++) {
		struct mlops_node node;
		char *abs = mlops_path_join(repo->workdir, v->entries[i].path);
		if (!abs) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		err = mlops_tree_scan(&node, repo->odb, idx, abs, v->entries[i].path, NULL);
		free(abs);
		if (err == MLOPS_ENOTFOUND) {
			mlops_error_clear();
			err = 0;
			continue;
		}
		if (err == 0)
			err = flatten(l, repo, v->entries[i].path, &node, repo->workdir);
	}
	if (err == 0)
		err = mlops_odb_sync(repo->odb);
	if (err == 0)
		err = mlops_index_save(idx);
	mlops_index_free(idx);
	return err;
}

int mlops_dataset_diff(struct mlops_diff_file **out, size_t *n, struct mlops_repo *repo,
		       const struct mlops_dataset_version *a, const struct mlops_dataset_version *b)
{
	struct flatlist la = { 0 }, lb = { 0 };
	struct mlops_diff_file *d = NULL;
	size_t cnt = 0;
	int err;
	*out = NULL;
	*n = 0;
	if ((err = flatten_version(&la, repo, a)) < 0)
		goto done;
	err = b ? flatten_version(&lb, repo, b) : flatten_worktree(&lb, repo, a);
	if (err < 0)
		goto done;
	qsort(la.f, la.n, sizeof(*la.f), cmp_flat);
	qsort(lb.f, lb.n, sizeof(*lb.f), cmp_flat);
	d = calloc(la.n + lb.n + 1, sizeof(*d));
	if (!d) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	size_t i = 0, j = 0;
	while (i < la.n || j < lb.n) {
		int c = i >= la.n ? 1 : j >= lb.n ? -1 : strcmp(la.f[i].path, lb.f[j].path);
		const struct flat *fa = c <= 0 ? &la.f[i] : NULL, *fb = c >= 0 ? &lb.f[j] : NULL;
		i += c <= 0;
		j += c >= 0;
		if (fa && fb && mlops_node_same(&fa->node, &fb->node))
			continue;
		struct mlops_diff_file *e = &d[cnt++];
		e->path = strdup(fa ? fa->path : fb->path);
		if (!e->path) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		e->change = fa && fb ? 'M' : fa ? 'D' : 'A';
		e->old_size = fa ? fa->node.size : 0;
		e->new_size = fb ? fb->node.size : 0;
		e->rows_added = e->rows_removed = -1;
		if (fa && fb && is_csv(fa->path) && fa->node.kind != MLOPS_KIND_LINK &&
		    fb->node.kind != MLOPS_KIND_LINK && (err = csv_diff(e, repo, fa, fb, a, b ? b : a)) < 0)
			goto done;
	}
done:
	flat_free(&la);
	flat_free(&lb);
	if (err < 0) {
		mlops_diff_free(d, cnt);
		return err;
	}
	*out = d;
	*n = cnt;
	return 0;
}
