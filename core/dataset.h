/*
 * dataset.h - versioned datasets.
 *
 * A dataset version is a record in the store:
 *   {"type":"dataset","name","version":N,"entries":[{"path", node...}],
 *    "size","files","stored","time","author","message","git_head","parent"}
 * where each entry is a work-tree path (file or directory) and the node the
 * store made of it (tree.h).  Version N of NAME is the ref
 * datasets/NAME/vN; the newest is the highest N.  Adding records the paths
 * in mlops.lock and in .gitignore.  Nothing here prints.
 */
#ifndef MLOPS_DATASET_H
#define MLOPS_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "store/oid.h"
#include "store/tree.h"

struct mlops_repo;
struct cJSON;

struct mlops_dataset_entry {
	char *path;             /* relative to the work tree */
	struct mlops_node node;
};

struct mlops_dataset_version {
	char *name;
	long version;
	mlops_oid id;           /* the record's id */
	struct mlops_dataset_entry *entries;
	size_t nentries;
	uint64_t size, files, stored;
	long long time;
	char *author, *message, *git_head;
	int has_parent;
	mlops_oid parent;
};

void mlops_dataset_version_free(struct mlops_dataset_version *v);

/*
 * Snapshot `paths` (relative to the current directory) as a new version of
 * dataset `name` (NULL: the first path's base name without extension).
 * *created is 0 when the content equals the newest version, which is then
 * returned.  Updates mlops.lock and .gitignore.
 */
int mlops_dataset_add(struct mlops_dataset_version **out, int *created,
		      struct mlops_repo *repo, const char *const *paths, size_t npaths,
		      const char *name, const char *message, struct mlops_ingest_stats *stats);

/* Resolve NAME, NAME@vN or NAME@prefix; MLOPS_ENOTFOUND / MLOPS_EAMBIGUOUS. */
int mlops_dataset_resolve(struct mlops_dataset_version **out, struct mlops_repo *repo,
			  const char *rev);

/* Load a version record by id. */
int mlops_dataset_load(struct mlops_dataset_version **out, struct mlops_repo *repo,
		       const mlops_oid *id);

/* Dataset names (sorted); free with mlops_strlist_free. */
int mlops_dataset_names(char ***out, size_t *n, struct mlops_repo *repo);

/* Version numbers of a dataset, ascending; *out is the caller's. */
int mlops_dataset_versions(long **out, size_t *n, struct mlops_repo *repo, const char *name);

/*
 * Call cb with every dataset version the refs under datasets/ name, in the
 * refs' order, each loaded once and borrowed for the call.  Versions that
 * cannot be read are skipped.  A non-zero return from cb stops the walk
 * and is returned (a negative one with its message); otherwise 0, or a
 * negative code when the refs cannot be listed.
 */
typedef int (*mlops_dataset_version_cb)(const struct mlops_dataset_version *v, void *payload);
int mlops_dataset_foreach_version(struct mlops_repo *repo, mlops_dataset_version_cb cb,
				  void *payload);

/*
 * Put into `ids` the node id of every entry of every dataset version the
 * refs name (with how it is held: link, file, executable file): the
 * content a checkout may replace without losing anything (a version
 * records it).  Versions that cannot be read are skipped.
 */
struct mlops_oidmap;
int mlops_dataset_recorded_ids(struct mlops_oidmap *ids, struct mlops_repo *repo);

/* 1 when `ids` (mlops_dataset_recorded_ids) has node as a version holds it, 0 when not. */
int mlops_dataset_recorded(const struct mlops_oidmap *ids, const struct mlops_node *node);

/* Unregister a version (its bytes go at the next gc). */
int mlops_dataset_rm(struct mlops_repo *repo, const struct mlops_dataset_version *v);

/*
 * Materialise a version: into the work tree (to_dir NULL: each entry at its
 * path, then mlops.lock records it) or below to_dir.  Into the work tree,
 * a path whose content differs from both the lock's record and the target
 * is refused (MLOPS_ECONFLICT naming it) unless force.  Below to_dir, a
 * file that differs from the version, or that the version does not have,
 * is refused likewise; to_dir "" or inside .mlops/ (but for its tmp/) or
 * .git/ is MLOPS_EUSAGE, and to_dir naming the work tree is a checkout
 * into the work tree.
 */
int mlops_dataset_checkout(struct mlops_repo *repo, const struct mlops_dataset_version *v,
			   const char *to_dir, int force, struct mlops_checkout_stats *stats);

/*
 * State of one tracked path against mlops.lock.  OUTDATED: the path differs
 * from the lock's record but holds content another dataset version records
 * (mlops_dataset_recorded), e.g. after a git pull moved mlops.lock on:
 * nothing is lost by a checkout, and adding it would record old data anew.
 * INTERRUPTED: a pull was making the path when it stopped (core/pullnew.h):
 * it is half made, not changed, and a pull or checkout makes it again.
 * PULLING: a pull that is running is making it now.
 */
enum mlops_path_state {
	MLOPS_PATH_UNCHANGED, MLOPS_PATH_MODIFIED, MLOPS_PATH_MISSING, MLOPS_PATH_OUTDATED,
	MLOPS_PATH_INTERRUPTED, MLOPS_PATH_PULLING
};

struct mlops_path_status {
	char *path;
	char *dataset;
	long version;
	enum mlops_path_state state;
	struct mlops_node recorded, current;
	int stored;     /* the recorded version's object is in the local store */
	/*
	 * OUTDATED only: the newest version holding the current content at
	 * this path, preferring the lock's dataset (held_dataset NULL when no
	 * version has it at this path).
	 */
	char *held_dataset;
	long held_version;
};

/*
 * Every path in mlops.lock with its state, sorted by path.  Dataset
 * versions are read only when some path is modified, and then once.  A
 * path a pull is making, or a stopped pull was making, is not read (it
 * is PULLING or INTERRUPTED).
 */
int mlops_dataset_status(struct mlops_path_status **out, size_t *n, struct mlops_repo *repo);
void mlops_path_status_free(struct mlops_path_status *s, size_t n);

/* One changed file in a diff. */
struct mlops_diff_file {
	char *path;
	char change;           /* 'A' added, 'D' removed, 'M' modified */
	uint64_t old_size, new_size;
	long long rows_added, rows_removed; /* CSV only, else -1 */
	char **cols_added, **cols_removed;  /* CSV only: NULL-terminated names, else NULL */
};

/*
 * Diff two versions, or (b NULL) a version against the work tree.  Files
 * are listed by path; CSV files (.csv, .tsv) that changed also get rows
 * added and removed (a multiset of rows, by content) and columns, read as
 * stats reads them (dataset_stats.h); a malformed one is MLOPS_EINVALID
 * naming its line.
 */
int mlops_dataset_diff(struct mlops_diff_file **out, size_t *n, struct mlops_repo *repo,
		       const struct mlops_dataset_version *a, const struct mlops_dataset_version *b);
void mlops_diff_free(struct mlops_diff_file *d, size_t n);

/* The version as JSON (for --json and for other records); caller owns. */
struct cJSON *mlops_dataset_version_to_json(const struct mlops_dataset_version *v, int with_files,
					    struct mlops_repo *repo);

/*
 * Add the line that names exactly the work-tree path key (anchored with
 * '/', pattern characters and trailing spaces escaped) to the work tree's
 * .gitignore, unless it is there already.  The caller holds the
 * repository lock.  MLOPS_EINVALID for a key with a line break.
 */
int mlops_gitignore_add(struct mlops_repo *repo, const char *key);

/* Open the repository's stat cache (caller frees with mlops_index_free). */
struct mlops_index;
int mlops_repo_index(struct mlops_index **out, struct mlops_repo *repo);

#endif
