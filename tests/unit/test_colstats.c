/*
 * test_colstats.c - column profiles (core/colstats.h) and their HTML page
 * (core/statshtml.h): a small fixture against hand-computed numbers, a
 * generated fixture against pandas' describe(), value_counts() and
 * numpy.histogram() (tests/fixtures/csv/gen_profile.py wrote both), the
 * estimated paths on a stream larger than the exact bounds, and HTML
 * escaping.
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
#include <unistd.h>

#include "core/colstats.h"
#include "core/csv.h"
#include "core/statshtml.h"
#include "store/error.h"

#define FIXTURES "tests/fixtures/csv/"

static const cJSON *column(const cJSON *stats, const char *name)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, cJSON_GetObjectItem(stats, "columns"))
		if (strcmp(cJSON_GetObjectItem(c, "name")->valuestring, name) == 0)
			return c;
	fail_msg("no column '%s'", name);
	return NULL;
}

static double num(const cJSON *obj, const char *key)
{
	const cJSON *n = cJSON_GetObjectItem(obj, key);
	if (!cJSON_IsNumber(n))
		fail_msg("'%s' is not a number", key);
	return n->valuedouble;
}

static const char *str(const cJSON *obj, const char *key)
{
	const cJSON *s = cJSON_GetObjectItem(obj, key);
	if (!cJSON_IsString(s))
		fail_msg("'%s' is not a string", key);
	return s->valuestring;
}

static void near(double got, double want, double rel, const char *what)
{
	double tol = rel * fmax(1.0, fabs(want));
	if (!(fabs(got - want) <= tol))
		fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

static void expect_numbers(const cJSON *col, double mean, double std, double min, double p25,
			   double p50, double p75, double max)
{
	near(num(col, "mean"), mean, 1e-12, "mean");
	near(num(col, "std"), std, 1e-12, "std");
	near(num(col, "min"), min, 0, "min");
	near(num(col, "p25"), p25, 1e-12, "p25");
	near(num(col, "p50"), p50, 1e-12, "p50");
	near(num(col, "p75"), p75, 1e-12, "p75");
	near(num(col, "max"), max, 0, "max");
}

static void expect_top(const cJSON *col, size_t i, const char *value, double count)
{
	const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(col, "top"), (int)i);
	assert_non_null(t);
	assert_string_equal(str(t, "value"), value);
	assert_int_equal((int)num(t, "count"), (int)count);
}

static void expect_hist(const cJSON *col, size_t nonzero, const size_t *bins)
{
	const cJSON *counts = cJSON_GetObjectItem(cJSON_GetObjectItem(col, "histogram"), "counts");
	size_t k = 0;
	assert_int_equal(cJSON_GetArraySize(counts), MLOPS_COLSTATS_BINS);
	for (int i = 0; i < MLOPS_COLSTATS_BINS; i++) {
		double c = cJSON_GetArrayItem(counts, i)->valuedouble;
		if (k < nonzero && (size_t)i == bins[k]) {
			assert_true(c == 1);
			k++;
		} else {
			assert_true(c == 0);
		}
	}
}

/* tests/fixtures/csv/small.csv, computed by hand. */
static void test_small_fixture(void **state)
{
	cJSON *st;
	const cJSON *c, *h;
	(void)state;
	assert_int_equal(mlops_colstats_from_file(&st, FIXTURES "small.csv"), 0);
	assert_int_equal((int)num(st, "rows"), 5);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(st, "columns")), 7);

	c = column(st, "id"); /* 1..5 */
	assert_string_equal(str(c, "type"), "integer");
	assert_int_equal((int)num(c, "count"), 5);
	assert_int_equal((int)num(c, "distinct"), 5);
	expect_numbers(c, 3, sqrt(2.5), 1, 2, 3, 4, 5);
	expect_hist(c, 5, (const size_t[]){ 0, 5, 10, 15, 19 });

	c = column(st, "price"); /* 2.5 3.5 NA 10 4 */
	assert_string_equal(str(c, "type"), "float");
	assert_int_equal((int)num(c, "count"), 4);
	assert_int_equal((int)num(c, "missing"), 1);
	/* mean 5; squares 6.25 + 2.25 + 1 + 25 = 34.5, / 3; (n-1)q = .75, 1.5, 2.25 */
	expect_numbers(c, 5, sqrt(11.5), 2.5, 3.25, 3.75, 5.5, 10);
	/* width 0.375: 2.5 -> 0, 3.5 -> 2, 4.0 on edge 4, 10 -> last */
	expect_hist(c, 4, (const size_t[]){ 0, 2, 4, 19 });
	near(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "histogram"), "edges"), 1)
		     ->valuedouble, 2.875, 0, "edge 1");

	c = column(st, "qty"); /* 3 "" 5 7 1 */
	assert_string_equal(str(c, "type"), "integer");
	assert_int_equal((int)num(c, "missing"), 1);
	expect_numbers(c, 4, sqrt(20.0 / 3), 1, 2.5, 4, 5.5, 7);

	c = column(st, "flag");
	assert_string_equal(str(c, "type"), "boolean");
	assert_int_equal((int)num(c, "distinct"), 2);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(c, "mean")));
	expect_top(c, 0, "true", 3);
	expect_top(c, 1, "false", 2);

	c = column(st, "when");
	assert_string_equal(str(c, "type"), "datetime");
	assert_string_equal(str(c, "min"), "2024-01-01");
	assert_string_equal(str(c, "p25"), "2024-01-02");
	assert_string_equal(str(c, "p50"), "2024-01-03");
	assert_string_equal(str(c, "mean"), "2024-01-03");
	assert_string_equal(str(c, "p75"), "2024-01-04");
	assert_string_equal(str(c, "max"), "2024-01-05");
	near(num(c, "std"), sqrt(2.5) * 86400, 1e-12, "std in seconds");

	c = column(st, "color");
	assert_string_equal(str(c, "type"), "categorical");
	assert_int_equal((int)num(c, "distinct"), 3);
	expect_top(c, 0, "red", 3);
	expect_top(c, 1, "blue", 1); /* ties by value */
	expect_top(c, 2, "green", 1);
	h = cJSON_GetObjectItem(c, "histogram");
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(h, "values"), 0)->valuestring, "red");
	assert_int_equal((int)cJSON_GetArrayItem(cJSON_GetObjectItem(h, "counts"), 0)->valuedouble, 3);
	assert_int_equal((int)num(h, "other"), 0);

	c = column(st, "note");
	assert_string_equal(str(c, "type"), "text");
	assert_int_equal((int)num(c, "count"), 4);
	assert_int_equal((int)num(c, "missing"), 1);
	expect_top(c, 0, "a, b", 1);
	expect_top(c, 2, "say \"hi\"", 1);
	cJSON_Delete(st);
}

/* tests/fixtures/csv/profile.csv against pandas (profile_expected.json). */
static void test_against_pandas(void **state)
{
	FILE *f = fopen(FIXTURES "profile_expected.json", "rb");
	char *text;
	long size;
	cJSON *exp, *st;
	const cJSON *e;
	static const char *const keys[] = { "mean", "std", "min", "p25", "p50", "p75", "max" };
	(void)state;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	text = malloc((size_t)size + 1);
	assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
	text[size] = '\0';
	fclose(f);
	exp = cJSON_Parse(text);
	free(text);
	assert_non_null(exp);

	assert_int_equal(mlops_colstats_from_file(&st, FIXTURES "profile.csv"), 0);
	assert_int_equal((int)num(st, "rows"), (int)num(exp, "rows"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(exp, "columns")),
			 cJSON_GetArraySize(cJSON_GetObjectItem(st, "columns")));
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(exp, "columns")) {
		const cJSON *c = column(st, e->string), *t, *hist;
		const cJSON *top_counts = cJSON_GetObjectItem(e, "top_counts");
		int i = 0;
		print_message("column %s\n", e->string);
		assert_string_equal(str(c, "type"), str(e, "type"));
		assert_int_equal((int)num(c, "count"), (int)num(e, "count"));
		assert_int_equal((int)num(c, "missing"), (int)num(e, "missing"));
		assert_int_equal((int)num(c, "distinct"), (int)num(e, "distinct"));
		assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c, "distinct_exact")));
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
			const cJSON *want = cJSON_GetObjectItem(e, keys[k]);
			if (cJSON_IsNumber(want) && strcmp(str(e, "type"), "datetime") != 0)
				near(num(c, keys[k]), want->valuedouble, 1e-9, keys[k]);
			else if (cJSON_IsString(want))
				assert_string_equal(str(c, keys[k]), want->valuestring);
		}
		if (strcmp(str(e, "type"), "datetime") == 0)
			near(num(c, "std"), num(e, "std"), 1e-9, "std");
		/* top: counts in pandas' order; a value's count where pandas names it */
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c, "top")),
				 cJSON_GetArraySize(top_counts));
		cJSON_ArrayForEach(t, cJSON_GetObjectItem(c, "top")) {
			const cJSON *named = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "top"),
								  str(t, "value"));
			assert_int_equal((int)num(t, "count"),
					 (int)cJSON_GetArrayItem(top_counts, i)->valuedouble);
			if (named)
				assert_int_equal((int)num(t, "count"), (int)named->valuedouble);
			i++;
		}
		hist = cJSON_GetObjectItem(e, "histogram");
		if (hist) {
			const cJSON *mine = cJSON_GetObjectItem(c, "histogram");
			const cJSON *me = cJSON_GetObjectItem(mine, "edges");
			const cJSON *mc = cJSON_GetObjectItem(mine, "counts");
			const cJSON *pe = cJSON_GetObjectItem(hist, "edges");
			const cJSON *pc = cJSON_GetObjectItem(hist, "counts");
			assert_int_equal(cJSON_GetArraySize(me), cJSON_GetArraySize(pe));
			assert_int_equal(cJSON_GetArraySize(mc), cJSON_GetArraySize(pc));
			for (int k = 0; k < cJSON_GetArraySize(pe); k++)
				near(cJSON_GetArrayItem(me, k)->valuedouble,
				     cJSON_GetArrayItem(pe, k)->valuedouble, 1e-12, "edge");
			for (int k = 0; k < cJSON_GetArraySize(pc); k++)
				assert_int_equal((int)cJSON_GetArrayItem(mc, k)->valuedouble,
						 (int)cJSON_GetArrayItem(pc, k)->valuedouble);
		}
	}
	/* a constant column has one bin */
	{
		const cJSON *h = cJSON_GetObjectItem(column(st, "const"), "histogram");
		assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "counts")), 1);
		assert_int_equal((int)cJSON_GetArrayItem(cJSON_GetObjectItem(h, "counts"), 0)->valuedouble, 2001);
	}
	cJSON_Delete(st);
	cJSON_Delete(exp);
}

/*
 * Past the exact bounds: 200,000 rows of a sequence (known quantiles,
 * all distinct), a heavy hitter among unique strings, and a column of
 * few values (stays exact).
 */
/* Feed the three columns of test_estimates to a profile using `threads`. */
static struct mlops_colstats *estimates_profile(int threads)
{
	const char *const names[] = { "seq", "heavy", "small" };
	struct mlops_colstats *st;
	const uint64_t n = 200000;
	char a[32], b[32], s[32];

	assert_int_equal(mlops_colstats_new(&st, names, 3), 0);
	assert_int_equal(mlops_colstats_set_threads(st, threads), 0);
	for (uint64_t i = 0; i < n; i++) {
		/* a permutation of 0..n-1, so that the order is not sorted */
		uint64_t v = (i * 7919) % n;
		struct mlops_csv_field f[3];
		f[0].len = (size_t)snprintf(a, sizeof(a), "%llu", (unsigned long long)v);
		f[0].ptr = a;
		if (i % 3 == 0)
			f[1].len = (size_t)snprintf(b, sizeof(b), "hot");
		else
			f[1].len = (size_t)snprintf(b, sizeof(b), "u%llu", (unsigned long long)i);
		f[1].ptr = b;
		f[2].len = (size_t)snprintf(s, sizeof(s), "%llu", (unsigned long long)(i % 10));
		f[2].ptr = s;
		assert_int_equal(mlops_colstats_add_row(st, f, 3), 0);
	}
	assert_int_equal(mlops_colstats_finish(st), 0);
	return st;
}

static void test_estimates(void **state)
{
	struct mlops_colstats *st = estimates_profile(1);
	const struct mlops_column_stats *c;
	const uint64_t n = 200000;
	uint64_t sum = 0;
	(void)state;

	assert_int_equal(mlops_colstats_rows(st), n);

	c = mlops_colstats_column(st, 0);
	assert_int_equal(c->type, MLOPS_COL_INTEGER);
	assert_false(c->quantiles_exact);
	assert_false(c->distinct_exact);
	near(c->mean, (n - 1) / 2.0, 1e-12, "mean");
	near(c->std, sqrt(((double)n * n - 1) / 12 * n / (n - 1)), 1e-9, "std");
	assert_true(c->min == 0 && c->max == n - 1);
	/* documented rank error 0.53% at 95%; allow twice that */
	near(c->p25, 0.25 * (n - 1), 0.0106 * n / ((n - 1) * 0.25), "p25");
	assert_true(fabs(c->p50 - 0.5 * (n - 1)) < 0.0106 * n);
	assert_true(fabs(c->p75 - 0.75 * (n - 1)) < 0.0106 * n);
	assert_true(fabs((double)c->distinct - n) < 0.03 * n);
	assert_int_equal(c->nbins, MLOPS_COLSTATS_BINS);
	for (size_t i = 0; i < c->nbins; i++) {
		sum += c->counts[i];
		assert_true(fabs((double)c->counts[i] - n / 20.0) < 0.1 * n / 20.0);
	}
	assert_int_equal(sum, n);

	c = mlops_colstats_column(st, 1);
	assert_int_equal(c->type, MLOPS_COL_TEXT);
	assert_false(c->top_exact);
	assert_string_equal(c->top[0].value, "hot");
	/* Misra-Gries: short by at most n / (k + 1) */
	assert_true(c->top[0].count <= (n + 2) / 3);
	assert_true(c->top[0].count + n / (MLOPS_COLSTATS_MG + 1) >= (n + 2) / 3);
	assert_true(fabs((double)c->distinct - (1 + n * 2 / 3.0)) < 0.03 * n);

	c = mlops_colstats_column(st, 2);
	assert_true(c->distinct_exact && c->top_exact);
	assert_false(c->quantiles_exact);
	assert_int_equal(c->distinct, 10);
	assert_int_equal(c->top[0].count, n / 10);
	near(c->mean, 4.5, 1e-12, "mean");
	assert_true(c->p50 >= 4 && c->p50 <= 5);
	mlops_colstats_free(st);
}

/* Threads change the speed, never the result. */
static void test_threads_same_result(void **state)
{
	char *text[3];
	int threads[3] = { 1, 2, 3 };
	(void)state;
	for (int k = 0; k < 3; k++) {
		struct mlops_colstats *st = estimates_profile(threads[k]);
		cJSON *j = mlops_colstats_to_json(st);
		text[k] = cJSON_PrintUnformatted(j);
		cJSON_Delete(j);
		mlops_colstats_free(st);
	}
	assert_string_equal(text[0], text[1]);
	assert_string_equal(text[0], text[2]);
	for (int k = 0; k < 3; k++)
		free(text[k]);
}

/*
 * Columns a, b, c, d over 200,000 rows, where b is empty before row 100
 * and c and d before row 150,000.  With `late`, b, c and d are added
 * only where they start (JSON lines' keys first seen midway), else they
 * are there from the start with empty fields.
 */
static char *late_columns_json(int threads, int late)
{
	const char *const names[] = { "a", "b", "c", "d" };
	struct mlops_colstats *st;
	char v[4][32];
	cJSON *j;
	char *text;
	size_t ncols = late ? 1 : 4;

	assert_int_equal(mlops_colstats_new(&st, names, ncols), 0);
	assert_int_equal(mlops_colstats_set_threads(st, threads), 0);
	for (uint64_t i = 0; i < 200000; i++) {
		struct mlops_csv_field f[4];
		if (late && i == 100) {
			assert_int_equal(mlops_colstats_add_columns(st, names + 1, 1), 0);
			ncols = 2;
		}
		if (late && i == 150000) {
			assert_int_equal(mlops_colstats_add_columns(st, names + 2, 2), 0);
			ncols = 4;
		}
		f[0].len = (size_t)snprintf(v[0], sizeof(v[0]), "%llu", (unsigned long long)((i * 7919) % 200000));
		f[1].len = i >= 100 && i % 2 ? (size_t)snprintf(v[1], sizeof(v[1]), "k%llu", (unsigned long long)(i % 5)) : 0;
		f[2].len = i >= 150000 ? (size_t)snprintf(v[2], sizeof(v[2]), "%.1f", (double)(i % 1000) / 4) : 0;
		f[3].len = i >= 150000 && i % 3 ? (size_t)snprintf(v[3], sizeof(v[3]), "true") : 0;
		for (int k = 0; k < 4; k++)
			f[k].ptr = v[k];
		assert_int_equal(mlops_colstats_add_row(st, f, ncols), 0);
	}
	assert_int_equal(mlops_colstats_finish(st), 0);
	assert_int_equal(mlops_colstats_add_columns(st, names, 1), MLOPS_EUSAGE);
	assert_int_equal(mlops_colstats_ncols(st), 4);
	assert_int_equal(mlops_colstats_column(st, 1)->missing, 100 + 99950);
	assert_int_equal(mlops_colstats_column(st, 2)->count, 50000);
	assert_int_equal(mlops_colstats_column(st, 2)->missing, 150000);
	near(mlops_colstats_column(st, 2)->mean, 124.875, 1e-12, "c mean");
	assert_int_equal(mlops_colstats_column(st, 3)->type, MLOPS_COL_BOOLEAN);
	j = mlops_colstats_to_json(st);
	text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	mlops_colstats_free(st);
	return text;
}

static void test_add_columns(void **state)
{
	char *want = late_columns_json(1, 0);
	(void)state;
	for (int threads = 1; threads <= 3; threads++) {
		char *got = late_columns_json(threads, 1);
		assert_string_equal(got, want);
		free(got);
	}
	free(want);
}

/* A table that starts with no column ("{}" first) and gets them later. */
static void test_add_columns_from_none(void **state)
{
	const char *const names[] = { "x" };
	struct mlops_colstats *st;
	struct mlops_csv_field f = { "2", 1 };
	(void)state;
	assert_int_equal(mlops_colstats_new(&st, NULL, 0), 0);
	assert_int_equal(mlops_colstats_add_row(st, NULL, 0), 0);
	assert_int_equal(mlops_colstats_add_columns(st, names, 0), 0);
	assert_int_equal(mlops_colstats_add_columns(st, names, 1), 0);
	assert_int_equal(mlops_colstats_add_row(st, NULL, 0), MLOPS_EINVALID);
	assert_int_equal(mlops_colstats_add_row(st, &f, 1), 0);
	assert_int_equal(mlops_colstats_finish(st), 0);
	assert_int_equal(mlops_colstats_rows(st), 2);
	assert_int_equal(mlops_colstats_column(st, 0)->count, 1);
	assert_int_equal(mlops_colstats_column(st, 0)->missing, 1);
	mlops_colstats_free(st);
}

static void add_column(struct mlops_colstats *st, const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct mlops_csv_field f = { values[i], strlen(values[i]) };
		assert_int_equal(mlops_colstats_add_row(st, &f, 1), 0);
	}
}

static const struct mlops_column_stats *profile(struct mlops_colstats **st,
						const char *const *values, size_t n)
{
	const char *name = "x";
	assert_int_equal(mlops_colstats_new(st, &name, 1), 0);
	add_column(*st, values, n);
	assert_int_equal(mlops_colstats_finish(*st), 0);
	return mlops_colstats_column(*st, 0);
}

#define PROFILE(st, ...) \
	profile(&st, (const char *const[]){ __VA_ARGS__ }, \
		sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

static void test_missing_and_types(void **state)
{
	struct mlops_colstats *st;
	const struct mlops_column_stats *c;
	(void)state;

	c = PROFILE(st, "", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "null", "NULL",
		    "None", "<NA>", "#N/A", "#NA", "#N/A N/A", "1.#IND", "-1.#IND", "1.#QNAN",
		    "-1.#QNAN");
	assert_int_equal(c->missing, 19);
	assert_int_equal(c->count, 0);
	assert_int_equal(c->type, MLOPS_COL_EMPTY);
	assert_false(c->numeric);
	{
		cJSON *j = mlops_colstats_to_json(st);
		const cJSON *col = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "columns"), 0);
		assert_true(cJSON_IsNull(cJSON_GetObjectItem(col, "histogram")));
		assert_true(cJSON_IsNull(cJSON_GetObjectItem(col, "mean")));
		cJSON_Delete(j);
	}
	mlops_colstats_free(st);

	c = PROFILE(st, "1", "2.5", "-3", "1e2", " 4 ", "+5");
	assert_int_equal(c->type, MLOPS_COL_FLOAT);
	near(c->mean, (1 + 2.5 - 3 + 100 + 4 + 5) / 6.0, 1e-15, "mean");
	mlops_colstats_free(st);

	c = PROFILE(st, "1", "1.0", "2", "2.00", "-0", "0.0");
	assert_int_equal(c->type, MLOPS_COL_FLOAT);
	assert_int_equal(c->distinct, 3); /* 1, 2 and 0 by value, as pandas */
	mlops_colstats_free(st);

	c = PROFILE(st, "1", "2", "x");
	assert_int_equal(c->type, MLOPS_COL_TEXT);
	assert_false(c->numeric);
	mlops_colstats_free(st);

	c = PROFILE(st, "2024-01-01", "5");
	assert_int_equal(c->type, MLOPS_COL_TEXT);
	mlops_colstats_free(st);

	c = PROFILE(st, "2024-02-29T10:00:00Z", "2024-03-01 12:30:15.5+02:00", "2024-03-02T00:00");
	assert_int_equal(c->type, MLOPS_COL_DATETIME);
	assert_true(c->datetime_has_time);
	near(c->min, 1709200800, 0, "min");         /* 2024-02-29T10:00:00Z */
	near(c->max, 1709337600, 0, "max");         /* 2024-03-02T00:00 */
	near(c->p50, 1709289015.5, 0, "median");    /* 2024-03-01T10:30:15.5Z */
	mlops_colstats_free(st);

	/* not dates: 2023-02-29, month 13 */
	c = PROFILE(st, "2023-02-29", "2023-13-01", "2023-01-01");
	assert_int_equal(c->type, MLOPS_COL_TEXT);
	mlops_colstats_free(st);

	c = PROFILE(st, "inf", "-Infinity", "1");
	assert_int_equal(c->type, MLOPS_COL_FLOAT);
	assert_true(isinf(c->min) && c->min < 0 && isinf(c->max));
	mlops_colstats_free(st);

	c = PROFILE(st, "True", "false", "FALSE", "NA");
	assert_int_equal(c->type, MLOPS_COL_BOOLEAN);
	assert_int_equal(c->missing, 1);
	assert_string_equal(c->top[0].value, "false");
	assert_int_equal(c->top[0].count, 2);
	mlops_colstats_free(st);

	c = PROFILE(st, "12345678901234567890", "1");
	assert_int_equal(c->type, MLOPS_COL_FLOAT); /* past int64 */
	mlops_colstats_free(st);

	c = PROFILE(st, "9999999999999999999", "1");
	assert_int_equal(c->type, MLOPS_COL_FLOAT); /* 19 digits, past int64 */
	mlops_colstats_free(st);

	c = PROFILE(st, "-9223372036854775808", "9223372036854775807", "00000000000000000000042");
	assert_int_equal(c->type, MLOPS_COL_INTEGER);
	assert_string_equal(c->top[0].value, "-9223372036854775808");
	assert_string_equal(c->top[1].value, "42");
	mlops_colstats_free(st);

	c = PROFILE(st, "0.1", "0.2", "0.30000000000000004");
	near(c->max, 0.30000000000000004, 0, "correctly rounded");
	near(c->min, 0.1, 0, "0.1");
	mlops_colstats_free(st);

	c = PROFILE(st, "42");
	assert_true(isnan(c->std));
	assert_int_equal(c->nbins, 1);
	mlops_colstats_free(st);
}

static void test_add_row_errors(void **state)
{
	const char *const names[] = { "a", "b" };
	struct mlops_colstats *st;
	struct mlops_csv_field f[2] = { { "1", 1 }, { "2", 1 } };
	(void)state;
	assert_int_equal(mlops_colstats_new(&st, names, 2), 0);
	assert_int_equal(mlops_colstats_add_row(st, f, 1), MLOPS_EINVALID);
	assert_null(mlops_colstats_column(st, 0));
	assert_int_equal(mlops_colstats_add_row(st, f, 2), 0);
	assert_int_equal(mlops_colstats_set_threads(st, 2), MLOPS_EUSAGE);
	assert_int_equal(mlops_colstats_finish(st), 0);
	assert_int_equal(mlops_colstats_add_row(st, f, 2), MLOPS_EUSAGE);
	assert_null(mlops_colstats_column(st, 2));
	mlops_colstats_free(st);
	mlops_colstats_free(NULL);
}

static void test_from_file_errors(void **state)
{
	cJSON *j = (void *)1;
	char path[] = "/tmp/test_colstats_XXXXXX";
	int fd = mkstemp(path);
	(void)state;
	assert_int_equal(mlops_colstats_from_file(&j, "/nonexistent.csv"), MLOPS_ENOTFOUND);
	assert_null(j);
	assert_int_equal(write(fd, "a,b\n1,2\n3\n", 10), 10);
	close(fd);
	assert_int_equal(mlops_colstats_from_file(&j, path), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "line 3: expected 2 fields, found 1"));
	unlink(path);
}

static void test_html(void **state)
{
	static const char evil_csv[] =
		"\"<script>alert(1)</script>\",n,\"a'b\"\n"
		"\"\"\"><img src=x onerror=alert(1)>\",1,x\n"
		"\"</svg><script>x</script>\",2,x\n"
		"&amp;,3,x\n";
	char path[] = "/tmp/test_colstats_XXXXXX";
	int fd = mkstemp(path);
	cJSON *st;
	char *html;
	const char *p;
	int svgs = 0;
	(void)state;
	assert_int_equal(write(fd, evil_csv, sizeof(evil_csv) - 1), (ssize_t)sizeof(evil_csv) - 1);
	close(fd);
	assert_int_equal(mlops_colstats_from_file(&st, path), 0);
	unlink(path);
	assert_int_equal(mlops_stats_html(&html, st, "</title><script>t</script>"), 0);

	assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "<img"));
	assert_null(strstr(html, "href"));
	assert_null(strstr(html, "http:"));
	assert_null(strstr(html, "https:"));
	assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(html, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
	assert_non_null(strstr(html, "&amp;amp;"));
	assert_non_null(strstr(html, "a&#39;b"));
	assert_non_null(strstr(html, "<title>&lt;/title&gt;&lt;script&gt;t&lt;/script&gt;</title>"));
	for (p = html; (p = strstr(p, "<svg")) != NULL; p++)
		svgs++;
	assert_int_equal(svgs, 3);
	/* every closing svg tag is ours */
	for (p = html, svgs = 0; (p = strstr(p, "</svg>")) != NULL; p++)
		svgs++;
	assert_int_equal(svgs, 3);
	free(html);
	cJSON_Delete(st);
}

/* Several tables in one page: each under its escaped path, in order. */
static void test_html_tables(void **state)
{
	cJSON *a, *b, *bad = cJSON_CreateObject();
	struct mlops_stats_html_table t[2];
	char *html, *out = (void *)1;
	const char *p1, *p2;
	(void)state;
	assert_int_equal(mlops_colstats_from_file(&a, FIXTURES "small.csv"), 0);
	assert_int_equal(mlops_colstats_from_file(&b, FIXTURES "profile.csv"), 0);
	t[0].path = "d/small.csv";
	t[0].stats = a;
	t[1].path = "d/<b>&.csv";
	t[1].stats = b;
	assert_int_equal(mlops_stats_html_tables(&html, t, 2, "d@v1"), 0);
	assert_null(strstr(html, "<b>"));
	assert_non_null(strstr(html, "<p class=\"meta\">2 tables</p>"));
	assert_non_null(strstr(html, "<li><a href=\"#table-2\">d/&lt;b&gt;&amp;.csv</a>"));
	p1 = strstr(html, "<h2 class=\"table\" id=\"table-1\">d/small.csv</h2>");
	p2 = strstr(html, "<h2 class=\"table\" id=\"table-2\">d/&lt;b&gt;&amp;.csv</h2>");
	assert_non_null(p1);
	assert_non_null(p2);
	assert_true(p1 < p2);
	/* column headings sit under the table's */
	assert_null(strstr(html, "<section><h2>"));
	assert_non_null(strstr(p1, "<section><h3>"));
	free(html);

	t[1].stats = bad;
	assert_int_equal(mlops_stats_html_tables(&out, t, 2, NULL), MLOPS_EINVALID);
	assert_null(out);
	assert_non_null(strstr(mlops_error_message(), "'d/<b>&.csv'"));
	out = (void *)1;
	assert_int_equal(mlops_stats_html_tables(&out, t, 0, NULL), MLOPS_EINVALID);
	assert_null(out);
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_Delete(bad);
}

static void test_html_escape_direct(void **state)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *m = open_memstream(&buf, &size);
	cJSON *bad = cJSON_CreateObject();
	char *out = (void *)1;
	(void)state;
	assert_int_equal(mlops_html_escape(m, "<a href=\"x\">'&'</a>"), 0);
	fclose(m);
	assert_string_equal(buf, "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
	free(buf);
	assert_int_equal(mlops_stats_html(&out, bad, NULL), MLOPS_EINVALID);
	assert_null(out);
	cJSON_Delete(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_fixture),
		cmocka_unit_test(test_against_pandas),
		cmocka_unit_test(test_estimates),
		cmocka_unit_test(test_threads_same_result),
		cmocka_unit_test(test_add_columns),
		cmocka_unit_test(test_add_columns_from_none),
		cmocka_unit_test(test_missing_and_types),
		cmocka_unit_test(test_add_row_errors),
		cmocka_unit_test(test_from_file_errors),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_html_tables),
		cmocka_unit_test(test_html_escape_direct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
