/*
 * chunk.h - content-defined chunking (FastCDC with normalised chunking).
 *
 * Cut points depend only on the bytes near them, so inserting or editing
 * bytes in the middle of a file changes only the chunks around the edit,
 * and appending changes only the last chunk.  Sizes:
 *
 *   minimum 128 KiB, average 512 KiB, maximum 2 MiB
 *
 * chosen so that a 2 GiB file is ~4,000 objects (per-object costs stay
 * small next to hashing), while a mid-file edit re-stores about 1.5 MiB
 * before compression.  The gear table is fixed (SplitMix64 from a constant
 * seed): changing it or the sizes would change every id, so they are part
 * of the store format.
 */
#ifndef MLOPS_CHUNK_H
#define MLOPS_CHUNK_H

#include <stddef.h>

#define MLOPS_CHUNK_MIN (128u * 1024u)
#define MLOPS_CHUNK_AVG (512u * 1024u)
#define MLOPS_CHUNK_MAX (2u * 1024u * 1024u)

/*
 * The length of the chunk that starts at data, given `len` bytes remain
 * (the end of the file is a cut point).  Returns len when len is at most
 * the minimum size.
 */
size_t mlops_chunk_next(const unsigned char *data, size_t len);

#endif
