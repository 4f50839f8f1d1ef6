/*
 * statshtml.h - a self-contained HTML report of a table profile.
 *
 * The page renders the JSON of mlops_colstats_to_json(): a table of the
 * statistics of every column, then per column an SVG bar chart of its
 * histogram and its most frequent values.  It needs nothing from the
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

/*
 * Write `s` to `f` with &, <, >, " and ' replaced by character references,
 * safe in HTML text and quoted attribute values.  Returns 0 or MLOPS_EIO.
 */
int mlops_html_escape(FILE *f, const char *s);

#endif
