/*
 * index.h - the stat cache (.mlops/index): path, size, mtime and ctime in
 * nanoseconds, inode and mode -> object id and kind, so that an unchanged
 * file is never read again.
 *
 * Racy entries (git's rule): an entry whose mtime is not clearly older than
 * the index file itself may describe a file changed within the same clock
 * tick after it was hashed, so lookup() does not trust it.
 */
#ifndef MLOPS_INDEX_H
#define MLOPS_INDEX_H

#include <stdint.h>
#include <sys/stat.h>

#include "oid.h"

struct mlops_index;

struct mlops_index_entry {
	const char *path;
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t ino;
	uint32_t mode;
	uint8_t kind;
	mlops_oid id;
};

/* Load the index at path (a missing or damaged file gives an empty index). */
int mlops_index_load(struct mlops_index **out, const char *path, const char *tmpdir);

/*
 * The entry for path when it still describes the file whose stat is `st`,
 * else NULL.  Thread-safe with put().  The result is copied into *out.
 */
int mlops_index_lookup(struct mlops_index_entry *out, struct mlops_index *idx,
		       const char *path, const struct stat *st);

/* Record (or replace) path's entry.  Thread-safe. */
int mlops_index_put(struct mlops_index *idx, const char *path, const struct stat *st,
		    const mlops_oid *id, uint8_t kind);

/* Room for `more` entries besides those held, so that putting them moves nothing. */
int mlops_index_reserve(struct mlops_index *idx, size_t more);

/* Forget path, and every entry below it when it is a directory. */
void mlops_index_remove_prefix(struct mlops_index *idx, const char *path);

/* Write the index back atomically when it changed. */
int mlops_index_save(struct mlops_index *idx);

/*
 * 0 when this process cannot write the index: its folder, or the folder of
 * its temporary file, is on a read-only file system or not writable for
 * this user (a store only read, e.g. another user's or a read-only mount);
 * else 1.  The cache is an optimisation: a reader then skips saving it.
 */
int mlops_index_writable(const struct mlops_index *idx);

void mlops_index_free(struct mlops_index *idx);

#endif
