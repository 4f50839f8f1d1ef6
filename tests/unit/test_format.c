/*
 * test_format.c - the store's format version (store/format.h): the parser
 * of .mlops/format (digits and a newline, nothing else, huge numbers),
 * reading the file (missing, current, newer, malformed, not a file), and
 * opening and initialising repositories whose store is unversioned,
 * current, newer or malformed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "store/format.h"

static void test_parse(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		unsigned want;
	} good[] = {
		{ "1\n", 1 },
		{ "1", 1 },
		{ "0\n", 0 },
		{ "00\n", 0 },
		{ "007\n", 7 },
		{ "2\n", 2 },
		{ "4294967295\n", UINT_MAX },
		{ "4294967296\n", UINT_MAX },
		{ "99999999999999999999999999999999999999\n", UINT_MAX },
	};
	unsigned n;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		n = 12345;
		if (mlops_format_parse(&n, good[i].text, strlen(good[i].text)) != 0)
			fail_msg("case %zu: %s", i, mlops_error_message());
		assert_int_equal(n, good[i].want);
	}
	/* Only the length given counts: no terminator needed. */
	assert_int_equal(mlops_format_parse(&n, "12\nxyz", 3), 0);
	assert_int_equal(n, 12);
	/* The longest accepted: MLOPS_FORMAT_MAX_LEN bytes with the newline. */
	char text[MLOPS_FORMAT_MAX_LEN + 2];
	memset(text, '9', sizeof(text));
	text[MLOPS_FORMAT_MAX_LEN - 1] = '\n';
	assert_int_equal(mlops_format_parse(&n, text, MLOPS_FORMAT_MAX_LEN), 0);
	assert_int_equal(n, UINT_MAX);
	assert_int_equal(mlops_format_parse(&n, text, MLOPS_FORMAT_MAX_LEN - 1), 0);
	memset(text, '9', sizeof(text));
	assert_int_equal(mlops_format_parse(&n, text, MLOPS_FORMAT_MAX_LEN + 1), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "'.mlops/format' is malformed"));
	text[MLOPS_FORMAT_MAX_LEN] = '\n';
	assert_int_equal(mlops_format_parse(&n, text, MLOPS_FORMAT_MAX_LEN + 1), MLOPS_EINVALID);

	static const char *const bad[] = {
		"", "\n", "\n1", "1\n\n", "1\n2\n", " 1\n", "1 \n", "1\t\n", "1\r\n", "1\r",
		"+1\n", "-1\n", "1.0\n", "1e3\n", "0x1\n", "one\n", "1k\n", "\xef\xbb\xbf" "1\n",
		"[core]\n\tformatVersion = 1\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 12345;
		if (mlops_format_parse(&n, bad[i], strlen(bad[i])) != MLOPS_EINVALID)
			fail_msg("case %zu: '%s' accepted", i, bad[i]);
		assert_int_equal(n, 0);
		assert_non_null(strstr(mlops_error_message(), "'.mlops/format'"));
		assert_non_null(strstr(mlops_error_message(), "such as 1"));
	}
	/* A NUL byte, which strlen() would hide. */
	assert_int_equal(mlops_format_parse(&n, "1\0\n", 3), MLOPS_EINVALID);
	assert_int_equal(mlops_format_parse(&n, "\0", 1), MLOPS_EINVALID);
	/* The messages: what was found when it can be shown, not raw bytes. */
	assert_int_equal(mlops_format_parse(&n, "", 0), MLOPS_EINVALID);
	assert_string_equal(mlops_error_message(),
			    "'.mlops/format' is empty; expected the store format number and a "
			    "newline, such as 1");
	assert_int_equal(mlops_format_parse(&n, "two\n", 4), MLOPS_EINVALID);
	assert_string_equal(mlops_error_message(),
			    "'.mlops/format' holds 'two'; expected the store format number and a "
			    "newline, such as 1");
	assert_int_equal(mlops_format_parse(&n, "1\x1b[2J\n", 6), MLOPS_EINVALID);
	assert_string_equal(mlops_error_message(),
			    "'.mlops/format' is malformed; expected the store format number and a "
			    "newline, such as 1");
}

static char *format_path(char *buf, size_t size, struct fixture *fx)
{
	return fx_path(buf, size, fx->repo->dir, MLOPS_FORMAT_FILE);
}

static void write_format(struct fixture *fx, const char *text)
{
	char path[PATH_MAX];
	fx_write_str(format_path(path, sizeof(path), fx), text);
}

static void test_read(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	unsigned n = 12345;
	/* Missing: format 0. */
	assert_int_equal(unlink(format_path(path, sizeof(path), fx)), 0);
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), 0);
	assert_int_equal(n, 0);
	write_format(fx, "1\n");
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), 0);
	assert_int_equal(n, 1);
	write_format(fx, "0");
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), 0);
	assert_int_equal(n, 0);
	/* Newer: the number as written, without its leading zeros. */
	write_format(fx, "0002\n");
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), MLOPS_EFORMAT);
	assert_string_equal(mlops_error_message(),
			    ".mlops: store format 2 is newer than this mlops understands (1); upgrade mlops");
	write_format(fx, "99999999999999999999999\n");
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), MLOPS_EFORMAT);
	assert_non_null(strstr(mlops_error_message(), "store format 99999999999999999999999 is newer"));
	/* Malformed, and longer than any valid content. */
	write_format(fx, "");
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), MLOPS_EINVALID);
	write_format(fx, "1\r\n");
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), MLOPS_EINVALID);
	char big[4096];
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_format(fx, big);
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "'.mlops/format' is malformed"));
	/* Not a regular file: a directory, a FIFO (which must not block). */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0777), 0);
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), MLOPS_EINVALID);
	assert_string_equal(mlops_error_message(), "'.mlops/format' is not a regular file");
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(mkfifo(path, 0666), 0);
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), MLOPS_EINVALID);
	assert_int_equal(unlink(path), 0);
	/* Written whole, then read back. */
	assert_int_equal(mlops_format_write(fx->repo->dir, fx->repo->tmpdir), 0);
	char *text;
	size_t len;
	assert_int_equal(mlops_read_file(&text, &len, path), 0);
	assert_string_equal(text, "1\n");
	free(text);
	assert_int_equal(mlops_format_read(&n, fx->repo->dir), 0);
	assert_int_equal(n, MLOPS_FORMAT_VERSION);
}

static void test_init_writes_version(void **state)
{
	struct fixture *fx = *state;
	struct mlops_repo *repo;
	char path[PATH_MAX], *text;
	size_t len;
	assert_int_equal(fx->repo->format, MLOPS_FORMAT_VERSION);
	assert_int_equal(mlops_read_file(&text, &len, format_path(path, sizeof(path), fx)), 0);
	assert_string_equal(text, "1\n");
	free(text);
	/* Not in the configuration every clone shares. */
	assert_int_equal(mlops_read_file(&text, &len, fx_path(path, sizeof(path), fx->repo->dir, "config")), 0);
	assert_null(strstr(text, "ormat"));
	free(text);
	assert_int_equal(mlops_repo_open(&repo, fx->work), 0);
	assert_int_equal(repo->format, MLOPS_FORMAT_VERSION);
	mlops_repo_free(repo);
	/* Again: nothing created. */
	int created = 1;
	assert_int_equal(mlops_repo_init(&repo, fx->work, &created), 0);
	assert_int_equal(created, 0);
	assert_int_equal(repo->format, MLOPS_FORMAT_VERSION);
	mlops_repo_free(repo);
}

static void test_init_clone(void **state)
{
	struct fixture *fx = *state;
	struct mlops_repo *repo;
	char path[PATH_MAX];
	struct stat st;
	/* What git clone brings: .mlops/ with config and .gitignore only. */
	static const char *const gone[] = { "objects", "refs", "logs", "tmp", "index", "format" };
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		fx_rm_rf(fx_path(path, sizeof(path), fx->repo->dir, gone[i]));
	/* Opening it finishes the store as init would, format first. */
	assert_int_equal(mlops_repo_open(&repo, fx->work), 0);
	assert_int_equal(repo->format, MLOPS_FORMAT_VERSION);
	mlops_repo_free(repo);
	assert_int_equal(stat(format_path(path, sizeof(path), fx), &st), 0);
	assert_int_equal(stat(fx_path(path, sizeof(path), fx->repo->dir, "objects"), &st), 0);
	/* And init, on what git clone brings. */
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
		fx_rm_rf(fx_path(path, sizeof(path), fx->repo->dir, gone[i]));
	int created = 0;
	assert_int_equal(mlops_repo_init(&repo, fx->work, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(repo->format, MLOPS_FORMAT_VERSION);
	mlops_repo_free(repo);
	assert_int_equal(stat(format_path(path, sizeof(path), fx), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* No temporary file left behind. */
	assert_int_equal(fx_count_files(fx_path(path, sizeof(path), fx->repo->dir, "tmp")), 0);
}

static void test_open_unversioned(void **state)
{
	struct fixture *fx = *state;
	struct mlops_repo *repo;
	char path[PATH_MAX];
	struct stat st;
	assert_int_equal(unlink(format_path(path, sizeof(path), fx)), 0);
	assert_int_equal(mlops_repo_open(&repo, fx->work), 0);
	assert_int_equal(repo->format, 0);
	mlops_repo_free(repo);
	/* init leaves an existing store without the file as it is. */
	int created = 1;
	assert_int_equal(mlops_repo_init(&repo, fx->work, &created), 0);
	assert_int_equal(created, 0);
	assert_int_equal(repo->format, 0);
	mlops_repo_free(repo);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_open_newer(void **state)
{
	struct fixture *fx = *state;
	struct mlops_repo *repo = (void *)1;
	char path[PATH_MAX];
	write_format(fx, "2\n");
	assert_int_equal(mlops_repo_open(&repo, fx->work), MLOPS_EFORMAT);
	assert_null(repo);
	assert_string_equal(mlops_error_message(),
			    ".mlops: store format 2 is newer than this mlops understands (1); upgrade mlops");
	assert_int_equal(mlops_error_exit_code(MLOPS_EFORMAT), MLOPS_EXIT_NOREPO);
	/* init refuses it before it creates anything. */
	fx_rm_rf(fx_path(path, sizeof(path), fx->repo->dir, "tmp"));
	fx_rm_rf(fx_path(path, sizeof(path), fx->repo->dir, "objects"));
	int created = 0;
	assert_int_equal(mlops_repo_init(&repo, fx->work, &created), MLOPS_EFORMAT);
	assert_int_equal(created, 0);
	struct stat st;
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(stat(fx_path(path, sizeof(path), fx->repo->dir, "tmp"), &st), -1);
	char *text;
	size_t len;
	assert_int_equal(mlops_read_file(&text, &len, format_path(path, sizeof(path), fx)), 0);
	assert_string_equal(text, "2\n");
	free(text);
}

static void test_open_malformed(void **state)
{
	struct fixture *fx = *state;
	struct mlops_repo *repo;
	static const char *const bad[] = { "two\n", "-1\n", "", "1\r\n", " 1\n", "1\n\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_format(fx, bad[i]);
		if (mlops_repo_open(&repo, fx->work) != MLOPS_EINVALID)
			fail_msg("case %zu: opened, or another error: %s", i, mlops_error_message());
		assert_non_null(strstr(mlops_error_message(), "'.mlops/format'"));
		int created = 0;
		assert_int_equal(mlops_repo_init(&repo, fx->work, &created), MLOPS_EINVALID);
		assert_int_equal(mlops_error_exit_code(MLOPS_EINVALID), MLOPS_EXIT_INVALID);
	}
	/* The configuration says nothing about the format any more. */
	char path[PATH_MAX];
	write_format(fx, "1\n");
	fx_write_str(fx_path(path, sizeof(path), fx->repo->dir, "config"),
		     "[core]\n\tformatVersion = 9\n");
	assert_int_equal(mlops_repo_open(&repo, fx->work), 0);
	assert_int_equal(repo->format, 1);
	mlops_repo_free(repo);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test_setup_teardown(test_read, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_init_writes_version, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_init_clone, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_unversioned, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_newer, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_malformed, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
