/*
 * reach.h - reachability: which objects something needs.
 *
 * A walk starts from roots (refs, ids in mlops.lock files, ids in tag
 * messages) and follows records generically, so that record types added
 * later are covered without changes here:
 *   - a JSON object with "id" and "kind" is a node (tree.h): a tree or a
 *     chunk list is read and followed, a blob or link is a leaf;
 *   - a chunk list's chunks are leaves;
 *   - any other string of 64 lowercase hex digits that names a stored
 *     object is reachable, and when that object is a JSON object with a
 *     "type" member it is walked as a record too.
 * Nodes found inside stored objects, and the targets of refs, are required
 * (their absence is a fault); ids found elsewhere only count when present.
 *
 * The walk reads objects through a source, one level of the graph at a
 * time, so that a source that fetches from a remote can batch and
 * parallelise its requests.  Nothing here prints.
 */
#ifndef MLOPS_REACH_H
#define MLOPS_REACH_H

#include <stddef.h>
#include <stdint.h>

#include "store/oid.h"

struct mlops_repo;
struct mlops_odb;
struct cJSON;

enum {
	MLOPS_REACH_STRICT = 1 << 0,  /* absence or damage is a fault */
	MLOPS_REACH_INSPECT = 1 << 1, /* read it: a JSON record is followed */
	MLOPS_REACH_RECORD = 1 << 2,  /* must be a JSON object */
};

struct mlops_reach_item {
	mlops_oid id;
	unsigned flags;
};

/*
 * How a walk reaches objects.  visit() makes each item available and calls
 * cb(walk, i, status, data, len) once per item: status 0 when the object
 * is there (data = its verified content for INSPECT items, else NULL),
 * MLOPS_ENOTFOUND when absent, MLOPS_ECORRUPT when damaged (the message
 * says how).  Calls to cb are made one at a time.
 */
typedef int (*mlops_reach_found_cb)(void *walk, size_t index, int status, const void *data,
				    size_t len);
struct mlops_reach_source {
	int (*visit)(void *ctx, const struct mlops_reach_item *items, size_t n,
		     mlops_reach_found_cb cb, void *walk);
	void *ctx;
};

/* A source over the local store (reads verify hashes). */
void mlops_reach_local_source(struct mlops_reach_source *out, struct mlops_odb *odb);

/* A fault: a required object missing or damaged (message says which). */
typedef int (*mlops_reach_fault_cb)(void *payload, const mlops_oid *id, int code,
				    const char *message);

struct mlops_reach;

/* A new walk; faults go to fault_cb (NULL: the first fault fails the walk). */
int mlops_reach_new(struct mlops_reach **out, mlops_reach_fault_cb fault_cb, void *payload);
void mlops_reach_free(struct mlops_reach *r);

/*
 * With `on`, what a record names is required only when the record was: an
 * object reached only from optional roots (a clone's mlops.lock) may be
 * absent, with all it names.  Add the required roots and run the walk
 * before adding optional ones, so that nothing required is first reached
 * as optional.  Off by default: every record's children are required
 * (gc must not delete what a record it cannot read fully names).
 */
void mlops_reach_inherit_required(struct mlops_reach *r, int on);

/* Add one root. */
int mlops_reach_add(struct mlops_reach *r, const mlops_oid *id, unsigned flags);

/*
 * Add the ids in a JSON value as roots, by the rules above; nodes are
 * required only with `strict`.
 */
int mlops_reach_add_json(struct mlops_reach *r, const struct cJSON *value, int strict);

/* Add every run of exactly 64 lowercase hex digits in text (optional roots). */
int mlops_reach_add_text(struct mlops_reach *r, const char *text, size_t len);

enum {
	MLOPS_REACH_ROOT_REFS = 1 << 0,     /* every ref below .mlops/refs (required) */
	MLOPS_REACH_ROOT_TAGS = 1 << 1,     /* ids in git tag messages */
	MLOPS_REACH_ROOT_HISTORY = 1 << 2,  /* mlops.lock of every commit reachable from a branch or tag */
	MLOPS_REACH_ROOT_WORKTREE = 1 << 3, /* the work tree's mlops.lock */
	MLOPS_REACH_ROOT_ALL = 15,
};

/*
 * Add a repository's roots.  *commits (optional) gets the number of
 * commits whose mlops.lock was read.
 */
int mlops_reach_add_repo_roots(struct mlops_reach *r, struct mlops_repo *repo, unsigned what,
			       size_t *commits);

/*
 * Walk from the roots added so far (and again later, from roots added
 * since).  Returns 0, or the first error: a failure of the source, a
 * fault when there is no fault callback, or a negative return of it.
 */
int mlops_reach_run(struct mlops_reach *r, const struct mlops_reach_source *src);

/* 1 when id was reached and is present. */
int mlops_reach_has(const struct mlops_reach *r, const mlops_oid *id);

/* Every object reached and present (in no particular order). */
int mlops_reach_foreach(const struct mlops_reach *r,
			int (*cb)(const mlops_oid *id, void *payload), void *payload);

/* Objects reached and present; faults seen. */
size_t mlops_reach_count(const struct mlops_reach *r);
size_t mlops_reach_faults(const struct mlops_reach *r);

/*
 * The ids in one object's content, by the rules above, as items (what a
 * walk would follow from it).  *out is the caller's (free()).  An object
 * that is not JSON, or (unless `record`) has no "type", has none.
 * MLOPS_ECORRUPT when `record` is set and it is not a JSON object.
 * *below (may be NULL): the files under the trees among them, as their
 * entries say: a hint, at most MLOPS_REACH_HINT_MAX (a record can claim
 * any count).
 */
#define MLOPS_REACH_HINT_MAX ((uint64_t)1 << 20)
int mlops_reach_children(struct mlops_reach_item **out, size_t *n, uint64_t *below,
			 const void *data, size_t len, int record);

#endif
