/*
 * test_sigv4.c - AWS Signature Version 4 against AWS's published examples.
 *
 * Expected values are those of AWS's SigV4 test suite (credentials
 * AKIDEXAMPLE, region us-east-1, service "service", 20150830T123600Z) and
 * of the S3 documentation's signing examples (AKIAIOSFODNN7EXAMPLE,
 * examplebucket, 20130524T000000Z).  The derived signing keys were computed
 * with Python's hmac module; f4780e2d... is also the value AWS documents.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/error.h"
#include "store/sigv4.h"

#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define SUITE_HOST "example.amazonaws.com"
#define S3_AKID "AKIAIOSFODNN7EXAMPLE"
#define S3_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define S3_DATE "20130524T000000Z"
#define S3_HOST "examplebucket.s3.amazonaws.com"

/* Sign req with the given credentials and return the Authorization value. */
static __attribute__((noinline)) char *authorize(const char *akid, const char *secret, const char *date,
		const char *service, const struct mlops_sigv4_request *req)
{
	unsigned char key[32];
	char *auth = NULL;
	mlops_sigv4_signing_key(key, secret, date, "us-east-1", service);
	assert_int_equal(mlops_sigv4_authorization(&auth, akid, key, date, "us-east-1", service, req), 0);
	return auth;
}

static char *suite_sign(const struct mlops_sigv4_request *req)
{
	return authorize("AKIDEXAMPLE", SUITE_SECRET, SUITE_DATE, "service", req);
}

static void expect_signature(const char *auth, const char *sig)
{
	const char *p = strstr(auth, "Signature=");
	assert_non_null(p);
	assert_string_equal(p + strlen("Signature="), sig);
}

static void test_signing_key(void **state)
{
	unsigned char key[32];
	char h[65];
	static const char digits[] = "0123456789abcdef";
	(void)state;
	mlops_sigv4_signing_key(key, SUITE_SECRET, "20120215", "us-east-1", "iam");
	for (int i = 0; i < 32; i++) {
		h[2 * i] = digits[key[i] >> 4];
		h[2 * i + 1] = digits[key[i] & 15];
	}
	h[64] = '\0';
	assert_string_equal(h, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
	mlops_sigv4_signing_key(key, SUITE_SECRET, "20150830", "us-east-1", "service");
	for (int i = 0; i < 32; i++) {
		h[2 * i] = digits[key[i] >> 4];
		h[2 * i + 1] = digits[key[i] & 15];
	}
	assert_string_equal(h, "938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75");
}

static void test_get_vanilla(void **state)
{
	struct mlops_sigv4_header hs[] = { { "Host", SUITE_HOST }, { "X-Amz-Date", SUITE_DATE } };
	struct mlops_sigv4_request req = { "GET", "/", NULL, 0, hs, 2, MLOPS_SIGV4_EMPTY_SHA256 };
	char *canonical = NULL, *signed_headers = NULL, *sts = NULL, *auth;
	(void)state;

	assert_int_equal(mlops_sigv4_canonical_request(&canonical, &signed_headers, &req), 0);
	assert_string_equal(canonical,
		"GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
		"host;x-amz-date\n" MLOPS_SIGV4_EMPTY_SHA256);
	assert_string_equal(signed_headers, "host;x-amz-date");
	assert_int_equal(mlops_sigv4_string_to_sign(&sts, SUITE_DATE, "us-east-1", "service", canonical), 0);
	assert_string_equal(sts, "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
		"bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
	auth = suite_sign(&req);
	assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
		"SignedHeaders=host;x-amz-date, "
		"Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	free(canonical);
	free(signed_headers);
	free(sts);
	free(auth);
}

static void test_get_vanilla_query_order_key_case(void **state)
{
	struct mlops_sigv4_header hs[] = { { "Host", SUITE_HOST }, { "X-Amz-Date", SUITE_DATE } };
	struct mlops_sigv4_param q[] = { { "Param2", "value2" }, { "Param1", "value1" } };
	struct mlops_sigv4_request req = { "GET", "/", q, 2, hs, 2, MLOPS_SIGV4_EMPTY_SHA256 };
	char *auth;
	(void)state;
	auth = suite_sign(&req);
	expect_signature(auth, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
	free(auth);
}

static void test_get_utf8(void **state)
{
	struct mlops_sigv4_header hs[] = { { "Host", SUITE_HOST }, { "X-Amz-Date", SUITE_DATE } };
	struct mlops_sigv4_request req = { "GET", "/\xe1\x88\xb4", NULL, 0, hs, 2, MLOPS_SIGV4_EMPTY_SHA256 };
	char *canonical = NULL, *auth;
	(void)state;
	assert_int_equal(mlops_sigv4_canonical_request(&canonical, NULL, &req), 0);
	assert_non_null(strstr(canonical, "GET\n/%E1%88%B4\n\n"));
	auth = suite_sign(&req);
	expect_signature(auth, "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
	free(canonical);
	free(auth);
}

static void test_post_x_www_form_urlencoded(void **state)
{
	struct mlops_sigv4_header hs[] = {
		{ "Content-Type", "application/x-www-form-urlencoded" },
		{ "Host", SUITE_HOST },
		{ "X-Amz-Date", SUITE_DATE },
	};
	char body_hash[65], *canonical = NULL, *sts = NULL, *auth;
	struct mlops_sigv4_request req = { "POST", "/", NULL, 0, hs, 3, body_hash };
	(void)state;
	mlops_sigv4_sha256_hex(body_hash, "Param1=value1", 13);
	assert_string_equal(body_hash, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
	assert_int_equal(mlops_sigv4_canonical_request(&canonical, NULL, &req), 0);
	assert_int_equal(mlops_sigv4_string_to_sign(&sts, SUITE_DATE, "us-east-1", "service", canonical), 0);
	assert_non_null(strstr(sts, "\n42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"));
	auth = suite_sign(&req);
	assert_non_null(strstr(auth, "SignedHeaders=content-type;host;x-amz-date, "));
	expect_signature(auth, "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
	free(canonical);
	free(sts);
	free(auth);
}

static void test_session_token(void **state)
{
	struct mlops_sigv4_header hs[] = {
		{ "Host", SUITE_HOST },
		{ "X-Amz-Date", SUITE_DATE },
		{ "X-Amz-Security-Token", "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267" },
	};
	struct mlops_sigv4_request req = { "GET", "/", NULL, 0, hs, 3, MLOPS_SIGV4_EMPTY_SHA256 };
	char *auth;
	(void)state;
	auth = suite_sign(&req);
	assert_non_null(strstr(auth, "SignedHeaders=host;x-amz-date;x-amz-security-token, "));
	expect_signature(auth, "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
	free(auth);
}

static void test_header_value_trim(void **state)
{
	struct mlops_sigv4_header hs[] = {
		{ "Host", SUITE_HOST },
		{ "My-Header1", " value1" },
		{ "My-Header2", " \"a   b   c\"" },
		{ "X-Amz-Date", SUITE_DATE },
	};
	struct mlops_sigv4_request req = { "GET", "/", NULL, 0, hs, 4, MLOPS_SIGV4_EMPTY_SHA256 };
	char *canonical = NULL, *auth;
	(void)state;
	assert_int_equal(mlops_sigv4_canonical_request(&canonical, NULL, &req), 0);
	assert_non_null(strstr(canonical, "\nmy-header1:value1\nmy-header2:\"a b c\"\n"));
	auth = suite_sign(&req);
	expect_signature(auth, "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");
	free(canonical);
	free(auth);
}

static void test_header_key_duplicate(void **state)
{
	struct mlops_sigv4_header hs[] = {
		{ "Host", SUITE_HOST },
		{ "My-Header1", "value2" },
		{ "My-Header1", "value2" },
		{ "My-Header1", "value1" },
		{ "X-Amz-Date", SUITE_DATE },
	};
	struct mlops_sigv4_request req = { "GET", "/", NULL, 0, hs, 5, MLOPS_SIGV4_EMPTY_SHA256 };
	char *auth;
	(void)state;
	auth = suite_sign(&req);
	assert_non_null(strstr(auth, "SignedHeaders=host;my-header1;x-amz-date, "));
	expect_signature(auth, "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");
	free(auth);
}

static void test_s3_get_object_range(void **state)
{
	struct mlops_sigv4_header hs[] = {
		{ "Host", S3_HOST },
		{ "Range", "bytes=0-9" },
		{ "x-amz-content-sha256", MLOPS_SIGV4_EMPTY_SHA256 },
		{ "x-amz-date", S3_DATE },
	};
	struct mlops_sigv4_request req = { "GET", "/test.txt", NULL, 0, hs, 4, MLOPS_SIGV4_EMPTY_SHA256 };
	char *canonical = NULL, *sts = NULL, *auth;
	(void)state;
	assert_int_equal(mlops_sigv4_canonical_request(&canonical, NULL, &req), 0);
	assert_int_equal(mlops_sigv4_string_to_sign(&sts, S3_DATE, "us-east-1", "s3", canonical), 0);
	assert_string_equal(sts, "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
		"7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	auth = authorize(S3_AKID, S3_SECRET, S3_DATE, "s3", &req);
	assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
		"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
		"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	free(canonical);
	free(sts);
	free(auth);
}

static void test_s3_put_object(void **state)
{
	char body_hash[65], *canonical = NULL, *auth;
	struct mlops_sigv4_header hs[] = {
		{ "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "Host", S3_HOST },
		{ "x-amz-content-sha256", body_hash },
		{ "x-amz-date", S3_DATE },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
	};
	struct mlops_sigv4_request req = { "PUT", "/test$file.text", NULL, 0, hs, 5, body_hash };
	(void)state;
	mlops_sigv4_sha256_hex(body_hash, "Welcome to Amazon S3.", 21);
	assert_string_equal(body_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	assert_int_equal(mlops_sigv4_canonical_request(&canonical, NULL, &req), 0);
	assert_non_null(strstr(canonical, "PUT\n/test%24file.text\n\n"));
	auth = authorize(S3_AKID, S3_SECRET, S3_DATE, "s3", &req);
	expect_signature(auth, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
	free(canonical);
	free(auth);
}

static void test_s3_get_bucket_lifecycle(void **state)
{
	struct mlops_sigv4_header hs[] = {
		{ "Host", S3_HOST },
		{ "x-amz-content-sha256", MLOPS_SIGV4_EMPTY_SHA256 },
		{ "x-amz-date", S3_DATE },
	};
	struct mlops_sigv4_param q[] = { { "lifecycle", NULL } };
	struct mlops_sigv4_request req = { "GET", "/", q, 1, hs, 3, MLOPS_SIGV4_EMPTY_SHA256 };
	char *auth;
	(void)state;
	auth = authorize(S3_AKID, S3_SECRET, S3_DATE, "s3", &req);
	expect_signature(auth, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
	free(auth);
}

static void test_s3_list_objects(void **state)
{
	struct mlops_sigv4_header hs[] = {
		{ "Host", S3_HOST },
		{ "x-amz-content-sha256", MLOPS_SIGV4_EMPTY_SHA256 },
		{ "x-amz-date", S3_DATE },
	};
	struct mlops_sigv4_param q[] = { { "prefix", "J" }, { "max-keys", "2" } };
	struct mlops_sigv4_request req = { "GET", "/", q, 2, hs, 3, MLOPS_SIGV4_EMPTY_SHA256 };
	char *query = NULL, *auth;
	(void)state;
	assert_int_equal(mlops_sigv4_canonical_query(&query, q, 2), 0);
	assert_string_equal(query, "max-keys=2&prefix=J");
	auth = authorize(S3_AKID, S3_SECRET, S3_DATE, "s3", &req);
	expect_signature(auth, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
	free(query);
	free(auth);
}

static void test_encoding(void **state)
{
	char out[64], *query = NULL;
	struct mlops_sigv4_param q[] = { { "b", "x y" }, { "a", "2" }, { "a", "1" }, { "c/d", "~e+f=" } };
	(void)state;
	assert_int_equal(mlops_sigv4_uri_encode(out, "a b/c~_-.*", 10, 1), strlen("a%20b/c~_-.%2A"));
	assert_string_equal(out, "a%20b/c~_-.%2A");
	mlops_sigv4_uri_encode(out, "a/b", 3, 0);
	assert_string_equal(out, "a%2Fb");
	assert_int_equal(mlops_sigv4_canonical_query(&query, q, 4), 0);
	assert_string_equal(query, "a=1&a=2&b=x%20y&c%2Fd=~e%2Bf%3D");
	free(query);
	mlops_sigv4_amz_date(out, 1440938160);
	assert_string_equal(out, "20150830T123600Z");
}

static void test_bad_input(void **state)
{
	struct mlops_sigv4_request req = { "GET", "no-slash", NULL, 0, NULL, 0, MLOPS_SIGV4_EMPTY_SHA256 };
	char *s = NULL;
	(void)state;
	assert_int_equal(mlops_sigv4_canonical_request(&s, NULL, &req), MLOPS_EUSAGE);
	assert_null(s);
	assert_int_equal(mlops_sigv4_string_to_sign(&s, "2015-08-30", "r", "s", "x"), MLOPS_EUSAGE);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signing_key),
		cmocka_unit_test(test_get_vanilla),
		cmocka_unit_test(test_get_vanilla_query_order_key_case),
		cmocka_unit_test(test_get_utf8),
		cmocka_unit_test(test_post_x_www_form_urlencoded),
		cmocka_unit_test(test_session_token),
		cmocka_unit_test(test_header_value_trim),
		cmocka_unit_test(test_header_key_duplicate),
		cmocka_unit_test(test_s3_get_object_range),
		cmocka_unit_test(test_s3_put_object),
		cmocka_unit_test(test_s3_get_bucket_lifecycle),
		cmocka_unit_test(test_s3_list_objects),
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_bad_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
