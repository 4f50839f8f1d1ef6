/*
 * feature_read.c - reading materialised feature sets: one entity from the
 * index (mlops_feature_get) and the point-in-time join of an entities file
 * against one or more feature tables (mlops_feature_join).
 *
 * get reads the index object, the one page whose key range holds the
 * entity (binary search over the pages' first keys, then within the
 * page), and the one table piece that holds the entity's rows (through the
 * chunk list only for an entity larger than a piece); the rows of an
 * entity are sorted by time, so the answer is the last row at or before
 * the time asked.
 *
 * join checks each table out to .mlops/tmp, maps it, and scans it once
 * into per-row (time, byte range of the output fields) arrays and a map
 * from entity key to its run of rows.  Each entities row then costs one
 * map lookup and a binary search per feature set, and its output fields
 * are copied as the table wrote them.  Memory: the rows' 20-byte entries
 * and the entity map; the table itself stays in the page cache.
 */
#include "feature.h"
#include "feature_int.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/repo.h"
#include "store/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void mlops_feature_row_free(struct mlops_feature_row *row)
{
	if (!row)
		return;
	for (size_t i = 0; i < row->ncolumns; i++) {
		free(row->columns ? row->columns[i] : NULL);
		free(row->values ? row->values[i] : NULL);
	}
	free(row->columns);
	free(row->values);
	free(row);
}

/* ---- reading part of a stored file -------------------------------------- */

/* Bytes [off, off+len) of a stored file into *out (caller frees). */
static int read_range(char **out, struct mlops_odb *odb, const struct mlops_node *node, uint64_t off,
		      uint64_t len)
{
	char *buf = malloc(len + 1);
	void *data = NULL;
	size_t dlen;
	cJSON *list = NULL;
	int err = 0;
	*out = NULL;
	if (!buf)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (node->kind == MLOPS_KIND_BLOB) {
		if ((err = mlops_odb_read(&data, &dlen, odb, &node->id)) < 0)
			goto done;
		if (off + len > dlen) {
			err = mlops_error_set(MLOPS_ECORRUPT, "feature index points past the end of the table");
			goto done;
		}
		memcpy(buf, (char *)data + off, len);
		goto done;
	}
	if ((err = mlops_json_load(&list, odb, &node->id)) < 0)
		goto done;
	const cJSON *chunks = cJSON_GetObjectItemCaseSensitive(list, "chunks"), *c;
	uint64_t pos = 0, got = 0;
	cJSON_ArrayForEach(c, chunks) {
		const cJSON *cid = cJSON_GetArrayItem(c, 0), *csz = cJSON_GetArrayItem(c, 1);
		mlops_oid id;
		if (!cJSON_IsString(cid) || !cJSON_IsNumber(csz) || mlops_oid_parse(&id, cid->valuestring) < 0) {
			err = mlops_error_set(MLOPS_ECORRUPT, "the table's chunk list is malformed");
			goto done;
		}
		uint64_t size = (uint64_t)csz->valuedouble;
		if (pos + size > off && pos < off + len) {
			free(data);
			data = NULL;
			if ((err = mlops_odb_read(&data, &dlen, odb, &id)) < 0)
				goto done;
			uint64_t a = off > pos ? off - pos : 0;
			uint64_t b = off + len < pos + size ? off + len - pos : size;
			if (b > dlen) {
				err = mlops_error_set(MLOPS_ECORRUPT, "a table chunk is shorter than its list says");
				goto done;
			}
			memcpy(buf + (pos + a - off), (char *)data + a, b - a);
			got += b - a;
		}
		pos += size;
		if (pos >= off + len)
			break;
	}
	if (got != len)
		err = mlops_error_set(MLOPS_ECORRUPT, "feature index points past the end of the table");
done:
	free(data);
	cJSON_Delete(list);
	if (err < 0)
		free(buf);
	else {
		buf[len] = '\0';
		*out = buf;
	}
	return err;
}

/* ---- get ---------------------------------------------------------------------- */

static void hex_of(char *dst, const char *key, size_t len)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		dst[2 * i] = hx[(unsigned char)key[i] >> 4];
		dst[2 * i + 1] = hx[(unsigned char)key[i] & 15];
	}
	dst[2 * len] = '\0';
}

static int cmp_key(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

/* Find key in the index: *found 0 when absent. */
static int index_lookup(struct ft_index_entry *out, int *found, void **page_out, struct mlops_odb *odb,
			const cJSON *top, const char *key, size_t keylen)
{
	const cJSON *pages = cJSON_GetObjectItemCaseSensitive(top, "pages");
	char *hex = malloc(2 * keylen + 1);
	int err = 0;
	*found = 0;
	*page_out = NULL;
	if (!hex)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	hex_of(hex, key, keylen);
	int lo = 0, hi = cJSON_GetArraySize(pages);
	while (lo < hi) { /* first page whose first key > key */
		int mid = (lo + hi) / 2;
		const char *first = mlops_json_str(cJSON_GetArrayItem(pages, mid), "first");
		if (!first) {
			free(hex);
			return mlops_error_set(MLOPS_ECORRUPT, "feature index is malformed");
		}
		if (strcmp(first, hex) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	free(hex);
	if (lo == 0)
		return 0;
	mlops_oid pid;
	void *page;
	size_t plen;
	if ((err = mlops_json_get_oid(&pid, cJSON_GetArrayItem(pages, lo - 1), "id")) < 0 ||
	    (err = mlops_odb_read(&page, &plen, odb, &pid)) < 0)
		return err;
	long n = ft_page_count(page, plen);
	if (n < 0) {
		free(page);
		return mlops_error_set(MLOPS_ECORRUPT, "feature index page is malformed");
	}
	size_t a = 0, b = (size_t)n;
	while (a < b) {
		size_t mid = (a + b) / 2;
		struct ft_index_entry e;
		if ((err = ft_page_entry(&e, page, plen, mid)) < 0) {
			free(page);
			return err;
		}
		int c = cmp_key(e.key, e.keylen, key, keylen);
		if (c == 0) {
			*out = e;
			*found = 1;
			*page_out = page;
			return 0;
		}
		if (c < 0)
			a = mid + 1;
		else
			b = mid;
	}
	free(page);
	return 0;
}

static int key_from_strings(char **key, size_t *keylen, const char *const *keys, size_t n)
{
	struct mlops_csv_field f[64];
	size_t cap = 0;
	if (n > 64)
		return mlops_error_set(MLOPS_EUSAGE, "too many entity columns");
	for (size_t i = 0; i < n; i++) {
		f[i].ptr = keys[i];
		f[i].len = strlen(keys[i]);
	}
	*key = NULL;
	long l = ft_key_join(key, &cap, f, n);
	if (l < 0)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	*keylen = (size_t)l;
	return 0;
}

int mlops_feature_get(struct mlops_feature_row **out, struct mlops_repo *repo, const cJSON *record,
		      const char *const *keys, size_t nkeys, int has_at, int64_t at)
{
	cJSON *top = NULL;
	void *page = NULL;
	char *key = NULL, *rows = NULL, *scratch = NULL;
	size_t keylen = 0, scap = 0;
	struct mlops_feature_row *row = NULL;
	struct mlops_csv_field *fields = NULL;
	struct mlops_node table;
	mlops_oid idx;
	int err, found;
	const char *name = mlops_json_str(record, "name");
	long version = (long)mlops_json_num(record, "version", 0);

	*out = NULL;
	if ((err = ft_record_table(&table, record)) < 0 || (err = mlops_json_get_oid(&idx, record, "index")) < 0 ||
	    (err = mlops_json_load(&top, repo->odb, &idx)) < 0)
		goto done;
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(top, "columns");
	size_t ncols = (size_t)cJSON_GetArraySize(cols);
	size_t nkey = (size_t)mlops_json_num(top, "key_columns", 1);
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(record, "params");
	int64_t ttl = (int64_t)mlops_json_num(params, "ttl_ms", 0);
	if (nkeys != nkey) {
		err = mlops_error_set(MLOPS_EUSAGE, "feature set '%s' has %zu entity column%s; %zu key%s given",
				      name ? name : "?", nkey, nkey == 1 ? "" : "s", nkeys, nkeys == 1 ? "" : "s");
		goto done;
	}
	if (ncols <= nkey) {
		err = mlops_error_set(MLOPS_ECORRUPT, "feature index of '%s' is malformed", name ? name : "?");
		goto done;
	}
	if ((err = key_from_strings(&key, &keylen, keys, nkeys)) < 0)
		goto done;
	struct ft_index_entry e;
	if ((err = index_lookup(&e, &found, &page, repo->odb, top, key, keylen)) < 0)
		goto done;
	if (!found) {
		err = mlops_error_set(MLOPS_ENOTFOUND, "entity '%s' not found in %s@v%ld", keys[0],
				      name ? name : "?", version);
		goto done;
	}
	row = calloc(1, sizeof(*row));
	fields = calloc(ncols, sizeof(*fields));
	if (!row || !fields || !(row->columns = calloc(ncols, sizeof(char *))) ||
	    !(row->values = calloc(ncols, sizeof(char *)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	row->ncolumns = ncols;
	row->nkey = nkey;
	row->first_output = ncols;
	for (size_t i = 0; i < ncols; i++) {
		const char *c = cJSON_GetStringValue(cJSON_GetArrayItem(cols, (int)i));
		if (!(row->columns[i] = strdup(c ? c : ""))) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
	}
	row->first_output = nkey + 1 + (mlops_json_str(params, "created") ? 1 : 0);
	if (e.in_piece) {
		void *data;
		size_t dlen;
		if ((err = mlops_odb_read(&data, &dlen, repo->odb, &e.piece)) < 0)
			goto done;
		if ((uint64_t)e.piece_off + e.length > dlen || !(rows = malloc(e.length + 1))) {
			free(data);
			err = rows ? mlops_error_set(MLOPS_ECORRUPT, "feature index of '%s' points past a table piece",
						     name ? name : "?") :
				     mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		memcpy(rows, (char *)data + e.piece_off, e.length);
		rows[e.length] = '\0';
		free(data);
	} else if ((err = read_range(&rows, repo->odb, &table, e.offset, e.length)) < 0) {
		goto done;
	}
	/* The newest row at or before `at` (rows are in time order). */
	const char *p = rows, *end = rows + e.length, *best = NULL;
	int64_t best_t = 0;
	while (p < end) {
		const char *start = p;
		long n = ft_csv_split(&p, end, fields, ncols, &scratch, &scap, NULL);
		if (n < 0) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		int64_t t;
		if ((size_t)n != ncols ||
		    mlops_feature_parse_time(&t, fields[nkey].ptr, fields[nkey].len) < 0) {
			err = mlops_error_set(MLOPS_ECORRUPT, "feature table of '%s' is malformed", name ? name : "?");
			goto done;
		}
		if (has_at && t > at)
			break;
		best = start;
		best_t = t;
	}
	if (best && has_at && ttl > 0 && at - best_t > ttl)
		best = NULL;
	if (best) {
		p = best;
		ft_csv_split(&p, end, fields, ncols, &scratch, &scap, NULL);
		row->found = 1;
		row->time = best_t;
	}
	for (size_t i = 0; i < ncols; i++) {
		row->values[i] = best ? strndup(fields[i].ptr, fields[i].len) :
			i < nkey ? strdup(keys[i]) : strdup("");
		if (!row->values[i]) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
	}
	*out = row;
	row = NULL;
done:
	mlops_feature_row_free(row);
	cJSON_Delete(top);
	free(page);
	free(key);
	free(rows);
	free(scratch);
	free(fields);
	return err;
}

/* ---- join ------------------------------------------------------------------- */

struct jrow {
	int64_t time;
	uint64_t off;  /* start of the output fields in the table */
	uint32_t len;
};

struct jset {
	cJSON *record;
	mlops_oid id;
	const char *name;
	char *path;       /* checked-out table */
	char *map;        /* mmap of it */
	size_t maplen;
	size_t nkey, ncols, first_output, noutputs;
	int64_t ttl;
	struct jrow *rows;
	size_t nrows;
	struct ft_map ents; /* key -> entity index */
	uint64_t *ent_start; /* row range of each entity: [start[i], start[i+1]) */
	size_t nents;
	size_t *ecol;      /* entities file column of each entity column */
};

static void jset_free(struct jset *s)
{
	cJSON_Delete(s->record);
	if (s->map && s->map != MAP_FAILED)
		munmap(s->map, s->maplen);
	if (s->path) {
		unlink(s->path);
		mlops_tempfile_forget(s->path);
		free(s->path);
	}
	free(s->rows);
	if (s->ents.slots)
		ft_map_free(&s->ents);
	free(s->ent_start);
	free(s->ecol);
}

/* Check out and scan one table. */
static int jset_load(struct jset *s, struct mlops_repo *repo, const char *rev)
{
	struct mlops_node table;
	char *scratch = NULL, *key = NULL;
	size_t scap = 0, kcap = 0, rcap = 0, ecap = 0;
	struct mlops_csv_field *f = NULL;
	int fd = -1, err;
	if ((err = mlops_feature_resolve(&s->record, &s->id, repo, rev)) < 0)
		return err;
	s->name = mlops_json_str(s->record, "name");
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(s->record, "columns");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(s->record, "params");
	s->nkey = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(params, "entity"));
	s->ncols = (size_t)cJSON_GetArraySize(cols);
	s->first_output = s->nkey + 1 + (mlops_json_str(params, "created") ? 1 : 0);
	s->ttl = (int64_t)mlops_json_num(params, "ttl_ms", 0);
	if (!s->name || s->nkey == 0 || s->ncols < s->first_output)
		return mlops_error_set(MLOPS_ECORRUPT, "feature set record '%s' is malformed", rev);
	s->noutputs = s->ncols - s->first_output;
	if ((err = ft_record_table(&table, s->record)) < 0)
		return err;
	if ((err = mlops_tempfile(&fd, &s->path, repo->tmpdir, "feature-join-")) < 0)
		return err;
	mlops_tempfile_register(s->path);
	close(fd);
	fd = -1;
	if ((err = mlops_tree_checkout(repo->odb, NULL, &table, s->path, NULL, NULL)) < 0)
		return err;
	if ((fd = open(s->path, O_RDONLY | O_CLOEXEC)) < 0)
		return mlops_error_sys(errno, "unable to open '%s'", s->path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		err = mlops_error_sys(errno, "unable to stat '%s'", s->path);
		goto done;
	}
	s->maplen = (size_t)st.st_size;
	if (s->maplen) {
		s->map = mmap(NULL, s->maplen, PROT_READ, MAP_PRIVATE, fd, 0);
		if (s->map == MAP_FAILED) {
			s->map = NULL;
			err = mlops_error_sys(errno, "unable to map '%s'", s->path);
			goto done;
		}
		madvise(s->map, s->maplen, MADV_SEQUENTIAL);
	}
	if ((err = ft_map_init(&s->ents, 1024, 1)) < 0)
		goto done;
	if (!(f = calloc(s->first_output, sizeof(*f)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	const char *p = s->map, *end = s->map + s->maplen;
	if (p)
		ft_csv_split(&p, end, f, s->first_output, &scratch, &scap, NULL); /* header */
	while (p && p < end) {
		const char *raw_end;
		long n = ft_csv_split(&p, end, f, s->first_output, &scratch, &scap, &raw_end);
		if (n < 0) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		int64_t t;
		if ((size_t)n != s->first_output ||
		    mlops_feature_parse_time(&t, f[s->nkey].ptr, f[s->nkey].len) < 0) {
			err = mlops_error_set(MLOPS_ECORRUPT, "feature table of '%s' is malformed", s->name);
			goto done;
		}
		long kl = ft_key_join(&key, &kcap, f, s->nkey);
		if (kl < 0) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		int isnew;
		struct ft_map_slot *slot = ft_map_put(&s->ents, key, (size_t)kl, &isnew);
		if (!slot) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		if (isnew) {
			if (s->nents + 1 >= ecap) {
				size_t nc = ecap ? ecap * 2 : 4096;
				uint64_t *e = realloc(s->ent_start, nc * sizeof(*e));
				if (!e) {
					err = mlops_error_set(MLOPS_ERROR, "out of memory");
					goto done;
				}
				s->ent_start = e;
				ecap = nc;
			}
			slot->value = s->nents;
			s->ent_start[s->nents++] = s->nrows;
		}
		if (s->nrows == rcap) {
			size_t nc = rcap ? rcap * 2 : 65536;
			struct jrow *r = realloc(s->rows, nc * sizeof(*r));
			if (!r) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				goto done;
			}
			s->rows = r;
			rcap = nc;
		}
		/* The output fields follow the last key/time field, which is never quoted. */
		const char *last = f[s->first_output - 1].ptr + f[s->first_output - 1].len;
		struct jrow *r = &s->rows[s->nrows++];
		r->time = t;
		r->off = (uint64_t)(last - s->map);
		r->len = (uint32_t)(raw_end - last);
	}
	if (s->ent_start || (s->ent_start = malloc(sizeof(uint64_t))))
		s->ent_start[s->nents] = s->nrows;
	else
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
done:
	if (fd >= 0)
		close(fd);
	free(f);
	free(scratch);
	free(key);
	return err;
}

struct jout {
	int fd;
	const char *path;
	char *buf;
	size_t len, cap;
	struct mlops_hash *hash;
};

static int jout_write(struct jout *o, const char *p, size_t len)
{
	if (o->len + len > o->cap) {
		mlops_hash_update(o->hash, o->buf, o->len);
		if (mlops_write_all(o->fd, o->buf, o->len) < 0)
			return mlops_error_sys(errno, "unable to write '%s'", o->path);
		o->len = 0;
		if (len > o->cap) {
			mlops_hash_update(o->hash, p, len);
			if (mlops_write_all(o->fd, p, len) < 0)
				return mlops_error_sys(errno, "unable to write '%s'", o->path);
			return 0;
		}
	}
	memcpy(o->buf + o->len, p, len);
	o->len += len;
	return 0;
}

static int jout_field(struct jout *o, const char *p, size_t len, int comma)
{
	char small[256];
	char *q = 2 * len + 3 <= sizeof(small) ? small : malloc(2 * len + 3);
	size_t l = 0;
	int err;
	if (!q)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (comma)
		q[l++] = ',';
	l += ft_csv_quote(q + l, p, len);
	err = jout_write(o, q, l);
	if (q != small)
		free(q);
	return err;
}

static int hash_file(char out[MLOPS_OID_HEXSZ + 1], const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mlops_error_sys(errno, "unable to open '%s'", path);
	struct mlops_hash *h = mlops_hash_new();
	char *buf = malloc(1u << 20);
	int err = 0;
	if (!h || !buf) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (;;) {
		ssize_t n = mlops_read_full(fd, buf, 1u << 20);
		if (n < 0) {
			err = mlops_error_sys(errno, "unable to read '%s'", path);
			goto done;
		}
		if (n == 0)
			break;
		mlops_hash_update(h, buf, (size_t)n);
	}
	mlops_oid id;
	mlops_hash_final(&id, h);
	mlops_oid_fmt(out, &id);
done:
	close(fd);
	free(buf);
	mlops_hash_free(h);
	return err;
}

static int column_taken(const cJSON *cols, const char *name)
{
	const cJSON *x;
	cJSON_ArrayForEach(x, cols)
		if (cJSON_IsString(x) && !strcmp(x->valuestring, name))
			return 1;
	return 0;
}

/*
 * The output name of feature column `col` of set `set`: the column's own
 * name, or when the output has it already "SET.col", then "SET.col.2",
 * "SET.col.3" ... (the same set joined twice, or a file with that column).
 */
static int unique_column(char **out, const cJSON *cols, const char *set, const char *col)
{
	char *n = column_taken(cols, col) ? mlops_strdupf("%s.%s", set, col) : strdup(col);
	for (unsigned k = 2; n && column_taken(cols, n); k++) {
		free(n);
		n = mlops_strdupf("%s.%s.%u", set, col, k);
	}
	*out = n;
	return n ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
}

int mlops_feature_join(cJSON **manifest, struct mlops_repo *repo, const struct mlops_feature_join_opts *opts)
{
	struct jset *sets = calloc(opts->nrevs ? opts->nrevs : 1, sizeof(*sets));
	struct mlops_csv *csv = NULL;
	struct jout o = { .fd = -1, .path = opts->out };
	char *tmp = NULL, *key = NULL, *dir = NULL;
	size_t kcap = 0;
	struct mlops_csv_field *kf = NULL;
	cJSON *man = NULL, *outcols = NULL;
	uint64_t rows = 0;
	int err = 0;

	*manifest = NULL;
	if (!sets)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (opts->nrevs == 0) {
		err = mlops_error_set(MLOPS_EUSAGE, "no feature set to join");
		goto done;
	}
	for (size_t i = 0; i < opts->nrevs; i++)
		if ((err = jset_load(&sets[i], repo, opts->revs[i])) < 0)
			goto done;
	if ((err = mlops_csv_open(&csv, opts->entities, NULL)) < 0)
		goto done;
	size_t ncol;
	const char *const *names = mlops_csv_names(csv, &ncol);
	const char *tcol = opts->time_column;
	if (!tcol)
		tcol = mlops_json_str(cJSON_GetObjectItemCaseSensitive(sets[0].record, "params"), "timestamp");
	long tidx = -1;
	for (size_t c = 0; c < ncol; c++)
		if (!strcmp(names[c], tcol))
			tidx = (long)c;
	if (tidx < 0) {
		err = mlops_error_set(MLOPS_EINVALID, "entities file '%s' has no time column '%s'%s", opts->entities,
				      tcol, opts->time_column ? "" : "; name it with --timestamp");
		goto done;
	}
	outcols = cJSON_CreateArray();
	for (size_t c = 0; c < ncol; c++)
		cJSON_AddItemToArray(outcols, cJSON_CreateString(names[c]));
	size_t maxkey = 1;
	for (size_t i = 0; i < opts->nrevs; i++) {
		struct jset *s = &sets[i];
		const cJSON *ent = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s->record, "params"),
								     "entity");
		if (!(s->ecol = calloc(s->nkey, sizeof(*s->ecol)))) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		if (s->nkey > maxkey)
			maxkey = s->nkey;
		for (size_t k = 0; k < s->nkey; k++) {
			const char *en = cJSON_GetStringValue(cJSON_GetArrayItem(ent, (int)k));
			long ci = -1;
			for (size_t c = 0; en && c < ncol; c++)
				if (!strcmp(names[c], en))
					ci = (long)c;
			if (ci < 0) {
				err = mlops_error_set(MLOPS_EINVALID,
						      "entities file '%s' has no column '%s' (entity of feature set '%s')",
						      opts->entities, en ? en : "?", s->name);
				goto done;
			}
			s->ecol[k] = (size_t)ci;
		}
		const cJSON *cols = cJSON_GetObjectItemCaseSensitive(s->record, "columns");
		for (size_t c = s->first_output; c < s->ncols; c++) {
			const char *cn = cJSON_GetStringValue(cJSON_GetArrayItem(cols, (int)c));
			char *nn = NULL;
			if ((err = unique_column(&nn, outcols, s->name, cn ? cn : "")) < 0)
				goto done;
			cJSON_AddItemToArray(outcols, cJSON_CreateString(nn));
			free(nn);
		}
	}
	if (!(kf = calloc(maxkey, sizeof(*kf)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}

	/* The output, next to its final name. */
	if (!(dir = strdup(opts->out))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if ((err = mlops_tempfile(&o.fd, &tmp, dirname(dir), ".mlops-join-")) < 0)
		goto done;
	mlops_tempfile_register(tmp);
	o.cap = 1u << 20;
	o.buf = malloc(o.cap);
	o.hash = mlops_hash_new();
	if (!o.buf || !o.hash) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	{
		const cJSON *x;
		int first = 1;
		cJSON_ArrayForEach(x, outcols) {
			if ((err = jout_field(&o, x->valuestring, strlen(x->valuestring), !first)) < 0)
				goto done;
			first = 0;
		}
		if ((err = jout_write(&o, "\n", 1)) < 0)
			goto done;
	}
	const struct mlops_csv_field *f;
	size_t n;
	int r;
	while ((r = mlops_csv_next(csv, &f, &n)) == 1) {
		int64_t at;
		if ((err = mlops_feature_parse_time(&at, f[tidx].ptr, f[tidx].len)) < 0) {
			err = mlops_error_wrap(err, "'%s' line %zu: column '%s'", opts->entities, mlops_csv_line(csv), tcol);
			goto done;
		}
		for (size_t c = 0; c < n; c++)
			if ((err = jout_field(&o, f[c].ptr, f[c].len, c > 0)) < 0)
				goto done;
		if (n == 1 && f[0].len == 0 && (err = jout_write(&o, "\"\"", 2)) < 0)
			goto done;
		for (size_t i = 0; i < opts->nrevs; i++) {
			struct jset *s = &sets[i];
			int missing = 0;
			for (size_t k = 0; k < s->nkey; k++) {
				kf[k] = f[s->ecol[k]];
				missing |= ft_is_missing(kf[k].ptr, kf[k].len);
			}
			long kl = ft_key_join(&key, &kcap, kf, s->nkey);
			if (kl < 0) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				goto done;
			}
			const struct jrow *hit = NULL;
			/* A missing key is no entity: it matches nothing. */
			struct ft_map_slot *slot = missing ? NULL : ft_map_get(&s->ents, key, (size_t)kl);
			if (slot) {
				size_t lo = s->ent_start[slot->value], hi = s->ent_start[slot->value + 1];
				while (lo < hi) { /* first row with time > at */
					size_t mid = lo + (hi - lo) / 2;
					if (s->rows[mid].time <= at)
						lo = mid + 1;
					else
						hi = mid;
				}
				if (lo > s->ent_start[slot->value]) {
					hit = &s->rows[lo - 1];
					if (s->ttl > 0 && at - hit->time > s->ttl)
						hit = NULL;
				}
			}
			if (hit) {
				err = jout_write(&o, s->map + hit->off, hit->len);
			} else {
				for (size_t c = 0; c < s->noutputs && err == 0; c++)
					err = jout_write(&o, ",", 1);
			}
			if (err < 0)
				goto done;
		}
		if ((err = jout_write(&o, "\n", 1)) < 0)
			goto done;
		rows++;
	}
	if (r < 0) {
		err = r;
		goto done;
	}
	mlops_hash_update(o.hash, o.buf, o.len);
	if (mlops_write_all(o.fd, o.buf, o.len) < 0 || fsync(o.fd) < 0) {
		err = mlops_error_sys(errno, "unable to write '%s'", opts->out);
		goto done;
	}
	o.len = 0;
	if (close(o.fd) < 0) {
		o.fd = -1;
		err = mlops_error_sys(errno, "unable to write '%s'", opts->out);
		goto done;
	}
	o.fd = -1;
	chmod(tmp, 0666 & ~mlops_umask());
	mlops_oid outid;
	char outhex[MLOPS_OID_HEXSZ + 1], enthex[MLOPS_OID_HEXSZ + 1], hex[MLOPS_OID_HEXSZ + 1];
	mlops_hash_final(&outid, o.hash);
	mlops_oid_fmt(outhex, &outid);
	if ((err = hash_file(enthex, opts->entities)) < 0)
		goto done;

	/* The manifest: what went in, what came out. */
	man = cJSON_CreateObject();
	cJSON_AddStringToObject(man, "type", "feature-join");
	cJSON *fs = cJSON_AddArrayToObject(man, "features");
	for (size_t i = 0; i < opts->nrevs; i++) {
		const cJSON *rec = sets[i].record;
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", sets[i].name);
		cJSON_AddNumberToObject(e, "version", mlops_json_num(rec, "version", 0));
		cJSON_AddStringToObject(e, "record", mlops_oid_fmt(hex, &sets[i].id));
		const char *sp = mlops_json_str(rec, "spec"), *src = mlops_json_str(rec, "source");
		cJSON_AddStringToObject(e, "spec", sp ? sp : "");
		cJSON_AddStringToObject(e, "source", src ? src : "");
		const char *sn = mlops_json_str(rec, "source_name");
		cJSON_AddStringToObject(e, "source_name", sn ? sn : "");
		cJSON_AddNumberToObject(e, "source_version", mlops_json_num(rec, "source_version", 0));
		cJSON_AddItemToArray(fs, e);
	}
	cJSON *ent = cJSON_AddObjectToObject(man, "entities");
	cJSON_AddStringToObject(ent, "path", opts->entities);
	cJSON_AddStringToObject(ent, "sha256", enthex);
	cJSON_AddStringToObject(ent, "time_column", tcol);
	cJSON *out = cJSON_AddObjectToObject(man, "output");
	cJSON_AddStringToObject(out, "path", opts->out);
	cJSON_AddStringToObject(out, "sha256", outhex);
	cJSON_AddItemToObject(out, "columns", outcols);
	outcols = NULL;
	cJSON_AddNumberToObject(man, "rows", (double)rows);
	cJSON_AddNumberToObject(man, "time", (double)time(NULL));
	mlops_oid mid;
	if ((err = mlops_json_store(&mid, repo->odb, man, NULL)) < 0 || (err = mlops_odb_sync(repo->odb)) < 0)
		goto done;
	cJSON_AddStringToObject(man, "id", mlops_oid_fmt(hex, &mid));
	char *text = mlops_json_print(man, 1), *mpath = mlops_strdupf("%s.manifest.json", opts->out);
	char *full = text ? mlops_strdupf("%s\n", text) : NULL;
	free(text);
	if (!full || !mpath) {
		free(full);
		free(mpath);
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if (rename(tmp, opts->out) < 0) {
		err = mlops_error_sys(errno, "unable to write '%s'", opts->out);
		free(full);
		free(mpath);
		goto done;
	}
	mlops_tempfile_forget(tmp);
	free(tmp);
	tmp = NULL;
	char *mdir = strdup(mpath);
	err = mlops_write_file_atomic(mpath, full, strlen(full), mdir ? dirname(mdir) : ".", 1);
	free(mdir);
	free(full);
	free(mpath);
	if (err < 0)
		goto done;
	*manifest = man;
	man = NULL;
done:
	if (o.fd >= 0)
		close(o.fd);
	if (tmp) {
		unlink(tmp);
		mlops_tempfile_forget(tmp);
		free(tmp);
	}
	free(o.buf);
	mlops_hash_free(o.hash);
	mlops_csv_free(csv);
	for (size_t i = 0; i < opts->nrevs; i++)
		jset_free(&sets[i]);
	free(sets);
	free(key);
	free(kf);
	free(dir);
	cJSON_Delete(man);
	cJSON_Delete(outcols);
	return err;
}
