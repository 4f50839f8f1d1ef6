/*
 * fsck.c - `mlops fsck`: check every object's hash, every pack, and that
 * everything the refs need is there (core/maint.h).  Exit 1 on a fault.
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/maint.h"

static const char *const fsck_usage[] = { "fsck [--remote NAME] [-j N]", NULL };


int cmd_fsck(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "remote", required_argument, NULL, 'r' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *remote = NULL;
	int c, jobs = 0;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': remote = optarg; break;
		case 'j':
			jobs = atoi(optarg);
			if (jobs < 1 || jobs > 64)
				return cmd_die(MLOPS_EXIT_USAGE, "-j needs a number from 1 to 64");
			break;
		case 'h': return cmd_usage(fsck_usage, 1);
		default: return cmd_usage(fsck_usage, 0);
		}
	}
	if ((c = cmd_check_args(argc, argv, 0, 0, fsck_usage)) >= 0)
		return c;
	struct mlops_fsck_result *res;
	if (remote)
		mlops_warnings_live(cmd_live_warning, NULL);
	int err = mlops_fsck(&res, g_repo, remote, jobs);
	if (err < 0)
		return cmd_fail(err, NULL);
	char hex[MLOPS_OID_HEXSZ + 1];
	int status = res->nfaults ? MLOPS_EXIT_CHECK : 0;
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		if (remote)
			cJSON_AddStringToObject(o, "remote", remote);
		else
			cJSON_AddNullToObject(o, "remote");
		cJSON_AddNumberToObject(o, "objects", (double)res->objects);
		cJSON_AddNumberToObject(o, "packs", (double)res->packs);
		cJSON_AddNumberToObject(o, "refs", (double)res->refs);
		cJSON_AddNumberToObject(o, "reachable", (double)res->reachable);
		cJSON *arr = cJSON_AddArrayToObject(o, "faults");
		for (size_t i = 0; i < res->nfaults; i++) {
			cJSON *e = cJSON_CreateObject();
			if (res->faults[i].ref) {
				cJSON_AddStringToObject(e, "ref", res->faults[i].ref);
				cJSON_AddStringToObject(e, "problem", "damaged-ref");
			} else {
				cJSON_AddStringToObject(e, "id", mlops_oid_fmt(hex, &res->faults[i].id));
				cJSON_AddStringToObject(e, "problem", res->faults[i].code == MLOPS_ENOTFOUND ?
						       "missing" : "corrupt");
			}
			cJSON_AddStringToObject(e, "message", res->faults[i].message);
			cJSON_AddItemToArray(arr, e);
		}
		mlops_fsck_result_free(res);
		cmd_print_json(o);
		return status;
	}
	for (size_t i = 0; i < res->nfaults; i++) {
		if (res->faults[i].ref)
			printf("damaged-ref %s: %s\n", res->faults[i].ref, res->faults[i].message);
		else
			printf("%s %s: %s\n", res->faults[i].code == MLOPS_ENOTFOUND ? "missing" : "corrupt",
			       mlops_oid_fmt(hex, &res->faults[i].id), res->faults[i].message);
	}
	if (!g_opts.quiet)
		fprintf(res->nfaults ? stderr : stdout,
			"%zu object%s checked%s%s, %zu ref%s, %zu reachable: %zu fault%s\n",
			res->objects, res->objects == 1 ? "" : "s", remote ? " on remote " : "",
			remote ? remote : "", res->refs, res->refs == 1 ? "" : "s", res->reachable,
			res->nfaults, res->nfaults == 1 ? "" : "s");
	mlops_fsck_result_free(res);
	return status;
}
