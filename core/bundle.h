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
 * then moved into the store, then the refs written).
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
 * Export `rev` (a dataset revision, or a ref name such as
 * "datasets/train/v3") to file (written under a temporary name, then
 * renamed).  MLOPS_ENOTFOUND for an unknown revision or a missing object.
 */
int mlops_bundle_export(struct mlops_bundle_result **out, struct mlops_repo *repo,
			const char *rev, const char *file);

/*
 * Import a bundle.  MLOPS_EINVALID (nothing written) for a malformed or
 * unsafe archive, MLOPS_ECORRUPT when an object does not match its id.
 */
int mlops_bundle_import(struct mlops_bundle_result **out, struct mlops_repo *repo,
			const char *file);

#endif
