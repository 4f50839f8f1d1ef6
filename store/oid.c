/*
 * oid.c - object ids and SHA-256 hashing (OpenSSL's SHA-256 functions).
 *
 * The direct SHA256_* functions run the same code as EVP's SHA-256, but
 * without EVP's first use, which loads the OpenSSL configuration and
 * builds the provider's algorithm tables: about a millisecond, a fifth of
 * a short command such as `mlops feature get`.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "oid.h"
#include "error.h"

#include <openssl/sha.h>
#include <stdlib.h>

char *mlops_oid_fmt(char out[MLOPS_OID_HEXSZ + 1], const mlops_oid *oid)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < MLOPS_OID_RAWSZ; i++) {
		out[2 * i] = hex[oid->id[i] >> 4];
		out[2 * i + 1] = hex[oid->id[i] & 15];
	}
	out[MLOPS_OID_HEXSZ] = '\0';
	return out;
}

/*
 * A hex digit's value plus one, 0 for any other byte: a table, because the
 * digits of an id are random, and so are the branches of comparing ranges
 * (mispredicted half the time: a tenth of a walk of 50,000 tree entries).
 */
static const unsigned char hexplus1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
	['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
	['f'] = 16, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* The same for the lowercase digits alone, the form ids print in. */
static const unsigned char lowerplus1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
	['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
	['f'] = 16,
};

int mlops_oid_parse(mlops_oid *out, const char *hex)
{
	if (!hex || strlen(hex) != MLOPS_OID_HEXSZ)
		return mlops_error_set(MLOPS_EINVALID, "'%s' is not an object id", hex ? hex : "");
	mlops_oid id;
	int bad = 0;
	for (size_t i = 0; i < MLOPS_OID_RAWSZ; i++) {
		unsigned hi = hexplus1[(unsigned char)hex[2 * i]], lo = hexplus1[(unsigned char)hex[2 * i + 1]];
		bad |= !hi | !lo;
		id.id[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
	}
	if (bad)
		return mlops_error_set(MLOPS_EINVALID, "'%s' is not an object id", hex);
	*out = id;
	return 0;
}

int mlops_oid_parse_printed(mlops_oid *out, const char *s)
{
	mlops_oid id;
	for (size_t i = 0; i < MLOPS_OID_RAWSZ; i++) {
		unsigned hi = lowerplus1[(unsigned char)s[2 * i]];
		if (!hi)
			return 0; /* most strings scanned end here, at their first byte */
		unsigned lo = lowerplus1[(unsigned char)s[2 * i + 1]];
		if (!lo)
			return 0;
		id.id[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
	}
	if (s[MLOPS_OID_HEXSZ])
		return 0;
	*out = id;
	return 1;
}

int mlops_oid_is_prefix(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!hexplus1[(unsigned char)s[n]])
			return 0;
	return n >= 4 && n <= MLOPS_OID_HEXSZ;
}

void mlops_hash_buf(mlops_oid *out, const void *data, size_t len)
{
	SHA256_CTX ctx;
	SHA256_Init(&ctx);
	SHA256_Update(&ctx, data, len);
	SHA256_Final(out->id, &ctx);
}

struct mlops_hash {
	SHA256_CTX ctx;
};

struct mlops_hash *mlops_hash_new(void)
{
	struct mlops_hash *h = malloc(sizeof(*h));
	if (!h)
		return NULL;
	SHA256_Init(&h->ctx);
	return h;
}

void mlops_hash_update(struct mlops_hash *h, const void *data, size_t len)
{
	SHA256_Update(&h->ctx, data, len);
}

void mlops_hash_final(mlops_oid *out, struct mlops_hash *h)
{
	SHA256_Final(out->id, &h->ctx);
	SHA256_Init(&h->ctx);
}

void mlops_hash_free(struct mlops_hash *h)
{
	free(h);
}

int mlops_oid_list_add(const mlops_oid *id, void *list)
{
	struct mlops_oid_list *l = list;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		mlops_oid *p = realloc(l->ids, cap * sizeof(*p));
		if (!p)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		l->ids = p;
		l->cap = cap;
	}
	l->ids[l->n++] = *id;
	return 0;
}
