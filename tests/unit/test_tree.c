/*
 * test_tree.c - files and directories in the store: files at the chunk
 * size boundaries, identical content stored once, a 3 GiB sparse file, a
 * 1 MB edit in a 100 MB file, and a tree with nested and empty directories,
 * empty files, unicode names, names with spaces and symbolic links (stored
 * as links, never followed), checked out into an empty and a dirty folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "store/chunk.h"
#include "store/json.h"
#include "store/tree.h"

static struct mlops_odb *odb_of(void **state)
{
	mlops_odb_set_fsync(fx_of(state)->repo->odb, 0);
	return fx_of(state)->repo->odb;
}

static int count_objects_cb(const mlops_oid *id, enum mlops_codec codec, uint64_t size,
			    void *payload)
{
	(void)id;
	(void)codec;
	(void)size;
	(*(long *)payload)++;
	return 0;
}

static long count_objects(struct mlops_odb *odb)
{
	long n = 0;
	assert_int_equal(mlops_odb_foreach(odb, count_objects_cb, &n), 0);
	return n;
}

/* The chunk list of a "chunks" node: ids and sizes (checked to add up). */
static size_t load_chunks(struct mlops_odb *odb, const struct mlops_node *node, mlops_oid *ids,
			  size_t *sizes, size_t max)
{
	cJSON *o;
	assert_int_equal(mlops_json_load(&o, odb, &node->id), 0);
	assert_string_equal(mlops_json_str(o, "type"), "chunks");
	assert_true(mlops_json_num(o, "size", -1) == (double)node->size);
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "chunks"), *it;
	size_t n = 0;
	uint64_t total = 0;
	cJSON_ArrayForEach(it, arr) {
		assert_true(n < max);
		assert_int_equal(mlops_oid_parse(&ids[n], cJSON_GetArrayItem(it, 0)->valuestring), 0);
		sizes[n] = (size_t)cJSON_GetArrayItem(it, 1)->valuedouble;
		total += sizes[n];
		n++;
	}
	cJSON_Delete(o);
	assert_int_equal(total, node->size);
	return n;
}

/* ---- single files --------------------------------------------------------- */

static void roundtrip_file(void **state, const unsigned char *data, size_t n)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	char in[PATH_MAX], out[PATH_MAX];
	struct mlops_node node;
	struct mlops_ingest_stats stats;
	memset(&stats, 0, sizeof(stats));
	fx_path(in, sizeof(in), fx->scratch, "in.bin");
	fx_path(out, sizeof(out), fx->scratch, "out.bin");
	fx_write(in, data, n);
	assert_int_equal(mlops_tree_store(&node, odb, NULL, in, NULL, &stats), 0);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_int_equal(node.size, n);
	assert_int_equal(node.files, 1);
	assert_int_equal(node.mode, 0644);
	assert_int_equal(stats.files, 1);
	assert_int_equal(stats.bytes, n);
	assert_int_equal(stats.hashed, n);

	/* One chunk: one blob named by the content's hash.  Else a chunk list. */
	if (n <= MLOPS_CHUNK_MIN || mlops_chunk_next(data, n) == n) {
		mlops_oid want;
		mlops_hash_buf(&want, data, n);
		assert_int_equal(node.kind, MLOPS_KIND_BLOB);
		assert_int_equal(mlops_oid_cmp(&node.id, &want), 0);
	} else {
		mlops_oid ids[64];
		size_t sizes[64], off = 0;
		assert_int_equal(node.kind, MLOPS_KIND_CHUNKS);
		size_t k = load_chunks(odb, &node, ids, sizes, 64);
		assert_true(k >= 2);
		for (size_t i = 0; i < k; i++) {
			mlops_oid want;
			assert_true(sizes[i] <= MLOPS_CHUNK_MAX);
			if (i + 1 < k)
				assert_true(sizes[i] > MLOPS_CHUNK_MIN);
			mlops_hash_buf(&want, data + off, sizes[i]);
			assert_int_equal(mlops_oid_cmp(&ids[i], &want), 0);
			off += sizes[i];
		}
	}
	assert_int_equal(mlops_tree_checkout(odb, NULL, &node, out, NULL, NULL), 0);
	assert_true(fx_same_file(in, out));
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_size, n);

	/* Checking out over an existing, different file replaces it. */
	fx_write_str(out, "something else entirely");
	assert_int_equal(mlops_tree_checkout(odb, NULL, &node, out, NULL, NULL), 0);
	assert_true(fx_same_file(in, out));
	unlink(out);
}

static void test_file_sizes_at_chunk_edges(void **state)
{
	const size_t sizes[] = { 0, 6, MLOPS_CHUNK_MIN, MLOPS_CHUNK_MIN + 1, MLOPS_CHUNK_MAX,
				 MLOPS_CHUNK_MAX + 1, 3 * MLOPS_CHUNK_MAX + 12345 };
	const size_t maxn = 3 * MLOPS_CHUNK_MAX + 12345;
	unsigned char *buf = malloc(maxn);
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fx_random(buf, sizes[i], 77 + i);
		roundtrip_file(state, buf, sizes[i]);
		fx_text(buf, sizes[i], (unsigned)i);
		roundtrip_file(state, buf, sizes[i]);
	}
	free(buf);
}

/* ---- deduplication ------------------------------------------------------- */

static void test_identical_content_stored_once(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	const size_t n = 3 * 1024 * 1024 + 5;
	unsigned char *buf = malloc(n);
	char dir[PATH_MAX], p[PATH_MAX], objects[PATH_MAX];
	assert_non_null(buf);
	fx_random(buf, n, 9);
	fx_path(dir, sizeof(dir), fx->work, "data");
	fx_write_deep(fx_path(p, sizeof(p), dir, "a.bin"), buf, n);
	fx_write_deep(fx_path(p, sizeof(p), dir, "sub/b.bin"), buf, n);
	fx_write_str(fx_path(p, sizeof(p), dir, "c.txt"), "same small text\n");
	fx_write_str(fx_path(p, sizeof(p), dir, "sub/d.txt"), "same small text\n");

	struct mlops_node node;
	struct mlops_ingest_stats stats;
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(mlops_tree_store(&node, odb, NULL, dir, NULL, &stats), 0);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_int_equal(node.kind, MLOPS_KIND_TREE);
	assert_int_equal(node.files, 4);
	assert_int_equal(node.size, 2 * n + 32);

	struct mlops_tree_list list;
	assert_int_equal(mlops_tree_list(&list, odb, &node, 0), 0);
	assert_int_equal(list.count, 4);
	assert_string_equal(list.files[0].path, "a.bin");
	assert_string_equal(list.files[2].path, "sub/b.bin");
	assert_int_equal(mlops_oid_cmp(&list.files[0].node.id, &list.files[2].node.id), 0);
	mlops_oid ids[16];
	size_t sizes[16];
	size_t nchunks = load_chunks(odb, &list.files[0].node, ids, sizes, 16);
	mlops_tree_list_free(&list);

	/* 2 trees (root, sub) + 1 chunk list + its chunks + 1 small blob. */
	long want = 2 + 1 + (long)nchunks + 1;
	fx_path(objects, sizeof(objects), fx->work, ".mlops/objects");
	assert_int_equal(fx_count_files(objects), want);
	assert_int_equal(count_objects(odb), want);
	/* The content was written once: stored < one copy plus the metadata. */
	assert_true(stats.stored >= n);
	assert_true(stats.stored < n + 4096);

	/* Storing it again adds nothing. */
	memset(&stats, 0, sizeof(stats));
	struct mlops_node again;
	assert_int_equal(mlops_tree_store(&again, odb, NULL, dir, NULL, &stats), 0);
	assert_int_equal(mlops_oid_cmp(&again.id, &node.id), 0);
	assert_int_equal(stats.stored, 0);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_int_equal(fx_count_files(objects), want);
	free(buf);
}

/* ---- large files ---------------------------------------------------------- */

static void test_sparse_3gib_roundtrip(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	const off_t size = 3LL << 30;
	char in[PATH_MAX], out[PATH_MAX];
	fx_path(in, sizeof(in), fx->scratch, "sparse.bin");
	fx_path(out, sizeof(out), fx->scratch, "sparse.out");
	int fd = open(in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	assert_int_equal(pwrite(fd, "head", 4, 0), 4);
	assert_int_equal(pwrite(fd, "middle", 6, (1LL << 30) + 12345), 6);
	assert_int_equal(pwrite(fd, "tail", 4, size - 4), 4);
	close(fd);

	struct mlops_node node;
	struct mlops_ingest_stats stats;
	memset(&stats, 0, sizeof(stats));
	double t0 = fx_now();
	assert_int_equal(mlops_tree_store(&node, odb, NULL, in, NULL, &stats), 0);
	assert_int_equal(mlops_odb_sync(odb), 0);
	double t1 = fx_now();
	assert_int_equal(node.kind, MLOPS_KIND_CHUNKS);
	assert_int_equal(node.size, (uint64_t)size);
	assert_int_equal(stats.hashed, (uint64_t)size);
	/* Zeros compress and repeat: a few objects, a few MB at most. */
	assert_true(stats.stored < 4 << 20);
	assert_true(count_objects(odb) < 16);

	struct mlops_checkout_stats cstats;
	memset(&cstats, 0, sizeof(cstats));
	assert_int_equal(mlops_tree_checkout(odb, NULL, &node, out, NULL, &cstats), 0);
	double t2 = fx_now();
	assert_int_equal(cstats.files_written, 1);
	assert_int_equal(cstats.bytes_written, (uint64_t)size);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_size, size);
	assert_true(fx_same_file(in, out));
	double t3 = fx_now();
	/* The compare sees one byte anywhere. */
	fd = open(out, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "!", 1, (2LL << 30) + 3), 1);
	close(fd);
	assert_false(fx_same_file(in, out));
	print_message("3 GiB sparse: store+sync %.2f s, checkout %.2f s, compare %.2f s; "
		      "%ld objects, %llu bytes stored, %lld bytes allocated after checkout\n",
		      t1 - t0, t2 - t1, t3 - t2, count_objects(odb),
		      (unsigned long long)stats.stored, (long long)st.st_blocks * 512);
	unlink(in);
	unlink(out);
}

/*
 * Holes are never read, yet a sparse file gets the same id as the same
 * bytes written out in full (zeros and all), on both the one-worker path
 * (20 MiB) and the chunk-parallel path for big files (80 MiB).
 */
static void test_sparse_same_id_as_dense(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	const size_t sizes[] = { 20u << 20, 80u << 20 };
	char sparse[PATH_MAX], dense[PATH_MAX], out[PATH_MAX];
	fx_path(sparse, sizeof(sparse), fx->scratch, "sparse.bin");
	fx_path(dense, sizeof(dense), fx->scratch, "dense.bin");
	fx_path(out, sizeof(out), fx->scratch, "out.bin");
	for (size_t k = 0; k < 2; k++) {
		size_t n = sizes[k];
		unsigned char *buf = calloc(1, n);
		assert_non_null(buf);
		/* Data at unaligned places, with holes shorter and longer than a chunk. */
		const size_t at[] = { 0, (5u << 20) + 77, (6u << 20) + 5000, (15u << 20) + 1,
				      n - 3000 };
		int fd = open(sparse, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)n), 0);
		for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
			fx_random(buf + at[i], 3000, 100 + i);
			assert_int_equal(pwrite(fd, buf + at[i], 3000, (off_t)at[i]), 3000);
		}
		close(fd);
		fx_write(dense, buf, n);

		struct mlops_node a, b;
		struct mlops_ingest_stats sa, sb;
		memset(&sa, 0, sizeof(sa));
		memset(&sb, 0, sizeof(sb));
		assert_int_equal(mlops_tree_store(&a, odb, NULL, sparse, NULL, &sa), 0);
		assert_int_equal(mlops_tree_store(&b, odb, NULL, dense, NULL, &sb), 0);
		assert_int_equal(mlops_oid_cmp(&a.id, &b.id), 0);
		assert_int_equal(a.kind, MLOPS_KIND_CHUNKS);
		assert_int_equal(sa.hashed, n);
		assert_int_equal(sb.stored, 0);
		assert_int_equal(mlops_odb_sync(odb), 0);
		assert_int_equal(mlops_tree_checkout(odb, NULL, &a, out, NULL, NULL), 0);
		assert_true(fx_file_is(out, buf, n));
		free(buf);
	}
}

/*
 * 100 MB of pseudo-random (incompressible) bytes, so `stored` counts raw
 * bytes; then 1 MB in the middle is overwritten with other random bytes.
 */
static void test_mid_file_edit_restores_little(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	const size_t n = 100u * 1000 * 1000, edit = 1000 * 1000;
	unsigned char *buf = malloc(n);
	char in[PATH_MAX], out[PATH_MAX];
	assert_non_null(buf);
	fx_random(buf, n, 2024);
	fx_path(in, sizeof(in), fx->scratch, "big.bin");
	fx_path(out, sizeof(out), fx->scratch, "big.out");
	fx_write(in, buf, n);

	struct mlops_node v1, v2;
	struct mlops_ingest_stats s1, s2;
	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	double t0 = fx_now();
	assert_int_equal(mlops_tree_store(&v1, odb, NULL, in, NULL, &s1), 0);
	double t1 = fx_now();
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_true(s1.stored >= n);
	assert_true(s1.stored < n + n / 100);

	fx_random(buf + n / 2, edit, 99);
	int fd = open(in, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf + n / 2, edit, (off_t)(n / 2)), (ssize_t)edit);
	close(fd);
	assert_int_equal(mlops_tree_store(&v2, odb, NULL, in, NULL, &s2), 0);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_true(mlops_oid_cmp(&v1.id, &v2.id) != 0);
	assert_int_equal(s2.hashed, n);
	assert_true(s2.stored >= edit);
	assert_true(s2.stored < n / 20);
	print_message("100 MB: first store %.2f s; 1 MB edit re-stored %llu bytes (%.2f%%)\n",
		      t1 - t0, (unsigned long long)s2.stored, 100.0 * (double)s2.stored / (double)n);

	/* Both versions check out intact. */
	assert_int_equal(mlops_tree_checkout(odb, NULL, &v2, out, NULL, NULL), 0);
	assert_true(fx_same_file(in, out));
	assert_int_equal(mlops_tree_checkout(odb, NULL, &v1, out, NULL, NULL), 0);
	fx_random(buf, n, 2024); /* the original bytes again */
	assert_true(fx_file_is(out, buf, n));
	free(buf);
	unlink(in);
	unlink(out);
}

/* ---- trees ---------------------------------------------------------------- */

struct expect {
	const char *path;
	char type; /* 'f' file, 'x' executable, 'l' link, 'd' directory */
	const char *content; /* file content or link target */
};

static const struct expect tree_files[] = {
	{ "a.txt", 'f', "top\n" },
	{ "a/b/c/deep.txt", 'f', "deep\n" },
	{ "dangling", 'l', "nowhere/x" },
	{ "dirlink", 'l', "a" },
	{ "donn\xc3\xa9" "es \xc3\xa9t\xc3\xa9.csv", 'f', "x,y\n1,2\n" },
	{ "empty.txt", 'f', "" },
	{ "line\nbreak.txt", 'f', "nl\n" },
	{ "name with spaces.txt", 'f', "spaces\n" },
	{ "passwd-link", 'l', "/etc/passwd" },
	{ "quo\"te\\back.txt", 'f', "q\n" },
	{ "rel-link", 'l', "a/b/c/deep.txt" },
	{ "run.sh", 'x', "#!/bin/sh\necho hi\n" },
	{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab.txt",
	  'f', "nihongo\n" },
	{ "\xff\xfe not utf-8", 'f', "latin1\n" },
};
#define NFILES (sizeof(tree_files) / sizeof(tree_files[0]))

/* Every path with trees, in byte order (what list with include_trees gives). */
static const char *const tree_all[] = {
	"", "a", "a.txt", "a/b", "a/b/c", "a/b/c/deep.txt", "big.bin", "dangling", "dirlink",
	"donn\xc3\xa9" "es \xc3\xa9t\xc3\xa9.csv", "empty.txt", "emptydir", "line\nbreak.txt",
	"name with spaces.txt", "passwd-link", "quo\"te\\back.txt", "rel-link", "run.sh",
	"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab.txt",
	"\xff\xfe not utf-8",
};
#define NALL (sizeof(tree_all) / sizeof(tree_all[0]))
#define BIG_SIZE (3u * 1024 * 1024 + 17)

static void make_tree(const char *dir, unsigned char *big)
{
	char p[PATH_MAX];
	for (size_t i = 0; i < NFILES; i++) {
		const struct expect *e = &tree_files[i];
		fx_path(p, sizeof(p), dir, e->path);
		if (e->type == 'l') {
			assert_int_equal(mlops_mkdir_p(dir), 0);
			assert_int_equal(symlink(e->content, p), 0);
		} else {
			fx_write_deep(p, e->content, strlen(e->content));
			if (e->type == 'x')
				assert_int_equal(chmod(p, 0755), 0);
		}
	}
	fx_write(fx_path(p, sizeof(p), dir, "big.bin"), big, BIG_SIZE);
	assert_int_equal(mkdir(fx_path(p, sizeof(p), dir, "emptydir"), 0777), 0);
}

static char *found[256];
static size_t nfound;
static size_t root_len;

static int collect_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	assert_true(nfound < 256);
	found[nfound++] = strdup(path[root_len] ? path + root_len + 1 : "");
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folder at dir holds exactly the expected tree. */
static void check_tree(const char *dir, const unsigned char *big)
{
	char p[PATH_MAX], target[PATH_MAX];
	struct stat st;
	nfound = 0;
	root_len = strlen(dir);
	assert_int_equal(nftw(dir, collect_cb, 16, FTW_PHYS), 0);
	qsort(found, nfound, sizeof(*found), cmp_str);
	assert_int_equal(nfound, NALL);
	for (size_t i = 0; i < nfound; i++) {
		assert_string_equal(found[i], tree_all[i]);
		free(found[i]);
	}
	for (size_t i = 0; i < NFILES; i++) {
		const struct expect *e = &tree_files[i];
		fx_path(p, sizeof(p), dir, e->path);
		assert_int_equal(lstat(p, &st), 0);
		if (e->type == 'l') {
			assert_true(S_ISLNK(st.st_mode));
			ssize_t n = readlink(p, target, sizeof(target));
			assert_int_equal(n, strlen(e->content));
			assert_memory_equal(target, e->content, (size_t)n);
			continue;
		}
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal((st.st_mode & 0100) != 0, e->type == 'x');
		assert_true(fx_file_is(p, e->content, strlen(e->content)));
	}
	assert_true(fx_file_is(fx_path(p, sizeof(p), dir, "big.bin"), big, BIG_SIZE));
	assert_int_equal(lstat(fx_path(p, sizeof(p), dir, "emptydir"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

static const struct mlops_tree_file *find_file(const struct mlops_tree_list *l, const char *path)
{
	for (size_t i = 0; i < l->count; i++)
		if (!strcmp(l->files[i].path, path))
			return &l->files[i];
	return NULL;
}

static void test_tree_roundtrip(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	unsigned char *big = malloc(BIG_SIZE);
	char src[PATH_MAX], dst[PATH_MAX], p[PATH_MAX];
	assert_non_null(big);
	fx_random(big, BIG_SIZE, 5);
	fx_path(src, sizeof(src), fx->work, "tree");
	fx_path(dst, sizeof(dst), fx->scratch, "out/tree");
	make_tree(src, big);
	check_tree(src, big); /* the expectations describe the source */

	struct mlops_node root;
	struct mlops_ingest_stats stats;
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(mlops_tree_store(&root, odb, NULL, src, "tree", &stats), 0);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_int_equal(root.kind, MLOPS_KIND_TREE);
	assert_int_equal(root.mode, 040000);
	assert_int_equal(root.files, NFILES + 1);
	uint64_t total = BIG_SIZE;
	for (size_t i = 0; i < NFILES; i++)
		total += strlen(tree_files[i].content);
	assert_int_equal(root.size, total);
	assert_int_equal(stats.files, NFILES + 1);
	assert_int_equal(stats.bytes, total);

	/* Listing: every file and link, in path order. */
	struct mlops_tree_list list;
	assert_int_equal(mlops_tree_list(&list, odb, &root, 0), 0);
	assert_int_equal(list.count, NFILES + 1);
	size_t k = 0;
	for (size_t i = 0; i < NALL; i++) {
		const char *path = tree_all[i];
		int is_dir = !*path || !strcmp(path, "a") || !strcmp(path, "a/b") ||
			     !strcmp(path, "a/b/c") || !strcmp(path, "emptydir") ||
			     !strcmp(path, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
		if (!is_dir)
			assert_string_equal(list.files[k++].path, path);
	}
	/* Links are links: their object is the target text, never the target. */
	const struct mlops_tree_file *f = find_file(&list, "passwd-link");
	assert_non_null(f);
	assert_int_equal(f->node.kind, MLOPS_KIND_LINK);
	assert_int_equal(f->node.mode, 0120000);
	assert_int_equal(f->node.size, 11);
	void *data;
	size_t len;
	assert_int_equal(mlops_odb_read(&data, &len, odb, &f->node.id), 0);
	assert_int_equal(len, 11);
	assert_memory_equal(data, "/etc/passwd", 11);
	free(data);
	f = find_file(&list, "dirlink");
	assert_int_equal(f->node.kind, MLOPS_KIND_LINK);
	f = find_file(&list, "empty.txt");
	assert_int_equal(f->node.kind, MLOPS_KIND_BLOB);
	assert_int_equal(f->node.size, 0);
	char hex[MLOPS_OID_HEXSZ + 1];
	assert_string_equal(mlops_oid_fmt(hex, &f->node.id), SHA256_EMPTY);
	f = find_file(&list, "run.sh");
	assert_int_equal(f->node.mode, 0755);
	f = find_file(&list, "a.txt");
	assert_int_equal(f->node.mode, 0644);
	f = find_file(&list, "big.bin");
	assert_int_equal(f->node.kind, MLOPS_KIND_CHUNKS);
	mlops_tree_list_free(&list);

	/* With trees: the root ("") and every directory too. */
	assert_int_equal(mlops_tree_list(&list, odb, &root, 1), 0);
	assert_int_equal(list.count, NALL);
	for (size_t i = 0; i < NALL; i++)
		assert_string_equal(list.files[i].path, tree_all[i]);
	assert_int_equal(find_file(&list, "emptydir")->node.kind, MLOPS_KIND_TREE);
	assert_int_equal(find_file(&list, "emptydir")->node.files, 0);
	assert_int_equal(find_file(&list, "a/b")->node.files, 1);
	mlops_tree_list_free(&list);

	/* Into a folder that does not exist yet. */
	assert_int_equal(mlops_mkdir_p(fx_path(p, sizeof(p), fx->scratch, "out")), 0);
	struct mlops_checkout_stats cs;
	memset(&cs, 0, sizeof(cs));
	assert_int_equal(mlops_tree_checkout(odb, NULL, &root, dst, NULL, &cs), 0);
	check_tree(dst, big);
	assert_int_equal(cs.files_written, NFILES + 1);
	assert_int_equal(cs.files_removed, 0);

	/* Mess it up, then check out again: back to exactly the tree. */
	fx_write_str(fx_path(p, sizeof(p), dst, "junk.txt"), "junk");
	fx_write_deep(fx_path(p, sizeof(p), dst, "a/b/extra/x.txt"), "x", 1);
	assert_int_equal(rmdir(fx_path(p, sizeof(p), dst, "emptydir")), 0);
	fx_write_str(p, "now a file");
	assert_int_equal(unlink(fx_path(p, sizeof(p), dst, "a.txt")), 0);
	fx_write_deep(fx_path(p, sizeof(p), dst, "a.txt/inner"), "in", 2);
	assert_int_equal(unlink(fx_path(p, sizeof(p), dst, "rel-link")), 0);
	fx_write_str(p, "not a link");
	assert_int_equal(chmod(fx_path(p, sizeof(p), dst, "run.sh"), 0644), 0);
	unsigned char *other = malloc(BIG_SIZE);
	assert_non_null(other);
	fx_random(other, BIG_SIZE, 6);
	fx_write(fx_path(p, sizeof(p), dst, "big.bin"), other, BIG_SIZE);
	free(other);
	/* A directory replaced by a link to elsewhere: never written through. */
	char outside[PATH_MAX];
	fx_path(outside, sizeof(outside), fx->scratch, "outside");
	assert_int_equal(mkdir(outside, 0777), 0);
	fx_path(p, sizeof(p), dst, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	assert_int_equal(fx_rm_rf(p), 0);
	assert_int_equal(symlink(outside, p), 0);
	memset(&cs, 0, sizeof(cs));
	assert_int_equal(mlops_tree_checkout(odb, NULL, &root, dst, NULL, &cs), 0);
	check_tree(dst, big);
	assert_int_equal(cs.files_removed, 3); /* junk.txt, a/b/extra/x.txt, a.txt/inner */
	assert_int_equal(fx_count_files(outside), 0);
	assert_int_equal(rmdir(outside), 0);

	/* Scan computes the same node without writing anything. */
	long before = count_objects(odb);
	struct mlops_node scanned;
	assert_int_equal(mlops_tree_scan(&scanned, odb, NULL, dst, NULL, NULL), 0);
	assert_int_equal(mlops_oid_cmp(&scanned.id, &root.id), 0);
	assert_int_equal(scanned.size, root.size);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_int_equal(count_objects(odb), before);
	free(big);
}

static int count_walk_cb(const mlops_oid *id, void *payload)
{
	(void)id;
	(*(long *)payload)++;
	return 0;
}

/* A link stored on its own, and a single file: list gives path "". */
static void test_single_link_and_file(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	char link[PATH_MAX], out[PATH_MAX], file[PATH_MAX], target[64];
	fx_path(link, sizeof(link), fx->scratch, "pw");
	fx_path(out, sizeof(out), fx->scratch, "pw.out");
	fx_path(file, sizeof(file), fx->scratch, "f.txt");
	assert_int_equal(symlink("/etc/passwd", link), 0);
	struct mlops_node node;
	assert_int_equal(mlops_tree_store(&node, odb, NULL, link, NULL, NULL), 0);
	assert_int_equal(node.kind, MLOPS_KIND_LINK);
	assert_int_equal(node.size, 11);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_int_equal(mlops_tree_checkout(odb, NULL, &node, out, NULL, NULL), 0);
	ssize_t n = readlink(out, target, sizeof(target));
	assert_int_equal(n, 11);
	assert_memory_equal(target, "/etc/passwd", 11);

	fx_write_str(file, "abc");
	assert_int_equal(mlops_tree_store(&node, odb, NULL, file, NULL, NULL), 0);
	char hex[MLOPS_OID_HEXSZ + 1];
	assert_string_equal(mlops_oid_fmt(hex, &node.id), SHA256_ABC);
	struct mlops_tree_list list;
	assert_int_equal(mlops_tree_list(&list, odb, &node, 0), 0);
	assert_int_equal(list.count, 1);
	assert_string_equal(list.files[0].path, "");
	mlops_tree_list_free(&list);
	long calls = 0;
	assert_int_equal(mlops_tree_walk_objects(odb, &node, count_walk_cb, &calls), 0);
	assert_int_equal(calls, 1);

	/* Neither file, link nor directory: refused, naming the path. */
	char dir[PATH_MAX];
	fx_path(dir, sizeof(dir), fx->scratch, "withfifo");
	assert_int_equal(mkdir(dir, 0777), 0);
	assert_int_equal(mkfifo(fx_path(file, sizeof(file), dir, "pipe"), 0644), 0);
	assert_int_equal(mlops_tree_store(&node, odb, NULL, dir, NULL, NULL), MLOPS_EINVALID);
	assert_non_null(strstr(mlops_error_message(), "pipe"));

	/* A path that does not exist. */
	fx_path(file, sizeof(file), fx->scratch, "missing");
	assert_int_equal(mlops_tree_store(&node, odb, NULL, file, NULL, NULL), MLOPS_ENOTFOUND);
	assert_non_null(strstr(mlops_error_message(), "missing"));
}

/* Node <-> JSON keeps every field. */
static void test_node_json(void **state)
{
	(void)state;
	struct mlops_node a = { .kind = MLOPS_KIND_CHUNKS, .size = 3221225472ull, .files = 1,
				.mode = 0755 }, b;
	mlops_hash_buf(&a.id, "abc", 3);
	cJSON *j = mlops_node_to_json(&a);
	assert_non_null(j);
	char *text;
	assert_int_equal(mlops_json_canonical(&text, j), 0);
	assert_string_equal(text, "{\"files\":1,\"id\":\"" SHA256_ABC "\",\"kind\":\"chunks\","
				  "\"mode\":\"100755\",\"size\":3221225472}");
	free(text);
	assert_int_equal(mlops_node_from_json(&b, j), 0);
	assert_int_equal(mlops_oid_cmp(&a.id, &b.id), 0);
	assert_int_equal(b.kind, a.kind);
	assert_int_equal(b.size, a.size);
	assert_int_equal(b.files, a.files);
	assert_int_equal(b.mode, a.mode);
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_json),
		cmocka_unit_test_setup_teardown(test_file_sizes_at_chunk_edges, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_identical_content_stored_once, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_tree_roundtrip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_single_link_and_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mid_file_edit_restores_little, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_sparse_same_id_as_dense, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sparse_3gib_roundtrip, fx_setup, fx_teardown),
	};
	fx_filter_from_env();
	return cmocka_run_group_tests_name("tree", tests, NULL, NULL);
}
