/*
 * dataset-stats.c - `mlops dataset stats REV|FILE`: exploratory analysis of
 * a table: per column type, count, missing, distinct, mean, std, min,
 * quantiles, max, top values and a histogram drawn in the terminal; --json
 * for the numbers; --html for one self-contained page with SVG plots, of
 * every table profiled (a version's tables each under its path).
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dataset.h"
#include "core/dataset_stats.h"
#include "core/statshtml.h"
#include "store/fsutil.h"
#include "store/repo.h"

static const char *const usage[] = {
	"dataset stats REV|FILE [--path PATH] [--html FILE]", NULL,
};

static void print_num(const char *label, const cJSON *col, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(col, key);
	if (cJSON_IsNumber(v))
		printf("  %s %.6g", label, v->valuedouble);
	else if (cJSON_IsString(v))
		printf("  %s %s", label, v->valuestring);
}

static void sparkline(const cJSON *hist)
{
	static const char *const bars[] = { " ", "\u2581", "\u2582", "\u2583", "\u2584",
					    "\u2585", "\u2586", "\u2587", "\u2588" };
	const cJSON *counts = cJSON_GetObjectItemCaseSensitive(hist, "counts");
	const cJSON *edges = cJSON_GetObjectItemCaseSensitive(hist, "edges");
	if (!cJSON_IsArray(counts) || !cJSON_IsArray(edges))
		return;
	double max = 0;
	const cJSON *c;
	cJSON_ArrayForEach(c, counts)
		if (c->valuedouble > max)
			max = c->valuedouble;
	if (max <= 0)
		return;
	printf("  ");
	cJSON_ArrayForEach(c, counts) {
		int level = c->valuedouble <= 0 ? 0 : 1 + (int)(7.999 * c->valuedouble / max);
		fputs(bars[level > 8 ? 8 : level], stdout);
	}
	const cJSON *lo = cJSON_GetArrayItem(edges, 0);
	const cJSON *hi = cJSON_GetArrayItem(edges, cJSON_GetArraySize(edges) - 1);
	if (cJSON_IsNumber(lo) && cJSON_IsNumber(hi))
		printf("  %.4g .. %.4g", lo->valuedouble, hi->valuedouble);
	else if (cJSON_IsString(lo) && cJSON_IsString(hi))
		printf("  %s .. %s", lo->valuestring, hi->valuestring);
	putchar('\n');
}

static void print_table(const char *path, const cJSON *stats)
{
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(stats, "columns");
	fputs(cmd_color("bold"), stdout);
	cmd_print_name(stdout, path);
	printf("%s: %.0f rows, %d columns\n", cmd_color("reset"),
	       cJSON_GetObjectItemCaseSensitive(stats, "rows") ?
	       cJSON_GetObjectItemCaseSensitive(stats, "rows")->valuedouble : 0,
	       cJSON_GetArraySize(cols));
	const cJSON *col;
	cJSON_ArrayForEach(col, cols) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(col, "name"));
		const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(col, "type"));
		double count = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(col, "count"));
		double missing = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(col, "missing"));
		double distinct = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(col, "distinct"));
		int exact = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(col, "distinct_exact"));
		double total = count + missing;
		printf("\n%s", cmd_color("yellow"));
		cmd_print_name(stdout, name ? name : "?");
		printf("%s  %s\n", cmd_color("reset"), type ? type : "?");
		printf("  count %.0f  missing %.0f (%.1f%%)  distinct %s%.0f\n", count, missing,
		       total > 0 ? 100.0 * missing / total : 0.0, exact ? "" : "~", distinct);
		if (cJSON_GetObjectItemCaseSensitive(col, "mean") &&
		    !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(col, "mean"))) {
			print_num("mean", col, "mean");
			print_num("std", col, "std");
			/* A datetime's std is a duration: in seconds, as in the JSON. */
			if (type && !strcmp(type, "datetime") &&
			    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(col, "std")))
				fputs(" s", stdout);
			putchar('\n');
			print_num("min", col, "min");
			print_num("p25", col, "p25");
			print_num("p50", col, "p50");
			print_num("p75", col, "p75");
			print_num("max", col, "max");
			putchar('\n');
		}
		const cJSON *hist = cJSON_GetObjectItemCaseSensitive(col, "histogram");
		if (cJSON_GetObjectItemCaseSensitive(hist, "edges"))
			sparkline(hist);
		const cJSON *top = cJSON_GetObjectItemCaseSensitive(col, "top"), *t;
		if (cJSON_GetArraySize(top) > 0 && strcmp(type ? type : "", "float")) {
			int k = 0, lower = cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(col, "top_exact"));
			printf("  top:");
			cJSON_ArrayForEach(t, top) {
				if (k++ == 5)
					break;
				const char *val = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(t, "value"));
				putchar(' ');
				cmd_print_name(stdout, val ? val : "?");
				printf(" (%s%.0f)", lower ? ">=" : "",
				       cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "count")));
			}
			putchar('\n');
		}
	}
}

/*
 * The error for FILE naming no regular file (stat failed with stat_errno, or
 * found something else): a missing file is not found, as everywhere.
 */
static int not_a_table_file(const char *what, int stat_errno)
{
	if (stat_errno == ENOENT)
		return mlops_error_set(MLOPS_ENOTFOUND, "unable to open '%s': %s", what,
				       strerror(stat_errno));
	if (stat_errno)
		return mlops_error_sys(stat_errno, "unable to open '%s'", what);
	return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a file", what);
}

int cmd_dataset_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "html", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *only = NULL, *html = NULL;
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'p')
			only = optarg;
		else if (c == 'H')
			html = optarg;
		else
			return cmd_usage(usage, c == 'h');
	}
	if ((c = cmd_check_args(argc, argv, 1, 1, usage)) >= 0)
		return c;
	const char *what = argv[optind];
	char *version = NULL; /* NAME@vN of a profiled version, for the page's title */
	struct mlops_table_stats *tables = NULL;
	size_t n = 0;
	struct stat st;
	int err;
	int stat_errno = stat(what, &st) < 0 ? errno : 0;
	if (!stat_errno && S_ISREG(st.st_mode)) {
		tables = calloc(1, sizeof(*tables));
		if (!tables || !(tables->path = strdup(what)))
			return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
		n = 1;
		err = mlops_stats_file(&tables->stats, what);
	} else {
		struct mlops_dataset_version *v;
		/*
		 * Outside a repository a table's path that is not a file is a
		 * missing file (stats FILE works anywhere), not a missing repository.
		 */
		int path_like = strchr(what, '/') || mlops_is_table_path(what);
		if (!g_repo && (err = mlops_repo_open(&g_repo, ".")) < 0) {
			if (err == MLOPS_ENOREPO && path_like)
				return cmd_fail(not_a_table_file(what, stat_errno), NULL);
			return cmd_fail(err, err == MLOPS_ENOREPO ? "run 'mlops init' to create one" : NULL);
		}
		err = mlops_dataset_resolve(&v, g_repo, what);
		/* No version by that name: a path is reported as the file it names. */
		if (path_like && (err == MLOPS_EUSAGE || err == MLOPS_ENOTFOUND)) {
			mlops_error_clear();
			err = not_a_table_file(what, stat_errno);
		}
		if (err == 0) {
			err = mlops_stats_version(&tables, &n, g_repo, v, only);
			if (err == 0 && !(version = mlops_strdupf("%s@v%ld", v->name, v->version)))
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
			mlops_dataset_version_free(v);
		}
	}
	if (err < 0) {
		mlops_table_stats_free(tables, n);
		return cmd_fail(err, NULL);
	}
	if (html) {
		char *text = NULL, title[512];
		/*
		 * Several tables (a version's) go into the one page, each under its
		 * path: --html names one file, and a version is looked at as a whole.
		 */
		snprintf(title, sizeof(title), "%s — mlops dataset stats",
			 n == 1 ? tables[0].path : version ? version : what);
		if (n == 1) {
			err = mlops_stats_html(&text, tables[0].stats, title);
		} else {
			struct mlops_stats_html_table *t = calloc(n, sizeof(*t));
			if (!t) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
			} else {
				for (size_t i = 0; i < n; i++) {
					t[i].path = tables[i].path;
					t[i].stats = tables[i].stats;
				}
				err = mlops_stats_html_tables(&text, t, n, title);
				free(t);
			}
		}
		if (err == 0) {
			char *dir = mlops_strdupf("%s", html), *slash = dir ? strrchr(dir, '/') : NULL;
			if (slash)
				*slash = '\0';
			err = mlops_write_file_atomic(html, text, strlen(text), slash ? dir : ".", 0);
			free(dir);
		}
		free(text);
		if (err < 0) {
			mlops_table_stats_free(tables, n);
			free(version);
			return cmd_fail(err, NULL);
		}
		if (!g_opts.quiet && !g_opts.json) {
			fputs("wrote ", stderr);
			cmd_print_name(stderr, html);
			if (n > 1)
				fprintf(stderr, " (%zu tables)", n);
			fputc('\n', stderr);
		}
	}
	free(version);
	if (g_opts.json) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t i = 0; i < n; i++) {
			cJSON *o = tables[i].stats;
			tables[i].stats = NULL;
			cJSON_AddStringToObject(o, "path", tables[i].path);
			cJSON_AddItemToArray(arr, o);
		}
		mlops_table_stats_free(tables, n);
		if (n == 1) {
			cJSON *one = cJSON_DetachItemFromArray(arr, 0);
			cJSON_Delete(arr);
			return cmd_print_json(one);
		}
		return cmd_print_json(arr);
	}
	if (!html || g_opts.verbose)
		for (size_t i = 0; i < n; i++) {
			if (i)
				putchar('\n');
			print_table(tables[i].path, tables[i].stats);
		}
	mlops_table_stats_free(tables, n);
	return 0;
}
