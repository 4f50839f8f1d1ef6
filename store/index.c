/*
 * index.c - the stat cache (see index.h).
 *
 * File format (little-endian, native):
 *   "MLOPSIX1" magic, u32 count, then per entry:
 *   u16 path length, path bytes, u64 size, i64 mtime_ns, i64 ctime_ns,
 *   u64 inode, u32 mode, u8 kind, 32-byte id
 * followed by the SHA-256 of everything before it, so a damaged index is
 * noticed and ignored (it is only a cache).  In memory: an open-addressing
 * hash table on the path, sized from the count when loading; loaded paths
 * stay in the file's buffer (the arena, NUL-terminated in place) rather
 * than one allocation each.
 *
 * Racy entries: each entry remembers when it was known to describe the file
 * (`seen_ns`: the time of put(), or for a loaded entry the index file's
 * mtime).  File times come from a clock that may lag by a tick, so a write
 * in the same tick as the stat can leave every stat field unchanged; an
 * entry is trusted only when the file's mtime is RACY_NS older than seen_ns.
 */
#include "index.h"
#include "bigmem.h"
#include "error.h"
#include "fsutil.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "MLOPSIX1"
#define RACY_NS 20000000LL

struct slot {
	struct mlops_index_entry e; /* e.path owned, unless in the arena */
	uint64_t hash;              /* of e.path */
	int64_t seen_ns;
	int used;
};

struct mlops_index {
	char *path;
	char *tmpdir;
	struct slot *slots;
	size_t nslots, count;
	char *arena;                /* the loaded file, holding loaded paths */
	size_t arena_len;
	int64_t file_mtime_ns;
	int dirty;
	pthread_rwlock_t lock;      /* lookups read, puts write */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct slot *find_slot(struct slot *slots, size_t nslots, const char *path,
			      uint64_t hash)
{
	size_t i = (size_t)hash & (nslots - 1);
	for (;; i = (i + 1) & (nslots - 1)) {
		if (!slots[i].used ||
		    (slots[i].hash == hash && !strcmp(slots[i].e.path, path)))
			return &slots[i];
	}
}

/* Free a path unless it lives in the arena. */
static void free_path(struct mlops_index *idx, const char *path)
{
	if (!(idx->arena && path >= idx->arena && path < idx->arena + idx->arena_len))
		free((char *)path);
}

/* Make room for `want` entries at a load factor of at most one half. */
static int reserve(struct mlops_index *idx, size_t want)
{
	if (want * 2 <= idx->nslots)
		return 0;
	size_t n = idx->nslots ? idx->nslots : 1024;
	while (n < want * 2)
		n *= 2;
	struct slot *s = mlops_bigmem_alloc(n * sizeof(*s));
	if (!s)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	for (size_t i = 0; i < idx->nslots; i++)
		if (idx->slots[i].used)
			*find_slot(s, n, idx->slots[i].e.path, idx->slots[i].hash) = idx->slots[i];
	mlops_bigmem_free(idx->slots, idx->nslots * sizeof(*idx->slots));
	idx->slots = s;
	idx->nslots = n;
	return 0;
}

static int insert(struct mlops_index *idx, const struct mlops_index_entry *e, char *owned_path,
		  int64_t seen_ns)
{
	if (reserve(idx, idx->count + 1) < 0)
		return MLOPS_ERROR;
	uint64_t hash = hash_str(owned_path);
	struct slot *s = find_slot(idx->slots, idx->nslots, owned_path, hash);
	if (s->used) {
		free_path(idx, s->e.path);
	} else {
		idx->count++;
	}
	s->used = 1;
	s->e = *e;
	s->e.path = owned_path;
	s->hash = hash;
	s->seen_ns = seen_ns;
	return 0;
}

#define GET(dst) do { if (p + sizeof(dst) > end) goto damaged; memcpy(&(dst), p, sizeof(dst)); p += sizeof(dst); } while (0)

int mlops_index_load(struct mlops_index **out, const char *path, const char *tmpdir)
{
	struct mlops_index *idx = calloc(1, sizeof(*idx));
	char *buf = NULL;
	size_t len;
	if (!idx)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	pthread_rwlock_init(&idx->lock, NULL);
	idx->path = strdup(path);
	idx->tmpdir = strdup(tmpdir);
	if (!idx->path || !idx->tmpdir) {
		mlops_index_free(idx);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	struct stat st;
	if (stat(path, &st) < 0 || mlops_read_file(&buf, &len, path) < 0) {
		mlops_error_clear();
		*out = idx;
		return 0;
	}
	idx->file_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	if (len < 8 + 4 + 32 || memcmp(buf, MAGIC, 8))
		goto damaged;
	mlops_oid sum;
	mlops_hash_buf(&sum, buf, len - 32);
	if (memcmp(sum.id, buf + len - 32, 32))
		goto damaged;
	const char *p = buf + 8, *end = buf + len - 32;
	uint32_t count;
	GET(count);
	/* Each entry takes at least 2 + 8 * 4 + 4 + 1 + 32 bytes. */
	if ((uint64_t)count * (2 + 8 * 4 + 4 + 1 + 32) > (uint64_t)(end - p) ||
	    reserve(idx, count) < 0)
		goto damaged;
	idx->arena = buf;
	idx->arena_len = len;
	for (uint32_t i = 0; i < count; i++) {
		struct mlops_index_entry e;
		uint16_t plen;
		GET(plen);
		if (p + plen > end)
			goto damaged;
		char *epath = (char *)p;
		p += plen;
		if (p + 8 * 4 + 4 + 1 + 32 > end)
			goto damaged;
		GET(e.size); GET(e.mtime_ns); GET(e.ctime_ns); GET(e.ino); GET(e.mode); GET(e.kind);
		memcpy(e.id.id, p, 32);
		p += 32;
		/* The size field after the path is read: end the path there. */
		epath[plen] = '\0';
		if (memchr(epath, '\0', plen) || insert(idx, &e, epath, idx->file_mtime_ns) < 0)
			goto damaged;
	}
	*out = idx;
	return 0;
damaged:
	/* Only a cache: start empty, and rewrite it at the next save. */
	for (size_t i = 0; i < idx->nslots; i++)
		if (idx->slots[i].used)
			free_path(idx, idx->slots[i].e.path);
	free(buf);
	idx->arena = NULL;
	idx->arena_len = 0;
	mlops_bigmem_free(idx->slots, idx->nslots * sizeof(*idx->slots));
	idx->slots = NULL;
	idx->nslots = idx->count = 0;
	idx->dirty = 1;
	*out = idx;
	return 0;
}

static int64_t ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

int mlops_index_lookup(struct mlops_index_entry *out, struct mlops_index *idx,
		       const char *path, const struct stat *st)
{
	int hit = 0;
	pthread_rwlock_rdlock(&idx->lock);
	if (idx->nslots) {
		struct slot *s = find_slot(idx->slots, idx->nslots, path, hash_str(path));
		if (s->used && s->e.size == (uint64_t)st->st_size &&
		    s->e.mtime_ns == ns(&st->st_mtim) && s->e.ctime_ns == ns(&st->st_ctim) &&
		    s->e.ino == (uint64_t)st->st_ino && s->e.mode == (uint32_t)st->st_mode &&
		    s->e.mtime_ns + RACY_NS < s->seen_ns) {
			*out = s->e;
			hit = 1;
		}
	}
	pthread_rwlock_unlock(&idx->lock);
	return hit;
}

int mlops_index_put(struct mlops_index *idx, const char *path, const struct stat *st,
		    const mlops_oid *id, uint8_t kind)
{
	struct mlops_index_entry e = {
		.size = (uint64_t)st->st_size,
		.mtime_ns = ns(&st->st_mtim),
		.ctime_ns = ns(&st->st_ctim),
		.ino = (uint64_t)st->st_ino,
		.mode = (uint32_t)st->st_mode,
		.kind = kind,
		.id = *id,
	};
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	char *p = strdup(path);
	if (!p)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	pthread_rwlock_wrlock(&idx->lock);
	int err = insert(idx, &e, p, ns(&now));
	if (err < 0)
		free(p);
	else
		idx->dirty = 1;
	pthread_rwlock_unlock(&idx->lock);
	return err;
}

int mlops_index_reserve(struct mlops_index *idx, size_t more)
{
	pthread_rwlock_wrlock(&idx->lock);
	int err = reserve(idx, idx->count + more);
	pthread_rwlock_unlock(&idx->lock);
	return err;
}

void mlops_index_remove_prefix(struct mlops_index *idx, const char *path)
{
	size_t len = strlen(path);
	pthread_rwlock_wrlock(&idx->lock);
	/* Rebuild without the matching entries (removal in open addressing). */
	struct slot *old = idx->slots;
	size_t n = idx->nslots;
	idx->slots = NULL;
	idx->nslots = idx->count = 0;
	for (size_t i = 0; i < n; i++) {
		if (!old[i].used)
			continue;
		const char *p = old[i].e.path;
		if (!strncmp(p, path, len) && (p[len] == '\0' || p[len] == '/')) {
			free_path(idx, p);
			idx->dirty = 1;
			continue;
		}
		if (insert(idx, &old[i].e, (char *)p, old[i].seen_ns) < 0)
			free_path(idx, p);
	}
	mlops_bigmem_free(old, n * sizeof(*old));
	pthread_rwlock_unlock(&idx->lock);
}

int mlops_index_save(struct mlops_index *idx)
{
	if (!idx->dirty)
		return 0;
	size_t cap = 8 + 4 + 32, used = 0;
	for (size_t i = 0; i < idx->nslots; i++)
		if (idx->slots[i].used)
			cap += 2 + strlen(idx->slots[i].e.path) + 8 * 4 + 4 + 1 + 32;
	/* 5 MB for 50,000 entries, written once in order: huge pages (bigmem.h). */
	char *buf = mlops_bigmem_alloc(cap);
	if (!buf)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
#define PUT(src) do { memcpy(buf + used, &(src), sizeof(src)); used += sizeof(src); } while (0)
	memcpy(buf, MAGIC, 8);
	used = 8;
	uint32_t count = 0;
	size_t count_at = used;
	PUT(count);
	for (size_t i = 0; i < idx->nslots; i++) {
		const struct mlops_index_entry *e = &idx->slots[i].e;
		if (!idx->slots[i].used)
			continue;
		size_t pl = strlen(e->path);
		if (pl > 65535)
			continue;
		uint16_t plen = (uint16_t)pl;
		PUT(plen);
		memcpy(buf + used, e->path, plen);
		used += plen;
		PUT(e->size); PUT(e->mtime_ns); PUT(e->ctime_ns); PUT(e->ino); PUT(e->mode); PUT(e->kind);
		memcpy(buf + used, e->id.id, 32);
		used += 32;
		count++;
	}
	memcpy(buf + count_at, &count, sizeof(count));
	mlops_oid sum;
	mlops_hash_buf(&sum, buf, used);
	memcpy(buf + used, sum.id, 32);
	used += 32;
#undef PUT
	int err = mlops_write_file_atomic(idx->path, buf, used, idx->tmpdir, 0);
	mlops_bigmem_free(buf, cap);
	if (err == 0)
		idx->dirty = 0;
	return err;
}

/* 0 when dir cannot be written to: read-only, or not this user's to write. */
static int dir_writable(const char *dir)
{
	return access(dir, W_OK) == 0 || (errno != EROFS && errno != EACCES && errno != EPERM);
}

int mlops_index_writable(const struct mlops_index *idx)
{
	char *dir = strdup(idx->path), *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash)
		*slash = '\0';
	/* Out of memory, or a name without a folder: the save itself will tell. */
	int ok = !slash || slash == dir || (dir_writable(dir) && dir_writable(idx->tmpdir));
	free(dir);
	return ok;
}

void mlops_index_free(struct mlops_index *idx)
{
	if (!idx)
		return;
	for (size_t i = 0; i < idx->nslots; i++)
		if (idx->slots[i].used)
			free_path(idx, idx->slots[i].e.path);
	mlops_bigmem_free(idx->slots, idx->nslots * sizeof(*idx->slots));
	free(idx->arena);
	free(idx->path);
	free(idx->tmpdir);
	pthread_rwlock_destroy(&idx->lock);
	free(idx);
}
