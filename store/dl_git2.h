/*
 * dl_git2.h - libgit2, loaded on first use (see dynlib.h).
 *
 * libgit2 brings 13 shared libraries with it (TLS, Kerberos, SSH, PCRE):
 * mapping and relocating them cost every command about 1 ms, a third of
 * `mlops status`, which never calls it.  Include this instead of <git2.h>.
 * Unlike the other loaded libraries, no call needs a loader before it:
 * each name below loads the library on its first use (a check of one
 * flag after that), so a git code path cannot be missed.  A libgit2 that
 * cannot be loaded is a broken installation, as a missing linked library
 * would be: the process says which package to install and exits.
 * Only the functions mlops uses are listed: add a line to use another.
 */
#ifndef MLOPS_DL_GIT2
#define MLOPS_DL_GIT2

#include <git2.h>
#include <stdatomic.h>

#define MLOPS_GIT2_SYMBOLS(X) \
	X(git_blob_free, blob_free) \
	X(git_blob_lookup, blob_lookup) \
	X(git_blob_rawcontent, blob_rawcontent) \
	X(git_blob_rawsize, blob_rawsize) \
	X(git_buf_dispose, buf_dispose) \
	X(git_commit_free, commit_free) \
	X(git_commit_id, commit_id) \
	X(git_commit_lookup, commit_lookup) \
	X(git_commit_tree, commit_tree) \
	X(git_config_add_file_ondisk, config_add_file_ondisk) \
	X(git_config_delete_entry, config_delete_entry) \
	X(git_config_entry_free, config_entry_free) \
	X(git_config_foreach, config_foreach) \
	X(git_config_free, config_free) \
	X(git_config_get_bool, config_get_bool) \
	X(git_config_get_entry, config_get_entry) \
	X(git_config_get_int64, config_get_int64) \
	X(git_config_get_multivar_foreach, config_get_multivar_foreach) \
	X(git_config_get_string_buf, config_get_string_buf) \
	X(git_config_iterator_free, config_iterator_free) \
	X(git_config_iterator_new, config_iterator_new) \
	X(git_config_new, config_new) \
	X(git_config_next, config_next) \
	X(git_config_open_level, config_open_level) \
	X(git_config_set_string, config_set_string) \
	X(git_diff_free, diff_free) \
	X(git_diff_get_delta, diff_get_delta) \
	X(git_diff_num_deltas, diff_num_deltas) \
	X(git_diff_options_init, diff_options_init) \
	X(git_diff_print, diff_print) \
	X(git_diff_tree_to_workdir_with_index, diff_tree_to_workdir_with_index) \
	X(git_error_clear, error_clear) \
	X(git_error_last, error_last) \
	X(git_ignore_path_is_ignored, ignore_path_is_ignored) \
	X(git_index_find_prefix, index_find_prefix) \
	X(git_index_free, index_free) \
	X(git_index_get_bypath, index_get_bypath) \
	X(git_libgit2_init, libgit2_init) \
	X(git_object_free, object_free) \
	X(git_object_id, object_id) \
	X(git_object_lookup, object_lookup) \
	X(git_object_peel, object_peel) \
	X(git_object_type, object_type) \
	X(git_oid_fromstr, oid_fromstr) \
	X(git_oid_tostr, oid_tostr) \
	X(git_refdb_compress, refdb_compress) \
	X(git_refdb_free, refdb_free) \
	X(git_reference_free, reference_free) \
	X(git_reference_iterator_free, reference_iterator_free) \
	X(git_reference_iterator_glob_new, reference_iterator_glob_new) \
	X(git_reference_name, reference_name) \
	X(git_reference_name_to_id, reference_name_to_id) \
	X(git_reference_next, reference_next) \
	X(git_reference_peel, reference_peel) \
	X(git_reference_target, reference_target) \
	X(git_repository_commondir, repository_commondir) \
	X(git_repository_config, repository_config) \
	X(git_repository_config_snapshot, repository_config_snapshot) \
	X(git_repository_discover, repository_discover) \
	X(git_repository_free, repository_free) \
	X(git_repository_head, repository_head) \
	X(git_repository_index, repository_index) \
	X(git_repository_init, repository_init) \
	X(git_repository_open, repository_open) \
	X(git_repository_open_ext, repository_open_ext) \
	X(git_repository_path, repository_path) \
	X(git_repository_refdb, repository_refdb) \
	X(git_repository_set_workdir, repository_set_workdir) \
	X(git_repository_workdir, repository_workdir) \
	X(git_revparse_single, revparse_single) \
	X(git_revwalk_free, revwalk_free) \
	X(git_revwalk_new, revwalk_new) \
	X(git_revwalk_next, revwalk_next) \
	X(git_revwalk_push_glob, revwalk_push_glob) \
	X(git_revwalk_push_head, revwalk_push_head) \
	X(git_revwalk_sorting, revwalk_sorting) \
	X(git_signature_default, signature_default) \
	X(git_signature_free, signature_free) \
	X(git_signature_new, signature_new) \
	X(git_tag_create, tag_create) \
	X(git_tag_foreach, tag_foreach) \
	X(git_tag_free, tag_free) \
	X(git_tag_lookup, tag_lookup) \
	X(git_tag_message, tag_message) \
	X(git_tag_peel, tag_peel) \
	X(git_tag_tagger, tag_tagger) \
	X(git_tag_target_id, tag_target_id) \
	X(git_tag_target_type, tag_target_type) \
	X(git_tree_entry_byname, tree_entry_byname) \
	X(git_tree_entry_bypath, tree_entry_bypath) \
	X(git_tree_entry_free, tree_entry_free) \
	X(git_tree_entry_id, tree_entry_id) \
	X(git_tree_entry_type, tree_entry_type) \
	X(git_tree_free, tree_free) \
	X(git_tree_id, tree_id) \

struct mlops_git2_api {
#define MLOPS_DYNLIB_MEMBER(sym, member) __typeof__(sym) *member;
	MLOPS_GIT2_SYMBOLS(MLOPS_DYNLIB_MEMBER)
#undef MLOPS_DYNLIB_MEMBER
};
extern struct mlops_git2_api mlops_git2;
extern atomic_int mlops_git2_ready;

/*
 * Load libgit2 once per process (thread-safe); 0, or MLOPS_ERROR with a
 * message naming the library and the package that provides it.
 */
int mlops_git2_load(void);

/* The table, loaded: on failure the process prints why and exits (status 1). */
const struct mlops_git2_api *mlops_git2_need(void);

static inline const struct mlops_git2_api *mlops_git2_api(void)
{
	if (atomic_load_explicit(&mlops_git2_ready, memory_order_acquire))
		return &mlops_git2;
	return mlops_git2_need();
}

#ifndef MLOPS_DYNLIB_IMPL
/* #undef: a library header may define some of these as macros. */
#undef git_blob_free
#define git_blob_free (mlops_git2_api()->blob_free)
#undef git_blob_lookup
#define git_blob_lookup (mlops_git2_api()->blob_lookup)
#undef git_blob_rawcontent
#define git_blob_rawcontent (mlops_git2_api()->blob_rawcontent)
#undef git_blob_rawsize
#define git_blob_rawsize (mlops_git2_api()->blob_rawsize)
#undef git_buf_dispose
#define git_buf_dispose (mlops_git2_api()->buf_dispose)
#undef git_commit_free
#define git_commit_free (mlops_git2_api()->commit_free)
#undef git_commit_id
#define git_commit_id (mlops_git2_api()->commit_id)
#undef git_commit_lookup
#define git_commit_lookup (mlops_git2_api()->commit_lookup)
#undef git_commit_tree
#define git_commit_tree (mlops_git2_api()->commit_tree)
#undef git_config_add_file_ondisk
#define git_config_add_file_ondisk (mlops_git2_api()->config_add_file_ondisk)
#undef git_config_delete_entry
#define git_config_delete_entry (mlops_git2_api()->config_delete_entry)
#undef git_config_entry_free
#define git_config_entry_free (mlops_git2_api()->config_entry_free)
#undef git_config_foreach
#define git_config_foreach (mlops_git2_api()->config_foreach)
#undef git_config_free
#define git_config_free (mlops_git2_api()->config_free)
#undef git_config_get_bool
#define git_config_get_bool (mlops_git2_api()->config_get_bool)
#undef git_config_get_entry
#define git_config_get_entry (mlops_git2_api()->config_get_entry)
#undef git_config_get_int64
#define git_config_get_int64 (mlops_git2_api()->config_get_int64)
#undef git_config_get_multivar_foreach
#define git_config_get_multivar_foreach (mlops_git2_api()->config_get_multivar_foreach)
#undef git_config_get_string_buf
#define git_config_get_string_buf (mlops_git2_api()->config_get_string_buf)
#undef git_config_iterator_free
#define git_config_iterator_free (mlops_git2_api()->config_iterator_free)
#undef git_config_iterator_new
#define git_config_iterator_new (mlops_git2_api()->config_iterator_new)
#undef git_config_new
#define git_config_new (mlops_git2_api()->config_new)
#undef git_config_next
#define git_config_next (mlops_git2_api()->config_next)
#undef git_config_open_level
#define git_config_open_level (mlops_git2_api()->config_open_level)
#undef git_config_set_string
#define git_config_set_string (mlops_git2_api()->config_set_string)
#undef git_diff_free
#define git_diff_free (mlops_git2_api()->diff_free)
#undef git_diff_get_delta
#define git_diff_get_delta (mlops_git2_api()->diff_get_delta)
#undef git_diff_num_deltas
#define git_diff_num_deltas (mlops_git2_api()->diff_num_deltas)
#undef git_diff_options_init
#define git_diff_options_init (mlops_git2_api()->diff_options_init)
#undef git_diff_print
#define git_diff_print (mlops_git2_api()->diff_print)
#undef git_diff_tree_to_workdir_with_index
#define git_diff_tree_to_workdir_with_index (mlops_git2_api()->diff_tree_to_workdir_with_index)
#undef git_error_clear
#define git_error_clear (mlops_git2_api()->error_clear)
#undef git_error_last
#define git_error_last (mlops_git2_api()->error_last)
#undef git_ignore_path_is_ignored
#define git_ignore_path_is_ignored (mlops_git2_api()->ignore_path_is_ignored)
#undef git_index_find_prefix
#define git_index_find_prefix (mlops_git2_api()->index_find_prefix)
#undef git_index_free
#define git_index_free (mlops_git2_api()->index_free)
#undef git_index_get_bypath
#define git_index_get_bypath (mlops_git2_api()->index_get_bypath)
#undef git_libgit2_init
#define git_libgit2_init (mlops_git2_api()->libgit2_init)
#undef git_object_free
#define git_object_free (mlops_git2_api()->object_free)
#undef git_object_id
#define git_object_id (mlops_git2_api()->object_id)
#undef git_object_lookup
#define git_object_lookup (mlops_git2_api()->object_lookup)
#undef git_object_peel
#define git_object_peel (mlops_git2_api()->object_peel)
#undef git_object_type
#define git_object_type (mlops_git2_api()->object_type)
#undef git_oid_fromstr
#define git_oid_fromstr (mlops_git2_api()->oid_fromstr)
#undef git_oid_tostr
#define git_oid_tostr (mlops_git2_api()->oid_tostr)
#undef git_refdb_compress
#define git_refdb_compress (mlops_git2_api()->refdb_compress)
#undef git_refdb_free
#define git_refdb_free (mlops_git2_api()->refdb_free)
#undef git_reference_free
#define git_reference_free (mlops_git2_api()->reference_free)
#undef git_reference_iterator_free
#define git_reference_iterator_free (mlops_git2_api()->reference_iterator_free)
#undef git_reference_iterator_glob_new
#define git_reference_iterator_glob_new (mlops_git2_api()->reference_iterator_glob_new)
#undef git_reference_name
#define git_reference_name (mlops_git2_api()->reference_name)
#undef git_reference_name_to_id
#define git_reference_name_to_id (mlops_git2_api()->reference_name_to_id)
#undef git_reference_next
#define git_reference_next (mlops_git2_api()->reference_next)
#undef git_reference_peel
#define git_reference_peel (mlops_git2_api()->reference_peel)
#undef git_reference_target
#define git_reference_target (mlops_git2_api()->reference_target)
#undef git_repository_commondir
#define git_repository_commondir (mlops_git2_api()->repository_commondir)
#undef git_repository_config
#define git_repository_config (mlops_git2_api()->repository_config)
#undef git_repository_config_snapshot
#define git_repository_config_snapshot (mlops_git2_api()->repository_config_snapshot)
#undef git_repository_discover
#define git_repository_discover (mlops_git2_api()->repository_discover)
#undef git_repository_free
#define git_repository_free (mlops_git2_api()->repository_free)
#undef git_repository_head
#define git_repository_head (mlops_git2_api()->repository_head)
#undef git_repository_index
#define git_repository_index (mlops_git2_api()->repository_index)
#undef git_repository_init
#define git_repository_init (mlops_git2_api()->repository_init)
#undef git_repository_open
#define git_repository_open (mlops_git2_api()->repository_open)
#undef git_repository_open_ext
#define git_repository_open_ext (mlops_git2_api()->repository_open_ext)
#undef git_repository_path
#define git_repository_path (mlops_git2_api()->repository_path)
#undef git_repository_refdb
#define git_repository_refdb (mlops_git2_api()->repository_refdb)
#undef git_repository_set_workdir
#define git_repository_set_workdir (mlops_git2_api()->repository_set_workdir)
#undef git_repository_workdir
#define git_repository_workdir (mlops_git2_api()->repository_workdir)
#undef git_revparse_single
#define git_revparse_single (mlops_git2_api()->revparse_single)
#undef git_revwalk_free
#define git_revwalk_free (mlops_git2_api()->revwalk_free)
#undef git_revwalk_new
#define git_revwalk_new (mlops_git2_api()->revwalk_new)
#undef git_revwalk_next
#define git_revwalk_next (mlops_git2_api()->revwalk_next)
#undef git_revwalk_push_glob
#define git_revwalk_push_glob (mlops_git2_api()->revwalk_push_glob)
#undef git_revwalk_push_head
#define git_revwalk_push_head (mlops_git2_api()->revwalk_push_head)
#undef git_revwalk_sorting
#define git_revwalk_sorting (mlops_git2_api()->revwalk_sorting)
#undef git_signature_default
#define git_signature_default (mlops_git2_api()->signature_default)
#undef git_signature_free
#define git_signature_free (mlops_git2_api()->signature_free)
#undef git_signature_new
#define git_signature_new (mlops_git2_api()->signature_new)
#undef git_tag_create
#define git_tag_create (mlops_git2_api()->tag_create)
#undef git_tag_foreach
#define git_tag_foreach (mlops_git2_api()->tag_foreach)
#undef git_tag_free
#define git_tag_free (mlops_git2_api()->tag_free)
#undef git_tag_lookup
#define git_tag_lookup (mlops_git2_api()->tag_lookup)
#undef git_tag_message
#define git_tag_message (mlops_git2_api()->tag_message)
#undef git_tag_peel
#define git_tag_peel (mlops_git2_api()->tag_peel)
#undef git_tag_tagger
#define git_tag_tagger (mlops_git2_api()->tag_tagger)
#undef git_tag_target_id
#define git_tag_target_id (mlops_git2_api()->tag_target_id)
#undef git_tag_target_type
#define git_tag_target_type (mlops_git2_api()->tag_target_type)
#undef git_tree_entry_byname
#define git_tree_entry_byname (mlops_git2_api()->tree_entry_byname)
#undef git_tree_entry_bypath
#define git_tree_entry_bypath (mlops_git2_api()->tree_entry_bypath)
#undef git_tree_entry_free
#define git_tree_entry_free (mlops_git2_api()->tree_entry_free)
#undef git_tree_entry_id
#define git_tree_entry_id (mlops_git2_api()->tree_entry_id)
#undef git_tree_entry_type
#define git_tree_entry_type (mlops_git2_api()->tree_entry_type)
#undef git_tree_free
#define git_tree_free (mlops_git2_api()->tree_free)
#undef git_tree_id
#define git_tree_id (mlops_git2_api()->tree_id)
#endif

#endif
