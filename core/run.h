/*
 * run.h - training runs: run a command (or a built-in trainer) with its
 * inputs materialised, and record what happened as a run.
 *
 * A run is a canonical JSON record in the store (store/json.h):
 *
 *   {"type":"run", "run_id":"<32 hex: MLOPS_RUN_ID>", "name",
 *    "command":[argv...] ([] for built-in runs),
 *    "cwd":"<dir relative to the work tree, . for its top>" (commands only),
 *    "params":{typed values}, "inputs":[{"type":"dataset","name",
 *    "version","record":"<dataset version record id>"}],
 *    "git_commit":"<hex>"|null, "git_dirty":bool,
 *    "git_diff":"<blob id>" (only when dirty),
 *    "start":<epoch seconds>, "duration":<seconds>,
 *    "exit_status":N, "status":"succeeded"|"failed"|"interrupted",
 *    "peak_rss_kb":N, "outputs":{node: "id","kind","size","files","mode"}
 *    (absent when the command wrote nothing), "metrics":{...},
 *    "log":"<blob id>", "host", "user", "cache_key":"<64 hex>",
 *    "builtin":{"kind","target","valid_frac","seed","converged"} (built-in
 *    runs only; the key's document has no "converged"),
 *    "message"}
 *
 * Every 64-hex string in a record names a stored object (the outputs
 * tree, the log and diff blobs, dataset records, the cache key's
 * document), so gc, fsck and push can follow them.
 *
 * Refs: runs/<record id> -> record id, one per run.  runcache/<cache key>
 * -> the record id of the newest succeeded run with that key.  The cache
 * key is the id of a canonical JSON document of what decides the result,
 * stored with the run: for a command {"type":"runkey","command","cwd","params",
 * "inputs":[dataset record ids],"code":{"tree","diff"}} (HEAD's git tree
 * or null, the dirty diff's blob id or null); for a built-in run
 * {"type":"runkey","builtin","params","inputs","engine":"mlops <version>"}.
 *
 * Write protocol: the outputs, the log, the diff and the record are
 * written, then mlops_odb_sync(), then under the repository lock the run
 * ref and the cache ref.  A crash before the refs leaves unreferenced
 * objects for gc and never a ref to a missing object.
 *
 * Nothing here prints: a command's stdout and stderr are relayed to the
 * descriptors the caller names, and stored as the run's log.
 */
#ifndef MLOPS_RUN_H
#define MLOPS_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "store/oid.h"

struct mlops_repo;
struct mlops_dataset_version;
struct cJSON;

/* A built-in trainer's settings (its hyper-parameters are params). */
struct mlops_builtin_spec {
	const char *kind;     /* "linear" or "logistic" */
	const char *target;   /* the target column */
	double valid_frac;    /* held-out fraction, [0, 1) */
	uint64_t seed;        /* seed of the split */
};

/*
 * Slurm settings of a submitted run (--executor slurm); a NULL field takes
 * executor.slurm.<key> from config, else Slurm's own default (shared_dir:
 * <work tree>/.mlops/tmp/slurm).  Values are passed to sbatch as they are.
 */
struct mlops_slurm_opts {
	const char *partition;   /* --partition */
	const char *gpus;        /* --gpus */
	const char *cpus;        /* --cpus-per-task */
	const char *mem;         /* --mem */
	const char *time;        /* --time */
	const char *shared_dir;  /* the job directories, on a file system the nodes share */
};

/* What to run. */
struct mlops_run_spec {
	const char *name;              /* NULL: from the command or trainer */
	const char *const *argv;       /* NULL-terminated; NULL for built-ins */
	const struct cJSON *params;    /* a JSON object of typed params; NULL = {} */
	const char *const *datasets;   /* dataset revisions (-d) */
	size_t ndatasets;
	const char *const *features;   /* feature-set revisions (-f) */
	size_t nfeatures;
	const char *message;           /* NULL = "" */
	int force;                     /* run even when the cache has a result */
	const char *out_dir;           /* materialise the outputs here, or NULL */
	int out_fd, err_fd;            /* relay the child's output; -1: don't */
	const struct mlops_builtin_spec *builtin; /* in-process trainer, or NULL */
	size_t threads;                /* built-in trainers: 0 = all cores */
	const struct mlops_slurm_opts *slurm; /* submit to Slurm instead, or NULL */
};

/* The outcome of one run (or one point of a sweep). */
struct mlops_run_result {
	int error;             /* 0, or the MLOPS_E* code of a failure to run */
	char *error_message;   /* its message (NULL when error is 0) */
	mlops_oid id;          /* the run record (also for a cache hit) */
	struct cJSON *record;  /* the record, the result's own */
	int cached;            /* 1: an earlier run's result, not run again */
	int exit_status;       /* the command's status (130 when interrupted) */
	char *warning;         /* something to tell the user, or NULL */
	char *job_id;          /* submitted to Slurm: the job id, and record is
				  the pending record, id its id (not a run yet) */
};

void mlops_run_result_free(struct mlops_run_result *r);

/*
 * With spec->slurm set, the run is submitted instead (see "Pending runs"
 * below): the cache is consulted as for a local run; on a miss the inputs
 * are materialised below the shared directory, a batch script is written
 * and given to sbatch, and *out describes the pending run (job_id set).
 * Errors as below, and MLOPS_ENOTFOUND when sbatch cannot be run,
 * MLOPS_EREMOTE when sbatch refuses the job (its message is the error's).
 * Built-in trainers run in-process only (MLOPS_EUSAGE).
 *
 * Run spec->argv (execvp, never a shell) or the built-in trainer and record
 * the run, unless the cache already holds a succeeded run of the same key
 * and !spec->force: then nothing runs, *out describes that run with
 * cached = 1, and its outputs are restored to out_dir.
 *
 * A command that fails or is interrupted is recorded too; that is not an
 * error of this function: read (*out)->exit_status.  Errors (returned,
 * nothing recorded): MLOPS_EUSAGE for a bad name or spec, MLOPS_ENOTFOUND
 * for an unknown dataset or feature set or a command that cannot be
 * executed, MLOPS_EINVALID for bad built-in data, and store errors.
 * SIGINT, SIGTERM and SIGHUP received while the command runs are passed
 * to it (a terminal's Ctrl-C reaches it directly) and the run is recorded
 * as interrupted.  One received while the inputs are materialised stops
 * the run before the command starts: nothing is recorded, and *out has
 * record NULL, error and error_message set and exit_status 128 + the
 * signal's number.  *out is the caller's.
 */
int mlops_run_exec(struct mlops_run_result **out, struct mlops_repo *repo,
		   const struct mlops_run_spec *spec);

/* One parameter of a sweep and its values (a JSON array, borrowed). */
struct mlops_sweep_axis {
	const char *key;
	const struct cJSON *values;
};

/*
 * Run the grid of every combination of the axes' values (the last axis
 * varies fastest), each point being `base` with its params set, `jobs` at
 * a time (0 = 1).  Points share the run cache.  *out receives *n results
 * in grid order (the caller's, freed with mlops_run_results_free); a point
 * that could not run has its error set and does not stop the others.
 * With base->slurm each point is submitted (one after another, whatever
 * `jobs`) and its result is a pending run.
 * Returns an error only when nothing could be tried.
 */
int mlops_run_sweep(struct mlops_run_result ***out, size_t *n, struct mlops_repo *repo,
		    const struct mlops_run_spec *base, const struct mlops_sweep_axis *axes,
		    size_t naxes, size_t jobs);
void mlops_run_results_free(struct mlops_run_result **r, size_t n);

/*
 * Look up a run: "r-<id prefix>" (4 to 64 hex digits), or a run name for
 * the newest run of that name.  *record (the caller's, cJSON_Delete) and
 * *id get the run.  MLOPS_ENOTFOUND, MLOPS_EAMBIGUOUS (listing the
 * candidates), MLOPS_EUSAGE for something that is neither.
 */
int mlops_run_resolve(struct cJSON **record, mlops_oid *id, struct mlops_repo *repo,
		      const char *rev);

/* A run as listed. */
struct mlops_run_entry {
	mlops_oid id;
	struct cJSON *record;
};

/*
 * Every run (name NULL) or those named `name`, newest first (by start,
 * then id).  *out is an array of *n entries, freed with
 * mlops_run_list_free.  A ref to an unreadable record is an error.
 */
int mlops_run_list(struct mlops_run_entry **out, size_t *n, struct mlops_repo *repo,
		   const char *name);
void mlops_run_list_free(struct mlops_run_entry *runs, size_t n);

/*
 * Read a run's stored log into a new buffer (*out, NUL-terminated, the
 * caller's).  MLOPS_ENOTFOUND when the run has no log.
 */
int mlops_run_log(char **out, size_t *len, struct mlops_repo *repo, const struct cJSON *record);

/*
 * Materialise a run's outputs below dir (created when missing).
 * MLOPS_ENOTFOUND when the run has no outputs.
 */
int mlops_run_checkout_outputs(struct mlops_repo *repo, const struct cJSON *record,
			       const char *dir);

/*
 * Parse a parameter value the way -p KEY=VAL does: true and false become
 * booleans; a JSON number (no leading zeros, no '+', no bare '.') that a
 * double holds without loss (its shortest decimal form is the same
 * number: 0.1, 1e3, but not 123456789012345678901) becomes that number;
 * anything else, null included, a string.  Returns NULL on no memory.
 */
struct cJSON *mlops_run_param_value(const char *text);

/*
 * Decide the task of a built-in run from dataset `rev`'s target column:
 * *kind gets "linear" when every value is a number and there are more
 * than 10 distinct values or a non-integer one, else "logistic" (a static
 * string).  Errors as for reading the data of a built-in run.
 */
int mlops_builtin_detect_kind(const char **kind, struct mlops_repo *repo, const char *rev,
			      const char *target);

/*
 * Check dataset version v out into a new working directory below the
 * repository's tmp/ (fsutil.h; named by prefix) and find the one table it
 * holds, as a built-in trainer does: *table is its path, *rel (inside
 * *table) its path within the version.  *workdir is set whenever the
 * directory was made, failure or not: the caller removes it
 * (mlops_remove_tree) and frees it, and frees *table.
 */
int mlops_dataset_table_checkout(char **workdir, char **table, const char **rel,
				 struct mlops_repo *repo, const struct mlops_dataset_version *v,
				 const char *prefix);

/*
 * The metrics of a record by name: a nested object's members are named
 * with dots ({"val":{"loss":0.5}} is val.loss), each name once (a record
 * made before two values of one name were refused keeps the first in key
 * order), in key order.  A new object of numbers, the caller's; NULL when
 * memory runs out.
 */
struct cJSON *mlops_run_metrics_flat(const struct cJSON *metrics);

/* Call cb for each metric of mlops_run_metrics_flat, in its order. */
void mlops_run_metrics_foreach(const struct cJSON *metrics,
			       void (*cb)(const char *key, double value, void *payload),
			       void *payload);

/* ---- Pending runs (train_slurm.c) ---------------------------------------
 *
 * A submitted job has no run record until it ends.  Until then it is a
 * pending run: a canonical JSON record {"type":"pending-run", the fields a
 * run record will have that are known at submission (run_id, name,
 * command, params, inputs, git_commit, git_dirty, git_diff, host, user,
 * cache_key, message), "job_id", "dir" (the job directory), "cwd",
 * "out_dir" (or absent), "submitted" (epoch seconds), "slurm": {the
 * resources asked for}} stored in the store, and a ref
 * runs-pending/<job id> naming it.  It is named by its job id or by
 * "p-<record id prefix>".
 *
 * When the job has ended, ingesting it records the run exactly as a local
 * run (outputs, log, metrics; runs/ and, when it succeeded, runcache/ refs),
 * adds "slurm": {"job_id", "state", resources}, sets host to the node that
 * ran it, and deletes the pending ref, all under the repository lock; the
 * job directory is then removed.  A job that ended before its command
 * started (cancelled while queued) is dropped without a record.
 */

struct mlops_pending {
	mlops_oid id;          /* the pending record */
	char *job_id;
	struct cJSON *record;  /* the pending record, the entry's own */
	char state[32];        /* Slurm's state: "PENDING", "RUNNING", ... or
				  "ENDED" (ended, not yet ingested), "UNKNOWN" */
};

void mlops_pending_free(struct mlops_pending *p, size_t n);

/*
 * The pending runs, oldest submission first, each with its state as Slurm
 * reports it.  Jobs that have ended are ingested first and are not in
 * *out (their runs are in mlops_run_list).  A job that could not be
 * ingested stays, with state "ENDED", and *warning (the caller's, or NULL)
 * says why.  With no pending runs no Slurm command runs.
 */
int mlops_pending_list(struct mlops_pending **out, size_t *n, struct mlops_repo *repo,
		       char **warning);

/*
 * Find one pending run by job id or "p-<prefix>" (4 to 64 hex digits).
 * *out is the caller's (mlops_pending_free(*out, 1)); its state is not
 * queried.  MLOPS_ENOTFOUND, MLOPS_EAMBIGUOUS.
 */
int mlops_pending_resolve(struct mlops_pending **out, struct mlops_repo *repo, const char *rev);

/*
 * Block until the job ends (polling Slurm, at most every 10 s; timeout_s
 * <= 0 waits for ever, else MLOPS_ECHECK on timeout), then ingest it: *out
 * is the run (cached = 0) or, for a job that never started, a result with
 * record NULL and error_message saying so.  If another process ingested
 * it first, *out is that run.
 */
int mlops_pending_wait(struct mlops_run_result **out, struct mlops_repo *repo,
		       const struct mlops_pending *p, double timeout_s);

/*
 * Cancel the job (scancel), wait for it to end (up to 120 s) and ingest
 * it as mlops_pending_wait does: a job that was running is recorded as
 * interrupted.  MLOPS_EREMOTE when scancel fails.
 */
int mlops_pending_cancel(struct mlops_run_result **out, struct mlops_repo *repo,
			 const struct mlops_pending *p);

/*
 * The run recorded for Slurm job `job_id` (slurm.job_id of a run record),
 * newest first.  MLOPS_ENOTFOUND when no run has it.
 */
int mlops_run_find_job(struct cJSON **record, mlops_oid *id, struct mlops_repo *repo,
		       const char *job_id);

#endif
