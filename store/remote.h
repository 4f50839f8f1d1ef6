/*
 * remote.h - remotes: where a repository's objects and refs are pushed to
 * and fetched from.
 *
 * A backend is a struct of functions (struct mlops_remote) embedded as the
 * first member of the backend's own struct, like libgit2's odb backends.
 * Backends move opaque keys and bytes; everything else (which objects are
 * missing, packs, parallel transfers, verification, the order in which
 * refs go) is done once, here, for all of them.  A new backend (ssh, http)
 * is one file and one line in the scheme table of remote.c.
 *
 * Layout of a remote (the same keys for every backend):
 *   MLOPS_REMOTE            {"format":2,"epoch":"<hex>"}; the epoch changes
 *                           when objects are deleted (gc), which voids what
 *                           clones remember about the remote, and a gc
 *                           that runs adds "gc":{"host","pid","started"}
 *                           (pushes wait, mlops_xfer_gc_begin); a format
 *                           above 2 is refused (format 2 added packs named
 *                           by their index; 1 is read as 2)
 *   objects/ab/<62 hex>[.zst|.zz]   loose objects, stored as in a local store
 *   packs/<id>.pack, packs/<id>.idx objects in packs (pack.h): small ones
 *                           in packs named by their own hash, large ones
 *                           (where the backend has put_parts) in packs of
 *                           up to 64 MiB named by their index
 *   refs/<name>             "<64 hex>\n", changed only by compare-and-swap
 *
 * What a clone knows about a remote lives in .mlops/remotes/<name>/: the
 * ids the remote is known to hold ("known", an append-only file valid for
 * one epoch) and copies of the remote's pack indexes (packs/).  With it, a
 * second push learns what is missing without asking the remote about
 * objects it already confirmed.
 *
 * Write protocol of a push: objects first (each put is atomic: readers see
 * a whole object or none), then the backend's sync, then refs by
 * compare-and-swap.  A ref therefore never names an object that is not on
 * the remote, and an interrupted push leaves only objects, which the next
 * push does not send again.
 */
#ifndef MLOPS_REMOTE_H
#define MLOPS_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "odb.h"
#include "oid.h"

struct mlops_repo;
struct mlops_pack_index;

/* Listing callback: key relative to the remote's root, size, mtime (0: unknown). */
typedef int (*mlops_remote_list_cb)(const char *key, uint64_t size, long long mtime,
				    void *payload);

/*
 * The backend interface.  Every function may be called from several
 * threads at once.  Errors: MLOPS_ENOTFOUND for a missing key or ref,
 * MLOPS_ECONFLICT for a failed compare-and-swap, MLOPS_EREMOTE for the
 * remote's failures, MLOPS_EIO for local ones; messages name the key and
 * never a credential.
 */
/* A piece of a key's bytes, for put_parts. */
struct mlops_remote_part {
	const void *data;
	size_t len;
};
typedef int (*mlops_remote_part_cb)(void *payload, size_t i, struct mlops_remote_part *out);

struct mlops_remote {
	const char *scheme;  /* "file", "s3" */
	char *url;           /* for messages; never holds a secret */
	int jobs;            /* parallel transfers that suit the backend */
	size_t list_page;    /* keys per listing request (for choosing listing vs checks) */
	int hardlinks;       /* with path: a fetched pack may be linked, not copied */
	uint64_t bulk_max;   /* with put_parts: bytes of objects a pack holds at most (0: 64 MiB) */

	/* present[i] = 1 when keys[i] exists, else 0. */
	int (*has_many)(struct mlops_remote *r, const char *const *keys, size_t n,
			unsigned char *present);
	/* Store data as key, atomically: readers see all of it or nothing. */
	int (*put)(struct mlops_remote *r, const char *key, const void *data, size_t len);
	/*
	 * Optional (NULL: put is used): store the file at path as key, as put
	 * does, without reading it into memory (copy_file_range, streaming).
	 */
	int (*put_file)(struct mlops_remote *r, const char *key, const char *path);
	/*
	 * Optional (NULL: never links): store the local store's file at path
	 * (a pack or object: named by its content, never changed in place) as
	 * key by hard-linking it, its time set to now as a new key's: 0, or 1
	 * when this remote cannot (the `hardlinks` setting off, another file
	 * system, links refused), and the caller sends the bytes instead.
	 */
	int (*put_link)(struct mlops_remote *r, const char *key, const char *path);
	/*
	 * Optional (NULL: large objects travel one key each): store as key,
	 * atomically as put does, n parts back to back, without joining them
	 * in memory: part(payload, i, &p) is called for i = 0..n-1, in order,
	 * just before part i is written, and p stays valid until the next
	 * call or the return.  Used for packs of large objects, each read
	 * (and verified) from the local store as it goes out.  A failure of
	 * part comes back as it was, not as the remote's, and the key is not
	 * stored.
	 */
	int (*put_parts)(struct mlops_remote *r, const char *key, size_t n,
			 mlops_remote_part_cb part, void *payload);
	/*
	 * Optional (NULL: none): *out gets the path of key's file (caller
	 * frees) when the remote is a directory this machine reads, so that a
	 * fetch maps a pack instead of copying it, and the local store links
	 * it (the remote's `hardlinks` setting) or copies it whole.
	 * MLOPS_ENOTFOUND when there is no such key.
	 */
	int (*path)(struct mlops_remote *r, const char *key, char **out);
	/* Read key whole into *out (caller frees); MLOPS_EREMOTE above max_size. */
	int (*get)(struct mlops_remote *r, const char *key, void **out, size_t *len,
		   size_t max_size);
	/*
	 * Optional (NULL: get is used): copy key's bytes into fd (a new empty
	 * file) without holding them in memory (copy_file_range from a
	 * directory, streamed from S3); *len gets their count.  Errors as get.
	 */
	int (*get_file)(struct mlops_remote *r, const char *key, int fd, uint64_t *len,
			uint64_t max_size);
	/* Every key that starts with prefix. */
	int (*list)(struct mlops_remote *r, const char *prefix, mlops_remote_list_cb cb,
		    void *payload);
	/* Delete key (a missing key is fine). */
	int (*remove)(struct mlops_remote *r, const char *key);
	/* Make everything put so far durable (optional: NULL). */
	int (*sync)(struct mlops_remote *r);
	/*
	 * Optional (NULL: nothing to clean): remove what writers that began
	 * over `age` seconds ago and never finished left on the remote (a
	 * killed push's temporary files in a folder, its unfinished multipart
	 * uploads on S3, which are stored and billed but seen by no reader);
	 * with dry_run remove nothing.  *count gets how many there are (or
	 * were removed).  A writer still running that old fails, and its key
	 * is sent again by the next push.
	 */
	int (*clean)(struct mlops_remote *r, long long age, int dry_run, size_t *count);
	/*
	 * Read ref `name` (e.g. "datasets/train/v3").  MLOPS_ECORRUPT when it
	 * holds no id (damaged).
	 */
	int (*ref_read)(struct mlops_remote *r, const char *name, mlops_oid *out);
	/*
	 * Set ref `name` to id only if it holds `expected` (a zero id: only if
	 * it does not exist; &mlops_remote_ref_damaged: only if it is there
	 * and holds no id); MLOPS_ECONFLICT otherwise.  A NULL id deletes.
	 */
	int (*ref_cas)(struct mlops_remote *r, const char *name, const mlops_oid *id,
		       const mlops_oid *expected);
	void (*free)(struct mlops_remote *r);
};

/* ref_cas's expected value for a ref that holds no id (compared by address). */
extern const mlops_oid mlops_remote_ref_damaged;

/*
 * For a backend's ref_cas, under its lock: whether ref `name`, read with
 * status `read_err` (0 with its id in *cur, MLOPS_ENOTFOUND, MLOPS_ECORRUPT
 * when it holds no id, or another failure, returned as it is) is in the
 * state `expected` says.  0 when it is (the read's message cleared);
 * MLOPS_ECONFLICT when it changed; MLOPS_EREMOTE for a damaged ref that
 * was not expected damaged.
 */
int mlops_remote_cas_expect(int read_err, const mlops_oid *cur, const mlops_oid *expected,
			    const char *name, const char *url);

/* Settings of a remote beyond its URL (from .mlops/config). */
struct mlops_remote_options {
	const char *endpoint; /* S3: http(s)://host:port */
	const char *region;   /* S3 */
	const char *profile;  /* S3: credentials profile */
	/* S3: "path" (endpoint/bucket/key) or "virtual" (bucket.endpoint/key); NULL:
	 * virtual on AWS (no endpoint; path for a bucket name with a '.'),
	 * path on an endpoint (MinIO, Ceph, moto expect it) */
	const char *addressing;
	int fsync;            /* directory: fsync what is written (default 1) */
	int hardlinks;        /* directory: fetched packs are linked when they can be (default 1) */
	int timeout;          /* S3: seconds to connect, and without a byte, before an
	                       * attempt is given up (0: 10 to connect, 30 without a byte) */
};

/* One entry of the URL scheme table. */
struct mlops_remote_scheme {
	const char *scheme;
	int (*open)(struct mlops_remote **out, const char *url,
		    const struct mlops_remote_options *opts);
};

/* The backends. */
int mlops_remote_dir_open(struct mlops_remote **out, const char *url,
			  const struct mlops_remote_options *opts);
int mlops_remote_s3_open(struct mlops_remote **out, const char *url,
			 const struct mlops_remote_options *opts);
/*
 * Check an S3 remote's settings without opening it: the URL (no
 * credentials in it, a valid bucket name, a prefix without empty, "." or
 * ".." segments), the endpoint (http or https, no path, query or
 * credentials) and the addressing ("path" or "virtual").  0, or MLOPS_EUSAGE with a message that shows no password.
 */
int mlops_remote_s3_check(const char *url, const struct mlops_remote_options *opts);

/*
 * Open the backend for url: "s3://bucket/prefix", "file:///path" or a
 * plain directory path.  MLOPS_EUSAGE for an unknown scheme or a malformed
 * URL.  *out is the caller's (mlops_remote_free).
 */
int mlops_remote_open_url(struct mlops_remote **out, const char *url,
			  const struct mlops_remote_options *opts);

/*
 * Open the remote configured as `name` (NULL: the default remote, see
 * mlops_remote_default).  MLOPS_ENOTFOUND when there is no such remote.
 */
int mlops_remote_open(struct mlops_remote **out, struct mlops_repo *repo, const char *name);

void mlops_remote_free(struct mlops_remote *r);

/* 1 when url's scheme is known (or it is a path), else 0 with a message. */
int mlops_remote_url_valid(const char *url);

/* ---- configuration ---------------------------------------------------- */

struct mlops_remote_info {
	char *name;
	char *url;
	int is_default;
};

/*
 * Add remote `name` ([remote "NAME"] url = URL in .mlops/config); a
 * directory path is stored absolute.  Optional endpoint/region/profile are
 * stored with it.  MLOPS_EEXISTS when the name is taken, MLOPS_EUSAGE for a
 * bad name or URL.
 */
int mlops_remote_add(struct mlops_repo *repo, const char *name, const char *url,
		     const struct mlops_remote_options *opts, int make_default);

/* Remove a remote's settings and what the clone remembers of it. */
int mlops_remote_remove(struct mlops_repo *repo, const char *name);

/* Every configured remote, sorted by name; free with mlops_remote_info_free. */
int mlops_remote_list(struct mlops_remote_info **out, size_t *n, struct mlops_repo *repo);
void mlops_remote_info_free(struct mlops_remote_info *info, size_t n);

/*
 * The default remote's name (*out is the caller's): core.remote, else the
 * only remote.  MLOPS_ENOTFOUND when none can be chosen.
 */
int mlops_remote_default(char **out, struct mlops_repo *repo);

/* 1 when a remote named `name` is configured. */
int mlops_remote_exists(struct mlops_repo *repo, const char *name);

/* ---- transfers -------------------------------------------------------- */

struct mlops_xfer;

struct mlops_xfer_stats {
	uint64_t objects;   /* objects sent or received */
	uint64_t bytes;     /* their stored bytes */
	uint64_t present;   /* objects the other side already had */
	uint64_t packs;     /* packs sent or received */
	uint64_t linked;    /* push: of those, the store's own packs, linked whole */
	uint64_t checks;    /* keys checked one by one */
	uint64_t listings;  /* listings of objects/ */
};

struct mlops_xfer_options {
	int jobs;           /* parallel transfers; 0: the backend's choice */
	/* Progress (done, total bytes), called from one thread at a time. */
	void (*progress)(void *payload, uint64_t done, uint64_t total);
	void *payload;
};

/*
 * A transfer session between the local store and a remote.  state_dir is
 * where the clone remembers the remote (created when missing); tmpdir is
 * for downloads.  remote and odb are borrowed.  Reads the remote's marker
 * (one request).
 */
int mlops_xfer_open(struct mlops_xfer **out, struct mlops_remote *remote, struct mlops_odb *odb,
		    const char *state_dir, const char *tmpdir, const struct mlops_xfer_options *opts);
void mlops_xfer_free(struct mlops_xfer *x);

/*
 * Offline, for status: present[i] = 1 when the remote NAME was last seen
 * (by a push or fetch from this clone) to hold ids[i], from its known file
 * and cached pack indexes.  No request is made; a remote this clone never
 * talked to knows nothing.
 */
int mlops_remote_known(unsigned char *present, struct mlops_repo *repo, const char *name,
		       const mlops_oid *ids, size_t n);

/* The remote's state directory for a named remote (.mlops/remotes/NAME); caller frees. */
char *mlops_remote_state_dir(struct mlops_repo *repo, const char *name);

/*
 * Make the remote hold every object in ids (all stored locally).  Learns
 * what the remote has (its packs, then a listing or per-object checks,
 * whichever costs fewer requests), sends the rest in parallel (objects of
 * at most 64 KiB in packs; larger ones in packs too where the backend has
 * put_parts, else one key each), verifying each by hash as it is read, and
 * syncs the remote.  Objects that arrived are remembered at once, so an
 * interrupted push resumes where it stopped.
 */
int mlops_xfer_push(struct mlops_xfer *x, const mlops_oid *ids, size_t n,
		    struct mlops_xfer_stats *stats);

/*
 * Called once per requested id, from one thread at a time: status 0 with
 * the verified content (borrowed for the call) when the remote has it,
 * MLOPS_ENOTFOUND when it does not, MLOPS_ECORRUPT (with a message) when
 * the remote's bytes are damaged.  A negative return stops the fetch.
 */
typedef int (*mlops_xfer_object_cb)(void *payload, size_t index, int status,
				    const void *data, size_t len);

/*
 * Fetch ids from the remote, in parallel, verifying each by hash.  With
 * `store` each is written to the local store (left pending; synced every
 * 256 MiB and at the end), without it only handed to cb (gc and fsck of a
 * remote).  Missing or corrupt objects are reported through cb and do not
 * stop the others; the return is 0 unless something else failed.
 */
int mlops_xfer_fetch(struct mlops_xfer *x, const mlops_oid *ids, size_t n, int store,
		     mlops_xfer_object_cb cb, void *payload, struct mlops_xfer_stats *stats);

/* 1 when the remote is known (after learning) to hold id, else 0. */
int mlops_xfer_remote_has(struct mlops_xfer *x, const mlops_oid *id);

/*
 * Learn everything the remote holds (packs and a full listing), for gc and
 * fsck of a remote.  Then mlops_xfer_remote_has answers exactly.
 */
int mlops_xfer_learn_all(struct mlops_xfer *x);

/*
 * The remote's refs (names below refs/, sorted) with their ids.  A ref
 * that holds no id fails the listing (MLOPS_EREMOTE, naming it) unless
 * `keep_damaged`: it is then listed with a zero id and `damage` saying
 * what is wrong, for the caller to report or skip.
 */
struct mlops_remote_ref {
	char *name;
	mlops_oid id;
	char *damage; /* NULL, or why the ref is damaged */
};
int mlops_xfer_refs(struct mlops_remote_ref **out, size_t *n, struct mlops_xfer *x,
		    const char *prefix, int keep_damaged);
void mlops_remote_refs_free(struct mlops_remote_ref *refs, size_t n);

/*
 * Write the remote's marker when it has none (the first push), so that
 * clones can tell an mlops remote from an empty folder.
 */
int mlops_xfer_init_remote(struct mlops_xfer *x);

/*
 * 0 when the remote has a marker; else MLOPS_EREMOTE saying it is not an
 * mlops remote.  For what reads the whole remote or deletes from it (gc,
 * fsck): an empty folder, a mount point with nothing mounted or a
 * mistyped URL is neither "clean" nor the place to delete from.
 */
int mlops_xfer_require_remote(struct mlops_xfer *x);

/*
 * Read the remote's marker again (one request): 1 when its epoch changed
 * since the session read it, which a gc of the remote does when it begins
 * and when it ends.  What the session knew about the remote is
 * then forgotten, so that a push made again learns what is there now and
 * sends what went (objects a push skipped as present may have been
 * deleted).  0 when nothing changed.
 */
int mlops_xfer_refresh(struct mlops_xfer *x);

/* ---- maintenance of a remote (gc, fsck) ------------------------------- */

/* What the remote holds, as learnt by mlops_xfer_learn_all. */
struct mlops_remote_object {
	mlops_oid id;
	char *key;            /* loose: objects/..; packed: NULL */
	uint64_t size;        /* stored size */
	long long mtime;      /* 0 when the backend cannot tell */
};
struct mlops_remote_pack {
	char *idx_key, *pack_key;
	mlops_oid idx_id;
	mlops_oid pack_id;    /* the name of its pack file */
	uint64_t size;
	long long mtime;
	size_t count;
	int has_index;        /* 0: a pack file whose index never arrived */
	int has_data;         /* 0: an index whose pack file the listing lacks (its ids are not known) */
	char *damage;         /* NULL, or why its index cannot be read (no ids, no pack_key) */
};

/*
 * The loose objects and the number of packs the remote holds (after
 * learn_all); the array is borrowed, valid until the session is freed.
 */
void mlops_xfer_inventory(const struct mlops_remote_object **objects, size_t *nobjects,
			  size_t *npacks, struct mlops_xfer *x);

/* Pack i of the inventory (borrowed), or NULL. */
const struct mlops_remote_pack *mlops_xfer_pack(struct mlops_xfer *x, size_t i);

/* The ids of a remote pack (after learn_all); borrowed. */
const struct mlops_pack_index *mlops_xfer_pack_index(struct mlops_xfer *x, size_t pack);

/*
 * Download a pack and its index and check them: hashes, every entry
 * decodes to its id.  Faults are reported through cb (status ECORRUPT,
 * index = the entry, data NULL); an index whose pack file is gone reports
 * each entry the remote holds nowhere else as MLOPS_ENOTFOUND.  The
 * return is 0 unless the transfer itself failed.
 */
int mlops_xfer_verify_pack(struct mlops_xfer *x, size_t pack, mlops_xfer_object_cb cb,
			   void *payload);

/*
 * A gc of the remote: mlops_xfer_gc_begin writes a new epoch into the
 * marker with the gc's host, process and start ("gc"), before the gc reads
 * a ref; mlops_xfer_gc_end writes a new epoch without it once the gc has
 * deleted what it deletes (also after a failure).  A push learns of both
 * through mlops_xfer_refresh and waits while mlops_xfer_collecting says a
 * gc runs, so that it writes no ref a gc may not have seen while that gc
 * deletes (core/transfer.c).  Both forget what the session learnt.
 */
int mlops_xfer_gc_begin(struct mlops_xfer *x);
int mlops_xfer_gc_end(struct mlops_xfer *x);

/* A gc marker older than this (seconds) is a killed gc's, whoever wrote it. */
#define MLOPS_XFER_GC_STALE 3600

/*
 * 1 when the marker, as last read, says a gc of the remote runs; who (when
 * not NULL) then describes it ("process P on HOST, since TIME").  0 when
 * none does, or the gc that wrote it was killed: its process on this host
 * is gone, or it began over MLOPS_XFER_GC_STALE seconds ago.
 */
int mlops_xfer_collecting(struct mlops_xfer *x, char *who, size_t len);

/* Delete keys from the remote (between mlops_xfer_gc_begin and _end). */
int mlops_xfer_delete(struct mlops_xfer *x, const char *const *keys, size_t n);

/*
 * The backend's clean (see struct mlops_remote): remove (with dry_run,
 * only count in *count) the leftovers of writers that began over age
 * seconds ago.  0 with *count 0 for a backend that leaves none.
 */
int mlops_xfer_clean(struct mlops_xfer *x, long long age, int dry_run, size_t *count);

/*
 * The grace period's rule, for a gc of a remote and a backend's clean:
 * whether a key (or upload) written at mtime is too recent to remove when
 * the grace period is `grace` seconds, ending at cutoff (now - grace).  A
 * time the backend could not tell (0) counts as recent unless the grace
 * is nil.
 */
int mlops_remote_too_recent(long long mtime, long long cutoff, long long grace);

#endif
