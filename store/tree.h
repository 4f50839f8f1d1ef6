/*
 * tree.h - files and directories in the store.
 *
 * A file is one object (kind "blob") when it fits one chunk, else a chunk
 * list (kind "chunks"): a JSON object {"type":"chunks","size":N,
 * "chunks":[["<id>",size],...]}.  A directory is a tree object:
 * {"type":"tree","entries":[{"id","kind","mode","name","size"},...]} sorted
 * by name bytes, with sub-directories as trees of their own, so an unchanged
 * folder is shared between versions.  A symbolic link is a blob holding its
 * target (kind "link"); links are stored as links, never followed.
 *
 * Ingest walks the path with lstat, asks the stat cache (index.h) for each
 * file, and hashes only the misses, on every core: small files one per
 * worker, large files chunk by chunk in parallel.  Each byte is read once
 * (mmap), hashed once, and compressed at most once.
 */
#ifndef MLOPS_TREE_H
#define MLOPS_TREE_H

#include <stdint.h>

#include "oid.h"

struct mlops_odb;
struct mlops_index;
struct cJSON;

enum mlops_kind {
	MLOPS_KIND_NONE = 0,
	MLOPS_KIND_BLOB = 1,
	MLOPS_KIND_CHUNKS = 2,
	MLOPS_KIND_TREE = 3,
	MLOPS_KIND_LINK = 4,
};

/* What a path is in the store. */
struct mlops_node {
	mlops_oid id;
	enum mlops_kind kind;
	uint64_t size;  /* bytes of content (for trees: of all files below) */
	uint64_t files; /* 1 for a file or link, the file count for a tree */
	uint32_t mode;  /* 0644, 0755, 0120000 (link), 040000 (tree) */
};

const char *mlops_kind_name(enum mlops_kind kind);
enum mlops_kind mlops_kind_parse(const char *name);

typedef void (*mlops_progress_cb)(void *payload, uint64_t done, uint64_t total);

/*
 * Ingest counts, added to (never reset) by each call, so one zeroed struct
 * totals several paths; and what the caller asks of the walk.
 */
struct mlops_ingest_stats {
	uint64_t files;        /* files and links stored */
	uint64_t bytes;        /* their total size */
	uint64_t hashed;       /* file bytes read and hashed (stat-cache misses and
				  links; not the tree and chunk-list records) */
	uint64_t stored;       /* bytes written anew to the store (records too) */
	mlops_progress_cb progress; /* optional, called from worker threads */
	void *payload;
	int utf8_names;        /* in: a name below the path that is not UTF-8 is
				  refused (MLOPS_EUSAGE), naming it, before a
				  byte is read */
};

/*
 * Store the file, link or directory at abs_path.  `key` is its path
 * relative to the work tree (the stat cache's key; NULL disables the
 * cache).  Objects are left pending: the caller syncs the odb before
 * naming the result in a ref.  Errors name the path.
 */
int mlops_tree_store(struct mlops_node *out, struct mlops_odb *odb, struct mlops_index *idx,
		     const char *abs_path, const char *key, struct mlops_ingest_stats *stats);

enum {
	MLOPS_CHECKOUT_FORCE = 1 << 0, /* (reserved to callers; not used here) */
};

struct mlops_checkout_stats {
	uint64_t files_written;
	uint64_t bytes_written;
	uint64_t files_removed;
	uint64_t files_unchanged;
	mlops_progress_cb progress;
	void *payload;
};

/*
 * Materialise `node` at abs_dest: the file, link or directory it names,
 * written to temporary names and renamed into place (in a directory made
 * here, under their own names: nobody knew them).  For a tree, files
 * the tree does not have are removed from abs_dest, and files whose stat
 * cache entry already matches are left alone.  `key` as for store.
 */
int mlops_tree_checkout(struct mlops_odb *odb, struct mlops_index *idx,
			const struct mlops_node *node, const char *abs_dest, const char *key,
			struct mlops_checkout_stats *stats);

/* One entry of a flattened tree: path relative to the tree's root. */
struct mlops_tree_file {
	char *path;
	struct mlops_node node;
};

struct mlops_tree_list {
	struct mlops_tree_file *files;
	size_t count;
};

/*
 * List every file and link below node (recursively, sorted by path); a
 * file node gives one entry with path "".  With include_trees, tree nodes
 * are listed too (for reachability walks).  Free with _list_free.
 */
int mlops_tree_list(struct mlops_tree_list *out, struct mlops_odb *odb,
		    const struct mlops_node *node, int include_trees);
void mlops_tree_list_free(struct mlops_tree_list *list);

/*
 * The objects a node needs, beyond itself: chunks of a chunk list, and
 * everything below a tree.  cb is called once per (id) including the
 * node's own; used by gc, fsck and push.
 */
typedef int (*mlops_object_cb)(const mlops_oid *id, void *payload);
int mlops_tree_walk_objects(struct mlops_odb *odb, const struct mlops_node *node,
			    mlops_object_cb cb, void *payload);

/*
 * 1 when two nodes hold the same: the same id, both links or neither, and
 * the same executable bit (a file's id is its content alone; a tree's id
 * covers the modes below it).
 */
int mlops_node_same(const struct mlops_node *a, const struct mlops_node *b);

/* Node <-> JSON ({"id","kind","size","files","mode"}); used by records. */
struct cJSON *mlops_node_to_json(const struct mlops_node *node);
int mlops_node_from_json(struct mlops_node *out, const struct cJSON *json);

/*
 * Compute the node of abs_path (as store would) without storing file
 * content: files the stat cache knows are not read, others are hashed.
 * Tree objects and chunk lists are stored (they are small), so the result
 * can be listed with mlops_tree_list.
 * Used by status and diff against the workspace.  MLOPS_ENOTFOUND when
 * the path does not exist.
 */
int mlops_tree_scan(struct mlops_node *out, struct mlops_odb *odb, struct mlops_index *idx,
		    const char *abs_path, const char *key, struct mlops_ingest_stats *stats);

/*
 * Stream a file's content (blob or chunk list) to cb, chunk by chunk, each
 * verified as it is read.  A non-zero return from cb stops and is returned.
 * The chunk lists of files stored in scan mode are in the store; their
 * chunks may not be: stream those from the work tree instead.
 */
int mlops_tree_file_stream(struct mlops_odb *odb, const struct mlops_node *node,
			   int (*cb)(const void *data, size_t len, void *payload), void *payload);

#endif
