/*
 * colstats.h - streaming per-column profiles of a table (exploratory
 * analysis): type, count, missing, distinct, mean, std, quantiles, top
 * values and a histogram for each column, in memory that does not depend
 * on the number of rows.
 *
 * Feed rows with mlops_colstats_add_row(), call mlops_colstats_finish(),
 * then read each column's results from its public struct or as JSON.
 *
 * Exact and estimated results (each says which):
 *   - distinct: exact while a column has at most MLOPS_COLSTATS_EXACT
 *     distinct values (and their text fits 16 MiB); beyond, a HyperLogLog
 *     estimate with 2^14 registers (standard error 0.81%).
 *   - top values: exact counts in the same range; beyond, a Misra-Gries
 *     summary of MLOPS_COLSTATS_MG counters, whose counts are lower bounds
 *     that are short by at most top_error = count / (MLOPS_COLSTATS_MG + 1):
 *     only values counted above top_error are listed (each occurs more
 *     than top_error times; every value occurring more than twice that is
 *     listed), so there may be none.  The distinct estimate is at most
 *     count.
 *   - mean and std: always over every value (std is the sample standard
 *     deviation, ddof = 1, as pandas computes it).
 *   - quantiles and histogram: exact while a column has at most
 *     MLOPS_COLSTATS_EXACT numeric values (quantiles use linear
 *     interpolation, pandas' and numpy's default; histogram bins follow
 *     numpy.histogram: equal width between min and max, the last bin
 *     closed).  Beyond, they come from a uniform random sample of
 *     MLOPS_COLSTATS_EXACT values (reservoir sampling, fixed seed, so the
 *     same input gives the same output): by the Dvoretzky-Kiefer-Wolfowitz
 *     inequality every quantile's rank is within 0.53% of the true rank
 *     (all at once) with 95% probability, and histogram counts are the sample's counts
 *     scaled to the column's count.  min and max are always exact.
 *
 * Values: missing are the empty string and pandas' default NA strings
 * (NA, N/A, n/a, NaN, nan, -NaN, -nan, null, NULL, None, <NA>, #N/A, #NA,
 * #N/A N/A, 1.#IND, -1.#IND, 1.#QNAN, -1.#QNAN).  Numbers are decimal
 * integers and floats (with exponents, inf, infinity); booleans are true
 * and false in any case; datetimes are ISO 8601 dates with an optional
 * time and zone ("2024-05-01", "2024-05-01T12:30:00.5+02:00").
 *
 * Column types: integer, float, boolean, datetime when every non-missing
 * value is of that kind (integers and floats mixed make float); otherwise
 * categorical when the distinct count is exact, at most 1000, below the
 * count, and at most 20 or at most a tenth of the count; otherwise text.
 * A column with no value at all has type "empty".
 */
#ifndef MLOPS_COLSTATS_H
#define MLOPS_COLSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/csv.h"

struct cJSON;

#define MLOPS_COLSTATS_EXACT 65536 /* exact distinct values and numeric values */
#define MLOPS_COLSTATS_MG 256      /* Misra-Gries counters beyond that */
#define MLOPS_COLSTATS_BINS 20     /* numeric histogram bins */
#define MLOPS_COLSTATS_TOP 20      /* values kept in top[] (JSON "top" shows 10) */

enum mlops_coltype {
	MLOPS_COL_EMPTY,
	MLOPS_COL_INTEGER,
	MLOPS_COL_FLOAT,
	MLOPS_COL_BOOLEAN,
	MLOPS_COL_DATETIME,
	MLOPS_COL_CATEGORICAL,
	MLOPS_COL_TEXT,
};

/* The type's name in JSON: "empty", "integer", "float", ... */
const char *mlops_coltype_name(enum mlops_coltype type);

/* A value and how often it occurs; `value` is NUL-terminated. */
struct mlops_colstats_value {
	const char *value;
	uint64_t count;
};

/*
 * One column's results, valid after mlops_colstats_finish() and owned by
 * the profile.  The numeric fields (mean .. max, edges, counts) are set
 * when `numeric` is nonzero: for integer, float and datetime columns
 * (datetimes as seconds since 1970-01-01 UTC).  std is NaN with fewer
 * than two values.
 */
struct mlops_column_stats {
	const char *name;
	enum mlops_coltype type;
	uint64_t count;   /* non-missing values */
	uint64_t missing;
	uint64_t distinct;
	int distinct_exact;
	int numeric;
	double mean, std, min, p25, p50, p75, max;
	int quantiles_exact;
	size_t nbins;     /* 0, 1 (min == max) or MLOPS_COLSTATS_BINS */
	double edges[MLOPS_COLSTATS_BINS + 1];
	uint64_t counts[MLOPS_COLSTATS_BINS];
	size_t ntop;      /* most frequent values, by count then value */
	struct mlops_colstats_value top[MLOPS_COLSTATS_TOP];
	int top_exact;
	uint64_t top_error; /* not exact: each top count may be short by this much */
	int datetime_has_time; /* datetimes: some value had a time of day */
};

struct mlops_colstats;

/*
 * A new profile of `ncols` columns named `names` (copied).  *out is the
 * caller's, freed with mlops_colstats_free().  Fails only for lack of
 * memory.
 */
int mlops_colstats_new(struct mlops_colstats **out, const char *const *names,
		       size_t ncols);

/*
 * Add one row of `n` fields (copied: the fields may change once this
 * returns).  Fails with MLOPS_EINVALID when n differs from the number of
 * columns, MLOPS_EUSAGE after finish.  Allocates nothing once a column's
 * structures have reached their bounds.
 */
int mlops_colstats_add_row(struct mlops_colstats *st,
			   const struct mlops_csv_field *fields, size_t n);

/*
 * Add `n` columns named `names` (copied) after the others, for a table
 * whose columns appear as it is read (a JSON-lines key that earlier lines
 * lacked): every row added before counts as missing in them, and rows
 * from now on have the new number of fields.  Rows gathered but not yet
 * profiled are profiled first.  Fails with MLOPS_EUSAGE after finish,
 * MLOPS_ERROR for lack of memory (the profile is then of no further use).
 */
int mlops_colstats_add_columns(struct mlops_colstats *st, const char *const *names, size_t n);

/*
 * How many threads profile the columns: 0 (the default) one per processor
 * (at most 8, at most one per column), 1 none but the caller's.  Rows are
 * gathered in batches; each column is profiled by one thread, in row
 * order, so the results do not depend on the number of threads.  Threads
 * start with the first full batch, so small inputs never start any.  Fails
 * with MLOPS_EUSAGE after the first row.
 */
int mlops_colstats_set_threads(struct mlops_colstats *st, int threads);

/* Compute the results; no more rows may be added.  Returns 0 or an error. */
int mlops_colstats_finish(struct mlops_colstats *st);

/* The number of rows and columns added. */
uint64_t mlops_colstats_rows(const struct mlops_colstats *st);
size_t mlops_colstats_ncols(const struct mlops_colstats *st);

/* Column i's results (borrowed), NULL before finish or when out of range. */
const struct mlops_column_stats *mlops_colstats_column(const struct mlops_colstats *st,
						       size_t i);

/*
 * The profile as JSON (after finish), the caller's to cJSON_Delete:
 *   {"rows": N, "columns": [{"name", "type", "count", "missing",
 *     "distinct", "distinct_exact", "mean", "std", "min", "p25", "p50",
 *     "p75", "max", "quantiles_exact", "top": [{"value", "count"}],
 *     "top_exact", "histogram"}]}
 * Numeric statistics are numbers (null when they do not apply); for
 * datetime columns mean, min, quantiles, max and the histogram edges are
 * ISO 8601 strings (UTC) and std is in seconds.  "histogram" is
 * {"edges": [...], "counts": [...]} for numeric and datetime columns,
 * {"values": [...], "counts": [...], "other": N} (the most frequent values
 * and the count of all others) for the rest, null for empty columns.
 * "top" lists at most 10 values.  Returns NULL before finish or for lack
 * of memory.
 */
struct cJSON *mlops_colstats_to_json(const struct mlops_colstats *st);

/* Free the profile; NULL is fine. */
void mlops_colstats_free(struct mlops_colstats *st);

/*
 * Profile a whole CSV, TSV or JSON-lines file (format and delimiter
 * detected; a JSON-lines key that earlier lines lacked adds a column, as
 * with mlops_colstats_add_columns) and return its JSON as
 * mlops_colstats_to_json does, the caller's.  Fails as mlops_csv_open() and mlops_csv_next() do.
 */
int mlops_colstats_from_file(struct cJSON **out, const char *path);

#endif
