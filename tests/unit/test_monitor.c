/*
 * test_monitor.c - unit tests of core/monitor*.c and core/baseline.c.
 *
 * Evidence: the number parser against strtod; cases worked out by hand;
 * the figures of checks of the committed tables in tests/fixtures/monitor
 * against SciPy and NumPy (expected.h, written by gen.py, which says how
 * each figure is computed there); a stored baseline that loads back to the
 * same report; and the HTML page's charts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/monitor_internal.h"
#include "store/error.h"
#include "store/json.h"
#include "store_fixture.h"

#include "../fixtures/monitor/expected.h"

#define FIX "tests/fixtures/monitor/"
#define STAT_TOL 1e-9
#define P_TOL 1e-9

static void close_to(double got, double want, double rel, const char *what)
{
	double tol = rel * (fabs(want) > 1 ? fabs(want) : 1);
	if (!(fabs(got - want) <= tol))
		fail_msg("%s: got %.17g, want %.17g", what, got, want);
}

/* ---- values --------------------------------------------------------------- */

static void test_parse_number(void **state)
{
	(void)state;
	static const char *const good[] = {
		"0", "-0", "1", "+7", "0.1", "-2.5", "1e3", "1E-3", "  42 ", ".5", "5.",
		"123456789012345678", "9007199254740993", "1.7976931348623157e308",
		"2.2250738585072014e-308", "4.9e-324", "0.30000000000000004",
		"12345678901234567890123", "3.14159265358979323846264338", "1e22", "1e23",
		"8.589973e9", "-0.000001234",
	};
	static const char *const bad[] = {
		"", " ", "-", "+", ".", "e5", "1e", "1e+", "abc", "1.2.3", "1,5", "inf", "nan",
		"0x10", "1e999", "--1", "1 2",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		double v;
		int k = mon_parse_number(good[i], strlen(good[i]), &v);
		if (!k)
			fail_msg("'%s' not read as a number", good[i]);
		double want = strtod(good[i], NULL);
		if (memcmp(&v, &want, sizeof(v)) && !(v == 0 && want == 0))
			fail_msg("'%s': %.17g, strtod %.17g", good[i], v, want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double v;
		if (mon_parse_number(bad[i], strlen(bad[i]), &v))
			fail_msg("'%s' read as a number", bad[i]);
	}
	double v;
	assert_int_equal(mon_parse_number("12", 2, &v), 1);
	assert_int_equal(mon_parse_number("12.0", 4, &v), 2);
	/* a field is not NUL-terminated: only len bytes count */
	assert_int_equal(mon_parse_number("12,34", 2, &v), 1);
	assert_true(v == 12);
	/* random decimals agree with strtod bit for bit */
	uint64_t s = 99;
	for (int i = 0; i < 20000; i++) {
		char buf[64];
		s = s * 6364136223846793005ULL + 1442695040888963407ULL;
		int digits = 1 + (int)(s >> 60), e = (int)((s >> 20) % 40) - 20;
		snprintf(buf, sizeof(buf), "%.*e", digits, ((double)(s >> 11) / 9007199254740992.0) * pow(10, e));
		double want = strtod(buf, NULL);
		assert_true(mon_parse_number(buf, strlen(buf), &v));
		if (v != want)
			fail_msg("'%s': %.17g, strtod %.17g", buf, v, want);
	}
}

static void test_missing(void **state)
{
	(void)state;
	assert_true(mon_is_missing("", 0));
	assert_true(mon_is_missing("NA", 2));
	assert_true(mon_is_missing("#N/A N/A", 8));
	assert_true(mon_is_missing("-1.#QNAN", 8));
	assert_false(mon_is_missing("NAN", 3));
	assert_false(mon_is_missing("N", 1));
	assert_false(mon_is_missing("0", 1));
}

static void test_bins(void **state)
{
	(void)state;
	const double e[] = { 0, 1, 2, 5 };
	/* end bins take the outside; a value on an inner edge goes right */
	assert_int_equal(mon_bin_of(e, 3, -10), 0);
	assert_int_equal(mon_bin_of(e, 3, 0.5), 0);
	assert_int_equal(mon_bin_of(e, 3, 1), 1);
	assert_int_equal(mon_bin_of(e, 3, 1.9), 1);
	assert_int_equal(mon_bin_of(e, 3, 2), 2);
	assert_int_equal(mon_bin_of(e, 3, 99), 2);
	const double one[] = { 3, 3 };
	assert_int_equal(mon_bin_of(one, 1, 7), 0);
}

static void test_strmap(void **state)
{
	struct mon_strmap m;
	(void)state;
	assert_int_equal(mon_strmap_init(&m, 3), 0);
	assert_int_equal(mon_strmap_add(&m, "a", 1, 2), 0);
	assert_int_equal(mon_strmap_add(&m, "bb", 2, 1), 0);
	assert_int_equal(mon_strmap_add(&m, "a", 1, 1), 0);
	assert_int_equal(mon_strmap_add(&m, "c", 1, 1), 0);
	assert_int_equal(mon_strmap_add(&m, "d", 1, 5), 0); /* full: counted apart */
	assert_int_equal(m.n, 3);
	assert_true(m.full);
	assert_int_equal(m.overflow, 5);
	assert_int_equal(mon_strmap_find(&m, "a", 1), 0);
	assert_int_equal(m.count[0], 3);
	assert_int_equal(mon_strmap_find(&m, "bb", 2), 1);
	assert_int_equal(mon_strmap_find(&m, "b", 1), -1);
	assert_string_equal(mon_strmap_key(&m, 2), "c");
	mon_strmap_free(&m);
}

static void test_default_rule(void **state)
{
	(void)state;
	/* Evidently: small baselines get exact tests, large ones distances */
	assert_int_equal(mlops_monitor_default_test(1, 1000, 6), MLOPS_TEST_KS);
	assert_int_equal(mlops_monitor_default_test(1, 1000, 5), MLOPS_TEST_CHISQUARE);
	assert_int_equal(mlops_monitor_default_test(1, 1000, 2), MLOPS_TEST_Z);
	assert_int_equal(mlops_monitor_default_test(0, 10, 3), MLOPS_TEST_CHISQUARE);
	assert_int_equal(mlops_monitor_default_test(0, 10, 2), MLOPS_TEST_Z);
	assert_int_equal(mlops_monitor_default_test(1, 1001, 6), MLOPS_TEST_WASSERSTEIN);
	assert_int_equal(mlops_monitor_default_test(1, 1001, 5), MLOPS_TEST_JENSENSHANNON);
	assert_int_equal(mlops_monitor_default_test(0, 5000, 50), MLOPS_TEST_JENSENSHANNON);
	enum mlops_monitor_test t;
	assert_int_equal(mlops_monitor_test_parse(&t, "chi2"), 0);
	assert_int_equal(t, MLOPS_TEST_CHISQUARE);
	assert_int_equal(mlops_monitor_test_parse(&t, "anderson"), MLOPS_EUSAGE);
}

static void test_thresholds(void **state)
{
	struct mlops_monitor_thresholds t;
	(void)state;
	mlops_monitor_thresholds_init(&t);
	assert_true(t.psi == 0.2 && t.ks_pvalue == 0.05 && t.wasserstein == 0.1 &&
		    t.jensenshannon == 0.1 && t.chi2_pvalue == 0.05 && t.share == 0.5 &&
		    t.quality_drop == 0.05 && t.quality_pvalue == 0.05);
	assert_int_equal(mlops_monitor_threshold_check("quality_pvalue", 0), MLOPS_EINVALID);
	assert_int_equal(mlops_monitor_threshold_check("quality_pvalue", 1.5), MLOPS_EINVALID);
	assert_int_equal(mlops_monitor_threshold_check("quality_pvalue", 1), 0);
	assert_int_equal(mlops_monitor_threshold_check("ks_pvalue", 0), MLOPS_EINVALID);
	assert_int_equal(mlops_monitor_threshold_check("share", 1.5), MLOPS_EINVALID);
	assert_int_equal(mlops_monitor_threshold_check("psi", -1), MLOPS_EINVALID);
	assert_int_equal(mlops_monitor_threshold_check("psi", 3), 0);
}

/*
 * The test of a quality drop.  Expected values from SciPy:
 * stats.chi2_contingency([[95, 25], [140, 60]], correction=False) (z^2 and
 * twice the one-sided p-value), stats.norm.sf and stats.norm.ppf(0.975).
 */
static void test_quality_test(void **state)
{
	struct mon_quality_test t;
	(void)state;
	close_to(mon_norm_sf(-3), 0.9986501019683699, 1e-15, "sf(-3)");
	close_to(mon_norm_sf(8.5) / 9.47953482220325e-18, 1, 1e-12, "sf(8.5)");
	close_to(mon_norm_sf(30) / 4.906713927147908e-198, 1, 1e-12, "sf(30)");

	/* 95 of 120 validation rows right, 140 of 200 current rows */
	mon_quality_test_accuracy(&t, 95.0 / 120, 120, 140.0 / 200, 200);
	close_to(t.drop, 95.0 / 120 - 0.7, 1e-15, "drop");
	close_to(t.z * t.z, 3.2307050479766373, 1e-12, "z^2 = chi-squared");
	close_to(t.z, 1.797416214452467, 1e-12, "z");
	close_to(t.pvalue, 0.03613478425981673, 1e-12, "pvalue");
	close_to(t.se, 0.04923841281252165, 1e-12, "se");
	close_to(t.ci_low, -0.004838849101791304, 1e-12, "ci_low");
	close_to(t.ci_high, 0.18817218243512465, 1e-12, "ci_high");
	assert_true(t.ci_level == 0.95 && t.n_training == 120 && t.n_current == 200);
	assert_string_equal(t.method, "two-proportion z");

	/* no validation count: the training value is exact (one-sample test) */
	mon_quality_test_accuracy(&t, 0.8, 0, 0.7, 200);
	close_to(t.z, 3.5355339059327404, 1e-12, "one-sample z");
	close_to(t.pvalue, 0.00020347600872247697, 1e-12, "one-sample pvalue");
	close_to(t.se, 0.0324037034920393, 1e-12, "one-sample se");
	assert_true(t.se_training == 0);

	/* both perfect: no spread, no p-value; no rows: nothing */
	mon_quality_test_accuracy(&t, 1, 120, 1, 300);
	assert_true(t.drop == 0 && isnan(t.z) && isnan(t.pvalue));
	mon_quality_test_accuracy(&t, 0.8, 120, NAN, 0);
	assert_true(isnan(t.drop) && isnan(t.se) && isnan(t.pvalue));

	/* rmse 1.9 on 120 rows, 2.1 on 300, cv 1.5 */
	mon_quality_test_rmse(&t, 1.9, 120, 2.1, 300, 1.5);
	assert_string_equal(t.method, "normal");
	close_to(t.drop, 0.2, 1e-14, "rmse drop");
	close_to(t.se, 0.15871554744258673, 1e-12, "rmse se");
	close_to(t.z, 1.2601159950782226, 1e-12, "rmse z");
	close_to(t.pvalue, 0.10381376048301233, 1e-12, "rmse pvalue");
	mon_quality_test_rmse(&t, 1.9, 120, 2.1, 1, 1.5);
	assert_true(isnan(t.pvalue));
	mon_quality_test_rmse(&t, 1.9, 120, 2.1, 300, NAN);
	assert_true(isnan(t.pvalue));
}

static void test_time_parse(void **state)
{
	double t;
	(void)state;
	assert_int_equal(mlops_monitor_time_parse(&t, "2026-01-02", 0), 0);
	assert_true(t == 1767312000);
	assert_int_equal(mlops_monitor_time_parse(&t, "2026-01-02T03:04:05Z", 0), 0);
	assert_true(t == 1767312000 + 3 * 3600 + 4 * 60 + 5);
	assert_int_equal(mlops_monitor_time_parse(&t, "2026-01-02T03:04:05.250Z", 0), 0);
	assert_true(t == 1767312000 + 3 * 3600 + 4 * 60 + 5.25);
	assert_int_equal(mlops_monitor_time_parse(&t, "2026-01-02T03:04:05+02:00", 0), 0);
	assert_true(t == 1767312000 + 1 * 3600 + 4 * 60 + 5);
	assert_int_equal(mlops_monitor_time_parse(&t, "@1000.5", 0), 0);
	assert_true(t == 1000.5);
	assert_int_equal(mlops_monitor_time_parse(&t, "24h", 100000), 0);
	assert_true(t == 100000 - 86400);
	assert_int_equal(mlops_monitor_time_parse(&t, "7d", 1e6), 0);
	assert_true(t == 1e6 - 7 * 86400);
	assert_int_equal(mlops_monitor_time_parse(&t, "yesterday", 0), MLOPS_EUSAGE);
	assert_int_equal(mlops_monitor_time_parse(&t, "2026-13-01", 0), MLOPS_EUSAGE);
	assert_int_equal(mlops_monitor_time_parse(&t, "2026-01-02T3:04:05", 0), MLOPS_EUSAGE);
}

/* ---- the baseline ----------------------------------------------------------- */

static const cJSON *column(const cJSON *arr, const char *name)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, arr)
		if (!strcmp(mlops_json_str(c, "name"), name))
			return c;
	fail_msg("no column '%s'", name);
	return NULL;
}

static double at(const cJSON *o, const char *path)
{
	char buf[128], *save = NULL, *tok;
	const cJSON *v = o;
	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
		v = cJSON_GetObjectItemCaseSensitive(v, tok);
	if (!cJSON_IsNumber(v))
		fail_msg("'%s' is not a number", path);
	return v->valuedouble;
}

static void test_baseline_columns(void **state)
{
	struct mlops_baseline *b;
	(void)state;
	assert_int_equal(mlops_baseline_compute(&b, FIX "train.csv", NULL, NULL), 0);
	const cJSON *j = mlops_baseline_json(b), *cols = cJSON_GetObjectItemCaseSensitive(j, "columns");
	assert_int_equal(b->rows, 600);
	assert_int_equal(b->ncols, 4);
	const cJSON *x1 = column(cols, "x1"), *c = column(cols, "c"), *y = column(cols, "y");
	assert_string_equal(mlops_json_str(x1, "kind"), "numeric");
	assert_string_equal(mlops_json_str(x1, "type"), "float");
	assert_string_equal(mlops_json_str(c, "kind"), "categorical");
	assert_string_equal(mlops_json_str(y, "type"), "integer");
	/* y has two values: they are counted exactly */
	assert_true(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
			    cJSON_GetObjectItemCaseSensitive(y, "values"), "values")) == 2);
	close_to(at(x1, "p25"), train_x1_q[0], 1e-12, "p25");
	close_to(at(x1, "p50"), train_x1_q[1], 1e-12, "p50");
	close_to(at(x1, "p75"), train_x1_q[2], 1e-12, "p75");
	const struct mon_column *bx = &b->cols[0];
	size_t ne = sizeof(train_x1_edges) / sizeof(train_x1_edges[0]);
	assert_int_equal(bx->nbins + 1, ne);
	double total = 0;
	for (size_t i = 0; i < ne; i++)
		close_to(bx->edges[i], train_x1_edges[i], 1e-12, "edge");
	for (size_t i = 0; i < bx->nbins; i++)
		total += bx->counts[i];
	assert_true(total == 600);
	assert_int_equal(bx->nsample, 600);
	for (size_t i = 1; i < bx->nsample; i++)
		assert_true(bx->sample[i - 1] <= bx->sample[i]);
	/* categories by count, then bytes */
	assert_int_equal(b->cols[2].ncat, 3);
	assert_string_equal(mon_strmap_key(&b->cols[2].cats, 0), "a");
	assert_null(b->pred);
	mlops_baseline_free(b);
}

/* A table larger than the sample: the counts still cover every row. */
static void test_baseline_large(void **state)
{
	struct mlops_baseline *b;
	(void)state;
	assert_int_equal(mlops_baseline_compute(&b, FIX "big_train.csv", NULL, NULL), 0);
	const struct mon_column *v = &b->cols[0];
	assert_int_equal(v->nsample, MLOPS_MONITOR_SAMPLE);
	double total = 0;
	for (size_t i = 0; i < v->nbins; i++)
		total += v->counts[i];
	assert_true(total == 20000);
	assert_int_equal(v->nbins, MLOPS_MONITOR_BINS);
	/* quantile bins of a sample: each close to a tenth */
	for (size_t i = 0; i < v->nbins; i++)
		close_to(v->counts[i] / 20000, 0.1, 0.02, "bin share");
	mlops_baseline_free(b);
}

/* ---- checks against SciPy ------------------------------------------------------- */

static struct mlops_monitor_result *run_check(const char *base, const char *cur,
					      struct mlops_baseline **keep)
{
	struct mlops_baseline *b;
	struct mlops_monitor_result *r;
	struct mlops_monitor_input in = { .data_path = cur };
	struct mlops_monitor_opts o = { 0 };
	mlops_monitor_thresholds_init(&o.th);
	assert_int_equal(mlops_baseline_compute(&b, base, NULL, NULL), 0);
	if (mlops_monitor_check(&r, b, NULL, &in, &o) < 0)
		fail_msg("check: %s", mlops_error_message());
	if (keep)
		*keep = b;
	else
		mlops_baseline_free(b);
	return r;
}

static void numeric_figures(const cJSON *col, const double *want, double ptol)
{
	close_to(at(col, "tests.ks.statistic"), want[0], STAT_TOL, "ks statistic");
	close_to(at(col, "tests.ks.pvalue"), want[1], ptol, "ks pvalue");
	close_to(at(col, "tests.wasserstein.normalised"), want[2], STAT_TOL, "wasserstein");
	close_to(at(col, "tests.psi"), want[3], STAT_TOL, "psi");
	close_to(at(col, "tests.jensenshannon"), want[4], STAT_TOL, "js");
}

static void categorical_figures(const cJSON *col, const double *want)
{
	close_to(at(col, "tests.chisquare.statistic"), want[0], STAT_TOL, "chi2");
	close_to(at(col, "tests.chisquare.pvalue"), want[1], P_TOL, "chi2 pvalue");
	close_to(at(col, "tests.psi"), want[2], STAT_TOL, "psi");
	close_to(at(col, "tests.jensenshannon"), want[3], STAT_TOL, "js");
}

static int is_true(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void test_check_same(void **state)
{
	(void)state;
	struct mlops_monitor_result *r = run_check(FIX "train.csv", FIX "same.csv", NULL);
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(r->report, "columns");
	numeric_figures(column(cols, "x1"), same_x1, P_TOL);
	numeric_figures(column(cols, "x2"), same_x2, P_TOL);
	categorical_figures(column(cols, "c"), same_c);
	/* 600 baseline rows: the exact tests decide */
	assert_string_equal(mlops_json_str(column(cols, "x1"), "test"), "ks");
	assert_string_equal(mlops_json_str(column(cols, "c"), "test"), "chisquare");
	assert_string_equal(mlops_json_str(column(cols, "x1"), "current_type"), "float");
	assert_false(r->drift);
	assert_false(r->degraded);
	assert_string_equal(mlops_json_str(r->report, "verdict"), "ok");
	/* no model here: the labels are a column like any other */
	assert_int_equal((int)at(r->report, "tested_columns"), 4);
	mlops_monitor_result_free(r);
}

static void test_check_shifted(void **state)
{
	(void)state;
	struct mlops_monitor_result *r = run_check(FIX "train.csv", FIX "shifted.csv", NULL);
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(r->report, "columns");
	numeric_figures(column(cols, "x1"), shifted_x1, 1e-6);
	numeric_figures(column(cols, "x2"), shifted_x2, P_TOL);
	categorical_figures(column(cols, "c"), shifted_c);
	assert_true(is_true(column(cols, "x1"), "drift"));
	assert_false(is_true(column(cols, "x2"), "drift"));
	assert_true(is_true(column(cols, "c"), "drift"));
	assert_true(is_true(column(cols, "y"), "drift"));
	assert_true(r->drift);
	assert_true(is_true(r->report, "dataset_drift"));
	mlops_monitor_result_free(r);
}

static void test_check_newcat(void **state)
{
	(void)state;
	struct mlops_monitor_result *r = run_check(FIX "train.csv", FIX "newcat.csv", NULL);
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(r->report, "columns");
	const cJSON *c = column(cols, "c");
	categorical_figures(c, newcat_c);
	numeric_figures(column(cols, "x1"), newcat_x1, P_TOL);
	assert_true(is_true(c, "drift"));
	const cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "unseen"), 0);
	assert_string_equal(mlops_json_str(u, "value"), "d");
	assert_true(at(c, "unseen_count") == at(u, "count"));
	mlops_monitor_result_free(r);
}

/* Beyond MLOPS_MONITOR_EXACT_ROWS: distances decide; the baseline is sampled. */
static void test_check_large(void **state)
{
	(void)state;
	struct mlops_monitor_result *r = run_check(FIX "big_train.csv", FIX "big_same.csv", NULL);
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(r->report, "columns");
	const cJSON *v = column(cols, "v"), *k = column(cols, "k");
	assert_string_equal(mlops_json_str(v, "test"), "wasserstein");
	assert_string_equal(mlops_json_str(k, "test"), "jensenshannon");
	/* categories are counted exactly */
	categorical_figures(k, big_k);
	/* numeric figures from a 10,000-value sample of 20,000: close */
	close_to(at(v, "tests.ks.statistic"), big_v[0], 0.02, "ks statistic");
	close_to(at(v, "tests.wasserstein.normalised"), big_v[2], 0.03, "wasserstein");
	close_to(at(v, "tests.psi"), big_v[3], 0.01, "psi");
	assert_true(is_true(v, "drift"));
	assert_true(is_true(k, "drift"));
	mlops_monitor_result_free(r);
}

static void test_check_schema(void **state)
{
	(void)state;
	struct mlops_monitor_result *r = run_check(FIX "train.csv", FIX "nocol.csv", NULL);
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(r->report, "schema");
	const cJSON *miss = cJSON_GetObjectItemCaseSensitive(schema, "missing_columns");
	assert_int_equal(cJSON_GetArraySize(miss), 1);
	assert_string_equal(cJSON_GetArrayItem(miss, 0)->valuestring, "x2");
	assert_true(is_true(r->report, "schema_drift"));
	assert_true(r->drift);
	mlops_monitor_result_free(r);
}

static void test_check_type_change(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX + 32];
	(void)state;
	fx_fmt(path, "%s/typed.csv", fx->scratch);
	fx_write_str(path, "x1,x2,c,y\n0.5,abc,a,1\n0.1,5,b,0\n-1,NA,c,1\n");
	struct mlops_monitor_result *r = run_check(FIX "train.csv", path, NULL);
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(r->report, "columns");
	const cJSON *x2 = column(cols, "x2");
	assert_string_equal(mlops_json_str(x2, "status"), "type_changed");
	assert_string_equal(mlops_json_str(x2, "current_type"), "categorical");
	assert_true(at(x2, "current.missing") == 1);
	const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
								   r->report, "schema"), "type_changes");
	assert_int_equal(cJSON_GetArraySize(tc), 1);
	assert_true(r->drift);
	mlops_monitor_result_free(r);
}

/* A stored baseline loads back and gives the same figures. */
static void test_store_load(void **state)
{
	struct fixture *fx = *state;
	struct mlops_baseline *b, *l;
	struct mlops_monitor_result *r1, *r2;
	struct mlops_monitor_input in = { .data_path = FIX "shifted.csv" };
	struct mlops_monitor_opts o = { 0 };
	mlops_oid id;
	mlops_monitor_thresholds_init(&o.th);
	assert_int_equal(mlops_baseline_compute(&b, FIX "train.csv", NULL, NULL), 0);
	assert_int_equal(mlops_baseline_store(&id, fx->repo, b), 0);
	assert_int_equal(mlops_odb_sync(fx->repo->odb), 0);
	assert_int_equal(mlops_baseline_load(&l, fx->repo, &id), 0);
	assert_int_equal(mlops_monitor_check(&r1, b, NULL, &in, &o), 0);
	assert_int_equal(mlops_monitor_check(&r2, l, NULL, &in, &o), 0);
	cJSON_DeleteItemFromObject(r1->report, "time");
	cJSON_DeleteItemFromObject(r2->report, "time");
	char *s1 = cJSON_PrintUnformatted(r1->report), *s2 = cJSON_PrintUnformatted(r2->report);
	assert_string_equal(s1, s2);
	free(s1);
	free(s2);
	/* stored once, by content: the same table gives the same id */
	mlops_oid id2;
	assert_int_equal(mlops_baseline_build(&id2, fx->repo, FIX "train.csv", NULL, NULL), 0);
	assert_int_equal(mlops_oid_cmp(&id, &id2), 0);
	/* records and the log */
	mlops_oid cid;
	char *ref;
	cJSON *log;
	assert_int_equal(mlops_monitor_record(&cid, &ref, fx->repo, r1->report, "churn", "v0.0.1",
					      NULL, 1767312000), 0);
	assert_int_equal(strncmp(ref, "monitor/churn/20260102T000000Z-", 31), 0);
	assert_int_equal(strlen(ref), 31 + 8);
	free(ref);
	assert_int_equal(mlops_monitor_log(&log, fx->repo, NULL), 0);
	assert_int_equal(cJSON_GetArraySize(log), 1);
	assert_string_equal(mlops_json_str(cJSON_GetArrayItem(log, 0), "verdict"), "drift");
	cJSON_Delete(log);
	mlops_monitor_result_free(r1);
	mlops_monitor_result_free(r2);
	mlops_baseline_free(b);
	mlops_baseline_free(l);
}

static void test_html(void **state)
{
	char *html;
	(void)state;
	struct mlops_monitor_result *r = run_check(FIX "train.csv", FIX "newcat.csv", NULL);
	assert_int_equal(mlops_monitor_html(&html, r->report, "check <of> x"), 0);
	assert_non_null(strstr(html, "<title>check &lt;of&gt; x</title>"));
	assert_non_null(strstr(html, "default-src 'none'"));
	assert_null(strstr(html, "<script"));
	assert_null(strstr(html, "http://"));
	assert_null(strstr(html, "https://"));
	static const char *const names[] = { "x1", "x2", "c", "y" };
	for (size_t i = 0; i < 4; i++) {
		char want[64];
		snprintf(want, sizeof(want), "<svg class=\"chart\" data-column=\"%s\"", names[i]);
		assert_non_null(strstr(html, want));
	}
	/* drifted columns first: c (new category) before x1 */
	assert_true(strstr(html, "data-column=\"c\"") < strstr(html, "data-column=\"x1\""));
	assert_true(strlen(html) < 64 * 1024);
	free(html);
	mlops_monitor_result_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_number),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_bins),
		cmocka_unit_test(test_strmap),
		cmocka_unit_test(test_default_rule),
		cmocka_unit_test(test_thresholds),
		cmocka_unit_test(test_quality_test),
		cmocka_unit_test(test_time_parse),
		cmocka_unit_test(test_baseline_columns),
		cmocka_unit_test(test_baseline_large),
		cmocka_unit_test(test_check_same),
		cmocka_unit_test(test_check_shifted),
		cmocka_unit_test(test_check_newcat),
		cmocka_unit_test(test_check_large),
		cmocka_unit_test(test_check_schema),
		cmocka_unit_test_setup_teardown(test_check_type_change, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_store_load, fx_setup, fx_teardown),
		cmocka_unit_test(test_html),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
