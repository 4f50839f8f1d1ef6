/*
 * format.h - the store's format version: the file .mlops/format.
 *
 * A store's layout changes from time to time (local packs, the zcol codec)
 * in ways an older mlops cannot read.  `mlops init` writes the version this
 * build writes when it creates a store; every command that opens a
 * repository reads it first and refuses a store newer than it understands,
 * before it reads or writes anything else, instead of misreading it.
 *
 *   missing   version 0: a store made before versions were recorded; read
 *             and written as it is, never upgraded implicitly
 *   1         objects loose (raw, .zst, .zz, .zcol) or in objects/pack/
 *   > 1       refused with MLOPS_EFORMAT ("upgrade mlops")
 *
 * The file belongs to the store, which is per clone: it is not in git
 * (.mlops/.gitignore keeps everything but config and itself out), unlike
 * .mlops/config, which every clone shares.  It holds the decimal number
 * and a newline ("1\n"), like git's core.repositoryformatversion but in a
 * file of its own, so that reading it needs neither libgit2 nor a
 * configuration parser: one open and one read.
 */
#ifndef MLOPS_FORMAT_H
#define MLOPS_FORMAT_H

#include <stddef.h>

/* The store format this build writes, and the newest one it reads. */
#define MLOPS_FORMAT_VERSION 1

/* The file's name in .mlops/. */
#define MLOPS_FORMAT_FILE "format"

/* Longest content accepted, newline included; longer is malformed. */
#define MLOPS_FORMAT_MAX_LEN 64

/*
 * The version the content of .mlops/format names (len bytes, no
 * terminator needed): one or more decimal digits (leading zeros allowed)
 * and an optional final newline, nothing else.  A number too large for
 * *out is set to UINT_MAX, which is newer than any build.  MLOPS_EINVALID,
 * with a message naming the file, for anything else: empty, blanks, signs,
 * "\r\n", a second line, more than MLOPS_FORMAT_MAX_LEN bytes.
 */
int mlops_format_parse(unsigned *out, const char *text, size_t len);

/*
 * The store format of the repository whose .mlops/ is `mlops_dir`: *out is
 * 0 when .mlops/format does not exist.  MLOPS_EFORMAT when it is newer
 * than MLOPS_FORMAT_VERSION, MLOPS_EINVALID when it is malformed or not a
 * regular file, MLOPS_EIO when it cannot be read; the message says what
 * to do.
 */
int mlops_format_read(unsigned *out, const char *mlops_dir);

/*
 * Write MLOPS_FORMAT_VERSION to .mlops/format atomically (through a
 * temporary file in tmpdir, synced), replacing any earlier content.
 */
int mlops_format_write(const char *mlops_dir, const char *tmpdir);

#endif
