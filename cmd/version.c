/*
 * version.c - `mlops version` and `mlops --version`.
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <string.h>

int cmd_version(int argc, char **argv)
{
	static const char *const usage[] = { "version", NULL };
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return cmd_usage(usage, 1);
	if (argc > 1 && strcmp(argv[0], "--version"))
		return cmd_usage_error(usage, "unexpected argument '%s'", argv[1]);
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "version", MLOPS_VERSION);
		return cmd_print_json(o);
	}
	printf("mlops version %s\n", MLOPS_VERSION);
	return 0;
}
