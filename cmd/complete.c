/*
 * complete.c - `mlops __complete`: candidates for shell completion, one per
 * line, for the generated scripts in completions/.  Fast and silent: errors
 * print nothing and exit 0.
 *
 *   mlops __complete commands          the visible commands
 *   mlops __complete values CMD [SUB]  values for CMD's arguments: dataset
 *                                      names and NAME@vN revisions, feature
 *                                      sets, models with their versions and
 *                                      NAME#stage, runs, remotes, deploy targets
 *   mlops __complete values CMD SUB OPT values for the option OPT (SUB may
 *                                      be ""); nothing when they are files
 */
#include "cmd.h"
#include "builtins.h"

#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/deploy.h"
#include "core/feature.h"
#include "core/registry.h"
#include "store/remote.h"
#include "store/refs.h"
#include "store/repo.h"

static void dataset_values(struct mlops_repo *repo)
{
	char **names;
	size_t n;
	if (mlops_dataset_names(&names, &n, repo) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		long *v;
		size_t nv;
		printf("%s\n", names[i]);
		if (mlops_dataset_versions(&v, &nv, repo, names[i]) == 0) {
			for (size_t k = 0; k < nv; k++)
				printf("%s@v%ld\n", names[i], v[k]);
			free(v);
		}
	}
	mlops_strlist_free(names, n);
}

static void list_refs_dirs(struct mlops_repo *repo, const char *dir)
{
	char **names;
	size_t n;
	if (mlops_ref_list(&names, &n, repo, dir) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]);
		if (l && names[i][l - 1] == '/')
			printf("%.*s\n", (int)(l - 1), names[i]);
	}
	mlops_strlist_free(names, n);
}

/* Model names, NAME@vX.Y.Z versions and NAME#stage for each stage. */
static void model_values(struct mlops_repo *repo)
{
	char **models, **stages = NULL, **vers;
	size_t n, ns = 0, nv;
	if (mlops_ref_list(&models, &n, repo, "models") < 0)
		return;
	if (mlops_registry_stages(&stages, &ns, repo) < 0)
		ns = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(models[i]);
		if (!l || models[i][l - 1] != '/')
			continue;
		models[i][l - 1] = '\0';
		printf("%s\n", models[i]);
		for (size_t k = 0; k < ns; k++)
			printf("%s#%s\n", models[i], stages[k]);
		char dir[300];
		snprintf(dir, sizeof(dir), "models/%s", models[i]);
		if (mlops_ref_list(&vers, &nv, repo, dir) == 0) {
			for (size_t k = 0; k < nv; k++)
				printf("%s@%s\n", models[i], vers[k]);
			mlops_strlist_free(vers, nv);
		}
	}
	mlops_strlist_free(stages, ns);
	mlops_strlist_free(models, n);
}

/* Runs as r-<8 hex>, the short form train list shows. */
static void run_values(struct mlops_repo *repo)
{
	char **names;
	size_t n;
	if (mlops_ref_list(&names, &n, repo, "runs") < 0)
		return;
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == MLOPS_OID_HEXSZ)
			printf("r-%.8s\n", names[i]);
	mlops_strlist_free(names, n);
}

static void remote_values(struct mlops_repo *repo)
{
	struct mlops_remote_info *info;
	size_t n;
	if (mlops_remote_list(&info, &n, repo) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		printf("%s\n", info[i].name);
	mlops_remote_info_free(info, n);
}

static void target_values(struct mlops_repo *repo)
{
	struct mlops_deploy_target **t;
	size_t n;
	if (mlops_deploy_targets(&t, &n, repo) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		printf("%s\n", t[i]->name);
	mlops_deploy_targets_free(t, n);
}

static void feature_values(struct mlops_repo *repo)
{
	list_refs_dirs(repo, "features");
}

static void stage_values(struct mlops_repo *repo)
{
	char **stages;
	size_t n;
	if (mlops_registry_stages(&stages, &n, repo) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		printf("%s\n", stages[i]);
	mlops_strlist_free(stages, n);
}

/* The values of an option that names something stored; files are the shell's. */
static void option_values(struct mlops_repo *repo, const char *opt)
{
	static const struct {
		const char *opt;
		void (*list)(struct mlops_repo *repo);
	} kinds[] = {
		{ "-d", dataset_values }, { "--dataset", dataset_values },
		{ "--source", dataset_values }, { "--data", dataset_values },
		{ "-f", feature_values }, { "--features", feature_values },
		{ "--run", run_values }, { "--remote", remote_values },
		{ "--promote", stage_values },
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(opt, kinds[i].opt))
			continue;
		kinds[i].list(repo);
		return;
	}
}

int cmd___complete(int argc, char **argv)
{
	if (argc < 2)
		return 0;
	if (!strcmp(argv[1], "commands")) {
		for (size_t i = 0; i < cmd_table_len; i++)
			if (!(cmd_table[i].flags & CMD_HIDDEN))
				printf("%s\n", cmd_table[i].name);
		return 0;
	}
	if (strcmp(argv[1], "values") || argc < 3)
		return 0;
	const char *cmd = argv[2], *sub = argc > 3 ? argv[3] : "";
	if (!strcmp(cmd, "help")) {
		for (size_t i = 0; i < cmd_table_len; i++)
			if (!(cmd_table[i].flags & CMD_HIDDEN))
				printf("%s\n", cmd_table[i].name);
		return 0;
	}
	const char *opt = argc > 4 ? argv[4] : NULL;
	struct mlops_repo *repo;
	if (mlops_repo_open(&repo, ".") < 0)
		return 0;
	if (opt)
		option_values(repo, opt);
	else if (!strcmp(cmd, "dataset") && strcmp(sub, "add") && strcmp(sub, "list"))
		dataset_values(repo);
	else if (!strcmp(cmd, "train") && (!strcmp(sub, "show") || !strcmp(sub, "compare") ||
		 !strcmp(sub, "log") || !strcmp(sub, "wait") || !strcmp(sub, "cancel")))
		run_values(repo);
	else if (!strcmp(cmd, "export"))
		dataset_values(repo);
	else if (!strcmp(cmd, "feature"))
		feature_values(repo);
	else if (!strcmp(cmd, "register") || !strcmp(cmd, "monitor"))
		model_values(repo);
	else if (!strcmp(cmd, "deploy")) {
		model_values(repo);
		target_values(repo);
	} else if (!strcmp(cmd, "remote") || !strcmp(cmd, "push") || !strcmp(cmd, "pull") ||
		   !strcmp(cmd, "fetch"))
		remote_values(repo);
	mlops_repo_free(repo);
	mlops_error_clear();
	return 0;
}
