/*
 * maint.h - maintenance of a store, local or remote: gc (delete what
 * nothing needs) and fsck (find damage).
 *
 * What is needed (core/reach.h): everything reachable from a ref, from an
 * id in a git tag's message (registered models), from mlops.lock in any
 * commit reachable from a branch or tag, and from the work tree's
 * mlops.lock; for a remote, also from the remote's refs.  Objects written
 * within the grace period (gc.grace, default 1 day) are kept whatever
 * they are, so that a version being added or pushed while gc runs is not
 * cut from under it.  Nothing here prints.
 */
#ifndef MLOPS_MAINT_H
#define MLOPS_MAINT_H

#include <stddef.h>
#include <stdint.h>

#include "store/oid.h"

struct mlops_repo;

struct mlops_gc_opts {
	int dry_run;
	const char *remote;      /* NULL: the local store */
	long long grace;         /* seconds; negative: gc.grace from config */
	int jobs;
};

struct mlops_gc_item {
	mlops_oid id;
	uint64_t size;           /* stored bytes */
	char *key;               /* remote: the key (an object, or a pack) */
};

struct mlops_gc_result {
	size_t reachable;        /* objects needed */
	size_t commits;          /* commits whose mlops.lock was read */
	size_t recent;           /* unneeded, but within the grace period */
	struct mlops_gc_item *removed; /* removed (or, with dry_run, to remove) */
	size_t nremoved;
	uint64_t removed_bytes;
	/*
	 * Local: files (and staging folders of killed imports) removed from
	 * .mlops/tmp.  Remote: what killed pushes left there (unfinished S3
	 * multipart uploads, files in its tmp/) removed, or with dry_run to
	 * remove.
	 */
	size_t tmp_cleaned;
	long long grace;
};

/*
 * Collect garbage.  MLOPS_ECORRUPT (changing nothing) when a record that
 * is needed cannot be read, since what it needs would then be unknown.
 */
int mlops_gc(struct mlops_gc_result **out, struct mlops_repo *repo,
	     const struct mlops_gc_opts *opts);
void mlops_gc_result_free(struct mlops_gc_result *res);

/* Parse a duration: "3600", "90s", "30m", "12h", "1d", "2w", "now" (0). */
int mlops_duration_parse(long long *out, const char *text);

struct mlops_fault {
	mlops_oid id;            /* the object (zero for a damaged ref) */
	int code;                /* MLOPS_ECORRUPT, MLOPS_ENOTFOUND */
	char *message;
	char *ref;               /* a ref that cannot be read, or NULL */
};

struct mlops_fsck_result {
	size_t objects;          /* objects checked by hash */
	size_t packs;            /* packs checked */
	size_t refs;
	size_t reachable;
	struct mlops_fault *faults;
	size_t nfaults;
};

/*
 * Check every object's hash, every pack, and that every ref's closure is
 * present and intact.  Faults are listed in the result (the return is 0
 * unless the check itself could not run).
 */
int mlops_fsck(struct mlops_fsck_result **out, struct mlops_repo *repo, const char *remote,
	       int jobs);
void mlops_fsck_result_free(struct mlops_fsck_result *res);

#endif
