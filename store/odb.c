/*
 * odb.c - the content-addressed object store (see odb.h for the protocol).
 *
 * Pending objects are kept in an open-addressing hash set keyed by id, so
 * exists() answers for them without touching the disk, and duplicate
 * chunks within one batch are written once.  Their temporary files are not
 * put in the exit/signal registry (fsutil.h): a batch can hold far more
 * files than it has room for, and it must keep room for the lock.  What a
 * killed process leaves in tmp/ is removed by mlops_odb_clean_tmp().
 */
#include "odb.h"
#include "error.h"
#include "fsutil.h"
#include "oidmap.h"
#include "pack.h"
#include "columnar.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

/* Objects at least this large start their write-back as soon as written. */
#define ODB_WRITEBACK_MIN (256u << 10)
/* Raw objects up to this size are read, larger ones mapped, to be verified. */
#define ODB_READ_MAX (64u << 10)

/* Packs are started with a write-back hint every this many bytes. */
#define ODB_PACK_KICK (8u << 20)
/* Objects, or bytes, a batch writes to files of their own before it starts a pack. */
#define ODB_PACK_AFTER 256
#define ODB_PACK_AFTER_BYTES (32u << 20)

struct pending {
	mlops_oid id;
	enum mlops_codec codec;
	char *tmp;         /* its file in tmp/, or NULL when in the pack being written */
	uint64_t off, len; /* in the pack being written */
};

/* A pack in objects/pack/, loaded once and kept until the handle is freed. */
struct lpack {
	mlops_oid name;
	char *path;        /* the .pack file */
	int fd;
	const unsigned char *map; /* the whole pack file, mapped on first read */
	uint64_t size;
	struct mlops_pack_index *idx;
	int freshened;     /* its time was set by this handle */
	int sealed;        /* unchanged since its objects were verified (pack_sealed) */
	int gone;          /* rewritten or removed by mlops_odb_repack */
};

struct pack_fault {
	mlops_oid name;
	char *message;
	struct mlops_pack_index *idx; /* its index when that was whole: what the pack held */
};

struct mlops_odb {
	char *dir;
	char *tmpdir;
	enum mlops_codec codec;
	int level;
	int fsync;
	pthread_mutex_t lock;
	struct pending *pend;
	size_t npend, cappend;
	size_t *slots; /* hash set of indexes+1 into pend; 0 = empty */
	struct mlops_oidmap *written; /* ids this handle wrote: their bytes were hashed on the way in */
	size_t nslots;
	unsigned char fanout_made[256];
	/* Packs: those in objects/pack/ (pointers: a reader keeps one while unlocked). */
	char *packdir;
	struct lpack **packs;
	size_t npacks, cappacks;
	struct pack_fault *faults;
	size_t nfaults;
	int packs_scanned;
	struct timespec packdir_time;
	/* The pack being written (wfd < 0: none), of wsize bytes so far. */
	int wfd;
	char *wtmp;
	uint64_t wsize;
	int wbusy;              /* writes to the pack in flight */
	pthread_cond_t wdone;   /* signalled when wbusy drops to 0 */
	long pack_after;
	size_t nwrites;      /* objects the batch wrote */
	uint64_t loose_bytes; /* bytes the batch wrote to files of their own */
	struct mlops_oidmap *drop; /* packed objects removed, for mlops_odb_repack */
	int (*configure)(void *payload);
	void *configure_payload;
	int configured;
	int configure_err;
	char configure_msg[1024];
	int scan_only;          /* mlops_odb_set_scan_only: writes store nothing */
	/* Arrivals (mlops_odb_expect): objects a concurrent fetch installs. */
	int expecting;
	uint64_t arrivals;           /* installs so far: a reader waits for it to move */
	pthread_cond_t arrival;      /* broadcast when it moves or expecting ends */
	struct mlops_oidmap *expected; /* ids being fetched */
	struct mlops_oidmap *arrived;  /* ids installed while expecting */
};

void mlops_odb_set_configure(struct mlops_odb *odb, int (*configure)(void *payload),
			     void *payload)
{
	odb->configure = configure;
	odb->configure_payload = payload;
	odb->configured = 0;
}

/* Run the configure hook once; its error (and message) is kept. */
static int ensure_configured(struct mlops_odb *odb)
{
	int err;
	pthread_mutex_lock(&odb->lock);
	if (!odb->configured) {
		odb->configured = 1;
		if (odb->configure && (odb->configure_err = odb->configure(odb->configure_payload)) < 0)
			snprintf(odb->configure_msg, sizeof(odb->configure_msg), "%s",
				 mlops_error_message());
	}
	err = odb->configure_err;
	pthread_mutex_unlock(&odb->lock);
	if (err < 0)
		return mlops_error_set(err, "%s", *odb->configure_msg ? odb->configure_msg :
				       "invalid store configuration");
	return 0;
}

static const char *const codec_suffix[MLOPS_CODEC_COUNT] = { "", ".zst", ".zz", ".zcol" };

int mlops_odb_open(struct mlops_odb **out, const char *objects_dir, const char *tmpdir)
{
	struct mlops_odb *odb = calloc(1, sizeof(*odb));
	if (!odb)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	odb->dir = strdup(objects_dir);
	odb->tmpdir = strdup(tmpdir);
	odb->codec = MLOPS_CODEC_ZSTD;
	odb->level = MLOPS_ZSTD_LEVEL;
	odb->fsync = 1;
	odb->wfd = -1;
	odb->pack_after = ODB_PACK_AFTER;
	odb->packdir = mlops_path_join(objects_dir, "pack");
	pthread_mutex_init(&odb->lock, NULL);
	pthread_cond_init(&odb->wdone, NULL);
	pthread_cond_init(&odb->arrival, NULL);
	if (!odb->dir || !odb->tmpdir || !odb->packdir) {
		mlops_odb_free(odb);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	*out = odb;
	return 0;
}

/* Forget the pack being written (with the lock held, or when freeing). */
static void drop_wpack(struct mlops_odb *odb)
{
	if (odb->wfd >= 0) {
		close(odb->wfd);
		odb->wfd = -1;
	}
	if (odb->wtmp) {
		unlink(odb->wtmp);
		mlops_tempfile_forget(odb->wtmp);
		free(odb->wtmp);
		odb->wtmp = NULL;
	}
	odb->wsize = 0;
}

static void drop_pending(struct mlops_odb *odb)
{
	for (size_t i = 0; i < odb->npend; i++) {
		if (odb->pend[i].tmp) {
			unlink(odb->pend[i].tmp);
			free(odb->pend[i].tmp);
		}
	}
	odb->npend = 0;
	if (odb->slots)
		memset(odb->slots, 0, odb->nslots * sizeof(*odb->slots));
	drop_wpack(odb);
}

static void lpack_free(struct lpack *p)
{
	if (!p)
		return;
	if (p->map)
		munmap((void *)p->map, (size_t)p->size);
	if (p->fd >= 0)
		close(p->fd);
	mlops_pack_index_free(p->idx);
	free(p->path);
	free(p);
}

void mlops_odb_free(struct mlops_odb *odb)
{
	if (!odb)
		return;
	if (odb->npend && mlops_odb_sync(odb) < 0)
		drop_pending(odb);
	free(odb->pend);
	free(odb->slots);
	drop_wpack(odb);
	for (size_t i = 0; i < odb->npacks; i++)
		lpack_free(odb->packs[i]);
	free(odb->packs);
	for (size_t i = 0; i < odb->nfaults; i++) {
		free(odb->faults[i].message);
		mlops_pack_index_free(odb->faults[i].idx);
	}
	free(odb->faults);
	free(odb->packdir);
	mlops_oidmap_free(odb->drop);
	mlops_oidmap_free(odb->written);
	mlops_oidmap_free(odb->expected);
	mlops_oidmap_free(odb->arrived);
	free(odb->dir);
	free(odb->tmpdir);
	pthread_cond_destroy(&odb->arrival);
	pthread_cond_destroy(&odb->wdone);
	pthread_mutex_destroy(&odb->lock);
	free(odb);
}

/* An explicit setting wins over the configure hook (which uses these too). */
void mlops_odb_set_codec(struct mlops_odb *odb, enum mlops_codec codec, int level)
{
	odb->codec = codec;
	odb->level = level;
	odb->configured = 1;
}

void mlops_odb_set_fsync(struct mlops_odb *odb, int enabled)
{
	odb->fsync = enabled;
	odb->configured = 1;
}

void mlops_odb_set_scan_only(struct mlops_odb *odb, int on)
{
	odb->scan_only = on;
}

void mlops_odb_set_pack_after(struct mlops_odb *odb, long count)
{
	odb->pack_after = count;
	odb->configured = 1;
}

static void object_path(char *buf, size_t size, const struct mlops_odb *odb,
			const mlops_oid *id, enum mlops_codec codec)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	mlops_oid_fmt(hex, id);
	snprintf(buf, size, "%s/%.2s/%s%s", odb->dir, hex, hex + 2, codec_suffix[codec]);
}

static size_t slot_of(const mlops_oid *id, size_t nslots)
{
	uint64_t h;
	memcpy(&h, id->id, sizeof(h));
	return (size_t)(h & (nslots - 1));
}

/* Called with the lock held. */
static long pending_find(struct mlops_odb *odb, const mlops_oid *id)
{
	if (!odb->nslots)
		return -1;
	for (size_t s = slot_of(id, odb->nslots);; s = (s + 1) & (odb->nslots - 1)) {
		size_t v = odb->slots[s];
		if (!v)
			return -1;
		if (!mlops_oid_cmp(&odb->pend[v - 1].id, id))
			return (long)(v - 1);
	}
}

static int pending_grow(struct mlops_odb *odb)
{
	if (odb->npend + 1 > odb->cappend) {
		size_t cap = odb->cappend ? odb->cappend * 2 : 256;
		struct pending *p = realloc(odb->pend, cap * sizeof(*p));
		if (!p)
			return -1;
		odb->pend = p;
		odb->cappend = cap;
	}
	if ((odb->npend + 1) * 2 > odb->nslots) {
		size_t n = odb->nslots ? odb->nslots * 2 : 1024;
		size_t *slots = calloc(n, sizeof(*slots));
		if (!slots)
			return -1;
		for (size_t i = 0; i < odb->npend; i++) {
			size_t s = slot_of(&odb->pend[i].id, n);
			while (slots[s])
				s = (s + 1) & (n - 1);
			slots[s] = i + 1;
		}
		free(odb->slots);
		odb->slots = slots;
		odb->nslots = n;
	}
	return 0;
}

/* ---- packs ------------------------------------------------------------- */

static void pack_path(char *buf, size_t size, const struct mlops_odb *odb,
		      const mlops_oid *name, const char *ext)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	snprintf(buf, size, "%s/%s.%s", odb->packdir, mlops_oid_fmt(hex, name), ext);
}

/* With the lock held: append p (owned from now on, freed on failure). */
static int packs_append(struct mlops_odb *odb, struct lpack *p)
{
	if (odb->npacks == odb->cappacks) {
		size_t cap = odb->cappacks ? odb->cappacks * 2 : 8;
		struct lpack **n = realloc(odb->packs, cap * sizeof(*n));
		if (!n) {
			lpack_free(p);
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		}
		odb->packs = n;
		odb->cappacks = cap;
	}
	odb->packs[odb->npacks++] = p;
	return 0;
}

/*
 * With the lock held: a pack that cannot be used, kept for fsck, with its
 * index when that was whole (taken, NULL otherwise): an object it lists
 * is damaged, not missing.
 */
static void pack_fault(struct mlops_odb *odb, const mlops_oid *name, const char *message,
		       struct mlops_pack_index *idx)
{
	struct pack_fault *f = realloc(odb->faults, (odb->nfaults + 1) * sizeof(*f));
	if (f) {
		odb->faults = f;
		f[odb->nfaults].name = *name;
		f[odb->nfaults].idx = idx;
		if ((f[odb->nfaults].message = strdup(message))) {
			odb->nfaults++;
			return;
		}
	}
	mlops_pack_index_free(idx);
}

/*
 * A sealed pack: the index's mtime is the pack file's ctime plus one
 * nanosecond, set when every object in the pack had just been verified
 * (hashed by the writer, or on arrival from a remote).  Any change to the
 * pack file since (a write, a chmod, a link, a new time) moves its ctime,
 * which nothing can set back: the seal breaks, and its objects are
 * verified again on every read.  The nanosecond keeps an index written in
 * the same clock tick as its pack (or on a file system that keeps whole
 * seconds) from looking sealed: no clock gives two files times 1 ns apart.
 * An unchanged pack's objects are copied out without a second hash
 * (mlops_odb_copy_to_fd); mlops_odb_verify (fsck) always hashes.
 */
static struct timespec seal_time(const struct stat *pack)
{
	struct timespec t = pack->st_ctim;
	if (++t.tv_nsec == 1000000000L) {
		t.tv_sec++;
		t.tv_nsec = 0;
	}
	return t;
}

static int pack_sealed(const struct stat *pack, const struct stat *idx)
{
	struct timespec t = seal_time(pack);
	return t.tv_sec == idx->st_mtim.tv_sec && t.tv_nsec == idx->st_mtim.tv_nsec;
}

/*
 * Seal the pack <name> (its index in place): 1 when sealed, 0 when not
 * (an index this user may not give a time to: its objects stay verified
 * on every read).  The time is metadata, not synced: a crash that loses it
 * only unseals the pack.
 */
static int seal_pack(struct mlops_odb *odb, const mlops_oid *name)
{
	char pack[PATH_MAX], idx[PATH_MAX];
	struct stat st;
	pack_path(pack, sizeof(pack), odb, name, "pack");
	pack_path(idx, sizeof(idx), odb, name, "idx");
	if (stat(pack, &st) < 0)
		return 0;
	const struct timespec ts[2] = { { .tv_sec = 0, .tv_nsec = UTIME_OMIT }, seal_time(&st) };
	return utimensat(AT_FDCWD, idx, ts, 0) == 0;
}

/* 1 when the pack <name> is sealed now. */
static int pack_is_sealed(struct mlops_odb *odb, const mlops_oid *name)
{
	char path[PATH_MAX];
	struct stat ps, is;
	pack_path(path, sizeof(path), odb, name, "pack");
	if (stat(path, &ps) < 0)
		return 0;
	pack_path(path, sizeof(path), odb, name, "idx");
	return stat(path, &is) == 0 && pack_sealed(&ps, &is);
}

/* With the lock held: load the pack whose index is <name>.idx. */
static void load_pack(struct mlops_odb *odb, const mlops_oid *name)
{
	char path[PATH_MAX], hex[MLOPS_OID_HEXSZ + 1], magic[MLOPS_PACK_HDR];
	char *data = NULL;
	size_t len;
	struct lpack *p = calloc(1, sizeof(*p));
	struct stat st, ist;
	int err, have_ist;
	mlops_oid_fmt(hex, name);
	if (!p) {
		pack_fault(odb, name, "out of memory", NULL);
		return;
	}
	p->fd = -1;
	p->name = *name;
	pack_path(path, sizeof(path), odb, name, "idx");
	/* Its time before its bytes: a pack sealed later is only verified. */
	have_ist = stat(path, &ist) == 0;
	if ((err = mlops_read_file(&data, &len, path)) < 0 ||
	    (err = mlops_pack_index_parse(&p->idx, data, len, name)) < 0)
		goto fail;
	pack_path(path, sizeof(path), odb, name, "pack");
	if (!(p->path = strdup(path))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto fail;
	}
	if ((p->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(p->fd, &st) < 0) {
		err = mlops_error_sys(errno, "pack %s: unable to open its pack file", hex);
		goto fail;
	}
	p->size = (uint64_t)st.st_size;
	p->sealed = have_ist && pack_sealed(&st, &ist);
	if (p->size != p->idx->pack_size) {
		err = mlops_error_set(MLOPS_ECORRUPT, "pack %s is corrupt: %llu bytes, its index says %llu",
				      hex, (unsigned long long)p->size,
				      (unsigned long long)p->idx->pack_size);
		goto fail;
	}
	if (pread(p->fd, magic, sizeof(magic), 0) != (ssize_t)sizeof(magic) ||
	    memcmp(magic, MLOPS_PACK_MAGIC, sizeof(magic))) {
		err = mlops_error_set(MLOPS_ECORRUPT, "pack %s is corrupt: it does not start as a pack", hex);
		goto fail;
	}
	free(data);
	if (packs_append(odb, p) < 0)
		mlops_error_clear();
	return;
fail:
	(void)err;
	pack_fault(odb, name, mlops_error_message(), p->idx);
	p->idx = NULL;
	mlops_error_clear();
	free(data);
	lpack_free(p);
}

static int pack_known(const struct mlops_odb *odb, const mlops_oid *name)
{
	for (size_t i = 0; i < odb->npacks; i++)
		if (!mlops_oid_cmp(&odb->packs[i]->name, name))
			return 1;
	for (size_t i = 0; i < odb->nfaults; i++)
		if (!mlops_oid_cmp(&odb->faults[i].name, name))
			return 1;
	return 0;
}

/* With the lock held: load the indexes in objects/pack/ not loaded yet. */
static void scan_packs(struct mlops_odb *odb)
{
	struct stat st;
	odb->packs_scanned = 1;
	if (stat(odb->packdir, &st) < 0)
		return;
	odb->packdir_time = st.st_mtim;
	DIR *d = opendir(odb->packdir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		char hex[MLOPS_OID_HEXSZ + 1];
		mlops_oid name;
		if (strlen(de->d_name) != MLOPS_OID_HEXSZ + 4 ||
		    strcmp(de->d_name + MLOPS_OID_HEXSZ, ".idx"))
			continue;
		memcpy(hex, de->d_name, MLOPS_OID_HEXSZ);
		hex[MLOPS_OID_HEXSZ] = '\0';
		if (mlops_oid_parse(&name, hex) < 0 || pack_known(odb, &name))
			continue;
		load_pack(odb, &name);
	}
	closedir(d);
	mlops_error_clear();
}

/* With the lock held: the pack holding id (its entry in *e), or NULL. */
static struct lpack *packed_find(struct mlops_odb *odb, const mlops_oid *id,
				 struct mlops_pack_entry *e)
{
	if (!odb->packs_scanned)
		scan_packs(odb);
	for (size_t i = odb->npacks; i-- > 0;) {
		struct lpack *p = odb->packs[i];
		const struct mlops_pack_entry *x;
		if (!p->gone && (x = mlops_pack_index_find(p->idx, id))) {
			*e = *x;
			return p;
		}
	}
	return NULL;
}

/*
 * With the lock held, after a miss: look again when objects/pack/ changed
 * since it was read (another process wrote a pack meanwhile).
 */
static struct lpack *packed_find_again(struct mlops_odb *odb, const mlops_oid *id,
				       struct mlops_pack_entry *e)
{
	struct stat st;
	if (stat(odb->packdir, &st) < 0 ||
	    (st.st_mtim.tv_sec == odb->packdir_time.tv_sec &&
	     st.st_mtim.tv_nsec == odb->packdir_time.tv_nsec))
		return NULL;
	scan_packs(odb);
	return packed_find(odb, id, e);
}

/* Where an object's stored bytes are. */
struct where {
	enum mlops_codec codec;
	int fd;             /* the pack (being written, when pack is NULL), or -1: a file of its own */
	struct lpack *pack;
	uint64_t off, len;  /* in the pack */
	char path[PATH_MAX]; /* the file, when fd < 0 */
	int pending;        /* not synced yet */
};

/* 1 when a loose object file exists (its codec, path and size in *w), else 0. */
static int loose_find(struct mlops_odb *odb, const mlops_oid *id, struct where *w)
{
	struct stat st;
	for (int c = 0; c < MLOPS_CODEC_COUNT; c++) {
		object_path(w->path, sizeof(w->path), odb, id, (enum mlops_codec)c);
		if (stat(w->path, &st) == 0) {
			w->codec = (enum mlops_codec)c;
			w->fd = -1;
			w->pack = NULL;
			w->off = 0;
			w->len = (uint64_t)st.st_size;
			w->pending = 0;
			return 1;
		}
	}
	return 0;
}

static void where_packed(struct where *w, struct lpack *p, const struct mlops_pack_entry *e)
{
	w->codec = e->codec;
	w->fd = p->fd;
	w->pack = p;
	w->off = e->offset;
	w->len = e->length;
	w->path[0] = '\0';
	w->pending = 0;
}

/* Found without a look at the disk: pending (with `pending`) or in a loaded pack. */
static int find_indexed(struct mlops_odb *odb, const mlops_oid *id, struct where *w, int pending)
{
	struct mlops_pack_entry e;
	struct lpack *p = NULL;
	pthread_mutex_lock(&odb->lock);
	long i = pending ? pending_find(odb, id) : -1;
	if (i >= 0) {
		struct pending *pe = &odb->pend[i];
		w->codec = pe->codec;
		w->pack = NULL;
		w->off = pe->off;
		w->len = pe->len;
		w->fd = pe->tmp ? -1 : odb->wfd;
		snprintf(w->path, sizeof(w->path), "%s", pe->tmp ? pe->tmp : "");
		w->pending = 1;
	} else if ((p = packed_find(odb, id, &e))) {
		where_packed(w, p, &e);
	}
	pthread_mutex_unlock(&odb->lock);
	return i >= 0 || p;
}

/*
 * Find an object: 1 (with *w) or 0.  With `pending`, objects not yet
 * synced count too.
 */
static int find_object(struct mlops_odb *odb, const mlops_oid *id, struct where *w, int pending)
{
	struct mlops_pack_entry e;
	struct lpack *p;
	if (find_indexed(odb, id, w, pending) || loose_find(odb, id, w))
		return 1;
	pthread_mutex_lock(&odb->lock);
	if ((p = packed_find_again(odb, id, &e)))
		where_packed(w, p, &e);
	pthread_mutex_unlock(&odb->lock);
	return p != NULL;
}

int mlops_odb_exists(struct mlops_odb *odb, const mlops_oid *id)
{
	struct where w;
	return find_object(odb, id, &w, 1);
}

/* With the lock held: note an object installed while expecting arrivals. */
static void arrived_locked(struct mlops_odb *odb, const mlops_oid *id)
{
	if (!odb->arrived && mlops_oidmap_new(&odb->arrived) < 0)
		return; /* readers then look each object up on disk */
	(void)mlops_oidmap_put(odb->arrived, id, NULL);
}

/* With the lock held: wake the readers waiting for arrivals. */
static void arrivals_moved_locked(struct mlops_odb *odb)
{
	if (!odb->expecting)
		return;
	odb->arrivals++;
	pthread_cond_broadcast(&odb->arrival);
}

void mlops_odb_expect(struct mlops_odb *odb, int on)
{
	pthread_mutex_lock(&odb->lock);
	odb->expecting = on;
	if (!on) {
		odb->arrivals++;
		pthread_cond_broadcast(&odb->arrival);
		mlops_oidmap_free(odb->expected);
		mlops_oidmap_free(odb->arrived);
		odb->expected = odb->arrived = NULL;
	}
	pthread_mutex_unlock(&odb->lock);
}

int mlops_odb_expecting(struct mlops_odb *odb)
{
	pthread_mutex_lock(&odb->lock);
	int on = odb->expecting;
	pthread_mutex_unlock(&odb->lock);
	return on;
}

int mlops_odb_expect_ids(struct mlops_odb *odb, const mlops_oid *ids, size_t n)
{
	int err = 0;
	pthread_mutex_lock(&odb->lock);
	if (odb->expecting && !odb->expected && mlops_oidmap_new(&odb->expected) < 0)
		err = MLOPS_ERROR;
	if (err == 0 && odb->expecting &&
	    mlops_oidmap_reserve(odb->expected, mlops_oidmap_count(odb->expected) + n) < 0)
		err = MLOPS_ERROR;
	for (size_t i = 0; err == 0 && odb->expecting && i < n; i++)
		if (mlops_oidmap_put(odb->expected, &ids[i], NULL) < 0)
			err = MLOPS_ERROR;
	pthread_mutex_unlock(&odb->lock);
	return err < 0 ? mlops_error_set(err, "out of memory") : 0;
}

void mlops_odb_present(struct mlops_odb *odb, const mlops_oid *ids, size_t n)
{
	pthread_mutex_lock(&odb->lock);
	for (size_t i = 0; odb->expecting && i < n; i++)
		arrived_locked(odb, &ids[i]);
	if (n)
		arrivals_moved_locked(odb);
	pthread_mutex_unlock(&odb->lock);
}

uint64_t mlops_odb_arrivals(struct mlops_odb *odb)
{
	pthread_mutex_lock(&odb->lock);
	uint64_t n = odb->arrivals;
	pthread_mutex_unlock(&odb->lock);
	return n;
}

int mlops_odb_wait_arrival(struct mlops_odb *odb, uint64_t seen)
{
	pthread_mutex_lock(&odb->lock);
	while (odb->expecting && odb->arrivals == seen)
		pthread_cond_wait(&odb->arrival, &odb->lock);
	int more = odb->expecting;
	pthread_mutex_unlock(&odb->lock);
	return more;
}

int mlops_odb_ready(struct mlops_odb *odb, const mlops_oid *id)
{
	struct where w;
	pthread_mutex_lock(&odb->lock);
	int known = !odb->expecting ? 1 :
		    odb->arrived && mlops_oidmap_get(odb->arrived, id) ? 1 :
		    odb->expected && mlops_oidmap_get(odb->expected, id) ? 0 : -1;
	pthread_mutex_unlock(&odb->lock);
	return known >= 0 ? known : find_object(odb, id, &w, 0);
}

void mlops_odb_await(struct mlops_odb *odb, const mlops_oid *id)
{
	for (;;) {
		uint64_t seen = mlops_odb_arrivals(odb);
		if (mlops_odb_ready(odb, id) || !mlops_odb_wait_arrival(odb, seen))
			return;
	}
}

/* Set a file's time to now: 1 when done or when it exists but may not be touched. */
static int touch(const char *path)
{
	if (utimensat(AT_FDCWD, path, NULL, 0) == 0)
		return 1;
	return errno != ENOENT && access(path, F_OK) == 0;
}

/* Freshen an object found at w: 1, or 0 when it went meanwhile. */
static int freshen_found(struct mlops_odb *odb, const mlops_oid *id, struct where *w)
{
	if (w->pending)
		return 1;
	if (!w->pack)
		return touch(w->path) || find_object(odb, id, w, 0);
	/* A pack's time counts for all its objects: set once per handle. */
	pthread_mutex_lock(&odb->lock);
	int done = w->pack->freshened;
	w->pack->freshened = 1;
	pthread_mutex_unlock(&odb->lock);
	/* A new time moves the pack's ctime: a sealed pack is sealed again. */
	if (!done) {
		int sealed = pack_is_sealed(odb, &w->pack->name);
		if (touch(w->pack->path) && sealed)
			(void)seal_pack(odb, &w->pack->name);
	}
	return 1;
}

int mlops_odb_freshen(struct mlops_odb *odb, const mlops_oid *id)
{
	struct where w;
	return find_object(odb, id, &w, 1) && freshen_found(odb, id, &w);
}

/* The ids of the loose objects in one fanout directory, sorted; NULL when it has none. */
struct fanout_ids {
	mlops_oid *ids;
	size_t n;
};

static void fanout_read(struct fanout_ids *f, const char *dir, unsigned char fan)
{
	size_t cap = 0;
	char hex[MLOPS_OID_HEXSZ + 1];
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return;
	snprintf(hex, sizeof(hex), "%02x", fan);
	while ((de = readdir(d))) {
		if (strlen(de->d_name) < MLOPS_OID_HEXSZ - 2)
			continue;
		memcpy(hex + 2, de->d_name, MLOPS_OID_HEXSZ - 2);
		hex[MLOPS_OID_HEXSZ] = '\0';
		if (f->n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			mlops_oid *m = realloc(f->ids, nc * sizeof(*m));
			if (!m)
				break;
			f->ids = m;
			cap = nc;
		}
		if (mlops_oid_parse(&f->ids[f->n], hex) == 0)
			f->n++;
	}
	closedir(d);
	mlops_error_clear();
	if (f->n)
		qsort(f->ids, f->n, sizeof(*f->ids), mlops_oid_qcmp);
}

void mlops_odb_freshen_many(struct mlops_odb *odb, const mlops_oid *ids, size_t n,
			    unsigned char *present)
{
	/* Below this many ids, four calls each cost less than reading directories. */
	int list = n >= 4096;
	unsigned char fanout[256] = { 0 }; /* 0 not looked at, 1 a directory, 2 none */
	struct fanout_ids names[256];
	char path[PATH_MAX];
	struct stat st;
	struct where w;
	memset(names, 0, sizeof(names));
	/* Packs another process wrote meanwhile: looked for once, not per id. */
	pthread_mutex_lock(&odb->lock);
	if (!odb->packs_scanned || stat(odb->packdir, &st) < 0 ||
	    st.st_mtim.tv_sec != odb->packdir_time.tv_sec ||
	    st.st_mtim.tv_nsec != odb->packdir_time.tv_nsec)
		scan_packs(odb);
	pthread_mutex_unlock(&odb->lock);
	for (size_t i = 0; i < n; i++) {
		unsigned char f = ids[i].id[0];
		present[i] = 0;
		if (!find_indexed(odb, &ids[i], &w, 1)) {
			if (!fanout[f]) {
				snprintf(path, sizeof(path), "%s/%02x", odb->dir, f);
				fanout[f] = stat(path, &st) == 0 ? 1 : 2;
				if (fanout[f] == 1 && list)
					fanout_read(&names[f], path, f);
			}
			if (fanout[f] == 2 ||
			    (list && (!names[f].n ||
				      !bsearch(&ids[i], names[f].ids, names[f].n, sizeof(mlops_oid),
					       mlops_oid_qcmp))) ||
			    !loose_find(odb, &ids[i], &w))
				continue;
		}
		present[i] = (unsigned char)freshen_found(odb, &ids[i], &w);
	}
	for (int f = 0; f < 256; f++)
		free(names[f].ids);
}

/*
 * Decide whether compressing pays: compress a 4 KiB sample at level 1 and
 * keep the codec only when it shrinks by at least 10%.
 */
static int worth_compressing(const void *data, size_t len)
{
	if (len < 512)
		return 0;
	size_t sample = len < 4096 ? len : 4096;
	char buf[4096 + 512];
	size_t n = ZSTD_compress(buf, sizeof(buf), data, sample, 1);
	if (ZSTD_isError(n))
		return 0;
	return n * 10 < sample * 9;
}

static int compress_buf(void **out, size_t *outlen, enum mlops_codec codec, int level,
			const void *data, size_t len)
{
	if (codec == MLOPS_CODEC_ZSTD) {
		size_t cap = ZSTD_compressBound(len);
		void *buf = malloc(cap);
		if (!buf)
			return -1;
		size_t n = ZSTD_compress(buf, cap, data, len, level);
		if (ZSTD_isError(n)) {
			free(buf);
			return -1;
		}
		*out = buf;
		*outlen = n;
		return 0;
	}
	uLongf cap = compressBound((uLong)len);
	void *buf = malloc(cap);
	if (!buf)
		return -1;
	if (compress2(buf, &cap, data, (uLong)len, level > 9 ? 9 : level < 1 ? 1 : level) != Z_OK) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = cap;
	return 0;
}

/*
 * Record tmp (a complete object file, owned from now on) as pending id:
 * 0, or 1 when a duplicate written meanwhile by another thread won and tmp
 * went.
 */
static int add_pending_locked(struct mlops_odb *odb, const mlops_oid *id,
			      enum mlops_codec codec, char *tmp, uint64_t off, uint64_t len)
{
	if (pending_find(odb, id) >= 0 || pending_grow(odb) < 0) {
		int dup = pending_find(odb, id) >= 0;
		if (tmp)
			unlink(tmp);
		free(tmp);
		return dup ? 1 : mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	struct pending *p = &odb->pend[odb->npend];
	p->id = *id;
	p->codec = codec;
	p->tmp = tmp;
	p->off = off;
	p->len = len;
	size_t s = slot_of(id, odb->nslots);
	while (odb->slots[s])
		s = (s + 1) & (odb->nslots - 1);
	odb->slots[s] = ++odb->npend;
	/* Best effort: without the record, checkout only hashes once more. */
	if (odb->written || mlops_oidmap_new(&odb->written) == 0)
		(void)mlops_oidmap_put(odb->written, id, NULL);
	mlops_error_clear();
	return 0;
}

static int add_pending(struct mlops_odb *odb, const mlops_oid *id, enum mlops_codec codec,
		       char *tmp, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&odb->lock);
	int rc = add_pending_locked(odb, id, codec, tmp, off, len);
	pthread_mutex_unlock(&odb->lock);
	return rc;
}

/*
 * Append an object's stored bytes to the pack being written (started
 * here) and make it pending.  The space is reserved under the lock and
 * written outside it, so threads fill the pack in parallel; a duplicate
 * that loses the race leaves unused bytes, which no index names.  A sync
 * waits for the writes in flight (wbusy), so that every reserved range is
 * written and named by the pack it was reserved in.
 */
static int write_packed(struct mlops_odb *odb, const mlops_oid *id, enum mlops_codec codec,
			const void *data, size_t len)
{
	int err = 0;
	pthread_mutex_lock(&odb->lock);
	if (odb->wfd < 0) {
		if ((err = mlops_tempfile(&odb->wfd, &odb->wtmp, odb->tmpdir, "pack-")) < 0)
			goto fail_locked;
		mlops_tempfile_register(odb->wtmp);
		if (fchmod(odb->wfd, 0444 & ~mlops_umask()) < 0 ||
		    mlops_write_all(odb->wfd, MLOPS_PACK_MAGIC, MLOPS_PACK_HDR) < 0) {
			err = mlops_error_sys(errno, "unable to write pack '%s'", odb->wtmp);
			drop_wpack(odb);
			goto fail_locked;
		}
		odb->wsize = MLOPS_PACK_HDR;
	}
	int fd = odb->wfd;
	uint64_t off = odb->wsize;
	odb->wsize += len;
	odb->wbusy++;
	pthread_mutex_unlock(&odb->lock);
	if (mlops_pwrite_all(fd, data, len, off) < 0)
		err = mlops_error_sys(errno, "unable to write to a pack in '%s'", odb->tmpdir);
	/* Start the write-back as the pack grows (see write_pending). */
	else if (odb->fsync && (off + len) / ODB_PACK_KICK != off / ODB_PACK_KICK)
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	pthread_mutex_lock(&odb->lock);
	if (err == 0)
		err = add_pending_locked(odb, id, codec, NULL, off, len);
	if (--odb->wbusy == 0)
		pthread_cond_broadcast(&odb->wdone);
	pthread_mutex_unlock(&odb->lock);
	return err;
fail_locked:
	pthread_mutex_unlock(&odb->lock);
	return err;
}

/* With the lock held: whether the batch writes new objects into a pack. */
static int packing_locked(const struct mlops_odb *odb)
{
	return odb->pack_after >= 0 && (odb->nwrites >= (size_t)odb->pack_after ||
					odb->loose_bytes >= ODB_PACK_AFTER_BYTES);
}

int mlops_odb_packing(struct mlops_odb *odb)
{
	pthread_mutex_lock(&odb->lock);
	int packed = packing_locked(odb);
	pthread_mutex_unlock(&odb->lock);
	return packed;
}

/*
 * Whether the next object (len bytes) goes to a pack: the batch has
 * pack_after objects, or ODB_PACK_AFTER_BYTES in files of their own,
 * already.
 */
static int next_packed(struct mlops_odb *odb, uint64_t len)
{
	pthread_mutex_lock(&odb->lock);
	int packed = packing_locked(odb);
	odb->nwrites++;
	if (!packed)
		odb->loose_bytes += len;
	pthread_mutex_unlock(&odb->lock);
	return packed;
}

/*
 * Store an object's bytes and make it pending (as add_pending): in a file
 * of its own in tmp/, or in the pack being written once the batch (the
 * objects since the last sync) has pack_after objects.
 */
static int write_pending(struct mlops_odb *odb, const mlops_oid *id, enum mlops_codec codec,
			 const void *data, size_t len)
{
	char *tmp = NULL;
	int fd, err;
	if (next_packed(odb, len))
		return write_packed(odb, id, codec, data, len);
	if ((err = mlops_tempfile(&fd, &tmp, odb->tmpdir, "obj-")) < 0)
		return err;
	if (fchmod(fd, 0444 & ~mlops_umask()) < 0 || mlops_write_all(fd, data, len) < 0) {
		err = mlops_error_sys(errno, "unable to write object to '%s'", tmp);
		close(fd);
		goto fail;
	}
	/*
	 * Start writing large objects to disk now, so that the batch's sync
	 * finds most of the data already written instead of all of it: the
	 * disk works while the next chunks are hashed.  Only a hint; the sync
	 * in mlops_odb_sync() is what makes the data durable.
	 */
	if (odb->fsync && len >= ODB_WRITEBACK_MIN)
		(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(fd) < 0) {
		err = mlops_error_sys(errno, "unable to write object to '%s'", tmp);
		goto fail;
	}
	return add_pending(odb, id, codec, tmp, 0, len);
fail:
	unlink(tmp);
	free(tmp);
	return err;
}

int mlops_odb_write_hashed(struct mlops_odb *odb, const mlops_oid *id,
			   const void *data, size_t len, uint64_t *stored)
{
	enum mlops_codec codec = MLOPS_CODEC_NONE;
	void *cbuf = NULL;
	const void *wbuf = data;
	size_t wlen = len;
	int err = 0;

	if (stored)
		*stored = 0;
	if (odb->scan_only || mlops_odb_freshen(odb, id))
		return 0;
	if ((err = ensure_configured(odb)) < 0)
		return err;

	if (odb->codec != MLOPS_CODEC_NONE && worth_compressing(data, len)) {
		size_t clen, slen = len;
		enum mlops_codec with = odb->codec;
		void *col = NULL;
		const void *src = data;
		/* Delimited text compresses better column by column (columnar.h). */
		if (odb->codec == MLOPS_CODEC_ZSTD &&
		    mlops_columnar_encode(&col, &slen, data, len) == 1) {
			src = col;
			with = MLOPS_CODEC_ZCOL;
		} else {
			slen = len;
		}
		if (compress_buf(&cbuf, &clen, odb->codec, odb->level, src, slen) == 0 &&
		    clen * 20 < len * 19) {
			codec = with;
			wbuf = cbuf;
			wlen = clen;
		}
		free(col);
	}
	err = write_pending(odb, id, codec, wbuf, wlen);
	if (err == 0 && stored)
		*stored = wlen;
	free(cbuf);
	return err < 0 ? err : 0;
}

/* Called by a transfer for objects it found missing: only the pending set is checked. */
static int is_pending(struct mlops_odb *odb, const mlops_oid *id)
{
	pthread_mutex_lock(&odb->lock);
	long p = pending_find(odb, id);
	pthread_mutex_unlock(&odb->lock);
	return p >= 0;
}

int mlops_odb_write_stored(struct mlops_odb *odb, const mlops_oid *id, enum mlops_codec codec,
			   const void *data, size_t len, uint64_t *stored)
{
	int err;
	if (stored)
		*stored = 0;
	if (is_pending(odb, id))
		return 0;
	if ((err = ensure_configured(odb)) < 0)
		return err;
	err = write_pending(odb, id, codec, data, len);
	if (err == 0 && stored)
		*stored = len;
	return err < 0 ? err : 0;
}

int mlops_odb_adopt(struct mlops_odb *odb, const mlops_oid *id, enum mlops_codec codec,
		    const char *path)
{
	int err;
	if (is_pending(odb, id)) {
		unlink(path);
		return 0;
	}
	char *tmp = NULL;
	if ((err = ensure_configured(odb)) < 0)
		goto fail;
	if (chmod(path, 0444 & ~mlops_umask()) < 0) {
		err = mlops_error_sys(errno, "unable to adopt '%s'", path);
		goto fail;
	}
	if (!(tmp = strdup(path))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto fail;
	}
	struct stat st;
	uint64_t size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
	(void)next_packed(odb, size); /* counts towards the batch's pack_after */
	err = add_pending(odb, id, codec, tmp, 0, size);
	return err < 0 ? err : 0;
fail:
	unlink(path);
	return err;
}

/* With the lock held: note ids as hashed on the way in (see copy_to_fd). */
static void mark_written(struct mlops_odb *odb, const struct mlops_pack_index *idx)
{
	if (!odb->written && mlops_oidmap_new(&odb->written) < 0)
		return;
	(void)mlops_oidmap_reserve(odb->written, mlops_oidmap_count(odb->written) + idx->count);
	for (size_t i = 0; i < idx->count; i++)
		(void)mlops_oidmap_put(odb->written, &idx->entries[i].id, NULL);
}

/* With the lock held: MLOPS_ECORRUPT with its message when pack `name` failed to load. */
static int pack_fault_of(struct mlops_odb *odb, const mlops_oid *name)
{
	for (size_t i = 0; i < odb->nfaults; i++)
		if (!mlops_oid_cmp(&odb->faults[i].name, name))
			return mlops_error_set(MLOPS_ECORRUPT, "%s; see mlops fsck", odb->faults[i].message);
	return 0;
}

/* Link src at dst, or copy it there through tmpdir; 0 also when dst exists. */
static int place_pack(struct mlops_odb *odb, const char *src, const char *dst, int link_ok)
{
	int in = -1, out = -1, err = 0;
	char *tmp = NULL;
	if (link_ok && link(src, dst) == 0) {
		/*
		 * Its time is set to now, as for a pack written here: gc takes
		 * an old pack without its index for a crash's leftover, and
		 * counts the grace period of its objects from that time.  Only
		 * a file this user owns can be given a time; any other is copied.
		 * The remote may not have synced it: its bytes are ours to make
		 * durable.
		 */
		if (utimensat(AT_FDCWD, dst, NULL, 0) == 0 &&
		    (!odb->fsync || (err = mlops_fsync_path(dst)) == 0))
			return 0;
		unlink(dst);
		if (err < 0)
			return err;
	}
	/* There already: an earlier fetch's (renamed or linked whole) whose index never came. */
	if (access(dst, F_OK) == 0)
		return 0;
	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return mlops_error_sys(errno, "unable to open '%s'", src);
	struct stat st;
	if (fstat(in, &st) < 0) {
		err = mlops_error_sys(errno, "unable to stat '%s'", src);
		goto done;
	}
	if ((err = mlops_tempfile(&out, &tmp, odb->tmpdir, "pack-")) < 0)
		goto done;
	mlops_tempfile_register(tmp);
	if ((err = mlops_copy_fd(out, in, (uint64_t)st.st_size, src, tmp, 1)) < 0)
		goto done;
	if (fchmod(out, 0444 & ~mlops_umask()) < 0 || (odb->fsync && fsync(out) < 0)) {
		err = mlops_error_sys(errno, "unable to write pack '%s'", tmp);
		goto done;
	}
	if (rename(tmp, dst) < 0)
		err = mlops_error_sys(errno, "unable to move pack into '%s'", dst);
done:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (tmp) {
		if (err < 0)
			unlink(tmp);
		mlops_tempfile_forget(tmp);
		free(tmp);
	}
	return err;
}

int mlops_odb_adopt_pack(struct mlops_odb *odb, const char *src,
			 const struct mlops_pack_index *idx, int link_ok)
{
	struct mlops_pack_entry *entries = NULL;
	unsigned char *bytes = NULL;
	size_t blen, n = idx->count;
	mlops_oid name;
	char path[PATH_MAX], hex[MLOPS_OID_HEXSZ + 1];
	int err;
	if (!(entries = malloc((n ? n : 1) * sizeof(*entries))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	memcpy(entries, idx->entries, n * sizeof(*entries));
	err = mlops_pack_index_encode(&bytes, &blen, &name, &idx->pack, idx->pack_size, entries, &n);
	free(entries);
	if (err < 0)
		return err;
	if (mlops_oid_cmp(&name, &idx->id)) {
		err = mlops_error_set(MLOPS_EINVALID, "pack index %s does not encode as itself",
				      mlops_oid_fmt(hex, &idx->id));
		goto done;
	}
	if ((err = ensure_configured(odb)) < 0)
		goto done;
	pthread_mutex_lock(&odb->lock);
	if (!odb->packs_scanned)
		scan_packs(odb);
	int known = pack_known(odb, &name);
	if (known && (err = pack_fault_of(odb, &name)) == 0)
		mark_written(odb, idx);
	pthread_mutex_unlock(&odb->lock);
	if (known)
		goto done;
	if (mkdir(odb->packdir, 0777) < 0 && errno != EEXIST) {
		err = mlops_error_sys(errno, "unable to create directory '%s'", odb->packdir);
		goto done;
	}
	/* The pack first, durable: an index always names a complete pack. */
	pack_path(path, sizeof(path), odb, &name, "pack");
	if ((err = place_pack(odb, src, path, link_ok)) < 0)
		goto done;
	pack_path(path, sizeof(path), odb, &name, "idx");
	if ((err = mlops_write_file_atomic(path, bytes, blen, odb->tmpdir, odb->fsync)) < 0)
		goto done;
	/* Every object in it was verified by the caller. */
	(void)seal_pack(odb, &name);
	pthread_mutex_lock(&odb->lock);
	load_pack(odb, &name);
	/* Loaded, or recorded as a fault: then its objects are not stored. */
	if ((err = pack_fault_of(odb, &name)) == 0) {
		mark_written(odb, idx);
		for (size_t i = 0; odb->expecting && i < idx->count; i++)
			arrived_locked(odb, &idx->entries[i].id);
		arrivals_moved_locked(odb);
	}
	pthread_mutex_unlock(&odb->lock);
done:
	free(bytes);
	return err;
}

int mlops_odb_write(mlops_oid *out, struct mlops_odb *odb, const void *data,
		    size_t len, uint64_t *stored)
{
	mlops_hash_buf(out, data, len);
	return mlops_odb_write_hashed(odb, out, data, len, stored);
}

/*
 * With the lock held: the index of the pack being written, from its
 * pending entries, in a temporary file (*idx_tmp), and the pack as a
 * loaded pack (*out) to be renamed into place.  *out stays NULL when no
 * pending object is in the pack.
 */
static int finish_wpack(struct mlops_odb *odb, struct lpack **out, char **idx_tmp)
{
	struct mlops_pack_entry *entries = NULL;
	struct lpack *p = NULL;
	unsigned char *idx = NULL;
	size_t n = 0, idx_len;
	mlops_oid name, zero;
	int fd = -1, err = 0;
	*out = NULL;
	*idx_tmp = NULL;
	if (!(entries = malloc((odb->npend ? odb->npend : 1) * sizeof(*entries))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	for (size_t i = 0; i < odb->npend; i++) {
		struct pending *pe = &odb->pend[i];
		if (pe->tmp)
			continue;
		entries[n].id = pe->id;
		entries[n].offset = pe->off;
		entries[n].length = pe->len;
		entries[n].codec = pe->codec;
		n++;
	}
	if (!n)
		goto done;
	memset(&zero, 0, sizeof(zero));
	if ((err = mlops_pack_index_encode(&idx, &idx_len, &name, &zero, odb->wsize, entries, &n)) < 0)
		goto done;
	if ((err = mlops_tempfile(&fd, idx_tmp, odb->tmpdir, "idx-")) < 0)
		goto done;
	if (fchmod(fd, 0444 & ~mlops_umask()) < 0 || mlops_write_all(fd, idx, idx_len) < 0 ||
	    close(fd) < 0) {
		err = mlops_error_sys(errno, "unable to write pack index '%s'", *idx_tmp);
		fd = -1;
		goto done;
	}
	fd = -1;
	char path[PATH_MAX];
	pack_path(path, sizeof(path), odb, &name, "pack");
	if (!(p = calloc(1, sizeof(*p))) || !(p->idx = calloc(1, sizeof(*p->idx))) ||
	    !(p->path = strdup(path))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	p->fd = -1;
	p->name = name;
	p->size = odb->wsize;
	p->idx->id = name;
	p->idx->pack_size = odb->wsize;
	p->idx->entries = entries;
	p->idx->count = n;
	mlops_pack_index_fanout(p->idx);
	entries = NULL;
	*out = p;
	p = NULL;
done:
	if (fd >= 0)
		close(fd);
	if (err < 0 && *idx_tmp) {
		unlink(*idx_tmp);
		free(*idx_tmp);
		*idx_tmp = NULL;
	}
	lpack_free(p);
	free(entries);
	free(idx);
	return err;
}

/* With the lock held: rename the finished pack and its index into objects/pack/. */
static int install_wpack(struct mlops_odb *odb, struct lpack *p, const char *idx_tmp)
{
	char path[PATH_MAX];
	if (mkdir(odb->packdir, 0777) < 0 && errno != EEXIST)
		return mlops_error_sys(errno, "unable to create directory '%s'", odb->packdir);
	/* The pack first: an index always names a complete pack. */
	if (rename(odb->wtmp, p->path) < 0)
		return mlops_error_sys(errno, "unable to move pack into '%s'", p->path);
	pack_path(path, sizeof(path), odb, &p->name, "idx");
	if (rename(idx_tmp, path) < 0)
		return mlops_error_sys(errno, "unable to move pack index into '%s'", path);
	/* Its objects were hashed on their way in. */
	p->sealed = seal_pack(odb, &p->name);
	mlops_tempfile_forget(odb->wtmp);
	free(odb->wtmp);
	odb->wtmp = NULL;
	p->fd = odb->wfd;
	odb->wfd = -1;
	odb->wsize = 0;
	return 0;
}

int mlops_odb_sync(struct mlops_odb *odb)
{
	int err = 0;
	char path[PATH_MAX];
	struct lpack *wp = NULL;
	char *idx_tmp = NULL;
	pthread_mutex_lock(&odb->lock);
	while (odb->wbusy)
		pthread_cond_wait(&odb->wdone, &odb->lock);
	if (!odb->npend) {
		drop_wpack(odb);
		goto done;
	}
	if (odb->wfd >= 0 && (err = finish_wpack(odb, &wp, &idx_tmp)) < 0)
		goto done;
	/*
	 * A few files are synced one by one, their folders after the renames;
	 * a batch of many with one syncfs() of the file system before the
	 * renames and one after (fsutil.h says why).
	 */
	size_t nfiles = wp ? 2 : 0;
	for (size_t i = 0; i < odb->npend; i++)
		nfiles += odb->pend[i].tmp != NULL;
	int by_file = nfiles <= MLOPS_FSYNC_FILES;
	unsigned char renamed_in[256] = { 0 };
	int made_dir = 0, installed = 0;
	if (odb->fsync && by_file) {
		for (size_t i = 0; i < odb->npend && err == 0; i++)
			if (odb->pend[i].tmp)
				err = mlops_fsync_path(odb->pend[i].tmp);
		if (err == 0 && wp && fsync(odb->wfd) < 0)
			err = mlops_error_sys(errno, "unable to sync pack '%s'", odb->wtmp);
		if (err == 0 && wp)
			err = mlops_fsync_path(idx_tmp);
		if (err < 0)
			goto done;
	} else if (odb->fsync && (err = mlops_syncfs(odb->tmpdir)) < 0) {
		goto done;
	}
	for (size_t i = 0; i < odb->npend; i++) {
		struct pending *p = &odb->pend[i];
		if (!p->tmp)
			continue;
		object_path(path, sizeof(path), odb, &p->id, p->codec);
		unsigned char fan = p->id.id[0];
		renamed_in[fan] = 1;
		if (!odb->fanout_made[fan]) {
			char *slash = strrchr(path, '/');
			*slash = '\0';
			if (mkdir(path, 0777) == 0)
				made_dir = 1;
			else if (errno != EEXIST) {
				err = mlops_error_sys(errno, "unable to create directory '%s'", path);
				goto done;
			}
			*slash = '/';
			odb->fanout_made[fan] = 1;
		}
		if (rename(p->tmp, path) < 0) {
			err = mlops_error_sys(errno, "unable to move object into '%s'", path);
			goto done;
		}
		free(p->tmp);
		p->tmp = NULL;
	}
	if (wp) {
		installed = 1;
		if ((err = install_wpack(odb, wp, idx_tmp)) < 0)
			goto done;
		if ((err = packs_append(odb, wp)) < 0) {
			wp = NULL;
			goto done;
		}
		wp = NULL;
	}
	drop_wpack(odb); /* a pack with no object in it (all were duplicates) */
	if (odb->fsync && by_file) {
		for (int fan = 0; fan < 256 && err == 0; fan++) {
			if (!renamed_in[fan])
				continue;
			snprintf(path, sizeof(path), "%s/%02x", odb->dir, fan);
			err = mlops_fsync_dir(path);
		}
		/* A new pack's folder; the objects folder when a folder was made in it. */
		if (err == 0 && installed)
			err = mlops_fsync_dir(odb->packdir);
		if (err == 0 && (made_dir || installed))
			err = mlops_fsync_dir(odb->dir);
		if (err < 0)
			goto done;
	} else if (odb->fsync && (err = mlops_syncfs(odb->dir)) < 0) {
		goto done;
	}
	for (size_t i = 0; odb->expecting && i < odb->npend; i++)
		arrived_locked(odb, &odb->pend[i].id);
	arrivals_moved_locked(odb);
	odb->npend = 0;
	odb->nwrites = 0;
	odb->loose_bytes = 0;
	memset(odb->slots, 0, odb->nslots * sizeof(*odb->slots));
done:
	if (err < 0) {
		/* Forget what was renamed or packed; drop the rest. */
		size_t keep = 0;
		for (size_t i = 0; i < odb->npend; i++)
			if (odb->pend[i].tmp)
				odb->pend[keep++] = odb->pend[i];
		odb->npend = keep;
		drop_pending(odb);
	}
	if (idx_tmp) {
		unlink(idx_tmp); /* gone already when installed */
		free(idx_tmp);
	}
	lpack_free(wp);
	pthread_mutex_unlock(&odb->lock);
	return err;
}

/*
 * Decompress one zstd frame.  The size in the frame header is checked
 * against the output, not trusted for an allocation (a damaged header may
 * claim terabytes): the buffer starts at most ZSTD_FIRST_CAP and grows as
 * output actually comes, to at most the declared size; one byte of slack
 * past it catches a frame that yields more than it declared.
 */
#define ZSTD_FIRST_CAP ((size_t)16 << 20)

static int zstd_decompress(void **out, size_t *outlen, const void *data, size_t len,
			   const char *path)
{
	unsigned long long size = ZSTD_getFrameContentSize(data, len);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size >= SIZE_MAX / 2)
		return mlops_error_set(MLOPS_ECORRUPT, "object '%s' is corrupt: bad zstd frame", path);
	size_t cap = size < ZSTD_FIRST_CAP ? (size_t)size : ZSTD_FIRST_CAP, used = 0;
	char *buf = malloc(cap + 2);
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	const char *why = NULL;
	int err = 0;
	if (!buf || !dctx) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	ZSTD_inBuffer in = { data, len, 0 };
	for (;;) {
		if (used == cap && cap < size) {
			size_t ncap = cap * 2 > size || cap * 2 < cap ? (size_t)size : cap * 2;
			char *nb = realloc(buf, ncap + 2);
			if (!nb) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				goto done;
			}
			buf = nb;
			cap = ncap;
		}
		size_t in_before = in.pos, used_before = used;
		ZSTD_outBuffer ob = { buf, cap == size ? cap + 1 : cap, used };
		size_t r = ZSTD_decompressStream(dctx, &ob, &in);
		used = ob.pos;
		if (ZSTD_isError(r)) {
			why = ZSTD_getErrorName(r);
			break;
		}
		if (used > size) {
			why = "more data than its header declares";
			break;
		}
		if (r == 0)
			break; /* frame complete */
		if (in.pos == in_before && used == used_before) {
			why = "truncated frame"; /* no progress: the input ended early */
			break;
		}
	}
	if (!why && used != size)
		why = "short frame";
	if (!why && in.pos != in.size)
		why = "data after the frame";
	if (why) {
		err = mlops_error_set(MLOPS_ECORRUPT, "object '%s' is corrupt: %s", path, why);
		goto done;
	}
	buf[used] = '\0';
	*out = buf;
	*outlen = used;
	buf = NULL;
done:
	free(buf);
	ZSTD_freeDCtx(dctx);
	return err;
}

static int decompress(void **out, size_t *outlen, enum mlops_codec codec,
		      const void *data, size_t len, const char *path)
{
	if (codec == MLOPS_CODEC_ZSTD)
		return zstd_decompress(out, outlen, data, len, path);
	if (codec == MLOPS_CODEC_ZCOL) {
		void *layout;
		size_t n;
		const char *why;
		int err = zstd_decompress(&layout, &n, data, len, path);
		if (err < 0)
			return err;
		if (mlops_columnar_decode(out, outlen, layout, n, &why) < 0)
			err = !strcmp(why, "out of memory") ? mlops_error_set(MLOPS_ERROR, "out of memory") :
			      mlops_error_set(MLOPS_ECORRUPT, "object '%s' is corrupt: %s", path, why);
		free(layout);
		return err;
	}
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	size_t cap = len * 4 + 64, used = 0;
	char *buf = malloc(cap + 1);
	if (!buf) {
		inflateEnd(&zs);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	int rc;
	do {
		if (used == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb) {
				free(buf);
				inflateEnd(&zs);
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			}
			buf = nb;
			cap *= 2;
		}
		zs.next_out = (Bytef *)buf + used;
		zs.avail_out = (uInt)(cap - used);
		rc = inflate(&zs, Z_NO_FLUSH);
		used = cap - zs.avail_out;
	} while (rc == Z_OK);
	inflateEnd(&zs);
	if (rc != Z_STREAM_END) {
		free(buf);
		return mlops_error_set(MLOPS_ECORRUPT, "object '%s' is corrupt: bad zlib stream", path);
	}
	buf[used] = '\0';
	*out = buf;
	*outlen = used;
	return 0;
}

int mlops_odb_locate(char **path, enum mlops_codec *codec, struct mlops_odb *odb,
		     const mlops_oid *id)
{
	struct where w;
	char hex[MLOPS_OID_HEXSZ + 1];
	if (!loose_find(odb, id, &w)) {
		mlops_oid_fmt(hex, id);
		if (find_object(odb, id, &w, 0))
			return mlops_error_set(MLOPS_ENOTFOUND, "object %s is in a pack", hex);
		return mlops_error_set(MLOPS_ENOTFOUND, "object %s not found in the store", hex);
	}
	*codec = w.codec;
	*path = strdup(w.path);
	return *path ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
}

/*
 * An object that no loose file, pending write or usable pack holds:
 * MLOPS_ECORRUPT when a pack that failed to load lists it (the object is
 * damaged with its pack, as fsck says), else MLOPS_ENOTFOUND.
 */
static int not_found(struct mlops_odb *odb, const mlops_oid *id)
{
	char hex[MLOPS_OID_HEXSZ + 1], pack[MLOPS_OID_HEXSZ + 1];
	int err = 0;
	mlops_oid_fmt(hex, id);
	pthread_mutex_lock(&odb->lock);
	for (size_t i = 0; i < odb->nfaults && err == 0; i++)
		if (odb->faults[i].idx && mlops_pack_index_find(odb->faults[i].idx, id))
			err = mlops_error_set(MLOPS_ECORRUPT, "object %s is in pack %s, which is damaged: "
					      "%s; see mlops fsck", hex,
					      mlops_oid_fmt(pack, &odb->faults[i].name),
					      odb->faults[i].message);
	pthread_mutex_unlock(&odb->lock);
	return err < 0 ? err : mlops_error_set(MLOPS_ENOTFOUND, "object %s not found in the store", hex);
}

int mlops_odb_info(struct mlops_odb_info *info, struct mlops_odb *odb, const mlops_oid *id)
{
	struct where w;
	struct stat st;
	if (!find_object(odb, id, &w, 0))
		return not_found(odb, id);
	info->codec = w.codec;
	info->stored_size = w.len;
	info->packed = w.pack != NULL;
	memset(&info->pack, 0, sizeof(info->pack));
	info->pack_objects = 0;
	if (w.pack) {
		info->pack = w.pack->name;
		info->pack_objects = w.pack->idx->count;
	}
	info->mtime = 0;
	if (stat(w.pack ? w.pack->path : w.path, &st) == 0)
		info->mtime = (int64_t)st.st_mtime;
	return 0;
}

int mlops_odb_share_pack(struct mlops_odb *odb, const mlops_oid *name,
			 mlops_odb_share_cb share, void *payload)
{
	char pack[PATH_MAX], idx[PATH_MAX];
	const struct mlops_pack_index *index = NULL;
	/* Loaded packs stay until the handle is freed, with their index. */
	pthread_mutex_lock(&odb->lock);
	if (!odb->packs_scanned)
		scan_packs(odb);
	for (size_t i = 0; i < odb->npacks && !index; i++)
		if (!odb->packs[i]->gone && !mlops_oid_cmp(&odb->packs[i]->name, name))
			index = odb->packs[i]->idx;
	pthread_mutex_unlock(&odb->lock);
	if (!index || !pack_is_sealed(odb, name))
		return 1;
	pack_path(pack, sizeof(pack), odb, name, "pack");
	pack_path(idx, sizeof(idx), odb, name, "idx");
	int rc = share(payload, pack, idx, index);
	/* Sealed a moment ago, and a link changes no byte: sealed again. */
	(void)seal_pack(odb, name);
	return rc;
}

/* Read exactly len bytes at offset; a short file is a corrupt object. */
static int pread_all(int fd, void *data, size_t len, uint64_t offset, const mlops_oid *id)
{
	size_t done = 0;
	char hex[MLOPS_OID_HEXSZ + 1];
	while (done < len) {
		ssize_t n = pread(fd, (char *)data + done, len - done, (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return mlops_error_sys(errno, "unable to read object %s", mlops_oid_fmt(hex, id));
		if (n == 0)
			return mlops_error_set(MLOPS_ECORRUPT, "object %s is corrupt: it ends early",
					       mlops_oid_fmt(hex, id));
		done += (size_t)n;
	}
	return 0;
}

/*
 * A pack's mapping, made on first use (with the lock held); NULL when it
 * cannot be mapped (then pread).  The file cannot shrink under it: packs
 * are never modified, only removed, and its size was checked on loading.
 */
static const unsigned char *pack_map_locked(struct lpack *p)
{
	if (!p->map && p->size) {
		void *m = mmap(NULL, (size_t)p->size, PROT_READ, MAP_SHARED, p->fd, 0);
		if (m != MAP_FAILED)
			p->map = m;
	}
	return p->map;
}

static const unsigned char *pack_map(struct mlops_odb *odb, struct lpack *p)
{
	pthread_mutex_lock(&odb->lock);
	const unsigned char *map = pack_map_locked(p);
	pthread_mutex_unlock(&odb->lock);
	return map;
}

/*
 * An object's bytes, in memory: data and len, with what holds them: a
 * buffer of len + 1 bytes, NUL-terminated (owned), a mapping of the
 * object's own file (map), or neither (a pack's mapping).
 */
struct content {
	const unsigned char *data;
	size_t len;
	char *owned;
	void *map;
	size_t maplen;
};

static void content_free(struct content *c)
{
	free(c->owned);
	if (c->map)
		munmap(c->map, c->maplen);
	memset(c, 0, sizeof(*c));
}

/* Into a new NUL-terminated buffer of len + 1 bytes. */
static int pread_buf(struct content *c, int fd, uint64_t off, size_t len, const mlops_oid *id)
{
	if (!(c->owned = malloc(len + 1)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = pread_all(fd, c->owned, len, off, id);
	if (err < 0) {
		free(c->owned);
		c->owned = NULL;
		return err;
	}
	c->owned[len] = '\0';
	c->data = (unsigned char *)c->owned;
	c->len = len;
	return 0;
}

/* An object's stored bytes (as stored: raw or compressed) into *c. */
static int stored_get(struct mlops_odb *odb, const mlops_oid *id, const struct where *w,
		      struct content *c)
{
	memset(c, 0, sizeof(*c));
	if (w->fd >= 0 && w->pack && w->len > ODB_READ_MAX) {
		/*
		 * A large object is read into memory of its own, not mapped: pages
		 * of the whole pack's mapping would stay mapped (a 2 GiB checkout
		 * would end with 2 GiB resident), and a mapping of its own range,
		 * populated and unmapped per object, costs more than the copy on
		 * 2 cores (the unmapping interrupts the other thread): a 2 GiB
		 * checkout 1.01-1.05 s mapped, 0.90-0.97 s read.
		 */
		return pread_buf(c, w->fd, w->off, (size_t)w->len, id);
	}
	if (w->fd >= 0) {
		const unsigned char *map = w->pack ? pack_map(odb, w->pack) : NULL;
		if (map) {
			c->data = map + w->off;
			c->len = (size_t)w->len;
			return 0;
		}
		return pread_buf(c, w->fd, w->off, (size_t)w->len, id);
	}
	int fd = open(w->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? not_found(odb, id) :
		       mlops_error_sys(errno, "unable to open '%s'", w->path);
	struct stat st;
	int err = 0;
	if (fstat(fd, &st) < 0) {
		err = mlops_error_sys(errno, "unable to stat '%s'", w->path);
	} else if ((size_t)st.st_size > ODB_READ_MAX) {
		/* Populated at once: one call instead of a fault per page. */
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (m == MAP_FAILED) {
			err = mlops_error_sys(errno, "unable to read '%s'", w->path);
		} else {
			c->map = m;
			c->maplen = (size_t)st.st_size;
			c->data = m;
			c->len = (size_t)st.st_size;
		}
	} else {
		/* Small objects: one read costs less than a mapping. */
		err = pread_buf(c, fd, 0, (size_t)st.st_size, id);
	}
	close(fd);
	if (err < 0)
		content_free(c);
	return err;
}

/*
 * An object's content into *c, decoded and, with `check`, verified by
 * hash.  MLOPS_ECORRUPT when it does not decode or match.
 */
static int content_get(struct mlops_odb *odb, const mlops_oid *id, const struct where *w,
		       struct content *c, int check)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	int err = stored_get(odb, id, w, c);
	if (err < 0)
		return err;
	mlops_oid_fmt(hex, id);
	if (w->codec != MLOPS_CODEC_NONE) {
		void *out = NULL;
		size_t len = 0;
		err = decompress(&out, &len, w->codec, c->data, c->len, hex);
		content_free(c);
		if (err < 0)
			return err;
		c->owned = out;
		c->data = out;
		c->len = len;
	}
	if (check) {
		mlops_oid got;
		mlops_hash_buf(&got, c->data, c->len);
		if (mlops_oid_cmp(&got, id)) {
			content_free(c);
			return mlops_error_set(MLOPS_ECORRUPT, "object %s is corrupt: its content hashes to %.12s",
					       hex, mlops_oid_fmt((char[MLOPS_OID_HEXSZ + 1]){ 0 }, &got));
		}
	}
	return 0;
}

int mlops_odb_read(void **out, size_t *len, struct mlops_odb *odb, const mlops_oid *id)
{
	struct where w;
	struct content c;
	int err;
	*out = NULL;
	if (!find_object(odb, id, &w, 1))
		return not_found(odb, id);
	if ((err = content_get(odb, id, &w, &c, 1)) < 0)
		return err;
	if (!c.owned) {
		if (!(c.owned = malloc(c.len + 1))) {
			content_free(&c);
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		}
		memcpy(c.owned, c.data, c.len);
		c.owned[c.len] = '\0';
	}
	*out = c.owned;
	*len = c.len;
	c.owned = NULL;
	content_free(&c);
	return 0;
}

int mlops_odb_view_stored(struct mlops_odb_view *v, struct mlops_odb *odb, const mlops_oid *id)
{
	struct where w;
	struct content c;
	int err;
	memset(v, 0, sizeof(*v));
	if (!find_object(odb, id, &w, 0))
		return not_found(odb, id);
	if ((err = stored_get(odb, id, &w, &c)) < 0)
		return err;
	v->data = c.data;
	v->len = c.len;
	v->codec = w.codec;
	v->owned_ = c.owned;
	v->map_ = c.map;
	v->maplen_ = c.maplen;
	return 0;
}

void mlops_odb_view_release(struct mlops_odb_view *v)
{
	struct content c = { v->data, v->len, v->owned_, v->map_, v->maplen_ };
	content_free(&c);
	memset(v, 0, sizeof(*v));
}

int mlops_odb_copy_to_fd(struct mlops_odb *odb, const mlops_oid *id, int fd,
			 uint64_t offset, uint64_t expected_size)
{
	return mlops_odb_copy_to_fd_locked(odb, id, fd, offset, expected_size, NULL);
}

int mlops_odb_copy_to_fd_locked(struct mlops_odb *odb, const mlops_oid *id, int fd,
				uint64_t offset, uint64_t expected_size, pthread_mutex_t *write_lock)
{
	struct where w;
	struct content c;
	char hex[MLOPS_OID_HEXSZ + 1];
	int err;
	if (!find_object(odb, id, &w, 0))
		return not_found(odb, id);
	if (w.codec == MLOPS_CODEC_NONE && w.len != expected_size)
		return mlops_error_set(MLOPS_ECORRUPT, "object %s is corrupt: size %llu, expected %llu",
				       mlops_oid_fmt(hex, id), (unsigned long long)w.len,
				       (unsigned long long)expected_size);
	/*
	 * Verified before anything is written: a damaged object (same size,
	 * different bytes) is refused, never copied out.  Not hashed twice:
	 * an object in a sealed pack (verified, and the file unchanged since)
	 * or a raw object this handle wrote (hashed on its way in, by the
	 * writer or on arrival from a remote, moments ago).
	 */
	int check = !(w.pack && w.pack->sealed);
	if (check && w.codec == MLOPS_CODEC_NONE) {
		pthread_mutex_lock(&odb->lock);
		check = !(odb->written && mlops_oidmap_get(odb->written, id));
		pthread_mutex_unlock(&odb->lock);
	}
	if ((err = content_get(odb, id, &w, &c, check)) < 0)
		return err;
	if (c.len != expected_size) {
		err = mlops_error_set(MLOPS_ECORRUPT, "object %s has size %zu, expected %llu",
				      mlops_oid_fmt(hex, id), c.len, (unsigned long long)expected_size);
	} else {
		if (write_lock)
			pthread_mutex_lock(write_lock);
		if (mlops_pwrite_all(fd, c.data, c.len, offset) < 0)
			err = mlops_error_sys(errno, "unable to write");
		if (write_lock)
			pthread_mutex_unlock(write_lock);
	}
	content_free(&c);
	return err;
}

int mlops_odb_verify(struct mlops_odb *odb, const mlops_oid *id)
{
	struct where w;
	struct content c;
	if (!find_object(odb, id, &w, 1))
		return not_found(odb, id);
	int err = content_get(odb, id, &w, &c, 1);
	if (err == 0)
		content_free(&c);
	return err;
}

static int foreach_loose(struct mlops_odb *odb, mlops_odb_foreach_cb cb, void *payload)
{
	char path[PATH_MAX];
	for (int fan = 0; fan < 256; fan++) {
		snprintf(path, sizeof(path), "%s/%02x", odb->dir, fan);
		DIR *d = opendir(path);
		if (!d) {
			if (errno == ENOENT)
				continue;
			return mlops_error_sys(errno, "unable to read '%s'", path);
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			char hex[MLOPS_OID_HEXSZ + 8];
			const char *name = de->d_name;
			if (name[0] == '.')
				continue;
			size_t nl = strlen(name);
			enum mlops_codec codec = MLOPS_CODEC_NONE;
			if (nl == 66 && !strcmp(name + 62, ".zst"))
				codec = MLOPS_CODEC_ZSTD;
			else if (nl == 65 && !strcmp(name + 62, ".zz"))
				codec = MLOPS_CODEC_ZLIB;
			else if (nl == 67 && !strcmp(name + 62, ".zcol"))
				codec = MLOPS_CODEC_ZCOL;
			else if (nl != 62)
				continue;
			snprintf(hex, sizeof(hex), "%02x%.62s", fan, name);
			mlops_oid id;
			if (mlops_oid_parse(&id, hex) < 0)
				continue;
			struct stat st;
			uint64_t size = 0;
			if (fstatat(dirfd(d), name, &st, 0) == 0)
				size = (uint64_t)st.st_size;
			int rc = cb(&id, codec, size, payload);
			if (rc) {
				closedir(d);
				return rc;
			}
		}
		closedir(d);
	}
	return 0;
}

/* The i-th loaded pack not rewritten, or NULL past the end (NULL entries are skipped by callers). */
static struct lpack *pack_at(struct mlops_odb *odb, size_t i, int *end)
{
	pthread_mutex_lock(&odb->lock);
	if (!odb->packs_scanned)
		scan_packs(odb);
	*end = i >= odb->npacks;
	struct lpack *p = *end || odb->packs[i]->gone ? NULL : odb->packs[i];
	pthread_mutex_unlock(&odb->lock);
	return p;
}

int mlops_odb_foreach(struct mlops_odb *odb, mlops_odb_foreach_cb cb, void *payload)
{
	int rc = foreach_loose(odb, cb, payload), end = 0;
	for (size_t i = 0; !rc && !end; i++) {
		struct lpack *p = pack_at(odb, i, &end);
		for (size_t k = 0; p && !rc && k < p->idx->count; k++) {
			const struct mlops_pack_entry *e = &p->idx->entries[k];
			rc = cb(&e->id, e->codec, e->length, payload);
		}
	}
	return rc;
}

int mlops_odb_remove(struct mlops_odb *odb, const mlops_oid *id)
{
	char path[PATH_MAX];
	struct mlops_pack_entry e;
	for (int c = 0; c < MLOPS_CODEC_COUNT; c++) {
		object_path(path, sizeof(path), odb, id, (enum mlops_codec)c);
		if (unlink(path) < 0 && errno != ENOENT)
			return mlops_error_sys(errno, "unable to remove '%s'", path);
	}
	int err = 0;
	pthread_mutex_lock(&odb->lock);
	if (packed_find(odb, id, &e) &&
	    ((!odb->drop && mlops_oidmap_new(&odb->drop) < 0) ||
	     mlops_oidmap_put(odb->drop, id, NULL) < 0))
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	pthread_mutex_unlock(&odb->lock);
	return err;
}

/* With the lock held: write a new pack of p's entries not in odb->drop. */
static int rewrite_pack(struct mlops_odb *odb, struct lpack *p, size_t keep)
{
	struct mlops_pack_entry *entries = malloc(keep * sizeof(*entries));
	struct lpack *np = NULL;
	unsigned char *idx = NULL;
	char *ptmp = NULL, *itmp = NULL, path[PATH_MAX];
	size_t idx_len, n = 0;
	int pfd = -1, ifd = -1, err;
	uint64_t size = MLOPS_PACK_HDR;
	mlops_oid name, zero;
	if (!entries)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	const unsigned char *map = pack_map_locked(p);
	if (!map) {
		err = mlops_error_sys(errno, "unable to read pack '%s'", p->path);
		goto done;
	}
	/* The bytes are copied, not verified: the new pack is sealed only if the old one is. */
	int sealed = pack_is_sealed(odb, &p->name);
	if ((err = mlops_tempfile(&pfd, &ptmp, odb->tmpdir, "pack-")) < 0)
		goto done;
	if (fchmod(pfd, 0444 & ~mlops_umask()) < 0 ||
	    mlops_write_all(pfd, MLOPS_PACK_MAGIC, MLOPS_PACK_HDR) < 0)
		goto fail_write;
	for (size_t k = 0; k < p->idx->count; k++) {
		const struct mlops_pack_entry *e = &p->idx->entries[k];
		if (mlops_oidmap_get(odb->drop, &e->id))
			continue;
		if (mlops_write_all(pfd, map + e->offset, (size_t)e->length) < 0)
			goto fail_write;
		entries[n] = *e;
		entries[n].offset = size;
		size += e->length;
		n++;
	}
	memset(&zero, 0, sizeof(zero));
	if ((err = mlops_pack_index_encode(&idx, &idx_len, &name, &zero, size, entries, &n)) < 0)
		goto done;
	if ((err = mlops_tempfile(&ifd, &itmp, odb->tmpdir, "idx-")) < 0)
		goto done;
	if (fchmod(ifd, 0444 & ~mlops_umask()) < 0 || mlops_write_all(ifd, idx, idx_len) < 0)
		goto fail_write;
	if (odb->fsync && (fsync(pfd) < 0 || fsync(ifd) < 0))
		goto fail_write;
	pack_path(path, sizeof(path), odb, &name, "pack");
	if (!(np = calloc(1, sizeof(*np))) || !(np->idx = calloc(1, sizeof(*np->idx))) ||
	    !(np->path = strdup(path))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if (rename(ptmp, path) < 0) {
		err = mlops_error_sys(errno, "unable to move pack into '%s'", path);
		goto done;
	}
	pack_path(path, sizeof(path), odb, &name, "idx");
	if (rename(itmp, path) < 0) {
		err = mlops_error_sys(errno, "unable to move pack index into '%s'", path);
		goto done;
	}
	if (odb->fsync && (err = mlops_fsync_dir(odb->packdir)) < 0)
		goto done;
	np->sealed = sealed && seal_pack(odb, &name);
	np->fd = pfd;
	pfd = -1;
	np->name = name;
	np->size = size;
	np->idx->id = name;
	np->idx->pack_size = size;
	np->idx->entries = entries;
	np->idx->count = n;
	mlops_pack_index_fanout(np->idx);
	entries = NULL;
	err = packs_append(odb, np);
	np = NULL;
	goto done;
fail_write:
	err = mlops_error_sys(errno, "unable to write pack '%s'", ptmp);
done:
	if (pfd >= 0)
		close(pfd);
	if (ifd >= 0)
		close(ifd);
	if (ptmp)
		unlink(ptmp);
	if (itmp)
		unlink(itmp);
	free(ptmp);
	free(itmp);
	free(idx);
	free(entries);
	lpack_free(np);
	return err;
}

int mlops_odb_repack(struct mlops_odb *odb)
{
	char path[PATH_MAX];
	int err = 0;
	pthread_mutex_lock(&odb->lock);
	for (size_t i = 0; odb->drop && i < odb->npacks && err == 0; i++) {
		struct lpack *p = odb->packs[i];
		size_t keep = 0;
		if (p->gone)
			continue;
		for (size_t k = 0; k < p->idx->count; k++)
			keep += !mlops_oidmap_get(odb->drop, &p->idx->entries[k].id);
		if (keep == p->idx->count)
			continue;
		if (keep && (err = rewrite_pack(odb, p, keep)) < 0)
			break;
		/* The index first: the pack is then unnamed, and a crash leaves an orphan gc removes. */
		pack_path(path, sizeof(path), odb, &p->name, "idx");
		if (unlink(path) < 0 && errno != ENOENT) {
			err = mlops_error_sys(errno, "unable to remove '%s'", path);
			break;
		}
		if (unlink(p->path) < 0 && errno != ENOENT) {
			err = mlops_error_sys(errno, "unable to remove '%s'", p->path);
			break;
		}
		p->gone = 1;
	}
	mlops_oidmap_free(odb->drop);
	odb->drop = NULL;
	pthread_mutex_unlock(&odb->lock);
	return err;
}

int mlops_odb_check_packs(struct mlops_odb *odb, size_t *npacks,
			  int (*fault)(void *payload, const mlops_oid *name, const char *message),
			  void *payload)
{
	int err = 0;
	pthread_mutex_lock(&odb->lock);
	scan_packs(odb);
	*npacks = 0;
	for (size_t i = 0; i < odb->npacks; i++)
		*npacks += !odb->packs[i]->gone;
	for (size_t i = 0; fault && i < odb->nfaults && err == 0; i++)
		err = fault(payload, &odb->faults[i].name, odb->faults[i].message);
	pthread_mutex_unlock(&odb->lock);
	return err;
}

/* Remove files in dir older than max_age that `stale` accepts; returns the count. */
static int clean_dir(const char *dir, long max_age, int (*stale)(DIR *d, const char *name))
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return 0;
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (now - st.st_mtime < max_age || (stale && !stale(d, de->d_name)))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* A pack file without its index: left by a crash between the two renames. */
static int orphan_pack(DIR *d, const char *name)
{
	char idx[MLOPS_OID_HEXSZ + 8];
	struct stat st;
	if (strlen(name) != MLOPS_OID_HEXSZ + 5 || strcmp(name + MLOPS_OID_HEXSZ, ".pack"))
		return 0;
	snprintf(idx, sizeof(idx), "%.*s.idx", MLOPS_OID_HEXSZ, name);
	return fstatat(dirfd(d), idx, &st, 0) < 0 && errno == ENOENT;
}

/* A file in tmp/ whose process still runs is in use, whatever its age. */
static int not_in_use(DIR *d, const char *name)
{
	(void)d;
	return !mlops_tempfile_live(name);
}

int mlops_odb_clean_tmp(struct mlops_odb *odb, long max_age)
{
	/* A pack without its index may be another process's sync (pack.h). */
	long pack_age = max_age > MLOPS_PACK_ORPHAN_AGE ? max_age : MLOPS_PACK_ORPHAN_AGE;
	return clean_dir(odb->tmpdir, max_age, not_in_use) +
	       clean_dir(odb->packdir, pack_age, orphan_pack);
}
