/*
 * csv.c - the streaming CSV/TSV/JSON-lines reader and the CSV writer
 * helpers declared in csv.h.
 *
 * Design notes.
 *
 * The buffer holds bytes [pos, len) not yet consumed; buf[len] is always a
 * '\n' sentinel, so the scan of an unquoted field needs one table lookup
 * per byte and no bounds check.  A record is parsed from `pos`; when it
 * runs past `len` before its end and more input may come, the parse stops
 * (NEED_MORE), the tail is moved to the front of the buffer (the buffer is
 * doubled when the record alone fills it), more is read, and the record is
 * parsed again from its start.  Records straddle a block boundary once per
 * block, so the repeated scan is negligible.  Because a record may be
 * parsed twice, nothing is written into the buffer until the record is
 * complete: only then are doubled quotes collapsed in place.
 *
 * Line numbers count '\n' bytes, including those inside quoted fields; a
 * record's line is the line of its first byte.
 */
#include "csv.h"

#include "store/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_BUFFER (1u << 20)
#define DEFAULT_MAX_RECORD ((size_t)256 << 20)

enum { NEED_MORE = 2, BLANK = 3 };

struct mlops_csv {
	int fd;
	int own_fd;
	char *name;
	unsigned char *buf; /* cap + 1 bytes: room for the sentinel */
	size_t cap, pos, len;
	int eof;
	size_t max_record;
	unsigned char delim;
	int jsonl;
	int ragged;
	int new_keys;
	unsigned char cls[256]; /* nonzero: byte ends an unquoted run */

	struct mlops_csv_field *fields;
	size_t nfields, fields_cap;

	struct mlops_csv_field *header;
	const char **names;
	char *header_buf;   /* the first line's names; later ones (new_keys) are each malloc'd */
	size_t nheader;
	size_t nheader_buf; /* names in header_buf */
	size_t header_cap;

	size_t line;     /* line of the next unconsumed byte */
	size_t rec_line; /* line of the last record returned */
	int pending;     /* fields[] hold a record not yet returned */
	int failed;
};

static const char *const empty_string = "";

static int grow_fields(struct mlops_csv *c, size_t need)
{
	size_t cap = c->fields_cap ? c->fields_cap : 16;
	struct mlops_csv_field *f;
	while (cap < need)
		cap *= 2;
	if (cap == c->fields_cap)
		return 0;
	f = realloc(c->fields, cap * sizeof(*f));
	if (!f)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	c->fields = f;
	c->fields_cap = cap;
	return 0;
}

/*
 * Make room and read more input after the unconsumed bytes.  Sets eof when
 * the input is exhausted.  The caller's pointers into the buffer become
 * invalid.
 */
static int fill(struct mlops_csv *c)
{
	size_t keep = c->len - c->pos;
	ssize_t r;

	if (c->pos > 0) {
		memmove(c->buf, c->buf + c->pos, keep);
		c->pos = 0;
		c->len = keep;
	}
	if (c->len == c->cap) {
		size_t cap = c->cap * 2;
		unsigned char *b;
		if (c->cap >= c->max_record)
			return mlops_error_set(MLOPS_EINVALID,
				"'%s' line %zu: record longer than %zu bytes (unbalanced quote?)",
				c->name, c->line, c->max_record);
		b = realloc(c->buf, cap + 1);
		if (!b)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		c->buf = b;
		c->cap = cap;
	}
	do
		r = read(c->fd, c->buf + c->len, c->cap - c->len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return mlops_error_sys(errno, "unable to read '%s'", c->name);
	if (r == 0)
		c->eof = 1;
	else
		c->len += (size_t)r;
	c->buf[c->len] = '\n';
	return 0;
}

static size_t count_newlines(const unsigned char *p, const unsigned char *e)
{
	size_t n = 0;
	while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		n++;
		p++;
	}
	return n;
}

/* Collapse each "" into " in a field that came from a quoted field. */
static void unescape_quotes(struct mlops_csv_field *f)
{
	char *s = (char *)f->ptr, *e = s + f->len, *w;
	char *q = memchr(s, '"', f->len);
	if (!q)
		return;
	w = q;
	while (q < e) {
		if (*q == '"')
			q++; /* the first of a pair */
		*w++ = *q++;
		while (q < e && *q != '"')
			*w++ = *q++;
	}
	f->len = (size_t)(w - s);
}

/*
 * Parse one CSV record at pos.  Returns 1 (a record in fields[]), BLANK
 * (a blank line, consumed), 0 (end of input), NEED_MORE, or an error.
 */
static int csv_parse(struct mlops_csv *c)
{
	unsigned char *p = c->buf + c->pos;
	unsigned char *const e = c->buf + c->len;
	const unsigned char *const cls = c->cls;
	const unsigned char delim = c->delim;
	struct mlops_csv_field *f = c->fields;
	size_t nf = 0, cap = c->fields_cap, nl = 0;
	int esc = 0, first_quoted = 0;

	if (p == e)
		return c->eof ? 0 : NEED_MORE;

	for (;;) {
		unsigned char *fs = p;
		if (nf == cap) {
			if (grow_fields(c, nf + 1) < 0)
				return MLOPS_ERROR;
			f = c->fields;
			cap = c->fields_cap;
		}
		if (*p == '"' && p < e) {
			unsigned char *q = p + 1, *qq;
			if (nf == 0)
				first_quoted = 1;
			for (;;) {
				qq = memchr(q, '"', (size_t)(e - q));
				if (!qq) {
					if (!c->eof)
						return NEED_MORE;
					return mlops_error_set(MLOPS_EINVALID,
						"'%s' line %zu: unbalanced quote at end of file",
						c->name, c->line + nl);
				}
				nl += count_newlines(q, qq);
				q = qq + 1;
				if (q < e && *q == '"') {
					esc = 1;
					q++;
					continue;
				}
				if (q == e && !c->eof)
					return NEED_MORE;
				break;
			}
			f[nf].ptr = (const char *)fs + 1;
			f[nf].len = (size_t)(qq - fs - 1);
			nf++;
			p = q;
			if (p == e)
				goto record_end;
			if (*p == delim) {
				p++;
				continue;
			}
			if (*p == '\n') {
				p++;
				goto record_end;
			}
			if (*p == '\r') {
				if (p + 1 == e && !c->eof)
					return NEED_MORE;
				if (p + 1 == e || p[1] == '\n') {
					p += (p + 1 == e) ? 1 : 2;
					goto record_end;
				}
			}
			return mlops_error_set(MLOPS_EINVALID,
				"'%s' line %zu: unexpected character after closing quote",
				c->name, c->line + nl);
		}
		while (!cls[*p])
			p++;
		if (p == e) {
			if (!c->eof)
				return NEED_MORE;
			f[nf].ptr = (const char *)fs;
			f[nf].len = (size_t)(p - fs);
			if (f[nf].len && p[-1] == '\r')
				f[nf].len--;
			nf++;
			goto record_end;
		}
		if (*p == delim) {
			f[nf].ptr = (const char *)fs;
			f[nf].len = (size_t)(p - fs);
			nf++;
			p++;
			continue;
		}
		if (*p == '\n') {
			size_t l = (size_t)(p - fs);
			if (l && p[-1] == '\r')
				l--;
			f[nf].ptr = (const char *)fs;
			f[nf].len = l;
			nf++;
			p++;
			goto record_end;
		}
		return mlops_error_set(MLOPS_EINVALID,
			"'%s' line %zu: unexpected quote in unquoted field %zu",
			c->name, c->line + nl, nf + 1);
	}

record_end:
	c->pos = (size_t)(p - c->buf);
	c->rec_line = c->line;
	c->line += 1 + nl;
	if (nf == 1 && f[0].len == 0 && !first_quoted)
		return BLANK;
	if (esc)
		for (size_t i = 0; i < nf; i++)
			unescape_quotes(&f[i]);
	c->nfields = nf;
	return 1;
}

/* ---- JSON lines ---- */

static size_t utf8_put(unsigned char *w, uint32_t cp)
{
	if (cp < 0x80) {
		w[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		w[0] = (unsigned char)(0xc0 | (cp >> 6));
		w[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		w[0] = (unsigned char)(0xe0 | (cp >> 12));
		w[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		w[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	w[0] = (unsigned char)(0xf0 | (cp >> 18));
	w[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	w[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	w[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

static int hex4(const unsigned char *p, const unsigned char *e, uint32_t *out)
{
	uint32_t v = 0;
	if (e - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		unsigned char ch = p[i];
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (uint32_t)(ch - '0');
		else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
			v |= (uint32_t)((ch | 0x20) - 'a' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/*
 * Unescape the JSON string starting after its opening quote at *pp, in
 * place (every escape is at least as long as what it stands for).  Sets
 * the field and leaves *pp after the closing quote; -1 if malformed.
 */
static int json_string(unsigned char **pp, const unsigned char *e,
		       struct mlops_csv_field *out)
{
	unsigned char *p = *pp, *w = *pp, *start = *pp;
	while (p < e && *p != '"') {
		if (*p != '\\') {
			if (*p < 0x20)
				return -1;
			*w++ = *p++;
			continue;
		}
		if (++p >= e)
			return -1;
		switch (*p) {
		case '"': case '\\': case '/': *w++ = *p; p++; break;
		case 'b': *w++ = '\b'; p++; break;
		case 'f': *w++ = '\f'; p++; break;
		case 'n': *w++ = '\n'; p++; break;
		case 'r': *w++ = '\r'; p++; break;
		case 't': *w++ = '\t'; p++; break;
		case 'u': {
			uint32_t cp, lo;
			if (hex4(p + 1, e, &cp) < 0)
				return -1;
			p += 5;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (e - p < 6 || p[0] != '\\' || p[1] != 'u' ||
				    hex4(p + 2, e, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
					return -1;
				p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			} else if (cp >= 0xdc00 && cp < 0xe000) {
				return -1;
			}
			w += utf8_put(w, cp);
			break;
		}
		default:
			return -1;
		}
	}
	if (p >= e)
		return -1;
	out->ptr = (const char *)start;
	out->len = (size_t)(w - start);
	*pp = p + 1;
	return 0;
}

static unsigned char *skip_ws(unsigned char *p, const unsigned char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p;
}

static int jsonl_error(struct mlops_csv *c, const char *what)
{
	return mlops_error_set(MLOPS_EINVALID, "'%s' line %zu: %s", c->name,
			       c->rec_line, what);
}

/*
 * A column for `key`, a key no earlier line had (new_keys), after the
 * others.  The name is copied on its own, so that the names handed out
 * before stay where they are.
 */
static int add_header_key(struct mlops_csv *c, const struct mlops_csv_field *key)
{
	char *name;
	if (c->nheader == c->header_cap) {
		size_t cap = c->header_cap ? 2 * c->header_cap : 16;
		struct mlops_csv_field *h = realloc(c->header, cap * sizeof(*h));
		if (!h)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		c->header = h;
		const char **nm = realloc(c->names, cap * sizeof(*nm));
		if (!nm)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		c->names = nm;
		c->header_cap = cap;
	}
	if (!(name = malloc(key->len + 1)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	memcpy(name, key->ptr, key->len);
	name[key->len] = '\0';
	c->header[c->nheader].ptr = name;
	c->header[c->nheader].len = key->len;
	c->names[c->nheader] = name;
	c->nheader++;
	return 0;
}

/* The column of `key`; `hint` is tried first.  -1 when absent. */
static long header_index(const struct mlops_csv *c, const struct mlops_csv_field *key,
			 size_t hint)
{
	if (hint < c->nheader && c->header[hint].len == key->len &&
	    memcmp(c->header[hint].ptr, key->ptr, key->len) == 0)
		return (long)hint;
	for (size_t i = 0; i < c->nheader; i++)
		if (c->header[i].len == key->len &&
		    memcmp(c->header[i].ptr, key->ptr, key->len) == 0)
			return (long)i;
	return -1;
}

static int set_header(struct mlops_csv *c, const struct mlops_csv_field *f, size_t n);

/*
 * Parse one JSON line.  On the first line (no header yet) the keys become
 * the header.  Returns like csv_parse.
 */
static int jsonl_parse(struct mlops_csv *c)
{
	unsigned char *p = c->buf + c->pos, *e = c->buf + c->len, *nlp;
	struct mlops_csv_field key, val;
	int first = c->header == NULL;
	size_t hint = 0, nkeys = 0;
	int err;

	if (p == e)
		return c->eof ? 0 : NEED_MORE;
	nlp = memchr(p, '\n', (size_t)(e - p));
	if (!nlp) {
		if (!c->eof)
			return NEED_MORE;
		nlp = e;
	}
	c->pos = (size_t)(nlp == e ? nlp - c->buf : nlp + 1 - c->buf);
	c->rec_line = c->line++;
	e = nlp;
	p = skip_ws(p, e);
	if (p == e)
		return BLANK;
	if (*p != '{')
		return jsonl_error(c, "expected a JSON object");
	if (!first) {
		if ((err = grow_fields(c, c->nheader)) < 0)
			return err;
		for (size_t i = 0; i < c->nheader; i++) {
			c->fields[i].ptr = empty_string;
			c->fields[i].len = 0;
		}
	}
	p = skip_ws(p + 1, e);
	if (p < e && *p == '}') {
		p++;
		goto end;
	}
	for (;;) {
		if (p >= e || *p != '"')
			return jsonl_error(c, "expected a key");
		p++;
		if (json_string(&p, e, &key) < 0)
			return jsonl_error(c, "malformed string");
		p = skip_ws(p, e);
		if (p >= e || *p != ':')
			return jsonl_error(c, "expected ':'");
		p = skip_ws(p + 1, e);
		if (p >= e)
			return jsonl_error(c, "expected a value");
		if (*p == '"') {
			p++;
			if (json_string(&p, e, &val) < 0)
				return jsonl_error(c, "malformed string");
		} else if (*p == '{' || *p == '[') {
			return mlops_error_set(MLOPS_EINVALID,
				"'%s' line %zu: nested value for key '%.*s' (only flat objects)",
				c->name, c->rec_line, (int)key.len, key.ptr);
		} else {
			unsigned char *s = p;
			while (p < e && *p != ',' && *p != '}' && *p != ' ' && *p != '\t' && *p != '\r')
				p++;
			val.ptr = (const char *)s;
			val.len = (size_t)(p - s);
			if (val.len == 4 && memcmp(s, "null", 4) == 0) {
				val.ptr = empty_string;
				val.len = 0;
			} else if (!(val.len == 4 && memcmp(s, "true", 4) == 0) &&
				   !(val.len == 5 && memcmp(s, "false", 5) == 0)) {
				for (size_t i = 0; i < val.len; i++)
					if (!strchr("0123456789+-.eE", s[i]) || !s[i])
						return jsonl_error(c, "malformed value");
				if (val.len == 0)
					return jsonl_error(c, "expected a value");
			}
		}
		if (first) {
			/* keys in fields[2i], values in fields[2i+1] until set_header */
			if ((err = grow_fields(c, 2 * nkeys + 2)) < 0)
				return err;
			c->fields[2 * nkeys] = key;
			c->fields[2 * nkeys + 1] = val;
		} else {
			long i = header_index(c, &key, hint);
			if (i < 0 && !c->new_keys)
				return mlops_error_set(MLOPS_EINVALID,
					"'%s' line %zu: unexpected key '%.*s': the keys of the first "
					"line name the columns (list it there, as null if need be)",
					c->name, c->rec_line, (int)key.len, key.ptr);
			if (i < 0) {
				if ((err = add_header_key(c, &key)) < 0 ||
				    (err = grow_fields(c, c->nheader)) < 0)
					return err;
				i = (long)c->nheader - 1;
			}
			c->fields[i] = val;
			/* lines that leave keys out still find the next one first */
			hint = (size_t)i + 1;
		}
		nkeys++;
		p = skip_ws(p, e);
		if (p < e && *p == ',') {
			p = skip_ws(p + 1, e);
			continue;
		}
		if (p < e && *p == '}') {
			p++;
			break;
		}
		return jsonl_error(c, "expected ',' or '}'");
	}
end:
	p = skip_ws(p, e);
	if (p != e)
		return jsonl_error(c, "trailing characters after the object");
	if (first) {
		struct mlops_csv_field *keys = malloc((nkeys ? nkeys : 1) * sizeof(*keys));
		if (!keys)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		for (size_t i = 0; i < nkeys; i++)
			keys[i] = c->fields[2 * i];
		for (size_t i = 0; i < nkeys; i++)
			c->fields[i] = c->fields[2 * i + 1];
		err = set_header(c, keys, nkeys);
		free(keys);
		if (err < 0)
			return err;
		c->nfields = nkeys;
		return 1;
	}
	c->nfields = c->nheader;
	return 1;
}

/* ---- the reader ---- */

static int parse_next(struct mlops_csv *c)
{
	int r;
	for (;;) {
		r = c->jsonl ? jsonl_parse(c) : csv_parse(c);
		if (r == NEED_MORE) {
			if ((r = fill(c)) < 0)
				return r;
			continue;
		}
		if (r == BLANK)
			continue;
		return r;
	}
}

/* Copy `n` names into reader-owned, NUL-terminated storage. */
static int set_header(struct mlops_csv *c, const struct mlops_csv_field *f, size_t n)
{
	size_t total = 0;
	char *w;
	for (size_t i = 0; i < n; i++)
		total += f[i].len + 1;
	c->header_buf = malloc(total ? total : 1);
	c->header = calloc(n ? n : 1, sizeof(*c->header));
	c->names = calloc(n ? n : 1, sizeof(*c->names));
	if (!c->header_buf || !c->header || !c->names)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	w = c->header_buf;
	for (size_t i = 0; i < n; i++) {
		memcpy(w, f[i].ptr, f[i].len);
		w[f[i].len] = '\0';
		c->header[i].ptr = w;
		c->header[i].len = f[i].len;
		c->names[i] = w;
		w += f[i].len + 1;
	}
	c->nheader = n;
	c->nheader_buf = n;
	c->header_cap = n ? n : 1;
	return 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Choose the delimiter from the first line: the most frequent candidate. */
static unsigned char detect_delim(const unsigned char *p, const unsigned char *e)
{
	size_t comma = 0, tab = 0, semi = 0;
	int inq = 0;
	for (; p < e; p++) {
		if (*p == '"')
			inq = !inq;
		else if (inq)
			continue;
		else if (*p == '\n')
			break;
		else if (*p == ',')
			comma++;
		else if (*p == '\t')
			tab++;
		else if (*p == ';')
			semi++;
	}
	if (tab > comma && tab >= semi)
		return '\t';
	if (semi > comma && semi > tab)
		return ';';
	return ',';
}

static int start(struct mlops_csv *c, const char *path,
		 const struct mlops_csv_options *o)
{
	int r;
	c->cap = o->buffer_size ? o->buffer_size : DEFAULT_BUFFER;
	c->max_record = o->max_record ? o->max_record : DEFAULT_MAX_RECORD;
	if (c->max_record < c->cap)
		c->max_record = c->cap;
	c->ragged = o->ragged;
	c->new_keys = o->new_keys;
	c->line = 1;
	c->buf = malloc(c->cap + 1);
	if (!c->buf)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	c->buf[0] = '\n';
	if ((r = grow_fields(c, 16)) < 0)
		return r;

	/*
	 * Read until the first line is in (up to 64 KiB, growing a smaller
	 * buffer): the byte order mark and the delimiter are decided on it.
	 */
	while (!c->eof && c->len < 65536 && !memchr(c->buf, '\n', c->len))
		if ((r = fill(c)) < 0)
			return r;
	c->pos = mlops_csv_bom_len(c->buf, c->len);

	if (o->format == MLOPS_CSV_FORMAT_JSONL)
		c->jsonl = 1;
	else if (o->format == MLOPS_CSV_FORMAT_AUTO) {
		const unsigned char *p = c->buf + c->pos;
		while (p < c->buf + c->len && (*p == ' ' || *p == '\t'))
			p++;
		if (path && (ends_with(path, ".jsonl") || ends_with(path, ".ndjson")))
			c->jsonl = 1;
		else if (p < c->buf + c->len && *p == '{')
			c->jsonl = 1;
	}
	if (c->jsonl)
		c->delim = ',';
	else if (o->delim)
		c->delim = (unsigned char)o->delim;
	else
		c->delim = detect_delim(c->buf + c->pos, c->buf + c->len);
	if (c->delim == '"' || c->delim == '\n' || c->delim == '\r')
		return mlops_error_set(MLOPS_EUSAGE, "invalid delimiter: a quote or a line break cannot separate fields");
	c->cls[c->delim] = 1;
	c->cls['\n'] = 1;
	c->cls['"'] = 1;

	r = parse_next(c);
	if (r < 0)
		return r;
	if (r == 0)
		return set_header(c, NULL, 0);
	if (c->jsonl) {
		c->pending = 1; /* the first object is data too */
		return 0;
	}
	if (!o->no_header)
		return set_header(c, c->fields, c->nfields);
	{
		/* Name the columns "1".."n"; the first record waits. */
		size_t n = c->nfields;
		struct mlops_csv_field *names = calloc(n, sizeof(*names));
		char *digits = malloc(n * 24);
		if (!names || !digits) {
			free(names);
			free(digits);
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		}
		for (size_t i = 0; i < n; i++) {
			int len = snprintf(digits + 24 * i, 24, "%zu", i + 1);
			names[i].ptr = digits + 24 * i;
			names[i].len = (size_t)len;
		}
		r = set_header(c, names, n);
		free(names);
		free(digits);
		c->pending = 1;
		return r;
	}
}

static int open_common(struct mlops_csv **out, int fd, int own_fd,
		       const char *path, const struct mlops_csv_options *opts)
{
	static const struct mlops_csv_options defaults;
	const struct mlops_csv_options *o = opts ? opts : &defaults;
	struct mlops_csv *c;
	int error;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c) {
		if (own_fd)
			close(fd);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	c->fd = fd;
	c->own_fd = own_fd;
	c->name = strdup(o->name ? o->name : path ? path : "<input>");
	if (!c->name) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	if ((error = start(c, path, o)) < 0)
		goto cleanup;
	*out = c;
	return 0;
cleanup:
	mlops_csv_free(c);
	return error;
}

int mlops_csv_open(struct mlops_csv **out, const char *path,
		   const struct mlops_csv_options *opts)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	*out = NULL;
	if (fd < 0) {
		int e = errno;
		mlops_error_sys(e, "unable to open '%s'", path);
		return mlops_error_set(e == ENOENT ? MLOPS_ENOTFOUND : MLOPS_EIO,
				       "%s", mlops_error_message());
	}
#ifdef POSIX_FADV_SEQUENTIAL
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
	return open_common(out, fd, 1, path, opts);
}

int mlops_csv_open_fd(struct mlops_csv **out, int fd,
		      const struct mlops_csv_options *opts)
{
	return open_common(out, fd, 0, NULL, opts);
}

int mlops_csv_header(struct mlops_csv *csv,
		     const struct mlops_csv_field **fields, size_t *n)
{
	*fields = csv->header;
	*n = csv->nheader;
	return 0;
}

const char *const *mlops_csv_names(const struct mlops_csv *csv, size_t *n)
{
	*n = csv->nheader;
	return csv->names;
}

int mlops_csv_next(struct mlops_csv *c,
		   const struct mlops_csv_field **fields, size_t *n)
{
	int r;
	if (c->failed)
		return c->failed;
	if (c->pending) {
		c->pending = 0;
		r = 1;
	} else {
		r = parse_next(c);
	}
	if (r < 0) {
		c->failed = r;
		return r;
	}
	if (r == 0) {
		*fields = NULL;
		*n = 0;
		return 0;
	}
	if (!c->ragged && c->nfields != c->nheader) {
		c->failed = mlops_error_set(MLOPS_EINVALID,
			"'%s' line %zu: expected %zu fields, found %zu",
			c->name, c->rec_line, c->nheader, c->nfields);
		return c->failed;
	}
	*fields = c->fields;
	*n = c->nfields;
	return 1;
}

size_t mlops_csv_line(const struct mlops_csv *csv)
{
	return csv->rec_line;
}

char mlops_csv_delim(const struct mlops_csv *csv)
{
	return (char)csv->delim;
}

void mlops_csv_free(struct mlops_csv *csv)
{
	if (!csv)
		return;
	if (csv->own_fd && csv->fd >= 0)
		close(csv->fd);
	free(csv->name);
	free(csv->buf);
	free(csv->fields);
	for (size_t i = csv->nheader_buf; csv->names && i < csv->nheader; i++)
		free((char *)csv->names[i]);
	free(csv->header);
	free(csv->names);
	free(csv->header_buf);
	free(csv);
}

/* ---- writing ---- */

int mlops_csv_write_field(FILE *f, const char *s, size_t len, char delim)
{
	int quote = 0;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (ch == delim || ch == '"' || ch == '\n' || ch == '\r') {
			quote = 1;
			break;
		}
	}
	if (!quote) {
		if (len && fwrite(s, 1, len, f) != len)
			goto fail;
		return 0;
	}
	if (putc('"', f) == EOF)
		goto fail;
	while (len) {
		const char *q = memchr(s, '"', len);
		size_t n = q ? (size_t)(q - s) + 1 : len;
		if (fwrite(s, 1, n, f) != n)
			goto fail;
		if (q && putc('"', f) == EOF)
			goto fail;
		s += n;
		len -= n;
	}
	if (putc('"', f) == EOF)
		goto fail;
	return 0;
fail:
	return mlops_error_sys(errno, "unable to write CSV");
}

int mlops_csv_write_record(FILE *f, const struct mlops_csv_field *fields,
			   size_t n, char delim)
{
	int error;
	if (n == 1 && fields[0].len == 0) {
		if (fputs("\"\"\n", f) == EOF)
			return mlops_error_sys(errno, "unable to write CSV");
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (i && putc(delim, f) == EOF)
			return mlops_error_sys(errno, "unable to write CSV");
		if ((error = mlops_csv_write_field(f, fields[i].ptr, fields[i].len, delim)) < 0)
			return error;
	}
	if (putc('\n', f) == EOF)
		return mlops_error_sys(errno, "unable to write CSV");
	return 0;
}

size_t mlops_csv_bom_len(const void *text, size_t len)
{
	return len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}
