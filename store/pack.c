/*
 * pack.c - pack files and their indexes (see pack.h for the format), and
 * decoding of an object's stored bytes with verification by hash.
 */
#include "pack.h"
#include "bigmem.h"
#include "columnar.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

const char *mlops_codec_suffix(enum mlops_codec codec)
{
	return codec == MLOPS_CODEC_ZSTD ? ".zst" : codec == MLOPS_CODEC_ZLIB ? ".zz" :
	       codec == MLOPS_CODEC_ZCOL ? ".zcol" : "";
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- decoding ---------------------------------------------------------- */

static int inflate_all(void **out, size_t *outlen, const void *data, size_t len)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK)
		return -1;
	size_t cap = len * 4 + 64, used = 0;
	char *buf = malloc(cap + 1);
	int rc = Z_MEM_ERROR;
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	while (buf) {
		if (used == cap) {
			char *nb = realloc(buf, cap * 2 + 1);
			if (!nb)
				break;
			buf = nb;
			cap *= 2;
		}
		zs.next_out = (Bytef *)buf + used;
		zs.avail_out = (uInt)(cap - used);
		rc = inflate(&zs, Z_NO_FLUSH);
		used = cap - zs.avail_out;
		if (rc != Z_OK)
			break;
	}
	inflateEnd(&zs);
	if (rc != Z_STREAM_END || zs.avail_in != 0) {
		free(buf);
		return -1;
	}
	buf[used] = '\0';
	*out = buf;
	*outlen = used;
	return 0;
}

int mlops_object_decode(void **out, size_t *len, int *owned, const mlops_oid *id,
			enum mlops_codec codec, const void *stored, size_t stored_len,
			int borrow, const char *what)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	void *buf = NULL;
	size_t n = 0;
	*out = NULL;
	*owned = 0;
	if (codec == MLOPS_CODEC_NONE) {
		if (borrow) {
			buf = (void *)stored;
		} else {
			if (!(buf = malloc(stored_len + 1)))
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			memcpy(buf, stored, stored_len);
			((char *)buf)[stored_len] = '\0';
			*owned = 1;
		}
		n = stored_len;
	} else if (codec == MLOPS_CODEC_ZSTD || codec == MLOPS_CODEC_ZCOL) {
		unsigned long long size = ZSTD_getFrameContentSize(stored, stored_len);
		if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
		    size > ((unsigned long long)1 << 36))
			return mlops_error_set(MLOPS_ECORRUPT, "object %s in %s is corrupt: bad zstd frame",
					       mlops_oid_fmt(hex, id), what);
		if (!(buf = malloc(size + 1)))
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		n = ZSTD_decompress(buf, size, stored, stored_len);
		if (ZSTD_isError(n) || n != size) {
			free(buf);
			return mlops_error_set(MLOPS_ECORRUPT, "object %s in %s is corrupt: bad zstd frame",
					       mlops_oid_fmt(hex, id), what);
		}
		((char *)buf)[n] = '\0';
		*owned = 1;
		if (codec == MLOPS_CODEC_ZCOL) {
			void *rows;
			const char *why;
			int rc = mlops_columnar_decode(&rows, &n, buf, n, &why);
			free(buf);
			if (rc < 0)
				return !strcmp(why, "out of memory") ?
				       mlops_error_set(MLOPS_ERROR, "out of memory") :
				       mlops_error_set(MLOPS_ECORRUPT, "object %s in %s is corrupt: %s",
						       mlops_oid_fmt(hex, id), what, why);
			buf = rows;
		}
	} else if (codec == MLOPS_CODEC_ZLIB) {
		if (inflate_all(&buf, &n, stored, stored_len) < 0)
			return mlops_error_set(MLOPS_ECORRUPT, "object %s in %s is corrupt: bad zlib stream",
					       mlops_oid_fmt(hex, id), what);
		*owned = 1;
	} else {
		return mlops_error_set(MLOPS_ECORRUPT, "object %s in %s has an unknown codec",
				       mlops_oid_fmt(hex, id), what);
	}
	mlops_oid check;
	mlops_hash_buf(&check, buf, n);
	if (mlops_oid_cmp(&check, id)) {
		if (*owned)
			free(buf);
		*owned = 0;
		return mlops_error_set(MLOPS_ECORRUPT, "object %s in %s is corrupt: its content hashes to %.12s",
				       mlops_oid_fmt(hex, id), what,
				       mlops_oid_fmt((char[MLOPS_OID_HEXSZ + 1]){ 0 }, &check));
	}
	*out = buf;
	*len = n;
	return 0;
}

/* ---- index ------------------------------------------------------------- */

void mlops_pack_index_free(struct mlops_pack_index *idx)
{
	if (!idx)
		return;
	free(idx->entries);
	free(idx);
}

void mlops_pack_index_fanout(struct mlops_pack_index *idx)
{
	memset(idx->fanout, 0, sizeof(idx->fanout));
	for (size_t i = 0; i < idx->count; i++)
		idx->fanout[idx->entries[i].id.id[0]] = (uint32_t)(i + 1);
	for (int b = 1; b < 256; b++)
		if (idx->fanout[b] < idx->fanout[b - 1])
			idx->fanout[b] = idx->fanout[b - 1];
}

int mlops_pack_index_parse(struct mlops_pack_index **out, const void *data, size_t len,
			   const mlops_oid *expect)
{
	const unsigned char *p = data;
	struct mlops_pack_index *idx = NULL;
	char hex[MLOPS_OID_HEXSZ + 1];
	mlops_oid self;

	*out = NULL;
	mlops_hash_buf(&self, data, len);
	if (expect && mlops_oid_cmp(&self, expect))
		return mlops_error_set(MLOPS_ECORRUPT, "pack index %s is corrupt: its content hashes to %.12s",
				       mlops_oid_fmt(hex, expect),
				       mlops_oid_fmt((char[MLOPS_OID_HEXSZ + 1]){ 0 }, &self));
	if (len < MLOPS_PACK_IDX_HDR || memcmp(p, MLOPS_PACK_IDX_MAGIC, 8))
		goto bad;
	uint64_t count = get_le64(p + 48);
	if (count > UINT32_MAX || count > (len - MLOPS_PACK_IDX_HDR) / MLOPS_PACK_IDX_ENTRY ||
	    len != MLOPS_PACK_IDX_HDR + count * MLOPS_PACK_IDX_ENTRY)
		goto bad;
	if (!(idx = calloc(1, sizeof(*idx))) ||
	    !(idx->entries = malloc((count ? count : 1) * sizeof(*idx->entries)))) {
		mlops_pack_index_free(idx);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	idx->id = self;
	memcpy(idx->pack.id, p + 8, 32);
	idx->pack_size = get_le64(p + 40);
	idx->count = (size_t)count;
	for (size_t i = 0; i < idx->count; i++) {
		const unsigned char *e = p + MLOPS_PACK_IDX_HDR + i * MLOPS_PACK_IDX_ENTRY;
		struct mlops_pack_entry *x = &idx->entries[i];
		memcpy(x->id.id, e, 32);
		x->offset = get_le64(e + 32);
		x->length = get_le64(e + 40);
		x->codec = (enum mlops_codec)e[48];
		if (e[48] >= MLOPS_CODEC_COUNT || x->offset < MLOPS_PACK_HDR ||
		    x->offset > idx->pack_size || x->length > idx->pack_size - x->offset ||
		    (i && mlops_oid_cmp(&idx->entries[i - 1].id, &x->id) >= 0))
			goto bad;
	}
	mlops_pack_index_fanout(idx);
	*out = idx;
	return 0;
bad:
	mlops_pack_index_free(idx);
	return mlops_error_set(MLOPS_ECORRUPT, "pack index %s is malformed", mlops_oid_fmt(hex, &self));
}

const struct mlops_pack_entry *mlops_pack_index_find(const struct mlops_pack_index *idx,
						     const mlops_oid *id)
{
	unsigned b = id->id[0];
	size_t lo = b ? idx->fanout[b - 1] : 0, hi = idx->fanout[b];
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = mlops_oid_cmp(&idx->entries[mid].id, id);
		if (c == 0)
			return &idx->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct span {
	uint64_t offset, length;
};

static int cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return (x->offset > y->offset) - (x->offset < y->offset);
}

int mlops_pack_index_fills(const struct mlops_pack_index *idx)
{
	size_t n = idx->count, i = 0;
	struct span *s = malloc((n ? n : 1) * sizeof(*s));
	if (!s)
		return 0;
	for (size_t k = 0; k < n; k++)
		s[k] = (struct span){ idx->entries[k].offset, idx->entries[k].length };
	qsort(s, n, sizeof(*s), cmp_span);
	uint64_t at = MLOPS_PACK_HDR;
	for (; i < n && s[i].offset == at; i++)
		at += s[i].length;
	free(s);
	return i == n && at == idx->pack_size;
}

/* ---- writer ------------------------------------------------------------ */

struct mlops_pack_writer {
	unsigned char *pack;
	size_t len, cap;
	struct mlops_pack_entry *entries;
	size_t count, capent;
	unsigned char *idx;
	size_t idx_len;
};

/*
 * The pack is gathered in bigmem (bigmem.h): a push's packs of 32 MiB,
 * grown by realloc, were 57,000 page faults for 50,000 small files.
 */
static int pack_grow(struct mlops_pack_writer *w, size_t cap)
{
	unsigned char *p = mlops_bigmem_alloc(cap);
	if (!p)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (w->len)
		memcpy(p, w->pack, w->len);
	mlops_bigmem_free(w->pack, w->cap);
	w->pack = p;
	w->cap = cap;
	return 0;
}

int mlops_pack_writer_new(struct mlops_pack_writer **out)
{
	return mlops_pack_writer_new_sized(out, 0);
}

int mlops_pack_writer_new_sized(struct mlops_pack_writer **out, size_t bytes)
{
	struct mlops_pack_writer *w = calloc(1, sizeof(*w));
	size_t cap = 1 << 16;
	while (cap < bytes + MLOPS_PACK_HDR && cap < ((size_t)1 << 30))
		cap *= 2;
	if (!w || pack_grow(w, cap) < 0) {
		free(w);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	memcpy(w->pack, MLOPS_PACK_MAGIC, MLOPS_PACK_HDR);
	w->len = MLOPS_PACK_HDR;
	*out = w;
	return 0;
}

void mlops_pack_writer_free(struct mlops_pack_writer *w)
{
	if (!w)
		return;
	mlops_bigmem_free(w->pack, w->cap);
	free(w->entries);
	free(w->idx);
	free(w);
}

int mlops_pack_writer_add(struct mlops_pack_writer *w, const mlops_oid *id,
			  enum mlops_codec codec, const void *stored, size_t len)
{
	if (w->len + len > w->cap) {
		size_t cap = w->cap;
		while (cap < w->len + len)
			cap *= 2;
		if (pack_grow(w, cap) < 0)
			return MLOPS_ERROR;
	}
	if (w->count == w->capent) {
		size_t cap = w->capent ? w->capent * 2 : 256;
		struct mlops_pack_entry *e = realloc(w->entries, cap * sizeof(*e));
		if (!e)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		w->entries = e;
		w->capent = cap;
	}
	struct mlops_pack_entry *e = &w->entries[w->count++];
	e->id = *id;
	e->offset = w->len;
	e->length = len;
	e->codec = codec;
	memcpy(w->pack + w->len, stored, len);
	w->len += len;
	return 0;
}

size_t mlops_pack_writer_count(const struct mlops_pack_writer *w)
{
	return w->count;
}

uint64_t mlops_pack_writer_size(const struct mlops_pack_writer *w)
{
	return w->len;
}

static int cmp_entry(const void *a, const void *b)
{
	return mlops_oid_cmp(&((const struct mlops_pack_entry *)a)->id,
			     &((const struct mlops_pack_entry *)b)->id);
}

int mlops_pack_index_encode(unsigned char **out, size_t *out_len, mlops_oid *idx_id,
			    const mlops_oid *pack_id, uint64_t pack_size,
			    struct mlops_pack_entry *entries, size_t *count)
{
	qsort(entries, *count, sizeof(*entries), cmp_entry);
	/* Drop duplicates (the same object added twice). */
	size_t k = 0;
	for (size_t i = 0; i < *count; i++)
		if (!k || mlops_oid_cmp(&entries[k - 1].id, &entries[i].id))
			entries[k++] = entries[i];
	*count = k;
	size_t len = MLOPS_PACK_IDX_HDR + k * MLOPS_PACK_IDX_ENTRY;
	unsigned char *idx = calloc(1, len);
	if (!idx)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	memcpy(idx, MLOPS_PACK_IDX_MAGIC, 8);
	memcpy(idx + 8, pack_id->id, 32);
	put_le64(idx + 40, pack_size);
	put_le64(idx + 48, k);
	for (size_t i = 0; i < k; i++) {
		unsigned char *e = idx + MLOPS_PACK_IDX_HDR + i * MLOPS_PACK_IDX_ENTRY;
		memcpy(e, entries[i].id.id, 32);
		put_le64(e + 32, entries[i].offset);
		put_le64(e + 40, entries[i].length);
		e[48] = (unsigned char)entries[i].codec;
	}
	mlops_hash_buf(idx_id, idx, len);
	*out = idx;
	*out_len = len;
	return 0;
}

int mlops_pack_writer_finish(struct mlops_pack_writer *w, const void **pack, size_t *pack_len,
			     mlops_oid *pack_id, const void **idx, size_t *idx_len,
			     mlops_oid *idx_id)
{
	mlops_hash_buf(pack_id, w->pack, w->len);
	free(w->idx);
	w->idx = NULL;
	int err = mlops_pack_index_encode(&w->idx, &w->idx_len, idx_id, pack_id, w->len,
					  w->entries, &w->count);
	if (err < 0)
		return err;
	*pack = w->pack;
	*pack_len = w->len;
	*idx = w->idx;
	*idx_len = w->idx_len;
	return 0;
}
