/*
 * dataset.c - `mlops dataset`: add, list, log, show, diff, checkout,
 * status, rm (and stats, in dataset_stats.c).
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "core/dataset.h"
#include "core/rev.h"
#include "store/fsutil.h"
#include "store/refs.h"
#include "store/repo.h"

static void progress_cb(void *payload, uint64_t done, uint64_t total)
{
	cmd_progress((const char *)payload, done, total, 0);
}

static void print_version_line(const struct mlops_dataset_version *v, const char *suffix)
{
	char hex[MLOPS_OID_HEXSZ + 1], a[32], b[32];
	mlops_oid_fmt(hex, &v->id);
	printf("%s@v%ld %.8s  %llu file%s, %s (%s new)%s\n", v->name, v->version, hex,
	       (unsigned long long)v->files, v->files == 1 ? "" : "s",
	       cmd_human_size(a, v->size), cmd_human_size(b, v->stored), suffix);
}

/* ---- add -------------------------------------------------------------- */

static const char *const add_usage[] = {
	"dataset add PATH... [--name NAME] [-m MSG]",
	NULL,
};

static int dataset_add(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "message", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *msg = NULL;
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "n:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'm': msg = optarg; break;
		case 'h': return cmd_usage(add_usage, 1);
		default: return cmd_usage(add_usage, 0);
		}
	}
	if (optind >= argc)
		return cmd_usage_error(add_usage, "nothing to add: name the files or directories to record");
	struct mlops_dataset_version *v;
	struct mlops_ingest_stats st = { .progress = progress_cb, .payload = "adding" };
	int created, err;
	err = mlops_dataset_add(&v, &created, g_repo, (const char *const *)argv + optind,
				(size_t)(argc - optind), name, msg, &st);
	if (g_opts.progress && st.hashed > (64u << 20))
		cmd_progress("adding", st.bytes, st.bytes, 1);
	cmd_progress_end();
	if (err < 0)
		return cmd_fail(err, NULL);
	if (g_opts.json) {
		cJSON *o = mlops_dataset_version_to_json(v, 0, NULL);
		cJSON_AddBoolToObject(o, "created", created);
		cJSON_AddNumberToObject(o, "stored_now", (double)st.stored);
		cJSON_AddNumberToObject(o, "hashed", (double)st.hashed);
		mlops_dataset_version_free(v);
		return cmd_print_json(o);
	}
	if (!g_opts.quiet) {
		if (created) {
			print_version_line(v, "");
		} else {
			char hex[MLOPS_OID_HEXSZ + 1];
			printf("%s@v%ld %.8s is up to date (no new version)\n", v->name, v->version,
			       mlops_oid_fmt(hex, &v->id));
		}
	}
	mlops_dataset_version_free(v);
	return 0;
}

/* ---- list ------------------------------------------------------------- */

static const char *const list_usage[] = { "dataset list", NULL };

/*
 * Parse a subcommand that takes only -h and between min and max positional
 * arguments.  Returns -1 to go on (arguments at argv[optind...]), else the
 * exit status to return.
 */
static int simple_args(int argc, char **argv, const char *const *usage, int min, int max)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cmd_usage(usage, c == 'h');
	return cmd_check_args(argc, argv, min, max, usage);
}

static int dataset_list(int argc, char **argv)
{
	int rc = simple_args(argc, argv, list_usage, 0, 0);
	if (rc >= 0)
		return rc;
	char **names;
	size_t n;
	int err = mlops_dataset_names(&names, &n, g_repo);
	if (err < 0)
		return cmd_fail(err, NULL);
	cJSON *arr = g_opts.json ? cJSON_CreateArray() : NULL;
	for (size_t i = 0; i < n; i++) {
		struct mlops_dataset_version *v;
		long *vers;
		size_t nv;
		if ((err = mlops_dataset_versions(&vers, &nv, g_repo, names[i])) < 0)
			break;
		if (nv == 0) {
			free(vers);
			continue;
		}
		free(vers);
		if ((err = mlops_dataset_resolve(&v, g_repo, names[i])) < 0)
			break;
		if (arr) {
			cJSON *o = mlops_dataset_version_to_json(v, 0, NULL);
			cJSON_AddNumberToObject(o, "versions", (double)nv);
			cJSON_AddItemToArray(arr, o);
		} else {
			char a[32], t[64], hex[MLOPS_OID_HEXSZ + 1];
			printf("%-20s v%-5ld %.8s  %8llu file%s %10s  %s\n", v->name, v->version,
			       mlops_oid_fmt(hex, &v->id), (unsigned long long)v->files,
			       v->files == 1 ? " " : "s", cmd_human_size(a, v->size),
			       cmd_human_time(t, v->time));
		}
		mlops_dataset_version_free(v);
	}
	mlops_strlist_free(names, n);
	if (err < 0) {
		cJSON_Delete(arr);
		return cmd_fail(err, NULL);
	}
	if (arr)
		return cmd_print_json(arr);
	return 0;
}

/* ---- log -------------------------------------------------------------- */

static const char *const log_usage[] = { "dataset log NAME", NULL };

static int dataset_log(int argc, char **argv)
{
	int rc = simple_args(argc, argv, log_usage, 1, 1);
	if (rc >= 0)
		return rc;
	argv += optind - 1;
	long *vers;
	size_t n;
	if (!mlops_name_valid(argv[1])) {
		mlops_error_set(MLOPS_EUSAGE, "'%s' is not a dataset name: log takes a NAME, not a revision",
				argv[1]);
		return cmd_fail(MLOPS_EUSAGE, "'mlops dataset show REV' shows one version");
	}
	int err = mlops_dataset_versions(&vers, &n, g_repo, argv[1]);
	if (err < 0)
		return cmd_fail(err, NULL);
	if (n == 0) {
		free(vers);
		mlops_error_set(MLOPS_ENOTFOUND, "dataset '%s' not found", argv[1]);
		return cmd_fail(MLOPS_ENOTFOUND, "'mlops dataset list' shows the datasets");
	}
	cJSON *arr = g_opts.json ? cJSON_CreateArray() : NULL;
	for (size_t i = n; i-- > 0;) {
		char rev[200];
		struct mlops_dataset_version *v;
		snprintf(rev, sizeof(rev), "%s@v%ld", argv[1], vers[i]);
		if ((err = mlops_dataset_resolve(&v, g_repo, rev)) < 0)
			break;
		if (arr) {
			cJSON_AddItemToArray(arr, mlops_dataset_version_to_json(v, 0, NULL));
		} else {
			char hex[MLOPS_OID_HEXSZ + 1], a[32], t[64];
			printf("%sversion v%ld%s %s\n", cmd_color("yellow"), v->version, cmd_color("reset"),
			       mlops_oid_fmt(hex, &v->id));
			printf("Author: %s\nDate:   %s\n", v->author, cmd_human_time(t, v->time));
			printf("Size:   %llu file%s, %s\n", (unsigned long long)v->files,
			       v->files == 1 ? "" : "s", cmd_human_size(a, v->size));
			if (v->git_head)
				printf("Commit: %s\n", v->git_head);
			printf("\n    %s\n\n", *v->message ? v->message : "(no message)");
		}
		mlops_dataset_version_free(v);
	}
	free(vers);
	if (err < 0) {
		cJSON_Delete(arr);
		return cmd_fail(err, NULL);
	}
	return arr ? cmd_print_json(arr) : 0;
}

/* ---- show ------------------------------------------------------------- */

static const char *const show_usage[] = { "dataset show REV [--files]", NULL };

static int dataset_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "files", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, files = 0;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'f')
			files = 1;
		else
			return cmd_usage(show_usage, c == 'h');
	}
	if ((c = cmd_check_args(argc, argv, 1, 1, show_usage)) >= 0)
		return c;
	struct mlops_dataset_version *v;
	int err = mlops_dataset_resolve(&v, g_repo, argv[optind]);
	if (err < 0)
		return cmd_fail(err, NULL);
	if (g_opts.json) {
		cJSON *o = mlops_dataset_version_to_json(v, files, g_repo);
		mlops_dataset_version_free(v);
		return cmd_print_json(o);
	}
	char hex[MLOPS_OID_HEXSZ + 1], a[32], b[32], t[64];
	printf("dataset %s@v%ld\n", v->name, v->version);
	printf("id:      %s\n", mlops_oid_fmt(hex, &v->id));
	printf("author:  %s\n", v->author);
	printf("date:    %s\n", cmd_human_time(t, v->time));
	printf("message: %s\n", v->message);
	if (v->git_head)
		printf("commit:  %s\n", v->git_head);
	printf("size:    %llu file%s, %s (%s were new to the store)\n", (unsigned long long)v->files,
	       v->files == 1 ? "" : "s", cmd_human_size(a, v->size), cmd_human_size(b, v->stored));
	printf("paths:\n");
	for (size_t i = 0; i < v->nentries; i++) {
		const struct mlops_dataset_entry *e = &v->entries[i];
		printf("  %-6s %.12s %10s  ", mlops_kind_name(e->node.kind),
		       mlops_oid_fmt(hex, &e->node.id), cmd_human_size(a, e->node.size));
		cmd_print_name(stdout, e->path);
		printf("%s\n", e->node.kind == MLOPS_KIND_TREE ? "/" : "");
		if (!files || e->node.kind != MLOPS_KIND_TREE)
			continue;
		struct mlops_tree_list l;
		if ((err = mlops_tree_list(&l, g_repo->odb, &e->node, 0)) < 0)
			break;
		for (size_t k = 0; k < l.count; k++) {
			char *full = mlops_path_join(e->path, l.files[k].path);
			printf("    %10llu  ", (unsigned long long)l.files[k].node.size);
			cmd_print_name(stdout, full ? full : l.files[k].path);
			putchar('\n');
			free(full);
		}
		mlops_tree_list_free(&l);
	}
	mlops_dataset_version_free(v);
	return err < 0 ? cmd_fail(err, NULL) : 0;
}

/* ---- diff ------------------------------------------------------------- */

static const char *const diff_usage[] = { "dataset diff REV [REV]", NULL };

/* names (NULL-terminated) as a JSON array of strings under key, or null when NULL. */
static void add_names(cJSON *o, const char *key, char **names)
{
	if (!names) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	cJSON *arr = cJSON_AddArrayToObject(o, key);
	for (size_t i = 0; arr && names[i]; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(names[i]));
}

/* ", columns added: a, b" when there are names (quoted as paths are); nothing otherwise. */
static void print_names(const char *label, char **names)
{
	if (!names || !names[0])
		return;
	fputs(label, stdout);
	for (size_t i = 0; names[i]; i++) {
		fputs(i ? ", " : "", stdout);
		cmd_print_name(stdout, names[i]);
	}
}

static int dataset_diff(int argc, char **argv)
{
	int rc = simple_args(argc, argv, diff_usage, 1, 2);
	if (rc >= 0)
		return rc;
	argc -= optind - 1;
	argv += optind - 1;
	struct mlops_dataset_version *a = NULL, *b = NULL;
	struct mlops_diff_file *d = NULL;
	size_t n = 0;
	int err = mlops_dataset_resolve(&a, g_repo, argv[1]);
	if (err == 0 && argc == 3)
		err = mlops_dataset_resolve(&b, g_repo, argv[2]);
	if (err == 0)
		err = mlops_dataset_diff(&d, &n, g_repo, a, b);
	if (err < 0) {
		mlops_dataset_version_free(a);
		mlops_dataset_version_free(b);
		return cmd_fail(err, NULL);
	}
	if (g_opts.json) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t i = 0; i < n; i++) {
			cJSON *o = cJSON_CreateObject();
			const char *ch = d[i].change == 'A' ? "added" : d[i].change == 'D' ? "removed" : "modified";
			cJSON_AddStringToObject(o, "path", d[i].path);
			cJSON_AddStringToObject(o, "change", ch);
			cJSON_AddNumberToObject(o, "old_size", (double)d[i].old_size);
			cJSON_AddNumberToObject(o, "new_size", (double)d[i].new_size);
			/* Always present: null when the rows were not compared. */
			if (d[i].rows_added >= 0) {
				cJSON_AddNumberToObject(o, "rows_added", (double)d[i].rows_added);
				cJSON_AddNumberToObject(o, "rows_removed", (double)d[i].rows_removed);
			} else {
				cJSON_AddNullToObject(o, "rows_added");
				cJSON_AddNullToObject(o, "rows_removed");
			}
			add_names(o, "columns_added", d[i].cols_added);
			add_names(o, "columns_removed", d[i].cols_removed);
			cJSON_AddItemToArray(arr, o);
		}
		cmd_print_json(arr);
	} else {
		char x[32], y[32];
		if (n == 0 && !g_opts.quiet)
			printf("no differences\n");
		for (size_t i = 0; i < n; i++) {
			const char *col = d[i].change == 'A' ? cmd_color("green") :
					  d[i].change == 'D' ? cmd_color("red") : cmd_color("yellow");
			printf("%s%s:%s ", col, d[i].change == 'M' ? "modified" : d[i].change == 'A' ? "added" : "removed",
			       cmd_color("reset"));
			cmd_print_name(stdout, d[i].path);
			if (d[i].change == 'M')
				printf(" (%s -> %s)", cmd_human_size(x, d[i].old_size), cmd_human_size(y, d[i].new_size));
			else
				printf(" (%s)", cmd_human_size(x, d[i].change == 'A' ? d[i].new_size : d[i].old_size));
			if (d[i].rows_added >= 0)
				printf(", rows +%lld -%lld", d[i].rows_added, d[i].rows_removed);
			print_names(", columns added: ", d[i].cols_added);
			print_names(", columns removed: ", d[i].cols_removed);
			putchar('\n');
		}
	}
	mlops_diff_free(d, n);
	mlops_dataset_version_free(a);
	mlops_dataset_version_free(b);
	return 0;
}

/* ---- checkout --------------------------------------------------------- */

static const char *const checkout_usage[] = { "dataset checkout REV [--to DIR] [--force]", NULL };

static int dataset_checkout(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *to = NULL;
	int c, force = 0;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (c == 't')
			to = optarg;
		else if (c == 'f')
			force = 1;
		else
			return cmd_usage(checkout_usage, c == 'h');
	}
	if ((c = cmd_check_args(argc, argv, 1, 1, checkout_usage)) >= 0)
		return c;
	/* Its messages name the command: "mlops: dataset checkout: 'd' has changes...". */
	struct mlops_dataset_version *v;
	int err = mlops_dataset_resolve(&v, g_repo, argv[optind]);
	if (err < 0)
		return cmd_fail(mlops_error_wrap(err, "%s", g_cmd_name), NULL);
	struct mlops_checkout_stats st = { .progress = progress_cb, .payload = "checking out" };
	err = mlops_dataset_checkout(g_repo, v, to, force, &st);
	if (g_opts.progress && st.bytes_written > (64u << 20))
		cmd_progress("checking out", st.bytes_written, st.bytes_written, 1);
	cmd_progress_end();
	if (err < 0) {
		mlops_dataset_version_free(v);
		return cmd_fail(mlops_error_wrap(err, "%s", g_cmd_name), NULL);
	}
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", v->name);
		cJSON_AddNumberToObject(o, "version", (double)v->version);
		cJSON_AddNumberToObject(o, "files_written", (double)st.files_written);
		cJSON_AddNumberToObject(o, "files_removed", (double)st.files_removed);
		cJSON_AddNumberToObject(o, "files_unchanged", (double)st.files_unchanged);
		cJSON_AddNumberToObject(o, "bytes_written", (double)st.bytes_written);
		mlops_dataset_version_free(v);
		return cmd_print_json(o);
	}
	if (!g_opts.quiet) {
		char a[32];
		printf("%s@v%ld checked out%s", v->name, v->version, to ? " to " : "");
		if (to)
			cmd_print_name(stdout, to);
		printf(": %llu file%s written (%s), %llu removed, %llu unchanged\n",
		       (unsigned long long)st.files_written, st.files_written == 1 ? "" : "s",
		       cmd_human_size(a, st.bytes_written), (unsigned long long)st.files_removed,
		       (unsigned long long)st.files_unchanged);
	}
	mlops_dataset_version_free(v);
	return 0;
}

/* ---- rm --------------------------------------------------------------- */

static const char *const rm_usage[] = { "dataset rm REV", NULL };

static int dataset_rm(int argc, char **argv)
{
	int rc = simple_args(argc, argv, rm_usage, 1, 1);
	if (rc >= 0)
		return rc;
	argv += optind - 1;
	struct mlops_dataset_version *v = NULL;
	int err = mlops_dataset_resolve(&v, g_repo, argv[1]);
	if (err == 0)
		err = mlops_dataset_rm(g_repo, v);
	if (err < 0) {
		mlops_dataset_version_free(v);
		return cmd_fail(err, NULL);
	}
	if (!g_opts.quiet && !g_opts.json)
		printf("removed %s@v%ld (its data goes at the next 'mlops gc')\n", v->name, v->version);
	if (g_opts.json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", v->name);
		cJSON_AddNumberToObject(o, "version", (double)v->version);
		cJSON_AddBoolToObject(o, "removed", 1);
		cmd_print_json(o);
	}
	mlops_dataset_version_free(v);
	return 0;
}

/* ---- status ----------------------------------------------------------- */

static const char *const status_usage[] = { "dataset status [--exit-code]", NULL };

static int dataset_status(int argc, char **argv)
{
	return cmd_status_usage(argc, argv, status_usage);
}

/* ---- dispatch --------------------------------------------------------- */

int cmd_dataset_stats(int argc, char **argv);

static const struct subcmd subs[] = {
	{ "add", dataset_add, "add PATH... [--name NAME] [-m MSG]", 0 },
	{ "checkout", dataset_checkout, "checkout REV [--to DIR] [--force]", 0 },
	{ "diff", dataset_diff, "diff REV [REV]", 0 },
	{ "list", dataset_list, "list", 0 },
	{ "log", dataset_log, "log NAME", 0 },
	{ "rm", dataset_rm, "rm REV", 0 },
	{ "show", dataset_show, "show REV [--files]", 0 },
	{ "stats", cmd_dataset_stats, "stats REV|FILE [--path PATH] [--html FILE]", SUB_NO_REPO },
	{ "status", dataset_status, "status [--exit-code]", 0 },
};

int cmd_dataset(int argc, char **argv)
{
	return cmd_dispatch(argc, argv, subs, sizeof(subs) / sizeof(subs[0]), NULL);
}
