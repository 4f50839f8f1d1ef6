/*
 * train_internal.h - the parts of training runs that run.c composes and no
 * other module needs: running a child process (train_child.c, declared in
 * child.h, which monitor's on-drift command uses too), reading the
 * state of the code in git (train_code.c) and the built-in trainers over
 * a materialised dataset (train_builtin.c), and submitting runs to Slurm
 * (train_slurm.c).
 */
#ifndef MLOPS_TRAIN_INTERNAL_H
#define MLOPS_TRAIN_INTERNAL_H

#include <stddef.h>

#include "child.h"
#include "store/oid.h"

struct mlops_repo;
struct mlops_builtin_spec;
struct mlops_slurm_opts;
struct mlops_node;
struct cJSON;

/* ---- train_child.c: child.h ------------------------------------------ */

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
 * object of the model's metrics, *summary (the caller's) a few lines
 * describing the training, for the run's log, and *converged whether the
 * solver converged (always for ridge regression; logistic regression may
 * stop at max_iter).  data_name ("NAME@vN") names the input in errors.
 */
int mlops_builtin_train(struct cJSON **metrics, char **summary, int *converged,
			const struct mlops_builtin_spec *spec, const struct cJSON *params,
			const char *data_path, const char *data_name, const char *out_dir,
			size_t threads);

/*
 * The task for `--builtin auto` from the target column of the table at
 * data_path: see mlops_builtin_detect_kind in run.h.
 */
int mlops_builtin_detect_path(const char **kind, const char *data_path, const char *target);

/* The data file of a materialised input (see mlops_builtin_train). */
int mlops_builtin_find_table(char **out, const char *data_path);

/* ---- run.c, for train_slurm.c ------------------------------------------ */

/*
 * Read the metrics file a command wrote, as a local run does: numbers and
 * objects of them; anything else (NaN, Infinity, strings...) left out and
 * named in *warning, one line each ('\n' between them; the caller's).
 * A name given twice (also a dotted name and a nested one: {"a.b":1,
 * "a":{"b":2}}) keeps its last value; objects left empty are left out.  A file that is not one JSON object, not a regular file (a FIFO,
 * a link: never followed or waited on) or larger than 16 MiB is ignored
 * with a warning.  NULL on no memory.
 */
struct cJSON *mlops_run_read_metrics(const char *path, char **warning);

/*
 * Store the outputs a command left in dir (its MLOPS_OUTPUT) as a tree:
 * *have is 1 and *out the tree when there was something to store.
 * Entries that are not files, links or directories (FIFOs, sockets,
 * devices) are removed from dir and named in *warning (lines added with
 * '\n'; the caller's), as is a dir the command replaced by a link or a
 * file (then nothing is stored).  Store errors otherwise.
 */
int mlops_run_store_outputs(struct mlops_node *out, int *have, struct mlops_repo *repo,
			    const char *dir, char **warning);

/*
 * The directory abs (absolute, resolved) as a run records it: relative to
 * the work tree, "." for its top, or abs itself when outside.  NULL on no
 * memory; the caller's.
 */
char *mlops_run_cwd_rel(const struct mlops_repo *repo, const char *abs);


/* ---- train_slurm.c ---------------------------------------------------- */

/*
 * Append `s` to the buffer *buf (of *len bytes, NUL-terminated; realloc'd)
 * quoted for a POSIX shell: between single quotes, each ' written as '\''.
 * Every byte other than NUL then stands for itself.  MLOPS_ERROR on no
 * memory (the buffer is kept).
 */
int mlops_sh_quote(char **buf, size_t *len, const char *s);

/* What a job's batch script does. */
struct mlops_slurm_script {
	const char *dir;           /* the job directory (absolute) */
	const char *cwd;           /* where the command runs (absolute) */
	const char *const *argv;   /* the command, NULL-terminated */
	const char *const *env;    /* "NAME=value" to export; NAME is [A-Za-z0-9_] */
	size_t nenv;
};

/*
 * The batch script (*out, the caller's) for s: it sends stdout and stderr
 * to <dir>/log, writes "<epoch> <host>" to <dir>/start, exports env, runs
 * argv from cwd (with execvp semantics, through /usr/bin/env), and writes
 * "<status> <interrupted>" to <dir>/exit (renamed into place) and the end
 * time to <dir>/end; SIGINT, SIGTERM and SIGHUP (scancel, a time limit)
 * mark it interrupted.  Every word taken from s is quoted with
 * mlops_sh_quote.  MLOPS_EUSAGE for an env name that is not [A-Za-z0-9_].
 */
int mlops_slurm_script(char **out, const struct mlops_slurm_script *s);

/*
 * The shared directory for job directories (*out, absolute, the
 * caller's; created): opts->shared_dir, else executor.slurm.shared-dir
 * (relative to the work tree), else <work tree>/.mlops/tmp/slurm.
 */
int mlops_slurm_shared_dir(char **out, struct mlops_repo *repo,
			   const struct mlops_slurm_opts *opts);

/*
 * Submit the job whose directory (pending record's "dir") is ready: write
 * the batch script, run sbatch with the resources of opts (or config),
 * then add "job_id" and "slurm" to `pending`, store it and write the ref
 * runs-pending/<job id> under the repository lock.  *job_id and *id are
 * the job's and the record's.  On a failure after sbatch the job is
 * cancelled.  Errors as for mlops_run_exec with spec->slurm.
 */
int mlops_slurm_submit(char **job_id, mlops_oid *id, struct mlops_repo *repo,
		       struct cJSON *pending, const char *const *argv, const char *const *env,
		       size_t nenv, const struct mlops_slurm_opts *opts);

#endif
