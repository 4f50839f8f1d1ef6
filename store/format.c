/*
 * format.c - the store's format version (see format.h): reading, checking
 * and writing .mlops/format.
 */
#include "format.h"
#include "error.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_PATH ".mlops/" MLOPS_FORMAT_FILE

static int malformed(const char *text, size_t len)
{
	size_t shown = len && text[len - 1] == '\n' ? len - 1 : len;
	int printable = shown > 0 && len <= MLOPS_FORMAT_MAX_LEN;
	for (size_t i = 0; printable && i < shown; i++)
		printable = text[i] >= 0x20 && text[i] < 0x7f;
	if (len == 0)
		return mlops_error_set(MLOPS_EINVALID,
				       "'" FORMAT_PATH "' is empty; expected the store format "
				       "number and a newline, such as %d", MLOPS_FORMAT_VERSION);
	if (printable)
		return mlops_error_set(MLOPS_EINVALID,
				       "'" FORMAT_PATH "' holds '%.*s'; expected the store format "
				       "number and a newline, such as %d",
				       (int)shown, text, MLOPS_FORMAT_VERSION);
	return mlops_error_set(MLOPS_EINVALID,
			       "'" FORMAT_PATH "' is malformed; expected the store format "
			       "number and a newline, such as %d", MLOPS_FORMAT_VERSION);
}

int mlops_format_parse(unsigned *out, const char *text, size_t len)
{
	size_t digits = len && text[len - 1] == '\n' ? len - 1 : len;
	unsigned long long v = 0;
	*out = 0;
	if (digits == 0 || len > MLOPS_FORMAT_MAX_LEN)
		return malformed(text, len);
	for (size_t i = 0; i < digits; i++) {
		if (text[i] < '0' || text[i] > '9')
			return malformed(text, len);
		if (v <= UINT_MAX)
			v = v * 10 + (unsigned)(text[i] - '0');
	}
	*out = v > UINT_MAX ? UINT_MAX : (unsigned)v;
	return 0;
}

int mlops_format_read(unsigned *out, const char *mlops_dir)
{
	char *path = mlops_path_join(mlops_dir, MLOPS_FORMAT_FILE);
	char text[MLOPS_FORMAT_MAX_LEN + 1];
	struct stat st;
	ssize_t n = 0;
	int fd = -1, err = 0;
	*out = 0;
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	/* Non-blocking: a FIFO in its place must not hang every command. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			err = mlops_error_sys(errno, "unable to open '" FORMAT_PATH "'");
		goto done; /* missing: a store made before versions, format 0 */
	}
	if (fstat(fd, &st) < 0) {
		err = mlops_error_sys(errno, "unable to read '" FORMAT_PATH "'");
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		err = mlops_error_set(MLOPS_EINVALID, "'" FORMAT_PATH "' is not a regular file");
		goto done;
	}
	/* One byte more than the longest valid content tells a longer file. */
	if ((n = mlops_read_full(fd, text, sizeof(text))) < 0) {
		err = mlops_error_sys(errno, "unable to read '" FORMAT_PATH "'");
		goto done;
	}
	if ((err = mlops_format_parse(out, text, (size_t)n)) < 0)
		goto done;
	if (*out > MLOPS_FORMAT_VERSION) {
		const char *v = text;
		size_t vl = text[n - 1] == '\n' ? (size_t)n - 1 : (size_t)n;
		while (vl > 1 && *v == '0') {
			v++;
			vl--;
		}
		err = mlops_error_set(MLOPS_EFORMAT,
				      ".mlops: store format %.*s is newer than this mlops "
				      "understands (%d); upgrade mlops",
				      (int)vl, v, MLOPS_FORMAT_VERSION);
	}
done:
	if (fd >= 0)
		close(fd);
	free(path);
	return err;
}

int mlops_format_write(const char *mlops_dir, const char *tmpdir)
{
	char text[32];
	char *path = mlops_path_join(mlops_dir, MLOPS_FORMAT_FILE);
	int len = snprintf(text, sizeof(text), "%d\n", MLOPS_FORMAT_VERSION), err;
	if (!path)
		return mlops_error_set(MLOPS_ERROR, "out of memory");
	err = mlops_write_file_atomic(path, text, (size_t)len, tmpdir, 1);
	free(path);
	return err;
}
