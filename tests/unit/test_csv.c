/*
 * test_csv.c - the CSV/TSV/JSON-lines reader and the CSV writer
 * (core/csv.h): RFC 4180 cases, delimiter detection, refills at every
 * possible place (tiny buffers), malformed input with its line number, and
 * the writer's round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/csv.h"
#include "store/error.h"

static const size_t buffer_sizes[] = { 1, 2, 3, 5, 8, 64, 0 };

/* Write `data` (n bytes) to a new temporary file; returns its path. */
static char *temp_file(const char *data, size_t n, const char *suffix)
{
	char *path = malloc(64);
	int fd;
	snprintf(path, 64, "/tmp/test_csv_XXXXXX%s", suffix ? suffix : "");
	fd = mkstemps(path, suffix ? (int)strlen(suffix) : 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
	return path;
}

/*
 * Read everything from `path` and render it as "h1|h2\nf1|f2\n..." (the
 * header first, then one line per record, fields joined by '|' and each
 * record's line number in brackets when `lines`).  Returns the result of
 * the last mlops_csv_next (0 at the end, or an error).
 */
static int render(char **out, const char *path, const struct mlops_csv_options *opts,
		  int lines)
{
	struct mlops_csv *csv;
	const struct mlops_csv_field *f;
	size_t n, size = 0;
	char *buf = NULL;
	FILE *m = open_memstream(&buf, &size);
	int r = mlops_csv_open(&csv, path, opts);
	if (r < 0) {
		fclose(m);
		free(buf);
		*out = NULL;
		return r;
	}
	mlops_csv_header(csv, &f, &n);
	for (size_t i = 0; i < n; i++)
		fprintf(m, "%s%.*s", i ? "|" : "", (int)f[i].len, f[i].ptr);
	fputc('\n', m);
	while ((r = mlops_csv_next(csv, &f, &n)) == 1) {
		if (lines)
			fprintf(m, "[%zu]", mlops_csv_line(csv));
		for (size_t i = 0; i < n; i++)
			fprintf(m, "%s%.*s", i ? "|" : "", (int)f[i].len, f[i].ptr);
		fputc('\n', m);
	}
	mlops_csv_free(csv);
	fclose(m);
	*out = buf;
	return r;
}

/* Check that `input` reads as `expected` with every buffer size. */
static void check(const char *input, size_t n, const char *expected,
		  const struct mlops_csv_options *base, int lines)
{
	char *path = temp_file(input, n, NULL);
	for (size_t i = 0; i < sizeof(buffer_sizes) / sizeof(buffer_sizes[0]); i++) {
		struct mlops_csv_options o = { 0 };
		char *got;
		if (base)
			o = *base;
		o.buffer_size = buffer_sizes[i];
		assert_int_equal(render(&got, path, &o, lines), 0);
		if (strcmp(got, expected) != 0)
			fail_msg("buffer %zu: got\n%s\nexpected\n%s", buffer_sizes[i], got, expected);
		free(got);
	}
	unlink(path);
	free(path);
}

#define CHECK(in, exp) check(in, sizeof(in) - 1, exp, NULL, 0)
#define CHECK_LINES(in, exp) check(in, sizeof(in) - 1, exp, NULL, 1)

/* Check that `input` fails with `code` and a message containing `msg`. */
static void check_fail(const char *input, int code, const char *msg, const char *suffix)
{
	char *path = temp_file(input, strlen(input), suffix);
	for (size_t i = 0; i < sizeof(buffer_sizes) / sizeof(buffer_sizes[0]); i++) {
		struct mlops_csv_options o = { 0 };
		char *got, want[256];
		o.buffer_size = buffer_sizes[i];
		o.name = "data.csv";
		assert_int_equal(render(&got, path, &o, 0), code);
		free(got);
		snprintf(want, sizeof(want), "%s", msg);
		if (!strstr(mlops_error_message(), want))
			fail_msg("buffer %zu: message '%s' lacks '%s'", buffer_sizes[i],
				 mlops_error_message(), want);
	}
	unlink(path);
	free(path);
}

static void test_plain(void **state)
{
	(void)state;
	CHECK("a,b,c\n1,2,3\n4,5,6\n", "a|b|c\n1|2|3\n4|5|6\n");
	CHECK_LINES("a,b\n1,2\n3,4\n", "a|b\n[2]1|2\n[3]3|4\n");
}

static void test_quotes(void **state)
{
	(void)state;
	CHECK("a,b\n\"x,y\",\"\"\n", "a|b\nx,y|\n");
	CHECK("a,b\n\"say \"\"hi\"\"\",\"\"\"\"\n", "a|b\nsay \"hi\"|\"\n");
	CHECK("\"a\"\"\",b\n1,2\n", "a\"|b\n1|2\n");
}

static void test_embedded_newline(void **state)
{
	(void)state;
	CHECK_LINES("a,b\n\"line1\nline2\",x\n\"p\r\nq\",y\nz,w\n",
		    "a|b\n[2]line1\nline2|x\n[4]p\r\nq|y\n[6]z|w\n");
}

static void test_crlf(void **state)
{
	(void)state;
	CHECK_LINES("a,b\r\n1,2\r\n\"3\",\"4\"\r\n,\r\n", "a|b\n[2]1|2\n[3]3|4\n[4]|\n");
	/* a lone CR inside a field is data */
	CHECK("a,b\n1\r2,3\n", "a|b\n1\r2|3\n");
}

static void test_bom(void **state)
{
	(void)state;
	CHECK("\xef\xbb\xbfname,v\nx,1\n", "name|v\nx|1\n");
	CHECK("\xef\xbb\xbf\"name\",v\nx,1\n", "name|v\nx|1\n");
}

static void test_empty_fields(void **state)
{
	(void)state;
	CHECK("a,b,c\n,,\n1,,\n,,3\n", "a|b|c\n||\n1||\n||3\n");
}

static void test_tsv_and_detection(void **state)
{
	struct mlops_csv *csv;
	char *path;
	(void)state;
	CHECK("a\tb\tc\n1\t2,5\t3\n", "a|b|c\n1|2,5|3\n");
	CHECK("a;b\n1,5;2\n", "a|b\n1,5|2\n");
	/* a quoted comma does not count */
	CHECK("\"x,y,z\"\tb\n1\t2\n", "x,y,z|b\n1|2\n");

	path = temp_file("a;b\n1;2\n", 8, NULL);
	assert_int_equal(mlops_csv_open(&csv, path, NULL), 0);
	assert_int_equal(mlops_csv_delim(csv), ';');
	mlops_csv_free(csv);
	unlink(path);
	free(path);
	{
		struct mlops_csv_options o = { .delim = '|' };
		check("a|b\n1|2\n", 8, "a|b\n1|2\n", &o, 0);
		o.delim = ',';
		check("a;b,c\n1;2,3\n", 12, "a;b|c\n1;2|3\n", &o, 0);
	}
}

static void test_last_line_without_newline(void **state)
{
	(void)state;
	CHECK("a,b\n1,2", "a|b\n1|2\n");
	CHECK("a,b\n1,\"2\"", "a|b\n1|2\n");
	CHECK("a,b\n1,", "a|b\n1|\n");
	CHECK("a,b\r\n1,2\r", "a|b\n1|2\n");
}

static void test_empty_and_header_only(void **state)
{
	struct mlops_csv *csv;
	const struct mlops_csv_field *f;
	size_t n = 99;
	char *path = temp_file("", 0, NULL);
	(void)state;
	assert_int_equal(mlops_csv_open(&csv, path, NULL), 0);
	mlops_csv_header(csv, &f, &n);
	assert_int_equal(n, 0);
	assert_int_equal(mlops_csv_next(csv, &f, &n), 0);
	assert_int_equal(mlops_csv_next(csv, &f, &n), 0);
	mlops_csv_free(csv);
	unlink(path);
	free(path);

	CHECK("a,b,c\n", "a|b|c\n");
	CHECK("a,b,c", "a|b|c\n");
	CHECK("\xef\xbb\xbf", "\n");
}

static void test_blank_lines(void **state)
{
	(void)state;
	CHECK_LINES("a\n1\n\n2\r\n\r\n\"\"\n3\n\n", "a\n[2]1\n[4]2\n[6]\n[7]3\n");
}

static void test_no_header(void **state)
{
	struct mlops_csv_options o = { .no_header = 1 };
	(void)state;
	check("x,y\n1,2\n", 8, "1|2\nx|y\n1|2\n", &o, 0);
}

static void test_header_names(void **state)
{
	struct mlops_csv *csv;
	const char *const *names;
	size_t n;
	char *path = temp_file("\"a b\",\"c\"\"d\"\n1,2\n", 18, NULL);
	(void)state;
	assert_int_equal(mlops_csv_open(&csv, path, NULL), 0);
	names = mlops_csv_names(csv, &n);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "a b");
	assert_string_equal(names[1], "c\"d");
	mlops_csv_free(csv);
	unlink(path);
	free(path);
}

static void test_malformed(void **state)
{
	(void)state;
	check_fail("a,b,c\n1,2,3\n4,5\n", MLOPS_EINVALID,
		   "'data.csv' line 3: expected 3 fields, found 2", NULL);
	check_fail("a,b,c,d\n1,2,3,4\n1,2,3,4\n1,2,3,4\n1,2,3,4\n1,2,3,4\n1,2,3\n",
		   MLOPS_EINVALID, "'data.csv' line 7: expected 4 fields, found 3", NULL);
	check_fail("a,b\n1,2,3\n", MLOPS_EINVALID, "'data.csv' line 2: expected 2 fields, found 3", NULL);
	/* line numbers count the newlines inside quoted fields */
	check_fail("a,b\n\"x\ny\",1\n1,2,3\n", MLOPS_EINVALID,
		   "'data.csv' line 4: expected 2 fields, found 3", NULL);
	check_fail("a,b\n1,2\n3,\"abc\n4,5\n", MLOPS_EINVALID,
		   "'data.csv' line 3: unbalanced quote", NULL);
	check_fail("\"a,b\n", MLOPS_EINVALID, "'data.csv' line 1: unbalanced quote", NULL);
	check_fail("a,b\n1,2\n1,ab\"c\n", MLOPS_EINVALID,
		   "'data.csv' line 3: unexpected quote", NULL);
	check_fail("a,b\n\"ab\"c,1\n", MLOPS_EINVALID,
		   "'data.csv' line 2: unexpected character after closing quote", NULL);
	check_fail("a,b\n \"ab\",1\n", MLOPS_EINVALID, "'data.csv' line 2:", NULL);
}

static void test_error_sticks(void **state)
{
	struct mlops_csv *csv;
	const struct mlops_csv_field *f;
	size_t n;
	char *path = temp_file("a,b\n1\n2,3\n", 10, NULL);
	(void)state;
	assert_int_equal(mlops_csv_open(&csv, path, NULL), 0);
	assert_int_equal(mlops_csv_next(csv, &f, &n), MLOPS_EINVALID);
	assert_int_equal(mlops_csv_next(csv, &f, &n), MLOPS_EINVALID);
	mlops_csv_free(csv);
	unlink(path);
	free(path);
}

static void test_ragged_option(void **state)
{
	struct mlops_csv_options o = { .ragged = 1 };
	(void)state;
	check("a,b\n1\n2,3,4\n", 12, "a|b\n1\n2|3|4\n", &o, 0);
}

static void test_not_found(void **state)
{
	struct mlops_csv *csv = (void *)1;
	(void)state;
	assert_int_equal(mlops_csv_open(&csv, "/nonexistent/x.csv", NULL), MLOPS_ENOTFOUND);
	assert_null(csv);
	assert_non_null(strstr(mlops_error_message(), "unable to open '/nonexistent/x.csv'"));
}

static void test_record_limit(void **state)
{
	struct mlops_csv_options o = { .buffer_size = 16, .max_record = 64, .name = "big.csv" };
	char *data = malloc(300), *got;
	char *path;
	(void)state;
	memcpy(data, "a\n\"", 3);
	memset(data + 3, 'x', 297);
	path = temp_file(data, 300, NULL);
	assert_int_equal(render(&got, path, &o, 0), MLOPS_EINVALID);
	free(got);
	assert_non_null(strstr(mlops_error_message(), "'big.csv' line 2: record longer than"));
	unlink(path);
	free(path);
	free(data);
}

static void test_pipe(void **state)
{
	int fds[2];
	struct mlops_csv *csv;
	const struct mlops_csv_field *f;
	size_t n, rows = 0;
	struct mlops_csv_options o = { .buffer_size = 4 };
	const char *data = "k,v\n\"a\nb\",1\nc,2\n";
	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], data, strlen(data)), (ssize_t)strlen(data));
	close(fds[1]);
	assert_int_equal(mlops_csv_open_fd(&csv, fds[0], &o), 0);
	while (mlops_csv_next(csv, &f, &n) == 1) {
		assert_int_equal(n, 2);
		rows++;
	}
	assert_int_equal(rows, 2);
	mlops_csv_free(csv);
	close(fds[0]);
}

static void test_jsonl(void **state)
{
	char *path, *got;
	(void)state;

	static const char lines[] =
		"{\"a\": 1, \"b\": \"x\\\"y\", \"c\": true}\n"
		"{\"b\": \"caf\\u00e9 \\ud83d\\ude00\", \"a\": -2.5e3}\n"
		"\n"
		"{\"a\": null, \"b\": \"\", \"c\": false}\r\n";
	path = temp_file(lines, sizeof(lines) - 1, ".jsonl");
	assert_int_equal(render(&got, path, NULL, 1), 0);
	assert_string_equal(got, "a|b|c\n[1]1|x\"y|true\n[2]-2.5e3|caf\xc3\xa9 \xf0\x9f\x98\x80|\n[4]||false\n");
	free(got);
	unlink(path);
	free(path);

	/* detected from the first byte, without the suffix */
	path = temp_file("{\"k\":\"v\"}\n", 10, NULL);
	assert_int_equal(render(&got, path, NULL, 0), 0);
	assert_string_equal(got, "k\nv\n");
	free(got);
	unlink(path);
	free(path);

	check_fail("{\"a\":1}\n{\"a\":{\"x\":1}}\n", MLOPS_EINVALID,
		   "'data.csv' line 2: nested value for key 'a'", ".jsonl");
	check_fail("{\"a\":1}\n{\"a\":2}\n{\"b\":2}\n", MLOPS_EINVALID,
		   "'data.csv' line 3: unexpected key 'b'", ".jsonl");
	check_fail("{\"a\":1}\n{\"a\":2\n", MLOPS_EINVALID, "'data.csv' line 2:", ".jsonl");
	check_fail("{\"a\":1}\n[1]\n", MLOPS_EINVALID, "'data.csv' line 2: expected a JSON object", ".jsonl");
	check_fail("{\"a\":\"\\x\"}\n", MLOPS_EINVALID, "'data.csv' line 1: malformed string", ".jsonl");
}

/* new_keys: a key first seen midway is a column after the others. */
static void test_jsonl_new_keys(void **state)
{
	static const char lines[] =
		"{\"a\":1}\n"
		"{\"b\":\"x\",\"a\":2}\n"
		"{}\n"
		"{\"c\":3,\"b\":\"y\",\"c\":4}\n"
		"{\"a\":5,\"d\":null}\n";
	struct mlops_csv_options o = { .new_keys = 1 };
	struct mlops_csv *csv;
	const struct mlops_csv_field *f;
	const char *const *names, *first;
	size_t n, nn;
	char *path;
	(void)state;

	check(lines, sizeof(lines) - 1, "a\n1\n2|x\n|\n|y|4\n5|||\n", &o, 0);

	/* the names grow; those handed out before stay valid */
	path = temp_file(lines, sizeof(lines) - 1, ".jsonl");
	o.buffer_size = 8;
	assert_int_equal(mlops_csv_open(&csv, path, &o), 0);
	names = mlops_csv_names(csv, &nn);
	assert_int_equal(nn, 1);
	first = names[0];
	while (mlops_csv_next(csv, &f, &n) == 1)
		;
	names = mlops_csv_names(csv, &nn);
	assert_int_equal(nn, 4);
	assert_ptr_equal(names[0], first);
	assert_string_equal(names[0], "a");
	assert_string_equal(names[1], "b");
	assert_string_equal(names[2], "c");
	assert_string_equal(names[3], "d");
	mlops_csv_header(csv, &f, &n);
	assert_int_equal(n, 4);
	assert_int_equal(f[3].len, 1);
	mlops_csv_free(csv);
	unlink(path);
	free(path);
}

static void test_write_field(void **state)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *m = open_memstream(&buf, &size);
	struct mlops_csv_field rec[] = {
		{ "plain", 5 }, { "a,b", 3 }, { "say \"hi\"", 8 }, { "x\ny", 3 }, { "", 0 }, { "c\rd", 3 },
	};
	struct mlops_csv_field empty[] = { { "", 0 } };
	(void)state;
	assert_int_equal(mlops_csv_write_record(m, rec, 6, ','), 0);
	assert_int_equal(mlops_csv_write_record(m, empty, 1, ','), 0);
	assert_int_equal(mlops_csv_write_field(m, "a\tb", 3, '\t'), 0);
	assert_int_equal(mlops_csv_write_field(m, "a,b", 3, '\t'), 0);
	fclose(m);
	assert_string_equal(buf, "plain,\"a,b\",\"say \"\"hi\"\"\",\"x\ny\",,\"c\rd\"\n\"\"\n\"a\tb\"a,b");
	free(buf);
}

/* What the writer writes, the reader reads back unchanged. */
static void test_round_trip(void **state)
{
	static const char *const values[] = {
		"", "a", "a,b", "\"", "\"\"", "x\ny", "\r\n", " lead", "trail ", "é", ",\",\n",
	};
	const size_t nv = sizeof(values) / sizeof(values[0]);
	char *buf = NULL, *path;
	size_t size = 0;
	FILE *m = open_memstream(&buf, &size);
	struct mlops_csv *csv;
	const struct mlops_csv_field *f;
	size_t n, row = 0;
	(void)state;
	fputs("c1,c2\n", m);
	for (size_t i = 0; i < nv; i++)
		for (size_t j = 0; j < nv; j++) {
			struct mlops_csv_field rec[2] = {
				{ values[i], strlen(values[i]) }, { values[j], strlen(values[j]) },
			};
			assert_int_equal(mlops_csv_write_record(m, rec, 2, ','), 0);
		}
	fclose(m);
	path = temp_file(buf, size, NULL);
	free(buf);
	for (size_t b = 0; b < sizeof(buffer_sizes) / sizeof(buffer_sizes[0]); b++) {
		struct mlops_csv_options o = { .buffer_size = buffer_sizes[b], .delim = ',' };
		assert_int_equal(mlops_csv_open(&csv, path, &o), 0);
		row = 0;
		while (mlops_csv_next(csv, &f, &n) == 1) {
			const char *x = values[row / nv], *y = values[row % nv];
			assert_int_equal(n, 2);
			assert_int_equal(f[0].len, strlen(x));
			assert_memory_equal(f[0].ptr, x, f[0].len);
			assert_int_equal(f[1].len, strlen(y));
			assert_memory_equal(f[1].ptr, y, f[1].len);
			row++;
		}
		assert_int_equal(row, nv * nv);
		mlops_csv_free(csv);
	}
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_embedded_newline),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_bom),
		cmocka_unit_test(test_empty_fields),
		cmocka_unit_test(test_tsv_and_detection),
		cmocka_unit_test(test_last_line_without_newline),
		cmocka_unit_test(test_empty_and_header_only),
		cmocka_unit_test(test_blank_lines),
		cmocka_unit_test(test_no_header),
		cmocka_unit_test(test_header_names),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_error_sticks),
		cmocka_unit_test(test_ragged_option),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_record_limit),
		cmocka_unit_test(test_pipe),
		cmocka_unit_test(test_jsonl),
		cmocka_unit_test(test_jsonl_new_keys),
		cmocka_unit_test(test_write_field),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
