/*
 * repo.c - finding, creating and opening an mlops repository, and its
 * layered configuration (see repo.h).
 */
#include "repo.h"
#include "error.h"
#include "format.h"
#include "fsutil.h"
#include "odb.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char gitignore_text[] =
	"# Everything in .mlops/ but the configuration stays out of git.\n"
	"/*\n"
	"!/config\n"
	"!/.gitignore\n";

static const char config_text[] =
	"# mlops configuration (git-config syntax); see mlops(1).\n"
	"[core]\n"
	"\tcompression = zstd\n";

int mlops_git_error(int code, const char *what)
{
	const git_error *e = git_error_last();
	return mlops_error_set(code, "%s: %s", what, e && e->message ? e->message : "unknown error");
}

int mlops_config_write_error(void)
{
	const git_error *e = git_error_last();
	const char *msg = e && e->message ? e->message : "unknown error", *why = strrchr(msg, ':');
	int err;
	if (why && why[1] == ' ' && why[2])
		err = mlops_error_set(MLOPS_EIO, "unable to write '.mlops/config': %s", why + 2);
	else if (strstr(msg, "config.lock"))
		err = mlops_error_set(MLOPS_ELOCKED, "unable to write '.mlops/config': '.mlops/config.lock' "
				      "exists (another process is changing it; remove it if none is)");
	else
		err = mlops_error_set(MLOPS_EIO, "unable to write '.mlops/config': %s", msg);
	git_error_clear();
	return err;
}

static void git_init_once(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, (void (*)(void))git_libgit2_init);
}

void mlops_git_init(void)
{
	git_init_once();
}

void mlops_repo_free(struct mlops_repo *repo)
{
	if (!repo)
		return;
	mlops_odb_free(repo->odb);
	/* Never opened (libgit2 not even loaded): nothing to free. */
	if (repo->config)
		git_config_free(repo->config);
	if (repo->git)
		git_repository_free(repo->git);
	free(repo->workdir);
	free(repo->dir);
	free(repo->tmpdir);
	free(repo);
}

char *mlops_repo_path(const struct mlops_repo *repo, const char *rel)
{
	return mlops_path_join(repo->dir, rel);
}

/*
 * A configuration file that does not parse: "unable to read 'FILE': why
 * (line N)", from libgit2's "failed to parse config file: why (in PATH:N)".
 */
static int config_read_error(const char *shown)
{
	const git_error *e = git_error_last();
	char why[512];
	snprintf(why, sizeof(why), "%s", e && e->message ? e->message : "unknown error");
	git_error_clear();
	static const char prefix[] = "failed to parse config file: ";
	char *text = why, *in = strstr(why, " (in "), *colon;
	long line = 0;
	if (!strncmp(text, prefix, sizeof(prefix) - 1))
		text += sizeof(prefix) - 1;
	if (in && (colon = strrchr(in, ':')) && (line = strtol(colon + 1, NULL, 10)) > 0)
		*in = '\0';
	if (line > 0)
		return mlops_error_set(MLOPS_EINVALID, "unable to read '%s': %s (line %ld)", shown, text, line);
	return mlops_error_set(MLOPS_EINVALID, "unable to read '%s': %s", shown, text);
}

/* The file a configuration level is read from, for messages. */
static const char *level_file(git_config_level_t level)
{
	const char *env = getenv("MLOPS_CONFIG");
	if (level == GIT_CONFIG_LEVEL_GLOBAL)
		return "~/.config/mlops/config";
	if (level == GIT_CONFIG_LEVEL_APP)
		return env && *env ? env : "$MLOPS_CONFIG";
	return ".mlops/config";
}

/* A value that is not what `key` takes: name the key, the value and its file. */
static int config_value_error(git_config *cfg, const char *key, const char *expected)
{
	git_config_entry *e = NULL;
	int err;
	git_error_clear();
	if (git_config_get_entry(&e, cfg, key) == 0 && e)
		err = mlops_error_set(MLOPS_EINVALID, "invalid configuration in '%s': %s is '%s'; expected %s",
				      level_file(e->level), key, e->value ? e->value : "", expected);
	else
		err = mlops_error_set(MLOPS_EINVALID, "invalid configuration: %s; expected %s", key, expected);
	git_config_entry_free(e);
	git_error_clear();
	return err;
}

static int open_config(struct mlops_repo *repo)
{
	git_config *cfg = NULL;
	char *local = mlops_repo_path(repo, "config"), *user = NULL;
	int err = 0;
	if (!local)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (git_config_new(&cfg) < 0) {
		err = mlops_git_error(MLOPS_ERROR, "unable to create configuration");
		goto done;
	}
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if (xdg && *xdg)
		user = mlops_strdupf("%s/mlops/config", xdg);
	else if (home && *home)
		user = mlops_strdupf("%s/.config/mlops/config", home);
	struct stat st;
	if (user && stat(user, &st) == 0 &&
	    git_config_add_file_ondisk(cfg, user, GIT_CONFIG_LEVEL_GLOBAL, NULL, 0) < 0) {
		err = config_read_error(user);
		goto done;
	}
	if (git_config_add_file_ondisk(cfg, local, GIT_CONFIG_LEVEL_LOCAL, NULL, 0) < 0) {
		err = config_read_error(".mlops/config");
		goto done;
	}
	const char *env = getenv("MLOPS_CONFIG");
	if (env && *env && git_config_add_file_ondisk(cfg, env, GIT_CONFIG_LEVEL_APP, NULL, 0) < 0) {
		err = config_read_error(env);
		goto done;
	}
	repo->config = cfg;
	cfg = NULL;
done:
	git_config_free(cfg);
	free(local);
	free(user);
	return err;
}

/*
 * The store's write settings (codec, level, fsync) from the configuration.
 * Called by the odb before its first write, so commands that only read
 * never load the configuration (or libgit2).
 */
static int configure_odb(void *payload)
{
	struct mlops_repo *repo = payload;
	int err = 0;
	char *codec = NULL;
	long long level;
	int fsync_on = 1;
	enum mlops_codec c = MLOPS_CODEC_ZSTD;
	if (mlops_config_get_string(&codec, repo, "core.compression") == 0) {
		c = !strcmp(codec, "zlib") ? MLOPS_CODEC_ZLIB :
		    !strcmp(codec, "none") ? MLOPS_CODEC_NONE : MLOPS_CODEC_ZSTD;
		if (strcmp(codec, "zlib") && strcmp(codec, "none") && strcmp(codec, "zstd")) {
			err = mlops_error_set(MLOPS_EINVALID,
					      "core.compression is '%s'; expected zstd, zlib or none", codec);
			free(codec);
			return err;
		}
		free(codec);
	}
	mlops_error_clear();
	/* The level applies with or without core.compression set. */
	if ((err = mlops_config_get_int(&level, repo, "core.compressionLevel",
					c == MLOPS_CODEC_ZLIB ? 6 : MLOPS_ZSTD_LEVEL)) < 0)
		return err;
	mlops_odb_set_codec(repo->odb, c, (int)level);
	if ((err = mlops_config_get_bool(&fsync_on, repo, "core.fsync", 1)) < 0)
		return err;
	mlops_odb_set_fsync(repo->odb, fsync_on);
	long long pack_after;
	if ((err = mlops_config_get_int(&pack_after, repo, "core.packAfter", 256)) < 0)
		return err;
	mlops_odb_set_pack_after(repo->odb, (long)pack_after);
	return 0;
}

static int setup_odb(struct mlops_repo *repo)
{
	char *objects = mlops_repo_path(repo, "objects");
	int err;
	if (!objects)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	err = mlops_odb_open(&repo->odb, objects, repo->tmpdir);
	free(objects);
	if (err < 0)
		return err;
	mlops_odb_set_configure(repo->odb, configure_odb, repo);
	return 0;
}

static int finish_open(struct mlops_repo *repo)
{
	repo->tmpdir = mlops_repo_path(repo, "tmp");
	if (!repo->tmpdir)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	return setup_odb(repo);
}

git_repository *mlops_repo_git(struct mlops_repo *repo)
{
	if (!repo->git) {
		git_init_once();
		if (git_repository_open(&repo->git, repo->workdir) < 0) {
			mlops_git_error(MLOPS_ERROR, "unable to open the git repository");
			repo->git = NULL;
		}
	}
	return repo->git;
}

git_config *mlops_repo_config(struct mlops_repo *repo)
{
	if (!repo->config) {
		git_init_once();
		if (open_config(repo) < 0)
			return NULL;
	}
	return repo->config;
}

/*
 * Find the work tree without libgit2 (whose start-up costs more than the
 * rest of a read-only command): the nearest directory at or above abs
 * holding ".git".  Returns 1 when found, 0 when git's environment asks for
 * libgit2's own discovery, MLOPS_ENOREPO when there is none.
 */
static int quick_discover(struct mlops_repo *repo, const char *abs)
{
	static const char *const env[] = {
		"GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM",
		"GIT_COMMON_DIR", NULL,
	};
	for (size_t i = 0; env[i]; i++)
		if (getenv(env[i]))
			return 0;
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", abs);
	for (;;) {
		char probe[PATH_MAX + 8];
		struct stat st;
		snprintf(probe, sizeof(probe), "%s/.git", strcmp(dir, "/") ? dir : "");
		if (lstat(probe, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) {
			repo->workdir = strdup(dir);
			repo->dir = repo->workdir ? mlops_path_join(repo->workdir, ".mlops") : NULL;
			return repo->dir ? 1 : mlops_error_set(MLOPS_ERROR, "out of memory");
		}
		char *slash = strrchr(dir, '/');
		if (!slash || !strcmp(dir, "/"))
			return mlops_error_set(MLOPS_ENOREPO,
					       "not in an mlops repository (or any parent up to /)");
		if (slash == dir)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
}

/*
 * Make `dir` the work tree of repo->git.  libgit2 (1.5) leaks its path
 * when the work tree is already that one: it is then left alone.
 */
static int set_workdir(git_repository *git, const char *dir)
{
	char abs[PATH_MAX];
	const char *cur = git_repository_workdir(git);
	if (cur && realpath(dir, abs)) {
		size_t l = strlen(abs), lc = strlen(cur);
		if (lc && cur[lc - 1] == '/')
			lc--;
		if (l == lc && !strncmp(abs, cur, l))
			return 0;
	}
	if (git_repository_set_workdir(git, dir, 0) < 0)
		return mlops_git_error(MLOPS_ENOREPO, "GIT_WORK_TREE is not a work tree");
	return 0;
}

/*
 * With GIT_DIR set, git's environment names the repository: open it as git
 * does (GIT_DIR, GIT_CEILING_DIRECTORIES, GIT_OBJECT_DIRECTORY... through
 * libgit2's GIT_REPOSITORY_OPEN_FROM_ENV).  The work tree is GIT_WORK_TREE,
 * else core.worktree, else, as git takes it, the current directory.
 * Returns 0, or MLOPS_ENOREPO when GIT_DIR is not a git repository.
 */
static int open_git_env(struct mlops_repo *repo, const char *git_dir)
{
	/*
	 * libgit2 (1.5) refuses GIT_WORK_TREE ("unimplemented") in this mode:
	 * it is hidden for the call (the process has no other thread yet) and
	 * applied after.
	 */
	const char *env_wt = getenv("GIT_WORK_TREE");
	char *wt = env_wt ? strdup(env_wt) : NULL, cwd[PATH_MAX];
	int err = 0;
	if (env_wt && !wt)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (wt)
		unsetenv("GIT_WORK_TREE");
	int rc = git_repository_open_ext(&repo->git, NULL, GIT_REPOSITORY_OPEN_FROM_ENV, NULL);
	if (wt)
		setenv("GIT_WORK_TREE", wt, 1);
	if (rc < 0) {
		repo->git = NULL;
		git_error_clear();
		err = mlops_error_set(MLOPS_ENOTFOUND, "GIT_DIR is '%s', which is not a git repository",
				      git_dir);
		goto done;
	}
	const char *dir = wt;
	if (!wt || !*wt) {
		git_config *cfg = NULL;
		git_buf buf = { 0 };
		int has = git_repository_config_snapshot(&cfg, repo->git) == 0 &&
			  git_config_get_string_buf(&buf, cfg, "core.worktree") == 0;
		git_buf_dispose(&buf);
		git_config_free(cfg);
		git_error_clear();
		if (has || !git_repository_workdir(repo->git))
			goto done;
		if (!getcwd(cwd, sizeof(cwd))) {
			err = mlops_error_sys(errno, "unable to read the current directory");
			goto done;
		}
		dir = cwd;
	}
	err = set_workdir(repo->git, dir);
done:
	free(wt);
	return err;
}

static int discover(struct mlops_repo *repo, const char *path, int create)
{
	char abs[PATH_MAX];
	int quick;
	if (!realpath(path, abs)) {
		if (errno == ENOENT && create) {
			int err = mlops_mkdir_p(path);
			if (err < 0)
				return err;
			if (!realpath(path, abs))
				return mlops_error_sys(errno, "unable to resolve '%s'", path);
		} else {
			return mlops_error_sys(errno, "unable to resolve '%s'", path);
		}
	}
	if (!create && (quick = quick_discover(repo, abs)) != 0)
		return quick < 0 ? quick : 0;
	git_init_once();
	const char *git_dir = getenv("GIT_DIR"), *ceiling = getenv("GIT_CEILING_DIRECTORIES");
	const char *cross = getenv("GIT_DISCOVERY_ACROSS_FILESYSTEM");
	int err;
	if (git_dir && *git_dir) {
		/* Never a repository of our own beside the one git's environment names. */
		if ((err = open_git_env(repo, git_dir)) < 0)
			return err;
	} else {
		unsigned flags = cross && (!strcasecmp(cross, "true") || !strcasecmp(cross, "yes") ||
					   !strcmp(cross, "1")) ? GIT_REPOSITORY_OPEN_CROSS_FS : 0;
		int rc = git_repository_open_ext(&repo->git, abs, flags, ceiling);
		if (rc == GIT_ENOTFOUND) {
			repo->git = NULL;
			git_error_clear();
			if (!create)
				return mlops_error_set(MLOPS_ENOREPO,
						       "not in an mlops repository (or any parent up to /)");
			if (git_repository_init(&repo->git, abs, 0) < 0)
				return mlops_git_error(MLOPS_EIO, "unable to create a git repository");
		} else if (rc < 0) {
			repo->git = NULL;
			return mlops_git_error(MLOPS_ERROR, "unable to open the git repository");
		}
		const char *wt = getenv("GIT_WORK_TREE");
		if (wt && *wt && (err = set_workdir(repo->git, wt)) < 0)
			return err;
	}
	const char *wd = git_repository_workdir(repo->git);
	if (!wd)
		return mlops_error_set(MLOPS_ENOREPO, "'%s' is in a bare git repository; "
				       "mlops needs a work tree", abs);
	repo->workdir = strdup(wd);
	if (!repo->workdir)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	size_t l = strlen(repo->workdir);
	if (l > 1 && repo->workdir[l - 1] == '/')
		repo->workdir[l - 1] = '\0';
	repo->dir = mlops_path_join(repo->workdir, ".mlops");
	return repo->dir ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
}

static int make_store(struct mlops_repo *repo, int *created);

/* 1 when the store has its objects/, 0 when not (a fresh clone's .mlops/). */
static int store_is_set_up(struct mlops_repo *repo)
{
	char *objects = mlops_repo_path(repo, "objects");
	struct stat st;
	if (!objects)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int r = stat(objects, &st) == 0;
	free(objects);
	return r;
}

int mlops_repo_open(struct mlops_repo **out, const char *path)
{
	struct mlops_repo *repo = calloc(1, sizeof(*repo));
	struct stat st;
	int err;
	*out = NULL;
	if (!repo)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((err = discover(repo, path, 0)) < 0)
		goto fail;
	if (stat(repo->dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		err = mlops_error_set(MLOPS_ENOREPO, "not in an mlops repository: '%s' has no .mlops/",
				      repo->workdir);
		goto fail;
	}
	if ((err = mlops_format_read(&repo->format, repo->dir)) < 0)
		goto fail;
	/*
	 * A fresh git clone brings .mlops/ with its configuration only: the
	 * first command finishes the store as mlops init would, so that a
	 * clone can pull (or add, or push) at once.
	 */
	/* Not where it cannot be written (a read-only mount): reading needs no more. */
	if ((err = store_is_set_up(repo)) == 0 && access(repo->dir, W_OK) == 0) {
		int created = 0;
		err = make_store(repo, &created);
	}
	if (err < 0)
		goto fail;
	if ((err = finish_open(repo)) < 0)
		goto fail;
	*out = repo;
	return 0;
fail:
	mlops_repo_free(repo);
	return err;
}

static int ensure_file(const char *path, const char *text, const char *tmpdir, int *created)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return 0;
	*created = 1;
	return mlops_write_file_atomic(path, text, strlen(text), tmpdir, 1);
}

/* Write .mlops/format when it is missing: the store is format 1 from now. */
static int ensure_format(struct mlops_repo *repo, const char *tmpdir, int *created)
{
	char *path = mlops_repo_path(repo, MLOPS_FORMAT_FILE);
	struct stat st;
	int err = 0;
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (stat(path, &st) < 0) {
		if ((err = mlops_format_write(repo->dir, tmpdir)) == 0) {
			*created = 1;
			repo->format = MLOPS_FORMAT_VERSION;
		}
	}
	free(path);
	return err;
}

/*
 * Create the parts of the store at repo->dir that are missing, as init
 * does: tmp/, .gitignore, the format of a new store, objects/, refs/,
 * logs/, config.  *created is set when anything was made.
 */
static int make_store(struct mlops_repo *repo, int *created)
{
	static const char *const subdirs[] = { "objects", "refs", "logs" };
	char *tmp = mlops_repo_path(repo, "tmp"), *objects = mlops_repo_path(repo, "objects");
	char *gi = mlops_repo_path(repo, ".gitignore"), *cf = mlops_repo_path(repo, "config");
	struct stat st;
	int err;
	if (!tmp || !objects || !gi || !cf) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if (stat(repo->dir, &st) < 0)
		*created = 1;
	/*
	 * A store is new when it has no objects/ yet: a new .mlops/, or the
	 * one a git clone brings (config and .gitignore only).  Its format is
	 * written after the .gitignore that keeps it out of git and before
	 * objects/, so that no store this build made lacks it.  An existing
	 * store without it (format 0) is used as it is: init adds nothing.
	 */
	int new_store = stat(objects, &st) < 0;
	if (stat(tmp, &st) < 0)
		*created = 1;
	if ((err = mlops_mkdir_p(tmp)) < 0 ||
	    (err = ensure_file(gi, gitignore_text, tmp, created)) < 0 ||
	    (new_store && (err = ensure_format(repo, tmp, created)) < 0))
		goto done;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char *p = mlops_repo_path(repo, subdirs[i]);
		if (!p) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		if (stat(p, &st) < 0)
			*created = 1;
		err = mlops_mkdir_p(p);
		free(p);
		if (err < 0)
			goto done;
	}
	err = ensure_file(cf, config_text, tmp, created);
done:
	free(tmp);
	free(objects);
	free(gi);
	free(cf);
	return err;
}

int mlops_repo_init(struct mlops_repo **out, const char *path, int *created)
{
	struct mlops_repo *repo = calloc(1, sizeof(*repo));
	int err;
	*out = NULL;
	*created = 0;
	if (!repo)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	git_init_once();
	if ((err = discover(repo, path, 1)) < 0)
		goto fail;
	/* An existing store newer than this build is left as it is. */
	if ((err = mlops_format_read(&repo->format, repo->dir)) < 0)
		goto fail;
	if ((err = make_store(repo, created)) < 0)
		goto fail;
	if ((err = finish_open(repo)) < 0)
		goto fail;
	*out = repo;
	return 0;
fail:
	mlops_repo_free(repo);
	return err;
}

int mlops_config_get_string(char **out, struct mlops_repo *repo, const char *key)
{
	git_buf buf = { 0 };
	*out = NULL;
	git_config *cfg = mlops_repo_config(repo);
	if (!cfg)
		return MLOPS_EINVALID;
	int rc = git_config_get_string_buf(&buf, cfg, key);
	if (rc == GIT_ENOTFOUND) {
		git_error_clear();
		return mlops_error_set(MLOPS_ENOTFOUND, "configuration '%s' is not set", key);
	}
	if (rc < 0)
		return mlops_git_error(MLOPS_EINVALID, key);
	*out = strdup(buf.ptr ? buf.ptr : "");
	git_buf_dispose(&buf);
	return *out ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
}

int mlops_config_get_int(long long *out, struct mlops_repo *repo, const char *key, long long dflt)
{
	int64_t v;
	git_config *cfg = mlops_repo_config(repo);
	if (!cfg)
		return MLOPS_EINVALID;
	int rc = git_config_get_int64(&v, cfg, key);
	if (rc == GIT_ENOTFOUND) {
		git_error_clear();
		*out = dflt;
		return 0;
	}
	if (rc < 0)
		return config_value_error(cfg, key, "an integer");
	*out = v;
	return 0;
}

int mlops_config_get_bool(int *out, struct mlops_repo *repo, const char *key, int dflt)
{
	git_config *cfg = mlops_repo_config(repo);
	if (!cfg)
		return MLOPS_EINVALID;
	int rc = git_config_get_bool(out, cfg, key);
	if (rc == GIT_ENOTFOUND) {
		git_error_clear();
		*out = dflt;
		return 0;
	}
	if (rc < 0)
		return config_value_error(cfg, key, "true or false");
	return 0;
}

int mlops_config_get_double(double *out, struct mlops_repo *repo, const char *key, double dflt)
{
	char *s = NULL, *end;
	int err = mlops_config_get_string(&s, repo, key);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		*out = dflt;
		return 0;
	}
	if (err < 0)
		return err;
	*out = strtod(s, &end);
	if (end == s || *end) {
		err = mlops_error_set(MLOPS_EINVALID, "configuration '%s' is '%s'; expected a number",
				      key, s);
	}
	free(s);
	return err;
}

static int local_config(git_config **out, struct mlops_repo *repo)
{
	git_config *cfg = mlops_repo_config(repo);
	if (!cfg)
		return MLOPS_EINVALID;
	if (git_config_open_level(out, cfg, GIT_CONFIG_LEVEL_LOCAL) < 0)
		return mlops_git_error(MLOPS_EIO, "unable to open '.mlops/config'");
	return 0;
}

int mlops_config_set_string(struct mlops_repo *repo, const char *key, const char *value)
{
	git_config *local;
	int err = local_config(&local, repo);
	if (err < 0)
		return err;
	if (git_config_set_string(local, key, value) < 0)
		err = mlops_config_write_error();
	git_config_free(local);
	return err;
}

int mlops_config_delete(struct mlops_repo *repo, const char *key)
{
	git_config *local;
	int err = local_config(&local, repo);
	if (err < 0)
		return err;
	int rc = git_config_delete_entry(local, key);
	if (rc == GIT_ENOTFOUND) {
		git_error_clear();
		err = mlops_error_set(MLOPS_ENOTFOUND, "configuration '%s' is not set", key);
	} else if (rc < 0) {
		err = mlops_config_write_error();
	}
	git_config_free(local);
	return err;
}

char *mlops_repo_author(struct mlops_repo *repo)
{
	git_config *cfg = NULL;
	git_buf name = { 0 }, email = { 0 };
	char *out = NULL;
	const char *en = getenv("GIT_AUTHOR_NAME"), *ee = getenv("GIT_AUTHOR_EMAIL");
	if (en && ee)
		return mlops_strdupf("%s <%s>", en, ee);
	if (mlops_repo_git(repo) && git_repository_config_snapshot(&cfg, repo->git) == 0) {
		git_config_get_string_buf(&name, cfg, "user.name");
		git_config_get_string_buf(&email, cfg, "user.email");
		git_error_clear();
	}
	const char *user = getenv("USER");
	out = mlops_strdupf("%s <%s>", name.ptr ? name.ptr : (user ? user : "unknown"),
			    email.ptr ? email.ptr : "");
	git_buf_dispose(&name);
	git_buf_dispose(&email);
	git_config_free(cfg);
	return out;
}
