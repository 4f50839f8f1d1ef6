/*
 * oidmap.c - hash map from object ids to 64-bit values (see oidmap.h).
 */
#include "oidmap.h"
#include "error.h"

#include <stdlib.h>
#include <string.h>

struct slot {
	mlops_oid id;
	uint64_t val;
	int used;
};

struct mlops_oidmap {
	struct slot *slots;
	size_t cap, count;
};

int mlops_oidmap_new(struct mlops_oidmap **out)
{
	struct mlops_oidmap *m = calloc(1, sizeof(*m));
	if (!m || !(m->slots = calloc(64, sizeof(*m->slots)))) {
		free(m);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	m->cap = 64;
	*out = m;
	return 0;
}

void mlops_oidmap_free(struct mlops_oidmap *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m);
}

static size_t hash_of(const mlops_oid *id)
{
	uint64_t h;
	memcpy(&h, id->id, sizeof(h));
	return (size_t)h;
}

static struct slot *find(const struct mlops_oidmap *m, const mlops_oid *id)
{
	size_t mask = m->cap - 1;
	for (size_t i = hash_of(id) & mask;; i = (i + 1) & mask) {
		struct slot *s = &m->slots[i];
		if (!s->used || !mlops_oid_cmp(&s->id, id))
			return s;
	}
}

static int grow(struct mlops_oidmap *m)
{
	size_t cap = m->cap * 2;
	struct slot *old = m->slots, *s = calloc(cap, sizeof(*s));
	if (!s)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	size_t oldcap = m->cap;
	m->slots = s;
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].used)
			*find(m, &old[i].id) = old[i];
	free(old);
	return 0;
}

int mlops_oidmap_put(struct mlops_oidmap *m, const mlops_oid *id, uint64_t **val)
{
	struct slot *s = find(m, id);
	if (s->used) {
		if (val)
			*val = &s->val;
		return 0;
	}
	if ((m->count + 1) * 4 > m->cap * 3) {
		if (grow(m) < 0)
			return MLOPS_ERROR;
		s = find(m, id);
	}
	s->used = 1;
	s->id = *id;
	s->val = 0;
	m->count++;
	if (val)
		*val = &s->val;
	return 1;
}

uint64_t *mlops_oidmap_get(const struct mlops_oidmap *m, const mlops_oid *id)
{
	struct slot *s = find(m, id);
	return s->used ? &s->val : NULL;
}

size_t mlops_oidmap_count(const struct mlops_oidmap *m)
{
	return m->count;
}

int mlops_oidmap_foreach(const struct mlops_oidmap *m,
			 int (*cb)(const mlops_oid *id, uint64_t *val, void *payload), void *payload)
{
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->slots[i].used)
			continue;
		int rc = cb(&m->slots[i].id, &m->slots[i].val, payload);
		if (rc)
			return rc;
	}
	return 0;
}
