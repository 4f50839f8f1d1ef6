/*
 * odb.h - the content-addressed object store.
 *
 * An object is a byte string named by the SHA-256 of those bytes
 * (uncompressed).  It lives at objects/<2 hex>/<62 hex>, stored either raw
 * (byte-identical to the content, so it can be reflinked or copied with
 * copy_file_range) or compressed, in which case the file name carries the
 * codec: "<62 hex>.zst" or "<62 hex>.zz" (zlib).  The id never depends on
 * the codec; a cheap probe decides per object whether compressing pays.
 *
 * Write protocol (design notes):
 *   - mlops_odb_write*() writes the object to tmp/ and records it as
 *     pending; pending objects count as present for exists().
 *   - mlops_odb_sync() makes the batch durable: one syncfs() for all the
 *     pending files, then each is renamed into place, then one more
 *     syncfs() for the renames.  50,000 objects cost two syncs, not 50,000.
 *   - Callers sync before writing the ref that names the new objects, so a
 *     crash never leaves a ref naming a missing object.  A crash before the
 *     sync leaves only files in tmp/, which mlops_odb_clean_tmp() removes.
 *   - Objects are never modified; "already exists" is success.
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
};

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
 * A function the odb calls once, before its first write, to set the codec
 * and fsync (so read-only work never pays for reading the configuration).
 * An error it returns fails that write.
 */
void mlops_odb_set_configure(struct mlops_odb *odb, int (*configure)(void *payload),
			     void *payload);

/* 1 when the object is stored (or pending), 0 when not. */
int mlops_odb_exists(struct mlops_odb *odb, const mlops_oid *id);

/*
 * As mlops_odb_exists, and a stored object's modification time is set to
 * now: gc's grace period then counts from this use, so an add that finds
 * its objects already stored (a re-add of old data, not yet recorded by a
 * ref) is not collected by a gc running meanwhile.  An object whose time
 * cannot be set (another user's file) still counts as present.
 */
int mlops_odb_freshen(struct mlops_odb *odb, const mlops_oid *id);

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
 * Locate an object: *path (caller frees) and its codec.  For raw objects
 * the file is the content itself.  MLOPS_ENOTFOUND when absent (or still
 * pending: sync first).
 */
int mlops_odb_locate(char **path, enum mlops_codec *codec, struct mlops_odb *odb,
		     const mlops_oid *id);

/*
 * Copy an object's content into fd at `offset` (pwrite positions).  The
 * content is verified before anything is written: a raw object is mapped,
 * hashed and written from the mapping; a compressed one is read, decoded
 * and verified.  MLOPS_ECORRUPT (nothing written) when the size or the
 * hash disagrees with the id.  A raw object this handle wrote (hashed on
 * its way in: by the writer, or on arrival from a remote, moments before)
 * is copied without a second hash; its size is still checked.
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

/* Remove an object (gc only). */
int mlops_odb_remove(struct mlops_odb *odb, const mlops_oid *id);

/*
 * Verify one object by reading it whole: 0 when intact, MLOPS_ECORRUPT or
 * MLOPS_ENOTFOUND otherwise (with a message naming the object).
 */
int mlops_odb_verify(struct mlops_odb *odb, const mlops_oid *id);

/* Remove files in tmp/ older than max_age seconds; returns the count. */
int mlops_odb_clean_tmp(struct mlops_odb *odb, long max_age);

#endif
