/*
 * pullnew.h - the paths a pull or a checkout is making, or was making when
 * it stopped.
 *
 * A pull's early checkout lists in .mlops/pull-new the tracked paths it is
 * creating, and the folders it creates for them, before it creates any,
 * and removes the file when it ends (mlops_half_made_write/_remove).
 * `mlops checkout` and `mlops dataset checkout` list the paths they are
 * about to create, replace or remove likewise (mlops_half_made_begin),
 * and take them off once whole (mlops_half_made_end): a checkout that
 * fails leaves the paths it did not finish listed.  While one runs it
 * holds an flock() on the file, which the kernel drops when the process
 * ends, however it ends: a reader tells the paths of a running pull or
 * checkout (being made now: status says so, checkout, dataset add and
 * another pull leave them alone, MLOPS_ELOCKED) from those of one that was
 * killed or failed.  Those are half made: their content is part of a
 * recorded version, or a mix of two, or a temporary file, not a change of
 * the user's.  Status reports such a path as interrupted, checkout makes
 * it again (mlops_half_made_clear first), dataset add refuses to record
 * it; the next pull removes and remakes them all.
 */
#ifndef MLOPS_PULLNEW_H
#define MLOPS_PULLNEW_H

#include <stddef.h>

struct mlops_repo;

struct mlops_half_made {
	char **paths;  /* tracked paths, as mlops.lock names them */
	size_t npaths;
	char **dirs;   /* folders made for them, parents first, without the final '/' */
	size_t ndirs;
	size_t dropped; /* paths taken off since the load */
	int found;      /* the file was there and read */
	int running;    /* a pull or checkout that is running holds it: the paths are being made */
	int mine;       /* this process wrote it and holds it (mlops_half_made_begin) */
};

/* .mlops/pull-new (caller frees); NULL when out of memory. */
char *mlops_half_made_file(const struct mlops_repo *repo);

/*
 * Read .mlops/pull-new into *out (free with mlops_half_made_free).  No
 * file, or one that cannot be read or parsed, is an empty list: a pull
 * ignores such a file too.  Entries that are not valid tracked paths are
 * skipped.  Fails only when out of memory.
 */
int mlops_half_made_load(struct mlops_half_made *out, struct mlops_repo *repo);
void mlops_half_made_free(struct mlops_half_made *hm);

/*
 * Whether tracked path `path` is half made by a stopped pull or checkout: the listed
 * path that `path` is or lies inside, or with `holding` also one that lies
 * inside `path` (so that recording `path` would record part of it); NULL
 * when none.  Borrowed from hm.
 */
const char *mlops_half_made_path(const struct mlops_half_made *hm, const char *path, int holding);

/*
 * Refuse to touch `path` while a pull or checkout is making it, a path
 * inside it or the path it lies inside (mlops_half_made_path with
 * `holding`): MLOPS_ELOCKED when that one is running; when it stopped,
 * only with `record` (recording it would make a version of data cut
 * short; a checkout makes it again) and MLOPS_ECONFLICT.  Else 0.  The
 * message names both paths.
 */
int mlops_half_made_refuse(const struct mlops_half_made *hm, const char *path, int record);

/*
 * Take `path` off the list once it is whole again, or gone (in hm only; a
 * path not listed is fine).
 */
void mlops_half_made_drop(struct mlops_half_made *hm, const char *path);

/*
 * Write .mlops/pull-new (synced), the one writer of the file: a JSON array
 * of the tracked paths, then of the folders made for them (parents first,
 * each with a final '/', which older versions skip as no tracked path).
 * With no path the file is removed instead.  With `hold` (a running pull)
 * the file is locked before it appears, and *hold gets the descriptor that
 * holds the lock (-1 when the file system has no locks) until
 * mlops_half_made_remove.
 */
int mlops_half_made_write(struct mlops_repo *repo, const char *const *paths, size_t npaths,
			  const char *const *dirs, size_t ndirs, int *hold);

/*
 * Remove .mlops/pull-new, then release the lock *hold holds, if any (hold
 * may be NULL): a reader never sees the file unlocked before it goes.
 */
void mlops_half_made_remove(struct mlops_repo *repo, int *hold);

/*
 * After paths were dropped, write hm back to .mlops/pull-new
 * (mlops_half_made_write): the paths left and the folders above them.
 * Nothing is written when none was dropped.
 */
int mlops_half_made_save(struct mlops_repo *repo, const struct mlops_half_made *hm);

/*
 * Append to (*dirs, *ndirs) the folders above work-tree path rel that do
 * not exist and are not listed yet, parents first: the ones a checkout of
 * rel makes, and removes again when it fails or is stopped.
 */
int mlops_half_made_add_parents(char ***dirs, size_t *ndirs, struct mlops_repo *repo,
				const char *rel);

/*
 * A checkout's start, before it writes anything: add `paths` (tracked
 * paths it is about to create, replace or remove) and the folders above
 * them that do not exist to hm (as loaded; the paths a stopped pull or
 * checkout left stay listed) and write .mlops/pull-new, locked: *hold
 * holds the lock (-1 when the file system has none) until
 * mlops_half_made_end.  MLOPS_ELOCKED when a pull or checkout that is
 * running holds the file.  With no path nothing is written.
 */
int mlops_half_made_begin(struct mlops_half_made *hm, struct mlops_repo *repo,
			  const char *const *paths, size_t npaths, int *hold);

/*
 * A checkout's end, whether it succeeded or failed: after what it made
 * whole was dropped, write the paths left (unlocked; the file goes when
 * none is), then release *hold.  A file another process replaced
 * meanwhile is left alone.  Without a begin, mlops_half_made_save.
 */
int mlops_half_made_end(struct mlops_half_made *hm, struct mlops_repo *repo, int *hold);

/*
 * Remove half-made tracked path `path` of the work tree before it is made
 * again (never through a link), and the temporary files a killed checkout
 * left beside it (".NAME.mlops-XXXXXX"; those inside a folder go with it).
 */
int mlops_half_made_clear(struct mlops_repo *repo, const char *path);

/*
 * Make folder abs_dir and the folders above it that are missing
 * (mlops_mkdir_p), the first of those registered, before it exists, for
 * removal with all it will hold should a signal stop the checkout
 * (mlops_tempdir_register).  *made is that folder, for the caller to
 * forget (mlops_tempfile_forget) and free once the checkout of what goes
 * in it ended; NULL when none was missing.
 */
int mlops_checkout_mkdir(char **made, const char *abs_dir);

#endif
