/*
 * complete.c - `mlops __complete`: candidates for shell completion, one per
 * line, for the generated scripts in completions/.  Fast and silent: errors
 * print nothing and exit 0.
 *
 *   mlops __complete commands          the visible commands
 *   mlops __complete values CMD [SUB]  values for CMD's arguments: dataset
 *                                      names and NAME@vN revisions, ...
 */
#include "cmd.h"
#include "builtins.h"

#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
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
	struct mlops_repo *repo;
	if (mlops_repo_open(&repo, ".") < 0)
		return 0;
	if (!strcmp(cmd, "dataset") && strcmp(sub, "add") && strcmp(sub, "list"))
		dataset_values(repo);
	mlops_repo_free(repo);
	mlops_error_clear();
	return 0;
}
