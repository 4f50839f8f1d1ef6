/*
 * gitsync.h - keeping tracked data in step with git: the lock file at any
 * commit, restoring the work tree to a lock, and the three-way merge of
 * lock files used by the merge driver.
 */
#ifndef MLOPS_GITSYNC_H
#define MLOPS_GITSYNC_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct mlops_repo;

/*
 * Parse mlops.lock as it is in git at `rev` (a commit-ish: HEAD, a branch,
 * a tag, an id).  A commit without mlops.lock gives an empty lock.
 * MLOPS_ENOTFOUND when rev does not name a commit.
 */
int mlops_lock_at_commit(cJSON **out, struct mlops_repo *repo, const char *rev);

/* What restoring did to one path. */
enum mlops_restore_action {
	MLOPS_RESTORE_UNCHANGED,  /* already as the lock says */
	MLOPS_RESTORE_WRITTEN,    /* written from the store */
	MLOPS_RESTORE_KEPT,       /* left alone: unrecorded changes (no force) */
	MLOPS_RESTORE_MISSING,    /* objects not in the local store */
	MLOPS_RESTORE_REMOVED,    /* removed: tracked in prev, not in the lock */
};

struct mlops_restore_item {
	char *path;
	enum mlops_restore_action action;
};

struct mlops_restore {
	struct mlops_restore_item *items;
	size_t count;
	size_t kept, missing, written, removed;
};

/*
 * Make the work tree match `lock` (a parsed lock file): every path in its
 * "paths" section is checked out from the store unless it already matches.
 * A path whose content differs from both `lock` and `prev` (the lock the
 * work tree was last in step with; NULL: the lock file in the work tree)
 * and that no dataset version records has unrecorded changes and is kept
 * unless `force` (content a version records is in the store: replacing it
 * loses nothing, as for a pull).  Paths tracked in prev but not in lock
 * are removed when they still match prev or a version records them.  Objects missing
 * from the store are reported, not fatal.  With write_lock, mlops.lock in
 * the work tree is replaced by `lock`.
 */
int mlops_restore_lock(struct mlops_restore *out, struct mlops_repo *repo, cJSON *lock,
		       cJSON *prev, int force, int write_lock);
void mlops_restore_free(struct mlops_restore *r);

/*
 * Three-way merge of lock files (text in, text out).  Entries changed on
 * one side only merge cleanly; an entry changed differently on both sides
 * is a conflict: *out then holds the merged file with conflict markers
 * around that entry, and *conflicts the number of conflicts, with a message
 * naming both versions of the first one in *message (caller frees).
 * MLOPS_EINVALID when a side is not a lock file.
 */
int mlops_lock_merge(char **out, size_t *conflicts, char **message, const char *base,
		     const char *ours, const char *theirs);

#endif
