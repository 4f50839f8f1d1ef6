/*
 * test_refs.c - refs, their logs and the repository lock: read, write,
 * compare-and-swap, delete, listing, the log; the lock held, busy, stale
 * (a dead holder is reported, never waited for) and kept when a forked
 * child exits; two processes racing to add 50 versions each lose nothing.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "store/refs.h"

static void oid_of(mlops_oid *out, long n)
{
	char buf[32];
	int l = snprintf(buf, sizeof(buf), "%ld", n);
	mlops_hash_buf(out, buf, (size_t)l);
}

static int file_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void test_ref_names(void **state)
{
	(void)state;
	const char *good[] = { "datasets/train/v3", "a", "models/m-1/v_2", "x.y", "a/b/c/d" };
	const char *bad[] = { "", "/a", "a/", "a//b", ".hidden", "a/.b", "a..b", "a b", "a\\b",
			      "a\nb", "../up", "a/../b", "caf\xc3\xa9" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(mlops_ref_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(mlops_ref_name_valid(bad[i]));
}

static void test_ref_write_read_delete(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_repo *repo = fx->repo;
	struct mlops_lock *lock;
	mlops_oid a, b, c, got, zero;
	char p[PATH_MAX], hex[MLOPS_OID_HEXSZ + 1], line[MLOPS_OID_HEXSZ + 2];
	memset(&zero, 0, sizeof(zero));
	oid_of(&a, 1);
	oid_of(&b, 2);
	oid_of(&c, 3);
	assert_int_equal(mlops_lock_acquire(&lock, repo, 1000), 0);

	assert_int_equal(mlops_ref_read(&got, repo, "datasets/train/v1"), MLOPS_ENOTFOUND);
	assert_int_equal(mlops_ref_write(repo, "datasets/train/v1", &a, &zero, "add v1"), 0);
	assert_int_equal(mlops_ref_read(&got, repo, "datasets/train/v1"), 0);
	assert_int_equal(mlops_oid_cmp(&got, &a), 0);
	/* The file: 64 hex digits and a newline. */
	fx_fmt(line, "%s\n", mlops_oid_fmt(hex, &a));
	assert_true(fx_file_is(fx_path(p, sizeof(p), fx->work, ".mlops/refs/datasets/train/v1"),
			       line, MLOPS_OID_HEXSZ + 1));

	/* Compare-and-swap. */
	assert_int_equal(mlops_ref_write(repo, "datasets/train/v1", &c, &zero, "x"), MLOPS_ECONFLICT);
	assert_int_equal(mlops_ref_write(repo, "datasets/train/v1", &c, &b, "x"), MLOPS_ECONFLICT);
	assert_int_equal(mlops_ref_write(repo, "datasets/train/v1", &b, &a, "move\nto b"), 0);
	assert_int_equal(mlops_ref_read(&got, repo, "datasets/train/v1"), 0);
	assert_int_equal(mlops_oid_cmp(&got, &b), 0);
	assert_int_equal(mlops_ref_write(repo, "datasets/train/v2", &c, NULL, "v2"), 0);
	assert_int_equal(mlops_ref_write(repo, "datasets/test/v1", &c, NULL, "t1"), 0);
	assert_int_equal(mlops_ref_write(repo, "models/m/v1", &a, NULL, "m1"), 0);
	assert_int_equal(mlops_ref_write(repo, "bad name", &a, NULL, "m1"), MLOPS_EUSAGE);
	assert_int_equal(mlops_ref_read(&got, repo, "../config"), MLOPS_EUSAGE);

	/* Listing. */
	char **names;
	size_t n;
	assert_int_equal(mlops_ref_list(&names, &n, repo, "datasets"), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "test/");
	assert_string_equal(names[1], "train/");
	mlops_strlist_free(names, n);
	assert_int_equal(mlops_ref_list(&names, &n, repo, "datasets/train"), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "v1");
	assert_string_equal(names[1], "v2");
	mlops_strlist_free(names, n);
	assert_int_equal(mlops_ref_list_all(&names, &n, repo, "datasets"), 0);
	assert_int_equal(n, 3);
	assert_string_equal(names[0], "test/v1");
	assert_string_equal(names[1], "train/v1");
	assert_string_equal(names[2], "train/v2");
	mlops_strlist_free(names, n);
	assert_int_equal(mlops_ref_list(&names, &n, repo, "nothing/here"), 0);
	assert_int_equal(n, 0);
	mlops_strlist_free(names, n);

	/* Delete. */
	assert_int_equal(mlops_ref_delete(repo, "datasets/train/v1", "drop"), 0);
	assert_int_equal(mlops_ref_read(&got, repo, "datasets/train/v1"), MLOPS_ENOTFOUND);
	assert_int_equal(mlops_ref_delete(repo, "datasets/train/v1", "again"), MLOPS_ENOTFOUND);

	/* The log: every change, oldest first. */
	struct mlops_reflog_entry *log;
	time_t now = time(NULL);
	assert_int_equal(mlops_reflog_read(&log, &n, repo, "datasets/train/v1"), 0);
	assert_int_equal(n, 3);
	assert_int_equal(mlops_oid_cmp(&log[0].old_id, &zero), 0);
	assert_int_equal(mlops_oid_cmp(&log[0].new_id, &a), 0);
	assert_int_equal(mlops_oid_cmp(&log[1].old_id, &a), 0);
	assert_int_equal(mlops_oid_cmp(&log[1].new_id, &b), 0);
	assert_int_equal(mlops_oid_cmp(&log[2].old_id, &b), 0);
	assert_int_equal(mlops_oid_cmp(&log[2].new_id, &zero), 0);
	assert_string_equal(log[0].author, "A U Thor <author@example.com>");
	assert_string_equal(log[0].message, "add v1");
	assert_string_equal(log[1].message, "move to b");
	assert_string_equal(log[2].message, "drop");
	assert_true(log[0].time <= now && log[0].time > now - 60);
	mlops_reflog_free(log, n);
	assert_int_equal(mlops_reflog_read(&log, &n, repo, "never/written"), 0);
	assert_int_equal(n, 0);
	mlops_reflog_free(log, n);

	mlops_lock_release(lock);
}

static void test_lock_held_and_released(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_lock *lock, *second = NULL;
	char path[PATH_MAX];
	long pid = 0;
	int alive = -1;
	fx_path(path, sizeof(path), fx->work, ".mlops/lock");
	assert_int_equal(mlops_lock_status(fx->repo, &pid, &alive), 0);
	assert_int_equal(mlops_lock_acquire(&lock, fx->repo, 0), 0);
	assert_true(file_exists(path));
	assert_int_equal(mlops_lock_status(fx->repo, &pid, &alive), 1);
	assert_int_equal(pid, (long)getpid());
	assert_int_equal(alive, 1);

	/* A live holder is waited for, then reported. */
	double t0 = fx_now();
	assert_int_equal(mlops_lock_acquire(&second, fx->repo, 200), MLOPS_ELOCKED);
	double waited = fx_now() - t0;
	assert_null(second);
	assert_true(waited >= 0.15);
	assert_true(waited < 5);
	assert_non_null(strstr(mlops_error_message(), "try again"));

	mlops_lock_release(lock);
	assert_false(file_exists(path));
	assert_int_equal(mlops_lock_status(fx->repo, &pid, &alive), 0);
	assert_int_equal(mlops_lock_acquire(&lock, fx->repo, 0), 0);
	mlops_lock_release(lock);
	mlops_lock_release(NULL);
}

struct warn_seen {
	char text[1024];
	int count;
};

static void record_warning(const char *message, void *payload)
{
	struct warn_seen *w = payload;
	snprintf(w->text, sizeof(w->text), "%s", message);
	w->count++;
}

static void test_stale_lock_recovered(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_lock *lock = NULL;
	char path[PATH_MAX], host[256] = "", text[512], pidtext[32];
	fx_path(path, sizeof(path), fx->work, ".mlops/lock");
	gethostname(host, sizeof(host) - 1);

	/* A process that has exited and been reaped. */
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, NULL, 0), child);
	fx_fmt(text, "%ld %s\n", (long)child, host);
	fx_write_str(path, text);

	long pid = 0;
	int alive = -1;
	assert_int_equal(mlops_lock_status(fx->repo, &pid, &alive), 1);
	assert_int_equal(pid, (long)child);
	assert_int_equal(alive, 0);
	/* Recovered at once (not waited for), with a warning naming the pid. */
	struct warn_seen seen = { "", 0 };
	mlops_warnings_flush(NULL, NULL);
	double t0 = fx_now();
	assert_int_equal(mlops_lock_acquire(&lock, fx->repo, 3000), 0);
	assert_true(fx_now() - t0 < 1.0);
	assert_non_null(lock);
	mlops_warnings_flush(record_warning, &seen);
	fx_fmt(pidtext, "%ld", (long)child);
	assert_int_equal(seen.count, 1);
	assert_non_null(strstr(seen.text, "no longer running"));
	assert_non_null(strstr(seen.text, pidtext));
	/* The lock is now ours. */
	fx_fmt(text, "%ld %s\n", (long)getpid(), host);
	assert_true(fx_file_is(path, text, strlen(text)));
	mlops_lock_release(lock);
	lock = NULL;

	/* A holder on another host cannot be checked: it is busy, not stale. */
	fx_fmt(text, "%ld some-other-host.example\n", (long)child);
	fx_write_str(path, text);
	assert_int_equal(mlops_lock_status(fx->repo, &pid, &alive), 1);
	assert_int_equal(alive, 1);
	assert_int_equal(mlops_lock_acquire(&lock, fx->repo, 50), MLOPS_ELOCKED);
	assert_null(strstr(mlops_error_message(), "no longer running"));
	assert_non_null(strstr(mlops_error_message(), "some-other-host.example"));

	/* Once removed, the lock is free. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mlops_lock_acquire(&lock, fx->repo, 0), 0);
	mlops_lock_release(lock);
}

/* A forked child that exits (running atexit) must not remove the parent's lock. */
static void test_child_exit_keeps_lock(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_lock *lock;
	char path[PATH_MAX];
	int status;
	fx_path(path, sizeof(path), fx->work, ".mlops/lock");
	assert_int_equal(mlops_lock_acquire(&lock, fx->repo, 0), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0)
		exit(0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(file_exists(path));
	/* Nor one killed by a signal the registry handles. */
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		raise(SIGTERM);
		_exit(1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_true(file_exists(path));
	mlops_lock_release(lock);
	assert_false(file_exists(path));
}

/*
 * A command killed while it holds the lock (with many objects pending, as
 * after a large ingest) leaves no stale lock behind.
 */
static void test_killed_holder_leaves_no_lock(void **state)
{
	struct fixture *fx = fx_of(state);
	char path[PATH_MAX];
	int status;
	fx_path(path, sizeof(path), fx->work, ".mlops/lock");
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct mlops_repo *repo;
		struct mlops_lock *lock;
		mlops_oid id;
		char buf[32];
		if (mlops_repo_open(&repo, fx->work) < 0)
			_exit(1);
		for (int i = 0; i < 200; i++) {
			int l = snprintf(buf, sizeof(buf), "pending %d", i);
			if (mlops_odb_write(&id, repo->odb, buf, (size_t)l, NULL) < 0)
				_exit(1);
		}
		if (mlops_lock_acquire(&lock, repo, 0) < 0)
			_exit(1);
		raise(SIGTERM);
		_exit(1);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	assert_false(file_exists(path));
	/* The objects never synced are only leftovers in tmp/, not objects. */
	mlops_oid id;
	mlops_hash_buf(&id, "pending 0", 9);
	assert_int_equal(mlops_odb_exists(fx->repo->odb, &id), 0);
	assert_true(mlops_odb_clean_tmp(fx->repo->odb, 0) <= 200);
	assert_int_equal(fx_count_files(fx->repo->tmpdir), 0);
}

#define RACE_ROUNDS 50

/* One racer: RACE_ROUNDS times, under the lock, add race/v<max+1> and move race-head. */
static int race_child(const char *work)
{
	struct mlops_repo *repo = NULL;
	mlops_oid zero, head, id;
	char name[64];
	memset(&zero, 0, sizeof(zero));
	if (mlops_repo_open(&repo, work) < 0)
		goto fail;
	for (int round = 0; round < RACE_ROUNDS; round++) {
		struct mlops_lock *lock;
		char **names;
		size_t n;
		long max = 0;
		if (mlops_lock_acquire(&lock, repo, 60000) < 0)
			goto fail;
		if (mlops_ref_list(&names, &n, repo, "race") < 0)
			goto fail;
		for (size_t i = 0; i < n; i++) {
			long v = names[i][0] == 'v' ? strtol(names[i] + 1, NULL, 10) : 0;
			if (v > max)
				max = v;
		}
		mlops_strlist_free(names, n);
		int rc = mlops_ref_read(&head, repo, "race-head");
		if (rc == MLOPS_ENOTFOUND)
			head = zero;
		else if (rc < 0)
			goto fail;
		oid_of(&id, max + 1);
		snprintf(name, sizeof(name), "race/v%ld", max + 1);
		if (mlops_ref_write(repo, name, &id, &zero, name) < 0 ||
		    mlops_ref_write(repo, "race-head", &id, &head, name) < 0)
			goto fail;
		mlops_lock_release(lock);
	}
	mlops_repo_free(repo);
	return 0;
fail:
	fprintf(stderr, "racer %ld: %s\n", (long)getpid(), mlops_error_message());
	return 1;
}

static void test_ref_race_loses_nothing(void **state)
{
	struct fixture *fx = fx_of(state);
	pid_t kids[2];
	double t0 = fx_now();
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0)
			_exit(race_child(fx->work));
	}
	for (int k = 0; k < 2; k++) {
		int status;
		assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	double t1 = fx_now();

	char **names;
	size_t n;
	assert_int_equal(mlops_ref_list_all(&names, &n, fx->repo, "race"), 0);
	assert_int_equal(n, 2 * RACE_ROUNDS);
	mlops_strlist_free(names, n);
	for (long v = 1; v <= 2 * RACE_ROUNDS; v++) {
		char name[64];
		mlops_oid got, want;
		fx_fmt(name, "race/v%ld", v);
		assert_int_equal(mlops_ref_read(&got, fx->repo, name), 0);
		oid_of(&want, v);
		assert_int_equal(mlops_oid_cmp(&got, &want), 0);
	}
	/* race-head moved 100 times, each from the value the one before left. */
	struct mlops_reflog_entry *log;
	assert_int_equal(mlops_reflog_read(&log, &n, fx->repo, "race-head"), 0);
	assert_int_equal(n, 2 * RACE_ROUNDS);
	for (size_t i = 0; i < n; i++) {
		mlops_oid want_old, want_new;
		if (i == 0)
			memset(&want_old, 0, sizeof(want_old));
		else
			oid_of(&want_old, (long)i);
		oid_of(&want_new, (long)i + 1);
		assert_int_equal(mlops_oid_cmp(&log[i].old_id, &want_old), 0);
		assert_int_equal(mlops_oid_cmp(&log[i].new_id, &want_new), 0);
	}
	mlops_reflog_free(log, n);
	char path[PATH_MAX];
	assert_false(file_exists(fx_path(path, sizeof(path), fx->work, ".mlops/lock")));
	print_message("2 processes x %d locked ref updates: %.2f s\n", RACE_ROUNDS, t1 - t0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_names),
		cmocka_unit_test_setup_teardown(test_ref_write_read_delete, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_lock_held_and_released, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_stale_lock_recovered, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_child_exit_keeps_lock, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_killed_holder_leaves_no_lock, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_ref_race_loses_nothing, fx_setup, fx_teardown),
	};
	fx_filter_from_env();
	return cmocka_run_group_tests_name("refs", tests, NULL, NULL);
}
