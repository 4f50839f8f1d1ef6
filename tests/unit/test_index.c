/*
 * test_index.c - the stat cache: an unchanged file is not read again (in
 * one session and after save/load), a changed or touched file is, a racy
 * entry is not trusted, a damaged index file is ignored and rewritten, an
 * entry naming a missing object is not used, and checkout records what it
 * wrote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_fixture.h"
#include "store/index.h"
#include "store/tree.h"

#define F1 100000u /* one blob */
#define F2 300000u /* mapped and chunked */
#define F3 7u

struct ixstate {
	struct fixture *fx;
	char data[PATH_MAX];  /* <work>/data */
	char index[PATH_MAX]; /* <work>/.mlops/index */
	struct mlops_index *idx;
};

static int ix_setup(void **state)
{
	if (fx_setup(state) < 0)
		return -1;
	struct fixture *fx = *state;
	struct ixstate *ix = calloc(1, sizeof(*ix));
	char p[PATH_MAX];
	unsigned char *buf = malloc(F2);
	if (!ix || !buf)
		return -1;
	ix->fx = fx;
	mlops_odb_set_fsync(fx->repo->odb, 0);
	fx_path(ix->data, sizeof(ix->data), fx->work, "data");
	fx_path(ix->index, sizeof(ix->index), fx->work, ".mlops/index");
	fx_random(buf, F2, 1);
	fx_write_deep(fx_path(p, sizeof(p), ix->data, "f1.bin"), buf, F1);
	fx_age(p, 3600);
	fx_write_deep(fx_path(p, sizeof(p), ix->data, "f2.bin"), buf, F2);
	fx_age(p, 3600);
	fx_write_deep(fx_path(p, sizeof(p), ix->data, "sub/f3.txt"), "seven!\n", F3);
	fx_age(p, 3600);
	free(buf);
	if (mlops_index_load(&ix->idx, ix->index, fx->repo->tmpdir) < 0)
		return -1;
	*state = ix;
	return 0;
}

static int ix_teardown(void **state)
{
	struct ixstate *ix = *state;
	mlops_index_free(ix->idx);
	*state = ix->fx;
	free(ix);
	return fx_teardown(state);
}

static struct ixstate *ix_of(void **state)
{
	return *state;
}

/* Store data/ with the cache; returns the bytes hashed. */
static uint64_t store_data(struct ixstate *ix, struct mlops_node *out)
{
	struct mlops_ingest_stats stats;
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(mlops_tree_store(out, ix->fx->repo->odb, ix->idx, ix->data, "data", &stats),
			 0);
	assert_int_equal(mlops_odb_sync(ix->fx->repo->odb), 0);
	assert_int_equal(stats.files, 3);
	assert_int_equal(stats.bytes, F1 + F2 + F3);
	return stats.hashed;
}

static void reload(struct ixstate *ix)
{
	assert_int_equal(mlops_index_save(ix->idx), 0);
	mlops_index_free(ix->idx);
	ix->idx = NULL;
	assert_int_equal(mlops_index_load(&ix->idx, ix->index, ix->fx->repo->tmpdir), 0);
}

static void test_unchanged_not_rehashed(void **state)
{
	struct ixstate *ix = ix_of(state);
	struct mlops_node a, b;
	assert_int_equal(store_data(ix, &a), F1 + F2 + F3);
	/* Same session. */
	assert_int_equal(store_data(ix, &b), 0);
	assert_int_equal(mlops_oid_cmp(&a.id, &b.id), 0);
	/* After save and load. */
	reload(ix);
	assert_int_equal(store_data(ix, &b), 0);
	assert_int_equal(mlops_oid_cmp(&a.id, &b.id), 0);
	/* Scan too. */
	struct mlops_ingest_stats stats;
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(mlops_tree_scan(&b, ix->fx->repo->odb, ix->idx, ix->data, "data", &stats), 0);
	assert_int_equal(stats.hashed, 0);
	assert_int_equal(mlops_oid_cmp(&a.id, &b.id), 0);
	/* Without the cache everything is read. */
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(mlops_tree_store(&b, ix->fx->repo->odb, NULL, ix->data, NULL, &stats), 0);
	assert_int_equal(stats.hashed, F1 + F2 + F3);
}

static void test_changed_and_touched_rehashed(void **state)
{
	struct ixstate *ix = ix_of(state);
	struct mlops_node a, b, c;
	char p[PATH_MAX];
	assert_int_equal(store_data(ix, &a), F1 + F2 + F3);
	reload(ix);

	/* New content of the same size, mtime still in the past (but new). */
	unsigned char *buf = malloc(F1);
	assert_non_null(buf);
	fx_random(buf, F1, 2);
	fx_write(fx_path(p, sizeof(p), ix->data, "f1.bin"), buf, F1);
	fx_age(p, 1800);
	free(buf);
	assert_int_equal(store_data(ix, &b), F1);
	assert_true(mlops_oid_cmp(&a.id, &b.id) != 0);

	/* Touched only: read again, same id. */
	fx_age(fx_path(p, sizeof(p), ix->data, "f2.bin"), 1000);
	assert_int_equal(store_data(ix, &c), F2);
	assert_int_equal(mlops_oid_cmp(&b.id, &c.id), 0);

	/* chmod changes the mode (and ctime): read again. */
	assert_int_equal(chmod(fx_path(p, sizeof(p), ix->data, "sub/f3.txt"), 0755), 0);
	assert_int_equal(store_data(ix, &c), F3);
	assert_true(mlops_oid_cmp(&b.id, &c.id) != 0);
	assert_int_equal(store_data(ix, &c), 0);
}

/* A file modified "now" may change again within the clock's tick. */
static void test_racy_entry_not_trusted(void **state)
{
	struct ixstate *ix = ix_of(state);
	struct mlops_node a;
	char p[PATH_MAX];
	fx_age(fx_path(p, sizeof(p), ix->data, "sub/f3.txt"), -5);
	assert_int_equal(store_data(ix, &a), F1 + F2 + F3);
	assert_int_equal(store_data(ix, &a), F3);
	reload(ix);
	assert_int_equal(store_data(ix, &a), F3);
}

static void test_missing_object_not_trusted(void **state)
{
	struct ixstate *ix = ix_of(state);
	struct mlops_node a, b;
	assert_int_equal(store_data(ix, &a), F1 + F2 + F3);
	struct mlops_tree_list list;
	assert_int_equal(mlops_tree_list(&list, ix->fx->repo->odb, &a, 0), 0);
	assert_int_equal(list.count, 3);
	assert_string_equal(list.files[0].path, "f1.bin");
	mlops_oid f1 = list.files[0].node.id;
	mlops_tree_list_free(&list);
	/* gc took the object away: the cache entry must not name it again. */
	assert_int_equal(mlops_odb_remove(ix->fx->repo->odb, &f1), 0);
	assert_int_equal(store_data(ix, &b), F1);
	assert_int_equal(mlops_oid_cmp(&a.id, &b.id), 0);
	assert_int_equal(mlops_odb_exists(ix->fx->repo->odb, &f1), 1);
}

static void damage(const char *path, int how)
{
	char *buf;
	size_t len;
	assert_int_equal(mlops_read_file(&buf, &len, path), 0);
	assert_true(len > 100);
	switch (how) {
	case 0: /* one bit in the middle */
		buf[len / 2] ^= 0x10;
		break;
	case 1: /* truncated */
		len /= 2;
		break;
	case 2: /* the checksum only */
		buf[len - 1] ^= 1;
		break;
	case 3: /* a count far too large, checksum fixed up */
		memset(buf + 8, 0xff, 4);
		mlops_hash_buf((mlops_oid *)(buf + len - 32), buf, len - 32);
		break;
	case 4: /* not an index at all */
		memcpy(buf, "garbage!", 8);
		len = 8;
		break;
	default: /* empty */
		len = 0;
		break;
	}
	fx_write(path, buf, len);
	free(buf);
}

static void test_damaged_index_ignored(void **state)
{
	struct ixstate *ix = ix_of(state);
	struct mlops_node a, b;
	assert_int_equal(store_data(ix, &a), F1 + F2 + F3);
	for (int how = 0; how < 6; how++) {
		reload(ix);
		assert_int_equal(store_data(ix, &b), 0); /* the cache works... */
		mlops_index_free(ix->idx);
		ix->idx = NULL;
		damage(ix->index, how);
		assert_int_equal(mlops_index_load(&ix->idx, ix->index, ix->fx->repo->tmpdir), 0);
		/* ...damaged, it is ignored: all read again, same result. */
		assert_int_equal(store_data(ix, &b), F1 + F2 + F3);
		assert_int_equal(mlops_oid_cmp(&a.id, &b.id), 0);
	}
	/* And it is rewritten whole. */
	reload(ix);
	assert_int_equal(store_data(ix, &b), 0);
}

static void test_index_api(void **state)
{
	struct ixstate *ix = ix_of(state);
	struct mlops_index_entry e;
	struct stat st, other;
	char p[PATH_MAX];
	mlops_oid id;
	mlops_hash_buf(&id, "x", 1);
	assert_int_equal(stat(fx_path(p, sizeof(p), ix->data, "f1.bin"), &st), 0);
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data/f1.bin", &st), 0);
	assert_int_equal(mlops_index_put(ix->idx, "data/f1.bin", &st, &id, MLOPS_KIND_BLOB), 0);
	assert_int_equal(mlops_index_put(ix->idx, "data", &st, &id, MLOPS_KIND_BLOB), 0);
	assert_int_equal(mlops_index_put(ix->idx, "database/y", &st, &id, MLOPS_KIND_BLOB), 0);
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data/f1.bin", &st), 1);
	assert_int_equal(mlops_oid_cmp(&e.id, &id), 0);
	assert_int_equal(e.kind, MLOPS_KIND_BLOB);
	assert_int_equal(e.size, F1);
	/* Any stat field that differs is a miss. */
	other = st;
	other.st_size++;
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data/f1.bin", &other), 0);
	other = st;
	other.st_mtim.tv_nsec ^= 1;
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data/f1.bin", &other), 0);
	other = st;
	other.st_ctim.tv_sec--;
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data/f1.bin", &other), 0);
	other = st;
	other.st_ino++;
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data/f1.bin", &other), 0);
	other = st;
	other.st_mode |= 0100;
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data/f1.bin", &other), 0);
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data/f2.bin", &st), 0);

	/* remove_prefix takes "data" and "data/...", not "database/...". */
	mlops_index_remove_prefix(ix->idx, "data");
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data/f1.bin", &st), 0);
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data", &st), 0);
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "database/y", &st), 1);
	reload(ix);
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "database/y", &st), 1);
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "data/f1.bin", &st), 0);

	/*
	 * Many entries survive a save and load (the table grows; 30,000
	 * entries take a table mapped on its own, bigmem.h), after a reserve
	 * and past it.
	 */
	assert_int_equal(mlops_index_reserve(ix->idx, 1000), 0);
	assert_int_equal(mlops_index_lookup(&e, ix->idx, "database/y", &st), 1);
	for (int i = 0; i < 30000; i++) {
		fx_fmt(p, "many/%d", i);
		assert_int_equal(mlops_index_put(ix->idx, p, &st, &id, MLOPS_KIND_BLOB), 0);
	}
	reload(ix);
	for (int i = 0; i < 30000; i += 37) {
		fx_fmt(p, "many/%d", i);
		assert_int_equal(mlops_index_lookup(&e, ix->idx, p, &st), 1);
	}
	/* Saving an unchanged index does not rewrite it. */
	struct stat before, after;
	assert_int_equal(stat(ix->index, &before), 0);
	assert_int_equal(mlops_index_save(ix->idx), 0);
	assert_int_equal(stat(ix->index, &after), 0);
	assert_int_equal(before.st_ino, after.st_ino);
}

/* Checkout records what it wrote: the next checkout and store skip it. */
static void test_checkout_records_cache(void **state)
{
	struct ixstate *ix = ix_of(state);
	struct mlops_odb *odb = ix->fx->repo->odb;
	struct mlops_node a, b;
	char out[PATH_MAX], p[PATH_MAX];
	assert_int_equal(store_data(ix, &a), F1 + F2 + F3);
	fx_path(out, sizeof(out), ix->fx->work, "out");
	struct mlops_checkout_stats cs;
	memset(&cs, 0, sizeof(cs));
	assert_int_equal(mlops_tree_checkout(odb, ix->idx, &a, out, "out", &cs), 0);
	assert_int_equal(cs.files_written, 3);
	/* Saved past the racy window (the next command), everything is known. */
	struct timespec ts = { 0, 60 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	reload(ix);
	memset(&cs, 0, sizeof(cs));
	assert_int_equal(mlops_tree_checkout(odb, ix->idx, &a, out, "out", &cs), 0);
	assert_int_equal(cs.files_written, 0);
	assert_int_equal(cs.files_unchanged, 3);
	struct mlops_ingest_stats stats;
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(mlops_tree_store(&b, odb, ix->idx, out, "out", &stats), 0);
	assert_int_equal(stats.hashed, 0);
	assert_int_equal(mlops_oid_cmp(&a.id, &b.id), 0);
	/* A file changed behind the cache's back is written again. */
	fx_write_str(fx_path(p, sizeof(p), out, "sub/f3.txt"), "SEVEN!\n");
	memset(&cs, 0, sizeof(cs));
	assert_int_equal(mlops_tree_checkout(odb, ix->idx, &a, out, "out", &cs), 0);
	assert_int_equal(cs.files_written, 1);
	assert_int_equal(cs.files_unchanged, 2);
	assert_true(fx_file_is(p, "seven!\n", F3));
	/*
	 * That file was written beside others (a temporary name, renamed):
	 * its entry is the renamed file's (a rename changes the ctime), so
	 * nothing is read again either.
	 */
	nanosleep(&ts, NULL);
	reload(ix);
	memset(&stats, 0, sizeof(stats));
	assert_int_equal(mlops_tree_store(&b, odb, ix->idx, out, "out", &stats), 0);
	assert_int_equal(stats.hashed, 0);
	assert_int_equal(mlops_oid_cmp(&a.id, &b.id), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unchanged_not_rehashed, ix_setup, ix_teardown),
		cmocka_unit_test_setup_teardown(test_changed_and_touched_rehashed, ix_setup,
						ix_teardown),
		cmocka_unit_test_setup_teardown(test_racy_entry_not_trusted, ix_setup, ix_teardown),
		cmocka_unit_test_setup_teardown(test_missing_object_not_trusted, ix_setup,
						ix_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_index_ignored, ix_setup, ix_teardown),
		cmocka_unit_test_setup_teardown(test_index_api, ix_setup, ix_teardown),
		cmocka_unit_test_setup_teardown(test_checkout_records_cache, ix_setup, ix_teardown),
	};
	fx_filter_from_env();
	return cmocka_run_group_tests_name("index", tests, NULL, NULL);
}
