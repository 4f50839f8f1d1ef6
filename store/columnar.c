/*
 * columnar.c - the column-major layout of delimited text (columnar.h).
 *
 * Encoding takes two passes over the body: the first finds the rows that
 * share the first row's delimiter count and each column's size, the
 * second copies every field to its column.  No per-field table is kept,
 * so memory is the output and one cursor per column.
 */
#include "columnar.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAGIC "MLC1"
#define MAX_COLUMNS 4096
#define MAX_HEADER (4 + 1 + 5 * 10)

static const unsigned char delimiters[] = { ',', '\t', ';', '|' };

static size_t put_uleb(unsigned char *p, uint64_t v)
{
	size_t n = 0;
	do {
		unsigned char b = v & 0x7f;
		v >>= 7;
		p[n++] = (unsigned char)(b | (v ? 0x80 : 0));
	} while (v);
	return n;
}

static int get_uleb(uint64_t *v, const unsigned char **p, const unsigned char *end)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -1;
		unsigned char b = *(*p)++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/*
 * Separators (the delimiter and '\n') of a byte range, in order, found 16
 * bytes at a time: fields are short, so looking at each byte in turn would
 * cost more than the zstd that follows.
 */
struct scan {
	const unsigned char *p;
	size_t len, off; /* off: the block after the one in mask */
	uint32_t mask, nl;
	size_t base;     /* the block in mask */
	unsigned char delim;
};

static void scan_init(struct scan *s, const unsigned char *p, size_t len, unsigned char delim)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->len = len;
	s->delim = delim;
}

/* The next separator's offset (1 with *newline), or 0 at the end. */
static inline int scan_next(struct scan *s, size_t *at, int *newline)
{
	while (!s->mask) {
		if (s->off >= s->len)
			return 0;
		s->base = s->off;
#ifdef __SSE2__
		if (s->len - s->off >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s->p + s->off));
			__m128i n = _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'));
			__m128i d = _mm_cmpeq_epi8(v, _mm_set1_epi8((char)s->delim));
			s->nl = (uint32_t)_mm_movemask_epi8(n);
			s->mask = (uint32_t)_mm_movemask_epi8(_mm_or_si128(n, d));
			s->off += 16;
			continue;
		}
#endif
		size_t n = s->len - s->off < 16 ? s->len - s->off : 16;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = s->p[s->off + i];
			s->nl |= (uint32_t)(c == '\n') << i;
			s->mask |= (uint32_t)(c == '\n' || c == s->delim) << i;
		}
		s->off += n;
	}
	int i = __builtin_ctz(s->mask);
	s->mask &= s->mask - 1;
	*newline = (s->nl >> i) & 1;
	s->nl &= ~(1u << i);
	*at = s->base + (size_t)i;
	return 1;
}

int mlops_columnar_encode(void **out, size_t *out_len, const void *data, size_t len)
{
	const unsigned char *d = data, *end = d + len;
	if (len < 64)
		return 0;
	const unsigned char *nl = memchr(d, '\n', len);
	if (!nl)
		return 0;
	const unsigned char *body = nl + 1;
	const unsigned char *first_end = memchr(body, '\n', (size_t)(end - body));
	if (!first_end)
		return 0;
	/* The delimiter: the candidate the first whole row holds most of. */
	size_t best = 0;
	unsigned char delim = 0;
	for (size_t c = 0; c < sizeof(delimiters); c++) {
		size_t n = 0;
		for (const unsigned char *p = body; p < first_end; p++)
			n += *p == delimiters[c];
		if (n > best) {
			best = n;
			delim = delimiters[c];
		}
	}
	if (!best || best + 1 > MAX_COLUMNS)
		return 0;
	size_t k = best + 1;
	size_t *col = calloc(2 * k, sizeof(*col)), *row = col + k;
	if (!col)
		return -1;

	/*
	 * Pass 1: the whole rows with k fields from the first on, and each
	 * column's size (a row's sizes count once the row is complete).
	 */
	size_t rows = 0, j = 0, start = 0, at;
	size_t blen = (size_t)(end - body);
	const unsigned char *body_end = body;
	struct scan sc;
	int newline;
	scan_init(&sc, body, blen, delim);
	while (scan_next(&sc, &at, &newline)) {
		if (!newline) {
			if (j + 1 >= k)
				break;
			row[j++] = at - start + 1;
		} else {
			if (j + 1 != k)
				break;
			row[j] = at - start + 1;
			for (size_t i = 0; i < k; i++)
				col[i] += row[i];
			rows++;
			body_end = body + at + 1;
			j = 0;
		}
		start = at + 1;
	}
	if (rows < MLOPS_COLUMNAR_MIN_ROWS) {
		free(col);
		return 0;
	}

	size_t prefix = (size_t)(body - d), suffix = (size_t)(end - body_end);
	unsigned char hdr[MAX_HEADER];
	size_t h = 0;
	memcpy(hdr, MAGIC, 4);
	h = 4;
	hdr[h++] = delim;
	h += put_uleb(hdr + h, k);
	h += put_uleb(hdr + h, rows);
	h += put_uleb(hdr + h, prefix);
	h += put_uleb(hdr + h, suffix);
	h += put_uleb(hdr + h, len);
	unsigned char *o = malloc(h + len);
	unsigned char **cur = malloc(k * sizeof(*cur));
	if (!o || !cur) {
		free(o);
		free(cur);
		free(col);
		return -1;
	}
	memcpy(o, hdr, h);
	memcpy(o + h, d, prefix);
	unsigned char *w = o + h + prefix;
	for (size_t i = 0; i < k; i++) {
		cur[i] = w;
		w += col[i];
	}
	memcpy(w, body_end, suffix);

	/* Pass 2: every field to its column, ended by '\n'. */
	j = 0;
	start = 0;
	scan_init(&sc, body, (size_t)(body_end - body), delim);
	while (scan_next(&sc, &at, &newline)) {
		size_t n = at - start;
		memcpy(cur[j], body + start, n);
		cur[j][n] = '\n';
		cur[j] += n + 1;
		start = at + 1;
		j = newline ? 0 : j + 1;
	}
	free(cur);
	free(col);
	*out = o;
	*out_len = h + len;
	return 1;
}

int mlops_columnar_decode(void **out, size_t *out_len, const void *enc, size_t enc_len,
			  const char **why)
{
	const unsigned char *p = enc, *end = p + enc_len;
	uint64_t k, rows, prefix, suffix, total;
	*out = NULL;
	*why = "bad columnar header";
	if (enc_len < 5 || memcmp(p, MAGIC, 4))
		return -1;
	unsigned char delim = p[4];
	p += 5;
	if (get_uleb(&k, &p, end) < 0 || get_uleb(&rows, &p, end) < 0 ||
	    get_uleb(&prefix, &p, end) < 0 || get_uleb(&suffix, &p, end) < 0 ||
	    get_uleb(&total, &p, end) < 0)
		return -1;
	if (k < 2 || k > MAX_COLUMNS || !rows || delim == '\n' ||
	    total != (uint64_t)(end - p) || prefix > total || suffix > total - prefix)
		return -1;
	*why = "bad columnar body";
	const unsigned char *cols = p + prefix, *cols_end = end - suffix;
	const unsigned char **cur = malloc((size_t)k * sizeof(*cur));
	unsigned char *o = malloc((size_t)total + 1);
	if (!cur || !o) {
		*why = "out of memory";
		goto fail;
	}
	/* Where each column starts: after the previous one's `rows` fields. */
	const unsigned char *q = cols;
	for (uint64_t j = 0; j < k; j++) {
		cur[j] = q;
		for (uint64_t r = 0; r < rows; r++) {
			const unsigned char *nl = memchr(q, '\n', (size_t)(cols_end - q));
			if (!nl)
				goto fail;
			q = nl + 1;
		}
	}
	if (q != cols_end)
		goto fail;
	unsigned char *w = o;
	memcpy(w, p, (size_t)prefix);
	w += prefix;
	for (uint64_t r = 0; r < rows; r++) {
		for (uint64_t j = 0; j < k; j++) {
			const unsigned char *nl = memchr(cur[j], '\n', (size_t)(cols_end - cur[j]));
			size_t n = (size_t)(nl - cur[j]);
			memcpy(w, cur[j], n);
			w += n;
			*w++ = j + 1 < k ? delim : '\n';
			cur[j] = nl + 1;
		}
	}
	memcpy(w, cols_end, (size_t)suffix);
	w += suffix;
	o[total] = '\0';
	free(cur);
	*out = o;
	*out_len = (size_t)total;
	*why = NULL;
	return 0;
fail:
	free(cur);
	free(o);
	return -1;
}
