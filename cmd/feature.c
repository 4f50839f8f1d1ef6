/*
 * feature.c - `mlops feature`: add, list, log, show, materialize, get, join.
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/feature.h"
#include "store/json.h"
#include "store/refs.h"
#include "store/repo.h"

/*
 * Parse a subcommand that takes only -h and between min and max positional
 * arguments.  Returns -1 to go on, else the exit status to return.
 */
static int simple_args(int argc, char **argv, const char *const *usage, int min, int max)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cmd_usage(usage, c == 'h');
	return cmd_check_args(argc, argv, min, max, usage);
}

static const char *short_id(const cJSON *o, const char *key)
{
	const char *s = mlops_json_str(o, key);
	return s ? s : "";
}

/* ---- add ------------------------------------------------------------------ */

static const char *const add_usage[] = { "feature add SPEC", NULL };

static int feature_add(int argc, char **argv)
{
	int rc = simple_args(argc, argv, add_usage, 1, 1);
	if (rc >= 0)
		return rc;
	cJSON *rec;
	mlops_oid id;
	long version;
	int created;
	int err = mlops_feature_add(&rec, &id, &version, &created, g_repo, argv[optind]);
	if (err < 0)
		return cmd_fail(err, err == MLOPS_EINVALID ? "see 'mlops help feature' for the spec format" : NULL);
	char hex[MLOPS_OID_HEXSZ + 1];
	const char *name = mlops_json_str(rec, "name");
	mlops_oid_fmt(hex, &id);
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddNumberToObject(o, "spec_version", (double)version);
		cJSON_AddStringToObject(o, "id", hex);
		cJSON_AddBoolToObject(o, "created", created);
		cJSON_Delete(rec);
		return cmd_print_json(o);
	}
	if (!g_opts.quiet) {
		const cJSON *feats = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rec, "spec"),
								      "features");
		if (created)
			printf("%s spec v%ld %.8s  %d feature%s\n", name, version, hex, cJSON_GetArraySize(feats),
			       cJSON_GetArraySize(feats) == 1 ? "" : "s");
		else
			printf("%s spec v%ld %.8s is up to date (no new version)\n", name, version, hex);
	}
	cJSON_Delete(rec);
	return 0;
}

/* ---- materialize ------------------------------------------------------------ */

static const char *const materialize_usage[] = { "feature materialize NAME [--source REV]", NULL };

static int feature_materialize(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "source", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mlops_feature_materialize_opts mo = { 0 };
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		if (c == 's')
			mo.source = optarg;
		else
			return cmd_usage(materialize_usage, c == 'h');
	}
	if ((c = cmd_check_args(argc, argv, 1, 1, materialize_usage)) >= 0)
		return c;
	const char *mem = getenv("MLOPS_FEATURE_SORT_MEMORY");
	if (mem && *mem) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(mem, &end, 10);
		if (!(*mem >= '0' && *mem <= '9') || *end || errno || v == 0 || v > SIZE_MAX) {
			mlops_error_set(MLOPS_EUSAGE, "MLOPS_FEATURE_SORT_MEMORY: '%s' is not a number of bytes "
					"(digits, above 0)", mem);
			return cmd_fail(MLOPS_EUSAGE, NULL);
		}
		mo.sort_memory = (size_t)v;
	}
	cJSON *rec;
	mlops_oid id;
	int created;
	int err = mlops_feature_materialize(&rec, &id, &created, g_repo, argv[optind], &mo);
	if (err < 0)
		return cmd_fail(err, NULL);
	char hex[MLOPS_OID_HEXSZ + 1];
	mlops_oid_fmt(hex, &id);
	const char *name = mlops_json_str(rec, "name");
	long version = (long)mlops_json_num(rec, "version", 0);
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddNumberToObject(o, "version", (double)version);
		cJSON_AddStringToObject(o, "id", hex);
		cJSON_AddBoolToObject(o, "created", created);
		cJSON_AddNumberToObject(o, "spec_version", mlops_json_num(rec, "spec_version", 0));
		cJSON_AddStringToObject(o, "source_name", short_id(rec, "source_name"));
		cJSON_AddNumberToObject(o, "source_version", mlops_json_num(rec, "source_version", 0));
		cJSON_AddNumberToObject(o, "rows", mlops_json_num(rec, "rows", 0));
		cJSON_AddNumberToObject(o, "entities", mlops_json_num(rec, "entities", 0));
		cJSON_AddStringToObject(o, "index", short_id(rec, "index"));
		cJSON_Delete(rec);
		return cmd_print_json(o);
	}
	if (!g_opts.quiet) {
		if (created)
			printf("%s@v%ld %.8s  %.0f rows, %.0f entities from %s@v%.0f (spec v%.0f)\n", name, version,
			       hex, mlops_json_num(rec, "rows", 0), mlops_json_num(rec, "entities", 0),
			       short_id(rec, "source_name"), mlops_json_num(rec, "source_version", 0),
			       mlops_json_num(rec, "spec_version", 0));
		else
			printf("%s@v%ld %.8s is up to date (same spec and source)\n", name, version, hex);
	}
	cJSON_Delete(rec);
	return 0;
}

/* ---- list ------------------------------------------------------------------ */

static const char *const list_usage[] = { "feature list", NULL };

static int feature_list(int argc, char **argv)
{
	int rc = simple_args(argc, argv, list_usage, 0, 0);
	if (rc >= 0)
		return rc;
	char **names;
	size_t n;
	int err = mlops_feature_names(&names, &n, g_repo);
	if (err < 0)
		return cmd_fail(err, NULL);
	cJSON *arr = g_opts.json ? cJSON_CreateArray() : NULL;
	for (size_t i = 0; i < n && err == 0; i++) {
		long *sv = NULL, *vv = NULL;
		size_t sn = 0, vn = 0;
		cJSON *rec = NULL;
		mlops_oid id;
		if ((err = mlops_feature_spec_versions(&sv, &sn, g_repo, names[i])) < 0 ||
		    (err = mlops_feature_versions(&vv, &vn, g_repo, names[i])) < 0) {
			free(sv);
			break;
		}
		if (vn && (err = mlops_feature_resolve(&rec, &id, g_repo, names[i])) < 0) {
			free(sv);
			free(vv);
			break;
		}
		if (sn || vn) {
			if (arr) {
				cJSON *o = cJSON_CreateObject();
				char hex[MLOPS_OID_HEXSZ + 1];
				cJSON_AddStringToObject(o, "name", names[i]);
				cJSON_AddNumberToObject(o, "spec_version", sn ? (double)sv[sn - 1] : 0);
				if (rec) {
					cJSON_AddNumberToObject(o, "version", (double)vv[vn - 1]);
					cJSON_AddStringToObject(o, "id", mlops_oid_fmt(hex, &id));
					cJSON_AddNumberToObject(o, "rows", mlops_json_num(rec, "rows", 0));
					cJSON_AddNumberToObject(o, "entities", mlops_json_num(rec, "entities", 0));
					cJSON_AddNumberToObject(o, "time", mlops_json_num(rec, "time", 0));
				} else {
					static const char *const none[] = { "version", "id", "rows", "entities", "time" };
					for (size_t k = 0; k < sizeof(none) / sizeof(none[0]); k++)
						cJSON_AddNullToObject(o, none[k]);
				}
				cJSON_AddItemToArray(arr, o);
			} else if (rec) {
				char t[64];
				printf("%-20s spec v%-4ld v%-5ld %10.0f rows %8.0f entities  %s\n", names[i],
				       sn ? sv[sn - 1] : 0, vv[vn - 1], mlops_json_num(rec, "rows", 0),
				       mlops_json_num(rec, "entities", 0),
				       cmd_human_time(t, (long long)mlops_json_num(rec, "time", 0)));
			} else {
				printf("%-20s spec v%-4ld (not materialized)\n", names[i], sn ? sv[sn - 1] : 0);
			}
		}
		cJSON_Delete(rec);
		free(sv);
		free(vv);
	}
	mlops_strlist_free(names, n);
	if (err < 0) {
		cJSON_Delete(arr);
		return cmd_fail(err, NULL);
	}
	return arr ? cmd_print_json(arr) : 0;
}

/* ---- log ------------------------------------------------------------------- */

static const char *const log_usage[] = { "feature log NAME", NULL };

static int feature_log(int argc, char **argv)
{
	int rc = simple_args(argc, argv, log_usage, 1, 1);
	if (rc >= 0)
		return rc;
	const char *name = argv[optind];
	long *sv = NULL, *vv = NULL;
	size_t sn = 0, vn = 0;
	int err;
	if ((err = mlops_feature_spec_versions(&sv, &sn, g_repo, name)) < 0 ||
	    (err = mlops_feature_versions(&vv, &vn, g_repo, name)) < 0) {
		free(sv);
		return cmd_fail(err, NULL);
	}
	if (sn == 0 && vn == 0) {
		free(sv);
		free(vv);
		mlops_error_set(MLOPS_ENOTFOUND, "feature set '%s' not found", name);
		return cmd_fail(MLOPS_ENOTFOUND, "'mlops feature list' shows the feature sets");
	}
	cJSON *versions = cJSON_CreateArray(), *specs = cJSON_CreateArray();
	for (size_t i = vn; i-- > 0 && err == 0;) {
		char rev[200], hex[MLOPS_OID_HEXSZ + 1], t[64];
		cJSON *rec;
		mlops_oid id;
		snprintf(rev, sizeof(rev), "%s@v%ld", name, vv[i]);
		if ((err = mlops_feature_resolve(&rec, &id, g_repo, rev)) < 0)
			break;
		mlops_oid_fmt(hex, &id);
		if (g_opts.json) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "version", (double)vv[i]);
			cJSON_AddStringToObject(o, "id", hex);
			cJSON_AddNumberToObject(o, "spec_version", mlops_json_num(rec, "spec_version", 0));
			cJSON_AddStringToObject(o, "source_name", short_id(rec, "source_name"));
			cJSON_AddNumberToObject(o, "source_version", mlops_json_num(rec, "source_version", 0));
			cJSON_AddNumberToObject(o, "rows", mlops_json_num(rec, "rows", 0));
			cJSON_AddNumberToObject(o, "entities", mlops_json_num(rec, "entities", 0));
			cJSON_AddNumberToObject(o, "time", mlops_json_num(rec, "time", 0));
			cJSON_AddStringToObject(o, "author", short_id(rec, "author"));
			cJSON_AddItemToArray(versions, o);
		} else {
			printf("%sversion v%ld%s %s\n", cmd_color("yellow"), vv[i], cmd_color("reset"), hex);
			printf("Author: %s\nDate:   %s\n", short_id(rec, "author"),
			       cmd_human_time(t, (long long)mlops_json_num(rec, "time", 0)));
			printf("From:   spec v%.0f, %s@v%.0f (%s)\nRows:   %.0f rows, %.0f entities\n\n",
			       mlops_json_num(rec, "spec_version", 0), short_id(rec, "source_name"),
			       mlops_json_num(rec, "source_version", 0), short_id(rec, "source_file"),
			       mlops_json_num(rec, "rows", 0), mlops_json_num(rec, "entities", 0));
		}
		cJSON_Delete(rec);
	}
	for (size_t i = sn; i-- > 0 && err == 0;) {
		char rev[200], hex[MLOPS_OID_HEXSZ + 1], t[64];
		cJSON *rec;
		mlops_oid id;
		snprintf(rev, sizeof(rev), "%s@v%ld", name, sv[i]);
		if ((err = mlops_feature_spec_resolve(&rec, &id, g_repo, rev)) < 0)
			break;
		mlops_oid_fmt(hex, &id);
		const cJSON *spec = cJSON_GetObjectItemCaseSensitive(rec, "spec");
		if (g_opts.json) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "spec_version", (double)sv[i]);
			cJSON_AddStringToObject(o, "id", hex);
			cJSON_AddNumberToObject(o, "time", mlops_json_num(rec, "time", 0));
			cJSON_AddStringToObject(o, "author", short_id(rec, "author"));
			cJSON_AddNumberToObject(o, "features",
						cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(spec, "features")));
			cJSON_AddItemToArray(specs, o);
		} else {
			printf("%sspec v%ld%s %s\n", cmd_color("yellow"), sv[i], cmd_color("reset"), hex);
			printf("Author: %s\nDate:   %s\nSource: %s\n\n", short_id(rec, "author"),
			       cmd_human_time(t, (long long)mlops_json_num(rec, "time", 0)), short_id(spec, "source"));
		}
		cJSON_Delete(rec);
	}
	free(sv);
	free(vv);
	if (err < 0) {
		cJSON_Delete(versions);
		cJSON_Delete(specs);
		return cmd_fail(err, NULL);
	}
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", name);
		cJSON_AddItemToObject(o, "versions", versions);
		cJSON_AddItemToObject(o, "specs", specs);
		return cmd_print_json(o);
	}
	cJSON_Delete(versions);
	cJSON_Delete(specs);
	return 0;
}

/* ---- show ------------------------------------------------------------------ */

static const char *const show_usage[] = { "feature show REV", NULL };

static void print_feature_params(const cJSON *f)
{
	const cJSON *c;
	printf("  %-22s %-12s %-14s", short_id(f, "name"), short_id(f, "transform"),
	       mlops_json_str(f, "column") ? mlops_json_str(f, "column") : "-");
	cJSON_ArrayForEach(c, f) {
		if (!strcmp(c->string, "name") || !strcmp(c->string, "transform") || !strcmp(c->string, "column"))
			continue;
		char *v = mlops_json_print(c, 0);
		if (v && strlen(v) > 60)
			strcpy(v + 56, "...");
		printf(" %s=%s", c->string, v ? v : "?");
		free(v);
	}
	printf("\n");
}

static int feature_show(int argc, char **argv)
{
	int rc = simple_args(argc, argv, show_usage, 1, 1);
	if (rc >= 0)
		return rc;
	const char *rev = argv[optind];
	cJSON *rec = NULL;
	mlops_oid id;
	char hex[MLOPS_OID_HEXSZ + 1], t[64];
	int err = mlops_feature_resolve(&rec, &id, g_repo, rev);
	if (err == MLOPS_ENOTFOUND && !strchr(rev, '@')) {
		/* Not materialised yet: show the newest spec. */
		cJSON *spec;
		mlops_error_clear();
		if (mlops_feature_spec_resolve(&spec, &id, g_repo, rev) == 0) {
			if (g_opts.json) {
				cJSON_AddStringToObject(spec, "id", mlops_oid_fmt(hex, &id));
				return cmd_print_json(spec);
			}
			char *text = mlops_json_print(cJSON_GetObjectItemCaseSensitive(spec, "spec"), 1);
			printf("feature set %s (spec v%.0f, not materialized)\nid:      %s\nauthor:  %s\ndate:    %s\n%s\n",
			       short_id(spec, "name"), mlops_json_num(spec, "version", 0), mlops_oid_fmt(hex, &id),
			       short_id(spec, "author"), cmd_human_time(t, (long long)mlops_json_num(spec, "time", 0)),
			       text ? text : "");
			free(text);
			cJSON_Delete(spec);
			return 0;
		}
		err = mlops_feature_resolve(&rec, &id, g_repo, rev);
	}
	if (err < 0)
		return cmd_fail(err, NULL);
	mlops_oid_fmt(hex, &id);
	if (g_opts.json) {
		cJSON_AddStringToObject(rec, "id", hex);
		return cmd_print_json(rec);
	}
	printf("feature set %s@v%.0f\n", short_id(rec, "name"), mlops_json_num(rec, "version", 0));
	printf("id:      %s\n", hex);
	printf("author:  %s\n", short_id(rec, "author"));
	printf("date:    %s\n", cmd_human_time(t, (long long)mlops_json_num(rec, "time", 0)));
	printf("spec:    v%.0f %.12s\n", mlops_json_num(rec, "spec_version", 0), short_id(rec, "spec"));
	printf("source:  %s@v%.0f %s (%.12s)\n", short_id(rec, "source_name"), mlops_json_num(rec, "source_version", 0),
	       short_id(rec, "source_file"), short_id(rec, "source"));
	printf("table:   %.0f rows, %.0f entities, index %.12s\n", mlops_json_num(rec, "rows", 0),
	       mlops_json_num(rec, "entities", 0), short_id(rec, "index"));
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(rec, "params");
	const cJSON *ent = cJSON_GetObjectItemCaseSensitive(params, "entity"), *e;
	printf("entity:  ");
	cJSON_ArrayForEach(e, ent)
		printf("%s%s", e->valuestring, e->next ? ", " : "");
	printf("\ntime:    %s", short_id(params, "timestamp"));
	if (mlops_json_str(params, "created"))
		printf(" (ties: %s)", mlops_json_str(params, "created"));
	double ttl = mlops_json_num(params, "ttl_ms", 0);
	if (ttl > 0)
		printf(", ttl %.0f s", ttl / 1000);
	printf("\n\nfeatures (fitted parameters):\n");
	const cJSON *f;
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(params, "features"))
		print_feature_params(f);
	printf("\nstatistics:\n  %-24s %-11s %9s %8s %12s %12s %12s %12s\n", "column", "type", "count", "missing",
	       "mean", "std", "min", "max");
	const cJSON *col;
	cJSON_ArrayForEach(col, cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rec, "stats"),
								 "columns")) {
		char v[4][32];
		const char *keys[4] = { "mean", "std", "min", "max" };
		for (int k = 0; k < 4; k++) {
			const cJSON *x = cJSON_GetObjectItemCaseSensitive(col, keys[k]);
			if (cJSON_IsNumber(x))
				snprintf(v[k], sizeof(v[k]), "%.6g", x->valuedouble);
			else if (cJSON_IsString(x))
				snprintf(v[k], sizeof(v[k]), "%.12s", x->valuestring);
			else
				snprintf(v[k], sizeof(v[k]), "-");
		}
		printf("  %-24s %-11s %9.0f %8.0f %12s %12s %12s %12s\n", short_id(col, "name"), short_id(col, "type"),
		       mlops_json_num(col, "count", 0), mlops_json_num(col, "missing", 0), v[0], v[1], v[2], v[3]);
	}
	cJSON_Delete(rec);
	return 0;
}

/* ---- get ------------------------------------------------------------------- */

/*
 * 1 when get prints text as a JSON number: it is written as JSON writes a
 * number (-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?) and the double it
 * reads as keeps its value: at most 15 significant digits in the range of
 * normal doubles, or exactly the shortest text that reads back as that
 * double (how the table writes computed values: 0.30000000000000004).
 * The number is then printed as the table has it, so no digit is lost to
 * a printer's precision; anything else (007, 0x1F, 12345678901234567890)
 * is a string as written.
 */
static int json_number(const char *text)
{
	const char *p = text;
	int sig = 0, lead = 1, zeros = 0;
	if (*p == '-')
		p++;
	if (!(*p >= '0' && *p <= '9') || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return 0;
	for (int frac = 0;; p++) {
		if (*p == '.' && !frac) {
			frac = 1;
			if (!(p[1] >= '0' && p[1] <= '9'))
				return 0;
			continue;
		}
		if (!(*p >= '0' && *p <= '9'))
			break;
		if (*p == '0' && lead)
			continue;
		lead = 0;
		if (*p == '0') {
			zeros++;
		} else {
			sig += zeros + 1;
			zeros = 0;
		}
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p)
		return 0;
	double d = strtod(text, NULL);
	if (!isfinite(d))
		return 0;
	if (sig <= 15 && (d == 0 || fabs(d) >= DBL_MIN))
		return 1;
	char buf[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	return !strcmp(buf, text);
}

static const char *const get_usage[] = { "feature get NAME KEY... [--at TIME] [--json]", NULL };

static int feature_get(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *at_text = NULL;
	int c, rc;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'a')
			at_text = optarg;
		else if (c == 'j')
			g_opts.json = 1;
		else
			return cmd_usage(get_usage, c == 'h');
	}
	if ((c = cmd_check_args(argc, argv, 2, -1, get_usage)) >= 0)
		return c;
	int64_t at = 0;
	int err;
	if (at_text && (err = mlops_feature_parse_time(&at, at_text, strlen(at_text))) < 0)
		return cmd_fail(mlops_error_wrap(err, "--at"), NULL);
	cJSON *rec;
	mlops_oid id;
	if ((err = mlops_feature_resolve(&rec, &id, g_repo, argv[optind])) < 0)
		return cmd_fail(err, NULL);
	struct mlops_feature_row *row;
	err = mlops_feature_get(&row, g_repo, rec, (const char *const *)argv + optind + 1,
				(size_t)(argc - optind - 1), at_text != NULL, at);
	if (err < 0) {
		cJSON_Delete(rec);
		return cmd_fail(err, NULL);
	}
	char tb[48];
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", short_id(rec, "name"));
		cJSON_AddNumberToObject(o, "version", mlops_json_num(rec, "version", 0));
		cJSON *ent = cJSON_AddObjectToObject(o, "entity");
		for (size_t i = 0; i < row->nkey; i++)
			cJSON_AddStringToObject(ent, row->columns[i], row->values[i]);
		cJSON_AddBoolToObject(o, "found", row->found);
		if (at_text)
			cJSON_AddStringToObject(o, "at", mlops_feature_format_time(tb, at));
		else
			cJSON_AddNullToObject(o, "at");
		if (row->found)
			cJSON_AddStringToObject(o, "time", mlops_feature_format_time(tb, row->time));
		else
			cJSON_AddNullToObject(o, "time");
		cJSON *vals = cJSON_AddObjectToObject(o, "values");
		for (size_t i = row->first_output; i < row->ncolumns; i++) {
			const char *v = row->values[i];
			if (!row->found || !*v)
				cJSON_AddNullToObject(vals, row->columns[i]);
			else if (json_number(v))
				cJSON_AddRawToObject(vals, row->columns[i], v);
			else
				cJSON_AddStringToObject(vals, row->columns[i], v);
		}
		int found = row->found;
		mlops_feature_row_free(row);
		cJSON_Delete(rec);
		rc = cmd_print_json(o);
		return rc ? rc : found ? 0 : MLOPS_EXIT_NOTFOUND;
	}
	if (!row->found) {
		fprintf(stderr, "mlops: %s@v%.0f: entity '%s' has no value at %s%s\n", short_id(rec, "name"),
			mlops_json_num(rec, "version", 0), row->values[0], mlops_feature_format_time(tb, at),
			mlops_json_num(cJSON_GetObjectItemCaseSensitive(rec, "params"), "ttl_ms", 0) > 0 ?
			" (none at or before it within the TTL)" : " (none at or before it)");
	} else {
		for (size_t i = 0; i < row->ncolumns; i++)
			printf("%-24s %s\n", row->columns[i], row->values[i]);
	}
	int found = row->found;
	mlops_feature_row_free(row);
	cJSON_Delete(rec);
	return found ? 0 : MLOPS_EXIT_NOTFOUND;
}

/* ---- join ------------------------------------------------------------------ */

static const char *const join_usage[] = {
	"feature join NAME[@REV]... --entities FILE --out FILE [--timestamp COL]",
	NULL,
};

static int feature_join(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "entities", required_argument, NULL, 'e' },
		{ "out", required_argument, NULL, 'o' },
		{ "timestamp", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mlops_feature_join_opts jo = { 0 };
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "e:o:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'e': jo.entities = optarg; break;
		case 'o': jo.out = optarg; break;
		case 't': jo.time_column = optarg; break;
		case 'h': return cmd_usage(join_usage, 1);
		default: return cmd_usage(join_usage, 0);
		}
	}
	if ((c = cmd_check_args(argc, argv, 1, -1, join_usage)) >= 0)
		return c;
	if (!jo.entities || !jo.out)
		return cmd_usage_error(join_usage, "--entities and --out are required");
	jo.revs = (const char *const *)argv + optind;
	jo.nrevs = (size_t)(argc - optind);
	cJSON *man;
	int err = mlops_feature_join(&man, g_repo, &jo);
	if (err < 0)
		return cmd_fail(err, NULL);
	if (g_opts.json)
		return cmd_print_json(man);
	if (!g_opts.quiet)
		printf("%s: %.0f rows, %d columns (manifest %s.manifest.json, %.12s)\n", jo.out,
		       mlops_json_num(man, "rows", 0),
		       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(man, "output"),
									    "columns")),
		       jo.out, short_id(man, "id"));
	cJSON_Delete(man);
	return 0;
}

/* ---- dispatch --------------------------------------------------------------- */

static const struct subcmd subs[] = {
	{ "add", feature_add, "add SPEC", 0 },
	{ "get", feature_get, "get NAME KEY... [--at TIME] [--json]", 0 },
	{ "join", feature_join, "join NAME[@REV]... --entities FILE --out FILE [--timestamp COL]", 0 },
	{ "list", feature_list, "list", 0 },
	{ "log", feature_log, "log NAME", 0 },
	{ "materialize", feature_materialize, "materialize NAME [--source REV]", 0 },
	{ "show", feature_show, "show REV", 0 },
};

int cmd_feature(int argc, char **argv)
{
	return cmd_dispatch(argc, argv, subs, sizeof(subs) / sizeof(subs[0]), NULL);
}
