/*
 * test_odb.c - the object store: known ids, round trips at the chunk size
 * boundaries, codecs (same id, different file name), corruption detected
 * on read (truncation, bit flips at every byte), pending objects, sync on
 * free, foreach/remove, leftover temporary files, freshening for gc's grace
 * period, objects written in their stored form and adopted files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "store/chunk.h"

#include <time.h>
#include <zstd.h>

static struct mlops_odb *odb_of(void **state)
{
	return fx_of(state)->repo->odb;
}

/* Flip bit `bit` of the byte at `off` in a file (made writable first). */
static void flip_bit(const char *path, off_t off, int bit)
{
	unsigned char c;
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= (unsigned char)(1u << bit);
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void truncate_to(const char *path, off_t len)
{
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(truncate(path, len), 0);
	assert_int_equal(chmod(path, 0444), 0);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Store data with `codec`, sync, and return the object's path (caller frees). */
static char *store_with(mlops_oid *id, struct mlops_odb *odb, enum mlops_codec codec,
			const void *data, size_t len, enum mlops_codec *got)
{
	char *path = NULL;
	mlops_odb_set_codec(odb, codec, codec == MLOPS_CODEC_ZLIB ? 6 : 3);
	assert_int_equal(mlops_odb_write(id, odb, data, len, NULL), 0);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_int_equal(mlops_odb_locate(&path, got, odb, id), 0);
	return path;
}

static void expect_read(struct mlops_odb *odb, const mlops_oid *id, const void *data, size_t len)
{
	void *buf = NULL;
	size_t got = 0;
	assert_int_equal(mlops_odb_read(&buf, &got, odb, id), 0);
	assert_int_equal(got, len);
	assert_memory_equal(buf, data, len);
	assert_int_equal(((char *)buf)[len], '\0');
	free(buf);
}

static void expect_corrupt(struct mlops_odb *odb, const mlops_oid *id)
{
	void *buf = (void *)1;
	size_t len;
	assert_int_equal(mlops_odb_read(&buf, &len, odb, id), MLOPS_ECORRUPT);
	assert_null(buf);
	assert_non_null(strstr(mlops_error_message(), "corrupt"));
	assert_int_equal(mlops_odb_verify(odb, id), MLOPS_ECORRUPT);
}

/* ---- repository and ids ------------------------------------------------ */

static void test_init_layout_and_reinit(void **state)
{
	struct fixture *fx = fx_of(state);
	const char *parts[] = { ".git", ".mlops/objects", ".mlops/refs", ".mlops/logs",
				".mlops/tmp", ".mlops/config", ".mlops/.gitignore" };
	char p[PATH_MAX];
	struct stat st;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		assert_int_equal(stat(fx_path(p, sizeof(p), fx->work, parts[i]), &st), 0);

	struct mlops_repo *again = NULL;
	int created = -1;
	assert_int_equal(mlops_repo_init(&again, fx->work, &created), 0);
	assert_int_equal(created, 0);
	mlops_repo_free(again);

	/* A sub-directory opens the same repository. */
	fx_path(p, sizeof(p), fx->work, "sub/dir");
	assert_int_equal(mlops_mkdir_p(p), 0);
	assert_int_equal(mlops_repo_open(&again, p), 0);
	assert_string_equal(again->workdir, fx->repo->workdir);
	mlops_repo_free(again);

	assert_int_equal(mlops_repo_open(&again, fx->scratch), MLOPS_ENOREPO);
	assert_null(again);
}

static void test_known_ids(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	mlops_oid id;
	char hex[MLOPS_OID_HEXSZ + 1];

	assert_int_equal(mlops_odb_write(&id, odb, "", 0, NULL), 0);
	assert_string_equal(mlops_oid_fmt(hex, &id), SHA256_EMPTY);
	assert_int_equal(mlops_odb_write(&id, odb, "abc", 3, NULL), 0);
	assert_string_equal(mlops_oid_fmt(hex, &id), SHA256_ABC);
	assert_int_equal(mlops_odb_sync(odb), 0);

	/* objects/ba/7816bf... holding exactly "abc" (too small to compress). */
	char p[PATH_MAX];
	fx_fmt(p, "%s/.mlops/objects/ba/%s", fx_of(state)->work, SHA256_ABC + 2);
	assert_true(fx_file_is(p, "abc", 3));
	assert_int_equal(file_size(p), 3);
	expect_read(odb, &id, "abc", 3);

	mlops_oid empty;
	assert_int_equal(mlops_oid_parse(&empty, SHA256_EMPTY), 0);
	expect_read(odb, &empty, "", 0);

	/* An id never written. */
	mlops_oid absent;
	void *buf = NULL;
	size_t len;
	assert_int_equal(mlops_oid_parse(&absent, SHA256_EMPTY), 0);
	absent.id[31] ^= 1;
	assert_int_equal(mlops_odb_exists(odb, &absent), 0);
	assert_int_equal(mlops_odb_read(&buf, &len, odb, &absent), MLOPS_ENOTFOUND);
	assert_int_equal(mlops_odb_verify(odb, &absent), MLOPS_ENOTFOUND);
}

/* Sizes at the chunker's edges, incompressible and compressible. */
static void test_roundtrip_sizes(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	const size_t sizes[] = { 0, 1, 6, MLOPS_CHUNK_MIN, MLOPS_CHUNK_MIN + 1, MLOPS_CHUNK_MAX,
				 MLOPS_CHUNK_MAX + 1 };
	unsigned char *buf = malloc(MLOPS_CHUNK_MAX + 1);
	assert_non_null(buf);
	for (int kind = 0; kind < 2; kind++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t n = sizes[i];
			mlops_oid id, check;
			if (kind == 1 && n == 0)
				continue; /* the same object as above */
			uint64_t stored = 99;
			if (kind == 0)
				fx_random(buf, n, 1000 + i);
			else
				fx_text(buf, n, (unsigned)i);
			assert_int_equal(mlops_odb_write(&id, odb, buf, n, &stored), 0);
			mlops_hash_buf(&check, buf, n);
			assert_int_equal(mlops_oid_cmp(&id, &check), 0);
			/* Pending: present and readable, not yet locatable. */
			assert_int_equal(mlops_odb_exists(odb, &id), 1);
			expect_read(odb, &id, buf, n);
			char *path = NULL;
			enum mlops_codec codec;
			assert_int_equal(mlops_odb_locate(&path, &codec, odb, &id), MLOPS_ENOTFOUND);
			assert_int_equal(mlops_odb_sync(odb), 0);
			assert_int_equal(mlops_odb_locate(&path, &codec, odb, &id), 0);
			/* stored = the bytes of the file on disk */
			assert_int_equal(stored, file_size(path));
			if (kind == 0 || n < 512)
				assert_int_equal(codec, MLOPS_CODEC_NONE);
			else
				assert_int_equal(codec, MLOPS_CODEC_ZSTD);
			free(path);
			expect_read(odb, &id, buf, n);
			assert_int_equal(mlops_odb_verify(odb, &id), 0);
			/* Writing it again stores nothing. */
			assert_int_equal(mlops_odb_write(&id, odb, buf, n, &stored), 0);
			assert_int_equal(stored, 0);
		}
	}
	free(buf);
}

/* Objects larger than the first decompression buffer (big records). */
static void test_large_compressed_roundtrip(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	const size_t n = 40u << 20;
	char *text = malloc(n);
	assert_non_null(text);
	fx_text(text, n, 12);
	for (int c = MLOPS_CODEC_ZSTD; c <= MLOPS_CODEC_ZLIB; c++) {
		mlops_oid id;
		enum mlops_codec got;
		char *path = store_with(&id, odb, (enum mlops_codec)c, text, n, &got);
		assert_int_equal(got, c);
		assert_true(file_size(path) < (off_t)n / 4);
		expect_read(odb, &id, text, n);
		assert_int_equal(mlops_odb_remove(odb, &id), 0);
		free(path);
	}
	free(text);
}

/* ---- codecs --------------------------------------------------------------- */

static void test_codec_switch_keeps_id(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	const size_t n = 200000;
	char *text = malloc(n);
	assert_non_null(text);
	fx_text(text, n, 7);

	static const struct {
		enum mlops_codec codec;
		const char *suffix;
	} cases[] = { { MLOPS_CODEC_ZSTD, ".zst" }, { MLOPS_CODEC_ZLIB, ".zz" },
		      { MLOPS_CODEC_NONE, "" } };
	mlops_oid first;
	char hex[MLOPS_OID_HEXSZ + 1], want[PATH_MAX];
	for (size_t i = 0; i < 3; i++) {
		mlops_oid id;
		enum mlops_codec got;
		char *path = store_with(&id, odb, cases[i].codec, text, n, &got);
		if (i == 0)
			first = id;
		assert_int_equal(mlops_oid_cmp(&id, &first), 0);
		assert_int_equal(got, cases[i].codec);
		mlops_oid_fmt(hex, &id);
		fx_fmt(want, "%s/.mlops/objects/%.2s/%s%s", fx->work, hex, hex + 2,
			 cases[i].suffix);
		assert_string_equal(path, want);
		/* Compressed forms are smaller; the raw form is the content. */
		if (cases[i].codec == MLOPS_CODEC_NONE)
			assert_true(fx_file_is(path, text, n));
		else
			assert_true(file_size(path) < (off_t)n / 2);
		/* Objects are read-only. */
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0222, 0);
		expect_read(odb, &id, text, n);
		assert_int_equal(mlops_odb_verify(odb, &id), 0);
		assert_int_equal(mlops_odb_remove(odb, &id), 0);
		assert_int_equal(mlops_odb_exists(odb, &id), 0);
		free(path);
	}
	free(text);
}

static void test_incompressible_stays_raw(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	const size_t n = 65536;
	unsigned char *buf = malloc(n);
	assert_non_null(buf);
	fx_random(buf, n, 42);
	for (int c = MLOPS_CODEC_ZSTD; c <= MLOPS_CODEC_ZLIB; c++) {
		mlops_oid id;
		enum mlops_codec got;
		char *path = store_with(&id, odb, (enum mlops_codec)c, buf, n, &got);
		assert_int_equal(got, MLOPS_CODEC_NONE);
		assert_true(fx_file_is(path, buf, n));
		assert_int_equal(mlops_odb_remove(odb, &id), 0);
		free(path);
	}
	free(buf);
}

/* ---- corruption ----------------------------------------------------------- */

static void test_truncated_detected(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	const size_t n = 65536;
	char *text = malloc(n);
	assert_non_null(text);
	fx_text(text, n, 3);
	for (int c = 0; c < 3; c++) {
		mlops_oid id;
		enum mlops_codec got;
		char *path = store_with(&id, odb, (enum mlops_codec)c, text, n, &got);
		assert_int_equal(got, c);
		off_t full = file_size(path);
		const off_t cuts[] = { full - 1, full / 2, 1, 0 };
		for (size_t k = 0; k < 4; k++) {
			truncate_to(path, cuts[k]);
			expect_corrupt(odb, &id);
		}
		/* copy_to_fd refuses too (raw: by size; compressed: by hash). */
		int fd = open(fx_of(state)->scratch, O_TMPFILE | O_RDWR, 0600);
		assert_true(fd >= 0);
		assert_int_equal(mlops_odb_copy_to_fd(odb, &id, fd, 0, n), MLOPS_ECORRUPT);
		close(fd);
		assert_int_equal(mlops_odb_remove(odb, &id), 0);
		free(path);
	}
	free(text);
}

static void test_bitflip_middle_detected(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	const size_t n = 300000;
	char *text = malloc(n);
	assert_non_null(text);
	fx_text(text, n, 11);
	for (int c = 0; c < 3; c++) {
		mlops_oid id;
		enum mlops_codec got;
		char *path = store_with(&id, odb, (enum mlops_codec)c, text, n, &got);
		assert_int_equal(got, c);
		off_t mid = file_size(path) / 2;
		assert_int_equal(chmod(path, 0644), 0);
		flip_bit(path, mid, 3);
		expect_corrupt(odb, &id);
		char *p2 = NULL;
		assert_int_equal(mlops_odb_locate(&p2, &got, odb, &id), 0);
		free(p2);
		if (c != MLOPS_CODEC_NONE) {
			int fd = open(fx_of(state)->scratch, O_TMPFILE | O_RDWR, 0600);
			assert_true(fd >= 0);
			assert_int_equal(mlops_odb_copy_to_fd(odb, &id, fd, 0, n), MLOPS_ECORRUPT);
			close(fd);
		}
		/* Flipping it back makes it whole again. */
		flip_bit(path, mid, 3);
		assert_int_equal(mlops_odb_verify(odb, &id), 0);
		assert_int_equal(mlops_odb_remove(odb, &id), 0);
		free(path);
	}
	free(text);
}

/*
 * One bit flipped at every byte of an object: a read either fails with
 * MLOPS_ECORRUPT or (for a compressed object whose flip lands in bits the
 * decoder ignores) returns exactly the original content; never other bytes.
 * Raw objects: every flip is caught (every 7th byte is tried).
 */
static void test_bitflip_every_byte(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	const size_t n = 6000;
	char *text = malloc(n);
	assert_non_null(text);
	fx_text(text, n, 5);
	for (int c = 0; c < 3; c++) {
		mlops_oid id;
		enum mlops_codec got;
		char *path = store_with(&id, odb, (enum mlops_codec)c, text, n, &got);
		assert_int_equal(got, c);
		off_t size = file_size(path), step = c == MLOPS_CODEC_NONE ? 7 : 1;
		long caught = 0, harmless = 0;
		assert_int_equal(chmod(path, 0644), 0);
		for (off_t off = 0; off < size; off += step) {
			flip_bit(path, off, (int)(off % 8));
			void *buf = NULL;
			size_t len = 0;
			int rc = mlops_odb_read(&buf, &len, odb, &id);
			if (rc == MLOPS_ECORRUPT) {
				caught++;
			} else {
				assert_int_equal(rc, 0);
				assert_int_equal(len, n);
				assert_memory_equal(buf, text, n);
				free(buf);
				harmless++;
			}
			flip_bit(path, off, (int)(off % 8));
		}
		if (c == MLOPS_CODEC_NONE)
			assert_int_equal(harmless, 0);
		assert_true(caught >= (size + step - 1) / step - 8);
		print_message("codec %d: %ld-byte object, %ld flips caught, %ld harmless\n", c,
			      (long)size, caught, harmless);
		assert_int_equal(mlops_odb_remove(odb, &id), 0);
		free(path);
	}
	free(text);
}

/*
 * A compressed object whose header claims 100 GB: the header is not
 * trusted for an allocation; the object is corrupt (not "out of memory").
 */
static void test_zstd_header_lies_about_size(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	const size_t n = 65536;
	char *text = malloc(n);
	assert_non_null(text);
	fx_text(text, n, 8);
	mlops_oid id;
	enum mlops_codec got;
	char *path = store_with(&id, odb, MLOPS_CODEC_ZSTD, text, n, &got);
	assert_int_equal(got, MLOPS_CODEC_ZSTD);
	char *raw;
	size_t len;
	assert_int_equal(mlops_read_file(&raw, &len, path), 0);
	/* Frame header (RFC 8878 3.1.1.1): magic, descriptor, [window], [dict id], [size]. */
	unsigned char *u = (unsigned char *)raw, fhd = u[4];
	static const size_t did_size[] = { 0, 1, 2, 4 };
	int single = (fhd >> 5) & 1;
	size_t fcs_size = (fhd >> 6) == 0 ? (size_t)single : (size_t)1 << (fhd >> 6);
	size_t did = did_size[fhd & 3], hdr = 5 + (single ? 0 : 1) + did + fcs_size;
	assert_true(len > hdr);
	unsigned char *forged = malloc(len + 16);
	assert_non_null(forged);
	memcpy(forged, u, 4);
	forged[4] = (unsigned char)(3u << 6 | 1u << 5 | (fhd & 0x07)); /* 8-byte size, one segment */
	memcpy(forged + 5, u + 5 + (single ? 0 : 1), did);
	uint64_t claim = 100ull * 1000 * 1000 * 1000;
	for (int i = 0; i < 8; i++)
		forged[5 + did + (size_t)i] = (unsigned char)(claim >> (8 * i));
	size_t flen = 5 + did + 8;
	memcpy(forged + flen, u + hdr, len - hdr);
	flen += len - hdr;
	assert_int_equal(chmod(path, 0644), 0);
	fx_write(path, forged, flen);
	expect_corrupt(odb, &id);
	free(forged);
	free(raw);
	free(path);
	free(text);
}

/* ---- pending objects, sync, foreach -------------------------------------- */

static int count_cb(const mlops_oid *id, enum mlops_codec codec, uint64_t size, void *payload)
{
	long *counts = payload;
	(void)id;
	(void)size;
	counts[codec]++;
	return 0;
}

/* Delimited text is laid out by column (codec zcol) and reads back exactly. */
static void test_csv_laid_out_by_column(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	const size_t n = 300000;
	char *csv = malloc(n), *text = malloc(n), hex[MLOPS_OID_HEXSZ + 1], want[PATH_MAX];
	assert_non_null(csv);
	assert_non_null(text);
	fx_csv(csv, n, 5);
	fx_text(text, n, 5); /* the same lines with spaces: plain zstd */
	mlops_oid id, tid;
	enum mlops_codec got;
	char *path = store_with(&id, odb, MLOPS_CODEC_ZSTD, csv, n, &got);
	assert_int_equal(got, MLOPS_CODEC_ZCOL);
	mlops_oid_fmt(hex, &id);
	fx_fmt(want, "%s/.mlops/objects/%.2s/%s.zcol", fx->work, hex, hex + 2);
	assert_string_equal(path, want);
	char *tpath = store_with(&tid, odb, MLOPS_CODEC_ZSTD, text, n, &got);
	assert_int_equal(got, MLOPS_CODEC_ZSTD);
	/* Column by column stores less than the same values row by row. */
	assert_true(file_size(path) < file_size(tpath));
	expect_read(odb, &id, csv, n);
	assert_int_equal(mlops_odb_verify(odb, &id), 0);
	/* Listed with its codec. */
	long counts[MLOPS_CODEC_COUNT] = { 0 };
	assert_int_equal(mlops_odb_foreach(odb, count_cb, counts), 0);
	assert_int_equal(counts[MLOPS_CODEC_ZCOL], 1);
	/* A flipped bit anywhere is caught (by zstd, the layout or the hash). */
	off_t size = file_size(path);
	assert_int_equal(chmod(path, 0644), 0);
	for (off_t off = 0; off < size; off += size / 37 + 1) {
		flip_bit(path, off, (int)(off % 8));
		void *buf = (void *)1;
		size_t len;
		assert_int_equal(mlops_odb_read(&buf, &len, odb, &id), MLOPS_ECORRUPT);
		assert_null(buf);
		flip_bit(path, off, (int)(off % 8));
	}
	expect_read(odb, &id, csv, n);
	/* Only with zstd: zlib compresses the rows as they are. */
	assert_int_equal(mlops_odb_remove(odb, &id), 0);
	free(path);
	path = store_with(&id, odb, MLOPS_CODEC_ZLIB, csv, n, &got);
	assert_int_equal(got, MLOPS_CODEC_ZLIB);
	expect_read(odb, &id, csv, n);
	free(path);
	free(tpath);
	free(csv);
	free(text);
}

static void test_free_syncs_pending(void **state)
{
	struct fixture *fx = fx_of(state);
	char objects[PATH_MAX];
	struct mlops_odb *odb;
	mlops_oid a, b;
	fx_path(objects, sizeof(objects), fx->work, ".mlops/objects");
	assert_int_equal(mlops_odb_open(&odb, objects, fx->repo->tmpdir), 0);
	assert_int_equal(mlops_odb_write(&a, odb, "abc", 3, NULL), 0);
	char *text = malloc(10000);
	assert_non_null(text);
	fx_text(text, 10000, 1);
	assert_int_equal(mlops_odb_write(&b, odb, text, 10000, NULL), 0);
	/* The repository's own odb does not see another odb's pending objects. */
	assert_int_equal(mlops_odb_exists(fx->repo->odb, &a), 0);
	mlops_odb_free(odb);
	assert_int_equal(mlops_odb_exists(fx->repo->odb, &a), 1);
	expect_read(fx->repo->odb, &b, text, 10000);
	free(text);

	long counts[MLOPS_CODEC_COUNT] = { 0 };
	assert_int_equal(mlops_odb_foreach(fx->repo->odb, count_cb, counts), 0);
	assert_int_equal(counts[MLOPS_CODEC_NONE], 1);
	assert_int_equal(counts[MLOPS_CODEC_ZSTD], 1);
	assert_int_equal(counts[MLOPS_CODEC_ZLIB], 0);
	/* Nothing is left in tmp/. */
	assert_int_equal(fx_count_files(fx->repo->tmpdir), 0);
}

static void test_many_pending_one_batch(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	char buf[32];
	mlops_oid ids[700];
	/* More than the temp-file registry and the first hash-set size hold. */
	for (int i = 0; i < 700; i++) {
		int l = snprintf(buf, sizeof(buf), "object %d", i);
		assert_int_equal(mlops_odb_write(&ids[i], odb, buf, (size_t)l, NULL), 0);
	}
	for (int i = 0; i < 700; i += 7)
		assert_int_equal(mlops_odb_exists(odb, &ids[i]), 1);
	assert_int_equal(mlops_odb_sync(odb), 0);
	/* The first 256 in files of their own, the rest in one pack and its index. */
	char objects[PATH_MAX];
	assert_int_equal(fx_count_files(fx_path(objects, sizeof(objects), fx->work,
						".mlops/objects")), 256 + 2);
	assert_int_equal(fx_count_files(fx_path(objects, sizeof(objects), fx->work,
						".mlops/objects/pack")), 2);
	for (int i = 0; i < 700; i += 13) {
		int l = snprintf(buf, sizeof(buf), "object %d", i);
		expect_read(odb, &ids[i], buf, (size_t)l);
	}
}

/* ---- leftover temporary files -------------------------------------------- */

static void test_leftover_tmp_ignored_and_cleaned(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	char old[PATH_MAX], fresh[PATH_MAX], sub[PATH_MAX];
	/* What a crash between write and sync leaves: the object's bytes in tmp/. */
	fx_path(old, sizeof(old), fx->repo->tmpdir, "obj-Ab12Cd");
	fx_path(fresh, sizeof(fresh), fx->repo->tmpdir, "obj-Zz99Yy");
	fx_path(sub, sizeof(sub), fx->repo->tmpdir, "somedir");
	fx_write_str(old, "abc");
	fx_write_str(fresh, "half-writ");
	assert_int_equal(mkdir(sub, 0777), 0);
	fx_age(old, 7200);

	mlops_oid id;
	assert_int_equal(mlops_oid_parse(&id, SHA256_ABC), 0);
	assert_int_equal(mlops_odb_exists(odb, &id), 0);
	long counts[MLOPS_CODEC_COUNT] = { 0 };
	assert_int_equal(mlops_odb_foreach(odb, count_cb, counts), 0);
	assert_int_equal(counts[0] + counts[1] + counts[2], 0);

	/* Writing the object anew works despite the leftover. */
	mlops_oid got;
	assert_int_equal(mlops_odb_write(&got, odb, "abc", 3, NULL), 0);
	assert_int_equal(mlops_odb_sync(odb), 0);
	expect_read(odb, &id, "abc", 3);

	/* Only the old regular file goes. */
	assert_int_equal(mlops_odb_clean_tmp(odb, 3600), 1);
	struct stat st;
	assert_int_equal(stat(old, &st), -1);
	assert_int_equal(stat(fresh, &st), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(mlops_odb_clean_tmp(odb, 3600), 0);
	assert_int_equal(mlops_odb_clean_tmp(odb, 0), 1);
	assert_int_equal(stat(fresh, &st), -1);
	expect_read(odb, &id, "abc", 3);
}

static time_t mtime_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mtime;
}

static void test_freshen_refreshes_existing_objects(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	mlops_oid id, other;
	enum mlops_codec codec;
	uint64_t stored = 99;
	char *path = store_with(&id, odb, MLOPS_CODEC_NONE, "abc", 3, &codec);
	fx_age(path, 3 * 86400);
	assert_true(mtime_of(path) < time(NULL) - 86400);
	assert_int_equal(mlops_odb_freshen(odb, &id), 1);
	assert_true(mtime_of(path) >= time(NULL) - 5);

	/* A write that finds the object stored freshens it too. */
	fx_age(path, 3 * 86400);
	assert_int_equal(mlops_odb_write(&id, odb, "abc", 3, &stored), 0);
	assert_int_equal(stored, 0);
	assert_true(mtime_of(path) >= time(NULL) - 5);

	/* Absent: 0, and nothing is created. */
	mlops_hash_buf(&other, "abd", 3);
	assert_int_equal(mlops_odb_freshen(odb, &other), 0);
	assert_int_equal(mlops_odb_exists(odb, &other), 0);
	/* Pending: present. */
	assert_int_equal(mlops_odb_write(&other, odb, "abd", 3, NULL), 0);
	assert_int_equal(mlops_odb_freshen(odb, &other), 1);
	free(path);
}

static void test_write_stored_keeps_the_stored_form(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	char plain[20000], comp[25000];
	mlops_oid id;
	enum mlops_codec codec;
	char *path = NULL;
	uint64_t stored = 0;
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (char)('a' + i % 7);
	size_t clen = ZSTD_compress(comp, sizeof(comp), plain, sizeof(plain), 19);
	assert_false(ZSTD_isError(clen));
	mlops_hash_buf(&id, plain, sizeof(plain));
	/* The store would pick level 3 and raw for NONE: the bytes given are kept as they are. */
	mlops_odb_set_codec(odb, MLOPS_CODEC_NONE, 0);
	assert_int_equal(mlops_odb_write_stored(odb, &id, MLOPS_CODEC_ZSTD, comp, clen, &stored), 0);
	assert_int_equal(stored, clen);
	assert_int_equal(mlops_odb_exists(odb, &id), 1);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_int_equal(mlops_odb_locate(&path, &codec, odb, &id), 0);
	assert_int_equal(codec, MLOPS_CODEC_ZSTD);
	assert_int_equal(file_size(path), (off_t)clen);
	expect_read(odb, &id, plain, sizeof(plain));
	free(path);
}

static void test_adopt_moves_the_file(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	char tmp[PATH_MAX], dup[PATH_MAX], *path = NULL;
	const char *text = "adopted bytes\n";
	mlops_oid id;
	enum mlops_codec codec;
	struct stat st;
	fx_path(tmp, sizeof(tmp), fx->repo->tmpdir, "fetch-a");
	fx_path(dup, sizeof(dup), fx->repo->tmpdir, "fetch-b");
	fx_write_str(tmp, text);
	fx_write_str(dup, text);
	assert_int_equal(stat(tmp, &st), 0);
	ino_t ino = st.st_ino;
	mlops_hash_buf(&id, text, strlen(text));
	assert_int_equal(mlops_odb_adopt(odb, &id, MLOPS_CODEC_NONE, tmp), 0);
	assert_int_equal(mlops_odb_exists(odb, &id), 1);
	/* A second copy of a pending object is removed at once. */
	assert_int_equal(mlops_odb_adopt(odb, &id, MLOPS_CODEC_NONE, dup), 0);
	assert_int_equal(stat(dup, &st), -1);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_int_equal(stat(tmp, &st), -1);
	assert_int_equal(mlops_odb_locate(&path, &codec, odb, &id), 0);
	assert_int_equal(codec, MLOPS_CODEC_NONE);
	/* The same file, renamed: its bytes were not copied. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_ino, ino);
	assert_int_equal(st.st_mode & 0222, 0);
	expect_read(odb, &id, text, strlen(text));
	free(path);
}

static void test_copy_trusts_only_its_own_writes(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state), *other = NULL;
	char buf[300000], out[PATH_MAX], *got = NULL;
	mlops_oid id;
	enum mlops_codec codec;
	size_t glen;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 2654435761u >> 13);
	char *path = store_with(&id, odb, MLOPS_CODEC_NONE, buf, sizeof(buf), &codec);
	assert_int_equal(codec, MLOPS_CODEC_NONE);
	fx_path(out, sizeof(out), fx->work, "out.bin");
	int fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	/* Written by this handle: copied as it is. */
	assert_int_equal(mlops_odb_copy_to_fd(odb, &id, fd, 0, sizeof(buf)), 0);
	assert_int_equal(mlops_read_file(&got, &glen, out), 0);
	assert_int_equal(glen, sizeof(buf));
	assert_memory_equal(got, buf, sizeof(buf));
	free(got);
	/* The size is still checked. */
	assert_int_equal(mlops_odb_copy_to_fd(odb, &id, fd, 0, sizeof(buf) - 1), MLOPS_ECORRUPT);
	/* Another handle (another process) hashes: a flipped bit is refused. */
	assert_int_equal(chmod(path, 0644), 0);
	flip_bit(path, 150000, 3);
	char objects[PATH_MAX];
	fx_path(objects, sizeof(objects), fx->repo->dir, "objects");
	assert_int_equal(mlops_odb_open(&other, objects, fx->repo->tmpdir), 0);
	assert_int_equal(mlops_odb_copy_to_fd(other, &id, fd, 0, sizeof(buf)), MLOPS_ECORRUPT);
	mlops_odb_free(other);
	close(fd);
	free(path);
}

/* Ids parse from 64 hex digits of either case; anything else is refused, leaving out alone. */
static void test_oid_parse(void **state)
{
	(void)state;
	char hex[MLOPS_OID_HEXSZ + 1], bad[MLOPS_OID_HEXSZ + 2];
	mlops_oid id, back;
	for (size_t i = 0; i < MLOPS_OID_RAWSZ; i++)
		id.id[i] = (unsigned char)(i * 37 + 5);
	id.id[0] = 0x00;
	id.id[1] = 0xff;
	id.id[2] = 0x9a;
	mlops_oid_fmt(hex, &id);
	assert_int_equal(mlops_oid_parse(&back, hex), 0);
	assert_memory_equal(back.id, id.id, MLOPS_OID_RAWSZ);
	for (char *c = hex; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	assert_int_equal(mlops_oid_parse(&back, hex), 0);
	assert_memory_equal(back.id, id.id, MLOPS_OID_RAWSZ);
	/* Each place, each kind of wrong byte: the digits' neighbours, and bytes above 127. */
	const char wrong[] = { '/', ':', '@', 'G', '`', 'g', ' ', (char)0xb0, (char)0xe1 };
	for (size_t pos = 0; pos < MLOPS_OID_HEXSZ; pos++) {
		for (size_t w = 0; w < sizeof(wrong); w++) {
			memcpy(bad, hex, sizeof(hex));
			bad[pos] = wrong[w];
			memset(back.id, 0x5a, sizeof(back.id));
			assert_int_equal(mlops_oid_parse(&back, bad), MLOPS_EINVALID);
			for (size_t i = 0; i < MLOPS_OID_RAWSZ; i++)
				assert_int_equal(back.id[i], 0x5a);
		}
	}
	mlops_error_clear();
	memcpy(bad, hex, sizeof(hex));
	bad[63] = '\0';
	assert_int_equal(mlops_oid_parse(&back, bad), MLOPS_EINVALID);
	memcpy(bad, hex, sizeof(hex));
	bad[64] = '0';
	bad[65] = '\0';
	assert_int_equal(mlops_oid_parse(&back, bad), MLOPS_EINVALID);
	assert_int_equal(mlops_oid_parse(&back, NULL), MLOPS_EINVALID);
	mlops_error_clear();
}

/* Ids as records print them: the 64 lowercase digits and nothing else. */
static void test_oid_parse_printed(void **state)
{
	(void)state;
	char hex[MLOPS_OID_HEXSZ + 1], bad[MLOPS_OID_HEXSZ + 2];
	mlops_oid id, back;
	for (size_t i = 0; i < MLOPS_OID_RAWSZ; i++)
		id.id[i] = (unsigned char)(i * 53 + 11);
	id.id[0] = 0xab;
	id.id[31] = 0xf0;
	mlops_oid_fmt(hex, &id);
	mlops_error_clear();
	assert_int_equal(mlops_oid_parse_printed(&back, hex), 1);
	assert_memory_equal(back.id, id.id, MLOPS_OID_RAWSZ);
	/* Each place: an uppercase digit, the digits' neighbours, a byte above 127, the end. */
	const char wrong[] = { 'A', 'F', '/', ':', '`', 'g', ' ', (char)0xe1, '\0' };
	for (size_t pos = 0; pos < MLOPS_OID_HEXSZ; pos++) {
		for (size_t w = 0; w < sizeof(wrong); w++) {
			memcpy(bad, hex, sizeof(hex));
			bad[pos] = wrong[w];
			memset(back.id, 0x5a, sizeof(back.id));
			assert_int_equal(mlops_oid_parse_printed(&back, bad), 0);
			for (size_t i = 0; i < MLOPS_OID_RAWSZ; i++)
				assert_int_equal(back.id[i], 0x5a);
		}
	}
	memcpy(bad, hex, sizeof(hex));
	bad[64] = 'a';
	bad[65] = '\0';
	assert_int_equal(mlops_oid_parse_printed(&back, bad), 0);
	assert_int_equal(mlops_oid_parse_printed(&back, ""), 0);
	/* Refusing is not an error: scanning text meets far more strings than ids. */
	assert_int_equal(mlops_error_code(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oid_parse),
		cmocka_unit_test(test_oid_parse_printed),
		cmocka_unit_test_setup_teardown(test_init_layout_and_reinit, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_known_ids, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip_sizes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_large_compressed_roundtrip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_codec_switch_keeps_id, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_incompressible_stays_raw, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_detected, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bitflip_middle_detected, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bitflip_every_byte, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_zstd_header_lies_about_size, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_free_syncs_pending, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_many_pending_one_batch, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_csv_laid_out_by_column, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_freshen_refreshes_existing_objects, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_write_stored_keeps_the_stored_form, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_moves_the_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_copy_trusts_only_its_own_writes, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_leftover_tmp_ignored_and_cleaned, fx_setup,
						fx_teardown),
	};
	fx_filter_from_env();
	return cmocka_run_group_tests_name("odb", tests, NULL, NULL);
}
