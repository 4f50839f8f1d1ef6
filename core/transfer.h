/*
 * transfer.h - push, fetch and pull: moving versions between a repository
 * and a remote (store/remote.h), in terms of refs and records.
 *
 * Push sends every object the chosen refs (default: all refs, and what the
 * work tree's mlops.lock names) reach, then the refs, each by
 * compare-and-swap.  A ref of a numbered series ("datasets/NAME/vN") whose
 * number the remote already gives to another version is pushed as the
 * next free number, and the local ref (and mlops.lock) follow, so that two
 * clones adding versions of one dataset never lose one: the content id is
 * what identifies a version, the number is a name.  Fetch does the
 * reverse: the remote's refs and every object they reach, each verified,
 * refs written only once all their objects are stored; a local version
 * whose number the remote gives to another is renumbered likewise.  Pull
 * fetches, then checks out what mlops.lock records.  Nothing here prints.
 */
#ifndef MLOPS_TRANSFER_H
#define MLOPS_TRANSFER_H

#include <stddef.h>
#include <stdint.h>

#include "store/oid.h"
#include "store/remote.h"
#include "store/tree.h"

struct mlops_repo;

enum mlops_ref_change {
	MLOPS_REF_UPTODATE,   /* both sides agree */
	MLOPS_REF_NEW,        /* created on the other side */
	MLOPS_REF_RENUMBERED, /* sent or kept under the next free number */
	MLOPS_REF_UPDATED,    /* replaced (--force) */
	MLOPS_REF_REJECTED,   /* the other side holds another id; left alone */
	MLOPS_REF_DAMAGED,    /* fetch: the remote's ref holds no id; skipped */
	MLOPS_REF_DAMAGED_KEPT, /* push: the remote's ref holds no id; left alone (--force replaces it) */
};

struct mlops_ref_update {
	char *name;       /* the ref before the transfer (local for push, remote for fetch) */
	char *new_name;   /* where it is now (differs when renumbered) */
	mlops_oid id;
	enum mlops_ref_change change;
};

struct mlops_transfer_opts {
	const char *remote;          /* NULL: the default remote */
	const char *const *revs;     /* NULL/0: everything */
	size_t nrevs;
	int jobs;                    /* 0: the backend's choice */
	int force;                   /* push/fetch: replace differing refs; pull: overwrite changes */
	void (*progress)(void *payload, uint64_t done, uint64_t total);
	/* Something the user waits for, said once when the wait begins (may be NULL). */
	void (*notice)(void *payload, const char *message);
	void *payload;
};

struct mlops_transfer_result {
	char *remote;                /* the remote's name */
	char *url;
	struct mlops_xfer_stats stats;
	size_t reachable;            /* objects the chosen refs need */
	struct mlops_ref_update *refs;
	size_t nrefs;
	struct mlops_checkout_stats checkout; /* pull */
	size_t paths;                /* pull: paths checked out */
};

void mlops_transfer_result_free(struct mlops_transfer_result *res);

/* 1 when any ref update was rejected (a push's damaged remote ref among them). */
int mlops_transfer_rejected(const struct mlops_transfer_result *res);

/*
 * Push.  MLOPS_ENOTFOUND for an unknown remote or revision, MLOPS_ECORRUPT
 * or MLOPS_ENOTFOUND when a needed object is damaged or missing locally
 * (nothing is sent then), MLOPS_EREMOTE for the remote's failures.
 */
int mlops_push(struct mlops_transfer_result **out, struct mlops_repo *repo,
	       const struct mlops_transfer_opts *opts);

/*
 * Fetch.  With revs (dataset names or NAME@vN), only those.  MLOPS_ECORRUPT
 * when the remote's copy of a needed object is damaged, MLOPS_ENOTFOUND when
 * it is missing; refs are then not written.
 */
int mlops_fetch(struct mlops_transfer_result **out, struct mlops_repo *repo,
		const struct mlops_transfer_opts *opts);

/*
 * Fetch, then materialise every path of mlops.lock.  A path whose content
 * no version records is not overwritten (MLOPS_ECONFLICT) unless force.
 */
int mlops_pull(struct mlops_transfer_result **out, struct mlops_repo *repo,
	       const struct mlops_transfer_opts *opts);

/*
 * The highest number of the local series `prefix` ("datasets/NAME") ever
 * used: of its refs and of the logs its removed refs left (0 when none).
 * A new version takes the next, so that a number never names two things.
 */
int mlops_series_max(long *out, struct mlops_repo *repo, const char *prefix);

/*
 * The name under which to keep version id of series "PREFIX/vN" (`name`):
 * the local version that holds id already, whatever its number; else
 * name when it is free (never used, or removed when it named id); else
 * the next number above every one used (mlops_series_max).  *out is the
 * caller's.  Used by import.
 */
int mlops_series_free_name(char **out, struct mlops_repo *repo, const char *name,
			   const mlops_oid *id);

/*
 * Rename a local ref (under the repository lock) and follow it in
 * mlops.lock: entries whose "record" is id get the new version number.
 */
int mlops_series_rename(struct mlops_repo *repo, const char *from, const char *to,
			const mlops_oid *id);

/* "PREFIX/vN": *number = N and the prefix length, else 0. */
int mlops_series_parse(const char *name, size_t *prefix_len, long *number);

#endif
