/*
 * sigv4.c - AWS Signature Version 4: canonical request, string to sign,
 * signing key and Authorization header (see sigv4.h).
 *
 * Strings are built in a small growable buffer that remembers an allocation
 * failure, so a whole request is assembled first and checked once.  Headers
 * and parameters are sorted on copies of their encoded or lower-cased forms;
 * the caller's arrays are never changed.
 */
#include "sigv4.h"
#include "error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_grow(struct sbuf *b, size_t more)
{
	size_t cap;
	char *p;
	if (b->oom || b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_adds(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_addc(struct sbuf *b, char c)
{
	sb_add(b, &c, 1);
}

static void sb_add_encoded(struct sbuf *b, const char *s, size_t n, int keep_slash)
{
	sb_grow(b, 3 * n);
	if (b->oom)
		return;
	b->len += mlops_sigv4_uri_encode(b->p + b->len, s, n, keep_slash);
}

/* Hand the buffer's string to *out, or fail when an allocation failed. */
static int sb_finish(char **out, struct sbuf *b)
{
	if (b->oom || !b->p) {
		free(b->p);
		*out = NULL;
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	*out = b->p;
	return 0;
}

static void hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void mlops_sigv4_sha256_hex(char out[65], const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
	hex(out, md, 32);
}

static void hmac(unsigned char out[32], const void *key, size_t keylen, const char *msg)
{
	unsigned int outlen = 32;
	HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &outlen);
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.' || c == '~';
}

size_t mlops_sigv4_uri_encode(char *dst, const char *src, size_t len, int keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if (unreserved(c) || (keep_slash && c == '/')) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '%';
			dst[o++] = digits[c >> 4];
			dst[o++] = digits[c & 15];
		}
	}
	dst[o] = '\0';
	return o;
}

void mlops_sigv4_amz_date(char out[17], time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* An encoded query parameter: "name=value" with the split point. */
struct qpart {
	char *s;
	size_t name_len;
};

static int qpart_cmp(const void *a, const void *b)
{
	const struct qpart *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->s, y->s, n);
	if (c)
		return c;
	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return strcmp(x->s + x->name_len, y->s + y->name_len);
}

int mlops_sigv4_canonical_query(char **out, const struct mlops_sigv4_param *query, size_t n)
{
	struct qpart *parts = NULL;
	struct sbuf b = {0};
	size_t i, done = 0;
	int error = 0;

	*out = NULL;
	if (n && !(parts = calloc(n, sizeof(*parts)))) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++, done++) {
		struct sbuf p = {0};
		const char *v = query[i].value ? query[i].value : "";
		sb_add_encoded(&p, query[i].name, strlen(query[i].name), 0);
		parts[i].name_len = p.len;
		sb_addc(&p, '=');
		sb_add_encoded(&p, v, strlen(v), 0);
		if ((error = sb_finish(&parts[i].s, &p)) < 0)
			goto cleanup;
	}
	if (n)
		qsort(parts, n, sizeof(*parts), qpart_cmp);
	sb_adds(&b, "");
	for (i = 0; i < n; i++) {
		if (i)
			sb_addc(&b, '&');
		sb_adds(&b, parts[i].s);
	}
	error = sb_finish(out, &b);

cleanup:
	for (i = 0; i < done; i++)
		free(parts[i].s);
	free(parts);
	return error;
}

/* A header prepared for signing: lower-cased name, normalized value. */
struct hpart {
	char *name;
	char *value;
	size_t order;
};

static int hpart_cmp(const void *a, const void *b)
{
	const struct hpart *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Trim the value and collapse each run of spaces or tabs into one space. */
static char *normalize_value(const char *v)
{
	size_t n = strlen(v), o = 0;
	char *s = malloc(n + 1);
	int space = 0;
	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			space = o > 0;
			continue;
		}
		if (space)
			s[o++] = ' ';
		space = 0;
		s[o++] = c;
	}
	s[o] = '\0';
	return s;
}

int mlops_sigv4_canonical_request(char **out, char **out_signed_headers,
		const struct mlops_sigv4_request *req)
{
	struct hpart *hs = NULL;
	struct sbuf b = {0}, sh = {0};
	char *query = NULL;
	size_t i, n = req->nheaders;
	int error = 0;

	*out = NULL;
	if (out_signed_headers)
		*out_signed_headers = NULL;
	if (!req->method || !req->path || req->path[0] != '/' || !req->payload_hash) {
		error = mlops_error_set(MLOPS_EUSAGE, "incomplete request to sign");
		goto cleanup;
	}
	if (n && !(hs = calloc(n, sizeof(*hs)))) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		hs[i].order = i;
		hs[i].name = strdup(req->headers[i].name);
		hs[i].value = normalize_value(req->headers[i].value ? req->headers[i].value : "");
		if (!hs[i].name || !hs[i].value) {
			error = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto cleanup;
		}
		for (char *p = hs[i].name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	if (n)
		qsort(hs, n, sizeof(*hs), hpart_cmp);
	if ((error = mlops_sigv4_canonical_query(&query, req->query, req->nquery)) < 0)
		goto cleanup;

	sb_adds(&b, req->method);
	sb_addc(&b, '\n');
	sb_add_encoded(&b, req->path, strlen(req->path), 1);
	sb_addc(&b, '\n');
	sb_adds(&b, query);
	sb_addc(&b, '\n');
	sb_adds(&sh, "");
	for (i = 0; i < n; i++) {
		int repeat = i > 0 && strcmp(hs[i].name, hs[i - 1].name) == 0;
		if (repeat) {
			sb_addc(&b, ',');
		} else {
			if (i)
				sb_addc(&b, '\n');
			sb_adds(&b, hs[i].name);
			sb_addc(&b, ':');
			if (sh.len)
				sb_addc(&sh, ';');
			sb_adds(&sh, hs[i].name);
		}
		sb_adds(&b, hs[i].value);
	}
	if (n)
		sb_addc(&b, '\n');
	sb_addc(&b, '\n');
	sb_adds(&b, sh.p ? sh.p : "");
	sb_addc(&b, '\n');
	sb_adds(&b, req->payload_hash);

	if ((error = sb_finish(out, &b)) < 0) {
		b.p = NULL;
		goto cleanup;
	}
	b.p = NULL;
	if (out_signed_headers) {
		if ((error = sb_finish(out_signed_headers, &sh)) < 0) {
			free(*out);
			*out = NULL;
		}
		sh.p = NULL;
	}

cleanup:
	if (hs) {
		for (i = 0; i < n; i++) {
			free(hs[i].name);
			free(hs[i].value);
		}
	}
	free(hs);
	free(query);
	free(b.p);
	free(sh.p);
	return error;
}

static int valid_amz_date(const char *d)
{
	if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
		return 0;
	for (int i = 0; i < 15; i++)
		if (i != 8 && !isdigit((unsigned char)d[i]))
			return 0;
	return 1;
}

int mlops_sigv4_string_to_sign(char **out, const char *amz_date, const char *region,
		const char *service, const char *canonical_request)
{
	struct sbuf b = {0};
	char h[65];

	*out = NULL;
	if (!valid_amz_date(amz_date))
		return mlops_error_set(MLOPS_EUSAGE, "malformed signing date '%s'", amz_date ? amz_date : "");
	mlops_sigv4_sha256_hex(h, canonical_request, strlen(canonical_request));
	sb_adds(&b, "AWS4-HMAC-SHA256\n");
	sb_adds(&b, amz_date);
	sb_addc(&b, '\n');
	sb_add(&b, amz_date, 8);
	sb_addc(&b, '/');
	sb_adds(&b, region);
	sb_addc(&b, '/');
	sb_adds(&b, service);
	sb_adds(&b, "/aws4_request\n");
	sb_adds(&b, h);
	return sb_finish(out, &b);
}

void mlops_sigv4_signing_key(unsigned char out[32], const char *secret,
		const char *date8, const char *region, const char *service)
{
	size_t slen = strlen(secret);
	unsigned char k[32];
	char *ksecret = malloc(slen + 5);
	char date[9];

	memcpy(date, date8, 8);
	date[8] = '\0';
	if (!ksecret) {
		memset(out, 0, 32);
		return;
	}
	memcpy(ksecret, "AWS4", 4);
	memcpy(ksecret + 4, secret, slen + 1);
	hmac(k, ksecret, slen + 4, date);
	OPENSSL_cleanse(ksecret, slen + 4);
	free(ksecret);
	hmac(k, k, 32, region);
	hmac(k, k, 32, service);
	hmac(out, k, 32, "aws4_request");
	OPENSSL_cleanse(k, sizeof(k));
}

void mlops_sigv4_signature(char out[65], const unsigned char key[32], const char *string_to_sign)
{
	unsigned char sig[32];
	hmac(sig, key, 32, string_to_sign);
	hex(out, sig, 32);
}

int mlops_sigv4_authorization(char **out, const char *access_key,
		const unsigned char key[32], const char *amz_date, const char *region,
		const char *service, const struct mlops_sigv4_request *req)
{
	char *canonical = NULL, *signed_headers = NULL, *sts = NULL;
	struct sbuf b = {0};
	char sig[65];
	int error;

	*out = NULL;
	if ((error = mlops_sigv4_canonical_request(&canonical, &signed_headers, req)) < 0)
		goto cleanup;
	if ((error = mlops_sigv4_string_to_sign(&sts, amz_date, region, service, canonical)) < 0)
		goto cleanup;
	mlops_sigv4_signature(sig, key, sts);
	sb_adds(&b, "AWS4-HMAC-SHA256 Credential=");
	sb_adds(&b, access_key);
	sb_addc(&b, '/');
	sb_add(&b, amz_date, 8);
	sb_addc(&b, '/');
	sb_adds(&b, region);
	sb_addc(&b, '/');
	sb_adds(&b, service);
	sb_adds(&b, "/aws4_request, SignedHeaders=");
	sb_adds(&b, signed_headers);
	sb_adds(&b, ", Signature=");
	sb_adds(&b, sig);
	error = sb_finish(out, &b);

cleanup:
	free(canonical);
	free(signed_headers);
	free(sts);
	return error;
}
