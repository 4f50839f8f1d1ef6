/*
 * main.c - the mlops command: global options, the command table, dispatch.
 *
 * The table below is the one place that lists commands.  Flags say what a
 * command needs (a repository), so no command opens one itself.  After a
 * command returns, stdout is flushed and a write error is an error, so
 * `mlops dataset list > /full/disk` never exits 0.
 */
#include "cmd.h"
#include "builtins.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/repo.h"

struct global_opts g_opts;
struct mlops_repo *g_repo;
int g_defer_repo;

int cmd_need_repo(void)
{
	if (g_repo)
		return 0;
	int err = mlops_repo_open(&g_repo, ".");
	if (err < 0)
		return cmd_fail(err, err == MLOPS_ENOREPO ? "run 'mlops init' to create one" : NULL);
	return 0;
}

/*
 * The repository a command needs could not be opened: its error waits until
 * the command's options have parsed (cmd_repo_failed_exit), so that a usage
 * error is exit 2 wherever it is run.
 */
static struct {
	int pending, code, hint;
	char message[1024];
} repo_failure;

int cmd_open_repo_or_defer(int with_config)
{
	int err = 0;
	if (!g_repo)
		err = mlops_repo_open(&g_repo, ".");
	/*
	 * A configuration that does not parse fails every command that reads
	 * it, in the same words (exit 4): the commands that start libgit2
	 * read it here, before anything else.  The others (status, dataset,
	 * hooks...) read it when they need it, and many never do.
	 */
	if (err == 0 && with_config && !mlops_repo_config(g_repo)) {
		err = MLOPS_EINVALID;
		mlops_repo_free(g_repo);
		g_repo = NULL;
	}
	if (err == 0)
		return 0;
	repo_failure.pending = 1;
	repo_failure.code = err;
	repo_failure.hint = err == MLOPS_ENOREPO;
	snprintf(repo_failure.message, sizeof(repo_failure.message), "%s", mlops_error_message());
	mlops_error_clear();
	return 1;
}

void cmd_repo_failed_exit(void)
{
	if (!repo_failure.pending)
		return;
	mlops_error_set(repo_failure.code, "%s", repo_failure.message);
	exit(cmd_fail(repo_failure.code, repo_failure.hint ? "run 'mlops init' to create one" : NULL));
}

/* Sorted by name. */
const struct cmd_entry cmd_table[] = {
	{ "__complete", cmd___complete, CMD_HIDDEN | CMD_LAZY_GIT, "print completion candidates" },
	{ "checkout", cmd_checkout, CMD_NEED_REPO | CMD_LAZY_GIT, "restore tracked data to mlops.lock, or to the lock at a commit" },
	{ "dataset", cmd_dataset, CMD_NEED_REPO | CMD_SUB_REPO | CMD_LAZY_GIT, "version datasets: add, list, diff, checkout, stats" },
	{ "deploy", cmd_deploy, 0, "deploy models to targets, roll back, serve over HTTP" },
	{ "export", cmd_export, CMD_NEED_REPO, "write a version and all it needs to a .tar.gz bundle" },
	{ "feature", cmd_feature, CMD_NEED_REPO | CMD_LAZY_GIT, "feature sets: definitions, materialized tables, point-in-time joins" },
	{ "fetch", cmd_fetch, CMD_NEED_REPO, "download versions and their objects from a remote" },
	{ "fsck", cmd_fsck, CMD_NEED_REPO, "check every object's hash and that the refs' objects are there" },
	{ "gc", cmd_gc, CMD_NEED_REPO, "delete the objects nothing needs" },
	{ "help", cmd_help, CMD_LAZY_GIT, "show the manual page of a command" },
	{ "hooks", cmd_hooks, CMD_LAZY_GIT, "install git hooks that keep data and code in step" },
	{ "import", cmd_import, CMD_NEED_REPO, "read a bundle made by export, checking every object" },
	{ "init", cmd_init, 0, "create an mlops repository in a git work tree" },
	{ "merge-lock", cmd_merge_lock, CMD_LAZY_GIT, "merge driver for mlops.lock (used by git)" },
	{ "monitor", cmd_monitor, CMD_NEED_REPO, "check live data for drift against a model's baseline" },
	{ "pull", cmd_pull, CMD_NEED_REPO, "fetch, then check out what mlops.lock records" },
	{ "push", cmd_push, CMD_NEED_REPO, "upload versions and the objects they need to a remote" },
	{ "register", cmd_register, CMD_NEED_REPO, "model registry on git tags: register, promote, lineage" },
	{ "remote", cmd_remote, CMD_NEED_REPO, "add, list and remove remotes (directories, S3)" },
	{ "status", cmd_status, CMD_NEED_REPO | CMD_LAZY_GIT, "show tracked paths that changed, and the store" },
	{ "train", cmd_train, CMD_NEED_REPO, "run and record training: commands, built-in trainers, sweeps" },
	{ "version", cmd_version, CMD_LAZY_GIT, "print the version" },
};
const size_t cmd_table_len = sizeof(cmd_table) / sizeof(cmd_table[0]);

static const char *const main_usage[] = {
	"[-C DIR] [--json] [-q] [-v] [--no-color] COMMAND [ARGS...]",
	"--version | -h | --help | help COMMAND",
	NULL,
};

static void print_overview(FILE *f)
{
	fprintf(f, "usage: mlops %s\n       mlops %s\n\ncommands:\n", main_usage[0], main_usage[1]);
	for (size_t i = 0; i < cmd_table_len; i++) {
		if (cmd_table[i].flags & CMD_HIDDEN)
			continue;
		fprintf(f, "   %-10s %s\n", cmd_table[i].name, cmd_table[i].summary);
	}
	fprintf(f, "\n'mlops help COMMAND' shows the manual page of a command.\n");
}

const struct cmd_entry *cmd_lookup(const char *name)
{
	for (size_t i = 0; i < cmd_table_len; i++)
		if (!strcmp(cmd_table[i].name, name))
			return &cmd_table[i];
	return NULL;
}

/* Damerau-free Levenshtein distance, for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return SIZE_MAX;
	size_t prev[65], cur[65];
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			cur[j] = del < ins ? del : ins;
			if (sub < cur[j])
				cur[j] = sub;
		}
		memcpy(prev, cur, sizeof(prev));
	}
	return prev[lb];
}

static int unknown_command(const char *name)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (size_t i = 0; i < cmd_table_len; i++) {
		if (cmd_table[i].flags & CMD_HIDDEN)
			continue;
		size_t d = edit_distance(name, cmd_table[i].name);
		if (d < best_d) {
			best_d = d;
			best = cmd_table[i].name;
		}
	}
	fprintf(stderr, "mlops: '%s' is not a command; see 'mlops --help'\n", name);
	if (best && best_d <= 2)
		fprintf(stderr, "hint: the most similar command is '%s'\n", best);
	return MLOPS_EXIT_USAGE;
}

static void print_warning(const char *message, void *payload)
{
	(void)payload;
	fprintf(stderr, "mlops: warning: %s\n", message);
}

static int finish_output(int status)
{
	cmd_progress_end();
	mlops_warnings_flush(print_warning, NULL);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		int e = errno;
		fprintf(stderr, "mlops: write failure on standard output: %s\n",
			e ? strerror(e) : "unknown error");
		return MLOPS_EXIT_IO;
	}
	return status;
}

int main(int argc, char **argv)
{
	int i = 1;
	const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");
	g_opts.color = isatty(STDOUT_FILENO) && !(no_color && *no_color) &&
		       !(term && !strcmp(term, "dumb"));

	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-C")) {
			if (++i >= argc)
				return cmd_die(MLOPS_EXIT_USAGE, "-C needs a directory");
			if (chdir(argv[i]) < 0)
				return cmd_die(MLOPS_EXIT_NOTFOUND, "cannot change to '%s': %s",
					       argv[i], strerror(errno));
		} else if (!strcmp(a, "--json")) {
			g_opts.json = 1;
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			g_opts.quiet = 1;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			g_opts.verbose++;
		} else if (!strcmp(a, "--no-color")) {
			g_opts.color = 0;
		} else if (!strcmp(a, "--version")) {
			return finish_output(cmd_version(1, argv + i));
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			print_overview(stdout);
			return finish_output(0);
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else {
			fprintf(stderr, "mlops: unknown option '%s'\n", a);
			cmd_usage(main_usage, 0);
			return MLOPS_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		print_overview(stderr);
		return MLOPS_EXIT_USAGE;
	}
	g_opts.progress = isatty(STDERR_FILENO) && !g_opts.quiet && !g_opts.json;

	const struct cmd_entry *c = cmd_lookup(argv[i]);
	if (!c)
		return unknown_command(argv[i]);

	int is_help = 0;
	for (int k = i + 1; k < argc; k++) {
		if (!strcmp(argv[k], "--"))
			break;
		if (!strcmp(argv[k], "-h") || !strcmp(argv[k], "--help"))
			is_help = 1;
	}
	if (!(c->flags & CMD_LAZY_GIT))
		mlops_git_init();
	/* -h works outside a repository: the command prints its usage. */
	if ((c->flags & CMD_NEED_REPO) && !is_help) {
		if (c->flags & CMD_SUB_REPO) {
			g_defer_repo = 1;
		} else {
			cmd_open_repo_or_defer(!(c->flags & CMD_LAZY_GIT));
		}
	}
	snprintf(g_cmd_name, sizeof(g_cmd_name), "%s", c->name);
	int status = c->fn(argc - i, argv + i);
	mlops_repo_free(g_repo);
	g_repo = NULL;
	return finish_output(status);
}
