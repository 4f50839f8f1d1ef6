/*
 * deploy.c - model directories, releases (folder and reproducible
 * archive), deployment targets from the configuration, the per-target
 * history, deploy and rollback (see deploy.h for the layout and the
 * design notes).
 */
#include "core/deploy.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/registry.h"
#include "core/rev.h"
#include "store/dl_archive.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/oid.h"
#include "store/repo.h"
#include "store/tree.h"

#define RECORD "record.json"
#define MANIFEST "MANIFEST"
#define FEATURES "features.json"

static int oom(void)
{
	return mlops_error_set(MLOPS_ERROR, "out of memory");
}

/* ---- argument vectors ---- */

int mlops_argv_split(char ***out, const char *cmdline)
{
	size_t n = 0, cap = 8;
	char **argv = calloc(cap, sizeof(*argv));
	const char *p = cmdline ? cmdline : "";

	*out = NULL;
	if (!argv)
		return oom();
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		size_t len = strcspn(p, " \t\n\r");
		if (n + 2 > cap) {
			char **b = realloc(argv, (cap *= 2) * sizeof(*argv));
			if (!b)
				goto fail;
			argv = b;
		}
		if (!(argv[n++] = strndup(p, len)))
			goto fail;
		argv[n] = NULL;
		p += len;
	}
	if (!n) {
		free(argv);
		return mlops_error_set(MLOPS_EINVALID, "empty command");
	}
	*out = argv;
	return 0;
fail:
	mlops_argv_free(argv);
	return oom();
}

void mlops_argv_free(char **argv)
{
	if (!argv)
		return;
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* ---- model directories ---- */

void mlops_model_dir_free(struct mlops_model_dir *md)
{
	if (!md)
		return;
	for (size_t i = 0; i < md->nfiles; i++) {
		free(md->files[i]);
		free(md->sources[i]);
		if (md->digests)
			free(md->digests[i]);
	}
	free(md->files);
	free(md->sources);
	free(md->digests);
	free(md->modes);
	free(md->path);
	free(md->model_file);
	free(md->model_rel);
	free(md->features_file);
	free(md->name);
	free(md->version);
	free(md->predict);
	free(md);
}

/* SHA-256 of a file in hex. */
static int file_sha256(char hex[MLOPS_OID_HEXSZ + 1], const char *path)
{
	char buf[65536];
	struct mlops_hash *h;
	mlops_oid id;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return mlops_error_sys(errno, "unable to open '%s'", path);
	if (!(h = mlops_hash_new())) {
		close(fd);
		return oom();
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = mlops_error_sys(errno, "unable to read '%s'", path);
			break;
		}
		mlops_hash_update(h, buf, (size_t)n);
	}
	close(fd);
	mlops_hash_final(&id, h);
	mlops_hash_free(h);
	if (err == 0)
		mlops_oid_fmt(hex, &id);
	return err;
}

struct filelist {
	size_t n, cap;
	char **rel, **src;
	unsigned *mode;
};

static int filelist_add(struct filelist *l, const char *rel, const char *src, unsigned mode)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **a = realloc(l->rel, cap * sizeof(char *));
		if (a)
			l->rel = a;
		char **b = realloc(l->src, cap * sizeof(char *));
		if (b)
			l->src = b;
		unsigned *c = realloc(l->mode, cap * sizeof(unsigned));
		if (c)
			l->mode = c;
		if (!a || !b || !c)
			return oom();
		l->cap = cap;
	}
	l->rel[l->n] = strdup(rel);
	l->src[l->n] = strdup(src);
	l->mode[l->n] = mode;
	l->n++;
	return l->rel[l->n - 1] && l->src[l->n - 1] ? 0 : oom();
}

static void filelist_free(struct filelist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->rel[i]);
		free(l->src[i]);
	}
	free(l->rel);
	free(l->src);
	free(l->mode);
}

/*
 * Collect the regular files below dir (relative names under prefix).
 * Hidden entries and __pycache__ are skipped (strict: only __pycache__
 * folders, which Python writes where a predictor runs); links and special
 * files are refused.  At the top, record.json and MANIFEST are left out.
 */
static int scan_dir(struct filelist *l, const char *dir, const char *prefix, int depth,
		    int strict)
{
	DIR *d;
	struct dirent *e;
	int err = 0;

	if (depth > 32)
		return mlops_error_set(MLOPS_EINVALID, "'%s' is nested too deeply", dir);
	if (!(d = opendir(dir)))
		return mlops_error_sys(errno, "unable to read '%s'", dir);
	while (err == 0 && (e = readdir(d))) {
		struct stat st;
		char *src, *rel;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!strict && (e->d_name[0] == '.' || !strcmp(e->d_name, "__pycache__")))
			continue;
		if (!*prefix && (!strcmp(e->d_name, RECORD) || !strcmp(e->d_name, MANIFEST)))
			continue;
		src = mlops_path_join(dir, e->d_name);
		rel = *prefix ? mlops_strdupf("%s/%s", prefix, e->d_name) : strdup(e->d_name);
		if (!src || !rel)
			err = oom();
		else if (lstat(src, &st) < 0)
			err = mlops_error_sys(errno, "unable to stat '%s'", src);
		else if (S_ISDIR(st.st_mode) && strict && !strcmp(e->d_name, "__pycache__"))
			;
		else if (S_ISDIR(st.st_mode))
			err = scan_dir(l, src, rel, depth + 1, strict);
		else if (S_ISREG(st.st_mode))
			err = filelist_add(l, rel, src, (st.st_mode & 0111) ? 0755 : 0644);
		else
			err = mlops_error_set(MLOPS_EINVALID, "'%s' is not a regular file or folder: "
					      "a model folder holds only files", src);
		free(src);
		free(rel);
	}
	closedir(d);
	return err;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort the list by relative path, keeping the other arrays in step. */
static int filelist_sort(struct filelist *l)
{
	if (l->n < 2)
		return 0;
	char **idx = malloc((l->n + 1) * sizeof(char *));
	char **src = malloc((l->n + 1) * sizeof(char *));
	unsigned *mode = malloc((l->n + 1) * sizeof(unsigned));

	if (!idx || !src || !mode) {
		free(idx);
		free(src);
		free(mode);
		return oom();
	}
	memcpy(idx, l->rel, l->n * sizeof(char *));
	qsort(idx, l->n, sizeof(char *), str_cmp);
	for (size_t i = 0; i < l->n; i++)
		for (size_t k = 0; k < l->n; k++)
			if (l->rel[k] == idx[i]) {
				src[i] = l->src[k];
				mode[i] = l->mode[k];
				break;
			}
	free(l->rel);
	free(l->src);
	free(l->mode);
	l->rel = idx;
	l->src = src;
	l->mode = mode;
	return 0;
}

/* Versions and names end up in paths: [A-Za-z0-9._+-], not "." or "..". */
static int version_valid(const char *v)
{
	size_t n = strlen(v);
	if (!n || n > 128 || !strcmp(v, ".") || !strcmp(v, "..") || v[0] == '.')
		return 0;
	return strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-") == n;
}

static int read_record(cJSON **out, const char *dir)
{
	char *path = mlops_path_join(dir, RECORD), *text = NULL;
	size_t len;
	int err;

	*out = NULL;
	if (!path)
		return oom();
	err = mlops_read_file(&text, &len, path);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		err = 0;
		goto done;
	}
	if (err < 0)
		goto done;
	*out = cJSON_ParseWithLength(text, len);
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		err = mlops_error_set(MLOPS_EINVALID, "invalid release record '%s': not a JSON object",
				      path);
		goto done;
	}
	static const char *const keys[] = { "format", "name", "version", "model", "predict" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(*out, keys[i]);
		if (v && !cJSON_IsString(v)) {
			err = mlops_error_set(MLOPS_EINVALID, "invalid release record '%s': '%s' "
					      "must be a string", path, keys[i]);
			break;
		}
	}
	const char *fmt = mlops_json_str(*out, "format");
	if (err == 0 && fmt && strcmp(fmt, "mlops-release"))
		err = mlops_error_set(MLOPS_EINVALID, "invalid release record '%s': format '%s'",
				      path, fmt);
	const char *name = mlops_json_str(*out, "name"), *ver = mlops_json_str(*out, "version");
	if (err == 0 && name && !mlops_name_valid(name))
		err = mlops_error_set(MLOPS_EINVALID, "invalid release record '%s': bad name '%s'",
				      path, name);
	if (err == 0 && ver && !version_valid(ver))
		err = mlops_error_set(MLOPS_EINVALID, "invalid release record '%s': bad version '%s'",
				      path, ver);
	if (err < 0) {
		cJSON_Delete(*out);
		*out = NULL;
	}
done:
	free(path);
	free(text);
	return err;
}

/* The MANIFEST of the model's files only: what the default version hashes. */
static char *manifest_of(const struct mlops_model_dir *md, const char *record_hex)
{
	size_t cap = 1, at = 0;
	char *text;

	for (size_t i = 0; i < md->nfiles; i++)
		cap += strlen(md->files[i]) + MLOPS_OID_HEXSZ + 3;
	cap += sizeof(RECORD) + MLOPS_OID_HEXSZ + 3;
	if (!(text = malloc(cap)))
		return NULL;
	int rec_done = !record_hex;
	for (size_t i = 0; i < md->nfiles; i++) {
		if (!rec_done && strcmp(RECORD, md->files[i]) < 0) {
			at += (size_t)sprintf(text + at, "%s  %s\n", record_hex, RECORD);
			rec_done = 1;
		}
		at += (size_t)sprintf(text + at, "%s  %s\n", md->digests[i], md->files[i]);
	}
	if (!rec_done)
		at += (size_t)sprintf(text + at, "%s  %s\n", record_hex, RECORD);
	text[at] = '\0';
	return text;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static int open_file(struct mlops_model_dir *md, const char *path)
{
	char *real = realpath(path, NULL), *slash;
	struct filelist l = { 0 };
	int err;

	if (!real)
		return mlops_error_sys(errno, "unable to resolve '%s'", path);
	if ((err = filelist_add(&l, "model.json", real, 0644)) < 0)
		goto done;
	md->model_file = strdup(real);
	md->model_rel = strdup("model.json");
	slash = strrchr(real, '/');
	*slash = '\0';
	md->path = strdup(*real ? real : "/");
	/* The name: the file's without .json, or its folder's for model.json. */
	const char *b = base_name(path);
	size_t bl = strlen(b);
	char *name = bl > 5 && !strcmp(b + bl - 5, ".json") ? strndup(b, bl - 5) : strdup(b);
	if (name && !strcmp(name, "model")) {
		free(name);
		name = strdup(base_name(md->path));
	}
	if (name && !mlops_name_valid(name)) {
		free(name);
		name = strdup("model");
	}
	md->name = name;
	md->nfiles = l.n;
	md->files = l.rel;
	md->sources = l.src;
	md->modes = l.mode;
	memset(&l, 0, sizeof(l));
	if (!md->model_file || !md->model_rel || !md->path || !md->name)
		err = oom();
done:
	filelist_free(&l);
	free(real);
	return err;
}

static int open_dir(struct mlops_model_dir *md, const char *path, cJSON **record)
{
	struct filelist l = { 0 };
	int err;

	if (!(md->path = realpath(path, NULL)))
		return mlops_error_sys(errno, "unable to resolve '%s'", path);
	if ((err = read_record(record, md->path)) < 0)
		return err;
	if ((err = scan_dir(&l, md->path, "", 0, 0)) < 0 || (err = filelist_sort(&l)) < 0) {
		filelist_free(&l);
		return err;
	}
	md->nfiles = l.n;
	md->files = l.rel;
	md->sources = l.src;
	md->modes = l.mode;
	const char *rel = mlops_json_str(*record, "model");
	md->model_rel = strdup(rel ? rel : "model.json");
	const char *name = mlops_json_str(*record, "name");
	if (!name)
		name = mlops_name_valid(base_name(md->path)) ? base_name(md->path) : "model";
	md->name = strdup(name);
	if (!md->model_rel || !md->name)
		return oom();
	for (size_t i = 0; i < md->nfiles; i++) {
		if (!strcmp(md->files[i], md->model_rel) && !(md->model_file = strdup(md->sources[i])))
			return oom();
		if (!strcmp(md->files[i], FEATURES) && !(md->features_file = strdup(md->sources[i])))
			return oom();
	}
	return 0;
}

int mlops_model_dir_open(struct mlops_model_dir **out, const char *path, const char *predict)
{
	struct mlops_model_dir *md = calloc(1, sizeof(*md));
	cJSON *record = NULL;
	char *cur = NULL;
	struct stat st;
	int err;

	*out = NULL;
	if (!md)
		return oom();
	if (stat(path, &st) < 0) {
		err = errno == ENOENT ? mlops_error_set(MLOPS_ENOTFOUND, "no model at '%s'", path) :
		      mlops_error_sys(errno, "unable to stat '%s'", path);
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		/* The folder of a dir target stands for its current release. */
		char *mj = mlops_path_join(path, "model.json"), *rj = mlops_path_join(path, RECORD);
		cur = mlops_path_join(path, "current");
		struct stat cs;
		if (mj && rj && cur && access(mj, F_OK) < 0 && access(rj, F_OK) < 0 &&
		    stat(cur, &cs) == 0 && S_ISDIR(cs.st_mode))
			path = cur;
		free(mj);
		free(rj);
		err = open_dir(md, path, &record);
	} else if (S_ISREG(st.st_mode)) {
		err = open_file(md, path);
	} else {
		err = mlops_error_set(MLOPS_EINVALID, "'%s' is neither a model folder nor a model file",
				      path);
	}
	if (err < 0)
		goto fail;
	if (predict || mlops_json_str(record, "predict")) {
		/* A predictor command makes it a predictor model. */
		if (!(md->predict = strdup(predict ? predict : mlops_json_str(record, "predict")))) {
			err = oom();
			goto fail;
		}
		free(md->model_file);
		md->model_file = NULL;
	} else if (!md->model_file) {
		err = mlops_error_set(MLOPS_EINVALID, "'%s' holds neither %s nor a predictor command",
				      path, md->model_rel);
		goto fail;
	}
	if (!(md->digests = calloc(md->nfiles + 1, sizeof(char *)))) {
		err = oom();
		goto fail;
	}
	for (size_t i = 0; i < md->nfiles; i++) {
		if (!(md->digests[i] = malloc(MLOPS_OID_HEXSZ + 1))) {
			err = oom();
			goto fail;
		}
		if ((err = file_sha256(md->digests[i], md->sources[i])) < 0)
			goto fail;
	}
	const char *ver = mlops_json_str(record, "version");
	md->from_record = mlops_json_str(record, "name") && ver;
	if (ver) {
		md->version = strdup(ver);
	} else {
		char *m = manifest_of(md, NULL);
		mlops_oid id;
		char hex[MLOPS_OID_HEXSZ + 1];
		if (m) {
			mlops_hash_buf(&id, m, strlen(m));
			md->version = strndup(mlops_oid_fmt(hex, &id), 12);
		}
		free(m);
	}
	if (!md->version) {
		err = oom();
		goto fail;
	}
	cJSON_Delete(record);
	free(cur);
	*out = md;
	return 0;
fail:
	cJSON_Delete(record);
	free(cur);
	mlops_model_dir_free(md);
	return err;
}

static void remove_tree(const char *path);

/*
 * The fitted transforms of the feature set a model version was trained
 * on, as features.json in dir: nothing when its run had no feature-set
 * input, several of them, or dir has the file already.
 */
static int write_features(struct mlops_repo *repo, const cJSON *record, const char *dir)
{
	const cJSON *in, *fin = NULL;
	cJSON *fs = NULL, *doc = NULL;
	char *path = NULL, *text = NULL;
	mlops_oid fid;
	size_t nfs = 0;
	int err = 0;

	cJSON_ArrayForEach(in, cJSON_GetObjectItemCaseSensitive(record, "inputs")) {
		const char *type = mlops_json_str(in, "type");
		if (type && !strcmp(type, "feature-set")) {
			fin = in;
			nfs++;
		}
	}
	if (nfs != 1)
		return 0;
	if (!(path = mlops_path_join(dir, FEATURES)))
		return oom();
	if (access(path, F_OK) == 0)
		goto done;
	const char *fname = mlops_json_str(fin, "name");
	if (mlops_json_get_oid(&fid, fin, "record") < 0 ||
	    (err = mlops_json_load(&fs, repo->odb, &fid)) < 0) {
		err = mlops_error_wrap(err < 0 ? err : MLOPS_ECORRUPT,
				       "the feature set '%s' the model was trained on",
				       fname ? fname : "?");
		goto done;
	}
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(fs, "params");
	if (!cJSON_IsObject(params)) {
		err = mlops_error_set(MLOPS_ECORRUPT, "the feature set '%s' the model was trained on "
				      "has no fitted parameters", fname ? fname : "?");
		goto done;
	}
	if (!(doc = cJSON_CreateObject())) {
		err = oom();
		goto done;
	}
	cJSON_AddStringToObject(doc, "format", "mlops-features");
	cJSON_AddStringToObject(doc, "name", mlops_json_str(fs, "name") ? mlops_json_str(fs, "name") : "");
	cJSON_AddNumberToObject(doc, "version", mlops_json_num(fs, "version", 0));
	mlops_json_add_oid(doc, "record", &fid);
	cJSON_AddItemToObject(doc, "params", cJSON_Duplicate(params, 1));
	if ((err = mlops_json_canonical(&text, doc)) < 0)
		goto done;
	size_t len = strlen(text);
	char *t = realloc(text, len + 2);
	if (!t) {
		err = oom();
		goto done;
	}
	text = t;
	text[len++] = '\n';
	err = mlops_write_file_atomic(path, text, len, repo->tmpdir, 0);
done:
	cJSON_Delete(doc);
	cJSON_Delete(fs);
	free(text);
	free(path);
	return err;
}

/*
 * Materialise a registered model version's artifact into a folder of its
 * own below .mlops/tmp (built under a temporary name, then renamed, so a
 * folder that exists is complete).  *dir is the caller's.
 */
static int registered_model_dir(char **dir, struct mlops_repo *repo, const cJSON *record,
				const mlops_oid *id, const char *version)
{
	char hex[MLOPS_OID_HEXSZ + 1], *tmp = NULL, *target = NULL, *text = NULL;
	struct mlops_node art;
	struct stat st;
	int err;
	*dir = NULL;
	const char *name = mlops_json_str(record, "name");
	if (!name || mlops_node_from_json(&art, cJSON_GetObjectItemCaseSensitive(record, "artifact")) < 0)
		return mlops_error_set(MLOPS_ECORRUPT, "model record %s has no artifact",
				       mlops_oid_fmt(hex, id));
	mlops_oid_fmt(hex, id);
	target = mlops_strdupf("%s/model-%s", repo->tmpdir, hex);
	if (!target)
		return oom();
	if (stat(target, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* Folders made before models carried their transforms get them. */
		if ((err = write_features(repo, record, target)) < 0) {
			free(target);
			return err;
		}
		*dir = target;
		return 0;
	}
	tmp = mlops_strdupf("%s/model-%s.%ld", repo->tmpdir, hex, (long)getpid());
	if (!tmp) {
		free(target);
		return oom();
	}
	if ((err = mlops_mkdir_p(tmp)) < 0)
		goto done;
	const char *fname = mlops_json_str(record, "artifact_name");
	char *dest = art.kind == MLOPS_KIND_TREE ? strdup(tmp) :
		     mlops_strdupf("%s/%s", tmp, fname && !strchr(fname, '/') && *fname != '.' ?
				   fname : "model.json");
	if (!dest) {
		err = oom();
		goto done;
	}
	err = mlops_tree_checkout(repo->odb, NULL, &art, dest, NULL, NULL);
	free(dest);
	if (err == 0)
		err = write_features(repo, record, tmp);
	if (err < 0)
		goto done;
	cJSON *rec = cJSON_CreateObject();
	if (!rec) {
		err = oom();
		goto done;
	}
	cJSON_AddStringToObject(rec, "name", name);
	cJSON_AddStringToObject(rec, "version", version);
	const char *predict = mlops_json_str(record, "predict");
	if (predict)
		cJSON_AddStringToObject(rec, "predict", predict);
	err = mlops_json_canonical(&text, rec);
	cJSON_Delete(rec);
	if (err == 0) {
		char *p = mlops_strdupf("%s/" RECORD, tmp);
		err = p ? mlops_write_file_atomic(p, text, strlen(text), repo->tmpdir, 0) : oom();
		free(p);
	}
	if (err == 0 && rename(tmp, target) < 0 && errno != ENOTEMPTY && errno != EEXIST)
		err = mlops_error_sys(errno, "unable to move '%s' into place", tmp);
done:
	if (err < 0 || stat(tmp, &st) == 0) {
		/* failed, or another process won the rename: remove ours */
		remove_tree(tmp);
	}
	free(text);
	free(tmp);
	if (err < 0) {
		free(target);
		return err;
	}
	*dir = target;
	return 0;
}

int mlops_model_dir_resolve(struct mlops_model_dir **out, struct mlops_repo *repo, const char *rev,
			const char *predict)
{
	struct mlops_rev r;
	struct stat st;
	int err;

	*out = NULL;
	if (stat(rev, &st) == 0 || strchr(rev, '/'))
		return mlops_model_dir_open(out, rev, predict);
	if ((err = mlops_rev_parse(&r, rev)) < 0)
		return mlops_error_wrap(err, "no model folder or file '%s', and not a revision", rev);
	if (!repo)
		return mlops_error_set(MLOPS_ENOTFOUND, "no model folder or file '%s', and no "
				       "mlops repository here to find it in the model registry", rev);
	cJSON *record = NULL;
	mlops_oid id;
	char *version = NULL, *dir = NULL;
	if ((err = mlops_model_resolve(&record, &id, &version, repo, rev)) < 0)
		return err;
	err = registered_model_dir(&dir, repo, record, &id, version);
	if (err == 0)
		err = mlops_model_dir_open(out, dir, predict);
	if (err == 0) {
		(*out)->registered = 1;
		err = mlops_model_version_deprecated(&(*out)->deprecated, repo,
						     mlops_json_str(record, "name"), version);
		if (err < 0) {
			mlops_model_dir_free(*out);
			*out = NULL;
		}
	}
	free(dir);
	free(version);
	cJSON_Delete(record);
	return err;
}

/* ---- releases ---- */

/* The release record of md (canonical JSON); caller frees. */
static char *record_text(const struct mlops_model_dir *md)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "format", "mlops-release");
	cJSON_AddStringToObject(o, "name", md->name);
	cJSON_AddStringToObject(o, "version", md->version);
	if (md->model_file)
		cJSON_AddStringToObject(o, "model", md->model_rel);
	if (md->predict)
		cJSON_AddStringToObject(o, "predict", md->predict);
	/* The files with an executable bit, when there are any (so the record,
	 * and the release's ID, of a model without one is what it was). */
	cJSON *exec = NULL;
	int fail = 0;
	for (size_t i = 0; !fail && i < md->nfiles; i++) {
		if (!(md->modes[i] & 0111))
			continue;
		if (!exec && !(exec = cJSON_AddArrayToObject(o, "executable")))
			fail = 1;
		cJSON *f = fail ? NULL : cJSON_CreateString(md->files[i]);
		if (!f || !cJSON_AddItemToArray(exec, f)) {
			cJSON_Delete(f);
			fail = 1;
		}
	}
	if (fail || mlops_json_canonical(&text, o) < 0)
		text = NULL;
	cJSON_Delete(o);
	if (text) {
		size_t n = strlen(text);
		char *t = realloc(text, n + 2);
		if (!t) {
			free(text);
			return NULL;
		}
		t[n] = '\n';
		t[n + 1] = '\0';
		text = t;
	}
	return text;
}

/* Record and MANIFEST texts of md's release. */
static int release_texts(char **record, char **manifest, const struct mlops_model_dir *md)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	mlops_oid id;

	*manifest = NULL;
	if (!(*record = record_text(md)))
		return oom();
	mlops_hash_buf(&id, *record, strlen(*record));
	if (!(*manifest = manifest_of(md, mlops_oid_fmt(hex, &id)))) {
		free(*record);
		*record = NULL;
		return oom();
	}
	return 0;
}

static int copy_file(const char *src, const char *dst, unsigned mode)
{
	char buf[65536];
	int in = open(src, O_RDONLY | O_CLOEXEC), o, err = 0;
	ssize_t n;

	if (in < 0)
		return mlops_error_sys(errno, "unable to open '%s'", src);
	o = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (o < 0) {
		err = mlops_error_sys(errno, "unable to create '%s'", dst);
		close(in);
		return err;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = mlops_error_sys(errno, "unable to read '%s'", src);
			break;
		}
		if (mlops_write_all(o, buf, (size_t)n) < 0) {
			err = mlops_error_sys(errno, "unable to write '%s'", dst);
			break;
		}
	}
	if (err == 0 && fsync(o) < 0)
		err = mlops_error_sys(errno, "unable to write '%s'", dst);
	close(in);
	if (close(o) < 0 && err == 0)
		err = mlops_error_sys(errno, "unable to write '%s'", dst);
	return err;
}

static int write_text(const char *dir, const char *name, const char *text)
{
	char *p = mlops_path_join(dir, name);
	int fd, err = 0;

	if (!p)
		return oom();
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || mlops_write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0)
		err = mlops_error_sys(errno, "unable to write '%s'", p);
	if (fd >= 0 && close(fd) < 0 && err == 0)
		err = mlops_error_sys(errno, "unable to write '%s'", p);
	free(p);
	return err;
}

/* Remove a folder tree (a failed temporary release). */
static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char *p = mlops_path_join(path, e->d_name);
			struct stat st;
			if (p && lstat(p, &st) == 0) {
				if (S_ISDIR(st.st_mode))
					remove_tree(p);
				else
					unlink(p);
			}
			free(p);
		}
		closedir(d);
	}
	rmdir(path);
}

int mlops_release_write(const struct mlops_model_dir *md, const char *dest)
{
	char *tmp = mlops_strdupf("%s.tmp-XXXXXX", dest), *record = NULL, *manifest = NULL;
	int err = 0;

	if (!tmp)
		return oom();
	if (!mkdtemp(tmp)) {
		err = mlops_error_sys(errno, "unable to create '%s'", tmp);
		free(tmp);
		return err;
	}
	chmod(tmp, 0755 & ~mlops_umask());
	for (size_t i = 0; err == 0 && i < md->nfiles; i++) {
		char *dst = mlops_path_join(tmp, md->files[i]), *slash;
		if (!dst) {
			err = oom();
			break;
		}
		slash = strrchr(dst, '/');
		*slash = '\0';
		err = mlops_mkdir_p(dst);
		*slash = '/';
		if (err == 0)
			err = copy_file(md->sources[i], dst, md->modes[i]);
		free(dst);
	}
	if (err == 0)
		err = release_texts(&record, &manifest, md);
	if (err == 0)
		err = write_text(tmp, RECORD, record);
	if (err == 0)
		err = write_text(tmp, MANIFEST, manifest);
	if (err == 0)
		err = mlops_fsync_dir(tmp);
	if (err == 0 && rename(tmp, dest) < 0)
		err = mlops_error_sys(errno, "unable to rename '%s' to '%s'", tmp, dest);
	if (err < 0)
		remove_tree(tmp);
	free(record);
	free(manifest);
	free(tmp);
	return err;
}

static int archive_add(struct archive *a, const char *name, const void *data, size_t len,
		       unsigned mode, const char *path)
{
	struct archive_entry *e = archive_entry_new();
	int err = 0;

	if (!e)
		return oom();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, mode);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (len && archive_write_data(a, data, len) != (la_ssize_t)len))
		err = mlops_error_set(MLOPS_EIO, "unable to write '%s': %s", path,
				      archive_error_string(a));
	archive_entry_free(e);
	return err;
}

int mlops_release_archive(char *sha256_hex, const struct mlops_model_dir *md, const char *path)
{
	char *tmp = mlops_strdupf("%s.tmp-XXXXXX", path), *record = NULL, *manifest = NULL;
	char *prefix = mlops_strdupf("%s-%s/", md->name, md->version);
	struct archive *a = NULL;
	const char *names[3] = { MANIFEST, RECORD, NULL };
	int fd = -1, err = 0;

	if (!tmp || !prefix) {
		err = oom();
		goto done;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		err = mlops_error_sys(errno, "unable to create '%s'", tmp);
		goto done;
	}
	mlops_tempfile_register(tmp);
	fchmod(fd, 0644 & ~mlops_umask());
	if ((err = release_texts(&record, &manifest, md)) < 0)
		goto done;
	if ((err = mlops_archive_load()) < 0)
		goto done;
	a = archive_write_new();
	if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_set_filter_option(a, "gzip", "timestamp", NULL) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
	    archive_write_open_fd(a, fd) != ARCHIVE_OK) {
		err = mlops_error_set(MLOPS_EIO, "unable to write '%s': %s", path,
				      a ? archive_error_string(a) : "out of memory");
		goto done;
	}
	/* Entries in path order: the model's files merged with MANIFEST and record.json. */
	size_t i = 0, k = 0;
	while (err == 0 && (i < md->nfiles || names[k])) {
		int take_file = names[k] == NULL ||
				(i < md->nfiles && strcmp(md->files[i], names[k]) < 0);
		char *entry = mlops_strdupf("%s%s", prefix, take_file ? md->files[i] : names[k]);
		if (!entry) {
			err = oom();
			break;
		}
		if (take_file) {
			char *data = NULL;
			size_t len = 0;
			if ((err = mlops_read_file(&data, &len, md->sources[i])) == 0)
				err = archive_add(a, entry, data, len, md->modes[i], path);
			free(data);
			i++;
		} else {
			const char *text = !strcmp(names[k], MANIFEST) ? manifest : record;
			err = archive_add(a, entry, text, strlen(text), 0644, path);
			k++;
		}
		free(entry);
	}
	if (err == 0 && archive_write_close(a) != ARCHIVE_OK)
		err = mlops_error_set(MLOPS_EIO, "unable to write '%s': %s", path,
				      archive_error_string(a));
	if (err == 0 && fsync(fd) < 0)
		err = mlops_error_sys(errno, "unable to write '%s'", tmp);
	if (err == 0 && (err = file_sha256(sha256_hex, tmp)) == 0 && rename(tmp, path) < 0)
		err = mlops_error_sys(errno, "unable to rename '%s' to '%s'", tmp, path);
done:
	if (a)
		archive_write_free(a);
	if (fd >= 0)
		close(fd);
	if (tmp && fd >= 0) {
		if (err < 0)
			unlink(tmp);
		mlops_tempfile_forget(tmp);
	}
	free(tmp);
	free(prefix);
	free(record);
	free(manifest);
	return err;
}

/* ---- targets ---- */

const char *mlops_deploy_kind_name(enum mlops_deploy_kind kind)
{
	switch (kind) {
	case MLOPS_DEPLOY_DIR: return "dir";
	case MLOPS_DEPLOY_ARCHIVE: return "archive";
	default: return "command";
	}
}

void mlops_deploy_target_free(struct mlops_deploy_target *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->path);
	free(t->command);
	free(t->stage);
	free(t->predict);
	free(t->problem);
	free(t);
}

void mlops_deploy_targets_free(struct mlops_deploy_target **t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mlops_deploy_target_free(t[i]);
	free(t);
}

/* deploy.<name>.<key> as a string; *out NULL when unset. */
static int target_key(char **out, struct mlops_repo *repo, const char *name, const char *key)
{
	char *k = mlops_strdupf("deploy.%s.%s", name, key);
	int err;

	*out = NULL;
	if (!k)
		return oom();
	err = mlops_config_get_string(out, repo, k);
	free(k);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		return 0;
	}
	return err;
}

int mlops_deploy_target_get(struct mlops_deploy_target **out, struct mlops_repo *repo,
			    const char *name)
{
	struct mlops_deploy_target *t;
	char *type = NULL, *path = NULL;
	int err;

	*out = NULL;
	if (!mlops_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "invalid target name '%s'", name);
	if (!(t = calloc(1, sizeof(*t))) || !(t->name = strdup(name))) {
		free(t);
		return oom();
	}
	if ((err = target_key(&type, repo, name, "type")) < 0 ||
	    (err = target_key(&path, repo, name, "path")) < 0 ||
	    (err = target_key(&t->command, repo, name, "command")) < 0 ||
	    (err = target_key(&t->stage, repo, name, "stage")) < 0 ||
	    (err = target_key(&t->predict, repo, name, "predict")) < 0)
		goto fail;
	if (!type && !path && !t->command) {
		err = mlops_error_set(MLOPS_ENOTFOUND, "no deploy target '%s'", name);
		goto fail;
	}
	if (!type) {
		err = mlops_error_set(MLOPS_EINVALID, "deploy target '%s' has no type "
				      "(deploy.%s.type: dir, archive or command)", name, name);
		goto fail;
	}
	if (!strcmp(type, "dir"))
		t->kind = MLOPS_DEPLOY_DIR;
	else if (!strcmp(type, "archive"))
		t->kind = MLOPS_DEPLOY_ARCHIVE;
	else if (!strcmp(type, "command"))
		t->kind = MLOPS_DEPLOY_COMMAND;
	else {
		err = mlops_error_set(MLOPS_EINVALID, "deploy target '%s' has unknown type '%s' "
				      "(dir, archive or command)", name, type);
		goto fail;
	}
	if (t->kind == MLOPS_DEPLOY_COMMAND) {
		char **argv;
		if (!t->command) {
			err = mlops_error_set(MLOPS_EINVALID, "deploy target '%s' needs deploy.%s.command",
					      name, name);
			goto fail;
		}
		if ((err = mlops_argv_split(&argv, t->command)) < 0) {
			mlops_error_wrap(err, "deploy target '%s'", name);
			goto fail;
		}
		mlops_argv_free(argv);
	} else {
		if (!path || !*path) {
			err = mlops_error_set(MLOPS_EINVALID, "deploy target '%s' needs deploy.%s.path",
					      name, name);
			goto fail;
		}
		t->path = path[0] == '/' ? strdup(path) : mlops_path_join(repo->workdir, path);
		if (!t->path) {
			err = oom();
			goto fail;
		}
	}
	free(type);
	free(path);
	*out = t;
	return 0;
fail:
	free(type);
	free(path);
	mlops_deploy_target_free(t);
	return err;
}

int mlops_deploy_targets(struct mlops_deploy_target ***out, size_t *n, struct mlops_repo *repo)
{
	git_config_iterator *it = NULL;
	git_config_entry *e;
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct mlops_deploy_target **ts = NULL;
	int err = 0, rc;

	*out = NULL;
	*n = 0;
	/* A plain iterator: libgit2's glob iterator leaks its regex matcher. */
	git_config *cfg = mlops_repo_config(repo);
	if (!cfg)
		return MLOPS_EINVALID; /* the message says why */
	if (git_config_iterator_new(&it, cfg) < 0)
		return mlops_git_error(MLOPS_ERROR, "unable to read the configuration");
	while ((rc = git_config_next(&e, it)) == 0) {
		const char *first = strchr(e->name, '.'), *last = strrchr(e->name, '.');
		if (strncmp(e->name, "deploy.", 7) || !first || last <= first + 1)
			continue;
		char *name = strndup(first + 1, (size_t)(last - first - 1));
		int dup = 0;
		if (!name) {
			err = oom();
			break;
		}
		for (size_t i = 0; i < count; i++)
			dup |= !strcmp(names[i], name);
		if (dup) {
			free(name);
			continue;
		}
		if (count == cap) {
			char **b = realloc(names, (cap = cap ? cap * 2 : 8) * sizeof(char *));
			if (!b) {
				free(name);
				err = oom();
				break;
			}
			names = b;
		}
		names[count++] = name;
	}
	git_config_iterator_free(it);
	if (err == 0 && count)
		qsort(names, count, sizeof(char *), str_cmp);
	if (err == 0 && !(ts = calloc(count + 1, sizeof(*ts))))
		err = oom();
	for (size_t i = 0; err == 0 && i < count; i++) {
		err = mlops_deploy_target_get(&ts[i], repo, names[i]);
		if (err != MLOPS_EINVALID && err != MLOPS_EUSAGE)
			continue;
		/* One target's mistake does not hide the others. */
		if (!(ts[i] = calloc(1, sizeof(*ts[i]))) || !(ts[i]->name = strdup(names[i])) ||
		    !(ts[i]->problem = strdup(mlops_error_message()))) {
			err = oom();
			break;
		}
		mlops_error_clear();
		err = 0;
	}
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
	if (err < 0) {
		mlops_deploy_targets_free(ts, count);
		return err;
	}
	*out = ts;
	*n = count;
	return 0;
}

/* ---- history ---- */

void mlops_deployment_free(struct mlops_deployment *d)
{
	if (!d)
		return;
	free(d->user);
	free(d->host);
	free(d->target);
	free(d->kind);
	free(d->action);
	free(d->model);
	free(d->version);
	free(d->source);
	free(d->previous);
	free(d->previous_model);
	free(d->previous_release);
	free(d->release);
	free(d->location);
	free(d->checksum);
	free(d->error);
	free(d);
}

void mlops_deployments_free(struct mlops_deployment **d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mlops_deployment_free(d[i]);
	free(d);
}

static void add_str(cJSON *o, const char *key, const char *v)
{
	cJSON_AddItemToObject(o, key, v ? cJSON_CreateString(v) : cJSON_CreateNull());
}

cJSON *mlops_deployment_to_json(const struct mlops_deployment *d)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "time", (double)d->time);
	add_str(o, "user", d->user);
	add_str(o, "host", d->host);
	add_str(o, "target", d->target);
	add_str(o, "type", d->kind);
	add_str(o, "action", d->action);
	add_str(o, "model", d->model);
	add_str(o, "version", d->version);
	add_str(o, "source", d->source);
	add_str(o, "previous", d->previous);
	add_str(o, "previous_model", d->previous_model);
	add_str(o, "previous_release", d->previous_release);
	add_str(o, "release", d->release);
	add_str(o, "location", d->location);
	add_str(o, "checksum", d->checksum);
	cJSON_AddBoolToObject(o, "ok", d->ok);
	add_str(o, "error", d->error);
	return o;
}

static char *dup_json_str(const cJSON *o, const char *key)
{
	const char *s = mlops_json_str(o, key);
	return s ? strdup(s) : NULL;
}

static struct mlops_deployment *deployment_from_json(const cJSON *o)
{
	struct mlops_deployment *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->time = (long long)mlops_json_num(o, "time", 0);
	d->user = dup_json_str(o, "user");
	d->host = dup_json_str(o, "host");
	d->target = dup_json_str(o, "target");
	d->kind = dup_json_str(o, "type");
	d->action = dup_json_str(o, "action");
	d->model = dup_json_str(o, "model");
	d->version = dup_json_str(o, "version");
	d->source = dup_json_str(o, "source");
	d->previous = dup_json_str(o, "previous");
	d->previous_model = dup_json_str(o, "previous_model");
	d->previous_release = dup_json_str(o, "previous_release");
	d->release = dup_json_str(o, "release");
	d->location = dup_json_str(o, "location");
	d->checksum = dup_json_str(o, "checksum");
	d->error = dup_json_str(o, "error");
	d->ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"));
	return d;
}

/* .mlops/deploy/<target>[/<rel>] */
static char *target_dir(struct mlops_repo *repo, const char *name, const char *rel)
{
	return rel ? mlops_strdupf("%s/deploy/%s/%s", repo->dir, name, rel) :
		     mlops_strdupf("%s/deploy/%s", repo->dir, name);
}

int mlops_deploy_history(struct mlops_deployment ***out, size_t *n, struct mlops_repo *repo,
			 const char *name)
{
	char *path, *text = NULL;
	size_t len, count = 0, lines = 0, lineno = 0;
	struct mlops_deployment **list = NULL;
	int err;

	*out = NULL;
	*n = 0;
	if (!mlops_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "invalid target name '%s'", name);
	if (!(path = target_dir(repo, name, "history")))
		return oom();
	err = mlops_read_file(&text, &len, path);
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		free(path);
		*out = calloc(1, sizeof(**out));
		return *out ? 0 : oom();
	}
	if (err < 0)
		goto done;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if (!(list = calloc(lines + 2, sizeof(*list)))) {
		err = oom();
		goto done;
	}
	for (char *p = text, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		lineno++;
		if (!nl)
			break; /* a line cut by a crash: not a record */
		cJSON *o = cJSON_ParseWithLength(p, (size_t)(nl - p));
		if (!cJSON_IsObject(o)) {
			cJSON_Delete(o);
			err = mlops_error_set(MLOPS_ECORRUPT, "'%s' line %zu is not a JSON object", path,
					      lineno);
			break;
		}
		list[count] = deployment_from_json(o);
		cJSON_Delete(o);
		if (!list[count++]) {
			err = oom();
			break;
		}
	}
done:
	if (err < 0) {
		mlops_deployments_free(list, count);
	} else {
		*out = list;
		*n = count;
	}
	free(text);
	free(path);
	return err;
}

int mlops_deploy_live(struct mlops_deployment **out, struct mlops_repo *repo, const char *name)
{
	struct mlops_deployment **h;
	size_t n;
	int err = mlops_deploy_history(&h, &n, repo, name);

	*out = NULL;
	if (err < 0)
		return err;
	for (size_t i = n; i-- > 0;) {
		if (h[i]->ok) {
			*out = h[i];
			h[i] = NULL;
			break;
		}
	}
	mlops_deployments_free(h, n);
	return 0;
}

static int history_append(struct mlops_repo *repo, const struct mlops_deployment *d)
{
	char *path = target_dir(repo, d->target, "history"), *line = NULL;
	cJSON *o = mlops_deployment_to_json(d);
	int fd = -1, err = 0;

	if (!path || !o || !(line = cJSON_PrintUnformatted(o))) {
		err = oom();
		goto done;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	size_t len = strlen(line);
	line[len] = '\n';
	if (fd < 0 || mlops_write_all(fd, line, len + 1) < 0 || fsync(fd) < 0)
		err = mlops_error_sys(errno, "unable to write '%s'", path);
done:
	if (fd >= 0)
		close(fd);
	cJSON_Delete(o);
	free(line);
	free(path);
	return err;
}

/* Take the target's lock (flock: released when the process ends). */
static int target_lock(int *fd_out, struct mlops_repo *repo, const char *name)
{
	char *dir = target_dir(repo, name, NULL), *path = target_dir(repo, name, "lock");
	int fd = -1, err = 0;

	*fd_out = -1;
	if (!dir || !path) {
		err = oom();
		goto done;
	}
	if ((err = mlops_mkdir_p(dir)) < 0)
		goto done;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		err = mlops_error_sys(errno, "unable to open '%s'", path);
		goto done;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		err = errno == EWOULDBLOCK ?
		      mlops_error_set(MLOPS_ELOCKED, "another deployment to '%s' is running", name) :
		      mlops_error_sys(errno, "unable to lock '%s'", path);
		close(fd);
		goto done;
	}
	*fd_out = fd;
done:
	free(dir);
	free(path);
	return err;
}

/* ---- deploying ---- */

/*
 * The name of md's release folder: NAME-VERSION-ID, ID the first 12 hex
 * digits of the SHA-256 of its MANIFEST (which lists the checksum of every
 * file, record.json included).  Two models, or two contents under one
 * version, never share a folder.  *manifest (when not NULL) receives the
 * MANIFEST text; both are the caller's.
 */
static int release_name(char **out, char **manifest, const struct mlops_model_dir *md)
{
	char *record = NULL, *man = NULL, hex[MLOPS_OID_HEXSZ + 1];
	mlops_oid id;
	int err;

	*out = NULL;
	if (manifest)
		*manifest = NULL;
	if ((err = release_texts(&record, &man, md)) < 0)
		return err;
	mlops_hash_buf(&id, man, strlen(man));
	mlops_oid_fmt(hex, &id);
	*out = mlops_strdupf("%s-%s-%.12s", md->name, md->version, hex);
	free(record);
	if (!*out) {
		free(man);
		return oom();
	}
	if (manifest)
		*manifest = man;
	else
		free(man);
	return 0;
}

/* 1 when the release record's "executable" list names rel. */
static int record_lists_exec(const cJSON *exec, const char *rel)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, exec)
		if (cJSON_IsString(f) && !strcmp(f->valuestring, rel))
			return 1;
	return 0;
}

static int hash_chunk(const void *data, size_t len, void *payload)
{
	mlops_hash_update(payload, data, len);
	return 0;
}

/* 1 when the stored file node holds the content whose SHA-256 is hex. */
static int node_content_is(struct mlops_repo *repo, const struct mlops_node *node,
			   const char *hex)
{
	char have[MLOPS_OID_HEXSZ + 1];
	mlops_oid id;

	if (node->kind == MLOPS_KIND_BLOB)
		return !strncmp(mlops_oid_fmt(have, &node->id), hex, MLOPS_OID_HEXSZ);
	if (node->kind != MLOPS_KIND_CHUNKS)
		return 0;
	/* A chunk list's id is the list's: hash the content itself. */
	struct mlops_hash *h = mlops_hash_new();
	if (!h)
		return 0;
	int err = mlops_tree_file_stream(repo->odb, node, hash_chunk, h);
	mlops_hash_final(&id, h);
	mlops_hash_free(h);
	return err == 0 && !strncmp(mlops_oid_fmt(have, &id), hex, MLOPS_OID_HEXSZ);
}

static int tree_file_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mlops_tree_file *)a)->path,
		      ((const struct mlops_tree_file *)b)->path);
}

/* Where a release came from, for checking a release record of older builds. */
struct release_origin {
	struct mlops_repo *repo;
	const char *target;  /* whose history names the model it was made from */
};

/* A new array of the names among files[] whose modes[] have an executable bit. */
static int exec_array(cJSON **out, char *const *files, const unsigned *modes, size_t n)
{
	if (!(*out = cJSON_CreateArray()))
		return oom();
	for (size_t i = 0; i < n; i++) {
		if (!(modes[i] & 0111))
			continue;
		cJSON *s = cJSON_CreateString(files[i]);
		if (!s || !cJSON_AddItemToArray(*out, s)) {
			cJSON_Delete(s);
			cJSON_Delete(*out);
			*out = NULL;
			return oom();
		}
	}
	return 0;
}

/*
 * From the registered version the record names (NAME@VERSION), whose
 * artifact in the store keeps each file's mode: when every file of the
 * release is the artifact's file of that path with the same content
 * (features.json apart, which materialising a version writes without an
 * executable bit).  *out stays NULL otherwise.
 */
static int registered_exec_list(cJSON **out, struct mlops_repo *repo, const cJSON *rec,
				char *const *listed, size_t nlisted)
{
	const char *name = mlops_json_str(rec, "name"), *version = mlops_json_str(rec, "version");
	struct mlops_tree_list files = { 0 };
	struct mlops_node art;
	cJSON *record = NULL;
	char *rev = NULL, *found = NULL, **rel = NULL;
	unsigned *modes = NULL;
	int err = 0, same = 1;

	if (!name || !version)
		return 0;
	if (!(rev = mlops_strdupf("%s@%s", name, version)))
		return oom();
	if (mlops_model_resolve(&record, NULL, &found, repo, rev) < 0 || strcmp(found, version) ||
	    mlops_node_from_json(&art, cJSON_GetObjectItemCaseSensitive(record, "artifact")) < 0 ||
	    (art.kind == MLOPS_KIND_TREE && mlops_tree_list(&files, repo->odb, &art, 0) < 0))
		goto done;
	if (art.kind != MLOPS_KIND_TREE) {
		/* A file artifact: materialised under its own name or model.json. */
		const char *fname = mlops_json_str(record, "artifact_name");
		if (!(files.files = calloc(1, sizeof(*files.files))) ||
		    !(files.files[0].path = strdup(fname && !strchr(fname, '/') && *fname != '.' ?
						  fname : "model.json"))) {
			err = oom();
			goto done;
		}
		files.files[0].node = art;
		files.count = 1;
	}
	if (!(rel = calloc(nlisted + 1, sizeof(*rel))) || !(modes = calloc(nlisted + 1, sizeof(*modes)))) {
		err = oom();
		goto done;
	}
	for (size_t i = 0; same && i < nlisted; i++) {
		struct mlops_tree_file key = { .path = listed[i] };
		const struct mlops_tree_file *f = files.count ?
			bsearch(&key, files.files, files.count, sizeof(key), tree_file_cmp) : NULL;
		rel[i] = listed[i];
		if (f) {
			same = node_content_is(repo, &f->node, listed[i] - MLOPS_OID_HEXSZ - 2);
			modes[i] = f->node.mode;
		} else {
			same = !strcmp(listed[i], FEATURES);
		}
	}
	if (same)
		err = exec_array(out, rel, modes, nlisted);
done:
	mlops_tree_list_free(&files);
	cJSON_Delete(record);
	free(modes);
	free(rel);
	free(found);
	free(rev);
	return err;
}

/*
 * From the model folder the release was deployed from, as the target's
 * history names it (the source of a deployment that made the release
 * folder, newest first; a relative one from the work tree), when it still
 * holds exactly the release's files with the same content.  *out stays
 * NULL otherwise.
 */
static int folder_exec_list(cJSON **out, const struct release_origin *o, const char *folder,
			    char *const *listed, size_t nlisted)
{
	struct mlops_deployment **h = NULL;
	size_t n = 0;
	int err = 0;

	if (mlops_deploy_history(&h, &n, o->repo, o->target) < 0)
		return 0;
	for (size_t i = n; err == 0 && !*out && i-- > 0;) {
		const struct mlops_deployment *d = h[i];
		struct mlops_model_dir *md = NULL;
		struct stat st;
		/* Entries of the releases/VERSION layout name no release. */
		if (!d->ok || !d->action || strcmp(d->action, "deploy") || !d->source ||
		    strcmp(d->release ? d->release : d->version ? d->version : "", folder))
			continue;
		char *path = d->source[0] == '/' ? strdup(d->source) :
			     mlops_path_join(o->repo->workdir, d->source);
		if (!path) {
			err = oom();
			break;
		}
		if (stat(path, &st) == 0 && mlops_model_dir_open(&md, path, NULL) == 0 &&
		    md->nfiles == nlisted) {
			size_t k = 0;
			while (k < nlisted && !strcmp(md->files[k], listed[k]) &&
			       !strncmp(md->digests[k], listed[k] - MLOPS_OID_HEXSZ - 2, MLOPS_OID_HEXSZ))
				k++;
			if (k == nlisted)
				err = exec_array(out, md->files, md->modes, md->nfiles);
		}
		mlops_model_dir_free(md);
		free(path);
	}
	mlops_deployments_free(h, n);
	return err;
}

/*
 * The executable files of the release in folder dir whose record rec has
 * no "executable" list (builds before it wrote none, and none when no file
 * is executable: the record alone cannot tell), as that list would be,
 * from the model's own content: the registered version, else the model
 * folder it was made from.  listed holds the release's nlisted file names
 * (sorted), each in the MANIFEST's text after its SHA-256 and two spaces.
 * *out = NULL when neither is found: nothing then says which files are
 * executable.  Errors: out of memory only; what cannot be read is no
 * answer.
 */
static int model_exec_list(cJSON **out, const struct release_origin *o, const char *dir,
			   const cJSON *rec, char *const *listed, size_t nlisted)
{
	int err;

	*out = NULL;
	if ((err = registered_exec_list(out, o->repo, rec, listed, nlisted)) == 0 && !*out)
		err = folder_exec_list(out, o, base_name(dir), listed, nlisted);
	if (err == 0)
		mlops_error_clear();
	return err;
}

/*
 * Check the release folder dir against its MANIFEST: every listed file
 * has its checksum, no other file is there (record.json and MANIFEST
 * apart; hidden ones included, only __pycache__ folders are left out),
 * a file has an executable bit exactly when record.json's "executable"
 * lists it, and, when want is not NULL, the MANIFEST is exactly want;
 * when id is not NULL (12 hex digits), the MANIFEST's own SHA-256 begins
 * with it.  A record without the list means no file has an executable
 * bit when want is given (want's record says so); otherwise, when origin
 * is not NULL, the model's own content decides (model_exec_list: builds
 * before the list wrote none either), and where none is found the bits
 * are taken as they are, as those builds did.  MLOPS_ECORRUPT (naming
 * what differs) when it does not match.
 */
static int release_verify(const char *dir, const char *want, const char *id,
			  const struct release_origin *origin)
{
	char *path = mlops_path_join(dir, MANIFEST), *text = NULL, hex[MLOPS_OID_HEXSZ + 1];
	char **listed = NULL;
	struct filelist l = { 0 };
	cJSON *rec = NULL, *model_exec = NULL;
	size_t len, nlisted = 0;
	int err;

	if (!path)
		return oom();
	if ((err = mlops_read_file(&text, &len, path)) < 0) {
		if (err == MLOPS_ENOTFOUND || err == MLOPS_EIO)
			err = mlops_error_set(MLOPS_ECORRUPT, "release '%s' has no readable %s", dir,
					      MANIFEST);
		goto done;
	}
	if (want && (strlen(want) != len || memcmp(want, text, len))) {
		err = mlops_error_set(MLOPS_ECORRUPT, "release '%s': its %s is not the model's", dir,
				      MANIFEST);
		goto done;
	}
	if (id) {
		mlops_oid oid;
		mlops_hash_buf(&oid, text, len);
		if (strncmp(mlops_oid_fmt(hex, &oid), id, 12)) {
			err = mlops_error_set(MLOPS_ECORRUPT, "release '%s': its %s was changed", dir,
					      MANIFEST);
			goto done;
		}
	}
	if (memchr(text, '\0', len)) {
		err = mlops_error_set(MLOPS_ECORRUPT, "release '%s': malformed %s", dir, MANIFEST);
		goto done;
	}
	size_t lines = 0;
	for (const char *q = text; (q = strchr(q, '\n')); q++)
		lines++;
	if (!(listed = malloc((lines + 1) * sizeof(char *)))) {
		err = oom();
		goto done;
	}
	for (char *p = text, *nl; err == 0 && *p; p = nl + 1) {
		if (!(nl = strchr(p, '\n'))) {
			err = mlops_error_set(MLOPS_ECORRUPT, "release '%s': malformed %s", dir, MANIFEST);
			break;
		}
		*nl = '\0';
		char *rel = p + MLOPS_OID_HEXSZ + 2, *file;
		if ((size_t)(nl - p) <= MLOPS_OID_HEXSZ + 2 || p[MLOPS_OID_HEXSZ] != ' ' ||
		    p[MLOPS_OID_HEXSZ + 1] != ' ' || *rel == '/' || strstr(rel, "..")) {
			err = mlops_error_set(MLOPS_ECORRUPT, "release '%s': malformed %s line '%s'",
					      dir, MANIFEST, p);
			break;
		}
		if (!(file = mlops_path_join(dir, rel))) {
			err = oom();
			break;
		}
		struct stat st;
		if (lstat(file, &st) < 0 || !S_ISREG(st.st_mode) || file_sha256(hex, file) < 0 ||
		    strncmp(hex, p, MLOPS_OID_HEXSZ))
			err = mlops_error_set(MLOPS_ECORRUPT, "release '%s': '%s' does not match its "
					      "%s", dir, rel, MANIFEST);
		free(file);
		if (strcmp(rel, RECORD))
			listed[nlisted++] = rel;
	}
	if (err < 0)
		goto done;
	qsort(listed, nlisted, sizeof(char *), str_cmp);
	if (read_record(&rec, dir) < 0) {
		err = mlops_error_set(MLOPS_ECORRUPT, "release '%s': invalid %s", dir, RECORD);
		goto done;
	}
	const cJSON *exec = cJSON_GetObjectItemCaseSensitive(rec, "executable");
	int check_exec = 1;
	if (exec && !cJSON_IsArray(exec)) {
		err = mlops_error_set(MLOPS_ECORRUPT, "release '%s': invalid %s", dir, RECORD);
		goto done;
	}
	if (!exec && !want && origin) {
		if ((err = model_exec_list(&model_exec, origin, dir, rec, listed, nlisted)) < 0)
			goto done;
		exec = model_exec;
		check_exec = model_exec != NULL;
	}
	if ((err = scan_dir(&l, dir, "", 0, 1)) < 0) {
		if (err != MLOPS_ERROR) /* out of memory */
			err = mlops_error_set(MLOPS_ECORRUPT, "release '%s' holds files its %s does "
					      "not list", dir, MANIFEST);
		goto done;
	}
	for (size_t i = 0; err == 0 && i < l.n; i++) {
		int x = (l.mode[i] & 0111) != 0;
		if (!bsearch(&l.rel[i], listed, nlisted, sizeof(char *), str_cmp))
			err = mlops_error_set(MLOPS_ECORRUPT, "release '%s' holds '%s', a file its %s "
					      "does not list", dir, l.rel[i], MANIFEST);
		else if (check_exec && x != record_lists_exec(exec, l.rel[i]))
			err = mlops_error_set(MLOPS_ECORRUPT, "release '%s': '%s' %s, unlike the "
					      "model's file", dir, l.rel[i],
					      x ? "has an executable bit" : "lost its executable bit");
	}
	if (err == 0 && l.n != nlisted)
		err = mlops_error_set(MLOPS_ECORRUPT, "release '%s': malformed %s", dir, MANIFEST);
done:
	cJSON_Delete(model_exec);
	cJSON_Delete(rec);
	free(listed);
	filelist_free(&l);
	free(text);
	free(path);
	return err;
}

/* Point dir/current at releases/<release>: a new link renamed over the old. */
static int switch_current(const char *dir, const char *release)
{
	char *target = mlops_strdupf("releases/%s", release);
	char *tmp = mlops_strdupf("%s/.current.tmp-%ld", dir, (long)getpid());
	char *cur = mlops_path_join(dir, "current");
	int err = 0;

	if (!target || !tmp || !cur) {
		err = oom();
		goto done;
	}
	unlink(tmp);
	if (symlink(target, tmp) < 0) {
		err = mlops_error_sys(errno, "unable to create link '%s'", tmp);
		goto done;
	}
	if (rename(tmp, cur) < 0) {
		err = mlops_error_sys(errno, "unable to rename '%s' to '%s'", tmp, cur);
		unlink(tmp);
		goto done;
	}
	err = mlops_fsync_dir(dir);
done:
	free(target);
	free(tmp);
	free(cur);
	return err;
}

/* 1 when dir/current points at releases/<release>. */
static int current_is(const char *dir, const char *release)
{
	char buf[PATH_MAX], want[PATH_MAX];
	char *cur = mlops_path_join(dir, "current");
	ssize_t n = cur ? readlink(cur, buf, sizeof(buf) - 1) : -1;

	free(cur);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	snprintf(want, sizeof(want), "releases/%s", release);
	return !strcmp(buf, want);
}

/*
 * Replace the damaged release folder dest with md's: written beside it,
 * then exchanged with it in one rename (RENAME_EXCHANGE), so a reader of
 * dest sees the old or the new folder; where the file system cannot
 * exchange, the old one is moved aside first, moved back when the new one
 * cannot be renamed into its place, and removed only after it was.
 */
static int release_replace(const struct mlops_model_dir *md, const char *dest)
{
	char *tmp = mlops_strdupf("%s.new-%ld", dest, (long)getpid());
	int err;

	if (!tmp)
		return oom();
	remove_tree(tmp);
	if ((err = mlops_release_write(md, tmp)) < 0)
		goto done;
	/* Tests simulate a file system without RENAME_EXCHANGE ("fail": and a
	 * second rename that fails). */
	const char *sim = getenv("MLOPS_TEST_NO_RENAME_EXCHANGE");
	int rc;
	if (sim && *sim) {
		errno = EINVAL;
		rc = -1;
	} else {
		rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_EXCHANGE);
	}
	if (rc < 0) {
		if (errno != EINVAL && errno != ENOSYS) {
			err = mlops_error_sys(errno, "unable to rename '%s' to '%s'", tmp, dest);
		} else {
			char *old = mlops_strdupf("%s.old-%ld", dest, (long)getpid());
			if (!old) {
				err = oom();
			} else {
				remove_tree(old);
				if ((rc = rename(dest, old)) < 0) {
					err = mlops_error_sys(errno, "unable to rename '%s' to '%s'", dest, old);
				} else {
					if (sim && !strcmp(sim, "fail")) {
						errno = EIO;
						rc = -1;
					} else {
						rc = rename(tmp, dest);
					}
					if (rc < 0) {
						/* Put the old folder back: dest is never left missing. */
						int e = errno;
						err = rename(old, dest) < 0
							? mlops_error_sys(e, "unable to rename '%s' to '%s' (the "
									  "old folder is '%s')", tmp, dest, old)
							: mlops_error_sys(e, "unable to rename '%s' to '%s'",
									  tmp, dest);
					} else {
						remove_tree(old); /* only once the new one is in place */
					}
				}
				free(old);
			}
		}
	}
	if (err == 0) {
		char *parent = strdup(dest), *slash = parent ? strrchr(parent, '/') : NULL;
		if (slash) {
			*slash = '\0';
			err = mlops_fsync_dir(parent);
		}
		free(parent);
	}
done:
	remove_tree(tmp); /* the damaged folder, after the exchange */
	free(tmp);
	return err;
}

/*
 * Make sure base/releases/<release> holds md's release: a folder that is
 * there is used when it matches its MANIFEST and md's, and rebuilt when it
 * does not (edited, incomplete).  *out receives its path and *name the
 * folder's name (both the caller's).
 */
static int ensure_release(char **out, char **name, const char *base,
			  const struct mlops_model_dir *md)
{
	char *rel = mlops_strdupf("%s/releases", base), *dest = NULL, *manifest = NULL;
	struct stat st;
	int err = 0;

	*out = NULL;
	*name = NULL;
	if (!rel) {
		err = oom();
		goto done;
	}
	if ((err = release_name(name, &manifest, md)) < 0)
		goto done;
	if (!(dest = mlops_strdupf("%s/%s", rel, *name))) {
		err = oom();
		goto done;
	}
	if ((err = mlops_mkdir_p(rel)) < 0)
		goto done;
	if (lstat(dest, &st) < 0) {
		err = mlops_release_write(md, dest);
		goto done;
	}
	err = release_verify(dest, manifest, NULL, NULL);
	if (err != MLOPS_ECORRUPT)
		goto done;
	if (!strcmp(md->path, dest))
		goto done; /* damaged, and the only copy there is */
	mlops_error_clear();
	err = release_replace(md, dest);
done:
	free(rel);
	free(manifest);
	if (err < 0) {
		free(dest);
		free(*name);
		*name = NULL;
	} else {
		*out = dest;
	}
	return err;
}

/* Run the target's command for the staged release in dir. */
static int run_command(struct mlops_repo *repo, const struct mlops_deploy_target *t,
		       const struct mlops_model_dir *md, const char *dir)
{
	char **argv = NULL;
	pid_t pid;
	int err, st;

	if ((err = mlops_argv_split(&argv, t->command)) < 0)
		return err;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = mlops_error_sys(errno, "unable to run '%s'", argv[0]);
		mlops_argv_free(argv);
		return err;
	}
	if (pid == 0) {
		if (dup2(2, 1) < 0 || chdir(repo->workdir) < 0 ||
		    setenv("MLOPS_MODEL_DIR", dir, 1) < 0 ||
		    setenv("MLOPS_MODEL_NAME", md->name, 1) < 0 ||
		    setenv("MLOPS_MODEL_VERSION", md->version, 1) < 0 ||
		    setenv("MLOPS_TARGET", t->name, 1) < 0)
			_exit(126);
		execvp(argv[0], argv);
		fprintf(stderr, "mlops: unable to run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			err = mlops_error_sys(errno, "unable to wait for '%s'", argv[0]);
			goto done;
		}
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		err = 0;
	else if (WIFEXITED(st))
		err = mlops_error_set(MLOPS_ERROR, "deploy command '%s' exited with status %d",
				      t->command, WEXITSTATUS(st));
	else
		err = mlops_error_set(MLOPS_ERROR, "deploy command '%s' was killed by signal %d",
				      t->command, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
done:
	mlops_argv_free(argv);
	return err;
}

/* Put md on target t (the lock is held); d->location, release and checksum are set. */
static int put(struct mlops_deployment *d, struct mlops_repo *repo,
	       const struct mlops_deploy_target *t, const struct mlops_model_dir *md)
{
	char *staged = NULL, *base = NULL;
	int err = 0;

	switch (t->kind) {
	case MLOPS_DEPLOY_DIR:
		if ((err = ensure_release(&d->location, &d->release, t->path, md)) == 0)
			err = switch_current(t->path, d->release);
		break;
	case MLOPS_DEPLOY_ARCHIVE: {
		char hex[MLOPS_OID_HEXSZ + 1];
		if (!(base = target_dir(repo, t->name, NULL)))
			return oom();
		if ((err = ensure_release(&staged, &d->release, base, md)) < 0 ||
		    (err = mlops_mkdir_p(t->path)) < 0)
			break;
		if (!(d->location = mlops_strdupf("%s/%s-%s.tar.gz", t->path, md->name, md->version))) {
			err = oom();
			break;
		}
		if ((err = mlops_release_archive(hex, md, d->location)) == 0 &&
		    !(d->checksum = strdup(hex)))
			err = oom();
		break;
	}
	case MLOPS_DEPLOY_COMMAND:
		if (!(base = target_dir(repo, t->name, NULL)))
			return oom();
		if ((err = ensure_release(&d->location, &d->release, base, md)) == 0)
			err = run_command(repo, t, md, d->location);
		break;
	}
	free(staged);
	free(base);
	return err;
}

static char *dup_or_null(const char *s, int *fail)
{
	char *r = s ? strdup(s) : NULL;
	if (s && !r)
		*fail = 1;
	return r;
}

/* A new entry; previous is the target's live entry (NULL when none). */
static struct mlops_deployment *deployment_new(struct mlops_repo *repo,
					       const struct mlops_deploy_target *t,
					       const char *action, const struct mlops_model_dir *md,
					       const char *source,
					       const struct mlops_deployment *previous)
{
	struct mlops_deployment *d = calloc(1, sizeof(*d));
	char host[256];
	int fail = 0;

	if (!d)
		return NULL;
	mlops_host_name(host, sizeof(host));
	d->time = (long long)time(NULL);
	d->user = mlops_repo_author(repo);
	d->host = dup_or_null(host, &fail);
	d->target = dup_or_null(t->name, &fail);
	d->kind = dup_or_null(mlops_deploy_kind_name(t->kind), &fail);
	d->action = dup_or_null(action, &fail);
	d->model = dup_or_null(md ? md->name : NULL, &fail);
	d->version = dup_or_null(md ? md->version : NULL, &fail);
	d->source = dup_or_null(source, &fail);
	if (previous) {
		d->previous = dup_or_null(previous->version, &fail);
		d->previous_model = dup_or_null(previous->model, &fail);
		d->previous_release = dup_or_null(previous->release, &fail);
	}
	if (fail) {
		mlops_deployment_free(d);
		return NULL;
	}
	return d;
}

/* Record d with the outcome err; returns err (or the recording's error). */
static int finish(struct mlops_deployment **out, struct mlops_repo *repo,
		  struct mlops_deployment *d, int err)
{
	d->ok = err == 0;
	if (err < 0 && !(d->error = strdup(mlops_error_message())))
		err = oom();
	int rerr = history_append(repo, d);
	if (err == 0 && rerr < 0)
		err = rerr;
	if (err < 0) {
		/* Keep the deployment's own message, not the recording's. */
		if (d->error)
			mlops_error_set(err, "%s", d->error);
		mlops_deployment_free(d);
		return err;
	}
	*out = d;
	return 0;
}

/* 1 when target t has live's release in place, unchanged. */
static int live_intact(struct mlops_repo *repo, const struct mlops_deploy_target *t,
		       const struct mlops_deployment *live, const char *release,
		       const char *manifest)
{
	char *base = NULL, *dir = NULL;
	int ok = 0;

	if (!live->release || strcmp(live->release, release))
		return 0;
	switch (t->kind) {
	case MLOPS_DEPLOY_DIR:
		base = strdup(t->path);
		ok = current_is(t->path, release);
		break;
	case MLOPS_DEPLOY_ARCHIVE: {
		char hex[MLOPS_OID_HEXSZ + 1];
		ok = live->location && live->checksum && file_sha256(hex, live->location) == 0 &&
		     !strcmp(hex, live->checksum);
		base = target_dir(repo, t->name, NULL);
		break;
	}
	case MLOPS_DEPLOY_COMMAND:
		ok = 1;
		base = target_dir(repo, t->name, NULL);
		break;
	}
	dir = base ? mlops_strdupf("%s/releases/%s", base, release) : NULL;
	ok = ok && dir && release_verify(dir, manifest, NULL, NULL) == 0;
	mlops_error_clear();
	free(base);
	free(dir);
	return ok;
}

/*
 * Record a deployment or rollback (action) refused before it could start
 * (another one holds the target's lock).  The line is appended with one write to a file
 * opened O_APPEND, which is all the holder does to the history too, so
 * the two cannot mix; the live version is read from entries that are
 * complete.  Returns err with its message kept.
 */
static int record_refusal(struct mlops_repo *repo, const struct mlops_deploy_target *t,
			  const char *action, const struct mlops_model_dir *md,
			  const char *source, int err)
{
	struct mlops_deployment *live = NULL, *d;
	char *msg = strdup(mlops_error_message());

	if (!msg)
		return oom();
	if (mlops_deploy_live(&live, repo, t->name) < 0)
		live = NULL;
	if ((d = deployment_new(repo, t, action, md, source, live))) {
		d->error = msg;
		msg = NULL;
		history_append(repo, d);
		mlops_error_set(err, "%s", d->error);
		mlops_deployment_free(d);
	} else {
		mlops_error_set(err, "%s", msg);
	}
	free(msg);
	mlops_deployment_free(live);
	return err;
}

/*
 * The model and version that source names when it is a revision the model
 * registry resolves (as mlops_model_dir_resolve takes it: not a path), so
 * that a failure after that is recorded with them; NULLs otherwise.
 */
static void resolved_version(char **model, char **version, struct mlops_repo *repo,
			     const char *source)
{
	struct mlops_rev r;
	struct stat st;

	*model = *version = NULL;
	if (!source || stat(source, &st) == 0 || strchr(source, '/') ||
	    mlops_rev_parse(&r, source) < 0 ||
	    mlops_model_resolve_version(version, NULL, repo, source, -1) < 0)
		return;
	if (!(*model = strdup(r.name))) {
		free(*version);
		*version = NULL;
	}
}

int mlops_deploy_record_failure(struct mlops_repo *repo, const struct mlops_deploy_target *t,
				const char *source, int err)
{
	struct mlops_deployment *live = NULL, *d = NULL, *out = NULL;
	char *msg = strdup(mlops_error_message()), *model = NULL, *version = NULL;
	int fd = -1, lerr;

	if (!msg)
		return oom();
	if ((lerr = target_lock(&fd, repo, t->name)) < 0 && lerr != MLOPS_ELOCKED)
		goto done; /* no history to write to */
	if (mlops_deploy_live(&live, repo, t->name) < 0)
		live = NULL;
	resolved_version(&model, &version, repo, source);
	if ((d = deployment_new(repo, t, "deploy", NULL, source, live))) {
		d->model = model;
		d->version = version;
		model = version = NULL;
		mlops_error_set(err, "%s", msg);
		finish(&out, repo, d, err);
		d = NULL;
	}
done:
	mlops_error_set(err, "%s", msg);
	mlops_deployment_free(live);
	free(model);
	free(version);
	free(msg);
	if (fd >= 0)
		close(fd);
	return err;
}

int mlops_deploy(struct mlops_deployment **out, struct mlops_repo *repo,
		 const struct mlops_deploy_target *t, const struct mlops_model_dir *md,
		 const char *source)
{
	struct mlops_deployment *live = NULL, *d = NULL;
	char *release = NULL, *manifest = NULL;
	int fd = -1, err;

	*out = NULL;
	if ((err = target_lock(&fd, repo, t->name)) < 0)
		return err == MLOPS_ELOCKED ? record_refusal(repo, t, "deploy", md, source, err)
					    : err;
	if ((err = mlops_deploy_live(&live, repo, t->name)) < 0)
		goto done;
	d = deployment_new(repo, t, "deploy", md, source, live);
	if (!d) {
		err = oom();
		goto done;
	}
	if (md->deprecated) {
		err = mlops_error_set(MLOPS_ECONFLICT, "%s@%s is deprecated%s: it is not deployed",
				      md->name, md->version,
				      md->deprecated > 1 ? " (the whole model is)" : "");
		err = finish(out, repo, d, err);
		d = NULL;
		goto done;
	}
	if (t->stage) {
		/* Only a registered version that holds the stage may go there. */
		char *holder = NULL, *rev = mlops_strdupf("%s#%s", md->name ? md->name : "", t->stage);
		if (!rev) {
			err = oom();
		} else if (!md->registered) {
			err = mlops_error_set(MLOPS_ECONFLICT, "target '%s' takes only versions in stage "
					      "'%s': '%s' is not a registered model version",
					      t->name, t->stage, source ? source : md->path);
		} else if (mlops_model_resolve_version(&holder, NULL, repo, rev, -1) < 0 ||
			   strcmp(holder, md->version)) {
			err = mlops_error_set(MLOPS_ECONFLICT, "target '%s' takes only versions in stage "
					      "'%s': %s@%s does not hold it%s%s%s",
					      t->name, t->stage, md->name, md->version,
					      holder ? " (" : "", holder ? holder : "", holder ? " does)" : "");
		}
		free(holder);
		free(rev);
		if (err < 0) {
			err = finish(out, repo, d, err);
			d = NULL;
			goto done;
		}
	}
	if ((err = release_name(&release, &manifest, md)) < 0)
		goto done;
	if (live && live_intact(repo, t, live, release, manifest)) {
		d->unchanged = 1;
		d->ok = 1;
		if ((live->location && !(d->location = strdup(live->location))) ||
		    (live->checksum && !(d->checksum = strdup(live->checksum))) ||
		    !(d->release = strdup(release))) {
			err = oom();
			goto done;
		}
		*out = d;
		d = NULL;
		goto done;
	}
	if (live && live->release && !strcmp(live->release, release)) {
		/* The live release repaired: what was live before it stays the way back. */
		struct mlops_deployment *nd = deployment_new(repo, t, "deploy", md, source, NULL);
		int fail = !nd;
		if (nd) {
			nd->previous = dup_or_null(live->previous, &fail);
			nd->previous_model = dup_or_null(live->previous_model, &fail);
			nd->previous_release = dup_or_null(live->previous_release, &fail);
		}
		mlops_deployment_free(d);
		d = nd;
		if (fail) {
			err = oom();
			goto done;
		}
	}
	err = put(d, repo, t, md);
	err = finish(out, repo, d, err);
	d = NULL;
done:
	mlops_deployment_free(d);
	mlops_deployment_free(live);
	free(release);
	free(manifest);
	if (fd >= 0)
		close(fd);
	return err;
}

/*
 * A rollback follows the rules a deployment does: it does not return to a
 * deprecated version, nor, on a target with a stage, to a version that no
 * longer holds it (the registry says what may run there).  md is the
 * release returned to; a name the registry does not know is no registered
 * version, so never deprecated.
 */
static int rollback_allowed(struct mlops_repo *repo, const struct mlops_deploy_target *t,
			    const struct mlops_model_dir *md)
{
	char *holder = NULL, *rev = NULL;
	int deprecated = 0, err;

	err = mlops_model_version_deprecated(&deprecated, repo, md->name, md->version);
	if (err == MLOPS_ENOTFOUND || err == MLOPS_EUSAGE) {
		mlops_error_clear();
		err = 0;
	}
	if (err < 0)
		return err;
	if (deprecated)
		return mlops_error_set(MLOPS_ECONFLICT, "%s@%s is deprecated%s: target '%s' does "
				       "not return to it", md->name, md->version,
				       deprecated > 1 ? " (the whole model is)" : "", t->name);
	if (!t->stage)
		return 0;
	if (!(rev = mlops_strdupf("%s#%s", md->name, t->stage)))
		return oom();
	if (mlops_model_resolve_version(&holder, NULL, repo, rev, -1) < 0 ||
	    strcmp(holder, md->version))
		err = mlops_error_set(MLOPS_ECONFLICT, "target '%s' takes only versions in stage "
				      "'%s': %s@%s, which it would return to, does not hold it%s%s%s; "
				      "promote that version to return to it", t->name, t->stage,
				      md->name, md->version, holder ? " (" : "",
				      holder ? holder : "", holder ? " does)" : "");
	free(holder);
	free(rev);
	return err;
}

int mlops_deploy_rollback(struct mlops_deployment **out, struct mlops_repo *repo,
			  const struct mlops_deploy_target *t)
{
	struct mlops_deployment *live = NULL, *d = NULL;
	struct mlops_model_dir *md = NULL;
	struct release_origin origin = { repo, t->name };
	char *rel = NULL, *base = NULL;
	int fd = -1, err;

	*out = NULL;
	if ((err = target_lock(&fd, repo, t->name)) < 0)
		return err == MLOPS_ELOCKED ? record_refusal(repo, t, "rollback", NULL, NULL, err)
					    : err;
	if ((err = mlops_deploy_live(&live, repo, t->name)) < 0)
		goto done;
	if (!live || !live->previous) {
		err = mlops_error_set(MLOPS_ENOTFOUND, "target '%s' has no earlier version to return to",
				      t->name);
		goto refused;
	}
	/* Entries written before releases were named by content name only the version. */
	const char *folder = live->previous_release ? live->previous_release : live->previous;
	const char *id = NULL;
	if (live->previous_release) {
		size_t n = strlen(folder);
		id = n > 12 ? folder + n - 12 : NULL;
	}
	base = t->kind == MLOPS_DEPLOY_DIR ? strdup(t->path) : target_dir(repo, t->name, NULL);
	rel = base ? mlops_strdupf("%s/releases/%s", base, folder) : NULL;
	if (!rel) {
		err = oom();
		goto done;
	}
	if (access(rel, F_OK) < 0) {
		err = mlops_error_set(MLOPS_ENOTFOUND, "the release of %s %s is gone from '%s'",
				      live->previous_model ? live->previous_model : "version",
				      live->previous, rel);
		goto refused;
	}
	if ((err = release_verify(rel, NULL, id, &origin)) < 0 ||
	    (err = mlops_model_dir_open(&md, rel, NULL)) < 0 ||
	    (err = rollback_allowed(repo, t, md)) < 0)
		goto refused;
	d = deployment_new(repo, t, "rollback", md, rel, live);
	if (!d) {
		err = oom();
		goto done;
	}
	err = put(d, repo, t, md);
	err = finish(out, repo, d, err);
	d = NULL;
	goto done;
refused:
	/* Recorded like a refused deployment: what it would have returned to
	 * (nothing when there is no earlier version), and why not. */
	if ((d = deployment_new(repo, t, "rollback", NULL, rel, live))) {
		int fail = 0;
		if (live && live->previous) {
			d->model = dup_or_null(live->previous_model, &fail);
			d->version = dup_or_null(live->previous, &fail);
		}
		if (!fail) {
			err = finish(out, repo, d, err);
			d = NULL;
		}
	}
done:
	mlops_deployment_free(d);
	mlops_deployment_free(live);
	mlops_model_dir_free(md);
	free(rel);
	free(base);
	if (fd >= 0)
		close(fd);
	return err;
}
