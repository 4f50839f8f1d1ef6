/*
 * status.c - `mlops status`: tracked paths modified or missing against
 * mlops.lock (using the stat cache), and with -v the store and the lock.
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "core/dataset.h"
#include "store/fsutil.h"
#include "store/odb.h"
#include "store/remote.h"
#include "store/refs.h"
#include "store/repo.h"

static const char *const status_usage[] = { "status [--exit-code]", NULL };

static const char *state_name(enum mlops_path_state s)
{
	return s == MLOPS_PATH_MODIFIED ? "modified" : s == MLOPS_PATH_MISSING ? "missing" :
	       s == MLOPS_PATH_OUTDATED ? "outdated" : s == MLOPS_PATH_INTERRUPTED ? "interrupted" :
	       s == MLOPS_PATH_PULLING ? "pulling" : "unchanged";
}

struct store_count {
	unsigned long long objects, bytes;
};

static int count_object(const mlops_oid *id, enum mlops_codec codec, uint64_t size, void *payload)
{
	struct store_count *c = payload;
	(void)id;
	(void)codec;
	c->objects++;
	c->bytes += size;
	return 0;
}

/*
 * Paths holding a version other than the lock's (a git pull moved the lock
 * on): a checkout brings them up to date and loses nothing.
 */
static void print_outdated(const struct mlops_path_status *st, size_t n)
{
	printf("tracked data out of date with mlops.lock (recorded in another version):\n"
	       "  (use 'mlops checkout' to update it, 'mlops pull' when the version is not stored)\n");
	for (size_t i = 0; i < n; i++) {
		if (st[i].state != MLOPS_PATH_OUTDATED)
			continue;
		printf("  %sout of date:%s %s holds ", cmd_color("yellow"), cmd_color("reset"), st[i].path);
		if (st[i].held_dataset)
			printf("%s@v%ld", st[i].held_dataset, st[i].held_version);
		else
			printf("another recorded version");
		printf(", mlops.lock says %s@v%ld (run '%s')\n", st[i].dataset, st[i].version,
		       st[i].stored ? "mlops checkout" : "mlops pull");
	}
}

/*
 * A change to record or discard: a path modified, or missing while its
 * version is in the local store.  Missing data whose version is not (a
 * fresh clone or worktree, a merge that brought a dataset along) was never
 * here: it is listed under the versions to pull alone.
 */
static int is_unrecorded(const struct mlops_path_status *p)
{
	return p->state == MLOPS_PATH_MODIFIED || (p->state == MLOPS_PATH_MISSING && p->stored);
}

/*
 * The paths in `state`, made by a checkout or pull that stopped
 * (interrupted: half made) or that is running (pulling: under way):
 * neither is a change to record.
 */
static void print_half_made(const struct mlops_path_status *st, size_t n,
			    enum mlops_path_state state)
{
	int running = state == MLOPS_PATH_PULLING;
	printf("tracked data %s (not changes to record):\n  (%s)\n",
	       running ? "being made by a checkout or pull that is running" :
			 "half made by a checkout or pull that stopped",
	       running ? "wait for it to end" :
			 "use 'mlops checkout' to make it again, 'mlops pull' when its version is not stored");
	for (size_t i = 0; i < n; i++)
		if (st[i].state == state)
			printf("  %s%s:%s %s (%s@v%ld)\n", cmd_color("yellow"),
			       running ? "in progress" : "interrupted", cmd_color("reset"), st[i].path,
			       st[i].dataset, st[i].version);
}

int cmd_status(int argc, char **argv)
{
	return cmd_status_usage(argc, argv, status_usage);
}

int cmd_status_usage(int argc, char **argv, const char *const *usage)
{
	static const struct option opts[] = {
		{ "exit-code", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, exit_code = 0;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'e')
			exit_code = 1;
		else if (c == 'h')
			return cmd_usage(usage, 1);
		else
			return cmd_usage(usage, 0);
	}
	if ((c = cmd_check_args(argc, argv, 0, 0, usage)) >= 0)
		return c;

	struct mlops_path_status *st;
	size_t n;
	int err = mlops_dataset_status(&st, &n, g_repo);
	if (err < 0)
		return cmd_fail(err, NULL);
	size_t changed = 0, unrecorded = 0, unstored = 0, outdated = 0, interrupted = 0, pulling = 0;
	for (size_t i = 0; i < n; i++) {
		changed += st[i].state != MLOPS_PATH_UNCHANGED;
		unrecorded += is_unrecorded(&st[i]);
		outdated += st[i].state == MLOPS_PATH_OUTDATED;
		interrupted += st[i].state == MLOPS_PATH_INTERRUPTED;
		pulling += st[i].state == MLOPS_PATH_PULLING;
		unstored += !st[i].stored;
	}

	/*
	 * Versions not yet on the default remote, as this clone last saw it
	 * (no request is made).  The configuration, and with it libgit2, is
	 * read only when .mlops/config mentions a remote at all (so a status
	 * without remotes does not notice a malformed configuration).
	 */
	char *remote = NULL;
	unsigned char *on_remote = NULL;
	size_t unpushed = 0;
	char *cfg_path = mlops_repo_path(g_repo, "config"), *cfg_text = NULL;
	int read_remote = n && cfg_path && mlops_read_file(&cfg_text, NULL, cfg_path) == 0 &&
			  strstr(cfg_text, "[remote");
	if (read_remote && !mlops_repo_config(g_repo)) {
		/* It reads the configuration: a malformed one fails it as any command. */
		free(cfg_text);
		free(cfg_path);
		mlops_path_status_free(st, n);
		return cmd_fail(MLOPS_EINVALID, NULL);
	}
	if (read_remote && mlops_remote_default(&remote, g_repo) == 0) {
		mlops_oid *ids = calloc(n, sizeof(*ids));
		on_remote = calloc(n, 1);
		if (ids && on_remote) {
			for (size_t i = 0; i < n; i++)
				ids[i] = st[i].recorded.id;
			if (mlops_remote_known(on_remote, g_repo, remote, ids, n) == 0)
				for (size_t i = 0; i < n; i++)
					unpushed += st[i].stored && !on_remote[i];
		}
		free(ids);
	}
	mlops_error_clear();
	free(cfg_text);
	free(cfg_path);

	struct store_count sc = { 0, 0 };
	long pid = 0;
	int alive = 0, locked = 0;
	if (g_opts.verbose) {
		if ((err = mlops_odb_foreach(g_repo->odb, count_object, &sc)) < 0) {
			mlops_path_status_free(st, n);
			return cmd_fail(err, NULL);
		}
		locked = mlops_lock_status(g_repo, &pid, &alive);
	}

	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "paths");
		cJSON_AddStringToObject(o, "root", g_repo->workdir);
		cJSON_AddBoolToObject(o, "clean", changed == 0);
		for (size_t i = 0; i < n; i++) {
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "path", st[i].path);
			cJSON_AddStringToObject(e, "state", state_name(st[i].state));
			cJSON_AddStringToObject(e, "dataset", st[i].dataset);
			cJSON_AddNumberToObject(e, "version", (double)st[i].version);
			cJSON_AddBoolToObject(e, "stored", st[i].stored);
			if (st[i].state == MLOPS_PATH_OUTDATED && st[i].held_dataset) {
				cJSON *h = cJSON_AddObjectToObject(e, "holds");
				cJSON_AddStringToObject(h, "dataset", st[i].held_dataset);
				cJSON_AddNumberToObject(h, "version", (double)st[i].held_version);
			}
			if (remote && on_remote)
				cJSON_AddBoolToObject(e, "pushed", on_remote[i]);
			cJSON_AddItemToArray(arr, e);
		}
		if (g_opts.verbose) {
			cJSON *s = cJSON_AddObjectToObject(o, "store");
			cJSON_AddNumberToObject(s, "objects", (double)sc.objects);
			cJSON_AddNumberToObject(s, "bytes", (double)sc.bytes);
			cJSON *l = cJSON_AddObjectToObject(o, "lock");
			cJSON_AddBoolToObject(l, "held", locked);
			if (locked) {
				cJSON_AddNumberToObject(l, "pid", (double)pid);
				cJSON_AddBoolToObject(l, "alive", alive);
			}
		}
		cmd_print_json(o);
	} else if (!g_opts.quiet) {
		if (g_opts.verbose) {
			char a[32];
			printf("repository: %s\n", g_repo->workdir);
			printf("store: %llu objects, %s\n", sc.objects, cmd_human_size(a, sc.bytes));
			if (locked)
				printf("lock: held by process %ld%s\n", pid, alive ? "" : " (not running: stale)");
			else
				printf("lock: free\n");
		}
		if (n == 0) {
			printf("no tracked paths (add one with 'mlops dataset add PATH')\n");
		} else if (!changed) {
			if (g_opts.verbose)
				for (size_t i = 0; i < n; i++)
					printf("  unchanged: %s (%s@v%ld)\n", st[i].path, st[i].dataset, st[i].version);
			printf("tracked data matches mlops.lock (%zu path%s)\n", n, n == 1 ? "" : "s");
		} else {
			if (unrecorded) {
				printf("changes not recorded in a dataset version:\n"
				       "  (use 'mlops dataset add PATH' to record them, "
				       "'mlops dataset checkout REV' to discard them)\n");
				for (size_t i = 0; i < n; i++) {
					if (!is_unrecorded(&st[i]) &&
					    (st[i].state != MLOPS_PATH_UNCHANGED || !g_opts.verbose))
						continue;
					const char *col = st[i].state == MLOPS_PATH_UNCHANGED ? "" : cmd_color("red");
					printf("  %s%9s: %s%s (%s@v%ld)\n", col, state_name(st[i].state), st[i].path,
					       *col ? cmd_color("reset") : "", st[i].dataset, st[i].version);
				}
			} else if (g_opts.verbose) {
				for (size_t i = 0; i < n; i++)
					if (st[i].state == MLOPS_PATH_UNCHANGED)
						printf("  unchanged: %s (%s@v%ld)\n", st[i].path, st[i].dataset,
						       st[i].version);
			}
			if (outdated)
				print_outdated(st, n);
			if (interrupted)
				print_half_made(st, n, MLOPS_PATH_INTERRUPTED);
			if (pulling)
				print_half_made(st, n, MLOPS_PATH_PULLING);
		}
		if (unpushed) {
			printf("recorded versions not yet on remote '%s' (run 'mlops push'):\n", remote);
			for (size_t i = 0; i < n; i++)
				if (st[i].stored && !on_remote[i])
					printf("  %s (%s@v%ld)\n", st[i].path, st[i].dataset, st[i].version);
		}
		if (unstored) {
			printf("recorded versions not in the local store (run 'mlops pull'):\n");
			for (size_t i = 0; i < n; i++)
				if (!st[i].stored)
					printf("  %s (%s@v%ld)\n", st[i].path, st[i].dataset, st[i].version);
		}
	}
	mlops_path_status_free(st, n);
	free(remote);
	free(on_remote);
	return exit_code && changed ? MLOPS_EXIT_CHECK : 0;
}
