/*
 * json.c - canonical JSON records (see json.h).
 */
#include "json.h"
#include "error.h"
#include "odb.h"
#include "utf8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_items(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

void mlops_json_sort(cJSON *value)
{
	if (!value)
		return;
	size_t n = 0;
	for (cJSON *c = value->child; c; c = c->next) {
		mlops_json_sort(c);
		n++;
	}
	if (!cJSON_IsObject(value) || n < 2)
		return;
	cJSON **items = malloc(n * sizeof(*items));
	if (!items)
		return;
	size_t i = 0;
	for (cJSON *c = value->child; c; c = c->next)
		items[i++] = c;
	qsort(items, n, sizeof(*items), cmp_items);
	for (i = 0; i < n; i++) {
		items[i]->prev = i ? items[i - 1] : items[n - 1];
		items[i]->next = i + 1 < n ? items[i + 1] : NULL;
	}
	value->child = items[0];
	free(items);
}

/*
 * cJSON prints a number with 15 significant digits when that text reads
 * back within DBL_EPSILON of it, not only when it reads back exactly: the
 * last bit of a value such as 0.1 + 0.2 was lost.  Such numbers become
 * raw nodes holding the 17 digits cJSON prints for the others (so no
 * other number's text changes) for the time of a print: undo turns them
 * back.  0 on success, -1 when out of memory (what was done is undone by
 * the caller's undo pass).
 */
static int exact_numbers(cJSON *v, int undo)
{
	for (; v; v = v->next) {
		int type = v->type & 0xFF;
		if (undo && type == cJSON_Raw && v->valuestring && (v->type & MLOPS_JSON_EXACT)) {
			free(v->valuestring);
			v->valuestring = NULL;
			v->type = (v->type & ~0xFF & ~MLOPS_JSON_EXACT) | cJSON_Number;
		} else if (!undo && type == cJSON_Number && isfinite(v->valuedouble) &&
			   v->valuedouble != (double)v->valueint) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%1.15g", v->valuedouble);
			if (strtod(buf, NULL) != v->valuedouble) {
				snprintf(buf, sizeof(buf), "%1.17g", v->valuedouble);
				if (!(v->valuestring = strdup(buf)))
					return -1;
				v->type = (v->type & ~0xFF) | cJSON_Raw | MLOPS_JSON_EXACT;
			}
		}
		if (v->child && exact_numbers(v->child, undo) < 0)
			return -1;
	}
	return 0;
}

/* A string and where it was, while the print writes a text copy instead. */
struct swap {
	char **slot;
	char *orig;
};

struct swaps {
	struct swap *s;
	size_t n, cap;
};

/* s with each byte that starts no UTF-8 sequence written as U+FFFD. */
static char *text_copy(const char *s)
{
	char *t = malloc(3 * strlen(s) + 1), *o = t;
	if (!t)
		return NULL;
	while (*s) {
		size_t n = mlops_utf8_seq(s, NULL);
		if (n) {
			memcpy(o, s, n);
			o += n;
			s += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			s++;
		}
	}
	*o = '\0';
	return t;
}

/* Point *slot at a text copy of itself when it is not UTF-8; -1 when out of memory. */
static int swap_in(struct swaps *w, char **slot)
{
	if (!*slot || !mlops_utf8_invalid(*slot))
		return 0;
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 8;
		struct swap *s = realloc(w->s, cap * sizeof(*s));
		if (!s)
			return -1;
		w->s = s;
		w->cap = cap;
	}
	char *t = text_copy(*slot);
	if (!t)
		return -1;
	w->s[w->n++] = (struct swap){ slot, *slot };
	*slot = t;
	return 0;
}

/* Every key and string value of v and what follows it, swapped for text. */
static int text_strings(cJSON *v, struct swaps *w)
{
	for (; v; v = v->next) {
		if (swap_in(w, &v->string) < 0 ||
		    ((v->type & 0xFF) == cJSON_String && swap_in(w, &v->valuestring) < 0) ||
		    (v->child && text_strings(v->child, w) < 0))
			return -1;
	}
	return 0;
}

static void swap_back(struct swaps *w)
{
	for (size_t i = w->n; i-- > 0;) {
		free(*w->s[i].slot);
		*w->s[i].slot = w->s[i].orig;
	}
	free(w->s);
}

static char *print(const cJSON *cvalue, int formatted, int text)
{
	/* Changed while printing and restored: see json.h. */
	cJSON *value = (cJSON *)cvalue;
	if (!value)
		return NULL;
	cJSON *next = value->next;
	value->next = NULL; /* the walk covers value and what it holds only */
	char *out = NULL;
	struct swaps w = { NULL, 0, 0 };
	if (exact_numbers(value, 0) == 0 && (!text || text_strings(value, &w) == 0))
		out = formatted ? cJSON_Print(value) : cJSON_PrintUnformatted(value);
	swap_back(&w);
	exact_numbers(value, 1);
	value->next = next;
	return out;
}

char *mlops_json_print(const cJSON *value, int formatted)
{
	return print(value, formatted, 1);
}

char *mlops_json_print_exact(const cJSON *value, int formatted)
{
	return print(value, formatted, 0);
}

int mlops_json_canonical(char **out, cJSON *value)
{
	mlops_json_sort(value);
	*out = mlops_json_print_exact(value, 0);
	if (!*out)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	return 0;
}

int mlops_json_store(mlops_oid *out, struct mlops_odb *odb, cJSON *value, uint64_t *stored)
{
	char *text;
	int err = mlops_json_canonical(&text, value);
	if (err < 0)
		return err;
	err = mlops_odb_write(out, odb, text, strlen(text), stored);
	free(text);
	return err;
}

int mlops_json_load(cJSON **out, struct mlops_odb *odb, const mlops_oid *id)
{
	void *data;
	size_t len;
	char hex[MLOPS_OID_HEXSZ + 1];
	int err = mlops_odb_read(&data, &len, odb, id);
	if (err < 0)
		return err;
	*out = cJSON_ParseWithLength(data, len);
	free(data);
	if (!*out || !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return mlops_error_set(MLOPS_ECORRUPT, "object %s is not a JSON record",
				       mlops_oid_fmt(hex, id));
	}
	return 0;
}

const char *mlops_json_str(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

double mlops_json_num(const cJSON *obj, const char *key, double dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

uint64_t mlops_json_u64(const cJSON *obj, const char *key, uint64_t dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 9223372036854775808.0))
		return dflt;
	return (uint64_t)v->valuedouble;
}

cJSON *mlops_json_add_oid(cJSON *obj, const char *key, const mlops_oid *id)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	cJSON_AddStringToObject(obj, key, mlops_oid_fmt(hex, id));
	return obj;
}

int mlops_json_get_oid(mlops_oid *out, const cJSON *obj, const char *key)
{
	const char *s = mlops_json_str(obj, key);
	if (!s)
		return mlops_error_set(MLOPS_EINVALID, "record has no '%s'", key);
	return mlops_oid_parse(out, s);
}

/* Quadratic in an object's keys: records have few keys an object. */
int mlops_json_unique_keys(const cJSON *v, char *where, size_t cap)
{
	size_t len = strlen(where), i = 0;
	const cJSON *c;
	int err;
	cJSON_ArrayForEach(c, v) {
		if (cJSON_IsObject(v)) {
			for (const cJSON *d = v->child; d != c; d = d->next)
				if (!strcmp(d->string, c->string))
					return len ? mlops_error_set(MLOPS_EINVALID, "%s: key '%s' is given twice", where,
								     c->string) :
						     mlops_error_set(MLOPS_EINVALID, "key '%s' is given twice", c->string);
			snprintf(where + len, cap - len, "%s%s", len ? "." : "", c->string);
		} else {
			snprintf(where + len, cap - len, "[%zu]", i);
		}
		i++;
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && (err = mlops_json_unique_keys(c, where, cap)) < 0)
			return err;
		where[len] = '\0';
	}
	return 0;
}
