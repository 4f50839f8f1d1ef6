/*
 * merge-lock.c - `mlops merge-lock BASE OURS THEIRS`: the git merge driver
 * for mlops.lock (set up by `mlops hooks install`).  Writes the merge into
 * OURS; exit 0 when clean, 1 with conflict markers and a message naming
 * both versions of each conflicting entry.
 */
#include "cmd.h"
#include "builtins.h"

#include <stdlib.h>
#include <string.h>

#include "core/gitsync.h"
#include "store/fsutil.h"

static const char *const usage[] = { "merge-lock BASE OURS THEIRS", NULL };

int cmd_merge_lock(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cmd_usage(usage, c == 'h');
	if ((c = cmd_check_args(argc, argv, 3, 3, usage)) >= 0)
		return c;
	char *text[3] = { NULL, NULL, NULL }, *out = NULL, *msg = NULL;
	size_t conflicts = 0;
	int err = 0;
	for (int i = 0; i < 3 && err == 0; i++)
		err = mlops_read_file(&text[i], NULL, argv[optind + i]);
	if (err == 0)
		err = mlops_lock_merge(&out, &conflicts, &msg, text[0], text[1], text[2]);
	if (err == 0) {
		char *dir = strdup(argv[optind + 1]), *slash = dir ? strrchr(dir, '/') : NULL;
		if (slash)
			*slash = '\0';
		err = mlops_write_file_atomic(argv[optind + 1], out, strlen(out),
					      slash ? dir : ".", 0);
		free(dir);
	}
	for (int i = 0; i < 3; i++)
		free(text[i]);
	free(out);
	if (err < 0) {
		free(msg);
		return cmd_fail(err, NULL);
	}
	if (conflicts) {
		fprintf(stderr, "mlops: merge conflict in mlops.lock: %s%s\n", msg,
			conflicts > 1 ? " (and more)" : "");
		fprintf(stderr, "hint: pick a version for each entry between the markers, then 'git add mlops.lock'\n");
	}
	free(msg);
	return conflicts ? MLOPS_EXIT_CHECK : 0;
}
