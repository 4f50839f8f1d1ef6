/*
 * feature.c - feature set definitions and versions: add (validate and
 * record a spec), names, versions, resolve, the source of a feature set,
 * the table checkout, the object walk, and mlops.lock's "features" section
 * (see feature.h for the records).  Materialisation is in
 * feature_materialize.c, reads in feature_read.c.
 *
 * Write protocol, as for datasets: objects are stored and synced without
 * the repository lock; under the lock the next number is taken, the record
 * written and synced, the ref written (expected absent), and mlops.lock
 * updated.
 */
#include "feature.h"
#include "feature_int.h"
#include "dataset.h"
#include "lockfile.h"
#include "rev.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/refs.h"
#include "store/repo.h"
#include "store/tree.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOCK_TIMEOUT_MS 10000

/* ---- the source: a dataset file streamed through a socket ------------- */

struct stream_job {
	struct mlops_odb *odb;
	struct mlops_node node;
	int fd;
	int err;
	char msg[512];
};

static int stream_cb(const void *data, size_t len, void *payload)
{
	struct stream_job *j = payload;
	const char *p = data;
	while (len) {
		ssize_t w = send(j->fd, p, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return 1; /* the reader went away: stop quietly */
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static void *stream_main(void *arg)
{
	struct stream_job *j = arg;
	int err = mlops_tree_file_stream(j->odb, &j->node, stream_cb, j);
	if (err < 0) {
		j->err = err;
		snprintf(j->msg, sizeof(j->msg), "%s", mlops_error_message());
	}
	shutdown(j->fd, SHUT_WR);
	return NULL;
}

int ft_source_open(struct ft_source **out, struct mlops_repo *repo, const struct mlops_node *node,
		   const char *name)
{
	struct ft_source *s = calloc(1, sizeof(*s));
	int sv[2], err;
	*out = NULL;
	if (!s)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		free(s);
		return mlops_error_sys(errno, "unable to stream '%s'", name);
	}
	s->job = calloc(1, sizeof(*s->job));
	if (!s->job) {
		close(sv[0]);
		close(sv[1]);
		free(s);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	s->job->odb = repo->odb;
	s->job->node = *node;
	s->job->fd = sv[1];
	s->fd = sv[0];
	if ((err = pthread_create(&s->thread, NULL, stream_main, s->job)) != 0) {
		close(sv[0]);
		close(sv[1]);
		free(s->job);
		free(s);
		return mlops_error_sys(err, "unable to stream '%s'", name);
	}
	s->running = 1;
	struct mlops_csv_options o = { .name = name };
	const char *dot = strrchr(name, '.');
	if (dot && (!strcmp(dot, ".jsonl") || !strcmp(dot, ".ndjson")))
		o.format = MLOPS_CSV_FORMAT_JSONL;
	if ((err = mlops_csv_open_fd(&s->csv, s->fd, &o)) < 0) {
		ft_source_close(s, &err);
		return err;
	}
	*out = s;
	return 0;
}

void ft_source_close(struct ft_source *s, int *err)
{
	if (!s)
		return;
	mlops_csv_free(s->csv);
	if (s->fd >= 0)
		close(s->fd);
	if (s->running)
		pthread_join(s->thread, NULL);
	close(s->job->fd);
	/* A store error explains a short or malformed stream better. */
	if (err && s->job->err < 0)
		*err = mlops_error_set(s->job->err, "%s", s->job->msg);
	free(s->job);
	free(s);
}

void ft_source_pick_free(struct ft_source_pick *p)
{
	if (!p)
		return;
	cJSON_Delete(p->record);
	free(p->path);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

int ft_source_pick(struct ft_source_pick *out, struct mlops_repo *repo, const char *rev,
		   const char *file)
{
	struct mlops_dataset_version *v = NULL;
	char *list = NULL;
	size_t found = 0;
	int err;
	memset(out, 0, sizeof(*out));
	if ((err = mlops_dataset_resolve(&v, repo, rev)) < 0)
		return err;
	for (size_t i = 0; i < v->nentries; i++) {
		struct mlops_tree_list l;
		if ((err = mlops_tree_list(&l, repo->odb, &v->entries[i].node, 0)) < 0)
			goto done;
		for (size_t k = 0; k < l.count; k++) {
			if (l.files[k].node.kind == MLOPS_KIND_LINK)
				continue;
			char *full = *l.files[k].path ? mlops_strdupf("%s/%s", v->entries[i].path, l.files[k].path) :
							strdup(v->entries[i].path);
			if (!full) {
				mlops_tree_list_free(&l);
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				goto done;
			}
			size_t fl = strlen(full), nl = file ? strlen(file) : 0;
			int match = !file || !strcmp(full, file) ||
				    (fl > nl && full[fl - nl - 1] == '/' && !strcmp(full + fl - nl, file));
			char *nlst = mlops_strdupf("%s%s'%s'", list ? list : "", list ? ", " : "", full);
			free(list);
			list = nlst;
			if (match && ++found == 1) {
				out->path = full;
				out->node = l.files[k].node;
				full = NULL;
			}
			free(full);
		}
		mlops_tree_list_free(&l);
	}
	if (found == 0 && file) {
		err = mlops_error_set(MLOPS_ENOTFOUND, "file: dataset %s@v%ld has no file '%s' (it has %s)",
				      v->name, v->version, file, list ? list : "no files");
		goto done;
	}
	if (found == 0) {
		err = mlops_error_set(MLOPS_ENOTFOUND, "dataset %s@v%ld has no files", v->name, v->version);
		goto done;
	}
	if (found > 1) {
		err = mlops_error_set(MLOPS_EINVALID,
				      "source: dataset %s@v%ld has several files (%s); name one with \"file\"",
				      v->name, v->version, list ? list : "");
		goto done;
	}
	out->id = v->id;
	out->version = v->version;
	if (!(out->name = strdup(v->name))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
done:
	if (err < 0)
		ft_source_pick_free(out);
	free(list);
	mlops_dataset_version_free(v);
	return err;
}

/* Which source column feeds each input, the time and the created column. */
int ft_bind_columns(size_t *in_idx, long *ts_idx, long *cr_idx, const struct mlops_feature_transform *t,
		    const char *const *names, size_t n, const char *srcname)
{
	char cols[600] = "";
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(cols);
		if (l < sizeof(cols) - 64)
			snprintf(cols + l, sizeof(cols) - l, "%s%s", i ? ", " : "", names[i]);
		else if (l < sizeof(cols) - 4) {
			snprintf(cols + l, sizeof(cols) - l, ", ...");
			break;
		}
	}
#define FIND(var, col, ...)                                                                          \
	do {                                                                                         \
		long _k = -1;                                                                        \
		for (size_t _i = 0; _i < n; _i++)                                                    \
			if (!strcmp(names[_i], (col))) {                                             \
				_k = (long)_i;                                                       \
				break;                                                               \
			}                                                                            \
		if (_k < 0) {                                                                        \
			char _w[200];                                                                \
			snprintf(_w, sizeof(_w), __VA_ARGS__);                                       \
			return mlops_error_set(MLOPS_EINVALID, "%s: unknown column '%s' in '%s' (columns: %s)", \
					       _w, (col), srcname, cols);                            \
		}                                                                                    \
		var = _k;                                                                            \
	} while (0)
	long k;
	for (size_t i = 0; i < t->nentity; i++) {
		FIND(k, t->entity[i], t->nentity == 1 ? "entity" : "entity[%zu]", i);
		in_idx[i] = (size_t)k;
	}
	FIND(*ts_idx, t->timestamp, "timestamp");
	*cr_idx = -1;
	if (t->created)
		FIND(*cr_idx, t->created, "created");
	for (size_t i = 0; i < t->nf; i++) {
		if (!t->f[i].column)
			continue;
		FIND(k, t->f[i].column, "features[%zu].column", i);
		in_idx[t->f[i].input] = (size_t)k;
	}
#undef FIND
	return 0;
}

/* ---- records, names, versions ------------------------------------------- */

static char *git_author(struct mlops_repo *repo)
{
	char *a = mlops_repo_author(repo);
	return a ? a : strdup("");
}

static int lock_update(struct mlops_repo *repo, const char *name, const mlops_oid *spec,
		       long spec_version, const mlops_oid *record, long version)
{
	struct mlops_lockfile *lf;
	int err = mlops_lockfile_load(&lf, repo);
	if (err < 0)
		return err;
	cJSON *sec = mlops_lockfile_section(lf, "features");
	cJSON *e = cJSON_GetObjectItemCaseSensitive(sec, name);
	if (!e) {
		e = cJSON_CreateObject();
		cJSON_AddItemToObject(sec, name, e);
	}
	if (spec) {
		cJSON_DeleteItemFromObjectCaseSensitive(e, "spec");
		cJSON_DeleteItemFromObjectCaseSensitive(e, "spec_version");
		mlops_json_add_oid(e, "spec", spec);
		cJSON_AddNumberToObject(e, "spec_version", (double)spec_version);
	}
	if (record) {
		cJSON_DeleteItemFromObjectCaseSensitive(e, "record");
		cJSON_DeleteItemFromObjectCaseSensitive(e, "version");
		mlops_json_add_oid(e, "record", record);
		cJSON_AddNumberToObject(e, "version", (double)version);
	}
	err = mlops_lockfile_save(lf, repo);
	mlops_lockfile_free(lf);
	return err;
}

int ft_lock_record(struct mlops_repo *repo, const char *name, const mlops_oid *spec, long spec_version,
		   const mlops_oid *record, long version)
{
	return lock_update(repo, name, spec, spec_version, record, version);
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

static int list_versions(long **out, size_t *n, struct mlops_repo *repo, const char *dir)
{
	char **names;
	size_t cnt;
	*out = NULL;
	*n = 0;
	int err = mlops_ref_list(&names, &cnt, repo, dir);
	if (err < 0)
		return err;
	long *v = malloc((cnt ? cnt : 1) * sizeof(*v));
	if (!v) {
		mlops_strlist_free(names, cnt);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < cnt; i++) {
		char *end;
		if (names[i][0] != 'v')
			continue;
		long x = strtol(names[i] + 1, &end, 10);
		if (*end || x < 1)
			continue;
		v[k++] = x;
	}
	mlops_strlist_free(names, cnt);
	qsort(v, k, sizeof(*v), cmp_long);
	*out = v;
	*n = k;
	return 0;
}

int mlops_feature_versions(long **out, size_t *n, struct mlops_repo *repo, const char *name)
{
	char dir[200];
	if (!mlops_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid name", name);
	snprintf(dir, sizeof(dir), "features/%s", name);
	return list_versions(out, n, repo, dir);
}

int mlops_feature_spec_versions(long **out, size_t *n, struct mlops_repo *repo, const char *name)
{
	char dir[220];
	if (!mlops_name_valid(name))
		return mlops_error_set(MLOPS_EUSAGE, "'%s' is not a valid name", name);
	snprintf(dir, sizeof(dir), "features/%s/spec", name);
	return list_versions(out, n, repo, dir);
}

int mlops_feature_names(char ***out, size_t *n, struct mlops_repo *repo)
{
	int err = mlops_ref_list(out, n, repo, "features");
	if (err < 0)
		return err;
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		size_t l = strlen((*out)[i]);
		if (l && (*out)[i][l - 1] == '/') {
			(*out)[i][l - 1] = '\0';
			(*out)[k++] = (*out)[i];
		} else {
			free((*out)[i]);
		}
	}
	*n = k;
	return 0;
}

static int load_typed(cJSON **out, struct mlops_repo *repo, const mlops_oid *id, const char *type)
{
	char hex[MLOPS_OID_HEXSZ + 1];
	int err = mlops_json_load(out, repo->odb, id);
	if (err < 0)
		return err;
	const char *t = mlops_json_str(*out, "type");
	if (!t || strcmp(t, type)) {
		cJSON_Delete(*out);
		*out = NULL;
		return mlops_error_set(MLOPS_ECORRUPT, "object %s is not a %s record", mlops_oid_fmt(hex, id), type);
	}
	return 0;
}

/* Resolve under features/NAME[/spec]/vN; what is "feature set" or "feature spec". */
static int resolve_in(cJSON **record, mlops_oid *id, struct mlops_repo *repo, const char *text, int spec)
{
	struct mlops_rev rev;
	long *vers = NULL;
	size_t n = 0;
	const char *what = spec ? "feature spec" : "feature set";
	const char *type = spec ? "feature-spec" : "feature-set";
	int err = mlops_rev_parse(&rev, text);
	*record = NULL;
	if (err < 0)
		return err;
	if (rev.kind != MLOPS_REV_LATEST && rev.kind != MLOPS_REV_NUMBER && rev.kind != MLOPS_REV_PREFIX)
		return mlops_error_set(MLOPS_EUSAGE, "'%s': a %s revision is NAME, NAME@vN or NAME@<id prefix>",
				       text, what);
	err = spec ? mlops_feature_spec_versions(&vers, &n, repo, rev.name) :
		     mlops_feature_versions(&vers, &n, repo, rev.name);
	if (err < 0)
		return err;
	char base[220];
	snprintf(base, sizeof(base), spec ? "features/%s/spec" : "features/%s", rev.name);
	if (n == 0) {
		free(vers);
		if (!spec) {
			long *sv = NULL;
			size_t sn = 0;
			if (mlops_feature_spec_versions(&sv, &sn, repo, rev.name) == 0 && sn) {
				free(sv);
				return mlops_error_set(MLOPS_ENOTFOUND, "feature set '%s' is not materialized yet",
						       rev.name);
			}
			free(sv);
			mlops_error_clear();
		}
		return mlops_error_set(MLOPS_ENOTFOUND, "%s '%s' not found", what, rev.name);
	}
	long number = 0;
	if (rev.kind == MLOPS_REV_LATEST) {
		number = vers[n - 1];
	} else if (rev.kind == MLOPS_REV_NUMBER) {
		number = rev.number;
	} else {
		size_t plen = strlen(rev.arg), found = 0;
		char cands[1024] = "";
		for (size_t i = 0; i < n; i++) {
			char ref[240], hex[MLOPS_OID_HEXSZ + 1];
			mlops_oid rid;
			snprintf(ref, sizeof(ref), "%s/v%ld", base, vers[i]);
			if (mlops_ref_read(&rid, repo, ref) < 0)
				continue;
			if (!strncmp(mlops_oid_fmt(hex, &rid), rev.arg, plen)) {
				found++;
				number = vers[i];
				size_t cl = strlen(cands);
				snprintf(cands + cl, sizeof(cands) - cl, "%s%s@v%ld (%.12s)", found > 1 ? ", " : "",
					 rev.name, vers[i], hex);
			}
		}
		mlops_error_clear();
		free(vers);
		if (found == 0)
			return mlops_error_set(MLOPS_ENOTFOUND, "%s '%s' has no version with id %s", what, rev.name,
					       rev.arg);
		if (found > 1)
			return mlops_error_set(MLOPS_EAMBIGUOUS, "'%s' is ambiguous: it could be %s", text, cands);
		vers = NULL;
	}
	free(vers);
	char ref[240];
	snprintf(ref, sizeof(ref), "%s/v%ld", base, number);
	err = mlops_ref_read(id, repo, ref);
	if (err == MLOPS_ENOTFOUND)
		return mlops_error_set(MLOPS_ENOTFOUND, "%s '%s' has no version v%ld", what, rev.name, number);
	if (err < 0)
		return err;
	return load_typed(record, repo, id, type);
}

int mlops_feature_resolve(cJSON **record, mlops_oid *id, struct mlops_repo *repo, const char *rev)
{
	return resolve_in(record, id, repo, rev, 0);
}

int mlops_feature_spec_resolve(cJSON **record, mlops_oid *id, struct mlops_repo *repo, const char *rev)
{
	return resolve_in(record, id, repo, rev, 1);
}

/* ---- add ------------------------------------------------------------------ */

static int read_spec(cJSON **out, const char *path)
{
	char *text = NULL;
	size_t len;
	int err = mlops_read_file(&text, &len, path);
	*out = NULL;
	if (err < 0)
		return err;
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	const char *rest = end;
	while (j && rest && rest < text + len && (*rest == ' ' || *rest == '\t' || *rest == '\n' || *rest == '\r'))
		rest++;
	if (!j || (rest && rest < text + len)) {
		size_t line = 1;
		const char *at = j ? rest : end;
		for (const char *p = text; at && p < at && p < text + len; p++)
			line += *p == '\n';
		err = mlops_error_set(MLOPS_EINVALID, j ? "'%s' line %zu: unexpected text after the JSON object" :
						     "'%s' line %zu: not valid JSON", path, line);
		cJSON_Delete(j);
		j = NULL;
	} else if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		j = NULL;
		err = mlops_error_set(MLOPS_EINVALID, "'%s': expected a JSON object", path);
	} else {
		char where[256] = "";
		if ((err = mlops_json_unique_keys(j, where, sizeof(where))) < 0) {
			err = mlops_error_wrap(err, "'%s'", path);
			cJSON_Delete(j);
			j = NULL;
		}
	}
	free(text);
	*out = j;
	return err;
}

int ft_check_source(struct mlops_repo *repo, const struct mlops_feature_transform *t, const cJSON *spec,
		    const char *source_rev, struct ft_source_pick *pick)
{
	const char *src = source_rev;
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(spec, "file");
	struct ft_source *s = NULL;
	int err;
	if (!src && (err = ft_spec_str(&src, spec, "source", NULL)) < 0)
		return err;
	if (!src)
		return mlops_error_set(MLOPS_EINVALID, "source: missing (a dataset name such as transactions)");
	if (file && !cJSON_IsString(file))
		return mlops_error_set(MLOPS_EINVALID, "file: expected a path in the dataset");
	if ((err = ft_source_pick(pick, repo, src, cJSON_GetStringValue(file))) < 0)
		return mlops_error_wrap(err, "source '%s'", src);
	if ((err = ft_source_open(&s, repo, &pick->node, pick->path)) < 0)
		goto fail;
	size_t n;
	const char *const *names = mlops_csv_names(s->csv, &n);
	size_t *in_idx = calloc(t->ninputs ? t->ninputs : 1, sizeof(*in_idx));
	long ts, cr;
	if (!in_idx) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto fail;
	}
	err = ft_bind_columns(in_idx, &ts, &cr, t, names, n, pick->path);
	free(in_idx);
fail:
	ft_source_close(s, NULL);
	if (err < 0)
		ft_source_pick_free(pick);
	return err;
}

int mlops_feature_add(cJSON **record, mlops_oid *id, long *version, int *created,
		      struct mlops_repo *repo, const char *spec_path)
{
	cJSON *spec = NULL, *rec = NULL, *latest = NULL;
	struct mlops_feature_transform *t = NULL;
	struct ft_source_pick pick = { 0 };
	struct mlops_lock *lock = NULL;
	long *vers = NULL;
	size_t nvers = 0;
	char *author = NULL, *a = NULL, *b = NULL;
	int err;

	*record = NULL;
	*created = 0;
	if ((err = read_spec(&spec, spec_path)) < 0)
		return err;
	const char *name;
	if ((err = ft_spec_str(&name, spec, "name", NULL)) < 0) {
		err = mlops_error_wrap(err, "'%s'", spec_path);
		goto done;
	}
	if (!name) {
		err = mlops_error_set(MLOPS_EINVALID, "'%s': name: missing (the feature set's name)", spec_path);
		goto done;
	}
	if (!mlops_name_valid(name)) {
		err = mlops_error_set(MLOPS_EINVALID, "'%s': name: '%s' is not a valid name", spec_path, name);
		goto done;
	}
	if ((err = ft_parse(&t, spec, 0)) < 0 || (err = ft_check_source(repo, t, spec, NULL, &pick)) < 0) {
		err = mlops_error_wrap(err, "'%s'", spec_path);
		goto done;
	}
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		goto done;
	if ((err = mlops_feature_spec_versions(&vers, &nvers, repo, name)) < 0)
		goto done;
	if (nvers) {
		char rev[200];
		mlops_oid lid;
		snprintf(rev, sizeof(rev), "%s@v%ld", name, vers[nvers - 1]);
		if ((err = mlops_feature_spec_resolve(&latest, &lid, repo, rev)) < 0)
			goto done;
		cJSON *ls = cJSON_GetObjectItemCaseSensitive(latest, "spec");
		if ((err = mlops_json_canonical(&a, ls)) < 0 || (err = mlops_json_canonical(&b, spec)) < 0)
			goto done;
		if (!strcmp(a, b)) {
			*record = latest;
			*id = lid;
			*version = vers[nvers - 1];
			latest = NULL;
			err = lock_update(repo, name, id, *version, NULL, 0);
			goto done;
		}
	}
	long number = nvers ? vers[nvers - 1] + 1 : 1;
	author = git_author(repo);
	rec = cJSON_CreateObject();
	if (!rec || !author) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	cJSON_AddStringToObject(rec, "type", "feature-spec");
	cJSON_AddStringToObject(rec, "name", name);
	cJSON_AddNumberToObject(rec, "version", (double)number);
	cJSON_AddItemToObject(rec, "spec", spec);
	spec = NULL; /* owned by rec now */
	cJSON_AddNumberToObject(rec, "time", (double)time(NULL));
	cJSON_AddStringToObject(rec, "author", author);
	if ((err = mlops_json_store(id, repo->odb, rec, NULL)) < 0 || (err = mlops_odb_sync(repo->odb)) < 0)
		goto done;
	char ref[240];
	mlops_oid zero;
	memset(&zero, 0, sizeof(zero));
	snprintf(ref, sizeof(ref), "features/%s/spec/v%ld", name, number);
	if ((err = mlops_ref_write(repo, ref, id, &zero, "feature add")) < 0)
		goto done;
	if ((err = lock_update(repo, name, id, number, NULL, 0)) < 0)
		goto done;
	*record = rec;
	rec = NULL;
	*version = number;
	*created = 1;
done:
	mlops_lock_release(lock);
	cJSON_Delete(rec);
	cJSON_Delete(spec);
	cJSON_Delete(latest);
	mlops_feature_transform_free(t);
	ft_source_pick_free(&pick);
	free(vers);
	free(author);
	free(a);
	free(b);
	return err;
}

/* ---- table checkout and objects --------------------------------------------- */

int ft_record_table(struct mlops_node *out, const cJSON *record)
{
	const cJSON *tbl = cJSON_GetObjectItemCaseSensitive(record, "table");
	if (!tbl || mlops_node_from_json(out, tbl) < 0)
		return mlops_error_set(MLOPS_ECORRUPT, "the feature set record has no table");
	return 0;
}

int mlops_feature_table_checkout(struct mlops_repo *repo, const cJSON *record, const char *path)
{
	struct mlops_node node;
	char abs[PATH_MAX];
	int err = ft_record_table(&node, record);
	if (err < 0)
		return err;
	if (path[0] == '/') {
		if (snprintf(abs, sizeof(abs), "%s", path) >= (int)sizeof(abs))
			return mlops_error_set(MLOPS_EUSAGE, "'%s' is too long", path);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return mlops_error_sys(errno, "unable to get the current directory");
		if (snprintf(abs, sizeof(abs), "%s/%s", cwd, path) >= (int)sizeof(abs))
			return mlops_error_set(MLOPS_EUSAGE, "'%s' is too long", path);
	}
	return mlops_tree_checkout(repo->odb, NULL, &node, abs, NULL, NULL);
}

int mlops_feature_walk_objects(struct mlops_repo *repo, const cJSON *record,
			       int (*cb)(const mlops_oid *id, void *payload), void *payload)
{
	struct mlops_node node;
	mlops_oid idx;
	cJSON *top = NULL;
	int err = ft_record_table(&node, record);
	if (err < 0)
		return err;
	if ((err = mlops_tree_walk_objects(repo->odb, &node, cb, payload)) != 0)
		return err;
	if ((err = mlops_json_get_oid(&idx, record, "index")) < 0)
		return err;
	if ((err = cb(&idx, payload)) != 0)
		return err;
	if ((err = mlops_json_load(&top, repo->odb, &idx)) < 0)
		return err;
	const cJSON *pages = cJSON_GetObjectItemCaseSensitive(top, "pages"), *p;
	cJSON_ArrayForEach(p, pages) {
		mlops_oid pid;
		if ((err = mlops_json_get_oid(&pid, p, "id")) < 0 || (err = cb(&pid, payload)) != 0)
			break;
	}
	cJSON_Delete(top);
	return err;
}
