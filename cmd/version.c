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
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	/* `mlops --version` is called with that one argument, and takes no other. */
	if (!strcmp(argv[0], "--version"))
		argc = 1;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cmd_usage(usage, c == 'h');
	if ((c = cmd_check_args(argc, argv, 0, 0, usage)) >= 0)
		return c;
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "version", MLOPS_VERSION);
		return cmd_print_json(o);
	}
	printf("mlops version %s\n", MLOPS_VERSION);
	return 0;
}
