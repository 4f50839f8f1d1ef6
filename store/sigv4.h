/*
 * sigv4.h - AWS Signature Version 4 (AWS4-HMAC-SHA256) request signing.
 *
 * The four steps of the published algorithm, each callable on its own so
 * that it can be checked against AWS's test suite: the canonical request,
 * the string to sign, the derived signing key, and the Authorization header
 * that carries the signature.  Hashes and HMACs come from OpenSSL.
 *
 * Paths and query parameters are given raw (not percent-encoded); they are
 * encoded once, byte by byte, keeping only the unreserved characters
 * A-Z a-z 0-9 - _ . ~ (and '/' in paths).  That is the S3 rule; paths are
 * not normalized ("." and ".." segments are kept), as S3 requires.
 *
 * Nothing here keeps state or logs anything; secrets only pass through.
 */
#ifndef MLOPS_SIGV4_H
#define MLOPS_SIGV4_H

#include <stddef.h>
#include <time.h>

/* The payload hash that signs a request without hashing its body. */
#define MLOPS_SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

/* SHA-256 of the empty string, the payload hash of a request with no body. */
#define MLOPS_SIGV4_EMPTY_SHA256 \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct mlops_sigv4_header {
	const char *name;  /* any case; lower-cased when signed */
	const char *value; /* trimmed, inner runs of spaces collapsed */
};

struct mlops_sigv4_param {
	const char *name;  /* raw, encoded when signed */
	const char *value; /* raw; NULL or "" sign as "name=" */
};

struct mlops_sigv4_request {
	const char *method;      /* "GET", "PUT", ... */
	const char *path;        /* raw absolute path, "/" at least */
	const struct mlops_sigv4_param *query;
	size_t nquery;
	/* Every header to sign, "host" and "x-amz-date" included. */
	const struct mlops_sigv4_header *headers;
	size_t nheaders;
	/* Lower-case hex SHA-256 of the body, or MLOPS_SIGV4_UNSIGNED_PAYLOAD. */
	const char *payload_hash;
};

/* out = lower-case hex SHA-256 of data[0..len). */
void mlops_sigv4_sha256_hex(char out[65], const void *data, size_t len);

/*
 * Percent-encode src[0..len) into dst, which must hold 3 * len + 1 bytes;
 * '/' is kept when keep_slash.  Returns the length written (dst is
 * NUL-terminated).
 */
size_t mlops_sigv4_uri_encode(char *dst, const char *src, size_t len, int keep_slash);

/* out = the ISO 8601 basic time "YYYYMMDDTHHMMSSZ" of t, in UTC. */
void mlops_sigv4_amz_date(char out[17], time_t t);

/*
 * *out = the canonical query string of the parameters: each name and value
 * encoded, sorted by encoded name then value, joined with '&'.  The same
 * string serves as the query of the URL sent.  Caller frees *out.
 * Returns 0 or MLOPS_ERROR when out of memory.
 */
int mlops_sigv4_canonical_query(char **out, const struct mlops_sigv4_param *query, size_t n);

/*
 * *out = the canonical request of req; *out_signed_headers (when not NULL)
 * = its SignedHeaders list ("host;x-amz-date").  Header names are compared
 * case-insensitively; repeated names are joined with ',' in the given
 * order.  Caller frees both.  Returns 0, MLOPS_EUSAGE for a missing method,
 * path or payload hash, or MLOPS_ERROR when out of memory.
 */
int mlops_sigv4_canonical_request(char **out, char **out_signed_headers,
		const struct mlops_sigv4_request *req);

/*
 * *out = the string to sign: "AWS4-HMAC-SHA256\n" amz_date "\n" scope "\n"
 * hex SHA-256 of the canonical request, where scope is
 * "YYYYMMDD/region/service/aws4_request".  amz_date is "YYYYMMDDTHHMMSSZ".
 * Caller frees *out.  Returns 0, MLOPS_EUSAGE for a malformed date, or
 * MLOPS_ERROR when out of memory.
 */
int mlops_sigv4_string_to_sign(char **out, const char *amz_date, const char *region,
		const char *service, const char *canonical_request);

/*
 * out = the signing key HMAC(HMAC(HMAC(HMAC("AWS4" secret, date8), region),
 * service), "aws4_request"), where date8 is "YYYYMMDD".  The key stays valid
 * for that day, so a client may derive it once a day.
 */
void mlops_sigv4_signing_key(unsigned char out[32], const char *secret,
		const char *date8, const char *region, const char *service);

/* out = lower-case hex HMAC-SHA256(key, string_to_sign), the signature. */
void mlops_sigv4_signature(char out[65], const unsigned char key[32], const char *string_to_sign);

/*
 * *out = the value of the Authorization header for req:
 * "AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=..., Signature=...".
 * key is the signing key of amz_date's day (mlops_sigv4_signing_key); the
 * secret itself is not needed here.  Caller frees *out.  Returns 0 or the
 * errors of mlops_sigv4_canonical_request and mlops_sigv4_string_to_sign.
 */
int mlops_sigv4_authorization(char **out, const char *access_key,
		const unsigned char key[32], const char *amz_date, const char *region,
		const char *service, const struct mlops_sigv4_request *req);

#endif
