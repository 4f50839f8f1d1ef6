/*
 * remote_parts.h - the parts of one key for a remote backend's put_parts,
 * shared by the backends' unit tests: sizes[i] bytes of blob, back to back,
 * with one part that can be made to fail as a local read would.
 *
 * Header-only (static functions): each tests/unit/test_*.c is its own
 * program.  Include after <cmocka.h>.
 */
#ifndef MLOPS_REMOTE_PARTS_H
#define MLOPS_REMOTE_PARTS_H

#include <stddef.h>

#include "store/error.h"
#include "store/remote.h"

struct parts {
	const unsigned char *blob;
	const size_t *sizes;
	size_t off;
	size_t fail_at; /* this part fails (SIZE_MAX: none) with fail_code */
	int fail_code;
	size_t calls;
};

/* put_parts' callback: parts in order, once each; the failing one says "unable to read object I". */
static int next_part(void *payload, size_t i, struct mlops_remote_part *out)
{
	struct parts *p = payload;
	assert_int_equal(i, p->calls);
	p->calls++;
	if (i == p->fail_at)
		return mlops_error_set(p->fail_code, "unable to read object %zu: Input/output error", i);
	*out = (struct mlops_remote_part){ p->blob + p->off, p->sizes[i] };
	p->off += p->sizes[i];
	return 0;
}

#endif
