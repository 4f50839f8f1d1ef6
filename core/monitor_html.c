/*
 * monitor_html.c - a check report as one self-contained HTML page: the
 * verdict, the schema changes and quality, a table of every column's test,
 * then per column (predictions and drifted columns first) the baseline's
 * and the current distribution overlaid in an inline SVG chart, with the
 * figures beside it.
 *
 * Only summaries reach the page (bin and category proportions, the
 * statistics), never rows, so it stays small.  There is no script and a
 * Content-Security-Policy forbids loading anything.  Text from the data
 * is escaped by mlops_html_escape() (core/statshtml.h).
 */
#include "core/monitor.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/statshtml.h"
#include "store/error.h"

#define W 560
#define H 220
#define TOP 12
#define BOTTOM 70
#define LEFT 44
#define MAX_BARS 40

static const char style[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
	"margin:2em auto;max-width:1100px;padding:0 1em;color:#1f2328;background:#fff}"
	"h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin:0 0 .4em}"
	".meta{color:#59636e}"
	"table{border-collapse:collapse;margin:1em 0;font-variant-numeric:tabular-nums}"
	"th,td{padding:.3em .7em;border-bottom:1px solid #d1d9e0;text-align:right;white-space:nowrap}"
	"th:first-child,td:first-child{text-align:left}"
	"thead th{background:#f6f8fa}"
	".wrap{overflow-x:auto}"
	"section{border:1px solid #d1d9e0;border-radius:6px;padding:1em;margin:1.2em 0}"
	"section.drift{border-color:#cf222e}"
	".badge{display:inline-block;font-size:.8em;padding:0 .6em;border-radius:1em;"
	"margin-left:.5em;vertical-align:middle;background:#dafbe1;color:#1a7f37}"
	".badge.bad{background:#ffebe9;color:#cf222e}.badge.kind{background:#ddf4ff;color:#0969da}"
	".cols{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}"
	"svg{font:11px system-ui,sans-serif}svg text{fill:#59636e}.axis{stroke:#59636e}"
	".base{fill:#54aeff;fill-opacity:.55}.cur{fill:#fb8f44;fill-opacity:.55}"
	".legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;"
	"vertical-align:middle}";

static void esc(FILE *f, const char *s)
{
	mlops_html_escape(f, s ? s : "");
}

static void number(FILE *f, double v)
{
	if (!isfinite(v))
		fputs("&ndash;", f);
	else if (v == floor(v) && fabs(v) < 1e15)
		fprintf(f, "%.0f", v);
	else
		fprintf(f, "%.4g", v);
}

static double num_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str_of(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_true(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void badge(FILE *f, int bad, const char *text)
{
	fprintf(f, "<span class=\"badge%s\">", bad ? " bad" : "");
	esc(f, text);
	fputs("</span>", f);
}

/* Up to 14 characters of s, escaped, with an ellipsis when cut. */
static void esc_short(FILE *f, const char *s)
{
	char buf[64];
	size_t i = 0, chars = 0;
	while (s[i] && chars < 14 && i + 4 < sizeof(buf)) {
		unsigned char ch = (unsigned char)s[i];
		size_t len = ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : ch >= 0xc0 ? 2 : 1;
		for (size_t k = 0; k < len && s[i]; k++, i++)
			buf[i] = s[i];
		chars++;
	}
	buf[i] = 0;
	esc(f, buf);
	if (s[i])
		fputs("\xe2\x80\xa6", f);
}

/* The chart of one column: baseline and current proportions overlaid. */
static void chart(FILE *f, const cJSON *col)
{
	const char *name = str_of(col, "name");
	const cJSON *h = cJSON_GetObjectItemCaseSensitive(col, "values");
	const cJSON *edges = NULL, *labels = NULL;
	if (!h)
		h = cJSON_GetObjectItemCaseSensitive(col, "categories");
	if (h)
		labels = cJSON_GetObjectItemCaseSensitive(h, "values");
	else if ((h = cJSON_GetObjectItemCaseSensitive(col, "histogram")))
		edges = cJSON_GetObjectItemCaseSensitive(h, "edges");
	const cJSON *bp = cJSON_GetObjectItemCaseSensitive(h, "baseline");
	const cJSON *cp = cJSON_GetObjectItemCaseSensitive(h, "current");
	int n = cJSON_IsArray(bp) ? cJSON_GetArraySize(bp) : 0;

	fputs("<svg class=\"chart\" data-column=\"", f);
	esc(f, name);
	fprintf(f, "\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
		W, H, W, H);
	esc(f, name);
	fputs("\">", f);
	if (n == 0 || !cJSON_IsArray(cp) || cJSON_GetArraySize(cp) != n) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no distribution to show"
			"</text></svg>", W / 2, H / 2);
		return;
	}
	int shown = n > MAX_BARS ? MAX_BARS : n;
	double maxp = 0;
	for (int i = 0; i < shown; i++) {
		double b = cJSON_GetArrayItem(bp, i)->valuedouble;
		double c = cJSON_GetArrayItem(cp, i)->valuedouble;
		if (b > maxp)
			maxp = b;
		if (c > maxp)
			maxp = c;
	}
	if (maxp <= 0)
		maxp = 1;
	double plot_h = H - TOP - BOTTOM, plot_w = W - LEFT - 8, bw = plot_w / shown;
	fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", LEFT,
		TOP + plot_h, W - 8, TOP + plot_h);
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.0f%%</text>", LEFT - 4, TOP + 8,
		maxp * 100);
	fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">0</text>", LEFT - 4, TOP + plot_h);
	for (int i = 0; i < shown; i++) {
		double b = cJSON_GetArrayItem(bp, i)->valuedouble;
		double c = cJSON_GetArrayItem(cp, i)->valuedouble;
		double x = LEFT + i * bw, hb = plot_h * b / maxp, hc = plot_h * c / maxp;
		fprintf(f, "<rect class=\"base\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
			"<title>baseline %.2f%%</title></rect>", x + 1, TOP + plot_h - hb, bw - 2, hb,
			b * 100);
		fprintf(f, "<rect class=\"cur\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
			"<title>current %.2f%%</title></rect>", x + 1 + bw * 0.15, TOP + plot_h - hc,
			bw * 0.7 - 2 > 1 ? bw * 0.7 - 2 : 1, hc, c * 100);
		double lx = x + bw / 2, ly = TOP + plot_h + 12;
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
			"transform=\"rotate(-40 %.1f %.1f)\">", lx, ly, lx, ly);
		if (labels) {
			const cJSON *l = cJSON_GetArrayItem(labels, i);
			if (cJSON_IsString(l))
				esc_short(f, l->valuestring);
			else if (cJSON_IsNumber(l))
				number(f, l->valuedouble);
		} else if (edges) {
			number(f, cJSON_GetArrayItem(edges, i) ? cJSON_GetArrayItem(edges, i)->valuedouble
							       : NAN);
			fputs("&ndash;", f);
			number(f, cJSON_GetArrayItem(edges, i + 1) ? cJSON_GetArrayItem(edges, i + 1)->valuedouble
								   : NAN);
		}
		fputs("</text>", f);
	}
	if (shown < n)
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%d more not shown</text>",
			W - 8, TOP + 8, n - shown);
	fputs("</svg>", f);
}

static void stat_row(FILE *f, const char *name, double stat, double p)
{
	fputs("<tr><td>", f);
	esc(f, name);
	fputs("</td><td>", f);
	number(f, stat);
	fputs("</td><td>", f);
	number(f, p);
	fputs("</td></tr>", f);
}

static void tests_table(FILE *f, const cJSON *tests)
{
	const cJSON *t;
	if (!cJSON_IsObject(tests))
		return;
	fputs("<table><thead><tr><th>test</th><th>statistic</th><th>p-value</th></tr></thead><tbody>", f);
	cJSON_ArrayForEach(t, tests) {
		if (cJSON_IsNumber(t)) {
			stat_row(f, t->string, t->valuedouble, NAN);
		} else if (!strcmp(t->string, "wasserstein")) {
			stat_row(f, "wasserstein (normalised)", num_of(t, "normalised"), NAN);
		} else if (!strcmp(t->string, "values")) {
			const cJSON *u;
			cJSON_ArrayForEach(u, t) {
				char label[64];
				snprintf(label, sizeof(label), "%s (values)", u->string);
				stat_row(f, label, cJSON_IsNumber(u) ? u->valuedouble : num_of(u, "statistic"),
					 cJSON_IsNumber(u) ? NAN : num_of(u, "pvalue"));
			}
		} else {
			stat_row(f, t->string, num_of(t, "statistic"), num_of(t, "pvalue"));
		}
	}
	fputs("</tbody></table>", f);
}

static void summary_pair(FILE *f, const cJSON *col)
{
	static const char *const keys[] = { "count", "missing_rate", "mean", "std", "min", "max", NULL };
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(col, "baseline");
	const cJSON *c = cJSON_GetObjectItemCaseSensitive(col, "current");
	fputs("<table><thead><tr><th></th><th>baseline</th><th>current</th></tr></thead><tbody>", f);
	for (size_t i = 0; keys[i]; i++) {
		if (!cJSON_GetObjectItemCaseSensitive(b, keys[i]))
			continue;
		fprintf(f, "<tr><td>%s</td><td>", keys[i]);
		number(f, num_of(b, keys[i]));
		fputs("</td><td>", f);
		number(f, num_of(c, keys[i]));
		fputs("</td></tr>", f);
	}
	fputs("</tbody></table>", f);
}

static void column_section(FILE *f, const cJSON *col, const char *label)
{
	const char *status = str_of(col, "status");
	int drift = is_true(col, "drift");
	const cJSON *unseen = cJSON_GetObjectItemCaseSensitive(col, "unseen"), *u;
	fprintf(f, "<section class=\"%s\"><h2>", drift ? "drift" : "ok");
	if (label) {
		esc(f, label);
		fputs(": ", f);
	}
	esc(f, str_of(col, "name"));
	fputs("<span class=\"badge kind\">", f);
	esc(f, str_of(col, "type"));
	fputs("</span>", f);
	badge(f, drift, drift ? "drift" : status && strcmp(status, "ok") ? status : "no drift");
	fputs("</h2><p class=\"meta\">", f);
	if (str_of(col, "test")) {
		fputs("test ", f);
		esc(f, str_of(col, "test"));
		fputs(": ", f);
		number(f, num_of(col, "score"));
		fputs(is_true(col, "drift") ? " past " : " within ", f);
		number(f, num_of(col, "threshold"));
	} else if (status) {
		fputs("status: ", f);
		esc(f, status);
	}
	if (status && !strcmp(status, "type_changed")) {
		fputs("; now ", f);
		esc(f, str_of(col, "current_type"));
	}
	fputs("</p><div class=\"cols\"><div>", f);
	chart(f, col);
	fputs("<div class=\"legend meta\"><span class=\"base\" style=\"background:#54aeff\"></span>"
	      "baseline<span class=\"cur\" style=\"background:#fb8f44\"></span>current</div></div><div>", f);
	tests_table(f, cJSON_GetObjectItemCaseSensitive(col, "tests"));
	summary_pair(f, col);
	if (cJSON_GetArraySize(unseen) > 0) {
		fputs("<p>unseen categories: ", f);
		int first = 1;
		cJSON_ArrayForEach(u, unseen) {
			if (!first)
				fputs(", ", f);
			first = 0;
			esc(f, str_of(u, "value"));
			fputs(" (", f);
			number(f, num_of(u, "count"));
			fputs(")", f);
		}
		fputs("</p>", f);
	}
	fputs("</div></div></section>\n", f);
}

static void list_strings(FILE *f, const cJSON *arr)
{
	const cJSON *v;
	int first = 1;
	cJSON_ArrayForEach(v, arr) {
		if (!first)
			fputs(", ", f);
		first = 0;
		if (cJSON_IsString(v))
			esc(f, v->valuestring);
		else
			esc(f, str_of(v, "column"));
	}
	if (first)
		fputs("none", f);
}

/* 1 when the headline metric's drop passed the threshold. */
static int past_threshold(const cJSON *q)
{
	double drop = num_of(q, "relative_drop");
	return isfinite(drop) && drop > num_of(q, "threshold");
}

/*
 * The headline metric's drop with its standard error, interval and
 * p-value; without a relative drop, why it was not compared (the test
 * then only when it has a drop).
 */
static void quality_drop(FILE *f, const cJSON *q)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(q, "test");
	const cJSON *head = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(q, "metrics"), str_of(q, "headline"));
	double drop = num_of(q, "relative_drop");
	fputs("<p class=\"quality-test\">", f);
	esc(f, str_of(q, "headline"));
	if (!isfinite(drop)) {
		fputs(" not compared: ", f);
		if (!isfinite(num_of(head, "training")))
			fputs("the model has no training value (none measured on validation rows)", f);
		else if (!isfinite(num_of(head, "current")))
			fputs("no current value", f);
		else
			fputs("its training value is 0, so a relative drop has no meaning", f);
		if (!isfinite(num_of(t, "drop")))
			t = NULL;
	} else {
		fprintf(f, " %s by ", drop < 0 ? "better" : "worse");
		number(f, 100 * fabs(drop));
		fputs("% (threshold ", f);
		number(f, 100 * num_of(q, "threshold"));
		fputs("% worse)", f);
	}
	if (cJSON_IsObject(t)) {
		fputs(": drop ", f);
		number(f, num_of(t, "drop"));
		fputs(", standard error ", f);
		number(f, num_of(t, "standard_error"));
		fputs(", ", f);
		number(f, 100 * num_of(t, "ci_level"));
		fputs("% CI ", f);
		number(f, num_of(t, "ci_low"));
		fputs(" to ", f);
		number(f, num_of(t, "ci_high"));
		fputs("; one-sided p = ", f);
		number(f, num_of(t, "pvalue"));
		fputs(" (", f);
		esc(f, str_of(t, "method"));
		fputs(" test, ", f);
		number(f, num_of(t, "training_rows"));
		fputs(" validation rows, ", f);
		number(f, num_of(t, "current_rows"));
		fputs(" current; significant below ", f);
		number(f, num_of(t, "significance"));
		fputs(")", f);
	}
	fputs("</p>", f);
}

static void quality_table(FILE *f, const cJSON *q)
{
	const cJSON *ms = cJSON_GetObjectItemCaseSensitive(q, "metrics"), *m;
	int degraded = is_true(q, "degraded");
	fputs("<h2>Quality on labels '", f);
	esc(f, str_of(q, "target"));
	fputs("'", f);
	badge(f, degraded, degraded ? "degraded" : past_threshold(q) ? "not significant"
					 : !isfinite(num_of(q, "relative_drop")) ? "not compared"
										   : "within threshold");
	fputs("</h2><table><thead><tr><th>metric</th><th>training</th><th>current</th><th>change"
	      "</th></tr></thead><tbody>", f);
	cJSON_ArrayForEach(m, ms) {
		fputs("<tr><td>", f);
		esc(f, m->string);
		fputs("</td><td>", f);
		number(f, num_of(m, "training"));
		fputs("</td><td>", f);
		number(f, num_of(m, "current"));
		fputs("</td><td>", f);
		number(f, num_of(m, "change"));
		fputs("</td></tr>", f);
	}
	fputs("</tbody></table>", f);
	quality_drop(f, q);
}

int mlops_monitor_html(char **out, const struct cJSON *report, const char *title)
{
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(report, "columns"), *col;
	const cJSON *pred = cJSON_GetObjectItemCaseSensitive(report, "predictions");
	const cJSON *target = cJSON_GetObjectItemCaseSensitive(report, "target");
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(report, "schema");
	const cJSON *quality = cJSON_GetObjectItemCaseSensitive(report, "quality");
	const cJSON *src = cJSON_GetObjectItemCaseSensitive(report, "source");
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	*out = NULL;
	if (!cJSON_IsArray(cols))
		return mlops_error_set(MLOPS_EINVALID, "the report has no 'columns' array");
	if (!title)
		title = "Drift check";
	if (!(f = open_memstream(&buf, &size)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>", f);
	esc(f, title);
	fprintf(f, "</title>\n<style>%s</style>\n</head><body>\n<h1>", style);
	esc(f, title);
	const char *verdict = str_of(report, "verdict");
	badge(f, verdict && strcmp(verdict, "ok"), verdict ? verdict : "?");
	fputs("</h1>\n<p class=\"meta\">", f);
	esc(f, str_of(src, "kind"));
	fputs(" ", f);
	esc(f, str_of(src, "path"));
	fputs(": ", f);
	number(f, num_of(report, "rows"));
	fputs(" rows against a baseline of ", f);
	number(f, num_of(report, "baseline_rows"));
	fputs(" rows. ", f);
	number(f, num_of(report, "drifted_columns"));
	fputs(" of ", f);
	number(f, num_of(report, "tested_columns"));
	fputs(" columns drifted (share ", f);
	number(f, num_of(report, "share"));
	fputs(", dataset drift at ", f);
	number(f, num_of(cJSON_GetObjectItemCaseSensitive(report, "thresholds"), "share"));
	fputs(").</p>\n<p>Missing columns: ", f);
	list_strings(f, cJSON_GetObjectItemCaseSensitive(schema, "missing_columns"));
	fputs(". New columns: ", f);
	list_strings(f, cJSON_GetObjectItemCaseSensitive(schema, "new_columns"));
	fputs(". Type changes: ", f);
	list_strings(f, cJSON_GetObjectItemCaseSensitive(schema, "type_changes"));
	fputs(".</p>\n", f);
	if (cJSON_IsObject(quality))
		quality_table(f, quality);

	fputs("<div class=\"wrap\"><table><thead><tr><th>column</th><th>kind</th><th>test</th>"
	      "<th>score</th><th>threshold</th><th>drift</th></tr></thead><tbody>\n", f);
	cJSON_ArrayForEach(col, cols) {
		fputs("<tr><td>", f);
		esc(f, str_of(col, "name"));
		fputs("</td><td>", f);
		esc(f, str_of(col, "kind"));
		fputs("</td><td>", f);
		esc(f, str_of(col, "test") ? str_of(col, "test") : str_of(col, "status"));
		fputs("</td><td>", f);
		number(f, num_of(col, "score"));
		fputs("</td><td>", f);
		number(f, num_of(col, "threshold"));
		fprintf(f, "</td><td>%s</td></tr>\n", is_true(col, "drift") ? "yes" : "no");
	}
	fputs("</tbody></table></div>\n", f);

	if (cJSON_IsObject(pred))
		column_section(f, pred, "predictions");
	for (int pass = 0; pass < 2; pass++)
		cJSON_ArrayForEach(col, cols)
			if (is_true(col, "drift") == !pass)
				column_section(f, col, NULL);
	if (cJSON_IsObject(target))
		column_section(f, target, "labels");
	fputs("</body></html>\n", f);
	if (ferror(f)) {
		fclose(f);
		free(buf);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	fclose(f);
	*out = buf;
	return 0;
}
