/*
 * fsutil.h - small file-system helpers with the store's error convention:
 * atomic replacement of a file, directory sync, whole-file reads, paths,
 * and the registry of temporary files removed on exit and on signals.
 */
#ifndef MLOPS_FSUTIL_H
#define MLOPS_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Create a directory and its parents (mode 0777 & ~umask); EEXIST is fine. */
int mlops_mkdir_p(const char *path);

/*
 * Read a whole file into a NUL-terminated buffer (*out, caller frees).
 * MLOPS_ENOTFOUND when it does not exist, MLOPS_EIO otherwise.
 */
int mlops_read_file(char **out, size_t *len, const char *path);

/*
 * Replace `path` with `data` atomically: write a temporary file in tmpdir
 * (same file system), fsync it when `sync`, rename it over path, and fsync
 * path's directory when `sync`.  Readers see the old or the new content,
 * never a mix.
 */
int mlops_write_file_atomic(const char *path, const void *data, size_t len,
			    const char *tmpdir, int sync);

/*
 * The same in two steps, for a caller that has more to do between them:
 * prepare writes `data` to a new temporary file in tmpdir (*tmp, the
 * caller's, registered for removal on an abnormal exit; refused with
 * EISDIR when path is a directory), finish renames it over path and frees
 * it, abort removes and frees it (NULL is fine).  Finish aborts on error.
 */
int mlops_write_file_prepare(char **tmp, const char *path, const void *data, size_t len,
			     const char *tmpdir, int sync);
int mlops_write_file_finish(char *tmp, const char *path, int sync);
void mlops_write_file_abort(char *tmp);

/*
 * 0 when none of the leading components of `rel` below `base` (the
 * directories base/a, base/a/b for rel "a/b/c") is a symbolic link, so
 * that writing base/rel cannot land outside base; components that do not
 * exist are fine.  MLOPS_ECONFLICT naming the link otherwise.  Used before
 * writing paths that came from a lock file or a record.
 */
int mlops_path_check_parents(const char *base, const char *rel);

/* fsync a directory, so that a rename in it is durable. */
int mlops_fsync_dir(const char *dir);

/* fsync a path (file or directory). */
int mlops_fsync_path(const char *path);

/*
 * How a batch of files is made durable, in the store and in a directory
 * remote alike.  Up to MLOPS_FSYNC_FILES files: an fsync of each, then of
 * each folder one was renamed or linked into.  More: syncfs() of the file
 * system, before the renames and after, two calls however many files
 * there are.  syncfs writes every dirty page of the file system, other
 * programs' too (a fetch round of two objects waited 1.7 s for the files a
 * checkout was writing), where a file's own fsync takes milliseconds.
 */
#define MLOPS_FSYNC_FILES 64

/* syncfs() of the file system that holds the folder dir. */
int mlops_syncfs(const char *dir);

/*
 * fsync each of files[0..n), then each folder from a file's own up to
 * root (root included), each folder once.  A file or folder removed
 * meanwhile is not an error (a concurrent gc took it; whoever reads the
 * folder next learns so).  Every other failure is.
 */
int mlops_fsync_files_up_to(char *const *files, size_t n, const char *root);

/* "a/b": a newly allocated join of two path parts (NULL on no memory). */
char *mlops_path_join(const char *a, const char *b);

/* printf into a newly allocated string (NULL on no memory). */
char *mlops_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Write all of buf to fd, retrying short writes and EINTR; -1 + errno. */
int mlops_write_all(int fd, const void *buf, size_t len);

/* The same at a position (pwrite); -1 + errno (EIO for a zero write). */
int mlops_pwrite_all(int fd, const void *buf, size_t len, uint64_t offset);

/*
 * Copy size bytes from in (at its offset) to out, in the kernel where it
 * can (copy_file_range), else through a buffer; src and dst name in and
 * out (may be NULL) for the message ("unable to copy 'src' to 'dst'", so
 * that a full disk names the file being written).  With `clone` set and out empty, a
 * file system that shares blocks (reflink) clones in's whole file instead.
 */
int mlops_copy_fd(int out, int in, uint64_t size, const char *src, const char *dst, int clone);

/* Read up to len bytes, retrying EINTR, until EOF; returns bytes or -1. */
ssize_t mlops_read_full(int fd, void *buf, size_t len);

/*
 * Create a unique temporary file in dir ("<dir>/<prefix><host>-<pid>-XXXXXX"),
 * opened O_RDWR|O_CLOEXEC.  Not registered: a caller whose file must not
 * survive a signal registers it (mlops_tempfile_register); one left in the
 * store's tmp/ goes at the next gc (mlops_odb_clean_tmp) once its process
 * is gone.  *path_out is the caller's.
 */
int mlops_tempfile(int *fd_out, char **path_out, const char *dir, const char *prefix);

/*
 * 1 when file name `name` (no folder) is a temporary file or working
 * directory (mlops_tempfile, mlops_workdir_make) of a process of this host
 * that still runs, else 0.
 */
int mlops_tempfile_live(const char *name);

/* Register / unregister a path that must not survive an abnormal exit. */
void mlops_tempfile_register(const char *path);
void mlops_tempfile_forget(const char *path);

/*
 * Register a directory this process has just made, to be removed with all
 * it holds (never through a link) on a signal or an abnormal exit, as a
 * checkout removes the folders it made when it is stopped; forgotten with
 * mlops_tempfile_forget.  Returns 0, or -1 when the table is full (the
 * directory is then not registered).
 */
int mlops_tempdir_register(const char *path);

/*
 * Remove every path this process registered (called from atexit and
 * signals; paths inherited by a forked child are left to the parent):
 * files first, then the directories.  The table is fixed (256 paths; a
 * full table drops new ones, and directories take at most half of it):
 * register only files that live for one step, such as the lock, a file
 * being checked out, or a pack being fetched.
 */
void mlops_tempfile_cleanup(void);

/* This host's name ("unknown" when it has none), NUL-terminated in buf. */
void mlops_host_name(char *buf, size_t len);

/*
 * Working directories in a shared tmp/ directory: "<prefix>-<host>-<pid>-
 * XXXXXX" (prefix: letters and digits; host: this host's name, characters
 * other than letters, digits, '.' and '-' as '_').  One left by a process
 * killed before it could remove it is known to any later process on the
 * same host by its name alone: its process no longer runs.
 * mlops_workdir_make creates one (mode 0700); *out is the caller's.
 */
int mlops_workdir_make(char **out, const char *dir, const char *prefix);

/*
 * Remove every working directory in dir made on this host by a process
 * that no longer runs; returns how many went.  Other entries are left.
 */
int mlops_workdir_clean(const char *dir);

/*
 * Remove path and everything below it, following no link.  0, or -1 with
 * errno of the first failure when path is still there.
 */
int mlops_remove_tree(const char *path);

/* The process umask (read once). */
mode_t mlops_umask(void);

#endif
