/*
 * test_odb_pack.c - the local store's packs: objects written after
 * pack_after go into one pack per batch; they read back (pending, after
 * the sync, from another handle), are listed once, keep their stored
 * form, are verified (a flipped bit in a pack names the object; a
 * checkout trusts a sealed pack only while its file is unchanged), a
 * damaged index is reported, removal rewrites the pack, a pack without
 * its index is cleaned, and threads fill one pack together.  Readers wait
 * for objects a fetch is bringing (arrivals), and many ids are looked up
 * at once as one by one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "store/pack.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>

static struct mlops_odb *odb_of(void **state)
{
	return fx_of(state)->repo->odb;
}

/* A handle of its own on the fixture's store (another process, in effect). */
static struct mlops_odb *other_handle(struct fixture *fx)
{
	char objects[PATH_MAX];
	struct mlops_odb *odb = NULL;
	fx_path(objects, sizeof(objects), fx->repo->dir, "objects");
	assert_int_equal(mlops_odb_open(&odb, objects, fx->repo->tmpdir), 0);
	return odb;
}

/* The object's text: compressible for even i, random bytes for odd i. */
static size_t object_text(char *buf, size_t cap, int i)
{
	if (i % 2) {
		size_t n = 600 + (size_t)i * 37 % 3000;
		assert_true(n <= cap);
		fx_random(buf, n, (uint64_t)i + 1);
		return n;
	}
	int n = snprintf(buf, cap, "object %d ", i);
	while ((size_t)n + 10 < cap && n < 2000)
		n += snprintf(buf + n, cap - (size_t)n, "line %d\n", n);
	return (size_t)n;
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

/* The single pack's path with extension ext ("pack" or "idx"). */
static void only_pack(struct fixture *fx, char *out, size_t size, const char *ext)
{
	char dir[PATH_MAX];
	int found = 0;
	fx_path(dir, sizeof(dir), fx->repo->dir, "objects/pack");
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *dot = strrchr(de->d_name, '.');
		if (dot && !strcmp(dot + 1, ext)) {
			assert_int_equal(found, 0);
			assert_true((size_t)snprintf(out, size, "%s/%s", dir, de->d_name) < size);
			found = 1;
		}
	}
	closedir(d);
	assert_int_equal(found, 1);
}

static int count_cb(const mlops_oid *id, enum mlops_codec codec, uint64_t size, void *payload)
{
	(void)id;
	(void)codec;
	assert_true(size > 0);
	(*(size_t *)payload)++;
	return 0;
}

#define N 40

static void write_n(struct mlops_odb *odb, mlops_oid *ids, int n)
{
	char buf[4096];
	for (int i = 0; i < n; i++) {
		size_t len = object_text(buf, sizeof(buf), i);
		assert_int_equal(mlops_odb_write(&ids[i], odb, buf, len, NULL), 0);
	}
}

static void test_pack_roundtrip(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	mlops_oid ids[N];
	char buf[4096], path[PATH_MAX];
	mlops_odb_set_pack_after(odb, 0);
	write_n(odb, ids, N);
	/* Pending objects in the pack being written are present and readable. */
	for (int i = 0; i < N; i++) {
		size_t len = object_text(buf, sizeof(buf), i);
		assert_int_equal(mlops_odb_exists(odb, &ids[i]), 1);
		expect_read(odb, &ids[i], buf, len);
	}
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_int_equal(fx_count_files(fx->repo->tmpdir), 0);
	fx_path(path, sizeof(path), fx->repo->dir, "objects");
	assert_int_equal(fx_count_files(path), 2);
	/* The pack file and index are read-only, like objects. */
	struct stat st;
	only_pack(fx, path, sizeof(path), "pack");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0222, 0);

	/* Read back by this handle and by another one. */
	struct mlops_odb *other = other_handle(fx);
	for (int i = 0; i < N; i++) {
		size_t len = object_text(buf, sizeof(buf), i);
		expect_read(odb, &ids[i], buf, len);
		expect_read(other, &ids[i], buf, len);
		assert_int_equal(mlops_odb_verify(other, &ids[i]), 0);
		struct mlops_odb_info info;
		assert_int_equal(mlops_odb_info(&info, other, &ids[i]), 0);
		assert_int_equal(info.packed, 1);
		assert_int_equal(info.codec, i % 2 ? MLOPS_CODEC_NONE : MLOPS_CODEC_ZSTD);
		/* Not a file of its own. */
		char *p = NULL;
		enum mlops_codec codec;
		assert_int_equal(mlops_odb_locate(&p, &codec, other, &ids[i]), MLOPS_ENOTFOUND);
		assert_non_null(strstr(mlops_error_message(), "in a pack"));
		/* The stored form: as written (compressed or raw). */
		struct mlops_odb_view v;
		assert_int_equal(mlops_odb_view_stored(&v, other, &ids[i]), 0);
		assert_int_equal(v.codec, info.codec);
		assert_int_equal(v.len, info.stored_size);
		if (v.codec == MLOPS_CODEC_NONE)
			assert_memory_equal(v.data, buf, len);
		else
			assert_true(v.len < len);
		mlops_odb_view_release(&v);
	}
	/* Listed once each. */
	size_t count = 0;
	assert_int_equal(mlops_odb_foreach(other, count_cb, &count), 0);
	assert_int_equal(count, N);
	size_t npacks = 9;
	assert_int_equal(mlops_odb_check_packs(other, &npacks, NULL, NULL), 0);
	assert_int_equal(npacks, 1);
	/* Copy out (checkout) of a raw and of a compressed packed object. */
	fx_path(path, sizeof(path), fx->work, "out.bin");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	for (int i = 0; i < 2; i++) {
		size_t len = object_text(buf, sizeof(buf), i);
		assert_int_equal(mlops_odb_copy_to_fd(other, &ids[i], fd, 0, len), 0);
		assert_int_equal(mlops_odb_copy_to_fd(other, &ids[i], fd, 0, len + 1), MLOPS_ECORRUPT);
		assert_int_equal(ftruncate(fd, (off_t)len), 0);
		assert_true(fx_file_is(path, buf, len));
	}
	close(fd);
	mlops_odb_free(other);

	/* Writing them again stores nothing. */
	uint64_t stored = 99;
	size_t len = object_text(buf, sizeof(buf), 3);
	assert_int_equal(mlops_odb_write(&ids[3], odb, buf, len, &stored), 0);
	assert_int_equal(stored, 0);
	assert_int_equal(mlops_odb_sync(odb), 0);
	fx_path(path, sizeof(path), fx->repo->dir, "objects");
	assert_int_equal(fx_count_files(path), 2);
}

/* A pack written by another handle after this one looked is found. */
static void test_pack_written_later_is_found(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state), *other = other_handle(fx);
	mlops_oid ids[N];
	char buf[4096];
	mlops_oid absent;
	mlops_hash_buf(&absent, "absent", 6);
	assert_int_equal(mlops_odb_exists(odb, &absent), 0); /* packs read: none yet */
	mlops_odb_set_pack_after(other, 0);
	write_n(other, ids, N);
	assert_int_equal(mlops_odb_sync(other), 0);
	mlops_odb_free(other);
	for (int i = 0; i < N; i++) {
		size_t len = object_text(buf, sizeof(buf), i);
		expect_read(odb, &ids[i], buf, len);
	}
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/*
 * Flip a bit as a user or a program would, through the file system: the
 * file's ctime moves.  (A kernel with coarse timestamps, before Linux
 * 6.13, gives a change in the same clock tick as the last one the same
 * time: then it is changed again, a tick later, as any later change is.)
 */
static void flip_bit(const char *path, off_t off, int bit)
{
	unsigned char c;
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(chmod(path, 0644), 0);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= (unsigned char)(1u << bit);
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
	for (;;) {
		assert_int_equal(stat(path, &after), 0);
		if (!same_time(&before.st_ctim, &after.st_ctim))
			break;
		usleep(2000);
		assert_int_equal(chmod(path, 0644), 0);
	}
}

/* The offset of the middle of an object's stored bytes in pack (unique in it). */
static off_t middle_of(struct mlops_odb *odb, const char *pack, const mlops_oid *id)
{
	struct mlops_odb_view v;
	char *all = NULL;
	size_t alen;
	assert_int_equal(mlops_odb_view_stored(&v, odb, id), 0);
	assert_int_equal(mlops_read_file(&all, &alen, pack), 0);
	char *at = memmem(all, alen, v.data, v.len);
	assert_non_null(at);
	off_t off = (off_t)(at - all) + (off_t)v.len / 2;
	mlops_odb_view_release(&v);
	free(all);
	return off;
}

/* A pack's seal (odb.c): its index's mtime is the pack file's ctime + 1 ns. */
static struct timespec seal_time(const char *pack)
{
	struct stat p;
	assert_int_equal(stat(pack, &p), 0);
	struct timespec t = p.st_ctim;
	if (++t.tv_nsec == 1000000000L) {
		t.tv_sec++;
		t.tv_nsec = 0;
	}
	return t;
}

static int sealed(const char *pack, const char *idx)
{
	struct stat i;
	struct timespec t = seal_time(pack);
	assert_int_equal(stat(idx, &i), 0);
	return same_time(&t, &i.st_mtim);
}

/* Seal a pack as mlops does once it has verified every object in it. */
static void seal(const char *pack, const char *idx)
{
	const struct timespec ts[2] = { { .tv_sec = 0, .tv_nsec = UTIME_OMIT }, seal_time(pack) };
	assert_int_equal(utimensat(AT_FDCWD, idx, ts, 0), 0);
}

/* Copy object i out through a new handle (another process, in effect): its status. */
static int copy_out(struct fixture *fx, const mlops_oid *id, int i)
{
	char buf[4096], out[PATH_MAX];
	struct mlops_odb *other = other_handle(fx);
	int fd = open(fx_path(out, sizeof(out), fx->work, "out"),
		      O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	size_t len = object_text(buf, sizeof(buf), i);
	int err = mlops_odb_copy_to_fd(other, id, fd, 0, len);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, err == 0 ? (off_t)len : 0); /* all or nothing */
	close(fd);
	mlops_odb_free(other);
	return err;
}

static void test_pack_damage_names_the_object(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	mlops_oid ids[N];
	char buf[4096], pack[PATH_MAX], hex[MLOPS_OID_HEXSZ + 1];
	mlops_odb_set_pack_after(odb, 0);
	write_n(odb, ids, N);
	assert_int_equal(mlops_odb_sync(odb), 0);
	/* Flip a bit in the middle of each of a raw and a compressed object. */
	only_pack(fx, pack, sizeof(pack), "pack");
	for (int i = 6; i < 8; i++) {
		struct mlops_odb_info info;
		assert_int_equal(mlops_odb_info(&info, odb, &ids[i]), 0);
		flip_bit(pack, middle_of(odb, pack, &ids[i]), 2);
	}
	struct mlops_odb *other = other_handle(fx);
	for (int i = 0; i < N; i++) {
		int bad = i == 6 || i == 7;
		void *data = (void *)1;
		size_t len;
		assert_int_equal(mlops_odb_verify(other, &ids[i]), bad ? MLOPS_ECORRUPT : 0);
		if (bad) {
			assert_non_null(strstr(mlops_error_message(), mlops_oid_fmt(hex, &ids[i])));
			assert_int_equal(mlops_odb_read(&data, &len, other, &ids[i]), MLOPS_ECORRUPT);
			assert_null(data);
			int fd = open(fx_path(buf, sizeof(buf), fx->work, "out"),
				      O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			assert_true(fd >= 0);
			size_t tlen = object_text(buf, sizeof(buf), i);
			assert_int_equal(mlops_odb_copy_to_fd(other, &ids[i], fd, 0, tlen), MLOPS_ECORRUPT);
			struct stat st;
			assert_int_equal(fstat(fd, &st), 0);
			assert_int_equal(st.st_size, 0); /* nothing written */
			close(fd);
		}
	}
	mlops_odb_free(other);
}

/* N objects written as one pack, which is sealed; its pack and index paths (PATH_MAX each). */
static void sealed_pack_fixture(struct fixture *fx, struct mlops_odb *odb, mlops_oid *ids, char *pack,
				char *idx)
{
	mlops_odb_set_pack_after(odb, 0);
	write_n(odb, ids, N);
	assert_int_equal(mlops_odb_sync(odb), 0);
	only_pack(fx, pack, PATH_MAX, "pack");
	only_pack(fx, idx, PATH_MAX, "idx");
	assert_true(sealed(pack, idx));
}

/*
 * A pack is sealed when written, and stays sealed while its file is
 * unchanged: its objects are copied out without a second hash (the point:
 * a checkout does not hash again what the add hashed).  A write to the
 * file breaks the seal, and the damage is refused; only what leaves a
 * file's times alone (the disk's own) gets past the copy, and fsck's
 * verify finds it.  A new time (freshening, for gc's grace) keeps the seal
 * of a sealed pack and does not seal a broken one; a repack seals the new
 * pack only when the old one was sealed.
 */
static void test_sealed_pack_is_trusted_while_unchanged(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	mlops_oid ids[N];
	char pack[PATH_MAX], idx[PATH_MAX], buf[4096];
	sealed_pack_fixture(fx, odb, ids, pack, idx);
	for (int i = 0; i < N; i++)
		assert_int_equal(copy_out(fx, &ids[i], i), 0);

	/* Damaged through the file system: the seal is broken, the copy refused. */
	off_t off = middle_of(odb, pack, &ids[7]);
	flip_bit(pack, off, 5);
	assert_false(sealed(pack, idx));
	assert_int_equal(copy_out(fx, &ids[7], 7), MLOPS_ECORRUPT);
	assert_int_equal(copy_out(fx, &ids[8], 8), 0);

	/* Freshening a broken pack does not seal it. */
	struct mlops_odb *other = other_handle(fx);
	assert_int_equal(mlops_odb_freshen(other, &ids[3]), 1);
	mlops_odb_free(other);
	assert_false(sealed(pack, idx));
	assert_int_equal(copy_out(fx, &ids[7], 7), MLOPS_ECORRUPT);

	/* Damage the seal cannot see (here: sealed again by hand) is copied; verify finds it. */
	seal(pack, idx);
	assert_int_equal(copy_out(fx, &ids[7], 7), 0);
	other = other_handle(fx);
	assert_int_equal(mlops_odb_verify(other, &ids[7]), MLOPS_ECORRUPT);
	assert_int_equal(mlops_odb_verify(other, &ids[8]), 0);
	mlops_odb_free(other);
	flip_bit(pack, off, 5); /* whole again, the seal broken */
	assert_false(sealed(pack, idx));

	/* A repack of an unsealed pack leaves the new one unsealed... */
	assert_int_equal(mlops_odb_remove(odb, &ids[0]), 0);
	assert_int_equal(mlops_odb_repack(odb), 0);
	only_pack(fx, pack, sizeof(pack), "pack");
	only_pack(fx, idx, sizeof(idx), "idx");
	assert_false(sealed(pack, idx));
	for (int i = 1; i < N; i++)
		assert_int_equal(copy_out(fx, &ids[i], i), 0);
	/* ...and of a sealed one seals it. */
	seal(pack, idx);
	assert_int_equal(mlops_odb_remove(odb, &ids[1]), 0);
	assert_int_equal(mlops_odb_repack(odb), 0);
	only_pack(fx, pack, sizeof(pack), "pack");
	only_pack(fx, idx, sizeof(idx), "idx");
	assert_true(sealed(pack, idx));

	/* Freshening a sealed pack gives it a new time and keeps the seal. */
	fx_age(pack, 7200);
	seal(pack, idx); /* the new time broke it, as any would */
	other = other_handle(fx);
	assert_int_equal(mlops_odb_freshen(other, &ids[2]), 1);
	mlops_odb_free(other);
	struct stat st;
	assert_int_equal(stat(pack, &st), 0);
	assert_true(st.st_mtime > time(NULL) - 600);
	assert_true(sealed(pack, idx));
	for (int i = 2; i < N; i++) {
		size_t len = object_text(buf, sizeof(buf), i);
		assert_int_equal(copy_out(fx, &ids[i], i), 0);
		other = other_handle(fx);
		expect_read(other, &ids[i], buf, len);
		mlops_odb_free(other);
	}
}

struct share {
	int calls, rc;
	size_t count;       /* of the index handed over */
	char pack[PATH_MAX], idx[PATH_MAX], to[PATH_MAX];
};

static int share_cb(void *payload, const char *pack, const char *idx,
		    const struct mlops_pack_index *index)
{
	struct share *sh = payload;
	sh->calls++;
	sh->count = index->count;
	snprintf(sh->pack, sizeof(sh->pack), "%s", pack);
	snprintf(sh->idx, sizeof(sh->idx), "%s", idx);
	if (sh->rc == 0 && link(pack, sh->to) < 0)
		return -1;
	return sh->rc;
}

static void test_share_pack_only_sealed_and_sealed_again(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	mlops_oid ids[N];
	char pack[PATH_MAX], idx[PATH_MAX], hex[MLOPS_OID_HEXSZ + 1];
	struct share sh = { 0 };
	sealed_pack_fixture(fx, odb, ids, pack, idx);

	/* Every object names its pack and how many the pack holds. */
	struct mlops_odb_info info;
	assert_int_equal(mlops_odb_info(&info, odb, &ids[3]), 0);
	assert_int_equal(info.packed, 1);
	assert_int_equal(info.pack_objects, N);
	mlops_oid name = info.pack;
	assert_non_null(strstr(pack, mlops_oid_fmt(hex, &name)));

	/* A link moves the ctime: sealed again afterwards. */
	fx_path(sh.to, sizeof(sh.to), fx->root, "shared.pack");
	assert_int_equal(mlops_odb_share_pack(odb, &name, share_cb, &sh), 0);
	assert_int_equal(sh.calls, 1);
	assert_string_equal(sh.pack, pack);
	assert_string_equal(sh.idx, idx);
	assert_int_equal(sh.count, N);
	struct stat a, b;
	assert_int_equal(stat(pack, &a), 0);
	assert_int_equal(stat(sh.to, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_nlink, 2);
	assert_true(sealed(pack, idx));
	for (int i = 0; i < N; i++)
		assert_int_equal(copy_out(fx, &ids[i], i), 0);

	/* What share returns is returned: 1 (the other side cannot link). */
	sh.rc = 1;
	assert_int_equal(mlops_odb_share_pack(odb, &name, share_cb, &sh), 1);
	assert_int_equal(sh.calls, 2);
	assert_true(sealed(pack, idx));

	/* A pack changed since its seal is not handed out: its objects must be verified. */
	fx_age(pack, 60);
	assert_false(sealed(pack, idx));
	sh.rc = 0;
	assert_int_equal(mlops_odb_share_pack(odb, &name, share_cb, &sh), 1);
	assert_int_equal(sh.calls, 2);
	assert_false(sealed(pack, idx));
}

struct faults {
	int n;
	char msg[512];
	mlops_oid name;
};

static int fault_cb(void *payload, const mlops_oid *name, const char *message)
{
	struct faults *f = payload;
	f->n++;
	f->name = *name;
	snprintf(f->msg, sizeof(f->msg), "%s", message);
	return 0;
}

static void test_damaged_index_is_reported(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	mlops_oid ids[N];
	char idx[PATH_MAX], pack[PATH_MAX];
	mlops_odb_set_pack_after(odb, 0);
	write_n(odb, ids, N);
	assert_int_equal(mlops_odb_sync(odb), 0);
	only_pack(fx, idx, sizeof(idx), "idx");
	only_pack(fx, pack, sizeof(pack), "pack");

	/* A bit flipped in the index: its name no longer matches. */
	flip_bit(idx, MLOPS_PACK_IDX_HDR + 40, 0);
	struct mlops_odb *other = other_handle(fx);
	struct faults f = { 0 };
	size_t npacks = 9;
	assert_int_equal(mlops_odb_check_packs(other, &npacks, fault_cb, &f), 0);
	assert_int_equal(npacks, 0);
	assert_int_equal(f.n, 1);
	assert_non_null(strstr(f.msg, "corrupt"));
	assert_int_equal(mlops_odb_exists(other, &ids[0]), 0);
	mlops_odb_free(other);
	flip_bit(idx, MLOPS_PACK_IDX_HDR + 40, 0);

	/* A pack file cut short. */
	assert_int_equal(chmod(pack, 0644), 0);
	assert_int_equal(truncate(pack, 100), 0);
	other = other_handle(fx);
	memset(&f, 0, sizeof(f));
	assert_int_equal(mlops_odb_check_packs(other, &npacks, fault_cb, &f), 0);
	assert_int_equal(f.n, 1);
	assert_non_null(strstr(f.msg, "its index says"));
	mlops_odb_free(other);
}

static void test_remove_rewrites_the_pack(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	mlops_oid ids[N];
	char buf[4096], dir[PATH_MAX];
	mlops_odb_set_pack_after(odb, 0);
	write_n(odb, ids, N);
	assert_int_equal(mlops_odb_sync(odb), 0);
	for (int i = 0; i < N; i += 3)
		assert_int_equal(mlops_odb_remove(odb, &ids[i]), 0);
	/* Marked only: still there until the repack. */
	assert_int_equal(mlops_odb_exists(odb, &ids[0]), 1);
	assert_int_equal(mlops_odb_repack(odb), 0);
	fx_path(dir, sizeof(dir), fx->repo->dir, "objects/pack");
	assert_int_equal(fx_count_files(dir), 2);
	assert_int_equal(fx_count_files(fx->repo->tmpdir), 0);
	struct mlops_odb *other = other_handle(fx);
	for (struct mlops_odb *h = odb; h; h = h == odb ? other : NULL) {
		size_t count = 0;
		for (int i = 0; i < N; i++) {
			size_t len = object_text(buf, sizeof(buf), i);
			if (i % 3 == 0) {
				assert_int_equal(mlops_odb_exists(h, &ids[i]), 0);
			} else {
				expect_read(h, &ids[i], buf, len);
				count++;
			}
		}
		size_t listed = 0;
		assert_int_equal(mlops_odb_foreach(h, count_cb, &listed), 0);
		assert_int_equal(listed, count);
	}
	mlops_odb_free(other);
	/* Removing the rest removes the pack. */
	for (int i = 0; i < N; i++)
		assert_int_equal(mlops_odb_remove(odb, &ids[i]), 0);
	assert_int_equal(mlops_odb_repack(odb), 0);
	assert_int_equal(fx_count_files(dir), 0);
	assert_int_equal(mlops_odb_exists(odb, &ids[1]), 0);
}

static void test_orphan_pack_cleaned(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	mlops_oid ids[N];
	char dir[PATH_MAX], orphan[PATH_MAX], pack[PATH_MAX];
	mlops_odb_set_pack_after(odb, 0);
	write_n(odb, ids, N);
	assert_int_equal(mlops_odb_sync(odb), 0);
	only_pack(fx, pack, sizeof(pack), "pack");
	/* What a crash between the pack's rename and its index's leaves. */
	fx_path(dir, sizeof(dir), fx->repo->dir, "objects/pack");
	fx_fmt(orphan, "%s/%064d.pack", dir, 7);
	fx_write_str(orphan, "MLPACK01half");
	assert_int_equal(mlops_odb_clean_tmp(odb, 3600), 0); /* too recent */
	/* gc --grace now: still kept, it may be a sync between its two renames. */
	fx_age(orphan, 600);
	assert_int_equal(mlops_odb_clean_tmp(odb, 0), 0);
	assert_int_equal(access(orphan, F_OK), 0);
	fx_age(orphan, 7200);
	fx_age(pack, 7200);
	assert_int_equal(mlops_odb_clean_tmp(odb, 3600), 1);
	assert_int_equal(access(orphan, F_OK), -1);
	assert_int_equal(access(pack, F_OK), 0); /* it has its index */
}

struct syncer {
	struct mlops_odb *odb;
	atomic_int stop;
	atomic_int syncs;
};

struct writer {
	struct mlops_odb *odb;
	int first;
	struct syncer *pace; /* when set: halfway, wait for two of its syncs */
	mlops_oid ids[250];
};

static void *write_thread(void *arg)
{
	struct writer *w = arg;
	char buf[4096];
	for (int i = 0; i < 250; i++) {
		/* However the threads are scheduled (valgrind runs one at a time),
		 * syncs happen while objects are written. */
		for (int ms = 0; w->pace && i == 125 && atomic_load(&w->pace->syncs) < 2 && ms < 20000;
		     ms++)
			nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
		size_t len = object_text(buf, sizeof(buf), w->first + i);
		if (mlops_odb_write(&w->ids[i], w->odb, buf, len, NULL) < 0)
			return (void *)1;
	}
	return NULL;
}

static void test_threads_fill_one_pack(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	struct writer w[4] = { 0 };
	pthread_t t[4];
	char buf[4096], dir[PATH_MAX];
	mlops_odb_set_pack_after(odb, 0);
	/* Overlapping ranges: the same objects written by two threads at once. */
	for (int k = 0; k < 4; k++) {
		w[k].odb = odb;
		w[k].first = k * 200;
		assert_int_equal(pthread_create(&t[k], NULL, write_thread, &w[k]), 0);
	}
	for (int k = 0; k < 4; k++) {
		void *rc;
		assert_int_equal(pthread_join(t[k], &rc), 0);
		assert_null(rc);
	}
	assert_int_equal(mlops_odb_sync(odb), 0);
	fx_path(dir, sizeof(dir), fx->repo->dir, "objects");
	assert_int_equal(fx_count_files(dir), 2);
	struct mlops_odb *other = other_handle(fx);
	size_t listed = 0;
	assert_int_equal(mlops_odb_foreach(other, count_cb, &listed), 0);
	assert_int_equal(listed, 3 * 200 + 250);
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < 250; i += 7) {
			size_t len = object_text(buf, sizeof(buf), w[k].first + i);
			expect_read(other, &w[k].ids[i], buf, len);
		}
	mlops_odb_free(other);
}

static void *sync_thread(void *arg)
{
	struct syncer *s = arg;
	while (!atomic_load(&s->stop)) {
		if (mlops_odb_sync(s->odb) < 0)
			return (void *)1;
		atomic_fetch_add(&s->syncs, 1);
	}
	return NULL;
}

/* Syncs while threads write: every object lands in the pack it was reserved in. */
static void test_sync_while_writing(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	struct writer w[3] = { 0 };
	pthread_t t[3], st;
	struct syncer sy = { .odb = odb };
	char buf[4096];
	mlops_odb_set_pack_after(odb, 0);
	assert_int_equal(pthread_create(&st, NULL, sync_thread, &sy), 0);
	for (int k = 0; k < 3; k++) {
		w[k].odb = odb;
		w[k].first = k * 250;
		w[k].pace = &sy;
		assert_int_equal(pthread_create(&t[k], NULL, write_thread, &w[k]), 0);
	}
	for (int k = 0; k < 3; k++) {
		void *rc;
		assert_int_equal(pthread_join(t[k], &rc), 0);
		assert_null(rc);
	}
	atomic_store(&sy.stop, 1);
	void *rc;
	assert_int_equal(pthread_join(st, &rc), 0);
	assert_null(rc);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_true(atomic_load(&sy.syncs) > 1);
	/* Read back by this handle (from the packs it installed) and by another. */
	struct mlops_odb *other = other_handle(fx);
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 250; i++) {
			size_t len = object_text(buf, sizeof(buf), w[k].first + i);
			expect_read(odb, &w[k].ids[i], buf, len);
			expect_read(other, &w[k].ids[i], buf, len);
		}
	size_t npacks = 0;
	struct faults f = { 0 };
	assert_int_equal(mlops_odb_check_packs(other, &npacks, fault_cb, &f), 0);
	assert_int_equal(f.n, 0);
	assert_true(npacks >= 1);
	mlops_odb_free(other);
}

/* Never packing: every object a file of its own, as before packs. */
/* A store of its own beside the fixture's (same file system): objects and tmp under name. */
static struct mlops_odb *store_beside(struct fixture *fx, const char *name)
{
	char base[PATH_MAX], objects[PATH_MAX], tmp[PATH_MAX];
	struct mlops_odb *odb = NULL;
	fx_path(base, sizeof(base), fx->repo->dir, name);
	fx_path(objects, sizeof(objects), base, "objects");
	fx_path(tmp, sizeof(tmp), base, "tmp");
	assert_int_equal(mkdir(base, 0777), 0);
	assert_int_equal(mkdir(objects, 0777), 0);
	assert_int_equal(mkdir(tmp, 0777), 0);
	assert_int_equal(mlops_odb_open(&odb, objects, tmp), 0);
	return odb;
}

static void test_adopt_pack_links_or_copies(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	mlops_oid ids[N];
	char buf[4096], pack[PATH_MAX], idxp[PATH_MAX], got[PATH_MAX], hex[MLOPS_OID_HEXSZ + 1];
	mlops_odb_set_pack_after(odb, 0);
	write_n(odb, ids, N);
	assert_int_equal(mlops_odb_sync(odb), 0);
	only_pack(fx, pack, sizeof(pack), "pack");
	only_pack(fx, idxp, sizeof(idxp), "idx");
	fx_age(pack, 7200);
	char *text = NULL;
	size_t tlen;
	struct mlops_pack_index *idx = NULL;
	assert_int_equal(mlops_read_file(&text, &tlen, idxp), 0);
	assert_int_equal(mlops_pack_index_parse(&idx, text, tlen, NULL), 0);
	free(text);

	/* Linked: the same file, given the time of now (gc's rules count from it). */
	struct mlops_odb *linked = store_beside(fx, "linked");
	assert_int_equal(mlops_odb_adopt_pack(linked, pack, idx, 1), 0);
	fx_fmt(got, "%s/linked/objects/pack/%s.pack", fx->repo->dir, mlops_oid_fmt(hex, &idx->id));
	struct stat a, b;
	assert_int_equal(stat(pack, &a), 0);
	assert_int_equal(stat(got, &b), 0);
	assert_true(a.st_ino == b.st_ino);
	assert_true(b.st_mtime > time(NULL) - 600);
	/* Its objects were verified by the caller: sealed (see test_sealed_pack_...). */
	char gidx[PATH_MAX];
	fx_fmt(gidx, "%s/linked/objects/pack/%s.idx", fx->repo->dir, hex);
	assert_true(sealed(got, gidx));
	for (int i = 0; i < N; i++) {
		size_t len = object_text(buf, sizeof(buf), i);
		expect_read(linked, &ids[i], buf, len);
	}
	/* Again: nothing to do.  Listed once. */
	assert_int_equal(mlops_odb_adopt_pack(linked, pack, idx, 1), 0);
	size_t count = 0;
	assert_int_equal(mlops_odb_foreach(linked, count_cb, &count), 0);
	assert_int_equal(count, N);
	mlops_odb_free(linked);

	/* Copied: a file of its own with the same bytes, read by a new handle too. */
	struct mlops_odb *copied = store_beside(fx, "copied");
	assert_int_equal(mlops_odb_adopt_pack(copied, pack, idx, 0), 0);
	fx_fmt(got, "%s/copied/objects/pack/%s.pack", fx->repo->dir, hex);
	assert_int_equal(stat(got, &b), 0);
	assert_true(a.st_ino != b.st_ino);
	assert_int_equal(b.st_mode & 0222, 0);
	assert_int_equal(fx_same_file(pack, got), 1);
	fx_fmt(gidx, "%s/copied/objects/pack/%s.idx", fx->repo->dir, hex);
	assert_true(sealed(got, gidx));
	mlops_odb_free(copied);
	fx_fmt(got, "%s/copied/objects", fx->repo->dir);
	char tmp[PATH_MAX];
	fx_fmt(tmp, "%s/copied/tmp", fx->repo->dir);
	assert_int_equal(mlops_odb_open(&copied, got, tmp), 0);
	for (int i = 0; i < N; i++) {
		size_t len = object_text(buf, sizeof(buf), i);
		expect_read(copied, &ids[i], buf, len);
	}
	assert_int_equal(fx_count_files(tmp), 0);
	mlops_odb_free(copied);

	/* An index that is not the one its name says: refused, nothing written. */
	struct mlops_odb *bad = store_beside(fx, "bad");
	idx->entries[0].length++;
	assert_int_equal(mlops_odb_adopt_pack(bad, pack, idx, 1), MLOPS_EINVALID);
	fx_fmt(got, "%s/bad/objects", fx->repo->dir);
	assert_int_equal(fx_count_files(got), 0);
	mlops_odb_free(bad);

	/* A pack file shorter than its index says: refused, its objects not stored. */
	char cut[PATH_MAX];
	fx_fmt(cut, "%s/cut.pack", fx->repo->dir);
	idx->entries[0].length--; /* the index as it was */
	int in = open(pack, O_RDONLY), out = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0444);
	assert_true(in >= 0 && out >= 0);
	assert_int_equal(mlops_copy_fd(out, in, (uint64_t)a.st_size - 10, pack, cut, 0), 0);
	close(in);
	close(out);
	struct mlops_odb *shorter = store_beside(fx, "short");
	assert_int_equal(mlops_odb_adopt_pack(shorter, cut, idx, 1), MLOPS_ECORRUPT);
	assert_int_equal(mlops_odb_exists(shorter, &ids[0]), 0);
	mlops_odb_free(shorter);
	mlops_pack_index_free(idx);
}

static void test_pack_after_negative_never_packs(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	mlops_oid ids[N];
	char dir[PATH_MAX];
	mlops_odb_set_pack_after(odb, -1);
	write_n(odb, ids, N);
	assert_int_equal(mlops_odb_sync(odb), 0);
	fx_path(dir, sizeof(dir), fx->repo->dir, "objects");
	assert_int_equal(fx_count_files(dir), N);
}

/* A reader waiting (mlops_odb_await) for one object, in a thread of its own. */
struct awaiter {
	struct mlops_odb *odb;
	const mlops_oid *id;
	atomic_int done;
	int ready; /* stored (mlops_odb_exists) once the wait returned */
};

static void *await_one(void *arg)
{
	struct awaiter *a = arg;
	mlops_odb_await(a->odb, a->id);
	a->ready = mlops_odb_exists(a->odb, a->id);
	atomic_store(&a->done, 1);
	return NULL;
}

static void test_arrivals_wake_readers(void **state)
{
	struct fixture *fx = fx_of(state);
	struct mlops_odb *odb = odb_of(state);
	mlops_oid ids[N];
	char buf[4096], pack[PATH_MAX], idxp[PATH_MAX];
	/* A pack made by another store, to be adopted as a fetch would. */
	struct mlops_odb *src = store_beside(fx, "src");
	mlops_odb_set_pack_after(src, 0);
	write_n(src, ids, N);
	assert_int_equal(mlops_odb_sync(src), 0);
	mlops_odb_free(src);
	char *text = NULL, dir[PATH_MAX];
	size_t tlen;
	struct mlops_pack_index *idx = NULL;
	fx_fmt(dir, "%s/src/objects/pack", fx->repo->dir);
	DIR *d = opendir(dir);
	struct dirent *de;
	assert_non_null(d);
	pack[0] = idxp[0] = '\0';
	while ((de = readdir(d))) {
		if (strstr(de->d_name, ".pack"))
			fx_fmt(pack, "%s/%s", dir, de->d_name);
		else if (strstr(de->d_name, ".idx"))
			fx_fmt(idxp, "%s/%s", dir, de->d_name);
	}
	closedir(d);
	assert_true(pack[0] && idxp[0]);
	assert_int_equal(mlops_read_file(&text, &tlen, idxp), 0);
	assert_int_equal(mlops_pack_index_parse(&idx, text, tlen, NULL), 0);
	free(text);

	/*
	 * Not expecting: a reader does not wait, and goes straight to the
	 * store, where this object is not (yet).
	 */
	assert_int_equal(mlops_odb_expecting(odb), 0);
	assert_int_equal(mlops_odb_wait_arrival(odb, mlops_odb_arrivals(odb)), 0);
	assert_int_equal(mlops_odb_ready(odb, &ids[0]), 1);
	assert_int_equal(mlops_odb_exists(odb, &ids[0]), 0);

	mlops_odb_expect(odb, 1);
	assert_int_equal(mlops_odb_expecting(odb), 1);
	assert_int_equal(mlops_odb_expect_ids(odb, ids, N), 0);
	assert_int_equal(mlops_odb_ready(odb, &ids[N - 1]), 0);
	struct awaiter a = { .odb = odb, .id = &ids[N - 1] };
	atomic_init(&a.done, 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, await_one, &a), 0);
	/* Nothing arrives for a while: the reader is still waiting. */
	usleep(50 * 1000);
	assert_int_equal(atomic_load(&a.done), 0);
	uint64_t seen = mlops_odb_arrivals(odb);
	assert_int_equal(mlops_odb_adopt_pack(odb, pack, idx, 1), 0);
	assert_true(mlops_odb_arrivals(odb) != seen);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(atomic_load(&a.done), 1);
	assert_int_equal(a.ready, 1);
	for (int i = 0; i < N; i++) {
		assert_int_equal(mlops_odb_ready(odb, &ids[i]), 1);
		size_t len = object_text(buf, sizeof(buf), i);
		expect_read(odb, &ids[i], buf, len);
	}

	/* A written object is ready once synced, not while pending. */
	mlops_oid w;
	seen = mlops_odb_arrivals(odb);
	assert_int_equal(mlops_odb_write(&w, odb, "written later\n", 14, NULL), 0);
	assert_int_equal(mlops_odb_ready(odb, &w), 0);
	assert_int_equal(mlops_odb_sync(odb), 0);
	assert_true(mlops_odb_arrivals(odb) != seen);
	assert_int_equal(mlops_odb_ready(odb, &w), 1);

	/* An id that never comes: a waiter returns when expecting ends. */
	mlops_oid never;
	memset(&never, 0x5a, sizeof(never));
	assert_int_equal(mlops_odb_expect_ids(odb, &never, 1), 0);
	struct awaiter b = { .odb = odb, .id = &never };
	atomic_init(&b.done, 0);
	assert_int_equal(pthread_create(&th, NULL, await_one, &b), 0);
	usleep(50 * 1000);
	assert_int_equal(atomic_load(&b.done), 0);
	mlops_odb_expect(odb, 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(b.ready, 0);
	/*
	 * Ended: every id is "ready", with no lookup; reading then finds what
	 * is stored and fails, as usual, for what never came.
	 */
	assert_int_equal(mlops_odb_ready(odb, &never), 1);
	assert_int_equal(mlops_odb_ready(odb, &ids[0]), 1);
	expect_read(odb, &ids[0], buf, object_text(buf, sizeof(buf), 0));
	assert_int_equal(mlops_odb_exists(odb, &never), 0);
	assert_int_equal(mlops_odb_exists(odb, &w), 1);
	mlops_pack_index_free(idx);
}

static void test_freshen_many_agrees_with_freshen(void **state)
{
	struct mlops_odb *odb = odb_of(state);
	enum { STORED = 300, ASKED = 5000 };
	mlops_oid *ids = calloc(ASKED, sizeof(*ids));
	unsigned char *here = calloc(ASKED, 1);
	assert_non_null(ids);
	assert_non_null(here);
	/* The first 256 of a batch are files of their own, the rest packed. */
	write_n(odb, ids, STORED);
	assert_int_equal(mlops_odb_sync(odb), 0);
	for (int i = STORED; i < ASKED; i++) {
		char text[64];
		int n = snprintf(text, sizeof(text), "never stored %d", i);
		mlops_hash_buf(&ids[i], text, (size_t)n);
	}
	/* Listing the directories (many ids), and looking at each (few). */
	mlops_odb_freshen_many(odb, ids, ASKED, here);
	for (int i = 0; i < ASKED; i++)
		assert_int_equal(here[i], i < STORED);
	mlops_odb_freshen_many(odb, ids + STORED - 5, 10, here);
	for (int i = 0; i < 10; i++)
		assert_int_equal(here[i], i < 5);
	/* Pending objects count, as for mlops_odb_freshen. */
	mlops_oid p;
	assert_int_equal(mlops_odb_write(&p, odb, "pending\n", 8, NULL), 0);
	mlops_odb_freshen_many(odb, &p, 1, here);
	assert_int_equal(here[0], 1);
	free(ids);
	free(here);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pack_roundtrip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_pack_written_later_is_found, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_pack_damage_names_the_object, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_sealed_pack_is_trusted_while_unchanged, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_share_pack_only_sealed_and_sealed_again, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_index_is_reported, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_remove_rewrites_the_pack, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_orphan_pack_cleaned, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_threads_fill_one_pack, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_sync_while_writing, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_adopt_pack_links_or_copies, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_arrivals_wake_readers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_freshen_many_agrees_with_freshen, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(test_pack_after_negative_never_packs, fx_setup,
						fx_teardown),
	};
	fx_filter_from_env();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
