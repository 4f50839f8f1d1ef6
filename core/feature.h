/*
 * feature.h - feature sets: definitions kept in git, fitted transforms,
 * materialised feature tables with a lookup index, point-in-time reads.
 *
 * A feature set is a JSON spec (features/NAME.json in the work tree):
 *
 *   {"name": "customer", "source": "transactions", "file": "tx.csv",
 *    "entity": ["customer_id"], "timestamp": "event_time",
 *    "created": "created_time", "ttl": "30d",
 *    "features": [
 *      {"name": "amount", "column": "amount", "transform": "identity"},
 *      {"name": "amount_z", "column": "amount", "transform": "standardize"},
 *      {"name": "amount_01", "column": "amount", "transform": "minmax"},
 *      {"name": "amount_log", "column": "amount", "transform": "log1p"},
 *      {"name": "amount_c", "column": "amount", "transform": "clip", "min": 0, "max": 100},
 *      {"name": "amount_b", "column": "amount", "transform": "bucketize", "edges": [10, 100]},
 *      {"name": "amount_q", "column": "amount", "transform": "bucketize", "bins": 4},
 *      {"name": "country", "column": "country", "transform": "one-hot",
 *       "unseen": "zeros" | "other", "max_categories": 100},
 *      {"name": "age", "column": "age", "transform": "fill-missing",
 *       "strategy": "mean" | "median" | "constant", "value": 0},
 *      {"name": "spend_7d", "column": "amount", "transform": "sum", "window": "7d"},
 *      {"name": "tx_7d", "transform": "count", "window": "7d"}]}
 *
 * "source" is a dataset revision (NAME, NAME@vN); "file" picks the file of
 * a dataset with several.  "entity" is a column or a list of columns (a
 * source row with a missing entity is refused, naming the line);
 * "created" (optional) breaks ties between rows of the same entity and
 * event time; "ttl" (optional) is how old a value may be in a join.
 *
 * Transforms (v is the value; missing values are the empty field and NA,
 * N/A, NaN, null, None, <NA>, #N/A in any case; a missing input gives a
 * missing output unless said otherwise; a value that is not a number in a
 * numeric transform is an error naming the line, as is a number too large
 * for a double such as 1e400):
 *   identity      the value as written (text passes through)
 *   standardize   (v - mean) / std, population std fitted on the source;
 *                 std 0 counts as 1 (scikit-learn's StandardScaler)
 *   minmax        (v - min) / (max - min); 0 when max == min
 *   log1p         log(1 + v); missing when v <= -1
 *   clip          v limited to [min, max] (either may be absent)
 *   bucketize     the number of edges <= v (0 .. n; numpy.digitize); with
 *                 "bins": N instead of "edges", N - 1 inner edges fitted at
 *                 equal width between the source's min and max
 *   one-hot       one 0/1 column "NAME=value" per category of the fitted
 *                 vocabulary (the max_categories most frequent non-missing
 *                 values, ties by value, then sorted bytewise; or given as
 *                 "vocabulary"); an unseen value gives all zeros, or with
 *                 "unseen": "other" a 1 in the extra column "NAME=__other__";
 *                 a missing value gives all zeros
 *   fill-missing  the value; when missing, the fitted mean or median of
 *                 the source (median exact up to 65,536 values, then from
 *                 a uniform sample, as in colstats.h) or "value"
 *   count, sum, mean, min, max (with "window": "7d")
 *                 aggregate over the rows of the same entity whose event
 *                 time is in (t - window, t], t the row's own event time:
 *                 rows at the same time count, later rows never do.
 *                 count without "column" counts rows, with one it counts
 *                 non-missing values (numbers or text); sum and count of
 *                 nothing are 0, mean, min and max of nothing are missing.
 *                 sum is the exact sum of the window rounded once (as
 *                 math.fsum), mean that sum over the count.
 * Durations: an integer and a unit, ms, s, m, h, d or w ("90m", "7d").
 * Times: ISO 8601 dates ("2024-05-01", midnight UTC) and date-times
 * ("2024-05-01T12:30:00", "2024-05-01 12:30:00.250Z", "...+02:00"; no zone
 * means UTC), or seconds since 1970 ("1714566600", "1714566600.25",
 * "-86400").
 * Kept with millisecond precision; written as "2024-05-01T12:30:00Z"
 * (".250" added when there are milliseconds).
 *
 * Records (canonical JSON in the store):
 *   {"type":"feature-spec","name","version":N,"spec":{...},"time","author"}
 *     ref features/NAME/spec/vN
 *   {"type":"feature-set","name","version":N,"spec":"<spec record id>",
 *    "spec_version","source":"<dataset record id>","source_name",
 *    "source_version","source_file","table":{node},"index":"<id>",
 *    "params":{...},"stats":{colstats JSON},"columns":[...],"rows",
 *    "entities","time","author"}
 *     ref features/NAME/vN, so that NAME@vN resolves as for datasets.
 * "params" is self-contained: the definition of every feature with its
 * fitted values (mean, std, min, max, edges, vocabulary, value), plus
 * "entity", "timestamp", "created" and "ttl_ms": everything needed to
 * transform a raw row without the spec.
 *
 * The table is a CSV file: the entity columns, the event time and created
 * time (normalised as above), then the output columns, one row per source
 * row, sorted by entity key (bytewise; several entity columns joined by
 * 0x1f), event time, created time and source order.  It is stored as a
 * chunk list whose chunks ("pieces", 64 KiB to 2 MiB) end at entity
 * boundaries.  The index is a JSON object {"type":"feature-index",
 * "columns":[...],"key_columns","entities","rows","table":"<id>",
 * "pages":[{"first":"<hex of the first key>","id","entities"},...]} whose
 * pages are binary objects of up to 512 entities each (magic "MLFIDX1\n",
 * u32 count, u32 offsets, then per entity: u32 key length, key, u64 byte
 * offset and u64 byte length of its rows in the table, u64 rows, i64 first
 * and last event time, the 32-byte id of the piece holding all its rows
 * (zeros when they span pieces) and u32 their offset in it; little-endian),
 * so that a lookup reads one small page and one small piece.
 *
 * mlops.lock section "features": NAME -> {"spec","spec_version"} and, once
 * materialised, {"record","version"}.  Nothing here prints.
 */
#ifndef MLOPS_FEATURE_H
#define MLOPS_FEATURE_H

#include <stddef.h>
#include <stdint.h>

#include "store/oid.h"

struct mlops_repo;
struct cJSON;

/* ---- times and durations ---------------------------------------------- */

/*
 * Parse a time (see above) of `len` bytes into milliseconds since 1970 UTC.
 * MLOPS_EINVALID (with a message quoting the text) when it is not one.
 */
int mlops_feature_parse_time(int64_t *out, const char *text, size_t len);

/* Format milliseconds as ISO 8601 UTC into buf; returns buf. */
char *mlops_feature_format_time(char buf[48], int64_t ms);

/* Parse a duration ("7d") into milliseconds; MLOPS_EINVALID otherwise. */
int mlops_feature_parse_duration(int64_t *out, const char *text);

/* ---- fitted transforms ------------------------------------------------ */

/*
 * A fitted transform set: turns the raw fields of one source row into the
 * feature values.  Materialisation, training and serving all evaluate rows
 * through the same function, so their values cannot differ.
 */
struct mlops_feature_transform;

/*
 * Load the fitted transform set of a materialised version record
 * ("params").  *out is the caller's (mlops_feature_transform_free).
 * MLOPS_EINVALID when the record has no usable params.
 */
int mlops_feature_transform_load(struct mlops_feature_transform **out,
				 const struct cJSON *record);
void mlops_feature_transform_free(struct mlops_feature_transform *t);

/* The raw columns a row must provide (entity columns first); borrowed. */
size_t mlops_feature_transform_ninputs(const struct mlops_feature_transform *t);
const char *mlops_feature_transform_input(const struct mlops_feature_transform *t, size_t i);

/* The output columns ("amount_z", "country=FR", ...); borrowed. */
size_t mlops_feature_transform_noutputs(const struct mlops_feature_transform *t);
const char *mlops_feature_transform_output(const struct mlops_feature_transform *t, size_t i);

/*
 * 1 when output i is a windowed aggregate: it depends on the entity's
 * history, not on the row, so apply() leaves it NaN; read it from the
 * table with mlops_feature_get() (as of the request's time).
 */
int mlops_feature_transform_is_window(const struct mlops_feature_transform *t, size_t i);

/*
 * Apply to one raw row given as n (name, value) pairs (NUL-terminated
 * strings; values NULL or "" are missing; extra names are ignored, absent
 * inputs are missing).  out receives noutputs doubles: NaN for missing
 * values, for text that is not a number (identity of a category) and for
 * windowed outputs.  MLOPS_EINVALID when a numeric transform gets text
 * ("column 'amount': 'abc' is not a number").  Allocates nothing.
 */
int mlops_feature_transform_apply(double *out, const struct mlops_feature_transform *t,
				  const char *const *names, const char *const *values, size_t n);

/*
 * The same evaluation, giving each output as the feature table holds it,
 * so that a model trained on the table can be fed a raw row exactly as it
 * was fed the table's row.  in[i] is the raw value of input i (ptr and len;
 * len 0 or a missing marker is a missing value).  out receives noutputs
 * fields: the raw text for identity and for fill-missing of a present
 * value (pointing into in), the fill value (pointing into t), or a number
 * written into work in the shortest form that reads back (one-hot 0 and 1,
 * standardised values ...); "" (len 0) for missing values and windowed
 * outputs.  work must hold mlops_feature_transform_work_size(t) bytes,
 * aligned for a double, and is valid as long as out is used.  Allocates
 * nothing.  MLOPS_EINVALID as mlops_feature_transform_apply.
 */
struct mlops_csv_field;
size_t mlops_feature_transform_work_size(const struct mlops_feature_transform *t);
int mlops_feature_transform_apply_fields(struct mlops_csv_field *out, void *work,
					 const struct mlops_feature_transform *t,
					 const struct mlops_csv_field *in);

/*
 * Current data for a drift check of a model trained on a feature set, as
 * its feature table holds it.  path is a table (CSV, TSV or JSON lines;
 * log 0) or a request log of `mlops deploy serve` (JSON lines whose
 * "inputs" are {"columns","data"}; log 1).  A table, or a log record, that
 * lacks one of the `want` columns (the model's inputs) and has raw columns
 * the transforms compute a wanted column from has every row applied
 * (mlops_feature_transform_apply_fields): the outputs computed from the
 * raw columns present, the windowed outputs it sends, then its other
 * columns (the raw columns read left out).  The result is written to a
 * new file in tmpdir, *out_path (registered as a temporary file: the
 * caller removes it and forgets it); a log keeps one line for each line,
 * other lines as they were.  *out_path NULL when nothing needed it.
 * MLOPS_EINVALID (naming the file and line) for a value a transform
 * refuses; the reader's errors.
 */
int mlops_feature_transform_file(char **out_path, const struct mlops_feature_transform *t,
				 const char *const *want, size_t nwant, const char *path, int log,
				 const char *tmpdir);

/*
 * The input that output i is computed from (its index among the inputs),
 * or -1 when it has none (a count of rows).
 */
long mlops_feature_transform_output_input(const struct mlops_feature_transform *t, size_t i);

/* The transform that makes output i ("standardize", "one-hot", ...); static. */
const char *mlops_feature_transform_output_kind(const struct mlops_feature_transform *t, size_t i);

/* ---- definitions ------------------------------------------------------ */

/*
 * Validate the spec file at spec_path and record it as the next version of
 * its feature set (no new version when it equals the newest: *created 0).
 * Validation opens the source dataset's newest version (or the version the
 * spec names) and checks every column against its header.  Errors name the
 * field: "features[2].window: '7x' is not a duration (e.g. 30m, 12h, 7d)";
 * MLOPS_EINVALID for a bad spec, MLOPS_ENOTFOUND for a missing dataset.
 * *record (the spec record) is the caller's; *version its number.
 */
int mlops_feature_add(struct cJSON **record, mlops_oid *id, long *version, int *created,
		      struct mlops_repo *repo, const char *spec_path);

/* Feature set names (sorted), with a spec or a version; mlops_strlist_free. */
int mlops_feature_names(char ***out, size_t *n, struct mlops_repo *repo);

/* Materialised / spec version numbers of NAME, ascending; *out caller frees. */
int mlops_feature_versions(long **out, size_t *n, struct mlops_repo *repo, const char *name);
int mlops_feature_spec_versions(long **out, size_t *n, struct mlops_repo *repo,
				const char *name);

/*
 * Resolve a materialised version: NAME (newest), NAME@vN or NAME@<id
 * prefix>.  *record is the caller's (cJSON_Delete), *id its id.
 * MLOPS_ENOTFOUND, MLOPS_EAMBIGUOUS (listing candidates), MLOPS_EUSAGE.
 */
int mlops_feature_resolve(struct cJSON **record, mlops_oid *id, struct mlops_repo *repo,
			  const char *rev);

/* Resolve a spec version (NAME or NAME@vN, numbers of spec versions). */
int mlops_feature_spec_resolve(struct cJSON **record, mlops_oid *id, struct mlops_repo *repo,
			       const char *rev);

/* ---- materialise ------------------------------------------------------ */

struct mlops_feature_materialize_opts {
	const char *source;  /* dataset revision; NULL: the spec's source */
	size_t sort_memory;  /* bytes of rows sorted in memory before spilling; 0: 256 MiB */
};

/*
 * Materialise the newest spec of feature set `name` on its source: fit the
 * parameters (one pass over the source), sort the rows by entity and time
 * (spilling sorted runs to .mlops/tmp beyond sort_memory, then merging),
 * compute the windows, write the table, its statistics and its index, and
 * record a new version.  Memory grows with the entities and the window
 * contents, not with the rows.  When the newest version was made from the
 * same spec and source, nothing is done and it is returned (*created 0).
 * *record is the caller's.
 */
int mlops_feature_materialize(struct cJSON **record, mlops_oid *id, int *created,
			      struct mlops_repo *repo, const char *name,
			      const struct mlops_feature_materialize_opts *opts);

/*
 * Write the table of a materialised version record to `path` (a CSV file,
 * replaced atomically).  Errors as the store reports them.
 */
int mlops_feature_table_checkout(struct mlops_repo *repo, const struct cJSON *record,
				 const char *path);

/*
 * Call cb for every object a materialised version needs beyond its record
 * (the table's objects, the index and its pages): for gc, fsck and push.
 */
int mlops_feature_walk_objects(struct mlops_repo *repo, const struct cJSON *record,
			       int (*cb)(const mlops_oid *id, void *payload), void *payload);

/* ---- read ------------------------------------------------------------- */

/* One row of a feature table: the columns and their values as written. */
struct mlops_feature_row {
	int found;          /* 0: the entity has no row at or before the time, or it expired */
	int64_t time;       /* event time of the row (when found) */
	size_t ncolumns;
	char **columns;     /* every table column (entity, time, outputs) */
	char **values;      /* the row's values ("" for missing) */
	size_t nkey;        /* leading entity columns */
	size_t first_output; /* index of the first output column */
};
void mlops_feature_row_free(struct mlops_feature_row *row);

/*
 * The values of one entity from a materialised version: the newest row
 * (has_at 0; TTL not applied) or the newest with event time <= at and not
 * older than the TTL.  keys has one value per entity column.  Reads the
 * index page and the table chunks that hold the entity, nothing else.
 * MLOPS_ENOTFOUND when the entity is not in the table; found = 0 when it
 * has no value at that time.  *out is the caller's.
 */
int mlops_feature_get(struct mlops_feature_row **out, struct mlops_repo *repo,
		      const struct cJSON *record, const char *const *keys, size_t nkeys,
		      int has_at, int64_t at);

/*
 * Point-in-time join: for each row of the entities file (CSV, TSV or JSON
 * lines with the entity columns of every set and a time column), append
 * the output columns of each feature set as of that row's time: the newest
 * row of that entity with event time <= the row's time (ties: the newest
 * created time, then the last in source order), empty when there is none,
 * it is older than the set's TTL, or the row's entity is missing.  Output
 * columns keep their names; a name that is already taken becomes
 * "SET.name" (then "SET.name.2" ...).  The output CSV is written
 * atomically to out_path, and a manifest (inputs with their record
 * ids, the entities file's SHA-256, the output's SHA-256, rows) is stored
 * as a record {"type":"feature-join",...} and written beside the output as
 * out_path + ".manifest.json".  *manifest (with "id") is the caller's.
 */
struct mlops_feature_join_opts {
	const char *const *revs;  /* feature set revisions (NAME, NAME@vN) */
	size_t nrevs;
	const char *entities;     /* path of the entities file */
	const char *out;          /* path of the output CSV */
	const char *time_column;  /* NULL: the first set's timestamp column */
};

int mlops_feature_join(struct cJSON **manifest, struct mlops_repo *repo,
		       const struct mlops_feature_join_opts *opts);

#endif
