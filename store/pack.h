/*
 * pack.h - packs: many objects in one file, for remotes and the local store.
 *
 * A remote holds small objects in packs so that 50,000 small files cost a
 * few requests, not 50,000.  A pack is a pack file and an index, both
 * named by the SHA-256 of their own bytes (content-addressed, so each is
 * verified on arrival like any object):
 *
 *   packs/<P>.pack  "MLPACK01" then the stored bytes of each object, back
 *                   to back (raw, zstd or zlib, as in the local store)
 *   packs/<I>.idx   "MLIDX001", the pack id P (32 bytes), the pack's size
 *                   and the entry count (64-bit little endian), then one
 *                   56-byte entry per object sorted by id: id (32), offset
 *                   and length in the pack (64-bit LE each), codec (1),
 *                   7 zero bytes
 *
 * Listing packs/ and reading the indexes tells which objects a remote
 * holds in packs.  The index is written after the pack, so an index always
 * names a complete pack.
 *
 * Large objects (above 64 KiB) go to a directory remote in packs of up to
 * 64 MiB that are named like local packs (below): by the index, whose pack
 * id is 32 zero bytes.  Hashing such a pack whole would read every byte a
 * second time; its index is known from the objects' sizes before a byte
 * is read, and each object is verified by its own id whenever it is read.
 * Such a pack has the local format exactly, so a fetch can link it into
 * the store whole, and a push can link a local pack into a directory
 * remote whole (mlops_odb_share_pack).
 *
 * The local store (odb.h) uses the same two formats in objects/pack/, with
 * one difference: a local pack is written as its objects are stored, in
 * parallel, and is never hashed whole (that would read every byte a second
 * time), so its index holds 32 zero bytes for the pack id, and both files
 * are named by the index's id: objects/pack/<I>.pack and <I>.idx.  Every
 * object read from it is still verified by its own id, except by a
 * checkout from a sealed pack (odb.c: the index's mtime is the pack file's
 * ctime plus 1 ns, set once every object in it was verified; any change to
 * the pack file breaks it).
 */
#ifndef MLOPS_PACK_H
#define MLOPS_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "odb.h"
#include "oid.h"

#define MLOPS_PACK_MAGIC "MLPACK01"
#define MLOPS_PACK_IDX_MAGIC "MLIDX001"
#define MLOPS_PACK_HDR 8
#define MLOPS_PACK_IDX_HDR (8 + 32 + 8 + 8)
#define MLOPS_PACK_IDX_ENTRY 56

/*
 * A pack file without its index is what a writer shows between putting
 * the two (a local sync between its renames, a push between its puts: a
 * pack of large objects takes seconds): only one older than this, in
 * seconds, is taken for a crash's leftover, whatever grace period gc was
 * given (even "now").
 */
#define MLOPS_PACK_ORPHAN_AGE 3600

struct mlops_pack_entry {
	mlops_oid id;
	uint64_t offset, length;
	enum mlops_codec codec;
};

struct mlops_pack_index {
	mlops_oid id;        /* of the index itself */
	mlops_oid pack;      /* of the pack file */
	uint64_t pack_size;
	struct mlops_pack_entry *entries; /* sorted by id */
	size_t count;
	uint32_t fanout[256]; /* entries whose first id byte is <= b */
};

/*
 * Parse an index.  With `expect` non-NULL the bytes must hash to it
 * (MLOPS_ECORRUPT otherwise).  MLOPS_ECORRUPT for a malformed index: bad
 * magic, unsorted or duplicate ids, ranges outside the pack, bad codecs.
 * *out is the caller's (mlops_pack_index_free).
 */
int mlops_pack_index_parse(struct mlops_pack_index **out, const void *data, size_t len,
			   const mlops_oid *expect);

/*
 * Fill idx->fanout from idx->entries (sorted, fewer than 2^32), for an
 * index built in memory; parse does it itself.
 */
void mlops_pack_index_fanout(struct mlops_pack_index *idx);

/*
 * 1 when the objects fill the pack exactly: from the magic to its end,
 * each byte in one object and none left over (a pack whose objects are
 * all verified then needs no hash of its own).  0 for gaps, overlaps, or
 * when out of memory.
 */
int mlops_pack_index_fills(const struct mlops_pack_index *idx);
void mlops_pack_index_free(struct mlops_pack_index *idx);

/* The entry for id, or NULL (binary search; borrowed). */
const struct mlops_pack_entry *mlops_pack_index_find(const struct mlops_pack_index *idx,
						     const mlops_oid *id);

/*
 * Encode an index for `count` entries of a pack of pack_size bytes named
 * pack_id: the entries are sorted and duplicates dropped (*count is
 * updated); *out (caller frees) gets the index and *idx_id its id.
 */
int mlops_pack_index_encode(unsigned char **out, size_t *out_len, mlops_oid *idx_id,
			    const mlops_oid *pack_id, uint64_t pack_size,
			    struct mlops_pack_entry *entries, size_t *count);

/*
 * Building a pack in memory: add objects (their stored bytes and codec),
 * then finish, which sorts the index and hashes both files.
 */
struct mlops_pack_writer;
int mlops_pack_writer_new(struct mlops_pack_writer **out);
/* The same, with room for `bytes` of objects from the start. */
int mlops_pack_writer_new_sized(struct mlops_pack_writer **out, size_t bytes);
int mlops_pack_writer_add(struct mlops_pack_writer *w, const mlops_oid *id,
			  enum mlops_codec codec, const void *stored, size_t len);
/* Objects and pack bytes added so far. */
size_t mlops_pack_writer_count(const struct mlops_pack_writer *w);
uint64_t mlops_pack_writer_size(const struct mlops_pack_writer *w);

/*
 * Finish: *pack / *idx point into the writer (borrowed, valid until the
 * writer is freed), with their ids.
 */
int mlops_pack_writer_finish(struct mlops_pack_writer *w, const void **pack, size_t *pack_len,
			     mlops_oid *pack_id, const void **idx, size_t *idx_len,
			     mlops_oid *idx_id);
void mlops_pack_writer_free(struct mlops_pack_writer *w);

/*
 * Decode an object's stored bytes (raw, zstd or zlib) into its content and
 * check that the content hashes to id.  *out is the caller's (NUL-
 * terminated), or, for raw objects when `borrow` is set, points at stored
 * itself (*owned = 0).  MLOPS_ECORRUPT naming `what` (e.g. a remote key)
 * when the bytes do not decode or do not match.
 */
int mlops_object_decode(void **out, size_t *len, int *owned, const mlops_oid *id,
			enum mlops_codec codec, const void *stored, size_t stored_len,
			int borrow, const char *what);

/* The codec of a stored object's file name suffix ("", ".zst", ".zz"). */
const char *mlops_codec_suffix(enum mlops_codec codec);

#endif
