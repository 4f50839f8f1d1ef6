/*
 * test_pack.c - packs (store/pack.h) and the oid map (store/oidmap.h):
 * round trips, lookups, and indexes and objects that must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "store/error.h"
#include "store/oidmap.h"
#include "store/pack.h"

/* SHA-256("abc"), from FIPS 180-2. */
static const char abc_hex[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static void test_hash_known(void **state)
{
	mlops_oid id;
	char hex[MLOPS_OID_HEXSZ + 1];
	(void)state;
	mlops_hash_buf(&id, "abc", 3);
	assert_string_equal(mlops_oid_fmt(hex, &id), abc_hex);
}

static void test_pack_round_trip(void **state)
{
	struct mlops_pack_writer *w;
	const char *objs[] = { "alpha\n", "beta\n", "gamma gamma gamma\n", "" };
	mlops_oid ids[4];
	(void)state;
	assert_int_equal(mlops_pack_writer_new(&w), 0);
	for (int i = 0; i < 4; i++) {
		mlops_hash_buf(&ids[i], objs[i], strlen(objs[i]));
		assert_int_equal(mlops_pack_writer_add(w, &ids[i], MLOPS_CODEC_NONE, objs[i], strlen(objs[i])), 0);
	}
	/* The same object twice is kept once. */
	assert_int_equal(mlops_pack_writer_add(w, &ids[1], MLOPS_CODEC_NONE, objs[1], strlen(objs[1])), 0);
	const void *pack, *idx;
	size_t plen, ilen;
	mlops_oid pid, iid, check;
	assert_int_equal(mlops_pack_writer_finish(w, &pack, &plen, &pid, &idx, &ilen, &iid), 0);
	/* 8-byte magic, then the bytes back to back (with the duplicate). */
	assert_int_equal(plen, 8 + 6 + 5 + 18 + 0 + 5);
	assert_memory_equal(pack, "MLPACK01", 8);
	assert_int_equal(ilen, 56 + 4 * 56);
	mlops_hash_buf(&check, pack, plen);
	assert_memory_equal(check.id, pid.id, 32);

	struct mlops_pack_index *pi;
	assert_int_equal(mlops_pack_index_parse(&pi, idx, ilen, &iid), 0);
	assert_int_equal(pi->count, 4);
	assert_memory_equal(pi->pack.id, pid.id, 32);
	assert_int_equal(pi->pack_size, plen);
	/* The duplicate's bytes are in no object of the index. */
	assert_int_equal(mlops_pack_index_fills(pi), 0);
	for (int i = 0; i < 4; i++) {
		const struct mlops_pack_entry *e = mlops_pack_index_find(pi, &ids[i]);
		assert_non_null(e);
		assert_int_equal(e->length, strlen(objs[i]));
		assert_memory_equal((const char *)pack + e->offset, objs[i], e->length);
		void *content;
		size_t clen;
		int owned;
		assert_int_equal(mlops_object_decode(&content, &clen, &owned, &ids[i], e->codec,
						     (const char *)pack + e->offset, e->length, 1, "t"), 0);
		assert_int_equal(clen, strlen(objs[i]));
		if (owned)
			free(content);
	}
	mlops_oid absent;
	mlops_hash_buf(&absent, "delta", 5);
	assert_null(mlops_pack_index_find(pi, &absent));
	mlops_pack_index_free(pi);

	/* A flipped byte: the index no longer matches its name. */
	unsigned char *bad = malloc(ilen);
	memcpy(bad, idx, ilen);
	bad[ilen - 60] ^= 1;
	assert_int_equal(mlops_pack_index_parse(&pi, bad, ilen, &iid), MLOPS_ECORRUPT);
	/* Without a name to check, a range outside the pack is refused. */
	memcpy(bad, idx, ilen);
	bad[56 + 40] = 0xff; /* first entry's length */
	assert_int_equal(mlops_pack_index_parse(&pi, bad, ilen, NULL), MLOPS_ECORRUPT);
	/* Truncated. */
	assert_int_equal(mlops_pack_index_parse(&pi, idx, ilen - 1, NULL), MLOPS_ECORRUPT);
	free(bad);
	mlops_pack_writer_free(w);
}

/*
 * Lookups go through a table by the first byte of the id: every stored id
 * is found, at the edges of the table too (first bytes 00 and ff, and
 * first bytes with no id), and an absent id that shares its first byte
 * with stored ones is not.
 */
static void test_index_lookup_by_first_byte(void **state)
{
	enum { N = 3000 };
	(void)state;
	struct mlops_pack_writer *w;
	assert_int_equal(mlops_pack_writer_new(&w), 0);
	mlops_oid *ids = malloc(N * sizeof(*ids));
	assert_non_null(ids);
	for (int i = 0; i < N; i++) {
		char text[32];
		int n = snprintf(text, sizeof(text), "object %d", i);
		mlops_hash_buf(&ids[i], text, (size_t)n);
		/* Crowd a few first bytes, leave others empty. */
		if (i % 7 == 0)
			ids[i].id[0] = 0x00;
		else if (i % 7 == 1)
			ids[i].id[0] = 0xff;
		else if (i % 7 == 2)
			ids[i].id[0] = 0x80;
		assert_int_equal(mlops_pack_writer_add(w, &ids[i], MLOPS_CODEC_NONE, text, (size_t)n), 0);
	}
	const void *pack, *idx;
	size_t plen, ilen;
	mlops_oid pid, iid;
	assert_int_equal(mlops_pack_writer_finish(w, &pack, &plen, &pid, &idx, &ilen, &iid), 0);
	struct mlops_pack_index *pi;
	assert_int_equal(mlops_pack_index_parse(&pi, idx, ilen, &iid), 0);
	assert_int_equal(pi->count, N);
	/* No duplicate: the objects fill the pack; not when one is longer or shorter. */
	assert_int_equal(mlops_pack_index_fills(pi), 1);
	pi->entries[N / 2].length++;
	assert_int_equal(mlops_pack_index_fills(pi), 0);
	pi->entries[N / 2].length -= 2;
	assert_int_equal(mlops_pack_index_fills(pi), 0);
	pi->entries[N / 2].length++;
	assert_int_equal(mlops_pack_index_fills(pi), 1);
	for (int i = 0; i < N; i++) {
		const struct mlops_pack_entry *e = mlops_pack_index_find(pi, &ids[i]);
		assert_non_null(e);
		assert_memory_equal(e->id.id, ids[i].id, 32);
		mlops_oid other = ids[i];
		other.id[31] ^= 0x01;
		other.id[30] ^= 0x5a;
		assert_null(mlops_pack_index_find(pi, &other));
	}
	mlops_oid none;
	memset(&none, 0, sizeof(none));
	none.id[0] = 0x40;
	assert_null(mlops_pack_index_find(pi, &none));
	memset(&none, 0xff, sizeof(none));
	assert_null(mlops_pack_index_find(pi, &none));
	mlops_pack_index_free(pi);
	mlops_pack_writer_free(w);
	free(ids);
}

static void test_decode_zstd_and_corrupt(void **state)
{
	char text[4096];
	(void)state;
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = "abcabcabd"[i % 9];
	mlops_oid id;
	mlops_hash_buf(&id, text, sizeof(text));
	char z[8192];
	size_t zl = ZSTD_compress(z, sizeof(z), text, sizeof(text), 3);
	assert_false(ZSTD_isError(zl));
	void *out;
	size_t len;
	int owned;
	assert_int_equal(mlops_object_decode(&out, &len, &owned, &id, MLOPS_CODEC_ZSTD, z, zl, 1, "t"), 0);
	assert_int_equal(len, sizeof(text));
	assert_memory_equal(out, text, len);
	assert_true(owned);
	free(out);
	/* Raw bytes that do not hash to the id. */
	assert_int_equal(mlops_object_decode(&out, &len, &owned, &id, MLOPS_CODEC_NONE, "x", 1, 1, "t"),
			 MLOPS_ECORRUPT);
	assert_non_null(strstr(mlops_error_message(), "is corrupt"));
	/* Garbage as zstd. */
	assert_int_equal(mlops_object_decode(&out, &len, &owned, &id, MLOPS_CODEC_ZSTD, "garbage", 7, 1, "t"),
			 MLOPS_ECORRUPT);
}

static void test_oidmap(void **state)
{
	struct mlops_oidmap *m;
	(void)state;
	assert_int_equal(mlops_oidmap_new(&m), 0);
	for (uint32_t i = 0; i < 10000; i++) {
		mlops_oid id;
		uint64_t *v;
		mlops_hash_buf(&id, &i, sizeof(i));
		assert_int_equal(mlops_oidmap_put(m, &id, &v), 1);
		*v = i + 1;
	}
	assert_int_equal(mlops_oidmap_count(m), 10000);
	for (uint32_t i = 0; i < 10000; i++) {
		mlops_oid id;
		mlops_hash_buf(&id, &i, sizeof(i));
		uint64_t *v = mlops_oidmap_get(m, &id);
		assert_non_null(v);
		assert_int_equal(*v, i + 1);
		assert_int_equal(mlops_oidmap_put(m, &id, NULL), 0);
	}
	uint32_t other = 20000;
	mlops_oid id;
	mlops_hash_buf(&id, &other, sizeof(other));
	assert_null(mlops_oidmap_get(m, &id));
	mlops_oidmap_free(m);
}

/*
 * A writer sized ahead, then grown past its size and past the size where
 * its buffer is mapped on its own (bigmem.h): every object is where the
 * index says, and the pack's name is its hash.
 */
static void test_pack_writer_sized_and_grown(void **state)
{
	struct mlops_pack_writer *w;
	const size_t n = 300, len = 20000; /* 6 MB in all, 64 KiB reserved */
	unsigned char *buf = malloc(len);
	mlops_oid *ids = malloc(n * sizeof(*ids));
	(void)state;
	assert_non_null(buf);
	assert_non_null(ids);
	assert_int_equal(mlops_pack_writer_new_sized(&w, 60000), 0);
	for (size_t i = 0; i < n; i++) {
		memset(buf, (int)(i & 0xff), len);
		memcpy(buf, &i, sizeof(i));
		mlops_hash_buf(&ids[i], buf, len);
		assert_int_equal(mlops_pack_writer_add(w, &ids[i], MLOPS_CODEC_NONE, buf, len), 0);
	}
	const void *pack, *idx;
	size_t plen, ilen;
	mlops_oid pid, iid, check;
	assert_int_equal(mlops_pack_writer_finish(w, &pack, &plen, &pid, &idx, &ilen, &iid), 0);
	assert_int_equal(plen, 8 + n * len);
	mlops_hash_buf(&check, pack, plen);
	assert_memory_equal(check.id, pid.id, 32);
	struct mlops_pack_index *pi;
	assert_int_equal(mlops_pack_index_parse(&pi, idx, ilen, &iid), 0);
	assert_int_equal(pi->count, n);
	for (size_t i = 0; i < n; i += 7) {
		const struct mlops_pack_entry *e = mlops_pack_index_find(pi, &ids[i]);
		assert_non_null(e);
		mlops_hash_buf(&check, (const char *)pack + e->offset, e->length);
		assert_memory_equal(check.id, ids[i].id, 32);
	}
	mlops_pack_index_free(pi);
	mlops_pack_writer_free(w);
	free(ids);
	free(buf);
}

static int count_entry(const mlops_oid *id, uint64_t *val, void *payload)
{
	(void)id;
	uint64_t *sum = payload;
	*sum += *val;
	return 0;
}

/*
 * Ids that collide on their first bytes (the probe's tag) still differ;
 * a reserved map keeps values where they are; tables past the size that
 * is mapped on its own (bigmem.h) behave as small ones, through growth.
 */
static void test_oidmap_reserve_and_large(void **state)
{
	struct mlops_oidmap *m;
	mlops_oid a, b;
	uint64_t *v, *va;
	(void)state;
	assert_int_equal(mlops_oidmap_new(&m), 0);
	memset(&a, 0x11, sizeof(a));
	b = a;
	b.id[31] ^= 1;
	assert_int_equal(mlops_oidmap_put(m, &a, &va), 1);
	*va = 7;
	assert_null(mlops_oidmap_get(m, &b));
	assert_int_equal(mlops_oidmap_put(m, &b, &v), 1);
	*v = 8;
	assert_int_equal(mlops_oidmap_reserve(m, 1000), 0);
	va = mlops_oidmap_get(m, &a);
	assert_int_equal(mlops_oidmap_put(m, &a, NULL), 0);
	for (uint32_t i = 0; i < 998; i++) {
		mlops_oid id;
		mlops_hash_buf(&id, &i, sizeof(i));
		assert_int_equal(mlops_oidmap_put(m, &id, NULL), 1);
	}
	/* Nothing moved: the 1,000 fit in the reserved table. */
	assert_ptr_equal(mlops_oidmap_get(m, &a), va);
	assert_int_equal(*mlops_oidmap_get(m, &a), 7);
	assert_int_equal(*mlops_oidmap_get(m, &b), 8);
	mlops_oidmap_free(m);

	/* 300,000 ids: tables of megabytes, grown one doubling at a time. */
	const uint32_t n = 300000;
	uint64_t want = 0, sum = 0;
	assert_int_equal(mlops_oidmap_new(&m), 0);
	for (uint32_t i = 0; i < n; i++) {
		mlops_oid id;
		mlops_hash_buf(&id, &i, sizeof(i));
		assert_int_equal(mlops_oidmap_put(m, &id, &v), 1);
		*v = i + 1;
		want += i + 1;
	}
	assert_int_equal(mlops_oidmap_count(m), n);
	assert_int_equal(mlops_oidmap_foreach(m, count_entry, &sum), 0);
	assert_int_equal(sum, want);
	for (uint32_t i = 0; i < n; i += 7) {
		mlops_oid id;
		mlops_hash_buf(&id, &i, sizeof(i));
		assert_non_null(v = mlops_oidmap_get(m, &id));
		assert_int_equal(*v, i + 1);
		id.id[0] ^= 0x80;
		assert_null(mlops_oidmap_get(m, &id));
	}
	mlops_oidmap_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_known),
		cmocka_unit_test(test_pack_round_trip),
		cmocka_unit_test(test_index_lookup_by_first_byte),
		cmocka_unit_test(test_decode_zstd_and_corrupt),
		cmocka_unit_test(test_oidmap),
		cmocka_unit_test(test_oidmap_reserve_and_large),
		cmocka_unit_test(test_pack_writer_sized_and_grown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
