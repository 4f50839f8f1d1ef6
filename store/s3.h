/*
 * s3.h - a plain client for S3-compatible object storage (AWS S3, MinIO,
 * Ceph RGW), over libcurl with AWS Signature Version 4.
 *
 * A client (struct mlops_s3) holds the configuration, the credentials and
 * its curl handles; connections are kept open between requests.  A client
 * is used by one thread at a time; open one per thread, or use
 * mlops_s3_batch() to run many transfers over N parallel connections from
 * one thread.
 *
 * Keys are relative to the configured prefix: with prefix "team/store/",
 * key "objects/ab/cd" names "team/store/objects/ab/cd" in the bucket, and
 * listings return keys with the prefix removed.
 *
 * Failures: MLOPS_ENOTFOUND for a missing object, MLOPS_ECONFLICT for a
 * failed precondition, MLOPS_EREMOTE for network and server errors (after
 * retries), a missing bucket (NoSuchBucket, or a 404 to a listing: never
 * read as a missing key; a HEAD's reply cannot tell), missing credentials,
 * a malformed reply (XML replies are read only when they are one
 * complete document) and a response over its size cap,
 * MLOPS_EUSAGE for bad configuration,
 * MLOPS_EIO for local file errors.  Requests that fail with a 5xx status,
 * 429, or a network error are retried with exponential backoff (100 ms
 * doubling, at most 5 s apart, max_retries times).  Error messages name the
 * bucket and key, never a secret.
 */
#ifndef MLOPS_S3_H
#define MLOPS_S3_H

#include <stddef.h>
#include <stdint.h>

struct mlops_s3;

struct mlops_s3_config {
	/* "http://127.0.0.1:9000", "https://s3.eu-west-1.amazonaws.com";
	 * NULL: https://s3.<region>.amazonaws.com. */
	const char *endpoint;
	const char *region;        /* NULL: $AWS_REGION, $AWS_DEFAULT_REGION, us-east-1 */
	const char *bucket;        /* required */
	const char *prefix;        /* NULL or "" for none; a '/' is not added */
	int virtual_host;          /* 1: bucket.host/key; 0 (default): host/bucket/key */
	/* Credentials; when access_key is NULL: with `profile` set, that
	 * profile of the shared credentials file ($AWS_SHARED_CREDENTIALS_FILE
	 * or ~/.aws/credentials), whatever the environment holds; else the
	 * environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, both or an
	 * error; AWS_SESSION_TOKEN); else the file's profile $AWS_PROFILE,
	 * else "default". */
	const char *access_key;
	const char *secret_key;
	const char *session_token; /* optional */
	const char *profile;
	int max_retries;           /* 0: 4; negative: none */
	long connect_timeout_ms;   /* 0: 10 s */
	/* Abort an attempt that receives and sends nothing for this long (a
	 * stalled server that accepted the connection); 0: 30. */
	long low_speed_time_s;
	/*
	 * Called (when set) before a request is retried after a timeout, with
	 * a one-line message ("get 's3://b/k' timed out after 30 s; retrying (2
	 * of 5)").  It may be called from any thread that uses a client, and
	 * must not call back into this client.
	 */
	void (*on_retry)(const char *message, void *payload);
	void *on_retry_payload;
	size_t part_size;          /* multipart part size; 0: 8 MiB; at least 5 MiB */
	uint64_t multipart_threshold; /* put_file uses multipart from this size; 0: 64 MiB */
	int sign_payload;          /* hash file bodies too (reads them twice); memory bodies always are */
};

/* What a HEAD (or a listing) tells about an object. */
struct mlops_s3_stat {
	uint64_t size;
	char etag[80];             /* as the server sent it, quotes included */
	long long mtime;           /* listings: LastModified, seconds since the epoch (0: absent) */
};

/* What a bucket name must be, for messages (begins with ": "). */
#define MLOPS_S3_BUCKET_RULES ": 3 to 63 lower-case letters, digits, '.' and '-', starting and " \
	"ending with a letter or digit, no '..', not an IP address"

/* 1 when name is a valid S3 bucket name (MLOPS_S3_BUCKET_RULES), else 0. */
int mlops_s3_bucket_valid(const char *name);

/*
 * 0 when endpoint is "http://host[:port]" or "https://..." (a final '/'
 * allowed), else MLOPS_EUSAGE with a message: another scheme, a path, a
 * query, or a user or password in it (the message never shows them).
 */
int mlops_s3_endpoint_check(const char *endpoint);

/*
 * Open a client.  *out is the caller's, freed with mlops_s3_free().  The
 * configuration strings are copied.  Nothing is sent over the network.
 * Errors: MLOPS_EUSAGE for a missing or invalid bucket name or a malformed
 * endpoint; MLOPS_EREMOTE for missing credentials; MLOPS_ERROR when out of
 * memory or curl fails to start.
 */
int mlops_s3_open(struct mlops_s3 **out, const struct mlops_s3_config *cfg);

/* Close the connections and free the client (NULL is fine); secrets are wiped. */
void mlops_s3_free(struct mlops_s3 *s3);

/* Create the bucket (tests and setup tools; 0 if it is already ours). */
int mlops_s3_create_bucket(struct mlops_s3 *s3);

/* Store data[0..len) as key, replacing it.  The body is signed by its SHA-256. */
int mlops_s3_put(struct mlops_s3 *s3, const char *key, const void *data, size_t len);

/*
 * Store the file at path as key, streaming it (read once unless
 * sign_payload).  Files of multipart_threshold bytes or more go up in parts
 * of part_size through mlops_s3_multipart_*; a failed multipart upload is
 * aborted.  MLOPS_EIO when the file cannot be opened or read.
 */
int mlops_s3_put_file(struct mlops_s3 *s3, const char *key, const char *path);

/*
 * Conditional put, for a compare-and-swap of a small object such as a ref.
 * With if_match NULL the put succeeds only when key does not exist
 * (If-None-Match: *); otherwise only when the key's ETag is if_match
 * (If-Match).  *out_etag (when out_etag is not NULL) receives the new ETag,
 * the caller's to free.  MLOPS_ECONFLICT when the condition fails (412, 409,
 * or a 404 for If-Match).
 *
 * Servers that do not implement conditional writes ignore the headers and
 * overwrite unconditionally; mlops_s3_conditional_supported() tells them
 * apart.  On such a server a caller must serialize writers itself (e.g. one
 * pusher at a time per ref) and should read the ref back after writing.
 */
int mlops_s3_put_if(char **out_etag, struct mlops_s3 *s3, const char *key,
		const void *data, size_t len, const char *if_match);

/*
 * *out = 1 when the server refuses a second If-None-Match: * put of the same
 * key (conditional writes work), 0 when it overwrites.  Writes and deletes
 * one probe object under the prefix (".mlops-cas-probe-<random>").
 */
int mlops_s3_conditional_supported(int *out, struct mlops_s3 *s3);

/*
 * Read key into a new buffer: *out (NUL-terminated for convenience; the
 * caller frees it) and *out_len.  MLOPS_EREMOTE if the object is larger
 * than max_size bytes (checked before it is read when the server sends
 * Content-Length).  MLOPS_ENOTFOUND when missing.
 */
int mlops_s3_get(void **out, size_t *out_len, struct mlops_s3 *s3, const char *key, size_t max_size);

/*
 * Write key's bytes to fd from its current offset; *out_size (may be NULL)
 * = the bytes written.  A retry after a partial transfer rewinds and
 * truncates a seekable fd; on a pipe only a transfer that wrote nothing is
 * retried.  The fd is not closed.  MLOPS_ENOTFOUND when missing, MLOPS_EIO
 * when writing fails, MLOPS_EREMOTE when the object has more than
 * max_size bytes (0: no limit).
 */
int mlops_s3_get_fd(uint64_t *out_size, struct mlops_s3 *s3, const char *key, int fd,
		    uint64_t max_size);

/* HEAD key: *out gets size and ETag.  MLOPS_ENOTFOUND when missing. */
int mlops_s3_head(struct mlops_s3_stat *out, struct mlops_s3 *s3, const char *key);

/* Delete key; deleting a missing key succeeds (S3's rule). */
int mlops_s3_delete(struct mlops_s3 *s3, const char *key);

/* One page of a listing. */
struct mlops_s3_entry {
	char *key;                 /* relative to the client's prefix */
	struct mlops_s3_stat stat;
};

struct mlops_s3_list {
	struct mlops_s3_entry *entries;
	size_t count;
	char *next_token;          /* NULL on the last page */
};

/*
 * List one page (ListObjectsV2) of the keys that start with prefix
 * (relative to the client's prefix; NULL for all), from continuation token
 * `token` (NULL for the first page), at most max_keys (0: the server's
 * default, 1000).  *out is the caller's, freed with mlops_s3_list_free().
 * MLOPS_EREMOTE when the response is larger than 16 MiB, and ("malformed
 * listing from ...") unless the reply is one complete ListBucketResult
 * with IsTruncated, every Contents closed with a Key and a Size, a
 * NextContinuationToken on a truncated page and a KeyCount (when sent)
 * that counts the keys: a listing is never shorter than the server's.
 */
int mlops_s3_list_page(struct mlops_s3_list **out, struct mlops_s3 *s3,
		const char *prefix, const char *token, int max_keys);

/*
 * Read body[0..len) (not NUL-terminated; NULL when len is 0) as
 * mlops_s3_list_page reads the server's reply, with the same rules and
 * errors ("malformed listing from ..."; MLOPS_ERROR when out of memory),
 * keys made relative to s3's prefix.  Nothing is sent.  *out is the
 * caller's, freed with mlops_s3_list_free(); NULL on failure.
 */
int mlops_s3_list_parse(struct mlops_s3_list **out, struct mlops_s3 *s3, const char *body,
		size_t len);

void mlops_s3_list_free(struct mlops_s3_list *list);

/*
 * Call cb for every key under prefix, page after page (max_keys a page, 0
 * for the server's default).  The entry is borrowed for the call.  A
 * non-zero return from cb stops the walk and is returned; so does a page
 * that fails, after cb has seen the pages before it.
 */
int mlops_s3_list_foreach(struct mlops_s3 *s3, const char *prefix, int max_keys,
		int (*cb)(const struct mlops_s3_entry *entry, void *payload), void *payload);

/*
 * Multipart upload, for objects of more than one part (parts 1..10000, all
 * but the last at least 5 MiB).  begin: *out_upload_id is the caller's.
 * part: uploads data as part `part_number`; *out_etag (caller's) is what
 * complete needs.  part_fd: the same from fd at offset, streamed.  complete:
 * etags[i] is part i + 1's ETag.  abort: discards the parts (call it when
 * anything fails; it is idempotent).
 */
int mlops_s3_multipart_begin(char **out_upload_id, struct mlops_s3 *s3, const char *key);
int mlops_s3_multipart_part(char **out_etag, struct mlops_s3 *s3, const char *key,
		const char *upload_id, int part_number, const void *data, size_t len);
int mlops_s3_multipart_part_fd(char **out_etag, struct mlops_s3 *s3, const char *key,
		const char *upload_id, int part_number, int fd, uint64_t offset, uint64_t len);
int mlops_s3_multipart_complete(struct mlops_s3 *s3, const char *key, const char *upload_id,
		char *const *etags, int nparts);
int mlops_s3_multipart_abort(struct mlops_s3 *s3, const char *key, const char *upload_id);

/* A multipart upload begun and neither completed nor aborted. */
struct mlops_s3_upload {
	char *key;                 /* relative to the client's prefix */
	char *upload_id;
	long long initiated;       /* seconds since the epoch (0: not sent) */
};

struct mlops_s3_uploads {
	struct mlops_s3_upload *entries;
	size_t count;
	/* Where the next page starts; both NULL on the last page. */
	char *next_key_marker, *next_upload_id_marker;
};

/*
 * List one page (ListMultipartUploads, up to 1000) of the unfinished
 * multipart uploads of keys that start with prefix (relative to the
 * client's prefix; NULL for all), after key_marker and upload_id_marker
 * (NULL for the first page).  *out is the caller's, freed with
 * mlops_s3_uploads_free().  As strict as mlops_s3_list_page: MLOPS_EREMOTE
 * ("malformed listing of uploads from ...") unless the reply is one
 * complete ListMultipartUploadsResult with IsTruncated, every Upload
 * closed with a Key inside the prefix and an UploadId, an Initiated (when
 * sent) that is a time, and both next markers on a truncated page.
 */
int mlops_s3_uploads_page(struct mlops_s3_uploads **out, struct mlops_s3 *s3, const char *prefix,
		const char *key_marker, const char *upload_id_marker);

/*
 * Read body[0..len) as mlops_s3_uploads_page reads the server's reply,
 * with the same rules and errors ("malformed listing of uploads from
 * ..."; MLOPS_ERROR when out of memory).  Nothing is sent.  *out is the
 * caller's, freed with mlops_s3_uploads_free(); NULL on failure.
 */
int mlops_s3_uploads_parse(struct mlops_s3_uploads **out, struct mlops_s3 *s3, const char *body,
		size_t len);

void mlops_s3_uploads_free(struct mlops_s3_uploads *uploads);

/*
 * Call cb for every unfinished upload under prefix, page after page; the
 * entry is borrowed for the call, and cb may use the client (a page is
 * read whole before its entries are passed on).  A non-zero return from
 * cb stops the walk and is returned; so does a page that fails, or one
 * whose markers do not move past the page before (MLOPS_EREMOTE).
 */
int mlops_s3_uploads_foreach(struct mlops_s3 *s3, const char *prefix,
		int (*cb)(const struct mlops_s3_upload *upload, void *payload), void *payload);

/* Parallel transfers: one item of a batch. */
enum mlops_s3_op {
	MLOPS_S3_OP_HEAD = 0,      /* stat the key; a missing key is status ENOTFOUND */
	MLOPS_S3_OP_PUT,           /* from data/len, or from the file at path when path is set */
	MLOPS_S3_OP_GET,           /* into the file at path (created or truncated, mode 0644;
	                            * left behind, possibly partial, on failure: use a temp path) */
	MLOPS_S3_OP_DELETE,
};

struct mlops_s3_item {
	enum mlops_s3_op op;
	const char *key;
	const void *data;          /* PUT from memory */
	size_t len;
	const char *path;          /* PUT from / GET to a file */
	/* Results. */
	int status;                /* 0 or a negative MLOPS_E* code */
	struct mlops_s3_stat stat; /* HEAD, GET: size and ETag; PUT: ETag */
};

/*
 * Run the items over up to `connections` parallel connections (0: 8;
 * capped at 64), retrying each as a single request would.  Every item gets
 * its own status.  Returns 0 when every item succeeded, a HEAD's
 * MLOPS_ENOTFOUND counting as success; otherwise the first failing item's
 * code, with its message (naming its key).  Files are opened only while
 * their transfer runs.
 */
int mlops_s3_batch(struct mlops_s3 *s3, struct mlops_s3_item *items, size_t n, int connections);

#endif
