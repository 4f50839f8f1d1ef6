/*
 * s3.c - the S3 object client behind s3.h: requests signed with SigV4 and
 * sent through libcurl, with retries, size caps and parallel batches.
 *
 * Design notes.
 *
 * Every operation is described by a `struct req` (method, key, query,
 * extra signed headers, a body source, a response sink).  req_setup()
 * signs it and configures a curl easy handle; req_result() turns the curl
 * code and HTTP status into 0 or an MLOPS_E* code and says whether the
 * failure is worth a retry.  A single operation runs them in a loop on the
 * client's one easy handle (do_request); mlops_s3_batch() runs many through
 * a CURLM multi handle and a pool of easy handles.  Both keep their
 * connections between calls.
 *
 * Bounded reads: a response body kept in memory never grows past its cap
 * (mlops_s3_get's max_size, 16 MiB for listings, 1 MiB for multipart
 * replies); an error body is kept up to 16 KiB only to read its <Code>;
 * headers are read one line at a time into fixed fields.  A response over
 * its cap aborts the transfer with MLOPS_EREMOTE: the remote sent more
 * than any valid reply holds, which is its failure, not bad input.
 *
 * Secrets: the secret key only feeds the daily signing key; neither is
 * ever formatted into a message, and both are wiped on free.
 */
#include "s3.h"
#include "error.h"
#include "sigv4.h"
#include "dl_curl.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define ERROR_BODY_CAP (16u << 10)
#define LIST_BODY_CAP (16u << 20)
#define MULTIPART_BODY_CAP (1u << 20)
#define CRED_FILE_CAP (1u << 20)
#define MIN_PART_SIZE (5u << 20)
#define MAX_CONNECTIONS 64

struct mlops_s3 {
	char *url_base;      /* "http://host:port" or "https://bucket.host" */
	char *host;          /* the Host header value */
	char *path_base;     /* "/bucket" (path style) or "" (virtual host) */
	char *display;       /* "s3://bucket/prefix" for messages */
	char *region, *bucket, *prefix;
	char *access_key, *secret_key, *session_token;
	int max_retries;
	long connect_timeout_ms, low_speed_time_s;
	void (*on_retry)(const char *message, void *payload);
	void *on_retry_payload;
	size_t part_size;
	uint64_t threshold;
	int sign_payload;
	char key_date[9];
	unsigned char signing_key[32];
	unsigned rng;
	CURL *easy;
	CURLM *multi;
	CURL **pool;
	int npool;
};

/* A growable byte buffer with a hard cap. */
struct buf {
	char *p;
	size_t len, cap, limit;
};

static int buf_add(struct buf *b, const void *data, size_t n)
{
	if (n > b->limit - b->len)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(p = realloc(b->p, cap)))
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

enum { BODY_NONE, BODY_MEM, BODY_FD };
enum { SINK_NONE, SINK_MEM, SINK_FD };

struct req {
	/* The request. */
	const char *what;             /* "put", "get", ... for messages */
	const char *method;
	const char *key;              /* relative to the prefix; NULL: the bucket */
	struct mlops_sigv4_param query[4];
	size_t nquery;
	struct mlops_sigv4_header extra[2];
	size_t nextra;
	int body_kind;
	const unsigned char *body;
	int body_fd;
	uint64_t body_off, body_len;
	int sink_kind;
	size_t mem_cap;
	int sink_fd;
	uint64_t fd_cap;              /* SINK_FD: at most this many bytes (0: no limit) */
	/* A 2xx must be one complete XML document; an <Error> one is retried.  Its
	 * root is not checked: moto answers CompleteMultipartUploadResponse. */
	int xml_reply;
	/* One attempt. */
	CURL *easy;
	char *url;
	struct curl_slist *headers;
	char payload_hash[65];
	int hashed;
	uint64_t body_pos;
	struct buf resp;              /* SINK_MEM body, or an error body */
	long status;
	char etag[80];
	int64_t content_length;
	off_t fd_start;
	uint64_t written;
	int too_big, write_errno, read_errno, short_read;
	char s3code[64];              /* <Code> of an error reply */
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static char *trim(char *s)
{
	char *e;
	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Read the profile's keys from an AWS shared credentials file. */
static int load_credentials_file(struct mlops_s3 *s3, const char *path, const char *profile)
{
	struct buf b = { .limit = CRED_FILE_CAP };
	char chunk[4096], *line, *save = NULL, *ak = NULL, *sk = NULL, *tok = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC), in = 0, error = 0;
	ssize_t n;

	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		return mlops_error_sys(errno, "unable to open '%s'", path);
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			error = mlops_error_sys(errno, "unable to read '%s'", path);
			goto cleanup;
		}
		if (buf_add(&b, chunk, (size_t)n) < 0) {
			error = mlops_error_set(MLOPS_EINVALID, "credentials file '%s' is larger than %u bytes",
				path, CRED_FILE_CAP);
			goto cleanup;
		}
	}
	for (line = b.p ? strtok_r(b.p, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char *l = trim(line), *eq, *name, *value;
		if (!*l || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *end = strchr(l, ']');
			if (end)
				*end = '\0';
			in = strcmp(trim(l + 1), profile) == 0;
			continue;
		}
		if (!in || !(eq = strchr(l, '=')))
			continue;
		*eq = '\0';
		name = trim(l);
		value = trim(eq + 1);
		if (!strcmp(name, "aws_access_key_id")) {
			free(ak);
			ak = strdup(value);
		} else if (!strcmp(name, "aws_secret_access_key")) {
			wipe_free(sk);
			sk = strdup(value);
		} else if (!strcmp(name, "aws_session_token")) {
			wipe_free(tok);
			tok = strdup(value);
		}
	}
	if (!ak || !sk || !*ak || !*sk) {
		error = 1;
		goto cleanup;
	}
	s3->access_key = ak;
	s3->secret_key = sk;
	s3->session_token = tok;
	ak = sk = tok = NULL;

cleanup:
	close(fd);
	if (b.p)
		OPENSSL_cleanse(b.p, b.len);
	free(b.p);
	free(ak);
	wipe_free(sk);
	wipe_free(tok);
	return error;
}

/*
 * The credentials, first found of: the configuration's keys; the file's
 * profile when the configuration names one (an explicit profile wins over
 * the environment, as in the AWS CLI and boto3); AWS_ACCESS_KEY_ID with
 * AWS_SECRET_ACCESS_KEY (one without the other is an error naming the
 * missing one); the file's profile $AWS_PROFILE, else "default".
 */
static int load_credentials(struct mlops_s3 *s3, const struct mlops_s3_config *cfg)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *profile, *file, *home;
	char path[4096];
	int r, explicit = cfg->profile && *cfg->profile;

	if (cfg->access_key) {
		if (!cfg->secret_key)
			return mlops_error_set(MLOPS_EUSAGE, "s3 access key given without a secret key");
		s3->access_key = strdup(cfg->access_key);
		s3->secret_key = strdup(cfg->secret_key);
		s3->session_token = xstrdup(cfg->session_token);
		return 0;
	}
	if (ak && !*ak)
		ak = NULL;
	if (sk && !*sk)
		sk = NULL;
	if (!explicit && (ak || sk)) {
		const char *tok = getenv("AWS_SESSION_TOKEN");
		if (!ak || !sk)
			return mlops_error_set(MLOPS_EREMOTE, "incomplete s3 credentials: %s is set but %s is not",
				ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
				ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		s3->access_key = strdup(ak);
		s3->secret_key = strdup(sk);
		s3->session_token = tok && *tok ? strdup(tok) : NULL;
		return 0;
	}
	profile = explicit ? cfg->profile : getenv("AWS_PROFILE");
	if (!profile || !*profile)
		profile = "default";
	file = getenv("AWS_SHARED_CREDENTIALS_FILE");
	if (!file || !*file) {
		home = getenv("HOME");
		if (!home || !*home)
			return mlops_error_set(MLOPS_EREMOTE, "no s3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
		snprintf(path, sizeof(path), "%s/.aws/credentials", home);
		file = path;
	}
	if ((r = load_credentials_file(s3, file, profile)) < 0)
		return r;
	if (r > 0 && explicit)
		return mlops_error_set(MLOPS_EREMOTE, "no s3 credentials: the remote's profile '%s' is not in "
			"'%s' (or lacks aws_access_key_id or aws_secret_access_key)", profile, file);
	if (r > 0)
		return mlops_error_set(MLOPS_EREMOTE, "no s3 credentials: set AWS_ACCESS_KEY_ID and "
			"AWS_SECRET_ACCESS_KEY, or profile '%s' in '%s'", profile, file);
	return 0;
}

int mlops_s3_endpoint_check(const char *endpoint)
{
	const char *sep = strstr(endpoint, "://"), *hostport = sep ? sep + 3 : endpoint, *port;
	size_t hp_len = strcspn(hostport, "/?#");

	/* Before anything that shows the endpoint: a password is never printed. */
	if (memchr(hostport, '@', hp_len))
		return mlops_error_set(MLOPS_EUSAGE, "s3 endpoint holds credentials (user:password@): put them "
			"in the environment or ~/.aws/credentials");
	if (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8))
		return mlops_error_set(MLOPS_EUSAGE, "s3 endpoint '%s' is not an http:// or https:// URL", endpoint);
	/* host or host:port (digits); an IPv6 address in brackets; a final '/' at most. */
	port = hostport[0] == '[' ? memchr(hostport, ']', hp_len) : hostport;
	if (port)
		port = memchr(port, ':', hp_len - (size_t)(port - hostport));
	if (hp_len == 0 || hostport[0] == ':' || (port && (port + 1 == hostport + hp_len ||
	    strspn(port + 1, "0123456789") != (size_t)(hostport + hp_len - port - 1))) ||
	    (hostport[hp_len] && strcmp(hostport + hp_len, "/")))
		return mlops_error_set(MLOPS_EUSAGE, "s3 endpoint '%s' must be scheme://host[:port], "
			"with no path or query", endpoint);
	for (size_t i = 0; i < hp_len; i++)
		if ((unsigned char)hostport[i] <= ' ' || hostport[i] == 0x7f)
			return mlops_error_set(MLOPS_EUSAGE, "s3 endpoint '%s' must be scheme://host[:port], "
				"with no path or query", endpoint);
	return 0;
}

/* Split "scheme://host[:port][/]" and build the URL base and Host header. */
static int parse_endpoint(struct mlops_s3 *s3, const char *endpoint, int virtual_host)
{
	const char *hostport;
	size_t scheme_len, hp_len;
	char *buf;
	size_t cap;
	int error;

	if ((error = mlops_s3_endpoint_check(endpoint)) < 0)
		return error;
	scheme_len = endpoint[4] == 's' ? 8 : 7;
	hostport = endpoint + scheme_len;
	hp_len = strcspn(hostport, "/?#");
	cap = scheme_len + hp_len + strlen(s3->bucket) + 2;
	if (!(s3->url_base = malloc(cap)) || !(s3->host = malloc(cap)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (virtual_host) {
		snprintf(s3->host, cap, "%s.%.*s", s3->bucket, (int)hp_len, hostport);
		s3->path_base = strdup("");
	} else {
		snprintf(s3->host, cap, "%.*s", (int)hp_len, hostport);
		buf = malloc(strlen(s3->bucket) + 2);
		if (buf)
			sprintf(buf, "/%s", s3->bucket);
		s3->path_base = buf;
	}
	snprintf(s3->url_base, cap, "%.*s%s", (int)scheme_len, endpoint, s3->host);
	if (!s3->path_base)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	return 0;
}

int mlops_s3_bucket_valid(const char *b)
{
	size_t n = strlen(b), dots = 0, digits = 0;
	if (n < 3 || n > 63 || !isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]) ||
	    strstr(b, ".."))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!islower((unsigned char)b[i]) && !isdigit((unsigned char)b[i]) && b[i] != '-' && b[i] != '.')
			return 0;
		dots += b[i] == '.';
		digits += isdigit((unsigned char)b[i]) != 0;
	}
	/* Not an IP address: four numbers. */
	return !(dots == 3 && digits + dots == n);
}

int mlops_s3_open(struct mlops_s3 **out, const struct mlops_s3_config *cfg)
{
	struct mlops_s3 *s3 = NULL;
	const char *region;
	char *endpoint = NULL;
	int error = 0;

	*out = NULL;
	if ((error = mlops_curl_load()) < 0)
		return error;
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK)
		return mlops_error_set(MLOPS_ERROR, "unable to start curl: %s", curl_easy_strerror(curl_init_result));
	if (!cfg->bucket || !mlops_s3_bucket_valid(cfg->bucket)) {
		/* Not shown when it may hold a password ("key:secret@bucket"). */
		int show = cfg->bucket && !strpbrk(cfg->bucket, ":@");
		return mlops_error_set(MLOPS_EUSAGE, "invalid s3 bucket name%s%s%s%s", show ? " '" : "",
			show ? cfg->bucket : "", show ? "'" : "", MLOPS_S3_BUCKET_RULES);
	}
	if (!(s3 = calloc(1, sizeof(*s3))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	region = cfg->region;
	if (!region || !*region)
		region = getenv("AWS_REGION");
	if (!region || !*region)
		region = getenv("AWS_DEFAULT_REGION");
	if (!region || !*region)
		region = "us-east-1";
	s3->region = strdup(region);
	s3->bucket = strdup(cfg->bucket);
	s3->prefix = strdup(cfg->prefix ? cfg->prefix : "");
	if (!s3->region || !s3->bucket || !s3->prefix) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	if (cfg->endpoint && *cfg->endpoint) {
		endpoint = strdup(cfg->endpoint);
	} else if ((endpoint = malloc(strlen(region) + 32))) {
		sprintf(endpoint, "https://s3.%s.amazonaws.com", region);
	}
	if (!endpoint) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	if ((error = parse_endpoint(s3, endpoint, cfg->virtual_host)) < 0)
		goto cleanup;
	if ((s3->display = malloc(strlen(s3->bucket) + strlen(s3->prefix) + 8)))
		sprintf(s3->display, "s3://%s/%s", s3->bucket, s3->prefix);
	if ((error = load_credentials(s3, cfg)) < 0)
		goto cleanup;
	if (!s3->display || !s3->access_key || !s3->secret_key || (cfg->session_token && !s3->session_token)) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	s3->max_retries = cfg->max_retries == 0 ? 4 : cfg->max_retries < 0 ? 0 : cfg->max_retries;
	s3->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 10000;
	s3->low_speed_time_s = cfg->low_speed_time_s > 0 ? cfg->low_speed_time_s : 30;
	s3->on_retry = cfg->on_retry;
	s3->on_retry_payload = cfg->on_retry_payload;
	s3->part_size = cfg->part_size ? cfg->part_size : 8u << 20;
	if (s3->part_size < MIN_PART_SIZE)
		s3->part_size = MIN_PART_SIZE;
	s3->threshold = cfg->multipart_threshold ? cfg->multipart_threshold : (uint64_t)64 << 20;
	if (s3->threshold < s3->part_size)
		s3->threshold = s3->part_size;
	s3->sign_payload = cfg->sign_payload;
	s3->rng = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16) ^ (unsigned)(uintptr_t)s3;
	if (!(s3->easy = curl_easy_init())) {
		error = mlops_error_set(MLOPS_ERROR, "unable to start curl");
		goto cleanup;
	}
	*out = s3;
	s3 = NULL;

cleanup:
	free(endpoint);
	mlops_s3_free(s3);
	return error;
}

void mlops_s3_free(struct mlops_s3 *s3)
{
	if (!s3)
		return;
	if (s3->easy)
		curl_easy_cleanup(s3->easy);
	for (int i = 0; i < s3->npool; i++)
		curl_easy_cleanup(s3->pool[i]);
	free(s3->pool);
	if (s3->multi)
		curl_multi_cleanup(s3->multi);
	free(s3->url_base);
	free(s3->host);
	free(s3->path_base);
	free(s3->display);
	free(s3->region);
	free(s3->bucket);
	free(s3->prefix);
	free(s3->access_key);
	wipe_free(s3->secret_key);
	wipe_free(s3->session_token);
	OPENSSL_cleanse(s3->signing_key, sizeof(s3->signing_key));
	free(s3);
}

/* ---- one request ---------------------------------------------------- */

static void req_reset_attempt(struct req *r)
{
	free(r->url);
	r->url = NULL;
	curl_slist_free_all(r->headers);
	r->headers = NULL;
	r->resp.len = 0;
	if (r->resp.p)
		r->resp.p[0] = '\0';
	r->status = 0;
	r->etag[0] = '\0';
	r->content_length = -1;
	r->body_pos = 0;
	r->written = 0;
	r->too_big = r->write_errno = r->read_errno = r->short_read = 0;
	r->s3code[0] = '\0';
	r->errbuf[0] = '\0';
}

static void req_cleanup(struct req *r)
{
	free(r->url);
	curl_slist_free_all(r->headers);
	free(r->resp.p);
	memset(r, 0, sizeof(*r));
}

/* The most body bytes the request takes (SINK_NONE: no limit). */
static uint64_t req_cap(const struct req *r)
{
	if (r->sink_kind == SINK_MEM)
		return r->mem_cap;
	if (r->sink_kind == SINK_FD && r->fd_cap)
		return r->fd_cap;
	return UINT64_MAX;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct req *r = ud;
	size_t n = size * nmemb, vlen;
	const char *v;

	if (n > 5 && !memcmp(p, "HTTP/", 5)) {
		const char *sp = memchr(p, ' ', n);
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		r->etag[0] = '\0';
		r->content_length = -1;
		return n;
	}
	if (n > 5 && !strncasecmp(p, "etag:", 5)) {
		v = p + 5;
		vlen = n - 5;
	} else if (n > 15 && !strncasecmp(p, "content-length:", 15)) {
		char tmp[32];
		v = p + 15;
		vlen = n - 15;
		if (vlen >= sizeof(tmp))
			return n;
		memcpy(tmp, v, vlen);
		tmp[vlen] = '\0';
		r->content_length = strtoll(tmp, NULL, 10);
		if (r->status >= 200 && r->status < 300 && r->content_length > 0 &&
		    (uint64_t)r->content_length > req_cap(r)) {
			r->too_big = 1;
			return 0;
		}
		return n;
	} else {
		return n;
	}
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && isspace((unsigned char)v[vlen - 1]))
		vlen--;
	if (vlen < sizeof(r->etag)) {
		memcpy(r->etag, v, vlen);
		r->etag[vlen] = '\0';
	}
	return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct req *r = ud;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		r->resp.limit = ERROR_BODY_CAP;
		if (r->resp.len < ERROR_BODY_CAP)
			buf_add(&r->resp, p, n < ERROR_BODY_CAP - r->resp.len ? n : ERROR_BODY_CAP - r->resp.len);
		return n;
	}
	if (r->sink_kind == SINK_MEM) {
		r->resp.limit = r->mem_cap;
		if (buf_add(&r->resp, p, n) < 0) {
			r->too_big = r->resp.len + n > r->mem_cap;
			if (!r->too_big)
				r->write_errno = ENOMEM;
			return 0;
		}
	} else if (r->sink_kind == SINK_FD) {
		size_t done = 0;
		if (r->written + n > req_cap(r)) {
			r->too_big = 1;
			return 0;
		}
		while (done < n) {
			ssize_t w = write(r->sink_fd, p + done, n - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r->write_errno = errno;
				return 0;
			}
			done += (size_t)w;
		}
		r->written += n;
	}
	return n;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *ud)
{
	struct req *r = ud;
	uint64_t left = r->body_len - r->body_pos;
	size_t n = size * nmemb;

	if (n > left)
		n = (size_t)left;
	if (!n)
		return 0;
	if (r->body_kind == BODY_MEM) {
		memcpy(p, r->body + r->body_pos, n);
	} else {
		ssize_t got;
		do
			got = pread(r->body_fd, p, n, (off_t)(r->body_off + r->body_pos));
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			r->read_errno = errno;
			return CURL_READFUNC_ABORT;
		}
		if (got == 0) {
			r->short_read = 1;
			return CURL_READFUNC_ABORT;
		}
		n = (size_t)got;
	}
	r->body_pos += n;
	return n;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
	struct req *r = ud;
	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->body_pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

/* Hash body_len bytes of the body source into r->payload_hash. */
static int hash_body(struct req *r)
{
	EVP_MD_CTX *ctx;
	unsigned char md[EVP_MAX_MD_SIZE], chunk[1 << 16];
	unsigned int mdlen = 0;
	static const char digits[] = "0123456789abcdef";
	uint64_t pos = 0;
	int error = 0;

	if (r->body_kind == BODY_MEM) {
		mlops_sigv4_sha256_hex(r->payload_hash, r->body, (size_t)r->body_len);
		r->hashed = 1;
		return 0;
	}
	if (!(ctx = EVP_MD_CTX_new()) || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(ctx);
		return mlops_error_set(MLOPS_ERROR, "unable to start SHA-256");
	}
	while (pos < r->body_len) {
		size_t want = r->body_len - pos < sizeof(chunk) ? (size_t)(r->body_len - pos) : sizeof(chunk);
		ssize_t got = pread(r->body_fd, chunk, want, (off_t)(r->body_off + pos));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			error = got < 0 ? mlops_error_sys(errno, "unable to read the body of '%s'", r->key)
				: mlops_error_set(MLOPS_EIO, "the body of '%s' shrank while it was read", r->key);
			goto cleanup;
		}
		EVP_DigestUpdate(ctx, chunk, (size_t)got);
		pos += (uint64_t)got;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (int i = 0; i < 32; i++) {
		r->payload_hash[2 * i] = digits[md[i] >> 4];
		r->payload_hash[2 * i + 1] = digits[md[i] & 15];
	}
	r->payload_hash[64] = '\0';
	r->hashed = 1;

cleanup:
	EVP_MD_CTX_free(ctx);
	return error;
}

static int add_header(struct curl_slist **list, const char *name, const char *value)
{
	char line[8192];
	struct curl_slist *l;
	if ((size_t)snprintf(line, sizeof(line), "%s: %s", name, value) >= sizeof(line))
		return mlops_error_set(MLOPS_EUSAGE, "header '%s' is too long", name);
	if (!(l = curl_slist_append(*list, line)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	*list = l;
	return 0;
}

/* Sign r and configure easy for one attempt. */
static int req_setup(struct mlops_s3 *s3, CURL *easy, struct req *r)
{
	struct mlops_sigv4_header hs[8];
	struct mlops_sigv4_request sreq;
	char amz_date[17], *path = NULL, *query = NULL, *auth = NULL, *epath = NULL;
	size_t nh = 0, plen;
	int error = 0;

	req_reset_attempt(r);
	r->easy = easy;
	curl_easy_reset(easy);

	plen = strlen(s3->path_base) + 1 + (r->key ? strlen(s3->prefix) + strlen(r->key) : 0);
	if (!(path = malloc(plen + 1)) || !(epath = malloc(3 * plen + 1))) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	if (r->key)
		sprintf(path, "%s/%s%s", s3->path_base, s3->prefix, r->key);
	else
		sprintf(path, "%s%s", s3->path_base, *s3->path_base ? "" : "/");
	mlops_sigv4_uri_encode(epath, path, strlen(path), 1);
	if ((error = mlops_sigv4_canonical_query(&query, r->query, r->nquery)) < 0)
		goto cleanup;
	if (!(r->url = malloc(strlen(s3->url_base) + strlen(epath) + strlen(query) + 2))) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	sprintf(r->url, "%s%s%s%s", s3->url_base, epath, *query ? "?" : "", query);

	if (r->body_kind == BODY_NONE) {
		strcpy(r->payload_hash, MLOPS_SIGV4_EMPTY_SHA256);
	} else if (r->body_kind == BODY_MEM || s3->sign_payload) {
		if (!r->hashed && (error = hash_body(r)) < 0)
			goto cleanup;
	} else {
		strcpy(r->payload_hash, MLOPS_SIGV4_UNSIGNED_PAYLOAD);
	}

	mlops_sigv4_amz_date(amz_date, time(NULL));
	if (memcmp(s3->key_date, amz_date, 8)) {
		mlops_sigv4_signing_key(s3->signing_key, s3->secret_key, amz_date, s3->region, "s3");
		memcpy(s3->key_date, amz_date, 8);
	}
	hs[nh++] = (struct mlops_sigv4_header){ "host", s3->host };
	hs[nh++] = (struct mlops_sigv4_header){ "x-amz-content-sha256", r->payload_hash };
	hs[nh++] = (struct mlops_sigv4_header){ "x-amz-date", amz_date };
	if (s3->session_token)
		hs[nh++] = (struct mlops_sigv4_header){ "x-amz-security-token", s3->session_token };
	for (size_t i = 0; i < r->nextra; i++)
		hs[nh++] = r->extra[i];
	sreq = (struct mlops_sigv4_request){ r->method, path, r->query, r->nquery, hs, nh, r->payload_hash };
	if ((error = mlops_sigv4_authorization(&auth, s3->access_key, s3->signing_key, amz_date,
			s3->region, "s3", &sreq)) < 0)
		goto cleanup;
	for (size_t i = 0; i < nh; i++)
		if ((error = add_header(&r->headers, hs[i].name, hs[i].value)) < 0)
			goto cleanup;
	if ((error = add_header(&r->headers, "Authorization", auth)) < 0)
		goto cleanup;
	if (!(r->headers = curl_slist_append(r->headers, "Expect:")) ||
			!(r->headers = curl_slist_append(r->headers, "Content-Type:"))) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}

	curl_easy_setopt(easy, CURLOPT_URL, r->url);
	/* Send the path that was signed: curl would squash "." and ".." segments. */
	curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, s3->connect_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, s3->low_speed_time_s);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
	if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT")) {
		curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
	} else if (!strcmp(r->method, "POST")) {
		curl_easy_setopt(easy, CURLOPT_POST, 1L);
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "GET")) {
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r->method);
	}
	if (r->body_kind != BODY_NONE || !strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) {
		curl_easy_setopt(easy, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(easy, CURLOPT_READDATA, r);
		curl_easy_setopt(easy, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(easy, CURLOPT_SEEKDATA, r);
	}

cleanup:
	free(path);
	free(epath);
	free(query);
	if (auth) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	return error;
}

/*
 * XML replies.  S3 answers in a small, regular subset of XML: a prolog,
 * one root element, elements that hold either text or child elements,
 * attributes only on the root (xmlns).  A reply is read only when the whole
 * document parses: every element closed by its own end tag, nothing but
 * white space (and comments) after the root.  A body cut short, by a proxy
 * or a server that died mid-reply, therefore never reads as a shorter but
 * complete answer.
 */
struct xml_el {
	const char *name, *body;      /* body: between the start and the end tag */
	size_t name_len, body_len;
};

#define XML_MAX_DEPTH 16

static int xml_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == ':' || c == '-' || c == '.';
}

/* Skip white space, comments and processing instructions; NULL when one is unterminated. */
static const char *xml_skip_misc(const char *p, const char *end)
{
	for (;;) {
		while (p < end && isspace((unsigned char)*p))
			p++;
		if (end - p >= 4 && !memcmp(p, "<!--", 4)) {
			const char *e = memmem(p + 4, (size_t)(end - p - 4), "-->", 3);
			if (!e)
				return NULL;
			p = e + 3;
		} else if (end - p >= 2 && !memcmp(p, "<?", 2)) {
			const char *e = memmem(p + 2, (size_t)(end - p - 2), "?>", 2);
			if (!e)
				return NULL;
			p = e + 2;
		} else {
			return p;
		}
	}
}

/*
 * Parse the element that starts at p (at its '<') into *el; the end of the
 * element, or NULL when it is malformed or not closed before end.
 */
static const char *xml_element(const char *p, const char *end, struct xml_el *el, int depth)
{
	const char *q;
	char quote;

	if (depth > XML_MAX_DEPTH || p >= end || *p != '<')
		return NULL;
	el->name = ++p;
	while (p < end && xml_name_char(*p))
		p++;
	el->name_len = (size_t)(p - el->name);
	if (!el->name_len || p >= end)
		return NULL;
	/* Attributes: name="value" pairs, read only to find the tag's end. */
	while (p < end && *p != '>' && *p != '/') {
		if (*p == '"' || *p == '\'') {
			quote = *p++;
			if (!(q = memchr(p, quote, (size_t)(end - p))))
				return NULL;
			p = q + 1;
		} else if (*p == '<') {
			return NULL;
		} else {
			p++;
		}
	}
	if (p >= end)
		return NULL;
	if (*p == '/') {
		if (end - p < 2 || p[1] != '>')
			return NULL;
		el->body = p;
		el->body_len = 0;
		return p + 2;
	}
	el->body = ++p;
	for (;;) {
		struct xml_el child;
		if (!(q = memchr(p, '<', (size_t)(end - p))))
			return NULL;
		p = q;
		if (end - p >= 2 && p[1] == '/') {
			el->body_len = (size_t)(p - el->body);
			p += 2;
			if ((size_t)(end - p) < el->name_len || memcmp(p, el->name, el->name_len))
				return NULL;
			p += el->name_len;
			while (p < end && isspace((unsigned char)*p))
				p++;
			if (p >= end || *p != '>')
				return NULL;
			return p + 1;
		}
		if (end - p >= 9 && !memcmp(p, "<![CDATA[", 9)) {
			if (!(q = memmem(p + 9, (size_t)(end - p - 9), "]]>", 3)))
				return NULL;
			p = q + 3;
			continue;
		}
		if ((end - p >= 4 && !memcmp(p, "<!--", 4)) || (end - p >= 2 && p[1] == '?')) {
			if (!(p = xml_skip_misc(p, end)))
				return NULL;
			continue;
		}
		if (!(p = xml_element(p, end, &child, depth + 1)))
			return NULL;
	}
}

/* 1 when el is named name. */
static int xml_is(const struct xml_el *el, const char *name)
{
	return el->name_len == strlen(name) && !memcmp(el->name, name, el->name_len);
}

/*
 * The root element of the document [p, p + n) into *root: 0, or -1 when
 * the document is not one complete element (a UTF-8 byte order mark, a
 * prolog and comments around it are fine) or holds a NUL byte, which XML
 * never does: numbers and times are read as C strings, so "12\0junk"
 * would pass for a Size of 12.
 */
static int xml_root(struct xml_el *root, const char *p, size_t n)
{
	const char *end = p + n;
	if (!p || memchr(p, '\0', n))
		return -1;
	if (n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	if (!(p = xml_skip_misc(p, end)) || !(p = xml_element(p, end, root, 0)) ||
	    !(p = xml_skip_misc(p, end)))
		return -1;
	return p == end ? 0 : -1;
}

/*
 * The next child element of parent after *cursor (NULL: the first) into
 * *child: 1, 0 after the last, -1 when there is text between the children
 * (parent holds text, not elements).
 */
static int xml_next_child(const char **cursor, const struct xml_el *parent, struct xml_el *child)
{
	const char *p = *cursor ? *cursor : parent->body, *end = parent->body + parent->body_len;
	for (;;) {
		if (!(p = xml_skip_misc(p, end)))
			return -1;
		if (p >= end)
			return 0;
		if (*p != '<')
			return -1;
		if (end - p >= 9 && !memcmp(p, "<![CDATA[", 9))
			return -1;
		if (!(p = xml_element(p, end, child, 1)))
			return -1;
		*cursor = p;
		return 1;
	}
}

/*
 * The only child of parent named name, holding text: *out is its text
 * (borrowed, undecoded).  1 when found, 0 when absent, -1 when there are
 * several or it holds elements.
 */
static int xml_leaf(const struct xml_el *parent, const char *name, const char **out, size_t *len)
{
	const char *cur = NULL;
	struct xml_el c;
	int rc, found = 0;
	while ((rc = xml_next_child(&cur, parent, &c)) > 0) {
		if (!xml_is(&c, name))
			continue;
		if (found || memchr(c.body, '<', c.body_len))
			return -1;
		*out = c.body;
		*len = c.body_len;
		found = 1;
	}
	return rc < 0 ? -1 : found;
}

/* The S3 error code of an <Error> reply ("NoSuchKey"), or "" when the body is not one. */
static void error_code(char *out, size_t outsz, const struct req *r)
{
	struct xml_el root;
	const char *c;
	size_t n = 0;
	out[0] = '\0';
	if (!r->resp.p || xml_root(&root, r->resp.p, r->resp.len) < 0 || !xml_is(&root, "Error") ||
	    xml_leaf(&root, "Code", &c, &n) <= 0)
		return;
	if (n >= outsz)
		n = outsz - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = isalnum((unsigned char)c[i]) ? c[i] : '?';
	out[n] = '\0';
}

/* Interpret a finished attempt; *retry says whether another may succeed. */
static int req_result(struct mlops_s3 *s3, struct req *r, CURLcode cc, int *retry)
{
	char code[64];
	const char *key = r->key ? r->key : "";

	*retry = 0;
	if (r->too_big)
		return mlops_error_set(MLOPS_EREMOTE, "unable to %s '%s%s': response larger than %llu bytes",
			r->what, s3->display, key, (unsigned long long)req_cap(r));
	if (r->write_errno)
		return mlops_error_sys(r->write_errno, "unable to %s '%s%s': write failed", r->what, s3->display, key);
	if (r->read_errno)
		return mlops_error_sys(r->read_errno, "unable to %s '%s%s': read failed", r->what, s3->display, key);
	if (r->short_read)
		return mlops_error_set(MLOPS_EIO, "unable to %s '%s%s': the file shrank while it was sent",
			r->what, s3->display, key);
	if (cc != CURLE_OK) {
		*retry = 1;
		return mlops_error_set(MLOPS_EREMOTE, "unable to %s '%s%s': %s", r->what, s3->display, key,
			r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
	}
	if (r->status >= 200 && r->status < 300) {
		struct xml_el root;
		if (!r->xml_reply)
			return 0;
		if (xml_root(&root, r->resp.p, r->resp.len) < 0)
			return mlops_error_set(MLOPS_EREMOTE, "unable to %s '%s%s': malformed reply "
				"(not a complete XML document)", r->what, s3->display, key);
		if (xml_is(&root, "Error")) {
			error_code(code, sizeof(code), r);
			*retry = 1;
			return mlops_error_set(MLOPS_EREMOTE, "unable to %s '%s%s': %s", r->what, s3->display,
				key, code[0] ? code : "error in a successful response");
		}
		return 0;
	}
	error_code(code, sizeof(code), r);
	snprintf(r->s3code, sizeof(r->s3code), "%s", code);
	if (r->status == 404) {
		/* A missing bucket is the remote's failure, never a missing key. */
		if (!strcmp(code, "NoSuchBucket"))
			return mlops_error_set(MLOPS_EREMOTE, "bucket '%s' not found", s3->bucket);
		if (!r->key)
			return mlops_error_set(MLOPS_EREMOTE, "unable to %s '%s': HTTP 404%s%s", r->what,
				s3->display, code[0] ? " " : "", code);
		if (!strcmp(code, "NoSuchUpload"))
			return mlops_error_set(MLOPS_ENOTFOUND, "unable to %s '%s%s': no such multipart upload",
				r->what, s3->display, key);
		return mlops_error_set(MLOPS_ENOTFOUND, "'%s%s' not found", s3->display, key);
	}
	if (r->status == 412 || r->status == 409)
		return mlops_error_set(MLOPS_ECONFLICT, "unable to %s '%s%s': %s", r->what, s3->display, key,
			code[0] ? code : "precondition failed");
	if (r->status >= 500 || r->status == 429 || !strcmp(code, "RequestTimeout"))
		*retry = 1;
	return mlops_error_set(MLOPS_EREMOTE, "unable to %s '%s%s': HTTP %ld%s%s%s", r->what, s3->display,
		key, r->status, code[0] ? " " : "", code, r->status == 401 || r->status == 403 ?
		" (are the credentials and the region right?)" : "");
}

/*
 * Tell the on_retry callback that attempt `attempt` (0 for the first) of r
 * timed out and another follows: a stalled endpoint otherwise looks like a
 * hang.  Other retries (503 Slow Down, a dropped connection) are quick and
 * not reported.
 */
static void note_retry(struct mlops_s3 *s3, const struct req *r, CURLcode cc, int attempt)
{
	char msg[1024];
	if (!s3->on_retry || (cc != CURLE_OPERATION_TIMEDOUT && strcmp(r->s3code, "RequestTimeout")))
		return;
	snprintf(msg, sizeof(msg), "%s '%s%s' timed out%s; retrying (%d of %d)", r->what, s3->display,
		r->key ? r->key : "", cc == CURLE_OPERATION_TIMEDOUT ? "" : " on the server",
		attempt + 2, s3->max_retries + 1);
	s3->on_retry(msg, s3->on_retry_payload);
}

/* Milliseconds to wait before retry number attempt + 1: 100 ms doubling, jittered. */
static long backoff_ms(struct mlops_s3 *s3, int attempt)
{
	long base = 100L << (attempt < 6 ? attempt : 6);
	if (base > 5000)
		base = 5000;
	return base / 2 + (long)(rand_r(&s3->rng) % (unsigned)(base / 2 + 1));
}

/* Undo what a failed attempt wrote to its sink; 0 if it can be retried. */
static int rewind_sink(struct req *r)
{
	if (r->sink_kind != SINK_FD || r->written == 0)
		return 0;
	if (r->fd_start < 0 || lseek(r->sink_fd, r->fd_start, SEEK_SET) < 0)
		return -1;
	if (ftruncate(r->sink_fd, r->fd_start) < 0 && errno != EINVAL)
		return -1;
	return 0;
}

static int do_request(struct mlops_s3 *s3, struct req *r)
{
	int error, retry;
	for (int attempt = 0;; attempt++) {
		CURLcode cc;
		if ((error = req_setup(s3, s3->easy, r)) < 0)
			return error;
		cc = curl_easy_perform(s3->easy);
		error = req_result(s3, r, cc, &retry);
		if (!error || !retry || attempt >= s3->max_retries || rewind_sink(r) < 0)
			return error;
		note_retry(s3, r, cc, attempt);
		struct timespec ts;
		long ms = backoff_ms(s3, attempt);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
}

static int check_key(const char *key)
{
	if (!key || !*key)
		return mlops_error_set(MLOPS_EUSAGE, "empty s3 key");
	if (strlen(key) > 1024)
		return mlops_error_set(MLOPS_EUSAGE, "s3 key '%.64s...' is longer than 1024 bytes", key);
	return 0;
}

/* ---- operations ----------------------------------------------------- */

int mlops_s3_create_bucket(struct mlops_s3 *s3)
{
	struct req r = { .what = "create bucket", .method = "PUT" };
	struct buf body = { .limit = 4096 };
	int error;

	if (strcmp(s3->region, "us-east-1")) {
		buf_adds(&body, "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
			"<LocationConstraint>");
		buf_adds(&body, s3->region);
		buf_adds(&body, "</LocationConstraint></CreateBucketConfiguration>");
		r.body_kind = BODY_MEM;
		r.body = (const unsigned char *)body.p;
		r.body_len = body.len;
	}
	error = do_request(s3, &r);
	if (error == MLOPS_ECONFLICT && !strcmp(r.s3code, "BucketAlreadyOwnedByYou")) {
		mlops_error_clear();
		error = 0;
	}
	req_cleanup(&r);
	free(body.p);
	return error;
}

static int put_mem(char **out_etag, struct mlops_s3 *s3, const char *key, const void *data,
		size_t len, const char *cond_name, const char *cond_value)
{
	struct req r = { .what = "put", .method = "PUT", .key = key, .body_kind = BODY_MEM,
		.body = data, .body_len = len };
	int error;

	if (out_etag)
		*out_etag = NULL;
	if ((error = check_key(key)) < 0)
		return error;
	if (cond_name) {
		r.extra[0] = (struct mlops_sigv4_header){ cond_name, cond_value };
		r.nextra = 1;
	}
	error = do_request(s3, &r);
	if (error == MLOPS_ENOTFOUND && cond_name && !strcmp(cond_name, "if-match"))
		error = mlops_error_set(MLOPS_ECONFLICT, "unable to put '%s%s': it no longer exists",
			s3->display, key);
	if (!error && out_etag && !(*out_etag = strdup(r.etag)))
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
	req_cleanup(&r);
	return error;
}

int mlops_s3_put(struct mlops_s3 *s3, const char *key, const void *data, size_t len)
{
	return put_mem(NULL, s3, key, data, len, NULL, NULL);
}

int mlops_s3_put_if(char **out_etag, struct mlops_s3 *s3, const char *key,
		const void *data, size_t len, const char *if_match)
{
	if (if_match)
		return put_mem(out_etag, s3, key, data, len, "if-match", if_match);
	return put_mem(out_etag, s3, key, data, len, "if-none-match", "*");
}

int mlops_s3_conditional_supported(int *out, struct mlops_s3 *s3)
{
	unsigned char rnd[8];
	char key[64];
	int error;

	*out = 0;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return mlops_error_set(MLOPS_ERROR, "unable to get random bytes");
	snprintf(key, sizeof(key), ".mlops-cas-probe-%02x%02x%02x%02x%02x%02x%02x%02x",
		rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	if ((error = mlops_s3_put_if(NULL, s3, key, "1", 1, NULL)) < 0)
		return error;
	error = mlops_s3_put_if(NULL, s3, key, "2", 1, NULL);
	if (error == MLOPS_ECONFLICT) {
		*out = 1;
		error = 0;
		mlops_error_clear();
	}
	if (error == 0)
		error = mlops_s3_delete(s3, key);
	else
		mlops_s3_delete(s3, key);
	return error;
}

static int put_fd_single(struct mlops_s3 *s3, const char *key, int fd, uint64_t size)
{
	struct req r = { .what = "put", .method = "PUT", .key = key, .body_kind = BODY_FD,
		.body_fd = fd, .body_len = size };
	int error = do_request(s3, &r);
	req_cleanup(&r);
	return error;
}

static int put_fd_multipart(struct mlops_s3 *s3, const char *key, int fd, uint64_t size)
{
	char *upload_id = NULL, **etags = NULL, saved[2048];
	int nparts = (int)((size + s3->part_size - 1) / s3->part_size), error, i;

	if (nparts > 10000)
		return mlops_error_set(MLOPS_EUSAGE, "unable to put '%s%s': %" PRIu64 " bytes need more than "
			"10000 parts of %zu bytes", s3->display, key, size, s3->part_size);
	if (!(etags = calloc((size_t)nparts, sizeof(*etags))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((error = mlops_s3_multipart_begin(&upload_id, s3, key)) < 0)
		goto cleanup;
	for (i = 0; i < nparts; i++) {
		uint64_t off = (uint64_t)i * s3->part_size;
		uint64_t len = size - off < s3->part_size ? size - off : s3->part_size;
		if ((error = mlops_s3_multipart_part_fd(&etags[i], s3, key, upload_id, i + 1, fd, off, len)) < 0)
			goto cleanup;
	}
	error = mlops_s3_multipart_complete(s3, key, upload_id, etags, nparts);

cleanup:
	if (error < 0 && upload_id) {
		snprintf(saved, sizeof(saved), "%s", mlops_error_message());
		mlops_s3_multipart_abort(s3, key, upload_id);
		mlops_error_set(error, "%s", saved);
	}
	for (i = 0; i < nparts; i++)
		free(etags[i]);
	free(etags);
	free(upload_id);
	return error;
}

int mlops_s3_put_file(struct mlops_s3 *s3, const char *key, const char *path)
{
	struct stat st;
	int fd, error;

	if ((error = check_key(key)) < 0)
		return error;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return mlops_error_sys(errno, "unable to open '%s'", path);
	if (fstat(fd, &st) < 0) {
		error = mlops_error_sys(errno, "unable to stat '%s'", path);
	} else if (!S_ISREG(st.st_mode)) {
		error = mlops_error_set(MLOPS_EUSAGE, "'%s' is not a regular file", path);
	} else if ((uint64_t)st.st_size >= s3->threshold) {
		error = put_fd_multipart(s3, key, fd, (uint64_t)st.st_size);
	} else {
		error = put_fd_single(s3, key, fd, (uint64_t)st.st_size);
	}
	close(fd);
	return error;
}

int mlops_s3_get(void **out, size_t *out_len, struct mlops_s3 *s3, const char *key, size_t max_size)
{
	struct req r = { .what = "get", .method = "GET", .key = key, .sink_kind = SINK_MEM,
		.mem_cap = max_size };
	int error;

	*out = NULL;
	*out_len = 0;
	if ((error = check_key(key)) < 0)
		return error;
	if ((error = do_request(s3, &r)) < 0)
		goto cleanup;
	if (!r.resp.p && !(r.resp.p = calloc(1, 1))) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	*out = r.resp.p;
	*out_len = r.resp.len;
	r.resp.p = NULL;

cleanup:
	req_cleanup(&r);
	return error;
}

int mlops_s3_get_fd(uint64_t *out_size, struct mlops_s3 *s3, const char *key, int fd,
		    uint64_t max_size)
{
	struct req r = { .what = "get", .method = "GET", .key = key, .sink_kind = SINK_FD, .sink_fd = fd,
		.fd_cap = max_size };
	int error;

	if (out_size)
		*out_size = 0;
	if ((error = check_key(key)) < 0)
		return error;
	r.fd_start = lseek(fd, 0, SEEK_CUR);
	error = do_request(s3, &r);
	if (!error && out_size)
		*out_size = r.written;
	req_cleanup(&r);
	return error;
}

static void fill_stat(struct mlops_s3_stat *st, const struct req *r)
{
	st->size = r->content_length > 0 ? (uint64_t)r->content_length : 0;
	snprintf(st->etag, sizeof(st->etag), "%s", r->etag);
}

int mlops_s3_head(struct mlops_s3_stat *out, struct mlops_s3 *s3, const char *key)
{
	struct req r = { .what = "head", .method = "HEAD", .key = key };
	int error;

	memset(out, 0, sizeof(*out));
	if ((error = check_key(key)) < 0)
		return error;
	if (!(error = do_request(s3, &r)))
		fill_stat(out, &r);
	req_cleanup(&r);
	return error;
}

int mlops_s3_delete(struct mlops_s3 *s3, const char *key)
{
	struct req r = { .what = "delete", .method = "DELETE", .key = key };
	int error;

	if ((error = check_key(key)) < 0)
		return error;
	error = do_request(s3, &r);
	if (error == MLOPS_ENOTFOUND && strcmp(r.s3code, "NoSuchBucket")) {
		mlops_error_clear();
		error = 0;
	}
	req_cleanup(&r);
	return error;
}

/* ---- listing -------------------------------------------------------- */

static void put_utf8(char **o, unsigned long cp)
{
	unsigned char *p = (unsigned char *)*o;
	if (cp < 0x80) {
		*p++ = (unsigned char)cp;
	} else if (cp < 0x800) {
		*p++ = (unsigned char)(0xc0 | (cp >> 6));
		*p++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*p++ = (unsigned char)(0xe0 | (cp >> 12));
		*p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*p++ = (unsigned char)(0x80 | (cp & 0x3f));
	} else {
		*p++ = (unsigned char)(0xf0 | (cp >> 18));
		*p++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		*p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		*p++ = (unsigned char)(0x80 | (cp & 0x3f));
	}
	*o = (char *)p;
}

/* Decode XML text (the five entities and numeric references) into a new string. */
static char *xml_text(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	const char *end = s + n;
	if (!out)
		return NULL;
	while (s < end) {
		const char *semi;
		size_t len;
		if (*s == '<' || *s == '\0')
			goto bad;
		if (*s != '&') {
			*o++ = *s++;
			continue;
		}
		if (!(semi = memchr(s, ';', (size_t)(end - s))) || semi - s > 12)
			goto bad;
		len = (size_t)(semi - s - 1);
		if (len == 3 && !memcmp(s + 1, "amp", 3)) {
			*o++ = '&';
		} else if (len == 2 && !memcmp(s + 1, "lt", 2)) {
			*o++ = '<';
		} else if (len == 2 && !memcmp(s + 1, "gt", 2)) {
			*o++ = '>';
		} else if (len == 4 && !memcmp(s + 1, "quot", 4)) {
			*o++ = '"';
		} else if (len == 4 && !memcmp(s + 1, "apos", 4)) {
			*o++ = '\'';
		} else if (len >= 2 && s[1] == '#') {
			char num[12], *e;
			unsigned long cp;
			int hexnum = s[2] == 'x' || s[2] == 'X';
			memcpy(num, s + 2 + hexnum, len - 1 - (size_t)hexnum);
			num[len - 1 - (size_t)hexnum] = '\0';
			if (!num[0] || !isxdigit((unsigned char)num[0]))
				goto bad;
			cp = strtoul(num, &e, hexnum ? 16 : 10);
			if (*e || cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
				goto bad;
			put_utf8(&o, cp); /* a reference is at least 4 bytes, its UTF-8 at most 4 */
		} else {
			goto bad;
		}
		s = semi + 1;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	errno = EINVAL;
	return NULL;
}

void mlops_s3_list_free(struct mlops_s3_list *list)
{
	if (!list)
		return;
	for (size_t i = 0; i < list->count; i++)
		free(list->entries[i].key);
	free(list->entries);
	free(list->next_token);
	free(list);
}

/*
 * An ISO 8601 UTC time as S3 lists it ("2024-05-06T07:08:09.123Z", the
 * fraction optional) in seconds since the epoch; -1 when malformed.
 */
static long long parse_iso8601(const char *s, size_t n)
{
	char buf[40];
	struct tm tm;
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(&tm, 0, sizeof(tm));
	const char *rest = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return -1;
	if (*rest == '.') {
		rest++;
		if (!isdigit((unsigned char)*rest))
			return -1;
		while (isdigit((unsigned char)*rest))
			rest++;
	}
	if (strcmp(rest, "Z") && strcmp(rest, "+00:00"))
		return -1;
	time_t t = timegm(&tm);
	return t < 0 ? -1 : (long long)t;
}

/* One <Contents> of a listing into a new entry of list. */
static int parse_contents(struct mlops_s3_list *list, size_t *cap, struct mlops_s3 *s3,
		const struct xml_el *c, const char **why)
{
	size_t plen = strlen(s3->prefix), kn, sn, en;
	const char *v;
	char *key, sizebuf[24], *se;
	struct mlops_s3_entry *e;
	int rc;

	if ((rc = xml_leaf(c, "Key", &v, &kn)) <= 0 || kn == 0) {
		*why = rc < 0 ? "a Contents element with a malformed Key" : "a Contents element without a Key";
		return MLOPS_EREMOTE;
	}
	if (!(key = xml_text(v, kn))) {
		if (errno != EINVAL)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		*why = "a Key that is not XML text";
		return MLOPS_EREMOTE;
	}
	if (strncmp(key, s3->prefix, plen)) {
		free(key);
		*why = "a Key outside the prefix listed";
		return MLOPS_EREMOTE;
	}
	memmove(key, key + plen, strlen(key + plen) + 1);
	if (list->count == *cap) {
		struct mlops_s3_entry *ne;
		size_t ncap = *cap ? 2 * *cap : 64;
		if (!(ne = realloc(list->entries, ncap * sizeof(*ne)))) {
			free(key);
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		}
		list->entries = ne;
		*cap = ncap;
	}
	e = &list->entries[list->count++];
	memset(e, 0, sizeof(*e));
	e->key = key;
	if (xml_leaf(c, "Size", &v, &sn) <= 0 || sn == 0 || sn >= sizeof(sizebuf)) {
		*why = "a Contents element without a Size";
		return MLOPS_EREMOTE;
	}
	memcpy(sizebuf, v, sn);
	sizebuf[sn] = '\0';
	errno = 0;
	e->stat.size = strtoull(sizebuf, &se, 10);
	if (*se || !isdigit((unsigned char)sizebuf[0]) || errno) {
		*why = "a malformed Size";
		return MLOPS_EREMOTE;
	}
	/* LastModified may be absent (mtime 0: unknown, which gc's grace keeps). */
	if ((rc = xml_leaf(c, "LastModified", &v, &sn)) < 0 ||
	    (rc > 0 && (e->stat.mtime = parse_iso8601(v, sn)) < 0)) {
		*why = "a malformed LastModified";
		return MLOPS_EREMOTE;
	}
	if ((rc = xml_leaf(c, "ETag", &v, &en)) < 0) {
		*why = "a malformed ETag";
		return MLOPS_EREMOTE;
	}
	if (rc > 0) {
		char *etag = xml_text(v, en);
		if (!etag && errno != EINVAL)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		if (!etag) {
			*why = "a malformed ETag";
			return MLOPS_EREMOTE;
		}
		snprintf(e->stat.etag, sizeof(e->stat.etag), "%s", etag);
		free(etag);
	}
	return 0;
}

/*
 * An IsTruncated element into *truncated (-1 before the first): NULL, or
 * what is wrong with it (a second one, a value other than true or false).
 */
static const char *parse_truncated(int *truncated, const struct xml_el *c)
{
	if (*truncated >= 0)
		return "IsTruncated twice";
	if (c->body_len == 4 && !memcmp(c->body, "true", 4))
		*truncated = 1;
	else if (c->body_len == 5 && !memcmp(c->body, "false", 5))
		*truncated = 0;
	else
		return "IsTruncated is neither true nor false";
	return NULL;
}

/*
 * The text of root's only child `name`, which must be there and not
 * empty, into *out (the caller's): 0, MLOPS_EREMOTE with *why, or
 * MLOPS_ERROR.
 */
static int required_text(char **out, const struct xml_el *root, const char *name,
		const char *missing, const char *malformed, const char **why)
{
	const char *v;
	size_t n;
	int rc = xml_leaf(root, name, &v, &n);
	if (rc <= 0 || n == 0) {
		*why = rc < 0 ? malformed : missing;
		return MLOPS_EREMOTE;
	}
	if (!(*out = xml_text(v, n))) {
		if (errno != EINVAL)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		*why = malformed;
		return MLOPS_EREMOTE;
	}
	return 0;
}

/*
 * What an entry (or another child) of a listing's root makes of it: 0,
 * MLOPS_EREMOTE with *why, or another failure.
 */
typedef int (*listing_child_cb)(void *ctx, const struct xml_el *c, const char **why);

/*
 * The frame every S3 listing shares, as strictly as gc needs (it deletes
 * or aborts by what a listing says, and an entry left out would be taken
 * for one that is not there): one complete document whose root is
 * root_name (not_root says otherwise), each child named entry_name handed
 * to entry and any other to other (when not NULL), no text among them,
 * and IsTruncated once, true or false.  0 with *root and *truncated set;
 * MLOPS_EREMOTE with *why (the caller says whose listing); any other
 * failure as it came, *why NULL.
 */
static int parse_listing(struct xml_el *root, int *truncated, const char *p, size_t n,
		const char *root_name, const char *not_root, const char *entry_name,
		listing_child_cb entry, listing_child_cb other, void *ctx, const char **why)
{
	struct xml_el c;
	const char *cur = NULL;
	int rc, error;

	*truncated = -1;
	*why = NULL;
	if (xml_root(root, p, n) < 0) {
		*why = "not a complete XML document";
		return MLOPS_EREMOTE;
	}
	if (!xml_is(root, root_name)) {
		*why = not_root;
		return MLOPS_EREMOTE;
	}
	while ((rc = xml_next_child(&cur, root, &c)) > 0) {
		if (xml_is(&c, entry_name))
			error = entry(ctx, &c, why);
		else if (xml_is(&c, "IsTruncated"))
			error = (*why = parse_truncated(truncated, &c)) ? MLOPS_EREMOTE : 0;
		else
			error = other ? other(ctx, &c, why) : 0;
		if (error < 0)
			return error;
	}
	if (rc < 0) {
		*why = "text among its elements";
		return MLOPS_EREMOTE;
	}
	if (*truncated < 0) {
		*why = "no IsTruncated";
		return MLOPS_EREMOTE;
	}
	return 0;
}

struct list_parse {
	struct mlops_s3_list *list;
	size_t cap;
	struct mlops_s3 *s3;
	long long key_count;
};

static int list_contents(void *ctx, const struct xml_el *c, const char **why)
{
	struct list_parse *lp = ctx;
	return parse_contents(lp->list, &lp->cap, lp->s3, c, why);
}

static int list_key_count(void *ctx, const struct xml_el *c, const char **why)
{
	struct list_parse *lp = ctx;
	char num[24], *e;
	if (!xml_is(c, "KeyCount"))
		return 0;
	if (lp->key_count >= 0 || c->body_len == 0 || c->body_len >= sizeof(num)) {
		*why = "a malformed KeyCount";
		return MLOPS_EREMOTE;
	}
	memcpy(num, c->body, c->body_len);
	num[c->body_len] = '\0';
	lp->key_count = strtoll(num, &e, 10);
	if (*e || !isdigit((unsigned char)num[0])) {
		*why = "a malformed KeyCount";
		return MLOPS_EREMOTE;
	}
	return 0;
}

/*
 * A ListObjectsV2 reply into list: the frame of parse_listing with
 * Contents, each closed and holding a Key and a Size; a truncated page
 * must carry NextContinuationToken, and KeyCount, when sent, must count
 * the keys.  Anything else is MLOPS_EREMOTE, never a shorter listing.
 */
static int parse_list(struct mlops_s3_list *list, struct mlops_s3 *s3, const char *p, size_t n)
{
	struct list_parse lp = { list, 0, s3, -1 };
	struct xml_el root;
	const char *why = NULL;
	int truncated, error;

	if ((error = parse_listing(&root, &truncated, p, n, "ListBucketResult",
			"not a ListBucketResult", "Contents",
			list_contents, list_key_count, &lp, &why)) < 0)
		goto done;
	if (lp.key_count >= 0 && (unsigned long long)lp.key_count != list->count) {
		why = "KeyCount does not match the keys listed";
		error = MLOPS_EREMOTE;
		goto done;
	}
	if (truncated)
		error = required_text(&list->next_token, &root, "NextContinuationToken",
			"truncated without a continuation token",
			"a malformed NextContinuationToken", &why);
done:
	if (error < 0 && why)
		return mlops_error_set(MLOPS_EREMOTE, "malformed listing from '%s': %s",
			s3->display, why);
	return error;
}

int mlops_s3_list_parse(struct mlops_s3_list **out, struct mlops_s3 *s3, const char *body,
		size_t len)
{
	struct mlops_s3_list *list;
	int error;

	*out = NULL;
	if (!(list = calloc(1, sizeof(*list))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((error = parse_list(list, s3, body, len)) < 0) {
		mlops_s3_list_free(list);
		return error;
	}
	*out = list;
	return 0;
}

int mlops_s3_list_page(struct mlops_s3_list **out, struct mlops_s3 *s3,
		const char *prefix, const char *token, int max_keys)
{
	struct req r = { .what = "list", .method = "GET", .sink_kind = SINK_MEM, .mem_cap = LIST_BODY_CAP };
	char *full = NULL, maxbuf[16];
	int error;

	*out = NULL;
	if (!(full = malloc(strlen(s3->prefix) + (prefix ? strlen(prefix) : 0) + 1))) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	sprintf(full, "%s%s", s3->prefix, prefix ? prefix : "");
	r.query[r.nquery++] = (struct mlops_sigv4_param){ "list-type", "2" };
	if (*full)
		r.query[r.nquery++] = (struct mlops_sigv4_param){ "prefix", full };
	if (token)
		r.query[r.nquery++] = (struct mlops_sigv4_param){ "continuation-token", token };
	if (max_keys > 0) {
		snprintf(maxbuf, sizeof(maxbuf), "%d", max_keys);
		r.query[r.nquery++] = (struct mlops_sigv4_param){ "max-keys", maxbuf };
	}
	if ((error = do_request(s3, &r)) < 0)
		goto cleanup;
	error = mlops_s3_list_parse(out, s3, r.resp.p, r.resp.len);

cleanup:
	free(full);
	req_cleanup(&r);
	return error;
}

int mlops_s3_list_foreach(struct mlops_s3 *s3, const char *prefix, int max_keys,
		int (*cb)(const struct mlops_s3_entry *entry, void *payload), void *payload)
{
	struct mlops_s3_list *page = NULL;
	char *token = NULL;
	int error = 0;

	do {
		if ((error = mlops_s3_list_page(&page, s3, prefix, token, max_keys)) < 0)
			break;
		for (size_t i = 0; i < page->count && !error; i++)
			error = cb(&page->entries[i], payload);
		free(token);
		token = page->next_token;
		page->next_token = NULL;
		mlops_s3_list_free(page);
		page = NULL;
	} while (!error && token);
	free(token);
	return error;
}

/* ---- multipart ------------------------------------------------------ */

int mlops_s3_multipart_begin(char **out_upload_id, struct mlops_s3 *s3, const char *key)
{
	struct req r = { .what = "start multipart upload of", .method = "POST", .key = key,
		.sink_kind = SINK_MEM, .mem_cap = MULTIPART_BODY_CAP,
		.xml_reply = 1 };
	struct xml_el root;
	const char *v;
	size_t n;
	int error;

	*out_upload_id = NULL;
	if ((error = check_key(key)) < 0)
		return error;
	r.query[r.nquery++] = (struct mlops_sigv4_param){ "uploads", "" };
	if ((error = do_request(s3, &r)) < 0)
		goto cleanup;
	/* req_result checked that the reply is one complete document. */
	errno = 0;
	if (xml_root(&root, r.resp.p, r.resp.len) < 0 || xml_leaf(&root, "UploadId", &v, &n) <= 0 ||
	    !n || !(*out_upload_id = xml_text(v, n)))
		error = mlops_error_set(errno == ENOMEM ? MLOPS_ERROR : MLOPS_EREMOTE,
			"unable to start multipart upload of '%s%s': no upload id in the reply",
			s3->display, key);

cleanup:
	req_cleanup(&r);
	return error;
}

static int upload_part(char **out_etag, struct mlops_s3 *s3, struct req *r, const char *key,
		const char *upload_id, int part_number)
{
	char num[16];
	int error;

	*out_etag = NULL;
	if ((error = check_key(key)) < 0)
		return error;
	if (part_number < 1 || part_number > 10000)
		return mlops_error_set(MLOPS_EUSAGE, "part number %d is not in 1..10000", part_number);
	snprintf(num, sizeof(num), "%d", part_number);
	r->what = "upload a part of";
	r->method = "PUT";
	r->key = key;
	r->query[r->nquery++] = (struct mlops_sigv4_param){ "partNumber", num };
	r->query[r->nquery++] = (struct mlops_sigv4_param){ "uploadId", upload_id };
	if ((error = do_request(s3, r)) < 0)
		goto cleanup;
	if (!r->etag[0])
		error = mlops_error_set(MLOPS_EREMOTE, "unable to upload part %d of '%s%s': no ETag in the reply",
			part_number, s3->display, key);
	else if (!(*out_etag = strdup(r->etag)))
		error = mlops_error_set(MLOPS_ERROR, "out of memory");

cleanup:
	req_cleanup(r);
	return error;
}

int mlops_s3_multipart_part(char **out_etag, struct mlops_s3 *s3, const char *key,
		const char *upload_id, int part_number, const void *data, size_t len)
{
	struct req r = { .body_kind = BODY_MEM, .body = data, .body_len = len };
	return upload_part(out_etag, s3, &r, key, upload_id, part_number);
}

int mlops_s3_multipart_part_fd(char **out_etag, struct mlops_s3 *s3, const char *key,
		const char *upload_id, int part_number, int fd, uint64_t offset, uint64_t len)
{
	struct req r = { .body_kind = BODY_FD, .body_fd = fd, .body_off = offset, .body_len = len };
	return upload_part(out_etag, s3, &r, key, upload_id, part_number);
}

static int xml_escape_add(struct buf *b, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++) {
		switch (*s) {
		case '&': rc = buf_adds(b, "&amp;"); break;
		case '<': rc = buf_adds(b, "&lt;"); break;
		case '>': rc = buf_adds(b, "&gt;"); break;
		case '"': rc = buf_adds(b, "&quot;"); break;
		default: rc = buf_add(b, s, 1);
		}
	}
	return rc;
}

int mlops_s3_multipart_complete(struct mlops_s3 *s3, const char *key, const char *upload_id,
		char *const *etags, int nparts)
{
	struct req r = { .what = "complete multipart upload of", .method = "POST", .key = key,
		.sink_kind = SINK_MEM, .mem_cap = MULTIPART_BODY_CAP,
		.xml_reply = 1 };
	struct buf body = { .limit = SIZE_MAX };
	char num[16];
	int error, rc;

	if ((error = check_key(key)) < 0)
		return error;
	if (nparts < 1 || nparts > 10000)
		return mlops_error_set(MLOPS_EUSAGE, "a multipart upload needs 1..10000 parts, not %d", nparts);
	rc = buf_adds(&body, "<CompleteMultipartUpload>");
	for (int i = 0; i < nparts && !rc; i++) {
		snprintf(num, sizeof(num), "%d", i + 1);
		rc = buf_adds(&body, "<Part><PartNumber>") || buf_adds(&body, num) ||
			buf_adds(&body, "</PartNumber><ETag>") || xml_escape_add(&body, etags[i]) ||
			buf_adds(&body, "</ETag></Part>");
	}
	if (rc || buf_adds(&body, "</CompleteMultipartUpload>")) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	r.query[r.nquery++] = (struct mlops_sigv4_param){ "uploadId", upload_id };
	r.body_kind = BODY_MEM;
	r.body = (const unsigned char *)body.p;
	r.body_len = body.len;
	error = do_request(s3, &r);

cleanup:
	req_cleanup(&r);
	free(body.p);
	return error;
}

int mlops_s3_multipart_abort(struct mlops_s3 *s3, const char *key, const char *upload_id)
{
	struct req r = { .what = "abort multipart upload of", .method = "DELETE", .key = key };
	int error;

	if ((error = check_key(key)) < 0)
		return error;
	r.query[r.nquery++] = (struct mlops_sigv4_param){ "uploadId", upload_id };
	error = do_request(s3, &r);
	if (error == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		error = 0;
	}
	req_cleanup(&r);
	return error;
}

/* ---- unfinished multipart uploads ---------------------------------- */

void mlops_s3_uploads_free(struct mlops_s3_uploads *uploads)
{
	if (!uploads)
		return;
	for (size_t i = 0; i < uploads->count; i++) {
		free(uploads->entries[i].key);
		free(uploads->entries[i].upload_id);
	}
	free(uploads->entries);
	free(uploads->next_key_marker);
	free(uploads->next_upload_id_marker);
	free(uploads);
}

/* One <Upload> of a listing of uploads into a new entry of u. */
static int parse_upload(struct mlops_s3_uploads *u, size_t *cap, struct mlops_s3 *s3,
		const struct xml_el *c, const char **why)
{
	size_t plen = strlen(s3->prefix), kn, in, tn;
	const char *k, *i, *t;
	char *key = NULL, *id = NULL;
	long long initiated = 0;
	int rc;

	if ((rc = xml_leaf(c, "Key", &k, &kn)) <= 0 || kn == 0) {
		*why = rc < 0 ? "an Upload with a malformed Key" : "an Upload without a Key";
		return MLOPS_EREMOTE;
	}
	if ((rc = xml_leaf(c, "UploadId", &i, &in)) <= 0 || in == 0) {
		*why = rc < 0 ? "an Upload with a malformed UploadId" : "an Upload without an UploadId";
		return MLOPS_EREMOTE;
	}
	/* Initiated may be absent (0: unknown, which gc's grace keeps). */
	if ((rc = xml_leaf(c, "Initiated", &t, &tn)) < 0 ||
	    (rc > 0 && (initiated = parse_iso8601(t, tn)) < 0)) {
		*why = "a malformed Initiated";
		return MLOPS_EREMOTE;
	}
	if (!(key = xml_text(k, kn)) || !(id = xml_text(i, in))) {
		int e = errno;
		free(key);
		if (e != EINVAL)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		*why = "a Key or an UploadId that is not XML text";
		return MLOPS_EREMOTE;
	}
	if (strncmp(key, s3->prefix, plen)) {
		free(key);
		free(id);
		*why = "an Upload outside the prefix listed";
		return MLOPS_EREMOTE;
	}
	memmove(key, key + plen, strlen(key + plen) + 1);
	if (u->count == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		struct mlops_s3_upload *ne = realloc(u->entries, ncap * sizeof(*ne));
		if (!ne) {
			free(key);
			free(id);
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		}
		u->entries = ne;
		*cap = ncap;
	}
	u->entries[u->count++] = (struct mlops_s3_upload){ key, id, initiated };
	return 0;
}

struct uploads_parse {
	struct mlops_s3_uploads *u;
	size_t cap;
	struct mlops_s3 *s3;
};

static int uploads_upload(void *ctx, const struct xml_el *c, const char **why)
{
	struct uploads_parse *up = ctx;
	return parse_upload(up->u, &up->cap, up->s3, c, why);
}

/*
 * A ListMultipartUploads reply into u, as strict as parse_list: gc aborts
 * what it lists, and an upload left out is billed on.  The frame of
 * parse_listing with Upload, each closed and holding a Key and an
 * UploadId, and a truncated page carrying both NextKeyMarker and
 * NextUploadIdMarker (a key's uploads may be split between pages, so the
 * key alone would skip the rest of them).
 */
static int parse_uploads(struct mlops_s3_uploads *u, struct mlops_s3 *s3, const char *p, size_t n)
{
	struct uploads_parse up = { u, 0, s3 };
	struct xml_el root;
	const char *why = NULL;
	int truncated, error;

	if ((error = parse_listing(&root, &truncated, p, n, "ListMultipartUploadsResult",
			"not a ListMultipartUploadsResult", "Upload",
			uploads_upload, NULL, &up, &why)) == 0 && truncated &&
	    (error = required_text(&u->next_key_marker, &root, "NextKeyMarker",
			"truncated without a NextKeyMarker", "a malformed NextKeyMarker",
			&why)) == 0)
		error = required_text(&u->next_upload_id_marker, &root, "NextUploadIdMarker",
			"truncated without a NextUploadIdMarker",
			"a malformed NextUploadIdMarker", &why);
	if (error < 0 && why)
		return mlops_error_set(MLOPS_EREMOTE, "malformed listing of uploads from '%s': %s",
			s3->display, why);
	return error;
}

int mlops_s3_uploads_parse(struct mlops_s3_uploads **out, struct mlops_s3 *s3, const char *body,
		size_t len)
{
	struct mlops_s3_uploads *u;
	int error;

	*out = NULL;
	if (!(u = calloc(1, sizeof(*u))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((error = parse_uploads(u, s3, body, len)) < 0) {
		mlops_s3_uploads_free(u);
		return error;
	}
	*out = u;
	return 0;
}

int mlops_s3_uploads_page(struct mlops_s3_uploads **out, struct mlops_s3 *s3, const char *prefix,
		const char *key_marker, const char *upload_id_marker)
{
	struct req r = { .what = "list the uploads in", .method = "GET", .sink_kind = SINK_MEM,
		.mem_cap = LIST_BODY_CAP };
	char *full = NULL;
	int error;

	*out = NULL;
	if (!(full = malloc(strlen(s3->prefix) + (prefix ? strlen(prefix) : 0) + 1))) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	sprintf(full, "%s%s", s3->prefix, prefix ? prefix : "");
	r.query[r.nquery++] = (struct mlops_sigv4_param){ "uploads", "" };
	if (*full)
		r.query[r.nquery++] = (struct mlops_sigv4_param){ "prefix", full };
	if (key_marker)
		r.query[r.nquery++] = (struct mlops_sigv4_param){ "key-marker", key_marker };
	if (upload_id_marker)
		r.query[r.nquery++] = (struct mlops_sigv4_param){ "upload-id-marker", upload_id_marker };
	if ((error = do_request(s3, &r)) < 0)
		goto cleanup;
	error = mlops_s3_uploads_parse(out, s3, r.resp.p, r.resp.len);

cleanup:
	free(full);
	req_cleanup(&r);
	return error;
}

int mlops_s3_uploads_foreach(struct mlops_s3 *s3, const char *prefix,
		int (*cb)(const struct mlops_s3_upload *upload, void *payload), void *payload)
{
	struct mlops_s3_uploads *page = NULL;
	char *key_marker = NULL, *id_marker = NULL;
	int error = 0;

	do {
		if ((error = mlops_s3_uploads_page(&page, s3, prefix, key_marker, id_marker)) < 0)
			break;
		/* A server that sends the same page again would be listed forever. */
		if (key_marker && page->next_key_marker && !strcmp(key_marker, page->next_key_marker) &&
				!strcmp(id_marker, page->next_upload_id_marker))
			error = mlops_error_set(MLOPS_EREMOTE, "malformed listing of uploads from '%s': "
				"a truncated page that does not move on", s3->display);
		for (size_t i = 0; i < page->count && !error; i++)
			error = cb(&page->entries[i], payload);
		free(key_marker);
		free(id_marker);
		key_marker = page->next_key_marker;
		id_marker = page->next_upload_id_marker;
		page->next_key_marker = page->next_upload_id_marker = NULL;
		mlops_s3_uploads_free(page);
		page = NULL;
	} while (!error && key_marker);
	free(key_marker);
	free(id_marker);
	return error;
}

/* ---- parallel batches ----------------------------------------------- */

struct slot {
	CURL *easy;
	struct req r;
	size_t item;
	int busy;
	int fd;
};

struct waiting {
	size_t item;
	int attempt;
	long long ready_ms;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Prepare slot s for item it; a failure is the item's own status. */
static int slot_start(struct mlops_s3 *s3, struct slot *s, struct mlops_s3_item *it)
{
	struct req *r = &s->r;
	struct stat st;
	int error;

	memset(r, 0, sizeof(*r));
	s->fd = -1;
	if ((error = check_key(it->key)) < 0)
		return error;
	r->key = it->key;
	switch (it->op) {
	case MLOPS_S3_OP_HEAD:
		r->what = "head";
		r->method = "HEAD";
		break;
	case MLOPS_S3_OP_DELETE:
		r->what = "delete";
		r->method = "DELETE";
		break;
	case MLOPS_S3_OP_PUT:
		r->what = "put";
		r->method = "PUT";
		if (!it->path) {
			r->body_kind = BODY_MEM;
			r->body = it->data;
			r->body_len = it->len;
			break;
		}
		if ((s->fd = open(it->path, O_RDONLY | O_CLOEXEC)) < 0)
			return mlops_error_sys(errno, "unable to open '%s'", it->path);
		if (fstat(s->fd, &st) < 0)
			return mlops_error_sys(errno, "unable to stat '%s'", it->path);
		r->body_kind = BODY_FD;
		r->body_fd = s->fd;
		r->body_len = (uint64_t)st.st_size;
		break;
	case MLOPS_S3_OP_GET:
		r->what = "get";
		r->method = "GET";
		if (!it->path)
			return mlops_error_set(MLOPS_EUSAGE, "a batch get of '%s' needs a path", it->key);
		if ((s->fd = open(it->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
			return mlops_error_sys(errno, "unable to create '%s'", it->path);
		r->sink_kind = SINK_FD;
		r->sink_fd = s->fd;
		break;
	default:
		return mlops_error_set(MLOPS_EUSAGE, "unknown batch operation %d", (int)it->op);
	}
	if ((error = req_setup(s3, s->easy, r)) < 0)
		return error;
	curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	if (curl_multi_add_handle(s3->multi, s->easy) != CURLM_OK)
		return mlops_error_set(MLOPS_ERROR, "unable to start a transfer of '%s'", it->key);
	s->busy = 1;
	return 0;
}

static void slot_finish(struct slot *s)
{
	req_cleanup(&s->r);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->busy = 0;
}

static int ensure_pool(struct mlops_s3 *s3, int n)
{
	if (!s3->multi) {
		if (!(s3->multi = curl_multi_init()))
			return mlops_error_set(MLOPS_ERROR, "unable to start curl");
	}
	curl_multi_setopt(s3->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n);
	curl_multi_setopt(s3->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)n);
	if (n > s3->npool) {
		CURL **p = realloc(s3->pool, (size_t)n * sizeof(*p));
		if (!p)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		s3->pool = p;
		while (s3->npool < n) {
			if (!(s3->pool[s3->npool] = curl_easy_init()))
				return mlops_error_set(MLOPS_ERROR, "unable to start curl");
			s3->npool++;
		}
	}
	return 0;
}

int mlops_s3_batch(struct mlops_s3 *s3, struct mlops_s3_item *items, size_t n, int connections)
{
	struct slot *slots = NULL;
	struct waiting *waits = NULL;
	int *attempts = NULL;
	size_t next = 0, done = 0, nwait = 0;
	int first_error = 0, error = 0, nslots, active = 0;
	char first_message[2048] = "";

	if (!n)
		return 0;
	if (connections <= 0)
		connections = 8;
	if (connections > MAX_CONNECTIONS)
		connections = MAX_CONNECTIONS;
	nslots = (size_t)connections < n ? connections : (int)n;
	if ((error = ensure_pool(s3, nslots)) < 0)
		return error;
	slots = calloc((size_t)nslots, sizeof(*slots));
	waits = calloc(n, sizeof(*waits));
	attempts = calloc(n, sizeof(*attempts));
	if (!slots || !waits || !attempts) {
		error = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto cleanup;
	}
	for (int i = 0; i < nslots; i++) {
		slots[i].easy = s3->pool[i];
		slots[i].fd = -1;
	}

	while (done < n) {
		long long now = now_ms(), soonest = -1;
		struct CURLMsg *msg;
		int left, running;
		long timeout;

		/* Fill idle slots: due retries first, then new items. */
		for (int i = 0; i < nslots; i++) {
			size_t item;
			int from_wait = -1, rc;
			if (slots[i].busy)
				continue;
			for (size_t w = 0; w < nwait; w++)
				if (waits[w].ready_ms <= now) {
					from_wait = (int)w;
					break;
				}
			if (from_wait >= 0) {
				item = waits[from_wait].item;
				waits[from_wait] = waits[--nwait];
			} else if (next < n) {
				item = next++;
			} else {
				break;
			}
			slots[i].item = item;
			if ((rc = slot_start(s3, &slots[i], &items[item])) < 0) {
				items[item].status = rc;
				if (!first_error) {
					first_error = rc;
					snprintf(first_message, sizeof(first_message), "%s", mlops_error_message());
				}
				if (slots[i].busy)
					curl_multi_remove_handle(s3->multi, slots[i].easy);
				slot_finish(&slots[i]);
				done++;
				i--; /* try this slot again with the next item */
				continue;
			}
			active++;
		}
		if (done >= n)
			break;

		curl_multi_perform(s3->multi, &running);
		while ((msg = curl_multi_info_read(s3->multi, &left))) {
			struct slot *s = NULL;
			struct mlops_s3_item *it;
			int retry, rc;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_multi_remove_handle(s3->multi, s->easy);
			active--;
			it = &items[s->item];
			rc = req_result(s3, &s->r, msg->data.result, &retry);
			if (rc < 0 && retry && attempts[s->item] < s3->max_retries) {
				note_retry(s3, &s->r, msg->data.result, attempts[s->item]);
				waits[nwait].item = s->item;
				waits[nwait].attempt = attempts[s->item];
				waits[nwait].ready_ms = now_ms() + backoff_ms(s3, attempts[s->item]);
				attempts[s->item]++;
				nwait++;
				slot_finish(s);
				continue;
			}
			it->status = rc;
			fill_stat(&it->stat, &s->r);
			if (it->op == MLOPS_S3_OP_GET)
				it->stat.size = s->r.written;
			else if (it->op == MLOPS_S3_OP_PUT)
				it->stat.size = s->r.body_len;
			if (rc == MLOPS_ENOTFOUND && it->op == MLOPS_S3_OP_DELETE && strcmp(s->r.s3code, "NoSuchBucket")) {
				mlops_error_clear();

				it->status = rc = 0;
			}
			if (rc < 0 && !(rc == MLOPS_ENOTFOUND && it->op == MLOPS_S3_OP_HEAD) && !first_error) {
				first_error = rc;
				snprintf(first_message, sizeof(first_message), "%s", mlops_error_message());
			}
			slot_finish(s);
			done++;
		}
		if (done >= n)
			break;

		now = now_ms();
		for (size_t w = 0; w < nwait; w++)
			if (soonest < 0 || waits[w].ready_ms < soonest)
				soonest = waits[w].ready_ms;
		timeout = 1000;
		if (soonest >= 0)
			timeout = soonest <= now ? 0 : (long)(soonest - now < 1000 ? soonest - now : 1000);
		if (active > 0 || timeout > 0)
			curl_multi_poll(s3->multi, NULL, 0, (int)timeout, NULL);
	}
	error = first_error;
	if (error)
		mlops_error_set(error, "%s", first_message);

cleanup:
	if (slots) {
		for (int i = 0; i < nslots; i++) {
			if (slots[i].busy) {
				curl_multi_remove_handle(s3->multi, slots[i].easy);
				slot_finish(&slots[i]);
			}
		}
	}
	free(slots);
	free(waits);
	free(attempts);
	return error;
}
