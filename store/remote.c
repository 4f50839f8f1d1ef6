/*
 * remote.c - remotes: the URL scheme table, remote settings in
 * .mlops/config, and the transfer engine shared by every backend (see
 * remote.h for the layout of a remote and the write protocol).
 *
 * Design notes:
 *   - Learning what the remote holds costs few requests: one listing of
 *     packs/ (whose indexes are cached locally), then, for the ids still
 *     unknown, either one listing of objects/ or one check per object,
 *     whichever is fewer requests by the backend's listing page size.
 *   - Sending: missing objects are sorted into jobs (a pack of small
 *     objects, or one large object) that N worker threads take in turn.
 *     Each object is read once, decoded and hashed (the push never sends a
 *     damaged object), and sent in its stored form.
 *   - Receiving: one job per pack (downloaded once per session, its hash
 *     checked) or per loose object; each object is decoded and hashed
 *     before it is written to the local store, in the form it travelled
 *     (not hashed or compressed again).  A backend with get_file (a
 *     directory) copies a loose object into a file in the kernel, the hash
 *     reads it through a mapping, and the store adopts that file: its
 *     bytes are read once and written once.
 *   - The session's maps and the known file are guarded by one mutex;
 *     callbacks run under it.
 */
#include "remote.h"
#include "s3.h"
#include "error.h"
#include "fsutil.h"
#include "oidmap.h"
#include "pack.h"
#include "refs.h"
#include "repo.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PACK_OBJECT_MAX (64u * 1024u)       /* objects up to this size travel in packs */
#define PACK_TARGET_MIN (4u << 20)
#define PACK_TARGET_MAX (32u << 20)
/* Larger objects travel in packs of this size (where the backend has put_parts). */
#define BULK_TARGET_MIN (1u << 20)
#define BULK_TARGET_MAX (64u << 20)
#define MARKER_KEY "MLOPS_REMOTE"
/* 2: large objects may be in packs named by their index (pack.h). */
#define REMOTE_FORMAT 2
#define KNOWN_MAGIC "MLKNOWN1 "
#define FETCH_SYNC_BYTES (256ull << 20)
#define VERIFY_SPLIT_BYTES (128ull << 20)   /* packs from this size are verified by several threads */
#define PACK_CACHE_MAX (1ull << 30)

/* ---- the scheme table --------------------------------------------------- */

const mlops_oid mlops_remote_ref_damaged;

int mlops_remote_cas_expect(int read_err, const mlops_oid *cur, const mlops_oid *expected,
			    const char *name, const char *url)
{
	int exists = read_err == 0, damaged = read_err == MLOPS_ECORRUPT;
	if (read_err == MLOPS_ENOTFOUND || (damaged && expected == &mlops_remote_ref_damaged))
		mlops_error_clear();
	else if (damaged)
		return mlops_error_set(MLOPS_EREMOTE, "%s", mlops_error_message());
	else if (read_err < 0)
		return read_err;
	if (expected == &mlops_remote_ref_damaged ? !damaged :
	    expected && (mlops_oid_is_zero(expected) ? exists :
			 !exists || mlops_oid_cmp(cur, expected)))
		return mlops_error_set(MLOPS_ECONFLICT, "ref '%s' on remote '%s' changed meanwhile",
				       name, url);
	return 0;
}

static const struct mlops_remote_scheme schemes[] = {
	{ "file", mlops_remote_dir_open },
	{ "s3", mlops_remote_s3_open },
};

static const struct mlops_remote_scheme *scheme_of(const char *url)
{
	const char *sep = strstr(url, "://");
	if (!sep)
		return &schemes[0]; /* a plain path */
	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (strlen(schemes[i].scheme) == (size_t)(sep - url) &&
		    !strncmp(url, schemes[i].scheme, (size_t)(sep - url)))
			return &schemes[i];
	return NULL;
}

/* 1 when url has a user (and perhaps a password) before its host: "s3://key:secret@bucket". */
static int url_has_userinfo(const char *url)
{
	const char *sep = strstr(url, "://");
	return sep && memchr(sep + 3, '@', strcspn(sep + 3, "/?#")) != NULL;
}

int mlops_remote_url_valid(const char *url)
{
	if (!url || !*url) {
		mlops_error_set(MLOPS_EUSAGE, "a remote URL must not be empty");
		return 0;
	}
	/* Before any message shows the URL: user:password@ in it is never printed. */
	if (url_has_userinfo(url)) {
		mlops_error_set(MLOPS_EUSAGE, "the remote URL holds credentials (user:password@): put "
				"them in the environment or ~/.aws/credentials");
		return 0;
	}
	if (!scheme_of(url)) {
		mlops_error_set(MLOPS_EUSAGE, "'%s': unknown URL scheme; use a directory, file:// or s3://",
				url);
		return 0;
	}
	/* file://PATH: an absolute path (file:///srv/data), never empty or relative. */
	if (!strncmp(url, "file://", 7) && url[7] != '/') {
		mlops_error_set(MLOPS_EUSAGE, "'%s': a file URL names an absolute path: file:///PATH", url);
		return 0;
	}
	return 1;
}

/* The folder of a directory remote's URL (borrowed), or NULL for another scheme. */
static const char *dir_url_path(const char *url)
{
	if (!strncmp(url, "file://", 7))
		return url + 7;
	return strstr(url, "://") ? NULL : url;
}

/*
 * MLOPS_EUSAGE when folder `path` (absolute) is the repository's work tree
 * or inside it (.mlops/ included): a push would write the remote's files
 * among the tracked ones.  Symbolic links are followed as far as the path
 * exists.
 */
static int check_outside_repo(struct mlops_repo *repo, const char *path)
{
	char buf[PATH_MAX], real[PATH_MAX], wd[PATH_MAX], full[2 * PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is too long", path);
	/* The nearest existing ancestor, resolved, then the rest as it is. */
	size_t end = strlen(buf);
	for (;;) {
		char save = buf[end];
		buf[end] = '\0';
		int ok = end > 0 && realpath(buf, real) != NULL;
		buf[end] = save;
		if (ok)
			break;
		while (end > 0 && buf[end - 1] != '/')
			end--;
		if (end > 0)
			end--; /* at the slash */
		if (end == 0) {
			snprintf(real, sizeof(real), "/");
			break;
		}
	}
	snprintf(full, sizeof(full), "%s%s", strcmp(real, "/") ? real : "", buf + end);
	if (!full[0])
		snprintf(full, sizeof(full), "/");
	if (!realpath(repo->workdir, wd))
		snprintf(wd, sizeof(wd), "%s", repo->workdir);
	size_t wl = strlen(wd);
	if (!strncmp(full, wd, wl) && (full[wl] == '\0' || full[wl] == '/' || !strcmp(wd, "/")))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is in this repository's work tree "
				       "('%s'); a remote must be a folder outside it", path, wd);
	return 0;
}

int mlops_remote_open_url(struct mlops_remote **out, const char *url,
			  const struct mlops_remote_options *opts)
{
	struct mlops_remote_options dflt = { .fsync = 1, .hardlinks = 1 };
	*out = NULL;
	if (!mlops_remote_url_valid(url))
		return MLOPS_EUSAGE;
	return scheme_of(url)->open(out, url, opts ? opts : &dflt);
}

void mlops_remote_free(struct mlops_remote *r)
{
	if (r)
		r->free(r);
}

/* ---- configuration ------------------------------------------------------ */

static int remote_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 (i > 0 && (c == '.' || c == '_' || c == '-'));
		if (!ok)
			return 0;
	}
	return 1;
}

static char *config_key(const char *name, const char *what)
{
	return mlops_strdupf("remote.%s.%s", name, what);
}

static int get_opt(char **out, struct mlops_repo *repo, const char *name, const char *what)
{
	char *key = config_key(name, what);
	if (!key)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = mlops_config_get_string(out, repo, key);
	free(key);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		*out = NULL;
		return 0;
	}
	return err;
}

/* remote.NAME.WHAT as a boolean, dflt when unset. */
static int get_bool_opt(int *out, struct mlops_repo *repo, const char *name, const char *what,
			int dflt)
{
	char *key = config_key(name, what);
	if (!key)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = mlops_config_get_bool(out, repo, key, dflt);
	free(key);
	return err;
}

/* remote.NAME.timeout: whole seconds, 1 to 3600; 0 when unset (the backend's default). */
static int get_timeout_opt(int *out, struct mlops_repo *repo, const char *name)
{
	char *key = config_key(name, "timeout");
	long long v = -1;
	*out = 0;
	if (!key)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = mlops_config_get_int(&v, repo, key, -1);
	if (!err && v != -1 && (v < 1 || v > 3600))
		err = mlops_error_set(MLOPS_EINVALID, "%s is %lld: give whole seconds, 1 to 3600", key, v);
	else if (!err && v > 0)
		*out = (int)v;
	free(key);
	return err;
}

int mlops_remote_exists(struct mlops_repo *repo, const char *name)
{
	char *url = NULL;
	if (!remote_name_valid(name) || get_opt(&url, repo, name, "url") < 0) {
		mlops_error_clear();
		return 0;
	}
	free(url);
	return url != NULL;
}

/* The settings only an S3 remote reads (remote.NAME.<what>), and only a directory remote. */
static const char *const s3_settings[] = { "endpoint", "region", "profile", "addressing", "timeout" };
static const char *const dir_settings[] = { "fsync", "hardlinks" };

/*
 * Warn that remote `name` has settings of the other kind of remote (a
 * configuration edited by hand; remote add refuses S3 options for a
 * directory), which it ignores: once per remote and process, however
 * often it is opened.  set[i] says whether keys[i] is set.  Values are
 * not shown: an endpoint may hold credentials.
 */
static void warn_foreign_settings(const char *name, int folder, const char *const *keys_of,
				  const int *set, size_t n)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char warned[8][132];
	static size_t nwarned;
	char keys[1024] = "";
	size_t count = 0, last = 0;
	for (size_t i = 0; i < n; i++)
		if (set[i]) {
			count++;
			last = i;
		}
	if (!count)
		return;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nwarned; i++)
		if (!strcmp(warned[i], name)) {
			pthread_mutex_unlock(&lock);
			return;
		}
	if (nwarned < sizeof(warned) / sizeof(warned[0]))
		snprintf(warned[nwarned++], sizeof(warned[0]), "%s", name);
	pthread_mutex_unlock(&lock);
	for (size_t i = 0, k = 0; i < n; i++) {
		if (!set[i])
			continue;
		size_t used = strlen(keys);
		snprintf(keys + used, sizeof(keys) - used, "%sremote.%s.%s",
			 k == 0 ? "" : i == last ? " and " : ", ", name, keys_of[i]);
		k++;
	}
	mlops_warning_add("remote '%s' is %s: %s %s for %s remotes only, and ignored", name,
			  folder ? "a directory" : "on S3", keys,
			  count > 1 ? "are settings" : "is a setting", folder ? "S3" : "directory");
}

int mlops_remote_open(struct mlops_remote **out, struct mlops_repo *repo, const char *name)
{
	char *dname = NULL, *url = NULL, *endpoint = NULL, *region = NULL, *profile = NULL;
	char *addressing = NULL, *timeout_set = NULL, *fsync_set = NULL, *hardlinks_set = NULL;
	int err, fsync_on = 1, hardlinks = 1, timeout = 0;
	*out = NULL;
	if (!name) {
		if ((err = mlops_remote_default(&dname, repo)) < 0)
			return err;
		name = dname;
	}
	if (!remote_name_valid(name)) {
		err = mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid remote name", name);
		goto done;
	}
	if ((err = get_opt(&url, repo, name, "url")) < 0 ||
	    (err = get_opt(&endpoint, repo, name, "endpoint")) < 0 ||
	    (err = get_opt(&region, repo, name, "region")) < 0 ||
	    (err = get_opt(&profile, repo, name, "profile")) < 0 ||
	    (err = get_opt(&addressing, repo, name, "addressing")) < 0 ||
	    (err = get_opt(&timeout_set, repo, name, "timeout")) < 0 ||
	    (err = get_opt(&fsync_set, repo, name, "fsync")) < 0 ||
	    (err = get_opt(&hardlinks_set, repo, name, "hardlinks")) < 0)
		goto done;
	if (!url) {
		err = mlops_error_set(MLOPS_ENOTFOUND, "no remote named '%s'", name);
		goto done;
	}
	if (!mlops_remote_url_valid(url)) {
		err = mlops_error_wrap(MLOPS_EUSAGE, "remote '%s'", name);
		goto done;
	}
	const char *folder = dir_url_path(url);
	/*
	 * `remote add` stores a directory absolute; one written in by hand as
	 * a relative path is taken from the work tree's top, so that every
	 * command reaches the same folder from any subfolder.
	 */
	if (folder && folder[0] != '/') {
		char *abs = mlops_path_join(repo->workdir, folder);
		if (!abs) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		free(url);
		url = abs;
		folder = url;
	}
	mlops_error_clear();
	/*
	 * A directory remote ignores S3 settings, a malformed timeout too, and
	 * an S3 remote the directory ones: said, not failed.
	 */
	if (folder) {
		const int set[] = { !!endpoint, !!region, !!profile, !!addressing, !!timeout_set };
		warn_foreign_settings(name, 1, s3_settings, set, sizeof(set) / sizeof(set[0]));
	} else {
		const int set[] = { !!fsync_set, !!hardlinks_set };
		warn_foreign_settings(name, 0, dir_settings, set, sizeof(set) / sizeof(set[0]));
	}
	mlops_error_clear();
	if ((err = mlops_config_get_bool(&fsync_on, repo, "core.fsync", 1)) < 0 ||
	    (err = get_bool_opt(&fsync_on, repo, name, "fsync", fsync_on)) < 0 ||
	    (err = get_bool_opt(&hardlinks, repo, name, "hardlinks", 1)) < 0 ||
	    (!folder && (err = get_timeout_opt(&timeout, repo, name)) < 0))
		goto done;
	struct mlops_remote_options opts = {
		.fsync = fsync_on, .hardlinks = hardlinks, .timeout = timeout,
	};
	if (!folder) {
		opts.endpoint = endpoint;
		opts.region = region;
		opts.profile = profile;
		opts.addressing = addressing;
	}
	if (folder && folder[0] == '/' && check_outside_repo(repo, folder) < 0)
		err = MLOPS_EUSAGE;
	else
		err = mlops_remote_open_url(out, url, &opts);
	if (err < 0)
		mlops_error_wrap(err, "remote '%s'", name);
done:
	free(dname);
	free(url);
	free(endpoint);
	free(region);
	free(profile);
	free(addressing);
	free(timeout_set);
	free(fsync_set);
	free(hardlinks_set);
	return err;
}

static int local_config(git_config **out, struct mlops_repo *repo)
{
	git_config *cfg = mlops_repo_config(repo);
	if (!cfg)
		return MLOPS_EINVALID;
	if (git_config_open_level(out, cfg, GIT_CONFIG_LEVEL_LOCAL) < 0)
		return mlops_git_error(MLOPS_EIO, "unable to open '.mlops/config'");
	return 0;
}

/* A directory URL made absolute (the remote must not depend on the cwd). */
static int absolute_url(char **out, const char *url)
{
	if (strstr(url, "://") || url[0] == '/') {
		*out = strdup(url);
		return *out ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return mlops_error_sys(errno, "unable to get the current directory");
	char *joined = mlops_path_join(cwd, url);
	if (!joined)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	/* Normalise "." and ".." components lexically. */
	char *res = calloc(1, strlen(joined) + 2);
	if (!res) {
		free(joined);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	size_t len = 0;
	char *save = NULL;
	for (char *part = strtok_r(joined, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
		if (!strcmp(part, "."))
			continue;
		if (!strcmp(part, "..")) {
			while (len > 0 && res[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
			res[len] = '\0';
			continue;
		}
		res[len++] = '/';
		strcpy(res + len, part);
		len += strlen(part);
	}
	if (!len)
		strcpy(res, "/");
	free(joined);
	*out = res;
	return 0;
}

int mlops_remote_add(struct mlops_repo *repo, const char *name, const char *url,
		     const struct mlops_remote_options *opts, int make_default)
{
	git_config *cfg = NULL;
	char *abs = NULL;
	int err;
	if (!remote_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE,
				       "'%s' is not a valid remote name ([A-Za-z0-9][A-Za-z0-9._-]*)", name);
	if (!mlops_remote_url_valid(url))
		return MLOPS_EUSAGE;
	if (!strncmp(url, "s3://", 5) && (err = mlops_remote_s3_check(url, opts)) < 0)
		return err;
	/* A directory remote would ignore them: refused rather than kept unused. */
	const char *s3_given[] = { opts ? opts->endpoint : NULL, opts ? opts->region : NULL,
				   opts ? opts->profile : NULL, opts ? opts->addressing : NULL };
	for (size_t i = 0; dir_url_path(url) && i < sizeof(s3_given) / sizeof(s3_given[0]); i++)
		if (s3_given[i])
			return mlops_error_set(MLOPS_EUSAGE, "%s is a setting for S3 remotes only, and "
					       "'%s' is a directory", s3_settings[i], url);
	if (opts && opts->endpoint && (err = mlops_s3_endpoint_check(opts->endpoint)) < 0)
		return err;
	if ((err = absolute_url(&abs, !strncmp(url, "file://", 7) ? url + 7 : url)) < 0)
		return err;
	int again = 0;
	if (dir_url_path(abs) && (err = check_outside_repo(repo, abs)) < 0) {
		free(abs);
		return err;
	}
	if (mlops_remote_exists(repo, name)) {
		/* The same settings again (a clone of a repository whose config has them) is fine. */
		char *cur = NULL;
		get_opt(&cur, repo, name, "url");
		mlops_error_clear();
		/* A URL edited in by hand may hold a password: not shown then. */
		err = cur && !strcmp(cur, abs) ? 0 :
		      cur && url_has_userinfo(cur) ?
		      mlops_error_set(MLOPS_EEXISTS, "remote '%s' already exists", name) :
		      mlops_error_set(MLOPS_EEXISTS, "remote '%s' already exists (url %s)", name,
				      cur ? cur : "?");
		again = err == 0;
		free(cur);
		if (err < 0) {
			free(abs);
			return err;
		}
	}
	/*
	 * A new directory remote is made here when its parent exists, so that
	 * push and fetch can refuse a folder that is missing (an unmounted
	 * file system) instead of filling the local disk.  Added again (a
	 * clone), it is in use elsewhere already: nothing is made.
	 */
	struct stat st;
	if (!again && dir_url_path(abs) && stat(abs, &st) < 0 && errno == ENOENT &&
	    mkdir(abs, 0777) < 0 && errno != ENOENT && errno != EEXIST) {
		err = mlops_error_sys(errno, "unable to create the remote folder '%s'", abs);
		goto done;
	}
	if ((err = local_config(&cfg, repo)) < 0)
		goto done;
	struct { const char *what, *value; } kv[] = {
		{ "url", abs },
		{ "endpoint", opts ? opts->endpoint : NULL },
		{ "region", opts ? opts->region : NULL },
		{ "profile", opts ? opts->profile : NULL },
		{ "addressing", opts ? opts->addressing : NULL },
	};
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
		if (!kv[i].value)
			continue;
		char *key = config_key(name, kv[i].what);
		if (!key) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		int rc = git_config_set_string(cfg, key, kv[i].value);
		free(key);
		if (rc < 0) {
			err = mlops_config_write_error();
			goto done;
		}
	}
	if (make_default && git_config_set_string(cfg, "core.remote", name) < 0)
		err = mlops_config_write_error();
done:
	git_config_free(cfg);
	free(abs);
	return err;
}

struct collect {
	char **keys;
	size_t n, cap;
	const char *prefix, *suffix; /* keep names with both (case-insensitive) */
};

static int collect_key(const git_config_entry *e, void *payload)
{
	struct collect *c = payload;
	size_t l = strlen(e->name), pl = strlen(c->prefix), sl = strlen(c->suffix);
	if (l < pl + sl || strncasecmp(e->name, c->prefix, pl) ||
	    strcasecmp(e->name + l - sl, c->suffix))
		return 0;
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->keys[i], e->name))
			return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		char **k = realloc(c->keys, cap * sizeof(*k));
		if (!k)
			return -1;
		c->keys = k;
		c->cap = cap;
	}
	if (!(c->keys[c->n] = strdup(e->name)))
		return -1;
	c->n++;
	return 0;
}

static int rm_rf(const char *path);

int mlops_remote_remove(struct mlops_repo *repo, const char *name)
{
	git_config *cfg = NULL;
	struct collect c = { .prefix = "remote.", .suffix = "" };
	char *state = NULL, *dflt = NULL;
	int err;
	if (!mlops_remote_exists(repo, name))
		return mlops_error_set(MLOPS_ENOTFOUND, "no remote named '%s'", name);
	if ((err = local_config(&cfg, repo)) < 0)
		return err;
	if (git_config_foreach(cfg, collect_key, &c) < 0) {
		err = mlops_git_error(MLOPS_EIO, "unable to read '.mlops/config'");
		goto done;
	}
	for (size_t i = 0; i < c.n; i++) {
		/* remote.<subsection>.<variable>: the subsection is NAME exactly. */
		const char *sub = c.keys[i] + 7, *dot = strrchr(sub, '.');
		if (!dot || (size_t)(dot - sub) != strlen(name) || strncmp(sub, name, strlen(name)))
			continue;
		if (git_config_delete_entry(cfg, c.keys[i]) < 0) {
			err = mlops_config_write_error();
			goto done;
		}
	}
	if (mlops_config_get_string(&dflt, repo, "core.remote") == 0 && !strcmp(dflt, name)) {
		if (git_config_delete_entry(cfg, "core.remote") < 0)
			git_error_clear();
	}
	mlops_error_clear();
	if ((state = mlops_remote_state_dir(repo, name)))
		rm_rf(state);
done:
	for (size_t i = 0; i < c.n; i++)
		free(c.keys[i]);
	free(c.keys);
	free(state);
	free(dflt);
	git_config_free(cfg);
	return err;
}

void mlops_remote_info_free(struct mlops_remote_info *info, size_t n)
{
	if (!info)
		return;
	for (size_t i = 0; i < n; i++) {
		free(info[i].name);
		free(info[i].url);
	}
	free(info);
}

static int cmp_info(const void *a, const void *b)
{
	return strcmp(((const struct mlops_remote_info *)a)->name,
		      ((const struct mlops_remote_info *)b)->name);
}

int mlops_remote_list(struct mlops_remote_info **out, size_t *n, struct mlops_repo *repo)
{
	struct collect c = { .prefix = "remote.", .suffix = ".url" };
	struct mlops_remote_info *info = NULL;
	char *dflt = NULL;
	size_t k = 0;
	int err = 0;
	*out = NULL;
	*n = 0;
	git_config *cfg = mlops_repo_config(repo);
	if (!cfg) {
		err = MLOPS_EINVALID;
		goto done;
	}
	if (git_config_foreach(cfg, collect_key, &c) < 0) {
		err = mlops_git_error(MLOPS_EIO, "unable to read the configuration");
		goto done;
	}
	if (mlops_config_get_string(&dflt, repo, "core.remote") < 0)
		mlops_error_clear();
	if (!(info = calloc(c.n ? c.n : 1, sizeof(*info)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < c.n; i++) {
		size_t l = strlen(c.keys[i]);
		char *name = strndup(c.keys[i] + 7, l - 7 - 4);
		if (!name) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		int dup = 0;
		for (size_t j = 0; j < k; j++)
			dup |= !strcmp(info[j].name, name);
		if (dup || !remote_name_valid(name)) {
			free(name);
			continue;
		}
		info[k].name = name;
		info[k].is_default = dflt && !strcmp(dflt, name);
		if ((err = get_opt(&info[k].url, repo, name, "url")) < 0) {
			k++;
			goto done;
		}
		k++;
	}
	qsort(info, k, sizeof(*info), cmp_info);
	if (!dflt && k == 1)
		info[0].is_default = 1;
done:
	for (size_t i = 0; i < c.n; i++)
		free(c.keys[i]);
	free(c.keys);
	free(dflt);
	if (err < 0) {
		mlops_remote_info_free(info, k);
		return err;
	}
	*out = info;
	*n = k;
	return 0;
}

int mlops_remote_default(char **out, struct mlops_repo *repo)
{
	struct mlops_remote_info *info;
	size_t n;
	*out = NULL;
	int err = mlops_config_get_string(out, repo, "core.remote");
	if (err == 0)
		return 0;
	if (err != MLOPS_ENOTFOUND)
		return err;
	mlops_error_clear();
	if ((err = mlops_remote_list(&info, &n, repo)) < 0)
		return err;
	if (n == 1)
		*out = strdup(info[0].name);
	else
		err = mlops_error_set(MLOPS_ENOTFOUND, n ? "no default remote (core.remote is not set)" :
						      "no remote is configured");
	mlops_remote_info_free(info, n);
	if (err == 0 && !*out)
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	return err;
}

char *mlops_remote_state_dir(struct mlops_repo *repo, const char *name)
{
	return mlops_strdupf("%s/remotes/%s", repo->dir, name);
}

/* ---- small helpers ------------------------------------------------------ */

static int rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			char *p = mlops_path_join(path, de->d_name);
			if (p)
				rm_rf(p);
			free(p);
		}
		if (d)
			closedir(d);
		return rmdir(path);
	}
	return unlink(path);
}

static void object_key(char out[128], const mlops_oid *id, enum mlops_codec codec)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	mlops_oid_fmt(hex, id);
	snprintf(out, 128, "objects/%.2s/%s%s", hex, hex + 2, mlops_codec_suffix(codec));
}

/* Parse "objects/ab/<62>[.zst|.zz|.zcol]"; returns 0 and the id and codec. */
static int parse_object_key(mlops_oid *id, enum mlops_codec *codec, const char *key)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	if (strncmp(key, "objects/", 8) || strlen(key) < 8 + 3 + 62 || key[10] != '/')
		return -1;
	const char *rest = key + 11, *suffix = rest + 62;
	if (!strcmp(suffix, ""))
		*codec = MLOPS_CODEC_NONE;
	else if (!strcmp(suffix, ".zst"))
		*codec = MLOPS_CODEC_ZSTD;
	else if (!strcmp(suffix, ".zz"))
		*codec = MLOPS_CODEC_ZLIB;
	else if (!strcmp(suffix, ".zcol"))
		*codec = MLOPS_CODEC_ZCOL;
	else
		return -1;
	memcpy(hex, key + 8, 2);
	memcpy(hex + 2, rest, 62);
	hex[64] = '\0';
	return mlops_oid_parse_printed(id, hex) ? 0 : -1;
}

/* "packs/<64 hex>.idx" or ".pack": 1 idx, 2 pack, 0 other. */
static int parse_pack_key(mlops_oid *id, const char *key)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	if (strncmp(key, "packs/", 6) || strlen(key) < 6 + 64 + 4)
		return 0;
	memcpy(hex, key + 6, 64);
	hex[64] = '\0';
	if (!mlops_oid_parse_printed(id, hex))
		return 0;
	if (!strcmp(key + 70, ".idx"))
		return 1;
	if (!strcmp(key + 70, ".pack"))
		return 2;
	return 0;
}

/* ---- the session -------------------------------------------------------- */

struct rpack {
	struct mlops_remote_pack info;
	mlops_oid pack_id;
	struct mlops_pack_index *index;
	void *data;          /* downloaded or mapped pack (this session), or NULL */
	size_t data_len;
	int bulk;            /* named by its index (pack id zero in it), not by its bytes */
	char *path;          /* mapped: the remote's file (backend's path) or download, else NULL */
	char *download;      /* the pack fetched into a file in tmpdir (get_file), this session */
	uint64_t download_len; /* its bytes, counted in the session's pack_cache_bytes */
	int counted;         /* in the session's statistics */
	int name_checked;    /* its bytes hashed to its name, this session */
	int fills;           /* 0 not known yet, 1 its objects fill it (pack.h), 2 not */
};

/* Drop a pack's bytes: unmapped, or freed when downloaded. */
static void rpack_release(struct rpack *p)
{
	if (p->path) {
		if (p->data && p->data_len)
			munmap(p->data, p->data_len);
		free(p->path);
		p->path = NULL;
	} else {
		free(p->data);
	}
	p->data = NULL;
	p->data_len = 0;
}

struct mlops_xfer {
	struct mlops_remote *r;
	struct mlops_odb *odb;
	char *state_dir, *tmpdir;
	int jobs;
	void (*progress)(void *, uint64_t, uint64_t);
	void *payload;
	char epoch[65];       /* "" when the remote has no marker */
	/* The marker's "gc": a gc of the remote that began and has not ended. */
	int collecting;
	char gc_host[256];
	long gc_pid;
	long long gc_started;
	struct mlops_oidmap *known;  /* ids the remote is known to hold */
	int known_fd;
	int packs_loaded;
	struct rpack *packs;
	size_t npacks, cappacks;
	struct mlops_oidmap *packed; /* id -> pack index + 1 */
	int listed;
	struct mlops_oidmap *loose;  /* id -> codec + 1 (from a listing) */
	struct mlops_remote_object *objects;
	size_t nobjects, capobjects;
	uint64_t pack_cache_bytes;
	long delay_ms;        /* MLOPS_TEST_TRANSFER_DELAY_MS: slow each job (tests) */
	uint64_t verify_split; /* VERIFY_SPLIT_BYTES, or MLOPS_TEST_VERIFY_SPLIT_BYTES (tests) */
	pthread_mutex_t lock;
};

/*
 * Delete the file a pack was fetched into (one taken whole is linked into
 * the store), and stop counting it against the session's cache.
 */
static void rpack_drop_download(struct mlops_xfer *x, struct rpack *p)
{
	if (!p->download)
		return;
	pthread_mutex_lock(&x->lock);
	x->pack_cache_bytes -= p->download_len < x->pack_cache_bytes ? p->download_len
								      : x->pack_cache_bytes;
	pthread_mutex_unlock(&x->lock);
	p->download_len = 0;
	unlink(p->download);
	mlops_tempfile_forget(p->download);
	free(p->download);
	p->download = NULL;
}

static int read_marker(struct mlops_xfer *x)
{
	void *data = NULL;
	size_t len;
	x->epoch[0] = '\0';
	x->collecting = 0;
	int err = x->r->get(x->r, MARKER_KEY, &data, &len, 1 << 16);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		return 0;
	}
	if (err < 0)
		return err;
	cJSON *o = cJSON_ParseWithLength(data, len);
	free(data);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "epoch");
	if (!cJSON_IsString(e) || strlen(e->valuestring) > 64 || !*e->valuestring) {
		cJSON_Delete(o);
		return mlops_error_set(MLOPS_EREMOTE, "'%s' is not an mlops remote: its %s is malformed",
				       x->r->url, MARKER_KEY);
	}
	/* Refused before anything is read or written: packs a later format adds would be misread. */
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "format");
	if (cJSON_IsNumber(f) && f->valuedouble > REMOTE_FORMAT) {
		int err = mlops_error_set(MLOPS_EREMOTE, "remote '%s' has format %.0f, newer than this "
					  "mlops understands (%d); upgrade mlops", x->r->url,
					  f->valuedouble, REMOTE_FORMAT);
		cJSON_Delete(o);
		return err;
	}
	snprintf(x->epoch, sizeof(x->epoch), "%s", e->valuestring);
	const cJSON *gc = cJSON_GetObjectItemCaseSensitive(o, "gc");
	if (cJSON_IsObject(gc)) {
		const cJSON *h = cJSON_GetObjectItemCaseSensitive(gc, "host");
		const cJSON *pid = cJSON_GetObjectItemCaseSensitive(gc, "pid");
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(gc, "started");
		x->collecting = 1;
		snprintf(x->gc_host, sizeof(x->gc_host), "%s", cJSON_IsString(h) ? h->valuestring : "?");
		x->gc_pid = cJSON_IsNumber(pid) ? (long)pid->valuedouble : 0;
		x->gc_started = cJSON_IsNumber(t) ? (long long)t->valuedouble : 0;
	}
	cJSON_Delete(o);
	return 0;
}

/* A new epoch; with collecting set, the marker says who collects since when. */
static int write_marker(struct mlops_xfer *x, int collecting)
{
	unsigned char rnd[16];
	char host[256] = "";
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return mlops_error_sys(errno, "unable to get random bytes");
	for (int i = 0; i < 16; i++)
		snprintf(x->epoch + 2 * i, 3, "%02x", rnd[i]);
	cJSON *o = cJSON_CreateObject(), *gc = NULL;
	if (o && collecting && (gc = cJSON_AddObjectToObject(o, "gc"))) {
		mlops_host_name(host, sizeof(host));
		cJSON_AddStringToObject(gc, "host", host);
		cJSON_AddNumberToObject(gc, "pid", (double)getpid());
		cJSON_AddNumberToObject(gc, "started", (double)time(NULL));
	}
	if (o) {
		cJSON_AddStringToObject(o, "epoch", x->epoch);
		cJSON_AddNumberToObject(o, "format", REMOTE_FORMAT);
	}
	char *text = o && (!collecting || gc) ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!text)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = x->r->put(x->r, MARKER_KEY, text, strlen(text));
	free(text);
	x->collecting = 0;
	return err;
}

/* Open (and load or reset) the known file for the current epoch. */
static int open_known(struct mlops_xfer *x)
{
	char *path = mlops_path_join(x->state_dir, "known"), *text = NULL;
	char header[128];
	size_t len = 0;
	int err = 0;
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (x->known_fd >= 0) {
		close(x->known_fd);
		x->known_fd = -1;
	}
	if (!x->epoch[0])
		goto done;
	snprintf(header, sizeof(header), "%s%s\n", KNOWN_MAGIC, x->epoch);
	size_t hl = strlen(header);
	err = mlops_read_file(&text, &len, path);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		err = 0;
	} else if (err < 0) {
		goto done;
	}
	if (text && len >= hl && !memcmp(text, header, hl)) {
		for (size_t off = hl; off + MLOPS_OID_RAWSZ <= len; off += MLOPS_OID_RAWSZ) {
			mlops_oid id;
			memcpy(id.id, text + off, MLOPS_OID_RAWSZ);
			if (mlops_oidmap_put(x->known, &id, NULL) < 0) {
				err = MLOPS_ERROR;
				goto done;
			}
		}
		x->known_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (x->known_fd >= 0 && (len - hl) % MLOPS_OID_RAWSZ &&
		    ftruncate(x->known_fd, (off_t)(len - (len - hl) % MLOPS_OID_RAWSZ)) < 0) {
			close(x->known_fd);
			x->known_fd = -1;
		}
	}
	if (x->known_fd < 0) {
		/* Another epoch (or none): start afresh, and forget cached indexes. */
		char *packs = mlops_path_join(x->state_dir, "packs");
		if (packs)
			rm_rf(packs);
		free(packs);
		if ((err = mlops_write_file_atomic(path, header, hl, x->tmpdir, 0)) < 0)
			goto done;
		x->known_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (x->known_fd < 0)
			err = mlops_error_sys(errno, "unable to open '%s'", path);
	}
done:
	free(text);
	free(path);
	return err;
}

int mlops_xfer_open(struct mlops_xfer **out, struct mlops_remote *remote, struct mlops_odb *odb,
		    const char *state_dir, const char *tmpdir, const struct mlops_xfer_options *opts)
{
	struct mlops_xfer *x = calloc(1, sizeof(*x));
	int err;
	*out = NULL;
	if (!x)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	pthread_mutex_init(&x->lock, NULL);
	x->r = remote;
	x->odb = odb;
	x->known_fd = -1;
	x->jobs = opts && opts->jobs > 0 ? opts->jobs : remote->jobs > 0 ? remote->jobs : 4;
	if (x->jobs > 64)
		x->jobs = 64;
	if (opts) {
		x->progress = opts->progress;
		x->payload = opts->payload;
	}
	const char *delay = getenv("MLOPS_TEST_TRANSFER_DELAY_MS");
	x->delay_ms = delay ? atol(delay) : 0;
	const char *split = getenv("MLOPS_TEST_VERIFY_SPLIT_BYTES");
	x->verify_split = split ? strtoull(split, NULL, 10) : VERIFY_SPLIT_BYTES;
	x->state_dir = strdup(state_dir);
	x->tmpdir = strdup(tmpdir);
	if (!x->state_dir || !x->tmpdir) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto fail;
	}
	if ((err = mlops_oidmap_new(&x->known)) < 0 || (err = mlops_oidmap_new(&x->packed)) < 0 ||
	    (err = mlops_oidmap_new(&x->loose)) < 0)
		goto fail;
	if ((err = mlops_mkdir_p(state_dir)) < 0)
		goto fail;
	if ((err = read_marker(x)) < 0 || (err = open_known(x)) < 0)
		goto fail;
	*out = x;
	return 0;
fail:
	mlops_xfer_free(x);
	return err;
}

/* Drop the packs, listing and id maps the session learnt (their arrays stay allocated). */
static void drop_learnt(struct mlops_xfer *x)
{
	for (size_t i = 0; i < x->npacks; i++) {
		struct rpack *p = &x->packs[i];
		free(p->info.idx_key);
		free(p->info.pack_key);
		free(p->info.damage);
		mlops_pack_index_free(p->index);
		rpack_release(p);
		rpack_drop_download(x, p);
	}
	x->npacks = 0;
	x->packs_loaded = 0;
	for (size_t i = 0; i < x->nobjects; i++)
		free(x->objects[i].key);
	x->nobjects = 0;
	x->listed = 0;
	x->pack_cache_bytes = 0;
	mlops_oidmap_free(x->known);
	mlops_oidmap_free(x->packed);
	mlops_oidmap_free(x->loose);
	x->known = x->packed = x->loose = NULL;
}

void mlops_xfer_free(struct mlops_xfer *x)
{
	if (!x)
		return;
	if (x->known_fd >= 0)
		close(x->known_fd);
	drop_learnt(x);
	free(x->packs);
	free(x->objects);
	free(x->state_dir);
	free(x->tmpdir);
	pthread_mutex_destroy(&x->lock);
	free(x);
}

int mlops_xfer_init_remote(struct mlops_xfer *x)
{
	if (x->epoch[0])
		return 0;
	int err = write_marker(x, 0);
	if (err == 0)
		err = open_known(x);
	return err;
}

int mlops_xfer_require_remote(struct mlops_xfer *x)
{
	if (x->epoch[0])
		return 0;
	return mlops_error_set(MLOPS_EREMOTE, "'%s' is not an mlops remote: it has no %s (nothing "
			       "was pushed to it, or it is not the folder or bucket meant)", x->r->url,
			       MARKER_KEY);
}

/* Record ids as held by the remote (caller holds x->lock). */
static int remember(struct mlops_xfer *x, const mlops_oid *ids, size_t n, int persist)
{
	for (size_t i = 0; i < n; i++)
		if (mlops_oidmap_put(x->known, &ids[i], NULL) < 0)
			return MLOPS_ERROR;
	if (persist && x->known_fd >= 0 && n &&
	    mlops_write_all(x->known_fd, ids, n * sizeof(*ids)) < 0) {
		close(x->known_fd);
		x->known_fd = -1;
	}
	return 0;
}

/* ---- learning what the remote holds ------------------------------------ */

static struct rpack *add_pack(struct mlops_xfer *x)
{
	if (x->npacks == x->cappacks) {
		size_t cap = x->cappacks ? x->cappacks * 2 : 16;
		struct rpack *p = realloc(x->packs, cap * sizeof(*p));
		if (!p)
			return NULL;
		x->packs = p;
		x->cappacks = cap;
	}
	struct rpack *p = &x->packs[x->npacks++];
	memset(p, 0, sizeof(*p));
	return p;
}

static int index_pack(struct mlops_xfer *x, size_t k)
{
	struct rpack *p = &x->packs[k];
	for (size_t i = 0; i < p->index->count; i++) {
		uint64_t *v;
		if (mlops_oidmap_put(x->packed, &p->index->entries[i].id, &v) < 0)
			return MLOPS_ERROR;
		if (!*v)
			*v = k + 1;
		if (mlops_oidmap_put(x->known, &p->index->entries[i].id, NULL) < 0)
			return MLOPS_ERROR;
	}
	p->info.count = p->index->count;
	return 0;
}

struct pack_listing {
	struct mlops_xfer *x;
	struct { char *key; mlops_oid id; uint64_t size; long long mtime; int kind; } *e;
	size_t n, cap;
};

static int pack_list_cb(const char *key, uint64_t size, long long mtime, void *payload)
{
	struct pack_listing *pl = payload;
	mlops_oid id;
	int kind = parse_pack_key(&id, key);
	if (!kind)
		return 0;
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 16;
		void *e = realloc(pl->e, cap * sizeof(*pl->e));
		if (!e)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		pl->e = e;
		pl->cap = cap;
	}
	if (!(pl->e[pl->n].key = strdup(key)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	pl->e[pl->n].id = id;
	pl->e[pl->n].size = size;
	pl->e[pl->n].mtime = mtime;
	pl->e[pl->n].kind = kind;
	pl->n++;
	return 0;
}

/* Read a pack index from the local cache, else from the remote (and cache it). */
static int load_index(struct mlops_pack_index **out, struct mlops_xfer *x, const char *key,
		      const mlops_oid *id)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	char *cache = mlops_strdupf("%s/packs/%s.idx", x->state_dir, mlops_oid_fmt(hex, id));
	char *text = NULL;
	size_t len;
	int err;
	if (!cache)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (mlops_read_file(&text, &len, cache) == 0 &&
	    mlops_pack_index_parse(out, text, len, id) == 0)
		goto done;
	mlops_error_clear();
	free(text);
	text = NULL;
	if ((err = x->r->get(x->r, key, (void **)&text, &len, (size_t)1 << 30)) < 0)
		goto fail;
	if ((err = mlops_pack_index_parse(out, text, len, id)) < 0) {
		mlops_error_wrap(err, "remote '%s'", x->r->url);
		goto fail;
	}
	char *dir = mlops_path_join(x->state_dir, "packs");
	if (dir && mlops_mkdir_p(dir) == 0)
		mlops_write_file_atomic(cache, text, len, x->tmpdir, 0);
	mlops_error_clear();
	free(dir);
done:
	free(text);
	free(cache);
	return 0;
fail:
	free(text);
	free(cache);
	return err;
}

static int load_packs(struct mlops_xfer *x)
{
	struct pack_listing pl = { .x = x };
	struct mlops_oidmap *files = NULL; /* the pack files listed */
	int err = 0;
	if (x->packs_loaded)
		return 0;
	if (!x->epoch[0]) {
		x->packs_loaded = 1;
		return 0;
	}
	if ((err = x->r->list(x->r, "packs/", pack_list_cb, &pl)) < 0 ||
	    (err = mlops_oidmap_new(&files)) < 0)
		goto done;
	for (size_t i = 0; i < pl.n; i++)
		if (pl.e[i].kind == 2 && mlops_oidmap_put(files, &pl.e[i].id, NULL) < 0) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
	for (size_t i = 0; i < pl.n; i++) {
		if (pl.e[i].kind != 1)
			continue;
		struct mlops_pack_index *idx = NULL;
		char *damage = NULL;
		err = load_index(&idx, x, pl.e[i].key, &pl.e[i].id);
		/*
		 * A damaged index is listed, not fatal: fsck reports it, and gc
		 * refuses to run since what it names cannot be known.
		 */
		if (err == MLOPS_ECORRUPT) {
			if (!(damage = strdup(mlops_error_message()))) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				goto done;
			}
			mlops_error_clear();
			err = 0;
		}
		if (err < 0)
			goto done;
		struct rpack *p = add_pack(x);
		if (!p) {
			mlops_pack_index_free(idx);
			free(damage);
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		p->info.idx_id = pl.e[i].id;
		p->info.idx_key = pl.e[i].key;
		pl.e[i].key = NULL;
		p->info.has_index = 1;
		p->info.mtime = pl.e[i].mtime;
		if (damage) {
			p->info.damage = damage;
			continue;
		}
		char hex[MLOPS_OID_HEXSZ + 1];
		p->index = idx;
		/* A pack of large objects is named by its index (pack.h). */
		p->bulk = mlops_oid_is_zero(&idx->pack);
		p->pack_id = p->bulk ? pl.e[i].id : idx->pack;
		p->info.pack_id = p->pack_id;
		p->info.pack_key = mlops_strdupf("packs/%s.pack", mlops_oid_fmt(hex, &p->pack_id));
		p->info.size = idx->pack_size;
		p->info.count = idx->count;
		/*
		 * A pack file gone while its index stays (deleted by hand, lost):
		 * its ids are not known, so that a fetch finds them missing and a
		 * push sends them again.  A push uploads the pack before its index,
		 * so this is no upload in flight.
		 */
		p->info.has_data = mlops_oidmap_get(files, &p->pack_id) != NULL;
		if (!p->info.pack_key) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
	}
	/* Both maps sized once for every id of every index. */
	size_t ids = 0;
	for (size_t k = 0; k < x->npacks; k++)
		ids += x->packs[k].index ? x->packs[k].index->count : 0;
	if (mlops_oidmap_reserve(x->packed, mlops_oidmap_count(x->packed) + ids) < 0 ||
	    mlops_oidmap_reserve(x->known, mlops_oidmap_count(x->known) + ids) < 0) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (size_t k = 0; k < x->npacks; k++)
		if (x->packs[k].index && x->packs[k].info.has_data && (err = index_pack(x, k)) < 0)
			goto done;
	/* Pack files that no index names (an upload that never finished). */
	for (size_t i = 0; i < pl.n; i++) {
		if (pl.e[i].kind != 2)
			continue;
		int named = 0;
		for (size_t k = 0; k < x->npacks && !named; k++)
			named = x->packs[k].index && !mlops_oid_cmp(&x->packs[k].pack_id, &pl.e[i].id);
		if (named)
			continue;
		struct rpack *p = add_pack(x);
		if (!p) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		p->pack_id = pl.e[i].id;
		p->info.pack_id = pl.e[i].id;
		p->info.pack_key = pl.e[i].key;
		pl.e[i].key = NULL;
		p->info.size = pl.e[i].size;
		p->info.mtime = pl.e[i].mtime;
		p->info.has_data = 1;
	}
	x->packs_loaded = 1;
done:
	for (size_t i = 0; i < pl.n; i++)
		free(pl.e[i].key);
	free(pl.e);
	mlops_oidmap_free(files);
	return err;
}

static int object_list_cb(const char *key, uint64_t size, long long mtime, void *payload)
{
	struct mlops_xfer *x = payload;
	mlops_oid id;
	enum mlops_codec codec;
	uint64_t *v;
	if (parse_object_key(&id, &codec, key) < 0)
		return 0;
	if (mlops_oidmap_put(x->loose, &id, &v) < 0 || mlops_oidmap_put(x->known, &id, NULL) < 0)
		return MLOPS_ERROR;
	*v = (uint64_t)codec + 1;
	if (x->nobjects == x->capobjects) {
		size_t cap = x->capobjects ? x->capobjects * 2 : 1024;
		struct mlops_remote_object *o = realloc(x->objects, cap * sizeof(*o));
		if (!o)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		x->objects = o;
		x->capobjects = cap;
	}
	struct mlops_remote_object *o = &x->objects[x->nobjects];
	if (!(o->key = strdup(key)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	o->id = id;
	o->size = size;
	o->mtime = mtime;
	x->nobjects++;
	return 0;
}

static int list_objects(struct mlops_xfer *x, struct mlops_xfer_stats *st)
{
	if (x->listed || !x->epoch[0]) {
		x->listed = 1;
		return 0;
	}
	int err = x->r->list(x->r, "objects/", object_list_cb, x);
	if (err < 0)
		return err;
	x->listed = 1;
	if (st)
		st->listings++;
	return 0;
}

static int put_known(const mlops_oid *id, uint64_t *val, void *payload)
{
	(void)val;
	return mlops_oidmap_put(payload, id, NULL) < 0 ? MLOPS_ERROR : 0;
}

struct known_buf {
	char *buf;
	size_t len;
};

static int append_known(const mlops_oid *id, uint64_t *val, void *payload)
{
	struct known_buf *b = payload;
	(void)val;
	memcpy(b->buf + b->len, id->id, MLOPS_OID_RAWSZ);
	b->len += MLOPS_OID_RAWSZ;
	return 0;
}

/*
 * Replace the known file with exactly x->known (what a full listing
 * showed), so that objects lost from the remote since a push recorded
 * them (deleted by hand, a pack file gone) are sent again by the next
 * push.  Caller holds x->lock.
 */
static int rewrite_known(struct mlops_xfer *x)
{
	char header[128];
	if (!x->epoch[0])
		return 0;
	snprintf(header, sizeof(header), "%s%s\n", KNOWN_MAGIC, x->epoch);
	size_t hl = strlen(header), n = mlops_oidmap_count(x->known);
	struct known_buf b = { malloc(hl + n * MLOPS_OID_RAWSZ), hl };
	char *path = mlops_path_join(x->state_dir, "known");
	int err = 0;
	if (!b.buf || !path) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	memcpy(b.buf, header, hl);
	mlops_oidmap_foreach(x->known, append_known, &b);
	if (x->known_fd >= 0) {
		close(x->known_fd);
		x->known_fd = -1;
	}
	if ((err = mlops_write_file_atomic(path, b.buf, b.len, x->tmpdir, 0)) < 0)
		goto done;
	x->known_fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (x->known_fd < 0)
		err = mlops_error_sys(errno, "unable to open '%s'", path);
done:
	free(b.buf);
	free(path);
	return err;
}

int mlops_xfer_learn_all(struct mlops_xfer *x)
{
	struct mlops_oidmap *exact = NULL;
	int err = load_packs(x);
	if (err < 0 || (err = list_objects(x, NULL)) < 0)
		return err;
	/*
	 * What the remote holds is now what its listings show: the ids kept
	 * from earlier sessions (state_dir/known) may name objects deleted
	 * since by hand, or packs whose file is gone, which gc and fsck must
	 * see as missing.
	 */
	if ((err = mlops_oidmap_new(&exact)) < 0)
		return err;
	if (mlops_oidmap_reserve(exact, mlops_oidmap_count(x->packed) +
					mlops_oidmap_count(x->loose)) < 0 ||
	    mlops_oidmap_foreach(x->packed, put_known, exact) != 0 ||
	    mlops_oidmap_foreach(x->loose, put_known, exact) != 0) {
		mlops_oidmap_free(exact);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	pthread_mutex_lock(&x->lock);
	mlops_oidmap_free(x->known);
	x->known = exact;
	err = rewrite_known(x);
	pthread_mutex_unlock(&x->lock);
	return err;
}

int mlops_xfer_remote_has(struct mlops_xfer *x, const mlops_oid *id)
{
	pthread_mutex_lock(&x->lock);
	int has = mlops_oidmap_get(x->known, id) != NULL;
	pthread_mutex_unlock(&x->lock);
	return has;
}

/* Whether a listing of objects/ costs fewer requests than `unknown` checks. */
static int listing_pays(struct mlops_xfer *x, size_t unknown)
{
	if (x->listed)
		return 0;
	size_t page = x->r->list_page ? x->r->list_page : 1000;
	size_t estimate = mlops_oidmap_count(x->known) - mlops_oidmap_count(x->packed);
	size_t requests = estimate / page + 1;
	return requests <= unknown;
}

void mlops_xfer_inventory(const struct mlops_remote_object **objects, size_t *nobjects,
			  size_t *npacks, struct mlops_xfer *x)
{
	*objects = x->objects;
	*nobjects = x->nobjects;
	*npacks = x->npacks;
}

const struct mlops_remote_pack *mlops_xfer_pack(struct mlops_xfer *x, size_t i)
{
	return i < x->npacks ? &x->packs[i].info : NULL;
}

const struct mlops_pack_index *mlops_xfer_pack_index(struct mlops_xfer *x, size_t pack)
{
	return pack < x->npacks ? x->packs[pack].index : NULL;
}

/* ---- worker pool -------------------------------------------------------- */

struct pool {
	struct mlops_xfer *x;
	size_t njobs;
	size_t threads;       /* at most this many (0: the transfer's -j) */
	int inner;            /* one job's own pool: not slowed for tests (delay_ms) */
	atomic_size_t next;
	atomic_int failed;
	int err;
	char msg[1024];
	uint64_t done_bytes, total_bytes;
	int (*run)(struct pool *p, size_t job);
	void *ctx;
};

static void pool_fail(struct pool *p, int err)
{
	pthread_mutex_lock(&p->x->lock);
	if (!p->err) {
		p->err = err;
		snprintf(p->msg, sizeof(p->msg), "%s", mlops_error_message());
	}
	pthread_mutex_unlock(&p->x->lock);
	atomic_store(&p->failed, 1);
}

/* Caller holds x->lock. */
static void pool_progress(struct pool *p, uint64_t bytes)
{
	p->done_bytes += bytes;
	if (p->x->progress)
		p->x->progress(p->x->payload, p->done_bytes, p->total_bytes);
}

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	while (!atomic_load(&p->failed)) {
		size_t j = atomic_fetch_add(&p->next, 1);
		if (j >= p->njobs)
			break;
		if (p->x->delay_ms > 0 && !p->inner) {
			struct timespec ts = { p->x->delay_ms / 1000, (p->x->delay_ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
		int err = p->run(p, j);
		if (err < 0)
			pool_fail(p, err);
	}
	return NULL;
}

static int pool_run(struct pool *p)
{
	size_t nthreads = p->threads ? p->threads : (size_t)p->x->jobs;
	pthread_t tids[64];
	if (nthreads > p->njobs)
		nthreads = p->njobs;
	if (nthreads > sizeof(tids) / sizeof(*tids))
		nthreads = sizeof(tids) / sizeof(*tids);
	size_t started = 0;
	for (size_t i = 1; i < nthreads; i++) {
		if (pthread_create(&tids[started], NULL, pool_worker, p) != 0)
			break;
		started++;
	}
	pool_worker(p);
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	if (p->err)
		return mlops_error_set(p->err, "%s", p->msg);
	return 0;
}

/* ---- push --------------------------------------------------------------- */

struct pobj {
	mlops_oid id;
	enum mlops_codec codec;
	uint64_t size;
	char *path;
	int packed;
	mlops_oid pack;       /* packed: the local pack's name */
	size_t pack_objects;  /* packed: how many objects that pack holds */
};

struct pjob {
	size_t first, count;
	int pack;       /* 0: one object alone, PACK_SMALL or PACK_BULK */
};

enum { PACK_SMALL = 1, PACK_BULK = 2 };

struct push_ctx {
	struct pobj *objs;
	struct pjob *jobs;
	struct mlops_xfer_stats *st;
};

/*
 * A local object's stored bytes (borrowed: a mapping where it is large),
 * verified before they are sent.
 */
static int view_verified(struct mlops_odb_view *v, struct mlops_odb *odb, const struct pobj *o)
{
	void *content;
	size_t clen;
	int owned;
	int err = mlops_odb_view_stored(v, odb, &o->id);
	if (err < 0)
		return err;
	err = mlops_object_decode(&content, &clen, &owned, &o->id, v->codec, v->len ? v->data : "",
				  v->len, 1, "the local store");
	if (owned)
		free(content);
	if (err < 0)
		mlops_odb_view_release(v);
	return err;
}

/*
 * Verify a large local object through a read-only mapping (no copy), so
 * that the backend can then send the file itself.
 */
static int verify_mapped(const struct pobj *o)
{
	int fd = open(o->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mlops_error_sys(errno, "unable to open '%s'", o->path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return mlops_error_sys(e, "unable to stat '%s'", o->path);
	}
	size_t len = (size_t)st.st_size;
	void *map = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : NULL;
	close(fd);
	if (len && map == MAP_FAILED)
		return mlops_error_sys(errno, "unable to map '%s'", o->path);
	void *content;
	size_t clen;
	int owned;
	int err = mlops_object_decode(&content, &clen, &owned, &o->id, o->codec, len ? map : "", len, 1,
				      "the local store");
	if (owned)
		free(content);
	if (len)
		munmap(map, len);
	return err;
}

/* Cache a pack's index: the next session need not download it. */
static void cache_index(struct mlops_xfer *x, const mlops_oid *idx_id, const void *idx, size_t len)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	char *cache = mlops_strdupf("%s/packs/%s.idx", x->state_dir, mlops_oid_fmt(hex, idx_id));
	char *dir = mlops_path_join(x->state_dir, "packs");
	if (cache && dir && mlops_mkdir_p(dir) == 0)
		mlops_write_file_atomic(cache, idx, len, x->tmpdir, 0);
	mlops_error_clear();
	free(cache);
	free(dir);
}

/*
 * A pack's file is on the remote: its index goes after it (so an index
 * always names a complete pack), is cached, and its ids are remembered.
 */
static int pack_sent(struct pool *p, const mlops_oid *idx_id, const void *idx, size_t idx_len,
		     const mlops_oid *ids, size_t n, uint64_t bytes)
{
	struct mlops_xfer *x = p->x;
	struct push_ctx *c = p->ctx;
	char hex[MLOPS_OID_HEXSZ + 1], key[128];
	snprintf(key, sizeof(key), "packs/%s.idx", mlops_oid_fmt(hex, idx_id));
	int err = x->r->put(x->r, key, idx, idx_len);
	if (err < 0)
		return err;
	cache_index(x, idx_id, idx, idx_len);
	pthread_mutex_lock(&x->lock);
	err = remember(x, ids, n, 1);
	c->st->objects += n;
	c->st->bytes += bytes;
	c->st->packs++;
	pool_progress(p, bytes);
	pthread_mutex_unlock(&x->lock);
	return err;
}

/* The parts of a bulk pack: its magic, then each object, verified as it goes out. */
struct bulk_parts {
	struct mlops_xfer *x;
	const struct pobj *objs;
	struct mlops_odb_view v;
	int held;
};

static int bulk_part(void *payload, size_t i, struct mlops_remote_part *out)
{
	struct bulk_parts *b = payload;
	char hex[MLOPS_OID_HEXSZ + 1];
	if (b->held) {
		mlops_odb_view_release(&b->v);
		b->held = 0;
	}
	if (i == 0) {
		*out = (struct mlops_remote_part){ MLOPS_PACK_MAGIC, MLOPS_PACK_HDR };
		return 0;
	}
	const struct pobj *o = &b->objs[i - 1];
	int err = view_verified(&b->v, b->x->odb, o);
	if (err < 0)
		return err;
	b->held = 1;
	/* The index was written from the sizes learnt before: they must still hold. */
	if (b->v.len != o->size || b->v.codec != o->codec)
		return mlops_error_set(MLOPS_ERROR, "object %s changed in the store during the push",
				       mlops_oid_fmt(hex, &o->id));
	*out = (struct mlops_remote_part){ b->v.data, b->v.len };
	return 0;
}

/*
 * Large objects in one pack named by its index (pack.h): the index is
 * known from the sizes before any byte is read, each object is read and
 * verified as the backend writes it, and the remote creates two files
 * instead of one per object.
 */
static int push_bulk(struct pool *p, const struct pjob *job)
{
	struct mlops_xfer *x = p->x;
	struct push_ctx *c = p->ctx;
	const struct pobj *objs = &c->objs[job->first];
	struct mlops_pack_entry *entries = malloc(job->count * sizeof(*entries));
	mlops_oid *ids = malloc(job->count * sizeof(*ids));
	unsigned char *idx = NULL;
	size_t idx_len, n = job->count;
	uint64_t off = MLOPS_PACK_HDR;
	mlops_oid idx_id, zero;
	char hex[MLOPS_OID_HEXSZ + 1], key[128];
	int err;
	if (!entries || !ids) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		entries[i] = (struct mlops_pack_entry){ objs[i].id, off, objs[i].size, objs[i].codec };
		ids[i] = objs[i].id;
		off += objs[i].size;
	}
	memset(&zero, 0, sizeof(zero));
	if ((err = mlops_pack_index_encode(&idx, &idx_len, &idx_id, &zero, off, entries, &n)) < 0)
		goto done;
	mlops_oid_fmt(hex, &idx_id);
	struct bulk_parts b = { .x = x, .objs = objs };
	snprintf(key, sizeof(key), "packs/%s.pack", hex);
	err = x->r->put_parts(x->r, key, job->count + 1, bulk_part, &b);
	if (b.held)
		mlops_odb_view_release(&b.v);
	if (err < 0)
		goto done;
	err = pack_sent(p, &idx_id, idx, idx_len, ids, job->count, off);
done:
	free(entries);
	free(ids);
	free(idx);
	return err;
}

static int push_job(struct pool *p, size_t j)
{
	struct mlops_xfer *x = p->x;
	struct push_ctx *c = p->ctx;
	struct pjob *job = &c->jobs[j];
	size_t len;
	int err = 0;
	if (job->pack == PACK_BULK)
		return push_bulk(p, job);
	if (!job->pack) {
		struct pobj *o = &c->objs[job->first];
		char key[128];
		object_key(key, &o->id, o->codec);
		if (x->r->put_file && o->path) {
			if ((err = verify_mapped(o)) < 0 ||
			    (err = x->r->put_file(x->r, key, o->path)) < 0)
				return err;
			len = (size_t)o->size;
		} else {
			struct mlops_odb_view v;
			if ((err = view_verified(&v, x->odb, o)) < 0)
				return err;
			len = v.len;
			err = x->r->put(x->r, key, v.data, v.len);
			mlops_odb_view_release(&v);
		}
		if (err < 0)
			return err;
		pthread_mutex_lock(&x->lock);
		err = remember(x, &o->id, 1, 1);
		c->st->objects++;
		c->st->bytes += len;
		pool_progress(p, len);
		pthread_mutex_unlock(&x->lock);
		return err;
	}
	struct mlops_pack_writer *w = NULL;
	mlops_oid *ids = malloc(job->count * sizeof(*ids));
	if (!ids)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	size_t bytes = 0;
	for (size_t i = 0; i < job->count; i++)
		bytes += (size_t)c->objs[job->first + i].size;
	if ((err = mlops_pack_writer_new_sized(&w, bytes)) < 0)
		goto done;
	for (size_t i = 0; i < job->count; i++) {
		struct pobj *o = &c->objs[job->first + i];
		struct mlops_odb_view v;
		if ((err = view_verified(&v, x->odb, o)) < 0)
			goto done;
		err = mlops_pack_writer_add(w, &o->id, v.codec, v.data, v.len);
		mlops_odb_view_release(&v);
		if (err < 0)
			goto done;
		ids[i] = o->id;
	}
	const void *pack, *idx;
	size_t pack_len, idx_len;
	mlops_oid pack_id, idx_id;
	char hex[MLOPS_OID_HEXSZ + 1], key[128];
	if ((err = mlops_pack_writer_finish(w, &pack, &pack_len, &pack_id, &idx, &idx_len, &idx_id)) < 0)
		goto done;
	snprintf(key, sizeof(key), "packs/%s.pack", mlops_oid_fmt(hex, &pack_id));
	if ((err = x->r->put(x->r, key, pack, pack_len)) < 0)
		goto done;
	err = pack_sent(p, &idx_id, idx, idx_len, ids, job->count, pack_len);
done:
	mlops_pack_writer_free(w);
	free(ids);
	return err;
}

/* ---- push: whole local packs, linked ------------------------------------ */

struct link_ctx {
	struct pool *p;
	const mlops_oid *name;
	int cannot;           /* the remote cannot link: the bytes are sent */
};

/*
 * mlops_odb_share_pack's callback: the sealed local pack's file becomes
 * the remote's pack of the same name (the local format is a directory
 * remote's, pack.h), then its index goes, so that an index always names
 * a complete pack.
 */
static int link_pack(void *payload, const char *pack, const char *idx_path,
		     const struct mlops_pack_index *idx)
{
	struct link_ctx *l = payload;
	struct mlops_xfer *x = l->p->x;
	mlops_oid *ids = NULL;
	char *data = NULL, hex[MLOPS_OID_HEXSZ + 1], key[128];
	size_t len = 0;
	/*
	 * The index's bytes go to the remote and its cache; the store parsed
	 * and verified them when it loaded the pack, and the seal says the
	 * files have not changed since, so they are not hashed again.
	 */
	int err = mlops_read_file(&data, &len, idx_path);
	if (err == 0 && len != MLOPS_PACK_IDX_HDR + idx->count * MLOPS_PACK_IDX_ENTRY)
		err = mlops_error_set(MLOPS_ECORRUPT, "pack index '%s' changed while the store had it open",
				      idx_path);
	if (err == 0) {
		snprintf(key, sizeof(key), "packs/%s.pack", mlops_oid_fmt(hex, l->name));
		if ((err = x->r->put_link(x->r, key, pack)) == 1)
			l->cannot = 1;
	}
	if (err == 0 && !(ids = malloc((idx->count ? idx->count : 1) * sizeof(*ids))))
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	if (err == 0) {
		for (size_t i = 0; i < idx->count; i++)
			ids[i] = idx->entries[i].id;
		err = pack_sent(l->p, l->name, data, len, ids, idx->count, idx->pack_size);
	}
	free(ids);
	free(data);
	return err;
}

struct pack_ref {
	mlops_oid pack;
	size_t i;
};

static int cmp_pack_ref(const void *a, const void *b)
{
	const struct pack_ref *x = a, *y = b;
	int c = mlops_oid_cmp(&x->pack, &y->pack);
	return c ? c : (x->i > y->i) - (x->i < y->i);
}

/*
 * A sealed local pack every object of which goes to a remote that can
 * link it (a folder on the same file system) is linked whole: no byte is
 * read or written, where sending its objects would read, hash and write
 * each.  Its objects were verified when the pack was written or fetched
 * and the file has not changed since, the trust a checkout gives it.  The
 * objects sent so are taken out of objs; the rest go the usual way.
 */
static int push_linked(struct pool *p, struct pobj *objs, size_t *nobj)
{
	struct mlops_xfer *x = p->x;
	size_t n = *nobj, k = 0, m = 0;
	int err = 0;
	if (!x->r->put_link)
		return 0;
	for (size_t i = 0; i < n; i++)
		k += objs[i].packed;
	if (!k)
		return 0;
	struct pack_ref *refs = malloc(k * sizeof(*refs));
	unsigned char *gone = calloc(n, 1);
	if (!refs || !gone) {
		free(refs);
		free(gone);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (objs[i].packed)
			refs[k++] = (struct pack_ref){ objs[i].pack, i };
	qsort(refs, k, sizeof(*refs), cmp_pack_ref);
	for (size_t a = 0, b; a < k; a = b) {
		for (b = a + 1; b < k && !mlops_oid_cmp(&refs[b].pack, &refs[a].pack); b++)
			;
		if (b - a != objs[refs[a].i].pack_objects)
			continue;
		struct link_ctx l = { .p = p, .name = &refs[a].pack };
		if ((err = mlops_odb_share_pack(x->odb, &refs[a].pack, link_pack, &l)) < 0)
			break;
		if (l.cannot) {
			err = 0;
			break;
		}
		if (err == 1) { /* not sealed: its objects are read and verified */
			err = 0;
			continue;
		}
		for (size_t j = a; j < b; j++)
			gone[refs[j].i] = 1;
		struct push_ctx *c = p->ctx;
		c->st->linked++;
	}
	for (size_t i = 0; i < n; i++) {
		if (gone[i])
			free(objs[i].path);
		else
			objs[m++] = objs[i];
	}
	*nobj = m;
	free(refs);
	free(gone);
	return err;
}

static int cmp_pobj_size(const void *a, const void *b)
{
	const struct pobj *x = a, *y = b;
	return (x->size > y->size) - (x->size < y->size);
}

int mlops_xfer_push(struct mlops_xfer *x, const mlops_oid *ids, size_t n,
		    struct mlops_xfer_stats *stats)
{
	struct mlops_xfer_stats dummy;
	struct mlops_xfer_stats *st = stats ? stats : &dummy;
	struct pobj *objs = NULL;
	struct pjob *jobs = NULL;
	char **keys = NULL;
	unsigned char *present = NULL;
	size_t nobj = 0, njobs = 0;
	int err;

	memset(st, 0, sizeof(*st));
	if ((err = mlops_xfer_init_remote(x)) < 0 || (err = load_packs(x)) < 0)
		return err;
	if (!(objs = calloc(n ? n : 1, sizeof(*objs))))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	/* What the remote is not known to hold. */
	for (size_t i = 0; i < n; i++) {
		if (mlops_oidmap_get(x->known, &ids[i])) {
			st->present++;
			continue;
		}
		objs[nobj].id = ids[i];
		nobj++;
	}
	if (nobj && listing_pays(x, nobj)) {
		if ((err = list_objects(x, st)) < 0)
			goto done;
		size_t k = 0;
		for (size_t i = 0; i < nobj; i++) {
			if (mlops_oidmap_get(x->known, &objs[i].id))
				st->present++;
			else
				objs[k++] = objs[i];
		}
		nobj = k;
	}
	/* Locate the local copies: a loose object's file, or a packed one's size. */
	for (size_t i = 0; i < nobj; i++) {
		struct mlops_odb_info info;
		if ((err = mlops_odb_info(&info, x->odb, &objs[i].id)) < 0)
			goto done;
		objs[i].codec = info.codec;
		objs[i].size = info.stored_size;
		objs[i].packed = info.packed;
		objs[i].pack = info.pack;
		objs[i].pack_objects = info.pack_objects;
		if (!info.packed &&
		    (err = mlops_odb_locate(&objs[i].path, &objs[i].codec, x->odb, &objs[i].id)) < 0)
			goto done;
	}
	if (nobj && !x->listed) {
		/* Few unknown objects: ask for each. */
		keys = calloc(nobj, sizeof(*keys));
		present = calloc(nobj, 1);
		if (!keys || !present) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		for (size_t i = 0; i < nobj; i++) {
			if (!(keys[i] = malloc(128))) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				goto done;
			}
			object_key(keys[i], &objs[i].id, objs[i].codec);
		}
		if ((err = x->r->has_many(x->r, (const char *const *)keys, nobj, present)) < 0)
			goto done;
		st->checks += nobj;
		size_t k = 0;
		for (size_t i = 0; i < nobj; i++) {
			if (present[i]) {
				remember(x, &objs[i].id, 1, 1);
				st->present++;
				free(objs[i].path);
			} else {
				objs[k++] = objs[i];
			}
		}
		nobj = k;
	}
	struct push_ctx ctx = { .objs = objs, .st = st };
	struct pool pool = { .x = x, .run = push_job, .ctx = &ctx };
	/* Before the links: progress counts the bytes a link sends too. */
	for (size_t i = 0; i < nobj; i++)
		pool.total_bytes += objs[i].size;
	/* Before the planning: the objects linked leave objs, so no job takes them. */
	if ((err = push_linked(&pool, objs, &nobj)) < 0)
		goto done;
	/* Jobs: small objects in packs, each large one alone. */
	qsort(objs, nobj, sizeof(*objs), cmp_pobj_size);
	size_t nsmall = 0;
	uint64_t small_bytes = 0, total = 0;
	for (size_t i = 0; i < nobj; i++) {
		total += objs[i].size;
		if (objs[i].size <= PACK_OBJECT_MAX) {
			nsmall++;
			small_bytes += objs[i].size;
		}
	}
	uint64_t target = small_bytes / (uint64_t)x->jobs + 1;
	if (target < PACK_TARGET_MIN)
		target = PACK_TARGET_MIN;
	if (target > PACK_TARGET_MAX)
		target = PACK_TARGET_MAX;
	if (!(jobs = calloc(nobj ? nobj : 1, sizeof(*jobs)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	/*
	 * Large objects first, so that the long transfers start early: one
	 * key each, or, where the backend can gather parts, in packs of up to
	 * BULK_TARGET_MAX or the backend's bulk_max (a 2 GiB file's 4,000
	 * chunks are then 64 files on a directory, 260 on S3, not 4,000).
	 */
	if (x->r->put_parts) {
		/* At least four packs a job, for progress and for what an interruption costs. */
		uint64_t bulk = (total - small_bytes) / (4 * (uint64_t)x->jobs) + 1;
		uint64_t most = x->r->bulk_max ? x->r->bulk_max : BULK_TARGET_MAX;
		if (bulk < BULK_TARGET_MIN)
			bulk = BULK_TARGET_MIN;
		if (bulk > most)
			bulk = most;
		for (size_t i = nsmall; i < nobj;) {
			uint64_t bytes = 0;
			size_t start = i;
			while (i < nobj && (i == start || bytes + objs[i].size <= bulk))
				bytes += objs[i++].size;
			jobs[njobs++] = (struct pjob){ .first = start, .count = i - start,
						       .pack = i - start > 1 ? PACK_BULK : 0 };
		}
	} else {
		for (size_t i = nobj; i-- > nsmall;)
			jobs[njobs++] = (struct pjob){ .first = i, .count = 1, .pack = 0 };
	}
	for (size_t i = 0; i < nsmall;) {
		uint64_t bytes = 0;
		size_t start = i;
		while (i < nsmall && (i == start || bytes + objs[i].size <= target))
			bytes += objs[i++].size;
		if (i - start == 1)
			jobs[njobs++] = (struct pjob){ .first = start, .count = 1, .pack = 0 };
		else
			jobs[njobs++] = (struct pjob){ .first = start, .count = i - start, .pack = PACK_SMALL };
	}
	ctx.jobs = jobs;
	pool.njobs = njobs;
	if ((err = pool_run(&pool)) < 0)
		goto done;
	if ((njobs || st->packs) && x->r->sync && (err = x->r->sync(x->r)) < 0)
		goto done;
done:
	for (size_t i = 0; i < nobj; i++)
		free(objs[i].path);
	if (keys)
		for (size_t i = 0; i < nobj; i++)
			free(keys[i]);
	free(keys);
	free(present);
	free(objs);
	free(jobs);
	return err;
}

/* ---- fetch -------------------------------------------------------------- */

struct fjob {
	size_t pack;        /* pack index + 1, or 0 for a loose object */
	size_t first, count; /* into order[] */
};

struct fetch_ctx {
	const mlops_oid *ids;
	size_t *order;      /* request indexes, grouped by job */
	struct fjob *jobs;
	int store;
	mlops_xfer_object_cb cb;
	void *payload;
	struct mlops_xfer_stats *st;
	uint64_t unsynced;
};

/*
 * Hand one object to the local store and the callback.  The store gets
 * the object as it travelled (`codec`, `stored` of stored_len bytes,
 * verified on arrival: not hashed or compressed again), or adopts the
 * file `adopt` that holds it.
 */
static int deliver(struct pool *p, size_t index, int status, const void *data, size_t len,
		   enum mlops_codec codec, const void *stored, uint64_t stored_len, const char *adopt)
{
	struct mlops_xfer *x = p->x;
	struct fetch_ctx *c = p->ctx;
	int err = 0, do_sync = 0;
	if (status == 0 && c->store && (stored || adopt)) {
		err = adopt ? mlops_odb_adopt(x->odb, &c->ids[index], codec, adopt) :
		      mlops_odb_write_stored(x->odb, &c->ids[index], codec, stored,
					     (size_t)stored_len, NULL);
		if (err < 0)
			return err;
	}
	pthread_mutex_lock(&x->lock);
	if (status == 0) {
		c->st->objects++;
		c->st->bytes += stored_len;
		c->unsynced += len;
		if (c->store && c->unsynced >= FETCH_SYNC_BYTES) {
			c->unsynced = 0;
			do_sync = 1;
		}
	}
	pool_progress(p, stored_len);
	if (c->cb)
		err = c->cb(c->payload, index, status, data, len);
	pthread_mutex_unlock(&x->lock);
	if (err == 0 && do_sync)
		err = mlops_odb_sync(x->odb);
	return err;
}

static int not_on_remote(struct pool *p, size_t index)
{
	struct mlops_xfer *x = p->x;
	struct fetch_ctx *c = p->ctx;
	char hex[MLOPS_OID_HEXSZ + 1];
	mlops_error_set(MLOPS_ENOTFOUND, "object %s is not on remote '%s'",
			mlops_oid_fmt(hex, &c->ids[index]), x->r->url);
	return deliver(p, index, MLOPS_ENOTFOUND, NULL, 0, MLOPS_CODEC_NONE, NULL, 0, NULL);
}

/*
 * A loose object through the backend's get_file: copied into a file in
 * tmpdir by the kernel, verified through a read-only mapping of that file
 * (the bytes are read once, by the hash), then adopted by the store as it
 * is.
 */
static int fetch_loose_file(struct pool *p, size_t index, const enum mlops_codec *order,
			    size_t ncand)
{
	struct mlops_xfer *x = p->x;
	struct fetch_ctx *c = p->ctx;
	const mlops_oid *id = &c->ids[index];
	enum mlops_codec codec = MLOPS_CODEC_NONE;
	char key[128], *tmp = NULL;
	void *map = NULL;
	uint64_t len = 0;
	int fd = -1, err;
	if ((err = mlops_tempfile(&fd, &tmp, x->tmpdir, "fetch-")) < 0)
		return err;
	err = MLOPS_ENOTFOUND;
	for (size_t k = 0; k < ncand && err == MLOPS_ENOTFOUND; k++) {
		codec = order[k];
		object_key(key, id, codec);
		err = x->r->get_file(x->r, key, fd, &len, (uint64_t)1 << 34);
		if (err == MLOPS_ENOTFOUND && (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0))
			err = mlops_error_sys(errno, "unable to truncate '%s'", tmp);
	}
	if (err == MLOPS_ENOTFOUND) {
		err = not_on_remote(p, index);
		goto done;
	}
	if (err < 0)
		goto done;
	if (len && (map = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0)) ==
		   MAP_FAILED) {
		map = NULL;
		err = mlops_error_sys(errno, "unable to map '%s'", tmp);
		goto done;
	}
	close(fd);
	fd = -1;
	void *content;
	size_t clen;
	int owned;
	err = mlops_object_decode(&content, &clen, &owned, id, codec, map ? map : "", (size_t)len, 1,
				  key);
	if (err == MLOPS_ECORRUPT) {
		mlops_error_wrap(err, "remote '%s'", x->r->url);
		err = deliver(p, index, MLOPS_ECORRUPT, NULL, 0, codec, NULL, len, NULL);
	} else if (err == 0) {
		err = deliver(p, index, 0, content, clen, codec, NULL, len, tmp);
		free(tmp); /* the store's now, whatever happened */
		tmp = NULL;
		if (owned)
			free(content);
	}
done:
	if (map)
		munmap(map, (size_t)len);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	return err;
}

static int fetch_loose(struct pool *p, size_t index)
{
	struct mlops_xfer *x = p->x;
	struct fetch_ctx *c = p->ctx;
	const mlops_oid *id = &c->ids[index];
	enum mlops_codec order[MLOPS_CODEC_COUNT] = { MLOPS_CODEC_NONE, MLOPS_CODEC_ZSTD,
						       MLOPS_CODEC_ZCOL, MLOPS_CODEC_ZLIB };
	size_t ncand = MLOPS_CODEC_COUNT;
	pthread_mutex_lock(&x->lock);
	uint64_t *v = mlops_oidmap_get(x->loose, id);
	if (v) {
		order[0] = (enum mlops_codec)(*v - 1);
		ncand = 1;
	}
	pthread_mutex_unlock(&x->lock);
	/*
	 * A file of its own is fetched into a file the store adopts (no
	 * copy through memory), unless the store is writing a pack: then
	 * its bytes go there, and no file is created for it at all.
	 */
	if (c->store && x->r->get_file && !mlops_odb_packing(x->odb))
		return fetch_loose_file(p, index, order, ncand);
	void *stored = NULL;
	size_t len = 0;
	int err = MLOPS_ENOTFOUND;
	enum mlops_codec codec = MLOPS_CODEC_NONE;
	char key[128];
	for (size_t k = 0; k < ncand && err == MLOPS_ENOTFOUND; k++) {
		codec = order[k];
		object_key(key, id, codec);
		err = x->r->get(x->r, key, &stored, &len, (size_t)1 << 34);
	}
	if (err == MLOPS_ENOTFOUND)
		return not_on_remote(p, index);
	if (err < 0)
		return err;
	void *content;
	size_t clen;
	int owned;
	err = mlops_object_decode(&content, &clen, &owned, id, codec, stored, len, 1, key);
	if (err == MLOPS_ECORRUPT) {
		mlops_error_wrap(err, "remote '%s'", x->r->url);
		err = deliver(p, index, MLOPS_ECORRUPT, NULL, 0, codec, NULL, len, NULL);
	} else if (err == 0) {
		err = deliver(p, index, 0, content, clen, codec, stored, len, NULL);
		if (owned)
			free(content);
	}
	free(stored);
	return err;
}

/*
 * The pack fetched into a file of tmpdir through the backend's get_file,
 * once a session: the bytes are written once and never held in memory,
 * and the file can go into the store whole.  1 when the backend has no
 * get_file.
 */
static int pack_download(struct rpack *p, struct mlops_xfer *x)
{
	char *tmp;
	int fd, err;
	uint64_t len = 0;
	if (!x->r->get_file)
		return 1;
	if ((err = mlops_tempfile(&fd, &tmp, x->tmpdir, "fetch-pack-")) < 0)
		return err;
	mlops_tempfile_register(tmp);
	/* Read-only like every pack: it may be linked into the store as it is. */
	if (fchmod(fd, 0444 & ~mlops_umask()) < 0)
		err = mlops_error_sys(errno, "unable to write '%s'", tmp);
	if (err == 0)
		err = x->r->get_file(x->r, p->info.pack_key, fd, &len, p->index->pack_size + 1);
	if (close(fd) < 0 && err == 0)
		err = mlops_error_sys(errno, "unable to write '%s'", tmp);
	if (err < 0) {
		unlink(tmp);
		mlops_tempfile_forget(tmp);
		free(tmp);
		return err;
	}
	p->download = tmp;
	p->download_len = len;
	pthread_mutex_lock(&x->lock);
	x->pack_cache_bytes += len;
	pthread_mutex_unlock(&x->lock);
	return 0;
}

/*
 * Map a pack the backend has as a file of this machine, or one this
 * session downloaded; 1 when there is no such file.
 */
static int pack_map(struct rpack *p, struct mlops_xfer *x, void **buf, size_t *blen)
{
	char *path = NULL;
	int err = 0;
	if (!p->download && !x->r->path && (err = pack_download(p, x)) < 0)
		return err;
	if (p->download)
		err = (path = strdup(p->download)) ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
	else
		err = x->r->path ? x->r->path(x->r, p->info.pack_key, &path) : 1;
	if (err)
		return err;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = mlops_error_sys(errno, "unable to open '%s'", path);
		goto done;
	}
	*blen = (size_t)st.st_size;
	*buf = NULL;
	if (*blen != p->index->pack_size)
		goto done; /* reported by the caller */
	/*
	 * Not populated: a job that reads a few of its objects (a version's
	 * record and a file's list of chunks, in the 2 GiB pack of the
	 * chunks) touches only their pages, and a large object's pages are
	 * mapped when it is read and dropped after (map_object_pages, drop_object_pages).
	 */
	void *m = mmap(NULL, *blen, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		err = mlops_error_sys(errno, "unable to map '%s'", path);
		goto done;
	}
	*buf = m;
	p->path = path;
	path = NULL;
done:
	if (fd >= 0)
		close(fd);
	free(path);
	return err;
}

static int pack_fault(struct mlops_xfer *x, struct rpack *p, const char *fault)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	rpack_release(p);
	return mlops_error_set(MLOPS_ECORRUPT, "pack %s on remote '%s' is corrupt: %s",
			       mlops_oid_fmt(hex, &p->pack_id), x->r->url, fault);
}

/*
 * 1 when pack k's bytes hash to its name, or it is named by its index;
 * checked once a session (a mapping is made again each round).  The
 * caller has its bytes (pack_data).
 */
static int pack_name_ok(struct mlops_xfer *x, size_t k)
{
	struct rpack *p = &x->packs[k];
	if (p->bulk || p->name_checked)
		return 1;
	mlops_oid check;
	mlops_hash_buf(&check, p->data, p->data_len);
	p->name_checked = !mlops_oid_cmp(&check, &p->pack_id);
	return p->name_checked;
}

/*
 * Pack k's bytes: mapped when the backend has the file here, else
 * downloaded (once a session).  Its size and magic are checked here, its
 * name by pack_name_ok where that is wanted: each object is verified by
 * its own id when read.  Caller owns nothing.
 */
static int pack_data(struct mlops_xfer *x, size_t k, const unsigned char **data, size_t *len)
{
	struct rpack *p = &x->packs[k];
	if (!p->data) {
		void *buf = NULL;
		size_t blen = 0;
		int err = pack_map(p, x, &buf, &blen);
		if (err == 1)
			err = x->r->get(x->r, p->info.pack_key, &buf, &blen,
					(size_t)p->index->pack_size + 1);
		if (err < 0)
			return err;
		p->data = buf;
		p->data_len = buf ? blen : 0;
		if (blen != p->index->pack_size)
			return pack_fault(x, p, "its size differs from its index");
		if (blen < MLOPS_PACK_HDR || memcmp(buf, MLOPS_PACK_MAGIC, MLOPS_PACK_HDR))
			return pack_fault(x, p, "it does not start as a pack");
		if (!p->path) {
			pthread_mutex_lock(&x->lock);
			x->pack_cache_bytes += blen;
			pthread_mutex_unlock(&x->lock);
		}
	}
	*data = p->data;
	*len = p->data_len;
	return 0;
}

/*
 * A large object's pages in a mapped pack: mapped in one call before it
 * is read (MADV_POPULATE_READ; faults would take one for every 16
 * pages), and out of this process after (MADV_DONTNEED, only pages no
 * other object shares), so that its resident memory is the objects in
 * flight, not the pack (2 GiB for a file's chunks).  The page cache keeps
 * them; a later read maps them again.  Small objects are left to faults.
 */
#define ADVISE_MIN_BYTES (256u << 10)

static uint64_t page_bytes;
static pthread_once_t page_once = PTHREAD_ONCE_INIT;

static void page_init(void)
{
	long n = sysconf(_SC_PAGESIZE);
	page_bytes = n > 0 ? (uint64_t)n : 4096;
}

static uint64_t page_size(void)
{
	pthread_once(&page_once, page_init);
	return page_bytes;
}

/* Every page the object touches, the first and last partly its. */
static void map_object_pages(const unsigned char *map, uint64_t off, uint64_t len)
{
	if (len < ADVISE_MIN_BYTES)
		return;
	const uint64_t page = page_size();
	uint64_t start = off & ~(page - 1), end = (off + len + page - 1) & ~(page - 1);
	(void)madvise((void *)(map + start), (size_t)(end - start), MADV_POPULATE_READ);
}

/* Only the pages wholly the object's: its neighbours may be in flight. */
static void drop_object_pages(const unsigned char *map, uint64_t off, uint64_t len)
{
	if (len < ADVISE_MIN_BYTES)
		return;
	const uint64_t page = page_size();
	uint64_t start = (off + page - 1) & ~(page - 1), end = (off + len) & ~(page - 1);
	if (end > start)
		(void)madvise((void *)(map + start), (size_t)(end - start), MADV_DONTNEED);
}

/*
 * A pack job's objects, each verified by its id and delivered: by a pool
 * of their own when the pack is large (a 2 GiB file that a push linked
 * into the remote whole is one pack, whose hashing would otherwise take
 * one core while the others wait).
 */
struct pack_verify {
	struct pool *p;         /* the fetch's */
	const struct fjob *job;
	struct rpack *rp;
	const unsigned char *data;
	const char *what;
	unsigned char *ok;      /* when not NULL: ok[i] = 1 for each object verified */
	atomic_size_t nok;
};

static int verify_one(struct pool *vp, size_t i)
{
	struct pack_verify *v = vp->ctx;
	struct fetch_ctx *c = v->p->ctx;
	size_t index = c->order[v->job->first + i];
	const struct mlops_pack_entry *e = mlops_pack_index_find(v->rp->index, &c->ids[index]);
	void *content;
	size_t clen;
	int owned, err;
	if (!e)
		return mlops_error_set(MLOPS_ERROR, "pack lookup failed");
	if (v->rp->path)
		map_object_pages(v->data, e->offset, e->length);
	err = mlops_object_decode(&content, &clen, &owned, &e->id, e->codec,
				  v->data + e->offset, (size_t)e->length, 1, v->what);
	if (err == MLOPS_ECORRUPT)
		return deliver(v->p, index, MLOPS_ECORRUPT, NULL, 0, e->codec, NULL, e->length, NULL);
	if (err < 0)
		return err;
	if (v->ok) {
		v->ok[i] = 1;
		atomic_fetch_add(&v->nok, 1);
	}
	err = deliver(v->p, index, 0, content, clen, e->codec, v->ok ? NULL : v->data + e->offset,
		      e->length, NULL);
	if (owned)
		free(content);
	if (v->rp->path)
		drop_object_pages(v->data, e->offset, e->length);
	return err;
}

static int pack_verify(struct pack_verify *v, size_t pack_len)
{
	struct pool vp = { .x = v->p->x, .njobs = v->job->count, .inner = 1, .run = verify_one, .ctx = v };
	vp.threads = pack_len >= v->p->x->verify_split ? 0 : 1;
	return pool_run(&vp);
}

static int fetch_job(struct pool *p, size_t j)
{
	struct mlops_xfer *x = p->x;
	struct fetch_ctx *c = p->ctx;
	struct fjob *job = &c->jobs[j];
	if (!job->pack)
		return fetch_loose(p, c->order[job->first]);
	size_t k = job->pack - 1;
	const unsigned char *data;
	size_t len;
	char what[160], hex[MLOPS_OID_HEXSZ + 1];
	struct rpack *rp = &x->packs[k];
	int err = pack_data(x, k, &data, &len), whole = 0;
	if (err == 0 && !rp->counted) {
		rp->counted = 1; /* once a session, though mapped again each round */
		pthread_mutex_lock(&x->lock);
		c->st->packs++;
		pthread_mutex_unlock(&x->lock);
	}
	/*
	 * A pack wanted whole, in a file of this machine, goes into the store
	 * whole (linked or copied by the kernel) once every object in it is
	 * verified, instead of object by object: the local format is the
	 * remote's (pack.h).
	 */
	if (err == 0)
		whole = c->store && rp->path && job->count <= rp->index->count;
	if (whole && job->count < rp->index->count) {
		/*
		 * Also when the rest of it is here already: a pack holds large
		 * objects of several levels of a walk (a whole file and the
		 * chunks of another), which an earlier round stored one by one.
		 * Only the rest is looked for (the index and the job's ids are
		 * walked in id order): the job's own objects are not here, and
		 * looking for each on disk cost five calls.
		 */
		mlops_oid *mine = malloc(job->count * sizeof(*mine));
		if (!mine)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		for (size_t i = 0; i < job->count; i++)
			mine[i] = c->ids[c->order[job->first + i]];
		qsort(mine, job->count, sizeof(*mine), mlops_oid_qcmp);
		size_t k = 0;
		for (size_t i = 0; i < rp->index->count && whole; i++) {
			const mlops_oid *id = &rp->index->entries[i].id;
			while (k < job->count && mlops_oid_cmp(&mine[k], id) < 0)
				k++;
			if (k < job->count && !mlops_oid_cmp(&mine[k], id))
				continue;
			whole = mlops_odb_exists(x->odb, id) > 0;
		}
		free(mine);
	}
	/*
	 * Each object read is verified by its own id, which is all that an
	 * object stored by itself needs: the pack's own hash would read every
	 * byte a second time.  A pack taken whole is checked against its name
	 * when some of its bytes are in no object verified here (objects this
	 * job does not take, bytes between objects); when it is not what its
	 * name says, the job's objects are stored one by one (fsck --remote
	 * reports the pack).
	 */
	if (whole && !rp->fills)
		rp->fills = mlops_pack_index_fills(rp->index) ? 1 : 2;
	if (whole && (job->count < rp->index->count || rp->fills != 1))
		whole = pack_name_ok(x, k);
	if (err == MLOPS_ECORRUPT) {
		/* Every object of a damaged pack is reported, with the pack's fault. */
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", mlops_error_message());
		for (size_t i = 0; i < job->count; i++) {
			mlops_error_set(MLOPS_ECORRUPT, "%s", msg);
			if ((err = deliver(p, c->order[job->first + i], MLOPS_ECORRUPT, NULL, 0,
					   MLOPS_CODEC_NONE, NULL, 0, NULL)) < 0)
				return err;
		}
		return 0;
	}
	if (err < 0)
		return err;
	snprintf(what, sizeof(what), "pack %.12s of remote '%s'", mlops_oid_fmt(hex, &rp->pack_id),
		 x->r->url);
	unsigned char *ok = whole ? calloc(job->count, 1) : NULL;
	if (whole && !ok)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	struct pack_verify v = { .p = p, .job = job, .rp = rp, .data = data, .what = what, .ok = ok };
	err = pack_verify(&v, len);
	size_t nok = atomic_load(&v.nok);
	int adopted = 0;
	if (whole && err == 0) {
		if (nok == job->count) {
			err = mlops_odb_adopt_pack(x->odb, rp->path, rp->index,
						   rp->download ? 1 : x->r->hardlinks);
			adopted = err == 0;
		} else {
			/* Some are damaged (reported): the others are stored one by one. */
			for (size_t i = 0; i < job->count && err == 0; i++) {
				if (!ok[i])
					continue;
				const struct mlops_pack_entry *e =
					mlops_pack_index_find(rp->index, &c->ids[c->order[job->first + i]]);
				err = mlops_odb_write_stored(x->odb, &e->id, e->codec, data + e->offset,
							     (size_t)e->length, NULL);
			}
		}
	}
	free(ok);
	/* A mapping costs nothing to make again: not kept between rounds. */
	if (rp->path)
		rpack_release(rp);
	/* Every object of a pack taken whole is stored: its download is not needed again. */
	if (adopted)
		rpack_drop_download(x, rp);
	return err;
}

int mlops_xfer_fetch(struct mlops_xfer *x, const mlops_oid *ids, size_t n, int store,
		     mlops_xfer_object_cb cb, void *payload, struct mlops_xfer_stats *stats)
{
	struct mlops_xfer_stats dummy;
	struct mlops_xfer_stats *st = stats ? stats : &dummy;
	size_t *order = NULL, *pack_of = NULL, *count = NULL, *start = NULL;
	struct fjob *jobs = NULL;
	size_t njobs = 0;
	uint64_t total = 0;
	int err;

	if (!stats)
		memset(&dummy, 0, sizeof(dummy));
	if (n == 0)
		return 0;
	if ((err = load_packs(x)) < 0)
		return err;
	order = malloc(n * sizeof(*order));
	pack_of = malloc(n * sizeof(*pack_of));
	count = calloc(x->npacks + 1, sizeof(*count));
	start = calloc(x->npacks + 1, sizeof(*start));
	jobs = calloc(n, sizeof(*jobs));
	if (!order || !pack_of || !count || !start || !jobs) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	size_t unknown = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t *v = mlops_oidmap_get(x->packed, &ids[i]);
		pack_of[i] = v ? (size_t)*v : 0;
		if (!v && !mlops_oidmap_get(x->loose, &ids[i]))
			unknown++;
	}
	/* Many objects of unknown name: one listing beats trying names. */
	if (unknown > 1 && listing_pays(x, unknown) && (err = list_objects(x, st)) < 0)
		goto done;
	/* Group by pack (counting sort), loose objects last one job each. */
	for (size_t i = 0; i < n; i++)
		count[pack_of[i]]++;
	size_t pos = 0;
	for (size_t k = 1; k <= x->npacks; k++) {
		start[k] = pos;
		pos += count[k];
	}
	start[0] = pos;
	size_t *fill = calloc(x->npacks + 1, sizeof(*fill));
	if (!fill) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		order[start[pack_of[i]] + fill[pack_of[i]]++] = i;
	free(fill);
	for (size_t k = 1; k <= x->npacks; k++) {
		if (!count[k])
			continue;
		jobs[njobs++] = (struct fjob){ .pack = k, .first = start[k], .count = count[k] };
		for (size_t i = 0; i < count[k]; i++) {
			const struct mlops_pack_entry *e =
				mlops_pack_index_find(x->packs[k - 1].index, &ids[order[start[k] + i]]);
			total += e ? e->length : 0;
		}
	}
	struct fetch_ctx ctx = { .ids = ids, .order = order, .jobs = jobs, .store = store, .cb = cb,
				 .payload = payload, .st = st };
	struct pool pool = { .x = x, .run = fetch_job, .ctx = &ctx };
	for (size_t i = 0; i < count[0]; i++) {
		size_t index = order[start[0] + i];
		if (x->listed && !mlops_oidmap_get(x->loose, &ids[index])) {
			char hex[MLOPS_OID_HEXSZ + 1];
			mlops_error_set(MLOPS_ENOTFOUND, "object %s is not on remote '%s'",
					mlops_oid_fmt(hex, &ids[index]), x->r->url);
			if (cb && (err = cb(payload, index, MLOPS_ENOTFOUND, NULL, 0)) < 0)
				goto done;
			continue;
		}
		jobs[njobs++] = (struct fjob){ .pack = 0, .first = start[0] + i, .count = 1 };
	}
	pool.njobs = njobs;
	pool.total_bytes = total;
	err = pool_run(&pool);
	if (store) {
		int e2 = mlops_odb_sync(x->odb);
		if (err == 0)
			err = e2;
	}
	/* Keep downloaded packs (in memory or files) for the next round unless they grow too big. */
	if (x->pack_cache_bytes > PACK_CACHE_MAX) {
		for (size_t k = 0; k < x->npacks; k++) {
			rpack_release(&x->packs[k]);
			rpack_drop_download(x, &x->packs[k]);
		}
		x->pack_cache_bytes = 0;
	}
done:
	free(order);
	free(pack_of);
	free(count);
	free(start);
	free(jobs);
	return err;
}

/* ---- refs --------------------------------------------------------------- */

void mlops_remote_refs_free(struct mlops_remote_ref *refs, size_t n)
{
	if (!refs)
		return;
	for (size_t i = 0; i < n; i++) {
		free(refs[i].name);
		free(refs[i].damage);
	}
	free(refs);
}

struct ref_listing {
	char **names;
	size_t n, cap;
};

static int ref_list_cb(const char *key, uint64_t size, long long mtime, void *payload)
{
	struct ref_listing *rl = payload;
	(void)size;
	(void)mtime;
	if (strncmp(key, "refs/", 5))
		return 0;
	const char *name = key + 5;
	size_t l = strlen(name);
	if (l > 5 && !strcmp(name + l - 5, ".lock"))
		return 0;
	if (!mlops_ref_name_valid(name))
		return 0;
	if (rl->n == rl->cap) {
		size_t cap = rl->cap ? rl->cap * 2 : 32;
		char **p = realloc(rl->names, cap * sizeof(*p));
		if (!p)
			return mlops_error_set(MLOPS_ERROR, "out of memory");
		rl->names = p;
		rl->cap = cap;
	}
	if (!(rl->names[rl->n] = strdup(name)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	rl->n++;
	return 0;
}

static int cmp_ref(const void *a, const void *b)
{
	return strcmp(((const struct mlops_remote_ref *)a)->name,
		      ((const struct mlops_remote_ref *)b)->name);
}

int mlops_xfer_refs(struct mlops_remote_ref **out, size_t *n, struct mlops_xfer *x,
		    const char *prefix, int keep_damaged)
{
	struct ref_listing rl = { 0 };
	struct mlops_remote_ref *refs = NULL;
	size_t k = 0;
	char *lp = mlops_strdupf("refs/%s", prefix ? prefix : "");
	int err;
	*out = NULL;
	*n = 0;
	if (!lp)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((err = x->r->list(x->r, lp, ref_list_cb, &rl)) < 0)
		goto done;
	if (!(refs = calloc(rl.n ? rl.n : 1, sizeof(*refs)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < rl.n; i++) {
		err = x->r->ref_read(x->r, rl.names[i], &refs[k].id);
		if (err == MLOPS_ENOTFOUND) {
			/* Deleted since the listing. */
			mlops_error_clear();
			err = 0;
			continue;
		}
		if (err == MLOPS_ECORRUPT && keep_damaged) {
			memset(&refs[k].id, 0, sizeof(refs[k].id));
			if (!(refs[k].damage = strdup(mlops_error_message()))) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				goto done;
			}
			mlops_error_clear();
			err = 0;
		} else if (err == MLOPS_ECORRUPT) {
			err = mlops_error_set(MLOPS_EREMOTE, "%s; 'mlops fsck --remote' reports it",
					      mlops_error_message());
			goto done;
		}
		if (err < 0)
			goto done;
		refs[k].name = rl.names[i];
		rl.names[i] = NULL;
		k++;
	}
	qsort(refs, k, sizeof(*refs), cmp_ref);
done:
	for (size_t i = 0; i < rl.n; i++)
		free(rl.names[i]);
	free(rl.names);
	free(lp);
	if (err < 0) {
		mlops_remote_refs_free(refs, k);
		return err;
	}
	*out = refs;
	*n = k;
	return 0;
}

/* ---- maintenance -------------------------------------------------------- */

int mlops_xfer_verify_pack(struct mlops_xfer *x, size_t k, mlops_xfer_object_cb cb,
			   void *payload)
{
	char hex[MLOPS_OID_HEXSZ + 1], what[160];
	if (k >= x->npacks || !x->packs[k].index)
		return 0;
	struct rpack *p = &x->packs[k];
	const unsigned char *data;
	size_t len;
	/* The remote's index, not the copy cached here when it was first read. */
	char *text = NULL;
	size_t tlen;
	struct mlops_pack_index *check = NULL;
	int rc = x->r->get(x->r, p->info.idx_key, (void **)&text, &tlen, (size_t)1 << 30);
	if (rc == 0) {
		rc = mlops_pack_index_parse(&check, text, tlen, &p->info.idx_id);
		mlops_pack_index_free(check);
		free(text);
		if (rc == MLOPS_ECORRUPT) {
			mlops_error_wrap(rc, "remote '%s'", x->r->url);
			return cb(payload, (size_t)-1, MLOPS_ECORRUPT, NULL, 0);
		}
	}
	if (rc == MLOPS_ENOTFOUND)
		mlops_error_clear(); /* deleted since the listing */
	else if (rc < 0)
		return rc;
	if (!p->info.has_data) {
		int err = 0;
		for (size_t i = 0; i < p->index->count && err == 0; i++) {
			if (mlops_xfer_remote_has(x, &p->index->entries[i].id))
				continue; /* held elsewhere on the remote too */
			mlops_error_set(MLOPS_ENOTFOUND, "object %s is missing: remote '%s' has the "
					"index of pack %s and not its file '%s'",
					mlops_oid_fmt(hex, &p->index->entries[i].id), x->r->url,
					mlops_oid_fmt(what, &p->pack_id), p->info.pack_key);
			err = cb(payload, i, MLOPS_ENOTFOUND, NULL, 0);
		}
		return err;
	}
	int err = pack_data(x, k, &data, &len);
	if (err == 0 && !pack_name_ok(x, k))
		err = pack_fault(x, p, "its content does not match its name");
	if (err == MLOPS_ECORRUPT)
		return cb(payload, (size_t)-1, MLOPS_ECORRUPT, NULL, 0);
	if (err < 0)
		return err;
	snprintf(what, sizeof(what), "pack %.12s of remote '%s'", mlops_oid_fmt(hex, &p->pack_id),
		 x->r->url);
	for (size_t i = 0; i < p->index->count; i++) {
		const struct mlops_pack_entry *e = &p->index->entries[i];
		void *content;
		size_t clen;
		int owned;
		if (p->path)
			map_object_pages(data, e->offset, e->length);
		err = mlops_object_decode(&content, &clen, &owned, &e->id, e->codec, data + e->offset,
					  (size_t)e->length, 1, what);
		if (owned)
			free(content);
		if (p->path)
			drop_object_pages(data, e->offset, e->length);
		if (err < 0 && (err = cb(payload, i, err, NULL, 0)) < 0)
			break;
		err = 0;
	}
	rpack_release(p);
	rpack_drop_download(x, p);
	return err;
}

int mlops_xfer_delete(struct mlops_xfer *x, const char *const *keys, size_t n)
{
	int err = 0;
	for (size_t i = 0; i < n && err == 0; i++)
		err = x->r->remove(x->r, keys[i]);
	return err;
}

int mlops_xfer_clean(struct mlops_xfer *x, long long age, int dry_run, size_t *count)
{
	*count = 0;
	return x->r->clean ? x->r->clean(x->r, age, dry_run, count) : 0;
}

int mlops_remote_too_recent(long long mtime, long long cutoff, long long grace)
{
	return mtime > cutoff || (mtime <= 0 && grace > 0);
}

/* Forget what the session learnt about the remote (its epoch changed). */
static int forget(struct mlops_xfer *x)
{
	drop_learnt(x);
	int err;
	if ((err = mlops_oidmap_new(&x->known)) < 0 || (err = mlops_oidmap_new(&x->packed)) < 0 ||
	    (err = mlops_oidmap_new(&x->loose)) < 0)
		return err;
	return open_known(x);
}

int mlops_xfer_refresh(struct mlops_xfer *x)
{
	char was[sizeof(x->epoch)];
	memcpy(was, x->epoch, sizeof(was));
	int err = read_marker(x);
	if (err < 0)
		return err;
	if (!strcmp(was, x->epoch))
		return 0;
	return (err = forget(x)) < 0 ? err : 1;
}

int mlops_xfer_gc_begin(struct mlops_xfer *x)
{
	int err = write_marker(x, 1);
	return err < 0 ? err : forget(x);
}

int mlops_xfer_gc_end(struct mlops_xfer *x)
{
	int err = write_marker(x, 0);
	return err < 0 ? err : open_known(x);
}

int mlops_xfer_collecting(struct mlops_xfer *x, char *who, size_t len)
{
	char host[256];
	if (!x->collecting)
		return 0;
	mlops_host_name(host, sizeof(host));
	/* A killed gc's marker: its process is gone, or it began too long ago. */
	if ((!strcmp(host, x->gc_host) && x->gc_pid > 0 && kill((pid_t)x->gc_pid, 0) < 0 &&
	     errno == ESRCH) ||
	    (long long)time(NULL) - x->gc_started > MLOPS_XFER_GC_STALE)
		return 0;
	if (who) {
		char when[32] = "?";
		time_t t = (time_t)x->gc_started;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(who, len, "process %ld on %s, since %s", x->gc_pid, x->gc_host, when);
	}
	return 1;
}

int mlops_remote_known(unsigned char *present, struct mlops_repo *repo, const char *name,
		       const mlops_oid *ids, size_t n)
{
	char *dir = mlops_remote_state_dir(repo, name), *path = NULL, *text = NULL;
	size_t len = 0;
	int err = 0;
	memset(present, 0, n);
	if (!dir)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	/* The known file: a header line, then raw ids. */
	path = mlops_path_join(dir, "known");
	if (path && mlops_read_file(&text, &len, path) == 0) {
		char *nl = memchr(text, '\n', len);
		size_t off = nl ? (size_t)(nl - text) + 1 : len;
		for (; off + MLOPS_OID_RAWSZ <= len; off += MLOPS_OID_RAWSZ)
			for (size_t i = 0; i < n; i++)
				if (!present[i] && !memcmp(text + off, ids[i].id, MLOPS_OID_RAWSZ))
					present[i] = 1;
	}
	mlops_error_clear();
	free(text);
	free(path);
	/* The cached pack indexes. */
	char *packs = mlops_path_join(dir, "packs");
	DIR *d = packs ? opendir(packs) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".idx"))
			continue;
		char *p = mlops_path_join(packs, de->d_name), *data = NULL;
		size_t dlen;
		struct mlops_pack_index *idx = NULL;
		if (p && mlops_read_file(&data, &dlen, p) == 0 &&
		    mlops_pack_index_parse(&idx, data, dlen, NULL) == 0) {
			for (size_t i = 0; i < n; i++)
				if (!present[i] && mlops_pack_index_find(idx, &ids[i]))
					present[i] = 1;
		}
		mlops_error_clear();
		mlops_pack_index_free(idx);
		free(data);
		free(p);
	}
	if (d)
		closedir(d);
	free(packs);
	free(dir);
	return err;
}
