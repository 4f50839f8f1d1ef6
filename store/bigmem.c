/*
 * bigmem.c - zeroed memory for large tables (see bigmem.h).
 */
#include "bigmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE ((size_t)1 << 21)

static size_t mapped_size(size_t size)
{
	return (size + HUGE - 1) & ~(HUGE - 1);
}

void *mlops_bigmem_alloc(size_t size)
{
	if (size < MLOPS_BIGMEM_MIN)
		return calloc(1, size ? size : 1);
	size_t len = mapped_size(size);
	if (len < size)
		return NULL;
	/* Map one huge page more, then cut the mapping down to an aligned one. */
	unsigned char *p = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t at = ((uintptr_t)p + HUGE - 1) & ~(uintptr_t)(HUGE - 1);
	size_t head = at - (uintptr_t)p;
	if (head)
		munmap(p, head);
	if (HUGE - head)
		munmap((unsigned char *)at + len, HUGE - head);
	/* Advice only: without transparent huge pages the table is still good. */
	(void)madvise((void *)at, len, MADV_HUGEPAGE);
	return (void *)at;
}

void mlops_bigmem_free(void *p, size_t size)
{
	if (!p)
		return;
	if (size < MLOPS_BIGMEM_MIN)
		free(p);
	else
		munmap(p, mapped_size(size));
}
