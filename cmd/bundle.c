/*
 * bundle.c - `mlops export` and `mlops import`: a version with everything
 * it needs in one .tar.gz (core/bundle.h).
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/bundle.h"

static const char *const export_usage[] = { "export REV FILE", NULL };
static const char *const import_usage[] = { "import FILE", NULL };

static int parse(int argc, char **argv, const char *const *usage, int nargs)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cmd_usage(usage, c == 'h');
	return argc - optind != nargs ? cmd_usage(usage, 0) : -1;
}

static int print(const struct mlops_bundle_result *res, const char *verb, const char *file)
{
	char hex[MLOPS_OID_HEXSZ + 1], a[32];
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "file", file);
		cJSON_AddNumberToObject(o, "objects", (double)res->objects);
		cJSON_AddNumberToObject(o, "objects_added", (double)res->added);
		cJSON_AddNumberToObject(o, "bytes", (double)res->bytes);
		cJSON *arr = cJSON_AddArrayToObject(o, "refs");
		for (size_t i = 0; i < res->nrefs; i++) {
			cJSON *r = cJSON_CreateObject();
			cJSON_AddStringToObject(r, "name", res->refs[i].name);
			cJSON_AddStringToObject(r, "new_name", res->refs[i].new_name);
			cJSON_AddStringToObject(r, "id", mlops_oid_fmt(hex, &res->refs[i].id));
			cJSON_AddItemToArray(arr, r);
		}
		return cmd_print_json(o);
	}
	if (g_opts.quiet)
		return 0;
	printf("%s %s: %zu object%s, %s\n", verb, file, res->objects, res->objects == 1 ? "" : "s",
	       cmd_human_size(a, res->bytes));
	for (size_t i = 0; i < res->nrefs; i++) {
		if (strcmp(res->refs[i].name, res->refs[i].new_name))
			printf("  %s -> %s (%s)\n", res->refs[i].name, res->refs[i].new_name,
			       res->refs[i].existed ? "here already under that number" :
			       "renumbered: the number was taken");
		else
			printf("  %s %.12s\n", res->refs[i].name, mlops_oid_fmt(hex, &res->refs[i].id));
	}
	return 0;
}

int cmd_export(int argc, char **argv)
{
	int rc = parse(argc, argv, export_usage, 2);
	if (rc >= 0)
		return rc;
	struct mlops_bundle_result *res;
	int err = mlops_bundle_export(&res, g_repo, argv[optind], argv[optind + 1]);
	if (err < 0)
		return cmd_fail(err, NULL);
	rc = print(res, "exported to", argv[optind + 1]);
	mlops_bundle_result_free(res);
	return rc;
}

int cmd_import(int argc, char **argv)
{
	int rc = parse(argc, argv, import_usage, 1);
	if (rc >= 0)
		return rc;
	struct mlops_bundle_result *res;
	int err = mlops_bundle_import(&res, g_repo, argv[optind]);
	if (err < 0)
		return cmd_fail(err, "nothing was imported");
	rc = print(res, "imported", argv[optind]);
	mlops_bundle_result_free(res);
	return rc;
}
