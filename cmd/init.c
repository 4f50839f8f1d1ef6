/*
 * init.c - `mlops init [DIR]`: create .mlops/ in the git work tree at or
 * above DIR (creating the git repository when there is none).
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/lockfile.h"
#include "store/fsutil.h"
#include "store/repo.h"

static const char *const usage[] = { "init [DIR]", NULL };

int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h')
			return cmd_usage(usage, 1);
		return cmd_usage(usage, 0);
	}
	if ((c = cmd_check_args(argc, argv, 0, 1, usage)) >= 0)
		return c;
	const char *dir = optind < argc ? argv[optind] : ".";
	struct mlops_repo *repo;
	struct stat st;
	int created = 0, err;
	if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		err = mlops_error_set(MLOPS_EUSAGE, "'%s' is not a directory", dir);
		return cmd_fail(err, "name the directory of the work tree, or one in it");
	}
	if ((err = mlops_repo_init(&repo, dir, &created)) < 0)
		return cmd_fail(err, NULL);
	err = mlops_lockfile_init(repo, &created);
	if (err < 0) {
		mlops_repo_free(repo);
		return cmd_fail(err, NULL);
	}
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "root", repo->workdir);
		cJSON_AddBoolToObject(o, "created", created);
		mlops_repo_free(repo);
		return cmd_print_json(o);
	}
	if (!g_opts.quiet) {
		printf("%s mlops repository in %s/.mlops\n",
		       created ? "Initialized empty" : "Reinitialized existing", repo->workdir);
		/*
		 * The settings a clone needs (remotes) are in .mlops/config.  The
		 * top-level .gitignore appears with the first tracked path: git
		 * refuses a pathspec that names no file, so it is named only when
		 * there is one.
		 */
		if (created) {
			char *ign = mlops_path_join(repo->workdir, ".gitignore");
			printf("hint: commit .mlops/config and .mlops/.gitignore with the lock: "
			       "git add mlops.lock%s .mlops\n",
			       ign && lstat(ign, &st) == 0 ? " .gitignore" : "");
			free(ign);
		}
	}
	mlops_repo_free(repo);
	return 0;
}
