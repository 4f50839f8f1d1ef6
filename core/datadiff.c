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
#include "store/error.h"
#include "store/fsutil.h"
#include "store/index.h"
#include "store/odb.h"
#include "store/repo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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
	uint64_t h;         /* hash of the record so far */
	int in_quotes;
	int pending_cr;
	int first;          /* the header record is being read */
	char *header;
	size_t hlen, hcap;
	int failed;
};

#define HASH_INIT 0xcbf29ce484222325ULL
#define HASH_STEP(h, c) (((h) ^ (unsigned char)(c)) * 0x100000001b3ULL)

static int end_record(struct rowscan *r)
{
	if (r->first) {
		r->first = 0;
		r->h = HASH_INIT;
		return 0;
	}
	uint64_t key = r->h;
	r->h = HASH_INIT;
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

static int scan_bytes(const void *data, size_t len, void *payload)
{
	struct rowscan *r = payload;
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (r->first && c != '\n') {
			if (r->hlen + 2 > r->hcap) {
				size_t nc = r->hcap ? r->hcap * 2 : 256;
				if (nc > (1u << 20))
					return mlops_error_set(MLOPS_EINVALID, "CSV header is too long");
				char *nh = realloc(r->header, nc);
				if (!nh)
					return mlops_error_set(MLOPS_ERROR, "out of memory");
				r->header = nh;
				r->hcap = nc;
			}
			r->header[r->hlen++] = (char)c;
			r->header[r->hlen] = '\0';
		}
		if (c == '"') {
			r->in_quotes = !r->in_quotes;
		} else if (c == '\n' && !r->in_quotes) {
			r->pending_cr = 0;
			if (end_record(r) < 0)
				return MLOPS_ERROR;
			continue;
		}
		if (r->pending_cr)
			r->h = HASH_STEP(r->h, '\r');
		r->pending_cr = (c == '\r');
		if (!r->pending_cr)
			r->h = HASH_STEP(r->h, c);
	}
	return 0;
}

static int scan_finish(struct rowscan *r)
{
	if (r->h != HASH_INIT || r->first)
		return end_record(r);
	return 0;
}

static int stream_side(const struct flat *f, struct mlops_repo *repo, struct rowscan *r)
{
	int err;
	r->h = HASH_INIT;
	r->first = 1;
	r->in_quotes = 0;
	r->pending_cr = 0;
	if (f->abs) {
		int fd = open(f->abs, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return mlops_error_sys(errno, "unable to open '%s'", f->abs);
		char *buf = malloc(1 << 20);
		if (!buf) {
			close(fd);
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		}
		ssize_t n;
		err = 0;
		while (err == 0 && (n = read(fd, buf, 1 << 20)) > 0)
			err = scan_bytes(buf, (size_t)n, r);
		if (n < 0 && err == 0)
			err = mlops_error_sys(errno, "unable to read '%s'", f->abs);
		free(buf);
		close(fd);
	} else {
		err = mlops_tree_file_stream(repo->odb, &f->node, scan_bytes, r);
	}
	if (err == 0)
		err = scan_finish(r);
	return err;
}

static char delimiter_of(const char *path)
{
	size_t l = strlen(path);
	return l > 4 && !strcmp(path + l - 4, ".tsv") ? '\t' : ',';
}

static int is_csv(const char *path)
{
	size_t l = strlen(path);
	return l > 4 && (!strcmp(path + l - 4, ".csv") || !strcmp(path + l - 4, ".tsv"));
}

/* Split a header line into column names (quotes removed); NULL-terminated. */
static char **split_header(const char *h, char delim)
{
	size_t cap = 8, n = 0;
	char **cols = calloc(cap + 1, sizeof(*cols));
	if (!cols || !h)
		return cols;
	size_t len = strlen(h);
	char *cur = malloc(len + 1);
	size_t cl = 0;
	int q = 0;
	if (!cur) {
		free(cols);
		return NULL;
	}
	for (size_t i = 0; i <= len; i++) {
		char c = h[i];
		if (c == '"') {
			if (q && h[i + 1] == '"') {
				cur[cl++] = '"';
				i++;
			} else {
				q = !q;
			}
			continue;
		}
		if ((c == delim && !q) || c == '\0' || (c == '\r' && !q && h[i + 1] == '\0')) {
			cur[cl] = '\0';
			if (n == cap) {
				cap *= 2;
				char **nc = realloc(cols, (cap + 1) * sizeof(*nc));
				if (!nc)
					break;
				cols = nc;
			}
			cols[n++] = strdup(cur);
			cols[n] = NULL;
			cl = 0;
			if (c == '\r')
				break;
			continue;
		}
		cur[cl++] = c;
	}
	free(cur);
	return cols;
}

static void free_cols(char **c)
{
	for (size_t i = 0; c && c[i]; i++)
		free(c[i]);
	free(c);
}

/* Names in a that are not in b, comma-separated, or NULL. */
static char *cols_minus(char **a, char **b)
{
	char *out = NULL;
	for (size_t i = 0; a && a[i]; i++) {
		int found = 0;
		for (size_t j = 0; b && b[j]; j++)
			if (!strcmp(a[i], b[j]))
				found = 1;
		if (found)
			continue;
		char *n = mlops_strdupf("%s%s%s", out ? out : "", out ? "," : "", a[i]);
		free(out);
		out = n;
	}
	return out;
}

static int csv_diff(struct mlops_diff_file *d, struct mlops_repo *repo, const struct flat *a,
		    const struct flat *b)
{
	struct rowset set = { 0 };
	struct rowscan ra = { .mode = 0, .set = &set }, rb = { .mode = 1, .set = &set };
	int err = stream_side(a, repo, &ra);
	if (err == 0)
		err = stream_side(b, repo, &rb);
	if (err == 0) {
		long long removed = 0;
		for (size_t i = 0; i < set.cap; i++)
			removed += set.counts[i] ? set.counts[i] - 1 : 0;
		d->rows_added = rb.added;
		d->rows_removed = removed;
		char delim = delimiter_of(a->path);
		char **ca = split_header(ra.header, delim), **cb = split_header(rb.header, delim);
		d->cols_added = cols_minus(cb, ca);
		d->cols_removed = cols_minus(ca, cb);
		free_cols(ca);
		free_cols(cb);
	}
	free(ra.header);
	free(rb.header);
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
		free(d[i].cols_added);
		free(d[i].cols_removed);
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
		    fb->node.kind != MLOPS_KIND_LINK && (err = csv_diff(e, repo, fa, fb)) < 0)
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
