/*
 * bundle.c - `mlops export` and `mlops import`: a version with everything
 * it needs in one .tar.gz (core/bundle.h).
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bundle.h"
#include "store/json.h"

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
	return cmd_check_args(argc, argv, nargs, nargs, usage);
}

static cJSON *to_json(const struct mlops_bundle_result *res, const char *file)
{
	char hex[MLOPS_OID_HEXSZ + 1];
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
	return o;
}

/*
 * The report goes to out: stderr when the bundle itself goes to stdout.
 * The text names file "-" as the stream it is.
 */
static int print(FILE *out, const struct mlops_bundle_result *res, const char *verb, const char *file,
		 const char *stream)
{
	const char *shown = strcmp(file, "-") ? file : stream;
	char hex[MLOPS_OID_HEXSZ + 1], a[32];
	if (g_opts.json && out == stdout)
		return cmd_print_json(to_json(res, file));
	if (g_opts.json) {
		cJSON *o = to_json(res, file);
		char *text = o ? mlops_json_print(o, 1) : NULL;
		cJSON_Delete(o);
		if (!text)
			return cmd_die(MLOPS_EXIT_FAILURE, "out of memory");
		fprintf(out, "%s\n", text);
		free(text);
		return 0;
	}
	if (g_opts.quiet)
		return 0;
	fprintf(out, "%s %s: %zu object%s, %s\n", verb, shown, res->objects, res->objects == 1 ? "" : "s",
		cmd_human_size(a, res->bytes));
	for (size_t i = 0; i < res->nrefs; i++) {
		if (strcmp(res->refs[i].name, res->refs[i].new_name))
			fprintf(out, "  %s -> %s (%s)\n", res->refs[i].name, res->refs[i].new_name,
				res->refs[i].existed ? "here already under that number" :
				"renumbered: the number was taken");
		else
			fprintf(out, "  %s %.12s\n", res->refs[i].name, mlops_oid_fmt(hex, &res->refs[i].id));
	}
	return 0;
}

int cmd_export(int argc, char **argv)
{
	int rc = parse(argc, argv, export_usage, 2);
	if (rc >= 0)
		return rc;
	struct mlops_bundle_result *res;
	const char *file = argv[optind + 1];
	int to_stdout = !strcmp(file, "-");
	if (to_stdout && isatty(STDOUT_FILENO))
		return cmd_die(MLOPS_EXIT_USAGE, "refusing to write a bundle to a terminal: "
			       "redirect standard output or name a file");
	int err = mlops_bundle_export(&res, g_repo, argv[optind], file);
	if (err < 0)
		return cmd_fail(err, NULL);
	rc = print(to_stdout ? stderr : stdout, res, "exported to", file, "standard output");
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
	rc = print(stdout, res, "imported", argv[optind], "standard input");
	mlops_bundle_result_free(res);
	return rc;
}
