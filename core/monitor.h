/*
 * monitor.h - drift monitoring of a model in production: the baseline
 * taken from its training table, the check of current data (a table, or
 * the request log of `mlops deploy serve`) against it, the record of each
 * check, and retraining when a check fails.
 *
 * The baseline (a canonical JSON record in the store, built once when a
 * version is registered, named by its content id):
 *
 *   {"type":"baseline","format":2,"rows":N,"bins":10,"sample_capacity":10000,
 *    "target":"y"|null,"dataset":{...}|null,
 *    "columns":[COLUMN...],"predictions":COLUMN|null,
 *    "predictions_from":"validation"|"all"|null}
 *   COLUMN = {"name","kind":"numeric"|"categorical"|"text"|"empty",
 *    "type":"integer"|"float"|"boolean"|"categorical"|"text"|"empty",
 *    "count","missing","distinct","distinct_exact",
 *    numeric: "mean","std" (ddof 1),"min","p25","p50","p75","max",
 *             "histogram":{"edges":[...],"counts":[...]},
 *             "sample":"<blob id>","sample_size":n,
 *             "values":{"values":[...],"counts":[...]} (at most 20 distinct)
 *    categorical: "categories":{"values":[...],"counts":[...]}}
 *
 * Numeric bins: the edges are the quantiles i/10 (i = 0..10) of the
 * column (numpy.quantile, linear), equal edges merged, so a column has at
 * most 10 bins and a constant column one (mlops_drift_quantile_edges).  A
 * value below the first edge or above the last counts in the end bin.
 * The edges come from a uniform sample of at most 10,000 values (reservoir,
 * fixed seed): exact quantiles up to that size; the counts are always over
 * every value.  The sample itself is stored (a blob of little-endian
 * doubles, sorted) for the exact tests.  Categories: at most 1000 distinct
 * values, all counted; a column with more is "text" and is not tested.
 * Predictions: the model's predictions on its own validation rows
 * (rebuilt from the split's seed and fraction; every row when the table is
 * not the one it was trained on, or there was no validation split).
 *
 * The check (see mlops-monitor(1) for the report's fields): per column,
 * numeric: Kolmogorov-Smirnov, PSI on the baseline's bins, Wasserstein
 * normalised by the baseline's standard deviation, Jensen-Shannon on the
 * bins; categorical: chi-squared, PSI, Jensen-Shannon, and the z-test of
 * two proportions for two values.  Which one decides is Evidently's default
 * rule (mlops_monitor_default_test).  Current data is read once, streaming:
 * counts and moments over every value, a bounded sample (100,000 values
 * per column) for KS and Wasserstein.  Nothing here prints.
 */
#ifndef MLOPS_MONITOR_H
#define MLOPS_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "store/oid.h"

struct mlops_repo;
struct mlops_model;
struct cJSON;

#define MLOPS_MONITOR_BINS 10            /* quantile bins of a numeric column */
#define MLOPS_MONITOR_SAMPLE 10000       /* baseline sample per column */
#define MLOPS_MONITOR_CURRENT_SAMPLE 100000 /* current sample per column */
#define MLOPS_MONITOR_CATEGORIES 1000    /* most categories of a column */
#define MLOPS_MONITOR_FEW 20             /* numeric distinct values counted */
#define MLOPS_MONITOR_EXACT_ROWS 1000    /* baseline size of the exact tests */

/* ---- thresholds ----------------------------------------------------- */

struct mlops_monitor_thresholds {
	double psi;           /* drift when PSI >= psi (0.2) */
	double ks_pvalue;     /* drift when the KS p-value < ks_pvalue (0.05) */
	double wasserstein;   /* drift when normalised Wasserstein >= (0.1) */
	double jensenshannon; /* drift when the JS distance >= (0.1) */
	double chi2_pvalue;   /* drift when the chi-squared or z p-value < (0.05) */
	double share;         /* dataset drift when drifted/tested >= share (0.5) */
	double quality_drop;  /* degraded when the headline metric is worse by
				 more than this fraction of its training value
				 (0.05) */
	double quality_pvalue; /* ... and the one-sided test of the drop has
				  a p-value below this (0.05) */
};

/* The defaults above. */
void mlops_monitor_thresholds_init(struct mlops_monitor_thresholds *t);

/*
 * Override t with the [monitor] keys of the configuration: psi,
 * ks-pvalue, wasserstein, jensenshannon, chi2-pvalue, share, quality-drop,
 * quality-pvalue (git-config names cannot hold '_'; the report's JSON says ks_pvalue...).
 * `given` has bit i set (1u << i, i in the order of the struct's fields)
 * for a threshold the caller has already set from an option: that key is
 * neither read nor checked, so an option overrides a bad configured value.
 * MLOPS_EINVALID for a value that is not a decimal number or out of range
 * (p-values and share in (0, 1], distances >= 0).
 */
int mlops_monitor_thresholds_load(struct mlops_monitor_thresholds *t, struct mlops_repo *repo,
				  unsigned given);

/* Check one threshold by its config name; MLOPS_EINVALID when out of range. */
int mlops_monitor_threshold_check(const char *name, double value);

/*
 * Parse a threshold's text (a decimal number: no hex, inf or nan) and
 * check its range, by its config name; MLOPS_EINVALID otherwise.
 */
int mlops_monitor_threshold_parse(double *out, const char *name, const char *text);

/* ---- baseline ------------------------------------------------------- */

struct mlops_baseline;

/*
 * Profile the table at csv_path (CSV, TSV or JSON lines) and, when model
 * is not NULL, its predictions on the validation rows, into *out (the
 * caller's, mlops_baseline_free).  `dataset`, when not NULL, is copied
 * into the record as "dataset" (e.g. {"name","version","record","path"}).
 * The samples stay in memory; nothing is stored.  Errors: those of the
 * CSV reader; MLOPS_EINVALID when the table lacks a model input column or
 * has no rows.
 */
int mlops_baseline_compute(struct mlops_baseline **out, const char *csv_path,
			   const struct mlops_model *model, const struct cJSON *dataset);

/*
 * The same, profiling only the columns named in keep (nkeep names, in the
 * table's order; names the table lacks are left out).  keep NULL: every
 * column.  MLOPS_EINVALID when the table has none of them.
 */
int mlops_baseline_compute_columns(struct mlops_baseline **out, const char *csv_path,
				   const struct mlops_model *model, const struct cJSON *dataset,
				   const char *const *keep, size_t nkeep);

/*
 * The baseline of a built-in model trained on a feature set: `input` is
 * the run's input {"type":"feature-set","name","version","record"}.  The
 * set's table is checked out as the trainer read it (NAME.csv) and
 * profiled on the feature columns the model takes and its target (every
 * column without a model), with the model's predictions on its
 * validation rows; "dataset" of the record is {"type":"feature-set",
 * "name","version","record","path"}.  Nothing is stored.
 */
int mlops_baseline_feature_set(struct mlops_baseline **out, struct mlops_repo *repo,
			       const struct cJSON *input, const struct mlops_model *model);

/*
 * Current data for checking a version trained on a feature set (`record`,
 * the version's record, has one feature-set input; `model` its built-in
 * model): a table (log 0) or a request log of `mlops deploy serve` (log 1)
 * that carries the raw columns a server is sent rather than the feature
 * columns the model takes is turned into those, with the set's fitted
 * parameters (mlops_feature_transform_file): *out_path is the new file
 * (the caller unlinks it and forgets it, mlops_tempfile_forget), NULL when
 * the data is checked as it is.
 */
int mlops_monitor_feature_data(char **out_path, struct mlops_repo *repo, const struct cJSON *record,
			       const struct mlops_model *model, const char *path, int log);

/*
 * Compute the baseline as above and store it (samples as blobs, then the
 * record); *out gets the record's id.  The objects are left pending: the
 * caller syncs the store before naming the id in a ref or a record that a
 * ref names (mlops_odb_sync).  This is what `mlops register` calls with
 * the training table of a built-in run and its model.
 */
int mlops_baseline_build(mlops_oid *out, struct mlops_repo *repo, const char *csv_path,
			 const struct mlops_model *model, const struct cJSON *dataset);

/* Store a computed baseline; *out gets the record's id. */
int mlops_baseline_store(mlops_oid *out, struct mlops_repo *repo, struct mlops_baseline *b);

/*
 * Load a stored baseline with its samples.  MLOPS_ENOTFOUND when an
 * object is missing, MLOPS_EINVALID when the record is not a baseline of
 * this format (an older "baseline" record of column statistics only).
 */
int mlops_baseline_load(struct mlops_baseline **out, struct mlops_repo *repo, const mlops_oid *id);

/* The baseline's record (borrowed, valid while b lives). */
const struct cJSON *mlops_baseline_json(const struct mlops_baseline *b);

/* Its id once stored or loaded (NULL for one only computed). */
const mlops_oid *mlops_baseline_id(const struct mlops_baseline *b);

void mlops_baseline_free(struct mlops_baseline *b);

/* ---- check ---------------------------------------------------------- */

/* The tests, by the names used in reports and --stattest. */
enum mlops_monitor_test {
	MLOPS_TEST_AUTO = 0,
	MLOPS_TEST_KS,
	MLOPS_TEST_PSI,
	MLOPS_TEST_WASSERSTEIN,
	MLOPS_TEST_JENSENSHANNON,
	MLOPS_TEST_CHISQUARE,
	MLOPS_TEST_Z,
};

/* "auto", "ks", "psi", "wasserstein", "jensenshannon", "chisquare", "z". */
const char *mlops_monitor_test_name(enum mlops_monitor_test t);

/* Parse a test name (also "chi2"); MLOPS_EUSAGE for anything else. */
int mlops_monitor_test_parse(enum mlops_monitor_test *out, const char *name);

/*
 * Evidently's default test of a column: with a baseline of at most
 * MLOPS_MONITOR_EXACT_ROWS values, KS for a numeric column with more than
 * 5 distinct values (baseline and current together), else chi-squared
 * with more than 2 values, else the z-test; with a larger baseline,
 * Wasserstein for a numeric column with more than 5 values, else
 * Jensen-Shannon.
 */
enum mlops_monitor_test mlops_monitor_default_test(int numeric, uint64_t baseline_count,
						   uint64_t n_values);

/* Where the current data comes from. */
struct mlops_monitor_input {
	const char *data_path;   /* a table (CSV, TSV, JSON lines), or */
	const char *log_path;    /* a request log of mlops deploy serve */
	const char *name;        /* how to call the source in the report, and a
				    log in messages (NULL: path) */
	const char *model;       /* the model checked: a log line naming another
				    is refused (NULL: lines of any model) */
	int has_since;
	double since;            /* log lines at or after this time (epoch s) */
	const char *target;      /* the label column, for quality; or NULL */
};

struct mlops_monitor_opts {
	struct mlops_monitor_thresholds th;
	enum mlops_monitor_test test; /* AUTO, or one test for every column it
					 applies to */
};

/* The outcome of a check. */
struct mlops_monitor_result {
	struct cJSON *report;    /* every figure (mlops-monitor(1)); the result's own */
	int drift;               /* dataset, prediction or schema drift */
	int degraded;            /* quality past its threshold */
};

void mlops_monitor_result_free(struct mlops_monitor_result *r);

/*
 * Compare the current data with the baseline.  model (may be NULL) makes
 * the predictions of a table and gives the training metrics; a log
 * brings its own predictions.  *out is the caller's.  Errors: the
 * reader's (MLOPS_ENOTFOUND, MLOPS_EIO, MLOPS_EINVALID with the line),
 * MLOPS_EUSAGE without exactly one of data_path and log_path,
 * MLOPS_EINVALID for a log line that is not a request record or that
 * names a model other than in->model.
 */
int mlops_monitor_check(struct mlops_monitor_result **out, const struct mlops_baseline *base,
			const struct mlops_model *model, const struct mlops_monitor_input *in,
			const struct mlops_monitor_opts *opts);

/*
 * Parse a time for --since: "2026-01-02", "2026-01-02T03:04:05[.fff]"
 * with "Z" or "+hh:mm" (no zone: UTC), "@<epoch>", or a duration back
 * from `now`: "90s", "30m", "24h", "7d".  MLOPS_EUSAGE otherwise.
 */
int mlops_monitor_time_parse(double *out, const char *text, double now);

/* ---- HTML ----------------------------------------------------------- */

/*
 * One self-contained page of a check report: a summary, then per column
 * (drifted first) the baseline and current histograms overlaid as inline
 * SVG and the statistics.  No script, no network (a Content-Security-
 * Policy forbids loading anything); strings from the data are escaped.
 * Every chart is an <svg class="chart" data-column="NAME">.  *out is the
 * caller's (free).  MLOPS_EINVALID when the report has no "columns".
 */
int mlops_monitor_html(char **out, const struct cJSON *report, const char *title);

/* ---- records ---------------------------------------------------------- */

/*
 * Record a check of model `name` version `version` (the version record
 * `model_record`, may be NULL): the report with "type":"monitor-check",
 * "model", "version", "model_record" and "time" (`when`, epoch seconds
 * with microseconds: mlops_monitor_now) added, stored as a
 * record, then under the repository lock the ref
 * monitor/<name>/<YYYYmmddTHHMMSSZ>-<8 hex of the id>.  *id gets the
 * record's id, *ref (the caller's, may be NULL) the ref's name.
 */
int mlops_monitor_record(mlops_oid *id, char **ref, struct mlops_repo *repo,
			 const struct cJSON *report, const char *name, const char *version,
			 const mlops_oid *model_record, double when);

/* Now, in epoch seconds to the microsecond (a check's "time"). */
double mlops_monitor_now(void);

/*
 * The recorded checks named by model revision `rev`, newest first: NULL
 * for every model's, NAME for every version's of the model, NAME@VERSION
 * or NAME#STAGE for those of the version it names now.  A JSON array of
 * {"id","ref","model","version","time","verdict","drift","degraded",
 * "source","drifted_columns","tested_columns","share","dataset_drift",
 * "prediction_drift","schema_drift","quality_drop"}, every field in every
 * entry ("quality_drop", the relative drop of the headline metric, null
 * for a check without labels or that figure); *out is the caller's.  MLOPS_ENOTFOUND for a model (without checks) not in the
 * registry, a version or stage holder that is not there; MLOPS_EUSAGE for
 * a malformed revision.  An unreadable record is an error.
 */
int mlops_monitor_log(struct cJSON **out, struct mlops_repo *repo, const char *rev);

/* ---- retraining -------------------------------------------------------- */

struct mlops_retrain_opts {
	const char *model;         /* the version checked (a model revision) */
	const char *dataset;       /* dataset revision to train on; NULL: the
				      newest version of the run's dataset */
	const mlops_oid *check;    /* the check that caused it (lineage) */
	const char *promote;       /* stage to promote to when its gates pass */
	int out_fd, err_fd;        /* where the training command's output goes */
};

struct mlops_retrain_result {
	mlops_oid run;             /* the new run */
	int cached;                /* the run cache answered (same inputs) */
	int exit_status;           /* the training command's status */
	int registered;            /* a new version was registered */
	char *name, *version, *tag;
	mlops_oid record;
	char *dataset;             /* the dataset revision trained on ("x@v4") */
	char *stage;               /* promoted to this stage, or NULL */
	char *not_promoted;        /* why a promotion was refused, or NULL */
	char *note;                /* why nothing was registered, or NULL */
};

void mlops_retrain_result_free(struct mlops_retrain_result *r);

/*
 * Check, before anything is done, what mlops_monitor_retrain would refuse:
 * MLOPS_ECONFLICT from within a retraining (MLOPS_RETRAINING set),
 * MLOPS_EUSAGE for a stage to promote to that is not a valid or allowed
 * stage, or a dataset the version's run did not train on,
 * MLOPS_ENOTFOUND for a version not registered from a run.  A check that
 * may retrain calls this first, so that a refusal leaves nothing recorded.
 */
int mlops_monitor_retrain_check(struct mlops_repo *repo, const struct mlops_retrain_opts *opts);

/*
 * Run the training run of the model version `opts->model` again (same
 * command, params and built-in spec; execvp, never a shell) on the newest
 * version of its dataset (or opts->dataset), register the result as a new
 * version of the model whose record names the check ("drift_check"), and
 * promote it to opts->promote when that stage's gates pass.  Runs once:
 * MLOPS_ECONFLICT when called from within a retraining (MLOPS_RETRAINING
 * set in the environment).  A run answered from the cache (no new data)
 * or a failed training registers nothing: *out says why.  Errors:
 * MLOPS_ENOTFOUND (no run recorded for the version), those of
 * mlops_run_exec and mlops_model_register.
 */
int mlops_monitor_retrain(struct mlops_retrain_result **out, struct mlops_repo *repo,
			  const struct mlops_retrain_opts *opts);

/* ---- models of the registry -------------------------------------------- */

/*
 * The built-in model of an artifact ({node} JSON, as a version record's
 * "artifact"): model.json at the top of a tree, or the artifact itself
 * when it is one file.  *model is NULL and *note (the caller's) says why
 * when there is none; store errors are returned.
 */
int mlops_monitor_artifact_model(struct mlops_model **model, char **note,
				 struct mlops_repo *repo, const struct cJSON *artifact);

/*
 * Load what a check of a registered version needs: the built-in model in
 * its artifact (*model, NULL when the artifact is not a built-in model)
 * and its baseline (*base: the stored one, or when the version has none
 * in this format, one computed from the first dataset its run trained
 * on; NULL when neither exists, and *note says why).  *record (the
 * version record), *name and *version as mlops_model_resolve gives them.
 * All outputs are the caller's.
 */
int mlops_monitor_load_model(struct cJSON **record, mlops_oid *record_id, char **name,
			     char **version, struct mlops_model **model,
			     struct mlops_baseline **base, char **note,
			     struct mlops_repo *repo, const char *rev);

#endif
