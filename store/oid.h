/*
 * oid.h - object ids: SHA-256 of an object's uncompressed content.
 *
 * Ids print as 64 lowercase hex digits.  Hashing goes through OpenSSL's EVP
 * interface, which uses the CPU's SHA extensions where present.
 */
#ifndef MLOPS_OID_H
#define MLOPS_OID_H

#include <stddef.h>
#include <string.h>

#define MLOPS_OID_RAWSZ 32
#define MLOPS_OID_HEXSZ 64

typedef struct {
	unsigned char id[MLOPS_OID_RAWSZ];
} mlops_oid;

/* Write the 64 hex digits and a NUL into out; returns out. */
char *mlops_oid_fmt(char out[MLOPS_OID_HEXSZ + 1], const mlops_oid *oid);

/* Parse exactly 64 hex digits (either case); MLOPS_EINVALID otherwise. */
int mlops_oid_parse(mlops_oid *out, const char *hex);

/*
 * 1 with out set when s is exactly the 64 lowercase hex digits an id prints
 * as; 0 otherwise, with out left alone and no error set: for scanning text
 * where most strings are not ids.
 */
int mlops_oid_parse_printed(mlops_oid *out, const char *s);

/* 1 when s is 4..64 hex digits (a usable prefix), else 0. */
int mlops_oid_is_prefix(const char *s);

static inline int mlops_oid_cmp(const mlops_oid *a, const mlops_oid *b)
{
	return memcmp(a->id, b->id, MLOPS_OID_RAWSZ);
}

/* mlops_oid_cmp for qsort and bsearch over arrays of mlops_oid. */
static inline int mlops_oid_qcmp(const void *a, const void *b)
{
	return mlops_oid_cmp(a, b);
}

static inline int mlops_oid_is_zero(const mlops_oid *a)
{
	static const mlops_oid zero;
	return !memcmp(a->id, zero.id, MLOPS_OID_RAWSZ);
}

/* SHA-256 of one buffer. */
void mlops_hash_buf(mlops_oid *out, const void *data, size_t len);

/* Incremental hashing; a context is reused after _final. */
struct mlops_hash;
struct mlops_hash *mlops_hash_new(void);
void mlops_hash_update(struct mlops_hash *h, const void *data, size_t len);
void mlops_hash_final(mlops_oid *out, struct mlops_hash *h);
void mlops_hash_free(struct mlops_hash *h);

/* A growing list of ids; zero-initialised is empty; free(list.ids). */
struct mlops_oid_list {
	mlops_oid *ids;
	size_t n, cap;
};

/*
 * Append id to the mlops_oid_list `list`; the signature of the id
 * callbacks (mlops_reach_foreach and the like).  MLOPS_ERROR on no memory.
 */
int mlops_oid_list_add(const mlops_oid *id, void *list);

#endif
