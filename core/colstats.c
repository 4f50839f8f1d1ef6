/*
 * colstats.c - streaming per-column profiles (colstats.h).
 *
 * Design notes.
 *
 * Each value is classified once (missing, integer, float, boolean,
 * datetime, string) and feeds two structures of its column:
 *
 *   - a value table: open addressing, keyed by the value's kind and
 *     canonical bytes (integers and integral floats by their int64,
 *     other floats by their double, booleans by 0/1, anything else by its
 *     text, of which at most KEY_STORED bytes are kept: longer texts are
 *     told apart by length and 64-bit hash).  It counts exactly until it
 *     would hold more than MLOPS_COLSTATS_EXACT values or ARENA_MAX bytes
 *     of text; then it is reduced to a Misra-Gries summary of
 *     MLOPS_COLSTATS_MG counters (keep the top counters minus the next
 *     count, Agarwal et al.'s rule for mergeable summaries), and a
 *     HyperLogLog sketch, seeded with the hashes of every value seen so
 *     far, counts distinct values from then on.
 *   - for numeric and datetime columns (as long as no other kind has been
 *     seen): min, max, Welford's running mean and sum of squares, and a
 *     reservoir of MLOPS_COLSTATS_EXACT values (Vitter's Algorithm L, with a
 *     fixed-seed generator).  While the count fits the reservoir it holds
 *     every value, and the mean, std, quantiles and histogram computed from
 *     it at finish are exact; beyond, the quantiles and the histogram come
 *     from the sample.
 *
 * Rows are copied into a batch (up to BATCH_FIELDS fields or BATCH_BYTES
 * bytes; one memcpy per row when its fields lie in order, as the CSV
 * reader's do).  A full batch is profiled column by column: each column
 * by exactly one thread, in row order, so the result never depends on
 * the number of threads.  With several processors, worker threads (started
 * with the first full batch) profile one batch while the caller fills the
 * other; worker w owns the columns i with i % nworkers == w.  Within a
 * column, CHUNK values are classified and hashed (prefetching their table
 * slots) before the table updates, so that memory latency overlaps.
 * A column added midway (a JSON-lines key first seen there) changes the
 * batch layout, so the rows gathered before it are profiled first; the
 * new column starts with every earlier row counted as missing.
 *
 * Nothing is allocated per row once the structures have reached their
 * bounds; memory per column is at most about 3 MiB of table, ARENA_MAX of
 * text, 512 KiB of sample and 16 KiB of HyperLogLog registers, plus two
 * batches of about 6 MiB for the profile.
 */
#include "colstats.h"

#include "store/error.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARENA_MAX ((size_t)16 << 20)
#define KEY_STORED 1024
#define HLL_P 14
#define HLL_M (1u << HLL_P)
#define TOP_JSON 10
#define BATCH_FIELDS (256u << 10) /* fields per batch */
#define BATCH_BYTES ((size_t)4 << 20)
#define CHUNK 16                   /* values classified ahead of their update */

enum kind { K_INT = 'I', K_FLOAT = 'F', K_BOOL = 'B', K_DATE = 'D', K_STR = 'S' };

struct vent {
	uint64_t hash;  /* the low byte is the kind */
	uint64_t count; /* 0: free slot */
	uint64_t key;   /* numbers: their 8 bytes; text: arena offset << 32 | length */
};

struct vtab {
	struct vent *slots;
	size_t cap, used;
	unsigned char *arena;
	size_t arena_len, arena_cap;
};

struct col {
	char *name;
	uint64_t count, missing;
	uint64_t n_int, n_float, n_bool, n_date, n_str;
	int date_time, date_zone;

	/* numeric stream */
	uint64_t n_num;
	double min, max;
	double shift, sum, sumsq; /* sums of x - shift and its square */
	double *sample;
	size_t sample_cap;
	uint64_t rng;

	/* value table */
	struct vtab tab;
	int mg;
	struct vtab spare; /* Misra-Gries rebuilds */
	uint16_t big[MLOPS_COLSTATS_MG]; /* Misra-Gries: slots counting 2 or more */
	size_t nbig;
	unsigned char *hll;

	struct mlops_column_stats out;
	char *top_text;
};


/*
 * Rows waiting to be profiled: their bytes, and per row and column the
 * field's offset and length in them.
 */
struct batch {
	char *bytes;
	size_t len, cap;
	uint32_t *off, *flen; /* rows x ncols */
	size_t rows, cap_rows;
	size_t cap_fields;    /* entries allocated in off and flen */
};

struct mlops_colstats {
	struct col *cols;
	size_t ncols;
	uint64_t rows;
	int finished;
	int threads;        /* 0: as many as processors (at most 8) */

	struct batch b[2];  /* one fills while the workers read the other */
	int cur;

	/* workers: worker w profiles the columns i with i % nworkers == w */
	pthread_t *tids;
	size_t nworkers;
	pthread_mutex_t mu;
	pthread_cond_t cv_work, cv_done;
	int sync_ready;
	uint64_t gen;        /* incremented for each batch handed out */
	size_t busy;         /* workers still on the current batch */
	int quit;
	const struct batch *work;
	int error;           /* first failure in a worker */
};

static const char *const type_names[] = {
	"empty", "integer", "float", "boolean", "datetime", "categorical", "text",
};

const char *mlops_coltype_name(enum mlops_coltype type)
{
	if ((unsigned)type < sizeof(type_names) / sizeof(type_names[0]))
		return type_names[type];
	return "unknown";
}

/* ---- hashing and random numbers ---- */

static inline uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline uint64_t hash_bytes(uint64_t seed, const unsigned char *p, size_t n)
{
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL), v;
	while (n >= 8) {
		memcpy(&v, p, 8);
		h ^= v * 0x87c37b91114253d5ULL;
		h = ((h << 31) | (h >> 33)) * 0x4cf5ad432745937fULL;
		p += 8;
		n -= 8;
	}
	if (n) {
		v = 0;
		memcpy(&v, p, n);
		h ^= v * 0x87c37b91114253d5ULL;
		h = ((h << 31) | (h >> 33)) * 0x4cf5ad432745937fULL;
	}
	return mix64(h);
}

static inline uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ---- value classification ---- */

/* pandas' default NA strings, and the empty string. */
static inline int is_missing(const char *s, size_t n)
{
	if (n == 0)
		return 1;
	if (n > 8)
		return 0;
	switch (s[0]) {
	case 'N':
		return (n == 2 && s[1] == 'A') || (n == 3 && !memcmp(s, "N/A", 3)) ||
		       (n == 3 && !memcmp(s, "NaN", 3)) || (n == 4 && !memcmp(s, "NULL", 4)) ||
		       (n == 4 && !memcmp(s, "None", 4));
	case 'n':
		return (n == 3 && (!memcmp(s, "n/a", 3) || !memcmp(s, "nan", 3))) ||
		       (n == 4 && !memcmp(s, "null", 4));
	case '-':
		return (n == 4 && (!memcmp(s, "-NaN", 4) || !memcmp(s, "-nan", 4))) ||
		       (n == 7 && !memcmp(s, "-1.#IND", 7)) || (n == 8 && !memcmp(s, "-1.#QNAN", 8));
	case '<':
		return n == 4 && !memcmp(s, "<NA>", 4);
	case '#':
		return (n == 3 && !memcmp(s, "#NA", 3)) || (n == 4 && !memcmp(s, "#N/A", 4)) ||
		       (n == 8 && !memcmp(s, "#N/A N/A", 8));
	case '1':
		return (n == 6 && !memcmp(s, "1.#IND", 6)) || (n == 7 && !memcmp(s, "1.#QNAN", 7));
	default:
		return 0;
	}
}

static const double pow10_tab[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static double slow_strtod(const char *s, size_t n)
{
	char small[128], *buf = small;
	double v;
	if (n >= sizeof(small)) {
		buf = malloc(n + 1);
		if (!buf)
			return NAN;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	v = strtod(buf, NULL);
	if (buf != small)
		free(buf);
	return v;
}

static int match_ci(const char *s, size_t n, const char *word)
{
	size_t m = strlen(word);
	if (n != m)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((s[i] | 0x20) != word[i])
			return 0;
	return 1;
}

/*
 * Parse a decimal number (spaces around it allowed).  Returns K_INT with
 * *iv and *dv set, K_FLOAT with *dv set, or 0.  Floats are correctly
 * rounded: the common case (at most 19 significant digits that fit in
 * 2^53, a power of ten up to 22) is exact in double arithmetic; anything
 * else goes through strtod.
 */
static int parse_number(const char *s, size_t n, int64_t *iv, double *dv)
{
	const char *p = s, *e = s + n, *d0;
	uint64_t m = 0;
	int neg = 0, isfloat = 0;
	long exp10 = 0;
	size_t nint, nfrac = 0;

	while (p < e && *p == ' ')
		p++;
	while (e > p && e[-1] == ' ')
		e--;
	if (p == e)
		return 0;
	if (*p == '-' || *p == '+') {
		neg = *p == '-';
		p++;
	}
	if (p < e && (*p == 'i' || *p == 'I')) {
		if (match_ci(p, (size_t)(e - p), "inf") ||
		    match_ci(p, (size_t)(e - p), "infinity")) {
			*dv = neg ? -INFINITY : INFINITY;
			return K_FLOAT;
		}
		return 0;
	}
	/* digits accumulate into m; more than 19 in all take the slow path */
	for (d0 = p; p < e && (unsigned)(*p - '0') < 10; p++)
		m = m * 10 + (uint64_t)(*p - '0');
	nint = (size_t)(p - d0);
	if (p < e && *p == '.') {
		isfloat = 1;
		for (d0 = ++p; p < e && (unsigned)(*p - '0') < 10; p++)
			m = m * 10 + (uint64_t)(*p - '0');
		nfrac = (size_t)(p - d0);
		exp10 = -(long)nfrac;
	}
	if (nint + nfrac == 0)
		return 0;
	if (p < e && (*p == 'e' || *p == 'E')) {
		int eneg = 0;
		long ev = 0;
		isfloat = 1;
		p++;
		if (p < e && (*p == '-' || *p == '+')) {
			eneg = *p == '-';
			p++;
		}
		if (p == e || (unsigned)(*p - '0') >= 10)
			return 0;
		for (; p < e && (unsigned)(*p - '0') < 10; p++)
			if (ev < 100000)
				ev = ev * 10 + (*p - '0');
		exp10 += eneg ? -ev : ev;
	}
	if (p != e)
		return 0;
	if (nint + nfrac > 19)
		goto slow;
	if (!isfloat) {
		if (m > (uint64_t)INT64_MAX + (uint64_t)neg)
			goto slow;
		*iv = neg ? (int64_t)(0 - m) : (int64_t)m;
		*dv = (double)*iv;
		return K_INT;
	}
	if (m <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
		double v = (double)m;
		v = exp10 < 0 ? v / pow10_tab[-exp10] : v * pow10_tab[exp10];
		*dv = neg ? -v : v;
		return K_FLOAT;
	}
slow:
	*dv = slow_strtod(s, n);
	if (!isfloat && *dv >= -9223372036854775808.0 && *dv < 9223372036854775808.0) {
		/* a long integer that still fits int64 (19 digits, or leading zeros) */
		errno = 0;
		{
			char buf[64];
			long long ll;
			char *end;
			if (n < sizeof(buf)) {
				memcpy(buf, s, n);
				buf[n] = '\0';
				ll = strtoll(buf, &end, 10);
				if (errno == 0) {
					*iv = ll;
					*dv = (double)ll;
					return K_INT;
				}
			}
		}
	}
	return K_FLOAT;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if ((unsigned)(s[i] - '0') >= 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/*
 * Parse an ISO 8601 date or date-time: YYYY-MM-DD, then optionally 'T' or
 * ' ' and HH:MM[:SS[.fraction]], then optionally Z or +HH[:MM] / -HH[:MM].
 * Sets *secs (since the epoch, UTC; zoneless values are taken as UTC) and
 * the has_time / has_zone flags.  Returns 0, or -1 if not a datetime.
 */
static int parse_datetime(const char *s, size_t n, double *secs, int *has_time,
			  int *has_zone)
{
	static const unsigned char mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0;
	double fr = 0;
	size_t i = 10;

	if (n < 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) < 0 ||
	    digits(s + 5, 2, &mo) < 0 || digits(s + 8, 2, &d) < 0)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return -1;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -1;
	*has_time = 0;
	*has_zone = 0;
	if (i < n) {
		if ((s[i] != 'T' && s[i] != ' ') || n < i + 6 || s[i + 3] != ':' ||
		    digits(s + i + 1, 2, &h) < 0 || digits(s + i + 4, 2, &mi) < 0 ||
		    h > 23 || mi > 59)
			return -1;
		*has_time = 1;
		i += 6;
		if (i < n && s[i] == ':') {
			if (n < i + 3 || digits(s + i + 1, 2, &sec) < 0 || sec > 60)
				return -1;
			i += 3;
			if (i < n && (s[i] == '.' || s[i] == ',')) {
				double scale = 0.1;
				i++;
				if (i == n || (unsigned)(s[i] - '0') >= 10)
					return -1;
				for (; i < n && (unsigned)(s[i] - '0') < 10; i++, scale /= 10)
					fr += (s[i] - '0') * scale;
			}
		}
		if (i < n) {
			int oh, om = 0;
			*has_zone = 1;
			if (s[i] == 'Z' && i + 1 == n) {
				i++;
			} else if (s[i] == '+' || s[i] == '-') {
				int sign = s[i] == '-' ? -1 : 1;
				if (n < i + 3 || digits(s + i + 1, 2, &oh) < 0)
					return -1;
				i += 3;
				if (i < n && s[i] == ':')
					i++;
				if (i < n) {
					if (n != i + 2 || digits(s + i, 2, &om) < 0)
						return -1;
					i += 2;
				}
				if (oh > 23 || om > 59)
					return -1;
				off = sign * (oh * 3600 + om * 60);
			} else {
				return -1;
			}
		}
	}
	if (i != n)
		return -1;
	*secs = (double)(days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
			 h * 3600 + mi * 60 + sec - off) + fr;
	return 0;
}

/* ---- the value table ---- */

static inline int text_kind(int kind)
{
	return kind == K_STR || kind == K_DATE;
}

static inline int entry_kind(const struct vent *v)
{
	return (int)(v->hash & 0xff);
}

static int vtab_init(struct vtab *t, size_t cap, size_t arena_cap)
{
	t->slots = calloc(cap, sizeof(*t->slots));
	t->arena = malloc(arena_cap);
	if (!t->slots || !t->arena) {
		free(t->slots);
		free(t->arena);
		t->slots = NULL;
		t->arena = NULL;
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	t->cap = cap;
	t->used = 0;
	t->arena_len = 0;
	t->arena_cap = arena_cap;
	return 0;
}

static void vtab_free(struct vtab *t)
{
	free(t->slots);
	free(t->arena);
	memset(t, 0, sizeof(*t));
}

static inline size_t stored_len(uint32_t len)
{
	return len < KEY_STORED ? len : KEY_STORED;
}

static inline size_t slot_index(uint64_t hash, size_t mask)
{
	return (size_t)(hash >> 8) & mask;
}

/* The slot holding the number, or the free slot where it belongs. */
static inline struct vent *vtab_slot_num(const struct vtab *t, uint64_t hash, uint64_t key)
{
	size_t mask = t->cap - 1, i = slot_index(hash, mask);
	for (;;) {
		struct vent *v = &t->slots[i];
		if (!v->count || (v->hash == hash && v->key == key))
			return v;
		i = (i + 1) & mask;
	}
}

/* The slot holding the text, or the free slot where it belongs. */
static inline struct vent *vtab_slot_text(const struct vtab *t, uint64_t hash,
					  const unsigned char *s, uint32_t len)
{
	size_t mask = t->cap - 1, i = slot_index(hash, mask), sl = stored_len(len);
	for (;;) {
		struct vent *v = &t->slots[i];
		if (!v->count)
			return v;
		if (v->hash == hash && (uint32_t)v->key == len &&
		    memcmp(t->arena + (v->key >> 32), s, sl) == 0)
			return v;
		i = (i + 1) & mask;
	}
}

/*
 * Fill the free slot v.  Text is appended to the arena, which may grow up
 * to `limit` bytes; -1 when it cannot.
 */
static int vtab_store(struct vtab *t, struct vent *v, uint64_t hash, uint64_t key,
		      const unsigned char *s, uint64_t count, size_t limit)
{
	if (text_kind((int)(hash & 0xff))) {
		uint32_t len = (uint32_t)key;
		size_t sl = stored_len(len);
		if (t->arena_len + sl > t->arena_cap) {
			size_t cap = t->arena_cap * 2;
			unsigned char *a;
			while (cap < t->arena_len + sl)
				cap *= 2;
			if (cap > limit)
				return -1;
			a = realloc(t->arena, cap);
			if (!a)
				return -1;
			t->arena = a;
			t->arena_cap = cap;
		}
		memcpy(t->arena + t->arena_len, s, sl);
		key = (uint64_t)t->arena_len << 32 | len;
		t->arena_len += sl;
	}
	v->hash = hash;
	v->count = count;
	v->key = key;
	t->used++;
	return 0;
}

/* The text of a text entry (borrowed from the arena). */
static inline const unsigned char *entry_text(const unsigned char *arena, const struct vent *v)
{
	return arena + (v->key >> 32);
}

/* Double the slots of an exact table. */
static int vtab_grow(struct vtab *t)
{
	size_t cap = t->cap * 2, mask = cap - 1;
	struct vent *s = calloc(cap, sizeof(*s));
	if (!s)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	for (size_t i = 0; i < t->cap; i++) {
		struct vent *v = &t->slots[i];
		size_t j;
		if (!v->count)
			continue;
		for (j = slot_index(v->hash, mask); s[j].count; j = (j + 1) & mask)
			;
		s[j] = *v;
	}
	free(t->slots);
	t->slots = s;
	t->cap = cap;
	return 0;
}

static inline void hll_add(unsigned char *reg, uint64_t hash)
{
	size_t idx = (size_t)(hash >> (64 - HLL_P));
	uint64_t rest = (hash << HLL_P) | (1ULL << (HLL_P - 1));
	unsigned char rank = (unsigned char)(__builtin_clzll(rest) + 1);
	if (rank > reg[idx])
		reg[idx] = rank;
}

static double hll_estimate(const unsigned char *reg)
{
	double m = HLL_M, sum = 0, e;
	size_t zeros = 0;
	for (size_t i = 0; i < HLL_M; i++) {
		sum += ldexp(1.0, -reg[i]);
		zeros += reg[i] == 0;
	}
	e = 0.7213 / (1 + 1.079 / m) * m * m / sum;
	if (e <= 2.5 * m && zeros)
		e = m * log(m / (double)zeros);
	return e;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

static void select_nth(double *v, size_t n, size_t k);

/*
 * Rebuild c->tab from the entries of `from` (text in `arena`) whose count
 * exceeds `minus`, less `minus`, into the spare table, and swap the two.
 */
static void mg_rebuild(struct col *c, const struct vent *from, size_t n, uint64_t minus,
		       const unsigned char *arena)
{
	struct vtab *t = &c->spare;
	size_t mask = t->cap - 1;
	memset(t->slots, 0, t->cap * sizeof(*t->slots));
	c->nbig = 0;
	t->used = 0;
	t->arena_len = 0;
	for (size_t i = 0; i < n; i++) {
		const struct vent *v = &from[i];
		size_t j;
		if (v->count <= minus)
			continue;
		for (j = slot_index(v->hash, mask); t->slots[j].count; j = (j + 1) & mask)
			;
		/* on lack of memory the counter is dropped, as if its count ran out */
		if (vtab_store(t, &t->slots[j], v->hash,
			       text_kind(entry_kind(v)) ? (uint32_t)v->key : v->key,
			       text_kind(entry_kind(v)) ? entry_text(arena, v) : NULL,
			       v->count - minus, SIZE_MAX) == 0 && v->count - minus >= 2)
			c->big[c->nbig++] = (uint16_t)j;
	}
	{
		struct vtab tmp = c->tab;
		c->tab = c->spare;
		c->spare = tmp;
	}
}

/* Leave exact counting: seed the HyperLogLog, reduce to Misra-Gries. */
static int go_misra_gries(struct col *c)
{
	struct vtab *t = &c->tab;
	struct vent *all = NULL;
	size_t n = 0;
	uint64_t minus = 0;
	const size_t k = MLOPS_COLSTATS_MG;
	const size_t arena_cap = 64 << 10;
	int error;

	c->hll = calloc(HLL_M, 1);
	all = malloc(t->used * sizeof(*all));
	if (!c->hll || !all) {
		free(all);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	for (size_t i = 0; i < t->cap; i++)
		if (t->slots[i].count) {
			hll_add(c->hll, t->slots[i].hash);
			all[n++] = t->slots[i];
		}
	if (n > k) {
		/* the (k+1)-th largest count */
		double *counts = malloc(n * sizeof(*counts));
		if (!counts) {
			error = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto cleanup;
		}
		for (size_t i = 0; i < n; i++)
			counts[i] = (double)all[i].count;
		select_nth(counts, n, n - k - 1);
		minus = (uint64_t)counts[n - k - 1];
		free(counts);
	}
	if ((error = vtab_init(&c->spare, 2 * k, arena_cap)) < 0)
		goto cleanup;
	mg_rebuild(c, all, n, minus, t->arena);
	/* c->spare now holds the old exact table: replace it by a small one. */
	vtab_free(&c->spare);
	if ((error = vtab_init(&c->spare, 2 * k, arena_cap)) < 0)
		goto cleanup;
	c->mg = 1;
cleanup:
	free(all);
	return error;
}

/*
 * Count one more occurrence of a value: a number (`key` its 8 bytes, s
 * NULL) or a text (s and its length in `key`).
 */
static int count_value(struct col *c, uint64_t hash, uint64_t key, const unsigned char *s)
{
	struct vtab *t = &c->tab;
	struct vent *v;
	int error;

	v = s ? vtab_slot_text(t, hash, s, (uint32_t)key) : vtab_slot_num(t, hash, key);
	if (v->count) {
		if (++v->count == 2 && c->mg)
			c->big[c->nbig++] = (uint16_t)(v - t->slots);
		return 0;
	}
	/* A value in the table is in the sketch already (it is idempotent). */
	if (c->mg)
		hll_add(c->hll, hash);
	if (!c->mg) {
		if (t->used < MLOPS_COLSTATS_EXACT &&
		    vtab_store(t, v, hash, key, s, 1, ARENA_MAX) == 0) {
			if (t->used * 2 > t->cap)
				return vtab_grow(t);
			return 0;
		}
		if ((error = go_misra_gries(c)) < 0)
			return error;
		return count_value(c, hash, key, s);
	}
	if (t->used < MLOPS_COLSTATS_MG) {
		vtab_store(t, v, hash, key, s, 1, SIZE_MAX);
		return 0;
	}
	/*
	 * Full: this value and one of every counter cancel out.  Only the
	 * counters above one survive, and c->big lists them.
	 */
	{
		struct vent tmp[MLOPS_COLSTATS_MG];
		size_t n = c->nbig;
		for (size_t i = 0; i < n; i++)
			tmp[i] = t->slots[c->big[i]];
		mg_rebuild(c, tmp, n, 1, t->arena);
	}
	return 0;
}

/*
 * A value classified and hashed, waiting for its table update: rows are
 * processed in two passes so that the table slots of all columns are
 * fetched from memory at the same time.
 */
struct pending {
	uint64_t hash;
	uint64_t key;              /* numbers: their 8 bytes; text: its length */
	const unsigned char *text; /* NULL for numbers */
	double num;
	int feed;                  /* num goes to the numeric stream */
	int present;               /* 0: missing */
};

static inline void set_number(struct col *c, struct pending *p, int kind, uint64_t bits)
{
	p->hash = (mix64(bits ^ ((uint64_t)kind << 56)) & ~(uint64_t)0xff) | (uint64_t)kind;
	p->key = bits;
	p->text = NULL;
	__builtin_prefetch(&c->tab.slots[slot_index(p->hash, c->tab.cap - 1)]);
}

static inline void set_text(struct col *c, struct pending *p, int kind, const char *s, size_t len)
{
	uint64_t hash = hash_bytes((uint64_t)kind, (const unsigned char *)s, len);
	p->hash = (hash & ~(uint64_t)0xff) | (uint64_t)kind;
	p->key = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	p->text = (const unsigned char *)s;
	__builtin_prefetch(&c->tab.slots[slot_index(p->hash, c->tab.cap - 1)]);
}

/* ---- the numeric stream ---- */

/*
 * One more number: min, max, the shifted sums (shift = the first value, so
 * that the variance keeps its precision when the mean is far from zero),
 * and the reservoir (Algorithm R: the n-th value replaces a random slot
 * with probability k/n; one 64-bit random number per value).
 */
static int add_number(struct col *c, double x)
{
	uint64_t n = ++c->n_num;
	double d;
	if (n == 1) {
		c->min = c->max = c->shift = x;
	} else {
		if (x < c->min)
			c->min = x;
		if (x > c->max)
			c->max = x;
	}
	d = x - c->shift;
	c->sum += d;
	c->sumsq += d * d;

	if (n <= MLOPS_COLSTATS_EXACT) {
		if (n > c->sample_cap) {
			size_t cap = c->sample_cap ? c->sample_cap * 4 : 1024;
			double *s;
			if (cap > MLOPS_COLSTATS_EXACT)
				cap = MLOPS_COLSTATS_EXACT;
			s = realloc(c->sample, cap * sizeof(*s));
			if (!s)
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			c->sample = s;
			c->sample_cap = cap;
		}
		c->sample[n - 1] = x;
		return 0;
	}
	{
		uint64_t j = (uint64_t)(((unsigned __int128)splitmix(&c->rng) * n) >> 64);
		if (j < MLOPS_COLSTATS_EXACT)
			c->sample[j] = x;
	}
	return 0;
}

/* ---- rows ---- */

/* Classify one value of column c into p (the first pass over a row). */
static inline void classify(struct col *c, const char *s, size_t n, struct pending *p)
{
	uint64_t bits;
	int64_t iv;
	double dv;
	int kind = 0;

	p->feed = 0;
	if (is_missing(s, n)) {
		c->missing++;
		p->present = 0;
		return;
	}
	p->present = 1;
	c->count++;
	unsigned char ch = (unsigned char)s[0];
	if ((unsigned)(ch - '0') < 10 || ch == '-' || ch == '+' || ch == '.' ||
	    ch == ' ' || ch == 'i' || ch == 'I')
		kind = parse_number(s, n, &iv, &dv);
	if (kind == K_INT) {
		c->n_int++;
		set_number(c, p, K_INT, (uint64_t)iv);
		goto number;
	}
	if (kind == K_FLOAT) {
		c->n_float++;
		if (dv == 0)
			dv = 0; /* -0.0 and 0.0 are one value */
		if (dv >= -9.2e18 && dv <= 9.2e18 && dv == (double)(int64_t)dv) {
			set_number(c, p, K_INT, (uint64_t)(int64_t)dv);
		} else {
			memcpy(&bits, &dv, 8);
			set_number(c, p, K_FLOAT, bits);
		}
		goto number;
	}
	if ((n == 4 && match_ci(s, n, "true")) || (n == 5 && match_ci(s, n, "false"))) {
		c->n_bool++;
		set_number(c, p, K_BOOL, n == 4);
		return;
	}
	if (n >= 10 && s[4] == '-') {
		int has_time, has_zone;
		if (parse_datetime(s, n, &dv, &has_time, &has_zone) == 0) {
			c->n_date++;
			c->date_time |= has_time;
			c->date_zone |= has_zone;
			set_text(c, p, K_DATE, s, n);
			p->num = dv;
			p->feed = !(c->n_int | c->n_float | c->n_bool | c->n_str);
			return;
		}
	}
	c->n_str++;
	set_text(c, p, K_STR, s, n);
	return;
number:
	p->num = dv;
	p->feed = !(c->n_date | c->n_bool | c->n_str);
	if (c->mg)
		__builtin_prefetch(&c->hll[p->hash >> (64 - HLL_P)]);
}

/* Column i, named `name` (copied): its value table started. */
static int col_init(struct col *c, const char *name, size_t i)
{
	c->name = strdup(name ? name : "");
	if (!c->name)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	c->rng = 0x6d6c6f7073ULL + i; /* fixed seed: same input, same sample */
	return vtab_init(&c->tab, 256, 4096);
}

/* Rows in a batch of ncols columns: about BATCH_FIELDS fields, 16 rows at least. */
static size_t batch_rows(size_t ncols)
{
	size_t rows = ncols ? BATCH_FIELDS / ncols : BATCH_FIELDS;
	return rows < 16 ? 16 : rows;
}

int mlops_colstats_new(struct mlops_colstats **out, const char *const *names,
		       size_t ncols)
{
	struct mlops_colstats *st;
	int error = 0;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	st->cols = calloc(ncols ? ncols : 1, sizeof(*st->cols));
	if (!st->cols) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	st->ncols = ncols;
	for (size_t i = 0; i < ncols; i++)
		if ((error = col_init(&st->cols[i], names[i], i)) < 0)
			goto cleanup;
	for (int k = 0; k < 2; k++) {
		struct batch *b = &st->b[k];
		b->cap_rows = batch_rows(ncols);
		b->cap_fields = b->cap_rows * (ncols ? ncols : 1);
		b->cap = BATCH_BYTES;
		b->bytes = malloc(b->cap);
		b->off = malloc(b->cap_fields * sizeof(*b->off));
		b->flen = malloc(b->cap_fields * sizeof(*b->flen));
		if (!b->bytes || !b->off || !b->flen) {
			error = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto cleanup;
		}
	}
	*out = st;
	return 0;
cleanup:
	mlops_colstats_free(st);
	return error;
}

int mlops_colstats_set_threads(struct mlops_colstats *st, int threads)
{
	if (st->rows || st->tids)
		return mlops_error_set(MLOPS_EUSAGE, "threads must be set before the first row");
	st->threads = threads < 0 ? 0 : threads;
	return 0;
}

/* Profile column ci over the rows of b: classify a chunk, then update. */
static int process_column(struct col *c, size_t ci, size_t ncols, const struct batch *b)
{
	struct pending p[CHUNK];
	int error;
	for (size_t r0 = 0; r0 < b->rows; r0 += CHUNK) {
		size_t m = b->rows - r0 < CHUNK ? b->rows - r0 : CHUNK;
		for (size_t k = 0; k < m; k++) {
			size_t at = (r0 + k) * ncols + ci;
			classify(c, b->bytes + b->off[at], b->flen[at], &p[k]);
		}
		for (size_t k = 0; k < m; k++) {
			if (!p[k].present)
				continue;
			if ((error = count_value(c, p[k].hash, p[k].key, p[k].text)) < 0)
				return error;
			if (p[k].feed && (error = add_number(c, p[k].num)) < 0)
				return error;
		}
	}
	return 0;
}

static int process_columns(struct mlops_colstats *st, const struct batch *b, size_t first,
			   size_t step)
{
	int error;
	for (size_t i = first; i < st->ncols; i += step)
		if ((error = process_column(&st->cols[i], i, st->ncols, b)) < 0)
			return error;
	return 0;
}

struct worker_arg {
	struct mlops_colstats *st;
	size_t index;
};

static void *worker_main(void *arg)
{
	struct mlops_colstats *st = ((struct worker_arg *)arg)->st;
	size_t index = ((struct worker_arg *)arg)->index;
	uint64_t seen = 0;
	free(arg);
	for (;;) {
		const struct batch *b;
		int error;
		pthread_mutex_lock(&st->mu);
		while (st->gen == seen && !st->quit)
			pthread_cond_wait(&st->cv_work, &st->mu);
		if (st->gen == seen) { /* quit, nothing left */
			pthread_mutex_unlock(&st->mu);
			return NULL;
		}
		seen = st->gen;
		b = st->work;
		pthread_mutex_unlock(&st->mu);

		error = process_columns(st, b, index, st->nworkers);

		pthread_mutex_lock(&st->mu);
		if (error < 0 && !st->error)
			st->error = error;
		if (--st->busy == 0)
			pthread_cond_broadcast(&st->cv_done);
		pthread_mutex_unlock(&st->mu);
	}
}

/* Wait until the workers are done with the batch handed out last. */
static int wait_workers(struct mlops_colstats *st)
{
	int error;
	if (!st->nworkers)
		return 0;
	pthread_mutex_lock(&st->mu);
	while (st->busy)
		pthread_cond_wait(&st->cv_done, &st->mu);
	error = st->error;
	pthread_mutex_unlock(&st->mu);
	if (error < 0)
		return mlops_error_set(error, "out of memory");
	return 0;
}

static void stop_workers(struct mlops_colstats *st)
{
	if (!st->nworkers)
		return;
	pthread_mutex_lock(&st->mu);
	st->quit = 1;
	pthread_cond_broadcast(&st->cv_work);
	pthread_mutex_unlock(&st->mu);
	for (size_t i = 0; i < st->nworkers; i++)
		pthread_join(st->tids[i], NULL);
	st->nworkers = 0;
}

/* Start the workers (on the first full batch); none with one processor. */
static void start_workers(struct mlops_colstats *st)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t n = st->threads ? (size_t)st->threads : cpus > 0 ? (size_t)cpus : 1;
	if (n > 8)
		n = 8;
	if (n > st->ncols)
		n = st->ncols;
	if (n <= 1 || st->tids)
		return;
	st->tids = calloc(n, sizeof(*st->tids));
	if (!st->tids)
		return; /* profile in this thread */
	if (pthread_mutex_init(&st->mu, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&st->cv_work, NULL) != 0) {
		pthread_mutex_destroy(&st->mu);
		goto fail;
	}
	if (pthread_cond_init(&st->cv_done, NULL) != 0) {
		pthread_cond_destroy(&st->cv_work);
		pthread_mutex_destroy(&st->mu);
		goto fail;
	}
	st->sync_ready = 1;
	for (size_t i = 0; i < n; i++) {
		struct worker_arg *a = malloc(sizeof(*a));
		if (!a)
			break;
		a->st = st;
		a->index = i;
		if (pthread_create(&st->tids[i], NULL, worker_main, a) != 0) {
			free(a);
			break;
		}
		st->nworkers++;
	}
	if (st->nworkers == n)
		return;
	stop_workers(st); /* could not start them all: run in this thread */
	return;
fail:
	free(st->tids);
	st->tids = NULL;
}

/* Profile the filling batch (in the workers) and start filling the other. */
static int flush_batch(struct mlops_colstats *st)
{
	struct batch *b = &st->b[st->cur];
	int error;
	if (!b->rows)
		return 0;
	if (!st->tids && st->threads != 1)
		start_workers(st);
	if (!st->nworkers) {
		error = process_columns(st, b, 0, 1);
		b->rows = 0;
		b->len = 0;
		return error;
	}
	if ((error = wait_workers(st)) < 0)
		return error;
	pthread_mutex_lock(&st->mu);
	st->work = b;
	st->busy = st->nworkers;
	st->gen++;
	pthread_cond_broadcast(&st->cv_work);
	pthread_mutex_unlock(&st->mu);
	st->cur ^= 1;
	/* the other batch was done when wait_workers returned */
	st->b[st->cur].rows = 0;
	st->b[st->cur].len = 0;
	return 0;
}

int mlops_colstats_add_row(struct mlops_colstats *st,
			   const struct mlops_csv_field *fields, size_t n)
{
	struct batch *b;
	size_t total = 0, base, at;
	const char *lo = NULL, *hi = NULL;
	int monotone = 1, error;

	if (st->finished)
		return mlops_error_set(MLOPS_EUSAGE, "profile already finished");
	if (n != st->ncols)
		return mlops_error_set(MLOPS_EINVALID, "expected %zu fields, found %zu",
				       st->ncols, n);
	for (size_t i = 0; i < n; i++) {
		total += fields[i].len;
		if (i && fields[i].ptr < hi)
			monotone = 0;
		if (!i)
			lo = fields[i].ptr;
		hi = fields[i].ptr + fields[i].len;
	}
	/* one copy of the record when its fields lie in order, close together */
	if (n && monotone && (size_t)(hi - lo) <= 2 * total + 8 * n)
		total = (size_t)(hi - lo);
	else
		monotone = 0;
	if (total > UINT32_MAX / 2)
		return mlops_error_set(MLOPS_EINVALID, "row too large (%zu bytes)", total);

	b = &st->b[st->cur];
	if (b->rows == b->cap_rows || (b->rows && b->len + total > b->cap)) {
		if ((error = flush_batch(st)) < 0)
			return error;
		b = &st->b[st->cur];
	}
	if (total > b->cap) {
		char *p = realloc(b->bytes, total);
		if (!p)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		b->bytes = p;
		b->cap = total;
	}
	base = b->len;
	at = b->rows * st->ncols;
	if (monotone) {
		if (total)
			memcpy(b->bytes + base, lo, total);
		for (size_t i = 0; i < n; i++) {
			b->off[at + i] = (uint32_t)(base + (size_t)(fields[i].ptr - lo));
			b->flen[at + i] = (uint32_t)fields[i].len;
		}
	} else {
		size_t w = base;
		for (size_t i = 0; i < n; i++) {
			if (fields[i].len)
				memcpy(b->bytes + w, fields[i].ptr, fields[i].len);
			b->off[at + i] = (uint32_t)w;
			b->flen[at + i] = (uint32_t)fields[i].len;
			w += fields[i].len;
		}
	}
	b->len = base + total;
	b->rows++;
	st->rows++;
	return 0;
}

int mlops_colstats_add_columns(struct mlops_colstats *st, const char *const *names, size_t n)
{
	size_t ncols = st->ncols + n, rows = batch_rows(ncols);
	struct col *cols;
	int error;

	if (st->finished)
		return mlops_error_set(MLOPS_EUSAGE, "profile already finished");
	if (n == 0)
		return 0;
	/*
	 * The batches lay their rows out by the number of columns: profile the
	 * rows gathered so far first.  Without workers running that is done
	 * here, so that a small table still starts none.
	 */
	if (st->nworkers) {
		if ((error = flush_batch(st)) < 0 || (error = wait_workers(st)) < 0)
			return error;
	} else {
		struct batch *b = &st->b[st->cur];
		error = process_columns(st, b, 0, 1);
		b->rows = 0;
		b->len = 0;
		if (error < 0)
			return error;
	}
	/* Both batches are idle now; either may have held rows already profiled. */
	for (int k = 0; k < 2; k++) {
		struct batch *b = &st->b[k];
		size_t fields = rows * ncols;
		if (fields > b->cap_fields) {
			uint32_t *off = malloc(fields * sizeof(*off)), *flen = malloc(fields * sizeof(*flen));
			if (!off || !flen) {
				free(off);
				free(flen);
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			}
			free(b->off);
			free(b->flen);
			b->off = off;
			b->flen = flen;
			b->cap_fields = fields;
		}
		/* fewer rows fit, whatever the number of columns reached below */
		b->cap_rows = rows;
	}
	cols = realloc(st->cols, ncols * sizeof(*cols));
	if (!cols)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	st->cols = cols;
	memset(cols + st->ncols, 0, n * sizeof(*cols));
	for (size_t i = 0; i < n; i++) {
		struct col *c = &st->cols[st->ncols];
		st->ncols++; /* counted before its init, so that free() releases a partial one */
		if ((error = col_init(c, names[i], st->ncols - 1)) < 0)
			return error;
		c->missing = st->rows;
	}
	return 0;
}

/* ---- finish ---- */

/*
 * Move the k-th smallest of v[0..n) to v[k], smaller ones before it and
 * larger after (quickselect, median-of-three pivots; a range that does not
 * shrink fast enough is sorted instead, which bounds the worst case).
 */
static void select_nth(double *v, size_t n, size_t k)
{
	ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1;
	int budget = 64;
	while (hi > lo) {
		ptrdiff_t i = lo, j = hi, mid = lo + (hi - lo) / 2;
		double a = v[lo], b = v[mid], c = v[hi], pivot, t;
		if (--budget == 0) {
			qsort(v + lo, (size_t)(hi - lo + 1), sizeof(*v), cmp_double);
			return;
		}
		pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				t = v[i];
				v[i] = v[j];
				v[j] = t;
				i++;
				j--;
			}
		}
		if ((ptrdiff_t)k <= j)
			hi = j;
		else if ((ptrdiff_t)k >= i)
			lo = i;
		else
			return;
	}
}

/*
 * numpy's "linear" percentile (and its _lerp) of v[0..n), which is
 * reordered.
 */
static double quantile(double *v, size_t n, double q)
{
	double idx = q * (double)(n - 1), t, a, b, d;
	size_t lo = (size_t)floor(idx);
	select_nth(v, n, lo);
	a = v[lo];
	if (lo + 1 >= n)
		return a;
	b = v[lo + 1];
	for (size_t i = lo + 2; i < n; i++)
		if (v[i] < b)
			b = v[i];
	t = idx - (double)lo;
	d = b - a;
	return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

/* numpy.histogram's bin of x (equal bins on [edges[0], edges[nb]]). */
static size_t bin_of(const double *edges, size_t nb, double x)
{
	double f = (x - edges[0]) / (edges[nb] - edges[0]) * (double)nb;
	size_t i = f <= 0 ? 0 : f >= (double)nb ? nb : (size_t)f;
	if (i == nb)
		i--;
	if (x < edges[i] && i > 0)
		i--;
	else if (i != nb - 1 && x >= edges[i + 1])
		i++;
	return i;
}

static void finish_numeric(struct col *c)
{
	struct mlops_column_stats *o = &c->out;
	size_t ns = c->n_num < MLOPS_COLSTATS_EXACT ? (size_t)c->n_num : MLOPS_COLSTATS_EXACT;
	double *v = c->sample;
	uint64_t raw[MLOPS_COLSTATS_BINS] = { 0 };

	o->numeric = 1;
	o->quantiles_exact = c->n_num <= MLOPS_COLSTATS_EXACT;
	o->min = c->min;
	o->max = c->max;
	if (o->quantiles_exact) {
		/* two passes over every value, as pandas does */
		double sum = 0, comp = 0, sq = 0;
		for (size_t i = 0; i < ns; i++) {
			double y = v[i] - comp, t = sum + y;
			comp = (t - sum) - y;
			sum = t;
		}
		o->mean = sum / (double)ns;
		for (size_t i = 0; i < ns; i++)
			sq += (v[i] - o->mean) * (v[i] - o->mean);
		o->std = ns > 1 ? sqrt(sq / (double)(ns - 1)) : NAN;
	} else {
		double n = (double)c->n_num, m = c->sum / n;
		double var = (c->sumsq - c->sum * m) / (n - 1);
		o->mean = c->shift + m;
		o->std = sqrt(var > 0 ? var : 0);
	}
	o->p25 = quantile(v, ns, 0.25);
	o->p50 = quantile(v, ns, 0.5);
	o->p75 = quantile(v, ns, 0.75);

	if (!(o->min < o->max) || !isfinite(o->min) || !isfinite(o->max)) {
		o->nbins = 1;
		o->edges[0] = o->min;
		o->edges[1] = o->max;
		o->counts[0] = c->n_num;
		return;
	}
	o->nbins = MLOPS_COLSTATS_BINS;
	{
		double step = (o->max - o->min) / MLOPS_COLSTATS_BINS;
		for (size_t i = 0; i < MLOPS_COLSTATS_BINS; i++)
			o->edges[i] = (double)i * step + o->min;
		o->edges[MLOPS_COLSTATS_BINS] = o->max;
	}
	for (size_t i = 0; i < ns; i++)
		raw[bin_of(o->edges, MLOPS_COLSTATS_BINS, v[i])]++;
	if (o->quantiles_exact) {
		memcpy(o->counts, raw, sizeof(raw));
		return;
	}
	/* Scale the sample's counts to the column, largest remainders first. */
	{
		double scale = (double)c->n_num / (double)ns, rem[MLOPS_COLSTATS_BINS];
		uint64_t total = 0;
		for (size_t i = 0; i < MLOPS_COLSTATS_BINS; i++) {
			double x = (double)raw[i] * scale;
			o->counts[i] = (uint64_t)floor(x);
			rem[i] = x - floor(x);
			total += o->counts[i];
		}
		while (total < c->n_num) {
			size_t best = 0;
			for (size_t i = 1; i < MLOPS_COLSTATS_BINS; i++)
				if (rem[i] > rem[best])
					best = i;
			o->counts[best]++;
			rem[best] = -1;
			total++;
		}
	}
}

/* The value of a table entry as text, into buf. */
static size_t value_text(const unsigned char *arena, const struct vent *v, char *buf,
			 size_t bufsize)
{
	int kind = entry_kind(v);
	if (kind == K_INT)
		return (size_t)snprintf(buf, bufsize, "%lld", (long long)(int64_t)v->key);
	if (kind == K_FLOAT) {
		double dv;
		int n = 0;
		memcpy(&dv, &v->key, 8);
		for (int prec = 1; prec <= 17; prec++) {
			n = snprintf(buf, bufsize, "%.*g", prec, dv);
			if (strtod(buf, NULL) == dv)
				break;
		}
		return (size_t)n;
	}
	if (kind == K_BOOL)
		return (size_t)snprintf(buf, bufsize, "%s", v->key ? "true" : "false");
	{
		size_t n = stored_len((uint32_t)v->key);
		if (n >= bufsize)
			n = bufsize - 1;
		memcpy(buf, entry_text(arena, v), n);
		buf[n] = '\0';
		return n;
	}
}

static double entry_number(const struct vent *v)
{
	double d;
	if (entry_kind(v) == K_INT)
		return (double)(int64_t)v->key;
	memcpy(&d, &v->key, 8);
	return d;
}

/*
 * Order of the top values: count descending; ties: numbers by value
 * before booleans before text, text by its bytes.
 */
static int cmp_top(const struct vent *x, const struct vent *y, const unsigned char *arena)
{
	int kx = entry_kind(x), ky = entry_kind(y), nx, ny;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	nx = kx == K_INT || kx == K_FLOAT ? 0 : kx == K_BOOL ? 1 : 2;
	ny = ky == K_INT || ky == K_FLOAT ? 0 : ky == K_BOOL ? 1 : 2;
	if (nx != ny)
		return nx < ny ? -1 : 1;
	if (nx == 0) {
		if (kx == K_INT && ky == K_INT)
			return (int64_t)x->key < (int64_t)y->key ? -1 : (int64_t)x->key > (int64_t)y->key;
		return entry_number(x) < entry_number(y) ? -1 : entry_number(x) > entry_number(y);
	}
	if (nx == 1)
		return x->key < y->key ? -1 : x->key > y->key;
	{
		size_t lx = stored_len((uint32_t)x->key), ly = stored_len((uint32_t)y->key);
		int r = memcmp(entry_text(arena, x), entry_text(arena, y), lx < ly ? lx : ly);
		if (r)
			return r;
		return lx < ly ? -1 : lx > ly;
	}
}

static int finish_top(struct col *c)
{
	struct mlops_column_stats *o = &c->out;
	struct vtab *t = &c->tab;
	struct vent all[MLOPS_COLSTATS_TOP];
	size_t n = 0, ntop, total = 0;
	char buf[KEY_STORED + 64];
	char *w;

	/*
	 * Beyond exact counting a Misra-Gries count is a lower bound, short by
	 * at most err = count / (k + 1): only counters above err are shown,
	 * values that surely occur more than that often.  Every value that
	 * occurs more than 2 * err times is among them; a counter at or below
	 * err may be noise (a value seen once), unrelated to the real top.
	 */
	uint64_t err = c->mg ? c->count / (MLOPS_COLSTATS_MG + 1) : 0;
	/* keep the best MLOPS_COLSTATS_TOP in order, by insertion */
	for (size_t i = 0; i < t->cap; i++) {
		const struct vent *v = &t->slots[i];
		size_t j;
		if (!v->count || (c->mg && v->count <= err))
			continue;
		if (n == MLOPS_COLSTATS_TOP && cmp_top(v, &all[n - 1], t->arena) >= 0)
			continue;
		j = n < MLOPS_COLSTATS_TOP ? n++ : n - 1;
		while (j > 0 && cmp_top(v, &all[j - 1], t->arena) < 0) {
			all[j] = all[j - 1];
			j--;
		}
		all[j] = *v;
	}
	ntop = n;
	for (size_t i = 0; i < ntop; i++)
		total += value_text(t->arena, &all[i], buf, sizeof(buf)) + 1;
	c->top_text = malloc(total ? total : 1);
	if (!c->top_text)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	w = c->top_text;
	for (size_t i = 0; i < ntop; i++) {
		size_t len = value_text(t->arena, &all[i], buf, sizeof(buf));
		memcpy(w, buf, len + 1);
		o->top[i].value = w;
		o->top[i].count = all[i].count;
		w += len + 1;
	}
	o->ntop = ntop;
	o->top_exact = !c->mg;
	o->top_error = err;
	o->distinct_exact = !c->mg;
	o->distinct = c->mg ? (uint64_t)llround(hll_estimate(c->hll)) : t->used;
	/* An estimate above the values there are is no estimate. */
	if (o->distinct > c->count)
		o->distinct = c->count;
	return 0;
}

int mlops_colstats_finish(struct mlops_colstats *st)
{
	int error;
	if (st->finished)
		return 0;
	error = flush_batch(st);
	if (error == 0)
		error = wait_workers(st);
	stop_workers(st);
	if (error < 0)
		return error;
	for (size_t i = 0; i < st->ncols; i++) {
		struct col *c = &st->cols[i];
		struct mlops_column_stats *o = &c->out;
		o->name = c->name;
		o->count = c->count;
		o->missing = c->missing;
		o->std = o->mean = o->min = o->max = o->p25 = o->p50 = o->p75 = NAN;
		if ((error = finish_top(c)) < 0)
			return error;
		if (c->count == 0)
			o->type = MLOPS_COL_EMPTY;
		else if (c->n_bool == c->count)
			o->type = MLOPS_COL_BOOLEAN;
		else if (c->n_int == c->count)
			o->type = MLOPS_COL_INTEGER;
		else if (c->n_int + c->n_float == c->count)
			o->type = MLOPS_COL_FLOAT;
		else if (c->n_date == c->count)
			o->type = MLOPS_COL_DATETIME;
		else if (o->distinct_exact && o->distinct <= 1000 && o->distinct < o->count &&
			 (o->distinct <= 20 || o->distinct * 10 <= o->count))
			o->type = MLOPS_COL_CATEGORICAL;
		else
			o->type = MLOPS_COL_TEXT;
		o->datetime_has_time = c->date_time;
		if ((o->type == MLOPS_COL_INTEGER || o->type == MLOPS_COL_FLOAT ||
		     o->type == MLOPS_COL_DATETIME) && c->n_num == c->count)
			finish_numeric(c);
		/* the big structures are no longer needed */
		vtab_free(&c->tab);
		vtab_free(&c->spare);
		free(c->hll);
		c->hll = NULL;
	}
	st->finished = 1;
	return 0;
}

uint64_t mlops_colstats_rows(const struct mlops_colstats *st)
{
	return st->rows;
}

size_t mlops_colstats_ncols(const struct mlops_colstats *st)
{
	return st->ncols;
}

const struct mlops_column_stats *mlops_colstats_column(const struct mlops_colstats *st,
						       size_t i)
{
	if (!st->finished || i >= st->ncols)
		return NULL;
	return &st->cols[i].out;
}

/* ---- JSON ---- */

/* ISO 8601 text of seconds since the epoch (UTC). */
static void iso_time(char buf[64], double secs, int has_time, int zone)
{
	double fl = floor(secs);
	int64_t s = (int64_t)fl, days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
	int64_t sod = s - days * 86400, y;
	unsigned m, d;
	long usec = lround((secs - fl) * 1e6);
	int n;
	if (usec >= 1000000) {
		usec = 999999;
	}
	civil_from_days(days, &y, &m, &d);
	n = snprintf(buf, 64, "%04lld-%02u-%02u", (long long)y, m, d);
	if (!has_time && sod == 0 && usec == 0)
		return;
	n += snprintf(buf + n, (size_t)(64 - n), "T%02d:%02d:%02d", (int)(sod / 3600),
		      (int)(sod / 60 % 60), (int)(sod % 60));
	if (usec) {
		n += snprintf(buf + n, (size_t)(64 - n), ".%06ld", usec);
		while (buf[n - 1] == '0')
			buf[--n] = '\0';
	}
	if (zone)
		snprintf(buf + n, (size_t)(64 - n), "Z");
}

static cJSON *stat_value(const struct col *c, double x)
{
	if (c->out.type == MLOPS_COL_DATETIME && isfinite(x)) {
		char buf[64];
		iso_time(buf, x, c->date_time, c->date_zone);
		return cJSON_CreateString(buf);
	}
	if (!isfinite(x))
		return cJSON_CreateNull();
	return cJSON_CreateNumber(x);
}

static cJSON *column_json(const struct col *c)
{
	const struct mlops_column_stats *o = &c->out;
	cJSON *j = cJSON_CreateObject(), *top, *h, *a, *b;
	uint64_t shown = 0;
	int ok = j != NULL;

	if (!j)
		return NULL;
	ok &= cJSON_AddStringToObject(j, "name", o->name) != NULL;
	ok &= cJSON_AddStringToObject(j, "type", mlops_coltype_name(o->type)) != NULL;
	ok &= cJSON_AddNumberToObject(j, "count", (double)o->count) != NULL;
	ok &= cJSON_AddNumberToObject(j, "missing", (double)o->missing) != NULL;
	ok &= cJSON_AddNumberToObject(j, "distinct", (double)o->distinct) != NULL;
	ok &= cJSON_AddBoolToObject(j, "distinct_exact", o->distinct_exact) != NULL;
	if (o->numeric) {
		ok &= cJSON_AddItemToObject(j, "mean", stat_value(c, o->mean));
		ok &= cJSON_AddItemToObject(j, "std", isfinite(o->std) ?
			cJSON_CreateNumber(o->std) : cJSON_CreateNull());
		ok &= cJSON_AddItemToObject(j, "min", stat_value(c, o->min));
		ok &= cJSON_AddItemToObject(j, "p25", stat_value(c, o->p25));
		ok &= cJSON_AddItemToObject(j, "p50", stat_value(c, o->p50));
		ok &= cJSON_AddItemToObject(j, "p75", stat_value(c, o->p75));
		ok &= cJSON_AddItemToObject(j, "max", stat_value(c, o->max));
		ok &= cJSON_AddBoolToObject(j, "quantiles_exact", o->quantiles_exact) != NULL;
	} else {
		static const char *const keys[] = { "mean", "std", "min", "p25", "p50", "p75", "max", "quantiles_exact" };
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			ok &= cJSON_AddNullToObject(j, keys[i]) != NULL;
	}
	top = cJSON_AddArrayToObject(j, "top");
	ok &= top != NULL;
	for (size_t i = 0; ok && i < o->ntop && i < TOP_JSON; i++) {
		cJSON *e = cJSON_CreateObject();
		ok &= e != NULL && cJSON_AddItemToArray(top, e);
		ok &= ok && cJSON_AddStringToObject(e, "value", o->top[i].value) != NULL;
		ok &= ok && cJSON_AddNumberToObject(e, "count", (double)o->top[i].count) != NULL;
	}
	ok &= cJSON_AddBoolToObject(j, "top_exact", o->top_exact) != NULL;
	ok &= cJSON_AddNumberToObject(j, "top_error", (double)o->top_error) != NULL;
	if (!ok)
		goto fail;
	if (o->type == MLOPS_COL_EMPTY) {
		if (!cJSON_AddNullToObject(j, "histogram"))
			goto fail;
		return j;
	}
	h = cJSON_AddObjectToObject(j, "histogram");
	if (!h)
		goto fail;
	if (o->numeric) {
		a = cJSON_AddArrayToObject(h, "edges");
		b = cJSON_AddArrayToObject(h, "counts");
		if (!a || !b)
			goto fail;
		for (size_t i = 0; o->nbins && i <= o->nbins; i++)
			ok &= cJSON_AddItemToArray(a, stat_value(c, o->edges[i]));
		for (size_t i = 0; i < o->nbins; i++)
			ok &= cJSON_AddItemToArray(b, cJSON_CreateNumber((double)o->counts[i]));
	} else {
		a = cJSON_AddArrayToObject(h, "values");
		b = cJSON_AddArrayToObject(h, "counts");
		if (!a || !b)
			goto fail;
		for (size_t i = 0; i < o->ntop; i++) {
			ok &= cJSON_AddItemToArray(a, cJSON_CreateString(o->top[i].value));
			ok &= cJSON_AddItemToArray(b, cJSON_CreateNumber((double)o->top[i].count));
			shown += o->top[i].count;
		}
		ok &= cJSON_AddNumberToObject(h, "other",
			(double)(o->count > shown ? o->count - shown : 0)) != NULL;
	}
	if (!ok)
		goto fail;
	return j;
fail:
	cJSON_Delete(j);
	return NULL;
}

cJSON *mlops_colstats_to_json(const struct mlops_colstats *st)
{
	cJSON *root, *cols;
	if (!st->finished)
		return NULL;
	root = cJSON_CreateObject();
	if (!root)
		return NULL;
	if (!cJSON_AddNumberToObject(root, "rows", (double)st->rows) ||
	    !(cols = cJSON_AddArrayToObject(root, "columns")))
		goto fail;
	for (size_t i = 0; i < st->ncols; i++) {
		cJSON *c = column_json(&st->cols[i]);
		if (!c || !cJSON_AddItemToArray(cols, c)) {
			cJSON_Delete(c);
			goto fail;
		}
	}
	return root;
fail:
	cJSON_Delete(root);
	return NULL;
}

void mlops_colstats_free(struct mlops_colstats *st)
{
	if (!st)
		return;
	stop_workers(st);
	free(st->tids);
	if (st->sync_ready) {
		pthread_mutex_destroy(&st->mu);
		pthread_cond_destroy(&st->cv_work);
		pthread_cond_destroy(&st->cv_done);
	}
	for (int k = 0; k < 2; k++) {
		free(st->b[k].bytes);
		free(st->b[k].off);
		free(st->b[k].flen);
	}
	for (size_t i = 0; st->cols && i < st->ncols; i++) {
		struct col *c = &st->cols[i];
		free(c->name);
		free(c->sample);
		vtab_free(&c->tab);
		vtab_free(&c->spare);
		free(c->hll);
		free(c->top_text);
	}
	free(st->cols);
	free(st);
}

int mlops_colstats_from_file(cJSON **out, const char *path)
{
	struct mlops_csv *csv = NULL;
	struct mlops_colstats *st = NULL;
	struct mlops_csv_options opts = { .new_keys = 1 };
	const struct mlops_csv_field *f;
	const char *const *names;
	size_t n, ncols;
	int error;

	*out = NULL;
	if ((error = mlops_csv_open(&csv, path, &opts)) < 0)
		goto cleanup;
	names = mlops_csv_names(csv, &ncols);
	if ((error = mlops_colstats_new(&st, names, ncols)) < 0)
		goto cleanup;
	while ((error = mlops_csv_next(csv, &f, &n)) == 1) {
		size_t have = mlops_colstats_ncols(st);
		if (n > have) {
			/* a JSON-lines key no earlier line had: a column from here on */
			names = mlops_csv_names(csv, &ncols);
			if ((error = mlops_colstats_add_columns(st, names + have, ncols - have)) < 0)
				goto cleanup;
		}
		if ((error = mlops_colstats_add_row(st, f, n)) < 0)
			goto cleanup;
	}
	if (error < 0)
		goto cleanup;
	if ((error = mlops_colstats_finish(st)) < 0)
		goto cleanup;
	*out = mlops_colstats_to_json(st);
	if (!*out)
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
cleanup:
	mlops_colstats_free(st);
	mlops_csv_free(csv);
	return error;
}
