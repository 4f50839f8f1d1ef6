/*
 * test_slurm.c - the batch script of a Slurm job: shell quoting against
 * hostile strings (quotes, $(...), backticks, newlines, globs, invalid
 * UTF-8, option-like and assignment-like words), checked by running the
 * generated script with /bin/sh in a directory whose own name is hostile
 * and comparing, byte for byte, the argument vector and environment the
 * command received; the status files it leaves; and a job interrupted by
 * SIGTERM (as scancel does) recorded as interrupted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/run.h"
#include "core/train_internal.h"
#include "store/error.h"
#include "store/fsutil.h"

static const char *const hostile[] = {
	"plain",
	"",
	" leading and trailing ",
	"it's",
	"''",
	"'\\''",
	"\"double\"",
	"$(touch pwned)",
	"`touch pwned`",
	"${HOME}",
	"$HOME",
	"\\",
	"back\\slash\\n",
	"two\nlines\n",
	"; touch pwned",
	"&& touch pwned #",
	"| cat",
	"> pwned",
	"*",
	"~",
	"-n",
	"--",
	"a=b",
	"#comment",
	"\t",
	"!",
	"$'x'",
	"%s%n%d",
	"\x01\x7f\xff\xfe invalid utf-8 \xc3",
	"caf\xc3\xa9",
};
#define NHOSTILE (sizeof(hostile) / sizeof(hostile[0]))

static char *read_all(const char *path, size_t *len)
{
	char *text = NULL;
	if (mlops_read_file(&text, len, path) < 0)
		return NULL;
	return text;
}

static void test_quote_exact(void **state)
{
	(void)state;
	static const struct { const char *in, *out; } cases[] = {
		{ "", "''" },
		{ "abc", "'abc'" },
		{ "it's", "'it'\\''s'" },
		{ "'", "''\\'''" },
		{ "$(x) `y` \"z\"", "'$(x) `y` \"z\"'" },
		{ "a\nb", "'a\nb'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *b = NULL;
		size_t n = 0;
		assert_int_equal(mlops_sh_quote(&b, &n, cases[i].in), 0);
		assert_string_equal(b, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
		free(b);
	}
}

/* A work directory with a hostile name; *top is what to remove. */
static char *hostile_dir(char **top)
{
	char tmpl[] = "/tmp/mlops-test-slurm.XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	*top = strdup(tmpl);
	char *dir = mlops_strdupf("%s/it's a $(dir) `x` %%j \\ \n", tmpl);
	assert_non_null(dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	return dir;
}

static int run_script(const char *dir, const char *script, pid_t *bg)
{
	char *path = mlops_path_join(dir, "job.sh");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	assert_true(fd >= 0);
	assert_int_equal(mlops_write_all(fd, script, strlen(script)), 0);
	close(fd);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", path, (char *)NULL);
		_exit(126);
	}
	free(path);
	if (bg) {
		*bg = pid;
		return 0;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_script_hostile(void **state)
{
	(void)state;
	char *top, *dir = hostile_dir(&top), *script = NULL;
	/* The command prints $HOSTILE_ENV, then every argument, NUL-separated. */
	const char *argv[4 + NHOSTILE + 1];
	size_t na = 0;
	argv[na++] = "/bin/sh";
	argv[na++] = "-c";
	argv[na++] = "printf '%s\\0' \"$HOSTILE_ENV\" \"$MLOPS_RUN_ID\" \"$PWD\" \"$@\"";
	argv[na++] = "sh";
	for (size_t i = 0; i < NHOSTILE; i++)
		argv[na++] = hostile[i];
	argv[na] = NULL;
	char *envs[2];
	envs[0] = mlops_strdupf("HOSTILE_ENV=%s|%s|%s", hostile[4], hostile[7], hostile[13]);
	envs[1] = strdup("MLOPS_RUN_ID=0123abcd");
	struct mlops_slurm_script s = { dir, dir, argv, (const char *const *)envs, 2 };
	assert_int_equal(mlops_slurm_script(&script, &s), 0);
	assert_int_equal(run_script(dir, script, NULL), 0);

	/* Exactly what was given arrived, and nothing ran that was not asked. */
	char *logp = mlops_path_join(dir, "log");
	size_t len;
	char *log = read_all(logp, &len);
	assert_non_null(log);
	char *want = NULL;
	size_t wl = 0;
	const char *expect[3 + NHOSTILE];
	char *envval = mlops_strdupf("%s|%s|%s", hostile[4], hostile[7], hostile[13]);
	expect[0] = envval;
	expect[1] = "0123abcd";
	expect[2] = dir;
	for (size_t i = 0; i < NHOSTILE; i++)
		expect[3 + i] = hostile[i];
	for (size_t i = 0; i < 3 + NHOSTILE; i++) {
		size_t l = strlen(expect[i]);
		want = realloc(want, wl + l + 1);
		memcpy(want + wl, expect[i], l + 1);
		wl += l + 1;
	}
	assert_int_equal(len, wl);
	assert_memory_equal(log, want, wl);
	char *pw = mlops_path_join(dir, "pwned");
	assert_int_not_equal(access(pw, F_OK), 0);
	assert_int_not_equal(access("pwned", F_OK), 0);

	/* The status files. */
	char *exitp = mlops_path_join(dir, "exit"), *startp = mlops_path_join(dir, "start");
	char *ex = read_all(exitp, &len), *st = read_all(startp, &len);
	assert_non_null(ex);
	assert_string_equal(ex, "0 0\n");
	assert_non_null(st);
	double t = strtod(st, NULL);
	assert_true(t > (double)time(NULL) - 60 && t <= (double)time(NULL) + 1);

	free(ex);
	free(st);
	free(exitp);
	free(startp);
	free(pw);
	free(envval);
	free(want);
	free(log);
	free(logp);
	free(script);
	free(envs[0]);
	free(envs[1]);
	mlops_remove_tree(top);
	free(top);
	free(dir);
}

/* A first word with '=' and a failing status: run directly, status kept. */
static void test_script_status(void **state)
{
	(void)state;
	char *top, *dir = hostile_dir(&top), *script = NULL;
	const char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 7", NULL };
	struct mlops_slurm_script s = { dir, "/", argv, NULL, 0 };
	assert_int_equal(mlops_slurm_script(&script, &s), 0);
	assert_non_null(strstr(script, "/usr/bin/env -- 'sh' '-c'"));
	assert_int_equal(run_script(dir, script, NULL), 7);
	char *p = mlops_path_join(dir, "exit"), *l = mlops_path_join(dir, "log");
	size_t len;
	char *ex = read_all(p, &len), *log = read_all(l, &len);
	assert_string_equal(ex, "7 0\n");
	assert_string_equal(log, "out\nerr\n");
	free(ex);
	free(log);
	free(script);

	const char *eq[] = { "X=1", NULL };
	s.argv = eq;
	assert_int_equal(mlops_slurm_script(&script, &s), 0);
	assert_null(strstr(script, "/usr/bin/env"));
	assert_non_null(strstr(script, "\n'X=1'\n"));
	free(script);

	const char *bad_env[] = { "BAD NAME=1" };
	s.argv = argv;
	s.env = bad_env;
	s.nenv = 1;
	assert_int_equal(mlops_slurm_script(&script, &s), MLOPS_EUSAGE);
	mlops_error_clear();
	const char *bad_env2[] = { "X$(y)=1" };
	s.env = bad_env2;
	assert_int_equal(mlops_slurm_script(&script, &s), MLOPS_EUSAGE);
	mlops_error_clear();
	free(p);
	free(l);
	mlops_remove_tree(top);
	free(top);
	free(dir);
}

/* SIGTERM to the job's processes (scancel): recorded as interrupted. */
static void test_script_interrupted(void **state)
{
	(void)state;
	char *top, *dir = hostile_dir(&top), *script = NULL;
	const char *argv[] = { "sleep", "30", NULL };
	struct mlops_slurm_script s = { dir, "/", argv, NULL, 0 };
	pid_t pid;
	assert_int_equal(mlops_slurm_script(&script, &s), 0);
	run_script(dir, script, &pid);
	char *startp = mlops_path_join(dir, "start");
	for (int i = 0; i < 200 && access(startp, F_OK) != 0; i++)
		usleep(10000);
	usleep(100000);
	assert_int_equal(kill(-pid, SIGTERM), 0);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 143);
	char *p = mlops_path_join(dir, "exit");
	size_t len;
	char *ex = read_all(p, &len);
	assert_non_null(ex);
	assert_string_equal(ex, "143 1\n");
	free(ex);
	free(p);
	free(startp);
	free(script);
	mlops_remove_tree(top);
	free(top);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_exact),
		cmocka_unit_test(test_script_hostile),
		cmocka_unit_test(test_script_status),
		cmocka_unit_test(test_script_interrupted),
	};
	return cmocka_run_group_tests_name("slurm", tests, NULL, NULL);
}
