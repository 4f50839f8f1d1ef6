/*
 * bundle.c - export and import of bundles with libarchive (see bundle.h).
 *
 * Import protocol: read the manifest, then stream each entry into a
 * staging folder below .mlops/tmp, hashing as it goes; check that the
 * bundle is complete (every object of the manifest, and every object the
 * refs need, in the bundle or already stored); only then write the
 * objects into the store, sync, and write the refs.  Any failure before
 * that removes the staging folder and leaves the repository as it was.
 * The staging folder is a working directory ("import-<host>-<pid>-XXXXXX",
 * fsutil.h): that of a killed import is removed by the next import or gc.
 */
#include "bundle.h"
#include "dataset.h"
#include "registry.h"
#include "rev.h"
#include "reach.h"
#include "run.h"
#include "transfer.h"
#include "store/dl_archive.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/oidmap.h"
#include "store/refs.h"
#include "store/repo.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MANIFEST "MANIFEST.json"
#define MANIFEST_MAX (256u << 20)
#define LOCK_TIMEOUT_MS 10000

void mlops_bundle_result_free(struct mlops_bundle_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->nrefs; i++) {
		free(res->refs[i].name);
		free(res->refs[i].new_name);
	}
	free(res->refs);
	free(res);
}

static int add_ref(struct mlops_bundle_result *res, const char *name, const mlops_oid *id)
{
	struct mlops_bundle_ref *p = realloc(res->refs, (res->nrefs + 1) * sizeof(*p));
	if (!p)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	res->refs = p;
	p += res->nrefs;
	p->name = strdup(name);
	p->new_name = strdup(name);
	p->id = *id;
	if (!p->name || !p->new_name) {
		free(p->name);
		free(p->new_name);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	res->nrefs++;
	return 0;
}

/* ---- the refs a bundle carries ------------------------------------------- */

/* Digits only, no leading zero: a version number. */
static int is_number(const char *s, size_t n)
{
	if (!n || n > 18 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* "vX.Y.Z": a model version. */
static int is_semver(const char *s)
{
	int parts = 0;
	if (*s++ != 'v')
		return 0;
	for (;;) {
		size_t n = strspn(s, "0123456789");
		if (!n || (n > 1 && s[0] == '0') || n > 9)
			return 0;
		s += n;
		parts++;
		if (!*s)
			return parts == 3;
		if (*s++ != '.')
			return 0;
	}
}

/*
 * Which kind of version ref `ref` is, with the record type it must name and
 * the name it must carry (*name, *name_len): a dataset version
 * datasets/NAME/vN, a feature set features/NAME/vN or its spec
 * features/NAME/spec/vN, a model version models/NAME/vX.Y.Z, a run
 * runs/ID (the record's own id).  NULL for anything else: a bundle carries
 * versions only, never a ref such as "lock" or "runcache/...".
 */
static const char *bundle_ref_type(const char *ref, const char **name, size_t *name_len)
{
	static const struct { const char *prefix, *type; } kinds[] = {
		{ "datasets/", "dataset" }, { "features/", "feature-set" },
		{ "models/", "model" }, { "runs/", "run" },
	};
	char buf[256];
	*name = NULL;
	*name_len = 0;
	if (!mlops_ref_name_valid(ref))
		return NULL;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		size_t pl = strlen(kinds[k].prefix);
		if (strncmp(ref, kinds[k].prefix, pl))
			continue;
		const char *rest = ref + pl, *slash = strchr(rest, '/');
		if (!strcmp(kinds[k].type, "run")) {
			mlops_oid id;
			return strlen(rest) == MLOPS_OID_HEXSZ && !strchr(rest, '/') &&
			       strspn(rest, "0123456789abcdef") == MLOPS_OID_HEXSZ &&
			       mlops_oid_parse(&id, rest) == 0 ? "run" : NULL;
		}
		if (!slash || (size_t)(slash - rest) >= sizeof(buf))
			return NULL;
		memcpy(buf, rest, (size_t)(slash - rest));
		buf[slash - rest] = '\0';
		if (!mlops_name_valid(buf))
			return NULL;
		*name = rest;
		*name_len = (size_t)(slash - rest);
		const char *ver = slash + 1, *type = kinds[k].type;
		if (!strcmp(type, "feature-set") && !strncmp(ver, "spec/", 5)) {
			ver += 5;
			type = "feature-spec";
		}
		if (!strcmp(type, "model"))
			return is_semver(ver) ? type : NULL;
		return ver[0] == 'v' && is_number(ver + 1, strlen(ver + 1)) ? type : NULL;
	}
	return NULL;
}

/*
 * MLOPS_EINVALID unless record `data` is what ref says: a record of its
 * kind, carrying its name (a run: named by its own id, checked already).
 */
static int check_ref_record(const char *file, const char *ref, const void *data, size_t len)
{
	const char *name;
	size_t nl;
	const char *type = bundle_ref_type(ref, &name, &nl);
	cJSON *rec = cJSON_ParseWithLength(data, len);
	const char *rt = mlops_json_str(rec, "type"), *rn = mlops_json_str(rec, "name");
	int ok = type && rt && !strcmp(rt, type) &&
		 (!name || (rn && strlen(rn) == nl && !strncmp(rn, name, nl)));
	cJSON_Delete(rec);
	if (ok)
		return 0;
	return mlops_error_set(MLOPS_EINVALID, "'%s' is not a valid bundle: ref '%s' does not name "
			       "a %s record of that name", file, ref, type ? type : "version");
}

/* ---- export ------------------------------------------------------------- */

/* A model revision (NAME@vX.Y.Z, NAME#stage, NAME) as the ref of its version. */
static int resolve_model(char **ref, mlops_oid *id, struct mlops_repo *repo, const char *rev,
			 const char *name)
{
	char *version = NULL;
	int err = mlops_model_resolve(NULL, id, &version, repo, rev);
	if (err < 0)
		return err;
	*ref = mlops_strdupf("models/%s/%s", name, version);
	free(version);
	return *ref ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
}

/*
 * The ref and id of the version `rev` names: a ref name, a run r-<prefix>,
 * a model version (NAME@vX.Y.Z, NAME#stage) or a dataset revision; a bare
 * NAME or NAME@<prefix> that names no dataset may name a model.
 */
static int resolve(char **ref, mlops_oid *id, struct mlops_repo *repo, const char *rev)
{
	if (mlops_ref_name_valid(rev) && strchr(rev, '/')) {
		const char *name;
		size_t nl;
		int err = mlops_ref_read(id, repo, rev);
		if (err == 0) {
			*ref = strdup(rev);
			return *ref ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
		}
		if (err != MLOPS_ENOTFOUND)
			return err;
		if (bundle_ref_type(rev, &name, &nl))
			return mlops_error_set(MLOPS_ENOTFOUND, "unknown revision '%s': no such version here",
					       rev);
	}
	mlops_error_clear();
	if (!strncmp(rev, "r-", 2)) {
		/* A training run: its record names its inputs, outputs and logs. */
		cJSON *record = NULL;
		char hex[MLOPS_OID_HEXSZ + 1];
		int err = mlops_run_resolve(&record, id, repo, rev);
		cJSON_Delete(record);
		if (err < 0)
			return err;
		*ref = mlops_strdupf("runs/%s", mlops_oid_fmt(hex, id));
		return *ref ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	struct mlops_rev r;
	int parsed = mlops_rev_parse(&r, rev) == 0;
	if (parsed && (r.kind == MLOPS_REV_SEMVER || r.kind == MLOPS_REV_STAGE))
		return resolve_model(ref, id, repo, rev, r.name);
	mlops_error_clear();
	struct mlops_dataset_version *v;
	int err = mlops_dataset_resolve(&v, repo, rev);
	if (err == MLOPS_ENOTFOUND && parsed && (r.kind == MLOPS_REV_LATEST || r.kind == MLOPS_REV_PREFIX)) {
		char saved[1024];
		snprintf(saved, sizeof(saved), "%s", mlops_error_message());
		if (resolve_model(ref, id, repo, rev, r.name) == 0)
			return 0;
		return mlops_error_set(err, "%s", saved);
	}
	if (err < 0)
		return err;
	*id = v->id;
	*ref = mlops_strdupf("datasets/%s/v%ld", v->name, v->version);
	mlops_dataset_version_free(v);
	return *ref ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
}

static int write_entry(struct archive *a, const char *name, const void *data, size_t len)
{
	struct archive_entry *e = archive_entry_new();
	if (!e)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	archive_entry_set_mtime(e, 0, 0);
	int err = 0;
	if (archive_write_header(a, e) != ARCHIVE_OK ||
	    (len && archive_write_data(a, data, len) != (la_ssize_t)len))
		err = mlops_error_set(MLOPS_EIO, "unable to write the bundle: %s", archive_error_string(a));
	archive_entry_free(e);
	return err;
}

/* Sizes of objects by reading them (verified). */
int mlops_bundle_export(struct mlops_bundle_result **out, struct mlops_repo *repo,
			const char *rev, const char *file)
{
	struct mlops_bundle_result *res = calloc(1, sizeof(*res));
	struct mlops_reach *walk = NULL;
	struct mlops_oid_list v = { 0 };
	struct archive *a = NULL;
	char *ref = NULL, *tmp = NULL, *text = NULL;
	uint64_t *sizes = NULL;
	cJSON *man = NULL;
	mlops_oid id;
	int err;

	*out = NULL;
	if (!res)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	struct stat st;
	int to_stdout = !strcmp(file, "-");
	if (!to_stdout && stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* Said before the work, not as a failed rename after it. */
		err = mlops_error_sys(EISDIR, "unable to write '%s'", file);
		goto done;
	}
	if ((err = resolve(&ref, &id, repo, rev)) < 0 || (err = add_ref(res, ref, &id)) < 0)
		goto done;
	const char *kind_name;
	size_t kind_len;
	if (!bundle_ref_type(ref, &kind_name, &kind_len)) {
		err = mlops_error_set(MLOPS_EUSAGE, "'%s' is not a version a bundle carries (a dataset, "
				      "feature set, model version or run)", ref);
		goto done;
	}
	if ((err = mlops_reach_new(&walk, NULL, NULL)) < 0 ||
	    (err = mlops_reach_add(walk, &id, MLOPS_REACH_STRICT | MLOPS_REACH_INSPECT |
					     MLOPS_REACH_RECORD)) < 0)
		goto done;
	struct mlops_reach_source src;
	mlops_reach_local_source(&src, repo->odb);
	if ((err = mlops_reach_run(walk, &src)) < 0 ||
	    (err = mlops_reach_foreach(walk, mlops_oid_list_add, &v)) < 0)
		goto done;
	qsort(v.ids, v.n, sizeof(*v.ids), mlops_oid_qcmp);
	/* The manifest needs sizes: read each object once for them, once to write. */
	if (!(sizes = calloc(v.n ? v.n : 1, sizeof(*sizes)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	man = cJSON_CreateObject();
	cJSON *refs = cJSON_AddObjectToObject(man, "refs");
	cJSON *objs = cJSON_AddArrayToObject(man, "objects");
	char hex[MLOPS_OID_HEXSZ + 1];
	cJSON_AddStringToObject(refs, ref, mlops_oid_fmt(hex, &id));
	cJSON_AddStringToObject(man, "type", "bundle");
	cJSON_AddNumberToObject(man, "format", 1);
	for (size_t i = 0; i < v.n; i++) {
		void *data;
		size_t len;
		if ((err = mlops_odb_read(&data, &len, repo->odb, &v.ids[i])) < 0)
			goto done;
		free(data);
		sizes[i] = len;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "id", mlops_oid_fmt(hex, &v.ids[i]));
		cJSON_AddNumberToObject(o, "size", (double)len);
		cJSON_AddItemToArray(objs, o);
		res->bytes += len;
	}
	res->objects = v.n;
	if ((err = mlops_json_canonical(&text, man)) < 0)
		goto done;
	if (!to_stdout) {
		if (!(tmp = mlops_strdupf("%s.tmp-%ld", file, (long)getpid()))) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		mlops_tempfile_register(tmp);
	}
	if ((err = mlops_archive_load()) < 0)
		goto done;
	a = archive_write_new();
	if (!a || archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
	    archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
	    (to_stdout ? archive_write_open_fd(a, STDOUT_FILENO) :
			 archive_write_open_filename(a, tmp)) != ARCHIVE_OK) {
		err = mlops_error_set(MLOPS_EIO, "unable to create '%s': %s", file,
				      a ? archive_error_string(a) : "out of memory");
		goto done;
	}
	if ((err = write_entry(a, MANIFEST, text, strlen(text))) < 0)
		goto done;
	for (size_t i = 0; i < v.n; i++) {
		void *data;
		size_t len;
		char name[80];
		if ((err = mlops_odb_read(&data, &len, repo->odb, &v.ids[i])) < 0)
			goto done;
		snprintf(name, sizeof(name), "objects/%s", mlops_oid_fmt(hex, &v.ids[i]));
		err = write_entry(a, name, data, len);
		free(data);
		if (err < 0)
			goto done;
	}
	if (archive_write_close(a) != ARCHIVE_OK) {
		err = mlops_error_set(MLOPS_EIO, "unable to write '%s': %s", file, archive_error_string(a));
		goto done;
	}
	if (tmp && rename(tmp, file) < 0) {
		err = mlops_error_sys(errno, "unable to rename '%s' to '%s'", tmp, file);
		goto done;
	}
	if (tmp)
		mlops_tempfile_forget(tmp);
done:
	if (a)
		archive_write_free(a);
	if (tmp && err < 0) {
		unlink(tmp);
		mlops_tempfile_forget(tmp);
	}
	free(tmp);
	free(text);
	free(ref);
	free(sizes);
	free(v.ids);
	cJSON_Delete(man);
	mlops_reach_free(walk);
	if (err < 0) {
		mlops_bundle_result_free(res);
		return err;
	}
	*out = res;
	return 0;
}

/* ---- import ------------------------------------------------------------- */

struct manifest {
	struct mlops_oidmap *objects; /* id -> size + 1; bit 63: seen in the archive */
	cJSON *root;
};

#define SEEN (1ull << 63)

static int bad(const char *file, const char *what)
{
	return mlops_error_set(MLOPS_EINVALID, "'%s' is not a valid bundle: %s", file, what);
}

static int parse_manifest(struct manifest *m, struct mlops_bundle_result *res, const char *text,
			  size_t len, const char *file)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(root, "refs");
	const cJSON *objs = cJSON_GetObjectItemCaseSensitive(root, "objects");
	const char *type = mlops_json_str(root, "type");
	double format = mlops_json_num(root, "format", 0);
	char where[256] = "";
	int err;
	m->root = root;
	while (root && end && end < text + len && strchr(" \t\r\n", *end) && *end)
		end++;
	if (root && end && end < text + len)
		return bad(file, "its manifest has text after the JSON object");
	if (cJSON_IsObject(root) && (err = mlops_json_unique_keys(root, where, sizeof(where))) < 0)
		return mlops_error_wrap(err, "'%s' is not a valid bundle: its manifest is malformed", file);
	if (cJSON_IsObject(root) && type && !strcmp(type, "bundle") && format > 1)
		return mlops_error_set(MLOPS_EINVALID, "'%s' was made by a newer mlops (bundle format %g, "
				       "this one reads format 1): upgrade mlops to import it", file, format);
	if (!cJSON_IsObject(root) || !type || strcmp(type, "bundle") || format != 1 ||
	    !cJSON_IsObject(refs) || !cJSON_IsArray(objs))
		return bad(file, "its manifest is malformed");
	const cJSON *e;
	cJSON_ArrayForEach(e, objs) {
		mlops_oid id;
		double size = mlops_json_num(e, "size", -1);
		uint64_t *v;
		if (mlops_json_get_oid(&id, e, "id") < 0 || size < 0 || size > 1e15)
			return bad(file, "its manifest has a malformed object");
		if ((err = mlops_oidmap_put(m->objects, &id, &v)) < 0)
			return err;
		if (!err)
			return bad(file, "its manifest lists an object twice");
		*v = (uint64_t)size + 1;
	}
	cJSON_ArrayForEach(e, refs) {
		mlops_oid id;
		const char *name;
		size_t nl;
		char hex[MLOPS_OID_HEXSZ + 1];
		if (!e->string || !mlops_ref_name_valid(e->string) || !cJSON_IsString(e) ||
		    mlops_oid_parse(&id, e->valuestring) < 0)
			return bad(file, "its manifest has a malformed ref");
		const char *type = bundle_ref_type(e->string, &name, &nl);
		if (!type)
			return mlops_error_set(MLOPS_EINVALID, "'%s' is not a valid bundle: its ref '%s' "
					       "is not a version (datasets/NAME/vN, features/NAME/vN, "
					       "features/NAME/spec/vN, models/NAME/vX.Y.Z, runs/ID)",
					       file, e->string);
		if (!strcmp(type, "run") && strcmp(e->string + 5, mlops_oid_fmt(hex, &id)))
			return mlops_error_set(MLOPS_EINVALID, "'%s' is not a valid bundle: ref '%s' "
					       "names another run's record", file, e->string);
		if ((err = add_ref(res, e->string, &id)) < 0)
			return err;
	}
	mlops_error_clear();
	return 0;
}

/* Read one entry's data into the staging folder, hashing it. */
static int stage_entry(struct archive *a, const char *stage, const mlops_oid *id, uint64_t size,
		       const char *file)
{
	char hex[MLOPS_OID_HEXSZ + 1], buf[1 << 16];
	char *path = mlops_strdupf("%s/%s", stage, mlops_oid_fmt(hex, id));
	struct mlops_hash *h = mlops_hash_new();
	uint64_t got = 0;
	int fd = -1, err = 0;
	if (!path || !h) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = mlops_error_sys(errno, "unable to create '%s'", path);
		goto done;
	}
	for (;;) {
		la_ssize_t n = archive_read_data(a, buf, sizeof(buf));
		if (n < 0) {
			err = bad(file, "it is damaged or truncated");
			goto done;
		}
		if (n == 0)
			break;
		got += (uint64_t)n;
		if (got > size) {
			err = bad(file, "an entry is larger than the manifest says");
			goto done;
		}
		mlops_hash_update(h, buf, (size_t)n);
		if (mlops_write_all(fd, buf, (size_t)n) < 0) {
			err = mlops_error_sys(errno, "unable to write '%s'", path);
			goto done;
		}
	}
	if (got != size) {
		err = bad(file, "an entry is smaller than the manifest says");
		goto done;
	}
	mlops_oid check;
	mlops_hash_final(&check, h);
	if (mlops_oid_cmp(&check, id))
		err = mlops_error_set(MLOPS_ECORRUPT, "'%s': object %s is corrupt: its content hashes to %.12s",
				      file, hex, mlops_oid_fmt((char[MLOPS_OID_HEXSZ + 1]){ 0 }, &check));
done:
	if (fd >= 0)
		close(fd);
	mlops_hash_free(h);
	free(path);
	return err;
}

/* A walk source over the staged objects, then the store. */
struct staged {
	const char *stage;
	struct manifest *m;
	struct mlops_odb *odb;
	struct mlops_reach_source local;
};

static int staged_read(void **data, size_t *len, struct staged *s, const mlops_oid *id)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	char *path = mlops_strdupf("%s/%s", s->stage, mlops_oid_fmt(hex, id));
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = mlops_read_file((char **)data, len, path);
	free(path);
	return err;
}

struct one_map {
	mlops_reach_found_cb cb;
	void *walk;
	size_t index;
};

static int one_found(void *payload, size_t index, int status, const void *data, size_t len)
{
	struct one_map *m = payload;
	(void)index;
	return m->cb(m->walk, m->index, status, data, len);
}

static int staged_visit(void *ctx, const struct mlops_reach_item *items, size_t n,
			mlops_reach_found_cb cb, void *walk)
{
	struct staged *s = ctx;
	int err = 0;
	for (size_t i = 0; i < n && err == 0; i++) {
		uint64_t *v = mlops_oidmap_get(s->m->objects, &items[i].id);
		if (v && (*v & SEEN)) {
			void *data = NULL;
			size_t len = 0;
			if ((items[i].flags & MLOPS_REACH_INSPECT) &&
			    (err = staged_read(&data, &len, s, &items[i].id)) < 0)
				return err;
			err = cb(walk, i, 0, data, len);
			free(data);
			continue;
		}
		struct one_map m = { cb, walk, i };
		err = s->local.visit(s->local.ctx, &items[i], 1, one_found, &m);
	}
	return err;
}

static int conflict(const char *file, const char *ref, const mlops_oid *here, const mlops_oid *there)
{
	char a[MLOPS_OID_HEXSZ + 1], b[MLOPS_OID_HEXSZ + 1];
	return mlops_error_set(MLOPS_ECONFLICT, "'%s' holds another version here (%.12s) than in "
			       "'%s' (%.12s)", ref, mlops_oid_fmt(a, here), file,
			       mlops_oid_fmt(b, there));
}

/*
 * A model version is registered by its git tag NAME@vX.Y.Z (registry.h):
 * before anything is written, the tag must be possible (a GTO name, a
 * commit to tag) and the version, when registered here, the same record.
 */
static int check_model(struct mlops_repo *repo, const char *file, const char *ref,
		       const mlops_oid *id, const void *data, size_t len, mlops_oid *cur)
{
	cJSON *rec = cJSON_ParseWithLength(data, len);
	char *rev = mlops_strdupf("%s@%s", mlops_json_str(rec, "name") ? mlops_json_str(rec, "name") : "",
				  mlops_json_str(rec, "version") ? mlops_json_str(rec, "version") : "");
	int err = rev ? mlops_model_tag_record(NULL, repo, rec, id, 1) :
		  mlops_error_set(MLOPS_ERROR, "out of memory");
	if (err == MLOPS_EUSAGE || err == MLOPS_EINVALID)
		err = mlops_error_wrap(MLOPS_EINVALID, "'%s' is not a valid bundle: ref '%s'", file, ref);
	else if (err == MLOPS_ENOTFOUND)
		err = mlops_error_wrap(err, "unable to register '%s'", rev);
	if (err == 0) {
		err = mlops_model_resolve(NULL, cur, NULL, repo, rev);
		if (err == 0 && mlops_oid_cmp(cur, id))
			err = conflict(file, rev, cur, id);
		else if (err == MLOPS_ENOTFOUND)
			err = 0;
	}
	cJSON_Delete(rec);
	free(rev);
	return err;
}

/* Tag the model version of record id (*have: it was registered here already). */
static int tag_model(struct mlops_repo *repo, const mlops_oid *id, int *have)
{
	cJSON *rec = NULL;
	mlops_oid cur;
	int err = mlops_json_load(&rec, repo->odb, id);
	char *rev = err == 0 ? mlops_strdupf("%s@%s", mlops_json_str(rec, "name"),
					     mlops_json_str(rec, "version")) : NULL;
	if (err == 0 && !rev)
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	if (err == 0) {
		*have = mlops_model_resolve(NULL, &cur, NULL, repo, rev) == 0 && !mlops_oid_cmp(&cur, id);
		mlops_error_clear();
		if (!*have)
			err = mlops_model_tag_record(NULL, repo, rec, id, 0);
	}
	cJSON_Delete(rec);
	free(rev);
	return err;
}

struct move_ctx {
	struct staged *s;
	struct mlops_bundle_result *res;
	int err;
};

static int move_one(const mlops_oid *id, uint64_t *val, void *payload)
{
	struct move_ctx *c = payload;
	void *data;
	size_t len;
	if (!(*val & SEEN))
		return 0;
	if (mlops_odb_freshen(c->s->odb, id))
		return 0;
	int err = staged_read(&data, &len, c->s, id);
	if (err < 0)
		return err;
	err = mlops_odb_write_hashed(c->s->odb, id, data, len, NULL);
	free(data);
	if (err == 0)
		c->res->added++;
	return err;
}

int mlops_bundle_import(struct mlops_bundle_result **out, struct mlops_repo *repo,
			const char *file)
{
	struct mlops_bundle_result *res = calloc(1, sizeof(*res));
	struct manifest m = { 0 };
	struct archive *a = NULL;
	struct mlops_reach *walk = NULL;
	char *stage = NULL, *text = NULL;
	int err = 0;

	*out = NULL;
	if (!res)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((err = mlops_oidmap_new(&m.objects)) < 0)
		goto done;
	mlops_workdir_clean(repo->tmpdir);
	if ((err = mlops_workdir_make(&stage, repo->tmpdir, "import")) < 0)
		goto done;
	if ((err = mlops_archive_load()) < 0)
		goto done;
	a = archive_read_new();
	if (!a || archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    archive_read_support_filter_none(a) != ARCHIVE_OK ||
	    archive_read_support_format_tar(a) != ARCHIVE_OK) {
		err = mlops_error_set(MLOPS_ERROR, "unable to set up libarchive");
		goto done;
	}
	struct stat st;
	int from_stdin = !strcmp(file, "-");
	if (!from_stdin && stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
		err = mlops_error_sys(EISDIR, "unable to read '%s'", file);
		goto done;
	}
	if (archive_read_open_filename(a, from_stdin ? NULL : file, 1 << 16) != ARCHIVE_OK) {
		/* libarchive's words ("Unrecognized archive format") are not ours. */
		int e = !from_stdin && access(file, R_OK) < 0 ? errno : 0;
		err = e == ENOENT || e == ENOTDIR ?
		      mlops_error_set(MLOPS_ENOTFOUND, "unable to open '%s': %s", file, strerror(e)) :
		      e ? mlops_error_sys(e, "unable to open '%s'", file) :
		      bad(file, "it is not a gzip-compressed tar archive (or is damaged)");
		goto done;
	}
	struct archive_entry *e;
	int first = 1, rc;
	while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		mode_t type = archive_entry_filetype(e);
		if (!name || name[0] == '/' || strstr(name, "..")) {
			err = bad(file, "an entry's path is absolute or leaves the bundle");
			goto done;
		}
		if (type != AE_IFREG || archive_entry_hardlink(e) || archive_entry_symlink(e)) {
			err = bad(file, "it holds a link, a device or a folder");
			goto done;
		}
		if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0) {
			err = bad(file, "an entry has no size");
			goto done;
		}
		uint64_t size = (uint64_t)archive_entry_size(e);
		if (first) {
			if (strcmp(name, MANIFEST) || size > MANIFEST_MAX) {
				err = bad(file, "it does not start with " MANIFEST);
				goto done;
			}
			if (!(text = malloc(size + 1))) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				goto done;
			}
			la_ssize_t n = archive_read_data(a, text, size);
			if (n < 0 || (uint64_t)n != size) {
				err = bad(file, "its manifest is truncated");
				goto done;
			}
			if ((err = parse_manifest(&m, res, text, size, file)) < 0)
				goto done;
			first = 0;
			continue;
		}
		mlops_oid id;
		uint64_t *v;
		if (strncmp(name, "objects/", 8) || strlen(name) != 8 + MLOPS_OID_HEXSZ ||
		    mlops_oid_parse(&id, name + 8) < 0) {
			mlops_error_clear();
			err = bad(file, "it holds an entry that is not an object");
			goto done;
		}
		for (const char *p = name + 8; *p; p++)
			if (*p >= 'A' && *p <= 'F') {
				err = bad(file, "an object name is not lower case");
				goto done;
			}
		if (!(v = mlops_oidmap_get(m.objects, &id))) {
			err = bad(file, "it holds an object its manifest does not list");
			goto done;
		}
		if (*v & SEEN) {
			err = bad(file, "it holds an object twice");
			goto done;
		}
		if (size != (*v & ~SEEN) - 1) {
			err = bad(file, "an entry's size disagrees with the manifest");
			goto done;
		}
		if ((err = stage_entry(a, stage, &id, size, file)) < 0)
			goto done;
		*v |= SEEN;
		res->objects++;
		res->bytes += size;
	}
	if (rc != ARCHIVE_EOF) {
		err = bad(file, "it is damaged or truncated");
		goto done;
	}
	if (first) {
		err = bad(file, "it is empty");
		goto done;
	}
	/* Complete: every object the refs need is in the bundle or stored. */
	struct staged s = { stage, &m, repo->odb, { 0 } };
	mlops_reach_local_source(&s.local, repo->odb);
	struct mlops_reach_source src = { staged_visit, &s };
	if ((err = mlops_reach_new(&walk, NULL, NULL)) < 0)
		goto done;
	for (size_t i = 0; i < res->nrefs && err == 0; i++)
		err = mlops_reach_add(walk, &res->refs[i].id,
				      MLOPS_REACH_STRICT | MLOPS_REACH_INSPECT | MLOPS_REACH_RECORD);
	if (err < 0)
		goto done;
	if ((err = mlops_reach_run(walk, &src)) < 0) {
		mlops_error_wrap(MLOPS_EINVALID, "'%s' is not a complete bundle", file);
		err = MLOPS_EINVALID;
		goto done;
	}
	/*
	 * Each ref names a record of its kind and name, and one that is not
	 * numbered (a model version, a run) is free here or holds the same
	 * record: checked before anything is written.
	 */
	for (size_t i = 0; i < res->nrefs && err == 0; i++) {
		void *data = NULL;
		size_t len = 0;
		mlops_oid cur;
		uint64_t *v = mlops_oidmap_get(m.objects, &res->refs[i].id);
		err = v && (*v & SEEN) ? staged_read(&data, &len, &s, &res->refs[i].id) :
		      mlops_odb_read(&data, &len, repo->odb, &res->refs[i].id);
		if (err == 0)
			err = check_ref_record(file, res->refs[i].name, data, len);
		if (err == 0 && !strncmp(res->refs[i].name, "models/", 7))
			err = check_model(repo, file, res->refs[i].name, &res->refs[i].id, data, len, &cur);
		free(data);
		size_t plen;
		long num;
		if (err == 0 && !mlops_series_parse(res->refs[i].name, &plen, &num) &&
		    mlops_ref_read(&cur, repo, res->refs[i].name) == 0 &&
		    mlops_oid_cmp(&cur, &res->refs[i].id))
			err = conflict(file, res->refs[i].name, &cur, &res->refs[i].id);
		if (err == 0)
			mlops_error_clear();
	}
	if (err < 0)
		goto done;
	/* Move into the store, then the refs. */
	struct move_ctx mc = { &s, res, 0 };
	if ((err = mlops_oidmap_foreach(m.objects, move_one, &mc)) < 0 ||
	    (err = mlops_odb_sync(repo->odb)) < 0)
		goto done;
	for (size_t i = 0; i < res->nrefs && err == 0; i++) {
		struct mlops_lock *lock;
		char *to = NULL;
		mlops_oid zero, cur;
		memset(&zero, 0, sizeof(zero));
		if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
			break;
		if ((err = mlops_series_free_name(&to, repo, res->refs[i].name, &res->refs[i].id)) == 0) {
			int have = mlops_ref_read(&cur, repo, to) == 0 &&
				   !mlops_oid_cmp(&cur, &res->refs[i].id);
			mlops_error_clear();
			int wrote = !have;
			if (!have)
				err = mlops_ref_write(repo, to, &res->refs[i].id, &zero, "import");
			if (err == 0 && !strncmp(to, "models/", 7) &&
			    (err = tag_model(repo, &res->refs[i].id, &have)) < 0 && wrote) {
				/* No tag, no registration: the ref goes too, as register does. */
				int code = mlops_error_code();
				char saved[1024];
				snprintf(saved, sizeof(saved), "%s", mlops_error_message());
				mlops_ref_delete(repo, to, "import: undone");
				mlops_error_set(code, "%s", saved);
			}
			res->refs[i].existed = have;
			free(res->refs[i].new_name);
			res->refs[i].new_name = to;
		}
		mlops_lock_release(lock);
	}
done:
	if (a)
		archive_read_free(a);
	if (stage)
		mlops_remove_tree(stage);
	free(stage);
	free(text);
	mlops_reach_free(walk);
	mlops_oidmap_free(m.objects);
	cJSON_Delete(m.root);
	if (err < 0) {
		mlops_bundle_result_free(res);
		return err;
	}
	*out = res;
	return 0;
}
