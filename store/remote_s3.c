/*
 * remote_s3.c - the S3 backend: "s3://bucket/prefix" on AWS S3 or any
 * S3-compatible store (MinIO, Ceph, moto), over the client in s3.h.
 *
 * The endpoint, region and credentials profile come from the remote's
 * settings; the credentials themselves from the environment or the shared
 * credentials file (s3.h), never from .mlops/config.  A client is used by
 * one thread at a time, so the backend keeps a small pool of clients and
 * lends one to each call.  A ref's compare-and-swap is a conditional put:
 * If-None-Match: * to create, If-Match with the ETag of the value that was
 * compared to replace.
 */
#include "remote.h"
#include "error.h"
#include "fsutil.h"
#include "refs.h"
#include "s3.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 64

/*
 * The part size of multipart uploads (S3 wants at least 5 MiB for all but
 * the last), and the buffer a pack of large objects is gathered in, one
 * per transfer.  Packs of large objects are cut to fit it (bulk_max), so
 * each is one plain PUT of up to 8 MiB where its 30-odd objects were
 * 30-odd puts: no multipart upload is left behind by a push that is
 * killed, and the test endpoint (moto), which joins a multipart upload's
 * parts again in Python at its completion, took half as long again to
 * receive 64 MiB packs as 8 MiB ones.  A longer key still goes up in parts.
 */
#define PART_SIZE ((size_t)8 << 20)

struct s3_remote {
	struct mlops_remote base;
	char *bucket, *prefix, *endpoint, *region, *profile;
	int timeout, virtual_host;
	pthread_mutex_t lock;
	struct mlops_s3 *idle[POOL_MAX];
	size_t nidle;
};

/* A request is retried after a timeout: say so while it happens (error.h). */
static void warn_retry(const char *message, void *payload)
{
	(void)payload;
	mlops_warning_add("%s", message);
}

static int lend(struct mlops_s3 **out, struct s3_remote *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->nidle) {
		*out = s->idle[--s->nidle];
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	pthread_mutex_unlock(&s->lock);
	struct mlops_s3_config cfg = {
		.endpoint = s->endpoint, .region = s->region, .bucket = s->bucket,
		.prefix = s->prefix, .profile = s->profile,
		.connect_timeout_ms = s->timeout * 1000L, .low_speed_time_s = s->timeout,
		.virtual_host = s->virtual_host,
		.on_retry = warn_retry,
		.part_size = PART_SIZE,
	};
	int err = mlops_s3_open(out, &cfg);
	if (err < 0)
		mlops_error_wrap(err, "remote '%s'", s->base.url);
	return err;
}

static void give_back(struct s3_remote *s, struct mlops_s3 *c)
{
	pthread_mutex_lock(&s->lock);
	if (s->nidle < POOL_MAX) {
		s->idle[s->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&s->lock);
	mlops_s3_free(c);
}

static int s3_has_many(struct mlops_remote *r, const char *const *keys, size_t n,
		       unsigned char *present)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct mlops_s3 *c;
	int err;
	if (n == 0)
		return 0;
	struct mlops_s3_item *items = calloc(n, sizeof(*items));
	if (!items)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((err = lend(&c, s)) < 0) {
		free(items);
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].op = MLOPS_S3_OP_HEAD;
		items[i].key = keys[i];
	}
	err = mlops_s3_batch(c, items, n, r->jobs);
	for (size_t i = 0; i < n; i++)
		present[i] = items[i].status == 0;
	give_back(s, c);
	free(items);
	return err;
}

/*
 * A put the remote answers "not found" (an upload it no longer knows:
 * aborted meanwhile, by hand or by a lifecycle rule) or with a conflict (a
 * conflicting operation in progress) failed on the remote: MLOPS_EREMOTE,
 * with the same message.  Only ref updates, which are conditional, take a
 * conflict as such.
 */
static int put_failure(int err)
{
	if (err == MLOPS_ENOTFOUND || err == MLOPS_ECONFLICT)
		return mlops_error_set(MLOPS_EREMOTE, "%s", mlops_error_message());
	return err;
}

static int s3_put(struct mlops_remote *r, const char *key, const void *data, size_t len)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct mlops_s3 *c;
	int err = lend(&c, s);
	if (err < 0)
		return err;
	err = put_failure(mlops_s3_put(c, key, data, len));
	give_back(s, c);
	return err;
}

static int s3_put_file(struct mlops_remote *r, const char *key, const char *path)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct mlops_s3 *c;
	int err = lend(&c, s);
	if (err < 0)
		return err;
	err = put_failure(mlops_s3_put_file(c, key, path));
	give_back(s, c);
	return err;
}

/* A multipart upload in progress: its parts' ETags, in order. */
struct upload {
	struct mlops_s3 *c;
	const char *key;
	char *id;
	char **etags;
	int nparts, cap;
};

/* Upload buf as the next part, beginning the upload first if need be. */
static int upload_next(struct upload *u, const void *buf, size_t len)
{
	int err;
	if (!u->id && (err = mlops_s3_multipart_begin(&u->id, u->c, u->key)) < 0)
		return put_failure(err);
	if (u->nparts == u->cap) {
		int ncap = u->cap ? 2 * u->cap : 16;
		char **n = realloc(u->etags, (size_t)ncap * sizeof(*n));
		if (!n)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		u->etags = n;
		u->cap = ncap;
	}
	if ((err = mlops_s3_multipart_part(&u->etags[u->nparts], u->c, u->key, u->id, u->nparts + 1,
					   buf, len)) < 0)
		return put_failure(err);
	u->nparts++;
	return 0;
}

/*
 * The parts go into a buffer of PART_SIZE; each full one is uploaded as a
 * part of a multipart upload (begun with the first), and the rest as the
 * last part.  A key that fits in one buffer is one plain put.  Either way
 * readers see the whole key or nothing: a multipart upload appears only
 * when it completes.  On any failure, the callback's included, the upload
 * is aborted and the failure returned as it was: a part that still fails
 * after the client's retries fails the whole key, which the next push
 * sends again.
 */
static int s3_put_parts(struct mlops_remote *r, const char *key, size_t n,
			mlops_remote_part_cb part, void *payload)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct upload u = { .key = key };
	char *buf = malloc(PART_SIZE);
	size_t len = 0;
	int err = 0;
	if (!buf)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((err = lend(&u.c, s)) < 0) {
		free(buf);
		return err;
	}
	for (size_t i = 0; i < n && err == 0; i++) {
		struct mlops_remote_part pt;
		if ((err = part(payload, i, &pt)) < 0)
			break;
		const unsigned char *p = pt.data;
		size_t left = pt.len;
		while (left && err == 0) {
			/* A full buffer goes only when more follows: the last part is never empty. */
			if (len == PART_SIZE) {
				err = upload_next(&u, buf, len);
				len = 0;
				continue;
			}
			size_t take = PART_SIZE - len < left ? PART_SIZE - len : left;
			memcpy(buf + len, p, take);
			len += take;
			p += take;
			left -= take;
		}
	}
	if (err == 0 && !u.id)
		err = put_failure(mlops_s3_put(u.c, key, buf, len));
	else if (err == 0 && (err = upload_next(&u, buf, len)) == 0)
		err = put_failure(mlops_s3_multipart_complete(u.c, key, u.id, u.etags, u.nparts));
	if (err < 0 && u.id) {
		char saved[2048];
		snprintf(saved, sizeof(saved), "%s", mlops_error_message());
		mlops_s3_multipart_abort(u.c, key, u.id);
		mlops_error_set(err, "%s", saved);
	}
	give_back(s, u.c);
	for (int i = 0; i < u.nparts; i++)
		free(u.etags[i]);
	free(u.etags);
	free(u.id);
	free(buf);
	return err;
}

static int s3_get(struct mlops_remote *r, const char *key, void **out, size_t *len,
		  size_t max_size)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct mlops_s3 *c;
	int err = lend(&c, s);
	if (err < 0)
		return err;
	err = mlops_s3_get(out, len, c, key, max_size);
	give_back(s, c);
	return err;
}

static int s3_get_file(struct mlops_remote *r, const char *key, int fd, uint64_t *len,
		       uint64_t max_size)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct mlops_s3 *c;
	int err = lend(&c, s);
	if (err < 0)
		return err;
	err = mlops_s3_get_fd(len, c, key, fd, max_size);
	give_back(s, c);
	return err;
}

struct list_ctx {
	mlops_remote_list_cb cb;
	void *payload;
};

static int list_entry(const struct mlops_s3_entry *e, void *payload)
{
	struct list_ctx *l = payload;
	return l->cb(e->key, e->stat.size, e->stat.mtime, l->payload);
}

static int s3_list(struct mlops_remote *r, const char *prefix, mlops_remote_list_cb cb,
		   void *payload)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct mlops_s3 *c;
	struct list_ctx l = { cb, payload };
	int err = lend(&c, s);
	if (err < 0)
		return err;
	err = mlops_s3_list_foreach(c, prefix, 1000, list_entry, &l);
	give_back(s, c);
	return err;
}

static int s3_remove(struct mlops_remote *r, const char *key)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct mlops_s3 *c;
	int err = lend(&c, s);
	if (err < 0)
		return err;
	err = mlops_s3_delete(c, key);
	give_back(s, c);
	return err;
}

struct clean_ctx {
	struct mlops_s3 *c;
	long long cutoff, age;
	int dry_run;
	size_t *count;
};

static int clean_upload(const struct mlops_s3_upload *u, void *payload)
{
	struct clean_ctx *x = payload;
	/* An upload whose start the server did not say is kept, unless the grace is nil. */
	if (mlops_remote_too_recent(u->initiated, x->cutoff, x->age))
		return 0;
	/* No key of the remote is its prefix itself: not a push's. */
	if (!*u->key)
		return 0;
	/* A 404 NoSuchUpload: completed or aborted meanwhile, which is done as well. */
	int err = x->dry_run ? 0 : mlops_s3_multipart_abort(x->c, u->key, u->upload_id);
	if (err == 0)
		(*x->count)++;
	return err;
}

/*
 * Abort the multipart uploads under the remote's prefix that began over
 * age seconds ago.  A push killed while it sent a key in parts (s3_put_parts,
 * mlops_s3_put_file) leaves its upload unfinished: S3 stores and bills its
 * parts until it is aborted, and no listing of keys shows it.
 */
static int s3_clean(struct mlops_remote *r, long long age, int dry_run, size_t *count)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct clean_ctx x = { NULL, (long long)time(NULL) - age, age, dry_run, count };
	*count = 0;
	int err = lend(&x.c, s);
	if (err < 0)
		return err;
	err = mlops_s3_uploads_foreach(x.c, NULL, clean_upload, &x);
	give_back(s, x.c);
	return err;
}

/* Read a ref with the ETag of exactly the bytes read. */
static int read_ref(mlops_oid *out, char etag[80], struct mlops_s3 *c, const char *key,
		    const char *name, const char *url)
{
	for (int tries = 0; tries < 5; tries++) {
		struct mlops_s3_stat a, b;
		void *data = NULL;
		size_t len;
		int err = mlops_s3_head(&a, c, key);
		if (err == MLOPS_ENOTFOUND)
			return mlops_error_set(MLOPS_ENOTFOUND, "ref '%s' not found on remote '%s'", name, url);
		if (err < 0 || (err = mlops_s3_get(&data, &len, c, key, 4096)) < 0 ||
		    (err = mlops_s3_head(&b, c, key)) < 0) {
			free(data);
			if (err == MLOPS_ENOTFOUND)
				continue;
			return err;
		}
		if (strcmp(a.etag, b.etag)) {
			free(data);
			continue;
		}
		/* Also when damaged: a forced push replaces it only if it is still that key. */
		if (etag)
			snprintf(etag, 80, "%s", a.etag);
		char hex[MLOPS_OID_HEXSZ + 1];
		if (len < MLOPS_OID_HEXSZ) {
			free(data);
			return mlops_error_set(MLOPS_ECORRUPT, "remote ref '%s' is damaged: it holds no id", name);
		}
		memcpy(hex, data, MLOPS_OID_HEXSZ);
		hex[MLOPS_OID_HEXSZ] = '\0';
		free(data);
		if (mlops_oid_parse(out, hex) < 0)
			return mlops_error_set(MLOPS_ECORRUPT, "remote ref '%s' is damaged: it holds no id", name);
		return 0;
	}
	return mlops_error_set(MLOPS_ECONFLICT, "ref '%s' on remote '%s' keeps changing", name, url);
}

static int s3_ref_read(struct mlops_remote *r, const char *name, mlops_oid *out)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct mlops_s3 *c;
	char key[512];
	if (!mlops_ref_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid ref name", name);
	snprintf(key, sizeof(key), "refs/%s", name);
	int err = lend(&c, s);
	if (err < 0)
		return err;
	err = read_ref(out, NULL, c, key, name, r->url);
	give_back(s, c);
	return err;
}

static int s3_ref_cas(struct mlops_remote *r, const char *name, const mlops_oid *id,
		      const mlops_oid *expected)
{
	struct s3_remote *s = (struct s3_remote *)r;
	struct mlops_s3 *c;
	char key[512], etag[80] = "", hex[MLOPS_OID_HEXSZ + 2];
	mlops_oid cur;
	if (!mlops_ref_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid ref name", name);
	snprintf(key, sizeof(key), "refs/%s", name);
	int err = lend(&c, s);
	if (err < 0)
		return err;
	err = read_ref(&cur, etag, c, key, name, r->url);
	/* A damaged ref has an ETag too: the put replaces that object. */
	int exists = err == 0 || err == MLOPS_ECORRUPT;
	if ((err = mlops_remote_cas_expect(err, &cur, expected, name, r->url)) < 0)
		goto done;
	if (!id) {
		err = mlops_s3_delete(c, key);
		goto done;
	}
	mlops_oid_fmt(hex, id);
	hex[MLOPS_OID_HEXSZ] = '\n';
	err = mlops_s3_put_if(NULL, c, key, hex, MLOPS_OID_HEXSZ + 1, exists ? etag : NULL);
	if (err == MLOPS_ECONFLICT)
		mlops_error_set(MLOPS_ECONFLICT, "ref '%s' on remote '%s' changed meanwhile", name, r->url);
done:
	give_back(s, c);
	return err;
}

static void s3_free(struct mlops_remote *r)
{
	struct s3_remote *s = (struct s3_remote *)r;
	if (!s)
		return;
	for (size_t i = 0; i < s->nidle; i++)
		mlops_s3_free(s->idle[i]);
	free(s->base.url);
	free(s->bucket);
	free(s->prefix);
	free(s->endpoint);
	free(s->region);
	free(s->profile);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static char *dup_opt(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/*
 * Split "s3://BUCKET[/PREFIX]" into *bucket and *prefix ("" or "a/b/"),
 * both the caller's, checking both: MLOPS_EUSAGE for credentials in the
 * URL (never shown), an invalid bucket name, or a prefix with an empty,
 * "." or ".." segment (a URL library would squash those: the request
 * would go elsewhere than the signed path says).  One final '/' is fine.
 */
static int split_url(char **bucket, char **prefix, const char *url)
{
	*bucket = *prefix = NULL;
	if (strncmp(url, "s3://", 5))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not an s3:// URL", url);
	const char *b = url + 5, *slash = strchr(b, '/');
	size_t blen = slash ? (size_t)(slash - b) : strlen(b);
	if (memchr(b, '@', blen))
		return mlops_error_set(MLOPS_EUSAGE, "the s3 URL holds credentials (user:password@): put "
				       "them in the environment or ~/.aws/credentials");
	if (blen == 0)
		return mlops_error_set(MLOPS_EUSAGE, "'%s': an S3 URL is s3://BUCKET[/PREFIX]", url);
	char *bk = strndup(b, blen);
	if (!bk)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (!mlops_s3_bucket_valid(bk)) {
		int err = mlops_error_set(MLOPS_EUSAGE, "'%s': invalid s3 bucket name '%s'%s", url, bk,
					  MLOPS_S3_BUCKET_RULES);
		free(bk);
		return err;
	}
	const char *p = slash ? slash + 1 : "";
	size_t plen = strlen(p);
	if (plen && p[plen - 1] == '/')
		plen--;
	for (size_t i = 0; (plen || *p == '/') && i <= plen;) {
		size_t seg = strcspn(p + i, "/");
		if (seg > plen - i)
			seg = plen - i;
		if (seg == 0 || (seg == 1 && p[i] == '.') || (seg == 2 && p[i] == '.' && p[i + 1] == '.')) {
			free(bk);
			return mlops_error_set(MLOPS_EUSAGE, "'%s': the prefix must not have empty ('//'), "
					       "'.' or '..' segments", url);
		}
		i += seg + 1;
	}
	for (size_t i = 0; i < plen; i++)
		if ((unsigned char)p[i] < ' ' || p[i] == 0x7f) {
			free(bk);
			return mlops_error_set(MLOPS_EUSAGE, "'%s': the prefix holds a control character",
					       url);
		}
	*prefix = plen ? mlops_strdupf("%.*s/", (int)plen, p) : strdup("");
	if (!*prefix) {
		free(bk);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	*bucket = bk;
	return 0;
}

int mlops_remote_s3_check(const char *url, const struct mlops_remote_options *opts)
{
	char *bucket, *prefix;
	int err = split_url(&bucket, &prefix, url);
	if (err < 0)
		return err;
	free(bucket);
	free(prefix);
	if (opts && opts->endpoint && *opts->endpoint &&
	    (err = mlops_s3_endpoint_check(opts->endpoint)) < 0)
		return err;
	if (opts && opts->addressing && strcmp(opts->addressing, "path") &&
	    strcmp(opts->addressing, "virtual"))
		return mlops_error_set(MLOPS_EUSAGE, "s3 addressing '%s' is neither 'path' nor 'virtual'",
				       opts->addressing);
	return 0;
}

int mlops_remote_s3_open(struct mlops_remote **out, const char *url,
			 const struct mlops_remote_options *opts)
{
	char *bucket, *prefix;
	*out = NULL;
	int err = mlops_remote_s3_check(url, opts);
	if (err < 0 || (err = split_url(&bucket, &prefix, url)) < 0)
		return err;
	struct s3_remote *s = calloc(1, sizeof(*s));
	if (!s) {
		free(bucket);
		free(prefix);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	pthread_mutex_init(&s->lock, NULL);
	s->bucket = bucket;
	s->prefix = prefix;
	s->endpoint = dup_opt(opts ? opts->endpoint : NULL);
	s->region = dup_opt(opts ? opts->region : NULL);
	s->profile = dup_opt(opts ? opts->profile : NULL);
	s->timeout = opts && opts->timeout > 0 ? opts->timeout : 0;
	/*
	 * AWS itself: virtual-host style (path style is deprecated there), but
	 * path style for a bucket name with a '.', which breaks the TLS
	 * certificate's *.s3 wildcard.  An endpoint (MinIO, Ceph, moto): path
	 * style, which needs no DNS name per bucket.
	 */
	if (opts && opts->addressing)
		s->virtual_host = !strcmp(opts->addressing, "virtual");
	else
		s->virtual_host = !s->endpoint && !strchr(s->bucket, '.');
	s->base.url = strdup(url);
	if (!s->bucket || !s->prefix || !s->base.url) {
		s3_free(&s->base);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	s->base.scheme = "s3";
	s->base.jobs = 8;
	s->base.list_page = 1000;
	s->base.has_many = s3_has_many;
	s->base.put = s3_put;
	s->base.put_file = s3_put_file;
	s->base.put_parts = s3_put_parts;
	/* The pack's header and its objects in one buffer: one PUT. */
	s->base.bulk_max = PART_SIZE - 4096;
	s->base.get = s3_get;
	s->base.get_file = s3_get_file;
	s->base.list = s3_list;
	s->base.remove = s3_remove;
	s->base.sync = NULL;
	s->base.clean = s3_clean;
	s->base.ref_read = s3_ref_read;
	s->base.ref_cas = s3_ref_cas;
	s->base.free = s3_free;
	/* Check the settings (and that credentials exist) now, not mid-push. */
	struct mlops_s3 *c;
	if ((err = lend(&c, s)) < 0) {
		s3_free(&s->base);
		return err;
	}
	give_back(s, c);
	*out = &s->base;
	return 0;
}
