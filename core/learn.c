/*
 * learn.c - the built-in trainers behind `mlops train --builtin`.
 *
 * Design notes.
 *   Parsing.  One pair of functions decides what a raw field is, for
 *   training and for serving alike: cell_missing() (blank or an NA token)
 *   and cell_number() (a finite decimal number; a fast exact path for up
 *   to 19 significant digits and powers of ten up to 1e22, strtod()
 *   otherwise).  The numeric transform is standardise(), the categorical
 *   one a position in the sorted vocabulary; mlops_design_encode_row()
 *   and the training encoder both go through them.
 *   Training reads the source once into a raw n x m matrix of doubles
 *   (m inputs): numbers where a column is numeric, NaN for missing values.
 *   Only when some column turned out categorical is the source read again,
 *   interning that column's strings into per-column tables and storing the
 *   string id in the raw matrix instead.  With only numeric inputs the raw
 *   matrix becomes the training matrix in place (rows standardised and
 *   compacted), so the peak memory is about one copy of the data.
 *   Objective.  Logistic regression minimises the mean log loss plus
 *   ||W||^2 / (2 C n), which has the same minimiser as scikit-learn's
 *   C * sum + ||W||^2 / 2 and a scale independent of n.  Rows are cut in
 *   blocks of LOGIT_BLOCK; each block's gradient is summed on its own and
 *   the blocks are added in order, so the result is the same whatever the
 *   number of worker threads.
 */
#include "core/learn.h"
#include "core/metrics.h"
#include "store/error.h"

#include <cjson/cJSON.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CATEGORIES 1000  /* per categorical column */
#define LOGIT_BLOCK 8192     /* rows per gradient block */
#define MAX_THREADS 8
#define STACK_FEATURES 256   /* predict_row works on the stack up to this */

/* ---- raw fields ---- */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **p, size_t *len)
{
	while (*len && is_blank(**p))
		(*p)++, (*len)--;
	while (*len && is_blank((*p)[*len - 1]))
		(*len)--;
}

/* 1 when the trimmed field is empty or NA, N/A, NaN, null, None (any case). */
static int token_missing(const char *p, size_t len)
{
	static const char *const tokens[] = { "na", "n/a", "nan", "null", "none" };
	char low[5];

	if (!len)
		return 1;
	if (len > 4)
		return 0;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
	for (size_t t = 0; t < sizeof(tokens) / sizeof(*tokens); t++)
		if (strlen(tokens[t]) == len && !memcmp(tokens[t], low, len))
			return 1;
	return 0;
}

static int cell_missing(const struct mlops_cellref *c)
{
	const char *p = c->ptr;
	size_t len = c->len;

	trim(&p, &len);
	return token_missing(p, len);
}

static const double pow10_exact[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Parse a trimmed decimal number; 1 and *out on success, 0 otherwise. */
static int parse_decimal(const char *p, size_t len, double *out)
{
	uint64_t m = 0;
	long exp10 = 0;
	size_t i = 0, digits = 0;
	int neg = 0, sig = 0, inexact = 0;
	char stack[128], *buf, *end;
	double v;

	if (i < len && (p[i] == '+' || p[i] == '-'))
		neg = p[i++] == '-';
	for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
		if (!m && p[i] == '0')
			continue;
		if (sig < 19)
			m = m * 10 + (uint64_t)(p[i] - '0'), sig++;
		else
			exp10++, inexact = 1;
	}
	if (i < len && p[i] == '.') {
		for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
			if (!m && p[i] == '0') {
				exp10--;
				continue;
			}
			if (sig < 19)
				m = m * 10 + (uint64_t)(p[i] - '0'), sig++, exp10--;
			else
				inexact = 1;
		}
	}
	if (!digits)
		return 0;
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		long e = 0;
		size_t ed = 0;
		int eneg = 0;
		i++;
		if (i < len && (p[i] == '+' || p[i] == '-'))
			eneg = p[i++] == '-';
		for (; i < len && p[i] >= '0' && p[i] <= '9'; i++, ed++)
			if (e < 100000)
				e = e * 10 + (p[i] - '0');
		if (!ed)
			return 0;
		exp10 += eneg ? -e : e;
	}
	if (i != len)
		return 0;
	if (!m) {
		*out = neg ? -0.0 : 0.0;
		return 1;
	}
	if (!inexact && m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
		v = (double)m;
		v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
		*out = neg ? -v : v;
		return 1;
	}
	/* Slow path: let strtod round the full digit string. */
	buf = len < sizeof(stack) ? stack : malloc(len + 1);
	if (!buf)
		return 0;
	memcpy(buf, p, len);
	buf[len] = '\0';
	v = strtod(buf, &end);
	if (buf != stack)
		free(buf);
	if (!isfinite(v))
		return 0;
	*out = v;
	return 1;
}

/*
 * What a field holds: 0 missing (*out = NaN), 1 a finite number (*out),
 * -1 something else.
 */
static int cell_number(const struct mlops_cellref *c, double *out)
{
	const char *p = c->ptr;
	size_t len = c->len;

	trim(&p, &len);
	if (token_missing(p, len)) {
		*out = NAN;
		return 0;
	}
	return parse_decimal(p, len, out) ? 1 : -1;
}

/* The numeric transform: missing (NaN) becomes the mean, i.e. 0. */
static inline double standardise(double v, const struct mlops_input *in)
{
	return isnan(v) ? 0.0 : (v - in->mean) / in->std;
}

/* Bytewise order of (p, n) against the NUL-terminated s. */
static int cmp_bytes(const char *p, size_t n, const char *s, size_t slen)
{
	int c = memcmp(p, s, n < slen ? n : slen);
	if (c)
		return c;
	return (n > slen) - (n < slen);
}

/* Position of the value in the sorted vocabulary, or -1. */
static long category_index(const struct mlops_input *in, const char *p, size_t len)
{
	size_t lo = 0, hi = in->ncategories;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *s = in->categories[mid];
		int c = cmp_bytes(p, len, s, strlen(s));
		if (!c)
			return (long)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Quote a field for a message, shortened. */
static const char *quote_field(char buf[48], const struct mlops_cellref *c)
{
	size_t n = c->len < 40 ? c->len : 40;
	size_t j = 0;

	for (size_t i = 0; i < n; i++)
		buf[j++] = (c->ptr[i] >= 32 && c->ptr[i] < 127) ? c->ptr[i] : '?';
	if (c->len > n) {
		memcpy(buf + j, "...", 3);
		j += 3;
	}
	buf[j] = '\0';
	return buf;
}

int mlops_design_encode_row(double *x, const struct mlops_design *design,
			    const struct mlops_cellref *fields)
{
	for (size_t i = 0; i < design->ninputs; i++) {
		const struct mlops_input *in = &design->inputs[i];
		const struct mlops_cellref *c = &fields[i];

		if (in->type == MLOPS_INPUT_NUMERIC) {
			double v;
			if (cell_number(c, &v) < 0) {
				char q[48];
				return mlops_error_set(MLOPS_EINVALID,
						       "value '%s' of column '%s' is not a number",
						       quote_field(q, c), in->name);
			}
			x[in->offset] = standardise(v, in);
		} else {
			long k;
			memset(x + in->offset, 0, in->ncategories * sizeof(double));
			if (cell_missing(c))
				continue;
			k = category_index(in, c->ptr, c->len);
			if (k >= 0)
				x[in->offset + (size_t)k] = 1;
		}
	}
	return 0;
}

int mlops_design_bind(size_t *out_pos, const struct mlops_design *design,
		      const char *const *names, size_t ncols)
{
	for (size_t i = 0; i < design->ninputs; i++) {
		size_t j;
		for (j = 0; j < ncols; j++)
			if (names[j] && !strcmp(names[j], design->inputs[i].name))
				break;
		if (j == ncols)
			return mlops_error_set(MLOPS_EINVALID, "missing column '%s'",
					       design->inputs[i].name);
		out_pos[i] = j;
	}
	return 0;
}

static void design_clear(struct mlops_design *d)
{
	for (size_t i = 0; d->inputs && i < d->ninputs; i++) {
		struct mlops_input *in = &d->inputs[i];
		free(in->name);
		for (size_t k = 0; in->categories && k < in->ncategories; k++)
			free(in->categories[k]);
		free(in->categories);
	}
	free(d->inputs);
	for (size_t j = 0; d->feature_names && j < d->nfeatures; j++)
		free(d->feature_names[j]);
	free(d->feature_names);
	memset(d, 0, sizeof(*d));
}

/* Set offsets, nfeatures and feature names from the inputs. */
static int design_layout(struct mlops_design *d)
{
	size_t nf = 0, j = 0;

	for (size_t i = 0; i < d->ninputs; i++) {
		struct mlops_input *in = &d->inputs[i];
		in->offset = nf;
		nf += in->type == MLOPS_INPUT_NUMERIC ? 1 : in->ncategories;
	}
	d->feature_names = calloc(nf ? nf : 1, sizeof(char *));
	if (!d->feature_names)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	d->nfeatures = nf;
	for (size_t i = 0; i < d->ninputs; i++) {
		const struct mlops_input *in = &d->inputs[i];
		if (in->type == MLOPS_INPUT_NUMERIC) {
			d->feature_names[j] = strdup(in->name);
			if (!d->feature_names[j++])
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			continue;
		}
		for (size_t k = 0; k < in->ncategories; k++) {
			if (asprintf(&d->feature_names[j], "%s=%s", in->name,
				     in->categories[k]) < 0) {
				d->feature_names[j] = NULL;
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			}
			j++;
		}
	}
	return 0;
}

/* ---- in-memory row source ---- */

static int table_next(void *ctx, const struct mlops_cellref **out, size_t *line)
{
	struct mlops_cell_table *t = ctx;

	if (t->pos >= t->nrows)
		return 0;
	*out = t->cells + t->pos * t->ncols;
	*line = t->pos + 2; /* line 1 is the header */
	t->pos++;
	return 1;
}

static int table_rewind(void *ctx)
{
	((struct mlops_cell_table *)ctx)->pos = 0;
	return 0;
}

void mlops_row_source_from_table(struct mlops_row_source *out, struct mlops_cell_table *table)
{
	out->ncols = table->ncols;
	out->names = table->names;
	out->nrows_hint = table->nrows;
	out->next = table_next;
	out->rewind = table_rewind;
	out->ctx = table;
}

/* ---- split ---- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

void mlops_split_permute(size_t *perm, size_t n, uint64_t seed)
{
	uint64_t state = seed;

	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n; i-- > 1;) {
		size_t j = (size_t)(splitmix64(&state) % (uint64_t)(i + 1));
		size_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}

size_t mlops_split_valid_count(size_t n, double valid_frac)
{
	double v = ceil(valid_frac * (double)n);
	if (!(v > 0))
		return 0;
	return v >= (double)n ? n : (size_t)v;
}

/* ---- ridge ---- */

int mlops_ridge_fit(double *coef, double *intercept, const struct mlops_matrix *X,
		    const double *y, double alpha)
{
	size_t n = X->rows, d = X->cols;
	double *A = NULL, *mu = NULL, *xc = NULL, ymean = 0;
	int error = 0;

	if (!n)
		return mlops_error_set(MLOPS_EINVALID, "no rows to fit");
	A = calloc(d * d + 1, sizeof(double));
	mu = calloc(2 * d + 1, sizeof(double));
	if (!A || !mu) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	xc = mu + d;
	for (size_t i = 0; i < n; i++) {
		mlops_vec_axpy(mu, 1, mlops_matrix_row(X, i), d);
		ymean += y[i];
	}
	mlops_vec_scale(mu, 1 / (double)n, d);
	ymean /= (double)n;
	memset(coef, 0, d * sizeof(double));
	/* Lower triangle of Xc^T Xc and Xc^T yc, one centred row at a time. */
	for (size_t i = 0; i < n; i++) {
		const double *x = mlops_matrix_row(X, i);
		double yc = y[i] - ymean;
		for (size_t j = 0; j < d; j++)
			xc[j] = x[j] - mu[j];
		for (size_t a = 0; a < d; a++) {
			if (xc[a] == 0)
				continue;
			mlops_vec_axpy(A + a * d, xc[a], xc, a + 1);
			coef[a] += xc[a] * yc;
		}
	}
	for (size_t a = 0; a < d; a++)
		A[a * d + a] += alpha;
	if (mlops_cholesky_factor(A, d) < 0) {
		error = mlops_error_set(MLOPS_EINVALID,
					"the features are collinear: use alpha > 0");
		goto cleanup;
	}
	mlops_cholesky_solve(A, d, coef);
	*intercept = ymean - mlops_vec_dot(mu, coef, d);
cleanup:
	free(A);
	free(mu);
	return error;
}

/* ---- logistic ---- */

struct logit {
	const double *X;
	size_t n, d;
	const size_t *y;
	size_t nout, nparams;  /* nout * (d + 1): W row-major, then b */
	double lambda;         /* 1 / (C n) */
	size_t nblocks, threads;
	double *partial;       /* nblocks x (nparams + 1): gradient, then loss */
	double *scratch;       /* threads x nout */
	const double *w;       /* the point being evaluated */
};

static inline double log1pexp(double z)
{
	return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

static inline double sigmoid(double z)
{
	if (z >= 0)
		return 1 / (1 + exp(-z));
	double e = exp(z);
	return e / (1 + e);
}

static void logit_block(const struct logit *L, size_t b, double *z)
{
	size_t lo = b * LOGIT_BLOCK, hi = lo + LOGIT_BLOCK < L->n ? lo + LOGIT_BLOCK : L->n;
	size_t d = L->d, nout = L->nout;
	double *g = L->partial + b * (L->nparams + 1), *gb = g + nout * d;
	const double *W = L->w, *B = W + nout * d;
	double loss = 0;

	memset(g, 0, (L->nparams + 1) * sizeof(double));
	if (nout == 1) {
		for (size_t i = lo; i < hi; i++) {
			const double *x = L->X + i * d;
			double zz = mlops_vec_dot(x, W, d) + B[0];
			double yi = L->y[i] ? 1.0 : 0.0;
			double r = sigmoid(zz) - yi;
			loss += log1pexp(zz) - yi * zz;
			mlops_vec_axpy(g, r, x, d);
			gb[0] += r;
		}
	} else {
		for (size_t i = lo; i < hi; i++) {
			const double *x = L->X + i * d;
			double mx = -INFINITY, s = 0, zy;
			for (size_t c = 0; c < nout; c++) {
				z[c] = mlops_vec_dot(x, W + c * d, d) + B[c];
				if (z[c] > mx)
					mx = z[c];
			}
			zy = z[L->y[i]];
			for (size_t c = 0; c < nout; c++) {
				z[c] = exp(z[c] - mx);
				s += z[c];
			}
			loss += log(s) + mx - zy;
			for (size_t c = 0; c < nout; c++) {
				double r = z[c] / s - (c == L->y[i]);
				mlops_vec_axpy(g + c * d, r, x, d);
				gb[c] += r;
			}
		}
	}
	g[L->nparams] = loss;
}

struct logit_worker {
	const struct logit *L;
	size_t t;
	pthread_t tid;
	int started;
};

static void *logit_work(void *arg)
{
	struct logit_worker *w = arg;
	const struct logit *L = w->L;

	for (size_t b = w->t; b < L->nblocks; b += L->threads)
		logit_block(L, b, L->scratch + w->t * L->nout);
	return NULL;
}

static double logit_objective(void *ctx, const double *w, double *grad)
{
	struct logit *L = ctx;
	struct logit_worker workers[MAX_THREADS];
	size_t np = L->nparams, nw = L->nout * L->d;
	double loss = 0, pen = 0;

	L->w = w;
	for (size_t t = 0; t < L->threads; t++) {
		workers[t].L = L;
		workers[t].t = t;
		workers[t].started = t > 0 &&
			!pthread_create(&workers[t].tid, NULL, logit_work, &workers[t]);
	}
	logit_work(&workers[0]);
	for (size_t t = 1; t < L->threads; t++) {
		if (workers[t].started)
			pthread_join(workers[t].tid, NULL);
		else
			logit_work(&workers[t]);
	}
	memset(grad, 0, np * sizeof(double));
	for (size_t b = 0; b < L->nblocks; b++) {
		const double *p = L->partial + b * (np + 1);
		mlops_vec_axpy(grad, 1, p, np);
		loss += p[np];
	}
	mlops_vec_scale(grad, 1 / (double)L->n, np);
	loss /= (double)L->n;
	for (size_t j = 0; j < nw; j++) {
		pen += w[j] * w[j];
		grad[j] += L->lambda * w[j];
	}
	return loss + 0.5 * L->lambda * pen;
}

static size_t default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > MAX_THREADS ? MAX_THREADS : (size_t)n;
}

int mlops_logistic_fit(double *coef, double *intercept, struct mlops_lbfgs_result *result,
		       const struct mlops_matrix *X, const size_t *y, size_t nclasses,
		       double C, const struct mlops_lbfgs_opts *opts, size_t threads)
{
	struct logit L = {0};
	struct mlops_lbfgs_result res;
	double *w = NULL;
	int error = 0;

	if (nclasses < 2 || !X->rows || !(C > 0))
		return mlops_error_set(MLOPS_EINVALID,
				       "logistic regression needs rows, two classes and C > 0");
	L.X = X->data;
	L.n = X->rows;
	L.d = X->cols;
	L.y = y;
	L.nout = nclasses == 2 ? 1 : nclasses;
	L.nparams = L.nout * (L.d + 1);
	L.lambda = 1 / (C * (double)L.n);
	L.nblocks = (L.n + LOGIT_BLOCK - 1) / LOGIT_BLOCK;
	L.threads = threads ? threads : default_threads();
	if (L.threads > MAX_THREADS)
		L.threads = MAX_THREADS;
	if (L.threads > L.nblocks)
		L.threads = L.nblocks;
	L.partial = malloc(L.nblocks * (L.nparams + 1) * sizeof(double));
	L.scratch = malloc(L.threads * L.nout * sizeof(double));
	w = calloc(L.nparams, sizeof(double));
	if (!L.partial || !L.scratch || !w) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < L.n; i++)
		if (y[i] >= nclasses) {
			error = mlops_error_set(MLOPS_EINVALID, "class index %zu out of range", y[i]);
			goto cleanup;
		}
	if ((error = mlops_lbfgs_minimize(w, L.nparams, logit_objective, &L, opts, &res)) < 0)
		goto cleanup;
	memcpy(coef, w, L.nout * L.d * sizeof(double));
	memcpy(intercept, w + L.nout * L.d, L.nout * sizeof(double));
	if (L.nout > 1) {
		double mean = 0;
		for (size_t c = 0; c < L.nout; c++)
			mean += intercept[c];
		mean /= (double)L.nout;
		for (size_t c = 0; c < L.nout; c++)
			intercept[c] -= mean;
	}
	if (result)
		*result = res;
cleanup:
	free(L.partial);
	free(L.scratch);
	free(w);
	return error;
}

/* Probabilities of one row of features; returns the predicted class. */
static size_t logistic_row(double *p, const double *x, size_t d, const double *coef,
			   const double *intercept, size_t nclasses)
{
	size_t best = 0;

	if (nclasses == 2) {
		double z = mlops_vec_dot(x, coef, d) + intercept[0];
		p[1] = sigmoid(z);
		p[0] = 1 - p[1];
		return z > 0;
	}
	double mx = -INFINITY, s = 0;
	for (size_t c = 0; c < nclasses; c++) {
		p[c] = mlops_vec_dot(x, coef + c * d, d) + intercept[c];
		if (p[c] > p[best])
			best = c;
	}
	mx = p[best];
	for (size_t c = 0; c < nclasses; c++) {
		p[c] = exp(p[c] - mx);
		s += p[c];
	}
	for (size_t c = 0; c < nclasses; c++)
		p[c] /= s;
	return best;
}

void mlops_logistic_predict(double *proba, size_t *pred, const struct mlops_matrix *X,
			    const double *coef, const double *intercept, size_t nclasses)
{
	for (size_t i = 0; i < X->rows; i++) {
		size_t c = logistic_row(proba + i * nclasses, mlops_matrix_row(X, i),
					X->cols, coef, intercept, nclasses);
		if (pred)
			pred[i] = c;
	}
}

/* ---- string interning (training only) ---- */

/* Distinct strings with dense ids; the bytes live in one arena. */
struct strtab {
	size_t cap;            /* slots, a power of two */
	size_t count;
	uint32_t *slots;       /* id + 1; 0 = empty */
	size_t *off, *len;     /* per id, into arena */
	unsigned char *train;  /* per id: seen in a training row */
	size_t ids_cap;
	char *arena;
	size_t arena_len, arena_cap;
};

static uint64_t hash_bytes(const char *p, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * UINT64_C(0x100000001b3);
	return h;
}

static void strtab_free(struct strtab *t)
{
	free(t->slots);
	free(t->off);
	free(t->len);
	free(t->train);
	free(t->arena);
	memset(t, 0, sizeof(*t));
}

static int strtab_grow_slots(struct strtab *t)
{
	size_t cap = t->cap ? 2 * t->cap : 64;
	uint32_t *slots = calloc(cap, sizeof(uint32_t));

	if (!slots)
		return -1;
	for (size_t id = 0; id < t->count; id++) {
		size_t h = (size_t)hash_bytes(t->arena + t->off[id], t->len[id]) & (cap - 1);
		while (slots[h])
			h = (h + 1) & (cap - 1);
		slots[h] = (uint32_t)id + 1;
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

/* Id of the string (adding it when new), or -1 when out of memory. */
static long strtab_intern(struct strtab *t, const char *p, size_t len)
{
	size_t h;

	if (2 * (t->count + 1) > t->cap && strtab_grow_slots(t) < 0)
		return -1;
	h = (size_t)hash_bytes(p, len) & (t->cap - 1);
	while (t->slots[h]) {
		size_t id = t->slots[h] - 1;
		if (t->len[id] == len && !memcmp(t->arena + t->off[id], p, len))
			return (long)id;
		h = (h + 1) & (t->cap - 1);
	}
	if (t->count == t->ids_cap) {
		size_t nc = t->ids_cap ? 2 * t->ids_cap : 16;
		size_t *off = realloc(t->off, nc * sizeof(size_t));
		if (off)
			t->off = off;
		size_t *ln = realloc(t->len, nc * sizeof(size_t));
		if (ln)
			t->len = ln;
		unsigned char *tr = realloc(t->train, nc);
		if (tr)
			t->train = tr;
		if (!off || !ln || !tr)
			return -1;
		t->ids_cap = nc;
	}
	if (t->arena_len + len + 1 > t->arena_cap) {
		size_t nc = t->arena_cap ? 2 * t->arena_cap : 256;
		while (nc < t->arena_len + len + 1)
			nc *= 2;
		char *a = realloc(t->arena, nc);
		if (!a)
			return -1;
		t->arena = a;
		t->arena_cap = nc;
	}
	memcpy(t->arena + t->arena_len, p, len);
	t->arena[t->arena_len + len] = '\0';
	t->off[t->count] = t->arena_len;
	t->len[t->count] = len;
	t->train[t->count] = 0;
	t->arena_len += len + 1;
	t->slots[h] = (uint32_t)t->count + 1;
	return (long)t->count++;
}

struct sorted_str {
	const char *p;
	size_t len;
	double num;
	size_t id;
};

static int cmp_sorted_bytes(const void *a, const void *b)
{
	const struct sorted_str *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static int cmp_sorted_num(const void *a, const void *b)
{
	const struct sorted_str *x = a, *y = b;
	if (x->num != y->num)
		return (x->num > y->num) - (x->num < y->num);
	return cmp_sorted_bytes(a, b);
}

/* ---- training ---- */

/* Everything the trainer holds between its steps. */
struct train {
	const struct mlops_train_opts *opts;
	struct mlops_row_source *src;
	size_t m;               /* inputs */
	size_t *incol;          /* input -> source column */
	size_t target_col;
	int classify;
	size_t n, cap;
	double *R;              /* n x m raw values (ids for categorical) */
	unsigned char *numeric; /* per input */
	int any_categorical;
	double *yreg;           /* n */
	uint32_t *ycls;         /* n, target-table ids */
	struct strtab ytab;
	struct strtab *cats;    /* per input */
	uint32_t **rank;        /* per categorical input: id -> vocab position */
	size_t *class_of;       /* target id -> class index */
	unsigned char *valid;   /* n */
	size_t ntrain, nvalid;
	struct mlops_matrix Xt, Xv;
	double *yt, *yv;        /* regression */
	size_t *ct, *cv;        /* classification */
};

static void train_clear(struct train *t)
{
	free(t->incol);
	free(t->R);
	free(t->numeric);
	free(t->yreg);
	free(t->ycls);
	strtab_free(&t->ytab);
	for (size_t j = 0; t->cats && j < t->m; j++)
		strtab_free(&t->cats[j]);
	free(t->cats);
	for (size_t j = 0; t->rank && j < t->m; j++)
		free(t->rank[j]);
	free(t->rank);
	free(t->class_of);
	free(t->valid);
	if (t->Xt.data != t->R)
		free(t->Xt.data);
	free(t->Xv.data);
	free(t->yt);
	free(t->yv);
	free(t->ct);
	free(t->cv);
}

static int oom(void)
{
	return mlops_error_set(MLOPS_ERROR, "out of memory");
}

/* Find the target and the input columns. */
static int resolve_columns(struct train *t)
{
	const struct mlops_train_opts *o = t->opts;
	const struct mlops_row_source *s = t->src;
	size_t j;

	for (size_t a = 0; a < s->ncols; a++)
		for (size_t b = a + 1; b < s->ncols; b++)
			if (!strcmp(s->names[a], s->names[b]))
				return mlops_error_set(MLOPS_EINVALID, "duplicate column '%s'",
						       s->names[a]);
	for (j = 0; j < s->ncols && strcmp(s->names[j], o->target); j++)
		;
	if (j == s->ncols)
		return mlops_error_set(MLOPS_ENOTFOUND, "target column '%s' not found", o->target);
	t->target_col = j;
	t->incol = calloc(s->ncols + 1, sizeof(size_t));
	if (!t->incol)
		return oom();
	if (!o->features) {
		for (j = 0; j < s->ncols; j++)
			if (j != t->target_col)
				t->incol[t->m++] = j;
	} else {
		for (size_t f = 0; f < o->nfeatures; f++) {
			for (j = 0; j < s->ncols && strcmp(s->names[j], o->features[f]); j++)
				;
			if (j == s->ncols)
				return mlops_error_set(MLOPS_ENOTFOUND, "feature column '%s' not found",
						       o->features[f]);
			if (j == t->target_col)
				return mlops_error_set(MLOPS_EUSAGE,
						       "column '%s' is both target and feature",
						       o->features[f]);
			for (size_t k = 0; k < t->m; k++)
				if (t->incol[k] == j)
					return mlops_error_set(MLOPS_EUSAGE,
							       "feature column '%s' given twice",
							       o->features[f]);
			t->incol[t->m++] = j;
		}
	}
	if (!t->m)
		return mlops_error_set(MLOPS_EUSAGE, "no feature columns");
	t->numeric = malloc(t->m);
	if (!t->numeric)
		return oom();
	memset(t->numeric, 1, t->m);
	return 0;
}

static int grow_rows(struct train *t)
{
	size_t cap = t->cap ? 2 * t->cap : (t->src->nrows_hint ? t->src->nrows_hint : 1024);

	if (cap > SIZE_MAX / sizeof(double) / (t->m + 1))
		return mlops_error_set(MLOPS_ERROR, "too many rows to hold in memory");
	double *R = realloc(t->R, cap * t->m * sizeof(double));
	if (!R)
		return oom();
	t->R = R;
	if (t->classify) {
		uint32_t *y = realloc(t->ycls, cap * sizeof(uint32_t));
		if (!y)
			return oom();
		t->ycls = y;
	} else {
		double *y = realloc(t->yreg, cap * sizeof(double));
		if (!y)
			return oom();
		t->yreg = y;
	}
	t->cap = cap;
	return 0;
}

/* First pass: raw numbers, column types, targets. */
static int read_rows(struct train *t)
{
	const struct mlops_cellref *f;
	size_t line = 0;
	int rc, error;

	while ((rc = t->src->next(t->src->ctx, &f, &line)) > 0) {
		const struct mlops_cellref *tc = &f[t->target_col];
		double *row, v;

		if (t->n == t->cap && (error = grow_rows(t)) < 0)
			return error;
		row = t->R + t->n * t->m;
		for (size_t j = 0; j < t->m; j++) {
			if (t->numeric[j] && cell_number(&f[t->incol[j]], &v) < 0) {
				t->numeric[j] = 0;
				t->any_categorical = 1;
			}
			row[j] = t->numeric[j] ? v : 0;
		}
		if (t->classify) {
			long id;
			if (cell_missing(tc))
				return mlops_error_set(MLOPS_EINVALID, "line %zu: missing target '%s'",
						       line, t->opts->target);
			if ((id = strtab_intern(&t->ytab, tc->ptr, tc->len)) < 0)
				return oom();
			t->ycls[t->n] = (uint32_t)id;
		} else {
			int k = cell_number(tc, &v);
			if (k <= 0) {
				char q[48];
				return mlops_error_set(MLOPS_EINVALID,
						       k ? "line %zu: target '%s' is not a number: '%s'"
							 : "line %zu: missing target '%s'%s",
						       line, t->opts->target, k ? quote_field(q, tc) : "");
			}
			t->yreg[t->n] = v;
		}
		t->n++;
	}
	if (rc < 0)
		return rc;
	if (!t->n)
		return mlops_error_set(MLOPS_EINVALID, "no data rows");
	return 0;
}

static int make_split(struct train *t)
{
	size_t *perm;

	t->nvalid = mlops_split_valid_count(t->n, t->opts->valid_frac);
	t->ntrain = t->n - t->nvalid;
	if (!t->ntrain || (t->classify && t->ntrain < 2))
		return mlops_error_set(MLOPS_EINVALID,
				       "too few rows (%zu) for a validation fraction of %g",
				       t->n, t->opts->valid_frac);
	t->valid = calloc(t->n, 1);
	perm = malloc(t->n * sizeof(size_t));
	if (!t->valid || !perm) {
		free(perm);
		return oom();
	}
	mlops_split_permute(perm, t->n, t->opts->seed);
	for (size_t i = 0; i < t->nvalid; i++)
		t->valid[perm[i]] = 1;
	free(perm);
	return 0;
}

/* Second pass, for categorical inputs: intern their values. */
static int read_categories(struct train *t)
{
	const struct mlops_cellref *f;
	size_t line = 0, i;
	int rc = 0;

	t->cats = calloc(t->m, sizeof(*t->cats));
	if (!t->cats)
		return oom();
	if (!t->src->rewind)
		return mlops_error_set(MLOPS_ERROR, "the row source cannot be read twice");
	if ((rc = t->src->rewind(t->src->ctx)) < 0)
		return rc;
	for (i = 0; i < t->n && (rc = t->src->next(t->src->ctx, &f, &line)) > 0; i++) {
		double *row = t->R + i * t->m;
		for (size_t j = 0; j < t->m; j++) {
			const struct mlops_cellref *c = &f[t->incol[j]];
			struct strtab *tab = &t->cats[j];
			long id;
			if (t->numeric[j])
				continue;
			if (cell_missing(c)) {
				row[j] = -1;
				continue;
			}
			if ((id = strtab_intern(tab, c->ptr, c->len)) < 0)
				return oom();
			row[j] = (double)id;
			if (!t->valid[i])
				tab->train[id] = 1;
		}
	}
	if (rc < 0)
		return rc;
	if (i < t->n)
		return mlops_error_set(MLOPS_ERROR, "the rows changed while reading them");
	return 0;
}

/* Classes: the distinct target values, sorted; each must be trained on. */
static int fit_classes(struct train *t, struct mlops_model *model)
{
	struct strtab *y = &t->ytab;
	struct sorted_str *v = NULL;
	size_t *seen = NULL, k = y->count;
	int all_numeric = 1, error = 0;

	if (k < 2)
		return mlops_error_set(MLOPS_EINVALID, "target '%s' has a single class '%s'",
				       t->opts->target, y->arena + y->off[0]);
	v = calloc(k, sizeof(*v));
	seen = calloc(k, sizeof(size_t));
	model->classes = calloc(k, sizeof(char *));
	t->class_of = calloc(k, sizeof(size_t));
	if (!v || !seen || !model->classes || !t->class_of) {
		error = oom();
		goto cleanup;
	}
	model->nclasses = k;
	for (size_t id = 0; id < k; id++) {
		const char *p = y->arena + y->off[id];
		size_t len = y->len[id];
		v[id] = (struct sorted_str){ p, len, 0, id };
		trim(&p, &len);
		if (all_numeric && !parse_decimal(p, len, &v[id].num))
			all_numeric = 0;
	}
	qsort(v, k, sizeof(*v), all_numeric ? cmp_sorted_num : cmp_sorted_bytes);
	for (size_t c = 0; c < k; c++) {
		t->class_of[v[c].id] = c;
		model->classes[c] = strndup(v[c].p, v[c].len);
		if (!model->classes[c]) {
			error = oom();
			goto cleanup;
		}
	}
	for (size_t i = 0; i < t->n; i++)
		if (!t->valid[i])
			seen[t->class_of[t->ycls[i]]]++;
	for (size_t c = 0; c < k; c++)
		if (!seen[c]) {
			error = mlops_error_set(MLOPS_EINVALID,
						"class '%s' of '%s' has no rows in the training split",
						model->classes[c], t->opts->target);
			goto cleanup;
		}
cleanup:
	free(v);
	free(seen);
	return error;
}

/* Fit the preprocessing on the training rows. */
static int fit_design(struct train *t, struct mlops_design *d)
{
	d->inputs = calloc(t->m, sizeof(*d->inputs));
	if (!d->inputs)
		return oom();
	d->ninputs = t->m;
	if (t->any_categorical && !(t->rank = calloc(t->m, sizeof(*t->rank))))
		return oom();
	for (size_t j = 0; j < t->m; j++) {
		struct mlops_input *in = &d->inputs[j];

		in->name = strdup(t->src->names[t->incol[j]]);
		if (!in->name)
			return oom();
		if (t->numeric[j]) {
			double sum = 0, ss = 0, cnt = 0, mean, var;
			in->type = MLOPS_INPUT_NUMERIC;
			for (size_t i = 0; i < t->n; i++) {
				double v = t->R[i * t->m + j];
				if (!t->valid[i] && !isnan(v))
					sum += v, cnt++;
			}
			mean = cnt ? sum / cnt : 0;
			for (size_t i = 0; i < t->n; i++) {
				double v = t->R[i * t->m + j];
				if (!t->valid[i] && !isnan(v))
					ss += (v - mean) * (v - mean);
			}
			var = cnt ? ss / cnt : 0;
			in->mean = mean;
			in->std = sqrt(var);
			/* constant up to rounding (scikit-learn's test) */
			if (!(var > (cnt * fabs(mean) * DBL_EPSILON) * (cnt * fabs(mean) * DBL_EPSILON)))
				in->std = 1;
		} else {
			struct strtab *tab = &t->cats[j];
			struct sorted_str *v;
			size_t k = 0;

			in->type = MLOPS_INPUT_CATEGORICAL;
			for (size_t id = 0; id < tab->count; id++)
				k += tab->train[id];
			if (k > MAX_CATEGORIES)
				return mlops_error_set(MLOPS_EINVALID,
						       "column '%s' has %zu categories (at most %d): leave it out of the features",
						       in->name, k, MAX_CATEGORIES);
			v = calloc(k + 1, sizeof(*v));
			in->categories = calloc(k + 1, sizeof(char *));
			t->rank[j] = malloc((tab->count + 1) * sizeof(uint32_t));
			if (!v || !in->categories || !t->rank[j]) {
				free(v);
				return oom();
			}
			k = 0;
			for (size_t id = 0; id < tab->count; id++) {
				t->rank[j][id] = UINT32_MAX;
				if (tab->train[id])
					v[k++] = (struct sorted_str){ tab->arena + tab->off[id],
								      tab->len[id], 0, id };
			}
			qsort(v, k, sizeof(*v), cmp_sorted_bytes);
			for (size_t c = 0; c < k; c++) {
				t->rank[j][v[c].id] = (uint32_t)c;
				in->categories[c] = strndup(v[c].p, v[c].len);
				if (!in->categories[c]) {
					free(v);
					return oom();
				}
				in->ncategories++;
			}
			free(v);
		}
	}
	return design_layout(d);
}

/* Encode the raw rows into the training and validation matrices. */
static int build_matrices(struct train *t, const struct mlops_design *d)
{
	size_t nf = d->nfeatures, ti = 0, vi = 0;

	if (nf && (t->ntrain > SIZE_MAX / sizeof(double) / nf))
		return mlops_error_set(MLOPS_ERROR, "too many rows and features to hold in memory");
	t->Xt = (struct mlops_matrix){ t->ntrain, nf, NULL };
	t->Xv = (struct mlops_matrix){ t->nvalid, nf, NULL };
	t->Xv.data = calloc(t->nvalid * nf + 1, sizeof(double));
	if (!t->Xv.data)
		return oom();
	if (!t->any_categorical) {
		/* nf == m: standardise in place, moving training rows up. */
		for (size_t i = 0; i < t->n; i++) {
			const double *src = t->R + i * t->m;
			double *dst = t->valid[i] ? t->Xv.data + vi++ * nf : t->R + ti++ * nf;
			for (size_t j = 0; j < nf; j++)
				dst[j] = standardise(src[j], &d->inputs[j]);
		}
		t->Xt.data = realloc(t->R, t->ntrain * nf * sizeof(double));
		if (!t->Xt.data)
			t->Xt.data = t->R;
		t->R = NULL;
	} else {
		t->Xt.data = calloc(t->ntrain * nf + 1, sizeof(double));
		if (!t->Xt.data)
			return oom();
		for (size_t i = 0; i < t->n; i++) {
			const double *src = t->R + i * t->m;
			double *dst = t->valid[i] ? t->Xv.data + vi++ * nf : t->Xt.data + ti++ * nf;
			for (size_t j = 0; j < t->m; j++) {
				const struct mlops_input *in = &d->inputs[j];
				if (in->type == MLOPS_INPUT_NUMERIC) {
					dst[in->offset] = standardise(src[j], in);
				} else if (src[j] >= 0) {
					uint32_t r = t->rank[j][(size_t)src[j]];
					if (r != UINT32_MAX)
						dst[in->offset + r] = 1;
				}
			}
		}
		free(t->R);
		t->R = NULL;
	}
	/* Targets in the same order. */
	ti = vi = 0;
	if (t->classify) {
		t->ct = malloc((t->ntrain + 1) * sizeof(size_t));
		t->cv = malloc((t->nvalid + 1) * sizeof(size_t));
		if (!t->ct || !t->cv)
			return oom();
		for (size_t i = 0; i < t->n; i++) {
			size_t c = t->class_of[t->ycls[i]];
			if (t->valid[i])
				t->cv[vi++] = c;
			else
				t->ct[ti++] = c;
		}
	} else {
		t->yt = malloc((t->ntrain + 1) * sizeof(double));
		t->yv = malloc((t->nvalid + 1) * sizeof(double));
		if (!t->yt || !t->yv)
			return oom();
		for (size_t i = 0; i < t->n; i++) {
			if (t->valid[i])
				t->yv[vi++] = t->yreg[i];
			else
				t->yt[ti++] = t->yreg[i];
		}
	}
	return 0;
}

static void add_metric(struct mlops_model *model, const char *prefix, const char *name, double v)
{
	struct mlops_metric *m;

	if (!isfinite(v) || model->nmetrics == MLOPS_MODEL_MAX_METRICS)
		return;
	m = &model->metrics[model->nmetrics++];
	snprintf(m->name, sizeof(m->name), "%s%s", prefix, name);
	m->value = v;
}

/* Score the model on X against yr (regression) or yc (classes). */
static int score(struct mlops_model *model, const struct mlops_matrix *X, const double *yr,
		 const size_t *yc, const char *prefix)
{
	size_t n = X->rows, k = model->nclasses;
	double *buf = NULL;
	size_t *pred = NULL;
	int error = 0;

	if (!n)
		return 0;
	if (!k) {
		if (!(buf = malloc(n * sizeof(double))))
			return oom();
		for (size_t i = 0; i < n; i++)
			buf[i] = mlops_vec_dot(mlops_matrix_row(X, i), model->coef, X->cols) +
				 model->intercept[0];
		add_metric(model, prefix, "rmse", mlops_metric_rmse(yr, buf, n));
		add_metric(model, prefix, "mae", mlops_metric_mae(yr, buf, n));
		add_metric(model, prefix, "r2", mlops_metric_r2(yr, buf, n));
		goto cleanup;
	}
	buf = malloc(n * k * sizeof(double));
	pred = malloc(n * sizeof(size_t));
	if (!buf || !pred) {
		error = oom();
		goto cleanup;
	}
	mlops_logistic_predict(buf, pred, X, model->coef, model->intercept, k);
	add_metric(model, prefix, "accuracy", mlops_metric_accuracy(yc, pred, n));
	add_metric(model, prefix, "log_loss", mlops_metric_log_loss(yc, buf, n, k));
	add_metric(model, prefix, "f1_macro", mlops_metric_macro_f1(yc, pred, n, k));
	if (k == 2) {
		double auc;
		for (size_t i = 0; i < n; i++)
			buf[i] = buf[2 * i + 1];
		if (mlops_metric_roc_auc(&auc, yc, buf, n) == 0)
			add_metric(model, prefix, "roc_auc", auc);
		else if (mlops_error_code() == MLOPS_ERROR)
			error = MLOPS_ERROR;
		else
			mlops_error_clear();
	}
cleanup:
	free(buf);
	free(pred);
	return error;
}

void mlops_train_opts_init(struct mlops_train_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->kind = MLOPS_MODEL_LINEAR;
	opts->alpha = 1.0;
	opts->C = 1.0;
	opts->valid_frac = 0.2;
	opts->max_iter = 1000;
	opts->tol = 1e-6;
}

static int check_opts(const struct mlops_train_opts *o)
{
	if (!o->target)
		return mlops_error_set(MLOPS_EUSAGE, "no target column");
	if (o->kind != MLOPS_MODEL_LINEAR && o->kind != MLOPS_MODEL_LOGISTIC)
		return mlops_error_set(MLOPS_EUSAGE, "unknown model kind");
	if (!(o->alpha >= 0) || !isfinite(o->alpha))
		return mlops_error_set(MLOPS_EUSAGE, "alpha must be a number >= 0");
	if (!(o->C > 0) || !isfinite(o->C))
		return mlops_error_set(MLOPS_EUSAGE, "C must be a number > 0");
	if (!(o->valid_frac >= 0 && o->valid_frac < 1))
		return mlops_error_set(MLOPS_EUSAGE, "valid_frac must be in [0, 1)");
	if (o->seed > (UINT64_C(1) << 53))
		return mlops_error_set(MLOPS_EUSAGE, "seed must be at most 2^53");
	if (!o->max_iter || !(o->tol > 0) || !isfinite(o->tol))
		return mlops_error_set(MLOPS_EUSAGE, "max_iter and tol must be > 0");
	return 0;
}

int mlops_model_train(struct mlops_model **out, struct mlops_row_source *src,
		      const struct mlops_train_opts *opts)
{
	struct train t = {0};
	struct mlops_model *model = NULL;
	int error;

	*out = NULL;
	if ((error = check_opts(opts)) < 0)
		return error;
	t.opts = opts;
	t.src = src;
	t.classify = opts->kind == MLOPS_MODEL_LOGISTIC;
	model = calloc(1, sizeof(*model));
	if (!model || !(model->target = strdup(opts->target))) {
		error = oom();
		goto cleanup;
	}
	model->kind = opts->kind;
	model->alpha = opts->alpha;
	model->C = opts->C;
	model->valid_frac = opts->valid_frac;
	model->seed = opts->seed;
	model->max_iter = opts->max_iter;
	model->tol = opts->tol;
	if ((error = resolve_columns(&t)) < 0 ||
	    (error = read_rows(&t)) < 0 ||
	    (error = make_split(&t)) < 0 ||
	    (t.any_categorical && (error = read_categories(&t)) < 0) ||
	    (t.classify && (error = fit_classes(&t, model)) < 0) ||
	    (error = fit_design(&t, &model->design)) < 0 ||
	    (error = build_matrices(&t, &model->design)) < 0)
		goto cleanup;
	model->nrows = t.n;
	model->ntrain = t.ntrain;
	model->nvalid = t.nvalid;
	model->nout = t.classify && model->nclasses > 2 ? model->nclasses : 1;
	model->coef = calloc(model->nout * model->design.nfeatures + 1, sizeof(double));
	model->intercept = calloc(model->nout, sizeof(double));
	if (!model->coef || !model->intercept) {
		error = oom();
		goto cleanup;
	}
	if (!t.classify) {
		if ((error = mlops_ridge_fit(model->coef, model->intercept, &t.Xt, t.yt,
					     opts->alpha)) < 0)
			goto cleanup;
		model->converged = 1;
	} else {
		struct mlops_lbfgs_opts lo;
		struct mlops_lbfgs_result res;
		mlops_lbfgs_opts_init(&lo);
		lo.max_iter = opts->max_iter;
		lo.gtol = opts->tol;
		/* the decrease test must not stop short of a tight tol */
		lo.ftol = fmin(lo.ftol, opts->tol * opts->tol);
		if ((error = mlops_logistic_fit(model->coef, model->intercept, &res, &t.Xt,
						t.ct, model->nclasses, opts->C, &lo,
						opts->threads)) < 0)
			goto cleanup;
		model->iterations = res.iterations;
		model->converged = res.converged;
	}
	if ((error = score(model, &t.Xv, t.yv, t.cv, "")) < 0 ||
	    (error = score(model, &t.Xt, t.yt, t.ct, "train_")) < 0)
		goto cleanup;
	*out = model;
	model = NULL;
cleanup:
	train_clear(&t);
	mlops_model_free(model);
	return error;
}

void mlops_model_free(struct mlops_model *model)
{
	if (!model)
		return;
	free(model->target);
	design_clear(&model->design);
	for (size_t c = 0; model->classes && c < model->nclasses; c++)
		free(model->classes[c]);
	free(model->classes);
	free(model->coef);
	free(model->intercept);
	free(model);
}

double mlops_model_metric(const struct mlops_model *model, const char *name)
{
	for (size_t i = 0; i < model->nmetrics; i++)
		if (!strcmp(model->metrics[i].name, name))
			return model->metrics[i].value;
	return NAN;
}

/* ---- JSON ---- */

static cJSON *string_array(char *const *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);
		if (!s || !cJSON_AddItemToArray(a, s)) {
			cJSON_Delete(s);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

/*
 * A number that reads back bit for bit: the shortest of %.15g, %.16g and
 * %.17g that round-trips (cJSON's own printer settles for "close").
 * Whole numbers up to 2^53 print as integers.
 */
static cJSON *exact_number(double v)
{
	char buf[32];

	if (!isfinite(v))
		return cJSON_CreateNull();
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return cJSON_CreateRaw(buf);
}

static cJSON *number_array(const double *v, size_t n)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < n; i++) {
		cJSON *x = exact_number(v[i]);
		if (!x || !cJSON_AddItemToArray(a, x)) {
			cJSON_Delete(x);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

/* Add item to obj under key; on failure delete item and return 0. */
static int put(cJSON *obj, const char *key, cJSON *item)
{
	if (!item)
		return 0;
	if (!cJSON_AddItemToObject(obj, key, item)) {
		cJSON_Delete(item);
		return 0;
	}
	return 1;
}

static int put_num(cJSON *obj, const char *key, double v)
{
	return put(obj, key, exact_number(v));
}

static cJSON *design_to_json(const struct mlops_design *d)
{
	cJSON *a = cJSON_CreateArray();

	for (size_t i = 0; a && i < d->ninputs; i++) {
		const struct mlops_input *in = &d->inputs[i];
		cJSON *o = cJSON_CreateObject();
		int ok = o && cJSON_AddItemToArray(a, o) &&
			 put(o, "name", cJSON_CreateString(in->name));
		if (ok && in->type == MLOPS_INPUT_NUMERIC)
			ok = put(o, "type", cJSON_CreateString("numeric")) &&
			     put_num(o, "mean", in->mean) && put_num(o, "std", in->std);
		else if (ok)
			ok = put(o, "type", cJSON_CreateString("categorical")) &&
			     put(o, "categories", string_array(in->categories, in->ncategories));
		if (!ok) {
			if (o && !cJSON_IsObject(cJSON_GetArrayItem(a, (int)i)))
				cJSON_Delete(o);
			cJSON_Delete(a);
			return NULL;
		}
	}
	return a;
}

int mlops_model_to_json(cJSON **out, const struct mlops_model *model)
{
	const struct mlops_design *d = &model->design;
	cJSON *root = cJSON_CreateObject(), *coef, *params, *training, *metrics;
	int ok, logistic = model->kind == MLOPS_MODEL_LOGISTIC;

	*out = NULL;
	ok = root && put(root, "format", cJSON_CreateString("mlops-model")) &&
	     put_num(root, "version", 1) &&
	     put(root, "kind", cJSON_CreateString(logistic ? "logistic" : "linear")) &&
	     put(root, "task", cJSON_CreateString(logistic ? "classification" : "regression")) &&
	     put(root, "target", cJSON_CreateString(model->target)) &&
	     put(root, "inputs", design_to_json(d)) &&
	     put(root, "features", string_array(d->feature_names, d->nfeatures)) &&
	     (!logistic || put(root, "classes", string_array(model->classes, model->nclasses))) &&
	     put(root, "coefficients", coef = cJSON_CreateArray());
	for (size_t r = 0; ok && r < model->nout; r++) {
		cJSON *row = number_array(model->coef + r * d->nfeatures, d->nfeatures);
		ok = row && cJSON_AddItemToArray(coef, row);
		if (!ok)
			cJSON_Delete(row);
	}
	ok = ok && put(root, "intercepts", number_array(model->intercept, model->nout)) &&
	     put(root, "params", params = cJSON_CreateObject()) &&
	     (logistic ? put_num(params, "C", model->C) && put_num(params, "max_iter", (double)model->max_iter) &&
			 put_num(params, "tol", model->tol)
		       : put_num(params, "alpha", model->alpha)) &&
	     put_num(params, "valid_frac", model->valid_frac) &&
	     put_num(params, "seed", (double)model->seed) &&
	     put(root, "training", training = cJSON_CreateObject()) &&
	     put_num(training, "rows", (double)model->nrows) &&
	     put_num(training, "train_rows", (double)model->ntrain) &&
	     put_num(training, "valid_rows", (double)model->nvalid) &&
	     put_num(training, "iterations", (double)model->iterations) &&
	     put(training, "converged", cJSON_CreateBool(model->converged)) &&
	     put(root, "metrics", metrics = cJSON_CreateObject());
	for (size_t i = 0; ok && i < model->nmetrics; i++)
		if (isfinite(model->metrics[i].value))
			ok = put_num(metrics, model->metrics[i].name, model->metrics[i].value);
	if (!ok) {
		cJSON_Delete(root);
		return oom();
	}
	*out = root;
	return 0;
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* MLOPS_EINVALID with "invalid model: <what>". */
static int bad(const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return mlops_error_set(MLOPS_EINVALID, "invalid model: %s", what);
}

/* A required member of obj. */
static const cJSON *member(const cJSON *obj, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(obj, key);
}

static int get_string(char **out, const cJSON *obj, const char *key, const char *where)
{
	const cJSON *v = member(obj, key);

	if (!cJSON_IsString(v) || !v->valuestring)
		return bad("%s'%s' must be a string", where, key);
	if (!(*out = strdup(v->valuestring)))
		return oom();
	return 0;
}

static int get_number(double *out, const cJSON *obj, const char *key, const char *where)
{
	const cJSON *v = member(obj, key);

	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
		return bad("%s'%s' must be a number", where, key);
	*out = v->valuedouble;
	return 0;
}

static int get_count(size_t *out, const cJSON *obj, const char *key, const char *where)
{
	double v = 0;
	int error = get_number(&v, obj, key, where);

	if (error < 0)
		return error;
	if (v < 0 || v > 9007199254740992.0 || v != floor(v))
		return bad("%s'%s' must be a whole number >= 0", where, key);
	*out = (size_t)v;
	return 0;
}

/* A string array of exactly n items (n = SIZE_MAX: any) into *out, *nout. */
static int get_strings(char ***out, size_t *nout, const cJSON *arr, const char *where,
		       const char *what)
{
	size_t n, i = 0;
	const cJSON *v;

	if (!cJSON_IsArray(arr))
		return bad("%s'%s' must be an array", where, what);
	n = (size_t)cJSON_GetArraySize(arr);
	if (!(*out = calloc(n + 1, sizeof(char *))))
		return oom();
	*nout = n;
	cJSON_ArrayForEach(v, arr) {
		if (!cJSON_IsString(v) || !v->valuestring)
			return bad("%s'%s' item %zu must be a string", where, what, i + 1);
		if (!((*out)[i++] = strdup(v->valuestring)))
			return oom();
	}
	return 0;
}

/* A number array of exactly n finite values into out. */
static int get_numbers(double *out, size_t n, const cJSON *arr, const char *what, size_t row)
{
	const cJSON *v;
	size_t i = 0;
	char where[64];

	if (row)
		snprintf(where, sizeof(where), "' row %zu", row);
	else
		snprintf(where, sizeof(where), "'");
	if (!cJSON_IsArray(arr))
		return bad("'%s%s must be an array", what, where);
	if ((size_t)cJSON_GetArraySize(arr) != n)
		return bad("'%s%s has %d values, expected %zu", what, where,
			   cJSON_GetArraySize(arr), n);
	cJSON_ArrayForEach(v, arr) {
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
			return bad("'%s%s value %zu is not a number", what, where, i + 1);
		out[i++] = v->valuedouble;
	}
	return 0;
}

static int design_from_json(struct mlops_design *d, const cJSON *arr)
{
	const cJSON *o;
	size_t i = 0;
	int error;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1)
		return bad("'inputs' must be a non-empty array");
	d->ninputs = (size_t)cJSON_GetArraySize(arr);
	if (!(d->inputs = calloc(d->ninputs, sizeof(*d->inputs))))
		return oom();
	cJSON_ArrayForEach(o, arr) {
		struct mlops_input *in = &d->inputs[i++];
		char where[48], *type = NULL;

		snprintf(where, sizeof(where), "input %zu: ", i);
		if (!cJSON_IsObject(o))
			return bad("%smust be an object", where);
		if ((error = get_string(&in->name, o, "name", where)) < 0 ||
		    (error = get_string(&type, o, "type", where)) < 0)
			return error;
		for (size_t j = 0; j + 1 < i; j++)
			if (!strcmp(d->inputs[j].name, in->name)) {
				free(type);
				return bad("%sduplicate name '%s'", where, in->name);
			}
		if (!strcmp(type, "numeric")) {
			free(type);
			in->type = MLOPS_INPUT_NUMERIC;
			if ((error = get_number(&in->mean, o, "mean", where)) < 0 ||
			    (error = get_number(&in->std, o, "std", where)) < 0)
				return error;
			if (!(in->std > 0))
				return bad("%s'%s' must be > 0", where, "std");
		} else if (!strcmp(type, "categorical")) {
			free(type);
			in->type = MLOPS_INPUT_CATEGORICAL;
			if ((error = get_strings(&in->categories, &in->ncategories,
						 member(o, "categories"), where, "categories")) < 0)
				return error;
			for (size_t k = 1; k < in->ncategories; k++)
				if (strcmp(in->categories[k - 1], in->categories[k]) >= 0)
					return bad("%s'categories' must be sorted and distinct (item %zu)",
						   where, k + 1);
		} else {
			free(type);
			return bad("%s'type' must be \"numeric\" or \"categorical\"",
				   where);
		}
	}
	return 0;
}

static int model_from_json(struct mlops_model *m, const cJSON *json)
{
	const cJSON *v, *params, *training, *coef, *metrics;
	char *s = NULL, **names = NULL;
	size_t nnames = 0, r = 0;
	double num = 0;
	int error = 0, logistic;

	if (!cJSON_IsObject(json))
		return bad("not a JSON object");
	v = member(json, "format");
	if (!cJSON_IsString(v) || strcmp(v->valuestring, "mlops-model"))
		return bad("'format' must be \"mlops-model\"");
	if ((error = get_number(&num, json, "version", "")) < 0)
		return error;
	if (num != 1)
		return bad("unsupported 'version' (this mlops reads version 1)");
	if ((error = get_string(&s, json, "kind", "")) < 0)
		return error;
	logistic = !strcmp(s, "logistic");
	if (!logistic && strcmp(s, "linear")) {
		free(s);
		return bad("'kind' must be \"linear\" or \"logistic\"");
	}
	free(s);
	m->kind = logistic ? MLOPS_MODEL_LOGISTIC : MLOPS_MODEL_LINEAR;
	if ((error = get_string(&s, json, "task", "")) < 0)
		return error;
	if (strcmp(s, logistic ? "classification" : "regression")) {
		free(s);
		return bad("'task' does not match 'kind'");
	}
	free(s);
	if ((error = get_string(&m->target, json, "target", "")) < 0 ||
	    (error = design_from_json(&m->design, member(json, "inputs"))) < 0 ||
	    (error = design_layout(&m->design)) < 0)
		return error;
	for (size_t i = 0; i < m->design.ninputs; i++)
		if (!strcmp(m->design.inputs[i].name, m->target))
			return bad("the target '%s' is also an input", m->target);
	/* features must name what the inputs imply */
	if ((error = get_strings(&names, &nnames, member(json, "features"), "", "features")) < 0)
		goto cleanup;
	if (nnames != m->design.nfeatures) {
		error = bad("'features' has %zu names, the inputs make %zu",
			    nnames, m->design.nfeatures);
		goto cleanup;
	}
	for (size_t j = 0; j < nnames; j++)
		if (strcmp(names[j], m->design.feature_names[j])) {
			error = bad("'features' item %zu does not match the inputs", j + 1);
			goto cleanup;
		}
	if (logistic) {
		if ((error = get_strings(&m->classes, &m->nclasses, member(json, "classes"),
					 "", "classes")) < 0)
			goto cleanup;
		if (m->nclasses < 2) {
			error = bad("'classes' must have at least two items");
			goto cleanup;
		}
		for (size_t a = 0; a < m->nclasses; a++)
			for (size_t b = a + 1; b < m->nclasses; b++)
				if (!strcmp(m->classes[a], m->classes[b])) {
					error = bad("'classes' has '%s' twice", m->classes[a]);
					goto cleanup;
				}
	} else if (member(json, "classes")) {
		error = bad("a linear model has no 'classes'");
		goto cleanup;
	}
	m->nout = logistic && m->nclasses > 2 ? m->nclasses : 1;
	m->coef = calloc(m->nout * m->design.nfeatures + 1, sizeof(double));
	m->intercept = calloc(m->nout, sizeof(double));
	if (!m->coef || !m->intercept) {
		error = oom();
		goto cleanup;
	}
	coef = member(json, "coefficients");
	if (!cJSON_IsArray(coef) || (size_t)cJSON_GetArraySize(coef) != m->nout) {
		error = bad("'coefficients' must be an array of %zu rows", m->nout);
		goto cleanup;
	}
	cJSON_ArrayForEach(v, coef) {
		if ((error = get_numbers(m->coef + r * m->design.nfeatures, m->design.nfeatures, v,
					 "coefficients", r + 1)) < 0)
			goto cleanup;
		r++;
	}
	if ((error = get_numbers(m->intercept, m->nout, member(json, "intercepts"),
				 "intercepts", 0)) < 0)
		goto cleanup;
	params = member(json, "params");
	training = member(json, "training");
	if (!cJSON_IsObject(params) || !cJSON_IsObject(training)) {
		error = bad("'params' and 'training' must be objects");
		goto cleanup;
	}
	if (logistic) {
		if ((error = get_number(&m->C, params, "C", "params: ")) < 0 ||
		    (error = get_count(&m->max_iter, params, "max_iter", "params: ")) < 0 ||
		    (error = get_number(&m->tol, params, "tol", "params: ")) < 0)
			goto cleanup;
	} else if ((error = get_number(&m->alpha, params, "alpha", "params: ")) < 0) {
		goto cleanup;
	}
	{
		size_t seed;
		if ((error = get_number(&m->valid_frac, params, "valid_frac", "params: ")) < 0 ||
		    (error = get_count(&seed, params, "seed", "params: ")) < 0 ||
		    (error = get_count(&m->nrows, training, "rows", "training: ")) < 0 ||
		    (error = get_count(&m->ntrain, training, "train_rows", "training: ")) < 0 ||
		    (error = get_count(&m->nvalid, training, "valid_rows", "training: ")) < 0 ||
		    (error = get_count(&m->iterations, training, "iterations", "training: ")) < 0)
			goto cleanup;
		m->seed = seed;
	}
	v = member(training, "converged");
	if (!cJSON_IsBool(v)) {
		error = bad("training: 'converged' must be true or false");
		goto cleanup;
	}
	m->converged = cJSON_IsTrue(v);
	metrics = member(json, "metrics");
	if (!cJSON_IsObject(metrics)) {
		error = bad("'metrics' must be an object");
		goto cleanup;
	}
	cJSON_ArrayForEach(v, metrics) {
		struct mlops_metric *mt;
		if (m->nmetrics == MLOPS_MODEL_MAX_METRICS || !v->string ||
		    strlen(v->string) >= sizeof(mt->name)) {
			error = bad("'metrics' has too many or too long names");
			goto cleanup;
		}
		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
			error = bad("metric '%s' must be a number", v->string);
			goto cleanup;
		}
		mt = &m->metrics[m->nmetrics++];
		snprintf(mt->name, sizeof(mt->name), "%s", v->string);
		mt->value = v->valuedouble;
	}
cleanup:
	for (size_t j = 0; names && j < nnames; j++)
		free(names[j]);
	free(names);
	return error;
}

int mlops_model_from_json(struct mlops_model **out, const cJSON *json)
{
	struct mlops_model *m = calloc(1, sizeof(*m));
	int error;

	*out = NULL;
	if (!m)
		return oom();
	if ((error = model_from_json(m, json)) < 0) {
		mlops_model_free(m);
		return error;
	}
	*out = m;
	return 0;
}

int mlops_model_parse(struct mlops_model **out, const char *text, size_t len)
{
	cJSON *json = cJSON_ParseWithLength(text, len);
	int error;

	*out = NULL;
	if (!json)
		return mlops_error_set(MLOPS_EINVALID, "invalid model: not valid JSON");
	error = mlops_model_from_json(out, json);
	cJSON_Delete(json);
	return error;
}

/* ---- prediction ---- */

int mlops_model_predict_row(struct mlops_prediction *out, double *proba,
			    const struct mlops_model *model,
			    const struct mlops_cellref *fields)
{
	size_t nf = model->design.nfeatures, k = model->nclasses;
	double stack[STACK_FEATURES + 16], *x = stack, *p;
	int error;

	if (nf + k > sizeof(stack) / sizeof(*stack)) {
		x = malloc((nf + k) * sizeof(double));
		if (!x)
			return oom();
	}
	p = x + nf;
	if ((error = mlops_design_encode_row(x, &model->design, fields)) < 0)
		goto cleanup;
	if (!k) {
		out->value = mlops_vec_dot(x, model->coef, nf) + model->intercept[0];
		out->class_index = 0;
		out->label = NULL;
	} else {
		size_t c = logistic_row(p, x, nf, model->coef, model->intercept, k);
		out->value = p[c];
		out->class_index = c;
		out->label = model->classes[c];
		if (proba)
			memcpy(proba, p, k * sizeof(double));
	}
cleanup:
	if (x != stack)
		free(x);
	return error;
}
