/*
 * store_fixture.h - shared set-up for the store's unit tests: a fresh git
 * work tree with an mlops repository in a mkdtemp() directory per test,
 * removed afterwards, and small file helpers (write, compare, count,
 * pseudo-random content, mtimes in the past).
 *
 * Header-only (static functions): each tests/unit/test_*.c is its own
 * program.  Include after <cmocka.h>.
 */
#ifndef MLOPS_STORE_FIXTURE_H
#define MLOPS_STORE_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/error.h"
#include "store/fsutil.h"
#include "store/odb.h"
#include "store/repo.h"

/* snprintf into an array, failing the test on truncation. */
#define fx_fmt(buf, ...) assert_true((size_t)snprintf((buf), sizeof(buf), __VA_ARGS__) < sizeof(buf))

struct fixture {
	char root[PATH_MAX];    /* the mkdtemp() directory */
	char work[PATH_MAX];    /* <root>/work: the git work tree */
	char scratch[PATH_MAX]; /* <root>/scratch: files outside the work tree */
	struct mlops_repo *repo;
};

/* Known SHA-256 values (FIPS 180-2 examples). */
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* No user or system configuration: set once per process (setenv never frees). */
static inline void fx_hermetic_env(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	setenv("HOME", "/nonexistent/mlops-unit-home", 1);
	setenv("XDG_CONFIG_HOME", "/nonexistent/mlops-unit-home", 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	setenv("GIT_AUTHOR_NAME", "A U Thor", 1);
	setenv("GIT_AUTHOR_EMAIL", "author@example.com", 1);
	unsetenv("MLOPS_CONFIG");
}

static inline int fx_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");
	int created = 0;
	if (!fx)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "%s/mlops-unit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fx->root)) {
		free(fx);
		return -1;
	}
	fx_hermetic_env();
	if ((size_t)snprintf(fx->work, sizeof(fx->work), "%s/work", fx->root) >= sizeof(fx->work) ||
	    (size_t)snprintf(fx->scratch, sizeof(fx->scratch), "%s/scratch", fx->root) >=
		    sizeof(fx->scratch))
		return -1;
	if (mkdir(fx->work, 0777) < 0 || mkdir(fx->scratch, 0777) < 0)
		return -1;
	if (mlops_repo_init(&fx->repo, fx->work, &created) < 0 || !created) {
		fprintf(stderr, "mlops_repo_init: %s\n", mlops_error_message());
		return -1;
	}
	*state = fx;
	return 0;
}

static inline int fx_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path) < 0 ? -1 : 0;
	return unlink(path) < 0 ? -1 : 0;
}

static inline int fx_rm_rf(const char *path)
{
	return nftw(path, fx_rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

static inline int fx_teardown(void **state)
{
	struct fixture *fx = *state;
	if (!fx)
		return 0;
	mlops_repo_free(fx->repo);
	int rc = fx_rm_rf(fx->root);
	free(fx);
	return rc < 0 ? -1 : 0;
}

/* "<base>/<rel>" into a static-free caller buffer. */
static inline char *fx_path(char *buf, size_t size, const char *base, const char *rel)
{
	assert_true((size_t)snprintf(buf, size, "%s/%s", base, rel) < size);
	return buf;
}

static inline void fx_write(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	assert_true(fd >= 0);
	assert_int_equal(mlops_write_all(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
}

static inline void fx_write_str(const char *path, const char *text)
{
	fx_write(path, text, strlen(text));
}

/* Create the parent directories of path and write it. */
static inline void fx_write_deep(const char *path, const void *data, size_t len)
{
	char dir[PATH_MAX];
	fx_fmt(dir, "%s", path);
	char *slash = strrchr(dir, '/');
	assert_non_null(slash);
	*slash = '\0';
	assert_int_equal(mlops_mkdir_p(dir), 0);
	fx_write(path, data, len);
}

/* xorshift64*: incompressible bytes, reproducible from the seed. */
static inline void fx_random(void *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed ? seed : 0x9e3779b97f4a7c15ULL;
	unsigned char *p = buf;
	size_t i = 0;
	while (i < len) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		uint64_t v = x * 0x2545f4914f6cdd1dULL;
		for (int k = 0; k < 8 && i < len; k++, i++)
			p[i] = (unsigned char)(v >> (8 * k));
	}
}

/*
 * Compressible text: numbered lines, ~8x smaller under zstd or zlib.
 * Fields are separated by spaces, so the store compresses it as plain
 * zstd; fx_csv makes the same lines with commas (laid out by column).
 */
static inline void fx_lines(void *buf, size_t len, unsigned seed, char sep)
{
	char line[64];
	size_t i = 0;
	unsigned n = seed;
	while (i < len) {
		int l = snprintf(line, sizeof(line), "%u%csample-%u%c%u.%02u\n", n, sep, n % 97, sep,
				 n % 1000, n % 100);
		for (int k = 0; k < l && i < len; k++, i++)
			((char *)buf)[i] = line[k];
		n++;
	}
}

static inline void fx_text(void *buf, size_t len, unsigned seed)
{
	fx_lines(buf, len, seed, ' ');
}

static inline void fx_csv(void *buf, size_t len, unsigned seed)
{
	fx_lines(buf, len, seed, ',');
}

/*
 * Open for a streaming read that bypasses the page cache where the file
 * system allows (O_DIRECT): reading a hole then costs no cache pages, which
 * keeps multi-GB sparse compares fast.  Falls back to a buffered read.
 */
static inline int fx_open_stream(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd >= 0) {
		static unsigned char probe[4096] __attribute__((aligned(4096)));
		if (pread(fd, probe, sizeof(probe), 0) >= 0)
			return fd;
		close(fd);
	}
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* Read [off, off + len) of a file `size` bytes long (aligned asks for O_DIRECT). */
static inline int fx_read_at(int fd, unsigned char *buf, size_t cap, off_t off, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, cap - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* 1 when both files have the same bytes; streams both in 1 MiB blocks. */
static inline int fx_same_file(const char *a, const char *b)
{
	static unsigned char ba[1 << 20] __attribute__((aligned(4096)));
	static unsigned char bb[1 << 20] __attribute__((aligned(4096)));
	int fa = fx_open_stream(a), fb = fx_open_stream(b), same = 1;
	struct stat sa, sb;
	if (fa < 0 || fb < 0 || fstat(fa, &sa) < 0 || fstat(fb, &sb) < 0 ||
	    sa.st_size != sb.st_size) {
		same = 0;
		goto done;
	}
	for (off_t off = 0; off < sa.st_size; off += (off_t)sizeof(ba)) {
		size_t len = sa.st_size - off < (off_t)sizeof(ba) ? (size_t)(sa.st_size - off) :
								      sizeof(ba);
		if (fx_read_at(fa, ba, sizeof(ba), off, len) < 0 ||
		    fx_read_at(fb, bb, sizeof(bb), off, len) < 0 || memcmp(ba, bb, len)) {
			same = 0;
			break;
		}
	}
done:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return same;
}

/* 1 when the file holds exactly len bytes equal to data. */
static inline int fx_file_is(const char *path, const void *data, size_t len)
{
	char *buf;
	size_t got;
	if (mlops_read_file(&buf, &got, path) < 0)
		return 0;
	int same = got == len && !memcmp(buf, data, len);
	free(buf);
	return same;
}

static long fx_count_cb_n;
static inline int fx_count_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	if (flag == FTW_F)
		fx_count_cb_n++;
	return 0;
}

/* Regular files below dir, recursively. */
static inline long fx_count_files(const char *dir)
{
	fx_count_cb_n = 0;
	if (nftw(dir, fx_count_cb, 16, FTW_PHYS) < 0)
		return -1;
	return fx_count_cb_n;
}

/* Set a path's mtime (and atime) to `ago` seconds before now (negative: future). */
static inline void fx_age(const char *path, long ago)
{
	struct timespec ts[2];
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= ago;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static inline double fx_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run only the tests matching $MLOPS_TEST_FILTER (a cmocka pattern), if set. */
static inline void fx_filter_from_env(void)
{
	const char *f = getenv("MLOPS_TEST_FILTER");
	if (f && *f)
		cmocka_set_test_filter(f);
}

static inline struct fixture *fx_of(void **state)
{
	return *state;
}

#endif
