/*
 * fuzz_s3xml.c - the S3 client's listings (store/s3.h) on hostile
 * replies: the input is read as a ListBucketResult and as a
 * ListMultipartUploadsResult by the code that reads a server's reply, with
 * no network (the client is opened once and sends nothing).
 *
 * Besides not crashing, each reader must keep the promises of s3.h: 0 or
 * MLOPS_EREMOTE with a "malformed listing" message (MLOPS_ERROR only when
 * out of memory) and nothing returned on failure; on success every entry
 * has its strings, keys lie inside the client's prefix, which is removed,
 * a page has a way on exactly when it is truncated, and the input held no
 * NUL byte (XML never does; a number read past one would be wrong).  Where the input
 * holds no '&' (so no text was decoded), each string must appear verbatim
 * in it, followed by its end tag: a string cut short by a NUL, or a key
 * from outside the prefix, would not.
 */
#include "tests/fuzz/fuzz.h"
#include "store/s3.h"

#define S3XML_PREFIX "p/"

static struct mlops_s3 *s3xml_client;

static void s3xml_free_client(void)
{
	mlops_s3_free(s3xml_client);
	s3xml_client = NULL;
}

/* The client every input is read with, made on first use; aborts when it cannot be. */
static struct mlops_s3 *s3xml_s3(void)
{
	struct mlops_s3_config cfg = { .endpoint = "http://127.0.0.1:1", .region = "us-east-1",
		.bucket = "fuzz", .prefix = S3XML_PREFIX, .access_key = "AKID",
		.secret_key = "SECRET", .max_retries = -1 };
	if (s3xml_client)
		return s3xml_client;
	if (mlops_s3_open(&s3xml_client, &cfg) < 0) {
		fprintf(stderr, "fuzz: unable to open an s3 client: %s\n", mlops_error_message());
		abort();
	}
	atexit(s3xml_free_client);
	return s3xml_client;
}

/* 1 when [data, data + size) holds the string made of a, b and c. */
static int s3xml_holds(const uint8_t *data, size_t size, const char *a, const char *b,
		const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);
	int found;
	FUZZ_CHECK(s);
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	memcpy(s + la + lb, c, lc + 1);
	found = memmem(data, size, s, la + lb + lc) != NULL;
	free(s);
	return found;
}

/*
 * A string the reader decoded from the element named in end_tag: not
 * empty, no longer than the input (decoding never lengthens text), and,
 * when nothing was decoded, in the input as it is, after the prefix the
 * reader removed (before, for keys) and before its end tag.
 */
static void s3xml_check_text(const uint8_t *data, size_t size, const char *before,
		const char *s, const char *end_tag)
{
	FUZZ_CHECK(s);
	FUZZ_CHECK(strlen(before) + strlen(s) <= size);
	if (!memchr(data, '&', size))
		FUZZ_CHECK(s3xml_holds(data, size, before, s, end_tag));
}

/*
 * A page's way on against the input: IsTruncated must be exactly true or
 * false, so an input without "true" is a last page and one without
 * "false" a truncated one.
 */
static void s3xml_check_truncated(const uint8_t *data, size_t size, int has_next)
{
	if (!memmem(data, size, "true", 4))
		FUZZ_CHECK(!has_next);
	if (!memmem(data, size, "false", 5))
		FUZZ_CHECK(has_next);
}

/* A failure's code and message as s3.h states them. */
static void s3xml_check_failure(int r, const char *message)
{
	const char *msg = mlops_error_message();
	FUZZ_CHECK(r == MLOPS_EREMOTE || r == MLOPS_ERROR);
	FUZZ_CHECK(msg);
	if (r == MLOPS_ERROR)
		FUZZ_CHECK(!strcmp(msg, "out of memory"));
	else
		FUZZ_CHECK(!strncmp(msg, message, strlen(message)));
}

static void s3xml_list(struct mlops_s3 *s3, const uint8_t *data, size_t size)
{
	struct mlops_s3_list *list = (struct mlops_s3_list *)&list;
	int r = mlops_s3_list_parse(&list, s3, (const char *)data, size);
	if (r != 0) {
		FUZZ_CHECK(!list);
		s3xml_check_failure(r, "malformed listing from 's3://fuzz/" S3XML_PREFIX "': ");
		return;
	}
	FUZZ_CHECK(list && (list->count == 0 || list->entries));
	FUZZ_CHECK(!memchr(data, '\0', size));
	for (size_t i = 0; i < list->count; i++) {
		const struct mlops_s3_entry *e = &list->entries[i];
		s3xml_check_text(data, size, S3XML_PREFIX, e->key, "</Key");
		FUZZ_CHECK(memchr(e->stat.etag, '\0', sizeof(e->stat.etag)));
		FUZZ_CHECK(e->stat.mtime >= 0);
	}
	if (list->next_token) {
		FUZZ_CHECK(*list->next_token);
		s3xml_check_text(data, size, "", list->next_token, "</NextContinuationToken");
	}
	s3xml_check_truncated(data, size, list->next_token != NULL);
	mlops_s3_list_free(list);
}

static void s3xml_uploads(struct mlops_s3 *s3, const uint8_t *data, size_t size)
{
	struct mlops_s3_uploads *u = (struct mlops_s3_uploads *)&u;
	int r = mlops_s3_uploads_parse(&u, s3, (const char *)data, size);
	if (r != 0) {
		FUZZ_CHECK(!u);
		s3xml_check_failure(r, "malformed listing of uploads from 's3://fuzz/" S3XML_PREFIX "': ");
		return;
	}
	FUZZ_CHECK(u && (u->count == 0 || u->entries));
	FUZZ_CHECK(!memchr(data, '\0', size));
	for (size_t i = 0; i < u->count; i++) {
		const struct mlops_s3_upload *e = &u->entries[i];
		s3xml_check_text(data, size, S3XML_PREFIX, e->key, "</Key");
		FUZZ_CHECK(*e->upload_id);
		s3xml_check_text(data, size, "", e->upload_id, "</UploadId");
		FUZZ_CHECK(e->initiated >= 0);
	}
	/* Both markers or neither: one alone cannot start the next page. */
	FUZZ_CHECK(!u->next_key_marker == !u->next_upload_id_marker);
	if (u->next_key_marker) {
		FUZZ_CHECK(*u->next_key_marker && *u->next_upload_id_marker);
		s3xml_check_text(data, size, "", u->next_key_marker, "</NextKeyMarker");
		s3xml_check_text(data, size, "", u->next_upload_id_marker, "</NextUploadIdMarker");
	}
	s3xml_check_truncated(data, size, u->next_key_marker != NULL);
	mlops_s3_uploads_free(u);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlops_s3 *s3 = s3xml_s3();
	s3xml_list(s3, data, size);
	s3xml_uploads(s3, data, size);
	return 0;
}
