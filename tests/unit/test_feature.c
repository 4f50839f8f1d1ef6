/*
 * test_feature.c - times, durations, fitting and the fitted transform set
 * (the serving path) against hand-computed values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/feature.h"
#include "core/feature_int.h"
#include "store/error.h"

static int64_t t(const char *s)
{
	int64_t v = 0;
	assert_int_equal(mlops_feature_parse_time(&v, s, strlen(s)), 0);
	return v;
}

static void test_times(void **state)
{
	(void)state;
	char buf[48];
	assert_true(t("1970-01-01") == 0);
	assert_true(t("2024-05-01") == 1714521600000LL);
	assert_true(t("2024-05-01T12:30:00Z") == 1714566600000LL);
	assert_true(t("2024-05-01 12:30:00") == 1714566600000LL);
	assert_true(t("2024-05-01T14:30:00+02:00") == 1714566600000LL);
	assert_true(t("2024-05-01T10:30:00-0200") == 1714566600000LL);
	assert_true(t("2024-05-01T12:30") == 1714566600000LL);
	assert_true(t("2024-05-01T12:30:00.25Z") == 1714566600250LL);
	assert_true(t("1714566600") == 1714566600000LL);
	assert_true(t("1714566600.5") == 1714566600500LL);
	assert_true(t(" 2024-02-29 ") == 1709164800000LL);
	assert_true(t("1969-12-31T23:59:59Z") == -1000);
	assert_string_equal(mlops_feature_format_time(buf, 1714566600000LL), "2024-05-01T12:30:00Z");
	assert_string_equal(mlops_feature_format_time(buf, 1714566600250LL), "2024-05-01T12:30:00.250Z");
	assert_string_equal(mlops_feature_format_time(buf, -1000), "1969-12-31T23:59:59Z");
	const char *bad[] = { "", "yesterday", "2024-13-01", "2023-02-29", "2024-05-01T25:00",
			      "2024-05-01X", "2024-05-01T12:30:00+25:00", "12.", "2024-05-01T12:30:00ZZ" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v;
		assert_int_equal(mlops_feature_parse_time(&v, bad[i], strlen(bad[i])), MLOPS_EINVALID);
	}
}

static void test_durations(void **state)
{
	(void)state;
	int64_t v;
	assert_int_equal(mlops_feature_parse_duration(&v, "7d"), 0);
	assert_true(v == 7 * 86400000LL);
	assert_int_equal(mlops_feature_parse_duration(&v, "90m"), 0);
	assert_true(v == 5400000);
	assert_int_equal(mlops_feature_parse_duration(&v, "2w"), 0);
	assert_true(v == 14 * 86400000LL);
	assert_int_equal(mlops_feature_parse_duration(&v, "250ms"), 0);
	assert_true(v == 250);
	const char *bad[] = { "", "7", "d", "7x", "-1d", "0s", "1.5h", "7 d" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mlops_feature_parse_duration(&v, bad[i]), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "not a duration"));
}

/* Fit a spec on rows (column "x" then "c"), return the version-like record. */
static cJSON *fit(const char *spec_text, const char *const (*rows)[2], size_t n)
{
	cJSON *spec = cJSON_Parse(spec_text);
	struct mlops_feature_transform *tr;
	struct ft_fit *f;
	assert_non_null(spec);
	assert_int_equal(ft_parse(&tr, spec, 0), 0);
	assert_int_equal(ft_fit_new(&f, tr), 0);
	for (size_t i = 0; i < n; i++) {
		struct mlops_csv_field in[8];
		for (size_t k = 0; k < tr->ninputs; k++) {
			const char *v = !strcmp(tr->inputs[k], "c") ? rows[i][1] : !strcmp(tr->inputs[k], "x") ? rows[i][0] : "k";
			in[k].ptr = v;
			in[k].len = strlen(v);
		}
		assert_int_equal(ft_fit_row(f, in), 0);
	}
	assert_int_equal(ft_fit_end(f, tr), 0);
	cJSON *rec = cJSON_CreateObject();
	cJSON_AddItemToObject(rec, "params", ft_params_json(tr));
	ft_fit_free(f);
	mlops_feature_transform_free(tr);
	cJSON_Delete(spec);
	/* Through text, as a stored record would be. */
	char *s = cJSON_PrintUnformatted(rec);
	cJSON_Delete(rec);
	rec = cJSON_Parse(s);
	free(s);
	return rec;
}

static const char *const rows[][2] = {
	{ "1", "red" }, { "3", "blue" }, { "", "red" }, { "7", "green" }, { "-1", "red" },
};

static const char *spec_all =
	"{\"name\":\"s\",\"source\":\"d\",\"entity\":\"k\",\"timestamp\":\"ts\",\"features\":["
	"{\"name\":\"x\",\"column\":\"x\",\"transform\":\"identity\"},"
	"{\"name\":\"z\",\"column\":\"x\",\"transform\":\"standardize\"},"
	"{\"name\":\"mm\",\"column\":\"x\",\"transform\":\"minmax\"},"
	"{\"name\":\"lg\",\"column\":\"x\",\"transform\":\"log1p\"},"
	"{\"name\":\"cl\",\"column\":\"x\",\"transform\":\"clip\",\"max\":5},"
	"{\"name\":\"bk\",\"column\":\"x\",\"transform\":\"bucketize\",\"edges\":[0,2,5]},"
	"{\"name\":\"bq\",\"column\":\"x\",\"transform\":\"bucketize\",\"bins\":4},"
	"{\"name\":\"c\",\"column\":\"c\",\"transform\":\"one-hot\",\"max_categories\":2,\"unseen\":\"other\"},"
	"{\"name\":\"cz\",\"column\":\"c\",\"transform\":\"one-hot\"},"
	"{\"name\":\"fm\",\"column\":\"x\",\"transform\":\"fill-missing\",\"strategy\":\"mean\"},"
	"{\"name\":\"fd\",\"column\":\"x\",\"transform\":\"fill-missing\",\"strategy\":\"median\"},"
	"{\"name\":\"s7\",\"column\":\"x\",\"transform\":\"sum\",\"window\":\"7d\"}]}";

static void apply(double *out, const struct mlops_feature_transform *tr, const char *x, const char *c)
{
	const char *names[] = { "x", "c", "unused" };
	const char *values[] = { x, c, "zzz" };
	assert_int_equal(mlops_feature_transform_apply(out, tr, names, values, 3), 0);
}

static void test_fit_and_apply(void **state)
{
	(void)state;
	cJSON *rec = fit(spec_all, rows, 5);
	struct mlops_feature_transform *tr;
	assert_int_equal(mlops_feature_transform_load(&tr, rec), 0);
	/* Outputs: x z mm lg cl bk bq c=blue c=red c=__other__ cz=blue cz=green cz=red fm fd s7 */
	assert_int_equal(mlops_feature_transform_noutputs(tr), 16);
	assert_string_equal(mlops_feature_transform_output(tr, 7), "c=blue");
	assert_string_equal(mlops_feature_transform_output(tr, 9), "c=__other__");
	assert_string_equal(mlops_feature_transform_output(tr, 12), "cz=red");
	assert_true(mlops_feature_transform_is_window(tr, 15));
	assert_false(mlops_feature_transform_is_window(tr, 14));
	assert_int_equal(mlops_feature_transform_ninputs(tr), 3);
	assert_string_equal(mlops_feature_transform_input(tr, 0), "k");

	double o[16];
	apply(o, tr, "3", "blue");
	assert_true(o[0] == 3);
	/* population std of 1, 3, 7, -1 is sqrt(8.75); scikit-learn: 0.1690308509457033 */
	assert_true(o[1] == 0.5 / sqrt(8.75));
	assert_true(o[2] == 0.5);
	assert_true(o[3] == log1p(3.0));
	assert_true(o[4] == 3);
	assert_true(o[5] == 2);
	assert_true(o[6] == 2); /* fitted edges 1, 3, 5 */
	assert_true(o[7] == 1 && o[8] == 0 && o[9] == 0);
	assert_true(o[10] == 1 && o[11] == 0 && o[12] == 0);
	assert_true(o[13] == 3 && o[14] == 3);
	assert_true(isnan(o[15]));

	/* Unseen category: "other" column, or all zeros. */
	apply(o, tr, "9", "purple");
	assert_true(o[7] == 0 && o[8] == 0 && o[9] == 1);
	assert_true(o[10] == 0 && o[11] == 0 && o[12] == 0);
	assert_true(o[4] == 5 && o[5] == 3 && o[6] == 3);
	assert_true(o[2] == 1.25);

	/* Missing values. */
	apply(o, tr, "NA", "");
	assert_true(isnan(o[0]) && isnan(o[1]) && isnan(o[2]) && isnan(o[5]));
	assert_true(o[7] == 0 && o[8] == 0 && o[9] == 0);
	assert_true(o[13] == 2.5);
	assert_true(o[14] == 2);

	/* Edges: log1p(-1) is missing, bucketize puts an edge value above it. */
	apply(o, tr, "-1", "red");
	assert_true(isnan(o[3]));
	assert_true(o[5] == 0);
	apply(o, tr, "2", "red");
	assert_true(o[5] == 2);

	/* Text in a numeric transform. */
	const char *names[] = { "x" }, *values[] = { "abc" };
	assert_int_equal(mlops_feature_transform_apply(o, tr, names, values, 1), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "'abc' is not a number"));
	mlops_feature_transform_free(tr);
	cJSON_Delete(rec);
}

/* The table's text form: what a model trained on the table is fed. */
static void test_apply_fields(void **state)
{
	(void)state;
	cJSON *rec = fit(spec_all, rows, 5);
	struct mlops_feature_transform *tr;
	assert_int_equal(mlops_feature_transform_load(&tr, rec), 0);
	size_t no = mlops_feature_transform_noutputs(tr);
	struct mlops_csv_field in[3], out[16];
	double work_d[512];
	assert_true(mlops_feature_transform_work_size(tr) <= sizeof(work_d));
	/* inputs: k, x, c */
	assert_string_equal(mlops_feature_transform_input(tr, 1), "x");
	in[0] = (struct mlops_csv_field){ "key", 3 };
	in[1] = (struct mlops_csv_field){ " 3", 2 };
	in[2] = (struct mlops_csv_field){ "purple", 6 };
	assert_int_equal(mlops_feature_transform_apply_fields(out, work_d, tr, in), 0);
	static const char *const want[16] = {
		" 3", "0.1690308509457033", "0.5", "1.3862943611198906", "3", "2", "2",
		"0", "0", "1", "0", "0", "0", " 3", " 3", "",
	};
	for (size_t i = 0; i < no; i++) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%.*s", (int)out[i].len, out[i].ptr);
		assert_string_equal(buf, want[i]);
	}
	/* Missing: fill values as text, the rest empty. */
	in[1] = (struct mlops_csv_field){ "NA", 2 };
	in[2] = (struct mlops_csv_field){ "", 0 };
	assert_int_equal(mlops_feature_transform_apply_fields(out, work_d, tr, in), 0);
	assert_int_equal(out[0].len, 0);
	assert_int_equal(out[1].len, 0);
	assert_int_equal(out[13].len, 3);
	assert_memory_equal(out[13].ptr, "2.5", 3);
	assert_memory_equal(out[14].ptr, "2", 1);
	assert_memory_equal(out[7].ptr, "0", 1);
	/* Sources and kinds of outputs. */
	assert_int_equal(mlops_feature_transform_output_input(tr, 1), 1);
	assert_int_equal(mlops_feature_transform_output_input(tr, 9), 2);
	assert_string_equal(mlops_feature_transform_output_kind(tr, 9), "one-hot");
	assert_string_equal(mlops_feature_transform_output_kind(tr, 14), "fill-missing");
	in[1] = (struct mlops_csv_field){ "abc", 3 };
	assert_int_equal(mlops_feature_transform_apply_fields(out, work_d, tr, in), MLOPS_EINVALID);
	mlops_feature_transform_free(tr);
	cJSON_Delete(rec);
}

static void expect_spec_error(const char *features, const char *needle)
{
	char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{\"name\":\"s\",\"source\":\"d\",\"entity\":\"k\",\"timestamp\":\"ts\",\"features\":[%s]}",
		 features);
	cJSON *spec = cJSON_Parse(buf);
	struct mlops_feature_transform *tr = NULL;
	assert_non_null(spec);
	assert_int_equal(ft_parse(&tr, spec, 0), MLOPS_EINVALID);
	assert_null(tr);
	if (!strstr(mlops_error_message(), needle))
		fail_msg("'%s' not in '%s'", needle, mlops_error_message());
	cJSON_Delete(spec);
}

static void test_invalid_specs(void **state)
{
	(void)state;
	expect_spec_error("{\"name\":\"a\",\"column\":\"x\",\"transform\":\"square\"}",
			  "features[0] ('a').transform: unknown transform 'square'");
	expect_spec_error("{\"name\":\"a\",\"column\":\"x\",\"transform\":\"sum\",\"window\":\"7x\"}",
			  "features[0] ('a').window: '7x' is not a duration");
	expect_spec_error("{\"name\":\"a\",\"column\":\"x\",\"transform\":\"sum\"}", ".window: missing");
	expect_spec_error("{\"name\":\"a\",\"column\":\"x\",\"transform\":\"identity\",\"window\":\"7d\"}",
			  "only the aggregates");
	expect_spec_error("{\"name\":\"a\",\"transform\":\"identity\"}", "features[0] ('a').column: missing");
	expect_spec_error("{\"name\":\"a\",\"column\":\"x\",\"transform\":\"bucketize\",\"edges\":[3,1]}",
			  "edges[1]: edges must increase");
	expect_spec_error("{\"name\":\"a\",\"column\":\"x\",\"transform\":\"clip\"}", "clip needs");
	expect_spec_error("{\"name\":\"a\",\"column\":\"x\",\"transform\":\"fill-missing\",\"strategy\":\"mode\"}",
			  "unknown strategy 'mode'");
	expect_spec_error("{\"name\":\"a\",\"column\":\"x\",\"transform\":\"one-hot\",\"unseen\":\"drop\"}",
			  ".unseen: expected");
	expect_spec_error("{\"name\":\"a\",\"column\":\"x\",\"transform\":\"identity\",\"colour\":1}",
			  "unknown field 'colour'");
	expect_spec_error("{\"name\":\"a\",\"column\":\"x\",\"transform\":\"identity\"},"
			  "{\"name\":\"a\",\"column\":\"y\",\"transform\":\"identity\"}", "'a' is used twice");
	expect_spec_error("{\"name\":\"k\",\"column\":\"x\",\"transform\":\"identity\"}", "entity or time column");
	expect_spec_error("{\"name\":\"a b\",\"column\":\"x\",\"transform\":\"identity\"}", "not a valid feature name");
}

static void test_csv_split(void **state)
{
	(void)state;
	const char *text = "a,\"b,\"\"c\"\"\",,d\r\n\"x\ny\",2\n";
	const char *p = text, *end = text + strlen(text), *raw;
	struct mlops_csv_field f[8];
	char *scratch = NULL;
	size_t cap = 0;
	assert_int_equal(ft_csv_split(&p, end, f, 8, &scratch, &cap, &raw), 4);
	assert_int_equal(f[1].len, 5);
	assert_memory_equal(f[1].ptr, "b,\"c\"", 5);
	assert_int_equal(f[2].len, 0);
	assert_memory_equal(f[3].ptr, "d", 1);
	assert_true(*raw == '\r');
	assert_int_equal(ft_csv_split(&p, end, f, 1, &scratch, &cap, NULL), 1);
	assert_memory_equal(f[0].ptr, "x\ny", 3);
	assert_true(p == end);
	char q[32];
	size_t l = ft_csv_quote(q, "a\"b", 3);
	assert_int_equal(l, 6);
	assert_memory_equal(q, "\"a\"\"b\"", 6);
	free(scratch);
	char nb[40];
	assert_int_equal(ft_format_num(nb, 0.1), 3);
	assert_string_equal(nb, "0.1");
	ft_format_num(nb, 1.0 / 3);
	assert_string_equal(nb, "0.3333333333333333");
	assert_int_equal(ft_format_num(nb, NAN), 0);
	ft_format_num(nb, -1234567.0);
	assert_string_equal(nb, "-1234567");
	ft_format_num(nb, -0.0);
	assert_string_equal(nb, "0");
	ft_format_num(nb, 1e15);
	assert_string_equal(nb, "1e+15");
	ft_format_num(nb, 2.5);
	assert_string_equal(nb, "2.5");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_fit_and_apply),
		cmocka_unit_test(test_apply_fields),
		cmocka_unit_test(test_invalid_specs),
		cmocka_unit_test(test_csv_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
