/*
 * run.h - training runs: run a command (or a built-in trainer) with its
 * inputs materialised, and record what happened as a run.
 *
 * A run is a canonical JSON record in the store (store/json.h):
 *
 *   {"type":"run", "run_id":"<32 hex: MLOPS_RUN_ID>", "name",
 *    "command":[argv...] ([] for built-in runs),
 *    "params":{typed values}, "inputs":[{"type":"dataset","name",
 *    "version","record":"<dataset version record id>"}],
 *    "git_commit":"<hex>"|null, "git_dirty":bool,
 *    "git_diff":"<blob id>" (only when dirty),
 *    "start":<epoch seconds>, "duration":<seconds>,
 *    "exit_status":N, "status":"succeeded"|"failed"|"interrupted",
 *    "peak_rss_kb":N, "outputs":{node: "id","kind","size","files","mode"}
 *    (absent when the command wrote nothing), "metrics":{...},
 *    "log":"<blob id>", "host", "user", "cache_key":"<64 hex>",
 *    "builtin":{"kind","target","valid_frac","seed"} (built-in runs only),
 *    "message"}
 *
 * Every 64-hex string in a record names a stored object (the outputs
 * tree, the log and diff blobs, dataset records, the cache key's
 * document), so gc, fsck and push can follow them.
 *
 * Refs: runs/<record id> -> record id, one per run.  runcache/<cache key>
 * -> the record id of the newest succeeded run with that key.  The cache
 * key is the id of a canonical JSON document of what decides the result,
 * stored with the run: for a command {"type":"runkey","command","params",
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
struct cJSON;

/* A built-in trainer's settings (its hyper-parameters are params). */
struct mlops_builtin_spec {
	const char *kind;     /* "linear" or "logistic" */
	const char *target;   /* the target column */
	double valid_frac;    /* held-out fraction, [0, 1) */
	uint64_t seed;        /* seed of the split */
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
};

void mlops_run_result_free(struct mlops_run_result *r);

/*
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
 * as interrupted.  *out is the caller's.
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
 * Parse a parameter value the way -p KEY=VAL does: a JSON number (as
 * strtod reads it, finite), true, false or null become those JSON values,
 * anything else a string.  Returns NULL on no memory.
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

/* Flatten nested metrics: "a.b" -> number; cb is called in key order. */
void mlops_run_metrics_foreach(const struct cJSON *metrics,
			       void (*cb)(const char *key, double value, void *payload),
			       void *payload);

#endif
