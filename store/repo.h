/*
 * repo.h - an mlops repository: the git work tree, its `.mlops/` folder,
 * the object store and the layered configuration.
 *
 * Layout of .mlops/:
 *   config      settings in git-config syntax (kept in git)
 *   .gitignore  keeps everything else out of git
 *   format      the store's format version, "1\n" (format.h)
 *   objects/    the content-addressed store (odb.h)
 *   refs/       names -> object ids (refs.h); logs/ their history
 *   index       the stat cache (index.h)
 *   tmp/        partial writes, renamed into place when complete
 *   lock        the repository lock, held only while refs change
 *
 * The store's format version is in .mlops/format (format.h), not in git:
 * opening or initialising a repository whose store is newer than this
 * build fails with MLOPS_EFORMAT before anything is read or written.
 *
 * Configuration layers, lowest first: ~/.config/mlops/config (or
 * $XDG_CONFIG_HOME/mlops/config), .mlops/config, then the file named by
 * $MLOPS_CONFIG.  Writes go to .mlops/config.
 */
#ifndef MLOPS_REPO_H
#define MLOPS_REPO_H

#include "dl_git2.h"

struct mlops_odb;

struct mlops_repo {
	char *workdir;          /* work tree root, no trailing slash */
	char *dir;              /* <workdir>/.mlops */
	char *tmpdir;           /* <dir>/tmp */
	git_repository *git;    /* opened on first use: call mlops_repo_git() */
	git_config *config;     /* loaded on first use: call mlops_repo_config() */
	struct mlops_odb *odb;  /* the object store */
	unsigned format;        /* .mlops/format; 0 for a store made before it */
};

/*
 * libgit2 is started, and the git repository and the configuration are
 * opened, only when first needed: its start-up (TLS certificates) costs
 * more than a whole read-only command.  Both return NULL with the error set
 * when opening fails; the result is borrowed.
 */
git_repository *mlops_repo_git(struct mlops_repo *repo);

/*
 * Start libgit2 (once).  Code that calls libgit2 other than through
 * mlops_repo_git()/mlops_repo_config() must make sure it has run; main()
 * runs it for every command but the few that are fast without it.
 */
void mlops_git_init(void);
git_config *mlops_repo_config(struct mlops_repo *repo);

/*
 * Create (or find) the repository for `path`: find the git work tree at or
 * above path, creating a git repository at path when there is none, then
 * create .mlops/ and its parts where missing.  A new store (no objects/
 * yet, as in a fresh clone) gets .mlops/format with the format this build
 * writes; an existing one without it stays format 0.  *created tells
 * whether anything was created.  MLOPS_EFORMAT, before anything is
 * created, when an existing store is newer than this build, MLOPS_EINVALID
 * when .mlops/format is malformed.  The result is the caller's
 * (mlops_repo_free).
 */
int mlops_repo_init(struct mlops_repo **out, const char *path, int *created);

/*
 * Open the repository whose work tree holds `path`.  MLOPS_ENOREPO when
 * there is no git work tree or it has no .mlops/; MLOPS_EFORMAT when its
 * store is newer than this build, MLOPS_EINVALID when .mlops/format is
 * malformed (format.h).
 */
int mlops_repo_open(struct mlops_repo **out, const char *path);

void mlops_repo_free(struct mlops_repo *repo);

/* A newly allocated "<dir>/<rel>" (NULL on no memory). */
char *mlops_repo_path(const struct mlops_repo *repo, const char *rel);

/*
 * Configuration.  get_string: *out is the caller's; MLOPS_ENOTFOUND when
 * the key is not set.  get_int/get_bool/get_double fall back to `dflt` when
 * unset and fail with MLOPS_EINVALID on a malformed value.
 */
int mlops_config_get_string(char **out, struct mlops_repo *repo, const char *key);
int mlops_config_get_int(long long *out, struct mlops_repo *repo, const char *key, long long dflt);
int mlops_config_get_bool(int *out, struct mlops_repo *repo, const char *key, int dflt);
int mlops_config_get_double(double *out, struct mlops_repo *repo, const char *key, double dflt);
int mlops_config_set_string(struct mlops_repo *repo, const char *key, const char *value);
int mlops_config_delete(struct mlops_repo *repo, const char *key);

/* Set the error from libgit2's last error, prefixed with `what`. */
int mlops_git_error(int code, const char *what);

/*
 * A failed write of .mlops/config through libgit2: MLOPS_EIO with "unable
 * to write '.mlops/config': <reason>", the reason in the system's words
 * (libgit2's "failed to create locked file '...config.lock': Permission
 * denied" becomes "Permission denied").
 */
int mlops_config_write_error(void);

/* The user's name and email from git config ("A U Thor <a@b>"); caller frees. */
char *mlops_repo_author(struct mlops_repo *repo);

#endif
