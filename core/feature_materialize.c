/*
 * feature_materialize.c - mlops_feature_materialize(): from a source
 * dataset file to a versioned feature table with its statistics and index.
 *
 * Design notes:
 *   - Pass 1 streams the source once.  Each row's inputs are checked and
 *     fed to the fitting accumulators, and packed as one binary record
 *     (entity key, event time, created time, source ordinal, the input
 *     fields) into a sort buffer.  When the buffer reaches sort_memory it
 *     is sorted and spilled to a run file in .mlops/tmp.
 *   - Pass 2 reads the records in (key, time, created, ordinal) order, from
 *     the buffer or by merging the runs with a heap.  A run's file is
 *     closed once written; at most RUN_FANIN runs are merged at once (into
 *     a new run, pass after pass, while there are more), so memory and
 *     open files are bounded whatever the row count.
 *   - Rows of one entity arrive together and in time order.  Each windowed
 *     feature keeps a ring of the (time, value) pairs inside its window
 *     with an exact sum (a superaccumulator: values leave the window
 *     without cancellation) and monotonic queues for min and max; all rows of
 *     one (entity, time) are added before any of them is written, so rows
 *     at the same time see each other and no row sees a later one.
 *   - Each output row is evaluated with ft_eval() (the serving path), then
 *     written to the table, fed to the column statistics, and accounted to
 *     its entity's index entry (byte offset and length of its rows).
 *   - The table goes to the store as it is written, in pieces cut at
 *     entity boundaries (a chunk list like any large file); the index is
 *     pages plus a JSON object naming them.  Then the record and its ref
 *     are written under the repository lock.
 */
#include "feature.h"
#include "feature_int.h"
#include "colstats.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/refs.h"
#include "store/repo.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOCK_TIMEOUT_MS 10000
#define REC_HDR 32 /* u32 total, u32 keylen, i64 time, i64 created, u64 ordinal */
#define RUN_FANIN 64          /* runs merged at once (open files) */
#define RUN_BUF (256u << 10)  /* read buffer of a run being merged */

/* ---- little-endian helpers ------------------------------------------------ */

static void wr32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void wr64(unsigned char *p, uint64_t v)
{
	wr32(p, (uint32_t)v);
	wr32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* ---- records -------------------------------------------------------------- */

struct rec_view {
	const char *key;
	uint32_t keylen;
	int64_t time, created;
	uint64_t ordinal;
	const unsigned char *fields;
};

static void rec_read(struct rec_view *v, const unsigned char *r)
{
	v->keylen = rd32(r + 4);
	v->time = (int64_t)rd64(r + 8);
	v->created = (int64_t)rd64(r + 16);
	v->ordinal = rd64(r + 24);
	v->key = (const char *)r + REC_HDR;
	v->fields = r + REC_HDR + v->keylen;
}

static int rec_cmp(const unsigned char *a, const unsigned char *b)
{
	uint32_t al = rd32(a + 4), bl = rd32(b + 4);
	int c = memcmp(a + REC_HDR, b + REC_HDR, al < bl ? al : bl);
	if (c)
		return c;
	if (al != bl)
		return al < bl ? -1 : 1;
	for (int off = 8; off <= 16; off += 8) {
		int64_t x = (int64_t)rd64(a + off), y = (int64_t)rd64(b + off);
		if (x != y)
			return x < y ? -1 : 1;
	}
	uint64_t x = rd64(a + 24), y = rd64(b + 24);
	return (x > y) - (x < y);
}

static int cmp_off(const void *x, const void *y, void *arena)
{
	return rec_cmp((const unsigned char *)arena + *(const uint64_t *)x,
		       (const unsigned char *)arena + *(const uint64_t *)y);
}

/* ---- runs ------------------------------------------------------------------- */

struct run {
	int fd;
	char *path;
	unsigned char *buf;
	size_t cap, start, end;
	int eof;
	const unsigned char *cur; /* current record, or NULL when done */
};

struct sorter {
	const char *tmpdir;
	size_t limit;
	unsigned char *arena;
	size_t used, cap;
	uint64_t *offs;
	size_t n, ncap;
	struct run *runs;
	size_t nruns;
	/* iteration */
	size_t pos;
	size_t *heap;
	size_t nheap;
};

static void sorter_free(struct sorter *s)
{
	free(s->arena);
	free(s->offs);
	for (size_t i = 0; i < s->nruns; i++) {
		if (s->runs[i].fd >= 0)
			close(s->runs[i].fd);
		if (s->runs[i].path) {
			unlink(s->runs[i].path);
			mlops_tempfile_forget(s->runs[i].path);
			free(s->runs[i].path);
		}
		free(s->runs[i].buf);
	}
	free(s->runs);
	free(s->heap);
}

static int sorter_spill(struct sorter *s)
{
	struct run *r = realloc(s->runs, (s->nruns + 1) * sizeof(*r));
	int err;
	if (!r)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	s->runs = r;
	r = &s->runs[s->nruns];
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if ((err = mlops_tempfile(&r->fd, &r->path, s->tmpdir, "feature-run-")) < 0)
		return err;
	mlops_tempfile_register(r->path);
	s->nruns++;
	qsort_r(s->offs, s->n, sizeof(*s->offs), cmp_off, s->arena);
	size_t bcap = 1u << 20, bl = 0;
	unsigned char *buf = malloc(bcap);
	if (!buf)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	for (size_t i = 0; i <= s->n; i++) {
		size_t len = i < s->n ? rd32(s->arena + s->offs[i]) : 0;
		if (i == s->n || bl + len > bcap) {
			if (mlops_write_all(r->fd, buf, bl) < 0) {
				free(buf);
				return mlops_error_sys(errno, "unable to write '%s'", r->path);
			}
			bl = 0;
		}
		if (i == s->n)
			break;
		if (len > bcap) {
			if (mlops_write_all(r->fd, s->arena + s->offs[i], len) < 0) {
				free(buf);
				return mlops_error_sys(errno, "unable to write '%s'", r->path);
			}
			continue;
		}
		memcpy(buf + bl, s->arena + s->offs[i], len);
		bl += len;
	}
	free(buf);
	/* Closed until merged: a file descriptor per run would run out. */
	if (close(r->fd) < 0) {
		r->fd = -1;
		return mlops_error_sys(errno, "unable to write '%s'", r->path);
	}
	r->fd = -1;
	s->used = 0;
	s->n = 0;
	return 0;
}

/* Append a record of `len` bytes; returns where to write it. */
static unsigned char *sorter_add(struct sorter *s, size_t len, int *err)
{
	*err = 0;
	if (s->n && s->used + len + s->n * 8 > s->limit && (*err = sorter_spill(s)) < 0)
		return NULL;
	if (s->used + len > s->cap) {
		size_t cap = s->cap ? s->cap : (1u << 20);
		while (cap < s->used + len)
			cap *= 2;
		unsigned char *a = realloc(s->arena, cap);
		if (!a) {
			*err = mlops_error_set(MLOPS_ERROR, "out of memory");
			return NULL;
		}
		s->arena = a;
		s->cap = cap;
	}
	if (s->n == s->ncap) {
		size_t nc = s->ncap ? s->ncap * 2 : 65536;
		uint64_t *o = realloc(s->offs, nc * sizeof(*o));
		if (!o) {
			*err = mlops_error_set(MLOPS_ERROR, "out of memory");
			return NULL;
		}
		s->offs = o;
		s->ncap = nc;
	}
	s->offs[s->n++] = s->used;
	unsigned char *p = s->arena + s->used;
	s->used += len;
	return p;
}

/* Make the run's next record current. */
static int run_advance(struct run *r)
{
	if (r->cur)
		r->start += rd32(r->cur);
	r->cur = NULL;
	for (;;) {
		size_t avail = r->end - r->start;
		if (avail >= 4) {
			size_t len = rd32(r->buf + r->start);
			if (len < REC_HDR)
				return mlops_error_set(MLOPS_ECORRUPT, "sort run '%s' is malformed", r->path);
			if (avail >= len) {
				r->cur = r->buf + r->start;
				return 0;
			}
			if (len > r->cap) {
				unsigned char *b = realloc(r->buf, len + (1u << 20));
				if (!b)
					return mlops_error_set(MLOPS_ERROR, "out of memory");
				r->buf = b;
				r->cap = len + (1u << 20);
			}
		}
		if (r->eof) {
			if (avail)
				return mlops_error_set(MLOPS_ECORRUPT, "sort run '%s' is truncated", r->path);
			return 0;
		}
		memmove(r->buf, r->buf + r->start, avail);
		r->start = 0;
		r->end = avail;
		ssize_t got = mlops_read_full(r->fd, r->buf + r->end, r->cap - r->end);
		if (got < 0)
			return mlops_error_sys(errno, "unable to read '%s'", r->path);
		if (got == 0)
			r->eof = 1;
		r->end += (size_t)got;
	}
}

static int heap_less(struct sorter *s, size_t a, size_t b)
{
	return rec_cmp(s->runs[a].cur, s->runs[b].cur) < 0;
}

static void heap_down(struct sorter *s, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < s->nheap && heap_less(s, s->heap[l], s->heap[m]))
			m = l;
		if (r < s->nheap && heap_less(s, s->heap[r], s->heap[m]))
			m = r;
		if (m == i)
			return;
		size_t t = s->heap[i];
		s->heap[i] = s->heap[m];
		s->heap[m] = t;
		i = m;
	}
}

/* Open runs [first, first + n) and put those with a record on the heap. */
static int runs_open(struct sorter *s, size_t first, size_t n)
{
	int err;
	s->nheap = 0;
	for (size_t i = first; i < first + n; i++) {
		struct run *r = &s->runs[i];
		if ((r->fd = open(r->path, O_RDONLY | O_CLOEXEC)) < 0)
			return mlops_error_sys(errno, "unable to open '%s'", r->path);
		r->cap = RUN_BUF;
		r->start = r->end = 0;
		r->eof = 0;
		r->cur = NULL;
		if (!(r->buf = malloc(r->cap)))
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		if ((err = run_advance(r)) < 0)
			return err;
		if (r->cur)
			s->heap[s->nheap++] = i;
	}
	for (size_t i = s->nheap / 2; i-- > 0;)
		heap_down(s, i);
	return 0;
}

static void run_remove(struct run *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->path) {
		unlink(r->path);
		mlops_tempfile_forget(r->path);
		free(r->path);
	}
	free(r->buf);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/*
 * Merge the first RUN_FANIN runs into one new run at the end, so that no
 * more than RUN_FANIN files are open at once however many runs there are.
 */
static int merge_some(struct sorter *s)
{
	struct run out;
	size_t bl = 0;
	unsigned char *buf = malloc(1u << 20);
	int err;
	memset(&out, 0, sizeof(out));
	out.fd = -1;
	if (!buf)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((err = mlops_tempfile(&out.fd, &out.path, s->tmpdir, "feature-run-")) < 0)
		goto done;
	mlops_tempfile_register(out.path);
	if ((err = runs_open(s, 0, RUN_FANIN)) < 0)
		goto done;
	while (s->nheap) {
		struct run *r = &s->runs[s->heap[0]];
		size_t len = rd32(r->cur);
		if (bl + len > (1u << 20) || len > (1u << 20)) {
			if (mlops_write_all(out.fd, buf, bl) < 0) {
				err = mlops_error_sys(errno, "unable to write '%s'", out.path);
				goto done;
			}
			bl = 0;
		}
		if (len > (1u << 20)) {
			if (mlops_write_all(out.fd, r->cur, len) < 0) {
				err = mlops_error_sys(errno, "unable to write '%s'", out.path);
				goto done;
			}
		} else {
			memcpy(buf + bl, r->cur, len);
			bl += len;
		}
		if ((err = run_advance(r)) < 0)
			goto done;
		if (!r->cur)
			s->heap[0] = s->heap[--s->nheap];
		heap_down(s, 0);
	}
	if (mlops_write_all(out.fd, buf, bl) < 0 || close(out.fd) < 0) {
		err = mlops_error_sys(errno, "unable to write '%s'", out.path);
		out.fd = -1;
		goto done;
	}
	out.fd = -1;
	for (size_t i = 0; i < RUN_FANIN; i++)
		run_remove(&s->runs[i]);
	memmove(s->runs, s->runs + RUN_FANIN, (s->nruns - RUN_FANIN) * sizeof(*s->runs));
	s->nruns -= RUN_FANIN;
	s->runs[s->nruns++] = out; /* there is room: RUN_FANIN >= 2 left */
	memset(&out, 0, sizeof(out));
	out.fd = -1;
done:
	free(buf);
	run_remove(&out);
	s->nheap = 0;
	return err;
}

/* Sort what is buffered; with runs, spill it too and start the merge. */
static int sorter_finish(struct sorter *s)
{
	int err;
	if (s->nruns == 0) {
		qsort_r(s->offs, s->n, sizeof(*s->offs), cmp_off, s->arena);
		s->pos = 0;
		return 0;
	}
	if (s->n && (err = sorter_spill(s)) < 0)
		return err;
	free(s->arena);
	s->arena = NULL;
	s->cap = 0;
	if (!(s->heap = malloc((s->nruns > RUN_FANIN ? RUN_FANIN : s->nruns) * sizeof(*s->heap))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	while (s->nruns > RUN_FANIN)
		if ((err = merge_some(s)) < 0)
			return err;
	return runs_open(s, 0, s->nruns);
}

/*
 * The next record in order: 1 with *rec (valid until the next call), 0 at
 * the end, or an error.
 */
static int sorter_next(struct sorter *s, const unsigned char **rec, int *started)
{
	int err;
	if (s->nruns == 0) {
		if (s->pos >= s->n)
			return 0;
		*rec = s->arena + s->offs[s->pos++];
		return 1;
	}
	if (*started && s->nheap) {
		struct run *r = &s->runs[s->heap[0]];
		if ((err = run_advance(r)) < 0)
			return err;
		if (!r->cur)
			s->heap[0] = s->heap[--s->nheap];
		heap_down(s, 0);
	}
	*started = 1;
	if (!s->nheap)
		return 0;
	*rec = s->runs[s->heap[0]].cur;
	return 1;
}

/* ---- windows ------------------------------------------------------------------ */

struct wentry {
	int64_t t;
	double v;
	uint64_t seq;
};

struct ring {
	struct wentry *e;
	size_t cap, head, n;
};

static int ring_push(struct ring *r, struct wentry x)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct wentry *e = malloc(cap * sizeof(*e));
		if (!e)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		for (size_t i = 0; i < r->n; i++)
			e[i] = r->e[(r->head + i) & (r->cap - 1)];
		free(r->e);
		r->e = e;
		r->cap = cap;
		r->head = 0;
	}
	r->e[(r->head + r->n) & (r->cap - 1)] = x;
	r->n++;
	return 0;
}

static struct wentry *ring_front(struct ring *r)
{
	return &r->e[r->head];
}

static struct wentry *ring_back(struct ring *r)
{
	return &r->e[(r->head + r->n - 1) & (r->cap - 1)];
}

static void ring_pop_front(struct ring *r)
{
	r->head = (r->head + 1) & (r->cap - 1);
	r->n--;
}

/*
 * An exact sum of doubles (a "superaccumulator"): every finite double is an
 * integer multiple of 2^-1074 below 2^1024, so the sum is kept as a 2,144-bit
 * integer in 32-bit digits held in int64 slots (signed, carries deferred).
 * Adding or removing a value touches three slots and loses nothing, so a
 * sliding window can take values out again without the cancellation of a
 * running floating-point sum (1e20, 1.5, 2.25 and then 1e20 removed leaves
 * 3.75, not 2.25); the value is the exact sum rounded once to nearest.
 */
#define XS_SLOTS 67

struct xsum {
	int64_t s[XS_SLOTS];
	uint32_t ops; /* adds since the carries were last propagated */
};

static void xsum_carry(int64_t *s)
{
	for (size_t i = 0; i + 1 < XS_SLOTS; i++) {
		int64_t lo = s[i] & 0xffffffff;
		s[i + 1] += (s[i] - lo) / 4294967296LL;
		s[i] = lo;
	}
}

static void xsum_add(struct xsum *x, double v, int sign)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	unsigned e = (unsigned)(bits >> 52) & 0x7ff;
	uint64_t m = bits & ((1ULL << 52) - 1);
	if (bits >> 63)
		sign = -sign;
	if (e)
		m |= 1ULL << 52;
	else
		e = 1; /* subnormal */
	if (!m)
		return;
	unsigned p = e - 1, idx = p / 32, sh = p % 32; /* v = m * 2^(p - 1074) */
	uint64_t rest = m >> (32 - sh);
	x->s[idx] += sign * (int64_t)(uint32_t)(m << sh);
	x->s[idx + 1] += sign * (int64_t)(rest & 0xffffffff);
	x->s[idx + 2] += sign * (int64_t)(rest >> 32);
	if (++x->ops >= (1u << 30)) {
		xsum_carry(x->s);
		x->ops = 0;
	}
}

/* The sum rounded to the nearest double (ties to even). */
static double xsum_value(const struct xsum *x)
{
	int64_t s[XS_SLOTS];
	int neg = 0;
	memcpy(s, x->s, sizeof(s));
	xsum_carry(s);
	if (s[XS_SLOTS - 1] < 0) {
		neg = 1;
		for (size_t i = 0; i < XS_SLOTS; i++)
			s[i] = -s[i];
		xsum_carry(s);
	}
	long i = XS_SLOTS - 1;
	while (i >= 0 && s[i] == 0)
		i--;
	if (i < 0)
		return 0.0;
	uint64_t top = (uint64_t)s[i], mid = i >= 1 ? (uint64_t)s[i - 1] : 0, low = i >= 2 ? (uint64_t)s[i - 2] : 0;
	int lz = 0;
	while (!(top & (1ULL << (31 - lz))))
		lz++;
	/* 64 bits from the top one down; what is left below only makes it sticky. */
	uint64_t m = top << (32 + lz) | mid << lz | (lz ? low >> (32 - lz) : 0);
	int sticky = lz < 32 && (low & ((1ULL << (32 - lz)) - 1)) != 0;
	for (long k = i - 3; k >= 0 && !sticky; k--)
		sticky = s[k] != 0;
	if (sticky)
		m |= 1;
	long pos = 32 * i + 31 - lz; /* bit 63 of m, in units of 2^-1074 */
	double d = ldexp((double)m, (int)(pos - 63 - 1074));
	return neg ? -d : d;
}

struct wstate {
	const struct ft_feature *f;
	struct ring all, mono;
	struct xsum sum;
	uint64_t seq;
};

static void wstate_reset(struct wstate *w)
{
	w->all.n = w->all.head = 0;
	w->mono.n = w->mono.head = 0;
	memset(&w->sum, 0, sizeof(w->sum));
}

static int wstate_push(struct wstate *w, int64_t t, double v)
{
	struct wentry x = { t, v, w->seq++ };
	int err = ring_push(&w->all, x);
	if (err < 0)
		return err;
	if (w->f->kind == FT_WSUM || w->f->kind == FT_WMEAN)
		xsum_add(&w->sum, v, 1);
	if (w->f->kind == FT_WMIN || w->f->kind == FT_WMAX) {
		while (w->mono.n && (w->f->kind == FT_WMIN ? ring_back(&w->mono)->v >= v :
							       ring_back(&w->mono)->v <= v))
			w->mono.n--;
		return ring_push(&w->mono, x);
	}
	return 0;
}

static void wstate_evict(struct wstate *w, int64_t cut)
{
	while (w->all.n && ring_front(&w->all)->t <= cut) {
		struct wentry *x = ring_front(&w->all);
		if (w->f->kind == FT_WSUM || w->f->kind == FT_WMEAN)
			xsum_add(&w->sum, x->v, -1);
		if (w->mono.n && ring_front(&w->mono)->seq == x->seq)
			ring_pop_front(&w->mono);
		ring_pop_front(&w->all);
	}
	if (!w->all.n)
		memset(&w->sum, 0, sizeof(w->sum));
}

static double wstate_value(struct wstate *w)
{
	switch (w->f->kind) {
	case FT_WCOUNT:
		return (double)w->all.n;
	case FT_WSUM:
		return w->all.n ? xsum_value(&w->sum) : 0.0;
	case FT_WMEAN:
		return w->all.n ? xsum_value(&w->sum) / (double)w->all.n : NAN;
	default:
		return w->mono.n ? ring_front(&w->mono)->v : NAN;
	}
}

/* ---- index ---------------------------------------------------------------------- */

struct ixb {
	struct mlops_odb *odb;
	unsigned char *data; /* entries of the current page */
	size_t len, cap;
	uint32_t *offs;
	size_t n;
	char *first;         /* hex of the page's first key */
	cJSON *pages;
	uint64_t entities;
};

static void hex_of(char *dst, const char *key, size_t len)
{
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		dst[2 * i] = hx[(unsigned char)key[i] >> 4];
		dst[2 * i + 1] = hx[(unsigned char)key[i] & 15];
	}
	dst[2 * len] = '\0';
}

static int ixb_flush(struct ixb *x)
{
	if (!x->n)
		return 0;
	size_t hdr = 12 + 4 * x->n, total = hdr + x->len;
	unsigned char *page = malloc(total);
	int err;
	if (!page)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	memcpy(page, FT_PAGE_MAGIC, 8);
	wr32(page + 8, (uint32_t)x->n);
	for (size_t i = 0; i < x->n; i++)
		wr32(page + 12 + 4 * i, (uint32_t)(hdr + x->offs[i]));
	memcpy(page + hdr, x->data, x->len);
	mlops_oid id;
	err = mlops_odb_write(&id, x->odb, page, total, NULL);
	free(page);
	if (err < 0)
		return err;
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "first", x->first);
	mlops_json_add_oid(p, "id", &id);
	cJSON_AddNumberToObject(p, "entities", (double)x->n);
	cJSON_AddItemToArray(x->pages, p);
	x->n = 0;
	x->len = 0;
	free(x->first);
	x->first = NULL;
	return 0;
}

static int ixb_add(struct ixb *x, const char *key, size_t keylen, uint64_t off, uint64_t len,
		   uint64_t rows, int64_t first, int64_t last, const mlops_oid *piece, uint32_t piece_off)
{
	size_t need = 4 + keylen + 76;
	if (x->len + need > x->cap) {
		size_t cap = x->cap ? x->cap : (256u << 10);
		while (cap < x->len + need)
			cap *= 2;
		unsigned char *d = realloc(x->data, cap);
		if (!d)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		x->data = d;
		x->cap = cap;
	}
	if (!x->offs && !(x->offs = malloc(FT_PAGE_ENTITIES * sizeof(*x->offs))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (x->n == 0) {
		if (!(x->first = malloc(2 * keylen + 1)))
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		hex_of(x->first, key, keylen);
	}
	x->offs[x->n++] = (uint32_t)x->len;
	unsigned char *p = x->data + x->len;
	wr32(p, (uint32_t)keylen);
	memcpy(p + 4, key, keylen);
	p += 4 + keylen;
	wr64(p, off);
	wr64(p + 8, len);
	wr64(p + 16, rows);
	wr64(p + 24, (uint64_t)first);
	wr64(p + 32, (uint64_t)last);
	if (piece)
		memcpy(p + 40, piece->id, MLOPS_OID_RAWSZ);
	else
		memset(p + 40, 0, MLOPS_OID_RAWSZ);
	wr32(p + 72, piece_off);
	x->len += need;
	x->entities++;
	return x->n == FT_PAGE_ENTITIES ? ixb_flush(x) : 0;
}

/* ---- the table, written in pieces ------------------------------------------------ */

/*
 * The table is stored as a chunk list whose chunks are cut here rather
 * than by content: a piece ends at the first entity boundary past
 * FT_PIECE_TARGET (or at FT_PIECE_MAX inside a very large entity), so an
 * entity's rows are usually in one small piece, and its index entry names
 * that piece: a lookup reads the index page and one piece.
 */
struct pend {
	size_t keyoff, keylen;
	uint64_t off, len, rows;
	int64_t first, last;
};

struct pieces {
	struct mlops_odb *odb;
	struct ixb *ix;
	char *buf;
	size_t len;
	uint64_t pos;          /* bytes of the table so far */
	uint64_t piece_start;  /* table offset of buf[0] */
	cJSON *chunks;
	size_t nchunks;
	mlops_oid last;
	struct pend *pend;     /* finished entities of the current piece */
	size_t npend, pendcap;
	char *keys;
	size_t keyslen, keyscap;
};

static int pw_cut(struct pieces *w)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	int err;
	if (!w->len)
		return 0;
	if ((err = mlops_odb_write(&w->last, w->odb, w->buf, w->len, NULL)) < 0)
		return err;
	cJSON *c = cJSON_CreateArray();
	cJSON_AddItemToArray(c, cJSON_CreateString(mlops_oid_fmt(hex, &w->last)));
	cJSON_AddItemToArray(c, cJSON_CreateNumber((double)w->len));
	cJSON_AddItemToArray(w->chunks, c);
	w->nchunks++;
	for (size_t i = 0; i < w->npend; i++) {
		const struct pend *p = &w->pend[i];
		if ((err = ixb_add(w->ix, w->keys + p->keyoff, p->keylen, p->off, p->len, p->rows, p->first,
				   p->last, &w->last, (uint32_t)(p->off - w->piece_start))) < 0)
			return err;
	}
	w->npend = 0;
	w->keyslen = 0;
	w->piece_start += w->len;
	w->len = 0;
	return 0;
}

static int out_write(struct pieces *w, const char *p, size_t len)
{
	int err;
	while (len) {
		size_t n = FT_PIECE_MAX - w->len;
		if (n > len)
			n = len;
		memcpy(w->buf + w->len, p, n);
		w->len += n;
		w->pos += n;
		p += n;
		len -= n;
		if (w->len == FT_PIECE_MAX && (err = pw_cut(w)) < 0)
			return err;
	}
	return 0;
}

/* An entity's rows are written: index it, and end the piece when it is full. */
static int pw_entity(struct pieces *w, const char *key, size_t keylen, uint64_t off, uint64_t len,
		     uint64_t rows, int64_t first, int64_t last)
{
	if (off < w->piece_start) /* cut inside the entity: no single piece */
		return ixb_add(w->ix, key, keylen, off, len, rows, first, last, NULL, 0);
	if (w->npend == w->pendcap) {
		size_t nc = w->pendcap ? w->pendcap * 2 : 256;
		struct pend *p = realloc(w->pend, nc * sizeof(*p));
		if (!p)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		w->pend = p;
		w->pendcap = nc;
	}
	if (w->keyslen + keylen > w->keyscap) {
		size_t nc = w->keyscap ? w->keyscap * 2 : 4096;
		while (nc < w->keyslen + keylen)
			nc *= 2;
		char *k = realloc(w->keys, nc);
		if (!k)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		w->keys = k;
		w->keyscap = nc;
	}
	memcpy(w->keys + w->keyslen, key, keylen);
	w->pend[w->npend++] = (struct pend){ w->keyslen, keylen, off, len, rows, first, last };
	w->keyslen += keylen;
	return w->len >= FT_PIECE_TARGET ? pw_cut(w) : 0;
}

/* Cut the last piece and store the table's node. */
static int pw_finish(struct mlops_node *out, struct pieces *w)
{
	int err = pw_cut(w);
	if (err < 0)
		return err;
	memset(out, 0, sizeof(*out));
	out->size = w->pos;
	out->files = 1;
	out->mode = 0100644;
	if (w->nchunks == 1) {
		out->kind = MLOPS_KIND_BLOB;
		out->id = w->last;
		return 0;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "size", (double)w->pos);
	cJSON_AddStringToObject(o, "type", "chunks");
	cJSON_AddItemToObject(o, "chunks", w->chunks);
	w->chunks = NULL;
	out->kind = MLOPS_KIND_CHUNKS;
	err = mlops_json_store(&out->id, w->odb, o, NULL);
	cJSON_Delete(o);
	return err;
}

static void pw_free(struct pieces *w)
{
	free(w->buf);
	cJSON_Delete(w->chunks);
	free(w->pend);
	free(w->keys);
}

/* ---- the materialisation --------------------------------------------------------- */

struct mat {
	struct mlops_repo *repo;
	struct mlops_feature_transform *t;
	struct ft_source_pick pick;
	struct ft_source *src;
	size_t *in_idx;
	long ts_idx, cr_idx;
	struct sorter sorter;
	struct ft_fit *fit;
	struct wstate *w;
	double *wval;
	/* output */
	struct pieces out;
	struct mlops_colstats *stats;
	size_t ncols;
	struct mlops_csv_field *row;   /* the row's values, for statistics */
	char *vals;                    /* their text */
	size_t vals_cap;
	char *line;
	size_t line_cap;
	struct ft_val *ov;
	struct mlops_csv_field *in;
	struct ixb ix;
	uint64_t rows;
};

static int grow(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 4096;
	while (c < need)
		c *= 2;
	char *b = realloc(*buf, c);
	if (!b)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	*buf = b;
	*cap = c;
	return 0;
}

/* Pass 1: fit, check and pack every source row. */
static int pass1(struct mat *m)
{
	const struct mlops_feature_transform *t = m->t;
	const struct mlops_csv_field *f;
	size_t n;
	char *key = NULL;
	size_t keycap = 0;
	uint64_t ordinal = 0;
	int r, err = 0;
	while ((r = mlops_csv_next(m->src->csv, &f, &n)) == 1) {
		for (size_t i = 0; i < t->ninputs; i++)
			m->in[i] = f[m->in_idx[i]];
		for (size_t i = 0; i < t->nentity && err == 0; i++)
			if (ft_is_missing(m->in[i].ptr, m->in[i].len))
				err = mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: column '%s': the entity is missing "
						      "('%.*s')", m->pick.path, mlops_csv_line(m->src->csv),
						      t->entity[i], (int)(m->in[i].len > 40 ? 40 : m->in[i].len),
						      m->in[i].ptr);
		if (err < 0)
			break;
		int64_t ts, cr = INT64_MIN;
		if ((err = mlops_feature_parse_time(&ts, f[m->ts_idx].ptr, f[m->ts_idx].len)) < 0) {
			err = mlops_error_wrap(err, "'%s' line %zu: column '%s'", m->pick.path,
					       mlops_csv_line(m->src->csv), t->timestamp);
			break;
		}
		if (m->cr_idx >= 0 && !ft_is_missing(f[m->cr_idx].ptr, f[m->cr_idx].len) &&
		    (err = mlops_feature_parse_time(&cr, f[m->cr_idx].ptr, f[m->cr_idx].len)) < 0) {
			err = mlops_error_wrap(err, "'%s' line %zu: column '%s'", m->pick.path,
					       mlops_csv_line(m->src->csv), t->created);
			break;
		}
		if ((err = ft_fit_row(m->fit, m->in)) < 0) {
			err = mlops_error_wrap(err, "'%s' line %zu", m->pick.path, mlops_csv_line(m->src->csv));
			break;
		}
		long kl = ft_key_join(&key, &keycap, m->in, t->nentity);
		if (kl < 0) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		size_t len = REC_HDR + (size_t)kl;
		for (size_t i = 0; i < t->ninputs; i++)
			len += 4 + m->in[i].len;
		if (len > UINT32_MAX) {
			err = mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: row too long", m->pick.path,
					      mlops_csv_line(m->src->csv));
			break;
		}
		unsigned char *p = sorter_add(&m->sorter, len, &err);
		if (!p)
			break;
		wr32(p, (uint32_t)len);
		wr32(p + 4, (uint32_t)kl);
		wr64(p + 8, (uint64_t)ts);
		wr64(p + 16, (uint64_t)cr);
		wr64(p + 24, ordinal++);
		memcpy(p + REC_HDR, key, (size_t)kl);
		p += REC_HDR + kl;
		for (size_t i = 0; i < t->ninputs; i++) {
			wr32(p, (uint32_t)m->in[i].len);
			memcpy(p + 4, m->in[i].ptr, m->in[i].len);
			p += 4 + m->in[i].len;
		}
	}
	if (r < 0)
		err = r;
	free(key);
	return err;
}

static void rec_fields(struct mlops_csv_field *in, const struct rec_view *v, size_t n)
{
	const unsigned char *p = v->fields;
	for (size_t i = 0; i < n; i++) {
		in[i].len = rd32(p);
		in[i].ptr = (const char *)p + 4;
		p += 4 + in[i].len;
	}
}

/* Write one table row from a record with the current window values. */
static int emit_row(struct mat *m, const struct rec_view *v)
{
	const struct mlops_feature_transform *t = m->t;
	int err;
	rec_fields(m->in, v, t->ninputs);
	if ((err = ft_eval(m->ov, t, m->in, m->wval)) < 0)
		return err;
	/* Values as text first (statistics), then the quoted line. */
	size_t need = 96 + 40 * t->noutputs;
	for (size_t i = 0; i < t->nentity; i++)
		need += m->in[i].len;
	for (size_t i = 0; i < t->noutputs; i++)
		if (m->ov[i].text)
			need += m->ov[i].len;
	if ((err = grow(&m->vals, &m->vals_cap, need)) < 0 || (err = grow(&m->line, &m->line_cap, 2 * need + 2)) < 0)
		return err;
	size_t c = 0, vl = 0;
	for (size_t i = 0; i < t->nentity; i++, c++) {
		memcpy(m->vals + vl, m->in[i].ptr, m->in[i].len);
		m->row[c].len = m->in[i].len;
		m->row[c].ptr = (const char *)(uintptr_t)vl;
		vl += m->in[i].len;
	}
	char tb[48];
	size_t l = strlen(mlops_feature_format_time(tb, v->time));
	memcpy(m->vals + vl, tb, l);
	m->row[c].ptr = (const char *)(uintptr_t)vl;
	m->row[c++].len = l;
	vl += l;
	if (t->created) {
		l = v->created == INT64_MIN ? 0 : strlen(mlops_feature_format_time(tb, v->created));
		memcpy(m->vals + vl, tb, l);
		m->row[c].ptr = (const char *)(uintptr_t)vl;
		m->row[c++].len = l;
		vl += l;
	}
	for (size_t i = 0; i < t->noutputs; i++, c++) {
		m->row[c].ptr = (const char *)(uintptr_t)vl;
		if (m->ov[i].text) {
			memcpy(m->vals + vl, m->ov[i].text, m->ov[i].len);
			m->row[c].len = m->ov[i].len;
		} else {
			m->row[c].len = ft_format_num(m->vals + vl, m->ov[i].num);
		}
		vl += m->row[c].len;
	}
	size_t ll = 0;
	for (size_t i = 0; i < m->ncols; i++) {
		m->row[i].ptr = m->vals + (uintptr_t)m->row[i].ptr;
		if (i)
			m->line[ll++] = ',';
		ll += ft_csv_quote(m->line + ll, m->row[i].ptr, m->row[i].len);
	}
	if (m->ncols == 1 && ll == 0) {
		memcpy(m->line, "\"\"", 2);
		ll = 2;
	}
	m->line[ll++] = '\n';
	if ((err = mlops_colstats_add_row(m->stats, m->row, m->ncols)) < 0)
		return err;
	m->rows++;
	return out_write(&m->out, m->line, ll);
}

/* Pass 2: sorted records -> windows -> rows, index entries. */
static int pass2(struct mat *m)
{
	const struct mlops_feature_transform *t = m->t;
	int started = 0, r, err = 0;
	const unsigned char *rec;
	/* The current (entity, time) group, copied out of the sorter. */
	unsigned char *grp = NULL;
	size_t glen = 0, gcap = 0, gcount = 0;
	uint64_t *goff = NULL;
	size_t goffcap = 0;
	/* The current entity. */
	char *ekey = NULL;
	size_t ekeylen = 0, ekeycap = 0;
	uint64_t estart = 0, erows = 0;
	int64_t efirst = 0, elast = 0;
	int have_entity = 0;

	for (;;) {
		r = sorter_next(&m->sorter, &rec, &started);
		if (r < 0) {
			err = r;
			break;
		}
		struct rec_view v;
		int flush = r == 0;
		int new_entity = 0;
		if (r == 1) {
			rec_read(&v, rec);
			if (!have_entity || v.keylen != ekeylen || memcmp(v.key, ekey, ekeylen))
				new_entity = flush = 1;
			else if (gcount) {
				struct rec_view g;
				rec_read(&g, grp + goff[0]);
				if (g.time != v.time)
					flush = 1;
			}
		}
		if (flush && gcount) {
			/* Add the group to the windows, then write its rows. */
			struct rec_view g;
			rec_read(&g, grp + goff[0]);
			for (size_t k = 0; k < t->nwindows; k++)
				wstate_evict(&m->w[k], g.time - m->w[k].f->window_ms);
			for (size_t j = 0; j < gcount && err == 0; j++) {
				rec_read(&g, grp + goff[j]);
				rec_fields(m->in, &g, t->ninputs);
				for (size_t k = 0; k < t->nwindows && err == 0; k++) {
					const struct ft_feature *f = m->w[k].f;
					double x = 1;
					const struct mlops_csv_field *iv = f->column ? &m->in[f->input] : NULL;
					if (iv && f->kind == FT_WCOUNT) {
						/* count of a column: its non-missing values, text too */
						if (ft_is_missing(iv->ptr, iv->len))
							continue;
					} else if (iv && ft_number(&x, iv->ptr, iv->len) != 0) {
						continue; /* missing (text was refused in pass 1) */
					}
					err = wstate_push(&m->w[k], g.time, x);
				}
			}
			for (size_t k = 0; k < t->nwindows; k++)
				m->wval[k] = wstate_value(&m->w[k]);
			for (size_t j = 0; j < gcount && err == 0; j++) {
				rec_read(&g, grp + goff[j]);
				err = emit_row(m, &g);
				erows++;
			}
			if (err < 0)
				break;
			elast = g.time;
			gcount = 0;
			glen = 0;
		}
		if ((new_entity || r == 0) && have_entity) {
			if ((err = pw_entity(&m->out, ekey, ekeylen, estart, m->out.pos - estart, erows, efirst,
					     elast)) < 0)
				break;
			have_entity = 0;
		}
		if (r == 0)
			break;
		if (new_entity) {
			if ((err = grow(&ekey, &ekeycap, v.keylen + 1)) < 0)
				break;
			memcpy(ekey, v.key, v.keylen);
			ekeylen = v.keylen;
			estart = m->out.pos;
			erows = 0;
			efirst = v.time;
			have_entity = 1;
			for (size_t k = 0; k < t->nwindows; k++)
				wstate_reset(&m->w[k]);
		}
		size_t len = rd32(rec);
		if ((err = grow((char **)&grp, &gcap, glen + len)) < 0)
			break;
		if (gcount == goffcap) {
			size_t nc = goffcap ? goffcap * 2 : 64;
			uint64_t *o = realloc(goff, nc * sizeof(*o));
			if (!o) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				break;
			}
			goff = o;
			goffcap = nc;
		}
		memcpy(grp + glen, rec, len);
		goff[gcount++] = glen;
		glen += len;
	}
	free(grp);
	free(goff);
	free(ekey);
	return err;
}

static int write_header(struct mat *m, cJSON *columns)
{
	const struct mlops_feature_transform *t = m->t;
	const char **names = calloc(m->ncols, sizeof(*names));
	int err = 0;
	if (!names)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	size_t c = 0;
	for (size_t i = 0; i < t->nentity; i++)
		names[c++] = t->entity[i];
	names[c++] = t->timestamp;
	if (t->created)
		names[c++] = t->created;
	for (size_t i = 0; i < t->noutputs; i++)
		names[c++] = t->outputs[i];
	for (size_t i = 0; i < m->ncols && err == 0; i++) {
		char *q = malloc(2 * strlen(names[i]) + 3);
		if (!q) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		size_t l = ft_csv_quote(q, names[i], strlen(names[i]));
		if (i)
			err = out_write(&m->out, ",", 1);
		if (err == 0)
			err = out_write(&m->out, q, l);
		free(q);
		cJSON_AddItemToArray(columns, cJSON_CreateString(names[i]));
	}
	if (err == 0)
		err = out_write(&m->out, "\n", 1);
	if (err == 0)
		err = mlops_colstats_new(&m->stats, names, m->ncols);
	free(names);
	return err;
}

static void mat_free(struct mat *m)
{
	ft_source_close(m->src, NULL);
	ft_source_pick_free(&m->pick);
	ft_fit_free(m->fit);
	mlops_feature_transform_free(m->t);
	free(m->in_idx);
	sorter_free(&m->sorter);
	free(m->wval);
	pw_free(&m->out);
	mlops_colstats_free(m->stats);
	free(m->row);
	free(m->vals);
	free(m->line);
	free(m->ov);
	free(m->in);
	free(m->ix.data);
	free(m->ix.offs);
	free(m->ix.first);
	cJSON_Delete(m->ix.pages);
}

static int same_inputs(const cJSON *rec, const mlops_oid *spec, const mlops_oid *source)
{
	mlops_oid a, b;
	if (mlops_json_get_oid(&a, rec, "spec") < 0 || mlops_json_get_oid(&b, rec, "source") < 0) {
		mlops_error_clear();
		return 0;
	}
	return !mlops_oid_cmp(&a, spec) && !mlops_oid_cmp(&b, source);
}

/* The newest version record of name, or NULL (no error) when none. */
static int latest_version(cJSON **out, mlops_oid *id, long *number, struct mlops_repo *repo, const char *name)
{
	long *vers;
	size_t n;
	*out = NULL;
	*number = 0;
	int err = mlops_feature_versions(&vers, &n, repo, name);
	if (err < 0)
		return err;
	if (n) {
		char rev[200];
		*number = vers[n - 1];
		snprintf(rev, sizeof(rev), "%s@v%ld", name, vers[n - 1]);
		err = mlops_feature_resolve(out, id, repo, rev);
	}
	free(vers);
	return err;
}

int mlops_feature_materialize(cJSON **record, mlops_oid *id, int *created, struct mlops_repo *repo,
			      const char *name, const struct mlops_feature_materialize_opts *opts)
{
	struct mat m;
	cJSON *specrec = NULL, *latest = NULL, *rec = NULL, *columns = NULL, *idx = NULL;
	struct mlops_lock *lock = NULL;
	mlops_oid spec_id, latest_id;
	long latest_no;
	char *author = NULL;
	int err;

	memset(&m, 0, sizeof(m));
	*record = NULL;
	*created = 0;
	if ((err = mlops_feature_spec_resolve(&specrec, &spec_id, repo, name)) < 0)
		goto done;
	const char *fsname = mlops_json_str(specrec, "name");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(specrec, "spec");
	if (!fsname || !cJSON_IsObject(spec)) {
		err = mlops_error_set(MLOPS_ECORRUPT, "feature spec record of '%s' is malformed", name);
		goto done;
	}
	m.repo = repo;
	if ((err = ft_parse(&m.t, spec, 0)) < 0 ||
	    (err = ft_check_source(repo, m.t, spec, opts ? opts->source : NULL, &m.pick)) < 0) {
		err = mlops_error_wrap(err, "feature set '%s'", fsname);
		goto done;
	}
	/* Same definition on the same source: nothing to do. */
	if ((err = latest_version(&latest, &latest_id, &latest_no, repo, fsname)) < 0)
		goto done;
	if (latest && same_inputs(latest, &spec_id, &m.pick.id)) {
		*record = latest;
		*id = latest_id;
		latest = NULL;
		goto done;
	}
	const struct mlops_feature_transform *t = m.t;
	if ((err = ft_source_open(&m.src, repo, &m.pick.node, m.pick.path)) < 0)
		goto done;
	size_t ncol;
	const char *const *names = mlops_csv_names(m.src->csv, &ncol);
	if (!(m.in_idx = calloc(t->ninputs + 1, sizeof(*m.in_idx))) ||
	    !(m.in = calloc(t->ninputs + 1, sizeof(*m.in)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if ((err = ft_bind_columns(m.in_idx, &m.ts_idx, &m.cr_idx, t, names, ncol, m.pick.path)) < 0)
		goto done;
	m.sorter.tmpdir = repo->tmpdir;
	m.sorter.limit = opts && opts->sort_memory ? opts->sort_memory : (256u << 20);
	if ((err = ft_fit_new(&m.fit, t)) < 0)
		goto done;
	if ((err = pass1(&m)) < 0) {
		ft_source_close(m.src, &err);
		m.src = NULL;
		goto done;
	}
	ft_source_close(m.src, &err);
	m.src = NULL;
	if (err < 0)
		goto done;
	if ((err = ft_fit_end(m.fit, m.t)) < 0 || (err = sorter_finish(&m.sorter)) < 0)
		goto done;

	/* Pass 2 into a temporary table file. */
	m.ncols = t->nentity + 1 + (t->created ? 1 : 0) + t->noutputs;
	m.row = calloc(m.ncols, sizeof(*m.row));
	m.ov = calloc(t->noutputs + 1, sizeof(*m.ov));
	m.w = calloc(t->nwindows + 1, sizeof(*m.w));
	m.wval = calloc(t->nwindows + 1, sizeof(*m.wval));
	m.out.buf = malloc(FT_PIECE_MAX);
	m.out.chunks = cJSON_CreateArray();
	m.out.odb = repo->odb;
	m.out.ix = &m.ix;
	columns = cJSON_CreateArray();
	m.ix.pages = cJSON_CreateArray();
	m.ix.odb = repo->odb;
	if (!m.row || !m.ov || !m.w || !m.wval || !m.out.buf || !m.out.chunks || !columns || !m.ix.pages) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < t->nf; i++)
		if (t->f[i].kind >= FT_WCOUNT)
			m.w[t->f[i].win].f = &t->f[i];
	struct mlops_node table;
	if ((err = write_header(&m, columns)) < 0 || (err = pass2(&m)) < 0 ||
	    (err = pw_finish(&table, &m.out)) < 0 || (err = ixb_flush(&m.ix)) < 0)
		goto done;
	for (size_t k = 0; k < t->nwindows; k++) {
		free(m.w[k].all.e);
		free(m.w[k].mono.e);
	}
	free(m.w);
	m.w = NULL;
	sorter_free(&m.sorter);
	memset(&m.sorter, 0, sizeof(m.sorter));
	if ((err = mlops_colstats_finish(m.stats)) < 0)
		goto done;
	idx = cJSON_CreateObject();
	cJSON_AddStringToObject(idx, "type", "feature-index");
	cJSON_AddItemToObject(idx, "columns", cJSON_Duplicate(columns, 1));
	cJSON_AddNumberToObject(idx, "entities", (double)m.ix.entities);
	cJSON_AddNumberToObject(idx, "rows", (double)m.rows);
	cJSON_AddNumberToObject(idx, "key_columns", (double)t->nentity);
	mlops_json_add_oid(idx, "table", &table.id);
	cJSON_AddItemToObject(idx, "pages", m.ix.pages);
	m.ix.pages = NULL;
	mlops_oid idx_id;
	if ((err = mlops_json_store(&idx_id, repo->odb, idx, NULL)) < 0 || (err = mlops_odb_sync(repo->odb)) < 0)
		goto done;

	/* The record, under the lock. */
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		goto done;
	cJSON_Delete(latest);
	latest = NULL;
	if ((err = latest_version(&latest, &latest_id, &latest_no, repo, fsname)) < 0)
		goto done;
	if (latest && same_inputs(latest, &spec_id, &m.pick.id)) {
		*record = latest;
		*id = latest_id;
		latest = NULL;
		goto done;
	}
	long number = latest_no + 1;
	author = mlops_repo_author(repo);
	rec = cJSON_CreateObject();
	cJSON *stats = mlops_colstats_to_json(m.stats), *params = ft_params_json(t);
	if (!rec || !stats || !params) {
		cJSON_Delete(stats);
		cJSON_Delete(params);
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	cJSON_AddStringToObject(rec, "type", "feature-set");
	cJSON_AddStringToObject(rec, "name", fsname);
	cJSON_AddNumberToObject(rec, "version", (double)number);
	mlops_json_add_oid(rec, "spec", &spec_id);
	cJSON_AddNumberToObject(rec, "spec_version", mlops_json_num(specrec, "version", 0));
	mlops_json_add_oid(rec, "source", &m.pick.id);
	cJSON_AddStringToObject(rec, "source_name", m.pick.name);
	cJSON_AddNumberToObject(rec, "source_version", (double)m.pick.version);
	cJSON_AddStringToObject(rec, "source_file", m.pick.path);
	cJSON_AddItemToObject(rec, "table", mlops_node_to_json(&table));
	mlops_json_add_oid(rec, "index", &idx_id);
	cJSON_AddItemToObject(rec, "params", params);
	cJSON_AddItemToObject(rec, "stats", stats);
	cJSON_AddItemToObject(rec, "columns", columns);
	columns = NULL;
	cJSON_AddNumberToObject(rec, "rows", (double)m.rows);
	cJSON_AddNumberToObject(rec, "entities", (double)m.ix.entities);
	cJSON_AddNumberToObject(rec, "time", (double)time(NULL));
	cJSON_AddStringToObject(rec, "author", author ? author : "");
	if ((err = mlops_json_store(id, repo->odb, rec, NULL)) < 0 || (err = mlops_odb_sync(repo->odb)) < 0)
		goto done;
	char ref[240];
	mlops_oid zero;
	memset(&zero, 0, sizeof(zero));
	snprintf(ref, sizeof(ref), "features/%s/v%ld", fsname, number);
	if ((err = mlops_ref_write(repo, ref, id, &zero, "feature materialize")) < 0)
		goto done;
	if ((err = ft_lock_record(repo, fsname, &spec_id, (long)mlops_json_num(specrec, "version", 0), id,
				  number)) < 0)
		goto done;
	*record = rec;
	rec = NULL;
	*created = 1;
done:
	mlops_lock_release(lock);
	if (m.w) {
		for (size_t k = 0; m.t && k < m.t->nwindows; k++) {
			free(m.w[k].all.e);
			free(m.w[k].mono.e);
		}
		free(m.w);
		m.w = NULL;
	}
	mat_free(&m);
	cJSON_Delete(specrec);
	cJSON_Delete(latest);
	cJSON_Delete(rec);
	cJSON_Delete(columns);
	cJSON_Delete(idx);
	free(author);
	return err;
}
