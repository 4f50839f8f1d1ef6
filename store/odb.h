/*
 * odb.h - the content-addressed object store.
 *
 * An object is a byte string named by the SHA-256 of those bytes
 * (uncompressed).  It lives in a file of its own (a loose object) at
 * objects/<2 hex>/<62 hex>, or in a pack in objects/pack/ (pack.h), stored
 * either raw
 * (byte-identical to the content, so it can be reflinked or copied with
 * copy_file_range) or compressed, in which case the file name carries the
 * codec: "<62 hex>.zst", "<62 hex>.zz" (zlib) or "<62 hex>.zcol" (zstd of
 * a chunk of CSV or TSV laid out column by column, see columnar.h).  The id never depends on
 * the codec; a cheap probe decides per object whether compressing pays.
 *
 * Write protocol (design notes):
 *   - mlops_odb_write*() writes the object to tmp/ and records it as
 *     pending; pending objects count as present for exists().
 *   - mlops_odb_sync() makes the batch durable: the pending files are
 *     synced, then each is renamed into place, then the renames are
 *     synced.  Up to MLOPS_FSYNC_FILES files, each file and folder is
 *     fsynced; more take one syncfs() before and one after (fsutil.h), so
 *     50,000 objects cost two syncs, not 50,000.
 *   - Callers sync before writing the ref that names the new objects, so a
 *     crash never leaves a ref naming a missing object.  A crash before the
 *     sync leaves only files in tmp/, which mlops_odb_clean_tmp() removes.
 *   - Objects are never modified; "already exists" is success.
 *   - A batch's first objects are written loose; once it has pack_after
 *     of them (core.packAfter, default 256), or 32 MiB of them, the rest
 *     go into one pack, appended by the writing threads in parallel.  So the few records a
 *     command writes after its data stay loose.
 *     A file per object costs an inode allocation, a rename and a
 *     directory entry each, which dominates adding or fetching many
 *     small files and the chunks of a large one; a small add still
 *     leaves plain files.  The sync writes the pack's index, renames the
 *     pack and then its index into objects/pack/ (an index always names
 *     a complete pack), so a crash leaves at most an unnamed pack, which
 *     gc removes.
 *   - Packs are immutable too.  gc removes packed objects by rewriting
 *     their pack without them (mlops_odb_remove, then mlops_odb_repack).
 *     A pack's modification time counts as its objects' for gc's grace
 *     period.
 * All functions are safe to call from several threads at once.
 */
#ifndef MLOPS_ODB_H
#define MLOPS_ODB_H

#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "oid.h"

enum mlops_codec {
	MLOPS_CODEC_NONE = 0,
	MLOPS_CODEC_ZSTD = 1,
	MLOPS_CODEC_ZLIB = 2,
	MLOPS_CODEC_ZCOL = 3, /* zstd of the column-major layout of delimited text (columnar.h) */
};
#define MLOPS_CODEC_COUNT 4

/*
 * The default zstd level.  On 512 KiB chunks of numeric CSV tables (the
 * bench's event, training and feature tables) level 2 stores 1 to 3% less
 * than level 3 and compresses about 25% faster; level 1 stores 3 to 5%
 * more.  core.compressionLevel chooses another.
 */
#define MLOPS_ZSTD_LEVEL 2

struct mlops_odb;

/* Open the store in objects_dir, using tmpdir (same file system). */
int mlops_odb_open(struct mlops_odb **out, const char *objects_dir, const char *tmpdir);

/*
 * Flush pending objects (mlops_odb_sync) and free.  Pending objects that
 * could not be synced are removed.
 */
void mlops_odb_free(struct mlops_odb *odb);

/* Choose the codec for new objects (default zstd, MLOPS_ZSTD_LEVEL) and fsync use. */
void mlops_odb_set_codec(struct mlops_odb *odb, enum mlops_codec codec, int level);
void mlops_odb_set_fsync(struct mlops_odb *odb, int enabled);

/*
 * How many objects a batch writes loose before it writes a pack
 * (default 256; 0 packs everything; negative never packs).
 */
void mlops_odb_set_pack_after(struct mlops_odb *odb, long count);

/*
 * Scan only (on: a status on a store it cannot write): a write of an
 * object not stored yet keeps the id its caller hashed and writes nothing,
 * nor does it freshen one that is there.  Reading such an id fails as not
 * found; a scan's result is then not listed.
 */
void mlops_odb_set_scan_only(struct mlops_odb *odb, int on);

/*
 * A function the odb calls once, before its first write, to set the codec
 * and fsync (so read-only work never pays for reading the configuration).
 * An error it returns fails that write.
 */
void mlops_odb_set_configure(struct mlops_odb *odb, int (*configure)(void *payload),
			     void *payload);

/*
 * 1 when the batch writes new objects into a pack (it has pack_after
 * objects already): a caller holding an object in a file of its own then
 * does better to hand over its bytes than to adopt the file.
 */
int mlops_odb_packing(struct mlops_odb *odb);

/* 1 when the object is stored (or pending), 0 when not. */
int mlops_odb_exists(struct mlops_odb *odb, const mlops_oid *id);

/*
 * Arrivals: reading what a fetch in another thread is still bringing (a
 * pull checks files out while their objects arrive).  Between
 * mlops_odb_expect(odb, 1) and mlops_odb_expect(odb, 0), each install (a
 * pack adopted whole, a batch synced) moves the arrival count and records
 * its ids; the fetch names what it is about to look for with
 * mlops_odb_expect_ids, and those it finds stored with mlops_odb_present.  Readers never see an object before it is
 * installed (synced): only then is it "ready".
 *
 * mlops_odb_ready: 1 when id can be read now, or when no fetch is under
 * way (what a fetch brought is installed once it ends: reading succeeds or
 * fails as usual, with no lookup first); 0 when not, without a look at the
 * disk for an id being fetched.  mlops_odb_wait_arrival: wait until
 * the count moves past `seen` (1) or expecting ends (0).  mlops_odb_await:
 * wait until id is ready or expecting ends (then read it, or fail, as
 * usual).
 */
void mlops_odb_expect(struct mlops_odb *odb, int on);
int mlops_odb_expecting(struct mlops_odb *odb);
int mlops_odb_expect_ids(struct mlops_odb *odb, const mlops_oid *ids, size_t n);
void mlops_odb_present(struct mlops_odb *odb, const mlops_oid *ids, size_t n);
uint64_t mlops_odb_arrivals(struct mlops_odb *odb);
int mlops_odb_wait_arrival(struct mlops_odb *odb, uint64_t seen);
int mlops_odb_ready(struct mlops_odb *odb, const mlops_oid *id);
void mlops_odb_await(struct mlops_odb *odb, const mlops_oid *id);

/*
 * As mlops_odb_exists, and a stored object's modification time is set to
 * now: gc's grace period then counts from this use, so an add that finds
 * its objects already stored (a re-add of old data, not yet recorded by a
 * ref) is not collected by a gc running meanwhile.  An object whose time
 * cannot be set (another user's file) still counts as present.
 */
int mlops_odb_freshen(struct mlops_odb *odb, const mlops_oid *id);

/*
 * mlops_odb_freshen for n ids, present[i] set to its result, with one look
 * at the disk for each directory of loose objects rather than four for
 * each id: for a fetch's 50,000 ids, 256 calls instead of 250,000.  An
 * object another process stores during the call may be reported absent
 * (a fetch then brings it again).
 */
void mlops_odb_freshen_many(struct mlops_odb *odb, const mlops_oid *ids, size_t n,
			    unsigned char *present);

/*
 * Store `len` bytes; *out gets their id.  *stored (optional) gets the bytes
 * written anew to disk (0 when the object was already there; it is then
 * freshened, see mlops_odb_freshen).
 */
int mlops_odb_write(mlops_oid *out, struct mlops_odb *odb, const void *data,
		    size_t len, uint64_t *stored);

/* As mlops_odb_write, for a caller that already hashed the data into `id`. */
int mlops_odb_write_hashed(struct mlops_odb *odb, const mlops_oid *id,
			   const void *data, size_t len, uint64_t *stored);

/*
 * Store an object received in its stored form: `len` bytes of `data`
 * encoded with `codec`, which the caller has verified to decode to `id`
 * (a transfer hashes on arrival).  They are written as they are: neither
 * hashed nor compressed again.  For objects the caller found missing:
 * only pending objects are looked for (an object stored meanwhile by
 * another process is stored again, which is harmless).  *stored as for
 * mlops_odb_write.
 */
int mlops_odb_write_stored(struct mlops_odb *odb, const mlops_oid *id, enum mlops_codec codec,
			   const void *data, size_t len, uint64_t *stored);

struct mlops_pack_index;

/*
 * Take a whole pack into the store: the pack file at pack_path and its
 * index, every object of which the caller has verified.  It is stored as
 * a local pack, named by the index (whatever pack id the index holds:
 * zero, or the pack's hash for a remote's pack of small objects, which
 * the store does not use).  The file is hard-linked when
 * `link` is set and the file systems allow it (the bytes are immutable,
 * as git's local clones share objects), otherwise copied (cloned where the
 * file system shares blocks); it is synced before its index is written,
 * so an index always names a complete, durable pack.  Its objects then
 * count as written by this handle (not hashed again when copied out).
 * MLOPS_EINVALID for an index that does not encode as itself.
 */
int mlops_odb_adopt_pack(struct mlops_odb *odb, const char *pack_path,
			 const struct mlops_pack_index *idx, int link);

/*
 * Adopt the file at path (on the store's file system, normally in its
 * tmpdir) as object id in stored form `codec`, verified by the caller and
 * found missing (as for mlops_odb_write_stored): it
 * becomes pending like a written object and is renamed into place by the
 * next sync, so its bytes are never copied again.  The file is the
 * store's from the call on, whatever its result: removed at once when the
 * object is already stored or when adopting it fails.
 */
int mlops_odb_adopt(struct mlops_odb *odb, const mlops_oid *id, enum mlops_codec codec,
		    const char *path);

/*
 * Read an object into a new buffer (*out, NUL-terminated for convenience,
 * caller frees), verifying its hash.  MLOPS_ENOTFOUND when absent,
 * MLOPS_ECORRUPT when the bytes do not match the id.
 */
int mlops_odb_read(void **out, size_t *len, struct mlops_odb *odb, const mlops_oid *id);

/*
 * Locate a loose object: *path (caller frees) and its codec.  For raw
 * objects the file is the content itself.  MLOPS_ENOTFOUND when absent,
 * packed (mlops_odb_view_stored reads it) or still pending (sync first).
 */
int mlops_odb_locate(char **path, enum mlops_codec *codec, struct mlops_odb *odb,
		     const mlops_oid *id);

/* Where and how an object is stored. */
struct mlops_odb_info {
	enum mlops_codec codec;
	uint64_t stored_size; /* its bytes as stored */
	int64_t mtime;        /* of its file, or of its pack */
	int packed;
	mlops_oid pack;       /* packed: the pack's name (its index's id) */
	size_t pack_objects;  /* packed: how many objects the pack holds */
};

/* Describe a stored object (not a pending one).  MLOPS_ENOTFOUND when absent. */
int mlops_odb_info(struct mlops_odb_info *info, struct mlops_odb *odb, const mlops_oid *id);

/*
 * Let share(payload, pack_path, idx_path, index) link the files of the
 * local pack <name> somewhere else (a push to a directory remote on the
 * same file system), without reading them, when the pack is sealed: every
 * object in it was verified when it was written or fetched, and the file
 * has not changed since (see mlops_odb_copy_to_fd).  index is the pack's
 * index as the store loaded and verified it (the handle's: not to be
 * freed), so that share need not parse the file again.  A link moves the
 * file's ctime, so the pack is sealed again after share returns.  Returns
 * 1 without calling share when the pack is not sealed or not one of the
 * store's (its objects must be read and verified), else what share
 * returns.
 */
typedef int (*mlops_odb_share_cb)(void *payload, const char *pack_path, const char *idx_path,
				  const struct mlops_pack_index *index);
int mlops_odb_share_pack(struct mlops_odb *odb, const mlops_oid *name,
			 mlops_odb_share_cb share, void *payload);


/*
 * An object's stored bytes, borrowed without a copy where possible (from a
 * pack's mapping, or a mapping of its own file), not decoded or verified:
 * fill with mlops_odb_view_stored, use data/len/codec, then release.
 */
struct mlops_odb_view {
	const void *data;
	size_t len;
	enum mlops_codec codec;
	void *owned_, *map_; /* private */
	size_t maplen_;
};
int mlops_odb_view_stored(struct mlops_odb_view *v, struct mlops_odb *odb, const mlops_oid *id);
void mlops_odb_view_release(struct mlops_odb_view *v);

/*
 * Copy an object's content into fd at `offset` (pwrite positions).  The
 * content is verified before anything is written: it is read (decoded
 * when compressed) and hashed.  MLOPS_ECORRUPT (nothing written) when the
 * size or the hash disagrees with the id.  Two kinds of object are copied
 * without a second hash, their sizes still checked: those of a sealed
 * pack, whose objects were all verified when it was written or fetched
 * and whose file has not changed since (its ctime is the time recorded in
 * its index's mtime: a write, chmod, link or new time breaks the seal),
 * and raw objects this handle wrote (hashed on their way in, moments
 * before).  Damage that leaves a file's times alone (the disk's) is found
 * by mlops_odb_verify, which always hashes.
 */
int mlops_odb_copy_to_fd(struct mlops_odb *odb, const mlops_oid *id, int fd,
			 uint64_t offset, uint64_t expected_size);

/*
 * The same, holding write_lock (when not NULL) only around the write, for
 * threads that fill one file: they verify in parallel and write in turn.
 */
int mlops_odb_copy_to_fd_locked(struct mlops_odb *odb, const mlops_oid *id, int fd,
				uint64_t offset, uint64_t expected_size, pthread_mutex_t *write_lock);

/* Make all pending objects durable and visible (see design notes). */
int mlops_odb_sync(struct mlops_odb *odb);

/* Call cb for every stored object; a non-zero return from cb stops. */
typedef int (*mlops_odb_foreach_cb)(const mlops_oid *id, enum mlops_codec codec,
				    uint64_t stored_size, void *payload);
int mlops_odb_foreach(struct mlops_odb *odb, mlops_odb_foreach_cb cb, void *payload);

/*
 * Remove an object (gc only): a loose file goes at once; a packed object
 * is marked, and goes when mlops_odb_repack() rewrites its pack.
 */
int mlops_odb_remove(struct mlops_odb *odb, const mlops_oid *id);

/*
 * Rewrite every pack holding objects marked by mlops_odb_remove without
 * them (a pack left empty is removed): the new pack and index are written,
 * synced and renamed into place before the old index and pack go.
 */
int mlops_odb_repack(struct mlops_odb *odb);

/*
 * Packs that cannot be used (a damaged or unreadable index, a pack file
 * missing, of the wrong size or damaged at its start): fault is called for
 * each with the pack's name and why; *npacks gets the count of usable packs.
 */
int mlops_odb_check_packs(struct mlops_odb *odb, size_t *npacks,
			  int (*fault)(void *payload, const mlops_oid *name, const char *message),
			  void *payload);

/*
 * Verify one object by reading it whole: 0 when intact, MLOPS_ECORRUPT or
 * MLOPS_ENOTFOUND otherwise (with a message naming the object).
 */
int mlops_odb_verify(struct mlops_odb *odb, const mlops_oid *id);

/*
 * Remove files in tmp/ older than max_age seconds, and packs without an
 * index (a crash between the two renames) older than max_age and at least
 * an hour; returns the count.
 */
int mlops_odb_clean_tmp(struct mlops_odb *odb, long max_age);

#endif
