/*
 * train_builtin.c - the built-in trainers of `mlops train --builtin`: read
 * a materialised dataset with the CSV reader (core/csv.h), hand its rows
 * to the learners (core/learn.h) through a row source, and write the model
 * document and its metrics.  Also decides the task for `--builtin auto`.
 *
 * The row source copies each record's fields (pointer and length, no
 * bytes) into one array reused for every row; a rewind reopens the file.
 */
#include "store/json.h"
#include "run.h"
#include "csv.h"
#include "learn.h"
#include "train_internal.h"
#include "dataset.h"
#include "store/repo.h"
#include "store/error.h"
#include "store/fsutil.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the data file ---------------------------------------------------- */

static int is_table_name(const char *path)
{
	static const char *const exts[] = { ".csv", ".tsv", ".jsonl", ".ndjson", NULL };
	size_t l = strlen(path);
	for (size_t i = 0; exts[i]; i++) {
		size_t e = strlen(exts[i]);
		if (l > e && !strcasecmp(path + l - e, exts[i]))
			return 1;
	}
	return 0;
}

/* nftw takes no payload: the walk's state is per thread. */
static __thread char *found_path;
static __thread size_t found_count;

static int find_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode) && is_table_name(path)) {
		if (found_count++ == 0)
			found_path = strdup(path);
	}
	return 0;
}

int mlops_builtin_find_table(char **out, const char *data_path)
{
	struct stat st;
	*out = NULL;
	if (stat(data_path, &st) < 0)
		return mlops_error_sys(errno, "unable to read '%s'", data_path);
	if (!S_ISDIR(st.st_mode)) {
		*out = strdup(data_path);
		return *out ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	found_path = NULL;
	found_count = 0;
	nftw(data_path, find_cb, 16, FTW_PHYS);
	if (found_count != 1) {
		free(found_path);
		found_path = NULL;
		return mlops_error_set(MLOPS_EINVALID,
				       "the dataset holds %zu tables (.csv, .tsv, .jsonl); "
				       "a built-in trainer needs exactly one", found_count);
	}
	*out = found_path;
	found_path = NULL;
	return 0;
}

int mlops_dataset_table_checkout(char **workdir, char **table, const char **rel,
				 struct mlops_repo *repo, const struct mlops_dataset_version *v,
				 const char *prefix)
{
	char *dir = NULL, *data = NULL;
	int err;
	*workdir = *table = NULL;
	*rel = NULL;
	if ((err = mlops_workdir_make(workdir, repo->tmpdir, prefix)) < 0)
		return err;
	if (!(dir = mlops_path_join(*workdir, v->name)))
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	else if ((err = mlops_dataset_checkout(repo, v, dir, 1, NULL)) < 0)
		;
	else if (!(data = v->nentries == 1 ? mlops_path_join(dir, v->entries[0].path) : strdup(dir)))
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	else if ((err = mlops_builtin_find_table(table, data)) == 0)
		*rel = *table + strlen(dir) + ((*table)[strlen(dir)] == '/');
	free(dir);
	free(data);
	return err;
}

/* ---- the row source over the CSV reader ------------------------------- */

struct csv_source {
	char *path;
	struct mlops_csv *csv;
	struct mlops_csv_options opts;
	char **names;
	size_t ncols;
	struct mlops_cellref *cells;
};

static int src_next(void *ctx, const struct mlops_cellref **out_fields, size_t *out_line)
{
	struct csv_source *s = ctx;
	const struct mlops_csv_field *f;
	size_t n;
	int rc = mlops_csv_next(s->csv, &f, &n);
	if (rc <= 0)
		return rc;
	for (size_t i = 0; i < s->ncols; i++) {
		s->cells[i].ptr = f[i].ptr;
		s->cells[i].len = f[i].len;
	}
	*out_fields = s->cells;
	*out_line = mlops_csv_line(s->csv);
	return 1;
}

static int src_rewind(void *ctx)
{
	struct csv_source *s = ctx;
	mlops_csv_free(s->csv);
	s->csv = NULL;
	return mlops_csv_open(&s->csv, s->path, &s->opts);
}

static void src_close(struct csv_source *s)
{
	mlops_csv_free(s->csv);
	for (size_t i = 0; s->names && i < s->ncols; i++)
		free(s->names[i]);
	free(s->names);
	free(s->cells);
	free(s->path);
	memset(s, 0, sizeof(*s));
}

/* Open the table of a materialised input as a row source. */
static int src_open(struct csv_source *s, struct mlops_row_source *src, const char *data_path)
{
	int err;
	memset(s, 0, sizeof(*s));
	if ((err = mlops_builtin_find_table(&s->path, data_path)) < 0)
		return err;
	/* Messages name the file as the dataset has it, not the scratch path. */
	const char *base = strrchr(s->path, '/');
	s->opts.name = base ? base + 1 : s->path;
	if ((err = mlops_csv_open(&s->csv, s->path, &s->opts)) < 0)
		goto fail;
	const char *const *names = mlops_csv_names(s->csv, &s->ncols);
	if (s->ncols == 0) {
		err = mlops_error_set(MLOPS_EINVALID, "'%s' has no columns", s->opts.name);
		goto fail;
	}
	s->names = calloc(s->ncols, sizeof(*s->names));
	s->cells = calloc(s->ncols, sizeof(*s->cells));
	if (!s->names || !s->cells) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < s->ncols; i++)
		if (!(s->names[i] = strdup(names[i]))) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto fail;
		}
	memset(src, 0, sizeof(*src));
	src->ncols = s->ncols;
	src->names = (const char *const *)s->names;
	src->next = src_next;
	src->rewind = src_rewind;
	src->ctx = s;
	return 0;
fail:
	src_close(s);
	return err;
}

/* ---- training --------------------------------------------------------- */

static int param_number(double *out, const cJSON *p, const char *key)
{
	if (!cJSON_IsNumber(p))
		return mlops_error_set(MLOPS_EUSAGE, "parameter '%s' must be a number", key);
	*out = p->valuedouble;
	return 0;
}

static int apply_params(struct mlops_train_opts *o, const char **exclude, const cJSON *params)
{
	const cJSON *p;
	cJSON_ArrayForEach(p, params) {
		const char *k = p->string;
		double v = 0;
		int err;
		if (!strcmp(k, "exclude")) {
			if (!cJSON_IsString(p))
				return mlops_error_set(MLOPS_EUSAGE, "parameter 'exclude' is a comma-separated "
						       "list of columns");
			*exclude = p->valuestring;
		} else if (o->kind == MLOPS_MODEL_LINEAR && !strcmp(k, "alpha")) {
			if ((err = param_number(&o->alpha, p, k)) < 0)
				return err;
		} else if (o->kind == MLOPS_MODEL_LOGISTIC && !strcmp(k, "C")) {
			if ((err = param_number(&o->C, p, k)) < 0)
				return err;
		} else if (o->kind == MLOPS_MODEL_LOGISTIC && !strcmp(k, "max_iter")) {
			if ((err = param_number(&v, p, k)) < 0)
				return err;
			if (!(v >= 1 && v <= 1e9) || v != floor(v))
				return mlops_error_set(MLOPS_EUSAGE, "parameter 'max_iter' must be a "
						       "positive integer");
			o->max_iter = (size_t)v;
		} else if (o->kind == MLOPS_MODEL_LOGISTIC && !strcmp(k, "tol")) {
			if ((err = param_number(&o->tol, p, k)) < 0)
				return err;
			if (!(o->tol > 0))
				return mlops_error_set(MLOPS_EUSAGE, "parameter 'tol' must be positive");
		} else {
			return mlops_error_set(MLOPS_EUSAGE,
					       "unknown parameter '%s' of the %s trainer (it takes %s)", k,
					       o->kind == MLOPS_MODEL_LINEAR ? "linear" : "logistic",
					       o->kind == MLOPS_MODEL_LINEAR ? "alpha and exclude" :
					       "C, max_iter, tol and exclude");
		}
	}
	return 0;
}

static int write_model(const struct mlops_model *model, const char *out_dir)
{
	cJSON *doc = NULL;
	char *text = NULL, *path = NULL;
	int err;
	if ((err = mlops_model_to_json(&doc, model)) < 0)
		return err;
	text = mlops_json_print(doc, 1);
	path = mlops_path_join(out_dir, "model.json");
	if (!text || !path) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	} else {
		size_t l = strlen(text);
		text[l] = '\n';
		err = mlops_write_file_atomic(path, text, l + 1, out_dir, 0);
	}
	free(path);
	free(text);
	cJSON_Delete(doc);
	return err;
}

static char *describe(const struct mlops_model *m, const char *table)
{
	size_t cap = 4096, len = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	len += (size_t)snprintf(s + len, cap - len,
		"%s of '%s' on %s: %zu input%s, %zu feature%s\n"
		"rows: %zu (%zu training, %zu validation)\n",
		m->kind == MLOPS_MODEL_LINEAR ? "ridge regression" : "logistic regression",
		m->target, table, m->design.ninputs, m->design.ninputs == 1 ? "" : "s",
		m->design.nfeatures, m->design.nfeatures == 1 ? "" : "s",
		m->nrows, m->ntrain, m->nvalid);
	if (m->kind == MLOPS_MODEL_LINEAR)
		len += (size_t)snprintf(s + len, cap - len, "alpha: %g\n", m->alpha);
	else
		len += (size_t)snprintf(s + len, cap - len,
					"C: %g, classes: %zu, iterations: %zu%s\n", m->C,
					m->nclasses, m->iterations,
					m->converged ? "" : " (did not converge)");
	for (size_t i = 0; i < m->nmetrics && len < cap - 64; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s: %.6g\n", m->metrics[i].name,
					m->metrics[i].value);
	return s;
}

int mlops_builtin_train(cJSON **metrics, char **summary, int *converged,
			const struct mlops_builtin_spec *spec, const cJSON *params,
			const char *data_path, const char *data_name, const char *out_dir,
			size_t threads)
{
	struct csv_source s;
	struct mlops_row_source src;
	struct mlops_train_opts opts;
	struct mlops_model *model = NULL;
	const char *exclude = NULL;
	const char **inputs = NULL;
	int err;

	*metrics = NULL;
	*summary = NULL;
	*converged = 0;
	mlops_train_opts_init(&opts);
	opts.kind = !strcmp(spec->kind, "logistic") ? MLOPS_MODEL_LOGISTIC : MLOPS_MODEL_LINEAR;
	opts.target = spec->target;
	opts.valid_frac = spec->valid_frac;
	opts.seed = spec->seed;
	opts.threads = threads;
	if (params && (err = apply_params(&opts, &exclude, params)) < 0)
		return err;
	if ((err = src_open(&s, &src, data_path)) < 0)
		return err;
	if (exclude) {
		/* Every column but the target and the excluded ones. */
		inputs = calloc(s.ncols + 1, sizeof(*inputs));
		if (!inputs) {
			src_close(&s);
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		}
		size_t elen = strlen(exclude);
		for (const char *p = exclude; p < exclude + elen;) {
			const char *comma = strchr(p, ',');
			size_t l = comma ? (size_t)(comma - p) : strlen(p);
			int found = 0;
			for (size_t i = 0; i < s.ncols; i++)
				if (strlen(s.names[i]) == l && !strncmp(s.names[i], p, l))
					found = 1;
			if (!found) {
				free(inputs);
				src_close(&s);
				return mlops_error_set(MLOPS_EUSAGE, "parameter 'exclude': no column '%.*s' in '%s'",
						       (int)l, p, data_name);
			}
			p += l + (comma ? 1 : 0);
		}
		for (size_t i = 0; i < s.ncols; i++) {
			const char *n = s.names[i];
			size_t l = strlen(n);
			int skip = !strcmp(n, spec->target);
			for (const char *p = exclude; !skip && (p = strstr(p, n)); p += l)
				if ((p == exclude || p[-1] == ',') && (p[l] == ',' || p[l] == '\0'))
					skip = 1;
			if (!skip)
				inputs[opts.nfeatures++] = n;
		}
		opts.features = inputs;
	}
	err = mlops_model_train(&model, &src, &opts);
	if (err == 0)
		err = write_model(model, out_dir);
	if (err == 0) {
		cJSON *m = cJSON_CreateObject();
		for (size_t i = 0; m && i < model->nmetrics; i++)
			if (isfinite(model->metrics[i].value))
				cJSON_AddNumberToObject(m, model->metrics[i].name, model->metrics[i].value);
		*summary = describe(model, s.opts.name);
		if (!m || !*summary) {
			cJSON_Delete(m);
			free(*summary);
			*summary = NULL;
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		} else {
			*metrics = m;
			*converged = model->kind == MLOPS_MODEL_LINEAR || model->converged;
		}
	}
	mlops_model_free(model);
	free(inputs);
	src_close(&s);
	return err;
}

/* ---- the task of `--builtin auto` ------------------------------------- */

static int is_missing(const char *p, size_t n)
{
	static const char *const na[] = { "na", "n/a", "nan", "null", "none", NULL };
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0)
		return 1;
	for (size_t i = 0; na[i]; i++)
		if (strlen(na[i]) == n && !strncasecmp(p, na[i], n))
			return 1;
	return 0;
}

/* A decimal number as learn.h defines it; *v gets its value. */
static int parse_number(double *v, const char *p, size_t n)
{
	char buf[64];
	while (n && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof(buf))
		return 0;
	size_t i = 0, digits = 0;
	if (p[i] == '+' || p[i] == '-')
		i++;
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++, digits++;
	if (i < n && p[i] == '.') {
		i++;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++, digits++;
	}
	if (!digits)
		return 0;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		size_t e = ++i;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++, e++;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == e)
			return 0;
	}
	if (i != n)
		return 0;
	memcpy(buf, p, n);
	buf[n] = '\0';
	*v = strtod(buf, NULL);
	return 1;
}

/* Decide the task from the target column of a materialised input. */
int mlops_builtin_detect_path(const char **kind, const char *data_path, const char *target)
{
	struct csv_source s;
	struct mlops_row_source src;
	int err, numeric = 1, integral = 1, rc = 0;
	double distinct[11];
	size_t ndistinct = 0, col = (size_t)-1;
	*kind = NULL;
	if ((err = src_open(&s, &src, data_path)) < 0)
		return err;
	for (size_t i = 0; i < s.ncols; i++)
		if (!strcmp(s.names[i], target))
			col = i;
	if (col == (size_t)-1) {
		err = mlops_error_set(MLOPS_ENOTFOUND, "'%s' has no column '%s'", s.opts.name, target);
		goto done;
	}
	const struct mlops_cellref *f;
	size_t line;
	while (numeric && (rc = src_next(&s, &f, &line)) == 1) {
		double v;
		if (is_missing(f[col].ptr, f[col].len))
			continue;
		if (!parse_number(&v, f[col].ptr, f[col].len)) {
			numeric = 0;
			break;
		}
		if (v != floor(v))
			integral = 0;
		size_t k = 0;
		while (k < ndistinct && distinct[k] != v)
			k++;
		if (k == ndistinct && ndistinct < 11)
			distinct[ndistinct++] = v;
	}
	if (numeric && rc < 0) {
		err = rc;
		goto done;
	}
	*kind = numeric && (!integral || ndistinct > 10) ? "linear" : "logistic";
done:
	src_close(&s);
	return err;
}
