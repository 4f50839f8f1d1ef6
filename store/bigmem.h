/*
 * bigmem.h - zeroed memory for large tables (hash maps of ids, the stat
 * cache's slots).
 *
 * A table of 50,000 entries spans a few megabytes that are filled in random
 * order, so each of its 4 KiB pages is a fault of its own; on virtual
 * machines a fault can cost 20 microseconds, more than the hashing it
 * serves.  From BIGMEM_MIN up, a table is mapped on its own, aligned to
 * 2 MiB and advised as huge pages (MADV_HUGEPAGE, used where the kernel's
 * transparent huge pages are set to "madvise" or "always"): one fault per
 * 2 MiB.  Smaller tables come from calloc.
 */
#ifndef MLOPS_BIGMEM_H
#define MLOPS_BIGMEM_H

#include <stddef.h>

#define MLOPS_BIGMEM_MIN ((size_t)1 << 21)

/* size zeroed bytes, or NULL (errno set) when out of memory. */
void *mlops_bigmem_alloc(size_t size);

/* Free what mlops_bigmem_alloc(size) returned (NULL is fine); size must be the same. */
void mlops_bigmem_free(void *p, size_t size);

#endif
