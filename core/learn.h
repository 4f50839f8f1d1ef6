/*
 * learn.h - the built-in trainers: ridge regression and logistic regression.
 *
 * `mlops train --builtin linear|logistic` reads a table of raw string
 * fields, fits a design (the preprocessing) on the training split, fits the
 * model on the encoded features, scores it on the held-out split, and
 * stores everything needed to predict from raw fields again as one small
 * JSON document.  The same function, mlops_design_encode_row(), turns raw
 * fields into features when serving; training encodes through the same
 * parse and transform steps, so a served prediction equals the one made
 * during training for the same row.
 *
 * Preprocessing, fitted on the training rows only:
 *   - A column is numeric when every non-missing value in it (all rows)
 *     is a decimal number ([+-]digits[.digits][e[+-]digits], surrounding
 *     blanks allowed); otherwise categorical.  Missing values are the empty
 *     field and NA, N/A, NaN, null, None (any case).
 *   - Numeric: standardised, (v - mean) / std with the population std of
 *     the training rows; a constant column gets std 1.  Missing -> the
 *     mean, i.e. 0 after standardising.
 *   - Categorical: one-hot over the vocabulary seen in the training rows,
 *     sorted bytewise; unseen or missing values encode as all zeros.
 *   Features are laid out in input-column order; a categorical input
 *   contributes one feature per category, named "column=value".
 *
 * Split: rows are numbered 0..n-1 in source order.  A permutation is drawn
 * with the Fisher-Yates shuffle driven by splitmix64 (mlops_split_permute);
 * the first ceil(valid_frac * n) entries of the permutation are the
 * validation rows, the rest the training rows (the shape of scikit-learn's
 * ShuffleSplit).  The permutation decides membership only: each split keeps
 * its rows in source order.
 *
 * Models (scikit-learn's objectives, on the standardised features):
 *   - linear: ridge, minimise ||y - Xw - b||^2 + alpha ||w||^2, intercept
 *     unpenalised; closed form by Cholesky on the centred normal equations.
 *   - logistic: minimise C * sum(log loss) + 0.5 ||W||^2, intercepts
 *     unpenalised; one weight vector for two classes (the positive class
 *     is the second in sorted order), softmax over k weight vectors for
 *     more; L-BFGS.  Classes are the distinct target values, sorted as
 *     numbers when all are numbers, else bytewise.
 */
#ifndef MLOPS_LEARN_H
#define MLOPS_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "core/linalg.h"

struct cJSON;

/* A raw field: len bytes at ptr, not NUL-terminated (borrowed). */
struct mlops_cellref {
	const char *ptr;
	size_t len;
};

/*
 * Where the trainer reads rows from.  next() sets *out_fields to ncols
 * fields valid until the following call, and *out_line to the source line
 * (for messages); it returns 1 for a row, 0 at the end, a negative
 * MLOPS_E* code (message set) on failure.  rewind() restarts at the first
 * row; it is called at most once, and only when a categorical column
 * needs a second pass.  nrows_hint, when non-zero, sizes the buffers.
 */
struct mlops_row_source {
	size_t ncols;
	const char *const *names;
	size_t nrows_hint;
	int (*next)(void *ctx, const struct mlops_cellref **out_fields, size_t *out_line);
	int (*rewind)(void *ctx);
	void *ctx;
};

/* An in-memory table of nrows x ncols fields, row-major (all borrowed). */
struct mlops_cell_table {
	size_t nrows, ncols;
	const char *const *names;
	const struct mlops_cellref *cells;
	size_t pos; /* next row to read */
};

/* Make *out read rows from table (which must outlive *out). */
void mlops_row_source_from_table(struct mlops_row_source *out, struct mlops_cell_table *table);

/* ---- preprocessing ---- */

enum mlops_input_type {
	MLOPS_INPUT_NUMERIC,
	MLOPS_INPUT_CATEGORICAL,
};

/* One input column of a design and its fitted parameters. */
struct mlops_input {
	char *name;
	enum mlops_input_type type;
	double mean, std;     /* numeric: std is 1 for a constant column */
	size_t ncategories;   /* categorical: sorted bytewise, distinct */
	char **categories;
	size_t offset;        /* index of its first feature */
};

/* Raw fields (one per input, in input order) -> numeric features. */
struct mlops_design {
	size_t ninputs;
	struct mlops_input *inputs;
	size_t nfeatures;
	char **feature_names; /* "column" or "column=value" */
};

/*
 * Encode one row: fields[i] is the raw value of design->inputs[i]; x
 * receives design->nfeatures doubles.  MLOPS_EINVALID when a numeric
 * input has a value that is not a number ("value 'abc' of column 'x' is
 * not a number").  Allocates nothing.
 */
int mlops_design_encode_row(double *x, const struct mlops_design *design,
			    const struct mlops_cellref *fields);

/*
 * For each input of the design, find its column among names[0..ncols-1]:
 * out_pos[i] (design->ninputs entries) receives the column index.
 * MLOPS_EINVALID when an input column is missing ("missing column 'x'").
 */
int mlops_design_bind(size_t *out_pos, const struct mlops_design *design,
		      const char *const *names, size_t ncols);

/* ---- split ---- */

/*
 * Fill perm[0..n-1] with a permutation of 0..n-1 determined by seed:
 * perm = identity; a splitmix64 generator with state = seed (each draw:
 * state += 0x9E3779B97F4A7C15, z = state, z = (z ^ z >> 30) *
 * 0xBF58476D1CE4E5B9, z = (z ^ z >> 27) * 0x94D049BB133111EB,
 * z ^= z >> 31); for i = n-1 down to 1, j = draw % (i + 1), swap perm[i]
 * and perm[j].
 */
void mlops_split_permute(size_t *perm, size_t n, uint64_t seed);

/* ceil(valid_frac * n): the number of validation rows. */
size_t mlops_split_valid_count(size_t n, double valid_frac);

/* ---- numeric fitters (on encoded features) ---- */

/*
 * Ridge regression of y on the rows of X: coef receives X->cols weights,
 * *intercept the intercept.  MLOPS_EINVALID when the normal equations are
 * singular (collinear features with alpha == 0); MLOPS_ERROR on memory.
 */
int mlops_ridge_fit(double *coef, double *intercept, const struct mlops_matrix *X,
		    const double *y, double alpha);

/*
 * L2-regularised logistic regression of the class indices y (< nclasses,
 * nclasses >= 2) on the rows of X.  coef receives nout x X->cols weights
 * and intercept nout values, nout = 1 for two classes and nclasses
 * otherwise; the multinomial intercepts are centred to sum to zero.
 * threads: worker threads for the objective (0 = online CPUs, at most 8);
 * the result does not depend on it.  opts NULL = defaults; result may be
 * NULL.  MLOPS_ERROR on memory.
 */
int mlops_logistic_fit(double *coef, double *intercept, struct mlops_lbfgs_result *result,
		       const struct mlops_matrix *X, const size_t *y, size_t nclasses,
		       double C, const struct mlops_lbfgs_opts *opts, size_t threads);

/*
 * Class probabilities (X->rows x nclasses, row-major) and, when pred is not
 * NULL, the predicted class of each row, for coefficients laid out as by
 * mlops_logistic_fit.
 */
void mlops_logistic_predict(double *proba, size_t *pred, const struct mlops_matrix *X,
			    const double *coef, const double *intercept, size_t nclasses);

/* ---- models ---- */

enum mlops_model_kind {
	MLOPS_MODEL_LINEAR,   /* ridge regression */
	MLOPS_MODEL_LOGISTIC, /* logistic regression */
};

struct mlops_metric {
	char name[32];
	double value;
};

#define MLOPS_MODEL_MAX_METRICS 16

/* A trained model.  All fields are the model's own. */
struct mlops_model {
	enum mlops_model_kind kind;
	char *target;
	struct mlops_design design;
	size_t nclasses;         /* 0 for regression */
	char **classes;
	size_t nout;             /* rows of coef: 1, or nclasses when > 2 */
	double *coef;            /* nout x design.nfeatures */
	double *intercept;       /* nout */
	/* parameters and facts of the training */
	double alpha, C, valid_frac, tol;
	uint64_t seed;
	size_t max_iter;
	size_t nrows, ntrain, nvalid, iterations;
	int converged;
	/* validation metrics by plain name, training metrics as "train_<name>" */
	size_t nmetrics;
	struct mlops_metric metrics[MLOPS_MODEL_MAX_METRICS];
};

struct mlops_train_opts {
	enum mlops_model_kind kind;
	const char *target;            /* required */
	const char *const *features;   /* input columns; NULL = all but target */
	size_t nfeatures;
	double alpha;                  /* ridge, default 1.0 */
	double C;                      /* logistic, default 1.0 */
	double valid_frac;             /* default 0.2; 0 = no validation */
	uint64_t seed;                 /* default 0 */
	size_t max_iter;               /* logistic, default 1000 */
	double tol;                    /* logistic, max |gradient| of the mean
					  objective, default 1e-6 */
	size_t threads;                /* 0 = online CPUs, at most 8 */
};

/* Fill opts with the defaults (kind linear, no target). */
void mlops_train_opts_init(struct mlops_train_opts *opts);

/*
 * Train a model on the rows of src into *out (the caller's, freed with
 * mlops_model_free).  Reads src once, twice when there are categorical
 * inputs.  Errors: MLOPS_ENOTFOUND for a target or feature column not in
 * src->names; MLOPS_EUSAGE for bad options (alpha < 0, C <= 0, valid_frac
 * outside [0, 1), no inputs); MLOPS_EINVALID for bad data (no rows, a
 * missing or non-numeric regression target, a single class, a class
 * absent from the training split, too few rows to split), with the line;
 * the source's own errors pass through.
 */
int mlops_model_train(struct mlops_model **out, struct mlops_row_source *src,
		      const struct mlops_train_opts *opts);

/* Free a model; NULL is accepted. */
void mlops_model_free(struct mlops_model *model);

/* Look up a metric by name: its value, or NAN when absent. */
double mlops_model_metric(const struct mlops_model *model, const char *name);

/*
 * The model as a JSON object into *out (the caller's, cJSON_Delete):
 *   {"format": "mlops-model", "version": 1, "kind": "linear"|"logistic",
 *    "task": "regression"|"classification", "target": "y",
 *    "inputs": [{"name", "type": "numeric", "mean", "std"} |
 *               {"name", "type": "categorical", "categories": [...]}],
 *    "features": [...], "classes": [...] (classification),
 *    "coefficients": [[...nfeatures...] x nout], "intercepts": [...nout...],
 *    "params": {"alpha" | "C", "max_iter", "tol", "valid_frac", "seed"},
 *    "training": {"rows", "train_rows", "valid_rows", "iterations",
 *                 "converged"},
 *    "metrics": {"rmse": ..., "train_rmse": ..., ...}}
 * Numbers are written so that they read back bit for bit.  MLOPS_ERROR on
 * memory.
 */
int mlops_model_to_json(struct cJSON **out, const struct mlops_model *model);

/*
 * Read a model from JSON as written by mlops_model_to_json into *out (the
 * caller's).  Every field is checked (types, counts against the design,
 * finite numbers, std > 0, sorted distinct categories and classes);
 * anything else is MLOPS_EINVALID with a message naming the field
 * ("invalid model: 'coefficients' row 2 has 3 values, expected 5").
 */
int mlops_model_from_json(struct mlops_model **out, const struct cJSON *json);

/* Parse JSON text (len bytes) and read a model from it, as above. */
int mlops_model_parse(struct mlops_model **out, const char *text, size_t len);

/* One prediction. */
struct mlops_prediction {
	double value;        /* regression: the prediction; classification:
				the probability of the predicted class */
	size_t class_index;  /* classification: index into model->classes */
	const char *label;   /* classification: the class (borrowed from the
				model); NULL for regression */
};

/*
 * Predict from one row of raw fields, fields[i] being the value of
 * model->design.inputs[i] (see mlops_design_bind).  proba, when not NULL,
 * receives model->nclasses probabilities (classification).  Errors as
 * mlops_design_encode_row.  Thread safe; allocates only for designs of
 * more than 256 features.
 */
int mlops_model_predict_row(struct mlops_prediction *out, double *proba,
			    const struct mlops_model *model,
			    const struct mlops_cellref *fields);

#endif
