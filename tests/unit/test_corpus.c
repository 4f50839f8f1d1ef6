/*
 * test_corpus.c - replays tests/corpus/<target>/ through the fuzz targets
 * of tests/fuzz/, built with the normal compiler and without libFuzzer.
 *
 * Every seed and every input that once crashed a target is kept in its
 * corpus directory; this test runs each of them through its target on
 * every `make test` (and under ASan+UBSan in `make sanitize`, and under
 * valgrind by hand), so a fixed crash cannot come back unnoticed.  A
 * target fails the test by crashing or aborting on a broken invariant.
 * Each corpus directory must hold at least one input.
 *
 * The corpus is found at $MLOPS_CORPUS, else tests/corpus relative to the
 * current directory (make runs tests from the top of the tree).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/fsutil.h"

/* Each target under its own name. */
#define LLVMFuzzerTestOneInput fuzz_csv_one
#include "tests/fuzz/fuzz_csv.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_rev_one
#include "tests/fuzz/fuzz_rev.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_lockmerge_one
#include "tests/fuzz/fuzz_lockmerge.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_json_records_one
#define LLVMFuzzerInitialize fuzz_json_records_init
#include "tests/fuzz/fuzz_json_records.c"
#undef LLVMFuzzerTestOneInput
#undef LLVMFuzzerInitialize

#define LLVMFuzzerTestOneInput fuzz_serve_one
#define LLVMFuzzerInitialize fuzz_serve_init
#include "tests/fuzz/fuzz_serve.c"
#undef LLVMFuzzerTestOneInput
#undef LLVMFuzzerInitialize

#define LLVMFuzzerTestOneInput fuzz_archive_one
#define LLVMFuzzerInitialize fuzz_archive_init
#include "tests/fuzz/fuzz_archive.c"
#undef LLVMFuzzerTestOneInput
#undef LLVMFuzzerInitialize

#define LLVMFuzzerTestOneInput fuzz_columnar_one
#include "tests/fuzz/fuzz_columnar.c"
#undef LLVMFuzzerTestOneInput

#define LLVMFuzzerTestOneInput fuzz_s3xml_one
#include "tests/fuzz/fuzz_s3xml.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

static const char *corpus_root(void)
{
	const char *env = getenv("MLOPS_CORPUS");
	return env && *env ? env : "tests/corpus";
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replay every regular file of <corpus>/<target>; returns how many. */
static size_t replay(const char *target, fuzz_fn fn)
{
	char dir[4096];
	size_t n = 0, cap = 0;
	char **names = NULL;
	snprintf(dir, sizeof(dir), "%s/%s", corpus_root(), target);
	DIR *d = opendir(dir);
	if (!d)
		fail_msg("unable to open '%s': %s", dir, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = realloc(names, cap * sizeof(*names));
			assert_non_null(names);
		}
		names[n] = strdup(de->d_name);
		assert_non_null(names[n]);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[8192];
		char *data = NULL;
		size_t len = 0;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (mlops_read_file(&data, &len, path) < 0)
			fail_msg("unable to read '%s': %s", path, mlops_error_message());
		/* An exact-size copy: the reader's NUL must not hide an over-read. */
		uint8_t *copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, data, len);
		free(data);
		assert_int_equal(fn(copy, len), 0);
		free(copy);
		free(names[i]);
	}
	free(names);
	return n;
}

static void test_columnar(void **state)
{
	(void)state;
	assert_true(replay("columnar", fuzz_columnar_one) > 0);
}

static void test_csv(void **state)
{
	(void)state;
	assert_true(replay("csv", fuzz_csv_one) > 0);
}

static void test_rev(void **state)
{
	(void)state;
	assert_true(replay("rev", fuzz_rev_one) > 0);
}

static void test_lockmerge(void **state)
{
	(void)state;
	assert_true(replay("lockmerge", fuzz_lockmerge_one) > 0);
}

static void test_json_records(void **state)
{
	(void)state;
	fuzz_json_records_init(NULL, NULL);
	assert_true(replay("json_records", fuzz_json_records_one) > 0);
}

static void test_serve(void **state)
{
	(void)state;
	fuzz_serve_init(NULL, NULL);
	assert_true(replay("serve", fuzz_serve_one) > 0);
}

static void test_archive(void **state)
{
	(void)state;
	fuzz_archive_init(NULL, NULL);
	assert_true(replay("archive", fuzz_archive_one) > 0);
}

static void test_s3xml(void **state)
{
	(void)state;
	assert_true(replay("s3xml", fuzz_s3xml_one) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_columnar),
		cmocka_unit_test(test_rev),
		cmocka_unit_test(test_lockmerge),
		cmocka_unit_test(test_json_records),
		cmocka_unit_test(test_serve),
		cmocka_unit_test(test_archive),
		cmocka_unit_test(test_s3xml),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
