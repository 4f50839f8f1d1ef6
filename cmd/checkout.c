/*
 * checkout.c - `mlops checkout [COMMIT]`: restore every tracked path to the
 * lock file at COMMIT (read from git, HEAD untouched), or to the work
 * tree's mlops.lock.
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "core/gitsync.h"
#include "core/lockfile.h"
#include "store/repo.h"

static const char *const usage[] = { "checkout [COMMIT] [--force]", NULL };

static const char *action_name(enum mlops_restore_action a)
{
	switch (a) {
	case MLOPS_RESTORE_WRITTEN: return "restored";
	case MLOPS_RESTORE_KEPT: return "kept (unrecorded changes)";
	case MLOPS_RESTORE_MISSING: return "missing (objects not in the local store)";
	case MLOPS_RESTORE_REMOVED: return "removed";
	default: return "unchanged";
	}
}

int cmd_print_restore(const struct mlops_restore *r, const char *what)
{
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "paths");
		for (size_t i = 0; i < r->count; i++) {
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "path", r->items[i].path);
			cJSON_AddStringToObject(e, "action",
				r->items[i].action == MLOPS_RESTORE_WRITTEN ? "restored" :
				r->items[i].action == MLOPS_RESTORE_KEPT ? "kept" :
				r->items[i].action == MLOPS_RESTORE_MISSING ? "missing" :
				r->items[i].action == MLOPS_RESTORE_REMOVED ? "removed" : "unchanged");
			cJSON_AddItemToArray(arr, e);
		}
		cJSON_AddNumberToObject(o, "restored", (double)r->written);
		cJSON_AddNumberToObject(o, "removed", (double)r->removed);
		cJSON_AddNumberToObject(o, "kept", (double)r->kept);
		cJSON_AddNumberToObject(o, "missing", (double)r->missing);
		return cmd_print_json(o);
	}
	if (g_opts.quiet)
		return 0;
	for (size_t i = 0; i < r->count; i++)
		printf("%s: %s\n", r->items[i].path, action_name(r->items[i].action));
	printf("%s: %zu restored, %zu removed, %zu kept, %zu missing\n", what, r->written, r->removed,
	       r->kept, r->missing);
	return 0;
}

/* The failure of a restore that kept or missed paths: one line and a hint on stderr. */
static int restore_failed(const struct mlops_restore *r)
{
	size_t n = r->kept + r->missing;
	const char *s = n == 1 ? "" : "s";
	fflush(stdout);
	if (r->kept && r->missing)
		cmd_die(0, "checkout: %zu paths not restored: %zu with unrecorded changes, "
			"%zu not in the local store", n, r->kept, r->missing);
	else if (r->kept)
		cmd_die(0, "checkout: %zu path%s not restored: unrecorded changes kept", n, s);
	else
		cmd_die(0, "checkout: %zu path%s not restored: objects not in the local store", n, s);
	if (r->kept)
		fputs("hint: record kept changes with 'mlops dataset add', or discard them with --force\n",
		      stderr);
	if (r->missing)
		fputs("hint: run 'mlops pull' to fetch the missing objects\n", stderr);
	return MLOPS_EXIT_CONFLICT;
}

int cmd_checkout(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, force = 0;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (c == 'f')
			force = 1;
		else
			return cmd_usage(usage, c == 'h');
	}
	if ((c = cmd_check_args(argc, argv, 0, 1, usage)) >= 0)
		return c;
	const char *rev = optind < argc ? argv[optind] : NULL;
	cJSON *lock = NULL;
	struct mlops_lockfile *lf = NULL;
	int err;
	if (rev)
		err = mlops_lock_at_commit(&lock, g_repo, rev);
	else if ((err = mlops_lockfile_load(&lf, g_repo)) == 0)
		lock = lf->root;
	if (err < 0)
		return cmd_fail(err, NULL);
	struct mlops_restore r;
	err = mlops_restore_lock(&r, g_repo, lock, NULL, force, rev != NULL);
	if (lf)
		mlops_lockfile_free(lf);
	else
		cJSON_Delete(lock);
	if (err < 0)
		return cmd_fail(err, NULL);
	cmd_print_restore(&r, rev ? rev : "mlops.lock");
	int status = r.kept || r.missing ? restore_failed(&r) : 0;
	mlops_restore_free(&r);
	return status;
}
