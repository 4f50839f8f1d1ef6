/*
 * hooks.c - `mlops hooks install|uninstall|run`: git hooks that keep
 * tracked data in step with code, chained after hooks that were there
 * before, and the merge driver for mlops.lock.
 *
 * An installed hook is a small sh script that runs the hook it replaced
 * (kept as NAME.mlops-chained), stops with that hook's status if it failed,
 * then runs `mlops hooks run NAME ARGS...`.  Every hook exits 0 outside an
 * mlops repository.
 */
#include "cmd.h"
#include "builtins.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dataset.h"
#include "core/gitsync.h"
#include "core/lockfile.h"
#include "store/fsutil.h"
#include "store/odb.h"
#include "store/repo.h"
#include "store/tree.h"

#define MARKER "installed by 'mlops hooks install'"

static const char *const all_hooks[] = {
	"post-checkout", "post-merge", "post-rewrite", "pre-commit", "pre-push", NULL,
};

static int known_hook(const char *name)
{
	for (size_t i = 0; all_hooks[i]; i++)
		if (!strcmp(all_hooks[i], name))
			return 1;
	return 0;
}

/* The hooks directory: core.hooksPath (relative to the work tree) or .git/hooks. */
static int hooks_dir(char **out, struct mlops_repo *repo)
{
	git_config *cfg = NULL;
	git_buf buf = { 0 };
	*out = NULL;
	if (git_repository_config_snapshot(&cfg, mlops_repo_git(repo)) == 0 &&
	    git_config_get_string_buf(&buf, cfg, "core.hooksPath") == 0 && buf.ptr && *buf.ptr) {
		*out = buf.ptr[0] == '/' ? strdup(buf.ptr) : mlops_path_join(repo->workdir, buf.ptr);
	} else {
		git_error_clear();
		*out = mlops_path_join(git_repository_commondir(mlops_repo_git(repo)), "hooks");
	}
	git_buf_dispose(&buf);
	git_config_free(cfg);
	if (!*out)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	return mlops_mkdir_p(*out);
}

/* The binary's path for a single-quoted shell word: each ' becomes '\''. */
static void shell_quote_path(char *out, size_t size, const char *path)
{
	size_t o = 0;
	for (const char *p = path; *p && o + 5 < size; p++) {
		if (*p == '\'') {
			memcpy(out + o, "'\\''", 4);
			o += 4;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

static char *hook_script(const char *name)
{
	char path[PATH_MAX], exe[4 * PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	shell_quote_path(exe, sizeof(exe), path);
	int with_stdin = !strcmp(name, "pre-push") || !strcmp(name, "post-rewrite");
	return mlops_strdupf(
		"#!/bin/sh\n"
		"# %s: keeps tracked data in step with git.\n"
		"# 'mlops hooks uninstall' removes it and restores the hook it chained.\n"
		"MLOPS=${MLOPS:-'%s'}\n"
		"command -v \"$MLOPS\" >/dev/null 2>&1 || MLOPS=mlops\n"
		"chained=\"$(dirname \"$0\")/%s.mlops-chained\"\n"
		"%s"
		"if [ -x \"$chained\" ]; then\n"
		"\t\"$chained\" \"$@\"%s || { status=$?; %sexit $status; }\n"
		"fi\n"
		"command -v \"$MLOPS\" >/dev/null 2>&1 || { %sexit 0; }\n"
		"\"$MLOPS\" hooks run %s \"$@\"%s\n"
		"status=$?\n"
		"%s"
		"exit $status\n",
		MARKER, *exe ? exe : "mlops", name,
		with_stdin ? "input=$(mktemp) || exit 1\ncat >\"$input\"\n" : "",
		with_stdin ? " <\"$input\"" : "", with_stdin ? "rm -f \"$input\"; " : "",
		with_stdin ? "rm -f \"$input\"; " : "", name, with_stdin ? " <\"$input\"" : "",
		with_stdin ? "rm -f \"$input\"\n" : "");
}

static int is_ours(const char *path)
{
	char *text = NULL;
	if (mlops_read_file(&text, NULL, path) < 0) {
		mlops_error_clear();
		return 0;
	}
	int ours = strstr(text, MARKER) != NULL;
	free(text);
	return ours;
}

static int write_exec(const char *path, const char *text)
{
	char *dir = strdup(path);
	if (!dir)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	*strrchr(dir, '/') = '\0';
	int err = mlops_write_file_atomic(path, text, strlen(text), dir, 0);
	free(dir);
	if (err == 0 && chmod(path, 0777 & ~mlops_umask()) < 0)
		err = mlops_error_sys(errno, "unable to make '%s' executable", path);
	return err;
}

/* The line of text that is exactly `line` (borrowed), or NULL. */
static char *find_line(char *text, const char *line)
{
	size_t len = strlen(line);
	for (char *at = text; at && (at = strstr(at, line)); at++)
		if ((at == text || at[-1] == '\n') && (at[len] == '\n' || at[len] == '\0'))
			return at;
	return NULL;
}

static int set_merge_driver(struct mlops_repo *repo, int install)
{
	git_config *cfg = NULL, *local = NULL;
	int err = 0;
	if (git_repository_config(&cfg, mlops_repo_git(repo)) < 0 ||
	    git_config_open_level(&local, cfg, GIT_CONFIG_LEVEL_LOCAL) < 0) {
		err = mlops_git_error(MLOPS_EIO, "unable to open .git/config");
		goto done;
	}
	if (install) {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = '\0';
		char *driver = mlops_strdupf("'%s' merge-lock %%O %%A %%B", *exe ? exe : "mlops");
		if (!driver ||
		    git_config_set_string(local, "merge.mlops-lock.name", "mlops.lock merge driver") < 0 ||
		    git_config_set_string(local, "merge.mlops-lock.driver", driver) < 0)
			err = mlops_git_error(MLOPS_EIO, "unable to write .git/config");
		free(driver);
	} else {
		git_config_delete_entry(local, "merge.mlops-lock.name");
		git_config_delete_entry(local, "merge.mlops-lock.driver");
		git_error_clear();
	}
	if (err)
		goto done;
	/*
	 * .gitattributes: mlops.lock through the driver, and .gitignore merged
	 * as the union of both sides (datasets added on two branches each
	 * append a line there: a conflict git would otherwise stop at), once.
	 */
	static const char *const lines[] = { "mlops.lock merge=mlops-lock", ".gitignore merge=union" };
	char *path = mlops_path_join(repo->workdir, ".gitattributes"), *text = NULL;
	if (!path) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if (mlops_read_file(&text, NULL, path) < 0)
		mlops_error_clear();
	int changed = 0;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]) && err == 0; i++) {
		char *at = find_line(text, lines[i]), *nt = NULL;
		if (install && !at)
			nt = mlops_strdupf("%s%s%s\n", text ? text : "",
					   text && *text && text[strlen(text) - 1] != '\n' ? "\n" : "",
					   lines[i]);
		else if (!install && at) {
			char *end = at + strlen(lines[i]);
			if (*end == '\n')
				end++;
			nt = mlops_strdupf("%.*s%s", (int)(at - text), text, end);
		} else {
			continue;
		}
		if (!nt)
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		free(text);
		text = nt;
		changed = 1;
	}
	if (err == 0 && changed && !install && !*text) {
		/* Our lines were all it held: it was made for them. */
		if (unlink(path) < 0 && errno != ENOENT)
			err = mlops_error_sys(errno, "unable to remove '%s'", path);
	} else if (err == 0 && changed) {
		err = mlops_write_file_atomic(path, text, strlen(text), repo->tmpdir, 0);
	}
	free(text);
	free(path);
done:
	git_config_free(local);
	git_config_free(cfg);
	return err;
}

static const char precommit_yaml[] =
	"  - repo: local\n"
	"    hooks:\n"
	"      - id: mlops-recorded\n"
	"        name: mlops (tracked data recorded)\n"
	"        entry: mlops hooks run pre-commit\n"
	"        language: system\n"
	"        pass_filenames: false\n"
	"        always_run: true\n"
	"        stages: [pre-commit]\n"
	"      - id: mlops-push\n"
	"        name: mlops (push objects)\n"
	"        entry: mlops hooks run pre-push\n"
	"        language: system\n"
	"        pass_filenames: false\n"
	"        always_run: true\n"
	"        stages: [pre-push]\n"
	"      - id: mlops-restore\n"
	"        name: mlops (restore tracked data)\n"
	"        entry: mlops checkout\n"
	"        language: system\n"
	"        pass_filenames: false\n"
	"        always_run: true\n"
	"        stages: [post-checkout, post-merge, post-rewrite]\n";

/* *action: "wrote", "appended" or "unchanged" (static strings). */
static int install_precommit_framework(struct mlops_repo *repo, const char **action)
{
	char *path = mlops_path_join(repo->workdir, ".pre-commit-config.yaml"), *text = NULL;
	int err = 0;
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (mlops_read_file(&text, NULL, path) < 0)
		mlops_error_clear();
	*action = "unchanged";
	if (text && strstr(text, "mlops hooks run")) {
		if (!g_opts.quiet && !g_opts.json)
			printf(".pre-commit-config.yaml already has the mlops hooks\n");
	} else {
		char *nt = text ? mlops_strdupf("%s%s%s", text,
						*text && text[strlen(text) - 1] != '\n' ? "\n" : "",
						precommit_yaml) :
				  mlops_strdupf("repos:\n%s", precommit_yaml);
		err = nt ? mlops_write_file_atomic(path, nt, strlen(nt), repo->tmpdir, 0) :
			   mlops_error_set(MLOPS_ERROR, "out of memory");
		free(nt);
		if (err == 0)
			*action = text ? "appended" : "wrote";
		if (err == 0 && !g_opts.quiet && !g_opts.json)
			printf("%s .pre-commit-config.yaml: mlops-recorded, mlops-push, mlops-restore\n"
			       "hint: run 'pre-commit install --hook-type pre-commit --hook-type pre-push "
			       "--hook-type post-checkout --hook-type post-merge --hook-type post-rewrite'\n",
			       text ? "appended to" : "wrote");
	}
	free(text);
	free(path);
	return err;
}

/* ---- install / uninstall --------------------------------------------- */

static int add_hook_json(cJSON *list, const char *name, const char *action)
{
	cJSON *h = cJSON_CreateObject();
	if (!h || !cJSON_AddStringToObject(h, "name", name) ||
	    !cJSON_AddStringToObject(h, "action", action)) {
		cJSON_Delete(h);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	cJSON_AddItemToArray(list, h);
	return 0;
}

/*
 * The end of install and uninstall: the error, or with --json the object
 * {"dir", "hooks": [...], "merge_driver": set or not}.  Frees the rest.
 */
static int finish(int err, cJSON *json, char *dir, struct mlops_repo *repo, int merge_driver)
{
	if (err == 0 && json && (!cJSON_AddStringToObject(json, "dir", dir) ||
				 !cJSON_AddBoolToObject(json, "merge_driver", merge_driver)))
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	free(dir);
	mlops_repo_free(repo);
	if (err < 0) {
		cJSON_Delete(json);
		return cmd_fail(err, NULL);
	}
	return json ? cmd_print_json(json) : 0;
}

static const char *const install_usage[] = {
	"hooks install [--hook NAME]... [--force] [--pre-commit-framework]", NULL,
};

static int hooks_install(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hook", required_argument, NULL, 'k' },
		{ "force", no_argument, NULL, 'f' },
		{ "pre-commit-framework", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *chosen[8];
	size_t nchosen = 0;
	int c, force = 0, framework = 0;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (!known_hook(optarg))
				return cmd_die(MLOPS_EXIT_USAGE, "'%s' is not a hook mlops provides "
					       "(post-checkout, post-merge, post-rewrite, pre-commit, pre-push)", optarg);
			if (nchosen < 8)
				chosen[nchosen++] = optarg;
			break;
		case 'f': force = 1; break;
		case 'p': framework = 1; break;
		default: return cmd_usage(install_usage, c == 'h');
		}
	}
	if ((c = cmd_check_args(argc, argv, 0, 0, install_usage)) >= 0)
		return c;
	if (!nchosen)
		for (; all_hooks[nchosen]; nchosen++)
			chosen[nchosen] = all_hooks[nchosen];

	struct mlops_repo *repo;
	int err = mlops_repo_open(&repo, ".");
	if (err < 0)
		return cmd_fail(err, err == MLOPS_ENOREPO ? "run 'mlops init' to create one" : NULL);
	if (framework) {
		const char *action = NULL;
		err = install_precommit_framework(repo, &action);
		if (err == 0)
			err = set_merge_driver(repo, 1);
		mlops_repo_free(repo);
		if (err < 0)
			return cmd_fail(err, NULL);
		if (!g_opts.json)
			return 0;
		cJSON *o = cJSON_CreateObject();
		if (!cJSON_AddStringToObject(o, "file", ".pre-commit-config.yaml") ||
		    !cJSON_AddStringToObject(o, "action", action) ||
		    !cJSON_AddBoolToObject(o, "merge_driver", 1)) {
			cJSON_Delete(o);
			o = NULL; /* cmd_print_json says out of memory */
		}
		return cmd_print_json(o);
	}
	char *dir = NULL;
	cJSON *json = g_opts.json ? cJSON_CreateObject() : NULL;
	cJSON *list = json ? cJSON_AddArrayToObject(json, "hooks") : NULL;
	if (g_opts.json && !list) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if ((err = hooks_dir(&dir, repo)) < 0)
		goto done;
	for (size_t i = 0; i < nchosen && err == 0; i++) {
		char *path = mlops_path_join(dir, chosen[i]);
		char *chained = mlops_strdupf("%s/%s.mlops-chained", dir, chosen[i]);
		char *script = hook_script(chosen[i]);
		const char *what = "installed", *action = "installed";
		struct stat st;
		if (!path || !chained || !script) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		} else if (lstat(path, &st) == 0 && !is_ours(path)) {
			if (force) {
				char *backup = mlops_strdupf("%s/%s.mlops-backup", dir, chosen[i]);
				if (!backup || rename(path, backup) < 0)
					err = mlops_error_sys(errno, "unable to move '%s' aside", path);
				free(backup);
				what = "installed (the old hook is kept as .mlops-backup, not run)";
				action = "replaced";
			} else if (lstat(chained, &st) == 0) {
				err = mlops_error_set(MLOPS_ECONFLICT,
					"'%s' is not ours and '%s' exists already; use --force", path, chained);
			} else if (rename(path, chained) < 0) {
				err = mlops_error_sys(errno, "unable to move '%s' aside", path);
			} else {
				what = "installed (chained after the existing hook)";
				action = "chained";
			}
		}
		if (err == 0)
			err = write_exec(path, script);
		if (err == 0 && list)
			err = add_hook_json(list, chosen[i], action);
		if (err == 0 && !g_opts.quiet && !g_opts.json)
			printf("%s: %s\n", chosen[i], what);
		free(path);
		free(chained);
		free(script);
	}
	if (err == 0)
		err = set_merge_driver(repo, 1);
	if (err == 0 && !g_opts.quiet && !g_opts.json)
		printf("merge driver for mlops.lock: set in .git/config and .gitattributes "
		       "(.gitignore merged as a union)\n");
done:
	return finish(err, json, dir, repo, 1);
}

static const char *const uninstall_usage[] = { "hooks uninstall", NULL };

static int hooks_uninstall(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	cmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1)
		return cmd_usage(uninstall_usage, c == 'h');
	if ((c = cmd_check_args(argc, argv, 0, 0, uninstall_usage)) >= 0)
		return c;
	struct mlops_repo *repo;
	int err = mlops_repo_open(&repo, ".");
	if (err < 0)
		return cmd_fail(err, NULL);
	char *dir = NULL;
	cJSON *json = g_opts.json ? cJSON_CreateObject() : NULL;
	cJSON *list = json ? cJSON_AddArrayToObject(json, "hooks") : NULL;
	if (g_opts.json && !list) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if ((err = hooks_dir(&dir, repo)) < 0)
		goto done;
	for (size_t i = 0; all_hooks[i] && err == 0; i++) {
		char *path = mlops_path_join(dir, all_hooks[i]);
		char *chained = mlops_strdupf("%s/%s.mlops-chained", dir, all_hooks[i]);
		char *backup = mlops_strdupf("%s/%s.mlops-backup", dir, all_hooks[i]);
		const char *action = NULL;
		struct stat st;
		if (!path || !chained || !backup) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		} else if (is_ours(path)) {
			/*
			 * The hook ours replaced: the one --force set aside
			 * (it was in place last), else the one ours chained.
			 */
			const char *previous = lstat(backup, &st) == 0 ? backup :
					       lstat(chained, &st) == 0 ? chained : NULL;
			if (previous) {
				if (rename(previous, path) < 0)
					err = mlops_error_sys(errno, "unable to restore '%s'", path);
				else
					action = "restored";
			} else if (unlink(path) < 0) {
				err = mlops_error_sys(errno, "unable to remove '%s'", path);
			} else {
				action = "removed";
			}
		}
		if (err == 0 && action && list)
			err = add_hook_json(list, all_hooks[i], action);
		if (err == 0 && action && !g_opts.quiet && !g_opts.json)
			printf("%s: %s\n", all_hooks[i], !strcmp(action, "restored") ?
			       "removed, the previous hook restored" : "removed");
		free(path);
		free(chained);
		free(backup);
	}
	if (err == 0)
		err = set_merge_driver(repo, 0);
done:
	return finish(err, json, dir, repo, 0);
}

/* ---- run -------------------------------------------------------------- */

static int rebase_in_progress(struct mlops_repo *repo)
{
	const char *gitdir = git_repository_path(mlops_repo_git(repo));
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s/rebase-merge", gitdir);
	if (stat(p, &st) == 0)
		return 1;
	snprintf(p, sizeof(p), "%s/rebase-apply", gitdir);
	return stat(p, &st) == 0;
}

static int restore_after(struct mlops_repo *repo, const char *prev_rev, const char *hook)
{
	struct mlops_lockfile *lf = NULL;
	cJSON *prev = NULL;
	struct mlops_restore r;
	int err;
	if (prev_rev && strspn(prev_rev, "0") != strlen(prev_rev) &&
	    mlops_lock_at_commit(&prev, repo, prev_rev) < 0)
		mlops_error_clear();
	if ((err = mlops_lockfile_load(&lf, repo)) < 0)
		goto done;
	if (!prev && !(prev = cJSON_Duplicate(lf->root, 1))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if ((err = mlops_restore_lock(&r, repo, lf->root, prev, 0, 0)) < 0)
		goto done;
	for (size_t i = 0; i < r.count; i++) {
		const struct mlops_restore_item *it = &r.items[i];
		if (it->action == MLOPS_RESTORE_WRITTEN)
			fprintf(stderr, "mlops: %s: restored '%s'\n", hook, it->path);
		else if (it->action == MLOPS_RESTORE_REMOVED)
			fprintf(stderr, "mlops: %s: removed '%s' (not tracked here)\n", hook, it->path);
		else if (it->action == MLOPS_RESTORE_KEPT)
			fprintf(stderr, "mlops: %s: kept '%s': it has unrecorded changes "
				"(mlops checkout --force discards them)\n", hook, it->path);
		else if (it->action == MLOPS_RESTORE_MISSING)
			fprintf(stderr, "mlops: %s: '%s' is not in the local store; run 'mlops pull'\n",
				hook, it->path);
	}
	mlops_restore_free(&r);
done:
	cJSON_Delete(prev);
	mlops_lockfile_free(lf);
	return err;
}

/*
 * The first object the lock names that is not in the store: a node's id
 * (an object with a "kind"), and every other value that prints as an id
 * (an entry's "record", a feature set's "spec", what later entries add);
 * "dataset" holds a name, which may look like one.  1 with missing, field
 * and entry set, else 0.
 */
struct lock_missing {
	char id[MLOPS_OID_HEXSZ + 1];
	const char *field, *entry;
};

static int lock_value_missing(struct lock_missing *m, const cJSON *v, const char *field,
			      const char *entry, struct mlops_odb *odb)
{
	mlops_oid id;
	const cJSON *c;
	if (cJSON_IsString(v) && strcmp(field, "dataset") &&
	    mlops_oid_parse_printed(&id, v->valuestring) && !mlops_odb_exists(odb, &id)) {
		mlops_oid_fmt(m->id, &id);
		m->field = field;
		m->entry = entry;
		return 1;
	}
	if (cJSON_IsObject(v) && cJSON_GetObjectItemCaseSensitive(v, "kind")) {
		struct mlops_node node;
		if (mlops_node_from_json(&node, v) == 0 && !mlops_odb_exists(odb, &node.id)) {
			mlops_oid_fmt(m->id, &node.id);
			m->field = "id";
			m->entry = entry;
			return 1;
		}
		mlops_error_clear();
	}
	cJSON_ArrayForEach(c, v)
		if (lock_value_missing(m, c, c->string ? c->string : field, entry, odb))
			return 1;
	return 0;
}

static int lock_missing_object(struct lock_missing *m, const cJSON *lock, struct mlops_odb *odb)
{
	const cJSON *sec, *e;
	cJSON_ArrayForEach(sec, lock)
		cJSON_ArrayForEach(e, sec)
			if (lock_value_missing(m, e, e->string, e->string, odb))
				return 1;
	return 0;
}

static int pre_commit(struct mlops_repo *repo)
{
	git_index *index = NULL;
	int err = 0;
	/* 1. The staged mlops.lock parses and names objects we have. */
	if (git_repository_index(&index, mlops_repo_git(repo)) == 0) {
		const git_index_entry *e = git_index_get_bypath(index, "mlops.lock", 0);
		git_blob *blob = NULL;
		if (e && git_blob_lookup(&blob, mlops_repo_git(repo), &e->id) == 0) {
			cJSON *lock = NULL;
			err = mlops_lockfile_parse(&lock, git_blob_rawcontent(blob),
						   (size_t)git_blob_rawsize(blob), "staged mlops.lock");
			struct lock_missing m;
			if (err == 0 && lock_missing_object(&m, lock, repo->odb))
				err = mlops_error_set(MLOPS_ECONFLICT,
					"the staged mlops.lock names object %.12s ('%s' of '%s'), "
					"which is not in the store", m.id, m.field, m.entry);
			cJSON_Delete(lock);
		}
		git_blob_free(blob);
		git_index_free(index);
	}
	git_error_clear();
	if (err < 0)
		return err;
	/* 2. Tracked data is recorded. */
	struct mlops_path_status *st;
	size_t n;
	if ((err = mlops_dataset_status(&st, &n, repo)) < 0)
		return err;
	for (size_t i = 0; i < n && err == 0; i++) {
		if (st[i].state == MLOPS_PATH_MODIFIED)
			err = mlops_error_set(MLOPS_ECONFLICT,
				"tracked data '%s' changed but is not recorded; "
				"run 'mlops dataset add %s' (or commit with --no-verify)", st[i].path, st[i].path);
		/* Content another version records: the lock is what is committed. */
		else if (st[i].state == MLOPS_PATH_OUTDATED)
			fprintf(stderr, "mlops: warning: '%s' is out of date: mlops.lock says %s@v%ld; "
				"run '%s'\n", st[i].path, st[i].dataset, st[i].version,
				st[i].stored ? "mlops checkout" : "mlops pull");
		else if (st[i].state == MLOPS_PATH_INTERRUPTED)
			fprintf(stderr, "mlops: warning: '%s' is half made by a checkout or pull that "
				"stopped; run '%s'\n", st[i].path,
				st[i].stored ? "mlops checkout" : "mlops pull");
		else if (st[i].state == MLOPS_PATH_PULLING)
			fprintf(stderr, "mlops: warning: '%s' is being made by a checkout or pull that "
				"is running\n", st[i].path);
	}
	mlops_path_status_free(st, n);
	return err;
}

static int pre_push(struct mlops_repo *repo)
{
	char *remote = NULL;
	if (mlops_config_get_string(&remote, repo, "core.remote") < 0) {
		mlops_error_clear();
		return 0; /* no default remote: nothing to push to */
	}
	free(remote);
	if (!cmd_lookup("push"))
		return 0;
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return mlops_error_sys(errno, "unable to find the mlops binary");
	exe[n] = '\0';
	fflush(stdout);
	char *args[] = { exe, "push", NULL };
	execvp(exe, args);
	return mlops_error_sys(errno, "unable to run 'mlops push'");
}

static const char *const run_usage[] = { "hooks run NAME [ARGS...]", NULL };

static int hooks_run(int argc, char **argv)
{
	if (argc < 2)
		return cmd_usage_error(run_usage, "missing NAME");
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))
		return cmd_usage(run_usage, 1);
	const char *hook = argv[1];
	if (!known_hook(hook))
		return cmd_die(MLOPS_EXIT_USAGE, "'%s' is not a hook mlops provides", hook);
	struct mlops_repo *repo;
	int err = mlops_repo_open(&repo, ".");
	if (err == MLOPS_ENOREPO) {
		mlops_error_clear();
		return 0; /* outside an mlops repository hooks do nothing */
	}
	if (err < 0)
		return cmd_fail(err, NULL); /* a store newer than this mlops, ... */
	if (!strcmp(hook, "post-checkout")) {
		/* ARGS: previous HEAD, new HEAD, 1 for a branch switch. */
		if (argc >= 5 && !strcmp(argv[4], "1") && !rebase_in_progress(repo))
			err = restore_after(repo, argv[2], hook);
	} else if (!strcmp(hook, "post-merge")) {
		if (!rebase_in_progress(repo))
			err = restore_after(repo, "ORIG_HEAD", hook);
	} else if (!strcmp(hook, "post-rewrite")) {
		err = restore_after(repo, "ORIG_HEAD", hook);
	} else if (!strcmp(hook, "pre-commit")) {
		err = pre_commit(repo);
	} else if (!strcmp(hook, "pre-push")) {
		err = pre_push(repo);
	}
	mlops_repo_free(repo);
	if (err < 0) {
		int status = cmd_fail(err, NULL);
		return status ? status : 1;
	}
	return 0;
}

static const struct subcmd subs[] = {
	{ "install", hooks_install, "install [--hook NAME]... [--force] [--pre-commit-framework]", 0 },
	{ "run", hooks_run, "run NAME [ARGS...]", 0 },
	{ "uninstall", hooks_uninstall, "uninstall", 0 },
};

int cmd_hooks(int argc, char **argv)
{
	return cmd_dispatch(argc, argv, subs, sizeof(subs) / sizeof(subs[0]), NULL);
}
