/*
 * maint.c - gc and fsck of the local store and of remotes (see maint.h).
 *
 * Safety of gc: the walk runs under the repository lock, so no ref changes
 * while it runs; a needed record that cannot be read stops gc before
 * anything is deleted; objects younger than the grace period are kept,
 * which covers a dataset add (objects are stored before the lock is taken
 * for its ref; objects it finds already stored are freshened, odb.h) or a
 * push into the remote running meanwhile.  A remote key whose time the
 * backend cannot tell is kept unless the grace period is nil.
 */
#include "maint.h"
#include "bundle.h"
#include "reach.h"
#include "run.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/odb.h"
#include "store/oidmap.h"
#include "store/pack.h"
#include "store/refs.h"
#include "store/remote.h"
#include "store/repo.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define LOCK_TIMEOUT_MS 10000
#define DEFAULT_GRACE (24LL * 3600)
/* A temporary file this old (or older than the grace, if shorter) is a killed command's. */
#define TMP_LEFTOVER_AGE 3600L

int mlops_duration_parse(long long *out, const char *text)
{
	char *end;
	if (!strcmp(text, "now")) {
		*out = 0;
		return 0;
	}
	if (!isdigit((unsigned char)*text))
		goto bad;
	errno = 0;
	long long v = strtoll(text, &end, 10);
	int range = errno == ERANGE;
	long long mul = 1;
	if (*end) {
		switch (tolower((unsigned char)*end)) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		case 'w': mul = 7 * 86400; break;
		default: goto bad;
		}
		if (end[1])
			goto bad;
	}
	/* Clamped or wrapped, a grace would silently be another (or the default). */
	if (range || v > LLONG_MAX / mul)
		return mlops_error_set(MLOPS_EINVALID, "'%s' is too long a duration (at most %lld seconds)",
				       text, LLONG_MAX);
	*out = v * mul;
	return 0;
bad:
	return mlops_error_set(MLOPS_EINVALID, "'%s' is not a duration (e.g. 3600, 30m, 12h, 1d, 2w)",
			       text);
}

static int grace_of(long long *out, struct mlops_repo *repo, long long given)
{
	char *s = NULL;
	if (given >= 0) {
		*out = given;
		return 0;
	}
	int err = mlops_config_get_string(&s, repo, "gc.grace");
	if (err == MLOPS_ENOTFOUND) {
		mlops_error_clear();
		*out = DEFAULT_GRACE;
		return 0;
	}
	if (err < 0)
		return err;
	err = mlops_duration_parse(out, s);
	if (err < 0)
		mlops_error_wrap(err, "gc.grace");
	free(s);
	return err;
}

/* ---- results ------------------------------------------------------------ */

void mlops_gc_result_free(struct mlops_gc_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->nremoved; i++)
		free(res->removed[i].key);
	free(res->removed);
	free(res);
}

void mlops_fsck_result_free(struct mlops_fsck_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->nfaults; i++) {
		free(res->faults[i].message);
		free(res->faults[i].ref);
	}
	free(res->faults);
	free(res);
}

static int add_removed(struct mlops_gc_result *res, const mlops_oid *id, uint64_t size,
		       const char *key)
{
	struct mlops_gc_item *p = realloc(res->removed, (res->nremoved + 1) * sizeof(*p));
	if (!p)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	res->removed = p;
	p[res->nremoved].id = *id;
	p[res->nremoved].size = size;
	p[res->nremoved].key = key ? strdup(key) : NULL;
	if (key && !p[res->nremoved].key)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	res->nremoved++;
	res->removed_bytes += size;
	return 0;
}

/* A ref whose file cannot be read as an id: a fault of its own. */
static int add_ref_fault(struct mlops_fsck_result *res, const char *ref, const char *msg)
{
	struct mlops_fault *p = realloc(res->faults, (res->nfaults + 1) * sizeof(*p));
	if (!p)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	res->faults = p;
	memset(&p[res->nfaults], 0, sizeof(*p));
	p[res->nfaults].code = MLOPS_ECORRUPT;
	p[res->nfaults].message = strdup(msg && *msg ? msg : "damaged");
	p[res->nfaults].ref = strdup(ref);
	if (!p[res->nfaults].message || !p[res->nfaults].ref) {
		free(p[res->nfaults].message);
		free(p[res->nfaults].ref);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	res->nfaults++;
	return 0;
}

static int add_fault(struct mlops_fsck_result *res, const mlops_oid *id, int code, const char *msg)
{
	for (size_t i = 0; i < res->nfaults; i++)
		if (!res->faults[i].ref && !mlops_oid_cmp(&res->faults[i].id, id))
			return 0;
	struct mlops_fault *p = realloc(res->faults, (res->nfaults + 1) * sizeof(*p));
	if (!p)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	res->faults = p;
	memset(&p[res->nfaults], 0, sizeof(*p));
	p[res->nfaults].id = *id;
	p[res->nfaults].code = code;
	p[res->nfaults].message = strdup(msg && *msg ? msg : "damaged");
	if (!p[res->nfaults].message)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	res->nfaults++;
	return 0;
}

/* ---- a read-only source over a remote ----------------------------------- */

struct remote_map {
	mlops_reach_found_cb cb;
	void *walk;
	size_t *map;
};

static int remote_found(void *payload, size_t index, int status, const void *data, size_t len)
{
	struct remote_map *m = payload;
	return m->cb(m->walk, m->map[index], status, data, len);
}

/* The walk's source on a remote: with missing set, the ids it lacks are put there. */
struct remote_source {
	struct mlops_xfer *x;
	struct mlops_oidmap *missing;
};

static int remote_visit(void *ctx, const struct mlops_reach_item *items, size_t n,
			mlops_reach_found_cb cb, void *walk)
{
	struct remote_source *rs = ctx;
	struct mlops_xfer *x = rs->x;
	size_t *map = malloc((n ? n : 1) * sizeof(*map));
	mlops_oid *ids = malloc((n ? n : 1) * sizeof(*ids));
	size_t k = 0;
	int err = 0;
	if (!map || !ids) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n && err == 0; i++) {
		if (!mlops_xfer_remote_has(x, &items[i].id))
			err = rs->missing && mlops_oidmap_put(rs->missing, &items[i].id, NULL) < 0 ?
			      mlops_error_set(MLOPS_ERROR, "out of memory") :
			      cb(walk, i, MLOPS_ENOTFOUND, NULL, 0);
		else if (!(items[i].flags & MLOPS_REACH_INSPECT))
			err = cb(walk, i, 0, NULL, 0);
		else {
			map[k] = i;
			ids[k++] = items[i].id;
		}
	}
	struct remote_map m = { cb, walk, map };
	if (err == 0 && k)
		err = mlops_xfer_fetch(x, ids, k, 0, remote_found, &m, NULL);
done:
	free(map);
	free(ids);
	return err;
}

struct remote_session {
	struct mlops_remote *r;
	struct mlops_xfer *x;
};

static void remote_close(struct remote_session *s)
{
	mlops_xfer_free(s->x);
	mlops_remote_free(s->r);
}

/* Open a session on an mlops remote (one with a marker); with learn set, list what it holds. */
static int remote_open(struct remote_session *s, struct mlops_repo *repo, const char *name, int jobs,
		       int learn)
{
	char *state = NULL;
	int err;
	memset(s, 0, sizeof(*s));
	if ((err = mlops_remote_open(&s->r, repo, name)) < 0)
		return err;
	if (!(state = mlops_remote_state_dir(repo, name)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	struct mlops_xfer_options xo = { .jobs = jobs };
	err = mlops_xfer_open(&s->x, s->r, repo->odb, state, repo->tmpdir, &xo);
	free(state);
	if (err == 0)
		err = mlops_xfer_require_remote(s->x);
	if (err == 0 && learn)
		err = mlops_xfer_learn_all(s->x);
	return err;
}

struct mlops_fsck_result;
static int add_ref_fault(struct mlops_fsck_result *res, const char *ref, const char *msg);

/*
 * The remote's refs as roots of walk.  With fsck, a damaged ref is a fault
 * of its own, as locally; without (gc), it fails: what it named is unknown.
 */
static int add_remote_refs(struct mlops_reach *walk, struct mlops_xfer *x, size_t *count,
			   struct mlops_fsck_result *fsck)
{
	struct mlops_remote_ref *refs;
	size_t n;
	int err = mlops_xfer_refs(&refs, &n, x, NULL, fsck != NULL);
	if (err < 0)
		return err;
	for (size_t i = 0; i < n && err == 0; i++)
		err = refs[i].damage ? add_ref_fault(fsck, refs[i].name, refs[i].damage) :
		      mlops_reach_add(walk, &refs[i].id,
				      MLOPS_REACH_STRICT | MLOPS_REACH_INSPECT | MLOPS_REACH_RECORD);
	if (count)
		*count = n;
	mlops_remote_refs_free(refs, n);
	return err;
}

/* ---- gc ----------------------------------------------------------------- */

/* gc stops at a damaged record; a missing object is only nothing to keep. */
static int gc_fault(void *payload, const mlops_oid *id, int code, const char *message)
{
	(void)payload;
	(void)id;
	if (code == MLOPS_ENOTFOUND)
		return 0;
	return mlops_error_set(MLOPS_ECORRUPT, "%s; gc deletes nothing while a needed record is "
			       "damaged (run 'mlops fsck')", message);
}

struct gc_local {
	struct mlops_reach *walk;
	struct mlops_gc_result *res;
	struct mlops_odb *odb;
	time_t cutoff;
	int dry_run;
};

static int gc_object(const mlops_oid *id, enum mlops_codec codec, uint64_t size, void *payload)
{
	struct gc_local *g = payload;
	struct mlops_odb_info info;
	(void)codec;
	if (mlops_reach_has(g->walk, id))
		return 0;
	if (mlops_odb_info(&info, g->odb, id) < 0) {
		mlops_error_clear();
		return 0;
	}
	/* A packed object's time is its pack's: the pack is as recent as its newest use. */
	if (info.mtime > g->cutoff) {
		g->res->recent++;
		return 0;
	}
	int err = add_removed(g->res, id, size, NULL);
	if (err == 0 && !g->dry_run)
		err = mlops_odb_remove(g->odb, id);
	return err;
}

static int gc_local(struct mlops_gc_result *res, struct mlops_repo *repo,
		    const struct mlops_gc_opts *opts)
{
	struct mlops_reach *walk = NULL;
	struct mlops_lock *lock = NULL;
	int err;
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		return err;
	if ((err = mlops_reach_new(&walk, gc_fault, NULL)) < 0 ||
	    (err = mlops_reach_add_repo_roots(walk, repo, MLOPS_REACH_ROOT_ALL, &res->commits)) < 0)
		goto done;
	struct mlops_reach_source src;
	mlops_reach_local_source(&src, repo->odb);
	if ((err = mlops_reach_run(walk, &src)) < 0)
		goto done;
	res->reachable = mlops_reach_count(walk);
	struct gc_local g = { walk, res, repo->odb, time(NULL) - (time_t)res->grace, opts->dry_run };
	if ((err = mlops_odb_foreach(repo->odb, gc_object, &g)) < 0)
		goto done;
	if (!opts->dry_run && (err = mlops_odb_repack(repo->odb)) < 0)
		goto done;
	if (!opts->dry_run) {
		long age = res->grace < TMP_LEFTOVER_AGE ? (long)res->grace : TMP_LEFTOVER_AGE;
		res->tmp_cleaned = (size_t)mlops_odb_clean_tmp(repo->odb, age);
		res->tmp_cleaned += (size_t)mlops_workdir_clean(repo->tmpdir);
	}
done:
	mlops_reach_free(walk);
	mlops_lock_release(lock);
	return err;
}

static int gc_remote(struct mlops_gc_result *res, struct mlops_repo *repo,
		     const struct mlops_gc_opts *opts)
{
	struct remote_session s;
	struct mlops_reach *walk = NULL;
	struct mlops_oidmap *missing = NULL;
	const char **keys = NULL;
	size_t nkeys = 0;
	int err, begun = 0;
	if ((err = remote_open(&s, repo, opts->remote, opts->jobs, 0)) < 0)
		goto done;
	if ((err = mlops_oidmap_new(&missing)) < 0)
		goto done;
	/* Said on the remote before a ref is read or a key listed: pushes wait (remote.h). */
	if (!opts->dry_run) {
		if ((err = mlops_xfer_gc_begin(s.x)) < 0)
			goto done;
		begun = 1;
	}
	if ((err = mlops_xfer_learn_all(s.x)) < 0)
		goto done;
	const struct mlops_remote_object *objs;
	size_t nobjs, npacks;
	mlops_xfer_inventory(&objs, &nobjs, &npacks, s.x);
	/* What a damaged index names cannot be known, as a damaged ref's. */
	for (size_t k = 0; k < npacks; k++) {
		const struct mlops_remote_pack *p = mlops_xfer_pack(s.x, k);
		if (p->damage) {
			err = mlops_error_set(MLOPS_EREMOTE, "%s; gc deletes nothing while what it "
					      "names cannot be known ('mlops fsck --remote %s' reports it)",
					      p->damage, opts->remote);
			goto done;
		}
	}
	if ((err = mlops_reach_new(&walk, gc_fault, NULL)) < 0 ||
	    (err = add_remote_refs(walk, s.x, NULL, NULL)) < 0 ||
	    (err = mlops_reach_add_repo_roots(walk, repo, MLOPS_REACH_ROOT_ALL, &res->commits)) < 0)
		goto done;
	struct remote_source rs = { s.x, missing };
	struct mlops_reach_source src = { remote_visit, &rs };
	if ((err = mlops_reach_run(walk, &src)) < 0)
		goto done;
	res->reachable = mlops_reach_count(walk);
	long long cutoff = (long long)time(NULL) - res->grace;
	if (!(keys = calloc(nobjs + 2 * npacks + 1, sizeof(*keys)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < nobjs && err == 0; i++) {
		if (mlops_reach_has(walk, &objs[i].id))
			continue;
		if (mlops_remote_too_recent(objs[i].mtime, cutoff, res->grace)) {
			res->recent++;
			continue;
		}
		keys[nkeys++] = objs[i].key;
		err = add_removed(res, &objs[i].id, objs[i].size, objs[i].key);
	}
	for (size_t k = 0; k < npacks && err == 0; k++) {
		const struct mlops_remote_pack *p = mlops_xfer_pack(s.x, k);
		const struct mlops_pack_index *idx = mlops_xfer_pack_index(s.x, k);
		size_t needed = 0;
		/*
		 * An index whose pack file is gone: its objects are missing, and
		 * it is kept while any is needed, so that the pack file, put
		 * back, is named again.
		 */
		for (size_t i = 0; idx && i < idx->count; i++)
			needed += p->has_data ? mlops_reach_has(walk, &idx->entries[i].id) :
				  mlops_oidmap_get(missing, &idx->entries[i].id) != NULL;
		if (needed && !p->has_data)
			mlops_warning_add("remote '%s' has the index '%s' and not its pack file: %zu "
					  "needed object%s missing, index kept ('mlops fsck --remote %s' "
					  "lists them)", s.r->url, p->idx_key, needed,
					  needed == 1 ? " is" : "s are", opts->remote);
		if (needed)
			continue;
		/* A pack without its index may be a push's in flight (pack.h). */
		long long grace = (!p->has_index || !p->has_data) && res->grace < MLOPS_PACK_ORPHAN_AGE ?
				  MLOPS_PACK_ORPHAN_AGE : res->grace;
		if (mlops_remote_too_recent(p->mtime, (long long)time(NULL) - grace, grace)) {
			res->recent++;
			continue;
		}
		if (p->idx_key)
			keys[nkeys++] = p->idx_key; /* the index first: the pack is then unnamed */
		if (p->has_data)
			keys[nkeys++] = p->pack_key;
		/*
		 * Each object of the pack is an entry (key: the pack's); a pack
		 * without its index, or an index without its pack, is one, named
		 * and keyed by the file that is there.
		 */
		if (!p->has_index)
			err = add_removed(res, &p->pack_id, p->size, p->pack_key);
		else if (!p->has_data)
			err = add_removed(res, &p->idx_id, 0, p->idx_key);
		for (size_t i = 0; idx && p->has_data && i < idx->count && err == 0; i++)
			err = add_removed(res, &idx->entries[i].id, idx->entries[i].length, p->pack_key);
	}
	if (err == 0 && !opts->dry_run && nkeys)
		err = mlops_xfer_delete(s.x, keys, nkeys);
	/*
	 * What killed pushes left (unfinished uploads, temporary files), after
	 * the deletions: those are what gc is for, and a remote that fails to
	 * list or abort its uploads must not keep them from happening.  A
	 * failure here still fails gc (the remote's failure); what was deleted
	 * stays deleted, and the marker is ended below all the same.  The age
	 * is the grace: a push still running that long, or any push with
	 * --grace now, loses its upload and fails, and the next push sends it
	 * again.
	 */
	if (err == 0) {
		err = mlops_xfer_clean(s.x, res->grace, opts->dry_run, &res->tmp_cleaned);
		if (err < 0 && nkeys && !opts->dry_run)
			mlops_error_wrap(err, "removed %zu object%s, but not what interrupted pushes left",
					 res->nremoved, res->nremoved == 1 ? "" : "s");
	}
done:
	if (begun) {
		/* Also after a failure: pushes wait while the marker says a gc runs. */
		char *why = err < 0 ? strdup(mlops_error_message()) : NULL;
		int end = mlops_xfer_gc_end(s.x);
		if (err == 0)
			err = end;
		else if (end < 0)
			mlops_warning_add("remote '%s' may still say a gc runs (pushes from other hosts "
					  "wait for it until the next gc, or an hour): %s",
					  s.r->url, mlops_error_message());
		if (why) {
			mlops_error_set(err, "%s", why);
			free(why);
		}
	}
	free(keys);
	mlops_reach_free(walk);
	mlops_oidmap_free(missing);
	remote_close(&s);
	return err;
}

int mlops_gc(struct mlops_gc_result **out, struct mlops_repo *repo,
	     const struct mlops_gc_opts *opts)
{
	struct mlops_gc_result *res = calloc(1, sizeof(*res));
	*out = NULL;
	if (!res)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = grace_of(&res->grace, repo, opts->grace);
	if (err == 0)
		err = opts->remote ? gc_remote(res, repo, opts) : gc_local(res, repo, opts);
	if (err < 0) {
		mlops_gc_result_free(res);
		return err;
	}
	*out = res;
	return 0;
}

/* ---- fsck --------------------------------------------------------------- */

static int fsck_fault(void *payload, const mlops_oid *id, int code, const char *message)
{
	return add_fault(payload, id, code, message);
}

struct fsck_local {
	struct mlops_fsck_result *res;
	struct mlops_odb *odb;
};

static int fsck_object(const mlops_oid *id, enum mlops_codec codec, uint64_t size, void *payload)
{
	struct fsck_local *f = payload;
	(void)codec;
	(void)size;
	f->res->objects++;
	int err = mlops_odb_verify(f->odb, id);
	if (err == MLOPS_ECORRUPT || err == MLOPS_ENOTFOUND) {
		err = add_fault(f->res, id, err, mlops_error_message());
		mlops_error_clear();
	}
	return err;
}

struct fsck_remote {
	struct mlops_fsck_result *res;
	const mlops_oid *ids;
	const struct mlops_pack_index *idx;
	mlops_oid pack;
};

static int fsck_fetched(void *payload, size_t index, int status, const void *data, size_t len)
{
	struct fsck_remote *f = payload;
	(void)data;
	(void)len;
	if (status == 0)
		return 0;
	return add_fault(f->res, &f->ids[index], status, mlops_error_message());
}

static int fsck_pack_entry(void *payload, size_t index, int status, const void *data, size_t len)
{
	struct fsck_remote *f = payload;
	(void)data;
	(void)len;
	const mlops_oid *id = index == (size_t)-1 || !f->idx ? &f->pack : &f->idx->entries[index].id;
	return add_fault(f->res, id, status, mlops_error_message());
}

static int fsck_pack_fault(void *payload, const mlops_oid *name, const char *message)
{
	return add_fault(payload, name, MLOPS_ECORRUPT, message);
}

static int fsck_remote(struct mlops_fsck_result *res, struct mlops_repo *repo, const char *name,
		       int jobs, struct mlops_reach *walk)
{
	struct remote_session s;
	mlops_oid *ids = NULL;
	int err;
	if ((err = remote_open(&s, repo, name, jobs, 1)) < 0)
		goto done;
	const struct mlops_remote_object *objs;
	size_t nobjs, npacks;
	mlops_xfer_inventory(&objs, &nobjs, &npacks, s.x);
	if (!(ids = malloc((nobjs ? nobjs : 1) * sizeof(*ids)))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < nobjs; i++)
		ids[i] = objs[i].id;
	struct fsck_remote f = { res, ids, NULL, { { 0 } } };
	if ((err = mlops_xfer_fetch(s.x, ids, nobjs, 0, fsck_fetched, &f, NULL)) < 0)
		goto done;
	res->objects += nobjs;
	for (size_t k = 0; k < npacks && err == 0; k++) {
		const struct mlops_remote_pack *p = mlops_xfer_pack(s.x, k);
		struct fsck_remote fp = { res, NULL, mlops_xfer_pack_index(s.x, k), p->idx_id };
		if (!p->has_index) {
			/* Younger, it may be a push's between its two uploads (pack.h). */
			if (mlops_remote_too_recent(p->mtime, (long long)time(NULL) - MLOPS_PACK_ORPHAN_AGE,
						    MLOPS_PACK_ORPHAN_AGE))
				continue;
			mlops_error_set(MLOPS_ECORRUPT, "pack file '%s' on remote '%s' has no index: "
					"its objects cannot be read ('mlops gc --remote' removes it)",
					p->pack_key, s.r->url);
			err = add_fault(res, &p->pack_id, MLOPS_ECORRUPT, mlops_error_message());
			mlops_error_clear();
			continue;
		}
		res->packs++;
		if (p->damage) {
			err = add_fault(res, &p->idx_id, MLOPS_ECORRUPT, p->damage);
			continue;
		}
		res->objects += p->count;
		err = mlops_xfer_verify_pack(s.x, k, fsck_pack_entry, &fp);
	}
	if (err < 0 || (err = add_remote_refs(walk, s.x, &res->refs, res)) < 0)
		goto done;
	struct remote_source rs = { s.x, NULL };
	struct mlops_reach_source src = { remote_visit, &rs };
	err = mlops_reach_run(walk, &src);
done:
	free(ids);
	remote_close(&s);
	return err;
}

int mlops_fsck(struct mlops_fsck_result **out, struct mlops_repo *repo, const char *remote,
	       int jobs)
{
	struct mlops_fsck_result *res = calloc(1, sizeof(*res));
	struct mlops_reach *walk = NULL;
	int err;
	*out = NULL;
	if (!res)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((err = mlops_reach_new(&walk, fsck_fault, res)) < 0)
		goto done;
	if (remote) {
		err = fsck_remote(res, repo, remote, jobs, walk);
	} else {
		struct fsck_local f = { res, repo->odb };
		char **names;
		size_t n;
		if ((err = mlops_odb_check_packs(repo->odb, &res->packs, fsck_pack_fault, res)) < 0 ||
		    (err = mlops_odb_foreach(repo->odb, fsck_object, &f)) < 0)
			goto done;
		if ((err = mlops_ref_list_all(&names, &n, repo, "")) < 0)
			goto done;
		res->refs = n;
		/* Every ref is a root; one that cannot be read is a fault. */
		for (size_t i = 0; i < n && err == 0; i++) {
			mlops_oid id;
			int rc = mlops_ref_read(&id, repo, names[i]);
			if (rc == 0)
				err = mlops_reach_add(walk, &id, MLOPS_REACH_STRICT |
						      MLOPS_REACH_INSPECT | MLOPS_REACH_RECORD);
			else if (rc == MLOPS_ECORRUPT || rc == MLOPS_EINVALID)
				err = add_ref_fault(res, names[i], mlops_error_message());
			else
				err = rc;
		}
		mlops_strlist_free(names, n);
		/*
		 * What the refs name first, all of it required; then what only
		 * the work tree's mlops.lock names, which a clone may not have
		 * fetched yet, or only in part (a pull stopped midway): absent,
		 * it is no fault; damaged, it is.
		 */
		struct mlops_reach_source src;
		mlops_reach_local_source(&src, repo->odb);
		mlops_reach_inherit_required(walk, 1);
		if (err < 0 || (err = mlops_reach_run(walk, &src)) < 0 ||
		    (err = mlops_reach_add_repo_roots(walk, repo, MLOPS_REACH_ROOT_WORKTREE, NULL)) < 0)
			goto done;
		err = mlops_reach_run(walk, &src);
	}
	if (err == 0)
		res->reachable = mlops_reach_count(walk);
done:
	mlops_reach_free(walk);
	if (err < 0) {
		mlops_fsck_result_free(res);
		return err;
	}
	*out = res;
	return 0;
}
