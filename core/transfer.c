/*
 * transfer.c - push, fetch and pull in terms of refs and records (see
 * transfer.h).
 *
 * Order of a push: walk the local closure (any damage stops the push
 * before anything is sent), send the objects (store/remote.c), then the
 * refs one by one by compare-and-swap.  Order of a fetch: list the
 * remote's refs, walk from the new ones through a source that reads local
 * objects and fetches missing ones level by level, then, only when the
 * walk found everything intact, write the refs under the repository lock.
 */
#include "transfer.h"
#include "dataset.h"
#include "lockfile.h"
#include "pullnew.h"
#include "reach.h"
#include "run.h"
#include "store/error.h"
#include "store/fsutil.h"
#include "store/index.h"
#include "store/json.h"
#include "store/odb.h"
#include "store/oidmap.h"
#include "store/refs.h"
#include "store/repo.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_TIMEOUT_MS 10000
#define CAS_TRIES 100
#define PUSH_ROUNDS 3   /* pushes again after a gc of the remote ran meanwhile */
#define GC_WAIT_DEFAULT 60 /* seconds a push waits for a gc of the remote to end */
#define GC_POLL_MS 200

void mlops_transfer_result_free(struct mlops_transfer_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->nrefs; i++) {
		free(res->refs[i].name);
		free(res->refs[i].new_name);
	}
	free(res->refs);
	free(res->remote);
	free(res->url);
	free(res);
}

int mlops_transfer_rejected(const struct mlops_transfer_result *res)
{
	for (size_t i = 0; i < res->nrefs; i++)
		if (res->refs[i].change == MLOPS_REF_REJECTED ||
		    res->refs[i].change == MLOPS_REF_DAMAGED_KEPT)
			return 1;
	return 0;
}

static int add_update(struct mlops_transfer_result *res, const char *name, const char *new_name,
		      const mlops_oid *id, enum mlops_ref_change change)
{
	struct mlops_ref_update *u = realloc(res->refs, (res->nrefs + 1) * sizeof(*u));
	if (!u)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	res->refs = u;
	u = &res->refs[res->nrefs];
	u->name = strdup(name);
	u->new_name = strdup(new_name);
	u->id = *id;
	u->change = change;
	if (!u->name || !u->new_name) {
		free(u->name);
		free(u->new_name);
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	res->nrefs++;
	return 0;
}

/* ---- numbered series ---------------------------------------------------- */

int mlops_series_parse(const char *name, size_t *prefix_len, long *number)
{
	const char *slash = strrchr(name, '/');
	if (!slash || slash == name || slash[1] != 'v' || slash[2] < '1' || slash[2] > '9')
		return 0;
	char *end;
	long n = strtol(slash + 2, &end, 10);
	if (*end || n < 1)
		return 0;
	*prefix_len = (size_t)(slash - name);
	*number = n;
	return 1;
}

int mlops_series_max(long *out, struct mlops_repo *repo, const char *prefix)
{
	*out = 0;
	for (int logs = 0; logs < 2; logs++) {
		char **names;
		size_t n;
		int err = logs ? mlops_reflog_list(&names, &n, repo, prefix) :
				 mlops_ref_list(&names, &n, repo, prefix);
		if (err < 0)
			return err;
		for (size_t i = 0; i < n; i++) {
			char *end;
			if (names[i][0] != 'v' || names[i][1] < '1' || names[i][1] > '9')
				continue;
			long v = strtol(names[i] + 1, &end, 10);
			if (!*end && v > *out)
				*out = v;
		}
		mlops_strlist_free(names, n);
	}
	return 0;
}

/*
 * The local version of series `prefix` ("datasets/NAME") that holds id:
 * *out is its ref name (the caller's), or NULL when none does.
 */
static int local_series_find(char **out, struct mlops_repo *repo, const char *prefix,
			     const mlops_oid *id)
{
	char **names;
	size_t n;
	*out = NULL;
	int err = mlops_ref_list(&names, &n, repo, prefix);
	if (err < 0)
		return err;
	for (size_t i = 0; i < n && !*out && err == 0; i++) {
		char *end;
		mlops_oid cur;
		if (names[i][0] != 'v' || (strtol(names[i] + 1, &end, 10), *end))
			continue;
		char *ref = mlops_strdupf("%s/%s", prefix, names[i]);
		if (!ref) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			break;
		}
		if (mlops_ref_read(&cur, repo, ref) == 0 && !mlops_oid_cmp(&cur, id))
			*out = ref;
		else
			free(ref);
		mlops_error_clear();
	}
	mlops_strlist_free(names, n);
	return err;
}

int mlops_series_free_name(char **out, struct mlops_repo *repo, const char *name,
			   const mlops_oid *id)
{
	mlops_oid cur;
	size_t plen;
	long num, max;
	*out = NULL;
	int err = mlops_ref_read(&cur, repo, name);
	if ((err == 0 && !mlops_oid_cmp(&cur, id)) || !mlops_series_parse(name, &plen, &num)) {
		mlops_error_clear();
		*out = strdup(name);
		return *out ? 0 : mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	if (err < 0 && err != MLOPS_ENOTFOUND)
		return err;
	int absent = err == MLOPS_ENOTFOUND;
	mlops_error_clear();
	if (absent) {
		/* Removed here: the number stays free only for what it named. */
		struct mlops_reflog_entry *log;
		size_t nlog, held = 0;
		if ((err = mlops_reflog_read(&log, &nlog, repo, name)) < 0)
			return err;
		for (size_t i = 0; i < nlog; i++)
			held += !mlops_oid_cmp(&log[i].new_id, id);
		if (nlog && !held)
			absent = 0;
		mlops_reflog_free(log, nlog);
	}
	char *prefix = strndup(name, plen);
	if (!prefix)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	/* The version is here under another number already: that one. */
	if ((err = local_series_find(out, repo, prefix, id)) == 0 && !*out) {
		if (absent)
			*out = strdup(name);
		else if ((err = mlops_series_max(&max, repo, prefix)) == 0)
			*out = mlops_strdupf("%s/v%ld", prefix, max + 1);
		if (err == 0 && !*out)
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
	}
	free(prefix);
	return err;
}

int mlops_series_rename(struct mlops_repo *repo, const char *from, const char *to,
			const mlops_oid *id)
{
	struct mlops_lock *lock;
	struct mlops_lockfile *lf = NULL;
	mlops_oid zero;
	char msg[512];
	size_t plen;
	long from_n = 0, to_n = 0;
	int err;
	memset(&zero, 0, sizeof(zero));
	if (!strcmp(from, to))
		return 0;
	mlops_series_parse(from, &plen, &from_n);
	mlops_series_parse(to, &plen, &to_n);
	snprintf(msg, sizeof(msg), "renumbered from %s", from);
	if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
		return err;
	if ((err = mlops_ref_write(repo, to, id, &zero, msg)) < 0)
		goto done;
	mlops_oid cur;
	if (mlops_ref_read(&cur, repo, from) == 0 && !mlops_oid_cmp(&cur, id))
		err = mlops_ref_delete(repo, from, msg);
	mlops_error_clear();
	if (err < 0)
		goto done;
	/* mlops.lock: entries of this version carry the new number. */
	if ((err = mlops_lockfile_load(&lf, repo)) < 0)
		goto done;
	cJSON *paths = mlops_lockfile_section(lf, "paths"), *e;
	char hex[MLOPS_OID_HEXSZ + 1];
	mlops_oid_fmt(hex, id);
	int changed = 0;
	cJSON_ArrayForEach(e, paths) {
		const char *rec = mlops_json_str(e, "record");
		cJSON *ver = cJSON_GetObjectItemCaseSensitive(e, "version");
		if (rec && !strcmp(rec, hex) && cJSON_IsNumber(ver) && (long)ver->valuedouble == from_n) {
			cJSON_SetNumberValue(ver, (double)to_n);
			changed = 1;
		}
	}
	if (changed)
		err = mlops_lockfile_save(lf, repo);
done:
	mlops_lockfile_free(lf);
	mlops_lock_release(lock);
	return err;
}

/* ---- sessions ----------------------------------------------------------- */

struct session {
	struct mlops_remote *remote;
	struct mlops_xfer *x;
	char *name;
	const struct mlops_transfer_opts *opts;
};

static void session_close(struct session *s)
{
	mlops_xfer_free(s->x);
	mlops_remote_free(s->remote);
	free(s->name);
}

static int session_open(struct session *s, struct mlops_transfer_result *res,
			struct mlops_repo *repo, const struct mlops_transfer_opts *opts)
{
	char *state = NULL;
	int err;
	memset(s, 0, sizeof(*s));
	s->opts = opts;
	if (opts->remote) {
		if (!(s->name = strdup(opts->remote)))
			return mlops_error_set(MLOPS_ERROR, "out of memory");
	} else if ((err = mlops_remote_default(&s->name, repo)) < 0) {
		return err;
	}
	if ((err = mlops_remote_open(&s->remote, repo, s->name)) < 0)
		return err;
	if (!(state = mlops_remote_state_dir(repo, s->name)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	struct mlops_xfer_options xo = { .jobs = opts->jobs, .progress = opts->progress,
					 .payload = opts->payload };
	err = mlops_xfer_open(&s->x, s->remote, repo->odb, state, repo->tmpdir, &xo);
	free(state);
	if (err < 0)
		return err;
	res->remote = strdup(s->name);
	res->url = strdup(s->remote->url);
	if (!res->remote || !res->url)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	return 0;
}

/* ---- push --------------------------------------------------------------- */

struct refpair {
	char *name;
	mlops_oid id;
};

static void refpairs_free(struct refpair *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(p[i].name);
	free(p);
}

static int push_pair(struct refpair **p, size_t *n, const char *name, const mlops_oid *id)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*p)[i].name, name))
			return 0;
	struct refpair *np = realloc(*p, (*n + 1) * sizeof(*np));
	if (!np)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	*p = np;
	if (!(np[*n].name = strdup(name)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	np[*n].id = *id;
	(*n)++;
	return 0;
}

/* The local refs a push sends: revs, or every ref. */
static int local_refs(struct refpair **out, size_t *n, struct mlops_repo *repo,
		      const struct mlops_transfer_opts *opts)
{
	int err = 0;
	*out = NULL;
	*n = 0;
	if (!opts->nrevs) {
		char **names;
		size_t cnt;
		if ((err = mlops_ref_list_all(&names, &cnt, repo, "")) < 0)
			return err;
		for (size_t i = 0; i < cnt && err == 0; i++) {
			mlops_oid id;
			if ((err = mlops_ref_read(&id, repo, names[i])) == 0)
				err = push_pair(out, n, names[i], &id);
		}
		mlops_strlist_free(names, cnt);
		return err;
	}
	for (size_t i = 0; i < opts->nrevs && err == 0; i++) {
		mlops_oid id;
		const char *rev = opts->revs[i];
		/* A name with a '/' is a ref's (names of versions have none). */
		if (mlops_ref_name_valid(rev) && strchr(rev, '/')) {
			if ((err = mlops_ref_read(&id, repo, rev)) == MLOPS_ENOTFOUND)
				err = mlops_error_set(MLOPS_ENOTFOUND, "ref '%s' not found", rev);
			if (err == 0)
				err = push_pair(out, n, rev, &id);
			continue;
		}
		if (!strncmp(rev, "r-", 2)) {
			cJSON *record = NULL;
			char ref[80], hex[MLOPS_OID_HEXSZ + 1];
			err = mlops_run_resolve(&record, &id, repo, rev);
			cJSON_Delete(record);
			if (err == 0) {
				snprintf(ref, sizeof(ref), "runs/%s", mlops_oid_fmt(hex, &id));
				err = push_pair(out, n, ref, &id);
			}
			continue;
		}
		struct mlops_dataset_version *v;
		if ((err = mlops_dataset_resolve(&v, repo, rev)) < 0)
			break;
		char ref[300];
		snprintf(ref, sizeof(ref), "datasets/%s/v%ld", v->name, v->version);
		err = push_pair(out, n, ref, &v->id);
		mlops_dataset_version_free(v);
	}
	if (err < 0) {
		refpairs_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return err;
}

/* Highest number in the remote series `prefix` (0 when none); *same gets a ref with id. */
static int remote_series(long *max, char **same, struct mlops_xfer *x, const char *prefix,
			 const mlops_oid *id)
{
	struct mlops_remote_ref *refs;
	size_t n;
	char *dir = mlops_strdupf("%s/", prefix);
	*max = 0;
	*same = NULL;
	if (!dir)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	/* A damaged ref still takes its number; it names no id to follow. */
	int err = mlops_xfer_refs(&refs, &n, x, dir, 1);
	free(dir);
	if (err < 0)
		return err;
	for (size_t i = 0; i < n; i++) {
		size_t plen;
		long num;
		if (!mlops_series_parse(refs[i].name, &plen, &num) || plen != strlen(prefix) ||
		    strncmp(refs[i].name, prefix, plen))
			continue;
		if (num > *max)
			*max = num;
		if (!refs[i].damage && !mlops_oid_cmp(&refs[i].id, id) && !*same)
			*same = strdup(refs[i].name);
	}
	mlops_remote_refs_free(refs, n);
	return 0;
}

static int push_ref(struct mlops_transfer_result *res, struct session *s, struct mlops_repo *repo,
		    const struct refpair *p, int force)
{
	struct mlops_remote *r = s->remote;
	mlops_oid zero, cur;
	size_t plen;
	long num;
	int err;
	memset(&zero, 0, sizeof(zero));
	for (int tries = 0; tries < CAS_TRIES; tries++) {
		err = r->ref_read(r, p->name, &cur);
		/*
		 * A damaged ref (no id in it) names nothing this push could
		 * follow or keep: left alone and reported, the other refs still
		 * go (one bad file must not stop every clone's push), and
		 * replaced with --force.
		 */
		if (err == MLOPS_ECORRUPT) {
			mlops_error_clear();
			if (!force)
				return add_update(res, p->name, p->name, &p->id, MLOPS_REF_DAMAGED_KEPT);
			err = r->ref_cas(r, p->name, &p->id, &mlops_remote_ref_damaged);
			if (err == 0)
				return add_update(res, p->name, p->name, &p->id, MLOPS_REF_UPDATED);
			if (err != MLOPS_ECONFLICT)
				return err;
			mlops_error_clear();
			continue;
		}
		if (err == 0 && !mlops_oid_cmp(&cur, &p->id))
			return add_update(res, p->name, p->name, &p->id, MLOPS_REF_UPTODATE);
		if (err == MLOPS_ENOTFOUND) {
			mlops_error_clear();
			err = r->ref_cas(r, p->name, &p->id, &zero);
			if (err == 0)
				return add_update(res, p->name, p->name, &p->id, MLOPS_REF_NEW);
			if (err == MLOPS_ECONFLICT) {
				mlops_error_clear();
				continue;
			}
			return err;
		}
		if (err < 0)
			return err;
		/* The remote holds another id under this name. */
		if (mlops_series_parse(p->name, &plen, &num)) {
			char *prefix = strndup(p->name, plen), *same = NULL, *to = NULL;
			long rmax, lmax;
			if (!prefix)
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			if ((err = remote_series(&rmax, &same, s->x, prefix, &p->id)) < 0 ||
			    (err = mlops_series_max(&lmax, repo, prefix)) < 0) {
				free(prefix);
				free(same);
				return err;
			}
			if (same) {
				/* Sent before under another number: follow it locally. */
				err = mlops_series_rename(repo, p->name, same, &p->id);
				if (err == 0)
					err = add_update(res, p->name, same, &p->id, MLOPS_REF_RENUMBERED);
				free(prefix);
				free(same);
				return err;
			}
			to = mlops_strdupf("%s/v%ld", prefix, (rmax > lmax ? rmax : lmax) + 1);
			free(prefix);
			if (!to)
				return mlops_error_set(MLOPS_ERROR, "out of memory");
			err = r->ref_cas(r, to, &p->id, &zero);
			if (err == MLOPS_ECONFLICT) {
				mlops_error_clear();
				free(to);
				continue;
			}
			if (err == 0 && (err = mlops_series_rename(repo, p->name, to, &p->id)) == 0)
				err = add_update(res, p->name, to, &p->id, MLOPS_REF_RENUMBERED);
			free(to);
			return err;
		}
		if (!force)
			return add_update(res, p->name, p->name, &p->id, MLOPS_REF_REJECTED);
		err = r->ref_cas(r, p->name, &p->id, &cur);
		if (err == 0)
			return add_update(res, p->name, p->name, &p->id, MLOPS_REF_UPDATED);
		if (err != MLOPS_ECONFLICT)
			return err;
		mlops_error_clear();
	}
	return mlops_error_set(MLOPS_ECONFLICT, "ref '%s' on remote '%s' keeps changing; try again",
			       p->name, r->url);
}

static void add_stats(struct mlops_xfer_stats *to, const struct mlops_xfer_stats *st)
{
	to->objects += st->objects;
	to->bytes += st->bytes;
	to->packs += st->packs;
	to->linked += st->linked;
	to->checks += st->checks;
	to->listings += st->listings;
}

/*
 * Bring the push to where its refs may be written: no gc of the remote
 * runs (one that does is waited for, up to wait seconds), and none ran
 * since the session last learnt what the remote holds, or the objects are
 * pushed again (a gc may have deleted some the push skipped as present).
 */
static int push_settle(struct session *s, const struct mlops_oid_list *ids,
		       struct mlops_transfer_result *res, long long wait)
{
	long long waited_ms = 0;
	int changed = 0;
	for (int round = 0;;) {
		char who[400];
		int c = mlops_xfer_refresh(s->x);
		if (c < 0)
			return c;
		changed |= c;
		if (mlops_xfer_collecting(s->x, who, sizeof(who))) {
			if (waited_ms >= wait * 1000)
				return mlops_error_set(MLOPS_EREMOTE, "remote '%s' is being collected by "
						       "gc (%s); waited %llds: push again when it "
						       "ends (one killed there is cleared by the "
						       "next gc --remote)", s->remote->url, who, wait);
			if (waited_ms == 0 && wait > 0 && s->opts && s->opts->notice) {
				char msg[800];
				snprintf(msg, sizeof(msg), "waiting for the gc of remote '%s' to end "
					 "(%s), up to %llds (remote.%s.gcWait)",
					 s->remote->url, who, wait, s->name);
				s->opts->notice(s->opts->payload, msg);
			}
			struct timespec ts = { 0, GC_POLL_MS * 1000000L };
			nanosleep(&ts, NULL);
			waited_ms += GC_POLL_MS;
			continue;
		}
		if (!changed)
			return 0;
		if (round++ == PUSH_ROUNDS)
			return mlops_error_set(MLOPS_EREMOTE, "remote '%s' is being collected (its gc "
					       "runs again and again): push again later",
					       s->remote->url);
		struct mlops_xfer_stats again;
		int err = mlops_xfer_push(s->x, ids->ids, ids->n, &again);
		if (err < 0)
			return err;
		add_stats(&res->stats, &again);
		changed = 0;
	}
}

int mlops_push(struct mlops_transfer_result **out, struct mlops_repo *repo,
	       const struct mlops_transfer_opts *opts)
{
	struct mlops_transfer_result *res = calloc(1, sizeof(*res));
	struct session s = { 0 };
	struct refpair *pairs = NULL;
	struct mlops_reach *walk = NULL;
	struct mlops_oid_list ids = { 0 };
	size_t npairs = 0;
	int err;

	*out = NULL;
	if (!res)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	if ((err = local_refs(&pairs, &npairs, repo, opts)) < 0)
		goto done;
	/* The closure, checked whole before anything is sent. */
	if ((err = mlops_reach_new(&walk, NULL, NULL)) < 0)
		goto done;
	for (size_t i = 0; i < npairs && err == 0; i++)
		err = mlops_reach_add(walk, &pairs[i].id,
				      MLOPS_REACH_STRICT | MLOPS_REACH_INSPECT | MLOPS_REACH_RECORD);
	if (err == 0 && !opts->nrevs)
		err = mlops_reach_add_repo_roots(walk, repo, MLOPS_REACH_ROOT_WORKTREE, NULL);
	struct mlops_reach_source src;
	mlops_reach_local_source(&src, repo->odb);
	if (err == 0 && (err = mlops_reach_run(walk, &src)) < 0)
		mlops_error_wrap(err, "cannot push");
	if (err < 0 || (err = mlops_reach_foreach(walk, mlops_oid_list_add, &ids)) < 0)
		goto done;
	res->reachable = ids.n;
	if ((err = session_open(&s, res, repo, opts)) < 0)
		goto done;
	if ((err = mlops_xfer_push(s.x, ids.ids, ids.n, &res->stats)) < 0)
		goto done;
	/*
	 * A gc of the remote says so in its marker before it reads a ref
	 * (store/remote.h): the push waits for it to end, and sends again what
	 * it may have deleted, before its refs go...
	 */
	char *key = mlops_strdupf("remote.%s.gcWait", s.name);
	long long wait = GC_WAIT_DEFAULT;
	if (!key)
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
	else
		err = mlops_config_get_int(&wait, repo, key, GC_WAIT_DEFAULT);
	free(key);
	if (err < 0 || (err = push_settle(&s, &ids, res, wait)) < 0) {
		mlops_error_wrap(err, "no ref was pushed");
		goto done;
	}
	/* Refs last: everything they name is on the remote now. */
	for (size_t i = 0; i < npairs && err == 0; i++)
		err = push_ref(res, &s, repo, &pairs[i], opts->force);
	/*
	 * ...and a gc that began between the last look and the refs may not
	 * have seen them: once it ends, what it deleted is sent again.
	 */
	if (err == 0 && (err = push_settle(&s, &ids, res, wait)) < 0)
		mlops_error_wrap(err, "the refs were pushed, but a gc of the remote may have "
				 "begun meanwhile and deleted objects they need: push again");
done:
	session_close(&s);
	refpairs_free(pairs, npairs);
	mlops_reach_free(walk);
	free(ids.ids);
	if (err < 0) {
		mlops_transfer_result_free(res);
		return err;
	}
	*out = res;
	return 0;
}

/* ---- fetch -------------------------------------------------------------- */

/* A walk source: local objects, else fetched from the remote. */
struct fetch_source {
	struct mlops_odb *odb;
	struct mlops_xfer *x;
	struct mlops_xfer_stats *st;
	struct mlops_reach_source local;
};

struct map_ctx {
	mlops_reach_found_cb cb;
	void *walk;
	const size_t *map;
	const struct mlops_reach_item *items;
};

static int map_local(void *payload, size_t index, int status, const void *data, size_t len)
{
	struct map_ctx *m = payload;
	return m->cb(m->walk, m->map[index], status, data, len);
}

static int map_fetched(void *payload, size_t index, int status, const void *data, size_t len)
{
	struct map_ctx *m = payload;
	size_t i = m->map[index];
	if (!(m->items[i].flags & MLOPS_REACH_INSPECT))
		data = NULL;
	return m->cb(m->walk, i, status, data, len);
}

static int fetch_visit(void *ctx, const struct mlops_reach_item *items, size_t n,
		       mlops_reach_found_cb cb, void *walk)
{
	struct fetch_source *fs = ctx;
	if (!n)
		return 0;
	struct mlops_reach_item *local = malloc(n * sizeof(*local));
	size_t *lmap = malloc(n * sizeof(*lmap));
	size_t *rmap = malloc(n * sizeof(*rmap));
	mlops_oid *rids = malloc(n * sizeof(*rids));
	unsigned char *here = malloc(n);
	size_t nl = 0, nr = 0;
	int err = 0;
	if (!local || !lmap || !rmap || !rids || !here) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	/*
	 * A pull's checkout may be waiting for these (mlops_odb_expect): it
	 * learns first that they are on their way, so that it does not look
	 * for them on disk, then which of them are here already.
	 */
	for (size_t i = 0; i < n; i++)
		rids[i] = items[i].id;
	if ((err = mlops_odb_expect_ids(fs->odb, rids, n)) < 0)
		goto done;
	mlops_odb_freshen_many(fs->odb, rids, n, here);
	/* The ids found here are told to a waiting checkout at once, in one call. */
	for (size_t i = 0; i < n; i++)
		if (here[i]) {
			lmap[nl] = i;
			local[nl] = items[i];
			rids[nl++] = items[i].id;
		}
	if (nl)
		mlops_odb_present(fs->odb, rids, nl);
	fs->st->present += nl; /* "already there", as a push counts it */
	for (size_t i = 0; i < n; i++)
		if (!here[i]) {
			rmap[nr] = i;
			rids[nr++] = items[i].id;
		}
	struct map_ctx ml = { cb, walk, lmap, items };
	if (nl && (err = fs->local.visit(fs->local.ctx, local, nl, map_local, &ml)) < 0)
		goto done;
	struct map_ctx mr = { cb, walk, rmap, items };
	if (nr)
		err = mlops_xfer_fetch(fs->x, rids, nr, 1, map_fetched, &mr, fs->st);
done:
	free(local);
	free(lmap);
	free(rmap);
	free(rids);
	free(here);
	return err;
}

/* The remote refs a fetch takes: revs select datasets or versions. */
static int wanted_ref(const char *name, const struct mlops_transfer_opts *opts)
{
	if (!opts->nrevs)
		return 1;
	for (size_t i = 0; i < opts->nrevs; i++) {
		const char *rev = opts->revs[i];
		char buf[300];
		if (!strcmp(name, rev))
			return 1;
		const char *at = strstr(rev, "@v");
		if (at) {
			snprintf(buf, sizeof(buf), "datasets/%.*s/v%s", (int)(at - rev), rev, at + 2);
			if (!strcmp(name, buf))
				return 1;
			continue;
		}
		snprintf(buf, sizeof(buf), "datasets/%s/", rev);
		if (!strncmp(name, buf, strlen(buf)))
			return 1;
	}
	return 0;
}

static int do_fetch(struct mlops_transfer_result *res, struct session *s, struct mlops_repo *repo,
		    const struct mlops_transfer_opts *opts, int lock_roots)
{
	struct mlops_remote_ref *refs = NULL;
	struct mlops_reach *walk = NULL;
	size_t nrefs = 0;
	unsigned char *action = NULL; /* per remote ref: 0 skip, 1 write, 2 renumber local first */
	int err;

	if ((err = mlops_xfer_refs(&refs, &nrefs, s->x, NULL, 1)) < 0)
		return err;
	if (!(action = calloc(nrefs ? nrefs : 1, 1))) {
		err = mlops_error_set(MLOPS_ERROR, "out of memory");
		goto done;
	}
	if ((err = mlops_reach_new(&walk, NULL, NULL)) < 0)
		goto done;
	size_t matched = 0;
	for (size_t i = 0; i < nrefs; i++) {
		mlops_oid cur;
		size_t plen;
		long num;
		if (!wanted_ref(refs[i].name, opts))
			continue;
		matched++;
		/*
		 * A damaged ref names nothing that can be fetched: one asked
		 * for fails the fetch; otherwise it is skipped, so that one bad
		 * file on the remote does not stop every clone's pull.
		 */
		if (refs[i].damage) {
			if (opts->nrevs) {
				err = mlops_error_set(MLOPS_EREMOTE, "%s; 'mlops fsck --remote %s' reports it",
						      refs[i].damage, s->name);
				goto done;
			}
			mlops_warning_add("%s; skipped ('mlops fsck --remote %s' reports it)",
					  refs[i].damage, s->name);
			if ((err = add_update(res, refs[i].name, refs[i].name, &refs[i].id,
					      MLOPS_REF_DAMAGED)) < 0)
				goto done;
			continue;
		}
		int rc = mlops_ref_read(&cur, repo, refs[i].name);
		if (rc == 0 && !mlops_oid_cmp(&cur, &refs[i].id)) {
			/* A local ref's closure is complete locally. */
			if ((err = add_update(res, refs[i].name, refs[i].name, &refs[i].id,
					      MLOPS_REF_UPTODATE)) < 0)
				goto done;
			continue;
		}
		if (rc < 0 && rc != MLOPS_ENOTFOUND) {
			err = rc;
			goto done;
		}
		mlops_error_clear();
		if (rc == 0 && !mlops_series_parse(refs[i].name, &plen, &num) && !opts->force) {
			if ((err = add_update(res, refs[i].name, refs[i].name, &refs[i].id,
					      MLOPS_REF_REJECTED)) < 0)
				goto done;
			continue;
		}
		action[i] = rc == 0 && mlops_series_parse(refs[i].name, &plen, &num) ? 2 : 1;
		if ((err = mlops_reach_add(walk, &refs[i].id,
					   MLOPS_REACH_STRICT | MLOPS_REACH_INSPECT | MLOPS_REACH_RECORD)) < 0)
			goto done;
	}
	if (opts->nrevs && !matched) {
		err = mlops_error_set(MLOPS_ENOTFOUND, "remote '%s' has nothing named %s%s", s->name,
				      opts->revs[0], opts->nrevs > 1 ? " (or the others)" : "");
		goto done;
	}
	if (lock_roots && (err = mlops_reach_add_repo_roots(walk, repo, MLOPS_REACH_ROOT_WORKTREE, NULL)) < 0)
		goto done;
	struct fetch_source fs = { .odb = repo->odb, .x = s->x, .st = &res->stats };
	mlops_reach_local_source(&fs.local, repo->odb);
	struct mlops_reach_source src = { fetch_visit, &fs };
	if ((err = mlops_reach_run(walk, &src)) < 0) {
		mlops_error_wrap(err, "fetch from '%s' failed; no ref was changed", s->name);
		goto done;
	}
	if ((err = mlops_odb_sync(repo->odb)) < 0)
		goto done;
	res->reachable = mlops_reach_count(walk);
	/* Refs, now that every object they need is stored. */
	for (size_t i = 0; i < nrefs && err == 0; i++) {
		if (!action[i])
			continue;
		mlops_oid zero, cur;
		memset(&zero, 0, sizeof(zero));
		if (action[i] == 2) {
			char *to = NULL;
			size_t plen;
			long num, rmax = 0, lmax = 0;
			mlops_series_parse(refs[i].name, &plen, &num);
			char *prefix = strndup(refs[i].name, plen);
			if (!prefix) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				break;
			}
			for (size_t k = 0; k < nrefs; k++) {
				size_t pl;
				long nn;
				if (mlops_series_parse(refs[k].name, &pl, &nn) && pl == plen &&
				    !strncmp(refs[k].name, prefix, plen) && nn > rmax)
					rmax = nn;
			}
			if ((err = mlops_series_max(&lmax, repo, prefix)) == 0 &&
			    mlops_ref_read(&cur, repo, refs[i].name) == 0 &&
			    (to = mlops_strdupf("%s/v%ld", prefix, (rmax > lmax ? rmax : lmax) + 1)))
				err = mlops_series_rename(repo, refs[i].name, to, &cur);
			mlops_error_clear();
			if (err == 0 && to)
				err = add_update(res, refs[i].name, to, &cur, MLOPS_REF_RENUMBERED);
			free(prefix);
			free(to);
			if (err < 0)
				break;
		}
		/*
		 * A version here under another number (imported, say): it takes
		 * the remote's number, as a push follows the remote, rather than
		 * being kept twice.
		 */
		size_t plen;
		long num;
		if (mlops_series_parse(refs[i].name, &plen, &num)) {
			char *prefix = strndup(refs[i].name, plen), *other = NULL;
			if (!prefix) {
				err = mlops_error_set(MLOPS_ERROR, "out of memory");
				break;
			}
			err = local_series_find(&other, repo, prefix, &refs[i].id);
			free(prefix);
			if (err == 0 && other && strcmp(other, refs[i].name) &&
			    mlops_ref_read(&cur, repo, refs[i].name) == MLOPS_ENOTFOUND) {
				mlops_error_clear();
				if ((err = mlops_series_rename(repo, other, refs[i].name, &refs[i].id)) == 0)
					err = add_update(res, other, refs[i].name, &refs[i].id,
							 MLOPS_REF_RENUMBERED);
				free(other);
				if (err < 0)
					break;
				continue;
			}
			mlops_error_clear();
			free(other);
			if (err < 0)
				break;
		}
		struct mlops_lock *lock;
		if ((err = mlops_lock_acquire(&lock, repo, LOCK_TIMEOUT_MS)) < 0)
			break;
		char msg[600];
		snprintf(msg, sizeof(msg), "fetch from %s", s->name);
		int had = mlops_ref_read(&cur, repo, refs[i].name) == 0;
		mlops_error_clear();
		err = mlops_ref_write(repo, refs[i].name, &refs[i].id, had ? &cur : &zero, msg);
		mlops_lock_release(lock);
		if (err == 0)
			err = add_update(res, refs[i].name, refs[i].name, &refs[i].id,
					 had ? MLOPS_REF_UPDATED : MLOPS_REF_NEW);
	}
done:
	mlops_remote_refs_free(refs, nrefs);
	mlops_reach_free(walk);
	free(action);
	return err;
}

int mlops_fetch(struct mlops_transfer_result **out, struct mlops_repo *repo,
		const struct mlops_transfer_opts *opts)
{
	struct mlops_transfer_result *res = calloc(1, sizeof(*res));
	struct session s;
	*out = NULL;
	if (!res)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = session_open(&s, res, repo, opts);
	if (err == 0)
		err = do_fetch(res, &s, repo, opts, !opts->nrevs);
	session_close(&s);
	if (err < 0) {
		mlops_transfer_result_free(res);
		return err;
	}
	*out = res;
	return 0;
}

/* ---- pull --------------------------------------------------------------- */

/*
 * Which paths a checkout_lock takes.  A pull's early checkout takes only
 * the paths that do not exist yet (so a failed fetch leaves every other
 * path as it was), and removes one it could not finish; the checkout after
 * the fetch takes the rest.
 */
struct lock_paths {
	int early;     /* only absent paths; remove what could not be finished */
	char **absent; /* paths that did not exist when the pull began */
	size_t nabsent;
	char **dirs;   /* folders above them that did not exist either, parents first */
	size_t ndirs;
	char **done;   /* paths the early checkout wrote: skipped after it */
	size_t ndone;
	int hold;      /* holds the lock on .mlops/pull-new while the pull runs; -1 none */
};

static int in_list(char *const *list, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], path))
			return 1;
	return 0;
}

static int list_add(char ***list, size_t *n, const char *path)
{
	char **l = realloc(*list, (*n + 1) * sizeof(*l));
	if (!l)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	*list = l;
	if (!(l[*n] = strdup(path)))
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	(*n)++;
	return 0;
}

static void list_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/*
 * .mlops/pull-new: the paths a pull's early checkout is creating, and the
 * folders it creates for them, written (mlops_half_made_write) before it
 * creates any, removed when the pull ends, and locked until then: a
 * running pull's paths are not another's to touch.  A pull killed meanwhile leaves
 * them half made; the next pull removes them, as they hold only what the
 * killed one wrote, then those folders that are empty, and makes them
 * again, instead of refusing them as changes no version records or
 * keeping folders no pull made.
 */
/*
 * Remove the folder rel of the work tree (a folder a pull made) when it
 * is empty: a folder that holds anything, or is something else than a
 * folder (rmdir follows no link), stays.  0, or -1 when it stays.
 */
static int remove_made_dir(struct mlops_repo *repo, const char *rel)
{
	if (!mlops_tracked_path_valid(rel) || mlops_path_check_parents(repo->workdir, rel) < 0) {
		mlops_error_clear();
		return -1;
	}
	char *abs = mlops_path_join(repo->workdir, rel);
	int rc = abs && (rmdir(abs) == 0 || errno == ENOENT) ? 0 : -1;
	free(abs);
	return rc;
}

/*
 * The folders lp->dirs holds above path rel, deepest first, while they
 * are empty: what the early checkout made for a path it then removed.
 */
static void remove_made_parents(struct mlops_repo *repo, const struct lock_paths *lp,
				const char *rel)
{
	char *dir = strdup(rel), *slash;
	while (dir && (slash = strrchr(dir, '/'))) {
		*slash = '\0';
		if (!in_list(lp->dirs, lp->ndirs, dir) || remove_made_dir(repo, dir) < 0)
			break;
	}
	free(dir);
}

/*
 * Remove the paths a killed pull was creating (.mlops/pull-new), then the
 * folders it made for them while they are empty (deepest first), then the
 * file: only valid tracked paths, never through a link.  A file that
 * cannot be read is left alone (the pull then refuses those paths as
 * changes, as it would without it).  Paths a running pull is making are
 * refused (MLOPS_ELOCKED), not removed.
 */
static int pull_new_recover(struct mlops_repo *repo)
{
	struct mlops_half_made hm;
	int err = mlops_half_made_load(&hm, repo);
	if (err < 0 || !hm.found)
		return err;
	/* Another pull is making them now: under way, not half made, and not this pull's. */
	if (hm.running)
		err = hm.npaths ? mlops_half_made_refuse(&hm, hm.paths[0], 0) :
		      mlops_error_set(MLOPS_ELOCKED, "a pull is running; wait for it to end");
	for (size_t i = 0; i < hm.npaths && err == 0; i++) {
		if (mlops_path_check_parents(repo->workdir, hm.paths[i]) < 0) {
			mlops_error_clear();
			continue;
		}
		char *abs = mlops_path_join(repo->workdir, hm.paths[i]);
		if (!abs)
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
		else if (mlops_remove_tree(abs) < 0 && errno != ENOENT)
			err = mlops_error_sys(errno, "unable to remove '%s', which a stopped pull "
					      "was making", abs);
		free(abs);
	}
	/* Recorded parents first: deepest first from the end. */
	for (size_t i = hm.ndirs; err == 0 && i > 0; i--)
		(void)remove_made_dir(repo, hm.dirs[i - 1]);
	if (err == 0)
		mlops_half_made_remove(repo, NULL);
	mlops_half_made_free(&hm);
	return err;
}

static int checkout_lock(struct mlops_transfer_result *res, struct mlops_repo *repo, int force,
			 struct lock_paths *lp)
{
	struct mlops_lockfile *lf = NULL;
	struct mlops_index *idx = NULL;
	struct mlops_oidmap *recorded = NULL;
	int err;
	if ((err = mlops_lockfile_load(&lf, repo)) < 0)
		return err;
	int early = lp && lp->early;
	cJSON *paths = mlops_lockfile_section(lf, "paths"), *e;
	/*
	 * The stat cache and the recorded versions are loaded only when a
	 * path is left to this pass: after a pull whose early checkout wrote
	 * every path, there is none, and loading a cache of 50,000 entries
	 * again took a tenth of the pull.
	 */
	size_t todo = 0;
	cJSON_ArrayForEach(e, paths)
		todo += !(lp && in_list(lp->done, lp->ndone, e->string));
	if (todo == 0)
		goto done;
	if ((err = mlops_repo_index(&idx, repo)) < 0 || (err = mlops_oidmap_new(&recorded)) < 0 ||
	    (!early && (err = mlops_dataset_recorded_ids(recorded, repo)) < 0))
		goto done;
	/* Refuse first, before anything is written (an early checkout writes only absent paths). */
	cJSON_ArrayForEach(e, paths) {
		struct mlops_node want, cur;
		if (mlops_node_from_json(&want, e) < 0) {
			err = mlops_error_set(MLOPS_EINVALID, "mlops.lock: entry '%s' is malformed", e->string);
			goto done;
		}
		if (lp && in_list(lp->done, lp->ndone, e->string))
			continue;
		char *abs = mlops_path_join(repo->workdir, e->string);
		if (!abs) {
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		/*
		 * A path absent when the pull began holds only what the pull
		 * wrote (a path of the lock inside another): nothing to refuse.
		 */
		if (early || (lp && in_list(lp->absent, lp->nabsent, e->string))) {
			struct stat st;
			/* The early checkout makes its folders; a failed or killed pull removes them. */
			if (early && lstat(abs, &st) < 0 && errno == ENOENT &&
			    (err = list_add(&lp->absent, &lp->nabsent, e->string)) == 0)
				err = mlops_half_made_add_parents(&lp->dirs, &lp->ndirs, repo, e->string);
			free(abs);
			if (err < 0)
				goto done;
			continue;
		}
		err = mlops_tree_scan(&cur, repo->odb, idx, abs, e->string, NULL);
		free(abs);
		if (err == MLOPS_ENOTFOUND) {
			mlops_error_clear();
			err = 0;
			continue;
		}
		if (err < 0)
			goto done;
		if (!force && !mlops_node_same(&cur, &want) && !mlops_dataset_recorded(recorded, &cur)) {
			err = mlops_error_set(MLOPS_ECONFLICT,
				"'%s' has changes that are not recorded in any version; "
				"add them first, or use --force to discard them", e->string);
			goto done;
		}
	}
	if (early && lp->nabsent &&
	    (err = mlops_half_made_write(repo, (const char *const *)lp->absent, lp->nabsent,
					 (const char *const *)lp->dirs, lp->ndirs, &lp->hold)) < 0)
		goto done;
	cJSON_ArrayForEach(e, paths) {
		struct mlops_node want;
		struct stat st;
		mlops_node_from_json(&want, e);
		if (lp && in_list(lp->done, lp->ndone, e->string))
			continue;
		char *abs = mlops_path_join(repo->workdir, e->string);
		char *parent = abs ? strdup(abs) : NULL;
		if (!abs || !parent) {
			free(abs);
			err = mlops_error_set(MLOPS_ERROR, "out of memory");
			goto done;
		}
		if (early && (!in_list(lp->absent, lp->nabsent, e->string) || lstat(abs, &st) == 0)) {
			free(abs);
			free(parent);
			continue;
		}
		*strrchr(parent, '/') = '\0';
		err = mlops_mkdir_p(parent);
		free(parent);
		if (err == 0)
			err = mlops_tree_checkout(repo->odb, idx, &want, abs, e->string, &res->checkout);
		if (err < 0 && early) {
			char msg[1024];
			snprintf(msg, sizeof(msg), "%s", mlops_error_message());
			/* It did not exist, nor did the folders made for it: nothing is lost. */
			(void)mlops_remove_tree(abs);
			remove_made_parents(repo, lp, e->string);
			mlops_error_set(err, "%s", msg);
		}
		if (err == 0 && early)
			err = list_add(&lp->done, &lp->ndone, e->string);
		free(abs);
		if (err < 0)
			break;
		res->paths++;
	}
	/* What was written is in the stat cache, whatever failed after it. */
	int e2 = mlops_index_save(idx);
	if (err == 0)
		err = e2;
done:
	mlops_oidmap_free(recorded);
	mlops_index_free(idx);
	mlops_lockfile_free(lf);
	return err;
}

/* The checkout of a pull, run while its fetch brings the objects. */
struct early_checkout {
	struct mlops_transfer_result *res;
	struct mlops_repo *repo;
	int force;
	struct lock_paths lp;
	int err;
	char msg[1024];
};

static void *early_checkout(void *arg)
{
	struct early_checkout *ec = arg;
	ec->err = checkout_lock(ec->res, ec->repo, ec->force, &ec->lp);
	if (ec->err < 0)
		snprintf(ec->msg, sizeof(ec->msg), "%s", mlops_error_message());
	return NULL;
}

/*
 * Pull: the paths that do not exist yet (a fresh clone's) are checked out
 * while the fetch runs, each file written as its objects arrive
 * (mlops_odb_expect), so that the copying overlaps the fetch's
 * verification instead of following it.  The other paths follow the
 * fetch, as before: a failed fetch leaves them as they were, and a path
 * the early checkout could not finish is removed again.  Local changes
 * are looked for after the fetch, whose versions may record them.
 */
int mlops_pull(struct mlops_transfer_result **out, struct mlops_repo *repo,
	       const struct mlops_transfer_opts *opts)
{
	struct mlops_transfer_result *res = calloc(1, sizeof(*res));
	struct early_checkout ec = { .res = res, .repo = repo, .force = opts->force,
				     .lp = { .early = 1, .hold = -1 } };
	struct session s = { 0 }; /* closed even when the recovery fails first */
	pthread_t th;
	int started = 0;
	*out = NULL;
	if (!res)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	int err = pull_new_recover(repo);
	if (err == 0)
		err = session_open(&s, res, repo, opts);
	if (err == 0) {
		mlops_odb_expect(repo->odb, 1);
		started = pthread_create(&th, NULL, early_checkout, &ec) == 0;
		if (!started)
			mlops_odb_expect(repo->odb, 0);
		err = do_fetch(res, &s, repo, opts, 1);
		mlops_odb_expect(repo->odb, 0);
		if (started)
			pthread_join(th, NULL);
	}
	session_close(&s);
	if (err == 0 && started && ec.err < 0)
		err = mlops_error_set(ec.err, "%s", ec.msg);
	if (err == 0) {
		ec.lp.early = 0;
		err = checkout_lock(res, repo, opts->force, &ec.lp);
	}
	/* Every path the early checkout began is whole, or removed again. */
	if (started)
		mlops_half_made_remove(repo, &ec.lp.hold);
	list_free(ec.lp.done, ec.lp.ndone);
	list_free(ec.lp.absent, ec.lp.nabsent);
	list_free(ec.lp.dirs, ec.lp.ndirs);
	if (err < 0) {
		mlops_transfer_result_free(res);
		return err;
	}
	*out = res;
	return 0;
}
