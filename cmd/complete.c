/*
 * complete.c - `mlops __complete WHAT`: candidates for shell completion,
 * one per line.  WHAT is "commands", "datasets" or "versions NAME".  Fast
 * and silent: errors print nothing.
 */
#include "cmd.h"
#include "builtins.h"

#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "store/refs.h"
#include "store/repo.h"

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
	struct mlops_repo *repo;
	if (mlops_repo_open(&repo, ".") < 0)
		return 0;
	if (!strcmp(argv[1], "datasets")) {
		char **names;
		size_t n;
		if (mlops_dataset_names(&names, &n, repo) == 0) {
			for (size_t i = 0; i < n; i++)
				printf("%s\n", names[i]);
			mlops_strlist_free(names, n);
		}
	} else if (!strcmp(argv[1], "versions") && argc > 2) {
		long *v;
		size_t n;
		if (mlops_dataset_versions(&v, &n, repo, argv[2]) == 0) {
			for (size_t i = 0; i < n; i++)
				printf("%s@v%ld\n", argv[2], v[i]);
			free(v);
		}
	}
	mlops_repo_free(repo);
	return 0;
}
