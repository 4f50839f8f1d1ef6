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

struct pending {
	mlops_oid id;
	enum mlops_codec codec;
	char *tmp;
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
	int (*configure)(void *payload);
	void *configure_payload;
	int configured;
	int configure_err;
	char configure_msg[1024];
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

static const char *const codec_suffix[] = { "", ".zst", ".zz" };

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
	pthread_mutex_init(&odb->lock, NULL);
	if (!odb->dir || !odb->tmpdir) {
		mlops_odb_free(odb);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	*out = odb;
	return 0;
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
}

void mlops_odb_free(struct mlops_odb *odb)
{
	if (!odb)
		return;
	if (odb->npend && mlops_odb_sync(odb) < 0)
		drop_pending(odb);
	free(odb->pend);
	free(odb->slots);
	mlops_oidmap_free(odb->written);
	free(odb->dir);
	free(odb->tmpdir);
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

static int stored_codec(struct mlops_odb *odb, const mlops_oid *id, enum mlops_codec *codec,
			uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;
	for (int c = 0; c < 3; c++) {
		object_path(path, sizeof(path), odb, id, (enum mlops_codec)c);
		if (stat(path, &st) == 0) {
			*codec = (enum mlops_codec)c;
			if (size)
				*size = (uint64_t)st.st_size;
			return 1;
		}
	}
	return 0;
}

int mlops_odb_exists(struct mlops_odb *odb, const mlops_oid *id)
{
	enum mlops_codec codec;
	pthread_mutex_lock(&odb->lock);
	long p = pending_find(odb, id);
	pthread_mutex_unlock(&odb->lock);
	if (p >= 0)
		return 1;
	return stored_codec(odb, id, &codec, NULL);
}

int mlops_odb_freshen(struct mlops_odb *odb, const mlops_oid *id)
{
	char path[PATH_MAX];
	pthread_mutex_lock(&odb->lock);
	long p = pending_find(odb, id);
	pthread_mutex_unlock(&odb->lock);
	if (p >= 0)
		return 1;
	for (int c = 0; c < 3; c++) {
		object_path(path, sizeof(path), odb, id, (enum mlops_codec)c);
		if (utimensat(AT_FDCWD, path, NULL, 0) == 0)
			return 1;
		if (errno != ENOENT && access(path, F_OK) == 0)
			return 1;
	}
	return 0;
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
static int add_pending(struct mlops_odb *odb, const mlops_oid *id, enum mlops_codec codec,
		       char *tmp)
{
	pthread_mutex_lock(&odb->lock);
	if (pending_find(odb, id) >= 0) {
		pthread_mutex_unlock(&odb->lock);
		unlink(tmp);
		free(tmp);
		return 1;
	}
	if (pending_grow(odb) < 0) {
		pthread_mutex_unlock(&odb->lock);
		unlink(tmp);
		free(tmp);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	struct pending *p = &odb->pend[odb->npend];
	p->id = *id;
	p->codec = codec;
	p->tmp = tmp;
	size_t s = slot_of(id, odb->nslots);
	while (odb->slots[s])
		s = (s + 1) & (odb->nslots - 1);
	odb->slots[s] = ++odb->npend;
	/* Best effort: without the record, checkout only hashes once more. */
	if (odb->written || mlops_oidmap_new(&odb->written) == 0)
		(void)mlops_oidmap_put(odb->written, id, NULL);
	mlops_error_clear();
	pthread_mutex_unlock(&odb->lock);
	return 0;
}

/* Write an object's stored bytes to a new file in tmp/ and make it pending (as add_pending). */
static int write_pending(struct mlops_odb *odb, const mlops_oid *id, enum mlops_codec codec,
			 const void *data, size_t len)
{
	char *tmp = NULL;
	int fd, err;
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
	return add_pending(odb, id, codec, tmp);
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
	if (mlops_odb_freshen(odb, id))
		return 0;
	if ((err = ensure_configured(odb)) < 0)
		return err;

	if (odb->codec != MLOPS_CODEC_NONE && worth_compressing(data, len)) {
		size_t clen;
		if (compress_buf(&cbuf, &clen, odb->codec, odb->level, data, len) == 0 &&
		    clen * 20 < len * 19) {
			codec = odb->codec;
			wbuf = cbuf;
			wlen = clen;
		}
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
	err = add_pending(odb, id, codec, tmp);
	return err < 0 ? err : 0;
fail:
	unlink(path);
	return err;
}

int mlops_odb_write(mlops_oid *out, struct mlops_odb *odb, const void *data,
		    size_t len, uint64_t *stored)
{
	mlops_hash_buf(out, data, len);
	return mlops_odb_write_hashed(odb, out, data, len, stored);
}

static int sync_fs_of(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return mlops_error_sys(errno, "unable to open '%s'", dir);
	int rc = syncfs(fd);
	int e = errno;
	close(fd);
	if (rc < 0)
		return mlops_error_sys(e, "unable to sync '%s'", dir);
	return 0;
}

int mlops_odb_sync(struct mlops_odb *odb)
{
	int err = 0;
	char path[PATH_MAX];
	pthread_mutex_lock(&odb->lock);
	if (!odb->npend)
		goto done;
	if (odb->fsync && (err = sync_fs_of(odb->tmpdir)) < 0)
		goto done;
	for (size_t i = 0; i < odb->npend; i++) {
		struct pending *p = &odb->pend[i];
		object_path(path, sizeof(path), odb, &p->id, p->codec);
		unsigned char fan = p->id.id[0];
		if (!odb->fanout_made[fan]) {
			char *slash = strrchr(path, '/');
			*slash = '\0';
			if (mkdir(path, 0777) < 0 && errno != EEXIST) {
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
	if (odb->fsync && (err = sync_fs_of(odb->dir)) < 0)
		goto done;
	odb->npend = 0;
	memset(odb->slots, 0, odb->nslots * sizeof(*odb->slots));
done:
	if (err < 0) {
		/* Forget what was renamed; drop the rest. */
		size_t keep = 0;
		for (size_t i = 0; i < odb->npend; i++)
			if (odb->pend[i].tmp)
				odb->pend[keep++] = odb->pend[i];
		odb->npend = keep;
		drop_pending(odb);
	}
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
	char buf[PATH_MAX];
	if (!stored_codec(odb, id, codec, NULL)) {
		char hex[MLOPS_OID_HEXSZ + 1];
		return mlops_error_set(MLOPS_ENOTFOUND, "object %s not found in the store",
				       mlops_oid_fmt(hex, id));
	}
	object_path(buf, sizeof(buf), odb, id, *codec);
	*path = strdup(buf);
	return *path ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
}

static int read_pending(void **out, size_t *len, struct mlops_odb *odb, const mlops_oid *id,
			char **tmp_out, enum mlops_codec *codec)
{
	pthread_mutex_lock(&odb->lock);
	long p = pending_find(odb, id);
	if (p >= 0) {
		*tmp_out = strdup(odb->pend[p].tmp);
		*codec = odb->pend[p].codec;
	}
	pthread_mutex_unlock(&odb->lock);
	(void)out;
	(void)len;
	return p >= 0;
}

int mlops_odb_read(void **out, size_t *len, struct mlops_odb *odb, const mlops_oid *id)
{
	char *path = NULL, *raw = NULL;
	enum mlops_codec codec;
	size_t rawlen;
	char hex[MLOPS_OID_HEXSZ + 1];
	int err;

	*out = NULL;
	if (!read_pending(out, len, odb, id, &path, &codec) &&
	    (err = mlops_odb_locate(&path, &codec, odb, id)) < 0)
		return err;
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((err = mlops_read_file(&raw, &rawlen, path)) < 0)
		goto done;
	if (codec == MLOPS_CODEC_NONE) {
		*out = raw;
		*len = rawlen;
		raw = NULL;
	} else if ((err = decompress(out, len, codec, raw, rawlen, path)) < 0) {
		goto done;
	}
	mlops_oid check;
	mlops_hash_buf(&check, *out, *len);
	if (mlops_oid_cmp(&check, id)) {
		free(*out);
		*out = NULL;
		err = mlops_error_set(MLOPS_ECORRUPT, "object %s is corrupt: its content hashes to %.12s",
				      mlops_oid_fmt(hex, id), mlops_oid_fmt((char[65]){0}, &check));
	}
done:
	free(raw);
	free(path);
	return err;
}

/* Read exactly len bytes at offset; a short file is a corrupt object. */
static int pread_all(int fd, void *data, size_t len, const mlops_oid *id)
{
	size_t done = 0;
	char hex[MLOPS_OID_HEXSZ + 1];
	while (done < len) {
		ssize_t n = pread(fd, (char *)data + done, len - done, (off_t)done);
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

int mlops_odb_copy_to_fd(struct mlops_odb *odb, const mlops_oid *id, int fd,
			 uint64_t offset, uint64_t expected_size)
{
	return mlops_odb_copy_to_fd_locked(odb, id, fd, offset, expected_size, NULL);
}

int mlops_odb_copy_to_fd_locked(struct mlops_odb *odb, const mlops_oid *id, int fd,
				uint64_t offset, uint64_t expected_size, pthread_mutex_t *write_lock)
{
	char *path = NULL;
	enum mlops_codec codec;
	char hex[MLOPS_OID_HEXSZ + 1];
	int err;
	if ((err = mlops_odb_locate(&path, &codec, odb, id)) < 0)
		return err;
	if (codec == MLOPS_CODEC_NONE) {
		int in = open(path, O_RDONLY | O_CLOEXEC);
		if (in < 0) {
			err = mlops_error_sys(errno, "unable to open '%s'", path);
			goto done;
		}
		struct stat st;
		if (fstat(in, &st) < 0 || (uint64_t)st.st_size != expected_size) {
			close(in);
			err = mlops_error_set(MLOPS_ECORRUPT, "object %s is corrupt: size %lld, expected %llu",
					      mlops_oid_fmt(hex, id), (long long)st.st_size,
					      (unsigned long long)expected_size);
			goto done;
		}
		/*
		 * An object this handle wrote was hashed on its way in (by the
		 * writer, or on arrival from a remote) moments ago: not hashed
		 * twice.
		 */
		pthread_mutex_lock(&odb->lock);
		int written = odb->written && mlops_oidmap_get(odb->written, id);
		pthread_mutex_unlock(&odb->lock);
		/*
		 * Hash before writing, from a mapping of the page cache: a
		 * damaged object (same size, different bytes) is refused, never
		 * copied out.  Objects are at most a chunk (2 MiB), so the
		 * hash and the copy read the same bytes while they are cached.
		 */
		size_t len = (size_t)expected_size;
		void *map = NULL, *buf = NULL;
		if (len > ODB_READ_MAX) {
			/* Populated at once: one call instead of a fault per page. */
			map = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, in, 0);
			if (map == MAP_FAILED) {
				err = mlops_error_sys(errno, "unable to read object %s", mlops_oid_fmt(hex, id));
				close(in);
				goto done;
			}
		} else if (len) {
			/* Small objects: one read costs less than a mapping. */
			if (!(buf = malloc(len))) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				close(in);
				goto done;
			}
			if ((err = pread_all(in, buf, len, id)) < 0) {
				free(buf);
				close(in);
				goto done;
			}
			map = buf;
		}
		mlops_oid got = *id;
		if (!written)
			mlops_hash_buf(&got, map, len);
		if (mlops_oid_cmp(&got, id)) {
			char ghex[MLOPS_OID_HEXSZ + 1];
			err = mlops_error_set(MLOPS_ECORRUPT, "object %s is corrupt: its content hashes to %.12s",
					      mlops_oid_fmt(hex, id), mlops_oid_fmt(ghex, &got));
		} else {
			if (write_lock)
				pthread_mutex_lock(write_lock);
			if (mlops_pwrite_all(fd, map, len, offset) < 0)
				err = mlops_error_sys(errno, "unable to write");
			if (write_lock)
				pthread_mutex_unlock(write_lock);
		}
		if (buf)
			free(buf);
		else if (map)
			munmap(map, len);
		close(in);
		goto done;
	}
	void *data;
	size_t len;
	if ((err = mlops_odb_read(&data, &len, odb, id)) < 0)
		goto done;
	if (len != expected_size) {
		free(data);
		err = mlops_error_set(MLOPS_ECORRUPT, "object %s has size %zu, expected %llu",
				      mlops_oid_fmt(hex, id), len, (unsigned long long)expected_size);
		goto done;
	}
	if (write_lock)
		pthread_mutex_lock(write_lock);
	if (mlops_pwrite_all(fd, data, len, offset) < 0)
		err = mlops_error_sys(errno, "unable to write");
	if (write_lock)
		pthread_mutex_unlock(write_lock);
	free(data);
done:
	free(path);
	return err;
}

int mlops_odb_verify(struct mlops_odb *odb, const mlops_oid *id)
{
	void *data;
	size_t len;
	int err = mlops_odb_read(&data, &len, odb, id);
	if (err == 0)
		free(data);
	return err;
}

int mlops_odb_foreach(struct mlops_odb *odb, mlops_odb_foreach_cb cb, void *payload)
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

int mlops_odb_remove(struct mlops_odb *odb, const mlops_oid *id)
{
	char path[PATH_MAX];
	for (int c = 0; c < 3; c++) {
		object_path(path, sizeof(path), odb, id, (enum mlops_codec)c);
		if (unlink(path) < 0 && errno != ENOENT)
			return mlops_error_sys(errno, "unable to remove '%s'", path);
	}
	return 0;
}

int mlops_odb_clean_tmp(struct mlops_odb *odb, long max_age)
{
	DIR *d = opendir(odb->tmpdir);
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
		if (now - st.st_mtime < max_age)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}
