/*
 * gc.c - `mlops gc`: delete the objects nothing needs, locally or on a
 * remote (core/maint.h).
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/maint.h"

static const char *const gc_usage[] = {
	"gc [--dry-run] [--remote NAME] [--grace DURATION]",
	NULL,
};


int cmd_gc(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "remote", required_argument, NULL, 'r' },
		{ "grace", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mlops_gc_opts go = { .grace = -1 };
	int c, err;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "nh", opts, NULL)) != -1) {
		switch (c) {
		case 'n': go.dry_run = 1; break;
		case 'r': go.remote = optarg; break;
		case 'g':
			if ((err = mlops_duration_parse(&go.grace, optarg)) < 0)
				return cmd_fail(MLOPS_EUSAGE, NULL);
			break;
		case 'h': return cmd_usage(gc_usage, 1);
		default: return cmd_usage(gc_usage, 0);
		}
	}
	if ((c = cmd_check_args(argc, argv, 0, 0, gc_usage)) >= 0)
		return c;
	struct mlops_gc_result *res;
	if (go.remote)
		mlops_warnings_live(cmd_live_warning, NULL);
	if ((err = mlops_gc(&res, g_repo, &go)) < 0)
		return cmd_fail(err, NULL);
	char hex[MLOPS_OID_HEXSZ + 1], a[32];
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "dry_run", go.dry_run);
		if (go.remote)
			cJSON_AddStringToObject(o, "remote", go.remote);
		else
			cJSON_AddNullToObject(o, "remote");
		cJSON_AddNumberToObject(o, "reachable", (double)res->reachable);
		cJSON_AddNumberToObject(o, "commits", (double)res->commits);
		cJSON_AddNumberToObject(o, "recent", (double)res->recent);
		cJSON_AddNumberToObject(o, "grace", (double)res->grace);
		cJSON_AddNumberToObject(o, "removed_objects", (double)res->nremoved);
		cJSON_AddNumberToObject(o, "removed_bytes", (double)res->removed_bytes);
		cJSON_AddNumberToObject(o, "tmp_cleaned", (double)res->tmp_cleaned);
		cJSON *arr = cJSON_AddArrayToObject(o, "removed");
		for (size_t i = 0; i < res->nremoved; i++) {
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "id", mlops_oid_fmt(hex, &res->removed[i].id));
			cJSON_AddNumberToObject(e, "size", (double)res->removed[i].size);
			if (res->removed[i].key)
				cJSON_AddStringToObject(e, "key", res->removed[i].key);
			else
				cJSON_AddNullToObject(e, "key");
			cJSON_AddItemToArray(arr, e);
		}
		mlops_gc_result_free(res);
		return cmd_print_json(o);
	}
	/* A key of its own is printed; an object in a pack is its id, then its pack's key. */
	if (go.dry_run || g_opts.verbose)
		for (size_t i = 0; i < res->nremoved; i++) {
			const char *key = res->removed[i].key;
			mlops_oid_fmt(hex, &res->removed[i].id);
			int own = !key || strncmp(key, "packs/", 6) || strstr(key, hex);
			printf("%s %s %llu%s%s%s\n", go.dry_run ? "would remove" : "removed",
			       key && own ? key : hex, (unsigned long long)res->removed[i].size,
			       own ? "" : " (", own ? "" : key, own ? "" : ")");
		}
	if (!g_opts.quiet)
		printf("%s %zu object%s (%s); kept %zu needed (locks of %zu commit%s read), "
		       "%zu within the grace period\n",
		       go.dry_run ? "would remove" : "removed", res->nremoved,
		       res->nremoved == 1 ? "" : "s", cmd_human_size(a, res->removed_bytes),
		       res->reachable, res->commits, res->commits == 1 ? "" : "s", res->recent);
	if (!g_opts.quiet && go.remote && res->tmp_cleaned > 0)
		printf("%s %zu leftover%s of interrupted pushes (unfinished uploads, temporary files)\n",
		       go.dry_run ? "would remove" : "removed", res->tmp_cleaned,
		       res->tmp_cleaned == 1 ? "" : "s");
	mlops_gc_result_free(res);
	return 0;
}
