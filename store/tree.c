/*
 * tree.c - files and directories in the store: ingest, checkout, listing
 * (see tree.h for the object formats).
 *
 * Ingest in three phases:
 *   1. walk: lstat everything below the path (never following links),
 *      sorting entries by name; each regular file asks the stat cache.
 *   2. hash: the misses are hashed and stored by a pool of worker threads,
 *      one file per worker; files larger than BIG_FILE are done one at a
 *      time with their chunks spread over the workers while this thread
 *      finds the cut points.
 *   3. trees: directory objects bottom-up.
 * With `write` off (scan), the same code computes ids without storing.
 */
#include "tree.h"
#include "chunk.h"
#include "error.h"
#include "fsutil.h"
#include "index.h"
#include "json.h"
#include "odb.h"
#include "utf8.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BIG_FILE (64ull << 20)
#define MAX_WORKERS 16
#define BIG_AHEAD 128 /* chunks the cut-point scan may run ahead of the workers */

static const char *const kind_names[] = { "none", "blob", "chunks", "tree", "link" };

const char *mlops_kind_name(enum mlops_kind kind)
{
	return (unsigned)kind < 5 ? kind_names[kind] : "none";
}

enum mlops_kind mlops_kind_parse(const char *name)
{
	for (int i = 1; name && i < 5; i++)
		if (!strcmp(name, kind_names[i]))
			return (enum mlops_kind)i;
	return MLOPS_KIND_NONE;
}

static int nworkers(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	return (int)n;
}

/*
 * fn(payload, i) for every i below n, on `threads` threads (this one
 * included), each taking the next i; the first failure stops the rest and
 * is returned with its message.
 */
struct pfor {
	int (*fn)(void *payload, size_t i);
	void *payload;
	size_t n;
	atomic_size_t next;
	atomic_int failed;
	pthread_mutex_t lock;
	int err;
	char errmsg[1024];
};

static void *pfor_worker(void *arg)
{
	struct pfor *p = arg;
	size_t i;
	while (!atomic_load(&p->failed) && (i = atomic_fetch_add(&p->next, 1)) < p->n) {
		int err = p->fn(p->payload, i);
		if (err < 0) {
			pthread_mutex_lock(&p->lock);
			if (!p->err) {
				p->err = err;
				snprintf(p->errmsg, sizeof(p->errmsg), "%s", mlops_error_message());
			}
			pthread_mutex_unlock(&p->lock);
			atomic_store(&p->failed, 1);
		}
	}
	return NULL;
}

static int parallel_for(size_t n, int threads, int (*fn)(void *payload, size_t i), void *payload)
{
	struct pfor p = { .fn = fn, .payload = payload, .n = n };
	pthread_t th[MAX_WORKERS];
	int started = 0;
	atomic_init(&p.next, 0);
	atomic_init(&p.failed, 0);
	pthread_mutex_init(&p.lock, NULL);
	while (started < threads - 1 && started < MAX_WORKERS &&
	       pthread_create(&th[started], NULL, pfor_worker, &p) == 0)
		started++;
	pfor_worker(&p);
	for (int t = 0; t < started; t++)
		pthread_join(th[t], NULL);
	pthread_mutex_destroy(&p.lock);
	if (atomic_load(&p.failed))
		return mlops_error_set(p.err, "%s", p.errmsg);
	return 0;
}

/* ---- JSON of nodes ---------------------------------------------------- */

static const char *mode_str(uint32_t mode)
{
	if (mode == 040000) return "040000";
	if (mode == 0120000) return "120000";
	if (mode & 0111) return "100755";
	return "100644";
}

static uint32_t mode_parse(const char *s)
{
	if (!s) return 0;
	if (!strcmp(s, "040000")) return 040000;
	if (!strcmp(s, "120000")) return 0120000;
	if (!strcmp(s, "100755")) return 0755;
	if (!strcmp(s, "100644")) return 0644;
	return 0;
}

int mlops_node_same(const struct mlops_node *a, const struct mlops_node *b)
{
	return !mlops_oid_cmp(&a->id, &b->id) &&
	       (a->kind == MLOPS_KIND_LINK) == (b->kind == MLOPS_KIND_LINK) &&
	       ((a->mode & 0111) != 0) == ((b->mode & 0111) != 0);
}

cJSON *mlops_node_to_json(const struct mlops_node *node)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	mlops_json_add_oid(o, "id", &node->id);
	cJSON_AddStringToObject(o, "kind", mlops_kind_name(node->kind));
	cJSON_AddNumberToObject(o, "size", (double)node->size);
	cJSON_AddNumberToObject(o, "files", (double)node->files);
	cJSON_AddStringToObject(o, "mode", mode_str(node->mode));
	return o;
}

int mlops_node_from_json(struct mlops_node *out, const cJSON *json)
{
	memset(out, 0, sizeof(*out));
	if (mlops_json_get_oid(&out->id, json, "id") < 0)
		return MLOPS_EINVALID;
	out->kind = mlops_kind_parse(mlops_json_str(json, "kind"));
	if (out->kind == MLOPS_KIND_NONE)
		return mlops_error_set(MLOPS_EINVALID, "record has an unknown kind");
	double size = mlops_json_num(json, "size", -1);
	if (!(size >= 0 && size < 9223372036854775808.0))
		return mlops_error_set(MLOPS_EINVALID, "record has no size");
	out->size = (uint64_t)size;
	out->files = mlops_json_u64(json, "files", 1);
	out->mode = mode_parse(mlops_json_str(json, "mode"));
	if (!out->mode)
		out->mode = out->kind == MLOPS_KIND_TREE ? 040000 :
			    out->kind == MLOPS_KIND_LINK ? 0120000 : 0644;
	return 0;
}

/* ---- phase 1: walk ---------------------------------------------------- */

struct wnode {
	char *name;
	char *abs;
	char *key;
	struct stat st;
	struct mlops_node node;
	int need_hash;
	int tree_cached;      /* the stat cache knows this directory's tree... */
	mlops_oid cached_id;  /* ...with this id */
	int clean;            /* it and everything below are as cached */
	struct wnode **kids;
	size_t nkids;
};

struct ingest {
	struct mlops_odb *odb;
	struct mlops_index *idx;
	int write;
	struct mlops_ingest_stats *stats;
	struct wnode **todo;
	size_t ntodo, captodo;
	uint64_t todo_bytes;
	pthread_mutex_t todo_lock;   /* todo, while directories are walked in parallel */
	struct wnode **top_kids;     /* what a parallel walk shares out */
	atomic_size_t next;
	atomic_uint_fast64_t done_bytes, stored, hashed;
	atomic_int failed;
	pthread_mutex_t err_lock;
	int err;
	char errmsg[1024];
};

static void wnode_free(struct wnode *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->nkids; i++)
		wnode_free(w->kids[i]);
	free(w->kids);
	free(w->name);
	free(w->abs);
	free(w->key);
	free(w);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ingest_fail(struct ingest *in, int err)
{
	pthread_mutex_lock(&in->err_lock);
	if (!in->err) {
		in->err = err;
		snprintf(in->errmsg, sizeof(in->errmsg), "%s", mlops_error_message());
	}
	pthread_mutex_unlock(&in->err_lock);
	atomic_store(&in->failed, 1);
}

static int todo_push(struct ingest *in, struct wnode *w)
{
	int err = 0;
	pthread_mutex_lock(&in->todo_lock);
	if (in->ntodo == in->captodo) {
		size_t cap = in->captodo ? in->captodo * 2 : 256;
		struct wnode **t = realloc(in->todo, cap * sizeof(*t));
		if (!t) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		in->todo = t;
		in->captodo = cap;
	}
	in->todo[in->ntodo++] = w;
	in->todo_bytes += (uint64_t)w->st.st_size;
done:
	pthread_mutex_unlock(&in->todo_lock);
	return err;
}

static int walk(struct ingest *in, struct wnode *w);

/* One sub-directory of the walk's top directory, from a parallel walk. */
static int walk_kid(void *payload, size_t i)
{
	struct ingest *in = payload;
	return walk(in, in->top_kids[i]);
}

static int walk_kids(struct ingest *in, struct wnode *w, int top)
{
	size_t dirs = 0;
	int err = 0;
	for (size_t i = 0; i < w->nkids; i++)
		dirs += S_ISDIR(w->kids[i]->st.st_mode) != 0;
	/*
	 * The sub-directories of the walk's top directory are walked on every
	 * core: half of a status or an add of many small files is lstat()
	 * and readdir(), which parallelise well.
	 */
	if (top && dirs >= 2) {
		in->top_kids = w->kids;
		return parallel_for(w->nkids, nworkers(), walk_kid, in);
	}
	for (size_t i = 0; err == 0 && i < w->nkids; i++)
		err = walk(in, w->kids[i]);
	return err;
}

static int freshen_cb(const mlops_oid *id, void *payload)
{
	return mlops_odb_freshen(payload, id) ? 0 : 1;
}

/*
 * A file the stat cache knows: 1 when its objects (a chunk list's chunks
 * too) are all stored, each freshened for gc's grace period (odb.h); 0
 * when one is missing, and the file is then hashed and stored again.
 */
static int known_file_stored(struct mlops_odb *odb, const struct mlops_node *node)
{
	if (node->kind != MLOPS_KIND_CHUNKS)
		return mlops_odb_freshen(odb, &node->id);
	if (!mlops_odb_freshen(odb, &node->id))
		return 0;
	int rc = mlops_tree_walk_objects(odb, node, freshen_cb, odb);
	if (rc < 0)
		mlops_error_clear();
	return rc == 0;
}

static int walk_at(struct ingest *in, struct wnode *w, int top)
{
	if (S_ISLNK(w->st.st_mode)) {
		w->node.kind = MLOPS_KIND_LINK;
		w->node.mode = 0120000;
		w->node.files = 1;
		w->need_hash = 1;
		return todo_push(in, w);
	}
	if (S_ISREG(w->st.st_mode)) {
		struct mlops_index_entry e;
		w->node.mode = (w->st.st_mode & 0111) ? 0755 : 0644;
		w->node.size = (uint64_t)w->st.st_size;
		w->node.files = 1;
		if (in->idx && w->key && mlops_index_lookup(&e, in->idx, w->key, &w->st) &&
		    (e.kind == MLOPS_KIND_BLOB || e.kind == MLOPS_KIND_CHUNKS)) {
			w->node.id = e.id;
			w->node.kind = (enum mlops_kind)e.kind;
			if (!in->write || known_file_stored(in->odb, &w->node))
				return 0;
		}
		w->need_hash = 1;
		return todo_push(in, w);
	}
	if (!S_ISDIR(w->st.st_mode))
		return mlops_error_set(MLOPS_EINVALID, "'%s' is not a regular file, link or directory",
				       w->abs);

	w->node.kind = MLOPS_KIND_TREE;
	w->node.mode = 040000;
	/*
	 * The cache-tree: a directory whose stat (mtime moves when entries are
	 * added, removed or renamed) matches, and whose entries all match,
	 * has the tree id recorded last time, so its tree is not rebuilt.
	 */
	struct mlops_index_entry te;
	if (in->idx && w->key && mlops_index_lookup(&te, in->idx, w->key, &w->st) &&
	    te.kind == MLOPS_KIND_TREE && (!in->write || mlops_odb_freshen(in->odb, &te.id))) {
		w->tree_cached = 1;
		w->cached_id = te.id;
	}
	DIR *d = opendir(w->abs);
	if (!d)
		return mlops_error_sys(errno, "unable to read directory '%s'", w->abs);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int err = 0;
	while ((de = readdir(d))) {
		const char *nm = de->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				break;
			}
			names = nn;
		}
		if (!(names[n] = strdup(nm))) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		n++;
	}
	if (err == 0 && n) {
		qsort(names, n, sizeof(*names), cmp_names);
		w->kids = calloc(n, sizeof(*w->kids));
		if (!w->kids)
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	for (size_t i = 0; err == 0 && i < n; i++) {
		struct wnode *k = calloc(1, sizeof(*k));
		if (!k) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		w->kids[w->nkids++] = k;
		k->name = names[i];
		names[i] = NULL;
		k->abs = mlops_path_join(w->abs, k->name);
		if (w->key)
			k->key = *w->key ? mlops_path_join(w->key, k->name) : strdup(k->name);
		if (!k->abs || (w->key && !k->key)) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		if (in->stats && in->stats->utf8_names && mlops_utf8_invalid(k->name)) {
			char *q = mlops_quote_name(k->key ? k->key : k->abs);
			err = mlops_error_set(MLOPS_EUSAGE, "%s has a name that is not UTF-8: rename it "
					      "(mlops.lock and --json output hold paths as UTF-8 text)",
					      q ? q : k->name);
			free(q);
			break;
		}
		/* Relative to the open directory: no walk of the whole path. */
		if (fstatat(dirfd(d), k->name, &k->st, AT_SYMLINK_NOFOLLOW) < 0) {
			err = mlops_error_sys(errno, "unable to stat '%s'", k->abs);
			break;
		}
	}
	closedir(d);
	if (err == 0)
		err = walk_kids(in, w, top);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return err;
}

static int walk(struct ingest *in, struct wnode *w)
{
	return walk_at(in, w, 0);
}

/* ---- phase 2: hash ---------------------------------------------------- */

static void report(struct ingest *in, uint64_t bytes)
{
	uint64_t before = atomic_fetch_add(&in->done_bytes, bytes);
	uint64_t after = before + bytes;
	if (in->stats && in->stats->progress && (before >> 26) != (after >> 26))
		in->stats->progress(in->stats->payload, after, in->todo_bytes);
}

/*
 * Hash and store one object.  File content counts as hashed and is stored
 * only in write mode; records (trees, chunk lists) are always stored, so a
 * scan's result can be listed.
 */
static int put_object(struct ingest *in, mlops_oid *id, const void *data, size_t len,
		      int content)
{
	uint64_t stored = 0;
	mlops_hash_buf(id, data, len);
	if (content)
		atomic_fetch_add(&in->hashed, len);
	if (!in->write && content)
		return 0;
	int err = mlops_odb_write_hashed(in->odb, id, data, len, &stored);
	atomic_fetch_add(&in->stored, stored);
	return err;
}


struct chunk_ref {
	uint64_t off;
	uint32_t len;
	uint8_t zero; /* inside a hole: all zeros, id known without reading */
	mlops_oid id;
};

/*
 * Holes.  The chunker is a function of the bytes alone, and once MAX bytes
 * are left, of the next MAX bytes only; so a chunk that starts in a hole of
 * a sparse file with MAX bytes of hole ahead is always zero_len zero bytes
 * named zero_id.  Ingest finds holes with SEEK_DATA and never reads them;
 * checkout leaves such chunks as holes of the freshly sized file.
 */
static unsigned char zero_buf[MLOPS_CHUNK_MAX];
static size_t zero_len;
static mlops_oid zero_id;
static pthread_once_t zero_once = PTHREAD_ONCE_INIT;

static void zero_init(void)
{
	zero_len = mlops_chunk_next(zero_buf, MLOPS_CHUNK_MAX);
	mlops_hash_buf(&zero_id, zero_buf, zero_len);
}

/* What is known of a file's layout: no data in [hole_from, hole_to), data in [data_from, data_to). */
struct holes {
	int fd;
	uint64_t size;
	uint64_t hole_from, hole_to, data_from, data_to;
};

static void holes_init(struct holes *h, int fd, uint64_t size)
{
	memset(h, 0, sizeof(*h));
	h->fd = fd;
	h->size = size;
	pthread_once(&zero_once, zero_init);
}

/* 1 when [off, off + len) holds no data (reads as zeros). */
static int in_hole(struct holes *h, uint64_t off, uint64_t len)
{
	if (off >= h->hole_from && off + len <= h->hole_to)
		return 1;
	if (off >= h->data_from && off < h->data_to)
		return 0;
	off_t d = lseek(h->fd, (off_t)off, SEEK_DATA);
	if (d < 0 && errno == ENXIO)
		d = (off_t)h->size; /* no data from off to the end */
	if (d < 0) {
		h->data_from = 0; /* no SEEK_DATA here: all data */
		h->data_to = UINT64_MAX;
		return 0;
	}
	if ((uint64_t)d > off) {
		h->hole_from = off;
		h->hole_to = (uint64_t)d;
		return off + len <= (uint64_t)d;
	}
	off_t e = lseek(h->fd, (off_t)off, SEEK_HOLE);
	h->data_from = off;
	h->data_to = e < 0 ? UINT64_MAX : (uint64_t)e;
	return 0;
}

/* The next chunk at off: its length, and whether it lies in a hole. */
static size_t next_chunk(struct chunk_ref *cr, struct holes *h, const unsigned char *map,
			 uint64_t off)
{
	uint64_t left = h->size - off;
	cr->off = off;
	cr->zero = left >= MLOPS_CHUNK_MAX && in_hole(h, off, MLOPS_CHUNK_MAX);
	cr->len = (uint32_t)(cr->zero ? zero_len : mlops_chunk_next(map + off, (size_t)left));
	return cr->len;
}

/*
 * Name a chunked file: a file that is one chunk is that chunk's blob, so its
 * id is the hash of its content whatever its size; else a chunk list.
 */
static int put_chunk(struct ingest *in, mlops_oid *id, const void *data, size_t len)
{
	return put_object(in, id, data, len, 1);
}

/* Store one chunk of a mapped file; a chunk in a hole is never read. */
/*
 * Drop the mapped pages wholly inside a chunk once it is stored: they are
 * clean file pages, so this only keeps the process's resident set small
 * (the page cache keeps them).  The cut-point scan has passed them already.
 */
static void drop_pages(const unsigned char *map, uint64_t off, uint64_t len)
{
	static long page;
	if (!page)
		page = sysconf(_SC_PAGESIZE);
	uint64_t start = (off + (uint64_t)page - 1) & ~((uint64_t)page - 1);
	uint64_t end = (off + len) & ~((uint64_t)page - 1);
	if (end > start)
		madvise((void *)(map + start), (size_t)(end - start), MADV_DONTNEED);
}

static int store_chunk(struct ingest *in, struct chunk_ref *cr, const unsigned char *map)
{
	if (!cr->zero) {
		int err = put_chunk(in, &cr->id, map + cr->off, cr->len);
		drop_pages(map, cr->off, cr->len);
		return err;
	}
	uint64_t stored = 0;
	int err = 0;
	cr->id = zero_id;
	atomic_fetch_add(&in->hashed, cr->len);
	if (in->write)
		err = mlops_odb_write_hashed(in->odb, &zero_id, zero_buf, cr->len, &stored);
	atomic_fetch_add(&in->stored, stored);
	return err;
}

static int chunk_list_store(struct ingest *in, struct wnode *w, struct chunk_ref *chunks,
			    size_t n)
{
	if (n == 1) {
		w->node.id = chunks[0].id;
		w->node.kind = MLOPS_KIND_BLOB;
		return 0;
	}
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "chunks");
	char hex[MLOPS_OID_HEXSZ + 1];
	if (!o || !arr) {
		cJSON_Delete(o);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	cJSON_AddNumberToObject(o, "size", (double)w->st.st_size);
	cJSON_AddStringToObject(o, "type", "chunks");
	for (size_t i = 0; i < n; i++) {
		cJSON *c = cJSON_CreateArray();
		cJSON_AddItemToArray(c, cJSON_CreateString(mlops_oid_fmt(hex, &chunks[i].id)));
		cJSON_AddItemToArray(c, cJSON_CreateNumber(chunks[i].len));
		cJSON_AddItemToArray(arr, c);
	}
	char *text;
	int err = mlops_json_canonical(&text, o);
	cJSON_Delete(o);
	if (err < 0)
		return err;
	err = put_object(in, &w->node.id, text, strlen(text), 0);
	free(text);
	w->node.kind = MLOPS_KIND_CHUNKS;
	return err;
}

static int map_file(void **out, int *fd_out, const char *path, uint64_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return mlops_error_sys(errno, "unable to open '%s'", path);
	void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		close(fd);
		return mlops_error_sys(e, "unable to map '%s'", path);
	}
	madvise(p, (size_t)size, MADV_SEQUENTIAL);
	*out = p;
	*fd_out = fd;
	return 0;
}

static int check_unchanged(struct wnode *w, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return mlops_error_sys(errno, "unable to stat '%s'", w->abs);
	if (st.st_size != w->st.st_size || st.st_mtim.tv_sec != w->st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != w->st.st_mtim.tv_nsec)
		return mlops_error_set(MLOPS_ECONFLICT, "'%s' changed while it was being read", w->abs);
	return 0;
}

/* A file below BIG_FILE, entirely in one worker. */
static int hash_file(struct ingest *in, struct wnode *w, unsigned char **buf, size_t *bufcap)
{
	int err = 0;
	if (w->node.kind == MLOPS_KIND_LINK) {
		char target[PATH_MAX];
		ssize_t n = readlink(w->abs, target, sizeof(target));
		if (n < 0)
			return mlops_error_sys(errno, "unable to read link '%s'", w->abs);
		w->node.size = (uint64_t)n;
		return put_chunk(in, &w->node.id, target, (size_t)n);
	}
	uint64_t size = (uint64_t)w->st.st_size;
	if (size <= MLOPS_CHUNK_MIN) {
		int fd = open(w->abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return mlops_error_sys(errno, "unable to open '%s'", w->abs);
		if (*bufcap < MLOPS_CHUNK_MIN + 1) {
			unsigned char *nb = realloc(*buf, MLOPS_CHUNK_MIN + 1);
			if (!nb) {
				close(fd);
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			}
			*buf = nb;
			*bufcap = MLOPS_CHUNK_MIN + 1;
		}
		ssize_t n = mlops_read_full(fd, *buf, (size_t)size + 1);
		if (n < 0)
			err = mlops_error_sys(errno, "unable to read '%s'", w->abs);
		else if ((uint64_t)n != size)
			err = mlops_error_set(MLOPS_ECONFLICT, "'%s' changed while it was being read",
					      w->abs);
		else
			err = check_unchanged(w, fd);
		close(fd);
		if (err == 0) {
			err = put_chunk(in, &w->node.id, *buf, (size_t)size);
			w->node.kind = MLOPS_KIND_BLOB;
		}
		return err;
	}
	void *map;
	int fd;
	if ((err = map_file(&map, &fd, w->abs, size)) < 0)
		return err;
	size_t cap = (size_t)(size / MLOPS_CHUNK_MIN) + 2, n = 0;
	struct chunk_ref *chunks = malloc(cap * sizeof(*chunks));
	if (!chunks)
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	uint64_t off = 0;
	struct holes holes;
	holes_init(&holes, fd, size);
	while (err == 0 && off < size) {
		size_t len = next_chunk(&chunks[n], &holes, map, off);
		err = store_chunk(in, &chunks[n], map);
		n++;
		off += len;
		report(in, len);
	}
	if (err == 0)
		err = check_unchanged(w, fd);
	munmap(map, (size_t)size);
	close(fd);
	if (err == 0)
		err = chunk_list_store(in, w, chunks, n);
	free(chunks);
	return err;
}

static void *hash_worker(void *arg)
{
	struct ingest *in = arg;
	unsigned char *buf = NULL;
	size_t bufcap = 0;
	for (;;) {
		if (atomic_load(&in->failed))
			break;
		size_t i = atomic_fetch_add(&in->next, 1);
		if (i >= in->ntodo)
			break;
		struct wnode *w = in->todo[i];
		if (w->node.kind != MLOPS_KIND_LINK && (uint64_t)w->st.st_size > BIG_FILE)
			continue; /* done by hash_big_file */
		int err = hash_file(in, w, &buf, &bufcap);
		if (err < 0) {
			ingest_fail(in, err);
			break;
		}
		if (w->node.kind == MLOPS_KIND_LINK || (uint64_t)w->st.st_size <= MLOPS_CHUNK_MIN)
			report(in, (uint64_t)w->st.st_size); /* larger: reported per chunk */
	}
	free(buf);
	return NULL;
}

/* Chunk-parallel ingest of one big file. */
struct big {
	struct ingest *in;
	const unsigned char *map;
	struct chunk_ref *chunks;
	size_t ready, next;
	int scanning_done;
	pthread_mutex_t m;
	pthread_cond_t c;
};

static void *big_worker(void *arg)
{
	struct big *b = arg;
	for (;;) {
		pthread_mutex_lock(&b->m);
		while (b->next >= b->ready && !b->scanning_done && !atomic_load(&b->in->failed))
			pthread_cond_wait(&b->c, &b->m);
		if (b->next >= b->ready || atomic_load(&b->in->failed)) {
			pthread_mutex_unlock(&b->m);
			break;
		}
		size_t i = b->next++;
		pthread_cond_broadcast(&b->c); /* the scanner may be waiting for room */
		pthread_mutex_unlock(&b->m);
		struct chunk_ref *cr = &b->chunks[i];
		int err = store_chunk(b->in, cr, b->map);
		if (err < 0) {
			ingest_fail(b->in, err);
			pthread_mutex_lock(&b->m);
			pthread_cond_broadcast(&b->c);
			pthread_mutex_unlock(&b->m);
			break;
		}
		report(b->in, cr->len);
	}
	return NULL;
}

static int hash_big_file(struct ingest *in, struct wnode *w)
{
	uint64_t size = (uint64_t)w->st.st_size;
	void *map;
	int fd, err;
	if ((err = map_file(&map, &fd, w->abs, size)) < 0)
		return err;
	struct big b = { .in = in, .map = map };
	size_t cap = (size_t)(size / MLOPS_CHUNK_MIN) + 2;
	b.chunks = malloc(cap * sizeof(*b.chunks));
	if (!b.chunks) {
		munmap(map, (size_t)size);
		close(fd);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	pthread_mutex_init(&b.m, NULL);
	pthread_cond_init(&b.c, NULL);
	int nw = nworkers();
	pthread_t th[MAX_WORKERS];
	int started = 0;
	for (; started < nw; started++)
		if (pthread_create(&th[started], NULL, big_worker, &b) != 0)
			break;
	uint64_t off = 0;
	size_t n = 0;
	struct holes holes;
	holes_init(&holes, fd, size);
	while (off < size && !atomic_load(&in->failed)) {
		size_t len = next_chunk(&b.chunks[n], &holes, b.map, off);
		n++;
		off += len;
		pthread_mutex_lock(&b.m);
		b.ready = n;
		pthread_cond_broadcast(&b.c);
		/*
		 * Stay at most BIG_AHEAD chunks ahead of the workers: the pages
		 * scanned but not yet stored are resident, and this bounds them
		 * (about 64 MiB) however large the file.
		 */
		while (started && b.ready - b.next >= BIG_AHEAD && !atomic_load(&in->failed))
			pthread_cond_wait(&b.c, &b.m);
		pthread_mutex_unlock(&b.m);
	}
	pthread_mutex_lock(&b.m);
	b.scanning_done = 1;
	pthread_cond_broadcast(&b.c);
	pthread_mutex_unlock(&b.m);
	if (!started) /* no threads: hash everything here (it would wait for more before) */
		big_worker(&b);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&in->failed))
		err = in->err;
	if (err == 0)
		err = check_unchanged(w, fd);
	munmap(map, (size_t)size);
	close(fd);
	if (err == 0)
		err = chunk_list_store(in, w, b.chunks, n);
	free(b.chunks);
	pthread_mutex_destroy(&b.m);
	pthread_cond_destroy(&b.c);
	return err;
}

static int hash_all(struct ingest *in)
{
	int nw = nworkers();
	pthread_t th[MAX_WORKERS];
	int started = 0;
	if (in->ntodo > 1 || (in->ntodo == 1 && (uint64_t)in->todo[0]->st.st_size <= BIG_FILE)) {
		if (in->ntodo < 4)
			nw = 1;
		for (; started < nw; started++)
			if (pthread_create(&th[started], NULL, hash_worker, in) != 0)
				break;
		if (!started)
			hash_worker(in);
		for (int i = 0; i < started; i++)
			pthread_join(th[i], NULL);
	}
	if (atomic_load(&in->failed))
		return in->err;
	for (size_t i = 0; i < in->ntodo; i++) {
		struct wnode *w = in->todo[i];
		if (w->node.kind == MLOPS_KIND_LINK || (uint64_t)w->st.st_size <= BIG_FILE)
			continue;
		int err = hash_big_file(in, w);
		if (err < 0) {
			if (!in->err)
				ingest_fail(in, err);
			return in->err;
		}
	}
	return 0;
}

/* ---- phase 3: trees --------------------------------------------------- */

static int build_trees(struct ingest *in, struct wnode *w)
{
	int err = 0;
	if (w->node.kind != MLOPS_KIND_TREE)
		return 0;
	int clean = w->tree_cached;
	w->node.size = 0;
	w->node.files = 0;
	for (size_t i = 0; i < w->nkids; i++) {
		struct wnode *k = w->kids[i];
		if ((err = build_trees(in, k)) < 0)
			return err;
		w->node.size += k->node.size;
		w->node.files += k->node.files;
		if (k->node.kind == MLOPS_KIND_TREE ? !k->clean : (k->need_hash || k->node.kind == MLOPS_KIND_LINK))
			clean = 0;
	}
	if (clean) {
		w->node.id = w->cached_id;
		w->clean = 1;
		return 0;
	}
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "entries");
	if (!o || !arr) {
		cJSON_Delete(o);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	cJSON_AddStringToObject(o, "type", "tree");
	for (size_t i = 0; i < w->nkids; i++) {
		struct wnode *k = w->kids[i];
		cJSON *e = mlops_node_to_json(&k->node);
		if (!e) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		cJSON_AddStringToObject(e, "name", k->name);
		cJSON_AddItemToArray(arr, e);
	}
	if (err == 0) {
		char *text;
		if ((err = mlops_json_canonical(&text, o)) == 0) {
			err = put_object(in, &w->node.id, text, strlen(text), 0);
			free(text);
		}
	}
	cJSON_Delete(o);
	return err;
}

static int update_index(struct ingest *in, struct wnode *w)
{
	if (w->node.kind == MLOPS_KIND_TREE) {
		for (size_t i = 0; i < w->nkids; i++) {
			int err = update_index(in, w->kids[i]);
			if (err < 0)
				return err;
		}
		if (!w->clean && w->key)
			return mlops_index_put(in->idx, w->key, &w->st, &w->node.id, MLOPS_KIND_TREE);
		return 0;
	}
	if (w->need_hash && w->key && S_ISREG(w->st.st_mode))
		return mlops_index_put(in->idx, w->key, &w->st, &w->node.id, (uint8_t)w->node.kind);
	return 0;
}

static int ingest_run(struct mlops_node *out, struct mlops_odb *odb, struct mlops_index *idx,
		      const char *abs_path, const char *key, struct mlops_ingest_stats *stats,
		      int write)
{
	struct ingest in;
	memset(&in, 0, sizeof(in));
	in.odb = odb;
	in.idx = idx;
	in.write = write;
	in.stats = stats;
	pthread_mutex_init(&in.err_lock, NULL);
	pthread_mutex_init(&in.todo_lock, NULL);
	int err;
	struct wnode *root = calloc(1, sizeof(*root));
	if (!root)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	root->abs = strdup(abs_path);
	root->name = strdup("");
	root->key = key ? strdup(key) : NULL;
	if (!root->abs || !root->name || (key && !root->key)) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if (lstat(abs_path, &root->st) < 0) {
		if (errno == ENOENT)
			err = mlops_error_set(MLOPS_ENOTFOUND, "'%s' does not exist", abs_path);
		else
			err = mlops_error_sys(errno, "unable to stat '%s'", abs_path);
		goto done;
	}
	if ((err = walk_at(&in, root, 1)) < 0)
		goto done;
	if ((err = hash_all(&in)) < 0) {
		mlops_error_set(err, "%s", in.errmsg);
		goto done;
	}
	if ((err = build_trees(&in, root)) < 0)
		goto done;
	if (idx && (err = update_index(&in, root)) < 0)
		goto done;
	*out = root->node;
	if (stats) {
		stats->files += root->node.files;
		stats->bytes += root->node.size;
		stats->hashed += atomic_load(&in.hashed);
		stats->stored += atomic_load(&in.stored);
	}
done:
	wnode_free(root);
	free(in.todo);
	pthread_mutex_destroy(&in.todo_lock);
	pthread_mutex_destroy(&in.err_lock);
	return err;
}

int mlops_tree_store(struct mlops_node *out, struct mlops_odb *odb, struct mlops_index *idx,
		     const char *abs_path, const char *key, struct mlops_ingest_stats *stats)
{
	return ingest_run(out, odb, idx, abs_path, key, stats, 1);
}

int mlops_tree_scan(struct mlops_node *out, struct mlops_odb *odb, struct mlops_index *idx,
		    const char *abs_path, const char *key, struct mlops_ingest_stats *stats)
{
	return ingest_run(out, odb, idx, abs_path, key, stats, 0);
}

/* ---- reading trees ---------------------------------------------------- */

struct tentry {
	char *name;
	struct mlops_node node;
};

static int valid_entry_name(const char *name)
{
	return name && *name && strcmp(name, ".") && strcmp(name, "..") && !strchr(name, '/');
}

/* Parse a tree object into entries (caller frees each name and the array). */
static int tree_read(struct tentry **out, size_t *n, struct mlops_odb *odb, const mlops_oid *id)
{
	cJSON *o;
	char hex[MLOPS_OID_HEXSZ + 1];
	int err = mlops_json_load(&o, odb, id);
	if (err < 0)
		return err;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "entries");
	const char *type = mlops_json_str(o, "type");
	if (!type || strcmp(type, "tree") || !cJSON_IsArray(arr)) {
		cJSON_Delete(o);
		return mlops_error_set(MLOPS_ECORRUPT, "object %s is not a tree", mlops_oid_fmt(hex, id));
	}
	size_t cnt = (size_t)cJSON_GetArraySize(arr), i = 0;
	struct tentry *e = calloc(cnt ? cnt : 1, sizeof(*e));
	if (!e) {
		cJSON_Delete(o);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		const char *name = mlops_json_str(it, "name");
		if (!valid_entry_name(name) || mlops_node_from_json(&e[i].node, it) < 0 ||
		    !(e[i].name = strdup(name))) {
			for (size_t j = 0; j < i; j++)
				free(e[j].name);
			free(e);
			cJSON_Delete(o);
			return mlops_error_set(MLOPS_ECORRUPT, "tree %s has a malformed entry",
					       mlops_oid_fmt(hex, id));
		}
		i++;
	}
	cJSON_Delete(o);
	*out = e;
	*n = i;
	return 0;
}

static void tentries_free(struct tentry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

/* Parse a chunk list (caller frees). */
static int chunks_read(struct chunk_ref **out, size_t *n, struct mlops_odb *odb,
		       const struct mlops_node *node)
{
	cJSON *o;
	char hex[MLOPS_OID_HEXSZ + 1];
	int err = mlops_json_load(&o, odb, &node->id);
	if (err < 0)
		return err;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "chunks");
	const char *type = mlops_json_str(o, "type");
	if (!type || strcmp(type, "chunks") || !cJSON_IsArray(arr)) {
		cJSON_Delete(o);
		return mlops_error_set(MLOPS_ECORRUPT, "object %s is not a chunk list",
				       mlops_oid_fmt(hex, &node->id));
	}
	size_t cnt = (size_t)cJSON_GetArraySize(arr), i = 0;
	struct chunk_ref *c = calloc(cnt ? cnt : 1, sizeof(*c));
	uint64_t off = 0;
	if (!c) {
		cJSON_Delete(o);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, arr) {
		const cJSON *h = cJSON_GetArrayItem(it, 0), *l = cJSON_GetArrayItem(it, 1);
		if (!cJSON_IsString(h) || !cJSON_IsNumber(l) || l->valuedouble < 0 ||
		    l->valuedouble > MLOPS_CHUNK_MAX || mlops_oid_parse(&c[i].id, h->valuestring) < 0) {
			free(c);
			cJSON_Delete(o);
			return mlops_error_set(MLOPS_ECORRUPT, "chunk list %s is malformed",
					       mlops_oid_fmt(hex, &node->id));
		}
		c[i].len = (uint32_t)l->valuedouble;
		c[i].off = off;
		off += c[i].len;
		i++;
	}
	cJSON_Delete(o);
	if (off != node->size) {
		free(c);
		return mlops_error_set(MLOPS_ECORRUPT, "chunk list %s adds up to %llu bytes, not %llu",
				       mlops_oid_fmt(hex, &node->id), (unsigned long long)off,
				       (unsigned long long)node->size);
	}
	*out = c;
	*n = i;
	return 0;
}

static int list_add(struct mlops_tree_list *l, size_t *cap, const char *path,
		    const struct mlops_node *node)
{
	if (l->count == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct mlops_tree_file *f = realloc(l->files, nc * sizeof(*f));
		if (!f)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		l->files = f;
		*cap = nc;
	}
	if (!(l->files[l->count].path = strdup(path)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	l->files[l->count++].node = *node;
	return 0;
}

static int list_rec(struct mlops_tree_list *l, size_t *cap, struct mlops_odb *odb,
		    const char *prefix, const struct mlops_node *node, int include_trees)
{
	if (node->kind != MLOPS_KIND_TREE)
		return list_add(l, cap, prefix, node);
	struct tentry *e;
	size_t n;
	int err;
	if (include_trees && (err = list_add(l, cap, prefix, node)) < 0)
		return err;
	if ((err = tree_read(&e, &n, odb, &node->id)) < 0)
		return err;
	for (size_t i = 0; i < n && err == 0; i++) {
		char *p = *prefix ? mlops_path_join(prefix, e[i].name) : strdup(e[i].name);
		if (!p) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		err = list_rec(l, cap, odb, p, &e[i].node, include_trees);
		free(p);
	}
	tentries_free(e, n);
	return err;
}

static int cmp_list_path(const void *a, const void *b)
{
	return strcmp(((const struct mlops_tree_file *)a)->path,
		      ((const struct mlops_tree_file *)b)->path);
}

int mlops_tree_list(struct mlops_tree_list *out, struct mlops_odb *odb,
		    const struct mlops_node *node, int include_trees)
{
	size_t cap = 0;
	memset(out, 0, sizeof(*out));
	int err = list_rec(out, &cap, odb, "", node, include_trees);
	if (err < 0) {
		mlops_tree_list_free(out);
		return err;
	}
	/* Tree order ("a" < "a.txt" by name) is not path order ("a.txt" < "a/b"). */
	if (out->count > 1)
		qsort(out->files, out->count, sizeof(*out->files), cmp_list_path);
	return 0;
}

void mlops_tree_list_free(struct mlops_tree_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		free(list->files[i].path);
	free(list->files);
	list->files = NULL;
	list->count = 0;
}

int mlops_tree_walk_objects(struct mlops_odb *odb, const struct mlops_node *node,
			    mlops_object_cb cb, void *payload)
{
	int err = cb(&node->id, payload);
	if (err)
		return err;
	if (node->kind == MLOPS_KIND_CHUNKS) {
		struct chunk_ref *c;
		size_t n;
		if ((err = chunks_read(&c, &n, odb, node)) < 0)
			return err;
		for (size_t i = 0; i < n && !err; i++)
			err = cb(&c[i].id, payload);
		free(c);
		return err;
	}
	if (node->kind == MLOPS_KIND_TREE) {
		struct tentry *e;
		size_t n;
		if ((err = tree_read(&e, &n, odb, &node->id)) < 0)
			return err;
		for (size_t i = 0; i < n && !err; i++)
			err = mlops_tree_walk_objects(odb, &e[i].node, cb, payload);
		tentries_free(e, n);
	}
	return err;
}

/* ---- checkout --------------------------------------------------------- */

struct cjob {
	char *abs;
	char *key;
	struct mlops_node node;
	int direct; /* in a directory this checkout made: written under its own name */
};

/*
 * A run of jobs in one directory, at most PIECE_JOBS long: what a worker
 * takes at a time.  Pieces are ordered so that consecutive ones are in
 * different directories: two threads creating files in one directory
 * wait on its lock (and spin on it) more than they work.
 */
#define PIECE_JOBS 64
#define MAX_MADE 32
struct piece {
	size_t first, count;
	size_t round, dir; /* the piece's rank in its directory; the directory's rank */
};

struct checkout {
	struct mlops_odb *odb;
	struct mlops_index *idx;
	struct mlops_checkout_stats *stats;
	struct cjob *jobs;
	size_t njobs, capjobs;
	const size_t *order; /* the jobs the pieces cut (indexes into jobs[], ascending) */
	struct piece *pieces;
	size_t npieces;
	uint64_t total_bytes;
	atomic_size_t next;
	atomic_uint_fast64_t done_bytes, written_bytes, written_files;
	atomic_int failed;
	pthread_mutex_t err_lock;
	int err;
	char errmsg[1024];
	/*
	 * While the odb expects arrivals (a pull's fetch is running): files
	 * whose objects are still to come are left for later rounds, taken
	 * as their objects arrive, in any order.
	 */
	int wait;
	size_t *deferred; /* job indexes, under err_lock */
	size_t ndeferred, capdeferred;
	/*
	 * The directories made here in one that was there, registered for
	 * removal with what they hold should a signal stop the checkout
	 * (mlops_tempdir_register), until it ends; at most MAX_MADE (those
	 * made inside them go with them).
	 */
	char *made[MAX_MADE];
	size_t nmade;
	long delay_ms; /* MLOPS_TEST_CHECKOUT_DELAY_MS: a pause in each file (tests) */
};

static int remove_path(const char *abs, uint64_t *removed)
{
	struct stat st;
	if (lstat(abs, &st) < 0)
		return errno == ENOENT ? 0 : mlops_error_sys(errno, "unable to stat '%s'", abs);
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(abs);
		if (!d)
			return mlops_error_sys(errno, "unable to read directory '%s'", abs);
		struct dirent *de;
		int err = 0;
		while (!err && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char *p = mlops_path_join(abs, de->d_name);
			err = p ? remove_path(p, removed) : mlops_error_set(MLOPS_ERROR, "out of memory");
			free(p);
		}
		closedir(d);
		if (err)
			return err;
		if (rmdir(abs) < 0)
			return mlops_error_sys(errno, "unable to remove '%s'", abs);
		return 0;
	}
	if (unlink(abs) < 0)
		return mlops_error_sys(errno, "unable to remove '%s'", abs);
	if (removed)
		(*removed)++;
	return 0;
}

/* A file to write; abs and key (may be NULL) are taken, and freed on failure. */
static int job_add(struct checkout *co, char *abs, char *key, const struct mlops_node *node)
{
	if (co->njobs == co->capjobs) {
		size_t nc = co->capjobs ? co->capjobs * 2 : 256;
		struct cjob *j = realloc(co->jobs, nc * sizeof(*j));
		if (!j) {
			free(abs);
			free(key);
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		}
		co->jobs = j;
		co->capjobs = nc;
	}
	struct cjob *j = &co->jobs[co->njobs];
	j->direct = 0;
	j->abs = abs;
	j->key = key;
	j->node = *node;
	co->njobs++;
	co->total_bytes += node->size;
	return 0;
}

/*
 * 1 when the link at abs points where the stored link node does (its
 * target is read from the store: a link is never hashed on disk).
 */
static int link_matches(struct checkout *co, const char *abs, const struct mlops_node *node)
{
	char buf[PATH_MAX];
	void *target;
	size_t len;
	ssize_t n = readlink(abs, buf, sizeof(buf));
	if (n < 0 || (uint64_t)n != node->size || (co->wait && !mlops_odb_exists(co->odb, &node->id)))
		return 0;
	if (mlops_odb_read(&target, &len, co->odb, &node->id) < 0) {
		mlops_error_clear();
		return 0;
	}
	int same = len == (size_t)n && !memcmp(target, buf, len);
	free(target);
	return same;
}

/* plan_file's look at abs: 1 when the file is to be written, 0 when it is there already, or an error. */
static int plan_file_at(struct checkout *co, const char *abs, const char *key,
			const struct mlops_node *node, int fresh)
{
	struct stat st;
	if (!fresh && lstat(abs, &st) == 0) {
		struct mlops_index_entry e;
		if (S_ISREG(st.st_mode) && node->kind != MLOPS_KIND_LINK && co->idx && key &&
		    mlops_index_lookup(&e, co->idx, key, &st) && !mlops_oid_cmp(&e.id, &node->id) &&
		    ((st.st_mode & 0111) != 0) == ((node->mode & 0111) != 0)) {
			if (co->stats)
				co->stats->files_unchanged++;
			return 0;
		}
		if (S_ISLNK(st.st_mode) && node->kind == MLOPS_KIND_LINK && link_matches(co, abs, node)) {
			if (co->stats)
				co->stats->files_unchanged++;
			return 0;
		}
		if (S_ISDIR(st.st_mode)) {
			int err = remove_path(abs, co->stats ? &co->stats->files_removed : NULL);
			if (err < 0)
				return err;
		}
	}
	return 1;
}

/*
 * Decide what to do with one file or link entry at abs (in a directory
 * just made: `fresh`).  abs and key (may be NULL) are taken: a job keeps
 * them, else they are freed.
 */
static int plan_file(struct checkout *co, char *abs, char *key,
		     const struct mlops_node *node, int fresh)
{
	int err = plan_file_at(co, abs, key, node, fresh);
	if (err <= 0) {
		free(abs);
		free(key);
		return err;
	}
	err = job_add(co, abs, key, node);
	if (err == 0)
		co->jobs[co->njobs - 1].direct = fresh;
	return err;
}

/*
 * Register directory abs, about to be made, for removal on a signal
 * (co->made).  -1 past MAX_MADE, or when the registry is full: a signal
 * then leaves it.
 */
static int made_add(struct checkout *co, const char *abs)
{
	char *p = co->nmade < MAX_MADE ? strdup(abs) : NULL;
	if (p && mlops_tempdir_register(p) == 0) {
		co->made[co->nmade++] = p;
		return 0;
	}
	free(p);
	return -1;
}

static int plan_tree(struct checkout *co, const char *abs, const char *key,
		     const struct mlops_node *node, int fresh)
{
	struct stat st;
	int err, absent = 0;
	if (!fresh && lstat(abs, &st) == 0) {
		if (!S_ISDIR(st.st_mode) && unlink(abs) < 0)
			return mlops_error_sys(errno, "unable to remove '%s'", abs);
		absent = !S_ISDIR(st.st_mode);
	} else if (!fresh) {
		absent = errno == ENOENT;
	}
	/*
	 * A directory to make in one that was there is registered first, as
	 * a file is: a signal between the two would leave it.
	 */
	int registered = absent && made_add(co, abs) == 0;
	/* A directory made here is empty: nothing in it to look at or remove. */
	if (mkdir(abs, 0777) == 0) {
		fresh = 1;
	} else {
		int e = errno;
		if (registered) {
			mlops_tempfile_forget(co->made[--co->nmade]);
			free(co->made[co->nmade]);
		}
		if (e != EEXIST)
			return mlops_error_sys(e, "unable to create directory '%s'", abs);
		fresh = 0;
	}
	struct tentry *e;
	size_t n;
	if (co->wait)
		mlops_odb_await(co->odb, &node->id);
	if ((err = tree_read(&e, &n, co->odb, &node->id)) < 0)
		return err;
	/* Remove what the tree does not have (both lists sorted by name). */
	DIR *d = fresh ? NULL : opendir(abs);
	if (!fresh && !d) {
		tentries_free(e, n);
		return mlops_error_sys(errno, "unable to read directory '%s'", abs);
	}
	struct dirent *de;
	while (err == 0 && d && (de = readdir(d))) {
		const char *nm = de->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		size_t lo = 0, hi = n;
		int found = 0;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int c = strcmp(e[mid].name, nm);
			if (!c) {
				found = 1;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!found) {
			char *p = mlops_path_join(abs, nm);
			err = p ? remove_path(p, co->stats ? &co->stats->files_removed : NULL) :
				  mlops_error_set(MLOPS_ERROR, "out of memory");
			free(p);
		}
	}
	if (d)
		closedir(d);
	for (size_t i = 0; i < n && err == 0; i++) {
		char *p = mlops_path_join(abs, e[i].name);
		char *k = key ? (*key ? mlops_path_join(key, e[i].name) : strdup(e[i].name)) : NULL;
		if (!p || (key && !k)) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		} else if (e[i].node.kind != MLOPS_KIND_TREE) {
			err = plan_file(co, p, k, &e[i].node, fresh);
			continue; /* p and k are the job's, or freed */
		} else {
			err = plan_tree(co, p, k, &e[i].node, fresh);
		}
		free(p);
		free(k);
	}
	tentries_free(e, n);
	return err;
}

/*
 * The chunks of one file, read and verified (hashed) by several threads,
 * which is CPU work worth spreading over every core, and written at their
 * offsets one at a time: concurrent writes to one file only contend for
 * its lock in the kernel.
 */
struct chunk_copy {
	struct checkout *co;
	int fd;
	const struct chunk_ref *c;
	pthread_mutex_t write_lock; /* one write to fd at a time */
	size_t *todo;               /* while waiting: chunks left, SIZE_MAX once copied */
	int last;                   /* no more arrivals: copy (or fail) whatever is left */
};

static int chunk_copy_one(void *payload, size_t i)
{
	struct chunk_copy *cc = payload;
	const struct chunk_ref *c = &cc->c[i];
	int err = 0;
	/* The file was just created at its full size: leave zero runs as holes. */
	if (c->len != zero_len || mlops_oid_cmp(&c->id, &zero_id))
		err = mlops_odb_copy_to_fd_locked(cc->co->odb, &c->id, cc->fd, c->off, c->len,
						  &cc->write_lock);
	if (err == 0)
		atomic_fetch_add(&cc->co->done_bytes, c->len);
	return err;
}

/* A chunk of todo[], when its object is here (or when none will come). */
static int chunk_copy_ready(void *payload, size_t i)
{
	struct chunk_copy *cc = payload;
	size_t k = cc->todo[i];
	const struct chunk_ref *c = &cc->c[k];
	int hole = c->len == zero_len && !mlops_oid_cmp(&c->id, &zero_id);
	if (!cc->last && !hole && !mlops_odb_ready(cc->co->odb, &c->id))
		return 0;
	cc->todo[i] = SIZE_MAX;
	return chunk_copy_one(payload, k);
}

/* The chunks in rounds, each taking those that arrived since the last. */
static int chunk_copy_arriving(struct chunk_copy *cc, size_t n, int threads)
{
	struct mlops_odb *odb = cc->co->odb;
	int err = 0;
	if (!(cc->todo = malloc((n ? n : 1) * sizeof(*cc->todo))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	for (size_t i = 0; i < n; i++)
		cc->todo[i] = i;
	while (n && err == 0) {
		uint64_t seen = mlops_odb_arrivals(odb);
		if ((err = parallel_for(n, threads, chunk_copy_ready, cc)) < 0 || cc->last)
			break;
		size_t left = 0;
		for (size_t i = 0; i < n; i++)
			if (cc->todo[i] != SIZE_MAX)
				cc->todo[left++] = cc->todo[i];
		if (left == n && !mlops_odb_wait_arrival(odb, seen))
			cc->last = 1;
		n = left;
	}
	free(cc->todo);
	cc->todo = NULL;
	return err;
}

static int write_file_content(struct checkout *co, int fd, const struct mlops_node *node)
{
	int err;
	if (node->kind == MLOPS_KIND_BLOB)
		return mlops_odb_copy_to_fd(co->odb, &node->id, fd, 0, node->size);
	struct chunk_ref *c;
	size_t n;
	if (co->wait)
		mlops_odb_await(co->odb, &node->id);
	if ((err = chunks_read(&c, &n, co->odb, node)) < 0)
		return err;
	pthread_once(&zero_once, zero_init);
	struct chunk_copy cc = { .co = co, .fd = fd, .c = c };
	int threads = node->size >= BIG_FILE ? nworkers() : 1;
	pthread_mutex_init(&cc.write_lock, NULL);
	err = co->wait ? chunk_copy_arriving(&cc, n, threads) :
			 parallel_for(n, threads, chunk_copy_one, &cc);
	pthread_mutex_destroy(&cc.write_lock);
	free(c);
	return err;
}

/*
 * Create path for writing, registered as a temporary file (fsutil.h)
 * before it exists: a signal between the two would leave it otherwise.
 * Only for a name nobody else uses (a new temporary name, or a file in a
 * directory this checkout made).  -1 with errno, and not registered.
 */
static int create_registered(const char *path, mode_t mode)
{
	mlops_tempfile_register(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		int e = errno;
		mlops_tempfile_forget(path);
		errno = e;
	}
	return fd;
}

/*
 * Create a new file for writing at tmp, a template ending in "XXXXXX",
 * registered (create_registered): the X's become this process's id and a
 * count (no random name to draw, and the mode is given at creation, not
 * changed after it).  -1 with errno.
 */
static int open_temp(char *tmp, mode_t mode)
{
	static atomic_uint_fast64_t seq;
	size_t len = strlen(tmp);
	for (int tries = 0; tries < 100; tries++) {
		char x[7];
		uint64_t n = atomic_fetch_add(&seq, 1) ^ ((uint64_t)getpid() << 20);
		for (int k = 0; k < 6; k++, n /= 36)
			x[k] = "0123456789abcdefghijklmnopqrstuvwxyz"[n % 36];
		memcpy(tmp + len - 6, x, 6);
		int fd = create_registered(tmp, mode);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

/* A temporary name beside abs (caller frees), or NULL when out of memory. */
static char *temp_beside(const char *abs)
{
	const char *slash = strrchr(abs, '/');
	if (!slash)
		return mlops_strdupf("./.%.40s.mlops-XXXXXX", abs);
	int dl = (int)(slash - abs);
	return mlops_strdupf("%.*s/.%.40s.mlops-XXXXXX", dl ? dl : 1, dl ? abs : "/", slash + 1);
}

static int checkout_one(struct checkout *co, struct cjob *j)
{
	int err = 0;
	/* A file written under its own name needs no second name. */
	char *tmp = NULL;
	if ((j->node.kind == MLOPS_KIND_LINK || !j->direct) && !(tmp = temp_beside(j->abs)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");

	if (j->node.kind == MLOPS_KIND_LINK) {
		void *target;
		size_t len;
		if (co->wait)
			mlops_odb_await(co->odb, &j->node.id);
		if ((err = mlops_odb_read(&target, &len, co->odb, &j->node.id)) < 0)
			goto done;
		/* mkstemp-like unique name for the link */
		int fd = mkstemp(tmp);
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		if (symlink((char *)target, tmp) < 0 || rename(tmp, j->abs) < 0) {
			err = mlops_error_sys(errno, "unable to create link '%s'", j->abs);
			unlink(tmp);
		}
		free(target);
		goto done;
	}
	/*
	 * Created with its final mode (the umask applies, as to any new
	 * file), and a chunked file at its full size (so that zero runs stay
	 * holes): a blob's one write sets its size.  In a directory this
	 * checkout made, nobody can have known the file: it is written under
	 * its own name, as git does, and removed if the write fails or the
	 * process is stopped by a signal.  A rename per file was a third of
	 * the checkout of 50,000 small files.
	 */
	mode_t mode = j->node.mode & 0111 ? 0777 : 0666;
	const char *path = j->direct ? j->abs : tmp;
	int fd = j->direct ? create_registered(path, mode) : open_temp(tmp, mode);
	if (fd < 0) {
		err = mlops_error_sys(errno, "unable to create '%s'", path);
		goto done;
	}
	if (j->node.kind == MLOPS_KIND_CHUNKS && j->node.size &&
	    ftruncate(fd, (off_t)j->node.size) < 0)
		err = mlops_error_sys(errno, "unable to write '%s'", j->abs);
	/* Tests stop a checkout here: a file made, its content not written yet. */
	if (co->delay_ms > 0) {
		struct timespec ts = { co->delay_ms / 1000, (co->delay_ms % 1000) * 1000000L };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (err == 0)
		err = write_file_content(co, fd, &j->node);
	/*
	 * A file written under its own name: the index entry's stat comes
	 * from the descriptor, as git's checkout does (the write set the
	 * times).  A rename changes the ctime: that file is looked at after.
	 */
	struct stat st;
	int want_st = err == 0 && co->idx && j->key;
	int have_st = want_st && j->direct && fstat(fd, &st) == 0;
	if (close(fd) < 0 && err == 0)
		err = mlops_error_sys(errno, "unable to write '%s'", j->abs);
	if (err == 0 && !j->direct && rename(tmp, j->abs) < 0)
		err = mlops_error_sys(errno, "unable to write '%s'", j->abs);
	if (err < 0)
		unlink(path);
	mlops_tempfile_forget(path);
	if (err == 0 && want_st && !have_st)
		have_st = lstat(j->abs, &st) == 0;
	if (err == 0 && have_st)
		err = mlops_index_put(co->idx, j->key, &st, &j->node.id, (uint8_t)j->node.kind);
done:
	free(tmp);
	if (err == 0) {
		atomic_fetch_add(&co->written_files, 1);
		atomic_fetch_add(&co->written_bytes, j->node.size);
		if (j->node.kind != MLOPS_KIND_CHUNKS)
			atomic_fetch_add(&co->done_bytes, j->node.size);
	}
	return err;
}

/* A file whose object is still to come: for a later round.  0, or out of memory. */
static int defer_job(struct checkout *co, size_t i)
{
	int err = 0;
	pthread_mutex_lock(&co->err_lock);
	if (co->ndeferred == co->capdeferred) {
		size_t nc = co->capdeferred ? co->capdeferred * 2 : 256;
		size_t *d = realloc(co->deferred, nc * sizeof(*d));
		if (d) {
			co->deferred = d;
			co->capdeferred = nc;
		}
	}
	if (co->ndeferred < co->capdeferred)
		co->deferred[co->ndeferred++] = i;
	else
		err = MLOPS_ERROR;
	pthread_mutex_unlock(&co->err_lock);
	return err < 0 ? mlops_error_set(err, "out of memory") : 0;
}

static int checkout_job(struct checkout *co, size_t i)
{
	struct cjob *j = &co->jobs[i];
	int err = co->wait && j->node.kind != MLOPS_KIND_CHUNKS &&
			  !mlops_odb_ready(co->odb, &j->node.id) ?
			  defer_job(co, i) :
			  checkout_one(co, j);
	if (err == 0 && co->stats && co->stats->progress)
		co->stats->progress(co->stats->payload, atomic_load(&co->done_bytes),
				    co->total_bytes);
	return err;
}

static void *checkout_worker(void *arg)
{
	struct checkout *co = arg;
	for (;;) {
		size_t pi = atomic_fetch_add(&co->next, 1);
		if (pi >= co->npieces)
			break;
		const struct piece *pc = &co->pieces[pi];
		for (size_t i = pc->first; i < pc->first + pc->count; i++) {
			if (atomic_load(&co->failed))
				return NULL;
			int err = checkout_job(co, co->order ? co->order[i] : i);
			if (err < 0) {
				pthread_mutex_lock(&co->err_lock);
				if (!co->err) {
					co->err = err;
					snprintf(co->errmsg, sizeof(co->errmsg), "%s",
						 mlops_error_message());
				}
				pthread_mutex_unlock(&co->err_lock);
				atomic_store(&co->failed, 1);
				return NULL;
			}
		}
	}
	return NULL;
}

/* Length of the directory part of a path (up to its last '/'). */
static size_t dir_len(const char *abs)
{
	const char *slash = strrchr(abs, '/');
	return slash ? (size_t)(slash - abs) : 0;
}

static int cmp_piece(const void *a, const void *b)
{
	const struct piece *x = a, *y = b;
	if (x->round != y->round)
		return x->round < y->round ? -1 : 1;
	return (x->dir > y->dir) - (x->dir < y->dir);
}

/*
 * Cut n jobs (co->order[0..n), or the first n when there is no order; in
 * plan order: a directory's files together) into pieces.
 */
static int make_pieces(struct checkout *co, size_t n)
{
	free(co->pieces);
	co->npieces = 0;
	if (!(co->pieces = malloc((n ? n : 1) * sizeof(*co->pieces))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
#define JOB_AT(k) (&co->jobs[co->order ? co->order[k] : (k)])
	size_t dir = 0, round = 0;
	for (size_t i = 0; i < n;) {
		size_t first = i, dl = dir_len(JOB_AT(i)->abs);
		while (i < n && i - first < PIECE_JOBS && dir_len(JOB_AT(i)->abs) == dl &&
		       !memcmp(JOB_AT(i)->abs, JOB_AT(first)->abs, dl))
			i++;
		if (co->npieces && first &&
		    (dir_len(JOB_AT(first - 1)->abs) != dl ||
		     memcmp(JOB_AT(first - 1)->abs, JOB_AT(first)->abs, dl))) {
			dir++;
			round = 0;
		}
		co->pieces[co->npieces++] = (struct piece){ first, i - first, round++, dir };
	}
#undef JOB_AT
	qsort(co->pieces, co->npieces, sizeof(*co->pieces), cmp_piece);
	return 0;
}

/* The pieces on every core (this thread too); the first failure with its message. */
static int run_pieces(struct checkout *co)
{
	int nw = co->npieces < 2 ? 1 : nworkers();
	pthread_t th[MAX_WORKERS];
	int started = 0;
	atomic_store(&co->next, 0);
	while (started < nw - 1 && pthread_create(&th[started], NULL, checkout_worker, co) == 0)
		started++;
	checkout_worker(co);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&co->failed))
		return mlops_error_set(co->err, "%s", co->errmsg);
	return 0;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

/*
 * The deferred files, in rounds: each takes those whose objects arrived
 * since the last, cut into pieces as the first pass was; when no more
 * will arrive, the rest are tried (and fail as missing, unless they came
 * with the last install).
 */
static int checkout_deferred(struct checkout *co)
{
	int err = 0;
	size_t *ready = malloc((co->ndeferred ? co->ndeferred : 1) * sizeof(*ready));
	if (!ready)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	while (co->ndeferred && err == 0) {
		uint64_t seen = mlops_odb_arrivals(co->odb);
		size_t nready = 0, left = 0;
		for (size_t i = 0; i < co->ndeferred; i++) {
			size_t k = co->deferred[i];
			if (!co->wait || mlops_odb_ready(co->odb, &co->jobs[k].node.id))
				ready[nready++] = k;
			else
				co->deferred[left++] = k;
		}
		co->ndeferred = left;
		if (nready) {
			qsort(ready, nready, sizeof(*ready), cmp_size);
			co->order = ready;
			if ((err = make_pieces(co, nready)) == 0)
				err = run_pieces(co);
			co->order = NULL;
		} else if (!mlops_odb_wait_arrival(co->odb, seen)) {
			co->wait = 0; /* the last round: no more deferring */
		}
	}
	free(ready);
	return err;
}

int mlops_tree_checkout(struct mlops_odb *odb, struct mlops_index *idx,
			const struct mlops_node *node, const char *abs_dest, const char *key,
			struct mlops_checkout_stats *stats)
{
	struct checkout co;
	int err;
	memset(&co, 0, sizeof(co));
	co.odb = odb;
	co.idx = idx;
	co.stats = stats;
	co.wait = mlops_odb_expecting(odb);
	const char *delay = getenv("MLOPS_TEST_CHECKOUT_DELAY_MS");
	co.delay_ms = delay ? strtol(delay, NULL, 10) : 0;
	pthread_mutex_init(&co.err_lock, NULL);
	if (node->kind == MLOPS_KIND_TREE)
		err = plan_tree(&co, abs_dest, key, node, 0);
	else {
		char *a = strdup(abs_dest), *k = key ? strdup(key) : NULL;
		if (a && (!key || k)) {
			err = plan_file(&co, a, k, node, 0);
		} else {
			free(a);
			free(k);
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		}
	}
	/* One table for every entry to come, not one doubling after another. */
	if (err == 0 && co.njobs && idx && key)
		err = mlops_index_reserve(idx, co.njobs);
	if (err == 0 && co.njobs)
		err = make_pieces(&co, co.njobs);
	if (err == 0 && co.njobs)
		err = run_pieces(&co);
	if (err == 0 && co.ndeferred)
		err = checkout_deferred(&co);
	if (stats) {
		stats->files_written += atomic_load(&co.written_files);
		stats->bytes_written += atomic_load(&co.written_bytes);
	}
	/* Whole or failed: what the checkout made stays, for its caller to keep or remove. */
	for (size_t i = 0; i < co.nmade; i++) {
		mlops_tempfile_forget(co.made[i]);
		free(co.made[i]);
	}
	for (size_t i = 0; i < co.njobs; i++) {
		free(co.jobs[i].abs);
		free(co.jobs[i].key);
	}
	free(co.jobs);
	free(co.pieces);
	free(co.deferred);
	pthread_mutex_destroy(&co.err_lock);
	return err;
}

int mlops_tree_file_stream(struct mlops_odb *odb, const struct mlops_node *node,
			   int (*cb)(const void *data, size_t len, void *payload), void *payload)
{
	int err;
	if (node->kind == MLOPS_KIND_BLOB || node->kind == MLOPS_KIND_LINK) {
		void *data;
		size_t len;
		if ((err = mlops_odb_read(&data, &len, odb, &node->id)) < 0)
			return err;
		err = cb(data, len, payload);
		free(data);
		return err;
	}
	if (node->kind != MLOPS_KIND_CHUNKS)
		return mlops_error_set(MLOPS_EINVALID, "not a file");
	struct chunk_ref *c;
	size_t n;
	if ((err = chunks_read(&c, &n, odb, node)) < 0)
		return err;
	for (size_t i = 0; i < n && err == 0; i++) {
		void *data;
		size_t len;
		if ((err = mlops_odb_read(&data, &len, odb, &c[i].id)) < 0)
			break;
		err = cb(data, len, payload);
		free(data);
	}
	free(c);
	return err;
}
