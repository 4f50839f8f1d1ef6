/*
 * baseline.c - the monitoring baseline of a model: what its training table
 * and its predictions looked like, kept once per version for the checks
 * (the record's format is in monitor.h).
 *
 * Design notes.
 *  - One pass over the table profiles every column at once: counts,
 *    moments, a reservoir sample of MLOPS_MONITOR_SAMPLE numbers, up to
 *    MLOPS_MONITOR_FEW distinct numbers, up to MLOPS_MONITOR_CATEGORIES
 *    distinct texts; and, with a model, its prediction of every row.
 *    The kind of a column is decided at the end (numeric when every value
 *    is a number, categorical while its texts fit the table, else text).
 *  - Bin edges come from the sample.  When the sample is the whole column
 *    the counts come from it too; otherwise a second pass counts every
 *    value into the bins (the training table is read twice only when it
 *    is larger than the sample).
 *  - Validation rows are those of the trainer's split (mlops_split_permute
 *    with the model's seed): rows are numbered in source order, and the
 *    first nvalid entries of the permutation are the validation rows.
 *  - A loaded baseline and a computed one are the same: the record is
 *    built first, printed and parsed again (cJSON does not print every
 *    double bit for bit), and the in-memory columns are always read back
 *    from it.
 */
#include "core/monitor_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/csv.h"
#include "core/drift.h"
#include "core/feature.h"
#include "core/learn.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/repo.h"

#define BASELINE_FORMAT 2
#define SEED UINT64_C(0x6d6f6e69746f7231)

static int oom(void)
{
	return mlops_error_set(MLOPS_ERROR, "out of memory");
}

const char *mon_kind_name(enum mon_kind k)
{
	switch (k) {
	case MON_NUMERIC: return "numeric";
	case MON_CATEGORICAL: return "categorical";
	case MON_TEXT: return "text";
	default: return "empty";
	}
}

/* ---- reading the record back ------------------------------------------- */

static void column_clear(struct mon_column *c)
{
	free(c->edges);
	free(c->counts);
	free(c->sample);
	free(c->fewv);
	free(c->fewc);
	free(c->catc);
	mon_strmap_free(&c->cats);
}

void mlops_baseline_free(struct mlops_baseline *b)
{
	if (!b)
		return;
	for (size_t i = 0; b->cols && i < b->ncols; i++)
		column_clear(&b->cols[i]);
	free(b->cols);
	if (b->pred)
		column_clear(b->pred);
	free(b->pred);
	cJSON_Delete(b->json);
	free(b);
}

const struct cJSON *mlops_baseline_json(const struct mlops_baseline *b)
{
	return b->json;
}

const mlops_oid *mlops_baseline_id(const struct mlops_baseline *b)
{
	return b->has_id ? &b->id : NULL;
}

static int invalid(const char *col, const char *what)
{
	return mlops_error_set(MLOPS_EINVALID, "invalid baseline: column '%s': %s", col, what);
}

/* Read a JSON array of numbers into a new array of *n doubles. */
static int read_numbers(double **out, size_t *n, const cJSON *arr, const char *col,
			const char *what)
{
	size_t k = 0;
	const cJSON *v;
	*out = NULL;
	*n = 0;
	if (!cJSON_IsArray(arr))
		return invalid(col, what);
	size_t len = (size_t)cJSON_GetArraySize(arr);
	if (!(*out = malloc((len ? len : 1) * sizeof(double))))
		return oom();
	cJSON_ArrayForEach(v, arr) {
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
			free(*out);
			*out = NULL;
			return invalid(col, what);
		}
		(*out)[k++] = v->valuedouble;
	}
	*n = k;
	return 0;
}

static double num_or_nan(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int column_from_json(struct mon_column *c, cJSON *o)
{
	const char *kind;
	int err;
	memset(c, 0, sizeof(*c));
	c->obj = o;
	c->name = mlops_json_str(o, "name");
	kind = mlops_json_str(o, "kind");
	c->type = mlops_json_str(o, "type");
	if (!c->name || !kind || !c->type)
		return mlops_error_set(MLOPS_EINVALID, "invalid baseline: a column lacks name, kind or type");
	c->count = (uint64_t)mlops_json_num(o, "count", 0);
	c->missing = (uint64_t)mlops_json_num(o, "missing", 0);
	c->mean = num_or_nan(o, "mean");
	c->std = num_or_nan(o, "std");
	c->min = num_or_nan(o, "min");
	c->max = num_or_nan(o, "max");
	if (!strcmp(kind, "numeric")) {
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "histogram");
		size_t ne, nc;
		c->kind = MON_NUMERIC;
		if ((err = read_numbers(&c->edges, &ne, cJSON_GetObjectItemCaseSensitive(h, "edges"),
					c->name, "bad histogram edges")) < 0)
			return err;
		if ((err = read_numbers(&c->counts, &nc, cJSON_GetObjectItemCaseSensitive(h, "counts"),
					c->name, "bad histogram counts")) < 0)
			return err;
		if (ne < 2 || nc != ne - 1)
			return invalid(c->name, "histogram edges and counts do not match");
		for (size_t i = 1; i < ne; i++)
			if (c->edges[i] < c->edges[i - 1])
				return invalid(c->name, "histogram edges are not ascending");
		c->nbins = nc;
		const cJSON *few = cJSON_GetObjectItemCaseSensitive(o, "values");
		if (few) {
			size_t nv, nk;
			if ((err = read_numbers(&c->fewv, &nv, cJSON_GetObjectItemCaseSensitive(few, "values"),
						c->name, "bad values")) < 0 ||
			    (err = read_numbers(&c->fewc, &nk, cJSON_GetObjectItemCaseSensitive(few, "counts"),
						c->name, "bad value counts")) < 0)
				return err;
			if (nv != nk || nv > MLOPS_MONITOR_FEW)
				return invalid(c->name, "values and counts do not match");
			c->nfew = nv;
			c->few_exact = 1;
		}
	} else if (!strcmp(kind, "categorical")) {
		const cJSON *cat = cJSON_GetObjectItemCaseSensitive(o, "categories");
		const cJSON *vals = cJSON_GetObjectItemCaseSensitive(cat, "values"), *v;
		size_t nk;
		c->kind = MON_CATEGORICAL;
		if ((err = read_numbers(&c->catc, &nk, cJSON_GetObjectItemCaseSensitive(cat, "counts"),
					c->name, "bad category counts")) < 0)
			return err;
		if (!cJSON_IsArray(vals) || (size_t)cJSON_GetArraySize(vals) != nk || nk == 0 ||
		    nk > MLOPS_MONITOR_CATEGORIES)
			return invalid(c->name, "categories and counts do not match");
		if ((err = mon_strmap_init(&c->cats, nk)) < 0)
			return err;
		cJSON_ArrayForEach(v, vals) {
			if (!cJSON_IsString(v))
				return invalid(c->name, "a category is not a string");
			if ((err = mon_strmap_add(&c->cats, v->valuestring, strlen(v->valuestring), 1)) < 0)
				return err;
		}
		if (c->cats.n != nk)
			return invalid(c->name, "categories repeat");
		c->ncat = nk;
	} else if (!strcmp(kind, "text")) {
		c->kind = MON_TEXT;
	} else if (!strcmp(kind, "empty")) {
		c->kind = MON_EMPTY;
	} else {
		return invalid(c->name, "unknown kind");
	}
	return 0;
}

/* Fill b's columns from b->json (samples are the caller's to attach). */
static int baseline_from_json(struct mlops_baseline *b)
{
	cJSON *cols = cJSON_GetObjectItemCaseSensitive(b->json, "columns"), *o;
	cJSON *pred = cJSON_GetObjectItemCaseSensitive(b->json, "predictions");
	const char *type = mlops_json_str(b->json, "type");
	int err;
	if (!type || strcmp(type, "baseline") || mlops_json_num(b->json, "format", 0) != BASELINE_FORMAT)
		return mlops_error_set(MLOPS_EINVALID, "not a monitoring baseline of format %d",
				       BASELINE_FORMAT);
	if (!cJSON_IsArray(cols))
		return mlops_error_set(MLOPS_EINVALID, "invalid baseline: no columns");
	b->rows = (uint64_t)mlops_json_num(b->json, "rows", 0);
	b->target = mlops_json_str(b->json, "target");
	b->ncols = (size_t)cJSON_GetArraySize(cols);
	if (!(b->cols = calloc(b->ncols ? b->ncols : 1, sizeof(*b->cols))))
		return oom();
	size_t i = 0;
	cJSON_ArrayForEach(o, cols) {
		if ((err = column_from_json(&b->cols[i++], o)) < 0)
			return err;
	}
	if (cJSON_IsObject(pred)) {
		if (!(b->pred = calloc(1, sizeof(*b->pred))))
			return oom();
		if ((err = column_from_json(b->pred, pred)) < 0)
			return err;
	}
	return 0;
}

/* ---- computing --------------------------------------------------------- */

struct colfin {
	enum mon_kind kind;
	double *sample, *edges;
	size_t nsample, nedges;
	int pass2;
};

struct build {
	struct mlops_csv *csv;
	size_t ncols;             /* the columns profiled */
	const char *const *names; /* their names */
	size_t nfields;           /* the table's columns */
	const char *const *all;   /* their names */
	size_t *col;              /* the table column of each column profiled; NULL: the same */
	const char **sel;         /* the names of those (with col) */
	struct mon_acc *acc;
	struct colfin *fin;
	const struct mlops_model *model;
	size_t *pos;
	struct mlops_cellref *cells;
	unsigned char *valid;   /* model->nrows flags, or NULL */
	struct mon_acc pred_valid, pred_all;
	struct colfin pred_fin;
	int have_pred_valid;
	uint64_t rows;
	int pass;
};

static int add_prediction(struct build *b, struct mon_acc *a, const struct mlops_prediction *p)
{
	if (b->model->nclasses)
		return mon_acc_text(a, p->label, strlen(p->label));
	return mon_acc_number(a, p->value);
}

static int feed(struct build *b, const char *path)
{
	const struct mlops_csv_field *f;
	size_t n;
	int rc, err;
	uint64_t r = 0;
	while ((rc = mlops_csv_next(b->csv, &f, &n)) == 1) {
		for (size_t j = 0; j < b->ncols; j++) {
			const struct mlops_csv_field *c = &f[b->col ? b->col[j] : j];
			if ((err = mon_acc_text(&b->acc[j], c->ptr, c->len)) < 0)
				return err;
		}
		if (b->model && (b->pass == 1 || b->pred_fin.pass2)) {
			struct mlops_prediction p;
			struct mon_acc *dst[2];
			size_t nd = 0;
			int in_valid = b->valid && r < b->model->nrows && b->valid[r];
			if (b->pass == 1) {
				dst[nd++] = &b->pred_all;
				if (in_valid)
					dst[nd++] = &b->pred_valid;
			} else if (!b->have_pred_valid) {
				dst[nd++] = &b->pred_all;
			} else if (in_valid) {
				dst[nd++] = &b->pred_valid;
			}
			if (nd) {
				for (size_t i = 0; i < b->model->design.ninputs; i++) {
					b->cells[i].ptr = f[b->pos[i]].ptr;
					b->cells[i].len = f[b->pos[i]].len;
				}
				if ((err = mlops_model_predict_row(&p, NULL, b->model, b->cells)) < 0)
					return mlops_error_wrap(err, "'%s' line %zu", path,
								mlops_csv_line(b->csv));
				for (size_t k = 0; k < nd; k++)
					if ((err = add_prediction(b, dst[k], &p)) < 0)
						return err;
			}
		}
		r++;
	}
	if (rc < 0)
		return rc;
	b->rows = r;
	return 0;
}

static double quantile(const double *s, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)floor(pos);
	if (lo + 1 >= n)
		return s[n - 1];
	double frac = pos - (double)lo;
	return s[lo] + (s[lo + 1] - s[lo]) * frac;
}

static int all_boolean(const struct mon_strmap *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const char *k = mon_strmap_key(m, i);
		if (strcasecmp(k, "true") && strcasecmp(k, "false"))
			return 0;
	}
	return m->n > 0;
}

/*
 * After the first pass: decide the kind, sort the sample, make the edges,
 * and ask for a second pass when the sample is not the whole column.
 */
static int finish_pass1(struct colfin *fin, struct mon_acc *a, int categorical)
{
	int err;
	memset(fin, 0, sizeof(*fin));
	if (a->count == 0)
		fin->kind = MON_EMPTY;
	else if (!categorical && a->nonnum == 0)
		fin->kind = MON_NUMERIC;
	else if (!a->text.full)
		fin->kind = MON_CATEGORICAL;
	else
		fin->kind = MON_TEXT;
	if (fin->kind != MON_NUMERIC)
		return 0;
	size_t ns;
	const double *v = mlops_reservoir_values(a->res, &ns);
	if (!(fin->sample = malloc(ns * sizeof(double))))
		return oom();
	memcpy(fin->sample, v, ns * sizeof(double));
	fin->nsample = ns;
	if ((err = mlops_drift_sort(fin->sample, ns)) < 0)
		return err;
	if ((err = mlops_drift_quantile_edges(&fin->edges, &fin->nedges, fin->sample, ns,
					      MLOPS_MONITOR_BINS)) < 0)
		return err;
	a->edges = fin->edges;
	a->nbins = fin->nedges - 1;
	if (!(a->bins = calloc(a->nbins, sizeof(uint64_t))))
		return oom();
	if (a->numbers == ns) {
		for (size_t i = 0; i < ns; i++)
			a->bins[mon_bin_of(a->edges, a->nbins, fin->sample[i])]++;
	} else {
		fin->pass2 = 1;
		a->binonly = 1;
	}
	return 0;
}

static cJSON *number_or_null(double v)
{
	return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

struct catsort {
	const char *key;
	uint64_t count;
};

static int cmp_cat(const void *a, const void *b)
{
	const struct catsort *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int cmp_few(const void *a, const void *b)
{
	const double *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* The column's object in the record. */
static cJSON *column_json(const char *name, struct mon_acc *a, const struct colfin *fin)
{
	cJSON *o = cJSON_CreateObject(), *h, *arr, *arr2;
	const char *type;
	if (!o)
		return NULL;
	switch (fin->kind) {
	case MON_NUMERIC: type = a->all_int ? "integer" : "float"; break;
	case MON_CATEGORICAL: type = all_boolean(&a->text) ? "boolean" : "categorical"; break;
	case MON_TEXT: type = "text"; break;
	default: type = "empty"; break;
	}
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddStringToObject(o, "kind", mon_kind_name(fin->kind));
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddNumberToObject(o, "count", (double)a->count);
	cJSON_AddNumberToObject(o, "missing", (double)a->missing);
	if (fin->kind == MON_NUMERIC) {
		int few = a->track_few && !a->few_over;
		cJSON_AddNumberToObject(o, "distinct", few ? (double)a->nfew :
					!a->text.full ? (double)a->text.n : (double)a->text.limit);
		cJSON_AddBoolToObject(o, "distinct_exact", few);
		cJSON_AddItemToObject(o, "mean", number_or_null(mon_acc_mean(a)));
		cJSON_AddItemToObject(o, "std", number_or_null(mon_acc_std(a)));
		cJSON_AddNumberToObject(o, "min", a->min);
		cJSON_AddNumberToObject(o, "max", a->max);
		cJSON_AddNumberToObject(o, "p25", quantile(fin->sample, fin->nsample, 0.25));
		cJSON_AddNumberToObject(o, "p50", quantile(fin->sample, fin->nsample, 0.5));
		cJSON_AddNumberToObject(o, "p75", quantile(fin->sample, fin->nsample, 0.75));
		h = cJSON_AddObjectToObject(o, "histogram");
		cJSON_AddItemToObject(h, "edges", cJSON_CreateDoubleArray(fin->edges, (int)fin->nedges));
		arr = cJSON_AddArrayToObject(h, "counts");
		for (size_t i = 0; i < a->nbins; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)a->bins[i]));
		cJSON_AddNumberToObject(o, "sample_size", (double)fin->nsample);
		if (few) {
			double pairs[MLOPS_MONITOR_FEW][2];
			for (size_t i = 0; i < a->nfew; i++) {
				pairs[i][0] = a->fewv[i];
				pairs[i][1] = (double)a->fewc[i];
			}
			qsort(pairs, a->nfew, sizeof(pairs[0]), cmp_few);
			h = cJSON_AddObjectToObject(o, "values");
			arr = cJSON_AddArrayToObject(h, "values");
			arr2 = cJSON_AddArrayToObject(h, "counts");
			for (size_t i = 0; i < a->nfew; i++) {
				cJSON_AddItemToArray(arr, cJSON_CreateNumber(pairs[i][0]));
				cJSON_AddItemToArray(arr2, cJSON_CreateNumber(pairs[i][1]));
			}
		}
	} else if (fin->kind == MON_CATEGORICAL) {
		struct catsort *cs = malloc((a->text.n ? a->text.n : 1) * sizeof(*cs));
		if (!cs) {
			cJSON_Delete(o);
			return NULL;
		}
		for (size_t i = 0; i < a->text.n; i++) {
			cs[i].key = mon_strmap_key(&a->text, i);
			cs[i].count = a->text.count[i];
		}
		qsort(cs, a->text.n, sizeof(*cs), cmp_cat);
		cJSON_AddNumberToObject(o, "distinct", (double)a->text.n);
		cJSON_AddBoolToObject(o, "distinct_exact", 1);
		h = cJSON_AddObjectToObject(o, "categories");
		arr = cJSON_AddArrayToObject(h, "values");
		arr2 = cJSON_AddArrayToObject(h, "counts");
		for (size_t i = 0; i < a->text.n; i++) {
			cJSON_AddItemToArray(arr, cJSON_CreateString(cs[i].key));
			cJSON_AddItemToArray(arr2, cJSON_CreateNumber((double)cs[i].count));
		}
		free(cs);
	} else if (fin->kind == MON_TEXT) {
		cJSON_AddNumberToObject(o, "distinct", (double)a->text.limit);
		cJSON_AddBoolToObject(o, "distinct_exact", 0);
	}
	return o;
}

static int init_feature_acc(struct mon_acc *a, uint64_t seed)
{
	int err = mon_acc_init(a, MLOPS_MONITOR_SAMPLE, seed, MLOPS_MONITOR_CATEGORIES);
	a->text_all = 1;
	a->track_few = 1;
	return err;
}

static int init_pred_acc(struct mon_acc *a, const struct mlops_model *m, uint64_t seed)
{
	int err = mon_acc_init(a, m->nclasses ? 0 : MLOPS_MONITOR_SAMPLE, seed,
			       m->nclasses ? MLOPS_MONITOR_CATEGORIES : 0);
	a->parse = !m->nclasses;
	a->track_few = !m->nclasses;
	return err;
}

static int reopen(struct build *b, const char *path)
{
	size_t n;
	int err;
	mlops_csv_free(b->csv);
	b->csv = NULL;
	if ((err = mlops_csv_open(&b->csv, path, NULL)) < 0)
		return err;
	b->all = mlops_csv_names(b->csv, &n);
	if (n != b->nfields)
		return mlops_error_set(MLOPS_EINVALID, "'%s' changed while it was read", path);
	if (!b->col)
		b->names = b->all;
	for (size_t j = 0; b->col && j < b->ncols; j++)
		b->sel[j] = b->all[b->col[j]];
	return 0;
}

/* Attach a sample to the column read back from the record (takes it). */
static void attach_sample(struct mon_column *c, struct colfin *fin)
{
	c->sample = fin->sample;
	c->nsample = fin->nsample;
	fin->sample = NULL;
}

int mlops_baseline_compute(struct mlops_baseline **out, const char *csv_path,
			   const struct mlops_model *model, const struct cJSON *dataset)
{
	return mlops_baseline_compute_columns(out, csv_path, model, dataset, NULL, 0);
}

int mlops_baseline_compute_columns(struct mlops_baseline **out, const char *csv_path,
				   const struct mlops_model *model, const struct cJSON *dataset,
				   const char *const *keep, size_t nkeep)
{
	struct build b;
	struct mlops_baseline *res = NULL;
	cJSON *rec = NULL, *cols;
	int err = 0, need2 = 0;
	struct mon_acc *pacc = NULL;
	struct colfin *pfin = &b.pred_fin;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	b.model = model;
	b.pass = 1;
	if ((err = mlops_csv_open(&b.csv, csv_path, NULL)) < 0)
		goto done;
	b.all = b.names = mlops_csv_names(b.csv, &b.nfields);
	b.ncols = b.nfields;
	if (b.nfields == 0) {
		err = mlops_error_set(MLOPS_EINVALID, "'%s' has no columns", csv_path);
		goto done;
	}
	size_t first, dup;
	if ((err = mon_names_unique(&first, &dup, b.all, b.nfields)) == 0) {
		err = mlops_error_set(MLOPS_EINVALID, "'%s': column '%s' appears twice (columns %zu "
				      "and %zu)", csv_path, b.all[dup], first + 1, dup + 1);
		goto done;
	}
	if (err < 0)
		goto done;
	err = 0;
	if (keep) {
		/* the columns named, in the table's order */
		b.col = calloc(b.nfields, sizeof(*b.col));
		b.sel = calloc(b.nfields, sizeof(*b.sel));
		if (!b.col || !b.sel) {
			err = oom();
			goto done;
		}
		b.ncols = 0;
		for (size_t j = 0; j < b.nfields; j++)
			for (size_t k = 0; k < nkeep; k++)
				if (keep[k] && !strcmp(keep[k], b.all[j])) {
					b.col[b.ncols] = j;
					b.sel[b.ncols++] = b.all[j];
					break;
				}
		b.names = b.sel;
		if (b.ncols == 0) {
			err = mlops_error_set(MLOPS_EINVALID, "'%s' has none of the columns to profile",
					      csv_path);
			goto done;
		}
	}
	b.acc = calloc(b.ncols, sizeof(*b.acc));
	b.fin = calloc(b.ncols, sizeof(*b.fin));
	if (!b.acc || !b.fin) {
		err = oom();
		goto done;
	}
	for (size_t j = 0; j < b.ncols; j++)
		if ((err = init_feature_acc(&b.acc[j], SEED + j)) < 0)
			goto done;
	if (model) {
		size_t ni = model->design.ninputs ? model->design.ninputs : 1;
		b.pos = calloc(ni, sizeof(size_t));
		b.cells = calloc(ni, sizeof(*b.cells));
		if (!b.pos || !b.cells) {
			err = oom();
			goto done;
		}
		if ((err = mlops_design_bind(b.pos, &model->design, b.all, b.nfields)) < 0) {
			err = mlops_error_wrap(err, "'%s'", csv_path);
			goto done;
		}
		if ((err = init_pred_acc(&b.pred_all, model, SEED - 1)) < 0 ||
		    (err = init_pred_acc(&b.pred_valid, model, SEED - 2)) < 0)
			goto done;
		if (model->nvalid > 0 && model->nvalid < model->nrows) {
			size_t *perm = malloc(model->nrows * sizeof(size_t));
			b.valid = calloc(model->nrows, 1);
			if (!perm || !b.valid) {
				free(perm);
				err = oom();
				goto done;
			}
			mlops_split_permute(perm, model->nrows, model->seed);
			for (size_t i = 0; i < model->nvalid; i++)
				b.valid[perm[i]] = 1;
			free(perm);
		}
	}
	if ((err = feed(&b, csv_path)) < 0)
		goto done;
	if (b.rows == 0) {
		err = mlops_error_set(MLOPS_EINVALID, "'%s' has no rows", csv_path);
		goto done;
	}
	for (size_t j = 0; j < b.ncols; j++) {
		if ((err = finish_pass1(&b.fin[j], &b.acc[j], 0)) < 0)
			goto done;
		need2 |= b.fin[j].pass2;
	}
	if (model) {
		b.have_pred_valid = b.valid && b.rows == model->nrows;
		pacc = b.have_pred_valid ? &b.pred_valid : &b.pred_all;
		if ((err = finish_pass1(pfin, pacc, model->nclasses > 0)) < 0)
			goto done;
		need2 |= pfin->pass2;
	}
	if (need2) {
		for (size_t j = 0; j < b.ncols; j++)
			if (!b.fin[j].pass2) {
				b.acc[j].binonly = 1;
				b.acc[j].parse = 0;
			}
		b.pass = 2;
		if ((err = reopen(&b, csv_path)) < 0 || (err = feed(&b, csv_path)) < 0)
			goto done;
	}

	if (!(rec = cJSON_CreateObject()))
		goto oom;
	cJSON_AddStringToObject(rec, "type", "baseline");
	cJSON_AddNumberToObject(rec, "format", BASELINE_FORMAT);
	cJSON_AddNumberToObject(rec, "rows", (double)b.rows);
	cJSON_AddNumberToObject(rec, "bins", MLOPS_MONITOR_BINS);
	cJSON_AddNumberToObject(rec, "sample_capacity", MLOPS_MONITOR_SAMPLE);
	if (model && model->target)
		cJSON_AddStringToObject(rec, "target", model->target);
	else
		cJSON_AddNullToObject(rec, "target");
	cJSON_AddItemToObject(rec, "dataset", dataset ? cJSON_Duplicate(dataset, 1) : cJSON_CreateNull());
	cols = cJSON_AddArrayToObject(rec, "columns");
	for (size_t j = 0; j < b.ncols; j++) {
		cJSON *o = column_json(b.names[j], &b.acc[j], &b.fin[j]);
		if (!o)
			goto oom;
		cJSON_AddItemToArray(cols, o);
	}
	if (model) {
		cJSON *o = column_json("prediction", pacc, pfin);
		if (!o)
			goto oom;
		cJSON_AddItemToObject(rec, "predictions", o);
		cJSON_AddStringToObject(rec, "predictions_from",
					b.have_pred_valid ? "validation" : "all");
	} else {
		cJSON_AddNullToObject(rec, "predictions");
		cJSON_AddNullToObject(rec, "predictions_from");
	}
	if (!(res = calloc(1, sizeof(*res))))
		goto oom;
	/* read back from its text, so that it is exactly what a load gives
	   (cJSON prints some numbers within an ulp, not bit for bit) */
	char *text = mlops_json_print_exact(rec, 0);
	res->json = text ? cJSON_Parse(text) : NULL;
	free(text);
	if (!res->json)
		goto oom;
	if ((err = baseline_from_json(res)) < 0)
		goto done;
	for (size_t j = 0; j < b.ncols; j++)
		attach_sample(&res->cols[j], &b.fin[j]);
	if (res->pred)
		attach_sample(res->pred, pfin);
	*out = res;
	res = NULL;
	goto done;
oom:
	err = oom();
done:
	mlops_baseline_free(res);
	cJSON_Delete(rec);
	for (size_t j = 0; b.acc && j < b.ncols; j++) {
		mon_acc_free(&b.acc[j]);
		free(b.fin[j].sample);
		free(b.fin[j].edges);
	}
	free(b.acc);
	free(b.fin);
	mon_acc_free(&b.pred_all);
	mon_acc_free(&b.pred_valid);
	free(pfin->sample);
	free(pfin->edges);
	free(b.pos);
	free(b.cells);
	free(b.valid);
	free(b.col);
	free(b.sel);
	mlops_csv_free(b.csv);
	return err;
}

/* ---- storing and loading ----------------------------------------------- */

static int store_sample(struct mlops_odb *odb, struct mon_column *c)
{
	unsigned char *buf;
	mlops_oid id;
	int err;
	if (c->kind != MON_NUMERIC || !c->nsample)
		return 0;
	if (!(buf = malloc(c->nsample * 8)))
		return oom();
	for (size_t i = 0; i < c->nsample; i++) {
		uint64_t u;
		memcpy(&u, &c->sample[i], 8);
		for (int k = 0; k < 8; k++)
			buf[i * 8 + k] = (unsigned char)(u >> (8 * k));
	}
	err = mlops_odb_write(&id, odb, buf, c->nsample * 8, NULL);
	free(buf);
	if (err < 0)
		return err;
	cJSON_DeleteItemFromObjectCaseSensitive(c->obj, "sample");
	mlops_json_add_oid(c->obj, "sample", &id);
	return 0;
}

int mlops_baseline_store(mlops_oid *out, struct mlops_repo *repo, struct mlops_baseline *b)
{
	int err;
	for (size_t i = 0; i < b->ncols; i++)
		if ((err = store_sample(repo->odb, &b->cols[i])) < 0)
			return err;
	if (b->pred && (err = store_sample(repo->odb, b->pred)) < 0)
		return err;
	if ((err = mlops_json_store(out, repo->odb, b->json, NULL)) < 0)
		return err;
	b->id = *out;
	b->has_id = 1;
	return 0;
}

int mlops_baseline_build(mlops_oid *out, struct mlops_repo *repo, const char *csv_path,
			 const struct mlops_model *model, const struct cJSON *dataset)
{
	struct mlops_baseline *b;
	int err = mlops_baseline_compute(&b, csv_path, model, dataset);
	if (err < 0)
		return err;
	err = mlops_baseline_store(out, repo, b);
	mlops_baseline_free(b);
	return err;
}

/* ---- a model trained on a feature set ------------------------------------ */

int mlops_baseline_feature_set(struct mlops_baseline **out, struct mlops_repo *repo,
			       const struct cJSON *input, const struct mlops_model *model)
{
	cJSON *rec = NULL, *ds = NULL;
	char *tmp = NULL, *table = NULL;
	const char **keep = NULL;
	size_t nkeep = 0;
	const char *name = mlops_json_str(input, "name");
	mlops_oid fid;
	int err;

	*out = NULL;
	if ((err = mlops_json_get_oid(&fid, input, "record")) < 0 ||
	    (err = mlops_json_load(&rec, repo->odb, &fid)) < 0) {
		err = mlops_error_wrap(err, "the feature set '%s' the model was trained on",
				       name ? name : "?");
		goto done;
	}
	const char *type = mlops_json_str(rec, "type"), *fname = mlops_json_str(rec, "name");
	if (!type || strcmp(type, "feature-set") || !fname) {
		err = mlops_error_set(MLOPS_ECORRUPT, "the feature set '%s' the model was trained on: "
				      "not a feature set record", name ? name : "?");
		goto done;
	}
	/* the table as the trainer read it: <name>.csv */
	if ((err = mlops_workdir_make(&tmp, repo->tmpdir, "baseline")) < 0)
		goto done;
	if (!(table = mlops_strdupf("%s/%s.csv", tmp, fname)))
		goto oom;
	if ((err = mlops_feature_table_checkout(repo, rec, table)) < 0)
		goto done;
	if (model) {
		/* the feature columns the model read, and its target */
		if (!(keep = calloc(model->design.ninputs + 1, sizeof(*keep))))
			goto oom;
		for (size_t i = 0; i < model->design.ninputs; i++)
			keep[nkeep++] = model->design.inputs[i].name;
		keep[nkeep++] = model->target;
	}
	if (!(ds = cJSON_CreateObject()))
		goto oom;
	cJSON_AddStringToObject(ds, "type", "feature-set");
	cJSON_AddStringToObject(ds, "name", fname);
	cJSON_AddNumberToObject(ds, "version", mlops_json_num(rec, "version", 0));
	mlops_json_add_oid(ds, "record", &fid);
	cJSON_AddItemToObject(ds, "path", cJSON_CreateString(table + strlen(tmp) + 1));
	err = mlops_baseline_compute_columns(out, table, model, ds, keep, nkeep);
	goto done;
oom:
	err = oom();
done:
	if (tmp)
		mlops_remove_tree(tmp);
	cJSON_Delete(rec);
	cJSON_Delete(ds);
	free(keep);
	free(table);
	free(tmp);
	return err;
}

int mlops_monitor_feature_data(char **out_path, struct mlops_repo *repo, const struct cJSON *record,
			       const struct mlops_model *model, const char *path, int log)
{
	const cJSON *in, *fin = NULL;
	struct mlops_feature_transform *t = NULL;
	const char **want = NULL;
	cJSON *rec = NULL;
	size_t nfs = 0;
	mlops_oid fid;
	int err;

	*out_path = NULL;
	cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(record, "inputs")) {
		const char *type = mlops_json_str(in, "type");
		if (type && !strcmp(type, "feature-set")) {
			fin = in;
			nfs++;
		}
	}
	/* as deploy: the transforms of the one feature set the model was trained on */
	if (nfs != 1 || !model)
		return 0;
	const char *name = mlops_json_str(fin, "name");
	if ((err = mlops_json_get_oid(&fid, fin, "record")) < 0 ||
	    (err = mlops_json_load(&rec, repo->odb, &fid)) < 0 ||
	    (err = mlops_feature_transform_load(&t, rec)) < 0) {
		err = mlops_error_wrap(err, "the feature set '%s' the model was trained on",
				       name ? name : "?");
		goto done;
	}
	if (!(want = calloc(model->design.ninputs + 1, sizeof(*want)))) {
		err = oom();
		goto done;
	}
	for (size_t i = 0; i < model->design.ninputs; i++)
		want[i] = model->design.inputs[i].name;
	err = mlops_feature_transform_file(out_path, t, want, model->design.ninputs, path, log,
					   repo->tmpdir);
done:
	mlops_feature_transform_free(t);
	cJSON_Delete(rec);
	free(want);
	return err;
}

static int load_sample(struct mlops_odb *odb, struct mon_column *c)
{
	mlops_oid id;
	void *data = NULL;
	size_t len;
	int err;
	if (c->kind != MON_NUMERIC)
		return 0;
	if (mlops_json_get_oid(&id, c->obj, "sample") < 0)
		return invalid(c->name, "no sample");
	if ((err = mlops_odb_read(&data, &len, odb, &id)) < 0)
		return err;
	if (len % 8 || len == 0) {
		free(data);
		return invalid(c->name, "the sample is not a list of doubles");
	}
	c->nsample = len / 8;
	if (!(c->sample = malloc(len))) {
		free(data);
		return oom();
	}
	const unsigned char *p = data;
	for (size_t i = 0; i < c->nsample; i++) {
		uint64_t u = 0;
		for (int k = 0; k < 8; k++)
			u |= (uint64_t)p[i * 8 + k] << (8 * k);
		memcpy(&c->sample[i], &u, 8);
		if (!isfinite(c->sample[i]) || (i && c->sample[i] < c->sample[i - 1])) {
			free(data);
			return invalid(c->name, "the sample is not sorted finite numbers");
		}
	}
	free(data);
	return 0;
}

int mlops_baseline_load(struct mlops_baseline **out, struct mlops_repo *repo, const mlops_oid *id)
{
	struct mlops_baseline *b = calloc(1, sizeof(*b));
	int err;
	*out = NULL;
	if (!b)
		return oom();
	if ((err = mlops_json_load(&b->json, repo->odb, id)) < 0 ||
	    (err = baseline_from_json(b)) < 0)
		goto fail;
	for (size_t i = 0; i < b->ncols; i++)
		if ((err = load_sample(repo->odb, &b->cols[i])) < 0)
			goto fail;
	if (b->pred && (err = load_sample(repo->odb, b->pred)) < 0)
		goto fail;
	b->id = *id;
	b->has_id = 1;
	*out = b;
	return 0;
fail:
	mlops_baseline_free(b);
	return err;
}
