/*
 * refs.h - names -> object ids, with a log of every change, and the
 * repository lock.
 *
 * A ref is a file .mlops/refs/<name> holding 64 hex digits and a newline;
 * names are slash-separated ("datasets/train/v3").  Every change appends a
 * line to .mlops/logs/<name>: "<old> <new> <epoch> <author>\t<message>".
 *
 * Lock order and protocol: a ref changes only while the repository lock
 * (.mlops/lock, created with O_CREAT|O_EXCL, holding "pid host") is held;
 * the new value is written to tmp/, fsynced and renamed over the ref, then
 * the directory is synced.  Objects are synced before (odb.h), so a ref
 * never names a missing object.  A lock left by a dead process on this host
 * is removed (under an flock() on lock.guard, so two processes never both
 * take over) and a warning says so; one held by a live process, or by a
 * process on another host, is waited for, then reported as busy with how
 * to clear it.
 */
#ifndef MLOPS_REFS_H
#define MLOPS_REFS_H

#include <stddef.h>

#include "oid.h"

struct mlops_repo;
struct mlops_lock;

/* Valid ref names: components of [A-Za-z0-9._-], no "..", no leading '.'. */
int mlops_ref_name_valid(const char *name);

/*
 * Take the repository lock, waiting up to timeout_ms for a live holder
 * (negative: core.lockTimeout from config, default 10000 ms).
 * MLOPS_ELOCKED with a message naming the holder and the lock file.
 */
int mlops_lock_acquire(struct mlops_lock **out, struct mlops_repo *repo, int timeout_ms);
void mlops_lock_release(struct mlops_lock *lock);

/* Who holds the lock: 0 none, 1 held (pid in *pid, alive in *alive). */
int mlops_lock_status(struct mlops_repo *repo, long *pid, int *alive);

/* Read a ref; MLOPS_ENOTFOUND when it does not exist. */
int mlops_ref_read(mlops_oid *out, struct mlops_repo *repo, const char *name);

/*
 * Write a ref (the caller holds the lock).  With `expected` non-NULL the
 * update happens only if the ref currently holds that id (a zero id means
 * "must not exist"), else MLOPS_ECONFLICT.
 */
int mlops_ref_write(struct mlops_repo *repo, const char *name, const mlops_oid *id,
		    const mlops_oid *expected, const char *message);

/* Delete a ref (caller holds the lock); logged with a zero new id. */
int mlops_ref_delete(struct mlops_repo *repo, const char *name, const char *message);

/*
 * The names of refs directly below `dir` ("datasets" -> "train", "test"),
 * sorted; *out is an array of *n strings, freed with mlops_strlist_free.
 * Sub-directories are listed with a trailing '/'.  An absent dir is empty.
 */
int mlops_ref_list(char ***out, size_t *n, struct mlops_repo *repo, const char *dir);

/* Every ref name below dir, recursively (for gc, fsck, push). */
int mlops_ref_list_all(char ***out, size_t *n, struct mlops_repo *repo, const char *dir);

/*
 * The names of the logs directly below `dir`, as mlops_ref_list: every ref
 * ever written there, deleted ones included (a log outlives its ref).
 */
int mlops_reflog_list(char ***out, size_t *n, struct mlops_repo *repo, const char *dir);

void mlops_strlist_free(char **list, size_t n);

/* One line of a ref's log. */
struct mlops_reflog_entry {
	mlops_oid old_id, new_id;
	long long time;
	char *author;
	char *message;
};

/* Read a ref's log, oldest first; free with mlops_reflog_free. */
int mlops_reflog_read(struct mlops_reflog_entry **out, size_t *n, struct mlops_repo *repo,
		      const char *name);
void mlops_reflog_free(struct mlops_reflog_entry *e, size_t n);

#endif
