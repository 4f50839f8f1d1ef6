/*
 * fuzz.h - what the fuzz targets share: the libFuzzer entry points, a
 * scratch mlops repository made once per process (for parsers that read
 * records from the store), and small input helpers.
 *
 * Each tests/fuzz/fuzz_*.c defines LLVMFuzzerTestOneInput (and, when it
 * needs one, LLVMFuzzerInitialize).  Built with clang -fsanitize=fuzzer
 * they are libFuzzer programs (`make fuzz`); tests/unit/test_corpus.c
 * includes every target under another name and replays tests/corpus/
 * through them with the normal compiler, so each crash ever found stays a
 * regression test of `make test` and `make sanitize`.
 *
 * Header-only (static functions), included once per target file.
 */
#ifndef MLOPS_FUZZ_H
#define MLOPS_FUZZ_H

#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/error.h"
#include "store/repo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Abort (a crash the fuzzer reports) when an invariant does not hold. */
#define FUZZ_CHECK(cond)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, \
				__LINE__, #cond);                                 \
			abort();                                                  \
		}                                                                 \
	} while (0)

/* A NUL-terminated copy of the input (caller frees); NULL on no memory. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return NULL;
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* An exact-size copy without a terminator, so that over-reads are caught. */
static inline char *fuzz_memdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size ? size : 1);
	if (s && size)
		memcpy(s, data, size);
	return s;
}

static char fuzz_root[PATH_MAX];
static struct mlops_repo *fuzz_the_repo;

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag,
			      struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static inline void fuzz_cleanup(void)
{
	mlops_repo_free(fuzz_the_repo);
	fuzz_the_repo = NULL;
	if (*fuzz_root)
		nftw(fuzz_root, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	*fuzz_root = '\0';
}

/*
 * The scratch repository (a git work tree with .mlops/ in a new temporary
 * directory, removed at exit).  Aborts when it cannot be made: no target
 * can run without it.
 */
static inline struct mlops_repo *fuzz_repo(void)
{
	if (fuzz_the_repo)
		return fuzz_the_repo;
	const char *tmp = getenv("TMPDIR");
	char work[PATH_MAX + 8];
	int created = 0;
	snprintf(fuzz_root, sizeof(fuzz_root), "%s/mlops-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fuzz_root)) {
		perror("mkdtemp");
		abort();
	}
	setenv("HOME", fuzz_root, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	unsetenv("MLOPS_CONFIG");
	snprintf(work, sizeof(work), "%s/work", fuzz_root);
	if (mkdir(work, 0777) < 0 || mlops_repo_init(&fuzz_the_repo, work, &created) < 0) {
		fprintf(stderr, "fuzz: unable to make a repository: %s\n", mlops_error_message());
		abort();
	}
	atexit(fuzz_cleanup);
	return fuzz_the_repo;
}

#endif
