/*
 * test_dynlib.c - libraries loaded on first use: the four real ones load
 * and their tables are complete (libgit2's also on the first call through
 * its table, with no loader called); a missing library or symbol is an error
 * naming it and the package to install, the same on every call.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MLOPS_DYNLIB_IMPL
#include "store/dl_archive.h"
#include "store/dl_curl.h"
#include "store/dl_git2.h"
#include "store/dl_mhd.h"
#include "store/dynlib.h"
#include "store/error.h"

/* Every slot of a loaded table points somewhere. */
static void assert_filled(const void *table, size_t size)
{
	void *const *slot = table;
	size_t i;

	assert_int_equal(size % sizeof(void *), 0);
	for (i = 0; i < size / sizeof(void *); i++)
		assert_non_null(slot[i]);
}

static void test_real_libraries(void **state)
{
	(void)state;
	/* libgit2: the first use through its table loads it. */
	assert_int_equal(atomic_load(&mlops_git2_ready), 0);
	const char hex[] = "0123456789abcdef0123456789abcdef01234567";
	char back[GIT_OID_HEXSZ + 1];
	git_oid oid;
	assert_int_equal(mlops_git2_api()->oid_fromstr(&oid, hex), 0);
	assert_int_equal(atomic_load(&mlops_git2_ready), 1);
	assert_string_equal(mlops_git2.oid_tostr(back, sizeof(back), &oid), hex);
	assert_filled(&mlops_git2, sizeof(mlops_git2));
	assert_int_equal(mlops_curl_load(), 0);
	assert_filled(&mlops_curl, sizeof(mlops_curl));
	assert_int_equal(mlops_mhd_load(), 0);
	assert_filled(&mlops_mhd, sizeof(mlops_mhd));
	assert_int_equal(mlops_archive_load(), 0);
	assert_filled(&mlops_archive, sizeof(mlops_archive));
	/* A second load is free and still succeeds. */
	assert_int_equal(mlops_curl_load(), 0);
	/* The table calls the library itself. */
	assert_non_null(strstr(mlops_curl.easy_strerror(CURLE_OK), "No error"));
	assert_non_null(mlops_archive.read_new);
}

static void test_missing_library(void **state)
{
	static const char *const names[] = { "nothing" };
	void *slots[1] = { NULL };
	struct mlops_dynlib lib = {
		.soname = "libmlops-absent.so.7", .package = "libmlops-absent7",
		.names = names, .slots = slots, .n = 1,
	};
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(mlops_dynlib_load(&lib), MLOPS_ERROR);
		assert_non_null(strstr(mlops_error_message(), "unable to load 'libmlops-absent.so.7'"));
		assert_non_null(strstr(mlops_error_message(), "install the package libmlops-absent7"));
	}
	assert_null(slots[0]);
}

static void test_missing_symbol(void **state)
{
	static const char *const names[] = { "curl_easy_init", "curl_no_such_function" };
	void *slots[2] = { NULL, NULL };
	struct mlops_dynlib lib = {
		.soname = "libcurl.so.4", .package = "libcurl4",
		.names = names, .slots = slots, .n = 2,
	};

	(void)state;
	assert_int_equal(mlops_dynlib_load(&lib), MLOPS_ERROR);
	assert_non_null(strstr(mlops_error_message(), "has no symbol 'curl_no_such_function'"));
	assert_non_null(slots[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_libraries),
		cmocka_unit_test(test_missing_library),
		cmocka_unit_test(test_missing_symbol),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
