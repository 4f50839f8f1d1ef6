/*
 * test_learn.c - the built-in trainers, their metrics and model documents.
 *
 * Expected numbers come from hand computation (noted beside each) or from
 * scikit-learn through tests/fixtures/learn/gen.py, committed in
 * tests/fixtures/learn/expected.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/learn.h"
#include "core/linalg.h"
#include "core/metrics.h"
#include "store/error.h"
#include "tests/fixtures/learn/expected.h"

#define FIXTURES "tests/fixtures/learn/"

/* ---- a minimal CSV reader for the numeric fixtures ---- */

struct csv {
	char *buf;
	size_t nrows, ncols;
	char **names;
	struct mlops_cellref *cells;
	struct mlops_cell_table table;
	struct mlops_row_source src;
};

static void csv_free(struct csv *c)
{
	for (size_t j = 0; c->names && j < c->ncols; j++)
		free(c->names[j]);
	free(c->names);
	free(c->cells);
	free(c->buf);
	memset(c, 0, sizeof(*c));
}

/* Split on ',' and '\n' (no quoting; the fixtures need none). */
static void csv_load(struct csv *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	long len;
	char *p, *end, *line;
	size_t cap = 0;

	memset(c, 0, sizeof(*c));
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	c->buf = malloc((size_t)len + 1);
	assert_non_null(c->buf);
	assert_int_equal(fread(c->buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	c->buf[len] = '\0';
	p = c->buf;
	end = c->buf + len;
	/* header */
	line = p;
	p = strchr(p, '\n');
	*p++ = '\0';
	for (char *q = line;; ) {
		char *comma = strchr(q, ',');
		c->names = realloc(c->names, (c->ncols + 1) * sizeof(char *));
		c->names[c->ncols++] = comma ? strndup(q, (size_t)(comma - q)) : strdup(q);
		if (!comma)
			break;
		q = comma + 1;
	}
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *le = nl ? nl : end;
		if (c->nrows * c->ncols + c->ncols > cap) {
			cap = cap ? 2 * cap : 1024;
			c->cells = realloc(c->cells, cap * sizeof(*c->cells));
		}
		for (size_t j = 0; j < c->ncols; j++) {
			char *comma = j + 1 < c->ncols ? memchr(p, ',', (size_t)(le - p)) : le;
			assert_non_null(comma);
			c->cells[c->nrows * c->ncols + j] = (struct mlops_cellref){ p, (size_t)(comma - p) };
			p = comma + 1;
		}
		c->nrows++;
		p = le + 1;
	}
	c->table = (struct mlops_cell_table){ c->nrows, c->ncols,
					      (const char *const *)c->names, c->cells, 0 };
	mlops_row_source_from_table(&c->src, &c->table);
}

/* A table from string literals: names then rows. */
struct lit {
	struct mlops_cellref cells[64];
	struct mlops_cell_table table;
	struct mlops_row_source src;
};

static void lit_init(struct lit *l, const char *const *names, size_t ncols,
		     const char *const *values, size_t nrows)
{
	for (size_t i = 0; i < nrows * ncols; i++)
		l->cells[i] = (struct mlops_cellref){ values[i], strlen(values[i]) };
	l->table = (struct mlops_cell_table){ nrows, ncols, names, l->cells, 0 };
	mlops_row_source_from_table(&l->src, &l->table);
}

static void assert_close(double got, double want, double tol)
{
	if (!(fabs(got - want) <= tol * fmax(1, fabs(want)))) {
		print_error("got %.17g, want %.17g (tolerance %g)\n", got, want, tol);
		fail();
	}
}

/* ---- split ---- */

static void test_split_permutation(void **state)
{
	size_t perm[1000];
	(void)state;

	mlops_split_permute(perm, 10, 42);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(perm[i], perm_n10_seed42[i]);
	mlops_split_permute(perm, 1000, 7);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(perm[i], perm_n1000_seed7_head[i]);
	assert_int_equal(mlops_split_valid_count(569, 0.2), 114);
	assert_int_equal(mlops_split_valid_count(10, 0.25), 3);
	assert_int_equal(mlops_split_valid_count(10, 0), 0);
}

/* ---- metrics (hand-computed) ---- */

static void test_metrics_regression(void **state)
{
	const double y[] = { 1, 2, 3 }, p[] = { 1, 2, 4 }, c[] = { 5, 5, 5 };
	(void)state;

	assert_close(mlops_metric_rmse(y, p, 3), sqrt(1.0 / 3), 1e-15);
	assert_close(mlops_metric_mae(y, p, 3), 1.0 / 3, 1e-15);
	/* SS_res = 1, SS_tot = 2 */
	assert_close(mlops_metric_r2(y, p, 3), 0.5, 1e-15);
	assert_close(mlops_metric_r2(c, c, 3), 1.0, 0);
	assert_close(mlops_metric_r2(c, p, 3), 0.0, 0);
}

static void test_metrics_classification(void **state)
{
	const size_t y[] = { 0, 0, 1, 1, 2, 2 }, pred[] = { 0, 1, 1, 1, 2, 0 };
	const size_t y2[] = { 0, 1 }, p2[] = { 0, 2 };
	const double proba[] = { 0.8, 0.2, 0.4, 0.6 };
	const double clipped[] = { 1.0, 0.0, 0.0, 1.0 };
	(void)state;

	assert_close(mlops_metric_accuracy(y, pred, 6), 4.0 / 6, 1e-15);
	/* F1 per class: 2/4, 4/5, 2/3 */
	assert_close(mlops_metric_macro_f1(y, pred, 6, 3), (0.5 + 0.8 + 2.0 / 3) / 3, 1e-15);
	/* class 1 only true (F1 0), class 2 only predicted (F1 0), class 0 perfect */
	assert_close(mlops_metric_macro_f1(y2, p2, 2, 4), 1.0 / 3, 1e-15);
	assert_close(mlops_metric_log_loss(y2, proba, 2, 2), -(log(0.8) + log(0.6)) / 2, 1e-15);
	/* perfect and certain: clipped at machine epsilon, not zero */
	assert_close(mlops_metric_log_loss(y2, clipped, 2, 2), -log(1 - 2.220446049250313e-16),
		     1e-15);
}

static void test_metrics_roc_auc(void **state)
{
	/* pos 0.35, 0.8, 0.4 against neg 0.1, 0.4, 0.4: 1+0+0 + 3 + 1+.5+.5 = 6 of 9 */
	const size_t y[] = { 0, 0, 1, 1, 0, 1 };
	const double s[] = { 0.1, 0.4, 0.35, 0.8, 0.4, 0.4 };
	const size_t one[] = { 1, 1 };
	const double all_tied[] = { 0.5, 0.5, 0.5, 0.5, 0.5, 0.5 };
	double auc;
	(void)state;

	assert_int_equal(mlops_metric_roc_auc(&auc, y, s, 6), 0);
	assert_close(auc, 6.0 / 9, 1e-15);
	assert_int_equal(mlops_metric_roc_auc(&auc, y, all_tied, 6), 0);
	assert_close(auc, 0.5, 1e-15);
	assert_int_equal(mlops_metric_roc_auc(&auc, one, s, 2), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "single class"));
}

/* ---- linear algebra ---- */

static void test_cholesky(void **state)
{
	/* A = [[4,2,0],[2,5,3],[0,3,6]], b = A [1,-1,2] = [2,3,9] */
	double a[9] = { 4, 2, 0, 2, 5, 3, 0, 3, 6 }, b[3] = { 2, 3, 9 };
	double s[4] = { 1, 2, 2, 1 }; /* singular direction: eigenvalues 3, -1 */
	(void)state;

	assert_int_equal(mlops_cholesky_factor(a, 3), 0);
	mlops_cholesky_solve(a, 3, b);
	assert_close(b[0], 1, 1e-14);
	assert_close(b[1], -1, 1e-14);
	assert_close(b[2], 2, 1e-14);
	assert_int_equal(mlops_cholesky_factor(s, 2), MLOPS_EINVALID);
}

/* Rosenbrock, minimum 0 at (1, 1). */
static double rosenbrock(void *ctx, const double *x, double *g)
{
	(void)ctx;
	g[0] = -400 * x[0] * (x[1] - x[0] * x[0]) - 2 * (1 - x[0]);
	g[1] = 200 * (x[1] - x[0] * x[0]);
	return 100 * (x[1] - x[0] * x[0]) * (x[1] - x[0] * x[0]) + (1 - x[0]) * (1 - x[0]);
}

static void test_lbfgs_rosenbrock(void **state)
{
	double x[2] = { -1.2, 1 };
	struct mlops_lbfgs_opts o;
	struct mlops_lbfgs_result r;
	(void)state;

	mlops_lbfgs_opts_init(&o);
	o.gtol = 1e-9;
	o.ftol = 0;
	assert_int_equal(mlops_lbfgs_minimize(x, 2, rosenbrock, NULL, &o, &r), 0);
	assert_true(r.converged);
	assert_close(x[0], 1, 1e-7);
	assert_close(x[1], 1, 1e-7);
	assert_true(r.iterations < 100);
}

/* ---- parsing through a hand-made design ---- */

static void test_encode_values(void **state)
{
	char *cats[] = { "blue", "red" };
	struct mlops_input in[2] = {
		{ "x", MLOPS_INPUT_NUMERIC, 0, 1, 0, NULL, 0 },
		{ "c", MLOPS_INPUT_CATEGORICAL, 0, 0, 2, cats, 1 },
	};
	struct mlops_design d = { 2, in, 3, NULL };
	static const struct { const char *v; double want; } ok[] = {
		{ "1e3", 1000 }, { " 2.5 ", 2.5 }, { "NA", 0 }, { "", 0 }, { "null", 0 },
		{ "-0.5e-1", -0.05 }, { "0.1", 0.1 }, { "+7", 7 }, { ".5", 0.5 }, { "5.", 5 },
		{ "12345678901234567890123", 12345678901234567890123.0 },
		{ "3.14159265358979323846", 3.14159265358979323846 },
		{ "1e-300", 1e-300 }, { "000123", 123 },
	};
	static const char *const notnum[] = { "0x10", "1.2.3", "inf", "nan1", "1e", "-", "1e999", "abc" };
	double x[3];
	(void)state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) {
		struct mlops_cellref f[2] = { { ok[i].v, strlen(ok[i].v) }, { "red", 3 } };
		assert_int_equal(mlops_design_encode_row(x, &d, f), 0);
		if (x[0] != ok[i].want) {
			print_error("'%s' -> %.17g\n", ok[i].v, x[0]);
			fail();
		}
		assert_true(x[1] == 0 && x[2] == 1);
	}
	for (size_t i = 0; i < sizeof(notnum) / sizeof(*notnum); i++) {
		struct mlops_cellref f[2] = { { notnum[i], strlen(notnum[i]) }, { "red", 3 } };
		assert_int_equal(mlops_design_encode_row(x, &d, f), MLOPS_EINVALID);
	}
	assert_non_null(strstr(mlops_error_message(), "of column 'x' is not a number"));
	{
		/* not NUL-terminated: only len bytes count */
		struct mlops_cellref f[2] = { { "12xyz", 2 }, { "bluex", 4 } };
		assert_int_equal(mlops_design_encode_row(x, &d, f), 0);
		assert_true(x[0] == 12 && x[1] == 1 && x[2] == 0);
	}
	{
		struct mlops_cellref f[2] = { { "1", 1 }, { "green", 5 } };
		assert_int_equal(mlops_design_encode_row(x, &d, f), 0);
		assert_true(x[1] == 0 && x[2] == 0);
	}
}

/* ---- ridge ---- */

static void test_ridge_hand(void **state)
{
	/* x = 1..4, y = 2,4,5,8.  Standardised z = (x - 2.5) / sqrt(1.25);
	 * sum z^2 = 4; sum z (y - 4.75) = 9.5 / sqrt(1.25); w = that / (4 + alpha). */
	static const char *const names[] = { "x", "y" };
	static const char *const rows[] = { "1", "2", "2", "4", "3", "5", "4", "8" };
	/* y = 1 + 2a - 3b exactly: alpha 0 recovers std(a) * 2, std(b) * -3 */
	static const char *const names2[] = { "a", "y", "b" };
	static const char *const rows2[] = {
		"0", "-2", "1",   "1", "3", "0",   "2", "-1", "2",
		"3", "4", "1",    "5", "8", "1",
	};
	struct lit l;
	struct mlops_train_opts o;
	struct mlops_model *m;
	(void)state;

	lit_init(&l, names, 2, rows, 4);
	mlops_train_opts_init(&o);
	o.target = "y";
	o.valid_frac = 0;
	assert_int_equal(mlops_model_train(&m, &l.src, &o), 0);
	assert_int_equal(m->design.nfeatures, 1);
	assert_close(m->design.inputs[0].mean, 2.5, 1e-15);
	assert_close(m->design.inputs[0].std, sqrt(1.25), 1e-15);
	assert_close(m->coef[0], 9.5 / sqrt(1.25) / 5, 1e-14);
	assert_close(m->intercept[0], 4.75, 1e-14);
	assert_int_equal(m->nvalid, 0);
	assert_true(isnan(mlops_model_metric(m, "rmse")));
	assert_false(isnan(mlops_model_metric(m, "train_rmse")));
	mlops_model_free(m);

	lit_init(&l, names2, 3, rows2, 5);
	o.alpha = 0;
	assert_int_equal(mlops_model_train(&m, &l.src, &o), 0);
	{
		/* a = 0,1,2,3,5: mean 2.2, var 2.96; b = 1,0,2,1,1: mean 1, var 0.4 */
		assert_string_equal(m->design.inputs[0].name, "a");
		assert_string_equal(m->design.inputs[1].name, "b");
		assert_close(m->coef[0], 2 * sqrt(2.96), 1e-12);
		assert_close(m->coef[1], -3 * sqrt(0.4), 1e-12);
		assert_close(m->intercept[0], 1 + 2 * 2.2 - 3 * 1, 1e-12);
		assert_close(mlops_model_metric(m, "train_r2"), 1, 1e-12);
		assert_close(mlops_model_metric(m, "train_rmse"), 0, 1e-12);
	}
	mlops_model_free(m);
}

static void test_ridge_mixed_sklearn(void **state)
{
	struct csv c;
	struct mlops_train_opts o;
	struct mlops_model *m;
	size_t perm[60], pos[4], first_valid = 0, nv;
	struct mlops_cellref fields[4];
	struct mlops_prediction p;
	double sq = 0;
	(void)state;

	csv_load(&c, FIXTURES "mixed.csv");
	mlops_train_opts_init(&o);
	o.target = "y";
	o.alpha = 2.0;
	o.valid_frac = 0.25;
	o.seed = 5;
	assert_int_equal(mlops_model_train(&m, &c.src, &o), 0);
	assert_int_equal(m->ntrain, MIXED_NTRAIN);
	assert_int_equal(m->nvalid, MIXED_NVALID);
	assert_int_equal(m->design.ninputs, 4);
	assert_int_equal(m->design.inputs[2].std, 1.0); /* constant column */
	assert_int_equal(m->design.inputs[3].type, MLOPS_INPUT_CATEGORICAL);
	assert_int_equal(m->design.inputs[3].ncategories, 3);
	for (size_t k = 0; k < 3; k++)
		assert_string_equal(m->design.inputs[3].categories[k], mixed_categories[k]);
	assert_int_equal(m->design.nfeatures, 6);
	assert_string_equal(m->design.feature_names[4], "color=green");
	for (size_t j = 0; j < 6; j++)
		assert_close(m->coef[j], mixed_coef[j], 1e-10);
	assert_close(m->intercept[0], MIXED_INTERCEPT, 1e-12);
	assert_close(mlops_model_metric(m, "rmse"), MIXED_RMSE, 1e-10);
	assert_close(mlops_model_metric(m, "mae"), MIXED_MAE, 1e-10);
	assert_close(mlops_model_metric(m, "r2"), MIXED_R2, 1e-10);

	/* Serving path: the first validation row (holds the unseen "violet"
	 * when MIXED_VIOLET_IN_VALID) predicts as scikit-learn did. */
	mlops_split_permute(perm, 60, 5);
	nv = mlops_split_valid_count(60, 0.25);
	first_valid = 60;
	for (size_t i = 0; i < nv; i++)
		if (perm[i] < first_valid)
			first_valid = perm[i];
	assert_int_equal(mlops_design_bind(pos, &m->design, (const char *const *)c.names, 5), 0);
	for (size_t j = 0; j < 4; j++)
		fields[j] = c.cells[first_valid * 5 + pos[j]];
	assert_int_equal(mlops_model_predict_row(&p, NULL, m, fields), 0);
	assert_null(p.label);
	assert_close(p.value, MIXED_PRED_VALID0, 1e-10);

	/* Same encoding in training and serving: predict_row over the
	 * training rows reproduces the training rmse. */
	{
		size_t nt = 0;
		unsigned char valid[60] = {0};
		for (size_t i = 0; i < nv; i++)
			valid[perm[i]] = 1;
		for (size_t i = 0; i < 60; i++) {
			double y;
			if (valid[i])
				continue;
			for (size_t j = 0; j < 4; j++)
				fields[j] = c.cells[i * 5 + pos[j]];
			assert_int_equal(mlops_model_predict_row(&p, NULL, m, fields), 0);
			y = strtod(c.cells[i * 5 + 4].ptr, NULL);
			sq += (y - p.value) * (y - p.value);
			nt++;
		}
		assert_close(sqrt(sq / (double)nt), mlops_model_metric(m, "train_rmse"), 1e-13);
	}
	mlops_model_free(m);
	csv_free(&c);
}

/* ---- logistic against scikit-learn ---- */

static struct mlops_model *train_logistic(struct csv *c, uint64_t seed, double C, double tol)
{
	struct mlops_train_opts o;
	struct mlops_model *m = NULL;

	mlops_train_opts_init(&o);
	o.kind = MLOPS_MODEL_LOGISTIC;
	o.target = "target";
	o.C = C;
	o.seed = seed;
	o.tol = tol;
	if (mlops_model_train(&m, &c->src, &o) < 0) {
		print_error("%s\n", mlops_error_message());
		fail();
	}
	return m;
}

static void test_logistic_breast_cancer(void **state)
{
	struct csv c;
	struct mlops_model *m;
	(void)state;

	csv_load(&c, FIXTURES "breast_cancer.csv");
	assert_int_equal(c.nrows, 569);
	m = train_logistic(&c, BC_SEED, 1.0, 1e-9);
	assert_int_equal(m->ntrain, BC_NTRAIN);
	assert_int_equal(m->nvalid, BC_NVALID);
	assert_int_equal(m->nclasses, 2);
	assert_int_equal(m->nout, 1);
	assert_string_equal(m->classes[1], "1");
	assert_true(m->converged);
	for (size_t j = 0; j < 30; j++) {
		assert_close(m->design.inputs[j].mean, bc_mean[j], 1e-13);
		assert_close(m->design.inputs[j].std, bc_std[j], 1e-12);
		assert_close(m->coef[j], bc_coef[j], 1e-6);
	}
	assert_close(m->intercept[0], bc_intercept[0], 1e-6);
	assert_close(mlops_model_metric(m, "accuracy"), BC_ACCURACY, 1e-12);
	assert_close(mlops_model_metric(m, "log_loss"), BC_LOG_LOSS, 1e-7);
	assert_close(mlops_model_metric(m, "f1_macro"), BC_F1_MACRO, 1e-12);
	assert_close(mlops_model_metric(m, "roc_auc"), BC_ROC_AUC, 1e-12);
	assert_close(mlops_model_metric(m, "train_log_loss"), BC_TRAIN_LOG_LOSS, 1e-7);
	mlops_model_free(m);

	/* Default tolerance, against LogisticRegression's defaults: metrics
	 * within 0.01, coefficients near the optimum and sklearn's. */
	c.table.pos = 0;
	m = train_logistic(&c, BC_SEED, 1.0, 1e-6);
	for (size_t j = 0; j < 30; j++) {
		assert_close(m->coef[j], bc_coef[j], 1e-3);
		assert_close(m->coef[j], bc_coef_default[j], 2e-2);
	}
	assert_close(mlops_model_metric(m, "accuracy"), BC_DEFAULT_ACCURACY, 1e-2);
	assert_close(mlops_model_metric(m, "log_loss"), BC_DEFAULT_LOG_LOSS, 1e-2);
	assert_close(mlops_model_metric(m, "f1_macro"), BC_DEFAULT_F1_MACRO, 1e-2);
	assert_close(mlops_model_metric(m, "roc_auc"), BC_DEFAULT_ROC_AUC, 1e-2);
	mlops_model_free(m);
	csv_free(&c);
}

static void test_logistic_wine(void **state)
{
	struct csv c;
	struct mlops_model *m;
	size_t perm[178], pos[13], first_valid = 178;
	struct mlops_cellref fields[13];
	struct mlops_prediction p;
	double proba[3];
	(void)state;

	csv_load(&c, FIXTURES "wine.csv");
	m = train_logistic(&c, WINE_SEED, 0.5, 1e-9);
	assert_int_equal(m->ntrain, WINE_NTRAIN);
	assert_int_equal(m->nvalid, WINE_NVALID);
	assert_int_equal(m->nclasses, 3);
	assert_int_equal(m->nout, 3);
	for (size_t j = 0; j < 13; j++) {
		assert_close(m->design.inputs[j].mean, wine_mean[j], 1e-13);
		assert_close(m->design.inputs[j].std, wine_std[j], 1e-12);
	}
	for (size_t j = 0; j < 3 * 13; j++)
		assert_close(m->coef[j], wine_coef[j], 1e-6);
	for (size_t k = 0; k < 3; k++)
		assert_close(m->intercept[k], wine_intercept[k], 1e-6);
	assert_close(mlops_model_metric(m, "accuracy"), WINE_ACCURACY, 1e-12);
	assert_close(mlops_model_metric(m, "log_loss"), WINE_LOG_LOSS, 1e-7);
	assert_close(mlops_model_metric(m, "f1_macro"), WINE_F1_MACRO, 1e-12);
	assert_close(mlops_model_metric(m, "train_log_loss"), WINE_TRAIN_LOG_LOSS, 1e-7);
	assert_true(isnan(mlops_model_metric(m, "roc_auc")));

	/* Serving: the first validation row's probabilities. */
	mlops_split_permute(perm, 178, WINE_SEED);
	for (size_t i = 0; i < WINE_NVALID; i++)
		if (perm[i] < first_valid)
			first_valid = perm[i];
	assert_int_equal(mlops_design_bind(pos, &m->design, (const char *const *)c.names, 14), 0);
	for (size_t j = 0; j < 13; j++)
		fields[j] = c.cells[first_valid * 14 + pos[j]];
	assert_int_equal(mlops_model_predict_row(&p, proba, m, fields), 0);
	for (size_t k = 0; k < 3; k++)
		assert_close(proba[k], wine_proba_valid0[k], 1e-6);
	assert_string_equal(p.label, "0");
	assert_close(p.value, proba[0], 0);
	mlops_model_free(m);

	c.table.pos = 0;
	m = train_logistic(&c, WINE_SEED, 0.5, 1e-6);
	for (size_t j = 0; j < 3 * 13; j++) {
		assert_close(m->coef[j], wine_coef[j], 1e-3);
		assert_close(m->coef[j], wine_coef_default[j], 2e-2);
	}
	assert_close(mlops_model_metric(m, "accuracy"), WINE_DEFAULT_ACCURACY, 1e-2);
	assert_close(mlops_model_metric(m, "log_loss"), WINE_DEFAULT_LOG_LOSS, 1e-2);
	assert_close(mlops_model_metric(m, "f1_macro"), WINE_DEFAULT_F1_MACRO, 1e-2);
	mlops_model_free(m);
	csv_free(&c);
}

/* Gradient blocks are reduced in a fixed order: threads change nothing. */
static void test_logistic_threads_deterministic(void **state)
{
	struct mlops_matrix *X;
	size_t n = 20000, d = 5, *y = malloc(n * sizeof(size_t));
	double w1[15], b1[3], w2[15], b2[3];
	uint64_t s = 1;
	(void)state;

	assert_int_equal(mlops_matrix_new(&X, n, d), 0);
	for (size_t i = 0; i < n; i++) {
		double z = 0;
		for (size_t j = 0; j < d; j++) {
			s = s * 6364136223846793005ULL + 1442695040888963407ULL;
			X->data[i * d + j] = (double)(s >> 11) / 9007199254740992.0 - 0.5;
			z += (double)(j + 1) * X->data[i * d + j];
		}
		y[i] = z > 0.3 ? 2 : z > -0.3 ? 1 : 0;
	}
	assert_int_equal(mlops_logistic_fit(w1, b1, NULL, X, y, 3, 1.0, NULL, 1), 0);
	assert_int_equal(mlops_logistic_fit(w2, b2, NULL, X, y, 3, 1.0, NULL, 3), 0);
	assert_memory_equal(w1, w2, sizeof(w1));
	assert_memory_equal(b1, b2, sizeof(b1));
	assert_true(w1[2 * d + 4] > w1[4]); /* class 2 leans on the heaviest feature */
	mlops_matrix_free(X);
	free(y);
}

/* ---- model JSON ---- */

static char *model_text(const struct mlops_model *m)
{
	cJSON *j;
	char *s;

	assert_int_equal(mlops_model_to_json(&j, m), 0);
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	assert_non_null(s);
	return s;
}

static void test_model_json_round_trip(void **state)
{
	struct csv c;
	struct mlops_model *m, *m2;
	struct mlops_train_opts o;
	char *s1, *s2;
	(void)state;

	csv_load(&c, FIXTURES "wine.csv");
	m = train_logistic(&c, WINE_SEED, 0.5, 1e-6);
	s1 = model_text(m);
	assert_int_equal(mlops_model_parse(&m2, s1, strlen(s1)), 0);
	s2 = model_text(m2);
	assert_string_equal(s1, s2);
	assert_memory_equal(m->coef, m2->coef, 39 * sizeof(double));
	assert_memory_equal(m->intercept, m2->intercept, 3 * sizeof(double));
	assert_true(mlops_model_metric(m2, "accuracy") == mlops_model_metric(m, "accuracy"));
	assert_int_equal(m2->nclasses, 3);
	assert_int_equal(m2->iterations, m->iterations);
	assert_non_null(strstr(s1, "\"task\":\"classification\""));
	free(s1);
	free(s2);
	mlops_model_free(m);
	mlops_model_free(m2);
	csv_free(&c);

	csv_load(&c, FIXTURES "mixed.csv");
	mlops_train_opts_init(&o);
	o.target = "y";
	assert_int_equal(mlops_model_train(&m, &c.src, &o), 0);
	s1 = model_text(m);
	assert_int_equal(mlops_model_parse(&m2, s1, strlen(s1)), 0);
	s2 = model_text(m2);
	assert_string_equal(s1, s2);
	assert_int_equal(m2->design.inputs[3].type, MLOPS_INPUT_CATEGORICAL);
	assert_non_null(strstr(s1, "\"features\":[\"x1\",\"x2\",\"const\",\"color=blue\""));
	free(s1);
	free(s2);
	mlops_model_free(m);
	mlops_model_free(m2);
	csv_free(&c);
}

static const char good_model[] =
	"{\"format\":\"mlops-model\",\"version\":1,\"kind\":\"logistic\","
	"\"task\":\"classification\",\"target\":\"t\","
	"\"inputs\":[{\"name\":\"x\",\"type\":\"numeric\",\"mean\":1,\"std\":2},"
	"{\"name\":\"c\",\"type\":\"categorical\",\"categories\":[\"a\",\"b\"]}],"
	"\"features\":[\"x\",\"c=a\",\"c=b\"],\"classes\":[\"no\",\"yes\"],"
	"\"coefficients\":[[1,2,-1]],\"intercepts\":[0.5],"
	"\"params\":{\"C\":1,\"max_iter\":100,\"tol\":1e-6,\"valid_frac\":0.2,\"seed\":0},"
	"\"training\":{\"rows\":10,\"train_rows\":8,\"valid_rows\":2,\"iterations\":7,"
	"\"converged\":true},\"metrics\":{\"accuracy\":0.5}}";

static void test_model_json_hand(void **state)
{
	struct mlops_model *m;
	struct mlops_prediction p;
	struct mlops_cellref f[2] = { { "3", 1 }, { "b", 1 } };
	double proba[2];
	(void)state;

	assert_int_equal(mlops_model_parse(&m, good_model, strlen(good_model)), 0);
	/* z = 1 * (3 - 1) / 2 + (-1) + 0.5 = 0.5 */
	assert_int_equal(mlops_model_predict_row(&p, proba, m, f), 0);
	assert_string_equal(p.label, "yes");
	assert_close(proba[1], 1 / (1 + exp(-0.5)), 1e-15);
	assert_close(proba[0] + proba[1], 1, 1e-15);
	f[0] = (struct mlops_cellref){ "oops", 4 };
	assert_int_equal(mlops_model_predict_row(&p, proba, m, f), MLOPS_EINVALID);
	mlops_model_free(m);
}

/* Replace the first occurrence of `from` in good_model by `to`. */
static char *mutate(const char *from, const char *to)
{
	const char *at = strstr(good_model, from);
	char *s;

	assert_non_null(at);
	s = malloc(sizeof(good_model) + strlen(to));
	memcpy(s, good_model, (size_t)(at - good_model));
	strcpy(s + (at - good_model), to);
	strcat(s, at + strlen(from));
	return s;
}

static void test_model_json_malformed(void **state)
{
	static const char *const cases[][3] = {
		{ "\"version\":1", "\"version\":2", "version" },
		{ "mlops-model", "other", "format" },
		{ "\"kind\":\"logistic\"", "\"kind\":\"tree\"", "kind" },
		{ "\"task\":\"classification\"", "\"task\":\"regression\"", "task" },
		{ "\"std\":2", "\"std\":0", "std" },
		{ "\"std\":2", "\"std\":\"2\"", "std" },
		{ "\"mean\":1,", "", "mean" },
		{ "[\"a\",\"b\"]", "[\"b\",\"a\"]", "sorted" },
		{ "\"type\":\"numeric\"", "\"type\":\"text\"", "type" },
		{ "\"c=b\"]", "\"c=z\"]", "features" },
		{ "[\"no\",\"yes\"]", "[\"yes\",\"yes\"]", "twice" },
		{ "[\"no\",\"yes\"]", "[\"yes\"]", "two" },
		{ "[[1,2,-1]]", "[[1,2]]", "coefficients" },
		{ "[[1,2,-1]]", "[[1,2,-1],[1,2,3]]", "coefficients" },
		{ "[[1,2,-1]]", "[[1,null,-1]]", "coefficients" },
		{ "\"intercepts\":[0.5],", "", "intercepts" },
		{ "\"seed\":0", "\"seed\":-1", "seed" },
		{ "\"converged\":true", "\"converged\":1", "converged" },
		{ "{\"accuracy\":0.5}", "{\"accuracy\":\"high\"}", "accuracy" },
		{ "\"target\":\"t\"", "\"target\":\"x\"", "target" },
		{ "\"name\":\"c\"", "\"name\":\"x\"", "duplicate" },
		{ "\"inputs\":[", "\"inputs\":[1,", "object" },
	};
	struct mlops_model *m = (void *)1;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		char *s = mutate(cases[i][0], cases[i][1]);
		int rc = mlops_model_parse(&m, s, strlen(s));
		if (rc != MLOPS_EINVALID || m || !strstr(mlops_error_message(), "invalid model") ||
		    !strstr(mlops_error_message(), cases[i][2])) {
			print_error("case %zu: rc %d, message '%s'\n", i, rc, mlops_error_message());
			fail();
		}
		free(s);
	}
	assert_int_equal(mlops_model_parse(&m, "{\"format\":", 11), MLOPS_EINVALID);
	assert_int_equal(mlops_model_parse(&m, "[]", 2), MLOPS_EINVALID);
}

/* Missing numbers are left out of the fit and encode as the mean;
 * numeric labels sort as numbers. */
static void test_train_missing_and_labels(void **state)
{
	static const char *const names[] = { "x", "c", "y" };
	static const char *const rows[] = {
		"1", "a", "9",    "NA", "b", "10",   "3", "a", "9",
		"", "b", "10",    "5", "", "10",     "7", "b", "9",
	};
	struct lit l;
	struct mlops_train_opts o;
	struct mlops_model *m;
	struct mlops_prediction p;
	struct mlops_cellref f[2] = { { "n/a", 3 }, { "zzz", 3 } };
	double proba[2];
	(void)state;

	lit_init(&l, names, 3, rows, 6);
	mlops_train_opts_init(&o);
	o.kind = MLOPS_MODEL_LOGISTIC;
	o.target = "y";
	o.valid_frac = 0;
	assert_int_equal(mlops_model_train(&m, &l.src, &o), 0);
	/* x over 1, 3, 5, 7: mean 4, population variance 5 */
	assert_close(m->design.inputs[0].mean, 4, 1e-15);
	assert_close(m->design.inputs[0].std, sqrt(5), 1e-15);
	assert_int_equal(m->design.inputs[1].type, MLOPS_INPUT_CATEGORICAL);
	assert_int_equal(m->design.inputs[1].ncategories, 2);
	assert_string_equal(m->classes[0], "9");
	assert_string_equal(m->classes[1], "10");
	/* all-missing / unseen row: only the intercept speaks */
	assert_int_equal(mlops_model_predict_row(&p, proba, m, f), 0);
	assert_close(proba[1], 1 / (1 + exp(-m->intercept[0])), 1e-15);
	assert_string_equal(p.label, m->intercept[0] > 0 ? "10" : "9");
	mlops_model_free(m);
}

/* ---- bad data and options ---- */

static void test_train_errors(void **state)
{
	static const char *const names[] = { "x", "y" };
	static const char *const bad_y[] = { "1", "2", "2", "abc", "3", "4" };
	static const char *const one_class[] = { "1", "a", "2", "a", "3", "a" };
	struct lit l;
	struct mlops_train_opts o;
	struct mlops_model *m;
	(void)state;

	mlops_train_opts_init(&o);
	o.valid_frac = 0;
	lit_init(&l, names, 2, bad_y, 3);
	o.target = "nope";
	assert_int_equal(mlops_model_train(&m, &l.src, &o), MLOPS_ENOTFOUND);
	o.target = "y";
	assert_int_equal(mlops_model_train(&m, &l.src, &o), MLOPS_EINVALID);
	assert_null(m);
	assert_string_equal(mlops_error_message(), "line 3: target 'y' is not a number: 'abc'");
	lit_init(&l, names, 2, one_class, 3);
	o.kind = MLOPS_MODEL_LOGISTIC;
	assert_int_equal(mlops_model_train(&m, &l.src, &o), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "single class"));
	l.table.pos = 0;
	o.C = 0;
	assert_int_equal(mlops_model_train(&m, &l.src, &o), MLOPS_EUSAGE);
	o.C = 1;
	o.valid_frac = 1;
	assert_int_equal(mlops_model_train(&m, &l.src, &o), MLOPS_EUSAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_permutation),
		cmocka_unit_test(test_metrics_regression),
		cmocka_unit_test(test_metrics_classification),
		cmocka_unit_test(test_metrics_roc_auc),
		cmocka_unit_test(test_cholesky),
		cmocka_unit_test(test_lbfgs_rosenbrock),
		cmocka_unit_test(test_encode_values),
		cmocka_unit_test(test_ridge_hand),
		cmocka_unit_test(test_ridge_mixed_sklearn),
		cmocka_unit_test(test_logistic_breast_cancer),
		cmocka_unit_test(test_logistic_wine),
		cmocka_unit_test(test_logistic_threads_deterministic),
		cmocka_unit_test(test_model_json_round_trip),
		cmocka_unit_test(test_model_json_hand),
		cmocka_unit_test(test_model_json_malformed),
		cmocka_unit_test(test_train_missing_and_labels),
		cmocka_unit_test(test_train_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
