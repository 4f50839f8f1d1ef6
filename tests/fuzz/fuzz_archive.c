/*
 * fuzz_archive.c - the bundle importer (core/bundle.h,
 * mlops_bundle_import), which reads whatever .tar.gz a user was handed.
 *
 * The input is the bundle file as it is (gzip-compressed or plain tar;
 * the importer reads both).  It is written to a file below the scratch
 * directory of fuzz.h and imported into a repository of its own, made
 * once per process next to the shared one, while the process works in an
 * empty directory of the scratch tree.  Besides the sanitizers' checks,
 * the promises of bundle.h:
 *
 *   - nothing is written outside the store: the whole scratch tree, except
 *     .mlops/objects, .mlops/refs and .mlops/logs of the import's
 *     repository, holds the same files (names, types, sizes, times) after
 *     the import as before; and no path that an entry of the archive
 *     names or links to, taken as it is and relative to the working
 *     directory, the work tree, .mlops and .mlops/tmp, appears or changes;
 *   - .mlops/tmp is left empty, whether the import succeeded or not;
 *   - a refused bundle (MLOPS_EINVALID, MLOPS_ECORRUPT) writes no object
 *     and no ref; an imported one writes refs that each name a stored
 *     object.
 *
 * After each input the repository's objects, refs and logs are removed
 * (files only: the store keeps its fan-out folders), so every input meets
 * the same empty store.  fsync is off there.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>

#include "tests/fuzz/fuzz.h"
#include "core/bundle.h"
#include "store/fsutil.h"
#include "store/odb.h"
#include "store/refs.h"

#define ARCHIVE_NAMES_MAX 64

static struct mlops_repo *arch_repo;
static char arch_dir[PATH_MAX + 64];  /* the repository's work tree */
static char arch_cwd[PATH_MAX + 64];  /* where the process works */
static char arch_file[PATH_MAX + 64]; /* the input, as a file */

static void arch_stop(void)
{
	mlops_repo_free(arch_repo);
	arch_repo = NULL;
}

static void arch_start(void)
{
	int created = 0;
	if (arch_repo)
		return;
	fuzz_repo(); /* the scratch directory, HOME, git settings */
	snprintf(arch_dir, sizeof(arch_dir), "%s/archive", fuzz_root);
	snprintf(arch_cwd, sizeof(arch_cwd), "%s/cwd", fuzz_root);
	snprintf(arch_file, sizeof(arch_file), "%s/input.tar.gz", fuzz_root);
	if (mkdir(arch_dir, 0777) < 0 || mkdir(arch_cwd, 0777) < 0 ||
	    mlops_repo_init(&arch_repo, arch_dir, &created) < 0 ||
	    mlops_config_set_string(arch_repo, "core.fsync", "false") < 0) {
		fprintf(stderr, "fuzz_archive: unable to make a repository: %s\n", mlops_error_message());
		abort();
	}
	mlops_odb_set_fsync(arch_repo->odb, 0);
	/* Runs before fuzz.h's cleanup, which removes the tree (atexit order). */
	atexit(arch_stop);
}

/* ---- snapshots of the scratch tree ---------------------------------------- */

struct arch_snap {
	char **lines;
	size_t n, cap;
};

static struct arch_snap *arch_snap_target;
static char arch_snap_skip[3][2 * PATH_MAX + 128];

static int arch_snap_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	for (int i = 0; i < 3; i++)
		if (!strcmp(path, arch_snap_skip[i]))
			return FTW_SKIP_SUBTREE;
	struct arch_snap *s = arch_snap_target;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->lines = realloc(s->lines, s->cap * sizeof(*s->lines));
		FUZZ_CHECK(s->lines != NULL);
	}
	char *line = NULL;
	int len = asprintf(&line, "%s %o %lld %lld.%09ld", path, (unsigned)st->st_mode,
			   (long long)st->st_size, (long long)st->st_mtim.tv_sec,
			   (long)st->st_mtim.tv_nsec);
	FUZZ_CHECK(len > 0);
	/* A folder's time changes with its entries: the entries are compared. */
	if (S_ISDIR(st->st_mode))
		line[strlen(path) + 1 + strcspn(line + strlen(path) + 1, " ")] = '\0';
	s->lines[s->n++] = line;
	return FTW_CONTINUE;
}

static int arch_snap_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void arch_snap_take(struct arch_snap *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(arch_snap_skip[0], sizeof(arch_snap_skip[0]), "%s/.mlops/objects", arch_dir);
	snprintf(arch_snap_skip[1], sizeof(arch_snap_skip[1]), "%s/.mlops/refs", arch_dir);
	snprintf(arch_snap_skip[2], sizeof(arch_snap_skip[2]), "%s/.mlops/logs", arch_dir);
	arch_snap_target = s;
	FUZZ_CHECK(nftw(fuzz_root, arch_snap_one, 16, FTW_PHYS | FTW_ACTIONRETVAL) == 0);
	qsort(s->lines, s->n, sizeof(*s->lines), arch_snap_cmp);
}

static void arch_snap_free(struct arch_snap *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->lines[i]);
	free(s->lines);
}

static void arch_snap_same(const struct arch_snap *a, const struct arch_snap *b)
{
	size_t i = 0, j = 0;
	int same = a->n == b->n;
	while (i < a->n || j < b->n) {
		int c = i >= a->n ? 1 : j >= b->n ? -1 : strcmp(a->lines[i], b->lines[j]);
		if (c < 0)
			fprintf(stderr, "fuzz_archive: gone or changed: %s\n", a->lines[i++]);
		else if (c > 0)
			fprintf(stderr, "fuzz_archive: written outside the store: %s\n", b->lines[j++]);
		else
			i++, j++;
		if (c)
			same = 0;
	}
	FUZZ_CHECK(same);
}

/* ---- the paths the archive names ------------------------------------------ */

struct arch_paths {
	char *path[ARCHIVE_NAMES_MAX * 3 * 4];
	struct stat st[ARCHIVE_NAMES_MAX * 3 * 4];
	int there[ARCHIVE_NAMES_MAX * 3 * 4];
	size_t n;
};

static void arch_paths_add(struct arch_paths *p, const char *name)
{
	char bases[4][2 * PATH_MAX + 128];
	if (!name || !*name || p->n + 4 > sizeof(p->path) / sizeof(p->path[0]))
		return;
	if (name[0] == '/') {
		p->path[p->n++] = strdup(name);
		return;
	}
	snprintf(bases[0], sizeof(bases[0]), "%s", arch_cwd);
	snprintf(bases[1], sizeof(bases[1]), "%s", arch_dir);
	snprintf(bases[2], sizeof(bases[2]), "%s/.mlops", arch_dir);
	snprintf(bases[3], sizeof(bases[3]), "%s/.mlops/tmp", arch_dir);
	for (int i = 0; i < 4; i++)
		if (asprintf(&p->path[p->n], "%s/%s", bases[i], name) > 0)
			p->n++;
}

/* Every entry's name and link target, as libarchive reads them. */
static void arch_paths_collect(struct arch_paths *p, const uint8_t *data, size_t size)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	memset(p, 0, sizeof(*p));
	FUZZ_CHECK(a != NULL);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_none(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_memory(a, data, size) == ARCHIVE_OK) {
		for (int i = 0; i < ARCHIVE_NAMES_MAX && archive_read_next_header(a, &e) == ARCHIVE_OK; i++) {
			arch_paths_add(p, archive_entry_pathname(e));
			arch_paths_add(p, archive_entry_symlink(e));
			arch_paths_add(p, archive_entry_hardlink(e));
		}
	}
	archive_read_free(a);
	for (size_t i = 0; i < p->n; i++)
		p->there[i] = lstat(p->path[i], &p->st[i]) == 0;
}

static void arch_paths_unchanged(struct arch_paths *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct stat st;
		int there = lstat(p->path[i], &st) == 0;
		int same = there == p->there[i] &&
			   (!there || (st.st_ino == p->st[i].st_ino && st.st_size == p->st[i].st_size &&
				       st.st_mtim.tv_sec == p->st[i].st_mtim.tv_sec &&
				       st.st_mtim.tv_nsec == p->st[i].st_mtim.tv_nsec));
		if (!same)
			fprintf(stderr, "fuzz_archive: '%s' was written by the import\n", p->path[i]);
		FUZZ_CHECK(same);
		free(p->path[i]);
	}
}

/* ---- the store after an import -------------------------------------------- */

static size_t arch_store_files;

static int arch_count_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	if (flag == FTW_F)
		arch_store_files++;
	return 0;
}

static size_t arch_files_below(const char *rel)
{
	char dir[2 * PATH_MAX + 128];
	snprintf(dir, sizeof(dir), "%s/.mlops/%s", arch_dir, rel);
	arch_store_files = 0;
	nftw(dir, arch_count_file, 16, FTW_PHYS);
	return arch_store_files;
}

static int arch_remove_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_F || flag == FTW_SL)
		unlink(path);
	return 0;
}

static void arch_store_empty(void)
{
	static const char *const dirs[] = { "objects", "refs", "logs", "tmp" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char dir[2 * PATH_MAX + 128];
		snprintf(dir, sizeof(dir), "%s/.mlops/%s", arch_dir, dirs[i]);
		nftw(dir, arch_remove_file, 16, FTW_PHYS);
	}
}

static size_t arch_tmp_entries(void)
{
	char dir[2 * PATH_MAX + 128];
	size_t n = 0;
	snprintf(dir, sizeof(dir), "%s/.mlops/tmp", arch_dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	if (d)
		closedir(d);
	return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	arch_start();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arch_snap before, after;
	struct arch_paths paths;
	struct mlops_bundle_result *res = NULL;
	char cwd[PATH_MAX];

	arch_start();
	arch_store_empty();
	FUZZ_CHECK(mlops_write_file_atomic(arch_file, data, size, arch_repo->tmpdir, 0) == 0);
	FUZZ_CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	FUZZ_CHECK(chdir(arch_cwd) == 0);
	arch_paths_collect(&paths, data, size);
	arch_snap_take(&before);

	int err = mlops_bundle_import(&res, arch_repo, arch_file);

	arch_snap_take(&after);
	arch_snap_same(&before, &after);
	arch_snap_free(&before);
	arch_snap_free(&after);
	arch_paths_unchanged(&paths);
	FUZZ_CHECK(chdir(cwd) == 0);
	FUZZ_CHECK(arch_tmp_entries() == 0);
	if (err < 0) {
		FUZZ_CHECK(res == NULL);
		if (err == MLOPS_EINVALID || err == MLOPS_ECORRUPT)
			FUZZ_CHECK(arch_files_below("objects") == 0 && arch_files_below("refs") == 0);
		mlops_error_clear();
	} else {
		FUZZ_CHECK(res != NULL);
		for (size_t i = 0; i < res->nrefs; i++) {
			mlops_oid id;
			FUZZ_CHECK(res->refs[i].new_name != NULL);
			FUZZ_CHECK(mlops_ref_read(&id, arch_repo, res->refs[i].new_name) == 0);
			FUZZ_CHECK(!mlops_oid_cmp(&id, &res->refs[i].id));
			FUZZ_CHECK(mlops_odb_exists(arch_repo->odb, &id));
		}
		mlops_bundle_result_free(res);
	}
	arch_store_empty();
	unlink(arch_file);
	return 0;
}
