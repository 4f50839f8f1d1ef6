/*
 * dataset_stats.h - column profiles of tables in the work tree or in a
 * dataset version (the JSON of core/colstats.h).
 */
#ifndef MLOPS_DATASET_STATS_H
#define MLOPS_DATASET_STATS_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "store/tree.h"

struct mlops_repo;
struct mlops_dataset_version;

/* 1 when path names a table by its extension: .csv, .tsv, .jsonl, .ndjson. */
int mlops_is_table_path(const char *path);

struct mlops_csv_field;

/*
 * A table read record by record: header() gets the column names once
 * (borrowed), then row() each record (fields borrowed until the next
 * call).  A negative return from any stops the read and is returned.
 * columns() is optional: given, a JSON-lines key that no earlier line had
 * is a new column after the others (as pandas reads it) rather than an
 * error, announced by columns() with its name (borrowed) before the row
 * that brings it; the rows before lacked it.
 */
struct mlops_table_reader {
	int (*header)(void *payload, const char *const *names, size_t n);
	int (*row)(void *payload, const struct mlops_csv_field *fields, size_t n);
	void *payload;
	int (*columns)(void *payload, const char *const *names, size_t n);
};

/*
 * Read a CSV/TSV/JSON-lines table (csv.h: RFC 4180, a BOM skipped, the
 * delimiter detected) from a file on disk, or from a stored file streamed
 * and verified; name is the table's name in messages.  MLOPS_EINVALID,
 * naming the line, for a malformed table.
 */
int mlops_table_read_file(const char *path, const struct mlops_table_reader *rd);
int mlops_table_read_node(struct mlops_repo *repo, const struct mlops_node *node, const char *name,
			  const struct mlops_table_reader *rd);

/* Profile a CSV/TSV/JSON-lines file on disk. */
int mlops_stats_file(cJSON **out, const char *path);

/* Profile a stored file, streamed from the store (verified as it is read). */
int mlops_stats_node(cJSON **out, struct mlops_repo *repo, const struct mlops_node *node,
		     const char *name);

struct mlops_table_stats {
	char *path;    /* work-tree path of the table */
	cJSON *stats;  /* its profile */
};

/*
 * Profile every table in a version (or only the file `only`, a work-tree
 * path).  MLOPS_ENOTFOUND when there is none.
 */
int mlops_stats_version(struct mlops_table_stats **out, size_t *n, struct mlops_repo *repo,
			const struct mlops_dataset_version *v, const char *only);
void mlops_table_stats_free(struct mlops_table_stats *s, size_t n);

#endif
