/*
 * bundle.h - bundles: one version (a record, everything it references and
 * its ref) in a .tar.gz, to move by hand where no remote reaches.
 *
 * Layout: MANIFEST.json first ({"type":"bundle","format":1,
 * "refs":{"<name>":"<id>"},"objects":[{"id","size"}...]}), then one
 * regular file objects/<64 hex> per object holding its content.  Import
 * accepts nothing else: no other names, no "..", no absolute paths, no
 * links or devices, no size that disagrees with the manifest, no content
 * that does not hash to its name; and it writes nothing until the whole
 * bundle has been read and checked (objects are staged in .mlops/tmp,
 * then moved into the store, then the refs written and, for a model
 * version, its registry tag created).
 */
#ifndef MLOPS_BUNDLE_H
#define MLOPS_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "store/oid.h"

struct mlops_repo;

struct mlops_bundle_ref {
	char *name;       /* as in the bundle */
	char *new_name;   /* as written (renumbered when the number was taken) */
	mlops_oid id;
	int existed;      /* import: the store had this version under new_name already */
};

struct mlops_bundle_result {
	struct mlops_bundle_ref *refs;
	size_t nrefs;
	size_t objects;   /* objects in the bundle */
	size_t added;     /* of which new to the store (import) */
	uint64_t bytes;   /* content bytes */
};

void mlops_bundle_result_free(struct mlops_bundle_result *res);

/*
 * Export `rev` (a dataset revision, a model revision NAME@vX.Y.Z or
 * NAME#stage, a run r-<prefix>, or a ref name such as "datasets/train/v3")
 * to file (written under a temporary name, then renamed; "-" is standard
 * output, written as it goes).  MLOPS_ENOTFOUND for an unknown revision,
 * a well-formed version ref that names none, or a missing object;
 * MLOPS_EUSAGE for a ref that is not a version; MLOPS_EIO when file is a
 * directory (said before anything is written).
 */
int mlops_bundle_export(struct mlops_bundle_result **out, struct mlops_repo *repo,
			const char *rev, const char *file);

/*
 * Import a bundle (file "-": standard input).  A model version is also
 * registered: its git tag NAME@vX.Y.Z is created (registry.h).
 * MLOPS_EINVALID (nothing written) for a malformed or unsafe archive, a
 * manifest with text after it or a key twice, or one of a newer format;
 * MLOPS_ECORRUPT when an object does not match its id; MLOPS_ECONFLICT
 * when a model version or run is another record here; MLOPS_ENOTFOUND for
 * a model version and no commit to tag; MLOPS_EIO when file is a
 * directory or cannot be read.
 */
int mlops_bundle_import(struct mlops_bundle_result **out, struct mlops_repo *repo,
			const char *file);

#endif
