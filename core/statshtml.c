/*
 * statshtml.c - render table profiles (colstats JSON) as one HTML page
 * with inline CSS and SVG bar charts (statshtml.h).
 *
 * The page is written to a memory stream.  Text from the data goes
 * through mlops_html_escape() and nowhere else; numbers are formatted
 * with printf.  Malformed parts of the JSON (a missing field, a wrong
 * type) are shown as a dash rather than failing, so that a profile from
 * a newer version still renders.
 */
#include "statshtml.h"

#include "store/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CHART_W 520
#define CHART_H 190
#define CHART_TOP 10
#define CHART_BOTTOM 60
#define LABEL_MAX 12

static const char style[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
	"margin:2em auto;max-width:1100px;padding:0 1em;color:#1f2328;background:#fff}"
	"h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin:0 0 .4em}"
	"h3{font-size:1.05em;margin:0 0 .4em}"
	"h2.table{font-size:1.35em;margin:2em 0 .2em;padding-top:.6em;border-top:2px solid #d1d9e0}"
	".toc{padding-left:1.2em}.toc a{font-weight:600}"
	".meta{color:#59636e}"
	"table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums}"
	"th,td{padding:.3em .7em;border-bottom:1px solid #d1d9e0;text-align:right;"
	"white-space:nowrap}"
	"th:first-child,td:first-child{text-align:left}"
	"thead th{background:#f6f8fa;position:sticky;top:0}"
	".wrap{overflow-x:auto}"
	"section{border:1px solid #d1d9e0;border-radius:6px;padding:1em;margin:1.2em 0}"
	".type{display:inline-block;font-size:.8em;padding:0 .5em;border-radius:1em;"
	"background:#ddf4ff;color:#0969da;margin-left:.5em;vertical-align:middle}"
	".cols{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}"
	"svg{font:11px system-ui,sans-serif}"
	".bar{fill:#54aeff}.bar:hover{fill:#0969da}.axis{stroke:#59636e}"
	"svg text{fill:#59636e}"
	".approx{color:#9a6700}";

static void esc(FILE *f, const char *s)
{
	mlops_html_escape(f, s);
}

int mlops_html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		const char *rep = NULL;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		}
		if (rep ? fputs(rep, f) == EOF : putc(*s, f) == EOF)
			return mlops_error_sys(errno, "unable to write HTML");
	}
	return 0;
}

/* Escape at most `max` characters of s (UTF-8 aware), with an ellipsis. */
static void esc_short(FILE *f, const char *s, size_t max)
{
	size_t chars = 0, i = 0;
	char buf[256];
	while (s[i] && chars < max && i + 4 < sizeof(buf)) {
		size_t len = 1;
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0xf0)
			len = 4;
		else if (ch >= 0xe0)
			len = 3;
		else if (ch >= 0xc0)
			len = 2;
		for (size_t k = 0; k < len && s[i]; k++, i++)
			buf[i] = s[i];
		chars++;
	}
	buf[i] = '\0';
	esc(f, buf);
	if (s[i])
		fputs("\xe2\x80\xa6", f); /* … */
}

static void number(FILE *f, double v)
{
	if (!isfinite(v))
		fputs(isnan(v) ? "NaN" : v > 0 ? "inf" : "-inf", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.6g", v);
}

/* A statistic as text: numbers formatted, strings escaped, else a dash. */
static void value(FILE *f, const cJSON *item)
{
	if (cJSON_IsNumber(item))
		number(f, item->valuedouble);
	else if (cJSON_IsString(item) && item->valuestring)
		esc(f, item->valuestring);
	else if (cJSON_IsBool(item))
		fputs(cJSON_IsTrue(item) ? "true" : "false", f);
	else
		fputs("&ndash;", f);
}

static const char *str_field(const cJSON *obj, const char *key, const char *dflt)
{
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(s) && s->valuestring ? s->valuestring : dflt;
}

static double num_field(const cJSON *obj, const char *key)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(n) ? n->valuedouble : NAN;
}

static void summary_table(FILE *f, const cJSON *cols)
{
	static const char *const stats[] = { "mean", "std", "min", "p25", "p50", "p75", "max" };
	const cJSON *col;
	fputs("<div class=\"wrap\"><table><thead><tr><th>column</th><th>type</th>"
	      "<th>count</th><th>missing</th><th>distinct</th><th>mean</th><th>std</th>"
	      "<th>min</th><th>25%</th><th>50%</th><th>75%</th><th>max</th></tr></thead><tbody>\n", f);
	cJSON_ArrayForEach(col, cols) {
		const cJSON *exact = cJSON_GetObjectItemCaseSensitive(col, "distinct_exact");
		fputs("<tr><td>", f);
		esc(f, str_field(col, "name", ""));
		fputs("</td><td>", f);
		esc(f, str_field(col, "type", ""));
		fputs("</td><td>", f);
		value(f, cJSON_GetObjectItemCaseSensitive(col, "count"));
		fputs("</td><td>", f);
		value(f, cJSON_GetObjectItemCaseSensitive(col, "missing"));
		fputs("</td><td>", f);
		if (cJSON_IsFalse(exact))
			fputs("<span class=\"approx\" title=\"estimate\">&asymp;", f);
		value(f, cJSON_GetObjectItemCaseSensitive(col, "distinct"));
		if (cJSON_IsFalse(exact))
			fputs("</span>", f);
		fputs("</td>", f);
		for (size_t i = 0; i < sizeof(stats) / sizeof(stats[0]); i++) {
			fputs("<td>", f);
			value(f, cJSON_GetObjectItemCaseSensitive(col, stats[i]));
			fputs("</td>", f);
		}
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table></div>\n", f);
}

/*
 * One bar chart: `counts` bars; below them the first and last edge
 * (numeric) or each bar's label (categorical).  Each bar has a tooltip.
 */
static void chart(FILE *f, const cJSON *hist)
{
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(hist, "counts");
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(hist, "edges");
	const cJSON *values = cJSON_GetObjectItemCaseSensitive(hist, "values");
	int n = cJSON_GetArraySize(counts), i = 0;
	double maxc = 0, bw, plot_h = CHART_H - CHART_TOP - CHART_BOTTOM;
	const cJSON *c;

	if (!cJSON_IsArray(counts) || n <= 0)
		return;
	cJSON_ArrayForEach(c, counts)
		if (cJSON_IsNumber(c) && c->valuedouble > maxc)
			maxc = c->valuedouble;
	bw = (double)(CHART_W - 20) / n;
	fprintf(f, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
		CHART_W, CHART_H, CHART_W, CHART_H);
	cJSON_ArrayForEach(c, counts) {
		double v = cJSON_IsNumber(c) ? c->valuedouble : 0;
		double h = maxc > 0 ? v / maxc * plot_h : 0;
		double x = 10 + i * bw, y = CHART_TOP + plot_h - h;
		fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
			"<title>", x + 0.5, y, bw > 2 ? bw - 1 : bw, h);
		if (cJSON_IsArray(edges)) {
			fputs("[", f);
			value(f, cJSON_GetArrayItem(edges, i));
			fputs(", ", f);
			value(f, cJSON_GetArrayItem(edges, i + 1));
			fputs(i == n - 1 ? "]" : ")", f);
		} else if (cJSON_IsArray(values)) {
			value(f, cJSON_GetArrayItem(values, i));
		}
		fputs(": ", f);
		number(f, v);
		fputs("</title></rect>\n", f);
		if (cJSON_IsArray(values)) {
			const cJSON *label = cJSON_GetArrayItem(values, i);
			fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"end\" "
				"transform=\"rotate(-40 %.1f %d)\">", x + bw / 2, CHART_H - CHART_BOTTOM + 12,
				x + bw / 2, CHART_H - CHART_BOTTOM + 12);
			if (cJSON_IsString(label) && label->valuestring)
				esc_short(f, label->valuestring, LABEL_MAX);
			fputs("</text>\n", f);
		}
		i++;
	}
	fprintf(f, "<line class=\"axis\" x1=\"10\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n",
		CHART_TOP + plot_h, CHART_W - 10, CHART_TOP + plot_h);
	if (cJSON_IsArray(edges)) {
		fprintf(f, "<text x=\"10\" y=\"%.1f\">", CHART_TOP + plot_h + 16);
		value(f, cJSON_GetArrayItem(edges, 0));
		fprintf(f, "</text><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">", CHART_W - 10,
			CHART_TOP + plot_h + 16);
		value(f, cJSON_GetArrayItem(edges, n));
		fputs("</text>\n", f);
	}
	fputs("</svg>\n", f);
}

static void top_table(FILE *f, const cJSON *top)
{
	const cJSON *t;
	if (!cJSON_IsArray(top) || cJSON_GetArraySize(top) == 0)
		return;
	fputs("<table><thead><tr><th>value</th><th>count</th></tr></thead><tbody>\n", f);
	cJSON_ArrayForEach(t, top) {
		fputs("<tr><td>", f);
		if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(t, "value")))
			esc_short(f, str_field(t, "value", ""), 60);
		fputs("</td><td>", f);
		value(f, cJSON_GetObjectItemCaseSensitive(t, "count"));
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
}

/* A column's section; its heading is <h2>, or <h3> under a table's <h2>. */
static void column_section(FILE *f, const cJSON *col, int level)
{
	const cJSON *hist = cJSON_GetObjectItemCaseSensitive(col, "histogram");
	const cJSON *top_exact = cJSON_GetObjectItemCaseSensitive(col, "top_exact");
	const cJSON *q_exact = cJSON_GetObjectItemCaseSensitive(col, "quantiles_exact");
	fprintf(f, "<section><h%d>", level);
	esc(f, str_field(col, "name", ""));
	fputs("<span class=\"type\">", f);
	esc(f, str_field(col, "type", ""));
	fprintf(f, "</span></h%d>\n<p class=\"meta\">", level);
	number(f, num_field(col, "count"));
	fputs(" values, ", f);
	number(f, num_field(col, "missing"));
	fputs(" missing", f);
	if (cJSON_IsFalse(q_exact))
		fputs("; <span class=\"approx\">quantiles and histogram estimated from a sample</span>", f);
	if (cJSON_IsFalse(top_exact))
		fputs("; <span class=\"approx\">top counts are lower bounds</span>", f);
	fputs("</p>\n<div class=\"cols\">\n", f);
	if (cJSON_IsObject(hist))
		chart(f, hist);
	top_table(f, cJSON_GetObjectItemCaseSensitive(col, "top"));
	fputs("</div></section>\n", f);
}

/* "R rows, C columns" of a profile. */
static void rows_columns(FILE *f, const cJSON *stats)
{
	number(f, num_field(stats, "rows"));
	fprintf(f, " rows, %d columns",
		cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(stats, "columns")));
}

/* A profile's statistics table and column sections. */
static void profile_body(FILE *f, const cJSON *stats, int level)
{
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(stats, "columns"), *col;
	summary_table(f, cols);
	cJSON_ArrayForEach(col, cols)
		column_section(f, col, level);
}

/*
 * The page: one profile as it always was when `single`, else every table
 * under its path.
 */
static int render(char **out, const struct mlops_stats_html_table *t, size_t n, int single,
		  const char *title)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	*out = NULL;
	for (size_t i = 0; i < n; i++)
		if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(t[i].stats, "columns")))
			return single || !t[i].path ?
				mlops_error_set(MLOPS_EINVALID, "statistics have no 'columns' array") :
				mlops_error_set(MLOPS_EINVALID, "statistics of '%s' have no 'columns' array",
						t[i].path);
	if (!title)
		title = "Dataset statistics";
	f = open_memstream(&buf, &size);
	if (!f)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>", f);
	esc(f, title);
	fprintf(f, "</title>\n<style>%s</style>\n</head><body>\n<h1>", style);
	esc(f, title);
	fputs("</h1>\n<p class=\"meta\">", f);
	if (single) {
		rows_columns(f, t[0].stats);
		fputs("</p>\n", f);
		profile_body(f, t[0].stats, 2);
	} else {
		/* ids are numbered, not made from paths, so that any path is safe */
		fprintf(f, "%zu table%s</p>\n<ul class=\"toc\">\n", n, n == 1 ? "" : "s");
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "<li><a href=\"#table-%zu\">", i + 1);
			esc(f, t[i].path ? t[i].path : "");
			fputs("</a> &ndash; ", f);
			rows_columns(f, t[i].stats);
			fputs("</li>\n", f);
		}
		fputs("</ul>\n", f);
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "<h2 class=\"table\" id=\"table-%zu\">", i + 1);
			esc(f, t[i].path ? t[i].path : "");
			fputs("</h2>\n<p class=\"meta\">", f);
			rows_columns(f, t[i].stats);
			fputs("</p>\n", f);
			profile_body(f, t[i].stats, 3);
		}
	}
	fputs("</body></html>\n", f);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	if (fclose(f) != 0) {
		free(buf);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	*out = buf;
	return 0;
}

int mlops_stats_html(char **out, const cJSON *stats_json, const char *title)
{
	struct mlops_stats_html_table t = { NULL, stats_json };
	return render(out, &t, 1, 1, title);
}

int mlops_stats_html_tables(char **out, const struct mlops_stats_html_table *tables, size_t n,
			    const char *title)
{
	*out = NULL;
	if (n == 0)
		return mlops_error_set(MLOPS_EINVALID, "no table to report");
	return render(out, tables, n, 0, title);
}
