/*
 * test_fsutil.c - working directories in a shared tmp/ (store/fsutil.h):
 * their names, which ones mlops_workdir_clean takes for a killed process's
 * (dead process on this host) and which it leaves (live, this process's,
 * another host's, names that are not working directories), and
 * mlops_remove_tree on trees, files, links and missing paths, and
 * mlops_fsync_files_up_to on files removed meanwhile and paths that fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_fixture.h"

#include <ctype.h>
#include <dirent.h>

/* This host's name as working directories carry it. */
static void host_tag(char *buf, size_t len)
{
	assert_int_equal(gethostname(buf, len - 1), 0);
	buf[len - 1] = '\0';
	for (char *p = buf; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			*p = '_';
}

static int exists(const char *base, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	return lstat(fx_path(path, sizeof(path), base, name), &st) == 0;
}

static void mkdir_in(const char *base, const char *name)
{
	char path[PATH_MAX];
	assert_int_equal(mkdir(fx_path(path, sizeof(path), base, name), 0777), 0);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_make_names(void **state)
{
	struct fixture *fx = *state;
	char host[256], want[PATH_MAX], *a = NULL, *b = NULL;
	struct stat st;
	host_tag(host, sizeof(host));
	assert_int_equal(mlops_workdir_make(&a, fx->scratch, "run"), 0);
	assert_int_equal(mlops_workdir_make(&b, fx->scratch, "run"), 0);
	assert_string_not_equal(a, b);
	fx_fmt(want, "%s/run-%s-%ld-", fx->scratch, host, (long)getpid());
	assert_int_equal(strncmp(a, want, strlen(want)), 0);
	assert_int_equal(strlen(a), strlen(want) + 6);
	assert_int_equal(stat(a, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	/* This process's own are never taken for a dead one's. */
	assert_int_equal(mlops_workdir_clean(fx->scratch), 0);
	assert_int_equal(stat(a, &st), 0);
	assert_int_equal(stat(b, &st), 0);
	free(a);
	free(b);

	char *c = NULL;
	assert_int_equal(mlops_workdir_make(&c, "/nonexistent/mlops-unit", "run"), MLOPS_EIO);
	assert_null(c);
	assert_non_null(strstr(mlops_error_message(), "/nonexistent/mlops-unit"));
}

static void test_clean_dead_only(void **state)
{
	struct fixture *fx = *state;
	char host[256], name[PATH_MAX], path[PATH_MAX];
	host_tag(host, sizeof(host));

	/* A child makes one and its contents, then dies without removing it. */
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *dir = NULL;
		close(fds[0]);
		if (mlops_workdir_make(&dir, fx->scratch, "import") < 0)
			_exit(1);
		char deep[PATH_MAX];
		snprintf(deep, sizeof(deep), "%s/a/b", dir);
		if (mlops_mkdir_p(deep) < 0)
			_exit(1);
		strcat(deep, "/file");
		int fd = open(deep, O_WRONLY | O_CREAT, 0444);
		if (fd < 0 || write(fds[1], dir, strlen(dir)) < 0)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	char dead[PATH_MAX] = "";
	ssize_t n = read(fds[0], dead, sizeof(dead) - 1);
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(n > 0);
	dead[n] = '\0';

	/* A live process's, another host's, and names that are not one. */
	fx_fmt(name, "run-%s-1-abcdef", host); /* init: alive */
	mkdir_in(fx->scratch, name);
	fx_fmt(name, "run-%sx-999999999-abcdef", host);
	mkdir_in(fx->scratch, name);
	fx_fmt(name, "run-x%s-999999999-abcdef", host);
	mkdir_in(fx->scratch, name);
	static const char *const kept_fmt[] = {
		"run-%s-999999999-abcde",      /* five random characters */
		"run-%s-999999999-abcdefg",    /* seven */
		"run-%s-9999999999-abcdef",    /* ten digits: not a process */
		"run-%s-0-abcdef",             /* no process 0 */
		"run-%s--abcdef",              /* no number */
		"run-%s-12x4-abcdef",          /* not a number */
		"r.n-%s-999999999-abcdef",     /* prefix not letters and digits */
		"-%s-999999999-abcdef",        /* no prefix */
		"run%s-999999999-abcdef",      /* no dash after the prefix */
	};
	for (size_t i = 0; i < sizeof(kept_fmt) / sizeof(kept_fmt[0]); i++) {
		fx_fmt(name, kept_fmt[i], host);
		mkdir_in(fx->scratch, name);
	}
	mkdir_in(fx->scratch, "run-abcdef");
	mkdir_in(fx->scratch, "run--999999999-abcdef");
	/* Dead ones under other prefixes go too. */
	fx_fmt(name, "baseline-%s-999999999-abcdef", host);
	mkdir_in(fx->scratch, name);
	fx_fmt(name, "monitor7-%s-999999999-a.c_ef", host);
	mkdir_in(fx->scratch, name);

	size_t before = count_entries(fx->scratch);
	assert_int_equal(mlops_workdir_clean(fx->scratch), 3);
	assert_int_equal(count_entries(fx->scratch), before - 3);
	assert_false(exists("/", dead + 1));
	fx_fmt(name, "baseline-%s-999999999-abcdef", host);
	assert_false(exists(fx->scratch, name));
	fx_fmt(name, "monitor7-%s-999999999-a.c_ef", host);
	assert_false(exists(fx->scratch, name));
	fx_fmt(name, "run-%s-1-abcdef", host);
	assert_true(exists(fx->scratch, name));
	/* Again: nothing more goes. */
	assert_int_equal(mlops_workdir_clean(fx->scratch), 0);
	/* A missing directory is nothing to clean. */
	assert_int_equal(mlops_workdir_clean(fx_path(path, sizeof(path), fx->scratch, "none")), 0);
}

/*
 * A temporary file names its host and process, so that gc keeps one whose
 * process still runs, however old (a long add's pending objects), and takes
 * a dead one's by its age.
 */
static void test_tempfile_live(void **state)
{
	struct fixture *fx = *state;
	char host[256], want[PATH_MAX], name[PATH_MAX], path[PATH_MAX], *tmp = NULL;
	int fd = -1;
	host_tag(host, sizeof(host));
	assert_int_equal(mlops_tempfile(&fd, &tmp, fx->scratch, "obj-"), 0);
	close(fd);
	fx_fmt(want, "%s/obj-%s-%ld-", fx->scratch, host, (long)getpid());
	assert_int_equal(strncmp(tmp, want, strlen(want)), 0);
	assert_int_equal(strlen(tmp), strlen(want) + 6);
	assert_true(mlops_tempfile_live(strrchr(tmp, '/') + 1));
	free(tmp);
	fx_fmt(name, "fetch-pack-%s-1-abcdef", host); /* init: alive */
	assert_true(mlops_tempfile_live(name));
	fx_fmt(name, "obj-%s-999999999-abcdef", host);
	assert_false(mlops_tempfile_live(name));
	fx_fmt(name, "obj-x%s-1-abcdef", host);
	assert_false(mlops_tempfile_live(name));
	assert_false(mlops_tempfile_live("obj-abcdef"));
	assert_false(mlops_tempfile_live("1-abcdef"));

	/* The store's gc: with no grace at all, the live one stays. */
	struct mlops_odb *odb = NULL;
	char objects[PATH_MAX], tmpdir[PATH_MAX];
	fx_path(objects, sizeof(objects), fx->scratch, "objects");
	fx_path(tmpdir, sizeof(tmpdir), fx->scratch, "tmp");
	assert_int_equal(mkdir(objects, 0777), 0);
	assert_int_equal(mkdir(tmpdir, 0777), 0);
	assert_int_equal(mlops_odb_open(&odb, objects, tmpdir), 0);
	assert_int_equal(mlops_tempfile(&fd, &tmp, tmpdir, "obj-"), 0);
	close(fd);
	fx_fmt(name, "obj-%s-999999999-abcdef", host);
	fx_write(fx_path(path, sizeof(path), tmpdir, name), "x", 1);
	fx_write(fx_path(path, sizeof(path), tmpdir, "obj-abcdef"), "x", 1);
	assert_int_equal(mlops_odb_clean_tmp(odb, 0), 2);
	assert_int_equal(access(tmp, F_OK), 0);
	free(tmp);
	mlops_odb_free(odb);
}

static void test_remove_tree(void **state)
{
	struct fixture *fx = *state;
	char top[PATH_MAX], path[PATH_MAX], outside[PATH_MAX];
	struct stat st;
	fx_path(top, sizeof(top), fx->scratch, "t");
	fx_path(outside, sizeof(outside), fx->scratch, "outside");
	fx_write_deep(fx_path(path, sizeof(path), top, "a/b/c/f"), "x", 1);
	fx_write_deep(fx_path(path, sizeof(path), top, "g"), "y", 1);
	fx_write_deep(fx_path(path, sizeof(path), outside, "keep"), "z", 1);
	/* A link to a directory outside: the link goes, not what it names. */
	assert_int_equal(symlink(outside, fx_path(path, sizeof(path), top, "a/link")), 0);
	assert_int_equal(mlops_remove_tree(top), 0);
	assert_int_equal(lstat(top, &st), -1);
	assert_int_equal(stat(fx_path(path, sizeof(path), outside, "keep"), &st), 0);
	/* Missing: nothing to do. */
	assert_int_equal(mlops_remove_tree(top), 0);
	/* A file, and a link itself. */
	fx_write(top, "f", 1);
	assert_int_equal(mlops_remove_tree(top), 0);
	assert_int_equal(lstat(top, &st), -1);
	assert_int_equal(symlink(outside, top), 0);
	assert_int_equal(mlops_remove_tree(top), 0);
	assert_int_equal(lstat(top, &st), -1);
	assert_int_equal(stat(outside, &st), 0);
	/* What cannot go: -1 with the reason. */
	assert_int_equal(mlops_remove_tree("/proc/self"), -1);
	assert_true(errno != 0);
}

static void test_fsync_files_up_to(void **state)
{
	struct fixture *fx = *state;
	char root[PATH_MAX], a[PATH_MAX], b[PATH_MAX], gone[PATH_MAX], bad[PATH_MAX];
	fx_path(root, sizeof(root), fx->scratch, "r");
	fx_write_deep(fx_path(a, sizeof(a), root, "packs/x/a"), "a", 1);
	fx_write_deep(fx_path(b, sizeof(b), root, "packs/b"), "b", 1);
	fx_write_deep(fx_path(gone, sizeof(gone), root, "objects/ab/c"), "c", 1);
	char *files[] = { a, b, gone };
	assert_int_equal(mlops_fsync_files_up_to(files, 3, root), 0);
	/* A file a gc took meanwhile, and its folder: not an error. */
	assert_int_equal(unlink(gone), 0);
	assert_int_equal(rmdir(fx_path(bad, sizeof(bad), root, "objects/ab")), 0);
	assert_int_equal(mlops_fsync_files_up_to(files, 3, root), 0);
	/* Any other failure is, naming the path. */
	fx_path(bad, sizeof(bad), root, "packs/b/under-a-file");
	files[1] = bad;
	assert_true(mlops_fsync_files_up_to(files, 3, root) < 0);
	assert_non_null(strstr(mlops_error_message(), "under-a-file"));
	assert_non_null(strstr(mlops_error_message(), "Not a directory"));
	assert_int_equal(mlops_fsync_files_up_to(files, 0, root), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_make_names, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_clean_dead_only, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tempfile_live, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_remove_tree, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_fsync_files_up_to, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
