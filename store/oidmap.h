/*
 * oidmap.h - a hash map from object ids to a 64-bit value, for the sets
 * that walks and transfers keep (visited objects, what a remote holds).
 *
 * Open addressing with linear probing on the id's first bytes (already
 * uniformly distributed: they are SHA-256 output), at most half full.  Not thread-safe: the
 * caller serialises access.
 */
#ifndef MLOPS_OIDMAP_H
#define MLOPS_OIDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "oid.h"

struct mlops_oidmap;

/* A new, empty map (*out is the caller's; mlops_oidmap_free). */
int mlops_oidmap_new(struct mlops_oidmap **out);
void mlops_oidmap_free(struct mlops_oidmap *m);

/*
 * Find or insert id.  *val (optional) points at its value (0 for a new
 * entry), valid until the next insertion.  Returns 1 when id was added, 0
 * when it was there, MLOPS_ERROR when out of memory.
 */
int mlops_oidmap_put(struct mlops_oidmap *m, const mlops_oid *id, uint64_t **val);

/* The value's address, or NULL when id is absent (valid until the next put). */
uint64_t *mlops_oidmap_get(const struct mlops_oidmap *m, const mlops_oid *id);

size_t mlops_oidmap_count(const struct mlops_oidmap *m);

/* Make room for n ids in all, so that adding them moves nothing.  MLOPS_ERROR when out of memory. */
int mlops_oidmap_reserve(struct mlops_oidmap *m, size_t n);

/* Call cb for every entry (in no particular order); a non-zero return stops. */
int mlops_oidmap_foreach(const struct mlops_oidmap *m,
			 int (*cb)(const mlops_oid *id, uint64_t *val, void *payload), void *payload);

#endif
