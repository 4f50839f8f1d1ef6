/*
 * monitor_acc.c - the streaming pieces of the monitor: telling missing
 * values and numbers from other text, a bounded string counter, and the
 * per-column accumulator that both the baseline and the check feed.
 *
 * Design notes.
 *  - Numbers are parsed by hand: digits are gathered into a 64-bit
 *    mantissa and, when it has at most 19 significant digits, fits 2^53 and
 *    the decimal exponent is within +-22, the value is m * 10^e or
 *    m / 10^-e in one correctly rounded operation (Clinger's fast path);
 *    anything else goes to strtod().  Either way the result is the
 *    correctly rounded double, the one NumPy and pandas read.
 *  - The accumulator keeps counts, moments shifted by the first value (so
 *    large offsets do not cancel), min and max, optional bins, a reservoir
 *    sample, up to MLOPS_MONITOR_FEW distinct numbers, and a bounded table
 *    of texts.  Nothing is allocated per value once the tables are full.
 */
#include "core/monitor_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/drift.h"
#include "store/error.h"

/* ---- values ----------------------------------------------------------- */

int mon_is_missing(const char *p, size_t len)
{
	static const struct {
		const char *s;
		size_t len;
	} na[] = {
		{ "NA", 2 }, { "N/A", 3 }, { "n/a", 3 }, { "NaN", 3 }, { "nan", 3 }, { "-NaN", 4 },
		{ "-nan", 4 }, { "null", 4 }, { "NULL", 4 }, { "None", 4 }, { "<NA>", 4 },
		{ "#N/A", 4 }, { "#NA", 3 }, { "#N/A N/A", 8 }, { "1.#IND", 6 }, { "-1.#IND", 7 },
		{ "1.#QNAN", 7 }, { "-1.#QNAN", 8 },
	};
	if (len == 0)
		return 1;
	if (len > 8)
		return 0;
	switch (p[0]) {
	case 'N': case 'n': case '-': case '<': case '#': case '1':
		break;
	default:
		return 0;
	}
	for (size_t i = 0; i < sizeof(na) / sizeof(na[0]); i++)
		if (na[i].len == len && !memcmp(na[i].s, p, len))
			return 1;
	return 0;
}

static const double pow10_exact[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

int mon_parse_number(const char *p, size_t len, double *out)
{
	const char *s = p, *e = p + len, *num;
	uint64_t m = 0;
	int nd = 0, digits = 0, dropped = 0, kind = 1, neg = 0;
	long exp10 = 0;

	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	num = s;
	if (s < e && (*s == '+' || *s == '-'))
		neg = *s++ == '-';
	for (; s < e && *s >= '0' && *s <= '9'; s++, digits++) {
		if (nd < 19) {
			m = m * 10 + (uint64_t)(*s - '0');
			nd += m != 0;
		} else {
			exp10++;
			dropped |= *s != '0';
		}
	}
	if (s < e && *s == '.') {
		kind = 2;
		for (s++; s < e && *s >= '0' && *s <= '9'; s++, digits++) {
			if (nd < 19) {
				m = m * 10 + (uint64_t)(*s - '0');
				nd += m != 0;
				exp10--;
			} else {
				dropped |= *s != '0';
			}
		}
	}
	if (!digits)
		return 0;
	if (s < e && (*s == 'e' || *s == 'E')) {
		long x = 0;
		int xneg = 0, xd = 0;
		kind = 2;
		s++;
		if (s < e && (*s == '+' || *s == '-'))
			xneg = *s++ == '-';
		for (; s < e && *s >= '0' && *s <= '9'; s++, xd++)
			if (x < 100000)
				x = x * 10 + (*s - '0');
		if (!xd)
			return 0;
		exp10 += xneg ? -x : x;
	}
	if (s != e)
		return 0;
	if (m == 0 && !dropped) {
		*out = neg ? -0.0 : 0.0;
		return kind;
	}
	if (!dropped && m <= (UINT64_C(1) << 53) && exp10 >= -22 && exp10 <= 22) {
		double v = (double)m;
		v = exp10 >= 0 ? v * pow10_exact[exp10] : v / pow10_exact[-exp10];
		*out = neg ? -v : v;
		return kind;
	}
	char buf[128], *heap = NULL, *t = buf, *end;
	size_t n = (size_t)(e - num);
	if (n >= sizeof(buf) && !(t = heap = malloc(n + 1)))
		return 0;
	memcpy(t, num, n);
	t[n] = 0;
	double v = strtod(t, &end);
	int ok = end == t + n && isfinite(v);
	free(heap);
	if (!ok)
		return 0;
	*out = v;
	return kind;
}

int mon_is_infinity(const char *p, size_t len)
{
	const char *s = p, *e = p + len;
	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	if (s < e && (*s == '+' || *s == '-'))
		s++;
	size_t n = (size_t)(e - s);
	return (n == 3 && !strncasecmp(s, "inf", 3)) || (n == 8 && !strncasecmp(s, "infinity", 8));
}

const char *mon_number_text(char buf[32], double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

/* ---- the string counter ------------------------------------------------ */

static uint64_t hash_bytes(const char *p, size_t len)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * UINT64_C(0x100000001b3);
	return h ^ (h >> 29);
}

int mon_strmap_init(struct mon_strmap *m, size_t limit)
{
	memset(m, 0, sizeof(*m));
	m->limit = limit;
	m->nslots = 16;
	while (m->nslots < 2 * limit)
		m->nslots <<= 1;
	m->slots = calloc(m->nslots, sizeof(*m->slots));
	if (!m->slots)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	return 0;
}

void mon_strmap_free(struct mon_strmap *m)
{
	free(m->off);
	free(m->len);
	free(m->count);
	free(m->slots);
	free(m->arena);
	memset(m, 0, sizeof(*m));
}

static size_t find_slot(const struct mon_strmap *m, const char *p, size_t len, int *found)
{
	size_t mask = m->nslots - 1, i = (size_t)hash_bytes(p, len) & mask;
	for (;; i = (i + 1) & mask) {
		uint32_t s = m->slots[i];
		if (!s) {
			*found = 0;
			return i;
		}
		if (m->len[s - 1] == len && !memcmp(m->arena + m->off[s - 1], p, len)) {
			*found = 1;
			return i;
		}
	}
}

long mon_strmap_find(const struct mon_strmap *m, const char *p, size_t len)
{
	int found;
	if (!m->slots)
		return -1;
	size_t i = find_slot(m, p, len, &found);
	return found ? (long)m->slots[i] - 1 : -1;
}

int mon_strmap_add(struct mon_strmap *m, const char *p, size_t len, uint64_t n)
{
	int found;
	size_t i = find_slot(m, p, len, &found);
	if (found) {
		m->count[m->slots[i] - 1] += n;
		return 0;
	}
	if (m->n >= m->limit || len > UINT32_MAX) {
		m->full = 1;
		m->overflow += n;
		return 0;
	}
	if (m->n == 0 && !m->off) {
		m->off = malloc(m->limit * sizeof(*m->off));
		m->len = malloc(m->limit * sizeof(*m->len));
		m->count = malloc(m->limit * sizeof(*m->count));
		if (!m->off || !m->len || !m->count)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	if (m->arena_len + len + 1 > m->arena_cap) {
		size_t cap = m->arena_cap ? m->arena_cap * 2 : 4096;
		while (cap < m->arena_len + len + 1)
			cap *= 2;
		char *a = realloc(m->arena, cap);
		if (!a)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		m->arena = a;
		m->arena_cap = cap;
	}
	memcpy(m->arena + m->arena_len, p, len);
	m->arena[m->arena_len + len] = 0;
	m->off[m->n] = m->arena_len;
	m->len[m->n] = (uint32_t)len;
	m->count[m->n] = n;
	m->arena_len += len + 1;
	m->slots[i] = (uint32_t)(++m->n);
	return 0;
}

int mon_names_unique(size_t *first, size_t *dup, const char *const *names, size_t n)
{
	struct mon_strmap m;
	int err;
	if ((err = mon_strmap_init(&m, n)) < 0)
		return err;
	for (size_t j = 0; j < n; j++) {
		size_t len = strlen(names[j]);
		long i = mon_strmap_find(&m, names[j], len);
		if (i >= 0) {
			*first = (size_t)m.count[i];
			*dup = j;
			mon_strmap_free(&m);
			return 0;
		}
		if ((err = mon_strmap_add(&m, names[j], len, j)) < 0) {
			mon_strmap_free(&m);
			return err;
		}
	}
	mon_strmap_free(&m);
	return 1;
}

/* ---- the accumulator --------------------------------------------------- */

int mon_acc_init(struct mon_acc *a, size_t sample, uint64_t seed, size_t text_limit)
{
	int err;
	memset(a, 0, sizeof(*a));
	a->all_int = 1;
	a->parse = 1;
	if (sample && (err = mlops_reservoir_new(&a->res, sample, seed)) < 0)
		return err;
	if (text_limit) {
		a->track_text = 1;
		if ((err = mon_strmap_init(&a->text, text_limit)) < 0)
			return err;
	}
	return 0;
}

void mon_acc_free(struct mon_acc *a)
{
	mlops_reservoir_free(a->res);
	mon_strmap_free(&a->text);
	free(a->bins);
	free(a->catc);
	memset(a, 0, sizeof(*a));
}

size_t mon_bin_of(const double *edges, size_t nbins, double v)
{
	/* the number of inner edges edges[1..nbins-1] that are <= v: at most
	   MLOPS_MONITOR_BINS - 1 compares, without branches to mispredict */
	size_t i = 0;
	for (size_t k = 1; k < nbins; k++)
		i += edges[k] <= v;
	return i;
}

static int acc_num(struct mon_acc *a, double v, int isint)
{
	if (a->binonly) {
		if (a->bins)
			a->bins[mon_bin_of(a->edges, a->nbins, v)]++;
		return 0;
	}
	a->count++;
	a->numbers++;
	a->all_int &= isint;
	if (!a->has_shift) {
		a->has_shift = 1;
		a->shift = a->min = a->max = v;
	}
	double d = v - a->shift;
	a->s1 += d;
	a->s2 += d * d;
	if (v < a->min)
		a->min = v;
	if (v > a->max)
		a->max = v;
	if (a->res)
		mlops_reservoir_add(a->res, v);
	if (a->bins)
		a->bins[mon_bin_of(a->edges, a->nbins, v)]++;
	if (a->track_few && !a->few_over) {
		size_t i;
		for (i = 0; i < a->nfew && a->fewv[i] != v; i++)
			;
		if (i < a->nfew)
			a->fewc[i]++;
		else if (a->nfew < MLOPS_MONITOR_FEW) {
			a->fewv[a->nfew] = v;
			a->fewc[a->nfew++] = 1;
		} else
			a->few_over = 1;
	}
	return 0;
}

int mon_acc_number(struct mon_acc *a, double v)
{
	if (!isfinite(v))
		return mon_acc_text(a, v != v ? "nan" : v > 0 ? "inf" : "-inf",
				    v != v ? 3 : v > 0 ? 3 : 4);
	return acc_num(a, v, v == floor(v) && fabs(v) < 9007199254740992.0);
}

int mon_acc_text(struct mon_acc *a, const char *p, size_t len)
{
	double v;
	int k;
	if (a->binonly) {
		if (a->parse && (k = mon_parse_number(p, len, &v)))
			acc_num(a, v, k == 1);
		return 0;
	}
	/* a number is never missing: parse first where numbers are expected */
	if (a->parse && !a->cats && (k = mon_parse_number(p, len, &v))) {
		acc_num(a, v, k == 1);
		return a->text_all ? mon_strmap_add(&a->text, p, len, 1) : 0;
	}
	if (a->nonfinite_ok && !a->cats && mon_is_infinity(p, len)) {
		a->count++;
		a->nonfinite++;
		return 0;
	}
	if (mon_is_missing(p, len)) {
		a->missing++;
		return 0;
	}
	a->count++;
	if (a->cats) {
		long i = mon_strmap_find(a->cats, p, len);
		if (i >= 0) {
			a->catc[i]++;
			return 0;
		}
	}
	a->nonnum++;
	return a->track_text ? mon_strmap_add(&a->text, p, len, 1) : 0;
}

double mon_acc_mean(const struct mon_acc *a)
{
	return a->numbers ? a->shift + a->s1 / (double)a->numbers : NAN;
}

double mon_acc_std(const struct mon_acc *a)
{
	double n = (double)a->numbers;
	if (a->numbers < 2)
		return NAN;
	double var = (a->s2 - a->s1 * a->s1 / n) / (n - 1);
	return var > 0 ? sqrt(var) : 0;
}
