/*
 * dl_archive.h - libarchive, for bundles and archive deployments,
 * loaded on first use (see dynlib.h).
 *
 * Include this instead of <archive.h archive_entry.h> and call mlops_archive_load() before the
 * first library call of a code path; the library's function names below
 * then call through the table it fills.  Only the functions mlops uses
 * are listed: add a line to use another.
 */
#ifndef MLOPS_DL_ARCHIVE
#define MLOPS_DL_ARCHIVE

#include <archive.h>
#include <archive_entry.h>

#define MLOPS_ARCHIVE_SYMBOLS(X) \
	X(archive_entry_filetype, entry_filetype) \
	X(archive_entry_free, entry_free) \
	X(archive_entry_hardlink, entry_hardlink) \
	X(archive_entry_new, entry_new) \
	X(archive_entry_pathname, entry_pathname) \
	X(archive_entry_set_filetype, entry_set_filetype) \
	X(archive_entry_set_gid, entry_set_gid) \
	X(archive_entry_set_mtime, entry_set_mtime) \
	X(archive_entry_set_pathname, entry_set_pathname) \
	X(archive_entry_set_perm, entry_set_perm) \
	X(archive_entry_set_size, entry_set_size) \
	X(archive_entry_set_uid, entry_set_uid) \
	X(archive_entry_size, entry_size) \
	X(archive_entry_size_is_set, entry_size_is_set) \
	X(archive_entry_symlink, entry_symlink) \
	X(archive_error_string, error_string) \
	X(archive_read_data, read_data) \
	X(archive_read_free, read_free) \
	X(archive_read_new, read_new) \
	X(archive_read_next_header, read_next_header) \
	X(archive_read_open_filename, read_open_filename) \
	X(archive_read_support_filter_gzip, read_support_filter_gzip) \
	X(archive_read_support_filter_none, read_support_filter_none) \
	X(archive_read_support_format_tar, read_support_format_tar) \
	X(archive_write_add_filter_gzip, write_add_filter_gzip) \
	X(archive_write_close, write_close) \
	X(archive_write_data, write_data) \
	X(archive_write_free, write_free) \
	X(archive_write_header, write_header) \
	X(archive_write_new, write_new) \
	X(archive_write_open_fd, write_open_fd) \
	X(archive_write_open_filename, write_open_filename) \
	X(archive_write_set_bytes_in_last_block, write_set_bytes_in_last_block) \
	X(archive_write_set_filter_option, write_set_filter_option) \
	X(archive_write_set_format_pax_restricted, write_set_format_pax_restricted) \

struct mlops_archive_api {
#define MLOPS_DYNLIB_MEMBER(sym, member) __typeof__(sym) *member;
	MLOPS_ARCHIVE_SYMBOLS(MLOPS_DYNLIB_MEMBER)
};
extern struct mlops_archive_api mlops_archive;

/*
 * Load libarchive once per process; 0, or MLOPS_ERROR with a message naming
 * the library and the package that provides it.  Thread-safe.
 */
int mlops_archive_load(void);

#ifndef MLOPS_DYNLIB_IMPL
/* #undef: a library header may define some of these as type-checking macros. */
#undef archive_entry_filetype
#define archive_entry_filetype mlops_archive.entry_filetype
#undef archive_entry_free
#define archive_entry_free mlops_archive.entry_free
#undef archive_entry_hardlink
#define archive_entry_hardlink mlops_archive.entry_hardlink
#undef archive_entry_new
#define archive_entry_new mlops_archive.entry_new
#undef archive_entry_pathname
#define archive_entry_pathname mlops_archive.entry_pathname
#undef archive_entry_set_filetype
#define archive_entry_set_filetype mlops_archive.entry_set_filetype
#undef archive_entry_set_gid
#define archive_entry_set_gid mlops_archive.entry_set_gid
#undef archive_entry_set_mtime
#define archive_entry_set_mtime mlops_archive.entry_set_mtime
#undef archive_entry_set_pathname
#define archive_entry_set_pathname mlops_archive.entry_set_pathname
#undef archive_entry_set_perm
#define archive_entry_set_perm mlops_archive.entry_set_perm
#undef archive_entry_set_size
#define archive_entry_set_size mlops_archive.entry_set_size
#undef archive_entry_set_uid
#define archive_entry_set_uid mlops_archive.entry_set_uid
#undef archive_entry_size
#define archive_entry_size mlops_archive.entry_size
#undef archive_entry_size_is_set
#define archive_entry_size_is_set mlops_archive.entry_size_is_set
#undef archive_entry_symlink
#define archive_entry_symlink mlops_archive.entry_symlink
#undef archive_error_string
#define archive_error_string mlops_archive.error_string
#undef archive_read_data
#define archive_read_data mlops_archive.read_data
#undef archive_read_free
#define archive_read_free mlops_archive.read_free
#undef archive_read_new
#define archive_read_new mlops_archive.read_new
#undef archive_read_next_header
#define archive_read_next_header mlops_archive.read_next_header
#undef archive_read_open_filename
#define archive_read_open_filename mlops_archive.read_open_filename
#undef archive_read_support_filter_gzip
#define archive_read_support_filter_gzip mlops_archive.read_support_filter_gzip
#undef archive_read_support_filter_none
#define archive_read_support_filter_none mlops_archive.read_support_filter_none
#undef archive_read_support_format_tar
#define archive_read_support_format_tar mlops_archive.read_support_format_tar
#undef archive_write_add_filter_gzip
#define archive_write_add_filter_gzip mlops_archive.write_add_filter_gzip
#undef archive_write_close
#define archive_write_close mlops_archive.write_close
#undef archive_write_data
#define archive_write_data mlops_archive.write_data
#undef archive_write_free
#define archive_write_free mlops_archive.write_free
#undef archive_write_header
#define archive_write_header mlops_archive.write_header
#undef archive_write_new
#define archive_write_new mlops_archive.write_new
#undef archive_write_open_fd
#define archive_write_open_fd mlops_archive.write_open_fd
#undef archive_write_open_filename
#define archive_write_open_filename mlops_archive.write_open_filename
#undef archive_write_set_bytes_in_last_block
#define archive_write_set_bytes_in_last_block mlops_archive.write_set_bytes_in_last_block
#undef archive_write_set_filter_option
#define archive_write_set_filter_option mlops_archive.write_set_filter_option
#undef archive_write_set_format_pax_restricted
#define archive_write_set_format_pax_restricted mlops_archive.write_set_format_pax_restricted
#endif

#endif
