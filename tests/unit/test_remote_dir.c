/*
 * test_remote_dir.c - a directory remote's put_parts (store/remote_dir.c):
 * the parts stored back to back as one key, and a part that fails: its
 * error comes back as the caller's (a local read that fails is not the
 * remote's failure), and no key and no temporary file are left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_fixture.h"

#include <dirent.h>

#include "remote_parts.h"

/* Files anywhere under dir, folders not counted. */
static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *de;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		fx_fmt(path, "%s/%s", dir, de->d_name);
		assert_int_equal(lstat(path, &st), 0);
		n += S_ISDIR(st.st_mode) ? count_files(path) : 1;
	}
	closedir(d);
	return n;
}

static void test_put_parts(void **state)
{
	static const unsigned char text[] = "alpha beta gamma";
	static const size_t sizes[] = { 6, 0, 5, 5 };
	struct fixture *fx = *state;
	struct mlops_remote_options opts = { .fsync = 1, .hardlinks = 1 };
	struct mlops_remote *r = NULL;
	char url[PATH_MAX], path[PATH_MAX];
	void *back = NULL;
	size_t len;
	fx_fmt(url, "%s/remote", fx->scratch);
	assert_int_equal(mkdir(url, 0777), 0);
	if (mlops_remote_open_url(&r, url, &opts) < 0)
		fail_msg("%s", mlops_error_message());
	assert_non_null(r->put_parts);

	struct parts p = { .blob = text, .sizes = sizes, .fail_at = SIZE_MAX };
	assert_int_equal(r->put_parts(r, "packs/whole.pack", 4, next_part, &p), 0);
	assert_int_equal(p.calls, 4);
	assert_int_equal(r->get(r, "packs/whole.pack", &back, &len, 1 << 20), 0);
	assert_int_equal(len, strlen("alpha beta gamma"));
	assert_memory_equal(back, "alpha beta gamma", len);
	free(back);
	assert_int_equal(r->sync(r), 0);
	size_t before = count_files(url);

	/* A local read that fails: its own error and message, nothing stored. */
	p = (struct parts){ .blob = text, .sizes = sizes, .fail_at = 2, .fail_code = MLOPS_EIO };
	assert_int_equal(r->put_parts(r, "packs/failed.pack", 4, next_part, &p), MLOPS_EIO);
	assert_string_equal(mlops_error_message(), "unable to read object 2: Input/output error");
	assert_int_equal(p.calls, 3);
	fx_fmt(path, "%s/packs/failed.pack", url);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_files(url), before);

	p = (struct parts){ .blob = text, .sizes = sizes, .fail_at = 0, .fail_code = MLOPS_ECORRUPT };
	assert_int_equal(r->put_parts(r, "packs/failed.pack", 4, next_part, &p), MLOPS_ECORRUPT);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(count_files(url), before);
	mlops_remote_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_parts, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
