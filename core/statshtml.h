/*
 * statshtml.h - a self-contained HTML report of a table profile.
 *
 * The page renders the JSON of mlops_colstats_to_json(): a table of the
 * statistics of every column, then per column an SVG bar chart of its
 * histogram and its most frequent values.  A page of several tables (a
 * dataset version's) lists them with links first, then gives each a
 * section of that kind headed by its path.  It needs nothing from the
 * network: CSS is inline, charts are inline SVG, there is no script, and
 * a Content-Security-Policy forbids loading anything.  Every string that
 * comes from the data (column names, values, the title) is escaped.
 */
#ifndef MLOPS_STATSHTML_H
#define MLOPS_STATSHTML_H

#include <stdio.h>

struct cJSON;

/*
 * Render `stats_json` (as produced by mlops_colstats_to_json) as one HTML
 * page titled `title` (NULL: "Dataset statistics").  *out is a
 * NUL-terminated string, the caller's to free().  Fails with
 * MLOPS_EINVALID when the JSON has no "columns" array, MLOPS_ERROR for
 * lack of memory.
 */
int mlops_stats_html(char **out, const struct cJSON *stats_json, const char *title);

/* One table of a page: its path and its profile, both borrowed. */
struct mlops_stats_html_table {
	const char *path;
	const struct cJSON *stats;
};

/*
 * Render `n` tables (n >= 1) as one page titled `title`: the list of
 * tables (path, rows, columns, each linking to its section), then per
 * table a section headed by its path with what mlops_stats_html() shows
 * of it.  Fails as mlops_stats_html() does, MLOPS_EINVALID naming the
 * path of a profile without "columns".
 */
int mlops_stats_html_tables(char **out, const struct mlops_stats_html_table *tables, size_t n,
			    const char *title);

/*
 * Write `s` to `f` with &, <, >, " and ' replaced by character references,
 * safe in HTML text and quoted attribute values.  Returns 0 or MLOPS_EIO.
 */
int mlops_html_escape(FILE *f, const char *s);

#endif
