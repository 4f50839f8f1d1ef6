/*
 * lockfile.h - mlops.lock: which version of each tracked path, dataset,
 * feature set and model this commit uses.
 *
 * The file is canonical JSON with a stable layout: sections in key order,
 * entries in key order, each entry on one line, so that a change to one
 * entry is a one-line diff and merges are readable:
 *
 *   {
 *     "paths": {
 *       "data/train.csv": {"dataset":"train","id":"...","kind":"blob",...},
 *       "data/images": {...}
 *     },
 *     "version": 1
 *   }
 */
#ifndef MLOPS_LOCKFILE_H
#define MLOPS_LOCKFILE_H

#include <cjson/cJSON.h>

struct mlops_repo;

struct mlops_lockfile {
	cJSON *root; /* the parsed file; sections are objects in it */
	char *path;
};

/* Load <workdir>/mlops.lock (a missing file is an empty lock). */
int mlops_lockfile_load(struct mlops_lockfile **out, struct mlops_repo *repo);

/*
 * 1 when `path` may be a tracked path (a key of the "paths" section or a
 * dataset entry): relative, made of '/'-separated components that are
 * neither empty, "." nor ".." nor .git (in any case, as git refuses it),
 * not inside .mlops and not mlops.lock itself; 0 otherwise.  A lock file comes with the repository, so its
 * paths must not name anything outside the work tree.
 */
int mlops_tracked_path_valid(const char *path);

/*
 * Parse lock text (from a file or a git blob); name is for messages.
 * MLOPS_EINVALID when it is not a lock file, when a section is not an
 * object, or when a key of "paths" is not a valid tracked path.
 */
int mlops_lockfile_parse(cJSON **out, const char *text, size_t len, const char *name);

/* The section object (created when missing); borrowed. */
cJSON *mlops_lockfile_section(struct mlops_lockfile *lf, const char *section);

/* Render a parsed lock in the canonical layout; *out is the caller's. */
int mlops_lockfile_render(char **out, cJSON *root);

/* Write the lock atomically (only when its text changed). */
int mlops_lockfile_save(struct mlops_lockfile *lf, struct mlops_repo *repo);

/* Write an empty lock when none exists. */
int mlops_lockfile_init(struct mlops_repo *repo, int *created);

void mlops_lockfile_free(struct mlops_lockfile *lf);

#endif
