/*
 * feature_transform.c - the fitted transform set of a feature set: spec and
 * params parsing with field-naming errors, fitting in one streaming pass,
 * row evaluation (the one code path of materialise, train and serve, and of
 * the raw current data of a drift check, turned into feature columns),
 * times and durations, and the small helpers the feature module shares
 * (string map, number parsing and formatting, CSV fields in memory).
 */
#include "feature_int.h"
#include "colstats.h"
#include "csv.h"
#include "store/error.h"
#include "store/fsutil.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- times and durations ---------------------------------------------- */

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

static int digits(const char *p, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

static int bad_time(const char *text, size_t len)
{
	return mlops_error_set(MLOPS_EINVALID,
			       "'%.*s' is not a time (ISO 8601 such as 2024-05-01T12:30:00Z, or epoch seconds)",
			       (int)(len > 64 ? 64 : len), text);
}

/* Milliseconds from a fraction ".ddd..." (truncated to milliseconds). */
static int frac_ms(const char **pp, const char *end, int64_t *ms)
{
	const char *p = *pp;
	int64_t v = 0;
	int n = 0;
	if (p >= end || (*p != '.' && *p != ','))
		return 0;
	p++;
	if (p >= end || !isdigit((unsigned char)*p))
		return -1;
	while (p < end && isdigit((unsigned char)*p)) {
		if (n < 3) {
			v = v * 10 + (*p - '0');
			n++;
		}
		p++;
	}
	while (n++ < 3)
		v *= 10;
	*ms = v;
	*pp = p;
	return 0;
}

int mlops_feature_parse_time(int64_t *out, const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t n = (size_t)(end - p);
	if (n == 0)
		return bad_time(text, len);
	/* Epoch seconds: [-]digits[.digits] */
	const char *q = p;
	if (*q == '-' || *q == '+')
		q++;
	const char *ds = q;
	while (q < end && isdigit((unsigned char)*q))
		q++;
	if (q > ds && (q == end || *q == '.')) {
		if (q - ds > 15)
			return bad_time(text, len);
		int64_t sec = 0, ms = 0;
		for (const char *r = ds; r < q; r++)
			sec = sec * 10 + (*r - '0');
		if (frac_ms(&q, end, &ms) < 0 || q != end)
			return bad_time(text, len);
		int64_t v = sec * 1000 + ms;
		*out = *p == '-' ? -v : v;
		return 0;
	}
	/* YYYY-MM-DD */
	int y, mo, d, h = 0, mi = 0, s = 0;
	int64_t ms = 0, off = 0;
	if (n < 10 || digits(p, 4, &y) || p[4] != '-' || digits(p + 5, 2, &mo) || p[7] != '-' ||
	    digits(p + 8, 2, &d))
		return bad_time(text, len);
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (mo < 1 || mo > 12 || d < 1)
		return bad_time(text, len);
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[mo - 1] + (mo == 2 && leap))
		return bad_time(text, len);
	q = p + 10;
	if (q < end) {
		if (*q != 'T' && *q != 't' && *q != ' ')
			return bad_time(text, len);
		q++;
		if (end - q < 5 || digits(q, 2, &h) || q[2] != ':' || digits(q + 3, 2, &mi))
			return bad_time(text, len);
		q += 5;
		if (q < end && *q == ':') {
			if (end - q < 3 || digits(q + 1, 2, &s))
				return bad_time(text, len);
			q += 3;
			if (frac_ms(&q, end, &ms) < 0)
				return bad_time(text, len);
		}
		if (h > 23 || mi > 59 || s > 59)
			return bad_time(text, len);
		if (q < end) {
			if ((*q == 'Z' || *q == 'z') && q + 1 == end) {
				q++;
			} else if (*q == '+' || *q == '-') {
				int sign = *q == '-' ? -1 : 1, oh, om = 0;
				q++;
				size_t rest = (size_t)(end - q);
				if (rest == 2 && !digits(q, 2, &oh))
					;
				else if (rest == 4 && !digits(q, 2, &oh) && !digits(q + 2, 2, &om))
					;
				else if (rest == 5 && !digits(q, 2, &oh) && q[2] == ':' &&
					 !digits(q + 3, 2, &om))
					;
				else
					return bad_time(text, len);
				if (oh > 23 || om > 59)
					return bad_time(text, len);
				off = sign * ((int64_t)oh * 3600 + om * 60) * 1000;
				q = end;
			} else {
				return bad_time(text, len);
			}
		}
	}
	int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
	*out = ((days * 24 + h) * 60 + mi) * 60000 + (int64_t)s * 1000 + ms - off;
	return 0;
}

char *mlops_feature_format_time(char buf[48], int64_t ms)
{
	int64_t days = ms / 86400000, rem = ms % 86400000;
	if (rem < 0) {
		rem += 86400000;
		days--;
	}
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	int h = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), s = (int)(rem / 1000 % 60);
	int f = (int)(rem % 1000);
	if (f)
		snprintf(buf, 48, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d, h, mi, s, f);
	else
		snprintf(buf, 48, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d, h, mi, s);
	return buf;
}

int mlops_feature_parse_duration(int64_t *out, const char *text)
{
	const char *p = text;
	int64_t v = 0;
	if (!text || !isdigit((unsigned char)*p))
		goto bad;
	while (isdigit((unsigned char)*p)) {
		if (v > 1000000000000LL)
			goto bad;
		v = v * 10 + (*p++ - '0');
	}
	int64_t unit;
	if (!strcmp(p, "ms"))
		unit = 1;
	else if (!strcmp(p, "s"))
		unit = 1000;
	else if (!strcmp(p, "m"))
		unit = 60000;
	else if (!strcmp(p, "h"))
		unit = 3600000;
	else if (!strcmp(p, "d"))
		unit = 86400000;
	else if (!strcmp(p, "w"))
		unit = 7 * 86400000LL;
	else
		goto bad;
	if (v == 0 || v > INT64_MAX / unit)
		goto bad;
	*out = v * unit;
	return 0;
bad:
	return mlops_error_set(MLOPS_EINVALID, "'%s' is not a duration (e.g. 30m, 12h, 7d)",
			       text ? text : "");
}

/* ---- values ------------------------------------------------------------- */

int ft_is_missing(const char *p, size_t len)
{
	static const char *const na[] = { "na", "n/a", "nan", "null", "none", "<na>", "#n/a",
					  "-nan" };
	while (len && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 1;
	if (len > 4)
		return 0;
	for (size_t i = 0; i < sizeof(na) / sizeof(na[0]); i++)
		if (strlen(na[i]) == len && !strncasecmp(na[i], p, len))
			return 1;
	return 0;
}

int ft_number(double *out, const char *p, size_t len)
{
	char buf[72];
	if (ft_is_missing(p, len)) {
		*out = NAN;
		return 1;
	}
	while (len && (*p == ' ' || *p == '\t')) {
		p++;
		len--;
	}
	while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len >= sizeof(buf))
		return -1;
	/* Only decimal numbers: no hex, no inf/nan words. */
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'))
			return -1;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	char *end;
	double v = strtod(buf, &end);
	if (end != buf + len || end == buf)
		return -1;
	if (isinf(v))
		return -2; /* beyond the largest double (1e400) */
	*out = v;
	return 0;
}

size_t ft_format_num(char buf[40], double v)
{
	if (!isfinite(v)) {
		buf[0] = '\0';
		return 0;
	}
	if (v == 0)
		v = 0; /* no "-0" */
	if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
		/* Integers (counts, one-hot, sums of integers): no printf. */
		char tmp[24];
		int64_t x = (int64_t)v;
		uint64_t u = x < 0 ? (uint64_t)(-x) : (uint64_t)x;
		size_t n = 0, o = 0;
		do {
			tmp[n++] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		if (x < 0)
			buf[o++] = '-';
		while (n)
			buf[o++] = tmp[--n];
		buf[o] = '\0';
		return o;
	}
	for (int prec = 15; prec <= 17; prec++) {
		int n = snprintf(buf, 40, "%.*g", prec, v);
		if (prec == 17 || strtod(buf, NULL) == v)
			return (size_t)n;
	}
	return strlen(buf);
}

/* ---- string map ----------------------------------------------------------- */

static uint32_t hash_bytes(const char *p, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	h ^= h >> 29;
	return (uint32_t)(h ^ (h >> 32));
}

int ft_map_init(struct ft_map *m, size_t hint, int copy)
{
	memset(m, 0, sizeof(*m));
	size_t cap = 64;
	while (cap < hint * 2)
		cap <<= 1;
	m->slots = calloc(cap, sizeof(*m->slots));
	if (!m->slots)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	m->cap = cap;
	m->copy = copy;
	return 0;
}

static int map_grow(struct ft_map *m)
{
	size_t cap = m->cap * 2;
	struct ft_map_slot *s = calloc(cap, sizeof(*s));
	if (!s)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].key)
			continue;
		size_t j = m->slots[i].hash & (cap - 1);
		while (s[j].key)
			j = (j + 1) & (cap - 1);
		s[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = s;
	m->cap = cap;
	return 0;
}

static const char *map_copy_key(struct ft_map *m, const char *key, size_t len)
{
	if (!m->blocks || m->block_used + len + 1 > m->block_cap) {
		size_t cap = len + 1 > (1u << 20) ? len + 1 : (1u << 20);
		char **b = realloc(m->blocks, (m->nblocks + 1) * sizeof(*b));
		if (!b)
			return NULL;
		m->blocks = b;
		if (!(b[m->nblocks] = malloc(cap)))
			return NULL;
		m->nblocks++;
		m->block_used = 0;
		m->block_cap = cap;
	}
	char *dst = m->blocks[m->nblocks - 1] + m->block_used;
	memcpy(dst, key, len);
	dst[len] = '\0';
	m->block_used += len + 1;
	return dst;
}

struct ft_map_slot *ft_map_get(const struct ft_map *m, const char *key, size_t len)
{
	uint32_t h = hash_bytes(key, len);
	size_t j = h & (m->cap - 1);
	while (m->slots[j].key) {
		if (m->slots[j].hash == h && m->slots[j].len == len && !memcmp(m->slots[j].key, key, len))
			return &m->slots[j];
		j = (j + 1) & (m->cap - 1);
	}
	return NULL;
}

struct ft_map_slot *ft_map_put(struct ft_map *m, const char *key, size_t len, int *isnew)
{
	uint32_t h = hash_bytes(key, len);
	size_t j = h & (m->cap - 1);
	*isnew = 0;
	while (m->slots[j].key) {
		if (m->slots[j].hash == h && m->slots[j].len == len && !memcmp(m->slots[j].key, key, len))
			return &m->slots[j];
		j = (j + 1) & (m->cap - 1);
	}
	if ((m->count + 1) * 4 > m->cap * 3) {
		if (map_grow(m) < 0)
			return NULL;
		j = h & (m->cap - 1);
		while (m->slots[j].key)
			j = (j + 1) & (m->cap - 1);
	}
	const char *k = m->copy ? map_copy_key(m, key, len) : key;
	if (!k)
		return NULL;
	m->slots[j].key = k;
	m->slots[j].len = (uint32_t)len;
	m->slots[j].hash = h;
	m->slots[j].value = 0;
	m->count++;
	*isnew = 1;
	return &m->slots[j];
}

void ft_map_free(struct ft_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nblocks; i++)
		free(m->blocks[i]);
	free(m->blocks);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/* ---- CSV fields in memory ------------------------------------------------ */

long ft_csv_split(const char **pos, const char *end, struct mlops_csv_field *fields,
		  size_t max, char **scratch, size_t *scratch_cap, const char **raw_end)
{
	const char *p = *pos;
	size_t n = 0, used = 0;
	for (;;) {
		const char *start = p;
		if (p < end && *p == '"') {
			/* Find the closing quote first, so scratch grows by this field only. */
			const char *q = p + 1;
			while (q < end) {
				if (*q == '"') {
					if (q + 1 < end && q[1] == '"') {
						q += 2;
						continue;
					}
					break;
				}
				q++;
			}
			size_t span = (size_t)(q - p);
			if (n < max && *scratch_cap < used + span + 1) {
				size_t cap = (used + span + 1) * 2 + 256;
				char *s = realloc(*scratch, cap);
				if (!s)
					return -1;
				for (size_t i = 0; i < n; i++)
					if (*scratch && fields[i].ptr >= *scratch &&
					    fields[i].ptr < *scratch + *scratch_cap)
						fields[i].ptr = s + (fields[i].ptr - *scratch);
				*scratch = s;
				*scratch_cap = cap;
			}
			char *dst = n < max ? *scratch + used : NULL;
			size_t l = 0;
			for (const char *r = p + 1; r < q; r++) {
				if (*r == '"')
					r++;
				if (dst)
					dst[l] = *r;
				l++;
			}
			p = q < end ? q + 1 : q;
			while (p < end && *p != ',' && *p != '\n' && *p != '\r')
				p++;
			if (n < max) {
				fields[n].ptr = dst;
				fields[n].len = l;
				used += l;
			}
		} else {
			while (p < end && *p != ',' && *p != '\n' && *p != '\r')
				p++;
			if (n < max) {
				fields[n].ptr = start;
				fields[n].len = (size_t)(p - start);
			}
		}
		n++;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		break;
	}
	if (raw_end)
		*raw_end = p;
	if (p < end && *p == '\r')
		p++;
	if (p < end && *p == '\n')
		p++;
	*pos = p;
	return (long)(n < max ? n : max);
}

size_t ft_csv_quote(char *buf, const char *s, size_t len)
{
	int q = 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') {
			q = 1;
			break;
		}
	if (!q) {
		memcpy(buf, s, len);
		return len;
	}
	size_t o = 0;
	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			buf[o++] = '"';
		buf[o++] = s[i];
	}
	buf[o++] = '"';
	return o;
}

long ft_key_join(char **buf, size_t *cap, const struct mlops_csv_field *f, size_t n)
{
	size_t need = n;
	for (size_t i = 0; i < n; i++)
		need += f[i].len;
	if (need > *cap) {
		char *b = realloc(*buf, need + 64);
		if (!b)
			return -1;
		*buf = b;
		*cap = need + 64;
	}
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (i)
			(*buf)[o++] = '\x1f';
		memcpy(*buf + o, f[i].ptr, f[i].len);
		o += f[i].len;
	}
	return (long)o;
}

/* ---- index pages ----------------------------------------------------------- */

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

long ft_page_count(const unsigned char *page, size_t len)
{
	if (len < 12 || memcmp(page, FT_PAGE_MAGIC, 8))
		return -1;
	uint32_t n = rd32(page + 8);
	if ((uint64_t)12 + (uint64_t)n * 4 > len)
		return -1;
	return (long)n;
}

int ft_page_entry(struct ft_index_entry *out, const unsigned char *page, size_t len, size_t i)
{
	long n = ft_page_count(page, len);
	if (n < 0 || i >= (size_t)n)
		return mlops_error_set(MLOPS_ECORRUPT, "feature index page is malformed");
	uint64_t off = rd32(page + 12 + 4 * i);
	if (off + 4 > len)
		return mlops_error_set(MLOPS_ECORRUPT, "feature index page is malformed");
	uint32_t kl = rd32(page + off);
	if (off + 4 + kl + 76 > len)
		return mlops_error_set(MLOPS_ECORRUPT, "feature index page is malformed");
	const unsigned char *p = page + off + 4;
	out->key = (const char *)p;
	out->keylen = kl;
	p += kl;
	out->offset = rd64(p);
	out->length = rd64(p + 8);
	out->rows = rd64(p + 16);
	out->first = (int64_t)rd64(p + 24);
	out->last = (int64_t)rd64(p + 32);
	memcpy(out->piece.id, p + 40, MLOPS_OID_RAWSZ);
	out->piece_off = rd32(p + 72);
	out->in_piece = !mlops_oid_is_zero(&out->piece);
	return 0;
}

/* ---- spec parsing -------------------------------------------------------- */

static const struct {
	const char *name;
	enum ft_kind kind;
} kinds[] = {
	{ "identity", FT_IDENTITY }, { "standardize", FT_STANDARDIZE }, { "minmax", FT_MINMAX },
	{ "log1p", FT_LOG1P }, { "clip", FT_CLIP }, { "bucketize", FT_BUCKETIZE },
	{ "one-hot", FT_ONEHOT }, { "fill-missing", FT_FILL }, { "count", FT_WCOUNT },
	{ "sum", FT_WSUM }, { "mean", FT_WMEAN }, { "min", FT_WMIN }, { "max", FT_WMAX },
};

static const char *kind_name(enum ft_kind k)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].kind == k)
			return kinds[i].name;
	return "?";
}

static int is_window(enum ft_kind k)
{
	return k >= FT_WCOUNT;
}

void mlops_feature_transform_free(struct mlops_feature_transform *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nentity; i++)
		free(t->entity[i]);
	free(t->entity);
	free(t->timestamp);
	free(t->created);
	for (size_t i = 0; i < t->nf; i++) {
		struct ft_feature *f = &t->f[i];
		free(f->name);
		free(f->column);
		free(f->edges);
		for (size_t k = 0; k < f->nvocab; k++)
			free(f->vocab[k]);
		free(f->vocab);
		free(f->vocab_len);
		free(f->fill_text);
	}
	free(t->f);
	for (size_t i = 0; i < t->ninputs; i++)
		free(t->inputs[i]);
	free(t->inputs);
	for (size_t i = 0; i < t->noutputs; i++)
		free(t->outputs[i]);
	free(t->outputs);
	free(t->out_window);
	free(t);
}

static int feature_name_valid(const char *s)
{
	if (!*s || strlen(s) > 128)
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '.' || *s == '-'))
			return 0;
	return 1;
}

static int add_input(struct mlops_feature_transform *t, const char *col, size_t *idx)
{
	for (size_t i = 0; i < t->ninputs; i++)
		if (!strcmp(t->inputs[i], col)) {
			*idx = i;
			return 0;
		}
	char **in = realloc(t->inputs, (t->ninputs + 1) * sizeof(*in));
	if (!in)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	t->inputs = in;
	if (!(in[t->ninputs] = strdup(col)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	*idx = t->ninputs++;
	return 0;
}

static int num_field(double *out, const cJSON *o, const char *key, const char *where, int *has)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (has)
		*has = 0;
	if (!v)
		return 0;
	if (cJSON_IsNull(v)) {
		*out = NAN;
		if (has)
			*has = 1;
		return 0;
	}
	if (!cJSON_IsNumber(v))
		return mlops_error_set(MLOPS_EINVALID, "%s.%s: expected a number", where, key);
	*out = v->valuedouble;
	if (has)
		*has = 1;
	return 0;
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static int cmp_vocab(const void *x, const void *y)
{
	const char *a = *(const char *const *)x, *b = *(const char *const *)y;
	return cmp_bytes(a, strlen(a), b, strlen(b));
}

/* Set a one-hot vocabulary from strings (copied), sorted, distinct. */
static int set_vocab(struct ft_feature *f, char **vals, size_t n, const char *where)
{
	f->vocab = vals;
	f->nvocab = n;
	qsort(vals, n, sizeof(*vals), cmp_vocab);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(vals[i - 1], vals[i]))
			return mlops_error_set(MLOPS_EINVALID, "%s.vocabulary: '%s' is listed twice", where,
					       vals[i]);
	f->vocab_len = malloc((n ? n : 1) * sizeof(*f->vocab_len));
	if (!f->vocab_len)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	for (size_t i = 0; i < n; i++)
		f->vocab_len[i] = strlen(vals[i]);
	return 0;
}

static int vocab_find(const struct ft_feature *f, const char *p, size_t len);

static int check_keys(const cJSON *o, const char *const *allowed, const char *where)
{
	const cJSON *c;
	cJSON_ArrayForEach(c, o) {
		int ok = 0;
		for (size_t i = 0; allowed[i]; i++)
			if (!strcmp(c->string, allowed[i]))
				ok = 1;
		if (!ok && where)
			return mlops_error_set(MLOPS_EINVALID, "%s: unknown field '%s'", where, c->string);
		if (!ok)
			return mlops_error_set(MLOPS_EINVALID, "unknown field '%s'", c->string);
	}
	return 0;
}

int ft_spec_str(const char **out, const cJSON *o, const char *key, const char *where)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	*out = NULL;
	if (!v)
		return 0;
	if (!cJSON_IsString(v))
		return where ? mlops_error_set(MLOPS_EINVALID, "%s.%s: must be a string", where, key) :
			       mlops_error_set(MLOPS_EINVALID, "%s: must be a string", key);
	*out = v->valuestring;
	return 0;
}

static int parse_feature(struct mlops_feature_transform *t, struct ft_feature *f, const cJSON *o,
			 size_t idx, int fitted)
{
	char where[64];
	int err, has;
	snprintf(where, sizeof(where), "features[%zu]", idx);
	if (!cJSON_IsObject(o))
		return mlops_error_set(MLOPS_EINVALID, "%s: expected an object", where);
	const char *name, *col, *tr;
	if ((err = ft_spec_str(&name, o, "name", where)) < 0)
		return err;
	if (!name)
		return mlops_error_set(MLOPS_EINVALID, "%s.name: missing (a string)", where);
	if (!feature_name_valid(name))
		return mlops_error_set(MLOPS_EINVALID,
				       "%s.name: '%s' is not a valid feature name ([A-Za-z0-9._-]+)", where, name);
	snprintf(where, sizeof(where), "features[%zu] ('%.40s')", idx, name);
	if ((err = ft_spec_str(&col, o, "column", where)) < 0 || (err = ft_spec_str(&tr, o, "transform", where)) < 0)
		return err;
	if (!(f->name = strdup(name)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (!tr)
		return mlops_error_set(MLOPS_EINVALID, "%s.transform: missing (one of identity, standardize, "
				       "minmax, log1p, clip, bucketize, one-hot, fill-missing, count, sum, mean, min, max)",
				       where);
	size_t k;
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (!strcmp(kinds[k].name, tr) ||
		    (!strcmp(tr, "onehot") && kinds[k].kind == FT_ONEHOT) ||
		    (!strcmp(tr, "fill_missing") && kinds[k].kind == FT_FILL))
			break;
	if (k == sizeof(kinds) / sizeof(kinds[0]))
		return mlops_error_set(MLOPS_EINVALID, "%s.transform: unknown transform '%s' (one of identity, "
				       "standardize, minmax, log1p, clip, bucketize, one-hot, fill-missing, count, "
				       "sum, mean, min, max)", where, tr);
	f->kind = kinds[k].kind;
	f->mean = f->std = f->min = f->max = NAN;
	f->fill_num = NAN;
	f->fitted = fitted;
	if (!col && f->kind != FT_WCOUNT)
		return mlops_error_set(MLOPS_EINVALID, "%s.column: missing (the source column)", where);
	if (col) {
		if (!(f->column = strdup(col)))
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		if ((err = add_input(t, col, &f->input)) < 0)
			return err;
	}
	static const char *const base[] = { "name", "column", "transform", NULL };
	static const char *const k_clip[] = { "name", "column", "transform", "min", "max", NULL };
	static const char *const k_bucket[] = { "name", "column", "transform", "edges", "bins", NULL };
	static const char *const k_bucket_fit[] = { "name", "column", "transform", "edges", "bins", "min",
						    "max", NULL };
	static const char *const k_onehot[] = { "name", "column", "transform", "unseen",
						"max_categories", "vocabulary", NULL };
	static const char *const k_fill[] = { "name", "column", "transform", "strategy", "value", NULL };
	static const char *const k_window[] = { "name", "column", "transform", "window", NULL };
	static const char *const k_std[] = { "name", "column", "transform", "mean", "std", NULL };
	static const char *const k_minmax[] = { "name", "column", "transform", "min", "max", NULL };
	const char *const *allowed = base;
	switch (f->kind) {
	case FT_IDENTITY:
	case FT_LOG1P:
		break;
	case FT_STANDARDIZE:
		allowed = fitted ? k_std : base;
		if (fitted && ((err = num_field(&f->mean, o, "mean", where, NULL)) < 0 ||
			       (err = num_field(&f->std, o, "std", where, NULL)) < 0))
			return err;
		break;
	case FT_MINMAX:
		allowed = fitted ? k_minmax : base;
		if (fitted && ((err = num_field(&f->min, o, "min", where, NULL)) < 0 ||
			       (err = num_field(&f->max, o, "max", where, NULL)) < 0))
			return err;
		break;
	case FT_CLIP:
		allowed = k_clip;
		if ((err = num_field(&f->lo, o, "min", where, &f->has_lo)) < 0 ||
		    (err = num_field(&f->hi, o, "max", where, &f->has_hi)) < 0)
			return err;
		if (!f->has_lo && !f->has_hi)
			return mlops_error_set(MLOPS_EINVALID, "%s: clip needs \"min\", \"max\" or both", where);
		if (f->has_lo && f->has_hi && f->lo > f->hi)
			return mlops_error_set(MLOPS_EINVALID, "%s.min: %g is above max %g", where, f->lo, f->hi);
		break;
	case FT_BUCKETIZE: {
		allowed = fitted ? k_bucket_fit : k_bucket;
		const cJSON *edges = cJSON_GetObjectItemCaseSensitive(o, "edges");
		const cJSON *bins = cJSON_GetObjectItemCaseSensitive(o, "bins");
		if (bins && !fitted) {
			if (edges)
				return mlops_error_set(MLOPS_EINVALID, "%s: give \"edges\" or \"bins\", not both", where);
			if (!cJSON_IsNumber(bins) || bins->valuedouble != floor(bins->valuedouble) ||
			    bins->valuedouble < 2 || bins->valuedouble > 1000)
				return mlops_error_set(MLOPS_EINVALID, "%s.bins: expected an integer from 2 to 1000",
						       where);
			f->bins = (long)bins->valuedouble;
			break;
		}
		if (bins)
			f->bins = (long)cJSON_GetNumberValue(bins);
		if (fitted && ((err = num_field(&f->min, o, "min", where, NULL)) < 0 ||
			       (err = num_field(&f->max, o, "max", where, NULL)) < 0))
			return err;
		if (!cJSON_IsArray(edges) || cJSON_GetArraySize(edges) < 1)
			return mlops_error_set(MLOPS_EINVALID,
					       "%s.edges: expected a non-empty array of increasing numbers (or \"bins\")",
					       where);
		size_t n = (size_t)cJSON_GetArraySize(edges);
		if (!(f->edges = malloc(n * sizeof(double))))
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		const cJSON *e;
		cJSON_ArrayForEach(e, edges) {
			if (!cJSON_IsNumber(e))
				return mlops_error_set(MLOPS_EINVALID, "%s.edges[%zu]: expected a number", where,
						       f->nedges);
			if (f->nedges && !(e->valuedouble > f->edges[f->nedges - 1]) && !f->bins)
				return mlops_error_set(MLOPS_EINVALID, "%s.edges[%zu]: edges must increase", where,
						       f->nedges);
			f->edges[f->nedges++] = e->valuedouble;
		}
		break;
	}
	case FT_ONEHOT: {
		allowed = k_onehot;
		const char *unseen;
		if ((err = ft_spec_str(&unseen, o, "unseen", where)) < 0)
			return err;
		if (unseen && strcmp(unseen, "zeros") && strcmp(unseen, "other"))
			return mlops_error_set(MLOPS_EINVALID, "%s.unseen: expected \"zeros\" or \"other\"", where);
		f->other = unseen && !strcmp(unseen, "other");
		double mc = 100;
		if ((err = num_field(&mc, o, "max_categories", where, &has)) < 0)
			return err;
		if (mc != floor(mc) || mc < 1 || mc > 100000)
			return mlops_error_set(MLOPS_EINVALID, "%s.max_categories: expected an integer from 1 to 100000",
					       where);
		f->max_categories = (long)mc;
		const cJSON *voc = cJSON_GetObjectItemCaseSensitive(o, "vocabulary");
		if (voc || fitted) {
			if (!cJSON_IsArray(voc))
				return mlops_error_set(MLOPS_EINVALID, "%s.vocabulary: expected an array of strings",
						       where);
			size_t n = (size_t)cJSON_GetArraySize(voc), i = 0;
			char **vals = calloc(n ? n : 1, sizeof(*vals));
			if (!vals)
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			const cJSON *e;
			cJSON_ArrayForEach(e, voc) {
				char buf[40];
				const char *s = cJSON_GetStringValue(e);
				if (!s && cJSON_IsNumber(e)) {
					ft_format_num(buf, e->valuedouble);
					s = buf;
				}
				if (!s || !(vals[i] = strdup(s))) {
					for (size_t j = 0; j < i; j++)
						free(vals[j]);
					free(vals);
					return s ? mlops_error_set(MLOPS_ERROR, "out of memory") :
						   mlops_error_set(MLOPS_EINVALID, "%s.vocabulary[%zu]: expected a string",
								   where, i);
				}
				i++;
			}
			f->vocab_given = !fitted;
			if ((err = set_vocab(f, vals, n, where)) < 0)
				return err;
			if (f->other && vocab_find(f, FT_OTHER, strlen(FT_OTHER)) >= 0)
				return mlops_error_set(MLOPS_EINVALID, "%s.vocabulary: '" FT_OTHER "' is the column of "
						       "unseen values with \"unseen\": \"other\"", where);
		}
		break;
	}
	case FT_FILL: {
		allowed = k_fill;
		const char *s;
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
		if ((err = ft_spec_str(&s, o, "strategy", where)) < 0)
			return err;
		if (!s)
			return mlops_error_set(MLOPS_EINVALID, "%s.strategy: missing (mean, median or constant)",
					       where);
		if (!strcmp(s, "mean"))
			f->fill = FT_FILL_MEAN;
		else if (!strcmp(s, "median"))
			f->fill = FT_FILL_MEDIAN;
		else if (!strcmp(s, "constant"))
			f->fill = FT_FILL_CONSTANT;
		else
			return mlops_error_set(MLOPS_EINVALID,
					       "%s.strategy: unknown strategy '%s' (mean, median or constant)", where, s);
		if (f->fill == FT_FILL_CONSTANT || fitted) {
			char buf[40];
			if (cJSON_IsNumber(v)) {
				ft_format_num(buf, v->valuedouble);
				f->fill_num = v->valuedouble;
				f->fill_text = strdup(buf);
			} else if (cJSON_IsString(v)) {
				f->fill_text = strdup(v->valuestring);
				if (ft_number(&f->fill_num, v->valuestring, strlen(v->valuestring)) != 0)
					f->fill_num = NAN;
			} else if (cJSON_IsNull(v) && fitted) {
				f->fill_text = strdup("");
			} else {
				return mlops_error_set(MLOPS_EINVALID, "%s.value: missing (a number or a string)", where);
			}
			if (!f->fill_text)
				return mlops_error_set(MLOPS_ERROR, "out of memory");
		} else if (v) {
			return mlops_error_set(MLOPS_EINVALID, "%s.value: only with strategy \"constant\"", where);
		}
		break;
	}
	default: {
		allowed = k_window;
		const char *w;
		if ((err = ft_spec_str(&w, o, "window", where)) < 0)
			return err;
		if (!w)
			return mlops_error_set(MLOPS_EINVALID, "%s.window: missing (a duration such as 7d)", where);
		if (mlops_feature_parse_duration(&f->window_ms, w) < 0)
			return mlops_error_set(MLOPS_EINVALID, "%s.window: '%s' is not a duration (e.g. 30m, 12h, 7d)",
					       where, w);
		f->win = t->nwindows++;
		break;
	}
	}
	if (!is_window(f->kind) && cJSON_GetObjectItemCaseSensitive(o, "window"))
		return mlops_error_set(MLOPS_EINVALID, "%s.window: only the aggregates count, sum, mean, "
				       "min and max take a window", where);
	return check_keys(o, allowed, where);
}

static int str_or_list(char ***out, size_t *n, const cJSON *v, const char *field)
{
	*out = NULL;
	*n = 0;
	if (cJSON_IsString(v) && *v->valuestring) {
		if (!(*out = malloc(sizeof(char *))) || !((*out)[0] = strdup(v->valuestring)))
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		*n = 1;
		return 0;
	}
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1)
		return mlops_error_set(MLOPS_EINVALID, "%s: expected a column name or a list of them", field);
	size_t cnt = (size_t)cJSON_GetArraySize(v);
	if (!(*out = calloc(cnt, sizeof(char *))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	const cJSON *e;
	cJSON_ArrayForEach(e, v) {
		if (!cJSON_IsString(e) || !*e->valuestring)
			return mlops_error_set(MLOPS_EINVALID, "%s[%zu]: expected a column name", field, *n);
		if (!((*out)[*n] = strdup(e->valuestring)))
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		(*n)++;
	}
	return 0;
}

int ft_parse(struct mlops_feature_transform **out, const cJSON *spec, int fitted)
{
	struct mlops_feature_transform *t = calloc(1, sizeof(*t));
	int err = 0;
	*out = NULL;
	if (!t)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (!cJSON_IsObject(spec)) {
		err = mlops_error_set(MLOPS_EINVALID, "expected a JSON object");
		goto fail;
	}
	static const char *const top_spec[] = { "name", "source", "file", "entity", "timestamp", "created",
						"ttl", "features", "description", NULL };
	static const char *const top_params[] = { "entity", "timestamp", "created", "ttl_ms", "features",
						  NULL };
	if ((err = check_keys(spec, fitted ? top_params : top_spec, NULL)) < 0)
		goto fail;
	if ((err = str_or_list(&t->entity, &t->nentity, cJSON_GetObjectItemCaseSensitive(spec, "entity"),
			       "entity")) < 0)
		goto fail;
	for (size_t i = 0; i < t->nentity; i++) {
		size_t idx;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(t->entity[k], t->entity[i])) {
				err = mlops_error_set(MLOPS_EINVALID, "entity[%zu]: '%s' is listed twice", i,
						      t->entity[i]);
				goto fail;
			}
		if ((err = add_input(t, t->entity[i], &idx)) < 0)
			goto fail;
	}
	const char *ts;
	if ((err = ft_spec_str(&ts, spec, "timestamp", NULL)) < 0)
		goto fail;
	if (!ts || !*ts) {
		err = mlops_error_set(MLOPS_EINVALID, "timestamp: missing (the event-time column)");
		goto fail;
	}
	if (!(t->timestamp = strdup(ts))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto fail;
	}
	const cJSON *cr = cJSON_GetObjectItemCaseSensitive(spec, "created");
	if (cr && !cJSON_IsNull(cr)) {
		if (!cJSON_IsString(cr) || !*cr->valuestring) {
			err = mlops_error_set(MLOPS_EINVALID, "created: expected a column name");
			goto fail;
		}
		if (!(t->created = strdup(cr->valuestring))) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto fail;
		}
	}
	/* Each is a column of the table: one name cannot be two of them. */
	for (size_t i = 0; i < t->nentity; i++) {
		if (!strcmp(t->entity[i], t->timestamp)) {
			err = mlops_error_set(MLOPS_EINVALID, "timestamp: '%s' is also the entity column", t->timestamp);
			goto fail;
		}
		if (t->created && !strcmp(t->entity[i], t->created)) {
			err = mlops_error_set(MLOPS_EINVALID, "created: '%s' is also the entity column", t->created);
			goto fail;
		}
	}
	if (t->created && !strcmp(t->created, t->timestamp)) {
		err = mlops_error_set(MLOPS_EINVALID, "created: '%s' is also the timestamp column", t->created);
		goto fail;
	}
	if (fitted) {
		t->ttl_ms = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(spec, "ttl_ms"));
		if (t->ttl_ms < 0 || isnan(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(spec, "ttl_ms"))))
			t->ttl_ms = 0;
	} else {
		const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(spec, "ttl");
		if (ttl && !cJSON_IsNull(ttl)) {
			if (!cJSON_IsString(ttl)) {
				err = mlops_error_set(MLOPS_EINVALID, "ttl: must be a string (a duration such as 30d)");
				goto fail;
			}
			if (mlops_feature_parse_duration(&t->ttl_ms, ttl->valuestring) < 0) {
				err = mlops_error_set(MLOPS_EINVALID, "ttl: '%s' is not a duration (e.g. 30m, 12h, 7d)",
						      ttl->valuestring);
				goto fail;
			}
		}
	}
	const cJSON *feats = cJSON_GetObjectItemCaseSensitive(spec, "features");
	if (!cJSON_IsArray(feats) || cJSON_GetArraySize(feats) < 1) {
		err = mlops_error_set(MLOPS_EINVALID, "features: expected a non-empty array");
		goto fail;
	}
	size_t n = (size_t)cJSON_GetArraySize(feats);
	if (!(t->f = calloc(n, sizeof(*t->f)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto fail;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, feats) {
		struct ft_feature *f = &t->f[t->nf++];
		if ((err = parse_feature(t, f, e, t->nf - 1, fitted)) < 0)
			goto fail;
		for (size_t k = 0; k + 1 < t->nf; k++)
			if (!strcmp(t->f[k].name, f->name)) {
				err = mlops_error_set(MLOPS_EINVALID, "features[%zu].name: '%s' is used twice", t->nf - 1,
						      f->name);
				goto fail;
			}
		for (size_t k = 0; k < t->nentity; k++)
			if (!strcmp(t->entity[k], f->name) || !strcmp(t->timestamp, f->name) ||
			    (t->created && !strcmp(t->created, f->name))) {
				err = mlops_error_set(MLOPS_EINVALID,
						      "features[%zu].name: '%s' is the name of an entity or time column",
						      t->nf - 1, f->name);
				goto fail;
			}
	}
	if (fitted && (err = ft_layout(t)) < 0)
		goto fail;
	*out = t;
	return 0;
fail:
	mlops_feature_transform_free(t);
	return err;
}

int ft_layout(struct mlops_feature_transform *t)
{
	size_t n = 0;
	for (size_t i = 0; i < t->nf; i++) {
		struct ft_feature *f = &t->f[i];
		f->out = n;
		f->nout = f->kind == FT_ONEHOT ? f->nvocab + (size_t)f->other : 1;
		n += f->nout;
	}
	t->outputs = calloc(n ? n : 1, sizeof(char *));
	t->out_window = calloc(n ? n : 1, sizeof(int));
	if (!t->outputs || !t->out_window)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	t->noutputs = n;
	for (size_t i = 0; i < t->nf; i++) {
		struct ft_feature *f = &t->f[i];
		for (size_t k = 0; k < f->nout; k++) {
			char *s;
			if (f->kind != FT_ONEHOT)
				s = strdup(f->name);
			else if (k < f->nvocab)
				s = (asprintf(&s, "%s=%s", f->name, f->vocab[k]) < 0) ? NULL : s;
			else
				s = (asprintf(&s, "%s=" FT_OTHER, f->name) < 0) ? NULL : s;
			if (!s)
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			t->outputs[f->out + k] = s;
			t->out_window[f->out + k] = is_window(f->kind);
		}
	}
	return 0;
}

/* ---- params -------------------------------------------------------------- */

static void add_num(cJSON *o, const char *k, double v)
{
	if (isfinite(v))
		cJSON_AddNumberToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

cJSON *ft_params_json(const struct mlops_feature_transform *t)
{
	cJSON *o = cJSON_CreateObject(), *ent = cJSON_AddArrayToObject(o, "entity");
	for (size_t i = 0; i < t->nentity; i++)
		cJSON_AddItemToArray(ent, cJSON_CreateString(t->entity[i]));
	cJSON_AddStringToObject(o, "timestamp", t->timestamp);
	if (t->created)
		cJSON_AddStringToObject(o, "created", t->created);
	cJSON_AddNumberToObject(o, "ttl_ms", (double)t->ttl_ms);
	cJSON *arr = cJSON_AddArrayToObject(o, "features");
	for (size_t i = 0; i < t->nf; i++) {
		const struct ft_feature *f = &t->f[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", f->name);
		if (f->column)
			cJSON_AddStringToObject(e, "column", f->column);
		cJSON_AddStringToObject(e, "transform", kind_name(f->kind));
		switch (f->kind) {
		case FT_STANDARDIZE:
			add_num(e, "mean", f->mean);
			add_num(e, "std", f->std);
			break;
		case FT_MINMAX:
			add_num(e, "min", f->min);
			add_num(e, "max", f->max);
			break;
		case FT_CLIP:
			if (f->has_lo)
				add_num(e, "min", f->lo);
			if (f->has_hi)
				add_num(e, "max", f->hi);
			break;
		case FT_BUCKETIZE: {
			cJSON *ed = cJSON_AddArrayToObject(e, "edges");
			for (size_t k = 0; k < f->nedges; k++)
				cJSON_AddItemToArray(ed, cJSON_CreateNumber(f->edges[k]));
			if (f->bins) {
				cJSON_AddNumberToObject(e, "bins", (double)f->bins);
				add_num(e, "min", f->min);
				add_num(e, "max", f->max);
			}
			break;
		}
		case FT_ONEHOT: {
			cJSON *v = cJSON_AddArrayToObject(e, "vocabulary");
			for (size_t k = 0; k < f->nvocab; k++)
				cJSON_AddItemToArray(v, cJSON_CreateString(f->vocab[k]));
			cJSON_AddStringToObject(e, "unseen", f->other ? "other" : "zeros");
			cJSON_AddNumberToObject(e, "max_categories", (double)f->max_categories);
			break;
		}
		case FT_FILL:
			cJSON_AddStringToObject(e, "strategy", f->fill == FT_FILL_MEAN ? "mean" :
							       f->fill == FT_FILL_MEDIAN ? "median" : "constant");
			if (isfinite(f->fill_num))
				cJSON_AddNumberToObject(e, "value", f->fill_num);
			else if (f->fill_text && *f->fill_text)
				cJSON_AddStringToObject(e, "value", f->fill_text);
			else
				cJSON_AddNullToObject(e, "value");
			break;
		case FT_IDENTITY:
		case FT_LOG1P:
			break;
		default: {
			char w[32];
			int64_t ms = f->window_ms;
			if (ms % (7 * 86400000LL) == 0)
				snprintf(w, sizeof(w), "%lldw", (long long)(ms / (7 * 86400000LL)));
			else if (ms % 86400000 == 0)
				snprintf(w, sizeof(w), "%lldd", (long long)(ms / 86400000));
			else if (ms % 3600000 == 0)
				snprintf(w, sizeof(w), "%lldh", (long long)(ms / 3600000));
			else if (ms % 60000 == 0)
				snprintf(w, sizeof(w), "%lldm", (long long)(ms / 60000));
			else if (ms % 1000 == 0)
				snprintf(w, sizeof(w), "%llds", (long long)(ms / 1000));
			else
				snprintf(w, sizeof(w), "%lldms", (long long)ms);
			cJSON_AddStringToObject(e, "window", w);
			break;
		}
		}
		cJSON_AddItemToArray(arr, e);
	}
	return o;
}

/* ---- fitting -------------------------------------------------------------- */

struct ft_fit_col {
	uint64_t n;
	double mean, m2, min, max, sum;
	struct ft_map vocab;   /* one-hot: value -> count */
	int has_vocab;
	struct mlops_colstats *median;
};

struct ft_fit {
	const struct mlops_feature_transform *t;
	size_t nf;
	struct ft_fit_col *c; /* one per feature */
};

void ft_fit_free(struct ft_fit *fit)
{
	if (!fit)
		return;
	for (size_t i = 0; fit->c && i < fit->nf; i++) {
		if (fit->c[i].has_vocab)
			ft_map_free(&fit->c[i].vocab);
		mlops_colstats_free(fit->c[i].median);
	}
	free(fit->c);
	free(fit);
}

int ft_fit_new(struct ft_fit **out, const struct mlops_feature_transform *t)
{
	struct ft_fit *fit = calloc(1, sizeof(*fit));
	int err = 0;
	if (!fit || !(fit->c = calloc(t->nf ? t->nf : 1, sizeof(*fit->c)))) {
		free(fit);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	fit->t = t;
	fit->nf = t->nf;
	for (size_t i = 0; i < t->nf; i++) {
		const struct ft_feature *f = &t->f[i];
		fit->c[i].min = INFINITY;
		fit->c[i].max = -INFINITY;
		if (f->kind == FT_ONEHOT && !f->vocab_given) {
			if ((err = ft_map_init(&fit->c[i].vocab, 64, 1)) < 0)
				break;
			fit->c[i].has_vocab = 1;
		}
		if (f->kind == FT_FILL && f->fill == FT_FILL_MEDIAN) {
			const char *names[1] = { f->column };
			if ((err = mlops_colstats_new(&fit->c[i].median, names, 1)) < 0)
				break;
		}
	}
	if (err < 0) {
		ft_fit_free(fit);
		return err;
	}
	*out = fit;
	return 0;
}

/* The error of ft_number()'s result r < 0. */
static int not_number(const struct ft_feature *f, const struct mlops_csv_field *v, int r)
{
	return mlops_error_set(MLOPS_EINVALID, "column '%s': '%.*s' is %s", f->column,
			       (int)(v->len > 40 ? 40 : v->len), v->ptr,
			       r == -2 ? "out of the range of a double" : "not a number");
}

int ft_fit_row(struct ft_fit *fit, const struct mlops_csv_field *in)
{
	const struct mlops_feature_transform *t = fit->t;
	for (size_t i = 0; i < t->nf; i++) {
		const struct ft_feature *f = &t->f[i];
		struct ft_fit_col *c = &fit->c[i];
		double v;
		int r;
		switch (f->kind) {
		case FT_STANDARDIZE:
		case FT_MINMAX:
		case FT_BUCKETIZE:
			r = ft_number(&v, in[f->input].ptr, in[f->input].len);
			if (r < 0)
				return not_number(f, &in[f->input], r);
			if (r)
				break;
			c->n++;
			double d = v - c->mean;
			c->mean += d / (double)c->n;
			c->m2 += d * (v - c->mean);
			if (v < c->min)
				c->min = v;
			if (v > c->max)
				c->max = v;
			break;
		case FT_FILL:
			if (f->fill == FT_FILL_CONSTANT)
				break;
			r = ft_number(&v, in[f->input].ptr, in[f->input].len);
			if (r < 0)
				return not_number(f, &in[f->input], r);
			if (r)
				break;
			c->n++;
			c->sum += v;
			if (c->median) {
				int err = mlops_colstats_add_row(c->median, &in[f->input], 1);
				if (err < 0)
					return err;
			}
			break;
		case FT_ONEHOT:
			if (c->has_vocab && !ft_is_missing(in[f->input].ptr, in[f->input].len)) {
				int isnew;
				struct ft_map_slot *s = ft_map_put(&c->vocab, in[f->input].ptr, in[f->input].len, &isnew);
				if (!s)
					return mlops_error_set(MLOPS_ERROR, "out of memory");
				s->value++;
			}
			break;
		case FT_LOG1P:
		case FT_CLIP:
		case FT_WSUM:
		case FT_WMEAN:
		case FT_WMIN:
		case FT_WMAX:
			r = ft_number(&v, in[f->input].ptr, in[f->input].len);
			if (r < 0)
				return not_number(f, &in[f->input], r);
			break;
		default:
			break;
		}
	}
	return 0;
}

static int cmp_count_desc(const void *x, const void *y)
{
	const struct ft_map_slot *a = *(const struct ft_map_slot *const *)x;
	const struct ft_map_slot *b = *(const struct ft_map_slot *const *)y;
	if (a->value != b->value)
		return a->value < b->value ? 1 : -1;
	return cmp_bytes(a->key, a->len, b->key, b->len);
}

/*
 * The table's columns must be distinct: a fitted one-hot vocabulary may
 * hold "__other__" (or a value that makes a column named like an entity or
 * time column).
 */
static int check_columns(const struct mlops_feature_transform *t)
{
	for (size_t i = 0; i < t->nf; i++) {
		const struct ft_feature *f = &t->f[i];
		for (size_t k = f->out; k < f->out + f->nout; k++) {
			const char *c = t->outputs[k];
			int dup = !strcmp(c, t->timestamp) || (t->created && !strcmp(c, t->created));
			for (size_t e = 0; e < t->nentity && !dup; e++)
				dup = !strcmp(c, t->entity[e]);
			for (size_t j = 0; j < k && !dup; j++)
				dup = !strcmp(c, t->outputs[j]);
			if (dup && f->kind == FT_ONEHOT && f->other && k == f->out + f->nvocab)
				return mlops_error_set(MLOPS_EINVALID, "features[%zu] ('%s'): the source has the value '"
						       FT_OTHER "', which is the column of unseen values with \"unseen\": "
						       "\"other\" (give a \"vocabulary\" or use \"unseen\": \"zeros\")",
						       i, f->name);
			if (dup)
				return mlops_error_set(MLOPS_EINVALID, "features[%zu] ('%s'): column '%s' would appear "
						       "twice in the table", i, f->name, c);
		}
	}
	return 0;
}

int ft_fit_end(struct ft_fit *fit, struct mlops_feature_transform *t)
{
	for (size_t i = 0; i < t->nf; i++) {
		struct ft_feature *f = &t->f[i];
		struct ft_fit_col *c = &fit->c[i];
		char buf[40];
		switch (f->kind) {
		case FT_STANDARDIZE:
			f->mean = c->n ? c->mean : NAN;
			f->std = c->n ? sqrt(c->m2 / (double)c->n) : NAN;
			break;
		case FT_MINMAX:
			f->min = c->n ? c->min : NAN;
			f->max = c->n ? c->max : NAN;
			break;
		case FT_BUCKETIZE:
			if (!f->bins)
				break;
			f->min = c->n ? c->min : NAN;
			f->max = c->n ? c->max : NAN;
			free(f->edges);
			f->nedges = 0;
			if (!(f->edges = malloc((size_t)f->bins * sizeof(double))))
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			if (c->n)
				for (long k = 1; k < f->bins; k++)
					f->edges[f->nedges++] = f->min + (f->max - f->min) * (double)k / (double)f->bins;
			break;
		case FT_FILL:
			if (f->fill == FT_FILL_CONSTANT)
				break;
			if (f->fill == FT_FILL_MEAN) {
				f->fill_num = c->n ? c->sum / (double)c->n : NAN;
			} else {
				int err = mlops_colstats_finish(c->median);
				if (err < 0)
					return err;
				const struct mlops_column_stats *cs = mlops_colstats_column(c->median, 0);
				f->fill_num = cs && cs->numeric && cs->count ? cs->p50 : NAN;
			}
			ft_format_num(buf, f->fill_num);
			free(f->fill_text);
			if (!(f->fill_text = strdup(buf)))
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		case FT_ONEHOT: {
			if (!c->has_vocab)
				break;
			size_t n = c->vocab.count, k = 0;
			struct ft_map_slot **s = malloc((n ? n : 1) * sizeof(*s));
			if (!s)
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			for (size_t j = 0; j < c->vocab.cap; j++)
				if (c->vocab.slots[j].key)
					s[k++] = &c->vocab.slots[j];
			qsort(s, n, sizeof(*s), cmp_count_desc);
			if (n > (size_t)f->max_categories)
				n = (size_t)f->max_categories;
			char **vals = calloc(n ? n : 1, sizeof(*vals));
			if (!vals) {
				free(s);
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			}
			for (k = 0; k < n; k++) {
				if (!(vals[k] = strndup(s[k]->key, s[k]->len))) {
					for (size_t j = 0; j < k; j++)
						free(vals[j]);
					free(vals);
					free(s);
					return mlops_error_set(MLOPS_ERROR, "out of memory");
				}
			}
			free(s);
			int err = set_vocab(f, vals, n, "one-hot");
			if (err < 0)
				return err;
			break;
		}
		default:
			break;
		}
		f->fitted = 1;
	}
	int err = ft_layout(t);
	return err < 0 ? err : check_columns(t);
}

/* ---- evaluation ------------------------------------------------------------ */

static int vocab_find(const struct ft_feature *f, const char *p, size_t len)
{
	size_t lo = 0, hi = f->nvocab;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = cmp_bytes(f->vocab[mid], f->vocab_len[mid], p, len);
		if (c == 0)
			return (int)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int ft_eval(struct ft_val *out, const struct mlops_feature_transform *t,
	    const struct mlops_csv_field *in, const double *windows)
{
	for (size_t i = 0; i < t->nf; i++) {
		const struct ft_feature *f = &t->f[i];
		struct ft_val *o = &out[f->out];
		const struct mlops_csv_field *v = f->column ? &in[f->input] : NULL;
		double x = NAN;
		int r = 0;
		o->text = NULL;
		o->len = 0;
		o->num = NAN;
		if (v && f->kind != FT_IDENTITY && f->kind != FT_ONEHOT && f->kind != FT_FILL &&
		    !is_window(f->kind)) {
			r = ft_number(&x, v->ptr, v->len);
			if (r < 0)
				return not_number(f, v, r);
			if (r)
				continue; /* missing in, missing out */
		}
		switch (f->kind) {
		case FT_IDENTITY:
			if (!ft_is_missing(v->ptr, v->len)) {
				o->text = v->ptr;
				o->len = v->len;
			}
			break;
		case FT_STANDARDIZE:
			o->num = (x - f->mean) / (f->std > 0 ? f->std : 1.0);
			break;
		case FT_MINMAX:
			o->num = f->max > f->min ? (x - f->min) / (f->max - f->min) : 0.0;
			break;
		case FT_LOG1P:
			o->num = x > -1 ? log1p(x) : NAN;
			break;
		case FT_CLIP:
			o->num = x;
			if (f->has_lo && !isnan(f->lo) && o->num < f->lo)
				o->num = f->lo;
			if (f->has_hi && !isnan(f->hi) && o->num > f->hi)
				o->num = f->hi;
			break;
		case FT_BUCKETIZE: {
			size_t lo = 0, hi = f->nedges;
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				if (f->edges[mid] <= x)
					lo = mid + 1;
				else
					hi = mid;
			}
			o->num = (double)lo;
			break;
		}
		case FT_ONEHOT: {
			for (size_t k = 0; k < f->nout; k++) {
				out[f->out + k].text = NULL;
				out[f->out + k].num = 0;
			}
			if (ft_is_missing(v->ptr, v->len))
				break;
			int k = vocab_find(f, v->ptr, v->len);
			if (k >= 0)
				out[f->out + (size_t)k].num = 1;
			else if (f->other)
				out[f->out + f->nvocab].num = 1;
			break;
		}
		case FT_FILL:
			if (!ft_is_missing(v->ptr, v->len)) {
				o->text = v->ptr;
				o->len = v->len;
			} else if (f->fill_text && *f->fill_text) {
				o->text = f->fill_text;
				o->len = strlen(f->fill_text);
			}
			break;
		default:
			o->num = windows ? windows[f->win] : NAN;
			break;
		}
	}
	return 0;
}

/* ---- public transform API ----------------------------------------------- */

int mlops_feature_transform_load(struct mlops_feature_transform **out, const cJSON *record)
{
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(record, "params");
	*out = NULL;
	if (!cJSON_IsObject(params))
		return mlops_error_set(MLOPS_EINVALID, "the feature set record has no fitted parameters");
	int err = ft_parse(out, params, 1);
	if (err < 0)
		return mlops_error_wrap(err, "feature set parameters");
	return 0;
}

size_t mlops_feature_transform_ninputs(const struct mlops_feature_transform *t)
{
	return t->ninputs;
}

const char *mlops_feature_transform_input(const struct mlops_feature_transform *t, size_t i)
{
	return i < t->ninputs ? t->inputs[i] : NULL;
}

size_t mlops_feature_transform_noutputs(const struct mlops_feature_transform *t)
{
	return t->noutputs;
}

const char *mlops_feature_transform_output(const struct mlops_feature_transform *t, size_t i)
{
	return i < t->noutputs ? t->outputs[i] : NULL;
}

int mlops_feature_transform_is_window(const struct mlops_feature_transform *t, size_t i)
{
	return i < t->noutputs && t->out_window[i];
}

int mlops_feature_transform_apply(double *out, const struct mlops_feature_transform *t,
				  const char *const *names, const char *const *values, size_t n)
{
	struct mlops_csv_field inbuf[32];
	struct ft_val valbuf[64];
	struct mlops_csv_field *in = t->ninputs <= 32 ? inbuf : calloc(t->ninputs, sizeof(*in));
	struct ft_val *vals = t->noutputs <= 64 ? valbuf : calloc(t->noutputs, sizeof(*vals));
	int err = 0;
	if (!in || !vals) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < t->ninputs; i++) {
		in[i].ptr = "";
		in[i].len = 0;
		for (size_t k = 0; k < n; k++)
			if (names[k] && !strcmp(names[k], t->inputs[i])) {
				if (values[k]) {
					in[i].ptr = values[k];
					in[i].len = strlen(values[k]);
				}
				break;
			}
	}
	if ((err = ft_eval(vals, t, in, NULL)) < 0)
		goto done;
	for (size_t i = 0; i < t->noutputs; i++) {
		if (vals[i].text) {
			if (ft_number(&out[i], vals[i].text, vals[i].len) != 0)
				out[i] = NAN;
		} else {
			out[i] = vals[i].num;
		}
	}
done:
	if (in != inbuf)
		free(in);
	if (vals != valbuf)
		free(vals);
	return err;
}

size_t mlops_feature_transform_work_size(const struct mlops_feature_transform *t)
{
	return t->noutputs * (sizeof(struct ft_val) + 40) + 1;
}

int mlops_feature_transform_apply_fields(struct mlops_csv_field *out, void *work,
					 const struct mlops_feature_transform *t,
					 const struct mlops_csv_field *in)
{
	struct ft_val *vals = work;
	char *num = (char *)(vals + t->noutputs);
	int err = ft_eval(vals, t, in, NULL);
	if (err < 0)
		return err;
	for (size_t i = 0; i < t->noutputs; i++) {
		if (vals[i].text) {
			out[i].ptr = vals[i].text;
			out[i].len = vals[i].len;
		} else {
			out[i].ptr = num + 40 * i;
			out[i].len = ft_format_num(num + 40 * i, vals[i].num);
		}
	}
	return 0;
}

/* The feature that makes output i, or NULL. */
static const struct ft_feature *output_feature(const struct mlops_feature_transform *t, size_t i)
{
	for (size_t k = 0; k < t->nf; k++)
		if (i >= t->f[k].out && i < t->f[k].out + t->f[k].nout)
			return &t->f[k];
	return NULL;
}

long mlops_feature_transform_output_input(const struct mlops_feature_transform *t, size_t i)
{
	const struct ft_feature *f = output_feature(t, i);
	return f && f->column ? (long)f->input : -1;
}

const char *mlops_feature_transform_output_kind(const struct mlops_feature_transform *t, size_t i)
{
	const struct ft_feature *f = output_feature(t, i);
	return f ? kind_name(f->kind) : NULL;
}

/* ---- raw current data for a drift check ----------------------------------- */

/* How the columns of one header become the columns of the feature table. */
struct rawmap {
	long *tpos;          /* the column of each transform input, or -1 */
	size_t ncols;        /* columns written */
	long *src;           /* each: a column passed through (>= 0) or output -1 - src */
	const char **name;   /* each: its name (borrowed) */
};

static void rawmap_free(struct rawmap *m)
{
	free(m->tpos);
	free(m->src);
	free(m->name);
	memset(m, 0, sizeof(*m));
}

static long find_name(const char *const *names, size_t n, const char *name)
{
	for (size_t c = 0; c < n; c++)
		if (names[c] && !strcmp(names[c], name))
			return (long)c;
	return -1;
}

/*
 * Map a header of n names: m->ncols 0 when it needs nothing (it has every
 * wanted column, or none of the raw columns a wanted output is computed
 * from) or it names a column twice.  Otherwise the columns to write: each output computed from a raw
 * column present, each windowed output the header has (its value as sent),
 * then the header's other columns (the raw columns read by those outputs
 * left out).
 */
static int rawmap_make(struct rawmap *m, const struct mlops_feature_transform *t, const char *const *want,
		       size_t nwant, const char *const *names, size_t n)
{
	size_t nin = t->ninputs, nout = t->noutputs;
	int missing = 0, raw = 0;
	unsigned char *used = NULL;
	memset(m, 0, sizeof(*m));
	for (size_t w = 0; w < nwant && !missing; w++)
		missing = want[w] && find_name(names, n, want[w]) < 0;
	if (!missing)
		return 0;
	/* a column named twice is left for the check to report */
	for (size_t c = 1; c < n; c++)
		if (find_name(names, c, names[c]) >= 0)
			return 0;
	m->tpos = calloc(nin + 1, sizeof(*m->tpos));
	m->src = calloc(nout + n + 1, sizeof(*m->src));
	m->name = calloc(nout + n + 1, sizeof(*m->name));
	used = calloc(n + 1, 1);
	if (!m->tpos || !m->src || !m->name || !used) {
		free(used);
		rawmap_free(m);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	for (size_t i = 0; i < nin; i++)
		m->tpos[i] = find_name(names, n, t->inputs[i]);
	for (size_t j = 0; j < nout; j++) {
		long in = mlops_feature_transform_output_input(t, j);
		if (mlops_feature_transform_is_window(t, j) || in < 0 || m->tpos[in] < 0)
			continue;
		for (size_t w = 0; w < nwant; w++)
			raw |= want[w] && !strcmp(want[w], t->outputs[j]);
	}
	if (!raw) {
		free(used);
		rawmap_free(m);
		return 0;
	}
	for (size_t j = 0; j < nout; j++) {
		long in = mlops_feature_transform_output_input(t, j), c;
		if (mlops_feature_transform_is_window(t, j)) {
			if ((c = find_name(names, n, t->outputs[j])) < 0)
				continue;
			m->src[m->ncols] = c;
			used[c] = 1;
		} else if (in >= 0 && m->tpos[in] >= 0) {
			m->src[m->ncols] = -1 - (long)j;
			used[m->tpos[in]] = 1;
		} else {
			continue;
		}
		m->name[m->ncols++] = t->outputs[j];
	}
	for (size_t c = 0; c < n; c++) {
		if (used[c] || find_name(m->name, m->ncols, names[c]) >= 0)
			continue;
		m->src[m->ncols] = (long)c;
		m->name[m->ncols++] = names[c];
	}
	free(used);
	return 0;
}

/* A JSON value as the text of a table's field; -1 for an array or object. */
static int json_field(struct mlops_csv_field *f, char buf[40], const cJSON *v)
{
	f->ptr = "";
	f->len = 0;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsNumber(v)) {
		f->len = ft_format_num(buf, v->valuedouble);
		f->ptr = buf;
	} else if (cJSON_IsString(v)) {
		f->ptr = v->valuestring;
		f->len = strlen(v->valuestring);
	} else if (cJSON_IsBool(v)) {
		f->ptr = cJSON_IsTrue(v) ? "true" : "false";
		f->len = strlen(f->ptr);
	} else {
		return -1;
	}
	return 0;
}

/* A string item of len bytes at p (not NUL-terminated); NULL out of memory. */
static cJSON *text_item(const char *p, size_t len)
{
	char *z = malloc(len + 1);
	cJSON *v = NULL;
	if (z) {
		memcpy(z, p, len);
		z[len] = '\0';
		v = cJSON_CreateString(z);
		free(z);
	}
	return v;
}

struct rawbuf {
	void *work;
	struct mlops_csv_field *in, *out, *rec;
	char (*num)[40];
};

static void rawbuf_free(struct rawbuf *b)
{
	free(b->work);
	free(b->in);
	free(b->out);
	free(b->rec);
	free(b->num);
}

static int rawbuf_init(struct rawbuf *b, const struct mlops_feature_transform *t, size_t ncols)
{
	memset(b, 0, sizeof(*b));
	b->work = malloc(mlops_feature_transform_work_size(t));
	b->in = calloc(t->ninputs + 1, sizeof(*b->in));
	b->out = calloc(t->noutputs + 1, sizeof(*b->out));
	b->rec = calloc(ncols + 1, sizeof(*b->rec));
	b->num = calloc(t->ninputs + 1, sizeof(*b->num));
	if (!b->work || !b->in || !b->out || !b->rec || !b->num) {
		rawbuf_free(b);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	return 0;
}

static int table_through(FILE *out, const struct mlops_feature_transform *t, const char *const *want,
			 size_t nwant, const char *path, int *changed)
{
	struct mlops_csv *csv = NULL;
	struct rawmap m;
	struct rawbuf b;
	const struct mlops_csv_field *f;
	size_t n;
	int rc, err;
	memset(&b, 0, sizeof(b));
	memset(&m, 0, sizeof(m));
	if ((err = mlops_csv_open(&csv, path, NULL)) < 0)
		return err;
	const char *const *names = mlops_csv_names(csv, &n);
	if ((err = rawmap_make(&m, t, want, nwant, names, n)) < 0 || m.ncols == 0)
		goto done;
	if ((err = rawbuf_init(&b, t, m.ncols)) < 0)
		goto done;
	for (size_t k = 0; k < m.ncols; k++) {
		b.rec[k].ptr = m.name[k];
		b.rec[k].len = strlen(m.name[k]);
	}
	if ((err = mlops_csv_write_record(out, b.rec, m.ncols, ',')) < 0)
		goto done;
	while ((rc = mlops_csv_next(csv, &f, &n)) == 1) {
		for (size_t i = 0; i < t->ninputs; i++) {
			b.in[i].ptr = m.tpos[i] >= 0 ? f[m.tpos[i]].ptr : "";
			b.in[i].len = m.tpos[i] >= 0 ? f[m.tpos[i]].len : 0;
		}
		if ((err = mlops_feature_transform_apply_fields(b.out, b.work, t, b.in)) < 0) {
			err = mlops_error_wrap(err, "'%s' line %zu", path, mlops_csv_line(csv));
			goto done;
		}
		for (size_t k = 0; k < m.ncols; k++)
			b.rec[k] = m.src[k] >= 0 ? f[m.src[k]] : b.out[-1 - m.src[k]];
		if ((err = mlops_csv_write_record(out, b.rec, m.ncols, ',')) < 0)
			goto done;
	}
	err = rc < 0 ? rc : 0;
	*changed = err == 0;
done:
	rawbuf_free(&b);
	rawmap_free(&m);
	mlops_csv_free(csv);
	return err;
}

/*
 * One request record of a log: its "inputs" through the transforms when
 * they are raw; *o_out NULL when the line stays as it is (not a record the
 * monitor would take: it reports that itself).
 */
static int log_record_through(cJSON **o_out, const struct mlops_feature_transform *t, const char *const *want,
			      size_t nwant, cJSON *o, const char *path, size_t lineno)
{
	cJSON *inputs = cJSON_GetObjectItemCaseSensitive(o, "inputs");
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(inputs, "columns");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(inputs, "data"), *c, *row;
	const char **names = NULL;
	const cJSON **vals = NULL;
	cJSON *ni = NULL, *ncols, *ndata;
	struct rawmap m;
	struct rawbuf b;
	size_t n = 0, r = 0;
	int err = 0;
	*o_out = NULL;
	memset(&m, 0, sizeof(m));
	memset(&b, 0, sizeof(b));
	if (!cJSON_IsArray(cols) || !cJSON_IsArray(data))
		return 0;
	size_t nc = (size_t)cJSON_GetArraySize(cols);
	if (!(names = calloc(nc + 1, sizeof(*names))) || !(vals = calloc(nc + 1, sizeof(*vals))))
		goto oom;
	cJSON_ArrayForEach(c, cols) {
		if (!cJSON_IsString(c))
			goto done;
		names[n++] = c->valuestring;
	}
	cJSON_ArrayForEach(row, data)
		if (!cJSON_IsArray(row) || (size_t)cJSON_GetArraySize(row) != nc)
			goto done;
	if ((err = rawmap_make(&m, t, want, nwant, names, n)) < 0 || m.ncols == 0)
		goto done;
	if ((err = rawbuf_init(&b, t, m.ncols)) < 0)
		goto done;
	if (!(ni = cJSON_CreateObject()) || !(ncols = cJSON_AddArrayToObject(ni, "columns")) ||
	    !(ndata = cJSON_AddArrayToObject(ni, "data")))
		goto oom;
	for (size_t k = 0; k < m.ncols; k++)
		cJSON_AddItemToArray(ncols, cJSON_CreateString(m.name[k]));
	cJSON_ArrayForEach(row, data) {
		size_t j = 0;
		cJSON *nr = cJSON_CreateArray();
		if (!nr)
			goto oom;
		cJSON_AddItemToArray(ndata, nr);
		r++;
		cJSON_ArrayForEach(c, row)
			vals[j++] = c;
		for (size_t i = 0; i < t->ninputs; i++) {
			const cJSON *v = m.tpos[i] >= 0 ? vals[m.tpos[i]] : NULL;
			if (json_field(&b.in[i], b.num[i], v) < 0) {
				err = mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: row %zu: column '%s' holds "
						      "an array or object", path, lineno, r, t->inputs[i]);
				goto done;
			}
		}
		if ((err = mlops_feature_transform_apply_fields(b.out, b.work, t, b.in)) < 0) {
			err = mlops_error_wrap(err, "'%s' line %zu: row %zu", path, lineno, r);
			goto done;
		}
		for (size_t k = 0; k < m.ncols; k++) {
			cJSON *v;
			if (m.src[k] >= 0)
				v = cJSON_Duplicate(vals[m.src[k]], 1);
			else if (b.out[-1 - m.src[k]].len == 0)
				v = cJSON_CreateNull();
			else
				v = text_item(b.out[-1 - m.src[k]].ptr, b.out[-1 - m.src[k]].len);
			if (!v)
				goto oom;
			cJSON_AddItemToArray(nr, v);
		}
	}
	cJSON_ReplaceItemInObjectCaseSensitive(o, "inputs", ni);
	ni = NULL;
	*o_out = o;
	goto done;
oom:
	err = mlops_error_set(MLOPS_ERROR, "out of memory");
done:
	cJSON_Delete(ni);
	rawbuf_free(&b);
	rawmap_free(&m);
	free(names);
	free(vals);
	return err;
}

static int log_through(FILE *out, const struct mlops_feature_transform *t, const char *const *want,
		       size_t nwant, const char *path, int *changed)
{
	FILE *f = fopen(path, "r");
	char *line = NULL, *text = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t len;
	int err = 0;
	if (!f) {
		int e = errno;
		return mlops_error_set(e == ENOENT ? MLOPS_ENOTFOUND : MLOPS_EIO, "unable to open '%s': %s",
				       path, strerror(e));
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		cJSON *o = cJSON_ParseWithLength(line, (size_t)len), *no = NULL;
		lineno++;
		if (cJSON_IsObject(o) && (err = log_record_through(&no, t, want, nwant, o, path, lineno)) < 0) {
			cJSON_Delete(o);
			goto done;
		}
		if (no && !(text = cJSON_PrintUnformatted(no))) {
			cJSON_Delete(o);
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		cJSON_Delete(o);
		/* one line for each line: the monitor's messages name the same lines */
		if (text ? fputs(text, out) < 0 || (line[len - 1] == '\n' && putc('\n', out) == EOF) :
			   fwrite(line, 1, (size_t)len, out) != (size_t)len) {
			err = mlops_error_sys(errno, "unable to write the transformed log");
			goto done;
		}
		*changed |= text != NULL;
		free(text);
		text = NULL;
	}
	if (ferror(f))
		err = mlops_error_sys(errno, "unable to read '%s'", path);
done:
	free(text);
	free(line);
	fclose(f);
	return err;
}

int mlops_feature_transform_file(char **out_path, const struct mlops_feature_transform *t,
				 const char *const *want, size_t nwant, const char *path, int log,
				 const char *tmpdir)
{
	char *tmp = NULL;
	FILE *out = NULL;
	int fd = -1, changed = 0, err;
	*out_path = NULL;
	if ((err = mlops_tempfile(&fd, &tmp, tmpdir, log ? "monitor-log-" : "monitor-data-")) < 0)
		return err;
	mlops_tempfile_register(tmp);
	if (!(out = fdopen(fd, "w"))) {
		err = mlops_error_sys(errno, "unable to write '%s'", tmp);
		close(fd);
		goto done;
	}
	err = log ? log_through(out, t, want, nwant, path, &changed) :
		    table_through(out, t, want, nwant, path, &changed);
	if (fclose(out) != 0 && err == 0)
		err = mlops_error_sys(errno, "unable to write '%s'", tmp);
done:
	if (err < 0 || !changed) {
		unlink(tmp);
		mlops_tempfile_forget(tmp);
		free(tmp);
		return err;
	}
	*out_path = tmp;
	return 0;
}
