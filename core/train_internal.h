/*
 * train_internal.h - the parts of training runs that run.c composes and no
 * other module needs: running a child process (train_child.c), reading the
 * state of the code in git (train_code.c) and the built-in trainers over
 * a materialised dataset (train_builtin.c).
 */
#ifndef MLOPS_TRAIN_INTERNAL_H
#define MLOPS_TRAIN_INTERNAL_H

#include <stddef.h>

struct mlops_repo;
struct mlops_builtin_spec;
struct cJSON;

/* ---- train_child.c ---------------------------------------------------- */

struct mlops_child_result {
	int exit_status;   /* the exit code, or 128 + signal number */
	int signal;        /* the signal that ended the child, or 0 */
	int interrupted;   /* SIGINT, SIGTERM or SIGHUP arrived while it ran */
	long peak_rss_kb;  /* the child's peak resident set size */
};

/*
 * Run argv with execvp semantics (posix_spawnp) in the environment envp,
 * with stdin inherited and stdout and stderr captured: every byte goes to
 * log_fd and, when not -1, to out_fd (stdout) or err_fd (stderr), as it
 * arrives.  While it runs SIGINT, SIGTERM and SIGHUP are caught and passed
 * on to every running child (except a terminal's own signals, which reach
 * the child directly), and SIGPIPE is ignored.  Thread safe: several
 * children may run at once.  MLOPS_ENOTFOUND when argv[0] cannot be
 * executed; the child's own failure is in *out, not an error.
 */
int mlops_child_run(struct mlops_child_result *out, const char *const *argv,
		    char *const *envp, int out_fd, int err_fd, int log_fd);

/* How many interrupting signals this process has received so far. */
int mlops_child_interrupts(void);

/* ---- train_code.c ----------------------------------------------------- */

/* The state of the code: HEAD and the changes of the work tree. */
struct mlops_code_state {
	char *commit;      /* HEAD's commit in hex, NULL when unborn */
	char *tree;        /* HEAD's tree in hex, NULL when unborn */
	int dirty;         /* the work tree differs from HEAD */
	char *diff;        /* when dirty: a patch from HEAD to the work tree */
	size_t diff_len;
};

/*
 * Read the code state of the repository's git work tree.  The diff is
 * `git diff HEAD` plus untracked files that are not ignored (with their
 * content; binary files as binary patches), leaving out mlops.lock, which
 * records data versions rather than code.
 */
int mlops_code_state_read(struct mlops_code_state *out, struct mlops_repo *repo);
void mlops_code_state_clear(struct mlops_code_state *cs);

/* ---- train_builtin.c -------------------------------------------------- */

/*
 * Train the built-in model `spec` on the table at data_path (a CSV, TSV or
 * JSON-lines file, or a directory holding exactly one), with the
 * hyper-parameters in params (alpha, C, max_iter, tol; unknown keys are
 * MLOPS_EUSAGE).  Writes model.json into out_dir; *metrics gets a new
 * object of the model's metrics and *summary (the caller's) a few lines
 * describing the training, for the run's log.
 */
int mlops_builtin_train(struct cJSON **metrics, char **summary,
			const struct mlops_builtin_spec *spec, const struct cJSON *params,
			const char *data_path, const char *out_dir, size_t threads);

/*
 * The task for `--builtin auto` from the target column of the table at
 * data_path: see mlops_builtin_detect_kind in run.h.
 */
int mlops_builtin_detect_path(const char **kind, const char *data_path, const char *target);

/* The data file of a materialised input (see mlops_builtin_train). */
int mlops_builtin_find_table(char **out, const char *data_path);

#endif
